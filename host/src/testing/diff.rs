//! Comparing an output with its expectation, and showing the difference.
//!
//! Outputs compare as JSON values: white space and the order of object
//! members do not matter, but a number's text does (`1.50` is not `1.5`,
//! since a kept number must come out exactly as it went in). With
//! `exact: true` the compact texts compare byte for byte.

use leadfilter_engine::json::{self, Json};
use similar::{ChangeTag, TextDiff};

/// A JSON value with member order and number text as written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tree {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Array(Vec<Tree>),
    Object(Vec<(String, Tree)>),
}

impl Tree {
    pub(crate) fn parse(text: &str) -> Option<Tree> {
        json::parse(text).ok().map(|json| Tree::from_json(&json))
    }

    fn from_json(json: &Json) -> Tree {
        match json {
            Json::Null => Tree::Null,
            Json::Bool(b) => Tree::Bool(*b),
            Json::Number(text) => Tree::Number(text.to_string()),
            Json::String(s) => Tree::String(s.to_string()),
            Json::Array(items) => Tree::Array(items.iter().map(Tree::from_json).collect()),
            Json::Object(members) => Tree::Object(
                members
                    .iter()
                    .map(|(name, value)| (name.to_string(), Tree::from_json(value)))
                    .collect(),
            ),
        }
    }

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

    fn pretty(&self, depth: usize, out: &mut String) {
        let indent = |out: &mut String, depth: usize| {
            out.push('\n');
            out.extend(std::iter::repeat_n("  ", depth));
        };
        match self {
            Tree::Null => out.push_str("null"),
            Tree::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Tree::Number(text) => out.push_str(text),
            Tree::String(s) => json::write_string(s, out),
            Tree::Array(items) if items.is_empty() => out.push_str("[]"),
            Tree::Object(members) if members.is_empty() => out.push_str("{}"),
            Tree::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    indent(out, depth + 1);
                    item.pretty(depth + 1, out);
                }
                indent(out, depth);
                out.push(']');
            }
            Tree::Object(members) => {
                out.push('{');
                for (i, (name, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    indent(out, depth + 1);
                    json::write_string(name, out);
                    out.push_str(": ");
                    value.pretty(depth + 1, out);
                }
                indent(out, depth);
                out.push('}');
            }
        }
    }

    pub(crate) fn to_pretty(&self) -> String {
        let mut out = String::new();
        self.pretty(0, &mut out);
        out.push('\n');
        out
    }

    fn to_compact(&self) -> String {
        let mut out = String::new();
        self.compact(&mut out);
        out
    }

    fn compact(&self, out: &mut String) {
        match self {
            Tree::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.compact(out);
                }
                out.push(']');
            }
            Tree::Object(members) => {
                out.push('{');
                for (i, (name, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    json::write_string(name, out);
                    out.push(':');
                    value.compact(out);
                }
                out.push('}');
            }
            scalar => scalar.pretty(0, out),
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
