//! Transports: they move bytes and call [`crate::engine::Engine::answer`]; they know nothing of
//! DNS beyond framing.
//!
//! * [`udp`]: one worker per core, each with its own `SO_REUSEPORT` socket, `recvmmsg`/`sendmmsg`
//!   batches, each answered from the newest snapshot (a read transaction kept while nothing
//!   commits).
//! * [`tcp`]: one epoll event loop for every TCP connection (RFC 7766 framing, pipelining).
//! * [`xfr`]: transfer threads, which the TCP loop hands AXFR/IXFR (and UPDATE) connections to.
//! * [`update`]: DNS UPDATE relayed to the writer over the local socket.
//! * [`http`]: the side channel: `/lookup/<ip>`, `/health`, `/metrics`.

pub mod http;
pub mod tcp;
pub mod udp;
pub mod update;
pub mod xfr;
