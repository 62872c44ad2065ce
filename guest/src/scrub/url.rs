//! `url`: http and https URLs, without the punctuation that ends a sentence.

use regex::Regex;

use super::{Span, push};
use crate::policy::Detector;

/// http(s) URLs: the first character after `//` starts the host.
pub(super) const URL: &str = r#"(?i:https?)://[^\s\p{Cc}<>"'`/?#\x{3000}-\x{303F}\x{FF00}-\x{FFEF}][^\s\p{Cc}<>"'`\x{3000}-\x{303F}\x{FF00}-\x{FFEF}]*"#;

pub(super) fn find_urls(re: &Regex, text: &str, found: &mut Vec<Span>) {
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
