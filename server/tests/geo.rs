//! Client metadata shaping answers, in process: geo-selected variants by source address and by
//! EDNS Client Subnet with the right scope, whoami, and the IP-lookup zone. Zones go through the
//! loader's zone writer and range tables through the loader's `ranges import`; queries and
//! answers through hickory-proto.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use common::{wire, DnsQuery};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use hickory_proto::rr::{RData, RecordType};
use lmdb_schema::zone::GeoPolicy;
use lmdb_schema::{OpenOptions, Store};
use lmdns_loader::zones::{self, Rr, ZoneTree, ZoneWriter};
use lmdns_server::engine::{name_key, AnswerConfig, Client, Engine, Transport};

fn rr(owner: &str, rtype: u16, rdata: Vec<u8>, when: &str) -> Rr {
    Rr { owner: wire(owner), ttl: 300, rtype, rdata, condition: when.as_bytes().to_vec() }
}

fn zone() -> Vec<Rr> {
    let mut soa = wire("ns1.example.com.");
    soa.extend(wire("hostmaster.example.com."));
    for v in [1u32, 7200, 3600, 1209600, 300] {
        soa.extend_from_slice(&v.to_be_bytes());
    }
    vec![
        rr("example.com.", 6, soa, ""),
        rr("example.com.", 2, wire("ns1.example.com."), ""),
        rr("ns1.example.com.", 1, vec![192, 0, 2, 53], ""),
        rr("www.example.com.", 1, vec![192, 0, 2, 1], ""),
        rr("www.example.com.", 1, vec![192, 0, 2, 10], "country=DE"),
        rr("www.example.com.", 1, vec![192, 0, 2, 20], "continent=EU"),
        rr("www.example.com.", 1, vec![192, 0, 2, 30], "pop=fra"),
        rr("cdn.example.com.", 5, wire("de.cdn.example.net."), "country=DE"),
        rr("only-de.example.com.", 1, vec![192, 0, 2, 40], "country=DE"),
        rr("plain.example.com.", 1, vec![192, 0, 2, 50], ""),
        rr("myip.example.com.", 5, wire("me.example.com."), ""),
    ]
}

const RANGES: &str = "start,end,country,continent,pop,asn
10.0.0.0,10.0.255.255,DE,EU,fra,3320
10.1.0.0,10.1.255.255,FR,EU,,3215
10.2.0.0,10.2.0.255,US,NA,,7018
1.0.0.0,1.0.129.0,DE,EU,,3320
2001:db8::,2001:db8:0:ffff:ffff:ffff:ffff:ffff,DE,EU,,3320
";

struct Fixture {
    engine: Engine,
    store: Store,
    _dir: tempfile::TempDir,
}

/// A second table, for the zone whoami names of a policy that names it.
const ISP_RANGES: &str = "start,end,isp
10.0.0.0,10.0.255.255,fra-net
10.1.0.0,10.1.255.255,fr-net
";

fn fixture(config: AnswerConfig) -> Fixture {
    fixture_with(config, GeoPolicy { table: "geo".into(), keys: vec!["pop".into(), "country".into(), "continent".into()], whoami: vec![] })
}

/// The zone with `policy`, the range tables `geo` (RANGES) and `isp` (ISP_RANGES).
fn fixture_with(config: AnswerConfig, policy: GeoPolicy) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let store = Store::open(&db, &OpenOptions { map_size: 64 << 20, read_only: false }).unwrap();
    for (table, rows) in [("geo", RANGES), ("isp", ISP_RANGES)] {
        let csv = dir.path().join(format!("{table}.csv"));
        std::fs::write(&csv, rows).unwrap();
        let code = lmdns_loader::cli::run_args([
            "--db",
            db.to_str().unwrap(),
            "--map-size",
            "64M",
            "ranges",
            "import",
            "--table",
            table,
            csv.to_str().unwrap(),
        ])
        .unwrap();
        assert_eq!(code, std::process::ExitCode::SUCCESS);
    }
    let mut txn = store.write_txn().unwrap();
    let mut tree = ZoneTree::new(&wire("example.com.")).unwrap();
    for r in zone() {
        tree.insert(&r).unwrap();
    }
    zones::replace_zone(&store, &mut txn, tree, Some(policy)).unwrap();
    txn.commit().unwrap();
    Fixture { engine: Engine::new(store, config), store, _dir: dir }
}

