use super::*;
use crate::build::MessageBuilder;
use crate::name::from_text;

fn n(t: &str) -> Vec<u8> {
    from_text(t).unwrap()
}

fn header(id: u16, flags: u16, counts: [u16; 4]) -> Vec<u8> {
    let h = Header { id, flags, qdcount: counts[0], ancount: counts[1], nscount: counts[2], arcount: counts[3] };
    h.to_bytes().to_vec()
}

fn rr(msg: &mut Vec<u8>, owner: &[u8], rtype: u16, class: u16, ttl: u32, rdata: &[u8]) {
    msg.extend_from_slice(owner);
    msg.extend_from_slice(&rtype.to_be_bytes());
    msg.extend_from_slice(&class.to_be_bytes());
    msg.extend_from_slice(&ttl.to_be_bytes());
    msg.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    msg.extend_from_slice(rdata);
}

/// A response with compression everywhere a sender may put it: question at 12
/// (`Example.COM`), owners and RDATA names as pointers.
fn compressed_message() -> Vec<u8> {
    let mut m = header(0x1234, flags::QR | flags::AA, [1, 5, 1, 1]);
    m.extend_from_slice(b"\x07Example\x03COM\x00\x00\x06\x00\x01");
    // SOA: mname = ns1 + ptr(12), rname = ptr(12)
    let mut soa = b"\x03ns1\xC0\x0C\xC0\x0C".to_vec();
    soa.extend_from_slice(&[0, 0, 0, 42, 0, 0, 14, 16, 0, 0, 3, 132, 0, 9, 58, 128, 0, 0, 1, 44]);
    rr(&mut m, b"\xC0\x0C", rtype::SOA, class::IN, 3600, &soa);
    rr(&mut m, b"\x03www\xC0\x0C", rtype::MX, class::IN, 60, b"\x00\x0a\x04mail\xC0\x0C");
    rr(&mut m, b"\x03srv\xC0\x0C", rtype::SRV, class::IN, 60, b"\x00\x01\x00\x02\x00\x35\x04host\xC0\x0C");
    rr(&mut m, b"\xC0\x0C", rtype::NAPTR, class::IN, 60, b"\x00\x0a\x00\x14\x01U\x07E2U+sip\x00\xC0\x0C");
    rr(&mut m, b"\xC0\x0C", rtype::TXT, class::IN, 60, b"\x05\xC0\x0Cabc");
    rr(&mut m, b"\xC0\x0C", rtype::NS, class::IN, 60, b"\x02ns\xC0\x0C");
    rr(&mut m, b"\x00", rtype::OPT, 1232, 0, &[]);
    m
}

#[test]
fn decompresses_owners_and_rdata() {
    let msg = compressed_message();
    let m = parse(&msg).unwrap();
    assert_eq!((m.header.id, m.header.qr(), m.header.aa(), m.header.rcode(), m.header.opcode()), (0x1234, true, true, 0, 0));
    assert_eq!(m.questions, vec![Question { name: b"\x07Example\x03COM\x00".to_vec(), qtype: rtype::SOA, qclass: class::IN }]);
    let apex = b"\x07Example\x03COM\x00".to_vec();
    let a = &m.answers;
    assert_eq!(a.len(), 5);
    assert_eq!(a[0].owner, apex);
    assert_eq!(a[0].offset, 29);
    let mut soa = [b"\x03ns1".as_slice(), &apex, &apex].concat();
    soa.extend_from_slice(&[0, 0, 0, 42, 0, 0, 14, 16, 0, 0, 3, 132, 0, 9, 58, 128, 0, 0, 1, 44]);
    assert_eq!(a[0].rdata, soa);
    assert_eq!(a[0].soa_serial(), Some(42));
    assert_eq!(m.soa_serial(), Some(42));
    assert_eq!(a[1].owner, [b"\x03www".as_slice(), &apex].concat());
    assert_eq!(a[1].rdata, [b"\x00\x0a\x04mail".as_slice(), &apex].concat());
    assert_eq!(a[2].rdata, [b"\x00\x01\x00\x02\x00\x35\x04host".as_slice(), &apex].concat());
    assert_eq!(a[3].rdata, [b"\x00\x0a\x00\x14\x01U\x07E2U+sip\x00".as_slice(), &apex].concat());
    // TXT is not a name-bearing type: bytes that look like a pointer stay as they are.
    assert_eq!(a[4].rdata, b"\x05\xC0\x0Cabc");
    assert_eq!(m.authority[0].rdata, [b"\x02ns".as_slice(), &apex].concat());
    assert_eq!(m.additional[0].rtype, rtype::OPT);
    assert_eq!(m.additional[0].class, 1232);
    assert!(m.additional[0].rdata.is_empty());
}

