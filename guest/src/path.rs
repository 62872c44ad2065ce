//! Path patterns: JSON Pointers (RFC 6901) in which a segment `*` matches any
//! one object key or array index, and a segment `[POINTER=TEXT]` matches the
//! elements of an array that are objects whose member at the relative
//! pointer POINTER is the string TEXT.
//!
//! A selector is one segment even though its pointer may hold `/`:
//! `/form_response/answers/[field/ref=phone]/phone_number` has four segments.
//! Its TEXT runs to the `]` that ends the segment (the `]` followed by `/` or
//! the end of the pattern), so TEXT may itself hold `/`, `=` or `]`.

use std::cmp::Ordering;
use std::fmt;

use crate::json::Json;

/// One segment of a pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// A named object key, or an array index when it is a decimal number.
    Key(String),
    /// `[POINTER=TEXT]`.
    Selector {
        /// The relative pointer's segments, unescaped.
        pointer: Vec<String>,
        /// The string the member must equal.
        text: String,
    },
    /// `*`: any one key or index.
    Star,
}

impl Segment {
    /// How specific the segment is: a named key beats a selector, which
    /// beats `*`.
    pub fn rank(&self) -> u8 {
        match self {
            Segment::Key(_) => 2,
            Segment::Selector { .. } => 1,
            Segment::Star => 0,
        }
    }

    /// The array index a key names, if it is one: RFC 6901 digits without
    /// leading zeros.
    pub fn index(&self) -> Option<usize> {
        match self {
            Segment::Key(key) => array_index(key),
            _ => None,
        }
    }

    /// Whether the segment matches the object member named `name`: a key of
    /// that name, or `*`. A selector never matches an object member.
    pub fn matches_member(&self, name: &str) -> bool {
        match self {
            Segment::Key(key) => key == name,
            Segment::Selector { .. } => false,
            Segment::Star => true,
        }
    }

    /// Whether the segment matches `element`, at `index` of an array: a key
    /// that is that index, a selector the element meets, or `*`.
    pub fn matches_element(&self, index: usize, element: &Json) -> bool {
        match self {
            Segment::Key(key) => array_index(key) == Some(index),
            Segment::Selector { pointer, text } => selects(pointer, text, element),
            Segment::Star => true,
        }
    }
}

/// Whether `element` is an object whose member at the relative `pointer` is
/// the string `text` (the test of a `[POINTER=TEXT]` selector). The pointer
/// follows object members and array indices.
pub fn selects(pointer: &[String], text: &str, element: &Json) -> bool {
    if !matches!(element, Json::Object(_)) {
        return false;
    }
    let mut current = element;
    for key in pointer {
        current = match current {
            Json::Object(_) => match current.get(key) {
                Some(value) => value,
                None => return false,
            },
            Json::Array(items) => match array_index(key).and_then(|i| items.get(i)) {
                Some(value) => value,
                None => return false,
            },
            _ => return false,
        };
    }
    matches!(current, Json::String(s) if s == text)
}

/// A parsed path pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pattern {
    /// The text as written in the policy.
    pub text: String,
    /// The segments; empty for the whole lead (`""`).
    pub segments: Vec<Segment>,
}

impl Pattern {
    /// Parses a pattern. The error says what is wrong, for the policy author.
    pub fn parse(text: &str) -> Result<Pattern, String> {
        let mut segments = Vec::new();
        let mut rest = match text {
            "" => {
                return Ok(Pattern {
                    text: String::new(),
                    segments,
                });
            }
            _ => text
                .strip_prefix('/')
                .ok_or("a path starts with `/` (a JSON Pointer)")?,
        };
        loop {
            let (segment, tail) = if rest.starts_with('[') {
                parse_selector(rest)?
            } else {
                let end = rest.find('/').unwrap_or(rest.len());
                let raw = &rest[..end];
                let segment = if raw == "*" {
                    Segment::Star
                } else {
                    Segment::Key(unescape(raw)?)
                };
                (segment, &rest[end..])
            };
            segments.push(segment);
            match tail.strip_prefix('/') {
                Some(next) => rest = next,
                None => break,
            }
        }
        Ok(Pattern {
            text: text.to_owned(),
            segments,
        })
    }

    /// Parses a plain JSON Pointer: no `*`, no selectors (for `to:`).
    pub fn parse_pointer(text: &str) -> Result<Pattern, String> {
        let pattern = Pattern::parse(text)?;
        if pattern
            .segments
            .iter()
            .any(|s| !matches!(s, Segment::Key(_)))
        {
            return Err(
                "this path is a plain JSON Pointer: no `*` and no `[..=..]` selectors".into(),
            );
        }
        Ok(pattern)
    }

