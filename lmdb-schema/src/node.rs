//! The value stored under a name key: everything the server needs to answer for that name.
//!
//! Several zones can hold data at one name (a parent's delegation NS and DS at the apex of a child
//! zone served beside it, or a parent's glue under a child apex), so a node carries one *section*
//! per zone, tagged with the zone's apex label count: the apex of a zone containing a name is an
//! ancestor-or-self of it, so the label count identifies the zone from the name alone.
//!
//! ```text
//! node    := deepest:u8  nsections:u8  section*          (sections sorted by zone depth)
//! section := zone:u8  flags:u8  cut:u8  nrrsets:u16  len:u32  [index]  rrset*
//! index   := ( type:u16 covered:u16 fp:u32 offset:u32 ) * nrrsets   (only in sections flagged GEO)
//! rrset   := type:u16  covered:u16  ttl:u32  nrr:u16  condlen:u8  cond  wirelen:u32  wire
//! wire    := ( type:u16 class:u16 ttl:u32 rdlen:u16 rdata )*   -- ready to follow an owner name
//! ```
//! Room to grow: a section's body may end with an *extension area* after its RRsets, and the
//! node with one after its sections, each a sequence of `tag:u8 len:u16 value` items. This
//! build defines no tags: it skips every item, and the loader keeps them byte for byte when it
//! rewrites a node, so a later build can add fields (a flag the full `flags` byte has no room
//! for, a precomputed hash) that this one neither breaks on nor drops.
//!
//! All integers big-endian. `deepest` is the label count of the deepest zone apex at or above the
//! name among all loaded zones; it can exceed every section's zone (parent glue below a child
//! zone's apex), which tells the server the name is answered by a zone that has no data here.
//! `cut` is, for names below a zone cut or DNAME of their zone, the label count of that owner.
//! A section with no RRsets is an empty non-terminal. `cond` is empty for the default RRset and
//! `key=value` for a variant selected by client metadata (geo).
//!
//! RRsets are stored in (type, covered, cond) order, so a type's default comes first and its
//! variants follow sorted by condition. A name can carry hundreds of variants (one per country),
//! so a section with variants (flag `GEO`) starts with an index: one entry per RRset with its
//! type, covered type, condition [`fingerprint`] (0 for the default) and where it begins,
//! counted from the end of the index, sorted by (type, covered, fingerprint). Finding the
//! variant for a client is then a binary search over fixed-size integers, with one condition
//! compared at the end, not a scan. Sections without variants have no index: their few RRsets
//! are scanned.
//!
//! `flags` (see [`flags`]) summarize the section so the server never scans: apex, delegation
//! point, below a cut or DNAME, wildcard child, DNAME, CNAME, geo variants, and `WHOAMI` — a
//! name listed in its zone's policy (`zone::GeoPolicy::whoami`) whose answers are synthesized
//! from the client's address and the policy's range table. A `WHOAMI` section owns no RRsets
//! (the loader refuses records there), so it looks like an empty non-terminal to a reader that
//! does not know the flag.

use std::fmt;

use crate::rtype;

/// Section flags, computed by the loader at write time.
pub mod flags {
    /// The name is the zone's apex (holds its SOA).
    pub const APEX: u8 = 0x01;
    /// NS at a non-apex name: a delegation point.
    pub const CUT: u8 = 0x02;
    /// Strictly below a delegation point or a DNAME of the same zone: occluded.
    pub const BELOW_CUT: u8 = 0x04;
    /// `*.<name>` exists in the same zone.
    pub const WILDCARD_CHILD: u8 = 0x08;
    /// The name owns a DNAME.
    pub const DNAME: u8 = 0x10;
    /// The name owns a CNAME.
    pub const CNAME: u8 = 0x20;
    /// At least one RRset here has metadata-selected variants; the section starts with an
    /// index of its RRsets.
    pub const GEO: u8 = 0x40;
    /// This name answers whoami from the zone policy's range table: TXT with the client's
    /// address and metadata, A/AAAA with its address. The section has no RRsets.
    pub const WHOAMI: u8 = 0x80;
}

pub const CLASS_IN: u16 = 1;

/// A stored node that does not decode: the database was written by something else or is corrupt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("corrupt node value: {0}")]
pub struct CorruptNode(pub &'static str);

#[inline]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}
#[inline]
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

const SECTION_HEADER: usize = 9;
const RRSET_HEADER: usize = 11; // up to and including condlen

/// Zero-copy view of a stored node.
#[derive(Clone, Copy)]
pub struct NodeView<'a> {
    bytes: &'a [u8],
}

impl<'a> NodeView<'a> {
    /// Checks the node header and the framing of its sections: O(sections), for the query
    /// path. RRsets and records are checked as they are read: the iterators end at the first
    /// that does not frame, so a corrupt value can lose data but never panics the reader.
    /// Readers that must not lose data silently (the loader reading a zone back) use
    /// [`NodeView::parse_strict`].
    #[inline]
    pub fn parse(bytes: &'a [u8]) -> Result<Self, CorruptNode> {
        if bytes.len() < 2 {
            return Err(CorruptNode("short node header"));
        }
        let mut pos = 2;
        for _ in 0..bytes[1] {
            if bytes.len() < pos + SECTION_HEADER {
                return Err(CorruptNode("short section header"));
            }
            let len = be32(bytes, pos + 5) as usize;
            pos += SECTION_HEADER;
            if bytes.len() - pos < len {
                return Err(CorruptNode("section overruns node"));
            }
            pos += len;
        }
        if pos != bytes.len() && !frames_as_extension(&bytes[pos..]) {
            return Err(CorruptNode("trailing bytes"));
        }
        Ok(NodeView { bytes })
    }

