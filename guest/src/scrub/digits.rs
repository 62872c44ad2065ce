//! The digit-based detectors: `credit_card`, `us_ssn`, `ipv4` and `phone`,
//! told apart in code from the digit groups of one shared pattern.

use std::net::Ipv4Addr;
use std::ops::Range;

use regex::Regex;

use super::{Scrubber, Span, clear_after, clear_before, push};
use crate::policy::Detector;

/// The detectors that find their spans in [`DIGITS`].
pub(super) const DETECTORS: &[Detector] = &[
    Detector::Phone,
    Detector::CreditCard,
    Detector::UsSsn,
    Detector::Ipv4,
];

/// Digit groups joined by short runs of phone separators: the material of
/// `phone`, `credit_card`, `us_ssn` and `ipv4`, which are told apart in code.
pub(super) const DIGITS: &str = r"[0-9]+(?:[ .()\-]{1,3}[0-9]+)*";

/// The matches of [`DIGITS`] in a text, split into their digit groups: the
/// material of `phone`, `credit_card`, `us_ssn` and `ipv4`.
pub(super) struct DigitRuns<'a> {
    text: &'a str,
    /// Byte ranges of the maximal runs of digits of every chunk, in order.
    groups: Vec<(usize, usize)>,
    /// Per chunk: its range of `groups`, and whether its first group may
    /// start a span and its last group may end one.
    chunks: Vec<(Range<usize>, bool, bool)>,
}

impl<'a> DigitRuns<'a> {
    pub(super) fn new(re: &Regex, text: &'a str) -> DigitRuns<'a> {
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

    pub(super) fn chunks(&self) -> impl Iterator<Item = Chunk<'_>> {
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
pub(super) struct Chunk<'a> {
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
    pub(super) fn find_structured(&self, scrubber: &Scrubber, found: &mut Vec<Span>) {
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
    pub(super) fn find_phones(&self, cards: &[(usize, usize)], found: &mut Vec<Span>) {
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

/// The Luhn check over the ASCII digits of `number`.
pub(super) fn luhn(number: &str) -> bool {
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
pub(super) fn ssn_valid(ssn: &str) -> bool {
    let (area, rest) = ssn.split_at(3);
    let (group, serial) = (&rest[1..3], &rest[4..]);
    area != "000" && area != "666" && !area.starts_with('9') && group != "00" && serial != "0000"
}
