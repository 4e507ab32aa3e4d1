//! Building a response in a reused buffer: header, the question copied byte for byte, records
//! copied from their pre-encoded form with compressed owner names and, for the RFC 1035 types,
//! compressed RDATA names (see `names`), and the OPT record.

use lmdb_schema::node::RrsetView;
use lmdns_proto::compress::{compressible_layout, Layout, Piece};

use super::names::{self, Names, MAX_POINTER};
use crate::query::{ClientSubnet, Query, HEADER_LEN, OPTION_ECS};

pub const RCODE_NOERROR: u8 = 0;
pub const RCODE_FORMERR: u8 = 1;
pub const RCODE_SERVFAIL: u8 = 2;
pub const RCODE_NXDOMAIN: u8 = 3;
pub const RCODE_NOTIMP: u8 = 4;
pub const RCODE_REFUSED: u8 = 5;
pub const RCODE_YXDOMAIN: u8 = 6;
pub const RCODE_NOTAUTH: u8 = 9;
/// Extended RCODE 16 (RFC 6891): upper 8 bits go in the OPT TTL.
pub const RCODE_BADVERS: u16 = 16;

/// Header flag bits (RFC 1035 §4.1.1, RFC 4035 §3.2.2).
pub const FLAG_QR: u16 = 0x8000;
pub const FLAG_AA: u16 = 0x0400;
pub const FLAG_TC: u16 = 0x0200;
pub const FLAG_RD: u16 = 0x0100;
pub const FLAG_CD: u16 = 0x0010;
pub const OPCODE_MASK: u16 = 0x7800;
/// Size of the OPT record we append: root owner, type, class, TTL, empty RDATA.
pub const OPT_LEN: usize = 11;

/// The OPT record of a response: our UDP payload size and, for a query that carried one, the
/// Client Subnet option echoed with the scope the answer holds for (RFC 7871 §7.2.1).
#[derive(Clone, Copy, Debug)]
pub struct Opt<'c> {
    pub payload: u16,
    pub client_subnet: Option<(ClientSubnet, u8)>,
    /// The query's DO bit, copied into the answer (RFC 3225 §3).
    pub dnssec_ok: bool,
    /// DNS COOKIE: the client's cookie echoed and our server cookie. Written last, so a cached
    /// answer's cookie is its final 24 bytes (see `cache`).
    pub cookie: Option<([u8; 8], [u8; super::cookie::SERVER_COOKIE_LEN])>,
    /// Our NSID (RFC 5001), for a query that asked for it; borrowed from the configuration.
    pub nsid: Option<&'c [u8]>,
}

impl Opt<'_> {
    /// Bytes the record takes.
    pub fn wire_len(&self) -> usize {
        OPT_LEN
            + self.client_subnet.map_or(0, |(s, _)| 8 + s.address_len())
            + self.nsid.map_or(0, |n| 4 + n.len())
            + self.cookie.map_or(0, |_| 4 + 8 + super::cookie::SERVER_COOKIE_LEN)
    }
}

/// Where an owner name comes from.
#[derive(Clone, Copy, Debug)]
pub enum Owner {
    /// A name already in the response at this offset (question, owner or RDATA; possibly
    /// compressed itself).
    At(u16),
    /// The root name (one byte, shorter than a pointer).
    Root,
}

/// Section counters and the buffer.
pub struct Writer<'a> {
    pub buf: &'a mut Vec<u8>,
    pub answer: u16,
    pub authority: u16,
    pub additional: u16,
    /// Names written so far that later names may point into.
    names: Names,
    /// Where answer and authority can be cut back: after each RRset, or after its RRSIGs when
    /// they follow it (a truncated answer keeps whole RRsets, never one without its signatures).
    ends: [End; MAX_ENDS],
    end_count: usize,
}

/// RRset boundaries remembered per response; later ones are not offered as cut points (a
/// truncated answer then keeps less, never something wrong).
const MAX_ENDS: usize = 32;

