//! What the CLI tests share: the binary run with stdin and a private
//! cache, the compiled example, the leak check.

pub use std::io::Write;
pub use std::path::{Path, PathBuf};
pub use std::process::{Command, Output, Stdio};
pub use std::sync::OnceLock;

pub const PEPPER: &str = "test-pepper-value";

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn example(name: &str) -> PathBuf {
    repo().join("examples").join(name)
}

/// A scratch directory shared by the tests of this module.
pub fn scratch() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

/// The landing-page example compiled once by the real binary.
pub fn crm_wasm() -> &'static Path {
    static WASM: OnceLock<PathBuf> = OnceLock::new();
    WASM.get_or_init(|| {
        let out = scratch().join("crm.wasm");
        let policy = example("landing-page-to-crm/policy.yaml");
        let result = leadfilter(&["compile", path(&policy), "-o", path(&out)], "");
        assert_eq!(result.status.code(), Some(0), "{}", stderr(&result));
        out
    })
}

pub fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs the binary with `args` and `stdin`, with the pepper secret set and a
/// private code cache.
pub fn leadfilter(args: &[&str], stdin: &str) -> Output {
    leadfilter_env(args, stdin, &[("LEADFILTER_SECRET_PEPPER", PEPPER)])
}

pub fn leadfilter_env(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_leadfilter"));
    command
        .args(args)
        .env_remove("LEADFILTER_SECRET_PEPPER")
        .env("LEADFILTER_CACHE_DIR", scratch().join("cache"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_owned();
    let writer = std::thread::spawn(move || {
        // The binary may exit before reading everything (a missing secret).
        let _ = input.write_all(stdin.as_bytes());
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    output
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// Asserts that none of `values` appears in `text`.
pub fn assert_no_values(text: &str, values: &[&str]) {
    for value in values {
        assert!(!text.contains(value), "`{value}` leaked into: {text}");
    }
}

pub const LEAD: &str = r#"{"lead_id":"L-1","email":"leaky.marker@example.com","consent":{"terms":true},"address":{"country":"US","city":"Springfield"},"notes":"call 312-555-0199","ip":"192.0.2.1"}"#;
