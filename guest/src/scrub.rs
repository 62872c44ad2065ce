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

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Range;

use regex::Regex;

use crate::policy::Detector;

/// E-mail addresses: local part, `@`, at least two domain labels.
const EMAIL: &str = r"[\p{L}\p{M}\p{N}_%+.\-]+@[\p{L}\p{M}\p{N}](?:[\p{L}\p{M}\p{N}\-]*[\p{L}\p{M}\p{N}])?(?:\.[\p{L}\p{M}\p{N}](?:[\p{L}\p{M}\p{N}\-]*[\p{L}\p{M}\p{N}])?)+";

/// http(s) URLs: the first character after `//` starts the host.
const URL: &str = r#"(?i:https?)://[^\s\p{Cc}<>"'`/?#\x{3000}-\x{303F}\x{FF00}-\x{FFEF}][^\s\p{Cc}<>"'`\x{3000}-\x{303F}\x{FF00}-\x{FFEF}]*"#;

/// IBANs, compact or in groups of four.
const IBAN: &str =
    r"[A-Za-z]{2}[0-9]{2}(?:[A-Za-z0-9]{11,30}|(?: [A-Za-z0-9]{4}){2,7}(?: [A-Za-z0-9]{1,4})?)";

/// Runs of hex digits, dots and colons with at least one colon.
const IPV6: &str = r"[0-9A-Fa-f.]*:[0-9A-Fa-f.:]*";

/// Digit groups joined by short runs of phone separators: the material of
/// `phone`, `credit_card`, `us_ssn` and `ipv4`, which are told apart in code.
const DIGITS: &str = r"[0-9]+(?:[ .()\-]{1,3}[0-9]+)*";

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

/// Detectors compiled once, applied to many strings.
#[derive(Debug, Clone)]
pub struct Scrubber {
    /// Which detectors run, indexed by [`rank`].
    enabled: [bool; 8],
    email: Option<Regex>,
    url: Option<Regex>,
    iban: Option<Regex>,
    ipv6: Option<Regex>,
    /// Shared by `phone`, `credit_card`, `us_ssn` and `ipv4`.
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
        let mut enabled = [false; 8];
        for &detector in detectors {
            enabled[rank(detector)] = true;
        }
        let on = |detector: Detector| enabled[rank(detector)];
        let compile = |wanted: bool, pattern: &str| {
            // The patterns are constants; a test compiles every one of them.
            wanted.then(|| Regex::new(pattern).expect("a built-in pattern compiles"))
        };
        Scrubber {
            email: compile(on(Detector::Email), EMAIL),
            url: compile(on(Detector::Url), URL),
            iban: compile(on(Detector::Iban), IBAN),
            ipv6: compile(on(Detector::Ipv6), IPV6),
            digits: compile(
                on(Detector::Phone)
                    || on(Detector::CreditCard)
                    || on(Detector::UsSsn)
                    || on(Detector::Ipv4),
                DIGITS,
            ),
            enabled,
        }
    }

    /// `text` with every detected span replaced by `replacement`, in which
    /// `{TYPE}` becomes the detector's type name.
    pub fn scrub(&self, text: &str, replacement: &str) -> String {
        let spans = self.spans(text);
        if spans.is_empty() {
            return text.to_owned();
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for span in spans {
            out.push_str(&text[at..span.start]);
            push_replacement(&mut out, replacement, span.kind.type_name());
            at = span.end;
        }
        out.push_str(&text[at..]);
        out
    }

    fn on(&self, detector: Detector) -> bool {
        self.enabled[rank(detector)]
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

/// The matches of [`DIGITS`] in a text, split into their digit groups: the
/// material of `phone`, `credit_card`, `us_ssn` and `ipv4`.
struct DigitRuns<'a> {
    text: &'a str,
    /// Byte ranges of the maximal runs of digits of every chunk, in order.
    groups: Vec<(usize, usize)>,
    /// Per chunk: its range of `groups`, and whether its first group may
    /// start a span and its last group may end one.
    chunks: Vec<(Range<usize>, bool, bool)>,
}

impl<'a> DigitRuns<'a> {
    fn new(re: &Regex, text: &'a str) -> DigitRuns<'a> {
        let mut groups = Vec::new();
        let mut chunks = Vec::new();
        for chunk in re.find_iter(text) {
            let first = groups.len();
            let mut start = None;
            for (i, byte) in chunk.as_str().bytes().enumerate() {
                match (byte.is_ascii_digit(), start) {
                    (true, None) => start = Some(i),
                    (false, Some(s)) => {
                        groups.push((chunk.start() + s, chunk.start() + i));
                        start = None;
                    }
                    _ => {}
                }
            }
            if let Some(s) = start {
                groups.push((chunk.start() + s, chunk.end()));
            }
            chunks.push((
                first..groups.len(),
                clear_before(text, chunk.start()),
                clear_after(text, chunk.end()),
            ));
        }
        DigitRuns {
            text,
            groups,
            chunks,
        }
    }

    fn chunks(&self) -> impl Iterator<Item = Chunk<'_>> {
        self.chunks
            .iter()
            .map(|(range, open_before, open_after)| Chunk {
                text: self.text,
                groups: &self.groups[range.clone()],
                open_before: *open_before,
                open_after: *open_after,
            })
    }
}

/// The digit groups of one match of [`DIGITS`].
struct Chunk<'a> {
    text: &'a str,
    /// Byte ranges of the maximal digit runs, in order.
    groups: &'a [(usize, usize)],
    /// Whether the first group may start a span.
    open_before: bool,
    /// Whether the last group may end one.
    open_after: bool,
}

