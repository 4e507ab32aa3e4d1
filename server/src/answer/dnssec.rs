//! Authenticated denial of existence for signed zones (RFC 4035 §3.1.3, RFC 5155 §7.2), after
//! Knot's `nsec_proofs.c`: which NSEC or NSEC3 records prove an NXDOMAIN, a NODATA, a wildcard
//! answer or an unsigned delegation, written into the authority section once each.
//!
//! The zones are signed elsewhere; lmdns only finds the records. NSEC records sit at their
//! owners, and name keys sort in DNS canonical order, so the NSEC covering a name is a floor
//! lookup in `names`. NSEC3 owners are hashes: the `nsec3` index (`lmdb_schema::nsec3`) orders
//! each zone's hashes, so the NSEC3 covering a hash is a floor lookup there. A proof hashes
//! only the names it needs (at most three for an NXDOMAIN).

use lmdb_schema::name_cache::NameCache;
use lmdb_schema::node::{flags, NodeView, RrsetView, SectionView};
use lmdb_schema::readers::ReadTxn;
use lmdb_schema::{name, nsec3, rtype, Store};

use super::internet::LookupFailed;
use super::writer::{Section, Writer};

/// Steps a walk back over names outside the NSEC chain may take (empty non-terminals, glue,
/// names without NSEC) before giving up on the proof. Jumps over a child zone or a delegated
/// subtree count as one step.
const MAX_WALK: usize = 256;

/// How a signed zone proves that names and types do not exist.
#[derive(Clone, Copy, Debug)]
pub enum Denial<'t> {
    Nsec,
    /// Hash parameters of the zone's NSEC3PARAM (hash algorithm 1, SHA-1).
    Nsec3 {
        iterations: u16,
        salt: &'t [u8],
    },
}

impl<'t> Denial<'t> {
    /// The zone's denial method, read from its apex. None for an unsigned zone (no RRSIG over
    /// its SOA, the test Knot makes) or one with neither an NSEC3PARAM nor an apex NSEC.
    pub fn of(apex: &SectionView<'t>) -> Option<Denial<'t>> {
        apex.signatures(rtype::SOA, b"")?;
        if let Some(param) = apex.rrset(rtype::NSEC3PARAM) {
            let (algorithm, _, iterations, salt) = nsec3::params(param.rdatas().next()?)?;
            return (algorithm == 1).then_some(Denial::Nsec3 { iterations, salt });
        }
        apex.rrset(rtype::NSEC).map(|_| Denial::Nsec)
    }
}

/// Reused buffers of the proofs of one response.
#[derive(Default)]
pub struct ProofScratch {
    /// Owner keys of the NSEC/NSEC3 RRsets written, concatenated: one record serving two roles
    /// (covering the name and the wildcard) goes in once.
    written: Vec<u8>,
    written_ends: Vec<usize>,
    /// Names answered from a wildcard in this response, concatenated, with the label count of
    /// each one's closest encloser: each gets its "no closer match" proof.
    wild: Vec<u8>,
    wild_ends: Vec<(usize, u8)>,
    /// Owner key of the record about to be written.
    owner: Vec<u8>,
    /// A name's wire form (to hash, or to write as an owner).
    wire: Vec<u8>,
    /// A derived name key (a wildcard, a next closer name).
    name: Vec<u8>,
    index_key: Vec<u8>,
}

impl ProofScratch {
    pub fn clear(&mut self) {
        self.written.clear();
        self.written_ends.clear();
        self.wild.clear();
        self.wild_ends.clear();
    }

    /// Notes that the name `key` was answered by the wildcard below its encloser of
    /// `encloser` labels.
    pub fn wildcard_hit(&mut self, key: &[u8], encloser: u8) {
        self.wild.extend_from_slice(key);
        self.wild_ends.push((self.wild.len(), encloser));
    }

    pub fn has_wildcard_hits(&self) -> bool {
        !self.wild_ends.is_empty()
    }

    /// True if the owner in `self.owner` was written already; else remembers it.
    fn seen(&mut self) -> bool {
        let mut start = 0;
        for &end in &self.written_ends {
            if self.written[start..end] == self.owner[..] {
                return true;
            }
            start = end;
        }
        self.written.extend_from_slice(&self.owner);
        self.written_ends.push(self.written.len());
        false
    }
}

/// Finds and writes the proofs of one signed zone's answer.
pub struct Prover<'s, 't> {
    pub store: &'t Store,
    pub txn: &'t ReadTxn,
    /// The worker's memo of name lookups (a proof's exact lookups are mostly of names the
    /// answer has just looked up: the apex, the closest encloser, the wildcard).
    pub names: &'t NameCache,
    /// Label count of the zone's apex.
    pub zone: u8,
    /// Name key of the apex.
    pub apex: &'s [u8],
    /// Offset in the response of the apex name (owners are written as their labels below the
    /// apex and a pointer to it).
    pub apex_at: u16,
    pub denial: Denial<'t>,
    pub scratch: &'s mut ProofScratch,
}

impl<'s, 't> Prover<'s, 't> {
    fn section(&self, key: &[u8]) -> Result<Option<SectionView<'t>>, LookupFailed> {
        match self.names.get(self.store, self.txn, key)? {
            Some(bytes) => Ok(NodeView::parse(bytes).map_err(|_| LookupFailed)?.section(self.zone)),
            None => Ok(None),
        }
    }

