//! The fuzz harnesses on stable Rust, as CI runs them: every seed in `fixtures/fuzz/<harness>/`
//! must be accepted, or refused for `reject-*` seeds (so the seeds still reach the code they were
//! written for), then a bounded
//! number of deterministic mutations of them must all return without a panic. The long runs
//! (libFuzzer, coverage-guided, an hour per target) are `fuzz/run-long.sh`.
//!
//! Bounds: `LMDNS_FUZZ_ITERATIONS` inputs per harness (default 20,000) and `LMDNS_FUZZ_SECONDS`
//! (default 15), whichever ends first; `LMDNS_FUZZ_SEED` picks another mutation sequence. A
//! panicking input is written to `target/fuzz-smoke/<harness>-<n>` and named in the failure, so
//! it can be replayed with the cargo-fuzz target of the same name.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lmdns_fuzzcheck::HARNESSES;

/// xorshift64*: deterministic, so a failure found in CI is found again locally.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Byte strings the parsers give meaning to, so mutations reach past the first token.
const TOKENS: &[&[u8]] = &[
    b"$ORIGIN ",
    b"$TTL ",
    b"$INCLUDE ",
    b"$GENERATE ",
    b"(",
    b")",
    b";",
    b"\\",
    b"\"",
    b"\\# ",
    b"@",
    b"*.",
    b" IN ",
    b" CH ",
    b"TYPE65535 ",
    b"CLASS3 ",
    b" SOA ",
    b" NS ",
    b" CNAME ",
    b" DNAME ",
    b" SVCB 1 . ",
    b"key65535=",
    b"alpn=",
    b"mandatory=",
    b" NSEC3 ",
    b" RRSIG A 13 2 300 ",
    b"\n",
    b"\t",
    b"\r\n",
    b"\xc0\x0c",
    b"\xc0\x00",
    b"\x3f",
    b"\x00\x29",
    b"\x00\x0a\x00\x08",
    b"\x00\x08\x00\x07",
    b"\xff\xff",
    b"\"op\":",
    b"\"when\":{",
    b"{",
    b"}",
    b",",
    b"::",
    b"/",
    b"0.0.0.0",
    b"255.255.255.255",
    b"::ffff:",
    b"4294967295",
    b"-1",
    b"1e9",
];

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>], input: &mut Vec<u8>) {
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        let len = input.len();
        match rng.below(9) {
            0 if len > 0 => {
                let at = rng.below(len);
                input[at] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let at = rng.below(len);
                input[at] = [0x00, 0xff, 0x7f, 0x80, 0x01, 0x3f, 0xc0][rng.below(7)];
            }
            2 => {
                let at = rng.below(len + 1);
                input.insert(at, rng.next() as u8);
            }
            3 if len > 0 => {
                let at = rng.below(len);
                let n = 1 + rng.below((len - at).min(16));
                input.drain(at..at + n);
            }
            4 if len > 0 => {
                let at = rng.below(len);
                let n = 1 + rng.below((len - at).min(32));
                let chunk = input[at..at + n].to_vec();
                let to = rng.below(input.len() + 1);
                input.splice(to..to, chunk);
            }
            5 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                let at = rng.below(len + 1);
                input.splice(at..at, token.iter().copied());
            }
            6 => {
                let other = &seeds[rng.below(seeds.len())];
                if !other.is_empty() {
                    let from = rng.below(other.len());
                    let at = rng.below(len + 1);
                    input.truncate(at);
                    input.extend_from_slice(&other[from..]);
                }
            }
            7 => input.truncate(rng.below(len + 1)),
            _ if len >= 2 => {
                // A 16-bit field (length, count, type) set to an edge value.
                let at = rng.below(len - 1);
                let value: u16 = [0, 1, 0x7fff, 0x8000, 0xffff, 512, 4096][rng.below(7)];
                input[at..at + 2].copy_from_slice(&value.to_be_bytes());
            }
            _ => input.push(rng.next() as u8),
        }
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn seeds(harness: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/fuzz").join(harness);
    let mut seeds: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "{} holds no seeds", dir.display());
    seeds
}

fn run(harness: &str) {
    let body = HARNESSES.iter().find(|(name, _)| *name == harness).unwrap().1;
    let seeds = seeds(harness);
    for (path, bytes) in &seeds {
        // `reject-*` seeds are inputs the parser must turn down (a pointer loop, say).
        let reject = path.file_name().unwrap().to_string_lossy().starts_with("reject-");
        let accepted = body(bytes);
        assert!(
            accepted != reject,
            "seed {} is {} by the {harness} harness: it no longer reaches the code it was written for",
            path.display(),
            if reject { "accepted" } else { "refused" }
        );
    }
    let pool: Vec<Vec<u8>> = seeds.into_iter().map(|(_, bytes)| bytes).collect();
    let iterations = env_number("LMDNS_FUZZ_ITERATIONS", 20_000);
    let budget = Duration::from_secs(env_number("LMDNS_FUZZ_SECONDS", 15));
    let mut rng = Rng(env_number("LMDNS_FUZZ_SEED", 0x5eed_1d45) | 1);
    let started = Instant::now();
    let mut ran = 0u64;
    while ran < iterations && started.elapsed() < budget {
        let mut input = pool[rng.below(pool.len())].clone();
        mutate(&mut rng, &pool, &mut input);
        if catch_unwind(AssertUnwindSafe(|| body(&input))).is_err() {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fuzz-smoke");
            std::fs::create_dir_all(&dir).unwrap();
            let saved = dir.join(format!("{harness}-{ran}"));
            std::fs::write(&saved, &input).unwrap();
            panic!("the {harness} harness panicked on input {ran}, saved as {} ({} bytes)", saved.display(), input.len());
        }
        ran += 1;
    }
    eprintln!("{harness}: {} seeds and {ran} mutations in {:.1?}, no panic", pool.len(), started.elapsed());
    assert!(ran > 0, "no mutation ran within the budget");
}

#[test]
fn query_packets() {
    run("query");
}

#[test]
fn zone_files() {
    run("zone_file");
}

#[test]
fn transfer_and_notify_messages() {
    run("message");
}

#[test]
fn update_messages() {
    run("update");
}

#[test]
fn changeset_lines() {
    run("changeset");
}

#[test]
fn range_files() {
    run("ranges");
}

#[test]
fn every_harness_has_a_test_and_seeds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/fuzz");
    for (name, _) in HARNESSES {
        assert!(dir.join(name).is_dir(), "fixtures/fuzz/{name} is missing");
    }
    let source = include_str!("smoke.rs");
    for (name, _) in HARNESSES {
        assert!(source.contains(&format!("run(\"{name}\")")), "no smoke test runs the {name} harness");
    }
}
