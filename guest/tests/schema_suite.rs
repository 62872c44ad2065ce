//! The JSON Schema Test Suite (required tests of draft 2020-12 and draft-07,
//! `tests/data/json-schema-test-suite`) through `leadfilter_engine::schema`,
//! and a check over every invalid case that no violation message holds a
//! value of the instance.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use leadfilter_engine::schema::Schema;
use serde_json::Value;

const SUITE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/data/json-schema-test-suite"
);

/// Tests the suite expects to pass that do not, each with the reason:
/// `(draft, file, group description, test description or "*" for the whole
/// group, reason)`.
const EXCEPTIONS: &[(&str, &str, &str, &str, &str)] = &[];

/// One test case of the suite.
struct Case {
    draft: &'static str,
    file: String,
    group: String,
    test: String,
    schema: Value,
    data: Value,
    valid: bool,
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            json_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

/// The suite's `remotes/` as resources under `http://localhost:1234/`: the
/// draft-neutral documents and those of `draft`'s own directory.
fn remotes(draft: &str) -> Vec<(String, Value)> {
    let root = Path::new(SUITE).join("remotes");
    let mut files = Vec::new();
    json_files(&root, &mut files);
    let drafts = [
        "draft3",
        "draft4",
        "draft6",
        "draft7",
        "draft2019-09",
        "draft2020-12",
        "v1",
    ];
    files
        .into_iter()
        .filter_map(|path| {
            let relative = path
                .strip_prefix(&root)
                .expect("under remotes")
                .to_str()?
                .replace('\\', "/");
            let first = relative.split('/').next()?;
            if drafts.contains(&first) && first != draft {
                return None;
            }
            Some((
                format!("http://localhost:1234/{relative}"),
                read_json(&path),
            ))
        })
        .collect()
}

fn cases(draft: &'static str) -> Vec<Case> {
    cases_in(draft, "")
}

/// The cases of the files in `sub` (e.g. `optional/format`) of a draft's
/// directory.
fn cases_in(draft: &'static str, sub: &str) -> Vec<Case> {
    let dir = Path::new(SUITE).join("tests").join(draft).join(sub);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let file = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("a file name")
            .to_owned();
        let Value::Array(groups) = read_json(&path) else {
            panic!("{file}: not a list of groups");
        };
        for group in groups {
            let description = group["description"]
                .as_str()
                .expect("a description")
                .to_owned();
            let schema = with_draft(draft, group["schema"].clone());
            for test in group["tests"].as_array().expect("tests") {
                out.push(Case {
                    draft,
                    file: file.clone(),
                    group: description.clone(),
                    test: test["description"]
                        .as_str()
                        .expect("a description")
                        .to_owned(),
                    schema: schema.clone(),
                    data: test["data"].clone(),
                    valid: test["valid"].as_bool().expect("valid"),
                });
            }
        }
    }
    out
}

/// The suite's draft-07 schemas mostly leave the draft to the harness;
/// `Schema` reads it from `$schema`.
fn with_draft(draft: &str, mut schema: Value) -> Value {
    if let (Value::Object(map), "draft7") = (&mut schema, draft) {
        map.entry("$schema")
            .or_insert_with(|| Value::from("http://json-schema.org/draft-07/schema#"));
    }
    schema
}

fn is_exception(case: &Case) -> bool {
    EXCEPTIONS.iter().any(|&(draft, file, group, test, _)| {
        draft == case.draft
            && file == case.file
            && group == case.group
            && (test == "*" || test == case.test)
    })
}

