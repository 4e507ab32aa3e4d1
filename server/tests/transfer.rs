//! Zone transfers out, in process (bytes in, messages out): AXFR framing, order and splitting
//! at 64 KiB; IXFR from the journal (condensed, current, too old, a zone replaced whole); geo
//! variants only for clients that ask; TSIG on every message and its failures; the transfer
//! ACL; generated catalogs; IXFR over UDP.
//!
//! Real secondaries pulling from a running lmdns-server are in `replication.rs`.

mod common;

use std::collections::BTreeSet;
use std::net::IpAddr;

use common::{replace_zones, rr, wire};
use lmdb_schema::zone::GeoPolicy;
use lmdb_schema::{geo_rr, rtype, OpenOptions, Store};
use lmdns_loader::zones::{Rr, ZoneWriter};
use lmdns_proto::build::{MessageBuilder, Section};
use lmdns_proto::tsig::{self, Algorithm, Key, StreamVerifier};
use lmdns_proto::wire;
use lmdns_server::answer::catalog::Catalog;
use lmdns_server::answer::transfer::{self, Prepared};
use lmdns_server::engine::{AnswerConfig, Client, Engine, Transport};
use lmdns_server::ops::acl::TransferAcl;

const LOCAL: &str = "127.0.0.1";

fn soa(apex: &str, serial: u32) -> Rr {
    let mut rdata = wire(&format!("ns1.{apex}"));
    rdata.extend(wire(&format!("hostmaster.{apex}")));
    for v in [serial, 3600, 600, 86400, 300] {
        rdata.extend_from_slice(&v.to_be_bytes());
    }
    rr(apex, rtype::SOA, rdata)
}

fn zone(apex: &str, serial: u32, extra: Vec<Rr>) -> Vec<Rr> {
    let mut records = vec![
        soa(apex, serial),
        rr(apex, rtype::NS, wire(&format!("ns1.{apex}"))),
        rr(&format!("ns1.{apex}"), rtype::A, vec![192, 0, 2, 53]),
    ];
    records.extend(extra);
    records
}

struct Fixture {
    store: Store,
    engine: Engine,
    _dir: tempfile::TempDir,
}

fn fixture(zones: &[(&str, Vec<Rr>)], config: AnswerConfig) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db"), &OpenOptions { map_size: 256 << 20, read_only: false }).unwrap();
    let mut txn = store.write_txn().unwrap();
    replace_zones(&store, &mut txn, zones);
    txn.commit().unwrap();
    Fixture { engine: Engine::new(store, config), store, _dir: dir }
}

fn open_config() -> AnswerConfig {
    AnswerConfig { allow_transfer: TransferAcl::parse(&["127.0.0.0/8"]).unwrap(), ..AnswerConfig::default() }
}

/// A transfer request: AXFR, or IXFR with the client's serial in the authority section.
fn request(apex: &str, qtype: u16, ixfr_serial: Option<u32>, geo: bool) -> Vec<u8> {
    let mut m = MessageBuilder::new(0x5151, 0);
    m.question(&wire(apex), qtype, 1).unwrap();
    if let Some(serial) = ixfr_serial {
        m.record(Section::Authority, &wire(apex), rtype::SOA, 1, 0, &soa(apex, serial).rdata).unwrap();
    }
    if geo {
        // OPT with the empty geo-variants option.
        let mut opt = geo_rr::EDNS_OPTION.to_be_bytes().to_vec();
        opt.extend_from_slice(&[0, 0]);
        m.record(Section::Additional, &[0], rtype::OPT, 1232, 0, &opt).unwrap();
    }
    m.finish()
}

impl Fixture {
    fn commit(&self, f: impl FnOnce(&mut ZoneWriter<'_, '_>)) {
        let mut txn = self.store.write_txn().unwrap();
        let mut w = ZoneWriter::new(&self.store, &mut txn);
        f(&mut w);
        w.finish(true).unwrap();
        txn.commit().unwrap();
    }

    /// Every message of the answer to `packet`, as sent over TCP.
    fn transfer(&self, packet: &[u8]) -> Vec<Vec<u8>> {
        let txn = self.engine.read_txn().unwrap();
        let source: IpAddr = LOCAL.parse().unwrap();
        match transfer::prepare(self.engine.store(), &txn, self.engine.config(), packet, source) {
            Prepared::Answer(bytes) => vec![bytes],
            Prepared::Transfer(mut t) => {
                let mut messages = Vec::new();
                let mut out = Vec::new();
                while t.next(&mut out).unwrap() {
                    messages.push(out.clone());
                }
                messages
            }
        }
    }
}

