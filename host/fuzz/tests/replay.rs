//! Every committed corpus and regression input, through its target's
//! check: what a fuzzer once found stays fixed, and the targets keep
//! building and running in `cargo test`.

use std::path::{Path, PathBuf};

/// A target's check.
type Check = fn(&[u8]);

fn check_of(target: &str) -> Check {
    match target {
        "json" => leadfilter_fuzz::json::check,
        "policy" => leadfilter_fuzz::policy::check,
        "scrub" => leadfilter_fuzz::scrub::check,
        "transform" => leadfilter_fuzz::transform::check,
        "inbound" => leadfilter_fuzz::inbound::check,
        _ => unreachable!("no target `{target}`"),
    }
}

fn inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        files.extend(entries.map(|e| e.unwrap().path()).filter(|p| p.is_file()));
    }
    files.sort();
    files
}

fn replay(target: &str) {
    let check = check_of(target);
    let files = inputs(target);
    assert!(!files.is_empty(), "no corpus for `{target}`");
    for file in files {
        let data = std::fs::read(&file).unwrap();
        if let Err(panic) = std::panic::catch_unwind(|| check(&data)) {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("{target}: {} fails: {message}", file.display());
        }
    }
}

#[test]
fn json_corpus() {
    replay("json");
}

#[test]
fn policy_corpus() {
    replay("policy");
}

#[test]
fn scrub_corpus() {
    replay("scrub");
}

#[test]
fn transform_corpus() {
    replay("transform");
}

#[test]
fn inbound_corpus() {
    replay("inbound");
}

/// The inbound seeds are genuine requests, signed with either key of each
/// rotation: a fuzzer starts from what passes, not only from what fails.
#[test]
fn inbound_seeds_are_accepted() {
    for seed in leadfilter_fuzz::inbound::seeds() {
        assert!(
            leadfilter_fuzz::inbound::accepts(&seed),
            "a seed for scheme {} is refused",
            seed[0]
        );
    }
}

/// Writes the seed corpora from the repository's own data (run once before
/// fuzzing; see docs/fuzzing.md): `cargo test -p leadfilter-fuzz --test
/// replay -- --ignored write_seeds`.
#[test]
#[ignore]
fn write_seeds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let repo = root.join("../..");
    let write = |target: &str, name: String, data: &[u8]| {
        let dir = root.join("corpus").join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), data).unwrap();
    };
    let files = |dir: PathBuf| {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        files
    };
    let cases = files(repo.join("tests/conformance"));
    for case in cases.iter().filter(|p| p.is_dir()) {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let lead = std::fs::read(case.join("lead.json")).unwrap();
        write("json", format!("lead-{name}"), &lead);
        let mut scrub = vec![0];
        scrub.extend_from_slice(&lead);
        write("scrub", format!("lead-{name}"), &scrub);
        let policy = std::fs::read(case.join("policy.yaml")).unwrap();
        let mut yaml = vec![0];
        yaml.extend_from_slice(&policy);
        write("policy", format!("{name}.yaml"), &yaml);
        let value: serde_json::Value = serde_norway::from_slice(&policy).unwrap();
        let mut json = vec![1];
        json.extend_from_slice(value.to_string().as_bytes());
        write("policy", format!("{name}.json"), &json);
    }
    for (i, name) in leadfilter_fuzz::transform::CASES.iter().enumerate() {
        let lead =
            std::fs::read(leadfilter_fuzz::transform::case_dir(name).join("lead.json")).unwrap();
        let mut data = vec![i as u8];
        data.extend_from_slice(&lead);
        write("transform", name.to_string(), &data);
    }
    for file in files(repo.join("tests/corpus")) {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".json") {
            continue;
        }
        let lead = std::fs::read(&file).unwrap();
        write("json", format!("corpus-{name}"), &lead);
        for (target, pick) in [("scrub", 0u8), ("transform", 0), ("transform", 1)] {
            let mut data = vec![pick];
            data.extend_from_slice(&lead);
            write(target, format!("corpus-{pick}-{name}"), &data);
        }
    }
    for file in files(repo.join("tests/data/json-test-suite/test_parsing")) {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        write("json", name, &std::fs::read(&file).unwrap());
    }
    for (i, seed) in leadfilter_fuzz::inbound::seeds().iter().enumerate() {
        write("inbound", format!("seed-{i}"), seed);
    }
}
