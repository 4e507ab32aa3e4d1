//! The answer engine in process: zones written through the loader's zone writer, queries built
//! and answers decoded with hickory-proto. The cross-check against Knot and NSD is in
//! `conformance.rs`; these pin the rules one at a time.

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;

use common::{replace_zones, wire, DnsQuery};
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};
use lmdb_schema::{OpenOptions, Store};
use lmdns_loader::zones::{self, Rr, ZoneWriter};
use lmdns_server::engine::{AnswerConfig, Client, Engine, Transport};

fn rr(owner: &str, ttl: u32, rtype: u16, rdata: Vec<u8>) -> Rr {
    Rr { owner: wire(owner), ttl, rtype, rdata, condition: vec![] }
}

fn a(owner: &str, ip: [u8; 4]) -> Rr {
    rr(owner, 300, 1, ip.to_vec())
}

fn soa(apex: &str, minimum: u32) -> Rr {
    let mut rdata = wire(&format!("ns1.{apex}"));
    rdata.extend(wire(&format!("hostmaster.{apex}")));
    for v in [2024010101u32, 7200, 3600, 1209600, minimum] {
        rdata.extend_from_slice(&v.to_be_bytes());
    }
    rr(apex, 3600, 6, rdata)
}

fn ns(owner: &str, target: &str) -> Rr {
    rr(owner, 3600, 2, wire(target))
}

fn mx(owner: &str, pref: u16, target: &str) -> Rr {
    let mut rdata = pref.to_be_bytes().to_vec();
    rdata.extend(wire(target));
    rr(owner, 300, 15, rdata)
}

fn example_zone() -> Vec<Rr> {
    let z = "example.com.";
    vec![
        soa(z, 60),
        ns(z, "ns1.example.com."),
        ns(z, "ns2.elsewhere.net."),
        a("ns1.example.com.", [192, 0, 2, 53]),
        a("www.example.com.", [192, 0, 2, 1]),
        a("www.example.com.", [192, 0, 2, 2]),
        mx(z, 10, "mail.example.com."),
        a("mail.example.com.", [192, 0, 2, 25]),
        rr("alias.example.com.", 300, 5, wire("www.example.com.")),
        rr("chain.example.com.", 300, 5, wire("alias.example.com.")),
        rr("loop1.example.com.", 300, 5, wire("loop2.example.com.")),
        rr("loop2.example.com.", 300, 5, wire("loop1.example.com.")),
        rr("dangling.example.com.", 300, 5, wire("nothing.example.com.")),
        a("deep.ent.example.com.", [192, 0, 2, 9]),
        a("*.wild.example.com.", [192, 0, 2, 42]),
        a("exists.wild.example.com.", [192, 0, 2, 43]),
        ns("sub.example.com.", "ns.sub.example.com."),
        a("ns.sub.example.com.", [192, 0, 2, 100]),
        rr("sub.example.com.", 3600, 43, vec![0x12, 0x34, 8, 2, 0xAB, 0xCD]),
        rr("dn.example.com.", 300, 39, wire("example.net.")),
        a("zero.example.com.", [192, 0, 2, 0]),
    ]
}

struct Fixture {
    engine: Engine,
    store: Store,
    _dir: tempfile::TempDir,
}

fn load(zones: &[(&str, Vec<Rr>)]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db"), &OpenOptions { map_size: 64 << 20, read_only: false }).unwrap();
    let mut txn = store.write_txn().unwrap();
    replace_zones(&store, &mut txn, zones);
    txn.commit().unwrap();
    Fixture { engine: Engine::new(store, AnswerConfig::default()), store, _dir: dir }
}

/// ID 0x4242, RD set; the name parsed with `Name::from_str`, as before the helpers were shared.
fn query_bytes(name: &str, rtype: RecordType, edns: Option<u16>) -> Vec<u8> {
    let q = DnsQuery::parsed(0x4242, name, rtype).rd();
    match edns {
        Some(size) => q.edns(size, None),
        None => q,
    }
    .bytes()
}

