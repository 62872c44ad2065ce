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
//! | too many check failures from one address | 429 |
//! | the policy refuses the lead | 422 with the failure kind (never forwarded) |
//! | the upstream is unreachable or answers non-2xx | 502 (the sender retries) |
//! | the upstream is too slow | 504 (the sender retries) |
//! | too many requests at once, or shutting down | 503 |
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
pub mod upstream;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use leadfilter_engine::{Failure, PolicyInfo, Secret};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::compile::{CompileOptions, Compiler};
use crate::runtime::{CacheSetting, LoadedPolicy, Runtime, RuntimeError, RuntimeOptions};
use crate::secrets::{Kind, SecretArg, SecretError, Sources, default_env_var};
pub use config::{Config, ConfigError};
use log::{Logs, Sink};

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A route could not be set up (its policy, secrets, keys or upstream).
    #[error("{key}: {message}")]
    Route {
        /// The route's key in the configuration, e.g. `routes[0]` (`/hooks/a`).
        key: String,
        /// What is wrong.
        message: String,
    },
    /// Something else in the configuration (TLS files, log files, the
    /// runtime).
    #[error("{key}: {message}")]
    Setup {
        /// The configuration key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {error}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        error: std::io::Error,
    },
}

/// What the embedding program may set beyond the configuration file.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Where compiled code is cached.
    pub cache: CacheSetting,
    /// Use these log sinks instead of the configuration's.
    pub logs: Option<Logs>,
}

/// A running proxy.
#[derive(Debug)]
pub struct Server {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// How one route's reload went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloaded {
    /// The route's path.
    pub route: String,
    /// The digest of the policy now in use, or why the new one was refused
    /// (the old one is kept).
    pub result: Result<String, String>,
}

#[derive(Debug)]
struct Shared {
    config: Config,
    loader: Loader,
    routes: BTreeMap<String, Route>,
    metrics: metrics::Metrics,
    logs: Logs,
    throttle: auth::Throttle,
    requests: Arc<Semaphore>,
    filters: Arc<Semaphore>,
    ready: AtomicBool,
    reloading: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
struct Route {
    key: String,
    config: config::RouteConfig,
    state: RwLock<Arc<RouteState>>,
    replay: auth::ReplayCache,
}

/// Everything a route loads from files and secrets: replaced whole on
/// reload.
struct RouteState {
    policy: LoadedPolicy,
    info: PolicyInfo,
    policy_secrets: Vec<Secret>,
    check: auth::Check,
    upstream: upstream::Upstream,
}

impl std::fmt::Debug for RouteState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteState")
            .field("policy", &self.info.name)
            .field("digest", &self.info.digest)
            .finish_non_exhaustive()
    }
}

/// Loads routes: the wasmtime runtime, and a compiler for policy sources.
#[derive(Debug)]
struct Loader {
    runtime: Runtime,
    cache: CacheSetting,
    compiler: OnceLock<Result<Compiler, String>>,
}

