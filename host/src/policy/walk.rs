//! Walking a JSON Schema along a path pattern: can a value exist there?
//!
//! The walk follows what a schema says about the members of objects
//! (`properties`, `patternProperties`, `additionalProperties`,
//! `unevaluatedProperties`) and the items of arrays (`prefixItems` and
//! `items` of draft 2020-12, the array form of `items` and
//! `additionalItems` of draft-07), through local `$ref`s (`#/$defs/..`,
//! `#/definitions/..`), `allOf`/`anyOf`/`oneOf`, `if`/`then`/`else` and
//! `dependentSchemas`. Subschemas met at one place are a union: a member is
//! allowed if any of them allows it.
//!
//! Two readings:
//!
//! - [`Mode::Strict`] (the input schema): a schema that lists `properties`
//!   (or `patternProperties`) allows only those, unless it has an
//!   `additionalProperties` that is not `false`. This is stricter than JSON
//!   Schema on purpose: a rule on a member the schema does not list is
//!   almost always a typo, and it would silently never match.
//! - [`Mode::Lenient`] (the output schema): only an explicit `false`
//!   (`additionalProperties: false`, a `false` subschema, a `type` that is
//!   not an object or array) forbids a member, as in JSON Schema.
//!
//! A schema that says nothing about a place (no `properties`,
//! `patternProperties`, `additionalProperties` or `items` there) allows
//! anything below it.

use std::collections::BTreeSet;

use leadfilter_engine::path::{Segment, array_index};
use serde_json::Value;

/// How a schema is read; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Only listed members exist (input schemas).
    Strict,
    /// Only explicitly forbidden members do not exist (output schemas).
    Lenient,
}

/// Why a path cannot exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Miss {
    /// The segment (0-based) at which the walk failed.
    pub(crate) at: usize,
    /// What the schema says there.
    pub(crate) reason: MissReason,
}

/// What stopped a walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MissReason {
    /// No member of this name; the names the schema lists there, sorted.
    NoMember(Vec<String>),
    /// No array item at this index.
    NoItem,
    /// The value there is neither an object nor an array.
    NotContainer,
    /// The value there is an array, and the segment is not an index.
    NotObject,
    /// A selector (or `*`) needs an array (or container), and the schema
    /// has none there.
    NotArray,
    /// The selector's member cannot exist in the array's items.
    SelectorMember(Vec<String>),
}

static TRUE: Value = Value::Bool(true);

/// Maximum number of `$ref`s followed in one expansion, against cycles.
const MAX_REFS: usize = 64;

/// Walks `segments` from the root of `root`; `Ok` with the subschemas at
/// the end of the path (`true` among them when anything goes).
pub(crate) fn walk<'a>(
    root: &'a Value,
    segments: &[Segment],
    mode: Mode,
) -> Result<Vec<&'a Value>, Miss> {
    let mut here = expand(root, std::slice::from_ref(&root));
    for (at, segment) in segments.iter().enumerate() {
        let next = step(root, &here, segment, mode).map_err(|reason| Miss { at, reason })?;
        here = expand(root, &next);
    }
    Ok(here)
}

/// The property names the subschemas at the end of `segments` list (for
/// "did you mean"); empty if the path does not exist.
pub(crate) fn property_names(root: &Value, segments: &[Segment]) -> Vec<String> {
    let Ok(nodes) = walk(root, segments, Mode::Lenient) else {
        return Vec::new();
    };
    listed_names(&nodes)
}

/// The string `enum`/`const` values the subschemas at `segments` allow.
pub(crate) fn enum_strings(root: &Value, segments: &[Segment]) -> Vec<String> {
    let Ok(nodes) = walk(root, segments, Mode::Lenient) else {
        return Vec::new();
    };
    let mut out = BTreeSet::new();
    for node in nodes {
        if let Some(Value::Array(values)) = node.get("enum") {
            out.extend(values.iter().filter_map(Value::as_str).map(str::to_owned));
        }
        if let Some(Value::String(value)) = node.get("const") {
            out.insert(value.clone());
        }
    }
    out.into_iter().collect()
}

fn listed_names(nodes: &[&Value]) -> Vec<String> {
    let mut names = BTreeSet::new();
    for node in nodes {
        if let Some(Value::Object(props)) = node.get("properties") {
            names.extend(props.keys().cloned());
        }
    }
    names.into_iter().collect()
}

