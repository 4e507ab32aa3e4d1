//! The checks of a whole-zone write that need no database, for `lmdns-loader zone check`.
//!
//! `zone import` checks a zone in three places: reading the file ([`crate::commands::zone::read_zone`]:
//! syntax, RDATA, the zone-level rules, the geo side file), replacing the zone (the policy's
//! whoami names, [`finish_with_policy`]) and storing each name (NSEC3 iterations, unsigned
//! variants in a signed zone: `ZoneWriter::store_node`). [`check_standalone`] runs the last two
//! with the same functions on the tree alone, so a file `zone check` passes is one `zone import`
//! takes — but for what only the database can tell: a serial not ahead of the one served, a
//! secondary zone, whoami names of other zones served.

use lmdb_schema::zone::GeoPolicy;

use super::{geo, signed, ZoneError, ZoneTree};

/// Normalizes the policy's whoami names (relative to the apex, lower case) and builds them into
/// `tree` (checked: strictly inside, not a wildcard, no records, not below a cut or DNAME).
/// Every whole-zone write does this first. Returns the whoami names' keys.
pub(super) fn finish_with_policy(tree: &mut ZoneTree, policy: Option<&mut GeoPolicy>) -> Result<Vec<Vec<u8>>, ZoneError> {
    let whoami = match policy {
        Some(p) => geo::normalize_whoami(&tree.apex_key, p)?,
        None => Vec::new(),
    };
    tree.finish_with_whoami(&whoami)?;
    Ok(whoami)
}

/// What replacing the zone with `tree` and its side file's `policy` would refuse, without a
/// database: the whoami names, then per name what storing it checks.
pub fn check_standalone(tree: &mut ZoneTree, policy: Option<&GeoPolicy>) -> Result<(), ZoneError> {
    let mut policy = policy.cloned();
    finish_with_policy(tree, policy.as_mut())?;
    // The writer asks the stored apex whether the zone is signed; here the tree is the zone.
    let signed_apex = tree.names.get(&tree.apex_key).is_some_and(signed::is_signed_apex);
    for (key, section) in &tree.names {
        // The format's limits, as `store_node` checks them (this zone's section alone).
        section.check_limits().map_err(|e| ZoneError::Refused(super::writer::limit_message(key, &e)))?;
        signed::check_nsec3(key, std::iter::once(section))?;
        if section.rrsets.iter().any(|r| !r.condition.is_empty()) {
            // As `store_node`: at the apex the section itself tells.
            signed::check_variants(key, section, || Ok(*key != tree.apex_key && signed_apex))?;
        }
    }
    Ok(())
}
