//! Which parts of a policy some leads exercised: the tracing hook behind
//! `leadfilter test --coverage`.
//!
//! [`Engine::transform_traced`](crate::Engine::transform_traced) runs the
//! same code as [`Engine::transform`](crate::Engine::transform) (and as the
//! component, which is this engine built for Wasm) and records into a
//! [`Coverage`]:
//!
//! - every alternative that governed a value, as its rule's pattern (the key
//!   under `fields:`, exactly as the policy writes it) and its position in
//!   the rule's list (0 for a rule with one action);
//! - every `require` entry that rejected a lead, by its position in the
//!   list. A requirement that holds for every lead has never been seen to
//!   do its job, so only a rejection counts.
//!
//! A coverage record holds pattern texts and positions, never a lead value.

use std::collections::{BTreeMap, BTreeSet};

/// The alternatives and `require` entries that leads exercised. Merge the
/// records of several leads with [`Coverage::merge`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Pattern to the positions of its alternatives that governed a value.
    alternatives: BTreeMap<String, BTreeSet<usize>>,
    rejections: BTreeSet<usize>,
}

impl Coverage {
    /// An empty record.
    pub fn new() -> Coverage {
        Coverage::default()
    }

    /// Whether alternative `index` of the rule on `pattern` governed a value.
    pub fn alternative(&self, pattern: &str, index: usize) -> bool {
        self.alternatives
            .get(pattern)
            .is_some_and(|used| used.contains(&index))
    }

    /// Whether `require` entry `index` rejected a lead.
    pub fn rejected_by(&self, index: usize) -> bool {
        self.rejections.contains(&index)
    }

    /// The alternatives that governed a value: pattern and position, sorted.
    pub fn alternatives(&self) -> impl Iterator<Item = (&str, usize)> {
        self.alternatives
            .iter()
            .flat_map(|(p, used)| used.iter().map(move |i| (p.as_str(), *i)))
    }

    /// The `require` entries that rejected a lead, by position, sorted.
    pub fn rejections(&self) -> impl Iterator<Item = usize> + '_ {
        self.rejections.iter().copied()
    }

    /// Adds what `other` recorded.
    pub fn merge(&mut self, other: &Coverage) {
        for (pattern, used) in &other.alternatives {
            self.alternatives
                .entry(pattern.clone())
                .or_default()
                .extend(used.iter().copied());
        }
        self.rejections.extend(other.rejections.iter().copied());
    }

    /// Nothing recorded.
    pub fn is_empty(&self) -> bool {
        self.alternatives.is_empty() && self.rejections.is_empty()
    }

    pub(crate) fn record_alternative(&mut self, pattern: &str, index: usize) {
        match self.alternatives.get_mut(pattern) {
            Some(used) => {
                used.insert(index);
            }
            None => {
                self.alternatives
                    .insert(pattern.to_owned(), BTreeSet::from([index]));
            }
        }
    }

    pub(crate) fn record_rejection(&mut self, index: usize) {
        self.rejections.insert(index);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{Engine, Secret};

    fn engine() -> Engine {
        let policy = json!({
            "apiVersion": "leadfilter/v1", "name": "t", "version": "1",
            "secrets": ["pepper"],
            "require": [
                {"path": "/consent", "equals": true, "reason": "no consent"},
                {"path": "/age", "exists": true, "reason": "no age"}
            ],
            "fields": {
                "/email": [
                    {"when": {"path": "/country", "equals": "DE"}, "hash": {"key": "pepper"}},
                    {"domain": {}}
                ],
                "/age": {"bucket": {"width": 10}},
                "/items/*/sku": "keep",
                "/items/0/sku": "drop",
                "/notes": "drop"
            }
        });
        Engine::new(serde_json::from_value(policy).unwrap()).unwrap()
    }

    fn secrets() -> Vec<Secret> {
        vec![Secret {
            name: "pepper".into(),
            value: b"k".to_vec(),
        }]
    }

    fn traced(engine: &Engine, lead: &str) -> Coverage {
        let mut coverage = Coverage::new();
        let traced = engine.transform_traced(lead, &secrets(), &mut coverage);
        assert_eq!(traced, engine.transform(lead, &secrets()));
        coverage
    }

    #[test]
    fn governing_alternatives_are_recorded_by_pattern_and_position() {
        let e = engine();
        let c = traced(
            &e,
            r#"{"consent":true,"age":41,"email":"a@b.example","items":[{"sku":"x"},{"sku":"y"}]}"#,
        );
        let used: Vec<(&str, usize)> = c.alternatives().collect();
        assert_eq!(
            used,
            [
                ("/age", 0),
                ("/email", 1),
                ("/items/*/sku", 0),
                ("/items/0/sku", 0)
            ]
        );
        assert!(c.alternative("/email", 1));
        assert!(!c.alternative("/email", 0));
        assert!(!c.alternative("/notes", 0));
        assert_eq!(c.rejections().count(), 0);

        let mut all = c;
        all.merge(&traced(
            &e,
            r#"{"consent":true,"age":1,"country":"DE","email":"a@b.example","notes":"n"}"#,
        ));
        assert!(all.alternative("/email", 0));
        assert!(all.alternative("/email", 1));
        assert!(all.alternative("/notes", 0));
    }

    #[test]
    fn only_the_requirement_that_rejects_is_recorded() {
        let e = engine();
        let c = traced(&e, r#"{"consent":true,"email":"a@b.example"}"#);
        assert_eq!(c.rejections().collect::<Vec<_>>(), [1]);
        assert!(c.rejected_by(1));
        assert!(!c.rejected_by(0));
        // Nothing was walked.
        assert_eq!(c.alternatives().count(), 0);
        let c = traced(&e, r#"{"consent":false}"#);
        assert_eq!(c.rejections().collect::<Vec<_>>(), [0]);
    }

    #[test]
    fn failures_before_the_walk_record_nothing() {
        let e = engine();
        assert!(traced(&e, "{").is_empty());
        let mut c = Coverage::new();
        let failure = e.transform_traced("{}", &[], &mut c);
        assert!(matches!(failure, Err(crate::Failure::MissingSecret(_))));
        assert!(c.is_empty());
    }

    #[test]
    fn a_record_holds_no_lead_value() {
        let e = engine();
        let c = traced(
            &e,
            r#"{"consent":true,"age":41,"email":"secret-mail@leak.example","notes":"leak-note"}"#,
        );
        let text = format!("{c:?}");
        for value in ["secret-mail", "leak", "41"] {
            assert!(!text.contains(value), "{text}");
        }
    }
}
