//! What the value-writing actions make of one value.
//!
//! "Characters" are Unicode scalar values. A string is transformed as it is;
//! a number or boolean is first written as its JSON text (a number keeps its
//! exact text, so `1.50` is masked as the four characters `1.50`). `redact`
//! replaces objects and arrays with its string; every other value-writing
//! action fails on them. `null` stays `null`. Every result is a string.
//!
//! Decisions beyond the table in the specification:
//!
//! - `date` reads an RFC 3339 `full-date` (`1987-06-15`) or `date-time`
//!   (`1987-06-15T10:20:30.5+02:00`; `T`, `t` or a space between date and
//!   time; `Z`, `z` or `±HH:MM` required; second `60` allowed for leap
//!   seconds), with month and day ranges checked (leap years included). A
//!   date-time without an offset, surrounding white space or any other form
//!   fails.
//! - `bucket` takes JSON numbers in any form (`37`, `-5`, `37.9`, `3.7e1`)
//!   and strings whose whole text is a JSON number (`"37"`, as forms send
//!   numbers); floor division is exact, in 128-bit integers: a number whose
//!   integer part or bucket bounds leave ±1.7·10^38 fails. A string with
//!   white space around the number, any other string and booleans fail.
//! - `hash` with both `key` and `unkeyed: true`, or with neither, fails.
//! - `mask` uses `char` as written (it is one character in a checked policy).
//! - `domain` keeps the domain exactly as written after the last `@`,
//!   lowercased, white space included; an empty domain fails.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::Secret;
use crate::json::Json;
use crate::policy::{Action, Encoding, Hash, Mask, Normalize, Precision};
use crate::scrub::Scrubber;

/// An action ready to apply: built once per rule when the policy loads.
#[derive(Debug)]
pub(crate) struct PreparedAction {
    action: Action,
    /// The detectors of a `scrub`; empty (and never used) for other actions.
    scrubber: Scrubber,
}

impl PreparedAction {
    /// Prepares `action`, compiling what it needs once.
    pub(crate) fn new(action: &Action) -> PreparedAction {
        let detectors = match action {
            Action::Scrub(scrub) => scrub.detectors.as_slice(),
            _ => &[],
        };
        PreparedAction {
            scrubber: Scrubber::new(detectors),
            action: action.clone(),
        }
    }

    /// The action as the policy states it.
    pub(crate) fn action(&self) -> &Action {
        &self.action
    }

    /// Applies a value-writing action other than keep/drop to a non-null
    /// value (`keep` gives the value back, `null` stays `null`).
    ///
    /// `secrets` holds the secrets handed in (the engine has already checked
    /// every declared one is present). `Err(message)` when the action cannot
    /// apply; the message says why without the value.
    pub(crate) fn apply<'j>(
        &self,
        value: &Json<'j>,
        secrets: &[Secret],
    ) -> Result<Json<'j>, String> {
        let name = self.action.name();
        let text = match value {
            Json::Null => return Ok(Json::Null),
            Json::String(s) => s,
            Json::Number(n) => n,
            Json::Bool(b) => {
                if *b {
                    "true"
                } else {
                    "false"
                }
            }
            Json::Object(_) | Json::Array(_) => {
                return match &self.action {
                    Action::Keep(_) => Ok(value.clone()),
                    Action::Redact(redact) => Ok(Json::String(redact.with.clone().into())),
                    _ => Err(format!("cannot `{name}` {}", container_kind(value))),
                };
            }
        };
        let result = match &self.action {
            Action::Keep(_) => return Ok(value.clone()),
            Action::Drop(_) => return Err("`drop` writes no value".to_owned()),
            Action::Redact(redact) => redact.with.clone(),
            Action::Mask(params) => mask(text, params),
            Action::Truncate(params) => text.chars().take(to_usize(params.keep_first)).collect(),
            Action::Hash(params) => hash(text, params, secrets)?,
            Action::Domain(_) => domain(text)?,
            Action::Date(params) => date(text, params.precision)?,
            Action::Bucket(params) => bucket(value, params.width)?,
            Action::Scrub(params) => self.scrubber.scrub(text, &params.replacement),
        };
        Ok(Json::String(result.into()))
    }
}