/// ID 7, EDNS 1232 always; the name parsed with `Name::from_str`, as before the helpers were shared.
fn query(name: &str, rtype: RecordType, ecs: Option<(&str, u8)>) -> Vec<u8> {
    DnsQuery::parsed(7, name, rtype).edns(1232, ecs).bytes()
}

impl Fixture {
    fn ask_from(&self, source: &str, transport: Transport, packet: &[u8]) -> Message {
        let txn = self.engine.read_txn().unwrap();
        let mut scratch = self.engine.scratch();
        let mut out = Vec::new();
        let client = Client { addr: SocketAddr::new(IpAddr::from_str(source).unwrap(), 40000), transport };
        assert!(self.engine.answer(&txn, &mut scratch, packet, &client, &mut out));
        Message::from_vec(&out).unwrap()
    }

    fn a(&self, source: &str, name: &str, ecs: Option<(&str, u8)>) -> (Vec<String>, Option<u8>) {
        let r = self.ask_from(source, Transport::Udp, &query(name, RecordType::A, ecs));
        let answers = r.answers.iter().map(|a| a.data.to_string()).collect();
        (answers, scope(&r))
    }
}

fn scope(r: &Message) -> Option<u8> {
    match r.edns.as_ref()?.option(EdnsCode::Subnet)? {
        EdnsOption::Subnet(s) => Some(s.scope_prefix()),
        _ => None,
    }
}

#[test]
fn variants_follow_the_policy_key_order_then_the_default() {
    let f = fixture(AnswerConfig::default());
    assert_eq!(f.a("10.0.0.5", "www.example.com.", None).0, vec!["192.0.2.30"], "pop=fra is tried first");
    assert_eq!(f.a("10.1.0.5", "www.example.com.", None).0, vec!["192.0.2.20"], "no pop, no FR variant: continent=EU");
    assert_eq!(f.a("1.0.129.0", "www.example.com.", None).0, vec!["192.0.2.10"], "country=DE in a non-CIDR range");
    assert_eq!(f.a("10.2.0.9", "www.example.com.", None).0, vec!["192.0.2.1"], "no matching variant: default");
    assert_eq!(f.a("192.168.1.1", "www.example.com.", None).0, vec!["192.0.2.1"], "in no range: default");
    assert_eq!(f.a("2001:db8::7", "www.example.com.", None).0, vec!["192.0.2.10"], "IPv6 client");
}

#[test]
fn no_default_means_the_normal_negative_answer() {
    let f = fixture(AnswerConfig::default());
    assert_eq!(f.a("10.0.0.5", "only-de.example.com.", None).0, vec!["192.0.2.40"]);
    let r = f.ask_from("10.2.0.9", Transport::Udp, &query("only-de.example.com.", RecordType::A, None));
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(r.answers.is_empty());
    assert_eq!(r.authorities[0].record_type(), RecordType::SOA, "NODATA");
}

#[test]
fn cname_variants_are_selected_too() {
    let f = fixture(AnswerConfig::default());
    let r = f.ask_from("10.0.0.5", Transport::Udp, &query("cdn.example.com.", RecordType::A, None));
    assert_eq!(r.answers[0].record_type(), RecordType::CNAME);
    let r = f.ask_from("10.2.0.9", Transport::Udp, &query("cdn.example.com.", RecordType::A, None));
    assert!(r.answers.is_empty());
}

