//! Starting and stopping the server: open the database, bind every socket, run the UDP workers
//! and the TCP event loop until SIGTERM/SIGINT (or a failing thread), then exit cleanly.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use lmdb_schema::{OpenOptions, Store};
use socket2::Socket;

use crate::config::Config;
use crate::engine::{name_key, AnswerConfig, Engine};
use crate::transport::{tcp, udp};

/// Set by the SIGTERM/SIGINT handler (signal-hook's flag: an atomic store, all a signal handler
/// may safely do).
static SIGNALLED: std::sync::LazyLock<std::sync::Arc<AtomicBool>> = std::sync::LazyLock::new(Default::default);

/// When threads must stop: on a signal (`external`, or [`Stop::request`] from the signal
/// thread), or because another thread ended (`internal`), so a failing worker brings the whole
/// process down instead of leaving it half up.
///
/// Hot loops test [`Stop::requested`] (two relaxed loads); threads that sleep wait on
/// [`Stop::wait`] or `select!` on [`Stop::signal`], which a request wakes at once (the channel
/// is closed), rather than polling the flags.
pub struct Stop<'a> {
    external: &'a AtomicBool,
    internal: AtomicBool,
    /// Dropped by [`Stop::request`]: every receiver of `closed` then sees the channel closed.
    closer: std::sync::Mutex<Option<crossbeam_channel::Sender<()>>>,
    closed: crossbeam_channel::Receiver<()>,
}

/// How often a waiter also looks at the external flag by itself (when it is set without a
/// [`Stop::request`]: `run_until` driven by a caller's flag).
const EXTERNAL_CHECK: std::time::Duration = std::time::Duration::from_millis(200);

impl<'a> Stop<'a> {
    pub fn new(external: &'a AtomicBool) -> Self {
        let (closer, closed) = crossbeam_channel::bounded(0);
        Stop { external, internal: AtomicBool::new(false), closer: std::sync::Mutex::new(Some(closer)), closed }
    }

    pub fn requested(&self) -> bool {
        self.internal.load(Ordering::Relaxed) || self.external.load(Ordering::Relaxed)
    }

    pub fn request(&self) {
        self.internal.store(true, Ordering::Relaxed);
        // A poisoned lock still holds the sender: take it either way.
        drop(self.closer.lock().unwrap_or_else(|e| e.into_inner()).take());
    }

    /// A channel that never carries a message and is closed once a stop is requested: for
    /// `select!` beside a thread's own channels.
    pub fn signal(&self) -> &crossbeam_channel::Receiver<()> {
        &self.closed
    }

    /// Sleeps up to `timeout`, or until a stop is requested; true if one was.
    pub fn wait(&self, timeout: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if self.requested() {
                return true;
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            if let Err(crossbeam_channel::RecvTimeoutError::Disconnected) = self.closed.recv_timeout(left.min(EXTERNAL_CHECK)) {
                return true;
            }
        }
    }
}

/// How often reader slots of dead processes are looked for.
const STALE_READER_SWEEP: std::time::Duration = std::time::Duration::from_secs(30);

/// Clears stale reader slots every [`STALE_READER_SWEEP`] until a stop is requested (a process
/// that crashed holding a read transaction would otherwise pin its pages forever).
fn clear_stale_readers_until(store: &Store, stop: &Stop) {
    let mut failed_before = false;
    while !stop.wait(STALE_READER_SWEEP) {
        match store.clear_stale_readers() {
            Ok(0) => failed_before = false,
            Ok(n) => tracing::warn!("cleared {n} stale LMDB reader slot(s) left by processes that died"),
            Err(e) if !failed_before => {
                failed_before = true;
                tracing::warn!("cannot check for stale LMDB reader slots: {e}");
            }
            Err(_) => {}
        }
    }
}

/// Warns when the lock file's reader slots are fewer than two servers of this size need (each
/// worker, the TCP loop, transfer threads and the side threads hold one while reading).
fn check_reader_slots(store: &Store, config: &Config) {
    let needed = config.threads + 1 + config.max_transfers + 8;
    let slots = store.max_readers() as usize;
    if slots < 2 * needed {
        tracing::warn!(
            "the database's lock file has {slots} reader slots; this server uses up to {needed}: a second server or a restart beside \
             a running one may run out (recreate lock.mdb while nothing has the database open to get {} slots)",
            lmdb_schema::store_max_readers()
        );
    }
}

