//! DNSSEC rules one at a time, in process: a zone signed in the test by `ldns-signzone` (NSEC3,
//! throw-away keys), imported by the loader, answered by the engine. The differential test
//! against Knot and NSD (`dnssec.rs`) and the validating resolver (`validation.rs`) check whole
//! answers; these pin what a resolver relies on: the DO bit echoed, nothing DNSSEC without it
//! beyond what is asked, NSEC3 owners absent, each proof's NSEC3 really matching or covering the
//! hashes RFC 5155 names, the cache keeping DO and non-DO answers apart, and a geo variant
//! answered with its own signature.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use common::DnsQuery;
use hickory_proto::rr::RecordType;
use lmdb_schema::{nsec3, OpenOptions, Store};
use lmdns_server::engine::{AnswerConfig, Client, Engine, Transport};
use lmdns_testkit::require_tool;

const ZONE: &str = "$ORIGIN proof.test.
$TTL 3600
@	SOA	ns1 hostmaster 1 7200 3600 1209600 300
	NS	ns1
ns1	A	192.0.2.1
www	A	192.0.2.80
*.wild	TXT	\"wildcard\"
c.b.ent	A	192.0.2.90
";

const SALT: [u8; 2] = [0xbe, 0xef];
const ITERATIONS: u16 = 2;

struct Fixture {
    engine: Engine,
    _dir: tempfile::TempDir,
}

fn loader(db: &Path, args: &[&str]) {
    let mut all = vec!["--db", db.to_str().unwrap(), "--map-size", "64M"];
    all.extend_from_slice(args);
    let code = lmdns_loader::cli::run_args(all.clone()).unwrap_or_else(|e| panic!("{all:?}: {e:#}"));
    assert_eq!(code, std::process::ExitCode::SUCCESS, "{all:?}");
}

/// The zone signed with NSEC3 (salt beef, 2 iterations), a geo variant of www for DE clients
/// with its own RRSIG, and the range table that makes 10.0.0.0/16 DE.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let keygen = |extra: &[&str]| {
        let out = Command::new(require_tool("ldns-keygen", "ldnsutils"))
            .args(["-a", "ECDSAP256SHA256"])
            .args(extra)
            .arg("proof.test")
            .current_dir(d)
            .output()
            .unwrap();
        assert!(out.status.success(), "ldns-keygen: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let (ksk, zsk) = (keygen(&["-k"]), keygen(&[]));
    std::fs::write(d.join("zone"), ZONE).unwrap();
    let out = Command::new(require_tool("ldns-signzone", "ldnsutils"))
        .args(["-n", "-s", "beef", "-t", "2", "-i", "20260101000000", "-e", "20371231000000", "-o", "proof.test", "-f", "signed"])
        .args(["zone", &ksk, &zsk])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(out.status.success(), "ldns-signzone: {}", String::from_utf8_lossy(&out.stderr));
    let db = d.join("db");
    loader(&db, &["zone", "import", "--origin", "proof.test.", d.join("signed").to_str().unwrap()]);
    std::fs::write(d.join("geo.csv"), "start,end,country\n10.0.0.0,10.0.255.255,DE\n").unwrap();
    loader(&db, &["ranges", "import", "--table", "geo", d.join("geo.csv").to_str().unwrap()]);
    loader(&db, &["zone", "policy", "proof.test.", "--table", "geo", "--keys", "country"]);
    let signature = "A 13 3 60 20371231000000 20260101000000 4242 proof.test. c2lnbmF0dXJlIG9mIHRoZSBERSB2YXJpYW50";
    loader(&db, &["record", "add", "--when", "country=DE", "www.proof.test.", "60", "RRSIG", signature]);
    loader(&db, &["record", "add", "--when", "country=DE", "www.proof.test.", "60", "A", "198.51.100.1"]);
    let store = Store::open(&db, &OpenOptions { map_size: 64 << 20, read_only: true }).unwrap();
    Fixture { engine: Engine::new(store, AnswerConfig::default()), _dir: dir }
}

