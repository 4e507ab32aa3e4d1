//! Interning for imports: distinct byte strings stored back to back in one buffer, found by
//! hash — no allocation per string and no second copy as a map key.
//!
//! Why: a GeoLite2-City import interns 458k metadata objects out of 3.4M rows. A map of
//! `Rc<[u8]>` keys kept every object twice-referenced in its own allocation (~200 MB of JSON at
//! peak) and SipHash-ed ~430 bytes per row. Here objects are kept in the stored (keyed) form
//! (~130 bytes: values after a schema id, the keys once per schema) and hashed with foldhash.

use std::collections::HashMap;
use std::hash::BuildHasher;

use anyhow::{anyhow, Result};
use lmdb_schema::ranges::{part_id, rebuild_merged, record_schema, split_object, Pairs};

/// Distinct byte strings with dense ids in insertion order.
#[derive(Default)]
pub struct Interner {
    bytes: Vec<u8>,
    /// End offset of string `id` in `bytes`.
    ends: Vec<u64>,
    /// Hash → id, linear probing on the hash value itself when two strings' hashes meet.
    index: HashMap<u64, u32, foldhash::fast::FixedState>,
    hasher: foldhash::fast::FixedState,
}

impl Interner {
    /// The id of `s`, and whether it was new.
    #[inline]
    pub fn intern(&mut self, s: &[u8]) -> Result<(u32, bool)> {
        self.intern_hashed(s, self.hasher.hash_one(s))
    }

    /// The hasher [`Interner::intern_hashed`] expects hashes from (`hash_one` of the bytes).
    pub fn hasher(&self) -> foldhash::fast::FixedState {
        self.hasher.clone()
    }

    /// [`Interner::intern`] of `s` whose hash `h` was computed already (on another thread).
    #[inline]
    pub fn intern_hashed(&mut self, s: &[u8], mut h: u64) -> Result<(u32, bool)> {
        debug_assert_eq!(h, self.hasher.hash_one(s));
        while let Some(&id) = self.index.get(&h) {
            if self.get(id) == s {
                return Ok((id, false));
            }
            h = h.wrapping_add(1);
        }
        let id = u32::try_from(self.ends.len()).map_err(|_| anyhow!("more than 4 billion distinct metadata objects"))?;
        self.bytes.extend_from_slice(s);
        self.ends.push(self.bytes.len() as u64);
        self.index.insert(h, id);
        Ok((id, true))
    }

    #[inline]
    pub fn get(&self, id: u32) -> &[u8] {
        let i = id as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.bytes[start..self.ends[i] as usize]
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
}

/// Interned metadata objects, each in its stored form (see `lmdb_schema::ranges`): a keyed
/// record `[<schema id>,values…]` with its key list in [`MetaArena::schema`], or `{}`.
#[derive(Default)]
pub struct MetaArena {
    records: Interner,
    schemas: Interner,
    /// Parts shared by records (GeoLite2 locations: 120k of them under 458k records).
    parts: Interner,
    schema: Vec<u8>,
    values: Vec<u8>,
    record: Vec<u8>,
    part: Vec<u8>,
    check: Vec<u8>,
    /// Location id → its part (id, schema id), or `None` if it could not be keyed.
    part_of_location: HashMap<u64, Option<(u32, u32)>, foldhash::fast::FixedState>,
    /// (record schema, part schema) → whether merging them gives the objects' key order.
    merges: HashMap<(u32, u32), bool, foldhash::fast::FixedState>,
}

impl MetaArena {
    /// Interns a compact JSON object (keys sorted, as the input readers build them).
    pub fn intern(&mut self, meta: &[u8]) -> Result<u32> {
        if meta == b"{}" || split_object(meta, 0, &mut self.schema, &mut self.values).is_none() {
            // Nothing to share (or not an object, which the readers never build): as is.
            return Ok(self.records.intern(meta)?.0);
        }
        let (schema_id, _) = self.schemas.intern(&self.schema)?;
        // `values` is `[0,…]`: the schema id replaces the 0.
        self.record.clear();
        self.record.push(b'[');
        self.record.extend_from_slice(schema_id.to_string().as_bytes());
        self.record.extend_from_slice(&self.values[2..]);
        Ok(self.records.intern(&self.record)?.0)
    }

