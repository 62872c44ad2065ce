//! The whole transform: the native engine against the compiled component,
//! on the policies of the conformance corpus. For any lead both give the
//! same filtered lead and change list, or the same failure (kind, message,
//! paths).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use leadfilter::{Filter, Secret, TransformError};
use leadfilter_engine::Engine;

/// The conformance cases whose policies are fuzzed, between them every
/// action, condition, selector, schema draft and detector.
pub const CASES: &[&str] = &[
    "corpus-landing-page-to-crm",
    "corpus-hubspot-to-sheet",
    "conditions-combinators",
    "alternatives-when",
    "scrub-overlap",
    "action-hash-keyed",
    "star-keys-masked",
    "transform-date",
    "to-move",
    "input-schema-2020-12",
    "unknown-reject",
    "array-positions",
];

/// The corpus directory of a case.
pub fn case_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/conformance")
        .join(name)
}

struct Pair {
    native: Filter,
    component: Filter,
    secrets: Vec<Secret>,
}

fn pairs() -> &'static [Mutex<Pair>] {
    static PAIRS: OnceLock<Vec<Mutex<Pair>>> = OnceLock::new();
    PAIRS.get_or_init(|| CASES.iter().map(|name| Mutex::new(pair(name))).collect())
}

fn pair(name: &str) -> Pair {
    let path = case_dir(name).join("policy.yaml");
    let loaded = leadfilter::policy::load(&path).expect("a corpus policy loads");
    let native = Filter::native(Engine::new(loaded.policy).expect("a corpus policy builds"));
    let component = Filter::from_source(&path).expect("a corpus policy compiles");
    let secrets = match std::fs::read(case_dir(name).join("secrets.json")) {
        Ok(bytes) => serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&bytes)
            .expect("secrets.json is an object")
            .into_iter()
            .map(|(name, value)| Secret {
                name,
                value: value
                    .as_str()
                    .expect("a secret is a string")
                    .as_bytes()
                    .to_vec(),
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    Pair {
        native,
        component,
        secrets,
    }
}

/// A failure as the host reports it.
fn failure(e: &TransformError) -> (String, String, Vec<String>) {
    (
        e.kind().to_owned(),
        e.message(),
        e.paths().into_iter().map(str::to_owned).collect(),
    )
}

/// One input: the first byte picks the policy, the rest is the lead.
pub fn check(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(lead) = std::str::from_utf8(rest) else {
        // The host refuses bytes that are not UTF-8 before any engine.
        return;
    };
    let pairs = pairs();
    let mut pair = pairs[usize::from(pick) % pairs.len()]
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let Pair {
        native,
        component,
        secrets,
    } = &mut *pair;
    let expected = native.transform_with(lead, secrets);
    let actual = component.transform_with(lead, secrets);
    match (&expected, &actual) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "the component filtered differently"),
        (Err(a), Err(b)) => assert_eq!(failure(a), failure(b), "the component failed differently"),
        (Ok(_), Err(b)) => panic!("only the component failed: {:?}", failure(b)),
        (Err(a), Ok(_)) => panic!("only the native engine failed: {:?}", failure(a)),
    }
    // `run` copies out only the lead: it must be the same one.
    let lead_only = component.transform_lead_with(lead, secrets);
    match (&expected, &lead_only) {
        (Ok(a), Ok(b)) => assert_eq!(&a.lead, b, "transform-lead differs from transform"),
        (Err(a), Err(b)) => assert_eq!(failure(a), failure(b), "transform-lead failed differently"),
        _ => panic!("transform-lead and transform disagree on failing"),
    }
}
