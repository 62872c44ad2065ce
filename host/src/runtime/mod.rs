//! Running policy components with wasmtime.
//!
//! One [`Runtime`] (a wasmtime engine with the component model, an on-disk
//! cache of compiled code, fuel metering and the pooling allocator if asked
//! for) loads any number of components. A [`LoadedPolicy`] is compiled and
//! checked once; [`LoadedPolicy::instantiate`] then gives a fresh
//! [`PolicyInstance`], each in its own `Store`, so no state crosses from one
//! instance to another. The policy inside was loaded when it was compiled
//! (see [`crate::compile`]), so a fresh instance is cheap.
//!
//! Every call runs with a time limit (wasmtime's epoch interruption, ticked
//! by a background thread), optionally a deterministic fuel budget, and a
//! memory limit: a policy that runs away or grows past the limit ends with
//! [`RuntimeError::Timeout`], [`RuntimeError::Budget`] or
//! [`RuntimeError::Memory`], never by hanging the host. Results map to the
//! engine crate's types, so a component's answer compares with `==` to the
//! native engine's.
//!
//! ```no_run
//! use leadfilter::runtime::{Runtime, RuntimeOptions};
//!
//! let runtime = Runtime::new(&RuntimeOptions::default())?;
//! let policy = runtime.load(&std::fs::read("policy.wasm")?)?;
//! let mut instance = policy.instantiate()?;
//! match instance.transform(r#"{"email":"ada@example.com"}"#, &[])? {
//!     Ok(outcome) => println!("{}", outcome.lead),
//!     Err(failure) => eprintln!("{failure}"),
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cache;
mod inspect;

use std::time::Duration;

use leadfilter_engine::{Change, Failure, Outcome, PolicyInfo, Secret, Violation};
use wasmtime::component::{
    Component, ComponentExportIndex, ComponentType, Instance, Lift, Linker, WasmList,
};
use wasmtime::{
    Config, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter, Store, Trap,
};

pub use cache::{CACHE_DIR_ENV, CacheSetting, CodeSource};
pub use inspect::{InspectError, Metadata, inspect};

use crate::compile::PolicyMetadata;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "policy",
    });
}

use bindings::exports::leadfilter::policy::filter as wit;

/// `outcome` as [`PolicyInstance::transform_lead`] lifts it: the lead, and
/// the change list left in the instance's memory, never copied out.
#[derive(ComponentType, Lift)]
#[component(record)]
struct LeadOnly {
    lead: String,
    #[allow(dead_code)]
    changes: WasmList<wit::Change>,
}

/// The interface every policy component exports.
pub const POLICY_INTERFACE: &str = "leadfilter:policy/filter@0.1.0";

/// A generous fuel budget for one call, for callers that want a
/// deterministic limit ([`RuntimeOptions::fuel`]; none by default).
///
/// Wasmtime charges one unit per Wasm instruction plus one per byte that
/// `memory.copy` and `memory.fill` move, so fuel measures work, not only
/// instructions. The costliest lead measured, 1 MiB of text dense with
/// personal data under `scrub`, used 1.3 billion units (about 60 ms); a loop
/// of plain instructions burns through ten billion in a few seconds.
pub const DEFAULT_FUEL: u64 = 10_000_000_000;

/// The time one call may take by default.
///
/// The costliest lead measured (1 MiB of text dense with personal data under
/// `scrub`) takes about 60 ms.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// How often the epoch advances: the granularity of the time limit.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Linear memory a policy instance may use by default.
pub const DEFAULT_MEMORY_LIMIT: usize = 64 << 20;

/// How to run policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeOptions {
    /// Where to cache compiled code.
    pub cache: CacheSetting,
    /// The longest one `transform` or `info` call may run (measured with
    /// wasmtime's epochs, to within about 10 ms).
    pub timeout: Duration,
    /// A fuel budget for one call, if any (one unit per Wasm instruction and
    /// per byte of bulk memory copy or fill; see [`DEFAULT_FUEL`]). Unlike
    /// the timeout it stops a policy at the same point on every machine, but
    /// metering costs about a fifth of the component's speed, so it is off
    /// by default.
    pub fuel: Option<u64>,
    /// The most linear memory one instance may have, in bytes.
    pub memory_limit: usize,
    /// Use wasmtime's pooling allocator with room for this many instances
    /// alive at once: instantiation gets faster (memory slots are reused,
    /// not mapped afresh), at the price of reserving address space up front.
    /// `None` allocates each instance on demand.
    pub pooling: Option<u32>,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            cache: CacheSetting::Default,
            timeout: DEFAULT_TIMEOUT,
            fuel: None,
            memory_limit: DEFAULT_MEMORY_LIMIT,
            pooling: None,
        }
    }
}

