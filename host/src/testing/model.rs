//! The test file: what it says, read and checked before anything runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use leadfilter_engine::{Change, Secret};
use serde::Deserialize;

/// The failure kinds a case can expect: the WIT `failure` cases.
pub const FAILURE_KINDS: [&str; 6] = [
    "invalid-json",
    "input-schema",
    "rejected",
    "output-schema",
    "missing-secret",
    "transform",
];

/// A test file, read and checked: its policy and its cases.
#[derive(Debug, Clone)]
pub struct TestFile {
    /// Where the file is.
    pub path: PathBuf,
    /// The policy the cases run against: a source (`.yaml`, `.yml`,
    /// `.json`) or a compiled component (`.wasm`), resolved against the
    /// test file's directory.
    pub policy: PathBuf,
    /// The cases, in file order.
    pub cases: Vec<Case>,
}

/// One case: a lead, the secrets it runs with, what must come out.
#[derive(Clone)]
pub struct Case {
    /// The case's name, unique in its file.
    pub name: String,
    /// The lead's exact text, as the component receives it.
    pub lead: String,
    /// The secrets handed in (test values).
    pub secrets: Vec<Secret>,
    /// What must come out.
    pub expect: Expect,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case")
            .field("name", &self.name)
            .field("secrets", &self.secrets)
            .field("expect", &self.expect)
            .finish_non_exhaustive()
    }
}

/// What a case expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// The lead is filtered into this output.
    Output {
        /// The expected output as JSON text.
        lead: String,
        /// Compare the compact text byte for byte (member order included)
        /// instead of as JSON values.
        exact: bool,
        /// The expected change list, in order, when given.
        changes: Option<Vec<Change>>,
    },
    /// The lead fails.
    Failure {
        /// One of [`FAILURE_KINDS`].
        kind: String,
        /// For `rejected`: the `require` reason (or `unknown: reject`
        /// message), exactly.
        reason: Option<String>,
        /// For `input-schema`, `output-schema` and `transform`: the paths
        /// of the violations, in any order.
        paths: Option<Vec<String>>,
        /// The failure's message exactly as `leadfilter run` prints it
        /// (its `Display` without the leading `kind: `).
        message: Option<String>,
    },
}

/// Why a test file cannot be used. Names the file and the place in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {}{message}", file.display(), if location.is_empty() { String::new() } else { format!("{location}: ") })]
pub struct TestFileError {
    /// The test file.
    pub file: PathBuf,
    /// Where in it (`cases[2].expect`), empty for the whole file.
    pub location: String,
    /// What is wrong and what to do.
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    policy: Option<PathBuf>,
    #[serde(default)]
    secrets: BTreeMap<String, String>,
    cases: Vec<RawCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: String,
    lead: Option<serde_norway::Value>,
    lead_file: Option<PathBuf>,
    secrets: Option<BTreeMap<String, String>>,
    expect: RawExpect,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    output: Option<serde_norway::Value>,
    output_file: Option<PathBuf>,
    #[serde(default)]
    exact: bool,
    changes: Option<Vec<RawChange>>,
    failure: Option<String>,
    reason: Option<String>,
    paths: Option<Vec<String>>,
    message: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChange {
    path: String,
    action: String,
}

/// Whether `path` names a test file: `*.test.yaml` or `*.test.yml`.
pub fn is_test_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".test.yaml") || n.ends_with(".test.yml"))
}

/// The test file for a policy: `policy.yaml` (or `.yml`, `.json`, `.wasm`)
/// has its cases in `policy.test.yaml` beside it.
pub fn test_file_for(policy: &Path) -> PathBuf {
    let stem = policy.file_stem().unwrap_or_default().to_string_lossy();
    policy.with_file_name(format!("{stem}.test.yaml"))
}

/// The policy a test file is for when it names none: `policy.test.yaml`
/// is for `policy.yaml`, `policy.yml` or `policy.json` (the first that
/// exists), or `policy.wasm` when there is no source.
pub fn default_policy_for(test_file: &Path) -> PathBuf {
    let name = test_file
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let stem = name
        .strip_suffix(".test.yaml")
        .or_else(|| name.strip_suffix(".test.yml"))
        .unwrap_or(&name);
    let candidates = ["yaml", "yml", "json", "wasm"].map(|ext| {
        let mut candidate = test_file.to_owned();
        candidate.set_file_name(format!("{stem}.{ext}"));
        candidate
    });
    candidates
        .iter()
        .find(|c| c.is_file())
        .unwrap_or(&candidates[0])
        .clone()
}

impl TestFile {
    /// Reads and checks the test file at `path`, with the lead and output
    /// files it names.
    pub fn load(path: &Path) -> Result<TestFile, TestFileError> {
        let error = |location: &str, message: String| TestFileError {
            file: path.to_owned(),
            location: location.to_owned(),
            message,
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| error("", format!("cannot read the test file: {e}")))?;
        TestFile::from_yaml(path, &text)
    }