/// Requests a stop when dropped, including while unwinding from a panic.
struct StopOnExit<'s, 'a>(&'s Stop<'a>);

impl Drop for StopOnExit<'_, '_> {
    fn drop(&mut self) {
        self.0.request();
    }
}

/// Lets an error that could repeat for every packet be logged at most once per interval.
pub struct RateLimit {
    last: Option<Instant>,
}

impl RateLimit {
    const INTERVAL: Duration = Duration::from_secs(10);

    pub fn new() -> Self {
        RateLimit { last: None }
    }

    pub fn allow(&mut self) -> bool {
        let now = Instant::now();
        match self.last {
            Some(last) if now.duration_since(last) < Self::INTERVAL => false,
            _ => {
                self.last = Some(now);
                true
            }
        }
    }
}

impl Default for RateLimit {
    fn default() -> Self {
        Self::new()
    }
}

/// Installs the SIGTERM/SIGINT handlers: the first asks every thread to stop, a second one
/// while stopping exits at once (status 1), so a second Ctrl-C ends a server slow to stop.
fn install_signal_handlers() -> anyhow::Result<&'static AtomicBool> {
    let flag: &'static std::sync::Arc<AtomicBool> = &SIGNALLED;
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        // Registered first, so it sees the flag as it was before this signal set it.
        signal_hook::flag::register_conditional_shutdown(sig, 1, std::sync::Arc::clone(flag)).context("cannot install signal handlers")?;
        signal_hook::flag::register(sig, std::sync::Arc::clone(flag)).context("cannot install signal handlers")?;
    }
    Ok(flag)
}

/// Runs the server until SIGTERM or SIGINT.
pub fn run(config: Config) -> anyhow::Result<()> {
    let signalled = install_signal_handlers()?;
    // A thread blocks on these and requests the stop, which wakes every waiting thread at once
    // (the flag above is for the hot loops, and for a second signal).
    let signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT])
        .context("cannot install signal handlers")?;
    crate::ops::querylog::install_sighup()?;
    serve(config, signalled, Some(signals))
}

/// Runs the server until `shutdown` becomes true (what [`run`] does with the signal flag; tests or
/// embedders can pass their own).
pub fn run_until(config: Config, shutdown: &AtomicBool) -> anyhow::Result<()> {
    serve(config, shutdown, None)
}

