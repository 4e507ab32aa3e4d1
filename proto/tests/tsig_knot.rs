//! Interop of the client side of TSIG with a real server: a `knotd` (Knot DNS 3.2) on loopback
//! verifies requests we sign with [`tsig::sign_request`], and we verify its answers — a
//! multi-message AXFR over TCP with [`StreamVerifier`], single answers, and its BADKEY, BADSIG
//! and BADTIME error answers. Our reader also parses every message of its compressed AXFR.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use lmdns_proto::build::MessageBuilder;
use lmdns_proto::name;
use lmdns_proto::tsig::{self, Algorithm, FailureReason, Key, StreamVerifier, DEFAULT_FUDGE};
use lmdns_proto::wire::{self, class, rtype, Record};

const TXT_RECORDS: usize = 5000;
/// SOA, 2 NS, 3 A, MX, CNAME besides the TXT records.
const OTHER_RECORDS: usize = 8;

/// A knotd serving example.com, each key allowed to transfer it; killed on drop.
struct Knot {
    process: Running,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

fn keys() -> Vec<Key> {
    Algorithm::ALL.into_iter().map(|a| key(&format!("{a}.xfr.test."), a, SECRET_B64)).collect()
}

fn write_zone(path: &Path) {
    let mut z = String::from(
        "$ORIGIN example.com.\n$TTL 300\n\
         @ IN SOA ns1.example.com. hostmaster.example.com. 2024010101 3600 900 604800 300\n\
         @ IN NS ns1\n@ IN NS ns2.Example.com.\nns1 IN A 192.0.2.1\nns2 IN A 192.0.2.2\n\
         @ IN MX 10 mail\nmail IN A 192.0.2.3\nwww IN CNAME @\n",
    );
    for i in 0..TXT_RECORDS {
        z.push_str(&format!("t{i} IN TXT \"record number {i} of the zone, padded to make the transfer long\"\n"));
    }
    fs::write(path, z).expect("write zone");
}

fn config(d: &Path, port: u16) -> String {
    let mut conf = format!(
        "server:\n    rundir: \"{run}\"\n    listen: 127.0.0.1@{port}\n    udp-workers: 1\n    tcp-workers: 1\n    \
         background-workers: 1\ndatabase:\n    storage: \"{run}/db\"\nlog:\n  - target: stderr\n    any: info\n\
         control:\n    listen: \"{run}/knot.sock\"\nkey:\n",
        run = d.display(),
    );
    let ids: Vec<String> = keys().iter().map(|k| name::to_text(&k.name)).collect();
    for (k, id) in keys().iter().zip(&ids) {
        conf.push_str(&format!("  - id: {id}\n    algorithm: {}\n    secret: {SECRET_B64}\n", k.algorithm));
    }
    conf.push_str(&format!(
        "acl:\n  - id: xfr\n    key: [{}]\n    action: transfer\nzone:\n  - domain: example.com.\n    storage: \"{}\"\n    \
         file: example.com.zone\n    acl: xfr\n    zonefile-sync: -1\n    journal-content: none\n",
        ids.join(", "),
        d.display()
    ));
    conf
}

/// Starts knotd in the foreground on a free port; a port someone takes in between is retried.
fn start_knot() -> Knot {
    let knotd = require("knotd", "knot");
    let mut failures = String::new();
    for _ in 0..5 {
        let dir = tempfile::Builder::new().prefix("lmdns-proto-knot-").tempdir().expect("tempdir");
        let d = dir.path();
        fs::create_dir_all(d.join("db")).expect("db dir");
        write_zone(&d.join("example.com.zone"));
        let port = UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr()).expect("free port").port();
        fs::write(d.join("knot.conf"), config(d, port)).expect("write knot.conf");
        let log = d.join("knot.log");
        let mut cmd = Command::new(&knotd);
        cmd.arg("-c").arg(d.join("knot.conf"));
        let process = Running::spawn_logged("knotd", cmd, &log);
        let mut knot = Knot { process, port, log, _dir: dir };
        match knot.wait_ready() {
            Ok(()) => return knot,
            Err(e) => failures.push_str(&format!("{e}\n{}\n", knot.log_text())),
        }
    }
    panic!("knotd did not start in 5 attempts:\n{failures}");
}

