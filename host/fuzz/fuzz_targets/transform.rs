//! libFuzzer entry point: see `leadfilter_fuzz::transform`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| leadfilter_fuzz::transform::check(data));
