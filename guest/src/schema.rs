//! JSON Schema validation whose violations never hold a value.
//!
//! A thin layer over the `jsonschema` crate. Two things are added:
//!
//! - **Messages without values.** `jsonschema` prints the offending value in
//!   its messages. Here every message is built from the error's kind alone:
//!   the keyword, and what the *schema* says (a type name, a limit, a
//!   pattern, a required property, a format). Neither a value nor a key of
//!   the instance ever appears in a message: an unexpected property
//!   (`additionalProperties`, `unevaluatedProperties`, `propertyNames`) is
//!   named by its path alone. The engine validates leads with the paths'
//!   keys that the policy does not name shown as `*` (see `names.rs`).
//! - **No retrieval.** The engine runs in a capability-free component, so a
//!   `$ref` can only reach the document itself and the documents handed to
//!   [`Schema::with_resources`]. A reference to anything else is an error when
//!   the schema is compiled, not when a lead is validated.
//!
//! Draft 2020-12 and draft-07 are supported, chosen by `$schema` (2020-12
//! when absent). As those drafts say, `format` is checked in draft-07 and is
//! only an annotation in draft 2020-12.
//!
//! ```
//! use leadfilter_engine::schema::Schema;
//! use serde_json::json;
//!
//! let schema = Schema::new(&json!({
//!     "type": "object",
//!     "properties": {"email": {"type": "string"}},
//!     "required": ["email", "name"]
//! })).unwrap();
//! let violations = schema.validate(&json!({"email": 42}));
//! assert_eq!(violations.len(), 2);
//! assert_eq!(violations[0].path, "");
//! assert_eq!(violations[0].message, "`required`: missing property `name`");
//! assert_eq!(violations[1].path, "/email");
//! assert_eq!(violations[1].message, "`type`: expected string");
//! ```

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{Draft, Registry, Retrieve, Uri, ValidationError, Validator};
use serde_json::Value;

use crate::Violation;
use crate::names::Names;
use crate::path::push_escaped;

/// A `const` or `enum` of the schema is shown in a message only when its
/// compact JSON text is at most this long.
const MAX_SHOWN_SCHEMA_VALUE: usize = 80;

/// A compiled JSON Schema (draft 2020-12 or draft-07, by `$schema`).
pub struct Schema {
    validator: Validator,
}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schema")
            .field("draft", &self.validator.draft())
            .finish_non_exhaustive()
    }
}

impl Schema {
    /// Compiles a schema document. The error names the problem, not values.
    pub fn new(document: &Value) -> Result<Schema, String> {
        Schema::with_resources(document, &[])
    }

    /// Compiles a schema document whose `$ref`s may also reach the given
    /// documents, each under its URI. Nothing else is retrieved: a `$ref` to
    /// a document that is neither the schema itself nor one of these is an
    /// error.
    pub fn with_resources(
        document: &Value,
        resources: &[(String, Value)],
    ) -> Result<Schema, String> {
        let root_draft = match declared_draft(document)? {
            Some(draft) => draft,
            // A custom meta-schema: jsonschema resolves it among the resources.
            None => Draft::Draft202012,
        };
        let registry = Registry::new()
            .draft(root_draft)
            .retriever(Embedded)
            .extend(resources.iter().map(|(uri, doc)| (uri.as_str(), doc)))
            .and_then(|builder| builder.prepare())
            .map_err(|e| reference_error(&e))?;
        let validator = jsonschema::options()
            .with_registry(&registry)
            .with_retriever(Embedded)
            .build(document)
            .map_err(|e| schema_error(&e))?;
        match validator.draft() {
            Draft::Draft7 | Draft::Draft202012 => Ok(Schema { validator }),
            _ => Err(UNSUPPORTED_DRAFT.to_owned()),
        }
    }

    /// Every violation of `instance`, sorted by path and message, without
    /// duplicates and without values.
    pub fn validate(&self, instance: &Value) -> Vec<Violation> {
        self.violations(instance, None)
    }

