//! Opening the LMDB environment: database names, map size, schema version.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use heed::types::Bytes;
use heed::{Database, Env, EnvFlags, EnvOpenOptions, RoTxn, RwTxn};

/// Version of the on-disk format written by this build. Bump it for any incompatible change.
///
/// 3 added the journal, the change log, TSIG keys, the catalog member list and secondary zones
/// to version 2; 4 added the NSEC3 index. A writer opening a version 2 or 3 database upgrades
/// it in place (see [`Store::open`]).
pub const SCHEMA_VERSION: u32 = 4;
/// The oldest version a writer upgrades in place.
const UPGRADABLE_FROM: u32 = 2;

/// Default LMDB map size, shared by loader and server. The file is sparse: this is an upper bound
/// on the database size, not an allocation.
pub const DEFAULT_MAP_SIZE: usize = 64 << 30;

/// Named databases. Besides these, each IP-range table has its own pair (see `ranges`).
pub mod db_names {
    /// Small records about the database itself (schema version, change counter).
    pub const META: &str = "meta";
    /// Name key → node (every zone's names, see `node`).
    pub const NAMES: &str = "names";
    /// Apex name key → zone metadata (JSON).
    pub const ZONES: &str = "zones";
    /// Per-zone IXFR journal (see `journal`).
    pub const JOURNAL: &str = "journal";
    /// Change counter → zones changed by that commit (see `changes`).
    pub const CHANGES: &str = "changes";
    /// TSIG key name key → key (see `keys`).
    pub const TSIG_KEYS: &str = "tsig_keys";
    /// Catalog member ID → member (see `catalog`).
    pub const CATALOG_MEMBERS: &str = "catalog_members";
    /// Zone-set version → member changes (see `catalog`).
    pub const CATALOG_LOG: &str = "catalog_log";
    /// Apex key → secondary-zone configuration and state (see `secondary`).
    pub const SECONDARY_ZONES: &str = "secondary_zones";
    /// (apex, NSEC3 hash) → nothing: each signed zone's NSEC3 hashes in order (see `nsec3`).
    pub const NSEC3: &str = "nsec3";
}

/// Keys in the `meta` database.
pub mod meta_keys {
    /// u32 big-endian: `SCHEMA_VERSION` of the writer that created the database.
    pub const SCHEMA_VERSION: &[u8] = b"schema_version";
    /// u64 big-endian: incremented by every committed zone change, so readers can tell cheaply
    /// that something changed since a commit they saw.
    pub const CHANGE_COUNTER: &[u8] = b"change_counter";
    /// u64 big-endian: entries kept per zone journal (default `journal::DEFAULT_MAX_CHANGES`).
    pub const JOURNAL_MAX_CHANGES: &[u8] = b"journal_max_changes";
    /// u64 big-endian: bytes kept per zone journal (default `journal::DEFAULT_MAX_BYTES`).
    pub const JOURNAL_MAX_BYTES: &[u8] = b"journal_max_bytes";
    /// u64 big-endian: bumped by each commit that adds or removes a zone or changes a catalog
    /// group; the serial of generated catalogs (see `catalog`).
    pub const ZONE_SET_VERSION: &[u8] = b"zone_set_version";
    /// The apex keys of secondary zones past their SOA EXPIRE (see `secondary`).
    pub const EXPIRED_ZONES: &[u8] = b"expired_zones";
    /// JSON object: catalog group → primaries its member zones are transferred from.
    pub const CATALOG_GROUPS: &[u8] = b"catalog_groups";
}

/// Upper bound on named databases: 10 fixed plus two per range table.
const MAX_DBS: u32 = 2048;
/// Reader slots: one per server worker and transient tools, generously.
const MAX_READERS: u32 = 4096;

