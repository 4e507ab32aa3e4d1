//! Operations against the real `lmdns-server` binary: the query log (lines, SIGHUP reopen),
//! `/metrics` (strictly parsed, counters moving by exactly what was sent), privilege drop and the
//! root refusal, and the new flags in `--check-config`.
//!
//! Servers listen on loopback port 0; addresses are read from the start and `http listening on`
//! log lines. Every wait is bounded in time.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{example_zone, run_lmdns_without_extra_args, write_zones, DnsQuery, LmdnsCommand, LmdnsProcess};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use lmdb_schema::{OpenOptions, Store};
use lmdns_server::config::{Cli, Config, FileConfig};
use lmdns_server::engine::{AnswerConfig, Client, Engine, Transport};
use serde_json::Value;

const IO_TIMEOUT: Duration = Duration::from_secs(3);
const WAIT: Duration = Duration::from_secs(10);

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A database holding example.com and example.net, in `dir/db`.
fn make_db(dir: &Path) -> PathBuf {
    let path = dir.join("db");
    write_zones(&path, &[("example.com.", example_zone("example.com.")), ("example.net.", example_zone("example.net."))]);
    path
}

/// `lmdns-server --db DB --listen 127.0.0.1:0 --threads 2 ARGS`, with or without
/// [`common::SERVER_EXTRA_ARGS`] (`--allow-root`): the privilege tests need it left out.
fn command(db: &Path, args: &[&str], extra_args: bool) -> LmdnsCommand {
    let cmd = LmdnsCommand::new(db).args(["--listen", "127.0.0.1:0", "--threads", "2"]).args(args);
    if extra_args {
        cmd
    } else {
        cmd.without_extra_args()
    }
}

/// Starts the server with `--allow-root` and waits for its start line (panics with the log if
/// it exits first).
fn start_server(db: &Path, args: &[&str]) -> LmdnsProcess {
    command(db, args, true).start()
}

/// SIGTERM and wait for a clean exit.
fn stop(server: LmdnsProcess) {
    server.stop(WAIT);
}

/// `GET /metrics`: (content type, body).
fn metrics(server: &LmdnsProcess) -> (String, String) {
    let addr = server.http();
    let mut s = TcpStream::connect_timeout(&addr, IO_TIMEOUT).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    let ctype = head.lines().find_map(|l| l.strip_prefix("Content-Type: ")).unwrap().to_string();
    (ctype, body.to_string())
}

fn query(id: u16, name: &str, rtype: RecordType, ecs: Option<(&str, u8)>) -> Vec<u8> {
    let q = DnsQuery::new(id, name, rtype);
    match ecs {
        Some(ecs) => q.edns(1232, Some(ecs)),
        None => q,
    }
    .bytes()
}

/// Sends one query from a fresh socket and waits for its reply (no resend, so counts stay exact);
/// returns the reply bytes and the client's port.
fn udp_ask(server: SocketAddr, packet: &[u8]) -> (Vec<u8>, u16) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    socket.send_to(packet, server).unwrap();
    let mut buf = [0u8; 65_535];
    match socket.recv_from(&mut buf) {
        Ok((n, _)) => (buf[..n].to_vec(), socket.local_addr().unwrap().port()),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => panic!("no UDP reply from {server}"),
        Err(e) => panic!("recv: {e}"),
    }
}

fn tcp_ask(server: SocketAddr, packet: &[u8]) -> (Vec<u8>, u16) {
    let mut s = TcpStream::connect_timeout(&server, IO_TIMEOUT).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut framed = (packet.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(packet);
    s.write_all(&framed).unwrap();
    let mut len = [0u8; 2];
    s.read_exact(&mut len).unwrap();
    let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut msg).unwrap();
    (msg, s.local_addr().unwrap().port())
}

/// The JSON lines of `path` once it has at least `n` (bounded wait).
fn wait_lines(path: &Path, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let complete: Vec<&str> = text.split_inclusive('\n').filter(|l| l.ends_with('\n')).collect();
        if complete.len() >= n {
            return complete.iter().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}"))).collect();
        }
        assert!(Instant::now() < deadline, "{} has {} lines, expected {n}: {text}", path.display(), complete.len());
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------------------------
// Query log
// ---------------------------------------------------------------------------------------------