impl Loader {
    fn load_route(
        &self,
        config: &Config,
        route: &config::RouteConfig,
    ) -> Result<RouteState, String> {
        let path = config.resolve(&route.policy);
        let is_wasm = path.extension().is_some_and(|e| e == "wasm");
        let component = if is_wasm {
            std::fs::read(&path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?
        } else {
            let loaded = crate::policy::load(&path).map_err(|e| e.to_string())?;
            let compiler = self
                .compiler
                .get_or_init(|| {
                    Compiler::new(&CompileOptions {
                        cache: self.cache.clone(),
                    })
                    .map_err(|e| e.to_string())
                })
                .as_ref()
                .map_err(Clone::clone)?;
            compiler
                .compile(&loaded.policy.canonical_json())
                .map_err(|e| format!("cannot compile `{}`: {e}", path.display()))?
        };
        let policy = self
            .runtime
            .load(&component)
            .map_err(|e| format!("cannot load `{}`: {e}", path.display()))?;
        let info = policy
            .instantiate()
            .and_then(|mut instance| instance.info())
            .map_err(|e| format!("`{}`: {e}", path.display()))?;
        let policy_secrets = info
            .secrets
            .iter()
            .map(|name| {
                read_secret(config, Some(route), name, Kind::PolicyKey).map(|value| Secret {
                    name: name.clone(),
                    value,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut read = |name: &str, kind: Kind| read_secret(config, None, name, kind);
        let read_file = |p: &Path| {
            let p = config.resolve(p);
            std::fs::read(&p).map_err(|e| format!("cannot read `{}`: {e}", p.display()))
        };
        let check = auth::Check::build(&route.auth, &mut read, &read_file)
            .map_err(|e| format!("auth: {e}"))?;
        let upstream = upstream::Upstream::build(
            &route.upstream,
            Duration::from_millis(config.limits.upstream_timeout_ms),
            &mut read,
            &|p| config.resolve(p),
        )
        .map_err(|e| format!("upstream: {e}"))?;
        Ok(RouteState {
            policy,
            info,
            policy_secrets,
            check,
            upstream,
        })
    }
}

/// Reads a named secret from its configured source or the default
/// variable, decoded for its use. Errors name the secret and where it was
/// looked for, never a value.
fn read_secret(
    config: &Config,
    route: Option<&config::RouteConfig>,
    name: &str,
    kind: Kind,
) -> Result<Vec<u8>, String> {
    let source = route
        .and_then(|r| r.policy_secrets.get(name))
        .or_else(|| config.secrets.get(name));
    let sources = Sources::new(source.map(|source| SecretArg {
        name: name.to_owned(),
        source: source.clone(),
    }));
    match sources.read_as(name, kind) {
        Ok(value) => Ok(value),
        Err(SecretError::Missing { .. }) if source.is_none() => Err(format!(
            "secret `{name}` is not set: set the environment variable `{}`, or name its source under `secrets:` (`{name}: env:VARIABLE` or `{name}: file:PATH`)",
            default_env_var(name)
        )),
        Err(e) => Err(e.to_string()),
    }
}

impl Server {
    /// Loads every route (policies, secrets, keys), binds the listener and
    /// starts serving. Fails, naming the configuration key, if anything is
    /// missing.
    pub async fn start(config: Config, options: ServeOptions) -> Result<Server, ServeError> {
        let setup = |key: &str, message: String| ServeError::Setup {
            key: key.to_owned(),
            message,
        };
        let logs = match options.logs {
            Some(logs) => logs,
            None => Logs {
                access: Sink::open(&config.logs.access, &config.base_dir)
                    .map_err(|e| setup("logs.access", e.to_string()))?,
                audit: Sink::open(&config.logs.audit, &config.base_dir)
                    .map_err(|e| setup("logs.audit", e.to_string()))?,
                events: Sink::Stderr,
            },
        };
        let Loaded {
            loader,
            states,
            tls,
            filter_concurrency,
        } = load(&config, options.cache).await?;
        let mut routes = BTreeMap::new();
        for (i, (route, state)) in config.routes.iter().zip(states).enumerate() {
            let tolerance = match route.auth {
                config::AuthConfig::StandardWebhooks {
                    tolerance_seconds, ..
                } => tolerance_seconds,
                _ => 300,
            };
            routes.insert(
                route.path.clone(),
                Route {
                    key: format!("routes[{i}]"),
                    config: route.clone(),
                    state: RwLock::new(Arc::new(state)),
                    replay: auth::ReplayCache::new(Duration::from_secs(
                        tolerance.saturating_mul(2),
                    )),
                },
            );
        }
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|error| ServeError::Bind {
                    addr: config.listen,
                    error,
                })?;
        let local_addr = listener.local_addr().map_err(|error| ServeError::Bind {
            addr: config.listen,
            error,
        })?;
        let shared = Arc::new(Shared {
            throttle: auth::Throttle::new(
                config.throttle.max_failures,
                Duration::from_secs(config.throttle.window_seconds),
            ),
            requests: Arc::new(Semaphore::new(config.limits.max_concurrent_requests)),
            filters: Arc::new(Semaphore::new(filter_concurrency)),
            config,
            loader,
            routes,
            metrics: metrics::Metrics::default(),
            logs,
            ready: AtomicBool::new(true),
            reloading: tokio::sync::Mutex::new(()),
        });
        for route in shared.routes.values() {
            let state = route.current();
            shared.logs.events.write(
                "event",
                json!({
                    "event": "route",
                    "route": route.config.path,
                    "policy": state.info.name,
                    "version": state.info.version,
                    "digest": state.info.digest,
                }),
            );
        }
        shared.logs.events.write(
            "event",
            json!({
                "event": "listening",
                "addr": local_addr.to_string(),
                "tls": tls.is_some(),
            }),
        );
        let (shutdown, shutdown_rx) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, tls, shared.clone(), shutdown_rx));
        Ok(Server {
            local_addr,
            shared,
            shutdown,
            task,
        })
    }

    /// Loads everything [`Server::start`] loads (policies, secrets, keys,
    /// certificates) without listening: the policy digest of every route.
    pub async fn check(
        config: &Config,
        options: ServeOptions,
    ) -> Result<Vec<(String, String)>, ServeError> {
        let loaded = load(config, options.cache).await?;
        Ok(config
            .routes
            .iter()
            .zip(loaded.states)
            .map(|(route, state)| (route.path.clone(), state.info.digest))
            .collect())
    }

    /// The address the proxy listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Reloads every route's policy, keys and secrets (what SIGHUP does).
    /// Requests in flight finish with the state they started with; a route
    /// whose new state cannot be loaded keeps the old one.
    pub async fn reload(&self) -> Vec<Reloaded> {
        let shared = self.shared.clone();
        let _one_at_a_time = shared.reloading.lock().await;
        let worker = shared.clone();
        let results = tokio::task::spawn_blocking(move || {
            worker
                .routes
                .values()
                .map(|route| {
                    let result = worker.loader.load_route(&worker.config, &route.config);
                    (route.config.path.clone(), result)
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        let mut report = Vec::new();
        for (path, result) in results {
            let Some(route) = shared.routes.get(&path) else {
                continue;
            };
            let result = match result {
                Ok(state) => {
                    let digest = state.info.digest.clone();
                    if let Ok(mut current) = route.state.write() {
                        *current = Arc::new(state);
                    }
                    Ok(digest)
                }
                Err(message) => Err(message),
            };
            shared.metrics.reload(result.is_ok());
            shared.logs.events.write(
                "event",
                match &result {
                    Ok(digest) => json!({"event": "reloaded", "route": path, "digest": digest}),
                    Err(message) => json!({
                        "event": "reload-refused",
                        "route": path,
                        "key": route.key,
                        "error": message,
                        "digest": route.current().info.digest,
                    }),
                },
            );
            report.push(Reloaded {
                route: path,
                result,
            });
        }
        report
    }

    /// Stops accepting connections, lets requests in flight finish (at most
    /// `limits.shutdown_grace_ms`), and returns.
    pub async fn shutdown(self) {
        self.shared.ready.store(false, Ordering::SeqCst);
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
        self.shared
            .logs
            .events
            .write("event", json!({"event": "stopped"}));
    }
}

/// Everything loaded from a configuration before serving.
struct Loaded {
    loader: Loader,
    states: Vec<RouteState>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    filter_concurrency: usize,
}

/// Sets up the runtime and TLS and loads every route (policies, secrets,
/// keys, upstreams), naming the configuration key of whatever fails.
async fn load(config: &Config, cache: CacheSetting) -> Result<Loaded, ServeError> {
    let setup = |key: &str, message: String| ServeError::Setup {
        key: key.to_owned(),
        message,
    };
    let filter_concurrency = config.limits.filter_concurrency.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    });
    let pool =
        u32::try_from(filter_concurrency.saturating_mul(2).saturating_add(8)).unwrap_or(u32::MAX);
    let runtime = Runtime::new(&RuntimeOptions {
        cache: cache.clone(),
        timeout: std::time::Duration::from_millis(config.sandbox.timeout_ms),
        fuel: config.sandbox.fuel,
        memory_limit: config.sandbox.memory_mib << 20,
        pooling: Some(pool),
    })
    .map_err(|e| setup("sandbox", e.to_string()))?;
    let tls = match &config.tls {
        Some(tls) => Some(tls_acceptor(config, tls).map_err(|e| setup("tls", e))?),
        None => None,
    };
    let loader = Loader {
        runtime,
        cache,
        compiler: OnceLock::new(),
    };
    let config_for_load = config.clone();
    let (loader, states) = tokio::task::spawn_blocking(move || {
        let mut states = Vec::new();
        for (i, route) in config_for_load.routes.iter().enumerate() {
            match loader.load_route(&config_for_load, route) {
                Ok(state) => states.push(state),
                Err(message) => {
                    return Err(ServeError::Route {
                        key: format!("routes[{i}] (`{}`)", route.path),
                        message,
                    });
                }
            }
        }
        Ok((loader, states))
    })
    .await
    .map_err(|e| setup("routes", e.to_string()))??;
    Ok(Loaded {
        loader,
        states,
        tls,
        filter_concurrency,
    })
}

impl Route {
    fn current(&self) -> Arc<RouteState> {
        match self.state.read() {
            Ok(state) => state.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

fn tls_acceptor(
    config: &Config,
    tls: &config::TlsConfig,
) -> Result<tokio_rustls::TlsAcceptor, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let cert_path = config.resolve(&tls.cert);
    let key_path = config.resolve(&tls.key);
    let certs = CertificateDer::pem_file_iter(&cert_path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cert: cannot read `{}`: {e}", cert_path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "cert: `{}` holds no certificate",
            cert_path.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .map_err(|e| format!("key: cannot read `{}`: {e}", key_path.display()))?;
    let mut server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| format!("the certificate and key do not fit: {e}"))?;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(server)))
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let header_timeout = Duration::from_millis(shared.config.limits.header_timeout_ms);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(_) => {
                    // Out of file descriptors or similar: wait, do not spin.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let tls = tls.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let client = peer.ip();
            let service = hyper::service::service_fn(move |request| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(handle(&shared, request, client).await) }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            match tls {
                Some(acceptor) => {
                    let Ok(Ok(stream)) =
                        tokio::time::timeout(header_timeout, acceptor.accept(stream)).await
                    else {
                        return;
                    };
                    let _ = watcher
                        .watch(builder.serve_connection(TokioIo::new(stream), service))
                        .await;
                }
                None => {
                    let _ = watcher
                        .watch(builder.serve_connection(TokioIo::new(stream), service))
                        .await;
                }
            }
        });
    }
    drop(listener);
    let grace = Duration::from_millis(shared.config.limits.shutdown_grace_ms);
    let _ = tokio::time::timeout(grace, graceful.shutdown()).await;
}

/// A JSON answer.
fn answer(status: StatusCode, request_id: &str, body: Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-request-id", id);
    }
    response
}

fn error_answer(status: StatusCode, request_id: &str, error: &str) -> Response<Full<Bytes>> {
    answer(
        status,
        request_id,
        json!({"request_id": request_id, "error": error}),
    )
}

fn with_retry_after(mut response: Response<Full<Bytes>>, seconds: u64) -> Response<Full<Bytes>> {
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(seconds));
    response
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

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// What happened to a request, for the access log.
struct Handled {
    response: Response<Full<Bytes>>,
    /// `forwarded`, `unauthenticated`, `rejected`, ... .
    outcome: &'static str,
    /// The failure kind or auth reason, if any.
    detail: Option<String>,
}

impl Handled {
    fn new(response: Response<Full<Bytes>>, outcome: &'static str) -> Handled {
        Handled {
            response,
            outcome,
            detail: None,
        }
    }

