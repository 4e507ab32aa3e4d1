//! What client metadata costs per answer: a geo-selected answer (the client's range looked up,
//! the zone's policy applied, a variant chosen) against a plain answer from the same zone, at 1M
//! IPv4 ranges, with clients drawn Zipf(s=1) from 5000 resolver addresses (real traffic comes
//! from a few thousand resolvers, heavily skewed). The answer cache is off for both, so the
//! difference is the selection itself. Issue target: geo ≤ 1.2 × plain. A third case selects
//! among 250 variants (one per country) to show the section index keeps that a binary search.
//!
//! `LMDNS_BENCH_RANGES=1000000` (default) sets the table size.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lmdb_schema::zone::GeoPolicy;
use lmdb_schema::{OpenOptions, Store};
use lmdns_bench::{query, wire, BATCH};
use lmdns_loader::zones::{replace_zone, Rr, ZoneTree};
use lmdns_server::engine::{AnswerConfig, Client, Engine, Transport};

const COUNTRIES: [&str; 8] = ["DE", "FR", "NL", "US", "BR", "JP", "AU", "ZA"];

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn rr(owner: &str, rtype: u16, rdata: Vec<u8>, when: &str) -> Rr {
    Rr { owner: wire(owner), ttl: 300, rtype, rdata, condition: when.as_bytes().to_vec() }
}

/// A zone with `www` answered per country (and a default) and `plain` answered alike for all.
fn zone() -> ZoneTree {
    let mut soa = wire("ns1.geo.example.");
    soa.extend(wire("hostmaster.geo.example."));
    for v in [1u32, 7200, 3600, 1209600, 300] {
        soa.extend_from_slice(&v.to_be_bytes());
    }
    let mut records = vec![
        rr("geo.example.", 6, soa, ""),
        rr("geo.example.", 2, wire("ns1.geo.example."), ""),
        rr("ns1.geo.example.", 1, vec![192, 0, 2, 53], ""),
        rr("www.geo.example.", 1, vec![192, 0, 2, 1], ""),
        rr("plain.geo.example.", 1, vec![192, 0, 2, 2], ""),
    ];
    for (i, c) in COUNTRIES.iter().enumerate() {
        records.push(rr("www.geo.example.", 1, vec![198, 51, 100, i as u8], &format!("country={c}")));
    }
    // A name answered per country for 250 countries (the clients' 8 among them), as a
    // country-level policy is in practice: selection must not scan the variants.
    records.push(rr("wide.geo.example.", 1, vec![192, 0, 2, 3], ""));
    for i in 0..250u32 {
        let code = if (i as usize) < COUNTRIES.len() { COUNTRIES[i as usize].to_string() } else { format!("X{i:03}") };
        records.push(rr("wide.geo.example.", 1, vec![203, 0, (i >> 8) as u8, i as u8], &format!("country={code}")));
    }
    let mut tree = ZoneTree::new(&wire("geo.example.")).unwrap();
    for r in &records {
        tree.insert(r).unwrap();
    }
    tree
}

/// `n` non-overlapping IPv4 ranges of 1–4096 addresses with gaps, as CSV.
fn ranges_csv(path: &std::path::Path, n: usize) -> Vec<(u32, u32)> {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut csv = String::from("start,end,country,asn\n");
    let mut ranges = Vec::with_capacity(n);
    let mut at: u32 = 1 << 24;
    for _ in 0..n {
        let len = 1 + (rng.next() % 4096) as u32;
        let (start, end) = (at, at + len - 1);
        let country = COUNTRIES[(rng.next() % COUNTRIES.len() as u64) as usize];
        csv.push_str(&format!("{},{},{country},{}\n", Ipv4Addr::from(start), Ipv4Addr::from(end), 64512 + rng.next() % 1000));
        ranges.push((start, end));
        at = end + 1 + (rng.next() % 64) as u32;
    }
    std::fs::write(path, csv).unwrap();
    ranges
}

