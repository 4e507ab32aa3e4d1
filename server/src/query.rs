//! Parsing a query by hand: header, question and the OPT record, nothing else.
//!
//! hickory's `Message` costs 0.4–0.9 µs per query, most of the per-query budget, so the hot path
//! reads only what it needs straight from the packet and never allocates: the question name is
//! lower-cased into a reusable key buffer as it is read.

use lmdb_schema::name::MAX_NAME_WIRE;

pub const HEADER_LEN: usize = 12;
pub const CLASS_IN: u16 = 1;

/// Why a packet gets no normal answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// No reply at all: too short to carry a header, or a response (QR set).
    Drop,
    /// FORMERR, with the end of the question section when the question parsed (to echo it).
    FormErr { question_end: Option<usize> },
    /// An opcode we do not implement (RFC 1035 §4.1.1: NOTIMP, as Knot and NSD answer), with
    /// the question when there is one that parses.
    NotImp { question_end: Option<usize> },
}

/// EDNS(0) from the query's OPT record (RFC 6891).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edns {
    pub payload: u16,
    pub version: u8,
    pub dnssec_ok: bool,
    /// EDNS Client Subnet (RFC 7871), when the query carries one.
    pub client_subnet: Option<ClientSubnet>,
    /// The transfer client asks for geo variants and the policy (`geo_rr::EDNS_OPTION`).
    pub geo_variants: bool,
    /// DNS COOKIE (RFC 7873), when the query carries one.
    pub cookie: Option<Cookie>,
    /// The query asks for the server's NSID (RFC 5001).
    pub nsid: bool,
}

/// OPT option code of NSID.
pub const OPTION_NSID: u16 = 3;

/// OPT option code of DNS COOKIE.
pub const OPTION_COOKIE: u16 = 10;

/// A query's COOKIE option: the client cookie and, once it has one, the server cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cookie {
    pub client: [u8; 8],
    pub server: [u8; 32],
    /// 0 (client cookie only) or 8..=32.
    pub server_len: u8,
}

/// OPT option code of EDNS Client Subnet.
pub const OPTION_ECS: u16 = 8;

/// An EDNS Client Subnet option, validated: family 1 or 2, source prefix within the family,
/// address exactly ceil(prefix/8) bytes with no bits set beyond the prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientSubnet {
    pub family: u16,
    pub source_prefix: u8,
    pub scope_prefix: u8,
    /// The address, zero-padded to 16 bytes (IPv4 uses the first 4).
    pub address: [u8; 16],
}

impl ClientSubnet {
    /// The subnet's address (host bits zero).
    pub fn ip(&self) -> std::net::IpAddr {
        if self.family == 1 {
            std::net::IpAddr::from([self.address[0], self.address[1], self.address[2], self.address[3]])
        } else {
            std::net::IpAddr::from(self.address)
        }
    }

    /// Bytes of address on the wire.
    pub fn address_len(&self) -> usize {
        (self.source_prefix as usize).div_ceil(8)
    }

    fn parse(data: &[u8]) -> Option<ClientSubnet> {
        if data.len() < 4 {
            return None;
        }
        let family = be16(data, 0);
        let (source_prefix, scope_prefix) = (data[2], data[3]);
        let max = match family {
            1 => 32,
            2 => 128,
            _ => return None,
        };
        if source_prefix > max || scope_prefix > max {
            return None;
        }
        let address = &data[4..];
        if address.len() != (source_prefix as usize).div_ceil(8) {
            return None;
        }
        // RFC 7871 §6: bits beyond SOURCE PREFIX-LENGTH must be zero.
        if source_prefix % 8 != 0 {
            let last = address[address.len() - 1];
            if last & (0xFFu8 >> (source_prefix % 8)) != 0 {
                return None;
            }
        }
        let mut padded = [0u8; 16];
        padded[..address.len()].copy_from_slice(address);
        Some(ClientSubnet { family, source_prefix, scope_prefix, address: padded })
    }
}

