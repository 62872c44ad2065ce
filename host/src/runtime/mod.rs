//! Running policy components with wasmtime.
//!
//! One [`Runtime`] (a wasmtime engine with the component model, an on-disk
//! cache of compiled code, fuel metering and the pooling allocator if asked
//! for) loads any number of components. A [`LoadedPolicy`] is compiled and
//! checked once; [`LoadedPolicy::instantiate`] then gives a fresh
//! [`PolicyInstance`], each in its own `Store`, so no state crosses from one
//! instance to another. The policy inside was loaded when it was compiled
//! (see [`crate::compile`]), so a fresh instance is cheap.
//!
//! Every call runs with a time limit (wasmtime's epoch interruption, ticked
//! by a background thread), optionally a deterministic fuel budget, and a
//! memory limit: a policy that runs away or grows past the limit ends with
//! [`RuntimeError::Timeout`], [`RuntimeError::Budget`] or
//! [`RuntimeError::Memory`], never by hanging the host. Results map to the
//! engine crate's types, so a component's answer compares with `==` to the
//! native engine's.
//!
//! ```no_run
//! use leadfilter::runtime::{Runtime, RuntimeOptions};
//!
//! let runtime = Runtime::new(&RuntimeOptions::default())?;
//! let policy = runtime.load(&std::fs::read("policy.wasm")?)?;
//! let mut instance = policy.instantiate()?;
//! match instance.transform(r#"{"email":"ada@example.com"}"#, &[])? {
//!     Ok(outcome) => println!("{}", outcome.lead),
//!     Err(failure) => eprintln!("{failure}"),
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cache;
mod error;
mod instance;
mod limits;
mod options;
mod setup;
mod wit;

pub use cache::{CACHE_DIR_ENV, CacheSetting, CodeSource};
pub use error::RuntimeError;
pub use instance::{LoadedPolicy, PolicyInstance};
pub use options::{
    DEFAULT_FUEL, DEFAULT_MAX_OUTPUT, DEFAULT_MEMORY_LIMIT, DEFAULT_TIMEOUT, RuntimeOptions,
};
pub use setup::Runtime;

/// The interface every policy component exports.
pub const POLICY_INTERFACE: &str = "leadfilter:policy/filter@0.1.0";