#[test]
fn query_log_lines_match_the_queries_sent() {
    let dir = tempfile::tempdir().unwrap();
    let db = make_db(dir.path());
    let log_path = dir.path().join("queries.log");
    let server = start_server(&db, &["--query-log", log_path.to_str().unwrap()]);

    let sent = [
        ("udp", "www.Example.COM.", RecordType::A, None, "A", "NOERROR"),
        ("udp", "nope.example.com.", RecordType::AAAA, None, "AAAA", "NXDOMAIN"),
        ("udp", "www.example.com.", RecordType::A, Some(("198.51.100.0", 24)), "A", "NOERROR"),
        ("tcp", "example.net.", RecordType::SOA, None, "SOA", "NOERROR"),
        ("udp", "elsewhere.org.", RecordType::MX, None, "MX", "REFUSED"),
    ];
    let mut expected = Vec::new();
    for (i, (proto, name, rtype, ecs, _, _)) in sent.iter().enumerate() {
        let packet = query(100 + i as u16, name, *rtype, *ecs);
        let (reply, port) = if *proto == "udp" { udp_ask(server.addr(), &packet) } else { tcp_ask(server.addr(), &packet) };
        expected.push((port, reply.len(), Message::from_vec(&reply).unwrap()));
    }

    let lines = wait_lines(&log_path, sent.len());
    assert_eq!(lines.len(), sent.len(), "one line per query: {lines:?}");
    // Workers queue separately, so lines are matched by client port (a fresh one per query).
    for ((proto, name, _, ecs, qtype, rcode), (port, size, reply)) in sent.iter().zip(&expected) {
        let line = lines.iter().find(|l| l["port"] == *port).unwrap_or_else(|| panic!("no line for port {port}: {lines:?}"));
        assert_eq!(line["proto"], *proto, "{line}");
        assert_eq!(line["qname"], *name, "qname as asked: {line}");
        assert_eq!(line["qtype"], *qtype, "{line}");
        assert_eq!(line["rcode"], *rcode, "{line}");
        let numeric = match *rcode {
            "NOERROR" => 0,
            "NXDOMAIN" => 3,
            "REFUSED" => 5,
            other => panic!("{other}"),
        };
        assert_eq!(u16::from(reply.metadata.response_code), numeric, "{line}");
        assert_eq!(line["client"], "127.0.0.1", "{line}");
        assert_eq!(line["port"], *port, "{line}");
        assert_eq!(line["size"], *size, "{line}");
        assert_eq!(line["aa"], reply.metadata.authoritative, "{line}");
        assert_eq!(line["tc"], reply.metadata.truncation, "{line}");
        match ecs {
            Some((addr, prefix)) => assert_eq!(line["ecs"], format!("{addr}/{prefix}"), "{line}"),
            None => assert!(line["ecs"].is_null(), "{line}"),
        }
        let time = line["time"].as_str().unwrap();
        // RFC 3339 UTC with microseconds: 2026-01-02T03:04:05.123456Z
        assert_eq!(time.len(), 27, "{time}");
        assert!(time.ends_with('Z') && time.as_bytes()[10] == b'T' && time.as_bytes()[19] == b'.', "{time}");
    }
    stop(server);
}

#[test]
fn sighup_reopens_the_query_log() {
    let dir = tempfile::tempdir().unwrap();
    let db = make_db(dir.path());
    let log_path = dir.path().join("queries.log");
    let rotated = dir.path().join("queries.log.1");
    let server = start_server(&db, &["--query-log", log_path.to_str().unwrap()]);

    let (_, first_port) = udp_ask(server.addr(), &query(1, "www.example.com.", RecordType::A, None));
    assert_eq!(wait_lines(&log_path, 1)[0]["port"], first_port);

    // logrotate: rename, then SIGHUP; the server creates the file anew.
    std::fs::rename(&log_path, &rotated).unwrap();
    server.signal(libc::SIGHUP);
    let deadline = Instant::now() + WAIT;
    while !log_path.exists() {
        assert!(Instant::now() < deadline, "no new file after SIGHUP: {}", server.log());
        std::thread::sleep(Duration::from_millis(10));
    }
    let (_, second_port) = udp_ask(server.addr(), &query(2, "www.example.net.", RecordType::A, None));
    let lines = wait_lines(&log_path, 1);
    assert_eq!((lines[0]["qname"].as_str(), &lines[0]["port"]), (Some("www.example.net."), &Value::from(second_port)));
    let old = std::fs::read_to_string(&rotated).unwrap();
    assert_eq!(old.lines().count(), 1, "the rotated file got nothing more: {old}");
    assert!(server.log().contains("query log reopened"), "{}", server.log());
    stop(server);
}