impl Fixture {
    fn raw(&self, packet: &[u8], transport: Transport) -> Option<Vec<u8>> {
        let txn = self.engine.read_txn().unwrap();
        let mut scratch = self.engine.scratch();
        let mut out = Vec::new();
        let client = Client { addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 5300)), transport };
        self.engine.answer(&txn, &mut scratch, packet, &client, &mut out).then_some(out)
    }

    fn ask(&self, name: &str, rtype: RecordType) -> Message {
        self.ask_with(name, rtype, Some(1232), Transport::Udp)
    }

    fn ask_with(&self, name: &str, rtype: RecordType, edns: Option<u16>, transport: Transport) -> Message {
        let bytes = self.raw(&query_bytes(name, rtype, edns), transport).expect("a reply");
        Message::from_vec(&bytes).expect("the reply decodes")
    }
}

fn answers(msg: &Message) -> Vec<String> {
    let mut v: Vec<String> =
        msg.answers.iter().map(|r| format!("{} {} {}", r.name.to_ascii().to_lowercase(), r.record_type(), r.data)).collect();
    v.sort();
    v
}

fn authority_types(msg: &Message) -> Vec<RecordType> {
    msg.authorities.iter().map(|r| r.record_type()).collect()
}

#[test]
fn exact_match_is_authoritative() {
    let f = load(&[("example.com.", example_zone())]);
    let r = f.ask("www.example.com.", RecordType::A);
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(r.metadata.authoritative);
    assert!(r.metadata.recursion_desired && !r.metadata.recursion_available, "RD copied, RA never set");
    assert_eq!(answers(&r), vec!["www.example.com. A 192.0.2.1", "www.example.com. A 192.0.2.2"]);
}

#[test]
fn names_in_no_zone_are_refused() {
    let f = load(&[("example.com.", example_zone())]);
    let r = f.ask("www.example.org.", RecordType::A);
    assert_eq!(r.metadata.response_code, ResponseCode::Refused);
    assert!(!r.metadata.authoritative && r.answers.is_empty());
}

#[test]
fn nxdomain_and_nodata_carry_soa_with_negative_ttl() {
    let f = load(&[("example.com.", example_zone())]);
    let r = f.ask("nope.example.com.", RecordType::A);
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(authority_types(&r), vec![RecordType::SOA]);
    assert_eq!(r.authorities[0].ttl, 60, "min(SOA TTL 3600, MINIMUM 60)");
    let r = f.ask("www.example.com.", RecordType::AAAA);
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(r.answers.is_empty());
    assert_eq!(authority_types(&r), vec![RecordType::SOA]);
}

#[test]
fn empty_non_terminal_is_nodata() {
    let f = load(&[("example.com.", example_zone())]);
    let r = f.ask("ent.example.com.", RecordType::A);
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(r.answers.is_empty());
    assert_eq!(authority_types(&r), vec![RecordType::SOA]);
}

#[test]
fn cname_chains_are_followed_and_loops_stop() {
    let f = load(&[("example.com.", example_zone())]);
    let r = f.ask("chain.example.com.", RecordType::A);
    assert_eq!(
        answers(&r),
        vec![
            "alias.example.com. CNAME www.example.com.",
            "chain.example.com. CNAME alias.example.com.",
            "www.example.com. A 192.0.2.1",
            "www.example.com. A 192.0.2.2"
        ]
    );
    let r = f.ask("loop1.example.com.", RecordType::A);
    assert_eq!(r.answers.len(), 2, "each CNAME of the loop once: {:?}", answers(&r));
    let r = f.ask("dangling.example.com.", RecordType::A);
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(r.answers.len(), 1);
    let r = f.ask("alias.example.com.", RecordType::CNAME);
    assert_eq!(answers(&r), vec!["alias.example.com. CNAME www.example.com."]);
}

#[test]
fn wildcards_synthesize_and_existing_names_block() {
    let f = load(&[("example.com.", example_zone())]);
    let r = f.ask("anything.wild.example.com.", RecordType::A);
    assert!(r.metadata.authoritative);
    assert_eq!(answers(&r), vec!["anything.wild.example.com. A 192.0.2.42"]);
    let r = f.ask("exists.wild.example.com.", RecordType::A);
    assert_eq!(answers(&r), vec!["exists.wild.example.com. A 192.0.2.43"]);
    let r = f.ask("exists.wild.example.com.", RecordType::MX);
    assert!(r.answers.is_empty(), "an existing name is not covered by the wildcard");
    let r = f.ask("anything.wild.example.com.", RecordType::MX);
    assert_eq!((r.metadata.response_code, r.answers.len()), (ResponseCode::NoError, 0), "wildcard NODATA");
    let r = f.ask("a.b.wild.example.com.", RecordType::A);
    assert_eq!(answers(&r), vec!["a.b.wild.example.com. A 192.0.2.42"], "wildcard covers deeper names");
}

