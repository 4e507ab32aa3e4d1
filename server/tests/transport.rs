//! Transport tests against the real `lmdns-server` binary: UDP, TCP (RFC 7766), signals, config.
//!
//! Every server listens on loopback with port 0 and the tests read the effective addresses from
//! its start log line, so parallel tests never race for a port. Every wait is bounded in count
//! and time.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::tcp::{closed_within, frame, query_bytes, read_frame, tcp_ask, tcp_connect};
use common::{example_zone, run_lmdns, write_zones, DnsQuery, LmdnsCommand, LmdnsProcess, TestDb};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::opt::EdnsOption;
use hickory_proto::rr::{Name, RecordType};
use lmdns_loader::zones::Rr;

/// An empty but valid database (what the loader creates before any zone).
fn empty_db() -> TestDb {
    TestDb::empty(16 << 20)
}

/// Writes (or replaces) a zone the way lmdns-loader does, in one committed transaction.
fn load_zone(db: &Path, apex: &str, records: Vec<Rr>) {
    write_zones(db, &[(apex, records)]);
}

fn ipv6_loopback_available() -> bool {
    UdpSocket::bind("[::1]:0").is_ok()
}

/// Starts the server on an empty database; see [`start_server_with`].
fn start_server(args: &[&str]) -> LmdnsProcess {
    start_server_with(empty_db(), args)
}

/// Starts the server and waits for its start line; retries a couple of times in case port 0
/// picked a UDP port whose TCP twin was taken.
fn start_server_with(db: TestDb, args: &[&str]) -> LmdnsProcess {
    LmdnsCommand::owning(db).args(args).attempts(3).start()
}

fn query(id: u16, name: &str) -> Message {
    DnsQuery::new(id, name, RecordType::A).message()
}

fn client_socket_for(server: SocketAddr) -> UdpSocket {
    let socket = if server.is_ipv6() { UdpSocket::bind("[::1]:0") } else { UdpSocket::bind("127.0.0.1:0") }.unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    socket
}

/// Sends `packet` over UDP (resending a few times: UDP may drop) and returns the reply and the
/// address it came from.
fn udp_exchange(socket: &UdpSocket, server: SocketAddr, packet: &[u8]) -> (Message, SocketAddr) {
    let mut buf = [0u8; 65_535];
    for _ in 0..6 {
        socket.send_to(packet, server).unwrap();
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => return (Message::from_vec(&buf[..n]).expect("reply parses"), from),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) => panic!("recv from {server}: {e}"),
        }
    }
    panic!("no UDP reply from {server}");
}

fn assert_reply_to(reply: &Message, id: u16) {
    assert_eq!(reply.metadata.id, id);
    assert_eq!(reply.metadata.message_type, MessageType::Response);
}

fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

// ---------------------------------------------------------------------------------------------
// UDP

#[test]
fn udp_reply_keeps_id_and_comes_from_the_queried_address() {
    let mut args = vec!["--threads", "1", "--listen", "127.0.0.1:0"];
    if ipv6_loopback_available() {
        args.extend(["--listen", "[::1]:0"]);
    }
    let server = start_server(&args);
    assert_eq!(server.addrs.len(), args.len() / 2 - 1);
    for &addr in &server.addrs {
        let socket = client_socket_for(addr);
        let (reply, from) = udp_exchange(&socket, addr, &query_bytes(0xbeef, "no-such-zone.example."));
        assert_eq!(from, addr, "reply must leave from the queried address");
        assert_reply_to(&reply, 0xbeef);
        assert_eq!(reply.metadata.response_code, ResponseCode::Refused, "a name in no zone is refused");
    }
}