#[test]
fn ecs_selects_and_reports_the_scope() {
    let f = fixture(AnswerConfig::default());
    // The resolver's own address is in no range; the client subnet decides.
    assert_eq!(f.a("127.0.0.1", "www.example.com.", Some(("10.1.2.0", 24))), (vec!["192.0.2.20".to_string()], Some(16)));
    assert_eq!(f.a("127.0.0.1", "www.example.com.", Some(("10.0.7.0", 24))), (vec!["192.0.2.30".to_string()], Some(16)));
    // 1.0.0.0–1.0.129.0: the /24 around 1.0.128.0 lies inside; the /17 around 1.0.5.0 does.
    assert_eq!(f.a("127.0.0.1", "www.example.com.", Some(("1.0.128.0", 24))).1, Some(24));
    assert_eq!(f.a("127.0.0.1", "www.example.com.", Some(("1.0.5.0", 24))).1, Some(17));
    assert_eq!(f.a("127.0.0.1", "www.example.com.", Some(("2001:db8::", 56))), (vec!["192.0.2.10".to_string()], Some(48)));
    // In no range: the default answer holds for the whole gap between the neighbouring
    // ranges, so the scope is the largest aligned block of the gap around the subnet.
    // 10.2.1.0–255.255.255.255 (nothing above 10.2.0.255):
    assert_eq!(f.a("127.0.0.1", "www.example.com.", Some(("10.3.0.0", 24))), (vec!["192.0.2.1".to_string()], Some(16)));
    assert_eq!(f.a("127.0.0.1", "www.example.com.", Some(("10.2.1.0", 24))), (vec!["192.0.2.1".to_string()], Some(24)));
    // 1.0.129.1–9.255.255.255: 4.0.0.0/6 is the largest block around 5.0.0.0 inside it.
    assert_eq!(f.a("127.0.0.1", "www.example.com.", Some(("5.0.0.0", 24))), (vec!["192.0.2.1".to_string()], Some(6)));
    // No geo variants for the name: the answer holds for everyone.
    assert_eq!(f.a("127.0.0.1", "plain.example.com.", Some(("10.1.2.0", 24))), (vec!["192.0.2.50".to_string()], Some(0)));
    // Source prefix 0: the client asks not to be located; the resolver's address is used.
    assert_eq!(f.a("10.0.0.5", "www.example.com.", Some(("0.0.0.0", 0))), (vec!["192.0.2.30".to_string()], Some(0)));
    // No ECS in the query: none in the answer.
    assert_eq!(f.a("10.0.0.5", "www.example.com.", None).1, None);
}

#[test]
fn ecs_off_ignores_the_option() {
    let f = fixture(AnswerConfig { ecs: false, ..AnswerConfig::default() });
    assert_eq!(f.a("10.2.0.9", "www.example.com.", Some(("10.0.7.0", 24))), (vec!["192.0.2.1".to_string()], None));
}

#[test]
fn malformed_ecs_is_formerr() {
    let f = fixture(AnswerConfig::default());
    let mut q = query("www.example.com.", RecordType::A, Some(("10.1.2.0", 24)));
    // The option's last address byte: set a bit beyond the /24 source prefix... there is none
    // (3 bytes); instead claim a /23 so that 10.1.2.0 has a bit beyond the prefix.
    let n = q.len();
    assert_eq!(&q[n - 5..n - 3], &[24, 0]);
    q[n - 5] = 23;
    q[n - 1] = 1;
    let r = f.ask_from("127.0.0.1", Transport::Udp, &q);
    assert_eq!(r.metadata.response_code, ResponseCode::FormErr);
}

fn txt(r: &Message) -> serde_json::Value {
    serde_json::from_str(&txt_text(r)).unwrap()
}

fn txt_text(r: &Message) -> String {
    match &r.answers[0].data {
        RData::TXT(t) => String::from_utf8(t.txt_data.iter().flat_map(|s| s.iter().copied()).collect()).unwrap(),
        other => panic!("not TXT: {other:?}"),
    }
}

#[test]
fn whoami_over_udp_and_tcp() {
    let f = fixture(AnswerConfig { whoami_keys: vec![name_key("whoami.example.com.").unwrap()], ..AnswerConfig::default() });
    for transport in [Transport::Udp, Transport::Tcp] {
        let r = f.ask_from("10.1.9.9", transport, &query("WhoAmI.example.com.", RecordType::TXT, None));
        let doc = txt(&r);
        assert_eq!(doc["ip"], "10.1.9.9");
        assert_eq!(doc["meta"]["country"], "FR");
        assert_eq!(doc["start"], "10.1.0.0");
        assert_eq!(r.answers[0].ttl, 0);
    }
    let r = f.ask_from("127.0.0.1", Transport::Udp, &query("whoami.example.com.", RecordType::TXT, Some(("10.0.1.0", 24))));
    let doc = txt(&r);
    assert_eq!(
        (doc["ip"].as_str(), doc["ecs"].as_str(), doc["meta"]["pop"].as_str()),
        (Some("127.0.0.1"), Some("10.0.1.0/24"), Some("fra"))
    );
    // The range is a /16, but the TXT spells out the /24 it was asked for: scope 24.
    assert_eq!(scope(&r), Some(24));
    let r = f.ask_from("10.1.9.9", Transport::Udp, &query("whoami.example.com.", RecordType::A, None));
    assert_eq!(r.answers[0].data.to_string(), "10.1.9.9");
    let r = f.ask_from("2001:db8::5", Transport::Tcp, &query("whoami.example.com.", RecordType::AAAA, None));
    assert_eq!(r.answers[0].data.to_string(), "2001:db8::5");
}

