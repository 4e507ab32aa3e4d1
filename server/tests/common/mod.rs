//! Shared helpers for the server's integration tests: start reference servers (Knot DNS, NSD)
//! and lmdns on free loopback ports, each in its own temporary directory with a generated
//! config; send queries over UDP and TCP; reduce responses to a comparable form. Also the
//! helpers of the other test files: wire-format names, records and test databases, DNS query
//! building, and [`LmdnsCommand`] / [`LmdnsProcess`], the `lmdns-server` binary run with its
//! stderr captured and its addresses read from its log.
//!
//! Every wait and every retry here is bounded; every conformance child process is started in its
//! own process group and ended (SIGTERM, then SIGKILL) when its [`Server`] is dropped; an
//! [`LmdnsProcess`] is killed when dropped.
#![allow(dead_code)]

// Not every test file uses every helper.
#[allow(unused_imports)]
pub use lmdns_testkit::{find_tool, free_port, peers, require_tool, wire};

pub mod secondary;
pub mod tcp;

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsOption};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use lmdb_schema::{OpenOptions, Store};
use lmdns_loader::zones::{self, Rr, ZoneTree};

/// How long one query waits for its answer before it is retried or given up.
pub const QUERY_TIMEOUT: Duration = Duration::from_millis(1500);
/// How many times a UDP query is sent before giving up.
pub const UDP_TRIES: usize = 3;
/// How long a server may take to answer the SOA of every zone after it was spawned.
pub const STARTUP_DEADLINE: Duration = Duration::from_secs(30);
/// EDNS payload size advertised by the `Edns`, `Case` and `Tcp` query forms.
pub const EDNS_PAYLOAD: u16 = 1232;

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// The workspace root (parent of `server/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("server/ has a parent").to_path_buf()
}

/// `fixtures/zones`: one zone per file, named `<zone>.zone`.
pub fn zones_dir() -> PathBuf {
    workspace_root().join("fixtures").join("zones")
}

/// `fixtures/conformance`.
pub fn conformance_dir() -> PathBuf {
    workspace_root().join("fixtures").join("conformance")
}

/// The zone names (without trailing dot) of every `<zone>.zone` file in `dir`, sorted.
pub fn zone_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read zones dir {}: {e}", dir.display()))
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".zone").map(|zone| zone.to_string())
        })
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no *.zone files in {}", dir.display());
    names
}

/// One line of `queries.txt`: `qname qtype`.
#[derive(Clone, Debug)]
pub struct TestQuery {
    pub line: usize,
    pub name: String,
    pub qtype: RecordType,
}

impl fmt::Display for TestQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name, self.qtype)
    }
}

/// Parse a queries file: one `qname qtype` per line; `#` starts a comment; blank lines skipped.
pub fn load_queries(path: &Path) -> Vec<TestQuery> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut parts = line.split_whitespace();
        let (Some(name), Some(qtype), None) = (parts.next(), parts.next(), parts.next()) else {
            panic!("{}:{}: expected `qname qtype`, got {raw:?}", path.display(), i + 1);
        };
        let qtype = RecordType::from_str(&qtype.to_ascii_uppercase())
            .unwrap_or_else(|e| panic!("{}:{}: bad qtype {qtype:?}: {e}", path.display(), i + 1));
        let name = if name.ends_with('.') { name.to_string() } else { format!("{name}.") };
        out.push(TestQuery { line: i + 1, name, qtype });
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------

/// Arguments every test passes to `lmdns-server` besides its own.
pub const SERVER_EXTRA_ARGS: &[&str] = &["--allow-root"]; // CI runs as root; harmless otherwise

/// A running DNS server (reference or lmdns), ended on drop.
pub struct Server {
    pub name: &'static str,
    pub addr: SocketAddr,
    child: Child,
    /// Where its stdout/stderr (and any log file) go.
    pub log: PathBuf,
    /// Keeps the temporary directory (config, database, logs) alive as long as the server.
    _dir: tempfile::TempDir,
}

