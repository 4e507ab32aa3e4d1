#![no_main]
//! The `query` harness of lmdns-fuzzcheck under libFuzzer; seeds: fixtures/fuzz/query/.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    lmdns_fuzzcheck::query(data);
});