#[test]
fn lookup_zone_hits_misses_and_ipv6() {
    let f = fixture(AnswerConfig { lookup_zone_key: Some(name_key("geo.example.").unwrap()), ..AnswerConfig::default() });
    let r = f.ask_from("127.0.0.1", Transport::Udp, &query("5.0.0.10.geo.example.", RecordType::TXT, None));
    let doc = txt(&r);
    assert_eq!((doc["ip"].as_str(), doc["meta"]["country"].as_str()), (Some("10.0.0.5"), Some("DE")));
    assert_eq!(doc["meta"]["asn"], 3320, "numbers stay numbers, as in the table and over HTTP");
    assert!(r.metadata.authoritative);
    let r = f.ask_from("127.0.0.1", Transport::Udp, &query("1.1.168.192.geo.example.", RecordType::TXT, None));
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(r.authorities[0].record_type(), RecordType::SOA);
    let r = f.ask_from("127.0.0.1", Transport::Udp, &query("1.2.3.geo.example.", RecordType::TXT, None));
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain, "not an address");
    let v6 = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.geo.example.";
    let r = f.ask_from("127.0.0.1", Transport::Tcp, &query(v6, RecordType::TXT, None));
    assert_eq!(txt(&r)["meta"]["country"], "DE");
    let r = f.ask_from("127.0.0.1", Transport::Udp, &query("5.0.0.10.geo.example.", RecordType::A, None));
    assert_eq!((r.metadata.response_code, r.answers.len()), (ResponseCode::NoError, 0), "NODATA for other types");
}

#[test]
fn a_variant_added_by_the_loader_is_served_on_the_next_query() {
    let f = fixture(AnswerConfig::default());
    assert_eq!(f.a("10.2.0.9", "www.example.com.", None).0, vec!["192.0.2.1"]);
    let mut txn = f.store.write_txn().unwrap();
    let mut edits = ZoneWriter::new(&f.store, &mut txn);
    edits.add(&rr("www.example.com.", 1, vec![192, 0, 2, 99], "country=US")).unwrap();
    edits.finish(true).unwrap();
    txn.commit().unwrap();
    assert_eq!(f.a("10.2.0.9", "www.example.com.", None).0, vec!["192.0.2.99"]);
}

#[test]
fn one_worker_never_serves_one_clients_variant_to_another() {
    // The same scratch (one worker, one answer cache) answers clients in turn.
    let f = fixture(AnswerConfig::default());
    let txn = f.engine.read_txn().unwrap();
    let mut scratch = f.engine.scratch();
    let mut out = Vec::new();
    let q = query("www.example.com.", RecordType::A, None);
    for (source, expected) in
        [("10.0.0.5", "192.0.2.30"), ("10.2.0.9", "192.0.2.1"), ("10.0.0.5", "192.0.2.30"), ("10.1.0.1", "192.0.2.20")]
    {
        let client = Client { addr: SocketAddr::new(IpAddr::from_str(source).unwrap(), 40000), transport: Transport::Udp };
        assert!(f.engine.answer(&txn, &mut scratch, &q, &client, &mut out));
        let r = Message::from_vec(&out).unwrap();
        assert_eq!(r.answers[0].data.to_string(), expected, "client {source}");
    }
}

// ---------------------------------------------------------------------------------------------
// Whoami names of a zone's policy
// ---------------------------------------------------------------------------------------------

/// The zone's policy reads `isp` and makes me.example.com. a whoami name; the server's own
/// `--whoami` name whoami.example.com. reads `geo`.
fn zone_whoami_fixture() -> Fixture {
    let config = AnswerConfig { whoami_keys: vec![name_key("whoami.example.com.").unwrap()], ..AnswerConfig::default() };
    fixture_with(config, GeoPolicy { table: "isp".into(), keys: vec!["country".into()], whoami: vec!["me.example.com.".into()] })
}

/// Rcode, AA, answers as text with their TTLs, and the authority types.
fn summary(r: &Message) -> (ResponseCode, bool, Vec<(String, u32)>, Vec<RecordType>) {
    (
        r.metadata.response_code,
        r.metadata.authoritative,
        r.answers.iter().map(|a| (a.data.to_string(), a.ttl)).collect(),
        r.authorities.iter().map(|a| a.record_type()).collect(),
    )
}