impl Fixture {
    fn answer(&self, source: [u8; 4], query: &[u8]) -> Response {
        let client = Client { addr: SocketAddr::from((source, 5353)), transport: Transport::Udp };
        let txn = self.engine.read_txn().unwrap();
        let mut out = Vec::new();
        assert!(self.engine.answer(&txn, &mut self.engine.scratch(), query, &client, &mut out), "no answer");
        Response::parse(&out)
    }

    /// Asks from `source`; `dnssec_ok`: None sends no EDNS, Some(do) EDNS with DO set or not.
    fn ask_from(&self, source: [u8; 4], name: &str, rtype: RecordType, dnssec_ok: Option<bool>) -> Response {
        let query = DnsQuery::new(7, name, rtype);
        let bytes = match dnssec_ok {
            None => query.bytes(),
            Some(dnssec_ok) => with_do(query.edns(1232, None).bytes(), dnssec_ok),
        };
        self.answer(source, &bytes)
    }

    fn ask(&self, name: &str, rtype: RecordType, dnssec_ok: Option<bool>) -> Response {
        self.ask_from([192, 0, 2, 200], name, rtype, dnssec_ok)
    }
}

/// Sets the DO bit of the query's OPT record (the first record after the question).
fn with_do(mut query: Vec<u8>, dnssec_ok: bool) -> Vec<u8> {
    let mut at = 12;
    while query[at] != 0 {
        at += 1 + query[at] as usize;
    }
    // Root label, type, class; then the OPT: root, type, class (payload), TTL (ext-rcode,
    // version, flags).
    let flags = at + 5 + 1 + 2 + 2 + 2;
    if dnssec_ok {
        query[flags] |= 0x80;
    }
    query
}

/// One record of a response: owner (lower case, dotted), type, RDATA bytes.
#[derive(Clone, Debug)]
struct Rec {
    owner: String,
    rtype: u16,
    rdata: Vec<u8>,
}

/// A response read without a DNS library: DNSSEC RDATA is compared as bytes.
#[derive(Debug)]
struct Response {
    rcode: u8,
    answers: Vec<Rec>,
    authority: Vec<Rec>,
    /// The OPT record's DO bit; None without OPT.
    dnssec_ok: Option<bool>,
}

impl Response {
    fn parse(bytes: &[u8]) -> Response {
        let count = |i: usize| u16::from_be_bytes([bytes[4 + 2 * i], bytes[5 + 2 * i]]) as usize;
        let mut at = 12;
        for _ in 0..count(0) {
            at = read_name(bytes, at).1 + 4;
        }
        let mut sections: [Vec<Rec>; 3] = Default::default();
        let mut dnssec_ok = None;
        for (section, records) in sections.iter_mut().enumerate() {
            for _ in 0..count(section + 1) {
                let (owner, end) = read_name(bytes, at);
                let rtype = u16::from_be_bytes([bytes[end], bytes[end + 1]]);
                let rdlen = u16::from_be_bytes([bytes[end + 8], bytes[end + 9]]) as usize;
                if rtype == 41 {
                    dnssec_ok = Some(bytes[end + 6] & 0x80 != 0);
                }
                records.push(Rec { owner, rtype, rdata: bytes[end + 10..end + 10 + rdlen].to_vec() });
                at = end + 10 + rdlen;
            }
        }
        let [answers, authority, _] = sections;
        Response { rcode: bytes[3] & 0x0F, answers, authority, dnssec_ok }
    }
}

