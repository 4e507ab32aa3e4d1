//! The answer cache's own cost per query: building the key and hashing it (every cacheable
//! query pays this, hit or miss), and a whole hit (key, slot check, copy of the response). The
//! key of `www.example.com. A` with EDNS is 28 bytes, the size the hash was chosen for. The hit
//! includes the check that the cache is in step with the read transaction and the slot's zone
//! unchanged (see the cache's module comment), as a worker pays it per query.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use lmdns_server::answer::cache::AnswerCache;
use lmdns_server::answer::Answered;
use lmdns_server::query::{Edns, Query};

fn bench(c: &mut Criterion) {
    let name_key = lmdb_schema::name::key_from_dotted("www.example.com.").unwrap();
    let edns = Edns { payload: 1232, version: 0, dnssec_ok: false, client_subnet: None, geo_variants: false, cookie: None, nsid: false };
    let query = Query { id: 0x1234, flags: 0x0100, qtype: 1, qclass: 1, question_end: 33, edns: Some(edns), tsig: None };
    let mut packet = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x01\x03www\x07example\x03com\x00\x00\x01\x00\x01".to_vec();
    packet.extend_from_slice(b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00");
    let mut response = packet[..33].to_vec();
    response[2] |= 0x84;
    response.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 1, 0x2c, 0, 4, 192, 0, 2, 1]);
    response.extend_from_slice(b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00");

    let dir = tempfile::tempdir().unwrap();
    let store =
        lmdb_schema::Store::open(&dir.path().join("db"), &lmdb_schema::OpenOptions { map_size: 16 << 20, read_only: false }).unwrap();
    let txn = store.read_txn().unwrap();
    let snapshot = txn.id();

    let mut g = c.benchmark_group("answer_cache");
    let mut cache = AnswerCache::new(1 << 14);
    g.bench_function("key_and_hash_28_bytes", |b| {
        b.iter(|| cache.key(black_box(&name_key), black_box(&query), 1232, false));
    });
    let facts = Answered { qtype: 1, answers: 1, ..Answered::default() };
    cache.sync(&store, &txn);
    cache.key(&name_key, &query, 1232, false);
    cache.put(snapshot, &response, facts, b"\0com\0example\0");
    cache.put(snapshot, &response, facts, b"\0com\0example\0");
    let (mut out, mut apex) = (Vec::with_capacity(1500), Vec::with_capacity(64));
    g.bench_function("hit", |b| {
        b.iter(|| {
            cache.sync(&store, black_box(&txn));
            cache.key(black_box(&name_key), black_box(&query), 1232, false);
            black_box(cache.get(snapshot, black_box(&packet), 33, &mut out, &mut apex)).expect("a hit")
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
