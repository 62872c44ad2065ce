//! Detecting and replacing PII in free text.
//!
//! A [`Scrubber`] is built once from the detectors a `scrub` rule names and is
//! then applied to many strings. Each detector finds candidate spans with a
//! regular expression compiled in [`Scrubber::new`] and checks them in code
//! (Luhn, ISO 7064 mod 97, SSN ranges, `std::net` address parsing). Text with
//! no ASCII digit, `@` or `:` cannot hold anything a detector finds and is
//! returned after a single byte scan; otherwise only the detectors that the
//! text can feed run (e-mail needs an `@`, URLs and IPv6 need a `:`, the rest
//! need a digit).
//!
//! # What each detector finds
//!
//! - `email`: a local part of letters, marks, digits (any script) and
//!   `. _ % + -`, an `@`, and a domain of at least two dot-separated labels
//!   (letters, marks and digits of any script, inner hyphens). Leading dots of
//!   the local part are not part of the address. A domain without a dot
//!   (`root@localhost`) is not detected. In scripts written without spaces
//!   the domain's last label runs on into adjacent letters, which are then
//!   replaced too.
//! - `url`: `http://` or `https://` (any case), a host, and everything up to
//!   white space, a control character, `<`, `>`, `"`, `'`, a backtick, or CJK
//!   and full-width punctuation (U+3000–U+303F, U+FF00–U+FFEF). Trailing
//!   `. , : ; ! ? *` and closing brackets without an opening partner in the
//!   URL are left to the text (`(see https://x.org/a_(b))` keeps its outer
//!   parenthesis).
//! - `iban`: two letters, two digits, then 11–30 letters or digits, written
//!   either without spaces or in groups of four separated by single spaces
//!   (the last group may be shorter); letters of either case; valid under
//!   ISO 7064 mod 97-10 only. When a spaced candidate does not validate,
//!   shorter candidates ending at a group boundary are tried.
//! - `credit_card`: 13–19 digits in groups separated by a single space or
//!   dash, Luhn-valid.
//! - `us_ssn`: `AAA-GG-SSSS`; not area 000, 666 or 900–999, not group 00, not
//!   serial 0000; not part of a longer dash-joined run of digits.
//! - `ipv4`: four dot-separated groups of 1–3 digits that
//!   [`std::net::Ipv4Addr`] accepts (so no leading zeros, each at most 255);
//!   not part of a longer dot-joined run (`1.2.3.4.5` is no address).
//! - `ipv6`: a run of hex digits, `:` and `.` (for an embedded IPv4 address)
//!   with at least two colons and a hex digit, that [`std::net::Ipv6Addr`]
//!   accepts once trailing dots and a trailing or leading single `:` are set
//!   aside; a zone (`%eth0`) is not part of the address. A run glued to a
//!   word is tried again after its first colon (`IPv6:fe80::1`).
//! - `phone`: an optional `+`, then 7–15 digits separated by runs of one to
//!   three spaces, dots, dashes or parentheses. A `(` just before the first
//!   digit is part of the number when the number contains a `)` (so
//!   `(555) 123-4567` is replaced whole). Any such digit sequence counts,
//!   including dates written with separators (`1987-06-15`) and numbers with
//!   dot separators (`1.234.567`): over-detection is the safe direction.
//!
//! Only ASCII digits `0`–`9` count as digits; full-width and other scripts'
//! digits are not detected. Digit-based spans never start or end inside a
//! run of digits, and never touch an ASCII letter, a digit of any script or
//! `_` (so `ID4111111111111111` and `0x1234567` are left alone). Letters of
//! other scripts do not block a detection: many languages write numbers
//! directly against words (`번호는010-1234-5678입니다`). The same holds for
//! IBANs and IPv6 addresses; e-mail addresses and URLs are delimited by their
//! own syntax.
//!
//! # Overlaps
//!
//! Where spans of different detectors overlap, the longer span (in
//! characters) wins; spans of equal length go to the first of `URL`,
//! `EMAIL`, `IBAN`, `CREDIT_CARD`, `US_SSN`, `IPV6`, `IPV4`, `PHONE`. So an
//! IPv4 address inside a URL is part of the URL, and `123-45-6789` is a
//! `US_SSN`, not a `PHONE`. Within one detector, the longest valid span
//! starting at each digit group is the candidate.
//!
//! One exception: a card number is a `CREDIT_CARD`, never a `PHONE`, even
//! where a phone reading would be longer (`+4222222222222` gives
//! `+[CREDIT_CARD]`). To that end the card numbers that win against every
//! detector but `phone` are found first, and phone candidates overlapping
//! them are discarded; digits next to a card can still form a phone number
//! of their own (`555-123-4567 4111 1111 1111 1111` gives
//! `[PHONE] [CREDIT_CARD]`).
//!
//! When `phone` is enabled and `credit_card` is not, a card number of 13–15
//! digits is replaced as a `PHONE`: nobody asked for card detection, and
//! leaving it in the text would leak it. Card numbers of 16–19 digits are too
//! long to be phone numbers; only a phone-shaped part of their groups is then
//! replaced (`4111 1111 1111 1111` gives `[PHONE] 1111`). Enable
//! `credit_card` wherever card numbers may occur.
//!
//! Each detector family has its file: `email.rs`, `url.rs`, `iban.rs`,
//! `ipv6.rs`, and `digits.rs` for the four detectors that share one pattern.
//! This file runs them and resolves overlaps.

