//! Loading a policy: patterns parsed into the trie, actions prepared,
//! conditions, regexes and schemas compiled, and what would fail every lead
//! refused.

use super::{CompiledAlternative, CompiledRule, Engine, Node, Op};
use crate::PolicyInfo;
use crate::action::PreparedAction;
use crate::condition::{Cond, ConditionError};
use crate::json::Json;
use crate::names::Names;
use crate::path::{self, Pattern, Segment};
use crate::policy::{API_VERSION, Action, Policy, Rule, SchemaRef};
use crate::schema::Schema;

/// Why a policy could not be loaded into the engine.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The canonical policy text is not a policy.
    #[error("the policy is not valid: {0}")]
    Policy(String),
    /// A path pattern does not parse.
    #[error("`fields.{path}`: {message}")]
    Path {
        /// The pattern.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A `matches` regular expression does not compile.
    #[error("{location}: the regular expression does not compile: {message}")]
    Regex {
        /// Where in the policy.
        location: String,
        /// The regex crate's message.
        message: String,
    },
    /// A schema does not compile.
    #[error("`{which}.schema`: {message}")]
    Schema {
        /// `input` or `output`.
        which: &'static str,
        /// What is wrong.
        message: String,
    },
}

impl From<ConditionError> for LoadError {
    fn from(error: ConditionError) -> LoadError {
        match error {
            ConditionError::Path { location, message } => {
                LoadError::Policy(format!("`{location}`: {message}"))
            }
            ConditionError::Regex { location, message } => LoadError::Regex {
                location: format!("`{location}`"),
                message,
            },
        }
    }
}

impl Engine {
    /// Builds an engine from a policy whose schemas are embedded.
    pub fn new(policy: Policy) -> Result<Engine, LoadError> {
        if policy.api_version != API_VERSION {
            return Err(LoadError::Policy(format!(
                "`apiVersion` is `{}`; this engine reads `{API_VERSION}`",
                policy.api_version
            )));
        }
        let digest = policy.digest();
        let names = Names::of(&policy);
        let (input_schema, input_text) = compile_schema("input", policy.input.schema.as_ref())?;
        let (output_schema, output_text) = compile_schema("output", policy.output.schema.as_ref())?;
        let require = policy
            .require
            .iter()
            .enumerate()
            .map(|(i, r)| {
                Ok((
                    Cond::new(&r.condition, &format!("require[{i}]"))?,
                    r.reason.clone(),
                ))
            })
            .collect::<Result<Vec<_>, LoadError>>()?;

        let mut patterns = policy
            .fields
            .iter()
            .map(|(text, rule)| compile_rule(text, rule, &policy.secrets))
            .collect::<Result<Vec<_>, _>>()?;
        // Most specific first: the rule index is the order of preference.
        patterns.sort_by(|(a, _), (b, _)| b.specificity_cmp(a));
        let mut nodes = vec![Node::default()];
        let mut rules = Vec::with_capacity(patterns.len());
        let mut texts: Vec<String> = Vec::with_capacity(patterns.len());
        for (id, (pattern, rule)) in patterns.into_iter().enumerate() {
            let node = insert(&mut nodes, &pattern.segments);
            if let Some(other) = nodes[node].rule {
                return Err(LoadError::Path {
                    path: pattern.text,
                    message: format!("this is the same path as `{}`", texts[other]),
                });
            }
            nodes[node].rule = Some(id);
            texts.push(pattern.text);
            rules.push(rule);
        }

        let relocates = rules
            .iter()
            .any(|r: &CompiledRule| r.alternatives.iter().any(|a| a.to.is_some()));
        Ok(Engine {
            info: PolicyInfo {
                name: policy.name,
                version: policy.version,
                digest,
                secrets: policy.secrets,
                input_schema: input_text,
                output_schema: output_text,
            },
            unknown: policy.output.unknown,
            require,
            input_schema,
            output_schema,
            rules,
            patterns: texts,
            nodes,
            relocates,
            names,
        })
    }

    /// Builds an engine from canonical policy JSON.
    pub fn from_json(text: &[u8]) -> Result<Engine, LoadError> {
        let policy = Policy::from_json(text).map_err(|e| LoadError::Policy(e.to_string()))?;
        Engine::new(policy)
    }

    /// Runs every compiled regular expression once, on text made up for
    /// the purpose, so that the search caches they build lazily exist
    /// before the first lead. A component calls this before it is
    /// snapshotted, so that a fresh instance starts warm. No lead is
    /// involved and nothing is returned.
    pub fn warm_up(&self) {
        const SAMPLE: &str = "Mail a.b@example.com, call +1 (312) 555-0199, card 4111 1111 1111 1111, \
            IBAN DE89 3704 0044 0532 0130 00, SSN 123-45-6789, from 192.0.2.1 or 2001:db8::1, \
            see https://example.com/x?y=1";
        let sample = Json::String(SAMPLE.into());
        for (condition, _) in &self.require {
            condition.warm_up();
        }
        for rule in &self.rules {
            for alternative in &rule.alternatives {
                if let Some(when) = &alternative.when {
                    when.warm_up();
                }
                if let Op::Write(action) = &alternative.op
                    && let Action::Scrub(_) = action.action()
                {
                    let _ = action.apply(&sample, &[]);
                }
            }
        }
    }
}