#[test]
fn referrals_carry_ns_and_glue_without_aa() {
    let f = load(&[("example.com.", example_zone())]);
    for name in ["sub.example.com.", "host.sub.example.com.", "ns.sub.example.com."] {
        let r = f.ask(name, RecordType::A);
        assert_eq!(r.metadata.response_code, ResponseCode::NoError, "{name}");
        assert!(!r.metadata.authoritative, "{name}");
        assert!(r.answers.is_empty(), "{name}");
        assert_eq!(authority_types(&r), vec![RecordType::NS], "{name}");
        assert_eq!(r.additionals.iter().filter(|a| a.record_type() == RecordType::A).count(), 1, "{name}: glue");
    }
    let r = f.ask("sub.example.com.", RecordType::DS);
    assert!(r.metadata.authoritative, "DS at the cut comes from the parent");
    assert_eq!(r.answers.len(), 1);
}

#[test]
fn child_zone_beside_parent() {
    let child = vec![
        soa("sub.example.com.", 30),
        ns("sub.example.com.", "ns.sub.example.com."),
        a("ns.sub.example.com.", [192, 0, 2, 100]),
        a("www.sub.example.com.", [192, 0, 2, 101]),
    ];
    let f = load(&[("example.com.", example_zone()), ("sub.example.com.", child)]);
    let r = f.ask("www.sub.example.com.", RecordType::A);
    assert!(r.metadata.authoritative);
    assert_eq!(answers(&r), vec!["www.sub.example.com. A 192.0.2.101"]);
    let r = f.ask("sub.example.com.", RecordType::SOA);
    assert!(r.metadata.authoritative);
    assert_eq!(r.answers.len(), 1);
    let r = f.ask("nope.sub.example.com.", RecordType::A);
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(r.authorities[0].ttl, 30, "the child's SOA");
    let r = f.ask("sub.example.com.", RecordType::DS);
    assert_eq!(r.answers.len(), 1, "DS still from the parent side");
    // Deleting the child hands its names back to the parent's delegation.
    let mut txn = f.store.write_txn().unwrap();
    zones::delete_zone(&f.store, &mut txn, b"\0com\0example\0sub\0").unwrap();
    txn.commit().unwrap();
    let r = f.ask("www.sub.example.com.", RecordType::A);
    assert!(!r.metadata.authoritative && authority_types(&r) == vec![RecordType::NS]);
}

#[test]
fn dname_synthesizes_cname() {
    let f = load(&[("example.com.", example_zone())]);
    let r = f.ask("host.dn.example.com.", RecordType::A);
    assert_eq!(r.answers[0].record_type(), RecordType::DNAME);
    assert_eq!(r.answers[0].name.to_ascii(), "dn.example.com.");
    assert_eq!(answers(&r)[1], "host.dn.example.com. CNAME host.example.net.");
    assert_eq!(r.answers[1].ttl, 300, "synthesized CNAME takes the DNAME's TTL");
}

#[test]
fn mx_answer_has_additional_addresses() {
    let f = load(&[("example.com.", example_zone())]);
    let r = f.ask("example.com.", RecordType::MX);
    assert_eq!(r.additionals.iter().filter(|a| a.record_type() == RecordType::A).count(), 1);
    let r = f.ask("example.com.", RecordType::NS);
    assert_eq!(r.answers.len(), 2);
    assert_eq!(r.additionals.iter().filter(|a| a.record_type() == RecordType::A).count(), 1, "in-zone NS target only");
}

#[test]
fn big_rrset_truncates_over_classic_udp_and_fits_tcp() {
    let mut zone = example_zone();
    for i in 0..40u8 {
        zone.push(a("big.example.com.", [198, 51, 100, i]));
    }
    let f = load(&[("example.com.", zone)]);
    let r = f.ask_with("big.example.com.", RecordType::A, None, Transport::Udp);
    assert!(r.metadata.truncation);
    assert!(r.answers.is_empty(), "never a partial RRset");
    let r = f.ask_with("big.example.com.", RecordType::A, None, Transport::Tcp);
    assert!(!r.metadata.truncation);
    assert_eq!(r.answers.len(), 40);
    let r = f.ask_with("big.example.com.", RecordType::A, Some(1232), Transport::Udp);
    assert_eq!(r.answers.len(), 40, "fits in 1232 with EDNS");
}