/// The reader slots a lock file created by this build has.
pub fn store_max_readers() -> u32 {
    MAX_READERS
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    // `cause`, not `source`: the message names it already, and an error chain printed whole
    // (`{:#}`) would say it twice.
    #[error("cannot create database directory {path}: {cause}")]
    CreateDir { path: PathBuf, cause: std::io::Error },
    #[error("cannot open LMDB environment at {path}: {cause}")]
    Open { path: PathBuf, cause: heed::Error },
    #[error("no lmdns database at {path} (no data.mdb there): check the path, or create the database with lmdns-loader")]
    Missing { path: PathBuf },
    #[error("{path} is not an lmdns database (no schema version record); create it with lmdns-loader")]
    NotInitialized { path: PathBuf },
    #[error("{path} has schema version {found}, this build reads version {expected}; re-import the zones with a matching lmdns-loader")]
    VersionMismatch { path: PathBuf, found: u32, expected: u32 },
    #[error("{path} has schema version {found}; this build reads version {expected}: upgrade it in place with `lmdns-loader --db {path} db upgrade` (any write command does it too)")]
    NeedsUpgrade { path: PathBuf, found: u32, expected: u32 },
    #[error("database full: raise --map-size (currently {map_size} bytes); nothing was committed")]
    MapFull { map_size: usize },
    #[error("corrupt database: {0}")]
    Corrupt(String),
    #[error("{path} is {len} bytes but its header says the database takes {needed}: the file is truncated (a copy or backup cut short?); restore it from a complete backup")]
    Truncated { path: PathBuf, len: u64, needed: u64 },
    #[error("LMDB error: {0}")]
    Lmdb(heed::Error),
}

impl StoreError {
    /// Wraps an LMDB error, naming the map-size fix for `MapFull`.
    pub fn from_heed(error: heed::Error, map_size: usize) -> Self {
        match error {
            heed::Error::Mdb(heed::MdbError::MapFull) => StoreError::MapFull { map_size },
            other => StoreError::Lmdb(other),
        }
    }
}

/// How to open a store.
#[derive(Clone, Debug)]
pub struct OpenOptions {
    pub map_size: usize,
    /// Open for reading only (the server): the environment is opened read-only and the database
    /// must already have been created by the loader.
    pub read_only: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions { map_size: DEFAULT_MAP_SIZE, read_only: false }
    }
}

/// An open lmdns database: the environment and its fixed named databases.
///
/// The environment lives for the rest of the process (it is leaked on purpose): heed's database
/// handles borrow it, every process opens exactly one, and the server's workers share it.
#[derive(Clone, Copy)]
pub struct Store {
    env: &'static Env,
    map_size: usize,
    pub meta: Database<'static, Bytes, Bytes>,
    pub names: Database<'static, Bytes, Bytes>,
    pub zones: Database<'static, Bytes, Bytes>,
    pub journal: Database<'static, Bytes, Bytes>,
    pub changes: Database<'static, Bytes, Bytes>,
    pub tsig_keys: Database<'static, Bytes, Bytes>,
    pub catalog_members: Database<'static, Bytes, Bytes>,
    pub catalog_log: Database<'static, Bytes, Bytes>,
    pub secondary_zones: Database<'static, Bytes, Bytes>,
    pub nsec3: Database<'static, Bytes, Bytes>,
}

