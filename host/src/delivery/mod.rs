//! Queued delivery (SPEC §8): a filtered lead is sealed and stored before
//! the sender hears 202, then delivered with retries.
//!
//! - [`seal`]: leads at rest are sealed (XChaCha20-Poly1305, HKDF-SHA256
//!   keys from the store's secret); duplicate keys are keyed hashes.
//! - [`schedule`]: when a delivery is tried again, and when it is dead.
//! - [`store`]: what every store keeps (records without values, sealed
//!   payloads) and its errors.
//! - [`local`]: `store.type: local`, one redb file.
//! - [`queue`]: the one async interface a running proxy uses, whichever
//!   the store.
//! - [`control`]: `leadfilter queue` asking a running proxy (a Unix socket
//!   in the store's directory).
//! - [`attempt`]: what an attempt's outcome means: delivered, retried
//!   when, or dead, and its audit outcome.

pub mod attempt;
pub mod control;
pub mod local;
pub mod queue;
pub mod schedule;
pub mod seal;
pub mod store;

pub use attempt::{Attempt, AuditOutcome, Decision};
pub use local::LocalStore;
pub use queue::{Queue, Settle};
pub use schedule::{Next, Schedule};
pub use seal::Sealer;
pub use store::{Accepted, Dedup, Due, Meta, NewDelivery, Payload, RouteStats, StoreError};

#[cfg(test)]
mod tests;
