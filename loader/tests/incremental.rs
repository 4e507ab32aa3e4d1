//! Record edits touch only the names they change, yet must leave exactly what importing the
//! edited zone whole would: the same bytes under every name (flags, empty non-terminals, cuts,
//! wildcards, whoami names, a child zone's names beside the parent's). And the journal entries
//! they write, applied to the zone as it was, give the zone as it is.
//!
//! Random edits (a fixed seed, so a failure repeats) on a parent zone with a child zone served
//! below it; after each committed edit the parent is written whole into a second database and
//! both are compared name by name. An edit the rules refuse aborts its transaction.

use std::collections::BTreeSet;

use lmdb_schema::journal::{EntryView, Record};
use lmdb_schema::zone::GeoPolicy;
use lmdb_schema::{geo_rr, name, rtype, OpenOptions, Store};
use lmdns_loader::zones::{self, ImportSerial, Rr, ZoneTree, ZoneWriter};

fn wire(text: &str) -> Vec<u8> {
    let mut w = Vec::new();
    for label in text.trim_end_matches('.').split('.').filter(|l| !l.is_empty()) {
        w.push(label.len() as u8);
        w.extend_from_slice(label.as_bytes());
    }
    w.push(0);
    w
}

fn soa(apex: &str, serial: u32) -> Rr {
    let mut rdata = wire(&format!("ns1.{apex}"));
    rdata.extend(wire(&format!("hostmaster.{apex}")));
    for v in [serial, 3600, 600, 86400, 300] {
        rdata.extend_from_slice(&v.to_be_bytes());
    }
    Rr { owner: wire(apex), ttl: 300, rtype: rtype::SOA, rdata, condition: vec![] }
}

fn rr(owner: &str, ttl: u32, rtype: u16, rdata: Vec<u8>) -> Rr {
    Rr { owner: wire(owner), ttl, rtype, rdata, condition: vec![] }
}

fn tree(apex: &str, records: &[Rr]) -> ZoneTree {
    let mut tree = ZoneTree::new(&wire(apex)).unwrap();
    for r in records {
        tree.insert(r).unwrap();
    }
    tree.finish().unwrap();
    tree
}

/// A tiny deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

const NAMES: &[&str] = &[
    "www.example.",
    "b.example.",
    "a.b.example.",
    "deep.a.b.example.",
    "*.w.example.",
    "x.*.w.example.",
    "w.example.",
    "d.example.",
    "e.d.example.",
    "f.e.d.example.",
    "sub.example.",
    "ns.sub.example.",
    "glue.deep.sub.example.",
    "c.example.",
];

/// Every (key, value) of the names of `store`.
fn names(store: &Store) -> Vec<(Vec<u8>, Vec<u8>)> {
    let txn = store.read_txn().unwrap();
    store.names.iter(&txn).unwrap().map(|i| i.unwrap()).map(|(k, v)| (k.to_vec(), v.to_vec())).collect()
}

/// The zone's records as the journal names them: defaults, variants in their private type, the
/// policy as one record.
fn journal_view(store: &Store, apex: &str) -> BTreeSet<Record> {
    let txn = store.read_txn().unwrap();
    let (tree, meta) = zones::load_zone(store, &txn, &name::key_from_dotted(apex).unwrap()).unwrap().unwrap();
    let mut set = BTreeSet::new();
    for r in tree.records() {
        let (rtype, rdata) = if r.condition.is_empty() {
            (r.rtype, r.rdata)
        } else {
            (rtype::LMDNS_VARIANT, geo_rr::encode_variant(r.rtype, &r.condition, &r.rdata))
        };
        set.insert(Record { owner: r.owner, rtype, class: 1, ttl: r.ttl, rdata });
    }
    if let Some(p) = meta.policy {
        set.insert(Record { owner: wire(apex), rtype: rtype::LMDNS_POLICY, class: 1, ttl: 0, rdata: serde_json::to_vec(&p).unwrap() });
    }
    set
}

/// One random edit in its own transaction; returns whether it committed.
fn random_edit(store: &Store, rng: &mut Rng) -> bool {
    let mut txn = store.write_txn().unwrap();
    let mut writer = ZoneWriter::new(store, &mut txn);
    let owner = *rng.pick(NAMES);
    let ttl = *rng.pick(&[60u32, 300]);
    let result = match rng.next() % 12 {
        0 | 1 => writer.add(&rr(owner, ttl, rtype::A, vec![192, 0, 2, (rng.next() % 3) as u8])),
        2 => writer.add(&rr(owner, ttl, rtype::TXT, vec![1, b'a' + (rng.next() % 2) as u8])),
        3 => {
            let targets: [&str; 2] = ["ns.sub.example.", "ns.other.net."];
            let target = *rng.pick(&targets);
            writer.add(&rr(owner, 3600, rtype::NS, wire(target)))
        }
        4 => writer.add(&rr(owner, 300, rtype::DNAME, wire("target.net."))),
        5 => writer.add(&rr(owner, 300, rtype::CNAME, wire("www.example."))),
        6 => {
            let t = *rng.pick(&[rtype::A, rtype::TXT, rtype::NS, rtype::DNAME, rtype::CNAME]);
            writer.delete(&wire(owner), t, None, b"").map(|n| n > 0)
        }
        7 => writer.delete(&wire(owner), rtype::A, Some(&[192, 0, 2, (rng.next() % 3) as u8]), b"").map(|n| n > 0),
        // Everything at the name, as an RFC 2136 "delete all RRsets" does.
        9 | 10 => {
            let mut removed = 0;
            for t in [rtype::A, rtype::TXT, rtype::NS, rtype::DNAME, rtype::CNAME] {
                removed += writer.delete(&wire(owner), t, None, b"").unwrap_or(0);
                removed += writer.delete(&wire(owner), t, None, b"country=DE").unwrap_or(0);
                removed += writer.delete(&wire(owner), t, None, b"country=FR").unwrap_or(0);
            }
            Ok(removed > 0)
        }
        8 => {
            let cond = format!("country={}", *rng.pick(&["DE", "FR"]));
            writer.add(&Rr { condition: cond.into_bytes(), ..rr(owner, ttl, rtype::A, vec![198, 51, 100, 1]) })
        }
        _ => {
            let policy = if rng.next().is_multiple_of(4) {
                None
            } else {
                let whoami: Vec<String> =
                    NAMES.iter().filter(|_| rng.next().is_multiple_of(5)).map(|n| n.to_string()).filter(|n| !n.contains('*')).collect();
                Some(GeoPolicy { table: "geo".into(), keys: vec!["country".into()], whoami })
            };
            writer.set_policy(&wire("example."), policy)
        }
    };
    match result.and_then(|changed| writer.finish(true).map(|_| changed)) {
        Ok(true) => {
            txn.commit().unwrap();
            true
        }
        _ => false,
    }
}

