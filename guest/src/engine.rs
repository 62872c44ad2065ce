//! Loading a policy and transforming leads.
//!
//! [`Engine::new`] does all the expensive work once: it parses every path
//! pattern and `to:` pointer, prepares every action, compiles every regex and
//! schema, and builds a trie of the patterns (key, index, selector and `*`
//! children) so that finding the rules that match a value costs a few map
//! look-ups. [`Engine::transform`] compiles nothing. Loading also refuses
//! what would fail every lead: a `hash` key that is not a declared secret
//! (or a `hash` with both or neither of `key` and `unkeyed`), a `mask.char`
//! that is not one character, a `bucket.width` of 0, two patterns that name
//! the same values (`[name=x]` and `[/name=x]`), a rule on the whole lead
//! other than `keep` or `drop`, and a schema given as a file name.
//!
//! # A transform, step by step
//!
//! 1. Every declared secret must be handed in (`missing-secret`).
//! 2. The lead is parsed as I-JSON (`invalid-json`). A lead is a JSON
//!    object: any other JSON value is `invalid-json` too, since it is not a
//!    lead at all (the message names its kind, not its content).
//! 3. The input schema, if any (`input-schema`).
//! 4. Every `require` condition, in order (`rejected`, with its `reason`).
//! 5. The walk below (`rejected` for `unknown: reject`, `transform` when an
//!    action cannot apply or two values land on one output path).
//! 6. The output schema, if any, on the result (`output-schema`).
//!
//! # The walk
//!
//! The lead is walked depth first, in input order. `when` conditions, like
//! `require`, test the whole input lead (their paths are absolute). For each
//! value, the rules
//! whose pattern matches its concrete path exactly are tried from the most
//! specific ([`Pattern::specificity_cmp`]); the first rule with an
//! alternative whose `when` holds governs the value with that alternative.
//! A rule none of whose alternatives holds does not govern: the next most
//! specific match is tried, then the value inherits the governance of its
//! nearest governed ancestor; a value with neither is *unknown*.
//!
//! - `keep` writes the value, whole. When more specific rules exist below a
//!   kept object or array, the walk descends instead and keeps everything
//!   they do not govern, so `/address: keep` with `/address/street: drop`
//!   keeps the address without its street. A kept container stays in the
//!   output even when nothing is left in it (`{}`).
//! - `drop` writes nothing. Below a dropped container, values governed by
//!   their own rules still appear, inside route containers: `/address: drop`
//!   with `/address/country: keep` gives `{"address": {"country": ..}}`.
//! - Every other action writes its result in place of the value, whole. A
//!   more specific rule below a container replaced this way may still act,
//!   but only by writing elsewhere (`to:`); writing into the replaced value
//!   fails the transform.
//! - An unknown value is left out and listed as a change with the action
//!   `unknown` (`unknown: drop`), or rejects the lead with its path
//!   (`unknown: reject`). Only values that no rule reaches are unknown: an
//!   object or array that leads to governed values is a *route*, and the
//!   root is always one.
//! - Route objects hold just what is written into them, in input order, and
//!   are left out of their parent when nothing is; the root is `{}` then.
//!   Route arrays keep their length and positions: an element that yields
//!   nothing becomes `{}` if it was an object, `[]` if it was an array and
//!   `null` otherwise; a route array in which no element yields anything is
//!   left out. A kept array whose element a rule drops keeps the position
//!   the same way.
//! - `to: /p` writes the result at `/p` of the output instead, creating
//!   route objects on the way; members appear in the order they are
//!   written. A kept container moved this way takes the rules below it
//!   along (`/a: {keep: {to: /b}}` with `/a/x: drop` gives `/b` without
//!   `x`). A value written where one already is (a selector or `*` rule
//!   with `to:` that matches twice, or two rules meeting) fails the
//!   transform, naming the input path and the output path.
//! - `null` stays `null` under every action; a member absent from the lead
//!   stays absent.
//! - The whole lead (the pattern ``""``) can be kept or dropped, nothing
//!   else, and `to:` names a place inside the output, never its root.
//!
//! The change list has one entry per value a rule governed (its concrete
//! path and the action's name; a `keep` or `drop` on a container is one
//! entry, followed by the entries of the rules below it) and one `unknown`
//! entry per top-most unknown value, in input order. Changes, failures and
//! violations name paths and rules, never values.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::ops::Range;