/// A parsed query. Borrowed from the packet; the name key lives in [`QueryName`].
#[derive(Debug, Clone, Copy)]
pub struct Query {
    pub id: u16,
    /// Header flags word as received (QR, opcode, AA, TC, RD, RA, Z, AD, CD, RCODE).
    pub flags: u16,
    pub qtype: u16,
    pub qclass: u16,
    /// End of the question section in the packet: the question is `packet[12..question_end]`.
    pub question_end: usize,
    pub edns: Option<Edns>,
    /// Offset of a TSIG record (RFC 8945), when the query carries one: it is answered on the
    /// signed path (see `answer::signed`), which checks that it is the last record.
    pub tsig: Option<usize>,
}

impl Query {
    #[inline]
    pub fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0xF) as u8
    }
}

/// The question name, read once: its label offsets in the packet (for compression pointers) and
/// its lower-cased name key (for LMDB). Reused across queries.
pub struct QueryName {
    /// Name key of the question name (see `lmdb_schema::name`).
    pub key: Vec<u8>,
    /// Offset in the packet of each label, leftmost first.
    pub label_offsets: Vec<u16>,
    /// `key_ends[i]` is the length of the key of the ancestor with `i + 1` labels.
    pub key_ends: Vec<u16>,
}

impl QueryName {
    /// Builds `key` and `key_ends` root-first from `label_offsets` (labels of `msg`, leftmost
    /// first). This is `lmdb_schema::name::push_label` written out in place (calling it measured
    /// 4-5% slower per query); the test `key_matches_the_schema_encoding` keeps the two
    /// identical. The key is sized once and each label lower-cased in a loop the compiler
    /// vectorizes; bytes 0 and 1, which the encoding escapes and real names never hold, send
    /// the name to the byte-at-a-time loop. Measured against a match per byte (bench `parse`):
    /// a 33-byte hostname 53-58 -> 40 ns, a 76-byte name 105-121 -> 62 ns.
    #[inline]
    pub(crate) fn build_key(&mut self, msg: &[u8]) {
        let (key_start, ends_start) = (self.key.len(), self.key_ends.len());
        let total = 1 + self.label_offsets.iter().map(|&off| usize::from(msg[usize::from(off)]) + 1).sum::<usize>();
        // Zero-filled: the root and every label's terminator are already in place.
        self.key.resize(key_start + total, 0);
        let mut at = key_start + 1;
        let mut escaped = false;
        for &off in self.label_offsets.iter().rev() {
            let off = usize::from(off);
            let label = &msg[off + 1..off + 1 + usize::from(msg[off])];
            for (to, &b) in self.key[at..at + label.len()].iter_mut().zip(label) {
                escaped |= b <= 0x01;
                *to = b.to_ascii_lowercase();
            }
            at += label.len() + 1;
            self.key_ends.push(at as u16);
        }
        if escaped {
            self.key.truncate(key_start);
            self.key_ends.truncate(ends_start);
            self.build_escaped_key(msg);
        }
    }

    /// [`QueryName::build_key`] for a name holding bytes 0 or 1 (escaped as 1,1 and 1,2).
    #[cold]
    fn build_escaped_key(&mut self, msg: &[u8]) {
        self.key.push(0);
        for &off in self.label_offsets.iter().rev() {
            let off = usize::from(off);
            for &b in &msg[off + 1..off + 1 + usize::from(msg[off])] {
                match b {
                    0x00 => self.key.extend_from_slice(&[0x01, 0x01]),
                    0x01 => self.key.extend_from_slice(&[0x01, 0x02]),
                    _ => self.key.push(b.to_ascii_lowercase()),
                }
            }
            self.key.push(0);
            self.key_ends.push(self.key.len() as u16);
        }
    }
}

impl Default for QueryName {
    fn default() -> Self {
        QueryName { key: Vec::with_capacity(2 * MAX_NAME_WIRE), label_offsets: Vec::with_capacity(128), key_ends: Vec::with_capacity(128) }
    }
}

impl QueryName {
    pub fn label_count(&self) -> usize {
        self.label_offsets.len()
    }

