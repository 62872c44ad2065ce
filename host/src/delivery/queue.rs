//! The store a running proxy uses, whichever it is: one async interface
//! over the local store (whose calls run on blocking threads) and, with
//! `store.type: nats`, JetStream.
//!
//! The deliverer takes due deliveries with [`Queue::take`] and settles each
//! with [`Queue::settle`]; the request path stores with [`Queue::accept`].

use std::collections::BTreeMap;
use std::sync::Arc;

use super::local::LocalStore;
use super::store::{Accepted, Dedup, Due, Meta, NewDelivery, RouteStats, StoreError};

/// What became of an attempt, for the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settle {
    /// Delivered: removed.
    Delivered,
    /// Tried again at `at` (Unix milliseconds).
    RetryAt {
        /// Attempts made.
        attempts: u32,
        /// When.
        at: u64,
        /// The attempt's status label.
        status: String,
    },
    /// Not tried after all (the proxy is stopping): due again at `at`.
    Release {
        /// When.
        at: u64,
    },
    /// A dead letter.
    Dead {
        /// Attempts made.
        attempts: u32,
        /// The attempt's status label.
        status: String,
    },
}

/// The store of queued leads.
#[derive(Debug, Clone)]
pub enum Queue {
    /// `store.type: local`.
    Local(Arc<LocalStore>),
}

fn joined<T>(
    result: Result<Result<T, StoreError>, tokio::task::JoinError>,
) -> Result<T, StoreError> {
    result.unwrap_or_else(|e| {
        Err(StoreError::Unavailable(format!(
            "the store's task failed: {e}"
        )))
    })
}

impl Queue {
    /// The keyed hash a route's duplicate key is stored as.
    pub fn dedup_key(&self, route: &str, key: &[u8]) -> String {
        match self {
            Queue::Local(store) => store.dedup_key(route, key),
        }
    }

    /// Stores a request's deliveries, all or none (see
    /// [`LocalStore::accept`]).
    pub async fn accept(
        &self,
        deliveries: Vec<NewDelivery>,
        dedup: Option<Dedup>,
        now: u64,
    ) -> Result<Accepted, StoreError> {
        match self {
            Queue::Local(store) => {
                let store = store.clone();
                joined(
                    tokio::task::spawn_blocking(move || {
                        store.accept(&deliveries, dedup.as_ref(), now)
                    })
                    .await,
                )
            }
        }
    }

    /// Takes up to `limit` due deliveries, each leased until `lease_until`.
    pub async fn take(
        &self,
        now: u64,
        lease_until: u64,
        limit: usize,
    ) -> Result<Vec<Due>, StoreError> {
        match self {
            Queue::Local(store) => {
                let store = store.clone();
                joined(
                    tokio::task::spawn_blocking(move || store.take_due(now, lease_until, limit))
                        .await,
                )
            }
        }
    }

    /// When the next delivery is due, if the store knows.
    pub async fn next_due(&self) -> Result<Option<u64>, StoreError> {
        match self {
            Queue::Local(store) => {
                let store = store.clone();
                joined(tokio::task::spawn_blocking(move || store.next_due()).await)
            }
        }
    }

    /// Records an attempt's outcome.
    pub async fn settle(&self, due: &Due, settle: Settle, now: u64) -> Result<(), StoreError> {
        match self {
            Queue::Local(store) => {
                let store = store.clone();
                let id = due.meta.id.clone();
                joined(
                    tokio::task::spawn_blocking(move || match settle {
                        Settle::Delivered => store.delivered(&id),
                        Settle::RetryAt {
                            attempts,
                            at,
                            status,
                        } => store.retry_at(&id, attempts, at, &status),
                        Settle::Release { at } => store.release(&id, at),
                        Settle::Dead { attempts, status } => {
                            store.dead(&id, attempts, now, &status)
                        }
                    })
                    .await,
                )
            }
        }
    }

    /// Every delivery's record, or only the dead letters.
    pub async fn list(&self, dead_only: bool) -> Result<Vec<Meta>, StoreError> {
        match self {
            Queue::Local(store) => {
                let store = store.clone();
                joined(tokio::task::spawn_blocking(move || store.list(dead_only)).await)
            }
        }
    }

    /// Makes the given deliveries due now with a fresh schedule; how many
    /// were found.
    pub async fn retry(&self, ids: Vec<String>, now: u64) -> Result<usize, StoreError> {
        match self {
            Queue::Local(store) => {
                let store = store.clone();
                joined(tokio::task::spawn_blocking(move || store.retry(&ids, now)).await)
            }
        }
    }

    /// Removes the given deliveries; how many were found.
    pub async fn drop_deliveries(&self, ids: Vec<String>) -> Result<usize, StoreError> {
        match self {
            Queue::Local(store) => {
                let store = store.clone();
                joined(tokio::task::spawn_blocking(move || store.drop_deliveries(&ids)).await)
            }
        }
    }

    /// Counts per route.
    pub async fn stats(&self) -> Result<BTreeMap<String, RouteStats>, StoreError> {
        match self {
            Queue::Local(store) => {
                let store = store.clone();
                joined(tokio::task::spawn_blocking(move || store.stats()).await)
            }
        }
    }
}