use foldhash::fast::FixedState;
use serde_json::Value;

use crate::action::PreparedAction;
use crate::condition::{Cond, ConditionError};
use crate::coverage::Coverage;
use crate::json::{self, Json};
use crate::path::{self, Pattern, Segment};
use crate::policy::{API_VERSION, Action, Policy, Rule, SchemaRef, Unknown};
use crate::schema::Schema;
use crate::{Change, Failure, Outcome, PolicyInfo, Secret, Violation};

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

/// A loaded policy, ready to transform leads.
#[derive(Debug)]
pub struct Engine {
    info: PolicyInfo,
    unknown: Unknown,
    require: Vec<(Cond, String)>,
    input_schema: Option<Schema>,
    output_schema: Option<Schema>,
    /// Most specific first, so a smaller index wins.
    rules: Vec<CompiledRule>,
    /// The pattern of each rule, as the policy writes it (for coverage).
    patterns: Vec<String>,
    /// The pattern trie; node 0 is the root (the pattern `""`).
    nodes: Vec<Node>,
    /// Whether an alternative writes elsewhere (`to:`).
    relocates: bool,
}

#[derive(Debug)]
struct CompiledRule {
    alternatives: Vec<CompiledAlternative>,
}

#[derive(Debug)]
struct CompiledAlternative {
    when: Option<Cond>,
    op: Op,
    /// The segments of `to:`.
    to: Option<Vec<String>>,
}

#[derive(Debug)]
enum Op {
    Keep,
    Drop,
    Write(Box<PreparedAction>),
}

impl Op {
    /// The action's name, for the change list.
    fn name(&self) -> &'static str {
        match self {
            Op::Keep => "keep",
            Op::Drop => "drop",
            Op::Write(action) => action.action().name(),
        }
    }
}

/// A trie node: the patterns that share a prefix of segments.
#[derive(Debug, Default)]
struct Node {
    /// The rule whose pattern ends here.
    rule: Option<usize>,
    /// Key segments, matching object members. Hashed with a fixed seed,
    /// so that a pre-initialised engine's memory is the same every time.
    keys: HashMap<String, usize, FixedState>,
    /// The key segments that are array indices, matching array elements.
    indices: BTreeMap<usize, usize>,
    /// Selector segments: pointer, text, child.
    selectors: Vec<(Vec<String>, String, usize)>,
    /// The `*` segment.
    star: Option<usize>,
}

