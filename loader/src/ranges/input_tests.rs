//! Tests of the input readers' cell and network parsing.

use super::*;

fn cell(s: &str) -> String {
    let mut v = Vec::new();
    encode_cell(s, &mut v);
    String::from_utf8(v).unwrap()
}

#[test]
fn cells() {
    assert_eq!(cell("1136"), "1136");
    assert_eq!(cell("-5"), "-5");
    assert_eq!(cell("0"), "0");
    assert_eq!(cell("-0"), "\"-0\"");
    assert_eq!(cell("-"), "\"-\"");
    assert_eq!(cell("123456789012345678901"), "\"123456789012345678901\"");
    assert_eq!(cell("1.50"), "1.5");
    assert_eq!(cell("00123"), "\"00123\"");
    assert_eq!(cell("12345678901234567890123"), "\"12345678901234567890123\"");
    assert_eq!(cell("NL"), "\"NL\"");
    assert_eq!(cell("true"), "true");
    assert_eq!(cell("[1, 2]"), "[1,2]");
    assert_eq!(cell("{\"a\": 1}"), "{\"a\":1}");
    assert_eq!(cell("{not json"), "\"{not json\"");
    assert_eq!(cell("\"\""), "\"\"");
    assert!(string_needs_quoting("12"));
    assert!(string_needs_quoting(""));
    assert!(string_needs_quoting("true"));
    assert!(string_needs_quoting("\"x\""));
    assert!(!string_needs_quoting("NL"));
    assert!(!string_needs_quoting("{not json"));
}

#[test]
fn cidrs() {
    assert_eq!(parse_cidr("1.0.0.0/24").unwrap(), ("1.0.0.0".parse().unwrap(), "1.0.0.255".parse().unwrap()));
    assert_eq!(parse_cidr("0.0.0.0/0").unwrap().1, "255.255.255.255".parse::<IpAddr>().unwrap());
    assert_eq!(parse_cidr("::/0").unwrap().1, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff".parse::<IpAddr>().unwrap());
    assert_eq!(parse_cidr("9.9.9.9/32").unwrap().0, "9.9.9.9".parse::<IpAddr>().unwrap());
    let e = parse_cidr("1.2.3.4/24").unwrap_err();
    assert_eq!(e, "network 1.2.3.4/24 has host bits set (the network is 1.2.3.0/24)");
    assert!(parse_cidr("1.2.3.0/33").is_err());
    assert!(parse_cidr("1.2.3.0").is_err());
}
