//! Abuse resistance against the real `lmdns-server` binary: response rate limiting (RRL) with
//! slip, ANY over UDP (RFC 8482 minimal answer, --any-to-tcp), the UDP size cap, and the
//! --allow-query / --allow-transfer access lists.
//!
//! All traffic stays on loopback (127.0.0.0/8; a second client network is simulated by binding
//! the client socket to 127.0.1.1). Every flood is bounded in count and time, every wait too.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{rr, run_lmdns, wire, write_zones, DnsQuery, LmdnsCommand, LmdnsProcess, TestDb};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

const IO_TIMEOUT: Duration = Duration::from_secs(3);
/// The second client network: another /24 on loopback (Linux routes all of 127/8 to lo).
const OTHER_NET_CLIENT: &str = "127.0.1.1";

// ---------------------------------------------------------------------------------------------
// Fixtures and the server process (common::LmdnsCommand)
// ---------------------------------------------------------------------------------------------

/// example.com: SOA, NS, www A, and `mid` with six 150-byte TXT records (a ~1 KB answer: over
/// 512 bytes, under the default 1232).
fn example_db() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let apex = "example.com.";
    let mut soa = wire("ns1.example.com.");
    soa.extend(wire("hostmaster.example.com."));
    for v in [1u32, 7200, 3600, 1_209_600, 60] {
        soa.extend_from_slice(&v.to_be_bytes());
    }
    let mut records = vec![
        rr(apex, 6, soa),
        rr(apex, 2, wire("ns1.example.com.")),
        rr("ns1.example.com.", 1, vec![192, 0, 2, 53]),
        rr("www.example.com.", 1, vec![192, 0, 2, 1]),
    ];
    for i in 0..6u8 {
        let mut txt = vec![149u8];
        txt.extend(std::iter::repeat_n(b'a' + i, 148));
        txt.push(b'0' + i);
        records.push(rr("mid.example.com.", 16, txt));
    }
    write_zones(&path, &[(apex, records)]);
    TestDb { dir, path }
}

/// Starts on 127.0.0.1, port 0, with example.com loaded, and waits for the start line (retried
/// in case port 0 picked a UDP port whose TCP twin was taken).
fn start_server(args: &[&str]) -> LmdnsProcess {
    LmdnsCommand::owning(example_db()).args(["--listen", "127.0.0.1:0"]).args(args).attempts(3).start()
}

// ---------------------------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------------------------

fn query(id: u16, name: &str, rtype: RecordType, edns_payload: Option<u16>) -> Vec<u8> {
    let q = DnsQuery::new(id, name, rtype);
    match edns_payload {
        Some(payload) => q.edns(payload, None),
        None => q,
    }
    .bytes()
}

fn udp_socket(bind: &str) -> UdpSocket {
    let socket = UdpSocket::bind((bind, 0)).unwrap_or_else(|e| panic!("bind {bind}: {e}"));
    socket.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    socket
}

/// Sends `packet` (resending a few times: UDP may drop) and returns the reply and its size.
fn udp_ask(socket: &UdpSocket, server: SocketAddr, packet: &[u8]) -> (Message, usize) {
    let mut buf = [0u8; 65_535];
    for _ in 0..6 {
        socket.send_to(packet, server).unwrap();
        match socket.recv_from(&mut buf) {
            Ok((n, _)) => return (Message::from_vec(&buf[..n]).expect("reply parses"), n),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) => panic!("recv from {server}: {e}"),
        }
    }
    panic!("no UDP reply from {server}");
}

fn tcp_ask(server: SocketAddr, packet: &[u8]) -> Message {
    let mut s = TcpStream::connect_timeout(&server, IO_TIMEOUT).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut framed = (packet.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(packet);
    s.write_all(&framed).unwrap();
    let mut len = [0u8; 2];
    s.read_exact(&mut len).expect("answer length");
    let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut msg).expect("answer body");
    Message::from_vec(&msg).expect("answer parses")
}

/// An empty TC=1 answer: question only, AA clear, no records.
fn is_empty_tc(m: &Message) -> bool {
    m.metadata.truncation
        && !m.metadata.authoritative
        && m.queries.len() == 1
        && m.answers.is_empty()
        && m.authorities.is_empty()
        && m.additionals.is_empty()
}

