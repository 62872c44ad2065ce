//! Routes: what each one loads from files and secrets (its policy, inbound
//! check and upstream), replaced whole on reload, and the share of the
//! proxy each one may hold.

use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::Semaphore;

use super::auth::{self, InboundCheck, ReplayCache};
use super::config::{Config, RouteConfig};
use super::upstream::Upstream;
use crate::filter::Filter;
use crate::resolver::Resolver;
use crate::secrets::{Kind, SecretArg, SecretError, Sources, default_env_var};

/// One route as it is served.
#[derive(Debug)]
pub(super) struct Route {
    /// Its key in the configuration, e.g. `routes[0]`.
    pub(super) key: String,
    pub(super) config: RouteConfig,
    state: RwLock<Arc<RouteState>>,
    pub(super) replay: ReplayCache,
    /// Requests this route may hold at once (reading bodies included).
    pub(super) requests: Arc<Semaphore>,
    /// Leads this route may filter at once: its own share of the instance
    /// pool, which no other route can take.
    pub(super) filters: Arc<Semaphore>,
}

/// Everything a route loads from files and secrets: replaced whole on
/// reload.
pub(super) struct RouteState {
    /// The policy with its secrets, a fresh instance for every lead.
    pub(super) filter: Filter,
    pub(super) check: Box<dyn InboundCheck>,
    pub(super) upstream: Upstream,
}

impl std::fmt::Debug for RouteState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteState")
            .field("policy", &self.filter.info().name)
            .field("digest", &self.filter.info().digest)
            .finish_non_exhaustive()
    }
}

/// How much of the proxy one route may hold.
#[derive(Debug, Clone, Copy)]
pub(super) struct Share {
    /// Requests at once.
    pub(super) requests: usize,
    /// Leads filtered at once.
    pub(super) filters: usize,
}

impl Route {
    pub(super) fn new(
        index: usize,
        config: &RouteConfig,
        state: RouteState,
        share: Share,
        replay_capacity: usize,
    ) -> Route {
        Route {
            key: format!("routes[{index}]"),
            config: config.clone(),
            state: RwLock::new(Arc::new(state)),
            replay: ReplayCache::new(replay_capacity),
            requests: Arc::new(Semaphore::new(share.requests)),
            filters: Arc::new(Semaphore::new(share.filters)),
        }
    }

    /// The state requests start with now.
    pub(super) fn current(&self) -> Arc<RouteState> {
        match self.state.read() {
            Ok(state) => state.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the state; requests in flight keep the one they started
    /// with.
    pub(super) fn replace(&self, state: RouteState) {
        let state = Arc::new(state);
        match self.state.write() {
            Ok(mut current) => *current = state,
            Err(poisoned) => *poisoned.into_inner() = state,
        }
    }
}

/// Loads a route's policy (checking its `info` against its section),
/// secrets, inbound check and upstream. The error names the file or the
/// secret, never a value.
pub(super) fn load(
    resolver: &Resolver,
    config: &Config,
    route: &RouteConfig,
) -> Result<RouteState, String> {
    let path = config.resolve(&route.policy);
    let resolved = resolver.resolve(&path).map_err(|e| e.to_string())?;
    let mut filter = Filter::from_loaded(resolved.component)
        .map_err(|e| format!("`{}`: {e}", path.display()))?
        .isolated();
    for name in filter.info().secrets.clone() {
        let value = read_secret(config, Some(route), &name, Kind::PolicyKey)?;
        filter.set_secret(name, value);
    }
    let mut secret = |name: &str, kind: Kind| read_secret(config, None, name, kind);
    let file = |p: &Path| {
        let p = config.resolve(p);
        std::fs::read(&p).map_err(|e| format!("cannot read `{}`: {e}", p.display()))
    };
    let check = auth::build(&route.auth, &mut secret, &file).map_err(|e| format!("auth: {e}"))?;
    let upstream = Upstream::build(
        &route.upstream,
        Duration::from_millis(config.limits.upstream_timeout_ms),
        &mut secret,
        &|p| config.resolve(p),
    )
    .map_err(|e| format!("upstream: {e}"))?;
    Ok(RouteState {
        filter,
        check,
        upstream,
    })
}

/// Reads a named secret from its configured source or the default
/// variable, decoded for its use. Errors name the secret and where it was
/// looked for, never a value.
fn read_secret(
    config: &Config,
    route: Option<&RouteConfig>,
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
