//! UDP workers: one thread per core, each with its own SO_REUSEPORT socket per listen address, so
//! the kernel spreads queries across workers and nothing is shared between them but the engine.
//!
//! Per batch: one recvmmsg of up to `batch_size` packets, the read transaction (kept from the
//! batch before while no commit lands: one id compare, see `HeldReadTxn`), answers, one
//! sendmmsg. A worker with one socket (the usual case) blocks in recvmmsg itself, with
//! MSG_WAITFORONE and a receive timeout to notice shutdown, as the reflector does: two system
//! calls per batch. A worker serving several addresses waits with poll(2) first, a third call.
//! Every buffer is allocated when the worker starts; the hot path does not allocate unless the
//! engine writes a response longer than any before it (the Vec then keeps its size).
//!
//! Replies must leave from the address the query was sent to, also when bound to 0.0.0.0 or [::]:
//! IP_PKTINFO / IPV6_RECVPKTINFO give each packet's destination, which is handed back as the
//! source in the reply's control message. Only wildcard sockets ask for it: a socket bound to
//! one address replies from that address anyway, and the control messages cost the kernel a
//! cmsg written per receive and parsed per send.
//!
//! Responses are not fragmented (RFC 9715), unless `--udp-fragments` says so: the sockets use
//! IP_PMTUDISC_PROBE / IPV6_PMTUDISC_PROBE, so IPv4 replies carry DF, IPv6 ones never get a
//! fragment header, and ICMP "fragmentation needed" is ignored (a forged one cannot shrink what
//! clients get). A reply longer than the interface MTU then fails with EMSGSIZE and is sent
//! again truncated (TC=1): the client asks over TCP. With DF set the kernel also leaves the IP
//! ID at 0 instead of drawing it from its global, hashed ID table (a siphash and an atomic add
//! on memory all cores share, per reply: 1.9 % of the server's CPU at 1k zones).

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use lmdb_schema::readers::HeldReadTxn;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::engine::{Client, Engine, Scratch, Transport};
use crate::ops::metrics::Recorder;
use crate::server::{RateLimit, Stop};

/// Receive buffer per packet. Queries are small (one question of at most 255+4 bytes, an OPT RR
/// with a few options, maybe a TSIG): 4096 fits any real query with room to spare, where 65535
/// would cost 4 MiB per socket at batch 64 for nothing. A longer datagram arrives flagged
/// MSG_TRUNC and is dropped, as a cut-off query cannot be answered correctly.
pub const RECV_BUF_SIZE: usize = 4096;
/// Largest UDP payload the kernel will send over IPv4; longer engine output is dropped.
const MAX_UDP_PAYLOAD: usize = 65_507;
/// How long a worker sleeps in poll(2) before re-checking the stop flag.
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// Batches taken from one socket before polling again, so one flooded address cannot starve the
/// others or delay shutdown indefinitely.
const MAX_BATCHES_PER_WAKEUP: usize = 16;
/// Room for one IPv4 or IPv6 pktinfo control message (CMSG_SPACE(20) = 40 on 64-bit).
const CTRL_LEN: usize = 64;

/// Control-message buffer aligned for `cmsghdr`.
#[repr(C, align(8))]
#[derive(Clone, Copy)]
struct CtrlBuf([u8; CTRL_LEN]);

/// Whether a socket bound to `addr` asks for pktinfo control messages: only wildcard binds
/// need each packet's destination to reply from it (see the module comment).
fn delivers_pktinfo(addr: SocketAddr) -> bool {
    addr.ip().is_unspecified()
}

