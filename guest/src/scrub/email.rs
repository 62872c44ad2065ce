//! `email`: addresses delimited by their own syntax.

use regex::Regex;

use super::{Span, push};
use crate::policy::Detector;

/// E-mail addresses: local part, `@`, at least two domain labels.
pub(super) const EMAIL: &str = r"[\p{L}\p{M}\p{N}_%+.\-]+@[\p{L}\p{M}\p{N}](?:[\p{L}\p{M}\p{N}\-]*[\p{L}\p{M}\p{N}])?(?:\.[\p{L}\p{M}\p{N}](?:[\p{L}\p{M}\p{N}\-]*[\p{L}\p{M}\p{N}])?)+";

pub(super) fn find_emails(re: &Regex, text: &str, found: &mut Vec<Span>) {
    for m in re.find_iter(text) {
        let dots = m.as_str().bytes().take_while(|&b| b == b'.').count();
        let start = m.start() + dots;
        if !text[start..m.end()].starts_with('@') {
            push(found, text, start, m.end(), Detector::Email);
        }
    }
}
