use super::*;
use proptest::prelude::*;

fn n(text: &str) -> Vec<u8> {
    parse_name(text, &[0]).unwrap()
}

fn zone(text: &str) -> Result<ZoneFile, ParseError> {
    parse_str(text, Path::new("test.zone"), &n("example.com."))
}

fn one(text: &str) -> Record {
    let z = zone(text).unwrap();
    assert_eq!(z.records.len(), 1, "{text}");
    z.records.into_iter().next().unwrap()
}

fn err_of(text: &str) -> ParseError {
    zone(text).unwrap_err()
}

#[test]
fn names_relative_absolute_at_and_escapes() {
    let o = n("example.com.");
    assert_eq!(parse_name("@", &o).unwrap(), o);
    assert_eq!(parse_name("www", &o).unwrap(), n("www.example.com."));
    assert_eq!(parse_name("Www.Other.", &o).unwrap(), b"\x03Www\x05Other\x00");
    assert_eq!(parse_name(".", &o).unwrap(), vec![0]);
    assert_eq!(parse_name("\\065b\\.c.", &o).unwrap(), b"\x04Ab.c\x00");
    assert_eq!(parse_name("\\255.", &o).unwrap(), b"\x01\xff\x00");
    assert_eq!(parse_name("\\@.", &o).unwrap(), b"\x01@\x00");
    assert!(parse_name("a..b.", &o).is_err());
    assert!(parse_name("\\256.", &o).is_err());
    assert!(parse_name("\\06.", &o).is_err());
    assert!(parse_name("www", &[]).unwrap_err().contains("no origin"));
    let long_label = format!("{}.", "a".repeat(64));
    assert!(parse_name(&long_label, &o).unwrap_err().contains("63"));
    let long_name = format!("{}.", vec!["a".repeat(63); 4].join("."));
    assert!(parse_name(&long_name, &o).unwrap_err().contains("255"));
    let max_name = format!("{}.{}.", vec!["a".repeat(63); 3].join("."), "a".repeat(61));
    assert_eq!(parse_name(&max_name, &o).unwrap().len(), 255);
}

#[test]
fn types_and_ttls() {
    assert_eq!(parse_type("a"), Some(1));
    assert_eq!(parse_type("Https"), Some(65));
    assert_eq!(parse_type("TYPE65534"), Some(65534));
    assert_eq!(parse_type("type1"), Some(1));
    assert_eq!(parse_type("TYPE65536"), None);
    assert_eq!(parse_type("BOGUS"), None);
    assert_eq!(type_name(1), "A");
    assert_eq!(type_name(65534), "TYPE65534");
    assert_eq!(parse_ttl("3600"), Ok(3600));
    assert_eq!(parse_ttl("1h30m"), Ok(5400));
    assert_eq!(parse_ttl("1W2d"), Ok(604_800 + 172_800));
    assert_eq!(parse_ttl("1h30"), Ok(3630));
    assert_eq!(parse_ttl("2147483647"), Ok(2_147_483_647));
    assert!(parse_ttl("2147483648").is_err());
    assert!(parse_ttl("99999999999999999999999").is_err());
    assert!(parse_ttl("").is_err());
    assert!(parse_ttl("h").is_err());
    assert!(parse_ttl("1x").is_err());
}

#[test]
fn directives_origin_ttl_and_previous_owner() {
    let z =
        zone("$TTL 1h\n$ORIGIN sub.example.com.\n@ IN SOA ns hostmaster 1 2 3 4 5\nwww A 192.0.2.1\n    AAAA 2001:db8::1 ; same owner\n")
            .unwrap();
    // A parse_str origin is explicit: $ORIGIN changes relative names, not the zone origin.
    assert_eq!(z.origin, n("example.com."));
    let r = &z.records;
    assert_eq!(r.len(), 3);
    assert_eq!(r[0].owner, n("sub.example.com."));
    assert_eq!(r[0].ttl, 3600);
    assert_eq!(&r[0].rdata[..20], &n("ns.sub.example.com.")[..]);
    assert_eq!(r[1].owner, n("www.sub.example.com."));
    assert_eq!(r[2].owner, n("www.sub.example.com."));
    assert_eq!(r[2].rtype, 28);
    assert_eq!(r[2].line, 5);
}

#[test]
fn ttl_defaults() {
    // RFC 1035: without $TTL, a record without TTL takes the previous record's.
    let z = zone("a 300 A 192.0.2.1\nb A 192.0.2.2\n$TTL 60\nc A 192.0.2.3\nd 10 A 192.0.2.4\ne A 192.0.2.5\n").unwrap();
    let ttls: Vec<u32> = z.records.iter().map(|r| r.ttl).collect();
    assert_eq!(ttls, [300, 300, 60, 10, 60]);
    let e = err_of("a A 192.0.2.1\n");
    assert_eq!(e.line, 1);
    assert!(e.message.contains("TTL"), "{e}");
}

