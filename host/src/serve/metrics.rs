//! Prometheus metrics (OpenMetrics text at `/metrics`). Labels are route
//! paths, status codes and failure kinds: never a value from a lead.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The content type of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteStatus {
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteKind {
    route: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteReason {
    route: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteOnly {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteState {
    route: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteOutcome {
    route: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteAttempt {
    route: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReloadResult {
    result: String,
}

fn duration_histogram() -> Histogram {
    // 100 µs to ~13 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 18))
}

/// Every metric the proxy keeps.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RouteStatus, Counter>,
    filter_failures: Family<RouteKind, Counter>,
    auth_failures: Family<RouteReason, Counter>,
    refusals: Family<RouteReason, Counter>,
    filter_seconds: Family<RouteOnly, Histogram, fn() -> Histogram>,
    upstream_seconds: Family<RouteOnly, Histogram, fn() -> Histogram>,
    reloads: Family<ReloadResult, Counter>,
    in_flight: Gauge,
    queue_depth: Family<RouteState, Gauge>,
    queue_oldest: Family<RouteOnly, Gauge>,
    deliveries: Family<RouteOutcome, Counter>,
    attempts: Family<RouteAttempt, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("leadfilter");
        let requests = Family::<RouteStatus, Counter>::default();
        registry.register(
            "requests",
            "Requests answered, by route and status code",
            requests.clone(),
        );
        let filter_failures = Family::<RouteKind, Counter>::default();
        registry.register(
            "filter_failures",
            "Leads the policy refused or could not filter, by failure kind",
            filter_failures.clone(),
        );
        let auth_failures = Family::<RouteReason, Counter>::default();
        registry.register(
            "auth_failures",
            "Requests that failed the inbound check, by reason (missing, invalid, expired, replayed, throttled)",
            auth_failures.clone(),
        );
        let refusals = Family::<RouteReason, Counter>::default();
        registry.register(
            "refusals",
            "Requests refused before the filter for the proxy's own limits, by reason (busy, client-busy, route-busy, shutting-down, too-large, body-timeout, body, replay-cache-full, store-unavailable)",
            refusals.clone(),
        );
        let filter_seconds: Family<RouteOnly, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(duration_histogram);
        registry.register(
            "filter_duration_seconds",
            "Time to filter one lead in a fresh policy instance",
            filter_seconds.clone(),
        );
        let upstream_seconds: Family<RouteOnly, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(duration_histogram);
        registry.register(
            "upstream_duration_seconds",
            "Time for the upstream to take a filtered lead",
            upstream_seconds.clone(),
        );
        let reloads = Family::<ReloadResult, Counter>::default();
        registry.register(
            "reloads",
            "Policy reloads, by result (ok, failed)",
            reloads.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "requests_in_flight",
            "Requests being handled",
            in_flight.clone(),
        );
        let queue_depth = Family::<RouteState, Gauge>::default();
        registry.register(
            "queue_depth",
            "Queued deliveries, by route and state (pending, dead)",
            queue_depth.clone(),
        );
        let queue_oldest = Family::<RouteOnly, Gauge>::default();
        registry.register(
            "queue_oldest_seconds",
            "Age of the oldest pending delivery, by route",
            queue_oldest.clone(),
        );
        let deliveries = Family::<RouteOutcome, Counter>::default();
        registry.register(
            "deliveries",
            "Queued deliveries finished, by outcome (delivered, dead, duplicate)",
            deliveries.clone(),
        );
        let attempts = Family::<RouteAttempt, Counter>::default();
        registry.register(
            "delivery_attempts",
            "Delivery attempts, by the upstream's status (or not-sent, unknown)",
            attempts.clone(),
        );
        Metrics {
            queue_depth,
            queue_oldest,
            deliveries,
            attempts,
            registry,
            requests,
            filter_failures,
            auth_failures,
            refusals,
            filter_seconds,
            upstream_seconds,
            reloads,
            in_flight,
        }
    }
}

impl Metrics {
    /// A route's queue: pending and dead deliveries, and the age of the
    /// oldest pending one.
    pub fn queue(&self, route: &str, pending: u64, dead: u64, oldest_seconds: u64) {
        for (state, count) in [("pending", pending), ("dead", dead)] {
            self.queue_depth
                .get_or_create(&RouteState {
                    route: route.to_owned(),
                    state: state.to_owned(),
                })
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
        self.queue_oldest
            .get_or_create(&RouteOnly {
                route: route.to_owned(),
            })
            .set(i64::try_from(oldest_seconds).unwrap_or(i64::MAX));
    }

    /// A queued delivery finished: `delivered`, `dead` or `duplicate`.
    pub fn delivery(&self, route: &str, outcome: &str) {
        self.deliveries
            .get_or_create(&RouteOutcome {
                route: route.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// A delivery attempt ended with `status`.
    pub fn attempt(&self, route: &str, status: &str) {
        self.attempts
            .get_or_create(&RouteAttempt {
                route: route.to_owned(),
                status: status.to_owned(),
            })
            .inc();
    }

    /// A request was answered.
    pub fn request(&self, route: &str, status: u16) {
        self.requests
            .get_or_create(&RouteStatus {
                route: route.to_owned(),
                status,
            })
            .inc();
    }

    /// A lead failed the filter.
    pub fn filter_failure(&self, route: &str, kind: &str) {
        self.filter_failures
            .get_or_create(&RouteKind {
                route: route.to_owned(),
                kind: kind.to_owned(),
            })
            .inc();
    }

    /// A request failed the inbound check.
    pub fn auth_failure(&self, route: &str, reason: &str) {
        self.auth_failures
            .get_or_create(&RouteReason {
                route: route.to_owned(),
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// A request was refused for one of the proxy's own limits.
    pub fn refusal(&self, route: &str, reason: &str) {
        self.refusals
            .get_or_create(&RouteReason {
                route: route.to_owned(),
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// Time spent filtering one lead.
    pub fn filter_time(&self, route: &str, seconds: f64) {
        self.filter_seconds
            .get_or_create(&RouteOnly {
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    /// Time spent on the upstream.
    pub fn upstream_time(&self, route: &str, seconds: f64) {
        self.upstream_seconds
            .get_or_create(&RouteOnly {
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    /// A reload ended.
    pub fn reload(&self, ok: bool) {
        self.reloads
            .get_or_create(&ReloadResult {
                result: if ok { "ok" } else { "failed" }.to_owned(),
            })
            .inc();
    }

    /// The in-flight gauge.
    pub fn in_flight(&self) -> &Gauge {
        &self.in_flight
    }

    /// The OpenMetrics text.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}
