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
use crate::secrets::Kind;

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
    pub(super) check: Box<dyn InboundCheck>,
    /// Where its leads go: one target, or one per destination (in the
    /// order of the file).
    pub(super) targets: Vec<TargetState>,
}

/// One place a route's leads go, loaded.
pub(super) struct TargetState {
    /// The destination's name (`None` for a route's own policy).
    pub(super) name: Option<String>,
    /// The policy with its secrets, a fresh instance for every lead.
    pub(super) filter: Filter,
    pub(super) upstream: Upstream,
}

impl RouteState {
    /// Every target's policy digest, `name=digest` for destinations.
    pub(super) fn digests(&self) -> String {
        self.targets
            .iter()
            .map(|t| match &t.name {
                None => t.filter.info().digest.clone(),
                Some(name) => format!("{name}={}", t.filter.info().digest),
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl std::fmt::Debug for RouteState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteState")
            .field("digests", &self.digests())
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

/// Loads a route's policies (checking each `info` against its section),
/// secrets, inbound check and upstreams. The error names the file or the
/// secret, never a value.
pub(super) fn load(
    resolver: &Resolver,
    config: &Config,
    route: &RouteConfig,
) -> Result<RouteState, String> {
    let mut secret = |name: &str, kind: Kind| config.read_secret(None, name, kind);
    let file = |p: &Path| {
        let p = config.resolve(p);
        std::fs::read(&p).map_err(|e| format!("cannot read `{}`: {e}", p.display()))
    };
    let mut targets = Vec::new();
    for target in route.targets() {
        let at = |what: &str| match target.name {
            None => what.to_owned(),
            Some(name) => format!("destination `{name}`: {what}"),
        };
        let path = config.resolve(target.policy);
        let resolved = resolver.resolve(&path).map_err(|e| at(&e.to_string()))?;
        let mut filter = Filter::from_loaded(resolved.component)
            .map_err(|e| at(&format!("`{}`: {e}", path.display())))?
            .isolated();
        for name in filter.info().secrets.clone() {
            let value = config
                .read_secret(Some(route), &name, Kind::PolicyKey)
                .map_err(|e| at(&e))?;
            filter.set_secret(name, value);
        }
        let upstream = Upstream::build(
            target.upstream,
            Duration::from_millis(config.limits.upstream_timeout_ms),
            &mut secret,
            &|p| config.resolve(p),
        )
        .map_err(|e| at(&format!("upstream: {e}")))?;
        targets.push(TargetState {
            name: target.name.map(str::to_owned),
            filter,
            upstream,
        });
    }
    // Policies first: a broken one is the error to show even when a secret
    // is missing too.
    let check = auth::build(&route.auth, &mut secret, &file).map_err(|e| format!("auth: {e}"))?;
    Ok(RouteState { check, targets })
}