#[test]
fn query_log_is_flushed_on_shutdown_and_to_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let db = make_db(dir.path());
    let log_path = dir.path().join("q.log");
    let server = start_server(&db, &["--query-log", log_path.to_str().unwrap()]);
    for i in 0..20 {
        udp_ask(server.addr(), &query(i, "www.example.com.", RecordType::A, None));
    }
    stop(server);
    // After a clean exit every line is on disk, without waiting for a flush interval.
    let text = std::fs::read_to_string(&log_path).unwrap();
    assert_eq!(text.lines().count(), 20, "{text}");

    // `-` writes to stdout.
    let mut server =
        LmdnsCommand::new(&db).args(["--listen", "127.0.0.1:0", "--threads", "1", "--query-log", "-"]).capture_stdout().start();
    let (_, port) = udp_ask(server.addr(), &query(9, "www.example.com.", RecordType::A, None));
    server.signal(libc::SIGTERM);
    let status = server.wait_exit(WAIT);
    assert!(status.success());
    let stdout = server.stdout();
    let v: Value = serde_json::from_str(stdout.lines().next().expect("a line on stdout")).unwrap();
    assert_eq!(v["port"], port);
}

// ---------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------

/// Parses with prometheus-parse, and on top checks what that parser tolerates: every line is a
/// HELP, a TYPE or a sample it understood, and every sample's family has HELP and TYPE (so no
/// sample comes back untyped).
fn parse_strict(body: &str) -> prometheus_parse::Scrape {
    assert!(body.ends_with('\n'), "the exposition ends with a newline");
    let mut sample_lines = 0;
    for line in body.lines() {
        if line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
            continue;
        }
        assert!(!line.is_empty() && !line.starts_with('#'), "unexpected line {line:?}");
        sample_lines += 1;
    }
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).expect("parses");
    assert_eq!(scrape.samples.len(), sample_lines, "a line was silently ignored by the parser:\n{body}");
    for s in &scrape.samples {
        assert!(scrape.docs.contains_key(&s.metric), "no HELP for {}", s.metric);
        assert!(
            matches!(s.value, prometheus_parse::Value::Counter(_) | prometheus_parse::Value::Gauge(_)),
            "{} is untyped: {:?}",
            s.metric,
            s.value
        );
    }
    scrape
}

fn value(scrape: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)) && s.labels.len() == labels.len())
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
            _ => panic!("not a scalar"),
        })
}

