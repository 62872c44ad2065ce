//! The actions of a policy: their kinds and names, defined once, and their
//! parameters.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Detector;

/// Defines [`Action`] and [`ActionKind`] from one list: each action's
/// variant, its parameters and the name a policy writes (which is also its
/// serde tag and its name in change lists).
macro_rules! actions {
    ($($(#[$doc:meta])* $variant:ident($params:ty) = $name:literal,)+) => {
        /// An action and its parameters.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        pub enum Action {
            $($(#[$doc])* #[serde(rename = $name)] $variant($params),)+
        }

        /// What an action is, without its parameters.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ActionKind {
            $($(#[$doc])* $variant,)+
        }

        impl ActionKind {
            /// Every action, in the order the policy format lists them.
            pub const ALL: &'static [ActionKind] = &[$(ActionKind::$variant,)+];

            /// The action's name as written in a policy and in change lists.
            pub const fn name(self) -> &'static str {
                match self {
                    $(ActionKind::$variant => $name,)+
                }
            }
        }

        impl Action {
            /// What the action is.
            pub const fn kind(&self) -> ActionKind {
                match self {
                    $(Action::$variant(_) => ActionKind::$variant,)+
                }
            }
        }
    };
}

actions! {
    /// The value, whole subtree.
    Keep(Keep) = "keep",
    /// Nothing.
    Drop(Empty) = "drop",
    /// A fixed string.
    Redact(Redact) = "redact",
    /// Characters replaced but the first and last few.
    Mask(Mask) = "mask",
    /// The first few characters.
    Truncate(Truncate) = "truncate",
    /// HMAC-SHA256 under a secret, or plain SHA-256.
    Hash(Hash) = "hash",
    /// The part after the last `@`, lowercased.
    Domain(Placed) = "domain",
    /// An RFC 3339 date cut to a precision.
    Date(Date) = "date",
    /// A number as the range of width `width` it falls in.
    Bucket(Bucket) = "bucket",
    /// Free text with detected PII replaced.
    Scrub(Scrub) = "scrub",
}

impl ActionKind {
    /// The action of this name.
    pub fn from_name(name: &str) -> Option<ActionKind> {
        ActionKind::ALL
            .iter()
            .copied()
            .find(|kind| kind.name() == name)
    }

    /// The action with every parameter at its default, for the actions
    /// that a policy may name alone (`/first_name: keep`): those whose
    /// parameters all have defaults.
    pub fn alone(self) -> Option<Action> {
        Some(match self {
            ActionKind::Keep => Action::Keep(Keep::default()),
            ActionKind::Drop => Action::Drop(Empty::default()),
            ActionKind::Redact => Action::Redact(Redact::default()),
            ActionKind::Mask => Action::Mask(Mask::default()),
            ActionKind::Domain => Action::Domain(Placed::default()),
            ActionKind::Scrub => Action::Scrub(Scrub::default()),
            ActionKind::Truncate | ActionKind::Hash | ActionKind::Date | ActionKind::Bucket => {
                return None;
            }
        })
    }

    /// Whether a policy may name the action alone (see [`ActionKind::alone`]).
    pub fn stands_alone(self) -> bool {
        self.alone().is_some()
    }
}

/// Parameters of an action that takes none.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// `keep` (and `domain`): only where the result goes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keep {
    /// Output path of the result; the rule's own path when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// Parameters of `domain`.
pub type Placed = Keep;

/// `redact`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Redact {
    /// The replacement string.
    #[serde(default = "default_redaction")]
    pub with: String,
    /// Output path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

impl Default for Redact {
    fn default() -> Self {
        Self {
            with: default_redaction(),
            to: None,
        }
    }
}

fn default_redaction() -> String {
    "[REDACTED]".to_owned()
}

/// `mask`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mask {
    /// Characters left as they are at the start.
    #[serde(default)]
    pub keep_first: u32,
    /// Characters left as they are at the end.
    #[serde(default)]
    pub keep_last: u32,
    /// The masking character (one character).
    #[serde(default = "default_mask_char")]
    pub char: String,
    /// Output path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

impl Default for Mask {
    fn default() -> Self {
        Self {
            keep_first: 0,
            keep_last: 0,
            char: default_mask_char(),
            to: None,
        }
    }
}

fn default_mask_char() -> String {
    "*".to_owned()
}

/// `truncate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Truncate {
    /// Characters kept.
    pub keep_first: u32,
    /// Output path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// `hash`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hash {
    /// The declared secret that keys the HMAC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Plain SHA-256 instead of a keyed HMAC.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unkeyed: bool,
    /// Applied in order before hashing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub normalize: Vec<Normalize>,
    /// How the digest is written.
    #[serde(default)]
    pub encoding: Encoding,
    /// Output path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// A normalisation step of `hash`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Normalize {
    /// Strip leading and trailing white space.
    Trim,
    /// Unicode lowercase.
    Lowercase,
}

/// How `hash` writes its digest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// Lowercase hex.
    #[default]
    Hex,
    /// URL-safe base64 without padding.
    Base64url,
}

/// `date`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Date {
    /// How much of the date is kept.
    pub precision: Precision,
    /// Output path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// `date.precision`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// `YYYY`.
    Year,
    /// `YYYY-MM`.
    Month,
    /// `YYYY-MM-DD`.
    Day,
}

