//! What the proxy answers: JSON bodies, and [`Refusal`], the one type that
//! decides a refused request's status, `error` and `kind`, `Retry-After`,
//! metric and access-log outcome. Handlers return a `Refusal`; nothing else
//! picks a status code. No answer holds a value from a lead or from the
//! upstream's answer.

use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use hyper::{Response, StatusCode};
use serde_json::{Value, json};

use super::auth::Denied;
use super::metrics::Metrics;
use super::upstream::UpstreamError;

/// A JSON answer with the request id in its `X-Request-Id` header.
pub(super) fn answer(status: StatusCode, request_id: &str, body: Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-request-id", id);
    }
    response
}

/// Why a request was not served as asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Refusal {
    /// No route for the path (404).
    NoRoute,
    /// Not `POST` (405).
    Method,
    /// Too many requests at once in the proxy (503).
    Busy,
    /// Too many requests at once from this client address (503).
    ClientBusy,
    /// Too many requests at once on this route (503).
    RouteBusy,
    /// Shutting down (503).
    ShuttingDown,
    /// Too many failed checks from this address (429).
    Throttled {
        /// Seconds until the window ends.
        wait: u64,
    },
    /// The inbound check failed (401).
    Unauthenticated(Denied),
    /// The body is over the limit (413).
    TooLarge,
    /// The body came too slowly (408).
    BodyTimeout,
    /// The body could not be read (400).
    Body,
    /// The replay cache is full of ids inside their window (503): retry.
    ReplayFull {
        /// Seconds until room frees up.
        wait: u64,
    },
    /// The policy refused the lead or could not filter it: 422 for the
    /// lead's doing (a failure, or a sandbox limit), 500 for the proxy's.
    Filter {
        /// The failure kind.
        kind: &'static str,
        /// The paths it names.
        paths: Vec<String>,
        /// Whether it is the lead's doing.
        lead_fault: bool,
    },
    /// The upstream did not take the lead (502, 503 or 504).
    Upstream(UpstreamError),
    /// A queued route's store could not take the filtered leads (503): the
    /// lead is not accepted; the sender retries.
    StoreUnavailable,
}

impl Refusal {
    /// The status code.
    pub(super) fn status(&self) -> StatusCode {
        match self {
            Refusal::NoRoute => StatusCode::NOT_FOUND,
            Refusal::Method => StatusCode::METHOD_NOT_ALLOWED,
            Refusal::Busy
            | Refusal::ClientBusy
            | Refusal::RouteBusy
            | Refusal::ShuttingDown
            | Refusal::ReplayFull { .. }
            | Refusal::StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Refusal::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            Refusal::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Refusal::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Refusal::Body => StatusCode::BAD_REQUEST,
            Refusal::Filter { lead_fault, .. } => {
                if *lead_fault {
                    StatusCode::UNPROCESSABLE_ENTITY
                } else {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            }
            Refusal::Upstream(error) => match error {
                UpstreamError::Timeout => StatusCode::GATEWAY_TIMEOUT,
                // The upstream asked for time: so does the proxy.
                UpstreamError::Status {
                    retry_after: Some(_),
                    ..
                } => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::BAD_GATEWAY,
            },
        }
    }

    /// The `error` of the JSON answer, which is also the access log's
    /// outcome detail.
    pub(super) fn error(&self) -> &'static str {
        match self {
            Refusal::NoRoute => "no-route",
            Refusal::Method => "method",
            Refusal::Busy => "busy",
            Refusal::ClientBusy => "client-busy",
            Refusal::RouteBusy => "route-busy",
            Refusal::ShuttingDown => "shutting-down",
            Refusal::Throttled { .. } => "throttled",
            Refusal::Unauthenticated(_) => "unauthenticated",
            Refusal::TooLarge => "too-large",
            Refusal::BodyTimeout => "body-timeout",
            Refusal::Body => "body",
            Refusal::ReplayFull { .. } => "replay-cache-full",
            Refusal::Filter { .. } => "filter",
            Refusal::Upstream(error) => error.kind(),
            Refusal::StoreUnavailable => "store-unavailable",
        }
    }

    /// The access log's `outcome`.
    pub(super) fn outcome(&self) -> &'static str {
        match self {
            Refusal::Filter { .. } => "rejected",
            Refusal::Upstream(_) => "upstream-error",
            other => other.error(),
        }
    }

    /// The access log's `detail`: the check's reason, the failure kind or
    /// the upstream's error.
    pub(super) fn detail(&self) -> Option<&'static str> {
        match self {
            Refusal::Unauthenticated(reason) => Some(reason.reason()),
            Refusal::Filter { kind, .. } => Some(kind),
            Refusal::Upstream(error) => Some(error.kind()),
            _ => None,
        }
    }

    /// Seconds the sender should wait before retrying, if it should.
    pub(super) fn retry_after(&self) -> Option<u64> {
        match self {
            Refusal::Busy | Refusal::ClientBusy | Refusal::RouteBusy | Refusal::ShuttingDown => {
                Some(1)
            }
            Refusal::Throttled { wait } | Refusal::ReplayFull { wait } => Some(*wait),
            Refusal::StoreUnavailable => Some(5),
            Refusal::Upstream(UpstreamError::Status { retry_after, .. }) => *retry_after,
            _ => None,
        }
    }

    /// Counts the refusal in its metric. Filter and upstream failures are
    /// counted where they happen (with their timings).
    pub(super) fn count(&self, metrics: &Metrics, route: &str) {
        match self {
            Refusal::Throttled { .. } => metrics.auth_failure(route, "throttled"),
            Refusal::Unauthenticated(reason) => metrics.auth_failure(route, reason.reason()),
            Refusal::Filter { kind, .. } => metrics.filter_failure(route, kind),
            Refusal::NoRoute | Refusal::Method | Refusal::Upstream(_) => {}
            other => metrics.refusal(route, other.error()),
        }
    }

    /// The answer to the sender.
    pub(super) fn response(&self, request_id: &str) -> Response<Full<Bytes>> {
        let body = match self {
            Refusal::Filter { kind, paths, .. } => {
                json!({"request_id": request_id, "error": "filter", "kind": kind, "paths": paths})
            }
            other => json!({"request_id": request_id, "error": other.error()}),
        };
        let mut response = answer(self.status(), request_id, body);
        let headers = response.headers_mut();
        if let Some(seconds) = self.retry_after() {
            headers.insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        if *self == Refusal::Method {
            headers.insert(ALLOW, HeaderValue::from_static("POST"));
        }
        response
    }
}

/// Whole seconds to wait, at least one.
pub(super) fn seconds(wait: Duration) -> u64 {
    wait.as_secs().max(1)
}