/// The age of the last change follows a commit made after the first scrape (read through the
/// change log, not a scan of every zone) and is the zone's own change time, not the scrape's.
#[test]
fn metrics_last_change_is_the_time_of_a_later_commit() {
    let dir = tempfile::tempdir().unwrap();
    let db = make_db(dir.path());
    let server = start_server(&db, &["--http", "127.0.0.1:0"]);
    let gauge = |name: &str| value(&parse_strict(&metrics(&server).1), name, &[]).unwrap();
    let first_counter = gauge("lmdns_db_change_counter");
    let first = gauge("lmdns_db_last_change_timestamp_seconds");
    let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64().floor();
    let deadline = Instant::now() + Duration::from_secs(10);
    while now() <= first {
        assert!(Instant::now() < deadline, "the clock did not pass {first}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let before = now();
    let args = ["--db", db.to_str().unwrap(), "record", "add", "late.example.net.", "60", "A", "192.0.2.99"];
    assert_eq!(lmdns_loader::cli::run_args(args).unwrap(), std::process::ExitCode::SUCCESS);
    let after = now();
    // Scrape only once the clock has moved on, so a change dated by the scrape would show.
    while now() < after + 2.0 {
        assert!(Instant::now() < deadline, "the clock did not pass {after} + 2");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(gauge("lmdns_db_change_counter"), first_counter + 1.0);
    let dated = gauge("lmdns_db_last_change_timestamp_seconds");
    assert!((before..=after).contains(&dated), "last change {dated}, the commit ran in {before}..={after}");
}

#[test]
fn metrics_parse_strictly_and_count_exactly_what_was_sent() {
    let dir = tempfile::tempdir().unwrap();
    let db = make_db(dir.path());
    let server = start_server(&db, &["--http", "127.0.0.1:0"]);
    let udp_a = [("proto", "udp"), ("qtype", "A"), ("rcode", "NOERROR")];

    let (ctype, body) = metrics(&server);
    assert_eq!(ctype, "text/plain; version=0.0.4; charset=utf-8");
    let before = parse_strict(&body);
    let base = value(&before, "lmdns_queries_total", &udp_a).unwrap_or(0.0);
    assert_eq!(value(&before, "lmdns_tcp_connections", &[]), Some(0.0));
    assert!(value(&before, "lmdns_db_last_txn_id", &[]).unwrap() > 0.0);
    assert!(value(&before, "lmdns_db_map_used_bytes", &[]).unwrap() > 0.0);
    assert!(value(&before, "lmdns_db_map_size_bytes", &[]).unwrap() >= value(&before, "lmdns_db_map_used_bytes", &[]).unwrap());
    assert!(value(&before, "lmdns_db_readers", &[]).unwrap() >= 1.0);
    assert!(value(&before, "lmdns_db_last_change_age_seconds", &[]).unwrap() < 3600.0);
    assert_eq!(value(&before, "lmdns_querylog_dropped_total", &[]), Some(0.0));
    assert_eq!(value(&before, "lmdns_rrl_dropped_total", &[]), None, "RRL series only when RRL is configured");

    const N: u16 = 7;
    for i in 0..N {
        let (reply, _) = udp_ask(server.addr(), &query(i, "www.example.com.", RecordType::A, None));
        assert_eq!(Message::from_vec(&reply).unwrap().metadata.response_code, ResponseCode::NoError);
    }
    // One truncated UDP answer, then the same over TCP; one NXDOMAIN in the other zone.
    let (reply, _) = udp_ask(server.addr(), &query(50, "big.example.com.", RecordType::TXT, None));
    assert!(Message::from_vec(&reply).unwrap().metadata.truncation);
    tcp_ask(server.addr(), &query(51, "big.example.com.", RecordType::TXT, None));
    udp_ask(server.addr(), &query(52, "nope.example.net.", RecordType::A, None));

    // Counters are summed at scrape time; zone tables are published every 250 ms by each
    // thread (UDP worker and TCP thread separately), so wait until both have published.
    let deadline = Instant::now() + WAIT;
    let after = loop {
        let scrape = parse_strict(&metrics(&server).1);
        let net = value(&scrape, "lmdns_zone_queries_total", &[("zone", "example.net.")]);
        let com = value(&scrape, "lmdns_zone_queries_total", &[("zone", "example.com.")]);
        if net.is_some() && com >= Some(N as f64 + 2.0) {
            break scrape;
        }
        assert!(Instant::now() < deadline, "zone counters never showed up");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(value(&after, "lmdns_queries_total", &udp_a).unwrap(), base + N as f64, "exactly the queries sent");
    assert_eq!(value(&after, "lmdns_queries_total", &[("proto", "udp"), ("qtype", "TXT"), ("rcode", "NOERROR")]), Some(1.0));
    assert_eq!(value(&after, "lmdns_queries_total", &[("proto", "tcp"), ("qtype", "TXT"), ("rcode", "NOERROR")]), Some(1.0));
    assert_eq!(value(&after, "lmdns_queries_total", &[("proto", "udp"), ("qtype", "A"), ("rcode", "NXDOMAIN")]), Some(1.0));
    assert_eq!(value(&after, "lmdns_zone_queries_total", &[("zone", "example.com.")]), Some(N as f64 + 2.0));
    assert_eq!(value(&after, "lmdns_zone_queries_total", &[("zone", "example.net.")]), Some(1.0));
    assert_eq!(value(&after, "lmdns_truncated_responses_total", &[("proto", "udp")]), Some(1.0));
    assert_eq!(value(&after, "lmdns_truncated_responses_total", &[("proto", "tcp")]), Some(0.0));
    assert_eq!(value(&after, "lmdns_tcp_connections_total", &[]), Some(1.0));
    for (name, kind) in [("lmdns_queries_total", "counter"), ("lmdns_zone_queries_total", "counter"), ("lmdns_tcp_connections", "gauge")] {
        assert!(metrics(&server).1.contains(&format!("# TYPE {name} {kind}\n")), "{name}");
    }
    // The TCP connection closes when the client goes away.
    let deadline = Instant::now() + WAIT;
    while value(&parse_strict(&metrics(&server).1), "lmdns_tcp_connections", &[]) != Some(0.0) {
        assert!(Instant::now() < deadline, "TCP connection gauge never went back to 0");
        std::thread::sleep(Duration::from_millis(50));
    }
    // /health is still there.
    let mut s = TcpStream::connect_timeout(&server.http(), IO_TIMEOUT).unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
    stop(server);
}

#[test]
fn zone_apex_is_empty_for_queries_no_zone_answers() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&make_db(dir.path()), &OpenOptions { map_size: 16 << 20, read_only: false }).unwrap();
    let engine = Engine::new(store, AnswerConfig::default());
    let mut scratch = engine.scratch();
    let client = Client { addr: "127.0.0.1:5000".parse().unwrap(), transport: Transport::Udp };
    let mut out = Vec::new();
    let txn = engine.read_txn().unwrap();
    assert!(engine.answer(&txn, &mut scratch, &query(1, "www.example.com.", RecordType::A, None), &client, &mut out));
    assert_eq!(lmdb_schema::name::key_to_text(scratch.zone_apex()), "example.com.");
    assert!(engine.answer(&txn, &mut scratch, &query(2, "www.example.org.", RecordType::A, None), &client, &mut out));
    assert_eq!(scratch.answered.rcode, 5);
    assert!(scratch.zone_apex().is_empty(), "stale apex after a REFUSED query");
    assert!(engine.answer(&txn, &mut scratch, &query(3, "www.example.net.", RecordType::A, None), &client, &mut out));
    assert!(engine.answer(&txn, &mut scratch, &[0x12, 0x34, 1, 0, 0, 2, 0, 0, 0, 0, 0, 0], &client, &mut out));
    assert!(scratch.zone_apex().is_empty(), "stale apex after a FORMERR");
}

// ---------------------------------------------------------------------------------------------
// Privileges
// ---------------------------------------------------------------------------------------------

/// The (real, effective, saved, filesystem) ids of the `Uid:` or `Gid:` line, and `Groups:`.
fn proc_ids(pid: libc::pid_t, key: &str) -> Vec<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find_map(|l| l.strip_prefix(key)).unwrap_or_else(|| panic!("no {key} in {status}"));
    line.split_whitespace().map(|v| v.parse().unwrap()).collect()
}

#[test]
fn privileges_are_dropped_to_the_user_after_binding() {
    let dir = tempfile::tempdir().unwrap();
    let db = make_db(dir.path());
    if !is_root() {
        let out = run_lmdns_without_extra_args(&["--db", db.to_str().unwrap(), "--listen", "127.0.0.1:0", "--user", "nobody"]);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("--user nobody needs the server to be started as root"), "{stderr}");
        return;
    }
    let (uid, gid) = lmdns_server::ops::privdrop::lookup_user("nobody").expect("the nobody user exists");
    assert_ne!(uid, 0);
    // A chroot with a log directory the user may write to; the database lies outside it.
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("log")).unwrap();
    let c = std::ffi::CString::new(root.join("log").to_str().unwrap()).unwrap();
    // SAFETY: chown(2) on a path we just created.
    assert_eq!(unsafe { libc::chown(c.as_ptr(), uid, gid) }, 0);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let log_path = root.join("log/queries.log");
    // Without --allow-root: --user alone must let root start and drop.
    let server = command(
        &db,
        &["--user", "nobody", "--chroot", root.to_str().unwrap(), "--query-log", log_path.to_str().unwrap(), "--http", "127.0.0.1:0"],
        false,
    )
    .start();
    for key in ["Uid:", "Gid:"] {
        let ids = proc_ids(server.pid(), key);
        let want = if key == "Uid:" { uid } else { gid };
        assert_eq!(ids, vec![want; 4], "{key} real, effective, saved, fs");
    }
    assert!(proc_ids(server.pid(), "Groups:").is_empty(), "no supplementary groups");
    let cap_eff = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    assert!(cap_eff.lines().any(|l| l == "CapEff:\t0000000000000000"), "no capabilities left:\n{cap_eff}");
    assert_eq!(std::fs::read_link(format!("/proc/{}/root", server.pid())).unwrap(), root);
    assert!(server.log().contains("dropped privileges"), "{}", server.log());

    // The database (opened before the drop, outside the chroot) still answers, over DNS and HTTP.
    let (reply, port) = udp_ask(server.addr(), &query(1, "www.example.com.", RecordType::A, None));
    let reply = Message::from_vec(&reply).unwrap();
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert_eq!(reply.answers.len(), 1);
    let scrape = parse_strict(&metrics(&server).1);
    assert!(value(&scrape, "lmdns_db_last_txn_id", &[]).unwrap() > 0.0);
    // The query log was opened as the user inside the chroot.
    assert_eq!(wait_lines(&log_path, 1)[0]["port"], port);
    stop(server);
}

