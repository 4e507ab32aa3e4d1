//! lmdns-server: an authoritative DNS server answering from an lmdns LMDB database.
//!
//! Query processing ([`engine`], [`query`], [`answer`]) is bytes in, bytes out and knows nothing
//! of sockets; transports ([`udp`], [`tcp`]) only move packets and call [`engine::Engine::answer`].

pub mod acl;
pub mod answer;
pub mod config;
pub mod engine;
pub mod http;
pub mod metrics;
pub mod privdrop;
pub mod query;
pub mod querylog;
pub mod rrl;
pub mod server;
pub mod tcp;
pub mod udp;