/// The nodes and every subschema that applies to the same value with them.
fn expand<'a>(root: &'a Value, nodes: &[&'a Value]) -> Vec<&'a Value> {
    let mut out: Vec<&'a Value> = Vec::new();
    let mut refs = 0;
    let mut stack: Vec<&'a Value> = nodes.iter().rev().copied().collect();
    while let Some(node) = stack.pop() {
        if out.iter().any(|seen| std::ptr::eq(*seen, node)) {
            continue;
        }
        out.push(node);
        let Value::Object(map) = node else { continue };
        if let Some(Value::String(reference)) = map.get("$ref") {
            refs += 1;
            match resolve_local(root, reference) {
                Some(target) if refs <= MAX_REFS => stack.push(target),
                // A reference the walk cannot follow says nothing it knows.
                _ => stack.push(&TRUE),
            }
        }
        if map.contains_key("$dynamicRef") || map.contains_key("$recursiveRef") {
            stack.push(&TRUE);
        }
        for keyword in ["allOf", "anyOf", "oneOf"] {
            if let Some(Value::Array(branches)) = map.get(keyword) {
                stack.extend(branches.iter().rev());
            }
        }
        for keyword in ["then", "else"] {
            if let Some(branch) = map.get(keyword) {
                stack.push(branch);
            }
        }
        for keyword in ["dependentSchemas", "dependencies"] {
            if let Some(Value::Object(deps)) = map.get(keyword) {
                stack.extend(deps.values().filter(|v| !v.is_array()));
            }
        }
    }
    out
}

/// The target of a local `$ref` (`#`, `#/$defs/x`, `#/definitions/x`).
fn resolve_local<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    let fragment = reference.strip_prefix('#')?;
    if fragment.is_empty() {
        return Some(root);
    }
    let decoded = percent_decode(fragment)?;
    root.pointer(&decoded)
}

fn percent_decode(text: &str) -> Option<String> {
    if !text.contains('%') {
        return Some(text.to_owned());
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// What one subschema says about one step.
enum Verdict<'a> {
    /// These subschemas describe the value one step down.
    Allows(Vec<&'a Value>),
    /// Nothing is known: anything may be there.
    Silent,
    /// It cannot be there.
    Forbids(MissReason),
}

fn step<'a>(
    root: &'a Value,
    nodes: &[&'a Value],
    segment: &Segment,
    mode: Mode,
) -> Result<Vec<&'a Value>, MissReason> {
    let mut allowed: Vec<&'a Value> = Vec::new();
    let mut silent = false;
    let mut reason: Option<MissReason> = None;
    for node in nodes {
        let verdict = match segment {
            Segment::Key(key) => key_verdict(node, key, mode),
            Segment::Star => star_verdict(node, mode),
            Segment::Selector { pointer, .. } => selector_verdict(root, node, pointer, mode),
        };
        // A `false` subschema is no place for a value.
        let verdict = match verdict {
            Verdict::Allows(subs) if subs.iter().all(|s| **s == Value::Bool(false)) => {
                Verdict::Forbids(match segment {
                    Segment::Key(key) if array_index(key).is_none() || !array_like(node) => {
                        MissReason::NoMember(listed_names(std::slice::from_ref(node)))
                    }
                    Segment::Key(_) => MissReason::NoItem,
                    _ => MissReason::NotContainer,
                })
            }
            Verdict::Allows(subs) => Verdict::Allows(
                subs.into_iter()
                    .filter(|s| **s != Value::Bool(false))
                    .collect(),
            ),
            other => other,
        };
        match verdict {
            Verdict::Allows(subs) => allowed.extend(subs),
            // A subschema that only refers to others says nothing itself.
            Verdict::Silent if is_wrapper(node) => {}
            Verdict::Silent => silent = true,
            Verdict::Forbids(why) => {
                reason = Some(match (reason, why) {
                    // Gather the names every subschema lists.
                    (Some(MissReason::NoMember(mut a)), MissReason::NoMember(b)) => {
                        a.extend(b);
                        a.sort();
                        a.dedup();
                        MissReason::NoMember(a)
                    }
                    (Some(MissReason::NoMember(a)), _) => MissReason::NoMember(a),
                    (_, why) => why,
                });
            }
        }
    }
    if !allowed.is_empty() {
        Ok(allowed)
    } else if silent {
        Ok(vec![&TRUE])
    } else {
        Err(reason.unwrap_or(MissReason::NotContainer))
    }
}

/// Applicators whose subschemas [`expand`] adds to the same place.
const APPLICATORS: &[&str] = &[
    "$ref",
    "$dynamicRef",
    "$recursiveRef",
    "allOf",
    "anyOf",
    "oneOf",
    "if",
    "then",
    "else",
    "dependentSchemas",
    "dependencies",
];

/// Whether a subschema refers to others (whose verdicts count instead of
/// its own silence).
fn is_wrapper(node: &Value) -> bool {
    APPLICATORS.iter().any(|k| node.get(k).is_some())
}

/// The `type`s a subschema names, if it names any.
fn types(node: &Value) -> Option<Vec<&str>> {
    match node.get("type")? {
        Value::String(t) => Some(vec![t.as_str()]),
        Value::Array(ts) => Some(ts.iter().filter_map(Value::as_str).collect()),
        _ => None,
    }
}

fn object_like(node: &Value) -> bool {
    [
        "properties",
        "patternProperties",
        "additionalProperties",
        "unevaluatedProperties",
    ]
    .iter()
    .any(|k| node.get(k).is_some())
        || types(node).is_some_and(|ts| ts.contains(&"object"))
}

fn array_like(node: &Value) -> bool {
    [
        "items",
        "prefixItems",
        "additionalItems",
        "unevaluatedItems",
    ]
    .iter()
    .any(|k| node.get(k).is_some())
        || types(node).is_some_and(|ts| ts.contains(&"array"))
}

/// Whether `node` names types and none of them is a container.
fn typed_scalar(node: &Value) -> bool {
    types(node).is_some_and(|ts| !ts.contains(&"object") && !ts.contains(&"array"))
}

fn key_verdict<'a>(node: &'a Value, key: &str, mode: Mode) -> Verdict<'a> {
    match node {
        Value::Bool(true) => return Verdict::Silent,
        Value::Bool(false) => return Verdict::Forbids(MissReason::NoMember(Vec::new())),
        Value::Object(_) => {}
        _ => return Verdict::Silent,
    }
    if typed_scalar(node) {
        return Verdict::Forbids(MissReason::NotContainer);
    }
    let index = array_index(key);
    let (object, array) = (object_like(node), array_like(node));
    let as_member = object.then(|| member_verdict(node, key, mode));
    let as_item = match index {
        Some(i) if array => Some(item_verdict(node, i)),
        _ => None,
    };
    match (as_member, as_item) {
        (Some(Verdict::Allows(a)), _) | (_, Some(Verdict::Allows(a))) => Verdict::Allows(a),
        (Some(v), None) => v,
        (None, Some(v)) => v,
        (Some(m), Some(_)) => m,
        // An array schema and a key that is not an index.
        (None, None) if array => Verdict::Forbids(MissReason::NotObject),
        (None, None) => Verdict::Silent,
    }
}