    /// Every violation of a lead (or of what a policy made of one), as
    /// [`Schema::validate`] gives them but with every object key that
    /// `names` does not hold shown as `*` in the paths (see [`Names`]).
    pub(crate) fn validate_lead(&self, instance: &Value, names: &Names) -> Vec<Violation> {
        self.violations(instance, Some(names))
    }

    fn violations(&self, instance: &Value, names: Option<&Names>) -> Vec<Violation> {
        let mut violations = Vec::new();
        let path = |pointer: &str| match names {
            Some(names) => names.shown(pointer, instance),
            None => pointer.to_owned(),
        };
        let key = |pointer: &mut String, key: &str| match names {
            Some(names) => names.push_key(pointer, key),
            None => push_escaped(pointer, key),
        };
        for error in self.validator.iter_errors(instance) {
            push_violations(&error, &path, &key, &mut violations);
        }
        violations.sort();
        violations.dedup();
        violations
    }
}

const UNSUPPORTED_DRAFT: &str = "`$schema`: only JSON Schema draft 2020-12 \
     (`https://json-schema.org/draft/2020-12/schema`) and draft-07 \
     (`http://json-schema.org/draft-07/schema#`) are supported";

/// The draft `$schema` names: `Ok(None)` for a custom meta-schema, an error
/// for a draft other than 2020-12 and 07.
fn declared_draft(document: &Value) -> Result<Option<Draft>, String> {
    let Some(declared) = document.get("$schema") else {
        return Ok(Some(Draft::Draft202012));
    };
    let Some(uri) = declared.as_str() else {
        return Err("`$schema` is a URI string".to_owned());
    };
    match Draft::from_schema_uri(uri) {
        draft @ (Draft::Draft7 | Draft::Draft202012) => Ok(Some(draft)),
        Draft::Unknown => Ok(None),
        _ => Err(UNSUPPORTED_DRAFT.to_owned()),
    }
}

/// The retriever of a capability-free engine: everything a schema refers to
/// must have been handed in.
struct Embedded;

impl Retrieve for Embedded {
    fn retrieve(
        &self,
        _uri: &Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        Err("documents are not fetched (no network, no files)".into())
    }
}

/// Why a schema did not compile. The schema is not a lead, but messages
/// are still built from kinds so they read the same as violations.
fn schema_error(error: &ValidationError<'_>) -> String {
    match error.kind() {
        ValidationErrorKind::Referencing(e) => reference_error(e),
        kind => {
            let at = error.instance_path().as_str();
            let at = if at.is_empty() { "/" } else { at };
            format!(
                "the schema is not valid under its meta-schema at `{at}`: {}",
                kind_message(kind)
            )
        }
    }
}

fn reference_error(error: &jsonschema::ReferencingError) -> String {
    use jsonschema::ReferencingError as E;
    match error {
        E::Unretrievable { uri, .. } => format!(
            "`$ref` to `{uri}` cannot be resolved: schemas are compiled without network or \
             file access, so a referenced document must be part of the schema (put it under \
             `$defs` and refer to `#/$defs/...`)"
        ),
        E::UnknownSpecification { specification } => format!(
            "`$schema`: the meta-schema `{specification}` is not available; use draft 2020-12 \
             or draft-07"
        ),
        other => format!("`$ref`: {other}"),
    }
}