impl Knot {
    /// Polls with unsigned SOA queries until knotd answers for the zone (bounded).
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + DEADLINE;
        while Instant::now() < deadline {
            if self.process.exited() {
                return Err(format!("knotd on port {} exited", self.port));
            }
            if let Ok(reply) = self.udp(&soa_query(1), Duration::from_millis(200)) {
                if wire::Header::parse(&reply).is_ok_and(|h| h.rcode() == 0 && h.ancount == 1) {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!("knotd on port {} did not answer within {DEADLINE:?}", self.port))
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn udp(&self, message: &[u8], timeout: Duration) -> std::io::Result<Vec<u8>> {
        let s = UdpSocket::bind("127.0.0.1:0")?;
        s.set_read_timeout(Some(timeout))?;
        s.send_to(message, ("127.0.0.1", self.port))?;
        let mut buf = vec![0u8; 65535];
        let len = s.recv(&mut buf)?;
        buf.truncate(len);
        Ok(buf)
    }

    /// Sends `request` over TCP and reads answers until the one that ends the transfer (a
    /// second SOA, or an error RCODE), each as one message.
    fn tcp_transfer(&self, request: &[u8]) -> Vec<Vec<u8>> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to knotd");
        s.set_read_timeout(Some(DEADLINE)).expect("timeout");
        s.write_all(&[&(request.len() as u16).to_be_bytes()[..], request].concat()).expect("send");
        let deadline = Instant::now() + DEADLINE;
        let (mut messages, mut soas) = (Vec::new(), 0);
        while Instant::now() < deadline {
            let mut len = [0u8; 2];
            s.read_exact(&mut len).unwrap_or_else(|e| panic!("knotd ended the transfer early: {e}\n{}", self.log_text()));
            let mut m = vec![0u8; usize::from(u16::from_be_bytes(len))];
            s.read_exact(&mut m).expect("message");
            let parsed = wire::parse(&m).unwrap_or_else(|e| panic!("our reader fails on knotd's message {}: {e}", messages.len()));
            soas += parsed.answers.iter().filter(|r| r.rtype == rtype::SOA).count();
            let error = parsed.header.rcode() != 0;
            messages.push(m);
            if soas >= 2 || error {
                return messages;
            }
        }
        panic!("the transfer did not end within {DEADLINE:?}");
    }
}

fn soa_query(id: u16) -> Vec<u8> {
    let mut b = MessageBuilder::new(id, 0);
    b.question(&n("example.com."), rtype::SOA, class::IN).expect("question");
    b.finish()
}

fn axfr_query(id: u16) -> Vec<u8> {
    let mut b = MessageBuilder::new(id, 0);
    b.question(&n("example.com."), rtype::AXFR, class::IN).expect("question");
    b.finish()
}

/// Signs an SOA query, sends it over UDP and returns (our MAC, knotd's answer).
fn ask(knot: &Knot, key: &Key, time: u64, spoil: bool) -> (Vec<u8>, Vec<u8>) {
    let mut q = soa_query(0x5150);
    let mac = tsig::sign_request(&mut q, key, time, DEFAULT_FUDGE);
    if spoil {
        // The case of a question letter, after signing: still the zone, but not what we signed.
        q[13] ^= 0x20;
    }
    let reply = knot.udp(&q, DEADLINE).unwrap_or_else(|e| panic!("knotd did not answer: {e}\n{}", knot.log_text()));
    (mac, reply)
}

#[test]
fn knot_verifies_our_requests_and_we_verify_its_answers() {
    let knot = start_knot();
    for key in keys() {
        let (mac, reply) = ask(&knot, &key, now(), false);
        let h = wire::Header::parse(&reply).expect("header");
        assert_eq!((h.rcode(), h.aa(), h.ancount), (0, true, 1), "knotd refused our {} request:\n{}", key.algorithm, knot.log_text());
        tsig::verify_response(&reply, &key, &mac, now()).unwrap_or_else(|f| panic!("knotd's {} answer: {f}", key.algorithm));
        assert_eq!(wire::parse(&reply).expect("parses").soa_serial(), Some(2024010101));
        // Over another MAC, or with another secret, the same answer does not verify.
        assert_eq!(tsig::verify_response(&reply, &key, &[7; 20], now()).unwrap_err().error, tsig::BADSIG);
        let wrong = Key { secret: secret(WRONG_SECRET_B64), ..key.clone() };
        assert_eq!(tsig::verify_response(&reply, &wrong, &mac, now()).unwrap_err().error, tsig::BADSIG);
    }
    let key = keys().remove(0);
    let peer_error = |reply: &[u8], key: &Key, mac: &[u8], code: u16| {
        assert_eq!(wire::Header::parse(reply).expect("header").rcode(), 9, "NOTAUTH expected");
        let f = tsig::verify_response(reply, key, mac, now()).unwrap_err();
        assert_eq!((f.error, f.reason), (code, FailureReason::PeerError { code }), "knotd's {} answer", tsig::error_name(code));
    };
    // A key knotd does not have: BADKEY, unsigned.
    let unknown = key_named("nokey.xfr.test.", &key);
    let (mac, reply) = ask(&knot, &unknown, now(), false);
    peer_error(&reply, &unknown, &mac, tsig::BADKEY);
    // The right name with another secret, or a request changed after signing: BADSIG.
    let wrong = Key { secret: secret(WRONG_SECRET_B64), ..key.clone() };
    let (mac, reply) = ask(&knot, &wrong, now(), false);
    peer_error(&reply, &wrong, &mac, tsig::BADSIG);
    let (mac, reply) = ask(&knot, &key, now(), true);
    peer_error(&reply, &key, &mac, tsig::BADSIG);
    // Signed an hour ago: BADTIME, signed by knotd over our MAC, with its clock in other data.
    // Reaching the BADTIME verdict means its MAC verified with our error-answer MAC input.
    let an_hour_ago = now() - 3600;
    let (mac, reply) = ask(&knot, &key, an_hour_ago, false);
    peer_error(&reply, &key, &mac, tsig::BADTIME);
    let t = tsig::find(&reply).expect("parses").expect("signed");
    assert_eq!((t.time_signed, t.other_data.len(), t.mac.len()), (an_hour_ago, 6, key.algorithm.mac_len()));
    let server_time = t.other_data.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b));
    assert!(server_time.abs_diff(now()) < 60, "knotd's clock in other data: {server_time}");
}