/// Runs every case of a draft; returns (passed, excepted) and fails with
/// the list of cases that failed unexpectedly.
fn run(draft: &'static str) -> (usize, usize) {
    let resources = remotes(draft);
    let (mut passed, mut excepted, mut failures) = (0, 0, Vec::new());
    for case in cases(draft) {
        let outcome = match Schema::with_resources(&case.schema, &resources) {
            Ok(schema) => {
                let violations = schema.validate(&case.data);
                if violations.is_empty() == case.valid {
                    Ok(())
                } else {
                    Err(format!("expected valid={}, got {violations:?}", case.valid))
                }
            }
            Err(e) => Err(format!("schema did not compile: {e}")),
        };
        match (outcome, is_exception(&case)) {
            (Ok(()), false) => passed += 1,
            (Err(_), true) => excepted += 1,
            (Ok(()), true) => failures.push(format!(
                "{}/{}: {} / {}: passes but is listed as an exception",
                case.draft, case.file, case.group, case.test
            )),
            (Err(why), false) => failures.push(format!(
                "{}/{}: {} / {}: {why}",
                case.draft, case.file, case.group, case.test
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("{draft}: {passed} passed, {excepted} listed exceptions");
    (passed, excepted)
}

#[test]
fn draft2020_12_required_tests_pass() {
    let (passed, _) = run("draft2020-12");
    assert!(passed > 1000, "only {passed} cases ran");
}

#[test]
fn draft7_required_tests_pass() {
    let (passed, _) = run("draft7");
    assert!(passed > 800, "only {passed} cases ran");
}

/// Strings of at least three characters and numbers of `value`.
fn scalars(value: &Value, strings: &mut BTreeSet<String>, numbers: &mut BTreeSet<String>) {
    match value {
        Value::String(s) if s.chars().count() >= 3 => {
            strings.insert(s.clone());
        }
        Value::Number(n) => {
            numbers.insert(n.to_string());
        }
        Value::Array(items) => items.iter().for_each(|v| scalars(v, strings, numbers)),
        Value::Object(map) => map.values().for_each(|v| scalars(v, strings, numbers)),
        _ => {}
    }
}

/// Every string and number the schema holds, keys included.
fn schema_texts(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::String(s) => {
            out.insert(s.clone());
        }
        Value::Number(n) => {
            out.insert(n.to_string());
        }
        Value::Array(items) => items.iter().for_each(|v| schema_texts(v, out)),
        Value::Object(map) => {
            for (k, v) in map {
                out.insert(k.clone());
                schema_texts(v, out);
            }
        }
        _ => {}
    }
}

/// The number-like tokens of a message.
fn number_tokens(message: &str) -> BTreeSet<String> {
    let re = regex::Regex::new(r"-?[0-9][0-9.eE+\-]*").expect("a valid regex");
    re.find_iter(message)
        .map(|m| m.as_str().to_owned())
        .collect()
}

#[test]
fn no_violation_message_holds_a_value_of_the_instance() {
    let mut checked = 0;
    let mut formats = 0;
    // Draft-07 asserts `format`: its optional format files hold the most
    // value-shaped messages (dates, addresses, e-mails).
    for (draft, sub) in [
        ("draft2020-12", ""),
        ("draft7", ""),
        ("draft7", "optional/format"),
    ] {
        let resources = remotes(draft);
        for case in cases_in(draft, sub).into_iter().filter(|c| !c.valid) {
            let Ok(schema) = Schema::with_resources(&case.schema, &resources) else {
                continue;
            };
            let mut in_schema = BTreeSet::new();
            schema_texts(&case.schema, &mut in_schema);
            let schema_text = case.schema.to_string();
            let (mut strings, mut numbers) = (BTreeSet::new(), BTreeSet::new());
            scalars(&case.data, &mut strings, &mut numbers);
            for violation in schema.validate(&case.data) {
                checked += 1;
                formats += usize::from(!sub.is_empty());
                let message = &violation.message;
                for s in &strings {
                    if in_schema.contains(s) || schema_text.contains(s.as_str()) {
                        continue;
                    }
                    assert!(
                        !message.contains(s.as_str()),
                        "{draft}/{}: {} / {}: message `{message}` holds the value `{s}`",
                        case.file,
                        case.group,
                        case.test
                    );
                }
                let tokens = number_tokens(message);
                let schema_numbers: Vec<f64> = in_schema
                    .iter()
                    .filter_map(|t| t.parse::<f64>().ok())
                    .collect();
                let from_schema =
                    |n: &str| n.parse::<f64>().is_ok_and(|x| schema_numbers.contains(&x));
                for n in numbers.iter().filter(|n| !from_schema(n)) {
                    assert!(
                        !tokens.contains(n),
                        "{draft}/{}: {} / {}: message `{message}` holds the number {n}",
                        case.file,
                        case.group,
                        case.test
                    );
                }
            }
        }
    }
    assert!(checked > 500, "only {checked} messages checked");
    assert!(formats > 100, "only {formats} format messages checked");
}
