//! Compiling a policy: baking the canonical policy into the shipped engine and
//! emitting a self-contained, capability-free component.
//!
//! The engine ships inside `leadfilter` as a core Wasm module
//! ([`ENGINE_WASM`], built by `scripts/build-engine`), so compiling needs no
//! Rust toolchain. [`Compiler::compile`]:
//!
//! 1. checks the policy natively (the same engine code, built for the host),
//!    which gives precise load errors and the policy's info;
//! 2. instantiates the engine module with wasmtime, writes the canonical
//!    policy into its memory and calls its `leadfilter_load` export, which
//!    parses the policy and builds its regexes and schema validators;
//! 3. snapshots the initialised memory and globals with Wizer into a new core
//!    module, so every instance starts with the policy loaded;
//! 4. drops the `leadfilter_load` export and the `name` section, turns the
//!    module into a component with `wit-component` and adds the
//!    [`SECTION`] custom section ([`PolicyMetadata`], see [`crate::artifact`]).
//!
//! The same policy and engine always give the same bytes.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use leadfilter_engine::{LoadError, Policy};
use wasm_encoder::reencode::{Reencode, RoundtripReencoder};
use wasmtime::{Instance, Memory, Module, Store};
use wasmtime_wizer::{ModuleContext, WasmtimeWizer, Wizer};

use crate::artifact::{self, EngineMetadata, PolicyMetadata, SECTION};
use crate::runtime::CacheSetting;

/// The engine as a core Wasm module with no policy in it (with wit-bindgen's
/// `component-type` custom section), built by `scripts/build-engine`.
pub static ENGINE_WASM: &[u8] = include_bytes!("../../engine/leadfilter-engine.wasm");

/// The engine's export that loads a policy: `(ptr, len) -> status`.
const LOAD_EXPORT: &str = "leadfilter_load";
/// The engine's Wizer initialisation function.
const INIT_EXPORT: &str = "leadfilter_initialize";

/// Why a policy could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The policy does not load into the engine.
    #[error(transparent)]
    Policy(#[from] LoadError),
    /// The engine inside Wasm refused a policy that the native engine
    /// accepted: a bug in leadfilter.
    #[error("the engine refused the policy inside wasm (a bug in leadfilter): {0}")]
    EngineRefused(String),
    /// Wasmtime could not be set up (for example the cache directory).
    #[error("failed to set up wasmtime for compiling: {0}")]
    Setup(String),
    /// Running the engine to load the policy or taking the snapshot failed.
    #[error("failed to pre-initialise the engine with the policy: {0}")]
    Snapshot(String),
    /// `wit-component` could not make the component.
    #[error("failed to encode the policy component: {0}")]
    Encode(String),
}

/// How to compile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompileOptions {
    /// Where wasmtime caches the machine code of the engine module, which
    /// every compile runs.
    pub cache: CacheSetting,
}

/// Compiles policies; holds the engine module compiled to machine code, so
/// compiling many policies with one `Compiler` pays for that once.
pub struct Compiler {
    engine: wasmtime::Engine,
    module: Module,
    context: ModuleContext<'static>,
    wizer: Wizer,
    engine_metadata: EngineMetadata,
}

impl std::fmt::Debug for Compiler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiler")
            .field("engine", &self.engine_metadata)
            .finish_non_exhaustive()
    }
}

/// Compiles canonical policy JSON into a policy component with default
/// options. See [`Compiler`] to compile several policies.
pub fn compile(canonical_policy_json: &[u8]) -> Result<Vec<u8>, CompileError> {
    Compiler::new(&CompileOptions::default())?.compile(canonical_policy_json)
}

impl Compiler {
    /// Prepares the shipped engine for compiling policies.
    pub fn new(options: &CompileOptions) -> Result<Compiler, CompileError> {
        let mut config = wasmtime::Config::new();
        config.cache(options.cache.build().map_err(CompileError::Setup)?);
        let engine = wasmtime::Engine::new(&config).map_err(|e| setup(&e))?;

        let mut wizer = Wizer::new();
        wizer.init_func(INIT_EXPORT);
        let (context, instrumented) = wizer.instrument(ENGINE_WASM).map_err(|e| setup(&e))?;
        let module = Module::new(&engine, &instrumented).map_err(|e| setup(&e))?;

        Ok(Compiler {
            engine,
            module,
            context,
            wizer,
            engine_metadata: EngineMetadata {
                version: env!("CARGO_PKG_VERSION").to_string(),
                digest: leadfilter_engine::policy::digest_of(ENGINE_WASM),
            },
        })
    }