    /// Interns object `full` (as [`MetaArena::intern`]) split in two: the members of `own` in
    /// the record, with a reference to the members of `part`, stored once however many records
    /// share it. `own` and `part` are compact objects, keys sorted, whose members together are
    /// exactly `full`'s; `part` is a function of `location` (its id), so it is keyed once per
    /// location. Falls back to [`MetaArena::intern`] when the split would not rebuild `full`
    /// byte for byte (or there is no part).
    pub fn intern_with_part(&mut self, full: &[u8], own: &[u8], part: &[u8], location: Option<u64>) -> Result<u32> {
        let Some(location) = location.filter(|_| part != b"{}") else { return self.intern(full) };
        let known = self.part_of_location.get(&location).copied();
        let keyed = match known {
            Some(keyed) => keyed,
            None => {
                let keyed = match split_object(part, 0, &mut self.schema, &mut self.values) {
                    None => None,
                    Some(()) => {
                        let (part_schema, _) = self.schemas.intern(&self.schema)?;
                        self.part.clear();
                        self.part.push(b'[');
                        self.part.extend_from_slice(part_schema.to_string().as_bytes());
                        self.part.extend_from_slice(&self.values[2..]);
                        Some((self.parts.intern(&self.part)?.0, part_schema))
                    }
                };
                self.part_of_location.insert(location, keyed);
                keyed
            }
        };
        let Some((part_id, part_schema)) = keyed else { return self.intern(full) };
        if split_object(own, 0, &mut self.schema, &mut self.values).is_none() {
            return self.intern(full);
        }
        // The schema marks the part: `[null,"k1",…]`, the record `[<schema id>,<part id>,v1,…]`.
        let marker: &[u8] = if self.schema.len() > 2 { b"null," } else { b"null" };
        self.schema.splice(1..1, marker.iter().copied());
        let (schema_id, _) = self.schemas.intern(&self.schema)?;
        self.record.clear();
        self.record.push(b'[');
        self.record.extend_from_slice(schema_id.to_string().as_bytes());
        self.record.push(b',');
        self.record.extend_from_slice(part_id.to_string().as_bytes());
        self.record.extend_from_slice(&self.values[2..]);
        // The merged order depends on the two key lists only (values are copied as they are):
        // checked on the first object of each pair.
        let merges = match self.merges.get(&(schema_id, part_schema)) {
            Some(&merges) => merges,
            None => {
                let parts = Some(Pairs::new(self.parts.get(part_id), Some(self.schemas.get(part_schema))));
                let rebuilt = rebuild_merged(Pairs::new(&self.record, Some(self.schemas.get(schema_id))), parts, &mut self.check);
                let merges = rebuilt.is_some() && self.check == full;
                self.merges.insert((schema_id, part_schema), merges);
                merges
            }
        };
        if !merges {
            // Keys whose escaped order differs from their order: keep the object whole.
            return self.intern(full);
        }
        Ok(self.records.intern(&self.record)?.0)
    }

    /// Record `id` as stored.
    pub fn get(&self, id: u32) -> &[u8] {
        self.records.get(id)
    }

    /// The object text of record `id` (`{"k":v,…}`) into `out`.
    pub fn object_into(&self, id: u32, out: &mut Vec<u8>) {
        let record = self.get(id);
        let rebuilt = record_schema(record).and_then(|(schema, _)| {
            let schema = self.schema(schema);
            let part = part_id(record, schema).map(|p| {
                let part = self.part(p);
                Pairs::new(part, record_schema(part).map(|(s, _)| self.schema(s)))
            });
            rebuild_merged(Pairs::new(record, Some(schema)), part, out)
        });
        if rebuilt.is_none() {
            // Not keyed: stored as the object itself.
            out.clear();
            out.extend_from_slice(record);
        }
    }

