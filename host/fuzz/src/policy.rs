//! The policy loader: any YAML or JSON is a policy or a list of
//! diagnostics, never a panic; a policy that loads builds an engine that
//! filters a lead without panicking.

use std::path::Path;

use leadfilter::policy::load_source;
use leadfilter_engine::Engine;

/// A lead with a bit of everything, for a policy that loads.
const LEAD: &str = r#"{"email":"ada@example.com","first_name":"Ada","phone":"+1 555 123 4567","notes":"call 555-123-4567","age":37,"tags":["a",{"b":null}],"utm":{"source":"x"},"consent":true}"#;

/// One input: the first byte picks YAML or JSON, the rest is the text.
/// Schema files it names are looked for in a directory that does not exist.
pub fn check(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let path = if pick & 1 == 0 {
        Path::new("/nonexistent/leadfilter-fuzz/policy.yaml")
    } else {
        Path::new("/nonexistent/leadfilter-fuzz/policy.json")
    };
    let Ok(loaded) = load_source(path, text) else {
        return;
    };
    let engine = Engine::new(loaded.policy).expect("a checked policy builds an engine");
    let _ = engine.transform(LEAD, &[]);
}
