//! The secondary's transfer client and its checks, against a scripted primary on loopback that
//! answers with exactly the messages a test gives it: an AXFR split over several messages, the
//! three IXFR answers of RFC 1995 (incremental with several sequences, AXFR-style, a lone SOA),
//! and the transfers that must not be applied — a difference that does not fit our copy (the
//! caller then asks AXFR), a serial that goes back, a zone breaking the import rules. Whatever
//! is refused leaves the database as it was.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};

use lmdb_schema::{name, rtype, OpenOptions, Store};
use lmdns_loader::secondary::apply::{self, Collector, Rejected};
use lmdns_loader::secondary::client::{self, Style};
use lmdns_proto::build::{MessageBuilder, Section};

fn wire(text: &str) -> Vec<u8> {
    name::key_to_wire(&name::key_from_dotted(text).unwrap())
}

const ZONE: &str = "xfr.test.";

type Rec = (&'static str, u16, Vec<u8>);

fn soa(serial: u32) -> Rec {
    let mut rdata = wire("ns1.xfr.test.");
    rdata.extend(wire("hostmaster.xfr.test."));
    for v in [serial, 3600, 600, 86400, 300] {
        rdata.extend_from_slice(&v.to_be_bytes());
    }
    (ZONE, rtype::SOA, rdata)
}

fn a(owner: &'static str, last: u8) -> Rec {
    (owner, rtype::A, vec![192, 0, 2, last])
}

fn base(serial: u32) -> Vec<Rec> {
    vec![soa(serial), (ZONE, rtype::NS, wire("ns1.xfr.test.")), a("ns1.xfr.test.", 53), a("www.xfr.test.", 1)]
}

/// A primary that answers one request with `messages` (each a list of answer records).
fn primary(messages: Vec<Vec<Rec>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut len = [0u8; 2];
        s.read_exact(&mut len).unwrap();
        let mut request = vec![0u8; u16::from_be_bytes(len) as usize];
        s.read_exact(&mut request).unwrap();
        let id = u16::from_be_bytes([request[0], request[1]]);
        for records in messages {
            let mut m = MessageBuilder::new(id, 0x8400);
            for (owner, t, rdata) in records {
                m.record(Section::Answer, &wire(owner), t, 1, 300, &rdata).unwrap();
            }
            let bytes = m.finish();
            s.write_all(&(bytes.len() as u16).to_be_bytes()).unwrap();
            s.write_all(&bytes).unwrap();
        }
    });
    addr
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db"), &OpenOptions { map_size: 64 << 20, read_only: false }).unwrap();
    (dir, store)
}

/// Fetches from `messages` (an IXFR from `ours` if given) and applies in one transaction,
/// committed only when applied.
fn transfer(store: &Store, messages: Vec<Vec<Rec>>, ours: Option<u32>) -> Result<apply::Applied, Rejected> {
    let addr = primary(messages);
    let apex = name::key_from_dotted(ZONE).unwrap();
    let our_soa = ours.map(|s| soa(s).2);
    let mut collected = Collector::new(&apex);
    let received = client::fetch(addr, &wire(ZONE), our_soa.as_deref(), None, &mut collected).map_err(Rejected::Refused)?;
    let mut txn = store.write_txn().unwrap();
    let applied = apply::apply(store, &mut txn, &apex, collected, received, ours)?;
    txn.commit().unwrap();
    Ok(applied)
}

/// The A records at `owner` as served from the database.
fn a_at(store: &Store, owner: &str) -> Vec<Vec<u8>> {
    let txn = store.read_txn().unwrap();
    let apex = name::key_from_dotted(ZONE).unwrap();
    let Some((tree, _)) = lmdns_loader::zones::load_zone(store, &txn, &apex).unwrap() else { return Vec::new() };
    let key = name::key_from_dotted(owner).unwrap();
    tree.names
        .get(&key)
        .and_then(|s| s.rrsets.iter().find(|r| r.rtype == rtype::A && r.condition.is_empty()))
        .map(|r| r.rdatas.clone())
        .unwrap_or_default()
}

fn stored_serial(store: &Store) -> Option<u32> {
    let txn = store.read_txn().unwrap();
    let meta = store.zones.get(&txn, &name::key_from_dotted(ZONE).unwrap()).unwrap()?;
    Some(lmdb_schema::zone::ZoneMeta::decode(meta).unwrap().soa.serial)
}

fn axfr_of(records: Vec<Rec>, per_message: usize) -> Vec<Vec<Rec>> {
    let mut all = records.clone();
    all.push(records[0].clone());
    all.chunks(per_message).map(<[Rec]>::to_vec).collect()
}

