//! `delivery.mode: direct` (the default): the filtered lead is forwarded
//! while the sender waits, and the sender hears how it went.

use std::sync::Arc;
use std::time::Instant;

use hyper::StatusCode;
use hyper::body::Bytes;
use serde_json::json;

use super::answer::{Refusal, answer};
use super::filtering::{self, audit};
use super::pipeline::Handled;
use super::routes::{Route, RouteState};
use super::shared::Shared;
use super::upstream::UpstreamError;

/// Filters the lead in a fresh instance and forwards only the filtered
/// lead; writes the audit line either way.
pub(super) async fn forward(
    shared: &Arc<Shared>,
    route: &Route,
    state: &Arc<RouteState>,
    body: Bytes,
    request_id: &str,
) -> Handled {
    let path = route.config.path.as_str();
    let target = &state.targets[0];
    let filtered = match filtering::filter(shared, route, target, &body, request_id).await {
        Ok(filtered) => filtered,
        Err(refused) => {
            audit(
                shared,
                route,
                target,
                request_id,
                json!({"forwarded": false, "failure": refused.kind, "paths": refused.paths}),
            );
            return Handled::filter_refused(shared, route, refused, request_id);
        }
    };
    let started = Instant::now();
    let sent = target.upstream.send(filtered.lead, request_id, None).await;
    shared
        .metrics
        .upstream_time(path, started.elapsed().as_secs_f64());
    match sent {
        Ok(status) => {
            audit(
                shared,
                route,
                target,
                request_id,
                json!({"forwarded": true, "changes": filtered.changes, "upstream_status": status, "outcome": "delivered"}),
            );
            Handled {
                response: answer(
                    StatusCode::OK,
                    request_id,
                    json!({"request_id": request_id, "status": "forwarded"}),
                ),
                outcome: "forwarded",
                detail: None,
            }
        }
        Err(error) => {
            let upstream_status = match error {
                UpstreamError::Status { status, .. } => Some(status),
                _ => None,
            };
            // Whether the upstream has the lead: it refused it, it never
            // got it, or nobody knows (a timeout or a broken connection
            // after sending).
            let outcome = match error {
                UpstreamError::Status { .. } => "refused-by-upstream",
                UpstreamError::Timeout | UpstreamError::Broken => "unknown",
                UpstreamError::Unreachable | UpstreamError::Token => "not-sent",
            };
            audit(
                shared,
                route,
                target,
                request_id,
                json!({"forwarded": false, "changes": filtered.changes, "failure": error.kind(), "upstream_status": upstream_status, "outcome": outcome}),
            );
            Handled::refused(&Refusal::Upstream(error), request_id)
        }
    }
}
