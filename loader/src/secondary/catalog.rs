//! Catalog consumer (RFC 9432): a followed catalog zone is itself a secondary zone; each time a
//! new version of it is committed, its member list is made true here in the same transaction —
//! every member a secondary zone of the catalog's primaries (or of the primaries its `group`
//! maps to, `catalog group`), members gone from the catalog deleted with their data.
//!
//! * §4.3: only a catalog of `version` "2" is processed; any other refuses the transfer.
//! * §4.1: a member is `<id>.zones.<catalog> PTR <zone>`; a label with more than one PTR is
//!   broken and ignored, as is a zone listed under two labels (the first stays).
//! * §5.5: a member whose label changed is reset — its data dropped, transferred afresh.
//! * §5.4, §5.6: a zone already here (served as a primary, or a member of another catalog) is
//!   left alone, unless that catalog's `coo` property hands it to this one; it then moves,
//!   reset unless its label is the same in both.

use std::collections::BTreeMap;

use heed::RwTxn;
use lmdb_schema::meta_keys;
use lmdb_schema::secondary::{CatalogGroups, SecondaryZone};
use lmdb_schema::{name, rtype, Store};

use crate::zones::{ZoneTree, ZoneWriter};

/// One member as the catalog lists it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Member {
    /// The member zone's name key.
    pub zone: Vec<u8>,
    pub group: Option<String>,
    /// `coo`: the catalog (presentation form) this member is moving to.
    pub coo: Option<String>,
}

/// The first string of each TXT record of an RRset.
fn txt_strings(rdatas: &[Vec<u8>]) -> Vec<String> {
    rdatas.iter().filter_map(|r| r.get(1..1 + *r.first()? as usize)).map(|s| String::from_utf8_lossy(s).into_owned()).collect()
}

/// The members of the catalog in `tree`, by label (lower case). Errors: a catalog this
/// consumer must not process.
pub fn members(tree: &ZoneTree) -> Result<BTreeMap<String, Member>, String> {
    let apex_labels = name::label_count(&tree.apex_key);
    let mut version = None;
    let mut ptrs: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    let mut groups: BTreeMap<String, String> = BTreeMap::new();
    let mut coos: BTreeMap<String, String> = BTreeMap::new();
    for (key, section) in &tree.names {
        let wire = name::key_to_wire(key);
        let Ok(labels) = name::wire_labels(&wire) else { continue };
        let relative: Vec<String> =
            labels[..labels.len().saturating_sub(apex_labels)].iter().map(|l| String::from_utf8_lossy(l).to_ascii_lowercase()).collect();
        let rrset = |t: u16| section.rrsets.iter().find(|r| r.rtype == t && r.condition.is_empty()).map(|r| r.rdatas.clone());
        match relative.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
            ["version"] => version = rrset(rtype::TXT).map(|r| txt_strings(&r)),
            [id, "zones"] => {
                if let Some(r) = rrset(rtype::PTR) {
                    ptrs.insert(id.to_string(), r);
                }
            }
            ["group", id, "zones"] => {
                if let Some(g) = rrset(rtype::TXT).and_then(|r| txt_strings(&r).into_iter().next()) {
                    groups.insert(id.to_string(), g);
                }
            }
            ["coo", id, "zones"] => {
                if let Some(target) = rrset(rtype::PTR).and_then(|r| r.first().cloned()) {
                    coos.insert(id.to_string(), name::wire_to_text(&target).to_ascii_lowercase());
                }
            }
            _ => {}
        }
    }
    match version.as_deref() {
        Some([v]) if v == "2" => {}
        Some(v) => return Err(format!("catalog {}: version {v:?}, not \"2\" (RFC 9432 §4.3): not processed", tree.apex_text())),
        None => return Err(format!("catalog {}: no version TXT record (RFC 9432 §4.3): not processed", tree.apex_text())),
    }
    let mut out = BTreeMap::new();
    let mut seen = BTreeMap::new();
    for (id, rdatas) in ptrs {
        let [target] = rdatas.as_slice() else {
            tracing::warn!(catalog = %tree.apex_text(), id, "member label with several PTR records: ignored (RFC 9432 §4.1)");
            continue;
        };
        let Ok(zone) = name::key_from_wire(target) else { continue };
        if let Some(first) = seen.insert(zone.clone(), id.clone()) {
            tracing::warn!(catalog = %tree.apex_text(), zone = %name::key_to_text(&zone), first, id, "zone listed twice: the first label stays");
            seen.insert(zone, first);
            continue;
        }
        out.insert(id.clone(), Member { zone, group: groups.get(&id).cloned(), coo: coos.get(&id).cloned() });
    }
    Ok(out)
}

