//! Reading a component without running it.

use wasmparser::{Parser, Payload};

use super::{PolicyMetadata, SECTION};

/// What a component says about itself, read without compiling or running it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// The [`SECTION`] custom section that `leadfilter compile` writes.
    pub policy: PolicyMetadata,
    /// The names of the component's top-level imports (none for a policy
    /// that `leadfilter compile` made).
    pub imports: Vec<String>,
    /// The names of the component's top-level exports.
    pub exports: Vec<String>,
}

impl Metadata {
    /// The metadata as one JSON object: the policy's fields (schemas as JSON,
    /// not text), the engine, and the import and export names.
    pub fn to_json(&self) -> serde_json::Value {
        let schema = |text: &Option<String>| match text {
            Some(text) => serde_json::from_str(text)
                .unwrap_or_else(|_| serde_json::Value::String(text.clone())),
            None => serde_json::Value::Null,
        };
        let policy = &self.policy;
        serde_json::json!({
            "name": policy.info.name,
            "version": policy.info.version,
            "digest": policy.info.digest,
            "secrets": policy.info.secrets,
            "input_schema": schema(&policy.info.input_schema),
            "output_schema": schema(&policy.info.output_schema),
            "engine": policy.engine,
            "imports": self.imports,
            "exports": self.exports,
        })
    }

    /// The metadata for people, one `key: value` line each.
    pub fn to_text(&self) -> String {
        let policy = &self.policy;
        let names = |names: &[String]| {
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        };
        // The text form names a schema (its `title` or `$id`) and its size;
        // `--json` gives the schemas whole.
        let schema = |text: &Option<String>| match text {
            None => "none".to_string(),
            Some(text) => {
                let value: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
                let name = ["title", "$id"]
                    .iter()
                    .find_map(|key| value.get(key).and_then(|v| v.as_str()))
                    .map(|name| format!("`{name}`, "))
                    .unwrap_or_default();
                format!("{name}{} bytes", text.len())
            }
        };
        format!(
            "name: {}\nversion: {}\ndigest: {}\nsecrets: {}\ninput schema: {}\n\
             output schema: {}\nengine: {} ({})\nimports: {}\nexports: {}\n",
            policy.info.name,
            policy.info.version,
            policy.info.digest,
            names(&policy.info.secrets),
            schema(&policy.info.input_schema),
            schema(&policy.info.output_schema),
            policy.engine.version,
            policy.engine.digest,
            names(&self.imports),
            names(&self.exports),
        )
    }
}

/// Why a component could not be inspected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InspectError {
    /// The bytes are not a Wasm component.
    #[error("not a wasm component: {0}")]
    NotAComponent(String),
    /// The component has no [`SECTION`] section.
    #[error("the component has no `{SECTION}` section: it was not made by `leadfilter compile`")]
    NoMetadata,
    /// The section is there but does not parse.
    #[error("the `{SECTION}` section does not parse: {0}")]
    BadMetadata(String),
}

/// Reads a policy component's [`SECTION`] section and its import and export
/// names.
pub fn inspect(component: &[u8]) -> Result<Metadata, InspectError> {
    // wasmparser would answer with the first bytes of the file: say what is
    // wrong without them.
    if !component.starts_with(b"\0asm") {
        return Err(InspectError::NotAComponent(
            "the file does not start with the WebAssembly magic number (`\\0asm`)".into(),
        ));
    }
    let mut policy = None;
    let mut imports = Vec::new();
    let mut exports = Vec::new();
    // Nested modules and components are parsed in line; only the outermost
    // level (depth 0) is the component's own.
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(component) {
        let payload = payload.map_err(|e| InspectError::NotAComponent(e.to_string()))?;
        match payload {
            Payload::Version { encoding, .. }
                if depth == 0 && encoding != wasmparser::Encoding::Component =>
            {
                return Err(InspectError::NotAComponent(
                    "this is a core wasm module".into(),
                ));
            }
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    let import = import.map_err(|e| InspectError::NotAComponent(e.to_string()))?;
                    imports.push(import.name.name.to_string());
                }
            }
            Payload::ComponentExportSection(reader) if depth == 0 => {
                for export in reader {
                    let export = export.map_err(|e| InspectError::NotAComponent(e.to_string()))?;
                    exports.push(export.name.name.to_string());
                }
            }
            Payload::CustomSection(reader) if depth == 0 && reader.name() == SECTION => {
                let parsed = serde_json::from_slice(reader.data())
                    .map_err(|e| InspectError::BadMetadata(e.to_string()))?;
                policy = Some(parsed);
            }
            _ => {}
        }
    }
    Ok(Metadata {
        policy: policy.ok_or(InspectError::NoMetadata)?,
        imports,
        exports,
    })
}
