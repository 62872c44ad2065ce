//! Free-text scrubbing: any text, every detector, never a panic, and
//! scrubbing what was scrubbed changes nothing.

use leadfilter_engine::policy::Detector;
use leadfilter_engine::scrub::Scrubber;
use std::sync::OnceLock;

/// One input: the first byte picks the detectors (all of them, or one
/// family), the rest is the text.
pub fn check(data: &[u8]) {
    static ALL: OnceLock<Vec<Scrubber>> = OnceLock::new();
    let scrubbers = ALL.get_or_init(|| {
        let mut scrubbers = vec![Scrubber::new(Detector::ALL)];
        scrubbers.extend(Detector::ALL.iter().map(|d| Scrubber::new(&[*d])));
        scrubbers
    });
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let scrubber = &scrubbers[usize::from(pick) % scrubbers.len()];
    let once = scrubber.scrub(text, "[{TYPE}]");
    let twice = scrubber.scrub(&once, "[{TYPE}]");
    assert_eq!(once, twice, "scrubbing is not idempotent");
}
