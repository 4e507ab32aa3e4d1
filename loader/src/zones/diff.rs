//! What one commit changed in a zone, as the net difference between the zone before and after:
//! the records the IXFR journal entry removes and adds.
//!
//! Changes are noted as they are made, in any order (an add then a delete of the same record,
//! a TTL changed twice); only the net difference is kept: what was there before the commit
//! and is not after it, and the reverse. The SOA is not noted here: the commit decides the new
//! serial last and puts both SOAs at the head of the entry.

use std::collections::HashMap;

use lmdb_schema::journal::Record;
use lmdb_schema::node::{Rrset, Section, CLASS_IN};
use lmdb_schema::{geo_rr, name, rtype};

/// A record as the journal tells records apart: all but the TTL.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordId {
    pub owner_key: Vec<u8>,
    pub rtype: u16,
    /// Empty for default data, `key=value` for a geo variant.
    pub condition: Vec<u8>,
    pub rdata: Vec<u8>,
}

/// An RRset (or the signatures over one) that a commit changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChangedRrset<'a> {
    pub owner_key: &'a [u8],
    /// The RRset's type (for signatures, the type covered).
    pub rtype: u16,
    pub condition: &'a [u8],
    /// The change was to the RRSIGs covering the RRset.
    pub signature: bool,
}

/// The net difference of one zone in one commit.
#[derive(Debug, Default)]
pub struct Diff {
    /// First-noted order, so entries come out in the order changes were made.
    order: Vec<RecordId>,
    /// TTL before the commit (None: absent) and now.
    states: HashMap<RecordId, (Option<u32>, Option<u32>)>,
}

impl Diff {
    /// A record that existed with `ttl` is gone.
    pub fn removed(&mut self, id: RecordId, ttl: u32) {
        match self.states.get_mut(&id) {
            Some(state) => state.1 = None,
            None => {
                self.states.insert(id.clone(), (Some(ttl), None));
                self.order.push(id);
            }
        }
    }

    /// A record is present now with `ttl` (it was absent, or just noted removed).
    pub fn added(&mut self, id: RecordId, ttl: u32) {
        match self.states.get_mut(&id) {
            Some(state) => state.1 = Some(ttl),
            None => {
                self.states.insert(id.clone(), (None, Some(ttl)));
                self.order.push(id);
            }
        }
    }

    /// Notes every record of `rrset` at `owner_key` as removed.
    pub fn removed_rrset(&mut self, owner_key: &[u8], rrset: &Rrset) {
        for rdata in &rrset.rdatas {
            self.removed(id_of(owner_key, rrset, rdata), rrset.ttl);
        }
    }

    /// Notes every record of `rrset` at `owner_key` as added.
    pub fn added_rrset(&mut self, owner_key: &[u8], rrset: &Rrset) {
        for rdata in &rrset.rdatas {
            self.added(id_of(owner_key, rrset, rdata), rrset.ttl);
        }
    }

    /// Notes the difference between a name's section before and after (None: absent). The SOA
    /// RRset is left out (see the module comment).
    pub fn sections(&mut self, owner_key: &[u8], old: Option<&Section>, new: Option<&Section>) {
        let empty = Vec::new();
        let old_sets = old.map_or(&empty, |s| &s.rrsets);
        let new_sets = new.map_or(&empty, |s| &s.rrsets);
        let same_set = |a: &Rrset, b: &Rrset| a.rtype == b.rtype && a.covered == b.covered && a.condition == b.condition;
        for o in old_sets.iter().filter(|r| r.rtype != rtype::SOA) {
            match new_sets.iter().find(|n| same_set(o, n)) {
                Some(n) if n.ttl == o.ttl => {
                    for rdata in o.rdatas.iter().filter(|r| n.rdatas.binary_search(r).is_err()) {
                        self.removed(id_of(owner_key, o, rdata), o.ttl);
                    }
                }
                _ => self.removed_rrset(owner_key, o),
            }
        }
        for n in new_sets.iter().filter(|r| r.rtype != rtype::SOA) {
            match old_sets.iter().find(|o| same_set(o, n)) {
                Some(o) if o.ttl == n.ttl => {
                    for rdata in n.rdatas.iter().filter(|r| o.rdatas.binary_search(r).is_err()) {
                        self.added(id_of(owner_key, n, rdata), n.ttl);
                    }
                }
                _ => self.added_rrset(owner_key, n),
            }
        }
    }

    /// True if nothing changed on the net.
    pub fn is_empty(&self) -> bool {
        self.states.values().all(|(before, after)| before == after)
    }

    /// Records added minus records removed (the zone's record count moves by this; the
    /// policy is not a record).
    pub fn record_delta(&self) -> i64 {
        let mut delta = 0;
        for (id, (before, after)) in &self.states {
            if id.rtype == rtype::LMDNS_POLICY || before.is_some() == after.is_some() {
                continue;
            }
            delta += if after.is_some() { 1 } else { -1 };
        }
        delta
    }