/// The fixed databases, in [`db_names`] order.
type Fixed = [Database<'static, Bytes, Bytes>; 10];
const FIXED: [&str; 10] = [
    db_names::META,
    db_names::NAMES,
    db_names::ZONES,
    db_names::JOURNAL,
    db_names::CHANGES,
    db_names::TSIG_KEYS,
    db_names::CATALOG_MEMBERS,
    db_names::CATALOG_LOG,
    db_names::SECONDARY_ZONES,
    db_names::NSEC3,
];

impl Store {
    /// Opens (and for writers, creates) the database at `path`.
    ///
    /// LMDB allows one environment per file per process, so a second open of the same directory
    /// in this process returns the store opened first (a writable one serves readers too).
    pub fn open(path: &Path, options: &OpenOptions) -> Result<Store, StoreError> {
        static OPENED: Mutex<Vec<(PathBuf, Store, bool)>> = Mutex::new(Vec::new());
        if !options.read_only {
            std::fs::create_dir_all(path).map_err(|cause| StoreError::CreateDir { path: path.into(), cause })?;
        }
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let mut opened = OPENED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, store, read_only)) = opened.iter().find(|(p, _, _)| *p == canonical) {
            if *read_only && !options.read_only {
                return Err(StoreError::Open { path: path.into(), cause: heed::Error::EnvAlreadyOpened });
            }
            return Ok(*store);
        }
        let store = Self::open_new(path, options)?;
        opened.push((canonical, store, options.read_only));
        Ok(store)
    }

    fn open_new(path: &Path, options: &OpenOptions) -> Result<Store, StoreError> {
        if options.read_only && !path.join("data.mdb").exists() {
            return Err(StoreError::Missing { path: path.into() });
        }
        check_not_truncated(&path.join("data.mdb"))?;
        let mut builder = EnvOpenOptions::new();
        builder.map_size(options.map_size).max_dbs(MAX_DBS).max_readers(MAX_READERS);
        if options.read_only {
            // SAFETY: READ_ONLY only restricts what this process may do.
            unsafe { builder.flags(EnvFlags::READ_ONLY) };
        }
        // SAFETY: the database files are only modified through LMDB (lmdns-loader), which keeps the
        // memory map consistent; nothing truncates or rewrites them behind LMDB's back.
        let env = unsafe { builder.open(path) }.map_err(|cause| StoreError::Open { path: path.into(), cause })?;
        let env: &'static Env = Box::leak(Box::new(env));
        let lmdb = |e| StoreError::from_heed(e, options.map_size);

        let store = if options.read_only {
            let rtxn = env.read_txn().map_err(lmdb)?;
            let mut version = None;
            let opened = env
                .open_databases_and_commit(rtxn, |opener, rtxn| -> Result<_, heed::Error> {
                    let mut dbs: [Option<Database<'static, Bytes, Bytes>>; 10] = [None; 10];
                    for (db, name) in dbs.iter_mut().zip(FIXED) {
                        *db = opener.open_database::<Bytes, Bytes>(rtxn, Some(name))?;
                    }
                    if let Some(meta) = dbs[0] {
                        version =
                            meta.get(rtxn, meta_keys::SCHEMA_VERSION)?.and_then(|v| <[u8; 4]>::try_from(v).ok()).map(u32::from_be_bytes);
                    }
                    Ok(heed::CommitOrAbort::<_, ()>::Commit(dbs))
                })
                .map_err(lmdb)?
                .unwrap_commit();
            match version {
                Some(found) if (UPGRADABLE_FROM..SCHEMA_VERSION).contains(&found) => {
                    return Err(StoreError::NeedsUpgrade { path: path.into(), found, expected: SCHEMA_VERSION });
                }
                Some(found) if found != SCHEMA_VERSION => {
                    return Err(StoreError::VersionMismatch { path: path.into(), found, expected: SCHEMA_VERSION });
                }
                _ => {}
            }
            let Some(dbs) = opened.into_iter().collect::<Option<Vec<_>>>() else {
                return Err(StoreError::NotInitialized { path: path.into() });
            };
            Store::from_fixed(env, options.map_size, dbs.try_into().expect("one per name"))
        } else {
            let wtxn = env.write_txn().map_err(lmdb)?;
            let dbs = env
                .create_databases_and_commit(wtxn, |opener, wtxn| -> Result<_, heed::Error> {
                    let mut dbs = Vec::with_capacity(FIXED.len());
                    for name in FIXED {
                        dbs.push(opener.create_database::<Bytes, Bytes>(wtxn, Some(name))?);
                    }
                    let dbs: Fixed = dbs.try_into().expect("one per name");
                    let [meta, names, zones, ..] = dbs;
                    let version = meta.get(wtxn, meta_keys::SCHEMA_VERSION)?.map(<[u8]>::to_vec);
                    if version.is_none() && names.is_empty(wtxn)? && zones.is_empty(wtxn)? {
                        meta.put(wtxn, meta_keys::SCHEMA_VERSION, &SCHEMA_VERSION.to_be_bytes())?;
                    } else if let Some(found) = version.as_deref().and_then(|v| <[u8; 4]>::try_from(v).ok()).map(u32::from_be_bytes) {
                        if (UPGRADABLE_FROM..SCHEMA_VERSION).contains(&found) {
                            if found == 2 {
                                upgrade_from_2(wtxn, &dbs)?;
                            }
                            upgrade_from_3(wtxn, &dbs)?;
                            meta.put(wtxn, meta_keys::SCHEMA_VERSION, &SCHEMA_VERSION.to_be_bytes())?;
                        }
                    }
                    Ok(heed::CommitOrAbort::<_, ()>::Commit(dbs))
                })
                .map_err(lmdb)?
                .unwrap_commit();
            Store::from_fixed(env, options.map_size, dbs)
        };
        store.check_version(path)?;
        Ok(store)
    }

    fn from_fixed(env: &'static Env, map_size: usize, dbs: Fixed) -> Store {
        let [meta, names, zones, journal, changes, tsig_keys, catalog_members, catalog_log, secondary_zones, nsec3] = dbs;
        Store { env, map_size, meta, names, zones, journal, changes, tsig_keys, catalog_members, catalog_log, secondary_zones, nsec3 }
    }

    fn check_version(&self, path: &Path) -> Result<(), StoreError> {
        let rtxn = self.read_txn()?;
        match self.meta.get(&rtxn, meta_keys::SCHEMA_VERSION).map_err(|e| self.error(e))? {
            None => Err(StoreError::NotInitialized { path: path.into() }),
            Some(v) if v.len() != 4 => Err(StoreError::Corrupt("schema version record is not 4 bytes".into())),
            Some(v) => {
                let found = u32::from_be_bytes(v.try_into().expect("4 bytes"));
                if found == SCHEMA_VERSION {
                    Ok(())
                } else {
                    Err(StoreError::VersionMismatch { path: path.into(), found, expected: SCHEMA_VERSION })
                }
            }
        }
    }

    pub fn env(&self) -> &'static Env {
        self.env
    }

    pub fn map_size(&self) -> usize {
        self.map_size
    }

    /// Wraps an LMDB error of an operation on this store.
    pub fn error(&self, e: heed::Error) -> StoreError {
        StoreError::from_heed(e, self.map_size)
    }

    /// A read transaction (see `readers`: a map grown by a writer is adopted on the way).
    pub fn read_txn(&self) -> Result<crate::readers::ReadTxn, StoreError> {
        crate::readers::read_txn(self.env).map_err(|e| self.error(e))
    }

    /// The read transaction `held` keeps, renewed if a commit landed since it began (see
    /// [`crate::readers::HeldReadTxn`]).
    pub fn held_read_txn<'h>(&self, held: &'h mut crate::readers::HeldReadTxn) -> Result<&'h crate::readers::ReadTxn, StoreError> {
        held.current(self.env).map_err(|e| self.error(e))
    }

    /// Clears reader slots left by dead processes; returns how many.
    pub fn clear_stale_readers(&self) -> Result<usize, StoreError> {
        crate::readers::clear_stale(self.env).map_err(|e| self.error(e))
    }

    /// Reader slots the lock file has room for (shared by every process on the database).
    pub fn max_readers(&self) -> u32 {
        self.env.max_readers()
    }

    pub fn write_txn(&self) -> Result<RwTxn<'static>, StoreError> {
        self.env.write_txn().map_err(|e| self.error(e))
    }

    /// The change counter as of `txn` (0 for a database never changed).
    pub fn change_counter(&self, txn: &RoTxn) -> Result<u64, StoreError> {
        Ok(match self.meta.get(txn, meta_keys::CHANGE_COUNTER).map_err(|e| self.error(e))? {
            Some(v) if v.len() == 8 => u64::from_be_bytes(v.try_into().expect("8 bytes")),
            _ => 0,
        })
    }

    /// The change log's entries for the commits after `seen` up to `now`, in order: each the
    /// encoded value (see [`crate::changes`]) or `None` for a commit the log no longer holds.
    pub fn change_log<'t>(
        &'t self,
        txn: &'t RoTxn,
        seen: u64,
        now: u64,
    ) -> impl Iterator<Item = Result<Option<&'t [u8]>, StoreError>> + 't {
        (seen.saturating_add(1)..=now).map(move |c| self.changes.get(txn, &crate::changes::key(c)).map_err(|e| self.error(e)))
    }

    /// A u64 record of `meta` (`default` when absent).
    pub fn meta_u64(&self, txn: &RoTxn, key: &[u8], default: u64) -> Result<u64, StoreError> {
        Ok(match self.meta.get(txn, key).map_err(|e| self.error(e))? {
            Some(v) if v.len() == 8 => u64::from_be_bytes(v.try_into().expect("8 bytes")),
            _ => default,
        })
    }

    pub fn put_meta_u64(&self, wtxn: &mut RwTxn, key: &[u8], value: u64) -> Result<(), StoreError> {
        self.meta.put(wtxn, key, &value.to_be_bytes()).map_err(|e| self.error(e))
    }

    /// Increments the change counter inside a write transaction.
    pub fn bump_change_counter(&self, wtxn: &mut RwTxn) -> Result<u64, StoreError> {
        let next = self.change_counter(wtxn)? + 1;
        self.meta.put(wtxn, meta_keys::CHANGE_COUNTER, &next.to_be_bytes()).map_err(|e| self.error(e))?;
        Ok(next)
    }
}