/// Creates one worker's UDP socket for `addr`. Every worker binds the same address with
/// SO_REUSEPORT; the kernel then hashes each client's packets to one of them.
/// `fragments`: let the kernel fragment replies larger than the path (see the module comment).
pub fn bind_socket(addr: SocketAddr, fragments: bool) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM.cloexec(), Some(Protocol::UDP))?;
    socket.set_reuse_port(true)?;
    if addr.is_ipv6() {
        // So [::] and 0.0.0.0 can both be listened on, and v4 clients never appear v4-mapped.
        socket.set_only_v6(true)?;
    }
    if !fragments {
        if addr.is_ipv6() {
            set_int_opt(&socket, libc::IPPROTO_IPV6, libc::IPV6_MTU_DISCOVER, libc::IPV6_PMTUDISC_PROBE)?;
        } else {
            set_int_opt(&socket, libc::IPPROTO_IP, libc::IP_MTU_DISCOVER, libc::IP_PMTUDISC_PROBE)?;
        }
    }
    if delivers_pktinfo(addr) {
        if addr.is_ipv6() {
            set_int_opt(&socket, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)?;
        } else {
            set_int_opt(&socket, libc::IPPROTO_IP, libc::IP_PKTINFO, 1)?;
        }
    }
    // Best effort: a bigger queue absorbs bursts between batches; the kernel caps it at rmem_max.
    let _ = socket.set_recv_buffer_size(4 << 20);
    socket.bind(&SockAddr::from(addr))?;
    // Blocking on purpose: receives use MSG_DONTWAIT after poll (or block in recvmmsg when the
    // worker has this socket alone), while sendmmsg may wait briefly for send-buffer space
    // instead of dropping answers under load.
    socket.set_nonblocking(false)?;
    // A worker with this socket alone blocks in recvmmsg; the timeout bounds how long it takes
    // to see a shutdown request.
    socket.set_read_timeout(Some(POLL_INTERVAL))?;
    Ok(socket)
}

/// The CPUs this process may run on, in ascending order (empty if the kernel will not say).
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity writes at most its size.
    unsafe {
        let mut set: libc::cpu_set_t = zeroed();
        if libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize).filter(|&cpu| libc::CPU_ISSET(cpu, &set)).collect()
    }
}

/// Pins the calling thread to `cpu` (sched_setaffinity on thread id 0, i.e. this thread only).
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    pin_current_thread_to(&[cpu])
}

/// Restricts the calling thread to `cpus`.
pub fn pin_current_thread_to(cpus: &[usize]) -> io::Result<()> {
    if let Some(cpu) = cpus.iter().find(|&&c| c >= libc::CPU_SETSIZE as usize) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("CPU {cpu} is beyond CPU_SETSIZE")));
    }
    // SAFETY: as above; the set is a live local of the size passed.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = zeroed();
        for &cpu in cpus {
            libc::CPU_SET(cpu, &mut set);
        }
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set)
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn set_int_opt(socket: &Socket, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: valid fd, pointer to a live c_int and its exact size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// All per-batch buffers of one worker, allocated once. The `mmsghdr`s hold raw pointers into the
/// other boxed slices, whose heap storage never moves; the struct is built and used on the
/// worker's own thread only (raw pointers make it !Send, which is what we want).
struct Batch {
    size: usize,
    recv_bufs: Box<[u8]>,
    outs: Vec<Vec<u8>>,
    addrs: Box<[libc::sockaddr_storage]>,
    recv_ctrl: Box<[CtrlBuf]>,
    send_ctrl: Box<[CtrlBuf]>,
    recv_iov: Box<[libc::iovec]>,
    send_iov: Box<[libc::iovec]>,
    recv_hdrs: Box<[libc::mmsghdr]>,
    send_hdrs: Box<[libc::mmsghdr]>,
    /// Per reply: the packet (index into `outs`) it answers.
    reply_of: Box<[usize]>,
}

impl Batch {
    fn new(size: usize, out_capacity: usize) -> Batch {
        // SAFETY (all zeroed() below): plain C structs for which all-zero is a valid value.
        let mut batch = Batch {
            size,
            recv_bufs: vec![0u8; size * RECV_BUF_SIZE].into_boxed_slice(),
            outs: (0..size).map(|_| Vec::with_capacity(out_capacity)).collect(),
            addrs: (0..size).map(|_| unsafe { zeroed() }).collect(),
            recv_ctrl: vec![CtrlBuf([0; CTRL_LEN]); size].into_boxed_slice(),
            send_ctrl: vec![CtrlBuf([0; CTRL_LEN]); size].into_boxed_slice(),
            recv_iov: (0..size).map(|_| unsafe { zeroed() }).collect(),
            send_iov: (0..size).map(|_| unsafe { zeroed() }).collect(),
            recv_hdrs: (0..size).map(|_| unsafe { zeroed() }).collect(),
            send_hdrs: (0..size).map(|_| unsafe { zeroed() }).collect(),
            reply_of: vec![0; size].into_boxed_slice(),
        };
        for i in 0..size {
            batch.recv_iov[i] = libc::iovec { iov_base: batch.recv_bufs[i * RECV_BUF_SIZE..].as_mut_ptr().cast(), iov_len: RECV_BUF_SIZE };
            let hdr = &mut batch.recv_hdrs[i].msg_hdr;
            hdr.msg_name = (&mut batch.addrs[i] as *mut libc::sockaddr_storage).cast();
            hdr.msg_iov = &mut batch.recv_iov[i];
            hdr.msg_iovlen = 1;
            hdr.msg_control = batch.recv_ctrl[i].0.as_mut_ptr().cast();
        }
        batch
    }

    /// Resets the in/out lengths the kernel overwrote in the last receive; `control`: whether the
    /// socket delivers pktinfo control messages.
    fn prepare_recv(&mut self, control: bool) {
        let control_len = if control { CTRL_LEN } else { 0 };
        for h in self.recv_hdrs.iter_mut() {
            h.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_hdr.msg_controllen = control_len as _;
            h.msg_hdr.msg_flags = 0;
            h.msg_len = 0;
        }
    }
}

/// One UDP worker thread's state.
pub struct Worker<'e> {
    engine: &'e Engine,
    sockets: Vec<Socket>,
    /// Per socket: bound to a wildcard address, so its packets carry pktinfo.
    pktinfo: Vec<bool>,
    scratch: Scratch,
    /// Kept across batches until a commit lands; released when a receive comes back empty.
    txn: HeldReadTxn,
    batch: Batch,
    pollfds: Vec<libc::pollfd>,
    txn_errors: RateLimit,
    io_errors: RateLimit,
    rrl: Option<&'e crate::ops::rrl::Rrl>,
    recorder: Recorder<'e>,
    /// Where UPDATEs go (see `update`), with a shared handle on each of this worker's sockets
    /// for the relay to reply from.
    updates: Option<(crossbeam_channel::Sender<super::update::UdpUpdate>, Vec<Arc<Socket>>)>,
}

