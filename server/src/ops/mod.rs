//! Operations around answering: what an operator configures, watches and limits.
//!
//! * [`acl`]: who may query and transfer.
//! * [`rrl`]: response rate limiting.
//! * [`metrics`]: counters for `/metrics` (Prometheus).
//! * [`querylog`]: the JSON-lines query log; [`dnstap`]: the same events as dnstap frames;
//!   [`ring`]: the per-worker queues both are fed through.
//! * [`logging`]: log lines as text or JSON.
//! * [`privdrop`]: binding as root, then serving as an unprivileged user.
//! * [`replication`]: counters of zone transfers and NOTIFY.
//! * [`secondaries`]: the state of secondary zones, for `/metrics`.

pub mod acl;
pub mod dnstap;
pub mod faults;
pub mod logging;
pub mod metrics;
pub mod privdrop;
pub mod querylog;
pub mod replication;
pub mod ring;
pub mod rrl;
pub mod secondaries;