#[test]
fn zone_whoami_answers_from_the_policy_table_over_udp_and_tcp() {
    let f = zone_whoami_fixture();
    for transport in [Transport::Udp, Transport::Tcp] {
        let r = f.ask_from("10.1.9.9", transport, &query("Me.Example.com.", RecordType::TXT, None));
        assert_eq!((r.metadata.response_code, r.metadata.authoritative), (ResponseCode::NoError, true));
        assert_eq!(r.answers.len(), 1);
        assert_eq!(r.answers[0].ttl, 0);
        // Keys in the order `ranges lookup` and HTTP /lookup print them.
        assert_eq!(txt_text(&r), r#"{"ip":"10.1.9.9","start":"10.1.0.0","end":"10.1.255.255","meta":{"isp":"fr-net"}}"#);
        // The server's --whoami name keeps its own table.
        let r = f.ask_from("10.1.9.9", transport, &query("whoami.example.com.", RecordType::TXT, None));
        assert_eq!(txt(&r)["meta"]["country"], "FR");
        assert!(txt(&r)["meta"].get("isp").is_none());
    }
    // An address in no range of the table: the metadata is null.
    let r = f.ask_from("192.168.1.1", Transport::Udp, &query("me.example.com.", RecordType::TXT, None));
    assert_eq!(txt(&r), serde_json::json!({"ip": "192.168.1.1", "meta": null}));
    // ANY gets the TXT (RFC 8482: one RRset stands for all).
    let r = f.ask_from("10.0.0.5", Transport::Tcp, &query("me.example.com.", RecordType::ANY, None));
    assert_eq!(txt(&r)["meta"]["isp"], "fra-net");
}

#[test]
fn zone_whoami_address_records_and_nodata() {
    let f = zone_whoami_fixture();
    let ask = |source: &str, rtype: RecordType| summary(&f.ask_from(source, Transport::Udp, &query("me.example.com.", rtype, None)));
    let nodata = (ResponseCode::NoError, true, vec![], vec![RecordType::SOA]);
    assert_eq!(ask("127.0.0.1", RecordType::A), (ResponseCode::NoError, true, vec![("127.0.0.1".into(), 0)], vec![]));
    assert_eq!(ask("2001:db8::5", RecordType::AAAA), (ResponseCode::NoError, true, vec![("2001:db8::5".into(), 0)], vec![]));
    // The other family, or any other type: NODATA with the zone's SOA, as for any name of it.
    assert_eq!(ask("127.0.0.1", RecordType::AAAA), nodata);
    assert_eq!(ask("2001:db8::5", RecordType::A), nodata);
    assert_eq!(ask("127.0.0.1", RecordType::MX), nodata);
    assert_eq!(ask("127.0.0.1", RecordType::CNAME), nodata);
    let r = f.ask_from("127.0.0.1", Transport::Udp, &query("me.example.com.", RecordType::MX, None));
    assert_eq!(r.authorities[0].name.to_string(), "example.com.");
    // Negative answers too are per client (whether A exists depends on the family asking):
    // TTL 0, so no resolver caches one client's NODATA for another.
    let r = f.ask_from("2001:db8::5", Transport::Udp, &query("me.example.com.", RecordType::A, None));
    assert_eq!(r.authorities[0].ttl, 0);
    // Below the name there is nothing.
    let r = f.ask_from("127.0.0.1", Transport::Udp, &query("x.me.example.com.", RecordType::A, None));
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    // A CNAME in the zone leads to it like to any name.
    let r = f.ask_from("10.1.9.9", Transport::Udp, &query("myip.example.com.", RecordType::A, None));
    let answers: Vec<(String, String)> = r.answers.iter().map(|a| (a.name.to_string(), a.data.to_string())).collect();
    assert_eq!(answers, [("myip.example.com.".into(), "me.example.com.".into()), ("me.example.com.".into(), "10.1.9.9".into())]);
}

#[test]
fn zone_whoami_with_ecs_reports_the_scope_of_the_range_and_the_subnet() {
    let f = zone_whoami_fixture();
    let r = f.ask_from("127.0.0.1", Transport::Udp, &query("me.example.com.", RecordType::TXT, Some(("10.0.1.0", 24))));
    let doc = txt(&r);
    assert_eq!(
        (doc["ip"].as_str(), doc["ecs"].as_str(), doc["meta"]["isp"].as_str()),
        (Some("127.0.0.1"), Some("10.0.1.0/24"), Some("fra-net"))
    );
    assert_eq!(scope(&r), Some(24), "the isp range is 10.0.0.0/16, but the TXT names the /24");
    // A range narrower than the source prefix narrows the scope further.
    let r = f.ask_from("127.0.0.1", Transport::Udp, &query("me.example.com.", RecordType::TXT, Some(("10.0.0.0", 15))));
    assert_eq!(scope(&r), Some(16), "10.0.0.0/15 spans two isp ranges: the answer holds for the /16");
    // In no range: the answer holds for the source prefix only.
    let r = f.ask_from("127.0.0.1", Transport::Udp, &query("me.example.com.", RecordType::TXT, Some(("192.168.7.0", 24))));
    assert_eq!((txt(&r)["meta"].is_null(), scope(&r)), (true, Some(24)));
    // The address answer is the resolver's, as for --whoami: scope 0.
    let r = f.ask_from("127.0.0.1", Transport::Udp, &query("me.example.com.", RecordType::A, Some(("10.0.1.0", 24))));
    assert_eq!((r.answers[0].data.to_string(), scope(&r)), ("127.0.0.1".to_string(), Some(0)));
}

#[test]
fn zone_whoami_answers_are_never_cached() {
    // One worker (one answer cache) answers clients in turn: each gets its own address. Each
    // question comes twice from the first client (the cache admits a question on its second
    // sighting), then from the second.
    let f = zone_whoami_fixture();
    let txn = f.engine.read_txn().unwrap();
    let mut scratch = f.engine.scratch();
    let mut out = Vec::new();
    for (source, rtype, expected) in [
        ("10.0.0.5", RecordType::A, Some("10.0.0.5")),
        ("10.0.0.5", RecordType::A, Some("10.0.0.5")),
        ("10.1.0.1", RecordType::A, Some("10.1.0.1")),
        ("10.0.0.5", RecordType::TXT, Some("fra-net")),
        ("10.0.0.5", RecordType::TXT, Some("fra-net")),
        ("10.1.0.1", RecordType::TXT, Some("fr-net")),
        ("10.0.0.5", RecordType::AAAA, None),
        ("10.0.0.5", RecordType::AAAA, None),
        ("2001:db8::9", RecordType::AAAA, Some("2001:db8::9")),
    ] {
        let client = Client { addr: SocketAddr::new(IpAddr::from_str(source).unwrap(), 40000), transport: Transport::Udp };
        let q = query("me.example.com.", rtype, None);
        assert!(f.engine.answer(&txn, &mut scratch, &q, &client, &mut out));
        let r = Message::from_vec(&out).unwrap();
        let got = match rtype {
            RecordType::TXT => txt(&r)["meta"]["isp"].as_str().map(str::to_string),
            _ => r.answers.first().map(|a| a.data.to_string()),
        };
        assert_eq!(got.as_deref(), expected, "{source} {rtype}");
    }
}

#[test]
fn a_zone_whoami_name_added_by_the_loader_is_answered_on_the_next_query() {
    // The real server on loopback, the real loader beside it.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let loader = |args: &[&str]| {
        let mut all = vec!["--db", db.to_str().unwrap()];
        all.extend_from_slice(args);
        let code = lmdns_loader::cli::run_args(all.clone()).unwrap_or_else(|e| panic!("lmdns-loader {all:?}: {e:#}"));
        assert_eq!(code, std::process::ExitCode::SUCCESS, "lmdns-loader {all:?}");
    };
    let csv = dir.path().join("isp.csv");
    std::fs::write(&csv, "start,end,isp\n127.0.0.0,127.255.255.255,loopback-net\n").unwrap();
    loader(&["ranges", "import", "--table", "isp", csv.to_str().unwrap()]);
    let zone = dir.path().join("example.com.zone");
    std::fs::write(&zone, "$ORIGIN example.com.\n$TTL 3600\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.53\n")
        .unwrap();
    loader(&["zone", "import", zone.to_str().unwrap()]);
    loader(&["zone", "policy", "example.com.", "--table", "isp", "--keys", "isp"]);
    let server = common::LmdnsCommand::new(&db).args(["--listen", "127.0.0.1:0", "--threads", "1"]).attempts(3).start();
    let ask = |rtype: RecordType, tcp: bool| {
        let q = DnsQuery::new(11, "whoami.example.com.", rtype).bytes();
        let reply = if tcp { common::exchange_tcp(server.addr(), &q) } else { common::exchange_udp(server.addr(), &q) };
        Message::from_vec(&reply.expect("the server answers")).unwrap()
    };
    for tcp in [false, true] {
        assert_eq!(ask(RecordType::TXT, tcp).metadata.response_code, ResponseCode::NXDomain);
    }

    loader(&["zone", "policy", "example.com.", "--table", "isp", "--keys", "isp", "--whoami", "whoami"]);
    for tcp in [false, true] {
        let r = ask(RecordType::TXT, tcp);
        assert_eq!((r.metadata.response_code, r.metadata.authoritative), (ResponseCode::NoError, true), "tcp {tcp}");
        assert_eq!(
            txt(&r),
            serde_json::json!({"ip": "127.0.0.1", "start": "127.0.0.0", "end": "127.255.255.255", "meta": {"isp": "loopback-net"}})
        );
        let r = ask(RecordType::A, tcp);
        assert_eq!(summary(&r), (ResponseCode::NoError, true, vec![("127.0.0.1".into(), 0)], vec![]), "tcp {tcp}");
        let r = ask(RecordType::MX, tcp);
        assert_eq!(summary(&r), (ResponseCode::NoError, true, vec![], vec![RecordType::SOA]), "tcp {tcp}");
    }

    // Cleared again: the name is gone on the next query.
    loader(&["zone", "policy", "example.com.", "--clear"]);
    for tcp in [false, true] {
        assert_eq!(ask(RecordType::TXT, tcp).metadata.response_code, ResponseCode::NXDomain);
    }
    drop(server);
}

