//! What the serve tests share: a recording upstream, a proxy started on a
//! test configuration, requests and the leak checks.

pub use std::net::SocketAddr;
pub use std::path::{Path, PathBuf};
pub use std::sync::{Arc, Mutex, OnceLock};
pub use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use base64::Engine as _;
pub use base64::engine::general_purpose::{STANDARD as BASE64, URL_SAFE_NO_PAD as BASE64URL};
pub use hmac::{Hmac, Mac};
pub use http_body_util::{BodyExt, Full};
pub use hyper::body::{Bytes, Incoming};
pub use hyper::{Request, Response};
pub use hyper_util::client::legacy::Client;
pub use hyper_util::client::legacy::connect::HttpConnector;
pub use hyper_util::rt::{TokioExecutor, TokioIo};
pub use leadfilter::compile::{CompileOptions, Compiler};
pub use leadfilter::runtime::CacheSetting;
pub use leadfilter::serve::log::{Logs, Sink};
pub use leadfilter::serve::{Config, ServeOptions, Server};
pub use leadfilter_engine::Policy;
pub use sha2::Sha256;
pub use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Values of the test lead that must never leave the proxy.
pub const PII: [&str; 4] = [
    "ada.marker@example.com",
    "Lovelace-Marker",
    "+1 555 0100 777",
    "4111 1111 1111 1111",
];

pub fn lead(name: &str) -> String {
    format!(
        r#"{{"first_name":"{name}","last_name":"Lovelace-Marker","email":"ada.marker@example.com","phone":"+1 555 0100 777","notes":"card 4111 1111 1111 1111","consent":true}}"#
    )
}

pub const NO_CONSENT: &str =
    r#"{"first_name":"Ada","email":"ada.marker@example.com","consent":false}"#;

pub fn policy_json(version: &str, keep_first_name: bool) -> String {
    format!(
        r#"{{
        "apiVersion": "leadfilter/v1",
        "name": "serve-test",
        "version": "{version}",
        "secrets": ["pepper"],
        "require": [{{ "path": "/consent", "equals": true, "reason": "no consent" }}],
        "fields": {{
            "/email": {{ "hash": {{ "key": "pepper" }} }},
            {}
            "/notes": {{ "scrub": {{}} }},
            "/consent": "keep"
        }}
    }}"#,
        if keep_first_name {
            r#""/first_name": "keep","#
        } else {
            ""
        }
    )
}

pub fn cache() -> CacheSetting {
    CacheSetting::Directory(Path::new(env!("CARGO_TARGET_TMPDIR")).join("wasmtime-cache"))
}

/// The test policies, compiled once per test run (and cached on disk).
pub fn policy_file(version: u8) -> PathBuf {
    static FILES: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    let (v1, v2) = FILES.get_or_init(|| {
        let compiler = Compiler::new(&CompileOptions { cache: cache() }).unwrap();
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve");
        std::fs::create_dir_all(&dir).unwrap();
        let mut paths = Vec::new();
        for (v, keep) in [("1.0.0", true), ("2.0.0", false)] {
            let canonical = Policy::from_json(policy_json(v, keep).as_bytes())
                .unwrap()
                .canonical_json();
            let wasm = compiler.compile(&canonical).unwrap();
            let path = dir.join(format!("policy-{v}.wasm"));
            let tmp = dir.join(format!("policy-{v}.wasm.{}", std::process::id()));
            std::fs::write(&tmp, wasm).unwrap();
            std::fs::rename(&tmp, &path).unwrap();
            paths.push(path);
        }
        (paths[0].clone(), paths[1].clone())
    });
    if version == 1 { v1.clone() } else { v2.clone() }
}

/// Bounds every wait in these tests.
pub async fn within<F: std::future::Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(60), future)
        .await
        .expect("the test timed out")
}

// ---------------------------------------------------------------- upstream

#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: hyper::HeaderMap,
    pub body: String,
}

#[derive(Debug, Clone)]
pub struct Mode {
    pub status: u16,
    pub delay: Duration,
    /// A `Retry-After` to answer with.
    pub retry_after: Option<&'static str>,
}

/// A real HTTP server that records every request.
#[derive(Clone)]
pub struct Upstream {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<Received>>>,
    pub mode: Arc<Mutex<Mode>>,
}

impl Upstream {
    pub async fn start() -> Upstream {
        Upstream::start_with(None).await
    }