#[test]
fn edits_leave_what_a_whole_import_would_and_journal_every_change() {
    for seed in [0x9E37_79B9_7F4A_7C15, 0x0123_4567_89AB_CDEF, 0xDEAD_BEEF_F00D_CAFE] {
        run_edits(seed, 1500);
    }
}

fn run_edits(seed: u64, steps: usize) {
    let dir = tempfile::tempdir().unwrap();
    let options = OpenOptions { map_size: 64 << 20, read_only: false };
    let edited = Store::open(&dir.path().join("edited"), &options).unwrap();
    let whole = Store::open(&dir.path().join("whole"), &options).unwrap();
    let parent = vec![
        soa("example.", 1),
        rr("example.", 3600, rtype::NS, wire("ns1.example.")),
        rr("www.example.", 300, rtype::A, vec![192, 0, 2, 1]),
    ];
    let child = vec![
        soa("sub.example.", 1),
        rr("sub.example.", 3600, rtype::NS, wire("ns.sub.example.")),
        rr("ns.sub.example.", 300, rtype::A, vec![192, 0, 2, 53]),
        rr("deep.sub.example.", 300, rtype::TXT, vec![1, b'z']),
    ];
    for store in [&edited, &whole] {
        let mut txn = store.write_txn().unwrap();
        zones::replace_zone(store, &mut txn, tree("example.", &parent), None).unwrap();
        zones::replace_zone(store, &mut txn, tree("sub.example.", &child), None).unwrap();
        txn.commit().unwrap();
    }
    let (start_parent, start_child) = (journal_view(&edited, "example."), journal_view(&edited, "sub.example."));
    let mut rng = Rng(seed);
    let (mut committed, mut refused) = (0, 0);
    for step in 0..steps {
        if !random_edit(&edited, &mut rng) {
            refused += 1;
            continue;
        }
        committed += 1;
        // The same zones, written whole into the other database.
        for apex in [&b"\0example\0"[..], b"\0example\0sub\0"] {
            let txn = edited.read_txn().unwrap();
            let (zone, meta) = zones::load_zone(&edited, &txn, apex).unwrap().unwrap();
            drop(txn);
            let mut txn = whole.write_txn().unwrap();
            let mut writer = ZoneWriter::new(&whole, &mut txn);
            writer.replace_zone(zone, Some(meta.policy.clone()), ImportSerial::MustAdvance).unwrap();
            writer.finish(true).unwrap();
            txn.commit().unwrap();
        }
        let (a, b) = (names(&edited), names(&whole));
        if a != b {
            let show = |v: &[(Vec<u8>, Vec<u8>)]| v.iter().map(|(k, v)| format!("{} {:?}", name::key_to_text(k), v)).collect::<Vec<_>>();
            panic!("seed {seed:#x} step {step}: edited and whole differ\nedited: {:#?}\nwhole: {:#?}", show(&a), show(&b));
        }
    }
    assert!(committed > steps / 3 && refused > steps / 20, "the edits exercise both paths: {committed} committed, {refused} refused");

    // Replaying each zone's journal on the zone as it started gives the zone as it is.
    let mut entries = 0;
    for (apex, key, start) in [("example.", &b"\0example\0"[..], start_parent), ("sub.example.", b"\0example\0sub\0", start_child)] {
        let txn = edited.read_txn().unwrap();
        let meta = zones::list_zones(&edited, &txn).unwrap().into_iter().find(|m| m.apex == apex).unwrap();
        entries += meta.journal.entries();
        let mut state = start;
        let mut serial = 1;
        for seq in meta.journal.first..meta.journal.next {
            let bytes = edited.journal.get(&txn, &lmdb_schema::journal::key(key, seq)).unwrap().unwrap();
            let entry = EntryView::parse(bytes).unwrap();
            assert_eq!(entry.serial_from(), serial, "{apex}: entries follow each other");
            serial = entry.serial_to();
            for r in entry.removed() {
                assert!(state.remove(&r.to_owned()), "{apex} entry {seq} removes a record that is there: {r:?}");
            }
            for r in entry.added() {
                assert!(state.insert(r.to_owned()), "{apex} entry {seq} adds a record that is not there: {r:?}");
            }
        }
        drop(txn);
        assert_eq!(serial, meta.soa.serial);
        assert_eq!(state, journal_view(&edited, apex), "{apex}");
    }
    assert_eq!(entries, committed as u64, "one entry per committed change");
}