#[test]
fn a_table_created_after_start_never_leaves_a_default_cached_for_everyone() {
    // The zone's policy names a table that does not exist when the engine starts; it is
    // imported afterwards. The worker notices the table only between batches, so its first
    // answer is the default — and that answer must not be cached for every client.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let store = Store::open(&db, &OpenOptions { map_size: 64 << 20, read_only: false }).unwrap();
    let mut txn = store.write_txn().unwrap();
    let mut tree = ZoneTree::new(&wire("example.com.")).unwrap();
    for r in zone() {
        tree.insert(&r).unwrap();
    }
    let policy = GeoPolicy { table: "late".into(), keys: vec!["pop".into()], whoami: vec![] };
    zones::replace_zone(&store, &mut txn, tree, Some(policy)).unwrap();
    txn.commit().unwrap();
    let engine = Engine::new(store, AnswerConfig::default());
    assert!(AnswerConfig::default().answer_cache_slots > 0, "the answer cache is on");
    let csv = dir.path().join("late.csv");
    std::fs::write(&csv, RANGES).unwrap();
    let args = ["--db", db.to_str().unwrap(), "--map-size", "64M", "ranges", "import", "--table", "late", csv.to_str().unwrap()];
    assert_eq!(lmdns_loader::cli::run_args(args).unwrap(), std::process::ExitCode::SUCCESS);

    let mut scratch = engine.scratch();
    let packet = query("www.example.com.", RecordType::A, None);
    let client = Client { addr: SocketAddr::new(IpAddr::from_str("10.0.0.5").unwrap(), 40000), transport: Transport::Udp };
    let ask = |scratch: &mut _| {
        let txn = engine.read_txn().unwrap();
        let mut out = Vec::new();
        assert!(engine.answer(&txn, scratch, &packet, &client, &mut out));
        let id = txn.id();
        (Message::from_vec(&out).unwrap().answers.iter().map(|a| a.data.to_string()).collect::<Vec<_>>(), id)
    };
    // Asked three times: the cache admits a question on its second sighting.
    let (first, first_snapshot) = ask(&mut scratch);
    assert_eq!(first, vec!["192.0.2.1"], "the table is not open in this worker yet: the default");
    assert_eq!(ask(&mut scratch).0, first);
    assert_eq!(ask(&mut scratch).0, first);
    engine.after_batch(&mut scratch, &mut lmdb_schema::readers::HeldReadTxn::default());
    let (second, second_snapshot) = ask(&mut scratch);
    assert_eq!(first_snapshot, second_snapshot, "no commit in between: only the cache could differ");
    assert_eq!(second, vec!["192.0.2.30"], "the client's pop=fra variant, not a cached default");
}
