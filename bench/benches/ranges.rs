//! IP-range lookups: in-memory sorted array (the floor), raw LMDB floor search, LMDB + the
//! per-worker `RangeCache`, and the `maxminddb` crate on an equivalent .mmdb written here
//! (minimal MaxMind DB writer below). 10k and 1M IPv4 ranges, uniform random and Zipf-skewed
//! addresses; the country of an address on a generated GeoLite2-City-shaped table (group `city`)
//! against maxminddb on the equivalent .mmdb. Plus import throughput.
//!
//! `cargo bench -p lmdns-bench --bench ranges` (add `-- --quick` for a fast pass).

use std::hint::black_box;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lmdb_schema::ranges::{RangeCache, RangeTable, SchemaCache};
use lmdb_schema::{OpenOptions, Store};
use lmdns_loader::ranges::write::{self, ImportOptions};
use lmdns_loader::ranges::Format;
use serde::Deserialize;

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

const COUNTRIES: [&str; 20] =
    ["NL", "DE", "US", "BR", "CN", "JP", "FR", "GB", "IN", "AU", "ZA", "SE", "NO", "PL", "IT", "ES", "CA", "MX", "KR", "SG"];
const POPS: [&str; 10] = ["ams", "fra", "iad", "gru", "hkg", "nrt", "cdg", "lhr", "bom", "syd"];

#[derive(Clone, Debug)]
struct Range {
    start: u32,
    end: u32,
    country: &'static str,
    asn: u32,
    pop: &'static str,
    prefix: u32,
}

/// CIDR-aligned ranges (so the .mmdb is exactly equivalent) of /20–/24 with random gaps.
fn gen_ranges(n: usize, seed: u64) -> Vec<Range> {
    let mut rng = Rng(seed);
    let mut at: u64 = 0x0100_0000;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let prefix = 20 + rng.below(5) as u32;
        let size = 1u64 << (32 - prefix);
        at = (at + size - 1) & !(size - 1);
        if rng.below(4) == 0 {
            at += size; // a gap
            continue;
        }
        assert!(at + size <= 1 << 32, "address space exhausted");
        out.push(Range {
            start: at as u32,
            end: (at + size - 1) as u32,
            country: COUNTRIES[rng.below(20) as usize],
            asn: 1 + rng.below(65000) as u32,
            pop: POPS[rng.below(10) as usize],
            prefix,
        });
        at += size;
    }
    out
}

