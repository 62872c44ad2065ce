//! The object keys a policy names, and the only ones a diagnostic shows.
//!
//! A lead's keys are data too: a `utm` key may be an e-mail address, a
//! form may name a field after its answer. So every path the engine writes
//! into a diagnostic (the paths and messages of failures and violations,
//! and the paths of the change list) shows an object key only when the
//! policy or one of its schemas names it, and `*` for any other key; array
//! indices are shown as they are. `/utm/*` is a key under `/utm` that the
//! policy does not spell, `/*` a top-level member it does not know.
//!
//! A key is *named* when it is spelled, anywhere in the policy, as
//!
//! - a key segment of a rule's path (`/address/street`: `address` and
//!   `street`; `/items/0`: `items` and `0`), of a `to:` pointer, or of a
//!   condition's path (in `require` or a `when`);
//! - a segment of a selector's pointer (`[field/ref=phone]`: `field` and
//!   `ref`; the text `phone` is a value, not a key);
//! - in the input or the output schema: a member name of `properties`, an
//!   entry of `required`, a member name of `dependentRequired` (and the
//!   entries of its lists) or of `dependentSchemas`, or, in draft-07, a
//!   member name of `dependencies` (and the entries of its lists), in the
//!   schema itself and in every subschema reached through the keywords that
//!   hold subschemas (`$defs`, `definitions`, `properties`,
//!   `patternProperties`, `additionalProperties`, `unevaluatedProperties`,
//!   `dependentSchemas`, `dependencies`, `items`, `prefixItems`,
//!   `additionalItems`, `unevaluatedItems`, `contains`, `allOf`, `anyOf`,
//!   `oneOf`, `not`, `if`, `then`, `else`, `contentSchema`). A
//!   `patternProperties` pattern names no key, and neither does
//!   `propertyNames`, which only constrains keys.
//!
//! The set is built once, when the policy loads; a diagnostic path costs
//! one look-up per key that no rule segment matched on the way.

use std::collections::HashSet;

use foldhash::fast::FixedState;
use serde_json::Value;

use crate::path::{self, Pattern, Segment};
use crate::policy::{Condition, Policy, SchemaRef};

/// The keys a policy names (see the module documentation).
#[derive(Debug, Default)]
pub(crate) struct Names {
    /// Hashed with a fixed seed, so that a pre-initialised engine's memory
    /// is the same every time.
    keys: HashSet<String, FixedState>,
}

impl Names {
    /// The keys `policy` names, in its rules, conditions and embedded
    /// schemas. Paths that do not parse name nothing (loading refuses them).
    pub(crate) fn of(policy: &Policy) -> Names {
        let mut names = Names::default();
        for (pattern, rule) in &policy.fields {
            names.add_path(pattern);
            for alternative in &rule.alternatives {
                if let Some(when) = &alternative.when {
                    names.add_condition(when);
                }
                if let Some(to) = alternative.action.to() {
                    names.add_path(to);
                }
            }
        }
        for requirement in &policy.require {
            names.add_condition(&requirement.condition);
        }
        for schema in [&policy.input.schema, &policy.output.schema]
            .into_iter()
            .flatten()
        {
            if let SchemaRef::Inline(document) = schema {
                names.add_schema(document);
            }
        }
        names
    }

    /// Whether diagnostics may show `key`.
    pub(crate) fn contains(&self, key: &str) -> bool {
        self.keys.contains(key)
    }

    /// Appends `/` and `key` to a diagnostic pointer: the key escaped as
    /// RFC 6901 says when it is named, `*` when it is not.
    pub(crate) fn push_key(&self, pointer: &mut String, key: &str) {
        if self.contains(key) {
            path::push_escaped(pointer, key);
        } else {
            pointer.push_str("/*");
        }
    }

