//! The query log at its edges: a packet that fails to parse is logged as itself, never with the
//! previous query's client subnet (possibly another client's); and a server whose log goes to a
//! pipe nobody reads still stops on SIGTERM.

mod common;

use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{example_zone, write_zones, DnsQuery, LmdnsCommand, TestDb, LMDNS_BIN, SERVER_EXTRA_ARGS};
use hickory_proto::rr::RecordType;

fn db_with_zone() -> TestDb {
    let db = TestDb::empty(16 << 20);
    write_zones(&db.path, &[("example.com.", example_zone("example.com."))]);
    db
}

#[test]
fn an_unparsable_packet_is_logged_without_the_previous_client_subnet() {
    let db = db_with_zone();
    let log = db.dir.path().join("queries.log");
    let server = LmdnsCommand::new(&db.path)
        .args(["--listen", "127.0.0.1:0", "--threads", "1", "--query-log", log.to_str().unwrap()])
        .attempts(3)
        .start();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = [0u8; 4096];
    let with_ecs = DnsQuery::new(1, "www.example.com.", RecordType::A).edns(1232, Some(("10.9.8.0", 24))).bytes();
    socket.send_to(&with_ecs, server.addr()).unwrap();
    socket.recv_from(&mut buf).unwrap();
    // QDCOUNT=2: FORMERR, answered and logged.
    let mut malformed = DnsQuery::new(2, "www.example.com.", RecordType::A).bytes();
    malformed[5] = 2;
    socket.send_to(&malformed, server.addr()).unwrap();
    socket.recv_from(&mut buf).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let lines = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<serde_json::Value> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        if lines.len() >= 2 {
            break lines;
        }
        assert!(Instant::now() < deadline, "two log lines within 10 s: {text}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(lines[0]["ecs"], "10.9.8.0/24", "{:?}", lines[0]);
    assert_eq!(lines[1]["rcode"], "FORMERR", "{:?}", lines[1]);
    assert!(lines[1]["ecs"].is_null(), "the malformed packet carried no subnet: {:?}", lines[1]);
}

#[test]
fn sigterm_stops_a_server_whose_log_pipe_is_full() {
    let db = db_with_zone();
    // stdout is a pipe this test never reads: the log fills it (64 KiB) and then blocks.
    let mut child = Command::new(LMDNS_BIN)
        .arg("--db")
        .arg(&db.path)
        .args(["--listen", "127.0.0.1:0", "--threads", "1", "--query-log", "-"])
        .args(SERVER_EXTRA_ARGS)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The start line (on stderr) names the port.
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let addr = loop {
        line.clear();
        assert!(std::io::BufRead::read_line(&mut stderr, &mut line).unwrap() > 0, "server exited before starting");
        if line.contains(common::START_LINE) {
            break common::parse_listen(&line)[0];
        }
    };
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let query = DnsQuery::new(3, "www.example.com.", RecordType::A).bytes();
    for _ in 0..3000 {
        let _ = socket.send_to(&query, addr);
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server did not exit within 15 s of SIGTERM with its log pipe full");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    drop(child.stdout.take());
}