/// Why a component could not be loaded or run. Never holds a lead value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    /// Wasmtime could not be set up.
    #[error("failed to set up wasmtime: {0}")]
    Setup(String),
    /// The bytes are not a valid component.
    #[error("not a valid wasm component: {0}")]
    Invalid(String),
    /// The component imports something; a policy must import nothing.
    #[error(
        "the component imports {}: a leadfilter policy must import nothing",
        list(.0)
    )]
    Imports(Vec<String>),
    /// The component does not export the policy interface.
    #[error("the component does not export `{POLICY_INTERFACE}`: it is not a leadfilter policy")]
    NotAPolicy,
    /// The component's `leadfilter-policy` section is there but unreadable.
    #[error(transparent)]
    Inspect(#[from] InspectError),
    /// The call ran out of fuel.
    #[error("the policy exceeded its execution budget of {fuel} fuel units")]
    Budget {
        /// The budget.
        fuel: u64,
    },
    /// The call ran past its time limit.
    #[error("the policy exceeded its time limit of {ms} ms")]
    Timeout {
        /// The limit in milliseconds.
        ms: u128,
    },
    /// The instance tried to grow past the memory limit.
    #[error("the policy exceeded its memory limit of {mib} MiB")]
    Memory {
        /// The limit in MiB (rounded up).
        mib: usize,
    },
    /// The call overflowed the Wasm stack.
    #[error("the policy exceeded its stack size")]
    Stack,
    /// The policy trapped for another reason (a bug in the engine).
    #[error("the policy trapped: {0}")]
    Trap(String),
    /// The call failed outside the policy's code.
    #[error("the policy call failed: {0}")]
    Call(String),
    /// An earlier call on this instance failed; it cannot be used again.
    #[error("this policy instance failed earlier and cannot be used again")]
    Poisoned,
    /// The component holds the bare engine, with no policy baked in.
    #[error("the component holds no policy: make it with `leadfilter compile`")]
    NoPolicy,
}

fn list(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    quoted.join(", ")
}

/// A wasmtime engine set up for policy components.
#[derive(Clone)]
pub struct Runtime {
    engine: wasmtime::Engine,
    linker: Linker<Limits>,
    options: RuntimeOptions,
    artifacts: Option<cache::ArtifactCache>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Sets up wasmtime.
    pub fn new(options: &RuntimeOptions) -> Result<Runtime, RuntimeError> {
        let config =
            |pagemap_scan: bool| -> Result<Config, RuntimeError> {
                let mut config = Config::new();
                config.wasm_component_model(true);
                config.consume_fuel(options.fuel.is_some());
                config.epoch_interruption(true);
                if let Some(instances) = options.pooling {
                    config.allocation_strategy(InstanceAllocationStrategy::Pooling(
                        pooling_config(instances, options.memory_limit, pagemap_scan),
                    ));
                }
                Ok(config)
            };
        // Resetting only the pages an instance wrote needs Linux's
        // PAGEMAP_SCAN (kernel 6.7 or later); where it is missing, the pool
        // falls back to wasmtime's defaults.
        let engine = match wasmtime::Engine::new(&config(options.pooling.is_some())?) {
            Ok(engine) => engine,
            Err(_) if options.pooling.is_some() => wasmtime::Engine::new(&config(false)?)
                .map_err(|e| RuntimeError::Setup(format!("{e:#}")))?,
            Err(e) => return Err(RuntimeError::Setup(format!("{e:#}"))),
        };
        let artifacts = options.cache.artifacts().map_err(RuntimeError::Setup)?;
        spawn_epoch_ticker(&engine)?;
        let linker = Linker::new(&engine);
        Ok(Runtime {
            engine,
            linker,
            options: options.clone(),
            artifacts,
        })
    }

    /// The options this runtime was made with.
    pub fn options(&self) -> &RuntimeOptions {
        &self.options
    }

