//! Conditions on the input lead (`require` and `when`), compiled once.
//!
//! - `equals` is JSON equality: strings, booleans and `null` as they are,
//!   arrays element by element, objects member by member in any order, and
//!   numbers by their exact decimal value (`1`, `1.0` and `10e-1` are equal;
//!   large integers and long fractions are compared digit by digit, never
//!   through a float).
//! - `in` holds when `equals` holds for one of the values.
//! - `exists` tests presence; a `null` value is present.
//! - `matches` searches anywhere in a string (anchor the pattern with `^`
//!   and `$` to test the whole string); a number or a boolean is tested as
//!   its JSON text; `null`, arrays and objects never match.
//! - A missing value fails `equals`, `in` and `matches`.
//!
//! A condition's path has no `*`; a `[POINTER=TEXT]` selector in it reaches
//! the first array element that it selects.

use regex::Regex;
use serde_json::Value;

use crate::json::Json;
use crate::path::Pattern;
use crate::policy::{Condition, Test};

/// Why a condition does not compile, for the policy author.
#[derive(Debug)]
pub(crate) enum ConditionError {
    /// The path is not a pattern without `*`.
    Path {
        /// Where in the policy, e.g. ``require[0].path``.
        location: String,
        /// What is wrong.
        message: String,
    },
    /// A `matches` regex does not compile.
    Regex {
        /// Where in the policy, e.g. ``fields./email[0].when.matches``.
        location: String,
        /// The regex crate's message.
        message: String,
    },
}

/// A compiled condition.
#[derive(Debug)]
pub(crate) enum Cond {
    All(Vec<Cond>),
    Any(Vec<Cond>),
    Not(Box<Cond>),
    Test { path: Pattern, test: CompiledTest },
}

/// A compiled [`Test`].
#[derive(Debug)]
pub(crate) enum CompiledTest {
    Equals(Value),
    In(Vec<Value>),
    Exists(bool),
    Matches(Regex),
}

impl Cond {
    /// Compiles `condition`, found at `location` in the policy.
    pub(crate) fn new(condition: &Condition, location: &str) -> Result<Cond, ConditionError> {
        let list = |conditions: &[Condition], key: &str| {
            conditions
                .iter()
                .enumerate()
                .map(|(i, c)| Cond::new(c, &format!("{location}.{key}[{i}]")))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(match condition {
            Condition::All { all } => Cond::All(list(all, "all")?),
            Condition::Any { any } => Cond::Any(list(any, "any")?),
            Condition::Not { not } => {
                Cond::Not(Box::new(Cond::new(not, &format!("{location}.not"))?))
            }
            Condition::Test { path, test } => {
                let path_error = |message: String| ConditionError::Path {
                    location: format!("{location}.path"),
                    message,
                };
                let path = Pattern::parse(path).map_err(path_error)?;
                if path.segments.contains(&crate::path::Segment::Star) {
                    return Err(path_error(
                        "a condition tests one value, so its path has no `*` (a `[name=value]` selector picks the first match)"
                            .to_owned(),
                    ));
                }
                let test = match test {
                    Test::Equals(value) => CompiledTest::Equals(value.clone()),
                    Test::In(values) => CompiledTest::In(values.clone()),
                    Test::Exists(exists) => CompiledTest::Exists(*exists),
                    Test::Matches(pattern) => {
                        CompiledTest::Matches(Regex::new(pattern).map_err(|e| {
                            ConditionError::Regex {
                                location: format!("{location}.matches"),
                                message: e.to_string(),
                            }
                        })?)
                    }
                };
                Cond::Test { path, test }
            }
        })
    }

    /// Runs every regular expression once, so its lazy caches exist.
    pub(crate) fn warm_up(&self) {
        match self {
            Cond::All(conditions) | Cond::Any(conditions) => {
                conditions.iter().for_each(Cond::warm_up)
            }
            Cond::Not(condition) => condition.warm_up(),
            Cond::Test {
                test: CompiledTest::Matches(regex),
                ..
            } => {
                let _ = regex.is_match("warm-up text 0123456789");
            }
            Cond::Test { .. } => {}
        }
    }

    /// Whether the condition holds for `lead`.
    pub(crate) fn holds(&self, lead: &Json) -> bool {
        match self {
            Cond::All(all) => all.iter().all(|c| c.holds(lead)),
            Cond::Any(any) => any.iter().any(|c| c.holds(lead)),
            Cond::Not(not) => !not.holds(lead),
            Cond::Test { path, test } => {
                let value = path.resolve(lead);
                match (test, value) {
                    (CompiledTest::Exists(exists), value) => value.is_some() == *exists,
                    (_, None) => false,
                    (CompiledTest::Equals(expected), Some(value)) => equal(value, expected),
                    (CompiledTest::In(expected), Some(value)) => {
                        expected.iter().any(|e| equal(value, e))
                    }
                    (CompiledTest::Matches(regex), Some(value)) => match value {
                        Json::String(s) | Json::Number(s) => regex.is_match(s),
                        Json::Bool(true) => regex.is_match("true"),
                        Json::Bool(false) => regex.is_match("false"),
                        Json::Null | Json::Array(_) | Json::Object(_) => false,
                    },
                }
            }
        }
    }
}

/// JSON equality of a lead value and a policy value; numbers by value.
fn equal(value: &Json, expected: &Value) -> bool {
    match (value, expected) {
        (Json::Null, Value::Null) => true,
        (Json::Bool(a), Value::Bool(b)) => a == b,
        (Json::String(a), Value::String(b)) => a == b,
        (Json::Number(a), Value::Number(b)) => {
            Decimal::parse(a).is_some_and(|a| Decimal::parse(&b.to_string()) == Some(a))
        }
        (Json::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| equal(a, b))
        }
        (Json::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(name, value)| b.get(&**name).is_some_and(|e| equal(value, e)))
        }
        _ => false,
    }
}

