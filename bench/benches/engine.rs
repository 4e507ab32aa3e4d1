//! The answer engine in process, query bytes → response bytes, no sockets.
//!
//! * `engine/{1k,100k}/{a_hit,cname_chain,wildcard,nxdomain,referral}`: time per query, with one
//!   the batch's read transaction taken per 64 queries (kept while nothing commits, as a UDP
//!   worker does), queries spread over all zones. Target: a_hit ≤ 300 ns.
//! * `scaling/{1k,100k}/threads/{1,2}`: N threads, each pinned to its own CPU, sharing the Env,
//!   each with its own (warmed) Scratch and the batch's read txn per 64, all running the A-hit mix.
//!   Throughput is reported in queries/s summed over threads; target: 2 threads ≥ 1.8 × 1 thread.
//!   `scaling/control_compute` and `scaling/control_memory` run the same harness on work that
//!   shares nothing (register arithmetic; random reads of a private 64 MiB array): what they
//!   scale by is the machine's ceiling, not the engine's.
//! * `import/zone_files`: the `zone import-dir` path (read_zone + replace_zone in one write txn)
//!   on hosting-style zone files, records/s.
//!
//! Zone counts: `LMDNS_BENCH_ZONES=1000,100000` (default) — set e.g. `1000` for a quick run.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hickory_proto::op::{Message, ResponseCode};
use lmdns_bench::{queries, run_batches, Fixture, Kind, BATCH};

fn zone_counts() -> Vec<usize> {
    std::env::var("LMDNS_BENCH_ZONES")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 100_000])
}

#[allow(clippy::manual_is_multiple_of)] // is_multiple_of is newer than the workspace MSRV (1.85)
fn label(zones: usize) -> String {
    if zones >= 1000 && zones % 1000 == 0 {
        format!("{}k", zones / 1000)
    } else {
        zones.to_string()
    }
}

/// Fails loudly if a query kind does not take the path it is named after, so the bench never
/// silently measures REFUSED or FORMERR.
fn check(f: &Fixture, kind: Kind, q: &[u8]) {
    let txn = f.engine.read_txn().unwrap();
    let mut out = Vec::new();
    assert!(f.engine.answer(&txn, &mut f.engine.scratch(), q, &lmdns_bench::client(), &mut out));
    let m = Message::from_vec(&out).expect("response decodes");
    let (rcode, aa, an, ns) = (m.metadata.response_code, m.metadata.authoritative, m.answers.len(), m.authorities.len());
    let ok = match kind {
        Kind::AHit | Kind::Wildcard => rcode == ResponseCode::NoError && aa && an == 1,
        Kind::CnameChain => rcode == ResponseCode::NoError && aa && an == 3,
        Kind::Nxdomain => rcode == ResponseCode::NXDomain && aa && an == 0 && ns == 1,
        Kind::Referral => rcode == ResponseCode::NoError && !aa && an == 0 && ns == 1 && !m.additionals.is_empty(),
    };
    assert!(ok, "{kind:?}: unexpected response {m:?}");
}

fn engine(c: &mut Criterion) {
    for zones in zone_counts() {
        let t = Instant::now();
        let f = Fixture::new(zones);
        eprintln!("built {zones} zones in {:.1} s", t.elapsed().as_secs_f64());
        let mut g = c.benchmark_group(format!("engine/{}", label(zones)));
        g.throughput(Throughput::Elements(1));
        for kind in Kind::ALL {
            let qs = queries(kind, zones, 4096);
            check(&f, kind, &qs[0]);
            let mut scratch = f.engine.scratch();
            let mut out = Vec::with_capacity(1232);
            g.bench_function(kind.label(), |b| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    black_box(run_batches(&f.engine, &mut scratch, &mut out, &qs, iters));
                    start.elapsed()
                })
            });
        }
        g.finish();

        let qs = queries(Kind::AHit, zones, 4096);
        scaling(c, &format!("scaling/{}", label(zones)), &|t| {
            // Each thread starts at a different point of the mix, with its own scratch, warmed
            // (answer cache, buffers) before the timed span.
            let cut = t * 997 % qs.len();
            let rot: Vec<Vec<u8>> = qs[cut..].iter().chain(&qs[..cut]).cloned().collect();
            let mut scratch = f.engine.scratch();
            let mut out = Vec::with_capacity(1232);
            run_batches(&f.engine, &mut scratch, &mut out, &rot, rot.len() as u64 * 2);
            let engine = &f.engine;
            Box::new(move |iters| run_batches(engine, &mut scratch, &mut out, &rot, iters))
        });
    }
    // Controls: the same harness with work that shares nothing at all, to tell the machine's
    // own scaling (vCPUs that are SMT siblings or share a busy host) from the engine's.
    scaling(c, "scaling/control_compute", &|t| {
        // ~100-300 ns of register-only arithmetic per "query".
        let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ t as u64;
        Box::new(move |iters| {
            let mut acc = 0usize;
            for _ in 0..iters {
                for _ in 0..64 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                }
                acc = acc.wrapping_add(x as usize);
            }
            acc
        })
    });
    // Eight dependent random reads per "query" over a private 64 MiB array per thread: cache and
    // memory traffic like a B-tree descent in a map larger than the caches, but nothing shared.
    // Each array is one cycle (Sattolo's shuffle), so the walk never settles in a short loop.
    let arrays: Vec<Vec<u32>> = (0..2u64)
        .map(|t| {
            let words = 16 << 20;
            let mut next: Vec<u32> = (0..words as u32).collect();
            let mut x = 0x2545_F491_4F6C_DD1Du64 ^ t;
            for i in (1..words).rev() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                next.swap(i, (x % i as u64) as usize);
            }
            next
        })
        .collect();
    scaling(c, "scaling/control_memory", &|t| {
        let next = &arrays[t];
        let mut at = 0u32;
        Box::new(move |iters| {
            for _ in 0..iters * 8 {
                at = next[at as usize];
            }
            at as usize
        })
    });
}

