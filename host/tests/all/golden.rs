//! Golden cases: every directory under `tests/conformance/` (format in
//! `tests/conformance/README.md`) runs through the native engine and through its
//! compiled policy component; both answers must be equal, and equal to the
//! expected files. Every mismatch of every case is collected and reported
//! together, each with a diff.
//!
//! `BLESS=1 cargo test -p leadfilter --test all golden` rewrites
//! `expected.json` or `failure.json` (and an existing `changes.json`) from
//! the native engine's answer; `GOLDEN_CASE=name` runs the cases whose
//! directory name contains `name`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use leadfilter::compile::{CompileOptions, Compiler};
use leadfilter::runtime::{CacheSetting, Runtime, RuntimeOptions};
use leadfilter_engine::{Change, Engine, Failure, Outcome, Secret};
use pretty_assertions::StrComparison;
use serde_json::{Value, json};

/// Strings, numbers and keys of a lead at least this many characters long
/// must not appear in a failure's message or paths, or in a change's path
/// (a key may, where the policy or its schemas name it).
const LEAK_MIN_CHARS: usize = 4;

/// Cases compiled at once, at most. Compiling a component to machine code is
/// the slow part, and it uses one core.
const MAX_WORKERS: usize = 4;

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/conformance")
}

/// Compiled code is cached under the target directory (as in
/// `component.rs`), so a run after the first skips Cranelift for every case
/// whose policy did not change.
fn cache() -> CacheSetting {
    CacheSetting::Directory(Path::new(env!("CARGO_TARGET_TMPDIR")).join("wasmtime-cache"))
}

fn compiler() -> &'static Compiler {
    static COMPILER: OnceLock<Compiler> = OnceLock::new();
    COMPILER.get_or_init(|| {
        Compiler::new(&CompileOptions { cache: cache() }).expect("the compiler sets up")
    })
}

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        Runtime::new(&RuntimeOptions {
            cache: cache(),
            ..RuntimeOptions::default()
        })
        .expect("the runtime sets up")
    })
}

fn blessing() -> bool {
    std::env::var("BLESS").is_ok_and(|v| !v.is_empty() && v != "0")
}

#[test]
fn golden_cases() {
    let filter = std::env::var("GOLDEN_CASE").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .expect("tests/conformance exists")
        .map(|entry| entry.expect("a directory entry reads").path())
        .filter(|path| path.is_dir())
        .filter(|path| name_of(path).contains(filter.as_str()))
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "no golden case matches `{filter}`");

    let start = Instant::now();
    let _ = (compiler(), runtime());
    let setup = start.elapsed();

    // Workers take cases in order; reports are kept by case index.
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_WORKERS)
        .min(dirs.len());
    let next = AtomicUsize::new(0);
    let reports: Vec<(usize, Report)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(dir) = dirs.get(i) else { break };
                        done.push((i, run_case(dir)));
                    }
                    done
                })
            })
            .collect();
        let mut all: Vec<(usize, Report)> = handles
            .into_iter()
            .flat_map(|worker| worker.join().expect("a golden worker finished"))
            .collect();
        all.sort_by_key(|(i, _)| *i);
        all
    });

    let compile_time: Duration = reports.iter().map(|(_, r)| r.compile_time).sum();
    let load_time: Duration = reports.iter().map(|(_, r)| r.load_time).sum();
    eprintln!(
        "golden: {} cases in {:.1?} over {workers} workers (set-up {:.1?}; in all: compiling {:.1?}, loading {:.1?})",
        reports.len(),
        start.elapsed(),
        setup,
        compile_time,
        load_time,
    );
    let mut failed = String::new();
    let mut count = 0;
    for (i, report) in &reports {
        if !report.problems.is_empty() {
            count += 1;
            let _ = writeln!(failed, "\n==== case `{}` ====", name_of(&dirs[*i]));
            for problem in &report.problems {
                let _ = writeln!(failed, "{problem}");
            }
        }
    }
    assert!(
        count == 0,
        "{count} of {} golden cases failed:\n{failed}",
        reports.len()
    );
}

