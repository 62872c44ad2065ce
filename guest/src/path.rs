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
            return Err("this path is a plain JSON Pointer: no `*` and no `[..=..]` selectors".into());
        }
        Ok(pattern)
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
        assert!(Pattern::parse("email").unwrap_err().contains("starts with `/`"));
        assert!(Pattern::parse("/a/[name]").unwrap_err().contains("no `=`"));
        assert!(Pattern::parse("/a/[name=x").unwrap_err().contains("not closed"));
        assert!(Pattern::parse("/a/[=x]").unwrap_err().contains("names the member"));
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
    fn escaping_round_trips() {
        let mut s = String::new();
        push_escaped(&mut s, "a/b~c");
        assert_eq!(s, "/a~1b~0c");
        assert_eq!(unescape("a~1b~0c").unwrap(), "a/b~c");
    }
}