    /// Part record `id` (a keyed record).
    pub fn part(&self, id: u32) -> &[u8] {
        self.parts.get(id)
    }

    pub fn part_count(&self) -> usize {
        self.parts.len()
    }

    /// Schema record `id` (`["k1",…]`).
    pub fn schema(&self, id: u32) -> &[u8] {
        self.schemas.get(id)
    }

    pub fn schema_count(&self) -> usize {
        self.schemas.len()
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interns_once_in_stored_form() {
        let mut a = MetaArena::default();
        let x = a.intern(br#"{"asn":1,"cc":"NL"}"#).unwrap();
        let y = a.intern(br#"{"asn":2,"cc":"DE"}"#).unwrap();
        assert_eq!((x, y, a.intern(br#"{"asn":1,"cc":"NL"}"#).unwrap()), (0, 1, 0));
        let z = a.intern(br#"{"pop":"ams"}"#).unwrap();
        let e = a.intern(b"{}").unwrap();
        assert_eq!((a.len(), a.schema_count()), (4, 2));
        assert_eq!(a.get(y), br#"[0,2,"DE"]"#);
        assert_eq!(a.get(z), br#"[1,"ams"]"#);
        assert_eq!(a.get(e), b"{}");
        assert_eq!(a.schema(0), br#"["asn","cc"]"#);
        // Split records share their part; the object rebuilds whole.
        let full = br#"{"asn":1,"cc":"NL","city":"Ams","lat":5}"#;
        let p = a.intern_with_part(full, br#"{"asn":1,"lat":5}"#, br#"{"cc":"NL","city":"Ams"}"#, Some(7)).unwrap();
        let q = a
            .intern_with_part(
                br#"{"asn":2,"cc":"NL","city":"Ams","lat":6}"#,
                br#"{"asn":2,"lat":6}"#,
                br#"{"cc":"NL","city":"Ams"}"#,
                Some(7),
            )
            .unwrap();
        assert_eq!((a.part_count(), a.part(0)), (1, &br#"[2,"NL","Ams"]"#[..]));
        assert_eq!((a.get(p), a.get(q), a.schema(3)), (&br#"[3,0,1,5]"#[..], &br#"[3,0,2,6]"#[..], &br#"[null,"asn","lat"]"#[..]));
        let mut out = Vec::new();
        a.object_into(p, &mut out);
        assert_eq!(out, full);
        // Nothing of its own, or no part: still whole.
        let r = a.intern_with_part(br#"{"cc":"NL","city":"Ams"}"#, b"{}", br#"{"cc":"NL","city":"Ams"}"#, Some(7)).unwrap();
        assert_eq!((a.get(r), a.schema(4)), (&br#"[4,0]"#[..], &br#"[null]"#[..]));
        a.object_into(r, &mut out);
        assert_eq!(out, br#"{"cc":"NL","city":"Ams"}"#);
        assert_eq!(a.intern_with_part(br#"{"asn":1,"cc":"NL"}"#, br#"{"asn":1,"cc":"NL"}"#, b"{}", Some(8)).unwrap(), x);
        // A split that would not rebuild the object (members out of order) keeps it whole.
        let w = a.intern_with_part(br#"{"b":1,"a":2}"#, br#"{"b":1}"#, br#"{"a":2}"#, Some(9)).unwrap();
        a.object_into(w, &mut out);
        assert_eq!(out, br#"{"b":1,"a":2}"#);
        // Many strings: ids stay dense and lookups exact.
        let mut i = Interner::default();
        for n in 0..10_000u32 {
            assert_eq!(i.intern(n.to_string().as_bytes()).unwrap(), (n, true));
        }
        assert_eq!(i.intern(b"9999").unwrap(), (9999, false));
        assert_eq!(i.get(1234), b"1234");
    }
}