/// The answer records of every message, in order.
fn records(messages: &[Vec<u8>]) -> Vec<wire::Record> {
    messages.iter().flat_map(|m| wire::parse(m).unwrap().answers).collect()
}

fn rcode(message: &[u8]) -> u8 {
    message[3] & 0x0F
}

/// (owner, type, rdata) of records, as a set to compare with a zone.
fn set(records: &[wire::Record]) -> BTreeSet<(Vec<u8>, u16, Vec<u8>)> {
    records.iter().map(|r| (r.owner.to_ascii_lowercase(), r.rtype, r.rdata.clone())).collect()
}

#[test]
fn axfr_sends_the_soa_first_and_last_and_every_record_once() {
    let extra = vec![
        rr("www.example.", rtype::A, vec![192, 0, 2, 1]),
        rr("www.example.", rtype::A, vec![192, 0, 2, 2]),
        rr("mail.example.", rtype::MX, [&[0, 10][..], &wire("www.example.")].concat()),
        rr("sub.example.", rtype::NS, wire("ns.sub.example.")),
        rr("ns.sub.example.", rtype::A, vec![192, 0, 2, 9]), // glue, occluded: sent too
        rr("deep.ent.example.", rtype::TXT, b"\x02hi".to_vec()),
    ];
    let records_in = zone("example.", 7, extra);
    let f = fixture(&[("example.", records_in.clone()), ("sub.example.", zone("sub.example.", 3, vec![]))], open_config());
    let messages = f.transfer(&request("example.", rtype::AXFR, None, false));
    assert_eq!(messages.len(), 1);
    let header = wire::parse(&messages[0]).unwrap().header;
    assert!(header.qr() && header.aa() && header.rcode() == 0);
    let got = records(&messages);
    assert_eq!(got.first().unwrap().rtype, rtype::SOA);
    assert_eq!(got.last().unwrap().rtype, rtype::SOA);
    assert_eq!(got.len(), records_in.len() + 1, "every record once, the SOA twice");
    let expected: BTreeSet<_> = records_in.iter().map(|r| (r.owner.clone(), r.rtype, r.rdata.clone())).collect();
    assert_eq!(set(&got), expected, "the child zone's own records are not in the parent's AXFR");
    // Canonical order between the SOAs.
    let owners: Vec<Vec<u8>> = got[1..got.len() - 1].iter().map(|r| lmdb_schema::name::key_from_wire(&r.owner).unwrap()).collect();
    assert!(owners.windows(2).all(|w| w[0] <= w[1]), "canonical order");
    // Names are compressed: far smaller than the records written out in full.
    let uncompressed: usize = got.iter().map(|r| r.owner.len() + 10 + r.rdata.len()).sum();
    assert!(messages[0].len() < uncompressed * 3 / 4, "{} bytes for {uncompressed} uncompressed", messages[0].len());
}

#[test]
fn axfr_of_a_big_zone_is_split_into_16k_messages() {
    // Owner names that compress differently (shared and unshared suffixes) and ~250-byte TXTs.
    let mut extra = Vec::new();
    for i in 0..1500u32 {
        let owner = match i % 3 {
            0 => format!("h{i}.example."),
            1 => format!("h{i}.a.b.example."),
            _ => format!("x{}.h{i}.deep.example.", i % 7),
        };
        let mut txt = vec![250u8];
        txt.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, 250));
        extra.push(rr(&owner, rtype::TXT, txt));
    }
    let records_in = zone("example.", 1, extra);
    let f = fixture(&[("example.", records_in.clone())], open_config());
    let messages = f.transfer(&request("example.", rtype::AXFR, None, false));
    assert!(messages.len() >= 20, "{} messages", messages.len());
    for (i, m) in messages.iter().enumerate() {
        // About 16 KiB each (where compression pointers reach), none beyond.
        assert!(m.len() <= 16_384, "message {i} is {} bytes", m.len());
        let parsed = wire::parse(m).unwrap();
        assert_eq!(parsed.questions.len(), usize::from(i == 0), "the question is in the first message only");
        assert!(m.len() > 15_000 || i == messages.len() - 1, "message {i} is only {} bytes", m.len());
    }
    let got = records(&messages);
    assert_eq!(got.len(), records_in.len() + 1);
    assert_eq!(set(&got), records_in.iter().map(|r| (r.owner.clone(), r.rtype, r.rdata.clone())).collect());
    // A record too big for 16 KiB goes alone in a message of its own, up to 64 KiB.
    let mut huge = Vec::new();
    for _ in 0..80 {
        huge.push(250u8);
        huge.extend(std::iter::repeat_n(b'z', 250));
    }
    let f = fixture(&[("example.", zone("example.", 1, vec![rr("big.example.", rtype::TXT, huge.clone())]))], open_config());
    let messages = f.transfer(&request("example.", rtype::AXFR, None, false));
    assert!(messages.iter().any(|m| m.len() > 16_384 && m.len() <= 65_535));
    assert!(records(&messages).iter().any(|r| r.rdata == huge));
}