    /// Compiles a policy (canonical policy JSON, with schemas embedded) into
    /// a component. The policy is canonicalised again, so the same policy
    /// always gives the same component, whatever its white space.
    pub fn compile(&self, canonical_policy_json: &[u8]) -> Result<Vec<u8>, CompileError> {
        let policy = Policy::from_json(canonical_policy_json)
            .map_err(|e| LoadError::Policy(e.to_string()))?;
        let canonical = policy.canonical_json();
        let native = leadfilter_engine::Engine::from_json(&canonical)?;
        let metadata = PolicyMetadata {
            info: native.info().clone(),
            engine: self.engine_metadata.clone(),
        };

        let module = self.snapshot(&canonical)?;
        let module = strip(&module).map_err(CompileError::Encode)?;
        let mut component = wit_component::ComponentEncoder::default()
            .module(&module)
            .and_then(|encoder| encoder.validate(true).encode())
            .map_err(|e| CompileError::Encode(format!("{e:#}")))?;

        let json =
            serde_json::to_vec(&metadata).map_err(|e| CompileError::Encode(e.to_string()))?;
        artifact::append_custom_section(&mut component, SECTION, &json);
        Ok(component)
    }

    /// Runs the engine with the policy loaded and returns the snapshot: a core
    /// module whose memory holds the loaded engine.
    fn snapshot(&self, canonical: &[u8]) -> Result<Vec<u8>, CompileError> {
        let mut store = Store::new(&self.engine, ());
        let instance = Instance::new(&mut store, &self.module, &[]).map_err(|e| run(&e))?;
        load(&mut store, &instance, canonical)?;
        instance
            .get_typed_func::<(), ()>(&mut store, INIT_EXPORT)
            .and_then(|init| init.call(&mut store, ()))
            .map_err(|e| run(&e))?;
        let mut state = WasmtimeWizer {
            store: &mut store,
            instance,
        };
        block_on(self.wizer.snapshot(&self.context, &mut state)).map_err(|e| run(&e))
    }
}

/// Hands the policy to the engine's `leadfilter_load`.
fn load(store: &mut Store<()>, instance: &Instance, policy: &[u8]) -> Result<(), CompileError> {
    let memory = instance
        .get_memory(&mut *store, "memory")
        .ok_or_else(|| CompileError::Snapshot("the engine exports no memory".into()))?;
    let len = i32::try_from(policy.len())
        .map_err(|_| CompileError::Snapshot("the policy is larger than 2 GiB".into()))?;
    let realloc = instance
        .get_typed_func::<(i32, i32, i32, i32), i32>(&mut *store, "cabi_realloc")
        .map_err(|e| run(&e))?;
    let ptr = realloc
        .call(&mut *store, (0, 0, 1, len))
        .map_err(|e| run(&e))?;
    memory
        .write(&mut *store, address(ptr), policy)
        .map_err(|e| CompileError::Snapshot(e.to_string()))?;
    let status = instance
        .get_typed_func::<(i32, i32), i32>(&mut *store, LOAD_EXPORT)
        .and_then(|f| f.call(&mut *store, (ptr, len)))
        .map_err(|e| run(&e))?;
    if status == 0 {
        return Ok(());
    }
    let message = read_message(store, &memory, status)
        .unwrap_or_else(|| "the engine gave an unreadable reason".to_string());
    Err(CompileError::EngineRefused(message))
}

/// Reads the `(ptr, len)` pair at `pair` and the UTF-8 text it points at.
fn read_message(store: &Store<()>, memory: &Memory, pair: i32) -> Option<String> {
    let data = memory.data(store);
    let at = |offset: usize| -> Option<usize> {
        let bytes = data.get(offset..offset + 4)?;
        let word = u32::from_le_bytes(bytes.try_into().ok()?);
        usize::try_from(word).ok()
    };
    let pair = address(pair);
    let (ptr, len) = (at(pair)?, at(pair + 4)?);
    let text = data.get(ptr..ptr.checked_add(len)?)?;
    String::from_utf8(text.to_vec()).ok()
}