    fn detail(mut self, detail: impl Into<String>) -> Handled {
        self.detail = Some(detail.into());
        self
    }
}

async fn handle(
    shared: &Arc<Shared>,
    request: Request<Incoming>,
    client: IpAddr,
) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let request_id = new_request_id();
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    match (method.clone(), path.as_str()) {
        (Method::GET, "/healthz") => {
            return answer(StatusCode::OK, &request_id, json!({"status": "ok"}));
        }
        (Method::GET, "/readyz") => {
            return if shared.ready.load(Ordering::SeqCst) {
                answer(StatusCode::OK, &request_id, json!({"status": "ready"}))
            } else {
                error_answer(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &request_id,
                    "shutting-down",
                )
            };
        }
        (Method::GET, "/metrics") => {
            let mut response = Response::new(Full::new(Bytes::from(shared.metrics.encode())));
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static(metrics::CONTENT_TYPE),
            );
            return response;
        }
        _ => {}
    }
    let Some(route) = shared.routes.get(&path) else {
        shared.metrics.request("", 404);
        log_access(
            shared,
            &request_id,
            None,
            &method,
            client,
            started,
            404,
            "no-route",
            None,
        );
        return error_answer(StatusCode::NOT_FOUND, &request_id, "no-route");
    };
    shared.metrics.in_flight().inc();
    let outcome = route_request(shared, route, request, client, &request_id).await;
    shared.metrics.in_flight().dec();
    let status = outcome.response.status().as_u16();
    shared.metrics.request(&route.config.path, status);
    log_access(
        shared,
        &request_id,
        Some(&route.config.path),
        &method,
        client,
        started,
        status,
        outcome.outcome,
        outcome.detail.as_deref(),
    );
    outcome.response
}

