//! What every request of a running proxy shares: the configuration, the
//! routes, the logs and metrics, and the counts of what is in flight.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, Semaphore};

use super::auth;
use super::config::Config;
use super::log::Logs;
use super::metrics::Metrics;
use super::routes::Route;
use crate::delivery::Queue;
use crate::resolver::Resolver;

/// What every request shares.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) config: Config,
    pub(super) resolver: Resolver,
    pub(super) routes: BTreeMap<String, Route>,
    pub(super) metrics: Metrics,
    pub(super) logs: Logs,
    pub(super) throttle: auth::Throttle,
    /// Requests handled at once, all routes together.
    pub(super) requests: Arc<Semaphore>,
    /// Requests held per client address.
    pub(super) clients: ClientCounts,
    /// Requests being handled, waited for on shutdown.
    pub(super) work: Work,
    pub(super) ready: AtomicBool,
    pub(super) reloading: tokio::sync::Mutex<()>,
    /// Where queued leads wait, with `store:`.
    pub(super) queue: Option<Queue>,
    /// Wakes the deliverer when a lead was queued.
    pub(super) deliver: Notify,
}

/// Requests being handled: each holds a [`WorkGuard`], and
/// [`Work::idle`] waits until none is left.
#[derive(Debug, Default)]
pub(super) struct Work {
    count: AtomicUsize,
    idle: Notify,
}

/// One request being handled.
#[derive(Debug)]
pub(super) struct WorkGuard(Arc<Shared>);

impl Work {
    /// Counts a request until the guard is dropped.
    pub(super) fn start(shared: &Arc<Shared>) -> WorkGuard {
        shared.work.count.fetch_add(1, Ordering::SeqCst);
        WorkGuard(shared.clone())
    }

    pub(super) async fn idle(&self) {
        loop {
            let notified = self.idle.notified();
            if self.count.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for WorkGuard {
    fn drop(&mut self) {
        if self.0.work.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.work.idle.notify_waiters();
        }
    }
}

/// Requests held per client address, so that one address cannot hold
/// every request slot (slow bodies from many connections, say).
#[derive(Debug)]
pub(super) struct ClientCounts {
    limit: usize,
    held: Mutex<std::collections::HashMap<IpAddr, usize>>,
}

/// One request of a client address.
#[derive(Debug)]
pub(super) struct ClientSlot<'a> {
    counts: &'a ClientCounts,
    client: IpAddr,
}

impl ClientCounts {
    pub(super) fn new(limit: usize) -> ClientCounts {
        ClientCounts {
            limit,
            held: Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// A slot for `client`, or `None` when it holds its limit already. The
    /// table only holds addresses with requests in flight.
    pub(super) fn take(&self, client: IpAddr) -> Option<ClientSlot<'_>> {
        let mut held = self.held.lock().ok()?;
        let count = held.entry(client).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(ClientSlot {
            counts: self,
            client,
        })
    }
}

impl Drop for ClientSlot<'_> {
    fn drop(&mut self) {
        if let Ok(mut held) = self.counts.held.lock()
            && let Some(count) = held.get_mut(&self.client)
        {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.client);
            }
        }
    }
}
