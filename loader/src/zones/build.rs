//! Turning a zone's records into name-tree sections, with the per-name summary the server uses:
//! empty non-terminals, delegation points and what they occlude, DNAME occlusion, wildcard
//! children, and the whoami names of the zone's policy. Computed here, once per write, so that
//! answering never scans.

use std::collections::BTreeMap;

use lmdb_schema::name::{self, NameError};
use lmdb_schema::node::{flags, Rrset, Section};
use lmdb_schema::rtype;

/// One resource record to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rr {
    /// Uncompressed wire-format owner name.
    pub owner: Vec<u8>,
    pub ttl: u32,
    pub rtype: u16,
    /// Wire-format RDATA, names uncompressed.
    pub rdata: Vec<u8>,
    /// Empty for default data, `key=value` for a metadata-selected variant.
    pub condition: Vec<u8>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BuildError {
    #[error("owner {owner}: {error}")]
    BadName { owner: String, error: NameError },
    #[error("{owner} is outside the zone {apex}")]
    OutsideZone { owner: String, apex: String },
    #[error("zone {apex} has no SOA record at its apex")]
    NoSoa { apex: String },
    #[error("zone {apex} has no NS records at its apex")]
    NoApexNs { apex: String },
    #[error("zone {apex} is nested more than 127 labels deep")]
    TooDeep { apex: String },
    #[error("{owner}: CNAME cannot stand beside other data (RFC 1034 §3.6.2)")]
    CnameAndOtherData { owner: String },
    #[error("{owner}: more than one {rtype} record (a name has at most one)")]
    Singleton { owner: String, rtype: &'static str },
    #[error("{owner}: SOA is only allowed at the zone apex {apex}")]
    SoaNotAtApex { owner: String, apex: String },
    #[error("{owner}: bad variant condition: {error}")]
    BadCondition { owner: String, error: String },
    #[error("{owner}: {rtype} cannot have variants (only default data)")]
    NoVariants { owner: String, rtype: &'static str },
    #[error("whoami name {name}: {reason}")]
    Whoami { name: String, reason: String },
}

/// Why a whoami name can have no records of its own.
pub const WHOAMI_NO_RECORDS: &str = "a whoami name is answered from the client's address; it cannot own records";

/// A zone's names, keyed by name key, in canonical order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneTree {
    pub apex_key: Vec<u8>,
    /// Label count of the apex: the zone's tag in every section.
    pub depth: u8,
    pub names: BTreeMap<Vec<u8>, Section>,
}

impl ZoneTree {
    pub fn new(apex_wire: &[u8]) -> Result<Self, BuildError> {
        let apex_key =
            name::key_from_wire(apex_wire).map_err(|error| BuildError::BadName { owner: name::wire_to_text(apex_wire), error })?;
        let depth = name::label_count(&apex_key);
        if depth > 127 {
            return Err(BuildError::TooDeep { apex: name::wire_to_text(apex_wire) });
        }
        Ok(ZoneTree { apex_key, depth: depth as u8, names: BTreeMap::new() })
    }

    pub fn apex_text(&self) -> String {
        name::key_to_text(&self.apex_key)
    }

    /// Adds a record. An RRset takes the TTL of its first record (RFC 2181 §5.2 wants one TTL per
    /// RRset); returns false if the record was already present.
    pub fn insert(&mut self, rr: &Rr) -> Result<bool, BuildError> {
        let key = self.key_in_zone(&rr.owner)?;
        if !rr.condition.is_empty() {
            check_variant_record(rr)?;
        }
        let section = self.names.entry(key).or_insert_with(|| Section::new(self.depth));
        let covered = covered_type(rr.rtype, &rr.rdata);
        let rrset = match section.find_mut(rr.rtype, covered, &rr.condition) {
            Some(rrset) => rrset,
            None => {
                section.rrsets.push(Rrset::new(rr.rtype, covered, rr.condition.clone(), rr.ttl));
                section.rrsets.last_mut().expect("just pushed")
            }
        };
        Ok(rrset.insert(rr.rdata.clone()))
    }

    /// Checks the per-name rules (CNAME alone, one CNAME/DNAME/SOA, SOA at the apex) at `owner`.
    pub fn check_owner(&self, owner: &[u8]) -> Result<(), BuildError> {
        let key = self.key_in_zone(owner)?;
        match self.names.get(&key) {
            Some(section) => check_name(&key, section, &self.apex_key),
            None => Ok(()),
        }
    }

    /// Sets the TTL of an RRset; returns true if it changed.
    pub fn set_ttl(&mut self, owner: &[u8], rtype: u16, condition: &[u8], ttl: u32) -> Result<bool, BuildError> {
        let key = self.key_in_zone(owner)?;
        let mut changed = false;
        if let Some(section) = self.names.get_mut(&key) {
            for rrset in section.rrsets.iter_mut().filter(|r| r.rtype == rtype && r.condition == condition && r.ttl != ttl) {
                rrset.ttl = ttl;
                changed = true;
            }
        }
        Ok(changed)
    }

    /// Removes records: one exact record when `rdata` is given, else the whole RRset of `rtype`
    /// (variant `condition`); returns how many records went.
    pub fn remove(&mut self, owner: &[u8], rtype: u16, rdata: Option<&[u8]>, condition: &[u8]) -> Result<usize, BuildError> {
        let key = self.key_in_zone(owner)?;
        let Some(section) = self.names.get_mut(&key) else { return Ok(0) };
        let mut removed = 0;
        for rrset in section.rrsets.iter_mut().filter(|r| r.rtype == rtype && r.condition == condition) {
            match rdata {
                Some(rdata) => {
                    // Names inside RDATA compare without regard to case (RFC 4343).
                    let before = rrset.rdatas.len();
                    rrset.rdatas.retain(|r| !rdata_equal(rtype, r, rdata));
                    removed += before - rrset.rdatas.len();
                }
                None => {
                    removed += rrset.rdatas.len();
                    rrset.rdatas.clear();
                }
            }
        }
        section.rrsets.retain(|r| !r.rdatas.is_empty());
        Ok(removed)
    }

    fn key_in_zone(&self, owner: &[u8]) -> Result<Vec<u8>, BuildError> {
        let key = name::key_from_wire(owner).map_err(|error| BuildError::BadName { owner: name::wire_to_text(owner), error })?;
        if !name::is_at_or_below(&key, &self.apex_key) {
            return Err(BuildError::OutsideZone { owner: name::wire_to_text(owner), apex: self.apex_text() });
        }
        Ok(key)
    }

    /// Drops names left without data, then adds empty non-terminals and computes every flag.
    /// Checks the invariants the server relies on: SOA and NS at the apex.
    pub fn finish(&mut self) -> Result<(), BuildError> {
        self.finish_with_whoami(&[])
    }

    /// As [`finish`](Self::finish), for a zone whose policy lists the whoami names with keys
    /// `whoami`: each gets an empty section flagged `WHOAMI` (its ancestors become empty
    /// non-terminals as usual). Each must be strictly inside the zone, listed once, not a
    /// wildcard, not at or below a delegation point or DNAME, and own no records.
    pub fn finish_with_whoami(&mut self, whoami: &[Vec<u8>]) -> Result<(), BuildError> {
        self.names.retain(|_, s| !s.rrsets.is_empty());
        for (key, section) in &self.names {
            check_name(key, section, &self.apex_key)?;
        }
        let apex = self.names.get(&self.apex_key);
        if apex.is_none_or(|s| s.find(6, 0, b"").is_none()) {
            return Err(BuildError::NoSoa { apex: self.apex_text() });
        }
        if apex.is_none_or(|s| s.find(2, 0, b"").is_none()) {
            return Err(BuildError::NoApexNs { apex: self.apex_text() });
        }
        for (i, key) in whoami.iter().enumerate() {
            self.check_whoami(key, &whoami[..i])?;
            self.names.insert(key.clone(), Section::new(self.depth));
        }
        // Empty non-terminals: every ancestor between a name and the apex exists.
        let mut missing = Vec::new();
        for key in self.names.keys() {
            let mut up = name::parent(key);
            while let Some(parent) = up {
                if parent.len() < self.apex_key.len() || self.names.contains_key(parent) {
                    break;
                }
                missing.push(parent.to_vec());
                up = name::parent(parent);
            }
        }
        for key in missing {
            self.names.entry(key).or_insert_with(|| Section::new(self.depth));
        }
        self.compute_flags();
        for key in whoami {
            let section = self.names.get_mut(key).expect("inserted above");
            section.flags |= flags::WHOAMI;
            if section.flags & flags::BELOW_CUT != 0 {
                // The occluding owner is an ancestor with `cut` labels: a delegation or a DNAME.
                let owner = name::ancestor(key, section.cut as usize);
                let what = match self.names.get(owner) {
                    Some(s) if s.flags & flags::CUT != 0 => "the delegation point",
                    _ => "the DNAME at",
                };
                return Err(whoami_error(
                    key,
                    format!("is below {what} {}; a whoami name must be answered by this zone", name::key_to_text(owner)),
                ));
            }
        }
        Ok(())
    }

    /// The checks on one whoami name that need no flags (`earlier`: the names listed before it).
    fn check_whoami(&self, key: &[u8], earlier: &[Vec<u8>]) -> Result<(), BuildError> {
        if !name::is_at_or_below(key, &self.apex_key) {
            return Err(whoami_error(key, format!("is outside the zone {}", self.apex_text())));
        }
        if key == self.apex_key {
            return Err(whoami_error(key, "is the zone apex; a whoami name must be a name strictly inside the zone".into()));
        }
        if name::is_wildcard(key) {
            return Err(whoami_error(key, "is a wildcard; a whoami name must be an ordinary name".into()));
        }
        if earlier.iter().any(|k| k == key) {
            return Err(whoami_error(key, "is listed twice".into()));
        }
        if let Some(section) = self.names.get(key).filter(|s| !s.rrsets.is_empty()) {
            let mut codes: Vec<u16> = section.rrsets.iter().map(|r| r.rtype).collect();
            codes.sort_unstable();
            codes.dedup();
            let types: Vec<String> = codes.into_iter().map(crate::zonefile::type_name).collect();
            let cut = if section.has_type(rtype::NS) { " (it is a delegation point)" } else { "" };
            return Err(whoami_error(key, format!("owns {} records{cut}; {WHOAMI_NO_RECORDS}", types.join(", "))));
        }
        Ok(())
    }

    /// One pass in canonical order (parents before children) with a stack of the open
    /// delegation or DNAME owners.
    fn compute_flags(&mut self) {
        let mut occluder: Option<(Vec<u8>, u8)> = None;
        let mut wildcard_parents = Vec::new();
        for (key, section) in self.names.iter_mut() {
            section.flags = 0;
            section.cut = 0;
            if occluder.as_ref().is_some_and(|(owner, _)| !key.starts_with(owner)) {
                occluder = None;
            }
            if let Some((_, labels)) = &occluder {
                section.flags |= flags::BELOW_CUT;
                section.cut = *labels;
            }
            let is_apex = *key == self.apex_key;
            section.refresh_own_flags(is_apex);
            if occluder.is_none() && section.flags & (flags::CUT | flags::DNAME) != 0 {
                occluder = Some((key.clone(), name::label_count(key) as u8));
            }
            if name::is_wildcard(key) {
                if let Some(parent) = name::parent(key) {
                    wildcard_parents.push(parent.to_vec());
                }
            }
        }
        for parent in wildcard_parents {
            if let Some(section) = self.names.get_mut(&parent) {
                section.flags |= flags::WILDCARD_CHILD;
            }
        }
    }

    /// Number of records (every RDATA of every RRset, variants included).
    pub fn record_count(&self) -> u64 {
        self.names.values().flat_map(|s| &s.rrsets).map(|r| r.rdatas.len() as u64).sum()
    }

    /// The apex SOA RDATA.
    pub fn soa(&self) -> Option<&[u8]> {
        self.names.get(&self.apex_key)?.find(6, 0, b"")?.rdatas.first().map(Vec::as_slice)
    }

    pub fn soa_mut(&mut self) -> Option<&mut Vec<u8>> {
        self.names.get_mut(&self.apex_key)?.find_mut(6, 0, b"")?.rdatas.first_mut()
    }

    /// Every record, in canonical name order, for export and rebuilding.
    pub fn records(&self) -> impl Iterator<Item = Rr> + '_ {
        self.names.iter().flat_map(|(key, section)| {
            let owner = name::key_to_wire(key);
            section.rrsets.iter().flat_map(move |rrset| {
                let owner = owner.clone();
                rrset.rdatas.iter().map(move |rdata| Rr {
                    owner: owner.clone(),
                    ttl: rrset.ttl,
                    rtype: rrset.rtype,
                    rdata: rdata.clone(),
                    condition: rrset.condition.clone(),
                })
            })
        })
    }
}

