//! What real-world zone files carry that a zone does not: duplicate records (RFC 2181 §5: two
//! identical records are one, names compared without regard to case), the closing SOA of an
//! AXFR dump, and data outside the zone. Run between parsing and [`super::validate_zone`].

use std::collections::hash_map::{Entry, HashMap};
use std::hash::BuildHasher;

use lmdb_schema::name::wire_to_text;

use super::types::{self, type_name};
use super::{ParseError, Record, ZoneFile};

fn err(rec: &Record, message: String) -> ParseError {
    ParseError { file: rec.file.to_path_buf(), line: rec.line, message }
}

/// Drops duplicates and a closing SOA equal to the first; drops out-of-zone records with a
/// warning (in `zone.warnings`) unless `strict`, where they are left for [`super::validate_zone`]
/// to refuse. A closing SOA that differs from the first is an error.
///
/// Runs on every import, so it allocates nothing per record: identities are built in one
/// scratch buffer and only their 64-bit hashes are kept; a hash seen before is confirmed by
/// comparing the identities in full. On error the records are left as they were.
pub fn tidy_zone(zone: &mut ZoneFile, strict: bool) -> Result<(), ParseError> {
    let origin_text = wire_to_text(&zone.origin);
    let records = &zone.records;
    let last = records.len().saturating_sub(1);
    let hasher = foldhash::fast::FixedState::with_seed(0x006c_6d64_6e73);
    // Hash of a kept record's identity → its index; more than one only on a hash collision,
    // which `collisions` holds.
    let mut seen: HashMap<u64, u32, NoHash> = HashMap::with_hasher(NoHash);
    let mut collisions: HashMap<u64, Vec<u32>, NoHash> = HashMap::with_hasher(NoHash);
    let mut keep = vec![true; records.len()];
    let (mut id, mut other) = (Vec::with_capacity(512), Vec::with_capacity(512));
    let mut first_soa = false;
    for (i, rec) in records.iter().enumerate() {
        if !in_zone(&rec.owner, &zone.origin) {
            // Strict, or no valid name: validate_zone refuses it, with its reason.
            if !strict && lmdb_schema::name::key_from_wire(&rec.owner).is_ok() {
                zone.warnings.push(format!(
                    "{}:{}: {} {} is outside the zone {origin_text}; ignored",
                    rec.file.display(),
                    rec.line,
                    wire_to_text(&rec.owner),
                    type_name(rec.rtype)
                ));
                keep[i] = false;
            }
            continue;
        }
        // Records without names in their RDATA are compared byte for byte, owner without case,
        // when the zone is built (`ZoneTree::insert`); only the others need a look here.
        if !has_names(rec.rtype) {
            continue;
        }
        identity(rec, &mut id);
        let hash = hasher.hash_one(&id[..]);
        let duplicate = match seen.get(&hash) {
            None => false,
            Some(&at) => {
                let mut same = |at: u32| {
                    identity(&records[at as usize], &mut other);
                    other == id
                };
                same(at) || collisions.get(&hash).is_some_and(|more| more.iter().any(|&at| same(at)))
            }
        };
        if rec.rtype == types::SOA && rec.owner.len() == zone.origin.len() {
            // An AXFR dump ends with the SOA again (RFC 5936 §2.2).
            if first_soa && i == last && !duplicate {
                return Err(err(rec, "the closing SOA (as in an AXFR dump) differs from the zone's first SOA".into()));
            }
            first_soa = true;
        }
        if duplicate {
            keep[i] = false;
            continue;
        }
        match seen.entry(hash) {
            Entry::Vacant(slot) => {
                slot.insert(i as u32);
            }
            Entry::Occupied(_) => collisions.entry(hash).or_default().push(i as u32),
        }
    }
    // Moves nothing before the first record dropped.
    let mut keep = keep.into_iter();
    zone.records.retain(|_| keep.next().unwrap_or(true));
    Ok(())
}

/// `owner` is `origin` or below it (case-insensitive), walking labels without allocating.
fn in_zone(owner: &[u8], origin: &[u8]) -> bool {
    let Some(start) = owner.len().checked_sub(origin.len()) else { return false };
    let mut pos = 0;
    while pos < start {
        match owner.get(pos) {
            Some(&len) if len > 0 && len < 64 => pos += 1 + len as usize,
            _ => return false,
        }
    }
    pos == start && owner[start..].eq_ignore_ascii_case(origin)
}

/// A hasher for keys that are hashes already.
#[derive(Clone, Copy, Default)]
struct NoHash;

impl std::hash::BuildHasher for NoHash {
    type Hasher = NoHashHasher;
    fn build_hasher(&self) -> NoHashHasher {
        NoHashHasher(0)
    }
}

struct NoHashHasher(u64);

impl std::hash::Hasher for NoHashHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ b as u64;
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// Into `id`: owner (lower case), type and RDATA with its embedded names in lower case; equal
/// for records RFC 2181 §5 counts as one. (A length octet is never an upper-case letter, so
/// lower-casing a whole wire name changes only its letters.)
fn identity(rec: &Record, id: &mut Vec<u8>) {
    id.clear();
    id.extend_from_slice(&rec.owner);
    id.make_ascii_lowercase();
    id.extend_from_slice(&rec.rtype.to_be_bytes());
    let at = id.len();
    id.extend_from_slice(&rec.rdata);
    lowercase_names(rec.rtype, &mut id[at..]);
}

/// Whether RDATA of `rtype` holds domain names that [`lowercase_names`] folds.
fn has_names(rtype: u16) -> bool {
    lowercase_names(rtype, &mut [])
}

/// Lower-cases the domain names in RDATA of `rtype` in place: the types of RFC 4034 §6.2 but
/// A6, and NSAP-PTR, TALINK, LP, DSYNC, SVCB/HTTPS; false for the types without names. Stops
/// quietly at anything malformed (such RDATA was refused by the parser).
pub(crate) fn lowercase_names(rtype: u16, rdata: &mut [u8]) -> bool {
    let name_at = |rdata: &mut [u8], at: usize| lower_name(rdata, at);
    match rtype {
        types::NS | 3 | 4 | types::CNAME | 7 | 8 | 9 | types::PTR | 23 | types::DNAME | types::NSEC | 30 => {
            name_at(rdata, 0);
        }
        types::SOA | 14 | 17 | 58 => {
            if let Some(end) = name_at(rdata, 0) {
                name_at(rdata, end);
            }
        }
        types::MX | 18 | 21 | 36 | 107 | types::SVCB | types::HTTPS => {
            name_at(rdata, 2);
        }
        26 => {
            if let Some(end) = name_at(rdata, 2) {
                name_at(rdata, end);
            }
        }
        types::SRV => {
            name_at(rdata, 6);
        }
        66 => {
            name_at(rdata, 5);
        }
        types::RRSIG | 24 => {
            name_at(rdata, 18);
        }
        types::NAPTR => {
            let mut at = 4;
            for _ in 0..3 {
                match rdata.get(at) {
                    Some(&len) => at += 1 + len as usize,
                    None => return true,
                }
            }
            name_at(rdata, at);
        }
        _ => return false,
    }
    true
}

/// Lower-cases the uncompressed wire name at `rdata[at..]`; its end, or None if malformed.
fn lower_name(rdata: &mut [u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *rdata.get(at)? as usize;
        if len == 0 {
            return Some(at + 1);
        }
        if len > 63 {
            return None;
        }
        let label = rdata.get_mut(at + 1..at + 1 + len)?;
        label.make_ascii_lowercase();
        at += 1 + len;
    }
}
