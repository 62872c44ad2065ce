//! Strict I-JSON (RFC 7493) reading and exact writing.
//!
//! [`parse`] accepts exactly the RFC 8259 grammar (no trailing commas, no
//! leading zeros, no `NaN`, no comments, no byte order mark, no unescaped
//! control characters in strings) and adds the I-JSON restrictions that
//! matter for a filter: member names are unique within an object, and a
//! `\u` escape never leaves a lone surrogate. Nesting deeper than
//! [`MAX_DEPTH`] is an error, never a stack overflow. The input is a `&str`,
//! so it is UTF-8 already; the host rejects bytes that are not.
//!
//! Numbers keep their exact text and objects keep their input order, so a
//! kept value is written back byte for byte ([`Json::write_compact`]).
//! Names, strings and numbers borrow from the input where they can (a
//! string with no escapes is its own text), so reading a lead allocates
//! little more than its arrays and objects.
//! Strings are written the way `serde_json` writes them: only `"`, `\` and
//! control characters are escaped (`\n`, `\t`, ... in their short forms,
//! the others as `\u00xx`), everything else as UTF-8.
//!
//! A [`JsonError`] says what is wrong and where (line and byte column), and
//! never quotes the input.

use std::borrow::Cow;
use std::collections::HashSet;
use std::hash::BuildHasher;

use foldhash::fast::FixedState;