impl<'e> Worker<'e> {
    /// Must be called on the worker's own thread (the buffers hold raw pointers).
    pub fn new(engine: &'e Engine, sockets: Vec<Socket>, batch_size: usize, recorder: Recorder<'e>) -> Worker<'e> {
        let out_capacity = usize::from(engine.config().max_udp_size).max(512);
        let pollfds = sockets.iter().map(|s| libc::pollfd { fd: s.as_raw_fd(), events: libc::POLLIN, revents: 0 }).collect();
        // An address that cannot be read is taken as a wildcard: room for pktinfo costs nothing.
        let pktinfo = sockets.iter().map(|s| s.local_addr().ok().and_then(|a| a.as_socket()).is_none_or(delivers_pktinfo)).collect();
        Worker {
            engine,
            sockets,
            pktinfo,
            scratch: engine.scratch(),
            txn: HeldReadTxn::default(),
            batch: Batch::new(batch_size, out_capacity),
            pollfds,
            txn_errors: RateLimit::new(),
            io_errors: RateLimit::new(),
            rrl: None,
            recorder,
            updates: None,
        }
    }

    /// Hands the UPDATEs this worker receives to the relay (see `update`).
    pub fn with_updates(mut self, queue: crossbeam_channel::Sender<super::update::UdpUpdate>) -> io::Result<Self> {
        let shared = self.sockets.iter().map(|s| s.try_clone().map(Arc::new)).collect::<io::Result<Vec<_>>>()?;
        self.updates = Some((queue, shared));
        Ok(self)
    }

    /// Applies response rate limiting (shared by all workers) to this worker's replies.
    pub fn with_rrl(mut self, rrl: Option<&'e crate::ops::rrl::Rrl>) -> Self {
        self.rrl = rrl;
        self
    }

    pub fn run(mut self, stop: &Stop) -> anyhow::Result<()> {
        if self.sockets.len() == 1 {
            return self.run_one(stop);
        }
        while !stop.requested() {
            self.recorder.tick(&self.scratch);
            for p in self.pollfds.iter_mut() {
                p.revents = 0;
            }
            // SAFETY: pollfds is a live array of exactly that many entries.
            let rc = unsafe {
                libc::poll(self.pollfds.as_mut_ptr(), self.pollfds.len() as libc::nfds_t, POLL_INTERVAL.as_millis() as libc::c_int)
            };
            if rc < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e).context("poll on UDP sockets failed");
            }
            if rc == 0 {
                self.txn.release(); // idle: pin no snapshot while waiting
            }
            for i in 0..self.sockets.len() {
                if self.pollfds[i].revents == 0 {
                    continue;
                }
                for _ in 0..MAX_BATCHES_PER_WAKEUP {
                    let received = self.serve_batch(i, libc::MSG_DONTWAIT)?;
                    if received < self.batch.size {
                        break; // the queue is (nearly) drained; poll again
                    }
                }
            }
        }
        Ok(())
    }

    /// The loop of a worker with one socket: the receive itself waits (MSG_WAITFORONE: block for
    /// the first packet, then take what else is queued), so no poll(2) per batch. The socket's
    /// receive timeout wakes it to check `stop` when idle.
    fn run_one(mut self, stop: &Stop) -> anyhow::Result<()> {
        while !stop.requested() {
            self.recorder.tick(&self.scratch);
            self.serve_batch(0, libc::MSG_WAITFORONE)?;
        }
        Ok(())
    }

    /// Receives (with recvmmsg `flags`), answers and sends one batch on socket `index`; returns
    /// how many packets were received. An empty receive (timed out, drained) releases the read
    /// transaction: the batch after an idle spell opens a new one.
    fn serve_batch(&mut self, index: usize, flags: libc::c_int) -> anyhow::Result<usize> {
        let received = self.receive_and_answer(index, flags);
        if !matches!(received, Ok(n) if n > 0) {
            self.txn.release();
        }
        received
    }

    fn receive_and_answer(&mut self, index: usize, flags: libc::c_int) -> anyhow::Result<usize> {
        let fd: RawFd = self.sockets[index].as_raw_fd();
        let batch = &mut self.batch;
        batch.prepare_recv(self.pktinfo[index]);
        // SAFETY: recv_hdrs has batch.size entries whose pointers reference live buffers of the
        // declared lengths (set up in Batch::new, reset in prepare_recv).
        let n = unsafe { libc::recvmmsg(fd, batch.recv_hdrs.as_mut_ptr(), batch.size as libc::c_uint, flags, std::ptr::null_mut()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
                // An ICMP error queued from an earlier send (e.g. port unreachable) surfaces here;
                // it concerns one past client, not this socket.
                _ if is_transient(&e) => Ok(0),
                _ => Err(e).context("recvmmsg failed"),
            };
        }
        let n = n as usize;
        if n == 0 {
            return Ok(0);
        }

        let txn = match self.engine.batch_txn(&mut self.txn) {
            Ok(txn) => txn,
            Err(e) => {
                // Without a transaction nothing can be answered; clients will retry.
                if self.txn_errors.allow() {
                    tracing::error!("cannot open a read transaction, dropping a batch of UDP queries: {e}");
                }
                return Ok(n);
            }
        };
        // Packet i's bytes (a truncated one's `msg_len` can exceed its buffer: those are
        // skipped below, and the warm pass only hints).
        let packet =
            |i: usize| &batch.recv_bufs[i * RECV_BUF_SIZE..i * RECV_BUF_SIZE + (batch.recv_hdrs[i].msg_len as usize).min(RECV_BUF_SIZE)];
        self.engine.warm_batch(txn, &mut self.scratch, (0..n).map(packet));
        let mut replies = 0;
        let rrl_now = self.rrl.map_or(0, |r| r.now());
        for i in 0..n {
            let hdr = &batch.recv_hdrs[i];
            if hdr.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                continue;
            }
            let Some(addr) = sockaddr_to_std(&batch.addrs[i]) else { continue };
            let query = packet(i);
            let client = Client { addr, transport: Transport::Udp };
            if let Some((queue, shared)) = &self.updates {
                // One flag test per packet; only UPDATEs and NOTIFYs (rare) go further.
                if super::update::is_for_writer(query) && self.engine.config().allow_query.allows(addr.ip()) {
                    let mut control = CtrlBuf([0; CTRL_LEN]);
                    // SAFETY: as for the replies below.
                    let len = unsafe { reply_control(&batch.recv_hdrs[i].msg_hdr, &mut control) };
                    let update = super::update::UdpUpdate {
                        message: query.to_vec(),
                        client: addr,
                        socket: Arc::clone(&shared[index]),
                        control: control.0[..len].to_vec(),
                    };
                    if queue.try_send(update).is_err() && self.io_errors.allow() {
                        tracing::warn!("the writer relay queue is full: an UPDATE or NOTIFY was dropped");
                    }
                    continue;
                }
            }
            let out = &mut batch.outs[i];
            if !self.engine.answer(txn, &mut self.scratch, query, &client, out) || out.is_empty() || out.len() > MAX_UDP_PAYLOAD {
                continue;
            }
            self.recorder.record(&self.scratch, query, &client, out.len());
            // A valid server cookie proves the address is the client's own: not a reflection.
            if let Some(rrl) = self.rrl.filter(|_| !self.scratch.valid_cookie()) {
                if !crate::ops::rrl::apply(rrl, rrl_now, addr.ip(), &self.scratch.answered, out) {
                    continue;
                }
            }
            // SAFETY: the received header's control area is the live recv_ctrl[i] buffer, with the
            // length the kernel filled in.
            let ctrl_len = unsafe { reply_control(&batch.recv_hdrs[i].msg_hdr, &mut batch.send_ctrl[i]) };
            self.recorder.tap(query, out, &client);
            batch.send_iov[replies] = libc::iovec { iov_base: out.as_mut_ptr().cast(), iov_len: out.len() };
            let send = &mut batch.send_hdrs[replies].msg_hdr;
            send.msg_name = (&mut batch.addrs[i] as *mut libc::sockaddr_storage).cast();
            send.msg_namelen = batch.recv_hdrs[i].msg_hdr.msg_namelen;
            send.msg_iov = &mut batch.send_iov[replies];
            send.msg_iovlen = 1;
            send.msg_control = if ctrl_len == 0 { std::ptr::null_mut() } else { batch.send_ctrl[i].0.as_mut_ptr().cast() };
            send.msg_controllen = ctrl_len as _;
            send.msg_flags = 0;
            batch.reply_of[replies] = i;
            replies += 1;
        }
        self.engine.after_batch(&mut self.scratch, &mut self.txn);

        let mut sent = 0;
        // The reply last cut to TC=1 for being too big, so it is cut (and retried) once only.
        let mut truncated = None;
        // Bounded: every round sends at least one message, skips one or truncates one.
        for _ in 0..(3 * replies + 2) {
            if sent >= replies {
                break;
            }
            // SAFETY: send_hdrs[sent..replies] were filled above with pointers into live buffers.
            let rc = unsafe { libc::sendmmsg(fd, batch.send_hdrs[sent..].as_mut_ptr(), (replies - sent) as libc::c_uint, 0) };
            if rc > 0 {
                sent += rc as usize;
                continue;
            }
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            // Longer than the interface MTU and not to be fragmented: send it truncated instead
            // (RFC 9715 R4), so the client retries over TCP. (dnstap has the whole response.)
            if e.raw_os_error() == Some(libc::EMSGSIZE) && truncated != Some(sent) {
                let out = &mut batch.outs[batch.reply_of[sent]];
                if crate::ops::rrl::slip_response(out) {
                    batch.send_iov[sent].iov_len = out.len();
                    truncated = Some(sent);
                    self.recorder.record_cut_to_mtu();
                    continue;
                }
            }
            // The first remaining message failed (unreachable client, bad source...): skip it
            // and send the rest; a lost UDP answer is retried by the client.
            if !is_transient(&e) && self.io_errors.allow() {
                tracing::warn!("sendmmsg failed: {e}");
            }
            sent += 1;
        }
        Ok(n)
    }
}