#[allow(clippy::too_many_arguments)]
fn log_access(
    shared: &Shared,
    request_id: &str,
    route: Option<&str>,
    method: &Method,
    client: IpAddr,
    started: Instant,
    status: u16,
    outcome: &str,
    detail: Option<&str>,
) {
    shared.logs.access.write(
        "access",
        json!({
            "request_id": request_id,
            "route": route,
            "method": method.as_str(),
            "client": client.to_string(),
            "status": status,
            "outcome": outcome,
            "detail": detail,
            "duration_ms": (started.elapsed().as_secs_f64() * 1e6).round() / 1e3,
        }),
    );
}

async fn route_request(
    shared: &Arc<Shared>,
    route: &Route,
    request: Request<Incoming>,
    client: IpAddr,
    request_id: &str,
) -> Handled {
    let path = route.config.path.as_str();
    if request.method() != Method::POST {
        let mut response = error_answer(StatusCode::METHOD_NOT_ALLOWED, request_id, "method");
        response
            .headers_mut()
            .insert(hyper::header::ALLOW, HeaderValue::from_static("POST"));
        return Handled::new(response, "method");
    }
    let Ok(_permit) = shared.requests.clone().try_acquire_owned() else {
        return Handled::new(
            with_retry_after(
                error_answer(StatusCode::SERVICE_UNAVAILABLE, request_id, "busy"),
                1,
            ),
            "busy",
        );
    };
    if !shared.ready.load(Ordering::SeqCst) {
        return Handled::new(
            with_retry_after(
                error_answer(StatusCode::SERVICE_UNAVAILABLE, request_id, "shutting-down"),
                1,
            ),
            "shutting-down",
        );
    }
    if let Some(wait) = shared.throttle.blocked(client) {
        shared.metrics.auth_failure(path, "throttled");
        return Handled::new(
            with_retry_after(
                error_answer(StatusCode::TOO_MANY_REQUESTS, request_id, "throttled"),
                wait,
            ),
            "throttled",
        );
    }
    let state = route.current();
    let denied = |reason: auth::Denied| {
        shared.metrics.auth_failure(path, reason.reason());
        if reason != auth::Denied::Replayed {
            shared.throttle.failed(client);
        }
        Handled::new(
            error_answer(StatusCode::UNAUTHORIZED, request_id, "unauthenticated"),
            "unauthenticated",
        )
        .detail(reason.reason())
    };
    let (parts, body) = request.into_parts();
    if !state.check.needs_body()
        && let Err(reason) = state.check.verify(&parts.headers, b"", unix_now())
    {
        return denied(reason);
    }
    let limits = &shared.config.limits;
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body_bytes as u64) {
        return Handled::new(
            error_answer(StatusCode::PAYLOAD_TOO_LARGE, request_id, "too-large"),
            "too-large",
        );
    }
    let body = match tokio::time::timeout(
        Duration::from_millis(limits.body_timeout_ms),
        Limited::new(body, limits.max_body_bytes).collect(),
    )
    .await
    {
        Err(_) => {
            return Handled::new(
                error_answer(StatusCode::REQUEST_TIMEOUT, request_id, "body-timeout"),
                "body-timeout",
            );
        }
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return Handled::new(
                error_answer(StatusCode::PAYLOAD_TOO_LARGE, request_id, "too-large"),
                "too-large",
            );
        }
        Ok(Err(_)) => {
            return Handled::new(
                error_answer(StatusCode::BAD_REQUEST, request_id, "body"),
                "body",
            );
        }
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    let verified = match state.check.verify(&parts.headers, &body, unix_now()) {
        Ok(verified) => verified,
        Err(reason) => return denied(reason),
    };
    if let Some(id) = &verified.webhook_id
        && !route.replay.take(id)
    {
        return denied(auth::Denied::Replayed);
    }
    let outcome = filter_and_forward(shared, route, &state, body, request_id).await;
    // A Standard Webhooks id stays taken unless the sender is asked to retry.
    if let Some(id) = &verified.webhook_id
        && outcome.response.status().is_server_error()
    {
        route.replay.release(id);
    }
    outcome
}