fn lmdb(store: &Store) -> impl Fn(heed::Error) -> String + '_ {
    move |e| store.error(e).to_string()
}

/// Reads the group → primaries map.
pub fn groups(store: &Store, txn: &heed::RoTxn) -> Result<CatalogGroups, String> {
    match store.meta.get(txn, meta_keys::CATALOG_GROUPS).map_err(lmdb(store))? {
        Some(bytes) => serde_json::from_slice(bytes).map_err(|e| format!("catalog groups: {e}")),
        None => Ok(CatalogGroups::new()),
    }
}

/// Makes the members of the catalog at `catalog_apex` (as just committed in `txn`) secondary
/// zones, and removes the ones it no longer lists.
pub fn reconcile(store: &Store, txn: &mut RwTxn<'_>, catalog_apex: &[u8], catalog: &SecondaryZone) -> Result<(), String> {
    let (tree, _) = crate::zones::load_zone(store, txn, catalog_apex)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("catalog {} is not loaded", name::key_to_text(catalog_apex)))?;
    let listed = members(&tree)?;
    let groups = groups(store, txn)?;
    let this = catalog.zone.clone();
    let mut ours: BTreeMap<Vec<u8>, SecondaryZone> = BTreeMap::new();
    for (apex, state) in super::list(store, txn).map_err(|e| format!("{e:#}"))? {
        if state.catalog.as_deref() == Some(this.as_str()) {
            ours.insert(apex, state);
        }
    }
    let mut writer = ZoneWriter::for_transfer(store, txn);
    let (mut added, mut reset, mut removed) = (0, 0, 0);
    for (id, member) in &listed {
        let (primaries, key) = match member.group.as_ref().and_then(|g| groups.get(g)) {
            Some(g) => (g.primaries.clone(), g.key.clone()),
            None => (catalog.primaries.clone(), catalog.key.clone()),
        };
        let zone_text = name::key_to_text(&member.zone);
        let existing = match ours.remove(&member.zone) {
            Some(state) => Some(state),
            None => writer.secondary(&member.zone).map_err(|e| e.to_string())?,
        };
        let fresh = || SecondaryZone {
            zone: zone_text.clone(),
            primaries: primaries.clone(),
            key: key.clone(),
            catalog: Some(this.clone()),
            member_id: Some(id.clone()),
            group: member.group.clone(),
            ..Default::default()
        };
        let next = match existing {
            Some(mut state) if state.catalog.as_deref() == Some(this.as_str()) => {
                if state.member_id.as_deref() != Some(id.as_str()) {
                    // §5.5: a new label for the zone resets it.
                    drop_data(&mut writer, &member.zone)?;
                    reset += 1;
                    fresh()
                } else {
                    state.primaries = primaries.clone();
                    state.key = key.clone();
                    state.coo = member.coo.clone();
                    state.group = member.group.clone();
                    state
                }
            }
            Some(state) if state.catalog.is_some() && state.coo.as_deref() == Some(this.as_str()) => {
                // §5.6: handed over by its catalog.
                tracing::info!(zone = %zone_text, from = state.catalog.as_deref().unwrap_or("-"), to = %this, "member zone changes catalog");
                if state.member_id.as_deref() == Some(id.as_str()) {
                    SecondaryZone {
                        zone: zone_text.clone(),
                        primaries: primaries.clone(),
                        key: key.clone(),
                        catalog: Some(this.clone()),
                        group: member.group.clone(),
                        coo: None,
                        ..state
                    }
                } else {
                    drop_data(&mut writer, &member.zone)?;
                    reset += 1;
                    fresh()
                }
            }
            Some(state) => {
                let owner = state.catalog.map_or_else(|| "configured by hand".to_string(), |c| format!("a member of catalog {c}"));
                tracing::warn!(zone = %zone_text, catalog = %this, "member zone already here ({owner}): left alone (RFC 9432 §5.4)");
                continue;
            }
            None if writer.stored_meta(&member.zone).map_err(|e| e.to_string())?.is_some() => {
                tracing::warn!(zone = %zone_text, catalog = %this, "member zone is served here as a primary zone: left alone (RFC 9432 §5.4)");
                continue;
            }
            None => {
                added += 1;
                fresh()
            }
        };
        writer.set_secondary(&member.zone, Some(&next)).map_err(|e| e.to_string())?;
    }
    for (apex, _) in ours {
        drop_data(&mut writer, &apex)?;
        writer.set_secondary(&apex, None).map_err(|e| e.to_string())?;
        super::apply::set_expired(&mut writer, &apex, false).map_err(|e| e.to_string())?;
        removed += 1;
    }
    writer.finish(false).map_err(|e| e.to_string())?;
    if added + reset + removed > 0 {
        tracing::info!(catalog = %this, members = listed.len(), added, reset, removed, "catalog members updated");
    }
    Ok(())
}