/// `bucket`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bucket {
    /// A positive integer.
    pub width: u64,
    /// Output path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// `scrub`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scrub {
    /// The detectors to run; all of them when absent.
    #[serde(default = "Detector::all")]
    pub detectors: Vec<Detector>,
    /// What replaces a detected span; `{TYPE}` becomes the detector's type.
    #[serde(default = "default_replacement")]
    pub replacement: String,
    /// Output path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

impl Default for Scrub {
    fn default() -> Self {
        Self {
            detectors: Detector::all(),
            replacement: default_replacement(),
            to: None,
        }
    }
}

fn default_replacement() -> String {
    "[{TYPE}]".to_owned()
}

impl Action {
    /// The action's name as written in a policy and in change lists.
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// Where the result goes, if elsewhere than the rule's own path.
    pub fn to(&self) -> Option<&str> {
        match self {
            Action::Drop(_) => None,
            Action::Keep(p) | Action::Domain(p) => p.to.as_deref(),
            Action::Redact(p) => p.to.as_deref(),
            Action::Mask(p) => p.to.as_deref(),
            Action::Truncate(p) => p.to.as_deref(),
            Action::Hash(p) => p.to.as_deref(),
            Action::Date(p) => p.to.as_deref(),
            Action::Bucket(p) => p.to.as_deref(),
            Action::Scrub(p) => p.to.as_deref(),
        }
    }

    /// Reads an action from a bare name or a one-key map.
    pub(super) fn from_value(value: Value) -> Result<Action, String> {
        match value {
            Value::String(name) => ActionKind::from_name(&name)
                .and_then(ActionKind::alone)
                .ok_or_else(|| {
                format!("`{name}` is not an action that can stand alone (write `{name}: {{...}}` with its parameters)")
            }),
            Value::Object(map) => {
                if map.len() != 1 {
                    return Err("a rule names exactly one action".to_owned());
                }
                // A null parameter list (`drop:` in YAML) means no parameters.
                let (name, params) = map.into_iter().next().expect("one entry");
                let params = if params.is_null() {
                    Value::Object(Default::default())
                } else {
                    params
                };
                let mut tagged = serde_json::Map::new();
                tagged.insert(name, params);
                serde_json::from_value(Value::Object(tagged)).map_err(|e| e.to_string())
            }
            _ => Err("an action is a name or a map with one action".to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_named_as_their_serde_tags() {
        for &kind in ActionKind::ALL {
            assert_eq!(ActionKind::from_name(kind.name()), Some(kind));
            if let Some(action) = kind.alone() {
                assert_eq!(action.kind(), kind);
                let value = serde_json::to_value(&action).unwrap();
                assert!(value.get(kind.name()).is_some(), "{value}");
                assert_eq!(Action::from_value(kind.name().into()), Ok(action));
            }
        }
        let standing_alone: Vec<&str> = ActionKind::ALL
            .iter()
            .filter(|kind| kind.stands_alone())
            .map(|kind| kind.name())
            .collect();
        assert_eq!(
            standing_alone,
            ["keep", "drop", "redact", "mask", "domain", "scrub"]
        );
        let bucket = Action::from_value(serde_json::json!({"bucket": {"width": 10}})).unwrap();
        assert_eq!(bucket.kind(), ActionKind::Bucket);
        assert_eq!(bucket.name(), "bucket");
    }
}
