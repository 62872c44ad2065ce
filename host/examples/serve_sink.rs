//! A loopback upstream for the proxy benchmarks: answers every request
//! `200 {}` after reading its body, on all cores.
//!
//! `cargo run --release -p leadfilter --example serve_sink` prints the
//! address it listens on (`127.0.0.1:PORT`) and serves until killed.
//! `benches/serve.sh` runs it for the "Proxy" section of `BENCHMARKS.md`.
//!
//! For the soak (`benches/soak.sh`): with `SINK_FAIL_EVERY=N` one request
//! in N (picked by a hash of its number) is answered 503 instead, and `GET /stats` answers
//! `{"requests", "failed", "delivered_keys", "duplicates"}`: the distinct
//! `Idempotency-Key`s of the requests it took (2xx), and how many of those
//! came more than once.

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Response, StatusCode};
use hyper_util::rt::TokioIo;

#[derive(Default)]
struct Counts {
    requests: AtomicU64,
    failed: AtomicU64,
    duplicates: AtomicU64,
    keys: Mutex<HashSet<String>>,
}

/// SplitMix64's finaliser: a well-spread hash of a counter.
fn mix(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let fail_every: u64 = std::env::var("SINK_FAIL_EVERY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let counts = Arc::new(Counts::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("{}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let counts = counts.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(
                move |request: hyper::Request<hyper::body::Incoming>| {
                    let counts = counts.clone();
                    async move {
                        if request.method() == Method::GET && request.uri().path() == "/stats" {
                            let keys = counts.keys.lock().map_or(0, |k| k.len());
                            let body = format!(
                                r#"{{"requests":{},"failed":{},"delivered_keys":{keys},"duplicates":{}}}"#,
                                counts.requests.load(Ordering::SeqCst),
                                counts.failed.load(Ordering::SeqCst),
                                counts.duplicates.load(Ordering::SeqCst),
                            );
                            return Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(
                                body,
                            ))));
                        }
                        let key = request
                            .headers()
                            .get("idempotency-key")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned);
                        let _ = request.into_body().collect().await;
                        let n = counts.requests.fetch_add(1, Ordering::SeqCst) + 1;
                        // One request in `fail_every`, picked by a hash of
                        // its number: not every third in turn, which would
                        // keep failing the same one of retries that come
                        // in step.
                        if fail_every > 0 && mix(n).is_multiple_of(fail_every) {
                            counts.failed.fetch_add(1, Ordering::SeqCst);
                            let mut response = Response::new(Full::new(Bytes::from_static(b"{}")));
                            *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                            return Ok(response);
                        }
                        if let (Some(key), Ok(mut keys)) = (key, counts.keys.lock())
                            && !keys.insert(key)
                        {
                            counts.duplicates.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(Response::new(Full::new(Bytes::from_static(b"{}"))))
                    }
                },
            );
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