impl Node {
    fn has_children(&self) -> bool {
        !self.keys.is_empty() || !self.selectors.is_empty() || self.star.is_some()
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
                    && action.action().name() == "scrub"
                {
                    let _ = action.apply(&sample, &[]);
                }
            }
        }
    }

    /// What the policy is.
    pub fn info(&self) -> &PolicyInfo {
        &self.info
    }

    /// Filters one lead.
    pub fn transform(&self, text: &str, secrets: &[Secret]) -> Result<Outcome, Failure> {
        self.run(text, secrets, None)
    }

    /// Filters one lead as [`Engine::transform`] does, and adds to
    /// `coverage` the alternatives that governed its values and the
    /// `require` entry that rejected it (see [`Coverage`]).
    pub fn transform_traced(
        &self,
        text: &str,
        secrets: &[Secret],
        coverage: &mut Coverage,
    ) -> Result<Outcome, Failure> {
        self.run(text, secrets, Some(coverage))
    }

    fn run(
        &self,
        text: &str,
        secrets: &[Secret],
        mut coverage: Option<&mut Coverage>,
    ) -> Result<Outcome, Failure> {
        if let Some(missing) = self
            .info
            .secrets
            .iter()
            .find(|name| !secrets.iter().any(|s| &s.name == *name))
        {
            return Err(Failure::MissingSecret(missing.clone()));
        }
        let lead = json::parse(text).map_err(|e| Failure::InvalidJson(e.to_string()))?;
        if !matches!(lead, Json::Object(_)) {
            return Err(Failure::InvalidJson(format!(
                "a lead is a JSON object, and this is {}",
                with_article(lead.kind())
            )));
        }
        if let Some(schema) = &self.input_schema {
            let violations = schema.validate(&lead.to_value());
            if !violations.is_empty() {
                return Err(Failure::InputSchema(violations));
            }
        }
        if let Some((i, (_, reason))) = self
            .require
            .iter()
            .enumerate()
            .find(|(_, (c, _))| !c.holds(&lead))
        {
            if let Some(coverage) = coverage.as_deref_mut() {
                coverage.record_rejection(i);
            }
            return Err(Failure::Rejected(reason.clone()));
        }
        let mut walk = Walk {
            engine: self,
            lead: &lead,
            secrets,
            tree: OutTree {
                nodes: Vec::with_capacity(32),
                root: None,
                relocating: self.relocates,
            },
            changes: Vec::with_capacity(32),
            active: vec![0],
            path: String::new(),
            coverage,
        };
        walk.visit(&lead, 0..1, Inherit::Unknown, Some(Place::Root))?;
        let Walk { tree, changes, .. } = walk;
        let present = tree.presence();
        if let Some(schema) = &self.output_schema {
            let violations = schema.validate(&tree.to_value(&present));
            if !violations.is_empty() {
                return Err(Failure::OutputSchema(violations));
            }
        }
        Ok(Outcome {
            lead: tree.to_compact(&present, text.len()),
            changes,
        })
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

fn with_article(kind: &str) -> String {
    match kind {
        "null" => "null".to_owned(),
        "array" => "an array".to_owned(),
        other => format!("a {other}"),
    }
}

/// What a value that no rule of its own governs gets from its ancestors.
#[derive(Debug, Clone, Copy)]
enum Inherit {
    /// Under a `keep`: kept.
    Keep,
    /// Under a `drop`: left out.
    Drop,
    /// Under another action, which replaced the container whole: left out.
    Covered,
    /// No governed ancestor.
    Unknown,
}

/// One transform in progress.
struct Walk<'a> {
    engine: &'a Engine,
    lead: &'a Json<'a>,
    secrets: &'a [Secret],
    tree: OutTree<'a>,
    changes: Vec<Change>,
    /// Trie nodes matching the values on the current path, a range per
    /// value.
    active: Vec<usize>,
    /// The concrete pointer of the current value.
    path: String,
    /// Where governing alternatives are recorded, when tracing.
    coverage: Option<&'a mut Coverage>,
}

impl<'a> Walk<'a> {
    /// Decides `value`, whose matching trie nodes are `self.active[active]`
    /// and whose output place (for a value that writes itself where it
    /// is) is `place`; `None` is inside a value written whole.
    fn visit(
        &mut self,
        value: &'a Json,
        active: Range<usize>,
        inherit: Inherit,
        place: Option<Place<'a>>,
    ) -> Result<(), Failure> {
        let engine = self.engine;
        let container = matches!(value, Json::Object(_) | Json::Array(_));
        let deeper = container
            && self.active[active.clone()]
                .iter()
                .any(|&n| engine.nodes[n].has_children());
        let Some((rule, index)) = self.governing(active.clone()) else {
            return match inherit {
                Inherit::Keep if deeper => self.descend(value, active, Inherit::Keep, place, true),
                Inherit::Keep => self.put(place, OutValue::Input(value)),
                Inherit::Drop | Inherit::Covered if deeper => {
                    self.descend(value, active, inherit, place, false)
                }
                Inherit::Drop | Inherit::Covered => Ok(()),
                Inherit::Unknown if deeper || matches!(place, Some(Place::Root)) => {
                    self.descend(value, active, Inherit::Unknown, place, false)
                }
                Inherit::Unknown => self.unknown(),
            };
        };
        let alternative = &engine.rules[rule].alternatives[index];
        if let Some(coverage) = self.coverage.as_deref_mut() {
            coverage.record_alternative(&engine.patterns[rule], index);
        }
        self.changes.push(Change {
            path: self.path.clone(),
            action: alternative.op.name().to_owned(),
        });
        let target = match &alternative.to {
            Some(to) => Some(self.tree.locate(to).map_err(|e| self.clash(e))?),
            None => place,
        };
        match &alternative.op {
            Op::Keep if deeper => self.descend(value, active, Inherit::Keep, target, true),
            Op::Keep => self.put(target, OutValue::Input(value)),
            Op::Drop if deeper => self.descend(value, active, Inherit::Drop, place, false),
            Op::Drop => Ok(()),
            Op::Write(action) => {
                let result = match value {
                    Json::Null => Json::Null,
                    value => action.apply(value, self.secrets).map_err(|message| {
                        Failure::Transform(Violation {
                            path: self.path.clone(),
                            message,
                        })
                    })?,
                };
                self.put(target, OutValue::Produced(result))?;
                if deeper {
                    self.descend(value, active, Inherit::Covered, None, false)
                } else {
                    Ok(())
                }
            }
        }
    }