#[test]
fn ttl_and_class_in_either_order() {
    for text in ["a 1h IN A 192.0.2.1", "a IN 1h A 192.0.2.1", "a CLASS1 3600 A 192.0.2.1", "a in 1H a 192.0.2.1"] {
        let r = one(text);
        assert_eq!((r.ttl, r.rtype, r.rdata.as_slice()), (3600, 1, &[192, 0, 2, 1][..]), "{text}");
    }
    let e = err_of("$TTL 1\na CH A 192.0.2.1\n");
    assert_eq!(e.line, 2);
    assert!(e.message.contains("'CH'"), "{e}");
    assert!(err_of("$TTL 1\na CLASS3 A 1.2.3.4").message.contains("CLASS3"));
    assert!(err_of("$TTL 1\na 1 2 A 1.2.3.4").message.contains("second TTL"));
}

#[test]
fn at_in_rdata() {
    let o = n("example.com.");
    let r = one("$TTL 1\nwww CNAME @");
    assert_eq!(r.rdata, o);
    let r = one("$TTL 1\n@ MX 10 @");
    assert_eq!(&r.rdata[2..], &o[..]);
    assert_eq!(r.owner, o);
}

#[test]
fn multi_line_parens_and_comments() {
    let z = zone(
        "$TTL 1\n@ IN SOA ns.example.com. ( ; comment inside\n  host\\.master ; the mailbox\n  2024010101 ; serial\n  1h 15m 1w\n  1d )\nt TXT \"a;b\" ; comment after string\n",
    )
    .unwrap();
    let soa = &z.records[0];
    assert_eq!(soa.line, 2);
    assert_eq!(rdata_to_text(6, &soa.rdata), "ns.example.com. host\\.master.example.com. 2024010101 3600 900 604800 86400");
    assert_eq!(z.records[1].rdata, b"\x03a;b");
    assert_eq!(z.records[1].line, 7);
}

