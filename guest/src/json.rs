//! Strict I-JSON (RFC 7493) reading and exact writing. STUB: being written.

/// A JSON value that keeps numbers as their exact text and objects in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as its exact text in the input.
    Number(String),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Json>),
    /// An object, members in input order, names unique.
    Object(Vec<(String, Json)>),
}

/// Nesting deeper than this is an `invalid-json` failure.
pub const MAX_DEPTH: usize = 128;

/// Why text is not I-JSON: where, never what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at line {line} column {column}")]
pub struct JsonError {
    /// What is wrong, without any of the text.
    pub message: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in bytes.
    pub column: usize,
}

/// Parses one JSON text (surrounding white space allowed).
pub fn parse(_text: &str) -> Result<Json, JsonError> {
    Err(JsonError { message: "not implemented".into(), line: 1, column: 1 })
}

impl Json {
    /// Appends the compact JSON text of `self` to `out`.
    pub fn write_compact(&self, _out: &mut String) {}

    /// The compact JSON text.
    pub fn to_compact(&self) -> String {
        let mut out = String::new();
        self.write_compact(&mut out);
        out
    }

    /// The same value as a `serde_json::Value` (for JSON Schema validation).
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
}
