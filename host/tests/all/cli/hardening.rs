//! Regression tests of the hardening issue for `leadfilter run`, through the
//! real binary: every line of input accounted for, nonsense flags refused,
//! write errors answered with an exit code, hostile components' answers
//! never written, and no failure kind's record quoting the lead.

use super::support::*;
use crate::hostile;

/// Writes a hand-made component and returns its path.
fn component_file(name: &str, bytes: &[u8]) -> PathBuf {
    let path = scratch().join(format!("{name}.wasm"));
    std::fs::write(&path, bytes).unwrap();
    path
}

fn records(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Item 10: a cut first NDJSON line once swallowed every line after it.
#[test]
fn a_cut_first_line_costs_one_error_record_and_every_other_line_is_filtered() {
    let mut input = String::from("{\"lead_id\":\"L-0\",\"email\":\"leaky.ma\n");
    for i in 1..=1000 {
        input.push_str(&format!(
            "{{\"lead_id\":\"L-{i}\",\"email\":\"a@example.com\",\"consent\":{{\"terms\":true}}}}\n"
        ));
    }
    let out = leadfilter(&["run", path(crm_wasm()), "-q"], &input);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 1000);
    let records = records(&stderr(&out));
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["line"], 1);
    assert_eq!(records[0]["kind"], "invalid-json");
    assert_no_values(&stderr(&out), &["leaky", "L-0"]);
}

/// Item 10: a document stream that ends early says how much was not read.
#[test]
fn a_document_stream_that_ends_early_says_what_was_not_read() {
    let input = "{\n  \"lead_id\": \"L-1\", \"email\": \"a@example.com\",\n  \"consent\": {\"terms\": true}\n}\n{\n  \"lead_id\" \"leaky-marker\"\n}\n{\"lead_id\": \"L-3\"}\n";
    let out = leadfilter(&["run", path(crm_wasm())], input);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 1);
    let err = stderr(&out);
    assert!(err.contains("the input ended early"), "{err}");
    assert!(err.contains("from line 5 on were not read"), "{err}");
    assert_no_values(&err, &["leaky-marker", "L-3"]);
}

/// Item 10: a line holding only a form feed is a lead, and not JSON.
#[test]
fn a_form_feed_line_is_an_invalid_json_record() {
    let input = format!("{LEAD}\n\x0c\n{LEAD}\n");
    let out = leadfilter(&["run", path(crm_wasm()), "-q"], &input);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 2);
    let records = records(&stderr(&out));
    assert_eq!(records.len(), 1);
    assert_eq!(
        (records[0]["line"].as_u64(), records[0]["kind"].as_str()),
        (Some(2), Some("invalid-json"))
    );
}

/// Item 10: CRLF and LF count the same against `--max-lead-bytes`.
#[test]
fn crlf_and_lf_lines_count_the_same_against_the_limit() {
    let limit = LEAD.len().to_string();
    for input in [format!("{LEAD}\n"), format!("{LEAD}\r\n")] {
        let out = leadfilter(
            &["run", path(crm_wasm()), "--max-lead-bytes", &limit],
            &input,
        );
        assert_eq!(out.status.code(), Some(0), "{input:?}: {}", stderr(&out));
    }
}

/// Item 11: odd flags are usage errors (exit 2), never a panic or a silent
/// change.
#[test]
fn nonsense_flags_are_usage_errors() {
    for args in [
        &["-j", "20000"][..],
        &["-j", "0"],
        &["--timeout-ms", "0"],
        &["--memory-mib", "0"],
        &["--memory-mib", "99999999999"],
        &["--fuel", "0"],
        &["--max-lead-bytes", "0"],
        &["--max-output-bytes", "0"],
        &["--secret", "=env:X"],
        &["--secret", "pepper=env:"],
        &["--secret", "pepper=file:"],
    ] {
        let mut all = vec!["run", path(crm_wasm())];
        all.extend_from_slice(args);
        let out = leadfilter(&all, LEAD);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stdout(&out).is_empty(), "{args:?}");
    }
    // The refusal of a literal secret does not repeat it.
    let out = leadfilter(
        &[
            "run",
            path(crm_wasm()),
            "--secret",
            "pepper=hunter2-literal",
        ],
        LEAD,
    );
    assert_eq!(out.status.code(), Some(2));
    assert_no_values(&stderr(&out), &["hunter2"]);
}

