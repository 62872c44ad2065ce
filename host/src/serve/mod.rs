//! `leadfilter serve`: a webhook proxy that fails closed.
//!
//! Each route checks that a webhook comes from who it claims to
//! ([`auth`]), filters the lead with the route's policy in a fresh
//! component instance, and forwards only the filtered lead to the upstream
//! ([`upstream`]). Whatever goes wrong, nothing unfiltered is forwarded:
//!
//! | what | answer |
//! | --- | --- |
//! | no route for the path | 404 |
//! | not `POST` | 405 |
//! | body over `limits.max_body_bytes` | 413 |
//! | body slower than `limits.body_timeout_ms` | 408 |
//! | the inbound check fails | 401 (never filtered) |
//! | too many check failures (or slow bodies) from one address | 429 |
//! | the policy refuses the lead | 422 with the failure kind (never forwarded) |
//! | the upstream is unreachable or answers non-2xx | 502 (the sender retries) |
//! | the upstream answers 429 or 503 with `Retry-After` | 503 with that `Retry-After` |
//! | the upstream is too slow | 504 (the sender retries) |
//! | too many requests at once (in all, on the route, from the address), the replay cache full, or shutting down | 503 with `Retry-After` |
//! | a queued route: the filtered leads are stored | 202 with the delivery ids |
//! | a queued route: the store cannot take them | 503 `store-unavailable` |
//!
//! The rooms: [`server`] (lifecycle, listening, reload, shutdown),
//! `routes` (what a route loads, its share), `pipeline` (one request, up
//! to the filter), `filtering` (one target's filter run and audit line),
//! `direct` (forwarding while the sender waits), `queued` (storing for
//! later, duplicates, fan-out), `deliverer` (attempts from the store),
//! `answer` (the one refusal type), [`auth`] (one file per inbound scheme),
//! [`upstream`], [`config`], [`log`], [`metrics`].
//!
//! Answers are JSON (`{"request_id": ..., "error": ..., "kind": ...}`) and
//! never hold a value from the lead or the upstream's answer.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use leadfilter::serve::{Config, ServeOptions, Server};
//!
//! let config = Config::from_file("serve.yaml".as_ref())?;
//! let server = Server::start(config, ServeOptions::default()).await?;
//! println!("listening on {}", server.local_addr());
//! server.shutdown().await;
//! # Ok(()) }
//! ```

pub mod auth;
pub mod config;
pub mod log;
pub mod metrics;
pub mod server;
pub mod upstream;

mod answer;
mod deliverer;
mod direct;
mod filtering;
mod pipeline;
mod queued;
mod routes;
mod shared;

pub use config::{Config, ConfigError};
pub use server::{Reloaded, ServeError, ServeOptions, Server};