#[test]
fn edns_is_echoed_and_version_checked() {
    let f = load(&[("example.com.", example_zone())]);
    let r = f.ask("www.example.com.", RecordType::A);
    assert_eq!(r.edns.as_ref().unwrap().max_payload(), 1232);
    let r = f.ask_with("www.example.com.", RecordType::A, None, Transport::Udp);
    assert!(r.edns.is_none());
    let mut q = query_bytes("www.example.com.", RecordType::A, Some(1232));
    let n = q.len();
    q[n - 5] = 1; // OPT TTL: extended RCODE, VERSION, flags
    let r = Message::from_vec(&f.raw(&q, Transport::Udp).unwrap()).unwrap();
    // 16 is BADVERS in an OPT-carrying response (hickory names the code BADSIG, its TSIG twin).
    assert_eq!(u16::from(r.metadata.response_code), 16);
}

#[test]
fn question_case_is_echoed_byte_for_byte() {
    let f = load(&[("example.com.", example_zone())]);
    let q = query_bytes("WwW.ExAmPlE.cOm.", RecordType::A, None);
    let r = f.raw(&q, Transport::Udp).unwrap();
    let qend = 12 + wire("www.example.com.").len() + 4;
    assert_eq!(&r[12..qend], &q[12..qend]);
    let msg = Message::from_vec(&r).unwrap();
    assert_eq!(msg.answers.len(), 2);
}

#[test]
fn class_opcode_and_malformed_packets() {
    let f = load(&[("example.com.", example_zone())]);
    let mut msg = Message::new(7, MessageType::Query, OpCode::Query);
    let mut q = Query::query(Name::from_str("www.example.com.").unwrap(), RecordType::A);
    q.set_query_class(DNSClass::CH);
    msg.add_query(q);
    let r = Message::from_vec(&f.raw(&msg.to_vec().unwrap(), Transport::Udp).unwrap()).unwrap();
    assert_eq!(r.metadata.response_code, ResponseCode::Refused);

    let mut notify = query_bytes("example.com.", RecordType::SOA, None);
    notify[2] = (notify[2] & !0x78) | (4 << 3);
    let r = Message::from_vec(&f.raw(&notify, Transport::Udp).unwrap()).unwrap();
    assert_eq!(r.metadata.response_code, ResponseCode::NotAuth, "NOTIFY is not taken");

    // Opcodes other than QUERY, NOTIFY and UPDATE: NOTIMP (RFC 1035 §4.1.1, as Knot and NSD),
    // whatever follows the header; the question echoed when there is one.
    for opcode in [1u8, 2, 3, 6, 15] {
        let mut p = query_bytes("www.example.com.", RecordType::A, None);
        p[2] = (p[2] & !0x78) | (opcode << 3);
        let r = f.raw(&p, Transport::Udp).unwrap();
        assert_eq!((r[3] & 0x0F, r[2] >> 3 & 0x0F, r[5]), (4, opcode, 1), "opcode {opcode}: {r:?}");
        assert_eq!(&r[12..], &p[12..], "opcode {opcode}: question echoed");
        let header_only = [p[0], p[1], p[2], p[3], 0, 0, 0, 0, 0, 0, 0, 0];
        let r = f.raw(&header_only, Transport::Udp).unwrap();
        assert_eq!((r[3] & 0x0F, r.len()), (4, 12), "opcode {opcode}, no question");
    }

    let good = query_bytes("www.example.com.", RecordType::A, Some(1232));
    let mut response = good.clone();
    response[2] |= 0x80;
    assert!(f.raw(&response, Transport::Udp).is_none(), "responses are dropped");
    assert!(f.raw(&good[..5], Transport::Udp).is_none());
    for cut in 12..good.len() {
        if let Some(r) = f.raw(&good[..cut], Transport::Udp) {
            let r = Message::from_vec(&r).unwrap();
            assert_eq!(r.metadata.response_code, ResponseCode::FormErr, "truncated at {cut}");
        }
    }
    for i in 0..good.len() {
        for bit in 0..8 {
            let mut p = good.clone();
            p[i] ^= 1 << bit;
            if let Some(r) = f.raw(&p, Transport::Udp) {
                assert!(r.len() >= 12);
            }
        }
    }
}

