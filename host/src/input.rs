//! Splitting an input stream into leads, the way jq reads them: one JSON
//! document (pretty-printed or not), several documents one after another, or
//! NDJSON (one lead a line), so that every piece of input is accounted for.
//!
//! The rule:
//!
//! - The first non-blank line decides. A blank line holds only JSON white
//!   space (space, tab, CR); a line that is only a form feed, say, is not
//!   blank: it is a lead, and an `invalid-json` one.
//! - If that line is a whole JSON value, or is not JSON at all, the input
//!   is **NDJSON**: every non-blank line is one lead, judged on its own, so
//!   one bad line costs one error record and the rest still go through.
//! - If it is the start of a value that goes on (a `{` alone, say), the next
//!   non-blank line decides: if that one is a whole JSON object, the input
//!   is NDJSON whose first line was cut short (it becomes an `invalid-json`
//!   record, and every later line is read); otherwise it is a **stream of
//!   documents**, read one document at a time and split where each value
//!   ends.
//! - In a document stream, a syntax error, a document larger than the
//!   limit, or input that ends inside a document ends the stream with one
//!   error record, since nothing after it can be trusted to start a lead;
//!   [`LeadReader::unread`] then says how many bytes and lines were not read.
//! - The size limit is on a lead's own bytes: the line break that ends an
//!   NDJSON line (LF or CRLF alike) does not count.
//!
//! Every lead carries the line it starts on, so results and error records can
//! name it. Nothing here looks at what a lead says: it only finds where leads
//! begin and end, and never puts input text into an error.

use std::collections::VecDeque;
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

/// Input a document stream left unread when it ended early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unread {
    /// The line the unread input starts on.
    pub from_line: usize,
    /// Its bytes.
    pub bytes: u64,
    /// Its lines (a last line without a line break counts).
    pub lines: u64,
}

impl std::fmt::Display for Unread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} byte{} on {} line{} from line {} on were not read",
            self.bytes,
            if self.bytes == 1 { "" } else { "s" },
            self.lines,
            if self.lines == 1 { "" } else { "s" },
            self.from_line
        )
    }
}

/// Reads leads from a buffered stream.
#[derive(Debug)]
pub struct LeadReader<R> {
    reader: R,
    limit: usize,
    /// Lines read so far.
    line: usize,
    mode: Mode,
    /// Lines read ahead to decide, not yet handed out.
    ahead: VecDeque<Line>,
    unread: Option<Unread>,
}

#[derive(Debug)]
enum Mode {
    /// Not decided yet: the first non-blank lines decide.
    Start,
    Lines,
    /// Documents: input read but not yet split, the line its first byte is
    /// on, and whether the reader is exhausted.
    Documents {
        buffer: Vec<u8>,
        line: usize,
        eof: bool,
    },
    Done,
}

/// One line as read.
#[derive(Debug)]
struct Line {
    /// Its number.
    number: usize,
    /// Its bytes without the line break, or why it is not a lead.
    bytes: Result<Vec<u8>, InputError>,
    /// The line break that ended it (`\n`, `\r\n`, or none at the end).
    end: &'static [u8],
}

/// JSON's white space (RFC 8259): nothing else is blank.
fn is_json_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|&b| is_json_space(b))
}

/// What a line holds.
enum Shape {
    /// A whole JSON value.
    Whole,
    /// The start of a value that goes on.
    Cut,
    /// Not JSON.
    Broken,
}

fn shape(line: &[u8]) -> Shape {
    match serde_json::from_slice::<IgnoredAny>(line) {
        Ok(_) => Shape::Whole,
        Err(e) if e.is_eof() => Shape::Cut,
        Err(_) => Shape::Broken,
    }
}

/// Reads document input in pieces of this size at first.
const CHUNK: usize = 64 << 10;

impl<R: BufRead> LeadReader<R> {
    /// A reader that refuses leads (lines, or documents) over `limit` bytes.
    pub fn new(reader: R, limit: usize) -> Self {
        LeadReader {
            reader,
            limit,
            line: 0,
            mode: Mode::Start,
            ahead: VecDeque::new(),
            unread: None,
        }
    }

    /// Input left unread because a document stream ended early (after its
    /// error record), once the reader has ended.
    pub fn unread(&self) -> Option<Unread> {
        self.unread
    }

