//! lmdns-server: an authoritative DNS server answering from an lmdns LMDB database.
//!
//! Query processing ([`engine`], [`query`], [`answer`]) is bytes in, bytes out and knows nothing
//! of sockets; transports ([`udp`], [`tcp`]) only move packets and call [`engine::Engine::answer`].

pub mod answer;
pub mod config;
pub mod engine;
pub mod ops;
pub mod query;
pub mod server;
pub mod transport;
