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
use lmdb_schema::ranges::{rebuild_into, record_schema, split_object};

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
        let mut h = self.hasher.hash_one(s);
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
    schema: Vec<u8>,
    values: Vec<u8>,
    record: Vec<u8>,
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

    /// Record `id` as stored.
    pub fn get(&self, id: u32) -> &[u8] {
        self.records.get(id)
    }

    /// The object text of record `id` (`{"k":v,…}`) into `out`.
    pub fn object_into(&self, id: u32, out: &mut Vec<u8>) {
        let record = self.get(id);
        let rebuilt = record_schema(record).and_then(|(schema, _)| rebuild_into(record, self.schema(schema), out));
        if rebuilt.is_none() {
            // Not keyed: stored as the object itself.
            out.clear();
            out.extend_from_slice(record);
        }
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
        // Many strings: ids stay dense and lookups exact.
        let mut i = Interner::default();
        for n in 0..10_000u32 {
            assert_eq!(i.intern(n.to_string().as_bytes()).unwrap(), (n, true));
        }
        assert_eq!(i.intern(b"9999").unwrap(), (9999, false));
        assert_eq!(i.get(1234), b"1234");
    }
}