mod digits;
mod email;
mod iban;
mod ipv6;
mod url;

use std::collections::BTreeMap;

use regex::Regex;

use crate::policy::Detector;
use digits::{DIGITS, DigitRuns};
use email::{EMAIL, find_emails};
use iban::{IBAN, find_ibans};
use ipv6::{IPV6, find_ipv6};
use url::{URL, find_urls};

/// The tie-break order: of two equally long overlapping spans, the one
/// whose detector ranks lower wins.
fn rank(detector: Detector) -> usize {
    match detector {
        Detector::Url => 0,
        Detector::Email => 1,
        Detector::Iban => 2,
        Detector::CreditCard => 3,
        Detector::UsSsn => 4,
        Detector::Ipv6 => 5,
        Detector::Ipv4 => 6,
        Detector::Phone => 7,
    }
}

/// A set of detectors, one bit each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct DetectorSet(u32);

// One bit per detector.
const _: () = assert!(Detector::ALL.len() <= u32::BITS as usize);

impl DetectorSet {
    fn of(detectors: &[Detector]) -> DetectorSet {
        DetectorSet(
            detectors
                .iter()
                .fold(0, |bits, &d| bits | DetectorSet::bit(d)),
        )
    }

    fn bit(detector: Detector) -> u32 {
        1 << detector as u32
    }

    fn contains(self, detector: Detector) -> bool {
        self.0 & DetectorSet::bit(detector) != 0
    }

    /// Whether any of `detectors` is in the set.
    fn any(self, detectors: &[Detector]) -> bool {
        self.0 & DetectorSet::of(detectors).0 != 0
    }
}

/// How many times [`Scrubber::scrub`] scans a text at most. A replacement
/// that is itself detected (a custom one holding digits, say) stops here.
pub const MAX_PASSES: usize = 4;

/// Detectors compiled once, applied to many strings.
#[derive(Debug, Clone)]
pub struct Scrubber {
    /// Which detectors run.
    enabled: DetectorSet,
    email: Option<Regex>,
    url: Option<Regex>,
    iban: Option<Regex>,
    ipv6: Option<Regex>,
    /// Shared by the detectors of [`digits::DETECTORS`].
    digits: Option<Regex>,
}

/// A detected span of the text, by byte offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: usize,
    end: usize,
    /// Length in characters, which decides overlaps.
    chars: usize,
    kind: Detector,
}

impl Scrubber {
    /// Builds the detectors. Regular expressions are compiled here, and only
    /// those that the given detectors need; repeated detectors are harmless.
    pub fn new(detectors: &[Detector]) -> Scrubber {
        let enabled = DetectorSet::of(detectors);
        let compile = |family: &[Detector], pattern: &str| {
            // The patterns are constants; a test compiles every one of them.
            enabled
                .any(family)
                .then(|| Regex::new(pattern).expect("a built-in pattern compiles"))
        };
        Scrubber {
            email: compile(&[Detector::Email], EMAIL),
            url: compile(&[Detector::Url], URL),
            iban: compile(&[Detector::Iban], IBAN),
            ipv6: compile(&[Detector::Ipv6], IPV6),
            digits: compile(digits::DETECTORS, DIGITS),
            enabled,
        }
    }

