//! [`ZoneWriter`]: the one place every zone change goes through.
//!
//! A writer works inside the caller's LMDB write transaction. Changes are applied to the
//! names as they are made (later changes of the same commit read them back from the
//! transaction), and each touched zone's net difference is noted ([`Diff`]). [`ZoneWriter::finish`]
//! then, per zone: settles the SOA serial (it only moves forward, RFC 1982), writes the zone's
//! metadata and its IXFR journal entry, and for the whole commit the change log entry, the
//! catalog member changes and the change counter. All of it commits with the caller's
//! transaction or not at all.
//!
//! How a change touches the name tree: record edits ([`super::incremental`]) read and write only
//! the names they touch — the owner, the ancestors it needs as empty non-terminals, and, when a
//! delegation or DNAME appears or goes, the names below it; a whole zone replaced by an import
//! ([`super::replace`]) is compared name by name with what is stored and writes only the names
//! that differ.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use heed::RwTxn;
use lmdb_schema::journal::{serial_gt, Entry, Record};
use lmdb_schema::node::{Node, CLASS_IN};
use lmdb_schema::zone::{soa_from_rdata, GeoPolicy, NotifyTarget, ZoneMeta};
use lmdb_schema::{changes, name, rtype, Store};

use super::diff::{policy_id, Diff};
use super::history::{self, JournalLimits};
use super::{geo, lmdb, signed, BuildError, Rr, ZoneError, ZoneTree};

/// How a zone replaced whole may set its serial.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ImportSerial {
    /// The file's serial must be ahead of the one served (RFC 1982), else the import is refused.
    #[default]
    MustAdvance,
    /// A file serial not ahead of the served one is replaced by the served one plus one.
    BumpIfBehind,
}

/// What happened to one zone, for the command's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneSummary {
    pub apex: String,
    pub serial: u32,
    pub records: u64,
    pub policy: Option<GeoPolicy>,
    /// The zone did not exist before this commit.
    pub created: bool,
    /// Its content changed (false: only settings changed, or nothing).
    pub changed: bool,
    /// Variants added (or, after a policy change, any variant) that the policy can never select.
    pub warnings: Vec<String>,
}

/// A zone touched by this commit.
pub(super) struct Pending {
    pub depth: u8,
    /// Metadata before this commit; None if the commit creates the zone.
    pub before: Option<ZoneMeta>,
    /// The apex SOA before this commit: (TTL, RDATA).
    pub soa_before: Option<(u32, Vec<u8>)>,
    /// Metadata as it will be written (records, SOA and times are set by `finish`).
    pub meta: ZoneMeta,
    pub diff: Diff,
    /// Replaced whole by an import, with this serial rule.
    pub replaced: Option<ImportSerial>,
    /// An edit set the SOA itself (its serial must then be ahead).
    pub soa_set: bool,
    pub settings_changed: bool,
    pub policy_changed: bool,
    /// Variants added, to warn about ones the policy cannot select.
    pub variants: Vec<geo::VariantRef>,
}

pub struct ZoneWriter<'a, 't> {
    pub(super) store: &'a Store,
    pub(super) txn: &'a mut RwTxn<'t>,
    pub(super) zones: BTreeMap<Vec<u8>, Pending>,
    /// Zones this commit deletes, with their last metadata.
    deleted: Vec<(Vec<u8>, ZoneMeta)>,
    /// Zones whose secondary settings this commit changed (logged for the writer's scheduler),
    /// or whose answers changed without their data (a secondary's expiry): logged as settings.
    secondaries: Vec<Vec<u8>>,
    /// This writer applies transfers: it may change secondary zones, which others may not.
    transfer: bool,
    pub(super) buf: Vec<u8>,
}

/// For crash tests: aborts the process (as a SIGKILL would end it, no unwinding, no cleanup)
/// when `LMDNS_CRASH_AT` names this point. Points: `writer:before-change-log` (names and
/// journal written, change log not), `writer:finished` (all written, not committed),
/// `record:after-commit` (committed, nothing printed). Read once; free when unset.
pub fn crash_point(point: &str) {
    static AT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    if AT.get_or_init(|| std::env::var("LMDNS_CRASH_AT").ok()).as_deref() == Some(point) {
        std::process::abort();
    }
}

