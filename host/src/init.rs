//! A starter policy written from a sample lead: what `leadfilter init
//! --from sample.json` does.
//!
//! [`Starter::from_sample`] names every field of the sample with `drop`, so
//! that nothing is kept by accident, and writes a comment above each field
//! whose name or shape suggests personal data (an e-mail address, a phone
//! number, a person's name, an address part, a date of birth, an IP
//! address, free text), suggesting an action. Comments name fields, never
//! their values. It also infers a JSON Schema from the sample and writes a
//! test file whose first case is the sample itself, with the output the
//! policy gives it (nothing, at first).
//!
//! Lists of name/value pairs (Facebook Lead Ads `field_data`, HubSpot
//! `fields`, Typeform `answers`) get `[POINTER=TEXT]` selectors: an array
//! of objects in which every element has a distinct, identifier-like string
//! at the same member (`name`, `key`, `ref`, `field/ref`, ...) is addressed
//! element by element (`/field_data/[name=email]/values`). Other arrays of
//! objects are addressed with `*`, arrays of plain values as a whole.

use std::fmt::Write as _;

use leadfilter_engine::policy::{ActionKind, Detector};
use leadfilter_engine::{Engine, Policy, path};
use serde_json::{Map, Value, json};

use crate::json::Tree;

/// The file names `leadfilter init` writes.
pub const POLICY_FILE: &str = "policy.yaml";
/// The inferred input schema.
pub const SCHEMA_FILE: &str = "lead.schema.json";
/// The test file (found by `leadfilter test` beside `policy.yaml`).
pub const TEST_FILE: &str = "policy.test.yaml";

/// Why no starter could be written. Never holds a value from the sample.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InitError {
    /// The sample is not JSON.
    #[error("the sample is not JSON: {0}")]
    NotJson(String),
    /// The sample is not a JSON object.
    #[error("the sample is a JSON {0}, and a lead is a JSON object")]
    NotAnObject(&'static str),
    /// The name is not `[a-z0-9-]+`.
    #[error("`{0}` is not a policy name: use lowercase letters, digits and `-`")]
    Name(String),
    /// The generated policy does not load (a bug in leadfilter).
    #[error("the starter policy does not load (a bug in leadfilter): {0}")]
    Generated(String),
}

/// The three files of a starter policy.
#[derive(Clone, PartialEq, Eq)]
pub struct Starter {
    /// `policy.yaml`: every field dropped, with suggestions.
    pub policy: String,
    /// `lead.schema.json`: a JSON Schema inferred from the sample.
    pub schema: String,
    /// `policy.test.yaml`: the sample as the first case.
    pub tests: String,
    /// How many fields the policy names.
    pub fields: usize,
    /// How many of them have a suggestion.
    pub suggestions: usize,
}

impl std::fmt::Debug for Starter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The test file holds the sample: leave it out.
        f.debug_struct("Starter")
            .field("fields", &self.fields)
            .field("suggestions", &self.suggestions)
            .finish_non_exhaustive()
    }
}

/// A field of the sample and what to suggest for it.
struct Field {
    pattern: String,
    hint: Option<Hint>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hint {
    Email,
    Phone,
    PersonName,
    Street,
    PostalCode,
    Place,
    BirthDate,
    Age,
    Ip,
    FreeText,
}

impl Hint {
    fn comment(self) -> String {
        let text = match self {
            Hint::Email => {
                "an e-mail address? `hash: { key: pepper, normalize: [trim, lowercase] }` (declare `secrets: [pepper]`) or `domain: {}`"
            }
            Hint::Phone => "a phone number? `mask: { keep_last: 4 }` or `hash: { key: pepper }`",
            Hint::PersonName => {
                "a person's name? `keep` only where needed, or `mask: { keep_first: 1 }`"
            }
            Hint::Street => "a street address? `drop`, or `redact: {}`",
            Hint::PostalCode => "a postal code? `truncate: { keep_first: 3 }`",
            Hint::Place => "an address part? `keep` if the destination needs it",
            Hint::BirthDate => "a date of birth? `date: { precision: year }`",
            Hint::Age => "an age? `bucket: { width: 10 }`",
            Hint::Ip => "an IP address? `drop` (it identifies a person's connection)",
            Hint::FreeText => {
                let detectors: Vec<&str> = Detector::ALL.iter().map(|d| d.name()).collect();
                return format!(
                    "free text? `scrub: {{ detectors: [{}] }}`",
                    detectors.join(", ")
                );
            }
        };
        text.to_owned()
    }
}

impl Starter {
    /// Writes a starter policy named `name` for leads shaped like `sample`
    /// (JSON text). `sample_file` is only named in comments.
    pub fn from_sample(sample: &str, name: &str, sample_file: &str) -> Result<Starter, InitError> {
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(InitError::Name(name.to_owned()));
        }
        let json = leadfilter_engine::json::parse(sample)
            .map_err(|e| InitError::NotJson(e.to_string()))?;
        if !matches!(json, leadfilter_engine::json::Json::Object(_)) {
            return Err(InitError::NotAnObject(json.kind()));
        }
        let tree = Tree::parse(sample).ok_or_else(|| InitError::NotJson("unreadable".into()))?;
        let mut fields = Vec::new();
        collect(&tree, &mut String::new(), &[], &mut fields);
        let schema = infer(&tree);
        let policy = policy_text(name, sample_file, &fields);

