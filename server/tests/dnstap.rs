//! dnstap out of the real server, read back by the real readers: `dnstap-ldns` (of a file) and
//! `fstrm_capture` (the bidirectional Frame Streams socket), as an operator's collector would.
//! Every answered query is one AUTH_QUERY and one AUTH_RESPONSE with the client's address and
//! port, UDP or TCP, and the messages themselves.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{example_zone, require_tool, write_zones, DnsQuery, LmdnsCommand, LmdnsProcess, TestDb};
use hickory_proto::rr::RecordType;

fn server(db: &TestDb, target: &str) -> LmdnsProcess {
    LmdnsCommand::new(&db.path)
        .args(["--listen", "127.0.0.1:0", "--threads", "1", "--identity", "ns1.tap.test", "--dnstap", target])
        .attempts(3)
        .start()
}

/// Asks `name` A over UDP from a socket of our own; returns its port.
fn ask_udp(addr: SocketAddr, id: u16, name: &str) -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    socket.send_to(&DnsQuery::new(id, name, RecordType::A).bytes(), addr).unwrap();
    let mut buf = [0u8; 1500];
    let (n, _) = socket.recv_from(&mut buf).expect("an answer");
    assert!(n > 12);
    socket.local_addr().unwrap().port()
}

/// The YAML documents `dnstap-ldns -y` prints of `file`.
fn read_back(file: &Path) -> Vec<String> {
    let reader = require_tool("dnstap-ldns", "dnstap-ldns");
    let out = Command::new(reader).arg("-y").arg("-r").arg(file).output().unwrap();
    assert!(out.status.success(), "dnstap-ldns: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().split("\n---\n").map(str::to_string).filter(|d| d.contains("type: MESSAGE")).collect()
}

fn stop(mut server: LmdnsProcess) {
    server.signal(libc::SIGTERM);
    let status = server.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status}: {}", server.log());
}

/// Checks the documents of one UDP and one TCP query, in order.
fn assert_events(docs: &[String], udp_port: u16, tcp_port: u16) {
    assert_eq!(docs.len(), 4, "two queries, two messages each: {docs:#?}");
    let expect = [
        ("AUTH_QUERY", "UDP", udp_port, "www.example.com.\tIN\tA"),
        ("AUTH_RESPONSE", "UDP", udp_port, "www.example.com.\t300\tIN\tA\t192.0.2.1"),
        ("AUTH_QUERY", "TCP", tcp_port, "example.com.\tIN\tSOA"),
        ("AUTH_RESPONSE", "TCP", tcp_port, "example.com.\t300\tIN\tSOA"),
    ];
    for (doc, (kind, proto, port, text)) in docs.iter().zip(expect) {
        assert!(doc.contains(&format!("  type: {kind}\n")), "{kind}: {doc}");
        assert!(doc.contains(&format!("socket_protocol: {proto}\n")), "{proto}: {doc}");
        assert!(doc.contains("socket_family: INET\n") && doc.contains("query_address: \"127.0.0.1\"\n"), "{doc}");
        assert!(doc.contains(&format!("query_port: {port}\n")), "port {port}: {doc}");
        assert!(doc.contains("identity: \"ns1.tap.test\""), "{doc}");
        assert!(doc.contains(text), "{text:?} in {doc}");
        let message = if kind == "AUTH_QUERY" { "query_message: |" } else { "response_message: |" };
        assert!(doc.contains(message), "{doc}");
        if kind == "AUTH_RESPONSE" {
            assert!(doc.contains("flags: qr aa"), "{doc}");
        }
    }
}

/// Asks `example.com. SOA` over TCP; returns the port we asked from.
fn tcp_query(addr: SocketAddr) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let q = DnsQuery::new(7, "example.com.", RecordType::SOA).bytes();
    s.write_all(&(q.len() as u16).to_be_bytes()).unwrap();
    s.write_all(&q).unwrap();
    let mut len = [0u8; 2];
    s.read_exact(&mut len).unwrap();
    let mut answer = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut answer).unwrap();
    s.local_addr().unwrap().port()
}

#[test]
fn a_dnstap_file_reads_back_with_dnstap_ldns() {
    let db = TestDb::empty(16 << 20);
    write_zones(&db.path, &[("example.com.", example_zone("example.com."))]);
    let file = db.dir.path().join("tap.fstrm");
    let server = server(&db, &format!("file:{}", file.display()));
    let addr = server.addrs[0];
    let udp_port = ask_udp(addr, 1, "www.example.com.");
    let tcp_port = tcp_query(addr);
    stop(server);
    assert_events(&read_back(&file), udp_port, tcp_port);
}

struct Capture(Child);

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_frame_streams_collector_gets_the_events_once_it_is_there() {
    let capture_bin = require_tool("fstrm_capture", "fstrm-bin");
    let db = TestDb::empty(16 << 20);
    write_zones(&db.path, &[("example.com.", example_zone("example.com."))]);
    let socket = db.dir.path().join("dnstap.sock");
    let file = db.dir.path().join("captured.fstrm");
    // The server starts first: no collector yet, so it retries.
    let server = server(&db, &format!("unix:{}", socket.display()));
    let mut capture = Capture(
        Command::new(capture_bin)
            .args(["-t", "protobuf:dnstap.Dnstap", "-u"])
            .arg(&socket)
            .arg("-w")
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    while !server.log().contains("dnstap: connected to") {
        assert!(Instant::now() < deadline, "the server never connected to the collector: {}", server.log());
        assert!(capture.0.try_wait().unwrap().is_none(), "fstrm_capture exited");
        std::thread::sleep(Duration::from_millis(50));
    }
    let addr = server.addrs[0];
    let udp_port = ask_udp(addr, 1, "www.example.com.");
    let tcp_port = tcp_query(addr);
    // Stopping sends STOP and waits for the collector's FINISH; then the collector closes its
    // file on SIGINT, as an operator would stop it.
    stop(server);
    unsafe { libc::kill(capture.0.id() as libc::pid_t, libc::SIGINT) };
    let deadline = Instant::now() + Duration::from_secs(10);
    while capture.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "fstrm_capture did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_events(&read_back(&file), udp_port, tcp_port);
}
