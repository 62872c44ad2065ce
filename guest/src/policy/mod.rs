//! The policy model: what a policy says, as data.
//!
//! The same types read a policy source (after the host has turned YAML into
//! JSON) and the canonical policy that is baked into a component. Shorthands
//! of the source (`/first_name: keep`, one action instead of a list of
//! alternatives, a schema given as a file name) are accepted on the way in;
//! [`Policy::canonical_json`] always writes the explicit form, with every
//! schema embedded and object keys sorted, so that the same policy always
//! gives the same bytes and the same digest.

use std::collections::BTreeMap;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use sha2::{Digest, Sha256};

mod action;
mod detector;

pub use action::{
    Action, ActionKind, Bucket, Date, Empty, Encoding, Hash, Keep, Mask, Normalize, Placed,
    Precision, Redact, Scrub, Truncate,
};
pub use detector::Detector;

/// The `apiVersion` every policy of this format declares.
pub const API_VERSION: &str = "leadfilter/v1";

/// A whole policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Always [`API_VERSION`].
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// `[a-z0-9-]+`.
    pub name: String,
    /// Free text, usually semver.
    pub version: String,
    /// What the policy is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The contract with the lead source.
    #[serde(default)]
    pub input: InputSpec,
    /// The contract with the destination.
    #[serde(default)]
    pub output: OutputSpec,
    /// Names of the secrets the host must hand in.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// Conditions every lead must meet.
    #[serde(default)]
    pub require: Vec<Requirement>,
    /// Rules by path pattern.
    #[serde(default)]
    pub fields: BTreeMap<String, Rule>,
}

/// `input:`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// The input JSON Schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<SchemaRef>,
}

/// `output:`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    /// The output JSON Schema, checked after the transform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<SchemaRef>,
    /// What happens to a value that no rule governs.
    #[serde(default)]
    pub unknown: Unknown,
}

/// A schema: a file name in a policy source, the schema itself once compiled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SchemaRef {
    /// A path relative to the policy file. Only in sources.
    File(String),
    /// The schema document (an object or a boolean).
    Inline(Value),
}

/// `output.unknown`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unknown {
    /// Values that no rule governs are left out of the output.
    #[default]
    Drop,
    /// A value that no rule governs rejects the whole lead.
    Reject,
}

/// One entry of `require:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Requirement {
    /// What must hold.
    #[serde(flatten)]
    pub condition: Condition,
    /// Reported when it does not.
    pub reason: String,
}

/// A condition on the input lead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Condition {
    /// Every condition holds.
    All {
        /// The conditions.
        all: Vec<Condition>,
    },
    /// At least one condition holds.
    Any {
        /// The conditions.
        any: Vec<Condition>,
    },
    /// The condition does not hold.
    Not {
        /// The condition.
        not: Box<Condition>,
    },
    /// A test of the value at one path.
    Test {
        /// A path without `*`.
        path: String,
        /// The test.
        #[serde(flatten)]
        test: Test,
    },
}

/// What a [`Condition::Test`] checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Test {
    /// The value equals this JSON value.
    Equals(Value),
    /// The value equals one of these.
    In(Vec<Value>),
    /// The value is present (`true`) or absent (`false`).
    Exists(bool),
    /// The value is a string (or number or boolean, by its JSON text) that
    /// the regular expression matches somewhere.
    Matches(String),
}

/// What a path says: one alternative, or a list tried in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Tried in order; the first whose `when` holds applies.
    pub alternatives: Vec<Alternative>,
}

/// One alternative of a rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Alternative {
    /// Applies only when this holds; always when absent.
    pub when: Option<Condition>,
    /// What to do with the value.
    pub action: Action,
}

impl<'de> Deserialize<'de> for Alternative {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let mut map = match value {
            Value::Object(map) => map,
            other => {
                return Action::from_value(other)
                    .map(|action| Alternative { when: None, action })
                    .map_err(D::Error::custom);
            }
        };
        let when = map
            .remove("when")
            .map(serde_json::from_value::<Condition>)
            .transpose()
            .map_err(D::Error::custom)?;
        let action = Action::from_value(Value::Object(map)).map_err(D::Error::custom)?;
        Ok(Alternative { when, action })
    }
}