fn serve(config: Config, shutdown: &AtomicBool, signals: Option<signal_hook::iterator::Signals>) -> anyhow::Result<()> {
    // Refuse root / resolve --user before opening anything; privileges drop once all is bound.
    let drop_to = crate::ops::privdrop::plan(&config)?;
    let store = Store::open(&config.db, &OpenOptions { map_size: config.map_size, read_only: true })
        .with_context(|| format!("cannot open the database {}", config.db.display()))?;
    // Reader slots of processes that died holding them keep old pages alive (the file grows).
    match store.clear_stale_readers() {
        Ok(0) => {}
        Ok(n) => tracing::warn!("cleared {n} stale LMDB reader slot(s) left by processes that died"),
        Err(e) => tracing::warn!("cannot check for stale LMDB reader slots: {e}"),
    }
    check_reader_slots(&store, &config);
    let zones = {
        let txn = store.read_txn().context("cannot read the database")?;
        store.zones.len(&txn).context("cannot count the zones")?
    };
    let engine = Engine::new(
        store,
        AnswerConfig {
            max_udp_size: config.max_udp_size,
            ecs: config.ecs,
            whoami_keys: config
                .whoami
                .iter()
                .map(|n| name_key(n).with_context(|| format!("whoami name {n}")))
                .collect::<anyhow::Result<_>>()?,
            whoami_table: config.whoami_table.clone(),
            lookup_zone_key: config.lookup_zone.as_deref().map(|n| name_key(n).with_context(|| format!("lookup zone {n}"))).transpose()?,
            lookup_table: config.lookup_table.clone(),
            answer_cache_slots: config.answer_cache_size,
            name_cache_slots: config.name_cache_size.unwrap_or_else(|| crate::engine::auto_name_cache_slots(zones)),
            name_cache_auto: config.name_cache_size.is_none(),
            allow_query: config.allow_query.clone(),
            allow_transfer: config.allow_transfer.clone(),
            catalogs: config
                .catalog
                .iter()
                .map(|c| crate::answer::catalog::Catalog::new(&c.name, c.group.clone()).with_context(|| format!("catalog {c}")))
                .collect::<anyhow::Result<_>>()?,
            any_to_tcp: config.any_to_tcp,
            cookie_secret: match &config.cookie_secret {
                Some(hex) => Some(crate::answer::cookie::CookieSecret::from_hex(hex).map_err(anyhow::Error::msg).context("cookie_secret")?),
                None => Some(crate::answer::cookie::CookieSecret::random().context("cannot read /dev/urandom for the cookie secret")?),
            },
            chaos: crate::answer::chaos::ChaosTexts::new(config.identity.as_deref(), config.server_version.as_deref()),
            nsid: config.nsid.as_deref().map(crate::config::nsid_bytes).transpose()?,
        },
    );
    let rrl = crate::ops::rrl::from_config(&config);

    let bound = bind_all(&config)?;
    raise_fd_limit(config.tcp_max_connections + bound.fds() + 64);
    let listen = bound.addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(",");
    let Bound { udp: udp_sockets, tcp: listeners, .. } = bound;
    let http_listener = config.http.map(crate::transport::http::bind).transpose()?;
    if let Some(target) = &drop_to {
        crate::ops::privdrop::apply(target)?;
    }
    // Query log and counters (see querylog.rs, metrics.rs): one queue and one slot per UDP
    // worker, plus the TCP thread's (the last).
    let (query_log, mut log_queues) = match &config.query_log {
        Some(path) => {
            let (log, queues) = crate::ops::querylog::QueryLog::open(path, config.chroot.as_deref(), config.threads + 1)?;
            (Some(log), queues.into_iter().map(Some).collect())
        }
        None => (None, (0..=config.threads).map(|_| None).collect::<Vec<_>>()),
    };
    let (dnstap, mut tap_queues) = match &config.dnstap {
        Some(target) => {
            let (writer, queues) = crate::ops::dnstap::DnstapWriter::open(target, config.identity.as_deref(), config.threads + 1)?;
            tracing::info!("dnstap to {target}");
            (Some(writer), queues.into_iter().map(Some).collect())
        }
        None => (None, (0..=config.threads).map(|_| None).collect::<Vec<_>>()),
    };
    let mut metrics = crate::ops::metrics::Metrics::new(config.threads, query_log.as_ref().map(|l| l.stats()));
    if let Some(writer) = &dnstap {
        metrics.set_dnstap(writer.stats());
    }
    if let Some(rrl) = &rrl {
        metrics.set_rrl(rrl.stats_handle());
    }

    // With --pin, worker i runs on the i-th CPU the process is allowed (core i when unrestricted;
    // under `taskset -c 2,3` worker 0 gets core 2). More workers than CPUs wrap around.
    let cpus = if config.pin { udp::allowed_cpus() } else { Vec::new() };
    if config.pin && cpus.is_empty() {
        tracing::warn!("--pin: cannot read the CPU affinity mask; workers are not pinned");
    } else if config.pin && config.threads > cpus.len() {
        tracing::warn!("--pin: {} workers on {} allowed CPUs; some share a core", config.threads, cpus.len());
    }
    let stop = Stop::new(shutdown);
    let (update_queue, updates) = crate::transport::update::queue();
    let result = std::thread::scope(|scope| -> anyhow::Result<()> {
        let mut handles = Vec::new();
        for i in 0..crate::transport::update::RELAY_THREADS {
            let (stop, updates, db) = (&stop, updates.clone(), config.db.clone());
            let handle = std::thread::Builder::new().name(format!("update-{i}")).spawn_scoped(scope, move || {
                let _guard = StopOnExit(stop);
                crate::transport::update::relay(db, updates, stop);
                Ok(())
            });
            match handle {
                Ok(h) => handles.push(h),
                Err(e) => {
                    stop.request();
                    return Err(e).context("cannot start an UPDATE relay thread");
                }
            }
        }
        for (i, sockets) in udp_sockets.into_iter().enumerate() {
            let (engine, stop, rrl, update_queue) = (&engine, &stop, &rrl, update_queue.clone());
            let cpu = (!cpus.is_empty()).then(|| cpus[i % cpus.len()]);
            let recorder = metrics.recorder(i, log_queues[i].take(), tap_queues[i].take());
            let handle = std::thread::Builder::new()
                .name(format!("udp-{i}"))
                .spawn_scoped(scope, move || {
                    let _guard = StopOnExit(stop);
                    if let Some(cpu) = cpu {
                        // Before the worker allocates its buffers, so they land on its node.
                        udp::pin_current_thread(cpu).with_context(|| format!("cannot pin worker {i} to CPU {cpu}"))?;
                        tracing::debug!(worker = i, cpu, "pinned UDP worker");
                    }
                    udp::Worker::new(engine, sockets, config.batch_size, recorder)
                        .with_rrl(rrl.as_ref())
                        .with_updates(update_queue)
                        .context("cannot share the UDP sockets with the UPDATE relay")?
                        .run(stop)
                })
                .context("cannot start a UDP worker thread");
            match handle {
                Ok(h) => handles.push(h),
                Err(e) => {
                    stop.request();
                    return Err(e);
                }
            }
        }
        let (handoffs, transfer_queue) = crate::transport::xfr::queue(config.max_transfers);
        // With --pin and cores to spare, transfers run on the cores no UDP worker has, so a big
        // AXFR does not take CPU time or cache from the workers.
        let spare: Vec<usize> = if config.pin && cpus.len() > config.threads { cpus[config.threads..].to_vec() } else { Vec::new() };
        for i in 0..config.max_transfers {
            let (engine, stop, queue, stats) = (&engine, &stop, transfer_queue.clone(), metrics.replication());
            let idle = config.tcp_idle_timeout;
            let (spare, db) = (spare.clone(), config.db.as_path());
            let handle = std::thread::Builder::new().name(format!("xfr-{i}")).spawn_scoped(scope, move || {
                let _guard = StopOnExit(stop);
                if !spare.is_empty() {
                    if let Err(e) = udp::pin_current_thread_to(&spare) {
                        tracing::warn!("cannot keep transfer thread {i} off the workers' CPUs: {e}");
                    }
                }
                crate::transport::xfr::serve(engine, db, queue, idle, stats, stop);
                Ok(())
            });
            match handle {
                Ok(h) => handles.push(h),
                Err(e) => {
                    stop.request();
                    return Err(e).context("cannot start a transfer thread");
                }
            }
        }
        let tcp_options = tcp::TcpOptions {
            idle_timeout: config.tcp_idle_timeout,
            max_connections: config.tcp_max_connections,
            message_timeout: config.tcp_message_timeout,
            max_per_source: config.tcp_max_per_source,
        };
        let (engine_ref, stop_ref) = (&engine, &stop);
        let tcp_recorder = metrics.recorder(metrics.tcp_slot(), log_queues[config.threads].take(), tap_queues[config.threads].take());
        let tcp_handle = std::thread::Builder::new().name("tcp".into()).spawn_scoped(scope, move || {
            let _guard = StopOnExit(stop_ref);
            tcp::serve(engine_ref, listeners, tcp_options, stop_ref, tcp_recorder, handoffs)
        });
        match tcp_handle {
            Ok(h) => handles.push(h),
            Err(e) => {
                stop.request();
                return Err(e).context("cannot start the TCP thread");
            }
        }
        {
            let notify_config = crate::notify::NotifyConfig { targets: config.notify.clone(), catalogs: engine.config().catalogs.clone() };
            let (store, stop_ref, stats) = (engine.store(), &stop, metrics.replication());
            let handle = std::thread::Builder::new().name("notify".into()).spawn_scoped(scope, move || {
                let _guard = StopOnExit(stop_ref);
                crate::notify::run(store, &notify_config, stats, stop_ref)
            });
            match handle {
                Ok(h) => handles.push(h),
                Err(e) => {
                    stop.request();
                    return Err(e).context("cannot start the NOTIFY thread");
                }
            }
        }
        {
            let (store, stop_ref) = (engine.store(), &stop);
            let handle = std::thread::Builder::new().name("db-readers".into()).spawn_scoped(scope, move || {
                let _guard = StopOnExit(stop_ref);
                clear_stale_readers_until(store, stop_ref);
                Ok(())
            });
            match handle {
                Ok(h) => handles.push(h),
                Err(e) => {
                    stop.request();
                    return Err(e).context("cannot start the reader-slot thread");
                }
            }
        }
        if let Some(listener) = http_listener {
            let (store, stop_ref, metrics) = (engine.store(), &stop, &metrics);
            let http_handle = std::thread::Builder::new().name("http".into()).spawn_scoped(scope, move || {
                let _guard = StopOnExit(stop_ref);
                crate::transport::http::serve(store, listener, stop_ref, Some(metrics))
            });
            match http_handle {
                Ok(h) => handles.push(h),
                Err(e) => {
                    stop.request();
                    return Err(e).context("cannot start the HTTP thread");
                }
            }
        }
        if let Some(writer) = dnstap {
            let stop_ref = &stop;
            let handle = std::thread::Builder::new().name("dnstap".into()).spawn_scoped(scope, move || {
                let _guard = StopOnExit(stop_ref);
                writer.run(stop_ref)
            });
            match handle {
                Ok(h) => handles.push(h),
                Err(e) => {
                    stop.request();
                    return Err(e).context("cannot start the dnstap thread");
                }
            }
        }
        if let Some(log) = query_log {
            let stop_ref = &stop;
            let log_handle = std::thread::Builder::new().name("querylog".into()).spawn_scoped(scope, move || {
                let _guard = StopOnExit(stop_ref);
                log.run(stop_ref)
            });
            // A logger blocked on a pipe nobody reads must not keep the process from exiting:
            // once stopping, its writes give up after the grace the logger itself allows.
            let watch = std::thread::Builder::new().name("querylog-stop".into()).spawn_scoped(scope, move || {
                while !stop_ref.wait(std::time::Duration::from_secs(3600)) {}
                crate::ops::querylog::give_up_blocked_output_after(crate::ops::querylog::STOP_GRACE);
                Ok(())
            });
            if let Ok(h) = watch {
                handles.push(h);
            }
            match log_handle {
                Ok(h) => handles.push(h),
                Err(e) => {
                    stop.request();
                    return Err(e).context("cannot start the query log thread");
                }
            }
        }

        tracing::info!(
            listen = %listen,
            workers = config.threads,
            pinned = config.pin,
            db = %config.db.display(),
            zones,
            name_cache_slots = engine.config().name_cache_slots,
            "lmdns-server started"
        );

        // The first SIGTERM/SIGINT requests the stop; the thread ends with the others (its
        // iterator is closed once they have).
        let signal_thread = match signals {
            Some(mut signals) => {
                let (closer, stop_ref) = (signals.handle(), &stop);
                let thread = std::thread::Builder::new().name("signals".into()).spawn_scoped(scope, move || {
                    if signals.forever().next().is_some() {
                        stop_ref.request();
                    }
                });
                match thread {
                    Ok(t) => Some((closer, t)),
                    Err(e) => {
                        stop.request();
                        return Err(e).context("cannot start the signal thread");
                    }
                }
            }
            None => None,
        };

        let mut first_error = None;
        for h in handles {
            let name = h.thread().name().unwrap_or("worker").to_string();
            let outcome = match h.join() {
                Ok(r) => r.with_context(|| format!("thread {name} failed")),
                Err(_) => Err(anyhow::anyhow!("thread {name} panicked")),
            };
            if let Err(e) = outcome {
                first_error.get_or_insert(e);
            }
        }
        if let Some((closer, thread)) = signal_thread {
            closer.close();
            let _ = thread.join();
        }
        first_error.map_or(Ok(()), Err)
    });
    if result.is_ok() {
        tracing::info!("lmdns-server stopped");
    }
    result
}

