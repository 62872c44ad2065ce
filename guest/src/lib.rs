//! The leadfilter engine: applies a compiled policy to leads.
//!
//! This crate is plain Rust. Natively it is the reference engine that the
//! host's tests and benchmarks compare against; built for
//! `wasm32-unknown-unknown` it becomes the body of every `policy.wasm`
//! component (see `component.rs`), where it exports the WIT interface
//! `leadfilter:policy/filter` and imports nothing.
//!
//! ```
//! use leadfilter_engine::{Engine, Policy, Secret};
//!
//! let policy: Policy = serde_json::from_str(r#"{
//!     "apiVersion": "leadfilter/v1", "name": "crm", "version": "1",
//!     "fields": { "/email": "domain", "/first_name": "keep" }
//! }"#).unwrap();
//! let engine = Engine::new(policy).unwrap();
//! let outcome = engine
//!     .transform(r#"{"first_name":"Ada","email":"ada@Example.com","phone":"+1 555"}"#, &[])
//!     .unwrap();
//! assert_eq!(outcome.lead, r#"{"first_name":"Ada","email":"example.com"}"#);
//! ```

#![deny(missing_docs)]

pub mod coverage;
pub mod json;
pub mod path;
pub mod policy;
pub mod schema;
pub mod scrub;

mod action;
#[cfg(any(target_arch = "wasm32", test))]
mod alloc;
mod condition;
mod engine;
mod names;

#[cfg(target_arch = "wasm32")]
mod component;

pub use coverage::Coverage;
pub use engine::{Engine, LoadError};
pub use policy::Policy;

/// A secret handed in for one transform.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    /// The declared name.
    pub name: String,
    /// The bytes.
    pub value: Vec<u8>,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secret")
            .field("name", &self.name)
            .field("value", &"<hidden>")
            .finish()
    }
}

/// What a policy is (the WIT `policy-info`). Serialises with snake_case
/// field names, as in the `leadfilter-policy` custom section.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PolicyInfo {
    /// The policy's name.
    pub name: String,
    /// The policy's version.
    pub version: String,
    /// `sha256:<hex>` of the canonical policy.
    pub digest: String,
    /// Secret names the policy declares.
    pub secrets: Vec<String>,
    /// The input schema as compact JSON text.
    pub input_schema: Option<String>,
    /// The output schema as compact JSON text.
    pub output_schema: Option<String>,
}

/// One change: a path of the input and the action applied (the WIT `change`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// JSON Pointer into the input lead; an object key that the policy and
    /// its schemas do not name is `*`.
    pub path: String,
    /// Action name, or `unknown` for an ungoverned value that was dropped.
    pub action: String,
}

/// A filtered lead (the WIT `outcome`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Compact JSON text.
    pub lead: String,
    /// What was done, in input order.
    pub changes: Vec<Change>,
}

/// A path and what is wrong there, never a value (the WIT `violation`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Violation {
    /// JSON Pointer; an object key that the policy and its schemas do not
    /// name is `*`.
    pub path: String,
    /// What is wrong, without the value or a key.
    pub message: String,
}

/// Why a lead was not filtered (the WIT `failure`). Holds no lead values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Not I-JSON, or too deep: where, not what.
    InvalidJson(String),
    /// The input schema does not hold.
    InputSchema(Vec<Violation>),
    /// A `require` reason, or `unknown: reject` naming the path.
    Rejected(String),
    /// The output schema does not hold.
    OutputSchema(Vec<Violation>),
    /// A declared secret was not handed in.
    MissingSecret(String),
    /// An action could not apply.
    Transform(Violation),
}

impl Failure {
    /// The failure kind as the WIT names it: `invalid-json`, `input-schema`,
    /// `rejected`, `output-schema`, `missing-secret`, `transform`.
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::InvalidJson(_) => "invalid-json",
            Failure::InputSchema(_) => "input-schema",
            Failure::Rejected(_) => "rejected",
            Failure::OutputSchema(_) => "output-schema",
            Failure::MissingSecret(_) => "missing-secret",
            Failure::Transform(_) => "transform",
        }
    }
}

impl Failure {
    /// What went wrong, without the kind: the `require` reason or the
    /// parser's where-not-what for `invalid-json`, ``secret `NAME` was not
    /// provided``, and `PATH: MESSAGE` for each violation (joined by `; `,
    /// the root shown as `/`). What `run`'s error records, `serve`'s 422
    /// answers and `leadfilter test` show.
    pub fn message(&self) -> String {
        let violation = |v: &Violation| format!("{}: {}", display_path(&v.path), v.message);
        match self {
            Failure::InvalidJson(m) | Failure::Rejected(m) => m.clone(),
            Failure::MissingSecret(name) => format!("secret `{name}` was not provided"),
            Failure::InputSchema(vs) | Failure::OutputSchema(vs) => {
                vs.iter().map(violation).collect::<Vec<_>>().join("; ")
            }
            Failure::Transform(v) => violation(v),
        }
    }

    /// The paths the failure names (JSON Pointers, the root as `""`): one
    /// per schema violation, the one of a `transform` failure, none for the
    /// other kinds.
    pub fn paths(&self) -> Vec<&str> {
        match self {
            Failure::InputSchema(vs) | Failure::OutputSchema(vs) => {
                vs.iter().map(|v| v.path.as_str()).collect()
            }
            Failure::Transform(v) => vec![v.path.as_str()],
            _ => Vec::new(),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind(), self.message())
    }
}

/// The root pointer `""` is shown as `/`.
fn display_path(path: &str) -> &str {
    if path.is_empty() { "/" } else { path }
}