/// The name at `at` (following pointers), dotted and lower-cased, and where it ends.
fn read_name(bytes: &[u8], mut at: usize) -> (String, usize) {
    let mut name = String::new();
    let mut end = None;
    loop {
        let len = bytes[at] as usize;
        if len & 0xC0 == 0xC0 {
            end.get_or_insert(at + 2);
            at = (len & 0x3F) << 8 | bytes[at + 1] as usize;
            continue;
        }
        if len == 0 {
            return (if name.is_empty() { ".".into() } else { name }, end.unwrap_or(at + 1));
        }
        name.push_str(&String::from_utf8_lossy(&bytes[at + 1..at + 1 + len]).to_ascii_lowercase());
        name.push('.');
        at += 1 + len;
    }
}

const A: u16 = 1;
const RRSIG: u16 = 46;
const NSEC: u16 = 47;
const NSEC3: u16 = 50;

fn types(records: &[Rec]) -> Vec<u16> {
    records.iter().map(|r| r.rtype).collect()
}

fn has_dnssec(records: &[Rec]) -> bool {
    records.iter().any(|r| matches!(r.rtype, RRSIG | NSEC | NSEC3))
}

/// The hash a proof is about (RFC 5155 §5).
fn hash(name: &str) -> Vec<u8> {
    nsec3::hash(&lmdns_testkit::wire(name), &SALT, ITERATIONS).to_vec()
}

/// (owner hash, next hash) of each NSEC3 in `records`.
fn nsec3_spans(records: &[Rec]) -> Vec<(Vec<u8>, Vec<u8>)> {
    records
        .iter()
        .filter(|r| r.rtype == NSEC3)
        .map(|r| {
            let label = r.owner.split('.').next().unwrap();
            let salt_len = r.rdata[4] as usize;
            let hash_len = r.rdata[5 + salt_len] as usize;
            let next = r.rdata[6 + salt_len..6 + salt_len + hash_len].to_vec();
            (nsec3::decode_label(label.as_bytes()).unwrap(), next)
        })
        .collect()
}

fn matches(spans: &[(Vec<u8>, Vec<u8>)], h: &[u8]) -> bool {
    spans.iter().any(|(owner, _)| owner == h)
}

/// An NSEC3 covers a hash strictly between its owner and next hash (the last one wraps).
fn covers(spans: &[(Vec<u8>, Vec<u8>)], h: &[u8]) -> bool {
    spans.iter().any(
        |(owner, next)| {
            if owner < next {
                owner.as_slice() < h && h < next.as_slice()
            } else {
                h > owner.as_slice() || h < next.as_slice()
            }
        },
    )
}

/// The key tag of the first RRSIG in `records` (RFC 4034 §3.1: bytes 16..18 of its RDATA).
fn key_tag(records: &[Rec]) -> Option<u16> {
    records.iter().find(|r| r.rtype == RRSIG).map(|r| u16::from_be_bytes([r.rdata[16], r.rdata[17]]))
}

#[test]
fn the_do_bit_is_echoed_and_signatures_come_only_with_it() {
    let f = fixture();
    // Each form asked three times: the cache admits an answer on its second sighting and must
    // never give the DO answer to a non-DO query or the reverse.
    for _ in 0..3 {
        for dnssec_ok in [None, Some(false), Some(true)] {
            let m = f.ask("www.proof.test.", RecordType::A, dnssec_ok);
            assert_eq!(m.rcode, 0);
            let signed = dnssec_ok == Some(true);
            assert_eq!(types(&m.answers), if signed { vec![A, RRSIG] } else { vec![A] }, "{dnssec_ok:?}");
            assert_eq!(m.dnssec_ok, dnssec_ok, "DO echo");
            let m = f.ask("nothing.proof.test.", RecordType::A, dnssec_ok);
            assert_eq!(m.rcode, 3);
            assert_eq!(has_dnssec(&m.authority), signed, "{dnssec_ok:?}: {:?}", &m.authority);
        }
    }
}

