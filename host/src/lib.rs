//! leadfilter: compile lead-minimisation policies into self-contained,
//! capability-free Wasm components, and apply them to leads.
//!
//! The pipeline is in the module names: [`policy`] reads and checks a policy
//! source, [`compile`] bakes it into a component, [`runtime`] runs components
//! with wasmtime, [`testing`] runs policy unit tests (`leadfilter test`).
//!
//! For most hosts and tests, [`Filter`] is all there is to it: load a
//! compiled component (or check and compile a policy source) once, then
//! filter any number of leads. Every answer comes from the component, in
//! wasmtime, exactly as `leadfilter run` and `leadfilter serve` give it: the
//! filtered lead and its change list, or a typed [`Failure`] that names
//! paths and rules but never a value from the lead.
//!
//! ```
//! use leadfilter::{Failure, Filter};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let source = r#"
//! apiVersion: leadfilter/v1
//! name: crm
//! version: 1.0.0
//! secrets: [pepper]
//! require:
//!   - { path: /consent, equals: true, reason: no consent }
//! fields:
//!   /first_name: keep
//!   /email: { hash: { key: pepper, normalize: [trim, lowercase] } }
//!   /phone: { mask: { keep_last: 4 } }
//! "#;
//! // Checked and compiled once (`Filter::from_component` loads a
//! // `policy.wasm`, `Filter::from_source` reads a policy file).
//! let mut filter = Filter::from_source_text("crm.yaml", source)?
//!     .with_secret("pepper", "not-the-real-pepper");
//!
//! let outcome = filter.transform(
//!     r#"{"first_name":"Ada","phone":"+44 20 7946 0958","consent":true,"notes":"..."}"#,
//! )?;
//! assert_eq!(outcome.lead, r#"{"first_name":"Ada","phone":"************0958"}"#);
//! let dropped: Vec<&str> = outcome
//!     .changes
//!     .iter()
//!     .filter(|c| c.action == "unknown")
//!     .map(|c| c.path.as_str())
//!     .collect();
//! assert_eq!(dropped, ["/consent", "/notes"]);
//!
//! let refused = filter.transform(r#"{"first_name":"Bob","consent":false}"#);
//! assert_eq!(
//!     refused.unwrap_err().failure(),
//!     Some(&Failure::Rejected("no consent".into()))
//! );
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

pub mod compile;
pub mod init;
pub mod input;
pub mod policy;
pub mod runtime;
pub mod secrets;
pub mod serve;
pub mod testing;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub use leadfilter_engine::{Change, Failure, Outcome, PolicyInfo, Secret, Violation};

use compile::{CompileError, CompileOptions, Compiler};
use policy::PolicyError;
use runtime::{LoadedPolicy, PolicyInstance, Runtime, RuntimeError, RuntimeOptions};

/// A policy ready to filter leads, with the secrets it runs with.
///
/// Each `Filter` keeps one component instance and reuses it from lead to
/// lead (the engine keeps no state between calls); an instance that fails
/// (time, fuel, memory, a trap) is dropped and the next lead gets a fresh one.
/// `Filter`s made by [`Filter::from_component`] and [`Filter::from_source`]
/// share one wasmtime runtime with default options (and one compiler);
/// [`Filter::from_loaded`] takes a policy loaded by a [`Runtime`] of your
/// own.
pub struct Filter {
    policy: LoadedPolicy,
    instance: Option<PolicyInstance>,
    info: PolicyInfo,
    secrets: Vec<Secret>,
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter")
            .field("info", &self.info)
            .field("secrets", &self.secrets)
            .finish_non_exhaustive()
    }
}

/// Why a [`Filter`] could not be made.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    /// A file could not be read.
    #[error("cannot read `{path}`: {error}", path = .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The policy source does not pass `leadfilter check`.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The policy could not be compiled.
    #[error(transparent)]
    Compile(#[from] CompileError),
    /// The component could not be loaded or instantiated.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

/// Why a lead was not filtered: the policy's answer, or a runtime problem.
/// Never holds a value from the lead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransformError {
    /// The policy refused the lead (the WIT `failure`).
    #[error("{0}")]
    Failure(Failure),
    /// The policy could not run to the end: its time, fuel or memory ran out, or
    /// it trapped.
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
}

impl Filter {
    /// Loads a compiled policy component (the bytes of a `policy.wasm`).
    pub fn from_component(component: &[u8]) -> Result<Filter, FilterError> {
        Filter::from_loaded(shared_runtime()?.load(component)?)
    }

    /// Reads a `policy.wasm` and loads it.
    pub fn from_component_file(path: impl AsRef<Path>) -> Result<Filter, FilterError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|error| FilterError::Read {
            path: path.to_owned(),
            error,
        })?;
        Filter::from_component(&bytes)
    }

    /// Checks a policy source (`.yaml`, `.yml` or `.json`, with the schema
    /// files it names) as `leadfilter check` does, compiles it and loads
    /// the component.
    pub fn from_source(path: impl AsRef<Path>) -> Result<Filter, FilterError> {
        Filter::compiled(policy::load(path.as_ref())?)
    }

    /// Checks and compiles policy source text; `path` names it in
    /// diagnostics, tells YAML from JSON by its extension, and is the base
    /// of the schema files the policy names.
    pub fn from_source_text(path: impl AsRef<Path>, text: &str) -> Result<Filter, FilterError> {
        Filter::compiled(policy::load_source(path.as_ref(), text)?)
    }

    fn compiled(loaded: policy::LoadedPolicy) -> Result<Filter, FilterError> {
        let component = shared_compiler()?.compile(&loaded.policy.canonical_json())?;
        Filter::from_component(&component)
    }

    /// Uses a policy that a [`Runtime`] of your own loaded (for other fuel,
    /// memory or cache settings).
    pub fn from_loaded(policy: LoadedPolicy) -> Result<Filter, FilterError> {
        let mut instance = policy.instantiate()?;
        let info = instance.info()?;
        Ok(Filter {
            policy,
            instance: Some(instance),
            info,
            secrets: Vec::new(),
        })
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

    /// What the policy is: name, version, digest, secret names, schemas.
    pub fn info(&self) -> &PolicyInfo {
        &self.info
    }

    /// Filters one lead (JSON text) with the filter's secrets.
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
        let mut instance = match self.instance.take() {
            Some(instance) => instance,
            None => self.policy.instantiate()?,
        };
        let answer = instance.transform(lead, secrets)?;
        self.instance = Some(instance);
        answer.map_err(TransformError::Failure)
    }
}

/// The runtime that `Filter`s share, made on first use.
fn shared_runtime() -> Result<&'static Runtime, RuntimeError> {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    if let Some(runtime) = RUNTIME.get() {
        return Ok(runtime);
    }
    let runtime = Runtime::new(&RuntimeOptions::default())?;
    Ok(RUNTIME.get_or_init(|| runtime))
}

/// The compiler that `Filter`s share, made on first use.
fn shared_compiler() -> Result<&'static Compiler, CompileError> {
    static COMPILER: OnceLock<Compiler> = OnceLock::new();
    if let Some(compiler) = COMPILER.get() {
        return Ok(compiler);
    }
    let compiler = Compiler::new(&CompileOptions::default())?;
    Ok(COMPILER.get_or_init(|| compiler))
}
