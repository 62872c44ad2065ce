//! One target's filter run on one raw lead, in a fresh instance, for the
//! direct and the queued paths alike: the filtered lead and its change
//! list, or why the policy refused it. The audit line is the caller's.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};

use super::routes::{Route, TargetState};
use super::shared::Shared;
use crate::filter::TransformError;

/// A lead the policy let through.
pub(super) struct Filtered {
    /// The filtered lead, compact JSON.
    pub(super) lead: String,
    /// What the policy did, `{path, action}` each (paths without values).
    pub(super) changes: Vec<Value>,
}

/// Why a lead was not filtered.
#[derive(Debug, Clone)]
pub(super) struct Refused {
    /// The failure kind.
    pub(super) kind: &'static str,
    /// The paths it names (keys the policy does not name are `*`).
    pub(super) paths: Vec<String>,
    /// Whether it is the lead's doing (422) or the proxy's (500).
    pub(super) lead_fault: bool,
}

impl Refused {
    fn new(kind: &'static str, lead_fault: bool) -> Refused {
        Refused {
            kind,
            paths: Vec::new(),
            lead_fault,
        }
    }
}

/// Filters `lead` with `target`'s policy in a fresh instance, within the
/// route's share of instances.
pub(super) async fn filter(
    shared: &Arc<Shared>,
    route: &Route,
    target: &TargetState,
    lead: &[u8],
    request_id: &str,
) -> Result<Filtered, Refused> {
    let path = route.config.path.as_str();
    let Ok(lead) = String::from_utf8(lead.to_vec()) else {
        return Err(Refused::new("invalid-json", true));
    };
    let Ok(permit) = route.filters.clone().acquire_owned().await else {
        return Err(Refused::new("runtime", false));
    };
    let started = Instant::now();
    let mut filter = target.filter.worker();
    let (answer_tx, answer_rx) = tokio::sync::oneshot::channel();
    let task = tokio::task::spawn_blocking(move || {
        // A fresh instance for every lead: nothing crosses from one lead to
        // the next.
        let _ = answer_tx.send(filter.transform(&lead));
        // Dropping the filter resets its instance's pool slot (the pages it
        // wrote are copied back from the policy's image): done after the
        // answer is handed over, off the request's path.
        drop(filter);
    });
    // The sender is dropped unsent only if the task panicked.
    let result = match answer_rx.await {
        Ok(answer) => Some(answer),
        Err(_) => {
            let _ = task.await;
            None
        }
    };
    shared
        .metrics
        .filter_time(path, started.elapsed().as_secs_f64());
    drop(permit);
    match result {
        Some(Ok(outcome)) => Ok(Filtered {
            changes: outcome
                .changes
                .iter()
                .map(|c| json!({"path": c.path, "action": c.action}))
                .collect(),
            lead: outcome.lead,
        }),
        Some(Err(TransformError::Failure(failure))) => Err(Refused {
            kind: failure.kind(),
            paths: failure.paths().into_iter().map(str::to_owned).collect(),
            lead_fault: true,
        }),
        Some(Err(TransformError::Runtime(error))) => {
            if !error.is_limit() {
                shared.logs.events.write(
                    "event",
                    json!({"event": "runtime-error", "route": path, "destination": target.name, "request_id": request_id, "error": error.to_string()}),
                );
            }
            Err(Refused::new(error.kind(), error.is_limit()))
        }
        None => Err(Refused::new("runtime", false)),
    }
}

/// The audit line of one target's lead: the request, the route, the
/// policy and `fields` (changes, failure, delivery). Never a value.
pub(super) fn audit(
    shared: &Shared,
    route: &Route,
    target: &TargetState,
    request_id: &str,
    fields: Value,
) {
    let info = target.filter.info();
    let mut line = json!({
        "request_id": request_id,
        "route": route.config.path,
        "policy": info.name,
        "version": info.version,
        "digest": info.digest,
    });
    if let Value::Object(line) = &mut line {
        if let Some(name) = &target.name {
            line.insert("destination".into(), json!(name));
        }
        if let Value::Object(fields) = fields {
            line.extend(fields);
        }
    }
    shared.logs.audit.write("audit", line);
}
