//! [`Filter`]: what `run`, `serve`, `test` and library users filter leads
//! with, whichever engine runs the policy.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use leadfilter_engine::{Engine, Failure, Outcome, PolicyInfo, Secret};

use crate::resolver::{ResolveError, Resolver};
use crate::runtime::{LoadedPolicy, PolicyInstance, RuntimeError, RuntimeOptions};

/// A policy ready to filter leads, with the secrets it runs with.
///
/// A `Filter` made from a component keeps one instance and reuses it from
/// lead to lead (the engine keeps no state between calls); an instance that
/// fails (time, fuel, memory, a trap, an answer that is not a lead) is
/// dropped and the next lead gets a fresh one. [`Filter::isolated`] gives
/// every lead a fresh instance instead, as the proxy and policy tests do.
/// A `Filter` can also run the same engine natively ([`Filter::native`]),
/// for comparisons and benchmarks.
///
/// `Filter`s made by [`Filter::from_component`] and [`Filter::from_source`]
/// share one runtime with default options; [`Filter::from_loaded`] takes a
/// policy a [`Resolver`] or runtime of your own loaded.
pub struct Filter {
    engine: Runs,
    info: PolicyInfo,
    secrets: Vec<Secret>,
}

/// Which engine runs the policy.
enum Runs {
    Component(Box<Instances>),
    Native(Arc<Engine>),
}

/// A component and the instances leads run in.
struct Instances {
    policy: LoadedPolicy,
    /// The instance the next lead uses, when reused.
    instance: Option<PolicyInstance>,
    /// A fresh instance for every lead.
    isolated: bool,
    /// The last isolated instance, dropped (its pool slot reset) only when
    /// the next lead comes or the filter goes, after its answer is handed
    /// over.
    spent: Option<PolicyInstance>,
}

impl Instances {
    fn new(policy: LoadedPolicy, isolated: bool) -> Instances {
        Instances {
            policy,
            instance: None,
            isolated,
            spent: None,
        }
    }

    /// Runs `call` on the instance this lead gets, then keeps the instance
    /// for the next lead (or as spent, when isolated) unless it failed.
    fn call<T>(
        &mut self,
        call: impl FnOnce(&mut PolicyInstance) -> Result<Result<T, Failure>, RuntimeError>,
    ) -> Result<T, TransformError> {
        self.spent = None;
        let mut current = match self.instance.take() {
            Some(current) => current,
            None => self.policy.instantiate()?,
        };
        let answer = call(&mut current)?;
        if self.isolated {
            self.spent = Some(current);
        } else {
            self.instance = Some(current);
        }
        answer.map_err(TransformError::Failure)
    }
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter")
            .field("info", &self.info)
            .field("native", &matches!(self.engine, Runs::Native(_)))
            .field("secrets", &self.secrets)
            .finish_non_exhaustive()
    }
}

/// Why a [`Filter`] could not be made.
pub type FilterError = ResolveError;

/// Why a lead was not filtered: the policy's answer, or a runtime problem.
/// Never holds a value from the lead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransformError {
    /// The policy refused the lead (the WIT `failure`).
    #[error("{0}")]
    Failure(Failure),
    /// The policy could not run to the end: its time, fuel or memory ran
    /// out, it trapped, or its answer was not a filtered lead.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

impl TransformError {
    /// The policy's failure, if that is what this is.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            TransformError::Failure(failure) => Some(failure),
            TransformError::Runtime(_) => None,
        }
    }

    /// The kind in error records, 422 answers and audit lines: the WIT
    /// failure's (`rejected`, `input-schema`, ...) or the runtime's
    /// (`timeout`, `budget`, `memory`, `stack`, `runtime`).
    pub fn kind(&self) -> &'static str {
        match self {
            TransformError::Failure(failure) => failure.kind(),
            TransformError::Runtime(error) => error.kind(),
        }
    }

    /// What went wrong, without the kind.
    pub fn message(&self) -> String {
        match self {
            TransformError::Failure(failure) => failure.message(),
            TransformError::Runtime(error) => error.to_string(),
        }
    }

    /// The paths the failure names.
    pub fn paths(&self) -> Vec<&str> {
        match self {
            TransformError::Failure(failure) => failure.paths(),
            TransformError::Runtime(_) => Vec::new(),
        }
    }
}

/// The resolver `Filter`s made without one share, with default options.
fn shared_resolver() -> Result<&'static Resolver, RuntimeError> {
    static RESOLVER: OnceLock<Resolver> = OnceLock::new();
    if let Some(resolver) = RESOLVER.get() {
        return Ok(resolver);
    }
    let resolver = Resolver::new(&RuntimeOptions::default())?;
    Ok(RESOLVER.get_or_init(|| resolver))
}

fn shared(path: &Path) -> Result<&'static Resolver, FilterError> {
    shared_resolver().map_err(|error| ResolveError::Load {
        path: path.to_owned(),
        error,
    })
}

impl Filter {
    /// Loads a compiled policy component (the bytes of a `policy.wasm`).
    pub fn from_component(component: &[u8]) -> Result<Filter, FilterError> {
        let path = Path::new("policy.wasm");
        Filter::loaded(path, shared(path)?.load(path, component)?)
    }

