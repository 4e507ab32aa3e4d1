//! Every zone change goes through [`ZoneWriter`], inside the caller's write transaction: a whole
//! zone replaced by an import, deleted, or edited record by record, policies and settings. The
//! writer also writes, in the same transaction, each changed zone's IXFR journal entry, the
//! change log and the catalog member list (see `writer`).
//!
//! * [`build`]: a zone's records → name-tree sections with the flags the server needs.
//! * [`incremental`]: record edits that touch only the names they change.
//! * [`replace`]: whole zones replaced or deleted.
//! * [`diff`]: the net difference a commit makes to a zone (the journal entry).
//! * [`history`]: journal, change log and catalog bookkeeping.
//! * [`geo`]: variant conditions, policies and the geo side file.
//! * [`standalone`]: the checks of a whole-zone write that need no database (`zone check`).

pub mod build;
pub mod diff;
pub mod geo;
pub mod history;
mod incremental;
mod replace;
pub mod signed;
pub mod standalone;
pub mod writer;

use std::collections::BTreeMap;

use heed::RwTxn;
use lmdb_schema::name;
use lmdb_schema::node::{NodeView, Section};
use lmdb_schema::zone::{GeoPolicy, ZoneMeta};
use lmdb_schema::{Store, StoreError};

pub use build::{bump_serial, BuildError, Rr, ZoneTree};
pub use history::JournalLimits;
pub use writer::{ImportSerial, ZoneSummary, ZoneWriter};

#[derive(Debug, thiserror::Error)]
pub enum ZoneError {
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no zone {0} in the database")]
    NoSuchZone(String),
    #[error("no zone in the database contains {0}")]
    NoZoneFor(String),
    /// A change the rules refuse (a serial that would not advance, a member ID collision).
    #[error("{0}")]
    Refused(String),
    #[error("corrupt database: {0}")]
    Corrupt(String),
}

fn lmdb(store: &Store) -> impl Fn(heed::Error) -> ZoneError + '_ {
    move |e| ZoneError::Store(store.error(e))
}

/// Reads the zone with apex key `apex_key` back into a tree (None if it is not loaded).
pub fn load_zone(store: &Store, txn: &heed::RoTxn, apex_key: &[u8]) -> Result<Option<(ZoneTree, ZoneMeta)>, ZoneError> {
    let Some(meta) = store.zones.get(txn, apex_key).map_err(lmdb(store))? else { return Ok(None) };
    let meta = ZoneMeta::decode(meta).map_err(|e| ZoneError::Corrupt(format!("zone metadata of {}: {e}", name::key_to_text(apex_key))))?;
    let depth = name::label_count(apex_key) as u8;
    let mut tree = ZoneTree { apex_key: apex_key.to_vec(), depth, names: BTreeMap::new() };
    for item in store.names.prefix_iter(txn, apex_key).map_err(lmdb(store))? {
        let (key, value) = item.map_err(lmdb(store))?;
        let node = NodeView::parse_strict(value).map_err(|e| ZoneError::Corrupt(format!("{}: {e}", name::key_to_text(key))))?;
        if let Some(section) = node.section(depth) {
            tree.names.insert(key.to_vec(), Section::from_view(&section));
        }
    }
    Ok(Some((tree, meta)))
}

/// Replaces (or creates) one zone in its own writer and finishes it: what `zone import` does
/// for one file, the file's serial required to advance. `policy`: None keeps the stored one.
pub fn replace_zone(store: &Store, txn: &mut RwTxn<'_>, tree: ZoneTree, policy: Option<GeoPolicy>) -> Result<ZoneMeta, ZoneError> {
    let apex = tree.apex_key.clone();
    let mut writer = ZoneWriter::new(store, txn);
    writer.replace_zone(tree, policy.map(Some), ImportSerial::MustAdvance)?;
    writer.finish(true)?;
    stored_meta(store, txn, &apex)
}

/// Deletes one zone in its own writer and finishes it.
pub fn delete_zone(store: &Store, txn: &mut RwTxn<'_>, apex_key: &[u8]) -> Result<(), ZoneError> {
    let mut writer = ZoneWriter::new(store, txn);
    writer.delete_zone(apex_key)?;
    writer.finish(true)?;
    Ok(())
}

fn stored_meta(store: &Store, txn: &heed::RoTxn, apex: &[u8]) -> Result<ZoneMeta, ZoneError> {
    let bytes = store.zones.get(txn, apex).map_err(lmdb(store))?.ok_or_else(|| ZoneError::NoSuchZone(name::key_to_text(apex)))?;
    ZoneMeta::decode(bytes).map_err(|e| ZoneError::Corrupt(format!("zone metadata of {}: {e}", name::key_to_text(apex))))
}

/// The zone that holds `owner`: the longest apex that is an ancestor-or-self.
pub fn zone_for(store: &Store, txn: &heed::RoTxn, owner_key: &[u8]) -> Result<Option<Vec<u8>>, ZoneError> {
    let mut key = Some(owner_key);
    while let Some(k) = key {
        if store.zones.get(txn, k).map_err(lmdb(store))?.is_some() {
            return Ok(Some(k.to_vec()));
        }
        key = name::parent(k);
    }
    Ok(None)
}

/// Every zone's metadata, in canonical order of apex names.
pub fn list_zones(store: &Store, txn: &heed::RoTxn) -> Result<Vec<ZoneMeta>, ZoneError> {
    Ok(list_zones_with_keys(store, txn)?.into_iter().map(|(_, meta)| meta).collect())
}

/// Every zone's apex key and metadata, in canonical order.
pub fn list_zones_with_keys(store: &Store, txn: &heed::RoTxn) -> Result<Vec<(Vec<u8>, ZoneMeta)>, ZoneError> {
    let mut zones = Vec::new();
    for item in store.zones.iter(txn).map_err(lmdb(store))? {
        let (key, value) = item.map_err(lmdb(store))?;
        let meta = ZoneMeta::decode(value).map_err(|e| ZoneError::Corrupt(format!("zone metadata of {}: {e}", name::key_to_text(key))))?;
        zones.push((key.to_vec(), meta));
    }
    Ok(zones)
}
