//! Writing the small messages we originate — NOTIFY (RFC 1996), SOA queries, UPDATE replies
//! (RFC 2136), test fixtures — with name compression (RFC 1035 §4.1.4, see [`Compressor`]).
//!
//! Sections are written in order and counted; a record that would take the message over its size
//! limit is refused and leaves the message as it was, so a caller can stop or set TC.

pub use crate::compress::Compressor;
use crate::error::BuildError;
use crate::name;
pub use crate::wire::Section;
use crate::wire::{Header, HEADER_LEN};

/// Builds one message.
#[derive(Debug, Clone)]
pub struct MessageBuilder {
    buf: Vec<u8>,
    compressor: Compressor,
    header: Header,
    limit: usize,
    /// 0 questions, 1 answer, 2 authority, 3 additional: the section last written to.
    stage: u8,
}

impl MessageBuilder {
    /// A message with this ID and flags word (see [`crate::wire::flags`]), limited to 65,535
    /// bytes.
    pub fn new(id: u16, flags: u16) -> Self {
        let header = Header { id, flags, ..Header::default() };
        MessageBuilder { buf: header.to_bytes().to_vec(), compressor: Compressor::new(), header, limit: 65535, stage: 0 }
    }

    /// Sets the size limit, e.g. 512 or the EDNS UDP size of the peer; capped at 65,535 and
    /// never below what is already written.
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit.clamp(self.buf.len(), 65535);
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes written so far, header included.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Never true: the header is always there.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Adds a question; `name` is uncompressed wire form.
    pub fn question(&mut self, name: &[u8], qtype: u16, qclass: u16) -> Result<(), BuildError> {
        if self.stage > 0 {
            return Err(BuildError::SectionOrder);
        }
        if !name::is_valid(name) {
            return Err(BuildError::BadName);
        }
        let count = self.header.qdcount.checked_add(1).ok_or(BuildError::TooManyRecords)?;
        let mark = self.buf.len();
        self.compressor.write_name(&mut self.buf, 0, name);
        self.buf.extend_from_slice(&qtype.to_be_bytes());
        self.buf.extend_from_slice(&qclass.to_be_bytes());
        self.commit(mark)?;
        self.header.qdcount = count;
        Ok(())
    }

    /// Adds a record to `section`; `owner` and names in eligible RDATA are compressed. Sections
    /// must come in order (answer, authority, additional).
    pub fn record(&mut self, section: Section, owner: &[u8], rtype: u16, class: u16, ttl: u32, rdata: &[u8]) -> Result<(), BuildError> {
        let stage = match section {
            Section::Answer => 1,
            Section::Authority => 2,
            Section::Additional => 3,
        };
        if stage < self.stage {
            return Err(BuildError::SectionOrder);
        }
        if !name::is_valid(owner) {
            return Err(BuildError::BadName);
        }
        if rdata.len() > usize::from(u16::MAX) {
            return Err(BuildError::RdataTooLong);
        }
        let count = self.header.count(section).checked_add(1).ok_or(BuildError::TooManyRecords)?;
        let mark = self.buf.len();
        self.compressor.write_name(&mut self.buf, 0, owner);
        self.buf.extend_from_slice(&rtype.to_be_bytes());
        self.buf.extend_from_slice(&class.to_be_bytes());
        self.buf.extend_from_slice(&ttl.to_be_bytes());
        let len_at = self.buf.len();
        self.buf.extend_from_slice(&[0, 0]);
        let len = self.compressor.write_rdata(&mut self.buf, 0, rtype, rdata);
        // At most rdata.len(), checked above to fit.
        self.buf[len_at..len_at + 2].copy_from_slice(&(len as u16).to_be_bytes());
        self.commit(mark)?;
        self.stage = stage;
        match section {
            Section::Answer => self.header.ancount = count,
            Section::Authority => self.header.nscount = count,
            Section::Additional => self.header.arcount = count,
        }
        Ok(())
    }

