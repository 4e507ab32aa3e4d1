//! UDP responses are never fragmented (RFC 9715) unless `--udp-fragments` is given: a response
//! longer than the interface MTU goes out truncated (TC=1), so the client retries over TCP.
//!
//! Loopback's MTU (65536) is larger than any UDP datagram, so each test runs on a thread of its
//! own in a network namespace of its own, whose loopback has an MTU of 1280. Creating one needs
//! CAP_SYS_ADMIN: holding it (root, as in CI) a failure is a test failure; without it the tests
//! say so and return.

mod common;

use std::io::{self, Write};
use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use common::secondary::metrics_text;
use common::tcp::{frame, read_frame, tcp_connect};
use common::{example_zone, rr, write_zones, DnsQuery, LmdnsCommand, LmdnsProcess, TestDb};
use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;

/// The namespace's loopback MTU: the IPv6 minimum, so both families can use it.
const MTU: usize = 1280;
/// TXT records of 200 bytes at `mid.example.com.`: ~1.7 KB, over the MTU and under 4096.
const MID_RECORDS: u8 = 8;

/// Runs `test` on a new thread inside a new network namespace whose loopback is up with an MTU of
/// [`MTU`]; the server it starts inherits the namespace. None: not permitted (and not root).
fn in_small_mtu_namespace<T: Send + 'static>(test: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    std::thread::spawn(move || {
        // SAFETY: unshare(2) with CLONE_NEWNET moves only this thread, which exists for the test.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            let e = io::Error::last_os_error();
            assert!(!holds_cap_sys_admin(), "CAP_SYS_ADMIN is held, yet no network namespace: {e}");
            eprintln!("skipped: creating a network namespace needs CAP_SYS_ADMIN ({e})");
            return None;
        }
        let ip = lmdns_testkit::require_tool("ip", "iproute2");
        let status = Command::new(ip).args(["link", "set", "lo", "mtu", &MTU.to_string(), "up"]).status().unwrap();
        assert!(status.success(), "ip link set lo: {status}");
        Some(test())
    })
    .join()
    .unwrap()
}

/// Whether this process's effective capabilities include CAP_SYS_ADMIN (bit 21 of CapEff).
fn holds_cap_sys_admin() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let eff = status.lines().find_map(|l| l.strip_prefix("CapEff:")).expect("CapEff in /proc/self/status");
    u64::from_str_radix(eff.trim(), 16).unwrap() & (1 << 21) != 0
}

/// A database with the example zone and `mid.example.com.` TXT.
fn mid_db() -> TestDb {
    let db = TestDb::empty(16 << 20);
    let mut records = example_zone("example.com.");
    for i in 0..MID_RECORDS {
        let mut txt = vec![199u8];
        txt.extend(std::iter::repeat_n(b'a' + i, 199));
        records.push(rr("mid.example.com.", 16, txt));
    }
    write_zones(&db.path, &[("example.com.", records)]);
    db
}

fn start(listen: &str, extra: &[&str]) -> LmdnsProcess {
    let args = [&["--threads", "1", "--listen", listen, "--max-udp-size", "4096", "--http", "127.0.0.1:0"], extra].concat();
    LmdnsCommand::owning(mid_db()).args(args).attempts(3).start()
}

/// The UDP reply to `name` TXT (EDNS, 4096 bytes offered): its length and the message.
fn ask(server: SocketAddr, id: u16, name: &str, rtype: RecordType) -> (usize, Message) {
    let socket = UdpSocket::bind(if server.is_ipv6() { "[::1]:0" } else { "127.0.0.1:0" }).unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let query = DnsQuery::new(id, name, rtype).edns(4096, None).bytes();
    let mut buf = [0u8; 65_535];
    for _ in 0..6 {
        socket.send_to(&query, server).unwrap();
        if let Ok((n, _)) = socket.recv_from(&mut buf) {
            return (n, Message::from_vec(&buf[..n]).unwrap());
        }
    }
    panic!("no UDP reply from {server} for {name}");
}

/// The value of the series `line_start` in the server's /metrics.
fn metric(server: &LmdnsProcess, line_start: &str) -> u64 {
    let text = metrics_text(server.http());
    common::secondary::metric(&text, line_start).unwrap_or_else(|| panic!("no {line_start} in:\n{text}")) as u64
}

/// Polls until the series reaches `want` (the worker's counters are stored after the send).
fn wait_metric(server: &LmdnsProcess, line_start: &str, want: u64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = metric(server, line_start);
        if got == want {
            return;
        }
        assert!(got < want && Instant::now() < deadline, "{line_start} is {got}, expected {want}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn ipv6_loopback_available() -> bool {
    UdpSocket::bind("[::1]:0").is_ok()
}

/// What every family must show by default: small answers whole, the oversized one cut to TC=1
/// with its OPT record and nothing else, and counted.
fn assert_cut_to_mtu(listen: &str) {
    let server = start(listen, &[]);
    let addr = server.addr();
    let (_, small) = ask(addr, 1, "www.example.com.", RecordType::A);
    assert!(!small.metadata.truncation);
    assert_eq!(small.answers.len(), 1);

    let (len, reply) = ask(addr, 2, "mid.example.com.", RecordType::TXT);
    assert!(len <= MTU, "{len}-byte reply on a {MTU}-byte link: it was fragmented");
    assert!(reply.metadata.truncation, "a reply too big for the MTU is sent with TC=1");
    assert!(reply.answers.is_empty() && reply.authorities.is_empty());
    assert_eq!(reply.metadata.id, 2);
    assert_eq!(reply.queries.len(), 1);
    assert!(reply.edns.is_some(), "the EDNS client gets its OPT record back");
    wait_metric(&server, "lmdns_udp_cut_to_mtu_total{proto=\"udp\"}", 1);
    wait_metric(&server, "lmdns_truncated_responses_total{proto=\"udp\"}", 1);

    // The same question over TCP gets the whole RRset, and the worker keeps answering.
    let mut stream = tcp_connect(addr);
    stream.write_all(&frame(&DnsQuery::new(3, "mid.example.com.", RecordType::TXT).bytes())).unwrap();
    let whole = read_frame(&mut stream);
    assert_eq!(whole.answers.len(), usize::from(MID_RECORDS));
    let (_, again) = ask(addr, 4, "www.example.com.", RecordType::A);
    assert_eq!(again.answers.len(), 1);
}

#[test]
fn reply_longer_than_the_mtu_is_sent_truncated_not_fragmented() {
    in_small_mtu_namespace(|| {
        assert_cut_to_mtu("127.0.0.1:0");
        if ipv6_loopback_available() {
            assert_cut_to_mtu("[::1]:0");
        } else {
            eprintln!("no IPv6 loopback in the namespace: IPv4 only");
        }
    });
}

#[test]
fn udp_fragments_flag_lets_the_kernel_fragment_it() {
    in_small_mtu_namespace(|| {
        let server = start("127.0.0.1:0", &["--udp-fragments"]);
        let (len, reply) = ask(server.addr(), 5, "mid.example.com.", RecordType::TXT);
        assert!(len > MTU, "{len} bytes: the reassembled datagram is larger than the link");
        assert!(!reply.metadata.truncation);
        assert_eq!(reply.answers.len(), usize::from(MID_RECORDS));
        assert_eq!(metric(&server, "lmdns_udp_cut_to_mtu_total{proto=\"udp\"}"), 0);
    });
}
