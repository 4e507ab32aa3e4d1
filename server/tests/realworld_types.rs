//! Answers for the record types added for issue 16, against real servers reading the same
//! zone file: Knot DNS for the types Knot 3.2 reads in text (`fixtures/realworld/answers/knot`,
//! with RFC 2181 duplicates that differ only in case), BIND 9.18 for the rest
//! (`fixtures/realworld/answers/bind`). Every owner/type of the file, plus a name that does not
//! exist and a type an owner lacks, is asked over UDP and TCP; responses must be equal byte for
//! byte but the ID, or at least after the names that RFC 1035 lets a server compress are
//! decompressed (the count of each is printed). NSD, for MD and MF (`.../answers/nsd`), is
//! compared on flags, question and answer section only: it adds NS records and their addresses
//! to positive answers, which Knot, BIND and lmdns do not.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use common::*;
use lmdns_testkit::peers::{self, Peer};

fn answers_dir(peer: &str) -> PathBuf {
    workspace_root().join("fixtures/realworld/answers").join(peer)
}

/// Every (owner, type) of the zone file as `zone import` reads it, and two negative questions.
fn questions(file: &Path) -> Vec<(String, u16)> {
    let mut z = lmdns_loader::zonefile::parse_file(file, None).unwrap_or_else(|e| panic!("{e}"));
    lmdns_loader::zonefile::tidy_zone(&mut z, true).unwrap_or_else(|e| panic!("{e}"));
    let origin = lmdb_schema::name::wire_to_text(&z.origin);
    let mut set: BTreeSet<(String, u16)> = z.records.iter().map(|r| (lmdb_schema::name::wire_to_text(&r.owner), r.rtype)).collect();
    set.insert((format!("nonexistent.{origin}"), 1));
    set.insert((format!("ns1.{origin}"), 29));
    set.into_iter().collect()
}

/// A query with RD set (BIND then leaves the authority section out of positive answers, as
/// Knot and lmdns do) and no EDNS.
fn query(id: u16, name: &str, rtype: u16) -> Vec<u8> {
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&rtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    q
}

/// Reads the possibly compressed name at `msg[at..]`: its uncompressed wire form and where the
/// field after it starts.
fn read_name(msg: &[u8], mut at: usize) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut end = None;
    for _ in 0..128 {
        let len = msg[at] as usize;
        if len & 0xc0 == 0xc0 {
            end.get_or_insert(at + 2);
            at = (len & 0x3f) << 8 | msg[at + 1] as usize;
            continue;
        }
        out.push(len as u8);
        if len == 0 {
            return (out, end.unwrap_or(at + 1));
        }
        out.extend_from_slice(&msg[at + 1..at + 1 + len]);
        at += 1 + len;
    }
    panic!("name loop in message");
}

/// RDATA with the names of the RFC 1035 types (the only ones a server may compress)
/// decompressed.
fn rdata(msg: &[u8], rtype: u16, start: usize, len: usize) -> Vec<u8> {
    let (names, fixed_before) = match rtype {
        2..=5 | 7..=9 | 12 => (1, 0),
        6 | 14 => (2, 0),
        15 => (1, 2),
        _ => return msg[start..start + len].to_vec(),
    };
    let mut out = msg[start..start + fixed_before].to_vec();
    let mut at = start + fixed_before;
    for _ in 0..names {
        let (name, next) = read_name(msg, at);
        out.extend_from_slice(&name);
        at = next;
    }
    out.extend_from_slice(&msg[at..start + len]);
    out
}

/// Flags, RCODE, the question and the answer section (names decompressed): what NSD, which adds
/// the zone's NS RRset and its addresses to every positive answer, is compared on.
fn answer_only(msg: &[u8]) -> Vec<Vec<u8>> {
    let ancount = u16::from_be_bytes([msg[6], msg[7]]) as usize;
    let mut parts = decompressed(msg);
    parts[0] = [&msg[2..4], &msg[6..8]].concat();
    parts.truncate(2 + ancount);
    parts
}

/// Header (ID zeroed), question and every record with names decompressed.
fn decompressed(msg: &[u8]) -> Vec<Vec<u8>> {
    let mut parts = vec![[&[0, 0], &msg[2..12]].concat()];
    let count = |i: usize| u16::from_be_bytes([msg[4 + 2 * i], msg[5 + 2 * i]]) as usize;
    let (_, mut at) = read_name(msg, 12);
    parts.push(msg[12..at + 4].to_vec());
    at += 4;
    for _ in 0..count(1) + count(2) + count(3) {
        let (owner, next) = read_name(msg, at);
        let rtype = u16::from_be_bytes([msg[next], msg[next + 1]]);
        let len = u16::from_be_bytes([msg[next + 8], msg[next + 9]]) as usize;
        let mut rr = owner;
        rr.extend_from_slice(&msg[next..next + 8]);
        rr.extend_from_slice(&rdata(msg, rtype, next + 10, len));
        parts.push(rr);
        at = next + 10 + len;
    }
    assert_eq!(at, msg.len(), "trailing bytes in a response");
    parts
}