#[test]
fn every_decompressed_type() {
    let target = n("t.example");
    let cases: Vec<(u16, Vec<u8>, Vec<u8>)> = {
        let p = b"\xC0\x0C".to_vec(); // points at the question name t.example
        let t = target.clone();
        let c = |parts: &[&[u8]]| parts.concat();
        vec![
            (rtype::NS, p.clone(), t.clone()),
            (rtype::MD, p.clone(), t.clone()),
            (rtype::MF, p.clone(), t.clone()),
            (rtype::CNAME, p.clone(), t.clone()),
            (rtype::MB, p.clone(), t.clone()),
            (rtype::MG, p.clone(), t.clone()),
            (rtype::MR, p.clone(), t.clone()),
            (rtype::PTR, p.clone(), t.clone()),
            (rtype::DNAME, p.clone(), t.clone()),
            (rtype::MINFO, c(&[&p, &p]), c(&[&t, &t])),
            (rtype::RP, c(&[&p, &p]), c(&[&t, &t])),
            (rtype::MX, c(&[b"\x00\x01", &p]), c(&[b"\x00\x01", &t])),
            (rtype::AFSDB, c(&[b"\x00\x01", &p]), c(&[b"\x00\x01", &t])),
            (rtype::RT, c(&[b"\x00\x01", &p]), c(&[b"\x00\x01", &t])),
            (rtype::KX, c(&[b"\x00\x01", &p]), c(&[b"\x00\x01", &t])),
            (rtype::PX, c(&[b"\x00\x01", &p, &p]), c(&[b"\x00\x01", &t, &t])),
            (rtype::SRV, c(&[b"\x00\x01\x00\x02\x00\x03", &p]), c(&[b"\x00\x01\x00\x02\x00\x03", &t])),
            (rtype::NAPTR, c(&[b"\x00\x01\x00\x02\x00\x01x\x00", &p]), c(&[b"\x00\x01\x00\x02\x00\x01x\x00", &t])),
            (rtype::SIG, c(&[&[9u8; 18], &p, b"sig"]), c(&[&[9u8; 18], &t, b"sig"])),
            (rtype::NXT, c(&[&p, b"\x40\x01"]), c(&[&t, b"\x40\x01"])),
            (rtype::SOA, c(&[&p, &p, &[1; 20]]), c(&[&t, &t, &[1; 20]])),
        ]
    };
    for (t, wire_rdata, want) in cases {
        let mut m = header(1, 0, [1, 1, 0, 0]);
        m.extend_from_slice(&target);
        m.extend_from_slice(&[0, 1, 0, 1]);
        rr(&mut m, b"\xC0\x0C", t, class::IN, 0, &wire_rdata);
        let parsed = parse(&m).unwrap_or_else(|e| panic!("type {t}: {e}"));
        assert_eq!(parsed.answers[0].rdata, want, "type {t}");
        // One byte less of RDATA no longer frames.
        let mut short = header(1, 0, [1, 1, 0, 0]);
        short.extend_from_slice(&target);
        short.extend_from_slice(&[0, 1, 0, 1]);
        rr(&mut short, b"\xC0\x0C", t, class::IN, 0, &wire_rdata[..wire_rdata.len() - 1]);
        assert_eq!(parse(&short).is_err(), t != rtype::SIG && t != rtype::NXT, "type {t} with short RDATA");
        // A byte more neither, except for the types ending in opaque bytes.
        let mut long = header(1, 0, [1, 1, 0, 0]);
        long.extend_from_slice(&target);
        long.extend_from_slice(&[0, 1, 0, 1]);
        rr(&mut long, b"\xC0\x0C", t, class::IN, 0, &[&wire_rdata[..], b"\x00"].concat());
        assert_eq!(parse(&long).is_err(), t != rtype::SIG && t != rtype::NXT, "type {t} with a byte more");
    }
}

