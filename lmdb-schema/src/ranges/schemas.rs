//! Per-worker copies of a table's schema records, so a lookup of a keyed record costs two
//! B-tree searches (range, record) instead of three (range, record, schema).
//!
//! Why: a table has a handful of key lists (GeoLite2-City: a few dozen) shared by all its
//! records, yet every uncached lookup searched `range_tables` for its schema again — a third
//! walk down a ~60 MB B-tree, mostly cold under uniform traffic.

use heed::RoTxn;

use super::RangeTable;
use crate::store::StoreError;

/// Schema ids at or above this are looked up in LMDB every time (no table written by the
/// loader has that many key lists; the bound keeps the cache small whatever a table holds).
const CACHED_IDS: usize = 1024;

/// Schema records of one [`RangeTable`] copied out of the snapshot they were read in. Owned by
/// one worker (no lock); a copy is only used with a read transaction of the same snapshot id,
/// so any commit retires them lazily, as [`super::RangeCache`] does its entries. Use one per
/// table. Buffers are reused across snapshots: after warm-up a lookup allocates nothing.
#[derive(Default)]
pub struct SchemaCache {
    /// Per schema id: the snapshot its copy was read in (`None`: empty) and the copy.
    slots: Vec<(Option<usize>, Vec<u8>)>,
}

impl SchemaCache {
    pub fn new() -> SchemaCache {
        SchemaCache::default()
    }

    /// Makes sure schema record `id` is copied for `txn`'s snapshot (ids past the cached ones
    /// are left to [`SchemaCache::get`]'s LMDB search).
    #[inline]
    pub(super) fn ensure(&mut self, table: &RangeTable, txn: &RoTxn, id: u32) -> Result<(), StoreError> {
        let i = id as usize;
        if i >= CACHED_IDS {
            return Ok(());
        }
        if self.slots.len() <= i {
            self.slots.resize_with(i + 1, || (None, Vec::new()));
        }
        let snapshot = txn.id();
        let slot = &mut self.slots[i];
        if slot.0 != Some(snapshot) {
            let schema = table.schema_by_id(txn, id)?;
            slot.1.clear();
            slot.1.extend_from_slice(schema);
            slot.0 = Some(snapshot);
        }
        Ok(())
    }

    /// Schema record `id`: the copy made for `txn`'s snapshot, or else from LMDB.
    #[inline]
    pub(super) fn get<'a>(&'a self, table: &RangeTable, txn: &'a RoTxn, id: u32) -> Result<&'a [u8], StoreError> {
        match self.slots.get(id as usize) {
            Some((Some(snapshot), copy)) if *snapshot == txn.id() => Ok(copy),
            _ => table.schema_by_id(txn, id),
        }
    }
}
