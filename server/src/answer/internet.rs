//! Authoritative answers for class IN: RFC 1034 §4.3.2 with RFC 2308 negative answers, RFC 4592
//! wildcards, RFC 6672 DNAME and RFC 8482 minimal ANY.
//!
//! Every lookup is one LMDB get on a name key. An exact hit costs one get; a miss walks up the
//! question's ancestors (prefixes of its key) to the closest encloser. The per-name flags the
//! loader computed (cut, below-cut, wildcard child, DNAME, whoami) decide the rest without
//! scanning.

use std::net::IpAddr;

use heed::RoTxn;
use lmdb_schema::name_cache::NameCache;
use lmdb_schema::node::{flags, NodeView, RrsetView, SectionView};
use lmdb_schema::readers::ReadTxn;
use lmdb_schema::{name, rtype, Store};

use super::dnssec::{Denial, ProofScratch, Prover};
use super::geo::GeoScratch;

use super::writer::{Owner, Section, Writer, RCODE_NOERROR, RCODE_NXDOMAIN, RCODE_REFUSED, RCODE_YXDOMAIN};
use crate::query::QueryName;

/// CNAME and DNAME hops followed inside a zone before giving up (loops end earlier, at the
/// first name seen twice). Chosen between Knot's 5 and NSD's none: long enough for the chains
/// of CDN setups (rarely past 4-5 hops) to resolve in one answer, short enough to bound the
/// lookups one query costs; a longer chain gets its first 12 CNAMEs and the resolver goes on
/// from the last target (README, "Answers").
const MAX_CHAIN: usize = 12;

/// A database problem while answering: the query gets SERVFAIL.
#[derive(Debug)]
pub struct LookupFailed;

impl From<heed::Error> for LookupFailed {
    fn from(_: heed::Error) -> Self {
        LookupFailed
    }
}

/// What the name tree says about one name.
enum Found<'t> {
    /// No zone here contains the name.
    NotAuth,
    /// The name exists in `zone` (possibly as an empty non-terminal), or the wildcard below
    /// its closest encloser of `wildcard` labels covers it.
    Name { zone: u8, section: SectionView<'t>, wildcard: Option<u8> },
    /// No such name; its closest encloser has `encloser` labels.
    NxDomain { zone: u8, encloser: u8 },
    /// The name is at or below a delegation point with `cut` labels.
    Referral { zone: u8, cut: u8, section: SectionView<'t> },
    /// A DNAME at the ancestor with `owner` labels (its data: `section`) rewrites the name.
    Dname { zone: u8, owner: u8, section: SectionView<'t>, rrset: RrsetView<'t> },
}

/// How an answer ended, for the denial proofs and the additional section.
enum End<'t> {
    /// Nothing to prove or add (a refusal, a chain leaving the zone, a whoami name).
    Nothing,
    /// Data in the answer section.
    Answer,
    NxDomain {
        encloser: u8,
        apex: SectionView<'t>,
    },
    /// The name (at `section`, through a wildcard below the encloser of `wildcard` labels if
    /// set) has no data of the type.
    NoData {
        section: SectionView<'t>,
        wildcard: Option<u8>,
        apex: SectionView<'t>,
    },
    /// A referral to the cut of `cut` labels; `signed` when its DS went in.
    Referral {
        cut: u8,
        section: SectionView<'t>,
        signed: bool,
    },
}

/// Reusable state of one resolution.
#[derive(Default)]
pub struct ResolveScratch {
    /// The name currently being answered (question, then CNAME/DNAME targets), with label
    /// offsets into the response buffer.
    pub current: QueryName,
    /// Name keys already answered in this response, concatenated (loop detection).
    visited: Vec<u8>,
    visited_ends: Vec<usize>,
    /// Response offsets of names whose A/AAAA belong in the additional section.
    additional_targets: Vec<u16>,
    /// Name read from an RDATA for an additional-section lookup.
    target: QueryName,
    synth: Vec<u8>,
    /// Denial proofs of the current response (see `dnssec`).
    proofs: ProofScratch,
    /// Name key of the apex of the zone answering the question. Depth tells zones apart only
    /// among ancestors of one name, so chain targets and additional names compare apexes.
    apex: Vec<u8>,
    /// Where the response can be cut back on an RRset boundary: the start of the additional
    /// section and the end of each RRset in it (see [`Mark`]).
    marks: Vec<Mark>,
    /// Whole responses to repeated questions (see `cache`).
    pub cache: super::cache::AnswerCache,
    /// Secondary zones answered SERVFAIL (see `expired`).
    pub expired: super::expired::ExpiredZones,
    /// The last SERVFAIL was an expired zone's, not a fault.
    pub servfail_expired: bool,
    /// The last query returned a valid server cookie (see `cookie`).
    pub valid_cookie: bool,
}

