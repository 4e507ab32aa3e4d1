//! The IXFR journal: per zone, the difference between each committed version and the next.
//!
//! Every zone change the writer commits appends one entry in the same LMDB transaction, so the
//! journal is never behind the data and a writer killed mid-commit leaves neither. An entry is
//! exactly one RFC 1995 difference sequence: the old SOA and the records removed, then the new
//! SOA and the records added. Entries are keyed by a per-zone sequence number, not by serial:
//! serials wrap (RFC 1982), sequence numbers never do.
//!
//! ```text
//! key   := len:u8 apex_key seq:u64      -- len = length of apex_key, so one zone is one prefix
//! entry := version:u8 serial_from:u32 serial_to:u32 time:u64
//!          removed_count:u32 added_count:u32 removed_len:u32  removed_rr* added_rr*
//! rr    := owner (uncompressed wire name) type:u16 class:u16 ttl:u32 rdlen:u16 rdata
//! ```
//! The first removed record is the old SOA, the first added one the new SOA. Geo variants and
//! the zone's policy appear as the private-use types of [`crate::geo_rr`], which only lmdns
//! peers are sent.
//!
//! The bounds (entries and bytes per zone, oldest dropped first in the same transaction) are
//! database-wide settings in `meta` ([`crate::meta_keys::JOURNAL_MAX_CHANGES`],
//! [`crate::meta_keys::JOURNAL_MAX_BYTES`]); each zone's window is in its metadata
//! ([`crate::zone::JournalState`]).

use std::collections::HashMap;

use crate::rtype;

/// Default bound on entries kept per zone.
pub const DEFAULT_MAX_CHANGES: u64 = 1000;
/// Default bound on bytes of entries kept per zone.
pub const DEFAULT_MAX_BYTES: u64 = 16 << 20;

const VERSION: u8 = 1;
const HEADER: usize = 1 + 4 + 4 + 8 + 4 + 4 + 4;

/// A journal value that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("corrupt journal entry: {0}")]
pub struct CorruptJournal(pub &'static str);

/// The key prefix shared by every entry of the zone with apex key `apex_key`.
pub fn zone_prefix(apex_key: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(apex_key.len() + 9);
    key.push(apex_key.len() as u8);
    key.extend_from_slice(apex_key);
    key
}

/// The key of entry `seq` of a zone.
pub fn key(apex_key: &[u8], seq: u64) -> Vec<u8> {
    let mut key = zone_prefix(apex_key);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// The sequence number at the end of an entry key.
pub fn seq_of(key: &[u8]) -> Option<u64> {
    let tail: [u8; 8] = key.get(key.len().checked_sub(8)?..)?.try_into().ok()?;
    Some(u64::from_be_bytes(tail))
}

/// One record of a difference, owned (the writer builds these).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Record {
    /// Uncompressed wire name.
    pub owner: Vec<u8>,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    pub rdata: Vec<u8>,
}

impl Record {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.owner);
        out.extend_from_slice(&self.rtype.to_be_bytes());
        out.extend_from_slice(&self.class.to_be_bytes());
        out.extend_from_slice(&self.ttl.to_be_bytes());
        out.extend_from_slice(&(self.rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(&self.rdata);
    }

    pub fn as_ref(&self) -> RecordRef<'_> {
        RecordRef { owner: &self.owner, rtype: self.rtype, class: self.class, ttl: self.ttl, rdata: &self.rdata }
    }
}

/// One record of a stored difference, borrowed from the entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RecordRef<'a> {
    pub owner: &'a [u8],
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    pub rdata: &'a [u8],
}

impl RecordRef<'_> {
    pub fn to_owned(&self) -> Record {
        Record { owner: self.owner.to_vec(), rtype: self.rtype, class: self.class, ttl: self.ttl, rdata: self.rdata.to_vec() }
    }

    /// The SOA serial, for an SOA record.
    pub fn soa_serial(&self) -> Option<u32> {
        if self.rtype != rtype::SOA {
            return None;
        }
        let at = crate::zone::soa_serial_offset(self.rdata)?;
        Some(u32::from_be_bytes(self.rdata[at..at + 4].try_into().ok()?))
    }
}