    /// The alternative that governs the current value: the first that holds
    /// of the most specific matching rule that has one, as the rule's index
    /// and the alternative's position in it.
    fn governing(&self, active: Range<usize>) -> Option<(usize, usize)> {
        let engine = self.engine;
        let mut tried: Option<usize> = None;
        loop {
            let next = self.active[active.clone()]
                .iter()
                .filter_map(|&n| engine.nodes[n].rule)
                .filter(|&r| tried.is_none_or(|t| r > t))
                .min()?;
            let found = engine.rules[next]
                .alternatives
                .iter()
                .position(|a| a.when.as_ref().is_none_or(|c| c.holds(self.lead)));
            if let Some(index) = found {
                return Some((next, index));
            }
            tried = Some(next);
        }
    }

    /// Walks the members or elements of a container that is written member
    /// by member: a route object or array at `place` (`kept`: present even
    /// when empty), or nothing when `place` is inside a value written whole.
    fn descend(
        &mut self,
        value: &'a Json,
        active: Range<usize>,
        inherit: Inherit,
        place: Option<Place<'a>>,
        kept: bool,
    ) -> Result<(), Failure> {
        let engine = self.engine;
        match value {
            Json::Object(members) => {
                let node = match place {
                    Some(place) => Some(
                        self.tree
                            .route_object(place, kept)
                            .map_err(|e| self.clash(e))?,
                    ),
                    None => None,
                };
                for (name, child) in members {
                    let start = self.active.len();
                    for k in active.clone() {
                        let n = &engine.nodes[self.active[k]];
                        if let Some(&c) = n.keys.get(&**name) {
                            self.active.push(c);
                        }
                        if let Some(c) = n.star {
                            self.active.push(c);
                        }
                    }
                    let end = self.active.len();
                    let len = self.path.len();
                    path::push_escaped(&mut self.path, name);
                    let child_place = node.map(|id| Place::Member(id, name));
                    self.visit(child, start..end, inherit, child_place)?;
                    self.path.truncate(len);
                    self.active.truncate(start);
                }
            }
            Json::Array(items) => {
                let node = match place {
                    Some(place) => {
                        let empties = items.iter().map(Empty::of).collect();
                        Some(
                            self.tree
                                .route_array(place, empties, kept)
                                .map_err(|e| self.clash(e))?,
                        )
                    }
                    None => None,
                };
                for (i, child) in items.iter().enumerate() {
                    let start = self.active.len();
                    for k in active.clone() {
                        let n = &engine.nodes[self.active[k]];
                        if let Some(&c) = n.indices.get(&i) {
                            self.active.push(c);
                        }
                        for (pointer, text, c) in &n.selectors {
                            if path::selects(pointer, text, child) {
                                self.active.push(*c);
                            }
                        }
                        if let Some(c) = n.star {
                            self.active.push(c);
                        }
                    }
                    let end = self.active.len();
                    let len = self.path.len();
                    // Writing to a `String` cannot fail.
                    let _ = write!(self.path, "/{i}");
                    let child_place = node.map(|id| Place::Element(id, i));
                    self.visit(child, start..end, inherit, child_place)?;
                    self.path.truncate(len);
                    self.active.truncate(start);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Writes a value at `place`.
    fn put(&mut self, place: Option<Place<'a>>, value: OutValue<'a>) -> Result<(), Failure> {
        self.tree.put(place, value).map_err(|e| self.clash(e))
    }

    /// A value no rule governs.
    fn unknown(&mut self) -> Result<(), Failure> {
        match self.engine.unknown {
            Unknown::Reject => Err(Failure::Rejected(format!(
                "no rule governs `{}`",
                display_path(&self.path)
            ))),
            Unknown::Drop => {
                self.changes.push(Change {
                    path: self.path.clone(),
                    action: "unknown".to_owned(),
                });
                Ok(())
            }
        }
    }

    /// The failure for a value that cannot be written where it goes.
    fn clash(&self, clash: Clash) -> Failure {
        let message = match clash {
            Clash::Occupied(output) => {
                format!("another value is already written at `{}` of the output", display_path(&output))
            }
            Clash::Inside => "this value lies inside a value that a rule replaced whole; a rule below it can only write elsewhere, with `to:`".to_owned(),
        };
        Failure::Transform(Violation {
            path: self.path.clone(),
            message,
        })
    }
}

/// The root pointer `""` is shown as `/`, as [`Failure`]'s `Display` does.
fn display_path(path: &str) -> &str {
    if path.is_empty() { "/" } else { path }
}

/// Where a value is written in the output.
#[derive(Debug, Clone, Copy)]
enum Place<'a> {
    /// The output lead itself.
    Root,
    /// A member of the route object with this node id.
    Member(usize, &'a str),
    /// An element of the route array with this node id.
    Element(usize, usize),
}

/// Why a value cannot be written where it goes.
#[derive(Debug)]
enum Clash {
    /// Something is already written at this output pointer.
    Occupied(String),
    /// The place lies inside a value written whole.
    Inside,
}

/// What an array element that yields nothing becomes.
#[derive(Debug, Clone, Copy)]
enum Empty {
    Object,
    Array,
    Null,
}

impl Empty {
    fn of(value: &Json) -> Empty {
        match value {
            Json::Object(_) => Empty::Object,
            Json::Array(_) => Empty::Array,
            _ => Empty::Null,
        }
    }

    fn text(self) -> &'static str {
        match self {
            Empty::Object => "{}",
            Empty::Array => "[]",
            Empty::Null => "null",
        }
    }

    fn value(self) -> Value {
        match self {
            Empty::Object => Value::Object(Default::default()),
            Empty::Array => Value::Array(Vec::new()),
            Empty::Null => Value::Null,
        }
    }
}

/// A written value.
#[derive(Debug)]
enum OutValue<'a> {
    /// Part of the lead, kept as it is.
    Input(&'a Json<'a>),
    /// The result of an action.
    Produced(Json<'a>),
}

impl OutValue<'_> {
    fn json(&self) -> &Json<'_> {
        match self {
            OutValue::Input(json) => json,
            OutValue::Produced(json) => json,
        }
    }
}

/// Route objects with more members than this find members through an index
/// (only looked up when values may be written elsewhere, with `to:`).
const INDEXED_MEMBERS: usize = 16;

#[derive(Debug)]
enum OutKind<'a> {
    Value(OutValue<'a>),
    Object {
        members: Vec<(&'a str, usize)>,
        index: Option<BTreeMap<&'a str, usize>>,
        kept: bool,
    },
    Array {
        slots: Vec<Option<usize>>,
        empties: Vec<Empty>,
        kept: bool,
    },
}

#[derive(Debug)]
struct OutNode<'a> {
    parent: Option<usize>,
    kind: OutKind<'a>,
}

/// The output being built: written values and the route containers that
/// lead to them. A child's id is always larger than its parent's.
#[derive(Debug, Default)]
struct OutTree<'a> {
    nodes: Vec<OutNode<'a>>,
    root: Option<usize>,
    /// Whether values may be written elsewhere (`to:`). Without that, each
    /// value of the lead is visited once and names in an object are unique,
    /// so no member or element is ever written twice and the tree need not
    /// look.
    relocating: bool,
}

