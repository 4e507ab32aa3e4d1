//! The server's identity (RFC 4892 CH TXT names, RFC 5001 NSID), off by default and answered
//! like Knot once set: the same CH answers byte for byte over UDP and TCP, with and without
//! EDNS, and the same NSID in answers to queries that ask for it.

mod common;

use std::net::SocketAddr;
use std::path::Path;

use common::{exchange_tcp, exchange_udp, start_knot_with, wire, zones_dir, LmdnsCommand, LmdnsProcess, TestDb};

const CLASS_IN: u16 = 1;
const CLASS_CH: u16 = 3;
const TXT: u16 = 16;
const NSID: &[u8] = b"ns1-nsid";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Edns {
    None,
    Plain,
    /// EDNS with an empty NSID option: a request for the server's NSID.
    Nsid,
}

fn query(id: u16, name: &str, qtype: u16, qclass: u16, edns: Edns) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, if edns == Edns::None { 0 } else { 1 }]);
    q.extend_from_slice(&wire(name));
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&qclass.to_be_bytes());
    if edns != Edns::None {
        q.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0]);
        let options: &[u8] = if edns == Edns::Nsid { &[0, 3, 0, 0] } else { &[] };
        q.extend_from_slice(&(options.len() as u16).to_be_bytes());
        q.extend_from_slice(options);
    }
    q
}

/// The offset just past the (possibly compressed) name at `at`.
fn skip_name(msg: &[u8], mut at: usize) -> usize {
    loop {
        let len = msg[at] as usize;
        if len == 0 {
            return at + 1;
        }
        if len & 0xC0 == 0xC0 {
            return at + 2;
        }
        at += 1 + len;
    }
}

/// (RCODE, the NSID option's data if the response has one).
fn rcode_and_nsid(msg: &[u8]) -> (u8, Option<Vec<u8>>) {
    let count = |i: usize| u16::from_be_bytes([msg[i], msg[i + 1]]) as usize;
    let mut at = skip_name(msg, 12) + 4;
    let mut nsid = None;
    for _ in 0..count(6) + count(8) + count(10) {
        at = skip_name(msg, at);
        let rtype = count(at);
        let rdlen = count(at + 8);
        if rtype == 41 {
            let mut o = at + 10;
            while o < at + 10 + rdlen {
                let (code, len) = (count(o), count(o + 2));
                if code == 3 {
                    nsid = Some(msg[o + 4..o + 4 + len].to_vec());
                }
                o += 4 + len;
            }
        }
        at += 10 + rdlen;
    }
    (msg[3] & 0x0F, nsid)
}

fn ask(addr: SocketAddr, tcp: bool, packet: &[u8]) -> Vec<u8> {
    let reply = if tcp { exchange_tcp(addr, packet) } else { exchange_udp(addr, packet) };
    reply.unwrap_or_else(|e| panic!("{addr} over {}: {e}", if tcp { "TCP" } else { "UDP" }))
}

fn lmdns(db: &Path, args: &[&str]) -> LmdnsProcess {
    LmdnsCommand::new(db).args(["--listen", "127.0.0.1:0", "--threads", "1"]).args(args).attempts(3).start()
}

/// The CH questions: (name as sent, QTYPE).
const CHAOS_QUESTIONS: &[(&str, u16)] = &[
    ("version.bind.", TXT),
    ("VeRsIoN.BiNd.", TXT),
    ("version.server.", TXT),
    ("id.server.", TXT),
    ("hostname.bind.", TXT),
    ("ID.SERVER.", TXT),
    ("version.bind.", 1),
    ("version.bind.", 255),
    ("id.server.", 6),
    ("authors.bind.", TXT),
    ("www.version.bind.", TXT),
    ("example.com.", TXT),
    ("example.com.", 6),
];