#[derive(Clone, Copy, Default)]
struct End {
    len: u32,
    answer: u16,
    authority: u16,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Answer,
    Authority,
    Additional,
}

impl<'a> Writer<'a> {
    /// Starts a response to `query`: header placeholder plus the question exactly as received
    /// (so 0x20 mixed case survives).
    pub fn start(buf: &'a mut Vec<u8>, packet: &[u8], query: &Query) -> Self {
        buf.clear();
        buf.extend_from_slice(&packet[..HEADER_LEN]);
        buf.extend_from_slice(&packet[HEADER_LEN..query.question_end]);
        let mut names = Names::default();
        names.set_question_end(query.question_end);
        if buf.get(HEADER_LEN).is_some_and(|&len| len != 0) {
            names.remember(HEADER_LEN);
        }
        Writer { buf, answer: 0, authority: 0, additional: 0, names, ends: [End::default(); MAX_ENDS], end_count: 0 }
    }

    /// Whether an RDATA name points into the question (so reads in its case): the answer is
    /// then right only for a question of the same bytes (see `cache`).
    pub fn case_bound(&self) -> bool {
        self.names.into_question()
    }

    /// Bytes written so far.
    pub fn written(&self) -> usize {
        self.buf.len()
    }

    /// Writes an owner name: a pointer when the target is reachable by one, else the name itself.
    #[inline]
    fn owner(&mut self, owner: Owner) {
        let at = match owner {
            Owner::At(at) => at as usize,
            Owner::Root => return self.buf.push(0),
        };
        if at <= MAX_POINTER {
            self.buf.extend_from_slice(&(0xC000 | at as u16).to_be_bytes());
        } else {
            self.owner_out_of_reach(at);
        }
    }

    /// A name past a pointer's reach (in a TCP answer over 16 KiB), written out and compressed
    /// against the names within reach. It was read before being pointed at; should it still not
    /// decode (a corrupt value), the root stands in rather than a panic or a broken packet.
    #[cold]
    fn owner_out_of_reach(&mut self, at: usize) {
        let mut name = [0u8; lmdb_schema::name::MAX_NAME_WIRE];
        match names::expand(self.buf, at, &mut name) {
            Some(len) => {
                self.names.write(self.buf, &name[..len]);
            }
            None => self.buf.push(0),
        }
    }

    /// Appends one pre-encoded record (type, class, TTL, RDLENGTH, RDATA) after its owner, the
    /// TTL replaced by `ttl` if set, compressing the RDATA names of the RFC 1035 types. Returns
    /// where the first RDATA name can be read (for a CNAME target or the additional section),
    /// or the RDATA offset for other types.
    #[inline]
    fn put_record(&mut self, rtype: u16, record: &[u8], ttl: Option<u32>) -> usize {
        let at = self.buf.len();
        let layout = record.get(10..).and_then(|rdata| compressible_layout(rtype, rdata));
        let first_name = match layout {
            None => {
                self.buf.extend_from_slice(record);
                at + 10
            }
            Some(layout) => {
                self.buf.extend_from_slice(&record[..10]);
                self.put_rdata(at, &record[10..], layout)
            }
        };
        if let Some(ttl) = ttl {
            self.buf[at + 4..at + 8].copy_from_slice(&ttl.to_be_bytes());
        }
        first_name
    }

    /// Appends `rdata` in the pieces of `layout`, names compressed, and sets the RDLENGTH of the
    /// record whose type field is at `at`. Returns where its first name reads from.
    fn put_rdata(&mut self, at: usize, rdata: &[u8], layout: Layout) -> usize {
        let (mut pos, mut first) = (0, None);
        for piece in layout.iter() {
            match *piece {
                Piece::Name(len) => {
                    let name_at = self.names.write(self.buf, &rdata[pos..pos + len]);
                    first.get_or_insert(name_at);
                    pos += len;
                }
                Piece::Bytes(len) => {
                    self.buf.extend_from_slice(&rdata[pos..pos + len]);
                    pos += len;
                }
            }
        }
        // Compression only shortens: the length fits the 16 bits it came in.
        let rdlen = (self.buf.len() - at - 10) as u16;
        self.buf[at + 8..at + 10].copy_from_slice(&rdlen.to_be_bytes());
        first.unwrap_or(at + 10)
    }