/// Refuses a `data.mdb` shorter than its own header says it is. LMDB maps the file and would
/// die with SIGBUS on the first page past its end (a backup killed mid-way leaves such a file).
/// The header is LMDB's two meta pages (`mdb.c`, `MDB_meta`): magic, the page size (kept in the
/// free DB's `md_pad`), the last page used and the transaction id; the newer valid one counts.
fn check_not_truncated(file: &Path) -> Result<(), StoreError> {
    use std::io::Read;
    const PAGE_HEADER: usize = 16;
    const MAGIC: u32 = 0xBEEF_C0DE;
    let Ok(mut f) = std::fs::File::open(file) else { return Ok(()) }; // absent: LMDB creates it
    let mut head = vec![0u8; 2 * 65_536];
    let mut read = 0;
    while read < head.len() {
        match f.read(&mut head[read..]) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(_) => return Ok(()), // unreadable: let LMDB say why
        }
    }
    head.truncate(read);
    // The length is taken after the header is read: a writer in another process may commit
    // in between, and its pages reach the file before its meta page names them, so the file
    // is at least as long as any header read before.
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let truncated = |needed: u64| StoreError::Truncated { path: file.to_path_buf(), len, needed };
    let u32_at = |at: usize| head.get(at..at + 4).map(|b| u32::from_ne_bytes(b.try_into().unwrap()));
    let u64_at = |at: usize| head.get(at..at + 8).map(|b| u64::from_ne_bytes(b.try_into().unwrap()));
    // Meta page 0: magic at PAGE_HEADER; the free DB's md_pad (the page size) right after
    // magic, version, address and map size.
    let meta = |page_at: usize| -> Option<(u64, u64)> {
        let m = page_at + PAGE_HEADER;
        (u32_at(m)? == MAGIC).then_some(())?;
        // mm_last_pg and mm_txnid follow the two 48-byte MDB_db records.
        Some((u64_at(m + 24 + 2 * 48)?, u64_at(m + 24 + 2 * 48 + 8)?))
    };
    if len == 0 {
        return Ok(());
    }
    let Some(page_size) = u32_at(PAGE_HEADER + 24).filter(|_| meta(0).is_some()).map(u64::from) else {
        return Err(truncated(2 * 4096).into_or_corrupt(file));
    };
    if !(512..=65_536).contains(&page_size) || len < 2 * page_size {
        return Err(truncated(2 * page_size.max(4096)));
    }
    let newest = [meta(0), meta(page_size as usize)].into_iter().flatten().max_by_key(|&(_, txnid)| txnid);
    let Some((last_page, _)) = newest else { return Err(truncated(2 * page_size)) };
    let needed = (last_page + 1).saturating_mul(page_size);
    if len < needed {
        return Err(truncated(needed));
    }
    Ok(())
}