    /// The node's extension area (empty for nodes this build writes; see the module header).
    pub fn extension(&self) -> &'a [u8] {
        let mut pos = 2;
        for _ in 0..self.bytes[1] {
            pos += SECTION_HEADER + be32(self.bytes, pos + 5) as usize;
        }
        &self.bytes[pos..]
    }

    /// [`NodeView::parse`], then every RRset and record of every section is checked to frame
    /// exactly, so the iterators are known to see everything stored.
    pub fn parse_strict(bytes: &'a [u8]) -> Result<Self, CorruptNode> {
        let view = Self::parse(bytes)?;
        for section in view.sections() {
            let (index, body) = section.index_and_area();
            let geo = section.has(flags::GEO);
            if geo && index.len() != INDEX_ENTRY * section.rrset_count() as usize {
                return Err(CorruptNode("section shorter than its index"));
            }
            let mut expected_index = Vec::new();
            // The reader's own framing, with a miss made an error instead of an early end.
            let mut rrsets = RrsetIter { body, pos: 0, left: section.rrset_count() };
            for _ in 0..section.rrset_count() {
                let at = rrsets.pos;
                let rrset = rrsets.read().ok_or(CorruptNode("rrset overruns section"))?;
                let (mut framed, mut framed_len) = (0, 0);
                for record in rrset.records() {
                    framed += 1;
                    framed_len += record.len();
                }
                if framed != rrset.rr_count() as usize || framed_len != rrset.wire().len() {
                    return Err(CorruptNode("rr count does not match wire length"));
                }
                if geo {
                    expected_index.push(((rrset.rtype(), rrset.covered(), fingerprint(rrset.condition())), at as u32));
                }
            }
            if rrsets.pos != body.len() && !frames_as_extension(&body[rrsets.pos..]) {
                return Err(CorruptNode("section length mismatch"));
            }
            if geo {
                expected_index.sort_unstable();
                let stored = Index { entries: index, area: body };
                for (i, &((t, covered, fp), offset)) in expected_index.iter().enumerate() {
                    if stored.key(i) != Index::key_of(t, covered, fp) || be32(index, i * INDEX_ENTRY + 8) != offset {
                        return Err(CorruptNode("index does not match the rrsets"));
                    }
                }
            }
        }
        Ok(view)
    }

    /// Label count of the deepest loaded zone apex at or above this name.
    #[inline]
    pub fn deepest_zone(&self) -> u8 {
        self.bytes[0]
    }

    pub fn sections(&self) -> SectionIter<'a> {
        SectionIter { bytes: self.bytes, pos: 2, left: self.bytes[1] }
    }

    /// The section of the zone whose apex has `zone` labels.
    #[inline]
    pub fn section(&self, zone: u8) -> Option<SectionView<'a>> {
        self.sections().find(|s| s.zone() == zone)
    }

    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

pub struct SectionIter<'a> {
    bytes: &'a [u8],
    pos: usize,
    left: u8,
}

impl<'a> Iterator for SectionIter<'a> {
    type Item = SectionView<'a>;
    #[inline]
    fn next(&mut self) -> Option<SectionView<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let p = self.pos;
        let len = be32(self.bytes, p + 5) as usize;
        self.pos = p + SECTION_HEADER + len;
        Some(SectionView { header: &self.bytes[p..p + SECTION_HEADER], body: &self.bytes[p + SECTION_HEADER..self.pos] })
    }
}

/// One zone's data at a name.
#[derive(Clone, Copy)]
pub struct SectionView<'a> {
    header: &'a [u8],
    body: &'a [u8],
}