/// A worker with two sockets waits in poll(2) (one socket: in recvmmsg itself): both addresses
/// answer, each from its own address, and queries alternating between them are all answered.
#[test]
fn udp_worker_with_two_addresses_answers_on_both() {
    let server = start_server(&["--threads", "1", "--listen", "127.0.0.1:0", "--listen", "127.0.0.2:0"]);
    assert_eq!(server.addrs.len(), 2);
    let sockets: Vec<_> = server.addrs.iter().map(|&a| (a, client_socket_for(a))).collect();
    for round in 0..20u16 {
        for (i, (addr, socket)) in sockets.iter().enumerate() {
            let id = round * 2 + i as u16;
            let (reply, from) = udp_exchange(socket, *addr, &query_bytes(id, "no-such-zone.example."));
            assert_eq!(from, *addr, "reply must leave from the queried address");
            assert_reply_to(&reply, id);
        }
    }
}

#[test]
fn udp_query_longer_than_512_bytes_is_answered() {
    let server = start_server(&["--threads", "1", "--listen", "127.0.0.1:0"]);
    let mut q = query(7, "example.com.");
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    // EDNS padding (option 12) makes the query 1000+ bytes, like a padded privacy query would be.
    edns.options_mut().insert(EdnsOption::Unknown(12, vec![0; 1000]));
    q.set_edns(edns);
    let bytes = q.to_vec().unwrap();
    assert!(bytes.len() > 1000);
    let socket = client_socket_for(server.addr());
    let (reply, _) = udp_exchange(&socket, server.addr(), &bytes);
    assert_reply_to(&reply, 7);
}

#[test]
fn udp_several_workers_all_answer() {
    let server = start_server(&["--threads", "2", "--listen", "127.0.0.1:0"]);
    let port = server.addr().port();
    // Each worker has its own SO_REUSEPORT socket on the port.
    let sockets_on_port = std::fs::read_to_string("/proc/net/udp")
        .unwrap()
        .lines()
        .skip(1)
        .filter(|l| l.split_whitespace().nth(1).is_some_and(|local| local.ends_with(&format!(":{port:04X}"))))
        .count();
    assert_eq!(sockets_on_port, 2, "one UDP socket per worker");
    // The kernel hashes each client (source port) to one worker: with 40 clients, both workers
    // get some (all to one has probability 2^-39), and every client must be answered.
    let clients: Vec<UdpSocket> = (0..40).map(|_| client_socket_for(server.addr())).collect();
    for (i, c) in clients.iter().enumerate() {
        let (reply, from) = udp_exchange(c, server.addr(), &query_bytes(1000 + i as u16, "example.com."));
        assert_eq!(from, server.addr());
        assert_reply_to(&reply, 1000 + i as u16);
    }
}

#[test]
fn udp_burst_is_answered_across_many_batches() {
    // Small batches so one wakeup drains several full batches (the recvmmsg/sendmmsg loop).
    let server = start_server(&["--threads", "2", "--batch-size", "8", "--listen", "127.0.0.1:0"]);
    // 8 clients x 100 queries sent back to back, replies read afterwards: 100 small replies fit
    // in a client's default receive buffer, so none should be lost on loopback.
    let clients: Vec<UdpSocket> = (0..8).map(|_| client_socket_for(server.addr())).collect();
    for (c, socket) in clients.iter().enumerate() {
        for q in 0..100u16 {
            socket.send_to(&query_bytes(c as u16 * 100 + q, "burst.example."), server.addr()).unwrap();
        }
    }
    let mut buf = [0u8; 4096];
    for (c, socket) in clients.iter().enumerate() {
        let mut seen = [false; 100];
        for _ in 0..100 {
            let (n, from) = socket
                .recv_from(&mut buf)
                .unwrap_or_else(|e| panic!("client {c}: only {} replies: {e}", seen.iter().filter(|s| **s).count()));
            assert_eq!(from, server.addr());
            let reply = Message::from_vec(&buf[..n]).unwrap();
            let id = reply.metadata.id.wrapping_sub(c as u16 * 100) as usize;
            assert!(id < 100 && !seen[id], "unexpected reply id {}", reply.metadata.id);
            seen[id] = true;
        }
    }
}

