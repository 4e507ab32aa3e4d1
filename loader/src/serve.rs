//! `lmdns-loader serve`: the long-running writer, the one process that commits on behalf of the
//! network. It takes DNS UPDATE (RFC 2136) and NOTIFY (RFC 1996) on `--listen` addresses (UDP
//! and TCP) and on the local socket in the database directory, where lmdns-server hands over
//! the UPDATEs and NOTIFYs it receives (`lmdns_proto::writer_link`); and it keeps the secondary
//! zones fresh (`crate::secondary`).
//!
//! One thread commits. Work that arrives together — UPDATEs, applied transfers — shares one
//! LMDB commit (group commit): each job runs in a nested transaction of the group's, so it sees
//! every job before it and keeps its own all-or-nothing result; replies go out once the group
//! is committed and durable. SIGTERM or SIGINT stops taking new work, commits what is queued
//! and exits.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use clap::Args;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use heed::RwTxn;
use lmdb_schema::Store;
use lmdns_proto::writer_link;

use crate::update::{self, process::rcode};

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Answer DNS UPDATE on ADDR:PORT over UDP and TCP (repeatable; IPv6 as [ADDR]:PORT). The
    /// local socket in the database directory (`writer.sock`, for lmdns-server) is always
    /// served; without --listen it is the only way in.
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Vec<SocketAddr>,
    /// Most UPDATEs committed together in one LMDB transaction when they arrive at once (each
    /// keeps its own result; 1 commits each alone).
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub group_commit: u64,
    /// Concurrent TCP connections per --listen address; more are closed at once.
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub max_connections: usize,
    /// Secondary zones refreshed (SOA query and transfer) at once.
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub transfers: u64,
    #[command(flatten)]
    pub timers: crate::secondary::timers::Timers,
}

impl Default for ServeArgs {
    /// The flags' defaults (for embedders and tests).
    fn default() -> Self {
        ServeArgs {
            listen: Vec::new(),
            group_commit: 64,
            max_connections: 256,
            transfers: 16,
            timers: crate::secondary::timers::Timers::default(),
        }
    }
}

/// How long a listener waits between looks at the stop flag.
const TICK: Duration = Duration::from_millis(200);
/// An idle TCP or local connection is closed after this long.
const IDLE: Duration = Duration::from_secs(30);

/// What a job runs: the store and its nested transaction in, its decision out.
type RunJob = Box<dyn FnOnce(&Store, &mut RwTxn<'_>) -> Done + Send>;

/// One piece of work for the commit thread: run in a nested transaction of a group commit.
pub struct Job {
    run: RunJob,
}

/// What a job decided: whether its nested transaction is kept, and what to do once the group
/// is committed (or not: `after(false)`).
pub struct Done {
    pub commit: bool,
    pub after: Box<dyn FnOnce(bool) + Send>,
}

impl Job {
    pub fn new(run: impl FnOnce(&Store, &mut RwTxn<'_>) -> Done + Send + 'static) -> Job {
        Job { run: Box::new(run) }
    }
}

/// A reply to a message, sent once it is ready.
type Reply = Box<dyn FnOnce(Vec<u8>) + Send>;

/// Where the listeners send what they receive: UPDATEs to the commit thread, NOTIFYs to the
/// secondary scheduler.
#[derive(Clone)]
struct Router {
    store: Store,
    jobs: Sender<Job>,
    notify: Sender<crate::secondary::daemon::Event>,
}

impl Router {
    /// Takes one message from `client`. Returns false if it was dropped (the queue is full).
    fn route(&self, message: Vec<u8>, client: SocketAddr, reply: Reply) -> bool {
        if message.len() >= 12 && (message[2] >> 3) & 0x0F == crate::secondary::notify::OPCODE_NOTIFY {
            reply(crate::secondary::notify::answer(&self.store, &message, client, &self.notify));
            return true;
        }
        self.jobs.try_send(update_job(message, client, reply)).is_ok()
    }

    /// As [`route`](Self::route), waiting for the reply (None: the writer is gone).
    fn exchange(&self, message: Vec<u8>, client: SocketAddr) -> Option<Vec<u8>> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let reply = Box::new(move |reply: Vec<u8>| {
            let _ = tx.send(reply);
        });
        if message.len() >= 12 && (message[2] >> 3) & 0x0F == crate::secondary::notify::OPCODE_NOTIFY {
            self.route(message, client, reply);
        } else {
            self.jobs.send(update_job(message, client, reply)).ok()?;
        }
        rx.recv().ok()
    }
}

/// An UPDATE as a job: processed in its nested transaction, answered after the commit.
fn update_job(message: Vec<u8>, client: SocketAddr, reply: Reply) -> Job {
    Job::new(move |store, txn| {
        let outcome = update::process(store, txn, &message, client.ip(), now());
        Done {
            commit: outcome.commit,
            after: Box::new(move |committed| {
                let mut bytes = outcome.reply.clone();
                if committed {
                    log(&outcome, client);
                } else if bytes.len() >= 4 {
                    // Nothing was committed: the reply (signed or not) cannot stand; SERVFAIL.
                    bytes[3] = (bytes[3] & 0xF0) | rcode::SERVFAIL;
                } else if message.len() >= 12 {
                    bytes = message[..12].to_vec();
                    bytes[2] |= 0x80;
                    bytes[3] = rcode::SERVFAIL;
                    bytes[4..12].fill(0);
                }
                reply(bytes);
            }),
        }
    })
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

pub fn run(store: &Store, db: &Path, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, Arc::clone(&stop)).context("installing the SIGTERM/SIGINT handlers")?;
    }
    run_until(store, db, args, stop, |_| {})
}

