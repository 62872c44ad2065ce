//! Comparing an output with its expectation, and showing the difference.
//!
//! Outputs compare as JSON values: white space and the order of object
//! members do not matter, but a number's text does (`1.50` is not `1.5`,
//! since a kept number must come out exactly as it went in). With
//! `exact: true` the compact texts compare byte for byte.

use similar::{ChangeTag, TextDiff};

use crate::json::Tree;

/// How expected and actual outputs compare.
impl Tree {
    /// Equal as JSON values, member order aside, numbers by their text.
    fn same(&self, other: &Tree) -> bool {
        match (self, other) {
            (Tree::Array(a), Tree::Array(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same(y))
            }
            (Tree::Object(a), Tree::Object(b)) => {
                a.len() == b.len()
                    && a.iter().all(|(name, x)| {
                        b.iter()
                            .find(|(n, _)| n == name)
                            .is_some_and(|(_, y)| x.same(y))
                    })
            }
            (a, b) => a == b,
        }
    }

    /// `self` with object members in the order `like` has them (members
    /// `like` lacks come after), so that a diff shows only real differences.
    fn ordered_like(&self, like: &Tree) -> Tree {
        match (self, like) {
            (Tree::Object(members), Tree::Object(order)) => {
                let mut out: Vec<(String, Tree)> = Vec::with_capacity(members.len());
                for (name, other) in order {
                    if let Some((_, value)) = members.iter().find(|(n, _)| n == name) {
                        out.push((name.clone(), value.ordered_like(other)));
                    }
                }
                for (name, value) in members {
                    if !order.iter().any(|(n, _)| n == name) {
                        out.push((name.clone(), value.clone()));
                    }
                }
                Tree::Object(out)
            }
            (Tree::Array(items), Tree::Array(order)) => Tree::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| match order.get(i) {
                        Some(other) => item.ordered_like(other),
                        None => item.clone(),
                    })
                    .collect(),
            ),
            (tree, _) => tree.clone(),
        }
    }
}

/// Whether `actual` (compact JSON from the policy) meets `expected` (JSON
/// text from the test file). `exact`: the compact texts are equal.
pub(crate) fn output_matches(expected: &str, actual: &str, exact: bool) -> bool {
    match (Tree::parse(expected), Tree::parse(actual)) {
        (Some(e), Some(a)) if exact => e.to_compact() == a.to_compact(),
        (Some(e), Some(a)) => e.same(&a),
        _ => false,
    }
}

/// Pretty-printed JSON text (numbers as written), or the text as it is if
/// it is not JSON.
pub fn pretty(text: &str) -> String {
    match Tree::parse(text) {
        Some(tree) => tree.to_pretty(),
        None => format!("{text}\n"),
    }
}

/// How a line of a diff differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tag {
    /// In both.
    Same,
    /// Expected, but not in the actual output.
    Expected,
    /// In the actual output, but not expected.
    Actual,
    /// Unchanged lines left out.
    Skipped,
}

/// One line of a diff.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Line {
    /// How it differs.
    pub tag: Tag,
    /// The line, without its line break.
    pub text: String,
}

/// Unchanged lines shown around each difference.
const CONTEXT: usize = 3;

/// A line diff of expected against actual, both pretty-printed; in
/// unordered comparisons the actual output's members are shown in the
/// expected order, so only real differences show.
pub fn diff(expected: &str, actual: &str, exact: bool) -> Vec<Line> {
    let (expected, actual) = match (Tree::parse(expected), Tree::parse(actual)) {
        (Some(e), Some(a)) if !exact => {
            let a = a.ordered_like(&e);
            (e.to_pretty(), a.to_pretty())
        }
        _ => (pretty(expected), pretty(actual)),
    };
    lines(&expected, &actual)
}

/// A line diff of two texts.
pub fn lines(expected: &str, actual: &str) -> Vec<Line> {
    let diff = TextDiff::from_lines(expected, actual);
    let skipped = || Line {
        tag: Tag::Skipped,
        text: "...".into(),
    };
    let mut out = Vec::new();
    let groups = diff.grouped_ops(CONTEXT);
    for (i, group) in groups.iter().enumerate() {
        let starts_later = group.first().is_some_and(|op| op.old_range().start > 0);
        if i > 0 || starts_later {
            out.push(skipped());
        }
        for op in group {
            for change in diff.iter_changes(op) {
                let tag = match change.tag() {
                    ChangeTag::Equal => Tag::Same,
                    ChangeTag::Delete => Tag::Expected,
                    ChangeTag::Insert => Tag::Actual,
                };
                out.push(Line {
                    tag,
                    text: change.value().trim_end_matches(['\n', '\r']).to_owned(),
                });
            }
        }
    }
    let ends_early = groups
        .last()
        .and_then(|group| group.last())
        .is_some_and(|op| op.old_range().end < diff.old_slices().len());
    if ends_early {
        out.push(skipped());
    }
    out
}

/// The diff as plain text: `-` expected, `+` actual, two spaces for both.
pub fn plain(lines: &[Line]) -> String {
    let mut out = String::new();
    for line in lines {
        let prefix = match line.tag {
            Tag::Same => "  ",
            Tag::Expected => "- ",
            Tag::Actual => "+ ",
            Tag::Skipped => "  ",
        };
        out.push_str(prefix);
        out.push_str(&line.text);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_order_and_white_space_do_not_matter_but_number_text_does() {
        assert!(output_matches(
            r#"{ "a": 1, "b": [true, null] }"#,
            r#"{"b":[true,null],"a":1}"#,
            false
        ));
        assert!(!output_matches(r#"{"a":1.50}"#, r#"{"a":1.5}"#, false));
        assert!(!output_matches(r#"{"a":[1,2]}"#, r#"{"a":[2,1]}"#, false));
        assert!(!output_matches(r#"{"a":1}"#, r#"{"a":1,"b":2}"#, false));
    }

    #[test]
    fn exact_compares_compact_text() {
        assert!(output_matches(
            "{\n  \"a\": 1,\n  \"b\": 2\n}\n",
            r#"{"a":1,"b":2}"#,
            true
        ));
        assert!(!output_matches(
            r#"{"b":2,"a":1}"#,
            r#"{"a":1,"b":2}"#,
            true
        ));
    }

    #[test]
    fn a_diff_shows_only_what_differs_in_the_expected_order() {
        let lines = diff(
            r#"{"a":1,"b":"x","c":3}"#,
            r#"{"c":3,"b":"y","a":1}"#,
            false,
        );
        let text = plain(&lines);
        assert_eq!(
            text,
            "  {\n    \"a\": 1,\n-   \"b\": \"x\",\n+   \"b\": \"y\",\n    \"c\": 3\n  }\n"
        );
    }

    #[test]
    fn long_unchanged_runs_are_skipped() {
        let members: Vec<String> = (0..20).map(|i| format!("\"k{i:02}\":{i}")).collect();
        let expected = format!("{{{}}}", members.join(","));
        let actual = expected.replace("\"k10\":10", "\"k10\":11");
        let lines = diff(&expected, &actual, false);
        assert!(lines.len() < 12, "{}", plain(&lines));
        assert!(lines.iter().any(|l| l.tag == Tag::Expected));
    }
}