/// A guest pointer (an `i32` that is really a `u32`) as an offset.
fn address(ptr: i32) -> usize {
    ptr.cast_unsigned() as usize
}

/// Copies the snapshot without what a policy component does not need: the
/// `leadfilter_load` export, and the `name` section (function names, about a
/// tenth of the module, which no leadfilter error shows).
fn strip(module: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = wasm_encoder::Module::new();
    for payload in wasmparser::Parser::new(0).parse_all(module) {
        let payload = payload.map_err(|e| e.to_string())?;
        match &payload {
            wasmparser::Payload::ExportSection(reader) => {
                let mut exports = wasm_encoder::ExportSection::new();
                for export in reader.clone() {
                    let export = export.map_err(|e| e.to_string())?;
                    if export.name != LOAD_EXPORT {
                        RoundtripReencoder
                            .parse_export(&mut exports, export)
                            .map_err(|e| e.to_string())?;
                    }
                }
                out.section(&exports);
            }
            wasmparser::Payload::CustomSection(reader) if reader.name() == "name" => {}
            _ => {
                if let Some((id, range)) = payload.as_section() {
                    out.section(&wasm_encoder::RawSection {
                        id,
                        data: &module[range],
                    });
                }
            }
        }
    }
    Ok(out.finish())
}

/// Drives a future that never waits on anything outside itself (Wizer's
/// snapshot only reads the instance's memory and globals) to completion.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
    }
}

fn setup(error: &wasmtime::Error) -> CompileError {
    CompileError::Setup(format!("{error:#}"))
}

fn run(error: &wasmtime::Error) -> CompileError {
    CompileError::Snapshot(format!("{error:#}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"{"apiVersion":"leadfilter/v1","name":"crm","version":"1","fields":{"/first_name":"keep"}}"#;

    /// The status scheme of `leadfilter_load`: 0, or the address of the
    /// reason the engine gives.
    #[test]
    fn the_engine_says_why_it_does_not_load_a_policy() {
        let compiler = Compiler::new(&CompileOptions {
            cache: CacheSetting::Disabled,
        })
        .expect("the compiler sets up");
        let mut store = Store::new(&compiler.engine, ());
        let instance =
            Instance::new(&mut store, &compiler.module, &[]).expect("the engine instantiates");

        match load(&mut store, &instance, b"{\"name\":\"x\"}") {
            Err(CompileError::EngineRefused(reason)) => {
                assert!(reason.starts_with("the policy is not valid: "), "{reason}")
            }
            other => panic!("expected the engine to refuse, got {other:?}"),
        }
        load(&mut store, &instance, POLICY.as_bytes()).expect("the policy loads");
        match load(&mut store, &instance, POLICY.as_bytes()) {
            Err(CompileError::EngineRefused(reason)) => {
                assert_eq!(reason, "a policy is already loaded")
            }
            other => panic!("expected a second load to be refused, got {other:?}"),
        }
    }

    #[test]
    fn strip_keeps_everything_else() {
        let stripped = strip(ENGINE_WASM).expect("the engine re-encodes");
        let exports = |module: &[u8]| -> Vec<String> {
            let mut names = Vec::new();
            for payload in wasmparser::Parser::new(0).parse_all(module) {
                match payload.expect("the module parses") {
                    wasmparser::Payload::ExportSection(reader) => {
                        for export in reader {
                            names.push(export.expect("an export parses").name.to_string());
                        }
                    }
                    wasmparser::Payload::CustomSection(reader) => {
                        names.push(format!("custom section {}", reader.name()));
                    }
                    _ => {}
                }
            }
            names
        };
        let mut expected = exports(ENGINE_WASM);
        assert!(expected.iter().any(|name| name == LOAD_EXPORT));
        expected.retain(|name| name != LOAD_EXPORT && name != "custom section name");
        assert_eq!(exports(&stripped), expected);
        wasmparser::Validator::new()
            .validate_all(&stripped)
            .expect("the module stays valid");
    }
}