// ---------------------------------------------------------------------------------------------
// Response rate limiting
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Tally {
    answered: AtomicU64,
    slipped: AtomicU64,
    other: AtomicU64,
}

/// 2000 queries in about a second from 127.0.0.1 (four source ports, so SO_REUSEPORT spreads
/// them over both workers and the limit must hold across workers) with --rrl-rate 50
/// --rrl-slip 2: about 50/s plus the burst are answered, half the limited ones slip (TC=1,
/// empty); meanwhile a client in 127.0.1.0/24 is answered every time, and TCP from the flooding
/// source is answered too.
#[test]
fn rrl_limits_a_flood_per_prefix_and_slips_half() {
    const RATE: f64 = 50.0;
    const FLOOD: usize = 2000;
    const ROUNDS: usize = 40;
    let server = start_server(&["--threads", "2", "--rrl-rate", "50", "--rrl-slip", "2"]);
    let target = server.addr();
    assert!(server.log().contains("rate limiting on"), "{}", server.log());

    let flooders: Vec<UdpSocket> = (0..4).map(|_| udp_socket("127.0.0.1")).collect();
    let tally = Tally::default();
    let stop_receivers = AtomicBool::new(false);
    let query_bytes: Vec<Vec<u8>> = (0..FLOOD).map(|i| query(i as u16, "www.example.com.", RecordType::A, None)).collect();

    let elapsed = std::thread::scope(|s| {
        for socket in &flooders {
            let (tally, stop) = (&tally, &stop_receivers);
            socket.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
            s.spawn(move || {
                let mut buf = [0u8; 4096];
                // Bounded: the flag is set within a few seconds, each read waits at most 100 ms.
                while !stop.load(Ordering::Relaxed) {
                    let Ok(n) = socket.recv(&mut buf) else { continue };
                    let m = Message::from_vec(&buf[..n]).expect("reply parses");
                    let counter = if is_empty_tc(&m) {
                        &tally.slipped
                    } else if !m.metadata.truncation && m.answers.len() == 1 {
                        &tally.answered
                    } else {
                        &tally.other
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            });
        }

        // The other network: a few queries during the flood, each must be answered in full.
        let good = s.spawn(move || {
            let socket = udp_socket(OTHER_NET_CLIENT);
            for id in 0..10u16 {
                let (reply, _) = udp_ask(&socket, target, &query(id, "www.example.com.", RecordType::A, None));
                assert_eq!(reply.metadata.id, id);
                assert!(!reply.metadata.truncation, "client in another /24 got TC");
                assert_eq!(reply.answers.len(), 1, "client in another /24 not answered");
                std::thread::sleep(Duration::from_millis(80));
            }
        });

        let start = Instant::now();
        for round in 0..ROUNDS {
            let per_round = FLOOD / ROUNDS;
            for i in 0..per_round {
                let n = round * per_round + i;
                flooders[n % flooders.len()].send_to(&query_bytes[n], target).unwrap();
            }
            // Paced to ~1 s in all; sleep until this round's slot.
            let slot = start + Duration::from_millis(25 * (round as u64 + 1));
            if let Some(wait) = slot.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        let elapsed = start.elapsed();

        // TCP from the flooding source while its UDP is limited: answered.
        let reply = tcp_ask(target, &query(9999, "www.example.com.", RecordType::A, None));
        assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
        assert!(!reply.metadata.truncation);
        assert_eq!(reply.answers.len(), 1, "TCP is never rate limited");

        good.join().expect("the other network's client was answered");
        std::thread::sleep(Duration::from_millis(500)); // let the last replies arrive
        stop_receivers.store(true, Ordering::Relaxed);
        elapsed
    });

    let answered = tally.answered.load(Ordering::Relaxed) as f64;
    let slipped = tally.slipped.load(Ordering::Relaxed) as f64;
    let other = tally.other.load(Ordering::Relaxed);
    let secs = elapsed.as_secs_f64();
    // The server sees the flood over about the send time; allow 0.5 s of skew and 10%.
    let ceiling = (RATE * (secs + 0.5) + RATE) * 1.1;
    eprintln!("flood of {FLOOD} over {secs:.2}s: answered {answered}, slipped {slipped}, other {other}");
    assert_eq!(other, 0, "every reply is either an answer or a slip");
    assert!(secs < 5.0, "flood took {secs}s");
    assert!(answered <= ceiling, "answered {answered} > {ceiling:.0} (rate {RATE}/s over {secs:.2}s plus burst)");
    assert!(answered >= RATE * 0.8, "answered {answered}: not even the burst got through");
    // Limited responses are the rest of the flood; every 2nd of them slips.
    let limited = FLOOD as f64 - answered;
    let ratio = slipped / limited;
    assert!((0.4..=0.6).contains(&ratio), "slipped {slipped} of {limited} limited ({ratio:.2}), expected half");
}

/// --rrl-slip 0 drops every limited response; --rrl-slip 1 slips every one.
#[test]
fn rrl_slip_zero_drops_all_and_one_slips_all() {
    for (slip, expect_slips) in [("0", false), ("1", true)] {
        let server = start_server(&["--threads", "1", "--rrl-rate", "5", "--rrl-slip", slip]);
        let socket = udp_socket("127.0.0.1");
        socket.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        // 60 NXDOMAIN queries at once: 5 pass.
        for id in 0..60u16 {
            socket.send_to(&query(id, "nope.example.com.", RecordType::A, None), server.addr()).unwrap();
        }
        let (mut nx, mut slips) = (0, 0);
        let mut buf = [0u8; 4096];
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            let Ok(n) = socket.recv(&mut buf) else { break };
            let m = Message::from_vec(&buf[..n]).unwrap();
            if is_empty_tc(&m) {
                slips += 1;
            } else {
                assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
                nx += 1;
            }
        }
        // The 1 s window may refill a token or two while the 60 arrive.
        assert!((5..=7).contains(&nx), "slip {slip}: {nx} NXDOMAIN passed");
        if expect_slips {
            assert_eq!(nx + slips, 60, "slip 1: every limited response slips");
        } else {
            assert_eq!(slips, 0, "slip 0: no slips");
        }
    }
}

/// Sends `n` copies of `packet` at once and sorts the replies into (full answers, slips with
/// their OPT, slips without).
fn burst(socket: &UdpSocket, server: SocketAddr, packet: &[u8], n: u16) -> (u32, u32, u32) {
    for _ in 0..n {
        socket.send_to(packet, server).unwrap();
    }
    let (mut full, mut slip_opt, mut slip_bare) = (0, 0, 0);
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        let Ok(len) = socket.recv(&mut buf) else { break };
        let m = Message::from_vec(&buf[..len]).unwrap();
        match (is_empty_tc(&m), m.edns.is_some()) {
            (false, _) => full += 1,
            (true, true) => slip_opt += 1,
            (true, false) => slip_bare += 1,
        }
    }
    (full, slip_opt, slip_bare)
}

/// Each response kind has its own rate; a slipped answer to an EDNS query keeps the OPT record
/// (RFC 6891 §7); log-only mode sends everything and counts what it would have limited.
#[test]
fn rrl_rates_per_kind_opt_on_slips_and_log_only() {
    let server = start_server(&["--threads", "1", "--rrl-rate", "1000", "--rrl-nxdomain-rate", "5", "--rrl-slip", "1"]);
    let socket = udp_socket("127.0.0.1");
    socket.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let (full, slip_opt, slip_bare) = burst(&socket, server.addr(), &query(1, "nope.example.com.", RecordType::A, Some(1232)), 60);
    assert!((5..=7).contains(&full), "NXDOMAIN at 5/s: {full} passed");
    assert_eq!((full + slip_opt, slip_bare), (60, 0), "every limited one slips, with its OPT");
    // Answers from the same network have their own, higher rate.
    let (full, slips, _) = burst(&socket, server.addr(), &query(2, "www.example.com.", RecordType::A, None), 60);
    assert_eq!((full, slips), (60, 0), "answers at 1000/s are not limited");
    drop(server);

    let server = start_server(&["--threads", "1", "--rrl-rate", "5", "--rrl-log-only", "--http", "127.0.0.1:0"]);
    let (full, slip_opt, slip_bare) = burst(&socket, server.addr(), &query(3, "www.example.com.", RecordType::A, None), 60);
    assert_eq!((full, slip_opt + slip_bare), (60, 0), "log only: everything is sent");
    let text = common::secondary::metrics_text(server.http());
    let would = common::secondary::metric(&text, "lmdns_rrl_would_limit_total").unwrap_or(0.0);
    assert!(would >= 50.0, "{text}");
    assert_eq!(common::secondary::metric(&text, "lmdns_rrl_dropped_total"), Some(0.0));
    assert!(server.log().contains("RRL (log only)"), "{}", server.log());
}

// ---------------------------------------------------------------------------------------------
// ANY and the UDP size limit
// ---------------------------------------------------------------------------------------------

#[test]
fn any_gets_minimal_answer_and_any_to_tcp_sends_udp_to_tcp() {
    let q = query(7, "example.com.", RecordType::ANY, Some(1232));
    // Default: RFC 8482 minimal answer over UDP, one RRset.
    let server = start_server(&["--threads", "1"]);
    let socket = udp_socket("127.0.0.1");
    let (minimal, _) = udp_ask(&socket, server.addr(), &q);
    assert!(!minimal.metadata.truncation);
    assert!(minimal.metadata.authoritative);
    assert!(!minimal.answers.is_empty());
    let rtype = minimal.answers[0].record_type();
    assert!(minimal.answers.iter().all(|r| r.record_type() == rtype), "one RRset: {:?}", minimal.answers);
    drop(server);

    // --any-to-tcp: UDP gets TC=1 with the question only; TCP gets the same minimal answer.
    let server = start_server(&["--threads", "1", "--any-to-tcp"]);
    let (reply, _) = udp_ask(&socket, server.addr(), &q);
    assert!(is_empty_tc(&reply), "{reply:?}");
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert_eq!(reply.queries[0].query_type(), RecordType::ANY);
    assert!(reply.edns.is_some(), "EDNS echoed");
    let over_tcp = tcp_ask(server.addr(), &q);
    assert!(!over_tcp.metadata.truncation);
    assert_eq!(over_tcp.answers, minimal.answers, "TCP gets the RFC 8482 minimal answer");
    // A name of no zone here keeps its REFUSED: the rule applies once the zone is known.
    let (reply, _) = udp_ask(&socket, server.addr(), &query(9, "example.org.", RecordType::ANY, Some(1232)));
    assert_eq!(reply.metadata.response_code, ResponseCode::Refused);
    assert!(!reply.metadata.truncation);
    // Other types over UDP are unaffected.
    let (reply, _) = udp_ask(&socket, server.addr(), &query(8, "www.example.com.", RecordType::A, None));
    assert!(!reply.metadata.truncation);
    assert_eq!(reply.answers.len(), 1);
}

/// With --max-udp-size 512 a ~1 KB answer to a client advertising 4096 is truncated (TC=1,
/// within 512 bytes, our OPT says 512); without the cap it fits whole; TCP always gets it whole.
#[test]
fn max_udp_size_caps_what_edns_clients_advertise() {
    let q = query(11, "mid.example.com.", RecordType::TXT, Some(4096));
    let socket = udp_socket("127.0.0.1");

    let server = start_server(&["--threads", "1", "--max-udp-size", "512"]);
    let (reply, n) = udp_ask(&socket, server.addr(), &q);
    assert!(n <= 512, "UDP reply of {n} bytes beyond --max-udp-size 512");
    assert!(reply.metadata.truncation, "TC=1 beyond the limit");
    assert!(reply.answers.is_empty(), "no partial RRset");
    assert_eq!(reply.edns.as_ref().map(|e| e.max_payload()), Some(512), "our OPT advertises the cap");
    let over_tcp = tcp_ask(server.addr(), &q);
    assert!(!over_tcp.metadata.truncation);
    assert_eq!(over_tcp.answers.len(), 6);
    drop(server);

    let server = start_server(&["--threads", "1"]);
    let (reply, n) = udp_ask(&socket, server.addr(), &q);
    assert!(n > 512 && n <= 1232, "{n}");
    assert!(!reply.metadata.truncation);
    assert_eq!(reply.answers.len(), 6);
}

// ---------------------------------------------------------------------------------------------
// Access lists
// ---------------------------------------------------------------------------------------------

#[test]
fn allow_query_refuses_other_sources() {
    let server = start_server(&["--threads", "1", "--allow-query", "127.0.1.0/24", "--allow-transfer", "127.0.0.1"]);
    let q = query(21, "www.example.com.", RecordType::A, Some(1232));

    let outside = udp_socket("127.0.0.1");
    let (reply, _) = udp_ask(&outside, server.addr(), &q);
    assert_eq!(reply.metadata.response_code, ResponseCode::Refused);
    assert!(reply.answers.is_empty() && reply.authorities.is_empty());
    assert!(!reply.metadata.authoritative);
    let reply = tcp_ask(server.addr(), &q);
    assert_eq!(reply.metadata.response_code, ResponseCode::Refused, "TCP is checked too");

    let inside = udp_socket(OTHER_NET_CLIENT);
    let (reply, _) = udp_ask(&inside, server.addr(), &q);
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert_eq!(reply.answers.len(), 1);

    // --allow-query comes first: outside it even a source --allow-transfer names is REFUSED.
    let axfr = tcp_ask(server.addr(), &query(22, "example.com.", RecordType::AXFR, None));
    assert_eq!(axfr.metadata.response_code, ResponseCode::Refused);
}

#[test]
fn bad_cidr_is_a_startup_error_naming_it() {
    for (flag, value) in [("--allow-query", "127.0.0.1/8"), ("--allow-transfer", "2001:db8::1/32"), ("--allow-query", "10.0.0.0/40")] {
        for check in [true, false] {
            let mut args = vec!["--db", "/nonexistent", flag, value];
            if check {
                args.push("--check-config");
            }
            let out = run_lmdns(&args);
            assert!(!out.status.success(), "{flag} {value} accepted");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.contains(value), "{flag} {value}: {stderr}");
        }
    }
}

