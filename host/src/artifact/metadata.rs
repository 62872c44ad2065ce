//! The `leadfilter-policy` custom section: what a compiled policy is, readable
//! without running it.

use leadfilter_engine::PolicyInfo;
use serde::{Deserialize, Serialize};

/// The name of the custom section, at the top level of the component.
pub const SECTION: &str = "leadfilter-policy";

/// What `leadfilter compile` records about a policy component. Compact JSON
/// in the [`SECTION`] custom section: the facts the component's `info`
/// export returns (flattened: `name`, `version`, `digest`, `secrets`,
/// `input_schema`, `output_schema`), plus the engine it was built with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyMetadata {
    /// What the policy is.
    #[serde(flatten)]
    pub info: PolicyInfo,
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
