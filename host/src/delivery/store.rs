//! What a store of queued leads keeps, whichever it is (the embedded local
//! store now; NATS JetStream next, with the same records and semantics).
//!
//! A store holds, per delivery: the sealed payload (the *filtered* lead and
//! the request id, see [`Payload`]) and its [`Meta`] (route, destination,
//! attempts, times, last status: never a value of the lead). Duplicate keys
//! are keyed hashes ([`super::Sealer::dedup_key`]).

use serde::{Deserialize, Serialize};

/// What is sealed for one delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    /// The filtered lead, compact JSON.
    pub lead: String,
    /// The `X-Request-Id` of the request that brought it.
    pub request_id: String,
}

/// What a store knows of a delivery besides its payload. Nothing here
/// comes from the lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// The delivery id (also the `Idempotency-Key` of every attempt).
    pub id: String,
    /// The route's path.
    pub route: String,
    /// The destination's name, on a route with `destinations`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    /// When it was stored (Unix milliseconds).
    pub created: u64,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due (Unix milliseconds); for a dead letter,
    /// when it died.
    pub next_attempt: u64,
    /// The last attempt's outcome: an HTTP status, `timeout`, `connect`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<String>,
    /// A dead letter: no more attempts until `queue retry`.
    #[serde(default)]
    pub dead: bool,
}

/// A delivery to store.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    /// Its id.
    pub id: String,
    /// The route's path.
    pub route: String,
    /// The destination's name, on a route with `destinations`.
    pub destination: Option<String>,
    /// The payload, in the clear: the store seals it.
    pub payload: Payload,
}

/// A request's duplicate key, for [`super::LocalStore::accept`].
#[derive(Debug, Clone)]
pub struct Dedup {
    /// The keyed hash of the key.
    pub key: String,
    /// Until when a request with the same key is a duplicate (Unix
    /// milliseconds).
    pub until: u64,
}

/// What became of a request's deliveries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// Stored, all of them.
    Stored,
    /// A request with the same duplicate key came first; nothing was stored.
    /// Its deliveries: destination (if any) and delivery id.
    Duplicate(Vec<(Option<String>, String)>),
}

/// A delivery whose attempt is due, taken by one deliverer.
#[derive(Debug, Clone)]
pub struct Due {
    /// Its record.
    pub meta: Meta,
    /// Its payload, opened.
    pub payload: Payload,
}

/// Counts of one route.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteStats {
    /// Deliveries waiting for an attempt.
    pub pending: u64,
    /// Dead letters.
    pub dead: u64,
    /// When the oldest pending delivery was stored (Unix milliseconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oldest_pending: Option<u64>,
}

/// Why a store could not do what was asked. Messages name the store and
/// what failed, never a value of a lead.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store is at its size limit (`store.max_bytes`).
    #[error("the store is full (store.max_bytes)")]
    Full,
    /// The store cannot be read or written.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// A record does not open or does not parse.
    #[error("a stored record of delivery {id} is unreadable: {reason}")]
    Corrupt {
        /// The delivery.
        id: String,
        /// What is wrong.
        reason: String,
    },
}

/// A new delivery id: a UUID v7, so ids sort by time.
pub fn new_delivery_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
