//! leadfilter: compile lead-minimisation policies into self-contained,
//! capability-free Wasm components, and apply them to leads.
//!
//! The pipeline is in the module names: [`policy`] reads and checks a policy
//! source, [`compile`] bakes it into a component ([`artifact`] is the
//! `policy.wasm` format), [`runtime`] runs components with wasmtime,
//! [`resolver`] turns a path into a loaded policy for every host, [`filter`]
//! filters leads with it, [`testing`] runs policy unit tests (`leadfilter
//! test`) and [`serve`] is the webhook proxy. `docs/architecture.md` draws
//! the layers.
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
//! // `notes` is a key the policy does not name: paths show it as `*`.
//! assert_eq!(dropped, ["/consent", "/*"]);
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

pub mod artifact;
pub mod compile;
pub mod delivery;
pub mod filter;
pub mod init;
pub mod input;
pub mod json;
pub mod policy;
mod private_fs;
pub mod resolver;
pub mod runtime;
pub mod secrets;
pub mod serve;
pub mod testing;

pub use filter::{Filter, FilterError, TransformError};
pub use leadfilter_engine::{Change, Failure, Outcome, PolicyInfo, Secret, Violation};
pub use resolver::{Resolved, Resolver};