/// Deletes a member zone's data, if it has any.
fn drop_data(writer: &mut ZoneWriter<'_, '_>, apex: &[u8]) -> Result<(), String> {
    if writer.stored_meta(apex).map_err(|e| e.to_string())?.is_some() {
        writer.delete_zone(apex).map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zones::Rr;

    fn tree(records: &[(&str, u16, Vec<u8>)]) -> ZoneTree {
        let apex = name::key_to_wire(&name::key_from_dotted("cat.invalid.").unwrap());
        let mut t = ZoneTree::new(&apex).unwrap();
        for (owner, rtype, rdata) in records {
            let owner = name::key_to_wire(&name::key_from_dotted(owner).unwrap());
            t.insert(&Rr { owner, ttl: 0, rtype: *rtype, rdata: rdata.clone(), condition: Vec::new() }).unwrap();
        }
        t
    }

    fn txt(s: &str) -> Vec<u8> {
        let mut v = vec![s.len() as u8];
        v.extend_from_slice(s.as_bytes());
        v
    }

    fn ptr(s: &str) -> Vec<u8> {
        name::key_to_wire(&name::key_from_dotted(s).unwrap())
    }

    #[test]
    fn members_groups_and_coo_are_read_and_broken_entries_ignored() {
        let t = tree(&[
            ("version.cat.invalid.", rtype::TXT, txt("2")),
            ("a1.zones.cat.invalid.", rtype::PTR, ptr("one.example.")),
            ("group.a1.zones.cat.invalid.", rtype::TXT, txt("blue")),
            ("b2.zones.cat.invalid.", rtype::PTR, ptr("two.example.")),
            ("coo.b2.zones.cat.invalid.", rtype::PTR, ptr("new.invalid.")),
            ("c3.zones.cat.invalid.", rtype::PTR, ptr("three.example.")),
            ("c3.zones.cat.invalid.", rtype::PTR, ptr("other.example.")),
            ("d4.zones.cat.invalid.", rtype::PTR, ptr("one.example.")),
        ]);
        let m = members(&t).unwrap();
        assert_eq!(m.keys().collect::<Vec<_>>(), ["a1", "b2"], "c3 has two PTRs, d4 repeats a zone");
        assert_eq!(m["a1"].group.as_deref(), Some("blue"));
        assert_eq!(m["a1"].zone, name::key_from_dotted("one.example.").unwrap());
        assert_eq!(m["b2"].coo.as_deref(), Some("new.invalid."));
    }

    #[test]
    fn other_versions_are_not_processed() {
        assert!(members(&tree(&[("version.cat.invalid.", rtype::TXT, txt("1"))])).unwrap_err().contains("not \"2\""));
        assert!(members(&tree(&[("a.zones.cat.invalid.", rtype::PTR, ptr("x."))])).unwrap_err().contains("no version"));
    }
}
