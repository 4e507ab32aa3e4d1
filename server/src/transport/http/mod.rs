//! A small HTTP/1.x side channel (`--http ADDR:PORT`): IP-range lookups as JSON, health and
//! metrics.
//!
//! One thread multiplexes every connection with `poll(2)`, so slow or idle clients never hold
//! up a scrape of `/health` or `/metrics`: each connection reads its request head, gets one
//! response, and is closed (`Connection: close`, no keep-alive). Request heads are parsed by
//! `httparse` ([`request`]); the routes are in [`routes`]. It is an operator and integration
//! tool, not a public web server, so the bounds matter more than the throughput:
//!
//! * at most [`MAX_CONNECTIONS`] at once; a newcomer beyond that closes the connection that has
//!   waited longest for its head (an idle or slow client), so scrapes get through a crowd;
//! * a request head may take at most [`MAX_HEAD`] bytes (larger: `431`) and [`IO_TIMEOUT`] to
//!   arrive (slower: `408`); the response must be taken within [`IO_TIMEOUT`] too;
//! * request bodies are never read: a body (or junk after the head) is drained for at most
//!   [`DRAIN_TIME`] / [`DRAIN_LIMIT`] bytes after the response, so the close does not turn into a
//!   reset that could destroy the response before the client reads it;
//! * the loop wakes at least every [`POLL_INTERVAL`], so a stop request is seen within that.
//!
//! Routes (see [`routes::Handler::handle`]; a new path is one match arm):
//!
//! * `GET /lookup/<ip>[?table=NAME]` — `200 {"ip":…,"start":…,"end":…,"meta":{…}}`, the shape of
//!   `lmdns-loader ranges lookup` (default table `geo`; IPv4-mapped IPv6 is looked up as IPv4 and
//!   `ip` is reported unnormalized). `404 {"error":"not in any range","ip":…}`,
//!   `404 {"error":"no such table","table":…}`, `400` for a bad address or table name.
//! * `GET /health` — `200 {"status":"ok"}` while the database can be read, else
//!   `503 {"status":"unavailable","error":...}`.
//! * `GET /metrics` — Prometheus text format 0.0.4 (see [`crate::ops::metrics`]).
//! * `HEAD` as `GET` without the body; other paths `404`, other methods on a known path `405`
//!   (with `Allow: GET, HEAD`).
//!
//! Every request reads in a fresh LMDB read transaction, so a range import committed by the
//! loader is served from the next request on. Range table handles are cached per name; a table
//! that did not exist at start is opened when first asked for after it appears, and a table
//! dropped later answers `no such table` again (existence is checked in every request's snapshot).

pub mod request;
pub mod routes;

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use anyhow::Context;
use lmdb_schema::Store;

pub use request::{parse_head, Request, Response};
pub use routes::Handler;

use crate::server::{RateLimit, Stop};

/// Largest request head (request line and headers, with the blank line).
pub const MAX_HEAD: usize = 8 * 1024;
/// Time a request head may take to arrive, and the response to be taken.
pub const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest sleep of the loop: how soon a stop request is seen.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Longest time spent discarding an unread request body after the response.
pub const DRAIN_TIME: Duration = Duration::from_millis(200);
/// Most bytes discarded after the response.
pub const DRAIN_LIMIT: usize = 64 * 1024;
/// Connections open at once (each holds a socket and at most [`MAX_HEAD`] bytes).
pub const MAX_CONNECTIONS: usize = 256;
/// Connections accepted per wake-up.
const ACCEPT_BATCH: usize = 64;

/// Binds the HTTP listener (an error names the address) and logs `http listening on ADDR` with
/// the effective address (port 0 resolved).
pub fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    let listener = crate::transport::tcp::bind_listener(addr).with_context(|| format!("cannot serve HTTP on {addr}"))?;
    let local = listener.local_addr().with_context(|| format!("cannot serve HTTP on {addr}"))?;
    tracing::info!("http listening on {local}");
    Ok(listener)
}

/// What a connection waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The rest of the request head.
    Head,
    /// The client to take the response; then close, or drain first.
    Respond { drain: bool },
    /// The client's unread bytes after the response, until it closes.
    Drain,
}

struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    phase: Phase,
    /// When the current phase gives up.
    deadline: Instant,
    /// The head so far (Head), or the response (Respond).
    buf: Vec<u8>,
    /// Response bytes sent, or bytes drained.
    done: usize,
}

/// What became of a connection after some progress.
enum Next {
    Keep,
    Close,
}

impl Connection {
    fn new(stream: TcpStream, peer: SocketAddr, now: Instant) -> Connection {
        Connection { stream, peer, phase: Phase::Head, deadline: now + IO_TIMEOUT, buf: Vec::new(), done: 0 }
    }

    fn events(&self) -> libc::c_short {
        match self.phase {
            Phase::Head | Phase::Drain => libc::POLLIN,
            Phase::Respond { .. } => libc::POLLOUT,
        }
    }

    fn respond(&mut self, response: &Response, drain: bool, now: Instant) -> Next {
        self.buf = response.to_bytes();
        self.done = 0;
        self.phase = Phase::Respond { drain };
        self.deadline = now + IO_TIMEOUT;
        // Most responses fit the socket buffer: sent now, without another poll.
        self.write(now)
    }

    /// Reads what the head has so far; answers once it is whole (or too large, or cut short).
    fn read_head(&mut self, handler: &mut Handler<'_>, now: Instant) -> io::Result<Next> {
        let mut chunk = [0u8; 4096];
        loop {
            let room = (MAX_HEAD - self.buf.len()).min(chunk.len());
            let n = match self.stream.read(&mut chunk[..room]) {
                // EOF: nothing sent is nothing to answer; a partial head is answered (400).
                Ok(0) if self.buf.is_empty() => return Ok(Next::Close),
                Ok(0) => return Ok(self.answer(handler, self.buf.len(), false, now)),
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(Next::Keep),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if self.buf.is_empty() && e.kind() == ErrorKind::ConnectionReset => return Ok(Next::Close),
                Err(e) => return Err(e),
            };
            // Search from a little before the new bytes: the terminator may straddle reads.
            let from = self.buf.len().saturating_sub(3);
            self.buf.extend_from_slice(&chunk[..n]);
            if let Some(end) = request::find_head_end(&self.buf[from..]) {
                let received = self.buf.len();
                return Ok(self.answer(handler, from + end, received > from + end, now));
            }
            if self.buf.len() == MAX_HEAD {
                return Ok(self.respond(&Response::refused(431), true, now));
            }
        }
    }

    /// Answers the head in `buf[..head_len]`; `extra`: bytes followed it.
    fn answer(&mut self, handler: &mut Handler<'_>, head_len: usize, extra: bool, now: Instant) -> Next {
        let (response, drain) = match parse_head(&self.buf[..head_len]) {
            Ok(request) => {
                let mut response = handler.handle(&request);
                // HEAD: GET's headers, Content-Length included, without the body (RFC 9110 §9.3.2).
                response.head_only = request.method == "HEAD";
                (response, request.has_body || extra)
            }
            Err(status) => (Response::refused(status), true),
        };
        self.respond(&response, drain, now)
    }

    fn write(&mut self, now: Instant) -> Next {
        while self.done < self.buf.len() {
            match self.stream.write(&self.buf[self.done..]) {
                Ok(0) => return Next::Close,
                Ok(n) => self.done += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Next::Keep,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Next::Close,
            }
        }
        match self.phase {
            Phase::Respond { drain: true } => {
                // Stop sending, then discard what the client still sends (bounded), so closing
                // with unread data does not reset the connection before it read the response.
                let _ = self.stream.shutdown(Shutdown::Write);
                self.phase = Phase::Drain;
                self.deadline = now + DRAIN_TIME;
                self.done = 0;
                self.drain()
            }
            _ => Next::Close,
        }
    }

    fn drain(&mut self) -> Next {
        let mut sink = [0u8; 4096];
        while self.done < DRAIN_LIMIT {
            match self.stream.read(&mut sink) {
                Ok(0) => return Next::Close,
                Ok(n) => self.done += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Next::Keep,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Next::Close,
            }
        }
        Next::Close
    }

    /// The deadline passed: a slow head gets 408 (a silent one is closed), anything else closes.
    fn expire(&mut self, now: Instant) -> Next {
        match self.phase {
            Phase::Head if !self.buf.is_empty() => self.respond(&Response::refused(408), true, now),
            _ => Next::Close,
        }
    }
}