#[test]
fn any_is_minimal_over_udp_and_tcp() {
    let f = load(&[("example.com.", example_zone())]);
    let udp = f.ask_with("example.com.", RecordType::ANY, Some(1232), Transport::Udp);
    let types: std::collections::BTreeSet<_> = udp.answers.iter().map(|r| r.record_type()).collect();
    assert_eq!(types.len(), 1, "one RRset over UDP (RFC 8482)");
    let tcp = f.ask_with("example.com.", RecordType::ANY, Some(1232), Transport::Tcp);
    assert_eq!(answers(&tcp), answers(&udp), "Knot and NSD give one RRset over TCP too");
}

#[test]
fn edits_are_visible_to_the_next_transaction() {
    let f = load(&[("example.com.", example_zone())]);
    let mut txn = f.store.write_txn().unwrap();
    let mut edits = ZoneWriter::new(&f.store, &mut txn);
    edits.add(&a("new.example.com.", [192, 0, 2, 77])).unwrap();
    edits.delete(&wire("www.example.com."), 1, Some(&[192, 0, 2, 1]), b"").unwrap();
    edits.add(&a("*.example.com.", [192, 0, 2, 78])).unwrap();
    let summary = edits.finish(true).unwrap();
    txn.commit().unwrap();
    assert_eq!(summary[0].serial, 2024010102, "serial bumped once");
    assert_eq!(answers(&f.ask("new.example.com.", RecordType::A)), vec!["new.example.com. A 192.0.2.77"]);
    assert_eq!(answers(&f.ask("www.example.com.", RecordType::A)), vec!["www.example.com. A 192.0.2.2"]);
    assert_eq!(answers(&f.ask("other.example.com.", RecordType::A)), vec!["other.example.com. A 192.0.2.78"]);
    let r = f.ask("example.com.", RecordType::SOA);
    match &r.answers[0].data {
        RData::SOA(soa) => assert_eq!(soa.serial, 2024010102),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_worker_remembering_lookups_sees_each_commit_at_its_next_batch() {
    // One worker's scratch and held transaction across commits, as a UDP worker runs: the name
    // memo (answer cache off, so nothing else remembers) has seen the names absent, present,
    // and their enclosers; every commit must show at the next batch.
    let f = load(&[("example.com.", example_zone())]);
    let engine = Engine::new(f.store, AnswerConfig { answer_cache_slots: 0, ..AnswerConfig::default() });
    let mut scratch = engine.scratch();
    let mut held = lmdb_schema::readers::HeldReadTxn::default();
    let client = Client { addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 5300)), transport: Transport::Udp };
    let mut ask = |held: &mut lmdb_schema::readers::HeldReadTxn, name: &str| {
        let txn = engine.batch_txn(held).unwrap();
        let mut out = Vec::new();
        assert!(engine.answer(txn, &mut scratch, &query_bytes(name, RecordType::A, Some(1232)), &client, &mut out));
        let m = Message::from_vec(&out).unwrap();
        (m.metadata.response_code, answers(&m))
    };
    for _ in 0..3 {
        assert_eq!(ask(&mut held, "new.example.com."), (ResponseCode::NXDomain, vec![]));
        assert_eq!(ask(&mut held, "www.example.com.").1.len(), 2);
    }
    let commit = |edit: &dyn Fn(&mut ZoneWriter)| {
        let mut txn = f.store.write_txn().unwrap();
        let mut edits = ZoneWriter::new(&f.store, &mut txn);
        edit(&mut edits);
        edits.finish(true).unwrap();
        txn.commit().unwrap();
    };
    commit(&|e| {
        e.add(&a("new.example.com.", [192, 0, 2, 77])).unwrap();
    });
    assert_eq!(ask(&mut held, "new.example.com."), (ResponseCode::NoError, vec!["new.example.com. A 192.0.2.77".to_string()]));
    commit(&|e| {
        e.delete(&wire("www.example.com."), 1, None, b"").unwrap();
    });
    assert_eq!(ask(&mut held, "www.example.com.").1, Vec::<String>::new(), "deleted: NODATA at the next batch");
    // A wildcard added above a name the memo knows as absent now answers for it.
    assert_eq!(ask(&mut held, "x.new.example.com."), (ResponseCode::NXDomain, vec![]));
    commit(&|e| {
        e.add(&a("*.new.example.com.", [192, 0, 2, 79])).unwrap();
    });
    assert_eq!(ask(&mut held, "x.new.example.com."), (ResponseCode::NoError, vec!["x.new.example.com. A 192.0.2.79".to_string()]));
}