    /// Reads a `policy.wasm` and loads it.
    pub fn from_component_file(path: impl AsRef<Path>) -> Result<Filter, FilterError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|error| ResolveError::Read {
            path: path.to_owned(),
            error,
        })?;
        Filter::loaded(path, shared(path)?.load(path, &bytes)?)
    }

    /// Opens a policy: a `policy.wasm`, or a source (`.yaml`, `.yml`,
    /// `.json`, with the schema files it names) checked as `leadfilter
    /// check` does and compiled.
    pub fn from_source(path: impl AsRef<Path>) -> Result<Filter, FilterError> {
        let path = path.as_ref();
        Filter::loaded(path, shared(path)?.resolve(path)?.component)
    }

    /// Checks and compiles policy source text; `path` names it in
    /// diagnostics, tells YAML from JSON by its extension, and is the base
    /// of the schema files the policy names.
    pub fn from_source_text(path: impl AsRef<Path>, text: &str) -> Result<Filter, FilterError> {
        let path = path.as_ref();
        Filter::loaded(
            path,
            shared(path)?.resolve_source_text(path, text)?.component,
        )
    }

    /// Uses a policy that a [`Resolver`] or runtime of your own loaded. Its
    /// `info` is read and checked against the component's
    /// `leadfilter-policy` section before any lead.
    pub fn from_loaded(policy: LoadedPolicy) -> Result<Filter, RuntimeError> {
        let info = policy.checked_info()?;
        Ok(Filter {
            engine: Runs::Component(Box::new(Instances::new(policy, false))),
            info,
            secrets: Vec::new(),
        })
    }

    fn loaded(path: &Path, policy: LoadedPolicy) -> Result<Filter, FilterError> {
        Filter::from_loaded(policy).map_err(|error| ResolveError::Load {
            path: path.to_owned(),
            error,
        })
    }

    /// The engine built into this binary, running the same policy (for
    /// comparisons and benchmarks; answers are the component's, byte for
    /// byte).
    pub fn native(engine: Engine) -> Filter {
        Filter {
            info: engine.info().clone(),
            engine: Runs::Native(Arc::new(engine)),
            secrets: Vec::new(),
        }
    }

    /// The same filter giving every lead a fresh instance, so that nothing
    /// can cross from one lead to the next even in a faulty engine.
    pub fn isolated(mut self) -> Filter {
        if let Runs::Component(instances) = &mut self.engine {
            instances.isolated = true;
            instances.instance = None;
        }
        self
    }

    /// Another filter for the same policy, secrets and isolation, for
    /// another thread: the same compiled code, an instance of its own.
    pub fn worker(&self) -> Filter {
        Filter {
            engine: match &self.engine {
                Runs::Component(instances) => Runs::Component(Box::new(Instances::new(
                    instances.policy.clone(),
                    instances.isolated,
                ))),
                Runs::Native(engine) => Runs::Native(Arc::clone(engine)),
            },
            info: self.info.clone(),
            secrets: self.secrets.clone(),
        }
    }

    /// The same filter with a secret's value (replacing an earlier one of
    /// the same name).
    pub fn with_secret(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Filter {
        self.set_secret(name, value);
        self
    }

    /// Sets a secret's value (replacing an earlier one of the same name).
    pub fn set_secret(&mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) {
        let name = name.into();
        self.secrets.retain(|s| s.name != name);
        self.secrets.push(Secret {
            name,
            value: value.into(),
        });
    }

    /// Replaces every secret.
    pub fn set_secrets(&mut self, secrets: Vec<Secret>) {
        self.secrets = secrets;
    }

    /// What the policy is: name, version, digest, secret names, schemas.
    pub fn info(&self) -> &PolicyInfo {
        &self.info
    }

    /// Filters one lead (JSON text) with the filter's secrets: the filtered
    /// lead and its change list.
    pub fn transform(&mut self, lead: &str) -> Result<Outcome, TransformError> {
        let secrets = std::mem::take(&mut self.secrets);
        let result = self.transform_with(lead, &secrets);
        self.secrets = secrets;
        result
    }

    /// Filters one lead with these secrets instead of the filter's own.
    pub fn transform_with(
        &mut self,
        lead: &str,
        secrets: &[Secret],
    ) -> Result<Outcome, TransformError> {
        match &mut self.engine {
            Runs::Native(engine) => engine
                .transform(lead, secrets)
                .map_err(TransformError::Failure),
            Runs::Component(instances) => instances.call(|i| i.transform(lead, secrets)),
        }
    }

    /// Filters one lead with the filter's secrets, giving only the filtered
    /// lead: a component's change list stays in its memory instead of being
    /// copied out (`leadfilter run` uses this; it is faster).
    pub fn transform_lead(&mut self, lead: &str) -> Result<String, TransformError> {
        let secrets = std::mem::take(&mut self.secrets);
        let result = self.transform_lead_with(lead, &secrets);
        self.secrets = secrets;
        result
    }

    /// [`Filter::transform_lead`] with these secrets.
    pub fn transform_lead_with(
        &mut self,
        lead: &str,
        secrets: &[Secret],
    ) -> Result<String, TransformError> {
        match &mut self.engine {
            Runs::Native(engine) => engine
                .transform(lead, secrets)
                .map(|outcome| outcome.lead)
                .map_err(TransformError::Failure),
            Runs::Component(instances) => instances.call(|i| i.transform_lead(lead, secrets)),
        }
    }
}