    /// The value the pattern names in `root`, following the first match
    /// where a selector or `*` could match several (conditions use this).
    pub fn resolve<'a, 'j>(&self, root: &'a Json<'j>) -> Option<&'a Json<'j>> {
        let mut current = root;
        for segment in &self.segments {
            current = match current {
                Json::Object(members) => members
                    .iter()
                    .find(|(name, _)| segment.matches_member(name))
                    .map(|(_, value)| value)?,
                Json::Array(items) => items
                    .iter()
                    .enumerate()
                    .find(|(i, item)| segment.matches_element(*i, item))
                    .map(|(_, item)| item)?,
                _ => return None,
            };
        }
        Some(current)
    }

    /// Whether any segment is `*` or a selector.
    pub fn has_wildcards(&self) -> bool {
        self.segments.iter().any(|s| !matches!(s, Segment::Key(_)))
    }

    /// Compares the specificity of two patterns that match the same value:
    /// at the first segment where they differ in kind, the more specific kind
    /// wins; a longer pattern beats its own prefix. `Greater` means `self` is
    /// more specific. Equal-rank ties fall back to the pattern text, so the
    /// order is total and does not depend on the order of rules in a file.
    pub fn specificity_cmp(&self, other: &Pattern) -> Ordering {
        for (a, b) in self.segments.iter().zip(&other.segments) {
            match a.rank().cmp(&b.rank()) {
                Ordering::Equal => {}
                unequal => return unequal,
            }
        }
        self.segments
            .len()
            .cmp(&other.segments.len())
            .then_with(|| other.text.cmp(&self.text))
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Reads `[POINTER=TEXT]` at the start of `rest`; returns the segment and
/// what follows its closing `]`.
fn parse_selector(rest: &str) -> Result<(Segment, &str), String> {
    let inner_start = 1;
    let eq = rest
        .find('=')
        .ok_or("a selector is written `[POINTER=TEXT]`, and this one has no `=`")?;
    // The closing bracket is the first `]` after `=` that ends the segment.
    let close = rest[eq..]
        .match_indices(']')
        .map(|(i, _)| eq + i)
        .find(|&i| matches!(rest.as_bytes().get(i + 1), None | Some(b'/')))
        .ok_or("a selector `[POINTER=TEXT]` is not closed by `]` at the end of its segment")?;
    let pointer_text = &rest[inner_start..eq];
    let pointer_text = pointer_text.strip_prefix('/').unwrap_or(pointer_text);
    if pointer_text.is_empty() {
        return Err("a selector names the member it tests: `[name=email]`".into());
    }
    let pointer = pointer_text
        .split('/')
        .map(unescape)
        .collect::<Result<Vec<_>, _>>()?;
    let text = rest[eq + 1..close].to_owned();
    Ok((Segment::Selector { pointer, text }, &rest[close + 1..]))
}

/// Undoes RFC 6901 escaping: `~1` is `/`, `~0` is `~`.
pub fn unescape(raw: &str) -> Result<String, String> {
    if !raw.contains('~') {
        return Ok(raw.to_owned());
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some('0') => out.push('~'),
                Some('1') => out.push('/'),
                _ => return Err("`~` in a path is written `~0`, and `/` in a key `~1`".into()),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// Appends `/` and the RFC 6901 escape of `key` to a pointer.
pub fn push_escaped(pointer: &mut String, key: &str) {
    pointer.push('/');
    if !key.bytes().any(|b| b == b'~' || b == b'/') {
        pointer.push_str(key);
        return;
    }
    for c in key.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
}

/// The array index a key names: decimal digits without leading zeros.
pub fn array_index(key: &str) -> Option<usize> {
    if key.is_empty() || (key.len() > 1 && key.starts_with('0')) {
        return None;
    }
    if !key.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    key.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> Segment {
        Segment::Key(k.to_owned())
    }

    #[test]
    fn parses_keys_stars_and_escapes() {
        let p = Pattern::parse("/a~1b/*/c~0d/0").unwrap();
        assert_eq!(
            p.segments,
            vec![key("a/b"), Segment::Star, key("c~d"), key("0")]
        );
        assert_eq!(p.segments[3].index(), Some(0));
        assert_eq!(key("01").index(), None);
        assert!(Pattern::parse("").unwrap().segments.is_empty());
        assert_eq!(Pattern::parse("/").unwrap().segments, vec![key("")]);
    }

    #[test]
    fn a_selector_is_one_segment_even_with_slashes() {
        let p = Pattern::parse("/form_response/answers/[field/ref=phone]/phone_number").unwrap();
        assert_eq!(p.segments.len(), 4);
        assert_eq!(
            p.segments[2],
            Segment::Selector {
                pointer: vec!["field".into(), "ref".into()],
                text: "phone".into()
            }
        );
        let p = Pattern::parse("/field_data/[name=a/b]]/values/*").unwrap();
        assert_eq!(
            p.segments[1],
            Segment::Selector {
                pointer: vec!["name".into()],
                text: "a/b]".into()
            }
        );
    }

    #[test]
    fn bad_patterns_say_what_is_wrong() {
        assert!(
            Pattern::parse("email")
                .unwrap_err()
                .contains("starts with `/`")
        );
        assert!(Pattern::parse("/a/[name]").unwrap_err().contains("no `=`"));
        assert!(
            Pattern::parse("/a/[name=x")
                .unwrap_err()
                .contains("not closed")
        );
        assert!(
            Pattern::parse("/a/[=x]")
                .unwrap_err()
                .contains("names the member")
        );
        assert!(Pattern::parse("/a~2").unwrap_err().contains("~0"));
        assert!(Pattern::parse_pointer("/a/*").is_err());
    }

    #[test]
    fn specificity_key_beats_selector_beats_star_then_length() {
        let p = |t| Pattern::parse(t).unwrap();
        assert_eq!(p("/a/b").specificity_cmp(&p("/a/*")), Ordering::Greater);
        assert_eq!(p("/a/[n=x]").specificity_cmp(&p("/a/*")), Ordering::Greater);
        assert_eq!(p("/a/0").specificity_cmp(&p("/a/[n=x]")), Ordering::Greater);
        assert_eq!(p("/*/b").specificity_cmp(&p("/a/*")), Ordering::Less);
        assert_eq!(p("/a/b").specificity_cmp(&p("/a")), Ordering::Greater);
    }

    #[test]
    fn segments_match_members_and_elements() {
        let element =
            crate::json::parse(r#"{"name": "email", "field": {"ref": "phone"}, "n": 1}"#).unwrap();
        let selector = |t: &str| Pattern::parse(t).unwrap().segments.remove(0);
        assert!(key("a").matches_member("a"));
        assert!(!key("a").matches_member("b"));
        assert!(Segment::Star.matches_member("anything"));
        assert!(!selector("/[name=email]").matches_member("name"));
        assert!(key("2").matches_element(2, &Json::Null));
        assert!(!key("02").matches_element(2, &Json::Null));
        assert!(Segment::Star.matches_element(7, &Json::Null));
        assert!(selector("/[name=email]").matches_element(0, &element));
        assert!(selector("/[field/ref=phone]").matches_element(0, &element));
        assert!(!selector("/[name=phone]").matches_element(0, &element));
        // Only strings match: the number 1 is not the text "1".
        assert!(!selector("/[n=1]").matches_element(0, &element));
        assert!(!selector("/[missing=x]").matches_element(0, &element));
        assert!(!selector("/[name=email]").matches_element(0, &Json::String("email".into())));
    }

    #[test]
    fn resolve_follows_keys_indices_and_first_selector_match() {
        let lead = crate::json::parse(
            r#"{"a": {"0": "member"}, "l": ["x", "y"], "f": [{"name": "e", "v": 1}, {"name": "e", "v": 2}]}"#,
        )
        .unwrap();
        let at = |t: &str| {
            Pattern::parse(t)
                .unwrap()
                .resolve(&lead)
                .map(Json::to_compact)
        };
        assert_eq!(at("/a/0").as_deref(), Some(r#""member""#));
        assert_eq!(at("/l/1").as_deref(), Some(r#""y""#));
        assert_eq!(at("/l/2"), None);
        assert_eq!(at("/f/[name=e]/v").as_deref(), Some("1"));
        assert_eq!(at("/f/[name=x]/v"), None);
        assert_eq!(at("/a/0/deeper"), None);
        assert_eq!(at("").as_deref(), Some(lead.to_compact().as_str()));
    }

    #[test]
    fn escaping_round_trips() {
        let mut s = String::new();
        push_escaped(&mut s, "a/b~c");
        assert_eq!(s, "/a~1b~0c");
        assert_eq!(unescape("a~1b~0c").unwrap(), "a/b~c");
    }
}
