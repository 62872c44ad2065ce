//! `ipv6`: addresses that `std::net::Ipv6Addr` accepts.

use std::net::Ipv6Addr;

use regex::Regex;

use super::{Span, clear_after, clear_before, push};
use crate::policy::Detector;

/// Runs of hex digits, dots and colons with at least one colon.
pub(super) const IPV6: &str = r"[0-9A-Fa-f.]*:[0-9A-Fa-f.:]*";

pub(super) fn find_ipv6(re: &Regex, text: &str, found: &mut Vec<Span>) {
    for m in re.find_iter(text) {
        let (mut start, mut end) = (m.start(), m.end());
        while text[start..end].ends_with('.') {
            end -= 1;
        }
        if text[start..end].ends_with(':') && !text[start..end].ends_with("::") {
            end -= 1;
        }
        if text[start..end].starts_with(':') && !text[start..end].starts_with("::") {
            start += 1;
        }
        let span = if clear_before(text, start) {
            ipv6_at(text, start, end).then_some(start)
        } else {
            // `IPv6:fe80::1`: the candidate starts inside a word; try the
            // part after its first colon.
            text[start..end]
                .find(':')
                .map(|i| start + i + 1)
                .filter(|&s| !text[s..end].starts_with(':') && ipv6_at(text, s, end))
        };
        if let Some(start) = span {
            push(found, text, start, end, Detector::Ipv6);
        }
    }
}

/// Whether `text[start..end]` is a standalone IPv6 address.
fn ipv6_at(text: &str, start: usize, end: usize) -> bool {
    let candidate = &text[start..end];
    candidate.bytes().filter(|&b| b == b':').count() >= 2
        && candidate.bytes().any(|b| b.is_ascii_hexdigit())
        && clear_before(text, start)
        && clear_after(text, end)
        && candidate.parse::<Ipv6Addr>().is_ok()
}