    /// With TLS when an acceptor is given.
    pub async fn start_with(tls: Option<tokio_rustls::TlsAcceptor>) -> Upstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = Upstream {
            addr: listener.local_addr().unwrap(),
            received: Arc::default(),
            mode: Arc::new(Mutex::new(Mode {
                status: 200,
                delay: Duration::ZERO,
                retry_after: None,
            })),
        };
        let server = upstream.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let server = server.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                        let server = server.clone();
                        async move {
                            let path = request.uri().path().to_owned();
                            let headers = request.headers().clone();
                            let body = request.into_body().collect().await?.to_bytes();
                            let body = String::from_utf8_lossy(&body).into_owned();
                            let mode = server.mode.lock().unwrap().clone();
                            server.received.lock().unwrap().push(Received {
                                path: path.clone(),
                                headers,
                                body,
                            });
                            tokio::time::sleep(mode.delay).await;
                            let answer = if path == "/token" {
                                r#"{"access_token":"tok-1","token_type":"Bearer","expires_in":3600}"#
                            } else {
                                // An answer that would leak if passed back.
                                r#"{"echo":"ada.marker@example.com"}"#
                            };
                            let mut response = Response::new(Full::new(Bytes::from(answer)));
                            *response.status_mut() =
                                hyper::StatusCode::from_u16(mode.status).unwrap();
                            if let Some(wait) = mode.retry_after {
                                response.headers_mut().insert(
                                    "retry-after",
                                    hyper::header::HeaderValue::from_static(wait),
                                );
                            }
                            Ok::<_, hyper::Error>(response)
                        }
                    });
                    let builder = hyper::server::conn::http1::Builder::new();
                    match tls {
                        Some(acceptor) => {
                            let Ok(stream) = acceptor.accept(stream).await else {
                                return;
                            };
                            let _ = builder
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        }
                        None => {
                            let _ = builder
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        }
                    }
                });
            }
        });
        upstream
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    pub fn set(&self, status: u16, delay: Duration) {
        *self.mode.lock().unwrap() = Mode {
            status,
            delay,
            retry_after: None,
        };
    }

    /// Answers `status` with `Retry-After: wait`.
    pub fn set_retry_after(&self, status: u16, wait: &'static str) {
        *self.mode.lock().unwrap() = Mode {
            status,
            delay: Duration::ZERO,
            retry_after: Some(wait),
        };
    }

    /// Everything that arrived, whatever its path.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    pub fn hooks(&self) -> Vec<Received> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == "/hook")
            .cloned()
            .collect()
    }

    /// Nothing unfiltered ever arrived.
    pub fn assert_clean(&self) {
        for received in self.received.lock().unwrap().iter() {
            for value in PII {
                assert!(
                    !received.body.contains(value),
                    "the upstream received a raw value: {}",
                    received.body
                );
            }
        }
    }
}

// ------------------------------------------------------------------ proxy

pub struct Proxy {
    pub server: Option<Server>,
    pub addr: SocketAddr,
    pub upstream: Upstream,
    pub logs: Arc<Mutex<Vec<u8>>>,
    pub _dir: tempfile::TempDir,
}