        // The expected output of the first case: what the policy makes of
        // the sample, computed by the engine (`{}`, since all is dropped).
        let mut document = json!({
            "apiVersion": leadfilter_engine::policy::API_VERSION,
            "name": name,
            "version": "0.1.0",
            "input": { "schema": schema },
            "fields": fields.iter().map(|f| (f.pattern.clone(), json!("drop"))).collect::<Map<_, _>>(),
        });
        if let Some(map) = document.as_object_mut() {
            map.insert("output".into(), json!({ "unknown": "drop" }));
        }
        let policy_value: Policy =
            serde_json::from_value(document).map_err(|e| InitError::Generated(e.to_string()))?;
        let engine = Engine::new(policy_value).map_err(|e| InitError::Generated(e.to_string()))?;
        let output = engine
            .transform(sample, &[])
            .map_err(|failure| InitError::Generated(failure.to_string()))?;

        let tests = tests_text(sample_file, &tree.to_pretty(), &output.lead);
        let mut schema_text = serde_json::to_string_pretty(&schema).unwrap_or_default();
        schema_text.push('\n');
        Ok(Starter {
            policy,
            schema: schema_text,
            tests,
            fields: fields.len(),
            suggestions: fields.iter().filter(|f| f.hint.is_some()).count(),
        })
    }
}

/// Collects a rule for every field under `value` at `pointer`; `names` are
/// the names the value goes by (member names, selector texts), innermost
/// last.
fn collect(value: &Tree, pointer: &mut String, names: &[&str], out: &mut Vec<Field>) {
    match value {
        Tree::Object(members) if !members.is_empty() => {
            for (name, member) in members {
                let len = pointer.len();
                path::push_escaped(pointer, name);
                let mut inner = names.to_vec();
                inner.push(name);
                collect(member, pointer, &inner, out);
                pointer.truncate(len);
            }
        }
        Tree::Array(items)
            if items
                .iter()
                .all(|i| matches!(i, Tree::Object(m) if !m.is_empty()))
                && !items.is_empty() =>
        {
            match list_key(items) {
                Some(key) => {
                    for item in items {
                        let (Tree::Object(members), Some(text)) = (item, lookup(item, &key)) else {
                            continue;
                        };
                        let len = pointer.len();
                        let _ = write!(pointer, "/[{}={text}]", key.join("/"));
                        for (name, member) in members {
                            if *name == key[0] {
                                continue;
                            }
                            let len = pointer.len();
                            path::push_escaped(pointer, name);
                            let mut inner = names.to_vec();
                            inner.push(text);
                            inner.push(name);
                            collect(member, pointer, &inner, out);
                            pointer.truncate(len);
                        }
                        pointer.truncate(len);
                    }
                }
                None => {
                    let len = pointer.len();
                    pointer.push_str("/*");
                    for item in items {
                        collect(item, pointer, names, out);
                    }
                    pointer.truncate(len);
                }
            }
        }
        _ => {
            if !out.iter().any(|f| f.pattern == *pointer) {
                out.push(Field {
                    pattern: pointer.clone(),
                    hint: hint(names, value),
                });
            }
        }
    }
}