/// The checks of a variant record (non-empty condition): a valid condition, and not one of the
/// types that shape the zone for every client.
pub(super) fn check_variant_record(rr: &Rr) -> Result<(), BuildError> {
    super::geo::check_condition_bytes(&rr.condition)
        .map_err(|error| BuildError::BadCondition { owner: name::wire_to_text(&rr.owner), error })?;
    // The zone's structure (its SOA, delegations and their DS, DNAME rewrites) is the same
    // for every client: the server decides cuts and occlusion from it before any client
    // metadata is consulted.
    let structural = match rr.rtype {
        rtype::NS => Some("NS"),
        rtype::SOA => Some("SOA"),
        rtype::DNAME => Some("DNAME"),
        rtype::DS => Some("DS"),
        _ => None,
    };
    match structural {
        Some(rtype) => Err(BuildError::NoVariants { owner: name::wire_to_text(&rr.owner), rtype }),
        None => Ok(()),
    }
}

pub(super) fn whoami_error(key: &[u8], reason: String) -> BuildError {
    BuildError::Whoami { name: name::key_to_text(key), reason }
}

/// The rules that hold per name: CNAME alone (but for its DNSSEC records), one CNAME, one
/// DNAME, SOA only at the apex. Checked per RRset variant: a geo variant of a CNAME and a
/// default A are different answers, never given together.
pub(super) fn check_name(key: &[u8], section: &Section, apex_key: &[u8]) -> Result<(), BuildError> {
    let owner = || name::key_to_text(key);
    for rrset in &section.rrsets {
        let singleton = match rrset.rtype {
            rtype::CNAME => Some("CNAME"),
            rtype::DNAME => Some("DNAME"),
            rtype::SOA => Some("SOA"),
            _ => None,
        };
        if let Some(rtype) = singleton {
            if rrset.rdatas.len() > 1 {
                return Err(BuildError::Singleton { owner: owner(), rtype });
            }
        }
        if rrset.rtype == rtype::SOA && key != apex_key {
            return Err(BuildError::SoaNotAtApex { owner: owner(), apex: name::key_to_text(apex_key) });
        }
        if rrset.rtype == rtype::CNAME {
            // RRSIG, NSEC and NSEC3 may accompany a CNAME (RFC 4035 §2.5).
            let others = section
                .rrsets
                .iter()
                .any(|r| r.condition == rrset.condition && !matches!(r.rtype, rtype::CNAME | rtype::RRSIG | rtype::NSEC | rtype::NSEC3));
            if others {
                return Err(BuildError::CnameAndOtherData { owner: owner() });
            }
        }
    }
    Ok(())
}