#[test]
fn an_auto_sized_memo_grows_when_a_commit_brings_many_zones() {
    // A server started on a small database and filled later: the memo sized by the zone count
    // at start must follow the zones a commit adds, at the worker's next batch; a size the
    // operator set stays put. Answers are the same before, during and after the growth.
    use lmdns_server::engine::{auto_name_cache_slots, DEFAULT_NAME_CACHE_SLOTS};
    let f = load(&[("example.com.", example_zone())]);
    let client = Client { addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 5300)), transport: Transport::Udp };
    let workers: Vec<_> = [true, false]
        .into_iter()
        .map(|auto| {
            let config = AnswerConfig { answer_cache_slots: 0, name_cache_auto: auto, ..AnswerConfig::default() };
            let engine = Engine::new(f.store, config);
            let scratch = engine.scratch();
            (auto, engine, scratch, lmdb_schema::readers::HeldReadTxn::default())
        })
        .collect();
    let ask = |engine: &Engine, scratch: &mut _, held: &mut _, name: &str| {
        let txn = engine.batch_txn(held).unwrap();
        let mut out = Vec::new();
        assert!(engine.answer(txn, scratch, &query_bytes(name, RecordType::A, Some(1232)), &client, &mut out));
        answers(&Message::from_vec(&out).unwrap())
    };
    let added = 9000;
    let zones: Vec<(String, Vec<Rr>)> = (0..added)
        .map(|i| {
            let apex = format!("zone{i}.test.");
            let records =
                vec![soa(&apex, 60), ns(&apex, &format!("ns1.{apex}")), a(&format!("www.{apex}"), [198, 51, 100, (i % 250) as u8])];
            (apex, records)
        })
        .collect();
    let last = format!("www.zone{}.test.", added - 1);
    let want_last = vec![format!("{last} A 198.51.100.{}", (added - 1) % 250)];
    for (auto, engine, mut scratch, mut held) in workers {
        assert_eq!(ask(&engine, &mut scratch, &mut held, "www.example.com.").len(), 2);
        engine.after_batch(&mut scratch, &mut held);
        assert_eq!(scratch.name_cache_capacity(), DEFAULT_NAME_CACHE_SLOTS, "one zone: the smallest memo");
        if auto {
            let mut txn = f.store.write_txn().unwrap();
            let refs: Vec<(&str, Vec<Rr>)> = zones.iter().map(|(apex, records)| (apex.as_str(), records.clone())).collect();
            replace_zones(&f.store, &mut txn, &refs);
            txn.commit().unwrap();
        }
        // The first batch on the new snapshot is answered by the old memo, the next ones by
        // the grown one.
        for _ in 0..2 {
            assert_eq!(ask(&engine, &mut scratch, &mut held, &last), want_last);
            assert_eq!(ask(&engine, &mut scratch, &mut held, "www.example.com.").len(), 2);
            engine.after_batch(&mut scratch, &mut held);
        }
        let expected = if auto { auto_name_cache_slots(added + 1) } else { DEFAULT_NAME_CACHE_SLOTS };
        assert!(expected > DEFAULT_NAME_CACHE_SLOTS || !auto);
        assert_eq!(scratch.name_cache_capacity(), expected, "auto sizing: {auto}");
    }
}

