//! DNS over TCP (RFC 7766): one event-loop thread on raw epoll with non-blocking sockets.
//!
//! One thread is enough: authoritative TCP traffic is a trickle (truncation fallbacks, a few
//! clients that prefer TCP) next to UDP, and a single loop makes the connection cap exact without
//! any locking. Each connection holds at most one incoming and one outgoing message (each at most
//! 2 + 65535 bytes), queries are answered strictly in order, and a connection with an answer still
//! unsent is not read further, so a client that does not read cannot make the server buffer more.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use anyhow::Context;
use lmdb_schema::readers::HeldReadTxn;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::engine::{Client, Engine, Scratch, Transport};
use crate::ops::metrics::Recorder;
use crate::server::{RateLimit, Stop};

/// Two length bytes and the largest DNS message.
const MAX_FRAME: usize = 2 + 65_535;
/// Smallest read, so short queries do not cost one syscall per few bytes.
const MIN_READ: usize = 512;
/// Buffers grown past this are given back once the connection has nothing in them.
const KEEP_CAPACITY: usize = 4096;
/// How long epoll_wait sleeps at most, which bounds how late idle connections are closed and
/// how long shutdown takes to be noticed.
const TICK: Duration = Duration::from_millis(100);
/// Events handled per epoll_wait.
const MAX_EVENTS: usize = 256;
/// Connections accepted per listener readiness, so a connection storm cannot starve open ones.
const MAX_ACCEPTS_PER_EVENT: usize = 64;
/// Reads per connection event, for fairness; level-triggered epoll reports the rest next time.
/// (Answering what is already buffered is not capped: nothing would wake us up to finish it, and
/// the buffer holds at most one maximal frame anyway.)
const MAX_READS_PER_EVENT: usize = 4;
/// After accept fails for lack of file descriptors, how long to stop accepting (the listener would
/// otherwise stay readable and spin the loop).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(200);
/// Token bit marking a listener; connection tokens are slot | generation << 32.
const LISTENER_BIT: u64 = 1 << 63;

pub struct TcpOptions {
    pub idle_timeout: Duration,
    pub max_connections: usize,
    /// How long one message may take to arrive, or its answer to be taken, once begun: bytes
    /// dripped slowly do not restart it (the idle timer restarts on every byte).
    pub message_timeout: Duration,
    /// Connections one source (an IPv4 address, an IPv6 /64) may hold open at once.
    pub max_per_source: usize,
}

/// The key connections are counted under per source: the address, or an IPv6 address's /64
/// (one host usually holds a whole /64).
fn source_key(ip: std::net::IpAddr) -> u128 {
    match ip {
        std::net::IpAddr::V4(v4) => u128::from(u32::from(v4)),
        std::net::IpAddr::V6(v6) => u128::from(v6) >> 64 << 64 | 1 << 32,
    }
}

/// Binds a TCP listener. Deliberately without SO_REUSEPORT: a second server on the same port then
/// fails here instead of silently sharing the port.
pub fn bind_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM.cloexec(), Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&SockAddr::from(addr))?;
    socket.listen(1024)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    generation: u32,
    /// Received bytes not yet answered: whole frames first, maybe a partial one at the end.
    input: Vec<u8>,
    /// One framed answer and how much of it was written.
    output: Vec<u8>,
    written: usize,
    /// The client shut down its sending side: answer what is complete, then close.
    read_closed: bool,
    last_progress: Instant,
    /// Since when a message has been partly received or an answer partly sent: bounded by
    /// `message_timeout`, whatever bytes trickle in meanwhile.
    busy_since: Option<Instant>,
    /// The epoll interest currently registered.
    interest: u32,
}

enum Next {
    Keep,
    Close,
    /// The next query is a zone transfer or an UPDATE: the connection goes to a transfer thread.
    HandOff,
}

struct EventLoop<'e> {
    engine: &'e Engine,
    epoll: OwnedFd,
    listeners: Vec<TcpListener>,
    listeners_registered: bool,
    accept_paused_until: Option<Instant>,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    open: usize,
    /// Open connections per source (see [`source_key`]).
    per_source: std::collections::HashMap<u128, usize>,
    next_generation: u32,
    options: TcpOptions,
    scratch: Scratch,
    answer: Vec<u8>,
    txn_errors: RateLimit,
    accept_errors: RateLimit,
    recorder: Recorder<'e>,
    /// Where transfer connections go (see `xfr`).
    transfers: crossbeam_channel::Sender<super::xfr::Handoff>,
}

