//! Secondary zones and followed catalogs configured: added, changed, removed — by `zone
//! secondary`, `catalog follow`, `catalog group` and `apply`, inside the caller's writer.

use std::net::SocketAddr;

use anyhow::{bail, Context};
use lmdb_schema::meta_keys;
use lmdb_schema::secondary::{GroupPrimaries, SecondaryZone};
use lmdb_schema::{name, Store};

use crate::zones::ZoneWriter;

/// Checks the key exists; returns its stored name (absolute, lower case).
fn check_key(store: &Store, txn: &heed::RoTxn, key: Option<&str>) -> anyhow::Result<Option<String>> {
    let Some(key) = key else { return Ok(None) };
    let text = crate::commands::key::key_name(key)?;
    if store.tsig_keys.get(txn, &name::key_from_dotted(&text)?).map_err(|e| store.error(e))?.is_none() {
        bail!("no TSIG key {text} in the database (add it with `key add` or `key import`)");
    }
    Ok(Some(text))
}

/// What `add` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Added {
    Created,
    Changed,
    Unchanged,
}

/// Makes `zone` a secondary zone of `primaries` (tried in order), with TSIG `key`; `consumer`
/// follows it as a catalog. A zone already secondary gets the new settings and its state is
/// kept; it is refreshed at once. A zone served here as a primary is refused.
pub fn add(
    writer: &mut ZoneWriter<'_, '_>,
    zone: &str,
    primaries: &[SocketAddr],
    key: Option<&str>,
    consumer: bool,
) -> anyhow::Result<Added> {
    if primaries.is_empty() {
        bail!("secondary zone {zone}: at least one --primary is needed");
    }
    let apex = crate::commands::zone::name_key(zone)?;
    let text = name::key_to_text(&apex);
    let store = *writer.store();
    let key = check_key(&store, writer.txn(), key)?;
    let existing = writer.secondary(&apex)?;
    if existing.is_none() && writer.stored_meta(&apex)?.is_some() {
        bail!("zone {text} is served here as a primary zone; `zone delete` it first to copy it from primaries instead");
    }
    if let Some(state) = &existing {
        if state.catalog.is_some() {
            bail!("zone {text} is a member of catalog {}; its primaries come from the catalog", state.catalog.as_deref().unwrap_or("-"));
        }
    }
    let next = match existing.clone() {
        Some(state) => SecondaryZone { primaries: primaries.to_vec(), key, consumer, next_refresh: 0, ..state },
        None => SecondaryZone { zone: text, primaries: primaries.to_vec(), key, consumer, ..Default::default() },
    };
    let result = match &existing {
        None => Added::Created,
        Some(s) if s.same_config(&next) => Added::Unchanged,
        Some(_) => Added::Changed,
    };
    writer.set_secondary(&apex, Some(&next))?;
    Ok(result)
}

/// Stops copying `zone`: its data and state go; a followed catalog's member zones with it.
/// Returns how many zones were removed.
pub fn remove(writer: &mut ZoneWriter<'_, '_>, zone: &str) -> anyhow::Result<usize> {
    let apex = crate::commands::zone::name_key(zone)?;
    let text = name::key_to_text(&apex);
    let state = writer.secondary(&apex)?.with_context(|| format!("zone {text} is not a secondary zone"))?;
    let mut apexes = vec![apex];
    if state.consumer {
        let store = *writer.store();
        for (member, s) in super::list(&store, writer.txn())? {
            if s.catalog.as_deref() == Some(text.as_str()) {
                apexes.push(member);
            }
        }
    }
    for apex in &apexes {
        if writer.stored_meta(apex)?.is_some() {
            writer.delete_secondary_data(apex)?;
        }
        writer.set_secondary(apex, None)?;
        super::apply::set_expired(writer, apex, false)?;
    }
    Ok(apexes.len())
}

/// Maps catalog group `group` to `primaries` (None: removes the mapping, members use their
/// catalog's primaries). Member zones already in the group follow at once. Returns how many.
pub fn set_group(writer: &mut ZoneWriter<'_, '_>, group: &str, primaries: Option<(&[SocketAddr], Option<&str>)>) -> anyhow::Result<usize> {
    let store = *writer.store();
    let mut groups = super::catalog::groups(&store, writer.txn()).map_err(anyhow::Error::msg)?;
    match primaries {
        Some((list, key)) => {
            if list.is_empty() {
                bail!("catalog group {group}: at least one --primary is needed");
            }
            let key = check_key(&store, writer.txn(), key)?;
            groups.insert(group.to_string(), GroupPrimaries { primaries: list.to_vec(), key });
        }
        None => {
            groups.remove(group);
        }
    }
    let json = serde_json::to_vec(&groups)?;
    store.meta.put(writer.txn_mut(), meta_keys::CATALOG_GROUPS, &json).map_err(|e| store.error(e))?;
    // Members of the group take its primaries now (or their catalog's again).
    let mut moved = 0;
    let all = super::list(&store, writer.txn())?;
    for (apex, mut state) in all.iter().filter(|(_, s)| s.group.as_deref() == Some(group)).cloned() {
        let (list, key) = match groups.get(group) {
            Some(g) => (g.primaries.clone(), g.key.clone()),
            None => match all.iter().find(|(_, c)| c.consumer && Some(&c.zone) == state.catalog.as_ref()) {
                Some((_, catalog)) => (catalog.primaries.clone(), catalog.key.clone()),
                None => continue,
            },
        };
        if (&state.primaries, &state.key) != (&list, &key) {
            state.primaries = list;
            state.key = key;
            state.next_refresh = 0;
            writer.set_secondary(&apex, Some(&state))?;
            moved += 1;
        }
    }
    Ok(moved)
}