/// Needs a wildcard bind, so it is not run by default: the server binds 0.0.0.0 (traffic stays on
/// loopback). Run with `cargo test -p lmdns-server --test transport -- --ignored`.
#[test]
#[ignore = "binds 0.0.0.0"]
fn udp_reply_from_wildcard_bind_uses_the_destination_address() {
    let server = start_server(&["--threads", "1", "--listen", "0.0.0.0:0"]);
    let port = server.addr().port();
    // 127.0.0.2 is loopback too on Linux, but not the address a plain reply would come from.
    let target: SocketAddr = format!("127.0.0.2:{port}").parse().unwrap();
    let socket = client_socket_for(target);
    let (reply, from) = udp_exchange(&socket, target, &query_bytes(42, "example.com."));
    assert_eq!(from, target);
    assert_reply_to(&reply, 42);
}

// ---------------------------------------------------------------------------------------------
// TCP

#[test]
fn tcp_pipelined_queries_in_one_write_are_answered_in_order() {
    let server = start_server(&["--threads", "1", "--listen", "127.0.0.1:0"]);
    let mut stream = tcp_connect(server.addr());
    let mut both = frame(&query_bytes(1, "a.example."));
    both.extend(frame(&query_bytes(2, "b.example.")));
    stream.write_all(&both).unwrap();
    assert_reply_to(&read_frame(&mut stream), 1);
    assert_reply_to(&read_frame(&mut stream), 2);
    // And the connection carries further queries.
    assert_reply_to(&tcp_ask(&mut stream, 3), 3);
}

#[test]
fn tcp_query_split_across_writes_is_answered() {
    let server = start_server(&["--threads", "1", "--listen", "127.0.0.1:0"]);
    let mut stream = tcp_connect(server.addr());
    stream.set_nodelay(true).unwrap();
    let framed = frame(&query_bytes(77, "split.example."));
    for chunk in [&framed[..1], &framed[1..5], &framed[5..]] {
        stream.write_all(chunk).unwrap();
        stream.flush().unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_reply_to(&read_frame(&mut stream), 77);
    // A query and a half, then the other half.
    let mut next = frame(&query_bytes(78, "x.example."));
    let second = frame(&query_bytes(79, "y.example."));
    next.extend_from_slice(&second[..3]);
    stream.write_all(&next).unwrap();
    assert_reply_to(&read_frame(&mut stream), 78);
    std::thread::sleep(Duration::from_millis(50));
    stream.write_all(&second[3..]).unwrap();
    assert_reply_to(&read_frame(&mut stream), 79);
}

#[test]
fn tcp_many_pipelined_queries_with_a_slow_reader_are_all_answered_in_order() {
    // Far more than the socket buffers hold: the server must stop reading while an answer is
    // unsent, resume on writability, and lose nothing.
    const N: u16 = 20_000;
    let server = start_server(&["--threads", "1", "--listen", "127.0.0.1:0"]);
    let mut stream = tcp_connect(server.addr());
    let mut writer = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let mut all = Vec::new();
        for id in 0..N {
            all.extend(frame(&query_bytes(id, "pipeline.example.")));
        }
        writer.write_all(&all).unwrap();
    });
    std::thread::sleep(Duration::from_millis(200)); // let both sides' buffers fill up
    for id in 0..N {
        assert_reply_to(&read_frame(&mut stream), id);
    }
    sender.join().unwrap();
}

#[test]
fn tcp_queries_before_a_half_close_are_answered_then_closed() {
    let server = start_server(&["--threads", "1", "--listen", "127.0.0.1:0"]);
    let mut stream = tcp_connect(server.addr());
    let mut both = frame(&query_bytes(11, "a.example."));
    both.extend(frame(&query_bytes(12, "b.example.")));
    stream.write_all(&both).unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    assert_reply_to(&read_frame(&mut stream), 11);
    assert_reply_to(&read_frame(&mut stream), 12);
    assert!(closed_within(&mut stream, Duration::from_secs(3)).is_some(), "closed after the last answer");
}