impl<'a> OutTree<'a> {
    /// The node already at `place`, if any.
    fn occupant(&self, place: Place<'a>) -> Option<usize> {
        if !self.relocating && !matches!(place, Place::Root) {
            debug_assert_eq!(self.get(place), None);
            return None;
        }
        self.get(place)
    }

    /// The node at `place`, if any.
    fn get(&self, place: Place<'a>) -> Option<usize> {
        match place {
            Place::Root => self.root,
            Place::Member(parent, name) => match &self.nodes[parent].kind {
                OutKind::Object {
                    index: Some(index), ..
                } => index.get(name).copied(),
                OutKind::Object { members, .. } => {
                    members.iter().find(|(n, _)| *n == name).map(|(_, id)| *id)
                }
                _ => None,
            },
            Place::Element(parent, i) => match &self.nodes[parent].kind {
                OutKind::Array { slots, .. } => slots.get(i).copied().flatten(),
                _ => None,
            },
        }
    }

    /// Adds a node at `place`, which is free.
    fn attach(&mut self, place: Place<'a>, kind: OutKind<'a>) -> usize {
        let id = self.nodes.len();
        let parent = match place {
            Place::Root => {
                self.root = Some(id);
                None
            }
            Place::Member(parent, name) => {
                if let OutKind::Object { members, index, .. } = &mut self.nodes[parent].kind {
                    members.push((name, id));
                    if let Some(index) = index {
                        index.insert(name, id);
                    } else if self.relocating && members.len() > INDEXED_MEMBERS {
                        *index = Some(members.iter().copied().collect());
                    }
                }
                Some(parent)
            }
            Place::Element(parent, i) => {
                if let OutKind::Array { slots, .. } = &mut self.nodes[parent].kind
                    && let Some(slot) = slots.get_mut(i)
                {
                    *slot = Some(id);
                }
                Some(parent)
            }
        };
        self.nodes.push(OutNode { parent, kind });
        id
    }