#[test]
fn an_axfr_over_several_messages_then_ixfr_sequences_apply() {
    let (_dir, store) = store();
    let mut zone = base(1);
    for i in 0..300u32 {
        zone.push((Box::leak(format!("h{i}.xfr.test.").into_boxed_str()), rtype::A, vec![10, 0, (i >> 8) as u8, i as u8]));
    }
    let applied = transfer(&store, axfr_of(zone, 7), None).unwrap();
    assert_eq!((applied.style, applied.serial, applied.changed), (Style::Full, 1, true));
    assert_eq!(applied.records, 304);
    assert_eq!(a_at(&store, "h299.xfr.test."), vec![vec![10, 0, 1, 43]]);

    // Two sequences in one answer (1 → 2 → 3), across two messages.
    let ixfr = vec![
        vec![soa(3), soa(1), a("www.xfr.test.", 1), soa(2), a("www.xfr.test.", 2)],
        vec![soa(2), ("h0.xfr.test.", rtype::A, vec![10, 0, 0, 0]), soa(3), a("new.xfr.test.", 9), soa(3)],
    ];
    let applied = transfer(&store, ixfr, Some(1)).unwrap();
    assert_eq!((applied.style, applied.serial), (Style::Incremental, 3));
    assert_eq!(a_at(&store, "www.xfr.test."), vec![vec![192, 0, 2, 2]]);
    assert!(a_at(&store, "h0.xfr.test.").is_empty());
    assert_eq!(a_at(&store, "new.xfr.test."), vec![vec![192, 0, 2, 9]]);
    let txn = store.read_txn().unwrap();
    let meta = lmdb_schema::zone::ZoneMeta::decode(store.zones.get(&txn, &name::key_from_dotted(ZONE).unwrap()).unwrap().unwrap()).unwrap();
    assert_eq!(meta.journal.entries(), 1, "one journal entry, 1 → 3, for secondaries of this box");
    drop(txn);

    // An AXFR-style IXFR answer replaces the zone whole.
    let mut v4 = base(4);
    v4.push(a("only.xfr.test.", 4));
    let style = axfr_of(v4, 100);
    let applied = transfer(&store, style, Some(3)).unwrap();
    assert_eq!((applied.style, applied.serial), (Style::Full, 4));
    assert!(a_at(&store, "new.xfr.test.").is_empty());
    assert_eq!(a_at(&store, "only.xfr.test."), vec![vec![192, 0, 2, 4]]);

    // A lone SOA: current, nothing written.
    let applied = transfer(&store, vec![vec![soa(4)]], Some(4)).unwrap();
    assert_eq!((applied.style, applied.changed), (Style::UpToDate, false));
}

#[test]
fn transfers_that_do_not_fit_or_break_the_rules_change_nothing() {
    let (_dir, store) = store();
    transfer(&store, axfr_of(base(5), 3), None).unwrap();

    // A deletion of a record we do not hold: inconsistent (the caller asks AXFR instead).
    let bad = vec![vec![soa(6), soa(5), a("www.xfr.test.", 77), soa(6), a("x.xfr.test.", 1), soa(6)]];
    match transfer(&store, bad, Some(5)) {
        Err(Rejected::Inconsistent(why)) => assert!(why.contains("www.xfr.test.") && why.contains("not in our copy"), "{why}"),
        other => panic!("{other:?}"),
    }
    // A difference from another serial than ours.
    let other = vec![vec![soa(7), soa(6), soa(7), a("x.xfr.test.", 1), soa(7)]];
    assert!(matches!(transfer(&store, other, Some(5)), Err(Rejected::Inconsistent(_))));
    // A serial that goes back.
    match transfer(&store, axfr_of(base(4), 10), Some(5)) {
        Err(Rejected::Refused(why)) => assert!(why.contains("not ahead"), "{why}"),
        other => panic!("{other:?}"),
    }
    // A zone import would refuse: a CNAME beside other data, named with the rule.
    let mut broken = base(8);
    broken.push(("www.xfr.test.", rtype::CNAME, wire("elsewhere.test.")));
    match transfer(&store, axfr_of(broken, 10), Some(5)) {
        Err(Rejected::Refused(why)) => assert!(why.contains("www.xfr.test.") && why.contains("CNAME"), "{why}"),
        other => panic!("{other:?}"),
    }
    // A record outside the zone.
    let mut outside = base(9);
    outside.push(a("www.elsewhere.test.", 1));
    match transfer(&store, axfr_of(outside, 10), Some(5)) {
        Err(Rejected::Refused(why)) => assert!(why.contains("outside the zone"), "{why}"),
        other => panic!("{other:?}"),
    }
    // RDATA that does not parse as its type.
    let mut garbled = base(10);
    garbled.push(("bad.xfr.test.", rtype::A, vec![1, 2, 3]));
    match transfer(&store, axfr_of(garbled, 10), Some(5)) {
        Err(Rejected::Refused(why)) => assert!(why.contains("bad.xfr.test."), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(stored_serial(&store), Some(5), "nothing of any of them was written");
    assert_eq!(a_at(&store, "www.xfr.test."), vec![vec![192, 0, 2, 1]]);
}