    /// `text` with every detected span replaced by `replacement`, in which
    /// `{TYPE}` becomes the detector's type name.
    ///
    /// Scrubbing is idempotent: replacing a span can join what is left on
    /// either side into a new identifier (`2001:db8::1:5551234567` is an
    /// IPv6 address whose tail is also a phone number once the address is
    /// gone), so the text is scrubbed again until nothing more is found, at
    /// most [`MAX_PASSES`] times.
    pub fn scrub(&self, text: &str, replacement: &str) -> String {
        let Some(mut out) = self.scrub_once(text, replacement) else {
            return text.to_owned();
        };
        for _ in 1..MAX_PASSES {
            match self.scrub_once(&out, replacement) {
                Some(next) if next != out => out = next,
                _ => break,
            }
        }
        out
    }

    /// One pass: `None` when nothing was found.
    fn scrub_once(&self, text: &str, replacement: &str) -> Option<String> {
        let spans = self.spans(text);
        if spans.is_empty() {
            return None;
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for span in spans {
            out.push_str(&text[at..span.start]);
            push_replacement(&mut out, replacement, span.kind.type_name());
            at = span.end;
        }
        out.push_str(&text[at..]);
        Some(out)
    }

    fn on(&self, detector: Detector) -> bool {
        self.enabled.contains(detector)
    }

    /// The winning spans, disjoint and in text order.
    fn spans(&self, text: &str) -> Vec<Span> {
        let (mut digit, mut at, mut colon) = (false, false, false);
        for byte in text.bytes() {
            match byte {
                b'0'..=b'9' => digit = true,
                b'@' => at = true,
                b':' => colon = true,
                _ => {}
            }
        }
        let mut found = Vec::new();
        if let (true, Some(re)) = (at, &self.email) {
            find_emails(re, text, &mut found);
        }
        if let (true, Some(re)) = (colon, &self.url) {
            find_urls(re, text, &mut found);
        }
        if let (true, Some(re)) = (colon, &self.ipv6) {
            find_ipv6(re, text, &mut found);
        }
        if let (true, Some(re)) = (digit, &self.iban) {
            find_ibans(re, text, &mut found);
        }
        let runs = match (digit, &self.digits) {
            (true, Some(re)) => DigitRuns::new(re, text),
            _ => return resolve(found),
        };
        for chunk in runs.chunks() {
            chunk.find_structured(self, &mut found);
        }
        if !self.on(Detector::Phone) {
            return resolve(found);
        }
        // A card number is never a phone number: phone numbers may not
        // overlap a card that wins against everything else.
        let cards: Vec<(usize, usize)> = if self.on(Detector::CreditCard) {
            resolve(found.clone())
                .into_iter()
                .filter(|s| s.kind == Detector::CreditCard)
                .map(|s| (s.start, s.end))
                .collect()
        } else {
            Vec::new()
        };
        for chunk in runs.chunks() {
            chunk.find_phones(&cards, &mut found);
        }
        resolve(found)
    }
}

/// Records a non-empty span.
fn push(found: &mut Vec<Span>, text: &str, start: usize, end: usize, kind: Detector) {
    if start < end {
        let chars = text[start..end].chars().count();
        found.push(Span {
            start,
            end,
            chars,
            kind,
        });
    }
}

/// Keeps the longest spans (ties by [`rank`], then by position) that
/// overlap no span kept before them; returns them in text order.
fn resolve(mut found: Vec<Span>) -> Vec<Span> {
    found.sort_unstable_by(|a, b| {
        b.chars
            .cmp(&a.chars)
            .then(rank(a.kind).cmp(&rank(b.kind)))
            .then(a.start.cmp(&b.start))
            .then(a.end.cmp(&b.end))
    });
    let mut kept: BTreeMap<usize, Span> = BTreeMap::new();
    for span in found {
        // Kept spans are disjoint, so the one starting last before `span`
        // ends is the only one that can overlap it.
        let clash = kept
            .range(..span.end)
            .next_back()
            .is_some_and(|(_, k)| k.end > span.start);
        if !clash {
            kept.insert(span.start, span);
        }
    }
    kept.into_values().collect()
}

/// Appends `replacement` with every `{TYPE}` replaced by `type_name`.
fn push_replacement(out: &mut String, replacement: &str, type_name: &str) {
    let mut parts = replacement.split("{TYPE}");
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    for part in parts {
        out.push_str(type_name);
        out.push_str(part);
    }
}

/// Characters that glue a digit-based span to its surroundings.
fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c.is_numeric()
}

/// Whether a span may start at `pos`.
fn clear_before(text: &str, pos: usize) -> bool {
    text[..pos].chars().next_back().is_none_or(|c| !is_word(c))
}

/// Whether a span may end at `pos`.
fn clear_after(text: &str, pos: usize) -> bool {
    text[pos..].chars().next().is_none_or(|c| !is_word(c))
}

#[cfg(test)]
mod tests;
