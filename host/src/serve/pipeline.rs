//! One request, from the first byte to the access log: the proxy's own
//! limits, the inbound check (before the body where it can be), the body,
//! replays, the filter in a fresh instance, the forward, the audit line.
//!
//! A request is handled on a task of its own, so that a sender who hangs
//! up, or a shutdown whose grace ends, cannot stop a lead halfway: once a
//! lead is on its way upstream, the forward finishes and its audit line and
//! access line are written (audit first), whatever happens to the
//! connection.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::json;

use super::answer::{Refusal, answer, seconds};
use super::auth::{Denied, Inbound, Taken};
use super::config::OnRefused;
use super::filtering::Refused;
use super::metrics;
use super::routes::Route;
use super::shared::{Shared, Work};

/// What happened to a request, for the access log.
pub(super) struct Handled {
    pub(super) response: Response<Full<Bytes>>,
    /// `forwarded`, `queued`, `duplicate`, `acknowledged`, or the
    /// refusal's outcome.
    pub(super) outcome: &'static str,
    /// The failure kind or check reason, if any.
    pub(super) detail: Option<&'static str>,
}

impl Handled {
    pub(super) fn refused(refusal: &Refusal, request_id: &str) -> Handled {
        Handled {
            response: refusal.response(request_id),
            outcome: refusal.outcome(),
            detail: refusal.detail(),
        }
    }

    /// The policy refused the lead (every target's policy, on a route with
    /// destinations): 422 with the kind, or with `on_refused: acknowledge`
    /// a 200 that says so (for a refusal that is the lead's doing; the
    /// proxy's own failures stay 500).
    pub(super) fn filter_refused(
        shared: &Shared,
        route: &Route,
        refused: Refused,
        request_id: &str,
    ) -> Handled {
        let kind = refused.kind;
        let refusal = Refusal::Filter {
            kind,
            paths: refused.paths,
            lead_fault: refused.lead_fault,
        };
        refusal.count(&shared.metrics, &route.config.path);
        if refused.lead_fault && route.config.on_refused == OnRefused::Acknowledge {
            return Handled {
                response: answer(
                    StatusCode::OK,
                    request_id,
                    json!({"request_id": request_id, "status": "refused", "kind": kind}),
                ),
                outcome: "acknowledged",
                detail: Some(kind),
            };
        }
        Handled::refused(&refusal, request_id)
    }
}

/// Answers one request.
pub(super) async fn handle(
    shared: &Arc<Shared>,
    request: Request<Incoming>,
    client: IpAddr,
) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let request_id = new_request_id();
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    match (&method, path.as_str()) {
        (&Method::GET, "/healthz") => {
            return answer(StatusCode::OK, &request_id, json!({"status": "ok"}));
        }
        (&Method::GET, "/readyz") => {
            return if shared.ready.load(Ordering::SeqCst) {
                answer(StatusCode::OK, &request_id, json!({"status": "ready"}))
            } else {
                Refusal::ShuttingDown.response(&request_id)
            };
        }
        (&Method::GET, "/metrics") => {
            let mut response = Response::new(Full::new(Bytes::from(shared.metrics.encode())));
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static(metrics::CONTENT_TYPE),
            );
            return response;
        }
        _ => {}
    }
    if !shared.routes.contains_key(&path) {
        shared.metrics.request("", 404);
        let refusal = Refusal::NoRoute;
        log_access(
            shared,
            &Access {
                request_id: &request_id,
                route: None,
                method: method.as_str(),
                client,
                started,
                status: 404,
                outcome: refusal.outcome(),
                detail: None,
            },
        );
        return refusal.response(&request_id);
    }
    // On a task of its own: a sender who hangs up does not stop it.
    let task_shared = shared.clone();
    let task = tokio::spawn(async move {
        let shared = task_shared;
        let _work = Work::start(&shared);
        let Some(route) = shared.routes.get(&path) else {
            return Refusal::NoRoute.response(&request_id);
        };
        shared.metrics.in_flight().inc();
        let handled = route_request(&shared, route, request, client, &request_id).await;
        shared.metrics.in_flight().dec();
        let status = handled.response.status().as_u16();
        shared.metrics.request(&route.config.path, status);
        log_access(
            &shared,
            &Access {
                request_id: &request_id,
                route: Some(&route.config.path),
                method: method.as_str(),
                client,
                started,
                status,
                outcome: handled.outcome,
                detail: handled.detail,
            },
        );
        handled.response
    });
    match task.await {
        Ok(response) => response,
        Err(_) => answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            "",
            json!({"error": "runtime"}),
        ),
    }
}

/// One access-log line.
pub(super) struct Access<'a> {
    pub(super) request_id: &'a str,
    pub(super) route: Option<&'a str>,
    pub(super) method: &'a str,
    pub(super) client: IpAddr,
    pub(super) started: Instant,
    pub(super) status: u16,
    pub(super) outcome: &'a str,
    pub(super) detail: Option<&'a str>,
}

