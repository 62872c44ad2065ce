//! The first check: the policy document against `schemas/policy.schema.json`,
//! each violation turned into a diagnostic at its place in the policy with
//! what to do about it.

use std::sync::OnceLock;

use leadfilter_engine::Violation;
use leadfilter_engine::path::Segment;
use leadfilter_engine::policy::ActionKind;
use leadfilter_engine::schema::Schema;
use serde_json::Value;

use super::diagnostic::{Findings, location_of};
use super::walk;

/// The JSON Schema of the policy format.
pub const POLICY_SCHEMA: &str = include_str!("../../../schemas/policy.schema.json");

/// How an action that cannot stand alone is written with its parameters.
fn with_parameters(kind: ActionKind) -> Option<&'static str> {
    Some(match kind {
        ActionKind::Truncate => "truncate: { keep_first: 3 }",
        ActionKind::Hash => "hash: { key: SECRET }",
        ActionKind::Date => "date: { precision: year }",
        ActionKind::Bucket => "bucket: { width: 10 }",
        _ => return None,
    })
}

/// Every action's name: "`keep`, `drop`, ... or `scrub`".
fn actions() -> String {
    let names: Vec<String> = ActionKind::ALL
        .iter()
        .map(|k| k.name().to_owned())
        .collect();
    listing(&names, "or", names.len())
}

const CONDITIONS: &str = "a condition is `{path, equals: V}`, `{path, in: [V, ...]}`, \
     `{path, exists: true|false}`, `{path, matches: REGEX}`, `{all: [...]}`, `{any: [...]}` \
     or `{not: CONDITION}`, with exactly one test";

fn policy_schema() -> &'static (Value, Schema) {
    static SCHEMA: OnceLock<(Value, Schema)> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let document: Value =
            serde_json::from_str(POLICY_SCHEMA).expect("schemas/policy.schema.json is JSON");
        let schema = Schema::new(&document).expect("schemas/policy.schema.json compiles");
        (document, schema)
    })
}

/// Validates `document` against the policy schema; records every violation.
pub(crate) fn check(document: &Value, findings: &mut Findings) {
    let (schema_doc, schema) = policy_schema();
    let violations = schema.validate(document);
    // An unknown key explains the `oneOf` failure of its object: report the
    // key alone.
    let unknown_parents: Vec<String> = violations
        .iter()
        .filter(|v| is_unknown_key(v))
        .map(|v| parent_pointer(&v.path).to_owned())
        .collect();
    for violation in &violations {
        if violation.message.starts_with("`oneOf`") && unknown_parents.contains(&violation.path) {
            continue;
        }
        let segments = pointer_segments(&violation.path);
        let location = location_of(document, &violation.path);
        let value = document.pointer(&violation.path);
        let (message, help) = explain(schema_doc, violation, &segments, value);
        findings.error_with(location, message, help);
    }
}

fn is_unknown_key(v: &Violation) -> bool {
    v.message.starts_with("`additionalProperties`")
        || v.message.starts_with("`unevaluatedProperties`")
}

fn parent_pointer(pointer: &str) -> &str {
    pointer.rfind('/').map_or("", |i| &pointer[..i])
}

fn pointer_segments(pointer: &str) -> Vec<String> {
    pointer
        .split('/')
        .skip(1)
        .map(|raw| raw.replace("~1", "/").replace("~0", "~"))
        .collect()
}

fn keys(segments: &[String]) -> Vec<Segment> {
    segments.iter().map(|s| Segment::Key(s.clone())).collect()
}

