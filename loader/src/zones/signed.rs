//! Rules for zones signed elsewhere (lmdns serves their RRSIG, NSEC and NSEC3 records as given
//! and does not sign): what the writer refuses, and what it warns about.
//!
//! * NSEC3 with more than [`MAX_NSEC3_ITERATIONS`] iterations is refused (RFC 9276 §3.2:
//!   validators may treat such zones as insecure or bogus, so serving them buys nothing, and
//!   every NXDOMAIN would cost the server up to three such hash chains).
//! * A geo variant in a signed zone needs its own RRSIGs (an RRSIG stored with the same `--when`
//!   condition): a validator would reject the variant's data with the default's signatures.
//!   The RRSIG may come first (`record add --when C NAME TTL RRSIG ...`) or in the same
//!   changeset.
//! * Any other edit of a signed zone is taken, with a warning naming each RRset whose
//!   signatures it left stale (data changed without a new RRSIG, the SOA serial bumped), so the
//!   operator knows the zone needs signing again.

use lmdb_schema::node::Section;
use lmdb_schema::{name, nsec3, rtype};

use super::diff::Diff;
use super::ZoneError;
use crate::zonefile::types::type_name;

/// RFC 9276 §3.2: the iteration count above which validators may give up on a zone.
pub const MAX_NSEC3_ITERATIONS: u16 = 100;

/// Warnings listed one by one before the rest are counted.
const MAX_LISTED: usize = 10;

/// True if the zone section is signed: an RRSIG over its SOA, the test the server makes.
pub fn is_signed_apex(apex: &Section) -> bool {
    apex.rrsets.iter().any(|r| r.rtype == rtype::RRSIG && r.covered == rtype::SOA)
}

/// Refuses NSEC3 parameters past RFC 9276's limit in the sections of the name at `key` (a
/// stored node's, or a zone tree's one section when nothing is stored: `zone check`).
pub fn check_nsec3<'a>(key: &[u8], sections: impl IntoIterator<Item = &'a Section>) -> Result<(), ZoneError> {
    for rrset in sections.into_iter().flat_map(|s| &s.rrsets).filter(|r| r.rtype == rtype::NSEC3 || r.rtype == rtype::NSEC3PARAM) {
        for rdata in &rrset.rdatas {
            let Some((_, _, iterations, _)) = nsec3::params(rdata) else { continue };
            if iterations > MAX_NSEC3_ITERATIONS {
                return Err(ZoneError::Refused(format!(
                    "{} {}: {iterations} NSEC3 iterations; more than {MAX_NSEC3_ITERATIONS} are refused (RFC 9276 §3.2: \
                     validators may treat the zone as insecure) — sign it again with fewer (RFC 9276 recommends 0)",
                    name::key_to_text(key),
                    type_name(rrset.rtype)
                )));
            }
        }
    }
    Ok(())
}

/// Refuses a geo variant without RRSIGs of its own in `section` of a signed zone (`signed`
/// tells whether the zone is, when the section alone cannot).
pub fn check_variants(key: &[u8], section: &Section, signed: impl FnOnce() -> Result<bool, ZoneError>) -> Result<(), ZoneError> {
    let unsigned = section.rrsets.iter().find(|r| {
        !r.condition.is_empty()
            && r.rtype != rtype::RRSIG
            && !section.rrsets.iter().any(|s| s.rtype == rtype::RRSIG && s.covered == r.rtype && s.condition == r.condition)
    });
    let Some(variant) = unsigned else { return Ok(()) };
    let has_signatures = section.rrsets.iter().any(|r| r.rtype == rtype::RRSIG);
    if !has_signatures && !signed()? {
        return Ok(());
    }
    let owner = name::key_to_text(key);
    let when = String::from_utf8_lossy(&variant.condition);
    let rtype = type_name(variant.rtype);
    Err(ZoneError::Refused(format!(
        "{owner} {rtype} variant for {when}: the zone is signed and this variant has no RRSIG of its own (lmdns does not \
         sign yet); add one first with `record add --when {when} {owner} TTL RRSIG {rtype} ...`, or in the same changeset"
    )))
}

/// Warnings for an edit of the signed zone at `apex`: each RRset it changed without a new
/// RRSIG over it (of those `signable` says are signed at all: not glue, not a delegation's
/// NS), and the SOA when its serial moved without one.
pub fn stale_signatures(apex: &[u8], diff: &Diff, soa_changed: bool, signable: impl Fn(&[u8], u16) -> bool) -> Vec<String> {
    let changed = diff.changed_rrsets();
    let resigned = |owner: &[u8], rtype: u16, condition: &[u8]| {
        changed.iter().any(|c| c.signature && c.owner_key == owner && c.rtype == rtype && c.condition == condition)
    };
    let mut stale: Vec<String> = changed
        .iter()
        .filter(|c| !c.signature && !resigned(c.owner_key, c.rtype, c.condition) && signable(c.owner_key, c.rtype))
        .map(|c| {
            let when = if c.condition.is_empty() { String::new() } else { format!(" (variant {})", String::from_utf8_lossy(c.condition)) };
            format!("{} {}{when}", name::key_to_text(c.owner_key), type_name(c.rtype))
        })
        .collect();
    if soa_changed && !resigned(apex, rtype::SOA, b"") {
        stale.insert(0, format!("{} SOA", name::key_to_text(apex)));
    }
    if stale.is_empty() {
        return Vec::new();
    }
    let count = stale.len();
    let mut listed = stale.into_iter().take(MAX_LISTED).collect::<Vec<_>>().join(", ");
    if count > MAX_LISTED {
        listed.push_str(&format!(" and {} more", count - MAX_LISTED));
    }
    vec![format!(
        "zone {} is signed and this change left {count} RRset(s) without a matching RRSIG: {listed}; validating resolvers \
         will reject them until the zone is signed again (give the new RRSIGs, NSEC/NSEC3 and SOA in the same changeset)",
        name::key_to_text(apex)
    )]
}