/// An entry to append: `removed[0]` must be the old SOA and `added[0]` the new one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub serial_from: u32,
    pub serial_to: u32,
    /// Seconds since the Unix epoch.
    pub time: u64,
    pub removed: Vec<Record>,
    pub added: Vec<Record>,
}

impl Entry {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + 64 * (self.removed.len() + self.added.len()));
        out.push(VERSION);
        out.extend_from_slice(&self.serial_from.to_be_bytes());
        out.extend_from_slice(&self.serial_to.to_be_bytes());
        out.extend_from_slice(&self.time.to_be_bytes());
        out.extend_from_slice(&(self.removed.len() as u32).to_be_bytes());
        out.extend_from_slice(&(self.added.len() as u32).to_be_bytes());
        let len_at = out.len();
        out.extend_from_slice(&[0; 4]);
        for rr in &self.removed {
            rr.encode(&mut out);
        }
        let removed_len = (out.len() - HEADER) as u32;
        out[len_at..len_at + 4].copy_from_slice(&removed_len.to_be_bytes());
        for rr in &self.added {
            rr.encode(&mut out);
        }
        out
    }
}

/// A stored entry, checked to frame exactly.
#[derive(Clone, Copy, Debug)]
pub struct EntryView<'a> {
    bytes: &'a [u8],
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl<'a> EntryView<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Self, CorruptJournal> {
        if bytes.len() < HEADER {
            return Err(CorruptJournal("short header"));
        }
        if bytes[0] != VERSION {
            return Err(CorruptJournal("unknown entry version"));
        }
        let view = EntryView { bytes };
        let removed_len = be32(bytes, 25) as usize;
        if removed_len > bytes.len() - HEADER {
            return Err(CorruptJournal("removed records overrun the entry"));
        }
        let (removed, added) = (view.removed(), view.added());
        if removed.clone().count() != view.removed_count() || removed.rest() != Some(0) {
            return Err(CorruptJournal("removed records do not frame"));
        }
        if added.clone().count() != view.added_count() || added.rest() != Some(0) {
            return Err(CorruptJournal("added records do not frame"));
        }
        let soa = |mut it: Records<'a>| it.next().filter(|r| r.rtype == rtype::SOA).and_then(|r| r.soa_serial());
        if soa(view.removed()) != Some(view.serial_from()) || soa(view.added()) != Some(view.serial_to()) {
            return Err(CorruptJournal("an entry must start each list with the SOA of its serial"));
        }
        Ok(view)
    }

    pub fn serial_from(&self) -> u32 {
        be32(self.bytes, 1)
    }
    pub fn serial_to(&self) -> u32 {
        be32(self.bytes, 5)
    }
    pub fn time(&self) -> u64 {
        u64::from_be_bytes(self.bytes[9..17].try_into().expect("8 bytes"))
    }
    pub fn removed_count(&self) -> usize {
        be32(self.bytes, 17) as usize
    }
    pub fn added_count(&self) -> usize {
        be32(self.bytes, 21) as usize
    }
    /// The old SOA, then the records removed.
    pub fn removed(&self) -> Records<'a> {
        let end = HEADER + be32(self.bytes, 25) as usize;
        Records { bytes: &self.bytes[HEADER..end.min(self.bytes.len())], pos: 0 }
    }
    /// The new SOA, then the records added.
    pub fn added(&self) -> Records<'a> {
        let start = (HEADER + be32(self.bytes, 25) as usize).min(self.bytes.len());
        Records { bytes: &self.bytes[start..], pos: 0 }
    }
    pub fn len(&self) -> usize {
        self.bytes.len()
    }
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// The records of one list of an entry.
#[derive(Clone)]
pub struct Records<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Records<'_> {
    /// Bytes left once iteration stopped: `Some(0)` when every record framed.
    fn rest(mut self) -> Option<usize> {
        while self.next().is_some() {}
        Some(self.bytes.len() - self.pos)
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = RecordRef<'a>;
    fn next(&mut self) -> Option<RecordRef<'a>> {
        let b = self.bytes;
        let p = self.pos;
        let name_len = crate::zone::wire_name_len(b.get(p..)?)?;
        let fixed = b.get(p + name_len..p + name_len + 10)?;
        let rdlen = u16::from_be_bytes([fixed[8], fixed[9]]) as usize;
        let rdata_at = p + name_len + 10;
        let rdata = b.get(rdata_at..rdata_at + rdlen)?;
        self.pos = rdata_at + rdlen;
        Some(RecordRef {
            owner: &b[p..p + name_len],
            rtype: u16::from_be_bytes([fixed[0], fixed[1]]),
            class: u16::from_be_bytes([fixed[2], fixed[3]]),
            ttl: be32(fixed, 4),
            rdata,
        })
    }
}