    /// Writes `value` at `place`.
    fn put(&mut self, place: Option<Place<'a>>, value: OutValue<'a>) -> Result<(), Clash> {
        let place = place.ok_or(Clash::Inside)?;
        if self.occupant(place).is_some() {
            return Err(Clash::Occupied(self.pointer(place)));
        }
        self.attach(place, OutKind::Value(value));
        Ok(())
    }

    /// The route object at `place`, created if the place is free.
    fn route_object(&mut self, place: Place<'a>, kept: bool) -> Result<usize, Clash> {
        match self.occupant(place) {
            None => Ok(self.attach(
                place,
                OutKind::Object {
                    members: Vec::new(),
                    index: None,
                    kept,
                },
            )),
            Some(id) => match &mut self.nodes[id].kind {
                OutKind::Object { kept: was_kept, .. } => {
                    *was_kept |= kept;
                    Ok(id)
                }
                _ => Err(Clash::Occupied(self.pointer(place))),
            },
        }
    }

    /// A new route array at `place`.
    fn route_array(
        &mut self,
        place: Place<'a>,
        empties: Vec<Empty>,
        kept: bool,
    ) -> Result<usize, Clash> {
        if self.occupant(place).is_some() {
            return Err(Clash::Occupied(self.pointer(place)));
        }
        Ok(self.attach(
            place,
            OutKind::Array {
                slots: vec![None; empties.len()],
                empties,
                kept,
            },
        ))
    }

