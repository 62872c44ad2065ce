//! Reading a policy (or schema) file into JSON: YAML or JSON text, with
//! nothing that JSON cannot say. Duplicate keys, non-string keys, YAML tags
//! and non-finite numbers are refused, since two readers could disagree
//! about what such a file means.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// The syntax of a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Syntax {
    /// YAML 1.2 (which also reads JSON).
    Yaml,
    /// JSON.
    Json,
}

impl Syntax {
    /// The syntax a file name's extension names: `.yaml`/`.yml` or `.json`.
    pub(crate) fn of(path: &std::path::Path) -> Option<Syntax> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "yaml" | "yml" => Some(Syntax::Yaml),
            "json" => Some(Syntax::Json),
            _ => None,
        }
    }
}

/// Parses `text` into JSON. The error says what and where (line and column).
pub(crate) fn parse(text: &str, syntax: Syntax) -> Result<Value, String> {
    let strict = match syntax {
        Syntax::Json => serde_json::from_str::<Strict>(text).map_err(|e| e.to_string())?,
        Syntax::Yaml => serde_norway::from_str::<Strict>(text).map_err(|e| e.to_string())?,
    };
    Ok(strict.0)
}

/// A JSON value read by any serde format, refusing what JSON cannot hold.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value (null, a boolean, a number, a string, a list or a map)")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        Strict::deserialize(deserializer).map(|s| s.0)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("infinity and NaN are not JSON numbers"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = Map::new();
        while let Some(Strict(key)) = map.next_key()? {
            let Value::String(key) = key else {
                return Err(de::Error::custom(
                    "a key is a string (quote keys that YAML would read as a number, \
                     boolean or null)",
                ));
            };
            if members.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate key `{key}`")));
            }
            let Strict(value) = map.next_value()?;
            members.insert(key, value);
        }
        Ok(Value::Object(members))
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, _data: A) -> Result<Value, A::Error> {
        Err(de::Error::custom(
            "YAML tags (`!name`) have no JSON meaning and are not allowed",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn yaml_and_json_read_the_same() {
        let yaml = parse("a: [1, 2.5, x, true, null]\nb: {c: ~}\n", Syntax::Yaml).unwrap();
        let json = parse(
            r#"{"a":[1,2.5,"x",true,null],"b":{"c":null}}"#,
            Syntax::Json,
        )
        .unwrap();
        assert_eq!(yaml, json);
        assert_eq!(
            yaml,
            json!({"a": [1, 2.5, "x", true, null], "b": {"c": null}})
        );
    }

    #[test]
    fn duplicate_keys_are_refused_in_both_syntaxes() {
        let err = parse("a: 1\nb: 2\na: 3\n", Syntax::Yaml).unwrap_err();
        assert_eq!(err, "duplicate key `a`");
        let err = parse("x: 0\nm:\n  a: 1\n  a: 3\n", Syntax::Yaml).unwrap_err();
        assert_eq!(err, "m: duplicate key `a` at line 3 column 3");
        let err = parse(r#"{"a": {"x": 1, "x": 2}}"#, Syntax::Json).unwrap_err();
        assert!(err.contains("duplicate key `x`"), "{err}");
    }

    #[test]
    fn what_json_cannot_say_is_refused() {
        let err = parse("a: !secret x\n", Syntax::Yaml).unwrap_err();
        assert!(err.contains("YAML tags"), "{err}");
        let err = parse("1: x\n", Syntax::Yaml).unwrap_err();
        assert!(err.contains("a key is a string"), "{err}");
        let err = parse("a: .inf\n", Syntax::Yaml).unwrap_err();
        assert!(err.contains("not JSON numbers"), "{err}");
        assert!(parse("a: 1\n---\nb: 2\n", Syntax::Yaml).is_err());
    }

    #[test]
    fn anchors_and_aliases_are_expanded() {
        let v = parse("x: &c [DE, FR]\ny: *c\n", Syntax::Yaml).unwrap();
        assert_eq!(v, json!({"x": ["DE", "FR"], "y": ["DE", "FR"]}));
    }
}
