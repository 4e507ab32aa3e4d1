//! DNS UPDATE semantics (RFC 2136 §3, RFC 3007), in process: each UPDATE in its own write
//! transaction, committed only when the outcome says so, as `lmdns-loader serve` does. Every
//! refusal leaves the database exactly as it was.

use std::net::IpAddr;

use lmdb_schema::zone::ZoneMeta;
use lmdb_schema::{name, rtype, OpenOptions, Store};
use lmdns_loader::update::{self, process::rcode};
use lmdns_loader::zones::{self, Rr, ZoneTree};
use lmdns_proto::build::{MessageBuilder, Section};
use lmdns_proto::tsig::{self, Algorithm, Key};

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
const APEX: &str = "up.test.";
const INSIDE: &str = "192.0.2.7";

fn wire(text: &str) -> Vec<u8> {
    let mut w = Vec::new();
    for label in text.trim_end_matches('.').split('.').filter(|l| !l.is_empty()) {
        w.push(label.len() as u8);
        w.extend_from_slice(label.as_bytes());
    }
    w.push(0);
    w
}

fn soa_rdata(serial: u32) -> Vec<u8> {
    let mut rdata = wire("ns1.up.test.");
    rdata.extend(wire("hostmaster.up.test."));
    for v in [serial, 3600, 600, 86400, 300] {
        rdata.extend_from_slice(&v.to_be_bytes());
    }
    rdata
}

fn rr(owner: &str, rtype: u16, rdata: Vec<u8>) -> Rr {
    Rr { owner: wire(owner), ttl: 300, rtype, rdata, condition: vec![] }
}

struct Db {
    store: Store,
    _dir: tempfile::TempDir,
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn key() -> Key {
    Key::new("up-key.", Algorithm::HmacSha256, SECRET.to_vec()).unwrap()
}

fn setup(policy: &[&str]) -> Db {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db"), &OpenOptions { map_size: 64 << 20, read_only: false }).unwrap();
    let mut txn = store.write_txn().unwrap();
    let mut tree = ZoneTree::new(&wire(APEX)).unwrap();
    for r in [
        rr(APEX, rtype::SOA, soa_rdata(10)),
        rr(APEX, rtype::NS, wire("ns1.up.test.")),
        rr("ns1.up.test.", rtype::A, vec![192, 0, 2, 53]),
        rr("www.up.test.", rtype::A, vec![192, 0, 2, 1]),
        rr("www.up.test.", rtype::A, vec![192, 0, 2, 2]),
        rr("alias.up.test.", rtype::CNAME, wire("www.up.test.")),
        Rr { condition: b"country=DE".to_vec(), ..rr("geo.up.test.", rtype::A, vec![198, 51, 100, 1]) },
        rr("geo.up.test.", rtype::A, vec![192, 0, 2, 9]),
    ] {
        tree.insert(&r).unwrap();
    }
    tree.finish().unwrap();
    zones::replace_zone(&store, &mut txn, tree, None).unwrap();
    let stored = lmdb_schema::keys::StoredKey { algorithm: "hmac-sha256".into(), secret: data_encoding::BASE64.encode(SECRET) };
    store.tsig_keys.put(&mut txn, &name::key_from_dotted("up-key.").unwrap(), &stored.encode()).unwrap();
    txn.commit().unwrap();
    if !policy.is_empty() {
        let mut txn = store.write_txn().unwrap();
        let mut w = zones::ZoneWriter::new(&store, &mut txn);
        let rules = policy.iter().map(|r| update::policy::parse_rule(r, APEX).unwrap()).collect();
        w.set_update_policy(&name::key_from_dotted(APEX).unwrap(), rules).unwrap();
        w.finish(true).unwrap();
        txn.commit().unwrap();
    }
    Db { store, _dir: dir }
}

/// An UPDATE under construction: zone section, prerequisites, updates.
struct Update(MessageBuilder);

impl Update {
    fn new(zone: &str) -> Update {
        let mut m = MessageBuilder::new(0x2136, 5 << 11);
        m.question(&wire(zone), rtype::SOA, 1).unwrap();
        Update(m)
    }
    fn pre(mut self, owner: &str, class: u16, rtype: u16, rdata: &[u8]) -> Update {
        self.0.record(Section::Answer, &wire(owner), rtype, class, 0, rdata).unwrap();
        self
    }
    fn add(mut self, owner: &str, rtype: u16, ttl: u32, rdata: &[u8]) -> Update {
        self.0.record(Section::Authority, &wire(owner), rtype, 1, ttl, rdata).unwrap();
        self
    }
    fn delete_rrset(mut self, owner: &str, rtype: u16) -> Update {
        self.0.record(Section::Authority, &wire(owner), rtype, 255, 0, &[]).unwrap();
        self
    }
    fn delete_name(self, owner: &str) -> Update {
        self.delete_rrset(owner, rtype::ANY)
    }
    fn delete_rr(mut self, owner: &str, rtype: u16, rdata: &[u8]) -> Update {
        self.0.record(Section::Authority, &wire(owner), rtype, 254, 0, rdata).unwrap();
        self
    }
    fn unsigned(self) -> Vec<u8> {
        self.0.finish()
    }
    fn signed(self) -> Vec<u8> {
        self.signed_with(&key(), now())
    }
    fn signed_with(self, key: &Key, time: u64) -> Vec<u8> {
        let mut m = self.0.finish();
        tsig::sign_request(&mut m, key, time, tsig::DEFAULT_FUDGE);
        m
    }
}

impl Db {
    /// Runs one UPDATE as the writer does; returns (rcode, reason).
    fn run(&self, message: &[u8], source: &str) -> (u8, Option<String>) {
        let mut txn = self.store.write_txn().unwrap();
        let out = update::process(&self.store, &mut txn, message, source.parse::<IpAddr>().unwrap(), now());
        if out.commit {
            txn.commit().unwrap();
        }
        assert!(!out.reply.is_empty(), "every UPDATE gets a reply");
        assert_eq!(out.reply[3] & 0x0F, out.rcode, "the reply carries the outcome");
        (out.rcode, out.reason)
    }