/// Serves `listener` on the calling thread until `stop` is requested.
pub fn serve(store: &Store, listener: TcpListener, stop: &Stop, metrics: Option<&crate::ops::metrics::Metrics>) -> anyhow::Result<()> {
    listener.set_nonblocking(true).context("cannot make the HTTP listener non-blocking")?;
    let mut handler = Handler::new(store);
    handler.metrics = metrics;
    let mut accept_errors = RateLimit::new();
    let mut io_errors = RateLimit::new();
    let mut connections: Vec<Connection> = Vec::with_capacity(MAX_CONNECTIONS);
    let mut fds: Vec<libc::pollfd> = Vec::with_capacity(MAX_CONNECTIONS + 1);
    // After an accept error (EMFILE...) the listener stays readable: it is left out of the
    // poll for a while instead of spinning on it.
    let mut accept_after = Instant::now();
    while !stop.requested() {
        let now = Instant::now();
        connections.retain_mut(|c| c.deadline > now || matches!(c.expire(now), Next::Keep));
        let wake = connections.iter().map(|c| c.deadline).min().map_or(POLL_INTERVAL, |d| d.saturating_duration_since(now));
        fds.clear();
        let listen = if now >= accept_after { libc::POLLIN } else { 0 };
        fds.push(libc::pollfd { fd: listener.as_raw_fd(), events: listen, revents: 0 });
        fds.extend(connections.iter().map(|c| libc::pollfd { fd: c.stream.as_raw_fd(), events: c.events(), revents: 0 }));
        // Rounded up, so a deadline a fraction of a millisecond away does not spin.
        let timeout = wake.min(POLL_INTERVAL).as_micros().div_ceil(1000) as libc::c_int;
        // SAFETY: `fds` is a valid array of `fds.len()` pollfds for the duration of the call.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if ready < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(e).context("poll on the HTTP connections failed");
        }
        let now = Instant::now();
        // Progress on the connections first (their index matches fds[1..] until this pass ends).
        let mut i = 0;
        connections.retain_mut(|c| {
            i += 1;
            let revents = fds[i].revents;
            if revents == 0 {
                return true;
            }
            let next = match c.phase {
                Phase::Head => c.read_head(&mut handler, now).unwrap_or_else(|e| {
                    if io_errors.allow() {
                        tracing::debug!("http connection from {}: {e}", c.peer);
                    }
                    Next::Close
                }),
                Phase::Respond { .. } => c.write(now),
                Phase::Drain => c.drain(),
            };
            matches!(next, Next::Keep)
        });
        if fds[0].revents != 0 && !accept(&listener, &mut connections, &mut accept_errors, now) {
            accept_after = now + POLL_INTERVAL;
        }
    }
    Ok(())
}

/// Accepts what is waiting (up to [`ACCEPT_BATCH`]), making room by closing the connection
/// waiting longest for its head when all [`MAX_CONNECTIONS`] are taken. False after an error
/// that calls for a pause.
fn accept(listener: &TcpListener, connections: &mut Vec<Connection>, errors: &mut RateLimit, now: Instant) -> bool {
    for _ in 0..ACCEPT_BATCH {
        match listener.accept() {
            Ok((stream, peer)) => {
                if stream.set_nonblocking(true).is_err() {
                    continue;
                }
                let _ = stream.set_nodelay(true);
                if connections.len() >= MAX_CONNECTIONS {
                    // Heads all started IO_TIMEOUT before their deadline: the earliest deadline
                    // is the longest wait.
                    let oldest = connections.iter().enumerate().filter(|(_, c)| c.phase == Phase::Head).min_by_key(|(_, c)| c.deadline);
                    match oldest.map(|(i, _)| i) {
                        Some(i) => drop(connections.swap_remove(i)),
                        // Every slot is answering or draining, which ends within its deadline.
                        None => continue,
                    }
                }
                connections.push(Connection::new(stream, peer, now));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(e) if matches!(e.kind(), ErrorKind::Interrupted | ErrorKind::ConnectionAborted) => {}
            Err(e) => {
                // EMFILE and friends: logged, and retried after a pause.
                if errors.allow() {
                    tracing::warn!("http accept failed: {e}");
                }
                return false;
            }
        }
    }
    true
}