pub(super) fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl<'a, 't> ZoneWriter<'a, 't> {
    pub fn new(store: &'a Store, txn: &'a mut RwTxn<'t>) -> Self {
        ZoneWriter { store, txn, zones: BTreeMap::new(), deleted: Vec::new(), secondaries: Vec::new(), transfer: false, buf: Vec::new() }
    }

    /// A writer for the secondary side (transfers, `zone secondary`, catalogs): the only one
    /// that may change a secondary zone's data, which is its primary's.
    pub fn for_transfer(store: &'a Store, txn: &'a mut RwTxn<'t>) -> Self {
        ZoneWriter { transfer: true, ..ZoneWriter::new(store, txn) }
    }

    /// Keeps the NSEC3 index (`lmdb_schema::nsec3`) in step with the NSEC3 owners at `key`:
    /// an entry per zone section that holds NSEC3 there.
    fn index_nsec3(&mut self, key: &[u8], node: &Node, old: Option<&[u8]>) -> Result<(), ZoneError> {
        use lmdb_schema::nsec3::entry_for;
        // Only a name one label below some apex can be an NSEC3 owner; most names are not.
        let new: Vec<Vec<u8>> =
            node.sections.iter().filter_map(|s| entry_for(key, s.zone, s.rrsets.iter().any(|r| r.rtype == rtype::NSEC3))).collect();
        if new.is_empty() && old.is_none() {
            return Ok(());
        }
        let old: Vec<Vec<u8>> = match old.map(lmdb_schema::node::NodeView::parse) {
            Some(Ok(view)) => view.sections().filter_map(|s| entry_for(key, s.zone(), s.rrset(rtype::NSEC3).is_some())).collect(),
            _ => Vec::new(),
        };
        for gone in old.iter().filter(|k| !new.contains(k)) {
            self.store.nsec3.delete(self.txn, gone).map_err(lmdb(self.store))?;
        }
        for added in new.iter().filter(|k| !old.contains(k)) {
            self.store.nsec3.put(self.txn, added, &[]).map_err(lmdb(self.store))?;
        }
        Ok(())
    }

    /// Refuses a local change to a secondary zone: its content is its primary's, and a change
    /// made here would be overwritten by the next transfer, or break IXFR from it.
    pub(super) fn check_writable(&self, apex_key: &[u8]) -> Result<(), ZoneError> {
        if self.transfer || self.store.secondary_zones.get(self.txn, apex_key).map_err(lmdb(self.store))?.is_none() {
            return Ok(());
        }
        Err(ZoneError::Refused(format!(
            "zone {} is a secondary zone, copied from its primaries: change it there (or `zone secondary remove` it first)",
            name::key_to_text(apex_key)
        )))
    }

    pub fn store(&self) -> &Store {
        self.store
    }

    pub fn txn(&self) -> &RwTxn<'t> {
        self.txn
    }

    /// The transaction, for bookkeeping outside the zones (a secondary zone's state).
    pub fn txn_mut(&mut self) -> &mut RwTxn<'t> {
        self.txn
    }

    /// Logs the zone at `apex_key` as changed by this commit though its data is not (it went
    /// past its expiry, or came back): readers that keep answers per zone must drop them.
    pub fn note_answers_changed(&mut self, apex_key: &[u8]) {
        if !self.secondaries.iter().any(|k| k == apex_key) {
            self.secondaries.push(apex_key.to_vec());
        }
    }

    /// The stored bytes of a name (owned: the caller writes while holding them).
    pub(super) fn read(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ZoneError> {
        Ok(self.store.names.get(self.txn, key).map_err(lmdb(self.store))?.map(<[u8]>::to_vec))
    }

    /// The node at `key` and its stored bytes (an empty node if absent).
    pub(super) fn load(&self, key: &[u8]) -> Result<(Option<Vec<u8>>, Node), ZoneError> {
        match self.read(key)? {
            Some(bytes) => {
                let node = Node::decode(&bytes).map_err(|e| ZoneError::Corrupt(format!("{}: {e}", name::key_to_text(key))))?;
                Ok((Some(bytes), node))
            }
            None => Ok((None, Node::default())),
        }
    }

    /// Writes `node` at `key` if its bytes differ from `old`; deletes the key when the node has
    /// no sections left.
    pub(super) fn store_node(&mut self, key: &[u8], node: &mut Node, old: Option<&[u8]>) -> Result<(), ZoneError> {
        node.check_limits().map_err(|e| ZoneError::Refused(limit_message(key, &e)))?;
        signed::check_nsec3(key, &node.sections)?;
        for section in node.sections.iter().filter(|s| s.rrsets.iter().any(|r| !r.condition.is_empty())) {
            let apex = name::ancestor(key, section.zone as usize);
            signed::check_variants(key, section, || {
                if apex == key {
                    return Ok(false);
                }
                let (_, apex_node) = self.load(apex)?;
                Ok(apex_node.section(section.zone).is_some_and(signed::is_signed_apex))
            })?;
        }
        self.index_nsec3(key, node, old)?;
        if node.sections.is_empty() {
            if old.is_some() {
                self.store.names.delete(self.txn, key).map_err(lmdb(self.store))?;
            }
            return Ok(());
        }
        node.encode(&mut self.buf);
        if old != Some(self.buf.as_slice()) {
            self.store.names.put(self.txn, key, &self.buf).map_err(lmdb(self.store))?;
        }
        Ok(())
    }

    /// What the zone at `apex_key` holds at the name `owner_key`, as of this commit so far
    /// (None: the name is not in the zone).
    pub fn section_at(&self, apex_key: &[u8], owner_key: &[u8]) -> Result<Option<lmdb_schema::node::Section>, ZoneError> {
        let depth = name::label_count(apex_key) as u8;
        let (_, node) = self.load(owner_key)?;
        Ok(node.sections.into_iter().find(|s| s.zone == depth))
    }

    /// The stored metadata of the zone at `apex_key`.
    pub fn stored_meta(&self, apex_key: &[u8]) -> Result<Option<ZoneMeta>, ZoneError> {
        match self.store.zones.get(self.txn, apex_key).map_err(lmdb(self.store))? {
            Some(bytes) => ZoneMeta::decode(bytes)
                .map(Some)
                .map_err(|e| ZoneError::Corrupt(format!("zone metadata of {}: {e}", name::key_to_text(apex_key)))),
            None => Ok(None),
        }
    }

    /// The apex SOA (TTL, RDATA) of the zone at `apex_key` as stored now.
    pub(super) fn apex_soa(&self, apex_key: &[u8], depth: u8) -> Result<Option<(u32, Vec<u8>)>, ZoneError> {
        let (_, node) = self.load(apex_key)?;
        let soa = node.section(depth).and_then(|s| s.find(rtype::SOA, 0, b""));
        Ok(soa.and_then(|r| r.rdatas.first().map(|rdata| (r.ttl, rdata.clone()))))
    }

    /// The zone holding `owner_key` (deepest apex at or above it), as a pending zone of this
    /// commit.
    pub(super) fn pending_for(&mut self, owner_key: &[u8]) -> Result<Vec<u8>, ZoneError> {
        let apex = super::zone_for(self.store, self.txn, owner_key)?.ok_or_else(|| ZoneError::NoZoneFor(name::key_to_text(owner_key)))?;
        self.pending(&apex)?;
        Ok(apex)
    }

    /// The pending state of the existing zone at `apex_key`, created on first touch.
    pub(super) fn pending(&mut self, apex_key: &[u8]) -> Result<&mut Pending, ZoneError> {
        if !self.zones.contains_key(apex_key) {
            let meta = self.stored_meta(apex_key)?.ok_or_else(|| ZoneError::NoSuchZone(name::key_to_text(apex_key)))?;
            self.check_writable(apex_key)?;
            let depth = name::label_count(apex_key) as u8;
            let soa_before = self.apex_soa(apex_key, depth)?;
            let pending = Pending {
                depth,
                before: Some(meta.clone()),
                soa_before,
                meta,
                diff: Diff::default(),
                replaced: None,
                soa_set: false,
                settings_changed: false,
                policy_changed: false,
                variants: Vec::new(),
            };
            self.zones.insert(apex_key.to_vec(), pending);
        }
        Ok(self.zones.get_mut(apex_key).expect("inserted above"))
    }

    /// Adds a record to the zone that holds its owner. Returns false if it was already there
    /// with that TTL. An add states the TTL its RRset has from now on (as an RFC 2136 update
    /// does); a new SOA replaces the old one.
    pub fn add(&mut self, rr: &Rr) -> Result<bool, ZoneError> {
        let owner_key = owner_key(&rr.owner)?;
        let apex = self.pending_for(&owner_key)?;
        self.add_to(&apex, &owner_key, rr)
    }

    /// [`add`](Self::add) to the zone at `apex_key` itself, even where a deeper zone served here
    /// holds the owner (a transfer's delegation and glue belong to the zone transferred).
    pub fn add_in(&mut self, apex_key: &[u8], rr: &Rr) -> Result<bool, ZoneError> {
        let owner_key = self.owner_in(apex_key, &rr.owner)?;
        self.add_to(apex_key, &owner_key, rr)
    }

    fn add_to(&mut self, apex: &[u8], owner_key: &[u8], rr: &Rr) -> Result<bool, ZoneError> {
        let changed = self.add_record(apex, owner_key, rr)?;
        let zone = self.zones.get_mut(apex).expect("pending");
        if rr.rtype == rtype::SOA && rr.condition.is_empty() {
            zone.soa_set = true;
        }
        if changed && !rr.condition.is_empty() {
            let condition = String::from_utf8_lossy(&rr.condition).into_owned();
            zone.variants.push(geo::VariantRef { owner: name::key_to_text(owner_key), rtype: rr.rtype, condition });
        }
        Ok(changed)
    }

    /// Deletes one record (with `rdata`; names in it compare without case) or a whole RRset
    /// of `rtype` (the default one, or the variant `condition`). Returns how many records went.
    pub fn delete(&mut self, owner: &[u8], rtype: u16, rdata: Option<&[u8]>, condition: &[u8]) -> Result<usize, ZoneError> {
        let owner_key = owner_key(owner)?;
        let apex = self.pending_for(&owner_key)?;
        self.delete_from(&apex, &owner_key, rtype, rdata, condition)
    }

    /// [`delete`](Self::delete) from the zone at `apex_key` itself (see [`add_in`](Self::add_in)).
    pub fn delete_in(
        &mut self,
        apex_key: &[u8],
        owner: &[u8],
        rtype: u16,
        rdata: Option<&[u8]>,
        condition: &[u8],
    ) -> Result<usize, ZoneError> {
        let owner_key = self.owner_in(apex_key, owner)?;
        self.delete_from(apex_key, &owner_key, rtype, rdata, condition)
    }

    fn delete_from(
        &mut self,
        apex: &[u8],
        owner_key: &[u8],
        rtype: u16,
        rdata: Option<&[u8]>,
        condition: &[u8],
    ) -> Result<usize, ZoneError> {
        let removed = self.remove_records(apex, owner_key, |r| r.rtype == rtype && r.condition == condition, rdata)?;
        if rtype == rtype::SOA && removed > 0 {
            self.zones.get_mut(apex).expect("pending").soa_set = true;
        }
        Ok(removed)
    }

    /// The key of `owner`, which must be at or below the zone at `apex_key` (made pending).
    fn owner_in(&mut self, apex_key: &[u8], owner: &[u8]) -> Result<Vec<u8>, ZoneError> {
        let key = owner_key(owner)?;
        if !name::is_at_or_below(&key, apex_key) {
            return Err(BuildError::OutsideZone { owner: name::wire_to_text(owner), apex: name::key_to_text(apex_key) }.into());
        }
        self.pending(apex_key)?;
        Ok(key)
    }

    /// Sets (Some) or clears (None) the policy of the zone whose apex is `apex` (wire; a name
    /// inside a zone is an error). Its whoami names are added and removed as names of the zone.
    /// Returns false if it was already so.
    pub fn set_policy(&mut self, apex: &[u8], policy: Option<GeoPolicy>) -> Result<bool, ZoneError> {
        let key = owner_key(apex)?;
        let mut policy = policy;
        let whoami = match policy.as_mut() {
            Some(p) => geo::normalize_whoami(&key, p)?,
            None => Vec::new(),
        };
        let zone = self.pending(&key).map_err(|e| match e {
            ZoneError::NoSuchZone(_) => ZoneError::NoSuchZone(name::key_to_text(&key)),
            other => other,
        })?;
        if zone.meta.policy == policy {
            return Ok(false);
        }
        let old_whoami: Vec<Vec<u8>> = match &zone.meta.policy {
            Some(p) => p.whoami.iter().filter_map(|t| name::key_from_dotted(t).ok()).collect(),
            None => Vec::new(),
        };
        let old_json = zone.meta.policy.as_ref().map(|p| serde_json::to_vec(p).expect("policy serializes"));
        let new_json = policy.as_ref().map(|p| serde_json::to_vec(p).expect("policy serializes"));
        zone.meta.policy = policy;
        zone.policy_changed = true;
        if let Some(json) = old_json {
            zone.diff.removed(policy_id(&key, json), 0);
        }
        if let Some(json) = new_json {
            zone.diff.added(policy_id(&key, json), 0);
        }
        self.set_whoami_names(&key, &old_whoami, &whoami)?;
        Ok(true)
    }

    /// Sets the zone's own NOTIFY targets (replacing the list). Returns false if unchanged.
    pub fn set_notify(&mut self, apex_key: &[u8], targets: Vec<NotifyTarget>) -> Result<bool, ZoneError> {
        let zone = self.pending(apex_key)?;
        if zone.meta.notify == targets {
            return Ok(false);
        }
        zone.meta.notify = targets;
        zone.settings_changed = true;
        Ok(true)
    }

    /// Sets the zone's update policy (who may change it by DNS UPDATE; empty: nobody). Returns
    /// false if unchanged.
    pub fn set_update_policy(&mut self, apex_key: &[u8], rules: Vec<lmdb_schema::zone::UpdateRule>) -> Result<bool, ZoneError> {
        let zone = self.pending(apex_key)?;
        if zone.meta.update_policy == rules {
            return Ok(false);
        }
        zone.meta.update_policy = rules;
        zone.settings_changed = true;
        Ok(true)
    }

    /// The secondary-zone record of the zone at `apex_key`, if it is one.
    pub fn secondary(&self, apex_key: &[u8]) -> Result<Option<lmdb_schema::secondary::SecondaryZone>, ZoneError> {
        match self.store.secondary_zones.get(self.txn, apex_key).map_err(lmdb(self.store))? {
            Some(bytes) => lmdb_schema::secondary::SecondaryZone::decode(bytes)
                .map(Some)
                .map_err(|e| ZoneError::Corrupt(format!("secondary zone {}: {e}", name::key_to_text(apex_key)))),
            None => Ok(None),
        }
    }

    /// Writes (Some) or removes (None) the secondary-zone record of the zone at `apex_key`:
    /// its primaries, key and transfer state. A change of what the zone is (its primaries, key,
    /// catalog) is logged in the change log, for the scheduler of a running `serve`; a change of
    /// its state alone is not. The zone's data is not touched here.
    pub fn set_secondary(&mut self, apex_key: &[u8], zone: Option<&lmdb_schema::secondary::SecondaryZone>) -> Result<(), ZoneError> {
        let before = self.secondary(apex_key)?;
        let reconfigured = match (&before, zone) {
            (Some(a), Some(b)) => !a.same_config(b),
            (None, None) => false,
            _ => true,
        };
        match zone {
            Some(z) => self.store.secondary_zones.put(self.txn, apex_key, &z.encode()).map_err(lmdb(self.store))?,
            None => {
                self.store.secondary_zones.delete(self.txn, apex_key).map_err(lmdb(self.store))?;
            }
        }
        if reconfigured && !self.secondaries.iter().any(|k| k == apex_key) {
            self.secondaries.push(apex_key.to_vec());
        }
        Ok(())
    }

    /// Sets or clears the zone's catalog group. Returns false if unchanged.
    pub fn set_group(&mut self, apex_key: &[u8], group: Option<String>) -> Result<bool, ZoneError> {
        let zone = self.pending(apex_key)?;
        if zone.meta.group == group {
            return Ok(false);
        }
        zone.meta.group = group;
        zone.settings_changed = true;
        Ok(true)
    }

    /// Replaces (or creates) the zone `tree` describes, whole. `policy`: None keeps the stored
    /// policy, Some(p) makes it exactly `p`.
    pub fn replace_zone(&mut self, tree: ZoneTree, policy: Option<Option<GeoPolicy>>, serial: ImportSerial) -> Result<(), ZoneError> {
        if self.zones.contains_key(&tree.apex_key) {
            return Err(ZoneError::Refused(format!("zone {} is written twice in one command", tree.apex_text())));
        }
        self.check_writable(&tree.apex_key)?;
        super::replace::replace(self, tree, policy, serial)
    }

    /// Deletes a secondary zone's data (when it stops being one): the one local change a
    /// secondary zone takes.
    pub fn delete_secondary_data(&mut self, apex_key: &[u8]) -> Result<(), ZoneError> {
        let transfer = std::mem::replace(&mut self.transfer, true);
        let result = self.delete_zone(apex_key);
        self.transfer = transfer;
        result
    }

    /// Deletes the zone at `apex_key`: its sections go; names other zones still hold stay.
    pub fn delete_zone(&mut self, apex_key: &[u8]) -> Result<(), ZoneError> {
        self.check_writable(apex_key)?;
        let meta = match self.zones.remove(apex_key) {
            Some(pending) => pending.before,
            None => self.stored_meta(apex_key)?,
        };
        let meta = meta.ok_or_else(|| ZoneError::NoSuchZone(name::key_to_text(apex_key)))?;
        super::replace::delete(self, apex_key)?;
        self.deleted.push((apex_key.to_vec(), meta));
        Ok(())
    }

    /// The policy the pending zone at `apex_key` will have (None if untouched or without one).
    pub fn pending_policy(&self, apex_key: &[u8]) -> Option<GeoPolicy> {
        self.zones.get(apex_key).and_then(|z| z.meta.policy.clone())
    }

    pub(super) fn insert_pending(&mut self, apex_key: Vec<u8>, pending: Pending) {
        self.zones.insert(apex_key, pending);
    }

    /// Finishes the commit (see the module comment): per zone, the serial, metadata and journal;
    /// then change log, catalog and change counter. `bump`: edits without an SOA of their own get
    /// the next serial; without it such an edit is refused, as secondaries would never see it.
    pub fn finish(mut self, bump: bool) -> Result<Vec<ZoneSummary>, ZoneError> {
        let limits = JournalLimits::read(self.store, self.txn)?;
        let counter = self.store.change_counter(self.txn)? + 1;
        let time = now();
        let mut log = Vec::new();
        let mut members = Vec::new();
        let mut summaries = Vec::new();
        let zones = std::mem::take(&mut self.zones);
        for (apex, mut zone) in zones {
            let created = zone.before.is_none();
            let soa_now = self.apex_soa(&apex, zone.depth)?.ok_or_else(|| BuildError::NoSoa { apex: name::key_to_text(&apex) })?;
            self.check_apex(&apex, zone.depth)?;
            let changed = created || !zone.diff.is_empty() || zone.soa_before.as_ref() != Some(&soa_now);
            if !changed && !zone.settings_changed {
                continue;
            }
            let mut soa = soa_now;
            if changed && !created {
                soa = self.settle_serial(&apex, &zone, soa, bump)?;
                let (old_ttl, old_rdata) = zone.soa_before.clone().expect("an existing zone has an SOA");
                let (mut removed, mut added) = zone.diff.journal_records();
                let owner = name::key_to_wire(&apex);
                removed.insert(0, Record { owner: owner.clone(), rtype: rtype::SOA, class: CLASS_IN, ttl: old_ttl, rdata: old_rdata });
                added.insert(0, Record { owner, rtype: rtype::SOA, class: CLASS_IN, ttl: soa.0, rdata: soa.1.clone() });
                let serial_from = zone.meta.soa.serial;
                let fields =
                    soa_from_rdata(&soa.1).ok_or_else(|| ZoneError::Corrupt(format!("malformed SOA at {}", name::key_to_text(&apex))))?;
                let entry = Entry { serial_from, serial_to: fields.serial, time, removed, added };
                history::append_journal(self.store, self.txn, &apex, &mut zone.meta.journal, &entry, limits)?;
                if zone.replaced.is_none() {
                    // A replaced zone's count was taken from its new tree.
                    let records = zone.meta.records as i64 + zone.diff.record_delta();
                    zone.meta.records = records.max(0) as u64;
                }
            }
            if changed {
                zone.meta.soa =
                    soa_from_rdata(&soa.1).ok_or_else(|| ZoneError::Corrupt(format!("malformed SOA at {}", name::key_to_text(&apex))))?;
                zone.meta.last_change = time;
                zone.meta.changed_at = counter;
            }
            let kind = match (created, changed) {
                (true, _) => changes::Kind::Added,
                (false, true) => changes::Kind::Content,
                (false, false) => changes::Kind::Settings,
            };
            changes::push(&mut log, kind, &apex);
            let before_member = zone.before.as_ref().map(|m| history::member_of(&apex, m.group.as_deref()));
            members.push((apex.clone(), before_member, Some(history::member_of(&apex, zone.meta.group.as_deref()))));
            self.store.zones.put(self.txn, &apex, &zone.meta.encode()).map_err(lmdb(self.store))?;
            let mut summary = self.summary(&apex, &zone, created, changed);
            if changed && !created && zone.replaced.is_none() && !self.transfer {
                summary.warnings.extend(self.stale_signatures(&apex, &zone, &soa)?);
            }
            summaries.push(summary);
        }
        for (apex, meta) in std::mem::take(&mut self.deleted) {
            history::delete_journal(self.store, self.txn, &apex, &meta.journal)?;
            changes::push(&mut log, changes::Kind::Deleted, &apex);
            members.push((apex.clone(), Some(history::member_of(&apex, meta.group.as_deref())), None));
        }
        for apex in std::mem::take(&mut self.secondaries) {
            changes::push(&mut log, changes::Kind::Settings, &apex);
        }
        crash_point("writer:before-change-log");
        if !log.is_empty() {
            history::update_catalog(self.store, self.txn, &members)?;
            history::log_changes(self.store, self.txn, counter, &log)?;
            self.store.bump_change_counter(self.txn)?;
        }
        crash_point("writer:finished");
        Ok(summaries)
    }

    /// Checks now what [`ZoneWriter::finish`] will decide about the serial of the zone at
    /// `apex` replaced by an import, so the error can name the file.
    pub fn check_serial(&self, apex: &[u8]) -> Result<(), ZoneError> {
        let Some(zone) = self.zones.get(apex) else { return Ok(()) };
        if zone.before.is_none() {
            return Ok(());
        }
        let soa = self.apex_soa(apex, zone.depth)?.ok_or_else(|| BuildError::NoSoa { apex: name::key_to_text(apex) })?;
        if zone.diff.is_empty() && zone.soa_before.as_ref() == Some(&soa) {
            return Ok(());
        }
        next_serial(apex, zone, &soa.1, true).map(|_| ())
    }

    /// The SOA (TTL, RDATA) the changed zone at `apex` ends up with: its serial ahead of the one
    /// served before, as the rules say, written back to the apex if it had to move.
    fn settle_serial(&mut self, apex: &[u8], zone: &Pending, soa: (u32, Vec<u8>), bump: bool) -> Result<(u32, Vec<u8>), ZoneError> {
        let Some(next) = next_serial(apex, zone, &soa.1, bump)? else { return Ok(soa) };
        let zone_name = name::key_to_text(apex);
        let (old_bytes, mut node) = self.load(apex)?;
        let section = node.section_mut(zone.depth).expect("the apex has its zone's section");
        let rrset = section.find_mut(rtype::SOA, 0, b"").expect("checked: the apex has an SOA");
        let rdata = rrset.rdatas.first_mut().expect("an SOA RRset has its record");
        let at = lmdb_schema::zone::soa_serial_offset(rdata).ok_or_else(|| ZoneError::Corrupt(format!("malformed SOA at {zone_name}")))?;
        rdata[at..at + 4].copy_from_slice(&next.to_be_bytes());
        let result = (rrset.ttl, rdata.clone());
        self.store_node(apex, &mut node, old_bytes.as_deref())?;
        Ok(result)
    }

    /// Warnings for an edit of a signed zone that left signatures stale (see `signed`).
    fn stale_signatures(&self, apex: &[u8], zone: &Pending, soa: &(u32, Vec<u8>)) -> Result<Vec<String>, ZoneError> {
        let (_, apex_node) = self.load(apex)?;
        if !apex_node.section(zone.depth).is_some_and(signed::is_signed_apex) {
            return Ok(Vec::new());
        }
        let soa_changed = zone.soa_before.as_ref() != Some(soa);
        Ok(signed::stale_signatures(apex, &zone.diff, soa_changed, |owner, rtype| {
            // Glue and a delegation's NS are never signed (RFC 4035 §2.2).
            match self.load(owner).ok().and_then(|(_, node)| node.section(zone.depth).cloned()) {
                Some(section) => {
                    let has = |flag| section.flags & flag != 0;
                    !(has(lmdb_schema::node::flags::BELOW_CUT) || rtype == rtype::NS && has(lmdb_schema::node::flags::CUT))
                }
                None => true,
            }
        }))
    }

    /// The zone invariants the server relies on, after the edits: SOA and NS at the apex.
    fn check_apex(&self, apex: &[u8], depth: u8) -> Result<(), ZoneError> {
        let (_, node) = self.load(apex)?;
        let section = node.section(depth);
        if section.is_none_or(|s| s.find(rtype::NS, 0, b"").is_none()) {
            return Err(BuildError::NoApexNs { apex: name::key_to_text(apex) }.into());
        }
        Ok(())
    }

    fn summary(&self, apex: &[u8], zone: &Pending, created: bool, changed: bool) -> ZoneSummary {
        let warnings = if zone.policy_changed {
            // After a policy change every variant of the zone is checked again (a scan of the
            // zone, which policy changes alone pay).
            match super::load_zone(self.store, self.txn, apex) {
                Ok(Some((tree, _))) => geo::unmatchable(&zone.meta.apex, &geo::variants(&tree), zone.meta.policy.as_ref()),
                _ => Vec::new(),
            }
        } else {
            geo::unmatchable(&zone.meta.apex, &zone.variants, zone.meta.policy.as_ref())
        };
        ZoneSummary {
            apex: zone.meta.apex.clone(),
            serial: zone.meta.soa.serial,
            records: zone.meta.records,
            policy: zone.meta.policy.clone(),
            created,
            changed,
            warnings,
        }
    }
}