/// Every socket the server serves on, bound before any thread starts so that bind errors are
/// reported up front and the start log line is only written once the ports answer.
struct Bound {
    /// The effective addresses (port 0 resolved).
    addrs: Vec<SocketAddr>,
    /// Per worker, one UDP socket per address.
    udp: Vec<Vec<Socket>>,
    tcp: Vec<TcpListener>,
}

impl Bound {
    fn fds(&self) -> usize {
        self.udp.iter().map(Vec::len).sum::<usize>() + self.tcp.len()
    }
}

fn bind_all(config: &Config) -> anyhow::Result<Bound> {
    let mut bound = Bound { addrs: Vec::new(), udp: (0..config.threads).map(|_| Vec::new()).collect(), tcp: Vec::new() };
    for &requested in &config.listen {
        match bind_address(requested, config.threads, config.udp_fragments) {
            Ok((addr, udp, tcp)) => {
                bound.addrs.push(addr);
                for (worker, socket) in bound.udp.iter_mut().zip(udp) {
                    worker.push(socket);
                }
                bound.tcp.push(tcp);
            }
            Err(e) if !config.listen_explicit && address_unavailable(&e) => {
                tracing::warn!("not listening on default address {requested}: {e}");
            }
            Err(e) => return Err(e).with_context(|| format!("cannot listen on {requested}")),
        }
    }
    if bound.addrs.is_empty() {
        bail!("none of the listen addresses could be bound");
    }
    Ok(bound)
}