/// Turns one error into violations; `additionalProperties` and friends give
/// one violation per unexpected property, at the property's own path.
/// `path` turns the error's instance path into the violation's, and `key`
/// appends a key of the instance to one.
fn push_violations(
    error: &ValidationError<'_>,
    path: &dyn Fn(&str) -> String,
    key: &dyn Fn(&mut String, &str),
    out: &mut Vec<Violation>,
) {
    let at = path(error.instance_path().as_str());
    let kind = error.kind();
    let per_property = |keyword: &str, names: &[String], out: &mut Vec<Violation>| {
        for name in names {
            let mut property = at.clone();
            key(&mut property, name);
            out.push(Violation {
                path: property,
                message: format!("`{keyword}`: property is not allowed"),
            });
        }
    };
    match kind {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            per_property("additionalProperties", unexpected, out);
        }
        ValidationErrorKind::UnevaluatedProperties { unexpected } => {
            per_property("unevaluatedProperties", unexpected, out);
        }
        ValidationErrorKind::PropertyNames { error: inner } => {
            // The inner error's instance is the offending key: a key is part
            // of a path, never of a message.
            let mut property = at;
            if let Value::String(name) = &**inner.instance() {
                key(&mut property, name);
            }
            out.push(Violation {
                path: property,
                message: format!("`propertyNames`: {}", kind_message(inner.kind())),
            });
        }
        _ => out.push(Violation {
            path: at,
            message: kind_message(kind),
        }),
    }
}

/// A message from what the schema says, never from the instance.
fn kind_message(kind: &ValidationErrorKind) -> String {
    use ValidationErrorKind as K;
    match kind {
        K::AdditionalItems { .. } => {
            "`additionalItems`: more items than the `items` list allows".into()
        }
        K::AdditionalProperties { .. } => "`additionalProperties`: property is not allowed".into(),
        K::AnyOf { .. } => "`anyOf`: not valid under any of the subschemas".into(),
        K::BacktrackLimitExceeded { .. } | K::RegexEngineFailure { .. } => {
            "`pattern`: the regular expression could not be evaluated".into()
        }
        K::Constant { expected_value } => match shown(expected_value) {
            Some(text) => format!("`const`: expected {text}"),
            None => "`const`: not the value the schema requires".into(),
        },
        K::Contains => "`contains`: no item is valid under the `contains` subschema".into(),
        K::ContentEncoding { content_encoding } => {
            format!("`contentEncoding`: not valid `{content_encoding}`")
        }
        K::ContentMediaType { content_media_type } => {
            format!("`contentMediaType`: not valid `{content_media_type}`")
        }
        K::Custom { keyword, .. } => format!("`{keyword}`: not valid"),
        K::Enum { options } => match shown(options) {
            Some(text) => format!("`enum`: not one of {text}"),
            None => "`enum`: not one of the values the schema allows".into(),
        },
        K::ExclusiveMaximum { limit } => format!("`exclusiveMaximum`: must be less than {limit}"),
        K::ExclusiveMinimum { limit } => {
            format!("`exclusiveMinimum`: must be greater than {limit}")
        }
        K::FalseSchema => "`false` schema: no value is allowed here".into(),
        K::Format { format } => format!("`format`: not a valid `{format}`"),
        K::FromUtf8 { .. } => "`contentEncoding`: the decoded content is not UTF-8".into(),
        K::MaxItems { limit } => format!("`maxItems`: more than {limit} items"),
        K::Maximum { limit } => format!("`maximum`: must be at most {limit}"),
        K::MaxLength { limit } => format!("`maxLength`: longer than {limit} characters"),
        K::MaxProperties { limit } => format!("`maxProperties`: more than {limit} properties"),
        K::MinItems { limit } => format!("`minItems`: fewer than {limit} items"),
        K::Minimum { limit } => format!("`minimum`: must be at least {limit}"),
        K::MinLength { limit } => format!("`minLength`: shorter than {limit} characters"),
        K::MinProperties { limit } => format!("`minProperties`: fewer than {limit} properties"),
        K::MultipleOf { multiple_of } => format!("`multipleOf`: not a multiple of {multiple_of}"),
        K::Not { .. } => "`not`: must not be valid under the `not` subschema".into(),
        K::OneOfMultipleValid { .. } => "`oneOf`: valid under more than one subschema".into(),
        K::OneOfNotValid { .. } => "`oneOf`: not valid under any of the subschemas".into(),
        K::Pattern { pattern } => format!("`pattern`: does not match `{pattern}`"),
        K::PropertyNames { error } => format!("`propertyNames`: {}", kind_message(error.kind())),
        K::Required { property } => match property {
            Value::String(name) => format!("`required`: missing property `{name}`"),
            other => format!("`required`: missing property {other}"),
        },
        K::Type { kind } => format!("`type`: expected {}", type_names(kind)),
        K::UnevaluatedItems { .. } => "`unevaluatedItems`: items are not allowed".into(),
        K::UnevaluatedProperties { .. } => {
            "`unevaluatedProperties`: property is not allowed".into()
        }
        K::UniqueItems => "`uniqueItems`: items are not unique".into(),
        K::Referencing(e) => reference_error(e),
    }
}