/// A worker of a scaling run: answers `iters` "queries", returns something derived from them.
type Work<'a> = Box<dyn FnMut(u64) -> usize + 'a>;

/// Benches `group/threads/{1,2}`: `make(t)` (run on thread t, pinned to the t-th allowed CPU,
/// before the timed span) builds the thread's work. Throughput is queries/s summed over threads;
/// the target is 2 threads >= 1.8 x 1 thread.
fn scaling<'a>(c: &mut Criterion, group: &str, make: &(dyn Fn(usize) -> Work<'a> + Sync)) {
    let cpus = lmdns_server::transport::udp::allowed_cpus();
    let mut g = c.benchmark_group(group);
    for threads in [1usize, 2] {
        g.throughput(Throughput::Elements(threads as u64));
        g.bench_with_input(BenchmarkId::new("threads", threads), &threads, |b, &threads| {
            b.iter_custom(|iters| {
                // Whole batches per thread, so every thread does the same work.
                let iters = iters.div_ceil(BATCH as u64) * BATCH as u64;
                // The sample spans the first thread's start to the last thread's end, timed by
                // the workers themselves (the main thread only waits, so its own scheduling on
                // a 2-core machine cannot skew the clock; threads that did not overlap show as
                // no speed-up). Each thread is pinned to its own CPU, as `--pin` does.
                let barrier = std::sync::Barrier::new(threads);
                std::thread::scope(|s| {
                    let handles: Vec<_> = (0..threads)
                        .map(|t| {
                            let (barrier, cpus) = (&barrier, &cpus);
                            s.spawn(move || {
                                if let Some(&cpu) = cpus.get(t) {
                                    let _ = lmdns_server::transport::udp::pin_current_thread(cpu);
                                }
                                let mut work = make(t);
                                barrier.wait();
                                let start = Instant::now();
                                black_box(work(iters));
                                (start, Instant::now())
                            })
                        })
                        .collect();
                    let spans: Vec<(Instant, Instant)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
                    let first = spans.iter().map(|s| s.0).min().unwrap();
                    spans.iter().map(|s| s.1).max().unwrap() - first
                })
            })
        });
    }
    g.finish();
}

fn import(c: &mut Criterion) {
    let zones: usize = std::env::var("LMDNS_BENCH_IMPORT_ZONES").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let dir = tempfile::tempdir().unwrap();
    let zdir = dir.path().join("zones");
    let status = std::process::Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/gen_zones.py"))
        .arg(&zdir)
        .args(["--zones", &zones.to_string(), "--no-queries"])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("python3 runs gen_zones.py");
    assert!(status.success());
    let mut files: Vec<_> = std::fs::read_dir(&zdir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let records: u64 = files.iter().map(|p| lmdns_loader::commands::zone::read_zone(p, None, false).unwrap().tree.record_count()).sum();
    let mut g = c.benchmark_group("import");
    g.throughput(Throughput::Elements(records));
    g.sample_size(10);
    g.bench_function(format!("zone_files/{zones}_zones_{records}_records"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let db = tempfile::tempdir().unwrap();
                let store = lmdb_schema::Store::open(db.path(), &lmdb_schema::OpenOptions { map_size: 1 << 30, read_only: false }).unwrap();
                let start = Instant::now();
                let mut txn = store.write_txn().unwrap();
                for p in &files {
                    let zone = lmdns_loader::commands::zone::read_zone(p, None, false).unwrap();
                    lmdns_loader::zones::replace_zone(&store, &mut txn, zone.tree, zone.policy).unwrap();
                }
                txn.commit().unwrap();
                total += start.elapsed();
            }
            total
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = engine, import
}
criterion_main!(benches);