fn container_kind(value: &Json) -> &'static str {
    match value {
        Json::Array(_) => "an array",
        _ => "an object",
    }
}

fn to_usize(n: u32) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// Every character but the first `keep_first` and last `keep_last` replaced;
/// the whole string when it is no longer than both together.
fn mask(text: &str, params: &Mask) -> String {
    let (first, last) = (to_usize(params.keep_first), to_usize(params.keep_last));
    let count = text.chars().count();
    if count <= first.saturating_add(last) {
        return params.char.repeat(count);
    }
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.chars().enumerate() {
        if i < first || i >= count - last {
            out.push(c);
        } else {
            out.push_str(&params.char);
        }
    }
    out
}

fn hash(text: &str, params: &Hash, secrets: &[Secret]) -> Result<String, String> {
    let mut normalized = text.to_owned();
    for step in &params.normalize {
        normalized = match step {
            Normalize::Trim => normalized.trim().to_owned(),
            Normalize::Lowercase => normalized.to_lowercase(),
        };
    }
    let digest: Vec<u8> = match (&params.key, params.unkeyed) {
        (None, true) => Sha256::digest(normalized.as_bytes()).to_vec(),
        (Some(key), false) => {
            let secret = secrets
                .iter()
                .find(|s| s.name == *key)
                .ok_or_else(|| format!("secret `{key}` was not provided"))?;
            let mut mac = Hmac::<Sha256>::new_from_slice(&secret.value)
                .map_err(|_| format!("secret `{key}` cannot key an HMAC"))?;
            mac.update(normalized.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        (Some(_), true) => return Err("`hash` has both a `key` and `unkeyed: true`".to_owned()),
        (None, false) => return Err("`hash` needs a `key` or `unkeyed: true`".to_owned()),
    };
    Ok(match params.encoding {
        Encoding::Hex => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            let mut out = String::with_capacity(digest.len() * 2);
            for byte in digest {
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 0xf)]));
            }
            out
        }
        Encoding::Base64url => base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest),
    })
}

/// The part after the last `@`, lowercased.
fn domain(text: &str) -> Result<String, String> {
    match text.rfind('@') {
        None => Err("`domain` needs an e-mail address with `@`".to_owned()),
        Some(at) if at + 1 == text.len() => {
            Err("`domain` needs an e-mail address with a domain after the last `@`".to_owned())
        }
        Some(at) => Ok(text[at + 1..].to_lowercase()),
    }
}

/// The date of an RFC 3339 full-date or date-time, cut to `precision`.
fn date(text: &str, precision: Precision) -> Result<String, String> {
    if !is_rfc3339(text.as_bytes()) {
        return Err("`date` needs an RFC 3339 date or date-time".to_owned());
    }
    // The first ten bytes are ASCII, checked above.
    let end = match precision {
        Precision::Year => 4,
        Precision::Month => 7,
        Precision::Day => 10,
    };
    Ok(text[..end].to_owned())
}

/// `full-date` or `full-date ("T" / "t" / " ") full-time` of RFC 3339.
fn is_rfc3339(b: &[u8]) -> bool {
    let Some((date, rest)) = b.split_at_checked(10) else {
        return false;
    };
    if !is_full_date(date) {
        return false;
    }
    match rest.split_first() {
        None => true,
        Some((b'T' | b't' | b' ', time)) => is_full_time(time),
        Some(_) => false,
    }
}

/// The value of a run of ASCII digits of the given length at the start of
/// `b`, and what follows it.
fn number(b: &[u8], len: usize) -> Option<(u32, &[u8])> {
    let (digits, rest) = b.split_at_checked(len)?;
    let mut value = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        value = value * 10 + u32::from(d - b'0');
    }
    Some((value, rest))
}

