//! The per-worker "top zones" table (`ops::metrics::SpaceSaving`), which every answered query
//! passes through: `zone_counts/hit/{8,1000}_zones` counts one query for a zone drawn uniformly
//! from 8 zones (all tracked) or 1,000 (most queries miss the 64-entry table, as on a hosting
//! server).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lmdns_server::ops::metrics::SpaceSaving;

fn zone_keys(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| format!("\0example\0customer{i:06}-{:04x}\0", i * 7919 % 65536).into_bytes()).collect()
}

fn hit(c: &mut Criterion) {
    let mut g = c.benchmark_group("zone_counts/hit");
    g.throughput(Throughput::Elements(1));
    for zones in [8usize, 1000] {
        let keys = zone_keys(zones);
        // A fixed pseudo-random sequence of zones, so every run sees the same stream.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let order: Vec<usize> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % zones as u64) as usize
            })
            .collect();
        let mut table = SpaceSaving::new();
        let mut i = 0;
        g.bench_function(format!("{zones}_zones"), |b| {
            b.iter(|| {
                table.hit(black_box(&keys[order[i & 4095]]));
                i += 1;
            })
        });
    }
    g.finish();
}

criterion_group!(benches, hit);
criterion_main!(benches);
