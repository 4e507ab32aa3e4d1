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
use lmdns_loader::zones::{self, Rr, ZoneEdits, ZoneTree};
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

fn fixture(config: AnswerConfig) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let csv = dir.path().join("geo.csv");
    std::fs::write(&csv, RANGES).unwrap();
    let store = Store::open(&db, &OpenOptions { map_size: 64 << 20, read_only: false }).unwrap();
    let code = lmdns_loader::cli::run_args([
        "--db",
        db.to_str().unwrap(),
        "--map-size",
        "64M",
        "ranges",
        "import",
        "--table",
        "geo",
        csv.to_str().unwrap(),
    ])
    .unwrap();
    assert_eq!(code, std::process::ExitCode::SUCCESS);
    let mut txn = store.write_txn().unwrap();
    let mut tree = ZoneTree::new(&wire("example.com.")).unwrap();
    for r in zone() {
        tree.insert(&r).unwrap();
    }
    let policy = GeoPolicy { table: "geo".into(), keys: vec!["pop".into(), "country".into(), "continent".into()] };
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
    match &r.answers[0].data {
        RData::TXT(t) => {
            let bytes: Vec<u8> = t.txt_data.iter().flat_map(|s| s.iter().copied()).collect();
            serde_json::from_slice(&bytes).unwrap()
        }
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
    assert_eq!(scope(&r), Some(16));
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
    let mut edits = ZoneEdits::default();
    edits.add(&f.store, &txn, &rr("www.example.com.", 1, vec![192, 0, 2, 99], "country=US")).unwrap();
    edits.commit(&f.store, &mut txn, true).unwrap();
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