    /// The RRsets this commit changed, as (owner key, type, condition), in first-noted order,
    /// once each; an RRSIG stands for its covered type with `signature` true.
    pub fn changed_rrsets(&self) -> Vec<ChangedRrset<'_>> {
        let mut out: Vec<ChangedRrset<'_>> = Vec::new();
        for id in &self.order {
            let (before, after) = self.states[id];
            if before == after || id.rtype == rtype::LMDNS_POLICY {
                continue;
            }
            let (rtype, signature) = match id.rtype {
                rtype::RRSIG => (id.rdata.get(..2).map_or(0, |b| u16::from_be_bytes([b[0], b[1]])), true),
                t => (t, false),
            };
            let changed = ChangedRrset { owner_key: &id.owner_key, rtype, condition: &id.condition, signature };
            if !out.contains(&changed) {
                out.push(changed);
            }
        }
        out
    }

    /// The net difference as journal records (variants and the policy in their private types):
    /// (removed, added), each in the order first noted.
    pub fn journal_records(&self) -> (Vec<Record>, Vec<Record>) {
        let (mut removed, mut added) = (Vec::new(), Vec::new());
        for id in &self.order {
            let (before, after) = self.states[id];
            if before == after {
                continue;
            }
            if let Some(ttl) = before {
                removed.push(journal_record(id, ttl));
            }
            if let Some(ttl) = after {
                added.push(journal_record(id, ttl));
            }
        }
        (removed, added)
    }
}

fn id_of(owner_key: &[u8], rrset: &Rrset, rdata: &[u8]) -> RecordId {
    RecordId { owner_key: owner_key.to_vec(), rtype: rrset.rtype, condition: rrset.condition.clone(), rdata: rdata.to_vec() }
}

/// The id under which a zone's policy (JSON) is noted: one record at the apex.
pub fn policy_id(apex_key: &[u8], policy_json: Vec<u8>) -> RecordId {
    RecordId { owner_key: apex_key.to_vec(), rtype: rtype::LMDNS_POLICY, condition: Vec::new(), rdata: policy_json }
}

fn journal_record(id: &RecordId, ttl: u32) -> Record {
    let owner = name::key_to_wire(&id.owner_key);
    if id.condition.is_empty() {
        Record { owner, rtype: id.rtype, class: CLASS_IN, ttl, rdata: id.rdata.clone() }
    } else {
        let rdata = geo_rr::encode_variant(id.rtype, &id.condition, &id.rdata);
        Record { owner, rtype: rtype::LMDNS_VARIANT, class: CLASS_IN, ttl, rdata }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rrset(rtype: u16, ttl: u32, cond: &str, rdatas: &[&[u8]]) -> Rrset {
        let mut r = Rrset::new(rtype, 0, cond.as_bytes().to_vec(), ttl);
        for d in rdatas {
            r.insert(d.to_vec());
        }
        r
    }

    fn section(rrsets: Vec<Rrset>) -> Section {
        Section { zone: 1, flags: 0, cut: 0, rrsets, extension: Vec::new() }
    }

    #[test]
    fn net_difference_of_sections() {
        let key = b"\0t\0www\0";
        let old = section(vec![rrset(1, 300, "", &[&[1, 1, 1, 1], &[2, 2, 2, 2]]), rrset(16, 60, "", &[b"\x01x"])]);
        let new = section(vec![
            rrset(1, 300, "", &[&[1, 1, 1, 1], &[3, 3, 3, 3]]),
            rrset(16, 120, "", &[b"\x01x"]),
            rrset(1, 30, "country=DE", &[&[9, 9, 9, 9]]),
        ]);
        let mut diff = Diff::default();
        diff.sections(key, Some(&old), Some(&new));
        let (removed, added) = diff.journal_records();
        let kinds = |v: &[Record]| v.iter().map(|r| (r.rtype, r.ttl, r.rdata.clone())).collect::<Vec<_>>();
        assert_eq!(kinds(&removed), vec![(1, 300, vec![2, 2, 2, 2]), (16, 60, b"\x01x".to_vec())]);
        let variant = geo_rr::encode_variant(1, b"country=DE", &[9, 9, 9, 9]);
        // In the order first noted: the TXT's TTL change was noted with the removals.
        assert_eq!(kinds(&added), vec![(16, 120, b"\x01x".to_vec()), (1, 300, vec![3, 3, 3, 3]), (rtype::LMDNS_VARIANT, 30, variant)]);
        assert_eq!(diff.record_delta(), 1);
        assert!(removed.iter().chain(&added).all(|r| r.owner == b"\x03www\x01t\x00"));
    }

    #[test]
    fn changes_that_cancel_out_leave_nothing() {
        let id = RecordId { owner_key: b"\0t\0".to_vec(), rtype: 1, condition: vec![], rdata: vec![1, 2, 3, 4] };
        let mut diff = Diff::default();
        diff.added(id.clone(), 300);
        diff.removed(id.clone(), 300);
        assert!(diff.is_empty());
        diff.removed(RecordId { rdata: vec![5; 4], ..id.clone() }, 60);
        diff.added(RecordId { rdata: vec![5; 4], ..id }, 60);
        assert!(diff.is_empty() && diff.journal_records() == (vec![], vec![]));
    }
}