    /// Compiles a policy component (or takes its machine code from the
    /// cache) and checks that it is one: it exports [`POLICY_INTERFACE`] and
    /// imports nothing.
    pub fn load(&self, component: &[u8]) -> Result<LoadedPolicy, RuntimeError> {
        let metadata = match inspect(component) {
            Ok(metadata) => Some(metadata.policy),
            Err(InspectError::NoMetadata) => None,
            Err(InspectError::NotAComponent(e)) => return Err(RuntimeError::Invalid(e)),
            Err(e) => return Err(e.into()),
        };
        let (component, code) = match &self.artifacts {
            Some(artifacts) => artifacts.load(&self.engine, component),
            None => Component::new(&self.engine, component).map(|c| (c, CodeSource::Compiled)),
        }
        .map_err(|e| RuntimeError::Invalid(format!("{e:#}")))?;
        let ty = component.component_type();
        let imports: Vec<String> = ty
            .imports(&self.engine)
            .map(|(name, _)| name.to_string())
            .collect();
        if !imports.is_empty() {
            return Err(RuntimeError::Imports(imports));
        }
        if !ty
            .exports(&self.engine)
            .any(|(name, _)| name == POLICY_INTERFACE)
        {
            return Err(RuntimeError::NotAPolicy);
        }
        let transform = component
            .get_export_index(None, POLICY_INTERFACE)
            .and_then(|filter| component.get_export_index(Some(&filter), "transform"))
            .ok_or(RuntimeError::NotAPolicy)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .and_then(bindings::PolicyPre::new)
            .map_err(|e| RuntimeError::Invalid(format!("{e:#}")))?;
        Ok(LoadedPolicy {
            pre,
            transform,
            fuel: self.options.fuel,
            timeout: self.options.timeout,
            memory_limit: self.options.memory_limit,
            metadata,
            code,
        })
    }
}

/// A checked policy component, compiled to machine code: instantiate it as
/// often as needed. Cheap to clone.
#[derive(Clone)]
pub struct LoadedPolicy {
    pre: bindings::PolicyPre<Limits>,
    transform: ComponentExportIndex,
    fuel: Option<u64>,
    timeout: Duration,
    memory_limit: usize,
    metadata: Option<PolicyMetadata>,
    code: CodeSource,
}

impl std::fmt::Debug for LoadedPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPolicy")
            .field("metadata", &self.metadata)
            .finish_non_exhaustive()
    }
}

impl LoadedPolicy {
    /// The component's `leadfilter-policy` section, if it has one (every
    /// component that `leadfilter compile` makes does).
    pub fn metadata(&self) -> Option<&PolicyMetadata> {
        self.metadata.as_ref()
    }

    /// Whether this load compiled the component or mapped its machine code
    /// from the on-disk cache.
    pub fn code_source(&self) -> CodeSource {
        self.code
    }

    /// A fresh instance in a store of its own.
    pub fn instantiate(&self) -> Result<PolicyInstance, RuntimeError> {
        let limits = Limits {
            memory_limit: self.memory_limit,
            exceeded: false,
        };
        let mut store = Store::new(self.pre.engine(), limits);
        store.limiter(|limits| limits);
        store.epoch_deadline_trap();
        let mut instance = PolicyInstance {
            store,
            bound: None,
            transform: self.transform,
            fuel: self.fuel,
            timeout: self.timeout,
            fuel_used: None,
            poisoned: false,
        };
        instance.enter()?;
        let instantiated = self
            .pre
            .instance_pre()
            .instantiate(&mut instance.store)
            .and_then(|raw| {
                let bindings = bindings::Policy::new(&mut instance.store, &raw)?;
                Ok((raw, bindings))
            });
        match instantiated {
            Ok(bound) => {
                instance.bound = Some(bound);
                Ok(instance)
            }
            Err(e) => Err(instance.error(e)),
        }
    }
}

/// One instance of a policy, with its own memory. Reusing it for several
/// leads is faster; a fresh one per lead keeps leads apart.
pub struct PolicyInstance {
    store: Store<Limits>,
    /// The instance and its typed exports; `None` until instantiated.
    bound: Option<(Instance, bindings::Policy)>,
    transform: ComponentExportIndex,
    fuel: Option<u64>,
    timeout: Duration,
    fuel_used: Option<u64>,
    poisoned: bool,
}

