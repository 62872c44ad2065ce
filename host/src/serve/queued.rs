//! `delivery.mode: queued` and `destinations` (SPEC §8): every target's
//! policy filters the raw lead in its own fresh instance, the filtered
//! leads are stored together (all or none), and only then does the sender
//! hear 202. The deliverer ([`super::deliverer`]) takes it from there.

use std::sync::Arc;

use hyper::body::Bytes;
use hyper::{HeaderMap, StatusCode};
use serde_json::{Map, Value, json};

use super::answer::{Refusal, answer};
use super::config::{DedupConfig, DedupFrom};
use super::filtering::{self, Refused, audit};
use super::pipeline::Handled;
use super::routes::{Route, RouteState};
use super::shared::Shared;
use crate::delivery::schedule::{millis, now_millis};
use crate::delivery::store::new_delivery_id;
use crate::delivery::{Accepted, Dedup, NewDelivery, Payload};

/// Filters the lead for every target and stores what passed; answers 202
/// with the delivery ids, 200 for a duplicate, 503 when the store cannot
/// take it.
pub(super) async fn accept(
    shared: &Arc<Shared>,
    route: &Route,
    state: &Arc<RouteState>,
    headers: &HeaderMap,
    body: Bytes,
    request_id: &str,
) -> Handled {
    let path = route.config.path.as_str();
    let Some(queue) = &shared.queue else {
        // A checked configuration has a store for every queued route.
        return Handled::refused(&Refusal::StoreUnavailable, request_id);
    };
    // Per target, in the order of `state.targets`: its delivery id and
    // change list, or why its policy refused the lead.
    let mut deliveries = Vec::new();
    let mut outcomes: Vec<Result<(String, Vec<Value>), Refused>> = Vec::new();
    for target in &state.targets {
        match filtering::filter(shared, route, target, &body, request_id).await {
            Ok(filtered) => {
                let id = new_delivery_id();
                deliveries.push(NewDelivery {
                    id: id.clone(),
                    route: path.to_owned(),
                    destination: target.name.clone(),
                    payload: Payload {
                        lead: filtered.lead,
                        request_id: request_id.to_owned(),
                    },
                });
                outcomes.push(Ok((id, filtered.changes)));
            }
            Err(refused) => {
                audit(
                    shared,
                    route,
                    target,
                    request_id,
                    json!({"forwarded": false, "queued": false, "failure": refused.kind, "paths": refused.paths}),
                );
                outcomes.push(Err(refused));
            }
        }
    }
    // Each refusal is counted once: here, or (the one the sender hears
    // about when every target refused) by `filter_refused`.
    let refusals = outcomes.iter().filter_map(|o| o.as_ref().err());
    for refused in refusals.skip(usize::from(deliveries.is_empty())) {
        shared.metrics.filter_failure(path, refused.kind);
    }
    if deliveries.is_empty() {
        // Every policy refused the lead: answered as a refused lead (the
        // first target's reason).
        let refused = outcomes
            .into_iter()
            .find_map(Result::err)
            .unwrap_or(Refused {
                kind: "runtime",
                paths: Vec::new(),
                lead_fault: false,
            });
        return Handled::filter_refused(shared, route, refused, request_id);
    }
    let now = now_millis();
    let dedup = route.config.dedup().and_then(|config| {
        let key = duplicate_key(config, headers, &body)?;
        Some(Dedup {
            key: queue.dedup_key(path, &key),
            until: now.saturating_add(millis(config.window)),
        })
    });
    match queue.accept(deliveries, dedup, now).await {
        Ok(Accepted::Stored) => {}
        Ok(Accepted::Duplicate(first)) => {
            shared.metrics.delivery(path, "duplicate");
            return duplicate(route, state, &first, request_id);
        }
        Err(error) => {
            shared.logs.events.write(
                "event",
                json!({"event": "store-error", "route": path, "request_id": request_id, "error": error.to_string()}),
            );
            let refusal = Refusal::StoreUnavailable;
            refusal.count(&shared.metrics, path);
            return Handled::refused(&refusal, request_id);
        }
    }
    shared.deliver.notify_one();
    for (target, outcome) in state.targets.iter().zip(&outcomes) {
        if let Ok((id, changes)) = outcome {
            audit(
                shared,
                route,
                target,
                request_id,
                json!({"forwarded": false, "queued": true, "delivery_id": id, "changes": changes}),
            );
        }
    }
    let body = if route.config.destinations.is_empty() {
        let id = outcomes
            .iter()
            .find_map(|o| o.as_ref().ok())
            .map_or("", |(id, _)| id.as_str());
        json!({"request_id": request_id, "status": "queued", "delivery_id": id})
    } else {
        let mut destinations = Map::new();
        for (target, outcome) in state.targets.iter().zip(&outcomes) {
            let entry = match outcome {
                Ok((id, _)) => json!({"status": "queued", "delivery_id": id}),
                Err(refused) => json!({"status": "refused", "kind": refused.kind}),
            };
            destinations.insert(target.name.clone().unwrap_or_default(), entry);
        }
        json!({"request_id": request_id, "status": "queued", "destinations": destinations})
    };
    Handled {
        response: answer(StatusCode::ACCEPTED, request_id, body),
        outcome: "queued",
        detail: None,
    }
}

