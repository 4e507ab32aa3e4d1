//! Shared helpers for the benches: a programmatic zone set written straight through the loader's
//! zone writer, and pre-built query packets for each answer path the engine has.
//!
//! Zone `i` is `z{i:06}.bench.` with an A hit (`www`), a CNAME chain (`chain` → `alias` → `www`),
//! a wildcard (`*.wild`), a delegation with glue (`sub`), an MX with in-zone target, and a TXT:
//! 16 records, so 100k zones are 1.6M records.

pub mod geolite;
pub mod procs;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;

use lmdb_schema::{OpenOptions, Store};
use lmdns_loader::zones::{self, Rr, ZoneTree};
use lmdns_server::engine::{AnswerConfig, Client, Engine, Scratch, Transport};

/// Name in wire format from dotted text.
pub fn wire(name: &str) -> Vec<u8> {
    let mut w = Vec::new();
    for label in name.trim_end_matches('.').split('.').filter(|l| !l.is_empty()) {
        w.push(label.len() as u8);
        w.extend_from_slice(label.as_bytes());
    }
    w.push(0);
    w
}

fn rr(owner: &str, ttl: u32, rtype: u16, rdata: Vec<u8>) -> Rr {
    Rr { owner: wire(owner), ttl, rtype, rdata, condition: vec![] }
}

pub fn zone_name(i: usize) -> String {
    format!("z{i:06}.bench.")
}

/// The records of bench zone `i`.
pub fn bench_zone(i: usize) -> Vec<Rr> {
    let z = zone_name(i);
    let ip = |last: u8| vec![10, (i >> 16) as u8, (i >> 8) as u8, last];
    let mut soa = wire(&format!("ns1.{z}"));
    soa.extend(wire(&format!("hostmaster.{z}")));
    for v in [2024010101u32, 7200, 3600, 1209600, 300] {
        soa.extend_from_slice(&v.to_be_bytes());
    }
    let mut mx = 10u16.to_be_bytes().to_vec();
    mx.extend(wire(&format!("mail.{z}")));
    let spf = b"v=spf1 ip4:192.0.2.0/24 -all";
    let txt = [&[spf.len() as u8][..], spf].concat();
    vec![
        rr(&z, 3600, 6, soa),
        rr(&z, 3600, 2, wire(&format!("ns1.{z}"))),
        rr(&z, 3600, 2, wire("ns2.provider.example.")),
        rr(&format!("ns1.{z}"), 3600, 1, ip(53)),
        rr(&z, 300, 15, mx),
        rr(&z, 300, 16, txt),
        rr(&format!("www.{z}"), 300, 1, ip(1)),
        rr(&format!("www.{z}"), 300, 28, [&[0x20, 0x01, 0x0d, 0xb8][..], &[0; 10], &(i as u16).to_be_bytes()].concat()),
        rr(&format!("mail.{z}"), 300, 1, ip(25)),
        rr(&format!("alias.{z}"), 300, 5, wire(&format!("www.{z}"))),
        rr(&format!("chain.{z}"), 300, 5, wire(&format!("alias.{z}"))),
        rr(&format!("*.wild.{z}"), 300, 1, ip(42)),
        rr(&format!("sub.{z}"), 3600, 2, wire(&format!("ns.sub.{z}"))),
        rr(&format!("ns.sub.{z}"), 3600, 1, ip(100)),
        rr(&format!("h1.{z}"), 300, 1, ip(2)),
        rr(&format!("h2.{z}"), 300, 1, ip(3)),
    ]
}

/// Writes `count` bench zones into a new database at `path`, all in one write transaction.
pub fn build_db(path: &Path, count: usize) -> Store {
    // ~1 KiB per zone in LMDB; leave generous room (the file is sparse).
    let map_size = (count * 8192).max(64 << 20);
    let store = Store::open(path, &OpenOptions { map_size, read_only: false }).expect("open bench database");
    let mut txn = store.write_txn().expect("write txn");
    for i in 0..count {
        let z = zone_name(i);
        let mut tree = ZoneTree::new(&wire(&z)).expect("zone tree");
        for r in bench_zone(i) {
            tree.insert(&r).expect("insert");
        }
        zones::replace_zone(&store, &mut txn, tree, None).expect("replace_zone");
    }
    txn.commit().expect("commit");
    store
}

/// A database of bench zones in a temporary directory, with an engine on it.
pub struct Fixture {
    pub engine: Engine,
    pub zones: usize,
    _dir: tempfile::TempDir,
}

/// The server's default engine configuration for a database of `zones` zones (the name memo
/// sized as `lmdns-server` sizes it), except that `LMDNS_BENCH_ANSWER_CACHE` sets the answer
/// cache's slots and `LMDNS_BENCH_NAME_CACHE` the name memo's (0 for both: measure every query
/// through LMDB). Every bench that builds an engine takes its caches from here.
pub fn config_from_env(zones: u64) -> AnswerConfig {
    let slots = |var: &str| std::env::var(var).ok().and_then(|v| v.parse().ok());
    let mut config = AnswerConfig { name_cache_slots: lmdns_server::engine::auto_name_cache_slots(zones), ..AnswerConfig::default() };
    if let Some(n) = slots("LMDNS_BENCH_ANSWER_CACHE") {
        config.answer_cache_slots = n;
    }
    if let Some(n) = slots("LMDNS_BENCH_NAME_CACHE") {
        config.name_cache_slots = n;
    }
    config
}