impl std::fmt::Debug for PolicyInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyInstance")
            .field("poisoned", &self.poisoned)
            .finish_non_exhaustive()
    }
}

impl PolicyInstance {
    /// Filters one lead. The outer `Result` is about running the policy
    /// (budget, memory, traps); the inner one is the policy's answer.
    pub fn transform(
        &mut self,
        lead: &str,
        secrets: &[Secret],
    ) -> Result<Result<Outcome, Failure>, RuntimeError> {
        let secrets = wit_secrets(secrets);
        let answer = self.call(|store, bindings, _| {
            bindings
                .leadfilter_policy_filter()
                .call_transform(store, lead, &secrets)
        })?;
        Ok(answer.map(outcome_from_wit).map_err(failure_from_wit))
    }

    /// Filters one lead like [`PolicyInstance::transform`], but gives only
    /// the filtered lead, not the change list: the list stays in the
    /// instance's memory instead of being copied out string by string, which
    /// saves about a quarter of a small lead's time (`leadfilter run` uses
    /// this).
    pub fn transform_lead(
        &mut self,
        lead: &str,
        secrets: &[Secret],
    ) -> Result<Result<String, Failure>, RuntimeError> {
        let secrets = wit_secrets(secrets);
        let transform = self.transform;
        let (answer,) = self.call(|store, _, instance| {
            instance
                .get_typed_func::<(&str, &[wit::Secret]), (Result<LeadOnly, wit::Failure>,)>(
                    &mut *store,
                    transform,
                )?
                .call(store, (lead, &secrets))
        })?;
        Ok(answer.map(|outcome| outcome.lead).map_err(failure_from_wit))
    }

    /// What the policy is, as the component says.
    pub fn info(&mut self) -> Result<PolicyInfo, RuntimeError> {
        let info =
            self.call(|store, bindings, _| bindings.leadfilter_policy_filter().call_info(store))?;
        if info.digest.is_empty() {
            return Err(RuntimeError::NoPolicy);
        }
        Ok(PolicyInfo {
            name: info.name,
            version: info.version,
            digest: info.digest,
            secrets: info.secrets,
            input_schema: info.input_schema,
            output_schema: info.output_schema,
        })
    }

    /// Runs one call into the component with a fresh deadline and fuel
    /// budget; a failed call poisons the instance.
    fn call<R>(
        &mut self,
        call: impl FnOnce(&mut Store<Limits>, &bindings::Policy, Instance) -> wasmtime::Result<R>,
    ) -> Result<R, RuntimeError> {
        self.enter()?;
        let Some((instance, bindings)) = &self.bound else {
            return Err(RuntimeError::Poisoned);
        };
        let result = call(&mut self.store, bindings, *instance);
        self.count_fuel();
        result.map_err(|e| self.error(e))
    }

    /// The fuel the last `transform` or `info` call used, out of the budget,
    /// when the runtime meters fuel ([`RuntimeOptions::fuel`]); a call that
    /// ran out used all of it.
    pub fn fuel_used(&self) -> Option<u64> {
        self.fuel_used
    }

    fn count_fuel(&mut self) {
        if let Some(fuel) = self.fuel {
            let left = self.store.get_fuel().unwrap_or(0);
            self.fuel_used = Some(fuel.saturating_sub(left));
        }
    }

    /// Readies the store for a call: a fresh deadline, the full fuel budget,
    /// no memory overrun seen.
    fn enter(&mut self) -> Result<(), RuntimeError> {
        if self.poisoned {
            return Err(RuntimeError::Poisoned);
        }
        self.store.data_mut().exceeded = false;
        self.store.set_epoch_deadline(deadline_ticks(self.timeout));
        if let Some(fuel) = self.fuel {
            self.store
                .set_fuel(fuel)
                .map_err(|e| RuntimeError::Setup(format!("{e:#}")))?;
        }
        Ok(())
    }

    /// Classifies a failed call and poisons the instance.
    fn error(&mut self, error: wasmtime::Error) -> RuntimeError {
        self.poisoned = true;
        let limits = self.store.data();
        if limits.exceeded {
            return RuntimeError::Memory {
                mib: limits.memory_limit.div_ceil(1 << 20),
            };
        }
        match error.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => RuntimeError::Budget {
                fuel: self.fuel.unwrap_or(0),
            },
            Some(Trap::Interrupt) => RuntimeError::Timeout {
                ms: self.timeout.as_millis(),
            },
            Some(Trap::StackOverflow) => RuntimeError::Stack,
            Some(trap) => RuntimeError::Trap(trap.to_string()),
            None => RuntimeError::Call(format!("{error:#}")),
        }
    }
}