    /// Key of the ancestor with `labels` labels (the whole key if `labels` ≥ the label count).
    #[inline]
    pub fn ancestor_key(&self, labels: usize) -> &[u8] {
        if labels == 0 {
            &self.key[..1]
        } else {
            &self.key[..self.key_ends[labels.min(self.key_ends.len()) - 1] as usize]
        }
    }

    /// Packet offset of the ancestor with `labels` labels, for a compression pointer.
    #[inline]
    pub fn ancestor_offset(&self, labels: usize) -> Option<u16> {
        let n = self.label_offsets.len();
        (labels <= n && labels > 0).then(|| self.label_offsets[n - labels])
    }
}

#[inline]
fn be16(p: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([p[at], p[at + 1]])
}

/// Reads an uncompressed name at `pos`, filling `name`; returns the offset after it. Used for
/// the question (where any compression pointer could only point into the header, so it is
/// malformed) and for names in RDATA we wrote ourselves (stored uncompressed).
pub fn read_name(packet: &[u8], mut pos: usize, name: &mut QueryName) -> Option<usize> {
    name.key.clear();
    name.label_offsets.clear();
    name.key_ends.clear();
    let start = pos;
    loop {
        let len = *packet.get(pos)? as usize;
        if len == 0 {
            pos += 1;
            break;
        }
        if len > 63 {
            return None;
        }
        packet.get(pos + 1 + len)?;
        name.label_offsets.push(pos as u16);
        pos += 1 + len;
        if pos - start + 1 > MAX_NAME_WIRE {
            return None;
        }
    }
    name.build_key(packet);
    Some(pos)
}

/// Skips a possibly compressed name, returning the offset after it.
fn skip_name(packet: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let len = *packet.get(pos)?;
        match len {
            0 => return Some(pos + 1),
            1..=63 => pos += 1 + len as usize,
            0xC0..=0xFF => {
                packet.get(pos + 1)?;
                return Some(pos + 2);
            }
            _ => return None,
        }
    }
}

/// Parses a query. On `Ok`, `name` holds the question name.
pub fn parse(packet: &[u8], name: &mut QueryName) -> Result<Query, Reject> {
    if packet.len() < HEADER_LEN {
        return Err(Reject::Drop);
    }
    let flags = be16(packet, 2);
    if flags & 0x8000 != 0 {
        return Err(Reject::Drop);
    }
    let qdcount = be16(packet, 4);
    let ancount = be16(packet, 6);
    let nscount = be16(packet, 8);
    let arcount = be16(packet, 10);
    // QUERY, NOTIFY and UPDATE are answered; any other opcode gets NOTIMP whatever follows.
    if !matches!((flags >> 11) & 0x0F, 0 | 4 | 5) {
        let question_end =
            (qdcount == 1).then(|| read_name(packet, HEADER_LEN, name)).flatten().map(|end| end + 4).filter(|&end| end <= packet.len());
        return Err(Reject::NotImp { question_end });
    }
    if qdcount != 1 {
        return Err(Reject::FormErr { question_end: None });
    }
    let after_name = read_name(packet, HEADER_LEN, name).ok_or(Reject::FormErr { question_end: None })?;
    if packet.len() < after_name + 4 {
        return Err(Reject::FormErr { question_end: None });
    }
    let qtype = be16(packet, after_name);
    let qclass = be16(packet, after_name + 2);
    let question_end = after_name + 4;
    let formerr = Reject::FormErr { question_end: Some(question_end) };

    // Walk the remaining records only to find the OPT record.
    let mut pos = question_end;
    let mut edns = None;
    let mut tsig = None;
    for i in 0..(ancount as usize + nscount as usize + arcount as usize) {
        let owner = pos;
        pos = skip_name(packet, pos).ok_or(formerr)?;
        if packet.len() < pos + 10 {
            return Err(formerr);
        }
        let rtype = be16(packet, pos);
        let rdlen = be16(packet, pos + 8) as usize;
        if packet.len() < pos + 10 + rdlen {
            return Err(formerr);
        }
        if rtype == lmdb_schema::rtype::OPT {
            // RFC 6891 §6.1.1: one OPT, in the additional section, owned by the root.
            let in_additional = i >= ancount as usize + nscount as usize;
            if edns.is_some() || !in_additional || packet[owner] != 0 {
                return Err(formerr);
            }
            let ttl = &packet[pos + 4..pos + 8];
            let options = parse_options(&packet[pos + 10..pos + 10 + rdlen]).ok_or(formerr)?;
            edns = Some(Edns {
                payload: be16(packet, pos + 2),
                version: ttl[1],
                dnssec_ok: ttl[2] & 0x80 != 0,
                client_subnet: options.client_subnet,
                geo_variants: options.geo_variants,
                cookie: options.cookie,
                nsid: options.nsid,
            });
        } else if rtype == lmdb_schema::rtype::TSIG {
            tsig = Some(owner);
        }
        pos += 10 + rdlen;
    }
    // Bytes beyond the counted records are not a DNS message we understand (Knot: FORMERR).
    if pos != packet.len() {
        return Err(formerr);
    }
    Ok(Query { id: be16(packet, 0), flags, qtype, qclass, question_end, edns, tsig })
}

