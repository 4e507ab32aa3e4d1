//! IP-range tables end to end: real LMDB environments in temporary directories.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use lmdb_schema::ranges::{RangeCache, RangeTable};
use lmdb_schema::{OpenOptions, Store};
use lmdns_loader::ranges::write::{self, ImportOptions};
use lmdns_loader::ranges::Format;

fn store(dir: &Path) -> Store {
    Store::open(&dir.join("db"), &OpenOptions { map_size: 256 << 20, read_only: false }).unwrap()
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/ranges").join(name)
}

fn file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn import(store: &Store, table: &str, path: &Path, format: Format) -> anyhow::Result<write::ImportReport> {
    write::import(
        store,
        &ImportOptions {
            table: table.into(),
            file: path.into(),
            format,
            locations: None,
            progress: false,
            allow_empty: false,
            inline_locations: false,
        },
    )
}

fn import_loc(store: &Store, path: &Path, locations: &Path) -> anyhow::Result<write::ImportReport> {
    write::import(
        store,
        &ImportOptions {
            table: "geo".into(),
            file: path.into(),
            format: Format::Auto,
            locations: Some(locations.into()),
            progress: false,
            allow_empty: false,
            inline_locations: false,
        },
    )
}

/// `ranges lookup` output for one address.
fn lookup(store: &Store, table: &str, ip: &str) -> String {
    let mut out = Vec::new();
    write::lookup(store, table, &[ip.to_string()], &mut out).unwrap();
    String::from_utf8(out).unwrap().trim_end().to_string()
}