/// Member names that identify an element of a name/value list, best first.
const KEY_NAMES: [&str; 8] = [
    "ref",
    "name",
    "key",
    "field_name",
    "checkbox_key",
    "label",
    "id",
    "type",
];

/// The member (a pointer of one or two keys) that identifies every element
/// of a list of objects: a string in every element, distinct, and
/// identifier-like (lowercase letters, digits, `_`, `-`, `.`, `?`), so that
/// no personal data becomes part of a path.
fn list_key(items: &[Tree]) -> Option<Vec<String>> {
    let mut candidates: Vec<Vec<String>> = Vec::new();
    if let Some(Tree::Object(members)) = items.first() {
        for (name, value) in members {
            match value {
                Tree::String(_) => candidates.push(vec![name.clone()]),
                Tree::Object(inner) => {
                    for (inner_name, inner_value) in inner {
                        if matches!(inner_value, Tree::String(_)) {
                            candidates.push(vec![name.clone(), inner_name.clone()]);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    let rank = |key: &[String]| {
        let last = key.last().map(String::as_str).unwrap_or_default();
        KEY_NAMES.iter().position(|k| *k == last).or_else(|| {
            (last.ends_with("_key") || last.ends_with("_name")).then_some(KEY_NAMES.len())
        })
    };
    candidates
        .into_iter()
        .filter_map(|key| Some((rank(&key)?, key)))
        .filter(|(_, key)| {
            let texts: Vec<&str> = items.iter().filter_map(|item| lookup(item, key)).collect();
            let mut unique = texts.clone();
            unique.sort_unstable();
            unique.dedup();
            texts.len() == items.len()
                && unique.len() == texts.len()
                && texts.iter().all(|t| identifier_like(t))
        })
        .min_by_key(|(rank, key)| (*rank, key.len()))
        .map(|(_, key)| key)
}

fn lookup<'a>(item: &'a Tree, key: &[String]) -> Option<&'a str> {
    let mut current = item;
    for name in key {
        let Tree::Object(members) = current else {
            return None;
        };
        current = members.iter().find(|(n, _)| n == name).map(|(_, v)| v)?;
    }
    match current {
        Tree::String(text) => Some(text),
        _ => None,
    }
}

/// Text that can stand in a selector and is unlikely to be personal data.
fn identifier_like(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.?".contains(&b))
}

/// What a field looks like, from its names (the innermost, then its
/// parent's) and its value's shape.
fn hint(names: &[&str], value: &Tree) -> Option<Hint> {
    if matches!(value, Tree::Bool(_)) {
        return None;
    }
    let normal = |name: &str| name.to_ascii_lowercase().replace(['-', ' '], "_");
    let inner = names.last().map(|n| normal(n)).unwrap_or_default();
    // A member that only holds the value (`value`, `text`) is named by its
    // parent or selector: `/fields/[name=email]/value`.
    let parent = names
        .len()
        .checked_sub(2)
        .and_then(|i| names.get(i))
        .map(|n| normal(n))
        .filter(|_| GENERIC.contains(&inner.as_str()));
    if let Some(hint) = parent.iter().chain([&inner]).find_map(|n| by_name(n)) {
        return Some(hint);
    }
    let text = match value {
        Tree::String(s) => s.as_str(),
        _ => return None,
    };
    if looks_like_email(text) {
        Some(Hint::Email)
    } else if text.parse::<std::net::IpAddr>().is_ok() {
        Some(Hint::Ip)
    } else if text.split_whitespace().count() >= 6 {
        Some(Hint::FreeText)
    } else if looks_like_phone(text) {
        Some(Hint::Phone)
    } else {
        None
    }
}

/// Member names that only hold a value named elsewhere.
const GENERIC: [&str; 6] = ["value", "values", "text", "answer", "choice", "label"];

/// What a field name suggests (lowercase, `_` for `-` and spaces).
fn by_name(name: &str) -> Option<Hint> {
    let has = |parts: &[&str]| parts.iter().any(|p| name.contains(p));
    let is = |words: &[&str]| words.contains(&name);
    if has(&["email", "e_mail"]) {
        Some(Hint::Email)
    } else if has(&["birth"]) || is(&["dob", "birthday"]) {
        Some(Hint::BirthDate)
    } else if has(&["phone", "mobile", "cell", "fax"]) || is(&["tel", "telephone"]) {
        Some(Hint::Phone)
    } else if is(&["ip", "ip_address", "ipaddress", "remote_addr", "client_ip"]) {
        Some(Hint::Ip)
    } else if is(&[
        "name",
        "first_name",
        "firstname",
        "last_name",
        "lastname",
        "full_name",
        "fullname",
        "given_name",
        "family_name",
        "surname",
        "middle_name",
        "contact_name",
    ]) {
        Some(Hint::PersonName)
    } else if is(&[
        "street",
        "address",
        "address1",
        "address2",
        "address_line_1",
        "address_line_2",
        "street_address",
    ]) {
        Some(Hint::Street)
    } else if has(&["postal", "postcode", "zip"]) {
        Some(Hint::PostalCode)
    } else if is(&["city", "state", "country", "region", "province", "county"]) {
        Some(Hint::Place)
    } else if is(&["age"]) {
        Some(Hint::Age)
    } else if is(&[
        "notes",
        "note",
        "message",
        "comment",
        "comments",
        "text",
        "description",
        "details",
    ]) {
        Some(Hint::FreeText)
    } else {
        None
    }
}

fn looks_like_email(text: &str) -> bool {
    let Some((local, domain)) = text.trim().rsplit_once('@') else {
        return false;
    };
    !local.is_empty() && domain.contains('.') && !text.contains(char::is_whitespace)
}

/// `+`, or separators, and 7 to 15 digits and nothing else.
fn looks_like_phone(text: &str) -> bool {
    let digits = text.chars().filter(char::is_ascii_digit).count();
    let only = text
        .chars()
        .all(|c| c.is_ascii_digit() || " +-.()".contains(c));
    let marked = text.starts_with('+') || text.contains(['(', '-', ' ', '.']);
    only && marked && (7..=15).contains(&digits)
}

/// A JSON Schema (draft 2020-12) that the sample meets: the types seen,
/// the members seen (none required: one sample cannot say which are
/// optional), arrays with the union of their elements.
fn infer(tree: &Tree) -> Value {
    let mut schema = infer_value(tree);
    if let Value::Object(map) = &mut schema {
        let mut top = Map::new();
        top.insert(
            "$schema".into(),
            json!("https://json-schema.org/draft/2020-12/schema"),
        );
        top.insert(
            "title".into(),
            json!("Lead (inferred from a sample by leadfilter init)"),
        );
        top.append(map);
        return Value::Object(top);
    }
    schema
}

fn infer_value(tree: &Tree) -> Value {
    match tree {
        Tree::Null => json!({}),
        Tree::Bool(_) => json!({ "type": "boolean" }),
        Tree::Number(text) if text.contains(['.', 'e', 'E']) => json!({ "type": "number" }),
        Tree::Number(_) => json!({ "type": "integer" }),
        Tree::String(_) => json!({ "type": "string" }),
        Tree::Array(items) => {
            let merged = items.iter().map(infer_value).reduce(|a, b| merge(&a, &b));
            match merged {
                Some(items) => json!({ "type": "array", "items": items }),
                None => json!({ "type": "array" }),
            }
        }
        Tree::Object(members) => {
            let properties: Map<String, Value> = members
                .iter()
                .map(|(name, value)| (name.clone(), infer_value(value)))
                .collect();
            json!({ "type": "object", "properties": properties })
        }
    }
}

/// A schema that both `a` and `b` allow.
fn merge(a: &Value, b: &Value) -> Value {
    if a == b {
        return a.clone();
    }
    let ty = |v: &Value| v.get("type").and_then(Value::as_str).map(str::to_owned);
    match (ty(a).as_deref(), ty(b).as_deref()) {
        (Some("object"), Some("object")) => {
            let mut properties = a
                .get("properties")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            if let Some(more) = b.get("properties").and_then(Value::as_object) {
                for (name, schema) in more {
                    let merged = match properties.get(name) {
                        Some(existing) => merge(existing, schema),
                        None => schema.clone(),
                    };
                    properties.insert(name.clone(), merged);
                }
            }
            json!({ "type": "object", "properties": properties })
        }
        (Some("array"), Some("array")) => match (a.get("items"), b.get("items")) {
            (Some(x), Some(y)) => json!({ "type": "array", "items": merge(x, y) }),
            (Some(x), None) | (None, Some(x)) => json!({ "type": "array", "items": x }),
            (None, None) => json!({ "type": "array" }),
        },
        (Some("integer"), Some("number")) | (Some("number"), Some("integer")) => {
            json!({ "type": "number" })
        }
        _ => json!({}),
    }
}

/// A key as YAML: plain where that is unambiguous, else JSON-quoted (JSON
/// strings are YAML strings).
fn yaml_key(key: &str) -> String {
    let plain = key.starts_with('/')
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./[]=?*~".contains(&b));
    if plain {
        key.to_owned()
    } else {
        serde_json::to_string(key).unwrap_or_default()
    }
}

/// Appends `text` as YAML comment lines of at most [`COMMENT_WIDTH`]
/// characters (a longer word gets a line of its own).
fn push_comment(out: &mut String, text: &str) {
    let mut line = String::from("#");
    for word in text.split_whitespace() {
        if line.len() > 1 && line.chars().count() + 1 + word.chars().count() > COMMENT_WIDTH {
            let _ = writeln!(out, "{line}");
            line.truncate(1);
        }
        line.push(' ');
        line.push_str(word);
    }
    let _ = writeln!(out, "{line}");
}

/// The widest line of a comment that [`push_comment`] writes.
const COMMENT_WIDTH: usize = 77;

fn policy_text(name: &str, sample_file: &str, fields: &[Field]) -> String {
    let mut out = String::new();
    let others: Vec<&str> = ActionKind::ALL
        .iter()
        .filter(|kind| **kind != ActionKind::Drop)
        .map(|kind| kind.name())
        .collect();
    push_comment(
        &mut out,
        &format!(
            "A starter policy, written by `leadfilter init` from the fields of a sample \
             lead ({sample_file}). Every field is dropped, so nothing is kept by \
             accident: change `drop` to what the destination needs ({}). Comments \
             suggest an action where a field looks like personal data. The reference \
             is docs/policy.md; `leadfilter check policy.yaml` checks your edits and \
             `leadfilter test` runs policy.test.yaml.",
            others.join(", ")
        ),
    );
    let _ = writeln!(
        out,
        "apiVersion: {}",
        leadfilter_engine::policy::API_VERSION
    );
    let _ = writeln!(out, "name: {name}");
    let _ = writeln!(out, "version: 0.1.0");
    let _ = writeln!(
        out,
        "description: What the destination may see of a lead (edit me)"
    );
    let _ = writeln!(out, "input:\n  schema: {SCHEMA_FILE}");
    let _ = writeln!(
        out,
        "output:\n  unknown: drop                   # values no rule names are dropped too"
    );
    let _ = writeln!(
        out,
        "# secrets: [pepper]              # for keyed hashes: `hash: {{ key: pepper }}`"
    );
    let _ = writeln!(
        out,
        "# require:                       # conditions every lead must meet"
    );
    let _ = writeln!(
        out,
        "#   - {{ path: /consent, equals: true, reason: no consent }}"
    );
    if fields.is_empty() {
        let _ = writeln!(out, "fields: {{}}");
        return out;
    }
    let _ = writeln!(out, "fields:");
    for field in fields {
        if let Some(hint) = field.hint {
            let _ = writeln!(out, "  # {}", hint.comment());
        }
        let _ = writeln!(out, "  {}: drop", yaml_key(&field.pattern));
    }
    out
}

fn tests_text(sample_file: &str, pretty_sample: &str, output: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Cases for policy.yaml: `leadfilter test` runs them. The first case is the\n\
         # sample lead ({sample_file}) as it was: replace any real personal data in\n\
         # it with invented values before you share or commit this file.\n\
         # Expected outputs compare as JSON values (member order aside; numbers by\n\
         # their exact text). See docs/testing.md.\n\
         # secrets: {{ pepper: test-pepper }}   # test values for declared secrets"
    );
    let _ = writeln!(out, "cases:");
    let _ = writeln!(out, "  - name: the sample lead");
    let _ = writeln!(out, "    lead: |");
    for line in pretty_sample.lines() {
        let _ = writeln!(out, "      {line}");
    }
    let _ = writeln!(out, "    expect:");
    let _ = writeln!(
        out,
        "      # every field is dropped, so nothing comes out yet: update this as you\n      \
         # change the policy"
    );
    let output = if output == "{}" {
        output.to_owned()
    } else {
        serde_json::to_string(output).unwrap_or_default()
    };
    let _ = writeln!(out, "      output: {output}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn starter(sample: &str) -> Starter {
        Starter::from_sample(sample, "t", "sample.json").unwrap()
    }

    fn patterns(starter: &Starter) -> Vec<String> {
        starter
            .policy
            .lines()
            .filter_map(|l| l.strip_prefix("  "))
            .filter(|l| !l.starts_with('#') && !l.starts_with(' '))
            .filter_map(|l| l.strip_suffix(": drop"))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn name_value_lists_get_selectors() {
        let s = starter(
            r#"{"field_data":[{"name":"email","values":["a@b.example"]},{"name":"city","values":["X"]}],
                "answers":[{"type":"text","text":"Hi","field":{"id":"a1","ref":"first_name"}},
                           {"type":"text","text":"Ho","field":{"id":"a2","ref":"message"}}],
                "items":[{"sku":"A","qty":1},{"sku":"A","qty":2}]}"#,
        );
        assert_eq!(
            patterns(&s),
            [
                "/field_data/[name=email]/values",
                "/field_data/[name=city]/values",
                "/answers/[field/ref=first_name]/type",
                "/answers/[field/ref=first_name]/text",
                "/answers/[field/ref=message]/type",
                "/answers/[field/ref=message]/text",
                "/items/*/sku",
                "/items/*/qty",
            ]
        );
    }

    #[test]
    fn values_never_reach_the_policy() {
        let sample = r#"{"contacts":[{"name":"Jonas Becker","mail":"jonas@leak.example"}],
                         "notes":"call me on +49 151 2345 6789 about the secret plan",
                         "ip":"192.0.2.77","dob":"1971-09-30","phone":"(312) 555-0199"}"#;
        let s = starter(sample);
        for value in ["Jonas", "leak", "secret plan", "192.0.2", "1971", "555"] {
            assert!(!s.policy.contains(value), "{value} in\n{}", s.policy);
            assert!(!s.schema.contains(value), "{value} in\n{}", s.schema);
            assert!(!format!("{s:?}").contains(value));
        }
        // The test file holds the sample, on purpose.
        assert!(s.tests.contains("Jonas Becker"));
    }

    #[test]
    fn suggestions_follow_names_and_shapes() {
        let s = starter(
            r#"{"email":"a@b.example","contact":"x@y.example","mobilephone":"1","first_name":"A",
                "postal_code":"1","city":"C","birth_date":"1","ipAddress":"1","age":3,
                "message":"m","remark":"one two three four five six","misc":"+1 312 555 0199","id":"7"}"#,
        );
        let hints: Vec<&str> = s
            .policy
            .lines()
            .filter(|l| l.trim_start().starts_with("# ") && l.starts_with("  "))
            .collect();
        assert_eq!(hints.len(), 12, "{}", s.policy);
        assert_eq!(s.suggestions, 12);
        assert_eq!(s.fields, 13);
    }

    #[test]
    fn the_schema_is_inferred_from_the_sample() {
        let s = starter(r#"{"a":1,"b":1.5,"c":[{"x":"s"},{"y":true}],"d":null,"e":[1,2.5]}"#);
        let schema: Value = serde_json::from_str(&s.schema).unwrap();
        assert_eq!(schema["properties"]["a"], json!({"type": "integer"}));
        assert_eq!(schema["properties"]["b"], json!({"type": "number"}));
        assert_eq!(
            schema["properties"]["c"]["items"]["properties"],
            json!({"x": {"type": "string"}, "y": {"type": "boolean"}})
        );
        assert_eq!(schema["properties"]["d"], json!({}));
        assert_eq!(
            schema["properties"]["e"]["items"],
            json!({"type": "number"})
        );
    }

    #[test]
    fn what_is_not_a_lead_is_refused_without_its_content() {
        assert_eq!(
            Starter::from_sample("[1]", "t", "s").unwrap_err(),
            InitError::NotAnObject("array")
        );
        let err = Starter::from_sample("{\"a\": secret", "t", "s").unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
        assert!(matches!(
            Starter::from_sample("{}", "Bad Name", "s"),
            Err(InitError::Name(_))
        ));
    }
}