impl<'a> SectionView<'a> {
    #[inline]
    pub fn zone(&self) -> u8 {
        self.header[0]
    }
    #[inline]
    pub fn flags(&self) -> u8 {
        self.header[1]
    }
    #[inline]
    pub fn has(&self, flag: u8) -> bool {
        self.header[1] & flag != 0
    }
    /// Label count of the cut or DNAME owner above this name (meaningful with `BELOW_CUT`).
    #[inline]
    pub fn cut(&self) -> u8 {
        self.header[2]
    }
    #[inline]
    pub fn rrset_count(&self) -> u16 {
        be16(self.header, 3)
    }
    /// An empty non-terminal: the name exists in the zone only because names below it do.
    #[inline]
    pub fn is_empty_non_terminal(&self) -> bool {
        self.rrset_count() == 0
    }
    pub fn rrsets(&self) -> RrsetIter<'a> {
        let (_, area) = self.index_and_area();
        RrsetIter { body: area, pos: 0, left: self.rrset_count() }
    }

    /// The section's extension area: what follows its RRsets (see the module header).
    pub fn extension(&self) -> &'a [u8] {
        let (_, area) = self.index_and_area();
        let mut rrsets = RrsetIter { body: area, pos: 0, left: self.rrset_count() };
        while rrsets.next().is_some() {}
        area.get(rrsets.pos..).unwrap_or_default()
    }

    /// The index (empty without `GEO`) and the RRsets after it. A body too short for its index
    /// (corrupt) reads as no RRsets.
    #[inline]
    fn index_and_area(&self) -> (&'a [u8], &'a [u8]) {
        if !self.has(flags::GEO) {
            return (&[], self.body);
        }
        self.body.split_at_checked(INDEX_ENTRY * self.rrset_count() as usize).unwrap_or_default()
    }

    /// The default (unconditional) RRset of a type. RRsets are stored sorted by type with the
    /// default first: a scan stops at the first RRset of that type or beyond; with an index,
    /// a binary search finds it.
    #[inline]
    pub fn rrset(&self, rtype: u16) -> Option<RrsetView<'a>> {
        self.rrset_and_variants(rtype).0
    }

    /// The default RRset of a type, and its variants if it has any here.
    #[inline]
    pub fn rrset_and_variants(&self, rtype: u16) -> (Option<RrsetView<'a>>, Option<Variants<'a>>) {
        if !self.has(flags::GEO) {
            let first = self.rrsets().find(|r| r.rtype() >= rtype);
            return (first.filter(|r| r.rtype() == rtype && r.condition().is_empty()), None);
        }
        let (index, area) = self.index_and_area();
        let index = Index { entries: index, area };
        let at = index.lower_bound(0, Index::key_of(rtype, 0, 0));
        let key = index.key(at);
        let (t, covered, fp) = ((key >> 48) as u16, (key >> 32) as u16, key as u32);
        if key == u64::MAX || t != rtype {
            return (None, None);
        }
        let default = if fp == 0 { index.rrset(at).filter(|r| r.condition().is_empty()) } else { None };
        if covered != 0 {
            // RRSIG: the first set, as a scan finds it; variants are not selected by covered type.
            return (default, None);
        }
        let from = if fp == 0 { at + 1 } else { at };
        let has_variants = index.key(from) >> 32 == Index::key_of(rtype, 0, 0) >> 32;
        (default, has_variants.then_some(Variants { index, from, rtype }))
    }

    /// The RRSIGs covering the RRset of type `covered` with condition `cond` (`b""` for the
    /// default): a geo variant is signed by RRSIGs stored with the same condition.
    #[inline]
    pub fn signatures(&self, covered: u16, cond: &[u8]) -> Option<RrsetView<'a>> {
        if self.has(flags::GEO) {
            let (entries, area) = self.index_and_area();
            let index = Index { entries, area };
            let key = Index::key_of(rtype::RRSIG, covered, fingerprint(cond));
            let mut at = index.lower_bound(0, key);
            while index.key(at) == key {
                let found = index.rrset(at)?;
                if same_bytes(found.condition(), cond) {
                    return Some(found);
                }
                at += 1;
            }
            return None;
        }
        self.rrsets()
            .skip_while(|r| r.rtype() < rtype::RRSIG)
            .take_while(|r| r.rtype() == rtype::RRSIG)
            .find(|r| r.covered() == covered && same_bytes(r.condition(), cond))
    }

    /// Every default RRSIG RRset here (one per covered type), in covered-type order.
    pub fn all_signatures(&self) -> impl Iterator<Item = RrsetView<'a>> + 'a {
        self.rrsets()
            .skip_while(|r| r.rtype() < rtype::RRSIG)
            .take_while(|r| r.rtype() == rtype::RRSIG)
            .filter(|r| r.condition().is_empty())
    }

    /// The name is an NSEC3 owner (a hash label under the apex, RFC 5155 §7.1): it holds an
    /// NSEC3 RRset and nothing before it but its signatures. Such names are not names of the
    /// zone. RRsets are sorted by type, so the first one decides.
    #[inline]
    pub fn is_nsec3_owner(&self) -> bool {
        self.rrsets().next().is_some_and(|r| r.rtype() == rtype::NSEC3 || (r.rtype() == rtype::RRSIG && r.covered() == rtype::NSEC3))
    }

    /// The RRset of a type whose variant condition is exactly `cond` (`b""` for the default).
    #[inline]
    pub fn rrset_variant(&self, rtype: u16, cond: &[u8]) -> Option<RrsetView<'a>> {
        self.rrset_variant_by(rtype, cond, fingerprint(cond))
    }

    /// [`SectionView::rrset_variant`] with the condition's [`fingerprint`] already known.
    #[inline]
    pub fn rrset_variant_by(&self, rtype: u16, cond: &[u8], fp: u32) -> Option<RrsetView<'a>> {
        if self.has(flags::GEO) {
            let (entries, area) = self.index_and_area();
            return Variants { index: Index { entries, area }, from: 0, rtype }.find_by(cond, fp);
        }
        self.rrsets().find(|r| r.rtype() == rtype && r.condition() == cond)
    }
}

/// `a == b` for short byte strings (conditions, name keys), inline and eight bytes at a time.
/// Slice `==` calls memcmp, whose call and AVX-512 setup cost more than the compare itself at
/// these lengths, on every answer.
#[inline]
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (mut a, mut b) = (a, b);
    while let (Some((x, a_next)), Some((y, b_next))) = (a.split_first_chunk::<8>(), b.split_first_chunk::<8>()) {
        if x != y {
            return false;
        }
        (a, b) = (a_next, b_next);
    }
    a.iter().zip(b).all(|(x, y)| x == y)
}

/// True if `bytes` is a whole sequence of `tag:u8 len:u16 value` extension items.
fn frames_as_extension(mut bytes: &[u8]) -> bool {
    while !bytes.is_empty() {
        let Some(len) = bytes.get(1..3).map(|l| u16::from_be_bytes([l[0], l[1]]) as usize) else { return false };
        let Some(rest) = bytes.get(3 + len..) else { return false };
        bytes = rest;
    }
    true
}

/// Bytes of one index entry: type, covered, fingerprint, offset.
const INDEX_ENTRY: usize = 12;

/// A condition's fingerprint in the index: 0 for the default, never 0 for a variant. Part of
/// the on-disk format: changing it changes every index.
#[inline]
pub fn fingerprint(cond: &[u8]) -> u32 {
    if cond.is_empty() {
        return 0;
    }
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h = (cond.len() as u64).wrapping_mul(K);
    let mut rest = cond;
    while let Some((chunk, next)) = rest.split_first_chunk::<8>() {
        h = (h ^ u64::from_le_bytes(*chunk)).wrapping_mul(K).rotate_left(31);
        rest = next;
    }
    if !rest.is_empty() {
        let mut tail = [0u8; 8];
        tail[..rest.len()].copy_from_slice(rest);
        h = (h ^ u64::from_le_bytes(tail)).wrapping_mul(K).rotate_left(31);
    }
    ((h >> 32) as u32 ^ h as u32) | 1
}

