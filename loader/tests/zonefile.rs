//! Master-file parsing against fixture files, and our wire format checked against hickory-proto.

use std::path::{Path, PathBuf};

use lmdns_loader::zonefile::{
    parse_file, parse_name, parse_rdata, parse_str, parse_type, rdata_to_text, record_line, type_name, validate_zone, Record,
};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/zonefile").join(rel)
}

fn n(text: &str) -> Vec<u8> {
    parse_name(text, &[0]).unwrap()
}

fn find<'a>(records: &'a [Record], owner: &str, rtype: &str) -> &'a Record {
    let (o, t) = (n(owner), parse_type(rtype).unwrap());
    records.iter().find(|r| r.owner.eq_ignore_ascii_case(&o) && r.rtype == t).unwrap_or_else(|| panic!("no {owner} {rtype}"))
}

#[test]
fn as112_empty_zone_takes_origin_from_file_name() {
    let z = parse_file(&fixture("as112/empty.as112.arpa.zone"), None).unwrap();
    assert_eq!(z.origin, n("empty.as112.arpa."));
    assert_eq!(z.records.len(), 2);
    let soa = &z.records[0];
    assert_eq!((soa.owner.clone(), soa.ttl, soa.line), (n("empty.as112.arpa."), 604_800, 7));
    assert_eq!(rdata_to_text(6, &soa.rdata), "blackhole.as112.arpa. noc.dns.icann.org. 1 604800 60 604800 604800");
    assert_eq!(z.records[1].owner, n("empty.as112.arpa."));
    assert_eq!(z.records[1].line, 14);
    validate_zone(&z).unwrap();
}

#[test]
fn as112_reverse_zone_without_zone_suffix() {
    let z = parse_file(&fixture("as112/10.in-addr.arpa"), None).unwrap();
    assert_eq!(z.origin, n("10.in-addr.arpa."));
    let ns: Vec<String> = z.records.iter().filter(|r| r.rtype == 2).map(|r| rdata_to_text(2, &r.rdata)).collect();
    assert_eq!(ns, ["blackhole-1.iana.org.", "blackhole-2.iana.org."]);
    validate_zone(&z).unwrap();
    // An explicit origin wins over the file name.
    let z = parse_file(&fixture("as112/10.in-addr.arpa"), Some(&n("168.192.in-addr.arpa."))).unwrap();
    assert_eq!(z.origin, n("168.192.in-addr.arpa."));
    assert_eq!(z.records[0].owner, z.origin);
}

#[test]
fn as112_hostname_zone() {
    let z = parse_file(&fixture("as112/hostname.as112.net.zone"), None).unwrap();
    let txt: Vec<String> = z.records.iter().filter(|r| r.rtype == 16).map(|r| rdata_to_text(16, &r.rdata)).collect();
    assert_eq!(txt, ["\"Name of Facility or similar\" \"City, Country\"", "\"See http://www.as112.net/ for more information.\""]);
    validate_zone(&z).unwrap();
}

#[test]
fn leading_origin_directive_sets_the_zone_origin() {
    let z = parse_file(&fixture("include/main.zone"), None).unwrap();
    assert_eq!(z.origin, n("example.com."));
}

#[test]
fn include_with_origin_nesting_and_restore() {
    let z = parse_file(&fixture("include/main.zone"), None).unwrap();
    let www = find(&z.records, "www.hosts.example.com.", "A");
    assert!(www.file.ends_with("include/sub/hosts.inc"), "{}", www.file.display());
    assert_eq!((www.line, www.ttl), (2, 3600));
    assert_eq!(find(&z.records, "mail.hosts.example.com.", "A").ttl, 300);
    let deep = find(&z.records, "deep.hosts.example.com.", "CNAME");
    assert!(deep.file.ends_with("include/sub/nested.inc"));
    assert_eq!(deep.rdata, n("hosts.example.com."));
    let after = find(&z.records, "after.example.com.", "A");
    assert!(after.file.ends_with("include/main.zone"));
    assert_eq!(after.line, 7);
    validate_zone(&z).unwrap();
}

#[test]
fn include_errors_name_the_included_file_and_line() {
    let e = parse_file(&fixture("include/bad-main.zone"), None).unwrap_err();
    assert!(e.file.ends_with("include/sub/bad.inc"), "{e}");
    assert_eq!(e.line, 3);
    assert!(e.to_string().ends_with("bad.inc:3: bad IPv4 address '192.0.2.256'"), "{e}");
    let e = parse_file(&fixture("include/loop.zone"), None).unwrap_err();
    assert!(e.message.contains("nested deeper"), "{e}");
    let e = parse_file(&fixture("include/missing.zone"), None).unwrap_err();
    assert!(e.file.ends_with("missing.zone") && e.line == 3, "{e}");
    assert!(e.message.contains("does-not-exist.inc"), "{e}");
}

