//! libFuzzer entry point: see `leadfilter_fuzz::policy`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| leadfilter_fuzz::policy::check(data));