/// The answer to a duplicate: the first request's delivery ids.
fn duplicate(
    route: &Route,
    state: &RouteState,
    first: &[(Option<String>, String)],
    request_id: &str,
) -> Handled {
    let body = if route.config.destinations.is_empty() {
        let id = first.first().map(|(_, id)| id.as_str()).unwrap_or("");
        json!({"request_id": request_id, "status": "duplicate", "delivery_id": id})
    } else {
        let mut destinations = Map::new();
        for target in &state.targets {
            let name = target.name.clone().unwrap_or_default();
            let entry = match first.iter().find(|(d, _)| d == &target.name) {
                Some((_, id)) => json!({"status": "duplicate", "delivery_id": id}),
                // The first request's policy refused it for this one.
                None => json!({"status": "duplicate"}),
            };
            destinations.insert(name, entry);
        }
        json!({"request_id": request_id, "status": "duplicate", "destinations": destinations})
    };
    Handled {
        response: answer(StatusCode::OK, request_id, body),
        outcome: "duplicate",
        detail: None,
    }
}

/// A request's duplicate key: the header's value, or the value at the
/// pointer in the raw lead (a string as it is, anything else as its JSON
/// text). A request without one is not deduplicated.
fn duplicate_key(config: &DedupConfig, headers: &HeaderMap, body: &[u8]) -> Option<Vec<u8>> {
    match &config.from {
        DedupFrom::Header(name) => {
            let mut values = headers.get_all(name.as_str()).iter();
            let value = values.next()?;
            // Two values: which one is the key is not clear.
            if values.next().is_some() || value.is_empty() {
                return None;
            }
            Some(value.as_bytes().to_vec())
        }
        DedupFrom::Pointer(pointer) => {
            let lead: Value = serde_json::from_slice(body).ok()?;
            match lead.pointer(pointer)? {
                Value::Null => None,
                Value::String(text) if text.is_empty() => None,
                Value::String(text) => Some(text.as_bytes().to_vec()),
                other => Some(other.to_string().into_bytes()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn duplicate_keys_come_from_a_header_or_a_pointer() {
        let config = |from| DedupConfig {
            from,
            window: Duration::from_secs(60),
        };
        let mut headers = HeaderMap::new();
        headers.insert("webhook-id", "msg_1".parse().unwrap());
        let header = config(DedupFrom::Header("webhook-id".into()));
        assert_eq!(
            duplicate_key(&header, &headers, b"{}"),
            Some(b"msg_1".to_vec())
        );
        assert_eq!(duplicate_key(&header, &HeaderMap::new(), b"{}"), None);
        headers.append("webhook-id", "msg_2".parse().unwrap());
        assert_eq!(duplicate_key(&header, &headers, b"{}"), None);

        let pointer = config(DedupFrom::Pointer("/event/id".into()));
        let key = |body: &str| duplicate_key(&pointer, &HeaderMap::new(), body.as_bytes());
        assert_eq!(key(r#"{"event":{"id":"e-1"}}"#), Some(b"e-1".to_vec()));
        assert_eq!(key(r#"{"event":{"id":17}}"#), Some(b"17".to_vec()));
        assert_eq!(key(r#"{"event":{"id":null}}"#), None);
        assert_eq!(key(r#"{"event":{}}"#), None);
        assert_eq!(key("not json"), None);
    }
}