/// Several successive differences condensed into one (RFC 1995 §4): what was there at the start
/// and is not at the end is removed, what is at the end and was not at the start is added. A
/// record whose TTL changed is removed with its old TTL and added with its new one. SOAs are not
/// in the lists; the caller has the first entry's old SOA and the last entry's new one.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Condensed<'a> {
    pub removed: Vec<RecordRef<'a>>,
    pub added: Vec<RecordRef<'a>>,
}

/// Condenses `entries`, which must be successive (each one's `serial_from` the previous one's
/// `serial_to`); the caller checks that.
pub fn condense<'a>(entries: impl IntoIterator<Item = EntryView<'a>>) -> Condensed<'a> {
    // Identity of a record: everything but the TTL. Values: TTL at the start and at the end.
    type Identity<'a> = (&'a [u8], u16, u16, &'a [u8]);
    let mut order: Vec<Identity<'a>> = Vec::new();
    let mut states: HashMap<Identity<'a>, (Option<u32>, Option<u32>)> = HashMap::new();
    for entry in entries {
        for rr in entry.removed().skip(1) {
            let id = (rr.owner, rr.rtype, rr.class, rr.rdata);
            match states.get_mut(&id) {
                Some(state) => state.1 = None,
                None => {
                    order.push(id);
                    states.insert(id, (Some(rr.ttl), None));
                }
            }
        }
        for rr in entry.added().skip(1) {
            let id = (rr.owner, rr.rtype, rr.class, rr.rdata);
            match states.get_mut(&id) {
                Some(state) => state.1 = Some(rr.ttl),
                None => {
                    order.push(id);
                    states.insert(id, (None, Some(rr.ttl)));
                }
            }
        }
    }
    let mut out = Condensed::default();
    for id @ (owner, rtype, class, rdata) in order {
        let (start, end) = states[&id];
        if start == end {
            continue;
        }
        if let Some(ttl) = start {
            out.removed.push(RecordRef { owner, rtype, class, ttl, rdata });
        }
        if let Some(ttl) = end {
            out.added.push(RecordRef { owner, rtype, class, ttl, rdata });
        }
    }
    out
}