/// Runs the TCP event loop on the calling thread until `stop` is requested.
pub fn serve<'e>(
    engine: &'e Engine,
    listeners: Vec<TcpListener>,
    options: TcpOptions,
    stop: &Stop,
    recorder: Recorder<'e>,
    transfers: crossbeam_channel::Sender<super::xfr::Handoff>,
) -> anyhow::Result<()> {
    // SAFETY: plain syscall; the result is checked and then owned.
    let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error()).context("epoll_create1 failed");
    }
    // SAFETY: fd is a fresh descriptor nobody else owns.
    let epoll = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut el = EventLoop {
        engine,
        epoll,
        listeners,
        listeners_registered: false,
        accept_paused_until: None,
        conns: Vec::new(),
        free: Vec::new(),
        open: 0,
        per_source: std::collections::HashMap::new(),
        next_generation: 0,
        options,
        scratch: engine.scratch(),
        answer: Vec::with_capacity(MAX_FRAME),
        txn_errors: RateLimit::new(),
        accept_errors: RateLimit::new(),
        recorder,
        transfers,
    };
    el.register_listeners().context("cannot register TCP listeners with epoll")?;
    el.run(stop)
}

impl<'e> EventLoop<'e> {
    fn ctl(&self, op: libc::c_int, fd: i32, events: u32, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: token };
        // SAFETY: valid epoll fd and event struct.
        let rc = unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), op, fd, &mut ev) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    fn register_listeners(&mut self) -> io::Result<()> {
        for (i, l) in self.listeners.iter().enumerate() {
            self.ctl(libc::EPOLL_CTL_ADD, l.as_raw_fd(), libc::EPOLLIN as u32, LISTENER_BIT | i as u64)?;
        }
        self.listeners_registered = true;
        Ok(())
    }

    fn unregister_listeners(&mut self) -> io::Result<()> {
        for l in &self.listeners {
            self.ctl(libc::EPOLL_CTL_DEL, l.as_raw_fd(), 0, 0)?;
        }
        self.listeners_registered = false;
        Ok(())
    }

    fn run(&mut self, stop: &Stop) -> anyhow::Result<()> {
        // SAFETY (zeroed): epoll_event is plain data.
        let mut events: Vec<libc::epoll_event> = (0..MAX_EVENTS).map(|_| unsafe { std::mem::zeroed() }).collect();
        let mut last_sweep = Instant::now();
        while !stop.requested() {
            self.recorder.tick(&self.scratch);
            // SAFETY: events has MAX_EVENTS entries.
            let n = unsafe { libc::epoll_wait(self.epoll.as_raw_fd(), events.as_mut_ptr(), MAX_EVENTS as i32, TICK.as_millis() as i32) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e).context("epoll_wait failed");
            }
            // A read transaction opened only if some query needs answering, renewed within the
            // wakeup if a commit lands, and ended before sleeping again.
            let mut txn = HeldReadTxn::default();
            for ev in &events[..n as usize] {
                let (token, flags) = (ev.u64, ev.events);
                if token & LISTENER_BIT != 0 {
                    self.accept((token & !LISTENER_BIT) as usize);
                } else {
                    self.conn_event(token, flags, &mut txn);
                }
            }
            txn.release();
            self.engine.after_batch(&mut self.scratch, &mut txn);

            let now = Instant::now();
            if let Some(until) = self.accept_paused_until {
                if now >= until && self.register_listeners().is_ok() {
                    self.accept_paused_until = None;
                }
            }
            if now.duration_since(last_sweep) >= TICK {
                last_sweep = now;
                self.close_idle(now);
            }
        }
        Ok(())
    }

    fn accept(&mut self, listener: usize) {
        for _ in 0..MAX_ACCEPTS_PER_EVENT {
            let (stream, peer) = match self.listeners[listener].accept() {
                Ok(pair) => pair,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)) => {
                    if self.accept_errors.allow() {
                        tracing::warn!("cannot accept TCP connections ({e}); pausing accepts briefly");
                    }
                    if self.listeners_registered && self.unregister_listeners().is_ok() {
                        self.accept_paused_until = Some(Instant::now() + ACCEPT_BACKOFF);
                    }
                    return;
                }
                // The client gave up before we accepted (ECONNABORTED) and the like.
                Err(_) => continue,
            };
            if self.per_source.get(&source_key(peer.ip())).copied().unwrap_or(0) >= self.options.max_per_source {
                // One source holding its share: refused at once, the others keep theirs.
                if self.accept_errors.allow() {
                    tracing::warn!(client = %peer, "TCP connections from this source at the per-source limit ({}); closing new ones", self.options.max_per_source);
                }
                drop(stream);
                continue;
            }
            if self.open >= self.options.max_connections && !self.close_oldest_idle() {
                // Full of connections in the middle of a message: close the new one at once
                // rather than queue anything.
                drop(stream);
                continue;
            }
            if let Err(e) = self.add_conn(stream, peer) {
                if self.accept_errors.allow() {
                    tracing::warn!("cannot set up an accepted TCP connection: {e}");
                }
            }
        }
    }

    fn add_conn(&mut self, stream: TcpStream, peer: SocketAddr) -> io::Result<()> {
        stream.set_nonblocking(true)?;
        // Each answer goes out in one write; Nagle would only delay pipelined answers.
        stream.set_nodelay(true)?;
        let slot = self.free.pop().unwrap_or_else(|| {
            self.conns.push(None);
            self.conns.len() - 1
        });
        self.next_generation = self.next_generation.wrapping_add(1);
        let generation = self.next_generation;
        let interest = (libc::EPOLLIN | libc::EPOLLRDHUP) as u32;
        if let Err(e) = self.ctl(libc::EPOLL_CTL_ADD, stream.as_raw_fd(), interest, token(slot, generation)) {
            self.free.push(slot);
            return Err(e);
        }
        self.conns[slot] = Some(Conn {
            stream,
            peer,
            generation,
            input: Vec::new(),
            output: Vec::new(),
            written: 0,
            read_closed: false,
            last_progress: Instant::now(),
            busy_since: None,
            interest,
        });
        self.open += 1;
        *self.per_source.entry(source_key(peer.ip())).or_insert(0) += 1;
        self.recorder.tcp_opened();
        Ok(())
    }

    fn close(&mut self, slot: usize) {
        if let Some(conn) = self.conns[slot].take() {
            // Closing the fd removes it from epoll too; the explicit DEL is for clarity only.
            let _ = self.ctl(libc::EPOLL_CTL_DEL, conn.stream.as_raw_fd(), 0, 0);
            self.forget(slot, &conn);
        }
    }

    /// Bookkeeping of a connection leaving the loop (closed or handed off).
    fn forget(&mut self, slot: usize, conn: &Conn) {
        self.free.push(slot);
        self.open -= 1;
        self.recorder.tcp_closed();
        let key = source_key(conn.peer.ip());
        if let Some(count) = self.per_source.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                self.per_source.remove(&key);
            }
        }
    }

    /// Makes room when every slot is taken: closes the connection idle the longest (between
    /// messages). Returns false when all are in the middle of one. A scan, paid only when full.
    fn close_oldest_idle(&mut self) -> bool {
        let oldest = (0..self.conns.len())
            .filter_map(|slot| self.conns[slot].as_ref().filter(|c| c.busy_since.is_none()).map(|c| (c.last_progress, slot)))
            .min();
        match oldest {
            Some((_, slot)) => {
                self.close(slot);
                true
            }
            None => false,
        }
    }

    /// Gives the connection in `slot` to a transfer thread: out of epoll and the loop's count,
    /// with its unanswered input. When every transfer thread is busy and the queue full, the
    /// transfer gets SERVFAIL here and the connection is closed.
    fn hand_off(&mut self, slot: usize) {
        let Some(conn) = self.conns[slot].take() else { return };
        let _ = self.ctl(libc::EPOLL_CTL_DEL, conn.stream.as_raw_fd(), 0, 0);
        self.forget(slot, &conn);
        let handoff = super::xfr::Handoff { stream: conn.stream, peer: conn.peer, input: conn.input };
        if let Err(crossbeam_channel::TrySendError::Full(mut busy) | crossbeam_channel::TrySendError::Disconnected(mut busy)) =
            self.transfers.try_send(handoff)
        {
            if self.accept_errors.allow() {
                tracing::warn!(client = %busy.peer, "every transfer thread is busy and the queue is full: SERVFAIL");
            }
            if let Some(len) = complete_frame(&busy.input) {
                let reply = servfail(&busy.input[2..2 + len]);
                if !reply.is_empty() {
                    let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
                    framed.extend_from_slice(&reply);
                    // Best effort on a non-blocking socket: the client retries either way.
                    let _ = busy.stream.write(&framed);
                }
            }
        }
    }

    /// Closes connections idle between messages past `idle_timeout`, and those whose current
    /// message (in or out) has taken longer than `message_timeout`.
    /// Counts, for /metrics, the connections still in the middle of a message.
    fn close_idle(&mut self, now: Instant) {
        let mut mid_message = 0;
        for slot in 0..self.conns.len() {
            let expired = match &self.conns[slot] {
                Some(Conn { busy_since: Some(since), .. }) => {
                    let expired = now.duration_since(*since) >= self.options.message_timeout;
                    mid_message += usize::from(!expired);
                    expired
                }
                Some(c) => now.duration_since(c.last_progress) >= self.options.idle_timeout,
                None => false,
            };
            if expired {
                self.close(slot);
            }
        }
        self.recorder.tcp_mid_message(mid_message);
    }

    fn conn_event(&mut self, token: u64, flags: u32, txn: &mut HeldReadTxn) {
        let slot = (token & 0xffff_ffff) as usize;
        let generation = (token >> 32) as u32;
        // An event for a connection closed (and maybe replaced) earlier in this same wakeup.
        let Some(Some(conn)) = self.conns.get_mut(slot) else { return };
        if conn.generation != generation {
            return;
        }
        if flags & libc::EPOLLERR as u32 != 0 {
            self.close(slot);
            return;
        }
        let next = Self::drive(self.engine, &mut self.scratch, &mut self.answer, &mut self.txn_errors, &mut self.recorder, conn, txn);
        match next {
            Next::Close => self.close(slot),
            Next::HandOff => self.hand_off(slot),
            Next::Keep => {
                let conn = self.conns[slot].as_mut().expect("kept");
                // A message begun (part of a query in, part of an answer out) starts the clock.
                if (!conn.input.is_empty() || conn.written < conn.output.len()) && conn.busy_since.is_none() {
                    conn.busy_since = Some(Instant::now());
                }
                let want = if conn.written < conn.output.len() { libc::EPOLLOUT } else { libc::EPOLLIN | libc::EPOLLRDHUP } as u32;
                if want != conn.interest {
                    let fd = conn.stream.as_raw_fd();
                    let tok = token_of(conn, slot);
                    conn.interest = want;
                    if self.ctl(libc::EPOLL_CTL_MOD, fd, want, tok).is_err() {
                        self.close(slot);
                    }
                }
            }
        }
    }

    /// Moves one connection forward as far as it can without blocking: flush the pending answer,
    /// answer complete queries in order, read more.
    fn drive(
        engine: &Engine,
        scratch: &mut Scratch,
        answer: &mut Vec<u8>,
        txn_errors: &mut RateLimit,
        recorder: &mut Recorder<'_>,
        conn: &mut Conn,
        txn: &mut HeldReadTxn,
    ) -> Next {
        let mut reads = 0;
        loop {
            // 1. Flush what is pending; with output still pending, go no further.
            if conn.written < conn.output.len() {
                match conn.stream.write(&conn.output[conn.written..]) {
                    Ok(0) => return Next::Close,
                    Ok(n) => {
                        conn.written += n;
                        conn.last_progress = Instant::now();
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Keep,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => return Next::Close,
                }
                if conn.written < conn.output.len() {
                    return Next::Keep;
                }
                conn.output.clear();
                conn.written = 0;
                conn.busy_since = None;
                if conn.output.capacity() > KEEP_CAPACITY {
                    conn.output.shrink_to(MIN_READ);
                }
            }

            // 2. Answer the first complete query, if any; the loop comes back to flush it.
            if let Some(len) = complete_frame(&conn.input) {
                let frame = &conn.input[2..2 + len];
                if crate::query::is_transfer(frame) || super::update::is_for_writer(frame) {
                    return Next::HandOff;
                }
                let txn = match engine.batch_txn(txn) {
                    Ok(t) => t,
                    Err(e) => {
                        if txn_errors.allow() {
                            tracing::error!("cannot open a read transaction, closing a TCP connection: {e}");
                        }
                        return Next::Close;
                    }
                };
                let client = Client { addr: conn.peer, transport: Transport::Tcp };
                let query = &conn.input[2..2 + len];
                let reply = engine.answer(txn, scratch, query, &client, answer);
                if reply && !answer.is_empty() && answer.len() <= u16::MAX as usize {
                    recorder.record(scratch, query, &client, answer.len());
                    recorder.tap(query, answer, &client);
                }
                conn.input.drain(..2 + len);
                conn.busy_since = None;
                if conn.input.is_empty() && conn.input.capacity() > KEEP_CAPACITY {
                    conn.input.shrink_to(MIN_READ);
                }
                if reply && !answer.is_empty() && answer.len() <= u16::MAX as usize {
                    conn.output.extend_from_slice(&(answer.len() as u16).to_be_bytes());
                    conn.output.extend_from_slice(answer);
                    // Write right away: pipelined answers go out as they are ready.
                    continue;
                }
                continue; // dropped query: go on with the next one
            }

            // 3. Read more (a partial frame, or nothing buffered).
            if conn.read_closed {
                // Everything complete is answered and flushed; a partial frame can never finish.
                return Next::Close;
            }
            if reads == MAX_READS_PER_EVENT {
                return Next::Keep;
            }
            reads += 1;
            let want = match frame_len(&conn.input) {
                Some(len) => (2 + len - conn.input.len()).max(MIN_READ),
                None => MIN_READ,
            };
            let want = want.min(MAX_FRAME - conn.input.len());
            let filled = conn.input.len();
            conn.input.resize(filled + want, 0);
            let result = conn.stream.read(&mut conn.input[filled..]);
            match result {
                Ok(0) => {
                    conn.input.truncate(filled);
                    conn.read_closed = true;
                    // Loop once more: answer complete queries, then close.
                }
                Ok(n) => {
                    conn.input.truncate(filled + n);
                    conn.last_progress = Instant::now();
                }
                Err(e) => {
                    conn.input.truncate(filled);
                    match e.kind() {
                        io::ErrorKind::WouldBlock => return Next::Keep,
                        io::ErrorKind::Interrupted => {}
                        _ => return Next::Close,
                    }
                }
            }
        }
    }
}

