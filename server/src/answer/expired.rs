//! Secondary zones past their SOA EXPIRE without a successful refresh (RFC 1034 §4.3.5) are
//! answered SERVFAIL, as BIND and Knot answer them, until a transfer brings them back. The
//! writer keeps their apexes in one `meta` record (`lmdb_schema::secondary`); a worker reads it
//! once per database snapshot into a buffer it reuses, so while no zone is expired a query pays
//! one compare of the snapshot id, and never allocates.

use heed::RoTxn;
use lmdb_schema::{meta_keys, secondary, Store};

/// The expired-zone list as of one snapshot.
pub struct ExpiredZones {
    snapshot: usize,
    list: Vec<u8>,
}

impl Default for ExpiredZones {
    fn default() -> Self {
        ExpiredZones { snapshot: usize::MAX, list: Vec::new() }
    }
}

impl ExpiredZones {
    /// True if the zone with apex key `apex` is expired in the snapshot `txn` reads.
    #[inline]
    pub fn contains(&mut self, store: &Store, txn: &RoTxn, apex: &[u8]) -> bool {
        let snapshot = txn.id();
        if snapshot != self.snapshot {
            self.list.clear();
            if let Ok(Some(bytes)) = store.meta.get(txn, meta_keys::EXPIRED_ZONES) {
                self.list.extend_from_slice(bytes);
            }
            self.snapshot = snapshot;
        }
        !self.list.is_empty() && secondary::is_expired(&self.list, apex)
    }
}