/// What an object-like subschema says about the member `key`.
fn member_verdict<'a>(node: &'a Value, key: &str, mode: Mode) -> Verdict<'a> {
    let mut subs = Vec::new();
    let props = node.get("properties").and_then(Value::as_object);
    if let Some(sub) = props.and_then(|p| p.get(key)) {
        subs.push(sub);
    }
    let patterns = node.get("patternProperties").and_then(Value::as_object);
    if let Some(patterns) = patterns {
        for (pattern, sub) in patterns {
            // A pattern this regex engine cannot read may still match.
            if regex::Regex::new(pattern).map_or(true, |re| re.is_match(key)) {
                subs.push(sub);
            }
        }
    }
    if !subs.is_empty() {
        return Verdict::Allows(subs);
    }
    let listed = || {
        MissReason::NoMember(
            props
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default(),
        )
    };
    for keyword in ["additionalProperties", "unevaluatedProperties"] {
        match node.get(keyword) {
            Some(Value::Bool(false)) => return Verdict::Forbids(listed()),
            Some(sub) => return Verdict::Allows(vec![sub]),
            None => {}
        }
    }
    if mode == Mode::Strict && (props.is_some() || patterns.is_some()) {
        Verdict::Forbids(listed())
    } else {
        Verdict::Silent
    }
}

/// What an array-like subschema says about the item at `index`.
fn item_verdict(node: &Value, index: usize) -> Verdict<'_> {
    let (tuple, rest) = match (node.get("prefixItems"), node.get("items")) {
        (Some(Value::Array(tuple)), rest) => (Some(tuple), rest),
        (None, Some(Value::Array(tuple))) => (Some(tuple), node.get("additionalItems")),
        (_, rest) => (None, rest),
    };
    if let Some(sub) = tuple.and_then(|t| t.get(index)) {
        return Verdict::Allows(vec![sub]);
    }
    match rest.or_else(|| node.get("unevaluatedItems")) {
        Some(Value::Bool(false)) => Verdict::Forbids(MissReason::NoItem),
        Some(sub) => Verdict::Allows(vec![sub]),
        None => Verdict::Allows(vec![&TRUE]),
    }
}