/// Advances `engine`'s epoch every [`EPOCH_TICK`] for as long as the engine
/// lives, so that calls past their deadline trap.
fn spawn_epoch_ticker(engine: &wasmtime::Engine) -> Result<(), RuntimeError> {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("leadfilter-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .map(drop)
        .map_err(|e| RuntimeError::Setup(format!("cannot start the epoch thread: {e}")))
}

/// Epoch ticks from now until `timeout` has passed: one more than the
/// timeout holds, since the current tick is already partly over.
fn deadline_ticks(timeout: Duration) -> u64 {
    let ticks = timeout.as_nanos().div_ceil(EPOCH_TICK.as_nanos());
    u64::try_from(ticks).unwrap_or(u64::MAX - 1) + 1
}

/// The pooling allocator's set-up for `instances` live instances.
///
/// A fresh instance starts from the policy's pre-initialised memory image.
/// By default wasmtime maps that image copy-on-write and, when the instance
/// is dropped, `madvise`s its pages away, so the next instance in the slot
/// takes a page fault on every page it touches: for a 1 KB lead that made a
/// fresh instance's transform about five times slower than a warm one.
/// With `pagemap_scan`, the pool keeps slots resident and, on drop, copies
/// back only the pages the instance wrote (found with Linux's PAGEMAP_SCAN),
/// so the next instance starts with every page mapped (see BENCHMARKS.md,
/// "Isolation").
fn pooling_config(
    instances: u32,
    memory_limit: usize,
    pagemap_scan: bool,
) -> PoolingAllocationConfig {
    let mut pooling = PoolingAllocationConfig::default();
    pooling
        .total_component_instances(instances)
        .total_core_instances(instances)
        .total_memories(instances)
        .total_tables(instances)
        .max_memory_size(memory_limit);
    if pagemap_scan {
        pooling
            .pagemap_scan(wasmtime::Enabled::Yes)
            .linear_memory_keep_resident(memory_limit.min(KEEP_RESIDENT))
            .table_keep_resident(KEEP_RESIDENT_TABLE);
    }
    pooling
}

/// Bytes of linear memory a pool slot keeps resident between instances: more
/// than a policy's pre-initialised memory (about 4 MiB) plus what a lead's
/// transform grows it by.
const KEEP_RESIDENT: usize = 16 << 20;

/// Bytes of function table a pool slot keeps resident between instances.
const KEEP_RESIDENT_TABLE: usize = 64 << 10;

/// What a store holds: the memory limit and whether a call hit it.
struct Limits {
    memory_limit: usize,
    exceeded: bool,
}

impl ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_limit {
            self.exceeded = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

/// Function table entries an instance may have (the engine needs a few
/// hundred).
const MAX_TABLE_ELEMENTS: usize = 100_000;

fn wit_secrets(secrets: &[Secret]) -> Vec<wit::Secret> {
    secrets
        .iter()
        .map(|s| wit::Secret {
            name: s.name.clone(),
            value: s.value.clone(),
        })
        .collect()
}

fn outcome_from_wit(outcome: wit::Outcome) -> Outcome {
    Outcome {
        lead: outcome.lead,
        changes: outcome
            .changes
            .into_iter()
            .map(|wit::Change { path, action }| Change { path, action })
            .collect(),
    }
}

fn violation_from_wit(wit::Violation { path, message }: wit::Violation) -> Violation {
    Violation { path, message }
}

fn failure_from_wit(failure: wit::Failure) -> Failure {
    let list = |vs: Vec<wit::Violation>| vs.into_iter().map(violation_from_wit).collect();
    match failure {
        wit::Failure::InvalidJson(m) => Failure::InvalidJson(m),
        wit::Failure::InputSchema(vs) => Failure::InputSchema(list(vs)),
        wit::Failure::Rejected(m) => Failure::Rejected(m),
        wit::Failure::OutputSchema(vs) => Failure::OutputSchema(list(vs)),
        wit::Failure::MissingSecret(name) => Failure::MissingSecret(name),
        wit::Failure::Transform(v) => Failure::Transform(violation_from_wit(v)),
    }
}
