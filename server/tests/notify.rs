//! NOTIFY out, seen from a secondary's socket: what the message holds, that an unanswered one
//! is sent again and an answered one is not, that a target with a key gets it signed, that a
//! refusal is counted and logged once, and that generated catalogs are notified when zones
//! come and go. The counters are read back from /metrics.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use common::{LmdnsCommand, LmdnsProcess, TestDb};
use lmdns_proto::tsig::{self, Algorithm, Key};
use lmdns_proto::wire;

const SECRET_B64: &str = "3q2+7wECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxw=";

fn loader(db: &TestDb, args: &[&str]) {
    let mut all = vec!["--db", db.path.to_str().unwrap()];
    all.extend_from_slice(args);
    assert_eq!(lmdns_loader::cli::run_args(all.clone()).unwrap(), std::process::ExitCode::SUCCESS, "{all:?}");
}

fn import(db: &TestDb, apex: &str, serial: u32) {
    let file = db.dir.path().join(format!("{apex}zone"));
    std::fs::write(
        &file,
        format!("$ORIGIN {apex}\n$TTL 300\n@ SOA ns1 hostmaster {serial} 3600 600 86400 300\n  NS ns1\nns1 A 192.0.2.53\n"),
    )
    .unwrap();
    loader(db, &["zone", "import", file.to_str().unwrap()]);
}

/// A stand-in secondary: a UDP socket that receives NOTIFYs and answers as told.
struct FakeSecondary {
    socket: UdpSocket,
}

impl FakeSecondary {
    fn new() -> FakeSecondary {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        FakeSecondary { socket }
    }

    fn addr(&self) -> SocketAddr {
        self.socket.local_addr().unwrap()
    }

    /// The next NOTIFY (bytes and sender), within `within`.
    fn receive(&self, within: Duration) -> (Vec<u8>, SocketAddr) {
        self.socket.set_read_timeout(Some(within)).unwrap();
        let mut buf = [0u8; 4096];
        let (n, from) = self.socket.recv_from(&mut buf).unwrap_or_else(|e| panic!("no NOTIFY within {within:?}: {e}"));
        (buf[..n].to_vec(), from)
    }

    /// Answers `notify` with `rcode` (the question echoed, QR set), as a secondary does.
    fn answer(&self, notify: &[u8], to: SocketAddr, rcode: u8) {
        self.answer_signed(notify, to, rcode, None);
    }