fn one_answer(rtype: u16, class: u16, rdata: &[u8]) -> Result<Message, WireError> {
    let mut m = header(1, 0, [0, 1, 0, 0]);
    rr(&mut m, b"\x07example\x00", rtype, class, 0, rdata);
    parse(&m)
}

#[test]
fn rdata_framing_errors() {
    let bad = |r: Result<Message, WireError>| assert!(matches!(r, Err(WireError::BadRdata { offset: 12, .. })), "{r:?}");
    bad(one_answer(rtype::MX, class::IN, b"\x00"));
    bad(one_answer(rtype::MX, class::IN, b"\x00\x01\x01a"));
    bad(one_answer(rtype::CNAME, class::IN, b"\x01a\x00\x00"));
    bad(one_answer(rtype::SOA, class::IN, &[&n("a")[..], &n("b"), &[0; 19]].concat()));
    bad(one_answer(rtype::NAPTR, class::IN, b"\x00\x01\x00\x02\x05ab"));
    bad(one_answer(rtype::NS, class::IN, b""));
    // A name that runs past RDLENGTH into the next bytes.
    let mut m = header(1, 0, [0, 2, 0, 0]);
    rr(&mut m, b"\x00", rtype::NS, class::IN, 0, b"\x01a");
    rr(&mut m, b"\x00", 1, class::IN, 0, &[1, 2, 3, 4]);
    assert!(matches!(parse(&m), Err(WireError::BadRdata { .. })), "{:?}", parse(&m));
    // RFC 2136 deletions and prerequisites carry no RDATA.
    assert!(one_answer(rtype::NS, class::ANY, b"").is_ok());
    assert!(one_answer(rtype::SOA, class::NONE, b"").is_ok());
    // A reserved label type inside RDATA is the name error, not a framing one.
    assert_eq!(one_answer(rtype::NS, class::IN, b"\x40").unwrap_err(), WireError::BadLabelType { offset: 31 });
}

#[test]
fn decompression_cannot_overflow_rdlength() {
    let long_name = [&[63u8][..], &[b'a'; 63], &[63], &[b'b'; 63], &[63], &[b'c'; 63], &[61], &[b'd'; 61], &[0]].concat();
    assert_eq!(long_name.len(), 255);
    let mut m = header(1, 0, [1, 1, 0, 0]);
    m.extend_from_slice(&long_name);
    m.extend_from_slice(&[0, 1, 0, 1]);
    let mut sig = vec![0u8; 18];
    sig.extend_from_slice(b"\xC0\x0C");
    sig.resize(65535, 7);
    rr(&mut m, b"\xC0\x0C", rtype::SIG, class::IN, 0, &sig);
    assert_eq!(parse(&m).unwrap_err(), WireError::RdataTooLong { offset: 12 + 255 + 4 });
}

#[test]
fn structural_errors() {
    assert_eq!(parse(b"\x00\x01"), Err(WireError::Truncated { offset: 0 }));
    // Counts far beyond the bytes: an error, not a huge allocation.
    assert!(matches!(parse(&header(0, 0, [65535, 65535, 65535, 65535])), Err(WireError::Truncated { .. })));
    let mut m = header(0, 0, [1, 0, 0, 0]);
    m.extend_from_slice(b"\x00\x00\x01");
    assert_eq!(parse(&m), Err(WireError::Truncated { offset: 13 }));
    let mut m = header(0, 0, [0, 0, 0, 0]);
    m.push(0);
    assert_eq!(parse(&m), Err(WireError::TrailingBytes { offset: 12, count: 1 }));
    let mut m = header(0, 0, [0, 1, 0, 0]);
    m.extend_from_slice(b"\x00\x00\x01\x00\x01\x00\x00\x00\x00\x00\x05abc");
    assert_eq!(parse(&m), Err(WireError::Truncated { offset: 21 }));
    let mut m = header(0, 0, [0, 1, 0, 0]);
    m.extend_from_slice(b"\x00\x00\x01\x00\x01\x00\x00\x00");
    assert_eq!(parse(&m), Err(WireError::Truncated { offset: 13 }));
    // Owner pointing forward.
    let mut m = header(0, 0, [0, 1, 0, 0]);
    rr(&mut m, b"\xC0\x20", 1, 1, 0, &[0; 4]);
    assert_eq!(parse(&m), Err(WireError::BadPointer { offset: 12 }));
}

