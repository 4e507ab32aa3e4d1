//! Answers that must match Knot and NSD byte count and content: name compression of owners and
//! RDATA (RFC 1035 §4.1.4), glue and TC (RFC 9471), on `fixtures/answers/lab.zone` (a TLD-like
//! zone with a `net.`-like delegation: 13 in-domain name servers, each with A and AAAA glue).
//!
//! Every query of `fixtures/answers/queries.txt` is sent to lmdns, Knot and NSD without EDNS and
//! with EDNS at 512, 1232 and 4096 bytes over UDP, and over TCP; so are at least 20 names and
//! types of each zone of `fixtures/zones` (`fixtures/answers/zones-queries.txt`), and the lab
//! zone signed in the test (NSEC, NSEC3) with DO. lmdns must answer like one of
//! them: RCODE, AA, TC, answer and authority sections, and (unless truncated) the additional
//! section. Its response may not be longer than the larger of theirs when it carries the same
//! records: compression is what makes that hold (before it, the referral took 723 bytes where
//! Knot and NSD take 528).

mod common;
#[path = "common/signing.rs"]
mod signing;

use std::net::SocketAddr;
use std::path::PathBuf;

use common::*;
use hickory_proto::rr::RecordType;

fn answers_dir() -> PathBuf {
    workspace_root().join("fixtures").join("answers")
}

/// How a query is sent: UDP with no EDNS or EDNS of this payload size, or TCP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Via {
    Udp(Option<u16>),
    Tcp,
}

const VIAS: [Via; 5] = [Via::Udp(None), Via::Udp(Some(512)), Via::Udp(Some(1232)), Via::Udp(Some(4096)), Via::Tcp];

struct Reply {
    bytes: Vec<u8>,
    normalized: Normalized,
}

fn ask_via(addr: SocketAddr, q: &TestQuery, via: Via, id: u16) -> Result<Reply, String> {
    ask_with(addr, q, via, id, false)
}

/// [`ask_via`], with `dnssec`: EDNS (1232 over TCP) with the DO bit.
fn ask_with(addr: SocketAddr, q: &TestQuery, via: Via, id: u16, dnssec: bool) -> Result<Reply, String> {
    let query = DnsQuery::new(id, &q.name, q.qtype);
    let mut query = match via {
        Via::Udp(Some(payload)) => query.edns(payload, None).bytes(),
        _ if dnssec => query.edns(EDNS_PAYLOAD, None).bytes(),
        _ => query.bytes(),
    };
    if dnssec {
        set_do(&mut query);
    }
    let bytes = match via {
        Via::Udp(_) => exchange_udp(addr, &query),
        Via::Tcp => exchange_tcp(addr, &query),
    }
    .map_err(|e| format!("no answer: {e}"))?;
    let normalized = normalize(&bytes)?;
    Ok(Reply { bytes, normalized })
}

/// Sets the DO bit of a query's OPT record (the first record after the question).
fn set_do(query: &mut [u8]) {
    let mut at = 12;
    while query[at] != 0 {
        at += 1 + query[at] as usize;
    }
    // Question: root label, type, class. OPT: root, type, class, then the TTL's flags byte.
    query[at + 5 + 1 + 2 + 2 + 2] |= 0x80;
}

struct Peers {
    knot: Server,
    nsd: Server,
    lmdns: Server,
}

fn start() -> Peers {
    start_in(&answers_dir())
}

fn start_in(dir: &std::path::Path) -> Peers {
    Peers { knot: start_knot(dir), nsd: start_nsd(dir), lmdns: start_lmdns(dir) }
}

fn query(name: &str, qtype: RecordType) -> TestQuery {
    TestQuery { line: 0, name: name.into(), qtype }
}

/// The same records, additional section included unless the answer is truncated (what a
/// truncated answer keeps differs between servers; the client retries over TCP anyway).
fn same(got: &Normalized, want: &Normalized) -> bool {
    got.key() == want.key() && (got.tc || got.additional == want.additional)
}

/// NSD adds the zone's NS RRset (and their addresses) to positive answers, Knot does not
/// (see conformance.rs): lmdns may match NSD's answer without them.
fn same_as_nsd(got: &Normalized, nsd: &Normalized) -> bool {
    if same(got, nsd) {
        return true;
    }
    // RRSIG RDATA is shown as hex: its first two bytes are the covered type (0002 = NS).
    let zone_ns = |r: &String| {
        let f: Vec<&str> = r.split(' ').collect();
        f.get(3) == Some(&"NS") || (f.get(3) == Some(&"RRSIG") && f.get(6).is_some_and(|h| h.starts_with("0002")))
    };
    if nsd.rcode != "NoError" || nsd.answer.is_empty() || !nsd.authority.iter().all(zone_ns) {
        return false;
    }
    let mut trimmed = nsd.clone();
    trimmed.authority.clear();
    got.key() == trimmed.key()
}

