//! Every zone change goes through here, inside the caller's write transaction: a whole zone
//! replaced ([`replace_zone`]), deleted ([`delete_zone`]), or edited ([`ZoneEdits`]).
//!
//! Edits load the zone's tree, change it, and write back only the names whose bytes changed, so
//! the flags (cuts, wildcards, empty non-terminals) are always those a fresh import would give.
//! The per-zone old/new trees are also exactly the diff a future IXFR journal needs.

pub mod build;
pub mod geo;

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use heed::RwTxn;
use lmdb_schema::name;
use lmdb_schema::node::{Node, NodeView, Section};
use lmdb_schema::zone::{soa_from_rdata, GeoPolicy, ZoneMeta};
use lmdb_schema::{Store, StoreError};

pub use build::{bump_serial, BuildError, Rr, ZoneTree};

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
    #[error("corrupt database: {0}")]
    Corrupt(String),
}

fn lmdb(store: &Store) -> impl Fn(heed::Error) -> ZoneError + '_ {
    move |e| ZoneError::Store(store.error(e))
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Label count of the deepest zone apex strictly above `apex_key`, if any zone is there.
fn enclosing_zone(store: &Store, txn: &RwTxn, apex_key: &[u8]) -> Result<Option<u8>, ZoneError> {
    let Some(parent) = name::parent(apex_key) else { return Ok(None) };
    Ok(zone_for(store, txn, parent)?.map(|apex| name::label_count(&apex) as u8))
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

/// Writes `tree` as the whole content of its zone (finished first), replacing any previous
/// version; keeps the policy of a zone already present unless `policy` is given.
pub fn replace_zone(store: &Store, txn: &mut RwTxn, tree: ZoneTree, policy: Option<GeoPolicy>) -> Result<ZoneMeta, ZoneError> {
    write_zone(store, txn, tree, policy.map(Some))
}

/// As [`replace_zone`], but the zone's policy becomes exactly `policy` (None clears it).
pub fn replace_zone_with_policy(store: &Store, txn: &mut RwTxn, tree: ZoneTree, policy: Option<GeoPolicy>) -> Result<ZoneMeta, ZoneError> {
    write_zone(store, txn, tree, Some(policy))
}

/// `policy`: None keeps the stored policy, Some(p) sets it to `p`.
fn write_zone(store: &Store, txn: &mut RwTxn, mut tree: ZoneTree, policy: Option<Option<GeoPolicy>>) -> Result<ZoneMeta, ZoneError> {
    let mut policy = match policy {
        Some(policy) => policy,
        None => match store.zones.get(txn, &tree.apex_key).map_err(lmdb(store))? {
            Some(bytes) => ZoneMeta::decode(bytes).ok().and_then(|m| m.policy),
            None => None,
        },
    };
    // The policy's whoami names are checked against the zone on every write, whatever changed.
    let whoami = match policy.as_mut() {
        Some(p) => geo::normalize_whoami(&tree.apex_key, p)?,
        None => Vec::new(),
    };
    tree.finish_with_whoami(&whoami)?;
    check_whoami_zones(store, txn, &tree.apex_key, &whoami)?;
    check_enclosing_whoami(store, txn, &tree.apex_key)?;
    let depth = tree.depth;
    let records = tree.record_count();
    let soa = tree.soa().and_then(soa_from_rdata).ok_or_else(|| ZoneError::Corrupt(format!("malformed SOA at {}", tree.apex_text())))?;

    // Merge with what is stored under the apex: other zones' sections stay (a child zone below
    // us, the parent's glue), ours are replaced. Only names whose bytes change are written.
    let mut existing: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for item in store.names.prefix_iter(txn, &tree.apex_key).map_err(lmdb(store))? {
        let (key, value) = item.map_err(lmdb(store))?;
        existing.push((key.to_vec(), value.to_vec()));
    }
    let mut new_sections = std::mem::take(&mut tree.names);
    let mut buf = Vec::new();
    // Apexes of deeper zones below ours: names we add under them are answered by them.
    let mut child_apexes: Vec<(Vec<u8>, u8)> = Vec::new();
    for (key, old) in &existing {
        let mut node = Node::decode(old).map_err(|e| ZoneError::Corrupt(format!("{}: {e}", name::key_to_text(key))))?;
        if let Some(child) = node.sections.iter().find(|s| s.zone > depth && s.flags & lmdb_schema::node::flags::APEX != 0) {
            child_apexes.push((key.clone(), child.zone));
        }
        node.remove_section(depth);
        if let Some(section) = new_sections.remove(key) {
            node.sections.push(section);
        }
        // A deeper zone's apex above this name keeps it; otherwise this zone is the deepest.
        node.deepest = node.deepest.max(depth);
        if node.sections.is_empty() {
            store.names.delete(txn, key).map_err(lmdb(store))?;
        } else {
            node.encode(&mut buf);
            if buf != *old {
                store.names.put(txn, key, &buf).map_err(lmdb(store))?;
            }
        }
    }
    for (key, section) in new_sections {
        let deepest = child_apexes.iter().filter(|(apex, _)| key.starts_with(apex)).map(|(_, d)| *d).max().unwrap_or(depth);
        let mut node = Node { deepest, sections: vec![section] };
        node.encode(&mut buf);
        store.names.put(txn, &key, &buf).map_err(lmdb(store))?;
    }
    let meta = ZoneMeta { apex: tree.apex_text(), soa, records, last_change: now(), policy };
    store.zones.put(txn, &tree.apex_key, &meta.encode()).map_err(lmdb(store))?;
    store.bump_change_counter(txn)?;
    Ok(meta)
}

/// A whoami name at or below the apex of a deeper zone served here would be answered by that
/// zone, never by this one's policy.
fn check_whoami_zones(store: &Store, txn: &RwTxn, apex_key: &[u8], whoami: &[Vec<u8>]) -> Result<(), ZoneError> {
    for key in whoami {
        let mut at = Some(key.as_slice());
        while let Some(k) = at.filter(|k| k.len() > apex_key.len()) {
            if store.zones.get(txn, k).map_err(lmdb(store))?.is_some() {
                let reason = format!("is inside the zone {} served here, which answers for it", name::key_to_text(k));
                return Err(BuildError::Whoami { name: name::key_to_text(key), reason }.into());
            }
            at = name::parent(k);
        }
    }
    Ok(())
}

/// The other side of [`check_whoami_zones`]: a zone at or above a whoami name of an enclosing
/// zone's policy would take that name over (and leave the enclosing zone unwritable).
fn check_enclosing_whoami(store: &Store, txn: &RwTxn, apex_key: &[u8]) -> Result<(), ZoneError> {
    let mut at = name::parent(apex_key);
    while let Some(key) = at {
        if let Some(bytes) = store.zones.get(txn, key).map_err(lmdb(store))? {
            let policy = ZoneMeta::decode(bytes).ok().and_then(|m| m.policy);
            for whoami in policy.iter().flat_map(|p| &p.whoami) {
                if name::key_from_dotted(whoami).is_ok_and(|k| k.starts_with(apex_key)) {
                    let reason = format!(
                        "is a whoami name of the policy of {}, and the zone {} would answer for it; take it out of that policy first",
                        name::key_to_text(key),
                        name::key_to_text(apex_key)
                    );
                    return Err(BuildError::Whoami { name: whoami.clone(), reason }.into());
                }
            }
        }
        at = name::parent(key);
    }
    Ok(())
}

/// Removes a zone: its sections go; names that other zones still hold stay.
pub fn delete_zone(store: &Store, txn: &mut RwTxn, apex_key: &[u8]) -> Result<(), ZoneError> {
    if store.zones.get(txn, apex_key).map_err(lmdb(store))?.is_none() {
        return Err(ZoneError::NoSuchZone(name::key_to_text(apex_key)));
    }
    let depth = name::label_count(apex_key) as u8;
    let enclosing = enclosing_zone(store, txn, apex_key)?;
    let mut existing: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for item in store.names.prefix_iter(txn, apex_key).map_err(lmdb(store))? {
        let (key, value) = item.map_err(lmdb(store))?;
        existing.push((key.to_vec(), value.to_vec()));
    }
    let mut buf = Vec::new();
    for (key, old) in existing {
        let mut node = Node::decode(&old).map_err(|e| ZoneError::Corrupt(format!("{}: {e}", name::key_to_text(&key))))?;
        node.remove_section(depth);
        if node.sections.is_empty() {
            store.names.delete(txn, &key).map_err(lmdb(store))?;
            continue;
        }
        if node.deepest == depth {
            // Only the parent's glue is left here: the parent zone answers for it again.
            node.deepest = enclosing.unwrap_or(0);
        }
        node.encode(&mut buf);
        store.names.put(txn, &key, &buf).map_err(lmdb(store))?;
    }
    store.zones.delete(txn, apex_key).map_err(lmdb(store))?;
    store.bump_change_counter(txn)?;
    Ok(())
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

/// Record-level changes to any number of zones, applied together by [`ZoneEdits::commit`] in the
/// caller's transaction: each touched zone is rebuilt once and its SOA serial bumped once.
#[derive(Default)]
pub struct ZoneEdits {
    zones: BTreeMap<Vec<u8>, EditedZone>,
}

struct EditedZone {
    tree: ZoneTree,
    policy: Option<GeoPolicy>,
    soa_touched: bool,
    /// Records changed (the serial is bumped).
    changed: bool,
    /// The policy changed (no record did, so no serial bump for this alone).
    policy_changed: bool,
    /// Metadata keys of the variants added in this batch, to warn about unmatchable ones.
    variant_keys: std::collections::BTreeSet<String>,
}

/// What one committed zone looks like after the edits.
#[derive(Debug)]
pub struct EditedSummary {
    pub apex: String,
    pub serial: u32,
    pub records: u64,
    pub policy: Option<GeoPolicy>,
    /// Variants added (or, after a policy change, any variant) that the policy can never select.
    pub warnings: Vec<String>,
}

impl ZoneEdits {
    fn zone_mut(&mut self, store: &Store, txn: &RwTxn, owner: &[u8]) -> Result<&mut EditedZone, ZoneError> {
        let owner_key = name::key_from_wire(owner).map_err(|error| BuildError::BadName { owner: name::wire_to_text(owner), error })?;
        let apex = zone_for(store, txn, &owner_key)?.ok_or_else(|| ZoneError::NoZoneFor(name::wire_to_text(owner)))?;
        // A zone edited earlier in this batch lives in memory, not yet in the store.
        let known = self.zones.keys().filter(|k| name::is_at_or_below(&owner_key, k)).max_by_key(|k| k.len()).cloned();
        let apex = match known {
            Some(k) if k.len() >= apex.len() => k,
            _ => apex,
        };
        if !self.zones.contains_key(&apex) {
            let (tree, meta) = load_zone(store, txn, &apex)?.ok_or_else(|| ZoneError::NoSuchZone(name::key_to_text(&apex)))?;
            let zone = EditedZone {
                tree,
                policy: meta.policy,
                soa_touched: false,
                changed: false,
                policy_changed: false,
                variant_keys: Default::default(),
            };
            self.zones.insert(apex.clone(), zone);
        }
        Ok(self.zones.get_mut(&apex).expect("inserted above"))
    }

    /// Drops pending edits of a zone (it is being deleted in the same transaction). Zones below
    /// it are separate zones and keep theirs.
    pub fn forget(&mut self, apex_key: &[u8]) {
        self.zones.remove(apex_key);
    }

    /// Adds a record to the zone that holds its owner. Returns false if it was already there.
    pub fn add(&mut self, store: &Store, txn: &RwTxn, rr: &Rr) -> Result<bool, ZoneError> {
        let zone = self.zone_mut(store, txn, &rr.owner)?;
        // Refused here too (not only when the zone is written) so the caller can name the change.
        if let Some(policy) = zone.policy.as_ref().filter(|p| !p.whoami.is_empty()) {
            let owner = name::key_from_wire(&rr.owner).map(|k| name::key_to_text(&k)).unwrap_or_default();
            if policy.whoami.contains(&owner) {
                let rtype = crate::zonefile::type_name(rr.rtype);
                let reason = format!("is in the zone's policy, so the {rtype} record is refused; {}", build::WHOAMI_NO_RECORDS);
                return Err(BuildError::Whoami { name: owner, reason }.into());
            }
        }
        if rr.rtype == 6 && rr.condition.is_empty() {
            // One SOA per zone: a new one replaces the old.
            zone.tree.remove(&rr.owner, 6, None, b"")?;
            zone.soa_touched = true;
        }
        let added = zone.tree.insert(rr)?;
        // Per-name rules are checked now, so the caller can name the change that broke them.
        zone.tree.check_owner(&rr.owner)?;
        // An operator's add states the TTL the RRset should have from now on (as an RFC 2136
        // update does); a file import instead keeps the first record's TTL.
        let retimed = zone.tree.set_ttl(&rr.owner, rr.rtype, &rr.condition, rr.ttl)?;
        zone.changed |= added || retimed;
        if let Some((key, _)) = geo::split_condition(&rr.condition) {
            zone.variant_keys.insert(key.to_string());
        }
        Ok(added || retimed)
    }

    /// Deletes one record (with `rdata`) or a whole RRset. Returns how many records went.
    pub fn delete(
        &mut self,
        store: &Store,
        txn: &RwTxn,
        owner: &[u8],
        rtype: u16,
        rdata: Option<&[u8]>,
        condition: &[u8],
    ) -> Result<usize, ZoneError> {
        let zone = self.zone_mut(store, txn, owner)?;
        let removed = zone.tree.remove(owner, rtype, rdata, condition)?;
        zone.changed |= removed > 0;
        zone.soa_touched |= rtype == 6 && removed > 0;
        Ok(removed)
    }

    /// Sets (Some) or clears (None) the metadata-selection policy of the zone whose apex is
    /// `apex` (wire format; a name inside a zone is an error). Returns false if it was already so.
    pub fn set_policy(&mut self, store: &Store, txn: &RwTxn, apex: &[u8], policy: Option<GeoPolicy>) -> Result<bool, ZoneError> {
        let zone = self.zone_mut(store, txn, apex)?;
        let key = name::key_from_wire(apex).map_err(|error| BuildError::BadName { owner: name::wire_to_text(apex), error })?;
        if zone.tree.apex_key != key {
            return Err(ZoneError::NoSuchZone(name::key_to_text(&key)));
        }
        if zone.policy == policy {
            return Ok(false);
        }
        zone.policy = policy;
        zone.policy_changed = true;
        Ok(true)
    }

    /// Writes every changed zone, bumping its serial unless `bump_serial` is false or the edits
    /// set the SOA themselves.
    pub fn commit(self, store: &Store, txn: &mut RwTxn, bump: bool) -> Result<Vec<EditedSummary>, ZoneError> {
        let mut summaries = Vec::new();
        for (_, mut zone) in self.zones {
            if !zone.changed && !zone.policy_changed {
                continue;
            }
            if bump && zone.changed && !zone.soa_touched {
                if let Some(soa) = zone.tree.soa_mut() {
                    bump_serial(soa);
                }
            }
            // After a policy change every variant is checked again; otherwise only new ones.
            let mut variants = geo::variants(&zone.tree);
            if !zone.policy_changed {
                variants.retain(|v| zone.variant_keys.contains(v.key()));
            }
            let warnings = geo::unmatchable(&zone.tree.apex_text(), &variants, zone.policy.as_ref());
            let meta = replace_zone_with_policy(store, txn, zone.tree, zone.policy)?;
            summaries.push(EditedSummary {
                apex: meta.apex,
                serial: meta.soa.serial,
                records: meta.records,
                policy: meta.policy,
                warnings,
            });
        }
        Ok(summaries)
    }
}

/// Every zone's metadata, in canonical order of apex names.
pub fn list_zones(store: &Store, txn: &heed::RoTxn) -> Result<Vec<ZoneMeta>, ZoneError> {
    let mut zones = Vec::new();
    for item in store.zones.iter(txn).map_err(lmdb(store))? {
        let (key, value) = item.map_err(lmdb(store))?;
        zones.push(ZoneMeta::decode(value).map_err(|e| ZoneError::Corrupt(format!("zone metadata of {}: {e}", name::key_to_text(key))))?);
    }
    Ok(zones)
}