/// Errors caused by one peer or a momentary condition rather than by our socket.
fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ECONNREFUSED | libc::EHOSTUNREACH | libc::ENETUNREACH | libc::EAGAIN | libc::ENOBUFS | libc::EPERM | libc::EMSGSIZE)
    )
}

/// Writes into `ctrl` the control message making the reply leave from the query's destination
/// address, and returns its length (0 if the query carried no pktinfo).
///
/// # Safety
/// `recv` must be a header filled by recvmsg whose control pointer/length are valid.
unsafe fn reply_control(recv: &libc::msghdr, ctrl: &mut CtrlBuf) -> usize {
    let mut cmsg = libc::CMSG_FIRSTHDR(recv);
    while !cmsg.is_null() {
        let c = &*cmsg;
        if c.cmsg_level == libc::IPPROTO_IP && c.cmsg_type == libc::IP_PKTINFO {
            let got: libc::in_pktinfo = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
            // ipi_spec_dst is the local address the packet was for (for unicast, its destination);
            // ifindex 0 lets routing pick the interface, as a fixed one could bypass the routes.
            let info = libc::in_pktinfo { ipi_ifindex: 0, ipi_spec_dst: got.ipi_spec_dst, ipi_addr: libc::in_addr { s_addr: 0 } };
            return write_cmsg(ctrl, libc::IPPROTO_IP, libc::IP_PKTINFO, &info);
        }
        if c.cmsg_level == libc::IPPROTO_IPV6 && c.cmsg_type == libc::IPV6_PKTINFO {
            let got: libc::in6_pktinfo = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
            // Keep the interface: link-local destinations are only meaningful with it.
            return write_cmsg(ctrl, libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, &got);
        }
        cmsg = libc::CMSG_NXTHDR(recv, cmsg);
    }
    0
}