fn geo(c: &mut Criterion) {
    let n: usize = std::env::var("LMDNS_BENCH_RANGES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let csv = dir.path().join("ranges.csv");
    let t = Instant::now();
    let ranges = ranges_csv(&csv, n);
    let store = Store::open(&db, &OpenOptions { map_size: 4 << 30, read_only: false }).unwrap();
    let code = lmdns_loader::cli::run_args([
        "--db",
        db.to_str().unwrap(),
        "--map-size",
        "4G",
        "ranges",
        "import",
        "--table",
        "geo",
        csv.to_str().unwrap(),
    ])
    .unwrap();
    assert_eq!(code, std::process::ExitCode::SUCCESS);
    let mut txn = store.write_txn().unwrap();
    let policy = GeoPolicy { table: "geo".into(), keys: vec!["country".into()], whoami: vec![] };
    replace_zone(&store, &mut txn, zone(), Some(policy)).unwrap();
    txn.commit().unwrap();
    eprintln!("{n} ranges ready in {:.1} s", t.elapsed().as_secs_f64());

    let engine = Engine::new(store, AnswerConfig { answer_cache_slots: 0, ..lmdns_bench::config_from_env(1) });
    // 5000 resolvers inside the ranges, drawn Zipf(s=1).
    let mut rng = XorShift(42);
    let resolvers: Vec<IpAddr> = (0..5000)
        .map(|_| {
            let (s, e) = ranges[(rng.next() % ranges.len() as u64) as usize];
            IpAddr::V4(Ipv4Addr::from(s + (rng.next() % u64::from(e - s + 1)) as u32))
        })
        .collect();
    let harmonic: f64 = (1..=resolvers.len()).map(|k| 1.0 / k as f64).sum();
    let clients: Vec<Client> = (0..1 << 16)
        .map(|_| {
            let mut u = (rng.next() >> 11) as f64 / (1u64 << 53) as f64 * harmonic;
            let mut k = 0;
            while k + 1 < resolvers.len() && u > 1.0 / (k + 1) as f64 {
                u -= 1.0 / (k + 1) as f64;
                k += 1;
            }
            Client { addr: SocketAddr::new(resolvers[k], 40000), transport: Transport::Udp }
        })
        .collect();

    let mut g = c.benchmark_group(format!("geo/{}k_ranges_zipf", n / 1000));
    g.throughput(Throughput::Elements(1));
    for (label, name) in
        [("plain", "plain.geo.example."), ("geo_selected", "www.geo.example."), ("geo_selected_250_variants", "wide.geo.example.")]
    {
        let q = query(1, name, 1);
        let mut scratch = engine.scratch();
        let mut out = Vec::with_capacity(512);
        {
            // The selected answer really differs by client, or the bench measures nothing.
            let txn = engine.read_txn().unwrap();
            let answers: std::collections::BTreeSet<Vec<u8>> = clients[..200]
                .iter()
                .map(|cl| {
                    assert!(engine.answer(&txn, &mut scratch, &q, cl, &mut out));
                    // The A RDATA sits just before the 11-byte OPT record.
                    out[out.len() - 15..out.len() - 11].to_vec()
                })
                .collect();
            assert_eq!(answers.len() > 1, label != "plain", "{label}: {} distinct answers", answers.len());
        }
        g.bench_function(label, |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                let mut done = 0u64;
                let mut i = 0usize;
                let mut held = lmdb_schema::readers::HeldReadTxn::default();
                while done < iters {
                    let txn = engine.batch_txn(&mut held).unwrap();
                    for _ in 0..(iters - done).min(BATCH as u64) {
                        black_box(engine.answer(txn, &mut scratch, &q, &clients[i & 0xFFFF], &mut out));
                        i += 1;
                        done += 1;
                    }
                }
                start.elapsed()
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = geo
}
criterion_main!(benches);