/// Every subschema of an array-like subschema's items.
fn all_items(node: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    let (tuple, rest) = match (node.get("prefixItems"), node.get("items")) {
        (Some(Value::Array(tuple)), rest) => (Some(tuple), rest),
        (None, Some(Value::Array(tuple))) => (Some(tuple), node.get("additionalItems")),
        (_, rest) => (None, rest),
    };
    out.extend(tuple.into_iter().flatten());
    match rest.or_else(|| node.get("unevaluatedItems")) {
        Some(Value::Bool(false)) => {}
        Some(sub) => out.push(sub),
        None => out.push(&TRUE),
    }
    out
}

fn star_verdict(node: &Value, mode: Mode) -> Verdict<'_> {
    match node {
        Value::Bool(true) => return Verdict::Silent,
        Value::Bool(false) => return Verdict::Forbids(MissReason::NotContainer),
        Value::Object(_) => {}
        _ => return Verdict::Silent,
    }
    if typed_scalar(node) {
        return Verdict::Forbids(MissReason::NotContainer);
    }
    let (object, array) = (object_like(node), array_like(node));
    if !object && !array {
        return Verdict::Silent;
    }
    let mut subs = Vec::new();
    if object {
        if let Some(Value::Object(props)) = node.get("properties") {
            subs.extend(props.values());
        }
        if let Some(Value::Object(patterns)) = node.get("patternProperties") {
            subs.extend(patterns.values());
        }
        for keyword in ["additionalProperties", "unevaluatedProperties"] {
            match node.get(keyword) {
                Some(Value::Bool(false)) | None => {}
                Some(sub) => subs.push(sub),
            }
        }
        let open = node.get("additionalProperties").is_none()
            && node.get("unevaluatedProperties").is_none();
        let listed = node.get("properties").is_some() || node.get("patternProperties").is_some();
        if open && (mode == Mode::Lenient || !listed) {
            subs.push(&TRUE);
        }
    }
    if array {
        subs.extend(all_items(node));
    }
    if subs.is_empty() {
        Verdict::Forbids(MissReason::NotContainer)
    } else {
        Verdict::Allows(subs)
    }
}

