//! JSON logs: one line per request (access), one per filtered lead (audit:
//! the change list, policy digest and request id), and the proxy's own
//! events. No line ever holds a value from a lead or a secret.

use std::fs::OpenOptions;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

/// Where lines go.
#[derive(Clone)]
pub enum Sink {
    /// Nowhere.
    Off,
    /// Standard error.
    Stderr,
    /// Standard output.
    Stdout,
    /// A writer (a file, or a buffer in tests).
    Writer(Arc<Mutex<dyn Write + Send>>),
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Sink::Off => "Sink::Off",
            Sink::Stderr => "Sink::Stderr",
            Sink::Stdout => "Sink::Stdout",
            Sink::Writer(_) => "Sink::Writer",
        })
    }
}

impl Sink {
    /// From the configuration: `stderr`, `stdout`, `off` or a file path
    /// (appended to).
    pub fn open(target: &str, base: &std::path::Path) -> std::io::Result<Sink> {
        Ok(match target {
            "off" => Sink::Off,
            "stderr" => Sink::Stderr,
            "stdout" => Sink::Stdout,
            path => {
                let path = base.join(path);
                let file = OpenOptions::new().create(true).append(true).open(path)?;
                Sink::Writer(Arc::new(Mutex::new(file)))
            }
        })
    }

    /// Writes one JSON line: `log` names the stream, `ts` is added.
    pub fn write(&self, log: &str, fields: Value) {
        if matches!(self, Sink::Off) {
            return;
        }
        let mut line = Map::new();
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        line.insert("ts".into(), Value::from((ts * 1000.0).round() / 1000.0));
        line.insert("log".into(), Value::from(log));
        if let Value::Object(fields) = fields {
            line.extend(fields);
        }
        let mut text = Value::Object(line).to_string();
        text.push('\n');
        // A log that cannot be written is not a reason to drop a lead.
        let _ = match self {
            Sink::Off => Ok(()),
            Sink::Stderr => std::io::stderr().lock().write_all(text.as_bytes()),
            Sink::Stdout => std::io::stdout().lock().write_all(text.as_bytes()),
            Sink::Writer(writer) => match writer.lock() {
                Ok(mut w) => w.write_all(text.as_bytes()).and_then(|_| w.flush()),
                Err(_) => Ok(()),
            },
        };
    }
}

/// The access, audit and event sinks.
#[derive(Debug, Clone)]
pub struct Logs {
    /// One line per request.
    pub access: Sink,
    /// One line per filtered lead.
    pub audit: Sink,
    /// Start, reload, shutdown, errors.
    pub events: Sink,
}