/// A message and help for one violation of the policy schema.
fn explain(
    schema: &Value,
    violation: &Violation,
    segments: &[String],
    value: Option<&Value>,
) -> (String, Option<String>) {
    let message = violation.message.as_str();
    let names: Vec<&str> = segments.iter().map(String::as_str).collect();
    let last = names.last().copied().unwrap_or("");
    if is_unknown_key(violation) {
        let parent = &segments[..segments.len().saturating_sub(1)];
        if names == ["fields", last] {
            return (
                format!("`{last}` is not a path: a path is a JSON Pointer, starting with `/`"),
                Some(format!("did you mean `/{last}`?")),
            );
        }
        let known = walk::property_names(schema, &keys(parent));
        let help = did_you_mean(last, &known)
            .map(|s| format!("did you mean `{s}`?"))
            .or_else(|| (!known.is_empty()).then(|| format!("expected {}", one_of(&known))));
        return (format!("unknown key `{last}`"), help);
    }
    if message.starts_with("`oneOf`") {
        let alternative = names.first() == Some(&"fields")
            && (names.len() == 2 || (names.len() == 3 && names[2].parse::<usize>().is_ok()));
        return if alternative {
            (
                "a rule names exactly one action".into(),
                Some(format!("one of {}, optionally with `when`", actions())),
            )
        } else {
            ("not a valid condition".into(), Some(CONDITIONS.into()))
        };
    }
    let parent = names.len().checked_sub(2).map(|i| names[i]);
    match (parent, last, message) {
        (_, "hash", "`required`: missing property `unkeyed`") => {
            return (
                "`hash` needs a `key` (a declared secret) or `unkeyed: true`".into(),
                Some("a keyed hash cannot be reversed by guessing; declare a secret under `secrets` and name it in `key`".into()),
            );
        }
        (Some("hash"), "unkeyed", m) if m.starts_with("`const`") => {
            return (
                "`key` and `unkeyed: true` exclude each other".into(),
                Some("remove `unkeyed` for a keyed hash".into()),
            );
        }
        (Some("mask"), "char", m)
            if m.starts_with("`maxLength`") || m.starts_with("`minLength`") =>
        {
            return ("`char` is exactly one character".into(), None);
        }
        (None, "apiVersion", _) => {
            return ("`apiVersion` is `leadfilter/v1`".into(), None);
        }
        (None, "name", m) if m.starts_with("`pattern`") => {
            return (
                "a policy name has only lowercase letters, digits and `-`".into(),
                None,
            );
        }
        (None, "secrets", m) if m.starts_with("`uniqueItems`") => {
            return ("a secret is declared twice".into(), None);
        }
        _ => {}
    }
    if message.starts_with("`pattern`") {
        if parent == Some("secrets") || last == "key" {
            return (
                "a secret name is a lowercase letter, then lowercase letters, digits and `_`".into(),
                Some("the host reads secret `name` from the environment variable `LEADFILTER_SECRET_NAME`".into()),
            );
        }
        if last == "path" || last == "to" {
            return (
                "a path is a JSON Pointer, starting with `/`".into(),
                value
                    .and_then(Value::as_str)
                    .map(|s| format!("did you mean `/{s}`?")),
            );
        }
    }
    if message.starts_with("`enum`")
        && let Some(text) = value.and_then(Value::as_str)
    {
        if let Some(example) = ActionKind::from_name(text)
            .filter(|kind| !kind.stands_alone())
            .and_then(with_parameters)
        {
            return (
                format!("`{text}` needs parameters and cannot stand alone"),
                Some(format!("write `{example}`")),
            );
        }
        let allowed = walk::enum_strings(schema, &keys(segments));
        let help = did_you_mean(text, &allowed)
            .map(|s| format!("did you mean `{s}`?"))
            .or_else(|| (!allowed.is_empty()).then(|| format!("expected {}", one_of(&allowed))));
        return (format!("`{text}` is not allowed here"), help);
    }
    if message == "`type`: expected string"
        && value.is_some_and(|v| v.is_number() || v.is_boolean())
    {
        return (
            message.into(),
            Some("quote the value, as YAML reads it as a number or boolean".into()),
        );
    }
    (message.into(), None)
}