#[test]
fn tcp_idle_connection_is_closed() {
    let server = start_server(&["--threads", "1", "--listen", "127.0.0.1:0", "--tcp-idle-timeout", "1"]);
    let mut stream = tcp_connect(server.addr());
    assert_reply_to(&tcp_ask(&mut stream, 9), 9);
    let took = closed_within(&mut stream, Duration::from_secs(6)).expect("idle connection closed");
    assert!(took >= Duration::from_millis(800), "closed too early: {took:?}");
    assert!(took <= Duration::from_secs(4), "closed too late: {took:?}");
}

#[test]
fn sigterm_and_sigint_stop_cleanly_with_exit_0() {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let mut server = start_server(&["--threads", "2", "--listen", "127.0.0.1:0"]);
        let mut idle = tcp_connect(server.addr());
        assert_reply_to(&tcp_ask(&mut idle, 1), 1);
        server.signal(sig);
        let status = server.wait_exit(Duration::from_secs(5));
        assert!(status.success(), "signal {sig}: {status}; log: {}", server.log());
    }
}

#[test]
fn start_line_reports_addresses_workers_database_and_zone_count() {
    let db = empty_db();
    load_zone(&db.path, "example.com.", example_zone("example.com."));
    load_zone(&db.path, "example.org.", example_zone("example.org."));
    let db_path = db.path.display().to_string();
    let server = start_server_with(db, &["--threads", "2", "--listen", "127.0.0.1:0"]);
    let log = server.log();
    let line = log.lines().find(|l| l.contains("lmdns-server started")).unwrap();
    assert!(line.contains("zones=2"), "{line}");
    assert!(line.contains("workers=2"), "{line}");
    assert!(line.contains(&db_path), "{line}");
    assert!(line.contains(&format!("listen={}", server.addr())), "{line}");
    assert_eq!(log.lines().count(), 1, "one line at start, nothing more: {log}");
}