/// The failure kind of a runtime error, and whether it is the lead's fault
/// (422) rather than the proxy's (500).
fn runtime_kind(error: &RuntimeError) -> (&'static str, bool) {
    match error {
        RuntimeError::Budget { .. } => ("budget", true),
        RuntimeError::Timeout { .. } => ("timeout", true),
        RuntimeError::Memory { .. } => ("memory", true),
        RuntimeError::Stack => ("stack", true),
        _ => ("runtime", false),
    }
}

fn failure_paths(failure: &Failure) -> Vec<String> {
    match failure {
        Failure::InputSchema(vs) | Failure::OutputSchema(vs) => {
            vs.iter().map(|v| v.path.clone()).collect()
        }
        Failure::Transform(v) => vec![v.path.clone()],
        _ => Vec::new(),
    }
}

async fn filter_and_forward(
    shared: &Arc<Shared>,
    route: &Route,
    state: &Arc<RouteState>,
    body: Bytes,
    request_id: &str,
) -> Handled {
    let path = route.config.path.as_str();
    let audit = |forwarded: bool, fields: Value| {
        let mut line = json!({
            "request_id": request_id,
            "route": path,
            "policy": state.info.name,
            "version": state.info.version,
            "digest": state.info.digest,
            "forwarded": forwarded,
        });
        if let (Value::Object(line), Value::Object(fields)) = (&mut line, fields) {
            line.extend(fields);
        }
        shared.logs.audit.write("audit", line);
    };
    let refuse = |status: StatusCode, kind: &str, paths: Vec<String>| {
        shared.metrics.filter_failure(path, kind);
        audit(false, json!({"failure": kind, "paths": paths}));
        Handled::new(
            answer(
                status,
                request_id,
                json!({"request_id": request_id, "error": "filter", "kind": kind, "paths": paths}),
            ),
            "rejected",
        )
        .detail(kind)
    };
    let Ok(lead) = String::from_utf8(body.to_vec()) else {
        return refuse(StatusCode::UNPROCESSABLE_ENTITY, "invalid-json", Vec::new());
    };
    let Ok(permit) = shared.filters.clone().acquire_owned().await else {
        return refuse(StatusCode::INTERNAL_SERVER_ERROR, "runtime", Vec::new());
    };
    let started = Instant::now();
    let worker = state.clone();
    let (answer_tx, answer_rx) = tokio::sync::oneshot::channel();
    let task = tokio::task::spawn_blocking(move || {
        // A fresh instance for every lead: nothing crosses from one lead to
        // the next.
        match worker.policy.instantiate() {
            Ok(mut instance) => {
                let answer = instance.transform(&lead, &worker.policy_secrets);
                let _ = answer_tx.send(answer);
                // Dropping the instance resets its pool slot (the pages it
                // wrote are copied back from the policy's image): done
                // after the answer is handed over, off the request's path.
                drop(instance);
            }
            Err(error) => {
                let _ = answer_tx.send(Err(error));
            }
        }
    });
    // The sender is dropped unsent only if the task panicked: then the
    // task's own error says so.
    let result = match answer_rx.await {
        Ok(answer) => Ok(answer),
        Err(_) => task.await.map(|()| Err(RuntimeError::Poisoned)),
    };
    shared
        .metrics
        .filter_time(path, started.elapsed().as_secs_f64());
    drop(permit);
    let outcome = match result {
        Ok(Ok(Ok(outcome))) => outcome,
        Ok(Ok(Err(failure))) => {
            return refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                failure.kind(),
                failure_paths(&failure),
            );
        }
        Ok(Err(error)) => {
            let (kind, lead_fault) = runtime_kind(&error);
            if !lead_fault {
                shared.logs.events.write(
                    "event",
                    json!({"event": "runtime-error", "route": path, "request_id": request_id, "error": error.to_string()}),
                );
            }
            let status = if lead_fault {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            return refuse(status, kind, Vec::new());
        }
        Err(_) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, "runtime", Vec::new()),
    };
    let changes: Vec<Value> = outcome
        .changes
        .iter()
        .map(|c| json!({"path": c.path, "action": c.action}))
        .collect();
    let started = Instant::now();
    let sent = state.upstream.send(outcome.lead, request_id).await;
    shared
        .metrics
        .upstream_time(path, started.elapsed().as_secs_f64());
    match sent {
        Ok(status) => {
            audit(true, json!({"changes": changes, "upstream_status": status}));
            Handled::new(
                answer(
                    StatusCode::OK,
                    request_id,
                    json!({"request_id": request_id, "status": "forwarded"}),
                ),
                "forwarded",
            )
        }
        Err(error) => {
            let upstream_status = match error {
                upstream::UpstreamError::Status(s) => Some(s),
                _ => None,
            };
            audit(
                false,
                json!({"changes": changes, "failure": error.kind(), "upstream_status": upstream_status}),
            );
            let status = if error == upstream::UpstreamError::Timeout {
                StatusCode::GATEWAY_TIMEOUT
            } else {
                StatusCode::BAD_GATEWAY
            };
            Handled::new(
                error_answer(status, request_id, error.kind()),
                "upstream-error",
            )
            .detail(error.kind())
        }
    }
}