impl Chunk<'_> {
    /// The separators between group `i` and group `i + 1`.
    fn sep(&self, i: usize) -> &str {
        &self.text[self.groups[i].1..self.groups[i + 1].0]
    }

    fn digits(&self, i: usize) -> usize {
        self.groups[i].1 - self.groups[i].0
    }

    fn can_start(&self, i: usize) -> bool {
        i > 0 || self.open_before
    }

    fn can_end(&self, j: usize) -> bool {
        j + 1 < self.groups.len() || self.open_after
    }

    /// Whether groups `i..=j` are not continued by `sep` on either side.
    fn standalone(&self, i: usize, j: usize, sep: &str) -> bool {
        self.can_start(i)
            && self.can_end(j)
            && (i == 0 || self.sep(i - 1) != sep)
            && (j + 1 == self.groups.len() || self.sep(j) != sep)
    }

    /// Card numbers (the longest from each group), SSNs and IPv4 addresses.
    fn find_structured(&self, scrubber: &Scrubber, found: &mut Vec<Span>) {
        let n = self.groups.len();
        let text = self.text;

        if scrubber.on(Detector::CreditCard) {
            for i in (0..n).filter(|&i| self.can_start(i)) {
                let mut digits = 0;
                let mut longest = None;
                for j in i..n {
                    if j > i && !matches!(self.sep(j - 1), " " | "-") {
                        break;
                    }
                    digits += self.digits(j);
                    if digits > 19 {
                        break;
                    }
                    if digits >= 13
                        && self.can_end(j)
                        && luhn(&text[self.groups[i].0..self.groups[j].1])
                    {
                        longest = Some(j);
                    }
                }
                if let Some(j) = longest {
                    push(
                        found,
                        text,
                        self.groups[i].0,
                        self.groups[j].1,
                        Detector::CreditCard,
                    );
                }
            }
        }

        if scrubber.on(Detector::UsSsn) {
            for i in 0..n.saturating_sub(2) {
                let j = i + 2;
                let (start, end) = (self.groups[i].0, self.groups[j].1);
                if self.digits(i) == 3
                    && self.digits(i + 1) == 2
                    && self.digits(j) == 4
                    && self.sep(i) == "-"
                    && self.sep(i + 1) == "-"
                    && self.standalone(i, j, "-")
                    && ssn_valid(&text[start..end])
                {
                    push(found, text, start, end, Detector::UsSsn);
                }
            }
        }

        if scrubber.on(Detector::Ipv4) {
            for i in 0..n.saturating_sub(3) {
                let j = i + 3;
                let (start, end) = (self.groups[i].0, self.groups[j].1);
                if (i..=j).all(|g| self.digits(g) <= 3)
                    && (i..j).all(|g| self.sep(g) == ".")
                    && self.standalone(i, j, ".")
                    && text[start..end].parse::<Ipv4Addr>().is_ok()
                {
                    push(found, text, start, end, Detector::Ipv4);
                }
            }
        }
    }

    /// Phone numbers (the longest from each group) that overlap none of
    /// `cards` (sorted, disjoint byte ranges).
    fn find_phones(&self, cards: &[(usize, usize)], found: &mut Vec<Span>) {
        let n = self.groups.len();
        let text = self.text;
        let in_card = |g: usize| {
            let (start, end) = self.groups[g];
            let next = cards.partition_point(|card| card.1 <= start);
            cards.get(next).is_some_and(|card| card.0 < end)
        };
        for i in (0..n).filter(|&i| self.can_start(i)) {
            let mut digits = 0;
            let mut longest = None;
            for j in i..n {
                digits += self.digits(j);
                if digits > 15 || in_card(j) {
                    break;
                }
                if digits >= 7 && self.can_end(j) {
                    longest = Some(j);
                }
            }
            let Some(j) = longest else { continue };
            let (mut start, end) = (self.groups[i].0, self.groups[j].1);
            if text[..start].ends_with('(') && text[start..end].contains(')') {
                start -= 1;
            }
            if text[..start].ends_with('+') {
                start -= 1;
            }
            push(found, text, start, end, Detector::Phone);
        }
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

fn find_emails(re: &Regex, text: &str, found: &mut Vec<Span>) {
    for m in re.find_iter(text) {
        let dots = m.as_str().bytes().take_while(|&b| b == b'.').count();
        let start = m.start() + dots;
        if !text[start..m.end()].starts_with('@') {
            push(found, text, start, m.end(), Detector::Email);
        }
    }
}

fn find_urls(re: &Regex, text: &str, found: &mut Vec<Span>) {
    for m in re.find_iter(text) {
        let url = m.as_str();
        let Some(host) = url.find("://").map(|i| i + 3) else {
            continue;
        };
        let count = |c: char| url.bytes().filter(|&b| char::from(b) == c).count();
        let mut unbalanced = [
            (')', count(')').saturating_sub(count('('))),
            (']', count(']').saturating_sub(count('['))),
            ('}', count('}').saturating_sub(count('{'))),
        ];
        let mut end = url.len();
        while end > host {
            let Some(last) = url[..end].chars().next_back() else {
                break;
            };
            let strip = match last {
                '.' | ',' | ':' | ';' | '!' | '?' | '*' => true,
                _ => match unbalanced.iter_mut().find(|(c, _)| *c == last) {
                    Some((_, extra)) if *extra > 0 => {
                        *extra -= 1;
                        true
                    }
                    _ => false,
                },
            };
            if !strip {
                break;
            }
            end -= last.len_utf8();
        }
        if end > host {
            push(found, text, m.start(), m.start() + end, Detector::Url);
        }
    }
}

fn find_ipv6(re: &Regex, text: &str, found: &mut Vec<Span>) {
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

fn find_ibans(re: &Regex, text: &str, found: &mut Vec<Span>) {
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
fn iban_valid(iban: &str) -> bool {
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

/// The Luhn check over the ASCII digits of `number`.
fn luhn(number: &str) -> bool {
    let mut sum = 0u32;
    let digits = number.bytes().rev().filter(u8::is_ascii_digit);
    for (i, byte) in digits.enumerate() {
        let mut d = u32::from(byte - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum.is_multiple_of(10)
}

/// Area, group and serial rules of an `AAA-GG-SSSS` number.
fn ssn_valid(ssn: &str) -> bool {
    let (area, rest) = ssn.split_at(3);
    let (group, serial) = (&rest[1..3], &rest[4..]);
    area != "000" && area != "666" && !area.starts_with('9') && group != "00" && serial != "0000"
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn only(detector: Detector, text: &str) -> String {
        Scrubber::new(&[detector]).scrub(text, "[{TYPE}]")
    }

    fn all(text: &str) -> String {
        Scrubber::new(&Detector::all()).scrub(text, "[{TYPE}]")
    }

    /// `text` is left as it is by `detector` alone.
    fn untouched(detector: Detector, text: &str) {
        assert_eq!(only(detector, text), text, "{detector:?} changed the text");
    }

    #[test]
    fn every_pattern_compiles() {
        for pattern in [EMAIL, URL, IBAN, IPV6, DIGITS] {
            Regex::new(pattern).unwrap();
        }
        let mut ranks: Vec<usize> = Detector::all().into_iter().map(rank).collect();
        ranks.sort();
        assert_eq!(ranks, (0..8).collect::<Vec<_>>());
    }

    #[test]
    fn email() {
        let e = Detector::Email;
        assert_eq!(
            only(e, "write to jane.doe+x@example.co.uk today"),
            "write to [EMAIL] today"
        );
        assert_eq!(only(e, "Mail: jürgen@müller.de."), "Mail: [EMAIL].");
        assert_eq!(only(e, "<a_b%c-d@sub-domain.example.org>"), "<[EMAIL]>");
        assert_eq!(only(e, "...bob@x.com"), "...[EMAIL]");
        assert_eq!(only(e, "a@b.co and c@d.io"), "[EMAIL] and [EMAIL]");
        assert_eq!(only(e, "bob@example.com-"), "[EMAIL]-");
        assert_eq!(only(e, "邮箱：li@example.cn，谢谢"), "邮箱：[EMAIL]，谢谢");
        for miss in [
            "root@localhost",
            "a @ b.com",
            "@example.com",
            "x@.com",
            "x@-a.com",
            "bob@",
            "..@x.com",
        ] {
            untouched(e, miss);
        }
    }

    #[test]
    fn url() {
        let u = Detector::Url;
        assert_eq!(only(u, "See https://example.com/a?b=c."), "See [URL].");
        assert_eq!(only(u, "HTTP://EXAMPLE.COM/x, then"), "[URL], then");
        assert_eq!(
            only(u, "(see https://en.wikipedia.org/wiki/Foo_(bar))"),
            "(see [URL])"
        );
        assert_eq!(
            only(u, "\"http://a.b/c\" <http://d.e>"),
            "\"[URL]\" <[URL]>"
        );
        assert_eq!(
            only(u, "访问https://example.cn/路径。谢谢"),
            "访问[URL]。谢谢"
        );
        assert_eq!(only(u, "xhttps://a.b"), "x[URL]");
        for miss in [
            "ftp://example.com",
            "http://",
            "https:///path",
            "http:// x",
            "http://?q",
            "mailto:a@b.c",
        ] {
            untouched(u, miss);
        }
        untouched(u, "http://...");
    }

    #[test]
    fn iban() {
        let i = Detector::Iban;
        assert_eq!(
            only(i, "IBAN DE89 3704 0044 0532 0130 00, thanks"),
            "IBAN [IBAN], thanks"
        );
        assert_eq!(only(i, "DE89370400440532013000"), "[IBAN]");
        assert_eq!(only(i, "GB82 WEST 1234 5698 7654 32"), "[IBAN]");
        assert_eq!(only(i, "gb82west12345698765432"), "[IBAN]");
        assert_eq!(only(i, "账户DE89370400440532013000。"), "账户[IBAN]。");
        // A valid IBAN followed by another group of digits.
        assert_eq!(only(i, "DE89 3704 0044 0532 0130 00 1234"), "[IBAN] 1234");
        // A valid IBAN after a group that looks like the start of one.
        assert_eq!(only(i, "GB00 DE89 3704 0044 0532 0130 00"), "GB00 [IBAN]");
        for miss in [
            "DE88 3704 0044 0532 0130 00",  // check digits
            "DE88370400440532013000",       // check digits
            "XDE89370400440532013000",      // inside a word
            "DE89370400440532013000X",      // inside a word
            "DE89  3704 0044 0532 0130 00", // two spaces
            "DE89 37040044 0532 0130 00",   // groups not of four
            "DE89 3704 0044 05",            // too short
        ] {
            untouched(i, miss);
        }
    }

    #[test]
    fn credit_card() {
        let c = Detector::CreditCard;
        for card in [
            "4111 1111 1111 1111",
            "4111-1111-1111-1111",
            "4111111111111111",
            "3782 822463 10005",
            "4222222222222",
            "6011 0009 9013 9424",
            "4111 1111-1111 1111",
        ] {
            assert_eq!(
                only(c, &format!("card {card}.")),
                "card [CREDIT_CARD].",
                "{card}"
            );
        }
        // An expiry date after the number stays.
        assert_eq!(only(c, "4111 1111 1111 1111 12/29"), "[CREDIT_CARD] 12/29");
        assert_eq!(only(c, "4111 1111 1111 1111 2029"), "[CREDIT_CARD] 2029");
        for miss in [
            "4111 1111 1111 1112",    // Luhn
            "4111111111111112",       // Luhn
            "4111  1111  1111  1111", // two spaces
            "4111.1111.1111.1111",    // dots
            "ID4111111111111111",     // inside a word
            "4111111111111111x",      // inside a word
            "41111111111111111111",   // 20 digits
            "411111111111",           // 12 digits
            "٤4111111111111111",      // next to another script's digit
        ] {
            untouched(c, miss);
        }
    }

    #[test]
    fn us_ssn() {
        let s = Detector::UsSsn;
        assert_eq!(only(s, "SSN 123-45-6789."), "SSN [US_SSN].");
        assert_eq!(
            only(s, "社会保障番号123-45-6789です"),
            "社会保障番号[US_SSN]です"
        );
        for miss in [
            "000-12-3456",
            "666-12-3456",
            "900-12-3456",
            "999-12-3456",
            "123-00-4567",
            "123-45-0000",
            "123456789",
            "123 45 6789",
            "1234-45-6789",
            "123-45-67890",
            "0123-45-6789",
            "123-45-6789-1",
            "9-123-45-6789",
            "a123-45-6789",
        ] {
            untouched(s, miss);
        }
    }

    #[test]
    fn ipv4() {
        let i = Detector::Ipv4;
        assert_eq!(only(i, "Server 10.0.0.1."), "Server [IPV4].");
        assert_eq!(only(i, "from 192.168.1.1:8080"), "from [IPV4]:8080");
        assert_eq!(only(i, "255.255.255.255 and 0.0.0.0"), "[IPV4] and [IPV4]");
        assert_eq!(only(i, "IP地址192.168.1.1。"), "IP地址[IPV4]。");
        assert_eq!(only(i, "10.0.0.0/8"), "[IPV4]/8");
        for miss in [
            "999.1.1.1",
            "256.1.1.1",
            "1.2.3",
            "1.2.3.4.5",
            "01.2.3.4",
            "1.2.3.004",
            "1..2.3.4",
            "v1.2.3.4",
            "1.2.3.4x",
            "1234.1.1.1",
        ] {
            untouched(i, miss);
        }
    }

    #[test]
    fn ipv6() {
        let i = Detector::Ipv6;
        assert_eq!(only(i, "host 2001:db8::1."), "host [IPV6].");
        assert_eq!(only(i, "2001:0db8:85a3:0000:0000:8a2e:0370:7334"), "[IPV6]");
        assert_eq!(only(i, "loopback ::1"), "loopback [IPV6]");
        assert_eq!(only(i, "fe80::1%eth0"), "[IPV6]%eth0");
        assert_eq!(only(i, "[2001:db8::1]:443"), "[[IPV6]]:443");
        assert_eq!(only(i, "::ffff:192.168.1.1"), "[IPV6]");
        assert_eq!(only(i, "addr:fe80::1"), "addr:[IPV6]");
        assert_eq!(only(i, "IPv6:fe80::1"), "IPv6:[IPV6]");
        assert_eq!(only(i, "地址fe80::1。"), "地址[IPV6]。");
        assert_eq!(only(i, "at fe80::1: up"), "at [IPV6]: up");
        for miss in [
            "12:30:45",
            "Note: this",
            "std::fmt",
            "a :: b",
            "00:1A:2B:3C:4D:5E",
            "1:2:3:4:5:6:7:8:9",
            "2001:db8::1::2",
            "xfe80::1",
            "2001:db8::1g",
        ] {
            untouched(i, miss);
        }
    }

    #[test]
    fn phone() {
        let p = Detector::Phone;
        for phone in [
            "+1 (555) 123-4567",
            "(555) 123-4567",
            "+49 30 1234567",
            "+49 (0) 30 123 456 78",
            "030.123.45.67",
            "5551234",
            "+442079460958",
            "555 - 123 - 4567",
        ] {
            assert_eq!(
                only(p, &format!("call {phone}, please")),
                "call [PHONE], please",
                "{phone}"
            );
        }
        assert_eq!(only(p, "(555-123-4567)"), "([PHONE])");
        assert_eq!(only(p, "番号は010-1234-5678です"), "番号は[PHONE]です");
        assert_eq!(only(p, "번호는010-1234-5678입니다"), "번호는[PHONE]입니다");
        assert_eq!(only(p, "тел.+7 (495) 123-45-67"), "тел.[PHONE]");
        for miss in [
            "123456",
            "12 34 56",
            "1234567890123456",
            "ABC5551234567",
            "0x1234567",
            "5551234567x",
            "555_1234567",
            "555,123,4567",
            "555/123/4567",
            "555    123456",
            "０９０１２３４５６７８", // full-width digits are not detected
        ] {
            untouched(p, miss);
        }
    }

    #[test]
    fn a_card_number_is_never_a_phone() {
        // 13 digits: as long as a phone number, but Luhn-valid.
        assert_eq!(all("card 4222222222222."), "card [CREDIT_CARD].");
        assert_eq!(all("card 4222 2222 22222 12"), "card [CREDIT_CARD] 12");
        // The longer phone reading (with its `+`) loses to the card.
        assert_eq!(all("+4222222222222"), "+[CREDIT_CARD]");
        // Digits before a card still form a phone number of their own.
        assert_eq!(
            all("555-123-4567 4111 1111 1111 1111"),
            "[PHONE] [CREDIT_CARD]"
        );
        // With the card detector off, the phone detector takes what it can.
        assert_eq!(
            only(Detector::Phone, "card 4222222222222."),
            "card [PHONE]."
        );
        assert_eq!(only(Detector::Phone, "4111 1111 1111 1111"), "[PHONE] 1111");
        // A Luhn-invalid 16-digit number is no card, but its phone-shaped
        // part is a phone number.
        assert_eq!(all("4111 1111 1111 1112"), "[PHONE] 1112");
    }

    #[test]
    fn overlaps_go_to_the_longer_span() {
        assert_eq!(all("http://10.0.0.1:8080/x"), "[URL]");
        assert_eq!(all("http://[2001:db8::1]/x"), "[URL]");
        assert_eq!(all("https://x.org/?u=bob@example.com"), "[URL]");
        assert_eq!(all("http://user:pw@example.com/"), "[URL]");
        assert_eq!(all("15551234567@sms.example.com"), "[EMAIL]");
        assert_eq!(all("DE89 3704 0044 0532 0130 00"), "[IBAN]");
        assert_eq!(all("::ffff:192.168.1.1"), "[IPV6]");
        // The longer phone reading covers both addresses.
        assert_eq!(all("10.0.0.1 10.0.0.2"), "[PHONE]");
        // A date is a phone-shaped digit sequence.
        assert_eq!(all("born 1987-06-15"), "born [PHONE]");
    }

    #[test]
    fn equal_spans_follow_the_priority() {
        assert_eq!(all("123-45-6789"), "[US_SSN]");
        assert_eq!(all("192.168.1.1"), "[IPV4]");
        assert_eq!(all("4111111111111"), "[PHONE]"); // not Luhn-valid
        assert_eq!(all("4222222222222"), "[CREDIT_CARD]");
    }

    #[test]
    fn everything_at_once() {
        let text = "Hi, I'm Zoë (zoe@example.org, +33 6 12 34 56 78). \
                    Card 4111-1111-1111-1111, SSN 123-45-6789, IBAN FR14 2004 1010 0505 0001 3M02 606. \
                    From 203.0.113.7 / 2001:db8::7, see https://zoe.example.org/about — merci!";
        assert_eq!(
            all(text),
            "Hi, I'm Zoë ([EMAIL], [PHONE]). \
             Card [CREDIT_CARD], SSN [US_SSN], IBAN [IBAN]. \
             From [IPV4] / [IPV6], see [URL] — merci!"
        );
    }

    #[test]
    fn text_without_candidates_is_returned_as_is() {
        let s = Scrubber::new(&Detector::all());
        for text in [
            "",
            "plain words",
            "Grüße aus Köln — ñandú, 東京, 🙂",
            "a-b.c (d)",
        ] {
            assert_eq!(s.scrub(text, "[{TYPE}]"), text);
        }
        let none = Scrubber::new(&[]);
        assert_eq!(
            none.scrub("jane@example.com 555-123-4567", "x"),
            "jane@example.com 555-123-4567"
        );
    }

    #[test]
    fn only_the_enabled_detectors_run() {
        let s = Scrubber::new(&[Detector::Email, Detector::Email]);
        assert_eq!(
            s.scrub("jane@example.com 555-123-4567 10.0.0.1", "[{TYPE}]"),
            "[EMAIL] 555-123-4567 10.0.0.1"
        );
    }

    #[test]
    fn replacement_templates() {
        let s = Scrubber::new(&Detector::all());
        let text = "a@b.co 123-45-6789";
        assert_eq!(s.scrub(text, "<{TYPE}>"), "<EMAIL> <US_SSN>");
        assert_eq!(s.scrub(text, "***"), "*** ***");
        assert_eq!(s.scrub(text, "{TYPE}/{TYPE}"), "EMAIL/EMAIL US_SSN/US_SSN");
        assert_eq!(s.scrub(text, ""), " ");
        assert_eq!(
            s.scrub(text, "{type} $1 {TYPE"),
            "{type} $1 {TYPE {type} $1 {TYPE"
        );
        assert_eq!(s.scrub(text, "«{TYPE}»"), "«EMAIL» «US_SSN»");
    }

    #[test]
    fn long_text_scrubs_like_its_parts() {
        let part = "Zoë: zoe@example.org, +33 6 12 34 56 78, 123-45-6789; ";
        let expected = "Zoë: [EMAIL], [PHONE], [US_SSN]; ";
        assert_eq!(all(&part.repeat(2_000)), expected.repeat(2_000));
    }

    #[test]
    fn long_and_hostile_input_is_handled() {
        let s = Scrubber::new(&Detector::all());
        // No seven digits in a row survive, however they are cut up.
        let out = s.scrub(&"1 ".repeat(20_000), "#");
        assert!(!out.contains("1 1 1 1 1 1 1"), "{out}");
        for text in [
            "@".repeat(10_000),
            ":".repeat(10_000),
            "a".repeat(10_000) + "@",
            "http://".repeat(5_000),
            "9".repeat(10_000),
            "DE89".repeat(5_000),
            "1.".repeat(10_000),
            "(".repeat(5_000) + &")".repeat(5_000),
        ] {
            let _ = s.scrub(&text, "[{TYPE}]");
        }
    }

    #[test]
    fn checksums() {
        assert!(luhn("79927398713"));
        assert!(!luhn("79927398710"));
        assert!(iban_valid("DE89370400440532013000"));
        assert!(iban_valid("NL91 ABNA 0417 1643 00"));
        assert!(!iban_valid("NL91 ABNA 0417 1643 01"));
        assert!(!iban_valid("DE89-3704"));
        assert!(ssn_valid("078-05-1120"));
    }
}