/// RFC 1982 serial number comparison: is `a` strictly after `b`?
pub fn serial_gt(a: u32, b: u32) -> bool {
    a != b && (a.wrapping_sub(b) as i32) > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn soa(serial: u32) -> Record {
        let mut rdata = b"\x02ns\x01t\x00\x01h\x01t\x00".to_vec();
        for v in [serial, 3600, 600, 86400, 300] {
            rdata.extend_from_slice(&v.to_be_bytes());
        }
        Record { owner: b"\x01t\x00".to_vec(), rtype: rtype::SOA, class: 1, ttl: 300, rdata }
    }

    fn a(owner: &str, last: u8, ttl: u32) -> Record {
        let mut wire = vec![owner.len() as u8];
        wire.extend_from_slice(owner.as_bytes());
        wire.extend_from_slice(b"\x01t\x00");
        Record { owner: wire, rtype: rtype::A, class: 1, ttl, rdata: vec![192, 0, 2, last] }
    }

    fn entry(from: u32, to: u32, removed: Vec<Record>, added: Vec<Record>) -> Vec<u8> {
        let removed = std::iter::once(soa(from)).chain(removed).collect();
        let added = std::iter::once(soa(to)).chain(added).collect();
        Entry { serial_from: from, serial_to: to, time: 7, removed, added }.encode()
    }

    #[test]
    fn entries_round_trip() {
        let bytes = entry(1, 2, vec![a("www", 1, 300)], vec![a("www", 2, 300), a("mail", 3, 60)]);
        let view = EntryView::parse(&bytes).unwrap();
        assert_eq!((view.serial_from(), view.serial_to(), view.time()), (1, 2, 7));
        assert_eq!((view.removed_count(), view.added_count()), (2, 3));
        let added: Vec<Record> = view.added().map(|r| r.to_owned()).collect();
        assert_eq!(added, vec![soa(2), a("www", 2, 300), a("mail", 3, 60)]);
        assert_eq!(view.removed().nth(1).unwrap().to_owned(), a("www", 1, 300));
    }

    #[test]
    fn corrupt_entries_are_errors() {
        let bytes = entry(1, 2, vec![a("www", 1, 300)], vec![a("www", 2, 300)]);
        for cut in 0..bytes.len() {
            assert!(EntryView::parse(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut wrong_serial = bytes.clone();
        wrong_serial[4] ^= 1;
        assert!(EntryView::parse(&wrong_serial).is_err());
        for at in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[at] ^= 0xff;
            if let Ok(view) = EntryView::parse(&bad) {
                let _ = condense([view]);
            }
        }
    }

    #[test]
    fn condensing_keeps_only_the_net_difference() {
        let e1 = entry(1, 2, vec![a("www", 1, 300)], vec![a("www", 2, 300), a("tmp", 9, 60)]);
        let e2 = entry(2, 3, vec![a("tmp", 9, 60)], vec![a("mail", 3, 60)]);
        // A TTL change is a removal with the old TTL and an addition with the new one.
        let e3 = entry(3, 4, vec![a("mail", 3, 60)], vec![a("mail", 3, 120)]);
        // Removed and put back: no net change.
        let e4 = entry(4, 5, vec![a("www", 2, 300)], vec![a("www", 2, 300)]);
        let views: Vec<EntryView<'_>> = [&e1, &e2, &e3, &e4].iter().map(|b| EntryView::parse(b).unwrap()).collect();
        let c = condense(views.iter().copied());
        let removed: Vec<Record> = c.removed.iter().map(|r| r.to_owned()).collect();
        let added: Vec<Record> = c.added.iter().map(|r| r.to_owned()).collect();
        assert_eq!(removed, vec![a("www", 1, 300)]);
        assert_eq!(added, vec![a("www", 2, 300), a("mail", 3, 120)]);
        // One entry condenses to itself.
        let single = condense([views[0]]);
        assert_eq!(single.removed.len(), 1);
        assert_eq!(single.added.len(), 2);
    }

    #[test]
    fn keys_group_one_zone_and_serials_compare_as_rfc_1982() {
        let apex = b"\0test\0";
        let sub = b"\0test\0sub\0";
        assert!(key(apex, 3).starts_with(&zone_prefix(apex)));
        assert!(!key(sub, 3).starts_with(&zone_prefix(apex)), "a zone below is not in the prefix");
        assert!(key(apex, 2) < key(apex, 10));
        assert_eq!(seq_of(&key(apex, 42)), Some(42));
        assert!(serial_gt(2, 1) && !serial_gt(1, 2) && !serial_gt(5, 5));
        assert!(serial_gt(0, u32::MAX), "wraps");
        assert!(serial_gt(1 << 30, 0) && !serial_gt(0, 1 << 30));
        assert!(!serial_gt(1 << 31, 0) && !serial_gt(0, 1 << 31), "undefined at exactly 2^31: neither is after");
    }
}