    /// Counts the `n` records of `rtype` just written, and remembers the end of the RRset as a
    /// cut point: RRSIGs replace the point at the end of the RRset they follow.
    fn count(&mut self, section: Section, rtype: u16, n: u16) {
        match section {
            Section::Answer => self.answer += n,
            Section::Authority => self.authority += n,
            Section::Additional => {
                self.additional += n;
                return;
            }
        }
        if rtype == lmdb_schema::rtype::RRSIG && self.end_count > 0 {
            self.end_count -= 1;
        }
        if self.end_count < MAX_ENDS {
            self.ends[self.end_count] = End { len: self.buf.len() as u32, answer: self.answer, authority: self.authority };
            self.end_count += 1;
        }
    }

    /// Cuts the answer back to the whole RRsets (with their RRSIGs) that fit `limit` bytes, the
    /// additional section dropped, for TC=1; to the question alone if not even the first fits.
    pub fn truncate_to_fit(&mut self, limit: usize, question_end: usize) {
        let end = self.ends[..self.end_count].iter().rev().find(|e| e.len as usize <= limit).copied();
        match end {
            Some(end) => {
                self.buf.truncate(end.len as usize);
                self.names.truncate(end.len as usize);
                self.answer = end.answer;
                self.authority = end.authority;
                self.additional = 0;
            }
            None => self.truncate_to_question(question_end),
        }
    }

    /// Appends every record of an RRset under the owner `name` (uncompressed) whose last
    /// `apex_labels` labels are the zone apex at `apex_at`: a name not in the response yet (the
    /// NSEC or NSEC3 owner of a denial proof), written once compressed (down to the apex at
    /// least), then pointed at by the other records and by the RRSIGs through the owner
    /// returned. None if no record framed.
    pub fn rrset_named(&mut self, section: Section, name: &[u8], apex_labels: usize, apex_at: u16, rrset: &RrsetView<'_>) -> Option<Owner> {
        let mut owner = None;
        let mut written = 0;
        for record in rrset.records() {
            match owner {
                Some(owner) => self.owner(owner),
                None => {
                    let at = self.names.write_within(self.buf, name, apex_labels, apex_at);
                    // A name past a pointer's reach is written out again by `owner`.
                    owner = Some(Owner::At(at as u16));
                }
            }
            self.put_record(rrset.rtype(), record, None);
            written += 1;
        }
        self.count(section, rrset.rtype(), written);
        owner
    }

    /// Appends every record of an RRset under `owner`. With `ttl`, that TTL replaces the stored
    /// one (negative answers, RFC 2308 §3). Returns the offset of the first record's RDATA
    /// (0 when no record frames: a corrupt value).
    pub fn rrset(&mut self, section: Section, owner: Owner, rrset: &RrsetView<'_>, ttl: Option<u32>) -> usize {
        let mut first_rdata = 0;
        // Counted as written, not taken from the stored count: a corrupt value may frame fewer.
        let mut written = 0;
        let rtype = rrset.rtype();
        for record in rrset.records() {
            self.owner(owner);
            let name_at = self.put_record(rtype, record, ttl);
            if written == 0 {
                first_rdata = name_at;
            }
            written += 1;
        }
        self.count(section, rtype, written);
        first_rdata
    }