/// `string`, or `string or null`.
fn type_names(kind: &TypeKind) -> String {
    match kind {
        TypeKind::Single(t) => t.as_str().to_owned(),
        TypeKind::Multiple(set) => {
            let names: Vec<&str> = set.iter().map(|t| t.as_str()).collect();
            names.join(" or ")
        }
    }
}

/// A schema value short enough to show, as compact JSON.
fn shown(value: &Value) -> Option<String> {
    let text = value.to_string();
    (text.chars().count() <= MAX_SHOWN_SCHEMA_VALUE).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(schema: Value, instance: Value) -> Vec<(String, String)> {
        Schema::new(&schema)
            .unwrap()
            .validate(&instance)
            .into_iter()
            .map(|v| (v.path, v.message))
            .collect()
    }

    #[test]
    fn type_required_and_additional_properties_name_paths_not_values() {
        let got = messages(
            json!({
                "type": "object",
                "properties": {"age": {"type": "integer"}, "tags": {"type": ["array", "null"]}},
                "required": ["email"],
                "additionalProperties": false
            }),
            json!({"age": "thirty-seven", "tags": "secret-tag", "a/b": 1}),
        );
        assert_eq!(
            got,
            vec![
                ("".into(), "`required`: missing property `email`".into()),
                ("/age".into(), "`type`: expected integer".into()),
                (
                    "/a~1b".into(),
                    "`additionalProperties`: property is not allowed".into()
                ),
                ("/tags".into(), "`type`: expected null or array".into()),
            ]
        );
    }

    #[test]
    fn enum_const_pattern_and_format_do_not_echo_the_value() {
        let got = messages(
            json!({
                "$schema": "http://json-schema.org/draft-07/schema#",
                "properties": {
                    "c": {"enum": ["DE", "FR"]},
                    "k": {"const": "yes"},
                    "p": {"pattern": "^[0-9]+$"},
                    "e": {"format": "email"},
                    "n": {"propertyNames": {"maxLength": 2}}
                }
            }),
            json!({"c": "Jane Doe", "k": "Jane Doe", "p": "Jane Doe", "e": "Jane Doe",
                   "n": {"long-key": 1}}),
        );
        for (_, message) in &got {
            assert!(!message.contains("Jane"), "{message}");
        }
        assert_eq!(
            got,
            vec![
                ("/c".into(), r#"`enum`: not one of ["DE","FR"]"#.into()),
                ("/e".into(), "`format`: not a valid `email`".into()),
                ("/k".into(), r#"`const`: expected "yes""#.into()),
                (
                    "/n/long-key".into(),
                    "`propertyNames`: `maxLength`: longer than 2 characters".into()
                ),
                ("/p".into(), "`pattern`: does not match `^[0-9]+$`".into()),
            ]
        );
    }

    #[test]
    fn no_message_quotes_a_key_of_the_instance() {
        let got = messages(
            json!({
                "properties": {
                    "a": {"additionalProperties": false},
                    "u": {"unevaluatedProperties": false},
                    "n": {"propertyNames": {"pattern": "^x", "maxLength": 2}},
                    "p": {"patternProperties": {"^K": {"type": "string"}}},
                    "m": {"maxProperties": 0, "dependentSchemas": {"KEY_ONE": {"required": ["r"]}}},
                },
            }),
            json!({"a": {"KEY_ONE": 1}, "u": {"KEY_ONE": 1}, "n": {"KEY_ONE": 1},
                   "p": {"KEY_ONE": 1}, "m": {"KEY_ONE": 1}}),
        );
        for (_, message) in &got {
            assert!(!message.contains("KEY"), "{message}");
        }
        // The key is in the path, where the engine shows it as `*` unless
        // the policy names it.
        let paths: Vec<&str> = got.iter().map(|(path, _)| path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/a",
                "/m",
                "/m",
                "/n/KEY_ONE",
                "/n/KEY_ONE",
                "/p/KEY_ONE",
                "/u/KEY_ONE"
            ]
        );
    }

    #[test]
    fn format_is_an_annotation_in_2020_12() {
        assert!(messages(json!({"format": "email"}), json!("nope")).is_empty());
    }

    #[test]
    fn a_long_enum_is_not_spelled_out() {
        let countries: Vec<String> = (0..40).map(|i| format!("C{i}")).collect();
        let got = messages(json!({"enum": countries}), json!("Jane"));
        assert_eq!(got[0].1, "`enum`: not one of the values the schema allows");
    }

    #[test]
    fn unevaluated_items_do_not_echo_items() {
        let got = messages(
            json!({"prefixItems": [{"type": "string"}], "unevaluatedItems": false}),
            json!(["a", "Jane Doe"]),
        );
        assert_eq!(
            got,
            vec![(
                "".into(),
                "`unevaluatedItems`: items are not allowed".into()
            )]
        );
    }

    #[test]
    fn a_remote_ref_is_refused_when_compiling() {
        let err = Schema::new(&json!({"$ref": "https://example.com/lead.json"})).unwrap_err();
        assert!(err.contains("`https://example.com/lead.json`"), "{err}");
        assert!(err.contains("without network"), "{err}");
        let err = Schema::new(&json!({"$ref": "other.json"})).unwrap_err();
        assert!(err.contains("cannot be resolved"), "{err}");
    }

    #[test]
    fn resources_are_reachable_by_uri() {
        let resources = vec![(
            "https://example.com/name.json".to_owned(),
            json!({"type": "string", "maxLength": 3}),
        )];
        let schema = Schema::with_resources(
            &json!({"properties": {"n": {"$ref": "https://example.com/name.json"}}}),
            &resources,
        )
        .unwrap();
        assert!(schema.validate(&json!({"n": "abc"})).is_empty());
        assert_eq!(
            schema.validate(&json!({"n": "abcd"}))[0].message,
            "`maxLength`: longer than 3 characters"
        );
    }

    #[test]
    fn other_drafts_and_invalid_schemas_are_refused() {
        let err = Schema::new(&json!({"$schema": "http://json-schema.org/draft-04/schema#"}))
            .unwrap_err();
        assert!(err.contains("only JSON Schema draft 2020-12"), "{err}");
        let err = Schema::new(&json!({"type": "strin"})).unwrap_err();
        assert!(
            err.contains("not valid under its meta-schema at `/type`"),
            "{err}"
        );
        let err = Schema::new(&json!({"$schema": 7})).unwrap_err();
        assert!(err.contains("URI string"), "{err}");
    }

    #[test]
    fn violations_are_sorted_and_deduplicated() {
        let schema = Schema::new(&json!({
            "allOf": [{"required": ["b"]}, {"required": ["b", "a"]}]
        }))
        .unwrap();
        let got: Vec<String> = schema
            .validate(&json!({}))
            .into_iter()
            .map(|v| v.message)
            .collect();
        assert_eq!(
            got,
            vec![
                "`required`: missing property `a`",
                "`required`: missing property `b`"
            ]
        );
    }
}
