//! lmdns-server: an authoritative DNS server answering from an lmdns LMDB database.
//!
//! Query processing ([`engine`], [`query`], [`answer`]) is bytes in, bytes out and knows nothing
//! of sockets; [`transport`]s (UDP, TCP, transfer threads, HTTP) only move packets and call it.
//! [`ops`] holds what operators configure and watch (ACLs, RRL, metrics, query log, privilege
//! drop); [`notify`] is the one outgoing client, NOTIFY to secondaries.

pub mod answer;
pub mod config;
pub mod engine;
pub mod notify;
pub mod ops;
pub mod query;
pub mod server;
pub mod transport;