/// A GEO section's index over its RRsets.
#[derive(Clone, Copy)]
struct Index<'a> {
    entries: &'a [u8],
    area: &'a [u8],
}

impl<'a> Index<'a> {
    /// (type, covered, fingerprint) of entry `i` as one number that orders like the tuple
    /// (the entry's first eight bytes, big-endian); past the end, the largest key.
    #[inline]
    fn key(&self, i: usize) -> u64 {
        match self.entries.get(i * INDEX_ENTRY..i * INDEX_ENTRY + 8) {
            Some(e) => u64::from_be_bytes([e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7]]),
            None => u64::MAX,
        }
    }

    /// The search key of (type, covered, fingerprint).
    #[inline]
    fn key_of(rtype: u16, covered: u16, fp: u32) -> u64 {
        (rtype as u64) << 48 | (covered as u64) << 32 | fp as u64
    }

    /// The RRset entry `i` points at.
    #[inline]
    fn rrset(&self, i: usize) -> Option<RrsetView<'a>> {
        let e = self.entries.get(i * INDEX_ENTRY..i * INDEX_ENTRY + INDEX_ENTRY)?;
        RrsetIter { body: self.area, pos: be32(e, 8) as usize, left: 1 }.read()
    }

    /// The first entry at or after `from` whose key is not below `key`. Branch-free halving:
    /// the comparisons of a binary search over a few entries are unpredictable, and their
    /// mispredictions cost more than the loads.
    #[inline]
    fn lower_bound(&self, from: usize, key: u64) -> usize {
        let count = self.entries.len() / INDEX_ENTRY;
        if from >= count {
            return count;
        }
        let (mut base, mut size) = (from, count - from);
        while size > 1 {
            let half = size / 2;
            let mid = base + half;
            base = if self.key(mid) < key { mid } else { base };
            size -= half;
        }
        base + usize::from(self.key(base) < key)
    }
}

/// The variants of one type in an indexed section, found by condition.
#[derive(Clone, Copy)]
pub struct Variants<'a> {
    index: Index<'a>,
    /// The index entry of the first variant (or where to start searching).
    from: usize,
    rtype: u16,
}

impl<'a> Variants<'a> {
    /// The variant whose condition is exactly `cond`.
    #[inline]
    pub fn find(&self, cond: &[u8]) -> Option<RrsetView<'a>> {
        self.find_by(cond, fingerprint(cond))
    }

    /// [`Variants::find`] with the condition's [`fingerprint`] already known.
    #[inline]
    pub fn find_by(&self, cond: &[u8], fp: u32) -> Option<RrsetView<'a>> {
        let key = Index::key_of(self.rtype, 0, fp);
        let mut at = self.index.lower_bound(self.from, key);
        // Entries with the same fingerprint (a collision) sit together: check each condition.
        while self.index.key(at) == key {
            let found = self.index.rrset(at)?;
            if same_bytes(found.condition(), cond) {
                return Some(found);
            }
            at += 1;
        }
        None
    }
}

pub struct RrsetIter<'a> {
    body: &'a [u8],
    pos: usize,
    left: u16,
}

impl<'a> Iterator for RrsetIter<'a> {
    type Item = RrsetView<'a>;
    #[inline]
    fn next(&mut self) -> Option<RrsetView<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let rrset = self.read();
        if rrset.is_none() {
            // Corrupt framing: nothing after it can be trusted.
            self.left = 0;
        }
        rrset
    }
}

impl<'a> RrsetIter<'a> {
    #[inline]
    fn read(&mut self) -> Option<RrsetView<'a>> {
        let p = self.pos;
        let cond_len = *self.body.get(p + 10)? as usize;
        let wl_at = p + RRSET_HEADER + cond_len;
        let wire_len = u32::from_be_bytes(self.body.get(wl_at..wl_at + 4)?.try_into().ok()?) as usize;
        let header = self.body.get(p..wl_at)?;
        let wire = self.body.get(wl_at + 4..wl_at + 4 + wire_len)?;
        self.pos = wl_at + 4 + wire_len;
        Some(RrsetView { header, wire })
    }
}

/// One RRset: its type, TTL, variant condition and the pre-encoded records.
#[derive(Clone, Copy)]
pub struct RrsetView<'a> {
    header: &'a [u8],
    wire: &'a [u8],
}

impl<'a> RrsetView<'a> {
    #[inline]
    pub fn rtype(&self) -> u16 {
        be16(self.header, 0)
    }
    /// For RRSIG sets, the type covered; 0 otherwise.
    #[inline]
    pub fn covered(&self) -> u16 {
        be16(self.header, 2)
    }
    #[inline]
    pub fn ttl(&self) -> u32 {
        be32(self.header, 4)
    }
    /// The stored record count (a corrupt value read through [`NodeView::parse`] may yield
    /// fewer from [`RrsetView::records`]).
    #[inline]
    pub fn rr_count(&self) -> u16 {
        be16(self.header, 8)
    }
    /// `b""` for the default RRset, `key=value` for a variant.
    #[inline]
    pub fn condition(&self) -> &'a [u8] {
        &self.header[RRSET_HEADER..]
    }
    /// The records, each as `type class ttl rdlength rdata`, ready to follow an owner name.
    #[inline]
    pub fn wire(&self) -> &'a [u8] {
        self.wire
    }
    /// Iterates over each record's wire block (`type class ttl rdlength rdata`), ending early
    /// at a record that does not frame (see [`NodeView::parse`]).
    #[inline]
    pub fn records(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let wire = self.wire;
        let mut pos = 0;
        std::iter::from_fn(move || {
            let rdlen = wire.get(pos + 8..pos + 10)?;
            let len = 10 + u16::from_be_bytes([rdlen[0], rdlen[1]]) as usize;
            let rr = wire.get(pos..pos + len)?;
            pos += len;
            Some(rr)
        })
    }
    /// Iterates over each record's RDATA.
    pub fn rdatas(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.records().map(|rr| &rr[10..])
    }
}