#[derive(Default, Debug)]
struct Tally {
    asked: usize,
    byte_equal: usize,
    equal_decompressed: usize,
    answered_records: usize,
    /// Questions whose answers differ only in name compression (or, for NSD, outside the
    /// answer section).
    compression_only: BTreeSet<String>,
}

/// Asks lmdns and the reference every question over UDP and TCP and compares.
fn compare(lmdns: SocketAddr, reference: SocketAddr, reference_name: &str, questions: &[(String, u16)]) -> Tally {
    compare_by(lmdns, reference, reference_name, questions, decompressed)
}

/// [`compare`] where answers that are not byte-equal must be equal in `view`.
fn compare_by(
    lmdns: SocketAddr,
    reference: SocketAddr,
    reference_name: &str,
    questions: &[(String, u16)],
    view: fn(&[u8]) -> Vec<Vec<u8>>,
) -> Tally {
    let mut tally = Tally::default();
    let mut failures = Vec::new();
    for (i, (name, rtype)) in questions.iter().enumerate() {
        let q = query(0x4000 + i as u16, name, *rtype);
        for tcp in [false, true] {
            let ask = |addr| if tcp { exchange_tcp(addr, &q) } else { exchange_udp(addr, &q) };
            let ours = ask(lmdns).unwrap_or_else(|e| panic!("lmdns: {name} {rtype}: {e}"));
            let theirs = ask(reference).unwrap_or_else(|e| panic!("{reference_name}: {name} {rtype}: {e}"));
            tally.asked += 1;
            tally.answered_records += u16::from_be_bytes([ours[6], ours[7]]) as usize;
            if ours[2..] == theirs[2..] {
                tally.byte_equal += 1;
                tally.equal_decompressed += 1;
            } else if view(&ours) == view(&theirs) {
                tally.equal_decompressed += 1;
                tally.compression_only.insert(format!("{name} {rtype}"));
            } else {
                let transport = if tcp { "TCP" } else { "UDP" };
                failures.push(format!("{name} type {rtype} over {transport}:\n  lmdns: {ours:02x?}\n  {reference_name}: {theirs:02x?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} answers differ from {reference_name}:\n{}", failures.len(), tally.asked, failures.join("\n"));
    tally
}

#[test]
fn types_knot_reads_answer_as_knot_answers() {
    let dir = answers_dir("knot");
    let questions = questions(&dir.join("types.test.zone"));
    let knot = start_knot(&dir);
    let lmdns = start_lmdns(&dir);
    let tally = compare(lmdns.addr, knot.addr, "knot", &questions);
    println!("against Knot: {tally:?}");
    // 34 owner/type pairs in the file (the duplicates collapse) and 2 negative ones, twice.
    assert_eq!(tally.asked, 2 * questions.len());
    assert!(questions.len() >= 36, "{questions:?}");
    assert!(tally.answered_records > 0);
}

#[test]
fn types_only_bind_reads_answer_as_bind_answers() {
    let dir = answers_dir("bind");
    let file = dir.join("more.test.zone");
    let questions = questions(&file);
    let text = std::fs::read_to_string(&file).unwrap();
    let bind = peers::start_primary(Peer::Bind, &[("more.test.".into(), text)], None, &[], true);
    let lmdns = start_lmdns(&dir);
    let tally = compare(lmdns.addr, bind.addr(), "bind", &questions);
    println!("against BIND: {tally:?}");
    assert_eq!(tally.asked, 2 * questions.len());
    assert!(questions.len() >= 32, "{questions:?}");
}

#[test]
fn obsolete_types_nsd_reads_answer_as_nsd_answers() {
    let dir = answers_dir("nsd");
    let questions = questions(&dir.join("old.test.zone"));
    let nsd = start_nsd(&dir);
    let lmdns = start_lmdns(&dir);
    let tally = compare_by(lmdns.addr, nsd.addr, "nsd", &questions, answer_only);
    println!("against NSD: {tally:?}");
    assert_eq!(tally.asked, 2 * questions.len());
    assert!(questions.len() >= 11, "{questions:?}");
}