    /// The message with its counts filled in.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf[..HEADER_LEN].copy_from_slice(&self.header.to_bytes());
        self.buf
    }

    fn commit(&mut self, mark: usize) -> Result<(), BuildError> {
        if self.buf.len() <= self.limit {
            return Ok(());
        }
        self.buf.truncate(mark);
        self.compressor.truncate(mark);
        Err(BuildError::MessageFull { limit: self.limit })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name::from_text;
    use crate::wire::{self, class, flags, rtype, Record};

    fn n(t: &str) -> Vec<u8> {
        from_text(t).unwrap()
    }

    fn soa_rdata(mname: &str, rname: &str, serial: u32) -> Vec<u8> {
        let mut r = n(mname);
        r.extend_from_slice(&n(rname));
        r.extend_from_slice(&serial.to_be_bytes());
        r.extend_from_slice(&[0, 0, 0x0e, 0x10, 0, 0, 0x03, 0x84, 0, 0x09, 0x3a, 0x80, 0, 0, 0x01, 0x2c]);
        r
    }

    /// Every pointer in the message: (where, target).
    fn pointers(msg: &[u8]) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut r = wire::Reader::new(msg).unwrap();
        let mut q = wire::Question::default();
        let mut walk = |mut p: usize| loop {
            let b = msg[p];
            if b & 0xC0 == 0xC0 {
                out.push((p, usize::from(u16::from_be_bytes([b & 0x3F, msg[p + 1]]))));
                return;
            }
            if b == 0 {
                return;
            }
            p += 1 + usize::from(b);
        };
        let mut at = r.position();
        while r.next_question(&mut q).unwrap() {
            walk(at);
            at = r.position();
        }
        let mut rec = Record::default();
        while r.next_record(&mut rec).unwrap().is_some() {
            walk(rec.offset);
        }
        out
    }

    #[test]
    fn round_trips_through_the_parser() {
        let mut b = MessageBuilder::new(7, flags::QR | flags::AA);
        b.question(&n("Example.com"), rtype::SOA, class::IN).unwrap();
        let records: Vec<(Section, Vec<u8>, u16, Vec<u8>)> = vec![
            (Section::Answer, n("Example.com"), rtype::SOA, soa_rdata("ns1.Example.com", "hostmaster.example.com", 42)),
            (Section::Answer, n("www.Example.com"), rtype::CNAME, n("host.example.com")),
            (Section::Authority, n("example.com"), rtype::NS, n("ns1.Example.com")),
            (Section::Authority, n("example.com"), rtype::MX, [&[0u8, 5][..], &n("mail.example.com")].concat()),
            (Section::Additional, n("ns1.Example.com"), 1, vec![192, 0, 2, 1]),
            (Section::Additional, n("_s._tcp.example.com"), rtype::SRV, [&[0u8, 1, 0, 1, 0, 53][..], &n("ns1.example.com")].concat()),
        ];
        for (s, owner, t, rdata) in &records {
            b.record(*s, owner, *t, class::IN, 3600, rdata).unwrap();
        }
        let msg = b.finish();
        let m = wire::parse(&msg).unwrap();
        assert_eq!((m.header.id, m.header.flags), (7, flags::QR | flags::AA));
        assert_eq!(m.questions[0].name, n("Example.com"));
        let got: Vec<_> = [Section::Answer, Section::Authority, Section::Additional]
            .into_iter()
            .flat_map(|s| m.section(s).iter().map(move |r| (s, r.owner.clone(), r.rtype, r.rdata.clone())))
            .collect();
        assert_eq!(got, records);
        assert_eq!(wire::first_soa_serial(&m.answers), Some(42));
        let ptrs = pointers(&msg);
        assert!(ptrs.len() >= 6, "{ptrs:?}");
        for (at, target) in ptrs {
            assert!(target < at && (12..0x4000).contains(&target));
        }
        // The SRV target (RFC 2782) is never compressed.
        assert!(msg.ends_with(b"\x03ns1\x07example\x03com\x00"));
    }

    #[test]
    fn different_case_is_not_merged() {
        let mut b = MessageBuilder::new(0, 0);
        b.record(Section::Answer, &n("WWW.example.com"), 1, class::IN, 0, &[1, 2, 3, 4]).unwrap();
        b.record(Section::Answer, &n("www.example.com"), 1, class::IN, 0, &[1, 2, 3, 4]).unwrap();
        let m = wire::parse(&b.finish()).unwrap();
        assert_eq!(m.answers[0].owner, n("WWW.example.com"));
        assert_eq!(m.answers[1].owner, n("www.example.com"));
    }

    #[test]
    fn limits_and_order() {
        let mut b = MessageBuilder::new(0, 0);
        b.set_limit(12 + 17 + 4);
        b.question(&n("www.example.com"), 1, 1).unwrap();
        let before = b.clone().finish();
        assert_eq!(b.record(Section::Answer, &n("www.example.com"), 1, 1, 0, &[0; 4]), Err(BuildError::MessageFull { limit: 33 }));
        assert_eq!(b.clone().finish(), before);
        b.set_limit(65535);
        b.record(Section::Authority, &n("example.com"), 1, 1, 0, &[0; 4]).unwrap();
        assert_eq!(b.record(Section::Answer, &n("example.com"), 1, 1, 0, &[0; 4]), Err(BuildError::SectionOrder));
        assert_eq!(b.question(&n("example.com"), 1, 1), Err(BuildError::SectionOrder));
        assert_eq!(b.record(Section::Additional, b"\x01a", 1, 1, 0, &[]), Err(BuildError::BadName));
        assert_eq!(b.record(Section::Additional, b"\x00", 1, 1, 0, &vec![0; 65536]), Err(BuildError::RdataTooLong));
        let m = wire::parse(&b.finish()).unwrap();
        assert_eq!((m.questions.len(), m.answers.len(), m.authority.len()), (1, 0, 1));
    }

    #[test]
    fn near_64k() {
        // Distinct owners so the table fills past 0x4000, then the message runs up to the limit.
        let mut b = MessageBuilder::new(1, flags::QR);
        let mut written = Vec::new();
        for i in 0.. {
            let owner = n(&format!("host-{i}.Zone.example"));
            let txt = vec![20u8; 21];
            match b.record(Section::Answer, &owner, rtype::TXT, class::IN, 60, &txt) {
                Ok(()) => written.push(owner),
                Err(BuildError::MessageFull { .. }) => break,
                Err(e) => panic!("{e}"),
            }
        }
        // A record that fits in the rest still goes in after a refusal.
        let msg = b.finish();
        assert!(msg.len() > 65535 - 64 && msg.len() <= 65535, "{}", msg.len());
        let m = wire::parse(&msg).unwrap();
        assert_eq!(m.answers.len(), written.len());
        for (r, owner) in m.answers.iter().zip(&written) {
            assert_eq!(&r.owner, owner);
        }
        for (at, target) in pointers(&msg) {
            assert!(target < at && target < 0x4000);
        }
    }
}
