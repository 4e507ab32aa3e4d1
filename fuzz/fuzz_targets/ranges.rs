#![no_main]
//! The `ranges` harness of lmdns-fuzzcheck under libFuzzer; seeds: fixtures/fuzz/ranges/.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    lmdns_fuzzcheck::ranges(data);
});