/// [`run`] until `stop` becomes true (what `run` does with the signal flag; tests and embedders
/// pass their own). `started` gets the bound `--listen` addresses once everything listens.
pub fn run_until(
    store: &Store,
    db: &Path,
    args: ServeArgs,
    stop: Arc<AtomicBool>,
    started: impl FnOnce(&[SocketAddr]),
) -> anyhow::Result<ExitCode> {
    let (jobs, queue) = crossbeam_channel::bounded::<Job>(4096);
    let socket = writer_link::socket_path(db);
    let local = bind_local(&socket)?;
    let config = crate::secondary::daemon::Config { timers: args.timers, transfers: args.transfers as usize };
    let notify = crate::secondary::daemon::start(*store, jobs.clone(), config, Arc::clone(&stop))?;
    let router = Router { store: *store, jobs: jobs.clone(), notify };
    let mut bound = Vec::new();
    for &addr in &args.listen {
        let udp = UdpSocket::bind(addr).with_context(|| format!("cannot listen on {addr} (UDP)"))?;
        let tcp = TcpListener::bind(udp.local_addr()?).with_context(|| format!("cannot listen on {addr} (TCP)"))?;
        bound.push(udp.local_addr()?);
        spawn_udp(udp, router.clone(), Arc::clone(&stop))?;
        spawn_tcp(tcp, router.clone(), Arc::clone(&stop), args.max_connections)?;
    }
    spawn_local(local, router, Arc::clone(&stop))?;
    drop(jobs);
    let listen = bound.iter().map(SocketAddr::to_string).collect::<Vec<_>>().join(",");
    tracing::info!(db = %db.display(), socket = %socket.display(), listen = %listen, "lmdns-loader serve started");
    started(&bound);
    commit_loop(store, &queue, &stop, args.group_commit as usize);
    let _ = std::fs::remove_file(&socket);
    tracing::info!("lmdns-loader serve stopped");
    Ok(ExitCode::SUCCESS)
}

/// Binds the local socket, refusing to take it from a writer that still runs (a socket file
/// nobody answers on is a leftover of a writer that died, and is replaced).
fn bind_local(path: &Path) -> anyhow::Result<UnixListener> {
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            bail!("another writer (lmdns-loader serve) is already running on this database: {} answers", path.display());
        }
        std::fs::remove_file(path).with_context(|| format!("removing the stale {}", path.display()))?;
    }
    let listener = UnixListener::bind(path).with_context(|| format!("cannot create {}", path.display()))?;
    Ok(listener)
}

