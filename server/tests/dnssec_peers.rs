//! Differential DNSSEC: the fixture zones signed in the test (`common/signing.rs`: NSEC, NSEC3,
//! NSEC3 opt-out), served by lmdns, Knot DNS and NSD, asked every query of
//! `fixtures/conformance/queries.txt` and `fixtures/signed/queries.txt` (DNSSEC types, DS at
//! signed and unsigned cuts, an NSEC3 owner name) with DO=1 over UDP, UDP with a 0x20 qname and
//! TCP, and without EDNS. lmdns's answer and authority sections, RCODE, AA and TC must equal
//! Knot's or NSD's (RRSIG, NSEC and NSEC3 compared byte for byte), and the response's OPT must
//! carry DO when the query did (RFC 3225 §3). Truncated answers too: none of these answers
//! needed the tolerance for TC answers of different content this test had (0 of 2,368
//! comparisons), so it is gone; sizes against Knot's are measured in `compression_glue.rs`.

mod common;
#[path = "common/signing.rs"]
mod signing;

use std::net::SocketAddr;

use common::*;
use hickory_proto::rr::RecordType;
use signing::{sign_zones, Chain};

/// How a query is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DoForm {
    /// UDP, no EDNS: nothing DNSSEC beyond what is asked for.
    Plain,
    /// UDP, EDNS 1232, DO.
    Do,
    /// UDP, EDNS 1232, DO, qname in mixed case.
    DoCase,
    /// TCP, EDNS 1232, DO.
    DoTcp,
}

impl DoForm {
    const ALL: [DoForm; 4] = [DoForm::Plain, DoForm::Do, DoForm::DoCase, DoForm::DoTcp];
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

/// The OPT record's DO bit in a response (None without OPT).
fn response_do(bytes: &[u8]) -> Option<bool> {
    let message = hickory_proto::op::Message::from_vec(bytes).ok()?;
    message.edns.map(|e| e.flags().dnssec_ok)
}

struct Asked {
    normalized: Result<Normalized, String>,
    dnssec_ok: Option<bool>,
}

fn ask_do(addr: SocketAddr, q: &TestQuery, form: DoForm, id: u16) -> Asked {
    let base = match form {
        DoForm::Plain => Form::Udp,
        DoForm::Do | DoForm::DoTcp => Form::Edns,
        DoForm::DoCase => Form::Case,
    };
    let mut query = build_query(q, base, id);
    if form != DoForm::Plain {
        set_do(&mut query);
    }
    let bytes = match form {
        DoForm::DoTcp => exchange_tcp(addr, &query),
        _ => exchange_udp(addr, &query),
    };
    match bytes {
        Ok(bytes) => Asked { normalized: normalize(&bytes), dnssec_ok: response_do(&bytes) },
        Err(e) => Asked { normalized: Err(format!("no response: {e}")), dnssec_ok: None },
    }
}

fn queries(signed: &signing::SignedZones) -> Vec<TestQuery> {
    let mut queries = load_queries(&conformance_dir().join("queries.txt"));
    queries.extend(load_queries(&workspace_root().join("fixtures/signed/queries.txt")));
    // An NSEC3 owner is not a name of the zone (NXDOMAIN, as Knot answers), asked as NSEC3
    // and as A; the hash depends on the keys' run only through nothing: it is the apex's.
    if let Some(owner) = signing::first_nsec3_owner(&signed.zone_text("example.com")) {
        for qtype in [RecordType::NSEC3, RecordType::A] {
            queries.push(TestQuery { line: 0, name: owner.clone(), qtype });
        }
    }
    queries
}

/// Compares lmdns with the references on one zone set; returns the failure reports.
fn compare(chain: Chain) -> (usize, Vec<String>) {
    let signed = sign_zones(&zones_dir(), chain);
    let zones = signed.zones_dir();
    let knot = start_knot(&zones);
    let nsd = start_nsd(&zones);
    let lmdns = start_lmdns(&zones);
    let mut compared = 0;
    let mut failures = Vec::new();
    for (i, q) in queries(&signed).iter().enumerate() {
        for form in DoForm::ALL {
            compared += 1;
            let id = 0x4000 + (i as u16).wrapping_mul(7);
            let got = ask_do(lmdns.addr, q, form, id);
            let refs: Vec<Asked> = [&knot, &nsd].iter().map(|s| ask_do(s.addr, q, form, id)).collect();
            let ref_answers: Vec<Result<Normalized, String>> = refs.iter().map(|r| r.normalized.clone()).collect();
            let wants_do = (form != DoForm::Plain).then_some(true);
            if got.dnssec_ok != wants_do && got.normalized.as_ref().is_ok_and(|n| n.rcode != "Refused") {
                failures.push(format!("{chain:?} {q} [{form:?}]: response DO = {:?}, query DO = {wants_do:?}", got.dnssec_ok));
            }
            let lenient: Vec<Result<Normalized, String>> =
                ref_answers.iter().cloned().chain([without_authority_ns(&ref_answers[1])]).collect();
            if got.normalized.as_ref().is_ok_and(|n| matches_any(n, &lenient)) {
                continue;
            }
            let mut report = format!("  {chain:?} {q}   [{form:?}]   (line {})\n", q.line);
            let ref_refs: Vec<&Result<Normalized, String>> = ref_answers.iter().collect();
            report.push_str(&render("lmdns", &got.normalized, &ref_refs));
            report.push_str(&render("knot", &ref_answers[0], &[]));
            report.push_str(&render("nsd", &ref_answers[1], &[]));
            failures.push(report);
        }
    }
    if !failures.is_empty() {
        println!("=== lmdns server log (tail):\n{}", lmdns.log_tail(20));
    }
    (compared, failures)
}

/// NSD's answer without the zone's NS RRset (and its RRSIG) that NSD adds to the authority
/// section of positive answers (the one systematic Knot/NSD difference, see conformance.rs).
fn without_authority_ns(nsd: &Result<Normalized, String>) -> Result<Normalized, String> {
    let mut n = nsd.clone()?;
    if n.rcode == "NoError" && !n.answer.is_empty() {
        let fields = |r: &String| r.split(' ').map(str::to_string).collect::<Vec<_>>();
        // RRSIG RDATA is shown as hex: its first two bytes are the covered type (0002 = NS).
        n.authority.retain(|r| {
            let f = fields(r);
            !(f.get(3).is_some_and(|t| t == "NS")
                || (f.get(3).is_some_and(|t| t == "RRSIG") && f.get(6).is_some_and(|h| h.starts_with("0002"))))
        });
    }
    Ok(n)
}

#[test]
fn signed_zones_answer_like_knot_or_nsd() {
    let mut all = Vec::new();
    for chain in Chain::ALL {
        let (compared, failures) = compare(chain);
        println!("=== {chain:?}: {compared} comparisons, {} differ from both Knot and NSD", failures.len());
        all.extend(failures);
    }
    for f in &all {
        println!("{f}");
    }
    assert!(all.is_empty(), "{} signed answers differ from both Knot and NSD (see above)", all.len());
}
