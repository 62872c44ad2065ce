//! The parser against JSONTestSuite (`tests/data/json-test-suite`,
//! github.com/nst/JSONTestSuite): every `y_` file is accepted, every `n_`
//! file rejected, and no `i_` file makes the parser panic.

use std::fs;
use std::path::PathBuf;

use leadfilter_engine::json;

/// `y_` files that I-JSON (RFC 7493 §2.3) rejects on purpose: an object with
/// a member name twice is ambiguous (two parsers may disagree about which
/// value they saw), so a filter must not guess.
const DELIBERATE_EXCEPTIONS: &[&str] = &[
    "y_object_duplicated_key.json",
    "y_object_duplicated_key_and_value.json",
];

/// The implementation-defined (`i_`) files the parser accepts. Every other
/// `i_` file is rejected: numbers of any size are valid JSON and keep their
/// exact text; lone or inverted surrogate escapes are not I-JSON; files that
/// are not UTF-8 never reach the engine (it takes `&str`; the host refuses
/// such bytes); 500 nested arrays exceed the depth limit of 128; a byte
/// order mark is not JSON text.
const ACCEPTED_I: &[&str] = &[
    "i_number_double_huge_neg_exp.json",
    "i_number_huge_exp.json",
    "i_number_neg_int_huge_exp.json",
    "i_number_pos_double_huge_exp.json",
    "i_number_real_neg_overflow.json",
    "i_number_real_pos_overflow.json",
    "i_number_real_underflow.json",
    "i_number_too_big_neg_int.json",
    "i_number_too_big_pos_int.json",
    "i_number_very_big_negative_int.json",
];

fn files() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/data/json-test-suite/test_parsing"
    ));
    let mut files: Vec<_> = fs::read_dir(&dir)
        .expect("the JSONTestSuite copy is in tests/data")
        .map(|entry| {
            let path = entry.expect("a directory entry").path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, fs::read(&path).expect("a readable test file"))
        })
        .collect();
    files.sort();
    assert!(files.len() > 300, "the suite has 318 files");
    files
}

/// `Some(accepted)` for UTF-8 files, `None` for files the host would refuse.
fn accepts(bytes: &[u8]) -> Option<bool> {
    let text = std::str::from_utf8(bytes).ok()?;
    Some(json::parse(text).is_ok())
}

#[test]
fn every_y_file_is_accepted_except_duplicate_names() {
    let mut wrong = Vec::new();
    for (name, bytes) in files().iter().filter(|(n, _)| n.starts_with("y_")) {
        let expected = !DELIBERATE_EXCEPTIONS.contains(&name.as_str());
        // No `y_` file is invalid UTF-8.
        let accepted = accepts(bytes).unwrap_or_else(|| panic!("{name} is not UTF-8"));
        if accepted != expected {
            wrong.push(name.clone());
        }
    }
    assert!(wrong.is_empty(), "wrongly handled: {wrong:?}");
}

#[test]
fn every_n_file_is_rejected() {
    let accepted: Vec<_> = files()
        .into_iter()
        .filter(|(n, _)| n.starts_with("n_"))
        .filter(|(_, bytes)| accepts(bytes) == Some(true))
        .map(|(n, _)| n)
        .collect();
    assert!(accepted.is_empty(), "wrongly accepted: {accepted:?}");
}

#[test]
fn i_files_do_not_panic_and_are_accepted_as_recorded() {
    let accepted: Vec<_> = files()
        .into_iter()
        .filter(|(n, _)| n.starts_with("i_"))
        .filter(|(_, bytes)| accepts(bytes) == Some(true))
        .map(|(n, _)| n)
        .collect();
    assert_eq!(accepted, ACCEPTED_I);
}

#[test]
fn accepted_files_round_trip_through_the_compact_writer() {
    for (name, bytes) in files() {
        let Ok(text) = std::str::from_utf8(&bytes) else {
            continue;
        };
        let Ok(value) = json::parse(text) else {
            continue;
        };
        let compact = value.to_compact();
        assert_eq!(json::parse(&compact).as_ref(), Ok(&value), "{name}");
        assert_strings_written_as_serde_json_does(&value, &name);
    }
}

fn assert_strings_written_as_serde_json_does(value: &json::Json, name: &str) {
    let check = |s: &str| {
        let mut ours = String::new();
        json::write_string(s, &mut ours);
        assert_eq!(ours, serde_json::to_string(s).unwrap(), "{name}");
    };
    match value {
        json::Json::String(s) => check(s),
        json::Json::Array(items) => items
            .iter()
            .for_each(|v| assert_strings_written_as_serde_json_does(v, name)),
        json::Json::Object(members) => members.iter().for_each(|(k, v)| {
            check(k);
            assert_strings_written_as_serde_json_does(v, name);
        }),
        _ => {}
    }
}
