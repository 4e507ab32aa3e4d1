//! Generated catalog zones (RFC 9432, schema version 2), producer side: `--catalog NAME[=GROUP]`.
//!
//! Nothing of a catalog is stored as zone data: it is derived on each request from the catalog
//! member list the writer keeps (`lmdb_schema::catalog`), so it is always exactly the zones of
//! the database (or of one group), and its serial is the database's zone-set version, bumped by
//! every commit that adds or removes a zone or changes a group. The member log is its IXFR
//! journal. Every record has TTL 0, as consumers poll the SOA and get NOTIFY anyway.
//!
//! ```text
//! NAME                      SOA   invalid. invalid. <serial> 300 60 604800 0
//! NAME                      NS    invalid.
//! version.NAME              TXT   "2"
//! <id>.zones.NAME           PTR   <member zone>
//! group.<id>.zones.NAME     TXT   "<group>"          (members in a group)
//! ```

use heed::RoTxn;
use lmdb_schema::catalog::{self, Member, MemberChange};
use lmdb_schema::journal::Record;
use lmdb_schema::{meta_keys, name, rtype, Store};

use super::internet::LookupFailed;
use super::writer::{Owner, Section, Writer, RCODE_NOERROR, RCODE_NXDOMAIN};
use crate::query::QueryName;

/// SOA timers of a generated catalog: refresh 300 s, retry 60 s, expire a week, minimum 0.
const SOA_TIMERS: [u32; 4] = [300, 60, 604_800, 0];

/// Records removed and records added.
pub type Difference = (Vec<Record>, Vec<Record>);

/// One `--catalog` of the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Catalog {
    /// Name key of the catalog's apex.
    pub key: Vec<u8>,
    /// The apex as an uncompressed wire name.
    pub wire: Vec<u8>,
    /// Only members of this group are listed.
    pub group: Option<String>,
}

impl Catalog {
    pub fn new(name: &str, group: Option<String>) -> Result<Catalog, name::NameError> {
        let key = name::key_from_dotted(name)?;
        Ok(Catalog { wire: name::key_to_wire(&key), key, group })
    }

    /// The catalog's serial as of `txn`.
    pub fn serial(store: &Store, txn: &RoTxn) -> Result<u32, LookupFailed> {
        Ok(version(store, txn)? as u32)
    }

    fn lists(&self, member: &Member) -> bool {
        self.group.is_none() || self.group == member.group
    }

    fn child(&self, labels: &[&[u8]]) -> Vec<u8> {
        let mut wire = Vec::with_capacity(self.wire.len() + 40);
        for label in labels {
            wire.push(label.len() as u8);
            wire.extend_from_slice(label);
        }
        wire.extend_from_slice(&self.wire);
        wire
    }

    fn record(&self, owner: Vec<u8>, rtype: u16, rdata: Vec<u8>) -> Record {
        Record { owner, rtype, class: 1, ttl: 0, rdata }
    }

    /// The SOA record of this catalog at `serial`.
    pub fn soa(&self, serial: u32) -> Record {
        let mut rdata = b"\x07invalid\x00\x07invalid\x00".to_vec();
        rdata.extend_from_slice(&serial.to_be_bytes());
        for t in SOA_TIMERS {
            rdata.extend_from_slice(&t.to_be_bytes());
        }
        self.record(self.wire.clone(), rtype::SOA, rdata)
    }

    /// A member's records (none if this catalog does not list it).
    fn member_records(&self, id: &str, member: &Member) -> Vec<Record> {
        if !self.lists(member) {
            return Vec::new();
        }
        let Ok(zone) = name::key_from_dotted(&member.zone) else { return Vec::new() };
        let mut out = vec![self.record(self.child(&[id.as_bytes(), b"zones"]), rtype::PTR, name::key_to_wire(&zone))];
        if let Some(group) = &member.group {
            let mut txt = vec![group.len().min(255) as u8];
            txt.extend_from_slice(&group.as_bytes()[..group.len().min(255)]);
            out.push(self.record(self.child(&[b"group", id.as_bytes(), b"zones"]), rtype::TXT, txt));
        }
        out
    }

    /// Every record of the catalog as an AXFR sends it, without the closing SOA.
    pub fn records(&self, store: &Store, txn: &RoTxn) -> Result<Vec<Record>, LookupFailed> {
        let serial = Self::serial(store, txn)?;
        let mut out = vec![
            self.soa(serial),
            self.record(self.wire.clone(), rtype::NS, b"\x07invalid\x00".to_vec()),
            self.record(self.child(&[b"version"]), rtype::TXT, b"\x012".to_vec()),
        ];
        for item in store.catalog_members.iter(txn)? {
            let (id, value) = item?;
            let Ok(member) = Member::decode(value) else { continue };
            let Ok(id) = <[u8; 8]>::try_from(id) else { continue };
            out.extend(self.member_records(&catalog::member_label(&id), &member));
        }
        Ok(out)
    }

