//! Splitting an input stream into leads, the way jq reads them: one JSON
//! document (pretty-printed or not), several documents one after another, or
//! NDJSON (one lead a line).
//!
//! The reader decides by the first non-blank line. If that line is a whole
//! JSON value, the input is NDJSON: every non-blank line is one lead, read
//! and judged on its own, so one bad line costs one error record and the
//! rest still go through. Otherwise the input is a stream of documents,
//! read whole (up to the size limit) and split where each value ends; a
//! syntax error there ends the stream, since nothing after it can be
//! trusted to start a new lead.
//!
//! Every lead carries the line it starts on, so results and error records can
//! name it. Nothing here looks at what a lead says: it only finds where leads
//! begin and end, and never puts input text into an error.

use std::io::{self, BufRead, Read};

use serde::de::IgnoredAny;

/// One lead as read, or why it could not be read.
#[derive(Debug, PartialEq, Eq)]
pub struct Record {
    /// The 1-based line the lead starts on.
    pub line: usize,
    /// The lead's text, or what was wrong with it.
    pub lead: Result<String, InputError>,
}

/// Why a piece of input is not a lead. Says where, never what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// Longer than the limit.
    #[error("the lead is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// Not UTF-8 (I-JSON requires it).
    #[error("the lead is not valid UTF-8")]
    NotUtf8,
    /// Not JSON; the rest of a document stream is abandoned.
    #[error("{0}")]
    Syntax(String),
}

impl InputError {
    /// The failure kind reported in error records: `too-large` or
    /// `invalid-json`.
    pub fn kind(&self) -> &'static str {
        match self {
            InputError::TooLarge { .. } => "too-large",
            InputError::NotUtf8 | InputError::Syntax(_) => "invalid-json",
        }
    }
}

/// Reads leads from a buffered stream.
#[derive(Debug)]
pub struct LeadReader<R> {
    reader: R,
    limit: usize,
    line: usize,
    mode: Mode,
}

#[derive(Debug)]
enum Mode {
    /// Not decided yet: the first non-blank line decides.
    Start,
    Lines,
    /// Documents read whole, with the offset of the next one and the line
    /// at that offset.
    Documents {
        text: String,
        offset: usize,
        line: usize,
    },
    /// One error record left to report before the end.
    Failed {
        line: usize,
        error: InputError,
    },
    Done,
}

impl<R: BufRead> LeadReader<R> {
    /// A reader that refuses leads (lines, or documents) over `limit` bytes.
    pub fn new(reader: R, limit: usize) -> Self {
        LeadReader {
            reader,
            limit,
            line: 0,
            mode: Mode::Start,
        }
    }

    /// Reads one line of at most `limit` bytes (without its line break).
    /// A longer line is consumed to its end and reported as too large.
    fn read_line(&mut self) -> io::Result<Option<Result<Vec<u8>, InputError>>> {
        let mut buf = Vec::new();
        let read = (&mut self.reader)
            .take(self.limit as u64 + 1)
            .read_until(b'\n', &mut buf)?;
        if read == 0 {
            return Ok(None);
        }
        self.line += 1;
        if buf.last() == Some(&b'\n') {
            buf.pop();
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
        } else if buf.len() > self.limit {
            // Skip the rest of the over-long line without keeping it.
            loop {
                let chunk = self.reader.fill_buf()?;
                if chunk.is_empty() {
                    break;
                }
                match chunk.iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        self.reader.consume(i + 1);
                        break;
                    }
                    None => {
                        let n = chunk.len();
                        self.reader.consume(n);
                    }
                }
            }
            return Ok(Some(Err(InputError::TooLarge { limit: self.limit })));
        }
        Ok(Some(Ok(buf)))
    }

    fn next_record(&mut self) -> io::Result<Option<Record>> {
        loop {
            match std::mem::replace(&mut self.mode, Mode::Done) {
                Mode::Done => return Ok(None),
                Mode::Failed { line, error } => {
                    return Ok(Some(Record {
                        line,
                        lead: Err(error),
                    }));
                }
                documents @ Mode::Documents { .. } => {
                    self.mode = documents;
                    return Ok(self.next_document());
                }
                other => self.mode = other,
            }
            let Some(line) = self.read_line()? else {
                self.mode = Mode::Done;
                return Ok(None);
            };
            let number = self.line;
            let bytes = match line {
                Ok(bytes) => bytes,
                Err(e) => {
                    self.mode = Mode::Lines;
                    return Ok(Some(Record {
                        line: number,
                        lead: Err(e),
                    }));
                }
            };
            if bytes.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if matches!(self.mode, Mode::Start) {
                match serde_json::from_slice::<IgnoredAny>(&bytes) {
                    Err(e) if e.is_eof() => {
                        self.start_documents(bytes, number)?;
                        continue;
                    }
                    _ => self.mode = Mode::Lines,
                }
            }
            let lead = String::from_utf8(bytes).map_err(|_| InputError::NotUtf8);
            return Ok(Some(Record { line: number, lead }));
        }
    }

    /// Switches to document mode: reads the rest of the input (within the
    /// limit) after the first line.
    fn start_documents(&mut self, first: Vec<u8>, first_line: usize) -> io::Result<()> {
        let mut bytes = first;
        bytes.push(b'\n');
        let budget = (self.limit + 1).saturating_sub(bytes.len()) as u64;
        (&mut self.reader).take(budget).read_to_end(&mut bytes)?;
        let failed = |error| Mode::Failed {
            line: first_line,
            error,
        };
        self.mode = if bytes.len() > self.limit {
            failed(InputError::TooLarge { limit: self.limit })
        } else {
            match String::from_utf8(bytes) {
                Ok(text) => Mode::Documents {
                    text,
                    offset: 0,
                    line: first_line,
                },
                Err(_) => failed(InputError::NotUtf8),
            }
        };
        Ok(())
    }

    fn next_document(&mut self) -> Option<Record> {
        let Mode::Documents { text, offset, line } = &mut self.mode else {
            return None;
        };
        let rest = &text[*offset..];
        let skipped = rest.len() - rest.trim_start().len();
        *line += rest[..skipped].matches('\n').count();
        *offset += skipped;
        if *offset >= text.len() {
            self.mode = Mode::Done;
            return None;
        }
        let rest = &text[*offset..];
        let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<IgnoredAny>();
        let start_line = *line;
        match stream.next() {
            Some(Ok(_)) => {
                let end = stream.byte_offset();
                let lead = rest[..end].to_owned();
                *line += lead.matches('\n').count();
                *offset += end;
                Some(Record {
                    line: start_line,
                    lead: Ok(lead),
                })
            }
            Some(Err(e)) => {
                let message = format!(
                    "invalid JSON at line {} column {}; the rest of the input is not read",
                    start_line + e.line() - 1,
                    e.column()
                );
                self.mode = Mode::Done;
                Some(Record {
                    line: start_line,
                    lead: Err(InputError::Syntax(message)),
                })
            }
            None => {
                self.mode = Mode::Done;
                None
            }
        }
    }
}