fn token(slot: usize, generation: u32) -> u64 {
    slot as u64 | (generation as u64) << 32
}

fn token_of(conn: &Conn, slot: usize) -> u64 {
    token(slot, conn.generation)
}

/// SERVFAIL for `query` (empty if it does not parse far enough to answer).
fn servfail(query: &[u8]) -> Vec<u8> {
    let mut name = crate::query::QueryName::default();
    let mut out = Vec::new();
    if let Ok(q) = crate::query::parse(query, &mut name) {
        let mut w = crate::answer::writer::Writer::start(&mut out, query, &q);
        w.finish(&q, crate::answer::writer::RCODE_SERVFAIL as u16, false, false, None);
    }
    out
}

/// Length of the message whose 2-byte prefix starts `buf`, if the prefix is there.
fn frame_len(buf: &[u8]) -> Option<usize> {
    (buf.len() >= 2).then(|| u16::from_be_bytes([buf[0], buf[1]]) as usize)
}

/// Length of the first message if it has fully arrived.
fn complete_frame(buf: &[u8]) -> Option<usize> {
    frame_len(buf).filter(|&len| buf.len() >= 2 + len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing() {
        assert_eq!(frame_len(&[0]), None);
        assert_eq!(complete_frame(&[0, 2, 9]), None);
        assert_eq!(complete_frame(&[0, 2, 9, 9, 1]), Some(2));
        assert_eq!(complete_frame(&[0, 0]), Some(0));
    }
}
