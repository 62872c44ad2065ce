//! `leadfilter test` and `leadfilter::testing`: policy unit tests, run
//! through the real binary and through the library. Every example policy's
//! test file must pass here, so `scripts/test` (and CI) run them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use leadfilter::runtime::{CacheSetting, RuntimeOptions};
use leadfilter::testing::{CaseOutcome, Runner, RunnerOptions, report};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn scratch() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/testing")
}

fn leadfilter(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_leadfilter"))
        .args(args)
        .env("LEADFILTER_CACHE_DIR", scratch().join("cache"))
        .env_remove("NO_COLOR")
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A copy of the landing-page example's test file with the first case's
/// expected postal code wrong and only its first two cases, against the
/// example policy.
fn broken_example() -> &'static Path {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        let example = repo().join("examples/landing-page-to-crm");
        let text = std::fs::read_to_string(example.join("policy.test.yaml")).unwrap();
        let cases = text
            .split("\n  - name: a lead that did not accept the terms")
            .next()
            .unwrap();
        assert!(
            cases.contains("postal_code: \"606\""),
            "the example changed"
        );
        let lead = example.join("lead.json").canonicalize().unwrap();
        let broken = cases
            .replace("postal_code: \"606\"", "postal_code: \"60606\"")
            .replace(
                "lead_file: lead.json",
                &format!("lead_file: {}", serde_json::to_string(path(&lead)).unwrap()),
            );
        let policy = example.join("policy.yaml").canonicalize().unwrap();
        let dir = scratch().join("broken");
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("crm.test.yaml");
        std::fs::write(
            &file,
            format!(
                "policy: {}\n{broken}",
                serde_json::to_string(path(&policy)).unwrap()
            ),
        )
        .unwrap();
        file
    })
}