/// An owned RRset, as the loader builds it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rrset {
    pub rtype: u16,
    pub covered: u16,
    /// Empty for the default RRset, `key=value` for a variant.
    pub condition: Vec<u8>,
    pub ttl: u32,
    /// RDATAs, kept sorted and free of duplicates (an RRset is a set, RFC 2181 §5).
    pub rdatas: Vec<Vec<u8>>,
}

impl Rrset {
    pub fn new(rtype: u16, covered: u16, condition: Vec<u8>, ttl: u32) -> Self {
        Rrset { rtype, covered, condition, ttl, rdatas: Vec::new() }
    }

    /// Adds an RDATA; returns false if it was already present.
    pub fn insert(&mut self, rdata: Vec<u8>) -> bool {
        match self.rdatas.binary_search(&rdata) {
            Ok(_) => false,
            Err(at) => {
                self.rdatas.insert(at, rdata);
                true
            }
        }
    }

    /// Removes an RDATA; returns false if it was absent.
    pub fn remove(&mut self, rdata: &[u8]) -> bool {
        match self.rdatas.binary_search_by(|r| r.as_slice().cmp(rdata)) {
            Ok(at) => {
                self.rdatas.remove(at);
                true
            }
            Err(_) => false,
        }
    }

    pub fn from_view(view: &RrsetView<'_>) -> Self {
        Rrset {
            rtype: view.rtype(),
            covered: view.covered(),
            condition: view.condition().to_vec(),
            ttl: view.ttl(),
            rdatas: view.rdatas().map(<[u8]>::to_vec).collect(),
        }
    }

    /// Sort key inside a section: type, covered type, then default before variants.
    fn order_key(&self) -> (u16, u16, &[u8]) {
        (self.rtype, self.covered, &self.condition)
    }

    fn encode(&self, out: &mut Vec<u8>) {
        assert!(self.condition.len() <= 255, "variant condition over 255 bytes");
        out.extend_from_slice(&self.rtype.to_be_bytes());
        out.extend_from_slice(&self.covered.to_be_bytes());
        out.extend_from_slice(&self.ttl.to_be_bytes());
        out.extend_from_slice(&(self.rdatas.len() as u16).to_be_bytes());
        out.push(self.condition.len() as u8);
        out.extend_from_slice(&self.condition);
        let wire_len: usize = self.rdatas.iter().map(|r| 10 + r.len()).sum();
        out.extend_from_slice(&(wire_len as u32).to_be_bytes());
        for rdata in &self.rdatas {
            out.extend_from_slice(&self.rtype.to_be_bytes());
            out.extend_from_slice(&CLASS_IN.to_be_bytes());
            out.extend_from_slice(&self.ttl.to_be_bytes());
            out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            out.extend_from_slice(rdata);
        }
    }
}

/// An owned section, as the loader builds it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Section {
    pub zone: u8,
    pub flags: u8,
    pub cut: u8,
    pub rrsets: Vec<Rrset>,
    /// The extension area read, kept as it was (see the module header).
    pub extension: Vec<u8>,
}

impl Section {
    /// [`Node::check_limits`] for one section.
    pub fn check_limits(&self) -> Result<(), LimitError> {
        let rrsets = self.rrsets.iter().filter(|r| !r.rdatas.is_empty()).count();
        if rrsets > MAX_RRSETS_PER_NAME {
            return Err(LimitError::TooManyRrsets { zone: self.zone, rrsets });
        }
        for rrset in &self.rrsets {
            let bytes: usize = rrset.rdatas.iter().map(|r| 12 + r.len()).sum();
            if bytes > MAX_RRSET_BYTES {
                let (rtype, condition, records) = (rrset.rtype, rrset.condition.clone(), rrset.rdatas.len());
                return Err(LimitError::RrsetTooLarge { rtype, condition, records, bytes });
            }
        }
        Ok(())
    }

    pub fn new(zone: u8) -> Self {
        Section { zone, ..Default::default() }
    }

    pub fn from_view(view: &SectionView<'_>) -> Self {
        Section {
            zone: view.zone(),
            flags: view.flags(),
            cut: view.cut(),
            rrsets: view.rrsets().map(|r| Rrset::from_view(&r)).collect(),
            extension: view.extension().to_vec(),
        }
    }

    pub fn find(&self, rtype: u16, covered: u16, condition: &[u8]) -> Option<&Rrset> {
        self.rrsets.iter().find(|r| r.rtype == rtype && r.covered == covered && r.condition == condition)
    }

    pub fn find_mut(&mut self, rtype: u16, covered: u16, condition: &[u8]) -> Option<&mut Rrset> {
        self.rrsets.iter_mut().find(|r| r.rtype == rtype && r.covered == covered && r.condition == condition)
    }

    /// True if the section owns a default or variant RRset of `rtype`.
    pub fn has_type(&self, rtype: u16) -> bool {
        self.rrsets.iter().any(|r| r.rtype == rtype)
    }

    /// Sets the flags that follow from the RRsets alone (everything but `BELOW_CUT`,
    /// `WILDCARD_CHILD` and `cut`, which depend on other names, and `WHOAMI`, which depends on
    /// the zone's policy).
    pub fn refresh_own_flags(&mut self, is_apex: bool) {
        use flags::*;
        let mut f = self.flags & (BELOW_CUT | WILDCARD_CHILD | WHOAMI);
        if is_apex {
            f |= APEX;
        } else if self.has_type(rtype::NS) {
            f |= CUT;
        }
        if self.has_type(rtype::DNAME) {
            f |= DNAME;
        }
        if self.has_type(rtype::CNAME) {
            f |= CNAME;
        }
        if self.rrsets.iter().any(|r| !r.condition.is_empty()) {
            f |= GEO;
        }
        self.flags = f;
    }