impl ResolveScratch {
    /// Answers from the cache, brought to the snapshot `txn` reads first; on a hit the answering
    /// zone's apex is restored too.
    pub fn cached(&mut self, store: &Store, txn: &RoTxn, packet: &[u8], question_end: usize, out: &mut Vec<u8>) -> Option<super::Answered> {
        let snapshot = self.cache.sync(store, txn);
        self.cache.get(snapshot, packet, question_end, out, &mut self.apex)
    }

    /// Stores the response just written, with the answering zone's apex; `case_bound`: it holds
    /// only for the same question bytes (see `Writer::case_bound`).
    pub fn remember(&mut self, snapshot: usize, response: &[u8], answered: super::Answered, case_bound: bool) {
        self.cache.put_case_bound(snapshot, response, answered, &self.apex, case_bound);
    }
}

impl ResolveScratch {
    pub fn additional_marks(&self) -> &[Mark] {
        &self.marks
    }

    /// Name key of the apex of the zone that answered the question.
    pub fn apex(&self) -> &[u8] {
        &self.apex
    }

    /// Forgets the previous query's apex (a query no zone answers leaves it empty).
    pub fn clear_apex(&mut self) {
        self.apex.clear();
    }
}

/// The response as it was after an RRset of the additional section (or before the first).
#[derive(Clone, Copy, Debug)]
pub struct Mark {
    /// Response length and additional count here.
    pub len: usize,
    pub additional: u16,
    /// The RRset ending here is in-domain glue of a referral (at or below the cut): leaving it
    /// out sets TC (RFC 9471 §3.1). Other additional data is left out silently (RFC 2181 §9).
    pub required: bool,
}

/// The outcome of answering, for the header.
pub struct Outcome {
    pub rcode: u16,
    pub aa: bool,
    /// The answer is built from the client's address (a whoami name of the zone's policy),
    /// whatever the type asked for: never to be given to another client.
    pub per_client: bool,
}

pub struct Internet<'t> {
    pub store: &'t Store,
    pub txn: &'t ReadTxn,
    /// The worker's memo of this transaction's name lookups.
    pub names: &'t NameCache,
    /// The address the query came from (whoami names answer A/AAAA with it).
    pub source: IpAddr,
    /// The query set DO (RFC 3225): signed zones answer with RRSIGs and denial proofs.
    pub dnssec: bool,
}

