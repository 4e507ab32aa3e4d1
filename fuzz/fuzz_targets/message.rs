#![no_main]
//! The `message` harness of lmdns-fuzzcheck under libFuzzer; seeds: fixtures/fuzz/message/.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    lmdns_fuzzcheck::message(data);
});
