//! Range tables in the shared form (metadata stored once, referenced by id) on a generated
//! GeoLite2-City-shaped data set: every probe answers the metadata the generator put there, and
//! byte for byte what a table in the inline form (written here the way the previous loader
//! did) answers; inline tables keep answering beside shared ones; re-import and drop handle the
//! records.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use lmdb_schema::ranges::{decode_value, encode_value, meta_key_bounds, RangeTable, Stored};
use lmdb_schema::{OpenOptions, Store};
use lmdns_loader::ranges::write::{self, ImportOptions};
use lmdns_loader::ranges::Format;
use serde_json::{Map, Value};

#[allow(dead_code)]
#[path = "../../bench/src/geolite.rs"]
mod geolite;

use geolite::{Data, Rng, Scale};

fn store(dir: &std::path::Path) -> Store {
    Store::open(&dir.join("db"), &OpenOptions { map_size: 512 << 20, read_only: false }).unwrap()
}

fn import_city(s: &Store, table: &str, blocks: &std::path::Path, locations: &std::path::Path) -> write::ImportReport {
    let options = ImportOptions {
        table: table.into(),
        file: blocks.into(),
        format: Format::Auto,
        locations: Some(locations.into()),
        progress: false,
        allow_empty: false,
        inline_locations: false,
    };
    write::import(s, &options).unwrap()
}

/// The metadata the loader's documented cell rule makes of a variant's cells: empty = no member,
/// a JSON number = that number, anything else a string (no cell here is JSON text or a boolean).
fn expected(data: &Data, variant: u32) -> Map<String, Value> {
    let mut map = Map::new();
    for (key, cell) in data.cells(variant) {
        if cell.is_empty() {
            continue;
        }
        let value = match serde_json::from_str::<Value>(&cell) {
            Ok(Value::Number(n)) => Value::Number(n),
            _ => Value::String(cell),
        };
        map.insert(key.to_string(), value);
    }
    map
}

/// (first, last, variant) of every network, IPv4 first, as IpAddr.
fn networks(data: &Data) -> Vec<(IpAddr, IpAddr, u32)> {
    let v4 = data.v4.iter().map(|n| {
        let last = n.start as u64 + (1u64 << (32 - n.prefix)) - 1;
        (IpAddr::V4(Ipv4Addr::from(n.start)), IpAddr::V4(Ipv4Addr::from(last as u32)), n.variant)
    });
    let v6 = data.v6.iter().map(|n| {
        let last = n.start + ((1u128 << (128 - n.prefix)) - 1);
        (IpAddr::V6(Ipv6Addr::from(n.start)), IpAddr::V6(Ipv6Addr::from(last)), n.variant)
    });
    v4.chain(v6).collect()
}

/// Writes `table` in the inline form, one value `{"end":…,<metadata>}` per network.
fn write_inline_table(s: &Store, table: &str, data: &Data) {
    let wtxn = s.write_txn().unwrap();
    s.env()
        .create_databases_and_commit(wtxn, |opener, wtxn| -> Result<_, heed::Error> {
            let t = RangeTable::create_with(opener, wtxn, table)?;
            let mut value = Vec::new();
            for (first, last, variant) in networks(data) {
                value.clear();
                let meta = serde_json::to_vec(&expected(data, variant)).unwrap();
                encode_value(last, &meta, &mut value);
                match first {
                    IpAddr::V4(a) => t.v4.put(wtxn, &a.octets(), &value)?,
                    IpAddr::V6(a) => t.v6.put(wtxn, &a.octets(), &value)?,
                }
            }
            Ok(heed::CommitOrAbort::<_, ()>::Commit(t))
        })
        .unwrap()
        .unwrap_commit();
}