/// Each comparison's result: lmdns's size, and the sizes of the references it matched.
struct Compared {
    lmdns: usize,
    matched: Vec<(&'static str, usize)>,
}

fn compare(peers: &Peers, q: &TestQuery, via: Via, id: u16, dnssec: bool, failures: &mut Vec<String>) -> Option<Compared> {
    let got = ask_with(peers.lmdns.addr, q, via, id, dnssec);
    let refs = [("knot", ask_with(peers.knot.addr, q, via, id, dnssec)), ("nsd", ask_with(peers.nsd.addr, q, via, id, dnssec))];
    let got = match got {
        Ok(got) => got,
        Err(e) => {
            failures.push(format!("{q} [{via:?}]: lmdns: {e}"));
            return None;
        }
    };
    let matched: Vec<(&'static str, usize)> = refs
        .iter()
        .filter_map(|(name, r)| {
            let r = r.as_ref().ok()?;
            let matches = if *name == "nsd" { same_as_nsd(&got.normalized, &r.normalized) } else { same(&got.normalized, &r.normalized) };
            matches.then_some((*name, r.bytes.len()))
        })
        .collect();
    if matched.is_empty() {
        let mut report = format!("{q} [{via:?}]: lmdns answers unlike Knot and NSD\n");
        report.push_str(&format!("    lmdns ({} bytes): {:?}\n", got.bytes.len(), got.normalized));
        for (name, r) in &refs {
            match r {
                Ok(r) => report.push_str(&format!("    {name} ({} bytes): {:?}\n", r.bytes.len(), r.normalized)),
                Err(e) => report.push_str(&format!("    {name}: {e}\n")),
            }
        }
        failures.push(report);
        return None;
    }
    Some(Compared { lmdns: got.bytes.len(), matched })
}

/// The differential run: every query of `queries.txt` in every form.
#[test]
fn answers_and_sizes_match_knot_or_nsd() {
    differential(&start(), &lab_queries(), &VIAS, false, "unsigned");
}

/// The same run on lab.zone signed in the test (NSEC, then NSEC3), with DO: denial proofs,
/// signed referrals and their RRSIGs compress as Knot's do, so answers are no longer than the
/// reference's and truncate no earlier.
#[test]
fn signed_answers_and_sizes_match_knot_or_nsd() {
    for chain in [signing::Chain::Nsec, signing::Chain::Nsec3] {
        let signed = signing::sign_zones(&answers_dir(), chain);
        let peers = start_in(&signed.zones_dir());
        differential(&peers, &lab_queries(), &[Via::Udp(Some(1232)), Via::Udp(Some(4096)), Via::Tcp], true, &format!("{chain:?}"));
        at_512(&peers, &format!("{chain:?}"));
    }
}

/// Signed answers at 512 bytes: equal to Knot's or NSD's, or else with Knot's RCODE, AA and TC
/// and only records of Knot's whole answer (over TCP), each in its section. Truncated proofs differ between all
/// three: Knot keeps NSEC3 records without the RRSIGs that did not fit, NSD drops the SOA, lmdns
/// keeps the whole RRsets that fit, each with its RRSIGs (RFC 4035 §3.1.1); and Knot adds
/// additional addresses without their RRSIGs, lmdns each with its own.
fn at_512(peers: &Peers, label: &str) {
    let queries = lab_queries();
    let (mut equal, mut subset, mut failures) = (0, Vec::new(), Vec::new());
    for (i, q) in queries.iter().enumerate() {
        let id = 0x5000 + i as u16;
        let mut unlike = Vec::new();
        if compare(peers, q, Via::Udp(Some(512)), id, true, &mut unlike).is_some() {
            equal += 1;
            continue;
        }
        let got = ask_with(peers.lmdns.addr, q, Via::Udp(Some(512)), id, true).map(|r| r.normalized);
        let knot = ask_with(peers.knot.addr, q, Via::Udp(Some(512)), id, true).map(|r| r.normalized);
        let nsd = ask_with(peers.nsd.addr, q, Via::Udp(Some(512)), id, true).map(|r| r.normalized);
        // The whole answer, over TCP: what lmdns keeps must be part of it.
        let whole = ask_with(peers.knot.addr, q, Via::Tcp, id, true).map(|r| r.normalized);
        let within = |a: &[String], b: &[String]| a.iter().all(|r| b.contains(r));
        let count = |n: &Normalized| format!("{}+{}+{}", n.answer.len(), n.authority.len(), n.additional.len());
        match (got, knot, nsd, whole) {
            (Ok(g), Ok(k), Ok(n), Ok(w))
                if (g.rcode.as_str(), g.aa, g.tc) == (k.rcode.as_str(), k.aa, k.tc)
                    && within(&g.answer, &w.answer)
                    && within(&g.authority, &w.authority)
                    && within(&g.additional, &w.additional) =>
            {
                subset.push(format!("{q}: tc={} lmdns keeps {} records, Knot {}, NSD {}", g.tc, count(&g), count(&k), count(&n)));
            }
            _ => failures.extend(unlike),
        }
    }
    println!(
        "=== {label} at 512: {} queries, {equal} equal to Knot's or NSD's, {} made of their records, {} differ",
        queries.len(),
        subset.len(),
        failures.len()
    );
    for f in subset.iter().chain(&failures) {
        println!("{f}");
    }
    assert!(failures.is_empty(), "{} signed answers at 512 bytes differ (see above)", failures.len());
}

fn lab_queries() -> Vec<TestQuery> {
    let queries = load_queries(&answers_dir().join("queries.txt"));
    assert!(queries.len() >= 20, "queries.txt has only {} queries", queries.len());
    queries
}

/// The fixture zones of the other tests (`fixtures/zones`), at least 20 names and types of each
/// zone (`fixtures/answers/zones-queries.txt`), in every form.
#[test]
fn fixture_zones_answer_like_knot_or_nsd() {
    let zones = zone_names(&zones_dir());
    let queries = load_queries(&answers_dir().join("zones-queries.txt"));
    for zone in &zones {
        let of_zone = |q: &&TestQuery| {
            let name = q.name.trim_end_matches('.');
            let deepest = zones.iter().filter(|z| name == z.as_str() || name.ends_with(&format!(".{z}"))).max_by_key(|z| z.len());
            deepest == Some(zone)
        };
        let n = queries.iter().filter(of_zone).count();
        assert!(n >= 20, "zones-queries.txt has {n} queries of {zone}");
    }
    differential(&start_in(&zones_dir()), &queries, &VIAS, false, "fixtures/zones");
}

fn differential(peers: &Peers, queries: &[TestQuery], vias: &[Via], dnssec: bool, label: &str) {
    let mut failures = Vec::new();
    let (mut compared, mut larger, mut lmdns_bytes, mut knot_bytes) = (0, Vec::new(), 0, 0);
    for (i, q) in queries.iter().enumerate() {
        for (j, &via) in vias.iter().enumerate() {
            compared += 1;
            let id = 0x2000 + (i * vias.len() + j) as u16;
            let Some(c) = compare(peers, q, via, id, dnssec, &mut failures) else { continue };
            let most = c.matched.iter().map(|m| m.1).max().unwrap_or(0);
            if c.lmdns > most {
                larger.push(format!("{q} [{via:?}]: lmdns {} bytes, {:?}", c.lmdns, c.matched));
            }
            if let Some(&(_, knot)) = c.matched.iter().find(|m| m.0 == "knot") {
                lmdns_bytes += c.lmdns;
                knot_bytes += knot;
            }
        }
    }
    println!("=== {label}: {compared} comparisons, {} differ from both Knot and NSD, {} larger", failures.len(), larger.len());
    println!("=== {label}: where lmdns matched Knot: lmdns {lmdns_bytes} bytes in all, Knot {knot_bytes}");
    for f in failures.iter().chain(&larger) {
        println!("{f}");
    }
    assert!(failures.is_empty(), "{} of {compared} answers differ from both Knot and NSD (see above)", failures.len());
    assert!(larger.is_empty(), "{} answers are longer than the reference they match (see above)", larger.len());
}

/// The `net.`-like referral (13 NS, 13 A and 13 AAAA glue records, all in-domain): the size of
/// each answer against Knot's, and TC exactly where Knot sets it (RFC 9471: in-domain glue that
/// does not fit truncates; without EDNS, 512 bytes do not hold it).
#[test]
fn tld_referral_like_knot() {
    let peers = start();
    let q = query("example.net.lab.", RecordType::A);
    let mut failures = Vec::new();
    for (i, via) in VIAS.into_iter().enumerate() {
        let id = 0x3000 + i as u16;
        let got = ask_via(peers.lmdns.addr, &q, via, id).expect("lmdns answers");
        let knot = ask_via(peers.knot.addr, &q, via, id).expect("knot answers");
        let nsd = ask_via(peers.nsd.addr, &q, via, id).expect("nsd answers");
        let (g, k) = (&got.normalized, &knot.normalized);
        println!(
            "{via:?}: lmdns {} bytes tc={} ns={} ar={}; knot {} bytes tc={} ar={}; nsd {} bytes tc={} ar={}",
            got.bytes.len(),
            g.tc,
            g.authority.len(),
            g.additional.len(),
            knot.bytes.len(),
            k.tc,
            k.additional.len(),
            nsd.bytes.len(),
            nsd.normalized.tc,
            nsd.normalized.additional.len()
        );
        if g.tc != k.tc {
            failures.push(format!("{via:?}: TC {} where Knot's is {}", g.tc, k.tc));
        }
        if !g.tc && !same(g, k) {
            failures.push(format!("{via:?}: records differ from Knot's:\n  lmdns {g:?}\n  knot {k:?}"));
        }
        if !g.tc && got.bytes.len() > knot.bytes.len() {
            failures.push(format!("{via:?}: {} bytes where Knot takes {}", got.bytes.len(), knot.bytes.len()));
        }
    }
    // Whole over TCP and at 1232: 13 NS + 26 glue.
    let tcp = ask_via(peers.lmdns.addr, &q, Via::Tcp, 0x3100).expect("lmdns answers over TCP");
    assert_eq!((tcp.normalized.authority.len(), tcp.normalized.additional.len()), (13, 26));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// CNAME chains inside the zone are followed for 12 hops (README, "Answers"): Knot stops at 5,
/// NSD follows any length. A 14-hop chain gets its first 12 CNAMEs (what Knot sends is a prefix
/// of it, and it is a prefix of NSD's answer); a loop ends at the first name seen twice.
#[test]
fn cname_chains_end_at_the_bound_and_loops_end() {
    let peers = start();
    let chain = query("d1.lab.", RecordType::A);
    let ask = |server: &Server, q: &TestQuery| ask_via(server.addr, q, Via::Tcp, 0x3200).expect("answers").normalized;
    let (got, knot, nsd) = (ask(&peers.lmdns, &chain), ask(&peers.knot, &chain), ask(&peers.nsd, &chain));
    let cnames = |n: &Normalized| n.answer.iter().filter(|r| r.split(' ').nth(3) == Some("CNAME")).count();
    println!("d1.lab. A: lmdns {} CNAMEs, knot {}, nsd {}", cnames(&got), cnames(&knot), cnames(&nsd));
    assert_eq!((got.rcode.as_str(), got.aa, got.answer.len(), cnames(&got)), ("NoError", true, 12, 12), "{got:?}");
    for hop in 1..=12 {
        let record = format!("d{hop}.lab. 3600 IN CNAME d{}.lab.", hop + 1);
        assert!(got.answer.contains(&record), "missing {record}: {got:?}");
    }
    assert!(knot.answer.iter().all(|r| got.answer.contains(r)), "Knot's chain is not a prefix of lmdns's: {knot:?}");
    assert!(got.answer.iter().all(|r| nsd.answer.contains(r)), "lmdns's chain is not a prefix of NSD's: {nsd:?}");
    let looped = query("loop1.lab.", RecordType::A);
    let (got, knot) = (ask(&peers.lmdns, &looped), ask(&peers.knot, &looped));
    assert_eq!(got.key(), knot.key(), "a CNAME loop answers unlike Knot");
    assert_eq!(cnames(&got), 2);
}

/// RDATA names compressed against the question read in its case: a cached answer is reused only
/// for the same question bytes, so the zone's data keeps its case whatever case later questions
/// use (the answer cache admits a question on its second sighting).
#[test]
fn rdata_keeps_its_case_whatever_the_question_case() {
    use hickory_proto::op::Message;
    use hickory_proto::rr::RData;
    let lmdns = start_lmdns(&answers_dir());
    for (i, name) in ["lab.", "lab.", "lab.", "LAB.", "lAb.", "LAB.", "lab."].iter().enumerate() {
        let query = DnsQuery::new(0x6000 + i as u16, name, RecordType::MX).bytes();
        let bytes = exchange_udp(lmdns.addr, &query).expect("lmdns answers");
        let message = Message::from_vec(&bytes).expect("decodes");
        let mut targets: Vec<String> = message
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::MX(mx) => Some(mx.exchange.to_ascii()),
                _ => None,
            })
            .collect();
        targets.sort();
        assert_eq!(targets, ["mail.lab.", "mx2.mail.lab."], "asked as {name}");
    }
}
