//! JSON Schema validation whose violations never hold a value. STUB.

use crate::Violation;

/// A compiled JSON Schema (draft 2020-12 or draft-07, by `$schema`).
#[derive(Debug)]
pub struct Schema {}

impl Schema {
    /// Compiles a schema document. The error names the problem, not values.
    pub fn new(_document: &serde_json::Value) -> Result<Schema, String> {
        Ok(Schema {})
    }

    /// Every violation of `instance`, sorted by path, without values.
    pub fn validate(&self, _instance: &serde_json::Value) -> Vec<Violation> {
        Vec::new()
    }
}
