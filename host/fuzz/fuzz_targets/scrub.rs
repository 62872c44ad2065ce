//! libFuzzer entry point: see `leadfilter_fuzz::scrub`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| leadfilter_fuzz::scrub::check(data));
