//! Turning a path into a loaded policy: the one place every host does it.
//!
//! `run`, `test`, `serve` and the library's [`crate::Filter`] all open
//! policies through a [`Resolver`]: a compiled component (`.wasm`) is read
//! and loaded; a policy source (`.yaml`, `.yml`, `.json`) is checked as
//! `leadfilter check` checks it, compiled with the process's one
//! [`Compiler`] and loaded. The runtime's options (the sandbox and the code
//! cache) and the compiler's cache come from the same setting, so no host
//! honours an option another ignores.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::compile::{CompileError, CompileOptions, Compiler};
use crate::policy::{self, PolicyError};
use crate::runtime::{CacheSetting, LoadedPolicy, Runtime, RuntimeError, RuntimeOptions};

/// Opens policies for one runtime.
#[derive(Debug, Clone)]
pub struct Resolver {
    runtime: Runtime,
}

/// A policy opened by a [`Resolver`].
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The file it came from.
    pub path: PathBuf,
    /// The component, loaded and checked.
    pub component: LoadedPolicy,
    /// The checked source, when `path` is a policy source rather than a
    /// compiled component (with its warnings).
    pub source: Option<policy::LoadedPolicy>,
}

/// Why a policy could not be opened. Names the file; never holds a value
/// from a lead.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The file could not be read.
    #[error("cannot read `{path}`: {error}", path = .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The policy source does not pass `leadfilter check` (the diagnostics
    /// name the file, the place in it and what to do).
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The policy could not be compiled.
    #[error("cannot compile `{path}`: {error}", path = .path.display())]
    Compile {
        /// The policy source.
        path: PathBuf,
        /// Why.
        error: CompileError,
    },
    /// The component could not be loaded, or is not a policy.
    #[error("cannot load `{path}`: {error}", path = .path.display())]
    Load {
        /// The component (or the source it was compiled from).
        path: PathBuf,
        /// Why.
        error: RuntimeError,
    },
}

impl ResolveError {
    /// Whether the policy source itself is wrong (its diagnostics are the
    /// whole message), rather than a file, the compiler or the runtime.
    pub fn is_policy(&self) -> bool {
        matches!(self, ResolveError::Policy(_))
    }
}

/// Whether `path` names a compiled component (`.wasm`) rather than a policy
/// source.
pub fn is_component(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "wasm")
}

impl Resolver {
    /// A resolver with a runtime of its own.
    pub fn new(options: &RuntimeOptions) -> Result<Resolver, RuntimeError> {
        Ok(Resolver::with_runtime(Runtime::new(options)?))
    }

    /// A resolver over a runtime made elsewhere.
    pub fn with_runtime(runtime: Runtime) -> Resolver {
        Resolver { runtime }
    }

    /// The runtime policies are loaded into.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Opens the policy at `path`: a component is read and loaded, a source
    /// checked, compiled and loaded.
    pub fn resolve(&self, path: &Path) -> Result<Resolved, ResolveError> {
        if is_component(path) {
            let bytes = std::fs::read(path).map_err(|error| ResolveError::Read {
                path: path.to_owned(),
                error,
            })?;
            return Ok(Resolved {
                path: path.to_owned(),
                component: self.load(path, &bytes)?,
                source: None,
            });
        }
        let source = policy::load(path)?;
        self.compiled(path, source)
    }

    /// Checks, compiles and loads policy source text; `path` names it in
    /// diagnostics, tells YAML from JSON and is the base of the schema
    /// files it names.
    pub fn resolve_source_text(&self, path: &Path, text: &str) -> Result<Resolved, ResolveError> {
        let source = policy::load_source(path, text)?;
        self.compiled(path, source)
    }

    /// Checks a policy source without compiling it (for the native engine).
    pub fn source(&self, path: &Path) -> Result<policy::LoadedPolicy, ResolveError> {
        Ok(policy::load(path)?)
    }

    /// Loads a component's bytes; `path` names it in errors.
    pub fn load(&self, path: &Path, component: &[u8]) -> Result<LoadedPolicy, ResolveError> {
        self.runtime
            .load(component)
            .map_err(|error| ResolveError::Load {
                path: path.to_owned(),
                error,
            })
    }

    fn compiled(
        &self,
        path: &Path,
        source: policy::LoadedPolicy,
    ) -> Result<Resolved, ResolveError> {
        let compile_error = |error| ResolveError::Compile {
            path: path.to_owned(),
            error,
        };
        let bytes = compiler(&self.runtime.options().cache)
            .map_err(compile_error)?
            .compile(&source.policy.canonical_json())
            .map_err(compile_error)?;
        Ok(Resolved {
            path: path.to_owned(),
            component: self.load(path, &bytes)?,
            source: Some(source),
        })
    }
}

/// The process's one compiler, made on first use with `cache` (it holds the
/// shipped engine compiled to machine code, which every compile runs).
/// Later calls share it whatever their cache setting: the cache only keeps
/// that machine code between processes.
pub fn compiler(cache: &CacheSetting) -> Result<&'static Compiler, CompileError> {
    static COMPILER: OnceLock<Compiler> = OnceLock::new();
    if let Some(compiler) = COMPILER.get() {
        return Ok(compiler);
    }
    let compiler = Compiler::new(&CompileOptions {
        cache: cache.clone(),
    })?;
    Ok(COMPILER.get_or_init(|| compiler))
}