fn selector_verdict<'a>(
    root: &'a Value,
    node: &'a Value,
    pointer: &[String],
    mode: Mode,
) -> Verdict<'a> {
    match node {
        Value::Bool(true) => return Verdict::Silent,
        Value::Bool(false) => return Verdict::Forbids(MissReason::NotArray),
        Value::Object(_) => {}
        _ => return Verdict::Silent,
    }
    if !array_like(node) {
        return if object_like(node) || typed_scalar(node) {
            Verdict::Forbids(MissReason::NotArray)
        } else {
            Verdict::Silent
        };
    }
    let items = all_items(node);
    // The selector's member must be able to exist in the items.
    let member: Vec<Segment> = pointer.iter().map(|k| Segment::Key(k.clone())).collect();
    let mut ok = false;
    let mut names = BTreeSet::new();
    for item in &items {
        let here = expand(root, std::slice::from_ref(item));
        let mut nodes = here;
        let mut failed = false;
        for segment in &member {
            match step(root, &nodes, segment, mode) {
                Ok(next) => nodes = expand(root, &next),
                Err(MissReason::NoMember(listed)) => {
                    names.extend(listed);
                    failed = true;
                    break;
                }
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        ok |= !failed;
    }
    if ok {
        Verdict::Allows(items)
    } else {
        Verdict::Forbids(MissReason::SelectorMember(names.into_iter().collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use leadfilter_engine::path::Pattern;
    use serde_json::json;

    fn can(schema: &Value, path: &str, mode: Mode) -> Result<(), Miss> {
        walk(schema, &Pattern::parse(path).unwrap().segments, mode).map(|_| ())
    }

    fn lead_schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "email": {"type": "string"},
                "address": {"$ref": "#/$defs/address"},
                "utm": {"type": "object", "additionalProperties": {"type": "string"}},
                "tags": {"type": "array", "items": {"type": "string"}},
                "answers": {"type": "array", "items": {
                    "type": "object",
                    "properties": {"field": {"properties": {"ref": {"type": "string"}}}, "text": {}}
                }},
                "pair": {"type": "array", "prefixItems": [{"type": "string"}], "items": false},
                "meta": {"type": "object"},
                "x-": {"patternProperties": {"^x-": {}}}
            },
            "allOf": [{"if": {"required": ["kind"]}, "then": {"properties": {"kind": {}}}}],
            "$defs": {"address": {"properties": {"city": {}, "postal_code": {}}}}
        })
    }

    #[test]
    fn strict_walks_follow_properties_refs_items_and_branches() {
        let s = lead_schema();
        for ok in [
            "/email",
            "/address/city",
            "/utm/source",
            "/tags/3",
            "/tags/*",
            "/answers/[field/ref=phone]/text",
            "/pair/0",
            "/meta/anything/below",
            "/kind",
            "/x-/x-y",
            "",
            "/*",
        ] {
            assert_eq!(can(&s, ok, Mode::Strict), Ok(()), "{ok}");
        }
    }

    #[test]
    fn strict_walks_report_where_and_why() {
        let s = lead_schema();
        let miss = can(&s, "/emial", Mode::Strict).unwrap_err();
        assert_eq!(miss.at, 0);
        let MissReason::NoMember(names) = miss.reason else {
            panic!()
        };
        assert!(names.contains(&"email".to_owned()) && names.contains(&"kind".to_owned()));
        assert_eq!(can(&s, "/address/zip", Mode::Strict).unwrap_err().at, 1);
        assert_eq!(
            can(&s, "/email/x", Mode::Strict).unwrap_err().reason,
            MissReason::NotContainer
        );
        assert_eq!(
            can(&s, "/pair/1", Mode::Strict).unwrap_err().reason,
            MissReason::NoItem
        );
        assert_eq!(
            can(&s, "/address/[n=x]", Mode::Strict).unwrap_err().reason,
            MissReason::NotArray
        );
        assert_eq!(
            can(&s, "/tags/name", Mode::Strict).unwrap_err().reason,
            MissReason::NotObject
        );
        assert!(matches!(
            can(&s, "/answers/[name=email]/text", Mode::Strict)
                .unwrap_err()
                .reason,
            MissReason::SelectorMember(_)
        ));
        assert!(can(&s, "/x-/y", Mode::Strict).is_err());
    }

    #[test]
    fn lenient_walks_only_stop_at_explicit_false() {
        let s = json!({
            "properties": {"org": {"properties": {"name": {}}, "additionalProperties": false}, "n": false}
        });
        assert_eq!(can(&s, "/anything", Mode::Lenient), Ok(()));
        assert_eq!(can(&s, "/org/name", Mode::Lenient), Ok(()));
        assert!(can(&s, "/org/title", Mode::Lenient).is_err());
        assert!(can(&s, "/n", Mode::Lenient).is_err());
        assert!(can(&s, "/anything", Mode::Strict).is_err());
    }

    #[test]
    fn draft7_tuples_and_definitions() {
        let s = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "properties": {"p": {"items": [{"$ref": "#/definitions/a"}], "additionalItems": false}},
            "definitions": {"a": {"properties": {"b": {}}}}
        });
        assert_eq!(can(&s, "/p/0/b", Mode::Strict), Ok(()));
        assert!(can(&s, "/p/1", Mode::Strict).is_err());
        assert!(can(&s, "/p/0/c", Mode::Strict).is_err());
    }

    #[test]
    fn wrappers_defer_to_what_they_refer_to() {
        let s = json!({
            "properties": {
                "r": {"$ref": "#/$defs/closed"},
                "all": {"allOf": [{"properties": {"a": {}}}, {"properties": {"b": {}}}]},
                "any": {"anyOf": [{"properties": {"a": {}}}, {"type": "object"}]}
            },
            "$defs": {"closed": {"properties": {"x": {}}, "additionalProperties": false}}
        });
        assert_eq!(can(&s, "/r/x", Mode::Lenient), Ok(()));
        assert!(can(&s, "/r/y", Mode::Lenient).is_err());
        assert_eq!(can(&s, "/all/b", Mode::Strict), Ok(()));
        assert!(can(&s, "/all/c", Mode::Strict).is_err());
        // A branch that says nothing about members allows any.
        assert_eq!(can(&s, "/any/c", Mode::Strict), Ok(()));
    }

    #[test]
    fn reference_cycles_end() {
        let s = json!({"$ref": "#", "properties": {"a": {"$ref": "#"}}});
        assert_eq!(can(&s, "/a/a/a", Mode::Strict), Ok(()));
        assert!(can(&s, "/b", Mode::Strict).is_err());
    }
}