#[test]
fn dnssec_types_are_answered_with_and_without_do() {
    let f = fixture();
    for dnssec_ok in [None, Some(true)] {
        let m = f.ask("proof.test.", RecordType::DNSKEY, dnssec_ok);
        assert_eq!(m.answers.iter().filter(|r| r.rtype == 48).count(), 2, "{m:?}");
        let m = f.ask("proof.test.", RecordType::NSEC3PARAM, dnssec_ok);
        assert_eq!(m.answers[0].rtype, 51);
        // Every RRSIG at the name, whatever it covers (A and NSEC3 have none here: www's
        // signatures are over A; the default only, not the DE variant's).
        let m = f.ask("www.proof.test.", RecordType::RRSIG, dnssec_ok);
        assert!(!m.answers.is_empty() && m.answers.iter().all(|r| r.rtype == RRSIG), "{m:?}");
        assert!(m.answers.iter().all(|r| key_tag(std::slice::from_ref(r)) != Some(4242)), "{m:?}");
    }
}

#[test]
fn nsec3_owners_are_not_names_of_the_zone() {
    let f = fixture();
    let mut label = [0u8; 32];
    nsec3::label(&hash("proof.test.").try_into().unwrap(), &mut label);
    let owner = format!("{}.proof.test.", std::str::from_utf8(&label).unwrap());
    // The apex's NSEC3 is there (a proof carries it) ...
    let m = f.ask("proof.test.", RecordType::MX, Some(true));
    assert!(m.authority.iter().any(|r| r.rtype == NSEC3 && r.owner == owner), "{owner}: {m:?}");
    // ... but its owner is no name of the zone, whatever is asked.
    for rtype in [RecordType::NSEC3, RecordType::A, RecordType::ANY] {
        for dnssec_ok in [None, Some(true)] {
            let m = f.ask(&owner, rtype, dnssec_ok);
            assert_eq!(m.rcode, 3, "{owner} {rtype}: {m:?}");
            assert!(m.answers.is_empty());
        }
    }
}

#[test]
fn proofs_match_and_cover_the_hashes_rfc5155_names() {
    let f = fixture();
    // NXDOMAIN (§7.2.2): the closest encloser matched, the next closer name and the wildcard
    // at the encloser covered. The closest encloser of x.y.ent.proof.test is ent (an empty
    // non-terminal: b.ent exists, y.ent does not).
    let m = f.ask("x.y.ent.proof.test.", RecordType::A, Some(true));
    assert_eq!(m.rcode, 3);
    let spans = nsec3_spans(&m.authority);
    assert!(matches(&spans, &hash("ent.proof.test.")), "closest encloser: {m:?}");
    assert!(covers(&spans, &hash("y.ent.proof.test.")), "next closer: {m:?}");
    assert!(covers(&spans, &hash("*.ent.proof.test.")), "wildcard: {m:?}");
    let mut owners: Vec<&Vec<u8>> = spans.iter().map(|(o, _)| o).collect();
    owners.dedup();
    assert_eq!(owners.len(), spans.len(), "an NSEC3 twice: {m:?}");
    // Every NSEC3 signed, and the SOA too.
    let signatures = m.authority.iter().filter(|r| r.rtype == RRSIG).count();
    assert_eq!(signatures, spans.len() + 1, "{m:?}");

    // NODATA (§7.2.3), also at an empty non-terminal: the matching NSEC3.
    for (name, qtype) in [("www.proof.test.", RecordType::MX), ("b.ent.proof.test.", RecordType::A)] {
        let m = f.ask(name, qtype, Some(true));
        assert_eq!((m.rcode, m.answers.len()), (0, 0), "{name}");
        assert!(matches(&nsec3_spans(&m.authority), &hash(name)), "{name} {qtype}: {m:?}");
    }

    // Wildcard answer (§7.2.6): the expansion signed and the next closer name covered.
    let m = f.ask("host.wild.proof.test.", RecordType::TXT, Some(true));
    assert_eq!(types(&m.answers), vec![16, RRSIG]);
    assert!(covers(&nsec3_spans(&m.authority), &hash("host.wild.proof.test.")), "{m:?}");
    // The RRSIG's labels field (byte 3) says the owner was a wildcard: 3 labels, 4 in the name.
    assert_eq!(m.answers[1].rdata[3], 3);

    // Wildcard NODATA (§7.2.5): the wildcard's NSEC3 matched, the encloser matched, the next
    // closer covered.
    let m = f.ask("host.wild.proof.test.", RecordType::A, Some(true));
    let spans = nsec3_spans(&m.authority);
    assert!(matches(&spans, &hash("*.wild.proof.test.")), "{m:?}");
    assert!(matches(&spans, &hash("wild.proof.test.")), "{m:?}");
    assert!(covers(&spans, &hash("host.wild.proof.test.")), "{m:?}");
}

