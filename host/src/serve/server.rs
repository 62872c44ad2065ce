//! The proxy's lifecycle: loading every route, listening (TLS or plain),
//! reloading, and shutting down without losing a lead in flight.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use super::config::{self, Config};
use super::log::{Logs, Sink};
use super::metrics::Metrics;
use super::routes::{self, Route, RouteState, Share};
use super::shared::{ClientCounts, Shared, Work};
use super::{auth, deliverer, pipeline};
use crate::delivery::schedule::now_millis;
use crate::delivery::{LocalStore, Queue, Sealer, control};
use crate::resolver::Resolver;
use crate::runtime::{CacheSetting, RuntimeOptions};
use crate::secrets::Kind;

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
    /// Delivers queued leads, with `store:`.
    deliverer: Option<tokio::task::JoinHandle<()>>,
    /// Answers `leadfilter queue` while the proxy holds the store.
    control: Option<tokio::task::JoinHandle<()>>,
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

impl Server {
    /// Loads every route (policies, secrets, keys), binds the listener and
    /// starts serving. Fails, naming the configuration key, if anything is
    /// missing.
    pub async fn start(config: Config, options: ServeOptions) -> Result<Server, ServeError> {
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
            resolver,
            states,
            tls,
            share,
        } = load(&config, options.cache).await?;
        let mut routes = BTreeMap::new();
        for (i, (route, state)) in config.routes.iter().zip(states).enumerate() {
            routes.insert(
                route.path.clone(),
                Route::new(i, route, state, share, config.limits.replay_capacity),
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
        let queue = open_store(&config)?;
        let shared = Arc::new(Shared {
            throttle: auth::Throttle::new(
                config.throttle.max_failures,
                Duration::from_secs(config.throttle.window_seconds),
            ),
            requests: Arc::new(Semaphore::new(config.limits.max_concurrent_requests)),
            clients: ClientCounts::new(config.limits.max_requests_per_client),
            work: Work::default(),
            config,
            resolver,
            routes,
            metrics: Metrics::default(),
            logs,
            ready: AtomicBool::new(true),
            reloading: tokio::sync::Mutex::new(()),
            queue: queue.clone(),
            deliver: tokio::sync::Notify::new(),
        });
        for route in shared.routes.values() {
            let state = route.current();
            for target in &state.targets {
                let info = target.filter.info();
                shared.logs.events.write(
                    "event",
                    json!({
                        "event": "route",
                        "route": route.config.path,
                        "destination": target.name,
                        "policy": info.name,
                        "version": info.version,
                        "digest": info.digest,
                    }),
                );
            }
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
        let control = match (&queue, &shared.config.store) {
            (Some(queue), Some(store)) => match &store.path {
                Some(path) => Some(
                    control::serve(queue.clone(), &shared.config.resolve(path), now_millis)
                        .await
                        .map_err(|e| {
                            setup(
                                "store.path",
                                format!("cannot listen for `leadfilter queue`: {e}"),
                            )
                        })?,
                ),
                None => None,
            },
            _ => None,
        };
        let deliverer = queue
            .map(|queue| tokio::spawn(deliverer::run(shared.clone(), queue, shutdown_rx.clone())));
        let task = tokio::spawn(accept_loop(listener, tls, shared.clone(), shutdown_rx));
        Ok(Server {
            local_addr,
            shared,
            shutdown,
            task,
            deliverer,
            control,
        })
    }

    /// Loads everything [`Server::start`] loads (policies, secrets, keys,
    /// certificates, the store's key) without listening or opening the
    /// store: the policy digest of every route.
    pub async fn check(
        config: &Config,
        options: ServeOptions,
    ) -> Result<Vec<(String, String)>, ServeError> {
        let loaded = load(config, options.cache).await?;
        // The store key is read (present, long enough); the store itself
        // is not opened: a running proxy may hold it.
        if let Some(store) = &config.store {
            config
                .read_secret(None, &store.key, Kind::StoreKey)
                .map_err(|e| setup("store.key", e))?;
        }
        Ok(config
            .routes
            .iter()
            .zip(loaded.states)
            .map(|(route, state)| (route.path.clone(), state.digests()))
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
                    let result = routes::load(&worker.resolver, &worker.config, &route.config);
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
            let result = result.map(|state: RouteState| {
                let digest = state.digests();
                route.replace(state);
                digest
            });
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
                        "digest": route.current().digests(),
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

    /// Stops accepting connections and lets requests in flight finish: the
    /// connections get at most `limits.shutdown_grace_ms`, and then every
    /// lead already on its way upstream is still forwarded and logged (its
    /// own timeouts bound that) before this returns.
    pub async fn shutdown(self) {
        self.shared.ready.store(false, Ordering::SeqCst);
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
        let limits = &self.shared.config.limits;
        let bound = Duration::from_millis(
            limits
                .body_timeout_ms
                .saturating_add(self.shared.config.sandbox.timeout_ms)
                .saturating_add(limits.upstream_timeout_ms)
                .saturating_add(1000),
        );
        let _ = tokio::time::timeout(bound, self.shared.work.idle()).await;
        // Attempts in flight finish and are recorded (each bounded by its
        // upstream's timeout); pending deliveries stay in the store.
        if let Some(deliverer) = self.deliverer {
            let _ = tokio::time::timeout(bound, deliverer).await;
        }
        if let Some(control) = self.control {
            control.abort();
            // Aborted tasks drop what they hold when they are next polled:
            // waited for, so the store is closed when this returns.
            let _ = control.await;
            if let Some(path) = self
                .shared
                .config
                .store
                .as_ref()
                .and_then(|s| s.path.as_ref())
            {
                let _ =
                    std::fs::remove_file(control::socket_path(&self.shared.config.resolve(path)));
            }
        }
        self.shared
            .logs
            .events
            .write("event", json!({"event": "stopped"}));
    }
}

fn setup(key: &str, message: String) -> ServeError {
    ServeError::Setup {
        key: key.to_owned(),
        message,
    }
}

/// Opens the store of queued leads, with `store:`: its key from its
/// secret, its directory created 0700.
fn open_store(config: &Config) -> Result<Option<Queue>, ServeError> {
    let Some(store) = &config.store else {
        return Ok(None);
    };
    let key = config
        .read_secret(None, &store.key, Kind::StoreKey)
        .map_err(|e| setup("store.key", e))?;
    match store.kind {
        config::StoreType::Local => {
            let Some(path) = &store.path else {
                return Err(setup(
                    "store.path",
                    "a local store needs its directory".into(),
                ));
            };
            let local =
                LocalStore::open(&config.resolve(path), Sealer::new(&key), store.max_bytes())
                    .map_err(|e| setup("store", e.to_string()))?;
            Ok(Some(Queue::Local(Arc::new(local))))
        }
        config::StoreType::Nats => Err(setup(
            "store.type",
            "`nats` is not in this version yet: use `type: local`".into(),
        )),
    }
}

/// Everything loaded from a configuration before serving.
struct Loaded {
    resolver: Resolver,
    states: Vec<RouteState>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    share: Share,
}

/// Sets up the runtime and TLS and loads every route (policies, secrets,
/// keys, upstreams), naming the configuration key of whatever fails.
async fn load(config: &Config, cache: CacheSetting) -> Result<Loaded, ServeError> {
    let routes = config.routes.len();
    let limits = &config.limits;
    let filters = limits.filter_concurrency.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    });
    let requests = limits.max_requests_per_route.unwrap_or(if routes == 1 {
        limits.max_concurrent_requests
    } else {
        (limits.max_concurrent_requests / 2).max(1)
    });
    let share = Share { requests, filters };
    // Every route's share of instances, one more each for loading and
    // reloading it, and a little room: no route can take another's.
    let pool = u32::try_from(
        routes
            .saturating_mul(filters.saturating_add(1))
            .saturating_add(2),
    )
    .unwrap_or(u32::MAX);
    let resolver = Resolver::new(&RuntimeOptions {
        cache,
        timeout: Duration::from_millis(config.sandbox.timeout_ms),
        fuel: config.sandbox.fuel,
        memory_limit: config.sandbox.memory_mib << 20,
        max_output: config.sandbox.max_output_bytes,
        pooling: Some(pool),
    })
    .map_err(|e| setup("sandbox", e.to_string()))?;
    let tls = match &config.tls {
        Some(tls) => Some(tls_acceptor(config, tls).map_err(|e| setup("tls", e))?),
        None => None,
    };
    let config_for_load = config.clone();
    let (resolver, states) = tokio::task::spawn_blocking(move || {
        let mut states = Vec::new();
        for (i, route) in config_for_load.routes.iter().enumerate() {
            match routes::load(&resolver, &config_for_load, route) {
                Ok(state) => states.push(state),
                Err(message) => {
                    return Err(ServeError::Route {
                        key: format!("routes[{i}] (`{}`)", route.path),
                        message,
                    });
                }
            }
        }
        Ok((resolver, states))
    })
    .await
    .map_err(|e| setup("routes", e.to_string()))??;
    Ok(Loaded {
        resolver,
        states,
        tls,
        share,
    })
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
        let logged = shared.clone();
        tokio::spawn(async move {
            let client = peer.ip();
            let service = hyper::service::service_fn(move |request| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(pipeline::handle(&shared, request, client).await) }
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
                    let served = watcher
                        .watch(builder.serve_connection(TokioIo::new(stream), service))
                        .await;
                    pipeline::log_malformed(&logged, client, served.err());
                }
                None => {
                    let served = watcher
                        .watch(builder.serve_connection(TokioIo::new(stream), service))
                        .await;
                    pipeline::log_malformed(&logged, client, served.err());
                }
            }
        });
    }
    drop(listener);
    let grace = Duration::from_millis(shared.config.limits.shutdown_grace_ms);
    let _ = tokio::time::timeout(grace, graceful.shutdown()).await;
}
