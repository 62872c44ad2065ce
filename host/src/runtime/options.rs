//! How to run policies: the sandbox's limits and the code cache.

use std::time::Duration;

use super::CacheSetting;

/// A generous fuel budget for one call, for callers that want a
/// deterministic limit ([`RuntimeOptions::fuel`]; none by default).
///
/// Wasmtime charges one unit per Wasm instruction plus one per byte that
/// `memory.copy` and `memory.fill` move, so fuel measures work, not only
/// instructions. The costliest lead measured, 1 MiB of text dense with
/// personal data under `scrub`, used 1.3 billion units (about 60 ms); a loop
/// of plain instructions burns through ten billion in a few seconds.
pub const DEFAULT_FUEL: u64 = 10_000_000_000;

/// The time one call may take by default.
///
/// The costliest lead measured (1 MiB of text dense with personal data under
/// `scrub`) takes about 60 ms.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// How often the epoch advances: the granularity of the time limit.
pub(super) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Linear memory a policy instance may use by default.
pub const DEFAULT_MEMORY_LIMIT: usize = 64 << 20;

/// The largest filtered lead a component may return by default: 16 MiB.
///
/// A filtered lead is rarely larger than the lead (the default largest lead
/// is 1 MiB), but a `hash` or `redact` turns a short value into a longer
/// one, so the default leaves room for that.
pub const DEFAULT_MAX_OUTPUT: usize = 16 << 20;

/// How to run policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeOptions {
    /// Where to cache compiled code.
    pub cache: CacheSetting,
    /// The longest one `transform` or `info` call may run (measured with
    /// wasmtime's epochs, to within about 10 ms).
    pub timeout: Duration,
    /// A fuel budget for one call, if any (one unit per Wasm instruction and
    /// per byte of bulk memory copy or fill; see [`DEFAULT_FUEL`]). Unlike
    /// the timeout it stops a policy at the same point on every machine, but
    /// metering costs about a fifth of the component's speed, so it is off
    /// by default.
    pub fuel: Option<u64>,
    /// The most linear memory one instance may have, in bytes: all its
    /// memories together.
    pub memory_limit: usize,
    /// The largest filtered lead a component may return, in bytes; a larger
    /// answer is a runtime failure and is not used (see
    /// [`DEFAULT_MAX_OUTPUT`]).
    pub max_output: usize,
    /// Use wasmtime's pooling allocator with room for this many instances
    /// alive at once: instantiation gets faster (memory slots are reused,
    /// not mapped afresh), at the price of reserving address space up front.
    /// `None` allocates each instance on demand.
    pub pooling: Option<u32>,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            cache: CacheSetting::Default,
            timeout: DEFAULT_TIMEOUT,
            fuel: None,
            memory_limit: DEFAULT_MEMORY_LIMIT,
            max_output: DEFAULT_MAX_OUTPUT,
            pooling: None,
        }
    }
}