impl<R: BufRead> Iterator for LeadReader<R> {
    type Item = io::Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_record().transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(input: &str, limit: usize) -> Vec<(usize, Result<String, &'static str>)> {
        LeadReader::new(input.as_bytes(), limit)
            .map(|r| {
                let r = r.unwrap();
                (r.line, r.lead.map_err(|e| e.kind()))
            })
            .collect()
    }

    #[test]
    fn ndjson_is_one_lead_a_line_and_blank_lines_are_skipped() {
        let got = read("{\"a\":1}\n\n{\"b\":2}\r\n{bad\n{\"c\":3}", 100);
        assert_eq!(
            got,
            vec![
                (1, Ok("{\"a\":1}".into())),
                (3, Ok("{\"b\":2}".into())),
                (4, Ok("{bad".into())),
                (5, Ok("{\"c\":3}".into())),
            ]
        );
    }

    #[test]
    fn a_pretty_document_is_one_lead() {
        let got = read("\n{\n  \"a\": 1,\n  \"b\": [1,\n 2]\n}\n{\"c\":\n3}\n", 100);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, 2);
        assert_eq!(
            got[0].1.as_deref().unwrap(),
            "{\n  \"a\": 1,\n  \"b\": [1,\n 2]\n}"
        );
        assert_eq!(got[1], (7, Ok("{\"c\":\n3}".into())));
    }

    #[test]
    fn a_syntax_error_in_a_document_stream_ends_it_without_quoting_input() {
        let got = read("{\n\"secret-value\" 1\n}\n{\"b\":2}", 100);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1, Err("invalid-json"));
        let reader = LeadReader::new("{\n\"secret-value\" 1\n}".as_bytes(), 100);
        let message = reader
            .map(|r| r.unwrap().lead.unwrap_err().to_string())
            .next()
            .unwrap();
        assert!(!message.contains("secret-value"), "{message}");
        assert!(message.contains("line 2"), "{message}");
    }

    #[test]
    fn over_long_lines_are_skipped_and_reported() {
        let long = format!("{{\"a\":\"{}\"}}", "x".repeat(50));
        let got = read(&format!("{{}}\n{long}\n{{\"b\":1}}\n"), 20);
        assert_eq!(got[0], (1, Ok("{}".into())));
        assert_eq!(got[1], (2, Err("too-large")));
        assert_eq!(got[2], (3, Ok("{\"b\":1}".into())));
    }

    #[test]
    fn an_over_long_document_is_reported_once() {
        let doc = format!("{{\n\"a\": \"{}\"\n}}\n", "x".repeat(50));
        assert_eq!(read(&doc, 20), vec![(1, Err("too-large"))]);
    }

    #[test]
    fn invalid_utf8_is_invalid_json() {
        let input = b"{\"a\":\"\xff\"}\n{}\n";
        let got: Vec<_> = LeadReader::new(&input[..], 100)
            .map(|r| r.unwrap().lead.map_err(|e| e.kind()))
            .collect();
        assert_eq!(got, vec![Err("invalid-json"), Ok("{}".into())]);
    }
}