/// The closest of `candidates` to `word`, if one is close.
pub(crate) fn did_you_mean<'a>(word: &str, candidates: &'a [String]) -> Option<&'a str> {
    let mut best: Option<(f64, &str)> = None;
    for candidate in candidates {
        let score = strsim::jaro_winkler(word, candidate);
        if score >= 0.8 && best.is_none_or(|(b, _)| score > b) {
            best = Some((score, candidate));
        }
    }
    best.map(|(_, c)| c)
}

/// Names shown by [`one_of`] and [`all_of`], at most.
const SHOWN: usize = 10;

/// "`a`, `b` or `c`", at most ten names.
pub(crate) fn one_of(names: &[String]) -> String {
    listing(names, "or", SHOWN)
}

/// "`a`, `b` and `c`", at most ten names.
pub(crate) fn all_of(names: &[String]) -> String {
    listing(names, "and", SHOWN)
}

/// "`a`, `b` and `c`": the first `shown` names, then how many more.
fn listing(names: &[String], conjunction: &str, shown: usize) -> String {
    let mut listed: Vec<String> = names.iter().take(shown).map(|n| format!("`{n}`")).collect();
    if names.len() > shown {
        listed.push(format!("{} more", names.len() - shown));
    }
    match listed.split_last() {
        Some((last, rest)) if !rest.is_empty() => {
            format!("{} {conjunction} {last}", rest.join(", "))
        }
        Some((only, _)) => only.clone(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use leadfilter_engine::policy::Detector;

    use super::*;

    #[test]
    fn the_policy_schema_compiles_and_suggestions_are_close() {
        let _ = policy_schema();
        let names: Vec<String> = ["email", "phone", "address"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(did_you_mean("emial", &names), Some("email"));
        assert_eq!(did_you_mean("zzz", &names), None);
        assert_eq!(one_of(&names), "`email`, `phone` or `address`");
        assert_eq!(all_of(&names[..1]), "`email`");
        let many: Vec<String> = (0..12).map(|i| format!("k{i}")).collect();
        assert!(all_of(&many).ends_with("`k9` and 2 more"));
    }

    #[test]
    fn every_action_that_needs_parameters_has_an_example() {
        for &kind in ActionKind::ALL {
            let example = with_parameters(kind);
            assert_eq!(example.is_some(), !kind.stands_alone(), "{}", kind.name());
            if let Some(example) = example {
                assert!(example.starts_with(&format!("{}: {{", kind.name())));
            }
        }
        assert_eq!(
            actions(),
            "`keep`, `drop`, `redact`, `mask`, `truncate`, `hash`, `domain`, `date`, `bucket` or `scrub`"
        );
    }

    /// The policy schema is written by hand: it must name the engine's
    /// actions and detectors, no more and no fewer.
    #[test]
    fn the_policy_schema_names_the_engines_actions_and_detectors() {
        let (schema, _) = policy_schema();
        let strings = |value: &Value| -> Vec<String> {
            let items = value.as_array().expect("an array");
            items
                .iter()
                .map(|v| v.as_str().expect("a string").to_owned())
                .collect()
        };
        let defs = &schema["$defs"];
        let alone: Vec<&str> = ActionKind::ALL
            .iter()
            .filter(|kind| kind.stands_alone())
            .map(|kind| kind.name())
            .collect();
        assert_eq!(strings(&defs["actionName"]["enum"]), alone);
        let mut properties: Vec<&str> = defs["alternativeObject"]["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .map(String::as_str)
            .filter(|key| *key != "when")
            .collect();
        let mut all: Vec<&str> = ActionKind::ALL.iter().map(|kind| kind.name()).collect();
        properties.sort_unstable();
        all.sort_unstable();
        assert_eq!(properties, all);
        let detectors: Vec<&str> = Detector::ALL.iter().map(|d| d.name()).collect();
        assert_eq!(strings(&defs["detector"]["enum"]), detectors);
    }
}
