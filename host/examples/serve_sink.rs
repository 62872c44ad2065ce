//! A loopback upstream for the proxy benchmark: answers every request
//! `200 {}` after reading its body, on all cores.
//!
//! `cargo run --release -p leadfilter --example serve_sink` prints the
//! address it listens on (`127.0.0.1:PORT`) and serves until killed.
//! `benches/serve.sh` runs it for the "Proxy" section of `BENCHMARKS.md`.

use std::convert::Infallible;

use http_body_util::{BodyExt, Full};
use hyper::Response;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("{}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(
                |request: hyper::Request<hyper::body::Incoming>| async move {
                    let _ = request.into_body().collect().await;
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"{}"))))
                },
            );
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