#[test]
fn owners_compress_against_the_previous_owner_whatever_the_depth() {
    // Siblings, children, grandchildren, back up, and names whose parent differs only in case
    // of the RDATA (owners are lower case).
    let mut extra = Vec::new();
    for owner in
        ["a.example.", "a.a.example.", "b.a.a.example.", "c.a.example.", "b.example.", "x.y.z.example.", "y.z.example.", "z.example."]
    {
        extra.push(rr(owner, rtype::A, vec![192, 0, 2, 1]));
        extra.push(rr(owner, rtype::TXT, b"\x01t".to_vec()));
    }
    let records_in = zone("example.", 1, extra);
    let f = fixture(&[("example.", records_in.clone())], open_config());
    let messages = f.transfer(&request("example.", rtype::AXFR, None, false));
    let got = records(&messages);
    assert_eq!(set(&got), records_in.iter().map(|r| (r.owner.clone(), r.rtype, r.rdata.clone())).collect());
    // Every owner after the apex's takes at most two labels and a pointer on the wire (the
    // previous owner's sibling or child: one label; back up to another branch: the compressor
    // may lack a name the fast path wrote, so a label more).
    let message = &messages[0];
    for r in wire::parse(message).unwrap().answers.iter().skip(1) {
        let mut at = r.offset;
        while message[at] != 0 && message[at] & 0xC0 != 0xC0 {
            at += 1 + usize::from(message[at]);
        }
        let on_wire = at - r.offset + if message[at] == 0 { 1 } else { 2 };
        let first = 1 + usize::from(r.owner[0]);
        let two = first + 1 + usize::from(r.owner[first]);
        assert!(on_wire <= two + 2, "owner {:?} takes {on_wire} bytes", r.owner);
    }
}

fn geo_zone() -> Vec<Rr> {
    let variant =
        |cond: &str, last: u8| Rr { condition: cond.as_bytes().to_vec(), ..rr("www.example.", rtype::A, vec![198, 51, 100, last]) };
    zone("example.", 1, vec![rr("www.example.", rtype::A, vec![192, 0, 2, 1]), variant("country=DE", 1), variant("country=FR", 2)])
}

#[test]
fn geo_variants_and_the_policy_go_only_to_clients_that_ask() {
    let f = fixture(&[("example.", geo_zone())], open_config());
    f.commit(|w| {
        w.set_policy(&wire("example."), Some(GeoPolicy { table: "geo".into(), keys: vec!["country".into()], whoami: vec![] })).unwrap();
    });
    let plain = records(&f.transfer(&request("example.", rtype::AXFR, None, false)));
    assert!(plain.iter().all(|r| !geo_rr::is_private(r.rtype)), "an ordinary secondary gets the default RRsets only");
    assert_eq!(plain.iter().filter(|r| r.rtype == rtype::A && r.owner == wire("www.example.")).count(), 1);
    let peer = records(&f.transfer(&request("example.", rtype::AXFR, None, true)));
    let variants: Vec<_> =
        peer.iter().filter(|r| r.rtype == rtype::LMDNS_VARIANT).map(|r| geo_rr::decode_variant(&r.rdata).unwrap().1.to_vec()).collect();
    assert_eq!(variants, vec![b"country=DE".to_vec(), b"country=FR".to_vec()]);
    let policy = peer.iter().find(|r| r.rtype == rtype::LMDNS_POLICY).expect("the policy");
    assert_eq!(serde_json::from_slice::<GeoPolicy>(&policy.rdata).unwrap().keys, ["country"]);
}