/// Uniform addresses over the covered span, and a Zipf(s=1) draw over 5000 "resolvers".
fn workloads(ranges: &[Range], seed: u64) -> (Vec<IpAddr>, Vec<IpAddr>) {
    let mut rng = Rng(seed);
    let (lo, hi) = (ranges[0].start as u64, ranges[ranges.len() - 1].end as u64);
    let mut uniform = || IpAddr::V4(Ipv4Addr::from((lo + rng.below(hi - lo + 1)) as u32));
    let random: Vec<IpAddr> = (0..1 << 16).map(|_| uniform()).collect();
    let resolvers: Vec<IpAddr> = (0..5000).map(|_| uniform()).collect();
    let mut cdf = Vec::with_capacity(resolvers.len());
    let mut total = 0.0;
    for k in 1..=resolvers.len() {
        total += 1.0 / k as f64;
        cdf.push(total);
    }
    let mut rng = Rng(seed ^ 0xdead_beef);
    let zipf = (0..1 << 16)
        .map(|_| {
            let u = rng.unit() * total;
            resolvers[cdf.partition_point(|&c| c < u).min(resolvers.len() - 1)]
        })
        .collect();
    (random, zipf)
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct MetaOwned {
    country: String,
    asn: u32,
    pop: String,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct MetaRef<'a> {
    country: &'a str,
    asn: u32,
    pop: &'a str,
}

/// The floor: a sorted array of starts, binary search, pre-parsed metadata.
struct SortedArray {
    starts: Vec<u32>,
    ends: Vec<u32>,
    metas: Vec<MetaOwned>,
}

impl SortedArray {
    fn new(ranges: &[Range]) -> Self {
        SortedArray {
            starts: ranges.iter().map(|r| r.start).collect(),
            ends: ranges.iter().map(|r| r.end).collect(),
            metas: ranges.iter().map(|r| MetaOwned { country: r.country.into(), asn: r.asn, pop: r.pop.into() }).collect(),
        }
    }
    #[inline]
    fn lookup(&self, ip: IpAddr) -> Option<&MetaOwned> {
        let IpAddr::V4(a) = ip else { return None };
        let a = u32::from(a);
        let i = self.starts.partition_point(|&s| s <= a);
        (i > 0 && a <= self.ends[i - 1]).then(|| &self.metas[i - 1])
    }
}

// ---------- A minimal MaxMind DB writer (format 2.0, IPv6 tree, 32-bit records) ----------

fn mmdb_ctrl(out: &mut Vec<u8>, ty: u8, size: usize) {
    let (first, ext) = if ty <= 7 { (ty << 5, None) } else { (0, Some(ty - 7)) };
    let push_size = |out: &mut Vec<u8>, low: u8, extra: &[u8]| {
        out.push(first | low);
        if let Some(e) = ext {
            out.push(e);
        }
        out.extend_from_slice(extra);
    };
    if size < 29 {
        push_size(out, size as u8, &[]);
    } else if size < 29 + 256 {
        push_size(out, 29, &[(size - 29) as u8]);
    } else if size < 285 + 65536 {
        push_size(out, 30, &((size - 285) as u16).to_be_bytes());
    } else {
        push_size(out, 31, &((size - 65821) as u32).to_be_bytes()[1..]);
    }
}

fn mmdb_str(out: &mut Vec<u8>, s: &str) {
    mmdb_ctrl(out, 2, s.len());
    out.extend_from_slice(s.as_bytes());
}

fn mmdb_uint(out: &mut Vec<u8>, ty: u8, v: u64) {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count();
    mmdb_ctrl(out, ty, 8 - skip);
    out.extend_from_slice(&bytes[skip..]);
}

/// Builds an .mmdb with one record {asn, country, pop} per range (all CIDR-aligned).
fn write_mmdb(ranges: &[Range]) -> Vec<u8> {
    const DATA: u32 = 1 << 31;
    let mut nodes: Vec<[u32; 2]> = vec![[0, 0]];
    let mut data = Vec::new();
    for r in ranges {
        let offset = data.len() as u32;
        mmdb_ctrl(&mut data, 7, 3);
        mmdb_str(&mut data, "asn");
        mmdb_uint(&mut data, 6, r.asn as u64);
        mmdb_str(&mut data, "country");
        mmdb_str(&mut data, r.country);
        mmdb_str(&mut data, "pop");
        mmdb_str(&mut data, r.pop);
        // IPv4 lives under ::/96 in an IPv6 tree.
        let bits = r.start as u128;
        let len = 96 + r.prefix;
        let mut node = 0usize;
        for depth in 0..len {
            let bit = ((bits >> (127 - depth)) & 1) as usize;
            if depth == len - 1 {
                nodes[node][bit] = DATA | offset;
                break;
            }
            let next = nodes[node][bit];
            assert!(next & DATA == 0, "overlapping prefixes");
            node = if next == 0 {
                nodes.push([0, 0]);
                let n = nodes.len() as u32 - 1;
                nodes[node][bit] = n;
                n as usize
            } else {
                next as usize
            };
        }
    }
    let node_count = nodes.len() as u32;
    let mut out = Vec::with_capacity(nodes.len() * 8 + data.len() + 256);
    for n in &nodes {
        for &rec in n {
            let v = if rec == 0 {
                node_count
            } else if rec & DATA != 0 {
                node_count + 16 + (rec & !DATA)
            } else {
                rec
            };
            out.extend_from_slice(&v.to_be_bytes());
        }
    }
    out.extend_from_slice(&[0u8; 16]);
    out.extend_from_slice(&data);
    out.extend_from_slice(b"\xab\xcd\xefMaxMind.com");
    let m = &mut out;
    mmdb_ctrl(m, 7, 9);
    mmdb_str(m, "binary_format_major_version");
    mmdb_uint(m, 5, 2);
    mmdb_str(m, "binary_format_minor_version");
    mmdb_uint(m, 5, 0);
    mmdb_str(m, "build_epoch");
    mmdb_uint(m, 9, 1_700_000_000);
    mmdb_str(m, "database_type");
    mmdb_str(m, "lmdns-bench");
    mmdb_str(m, "description");
    mmdb_ctrl(m, 7, 1);
    mmdb_str(m, "en");
    mmdb_str(m, "lmdns range bench");
    mmdb_str(m, "ip_version");
    mmdb_uint(m, 5, 6);
    mmdb_str(m, "languages");
    mmdb_ctrl(m, 11, 1);
    mmdb_str(m, "en");
    mmdb_str(m, "node_count");
    mmdb_uint(m, 6, node_count as u64);
    mmdb_str(m, "record_size");
    mmdb_uint(m, 5, 32);
    out
}

// ---------- LMDB side ----------

fn write_csv(path: &Path, ranges: &[Range], shuffle_seed: Option<u64>) {
    let mut order: Vec<usize> = (0..ranges.len()).collect();
    if let Some(seed) = shuffle_seed {
        let mut rng = Rng(seed);
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i as u64 + 1) as usize);
        }
    }
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(f, "start,end,country,asn,pop").unwrap();
    for &i in &order {
        let r = &ranges[i];
        writeln!(f, "{},{},{},{},{}", Ipv4Addr::from(r.start), Ipv4Addr::from(r.end), r.country, r.asn, r.pop).unwrap();
    }
}

