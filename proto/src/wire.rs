//! Reading DNS messages (RFC 1035 §4.1) into owned records whose names are all uncompressed.
//!
//! RDATA names are decompressed for every type RFC 3597 §4 says senders may have compressed:
//! the RFC 1035 types (NS, MD, MF, CNAME, SOA, MB, MG, MR, PTR, MINFO, MX) and those later
//! specifications let implementations compress on receipt (RP, AFSDB, RT — RFC 1183; SIG, NXT —
//! RFC 2535; PX — RFC 2163; SRV — RFC 2782; NAPTR — RFC 2915; KX — RFC 2230; DNAME — RFC 6672).
//! So stored RDATA never holds a pointer, and a record read here can be written into any other
//! message. Other types are copied verbatim: RFC 3597 forbids compressing them.
//!
//! [`Reader`] yields one record at a time into caller-owned buffers, so a million-record zone
//! transfer costs no allocation per record; [`parse`] collects everything into a [`Message`].

use crate::error::WireError;
use crate::name;

/// Length of the fixed header (RFC 1035 §4.1.1).
pub const HEADER_LEN: usize = 12;

/// Resource record types this crate handles specially.
pub mod rtype {
    pub const NS: u16 = 2;
    pub const MD: u16 = 3;
    pub const MF: u16 = 4;
    pub const CNAME: u16 = 5;
    pub const SOA: u16 = 6;
    pub const MB: u16 = 7;
    pub const MG: u16 = 8;
    pub const MR: u16 = 9;
    pub const PTR: u16 = 12;
    pub const MINFO: u16 = 14;
    pub const MX: u16 = 15;
    pub const TXT: u16 = 16;
    pub const RP: u16 = 17;
    pub const AFSDB: u16 = 18;
    pub const RT: u16 = 21;
    pub const SIG: u16 = 24;
    pub const PX: u16 = 26;
    pub const NXT: u16 = 30;
    pub const SRV: u16 = 33;
    pub const NAPTR: u16 = 35;
    pub const KX: u16 = 36;
    pub const DNAME: u16 = 39;
    pub const OPT: u16 = 41;
    pub const TSIG: u16 = 250;
    pub const IXFR: u16 = 251;
    pub const AXFR: u16 = 252;
}

/// Classes this crate handles specially.
pub mod class {
    pub const IN: u16 = 1;
    /// RFC 2136 §2.4/§2.5 "delete" and "must not exist" records, which carry no RDATA.
    pub const NONE: u16 = 254;
    pub const ANY: u16 = 255;
}

/// Bits and fields of the header's flags word (RFC 1035 §4.1.1, RFC 4035 §3.2 for AD and CD).
pub mod flags {
    pub const QR: u16 = 0x8000;
    pub const AA: u16 = 0x0400;
    pub const TC: u16 = 0x0200;
    pub const RD: u16 = 0x0100;
    pub const RA: u16 = 0x0080;
    pub const AD: u16 = 0x0020;
    pub const CD: u16 = 0x0010;
    /// OPCODE values, already shifted into place.
    pub const OPCODE_QUERY: u16 = 0;
    pub const OPCODE_NOTIFY: u16 = 4 << 11;
    pub const OPCODE_UPDATE: u16 = 5 << 11;
    /// RCODE values of the header's low 4 bits.
    pub const NOERROR: u16 = 0;
    pub const FORMERR: u16 = 1;
    pub const SERVFAIL: u16 = 2;
    pub const NXDOMAIN: u16 = 3;
    pub const NOTIMP: u16 = 4;
    pub const REFUSED: u16 = 5;
    pub const NOTAUTH: u16 = 9;
}

/// The fixed header (RFC 1035 §4.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    pub id: u16,
    /// QR, OPCODE, AA, TC, RD, RA, Z, AD, CD and RCODE as on the wire.
    pub flags: u16,
    pub qdcount: u16,
    pub ancount: u16,
    pub nscount: u16,
    pub arcount: u16,
}