impl Serialize for Alternative {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut value = serde_json::to_value(&self.action).map_err(serde::ser::Error::custom)?;
        // A unit-like action serialises as `{"drop": {}}`; keep it a map.
        if let (Some(when), Value::Object(map)) = (&self.when, &mut value) {
            map.insert(
                "when".to_owned(),
                serde_json::to_value(when).map_err(serde::ser::Error::custom)?,
            );
        }
        value.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Rule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let alternatives = match value {
            Value::Array(items) => {
                if items.is_empty() {
                    return Err(D::Error::custom("a list of alternatives is empty"));
                }
                items
                    .into_iter()
                    .map(serde_json::from_value)
                    .collect::<Result<Vec<Alternative>, _>>()
                    .map_err(D::Error::custom)?
            }
            other => vec![serde_json::from_value(other).map_err(D::Error::custom)?],
        };
        Ok(Rule { alternatives })
    }
}

impl Serialize for Rule {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.alternatives.serialize(serializer)
    }
}

impl Policy {
    /// Reads a policy from JSON text (a source turned into JSON, or a
    /// canonical policy).
    pub fn from_json(text: &[u8]) -> Result<Policy, serde_json::Error> {
        serde_json::from_slice(text)
    }

    /// The canonical form: explicit alternatives and parameters, schemas
    /// embedded, object keys sorted, no insignificant white space.
    pub fn canonical_json(&self) -> Vec<u8> {
        // `Value` without serde_json's `preserve_order` keeps object keys
        // sorted, which makes this canonical.
        let value = serde_json::to_value(self).expect("a policy always serialises");
        serde_json::to_vec(&sort_keys(value)).expect("a value always serialises")
    }

    /// `sha256:` and the hex SHA-256 of [`Policy::canonical_json`].
    pub fn digest(&self) -> String {
        digest_of(&self.canonical_json())
    }
}

/// `sha256:` and the lowercase hex SHA-256 of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for byte in hash {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// Rebuilds every object of `value` with its keys in sorted order, whatever
/// map type serde_json was built with.
fn sort_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<String, Value> =
                map.into_iter().map(|(k, v)| (k, sort_keys(v))).collect();
            Value::Object(sorted.into_iter().collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sort_keys).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(fields: Value) -> Policy {
        serde_json::from_value(json!({
            "apiVersion": API_VERSION, "name": "t", "version": "1", "fields": fields
        }))
        .unwrap()
    }

    #[test]
    fn shorthands_read_as_explicit_alternatives() {
        let p = policy(json!({
            "/a": "keep",
            "/b": {"mask": {"keep_last": 4}},
            "/c": [{"when": {"path": "/x", "exists": true}, "hash": {"unkeyed": true}}, {"domain": {}}],
            "/d": {"drop": null},
        }));
        assert_eq!(
            p.fields["/a"].alternatives[0].action,
            Action::Keep(Keep::default())
        );
        assert_eq!(p.fields["/b"].alternatives[0].action.name(), "mask");
        assert_eq!(p.fields["/c"].alternatives.len(), 2);
        assert!(p.fields["/c"].alternatives[0].when.is_some());
        assert_eq!(p.fields["/d"].alternatives[0].action.name(), "drop");
    }

    #[test]
    fn canonical_form_round_trips_and_is_stable() {
        let p = policy(json!({"/b": {"mask": {"keep_last": 4}}, "/a": "keep"}));
        let bytes = p.canonical_json();
        let again = Policy::from_json(&bytes).unwrap();
        assert_eq!(again, p);
        assert_eq!(again.canonical_json(), bytes);
        assert!(p.digest().starts_with("sha256:"));
    }

    #[test]
    fn a_map_with_two_actions_is_refused() {
        let err = serde_json::from_value::<Rule>(json!({"keep": {}, "drop": {}})).unwrap_err();
        assert!(err.to_string().contains("exactly one action"));
    }

    #[test]
    fn a_bare_action_that_needs_parameters_is_refused() {
        let err = serde_json::from_value::<Rule>(json!("bucket")).unwrap_err();
        assert!(err.to_string().contains("bucket"));
    }

    #[test]
    fn conditions_read_in_every_form() {
        let c: Condition = serde_json::from_value(json!({
            "all": [{"path": "/a", "equals": 1}, {"not": {"path": "/b", "in": ["x"]}},
                    {"any": [{"path": "/c", "exists": false}, {"path": "/d", "matches": "^x"}]}]
        }))
        .unwrap();
        let Condition::All { all } = c else { panic!() };
        assert_eq!(all.len(), 3);
    }
}