impl<'t> Internet<'t> {
    #[inline]
    fn node(&self, key: &[u8]) -> Result<Option<NodeView<'t>>, LookupFailed> {
        match self.names.get(self.store, self.txn, key)? {
            Some(bytes) => Ok(Some(NodeView::parse(bytes).map_err(|_| LookupFailed)?)),
            None => Ok(None),
        }
    }

    /// Finds what answers `name` for `qtype`: in the deepest zone holding it, or in the zone of
    /// depth `within` (a chain target, resolved inside the zone that answered the question).
    fn find(&self, name: &QueryName, qtype: u16, within: Option<u8>) -> Result<Found<'t>, LookupFailed> {
        let labels = name.label_count();
        let mut zone = within;
        if let Some(node) = self.node(name.ancestor_key(labels))? {
            let z = within.unwrap_or(node.deepest_zone());
            if qtype == rtype::DS {
                // DS lives on the parent side of a cut (RFC 4035 §3.1.4.1): at the apex of a
                // child zone served here, answer from the parent zone when it has the cut too.
                if let Some(child) = node.section(z).filter(|s| s.has(flags::APEX)) {
                    let parent = node.sections().filter(|s| s.zone() < child.zone() && s.has(flags::CUT)).last();
                    if let Some(parent) = parent {
                        return self.classify(name, parent, labels as u8, true);
                    }
                }
            }
            if let Some(section) = node.section(z).filter(|s| !is_hash_name(s, labels)) {
                return self.classify(name, section, labels as u8, true);
            }
            zone = Some(z);
        }
        // Closest encloser: the deepest ancestor that exists in the zone.
        for k in (0..labels).rev() {
            let Some(node) = self.node(name.ancestor_key(k))? else { continue };
            let z = *zone.get_or_insert(node.deepest_zone());
            if let Some(section) = node.section(z).filter(|s| !is_hash_name(s, k)) {
                return self.classify(name, section, k as u8, false);
            }
            if k <= z as usize {
                break;
            }
        }
        Ok(Found::NotAuth)
    }

    /// Decides from the flags of the closest encloser (`labels` labels; `exact` if it is the name).
    fn classify(&self, name: &QueryName, section: SectionView<'t>, labels: u8, exact: bool) -> Result<Found<'t>, LookupFailed> {
        let zone = section.zone();
        if section.has(flags::BELOW_CUT) {
            let cut = section.cut();
            let owner = self.node(name.ancestor_key(cut as usize))?.and_then(|n| n.section(zone)).ok_or(LookupFailed)?;
            if owner.has(flags::CUT) {
                return Ok(Found::Referral { zone, cut, section: owner });
            }
            let rrset = owner.rrset(rtype::DNAME).ok_or(LookupFailed)?;
            return Ok(Found::Dname { zone, owner: cut, section: owner, rrset });
        }
        if section.has(flags::CUT) && !section.has(flags::APEX) {
            // At or below a delegation point. (A DS query at the cut itself is answered by
            // the parent; the caller tells that case apart.)
            return Ok(Found::Referral { zone, cut: labels, section });
        }
        if exact {
            return Ok(Found::Name { zone, section, wildcard: None });
        }
        if section.has(flags::DNAME) {
            let rrset = section.rrset(rtype::DNAME).ok_or(LookupFailed)?;
            return Ok(Found::Dname { zone, owner: labels, section, rrset });
        }
        if section.has(flags::WILDCARD_CHILD) {
            let mut key = [0u8; lmdb_schema::name::MAX_KEY + 2];
            let base = name.ancestor_key(labels as usize);
            key[..base.len()].copy_from_slice(base);
            key[base.len()..base.len() + 2].copy_from_slice(b"*\0");
            if let Some(wild) = self.node(&key[..base.len() + 2])?.and_then(|n| n.section(zone)) {
                return Ok(Found::Name { zone, section: wild, wildcard: Some(labels) });
            }
        }
        Ok(Found::NxDomain { zone, encloser: labels })
    }

    /// Answers the question in `scratch.current` into `w`.
    pub fn answer(
        &self,
        scratch: &mut ResolveScratch,
        geo: &mut GeoScratch,
        qtype: u16,
        w: &mut Writer<'_>,
    ) -> Result<Outcome, LookupFailed> {
        scratch.visited.clear();
        scratch.visited_ends.clear();
        scratch.additional_targets.clear();
        scratch.marks.clear();
        scratch.proofs.clear();
        scratch.servfail_expired = false;
        let mut outcome = Outcome { rcode: RCODE_NOERROR as u16, aa: false, per_client: false };
        let mut zone_depth = 0;
        let mut end = End::Nothing;
        for hop in 0..MAX_CHAIN {
            // Chains are followed only inside the zone that answered the question, as Knot does:
            // data from another zone would be vouched for by the wrong SOA. A target below one
            // of our delegations gets that referral, even when the child zone is served here.
            let within = if hop == 0 {
                None
            } else if scratch.current.label_count() >= zone_depth as usize
                && scratch.current.ancestor_key(zone_depth as usize) == scratch.apex
            {
                Some(zone_depth)
            } else {
                end = End::Answer;
                break;
            };
            let found = self.find(&scratch.current, qtype, within)?;
            let zone = match found {
                Found::NotAuth => {
                    if hop == 0 {
                        outcome.rcode = RCODE_REFUSED as u16;
                    } else {
                        end = End::Answer;
                    }
                    break;
                }
                Found::Name { zone, .. } | Found::NxDomain { zone, .. } | Found::Referral { zone, .. } | Found::Dname { zone, .. } => zone,
            };
            if hop == 0 {
                zone_depth = zone;
                let apex = scratch.current.ancestor_key(zone as usize);
                scratch.apex.clear();
                scratch.apex.extend_from_slice(apex);
                if scratch.expired.contains(self.store, self.txn, &scratch.apex) {
                    scratch.servfail_expired = true;
                    return Err(LookupFailed);
                }
            }
            let labels = scratch.current.label_count();
            let owner = Owner::At(scratch.current.ancestor_offset(labels).unwrap_or(12));
            let (section, wildcard) = match found {
                Found::NotAuth => unreachable!("handled above"),
                Found::NxDomain { encloser, .. } => {
                    outcome.aa = true;
                    outcome.rcode = RCODE_NXDOMAIN as u16;
                    let apex = self.soa(scratch, zone, w, u32::MAX)?;
                    end = End::NxDomain { encloser, apex };
                    break;
                }
                Found::Referral { cut, section, .. } if qtype == rtype::DS && cut as usize == labels => (section, None),
                Found::Referral { cut, section, .. } => {
                    // AA stays set when the referral ends a chain that started with our data.
                    outcome.aa = hop > 0;
                    let signed = self.referral(scratch, cut, section, w)?;
                    end = End::Referral { cut, section, signed };
                    break;
                }
                Found::Dname { owner: dname_labels, section, rrset, .. } => {
                    outcome.aa = true;
                    let dname_owner = Owner::At(scratch.current.ancestor_offset(dname_labels as usize).unwrap_or(12));
                    let target_at = w.rrset(Section::Answer, dname_owner, &rrset, None);
                    if target_at == 0 {
                        return Err(LookupFailed);
                    }
                    self.sign(w, Section::Answer, dname_owner, &section, &rrset, None);
                    // The synthesized CNAME goes unsigned: the DNAME's RRSIG vouches for it.
                    let Some(cname_target) = self.synthesize_cname(scratch, dname_labels, target_at, rrset.ttl(), owner, w) else {
                        outcome.rcode = RCODE_YXDOMAIN as u16;
                        end = End::Answer;
                        break;
                    };
                    if !self.follow(scratch, w, cname_target) {
                        end = End::Answer;
                        break;
                    }
                    continue;
                }
                Found::Name { section, wildcard, .. } => (section, wildcard),
            };
            outcome.aa = true;
            if let (Some(encloser), true) = (wildcard, self.dnssec) {
                scratch.proofs.wildcard_hit(&scratch.current.key, encloser);
            }
            if section.has(flags::WHOAMI) {
                // A whoami name of the zone's policy: synthesized from the client's address and
                // the policy's table; other types get the zone's NODATA.
                outcome.per_client = true;
                let table = geo.policy_table(self.store, self.txn, &scratch.apex).ok_or(LookupFailed)?;
                if !super::meta::whoami_records(self.txn, geo, &table, self.source, qtype, owner, w) {
                    // TTL 0 like the records: whether A or AAAA exists depends on the client.
                    self.soa(scratch, zone, w, 0)?;
                }
                break;
            }
            // A CNAME is followed unless the question is about the name's own records (RFC
            // 4035 §3.1.4: RRSIG and NSEC live beside a CNAME).
            let own_records = matches!(qtype, rtype::CNAME | rtype::ANY | rtype::RRSIG | rtype::NSEC);
            if !own_records && section.has(flags::CNAME) {
                if let Some(cname) = geo.select(self.store, self.txn, &scratch.apex, section, rtype::CNAME) {
                    let target = w.rrset(Section::Answer, owner, &cname, None);
                    if target == 0 {
                        // No record framed (a corrupt value): nothing to follow.
                        return Err(LookupFailed);
                    }
                    self.sign(w, Section::Answer, owner, &section, &cname, None);
                    if !self.follow(scratch, w, target) {
                        end = End::Answer;
                        break;
                    }
                    continue;
                }
            }
            let answered = match qtype {
                rtype::ANY => self.any(section, owner, w, &mut scratch.additional_targets),
                // Every signature at the name, whatever it covers (as Knot and NSD answer).
                rtype::RRSIG => section.all_signatures().fold(false, |_, sigs| {
                    w.rrset(Section::Answer, owner, &sigs, None);
                    true
                }),
                _ => match geo.select(self.store, self.txn, &scratch.apex, section, qtype) {
                    Some(rrset) => {
                        w.rrset_collecting(Section::Answer, owner, &rrset, &mut scratch.additional_targets);
                        self.sign(w, Section::Answer, owner, &section, &rrset, None);
                        true
                    }
                    None => false,
                },
            };
            end = if answered {
                End::Answer
            } else {
                // NODATA, also at the end of a chain (RFC 2308 §2.2).
                let apex = self.soa(scratch, zone, w, u32::MAX)?;
                End::NoData { section, wildcard, apex }
            };
            break;
        }
        let additional = matches!(end, End::Answer | End::NoData { .. } | End::Referral { .. });
        let cut = match end {
            End::Referral { cut, .. } => Some(cut),
            _ => None,
        };
        if self.dnssec {
            self.prove(scratch, zone_depth, end, w)?;
        }
        if additional {
            self.additional(scratch, zone_depth, cut, w)?;
        }
        Ok(outcome)
    }

    /// Appends the RRSIGs over `rrset` when the query asked for DNSSEC.
    #[inline]
    fn sign(&self, w: &mut Writer<'_>, out: Section, owner: Owner, section: &SectionView<'t>, rrset: &RrsetView<'t>, ttl: Option<u32>) {
        if self.dnssec {
            super::dnssec::put_signatures(w, out, owner, section, rrset, ttl);
        }
    }

    /// The denial proofs `end` needs, in a signed zone (see `dnssec`).
    fn prove(&self, scratch: &mut ResolveScratch, zone: u8, end: End<'t>, w: &mut Writer<'_>) -> Result<(), LookupFailed> {
        let apex = match end {
            End::Nothing => return Ok(()),
            End::Answer if !scratch.proofs.has_wildcard_hits() => return Ok(()),
            End::Referral { signed: true, .. } if !scratch.proofs.has_wildcard_hits() => return Ok(()),
            End::NxDomain { apex, .. } | End::NoData { apex, .. } => apex,
            End::Answer | End::Referral { .. } => {
                let Some(apex) = self.node(&scratch.apex)?.and_then(|n| n.section(zone)) else { return Ok(()) };
                apex
            }
        };
        let Some(denial) = Denial::of(&apex) else { return Ok(()) };
        // The question is a name of the zone, so its apex is in the question (the current
        // name may have left the zone by a CNAME).
        let Some(apex_at) = question_ancestor(w.buf, zone) else { return Ok(()) };
        let mut prover = Prover {
            store: self.store,
            txn: self.txn,
            names: self.names,
            zone,
            apex: &scratch.apex,
            apex_at,
            denial,
            scratch: &mut scratch.proofs,
        };
        let key = &scratch.current.key;
        match end {
            End::NxDomain { encloser, .. } => prover.nxdomain(key, encloser, w)?,
            End::NoData { section, wildcard, .. } => prover.nodata(key, &section, wildcard, w)?,
            End::Referral { cut, section, signed: false } => prover.no_ds(name::ancestor(key, cut as usize), &section, w)?,
            _ => {}
        }
        prover.wildcard_answers(w)
    }

    /// Moves `scratch.current` to the name at `target` in the response, unless it was seen.
    fn follow(&self, scratch: &mut ResolveScratch, w: &Writer<'_>, target: usize) -> bool {
        let key = &scratch.current.key;
        scratch.visited.extend_from_slice(key);
        scratch.visited_ends.push(scratch.visited.len());
        if super::names::read_name(w.buf, target, &mut scratch.current).is_none() {
            return false;
        }
        let mut start = 0;
        for &end in &scratch.visited_ends {
            if scratch.visited[start..end] == scratch.current.key[..] {
                return false;
            }
            start = end;
        }
        true
    }

    /// Appends the CNAME a DNAME implies (RFC 6672 §2.2): owner = current name, target = its
    /// labels below the DNAME owner followed by the DNAME target. None if that name is too long.
    fn synthesize_cname(
        &self,
        scratch: &mut ResolveScratch,
        dname_labels: u8,
        dname_target_at: usize,
        ttl: u32,
        owner: Owner,
        w: &mut Writer<'_>,
    ) -> Option<usize> {
        let current = &scratch.current;
        // DNAME RDATA is never compressed (RFC 6672 §2.5): its target is one run of bytes.
        let target_len = lmdb_schema::zone::wire_name_len(&w.buf[dname_target_at..])?;
        scratch.synth.clear();
        // The current name may be a compressed CNAME target: its labels are copied one by one.
        let prefix_labels = current.label_count().checked_sub(dname_labels as usize)?;
        for &at in &current.label_offsets[..prefix_labels] {
            let at = at as usize;
            scratch.synth.extend_from_slice(&w.buf[at..at + 1 + w.buf[at] as usize]);
        }
        scratch.synth.extend_from_slice(&w.buf[dname_target_at..dname_target_at + target_len]);
        if scratch.synth.len() > lmdb_schema::name::MAX_NAME_WIRE {
            return None;
        }
        let synth = std::mem::take(&mut scratch.synth);
        let at = w.record(Section::Answer, owner, rtype::CNAME, ttl, &[&synth]);
        scratch.synth = synth;
        Some(at)
    }

    /// RFC 8482: one RRset stands for all, over UDP and TCP alike (as Knot and NSD answer),
    /// with its signatures, and the addresses of the names it holds in the additional section
    /// (as Knot adds them). Returns false when the name has no data (NODATA).
    fn any(&self, section: SectionView<'t>, owner: Owner, w: &mut Writer<'_>, targets: &mut Vec<u16>) -> bool {
        match section.rrsets().find(|r| r.condition().is_empty() && r.rtype() != rtype::RRSIG) {
            Some(rrset) => {
                w.rrset_collecting(Section::Answer, owner, &rrset, targets);
                self.sign(w, Section::Answer, owner, &section, &rrset, None);
                true
            }
            None => false,
        }
    }

    /// The zone's SOA in the authority section, TTL = min(SOA TTL, MINIMUM) (RFC 2308 §3), and
    /// at most `ttl_cap`; its RRSIG with the same TTL, as Knot answers. Returns the apex.
    fn soa(&self, scratch: &ResolveScratch, zone: u8, w: &mut Writer<'_>, ttl_cap: u32) -> Result<SectionView<'t>, LookupFailed> {
        let current = &scratch.current;
        let apex = self.node(current.ancestor_key(zone as usize))?.and_then(|n| n.section(zone)).ok_or(LookupFailed)?;
        let soa = apex.rrset(rtype::SOA).ok_or(LookupFailed)?;
        let rdata = soa.rdatas().next().ok_or(LookupFailed)?;
        let minimum = rdata.len().checked_sub(4).and_then(|at| rdata.get(at..)).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes);
        let minimum = minimum.ok_or(LookupFailed)?;
        let owner = current.ancestor_offset(zone as usize).map_or(Owner::Root, Owner::At);
        let ttl = Some(soa.ttl().min(minimum).min(ttl_cap));
        w.rrset(Section::Authority, owner, &soa, ttl);
        self.sign(w, Section::Authority, owner, &apex, &soa, ttl);
        Ok(apex)
    }

    /// A referral: the cut's NS in authority, AA clear (their addresses go in additional), and
    /// with DNSSEC its signed DS. Returns whether a DS went in.
    fn referral(&self, scratch: &mut ResolveScratch, cut: u8, section: SectionView<'t>, w: &mut Writer<'_>) -> Result<bool, LookupFailed> {
        let ns = section.rrset(rtype::NS).ok_or(LookupFailed)?;
        let owner = Owner::At(scratch.current.ancestor_offset(cut as usize).ok_or(LookupFailed)?);
        w.rrset_collecting(Section::Authority, owner, &ns, &mut scratch.additional_targets);
        if !self.dnssec {
            return Ok(false);
        }
        let Some(ds) = section.rrset(rtype::DS) else { return Ok(false) };
        w.rrset(Section::Authority, owner, &ds, None);
        self.sign(w, Section::Authority, owner, &section, &ds, None);
        Ok(true)
    }

    /// A and AAAA of in-zone names collected from MX, SRV and NS RDATA, with their RRSIGs
    /// (glue has none); a name without a node of its own gets them from the wildcard that covers
    /// it, as Knot and NSD synthesize glue. Whole RRsets only; what does not fit is dropped later
    /// (see [`Mark`]), a signature with its RRset. `cut`: the delegation of a referral, whose
    /// in-domain glue must all fit.
    fn additional(&self, scratch: &mut ResolveScratch, zone: u8, cut: Option<u8>, w: &mut Writer<'_>) -> Result<(), LookupFailed> {
        scratch.marks.push(Mark { len: w.written(), additional: w.additional, required: false });
        for i in 0..scratch.additional_targets.len() {
            let at = scratch.additional_targets[i] as usize;
            if super::names::read_name(w.buf, at, &mut scratch.target).is_none() {
                continue;
            }
            let target = &scratch.target;
            if target.label_count() < zone as usize || target.ancestor_key(zone as usize) != scratch.apex {
                continue;
            }
            let required = cut.is_some_and(|cut| {
                let cut = cut as usize;
                target.label_count() >= cut && target.ancestor_key(cut) == scratch.current.ancestor_key(cut)
            });
            let Some(section) = self.address_section(target, zone)? else { continue };
            for rtype in [rtype::A, rtype::AAAA] {
                if let Some(rrset) = section.rrset(rtype) {
                    w.rrset(Section::Additional, Owner::At(at as u16), &rrset, None);
                    self.sign(w, Section::Additional, Owner::At(at as u16), &section, &rrset, None);
                    scratch.marks.push(Mark { len: w.written(), additional: w.additional, required });
                }
            }
        }
        Ok(())
    }

    /// The records of `name` in `zone` for the additional section: its own, or those of the
    /// wildcard child of its closest encloser when the name does not exist.
    fn address_section(&self, name: &QueryName, zone: u8) -> Result<Option<SectionView<'t>>, LookupFailed> {
        let labels = name.label_count();
        if let Some(node) = self.node(name.ancestor_key(labels))? {
            return Ok(node.section(zone));
        }
        for k in (zone as usize..labels).rev() {
            let Some(encloser) = self.node(name.ancestor_key(k))?.and_then(|n| n.section(zone)) else { continue };
            if !encloser.has(flags::WILDCARD_CHILD) {
                return Ok(None);
            }
            let base = name.ancestor_key(k);
            let mut key = [0u8; lmdb_schema::name::MAX_KEY + 2];
            key[..base.len()].copy_from_slice(base);
            key[base.len()..base.len() + 2].copy_from_slice(b"*\0");
            return Ok(self.node(&key[..base.len() + 2])?.and_then(|n| n.section(zone)));
        }
        Ok(None)
    }
}

/// An NSEC3 owner name (a hash label right below the apex, `labels` labels): not a name of
/// the zone, so answered as absent (as Knot does).
#[inline]
fn is_hash_name(section: &SectionView<'_>, labels: usize) -> bool {
    labels == section.zone() as usize + 1 && section.is_nsec3_owner()
}

/// Offset in the response of the question name's ancestor of `labels` labels (the root label
/// for 0).
fn question_ancestor(buf: &[u8], labels: u8) -> Option<u16> {
    let mut starts = [0u16; 128];
    let (mut at, mut count) = (crate::query::HEADER_LEN, 0);
    loop {
        let len = *buf.get(at)? as usize;
        if len == 0 || count == starts.len() {
            break;
        }
        starts[count] = at as u16;
        count += 1;
        at += 1 + len;
    }
    match count.checked_sub(labels as usize)? {
        i if i == count => Some(at as u16),
        i => Some(starts[i]),
    }
}