#[test]
fn flags_are_in_help_check_config_and_toml() {
    let help = String::from_utf8_lossy(&run_lmdns(&["--help"]).stdout).to_string();
    for flag in [
        "--rrl-rate",
        "--rrl-slip",
        "--rrl-table-size",
        "--rrl-nxdomain-rate",
        "--rrl-log-only",
        "--cookie-secret",
        "--any-to-tcp",
        "--allow-query",
        "--allow-transfer",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }

    let out = run_lmdns(&["--db", "/x", "--cookie-secret", "not-hex", "--check-config"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("cookie_secret"), "{out:?}");
    let out = run_lmdns(&["--db", "/x", "--check-config"]);
    assert!(out.status.success());
    let printed: toml::Table = toml::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(printed["rrl_rate"].as_integer(), Some(0));
    assert_eq!(printed["rrl_slip"].as_integer(), Some(2));
    assert_eq!(printed["rrl_table_size"].as_integer(), Some(100_000));
    assert_eq!(printed["any_to_tcp"].as_bool(), Some(false));
    let any: Vec<_> = printed["allow_query"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(any, ["0.0.0.0/0", "::/0"]);
    assert!(printed["allow_transfer"].as_array().unwrap().is_empty());

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(
        &file,
        "db = \"/x\"\nrrl_rate = 20\nrrl_slip = 0\nrrl_table_size = 5000\nany_to_tcp = true\n\
         allow_query = [\"192.0.2.0/24\", \"2001:db8::1\"]\nallow_transfer = [\"192.0.2.53\"]\n",
    )
    .unwrap();
    let out = run_lmdns(&["--config", file.to_str().unwrap(), "--rrl-rate", "30", "--check-config"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: toml::Table = toml::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(printed["rrl_rate"].as_integer(), Some(30), "the flag beats the file");
    assert_eq!(printed["rrl_slip"].as_integer(), Some(0));
    assert_eq!(printed["rrl_table_size"].as_integer(), Some(5000));
    assert_eq!(printed["any_to_tcp"].as_bool(), Some(true));
    let allow: Vec<_> = printed["allow_query"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(allow, ["192.0.2.0/24", "2001:db8::1/128"]);
    assert_eq!(printed["allow_transfer"][0].as_str(), Some("192.0.2.53/32"));
}
