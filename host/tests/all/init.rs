//! `leadfilter init --from`: a starter policy from each shape of lead in
//! `tests/corpus/` checks, and its test file passes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn scratch() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

fn leadfilter(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_leadfilter"))
        .args(args)
        .env("LEADFILTER_CACHE_DIR", scratch().join("cache"))
        .output()
        .unwrap()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// Each corpus lead, and values from it that must not reach the policy or
/// the schema (they may only be in the test file).
const CORPUS: [(&str, &[&str]); 4] = [
    (
        "generic-flat",
        &[
            "Marcus",
            "Whitfield",
            "0199",
            "192.0.2.77",
            "1971",
            "Wacker",
            "6789",
        ],
    ),
    (
        "typeform-webhook",
        &["Amélie", "amelie", "33142685300", "Marc ", "Request a demo"],
    ),
    (
        "facebook-lead-ads",
        &["Jonas", "Becker", "4915123456789", "München", "80331"],
    ),
    (
        "hubspot-form-submission",
        &["Priya", "Raman", "98765", "198.51.100.23", "ABCDE1234F"],
    ),
];

#[test]
fn a_starter_from_each_corpus_shape_checks_and_its_test_passes() {
    let root = scratch().join("starters");
    for (name, values) in CORPUS {
        let sample = repo().join(format!("tests/corpus/{name}.json"));
        let dir = root.join(name);
        let out = leadfilter(&["init", "--from", path(&sample), "--dir", path(&dir)]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{name}: {err}");
        assert!(err.contains("holds the sample lead"), "{err}");
        let policy = std::fs::read_to_string(dir.join("policy.yaml")).unwrap();
        let schema = std::fs::read_to_string(dir.join("lead.schema.json")).unwrap();
        let tests = std::fs::read_to_string(dir.join("policy.test.yaml")).unwrap();
        for value in values {
            assert!(
                !policy.contains(value),
                "{name}: `{value}` in the policy:\n{policy}"
            );
            assert!(!schema.contains(value), "{name}: `{value}` in the schema");
            assert!(!err.contains(value), "{name}: `{value}` in the output");
        }
        assert!(
            tests.contains(values[0]),
            "{name}: the sample is the first case"
        );
        assert!(
            !policy.contains(": keep"),
            "{name}: nothing is kept:\n{policy}"
        );

        let check = leadfilter(&["check", path(&dir.join("policy.yaml"))]);
        assert_eq!(
            check.status.code(),
            Some(0),
            "{name}: {}",
            text(&check.stderr)
        );
    }
    let policy = |name: &str| std::fs::read_to_string(root.join(name).join("policy.yaml")).unwrap();
    assert!(policy("facebook-lead-ads").contains("\n  /field_data/[name=email]/values: drop\n"));
    assert!(policy("hubspot-form-submission").contains("\n  /fields/[name=email]/value: drop\n"));
    assert!(
        policy("typeform-webhook")
            .contains("\n  /form_response/answers/[field/ref=phone]/phone_number: drop\n")
    );
    let flat = policy("generic-flat");
    for (field, suggestion) in [
        ("/email", "hash: { key: pepper"),
        ("/phone", "mask: { keep_last: 4 }"),
        ("/first_name", "person's name"),
        ("/address/postal_code", "truncate"),
        ("/birth_date", "date: { precision: year }"),
        ("/ip", "IP address"),
        ("/notes", "scrub"),
    ] {
        let rule = format!("\n  {field}: drop\n");
        let at = flat
            .find(&rule)
            .unwrap_or_else(|| panic!("{field}:\n{flat}"));
        let comment = flat[..at].lines().last().unwrap();
        assert!(comment.contains(suggestion), "{field}: {comment}");
    }

    let out = leadfilter(&["test", path(&root), "--color", "never"]);
    let report = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{report}{}", text(&out.stderr));
    assert!(report.ends_with("4 passed, 0 failed\n"), "{report}");
}

#[test]
fn init_writes_nothing_over_existing_files_without_force() {
    let dir = scratch().join("existing");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("policy.yaml"), "mine\n").unwrap();
    let sample = repo().join("tests/corpus/generic-flat.json");
    let out = leadfilter(&["init", "--from", path(&sample), "--dir", path(&dir)]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("already exists"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("policy.yaml")).unwrap(),
        "mine\n"
    );
    assert!(!dir.join("policy.test.yaml").exists());

    let out = leadfilter(&[
        "init",
        "--from",
        path(&sample),
        "--dir",
        path(&dir),
        "--force",
        "--name",
        "crm",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        std::fs::read_to_string(dir.join("policy.yaml"))
            .unwrap()
            .contains("\nname: crm\n")
    );
}

#[test]
fn a_sample_that_is_not_a_lead_is_refused_without_its_content() {
    let sample = scratch().join("not-a-lead.json");
    std::fs::write(&sample, "[\"secret.marker@example.com\"]").unwrap();
    let out = leadfilter(&[
        "init",
        "--from",
        path(&sample),
        "--dir",
        path(&scratch().join("nl")),
    ]);
    assert_eq!(out.status.code(), Some(3));
    let err = text(&out.stderr);
    assert!(err.contains("a lead is a JSON object"), "{err}");
    assert!(!err.contains("secret.marker"), "{err}");
}
