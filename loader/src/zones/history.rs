//! The records a commit leaves besides the zones themselves, all in the same transaction: the
//! zone's IXFR journal entry, the change log entry, and the catalog member list with its log.
//! Each is bounded; the commit that makes an entry too old deletes it.

use heed::RwTxn;
use lmdb_schema::catalog::{self, Member, MemberChange};
use lmdb_schema::journal::{self, Entry};
use lmdb_schema::zone::JournalState;
use lmdb_schema::{changes, meta_keys, name, Store};

use super::{lmdb, ZoneError};

/// The journal bounds of the database (`db journal` sets them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JournalLimits {
    pub max_changes: u64,
    pub max_bytes: u64,
}

impl JournalLimits {
    pub fn read(store: &Store, txn: &heed::RoTxn) -> Result<Self, ZoneError> {
        Ok(JournalLimits {
            max_changes: store.meta_u64(txn, meta_keys::JOURNAL_MAX_CHANGES, journal::DEFAULT_MAX_CHANGES)?,
            max_bytes: store.meta_u64(txn, meta_keys::JOURNAL_MAX_BYTES, journal::DEFAULT_MAX_BYTES)?,
        })
    }

    pub fn write(&self, store: &Store, txn: &mut RwTxn) -> Result<(), ZoneError> {
        store.put_meta_u64(txn, meta_keys::JOURNAL_MAX_CHANGES, self.max_changes)?;
        store.put_meta_u64(txn, meta_keys::JOURNAL_MAX_BYTES, self.max_bytes)?;
        Ok(())
    }
}

/// Appends `entry` to the journal of the zone at `apex_key`, then drops the oldest entries
/// until the zone is within `limits` (an entry bigger than the byte bound is dropped too: a
/// secondary that needs it gets a full transfer instead).
pub fn append_journal(
    store: &Store,
    txn: &mut RwTxn,
    apex_key: &[u8],
    state: &mut JournalState,
    entry: &Entry,
    limits: JournalLimits,
) -> Result<(), ZoneError> {
    let value = entry.encode();
    store.journal.put(txn, &journal::key(apex_key, state.next), &value).map_err(lmdb(store))?;
    state.next += 1;
    state.bytes += value.len() as u64;
    while state.entries() > 0 && (state.entries() > limits.max_changes || state.bytes > limits.max_bytes) {
        let key = journal::key(apex_key, state.first);
        let len = store.journal.get(txn, &key).map_err(lmdb(store))?.map_or(0, |v| v.len() as u64);
        store.journal.delete(txn, &key).map_err(lmdb(store))?;
        state.first += 1;
        state.bytes = state.bytes.saturating_sub(len);
    }
    Ok(())
}

/// Deletes a zone's whole journal.
pub fn delete_journal(store: &Store, txn: &mut RwTxn, apex_key: &[u8], state: &JournalState) -> Result<(), ZoneError> {
    for seq in state.first..state.next {
        store.journal.delete(txn, &journal::key(apex_key, seq)).map_err(lmdb(store))?;
    }
    Ok(())
}

/// Writes the change log entry of the commit with counter `counter` and drops the one that
/// falls out of the window.
pub fn log_changes(store: &Store, txn: &mut RwTxn, counter: u64, value: &[u8]) -> Result<(), ZoneError> {
    store.changes.put(txn, &changes::key(counter), value).map_err(lmdb(store))?;
    if let Some(old) = counter.checked_sub(changes::KEEP) {
        store.changes.delete(txn, &changes::key(old)).map_err(lmdb(store))?;
    }
    Ok(())
}

/// The catalog member of a zone as it should be listed (None: not listed).
pub fn member_of(apex_key: &[u8], group: Option<&str>) -> Member {
    Member { zone: name::key_to_text(apex_key), group: group.map(str::to_string) }
}

/// Applies member changes (each `(apex, before, after)`), bumps the zone-set version once and
/// logs them under it. Refuses two zones whose member IDs collide.
pub fn update_catalog(store: &Store, txn: &mut RwTxn, members: &[(Vec<u8>, Option<Member>, Option<Member>)]) -> Result<(), ZoneError> {
    let mut log = Vec::new();
    for (apex, before, after) in members {
        if before == after {
            continue;
        }
        let id = catalog::member_id(apex);
        match after {
            Some(member) => {
                if let Some(existing) = store.catalog_members.get(txn, &id).map_err(lmdb(store))? {
                    let existing = Member::decode(existing).map_err(|e| ZoneError::Corrupt(format!("catalog member: {e}")))?;
                    if existing.zone != member.zone {
                        return Err(ZoneError::Refused(format!(
                            "zones {} and {} have the same catalog member ID {}; rename one",
                            existing.zone,
                            member.zone,
                            catalog::member_label(&id)
                        )));
                    }
                }
                store.catalog_members.put(txn, &id, &member.encode()).map_err(lmdb(store))?
            }
            None => {
                store.catalog_members.delete(txn, &id).map_err(lmdb(store))?;
            }
        }
        log.push(MemberChange { id: catalog::member_label(&id), removed: before.clone(), added: after.clone() });
    }
    if log.is_empty() {
        return Ok(());
    }
    let version = store.meta_u64(txn, meta_keys::ZONE_SET_VERSION, 0)? + 1;
    store.put_meta_u64(txn, meta_keys::ZONE_SET_VERSION, version)?;
    let value = serde_json::to_vec(&log).expect("member changes serialize");
    store.catalog_log.put(txn, &version.to_be_bytes(), &value).map_err(lmdb(store))?;
    if let Some(old) = version.checked_sub(catalog::KEEP) {
        store.catalog_log.delete(txn, &old.to_be_bytes()).map_err(lmdb(store))?;
    }
    Ok(())
}