impl Header {
    /// Reads the header at the start of `message`.
    pub fn parse(message: &[u8]) -> Result<Header, WireError> {
        let h = message.get(..HEADER_LEN).ok_or(WireError::Truncated { offset: 0 })?;
        let u = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
        Ok(Header { id: u(0), flags: u(2), qdcount: u(4), ancount: u(6), nscount: u(8), arcount: u(10) })
    }

    /// The header in wire form.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        for (i, v) in [self.id, self.flags, self.qdcount, self.ancount, self.nscount, self.arcount].into_iter().enumerate() {
            out[2 * i..2 * i + 2].copy_from_slice(&v.to_be_bytes());
        }
        out
    }

    /// The record count of one section.
    pub fn count(&self, section: Section) -> u16 {
        match section {
            Section::Answer => self.ancount,
            Section::Authority => self.nscount,
            Section::Additional => self.arcount,
        }
    }

    pub fn qr(&self) -> bool {
        self.flags & 0x8000 != 0
    }
    /// OPCODE: 0 QUERY, 4 NOTIFY (RFC 1996), 5 UPDATE (RFC 2136).
    pub fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0xF) as u8
    }
    pub fn aa(&self) -> bool {
        self.flags & 0x0400 != 0
    }
    pub fn tc(&self) -> bool {
        self.flags & 0x0200 != 0
    }
    pub fn rd(&self) -> bool {
        self.flags & 0x0100 != 0
    }
    pub fn ra(&self) -> bool {
        self.flags & 0x0080 != 0
    }
    pub fn ad(&self) -> bool {
        self.flags & 0x0020 != 0
    }
    pub fn cd(&self) -> bool {
        self.flags & 0x0010 != 0
    }
    /// The header's 4-bit RCODE (the EDNS extended bits live in OPT, RFC 6891 §6.1.3).
    pub fn rcode(&self) -> u8 {
        (self.flags & 0xF) as u8
    }
}

/// One question (RFC 1035 §4.1.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Question {
    /// Uncompressed wire form, case as received.
    pub name: Vec<u8>,
    pub qtype: u16,
    pub qclass: u16,
}

/// The three record sections, in message order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Section {
    Answer,
    Authority,
    Additional,
}

/// One resource record (RFC 1035 §4.1.3) with every name uncompressed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// Uncompressed wire form, case as received.
    pub owner: Vec<u8>,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    /// Names decompressed for the types listed in the module documentation.
    pub rdata: Vec<u8>,
    /// Offset of the record's first byte (its owner name) in the message.
    pub offset: usize,
}

impl Record {
    /// The serial of an SOA record, `None` for other types or SOA RDATA that does not frame.
    pub fn soa_serial(&self) -> Option<u32> {
        if self.rtype != rtype::SOA {
            return None;
        }
        let mname = name::uncompressed_len(&self.rdata)?;
        let rname = name::uncompressed_len(self.rdata.get(mname..)?)?;
        let fixed = self.rdata.get(mname + rname..)?;
        if fixed.len() != 20 {
            return None;
        }
        Some(u32::from_be_bytes([fixed[0], fixed[1], fixed[2], fixed[3]]))
    }
}

/// A whole parsed message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    pub header: Header,
    pub questions: Vec<Question>,
    pub answers: Vec<Record>,
    pub authority: Vec<Record>,
    pub additional: Vec<Record>,
}

impl Message {
    /// The records of one section.
    pub fn section(&self, section: Section) -> &[Record] {
        match section {
            Section::Answer => &self.answers,
            Section::Authority => &self.authority,
            Section::Additional => &self.additional,
        }
    }

    /// The serial of the first SOA of the answer section; for an IXFR request (a query whose
    /// first question is IXFR), of the first SOA of the authority section, where the client
    /// states the serial it has (RFC 1995 §3).
    pub fn soa_serial(&self) -> Option<u32> {
        let ixfr_request = !self.header.qr() && self.questions.first().is_some_and(|q| q.qtype == rtype::IXFR);
        let records = if ixfr_request { &self.authority } else { &self.answers };
        first_soa_serial(records)
    }
}