pub(super) fn log_access(shared: &Shared, access: &Access<'_>) {
    shared.logs.access.write(
        "access",
        json!({
            "request_id": access.request_id,
            "route": access.route,
            "method": access.method,
            "client": access.client.to_string(),
            "status": access.status,
            "outcome": access.outcome,
            "detail": access.detail,
            "duration_ms": (access.started.elapsed().as_secs_f64() * 1e6).round() / 1e3,
        }),
    );
}

/// Logs a request that hyper answered itself because it could not parse
/// it (400, or 431 for a head over the limit): it never reached a route.
pub(super) fn log_malformed(shared: &Shared, client: IpAddr, error: Option<hyper::Error>) {
    let Some(error) = error else { return };
    let status = if error.is_parse_too_large() {
        431
    } else if error.is_parse() {
        400
    } else {
        return;
    };
    shared.metrics.request("", status);
    log_access(
        shared,
        &Access {
            request_id: &new_request_id(),
            route: None,
            method: "",
            client,
            started: Instant::now(),
            status,
            outcome: "malformed",
            detail: None,
        },
    );
}

/// The proxy's limits, the inbound check and the body, then the filter.
async fn route_request(
    shared: &Arc<Shared>,
    route: &Route,
    request: Request<Incoming>,
    client: IpAddr,
    request_id: &str,
) -> Handled {
    let path = route.config.path.as_str();
    let refuse = |refusal: Refusal| {
        refusal.count(&shared.metrics, path);
        Handled::refused(&refusal, request_id)
    };
    if request.method() != Method::POST {
        return refuse(Refusal::Method);
    }
    let Ok(_permit) = shared.requests.clone().try_acquire_owned() else {
        return refuse(Refusal::Busy);
    };
    if !shared.ready.load(Ordering::SeqCst) {
        return refuse(Refusal::ShuttingDown);
    }
    if let Some(wait) = shared.throttle.blocked(client) {
        return refuse(Refusal::Throttled { wait });
    }
    let Some(_client_slot) = shared.clients.take(client) else {
        return refuse(Refusal::ClientBusy);
    };
    let Ok(_route_permit) = route.requests.clone().try_acquire_owned() else {
        return refuse(Refusal::RouteBusy);
    };
    let state = route.current();
    let denied = |reason: Denied| {
        if reason != Denied::Replayed {
            shared.throttle.failed(client);
        }
        refuse(Refusal::Unauthenticated(reason))
    };
    let (parts, body) = request.into_parts();
    let inbound = |body: &[u8]| {
        let now = unix_now();
        state.check.verify(&Inbound {
            method: &parts.method,
            headers: &parts.headers,
            body,
            now,
        })
    };
    // What can be checked without the body is checked before reading it.
    let early = if state.check.needs_body() {
        None
    } else {
        match inbound(b"") {
            Ok(verified) => Some(verified),
            Err(reason) => return denied(reason),
        }
    };
    let limits = &shared.config.limits;
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body_bytes as u64) {
        return refuse(Refusal::TooLarge);
    }
    let body = match tokio::time::timeout(
        Duration::from_millis(limits.body_timeout_ms),
        Limited::new(body, limits.max_body_bytes).collect(),
    )
    .await
    {
        Err(_) => {
            // A body that does not come holds a slot: it counts against
            // the client like a failed check.
            shared.throttle.failed(client);
            return refuse(Refusal::BodyTimeout);
        }
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return refuse(Refusal::TooLarge);
        }
        Ok(Err(_)) => return refuse(Refusal::Body),
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    let verified = match early {
        Some(verified) => verified,
        None => match inbound(&body) {
            Ok(verified) => verified,
            Err(reason) => return denied(reason),
        },
    };
    if let Some((id, window)) = &verified.replay {
        match route.replay.take(id, *window) {
            Taken::Fresh => {}
            Taken::Seen => return denied(Denied::Replayed),
            Taken::Full(wait) => {
                return refuse(Refusal::ReplayFull {
                    wait: seconds(wait),
                });
            }
        }
    }
    let handled = if route.config.is_queued() {
        super::queued::accept(shared, route, &state, &parts.headers, body, request_id).await
    } else {
        super::direct::forward(shared, route, &state, body, request_id).await
    };
    // An id stays taken unless the sender is asked to retry.
    if let Some((id, _)) = &verified.replay
        && handled.response.status().is_server_error()
    {
        route.replay.release(id);
    }
    handled
}

fn new_request_id() -> String {
    let mut bytes = [0u8; 12];
    if getrandom::fill(&mut bytes).is_err() {
        // No randomness: fall back to the clock (ids need only be unique).
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        bytes.copy_from_slice(&nanos.to_le_bytes()[..12]);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