#[test]
fn ixfr_sends_the_condensed_difference_or_falls_back() {
    let f = fixture(&[("example.", zone("example.", 10, vec![rr("www.example.", rtype::A, vec![192, 0, 2, 1])]))], open_config());
    f.commit(|w| {
        w.add(&rr("new.example.", rtype::A, vec![192, 0, 2, 7])).unwrap();
    }); // 11
    f.commit(|w| {
        w.delete(&wire("www.example."), rtype::A, None, b"").unwrap();
        w.add(&rr("tmp.example.", rtype::A, vec![192, 0, 2, 8])).unwrap();
    }); // 12
    f.commit(|w| {
        w.delete(&wire("tmp.example."), rtype::A, None, b"").unwrap();
        w.add(&rr("www.example.", rtype::A, vec![192, 0, 2, 3])).unwrap();
    }); // 13

    // From 10: one condensed difference (tmp came and went; www changed address).
    let got = records(&f.transfer(&request("example.", rtype::IXFR, Some(10), false)));
    let kinds: Vec<(u16, Option<u32>)> = got.iter().map(|r| (r.rtype, r.soa_serial())).collect();
    assert_eq!(
        kinds,
        vec![(6, Some(13)), (6, Some(10)), (1, None), (6, Some(13)), (1, None), (1, None), (6, Some(13))],
        "new SOA, old SOA, removed, new SOA, added, new SOA"
    );
    assert_eq!(got[2].rdata, vec![192, 0, 2, 1], "www's old address removed");
    let added: BTreeSet<_> = got[4..6].iter().map(|r| r.rdata.clone()).collect();
    assert_eq!(added, BTreeSet::from([vec![192, 0, 2, 7], vec![192, 0, 2, 3]]));

    // Current (or ahead): the SOA alone.
    for current in [13, 14] {
        let got = records(&f.transfer(&request("example.", rtype::IXFR, Some(current), false)));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].soa_serial(), Some(13));
    }
    // A serial the journal does not know: the whole zone, AXFR-style.
    for unknown in [9, 5] {
        let got = records(&f.transfer(&request("example.", rtype::IXFR, Some(unknown), false)));
        assert_eq!(got.first().unwrap().soa_serial(), Some(13));
        assert_ne!(got[1].rtype, rtype::SOA, "an AXFR-style answer, not a difference");
        assert_eq!(got.last().unwrap().soa_serial(), Some(13));
    }
    // IXFR without the client's SOA is malformed.
    assert_eq!(rcode(&f.transfer(&request("example.", rtype::IXFR, None, false))[0]), 1);
}

#[test]
fn ixfr_of_a_zone_replaced_whole_is_its_difference() {
    let mut big = vec![];
    for i in 0..300u32 {
        big.push(rr(&format!("h{i}.example."), rtype::A, vec![10, 0, (i >> 8) as u8, i as u8]));
    }
    let f = fixture(&[("example.", zone("example.", 1, big.clone()))], open_config());
    // The same zone again with one record changed and a higher serial, as `zone import` does.
    big[17] = rr("h17.example.", rtype::A, vec![10, 9, 9, 9]);
    let dir_db = f.engine.store();
    let mut txn = dir_db.write_txn().unwrap();
    replace_zones(dir_db, &mut txn, &[("example.", zone("example.", 2, big))]);
    txn.commit().unwrap();
    let got = records(&f.transfer(&request("example.", rtype::IXFR, Some(1), false)));
    let kinds: Vec<u16> = got.iter().map(|r| r.rtype).collect();
    assert_eq!(kinds, vec![6, 6, 1, 6, 1, 6], "one record out, one in: not the whole zone");
    assert_eq!((got[2].rdata.clone(), got[4].rdata.clone()), (vec![10, 0, 0, 17], vec![10, 9, 9, 9]));
}

fn key(name: &str, secret: &[u8]) -> Key {
    Key::new(name, Algorithm::HmacSha256, secret.to_vec()).unwrap()
}

