//! A wasmtime engine set up for policy components: the configuration, the
//! pooling allocator, the epoch ticker, and loading (checking) components.

use wasmtime::component::{Component, Linker};
use wasmtime::{Config, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::cache::{ArtifactCache, CodeSource};
use super::limits::{Limits, MAX_INSTANCES, MAX_MEMORIES, MAX_TABLES};
use super::options::EPOCH_TICK;
use super::wit::bindings;
use super::{LoadedPolicy, POLICY_INTERFACE, RuntimeError, RuntimeOptions};
use crate::artifact::{InspectError, inspect};

/// A wasmtime engine set up for policy components.
#[derive(Clone)]
pub struct Runtime {
    engine: wasmtime::Engine,
    linker: Linker<Limits>,
    options: RuntimeOptions,
    artifacts: Option<ArtifactCache>,
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
                // Shared memories escape the store's memory limiter.
                config.wasm_threads(false);
                config.shared_memory(false);
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
            max_output: self.options.max_output,
            metadata,
            code,
        })
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
        .max_memory_size(memory_limit)
        .max_core_instances_per_component(MAX_INSTANCES as u32)
        .max_memories_per_component(MAX_MEMORIES as u32)
        .max_memories_per_module(MAX_MEMORIES as u32)
        .max_tables_per_component(MAX_TABLES as u32);
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