/// The writer: takes a first UPDATE, then whatever else is queued (up to `group`), commits them
/// together and replies. Ends once stopped with nothing queued.
fn commit_loop(store: &Store, queue: &Receiver<Job>, stop: &AtomicBool, group: usize) {
    loop {
        let first = match queue.recv_timeout(TICK) {
            Ok(job) => job,
            Err(RecvTimeoutError::Timeout) if stop.load(Ordering::Relaxed) => return,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let mut jobs = vec![first];
        while jobs.len() < group {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        commit_group(store, jobs);
    }
}

fn commit_group(store: &Store, jobs: Vec<Job>) {
    let count = jobs.len();
    let mut afters = Vec::with_capacity(count);
    let committed = (|| -> anyhow::Result<()> {
        let mut parent = store.write_txn()?;
        for job in jobs {
            let mut nested = store.env().nested_write_txn(&mut parent).map_err(|e| store.error(e))?;
            let done = (job.run)(store, &mut nested);
            if done.commit {
                nested.commit().map_err(|e| store.error(e))?;
            }
            afters.push(done.after);
        }
        parent.commit().map_err(|e| store.error(e))?;
        Ok(())
    })();
    if let Err(e) = &committed {
        tracing::error!("commit of {count} job(s) failed, none of them is kept: {e:#}");
    }
    for after in afters {
        after(committed.is_ok());
    }
}

/// One line per UPDATE: zone, key, client, result.
fn log(o: &update::Outcome, client: SocketAddr) {
    let zone = o.zone.as_deref().unwrap_or("-");
    let key = o.key.as_deref().unwrap_or("-");
    let result = rcode::name(o.rcode);
    match (&o.reason, o.serial) {
        (None, Some(serial)) => tracing::info!(zone, key, %client, result, changes = o.changes, serial, "UPDATE"),
        (None, None) => tracing::info!(zone, key, %client, result, changes = 0, "UPDATE (no change)"),
        (Some(reason), _) => tracing::warn!(zone, key, %client, result, reason = %reason, "UPDATE refused"),
    }
}

fn spawn_udp(socket: UdpSocket, router: Router, stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    socket.set_read_timeout(Some(TICK))?;
    let socket = Arc::new(socket);
    std::thread::Builder::new().name("update-udp".into()).spawn(move || {
        let mut buf = vec![0u8; 65_535];
        while !stop.load(Ordering::Relaxed) {
            let Ok((n, client)) = socket.recv_from(&mut buf) else { continue };
            let reply_socket = Arc::clone(&socket);
            let reply = Box::new(move |reply: Vec<u8>| {
                if !reply.is_empty() {
                    let _ = reply_socket.send_to(&reply, client);
                }
            });
            if !router.route(buf[..n].to_vec(), client, reply) {
                tracing::warn!(%client, "UPDATE dropped: the writer's queue is full");
            }
        }
    })?;
    Ok(())
}

/// Waits until `fd` is readable (a connection to accept) or [`TICK`] passes.
fn wait_readable(fd: std::os::fd::RawFd) -> bool {
    let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: one live pollfd.
    unsafe { libc::poll(&mut pfd, 1, TICK.as_millis() as libc::c_int) > 0 }
}

fn spawn_tcp(listener: TcpListener, router: Router, stop: Arc<AtomicBool>, max: usize) -> anyhow::Result<()> {
    listener.set_nonblocking(true)?;
    let open = Arc::new(AtomicUsize::new(0));
    std::thread::Builder::new().name("update-tcp".into()).spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            if !wait_readable(std::os::fd::AsRawFd::as_raw_fd(&listener)) {
                continue;
            }
            match listener.accept() {
                Ok((stream, client)) => {
                    if open.load(Ordering::Relaxed) >= max {
                        continue; // dropped: closed at once
                    }
                    open.fetch_add(1, Ordering::Relaxed);
                    let (router, open) = (router.clone(), Arc::clone(&open));
                    let _ = std::thread::Builder::new().name("update-conn".into()).spawn(move || {
                        serve_tcp(stream, client, &router);
                        open.fetch_sub(1, Ordering::Relaxed);
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                // Out of descriptors and the like: back off a little rather than spin.
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    })?;
    Ok(())
}

fn serve_tcp(mut stream: TcpStream, client: SocketAddr, router: &Router) {
    if stream.set_nonblocking(false).is_err() || stream.set_read_timeout(Some(IDLE)).is_err() {
        return;
    }
    let _ = stream.set_nodelay(true);
    let mut len = [0u8; 2];
    while stream.read_exact(&mut len).is_ok() {
        let mut message = vec![0u8; u16::from_be_bytes(len) as usize];
        if stream.read_exact(&mut message).is_err() {
            return;
        }
        let Some(reply) = router.exchange(message, client) else { return };
        if !reply.is_empty() {
            let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(&reply);
            if stream.write_all(&framed).is_err() {
                return;
            }
        }
    }
}

fn spawn_local(listener: UnixListener, router: Router, stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    listener.set_nonblocking(true)?;
    std::thread::Builder::new().name("update-local".into()).spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            if !wait_readable(std::os::fd::AsRawFd::as_raw_fd(&listener)) {
                continue;
            }
            match listener.accept() {
                Ok((stream, _)) => {
                    let router = router.clone();
                    let _ = std::thread::Builder::new().name("update-link".into()).spawn(move || serve_local(stream, &router));
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    })?;
    Ok(())
}

/// A connection from lmdns-server: requests carry the client's address; replies in order.
fn serve_local(mut stream: UnixStream, router: &Router) {
    if stream.set_nonblocking(false).is_err() || stream.set_read_timeout(Some(IDLE)).is_err() {
        return;
    }
    while let Ok(Some((client, message))) = writer_link::read_request(&mut stream) {
        let reply = router.exchange(message, client).unwrap_or_default();
        if writer_link::write_reply(&mut stream, &reply).is_err() {
            return;
        }
    }
}