/// True if `packet` asks for a zone transfer (a query, opcode 0, one question of type AXFR or
/// IXFR): the TCP loop hands such a connection to a transfer thread. Cheap: the header and the
/// question only; everything else is checked where the transfer is answered.
pub fn is_transfer(packet: &[u8]) -> bool {
    if packet.len() < HEADER_LEN || be16(packet, 2) & 0xF800 != 0 || be16(packet, 4) != 1 {
        return false;
    }
    let Some(end) = skip_name(packet, HEADER_LEN) else { return false };
    matches!(packet.get(end..end + 4), Some(t) if matches!(u16::from_be_bytes([t[0], t[1]]), lmdb_schema::rtype::AXFR | lmdb_schema::rtype::IXFR))
}

/// The OPT options we act on.
#[derive(Default)]
struct Options {
    client_subnet: Option<ClientSubnet>,
    geo_variants: bool,
    cookie: Option<Cookie>,
    nsid: bool,
}

/// Checks that OPT RDATA is a well-formed sequence of options and reads the ones we use: the
/// Client Subnet, the cookie, and whether the geo-variants and NSID options are there. None
/// means FORMERR: framing broken, a malformed or repeated Client Subnet or cookie.
fn parse_options(mut rdata: &[u8]) -> Option<Options> {
    let Options { mut client_subnet, mut geo_variants, mut cookie, mut nsid } = Options::default();
    while !rdata.is_empty() {
        if rdata.len() < 4 {
            return None;
        }
        let code = be16(rdata, 0);
        let len = be16(rdata, 2) as usize;
        let data = rdata.get(4..4 + len)?;
        if code == OPTION_ECS {
            if client_subnet.is_some() {
                return None;
            }
            client_subnet = Some(ClientSubnet::parse(data)?);
        } else if code == lmdb_schema::geo_rr::EDNS_OPTION {
            geo_variants = true;
        } else if code == OPTION_COOKIE {
            // RFC 7873 §5.2.2: a client cookie of 8 bytes, maybe a server cookie of 8..=32; any
            // other length, or two options, is FORMERR.
            if cookie.is_some() || !(len == 8 || (16..=40).contains(&len)) {
                return None;
            }
            let mut c = Cookie { client: data[..8].try_into().ok()?, server: [0; 32], server_len: (len - 8) as u8 };
            c.server[..len - 8].copy_from_slice(&data[8..]);
            cookie = Some(c);
        } else if code == OPTION_NSID {
            // RFC 5001 §2.3: a request carries empty data; Knot and NSD answer one with data too.
            nsid = true;
        }
        rdata = &rdata[4 + len..];
    }
    Some(Options { client_subnet, geo_variants, cookie, nsid })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &[u8], qtype: u16, extra: &[u8], arcount: u16) -> Vec<u8> {
        let mut p = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0];
        p.extend_from_slice(&arcount.to_be_bytes());
        p.extend_from_slice(name);
        p.extend_from_slice(&qtype.to_be_bytes());
        p.extend_from_slice(&1u16.to_be_bytes());
        p.extend_from_slice(extra);
        p
    }

    const OPT: &[u8] = &[0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0];

    #[test]
    fn parses_question_and_keeps_case_in_packet() {
        let mut name = QueryName::default();
        let p = query(b"\x03WwW\x07Example\x03com\x00", 1, OPT, 1);
        let q = parse(&p, &mut name).unwrap();
        assert_eq!(q.id, 0x1234);
        assert_eq!(q.qtype, 1);
        assert_eq!(
            q.edns,
            Some(Edns { payload: 1232, version: 0, dnssec_ok: true, client_subnet: None, geo_variants: false, cookie: None, nsid: false })
        );
        assert_eq!(name.key, b"\0com\0example\0www\0");
        assert_eq!(name.ancestor_key(2), b"\0com\0example\0");
        assert_eq!(name.ancestor_offset(3), Some(12));
        assert_eq!(name.ancestor_offset(2), Some(16));
        assert_eq!(&p[12..q.question_end - 4], b"\x03WwW\x07Example\x03com\x00");
    }

    #[test]
    fn key_matches_the_schema_encoding() {
        let mut name = QueryName::default();
        for wire in [
            &b"\x03WwW\x07ExAmple\x03COM\x00"[..],
            b"\x03a\x00\x01\x02\x01\xff\x00",
            b"\x01*\x03com\x00",
            b"\x00",
            b"\x3fAbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGhIjKlMnOpQrStUvWxYz0123456789-\x03COM\x00",
        ] {
            let p = query(wire, 1, &[], 0);
            parse(&p, &mut name).unwrap();
            assert_eq!(name.key, lmdb_schema::name::key_from_wire(wire).unwrap(), "{wire:?}");
            // Every ancestor's key is the key of that suffix of the name.
            let n = name.label_count();
            for k in 1..=n {
                let suffix = &p[usize::from(name.label_offsets[n - k])..HEADER_LEN + wire.len()];
                assert_eq!(name.ancestor_key(k), lmdb_schema::name::key_from_wire(suffix).unwrap(), "{wire:?}, {k} labels");
            }
        }
    }

    #[test]
    fn transfer_requests_are_told_apart_from_the_header_and_question() {
        assert!(is_transfer(&query(b"\x07example\x00", lmdb_schema::rtype::AXFR, &[], 0)));
        assert!(is_transfer(&query(b"\x07example\x00", lmdb_schema::rtype::IXFR, &[], 0)));
        assert!(!is_transfer(&query(b"\x07example\x00", lmdb_schema::rtype::SOA, &[], 0)));
        let mut notify = query(b"\x07example\x00", lmdb_schema::rtype::AXFR, &[], 0);
        notify[2] |= 0x20; // opcode 4
        assert!(!is_transfer(&notify));
        let full = query(b"\x07example\x00", lmdb_schema::rtype::AXFR, &[], 0);
        for cut in 0..full.len() {
            assert!(!is_transfer(&full[..cut]), "{cut}");
        }
    }

    #[test]
    fn root_question() {
        let mut name = QueryName::default();
        let p = query(b"\x00", 2, &[], 0);
        parse(&p, &mut name).unwrap();
        assert_eq!(name.label_count(), 0);
        assert_eq!(name.ancestor_key(0), b"\0");
    }

    #[test]
    fn malformed_packets() {
        let mut name = QueryName::default();
        assert_eq!(parse(&[0; 11], &mut name).unwrap_err(), Reject::Drop);
        let mut response = query(b"\x00", 1, &[], 0);
        response[2] |= 0x80;
        assert_eq!(parse(&response, &mut name).unwrap_err(), Reject::Drop);
        let mut two = query(b"\x00", 1, &[], 0);
        two[5] = 2;
        assert_eq!(parse(&two, &mut name).unwrap_err(), Reject::FormErr { question_end: None });
        // Compression pointer in the question.
        assert_eq!(parse(&query(b"\xc0\x0c", 1, &[], 0), &mut name).unwrap_err(), Reject::FormErr { question_end: None });
        // Truncated question.
        let p = query(b"\x03www\x00", 1, &[], 0);
        assert!(parse(&p[..p.len() - 1], &mut name).is_err());
        // Label length 64 is not a valid label.
        assert!(parse(&query(b"\x40", 1, &[], 0), &mut name).is_err());
        // Two OPT records.
        let mut opts = OPT.to_vec();
        opts.extend_from_slice(OPT);
        assert_eq!(parse(&query(b"\x00", 1, &opts, 2), &mut name).unwrap_err(), Reject::FormErr { question_end: Some(17) });
        // OPT not owned by the root.
        assert!(parse(&query(b"\x00", 1, &[1, b'a', 0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0], 1), &mut name).is_err());
        // arcount says one record, none present.
        assert!(parse(&query(b"\x00", 1, &[], 1), &mut name).is_err());
        // Option overrunning the OPT RDATA.
        assert!(parse(&query(b"\x00", 1, &[0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 4, 0, 8, 0, 9], 1), &mut name).is_err());
    }

    fn ecs_query(option: &[u8]) -> Vec<u8> {
        let mut opt = vec![0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0];
        opt.extend_from_slice(&((option.len() + 4) as u16).to_be_bytes());
        opt.extend_from_slice(&[0, 8]);
        opt.extend_from_slice(&(option.len() as u16).to_be_bytes());
        opt.extend_from_slice(option);
        query(b"\x00", 1, &opt, 1)
    }

    #[test]
    fn client_subnet() {
        let mut name = QueryName::default();
        let q = parse(&ecs_query(&[0, 1, 24, 0, 192, 0, 2]), &mut name).unwrap();
        let ecs = q.edns.unwrap().client_subnet.unwrap();
        assert_eq!((ecs.family, ecs.source_prefix, ecs.ip()), (1, 24, "192.0.2.0".parse().unwrap()));
        let q = parse(&ecs_query(&[0, 2, 56, 0, 0x20, 1, 0x0d, 0xb8, 0, 0, 0x12]), &mut name).unwrap();
        assert_eq!(q.edns.unwrap().client_subnet.unwrap().ip(), "2001:db8:0:1200::".parse::<std::net::IpAddr>().unwrap());
        let q = parse(&ecs_query(&[0, 1, 0, 0]), &mut name).unwrap();
        assert_eq!(q.edns.unwrap().client_subnet.unwrap().source_prefix, 0);
        for bad in [
            &[0, 3, 24, 0, 192, 0, 2][..],   // unknown family
            &[0, 1, 33, 0, 192, 0, 2, 1, 0], // prefix longer than IPv4
            &[0, 2, 129, 0],                 // prefix longer than IPv6
            &[0, 1, 24, 0, 192, 0, 2, 1],    // more address bytes than the prefix
            &[0, 1, 24, 0, 192, 0],          // fewer
            &[0, 1, 23, 0, 192, 0, 3],       // a bit set beyond the prefix
            &[0, 1],                         // truncated
        ] {
            assert!(matches!(parse(&ecs_query(bad), &mut name), Err(Reject::FormErr { .. })), "{bad:?}");
        }
    }

    #[test]
    fn name_too_long() {
        let mut name = QueryName::default();
        let mut wire = Vec::new();
        for _ in 0..5 {
            wire.push(60);
            wire.extend_from_slice(&[b'a'; 60]);
        }
        wire.push(0);
        assert!(parse(&query(&wire, 1, &[], 0), &mut name).is_err());
    }

    #[test]
    fn never_panics_on_truncations_and_bit_flips() {
        let mut name = QueryName::default();
        let base = query(b"\x03www\x07example\x03com\x00", 1, OPT, 1);
        for cut in 0..base.len() {
            let _ = parse(&base[..cut], &mut name);
        }
        for i in 0..base.len() {
            for bit in 0..8 {
                let mut p = base.clone();
                p[i] ^= 1 << bit;
                let _ = parse(&p, &mut name);
            }
        }
    }
}