#[test]
fn identity_version_and_nsid_answer_like_knot_and_are_off_by_default() {
    let zones = zones_dir();
    let knot = start_knot_with(&zones, "    identity: \"ns1.example\"\n    version: \"lmdns test 1\"\n    nsid: \"ns1-nsid\"\n");
    let db = TestDb::empty(16 << 20);
    let import = lmdns_loader::cli::run_args(["--db", db.path.to_str().unwrap(), "zone", "import-dir", zones.to_str().unwrap()]);
    assert_eq!(import.unwrap(), std::process::ExitCode::SUCCESS);
    // The NSID given as hex: the same bytes as Knot's text form.
    let set =
        lmdns(&db.path, &["--identity", "ns1.example", "--server-version", "lmdns test 1", "--nsid", &format!("0x{}", hex::encode(NSID))]);
    let off = lmdns(&db.path, &[]);

    let mut compared = 0;
    for tcp in [false, true] {
        for edns in [Edns::None, Edns::Plain, Edns::Nsid] {
            for (i, &(name, qtype)) in CHAOS_QUESTIONS.iter().enumerate() {
                let q = query(0x4000 + i as u16, name, qtype, CLASS_CH, edns);
                let ours = ask(set.addrs[0], tcp, &q);
                let theirs = ask(knot.addr, tcp, &q);
                assert_eq!(ours, theirs, "CH {name} type {qtype}, {edns:?}, tcp={tcp}: lmdns (left) and Knot (right) differ");
                compared += 1;

                // Unset, every CH question is refused and no NSID is sent.
                let (rcode, nsid) = rcode_and_nsid(&ask(off.addrs[0], tcp, &q));
                assert_eq!((rcode, nsid), (5, None), "CH {name} type {qtype}, {edns:?}, tcp={tcp}, nothing set");
            }
            // Class IN: the NSID rides on any answer whose query asked for it, cached or not.
            for (i, (name, qtype)) in
                [("www.example.com.", 1), ("example.com.", 6), ("nothing.example.com.", 1), ("www.example.com.", 1)].into_iter().enumerate()
            {
                let q = query(0x5000 + i as u16, name, qtype, CLASS_IN, edns);
                let (rcode, nsid) = rcode_and_nsid(&ask(set.addrs[0], tcp, &q));
                let (knot_rcode, knot_nsid) = rcode_and_nsid(&ask(knot.addr, tcp, &q));
                assert_eq!((rcode, &nsid), (knot_rcode, &knot_nsid), "IN {name} {qtype}, {edns:?}, tcp={tcp}");
                assert_eq!(nsid.as_deref(), (edns == Edns::Nsid).then_some(NSID), "IN {name} {qtype}, {edns:?}");
                assert_eq!(rcode_and_nsid(&ask(off.addrs[0], tcp, &q)).1, None, "no NSID unless set");
                compared += 1;
            }
        }
    }
    // A repeat without NSID after one with it: the cache did not keep the NSID answer.
    let (_, nsid) = rcode_and_nsid(&ask(set.addrs[0], false, &query(7, "www.example.com.", 1, CLASS_IN, Edns::Plain)));
    assert_eq!(nsid, None);
    assert_eq!(compared, 2 * 3 * (CHAOS_QUESTIONS.len() + 4));
}

#[test]
fn bad_identity_settings_are_refused_at_start() {
    let db = TestDb::empty(16 << 20);
    for (args, expect) in [
        (vec!["--identity", &"x".repeat(256)], "identity must be 1 to 255 bytes"),
        (vec!["--server-version", ""], "server_version must be 1 to 255 bytes"),
        (vec!["--nsid", "0xzz"], "not hex after 0x"),
        (vec!["--nsid", &"a".repeat(513)], "nsid must be 1 to 512 bytes"),
    ] {
        let out = common::run_lmdns(&[&["--db", db.path.to_str().unwrap(), "--check-config"][..], &args].concat());
        assert!(!out.status.success(), "{args:?} accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expect), "{args:?}: {stderr}");
    }
}
