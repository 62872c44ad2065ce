//! The fuzz targets' checks, as plain functions of the input bytes.
//!
//! Each module has one `check(data)`: the libFuzzer entry points in
//! `fuzz_targets/` call it, and `tests/replay.rs` runs it over every
//! committed corpus and regression input in `cargo test`, so a finding stays
//! fixed. A check panics exactly when it found a bug. See `docs/fuzzing.md`.

pub mod inbound;
pub mod json;
pub mod policy;
pub mod scrub;
pub mod transform;