/// Item 11: a full disk behind stdout or stderr is an exit code (3), not a
/// panic (101).
#[cfg(unix)]
#[test]
fn a_full_disk_is_an_exit_code() {
    let full = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap()
    };
    let run = |stdout: Stdio, stderr: Stdio, input: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_leadfilter"))
            .args(["run", path(crm_wasm())])
            .env("LEADFILTER_SECRET_PEPPER", PEPPER)
            .env("LEADFILTER_CACHE_DIR", scratch().join("cache"))
            .stdin(Stdio::piped())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap();
        let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
        child.wait_with_output().unwrap()
    };
    let out = run(Stdio::from(full()), Stdio::piped(), LEAD);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("No space left"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Error records and the summary go to a full stderr.
    let out = run(Stdio::piped(), Stdio::from(full()), "{bad\n");
    assert_eq!(out.status.code(), Some(3));
    let out = run(Stdio::piped(), Stdio::from(full()), LEAD);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the summary is not worth a failure"
    );
}

/// Item 9: an answer that is not one JSON object on one line is a runtime
/// failure, and nothing of it is written.
#[test]
fn a_component_answer_that_is_not_a_lead_is_never_written() {
    for (name, answer) in [
        ("two-lines", "{\"a\":1}\n{\"injected\":\"leaky-marker\"}"),
        ("not-json", "leaky-marker"),
        ("an-array", "[\"leaky-marker\"]"),
        ("cr", "{\"a\":\"leaky-marker\"}\r"),
    ] {
        let wasm = component_file(name, &hostile::answering(answer));
        let out = leadfilter(&["run", path(&wasm)], "{\"x\":1}\n");
        assert_eq!(out.status.code(), Some(3), "{name}: {}", stderr(&out));
        assert!(stdout(&out).is_empty(), "{name}: {}", stdout(&out));
        let records = records(&stderr(&out));
        assert_eq!(records[0]["kind"], "runtime", "{name}");
        assert_no_values(&stderr(&out), &["leaky-marker"]);
    }
    let big = format!("{{\"a\":\"{}\"}}", "x".repeat(900));
    let wasm = component_file("big", &hostile::answering(&big));
    // The limit is the most a filtered lead may have: one byte more fails.
    let (limit, over) = (big.len().to_string(), (big.len() - 1).to_string());
    let out = leadfilter(&["run", path(&wasm), "--max-output-bytes", &over], "{}\n");
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
    let out = leadfilter(&["run", path(&wasm), "--max-output-bytes", &limit], "{}\n");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{big}\n"));
    let out = leadfilter(&["run", path(&wasm)], "{}\n");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// Item 9: a component whose `info` is not what its section says is
/// refused before the first lead.
#[test]
fn a_component_whose_info_disagrees_with_its_section_is_refused() {
    let wasm = component_file("misnamed", &hostile::misnamed());
    let out = leadfilter(&["run", path(&wasm)], LEAD);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
    assert!(stderr(&out).contains("digest"), "{}", stderr(&out));
    assert!(stderr(&out).contains("altered"), "{}", stderr(&out));
}

/// Item 2: the memory limit caps all of a component's memories together.
#[test]
fn many_memories_cannot_exceed_the_memory_limit() {
    let wasm = component_file("memories", &hostile::many_memories(30, 4));
    let out = leadfilter(&["run", path(&wasm), "--memory-mib", "64"], "{}\n");
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
    let wasm = component_file("growing", &hostile::growing(100));
    let out = leadfilter(&["run", path(&wasm), "--memory-mib", "64"], "{}\n");
    assert_eq!(
        out.status.code(),
        Some(0),
        "a refused memory.grow is the component's to handle: {}",
        stderr(&out)
    );
}

/// Item 14 (c): every failure kind's error record, through the binary,
/// names paths and rules, never the lead's values.
#[test]
fn no_failure_record_quotes_the_lead() {
    let dir = scratch().join("canaries");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("in.schema.json"),
        r#"{"type":"object","properties":{"age":{"type":"integer","maximum":120},"email":{"type":"string","format":"email","maxLength":8},"consent":{},"born":{"type":"string"}},"required":["age"]}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("out.schema.json"),
        r#"{"type":"object","properties":{"born":{"type":"string","maxLength":3}}}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("policy.yaml"),
        "apiVersion: leadfilter/v1\nname: canaries\nversion: '1'\ninput: { schema: in.schema.json }\noutput: { schema: out.schema.json }\nrequire:\n  - { path: /consent, equals: true, reason: no consent }\nfields:\n  /age: drop\n  /email: drop\n  /consent: drop\n  /born: { date: { precision: day } }\n",
    )
    .unwrap();
    let policy = dir.join("policy.yaml");
    let canary = "canary-7731-value";
    let leads = [
        // input-schema: too old, an e-mail too long and not an e-mail.
        format!(r#"{{"age":7731,"email":"{canary}","consent":true}}"#),
        // transform: not a date.
        format!(r#"{{"age":1,"consent":true,"born":"{canary}"}}"#),
        // output-schema: a date longer than three characters.
        r#"{"age":1,"consent":true,"born":"1977-07-31"}"#.to_owned(),
        // rejected.
        format!(r#"{{"age":1,"consent":"{canary}"}}"#),
        // invalid-json.
        format!(r#"{{"age":1,"{canary}":}}"#),
    ];
    let input = leads.join("\n") + "\n";
    let out = leadfilter(&["run", path(&policy)], &input);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    let kinds: Vec<String> = records(&err)
        .iter()
        .map(|r| r["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds,
        [
            "input-schema",
            "transform",
            "output-schema",
            "rejected",
            "invalid-json"
        ]
    );
    assert_no_values(&err, &[canary, "7731", "1977-07-31", "1977"]);
}

/// Item 8: a cache directory others may write is not used, and an entry
/// others may write is not mapped: a swapped entry once made a genuine
/// policy pass leads through unfiltered.
#[cfg(unix)]
#[test]
fn a_cache_others_can_write_is_not_trusted() {
    use std::os::unix::fs::PermissionsExt;
    let run_with_cache = |cache: &Path, policy: &Path| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_leadfilter"))
            .args(["run", path(policy)])
            .env("LEADFILTER_SECRET_PEPPER", PEPPER)
            .env("LEADFILTER_CACHE_DIR", cache)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(LEAD.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let expected = stdout(&leadfilter(&["run", path(crm_wasm())], LEAD));
    assert!(!expected.contains("192.0.2.1"));

    // A world-writable directory: compiled in memory, one warning.
    let open = scratch().join("open-cache");
    std::fs::create_dir_all(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = run_with_cache(&open, crm_wasm());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), expected);
    assert_eq!(
        stderr(&out).matches("warning: the cache directory").count(),
        1,
        "{}",
        stderr(&out)
    );
    assert!(!open.join("components").exists());

    // A private directory the run creates 0700, with an entry swapped for
    // the machine code of a policy that keeps everything.
    let private = scratch().join("private-cache");
    let out = run_with_cache(&private, crm_wasm());
    assert_eq!(stdout(&out), expected);
    let mode = std::fs::metadata(&private).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
    let entries = || -> Vec<PathBuf> {
        std::fs::read_dir(private.join("components"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
            .collect()
    };
    let genuine = entries();
    assert_eq!(genuine.len(), 1);
    let keep_all = scratch().join("keep-all.yaml");
    std::fs::write(
        &keep_all,
        "apiVersion: leadfilter/v1\nname: keep-all\nversion: '1'\nfields:\n  \"\": keep\n",
    )
    .unwrap();
    run_with_cache(&private, &keep_all);
    let other = entries().into_iter().find(|p| *p != genuine[0]).unwrap();
    std::fs::copy(&other, &genuine[0]).unwrap();
    std::fs::set_permissions(&genuine[0], std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = run_with_cache(&private, crm_wasm());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), expected, "the swapped entry was not used");
    assert!(
        stderr(&out).contains("warning: the cache entry"),
        "{}",
        stderr(&out)
    );
}
