#![no_main]
//! The `update` harness of lmdns-fuzzcheck under libFuzzer; seeds: fixtures/fuzz/update/.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    lmdns_fuzzcheck::update(data);
});