#[test]
fn explicit_listen_address_that_cannot_be_bound_is_fatal() {
    let db = empty_db();
    // 192.0.2.1 (TEST-NET-1) is on no interface here: bind fails, no packet is sent.
    let out = run_lmdns(&["--db", db.path.to_str().unwrap(), "--listen", "127.0.0.1:0", "--listen", "192.0.2.1:0"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot listen on 192.0.2.1:0"), "{stderr}");
}

#[test]
fn missing_database_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing");
    let out = run_lmdns(&["--db", missing.to_str().unwrap(), "--listen", "127.0.0.1:0"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot open the database"), "{stderr}");
}

#[test]
fn zone_committed_while_running_is_served_on_the_next_batch() {
    let server = start_server(&["--threads", "2", "--listen", "127.0.0.1:0"]);
    let socket = client_socket_for(server.addr());
    let (reply, _) = udp_exchange(&socket, server.addr(), &query(1, "www.example.com.").to_vec().unwrap());
    assert_eq!(reply.metadata.response_code, ResponseCode::Refused, "no zone yet");

    load_zone(&server.db().path, "example.com.", example_zone("example.com."));
    // Each batch opens a fresh read transaction, so the very next query sees the commit.
    let (reply, _) = udp_exchange(&socket, server.addr(), &query(2, "www.example.com.").to_vec().unwrap());
    assert_reply_to(&reply, 2);
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert!(reply.metadata.authoritative);
    assert_eq!(reply.answers.len(), 1);
    let mut stream = tcp_connect(server.addr());
    stream.write_all(&frame(&query(3, "www.example.com.").to_vec().unwrap())).unwrap();
    let reply = read_frame(&mut stream);
    assert_reply_to(&reply, 3);
    assert_eq!(reply.answers.len(), 1);
}

#[test]
fn large_answer_is_truncated_over_udp_and_whole_over_tcp() {
    let db = empty_db();
    load_zone(&db.path, "example.com.", example_zone("example.com."));
    let server = start_server_with(db, &["--threads", "1", "--listen", "127.0.0.1:0"]);
    let mut q = Message::new(5, MessageType::Query, OpCode::Query);
    q.add_query(Query::query(Name::from_ascii("big.example.com.").unwrap(), RecordType::TXT));
    let mut edns = Edns::new();
    edns.set_max_payload(4096);
    q.set_edns(edns);
    let bytes = q.to_vec().unwrap();

    let socket = client_socket_for(server.addr());
    let mut buf = [0u8; 65_535];
    socket.send_to(&bytes, server.addr()).unwrap();
    let (n, _) = socket.recv_from(&mut buf).expect("UDP reply");
    assert!(n <= 1232, "UDP reply of {n} bytes exceeds --max-udp-size");
    let reply = Message::from_vec(&buf[..n]).unwrap();
    assert!(reply.metadata.truncation, "TC set when the answer does not fit");

    let mut stream = tcp_connect(server.addr());
    stream.write_all(&frame(&bytes)).unwrap();
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).unwrap();
    let len = u16::from_be_bytes(len) as usize;
    assert!(len > 16_000, "TCP answer has no UDP limit: {len} bytes");
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).unwrap();
    let reply = Message::from_vec(&body).unwrap();
    assert!(!reply.metadata.truncation);
    assert_eq!(reply.answers.len(), 100);
}

// ---------------------------------------------------------------------------------------------
// Configuration

#[test]
fn check_config_with_unknown_key_fails_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "c.toml", "threads = 2\nbogus_key = 1\n");
    let out = run_lmdns(&["--db", "/nonexistent", "--config", file.to_str().unwrap(), "--check-config"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bogus_key"), "{stderr}");
}

#[test]
fn check_config_flags_override_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(
        dir.path(),
        "c.toml",
        "db = \"/srv/dns\"\nthreads = 4\nbatch_size = 32\nlisten = [\"127.0.0.1:5300\"]\ntcp_idle_timeout = 5\n",
    );
    let out = run_lmdns(&["--config", file.to_str().unwrap(), "--threads", "3", "--tcp-idle-timeout", "7", "--check-config"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: toml::Table = toml::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(printed["threads"].as_integer(), Some(3));
    assert_eq!(printed["tcp_idle_timeout"].as_integer(), Some(7));
    assert_eq!(printed["batch_size"].as_integer(), Some(32));
    assert_eq!(printed["db"].as_str(), Some("/srv/dns"));
    assert_eq!(printed["listen"].as_array().unwrap()[0].as_str(), Some("127.0.0.1:5300"));
    assert_eq!(printed["max_udp_size"].as_integer(), Some(1232));
    assert_eq!(printed["tcp_max_connections"].as_integer(), Some(1024));
    // --listen on the command line replaces the file's list.
    let out = run_lmdns(&["--config", file.to_str().unwrap(), "--listen", "[::1]:53", "--check-config"]);
    let printed: toml::Table = toml::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(printed["listen"].as_array().unwrap().len(), 1);
    assert_eq!(printed["listen"][0].as_str(), Some("[::1]:53"));
}

#[test]
fn check_config_rejects_out_of_range_values() {
    for (flag, value, named) in
        [("--batch-size", "65", "batch_size"), ("--threads", "0", "threads"), ("--max-udp-size", "100", "max_udp_size")]
    {
        let out = run_lmdns(&["--db", "/x", flag, value, "--check-config"]);
        assert!(!out.status.success(), "{flag} {value}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(named), "{flag}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let out = run_lmdns(&["--check-config"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--db"));
}

#[test]
fn help_explains_every_flag() {
    let out = run_lmdns(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--db",
        "--listen",
        "--threads",
        "--config",
        "--max-udp-size",
        "--udp-fragments",
        "--tcp-idle-timeout",
        "--tcp-max-connections",
        "--map-size",
        "--batch-size",
        "--check-config",
        "--log-level",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
}