#[test]
fn a_geo_variant_is_answered_with_its_own_signature() {
    let f = fixture();
    let de = f.ask_from([10, 0, 0, 1], "www.proof.test.", RecordType::A, Some(true));
    let other = f.ask_from([192, 0, 2, 200], "www.proof.test.", RecordType::A, Some(true));
    assert_eq!(de.answers[0].rdata, vec![198, 51, 100, 1]);
    assert_eq!(key_tag(&de.answers), Some(4242), "the DE variant's RRSIG: {de:?}");
    assert!(key_tag(&other.answers).is_some_and(|tag| tag != 4242), "the default's RRSIG: {other:?}");
    // Through ECS as well.
    let query = with_do(DnsQuery::new(9, "www.proof.test.", RecordType::A).edns(1232, Some(("10.0.3.0", 24))).bytes(), true);
    let ecs = f.answer([192, 0, 2, 200], &query);
    assert_eq!(key_tag(&ecs.answers), Some(4242), "{ecs:?}");
}

#[test]
fn a_signed_answer_that_does_not_fit_is_truncated_whole() {
    let f = fixture();
    let whole = f.ask("x.y.ent.proof.test.", RecordType::A, Some(true));
    // 512 bytes cannot hold the SOA, three NSEC3 and four RRSIGs: TC with the whole RRsets that
    // fit, each followed by its RRSIG, never a record without its signature (RFC 4035 §3.1.1).
    let query = DnsQuery::new(11, "x.y.ent.proof.test.", RecordType::A).edns(512, None).bytes();
    let client = Client { addr: SocketAddr::from(([192, 0, 2, 200], 5353)), transport: Transport::Udp };
    let txn = f.engine.read_txn().unwrap();
    let mut out = Vec::new();
    assert!(f.engine.answer(&txn, &mut f.engine.scratch(), &with_do(query, true), &client, &mut out));
    assert!(out.len() <= 512, "{} bytes", out.len());
    assert_ne!(out[2] & 0x02, 0, "TC");
    let m = Response::parse(&out);
    assert!(m.answers.is_empty(), "{m:?}");
    assert!(!m.authority.is_empty() && m.authority.len() < whole.authority.len(), "{m:?}");
    for pair in m.authority.chunks(2) {
        assert!(
            matches!(pair, [data, sig] if sig.rtype == RRSIG && sig.owner == data.owner && sig.rdata[..2] == data.rtype.to_be_bytes()),
            "{m:?}"
        );
    }
    // Over TCP the whole proof comes.
    let tcp = Client { addr: client.addr, transport: Transport::Tcp };
    let query = DnsQuery::new(12, "x.y.ent.proof.test.", RecordType::A).edns(512, None).bytes();
    assert!(f.engine.answer(&txn, &mut f.engine.scratch(), &with_do(query, true), &tcp, &mut out));
    assert_eq!(out[2] & 0x02, 0, "TC over TCP");
    let over_tcp = Response::parse(&out);
    assert!(over_tcp.authority.iter().any(|r| r.rtype == NSEC3), "{over_tcp:?}");
    assert_eq!(types(&over_tcp.authority), types(&whole.authority));
}