fn lookup_lines(s: &Store, table: &str, ips: &[String]) -> String {
    let mut out = Vec::new();
    write::lookup(s, table, ips, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// Addresses: inside networks (random offsets), at their bounds, and uniform ones (some in gaps).
fn probes(nets: &[(IpAddr, IpAddr, u32)], n: usize, seed: u64) -> Vec<IpAddr> {
    let mut rng = Rng(seed);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let (first, last, _) = nets[rng.below(nets.len() as u64) as usize];
        out.push(match rng.below(4) {
            0 => first,
            1 => last,
            _ => match (first, last) {
                (IpAddr::V4(a), IpAddr::V4(b)) => {
                    let (a, b) = (u32::from(a) as u64, u32::from(b) as u64);
                    IpAddr::V4(Ipv4Addr::from((a + rng.below(b - a + 1)) as u32))
                }
                (IpAddr::V6(a), IpAddr::V6(b)) => {
                    let (a, b) = (u128::from(a), u128::from(b));
                    let span = (b - a).min(u64::MAX as u128) as u64;
                    IpAddr::V6(Ipv6Addr::from(a + rng.below(span.saturating_add(1).max(1)) as u128))
                }
                _ => unreachable!(),
            },
        });
        if rng.below(8) == 0 {
            // Uniform over the generated span: lands in gaps too.
            out.push(IpAddr::V4(Ipv4Addr::from(0x0100_0000 + rng.below(0x2000_0000) as u32)));
        }
    }
    out
}

/// The network containing `ip`, by binary search over the generator's own list.
fn containing(nets: &[(IpAddr, IpAddr, u32)], ip: IpAddr) -> Option<(IpAddr, IpAddr, u32)> {
    let key = |a: IpAddr| match a {
        IpAddr::V4(v) => (0u8, u32::from(v) as u128),
        IpAddr::V6(v) => (1u8, u128::from(v)),
    };
    let i = nets.partition_point(|n| key(n.0) <= key(ip));
    (i > 0 && key(ip) <= key(nets[i - 1].1)).then(|| nets[i - 1])
}

#[test]
fn shared_table_answers_the_generated_metadata_and_matches_the_inline_form() {
    let dir = tempfile::tempdir().unwrap();
    let data = Data::generate(Scale::small(), 11);
    let [blocks, locations] = data.write_csvs(dir.path()).unwrap();
    let s = store(dir.path());
    let report = import_city(&s, "geo", &blocks, &locations);
    assert_eq!((report.v4, report.v6), (data.v4.len() as u64, data.v6.len() as u64));
    assert_eq!(report.distinct_metadata, data.variants.len(), "one record per distinct metadata object");
    write_inline_table(&s, "old", &data);

    let nets = networks(&data);
    let addrs = probes(&nets, 6000, 5);
    let (geo, old) = (RangeTable::open(&s, "geo").unwrap().unwrap(), RangeTable::open(&s, "old").unwrap().unwrap());
    let rtxn = s.read_txn().unwrap();
    let (mut hits, mut misses, mut parts) = (0, 0, 0);
    for &ip in &addrs {
        let want = containing(&nets, ip);
        let got = geo.lookup(&rtxn, ip).unwrap();
        let inline = old.lookup(&rtxn, ip).unwrap();
        match (want, got, inline) {
            (Some((first, last, variant)), Some(hit), Some(inline)) => {
                assert_eq!((hit.start, hit.end), (first, last), "{ip}");
                assert!(hit.shared.is_some() && inline.shared.is_none(), "{ip}: forms");
                assert_eq!(hit.metadata().unwrap(), expected(&data, variant), "{ip}");
                // The location members come from the record's part, stored once per location.
                let country = expected(&data, variant).get("country_iso_code").map(|v| v.to_string().into_bytes());
                assert_eq!(hit.member("country_iso_code").map(<[u8]>::to_vec), country, "{ip}");
                assert_eq!(hit.part.is_some(), country.is_some(), "{ip}: part");
                parts += hit.part.is_some() as usize;
                assert_eq!(hit.decode::<Map<String, Value>>().unwrap(), expected(&data, variant), "{ip}: decode");
                assert_eq!(hit.metadata_json().unwrap(), inline.metadata_json().unwrap(), "{ip}: metadata text");
                assert_eq!((inline.start, inline.end), (first, last), "{ip}");
                hits += 1;
            }
            (None, None, None) => misses += 1,
            (want, got, inline) => {
                panic!("{ip}: expected {want:?}, shared {:?}, inline {:?}", got.map(|h| h.start), inline.map(|h| h.start))
            }
        }
    }
    assert!(hits >= 5000 && misses > 0 && parts * 2 > hits, "{hits} hits ({parts} with a part), {misses} misses");
    // Record ids go by use (the most shared object is 0), and ends leave out trailing f digits.
    let mut uses = vec![0u32; report.distinct_metadata];
    let (mut values, mut short) = (0, 0);
    for item in geo.v4.iter(&rtxn).unwrap().chain(geo.v6.iter(&rtxn).unwrap()) {
        let (key, value) = item.unwrap();
        let (end, stored) = decode_value(value, key.len() == 4).unwrap();
        let Stored::Shared(id) = stored else { panic!("inline value in an imported table") };
        uses[id as usize] += 1;
        // The packed form: one JSON string, `"<hex end>#<hex id>"`.
        let text = std::str::from_utf8(value).unwrap();
        let (hex, hex_id) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')).and_then(|t| t.split_once('#')).unwrap();
        assert_eq!(u32::from_str_radix(hex_id, 16).unwrap(), id, "{text}");
        assert_eq!(serde_json::from_str::<String>(text).unwrap(), format!("{hex}#{hex_id}"), "{text}: a JSON string");
        let full = match end {
            IpAddr::V4(a) => format!("{:08x}", u32::from(a)),
            IpAddr::V6(a) => format!("{:032x}", u128::from(a)),
        };
        assert!(full.starts_with(hex) && full[hex.len()..].bytes().all(|c| c == b'f'), "{value:?}");
        assert!(hex.len() == full.len() || !hex.ends_with('f'), "{hex}: trailing f kept");
        values += 1;
        short += (hex.len() < full.len()) as usize;
    }
    assert!(uses.windows(2).all(|w| w[0] >= w[1]), "ids not ordered by use");
    assert!(short * 2 > values, "{short} of {values} ends shortened");
    drop(rtxn);

    // What operators see is byte-identical: `ranges lookup` lines and the export.
    let texts: Vec<String> = addrs.iter().take(2000).map(|a| a.to_string()).collect();
    assert_eq!(lookup_lines(&s, "geo", &texts), lookup_lines(&s, "old", &texts));
    let (mut a, mut b) = (Vec::new(), Vec::new());
    assert_eq!(write::export(&s, "geo", &mut a).unwrap(), nets.len() as u64);
    write::export(&s, "old", &mut b).unwrap();
    assert!(a == b, "exports differ");

    // A table written by a loader before the packed form (second form, `["<hex end>",<decimal
    // id>]`) keeps answering the same after an upgrade, value by value.
    import_city(&s, "arr", &blocks, &locations);
    let arr = RangeTable::open(&s, "arr").unwrap().unwrap();
    let mut wtxn = s.write_txn().unwrap();
    for db in [arr.v4, arr.v6] {
        let rows: Vec<(Vec<u8>, Vec<u8>)> = db.iter(&wtxn).unwrap().map(|r| r.unwrap()).map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
        for (key, value) in rows {
            let text = std::str::from_utf8(&value).unwrap();
            let (hex, id) = text.trim_matches('"').split_once('#').unwrap();
            let old_form = format!("[\"{hex}\",{}]", u32::from_str_radix(id, 16).unwrap());
            db.put(&mut wtxn, &key, old_form.as_bytes()).unwrap();
        }
    }
    wtxn.commit().unwrap();
    let rtxn = s.read_txn().unwrap();
    assert!(arr.v4.iter(&rtxn).unwrap().all(|r| r.unwrap().1.starts_with(b"[\"")), "rewritten in the second form");
    drop(rtxn);
    assert_eq!(lookup_lines(&s, "arr", &texts), lookup_lines(&s, "geo", &texts));
    let mut c = Vec::new();
    write::export(&s, "arr", &mut c).unwrap();
    assert!(a == c, "the second form's export differs");
    write::drop_table(&s, "arr").unwrap();

    // Re-importing the inline table turns it shared; both tables keep their own records. The
    // handle opened before (as a running server holds it) reads the shared form too.
    import_city(&s, "old", &blocks, &locations);
    assert_eq!(lookup_lines(&s, "geo", &texts), lookup_lines(&s, "old", &texts));
    // --inline-locations: no part records, the same answers.
    let options = ImportOptions {
        table: "inl".into(),
        file: blocks.clone(),
        format: Format::Auto,
        locations: Some(locations.clone()),
        progress: false,
        allow_empty: false,
        inline_locations: true,
    };
    write::import(&s, &options).unwrap();
    assert_eq!(lookup_lines(&s, "inl", &texts), lookup_lines(&s, "old", &texts));
    let inl = RangeTable::open(&s, "inl").unwrap().unwrap();
    let rtxn = s.read_txn().unwrap();
    assert!(addrs.iter().filter_map(|&ip| inl.lookup(&rtxn, ip).unwrap()).all(|h| h.part.is_none() && h.schema.is_some()));
    drop(rtxn);
    write::drop_table(&s, "inl").unwrap();
    // Re-importing "geo" with "old"'s records after its keys: no append there, same table.
    let before = lookup_lines(&s, "geo", &texts);
    import_city(&s, "geo", &blocks, &locations);
    assert_eq!(lookup_lines(&s, "geo", &texts), before);
    let rtxn = s.read_txn().unwrap();
    for &ip in addrs.iter().take(500) {
        let (a, b) = (geo.lookup(&rtxn, ip).unwrap(), old.lookup(&rtxn, ip).unwrap());
        assert_eq!(a.map(|h| h.metadata_json().unwrap().into_owned()), b.map(|h| h.metadata_json().unwrap().into_owned()), "{ip}");
        assert!(b.is_none_or(|h| h.shared.is_some()), "{ip}: re-imported as shared");
    }
    drop(rtxn);
    let records = |table: &str| {
        let t = RangeTable::open(&s, "geo").unwrap().unwrap();
        let rtxn = s.read_txn().unwrap();
        let (lo, hi) = meta_key_bounds(table);
        // Object records have 4-byte ids after the separator; part (ff ff ff fe) and schema
        // (ff ff ff ff) records 8 bytes.
        let (mut objects, mut parts, mut schemas) = (0, 0, 0);
        for item in t.tables.range(&rtxn, &(std::ops::Bound::Included(&lo[..]), std::ops::Bound::Excluded(&hi[..]))).unwrap() {
            let (key, _) = item.unwrap();
            match &key[lo.len()..] {
                [_, _, _, _] => objects += 1,
                [0xff, 0xff, 0xff, 0xfe, ..] => parts += 1,
                _ => schemas += 1,
            }
        }
        assert_eq!(objects == 0, schemas == 0, "{table}: {objects} objects, {schemas} schemas");
        assert!(parts <= data.locations.len() && (objects < 100 || parts > 0), "{table}: {parts} parts, {objects} objects");
        objects
    };
    assert_eq!((records("geo"), records("old")), (data.variants.len(), data.variants.len()));
    assert_eq!(RangeTable::list(&s).unwrap(), vec!["geo".to_string(), "old".to_string()], "records are not tables");
    // A re-import whose ranges share nothing is written inline: none of the old records is left.
    let few = dir.path().join("few.csv");
    std::fs::write(&few, "network,geoname_id,registered_country_geoname_id\n1.0.0.0/24,1000000,\n").unwrap();
    import_city(&s, "old", &few, &locations);
    assert_eq!(records("old"), 0);
    let t = RangeTable::open(&s, "old").unwrap().unwrap();
    let rtxn = s.read_txn().unwrap();
    let hit = t.lookup(&rtxn, "1.0.0.7".parse().unwrap()).unwrap().unwrap();
    assert_eq!(hit.shared, None);
    assert_eq!(hit.member("country_iso_code"), Some(&br#""AA""#[..]));
    drop(rtxn);
    // Two ranges sharing one object: shared again, one record.
    std::fs::write(&few, "network,geoname_id,registered_country_geoname_id\n1.0.0.0/24,1000000,\n1.0.1.0/24,1000000,\n").unwrap();
    import_city(&s, "old", &few, &locations);
    assert_eq!(records("old"), 1);
    // Drop removes the table's records and leaves the other table answering.
    write::drop_table(&s, "old").unwrap();
    assert_eq!(records("old"), 0);
    assert_eq!(records("geo"), data.variants.len());
    assert!(lookup_lines(&s, "geo", &texts[..50]).lines().count() == 50);
}

/// A single `ranges add` into a shared table stores that range inline; both forms answer.
#[test]
fn add_and_delete_beside_shared_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let data = Data::generate(Scale::small(), 3);
    let [blocks, locations] = data.write_csvs(dir.path()).unwrap();
    let s = store(dir.path());
    import_city(&s, "geo", &blocks, &locations);
    write::add(&s, "geo", "240.0.0.0", "240.0.0.9", r#"{"country_iso_code":"ZZ"}"#).unwrap();
    let t = RangeTable::open(&s, "geo").unwrap().unwrap();
    let rtxn = s.read_txn().unwrap();
    let added = t.lookup(&rtxn, "240.0.0.5".parse().unwrap()).unwrap().unwrap();
    assert_eq!((added.shared, added.metadata_json().unwrap().into_owned()), (None, r#"{"country_iso_code":"ZZ"}"#.to_string()));
    let first = data.v4[0];
    let shared = t.lookup(&rtxn, IpAddr::V4(Ipv4Addr::from(first.start))).unwrap().unwrap();
    assert_eq!(shared.metadata().unwrap(), expected(&data, first.variant));
    drop(rtxn);
    write::delete(&s, "geo", &Ipv4Addr::from(first.start).to_string()).unwrap();
    let rtxn = s.read_txn().unwrap();
    assert!(t.lookup(&rtxn, IpAddr::V4(Ipv4Addr::from(first.start))).unwrap().is_none());
}