    /// Like [`Writer::rrset`], and records the response offset of each name whose A/AAAA belong in
    /// the additional section (targets of NS, MX and SRV).
    pub fn rrset_collecting(&mut self, section: Section, owner: Owner, rrset: &RrsetView<'_>, targets: &mut Vec<u16>) {
        let rtype = rrset.rtype();
        let skip = match rtype {
            // NS and MX names are compressed: `put_record` says where each one reads from.
            lmdb_schema::rtype::NS | lmdb_schema::rtype::MX => None,
            lmdb_schema::rtype::SRV => Some(6), // after priority, weight and port; never compressed
            _ => {
                self.rrset(section, owner, rrset, None);
                return;
            }
        };
        let mut written = 0;
        for record in rrset.records() {
            self.owner(owner);
            let rdata_at = self.buf.len() + 10;
            let name_at = self.put_record(rtype, record, None);
            let at = match skip {
                Some(skip) => (record.len() > 10 + skip).then_some(rdata_at + skip),
                // RDATA that did not frame was copied verbatim: no name to look up.
                None => (name_at != rdata_at || rtype == lmdb_schema::rtype::NS).then_some(name_at),
            };
            if let Some(at) = at.filter(|&at| at <= MAX_POINTER) {
                targets.push(at as u16);
            }
            written += 1;
        }
        self.count(section, rtype, written);
    }

    /// Appends one record built from parts (synthesized CNAMEs and HINFO). Returns its RDATA
    /// offset, or for a one-part RDATA of an RFC 1035 type where its first name reads from.
    pub fn record(&mut self, section: Section, owner: Owner, rtype: u16, ttl: u32, rdata_parts: &[&[u8]]) -> usize {
        self.record_in_class(section, owner, rtype, crate::query::CLASS_IN, ttl, rdata_parts)
    }

    /// [`Writer::record`] in another class than IN (the CH answers of `chaos`).
    pub fn record_in_class(&mut self, section: Section, owner: Owner, rtype: u16, class: u16, ttl: u32, rdata_parts: &[&[u8]]) -> usize {
        self.owner(owner);
        if let [rdata] = rdata_parts {
            if let Some(layout) = compressible_layout(rtype, rdata) {
                let at = self.buf.len();
                self.buf.extend_from_slice(&rtype.to_be_bytes());
                self.buf.extend_from_slice(&1u16.to_be_bytes());
                self.buf.extend_from_slice(&ttl.to_be_bytes());
                self.buf.extend_from_slice(&[0, 0]);
                let first = self.put_rdata(at, rdata, layout);
                self.count(section, rtype, 1);
                return first;
            }
        }
        let rdlen: usize = rdata_parts.iter().map(|p| p.len()).sum();
        self.buf.extend_from_slice(&rtype.to_be_bytes());
        self.buf.extend_from_slice(&class.to_be_bytes());
        self.buf.extend_from_slice(&ttl.to_be_bytes());
        self.buf.extend_from_slice(&(rdlen as u16).to_be_bytes());
        let at = self.buf.len();
        for part in rdata_parts {
            self.buf.extend_from_slice(part);
        }
        self.count(section, rtype, 1);
        at
    }

    /// Drops everything after the question (for TC=1 and error answers).
    pub fn truncate_to_question(&mut self, question_end: usize) {
        self.buf.truncate(question_end);
        self.names.truncate(question_end);
        self.end_count = 0;
        self.answer = 0;
        self.authority = 0;
        self.additional = 0;
    }

    /// Rolls the buffer back to `len` with `additional` records in the additional section.
    pub fn rollback_additional(&mut self, len: usize, additional: u16) {
        self.buf.truncate(len);
        self.names.truncate(len);
        self.additional = additional;
    }

