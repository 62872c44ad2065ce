//! The engine's JSON reader against `serde_json`.
//!
//! Both must accept and reject the same texts, except where the engine is
//! stricter by design (I-JSON: duplicate member names, lone surrogates; and
//! its nesting limit) or `serde_json` cannot hold a number. What both
//! accept must be the same value, and the engine's compact writing must read
//! back to itself.

use leadfilter_engine::json::{Json, parse};

/// Why the engine may reject what `serde_json` accepts.
const STRICTER: &[&str] = &[
    "duplicate member name",
    "lone surrogate in string escape",
    "nesting deeper than 128 levels",
];

/// Why `serde_json` may reject what the engine accepts.
const NARROWER: &[&str] = &["number out of range", "recursion limit exceeded"];

/// One input.
pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        // The engine reads `&str`: the host refuses bytes that are not UTF-8.
        return;
    };
    let ours = parse(text);
    let theirs = serde_json::from_str::<serde_json::Value>(text);
    match (&ours, &theirs) {
        (Ok(value), Ok(expected)) => {
            assert_eq!(
                &value.to_value(),
                expected,
                "the same text read differently"
            );
            round_trip(value);
        }
        (Err(e), Ok(_)) => assert!(
            STRICTER.contains(&e.message.as_str()),
            "the engine refused what serde_json read: {e}"
        ),
        (Ok(value), Err(e)) => {
            assert!(
                NARROWER.iter().any(|m| e.to_string().contains(m)),
                "the engine read what serde_json refused: {e}"
            );
            round_trip(value);
        }
        (Err(_), Err(_)) => {}
    }
}

/// Writing a value and reading it back gives the same writing.
fn round_trip(value: &Json<'_>) {
    let written = value.to_compact();
    let again = parse(&written).expect("the engine reads what it wrote");
    assert_eq!(again.to_compact(), written, "writing is not stable");
}
