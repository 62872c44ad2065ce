//! Reading and checking a policy source: what `leadfilter check` does, and
//! the first step of `compile` and `run`.
//!
//! [`load`] reads a `.yaml`, `.yml` or `.json` policy, validates it against
//! the policy format's own JSON Schema ([`POLICY_SCHEMA`], the file
//! `schemas/policy.schema.json`), embeds the input and output schemas it
//! names, and runs the checks of SPEC §2: every `hash.key` names a declared
//! secret, regular expressions compile, paths parse, no two rules write one
//! output path, and paths exist in the input and output schemas. It reports
//! every error it finds, each with the file, the place in the policy and
//! what to do:
//!
//! ```text
//! policy.yaml: fields./emial: no such path in the input schema (did you mean `/email`?)
//! ```
//!
//! Decisions worth knowing:
//!
//! - A YAML policy may only say what JSON can: duplicate keys, non-string
//!   keys, tags and non-finite numbers are errors.
//! - A top-level `$schema` key (for editors) is allowed and ignored.
//! - A pattern with `*` cannot have a fixed `to:` (it would write many
//!   values to one path). A pattern with a selector can: a selector usually
//!   picks one element (`[name=email]`), and if a lead has two elements
//!   that match, the transform fails rather than pick one.
//! - Against the input schema, an object schema that lists `properties`
//!   allows only those (and `patternProperties`, and any member when
//!   `additionalProperties` is present and not `false`): a rule on anything
//!   else is reported as a typo. Against the output schema only an explicit
//!   `false` forbids a path.

mod checks;
mod diagnostic;
mod shape;
mod source;
mod walk;

use std::path::{Path, PathBuf};

use leadfilter_engine::Policy;
use leadfilter_engine::schema::Schema;
use serde_json::Value;

pub use diagnostic::{Diagnostic, PolicyError};
pub use shape::POLICY_SCHEMA;

use diagnostic::{Findings, Location};
use source::Syntax;

/// A policy that passed every check.
#[derive(Debug, Clone)]
pub struct LoadedPolicy {
    /// The policy, with its schemas embedded as [`SchemaRef::Inline`](leadfilter_engine::policy::SchemaRef::Inline).
    pub policy: Policy,
    /// What is allowed but worth a second look (an unkeyed hash, a secret
    /// no rule uses).
    pub warnings: Vec<Diagnostic>,
}

/// Reads and checks the policy at `path`. Schema files it names are read
/// relative to its directory.
pub fn load(path: &Path) -> Result<LoadedPolicy, PolicyError> {
    let text = std::fs::read_to_string(path).map_err(|e| PolicyError {
        errors: vec![Diagnostic::new(
            path,
            "",
            format!("cannot read the policy: {e}"),
        )],
        warnings: Vec::new(),
    })?;
    load_source(path, &text)
}

/// Checks a policy source that has already been read; `path` names it in
/// diagnostics, tells YAML from JSON by its extension, and is the base of
/// relative schema paths.
pub fn load_source(path: &Path, text: &str) -> Result<LoadedPolicy, PolicyError> {
    let mut findings = Findings::new(path);
    let Some(syntax) = Syntax::of(path) else {
        findings.error_with(
            "",
            "a policy file is YAML or JSON",
            Some("name it `*.yaml`, `*.yml` or `*.json`".into()),
        );
        return Err(into_error(findings));
    };
    let mut document = match source::parse(text, syntax) {
        Ok(document) => document,
        Err(e) => {
            findings.error("", format!("not a valid policy file: {e}"));
            return Err(into_error(findings));
        }
    };

    shape::check(&document, &mut findings);
    if !findings.errors.is_empty() {
        return Err(into_error(findings));
    }
    if let Value::Object(map) = &mut document {
        map.remove("$schema");
    }

    let base = path.parent().unwrap_or(Path::new(""));
    for which in ["input", "output"] {
        embed_schema(&mut document, which, base, &mut findings);
    }
    if !findings.errors.is_empty() {
        return Err(into_error(findings));
    }

    let policy: Policy = match serde_json::from_value(document.clone()) {
        Ok(policy) => policy,
        Err(e) => {
            // The policy schema should have caught this.
            findings.error("", format!("not a valid policy: {e}"));
            return Err(into_error(findings));
        }
    };
    checks::run(&policy, &document, &mut findings);
    if !findings.errors.is_empty() {
        return Err(into_error(findings));
    }
    // The engine's own load is the last check, so that `check` never passes
    // a policy the component would refuse (the fuzzer found `fields: {"":
    // redact}` passing here and failing there).
    if let Err(e) = leadfilter_engine::Engine::new(policy.clone()) {
        match e {
            leadfilter_engine::LoadError::Path { path, message } => {
                findings.error(Location::root().key("fields").key(&path), message);
            }
            other => findings.error(Location::root(), other.to_string()),
        }
        return Err(into_error(findings));
    }
    Ok(LoadedPolicy {
        policy,
        warnings: findings.warnings,
    })
}

fn into_error(findings: Findings) -> PolicyError {
    PolicyError {
        errors: findings.errors,
        warnings: findings.warnings,
    }
}

/// A schema file larger than this is refused (a schema is a few kilobytes).
pub const MAX_SCHEMA_BYTES: u64 = 16 * 1024 * 1024;

/// Reads a schema file: a regular file (not a device or a pipe, which could
/// be endless) of at most [`MAX_SCHEMA_BYTES`], in UTF-8.
fn read_schema_file(file: &Path) -> std::io::Result<String> {
    use std::io::{Error, ErrorKind, Read};
    let handle = std::fs::File::open(file)?;
    if !handle.metadata()?.is_file() {
        return Err(Error::new(ErrorKind::InvalidInput, "not a regular file"));
    }
    let mut text = String::new();
    handle
        .take(MAX_SCHEMA_BYTES + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_SCHEMA_BYTES {
        return Err(Error::new(
            ErrorKind::InvalidData,
            format!("larger than {} MiB", MAX_SCHEMA_BYTES >> 20),
        ));
    }
    Ok(text)
}

/// Replaces a schema file name at `which.schema` by the schema, and checks
/// that the schema compiles.
fn embed_schema(document: &mut Value, which: &str, base: &Path, findings: &mut Findings) {
    let Some(slot) = document.get_mut(which).and_then(|v| v.get_mut("schema")) else {
        return;
    };
    let location = Location::root().key(which).key("schema");
    if let Value::String(name) = slot {
        let file: PathBuf = base.join(&*name);
        let text = match read_schema_file(&file) {
            Ok(text) => text,
            Err(e) => {
                findings.error_with(
                    &location,
                    format!("cannot read `{}`: {e}", file.display()),
                    Some("a schema path is relative to the policy file".into()),
                );
                return;
            }
        };
        let syntax = Syntax::of(&file).unwrap_or(Syntax::Json);
        match source::parse(&text, syntax) {
            Ok(schema) => *slot = schema,
            Err(e) => {
                findings.error(&location, format!("`{}` is not valid: {e}", file.display()));
                return;
            }
        }
    }
    if let Err(e) = Schema::new(slot) {
        findings.error(
            &location,
            format!("the {which} schema does not compile: {e}"),
        );
    }
}
