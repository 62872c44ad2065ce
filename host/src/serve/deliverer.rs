//! The deliverer: one task per proxy that takes due deliveries from the
//! store, paces them per target (`rate_per_second`), makes each attempt
//! with its stable `Idempotency-Key`, and settles it (delivered, tried
//! again when, or dead) with one audit line per attempt.
//!
//! A delivery is leased when it is taken (its next attempt moves past the
//! attempt's longest possible end, durably), so a proxy that dies during an
//! attempt only delays it: after the lease the delivery is due again, here
//! after a restart or on another proxy sharing the store. That is where
//! "at least once" comes from; a lead reaches the upstream twice only when
//! an attempt's outcome was unknown, and then with the same key.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::shared::Shared;
use super::upstream::UpstreamError;
use crate::delivery::schedule::{millis, now_millis};
use crate::delivery::{Attempt, Decision, Due, Queue, Settle};

/// Attempts in flight at once, all routes together.
const MAX_IN_FLIGHT: usize = 64;

/// How often the deliverer looks at the store even when nothing woke it
/// (another proxy may share it), and refreshes the queue metrics.
const POLL: Duration = Duration::from_secs(1);

/// The furthest ahead an attempt waits for its pacing slot; a delivery
/// whose slot is further is put back until then (so a lease never waits
/// on a long backlog).
const PACING_HORIZON: Duration = Duration::from_secs(5);

/// When a delivery's route or destination is no longer in the
/// configuration, it waits this long before it is looked at again.
const ORPHAN_WAIT_MS: u64 = 60_000;

/// Runs until `stop` turns true, then waits for the attempts in flight
/// (each bounded by its upstream's timeout) and returns.
pub(super) async fn run(shared: Arc<Shared>, queue: Queue, mut stop: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let pacer = Arc::new(Pacer::default());
    let mut attempts = JoinSet::new();
    let mut metrics_at = Instant::now();
    // The longest an attempt can take: its pacing wait (at most
    // `PACING_HORIZON`), its send (the upstream's timeout) and settling.
    let lease_ms = shared
        .config
        .limits
        .upstream_timeout_ms
        .saturating_add(millis(PACING_HORIZON))
        .saturating_add(5_000);
    loop {
        if *stop.borrow() {
            break;
        }
        while attempts.try_join_next().is_some() {}
        let room = slots.available_permits();
        let mut next = Instant::now() + POLL;
        let now = now_millis();
        // A look first (a read): taking writes, and most wake-ups (an
        // attempt finished) find nothing due.
        let due = match queue.next_due().await {
            Ok(Some(at)) => at <= now,
            Ok(None) => false,
            // The take reports the store's failure.
            Err(_) => true,
        };
        if room > 0 && due {
            match queue.take(now, now.saturating_add(lease_ms), room).await {
                Ok(taken) => {
                    for due in taken {
                        let Ok(slot) = slots.clone().acquire_owned().await else {
                            break;
                        };
                        let shared = shared.clone();
                        let queue = queue.clone();
                        let pacer = pacer.clone();
                        let stop = stop.clone();
                        attempts.spawn(async move {
                            attempt(&shared, &queue, &pacer, due, stop).await;
                            drop(slot);
                        });
                    }
                }
                Err(error) => store_error(&shared, &error.to_string()),
            }
        }
        // With every slot taken, a finished attempt wakes the loop.
        if slots.available_permits() > 0
            && let Ok(Some(at)) = queue.next_due().await
        {
            let wait = Duration::from_millis(at.saturating_sub(now_millis()));
            next = next.min(Instant::now() + wait);
        }
        if metrics_at.elapsed() >= POLL {
            metrics_at = Instant::now();
            refresh_metrics(&shared, &queue).await;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = shared.deliver.notified() => {}
            _ = stop.changed() => {}
            Some(_) = attempts.join_next(), if !attempts.is_empty() => {}
        }
    }
    // Stopping: no new attempt starts; the ones in flight finish and are
    // settled (their own timeouts bound them). Pending deliveries stay in
    // the store.
    while attempts.join_next().await.is_some() {}
}