    /// Reads one line of at most `limit` bytes without its line break (LF
    /// or CRLF). A longer line is consumed to its end and reported as too
    /// large.
    fn read_line(&mut self) -> io::Result<Option<Line>> {
        let mut buf = Vec::new();
        // Room for the lead, a CR and the LF.
        let read = (&mut self.reader)
            .take(self.limit as u64 + 2)
            .read_until(b'\n', &mut buf)?;
        if read == 0 {
            return Ok(None);
        }
        self.line += 1;
        let mut end: &'static [u8] = b"";
        if buf.last() == Some(&b'\n') {
            buf.pop();
            end = b"\n";
            if buf.last() == Some(&b'\r') {
                buf.pop();
                end = b"\r\n";
            }
        }
        let bytes = if buf.len() > self.limit {
            if end.is_empty() {
                self.skip_line()?;
                end = b"\n";
            }
            Err(InputError::TooLarge { limit: self.limit })
        } else {
            Ok(buf)
        };
        Ok(Some(Line {
            number: self.line,
            bytes,
            end,
        }))
    }

    /// Skips the rest of an over-long line without keeping it.
    fn skip_line(&mut self) -> io::Result<()> {
        loop {
            let chunk = self.reader.fill_buf()?;
            if chunk.is_empty() {
                return Ok(());
            }
            match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    self.reader.consume(i + 1);
                    return Ok(());
                }
                None => {
                    let n = chunk.len();
                    self.reader.consume(n);
                }
            }
        }
    }

    /// The next line, read ahead or from the input.
    fn next_line(&mut self) -> io::Result<Option<Line>> {
        if let Some(line) = self.ahead.pop_front() {
            return Ok(Some(line));
        }
        self.read_line()
    }

    fn next_record(&mut self) -> io::Result<Option<Record>> {
        loop {
            match &self.mode {
                Mode::Done => return Ok(None),
                Mode::Documents { .. } => return self.next_document(),
                Mode::Start | Mode::Lines => {}
            }
            let Some(line) = self.next_line()? else {
                self.mode = Mode::Done;
                return Ok(None);
            };
            let number = line.number;
            let bytes = match line.bytes {
                Ok(bytes) if is_blank(&bytes) => continue,
                Ok(bytes) => bytes,
                Err(e) => {
                    self.mode = Mode::Lines;
                    return Ok(Some(Record {
                        line: number,
                        lead: Err(e),
                    }));
                }
            };
            if matches!(self.mode, Mode::Start) {
                if let Shape::Cut = shape(&bytes)
                    && !self.cut_first_line_of_ndjson()?
                {
                    self.start_documents(number, bytes, line.end);
                    continue;
                }
                self.mode = Mode::Lines;
            }
            let lead = String::from_utf8(bytes).map_err(|_| InputError::NotUtf8);
            return Ok(Some(Record { line: number, lead }));
        }
    }

    /// After a first line that starts a value and goes on: whether the next
    /// non-blank line is a whole JSON object, so that the input is NDJSON
    /// whose first line was cut short. The lines read to decide are kept.
    fn cut_first_line_of_ndjson(&mut self) -> io::Result<bool> {
        loop {
            let Some(line) = self.read_line()? else {
                return Ok(false);
            };
            let decided = match &line.bytes {
                Ok(bytes) if is_blank(bytes) => None,
                Ok(bytes) => {
                    Some(bytes.first() == Some(&b'{') && matches!(shape(bytes), Shape::Whole))
                }
                Err(_) => Some(false),
            };
            self.ahead.push_back(line);
            if let Some(decided) = decided {
                return Ok(decided);
            }
        }
    }

    /// Switches to document mode with the first line and whatever was read
    /// ahead (lines too long for a lead are too long for a document too).
    fn start_documents(&mut self, first_line: usize, first: Vec<u8>, end: &[u8]) {
        let mut buffer = first;
        buffer.extend_from_slice(end);
        for line in self.ahead.drain(..) {
            match line.bytes {
                Ok(bytes) => buffer.extend_from_slice(&bytes),
                // A line over the limit makes its document too large; what
                // it held is counted as the limit and one byte.
                Err(_) => buffer.resize(buffer.len() + self.limit + 1, b' '),
            }
            buffer.extend_from_slice(line.end);
        }
        self.mode = Mode::Documents {
            buffer,
            line: first_line,
            eof: false,
        };
    }

    /// The next document of a document stream.
    fn next_document(&mut self) -> io::Result<Option<Record>> {
        let limit = self.limit;
        loop {
            let Mode::Documents { buffer, line, eof } = &mut self.mode else {
                return Ok(None);
            };
            let skipped = buffer.iter().take_while(|&&b| is_json_space(b)).count();
            *line += buffer[..skipped].iter().filter(|&&b| b == b'\n').count();
            buffer.drain(..skipped);
            if buffer.is_empty() {
                if *eof {
                    self.mode = Mode::Done;
                    return Ok(None);
                }
                *eof = fill(&mut self.reader, buffer, CHUNK)?;
                continue;
            }
            let start = *line;
            let mut stream = serde_json::Deserializer::from_slice(buffer).into_iter::<IgnoredAny>();
            let error = match stream.next() {
                Some(Ok(_)) => {
                    let end = stream.byte_offset();
                    if end > limit {
                        InputError::TooLarge { limit }
                    } else {
                        let document: Vec<u8> = buffer.drain(..end).collect();
                        *line += document.iter().filter(|&&b| b == b'\n').count();
                        let lead = String::from_utf8(document).map_err(|_| InputError::NotUtf8);
                        return Ok(Some(Record { line: start, lead }));
                    }
                }
                Some(Err(e)) if e.is_eof() && buffer.len() > limit => {
                    InputError::TooLarge { limit }
                }
                Some(Err(e)) if e.is_eof() && !*eof => {
                    // The document goes on: read more (doubling, so a large
                    // one is parsed a few times, not once per piece).
                    let more = buffer.len().max(CHUNK);
                    *eof = fill(&mut self.reader, buffer, more)?;
                    continue;
                }
                Some(Err(e)) if e.is_eof() => InputError::Syntax(format!(
                    "the input ends inside the JSON document that starts at line {start}"
                )),
                Some(Err(e)) => InputError::Syntax(format!(
                    "invalid JSON at line {} column {}; the rest of the input is not read",
                    start + e.line() - 1,
                    e.column()
                )),
                None => {
                    self.mode = Mode::Done;
                    return Ok(None);
                }
            };
            self.end_early(start)?;
            return Ok(Some(Record {
                line: start,
                lead: Err(error),
            }));
        }
    }

    /// Ends a document stream at the document starting on `from_line`,
    /// counting what is left of the input without keeping it.
    fn end_early(&mut self, from_line: usize) -> io::Result<()> {
        let Mode::Documents { buffer, .. } = std::mem::replace(&mut self.mode, Mode::Done) else {
            return Ok(());
        };
        let mut bytes = buffer.len() as u64;
        let mut newlines = buffer.iter().filter(|&&b| b == b'\n').count() as u64;
        let mut last = buffer.last().copied();
        loop {
            let chunk = self.reader.fill_buf()?;
            if chunk.is_empty() {
                break;
            }
            bytes += chunk.len() as u64;
            newlines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
            last = chunk.last().copied();
            let n = chunk.len();
            self.reader.consume(n);
        }
        let lines = newlines + u64::from(last.is_some_and(|b| b != b'\n'));
        self.unread = Some(Unread {
            from_line,
            bytes,
            lines,
        });
        Ok(())
    }
}