    /// `pointer` (RFC 6901, escaped) into `instance` as a diagnostic shows
    /// it: every object key that is not named is `*`, array indices stay.
    /// Whether a segment is a key or an index is read off `instance`, so a
    /// key made of digits is a key; a segment past the end of `instance` is
    /// taken for a key.
    pub(crate) fn shown(&self, pointer: &str, instance: &Value) -> String {
        let mut shown = String::with_capacity(pointer.len());
        let mut current = Some(instance);
        for raw in pointer.split('/').skip(1) {
            current = match current {
                Some(Value::Array(items)) => {
                    shown.push('/');
                    shown.push_str(raw);
                    raw.parse::<usize>().ok().and_then(|i| items.get(i))
                }
                other => {
                    // A pointer from the validator is escaped correctly; a
                    // segment that does not unescape is shown as no key.
                    let key = path::unescape(raw).unwrap_or_default();
                    self.push_key(&mut shown, &key);
                    match other {
                        Some(Value::Object(members)) => members.get(&key),
                        _ => None,
                    }
                }
            };
        }
        shown
    }

    fn add(&mut self, key: &str) {
        if !self.keys.contains(key) {
            self.keys.insert(key.to_owned());
        }
    }

    fn add_path(&mut self, text: &str) {
        let Ok(pattern) = Pattern::parse(text) else {
            return;
        };
        for segment in &pattern.segments {
            match segment {
                Segment::Key(key) => self.add(key),
                Segment::Selector { pointer, .. } => {
                    for key in pointer {
                        self.add(key);
                    }
                }
                Segment::Star => {}
            }
        }
    }

    fn add_condition(&mut self, condition: &Condition) {
        match condition {
            Condition::All { all: list } | Condition::Any { any: list } => {
                for condition in list {
                    self.add_condition(condition);
                }
            }
            Condition::Not { not } => self.add_condition(not),
            Condition::Test { path, .. } => self.add_path(path),
        }
    }

    /// The names of a schema and of its subschemas.
    fn add_schema(&mut self, schema: &Value) {
        // A boolean schema names nothing.
        let Value::Object(keywords) = schema else {
            return;
        };
        for (keyword, value) in keywords {
            match keyword.as_str() {
                "properties" | "dependentSchemas" => {
                    for (name, subschema) in members(value) {
                        self.add(name);
                        self.add_schema(subschema);
                    }
                }
                "required" => self.add_strings(value),
                "dependentRequired" => {
                    for (name, list) in members(value) {
                        self.add(name);
                        self.add_strings(list);
                    }
                }
                // Draft-07: a list of names or a schema per name.
                "dependencies" => {
                    for (name, dependency) in members(value) {
                        self.add(name);
                        self.add_strings(dependency);
                        self.add_schema(dependency);
                    }
                }
                "$defs" | "definitions" | "patternProperties" => {
                    for (_, subschema) in members(value) {
                        self.add_schema(subschema);
                    }
                }
                "allOf" | "anyOf" | "oneOf" | "prefixItems" => self.add_schemas(value),
                // `items` is a list of schemas in draft-07 too.
                "items" => match value {
                    Value::Array(_) => self.add_schemas(value),
                    _ => self.add_schema(value),
                },
                "additionalProperties"
                | "unevaluatedProperties"
                | "additionalItems"
                | "unevaluatedItems"
                | "contains"
                | "not"
                | "if"
                | "then"
                | "else"
                | "contentSchema" => self.add_schema(value),
                _ => {}
            }
        }
    }

    fn add_schemas(&mut self, list: &Value) {
        if let Value::Array(schemas) = list {
            for schema in schemas {
                self.add_schema(schema);
            }
        }
    }

    fn add_strings(&mut self, list: &Value) {
        if let Value::Array(items) = list {
            for name in items.iter().filter_map(Value::as_str) {
                self.add(name);
            }
        }
    }
}