#[test]
fn root_is_refused_without_allow_root() {
    let dir = tempfile::tempdir().unwrap();
    let db = make_db(dir.path());
    if !is_root() {
        // Not root: nothing to refuse, the server starts as is.
        stop(command(&db, &[], false).start());
        return;
    }
    let out = run_lmdns_without_extra_args(&["--db", db.to_str().unwrap(), "--listen", "127.0.0.1:0"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refusing to serve queries as root") && stderr.contains("--user") && stderr.contains("--allow-root"),
        "{stderr}"
    );
    assert!(!stderr.contains("started"), "{stderr}");
    // With --allow-root it serves.
    stop(command(&db, &["--allow-root"], false).start());
    // --user root is no drop at all: refused too.
    let out = run_lmdns_without_extra_args(&["--db", db.to_str().unwrap(), "--listen", "127.0.0.1:0", "--user", "root"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allow-root"));
    let out = run_lmdns_without_extra_args(&["--db", db.to_str().unwrap(), "--listen", "127.0.0.1:0", "--user", "no-such-user-lmdns"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such user \"no-such-user-lmdns\""));
}

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

#[test]
fn check_config_includes_the_operations_flags() {
    let out = run_lmdns_without_extra_args(&[
        "--db",
        "/srv/lmdns/db",
        "--query-log",
        "/srv/lmdns/log/q.log",
        "--user",
        "lmdns",
        "--chroot",
        "/srv/lmdns",
        "--check-config",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: toml::Table = toml::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(printed["query_log"].as_str(), Some("/srv/lmdns/log/q.log"));
    assert_eq!(printed["user"].as_str(), Some("lmdns"));
    assert_eq!(printed["chroot"].as_str(), Some("/srv/lmdns"));
    assert_eq!(printed["allow_root"].as_bool(), Some(false));
    // The printed file reads back as the same configuration.
    let file: FileConfig = toml::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    let cli = <Cli as clap::Parser>::try_parse_from(["lmdns-server"]).unwrap();
    let config = Config::merge(&cli, file, None).unwrap();
    assert_eq!(config.user.as_deref(), Some("lmdns"));

    for (args, named) in [
        (&["--chroot", "/srv"][..], "chroot needs user"),
        (&["--user", "x", "--chroot", "srv"], "absolute"),
        (&["--user", "x", "--chroot", "/srv", "--query-log", "/var/log/q.log"], "inside the chroot"),
    ] {
        let mut all = vec!["--db", "/d", "--check-config"];
        all.extend_from_slice(args);
        let out = run_lmdns_without_extra_args(&all);
        assert!(!out.status.success(), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(named), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let help = String::from_utf8_lossy(&run_lmdns_without_extra_args(&["--help"]).stdout).to_string();
    for flag in ["--query-log", "--user", "--chroot", "--allow-root"] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
}

#[test]
fn example_config_is_valid_and_documents_every_key() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist/lmdns.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let file: FileConfig = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let cli = <Cli as clap::Parser>::try_parse_from(["lmdns-server"]).unwrap();
    let config = Config::merge(&cli, file, None).unwrap();
    assert_eq!(config.query_log.as_deref(), Some(Path::new("/var/log/lmdns/queries.log")));
    // Every key the server knows (all set, so --check-config prints them all) is in the example,
    // set or commented out.
    let out = run_lmdns_without_extra_args(&[
        "--db",
        "/d",
        "--query-log",
        "-",
        "--user",
        "u",
        "--chroot",
        "/c",
        "--lookup-zone",
        "z",
        "--http",
        "127.0.0.1:1",
        "--whoami",
        "w",
        "--identity",
        "i",
        "--server-version",
        "v",
        "--nsid",
        "n",
        "--dnstap",
        "file:/x",
        "--check-config",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: toml::Table = toml::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    for key in printed.keys() {
        let documented = text.lines().any(|l| l.trim_start_matches("# ").starts_with(&format!("{key} = ")));
        assert!(documented, "dist/lmdns.toml lacks {key}");
    }
    let unit = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist/lmdns.service")).unwrap();
    for line in [
        "User=lmdns",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
        "ProtectSystem=strict",
        "ReadOnlyPaths=/var/lib/lmdns",
        "ReadWritePaths=/var/lib/lmdns/lock.mdb",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "ProtectHome=yes",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "Restart=on-failure",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        assert!(unit.lines().any(|l| l == line), "dist/lmdns.service lacks {line}");
    }
}