#[test]
fn repeated_questions_echo_their_own_id_and_case() {
    // One worker's scratch across queries: the second and third are answered from its cache.
    let f = load(&[("example.com.", example_zone())]);
    let txn = f.engine.read_txn().unwrap();
    let mut scratch = f.engine.scratch();
    let client = Client { addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 5300)), transport: Transport::Udp };
    let mut first = Vec::new();
    let q1 = query_bytes("www.example.com.", RecordType::A, None);
    assert!(f.engine.answer(&txn, &mut scratch, &q1, &client, &mut first));
    for (id, name) in [(0x0101u16, "WWW.EXAMPLE.COM."), (0xBEEF, "wWw.ExAmPlE.cOm.")] {
        let mut q = query_bytes(name, RecordType::A, None);
        q[..2].copy_from_slice(&id.to_be_bytes());
        let mut out = Vec::new();
        assert!(f.engine.answer(&txn, &mut scratch, &q, &client, &mut out));
        assert_eq!(&out[..2], &id.to_be_bytes());
        let qend = 12 + wire(name).len() + 4;
        assert_eq!(&out[12..qend], &q[12..qend], "question echoed byte for byte");
        assert_eq!(&out[2..12], &first[2..12], "same header otherwise");
        assert_eq!(&out[qend..], &first[qend..], "same records");
        let msg = Message::from_vec(&out).unwrap();
        assert_eq!(answers(&msg), vec!["www.example.com. A 192.0.2.1", "www.example.com. A 192.0.2.2"]);
    }
    // Another type is another entry.
    let mut out = Vec::new();
    assert!(f.engine.answer(&txn, &mut scratch, &query_bytes("www.example.com.", RecordType::AAAA, None), &client, &mut out));
    assert!(Message::from_vec(&out).unwrap().answers.is_empty());
}

#[test]
fn warming_a_batch_changes_no_answer_and_counts_no_lookup() {
    // The warm pass before each UDP batch is a hint: a worker that warms must answer every packet
    // byte for byte as one that does not, its memo and answer cache counting the same lookups and
    // hits, through repeats (cache and memo hits), a commit, and packets that are no query.
    let f = load(&[("example.com.", example_zone())]);
    let client = Client { addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 5300)), transport: Transport::Udp };
    let mut batch: Vec<Vec<u8>> = vec![
        query_bytes("www.example.com.", RecordType::A, Some(1232)),
        query_bytes("WWW.Example.COM.", RecordType::A, None),
        query_bytes("nope.example.com.", RecordType::AAAA, Some(1232)),
        query_bytes("mail.example.com.", RecordType::MX, Some(4096)),
        query_bytes("www.example.com.", RecordType::A, Some(1232)),
        query_bytes("elsewhere.org.", RecordType::A, None),
        Vec::new(),
        vec![0x12; 5],
        b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03a\x00\x01\x00\x00\x01\x00\x01".to_vec(),
        b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x40".to_vec(),
    ];
    let mut response = query_bytes("www.example.com.", RecordType::A, None);
    response[2] |= 0x80;
    batch.push(response);
    let mut update = query_bytes("example.com.", RecordType::SOA, None);
    update[2] = 0x28;
    batch.push(update);
    let (mut warmed, mut plain) = (f.engine.scratch(), f.engine.scratch());
    // One transaction for both (LMDB allows one reader per thread), held across batches.
    let mut held = lmdb_schema::readers::HeldReadTxn::default();
    for round in 0..4 {
        if round == 2 {
            let mut txn = f.store.write_txn().unwrap();
            let mut edits = ZoneWriter::new(&f.store, &mut txn);
            edits.add(&a("nope.example.com.", [192, 0, 2, 90])).unwrap();
            edits.finish(true).unwrap();
            txn.commit().unwrap();
        }
        let txn = f.engine.batch_txn(&mut held).unwrap();
        f.engine.warm_batch(txn, &mut warmed, batch.iter().map(Vec::as_slice));
        for packet in &batch {
            let (mut a_out, mut b_out) = (Vec::new(), Vec::new());
            let a_ok = f.engine.answer(txn, &mut warmed, packet, &client, &mut a_out);
            let b_ok = f.engine.answer(txn, &mut plain, packet, &client, &mut b_out);
            assert_eq!((a_ok, &a_out), (b_ok, &b_out), "round {round}, packet {packet:02x?}");
            if a_ok {
                assert_eq!(warmed.answered, plain.answered, "round {round}, packet {packet:02x?}");
            }
        }
        assert_eq!(warmed.name_cache_stats(), plain.name_cache_stats(), "round {round}: the warm pass counted lookups");
    }
    let (lookups, hits) = warmed.name_cache_stats();
    assert!(lookups > 0 && hits > 0, "the memo was used: {lookups} lookups, {hits} hits");
}