    fn encode(&mut self, out: &mut Vec<u8>) {
        self.rrsets.retain(|r| !r.rdatas.is_empty());
        self.rrsets.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
        out.push(self.zone);
        out.push(self.flags);
        out.push(self.cut);
        out.extend_from_slice(&(self.rrsets.len() as u16).to_be_bytes());
        let len_at = out.len();
        out.extend_from_slice(&[0; 4]);
        let geo = self.flags & flags::GEO != 0;
        let index_at = out.len();
        if geo {
            out.resize(index_at + INDEX_ENTRY * self.rrsets.len(), 0);
        }
        let area_at = out.len();
        let mut index = Vec::new();
        for rrset in &self.rrsets {
            if geo {
                index.push((rrset.rtype, rrset.covered, fingerprint(&rrset.condition), (out.len() - area_at) as u32));
            }
            rrset.encode(out);
        }
        out.extend_from_slice(&self.extension);
        index.sort_unstable();
        for (i, (rtype, covered, fp, offset)) in index.into_iter().enumerate() {
            let entry = &mut out[index_at + i * INDEX_ENTRY..index_at + (i + 1) * INDEX_ENTRY];
            entry[0..2].copy_from_slice(&rtype.to_be_bytes());
            entry[2..4].copy_from_slice(&covered.to_be_bytes());
            entry[4..8].copy_from_slice(&fp.to_be_bytes());
            entry[8..12].copy_from_slice(&offset.to_be_bytes());
        }
        let len = (out.len() - len_at - 4) as u32;
        out[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
    }
}

/// The most record bytes one RRset may hold: its records, each with a 2-byte owner pointer,
/// must fit one 64 KiB DNS message beside the header (12), the longest question (255 + 4) and
/// an OPT record (11). A larger RRset could never be answered (every answer would be an empty
/// TC), and its record count would not fit the format's 16 bits.
pub const MAX_RRSET_BYTES: usize = 65_535 - 12 - 259 - 11;
/// The most RRsets (types, signatures and geo variants together) one name may hold in one
/// zone: far below the format's 16-bit count, far above any real name (a variant per country
/// for a handful of types is about a thousand).
pub const MAX_RRSETS_PER_NAME: usize = 8_192;

/// A node that does not fit the format's limits (see [`Node::check_limits`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitError {
    /// (type, variant condition, records, bytes with owner pointers)
    RrsetTooLarge {
        rtype: u16,
        condition: Vec<u8>,
        records: usize,
        bytes: usize,
    },
    TooManyRrsets {
        zone: u8,
        rrsets: usize,
    },
}

impl fmt::Display for LimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitError::RrsetTooLarge { rtype, condition, records, bytes } => {
                let variant =
                    if condition.is_empty() { String::new() } else { format!(" (variant {})", String::from_utf8_lossy(condition)) };
                write!(
                    f,
                    "type {rtype}{variant}: {records} records take {bytes} bytes, more than the {MAX_RRSET_BYTES} one RRset may take \
                     (it must fit a 64 KiB DNS message to be answered at all)"
                )
            }
            LimitError::TooManyRrsets { rrsets, .. } => {
                write!(f, "{rrsets} RRsets (types, signatures and variants) at one name; at most {MAX_RRSETS_PER_NAME} are allowed")
            }
        }
    }
}

/// An owned node, as the loader builds it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Node {
    pub deepest: u8,
    pub sections: Vec<Section>,
    /// The extension area read, kept as it was (see the module header).
    pub extension: Vec<u8>,
}