/// One attempt of one delivery.
async fn attempt(
    shared: &Shared,
    queue: &Queue,
    pacer: &Pacer,
    due: Due,
    mut stop: watch::Receiver<bool>,
) {
    let meta = &due.meta;
    let found = shared.routes.get(&meta.route).and_then(|route| {
        let state = route.current();
        let index = state
            .targets
            .iter()
            .position(|t| t.name == meta.destination)?;
        let delivery = route.config.targets().get(index)?.delivery.clone();
        Some((state, index, delivery))
    });
    let Some((state, index, delivery)) = found else {
        // The configuration no longer has it (a route removed before a
        // restart): kept, not lost, and not counted as an attempt.
        shared.logs.events.write(
            "event",
            json!({"event": "delivery-without-route", "delivery_id": meta.id, "route": meta.route, "destination": meta.destination}),
        );
        let later = now_millis().saturating_add(ORPHAN_WAIT_MS);
        let settle = Settle::RetryAt {
            attempts: meta.attempts,
            at: later,
            status: "no-route".into(),
        };
        if let Err(error) = queue.settle(&due, settle, now_millis()).await {
            store_error(shared, &error.to_string());
        }
        return;
    };
    let target = &state.targets[index];
    let key = format!(
        "{}\0{}",
        meta.route,
        meta.destination.as_deref().unwrap_or("")
    );
    let slot = match pacer.slot(&key, delivery.rate_per_second, PACING_HORIZON) {
        Ok(slot) => slot,
        Err(free) => {
            // The target's pace is taken for a while: back in the store
            // until then, not counted as an attempt.
            let at =
                now_millis().saturating_add(millis(free.saturating_duration_since(Instant::now())));
            if let Err(error) = queue
                .settle(&due, Settle::Release { at }, now_millis())
                .await
            {
                store_error(shared, &error.to_string());
            }
            return;
        }
    };
    if let Some(slot) = slot {
        let stopped = tokio::select! {
            _ = tokio::time::sleep_until(slot) => false,
            stopped = stop.wait_for(|stopped| *stopped) => stopped.is_ok(),
        };
        if stopped {
            // Stopping before the attempt began: due again at once (on the
            // next start, or on another proxy sharing the store).
            let now = now_millis();
            if let Err(error) = queue.settle(&due, Settle::Release { at: now }, now).await {
                store_error(shared, &error.to_string());
            }
            return;
        }
    }
    let started = std::time::Instant::now();
    let sent = target
        .upstream
        .send(
            due.payload.lead.clone(),
            &due.payload.request_id,
            Some(&meta.id),
        )
        .await;
    shared
        .metrics
        .upstream_time(&meta.route, started.elapsed().as_secs_f64());
    let attempt = match sent {
        Ok(status) => Attempt::Status {
            status,
            retry_after: None,
        },
        Err(UpstreamError::Status {
            status,
            retry_after,
        }) => Attempt::Status {
            status,
            retry_after: retry_after.map(Duration::from_secs),
        },
        Err(UpstreamError::Timeout | UpstreamError::Broken) => Attempt::Unknown,
        Err(UpstreamError::Unreachable | UpstreamError::Token) => Attempt::NotSent,
    };
    let attempts = meta.attempts.saturating_add(1);
    let now = now_millis();
    let (decision, outcome) = attempt.decide(&delivery.schedule(), attempts, meta.created, now);
    let status = attempt.status_label();
    let settle = match decision {
        Decision::Delivered => Settle::Delivered,
        Decision::RetryAt(at) => Settle::RetryAt {
            attempts,
            at,
            status: status.clone(),
        },
        Decision::Dead => Settle::Dead {
            attempts,
            status: status.clone(),
        },
    };
    let settled = queue.settle(&due, settle, now).await;
    let info = target.filter.info();
    let mut line = json!({
        "request_id": due.payload.request_id,
        "route": meta.route,
        "policy": info.name,
        "version": info.version,
        "digest": info.digest,
        "delivery_id": meta.id,
        "attempt": attempts,
        "status": status,
        "outcome": outcome.as_str(),
    });
    if let (Some(name), Some(line)) = (&meta.destination, line.as_object_mut()) {
        line.insert("destination".into(), json!(name));
    }
    if let (Decision::RetryAt(at), Some(line)) = (decision, line.as_object_mut()) {
        line.insert("next_attempt_ms".into(), json!(at));
    }
    if let (Decision::Dead, Some(line)) = (decision, line.as_object_mut()) {
        line.insert("dead".into(), json!(true));
    }
    shared.logs.audit.write("audit", line);
    shared.metrics.attempt(&meta.route, &status);
    match decision {
        Decision::Delivered => shared.metrics.delivery(&meta.route, "delivered"),
        Decision::Dead => shared.metrics.delivery(&meta.route, "dead"),
        Decision::RetryAt(_) => {}
    }
    if let Err(error) = settled {
        // The lease runs out and the delivery is tried again (with the
        // same key): at least once, never lost.
        store_error(shared, &error.to_string());
    }
}

