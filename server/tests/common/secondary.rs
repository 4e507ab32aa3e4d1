//! Helpers of the secondary and catalog-consumer tests: the writer (`lmdns-loader serve`) in
//! process or as a process of its own (to be SIGKILLed), loader commands and their JSON, and
//! polling with a deadline.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lmdns_proto::build::MessageBuilder;
use lmdns_proto::wire;

/// Runs an `lmdns-loader` command in process; panics unless it succeeds.
pub fn loader(db: &Path, args: &[&str]) {
    let mut all = vec!["--db", db.to_str().unwrap()];
    all.extend_from_slice(args);
    let code = lmdns_loader::cli::run_args(all.clone()).unwrap_or_else(|e| panic!("lmdns-loader {all:?}: {e:#}"));
    assert_eq!(code, std::process::ExitCode::SUCCESS, "{all:?}");
}

/// The `lmdns-loader` binary next to this test's: `cargo test --workspace` (the README's test
/// command) builds it, with the loader's own tests, before any test runs.
pub fn loader_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().and_then(Path::parent).unwrap().join("lmdns-loader");
    assert!(bin.exists(), "{} is missing: run the tests with `cargo test --workspace`, which builds it", bin.display());
    bin
}

/// Runs an `lmdns-loader` command as a process and parses its stdout as JSON.
pub fn loader_json(db: &Path, args: &[&str]) -> serde_json::Value {
    let out = Command::new(loader_bin()).arg("--db").arg(db).args(args).stdin(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "lmdns-loader {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("lmdns-loader {args:?}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// The `zone list --json` row of `zone` (panics if absent).
pub fn zone_state(db: &Path, zone: &str) -> serde_json::Value {
    let rows = loader_json(db, &["zone", "list", "--json"]);
    rows.as_array().unwrap().iter().find(|r| r["name"] == zone).cloned().unwrap_or_else(|| panic!("no {zone} in {rows}"))
}

/// The `zone list --json` rows.
pub fn zone_rows(db: &Path) -> Vec<serde_json::Value> {
    loader_json(db, &["zone", "list", "--json"]).as_array().unwrap().clone()
}

/// Polls `done` until it holds, or panics after `within` naming `what`.
pub fn wait_until(within: Duration, what: &str, mut done: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    loop {
        if done() {
            return started.elapsed();
        }
        assert!(started.elapsed() < within, "timed out after {within:?} waiting for: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// (rcode, answer RDATAs) for `name` `rtype`, asked over UDP.
pub fn ask(server: SocketAddr, name: &str, rtype: u16) -> (u8, Vec<Vec<u8>>) {
    let mut m = MessageBuilder::new(0x5e, 0);
    m.question(&super::wire(name), rtype, 1).unwrap();
    match super::exchange_udp(server, &m.finish()) {
        Ok(reply) => {
            let parsed = wire::parse(&reply).unwrap();
            (parsed.header.rcode(), parsed.answers.into_iter().filter(|r| r.rtype == rtype).map(|r| r.rdata).collect())
        }
        Err(_) => (255, Vec::new()),
    }
}

/// The writer in this process (`serve` with `args` after it), stopped and joined on drop.
pub struct Writer {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Writer {
    pub fn start(db: &Path, args: &[&str]) -> Writer {
        let mut argv = vec!["lmdns-loader", "--db", db.to_str().unwrap(), "--map-size", "1G", "serve"];
        argv.extend_from_slice(args);
        let cli = <lmdns_loader::cli::Cli as clap::Parser>::try_parse_from(argv).unwrap();
        let lmdns_loader::cli::Command::Serve(serve) = cli.command else { unreachable!() };
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let (db, flag) = (db.to_path_buf(), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let store = lmdb_schema::Store::open(&db, &lmdb_schema::OpenOptions { map_size: 1 << 30, read_only: false }).unwrap();
            lmdns_loader::serve::run_until(&store, &db, serve, flag, |_| tx.send(()).unwrap()).unwrap();
        });
        rx.recv_timeout(Duration::from_secs(10)).expect("the writer started");
        Writer { stop, thread: Some(thread) }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `lmdns-loader serve` as a process of its own, its log in a file; SIGKILLed on drop.
pub struct WriterProcess {
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl WriterProcess {
    pub fn start(db: &Path) -> WriterProcess {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("writer.log");
        let child = Command::new(loader_bin())
            .arg("--db")
            .arg(db)
            .args(["--map-size", "1G", "serve"])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let writer = WriterProcess { child, log, _dir: dir };
        wait_until(Duration::from_secs(20), "the writer's start line", || writer.log().contains("lmdns-loader serve started"));
        writer
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL, and waits for the process to be gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for WriterProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The `/metrics` text of a server started with `--http`.
pub fn metrics_text(http: SocketAddr) -> String {
    http_get(http, "/metrics")
}

/// The whole HTTP response (status line, headers, body) to `GET path`.
pub fn http_get(http: SocketAddr, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(http).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text
}

/// The value of the sample `series` (name and labels as written) in a `/metrics` text.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}