impl Node {
    pub fn from_view(view: &NodeView<'_>) -> Self {
        Node {
            deepest: view.deepest_zone(),
            sections: view.sections().map(|s| Section::from_view(&s)).collect(),
            extension: view.extension().to_vec(),
        }
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, CorruptNode> {
        Ok(Self::from_view(&NodeView::parse_strict(bytes)?))
    }

    pub fn section(&self, zone: u8) -> Option<&Section> {
        self.sections.iter().find(|s| s.zone == zone)
    }

    pub fn section_mut(&mut self, zone: u8) -> Option<&mut Section> {
        self.sections.iter_mut().find(|s| s.zone == zone)
    }

    /// The section of `zone`, created empty if missing.
    pub fn section_or_insert(&mut self, zone: u8) -> &mut Section {
        let at = match self.sections.iter().position(|s| s.zone >= zone) {
            Some(i) if self.sections[i].zone == zone => i,
            Some(i) => {
                self.sections.insert(i, Section::new(zone));
                i
            }
            None => {
                self.sections.push(Section::new(zone));
                self.sections.len() - 1
            }
        };
        &mut self.sections[at]
    }

    pub fn remove_section(&mut self, zone: u8) -> Option<Section> {
        let at = self.sections.iter().position(|s| s.zone == zone)?;
        Some(self.sections.remove(at))
    }

    /// Checks the limits every stored node keeps (the loader refuses a change that breaks one,
    /// so counts never wrap): RRset sizes ([`MAX_RRSET_BYTES`]) and RRsets per name
    /// ([`MAX_RRSETS_PER_NAME`]).
    pub fn check_limits(&self) -> Result<(), LimitError> {
        self.sections.iter().try_for_each(Section::check_limits)
    }

    pub fn encode(&mut self, out: &mut Vec<u8>) {
        assert!(self.sections.len() <= 255);
        self.sections.sort_by_key(|s| s.zone);
        out.clear();
        out.push(self.deepest);
        out.push(self.sections.len() as u8);
        for section in &mut self.sections {
            section.encode(out);
        }
        out.extend_from_slice(&self.extension);
    }

    pub fn to_bytes(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

impl fmt::Debug for NodeView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&Node::from_view(self), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Node {
        let mut a = Rrset::new(1, 0, vec![], 300);
        a.insert(vec![192, 0, 2, 2]);
        a.insert(vec![192, 0, 2, 1]);
        assert!(!a.insert(vec![192, 0, 2, 1]));
        let mut a_de = Rrset::new(1, 0, b"country=DE".to_vec(), 60);
        a_de.insert(vec![198, 51, 100, 1]);
        let mut ns = Rrset::new(2, 0, vec![], 3600);
        ns.insert(b"\x02ns\x07example\x00".to_vec());
        let mut parent = Section::new(1);
        parent.rrsets.push(ns);
        parent.refresh_own_flags(false);
        let mut child = Section::new(2);
        child.rrsets = vec![a_de, a];
        child.refresh_own_flags(true);
        Node { deepest: 2, sections: vec![child, parent], extension: vec![] }
    }

    #[test]
    fn round_trip() {
        let mut node = sample();
        let bytes = node.to_bytes();
        let view = NodeView::parse(&bytes).unwrap();
        assert_eq!(view.deepest_zone(), 2);
        let zones: Vec<u8> = view.sections().map(|s| s.zone()).collect();
        assert_eq!(zones, vec![1, 2], "sections are stored in zone order");
        let parent = view.section(1).unwrap();
        assert!(parent.has(flags::CUT));
        let child = view.section(2).unwrap();
        assert!(child.has(flags::APEX) && child.has(flags::GEO) && !child.has(flags::CUT));
        let a = child.rrset(1).unwrap();
        assert_eq!(a.ttl(), 300);
        assert_eq!(a.rdatas().collect::<Vec<_>>(), vec![&[192, 0, 2, 1][..], &[192, 0, 2, 2][..]]);
        // Each record is ready to follow an owner name: type, class, ttl, rdlength, rdata.
        assert_eq!(a.records().next().unwrap(), &[0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 192, 0, 2, 1][..]);
        let de = child.rrset_variant(1, b"country=DE").unwrap();
        assert_eq!(de.rdatas().next().unwrap(), &[198, 51, 100, 1]);
        assert!(child.rrset_variant(1, b"country=FR").is_none());
        assert_eq!(Node::from_view(&view), {
            let mut n = sample();
            n.to_bytes();
            n
        });
    }

    /// A name with a default and variants for several types, including an RRSIG (covered type)
    /// and a type with variants but no default.
    fn many_variants() -> Section {
        let mut section = Section::new(2);
        let countries: Vec<String> = (0..200).map(|i| format!("country={:02X}", i * 7 % 256)).collect();
        for (rtype, default) in [(1u16, true), (16, false), (28, true)] {
            if default {
                let mut d = Rrset::new(rtype, 0, vec![], 300);
                d.insert(vec![rtype as u8]);
                section.rrsets.push(d);
            }
            for (i, c) in countries.iter().enumerate() {
                let mut v = Rrset::new(rtype, 0, c.as_bytes().to_vec(), 60);
                v.insert(vec![rtype as u8, i as u8]);
                section.rrsets.push(v);
            }
        }
        let mut sig = Rrset::new(46, 1, vec![], 300);
        sig.insert(vec![0; 20]);
        section.rrsets.push(sig);
        let mut mx = Rrset::new(15, 0, vec![], 300);
        mx.insert(b"\x00\x0a\x00".to_vec());
        section.rrsets.push(mx);
        section.refresh_own_flags(false);
        section
    }

    #[test]
    fn indexed_lookups_equal_a_scan() {
        let mut node = Node { deepest: 2, sections: vec![many_variants()], extension: vec![] };
        let bytes = node.to_bytes();
        let view = NodeView::parse_strict(&bytes).unwrap();
        let section = view.section(2).unwrap();
        assert!(section.has(flags::GEO));
        let all: Vec<RrsetView<'_>> = section.rrsets().collect();
        assert_eq!(all.len(), 3 * 200 + 2 + 2);
        let same = |a: Option<RrsetView<'_>>, b: Option<&RrsetView<'_>>| {
            assert_eq!(a.map(|r| r.wire().as_ptr()), b.map(|r| r.wire().as_ptr()));
        };
        for rtype in [0u16, 1, 2, 15, 16, 27, 28, 29, 46, 65535] {
            let default = all.iter().find(|r| r.rtype() == rtype && r.condition().is_empty());
            same(section.rrset(rtype), default);
            let has_variants = all.iter().any(|r| r.rtype() == rtype && !r.condition().is_empty());
            let (d, v) = section.rrset_and_variants(rtype);
            same(d, default);
            assert_eq!(v.is_some(), has_variants, "type {rtype}");
            for i in 0..=256 {
                let cond = format!("country={i:02X}");
                let scan = all.iter().find(|r| r.rtype() == rtype && r.condition() == cond.as_bytes());
                same(section.rrset_variant(rtype, cond.as_bytes()), scan);
                if let Some(v) = v {
                    same(v.find(cond.as_bytes()), scan);
                }
            }
            same(section.rrset_variant(rtype, b"country="), None);
            same(section.rrset_variant(rtype, b"zzz=1"), None);
        }
        assert_eq!(Section::from_view(&section).rrsets.len(), all.len());
    }

    #[test]
    fn a_corrupt_index_never_panics() {
        let mut node = Node { deepest: 2, sections: vec![many_variants()], extension: vec![] };
        let bytes = node.to_bytes();
        // The index starts after the node header (2) and the section header (9).
        for at in (11..11 + INDEX_ENTRY * 20).step_by(5) {
            for value in [0u8, 0x7f, 0xff] {
                let mut bad = bytes.clone();
                bad[at] = value;
                let view = NodeView::parse(&bad).unwrap();
                let section = view.section(2).unwrap();
                for rtype in [1u16, 16, 28] {
                    let _ = section.rrset(rtype);
                    let _ = section.rrset_and_variants(rtype);
                    let _ = section.rrset_variant(rtype, b"country=07");
                }
                if bad != bytes {
                    assert!(NodeView::parse_strict(&bad).is_err(), "byte {at} = {value}");
                }
            }
        }
    }

    #[test]
    fn fingerprints_are_stable_and_never_zero_for_a_variant() {
        // Part of the on-disk format: these values must not change without a schema bump.
        assert_eq!(fingerprint(b""), 0);
        let pinned = [fingerprint(b"country=DE"), fingerprint(b"pop=fra"), fingerprint(b"asn=3320")];
        assert_eq!(pinned, [1838202489, 2269844739, 2429555611]);
        let mut seen = std::collections::HashSet::new();
        for i in 0..10_000 {
            let fp = fingerprint(format!("k={i}").as_bytes());
            assert_ne!(fp, 0);
            seen.insert(fp);
        }
        assert!(seen.len() > 9_990, "{} distinct of 10000", seen.len());
    }

    #[test]
    fn same_bytes_is_equality() {
        let words: [&[u8]; 8] =
            [b"", b"a", b"country=", b"country=DE", b"country=DF", b"country=DEU", b"0123456789abcdef", b"0123456789abcdeg"];
        for a in words {
            for b in words {
                assert_eq!(same_bytes(a, b), a == b, "{a:?} == {b:?}");
            }
        }
    }

    #[test]
    fn empty_non_terminal() {
        let mut node = Node { deepest: 2, sections: vec![Section::new(2)], extension: vec![] };
        let bytes = node.to_bytes();
        let view = NodeView::parse(&bytes).unwrap();
        assert!(view.section(2).unwrap().is_empty_non_terminal());
    }

    /// Reads everything a server could read from a lazily parsed view.
    fn read_all(view: &NodeView<'_>) -> usize {
        let mut seen = 0;
        for section in view.sections() {
            seen += section.rrset(1).map_or(0, |r| r.records().count());
            for rrset in section.rrsets() {
                seen += rrset.records().count() + rrset.rdatas().count() + rrset.condition().len();
            }
        }
        seen
    }

    #[test]
    fn whoami_section_is_an_empty_section_with_its_flag() {
        let mut section = Section::new(2);
        section.flags = flags::WHOAMI;
        section.refresh_own_flags(false);
        assert_eq!(section.flags, flags::WHOAMI, "the policy's flag survives a refresh");
        let mut node = Node { deepest: 2, sections: vec![section], extension: vec![] };
        let bytes = node.to_bytes();
        let view = NodeView::parse(&bytes).unwrap();
        let section = view.section(2).unwrap();
        assert!(section.has(flags::WHOAMI) && section.is_empty_non_terminal());
        assert_eq!(Node::from_view(&view), node);
    }

    #[test]
    fn corrupt_values_are_errors_not_panics() {
        let mut node = sample();
        let bytes = node.to_bytes();
        for cut in 0..bytes.len() {
            assert!(NodeView::parse_strict(&bytes[..cut]).is_err(), "truncated at {cut}");
            assert!(NodeView::parse(&bytes[..cut]).is_err(), "truncated at {cut}: sections no longer frame");
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(NodeView::parse(&extra).is_err());
        assert!(NodeView::parse_strict(&extra).is_err());
    }

    #[test]
    fn lazy_parse_never_panics_on_corrupt_rrsets() {
        let mut node = sample();
        let bytes = node.to_bytes();
        assert!(read_all(&NodeView::parse(&bytes).unwrap()) > 0);
        // Every single-byte change: the strict parse catches framing damage, and the lazy view
        // reads what frames without ever indexing out of bounds.
        for at in 0..bytes.len() {
            for value in [0u8, 1, 0x7f, 0xff] {
                let mut bad = bytes.clone();
                bad[at] = value;
                if let Ok(view) = NodeView::parse(&bad) {
                    read_all(&view);
                }
                if let Ok(view) = NodeView::parse_strict(&bad) {
                    // What passes the strict check reads whole: every stored record is seen.
                    for section in view.sections() {
                        assert_eq!(section.rrsets().count(), section.rrset_count() as usize);
                        for rrset in section.rrsets() {
                            assert_eq!(rrset.records().count(), rrset.rr_count() as usize);
                        }
                    }
                }
            }
        }
    }

    /// A later build's extension items (node and section) are skipped by this one's readers,
    /// counted as no RRsets, and kept byte for byte through a decode and re-encode; bytes that
    /// do not frame as items are still corrupt.
    #[test]
    fn extension_areas_are_skipped_and_kept() {
        let mut node = Node { deepest: 2, sections: vec![many_variants()], extension: vec![] };
        let plain = node.to_bytes();
        node.sections[0].extension = vec![7, 0, 2, 0xAB, 0xCD];
        node.extension = vec![9, 0, 0];
        let bytes = node.to_bytes();
        let view = NodeView::parse_strict(&bytes).expect("extension items frame");
        let section = view.section(2).unwrap();
        assert_eq!(section.rrsets().count(), NodeView::parse(&plain).unwrap().section(2).unwrap().rrsets().count());
        assert_eq!(
            section.rrset_variant(rtype::A, b"country=DE").map(|r| r.ttl()),
            many_variants().find(rtype::A, 0, b"country=DE").map(|r| r.ttl)
        );
        assert_eq!((section.extension(), view.extension()), (&[7, 0, 2, 0xAB, 0xCD][..], &[9, 0, 0][..]));
        let mut again = Node::decode(&bytes).unwrap();
        assert_eq!(again.to_bytes(), bytes, "kept through decode and encode");
        let mut broken = bytes.clone();
        broken.push(1); // an item header cut short
        assert!(NodeView::parse(&broken).is_err());
    }
}
