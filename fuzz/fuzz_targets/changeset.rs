#![no_main]
//! The `changeset` harness of lmdns-fuzzcheck under libFuzzer; seeds: fixtures/fuzz/changeset/.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    lmdns_fuzzcheck::changeset(data);
});