fn import(store: &Store, table: &str, path: &Path) -> write::ImportReport {
    write::import(
        store,
        &ImportOptions {
            table: table.into(),
            file: path.into(),
            format: Format::Csv,
            locations: None,
            progress: false,
            allow_empty: false,
            inline_locations: false,
        },
    )
    .unwrap()
}

fn lookups(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db"), &OpenOptions { map_size: 4 << 30, read_only: false }).unwrap();
    for (n, label) in [(10_000usize, "10k"), (1_000_000, "1M")] {
        let began = Instant::now();
        let ranges = gen_ranges(n, 42 + n as u64);
        let (random, zipf) = workloads(&ranges, 7);
        let array = SortedArray::new(&ranges);
        let csv = dir.path().join(format!("{label}.csv"));
        write_csv(&csv, &ranges, Some(1));
        let t = Instant::now();
        let report = import(&store, label, &csv);
        let import_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let mmdb = write_mmdb(&ranges);
        let mmdb_s = t.elapsed().as_secs_f64();
        let reader = maxminddb::Reader::from_source(mmdb).unwrap();
        let table = RangeTable::open(&store, label).unwrap().unwrap();
        eprintln!(
            "setup {label}: {:.1}s total; LMDB import of {} unsorted CSV rows {:.2}s ({:.2}M rows/s); .mmdb written in {:.2}s",
            began.elapsed().as_secs_f64(),
            report.v4,
            import_s,
            report.v4 as f64 / import_s / 1e6,
            mmdb_s
        );
        // Cross-check the four implementations before timing them.
        {
            let rtxn = store.read_txn().unwrap();
            for ip in random.iter().chain(&zipf).take(20_000) {
                let a = array.lookup(*ip).map(|m| (m.country.clone(), m.asn));
                let l = table.lookup(&rtxn, *ip).unwrap().map(|h| {
                    let m: MetaRef = h.decode().unwrap();
                    (m.country.to_string(), m.asn)
                });
                let mm = reader.lookup::<MetaRef>(*ip).unwrap().map(|m| (m.country.to_string(), m.asn));
                assert_eq!(a, l, "{ip}");
                assert_eq!(a, mm, "{ip}");
            }
        }
        for (workload, addrs) in [("random", &random), ("zipf", &zipf)] {
            let mask = addrs.len() - 1;
            let mut g = c.benchmark_group(format!("lookup/{label}/{workload}"));
            g.throughput(Throughput::Elements(1));
            g.bench_function("sorted_array", |b| {
                let mut i = 0;
                b.iter(|| {
                    i = (i + 1) & mask;
                    black_box(array.lookup(addrs[i]));
                })
            });
            let rtxn = store.read_txn().unwrap();
            g.bench_function("lmdb_raw", |b| {
                let mut i = 0;
                b.iter(|| {
                    i = (i + 1) & mask;
                    black_box(table.lookup(&rtxn, addrs[i]).unwrap());
                })
            });
            g.bench_function("lmdb_raw_decode", |b| {
                let mut i = 0;
                b.iter(|| {
                    i = (i + 1) & mask;
                    black_box(table.lookup(&rtxn, addrs[i]).unwrap().map(|h| h.decode::<MetaRef>().unwrap()));
                })
            });
            g.bench_function("lmdb_raw_decode_owned", |b| {
                // What a cache fill parses: owned strings (two allocations, two frees).
                let mut i = 0;
                b.iter(|| {
                    i = (i + 1) & mask;
                    black_box(table.lookup(&rtxn, addrs[i]).unwrap().map(|h| h.decode::<MetaOwned>().unwrap()));
                })
            });
            g.bench_function("lmdb_cache", |b| {
                // 16k slots: a few thousand resolvers fit; uniform traffic mostly misses.
                let mut cache: RangeCache<Option<MetaOwned>> = RangeCache::new(1 << 14);
                let mut i = 0;
                b.iter(|| {
                    i = (i + 1) & mask;
                    black_box(cache.lookup(&table, &rtxn, addrs[i], |h| h.decode::<MetaOwned>().ok()).unwrap());
                })
            });
            drop(rtxn);
            g.bench_function("maxminddb_decode", |b| {
                let mut i = 0;
                b.iter(|| {
                    i = (i + 1) & mask;
                    black_box(reader.lookup::<MetaRef>(addrs[i]).unwrap());
                })
            });
            g.finish();
        }
    }
}