    fn ok(&self, message: &[u8]) {
        let (code, reason) = self.run(message, INSIDE);
        assert_eq!(code, rcode::NOERROR, "{reason:?}");
    }

    /// (type, rdata) of the default records at `owner`.
    fn records(&self, owner: &str) -> Vec<(u16, Vec<u8>)> {
        let txn = self.store.read_txn().unwrap();
        let (tree, _) = zones::load_zone(&self.store, &txn, &name::key_from_dotted(APEX).unwrap()).unwrap().unwrap();
        let key = name::key_from_dotted(owner).unwrap();
        let mut out: Vec<(u16, Vec<u8>)> = tree
            .names
            .get(&key)
            .map(|s| {
                s.rrsets.iter().filter(|r| r.condition.is_empty()).flat_map(|r| r.rdatas.iter().map(|d| (r.rtype, d.clone()))).collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }

    fn meta(&self) -> ZoneMeta {
        let txn = self.store.read_txn().unwrap();
        ZoneMeta::decode(self.store.zones.get(&txn, &name::key_from_dotted(APEX).unwrap()).unwrap().unwrap()).unwrap()
    }

    /// Everything an UPDATE could change: every name's bytes, the zones, the journal.
    fn snapshot(&self) -> Vec<Vec<u8>> {
        let txn = self.store.read_txn().unwrap();
        let mut all = Vec::new();
        for db in [self.store.names, self.store.zones, self.store.journal, self.store.changes] {
            for item in db.iter(&txn).unwrap() {
                let (k, v) = item.unwrap();
                all.push([k, v].concat());
            }
        }
        all
    }

    fn refused(&self, message: &[u8], source: &str, code: u8, why: &str) {
        let before = self.snapshot();
        let (got, reason) = self.run(message, source);
        assert_eq!(got, code, "expected {} ({why}), got {} {reason:?}", rcode::name(code), rcode::name(got));
        let reason = reason.unwrap_or_default();
        assert!(reason.contains(why), "{reason:?} does not say {why:?}");
        assert_eq!(self.snapshot(), before, "a refused UPDATE writes nothing");
    }
}

const A7: [u8; 4] = [192, 0, 2, 7];

#[test]
fn adds_and_deletes_move_the_serial_and_write_the_journal() {
    let db = setup(&["grant up-key. zonesub ANY"]);
    db.ok(&Update::new(APEX).add("new.up.test.", rtype::A, 60, &A7).add("new.up.test.", rtype::TXT, 60, b"\x02hi").signed());
    assert_eq!(db.records("new.up.test."), vec![(rtype::A, A7.to_vec()), (rtype::TXT, b"\x02hi".to_vec())]);
    let meta = db.meta();
    assert_eq!(meta.soa.serial, 11, "one serial step per UPDATE");
    assert_eq!(meta.journal.entries(), 1, "and one journal entry");
    // Delete one record, a whole RRset, everything at a name.
    db.ok(&Update::new(APEX).delete_rr("www.up.test.", rtype::A, &[192, 0, 2, 1]).signed());
    assert_eq!(db.records("www.up.test."), vec![(rtype::A, vec![192, 0, 2, 2])]);
    db.ok(&Update::new(APEX).delete_rrset("new.up.test.", rtype::TXT).signed());
    assert_eq!(db.records("new.up.test."), vec![(rtype::A, A7.to_vec())]);
    db.ok(&Update::new(APEX).delete_name("new.up.test.").signed());
    assert!(db.records("new.up.test.").is_empty());
    assert_eq!(db.meta().soa.serial, 14);
    // Nothing to change: NOERROR, and the serial stays.
    db.ok(&Update::new(APEX).delete_name("nothere.up.test.").signed());
    db.ok(&Update::new(APEX).add("www.up.test.", rtype::A, 300, &[192, 0, 2, 2]).signed());
    assert_eq!(db.meta().soa.serial, 14);
    // A TTL of an add restates the RRset's TTL.
    db.ok(&Update::new(APEX).add("www.up.test.", rtype::A, 30, &[192, 0, 2, 2]).signed());
    assert_eq!(db.meta().soa.serial, 15);
}

#[test]
fn the_apex_keeps_its_soa_and_last_ns_and_cnames_stay_alone() {
    let db = setup(&["grant up-key. zonesub ANY"]);
    let before = db.records(APEX);
    db.ok(&Update::new(APEX).delete_name(APEX).delete_rrset(APEX, rtype::NS).delete_rrset(APEX, rtype::SOA).signed());
    db.ok(&Update::new(APEX).delete_rr(APEX, rtype::NS, &wire("ns1.up.test.")).signed());
    assert_eq!(db.records(APEX), before, "SOA and the last NS at the apex are never deleted");
    // An SOA with an older serial is ignored; a newer one replaces the SOA (and is the serial).
    db.ok(&Update::new(APEX).add(APEX, rtype::SOA, 300, &soa_rdata(5)).signed());
    assert_eq!(db.meta().soa.serial, 10);
    db.ok(&Update::new(APEX).add(APEX, rtype::SOA, 300, &soa_rdata(100)).signed());
    assert_eq!(db.meta().soa.serial, 100);
    // CNAME beside other data, or other data beside a CNAME: ignored.
    db.ok(&Update::new(APEX).add("www.up.test.", rtype::CNAME, 300, &wire("x.up.test.")).signed());
    db.ok(&Update::new(APEX).add("alias.up.test.", rtype::A, 300, &A7).signed());
    assert_eq!(db.records("www.up.test.").iter().filter(|r| r.0 == rtype::CNAME).count(), 0);
    assert_eq!(db.records("alias.up.test."), vec![(rtype::CNAME, wire("www.up.test."))]);
    // A CNAME replaces the CNAME there.
    db.ok(&Update::new(APEX).add("alias.up.test.", rtype::CNAME, 300, &wire("ns1.up.test.")).signed());
    assert_eq!(db.records("alias.up.test."), vec![(rtype::CNAME, wire("ns1.up.test."))]);
}

#[test]
fn prerequisites_are_checked_with_their_rcodes() {
    let db = setup(&["grant up-key. zonesub ANY"]);
    let add = |u: Update| u.add("p.up.test.", rtype::A, 60, &A7).signed();
    // Name in use / not in use.
    db.refused(&add(Update::new(APEX).pre("nothere.up.test.", 255, rtype::ANY, &[])), INSIDE, rcode::NXDOMAIN, "not in use");
    db.refused(&add(Update::new(APEX).pre("www.up.test.", 254, rtype::ANY, &[])), INSIDE, rcode::YXDOMAIN, "in use");
    // RRset exists / does not exist.
    db.refused(&add(Update::new(APEX).pre("www.up.test.", 255, rtype::TXT, &[])), INSIDE, rcode::NXRRSET, "no 16 RRset");
    db.refused(&add(Update::new(APEX).pre("www.up.test.", 254, rtype::A, &[])), INSIDE, rcode::YXRRSET, "has a 1 RRset");
    // RRset exists, value dependent: the whole RRset, no more, no less.
    let partial = Update::new(APEX).pre("www.up.test.", 1, rtype::A, &[192, 0, 2, 1]);
    db.refused(&add(partial), INSIDE, rcode::NXRRSET, "not the one required");
    let whole = Update::new(APEX).pre("www.up.test.", 1, rtype::A, &[192, 0, 2, 1]).pre("www.up.test.", 1, rtype::A, &[192, 0, 2, 2]);
    db.ok(&add(whole));
    // All met together: empty non-terminals are not "in use".
    let ok = Update::new(APEX).pre("www.up.test.", 255, rtype::ANY, &[]).pre("q.up.test.", 254, rtype::ANY, &[]).pre(
        "www.up.test.",
        255,
        rtype::A,
        &[],
    );
    db.ok(&ok.add("q.up.test.", rtype::TXT, 60, b"\x01x").signed());
    // A prerequisite sees the updates committed before it.
    db.ok(&Update::new(APEX).pre("q.up.test.", 255, rtype::TXT, &[]).delete_name("q.up.test.").signed());
}

#[test]
fn malformed_foreign_and_forbidden_updates_are_refused_and_write_nothing() {
    let db = setup(&["grant up-key. name www.up.test. A", "grant 192.0.2.0/24 subdomain dyn.up.test. A AAAA"]);
    // Zone section and names.
    db.refused(&Update::new("other.test.").add("x.other.test.", rtype::A, 60, &A7).signed(), INSIDE, rcode::NOTAUTH, "not a zone");
    db.refused(&Update::new(APEX).add("x.other.test.", rtype::A, 60, &A7).signed(), INSIDE, rcode::REFUSED, "may not change");
    let outside_pre = Update::new(APEX).pre("x.other.test.", 255, rtype::ANY, &[]).add("www.up.test.", rtype::A, 60, &A7);
    db.refused(&outside_pre.signed(), INSIDE, rcode::NOTZONE, "outside the zone");
    let mut two_zones = MessageBuilder::new(1, 5 << 11);
    two_zones.question(&wire(APEX), rtype::SOA, 1).unwrap();
    two_zones.question(&wire(APEX), rtype::SOA, 1).unwrap();
    db.refused(&two_zones.finish(), INSIDE, rcode::FORMERR, "exactly one zone");
    // Malformed records.
    db.refused(&Update::new(APEX).add("www.up.test.", rtype::A, 60, &[1, 2, 3]).signed(), INSIDE, rcode::FORMERR, "A RDATA");
    let mut ttl_delete = MessageBuilder::new(1, 5 << 11);
    ttl_delete.question(&wire(APEX), rtype::SOA, 1).unwrap();
    ttl_delete.record(Section::Authority, &wire("www.up.test."), rtype::A, 255, 60, &[]).unwrap();
    let mut m = ttl_delete.finish();
    tsig::sign_request(&mut m, &key(), now(), tsig::DEFAULT_FUDGE);
    db.refused(&m, INSIDE, rcode::FORMERR, "TTL 0");
    // The policy: the key may change www's A only; the network dyn.up.test. A/AAAA, unsigned.
    db.refused(&Update::new(APEX).add("www.up.test.", rtype::TXT, 60, b"\x01x").signed(), INSIDE, rcode::REFUSED, "may not change TXT");
    db.refused(&Update::new(APEX).add("mail.up.test.", rtype::A, 60, &A7).signed(), INSIDE, rcode::REFUSED, "mail.up.test.");
    db.refused(&Update::new(APEX).add("www.up.test.", rtype::A, 60, &A7).unsigned(), INSIDE, rcode::REFUSED, "unsigned from 192.0.2.7");
    db.refused(
        &Update::new(APEX).add("h.dyn.up.test.", rtype::A, 60, &A7).unsigned(),
        "203.0.113.5",
        rcode::REFUSED,
        "unsigned from 203.0.113.5",
    );
    db.ok(&Update::new(APEX).add("h.dyn.up.test.", rtype::A, 60, &A7).unsigned());
    db.ok(&Update::new(APEX).add("www.up.test.", rtype::A, 60, &A7).signed());
    // One record outside the grant refuses the whole UPDATE.
    let mixed = Update::new(APEX).add("www.up.test.", rtype::A, 60, &[192, 0, 2, 99]).add("www.up.test.", rtype::MX, 60, b"\x00\x0a\x00");
    db.refused(&mixed.signed(), INSIDE, rcode::REFUSED, "may not change MX");
    // Geo variants have no RFC 2136 form.
    let geo = setup(&["grant up-key. zonesub ANY"]);
    geo.refused(&Update::new(APEX).delete_rrset("geo.up.test.", rtype::A).signed(), INSIDE, rcode::REFUSED, "geo variants");
    geo.refused(&Update::new(APEX).delete_name("geo.up.test.").signed(), INSIDE, rcode::REFUSED, "geo variants");
    // No policy at all: nobody.
    let closed = setup(&[]);
    closed.refused(&Update::new(APEX).add("www.up.test.", rtype::A, 60, &A7).signed(), INSIDE, rcode::REFUSED, "no update policy");
}

#[test]
fn tsig_failures_are_notauth_and_write_nothing() {
    let db = setup(&["grant up-key. zonesub ANY"]);
    let wrong = Key::new("up-key.", Algorithm::HmacSha256, b"not the right secret, not at all".to_vec()).unwrap();
    db.refused(&Update::new(APEX).add("x.up.test.", rtype::A, 60, &A7).signed_with(&wrong, now()), INSIDE, rcode::NOTAUTH, "BADSIG");
    let unknown = Key::new("who.", Algorithm::HmacSha256, SECRET.to_vec()).unwrap();
    db.refused(&Update::new(APEX).add("x.up.test.", rtype::A, 60, &A7).signed_with(&unknown, now()), INSIDE, rcode::NOTAUTH, "BADKEY");
    db.refused(
        &Update::new(APEX).add("x.up.test.", rtype::A, 60, &A7).signed_with(&key(), now() - 3600),
        INSIDE,
        rcode::NOTAUTH,
        "BADTIME",
    );
    // The answer to a signed UPDATE is signed over its request MAC.
    let mut m = Update::new(APEX).add("x.up.test.", rtype::A, 60, &A7).0.finish();
    let mac = tsig::sign_request(&mut m, &key(), now(), tsig::DEFAULT_FUDGE);
    let mut txn = db.store.write_txn().unwrap();
    let out = update::process(&db.store, &mut txn, &m, INSIDE.parse().unwrap(), now());
    assert!(out.commit && out.key.as_deref() == Some("up-key."));
    tsig::verify_response(&out.reply, &key(), &mac, now()).expect("a signed reply");
}