impl StoreError {
    /// A file too short for even a valid first meta page is named as what it is.
    fn into_or_corrupt(self, file: &Path) -> StoreError {
        match self {
            StoreError::Truncated { len, .. } if len < 4096 => StoreError::Corrupt(format!(
                "{} is {len} bytes, too short for an LMDB database header (truncated or not LMDB)",
                file.display()
            )),
            StoreError::Truncated { .. } => StoreError::Corrupt(format!("{} does not start with an LMDB header", file.display())),
            other => other,
        }
    }
}

/// Version 2 → 3: the new databases are empty, which is right for the journal, change log and
/// keys; the catalog member list is filled from the zones present.
fn upgrade_from_2(wtxn: &mut RwTxn, dbs: &Fixed) -> Result<(), heed::Error> {
    let [_, _, zones, _, _, _, members, _, _, _] = dbs;
    let mut found = Vec::new();
    for item in zones.iter(wtxn)? {
        let (apex, _) = item?;
        found.push(apex.to_vec());
    }
    for apex in found {
        let member = crate::catalog::Member { zone: crate::name::key_to_text(&apex), group: None };
        members.put(wtxn, &crate::catalog::member_id(&apex), &member.encode())?;
    }
    Ok(())
}

/// Version 3 → 4: the NSEC3 index, from the NSEC3 owners already stored.
fn upgrade_from_3(wtxn: &mut RwTxn, dbs: &Fixed) -> Result<(), heed::Error> {
    let [_, names, _, _, _, _, _, _, _, nsec3] = dbs;
    let mut keys = Vec::new();
    for item in names.iter(wtxn)? {
        let (key, value) = item?;
        let Ok(node) = crate::node::NodeView::parse(value) else { continue };
        for section in node.sections() {
            if let Some(entry) = crate::nsec3::entry_for(key, section.zone(), section.rrset(crate::rtype::NSEC3).is_some()) {
                keys.push(entry);
            }
        }
    }
    for key in keys {
        nsec3.put(wtxn, &key, &[])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> OpenOptions {
        OpenOptions { map_size: 16 << 20, read_only: false }
    }

    #[test]
    fn creates_then_reads_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let store = Store::open(&path, &small()).unwrap();
        let mut wtxn = store.write_txn().unwrap();
        assert_eq!(store.bump_change_counter(&mut wtxn).unwrap(), 1);
        wtxn.commit().unwrap();
        let reader = Store::open_new(&path, &OpenOptions { read_only: true, ..small() });
        assert!(matches!(reader, Err(StoreError::Open { .. })), "LMDB refuses a second env on one file");
        let reader = Store::open(&path, &OpenOptions { read_only: true, ..small() }).unwrap();
        assert_eq!(reader.change_counter(&reader.read_txn().unwrap()).unwrap(), 1);
    }

    #[test]
    fn a_held_read_txn_reads_each_commit_at_the_next_call() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), &small()).unwrap();
        let mut held = crate::readers::HeldReadTxn::default();
        let first = store.held_read_txn(&mut held).unwrap().id();
        assert_eq!(store.change_counter(store.held_read_txn(&mut held).unwrap()).unwrap(), 0);
        assert_eq!(store.held_read_txn(&mut held).unwrap().id(), first, "no commit: the same snapshot");
        let mut wtxn = store.write_txn().unwrap();
        store.bump_change_counter(&mut wtxn).unwrap();
        wtxn.commit().unwrap();
        let txn = store.held_read_txn(&mut held).unwrap();
        assert!(txn.id() > first, "a commit landed: a newer snapshot");
        assert_eq!(store.change_counter(txn).unwrap(), 1);
        held.release();
        assert!(!held.is_held());
        // Released, the thread may open a transaction of its own (one reader slot per thread).
        assert_eq!(store.change_counter(&store.read_txn().unwrap()).unwrap(), 1);
    }

    #[test]
    fn upgrade_from_2_lists_every_zone_as_a_catalog_member() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), &small()).unwrap();
        let mut wtxn = store.write_txn().unwrap();
        for apex in [&b"\0com\0example\0"[..], b"\0net\0example\0"] {
            store.zones.put(&mut wtxn, apex, b"{}").unwrap();
        }
        let dbs = [
            store.meta,
            store.names,
            store.zones,
            store.journal,
            store.changes,
            store.tsig_keys,
            store.catalog_members,
            store.catalog_log,
            store.secondary_zones,
            store.nsec3,
        ];
        upgrade_from_2(&mut wtxn, &dbs).unwrap();
        let member = store.catalog_members.get(&wtxn, &crate::catalog::member_id(b"\0com\0example\0")).unwrap().unwrap();
        assert_eq!(crate::catalog::Member::decode(member).unwrap().zone, "example.com.");
        assert_eq!(store.catalog_members.len(&wtxn).unwrap(), 2);
    }

    #[test]
    fn needs_upgrade_names_the_command() {
        let err = StoreError::NeedsUpgrade { path: "/var/lib/lmdns".into(), found: 2, expected: 3 };
        assert!(err.to_string().contains("lmdns-loader --db /var/lib/lmdns db upgrade"), "{err}");
    }

    #[test]
    fn read_only_open_of_missing_database_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = Store::open(&dir.path().join("nothing"), &OpenOptions { read_only: true, ..small() }).err().unwrap();
        assert!(matches!(err, StoreError::Missing { .. }), "{err}");
        assert!(err.to_string().contains("no lmdns database at"), "{err}");
        // A directory without data.mdb is no database either (and is left as it was).
        let err = Store::open(dir.path(), &OpenOptions { read_only: true, ..small() }).err().unwrap();
        assert!(matches!(err, StoreError::Missing { .. }), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn other_schema_version_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let store = Store::open(&path, &small()).unwrap();
        let mut wtxn = store.write_txn().unwrap();
        store.meta.put(&mut wtxn, meta_keys::SCHEMA_VERSION, &99u32.to_be_bytes()).unwrap();
        wtxn.commit().unwrap();
        let err = store.check_version(&path).unwrap_err();
        assert!(matches!(err, StoreError::VersionMismatch { found: 99, expected: SCHEMA_VERSION, .. }));
        assert!(err.to_string().contains("schema version 99"), "{err}");
    }

    #[test]
    fn map_full_names_the_flag_and_commits_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let store = Store::open(&path, &OpenOptions { map_size: 1 << 20, read_only: false }).unwrap();
        let mut wtxn = store.write_txn().unwrap();
        let big = vec![7u8; 64 << 10];
        let mut result = Ok(());
        for i in 0u32..64 {
            if let Err(e) = store.names.put(&mut wtxn, &i.to_be_bytes(), &big) {
                result = Err(store.error(e));
                break;
            }
        }
        let err = result.unwrap_err();
        assert!(err.to_string().starts_with("database full: raise --map-size"), "{err}");
        drop(wtxn);
        assert!(store.names.is_empty(&store.read_txn().unwrap()).unwrap());
    }
}