#[test]
fn kitchen_sink_fixture() {
    let path = fixture("example.com.zone");
    let z = parse_file(&path, None).unwrap();
    assert_eq!(z.origin, n("example.com."));
    validate_zone(&z).unwrap();
    let soa = &z.records[0];
    assert_eq!(rdata_to_text(6, &soa.rdata), "ns1.example.com. hostmaster\\.dept.example.com. 2024010101 5400 900 777600 300");
    assert_eq!(find(&z.records, "example.com.", "MX").rdata[2..], n("example.com.")[..]);
    assert_eq!(find(&z.records, "www.example.com.", "CNAME").rdata, n("example.com."));
    assert_eq!(find(&z.records, "www.example.com.", "CNAME").ttl, 300);
    assert_eq!(find(&z.records, "mail.example.com.", "A").ttl, 604_800);
    assert_eq!(find(&z.records, "ns1.example.com.", "AAAA").ttl, 3600);
    assert_eq!(find(&z.records, "txt.example.com.", "TXT").rdata, b"\x03two\x07strings\x08unquoted\x02A\xff\x07quote\"d");
    assert_eq!(find(&z.records, "1.2.example.com.", "PTR").rdata, n("www.example.com."));
    assert_eq!(find(&z.records, "generic.example.com.", "TYPE65534").rdata, [10, 0, 0, 1]);
    assert_eq!(find(&z.records, "known-generic.example.com.", "A").rdata, [192, 0, 2, 1]);
    let ssh = find(&z.records, "ssh.example.com.", "SSHFP");
    assert_eq!(ssh.line, 24);
    assert_eq!(ssh.rdata.len(), 2 + 33);

    // Export → re-import gives the same records.
    let text: String = z.records.iter().map(|r| record_line(&r.owner, r.ttl, r.rtype, &r.rdata) + "\n").collect();
    let again = parse_str(&text, Path::new("export"), &z.origin).unwrap();
    assert_eq!(again.records.len(), z.records.len());
    for (a, b) in z.records.iter().zip(&again.records) {
        assert_eq!((&a.owner, a.ttl, a.rtype, &a.rdata), (&b.owner, b.ttl, b.rtype, &b.rdata), "{}", type_name(a.rtype));
    }
    // Nothing in the fixture should need the generic form on export, except the unknown type.
    for line in text.lines().filter(|l| l.contains("\\#")) {
        assert!(line.contains("TYPE65534"), "{line}");
    }
}

/// Cross-check with hickory-proto: our wire RDATA, decoded by hickory, must equal what hickory
/// parses from the same presentation text, and re-encode to the same bytes.
#[test]
fn wire_format_matches_hickory() {
    use hickory_proto::rr::{RData, RecordType};
    use hickory_proto::serialize::binary::{BinDecoder, BinEncodable, Restrict};
    let samples: &[(&str, &str)] = &[
        ("A", "192.0.2.1"),
        ("AAAA", "2001:db8::1"),
        ("AAAA", "::ffff:192.0.2.1"),
        ("NS", "ns1.example.com."),
        ("CNAME", "target.example.net."),
        ("PTR", "host.example.com."),
        ("SOA", "ns.example.com. hostmaster.example.org. 2024010101 7200 3600 1209600 300"),
        ("MX", "10 mail.example.com."),
        ("MX", "0 ."),
        ("TXT", "\"v=spf1 -all\" \"second\" \"\""),
        ("TXT", "unquoted words"),
        ("HINFO", "\"INTEL-386\" \"Unix\""),
        ("SRV", "0 5 5060 sipserver.example.com."),
        ("CAA", "0 issue \"letsencrypt.org\""),
        ("CAA", "128 iodef \"mailto:security@example.com\""),
        ("NAPTR", "100 10 \"S\" \"SIP+D2U\" \"!^.*$!sip:customer-service@example.com!\" _sip._udp.example.com."),
        ("SSHFP", "2 1 123456789abcdef67890123456789abcdef67890"),
        ("TLSA", "3 1 1 0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6"),
        ("SVCB", "0 svc.example.net."),
        ("SVCB", "1 . alpn=h2,h3 port=8443 ipv4hint=192.0.2.1,192.0.2.2 ipv6hint=2001:db8::1"),
        // Written in key order: hickory keeps SvcParams in text order, RFC 9460 (and we) sort them.
        ("HTTPS", "1 . alpn=h2 no-default-alpn port=443"),
        ("HTTPS", "1 . mandatory=alpn,port alpn=h3 port=443"),
        ("HTTPS", "1 . ech=AEX+DQBBpQAgACB/fS4JHPJjWZZKmmNa7/T9kr1dvprl8fXbzMKuKlzxXA=="),
    ];
    let mut checked = std::collections::BTreeSet::new();
    for &(t, text) in samples {
        let rtype = parse_type(t).unwrap();
        let ours = parse_rdata(rtype, text, &[0]).unwrap_or_else(|e| panic!("{t} {text}: {e}"));
        let rt = RecordType::from(rtype);
        let theirs = RData::try_from_str(rt, text).unwrap_or_else(|e| panic!("hickory {t} {text}: {e}"));
        let mut decoder = BinDecoder::new(&ours);
        let decoded = RData::read(&mut decoder, rt, Restrict::new(ours.len() as u16)).unwrap_or_else(|e| panic!("hickory decode {t}: {e}"));
        assert_eq!(decoded, theirs, "{t} {text}");
        if t != "SOA" {
            // SOA is left out: hickory compresses its second name against the first.
            assert_eq!(theirs.to_bytes().unwrap(), ours, "{t} {text}");
        }
        // And our presentation of it reads back in hickory too.
        let shown = rdata_to_text(rtype, &ours);
        assert_eq!(RData::try_from_str(rt, &shown).unwrap_or_else(|e| panic!("hickory {t} {shown}: {e}")), theirs, "{t} {shown}");
        checked.insert(t);
    }
    assert_eq!(checked.len(), 16);
}

#[test]
fn hickory_decodes_every_record_of_the_fixture() {
    use hickory_proto::rr::{RData, RecordType};
    use hickory_proto::serialize::binary::{BinDecoder, Restrict};
    let z = parse_file(&fixture("example.com.zone"), None).unwrap();
    for r in &z.records {
        let mut decoder = BinDecoder::new(&r.rdata);
        let decoded = RData::read(&mut decoder, RecordType::from(r.rtype), Restrict::new(r.rdata.len() as u16));
        assert!(decoded.is_ok(), "line {}: {} {:?}", r.line, type_name(r.rtype), decoded);
    }
}