fn export(store: &Store, table: &str) -> String {
    let mut out = Vec::new();
    write::export(store, table, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// Every stored (key, value) of a table, for exact comparisons.
fn raw(store: &Store, table: &str) -> Vec<(IpAddr, Vec<u8>)> {
    let Some(t) = RangeTable::open(store, table).unwrap() else { return Vec::new() };
    let rtxn = store.read_txn().unwrap();
    t.iter(&rtxn).unwrap().map(|h| h.map(|h| (h.start, h.value.to_vec())).unwrap()).collect()
}

fn miss(ip: &str) -> String {
    format!(r#"{{"ip":"{ip}","error":"not in any range"}}"#)
}

#[test]
fn lookups_before_on_edges_in_gaps_after() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let csv = file(
        dir.path(),
        "r.csv",
        "start,end,country\n10.0.0.0,10.0.0.255,A\n10.0.2.0,10.0.2.9,B\n10.0.3.7,10.0.3.7,C\n2001:db8::,2001:db8::ff,D\n2001:db8::200,2001:db8::200,E\n",
    );
    let report = import(&s, "geo", &csv, Format::Auto).unwrap();
    assert_eq!((report.v4, report.v6), (3, 2));
    assert_eq!(lookup(&s, "geo", "9.255.255.255"), miss("9.255.255.255"));
    assert_eq!(lookup(&s, "geo", "0.0.0.0"), miss("0.0.0.0"));
    assert_eq!(lookup(&s, "geo", "10.0.0.0"), r#"{"ip":"10.0.0.0","start":"10.0.0.0","end":"10.0.0.255","meta":{"country":"A"}}"#);
    assert!(lookup(&s, "geo", "10.0.0.255").contains(r#""country":"A""#));
    assert_eq!(lookup(&s, "geo", "10.0.1.0"), miss("10.0.1.0"));
    assert_eq!(lookup(&s, "geo", "10.0.2.10"), miss("10.0.2.10"));
    assert!(lookup(&s, "geo", "10.0.2.9").contains(r#""B""#));
    // Single-address range: its address hits, both neighbours miss.
    assert!(lookup(&s, "geo", "10.0.3.7").contains(r#""start":"10.0.3.7","end":"10.0.3.7""#));
    assert_eq!(lookup(&s, "geo", "10.0.3.6"), miss("10.0.3.6"));
    assert_eq!(lookup(&s, "geo", "10.0.3.8"), miss("10.0.3.8"));
    assert_eq!(lookup(&s, "geo", "255.255.255.255"), miss("255.255.255.255"));
    assert_eq!(lookup(&s, "geo", "::"), miss("::"));
    assert!(lookup(&s, "geo", "2001:db8::").contains(r#""D""#));
    assert!(lookup(&s, "geo", "2001:db8::ff").contains(r#""D""#));
    assert_eq!(lookup(&s, "geo", "2001:db8::100"), miss("2001:db8::100"));
    assert!(lookup(&s, "geo", "2001:db8::200").contains(r#""E""#));
    assert_eq!(lookup(&s, "geo", "2001:db8::201"), miss("2001:db8::201"));
    assert_eq!(lookup(&s, "geo", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), miss("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
    // Several addresses: all printed, the result says whether all were found.
    let mut out = Vec::new();
    let all = write::lookup(&s, "geo", &["10.0.0.1".into(), "10.0.1.1".into()], &mut out).unwrap();
    assert!(!all);
    assert_eq!(String::from_utf8(out).unwrap().lines().count(), 2);
}

#[test]
fn extremes_of_both_families() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let jsonl = file(
        dir.path(),
        "x.jsonl",
        concat!(
            r#"{"start":"0.0.0.0","end":"0.0.0.0","n":1}"#,
            "\n",
            r#"{"network":"255.255.255.0/24","n":2}"#,
            "\n",
            r#"{"start":"::","end":"::1","n":3}"#,
            "\n",
            r#"{"network":"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff0/124","n":4}"#,
            "\n",
        ),
    );
    import(&s, "edge", &jsonl, Format::Auto).unwrap();
    assert!(lookup(&s, "edge", "0.0.0.0").ends_with(r#""meta":{"n":1}}"#));
    assert_eq!(lookup(&s, "edge", "0.0.0.1"), miss("0.0.0.1"));
    assert!(lookup(&s, "edge", "255.255.255.255").ends_with(r#""end":"255.255.255.255","meta":{"n":2}}"#));
    assert!(lookup(&s, "edge", "255.255.255.0").contains(r#""n":2"#));
    assert_eq!(lookup(&s, "edge", "255.255.254.255"), miss("255.255.254.255"));
    assert!(lookup(&s, "edge", "::").contains(r#""n":3"#));
    assert!(lookup(&s, "edge", "::1").contains(r#""n":3"#));
    assert_eq!(lookup(&s, "edge", "::2"), miss("::2"));
    assert!(lookup(&s, "edge", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff").contains(r#""n":4"#));
    // A whole-space range.
    let all = file(dir.path(), "all.csv", "network,n\n0.0.0.0/0,5\n::/0,6\n");
    import(&s, "all", &all, Format::Csv).unwrap();
    assert!(lookup(&s, "all", "128.0.0.1").contains(r#""n":5"#));
    assert!(lookup(&s, "all", "8000::1").contains(r#""n":6"#));
}

#[test]
fn non_cidr_ranges_with_high_octets() {
    // The regression of the original design: raw address bytes > 0x7f inside JSON.
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    import(&s, "geo", &fixture("sample.csv"), Format::Auto).unwrap();
    assert_eq!(
        lookup(&s, "geo", "1.0.128.255"),
        r#"{"ip":"1.0.128.255","start":"1.0.0.0","end":"1.0.129.0","meta":{"asn":1136,"country":"NL","pop":"ams"}}"#
    );
    assert!(lookup(&s, "geo", "1.0.129.0").contains("1.0.129.0"));
    assert_eq!(lookup(&s, "geo", "1.0.129.1"), miss("1.0.129.1"));
    assert!(lookup(&s, "geo", "200.1.255.255").contains(r#""country":"BR""#));
    assert!(lookup(&s, "geo", "200.0.0.0").contains(r#""country":"BR""#));
    assert_eq!(lookup(&s, "geo", "200.2.0.0"), miss("200.2.0.0"));
    // The stored values are exactly the documented format; each range here has metadata of its
    // own, so the import writes them inline (the shared form is tested in ranges_compact.rs).
    let t = RangeTable::open(&s, "geo").unwrap().unwrap();
    let rtxn = s.read_txn().unwrap();
    let hit = t.lookup(&rtxn, "1.0.64.1".parse().unwrap()).unwrap().unwrap();
    assert_eq!(hit.shared, None);
    assert_eq!(std::str::from_utf8(hit.value).unwrap(), r#"{"end":"01008100","asn":1136,"country":"NL","pop":"ams"}"#);
    assert_eq!(hit.member("country"), Some(&br#""NL""#[..]));
    let hit = t.lookup(&rtxn, "2001:db8::1".parse().unwrap()).unwrap().unwrap();
    assert_eq!(
        std::str::from_utf8(hit.value).unwrap(),
        r#"{"end":"20010db800000000000000000000ffff","asn":3320,"country":"DE","pop":"fra"}"#
    );
}

#[test]
fn ipv4_mapped_addresses_are_ipv4() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    // A range given as IPv4-mapped IPv6 is stored as IPv4 …
    let csv = file(dir.path(), "m.csv", "start,end,c\n::ffff:1.2.3.0,::ffff:1.2.3.255,X\n::ffff:0:0,::ffff:0:0,Z\n");
    let report = import(&s, "geo", &csv, Format::Csv).unwrap();
    assert_eq!((report.v4, report.v6), (2, 0));
    // … and found by both spellings.
    assert!(lookup(&s, "geo", "1.2.3.4").contains(r#""start":"1.2.3.0","end":"1.2.3.255""#));
    assert!(lookup(&s, "geo", "::ffff:1.2.3.4").contains(r#""c":"X""#));
    assert!(lookup(&s, "geo", "::ffff:0.0.0.0").contains(r#""c":"Z""#));
    assert_eq!(lookup(&s, "geo", "::ffff:1.2.4.0"), miss("::ffff:1.2.4.0"));
    // Not mapped: ::1.2.3.4 (IPv4-compatible) is IPv6.
    assert_eq!(lookup(&s, "geo", "::1.2.3.4"), miss("::102:304"));
    let mut cache: RangeCache<String> = RangeCache::new(16);
    let t = RangeTable::open(&s, "geo").unwrap().unwrap();
    let rtxn = s.read_txn().unwrap();
    let hit = cache.lookup(&t, &rtxn, "::ffff:1.2.3.9".parse().unwrap(), |h| h.metadata_json().unwrap().into()).unwrap();
    assert_eq!(hit.unwrap().meta, r#"{"c":"X"}"#);
}

#[test]
fn formats_jsonl_maxmind_ip2location() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let r = import(&s, "j", &fixture("sample.jsonl"), Format::Auto).unwrap();
    assert_eq!((r.format, r.v4, r.v6), (Format::Jsonl, 2, 1));
    assert!(lookup(&s, "j", "200.1.0.0").ends_with(r#""meta":{"anycast":false,"asn":28573,"country":"BR","tags":["a","b"]}}"#));
    assert!(lookup(&s, "j", "2001:db8::5").ends_with(r#""meta":{"country":"DE","geo":{"lat":50.1,"lon":8.7}}}"#));

    let r = import_loc(&s, &fixture("geolite2-city-blocks-ipv4.csv"), &fixture("geolite2-city-locations-en.csv")).unwrap();
    assert_eq!((r.format, r.v4), (Format::Maxmind, 4));
    let nl = lookup(&s, "geo", "200.1.2.3");
    assert!(nl.contains(r#""country_iso_code":"NL""#) && nl.contains(r#""country_name":"Netherlands""#), "{nl}");
    assert!(nl.contains(r#""geoname_id":2750405"#) && nl.contains(r#""postal_code":1012"#) && nl.contains(r#""latitude":52.3824"#), "{nl}");
    assert!(nl.contains(r#""is_in_european_union":1"#) && !nl.contains("locale_code"), "{nl}");
    // No geoname_id: joined by registered_country_geoname_id.
    let anycast = lookup(&s, "geo", "2.16.89.1");
    assert!(anycast.contains(r#""country_iso_code":"NL""#) && anycast.contains(r#""is_anycast":1"#), "{anycast}");
    assert!(lookup(&s, "geo", "1.0.1.1").contains(r#""country_iso_code":"CN""#));

    let r = import(&s, "asn", &fixture("geolite2-asn-blocks-ipv6.csv"), Format::Auto).unwrap();
    assert_eq!((r.format, r.v6), (Format::Maxmind, 2));
    assert!(lookup(&s, "asn", "2001:db8:1::1")
        .ends_with(r#""meta":{"autonomous_system_number":64496,"autonomous_system_organization":"Example, Inc."}}"#));

    let r = import(&s, "ip2l", &fixture("ip2location-db1.csv"), Format::Auto).unwrap();
    assert_eq!((r.format, r.v4, r.skipped), (Format::Ip2location, 3, 2));
    assert_eq!(
        lookup(&s, "ip2l", "1.0.0.7"),
        r#"{"ip":"1.0.0.7","start":"1.0.0.0","end":"1.0.0.255","meta":{"country_code":"US","country_name":"United States of America"}}"#
    );
    assert!(lookup(&s, "ip2l", "200.0.0.1").contains(r#""country_code":"NL""#));
    assert_eq!(lookup(&s, "ip2l", "0.0.0.1"), miss("0.0.0.1"), "rows of only '-' are left out");
    let r = import(&s, "ip2l6", &fixture("ip2location-db1-ipv6.csv"), Format::Ip2location).unwrap();
    assert_eq!((r.v4, r.v6), (1, 1), "the IPv4-mapped row is stored as IPv4");
    assert!(lookup(&s, "ip2l6", "0.1.2.3").contains(r#""US""#));
    assert!(lookup(&s, "ip2l6", "2001:db8:ffff::1").contains(r#""NL""#));
}

#[test]
fn export_imports_back_identically() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let jsonl = file(
        dir.path(),
        "t.jsonl",
        concat!(
            r#"{"start":"1.0.0.0","end":"1.0.129.0","s":"NL","n":1136,"f":-2.5,"b":true,"z":null,"o":{"k":[1,"x"]},"a":[],"e":"","q":"12","t":"true","j":"{\"x\":1}","c":"a,b \"c\""}"#,
            "\n",
            r#"{"start":"200.0.0.0","end":"200.1.255.255","s":"only s"}"#,
            "\n",
            r#"{"start":"9.9.9.9","end":"9.9.9.9"}"#,
            "\n",
            r#"{"network":"2001:db8::/48","s":"{not json","big":"123456789012345678901234567890"}"#,
            "\n",
        ),
    );
    import(&s, "geo", &jsonl, Format::Jsonl).unwrap();
    let before = raw(&s, "geo");
    let csv = export(&s, "geo");
    assert!(csv.starts_with("start,end,a,b,big,c,e,f,j,n,o,q,s,t,z\n"), "{csv}");
    let path = file(dir.path(), "back.csv", &csv);
    import(&s, "copy", &path, Format::Auto).unwrap();
    assert_eq!(raw(&s, "copy"), before);
    assert_eq!(export(&s, "copy"), csv);
}

#[test]
fn add_delete_list_drop() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    write::add(&s, "geo", "10.0.0.0", "10.0.0.255", r#"{"c":"A"}"#).unwrap();
    write::add(&s, "geo", "10.0.2.0", "10.0.2.255", r#"{"c":"B"}"#).unwrap();
    let before = raw(&s, "geo");
    let err = |start: &str, end: &str, json: &str| write::add(&s, "geo", start, end, json).unwrap_err().to_string();
    assert_eq!(err("10.0.0.255", "10.0.1.0", "{}"), "range 10.0.0.255-10.0.1.0 overlaps range 10.0.0.0-10.0.0.255 in table geo");
    assert_eq!(err("10.0.1.0", "10.0.2.0", "{}"), "range 10.0.1.0-10.0.2.0 overlaps range 10.0.2.0-10.0.2.255 in table geo");
    assert_eq!(err("10.0.1.0", "10.0.3.0", "{}"), "range 10.0.1.0-10.0.3.0 overlaps range 10.0.2.0-10.0.2.255 in table geo");
    assert_eq!(err("10.0.0.0", "10.0.0.1", "{}"), "a range already starts at 10.0.0.0 (10.0.0.0-10.0.0.255) in table geo; delete it first");
    assert_eq!(err("10.0.1.9", "10.0.1.0", "{}"), "start 10.0.1.9 is after end 10.0.1.0");
    assert_eq!(
        err("10.0.1.0", "::1", "{}"),
        "start 10.0.1.0 and end ::1 are of different address families (IPv4-mapped IPv6 counts as IPv4)"
    );
    assert_eq!(err("10.0.1", "10.0.1.9", "{}"), r#"START: unparsable address "10.0.1""#);
    assert_eq!(err("10.0.1.0", "10.0.1.9", "[1]"), "metadata is not a JSON object: [1]");
    assert!(err("10.0.1.0", "10.0.1.9", "{nope").starts_with("metadata is not valid JSON"));
    assert_eq!(
        err("10.0.1.0", "10.0.1.9", r#"{"end":"x"}"#),
        r#"metadata may not have a "end" member (the range bounds are the START and END arguments)"#
    );
    assert_eq!(raw(&s, "geo"), before, "failed adds change nothing");
    // Exactly filling the gap is fine.
    write::add(&s, "geo", "10.0.1.0", "10.0.1.255", r#"{"c":"gap"}"#).unwrap();
    assert!(lookup(&s, "geo", "10.0.1.128").contains("gap"));
    write::add(&s, "geo", "::ffff:10.0.3.0", "::ffff:10.0.3.0", "{}").unwrap();
    assert!(lookup(&s, "geo", "10.0.3.0").ends_with(r#""meta":{}}"#));

    assert_eq!(
        write::delete(&s, "geo", "10.0.1.1").unwrap_err().to_string(),
        "no range starts at 10.0.1.1 in table geo (`ranges lookup` shows the range containing an address)"
    );
    write::delete(&s, "geo", "10.0.1.0").unwrap();
    assert_eq!(lookup(&s, "geo", "10.0.1.128"), miss("10.0.1.128"));

    write::add(&s, "other", "::1", "::1", r#"{"x":1}"#).unwrap();
    let mut out = Vec::new();
    write::list(&s, &mut out).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), "{\"ipv4\":3,\"ipv6\":0,\"table\":\"geo\"}\n{\"ipv4\":0,\"ipv6\":1,\"table\":\"other\"}\n");
    write::drop_table(&s, "other").unwrap();
    assert_eq!(write::drop_table(&s, "other").unwrap_err().to_string(), r#"no range table named "other" (`ranges list` shows the tables)"#);
    let mut out = Vec::new();
    write::list(&s, &mut out).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), "{\"ipv4\":3,\"ipv6\":0,\"table\":\"geo\"}\n");
    assert!(RangeTable::open(&s, "other").unwrap().is_none());
    assert!(write::lookup(&s, "other", &["1.1.1.1".into()], &mut Vec::new()).unwrap_err().to_string().contains("no range table named"));
    assert!(write::add(&s, "bad name", "1.1.1.1", "1.1.1.1", "{}").unwrap_err().to_string().starts_with("invalid range table name"));
}

#[test]
fn bad_input_names_file_line_reason_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    import(&s, "geo", &fixture("sample.csv"), Format::Csv).unwrap();
    let before = raw(&s, "geo");
    assert_eq!(before.len(), 4);
    let cases: &[(&str, &str, Format, &str)] = &[
        ("se.csv", "start,end,c\n1.1.1.1,1.1.1.9,a\n2.2.2.2,2.2.2.1,b\n", Format::Csv, "se.csv:3: start 2.2.2.2 is after end 2.2.2.1"),
        (
            "fam.csv",
            "start,end\n1.1.1.1,::1\n",
            Format::Csv,
            "fam.csv:2: start 1.1.1.1 and end ::1 are of different address families (IPv4-mapped IPv6 counts as IPv4)",
        ),
        ("bad.csv", "start,end\n1.1.1.1,1.1.1.9\n1.1.1.300,1.1.1.400\n", Format::Csv, "bad.csv:3: unparsable address \"1.1.1.300\""),
        (
            "ov.csv",
            "start,end\n5.0.0.0,5.0.0.255\n1.0.0.0,1.0.0.9\n5.0.0.128,5.0.1.0\n",
            Format::Csv,
            "ov.csv:4: range 5.0.0.128-5.0.1.0 overlaps range 5.0.0.0-5.0.0.255 on line 2",
        ),
        (
            "ov6.jsonl",
            "{\"network\":\"2001:db8::/64\"}\n{\"start\":\"2001:db8::ffff\",\"end\":\"2001:db9::\"}\n",
            Format::Jsonl,
            "ov6.jsonl:2: range 2001:db8::ffff-2001:db9:: overlaps range 2001:db8::-2001:db8::ffff:ffff:ffff:ffff on line 1",
        ),
        (
            "dup.csv",
            "network\n7.0.0.0/24\n7.0.0.0/25\n",
            Format::Csv,
            "dup.csv:3: duplicate start 7.0.0.0 (line 2 starts a range there too)",
        ),
        (
            "obj.jsonl",
            "{\"network\":\"7.0.0.0/24\"}\n[1,2]\n",
            Format::Jsonl,
            "obj.jsonl:2: metadata is not a JSON object (each line must be {\"start\":…,\"end\":…, …metadata})",
        ),
        (
            "host.csv",
            "network,c\n7.0.0.0/24,a\n10.1.2.3/8,b\n",
            Format::Csv,
            "host.csv:3: network 10.1.2.3/8 has host bits set (the network is 10.0.0.0/8)",
        ),
        ("fields.csv", "start,end,c\n1.1.1.1,1.1.1.9,a,extra\n", Format::Csv, "fields.csv:2: row has 4 fields, the header has 3"),
        (
            "hdr.csv",
            "from,to,c\n1.1.1.1,1.1.1.9,a\n",
            Format::Csv,
            "hdr.csv:1: the header needs either start and end columns or a network column (found: from,to,c)",
        ),
        (
            "notjson.jsonl",
            "{\"network\":\"7.0.0.0/24\"\n",
            Format::Jsonl,
            "notjson.jsonl:1: not JSON: EOF while parsing an object at line 1 column 23",
        ),
        ("ip2.csv", "\"1\",\"x\",\"US\",\"U\"\n", Format::Ip2location, "ip2.csv:1: unparsable address number \"x\""),
    ];
    for (name, text, format, expected) in cases {
        let path = file(dir.path(), name, text);
        let e = import(&s, "geo", &path, *format).unwrap_err();
        let message = format!("{e:#}");
        let expected_full = expected.replace(name, &path.display().to_string());
        assert_eq!(message, expected_full, "{name}");
        assert_eq!(raw(&s, "geo"), before, "{name}: the table must be unchanged");
    }
    // GeoLite2: an id missing from the locations file.
    let blocks = file(dir.path(), "b.csv", "network,geoname_id,registered_country_geoname_id\n7.0.0.0/24,999,\n");
    let e = import_loc(&s, &blocks, &fixture("geolite2-city-locations-en.csv")).unwrap_err();
    assert!(format!("{e:#}").contains("b.csv:2: geoname_id 999 is not in the locations file "), "{e:#}");
    assert_eq!(raw(&s, "geo"), before);
    // Rows are read on a thread of their own in batches of thousands: the first bad line in
    // file order is named, whether the reading thread or the importing one finds it.
    let rows = |bad_at: &[(usize, &str)]| {
        let mut text = String::from("network,geoname_id,registered_country_geoname_id\n");
        for i in 0..20_000usize {
            let line = i + 2;
            match bad_at.iter().find(|(at, _)| *at == line) {
                Some((_, row)) => text.push_str(row),
                None => {
                    text.push_str(&format!("{}.{}.{}.0/24,{},", 10 + i / 65536, (i / 256) % 256, i % 256, ["2077456", "1814991"][i % 2]))
                }
            }
            text.push('\n');
        }
        file(dir.path(), "many.csv", &text)
    };
    let locations = fixture("geolite2-city-locations-en.csv");
    let e = import_loc(&s, &rows(&[(15_003, "10.0.0.300/24,2077456,")]), &locations).unwrap_err();
    assert!(format!("{e:#}").contains("many.csv:15003: "), "{e:#}");
    let e = import_loc(&s, &rows(&[(9_001, "99.0.0.0/24,999,"), (15_003, "10.0.0.300/24,2077456,")]), &locations).unwrap_err();
    assert!(format!("{e:#}").contains("many.csv:9001: geoname_id 999 is not in the locations file "), "{e:#}");
    let e = import_loc(&s, &rows(&[(4_000, "10.0.0.300/24,2077456,"), (9_001, "99.0.0.0/24,999,")]), &locations).unwrap_err();
    assert!(format!("{e:#}").contains("many.csv:4000: "), "{e:#}");
    assert_eq!(raw(&s, "geo"), before);
    import_loc(&s, &rows(&[]), &locations).unwrap();
    assert_eq!(raw(&s, "geo").len(), 20_000, "the same rows without a bad one import whole");
    import(&s, "geo", &fixture("sample.csv"), Format::Csv).unwrap();
    assert_eq!(raw(&s, "geo"), before);
    // Missing file.
    let e = import(&s, "geo", &dir.path().join("nope.csv"), Format::Csv).unwrap_err();
    assert!(format!("{e:#}").starts_with("cannot open "), "{e:#}");
    assert_eq!(raw(&s, "geo"), before);
}

#[test]
fn map_full_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("db"), &OpenOptions { map_size: 1 << 20, read_only: false }).unwrap();
    let mut text = String::from("start,end,pad\n");
    for i in 0..20_000u32 {
        let a = std::net::Ipv4Addr::from(i * 4);
        // Distinct metadata per range: shared records would fit a repeated one in a few pages.
        text.push_str(&format!("{a},{a},{i}{}\n", "x".repeat(40)));
    }
    let path = file(dir.path(), "big.csv", &text);
    let e = import(&s, "geo", &path, Format::Csv).unwrap_err();
    assert!(format!("{e:#}").contains("database full: raise --map-size"), "{e:#}");
    assert!(format!("{e:#}").contains("nothing was committed"), "{e:#}");
    assert!(RangeTable::open(&s, "geo").unwrap().is_none());
}

/// A reader thread, while imports alternate two versions of a table, only ever sees a complete
/// version: every range of one version and nothing of the other.
#[test]
fn atomic_replace_seen_by_concurrent_reader() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let version = |tag: &str, n: u32| {
        let mut text = String::from("start,end,v\n");
        for i in 0..n {
            let a = std::net::Ipv4Addr::from(0x0a00_0000 + i * 16);
            let b = std::net::Ipv4Addr::from(0x0a00_0000 + i * 16 + 7);
            text.push_str(&format!("{a},{b},{tag}\n"));
        }
        file(dir.path(), &format!("{tag}.csv"), &text)
    };
    let (a, b) = (version("a", 3000), version("b", 2000));
    import(&s, "geo", &a, Format::Csv).unwrap();
    let table = RangeTable::open(&s, "geo").unwrap().unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut seen = [0u32; 2];
            for _ in 0..100_000 {
                if done.load(Ordering::Relaxed) {
                    break;
                }
                let rtxn = s.read_txn().unwrap();
                let (mut na, mut nb) = (0u32, 0u32);
                for hit in table.iter(&rtxn).unwrap() {
                    let hit = hit.unwrap();
                    match hit.metadata().unwrap()["v"].as_str().unwrap() {
                        "a" => na += 1,
                        _ => nb += 1,
                    }
                }
                assert!((na, nb) == (3000, 0) || (na, nb) == (0, 2000), "mixed table: {na} a, {nb} b");
                seen[(nb > 0) as usize] += 1;
            }
            seen
        })
    };
    for i in 0..20 {
        import(&s, "geo", if i % 2 == 0 { &b } else { &a }, Format::Csv).unwrap();
    }
    done.store(true, Ordering::Relaxed);
    let seen = reader.join().unwrap();
    assert!(seen[0] > 0, "reader saw version a");
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    /// Random non-overlapping ranges over a small IPv4 window and an IPv6 window, plus probes.
    fn ranges() -> impl Strategy<Value = (Vec<(u32, u32, u8)>, Vec<u32>)> {
        (proptest::collection::vec((0u32..4000, 0u32..40, 0u8..5, any::<bool>()), 0..60), proptest::collection::vec(0u32..4200, 1..80))
            .prop_map(|(steps, probes)| {
                let mut out = Vec::new();
                let mut at = 0u32;
                for (gap, len, tag, keep) in steps {
                    let start = at + gap % 97;
                    let end = start + len;
                    if keep {
                        out.push((start, end, tag));
                    }
                    at = end + 1;
                }
                (out, probes)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        #[test]
        fn lookups_match_reference((set, probes) in ranges(), shift in 0u32..2, v6 in any::<bool>()) {
            let dir = tempfile::tempdir().unwrap();
            let s = store(dir.path());
            // Put the window near the top or bottom of the space, IPv4 or IPv6.
            let base: u128 = if shift == 0 { 0 } else if v6 { u128::MAX - 10_000 } else { u32::MAX as u128 - 10_000 };
            let ip = |x: u32| -> IpAddr {
                let n = base + x as u128;
                if v6 { IpAddr::V6(n.into()) } else { IpAddr::V4((n as u32).into()) }
            };
            let mut text = String::from("start,end,tag\n");
            // Unsorted input: reverse it.
            for &(a, b, tag) in set.iter().rev() {
                text.push_str(&format!("{},{},t{tag}\n", ip(a), ip(b)));
            }
            let path = file(dir.path(), "p.csv", &text);
            // The generated set may be empty: an empty table is what is meant then.
            let options = ImportOptions { table: "geo".into(), file: path, format: Format::Csv, locations: None, progress: false, allow_empty: true, inline_locations: false };
            write::import(&s, &options).unwrap();
            let table = RangeTable::open(&s, "geo").unwrap().unwrap();
            let rtxn = s.read_txn().unwrap();
            let mut cache: RangeCache<String> = RangeCache::new(8);
            for round in 0..2 {
                for &p in &probes {
                    let expected = set.iter().find(|&&(a, b, _)| a <= p && p <= b);
                    let got = table.lookup(&rtxn, ip(p)).unwrap();
                    let cached = cache.lookup(&table, &rtxn, ip(p), |h| h.metadata_json().unwrap().into_owned()).unwrap();
                    match expected {
                        None => {
                            prop_assert!(got.is_none(), "{} round {round}", ip(p));
                            prop_assert!(cached.is_none());
                        }
                        Some(&(a, b, tag)) => {
                            let got = got.unwrap();
                            prop_assert_eq!((got.start, got.end), (ip(a), ip(b)));
                            prop_assert_eq!(got.metadata_json().unwrap(), format!("{{\"tag\":\"t{tag}\"}}"));
                            let cached = cached.unwrap();
                            prop_assert_eq!((cached.start, cached.end), (ip(a), ip(b)));
                            prop_assert_eq!(&cached.meta, &format!("{{\"tag\":\"t{tag}\"}}"));
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn run_lookup_exit_status() {
    use lmdns_loader::ranges::{run, RangesCommand};
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    import(&s, "geo", &fixture("sample.csv"), Format::Csv).unwrap();
    let code = run(&s, RangesCommand::Lookup { table: "geo".into(), ips: vec!["1.0.0.1".into()] }).unwrap();
    assert_eq!(code, std::process::ExitCode::SUCCESS);
    let code = run(&s, RangesCommand::Lookup { table: "geo".into(), ips: vec!["1.0.0.1".into(), "3.3.3.3".into()] }).unwrap();
    assert_eq!(code, std::process::ExitCode::from(1));
    assert!(run(&s, RangesCommand::Lookup { table: "geo".into(), ips: vec!["x".into()] }).is_err());
}

/// `--help` documents every flag (the wiring in main.rs is someone else's; check the enum).
#[test]
fn help_mentions_every_flag() {
    use clap::{CommandFactory, Parser};
    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        ranges: lmdns_loader::ranges::RangesCommand,
    }
    let mut cmd = Cli::command();
    let import = cmd.find_subcommand_mut("import").unwrap();
    let help = import.render_long_help().to_string();
    for needle in ["--table", "--format", "--locations", "host bits set", "REJECTED", "ip2location", "country_code"] {
        assert!(help.contains(needle), "{needle} missing from:\n{help}");
    }
}

#[test]
fn an_input_without_ranges_or_cut_inside_a_quote_keeps_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let full = file(dir.path(), "full.csv", "start,end,country\n10.0.0.0,10.0.0.255,DE\n");
    import(&store, "geo", &full, Format::Csv).unwrap();
    let before = lookup(&store, "geo", "10.0.0.1");
    assert!(before.contains("DE"), "{before}");
    // A header alone (an empty download): refused unless asked for.
    let header = file(dir.path(), "header.csv", "start,end,country\n");
    let refused = format!("{:#}", import(&store, "geo", &header, Format::Csv).unwrap_err());
    assert!(refused.contains("no ranges") && refused.contains("--allow-empty"), "{refused}");
    assert_eq!(lookup(&store, "geo", "10.0.0.1"), before);
    // Cut inside a quoted field: refused, the table kept.
    let cut = file(dir.path(), "cut.csv", "start,end,country\n10.0.0.0,10.0.0.255,\"Germa");
    let refused = format!("{:#}", import(&store, "geo", &cut, Format::Csv).unwrap_err());
    assert!(refused.contains("inside a quoted field"), "{refused}");
    assert_eq!(lookup(&store, "geo", "10.0.0.1"), before);
    // With --allow-empty the header alone empties it.
    let options = ImportOptions {
        table: "geo".into(),
        file: header,
        format: Format::Csv,
        locations: None,
        progress: false,
        allow_empty: true,
        inline_locations: false,
    };
    write::import(&store, &options).unwrap();
    assert_ne!(lookup(&store, "geo", "10.0.0.1"), before);
}
