//! libFuzzer entry point: see `leadfilter_fuzz::json`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| leadfilter_fuzz::json::check(data));