#[test]
fn ixfr_request_serial_is_in_authority() {
    let mut soa = n("ns.example");
    soa.extend_from_slice(&n("h.example"));
    soa.extend_from_slice(&7u32.to_be_bytes());
    soa.extend_from_slice(&[0; 16]);
    let mut b = MessageBuilder::new(5, 0);
    b.question(&n("example"), rtype::IXFR, class::IN).unwrap();
    b.record(Section::Authority, &n("example"), rtype::SOA, class::IN, 0, &soa).unwrap();
    let m = parse(&b.finish()).unwrap();
    assert_eq!(m.soa_serial(), Some(7));
    // In a response the authority SOA (a negative answer's) is not the answer's serial.
    let mut b = MessageBuilder::new(5, flags::QR);
    b.question(&n("example"), rtype::IXFR, class::IN).unwrap();
    b.record(Section::Authority, &n("example"), rtype::SOA, class::IN, 0, &soa).unwrap();
    assert_eq!(parse(&b.finish()).unwrap().soa_serial(), None);
    assert_eq!(Record { rtype: rtype::SOA, rdata: soa[..soa.len() - 1].to_vec(), ..Record::default() }.soa_serial(), None);
    assert_eq!(Record { rtype: rtype::NS, rdata: soa, ..Record::default() }.soa_serial(), None);
}

#[test]
fn reader_reuses_buffers_and_reports_sections() {
    let msg = compressed_message();
    let mut r = Reader::new(&msg).unwrap();
    let mut rec = Record::default();
    let mut sections = Vec::new();
    // Questions are skipped when records are asked for first.
    while let Some(s) = r.next_record(&mut rec).unwrap() {
        sections.push(s);
    }
    assert_eq!(sections, [[Section::Answer; 5].as_slice(), &[Section::Authority], &[Section::Additional]].concat());
    assert_eq!(r.next_record(&mut rec).unwrap(), None);
    let mut q = Question::default();
    assert!(!r.next_question(&mut q).unwrap());
    assert_eq!(r.position(), msg.len());
}

#[test]
fn round_trip_with_the_builder() {
    let mut b = MessageBuilder::new(9, flags::QR | flags::AA | flags::OPCODE_NOTIFY);
    b.question(&n("Zone.example"), rtype::SOA, class::IN).unwrap();
    let records = [
        (Section::Answer, n("Zone.example"), rtype::MX, [&[0u8, 1][..], &n("mx.zone.example")].concat()),
        (Section::Answer, n("a.Zone.example"), rtype::CNAME, n("b.Zone.example")),
        (Section::Authority, n("zone.example"), rtype::NS, n("ns.Zone.example")),
        (Section::Additional, n("ns.Zone.example"), 28, vec![0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
    ];
    for (s, o, t, d) in &records {
        b.record(*s, o, *t, class::IN, 300, d).unwrap();
    }
    let msg = b.finish();
    let m = parse(&msg).unwrap();
    assert_eq!(m.header.opcode(), 4);
    let got: Vec<_> = [Section::Answer, Section::Authority, Section::Additional]
        .iter()
        .flat_map(|&s| m.section(s).iter().map(move |r| (s, r.owner.clone(), r.rtype, r.rdata.clone())))
        .collect();
    assert_eq!(got, records);
}

#[test]
fn truncation_and_bit_flips_never_panic() {
    let msg = compressed_message();
    for cut in 0..msg.len() {
        assert!(parse(&msg[..cut]).is_err(), "cut at {cut}");
    }
    let mut m = msg.clone();
    for i in 0..m.len() {
        for bit in 0..8 {
            m[i] ^= 1 << bit;
            let _ = parse(&m);
            m[i] ^= 1 << bit;
        }
        for v in [0u8, 0x3F, 0x40, 0xC0, 0xFF] {
            let old = m[i];
            m[i] = v;
            let _ = parse(&m);
            m[i] = old;
        }
    }
    // A cheap deterministic generator for arbitrary bytes after a plausible header.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..20_000 {
        let mut m = header(0, 0, [1, 2, 1, 1]);
        for _ in 0..(x % 96) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            m.push((x >> 24) as u8);
        }
        let _ = parse(&m);
        x = x.wrapping_add(1);
    }
}
