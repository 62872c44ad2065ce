//! `iban`: compact or grouped IBANs, valid under ISO 7064 mod 97-10.

use regex::Regex;

use super::{Span, clear_after, clear_before, push};
use crate::policy::Detector;

/// IBANs, compact or in groups of four.
pub(super) const IBAN: &str =
    r"[A-Za-z]{2}[0-9]{2}(?:[A-Za-z0-9]{11,30}|(?: [A-Za-z0-9]{4}){2,7}(?: [A-Za-z0-9]{1,4})?)";

pub(super) fn find_ibans(re: &Regex, text: &str, found: &mut Vec<Span>) {
    let mut pos = 0;
    while let Some(m) = re.find_at(text, pos) {
        match iban_end(text, m.start(), m.end()) {
            Some(end) => {
                push(found, text, m.start(), end, Detector::Iban);
                pos = end;
            }
            // A match starts with an ASCII letter, so one byte on is a
            // character boundary.
            None => pos = m.start() + 1,
        }
    }
}

/// Where the valid IBAN that starts at `start` ends, for a candidate that
/// reaches `end`.
fn iban_end(text: &str, start: usize, end: usize) -> Option<usize> {
    if !clear_before(text, start) {
        return None;
    }
    let candidate = &text[start..end];
    let whole = clear_after(text, end).then_some(candidate.len());
    // Shorter candidates end where a space follows a group.
    let shorter = candidate.match_indices(' ').map(|(i, _)| i).rev();
    whole
        .into_iter()
        .chain(shorter)
        .find(|&e| iban_valid(&candidate[..e]))
        .map(|e| start + e)
}

/// ISO 13616 shape and ISO 7064 mod 97-10 check of an IBAN, spaces ignored.
pub(super) fn iban_valid(iban: &str) -> bool {
    let chars: Vec<u8> = iban.bytes().filter(|&b| b != b' ').collect();
    if !(15..=34).contains(&chars.len()) {
        return false;
    }
    let (head, bban) = chars.split_at(4);
    let mut remainder = 0u32;
    for &c in bban.iter().chain(head) {
        remainder = match c {
            b'0'..=b'9' => (remainder * 10 + u32::from(c - b'0')) % 97,
            b'A'..=b'Z' => (remainder * 100 + u32::from(c - b'A') + 10) % 97,
            b'a'..=b'z' => (remainder * 100 + u32::from(c - b'a') + 10) % 97,
            _ => return false,
        };
    }
    remainder == 1
}
