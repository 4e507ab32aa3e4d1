//! Tests of the range value forms, lookups and the cache.

use super::*;
use crate::store::OpenOptions;

#[test]
fn value_round_trip_non_cidr_high_octets() {
    // 1.0.129.0 has a byte above 0x7f: the regression of raw bytes inside JSON.
    let mut v = Vec::new();
    encode_value("1.0.129.0".parse().unwrap(), br#"{"asn":1136,"country":"NL"}"#, &mut v);
    assert_eq!(std::str::from_utf8(&v).unwrap(), r#"{"end":"01008100","asn":1136,"country":"NL"}"#);
    assert_eq!(decode_end(&v, true).unwrap(), "1.0.129.0".parse::<IpAddr>().unwrap());
    assert_eq!(metadata_json(&v).unwrap(), r#"{"asn":1136,"country":"NL"}"#);
    let mut e = Vec::new();
    encode_value("ffff::ffff".parse().unwrap(), b"{}", &mut e);
    assert_eq!(std::str::from_utf8(&e).unwrap(), r#"{"end":"ffff000000000000000000000000ffff"}"#);
    assert_eq!(metadata_json(&e).unwrap(), "{}");
    assert_eq!(decode_end(&e, false).unwrap(), "ffff::ffff".parse::<IpAddr>().unwrap());
    // Slow path: `end` not first.
    let odd = br#"{"a":1,"end":"c8000001"}"#;
    assert_eq!(decode_end(odd, true).unwrap(), "200.0.0.1".parse::<IpAddr>().unwrap());
    assert_eq!(metadata_json(odd).unwrap(), r#"{"a":1}"#);
    assert!(decode_end(br#"{"end":"zz"}"#, true).is_err());
}

#[test]
fn shared_value_round_trip() {
    let mut v = Vec::new();
    encode_shared_value("1.0.129.0".parse().unwrap(), 458_431, &mut v);
    assert_eq!(std::str::from_utf8(&v).unwrap(), r#""01008100#6febf""#);
    assert_eq!(decode_value(&v, true).unwrap(), ("1.0.129.0".parse().unwrap(), Stored::Shared(458_431)));
    v.clear();
    encode_shared_value("ffff::ffff".parse().unwrap(), 0, &mut v);
    assert_eq!(std::str::from_utf8(&v).unwrap(), r#""ffff000000000000000000000000#0""#);
    assert_eq!(decode_end(&v, false).unwrap(), "ffff::ffff".parse::<IpAddr>().unwrap());
    // Trailing f digits are left out, at least one digit kept; full-length ends still read.
    for (end, text) in [
        ("1.0.0.255", r#""010000#5""#),
        ("1.0.255.255", r#""0100#5""#),
        ("255.255.255.255", r#""f#5""#),
        ("15.255.255.255", r#""0#5""#),
        ("1.0.0.254", r#""010000fe#5""#),
        ("2001:db8:1:ffff:ffff:ffff:ffff:ffff", r#""20010db80001#5""#),
        ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", r#""f#5""#),
    ] {
        let ip: IpAddr = end.parse().unwrap();
        v.clear();
        encode_shared_value(ip, 5, &mut v);
        assert_eq!(std::str::from_utf8(&v).unwrap(), text);
        assert_eq!(decode_value(&v, ip.is_ipv4()).unwrap(), (ip, Stored::Shared(5)));
    }
    assert_eq!(decode_end(br#""0100ffff#1""#, true).unwrap(), "1.0.255.255".parse::<IpAddr>().unwrap());
    assert_eq!(decode_end(br#""0100810#1""#, true).unwrap(), "1.0.129.15".parse::<IpAddr>().unwrap());
    for (id, text) in [(0, "0"), (15, "f"), (16, "10"), (0x6_fec0, "6fec0"), (u32::MAX, "ffffffff")] {
        v.clear();
        encode_shared_value("9.9.9.9".parse().unwrap(), id, &mut v);
        assert_eq!(std::str::from_utf8(&v).unwrap(), format!("\"09090909#{text}\""));
        assert_eq!(decode_value(&v, true).unwrap().1, Stored::Shared(id));
    }
    // The second form (a JSON array, decimal id), which loaders wrote before the packed form,
    // still reads: such tables answer until they are re-imported.
    assert_eq!(decode_value(br#"["01008100",458431]"#, true).unwrap(), ("1.0.129.0".parse().unwrap(), Stored::Shared(458_431)));
    assert_eq!(decode_end(br#"["0100810",1]"#, true).unwrap(), "1.0.129.15".parse::<IpAddr>().unwrap());
    assert_eq!(decode_value(br#"["20010db80001",7]"#, false).unwrap().0, "2001:db8:1:ffff:ffff:ffff:ffff:ffff".parse::<IpAddr>().unwrap());
    // The inline form still decodes, as inline.
    assert_eq!(decode_value(br#"{"end":"01008100","a":1}"#, true).unwrap().1, Stored::Inline);
    for bad in [
        &br#"["010081000",1]"#[..],
        br#"["",1]"#,
        br#"["01008100",]"#,
        br#"["01008100",4294967296]"#,
        br#"["01008100",1"#,
        b"[",
        br#"["0100810g",1]"#,
        br#""010081000#1""#,
        br##""#1""##,
        br#""01008100#""#,
        br#""01008100#100000000""#,
        br#""01008100#1g""#,
        br#""0100810g#1""#,
        br#""01008100#1"#,
        br#""01008100""#,
        br##""""##,
        b"\"",
    ] {
        assert!(decode_value(bad, true).is_err(), "{}", String::from_utf8_lossy(bad));
    }
    let mut key = [0u8; META_KEY_MAX];
    let n = meta_key(b"geo", 0x0102_0304, &mut key);
    assert_eq!(&key[..n], b"geo\0\x01\x02\x03\x04");
    let (lo, hi) = meta_key_bounds("geo");
    assert!(lo.as_slice() <= &key[..n] && &key[..n] < hi.as_slice());
}

#[test]
fn names() {
    assert!(validate_table_name("geo").is_ok());
    assert!(validate_table_name("a.b-c_1").is_ok());
    assert!(validate_table_name("").is_err());
    assert!(validate_table_name("a b").is_err());
    assert!(validate_table_name(&"x".repeat(65)).is_err());
    assert_eq!(v4_db_name("geo"), "range4:geo");
    assert_eq!(v6_db_name("geo"), "range6:geo");
}

#[test]
fn lookup_and_cache() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db"), &OpenOptions { map_size: 16 << 20, read_only: false }).unwrap();
    assert!(RangeTable::open(&store, "geo").unwrap().is_none());
    let wtxn = store.write_txn().unwrap();
    let table = store
        .env()
        .create_databases_and_commit(wtxn, |opener, wtxn| -> Result<_, heed::Error> {
            let t = RangeTable::create_with(opener, wtxn, "geo")?;
            let mut v = Vec::new();
            encode_value("1.0.129.0".parse().unwrap(), br#"{"c":"NL"}"#, &mut v);
            t.v4.put(wtxn, &[1, 0, 0, 0], &v)?;
            v.clear();
            encode_value("2001:db8::ff".parse().unwrap(), br#"{"c":"DE"}"#, &mut v);
            t.v6.put(wtxn, &"2001:db8::".parse::<Ipv6Addr>().unwrap().octets(), &v)?;
            // A shared value beside the inline ones, and its record.
            v.clear();
            encode_shared_value("2.0.0.255".parse().unwrap(), 7, &mut v);
            t.v4.put(wtxn, &[2, 0, 0, 0], &v)?;
            let mut key = [0u8; META_KEY_MAX];
            let n = meta_key(b"geo", 7, &mut key);
            t.tables.put(wtxn, &key[..n], br#"{"c":"FR"}"#)?;
            Ok(heed::CommitOrAbort::<_, ()>::Commit(t))
        })
        .unwrap()
        .unwrap_commit();
    assert!(RangeTable::open(&store, "geo").unwrap().is_some());
    assert_eq!(RangeTable::list(&store).unwrap(), vec!["geo".to_string()]);
    let rtxn = store.read_txn().unwrap();
    let hit = table.lookup(&rtxn, "1.0.100.7".parse().unwrap()).unwrap().unwrap();
    assert_eq!(hit.start, "1.0.0.0".parse::<IpAddr>().unwrap());
    assert_eq!(hit.metadata().unwrap()["c"], "NL");
    assert!(table.lookup(&rtxn, "1.0.129.1".parse().unwrap()).unwrap().is_none());
    let shared = table.lookup(&rtxn, "2.0.0.9".parse().unwrap()).unwrap().unwrap();
    assert_eq!((shared.shared, shared.end), (Some(7), "2.0.0.255".parse::<IpAddr>().unwrap()));
    assert_eq!(shared.metadata_json().unwrap(), r#"{"c":"FR"}"#);
    assert_eq!(shared.metadata().unwrap()["c"], "FR");
    assert_eq!(hit.shared, None);
    assert_eq!(table.name(), "geo");
    assert!(table.lookup(&rtxn, "0.255.255.255".parse().unwrap()).unwrap().is_none());
    assert!(table.lookup(&rtxn, "::ffff:1.0.129.0".parse().unwrap()).unwrap().is_some());
    assert!(table.lookup(&rtxn, "2001:db8::ff".parse().unwrap()).unwrap().is_some());
    assert!(table.lookup(&rtxn, "2001:db8::100".parse().unwrap()).unwrap().is_none());

    let mut cache: RangeCache<String> = RangeCache::new(64);
    for _ in 0..3 {
        let r = cache.lookup(&table, &rtxn, "1.0.0.1".parse().unwrap(), |h| h.metadata_json().unwrap().into_owned()).unwrap();
        assert_eq!(r.unwrap().meta, r#"{"c":"NL"}"#);
        assert!(cache.lookup(&table, &rtxn, "9.9.9.9".parse().unwrap(), |_| unreachable!()).unwrap().is_none());
    }
    assert_eq!(cache.stats(), (4, 2));
    // Addresses in no range: the gap between the neighbouring ranges (or the family's ends).
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    assert_eq!(table.gap(&rtxn, ip("9.9.9.9")).unwrap(), (ip("2.0.1.0"), ip("255.255.255.255")));
    assert_eq!(table.gap(&rtxn, ip("0.255.255.255")).unwrap(), (ip("0.0.0.0"), ip("0.255.255.255")));
    assert_eq!(table.gap(&rtxn, ip("2001:db8::100")).unwrap(), (ip("2001:db8::100"), ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
    assert_eq!(table.gap(&rtxn, ip("::1")).unwrap(), (ip("::"), ip("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff")));
    assert!(table.gap(&rtxn, ip("1.0.0.1")).is_err(), "an address inside a range has no gap");
    // Cached as a miss without its gap (lookup), the gap is found when first asked for.
    match cache.lookup_span(&table, &rtxn, ip("9.9.9.9"), true, |_| unreachable!()).unwrap() {
        Span::Gap(bounds) => assert_eq!(bounds, Some((ip("2.0.1.0"), ip("255.255.255.255")))),
        Span::Range(r) => panic!("9.9.9.9 is in no range, got {:?}", r.start),
    }
    match cache.lookup_span(&table, &rtxn, ip("7.7.7.7"), false, |_| unreachable!()).unwrap() {
        Span::Gap(bounds) => assert_eq!(bounds, None),
        Span::Range(r) => panic!("7.7.7.7 is in no range, got {:?}", r.start),
    }
    // One set of three ways: the fourth address evicts the first filled, the others stay.
    let mut small: RangeCache<()> = RangeCache::new(3);
    for a in ["1.0.0.1", "1.0.0.2", "1.0.0.3", "1.0.0.4", "1.0.0.2", "1.0.0.4", "1.0.0.1"] {
        assert!(small.lookup(&table, &rtxn, ip(a), |_| ()).unwrap().is_some());
    }
    assert_eq!(small.stats(), (2, 5));
    // Uniform traffic (every address new) makes the cache bypass its sets; answers stay right,
    // and once traffic repeats again the sampled lookups see hits and turn the sets back on.
    let mut uniform: RangeCache<u32> = RangeCache::new(3);
    let base = u32::from(Ipv4Addr::new(1, 0, 0, 0));
    for n in 0..3 * 4096u32 {
        let a = IpAddr::V4(Ipv4Addr::from(base + n % 33_000));
        let r = uniform
            .lookup(&table, &rtxn, a, |h| {
                u32::from(match h.start {
                    IpAddr::V4(s) => s,
                    _ => unreachable!(),
                })
            })
            .unwrap();
        assert_eq!(r.map(|r| r.meta), Some(base), "{a}");
    }
    let (hits, misses) = uniform.stats();
    assert_eq!((hits, misses), (0, 3 * 4096));
    for _ in 0..3 * 4096 {
        assert!(uniform.lookup(&table, &rtxn, ip("1.0.0.1"), |_| 0).unwrap().is_some());
    }
    let (hits, _) = uniform.stats();
    assert!(hits > 4096, "the sets are back in use: {hits} hits of {}", 3 * 4096);
    drop(rtxn);
    // A commit changes the snapshot id: the cache re-reads.
    let mut wtxn = store.write_txn().unwrap();
    table.v4.clear(&mut wtxn).unwrap();
    wtxn.commit().unwrap();
    let rtxn = store.read_txn().unwrap();
    assert!(cache.lookup(&table, &rtxn, "1.0.0.1".parse().unwrap(), |_| String::new()).unwrap().is_none());
}

#[test]
fn shared_value_without_its_record_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db"), &OpenOptions { map_size: 16 << 20, read_only: false }).unwrap();
    let wtxn = store.write_txn().unwrap();
    let table = store
        .env()
        .create_databases_and_commit(wtxn, |opener, wtxn| -> Result<_, heed::Error> {
            let t = RangeTable::create_with(opener, wtxn, "t")?;
            let mut v = Vec::new();
            encode_shared_value("2.0.0.255".parse().unwrap(), 5, &mut v);
            t.v4.put(wtxn, &[2, 0, 0, 0], &v)?;
            // Record 6 is keyed but names a schema that is not there.
            v.clear();
            encode_shared_value("3.0.0.255".parse().unwrap(), 6, &mut v);
            t.v4.put(wtxn, &[3, 0, 0, 0], &v)?;
            let mut key = [0u8; META_KEY_MAX];
            let n = meta_key(b"t", 6, &mut key);
            t.tables.put(wtxn, &key[..n], b"[9,1]")?;
            // Record 8's schema has a part; its part 3 is not there.
            v.clear();
            encode_shared_value("4.0.0.255".parse().unwrap(), 8, &mut v);
            t.v4.put(wtxn, &[4, 0, 0, 0], &v)?;
            let n = meta_key(b"t", 8, &mut key);
            t.tables.put(wtxn, &key[..n], b"[1,3,7]")?;
            let n = schema_key(b"t", 1, &mut key);
            t.tables.put(wtxn, &key[..n], br#"[null,"a"]"#)?;
            Ok(heed::CommitOrAbort::<_, ()>::Commit(t))
        })
        .unwrap()
        .unwrap_commit();
    let rtxn = store.read_txn().unwrap();
    let e = table.lookup(&rtxn, "2.0.0.1".parse().unwrap()).unwrap_err();
    assert!(e.to_string().contains("range table t: metadata record 5 is missing"), "{e}");
    let e = table.lookup(&rtxn, "3.0.0.1".parse().unwrap()).unwrap_err();
    assert!(e.to_string().contains("range table t: metadata schema 9 is missing"), "{e}");
    let e = table.lookup(&rtxn, "4.0.0.1".parse().unwrap()).unwrap_err();
    assert!(e.to_string().contains("range table t: metadata part 3 is missing"), "{e}");
    let mut schemas = SchemaCache::new();
    let e = table.lookup_with(&mut schemas, &rtxn, "4.0.0.1".parse().unwrap()).unwrap_err();
    assert!(e.to_string().contains("range table t: metadata part 3 is missing"), "{e}");
    drop(rtxn);
    assert_eq!(RangeTable::list(&store).unwrap(), vec!["t".to_string()]);
}

#[test]
fn schema_cache_answers_as_lmdb_and_follows_commits() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db"), &OpenOptions { map_size: 16 << 20, read_only: false }).unwrap();
    // Ranges 1.0.0.0/24 and 2.0.0.0/24 with keyed records 0 and 1 of schema 0 (and schema id
    // 2000, past the cached ids, for 3.0.0.0/24).
    let write = |schema0: &[u8]| {
        let wtxn = store.write_txn().unwrap();
        store
            .env()
            .create_databases_and_commit(wtxn, |opener, wtxn| -> Result<_, heed::Error> {
                let t = RangeTable::create_with(opener, wtxn, "t")?;
                let mut key = [0u8; META_KEY_MAX];
                for (id, first, record) in [(0u32, 1u8, &b"[0,\"NL\",1]"[..]), (1, 2, b"[0,\"DE\",2]"), (2, 3, b"[2000,\"FR\"]")] {
                    let mut v = Vec::new();
                    encode_shared_value(IpAddr::V4(Ipv4Addr::new(first, 0, 0, 255)), id, &mut v);
                    t.v4.put(wtxn, &[first, 0, 0, 0], &v)?;
                    let n = meta_key(b"t", id, &mut key);
                    t.tables.put(wtxn, &key[..n], record)?;
                }
                let n = schema_key(b"t", 0, &mut key);
                t.tables.put(wtxn, &key[..n], schema0)?;
                let n = schema_key(b"t", 2000, &mut key);
                t.tables.put(wtxn, &key[..n], br#"["c"]"#)?;
                Ok(heed::CommitOrAbort::<_, ()>::Commit(t))
            })
            .unwrap()
            .unwrap_commit()
    };
    let table = write(br#"["c","n"]"#);
    let mut schemas = SchemaCache::new();
    let ips: Vec<IpAddr> = ["1.0.0.1", "2.0.0.9", "3.0.0.3", "4.0.0.1", "1.0.0.255"].iter().map(|a| a.parse().unwrap()).collect();
    let rtxn = store.read_txn().unwrap();
    for _ in 0..2 {
        for &ip in &ips {
            let plain = table.lookup(&rtxn, ip).unwrap().map(|h| h.metadata_json().unwrap().into_owned());
            let cached = table.lookup_with(&mut schemas, &rtxn, ip).unwrap().map(|h| h.metadata_json().unwrap().into_owned());
            assert_eq!(cached, plain, "{ip}");
        }
    }
    let hit = table.lookup_with(&mut schemas, &rtxn, ips[1]).unwrap().unwrap();
    assert_eq!(hit.member("c"), Some(&br#""DE""#[..]));
    assert_eq!(hit.metadata_json().unwrap(), r#"{"c":"DE","n":2}"#);
    drop(rtxn);
    // A commit renaming the keys of schema 0: the copy of the old snapshot is not used.
    write(br#"["cc","num"]"#);
    let rtxn = store.read_txn().unwrap();
    let hit = table.lookup_with(&mut schemas, &rtxn, ips[0]).unwrap().unwrap();
    assert_eq!(hit.metadata_json().unwrap(), r#"{"cc":"NL","num":1}"#);
    assert_eq!(table.lookup_with(&mut schemas, &rtxn, ips[2]).unwrap().unwrap().member("c"), Some(&br#""FR""#[..]));
}