    /// The condensed difference from `serial` to now as (removed, added), or None when the log
    /// no longer reaches back to `serial` (the client then gets the whole catalog).
    pub fn difference(&self, store: &Store, txn: &RoTxn, serial: u32) -> Result<Option<Difference>, LookupFailed> {
        let now = version(store, txn)?;
        let behind = (now as u32).wrapping_sub(serial) as u64;
        if behind > now || behind > catalog::KEEP {
            return Ok(None);
        }
        // id → (as it was at `serial`, as it is now); order of first change kept.
        let mut order: Vec<String> = Vec::new();
        let mut states: std::collections::HashMap<String, (Option<Member>, Option<Member>)> = Default::default();
        for v in now - behind + 1..=now {
            let Some(value) = store.catalog_log.get(txn, &v.to_be_bytes())? else { return Ok(None) };
            let Ok(changes) = serde_json::from_slice::<Vec<MemberChange>>(value) else { return Err(LookupFailed) };
            for change in changes {
                match states.get_mut(&change.id) {
                    Some(state) => state.1 = change.added,
                    None => {
                        order.push(change.id.clone());
                        states.insert(change.id, (change.removed, change.added));
                    }
                }
            }
        }
        let (mut removed, mut added) = (Vec::new(), Vec::new());
        for id in order {
            let (before, after) = &states[&id];
            let old = before.as_ref().map(|m| self.member_records(&id, m)).unwrap_or_default();
            let new = after.as_ref().map(|m| self.member_records(&id, m)).unwrap_or_default();
            removed.extend(old.iter().filter(|r| !new.contains(r)).cloned());
            added.extend(new.into_iter().filter(|r| !old.contains(r)));
        }
        Ok(Some((removed, added)))
    }
}

fn version(store: &Store, txn: &RoTxn) -> Result<u64, LookupFailed> {
    store.meta_u64(txn, meta_keys::ZONE_SET_VERSION, 0).map_err(|_| LookupFailed)
}

/// The catalog the name falls in, if any (the deepest, should catalogs nest).
pub fn find<'c>(catalogs: &'c [Catalog], name: &QueryName) -> Option<&'c Catalog> {
    let key = name.ancestor_key(name.label_count());
    catalogs.iter().filter(|c| key.starts_with(&c.key)).max_by_key(|c| c.key.len())
}

/// Answers a query for a name in `cat` (rcode, AA).
pub fn answer(store: &Store, txn: &RoTxn, cat: &Catalog, current: &QueryName, qtype: u16, w: &mut Writer<'_>) -> Result<u16, LookupFailed> {
    let apex_labels = name::label_count(&cat.key);
    let labels: Vec<Vec<u8>> = name::key_labels(current.ancestor_key(current.label_count())).skip(apex_labels).collect();
    let labels: Vec<&[u8]> = labels.iter().map(Vec::as_slice).collect();
    let apex_at = current.ancestor_offset(apex_labels).unwrap_or(12);
    let qname = Owner::At(current.ancestor_offset(current.label_count()).unwrap_or(12));
    let serial = Catalog::serial(store, txn)?;
    // The records at the question name (None: the name does not exist).
    let at_name: Option<Vec<Record>> = match labels.as_slice() {
        [] => Some(vec![cat.soa(serial), cat.record(cat.wire.clone(), rtype::NS, b"\x07invalid\x00".to_vec())]),
        [b"version"] => Some(vec![cat.record(Vec::new(), rtype::TXT, b"\x012".to_vec())]),
        [b"zones"] => {
            let any = store.catalog_members.iter(txn)?.filter_map(Result::ok).any(|(_, v)| Member::decode(v).is_ok_and(|m| cat.lists(&m)));
            any.then(Vec::new)
        }
        [b"zones", id] | [b"zones", id, b"group"] => {
            let group = labels.len() == 3;
            let member = match catalog::parse_member_label(id) {
                Some(raw) => store.catalog_members.get(txn, &raw)?.and_then(|v| Member::decode(v).ok()).filter(|m| cat.lists(m)),
                None => None,
            };
            let id = String::from_utf8_lossy(id).into_owned();
            match member {
                Some(m) if group && m.group.is_none() => None,
                Some(m) => Some(cat.member_records(&id, &m).into_iter().filter(|r| (r.rtype == rtype::TXT) == group).collect()),
                None => None,
            }
        }
        _ => None,
    };
    let Some(records) = at_name else {
        w.record(Section::Authority, Owner::At(apex_at), rtype::SOA, 0, &[&cat.soa(serial).rdata]);
        return Ok(RCODE_NXDOMAIN as u16);
    };
    // ANY gets one RRset (RFC 8482), as for ordinary zones.
    let mut answered = false;
    for r in &records {
        if r.rtype == qtype || (qtype == rtype::ANY && !answered) {
            w.record(Section::Answer, qname, r.rtype, 0, &[&r.rdata]);
            answered = true;
        }
    }
    if !answered {
        w.record(Section::Authority, Owner::At(apex_at), rtype::SOA, 0, &[&cat.soa(serial).rdata]);
    }
    Ok(RCODE_NOERROR as u16)
}