#[test]
fn txt_strings_and_escapes() {
    let r = one("$TTL 1\nt TXT \"hello world\" unquoted \"q\\\"uote\" \"\\065\\255\" \"\"");
    assert_eq!(r.rdata, b"\x0bhello world\x08unquoted\x06q\"uote\x02A\xff\x00");
    assert_eq!(rdata_to_text(16, &r.rdata), r#""hello world" "unquoted" "q\"uote" "A\255" """#);
    let long = format!("$TTL 1\nt TXT \"{}\"", "x".repeat(256));
    assert!(err_of(&long).message.contains("255"));
}

#[test]
fn generic_rfc3597() {
    let r = one("$TTL 1\nx CLASS1 TYPE65534 \\# 4 0a000001");
    assert_eq!((r.rtype, r.rdata.as_slice()), (65534, &[10, 0, 0, 1][..]));
    let r = one("$TTL 1\nx A \\# 4 c0 00 02 01");
    assert_eq!(r.rdata, [192, 0, 2, 1]);
    let r = one("$TTL 1\nx TYPE1 192.0.2.1");
    assert_eq!(r.rdata, [192, 0, 2, 1]);
    assert_eq!(one("$TTL 1\nx TYPE300 \\# 0").rdata, b"");
    assert!(err_of("$TTL 1\nx A \\# 3 c0000201").message.contains("does not match"));
    assert!(err_of("$TTL 1\nx TYPE300 foo").message.contains("\\#"));
    assert_eq!(rdata_to_text(65534, &[10, 0, 0, 1]), "\\# 4 0a000001");
    assert_eq!(rdata_to_text(1, &[1, 2, 3]), "\\# 3 010203");
    assert_eq!(rdata_to_text(16, &[]), "\\# 0");
}

/// `\# len hex` of hex digits that may be split by spaces.
fn generic_of(hex: &str) -> String {
    let len = hex.chars().filter(|c| !c.is_whitespace()).count() / 2;
    format!("\\# {len} {hex}")
}

#[test]
fn generic_rdata_of_a_known_type_must_be_valid_for_it() {
    // RFC 3597 §5: `\#` RDATA of a known type is stored only if it is valid RDATA of the type.
    let label64 = format!("40{}00", "61".repeat(64));
    let long_name = format!("{}00", format!("3f{}", "61".repeat(63)).repeat(4));
    let cases: &[(&str, String, &str)] = &[
        ("NS", "abcdef".into(), "NS RDATA in \\# form is not a valid domain name: a label is longer than 63 octets"),
        ("NS", "03616263".into(), "NS RDATA in \\# form is not a valid domain name: it runs past the end of the RDATA"),
        ("NS", "".into(), "NS RDATA in \\# form is not a valid domain name: it runs past the end"),
        ("NS", "0000".into(), "NS RDATA in \\# form has 1 octet after its last field"),
        ("NS", label64, "a label is longer than 63 octets"),
        ("NS", long_name, "it is longer than 255 octets"),
        ("CNAME", "01 61 c0 0c".into(), "CNAME RDATA in \\# form is not a valid domain name: it uses a compression pointer"),
        ("DNAME", "c00c".into(), "DNAME RDATA in \\# form is not a valid domain name: it uses a compression pointer"),
        ("PTR", "0161".into(), "PTR RDATA in \\# form is not a valid domain name"),
        ("MX", "00".into(), "MX RDATA in \\# form is truncated: it ends inside a field after 1 octet"),
        ("MX", "000a c00c".into(), "MX RDATA in \\# form holds an invalid domain name: it uses a compression pointer"),
        ("MX", "000a 0000".into(), "MX RDATA in \\# form has 1 octet after its last field"),
        ("A", "c000020100".into(), "A RDATA in \\# form has 5 octets, not 4"),
        ("A", "".into(), "A RDATA in \\# form has 0 octets, not 4"),
        ("AAAA", "c0000201".into(), "AAAA RDATA in \\# form has 4 octets, not 16"),
        ("SOA", "00 00 0000000100000002000000030000000400000005 00".into(), "SOA RDATA in \\# form has 1 octet after its last field"),
        ("SOA", "00 00 00000001000000020000000300000004000000".into(), "SOA RDATA in \\# form is truncated"),
        ("SOA", "c00c 00 0000000100000002000000030000000400000005".into(), "compression pointer"),
        ("TXT", "".into(), "TXT RDATA in \\# form is not valid: it holds no character-string"),
        ("TXT", "0561".into(), "TXT RDATA in \\# form is not valid: a length-prefixed string runs past the end"),
        ("TXT", "016162".into(), "a length-prefixed string runs past the end"),
        ("SPF", "".into(), "SPF RDATA in \\# form is not valid: it holds no character-string"),
        ("HINFO", "0161".into(), "HINFO RDATA in \\# form is truncated"),
        ("SRV", "000100020003".into(), "SRV RDATA in \\# form holds an invalid domain name: it runs past the end"),
        ("SRV", "0001000200".into(), "SRV RDATA in \\# form is truncated"),
        ("CAA", "000061".into(), "CAA RDATA in \\# form is not valid: the CAA tag is empty or not alphanumeric"),
        ("CAA", "00022d61".into(), "the CAA tag is empty or not alphanumeric"),
        ("CAA", "000561".into(), "a length-prefixed string runs past the end"),
        ("NAPTR", "00010002".into(), "NAPTR RDATA in \\# form is truncated"),
        ("SSHFP", "01".into(), "SSHFP RDATA in \\# form is truncated"),
        ("TLSA", "0301".into(), "TLSA RDATA in \\# form is truncated"),
        ("DS", "000108".into(), "DS RDATA in \\# form is truncated"),
        ("CDS", "000108".into(), "CDS RDATA in \\# form is truncated"),
        ("DNSKEY", "010003".into(), "DNSKEY RDATA in \\# form is truncated"),
        ("CDNSKEY", "010003".into(), "CDNSKEY RDATA in \\# form is truncated"),
        ("RRSIG", "0001 08 02 00000e10 00000001 00000002 0001".into(), "RRSIG RDATA in \\# form holds an invalid domain name"),
        ("RRSIG", "00010802".into(), "RRSIG RDATA in \\# form is truncated"),
        ("NSEC", "00 0000".into(), "NSEC RDATA in \\# form is not valid: the type bitmap is not in RFC 4034 form"),
        ("NSEC", "00 00024000".into(), "the type bitmap is not in RFC 4034 form"),
        ("NSEC", "00 000140 000140".into(), "the type bitmap is not in RFC 4034 form"),
        ("NSEC", "c00c".into(), "NSEC RDATA in \\# form holds an invalid domain name: it uses a compression pointer"),
        ("NSEC3", "01000000 00 00".into(), "NSEC3 RDATA in \\# form is not valid: the next hashed owner name is empty"),
        ("NSEC3", "01000000 00 0501".into(), "a length-prefixed string runs past the end"),
        ("NSEC3PARAM", "0100000c04".into(), "NSEC3PARAM RDATA in \\# form is not valid: a length-prefixed string runs past the end"),
        ("NSEC3PARAM", "01000000 00 ff".into(), "NSEC3PARAM RDATA in \\# form has 1 octet after its last field"),
        ("SVCB", "0001".into(), "SVCB RDATA in \\# form holds an invalid domain name: it runs past the end"),
        (
            "SVCB",
            "0001 00 0003 0002 01bb 0001 0003 026832".into(),
            "SVCB RDATA in \\# form is not valid: the SvcParams are not in RFC 9460 form",
        ),
        ("HTTPS", "0001 00 0003 0003 01bb00".into(), "HTTPS RDATA in \\# form is not valid: the SvcParams are not in RFC 9460 form"),
        ("HTTPS", "0001 00 0003 00".into(), "the SvcParams are not in RFC 9460 form"),
    ];
    for (t, hex, what) in cases {
        let rtype = parse_type(t).unwrap();
        let generic = generic_of(hex);
        let text = format!("$TTL 1\n\nx {t} {generic}\n");
        let e = err_of(&text);
        assert_eq!(e.line, 3, "{text:?}: {e}");
        assert!(e.message.contains(what), "{text:?}: {e}");
        assert!(e.to_string().starts_with("test.zone:3: "), "{e}");
        // The changeset path (`apply`, `record add`) reads RDATA through the same encoder.
        let e = parse_rdata(rtype, &generic, &[0]).unwrap_err();
        assert!(e.contains(what), "{t} {generic}: {e}");
    }
    // The line is that of `\#`, not of the hex that follows it.
    let e = err_of("$TTL 1\nx NS \\# ( 3\n abcdef )\n");
    assert_eq!((e.line, e.message.contains("not a valid domain name")), (2, true), "{e}");
}

#[test]
fn valid_generic_rdata_of_a_known_type_equals_its_text_form() {
    let o = n("example.com.");
    let cases: &[(&str, &str, &str)] = &[
        ("A", "c0000201", "192.0.2.1"),
        ("AAAA", "20010db8000000000000000000000001", "2001:db8::1"),
        ("NS", "036e7331 076578616d706c65 00", "ns1.example."),
        // Names keep their case, as names in text RDATA do.
        ("NS", "036e7331 074578614d706c65 00", "ns1.ExaMple."),
        ("CNAME", "00", "."),
        ("DNAME", "076578616d706c65 00", "example."),
        ("PTR", "017800", "x."),
        ("MX", "000a00", "10 ."),
        ("MX", "000a 016d 00", "10 m."),
        ("SOA", "00 00 0000000100000002000000030000000400000005", ". . 1 2 3 4 5"),
        ("TXT", "00", "\"\""),
        ("TXT", "026162 0163", "ab c"),
        ("SRV", "000100020003 00", "1 2 3 ."),
        ("CAA", "00 05 6973737565 61", "0 issue \"a\""),
        ("DS", "0001 08 02 ab", "1 8 2 ab"),
        ("NSEC", "00 0001 40", ". A"),
        ("NSEC3PARAM", "01 00 000c 00", "1 0 12 -"),
        ("SVCB", "0001 00", "1 ."),
        ("HTTPS", "0001 00 0003 0002 01bb", "1 . port=443"),
    ];
    for &(t, hex, text) in cases {
        let rtype = parse_type(t).unwrap();
        let generic = generic_of(hex);
        let from_generic = one(&format!("$TTL 1\nx {t} {generic}")).rdata;
        let from_text = one(&format!("$TTL 1\nx {t} {text}")).rdata;
        assert_eq!(from_generic, from_text, "{t} {generic} vs {text}");
        assert_eq!(parse_rdata(rtype, &generic, &o).unwrap(), from_text, "{t}");
    }
    // Unknown types, and known mnemonics we have no format for, take any bytes.
    assert_eq!(one("$TTL 1\nx TYPE65534 \\# 3 abcdef").rdata, [0xab, 0xcd, 0xef]);
    assert_eq!(one("$TTL 1\nx EID \\# 3 abcdef").rdata, [0xab, 0xcd, 0xef]);
    assert_eq!(one("$TTL 1\nx NULL \\# 0").rdata, b"");
}

#[test]
fn generic_rdata_is_checked_for_exactly_the_types_with_a_text_format() {
    // Every type either has its own text format, whose `\#` form must then be valid (and no
    // type's RDATA is valid empty), or takes only `\#` RDATA, any bytes.
    for rtype in 0..=u16::MAX {
        // APL (42) is the one type whose empty RDATA is valid (RFC 3123 §4: no items).
        let own_format = parse_rdata(rtype, "", &[0]).map_or_else(|e| !e.contains("needs RFC 3597"), |_| rtype == 42);
        assert_eq!(parse_rdata(rtype, "\\# 0", &[0]).is_err(), own_format && rtype != 42, "{}", type_name(rtype));
        assert_eq!(types::SUPPORTED.contains(&rtype), own_format, "{}", type_name(rtype));
    }
}

#[test]
fn errors_name_the_line() {
    let cases: &[(&str, usize, &str)] = &[
        ("$TTL 1\na A 192.0.2.1\nb A (\n 192.0.2.2\n", 3, "unbalanced"),
        ("$TTL 1\na A 192.0.2.1 )\n", 2, "unbalanced"),
        ("$TTL 1\n\na TXT \"abc\n", 3, "unterminated"),
        ("$TTL 1\na MX x y\n", 2, "MX preference"),
        ("$TTL 1\na MX (\n\n 99999 y )", 4, "MX preference"),
        ("$TTL 1\na A 192.0.2.300\n", 2, "IPv4"),
        ("$TTL 1\na AAAA 2001:db8::g\n", 2, "IPv6"),
        ("$TTL 1\na BOGUS 1\n", 2, "unknown type"),
        ("$TTL 1\na A 192.0.2.1 extra\n", 2, "trailing garbage"),
        ("$TTL 1\na SRV 1 2 (\n 3\n bad..name )\n", 4, "empty label"),
        ("a 4294967295 A 192.0.2.1\n", 1, "over"),
        ("$TTL 1\na\n", 2, "missing record type"),
        ("$TTL 1\n  A 192.0.2.1\n", 2, "previous owner"),
        ("$TTL 1\n$BOGUS 1-2 a A 1.2.3.4\n", 2, "unsupported directive"),
        ("$TTL 1\na A\n", 2, "missing IPv4"),
        ("$TTL 1\n\\065\\9 A 1.2.3.4\n", 2, "three digits"),
    ];
    for &(text, line, what) in cases {
        let e = err_of(text);
        assert_eq!(e.line, line, "{text:?}: {e}");
        assert!(e.message.contains(what), "{text:?}: {e}");
        assert!(e.to_string().starts_with(&format!("test.zone:{line}: ")), "{e}");
    }
    let big = format!("$TTL 1\na TXT {}\n", vec!["\"".to_string() + &"x".repeat(255) + "\""; 258].join(" "));
    assert!(err_of(&big).message.contains("65535"));
}

pub(crate) use super::samples::SAMPLES;

#[test]
fn every_supported_type_round_trips() {
    let origin = n("example.com.");
    let mut covered = std::collections::BTreeSet::new();
    for &(t, text) in SAMPLES {
        let rtype = parse_type(t).unwrap();
        covered.insert(rtype);
        let wire = parse_rdata(rtype, text, &origin).unwrap_or_else(|e| panic!("{t} {text}: {e}"));
        let shown = rdata_to_text(rtype, &wire);
        assert!(!shown.starts_with("\\#"), "{t}: fell back to generic: {shown}");
        let again = parse_rdata(rtype, &shown, &[]).unwrap_or_else(|e| panic!("{t} {shown}: {e}"));
        assert_eq!(again, wire, "{t}: {text} -> {shown}");
        // The generic form of known types reads back the same too.
        assert_eq!(parse_rdata(rtype, &present::generic(&wire), &[]).unwrap(), wire);
        let line = record_line(&origin, 300, rtype, &wire);
        let z = parse_str(&line, Path::new("x"), &[0]).unwrap();
        assert_eq!((z.records[0].rtype, &z.records[0].rdata, z.records[0].ttl), (rtype, &wire, 300));
    }
    for t in types::SUPPORTED {
        assert!(covered.contains(t), "no sample for {}", type_name(*t));
    }
}

#[test]
fn presentation_of_samples() {
    let o = n("example.com.");
    let show = |t: &str, text: &str| rdata_to_text(parse_type(t).unwrap(), &parse_rdata(parse_type(t).unwrap(), text, &o).unwrap());
    assert_eq!(show("MX", "10 @"), "10 example.com.");
    assert_eq!(show("NSEC3PARAM", "1 0 0 -"), "1 0 0 -");
    assert_eq!(show("RRSIG", "A 5 3 86400 1048354263 20030220173103 2642 . AAAA"), "A 5 3 86400 20030322173103 20030220173103 2642 . AAAA");
    assert_eq!(show("HTTPS", "1 . port=443 alpn=h3,h2"), "1 . alpn=\"h3,h2\" port=443");
    assert_eq!(show("DS", "1 RSASHA256 2 AB CD"), "1 8 2 abcd");
    assert_eq!(show("NSEC", "a A type1234 RRSIG"), "a.example.com. A RRSIG TYPE1234");
    assert_eq!(record_line(&o, 60, 65534, &[1]), "example.com. 60 IN TYPE65534 \\# 1 01");
    assert_eq!(record_line(&n("a\\032b.example."), 60, 16, b"\x01\""), "a\\032b.example. 60 IN TXT \"\\\"\"");
    assert!(parse_rdata(64, "1 . port=1 port=2", &o).unwrap_err().contains("duplicate"));
    assert!(parse_rdata(64, "1 . bogus=1", &o).is_err());
    assert!(parse_rdata(64, "1 . no-default-alpn=x", &o).is_err());
}

#[test]
fn validation() {
    let check = |text: &str| validate_zone(&zone(text).unwrap()).map_err(|e| (e.line, e.message));
    let base = "$TTL 1\n@ SOA ns h 1 2 3 4 5\n@ NS ns\n";
    assert_eq!(check(base), Ok(()));
    let bad = |extra: &str, line: usize, what: &str| {
        let (l, m) = check(&format!("{base}{extra}")).unwrap_err();
        assert_eq!(l, line, "{extra}: {m}");
        assert!(m.contains(what), "{extra}: {m}");
    };
    bad("www SOA ns h 1 2 3 4 5\n", 4, "not at the zone apex");
    bad("@ SOA ns h 1 2 3 4 5\n", 4, "second SOA");
    bad("x CNAME a\nx A 192.0.2.1\n", 5, "beside a CNAME");
    bad("x A 192.0.2.1\nx CNAME a\n", 5, "beside other data");
    bad("x CNAME a\nX CNAME b\n", 5, "second CNAME");
    bad("www.example.org. A 192.0.2.1\nx CNAME a\nx A 1.2.3.4\n", 4, "outside the zone");
    assert_eq!(
        check(&format!("{base}x CNAME a\nx RRSIG A 8 3 1 1 1 1 . AA==\nx NSEC a CNAME\nsub NS ns.sub\nns.sub A 192.0.2.1\n")),
        Ok(())
    );
    let e = check("$TTL 1\n@ NS ns\nwww A 192.0.2.1\n").unwrap_err();
    assert_eq!(e.0, 2);
    assert!(e.1.contains("no SOA"));
    let e = check("$TTL 1\nwww NS ns\n@ SOA ns h 1 2 3 4 5\n").unwrap_err();
    assert_eq!(e.0, 3);
    assert!(e.1.contains("no NS"));
}

#[test]
fn origin_from_file_names() {
    assert_eq!(origin_from_file_name(Path::new("/z/example.com.zone")), Some(n("example.com.")));
    assert_eq!(origin_from_file_name(Path::new("10.in-addr.arpa")), Some(n("10.in-addr.arpa.")));
    assert_eq!(origin_from_file_name(Path::new("empty.as112.arpa.zone")), Some(n("empty.as112.arpa.")));
}

#[test]
fn sig_times_cover_the_u32_range() {
    for t in [0u32, 1, 86_399, 951_782_400, 1_048_354_263, u32::MAX] {
        let text = time::format_sig_time(t);
        assert_eq!(text.len(), 14);
        assert_eq!(time::parse_sig_time(text.as_bytes()), Ok(t), "{text}");
    }
    assert_eq!(time::format_sig_time(0), "19700101000000");
    // One second past u32::MAX wraps to 0 (RFC 4034 §3.1.5 serial arithmetic).
    assert_eq!(time::parse_sig_time(b"21060207062816"), Ok(0));
    assert!(time::parse_sig_time(b"20230230000000").is_err());
}

#[test]
fn encodings() {
    let mut s = String::new();
    encoding::base32hex_encode(b"\xff\x00\x10\x20\x30\x40", &mut s);
    let mut back = Vec::new();
    encoding::base32hex_decode(s.as_bytes(), &mut back).unwrap();
    assert_eq!(back, b"\xff\x00\x10\x20\x30\x40");
    let mut v = Vec::new();
    assert!(encoding::base64_decode(b"AA=A", &mut v).is_err());
    assert!(encoding::base64_decode(b"AAA", &mut v).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn txt_with_arbitrary_bytes_round_trips(strings in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..4)) {
        let mut wire = Vec::new();
        for s in &strings {
            wire.push(s.len() as u8);
            wire.extend_from_slice(s);
        }
        let text = rdata_to_text(16, &wire);
        prop_assert!(!text.starts_with("\\#"));
        prop_assert!(text.is_ascii());
        prop_assert_eq!(parse_rdata(16, &text, &[]).unwrap(), wire);
    }

    #[test]
    fn names_with_arbitrary_bytes_round_trip(labels in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..20), 0..6)) {
        let mut wire = Vec::new();
        for l in &labels {
            wire.push(l.len() as u8);
            wire.extend_from_slice(l);
        }
        wire.push(0);
        let text = lmdb_schema::name::wire_to_text(&wire);
        prop_assert_eq!(parse_name(&text, &[]).unwrap(), wire.clone());
        // Also inside RDATA and as an owner.
        prop_assert_eq!(parse_rdata(5, &rdata_to_text(5, &wire), &[]).unwrap(), wire.clone());
        let z = parse_str(&record_line(&wire, 1, 5, &wire), Path::new("x"), &[0]).unwrap();
        prop_assert_eq!(&z.records[0].owner, &wire);
    }

    #[test]
    fn any_rdata_of_any_supported_type_round_trips_or_is_rejected(idx in 0..types::SUPPORTED.len(), data in prop::collection::vec(any::<u8>(), 0..80)) {
        // Bytes we can present in the type's own format read back the same, in that format and
        // as `\#`; bytes we cannot are not valid RDATA of the type, so their `\#` is refused.
        let rtype = types::SUPPORTED[idx];
        let text = rdata_to_text(rtype, &data);
        let from_generic = parse_rdata(rtype, &present::generic(&data), &[]);
        if text.starts_with("\\#") {
            prop_assert!(from_generic.is_err(), "{} {text} accepted", type_name(rtype));
        } else {
            prop_assert_eq!(parse_rdata(rtype, &text, &[]).map_err(|e| format!("{text}: {e}")), Ok(data.clone()));
            prop_assert_eq!(from_generic, Ok(data));
        }
    }

    #[test]
    fn generic_names_are_checked(mut data in prop::collection::vec(any::<u8>(), 0..300)) {
        // NS RDATA is accepted exactly when it is one well-formed uncompressed name.
        let valid = names::wire_name_len(&data) == Ok(data.len());
        let text = present::generic(&data);
        prop_assert_eq!(parse_rdata(types::NS, &text, &[]).is_ok(), valid);
        // Ending it with a root label makes more of them valid.
        data.push(0);
        let valid = names::wire_name_len(&data) == Ok(data.len());
        prop_assert_eq!(parse_rdata(types::NS, &present::generic(&data), &[]).is_ok(), valid);
    }

    #[test]
    fn generate_and_tidy_never_panic(range in "[0-9]{1,3}-[0-9]{1,3}(/[0-9]{1,2})?", lhs in "[a-z$.{},0-9\\\\-]{1,12}", ttl in "( 300)?",
                                     rtype in "(A|PTR|TXT|CNAME|MX)", rhs in "[a-z$.{},0-9 \\\\\"-]{0,16}") {
        let text = format!("$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\n$GENERATE {range} {lhs}{ttl} {rtype} {rhs}\nout.side. A 192.0.2.1\n@ SOA ns h 1 2 3 4 5\n");
        if let Ok(mut z) = parse_str(&text, Path::new("gen"), &n("example.")) {
            let _ = tidy_zone(&mut z, false);
            let _ = validate_zone(&z);
        }
    }

    #[test]
    fn parse_str_never_panics(text in "(?s)[ -~\\t\\n\\\\\"();$@]{0,200}") {
        let _ = parse_str(&text, Path::new("fuzz"), &n("example."));
        let _ = parse_rdata(64, &text, &n("example."));
        let _ = parse_rdata(46, &text, &n("example."));
    }

    #[test]
    fn parse_str_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse_str(&text, Path::new("fuzz"), &[]);
        for &t in types::SUPPORTED {
            let _ = parse_rdata(t, &text, &[0]);
        }
    }

    #[test]
    fn records_from_a_grammar_never_panic(lines in prop::collection::vec(
        ("[a-z@*.]{0,6}", "(| 300| 1h| IN| 1h IN)", " (A|AAAA|MX|TXT|SOA|SRV|HTTPS|NSEC|RRSIG|DS|TYPE9|CAA|NAPTR)",
         prop::collection::vec("[0-9a-z.:=,\"\\\\()#;-]{0,8}", 0..8)), 0..8)) {
        let mut text = String::from("$TTL 1\n");
        for (owner, ttl, t, words) in lines {
            text.push_str(&format!("{owner}{ttl}{t} {}\n", words.join(" ")));
        }
        let _ = parse_str(&text, Path::new("fuzz"), &n("example."));
    }
}