/// Parses a rule's pattern and prepares its alternatives.
fn compile_rule(
    text: &str,
    rule: &Rule,
    secrets: &[String],
) -> Result<(Pattern, CompiledRule), LoadError> {
    let path_error = |message: String| LoadError::Path {
        path: text.to_owned(),
        message,
    };
    let pattern = Pattern::parse(text).map_err(path_error)?;
    let mut alternatives = Vec::with_capacity(rule.alternatives.len());
    for (i, alternative) in rule.alternatives.iter().enumerate() {
        let when = alternative
            .when
            .as_ref()
            .map(|c| Cond::new(c, &format!("fields.{text}[{i}].when")))
            .transpose()?;
        let action = &alternative.action;
        check_action(action, secrets).map_err(path_error)?;
        if pattern.segments.is_empty() && !matches!(action, Action::Keep(_) | Action::Drop(_)) {
            return Err(path_error(
                "the whole lead (``) can only be kept or dropped".to_owned(),
            ));
        }
        let to = match action.to() {
            None => None,
            Some(to) => {
                let pointer = Pattern::parse_pointer(to)
                    .map_err(|m| path_error(format!("`to: {to}`: {m}")))?;
                if pointer.segments.is_empty() {
                    return Err(path_error(
                        "`to:` names a place inside the output lead, not the whole of it"
                            .to_owned(),
                    ));
                }
                let keys = pointer.segments.into_iter().filter_map(|s| match s {
                    Segment::Key(key) => Some(key),
                    _ => None,
                });
                Some(keys.collect())
            }
        };
        let op = match action {
            Action::Keep(_) => Op::Keep,
            Action::Drop(_) => Op::Drop,
            other => Op::Write(Box::new(PreparedAction::new(other))),
        };
        alternatives.push(CompiledAlternative { when, op, to });
    }
    Ok((pattern, CompiledRule { alternatives }))
}

/// Compiles an embedded schema; also returns its compact text for `info`.
fn compile_schema(
    which: &'static str,
    schema: Option<&SchemaRef>,
) -> Result<(Option<Schema>, Option<String>), LoadError> {
    match schema {
        None => Ok((None, None)),
        Some(SchemaRef::File(file)) => Err(LoadError::Policy(format!(
            "`{which}.schema` names the file `{file}`: the host embeds schema files before the engine loads a policy"
        ))),
        Some(SchemaRef::Inline(document)) => {
            let schema =
                Schema::new(document).map_err(|message| LoadError::Schema { which, message })?;
            Ok((Some(schema), Some(document.to_string())))
        }
    }
}

/// The parameter checks that would otherwise fail every lead at run time:
/// a `hash` is keyed by a declared secret or unkeyed, not both; a `mask`
/// character is one character; a `bucket` width is positive.
fn check_action(action: &Action, secrets: &[String]) -> Result<(), String> {
    match action {
        Action::Hash(hash) => match (&hash.key, hash.unkeyed) {
            (Some(_), true) => Err("`hash` takes a `key` or `unkeyed: true`, not both".to_owned()),
            (None, false) => {
                Err("`hash` needs a `key` (a declared secret), or `unkeyed: true`".to_owned())
            }
            (Some(key), false) if !secrets.contains(key) => Err(format!(
                "`hash.key` is `{key}`, which is not declared in `secrets`"
            )),
            _ => Ok(()),
        },
        Action::Mask(mask) if mask.char.chars().count() != 1 => {
            Err("`mask.char` is exactly one character".to_owned())
        }
        Action::Bucket(bucket) if bucket.width == 0 => {
            Err("`bucket.width` is a positive integer".to_owned())
        }
        _ => Ok(()),
    }
}

/// The trie node for `segments`, created with its ancestors as needed.
fn insert(nodes: &mut Vec<Node>, segments: &[Segment]) -> usize {
    let mut node = 0;
    for segment in segments {
        let existing = match segment {
            Segment::Key(key) => nodes[node].keys.get(key).copied(),
            Segment::Selector { pointer, text } => nodes[node]
                .selectors
                .iter()
                .find(|(p, t, _)| p == pointer && t == text)
                .map(|(_, _, child)| *child),
            Segment::Star => nodes[node].star,
        };
        node = match existing {
            Some(child) => child,
            None => {
                let child = nodes.len();
                nodes.push(Node::default());
                let parent = &mut nodes[node];
                match segment {
                    Segment::Key(key) => {
                        parent.keys.insert(key.clone(), child);
                        if let Some(index) = path::array_index(key) {
                            parent.indices.insert(index, child);
                        }
                    }
                    Segment::Selector { pointer, text } => {
                        parent
                            .selectors
                            .push((pointer.clone(), text.clone(), child));
                    }
                    Segment::Star => parent.star = Some(child),
                }
                child
            }
        };
    }
    node
}