/// # Safety
/// `T` must be the plain C payload type of the (level, kind) control message.
unsafe fn write_cmsg<T: Copy>(ctrl: &mut CtrlBuf, level: libc::c_int, kind: libc::c_int, data: &T) -> usize {
    let space = libc::CMSG_SPACE(size_of::<T>() as u32) as usize;
    debug_assert!(space <= CTRL_LEN);
    ctrl.0[..space].fill(0);
    let mut hdr: libc::msghdr = zeroed();
    hdr.msg_control = ctrl.0.as_mut_ptr().cast();
    hdr.msg_controllen = space as _;
    let cmsg = libc::CMSG_FIRSTHDR(&hdr);
    (*cmsg).cmsg_level = level;
    (*cmsg).cmsg_type = kind;
    (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<T>() as u32) as _;
    std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<T>(), *data);
    space
}

/// Sends one reply from `socket` to `to`, with the source-address control message `control`
/// (as built for a received query; empty: the kernel picks the source).
pub fn send_reply(socket: &Socket, to: SocketAddr, control: &[u8], buf: &[u8]) -> io::Result<()> {
    let to = SockAddr::from(to);
    let mut ctrl = CtrlBuf([0; CTRL_LEN]);
    let len = control.len().min(CTRL_LEN);
    ctrl.0[..len].copy_from_slice(&control[..len]);
    let mut iov = libc::iovec { iov_base: buf.as_ptr() as *mut libc::c_void, iov_len: buf.len() };
    // SAFETY: zeroed msghdr is valid; every pointer set references a live local of the given
    // length for the duration of the call.
    let rc = unsafe {
        let mut hdr: libc::msghdr = zeroed();
        hdr.msg_name = to.as_ptr() as *mut libc::c_void;
        hdr.msg_namelen = to.len();
        hdr.msg_iov = &mut iov;
        hdr.msg_iovlen = 1;
        if len > 0 {
            hdr.msg_control = ctrl.0.as_mut_ptr().cast();
            hdr.msg_controllen = len as _;
        }
        libc::sendmsg(socket.as_raw_fd(), &hdr, 0)
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The client address of a received packet, without allocating.
pub fn sockaddr_to_std(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match storage.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, which it is large enough for.
            let sin: &libc::sockaddr_in = unsafe { &*(storage as *const libc::sockaddr_storage).cast() };
            let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(sin.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6: &libc::sockaddr_in6 = unsafe { &*(storage as *const libc::sockaddr_storage).cast() };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(ip, u16::from_be(sin6.sin6_port), sin6.sin6_flowinfo, sin6.sin6_scope_id)))
        }
        _ => None,
    }
}