/// A JSON value that keeps numbers as their exact text and objects in order.
///
/// Text borrows from the input it was read from (`'a`) where it can; a value
/// made by the engine owns its text.
#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as its exact text in the input.
    Number(Cow<'a, str>),
    /// A string.
    String(Cow<'a, str>),
    /// An array.
    Array(Vec<Json<'a>>),
    /// An object, members in input order, names unique.
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

/// Nesting deeper than this is an `invalid-json` failure.
pub const MAX_DEPTH: usize = 128;

/// Objects with more members than this check for duplicate names with a
/// set of name hashes; smaller ones with a 64-bit mask of name fingerprints
/// and, when a fingerprint repeats, a scan.
const LINEAR_DUPLICATE_CHECK: usize = 64;

/// Why text is not I-JSON: where, never what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at line {line} column {column}")]
pub struct JsonError {
    /// What is wrong, without any of the text.
    pub message: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in bytes.
    pub column: usize,
}

/// Parses one JSON text (surrounding white space allowed).
pub fn parse(text: &str) -> Result<Json<'_>, JsonError> {
    let mut parser = Parser {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        items: Vec::new(),
        members: Vec::new(),
    };
    parser.skip_ws();
    let value = parser.value(0)?;
    parser.skip_ws();
    if parser.pos < parser.bytes.len() {
        return Err(parser.error_at(parser.pos, "unexpected text after the JSON value"));
    }
    Ok(value)
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// Elements of the arrays being read, innermost last: each array is
    /// moved out in one exactly sized allocation when it ends.
    items: Vec<Json<'a>>,
    /// Members of the objects being read, the same way.
    members: Vec<(Cow<'a, str>, Json<'a>)>,
}

/// Messages are `&'static str` so that none can hold input text.
type Message = &'static str;

impl<'a> Parser<'a> {
    fn error_at(&self, pos: usize, message: Message) -> JsonError {
        let before = &self.bytes[..pos.min(self.bytes.len())];
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        JsonError {
            message: message.to_owned(),
            line: 1 + before.iter().filter(|&&b| b == b'\n').count(),
            column: 1 + before.len() - line_start,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// What is at `self.pos` when `expected` is not: the end, or a wrong
    /// character.
    fn unexpected(&self, expected: Message) -> JsonError {
        if self.pos >= self.bytes.len() {
            self.error_at(self.pos, "unexpected end of input")
        } else {
            self.error_at(self.pos, expected)
        }
    }

    /// A value starting at `self.pos` (white space already skipped), inside
    /// `depth` containers.
    fn value(&mut self, depth: usize) -> Result<Json<'a>, JsonError> {
        match self.peek() {
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => self.string().map(Json::String),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'n') => self.literal("null", Json::Null),
            _ => Err(self.unexpected("expected a JSON value")),
        }
    }

    fn literal(&mut self, word: &'static str, value: Json<'a>) -> Result<Json<'a>, JsonError> {
        let end = self.pos + word.len();
        if self.bytes.get(self.pos..end) == Some(word.as_bytes()) {
            self.pos = end;
            Ok(value)
        } else {
            Err(self.error_at(self.pos, "expected a JSON value"))
        }
    }

    fn check_depth(&self, depth: usize) -> Result<(), JsonError> {
        if depth > MAX_DEPTH {
            Err(self.error_at(self.pos, "nesting deeper than 128 levels"))
        } else {
            Ok(())
        }
    }

    fn array(&mut self, depth: usize) -> Result<Json<'a>, JsonError> {
        self.check_depth(depth)?;
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Json::Array(Vec::new()));
        }
        let start = self.items.len();
        loop {
            let item = self.value(depth)?;
            self.items.push(item);
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                }
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Json::Array(self.items.split_off(start)));
                }
                _ => return Err(self.unexpected("expected `,` or `]` after an array element")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json<'a>, JsonError> {
        self.check_depth(depth)?;
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Json::Object(Vec::new()));
        }
        let start = self.members.len();
        let mut seen = Seen::default();
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.unexpected("expected a member name in double quotes"));
            }
            let name_pos = self.pos;
            let name = self.string()?;
            if seen.is_duplicate(&self.members[start..], &name) {
                return Err(self.error_at(name_pos, "duplicate member name"));
            }
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.unexpected("expected `:` after a member name"));
            }
            self.pos += 1;
            self.skip_ws();
            let value = self.value(depth)?;
            self.members.push((name, value));
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                }
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Json::Object(self.members.split_off(start)));
                }
                _ => return Err(self.unexpected("expected `,` or `}` after an object member")),
            }
        }
    }

    /// A number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`,
    /// kept as its text.
    fn number(&mut self) -> Result<Json<'a>, JsonError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                if let Some(b'0'..=b'9') = self.peek() {
                    return Err(self.error_at(self.pos, "a number has no leading zeros"));
                }
            }
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.unexpected("expected a digit in a number")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.unexpected("expected a digit after a decimal point"));
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.unexpected("expected a digit in an exponent"));
            }
            self.digits();
        }
        Ok(Json::Number(Cow::Borrowed(&self.text[start..self.pos])))
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    /// A string starting at the opening quote at `self.pos`.
    fn string(&mut self) -> Result<Cow<'a, str>, JsonError> {
        self.pos += 1;
        let start = self.pos;
        let end = plain_run(self.bytes, start);
        match self.bytes.get(end) {
            Some(b'"') => {
                self.pos = end + 1;
                return Ok(Cow::Borrowed(&self.text[start..end]));
            }
            Some(b'\\') => {}
            Some(_) => return Err(self.error_at(end, "unescaped control character in a string")),
            None => return Err(self.error_at(end, "unterminated string")),
        }
        // Escapes: build the string run by run.
        let mut out = String::with_capacity(end - start + 16);
        out.push_str(&self.text[start..end]);
        self.pos = end;
        loop {
            match self.bytes.get(self.pos) {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => self.escape(&mut out)?,
                Some(_) => {
                    return Err(self.error_at(self.pos, "unescaped control character in a string"));
                }
                None => return Err(self.error_at(self.pos, "unterminated string")),
            }
            let run_end = plain_run(self.bytes, self.pos);
            // Runs end at ASCII bytes, so they are whole UTF-8 sequences.
            out.push_str(&self.text[self.pos..run_end]);
            self.pos = run_end;
        }
    }

    /// One escape at `self.pos` (the backslash), appended to `out`.
    fn escape(&mut self, out: &mut String) -> Result<(), JsonError> {
        let at = self.pos;
        let c = match self.bytes.get(at + 1) {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                let unit = self.hex4(at + 2)?;
                self.pos = at + 6;
                let c = match unit {
                    0xD800..=0xDBFF => {
                        let low = if self.bytes.get(self.pos..self.pos + 2) == Some(b"\\u") {
                            self.hex4(self.pos + 2)?
                        } else {
                            0
                        };
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return Err(self.error_at(at, "lone surrogate in string escape"));
                        }
                        self.pos += 6;
                        0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                    }
                    0xDC00..=0xDFFF => {
                        return Err(self.error_at(at, "lone surrogate in string escape"));
                    }
                    unit => unit,
                };
                let c = char::from_u32(c)
                    .ok_or_else(|| self.error_at(at, "lone surrogate in string escape"))?;
                out.push(c);
                return Ok(());
            }
            None => return Err(self.error_at(at + 1, "unterminated string")),
            Some(_) => return Err(self.error_at(at, "invalid escape in a string")),
        };
        out.push(c);
        self.pos = at + 2;
        Ok(())
    }

    /// Four hex digits at `at`.
    fn hex4(&self, at: usize) -> Result<u32, JsonError> {
        let mut unit = 0;
        for i in at..at + 4 {
            let digit = match self.bytes.get(i) {
                Some(&b) => (b as char).to_digit(16),
                None => return Err(self.error_at(i, "unterminated string")),
            };
            match digit {
                Some(d) => unit = unit * 16 + d,
                None => return Err(self.error_at(i, "expected four hex digits after `\\u`")),
            }
        }
        Ok(unit)
    }
}