/// `rest` without its first byte, if that byte is `byte`.
fn expect(rest: &[u8], byte: u8) -> Option<&[u8]> {
    rest.strip_prefix(&[byte])
}

/// `YYYY-MM-DD` with a real month and day.
fn is_full_date(b: &[u8]) -> bool {
    let parsed = (|| {
        let (year, rest) = number(b, 4)?;
        let (month, rest) = number(expect(rest, b'-')?, 2)?;
        let (day, rest) = number(expect(rest, b'-')?, 2)?;
        rest.is_empty().then_some((year, month, day))
    })();
    let Some((year, month, day)) = parsed else {
        return false;
    };
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

/// `HH:MM:SS[.frac](Z|z|±HH:MM)`; second 60 is a leap second.
fn is_full_time(b: &[u8]) -> bool {
    let parsed = (|| {
        let (hour, rest) = number(b, 2)?;
        let (minute, rest) = number(expect(rest, b':')?, 2)?;
        let (second, mut rest) = number(expect(rest, b':')?, 2)?;
        if let Some(frac) = expect(rest, b'.') {
            let digits = frac.iter().take_while(|d| d.is_ascii_digit()).count();
            if digits == 0 {
                return None;
            }
            rest = &frac[digits..];
        }
        let offset_ok = match rest.split_first()? {
            (b'Z' | b'z', []) => true,
            (b'+' | b'-', offset) => {
                let (hour, rest) = number(offset, 2)?;
                let (minute, rest) = number(expect(rest, b':')?, 2)?;
                rest.is_empty() && hour <= 23 && minute <= 59
            }
            _ => false,
        };
        Some(offset_ok && hour <= 23 && minute <= 59 && second <= 60)
    })();
    parsed == Some(true)
}

/// `"L-H"`: the range of width `width` that the number falls in.
fn bucket(value: &Json, width: u64) -> Result<String, String> {
    const NEEDS_NUMBER: &str = "`bucket` needs a number";
    if width == 0 {
        return Err("`bucket` needs a positive `width`".to_owned());
    }
    let text = match value {
        Json::Number(n) => n,
        Json::String(s) => s,
        _ => return Err(NEEDS_NUMBER.to_owned()),
    };
    let number = JsonNumber::parse(text).ok_or_else(|| NEEDS_NUMBER.to_owned())?;
    let too_large = || "the number is too large for `bucket`".to_owned();
    let floor = number.floor().ok_or_else(too_large)?;
    let width = i128::from(width);
    let low = floor
        .div_euclid(width)
        .checked_mul(width)
        .ok_or_else(too_large)?;
    let high = low.checked_add(width - 1).ok_or_else(too_large)?;
    Ok(format!("{low}-{high}"))
}

/// A JSON number as sign, decimal digits and a power of ten.
#[derive(Debug, PartialEq)]
struct JsonNumber {
    negative: bool,
    /// No leading or trailing zeros; empty for zero.
    digits: Vec<u8>,
    /// The value is `digits × 10^exponent`.
    exponent: i64,
}

impl JsonNumber {
    /// Reads text that is exactly one JSON number (RFC 8259 grammar).
    fn parse(text: &str) -> Option<JsonNumber> {
        let b = text.as_bytes();
        let (negative, b) = match b.strip_prefix(b"-") {
            Some(rest) => (true, rest),
            None => (false, b),
        };
        let int_len = b.iter().take_while(|d| d.is_ascii_digit()).count();
        let (int, b) = b.split_at(int_len);
        if int.is_empty() || (int.len() > 1 && int[0] == b'0') {
            return None;
        }
        let (frac, b): (&[u8], &[u8]) = match b.strip_prefix(b".") {
            Some(rest) => {
                let len = rest.iter().take_while(|d| d.is_ascii_digit()).count();
                if len == 0 {
                    return None;
                }
                rest.split_at(len)
            }
            None => (&[], b),
        };
        let mut exponent: i64 = 0;
        if let Some(rest) = b.strip_prefix(b"e").or_else(|| b.strip_prefix(b"E")) {
            let (sign, rest) = match rest.split_first() {
                Some((b'-', rest)) => (-1, rest),
                Some((b'+', rest)) => (1, rest),
                _ => (1, rest),
            };
            if rest.is_empty() {
                return None;
            }
            for &d in rest {
                if !d.is_ascii_digit() {
                    return None;
                }
                // Saturates far beyond any digit count a text can have.
                exponent = exponent
                    .saturating_mul(10)
                    .saturating_add(i64::from(d - b'0'));
            }
            exponent = exponent.min(i64::MAX / 4) * sign;
        } else if !b.is_empty() {
            return None;
        }
        let frac_len = i64::try_from(frac.len()).unwrap_or(i64::MAX / 4);
        let mut exponent = exponent.saturating_sub(frac_len);
        let mut digits: Vec<u8> = int
            .iter()
            .chain(frac)
            .skip_while(|&&d| d == b'0')
            .map(|d| d - b'0')
            .collect();
        while digits.last() == Some(&0) {
            digits.pop();
            exponent = exponent.saturating_add(1);
        }
        Some(JsonNumber {
            negative,
            digits,
            exponent,
        })
    }

    /// The largest integer not above the number, if it fits an `i128`.
    fn floor(&self) -> Option<i128> {
        if self.digits.is_empty() {
            return Some(0);
        }
        let len = i64::try_from(self.digits.len()).ok()?;
        // Digits before the decimal point, and whether any come after it
        // (the last digit is never zero, so a fraction is never zero).
        let int_len = len.saturating_add(self.exponent).max(0);
        let has_fraction = self.exponent < 0;
        if int_len > 39 {
            return None;
        }
        // Accumulated with the number's sign, so that `i128::MIN` fits.
        let sign = if self.negative { -1 } else { 1 };
        let mut int: i128 = 0;
        for i in 0..usize::try_from(int_len).ok()? {
            let d = self.digits.get(i).copied().unwrap_or(0);
            int = int.checked_mul(10)?.checked_add(sign * i128::from(d))?;
        }
        if self.negative && has_fraction {
            int.checked_sub(1)
        } else {
            Some(int)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    /// An action as a policy writes it (`"mask"` or `{"mask": {...}}`).
    fn prepared(action: serde_json::Value) -> PreparedAction {
        let rule: crate::policy::Rule = serde_json::from_value(action).unwrap();
        PreparedAction::new(&rule.alternatives[0].action)
    }

    fn s(text: &str) -> Json<'static> {
        Json::String(text.to_owned().into())
    }

    fn n(text: &str) -> Json<'static> {
        Json::Number(text.to_owned().into())
    }

    fn secret(name: &str, value: &[u8]) -> Secret {
        Secret {
            name: name.to_owned(),
            value: value.to_vec(),
        }
    }

    /// The result of `action` on `value`, which must be a string.
    fn ok(action: &PreparedAction, value: &Json) -> String {
        match action.apply(value, &[]) {
            Ok(Json::String(out)) => out.into_owned(),
            other => panic!("{value:?}: {other:?}"),
        }
    }

    /// The error of `action` on `value`, which must not mention the value.
    fn err(action: &PreparedAction, value: &Json) -> String {
        let message = action.apply(value, &[]).unwrap_err();
        assert_no_leak(&message, value);
        message
    }

    fn assert_no_leak(message: &str, value: &Json) {
        let text = match value {
            Json::String(t) | Json::Number(t) => t.trim(),
            _ => return,
        };
        if text.len() >= 2 {
            assert!(!message.contains(text), "`{message}` leaks the value");
        }
    }

    fn object() -> Json<'static> {
        Json::Object(vec![("ssn".into(), s("SECRET-123"))])
    }

    fn array() -> Json<'static> {
        Json::Array(vec![s("SECRET-123")])
    }

    #[test]
    fn redact() {
        let default = prepared(json!({"redact": {}}));
        assert_eq!(ok(&default, &s("123-45-6789")), "[REDACTED]");
        assert_eq!(ok(&default, &n("42")), "[REDACTED]");
        assert_eq!(ok(&default, &Json::Bool(false)), "[REDACTED]");
        assert_eq!(ok(&default, &object()), "[REDACTED]");
        assert_eq!(ok(&default, &array()), "[REDACTED]");
        let with = prepared(json!({"redact": {"with": "■"}}));
        assert_eq!(ok(&with, &s("x")), "■");
        assert_eq!(default.action().name(), "redact");
    }

    #[test]
    fn null_stays_null_and_keep_keeps() {
        for action in [
            json!("mask"),
            json!({"redact": {}}),
            json!({"date": {"precision": "year"}}),
            json!({"bucket": {"width": 10}}),
            json!("keep"),
        ] {
            assert_eq!(prepared(action).apply(&Json::Null, &[]), Ok(Json::Null));
        }
        let keep = prepared(json!("keep"));
        assert_eq!(keep.apply(&object(), &[]), Ok(object()));
        assert_eq!(keep.apply(&n("1.50"), &[]), Ok(n("1.50")));
        assert!(prepared(json!("drop")).apply(&s("x"), &[]).is_err());
    }

    #[test]
    fn mask() {
        let first1 = prepared(json!({"mask": {"keep_first": 1}}));
        assert_eq!(ok(&first1, &s("Jürgen")), "J*****");
        assert_eq!(ok(&first1, &s("J")), "*");
        let last4 = prepared(json!({"mask": {"keep_last": 4}}));
        assert_eq!(ok(&last4, &s("+49 170 1234567")), "***********4567");
        assert_eq!(ok(&last4, &s("東京都港区1234")), "*****1234");
        assert_eq!(ok(&last4, &s("1234")), "****");
        assert_eq!(ok(&last4, &n("-12345.5")), "****45.5");
        assert_eq!(ok(&last4, &Json::Bool(true)), "****");
        let both = prepared(json!({"mask": {"keep_first": 2, "keep_last": 2, "char": "•"}}));
        assert_eq!(ok(&both, &s("abcdefg")), "ab•••fg");
        assert_eq!(ok(&both, &s("abcd")), "••••");
        assert_eq!(ok(&both, &s("")), "");
        assert_eq!(ok(&both, &s("🙂🙂🙂🙂🙂")), "🙂🙂•🙂🙂");
        let whole = prepared(json!("mask"));
        assert_eq!(ok(&whole, &s("naïve")), "*****");
        let huge = prepared(json!({"mask": {"keep_first": u32::MAX, "keep_last": u32::MAX}}));
        assert_eq!(ok(&huge, &s("abc")), "***");
        assert_eq!(err(&whole, &object()), "cannot `mask` an object");
        assert_eq!(err(&whole, &array()), "cannot `mask` an array");
    }

    #[test]
    fn truncate() {
        let three = prepared(json!({"truncate": {"keep_first": 3}}));
        assert_eq!(ok(&three, &s("94107")), "941");
        assert_eq!(ok(&three, &s("Zürich")), "Zür");
        assert_eq!(ok(&three, &s("ab")), "ab");
        assert_eq!(ok(&three, &n("94107")), "941");
        assert_eq!(ok(&three, &Json::Bool(false)), "fal");
        assert_eq!(
            ok(&prepared(json!({"truncate": {"keep_first": 0}})), &s("x")),
            ""
        );
        assert_eq!(err(&three, &object()), "cannot `truncate` an object");
    }

    const SHA256_ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn hash_unkeyed() {
        let plain = prepared(json!({"hash": {"unkeyed": true}}));
        assert_eq!(ok(&plain, &s("abc")), SHA256_ABC);
        let b64 = prepared(json!({"hash": {"unkeyed": true, "encoding": "base64url"}}));
        assert_eq!(
            ok(&b64, &s("abc")),
            "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
        );
        let normal =
            prepared(json!({"hash": {"unkeyed": true, "normalize": ["trim", "lowercase"]}}));
        assert_eq!(ok(&normal, &s("\u{a0} ABC\t\u{3000}")), SHA256_ABC);
        assert_eq!(ok(&normal, &s("ÄÖÜ")), ok(&plain, &s("äöü")));
        let lower = prepared(json!({"hash": {"unkeyed": true, "normalize": ["lowercase"]}}));
        assert_ne!(ok(&lower, &s(" ABC")), SHA256_ABC);
        // A number is hashed as its exact JSON text.
        assert_eq!(ok(&plain, &n("1.50")), ok(&plain, &s("1.50")));
        assert_eq!(ok(&plain, &Json::Bool(true)), ok(&plain, &s("true")));
        assert_eq!(err(&plain, &array()), "cannot `hash` an array");
    }

    #[test]
    fn hash_keyed() {
        // RFC 4231, test case 2.
        let keyed = prepared(json!({"hash": {"key": "pepper"}}));
        let secrets = [secret("other", b"x"), secret("pepper", b"Jefe")];
        let out = keyed.apply(&s("what do ya want for nothing?"), &secrets);
        assert_eq!(
            out,
            Ok(s(
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
            ))
        );
        let b64 = prepared(json!({"hash": {"key": "pepper", "encoding": "base64url"}}));
        let out = b64.apply(&s("what do ya want for nothing?"), &secrets);
        assert_eq!(out, Ok(s("W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM")));
        // An empty key is a valid HMAC key.
        let empty = keyed.apply(&s("x"), &[secret("pepper", b"")]);
        assert!(matches!(empty, Ok(Json::String(h)) if h.len() == 64));

        let missing = keyed.apply(&s("jane@example.com"), &[]).unwrap_err();
        assert_eq!(missing, "secret `pepper` was not provided");
        let both = prepared(json!({"hash": {"key": "pepper", "unkeyed": true}}));
        assert!(
            both.apply(&s("jane@example.com"), &secrets)
                .unwrap_err()
                .contains("both")
        );
        let neither = prepared(json!({"hash": {}}));
        assert!(
            neither
                .apply(&s("jane@example.com"), &secrets)
                .unwrap_err()
                .contains("`key`")
        );
    }

    #[test]
    fn domain() {
        let d = prepared(json!("domain"));
        assert_eq!(ok(&d, &s("Jane@Acme.COM")), "acme.com");
        assert_eq!(ok(&d, &s("\"a@b\"@Example.org")), "example.org");
        assert_eq!(ok(&d, &s("jürgen@BÜCHER.de")), "bücher.de");
        assert_eq!(ok(&d, &s("@x.io")), "x.io");
        assert_eq!(
            err(&d, &s("jane.example.com")),
            "`domain` needs an e-mail address with `@`"
        );
        assert!(err(&d, &s("jane@")).contains("after the last `@`"));
        assert!(err(&d, &s("jane@x.com@")).contains("after the last `@`"));
        err(&d, &n("12345"));
        err(&d, &Json::Bool(true));
        assert_eq!(err(&d, &object()), "cannot `domain` an object");
    }

    #[test]
    fn date() {
        let year = prepared(json!({"date": {"precision": "year"}}));
        let month = prepared(json!({"date": {"precision": "month"}}));
        let day = prepared(json!({"date": {"precision": "day"}}));
        let v = s("1987-06-15");
        assert_eq!(
            (ok(&year, &v), ok(&month, &v), ok(&day, &v)),
            ("1987".into(), "1987-06".into(), "1987-06-15".into())
        );
        for text in [
            "1987-06-15T10:20:30Z",
            "1987-06-15t10:20:30z",
            "1987-06-15 23:59:60.123456+02:00",
            "1987-06-15T00:00:00-12:00",
            // No time-zone conversion: the date as written.
            "1987-06-15T23:30:00-05:00",
        ] {
            assert_eq!(ok(&day, &s(text)), "1987-06-15", "{text}");
        }
        for text in [
            "1988-02-29",
            "2000-02-29",
            "0000-01-01",
            "9999-12-31",
            "1987-01-31",
        ] {
            assert_eq!(ok(&day, &s(text)), text);
        }
        let message = "`date` needs an RFC 3339 date or date-time";
        for text in [
            "1987-02-29",
            "1900-02-29",
            "1987-04-31",
            "1987-13-01",
            "1987-00-10",
            "1987-06-00",
            "87-06-15",
            "1987-6-15",
            "1987/06/15",
            "19870615",
            "1987-06",
            "1987",
            " 1987-06-15",
            "1987-06-15 ",
            "1987-06-15T",
            "1987-06-15T10:20:30",
            "1987-06-15T10:20Z",
            "1987-06-15T24:00:00Z",
            "1987-06-15T10:60:00Z",
            "1987-06-15T10:00:61Z",
            "1987-06-15T10:00:00.Z",
            "1987-06-15T10:00:00+24:00",
            "1987-06-15T10:00:00+02:60",
            "1987-06-15T10:00:00+0200",
            "1987-06-15T10:00:00Zjunk",
            "1987-06-15_10:00:00Z",
            "１９８７-06-15",
            "1987-06-1５",
            "1987-06-15T10:00:00Z\u{300}",
        ] {
            assert_eq!(err(&day, &s(text)), message, "{text}");
        }
        assert_eq!(err(&year, &n("1987")), message);
        assert_eq!(err(&year, &Json::Bool(true)), message);
        assert_eq!(err(&year, &array()), "cannot `date` an array");
    }

    #[test]
    fn bucket() {
        let ten = prepared(json!({"bucket": {"width": 10}}));
        for (input, expected) in [
            ("37", "30-39"),
            ("30", "30-39"),
            ("39", "30-39"),
            ("0", "0-9"),
            ("-0", "0-9"),
            ("-0.0", "0-9"),
            ("-5", "-10--1"),
            ("-10", "-10--1"),
            ("-11", "-20--11"),
            ("37.9", "30-39"),
            ("39.99999999999999999999999", "30-39"),
            ("-0.5", "-10--1"),
            ("-30.0", "-30--21"),
            ("3.7e1", "30-39"),
            ("3.79E+1", "30-39"),
            ("370e-1", "30-39"),
            ("0.37e2", "30-39"),
            ("1e-400", "0-9"),
            ("-1e-400", "-10--1"),
            ("1e-99999999999999999999999", "0-9"),
            (
                "123456789012345678901234567890",
                "123456789012345678901234567890-123456789012345678901234567899",
            ),
            (
                "-123456789012345678901234567891",
                "-123456789012345678901234567900--123456789012345678901234567891",
            ),
            (
                "1.2e30",
                "1200000000000000000000000000000-1200000000000000000000000000009",
            ),
        ] {
            assert_eq!(ok(&ten, &n(input)), expected, "{input}");
        }
        let seven = prepared(json!({"bucket": {"width": 7}}));
        assert_eq!(ok(&seven, &n("1e2")), "98-104");
        assert_eq!(ok(&seven, &n("-1")), "-7--1");
        let one = prepared(json!({"bucket": {"width": 1}}));
        assert_eq!(ok(&one, &n("37.5")), "37-37");
        let wide = prepared(json!({"bucket": {"width": u64::MAX}}));
        assert_eq!(ok(&wide, &n("5")), format!("0-{}", u64::MAX - 1));
        assert_eq!(ok(&wide, &n("-5")), format!("-{}--1", u64::MAX));
        // A string that is a JSON number, as forms send numbers.
        assert_eq!(ok(&ten, &s("37")), "30-39");
        assert_eq!(ok(&ten, &s("-4.5e0")), "-10--1");

        let needs = "`bucket` needs a number";
        for text in [
            "", " 37", "37 ", "+37", "037", "37.", ".5", "1e", "1e+", "0x10", "NaN", "Infinity",
            "3 7", "٣٧", "thirty",
        ] {
            assert_eq!(err(&ten, &s(text)), needs, "{text:?}");
        }
        assert_eq!(err(&ten, &Json::Bool(true)), needs);
        assert_eq!(err(&ten, &object()), "cannot `bucket` an object");
        let too_large = "the number is too large for `bucket`";
        for text in [
            "1e39",
            "1e400",
            "-1e99999999999999999999",
            "999999999999999999999999999999999999999999",
        ] {
            assert_eq!(err(&ten, &n(text)), too_large, "{text}");
        }
        let zero = prepared(json!({"bucket": {"width": 0}}));
        assert_eq!(err(&zero, &n("37")), "`bucket` needs a positive `width`");
    }

    #[test]
    fn bucket_bounds_of_i128() {
        let max = i128::MAX.to_string();
        let min = i128::MIN.to_string();
        let one = prepared(json!({"bucket": {"width": 1}}));
        assert_eq!(ok(&one, &n(&max)), format!("{max}-{max}"));
        assert_eq!(ok(&one, &n(&min)), format!("{min}-{min}"));
        // The bucket of i128::MAX at width 10 ends above it.
        let ten = prepared(json!({"bucket": {"width": 10}}));
        assert!(err(&ten, &n(&max)).contains("too large"));
        assert!(err(&ten, &n(&min)).contains("too large"));
    }

    #[test]
    fn scrub() {
        let default = prepared(json!("scrub"));
        assert_eq!(
            ok(
                &default,
                &s("Ruf an: +49 30 1234567 oder jürgen@example.de")
            ),
            "Ruf an: [PHONE] oder [EMAIL]"
        );
        assert_eq!(ok(&default, &n("4111111111111111")), "[CREDIT_CARD]");
        assert_eq!(ok(&default, &Json::Bool(true)), "true");
        let custom =
            prepared(json!({"scrub": {"detectors": ["email"], "replacement": "<{TYPE}>"}}));
        assert_eq!(
            ok(&custom, &s("a@b.co 555-123-4567")),
            "<EMAIL> 555-123-4567"
        );
        assert_eq!(err(&default, &object()), "cannot `scrub` an object");
    }

    #[test]
    fn errors_never_hold_the_value() {
        let actions = [
            json!("domain"),
            json!({"date": {"precision": "day"}}),
            json!({"bucket": {"width": 10}}),
            json!({"bucket": {"width": 0}}),
            json!({"hash": {}}),
            json!({"hash": {"key": "k"}}),
            json!({"hash": {"key": "k", "unkeyed": true}}),
        ];
        let values = [
            s("SECRET-VALUE-xyz"),
            s("jane@"),
            s("1987-02-30"),
            n("98765e400"),
            n("98765"),
            Json::Bool(false),
        ];
        for action in actions {
            let action = prepared(action);
            for value in &values {
                if let Err(message) = action.apply(value, &[]) {
                    assert_no_leak(&message, value);
                    assert!(!message.contains("SECRET"));
                    assert!(!message.contains("9876"));
                    assert!(!message.contains("jane"));
                }
            }
        }
    }

    #[test]
    fn json_numbers_are_read_exactly() {
        let parse = |t: &str| JsonNumber::parse(t).map(|n| (n.negative, n.digits, n.exponent));
        assert_eq!(parse("-0012"), None);
        assert_eq!(parse("120.50"), Some((false, vec![1, 2, 0, 5], -1)));
        assert_eq!(parse("-0.0e5"), Some((true, vec![], 4)));
        assert_eq!(parse("1E+2"), Some((false, vec![1], 2)));
        assert_eq!(parse("1e-2"), Some((false, vec![1], -2)));
        assert_eq!(parse("1.e2"), None);
        assert_eq!(parse("--1"), None);
        assert_eq!(parse("-"), None);
    }
}