    /// Writes the `rtype` RRset (NSEC or NSEC3) of `section` and its RRSIGs under the owner in
    /// `scratch.owner`, unless that owner's proof is in the response already.
    fn put(&mut self, section: &SectionView<'t>, rtype: u16, w: &mut Writer<'_>) {
        let Some(rrset) = section.rrset(rtype) else { return };
        if self.scratch.seen() {
            return;
        }
        name::key_to_wire_into(&self.scratch.owner, &mut self.scratch.wire);
        // The RRSIGs point at the owner just written (not the 32-character hash label again).
        let wire = &self.scratch.wire;
        let Some(owner) = w.rrset_named(Section::Authority, wire, self.zone as usize, self.apex_at, &rrset) else { return };
        if let Some(signatures) = section.signatures(rtype, b"") {
            w.rrset(Section::Authority, owner, &signatures, None);
        }
    }

    fn put_nsec_at(&mut self, key: &[u8], section: &SectionView<'t>, w: &mut Writer<'_>) {
        self.scratch.owner.clear();
        self.scratch.owner.extend_from_slice(key);
        self.put(section, rtype::NSEC, w);
    }

    /// The NSEC of the last name before `key` in canonical order that is in the zone's NSEC
    /// chain (RFC 4035 §2.3: names with authoritative data and delegation points; not empty
    /// non-terminals, glue, or the names of a child zone served here).
    fn nsec_before<'k>(&self, key: &'k [u8]) -> Result<Option<(&'k [u8], SectionView<'t>)>, LookupFailed>
    where
        't: 'k,
    {
        let mut bound: &'k [u8] = key;
        let mut inclusive = false;
        for _ in 0..MAX_WALK {
            let found = if inclusive {
                self.store.names.get_lower_than_or_equal_to(self.txn, bound)?
            } else {
                self.store.names.get_lower_than(self.txn, bound)?
            };
            let Some((k, value)) = found else { return Ok(None) };
            if !k.starts_with(self.apex) {
                return Ok(None);
            }
            let node = NodeView::parse(value).map_err(|_| LookupFailed)?;
            (bound, inclusive) = match node.section(self.zone) {
                // Occluded (below a cut or DNAME): the owner above is in the chain.
                Some(s) if s.has(flags::BELOW_CUT) => (name::ancestor(k, s.cut() as usize), true),
                Some(s) if s.rrset(rtype::NSEC).is_some() => return Ok(Some((k, s))),
                Some(_) => (k, false),
                // Another zone's name: its apex is our delegation point, when we have one.
                None => match self.delegation_above(k)? {
                    Some(cut) => (cut, true),
                    None => (k, false),
                },
            };
        }
        Ok(None)
    }

    /// The shallowest ancestor of `key` that is a delegation point of this zone.
    fn delegation_above<'k>(&self, key: &'k [u8]) -> Result<Option<&'k [u8]>, LookupFailed> {
        for labels in self.zone as usize + 1..name::label_count(key) {
            let ancestor = name::ancestor(key, labels);
            if self.section(ancestor)?.is_some_and(|s| s.has(flags::CUT)) {
                return Ok(Some(ancestor));
            }
        }
        Ok(None)
    }

    /// The NSEC matching `key`, or else the one covering it.
    fn put_nsec_covering(&mut self, key: &[u8], w: &mut Writer<'_>) -> Result<(), LookupFailed> {
        if let Some(section) = self.section(key)?.filter(|s| s.rrset(rtype::NSEC).is_some() && !s.has(flags::BELOW_CUT)) {
            self.put_nsec_at(key, &section, w);
        } else if let Some((k, section)) = self.nsec_before(key)? {
            self.put_nsec_at(k, &section, w);
        }
        Ok(())
    }

    /// The NSEC3 hash of the name `key`.
    fn hash(&mut self, key: &[u8]) -> [u8; 20] {
        let Denial::Nsec3 { iterations, salt } = self.denial else { return [0; 20] };
        name::key_to_wire_into(key, &mut self.scratch.wire);
        nsec3::hash(&self.scratch.wire, salt, iterations)
    }

    /// Sets `scratch.owner` to the NSEC3 owner of `hash` and returns its section if it holds
    /// an NSEC3.
    fn nsec3_owner(&mut self, hash: &[u8; 20]) -> Result<Option<SectionView<'t>>, LookupFailed> {
        let mut text = [0u8; 32];
        nsec3::label(hash, &mut text);
        self.scratch.owner.clear();
        self.scratch.owner.extend_from_slice(self.apex);
        self.scratch.owner.extend_from_slice(&text);
        self.scratch.owner.push(0);
        Ok(self.section(&self.scratch.owner)?.filter(|s| s.rrset(rtype::NSEC3).is_some()))
    }

    /// The NSEC3 matching the name `key` (owner left in `scratch.owner`).
    fn nsec3_matching(&mut self, key: &[u8]) -> Result<Option<SectionView<'t>>, LookupFailed> {
        let hash = self.hash(key);
        self.nsec3_owner(&hash)
    }

    /// The NSEC3 covering the name `key`: the greatest hash of the zone not above its hash,
    /// or the last one when it sorts before them all (the chain wraps, RFC 5155 §7.2).
    fn put_nsec3_covering(&mut self, key: &[u8], w: &mut Writer<'_>) -> Result<(), LookupFailed> {
        let hash = self.hash(key);
        nsec3::index_key(self.apex, &hash, &mut self.scratch.index_key);
        let prefix = 1 + self.apex.len();
        let mut found = self.store.nsec3.get_lower_than_or_equal_to(self.txn, &self.scratch.index_key)?;
        if !found.is_some_and(|(k, _)| k.starts_with(&self.scratch.index_key[..prefix])) {
            self.scratch.index_key.truncate(prefix);
            self.scratch.index_key.extend_from_slice(&[0xFF; 32]);
            found = self.store.nsec3.get_lower_than_or_equal_to(self.txn, &self.scratch.index_key)?;
        }
        let Some((entry, _)) = found.filter(|(k, _)| k.starts_with(&self.scratch.index_key[..prefix])) else { return Ok(()) };
        let Ok(covering) = <[u8; 20]>::try_from(&entry[prefix..]) else { return Ok(()) };
        if let Some(section) = self.nsec3_owner(&covering)? {
            self.put(&section, rtype::NSEC3, w);
        }
        Ok(())
    }

    /// The closest provable encloser of `key`, starting at its ancestor of `labels` labels:
    /// the first with a matching NSEC3 (RFC 5155 §7.2.1; names below opt-out have none), its
    /// owner left in `scratch.owner`.
    fn nsec3_encloser(&mut self, key: &[u8], labels: u8) -> Result<(u8, Option<SectionView<'t>>), LookupFailed> {
        let mut labels = labels;
        loop {
            let found = self.nsec3_matching(name::ancestor(key, labels as usize))?;
            if found.is_some() || labels <= self.zone {
                return Ok((labels, found));
            }
            labels -= 1;
        }
    }

    /// RFC 5155 §7.2.1: the NSEC3 matching the closest provable encloser of `key` (found from
    /// its ancestor of `labels` labels) and the one covering the next closer name. Returns the
    /// encloser's label count.
    fn closest_encloser_proof(&mut self, key: &[u8], labels: u8, w: &mut Writer<'_>) -> Result<u8, LookupFailed> {
        let (encloser, section) = self.nsec3_encloser(key, labels)?;
        if let Some(section) = section {
            self.put(&section, rtype::NSEC3, w);
        }
        if (encloser as usize) < name::label_count(key) {
            self.put_nsec3_covering(name::ancestor(key, encloser as usize + 1), w)?;
        }
        Ok(encloser)
    }

    /// Sets `scratch.name` to the wildcard below `key`'s ancestor of `labels` labels.
    fn wildcard_below(&mut self, key: &[u8], labels: u8) {
        self.scratch.name.clear();
        self.scratch.name.extend_from_slice(name::ancestor(key, labels as usize));
        self.scratch.name.extend_from_slice(b"*\0");
    }

    /// NXDOMAIN for `key`, whose closest encloser has `encloser` labels: the name and the
    /// wildcard that could have matched it do not exist (RFC 4035 §3.1.3.2, RFC 5155 §7.2.2).
    pub fn nxdomain(&mut self, key: &[u8], encloser: u8, w: &mut Writer<'_>) -> Result<(), LookupFailed> {
        match self.denial {
            Denial::Nsec => {
                if let Some((k, section)) = self.nsec_before(key)? {
                    self.put_nsec_at(k, &section, w);
                }
                self.wildcard_below(key, encloser);
                let wildcard = std::mem::take(&mut self.scratch.name);
                let result = self.put_nsec_covering(&wildcard, w);
                self.scratch.name = wildcard;
                result
            }
            Denial::Nsec3 { .. } => {
                let encloser = self.closest_encloser_proof(key, encloser, w)?;
                self.wildcard_below(key, encloser);
                let wildcard = std::mem::take(&mut self.scratch.name);
                let result = self.put_nsec3_covering(&wildcard, w);
                self.scratch.name = wildcard;
                result
            }
        }
    }

    /// NODATA at `key`, found at `section` — directly, or through the wildcard below the
    /// encloser of `wildcard` labels (RFC 4035 §3.1.3.1/§3.1.3.4, RFC 5155 §7.2.3–7.2.5).
    pub fn nodata(&mut self, key: &[u8], section: &SectionView<'t>, wildcard: Option<u8>, w: &mut Writer<'_>) -> Result<(), LookupFailed> {
        match self.denial {
            Denial::Nsec => {
                if section.rrset(rtype::NSEC).is_none() {
                    // An empty non-terminal has no NSEC: the one before it covers it.
                    if let Some((k, before)) = self.nsec_before(key)? {
                        self.put_nsec_at(k, &before, w);
                    }
                    return Ok(());
                }
                match wildcard {
                    Some(labels) => {
                        self.wildcard_below(key, labels);
                        let owner = std::mem::take(&mut self.scratch.name);
                        self.put_nsec_at(&owner, section, w);
                        self.scratch.name = owner;
                    }
                    None => self.put_nsec_at(key, section, w),
                }
                Ok(())
            }
            Denial::Nsec3 { .. } => {
                let matched = match wildcard {
                    Some(labels) => {
                        self.wildcard_below(key, labels);
                        let owner = std::mem::take(&mut self.scratch.name);
                        let found = self.nsec3_matching(&owner);
                        self.scratch.name = owner;
                        found?
                    }
                    None => self.nsec3_matching(key)?,
                };
                if let Some(matched) = matched {
                    self.put(&matched, rtype::NSEC3, w);
                }
                // A wildcard NODATA also proves the name itself absent; a name without NSEC3
                // (a DS query at an opt-out delegation) gets the opt-out proof instead.
                if wildcard.is_some() || matched.is_none() {
                    let from = wildcard.unwrap_or(name::label_count(key) as u8);
                    self.closest_encloser_proof(key, from, w)?;
                }
                Ok(())
            }
        }
    }

    /// A referral to a delegation without DS: the NSEC or NSEC3 of the cut shows NS and no DS;
    /// under opt-out, the closest encloser proof with an opt-out NSEC3 covering the cut.
    pub fn no_ds(&mut self, cut_key: &[u8], cut: &SectionView<'t>, w: &mut Writer<'_>) -> Result<(), LookupFailed> {
        self.nodata(cut_key, cut, None, w)
    }

    /// For every name answered from a wildcard, the proof that no closer name exists (RFC 4035
    /// §3.1.3.3, RFC 5155 §7.2.6).
    pub fn wildcard_answers(&mut self, w: &mut Writer<'_>) -> Result<(), LookupFailed> {
        let wild = std::mem::take(&mut self.scratch.wild);
        let ends = std::mem::take(&mut self.scratch.wild_ends);
        let mut result = Ok(());
        let mut start = 0;
        for &(end, encloser) in &ends {
            let key = &wild[start..end];
            start = end;
            result = match self.denial {
                Denial::Nsec => self.nsec_before(key).map(|found| {
                    if let Some((k, section)) = found {
                        self.put_nsec_at(k, &section, w);
                    }
                }),
                Denial::Nsec3 { .. } => self.nsec3_encloser(key, encloser).and_then(|(labels, _)| {
                    if (labels as usize) < name::label_count(key) {
                        self.put_nsec3_covering(name::ancestor(key, labels as usize + 1), w)
                    } else {
                        Ok(())
                    }
                }),
            };
            if result.is_err() {
                break;
            }
        }
        self.scratch.wild = wild;
        self.scratch.wild_ends = ends;
        result
    }
}

/// Appends the RRSIGs covering `rrset` (found in `section`) under the same owner.
pub fn put_signatures(
    w: &mut Writer<'_>,
    out: Section,
    owner: super::writer::Owner,
    section: &SectionView<'_>,
    rrset: &RrsetView<'_>,
    ttl: Option<u32>,
) {
    if let Some(signatures) = section.signatures(rrset.rtype(), rrset.condition()) {
        w.rrset(out, owner, &signatures, ttl);
    }
}