/// The index of the first byte at or after `from` that is `"`, `\` or a
/// control character (or the end): eight bytes at a time while eight are
/// left.
fn plain_run(bytes: &[u8], from: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // The high bit of each byte of `v` that is zero. Bits above the lowest
    // one may be spurious (borrows), the lowest is always exact.
    let zero_bytes = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    let mut i = from;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let v = u64::from_le_bytes(word);
        // Bytes below 0x20 the same way as zero bytes; bytes of 0x80 and
        // above (UTF-8 beyond ASCII) never count.
        let special = zero_bytes(v ^ (ONES * u64::from(b'"')))
            | zero_bytes(v ^ (ONES * u64::from(b'\\')))
            | (v.wrapping_sub(ONES * 0x20) & !v & HIGHS);
        if special != 0 {
            // Little-endian: the lowest set bit is the first such byte.
            return i + (special.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&b) = bytes.get(i) {
        if b == b'"' || b == b'\\' || b < 0x20 {
            break;
        }
        i += 1;
    }
    i
}

/// The member names of an object read so far, for the duplicate check.
#[derive(Default)]
struct Seen {
    /// Bit `fingerprint(name)` is set for every name read.
    fingerprints: u64,
    /// Hashes of every name, once the object has more than
    /// [`LINEAR_DUPLICATE_CHECK`] members.
    hashes: Option<HashSet<u64, FixedState>>,
}

impl Seen {
    /// Whether `name` is already one of `members`' names; remembers it.
    fn is_duplicate(&mut self, members: &[(Cow<'_, str>, Json<'_>)], name: &str) -> bool {
        if members.len() < LINEAR_DUPLICATE_CHECK {
            let bit = 1u64 << fingerprint(name);
            let maybe = self.fingerprints & bit != 0;
            self.fingerprints |= bit;
            // A new fingerprint is a new name; a repeated one is only a
            // candidate: look.
            return maybe && members.iter().any(|(n, _)| n == name);
        }
        let set = self
            .hashes
            .get_or_insert_with(|| members.iter().map(|(n, _)| hash_name(n)).collect());
        // A repeated hash is only a candidate: confirm it.
        !set.insert(hash_name(name)) && members.iter().any(|(n, _)| n == name)
    }
}

/// A number below 64 that equal names share: from the length and the first
/// and last bytes, which tell most member names apart.
fn fingerprint(name: &str) -> u32 {
    let bytes = name.as_bytes();
    let first = bytes.first().copied().unwrap_or(0);
    let last = bytes.last().copied().unwrap_or(0);
    let mixed = (bytes.len() as u32)
        .wrapping_mul(31)
        .wrapping_add(u32::from(first))
        .wrapping_mul(31)
        .wrapping_add(u32::from(last));
    mixed.wrapping_mul(0x9e37_79b9) >> 26
}

fn hash_name(name: &str) -> u64 {
    FixedState::default().hash_one(name)
}

impl<'a> Json<'a> {
    /// Appends the compact JSON text of `self` to `out`.
    pub fn write_compact(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(true) => out.push_str("true"),
            Json::Bool(false) => out.push_str("false"),
            Json::Number(text) => out.push_str(text),
            Json::String(s) => write_string(s, out),
            Json::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write_compact(out);
                }
                out.push(']');
            }
            Json::Object(members) => {
                out.push('{');
                for (i, (name, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_string(name, out);
                    out.push(':');
                    value.write_compact(out);
                }
                out.push('}');
            }
        }
    }

    /// The compact JSON text.
    pub fn to_compact(&self) -> String {
        let mut out = String::new();
        self.write_compact(&mut out);
        out
    }

    /// The same value as a `serde_json::Value` (for JSON Schema validation).
    ///
    /// A number `serde_json` cannot hold (`1e400`) becomes the nearest `f64`,
    /// and one beyond the `f64` range becomes `±f64::MAX`, so that range
    /// checks still see a huge number.
    pub fn to_value(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(text) => Value::Number(number_value(text)),
            Json::String(s) => Value::String(s.to_string()),
            Json::Array(items) => Value::Array(items.iter().map(Json::to_value).collect()),
            Json::Object(members) => Value::Object(
                members
                    .iter()
                    .map(|(name, value)| (name.to_string(), value.to_value()))
                    .collect(),
            ),
        }
    }

    /// The member `name` of an object.
    pub fn get(&self, name: &str) -> Option<&Json<'a>> {
        match self {
            Json::Object(members) => members.iter().find(|(n, _)| n == name).map(|(_, v)| v),
            _ => None,
        }
    }

    /// What kind of value this is (`object`, `array`, `string`, `number`,
    /// `boolean`, `null`), for messages that must not show the value.
    pub fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "boolean",
            Json::Number(_) => "number",
            Json::String(_) => "string",
            Json::Array(_) => "array",
            Json::Object(_) => "object",
        }
    }
}