/// Binds one address for UDP (once per worker) and TCP. With port 0 the first socket picks the
/// port and the others reuse it; the kernel picks a port free for UDP, which TCP may hold, so
/// port 0 tries again (bounded) until both protocols get the same port.
fn bind_address(requested: SocketAddr, threads: usize, fragments: bool) -> io::Result<(SocketAddr, Vec<Socket>, TcpListener)> {
    const PORT_ZERO_ATTEMPTS: usize = 32;
    let attempts = if requested.port() == 0 { PORT_ZERO_ATTEMPTS } else { 1 };
    let mut last = None;
    for _ in 0..attempts {
        match bind_address_once(requested, threads, fragments) {
            Err(e) if requested.port() == 0 && e.kind() == io::ErrorKind::AddrInUse => last = Some(e),
            result => return result,
        }
    }
    Err(last.expect("at least one attempt"))
}

fn bind_address_once(requested: SocketAddr, threads: usize, fragments: bool) -> io::Result<(SocketAddr, Vec<Socket>, TcpListener)> {
    let first = udp::bind_socket(requested, fragments)?;
    let addr = first.local_addr()?.as_socket().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not an IP socket"))?;
    let mut sockets = vec![first];
    for _ in 1..threads {
        sockets.push(udp::bind_socket(addr, fragments)?);
    }
    let listener = tcp::bind_listener(addr)?;
    Ok((addr, sockets, listener))
}

/// The host lacks this address or its address family (e.g. IPv6 disabled).
fn address_unavailable(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EADDRNOTAVAIL | libc::EAFNOSUPPORT | libc::EPROTONOSUPPORT))
}

/// Raises the soft open-file limit toward the hard one when the TCP cap needs more descriptors;
/// warns when it cannot, as accepts would then fail before the cap is reached.
fn raise_fd_limit(needed: usize) {
    // SAFETY: getrlimit/setrlimit on a local struct.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return;
        }
        let needed = needed as libc::rlim_t;
        if lim.rlim_cur >= needed {
            return;
        }
        let target = needed.min(lim.rlim_max);
        let new = libc::rlimit { rlim_cur: target, rlim_max: lim.rlim_max };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &new) != 0 || target < needed {
            tracing::warn!(
                "open-file limit {} is below the {} descriptors tcp_max_connections may need; raise `ulimit -n` or lower tcp_max_connections",
                target.max(lim.rlim_cur),
                needed
            );
        }
    }
}