fn store_error(shared: &Shared, error: &str) {
    shared
        .logs
        .events
        .write("event", json!({"event": "store-error", "error": error}));
}

async fn refresh_metrics(shared: &Shared, queue: &Queue) {
    let Ok(stats) = queue.stats().await else {
        return;
    };
    let now = now_millis();
    for path in shared.routes.keys() {
        let route = stats.get(path).cloned().unwrap_or_default();
        let oldest = route
            .oldest_pending
            .map_or(0, |created| now.saturating_sub(created) / 1000);
        shared
            .metrics
            .queue(path, route.pending, route.dead, oldest);
    }
}

/// Outbound pacing: per target, the next moment an attempt may start.
#[derive(Debug, Default)]
struct Pacer {
    next: Mutex<HashMap<String, Instant>>,
}

impl Pacer {
    /// Takes the target's next slot if it is within `horizon` (`None`
    /// without a rate); otherwise says when it is, taking nothing.
    fn slot(
        &self,
        key: &str,
        rate_per_second: Option<f64>,
        horizon: Duration,
    ) -> Result<Option<Instant>, Instant> {
        let Some(rate) = rate_per_second.filter(|r| *r > 0.0) else {
            return Ok(None);
        };
        let gap = Duration::from_secs_f64(1.0 / rate);
        let Ok(mut next) = self.next.lock() else {
            return Ok(None);
        };
        let now = Instant::now();
        let slot = next.get(key).copied().unwrap_or(now).max(now);
        if slot > now + horizon {
            return Err(slot);
        }
        next.insert(key.to_owned(), slot + gap);
        Ok(Some(slot))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pacer_spaces_attempts_per_target() {
        let pacer = Pacer::default();
        let horizon = Duration::from_secs(1);
        let slot = |key, rate| pacer.slot(key, rate, horizon);
        let before = Instant::now();
        let slots: Vec<Instant> = (0..5)
            .map(|_| slot("a", Some(10.0)).unwrap().unwrap())
            .collect();
        let first = slots[0];
        assert!(first >= before && first <= Instant::now());
        // Five attempts at 10 a second: the fifth starts 400 ms in.
        assert_eq!(slots[4] - first, Duration::from_millis(400));
        assert!(
            slots
                .windows(2)
                .all(|w| w[1] - w[0] == Duration::from_millis(100))
        );
        // Another target has its own pace; no rate, no slot to wait for.
        let b = slot("b", Some(10.0)).unwrap().unwrap();
        assert!(b < first + Duration::from_millis(100));
        assert_eq!(slot("c", None), Ok(None));
        // Past the horizon nothing is taken: the answer is when.
        for _ in 0..6 {
            slot("a", Some(10.0)).unwrap();
        }
        let far = first + Duration::from_millis(1100);
        assert_eq!(slot("a", Some(10.0)), Err(far));
        assert_eq!(slot("a", Some(10.0)), Err(far));
    }
}