#[derive(Deserialize)]
struct CountryRef<'a> {
    country_iso_code: Option<&'a str>,
}

#[derive(Deserialize)]
struct MmIso<'a> {
    iso_code: Option<&'a str>,
}

#[derive(Deserialize)]
struct MmCountry<'a> {
    #[serde(borrow)]
    country: Option<MmIso<'a>>,
}

/// Country of an address on a GeoLite2-City-shaped table (generated, `lmdns_bench::geolite`; full
/// scale unless RANGES_CITY_SCALE=small): LMDB shared form vs maxminddb's `country.iso_code` on
/// the equivalent .mmdb, uniform IPv4 addresses over the covered span and Zipf(1) over 5000.
fn city(c: &mut Criterion) {
    use lmdns_bench::geolite::{Data, Scale};
    let scale = if std::env::var("RANGES_CITY_SCALE").as_deref() == Ok("small") { Scale::small() } else { Scale::full() };
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db"), &OpenOptions { map_size: 4 << 30, read_only: false }).unwrap();
    let t = Instant::now();
    let data = Data::generate(scale, 2018);
    let [blocks, locations] = data.write_csvs(dir.path()).unwrap();
    let t_import = Instant::now();
    let report = write::import(
        &store,
        &ImportOptions {
            table: "city".into(),
            file: blocks,
            format: Format::Maxmind,
            locations: Some(locations),
            progress: false,
            allow_empty: false,
            inline_locations: false,
        },
    )
    .unwrap();
    let import_s = t_import.elapsed().as_secs_f64();
    let mmdb = data.write_mmdb();
    let mmdb_len = mmdb.len();
    let reader = maxminddb::Reader::from_source(mmdb).unwrap();
    let table = RangeTable::open(&store, "city").unwrap().unwrap();
    let file_len = std::fs::metadata(dir.path().join("db").join("data.mdb")).unwrap().len();
    eprintln!(
        "city setup {:.1}s: {} + {} ranges imported in {import_s:.2}s ({:.2}M/s); data.mdb {file_len} bytes, .mmdb {mmdb_len} bytes ({:.2}x)",
        t.elapsed().as_secs_f64(),
        report.v4,
        report.v6,
        (report.v4 + report.v6) as f64 / import_s / 1e6,
        file_len as f64 / mmdb_len as f64
    );
    // Workloads over the IPv4 networks' span, as the other groups.
    let span: Vec<Range> = [data.v4[0], data.v4[data.v4.len() - 1]]
        .iter()
        .map(|n| Range { start: n.start, end: n.start + ((1u64 << (32 - n.prefix)) - 1) as u32, country: "", asn: 0, pop: "", prefix: 0 })
        .collect();
    let (random, zipf) = workloads(&span, 9);
    // 40,000 probes: LMDB and maxminddb agree with each other and with the generator.
    {
        let rtxn = store.read_txn().unwrap();
        let starts: Vec<u32> = data.v4.iter().map(|n| n.start).collect();
        let mut found = 0;
        let mut schemas = SchemaCache::new();
        for ip in random.iter().chain(&zipf).take(40_000) {
            let IpAddr::V4(a) = ip else { unreachable!() };
            let a = u32::from(*a);
            let i = starts.partition_point(|&s| s <= a);
            let want = (i > 0 && (a as u64) < data.v4[i - 1].start as u64 + (1u64 << (32 - data.v4[i - 1].prefix)))
                .then(|| data.country_code(data.v4[i - 1].variant).to_string());
            let hit = table.lookup(&rtxn, *ip).unwrap();
            let lmdb = hit.and_then(|h| h.member("country_iso_code").map(|v| String::from_utf8_lossy(&v[1..v.len() - 1]).into_owned()));
            let decoded = hit.and_then(|h| h.decode::<CountryRef>().unwrap().country_iso_code.map(str::to_string));
            let with_schemas = table
                .lookup_with(&mut schemas, &rtxn, *ip)
                .unwrap()
                .and_then(|h| h.member("country_iso_code").map(|v| String::from_utf8_lossy(&v[1..v.len() - 1]).into_owned()));
            assert_eq!(with_schemas, want, "{ip}: with the schema cache");
            let mm = reader.lookup::<MmCountry>(*ip).unwrap().and_then(|m| m.country).and_then(|c| c.iso_code).map(str::to_string);
            assert_eq!(lmdb, want, "{ip}");
            assert_eq!(decoded, want, "{ip}");
            assert_eq!(mm, want, "{ip}");
            found += want.is_some() as usize;
        }
        eprintln!("city: 40000 probes agree (LMDB member, with schema cache, decode, maxminddb, generator); {found} in a network");
    }
    for (workload, addrs) in [("random", &random), ("zipf", &zipf)] {
        let mask = addrs.len() - 1;
        let mut g = c.benchmark_group(format!("city/{workload}"));
        g.throughput(Throughput::Elements(1));
        let rtxn = store.read_txn().unwrap();
        g.bench_function("lmdb_country_member", |b| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) & mask;
                black_box(table.lookup(&rtxn, addrs[i]).unwrap().and_then(|h| h.member("country_iso_code")));
            })
        });
        g.bench_function("lmdb_country_member_schemas", |b| {
            let mut schemas = SchemaCache::new();
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) & mask;
                black_box(table.lookup_with(&mut schemas, &rtxn, addrs[i]).unwrap().and_then(|h| h.member("country_iso_code")));
            })
        });
        g.bench_function("lmdb_country_decode", |b| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) & mask;
                black_box(table.lookup(&rtxn, addrs[i]).unwrap().map(|h| h.decode::<CountryRef>().unwrap().country_iso_code));
            })
        });
        g.bench_function("lmdb_cache_country", |b| {
            let mut cache: RangeCache<Option<[u8; 2]>> = RangeCache::new(1 << 14);
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) & mask;
                black_box(
                    cache
                        .lookup(&table, &rtxn, addrs[i], |h| {
                            h.member("country_iso_code").and_then(|v| v.get(1..3)).and_then(|c| c.try_into().ok())
                        })
                        .unwrap(),
                );
            })
        });
        drop(rtxn);
        g.bench_function("maxminddb_country", |b| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) & mask;
                black_box(reader.lookup::<MmCountry>(addrs[i]).unwrap().and_then(|m| m.country).and_then(|c| c.iso_code));
            })
        });
        g.finish();
    }
}

fn import_throughput(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db"), &OpenOptions { map_size: 4 << 30, read_only: false }).unwrap();
    let n = 500_000;
    let ranges = gen_ranges(n, 99);
    let csv = dir.path().join("imp.csv");
    write_csv(&csv, &ranges, Some(3));
    let mut g = c.benchmark_group("import");
    g.sample_size(10).throughput(Throughput::Elements(n as u64));
    g.bench_function(BenchmarkId::new("csv_unsorted", "500k"), |b| b.iter(|| import(&store, "imp", &csv)));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(20);
    targets = lookups, city, import_throughput
}
criterion_main!(benches);
