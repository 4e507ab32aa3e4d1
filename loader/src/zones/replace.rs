//! Whole zones: replaced by an import (compared name by name with what is stored; only names
//! whose bytes differ are written, and the difference is noted for the journal), or deleted.
//!
//! A name can hold sections of several zones (a parent's delegation and glue beside a child
//! zone's apex and names); only this zone's sections are replaced, and each node's `deepest`
//! (the deepest apex at or above the name) is kept right as zones come and go.

use lmdb_schema::name;
use lmdb_schema::node::{flags, Node};
use lmdb_schema::zone::{soa_from_rdata, GeoPolicy, ZoneMeta};

use super::diff::{policy_id, Diff};
use super::writer::{now, ImportSerial, Pending, ZoneWriter};
use super::{lmdb, BuildError, ZoneError, ZoneTree};

pub(super) fn replace(
    w: &mut ZoneWriter<'_, '_>,
    mut tree: ZoneTree,
    policy: Option<Option<GeoPolicy>>,
    serial: ImportSerial,
) -> Result<(), ZoneError> {
    let (store, apex) = (w.store, tree.apex_key.clone());
    let before = w.stored_meta(&apex)?;
    let mut policy = match policy {
        Some(policy) => policy,
        None => before.as_ref().and_then(|m| m.policy.clone()),
    };
    // The policy's whoami names are checked against the zone on every write, whatever changed.
    let whoami = super::standalone::finish_with_policy(&mut tree, policy.as_mut())?;
    check_whoami_zones(w, &apex, &whoami)?;
    check_enclosing_whoami(w, &apex)?;
    let depth = tree.depth;
    let records = tree.record_count();
    let soa = tree.soa().and_then(soa_from_rdata).ok_or_else(|| ZoneError::Corrupt(format!("malformed SOA at {}", tree.apex_text())))?;
    let soa_before = match before {
        Some(_) => w.apex_soa(&apex, depth)?,
        None => None,
    };
    // A new zone has no journal, so its content is not noted record by record.
    let noting = before.is_some();
    let mut diff = Diff::default();

    let mut existing: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for item in store.names.prefix_iter(w.txn(), &apex).map_err(lmdb(store))? {
        let (key, value) = item.map_err(lmdb(store))?;
        existing.push((key.to_vec(), value.to_vec()));
    }
    let mut new_sections = std::mem::take(&mut tree.names);
    // Apexes of deeper zones below ours: names we add under them are answered by them.
    let mut child_apexes: Vec<(Vec<u8>, u8)> = Vec::new();
    for (key, old) in &existing {
        let mut node = Node::decode(old).map_err(|e| ZoneError::Corrupt(format!("{}: {e}", name::key_to_text(key))))?;
        if let Some(child) = node.sections.iter().find(|s| s.zone > depth && s.flags & flags::APEX != 0) {
            child_apexes.push((key.clone(), child.zone));
        }
        let old_section = node.remove_section(depth);
        let new_section = new_sections.remove(key);
        if noting {
            diff.sections(key, old_section.as_ref(), new_section.as_ref());
        }
        if let Some(section) = new_section {
            node.sections.push(section);
        }
        // A deeper zone's apex above this name keeps it; otherwise this zone is the deepest.
        node.deepest = node.deepest.max(depth);
        w.store_node(key, &mut node, Some(old))?;
    }
    for (key, section) in new_sections {
        if noting {
            diff.sections(&key, None, Some(&section));
        }
        let deepest = child_apexes.iter().filter(|(apex, _)| key.starts_with(apex)).map(|(_, d)| *d).max().unwrap_or(depth);
        let mut node = Node { deepest, sections: vec![section], extension: Vec::new() };
        w.store_node(&key, &mut node, None)?;
    }
    let old_policy = before.as_ref().and_then(|m| m.policy.clone());
    let policy_changed = before.is_some() && old_policy != policy;
    if policy_changed {
        if let Some(p) = &old_policy {
            diff.removed(policy_id(&apex, serde_json::to_vec(p).expect("policy serializes")), 0);
        }
        if let Some(p) = &policy {
            diff.added(policy_id(&apex, serde_json::to_vec(p).expect("policy serializes")), 0);
        }
    }
    let mut meta = match &before {
        Some(meta) => meta.clone(),
        None => ZoneMeta::new(tree.apex_text(), soa.clone(), records, now(), policy.clone()),
    };
    meta.policy = policy;
    meta.records = records;
    // Written now so later changes of this commit (a zone below, a whoami check) see the zone;
    // `finish` writes the final version.
    if before.is_none() {
        store.zones.put(w.txn, &apex, &meta.encode()).map_err(lmdb(store))?;
    }
    let pending = Pending {
        depth,
        before,
        soa_before,
        meta,
        diff,
        replaced: Some(serial),
        soa_set: false,
        settings_changed: false,
        policy_changed,
        variants: Vec::new(),
    };
    w.insert_pending(apex, pending);
    Ok(())
}

/// A whoami name at or below the apex of a deeper zone served here would be answered by that
/// zone, never by this one's policy.
fn check_whoami_zones(w: &ZoneWriter<'_, '_>, apex_key: &[u8], whoami: &[Vec<u8>]) -> Result<(), ZoneError> {
    for key in whoami {
        let mut at = Some(key.as_slice());
        while let Some(k) = at.filter(|k| k.len() > apex_key.len()) {
            if w.store.zones.get(w.txn(), k).map_err(lmdb(w.store))?.is_some() {
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
fn check_enclosing_whoami(w: &ZoneWriter<'_, '_>, apex_key: &[u8]) -> Result<(), ZoneError> {
    let mut at = name::parent(apex_key);
    while let Some(key) = at {
        if let Some(bytes) = w.store.zones.get(w.txn(), key).map_err(lmdb(w.store))? {
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

/// Removes a zone's sections and its metadata; names other zones still hold stay.
pub(super) fn delete(w: &mut ZoneWriter<'_, '_>, apex_key: &[u8]) -> Result<(), ZoneError> {
    let store = w.store;
    let depth = name::label_count(apex_key) as u8;
    let enclosing = match name::parent(apex_key) {
        Some(parent) => super::zone_for(store, w.txn(), parent)?.map(|apex| name::label_count(&apex) as u8),
        None => None,
    };
    let mut existing: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for item in store.names.prefix_iter(w.txn(), apex_key).map_err(lmdb(store))? {
        let (key, value) = item.map_err(lmdb(store))?;
        existing.push((key.to_vec(), value.to_vec()));
    }
    for (key, old) in existing {
        let mut node = Node::decode(&old).map_err(|e| ZoneError::Corrupt(format!("{}: {e}", name::key_to_text(&key))))?;
        node.remove_section(depth);
        if node.deepest == depth {
            // Only the parent's glue is left here: the parent zone answers for it again.
            node.deepest = enclosing.unwrap_or(0);
        }
        w.store_node(&key, &mut node, Some(&old))?;
    }
    store.zones.delete(w.txn, apex_key).map_err(lmdb(store))?;
    Ok(())
}