    /// [`answer`](Self::answer), signed with `key` over the request MAC when given.
    fn answer_signed(&self, notify: &[u8], to: SocketAddr, rcode: u8, key: Option<(&Key, &[u8])>) {
        let parsed = wire::parse(notify).unwrap();
        let mut reply = notify[..12].to_vec();
        reply[2] = 0x80 | (notify[2] & 0x78) | 0x04;
        reply[3] = rcode;
        reply[4..12].copy_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
        reply.extend_from_slice(&parsed.questions[0].name);
        reply.extend_from_slice(&[0, 6, 0, 1]);
        if let Some((key, mac)) = key {
            tsig::sign_response(&mut reply, key, mac, now(), tsig::DEFAULT_FUDGE, 0, &[]);
        }
        self.socket.send_to(&reply, to).unwrap();
    }
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn metric(server: &LmdnsProcess, series: &str) -> u64 {
    let text = common::secondary::metrics_text(server.http());
    common::secondary::metric(&text, series).unwrap_or_else(|| panic!("no {series} in:\n{text}")) as u64
}

fn wait_metric(server: &LmdnsProcess, line_start: &str, at_least: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(server, line_start) < at_least {
        assert!(Instant::now() < deadline, "{line_start} stayed below {at_least}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_commit_notifies_at_once_and_an_unanswered_notify_is_sent_again() {
    let db = TestDb::empty(64 << 20);
    import(&db, "n.test.", 1);
    let secondary = FakeSecondary::new();
    let target = secondary.addr().to_string();
    let server = LmdnsCommand::new(&db.path)
        .args(["--listen", "127.0.0.1:0", "--threads", "1", "--http", "127.0.0.1:0", "--notify", &target])
        .start();

    let committed = Instant::now();
    loader(&db, &["record", "add", "www.n.test.", "300", "A", "192.0.2.1"]);
    let (first, from) = secondary.receive(Duration::from_secs(5));
    let seen = committed.elapsed();
    assert!(seen < Duration::from_secs(2), "the NOTIFY follows the commit at once ({seen:?})");
    let notify = wire::parse(&first).unwrap();
    assert_eq!(notify.header.opcode(), 4, "opcode NOTIFY");
    assert!(notify.header.aa() && !notify.header.qr());
    assert_eq!((notify.questions[0].name.clone(), notify.questions[0].qtype), (common::wire("n.test."), 6));
    assert_eq!(notify.answers[0].soa_serial(), Some(2), "it carries the new SOA");
    assert!(tsig::find(&first).unwrap().is_none(), "unsigned: the target has no key");

    // Not answered: sent again (same message), then answered: not again.
    let (second, from2) = secondary.receive(Duration::from_secs(5));
    assert_eq!((second.clone(), from2), (first.clone(), from));
    secondary.answer(&second, from2, 0);
    wait_metric(&server, "lmdns_notify_total{result=\"acked\"}", 1);
    assert_eq!(metric(&server, "lmdns_notify_total{result=\"sent\"}"), 2);
    secondary.socket.set_read_timeout(Some(Duration::from_millis(1500))).unwrap();
    let mut buf = [0u8; 512];
    assert!(secondary.socket.recv_from(&mut buf).is_err(), "an acknowledged NOTIFY is not sent again");
}

#[test]
fn a_zone_target_with_a_key_gets_signed_notifies_and_refusals_are_counted() {
    let db = TestDb::empty(64 << 20);
    import(&db, "k.test.", 1);
    loader(&db, &["key", "add", "notify-key.", "hmac-sha256", SECRET_B64]);
    let secondary = FakeSecondary::new();
    let target = secondary.addr().to_string();
    let server = LmdnsCommand::new(&db.path).args(["--listen", "127.0.0.1:0", "--threads", "1", "--http", "127.0.0.1:0"]).start();
    loader(&db, &["zone", "notify", "k.test.", &target, "--key", "notify-key."]);
    loader(&db, &["record", "add", "www.k.test.", "300", "A", "192.0.2.1"]);
    let (notify, from) = secondary.receive(Duration::from_secs(5));
    let tsig_rr = tsig::find(&notify).unwrap().expect("signed");
    let secret = data_encoding::BASE64.decode(SECRET_B64.as_bytes()).unwrap();
    let key = Key::new("notify-key.", Algorithm::HmacSha256, secret).unwrap();
    let verified = tsig::verify_request(&notify, &tsig_rr, Some(&key), now()).expect("a valid signature with the zone's key");

    // An unsigned answer to a signed NOTIFY is not believed: it is sent again.
    secondary.answer(&notify, from, 5);
    let (again, from) = secondary.receive(Duration::from_secs(5));
    assert_eq!(wire::parse(&again).unwrap().header.id, wire::parse(&notify).unwrap().header.id);
    let verified_again = tsig::verify_request(&again, &tsig::find(&again).unwrap().unwrap(), Some(&key), now()).unwrap();
    assert!(!verified.mac.is_empty());
    // The secondary refuses, signed: counted as failed and logged, not retried.
    secondary.answer_signed(&again, from, 5, Some((&key, &verified_again.mac)));
    wait_metric(&server, "lmdns_notify_total{result=\"failed\"}", 1);
    assert!(server.log().contains("NOTIFY refused by the secondary"), "{}", server.log_tail(10));
}

#[test]
fn generated_catalogs_are_notified_when_zones_come_and_go() {
    let db = TestDb::empty(64 << 20);
    import(&db, "a.test.", 1);
    let secondary = FakeSecondary::new();
    let target = secondary.addr().to_string();
    let _server = LmdnsCommand::new(&db.path)
        .args(["--listen", "127.0.0.1:0", "--threads", "1", "--notify", &target, "--catalog", "catalog.invalid."])
        .start();
    import(&db, "b.test.", 1);
    // Two NOTIFYs: the new zone, and the catalog that now lists it (in either order).
    let mut zones = Vec::new();
    for _ in 0..2 {
        let (notify, from) = secondary.receive(Duration::from_secs(5));
        let parsed = wire::parse(&notify).unwrap();
        zones.push((parsed.questions[0].name.clone(), parsed.answers[0].soa_serial()));
        secondary.answer(&notify, from, 0);
    }
    zones.sort();
    assert_eq!(zones, vec![(common::wire("b.test."), Some(1)), (common::wire("catalog.invalid."), Some(2))]);
}