/// A decimal number as `digits × 10^exponent`, normalised so that equal
/// numbers are equal: no leading or trailing zeros in `digits`, zero as
/// empty digits without a sign.
#[derive(Debug, PartialEq, Eq)]
struct Decimal {
    negative: bool,
    digits: Vec<u8>,
    exponent: i64,
}

impl Decimal {
    /// Reads JSON number text (and `serde_json`'s float text, which is the
    /// same grammar). `None` for anything else.
    fn parse(text: &str) -> Option<Decimal> {
        let (negative, rest) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (mantissa, exp_text) = match rest.find(['e', 'E']) {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if int.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut exponent: i64 = match exp_text {
            None => 0,
            Some(e) => {
                let (sign, digits) = match e.as_bytes().first() {
                    Some(b'-') => (-1, &e[1..]),
                    Some(b'+') => (1, &e[1..]),
                    _ => (1, e),
                };
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                // Exponents beyond ±10^15 saturate; no lead needs them.
                let magnitude = digits.bytes().fold(0i64, |n, d| {
                    (n * 10 + i64::from(d - b'0')).min(1_000_000_000_000_000)
                });
                sign * magnitude
            }
        };
        let frac_len = i64::try_from(frac.len()).ok()?;
        exponent -= frac_len;
        let all: Vec<u8> = int.bytes().chain(frac.bytes()).collect();
        let first = all.iter().position(|&d| d != b'0');
        let Some(first) = first else {
            return Some(Decimal {
                negative: false,
                digits: Vec::new(),
                exponent: 0,
            });
        };
        let last = all.iter().rposition(|&d| d != b'0').unwrap_or(first);
        exponent += i64::try_from(all.len() - 1 - last).ok()?;
        Some(Decimal {
            negative,
            digits: all[first..=last].to_vec(),
            exponent,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cond(value: Value) -> Cond {
        let condition: Condition = serde_json::from_value(value).unwrap();
        Cond::new(&condition, "require[0]").unwrap()
    }

    fn lead() -> Json<'static> {
        crate::json::parse(
            r#"{"n": 1.0, "big": 12345678901234567890, "s": "Hello World", "t": true, "z": null,
                "o": {"b": [1, 2], "a": "x"}, "l": [{"k": "a", "v": 1}, {"k": "b", "v": 2}],
                "e": 1e400}"#,
        )
        .unwrap()
    }

    #[test]
    fn equals_compares_json_values_and_numbers_by_value() {
        let lead = lead();
        let holds = |v: Value| cond(v).holds(&lead);
        assert!(holds(json!({"path": "/n", "equals": 1})));
        assert!(holds(json!({"path": "/n", "equals": 1.0})));
        assert!(!holds(json!({"path": "/n", "equals": "1"})));
        assert!(holds(
            json!({"path": "/big", "equals": 12345678901234567890u64})
        ));
        assert!(!holds(
            json!({"path": "/big", "equals": 12345678901234567891u64})
        ));
        assert!(holds(json!({"path": "/s", "equals": "Hello World"})));
        assert!(holds(json!({"path": "/t", "equals": true})));
        assert!(holds(json!({"path": "/z", "equals": null})));
        assert!(holds(
            json!({"path": "/o", "equals": {"a": "x", "b": [1, 2.0]}})
        ));
        assert!(!holds(json!({"path": "/o", "equals": {"a": "x"}})));
        assert!(!holds(json!({"path": "/missing", "equals": null})));
        assert!(holds(json!({"path": "/l/[k=b]/v", "equals": 2})));
        assert!(!holds(
            json!({"path": "/e", "equals": 1.7976931348623157e308})
        ));
    }

    #[test]
    fn decimals_normalise() {
        let d = |t| Decimal::parse(t).unwrap();
        assert_eq!(d("1"), d("1.0"));
        assert_eq!(d("1"), d("10e-1"));
        assert_eq!(d("100"), d("1e2"));
        assert_eq!(d("100"), d("1E+2"));
        assert_eq!(d("0"), d("-0.000"));
        assert_eq!(d("0.1"), d("1e-1"));
        assert_ne!(d("0.1"), d("0.10000000000000001"));
        assert_ne!(d("-1"), d("1"));
        assert_eq!(
            d("12345678901234567890.000000000000000001"),
            d("12345678901234567890000000000000000001e-18")
        );
        assert_eq!(Decimal::parse("x"), None);
        assert_eq!(Decimal::parse(".5"), None);
    }

    #[test]
    fn in_exists_and_matches() {
        let lead = lead();
        let holds = |v: Value| cond(v).holds(&lead);
        assert!(holds(json!({"path": "/s", "in": ["a", "Hello World"]})));
        assert!(!holds(json!({"path": "/missing", "in": [null]})));
        assert!(holds(json!({"path": "/z", "exists": true})));
        assert!(holds(json!({"path": "/missing", "exists": false})));
        assert!(!holds(json!({"path": "/s", "exists": false})));
        assert!(holds(json!({"path": "/s", "matches": "World"})));
        assert!(!holds(json!({"path": "/s", "matches": "^World"})));
        assert!(holds(json!({"path": "/n", "matches": "^1\\.0$"})));
        assert!(holds(json!({"path": "/t", "matches": "^true$"})));
        assert!(!holds(json!({"path": "/z", "matches": ""})));
        assert!(!holds(json!({"path": "/o", "matches": ""})));
        assert!(!holds(json!({"path": "/missing", "matches": ""})));
    }

    #[test]
    fn all_any_not() {
        let lead = lead();
        let holds = |v: Value| cond(v).holds(&lead);
        let yes = json!({"path": "/t", "equals": true});
        let no = json!({"path": "/t", "equals": false});
        assert!(holds(json!({"all": [yes, yes]})));
        assert!(!holds(json!({"all": [yes, no]})));
        assert!(holds(json!({"all": []})));
        assert!(holds(json!({"any": [no, yes]})));
        assert!(!holds(json!({"any": []})));
        assert!(holds(json!({"not": no})));
        assert!(holds(json!({"not": {"path": "/missing", "equals": 1}})));
    }

    #[test]
    fn load_errors_name_the_location() {
        let err = |v: Value| {
            let condition: Condition = serde_json::from_value(v).unwrap();
            Cond::new(&condition, "require[2]").unwrap_err()
        };
        let ConditionError::Path { location, message } =
            err(json!({"all": [{"path": "/a/*", "exists": true}]}))
        else {
            panic!()
        };
        assert_eq!(location, "require[2].all[0].path");
        assert!(message.contains("no `*`"));
        let ConditionError::Path { location, .. } =
            err(json!({"not": {"path": "a", "exists": true}}))
        else {
            panic!()
        };
        assert_eq!(location, "require[2].not.path");
        let ConditionError::Regex { location, .. } = err(json!({"path": "/a", "matches": "("}))
        else {
            panic!()
        };
        assert_eq!(location, "require[2].matches");
    }
}