/// Byte offset of the domain name in RDATA of the types whose RDATA is a fixed prefix followed by
/// one name (RFC 3597 §4 lists the types whose names are compared case-insensitively).
fn rdata_name_offset(rtype: u16) -> Option<usize> {
    match rtype {
        2 | 5 | 12 | 39 => Some(0), // NS, CNAME, PTR, DNAME
        15 => Some(2),              // MX
        33 => Some(6),              // SRV
        _ => None,
    }
}

/// RDATA equality as DNS means it: exact, except that embedded names ignore ASCII case.
pub(super) fn rdata_equal(rtype: u16, a: &[u8], b: &[u8]) -> bool {
    match rdata_name_offset(rtype) {
        Some(at) if a.len() == b.len() && a.len() >= at => a[..at] == b[..at] && a[at..].eq_ignore_ascii_case(&b[at..]),
        _ => a == b,
    }
}

/// RRSIG sets are kept per covered type (RFC 4034 §3), so DNSSEC answers can find the
/// signature of exactly the RRset they return.
pub(super) fn covered_type(rtype: u16, rdata: &[u8]) -> u16 {
    if rtype == rtype::RRSIG && rdata.len() >= 2 {
        u16::from_be_bytes([rdata[0], rdata[1]])
    } else {
        0
    }
}

/// Adds one to an SOA serial in RFC 1982 arithmetic (wrapping at 2^32).
pub fn bump_serial(soa_rdata: &mut [u8]) -> Option<u32> {
    let at = lmdb_schema::zone::soa_serial_offset(soa_rdata)?;
    let serial = u32::from_be_bytes(soa_rdata[at..at + 4].try_into().ok()?).wrapping_add(1);
    soa_rdata[at..at + 4].copy_from_slice(&serial.to_be_bytes());
    Some(serial)
}
