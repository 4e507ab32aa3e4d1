//! The value stored under a name key: everything the server needs to answer for that name.
//!
//! Several zones can hold data at one name (a parent's delegation NS and DS at the apex of a child
//! zone served beside it, or a parent's glue under a child apex), so a node carries one *section*
//! per zone, tagged with the zone's apex label count: the apex of a zone containing a name is an
//! ancestor-or-self of it, so the label count identifies the zone from the name alone.
//!
//! ```text
//! node    := deepest:u8  nsections:u8  section*          (sections sorted by zone depth)
//! section := zone:u8  flags:u8  cut:u8  nrrsets:u16  len:u32  rrset*
//! rrset   := type:u16  covered:u16  ttl:u32  nrr:u16  condlen:u8  cond  wirelen:u32  wire
//! wire    := ( type:u16 class:u16 ttl:u32 rdlen:u16 rdata )*   -- ready to follow an owner name
//! ```
//! All integers big-endian. `deepest` is the label count of the deepest zone apex at or above the
//! name among all loaded zones; it can exceed every section's zone (parent glue below a child
//! zone's apex), which tells the server the name is answered by a zone that has no data here.
//! `cut` is, for names below a zone cut or DNAME of their zone, the label count of that owner.
//! A section with no RRsets is an empty non-terminal. `cond` is empty for the default RRset and
//! `key=value` for a variant selected by client metadata (geo).
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
    /// At least one RRset here has metadata-selected variants.
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
    /// Checks the framing of every section and RRset once, so that later accessors can index
    /// without bounds errors.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, CorruptNode> {
        if bytes.len() < 2 {
            return Err(CorruptNode("short node header"));
        }
        let mut pos = 2;
        for _ in 0..bytes[1] {
            if bytes.len() < pos + SECTION_HEADER {
                return Err(CorruptNode("short section header"));
            }
            let nrrsets = be16(bytes, pos + 3);
            let len = be32(bytes, pos + 5) as usize;
            let body = bytes.get(pos + SECTION_HEADER..pos + SECTION_HEADER + len).ok_or(CorruptNode("section overruns node"))?;
            let mut at = 0;
            for _ in 0..nrrsets {
                if body.len() < at + RRSET_HEADER {
                    return Err(CorruptNode("short rrset header"));
                }
                let cond_len = body[at + 10] as usize;
                let wl_at = at + RRSET_HEADER + cond_len;
                if body.len() < wl_at + 4 {
                    return Err(CorruptNode("short rrset"));
                }
                let wire_len = be32(body, wl_at) as usize;
                let end = wl_at + 4 + wire_len;
                if body.len() < end {
                    return Err(CorruptNode("rrset overruns section"));
                }
                // Validate the RR framing inside the wire block too.
                let wire = &body[wl_at + 4..end];
                let mut w = 0;
                for _ in 0..be16(body, at + 8) {
                    if wire.len() < w + 10 {
                        return Err(CorruptNode("short rr"));
                    }
                    w += 10 + be16(wire, w + 8) as usize;
                }
                if w != wire.len() {
                    return Err(CorruptNode("rr count does not match wire length"));
                }
                at = end;
            }
            if at != len {
                return Err(CorruptNode("section length mismatch"));
            }
            pos += SECTION_HEADER + len;
        }
        if pos != bytes.len() {
            return Err(CorruptNode("trailing bytes"));
        }
        Ok(NodeView { bytes })
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
        RrsetIter { body: self.body, pos: 0, left: self.rrset_count() }
    }
    /// The default (unconditional) RRset of a type. RRsets are stored sorted by type with the
    /// default first, so the scan stops at the first RRset of that type or beyond.
    #[inline]
    pub fn rrset(&self, rtype: u16) -> Option<RrsetView<'a>> {
        self.rrsets().find(|r| r.rtype() >= rtype).filter(|r| r.rtype() == rtype && r.condition().is_empty())
    }

    /// The RRsets of one type, default first then variants, stopping past that type.
    #[inline]
    pub fn rrsets_of(&self, rtype: u16) -> impl Iterator<Item = RrsetView<'a>> + 'a {
        self.rrsets().skip_while(move |r| r.rtype() < rtype).take_while(move |r| r.rtype() == rtype)
    }
    /// The RRset of a type whose variant condition is exactly `cond` (`b""` for the default).
    #[inline]
    pub fn rrset_variant(&self, rtype: u16, cond: &[u8]) -> Option<RrsetView<'a>> {
        self.rrsets().find(|r| r.rtype() == rtype && r.condition() == cond)
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
        let p = self.pos;
        let cond_len = self.body[p + 10] as usize;
        let wl_at = p + RRSET_HEADER + cond_len;
        let wire_len = be32(self.body, wl_at) as usize;
        self.pos = wl_at + 4 + wire_len;
        Some(RrsetView { header: &self.body[p..wl_at], wire: &self.body[wl_at + 4..self.pos] })
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
    /// Iterates over each record's wire block (`type class ttl rdlength rdata`).
    pub fn records(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let wire = self.wire;
        let mut pos = 0;
        std::iter::from_fn(move || {
            if pos >= wire.len() {
                return None;
            }
            let len = 10 + be16(wire, pos + 8) as usize;
            let rr = &wire[pos..pos + len];
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
}

impl Section {
    pub fn new(zone: u8) -> Self {
        Section { zone, ..Default::default() }
    }

    pub fn from_view(view: &SectionView<'_>) -> Self {
        Section { zone: view.zone(), flags: view.flags(), cut: view.cut(), rrsets: view.rrsets().map(|r| Rrset::from_view(&r)).collect() }
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
        for rrset in &self.rrsets {
            rrset.encode(out);
        }
        let len = (out.len() - len_at - 4) as u32;
        out[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
    }
}

/// An owned node, as the loader builds it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Node {
    pub deepest: u8,
    pub sections: Vec<Section>,
}

impl Node {
    pub fn from_view(view: &NodeView<'_>) -> Self {
        Node { deepest: view.deepest_zone(), sections: view.sections().map(|s| Section::from_view(&s)).collect() }
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, CorruptNode> {
        Ok(Self::from_view(&NodeView::parse(bytes)?))
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

    pub fn encode(&mut self, out: &mut Vec<u8>) {
        assert!(self.sections.len() <= 255);
        self.sections.sort_by_key(|s| s.zone);
        out.clear();
        out.push(self.deepest);
        out.push(self.sections.len() as u8);
        for section in &mut self.sections {
            section.encode(out);
        }
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
        Node { deepest: 2, sections: vec![child, parent] }
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

    #[test]
    fn empty_non_terminal() {
        let mut node = Node { deepest: 2, sections: vec![Section::new(2)] };
        let bytes = node.to_bytes();
        let view = NodeView::parse(&bytes).unwrap();
        assert!(view.section(2).unwrap().is_empty_non_terminal());
    }

    #[test]
    fn whoami_section_is_an_empty_section_with_its_flag() {
        let mut section = Section::new(2);
        section.flags = flags::WHOAMI;
        section.refresh_own_flags(false);
        assert_eq!(section.flags, flags::WHOAMI, "the policy's flag survives a refresh");
        let mut node = Node { deepest: 2, sections: vec![section] };
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
            assert!(NodeView::parse(&bytes[..cut]).is_err(), "truncated at {cut}");
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(NodeView::parse(&extra).is_err());
    }
}
