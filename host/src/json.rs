//! One JSON writer for every front end: `leadfilter run --pretty`, the diffs
//! of `leadfilter test`, and the files `leadfilter init` writes.
//!
//! [`Tree`] is a JSON value as written: object members in their order and
//! numbers as their text, so that nothing is rounded or reordered on the
//! way out. It is read with the engine's strict I-JSON parser.

use leadfilter_engine::json::{self, Json};

/// A JSON value with member order and number text as written.
#[derive(Debug, Clone, PartialEq)]
pub enum Tree {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as its text.
    Number(String),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Tree>),
    /// An object, its members in order.
    Object(Vec<(String, Tree)>),
}

impl Tree {
    /// Parses I-JSON text; `None` when it is not (the reason is left out:
    /// it may quote the text).
    pub fn parse(text: &str) -> Option<Tree> {
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

    /// Appends the value as compact JSON (no white space).
    pub fn write_compact(&self, out: &mut String) {
        self.write(None, out);
    }

    /// Appends the value pretty-printed: two spaces an indent, `": "`
    /// between a name and its value, empty containers as `{}` and `[]`, no
    /// line break at the end.
    pub fn write_pretty(&self, out: &mut String) {
        self.write(Some(0), out);
    }

    /// The value pretty-printed, with a line break at the end.
    pub fn to_pretty(&self) -> String {
        let mut out = String::new();
        self.write_pretty(&mut out);
        out.push('\n');
        out
    }

    /// The value as compact JSON.
    pub fn to_compact(&self) -> String {
        let mut out = String::new();
        self.write_compact(&mut out);
        out
    }

    /// `depth` is the indent of a pretty-printed value, `None` for compact.
    fn write(&self, depth: Option<usize>, out: &mut String) {
        let newline = |out: &mut String, depth: Option<usize>| {
            if let Some(depth) = depth {
                out.push('\n');
                out.extend(std::iter::repeat_n("  ", depth));
            }
        };
        let inner = depth.map(|d| d + 1);
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
                    newline(out, inner);
                    item.write(inner, out);
                }
                newline(out, depth);
                out.push(']');
            }
            Tree::Object(members) => {
                out.push('{');
                for (i, (name, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    newline(out, inner);
                    json::write_string(name, out);
                    out.push_str(if depth.is_some() { ": " } else { ":" });
                    value.write(inner, out);
                }
                newline(out, depth);
                out.push('}');
            }
        }
    }
}

/// JSON text pretty-printed (numbers and member order as written), or
/// `None` if it is not I-JSON.
pub fn pretty(text: &str) -> Option<String> {
    Tree::parse(text).map(|tree| {
        let mut out = String::with_capacity(text.len() * 2);
        tree.write_pretty(&mut out);
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_and_pretty_keep_numbers_and_order() {
        let text = r#"{"b":1e400,"a":[1,{"x":[]},{}],"s":"é\n"}"#;
        let tree = Tree::parse(text).unwrap();
        assert_eq!(tree.to_compact(), text);
        assert_eq!(
            tree.to_pretty(),
            "{\n  \"b\": 1e400,\n  \"a\": [\n    1,\n    {\n      \"x\": []\n    },\n    {}\n  ],\n  \"s\": \"é\\n\"\n}\n"
        );
        assert_eq!(pretty("[]").as_deref(), Some("[]"));
        assert_eq!(pretty("{\"a\":1,\"a\":2}"), None);
    }
}