#[test]
fn every_example_passes_its_tests_with_full_coverage() {
    let out = leadfilter(&[
        "test",
        path(&repo().join("examples")),
        "--fail-under",
        "100",
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    // Every example policy has a test file, and it ran.
    for entry in std::fs::read_dir(repo().join("examples")).unwrap() {
        let dir = entry.unwrap().path();
        if dir.join("policy.yaml").is_file() {
            let name = dir.file_name().unwrap().to_str().unwrap().to_owned();
            assert!(
                text.contains(&format!("{name}/policy.test.yaml")),
                "examples/{name} has no tests: {text}"
            );
        }
    }
    assert!(!text.contains("FAIL"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "colour when not on a terminal: {text}"
    );
    let last = text.lines().last().unwrap();
    let passed: usize = last
        .strip_suffix(" passed, 0 failed")
        .unwrap_or_else(|| panic!("{last}"))
        .parse()
        .unwrap();
    assert!(passed >= 12, "{last}");
    let total = text
        .lines()
        .find(|l| l.starts_with("coverage in all: "))
        .unwrap();
    assert!(total.ends_with(" (100%)"), "{text}");
}

#[test]
fn a_broken_example_fails_with_a_readable_diff_and_uncovered_rules() {
    let out = leadfilter(&[
        "test",
        path(broken_example()),
        "--fail-under",
        "100",
        "--color",
        "never",
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(&out));
    assert!(
        text.contains("  FAIL the sample lead reaches the CRM minimised\n"),
        "{text}"
    );
    assert!(
        text.contains("the output differs from the expected output"),
        "{text}"
    );
    // Only the differing line is marked, with context around it.
    assert!(text.contains("\"city\": \"Chicago\",\n"), "{text}");
    assert!(
        text.contains("-     \"postal_code\": \"60606\",\n"),
        "{text}"
    );
    assert!(text.contains("+     \"postal_code\": \"606\",\n"), "{text}");
    assert!(text.contains("\n       - expected + actual\n"), "{text}");
    let marked = |prefix: &str| {
        text.lines()
            .filter(|l| l.starts_with(prefix) && !l.ends_with("expected + actual"))
            .count()
    };
    assert_eq!((marked("       - "), marked("       + ")), (1, 1), "{text}");
    // What no case exercised, counted exactly.
    assert!(
        text.contains("not covered require[0] (rejects: the lead did not accept the terms)"),
        "{text}"
    );
    assert!(
        text.contains("policy.yaml: 22/23 (95.65%) rules, alternatives and requirements covered\n"),
        "{text}"
    );
    assert!(text.contains("coverage of "), "{text}");
    assert!(text.ends_with("1 passed, 1 failed\n"), "{text}");
    assert!(
        stderr(&out).contains("is below `--fail-under 100%`"),
        "{}",
        stderr(&out)
    );

    let coloured = leadfilter(&["test", path(broken_example()), "--color", "always"]);
    assert!(
        stdout(&coloured).contains("\u{1b}[31m-     \"postal_code\""),
        "{}",
        stdout(&coloured)
    );
}

#[test]
fn the_library_runs_the_same_cases_and_writes_junit_that_ci_reads() {
    let options = RunnerOptions {
        runtime: RuntimeOptions {
            cache: CacheSetting::Directory(scratch().join("cache")),
            ..RuntimeOptions::default()
        },
    };
    let mut runner = Runner::new(&options).unwrap();
    let report = runner.run_paths(&[broken_example().to_owned()]).unwrap();
    assert_eq!(
        (report.passed(), report.failed(), report.errors()),
        (1, 1, 0)
    );
    let outcomes: Vec<&CaseOutcome> = report.files[0].cases.iter().map(|c| &c.outcome).collect();
    assert!(matches!(outcomes[0], CaseOutcome::Failed { .. }));
    assert_eq!(outcomes[1], &CaseOutcome::Passed);
    let ratio = report.total_coverage();
    assert!(ratio.covered < ratio.total, "{ratio}");

    let xml = report::junit(&report);
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}: {xml}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    for attribute in ["tests", "failures", "errors", "time"] {
        assert!(root.attribute(attribute).is_some(), "{attribute}: {xml}");
    }
    let suites: Vec<_> = root.children().filter(|n| n.is_element()).collect();
    assert_eq!(suites.len(), 1);
    let suite = suites[0];
    assert_eq!(suite.tag_name().name(), "testsuite");
    assert_eq!(suite.attribute("tests"), Some("2"));
    assert_eq!(suite.attribute("failures"), Some("1"));
    assert_eq!(suite.attribute("errors"), Some("0"));
    assert!(suite.attribute("name").unwrap().ends_with("crm.test.yaml"));
    suite.attribute("time").unwrap().parse::<f64>().unwrap();
    let cases: Vec<_> = suite
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 2);
    for case in &cases {
        assert!(case.attribute("name").is_some());
        assert!(case.attribute("classname").unwrap().ends_with("crm"));
        case.attribute("time").unwrap().parse::<f64>().unwrap();
    }
    let failure = cases[0]
        .children()
        .find(|n| n.has_tag_name("failure"))
        .expect("a <failure> in the failed case");
    assert_eq!(
        failure.attribute("message"),
        Some("the output differs from the expected output")
    );
    assert!(failure.attribute("type").is_some());
    assert!(
        failure
            .text()
            .unwrap()
            .contains("-     \"postal_code\": \"60606\",")
    );
    assert!(cases[1].children().all(|n| !n.is_element()));
    let properties = suite
        .children()
        .find(|n| n.has_tag_name("properties"))
        .unwrap();
    assert!(
        properties
            .children()
            .any(|p| p.attribute("name") == Some("coverage"))
    );

    // `--coverage` lists every item, covered or not.
    let all = report::text(&report, false, true);
    assert!(
        all.contains("  covered     fields./address/city (keep)\n"),
        "{all}"
    );
    assert!(
        all.contains("  not covered require[0] (rejects: the lead did not accept the terms)\n"),
        "{all}"
    );
    assert!(!report::text(&report, false, false).contains("  covered     "));

    let json: serde_json::Value = serde_json::from_str(&report::json(&report)).unwrap();
    assert_eq!(json["passed"], 1);
    assert_eq!(json["failed"], 1);
    assert_eq!(json["files"][0]["cases"][0]["status"], "failed");
    assert_eq!(json["files"][0]["cases"][1]["status"], "passed");
}

#[test]
fn an_invalid_test_file_names_the_place_and_runs_nothing() {
    let out = leadfilter(&["test", path(&fixtures().join("invalid.test.yaml"))]);
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains("invalid.test.yaml: cases[1].expect"),
        "{text}"
    );
    assert!(text.contains("`failure: rejected`"), "{text}");
    assert!(text.ends_with("0 passed, 1 failed\n"), "{text}");
}

#[test]
fn a_policy_that_does_not_check_fails_every_case_as_an_error() {
    let out = leadfilter(&[
        "test",
        path(&fixtures().join("bad-policy.test.yaml")),
        "--format",
        "junit",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    let xml = stdout(&out);
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let errors: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("error"))
        .collect();
    assert_eq!(errors.len(), 2, "{xml}");
    assert!(
        errors[0]
            .attribute("message")
            .unwrap()
            .contains("fields./emial"),
        "{xml}"
    );
    assert_eq!(stderr(&out).trim_end(), "0 passed, 2 failed");
}

#[test]
fn paths_without_tests_are_an_error() {
    let empty = scratch().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = leadfilter(&["test", path(&empty)]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("no test files"), "{}", stderr(&out));
    let lonely = scratch().join("lonely.yaml");
    std::fs::write(&lonely, "apiVersion: leadfilter/v1\n").unwrap();
    let out = leadfilter(&["test", path(&lonely)]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("has no test file"),
        "{}",
        stderr(&out)
    );
    let out = leadfilter(&["test", "--fail-under", "101", path(&empty)]);
    assert_eq!(out.status.code(), Some(2));
}

/// Hardening (item 9): `leadfilter test` on a component that was not
/// compiled from the source beside it says so, and runs no case.
#[test]
fn a_component_that_does_not_match_its_source_says_so() {
    let dir = scratch().join("stale");
    std::fs::create_dir_all(&dir).unwrap();
    let source = "apiVersion: leadfilter/v1\nname: stale\nversion: '1'\nfields:\n  /a: keep\n";
    std::fs::write(dir.join("stale.yaml"), source).unwrap();
    std::fs::write(
        dir.join("stale.test.yaml"),
        "cases:\n  - name: keeps a\n    lead: { a: 1, b: 2 }\n    expect: { output: { a: 1 } }\n",
    )
    .unwrap();
    let wasm = dir.join("stale.wasm");
    let out = leadfilter(&["compile", path(&dir.join("stale.yaml")), "-o", path(&wasm)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = leadfilter(&["test", path(&wasm)]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    // The source changes; the component does not.
    std::fs::write(
        dir.join("stale.yaml"),
        source.replace("/a: keep", "/b: keep"),
    )
    .unwrap();
    let out = leadfilter(&["test", path(&wasm)]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let text = stdout(&out);
    assert!(text.contains("was not compiled from"), "{text}");
    assert!(text.contains("leadfilter compile"), "{text}");
}
