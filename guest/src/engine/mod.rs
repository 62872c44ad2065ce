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
//! violations name paths and rules, never values; in their paths an object
//! key that the policy and its schemas do not name is `*` (see `names.rs`).
//!
//! `load.rs` builds an [`Engine`] from a policy, `walk.rs` walks one lead
//! and `output.rs` holds the output being built; this file holds the loaded
//! engine and the steps of a transform.

mod load;
mod output;
mod walk;

use std::collections::{BTreeMap, HashMap};

use foldhash::fast::FixedState;

use crate::action::PreparedAction;
use crate::condition::Cond;
use crate::coverage::Coverage;
use crate::json::{self, Json};
use crate::names::Names;
use crate::policy::{ActionKind, Unknown};
use crate::schema::Schema;
use crate::{Failure, Outcome, PolicyInfo, Secret};

pub use load::LoadError;

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
    /// The keys that diagnostics show; every other key is `*`.
    names: Names,
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
            Op::Keep => ActionKind::Keep.name(),
            Op::Drop => ActionKind::Drop.name(),
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
            let violations = schema.validate_lead(&lead.to_value(), &self.names);
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
        let (tree, changes) = walk::walk(self, &lead, secrets, coverage)?;
        let present = tree.presence();
        if let Some(schema) = &self.output_schema {
            let violations = schema.validate_lead(&tree.to_value(&present), &self.names);
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

fn with_article(kind: &str) -> String {
    match kind {
        "null" => "null".to_owned(),
        "array" => "an array".to_owned(),
        other => format!("a {other}"),
    }
}

/// The root pointer `""` is shown as `/`, as [`Failure`]'s `Display` does.
fn display_path(path: &str) -> &str {
    if path.is_empty() { "/" } else { path }
}

#[cfg(test)]
mod tests;