    /// Writes the header and, if the query had EDNS, the OPT record.
    pub fn finish(&mut self, query: &Query, rcode: u16, aa: bool, tc: bool, opt: Option<Opt<'_>>) -> super::Answered {
        let mut flags = FLAG_QR | (query.flags & (OPCODE_MASK | FLAG_RD | FLAG_CD)) | (rcode & 0xF);
        if aa {
            flags |= FLAG_AA;
        }
        if tc {
            flags |= FLAG_TC;
        }
        let mut additional = self.additional;
        if let Some(opt) = opt {
            self.buf.push(0);
            self.buf.extend_from_slice(&lmdb_schema::rtype::OPT.to_be_bytes());
            self.buf.extend_from_slice(&opt.payload.to_be_bytes());
            // Extended RCODE, version 0, the DO bit echoed (RFC 3225 §3), no other flags.
            self.buf.extend_from_slice(&[(rcode >> 4) as u8, 0, if opt.dnssec_ok { 0x80 } else { 0 }, 0]);
            let rdlen_at = self.buf.len();
            self.buf.extend_from_slice(&[0, 0]);
            if let Some((subnet, scope)) = opt.client_subnet {
                let addr = &subnet.address[..subnet.address_len()];
                self.buf.extend_from_slice(&OPTION_ECS.to_be_bytes());
                self.buf.extend_from_slice(&((4 + addr.len()) as u16).to_be_bytes());
                self.buf.extend_from_slice(&subnet.family.to_be_bytes());
                self.buf.extend_from_slice(&[subnet.source_prefix, scope]);
                self.buf.extend_from_slice(addr);
            }
            if let Some(nsid) = opt.nsid {
                self.buf.extend_from_slice(&crate::query::OPTION_NSID.to_be_bytes());
                self.buf.extend_from_slice(&(nsid.len() as u16).to_be_bytes());
                self.buf.extend_from_slice(nsid);
            }
            // The cookie stays last (see `Opt::cookie`).
            if let Some((client, server)) = opt.cookie {
                self.buf.extend_from_slice(&crate::query::OPTION_COOKIE.to_be_bytes());
                self.buf.extend_from_slice(&((client.len() + server.len()) as u16).to_be_bytes());
                self.buf.extend_from_slice(&client);
                self.buf.extend_from_slice(&server);
            }
            let rdlen = (self.buf.len() - rdlen_at - 2) as u16;
            self.buf[rdlen_at..rdlen_at + 2].copy_from_slice(&rdlen.to_be_bytes());
            additional += 1;
        }
        let header = &mut self.buf[..HEADER_LEN];
        header[2..4].copy_from_slice(&flags.to_be_bytes());
        header[4..6].copy_from_slice(&1u16.to_be_bytes());
        header[6..8].copy_from_slice(&self.answer.to_be_bytes());
        header[8..10].copy_from_slice(&self.authority.to_be_bytes());
        header[10..12].copy_from_slice(&additional.to_be_bytes());
        super::Answered { qtype: query.qtype, rcode, aa, tc, answers: self.answer, authority: self.authority, cached: false }
    }
}

/// FORMERR for a query that did not parse: the header, and the question when it was readable.
pub fn formerr(buf: &mut Vec<u8>, packet: &[u8], question_end: Option<usize>) {
    header_only(buf, packet, question_end, RCODE_FORMERR);
}

/// A response of the header (ID, opcode, RD, CD echoed) and, when it parsed, the question,
/// with `rcode`: for packets no answer logic runs on (FORMERR, NOTIMP for unknown opcodes).
pub fn header_only(buf: &mut Vec<u8>, packet: &[u8], question_end: Option<usize>, rcode: u8) {
    buf.clear();
    buf.extend_from_slice(&packet[..HEADER_LEN]);
    let flags = u16::from_be_bytes([packet[2], packet[3]]);
    let flags = FLAG_QR | (flags & (OPCODE_MASK | FLAG_RD | FLAG_CD)) | rcode as u16;
    buf[2..4].copy_from_slice(&flags.to_be_bytes());
    buf[4..12].fill(0);
    if let Some(end) = question_end {
        buf[5] = 1;
        buf.extend_from_slice(&packet[HEADER_LEN..end]);
    }
}
