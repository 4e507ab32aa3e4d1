//! DNS UPDATE (RFC 2136) with TSIG (RFC 8945) and update policies (RFC 3007), for the
//! writer (`serve`): [`policy`] says who may change what, [`process`] applies one UPDATE in a
//! write transaction and builds its reply.

pub mod policy;
pub mod process;

pub use process::{process, Outcome};
