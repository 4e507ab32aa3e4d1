//! Signed answers in process, query bytes → response bytes (issue 15's in-process numbers).
//!
//! One zone of `LMDNS_BENCH_NAMES` (default 10,000) hosts plus a wildcard, signed in the bench
//! by `ldns-signzone` (ECDSA P-256, throw-away keys) twice — NSEC3 (0 iterations, no salt, RFC
//! 9276) and NSEC — and imported with the loader. Per query, with the answer cache off so every
//! query walks LMDB:
//! * `dnssec/{nsec3,nsec}/a_hit_do0`: the A of a host without DO (the unsigned-path baseline);
//! * `.../a_hit_do1`: the same with DO=1 (the A RRset and its RRSIG);
//! * `.../nxdomain_do1`: an absent name with DO=1 (SOA, RRSIG and the denial proof: three NSEC3
//!   with their RRSIGs, hashing three names; or two NSEC);
//! * `.../wildcard_do1`: a wildcard answer with DO=1 (RRSIG and the no-closer-match proof).

use std::hint::black_box;
use std::path::Path;
use std::process::Command;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hickory_proto::op::{Message, ResponseCode};
use lmdb_schema::{OpenOptions, Store};
use lmdns_bench::run_batches;
use lmdns_server::engine::{AnswerConfig, Engine};

const ZONE: &str = "signed.bench";

/// A benchmarked path: its name, the question for query `i`, DO, the RCODE and the least
/// authority records its answer has.
type Case = (&'static str, Box<dyn Fn(usize) -> (String, u16)>, bool, ResponseCode, usize);

fn names() -> usize {
    std::env::var("LMDNS_BENCH_NAMES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000)
}

/// Writes the zone, signs it with `options`, imports it; returns the engine on it.
fn signed_engine(dir: &Path, options: &[&str]) -> Engine {
    let mut text =
        format!("$ORIGIN {ZONE}.\n$TTL 3600\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\n*.wild TXT \"w\"\n");
    for i in 0..names() {
        text.push_str(&format!("h{i} A 192.0.{}.{}\n", (i / 250) % 250, i % 250 + 1));
    }
    let unsigned = dir.join("zone");
    std::fs::write(&unsigned, text).unwrap();
    let keygen = |extra: &[&str]| {
        let out = Command::new("ldns-keygen").args(["-a", "ECDSAP256SHA256"]).args(extra).arg(ZONE).current_dir(dir).output();
        let out = out.expect("ldns-keygen (apt-get install -y ldnsutils)");
        assert!(out.status.success(), "ldns-keygen: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let (ksk, zsk) = (keygen(&["-k"]), keygen(&[]));
    let signed = dir.join("zone.signed");
    let out = Command::new("ldns-signzone")
        .args(["-i", "20260101000000", "-e", "20371231000000", "-o", ZONE, "-f"])
        .arg(&signed)
        .args(options)
        .arg(&unsigned)
        .args([&ksk, &zsk])
        .current_dir(dir)
        .output()
        .expect("ldns-signzone");
    assert!(out.status.success(), "ldns-signzone: {}", String::from_utf8_lossy(&out.stderr));
    let db = dir.join("db");
    let args: Vec<std::ffi::OsString> =
        vec!["--db".into(), db.clone().into(), "zone".into(), "import".into(), "--origin".into(), ZONE.into(), signed.into()];
    lmdns_loader::cli::run_args(args).expect("import");
    let store = Store::open(&db, &OpenOptions { map_size: 1 << 30, read_only: true }).unwrap();
    // The answer cache is off whatever LMDNS_BENCH_ANSWER_CACHE says; LMDNS_BENCH_NAME_CACHE applies.
    Engine::new(store, AnswerConfig { answer_cache_slots: 0, ..lmdns_bench::config_from_env(1) })
}

/// A query with EDNS (1232 bytes), DO set when `dnssec_ok`.
fn query(id: u16, name: &str, qtype: u16, dnssec_ok: bool) -> Vec<u8> {
    let mut q = lmdns_bench::query(id, name, qtype);
    let flags_at = q.len() - 4;
    q[flags_at] = if dnssec_ok { 0x80 } else { 0 };
    q
}

fn dnssec(c: &mut Criterion) {
    for (label, options) in [("nsec3", &["-n", "-t", "0"][..]), ("nsec", &[][..])] {
        let dir = tempfile::tempdir().unwrap();
        let engine = signed_engine(dir.path(), options);
        let n = names();
        let kinds: [Case; 4] = [
            ("a_hit_do0", Box::new(move |i| (format!("h{}.{ZONE}", i % n), 1)), false, ResponseCode::NoError, 0),
            ("a_hit_do1", Box::new(move |i| (format!("h{}.{ZONE}", i % n), 1)), true, ResponseCode::NoError, 0),
            ("nxdomain_do1", Box::new(|i| (format!("nope{i}.{ZONE}"), 1)), true, ResponseCode::NXDomain, 4),
            ("wildcard_do1", Box::new(|i| (format!("q{i}.wild.{ZONE}"), 16)), true, ResponseCode::NoError, 2),
        ];
        let mut g = c.benchmark_group(format!("dnssec/{label}"));
        g.throughput(Throughput::Elements(1));
        for (kind, question, dnssec_ok, rcode, min_authority) in kinds {
            let qs: Vec<Vec<u8>> = (0..4096)
                .map(|i| {
                    let (name, qtype) = question(i * 7919);
                    query(i as u16, &name, qtype, dnssec_ok)
                })
                .collect();
            // The path is the one named: right rcode, signatures present with DO, a proof in authority.
            let txn = engine.read_txn().unwrap();
            let mut out = Vec::new();
            assert!(engine.answer(&txn, &mut engine.scratch(), &qs[1], &lmdns_bench::client(), &mut out));
            let m = Message::from_vec(&out).expect("response decodes");
            assert_eq!(m.metadata.response_code, rcode, "{label}/{kind}: {m:?}");
            let signed = m.answers.iter().chain(&m.authorities).any(|r| r.record_type() == hickory_proto::rr::RecordType::RRSIG);
            assert_eq!(signed, dnssec_ok, "{label}/{kind}: RRSIGs {m:?}");
            assert!(m.authorities.len() >= min_authority, "{label}/{kind}: authority {m:?}");
            drop(txn);
            g.bench_function(kind, |b| {
                let mut scratch = engine.scratch();
                let mut out = Vec::with_capacity(4096);
                b.iter_custom(|iters| {
                    let t = std::time::Instant::now();
                    black_box(run_batches(&engine, &mut scratch, &mut out, &qs, iters));
                    t.elapsed()
                });
            });
        }
        g.finish();
    }
}

criterion_group!(benches, dnssec);
criterion_main!(benches);