/// A node over the format's limits, named for people.
pub(super) fn limit_message(key: &[u8], error: &lmdb_schema::node::LimitError) -> String {
    use lmdb_schema::node::{LimitError, MAX_RRSET_BYTES};
    let owner = name::key_to_text(key);
    match error {
        LimitError::RrsetTooLarge { rtype, condition, records, bytes } => {
            let variant = if condition.is_empty() { String::new() } else { format!(" (variant {})", String::from_utf8_lossy(condition)) };
            format!(
                "{owner} {}{variant}: {records} records take {bytes} bytes; one RRset may take at most {MAX_RRSET_BYTES} \
                 (it must fit a 64 KiB DNS message to be answered at all)",
                crate::zonefile::types::type_name(*rtype)
            )
        }
        LimitError::TooManyRrsets { .. } => format!("{owner}: {error}"),
    }
}

/// The serial a changed zone must be given instead of the one its SOA has now (None: keep it).
/// Serials only move forward (RFC 1982): an import's own serial must be ahead unless it may be
/// bumped; an edit's SOA, if it set one, must be ahead; otherwise an edit gets the next serial
/// when `bump`, and is refused without.
fn next_serial(apex: &[u8], zone: &Pending, soa_rdata: &[u8], bump: bool) -> Result<Option<u32>, ZoneError> {
    let old = zone.meta.soa.serial;
    let now = soa_from_rdata(soa_rdata).map(|f| f.serial).unwrap_or(old);
    let zone_name = name::key_to_text(apex);
    Ok(Some(match zone.replaced {
        Some(_) if serial_gt(now, old) => return Ok(None),
        Some(ImportSerial::BumpIfBehind) => old.wrapping_add(1),
        Some(ImportSerial::MustAdvance) => {
            return Err(ZoneError::Refused(format!(
                "zone {zone_name}: the new content has serial {now}, not ahead of the served serial {old} (RFC 1982), so \
                 secondaries would never pick it up; raise the SOA serial in the file, or pass --bump-serial to serve \
                 it as serial {}",
                old.wrapping_add(1)
            )))
        }
        None if zone.soa_set && serial_gt(now, old) => return Ok(None),
        None if zone.soa_set => {
            return Err(ZoneError::Refused(format!(
                "zone {zone_name}: the new SOA has serial {now}, not ahead of the served serial {old} (RFC 1982); \
                 give a higher serial"
            )))
        }
        None if bump => old.wrapping_add(1),
        None => {
            return Err(ZoneError::Refused(format!(
                "zone {zone_name}: --no-serial-bump would change the zone at serial {old}, which secondaries would \
                 never pick up; leave the serial to the loader or add an SOA with a higher serial in the same change"
            )))
        }
    }))
}

/// The name key of a wire owner name.
pub(super) fn owner_key(owner: &[u8]) -> Result<Vec<u8>, ZoneError> {
    name::key_from_wire(owner).map_err(|error| BuildError::BadName { owner: name::wire_to_text(owner), error }.into())
}
