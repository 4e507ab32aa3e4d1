//! DNS wire pieces shared by `lmdns-server` and `lmdns-loader`, off the per-query path.
//!
//! * [`wire`]: reading whole messages (RFC 1035 §4, RFC 3597 §4 decompression of RDATA names),
//!   record by record for large transfers.
//! * [`compress`] and [`build`]: writing messages with name compression (RFC 1035 §4.1.4).
//! * [`tsig`]: transaction signatures on raw message bytes (RFC 8945), for single messages and
//!   multi-message TCP streams, on both the server and the client side.
//! * [`keyfile`]: the BIND / `tsig-keygen` key file format.
//! * [`name`]: wire names (validation, presentation form).
//!
//! Every parser here takes untrusted bytes: malformed input is an error, never a panic.

pub mod build;
pub mod compress;
pub mod error;
pub mod keyfile;
pub mod name;
pub mod tsig;
pub mod wire;
pub mod writer_link;

pub use build::MessageBuilder;
pub use compress::Compressor;
pub use error::{BuildError, WireError};