impl Server {
    /// The last `lines` lines of the server's log, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_else(|e| format!("(no log: {e})"));
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The whole log.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Wait until the server answers the SOA of every zone authoritatively (bounded).
    fn wait_ready(&mut self, zones: &[String]) {
        let deadline = Instant::now() + STARTUP_DEADLINE;
        for zone in zones {
            let q = TestQuery { line: 0, name: format!("{zone}."), qtype: RecordType::SOA };
            loop {
                if let Some(status) = self.exited() {
                    panic!("{} exited ({status}) before answering; log {}:\n{}", self.name, self.log.display(), self.log_tail(40));
                }
                let ok = ask(self.addr, &q, Form::Udp)
                    .ok()
                    .and_then(|r| normalize(&r.bytes).ok())
                    .is_some_and(|n| n.rcode == "NoError" && n.aa && !n.answer.is_empty());
                if ok {
                    break;
                }
                if Instant::now() > deadline {
                    panic!(
                        "{} did not answer `{zone} SOA` within {:?}; log {}:\n{}",
                        self.name,
                        STARTUP_DEADLINE,
                        self.log.display(),
                        self.log_tail(40)
                    );
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Each server runs in its own process group (pgid = its pid), so this reaches the
        // children NSD forks, and nothing else.
        let pgid = self.child.id() as libc::pid_t;
        unsafe { libc::kill(-pgid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.exited().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

fn spawn(name: &'static str, mut cmd: Command, dir: tempfile::TempDir, log: PathBuf, addr: SocketAddr, zones: &[String]) -> Server {
    let out = fs::File::create(&log).expect("create log file");
    let err = out.try_clone().expect("clone log file");
    cmd.stdin(Stdio::null()).stdout(out).stderr(err).process_group(0);
    let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
    let mut server = Server { name, addr, child, log, _dir: dir };
    server.wait_ready(zones);
    server
}

/// Start Knot DNS (3.2 config syntax) in the foreground on a free loopback port, serving every
/// zone file of `zones_dir`.
pub fn start_knot(zones_dir: &Path) -> Server {
    start_knot_with(zones_dir, "")
}

/// [`start_knot`] with `server_lines` (indented `key: value` lines) added to its `server:`
/// section, e.g. identity, version and nsid.
pub fn start_knot_with(zones_dir: &Path, server_lines: &str) -> Server {
    let knotd = require_tool("knotd", "knot");
    let dir = tempfile::Builder::new().prefix("lmdns-knot-").tempdir().expect("tempdir");
    let port = free_port();
    let zones = zone_names(zones_dir);
    let d = dir.path();
    fs::create_dir_all(d.join("db")).expect("create knot db dir");
    let mut conf = format!(
        r#"server:
    rundir: "{run}"
    listen: 127.0.0.1@{port}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
{server_lines}database:
    storage: "{db}"
log:
  - target: stderr
    any: info
control:
    listen: "{sock}"
template:
  - id: default
    storage: "{zonesdir}"
    semantic-checks: off
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
zone:
"#,
        run = d.display(),
        db = d.join("db").display(),
        sock = d.join("knot.sock").display(),
        zonesdir = zones_dir.display(),
    );
    for zone in &zones {
        conf.push_str(&format!("  - domain: \"{zone}.\"\n    file: \"{zone}.zone\"\n"));
    }
    let conf_path = d.join("knot.conf");
    fs::write(&conf_path, conf).expect("write knot.conf");
    let mut cmd = Command::new(knotd);
    cmd.arg("-c").arg(&conf_path);
    let log = d.join("knot.log");
    spawn("knot", cmd, dir, log, ([127, 0, 0, 1], port).into(), &zones)
}

/// Start NSD (4.6 config syntax) with `-d` (foreground) on a free loopback port.
pub fn start_nsd(zones_dir: &Path) -> Server {
    let nsd = require_tool("nsd", "nsd");
    let dir = tempfile::Builder::new().prefix("lmdns-nsd-").tempdir().expect("tempdir");
    let port = free_port();
    let zones = zone_names(zones_dir);
    let d = dir.path();
    let mut conf = format!(
        r#"server:
    ip-address: 127.0.0.1
    port: {port}
    do-ip6: no
    zonesdir: "{zonesdir}"
    pidfile: "{pid}"
    database: ""
    zonelistfile: "{zonelist}"
    xfrdfile: "{xfrdfile}"
    xfrdir: "{xfrdir}"
    username: ""
    chroot: ""
    server-count: 1
    verbosity: 1
    rrl-ratelimit: 0
    zonefiles-write: 0
remote-control:
    control-enable: no
"#,
        zonesdir = zones_dir.display(),
        pid = d.join("nsd.pid").display(),
        zonelist = d.join("zone.list").display(),
        xfrdfile = d.join("xfrd.state").display(),
        xfrdir = d.display(),
    );
    for zone in &zones {
        conf.push_str(&format!("zone:\n    name: \"{zone}\"\n    zonefile: \"{zone}.zone\"\n"));
    }
    let conf_path = d.join("nsd.conf");
    fs::write(&conf_path, conf).expect("write nsd.conf");
    let mut cmd = Command::new(nsd);
    cmd.arg("-d").arg("-c").arg(&conf_path);
    let log = d.join("nsd.log");
    spawn("nsd", cmd, dir, log, ([127, 0, 0, 1], port).into(), &zones)
}

/// Build an lmdns database from `zones_dir` with the loader (in-process), then start
/// `lmdns-server` on it on a free loopback port.
pub fn start_lmdns(zones_dir: &Path) -> Server {
    let dir = tempfile::Builder::new().prefix("lmdns-server-").tempdir().expect("tempdir");
    let zones = zone_names(zones_dir);
    let db = dir.path().join("db");
    fs::create_dir_all(&db).expect("create db dir");
    let args: Vec<OsString> = vec!["--db".into(), db.clone().into(), "zone".into(), "import-dir".into(), zones_dir.into()];
    let code = lmdns_loader::cli::run_args(args.clone()).unwrap_or_else(|e| panic!("lmdns-loader {args:?} failed: {e:#}"));
    assert_eq!(code, std::process::ExitCode::SUCCESS, "lmdns-loader {args:?} exited unsuccessfully");
    let port = free_port();
    let mut cmd = Command::new(LMDNS_BIN);
    cmd.arg("--db").arg(&db).arg("--listen").arg(format!("127.0.0.1:{port}")).arg("--threads").arg("1");
    cmd.args(SERVER_EXTRA_ARGS);
    let log = dir.path().join("lmdns-server.log");
    spawn("lmdns", cmd, dir, log, ([127, 0, 0, 1], port).into(), &zones)
}

// ---------------------------------------------------------------------------------------------
// lmdns-server processes with a captured log
// ---------------------------------------------------------------------------------------------

/// The `lmdns-server` binary under test.
pub const LMDNS_BIN: &str = env!("CARGO_BIN_EXE_lmdns-server");
/// How long [`LmdnsCommand::start`] waits for the start line, per attempt.
pub const LMDNS_START_TIMEOUT: Duration = Duration::from_secs(20);
/// The log line the server writes once it serves; it carries `listen=ADDR[,ADDR…]`.
pub const START_LINE: &str = "lmdns-server started";
/// The log line of `--http`, followed by the bound address.
pub const HTTP_LINE: &str = "http listening on ";
/// How long a reader thread may take to see EOF on the output of a child that has exited.
const READER_DRAIN: Duration = Duration::from_secs(2);

/// A database directory that lives as long as this value (`path` is `dir/db`).
pub struct TestDb {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl TestDb {
    /// An empty but valid database (what the loader creates before any zone).
    pub fn empty(map_size: usize) -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        Store::open(&path, &OpenOptions { map_size, read_only: false }).unwrap();
        TestDb { dir, path }
    }
}

/// How to run `lmdns-server`: `--db DB ARGS… SERVER_EXTRA_ARGS…`, `RUST_LOG=info`, stdin and
/// (unless [`capture_stdout`](Self::capture_stdout)) stdout null, stderr captured.
pub struct LmdnsCommand {
    db: PathBuf,
    owned_db: Option<TestDb>,
    args: Vec<OsString>,
    extra_args: bool,
    attempts: usize,
    capture_stdout: bool,
}

impl LmdnsCommand {
    /// On the database at `db`, which the caller keeps alive.
    pub fn new(db: &Path) -> LmdnsCommand {
        LmdnsCommand { db: db.to_path_buf(), owned_db: None, args: Vec::new(), extra_args: true, attempts: 1, capture_stdout: false }
    }

    /// On `db`, which the process then owns (see [`LmdnsProcess::db`]) and outlives.
    pub fn owning(db: TestDb) -> LmdnsCommand {
        let mut cmd = LmdnsCommand::new(&db.path);
        cmd.owned_db = Some(db);
        cmd
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(mut self, args: I) -> LmdnsCommand {
        self.args.extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    /// Leaves out [`SERVER_EXTRA_ARGS`]: only for tests of what the server does without them.
    pub fn without_extra_args(mut self) -> LmdnsCommand {
        self.extra_args = false;
        self
    }

    /// Up to `n` starts when the server exits before its start line (port 0 may pick a UDP port
    /// whose TCP twin is taken).
    pub fn attempts(mut self, n: usize) -> LmdnsCommand {
        assert!(n >= 1);
        self.attempts = n;
        self
    }

    /// Keeps the server's stdout, for [`LmdnsProcess::stdout`].
    pub fn capture_stdout(mut self) -> LmdnsCommand {
        self.capture_stdout = true;
        self
    }

    /// Spawns the server without waiting for anything; `addrs` stays empty and `http` None.
    pub fn spawn(mut self) -> LmdnsProcess {
        let mut process = self.spawn_once();
        process.owned_db = self.owned_db.take();
        process
    }

    /// Spawns the server and waits (bounded) for its start line; reads the `listen=` addresses
    /// from it and the `--http` address from its log. Panics with the tail of the log if the
    /// server exits first (after the last attempt) or does not start in time.
    pub fn start(mut self) -> LmdnsProcess {
        let mut last = String::new();
        for attempt in 1..=self.attempts {
            let mut process = self.spawn_once();
            let deadline = Instant::now() + LMDNS_START_TIMEOUT;
            loop {
                let text = process.log();
                if let Some(line) = text.lines().find(|l| l.contains(START_LINE)) {
                    process.addrs = parse_listen(line);
                    process.http = text.lines().find_map(|l| l.split(HTTP_LINE).nth(1)).map(|rest| {
                        let addr = rest.split_whitespace().next().unwrap_or_default();
                        addr.parse().unwrap_or_else(|e| panic!("bad http address {addr:?}: {e}"))
                    });
                    process.owned_db = self.owned_db.take();
                    return process;
                }
                if let Some(status) = process.child.try_wait().unwrap() {
                    process.drain_stderr();
                    last = format!("attempt {attempt}/{}: exited with {status}; log:\n{}", self.attempts, process.log_tail(40));
                    break;
                }
                if Instant::now() > deadline {
                    panic!("lmdns-server did not start within {LMDNS_START_TIMEOUT:?}; log:\n{}", process.log_tail(40));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("lmdns-server failed to start: {last}");
    }

    fn spawn_once(&mut self) -> LmdnsProcess {
        let mut cmd = Command::new(LMDNS_BIN);
        cmd.arg("--db").arg(&self.db).args(&self.args);
        if self.extra_args {
            cmd.args(SERVER_EXTRA_ARGS);
        }
        cmd.env("RUST_LOG", "info").stdin(Stdio::null()).stderr(Stdio::piped());
        cmd.stdout(if self.capture_stdout { Stdio::piped() } else { Stdio::null() });
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn lmdns-server ({cmd:?}): {e}"));
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr_reader = Some(read_to_buffer(child.stderr.take().unwrap(), log.clone()));
        let stdout = child.stdout.take().map(|out| {
            let buf = Arc::new(Mutex::new(Vec::new()));
            (buf.clone(), Some(read_to_buffer(out, buf)))
        });
        LmdnsProcess { child, log, stderr_reader, stdout, addrs: Vec::new(), http: None, owned_db: None }
    }
}

/// Output of a child process, filled by a reader thread.
type Captured = Arc<Mutex<Vec<u8>>>;

/// Copies `from` into `into` until EOF, on its own thread.
fn read_to_buffer(mut from: impl Read + Send + 'static, into: Captured) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            into.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    })
}

/// Waits (bounded) for a reader thread to reach EOF.
fn drain(reader: &mut Option<JoinHandle<()>>) {
    let Some(handle) = reader.take() else { return };
    let deadline = Instant::now() + READER_DRAIN;
    while !handle.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    if handle.is_finished() {
        handle.join().expect("output reader");
    } else {
        *reader = Some(handle);
    }
}

/// Runs `lmdns-server ARGS… SERVER_EXTRA_ARGS…` to completion (RUST_LOG unset, stdin null).
pub fn run_lmdns(args: &[&str]) -> Output {
    run_lmdns_without_extra_args(&[args, SERVER_EXTRA_ARGS].concat())
}

/// [`run_lmdns`] without [`SERVER_EXTRA_ARGS`]: only for tests of what the server does without them.
pub fn run_lmdns_without_extra_args(args: &[&str]) -> Output {
    Command::new(LMDNS_BIN).args(args).env_remove("RUST_LOG").stdin(Stdio::null()).output().unwrap()
}

/// The `listen=a,b` field of the start line.
pub fn parse_listen(line: &str) -> Vec<SocketAddr> {
    let field = line.split_whitespace().find_map(|w| w.strip_prefix("listen=")).unwrap_or_else(|| panic!("no listen= in {line}"));
    field.split(',').map(|a| a.parse().unwrap_or_else(|e| panic!("bad address {a} in {line}: {e}"))).collect()
}

/// A running `lmdns-server`, killed (SIGKILL) when dropped.
pub struct LmdnsProcess {
    child: Child,
    log: Captured,
    stderr_reader: Option<JoinHandle<()>>,
    stdout: Option<(Captured, Option<JoinHandle<()>>)>,
    /// The `listen=` addresses of the start line (empty if not waited for).
    pub addrs: Vec<SocketAddr>,
    /// The address of the `http listening on` line, if there was one by the start line.
    pub http: Option<SocketAddr>,
    owned_db: Option<TestDb>,
}

impl LmdnsProcess {
    /// The first `listen=` address.
    pub fn addr(&self) -> SocketAddr {
        *self.addrs.first().expect("started, with a listen= address")
    }

    /// The `--http` address.
    pub fn http(&self) -> SocketAddr {
        self.http.unwrap_or_else(|| panic!("no `{HTTP_LINE}` line by the start line (started with --http?): {}", self.log()))
    }

    /// The database given with [`LmdnsCommand::owning`].
    pub fn db(&self) -> &TestDb {
        self.owned_db.as_ref().expect("started with LmdnsCommand::owning")
    }

    pub fn pid(&self) -> libc::pid_t {
        self.child.id() as libc::pid_t
    }

    /// All of stderr so far.
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&self.log.lock().unwrap()).into_owned()
    }

    /// The last `lines` lines of stderr, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = self.log();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Sends `sig` to the server.
    pub fn signal(&self, sig: libc::c_int) {
        // SAFETY: plain kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(self.pid(), sig) }, 0);
    }

    /// Waits (bounded) for the server to exit, then for the rest of its output.
    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.drain_stderr();
                if let Some((_, reader)) = &mut self.stdout {
                    drain(reader);
                }
                return status;
            }
            assert!(Instant::now() < deadline, "server did not exit within {within:?}; log: {}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then waits (bounded) for exit status 0.
    pub fn stop(mut self, within: Duration) {
        self.signal(libc::SIGTERM);
        let status = self.wait_exit(within);
        assert!(status.success(), "{status}: {}", self.log());
    }

    /// All of stdout so far ([`LmdnsCommand::capture_stdout`]; complete after [`wait_exit`](Self::wait_exit)).
    pub fn stdout(&self) -> String {
        let (buf, _) = self.stdout.as_ref().expect("started with LmdnsCommand::capture_stdout");
        String::from_utf8(buf.lock().unwrap().clone()).expect("UTF-8 on stdout")
    }

    fn drain_stderr(&mut self) {
        drain(&mut self.stderr_reader);
    }
}

impl Drop for LmdnsProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// Zone data and queries for the in-process and binary tests
// ---------------------------------------------------------------------------------------------

/// A record with TTL 300 and no condition.
pub fn rr(owner: &str, rtype: u16, rdata: Vec<u8>) -> Rr {
    Rr { owner: wire(owner), ttl: 300, rtype, rdata, condition: vec![] }
}

/// SOA, NS, ns1 A 192.0.2.53 and www A 192.0.2.1, plus `big` with 100 TXT records (~20 KB,
/// truncated over UDP) for size tests.
pub fn example_zone(apex: &str) -> Vec<Rr> {
    let mut soa = wire(&format!("ns1.{apex}"));
    soa.extend(wire(&format!("hostmaster.{apex}")));
    for v in [1u32, 7200, 3600, 1_209_600, 60] {
        soa.extend_from_slice(&v.to_be_bytes());
    }
    let mut records = vec![
        rr(apex, 6, soa),
        rr(apex, 2, wire(&format!("ns1.{apex}"))),
        rr(&format!("ns1.{apex}"), 1, vec![192, 0, 2, 53]),
        rr(&format!("www.{apex}"), 1, vec![192, 0, 2, 1]),
    ];
    for i in 0..100u8 {
        let mut txt = vec![199u8];
        txt.extend(std::iter::repeat_n(b'a' + i % 26, 198));
        txt.push(i);
        records.push(rr(&format!("big.{apex}"), 16, txt));
    }
    records
}

/// Writes (or replaces) each `(apex, records)` zone the way lmdns-loader does, all in one
/// transaction, without committing it.
pub fn replace_zones(store: &Store, txn: &mut heed::RwTxn<'static>, zones: &[(&str, Vec<Rr>)]) {
    for (apex, records) in zones {
        let mut tree = ZoneTree::new(&wire(apex)).unwrap();
        for r in records {
            tree.insert(r).unwrap();
        }
        zones::replace_zone(store, txn, tree, None).unwrap();
    }
}

/// Opens (or creates) the database at `db` with a 16 MiB map and writes the zones in one
/// committed transaction.
pub fn write_zones(db: &Path, zones: &[(&str, Vec<Rr>)]) {
    let store = Store::open(db, &OpenOptions { map_size: 16 << 20, read_only: false }).unwrap();
    let mut txn = store.write_txn().unwrap();
    replace_zones(&store, &mut txn, zones);
    txn.commit().unwrap();
}

/// A query with one question, built up step by step: RD clear and no EDNS unless asked for.
pub struct DnsQuery(Message);

impl DnsQuery {
    /// `name` taken as ASCII, its case kept byte for byte.
    pub fn new(id: u16, name: &str, rtype: RecordType) -> DnsQuery {
        Self::for_name(id, Name::from_ascii(name).unwrap(), rtype)
    }

    /// `name` parsed with `Name::from_str` (UTF-8 through IDNA, so ASCII letters lowercased).
    pub fn parsed(id: u16, name: &str, rtype: RecordType) -> DnsQuery {
        Self::for_name(id, Name::from_str(name).unwrap(), rtype)
    }

    fn for_name(id: u16, name: Name, rtype: RecordType) -> DnsQuery {
        let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
        msg.add_query(Query::query(name, rtype));
        DnsQuery(msg)
    }

    pub fn rd(mut self) -> DnsQuery {
        self.0.metadata.recursion_desired = true;
        self
    }

    /// An OPT record advertising `payload`, with a Client Subnet option if `ecs` is given.
    pub fn edns(mut self, payload: u16, ecs: Option<(&str, u8)>) -> DnsQuery {
        let mut edns = Edns::new();
        edns.set_max_payload(payload);
        if let Some((addr, prefix)) = ecs {
            edns.options_mut().insert(EdnsOption::Subnet(ClientSubnet::new(IpAddr::from_str(addr).unwrap(), prefix, 0)));
        }
        self.0.set_edns(edns);
        self
    }

    pub fn message(self) -> Message {
        self.0
    }

    pub fn bytes(self) -> Vec<u8> {
        self.0.to_vec().unwrap()
    }
}

// ---------------------------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------------------------

/// How a query is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// UDP, no EDNS, RD=0.
    Udp,
    /// UDP, EDNS payload 1232, RD=1.
    Edns,
    /// UDP, EDNS payload 1232, RD=0, qname in mixed case (DNS 0x20).
    Case,
    /// TCP (2-byte length framing), no EDNS, RD=1.
    Tcp,
}

impl Form {
    pub const ALL: [Form; 4] = [Form::Udp, Form::Edns, Form::Case, Form::Tcp];

    pub fn edns(self) -> bool {
        matches!(self, Form::Edns | Form::Case)
    }

    pub fn rd(self) -> bool {
        matches!(self, Form::Edns | Form::Tcp)
    }
}

impl fmt::Display for Form {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Form::Udp => "udp",
            Form::Edns => "udp+edns1232",
            Form::Case => "udp+edns1232+0x20",
            Form::Tcp => "tcp",
        })
    }
}

/// Deterministic 0x20 mixing: flips the case of letters by a fixed pattern, always producing
/// at least one upper and (if there are two letters) one lower-case letter.
pub fn mix_case(name: &str) -> String {
    let mut state: u32 = 0x9e37_79b9;
    name.chars()
        .map(|c| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            if c.is_ascii_alphabetic() && (state >> 16) & 1 == 1 {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

/// Build the wire form of a query.
pub fn build_query(q: &TestQuery, form: Form, id: u16) -> Vec<u8> {
    let name = if form == Form::Case { mix_case(&q.name) } else { q.name.clone() };
    let name = Name::from_ascii(&name).unwrap_or_else(|e| panic!("bad qname {name:?}: {e}"));
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = form.rd();
    let mut query = Query::query(name, q.qtype);
    query.set_query_class(DNSClass::IN);
    msg.add_query(query);
    if form.edns() {
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_PAYLOAD);
        edns.set_version(0);
        msg.set_edns(edns);
    }
    msg.to_vec().expect("encode query")
}

/// The question section's bytes (QNAME QTYPE QCLASS) of a message with QDCOUNT=1, if well formed.
pub fn question_bytes(msg: &[u8]) -> Option<&[u8]> {
    if msg.len() < 12 || u16::from_be_bytes([msg[4], msg[5]]) != 1 {
        return None;
    }
    let mut i = 12;
    loop {
        let len = *msg.get(i)? as usize;
        if len == 0 {
            i += 1;
            break;
        }
        if len & 0xc0 != 0 {
            i += 2; // a pointer ends the name (should not appear in a question, but be lenient)
            break;
        }
        i += 1 + len;
    }
    msg.get(12..i + 4)
}

/// One exchange: what was sent and what came back.
pub struct Exchange {
    pub query: Vec<u8>,
    pub bytes: Vec<u8>,
}

fn next_id() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static ID: AtomicU16 = AtomicU16::new(0x1234);
    ID.fetch_add(0x0101, Ordering::Relaxed)
}

/// Ask `addr` one query in the given form; bounded in time.
pub fn ask(addr: SocketAddr, q: &TestQuery, form: Form) -> io::Result<Exchange> {
    let id = next_id();
    let query = build_query(q, form, id);
    let bytes = match form {
        Form::Tcp => exchange_tcp(addr, &query)?,
        _ => exchange_udp(addr, &query)?,
    };
    Ok(Exchange { query, bytes })
}

/// Send over UDP and wait for the response with the same ID (retries, each with a timeout).
pub fn exchange_udp(addr: SocketAddr, query: &[u8]) -> io::Result<Vec<u8>> {
    let sock = UdpSocket::bind("127.0.0.1:0")?;
    sock.connect(addr)?;
    sock.set_read_timeout(Some(QUERY_TIMEOUT))?;
    let mut buf = vec![0u8; 65535];
    for _ in 0..UDP_TRIES {
        sock.send(query)?;
        let deadline = Instant::now() + QUERY_TIMEOUT;
        // Bounded: skip stray datagrams with another ID until this try's deadline.
        while Instant::now() < deadline {
            match sock.recv(&mut buf) {
                Ok(n) if n >= 2 && buf[..2] == query[..2] => return Ok(buf[..n].to_vec()),
                Ok(_) => continue,
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => break,
                Err(e) => return Err(e),
            }
        }
    }
    Err(io::Error::new(io::ErrorKind::TimedOut, format!("no UDP answer from {addr} after {UDP_TRIES} tries")))
}

/// Send over TCP with 2-byte length framing and read one framed response.
pub fn exchange_tcp(addr: SocketAddr, query: &[u8]) -> io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect_timeout(&addr, QUERY_TIMEOUT)?;
    stream.set_read_timeout(Some(QUERY_TIMEOUT))?;
    stream.set_write_timeout(Some(QUERY_TIMEOUT))?;
    stream.set_nodelay(true)?;
    let mut framed = (query.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(query);
    stream.write_all(&framed)?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len)?;
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    stream.read_exact(&mut buf)?;
    Ok(buf)
}

// ---------------------------------------------------------------------------------------------
// Normalized responses
// ---------------------------------------------------------------------------------------------

/// A response reduced to what the conformance test compares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Normalized {
    pub rcode: String,
    pub aa: bool,
    pub tc: bool,
    pub rd: bool,
    pub ra: bool,
    pub edns: bool,
    /// Sorted `owner TTL CLASS TYPE rdata`, names lowercased.
    pub answer: Vec<String>,
    pub authority: Vec<String>,
    /// Compared separately and leniently.
    pub additional: Vec<String>,
}

impl Normalized {
    /// The part that must match a reference server.
    pub fn key(&self) -> (&str, bool, bool, &[String], &[String]) {
        (&self.rcode, self.aa, self.tc, &self.answer, &self.authority)
    }

    pub fn header_line(&self) -> String {
        let mut flags = Vec::new();
        if self.aa {
            flags.push("aa");
        }
        if self.tc {
            flags.push("tc");
        }
        format!("rcode={} flags=[{}]", self.rcode, flags.join(" "))
    }

    /// Lines of the compared part, in a fixed layout (used for display and diffs).
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![self.header_line()];
        out.extend(self.answer.iter().map(|r| format!("AN {r}")));
        out.extend(self.authority.iter().map(|r| format!("NS {r}")));
        out
    }
}

/// The responses accepted as equivalent to a reference's: exactly the response. (Knot and NSD
/// differ in allowed ways, NSD adding the zone's NS RRset to positive answers, Knot not; lmdns
/// must equal one of them as it is.)
pub fn acceptable_variants(n: &Normalized) -> Vec<Normalized> {
    vec![n.clone()]
}

/// Whether `got` equals (the compared part of) any acceptable variant of any reference answer.
pub fn matches_any(got: &Normalized, refs: &[Result<Normalized, String>]) -> bool {
    refs.iter().filter_map(|r| r.as_ref().ok()).flat_map(acceptable_variants).any(|v| v.key() == got.key())
}

/// Decode a response and normalize it. An undecodable response is an error (with a hex dump).
pub fn normalize(bytes: &[u8]) -> Result<Normalized, String> {
    let msg = Message::from_vec(bytes).map_err(|e| format!("undecodable response ({e}): {}", hex(bytes)))?;
    let md = &msg.metadata;
    let section = |records: &[Record]| -> Vec<String> {
        let mut v: Vec<String> = records.iter().filter(|r| r.record_type() != RecordType::OPT).map(record_line).collect();
        v.sort();
        v
    };
    Ok(Normalized {
        rcode: format!("{:?}", md.response_code),
        aa: md.authoritative,
        tc: md.truncation,
        rd: md.recursion_desired,
        ra: md.recursion_available,
        edns: msg.edns.is_some(),
        answer: section(&msg.answers),
        authority: section(&msg.authorities),
        additional: section(&msg.additionals),
    })
}

fn record_line(r: &Record) -> String {
    format!("{} {} {} {} {}", r.name.to_ascii().to_ascii_lowercase(), r.ttl, r.dns_class, r.record_type(), rdata_text(&r.data))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Presentation of rdata; domain names inside rdata lowercased; TXT rendered byte-exactly.
fn rdata_text(data: &RData) -> String {
    match data {
        RData::TXT(txt) => txt.txt_data.iter().map(|s| character_string(s)).collect::<Vec<_>>().join(" "),
        RData::Unknown { code, rdata } => {
            let bytes = &rdata.anything;
            if u16::from(*code) == 39 {
                // DNAME: one uncompressed domain name.
                if let Some(name) = wire_name(bytes) {
                    return name;
                }
            }
            format!("\\# {} {}", bytes.len(), hex(bytes))
        }
        RData::CNAME(_) | RData::NS(_) | RData::PTR(_) | RData::MX(_) | RData::SRV(_) | RData::SOA(_) => {
            data.to_string().to_ascii_lowercase()
        }
        _ => data.to_string(),
    }
}

fn character_string(s: &[u8]) -> String {
    let mut out = String::from("\"");
    for &b in s {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(b as char);
            }
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\{b:03}")),
        }
    }
    out.push('"');
    out
}

/// An uncompressed wire-format name → lowercased presentation, or None if malformed.
fn wire_name(bytes: &[u8]) -> Option<String> {
    let mut i = 0;
    let mut out = String::new();
    loop {
        let len = *bytes.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None;
        }
        for &b in bytes.get(i..i + len)? {
            match b {
                b'.' | b'\\' => {
                    out.push('\\');
                    out.push(b as char);
                }
                0x21..=0x7e => out.push(b.to_ascii_lowercase() as char),
                _ => out.push_str(&format!("\\{b:03}")),
            }
        }
        out.push('.');
        i += len;
    }
    if out.is_empty() {
        out.push('.');
    }
    Some(out)
}

/// Ask and normalize in one go; errors become a pseudo-response so they show in diffs.
pub fn ask_normalized(addr: SocketAddr, q: &TestQuery, form: Form) -> (Option<Exchange>, Result<Normalized, String>) {
    match ask(addr, q, form) {
        Ok(ex) => {
            let n = normalize(&ex.bytes);
            (Some(ex), n)
        }
        Err(e) => (None, Err(format!("no response: {e}"))),
    }
}

/// Render one server's normalized response for a failure report. Lines of `n` that appear in
/// no reference response are marked with `!`.
pub fn render(label: &str, n: &Result<Normalized, String>, refs: &[&Result<Normalized, String>]) -> String {
    let mut out = format!("    --- {label}\n");
    match n {
        Err(e) => out.push_str(&format!("      {e}\n")),
        Ok(n) => {
            let ref_lines: Vec<Vec<String>> = refs.iter().filter_map(|r| r.as_ref().ok()).map(|r| r.lines()).collect();
            for line in n.lines() {
                let mark = if refs.is_empty() || ref_lines.iter().any(|l| l.contains(&line)) { ' ' } else { '!' };
                out.push_str(&format!("    {mark} {line}\n"));
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Malformed and unusual packets
// ---------------------------------------------------------------------------------------------

/// Raw packets that are malformed or unusual, each with a label. The references differ on some
/// (NSD answers FORMERR where Knot drops), so the outcome of the server under test must equal
/// one reference's outcome.
pub fn odd_packets() -> Vec<(&'static str, Vec<u8>)> {
    // Header: ID, flags (RD), QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT.
    fn header(flags: u16, qd: u16, ar: u16) -> Vec<u8> {
        let mut h = vec![0xab, 0xcd];
        h.extend_from_slice(&flags.to_be_bytes());
        for c in [qd, 0, 0, ar] {
            h.extend_from_slice(&c.to_be_bytes());
        }
        h
    }
    let www = b"\x03www\x07example\x03com\x00\x00\x01\x00\x01".to_vec(); // www.example.com A IN
                                                                         // OPT: root owner, type 41, payload 1232, extended rcode 0, version, flags 0, RDLEN 0.
    let opt = |version: u8| vec![0u8, 0x00, 0x29, 0x04, 0xd0, 0x00, version, 0x00, 0x00, 0x00, 0x00];
    let cat = |parts: &[&[u8]]| parts.concat();
    vec![
        ("header only, 11 bytes", header(0x0100, 1, 0)[..11].to_vec()),
        ("QDCOUNT=0", header(0x0100, 0, 0)),
        ("QDCOUNT=2", cat(&[&header(0x0100, 2, 0), &www, &www])),
        ("question cut inside the name", cat(&[&header(0x0100, 1, 0), &www[..6]])),
        ("question without QTYPE/QCLASS", cat(&[&header(0x0100, 1, 0), &www[..17]])),
        ("label longer than the packet", cat(&[&header(0x0100, 1, 0), b"\x3fabc"])),
        ("compression pointer loop in the qname", cat(&[&header(0x0100, 1, 0), b"\xc0\x0c\x00\x01\x00\x01"])),
        ("QR=1 (a response)", cat(&[&header(0x8100, 1, 0), &www])),
        ("opcode STATUS (2)", cat(&[&header(0x1100, 1, 0), &www])),
        ("opcode NOTIFY (4)", cat(&[&header(0x2100, 1, 0), &www])),
        ("opcode 15 (unassigned)", cat(&[&header(0x7900, 1, 0), &www])),
        ("opcode STATUS (2), no question", header(0x1100, 0, 0)),
        ("opcode 3 (unassigned), QDCOUNT=2", cat(&[&header(0x1900, 2, 0), &www, &www])),
        ("ARCOUNT=1 but no record", cat(&[&header(0x0100, 1, 1), &www])),
        ("two OPT records", cat(&[&header(0x0100, 1, 2), &www, &opt(0), &opt(0)])),
        ("EDNS version 1", cat(&[&header(0x0100, 1, 1), &www, &opt(1)])),
        ("trailing garbage after the question", cat(&[&header(0x0100, 1, 0), &www, b"\xde\xad\xbe\xef"])),
        ("qtype AXFR over UDP", cat(&[&header(0x0000, 1, 0), b"\x07example\x03com\x00\x00\xfc\x00\x01"])),
        ("qtype IXFR over UDP, no SOA", cat(&[&header(0x0000, 1, 0), b"\x07example\x03com\x00\x00\xfb\x00\x01"])),
        ("qclass ANY", cat(&[&header(0x0000, 1, 0), b"\x03www\x07example\x03com\x00\x00\x01\x00\xff"])),
        ("qtype 0", cat(&[&header(0x0000, 1, 0), b"\x03www\x07example\x03com\x00\x00\x00\x00\x01"])),
    ]
}

/// Send one raw packet over UDP (a single try) and describe the outcome: `no response`, or the
/// response's rcode, flags and section counts; for a reference, also its acceptable variants
/// (see [`acceptable_variants`]).
pub fn probe_raw_udp(addr: SocketAddr, packet: &[u8]) -> Vec<String> {
    match probe_raw_bytes(addr, packet) {
        None => vec!["no response".into()],
        Some(b) => match normalize(&b) {
            Ok(n) if b.len() >= 12 => acceptable_variants(&n).iter().map(describe).collect(),
            _ => vec![describe_raw(&b)],
        },
    }
}

fn describe(n: &Normalized) -> String {
    let rcode = if n.rcode == "BADSIG" && n.edns { "BADVERS" } else { &n.rcode };
    format!("{rcode} aa={} tc={} an={} ns={}", n.aa, n.tc, n.answer.len(), n.authority.len())
}

fn probe_raw_bytes(addr: SocketAddr, packet: &[u8]) -> Option<Vec<u8>> {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind a local UDP socket");
    sock.connect(addr).expect("connect UDP socket");
    sock.set_read_timeout(Some(Duration::from_millis(700))).expect("set timeout");
    sock.send(packet).expect("send UDP packet");
    let mut buf = vec![0u8; 65535];
    match sock.recv(&mut buf) {
        Ok(n) => Some(buf[..n].to_vec()),
        Err(_) => None,
    }
}

fn describe_raw(b: &[u8]) -> String {
    if b.len() < 12 {
        return format!("short response ({} bytes)", b.len());
    }
    format!("rcode {} (undecodable)", b[3] & 0x0f)
}