fn add_key(f: &Fixture, name: &str, secret: &[u8]) {
    let mut txn = f.store.write_txn().unwrap();
    let stored = lmdb_schema::keys::StoredKey { algorithm: "hmac-sha256".into(), secret: data_encoding::BASE64.encode(secret) };
    f.store.tsig_keys.put(&mut txn, &lmdb_schema::name::key_from_dotted(name).unwrap(), &stored.encode()).unwrap();
    txn.commit().unwrap();
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

#[test]
fn signed_transfers_sign_every_message_and_failures_are_notauth() {
    let mut extra = Vec::new();
    for i in 0..800u32 {
        extra.push(rr(&format!("h{i}.example."), rtype::TXT, [&[200u8][..], &[b'x'; 200]].concat()));
    }
    let config = AnswerConfig { allow_transfer: TransferAcl::parse(&["key:xfr.example."]).unwrap(), ..AnswerConfig::default() };
    let f = fixture(&[("example.", zone("example.", 1, extra))], config);
    add_key(&f, "xfr.example.", b"0123456789abcdef0123456789abcdef");

    let mut signed = request("example.", rtype::AXFR, None, false);
    let good = key("xfr.example.", b"0123456789abcdef0123456789abcdef");
    let mac = tsig::sign_request(&mut signed, &good, now(), tsig::DEFAULT_FUDGE);
    let messages = f.transfer(&signed);
    assert!(messages.len() > 1, "several messages");
    let mut verifier = StreamVerifier::new(good.clone(), mac);
    for m in &messages {
        verifier.verify(m, now()).unwrap();
    }
    verifier.finish().unwrap();

    // Unsigned: the ACL wants the key.
    assert_eq!(rcode(&f.transfer(&request("example.", rtype::AXFR, None, false))[0]), 5, "REFUSED");
    // A wrong secret: NOTAUTH, BADSIG.
    let mut bad = request("example.", rtype::AXFR, None, false);
    tsig::sign_request(&mut bad, &key("xfr.example.", b"not the secret at all, no no no"), now(), tsig::DEFAULT_FUDGE);
    let answer = &f.transfer(&bad)[0];
    assert_eq!(rcode(answer), 9);
    assert_eq!(tsig::find(answer).unwrap().unwrap().error, tsig::BADSIG);
    // An unknown key: BADKEY.
    let mut unknown = request("example.", rtype::AXFR, None, false);
    tsig::sign_request(&mut unknown, &key("nobody.example.", b"0123456789abcdef0123456789abcdef"), now(), tsig::DEFAULT_FUDGE);
    let answer = &f.transfer(&unknown)[0];
    assert_eq!((rcode(answer), tsig::find(answer).unwrap().unwrap().error), (9, tsig::BADKEY));
    // Too old: BADTIME, signed.
    let mut late = request("example.", rtype::AXFR, None, false);
    let mac = tsig::sign_request(&mut late, &good, now() - 3600, tsig::DEFAULT_FUDGE);
    let answer = &f.transfer(&late)[0];
    assert_eq!((rcode(answer), tsig::find(answer).unwrap().unwrap().error), (9, tsig::BADTIME));
    tsig::verify_response(answer, &good, &mac, now()).unwrap_err();
}

#[test]
fn the_acl_decides_and_foreign_zones_are_notauth() {
    let f = fixture(&[("example.", zone("example.", 1, vec![]))], AnswerConfig::default());
    assert_eq!(rcode(&f.transfer(&request("example.", rtype::AXFR, None, false))[0]), 5, "nobody may transfer by default");
    let f = fixture(&[("example.", zone("example.", 1, vec![]))], open_config());
    assert_eq!(rcode(&f.transfer(&request("other.", rtype::AXFR, None, false))[0]), 9, "NOTAUTH for a zone not served");
    assert_eq!(rcode(&f.transfer(&request("www.example.", rtype::AXFR, None, false))[0]), 9, "a name inside a zone is not a zone");
}

fn udp(f: &Fixture, packet: &[u8]) -> Vec<u8> {
    let txn = f.engine.read_txn().unwrap();
    let mut scratch = f.engine.scratch();
    let mut out = Vec::new();
    let client = Client { addr: (LOCAL.parse::<IpAddr>().unwrap(), 5300).into(), transport: Transport::Udp };
    assert!(f.engine.answer(&txn, &mut scratch, packet, &client, &mut out));
    out
}

#[test]
fn ixfr_over_udp_is_the_soa_when_current_else_truncated() {
    let f = fixture(&[("example.", zone("example.", 5, vec![]))], open_config());
    let current = wire::parse(&udp(&f, &request("example.", rtype::IXFR, Some(5), false))).unwrap();
    assert_eq!((current.answers.len(), current.answers[0].soa_serial(), current.header.tc()), (1, Some(5), false));
    let behind = wire::parse(&udp(&f, &request("example.", rtype::IXFR, Some(4), false))).unwrap();
    assert!(behind.header.tc() && behind.answers.is_empty(), "TC: ask again over TCP");
    let axfr = wire::parse(&udp(&f, &request("example.", rtype::AXFR, None, false))).unwrap();
    assert_eq!(axfr.header.rcode(), 4, "AXFR over UDP: NOTIMP");
}

#[test]
fn catalogs_list_the_zones_and_follow_their_changes() {
    let mut config = open_config();
    config.catalogs = vec![Catalog::new("catalog.invalid.", None).unwrap(), Catalog::new("gold.invalid.", Some("gold".into())).unwrap()];
    let f = fixture(&[("a.example.", zone("a.example.", 1, vec![])), ("b.example.", zone("b.example.", 1, vec![]))], config);
    let members =
        |recs: &[wire::Record]| -> BTreeSet<Vec<u8>> { recs.iter().filter(|r| r.rtype == rtype::PTR).map(|r| r.rdata.clone()).collect() };
    let all = records(&f.transfer(&request("catalog.invalid.", rtype::AXFR, None, false)));
    assert_eq!(members(&all), BTreeSet::from([wire("a.example."), wire("b.example.")]));
    assert!(all.iter().any(|r| r.rtype == rtype::TXT && r.owner == wire("version.catalog.invalid.") && r.rdata == b"\x012"));
    let serial = all[0].soa_serial().unwrap();
    assert!(members(&records(&f.transfer(&request("gold.invalid.", rtype::AXFR, None, false)))).is_empty());

    // A zone added and one put in the group: the serial moves, IXFR carries just that.
    f.commit(|w| {
        let mut tree = lmdns_loader::zones::ZoneTree::new(&wire("c.example.")).unwrap();
        for r in zone("c.example.", 1, vec![]) {
            tree.insert(&r).unwrap();
        }
        w.replace_zone(tree, None, lmdns_loader::zones::ImportSerial::MustAdvance).unwrap();
        w.set_group(&lmdb_schema::name::key_from_dotted("a.example.").unwrap(), Some("gold".into())).unwrap();
    });
    let diff = records(&f.transfer(&request("catalog.invalid.", rtype::IXFR, Some(serial), false)));
    assert_eq!(diff[0].soa_serial(), Some(serial + 1));
    assert_eq!(diff[1].soa_serial(), Some(serial));
    let removed: Vec<_> = diff[2..].iter().take_while(|r| r.rtype != rtype::SOA).collect();
    assert!(removed.is_empty(), "nothing removed");
    let added: BTreeSet<(u16, Vec<u8>)> = diff[3..diff.len() - 1].iter().map(|r| (r.rtype, r.rdata.clone())).collect();
    assert_eq!(added, BTreeSet::from([(rtype::PTR, wire("c.example.")), (rtype::TXT, b"\x04gold".to_vec())]));
    let gold = records(&f.transfer(&request("gold.invalid.", rtype::AXFR, None, false)));
    assert_eq!(members(&gold), BTreeSet::from([wire("a.example.")]));

    // Ordinary queries, UDP: the member's PTR, a missing member's NXDOMAIN.
    let id =
        lmdb_schema::catalog::member_label(&lmdb_schema::catalog::member_id(&lmdb_schema::name::key_from_dotted("b.example.").unwrap()));
    let mut q = MessageBuilder::new(7, 0);
    q.question(&wire(&format!("{id}.zones.catalog.invalid.")), rtype::PTR, 1).unwrap();
    let answer = wire::parse(&udp(&f, &q.finish())).unwrap();
    assert!(answer.header.aa());
    assert_eq!(answer.answers.iter().map(|r| r.rdata.clone()).collect::<Vec<_>>(), vec![wire("b.example.")]);
    let mut q = MessageBuilder::new(8, 0);
    q.question(&wire("0000000000000000.zones.catalog.invalid."), rtype::PTR, 1).unwrap();
    let answer = wire::parse(&udp(&f, &q.finish())).unwrap();
    assert_eq!((answer.header.rcode(), answer.authority[0].rtype), (3, rtype::SOA));
}
