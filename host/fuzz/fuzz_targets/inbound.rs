//! libFuzzer entry point: see `leadfilter_fuzz::inbound`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| leadfilter_fuzz::inbound::check(data));