/// Appends up to `at_least` more bytes of input to `buffer` (what the
/// reader has buffered, or more); `true` when the input is exhausted.
fn fill(reader: &mut impl BufRead, buffer: &mut Vec<u8>, at_least: usize) -> io::Result<bool> {
    let before = buffer.len();
    reader.take(at_least as u64).read_to_end(buffer)?;
    Ok(buffer.len() - before < at_least)
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
        read_bytes(input.as_bytes(), limit).0
    }

    type Read = (Vec<(usize, Result<String, &'static str>)>, Option<Unread>);

    fn read_bytes(input: &[u8], limit: usize) -> Read {
        let mut reader = LeadReader::new(input, limit);
        let records = reader
            .by_ref()
            .map(|r| {
                let r = r.unwrap();
                (r.line, r.lead.map_err(|e| e.kind()))
            })
            .collect();
        (records, reader.unread())
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
        let (got, unread) = read_bytes(b"{\n\"secret-value\" 1\n}\n{\"b\":2}", 100);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1, Err("invalid-json"));
        assert_eq!(
            unread,
            Some(Unread {
                from_line: 1,
                bytes: 28,
                lines: 4
            })
        );
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
        let (got, unread) = read_bytes(doc.as_bytes(), 20);
        assert_eq!(got, vec![(1, Err("too-large"))]);
        assert!(unread.is_some());
    }

    #[test]
    fn invalid_utf8_is_invalid_json() {
        let input = b"{\"a\":\"\xff\"}\n{}\n";
        let got: Vec<_> = LeadReader::new(&input[..], 100)
            .map(|r| r.unwrap().lead.map_err(|e| e.kind()))
            .collect();
        assert_eq!(got, vec![Err("invalid-json"), Ok("{}".into())]);
    }

    /// Hardening (item 10): a truncated first NDJSON line followed by valid
    /// lines once made the whole input one broken document (0 outputs).
    #[test]
    fn a_cut_first_line_of_ndjson_costs_that_line_only() {
        let mut input = String::from("{\"first_name\":\"Ada\",\"em\n");
        for i in 0..1000 {
            input.push_str(&format!("{{\"n\":{i}}}\n"));
        }
        let (got, unread) = read_bytes(input.as_bytes(), 1000);
        assert_eq!(got.len(), 1001);
        assert_eq!(got[0].0, 1);
        assert!(
            got[0].1.is_ok(),
            "the cut line goes to the engine as a lead"
        );
        assert_eq!(got[1000], (1001, Ok("{\"n\":999}".into())));
        assert_eq!(unread, None);
    }

    /// Hardening (item 10): a line that is only a form feed is not blank.
    #[test]
    fn only_json_white_space_is_blank() {
        let got = read("{\"a\":1}\n\x0c\n \t\n{\"b\":2}\n", 100);
        assert_eq!(
            got,
            vec![
                (1, Ok("{\"a\":1}".into())),
                (2, Ok("\x0c".into())),
                (4, Ok("{\"b\":2}".into())),
            ]
        );
    }

    /// Hardening (item 10): CRLF and LF count the same against the limit.
    #[test]
    fn the_line_break_does_not_count_against_the_limit() {
        let lead = "{\"a\":\"xxxxxxxxxx\"}";
        assert_eq!(lead.len(), 18);
        for input in [format!("{lead}\n{lead}\n"), format!("{lead}\r\n{lead}\r\n")] {
            let got = read(&input, 18);
            assert_eq!(
                got,
                vec![(1, Ok(lead.into())), (2, Ok(lead.into()))],
                "{input:?}"
            );
            let got = read(&input, 17);
            assert_eq!(got, vec![(1, Err("too-large")), (2, Err("too-large"))]);
        }
    }

    /// Many pretty documents are read one at a time: the limit is on each,
    /// not on the whole stream.
    #[test]
    fn a_long_stream_of_documents_is_read_one_document_at_a_time() {
        let doc = format!("{{\n  \"a\": \"{}\"\n}}\n", "x".repeat(1000));
        let input = doc.repeat(500);
        let (got, unread) = read_bytes(input.as_bytes(), 2000);
        assert_eq!(got.len(), 500);
        assert!(got.iter().all(|(_, lead)| lead.is_ok()));
        assert_eq!(got[499].0, 499 * 3 + 1);
        assert_eq!(unread, None);
    }

    #[test]
    fn a_document_cut_at_the_end_is_reported() {
        let (got, unread) = read_bytes(b"{\"a\":1}\n{\n\"b\": 2,\n", 100);
        assert_eq!(got[0], (1, Ok("{\"a\":1}".into())));
        // The second is the first of a document stream? No: the first line
        // is whole, so this is NDJSON, and every line is judged alone.
        assert_eq!(got.len(), 3);
        assert_eq!(unread, None);
        let (got, unread) = read_bytes(b"{\n\"a\": 1\n}\n{\n\"b\": 2,\n", 100);
        assert_eq!(got.len(), 2);
        assert_eq!(got[1], (4, Err("invalid-json")));
        assert_eq!(
            unread,
            Some(Unread {
                from_line: 4,
                bytes: 10,
                lines: 2
            })
        );
    }
}
