#![no_main]
//! The `zone_file` harness of lmdns-fuzzcheck under libFuzzer; seeds: fixtures/fuzz/zone_file/.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    lmdns_fuzzcheck::zone_file(data);
});