fn key_named(name: &str, like: &Key) -> Key {
    Key::new(name, like.algorithm, like.secret.clone()).expect("key name")
}

#[test]
fn axfr_from_knot_verifies_message_by_message() {
    let knot = start_knot();
    for key in keys() {
        let mut q = axfr_query(0x7777);
        let mac = tsig::sign_request(&mut q, &key, now(), DEFAULT_FUDGE);
        let messages = knot.tcp_transfer(&q);
        assert!(messages.len() >= 4, "expected a multi-message AXFR, got {} message(s)", messages.len());
        let mut verifier = StreamVerifier::new(key.clone(), mac.clone());
        for (i, m) in messages.iter().enumerate() {
            verifier.verify(m, now()).unwrap_or_else(|f| panic!("{} AXFR message {i} of {}: {f}", key.algorithm, messages.len()));
        }
        verifier.finish().expect("the transfer ends signed");
        let signed = messages.iter().filter(|m| tsig::find(m).ok().flatten().is_some()).count();
        assert!(signed >= 2, "knotd signed {signed} of {} messages", messages.len());

        // Every record came through our reader, names decompressed.
        let mut records: Vec<Record> = Vec::new();
        for m in &messages {
            records.extend(wire::parse(m).expect("parses").answers);
        }
        assert_eq!(records.len(), TXT_RECORDS + OTHER_RECORDS + 1);
        assert_eq!(records.first().and_then(Record::soa_serial), Some(2024010101));
        assert!(records.iter().any(|r| r.rtype == rtype::TXT && r.owner == n("t4999.example.com.")));
        assert!(records.iter().any(|r| r.rtype == rtype::MX && r.rdata == [&[0u8, 10][..], &n("mail.example.com.")].concat()));
        assert!(records.iter().any(|r| r.rtype == rtype::NS && name::eq_ignore_case(&r.rdata, &n("ns2.example.com."))));

        // A byte changed in any message, a message dropped or two swapped: the chain breaks
        // there and the transfer does not finish.
        let last = messages.len() - 1;
        let mut broken = Vec::new();
        for at in [0, 1, last / 2, last] {
            let mut ms = messages.clone();
            let i = ms[at].len() / 2;
            ms[at][i] ^= 0x01;
            broken.push((format!("byte changed in message {at}"), ms, at));
        }
        broken.push(("message 1 dropped".into(), [&messages[..1], &messages[2..]].concat(), 1));
        let mut swapped = messages.clone();
        swapped.swap(1, 2);
        broken.push(("messages 1 and 2 swapped".into(), swapped, 1));
        for (what, ms, at) in broken {
            let mut v = StreamVerifier::new(key.clone(), mac.clone());
            let first_bad = ms.iter().position(|m| v.verify(m, now()).is_err());
            assert_eq!(first_bad, Some(at), "{what}");
            assert!(v.finish().is_err(), "{what}");
        }
    }
}