    /// Parses test file text; `path` names it in errors and is the base of
    /// the relative paths in it.
    pub fn from_yaml(path: &Path, text: &str) -> Result<TestFile, TestFileError> {
        let error = |location: &str, message: String| TestFileError {
            file: path.to_owned(),
            location: location.to_owned(),
            message,
        };
        // The YAML reader's message names the place (`cases[0].expect: ...
        // at line 5 column 7`).
        let raw: RawFile = serde_norway::from_str(text).map_err(|e| error("", e.to_string()))?;
        let base = path.parent().unwrap_or(Path::new(""));
        let policy = match raw.policy {
            Some(policy) => base.join(policy),
            None => default_policy_for(path),
        };
        if raw.cases.is_empty() {
            return Err(error(
                "cases",
                "there are no cases: add at least one".into(),
            ));
        }
        let mut cases: Vec<Case> = Vec::with_capacity(raw.cases.len());
        for (i, case) in raw.cases.into_iter().enumerate() {
            let at = format!("cases[{i}]");
            if cases.iter().any(|c| c.name == case.name) {
                return Err(error(
                    &at,
                    format!(
                        "a case named `{}` comes earlier: give every case its own name",
                        case.name
                    ),
                ));
            }
            let lead = match (case.lead, case.lead_file) {
                (Some(lead), None) => {
                    json_text(&lead).map_err(|m| error(&format!("{at}.lead"), m))?
                }
                (None, Some(file)) => {
                    read(base, &file).map_err(|m| error(&format!("{at}.lead_file"), m))?
                }
                _ => {
                    return Err(error(
                        &at,
                        "give the lead inline (`lead:`) or as a file (`lead_file:`), one of them"
                            .into(),
                    ));
                }
            };
            let secrets = case.secrets.as_ref().unwrap_or(&raw.secrets);
            let secrets = secrets
                .iter()
                .map(|(name, value)| Secret {
                    name: name.clone(),
                    value: value.as_bytes().to_vec(),
                })
                .collect();
            let expect = expect(base, case.expect).map_err(|(place, m)| {
                let location = if place.is_empty() {
                    format!("{at}.expect")
                } else {
                    format!("{at}.expect.{place}")
                };
                error(&location, m)
            })?;
            cases.push(Case {
                name: case.name,
                lead,
                secrets,
                expect,
            });
        }
        Ok(TestFile {
            path: path.to_owned(),
            policy,
            cases,
        })
    }
}

/// A lead or output given inline: a string is the exact JSON text, anything
/// else is written as compact JSON (members in the file's order).
fn json_text(value: &serde_norway::Value) -> Result<String, String> {
    match value {
        serde_norway::Value::String(text) => Ok(text.clone()),
        other => {
            only_json(other)?;
            serde_json::to_string(other).map_err(|e| format!("not JSON: {e}"))
        }
    }
}

/// Refuses what JSON cannot say: YAML tags, keys that are not strings,
/// infinities and NaN. (Duplicate keys are refused by the YAML reader.)
fn only_json(value: &serde_norway::Value) -> Result<(), String> {
    use serde_norway::Value;
    match value {
        Value::Tagged(_) => Err("YAML tags (`!name`) have no JSON meaning".into()),
        Value::Number(n) if n.as_f64().is_some_and(|f| !f.is_finite()) => {
            Err("infinity and NaN are not JSON numbers".into())
        }
        Value::Sequence(items) => items.iter().try_for_each(only_json),
        Value::Mapping(members) => members.iter().try_for_each(|(key, value)| {
            if !key.is_string() {
                return Err(
                    "a key is a string (quote keys that YAML would read as a number, boolean or null)"
                        .into(),
                );
            }
            only_json(value)
        }),
        _ => Ok(()),
    }
}

/// Reads a file named relative to the test file, as exact text.
fn read(base: &Path, file: &Path) -> Result<String, String> {
    let path = base.join(file);
    std::fs::read_to_string(&path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))
}

