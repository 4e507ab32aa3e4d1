//! Reading a query: header, question name (into its lookup key) and the OPT record. Every
//! answered packet pays this before any lookup, so it is measured on its own.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lmdns_server::query::{parse, QueryName};

/// A query as a resolver sends it: `name` of type A, with an EDNS OPT record (1232 bytes).
fn query(name: &str) -> Vec<u8> {
    let mut p = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1];
    for label in name.trim_end_matches('.').split('.') {
        p.push(label.len() as u8);
        p.extend_from_slice(label.as_bytes());
    }
    p.extend_from_slice(&[0, 0, 1, 0, 1]);
    p.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
    p
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(1));
    for (label, name) in [
        ("short", "www.example.com."),
        ("hostname", "mail.customer000806-a15b.example."),
        ("long", "a-rather-long-label.and-another-one.deep.below.customer000806-a15b.example."),
    ] {
        let packet = query(name);
        let mut qname = QueryName::default();
        assert!(parse(&packet, &mut qname).is_ok(), "{label}: the bench query must parse");
        g.bench_function(label, |b| b.iter(|| black_box(parse(black_box(&packet), &mut qname)).is_ok()));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