impl Fixture {
    /// The engine runs with [`config_from_env`].
    pub fn new(zones: usize) -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = build_db(&dir.path().join("db"), zones);
        let config = config_from_env(zones as u64);
        Fixture { engine: Engine::new(store, config), zones, _dir: dir }
    }
}

/// A DNS query packet: RD set, one question, an EDNS OPT advertising 1232 bytes (what resolvers
/// send today).
pub fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1]);
    q.extend(wire(name));
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    // OPT: root owner, type 41, class = payload size, TTL 0, no options.
    q.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
    q
}

/// The answer paths benchmarked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    AHit,
    CnameChain,
    Wildcard,
    Nxdomain,
    Referral,
}

impl Kind {
    pub const ALL: [Kind; 5] = [Kind::AHit, Kind::CnameChain, Kind::Wildcard, Kind::Nxdomain, Kind::Referral];

    pub fn label(self) -> &'static str {
        match self {
            Kind::AHit => "a_hit",
            Kind::CnameChain => "cname_chain",
            Kind::Wildcard => "wildcard",
            Kind::Nxdomain => "nxdomain",
            Kind::Referral => "referral",
        }
    }

    pub fn question(self, zone: usize, salt: usize) -> (String, u16) {
        let z = zone_name(zone);
        match self {
            Kind::AHit => (format!("www.{z}"), 1),
            Kind::CnameChain => (format!("chain.{z}"), 1),
            Kind::Wildcard => (format!("q{salt}.wild.{z}"), 1),
            Kind::Nxdomain => (format!("nope{salt}.{z}"), 1),
            Kind::Referral => (format!("host.sub.{z}"), 1),
        }
    }
}

/// `count` queries of one kind spread pseudo-randomly over the zones (deterministic), so a run
/// touches many LMDB pages as real traffic does rather than one hot name.
pub fn queries(kind: Kind, zones: usize, count: usize) -> Vec<Vec<u8>> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..count)
        .map(|n| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let (name, qtype) = kind.question((x % zones as u64) as usize, n);
            query(n as u16, &name, qtype)
        })
        .collect()
}

pub fn client() -> Client {
    Client { addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 40000)), transport: Transport::Udp }
}

/// Queries per read transaction, as the UDP worker does per recvmmsg batch.
pub const BATCH: usize = 64;

/// Answers `n` queries cycling through `qs`, taking the batch's read transaction once per
/// [`BATCH`] (kept while nothing commits), as a UDP worker does. Returns the total response
/// bytes (so the work cannot be optimised away).
pub fn run_batches(engine: &Engine, scratch: &mut Scratch, out: &mut Vec<u8>, qs: &[Vec<u8>], n: u64) -> usize {
    let client = client();
    let mut total = 0;
    let mut done = 0u64;
    let mut idx = 0usize;
    let mut held = lmdb_schema::readers::HeldReadTxn::default();
    while done < n {
        let txn = engine.batch_txn(&mut held).expect("read txn");
        let this = (n - done).min(BATCH as u64);
        for _ in 0..this {
            let ok = engine.answer(txn, scratch, &qs[idx], &client, out);
            debug_assert!(ok);
            total += out.len();
            idx += 1;
            if idx == qs.len() {
                idx = 0;
            }
        }
        done += this;
    }
    total
}

/// A tiny blocking UDP DNS client for the compare scripts' probes.
pub mod probe {
    use std::net::{SocketAddr, UdpSocket};
    use std::time::Duration;

    use hickory_proto::op::{Message, MessageType, OpCode, Query};
    use hickory_proto::rr::{Name, RecordType};

    pub struct Answer {
        pub rcode: u16,
        /// Answer RDATA as text, one per record.
        pub rdatas: Vec<String>,
    }

    pub struct Prober {
        sock: UdpSocket,
        id: u16,
    }

    impl Prober {
        pub fn new(server: SocketAddr, timeout: Duration) -> std::io::Result<Prober> {
            let bind: SocketAddr = if server.is_ipv4() { "127.0.0.1:0".parse().unwrap() } else { "[::1]:0".parse().unwrap() };
            let sock = UdpSocket::bind(bind)?;
            sock.connect(server)?;
            sock.set_read_timeout(Some(timeout))?;
            Ok(Prober { sock, id: 1 })
        }

        /// One query; None on timeout, a refused port or an undecodable reply.
        pub fn ask(&mut self, name: &str, qtype: &str) -> Option<Answer> {
            self.id = self.id.wrapping_add(1);
            let mut msg = Message::new(self.id, MessageType::Query, OpCode::Query);
            let qtype: RecordType = qtype.parse().ok()?;
            msg.add_query(Query::query(name.parse::<Name>().ok()?, qtype));
            self.sock.send(&msg.to_vec().ok()?).ok()?;
            let mut buf = [0u8; 4096];
            loop {
                let n = self.sock.recv(&mut buf).ok()?;
                let Ok(reply) = Message::from_vec(&buf[..n]) else { continue };
                if reply.metadata.id != self.id {
                    continue; // a late reply to an earlier probe
                }
                return Some(Answer {
                    rcode: u16::from(reply.metadata.response_code),
                    rdatas: reply.answers.iter().map(|r| r.data.to_string()).collect(),
                });
            }
        }
    }

    pub fn epoch_secs() -> f64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64()
    }
}