/// The serial of the first SOA record of `records` that frames.
pub fn first_soa_serial(records: &[Record]) -> Option<u32> {
    records.iter().find_map(Record::soa_serial)
}

/// Parses a whole message. Bytes after the last record the header counts are an error.
pub fn parse(message: &[u8]) -> Result<Message, WireError> {
    let mut reader = Reader::new(message)?;
    let h = reader.header;
    // Counts come from the peer: cap the reservation by what the bytes could hold (a question
    // takes at least 5 bytes, a record at least 11) so a 12-byte message cannot reserve megabytes.
    let room = message.len().saturating_sub(HEADER_LEN);
    let mut msg = Message {
        header: h,
        questions: Vec::with_capacity(usize::from(h.qdcount).min(room / 5)),
        answers: Vec::with_capacity(usize::from(h.ancount).min(room / 11)),
        authority: Vec::with_capacity(usize::from(h.nscount).min(room / 11)),
        additional: Vec::with_capacity(usize::from(h.arcount).min(room / 11)),
    };
    let mut q = Question::default();
    while reader.next_question(&mut q)? {
        msg.questions.push(q.clone());
    }
    let mut rec = Record::default();
    while let Some(section) = reader.next_record(&mut rec)? {
        let list = match section {
            Section::Answer => &mut msg.answers,
            Section::Authority => &mut msg.authority,
            Section::Additional => &mut msg.additional,
        };
        list.push(rec.clone());
    }
    Ok(msg)
}

/// Reads a message question by question and record by record into caller-owned buffers, which
/// are cleared and refilled each time (no allocation once they have grown to the largest name
/// and RDATA seen).
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    msg: &'a [u8],
    pos: usize,
    header: Header,
    questions_left: u16,
    /// Records left in the answer, authority and additional sections.
    left: [u16; 3],
    section: usize,
}