fn expect(base: &Path, raw: RawExpect) -> Result<Expect, (&'static str, String)> {
    let failure_fields = raw.reason.is_some() || raw.paths.is_some() || raw.message.is_some();
    let output = match (raw.output, raw.output_file) {
        (Some(output), None) => Some(json_text(&output).map_err(|m| ("output", m))?),
        (None, Some(file)) => Some(read(base, &file).map_err(|m| ("output_file", m))?),
        (None, None) => None,
        (Some(_), Some(_)) => {
            return Err(("", "give `output:` or `output_file:`, not both".into()));
        }
    };
    match (output, raw.failure) {
        (Some(lead), None) => {
            if failure_fields {
                return Err((
                    "",
                    "`reason`, `paths` and `message` go with `failure:`, not with an output".into(),
                ));
            }
            if let Err(e) = leadfilter_engine::json::parse(&lead) {
                return Err(("output", format!("the expected output is not JSON: {e}")));
            }
            let changes = raw.changes.map(|changes| {
                changes
                    .into_iter()
                    .map(|RawChange { path, action }| Change { path, action })
                    .collect()
            });
            Ok(Expect::Output {
                lead,
                exact: raw.exact,
                changes,
            })
        }
        (None, Some(kind)) => {
            if !FAILURE_KINDS.contains(&kind.as_str()) {
                return Err((
                    "failure",
                    format!("`{kind}` is not a failure kind: use one of {}", FAILURE_KINDS.join(", ")),
                ));
            }
            if raw.changes.is_some() || raw.exact {
                return Err(("", "`changes` and `exact` go with an output, not with `failure:`".into()));
            }
            if raw.reason.is_some() && kind != "rejected" {
                return Err(("reason", "`reason` goes with `failure: rejected`".into()));
            }
            if raw.paths.is_some()
                && !matches!(kind.as_str(), "input-schema" | "output-schema" | "transform")
            {
                return Err((
                    "paths",
                    "`paths` goes with `failure: input-schema`, `output-schema` or `transform`".into(),
                ));
            }
            Ok(Expect::Failure {
                kind,
                reason: raw.reason,
                paths: raw.paths,
                message: raw.message,
            })
        }
        _ => Err((
            "",
            "expect an output (`output:` or `output_file:`) or a failure (`failure: KIND`), exactly one".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<TestFile, TestFileError> {
        TestFile::from_yaml(Path::new("dir/p.test.yaml"), text)
    }

    fn error(text: &str) -> String {
        load(text).unwrap_err().to_string()
    }

    #[test]
    fn leads_are_mappings_in_order_or_exact_text() {
        let file = load(
            "secrets: { pepper: p }\ncases:\n\
             - { name: a, lead: { z: 1, a: 1.50 }, expect: { output: {} } }\n\
             - { name: b, lead: '{\"a\": 1.50}', secrets: {}, expect: { failure: invalid-json } }\n",
        )
        .unwrap();
        assert_eq!(file.policy, Path::new("dir/p.yaml"));
        assert_eq!(file.cases[0].lead, r#"{"z":1,"a":1.5}"#);
        assert_eq!(file.cases[0].secrets.len(), 1);
        assert_eq!(file.cases[1].lead, r#"{"a": 1.50}"#);
        assert!(file.cases[1].secrets.is_empty());
        assert_eq!(
            file.cases[0].expect,
            Expect::Output {
                lead: "{}".into(),
                exact: false,
                changes: None
            }
        );
    }

    #[test]
    fn mistakes_name_their_place() {
        let e = error("cases:\n- { name: a, lead: {}, expect: { output: {} , exepct: 1 } }\n");
        assert!(
            e.starts_with("dir/p.test.yaml: cases[0].expect: unknown field `exepct`"),
            "{e}"
        );
        let e =
            error("cases:\n- { name: a, lead: {}, lead_file: x.json, expect: { output: {} } }\n");
        assert!(e.contains("cases[0]: give the lead inline"), "{e}");
        let e =
            error("cases:\n- { name: a, lead: {}, expect: { output: {}, failure: rejected } }\n");
        assert!(e.contains("cases[0].expect: expect an output"), "{e}");
        let e = error("cases:\n- { name: a, lead: {}, expect: { failure: nope } }\n");
        assert!(
            e.contains("cases[0].expect.failure: `nope` is not a failure kind"),
            "{e}"
        );
        let e =
            error("cases:\n- { name: a, lead: {}, expect: { failure: rejected, paths: [/a] } }\n");
        assert!(e.contains("cases[0].expect.paths"), "{e}");
        let e = error("cases:\n- { name: a, lead: {}, expect: { output: '{' } }\n");
        assert!(e.contains("the expected output is not JSON"), "{e}");
        let e = error(
            "cases:\n- { name: a, lead: {}, expect: { output: {} } }\n\
             - { name: a, lead: {}, expect: { output: {} } }\n",
        );
        assert!(
            e.contains("cases[1]: a case named `a` comes earlier"),
            "{e}"
        );
        assert!(error("cases: []\n").contains("there are no cases"));
    }

    #[test]
    fn what_json_cannot_say_is_refused_in_leads() {
        let e = error("cases:\n- { name: a, lead: { a: 1, a: 2 }, expect: { output: {} } }\n");
        assert!(e.contains("duplicate"), "{e}");
        let e = error("cases:\n- { name: a, lead: { 1: x }, expect: { output: {} } }\n");
        assert!(e.contains("a key is a string"), "{e}");
        let e = error("cases:\n- { name: a, lead: { a: !tag x }, expect: { output: {} } }\n");
        assert!(e.contains("YAML tags"), "{e}");
        let e = error("cases:\n- { name: a, lead: { a: .inf }, expect: { output: {} } }\n");
        assert!(e.contains("not JSON numbers"), "{e}");
    }

    #[test]
    fn discovery_names() {
        assert!(is_test_file(Path::new("a/policy.test.yaml")));
        assert!(is_test_file(Path::new("x.test.yml")));
        assert!(!is_test_file(Path::new("policy.yaml")));
        assert_eq!(
            test_file_for(Path::new("a/crm.wasm")),
            Path::new("a/crm.test.yaml")
        );
        assert_eq!(
            default_policy_for(Path::new("nowhere/crm.test.yml")),
            Path::new("nowhere/crm.yaml")
        );
    }
}