/// The members of `value` if it is an object, else none.
fn members(value: &Value) -> impl Iterator<Item = (&String, &Value)> {
    value.as_object().into_iter().flatten()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::policy::API_VERSION;

    fn names(policy: Value) -> Names {
        let mut policy = policy;
        let map = policy.as_object_mut().expect("a policy object");
        map.insert("apiVersion".into(), json!(API_VERSION));
        map.insert("name".into(), json!("t"));
        map.insert("version".into(), json!("1"));
        Names::of(&serde_json::from_value(policy).expect("a policy"))
    }

    fn sorted(names: &Names) -> Vec<&str> {
        let mut keys: Vec<&str> = names.keys.iter().map(String::as_str).collect();
        keys.sort_unstable();
        keys
    }

    #[test]
    fn rules_conditions_and_to_name_their_key_segments() {
        let n = names(json!({
            "require": [{"all": [{"path": "/consent/terms", "equals": true},
                                 {"not": {"path": "/list/[kind/id=x]/ok", "exists": false}}],
                         "reason": "r"}],
            "fields": {
                "/utm/*": "keep",
                "/items/0/a~1b~0c": "keep",
                "/answers/[field/ref=phone]/phone_number": [
                    {"when": {"path": "/mode", "equals": "m"}, "keep": {"to": "/out/phone"}},
                    "drop"
                ],
                "": "keep",
            },
        }));
        assert_eq!(
            sorted(&n),
            [
                "0",
                "a/b~c",
                "answers",
                "consent",
                "field",
                "id",
                "items",
                "kind",
                "list",
                "mode",
                "ok",
                "out",
                "phone",
                "phone_number",
                "ref",
                "terms",
                "utm"
            ]
        );
    }

    #[test]
    fn schemas_name_properties_and_required_names_in_every_subschema() {
        let schema = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "required": ["r"],
            "properties": {"p": {"properties": {"nested": true}}},
            "dependentRequired": {"dr": ["dr1"]},
            "dependentSchemas": {"ds": {"required": ["ds1"]}},
            "dependencies": {"d": ["d1"], "e": {"properties": {"e1": {}}}},
            "patternProperties": {"^x-": {"properties": {"pp": {}}}},
            "propertyNames": {"enum": ["not-a-name"]},
            "items": [{"properties": {"i0": {}}}],
            "allOf": [{"properties": {"a": {}}}],
            "if": {"required": ["cond"]},
            "additionalProperties": {"properties": {"ap": {}}},
            "$defs": {"def": {"properties": {"viaref": {}}}},
            "definitions": {"old": {"required": ["old1"]}},
            "enum": [{"properties": {"data": 1}}],
        });
        let n = names(
            json!({"input": {"schema": schema}, "output": {"schema": {"required": ["out"]}}}),
        );
        assert_eq!(
            sorted(&n),
            [
                "a", "ap", "cond", "d", "d1", "dr", "dr1", "ds", "ds1", "e", "e1", "i0", "nested",
                "old1", "out", "p", "pp", "r", "viaref"
            ]
        );
    }

    #[test]
    fn pointers_show_named_keys_and_indices_only() {
        let n = names(json!({"fields": {"/utm/*": "keep", "/a~1b": "keep", "/0": "keep"}}));
        let instance = json!({"utm": {"jane@example.com": 1, "0": [5, {"x": 1}]}, "a/b": 1});
        assert_eq!(n.shown("/utm/jane@example.com", &instance), "/utm/*");
        assert_eq!(n.shown("/utm/0/1/x", &instance), "/utm/0/1/*");
        assert_eq!(n.shown("/utm/7", &instance), "/utm/*");
        assert_eq!(n.shown("/a~1b", &instance), "/a~1b");
        assert_eq!(n.shown("", &instance), "");
        assert_eq!(n.shown("/missing/deeper", &instance), "/*/*");
        let mut pointer = String::new();
        n.push_key(&mut pointer, "utm");
        n.push_key(&mut pointer, "secret key");
        assert_eq!(pointer, "/utm/*");
    }
}