/// Secrets, each in a file of the test's directory.
pub const SECRETS: [(&str, &str); 6] = [
    ("pepper", "pepper-value-for-tests"),
    ("key-old", "old-api-key-for-tests"),
    ("key-new", "new-api-key-for-tests"),
    ("signing", "hmac-signing-key"),
    ("whsec", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
    ("up-token", "upstream-token-value"),
];

pub struct Buffer(pub Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Starts a proxy with one route at `/hook` with this `auth:` (YAML) and
/// more top-level configuration.
pub async fn start(auth: &str, extra: &str) -> Proxy {
    start_with(auth, extra, &policy_file(1)).await
}

pub async fn start_with(auth: &str, extra: &str, policy: &Path) -> Proxy {
    start_with_limits(auth, extra, "", policy).await
}

/// As [`start_with`], with more `limits:` (`key: value, ...`).
pub async fn start_with_limits(auth: &str, extra: &str, limits: &str, policy: &Path) -> Proxy {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut secrets = String::from("secrets:\n");
    for (name, value) in SECRETS {
        let path = dir.path().join(name);
        std::fs::write(&path, value).unwrap();
        secrets.push_str(&format!("  {name}: file:{}\n", path.display()));
    }
    let text = format!(
        r#"
listen: 127.0.0.1:0
{secrets}
limits: {{ body_timeout_ms: 1000, header_timeout_ms: 1000, upstream_timeout_ms: 2000, max_body_bytes: 4096, {limits} }}
{extra}
routes:
  - path: /hook
    policy: {policy}
    auth: {auth}
    upstream:
      url: {url}
      allow_http_loopback: true
      headers:
        - {{ name: Authorization, secret: up-token, prefix: "Bearer " }}
        - {{ name: X-Source, value: leadfilter }}
"#,
        policy = policy.display(),
        url = upstream.url(),
        limits = if limits.is_empty() {
            "shutdown_grace_ms: 10000"
        } else {
            limits
        },
    );
    let (server, logs) = serve_logged(&text, dir.path()).await;
    Proxy {
        addr: server.local_addr(),
        server: Some(server),
        upstream,
        logs,
        _dir: dir,
    }
}

/// A proxy on a configuration text, logging into a buffer.
pub async fn serve_logged(text: &str, dir: &Path) -> (Server, Arc<Mutex<Vec<u8>>>) {
    let config = Config::from_yaml(text, Path::new("test.yaml"), dir)
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    let logs = Arc::new(Mutex::new(Vec::new()));
    let sink = Sink::Writer(Arc::new(Mutex::new(Buffer(logs.clone()))));
    let server = within(Server::start(
        config,
        ServeOptions {
            cache: cache(),
            logs: Some(Logs {
                access: sink.clone(),
                audit: sink.clone(),
                events: sink,
            }),
        },
    ))
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    (server, logs)
}

/// Starts a proxy on a configuration text, with its logs off.
pub async fn serve_quietly(text: &str, dir: &Path) -> Server {
    let config =
        Config::from_yaml(text, Path::new("t.yaml"), dir).unwrap_or_else(|e| panic!("{e}"));
    let quiet = Logs {
        access: Sink::Off,
        audit: Sink::Off,
        events: Sink::Off,
    };
    within(Server::start(
        config,
        ServeOptions {
            cache: cache(),
            logs: Some(quiet),
        },
    ))
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

pub struct Answer {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: String,
}

pub async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &str,
) -> Answer {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut request = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let request = request
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    let response = within(client.request(request)).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = within(response.into_body().collect())
        .await
        .unwrap()
        .to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

impl Proxy {
    pub async fn post(&self, headers: &[(&str, String)], body: &str) -> Answer {
        let answer = send(self.addr, "POST", "/hook", headers, body).await;
        for value in PII {
            assert!(
                !answer.body.contains(value),
                "an answer leaked: {}",
                answer.body
            );
        }
        answer
    }

    pub async fn get(&self, path: &str) -> Answer {
        send(self.addr, "GET", path, &[], "").await
    }

    pub fn logs(&self) -> String {
        String::from_utf8(self.logs.lock().unwrap().clone()).unwrap()
    }

    /// Nothing unfiltered reached the upstream, the logs or the metrics.
    pub async fn assert_clean(&self) {
        self.upstream.assert_clean();
        let logs = self.logs();
        let metrics = self.get("/metrics").await.body;
        for value in PII.iter().chain(SECRETS.iter().map(|(_, v)| v)) {
            assert!(!logs.contains(value), "the logs hold a value: {logs}");
            assert!(!metrics.contains(value), "the metrics hold a value");
        }
        for line in logs.lines() {
            serde_json::from_str::<serde_json::Value>(line).expect("every log line is JSON");
        }
    }

    pub async fn stop(mut self) {
        self.assert_clean().await;
        if let Some(server) = self.server.take() {
            within(server.shutdown()).await;
        }
    }
}

pub fn api_key(key: &str) -> Vec<(&'static str, String)> {
    vec![("x-api-key", key.to_owned())]
}

pub const API_KEY: &str = "{ type: api-key, keys: [key-old, key-new] }";

pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub fn standard_webhook(id: &str, timestamp: u64, body: &str) -> Vec<(&'static str, String)> {
    let key = BASE64.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let signature = BASE64.encode(hmac_sha256(
        &key,
        &[format!("{id}.{timestamp}.").as_bytes(), body.as_bytes()],
    ));
    vec![
        ("webhook-id", id.to_owned()),
        ("webhook-timestamp", timestamp.to_string()),
        // A signature from a rotated-out key first, then the good one.
        ("webhook-signature", format!("v1,Zm9vYmFy v1,{signature}")),
    ]
}

/// Why the server refuses to start with `config`.
pub async fn start_error(config: Config) -> String {
    Server::start(
        config,
        ServeOptions {
            cache: cache(),
            logs: None,
        },
    )
    .await
    .unwrap_err()
    .to_string()
}

/// An ES256 key pair as a JWKS and a signing key.
pub fn jwt_keys(dir: &Path) -> (PathBuf, jsonwebtoken::EncodingKey) {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let point = pair.public_key_raw();
    assert_eq!(point.len(), 65);
    let jwks = serde_json::json!({"keys": [{
        "kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig",
        "x": BASE64URL.encode(&point[1..33]),
        "y": BASE64URL.encode(&point[33..]),
    }]});
    let path = dir.join("jwks.json");
    std::fs::write(&path, jwks.to_string()).unwrap();
    (
        path,
        jsonwebtoken::EncodingKey::from_ec_der(&pair.serialize_der()),
    )
}

pub fn token(key: &jsonwebtoken::EncodingKey, aud: &str, exp: u64) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some("k1".into());
    let claims =
        serde_json::json!({"iss": "https://issuer.test", "aud": aud, "exp": exp, "sub": "form"});
    jsonwebtoken::encode(&header, &claims, key).unwrap()
}
