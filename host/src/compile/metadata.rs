//! The `leadfilter-policy` custom section: what a compiled policy is, readable
//! without running it.

use leadfilter_engine::PolicyInfo;
use serde::{Deserialize, Serialize};

/// The name of the custom section, at the top level of the component.
pub const SECTION: &str = "leadfilter-policy";

/// What `leadfilter compile` records about a policy component. Compact JSON
/// in the [`SECTION`] custom section; the same facts the component's `info`
/// export returns, plus the engine it was built with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyMetadata {
    /// The policy's name.
    pub name: String,
    /// The policy's version.
    pub version: String,
    /// `sha256:<hex>` of the canonical policy.
    pub digest: String,
    /// The secret names the policy declares.
    pub secrets: Vec<String>,
    /// The input JSON Schema as compact JSON text, if any.
    pub input_schema: Option<String>,
    /// The output JSON Schema as compact JSON text, if any.
    pub output_schema: Option<String>,
    /// The engine the policy was baked into.
    pub engine: EngineMetadata,
}

/// Which engine a policy component holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineMetadata {
    /// The version of `leadfilter` that shipped the engine.
    pub version: String,
    /// `sha256:<hex>` of the engine's core module as shipped (before the
    /// policy was baked in).
    pub digest: String,
}

impl PolicyMetadata {
    /// The facts that the component's `info` export also returns.
    pub fn info(&self) -> PolicyInfo {
        PolicyInfo {
            name: self.name.clone(),
            version: self.version.clone(),
            digest: self.digest.clone(),
            secrets: self.secrets.clone(),
            input_schema: self.input_schema.clone(),
            output_schema: self.output_schema.clone(),
        }
    }

    pub(crate) fn new(info: &PolicyInfo, engine: EngineMetadata) -> PolicyMetadata {
        PolicyMetadata {
            name: info.name.clone(),
            version: info.version.clone(),
            digest: info.digest.clone(),
            secrets: info.secrets.clone(),
            input_schema: info.input_schema.clone(),
            output_schema: info.output_schema.clone(),
            engine,
        }
    }
}