fn name_of(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// What went wrong with one case.
#[derive(Default)]
struct Report {
    problems: Vec<String>,
    /// Baking the policy into the engine (Wizer).
    compile_time: Duration,
    /// Compiling the component to machine code, or reading it from the cache.
    load_time: Duration,
}

fn run_case(dir: &Path) -> Report {
    let mut report = Report::default();
    if let Err(problem) = check_case(dir, &mut report) {
        report.problems.push(problem);
    }
    report
}

/// Runs one case; `Err` for a problem that ends the case early, other
/// problems are added to the report.
fn check_case(dir: &Path, report: &mut Report) -> Result<(), String> {
    let policy_path = dir.join("policy.yaml");
    let policy_text =
        std::fs::read_to_string(&policy_path).map_err(|e| format!("policy.yaml: {e}"))?;
    let loaded = leadfilter::policy::load(&policy_path)
        .map_err(|e| format!("policy.yaml does not load:\n{e}"))?;
    let lead = std::fs::read(dir.join("lead.json")).map_err(|e| format!("lead.json: {e}"))?;
    let lead = String::from_utf8(lead).map_err(|_| "lead.json is not UTF-8".to_string())?;
    let secrets = read_secrets(dir)?;

    let native = Engine::new(loaded.policy.clone())
        .map_err(|e| format!("the native engine refuses the policy: {e}"))?
        .transform(&lead, &secrets);

    let start = Instant::now();
    let component = compiler()
        .compile(&loaded.policy.canonical_json())
        .map_err(|e| format!("the policy does not compile: {e}"))?;
    report.compile_time = start.elapsed();
    let policy = runtime()
        .load(&component)
        .map_err(|e| format!("the component does not load: {e}"))?;
    report.load_time = start.elapsed() - report.compile_time;
    let wasm = policy
        .instantiate()
        .and_then(|mut instance| instance.transform(&lead, &secrets))
        .map_err(|e| format!("the component does not run: {e}"))?;
    if wasm != native {
        report.problems.push(format!(
            "the component and the native engine disagree (left: native, right: component):\n{}",
            pretty_assertions::Comparison::new(&native, &wasm)
        ));
    }

    // The canonical policy holds the schemas, whose names may be shown too.
    let named = format!(
        "{policy_text}\n{}",
        String::from_utf8_lossy(&loaded.policy.canonical_json())
    );
    report.problems.extend(leaks(&lead, &named, &native));
    if blessing() {
        bless(dir, &native)
    } else {
        compare(dir, &native, report)
    }
}

/// `secrets.json`: `{"name": "value"}`, the value's UTF-8 bytes.
fn read_secrets(dir: &Path) -> Result<Vec<Secret>, String> {
    let path = dir.join("secrets.json");
    if !path.exists() {
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(&path).map_err(|e| format!("secrets.json: {e}"))?;
    let map: serde_json::Map<String, Value> =
        serde_json::from_str(&text).map_err(|e| format!("secrets.json: {e}"))?;
    map.into_iter()
        .map(|(name, value)| match value {
            Value::String(value) => Ok(Secret {
                name,
                value: value.into_bytes(),
            }),
            _ => Err(format!("secrets.json: `{name}` is not a string")),
        })
        .collect()
}

/// The text of `expected.json`: the compact lead and a newline.
fn expected_text(outcome: &Outcome) -> String {
    format!("{}\n", outcome.lead)
}

/// The text of `changes.json`: one change a line.
fn changes_text(changes: &[Change]) -> String {
    if changes.is_empty() {
        return "[]\n".to_string();
    }
    let lines: Vec<String> = changes
        .iter()
        .map(|c| {
            format!(
                "  {{\"path\": {}, \"action\": {}}}",
                Value::String(c.path.clone()),
                Value::String(c.action.clone())
            )
        })
        .collect();
    format!("[\n{}\n]\n", lines.join(",\n"))
}

/// `failure.json`: the kind, the `Display` without its `kind: ` prefix, and
/// the paths of the violations.
fn failure_value(failure: &Failure) -> Value {
    let display = failure.to_string();
    let prefix = format!("{}: ", failure.kind());
    let message = display.strip_prefix(&prefix).unwrap_or(&display);
    json!({
        "kind": failure.kind(),
        "message": message,
        "paths": failure_paths(failure),
    })
}

fn failure_paths(failure: &Failure) -> Vec<String> {
    match failure {
        Failure::InputSchema(violations) | Failure::OutputSchema(violations) => {
            violations.iter().map(|v| v.path.clone()).collect()
        }
        Failure::Transform(violation) => vec![violation.path.clone()],
        Failure::InvalidJson(_) | Failure::Rejected(_) | Failure::MissingSecret(_) => Vec::new(),
    }
}

fn failure_text(failure: &Failure) -> String {
    let mut text =
        serde_json::to_string_pretty(&failure_value(failure)).expect("a failure serialises");
    text.push('\n');
    text
}

fn read_optional(path: &Path) -> Result<Option<String>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

fn compare(
    dir: &Path,
    answer: &Result<Outcome, Failure>,
    report: &mut Report,
) -> Result<(), String> {
    let expected = read_optional(&dir.join("expected.json"))?;
    let failure = read_optional(&dir.join("failure.json"))?;
    let changes = read_optional(&dir.join("changes.json"))?;
    match (&expected, &failure) {
        (None, None) => {
            return Err(
                "the case has neither expected.json nor failure.json (write one, or run with BLESS=1)"
                    .to_string(),
            );
        }
        (Some(_), Some(_)) => {
            return Err("the case has both expected.json and failure.json".to_string());
        }
        _ => {}
    }
    match answer {
        Ok(outcome) => {
            let actual = expected_text(outcome);
            match &expected {
                Some(expected) if *expected == actual => {}
                Some(expected) => report.problems.push(format!(
                    "expected.json differs (left: expected, right: actual):\n{}",
                    StrComparison::new(expected, &actual)
                )),
                None => report.problems.push(format!(
                    "failure.json expects a failure, but the lead passed:\n{actual}"
                )),
            }
            if let Some(changes) = changes {
                let want: Value = serde_json::from_str(&changes)
                    .map_err(|e| format!("changes.json is not JSON: {e}"))?;
                let actual = changes_text(&outcome.changes);
                let got: Value = serde_json::from_str(&actual).expect("changes serialise");
                if want != got {
                    report.problems.push(format!(
                        "changes.json differs (left: expected, right: actual):\n{}",
                        StrComparison::new(&changes, &actual)
                    ));
                }
            }
        }
        Err(actual) => {
            let actual_text = failure_text(actual);
            match &failure {
                Some(failure) => {
                    let want: Value = serde_json::from_str(failure)
                        .map_err(|e| format!("failure.json is not JSON: {e}"))?;
                    if want != failure_value(actual) {
                        report.problems.push(format!(
                            "failure.json differs (left: expected, right: actual):\n{}",
                            StrComparison::new(failure, &actual_text)
                        ));
                    }
                }
                None => report.problems.push(format!(
                    "expected.json expects an output, but the lead failed:\n{actual_text}"
                )),
            }
            if changes.is_some() {
                report
                    .problems
                    .push("changes.json is there, but the lead failed".to_string());
            }
        }
    }
    Ok(())
}

/// Rewrites the expected files from `answer`: `expected.json` or
/// `failure.json` (the other is removed), and `changes.json` where it
/// exists.
fn bless(dir: &Path, answer: &Result<Outcome, Failure>) -> Result<(), String> {
    let write = |name: &str, text: &str| {
        std::fs::write(dir.join(name), text).map_err(|e| format!("cannot write {name}: {e}"))
    };
    let remove = |name: &str| match std::fs::remove_file(dir.join(name)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot remove {name}: {e}")),
    };
    match answer {
        Ok(outcome) => {
            write("expected.json", &expected_text(outcome))?;
            remove("failure.json")?;
            if dir.join("changes.json").exists() {
                write("changes.json", &changes_text(&outcome.changes))?;
            }
        }
        Err(failure) => {
            write("failure.json", &failure_text(failure))?;
            remove("expected.json")?;
            remove("changes.json")?;
        }
    }
    Ok(())
}

/// The problem of an answer whose diagnostics show a string, number or key
/// of the lead: a failure's message and paths, or a change list's paths. A
/// value or key that the policy or its schemas spell out (`policy_text`: a
/// selector's text, a `when` value, a rule's path, a schema's property)
/// may appear as part of a path or rule. Numbers made of digits alone are
/// not looked for in paths, where they are array indices.
fn leaks(lead: &str, policy_text: &str, answer: &Result<Outcome, Failure>) -> Option<String> {
    let (what, display, paths) = match answer {
        Err(failure) => ("failure", failure.to_string(), failure_paths(failure)),
        Ok(outcome) => {
            let paths = outcome.changes.iter().map(|c| c.path.clone()).collect();
            ("change list", String::new(), paths)
        }
    };
    let (values, keys) = scan(lead);
    let leaked: Vec<String> = values
        .into_iter()
        .chain(keys.into_iter().flat_map(|key| [escaped(&key), key]))
        .filter(|value| value.chars().count() >= LEAK_MIN_CHARS)
        .filter(|value| !policy_text.contains(value.as_str()))
        .filter(|value| {
            let index = value.bytes().all(|b| b.is_ascii_digit());
            display.contains(value.as_str())
                || (!index && paths.iter().any(|p| p.contains(value.as_str())))
        })
        .collect();
    (!leaked.is_empty()).then(|| {
        format!(
            "the {what} shows {} value(s) or key(s) of the lead: {display} {paths:?}",
            leaked.len()
        )
    })
}

/// `key` as a JSON Pointer segment writes it (RFC 6901).
fn escaped(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Every string value (not member name) and number of `lead`, found by a
/// tolerant scan, since the lead may be invalid JSON. A string is taken
/// both decoded (when its escapes decode) and as written.
fn lead_values(lead: &str) -> Vec<String> {
    scan(lead).0
}

/// The values of `lead` as [`lead_values`] finds them, and its member
/// names, taken the same way.
fn scan(lead: &str) -> (Vec<String>, Vec<String>) {
    let mut values = Vec::new();
    let mut keys = Vec::new();
    let mut chars = lead.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        match c {
            '"' => {
                let mut end = None;
                let mut escaped = false;
                for (i, c) in chars.by_ref() {
                    match c {
                        _ if escaped => escaped = false,
                        '\\' => escaped = true,
                        '"' => {
                            end = Some(i);
                            break;
                        }
                        _ => {}
                    }
                }
                let after = end.map_or(lead.len(), |end| end + 1);
                let found = if lead[after..].trim_start().starts_with(':') {
                    &mut keys
                } else {
                    &mut values
                };
                let raw = &lead[start + 1..end.unwrap_or(lead.len())];
                found.push(raw.to_string());
                if let Ok(decoded) = serde_json::from_str::<String>(&lead[start..after]) {
                    found.push(decoded);
                }
            }
            '-' | '0'..='9' => {
                let mut end = start + 1;
                while let Some(&(i, c)) = chars.peek() {
                    if c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-') {
                        end = i + 1;
                        chars.next();
                    } else {
                        break;
                    }
                }
                values.push(lead[start..end].to_string());
            }
            _ => {}
        }
    }
    (values, keys)
}

#[test]
fn the_leak_scan_finds_values_not_names() {
    let values =
        lead_values(r#"{"name": "Ada \"L\"", "n": -1.5e3, "bad": "\ud800", "x": [true, "tail"#);
    assert_eq!(
        values,
        vec![
            r#"Ada \"L\""#.to_string(),
            r#"Ada "L""#.to_string(),
            "-1.5e3".to_string(),
            r"\ud800".to_string(),
            "tail".to_string(),
        ]
    );
}

#[test]
fn the_leak_check_catches_a_value_in_a_message() {
    let lead = r#"{"birth_date": "30/09/1971", "ref": "email"}"#;
    let leaking = Failure::Transform(leadfilter_engine::Violation {
        path: "/birth_date".into(),
        message: "`30/09/1971` is not a date".into(),
    });
    assert!(leaks(lead, "/birth_date", &Err(leaking)).is_some());
    let clean = Failure::Transform(leadfilter_engine::Violation {
        path: "/birth_date".into(),
        message: "`date` needs an RFC 3339 date or date-time".into(),
    });
    assert!(leaks(lead, "/birth_date", &Err(clean)).is_none());
    // A value that the policy spells out may appear.
    let named = Failure::Rejected("no rule governs `/email`".into());
    assert!(leaks(lead, "/fields/[ref=email]", &Err(named.clone())).is_none());
    assert!(leaks(lead, "", &Err(named)).is_some());
}

#[test]
fn the_leak_check_treats_keys_as_values_unless_the_policy_names_them() {
    let lead = r#"{"utm": {"jane@example.com": 1, "a/b~c": 2}, "tags": [1, 2]}"#;
    let rejected = |path: &str| Err(Failure::Rejected(format!("no rule governs `{path}`")));
    assert!(leaks(lead, "/utm/*", &rejected("/utm/jane@example.com")).is_some());
    assert!(leaks(lead, "/utm/*", &rejected("/utm/a~1b~0c")).is_some());
    assert!(leaks(lead, "/utm/*", &rejected("/utm/*")).is_none());
    assert!(leaks(lead, "/utm/a~1b~0c", &rejected("/utm/a~1b~0c")).is_none());
    let changes = |paths: &[&str]| {
        Ok(Outcome {
            lead: "{}".into(),
            changes: paths
                .iter()
                .map(|path| Change {
                    path: (*path).into(),
                    action: "keep".into(),
                })
                .collect(),
        })
    };
    assert!(leaks(lead, "/utm/*", &changes(&["/utm/jane@example.com"])).is_some());
    assert!(leaks(lead, "/utm/*", &changes(&["/utm/*", "/utm/*"])).is_none());
    // An index is no leak, even where a number of the lead has its digits.
    let lead = r#"{"tags": [1234, 2, 3]}"#;
    assert!(leaks(lead, "/tags/*", &changes(&["/tags/1234"])).is_none());
}
