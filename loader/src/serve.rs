//! `lmdns-loader serve`: the long-running writer, the one process that commits on behalf of the
//! network. It takes DNS UPDATE (RFC 2136) on `--listen` addresses (UDP and TCP) and on the
//! local socket in the database directory, where lmdns-server hands over the UPDATEs it
//! receives (`lmdns_proto::writer_link`).
//!
//! One thread commits. UPDATEs that arrive together share one LMDB commit (group commit): each
//! runs in a nested transaction of the group's, so it sees every update before it and keeps its
//! own all-or-nothing result; replies go out once the group is committed and durable. SIGTERM
//! or SIGINT stops taking new work, commits what is queued and exits.

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
}

/// How long a listener waits between looks at the stop flag.
const TICK: Duration = Duration::from_millis(200);
/// An idle TCP or local connection is closed after this long.
const IDLE: Duration = Duration::from_secs(30);

/// One UPDATE waiting for the writer, and where its reply goes.
struct Job {
    message: Vec<u8>,
    client: SocketAddr,
    reply: Box<dyn FnOnce(Vec<u8>) + Send>,
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
    let mut bound = Vec::new();
    for &addr in &args.listen {
        let udp = UdpSocket::bind(addr).with_context(|| format!("cannot listen on {addr} (UDP)"))?;
        let tcp = TcpListener::bind(udp.local_addr()?).with_context(|| format!("cannot listen on {addr} (TCP)"))?;
        bound.push(udp.local_addr()?);
        spawn_udp(udp, jobs.clone(), Arc::clone(&stop))?;
        spawn_tcp(tcp, jobs.clone(), Arc::clone(&stop), args.max_connections)?;
    }
    spawn_local(local, jobs.clone(), Arc::clone(&stop))?;
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
    let now = now();
    let mut outcomes = Vec::with_capacity(jobs.len());
    let committed = (|| -> anyhow::Result<()> {
        let mut parent = store.write_txn()?;
        for job in &jobs {
            let mut nested = store.env().nested_write_txn(&mut parent).map_err(|e| store.error(e))?;
            let outcome = update::process(store, &mut nested, &job.message, job.client.ip(), now);
            if outcome.commit {
                nested.commit().map_err(|e| store.error(e))?;
            }
            outcomes.push(outcome);
        }
        parent.commit().map_err(|e| store.error(e))?;
        Ok(())
    })();
    if let Err(e) = &committed {
        tracing::error!("UPDATE commit failed, {} update(s) answered SERVFAIL: {e:#}", jobs.len());
    }
    for (i, job) in jobs.into_iter().enumerate() {
        let mut reply = outcomes.get(i).map(|o| o.reply.clone()).unwrap_or_default();
        match (&committed, outcomes.get(i)) {
            (Ok(()), Some(o)) => log(o, job.client),
            _ => {
                // Nothing was committed: the reply (signed or not) cannot stand; SERVFAIL.
                if reply.len() >= 4 {
                    reply[3] = (reply[3] & 0xF0) | rcode::SERVFAIL;
                } else if job.message.len() >= 12 {
                    reply = job.message[..12].to_vec();
                    reply[2] |= 0x80;
                    reply[3] = rcode::SERVFAIL;
                    reply[4..12].fill(0);
                }
            }
        }
        (job.reply)(reply);
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

fn spawn_udp(socket: UdpSocket, jobs: Sender<Job>, stop: Arc<AtomicBool>) -> anyhow::Result<()> {
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
            if jobs.try_send(Job { message: buf[..n].to_vec(), client, reply }).is_err() {
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

fn spawn_tcp(listener: TcpListener, jobs: Sender<Job>, stop: Arc<AtomicBool>, max: usize) -> anyhow::Result<()> {
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
                    let (jobs, open) = (jobs.clone(), Arc::clone(&open));
                    let _ = std::thread::Builder::new().name("update-conn".into()).spawn(move || {
                        serve_tcp(stream, client, &jobs);
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

/// Hands `message` to the writer and waits for its reply (None: the writer is gone).
fn submit(jobs: &Sender<Job>, message: Vec<u8>, client: SocketAddr) -> Option<Vec<u8>> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let reply = Box::new(move |reply: Vec<u8>| {
        let _ = tx.send(reply);
    });
    jobs.send(Job { message, client, reply }).ok()?;
    rx.recv().ok()
}

fn serve_tcp(mut stream: TcpStream, client: SocketAddr, jobs: &Sender<Job>) {
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
        let Some(reply) = submit(jobs, message, client) else { return };
        if !reply.is_empty() {
            let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(&reply);
            if stream.write_all(&framed).is_err() {
                return;
            }
        }
    }
}

fn spawn_local(listener: UnixListener, jobs: Sender<Job>, stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    listener.set_nonblocking(true)?;
    std::thread::Builder::new().name("update-local".into()).spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            if !wait_readable(std::os::fd::AsRawFd::as_raw_fd(&listener)) {
                continue;
            }
            match listener.accept() {
                Ok((stream, _)) => {
                    let jobs = jobs.clone();
                    let _ = std::thread::Builder::new().name("update-link".into()).spawn(move || serve_local(stream, &jobs));
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    })?;
    Ok(())
}

/// A connection from lmdns-server: requests carry the client's address; replies in order.
fn serve_local(mut stream: UnixStream, jobs: &Sender<Job>) {
    if stream.set_nonblocking(false).is_err() || stream.set_read_timeout(Some(IDLE)).is_err() {
        return;
    }
    while let Ok(Some((client, message))) = writer_link::read_request(&mut stream) {
        let reply = submit(jobs, message, client).unwrap_or_default();
        if writer_link::write_reply(&mut stream, &reply).is_err() {
            return;
        }
    }
}
