//! The server against a database changed or damaged around it: a map grown by a loader past
//! the server's own map size is adopted and answered from (it once dropped every query while
//! /health said 200); reader slots left by a killed server are cleared by the next; a file
//! cut short is refused at start with a message, not a SIGBUS.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::secondary::{http_get, loader_bin, metric, metrics_text};
use common::*;
use hickory_proto::rr::RecordType;

/// The loader as its own process (this one keeps the database open at the size it first used).
fn loader(db: &Path, map_size: &str, args: &[&str]) {
    let out = std::process::Command::new(loader_bin()).arg("--db").arg(db).args(["--map-size", map_size]).args(args).output().unwrap();
    assert!(out.status.success(), "lmdns-loader {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn zone_file(dir: &Path, apex: &str, names: usize) -> String {
    let mut text = format!("$ORIGIN {apex}\n$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 300\n@ NS ns\nns A 192.0.2.1\n");
    for i in 0..names {
        text.push_str(&format!("h{i} TXT \"{}\"\n", "x".repeat(200)));
    }
    let path = dir.join(format!("{apex}zone"));
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn answers(addr: std::net::SocketAddr, name: &str) -> bool {
    let q = TestQuery { line: 0, name: name.into(), qtype: RecordType::SOA };
    ask(addr, &q, Form::Udp).ok().and_then(|ex| normalize(&ex.bytes).ok()).is_some_and(|n| n.rcode == "NoError" && !n.answer.is_empty())
}

fn wait_for(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "{what} within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_map_grown_by_the_loader_is_adopted() {
    let db = TestDb::empty(8 << 20);
    loader(&db.path, "8M", &["zone", "import", &zone_file(db.dir.path(), "small.test.", 10)]);
    let server = LmdnsCommand::new(&db.path)
        .args(["--listen", "127.0.0.1:0", "--threads", "2", "--map-size", "8388608", "--http", "127.0.0.1:0"])
        .attempts(3)
        .start();
    assert!(answers(server.addr(), "small.test."));
    // ~25 MB of TXT: far past the server's 8 MiB map.
    loader(&db.path, "256M", &["zone", "import", &zone_file(db.dir.path(), "big.test.", 100_000)]);
    assert!(std::fs::metadata(db.path.join("data.mdb")).unwrap().len() > 8 << 20);
    wait_for("the grown database answered", Duration::from_secs(10), || answers(server.addr(), "big.test."));
    assert!(answers(server.addr(), "small.test."), "the old zone too");
    let http = server.http();
    assert!(http_get(http, "/health").starts_with("HTTP/1.1 200"), "{}", http_get(http, "/health"));
    let text = metrics_text(http);
    assert!(metric(&text, "lmdns_db_remaps_total").is_some_and(|n| n >= 1.0), "{text}");
}

#[test]
fn reader_slots_of_a_killed_server_are_cleared_by_the_next() {
    let db = TestDb::empty(16 << 20);
    loader(&db.path, "16M", &["zone", "import", &zone_file(db.dir.path(), "slots.test.", 10)]);
    let mut first = LmdnsCommand::new(&db.path).args(["--listen", "127.0.0.1:0", "--threads", "2"]).attempts(3).start();
    // Every worker reads once, so each holds a reader slot of the first process.
    for _ in 0..20 {
        assert!(answers(first.addr(), "slots.test."));
    }
    first.signal(libc::SIGKILL);
    first.wait_exit(Duration::from_secs(5));
    let second =
        LmdnsCommand::new(&db.path).args(["--listen", "127.0.0.1:0", "--threads", "1", "--http", "127.0.0.1:0"]).attempts(3).start();
    assert!(second.log().contains("stale LMDB reader slot"), "{}", second.log());
    let text = metrics_text(second.http());
    assert!(metric(&text, "lmdns_db_stale_readers_cleared_total").is_some_and(|n| n >= 1.0), "{text}");
    assert!(answers(second.addr(), "slots.test."));
}

#[test]
fn a_database_cut_short_is_refused_at_start() {
    let db = TestDb::empty(16 << 20);
    loader(&db.path, "16M", &["zone", "import", &zone_file(db.dir.path(), "cut.test.", 2_000)]);
    let file = db.path.join("data.mdb");
    let len = std::fs::metadata(&file).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&file).unwrap().set_len(len / 2).unwrap();
    let mut server = LmdnsCommand::new(&db.path).args(["--listen", "127.0.0.1:0"]).spawn();
    let status = server.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(1), "an exit code, not a signal: {status:?}\n{}", server.log());
    assert!(server.log().contains("truncated"), "{}", server.log());
}

#[test]
fn a_missing_database_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("typo");
    let mut server = LmdnsCommand::new(&typo).args(["--listen", "127.0.0.1:0"]).spawn();
    let status = server.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(1), "{status:?}\n{}", server.log());
    let log = server.log();
    assert!(log.contains("no lmdns database at") && log.contains("typo"), "{log}");
    assert!(!log.contains("No such file or directory"), "the cause said once, in words: {log}");
    assert!(!typo.exists(), "the server created {}", typo.display());
}

#[test]
fn a_corrupt_value_is_answered_servfail_counted_and_logged_once() {
    let db = TestDb::empty(16 << 20);
    loader(&db.path, "16M", &["zone", "import", &zone_file(db.dir.path(), "corrupt.test.", 10)]);
    // Damage one name's value behind the loader's back (what a bad disk or a bug would leave).
    {
        let store = lmdb_schema::Store::open(&db.path, &lmdb_schema::OpenOptions { map_size: 16 << 20, read_only: false }).unwrap();
        let mut txn = store.write_txn().unwrap();
        let key = lmdb_schema::name::key_from_dotted("h3.corrupt.test.").unwrap();
        store.names.put(&mut txn, &key, &[1, 9, 9, 9]).unwrap();
        txn.commit().unwrap();
    }
    let server =
        LmdnsCommand::new(&db.path).args(["--listen", "127.0.0.1:0", "--threads", "1", "--http", "127.0.0.1:0"]).attempts(3).start();
    let q = TestQuery { line: 0, name: "h3.corrupt.test.".into(), qtype: RecordType::TXT };
    for _ in 0..50 {
        let n = ask(server.addr(), &q, Form::Udp).ok().and_then(|ex| normalize(&ex.bytes).ok());
        assert_eq!(n.map(|n| n.rcode), Some("ServFail".to_string()));
    }
    assert!(answers(server.addr(), "corrupt.test."), "the rest of the zone is answered");
    let text = metrics_text(server.http());
    assert!(metric(&text, "lmdns_faults_total{kind=\"lookup\"}").is_some_and(|n| n >= 50.0), "{text}");
    let log = server.log();
    assert_eq!(log.matches("SERVFAIL on a database error").count(), 1, "logged once, not per query:\n{log}");
    assert!(log.contains("h3.corrupt.test"), "{log}");
}