impl<'a> Reader<'a> {
    /// Starts reading `message` after its header.
    pub fn new(message: &'a [u8]) -> Result<Self, WireError> {
        let header = Header::parse(message)?;
        Ok(Reader {
            msg: message,
            pos: HEADER_LEN,
            header,
            questions_left: header.qdcount,
            left: [header.ancount, header.nscount, header.arcount],
            section: 0,
        })
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Offset of the next byte to read.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Reads the next question into `q`; `Ok(false)` once all questions have been read.
    pub fn next_question(&mut self, q: &mut Question) -> Result<bool, WireError> {
        if self.questions_left == 0 {
            return Ok(false);
        }
        q.name.clear();
        let after = name::read(self.msg, self.pos, &mut q.name)?;
        let fixed = self.msg.get(after..after + 4).ok_or(WireError::Truncated { offset: after })?;
        q.qtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        q.qclass = u16::from_be_bytes([fixed[2], fixed[3]]);
        self.pos = after + 4;
        self.questions_left -= 1;
        Ok(true)
    }

    /// Reads the next record into `rec` and says which section it belongs to; `Ok(None)` after
    /// the last one, once it is checked that no bytes follow it. Questions not read yet are
    /// skipped (and checked).
    pub fn next_record(&mut self, rec: &mut Record) -> Result<Option<Section>, WireError> {
        while self.questions_left > 0 {
            // Read, not merely skipped, so a question's pointers are checked too; `rec.owner` is
            // about to be refilled anyway.
            rec.owner.clear();
            let after = name::read(self.msg, self.pos, &mut rec.owner)?;
            if self.msg.len() < after + 4 {
                return Err(WireError::Truncated { offset: after });
            }
            self.pos = after + 4;
            self.questions_left -= 1;
        }
        while self.section < 3 && self.left[self.section] == 0 {
            self.section += 1;
        }
        if self.section == 3 {
            if self.pos < self.msg.len() {
                return Err(WireError::TrailingBytes { offset: self.pos, count: self.msg.len() - self.pos });
            }
            return Ok(None);
        }
        let offset = self.pos;
        rec.owner.clear();
        rec.rdata.clear();
        let after = name::read(self.msg, offset, &mut rec.owner)?;
        let fixed = self.msg.get(after..after + 10).ok_or(WireError::Truncated { offset: after })?;
        rec.rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        rec.class = u16::from_be_bytes([fixed[2], fixed[3]]);
        rec.ttl = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
        let rdlength = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        let start = after + 10;
        let end = start + rdlength;
        if end > self.msg.len() {
            return Err(WireError::Truncated { offset: after + 8 });
        }
        read_rdata(self.msg, offset, start, end, rec.rtype, rec.class, &mut rec.rdata)?;
        rec.offset = offset;
        self.pos = end;
        self.left[self.section] -= 1;
        Ok(Some(match self.section {
            0 => Section::Answer,
            1 => Section::Authority,
            _ => Section::Additional,
        }))
    }
}

/// How the RDATA of a type with embedded names frames.
#[derive(Clone, Copy)]
enum Field {
    Name,
    Fixed(usize),
    CharString,
    /// Everything up to RDLENGTH, possibly nothing.
    Rest,
}

fn layout(rtype: u16) -> Option<&'static [Field]> {
    use Field::*;
    Some(match rtype {
        rtype::NS | rtype::MD | rtype::MF | rtype::CNAME | rtype::MB | rtype::MG | rtype::MR | rtype::PTR | rtype::DNAME => &[Name],
        rtype::SOA => &[Name, Name, Fixed(20)],
        rtype::MINFO | rtype::RP => &[Name, Name],
        rtype::MX | rtype::AFSDB | rtype::RT | rtype::KX => &[Fixed(2), Name],
        rtype::PX => &[Fixed(2), Name, Name],
        rtype::SRV => &[Fixed(6), Name],
        rtype::NAPTR => &[Fixed(4), CharString, CharString, CharString, Name],
        // Type covered, algorithm, labels, original TTL, expiration, inception, key tag.
        rtype::SIG => &[Fixed(18), Name, Rest],
        rtype::NXT => &[Name, Rest],
        _ => return None,
    })
}

/// Copies the RDATA at `start..end` into `out`, decompressing names for the types that may hold
/// compressed ones.
fn read_rdata(msg: &[u8], offset: usize, start: usize, end: usize, rtype: u16, class: u16, out: &mut Vec<u8>) -> Result<(), WireError> {
    let bad = WireError::BadRdata { offset, rtype };
    let Some(fields) = layout(rtype) else {
        out.extend_from_slice(&msg[start..end]);
        return Ok(());
    };
    // RFC 2136 prerequisites and deletions carry no RDATA whatever the type.
    if start == end && (class == class::ANY || class == class::NONE) {
        return Ok(());
    }
    let mut pos = start;
    for field in fields {
        match *field {
            Field::Name => {
                let after = name::read(msg, pos, out).map_err(|e| match e {
                    WireError::Truncated { .. } => bad.clone(),
                    other => other,
                })?;
                if after > end {
                    return Err(bad);
                }
                pos = after;
            }
            Field::Fixed(n) => {
                if pos + n > end {
                    return Err(bad);
                }
                out.extend_from_slice(&msg[pos..pos + n]);
                pos += n;
            }
            Field::CharString => {
                let len = usize::from(*msg.get(pos).ok_or(bad.clone())?);
                if pos + 1 + len > end {
                    return Err(bad);
                }
                out.extend_from_slice(&msg[pos..pos + 1 + len]);
                pos += 1 + len;
            }
            Field::Rest => {
                out.extend_from_slice(&msg[pos..end]);
                pos = end;
            }
        }
    }
    if pos != end {
        return Err(bad);
    }
    if out.len() > usize::from(u16::MAX) {
        return Err(WireError::RdataTooLong { offset });
    }
    Ok(())
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