/// Single-threaded parse speed over simple records; run with
/// `cargo test --release -p lmdns-loader --lib zonefile::tests::speed -- --ignored --nocapture`.
#[test]
#[ignore]
fn speed() {
    use std::fmt::Write as _;
    let count = 1_000_000;
    let mut text = String::from("$ORIGIN example.com.\n$TTL 3600\n@ SOA ns hostmaster 1 2 3 4 5\n@ NS ns\n");
    for i in 0..count {
        match i % 4 {
            0 => writeln!(text, "host{i} 300 IN A 10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255),
            1 => writeln!(text, "host{i} IN AAAA 2001:db8::{:x}", i & 0xffff),
            2 => writeln!(text, "    MX 10 mail{i}"),
            _ => writeln!(text, "txt{i} TXT \"v=spf1 include:example.net -all\""),
        }
        .unwrap();
    }
    let start = std::time::Instant::now();
    let mut z = parse_str(&text, Path::new("speed.zone"), &n("example.com.")).unwrap();
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(z.records.len(), count + 2);
    println!(
        "parsed {} records ({} MB) in {:.3} s: {:.0} records/s",
        z.records.len(),
        text.len() / 1_000_000,
        secs,
        z.records.len() as f64 / secs
    );
    // The duplicate and out-of-zone pass `zone import` runs after parsing.
    let start = std::time::Instant::now();
    tidy_zone(&mut z, false).unwrap();
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(z.records.len(), count + 2);
    println!("tidied {} records in {secs:.3} s: {:.0} records/s", z.records.len(), z.records.len() as f64 / secs);
}

/// `cargo test -p lmdns-loader --release --lib speed_dnssec -- --ignored --nocapture`: the
/// Base64, hex and Base32hex fields of a signed zone.
#[test]
#[ignore]
fn speed_dnssec() {
    use std::fmt::Write as _;
    let count = 400_000;
    let key = "AwEAAagAIKlVZrpC6Ia7gEzahOR+9W29euxhJhVVLOyQbSEW0O8gcCjFFVQUTf6v58fLjwBd0YI0EzrAcQqBGCzh/RStIoO8g0NfnfL2MTJRkxoXbfDaUeVPQuYEhg37NZWAJQ9VnMVDxP/VHL496M/QZxkjf5/Efucp2gaDX6RS6CXpoY68LsvPVjR0ZSwzz1apAzvN9dlzEheX7ICJBBtuA6G3LQpzW5hOA2hzCTMjJPJ8LbqF6dsV6DoBQzgul0sGIcGOYl7OyQdXfZ57relSQageu+ipAdTTJ25AsRTAoub8ONGcLmqrAmRLKBP1dfwhYB4N7knNnulqQxA+Uk1ihz0=";
    let sig = "oJB1W6WNGv+ldvQ3WDG0MQkg5IEhjRip8WTrPYGv07h108dUKGMeDPKijVCHX3DDKdfb+v6oB9wfuh3DTJXUAfI/M0zmO/zz8bW0Rznl8O3tGNazPwQKkRN20XPXV6nwwfoXmJQbsLNrLfkGJ5D6fwFm8nN+6pBzeDQfsS3Ap3o=";
    let mut text = String::from("$ORIGIN example.com.\n$TTL 3600\n@ SOA ns hostmaster 1 2 3 4 5\n@ NS ns\n");
    for i in 0..count {
        match i % 4 {
            0 => writeln!(text, "k{i} DNSKEY 256 3 8 {key}"),
            1 => writeln!(text, "s{i} RRSIG A 8 3 300 20300101000000 20240101000000 {} example.com. {sig}", i & 0xffff),
            2 => writeln!(text, "d{i} DS {} 8 2 2bb183af5f22588179a53b0a98631fad1a292118aaaaaaaaaaaaaaaaaaaaaa{:08x}", i & 0xffff, i),
            _ => writeln!(text, "h{i} NSEC3 1 0 0 aabbccdd 2t7b4g4vsa5smi47k61mv5bv1a22bojr A RRSIG"),
        }
        .unwrap();
    }
    let start = std::time::Instant::now();
    let z = parse_str(&text, Path::new("speed.zone"), &n("example.com.")).unwrap();
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(z.records.len(), count + 2);
    println!(
        "parsed {} DNSSEC records ({} MB) in {:.3} s: {:.0} records/s",
        z.records.len(),
        text.len() / 1_000_000,
        secs,
        z.records.len() as f64 / secs
    );
}