/// `serde_json`'s number for `text`, or the nearest finite `f64`.
fn number_value(text: &str) -> serde_json::Number {
    if let Ok(number) = text.parse::<serde_json::Number>() {
        return number;
    }
    let float = text.parse::<f64>().unwrap_or(0.0);
    let float = if float.is_finite() {
        float
    } else {
        f64::MAX.copysign(float)
    };
    serde_json::Number::from_f64(float).unwrap_or_else(|| serde_json::Number::from(0))
}

/// Appends `s` as a JSON string, escaped exactly as `serde_json` does.
pub fn write_string(s: &str, out: &mut String) {
    out.reserve(s.len() + 2);
    out.push('"');
    let bytes = s.as_bytes();
    let mut run_start = 0;
    loop {
        let i = plain_run(bytes, run_start);
        // Runs end at ASCII bytes, so each is whole UTF-8.
        out.push_str(&s[run_start..i]);
        let Some(&b) = bytes.get(i) else {
            break;
        };
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xf)]));
            }
        }
        run_start = i + 1;
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Json<'_> {
        parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    fn err(text: &str) -> JsonError {
        parse(text).expect_err(text)
    }

    #[test]
    fn parses_every_kind_of_value_in_order() {
        let v = ok(r#" {"b": [1, -0.5e+3, true, false, null], "a": {"": "x"}} "#);
        assert_eq!(
            v,
            Json::Object(vec![
                (
                    "b".into(),
                    Json::Array(vec![
                        Json::Number("1".into()),
                        Json::Number("-0.5e+3".into()),
                        Json::Bool(true),
                        Json::Bool(false),
                        Json::Null,
                    ])
                ),
                (
                    "a".into(),
                    Json::Object(vec![("".into(), Json::String("x".into()))])
                ),
            ])
        );
        assert_eq!(
            v.to_compact(),
            r#"{"b":[1,-0.5e+3,true,false,null],"a":{"":"x"}}"#
        );
    }

    #[test]
    fn numbers_keep_their_exact_text() {
        for text in [
            "1e400",
            "-1E-400",
            "12345678901234567890.000000000000000001",
            "0.10",
            "1E2",
            "-0",
            "123456789012345678901234567890",
        ] {
            assert_eq!(ok(text), Json::Number(text.into()));
            assert_eq!(ok(text).to_compact(), text);
        }
    }

    #[test]
    fn bad_numbers_are_rejected() {
        for text in [
            "01", "-", "1.", ".5", "1e", "1e+", "+1", "NaN", "Infinity", "-01", "0x10", "1.e3",
        ] {
            assert!(parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn escapes_and_surrogate_pairs() {
        assert_eq!(
            ok(r#""a\"\\\/\b\f\n\r\t\u0041\u00e9\ud834\udd1e""#),
            Json::String("a\"\\/\u{8}\u{c}\n\r\tAé𝄞".into())
        );
        assert_eq!(
            err(r#""\ud800""#).message,
            "lone surrogate in string escape"
        );
        assert_eq!(
            err(r#""\udc00""#).message,
            "lone surrogate in string escape"
        );
        assert_eq!(
            err(r#""\ud800\u0041""#).message,
            "lone surrogate in string escape"
        );
        assert_eq!(
            err(r#""\ud800\n""#).message,
            "lone surrogate in string escape"
        );
        assert!(parse(r#""\x""#).is_err());
        assert!(parse(r#""\u12""#).is_err());
        assert!(parse(r#""\u12G4""#).is_err());
        assert!(parse("\"a\u{1}\"").is_err());
        assert!(parse("\"tab\there\"").is_err());
    }

    #[test]
    fn long_strings_are_scanned_in_chunks() {
        let plain = "abcdefghijklmnopqrstuvwxyzäöü€".repeat(20);
        assert_eq!(
            ok(&format!("\"{plain}\"")),
            Json::String(plain.clone().into())
        );
        let escaped = format!("\"{plain}\\n{plain}\"");
        assert_eq!(
            ok(&escaped),
            Json::String(format!("{plain}\n{plain}").into())
        );
        let control = format!("\"{plain}\u{1f}{plain}\"");
        let e = err(&control);
        assert_eq!(e.message, "unescaped control character in a string");
        assert_eq!(e.column, 2 + plain.len());
    }

    #[test]
    fn duplicate_names_are_rejected_in_small_and_large_objects() {
        let e = err(r#"{"a": 1, "b": 2, "a": 3}"#);
        assert_eq!(
            (e.message.as_str(), e.line, e.column),
            ("duplicate member name", 1, 18)
        );
        // An escaped spelling is the same name.
        assert!(parse(r#"{"a": 1, "\u0061": 2}"#).is_err());
        let mut large: Vec<String> = (0..100).map(|i| format!("\"k{i}\": {i}")).collect();
        assert!(parse(&format!("{{{}}}", large.join(","))).is_ok());
        large.push("\"k42\": 0".into());
        assert_eq!(
            err(&format!("{{{}}}", large.join(","))).message,
            "duplicate member name"
        );
        // The same name in different objects is fine.
        assert!(parse(r#"{"a": {"a": 1}, "b": {"a": 2}}"#).is_ok());
        // Names that share length, first and last byte (one fingerprint),
        // in objects of every size around the switch to hashing: distinct
        // names pass, each repeated name fails.
        for n in [1, 2, 17, 63, 64, 65, 130] {
            let names: Vec<String> = (0..n).map(|i| format!("k{i:03}z")).collect();
            let members: Vec<String> = names.iter().map(|k| format!("\"{k}\": 0")).collect();
            assert!(parse(&format!("{{{}}}", members.join(","))).is_ok(), "{n}");
            for again in [0, n / 2, n - 1] {
                let mut repeated = members.clone();
                repeated.push(format!("\"{}\": 1", names[again]));
                let e = err(&format!("{{{}}}", repeated.join(",")));
                assert_eq!(e.message, "duplicate member name", "{n} {again}");
            }
        }
    }

    #[test]
    fn nesting_is_limited_without_overflowing_the_stack() {
        let ok_depth = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(&ok_depth).is_ok());
        let too_deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(err(&too_deep).message, "nesting deeper than 128 levels");
        assert_eq!(
            err(&"[".repeat(100_000)).message,
            "nesting deeper than 128 levels"
        );
        assert_eq!(
            err(&"{\"a\":".repeat(100_000)).message,
            "nesting deeper than 128 levels"
        );
    }

    #[test]
    fn grammar_is_strict() {
        for text in [
            "",
            " ",
            "[1,]",
            "{\"a\":1,}",
            "[1 2]",
            "{\"a\" 1}",
            "{a:1}",
            "{'a':1}",
            "tru",
            "nul",
            "[1]]",
            "[1] x",
            "\u{feff}{}",
            "/* c */ {}",
            "{\"a\":1}{}",
            "[\u{c}]",
            "\"abc",
        ] {
            assert!(parse(text).is_err(), "{text:?}");
        }
        assert_eq!(ok(" \t\r\n[ ] \n"), Json::Array(vec![]));
    }

    #[test]
    fn errors_say_where_and_never_quote_the_input() {
        let e = err("{\n  \"SECRET_MARKER\": 1,\n  \"x\": SECRET\n}");
        assert_eq!((e.line, e.column), (3, 8));
        assert!(!e.to_string().contains("SECRET"), "{e}");
        assert_eq!(e.to_string(), "expected a JSON value at line 3 column 8");
        let e = err("[\"SECRET_MARKER");
        assert_eq!(e.message, "unterminated string");
        assert!(!e.to_string().contains("SECRET"));
        assert_eq!(err("[1,").message, "unexpected end of input");
    }

    #[test]
    fn plain_runs_end_at_the_first_special_byte() {
        let naive = |bytes: &[u8], from: usize| {
            (from..bytes.len())
                .find(|&i| matches!(bytes[i], b'"' | b'\\' | 0..=0x1f))
                .unwrap_or(bytes.len())
        };
        // Every special byte at every position of a run of plain text, ASCII
        // and beyond (0x7f and bytes of UTF-8 sequences are plain).
        let plain: Vec<u8> = "a~ \u{7f}é€😀".bytes().cycle().take(40).collect();
        for special in [b'"', b'\\', 0x00, 0x0a, 0x1f] {
            for at in 0..plain.len() {
                let mut bytes = plain.clone();
                bytes[at] = special;
                for from in 0..=at.min(9) {
                    assert_eq!(
                        plain_run(&bytes, from),
                        naive(&bytes, from),
                        "{special} {at} {from}"
                    );
                }
            }
        }
        assert_eq!(plain_run(&plain, 0), plain.len());
        assert_eq!(plain_run(b"", 0), 0);
    }

    #[test]
    fn strings_are_written_as_serde_json_writes_them() {
        let mut all: String = (0u32..0x80).filter_map(char::from_u32).collect();
        all.push_str("é€𝄞\u{2028}\u{7f}\u{ffff}");
        for s in [all.as_str(), "", "plain", "\"\\", "a\u{0}b"] {
            let mut ours = String::new();
            write_string(s, &mut ours);
            assert_eq!(ours, serde_json::to_string(s).unwrap());
            assert_eq!(ok(&ours), Json::String(s.into()));
        }
    }

    #[test]
    fn converts_to_serde_json_values() {
        let v = ok(
            r#"{"z": [1, 2.5, "s", null, true], "a": 1e400, "b": -1e400, "c": 1e-400, "d": 18446744073709551616}"#,
        );
        let value = v.to_value();
        assert_eq!(value["z"], serde_json::json!([1, 2.5, "s", null, true]));
        assert_eq!(value["a"].as_f64(), Some(f64::MAX));
        assert_eq!(value["b"].as_f64(), Some(-f64::MAX));
        assert_eq!(value["c"].as_f64(), Some(0.0));
        assert_eq!(value["d"].as_f64(), Some(18446744073709551616.0));
    }

    #[test]
    fn lines_and_columns_count_bytes() {
        let e = err("{\"é\": x}");
        assert_eq!((e.line, e.column), (1, 8));
        let e = err("[\r\n1,\n\n]");
        assert_eq!((e.line, e.column), (4, 1));
    }
}