    /// The place a `to:` pointer names, creating route objects on the way.
    fn locate(&mut self, to: &'a [String]) -> Result<Place<'a>, Clash> {
        let mut place = Place::Root;
        for key in to {
            let id = self.route_object(place, false)?;
            place = Place::Member(id, key);
        }
        Ok(place)
    }

    /// The output pointer of `place`, for messages.
    fn pointer(&self, place: Place<'a>) -> String {
        match place {
            Place::Root => String::new(),
            Place::Member(parent, name) => {
                let mut pointer = self.node_pointer(parent);
                path::push_escaped(&mut pointer, name);
                pointer
            }
            Place::Element(parent, i) => format!("{}/{i}", self.node_pointer(parent)),
        }
    }

    fn node_pointer(&self, id: usize) -> String {
        let Some(parent) = self.nodes[id].parent else {
            return String::new();
        };
        let mut pointer = self.node_pointer(parent);
        match &self.nodes[parent].kind {
            OutKind::Object { members, .. } => {
                if let Some((name, _)) = members.iter().find(|(_, c)| *c == id) {
                    path::push_escaped(&mut pointer, name);
                }
            }
            OutKind::Array { slots, .. } => {
                if let Some(i) = slots.iter().position(|s| *s == Some(id)) {
                    pointer.push_str(&format!("/{i}"));
                }
            }
            OutKind::Value(_) => {}
        }
        pointer
    }

    /// Whether each node appears in the output: written values, kept
    /// containers, and routes that hold something that appears.
    fn presence(&self) -> Vec<bool> {
        let mut present: Vec<bool> = self
            .nodes
            .iter()
            .map(|node| match node.kind {
                OutKind::Value(_) => true,
                OutKind::Object { kept, .. } | OutKind::Array { kept, .. } => kept,
            })
            .collect();
        // Children come after their parents.
        for id in (0..self.nodes.len()).rev() {
            if present[id]
                && let Some(parent) = self.nodes[id].parent
            {
                present[parent] = true;
            }
        }
        present
    }

    /// The compact JSON text of the output (`{}` when nothing was written).
    fn to_compact(&self, present: &[bool], capacity: usize) -> String {
        let mut out = String::with_capacity(capacity);
        match self.root {
            Some(root) => self.write(root, present, &mut out),
            None => out.push_str("{}"),
        }
        out
    }

    fn write(&self, id: usize, present: &[bool], out: &mut String) {
        match &self.nodes[id].kind {
            OutKind::Value(value) => value.json().write_compact(out),
            OutKind::Object { members, .. } => {
                out.push('{');
                let mut first = true;
                for (name, child) in members.iter().filter(|(_, c)| present[*c]) {
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    json::write_string(name, out);
                    out.push(':');
                    self.write(*child, present, out);
                }
                out.push('}');
            }
            OutKind::Array { slots, empties, .. } => {
                out.push('[');
                for (i, (slot, empty)) in slots.iter().zip(empties).enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    match slot {
                        Some(child) if present[*child] => self.write(*child, present, out),
                        _ => out.push_str(empty.text()),
                    }
                }
                out.push(']');
            }
        }
    }

    /// The output as a `serde_json::Value`, for the output schema.
    fn to_value(&self, present: &[bool]) -> Value {
        match self.root {
            Some(root) => self.value(root, present),
            None => Value::Object(Default::default()),
        }
    }

    fn value(&self, id: usize, present: &[bool]) -> Value {
        match &self.nodes[id].kind {
            OutKind::Value(value) => value.json().to_value(),
            OutKind::Object { members, .. } => Value::Object(
                members
                    .iter()
                    .filter(|(_, c)| present[*c])
                    .map(|(name, child)| ((*name).to_owned(), self.value(*child, present)))
                    .collect(),
            ),
            OutKind::Array { slots, empties, .. } => Value::Array(
                slots
                    .iter()
                    .zip(empties)
                    .map(|(slot, empty)| match slot {
                        Some(child) if present[*child] => self.value(*child, present),
                        _ => empty.value(),
                    })
                    .collect(),
            ),
        }
    }
}

#[cfg(test)]
mod tests;
