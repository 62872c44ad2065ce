//! What `leadfilter check` reports: a file, a place in the policy, what is
//! wrong and what to do.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// One finding about a policy source: an error or a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The policy file.
    pub file: PathBuf,
    /// Where in the policy, as keys and indices: `fields./email[0].hash.key`,
    /// `require[0].path`. Empty for the file as a whole.
    pub location: String,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub help: Option<String>,
}

impl Diagnostic {
    /// A diagnostic without help.
    pub(crate) fn new(
        file: &Path,
        location: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            file: file.to_owned(),
            location: location.into(),
            message: message.into(),
            help: None,
        }
    }

    /// The same diagnostic with help.
    pub(crate) fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.file.display())?;
        if !self.location.is_empty() {
            write!(f, "{}: ", self.location)?;
        }
        f.write_str(&self.message)?;
        if let Some(help) = &self.help {
            write!(f, " ({help})")?;
        }
        Ok(())
    }
}

/// A policy that does not pass `leadfilter check`: every error found, and
/// the warnings found along the way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PolicyError {
    /// The errors, in the order of the policy (at least one).
    pub errors: Vec<Diagnostic>,
    /// Warnings found before checking stopped.
    pub warnings: Vec<Diagnostic>,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

/// Collects findings about one file.
#[derive(Debug)]
pub(crate) struct Findings {
    file: PathBuf,
    pub(crate) errors: Vec<Diagnostic>,
    pub(crate) warnings: Vec<Diagnostic>,
}

impl Findings {
    pub(crate) fn new(file: &Path) -> Self {
        Findings {
            file: file.to_owned(),
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Records an error.
    pub(crate) fn error(&mut self, location: impl Into<String>, message: impl Into<String>) {
        self.errors
            .push(Diagnostic::new(&self.file, location, message));
    }

    /// Records an error with help.
    pub(crate) fn error_with(
        &mut self,
        location: impl Into<String>,
        message: impl Into<String>,
        help: Option<String>,
    ) {
        let mut d = Diagnostic::new(&self.file, location, message);
        d.help = help;
        self.errors.push(d);
    }

    /// Records a warning.
    pub(crate) fn warning(
        &mut self,
        location: impl Into<String>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.warnings
            .push(Diagnostic::new(&self.file, location, message).help(help));
    }
}

/// A location in the policy document, built key by key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Location(String);

impl Location {
    pub(crate) fn root() -> Self {
        Location(String::new())
    }

    /// `a.b`; the first key stands alone.
    pub(crate) fn key(&self, key: &str) -> Self {
        if self.0.is_empty() {
            Location(key.to_owned())
        } else {
            Location(format!("{}.{key}", self.0))
        }
    }

    /// `a[3]`.
    pub(crate) fn index(&self, index: usize) -> Self {
        Location(format!("{}[{index}]", self.0))
    }
}

impl From<Location> for String {
    fn from(location: Location) -> String {
        location.0
    }
}

impl From<&Location> for String {
    fn from(location: &Location) -> String {
        location.0.clone()
    }
}

/// The location of a JSON Pointer into `document`: array indices as `[i]`,
/// keys joined by `.`.
pub(crate) fn location_of(document: &Value, pointer: &str) -> Location {
    let mut location = Location::root();
    let mut current = Some(document);
    for raw in pointer.split('/').skip(1) {
        let key = raw.replace("~1", "/").replace("~0", "~");
        match current {
            Some(Value::Array(items)) => {
                let index = key.parse::<usize>().ok();
                current = index.and_then(|i| items.get(i));
                location = match index {
                    Some(i) => location.index(i),
                    None => location.key(&key),
                };
            }
            Some(Value::Object(map)) => {
                current = map.get(&key);
                location = location.key(&key);
            }
            _ => {
                current = None;
                location = location.key(&key);
            }
        }
    }
    location
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn locations_read_like_the_policy() {
        let doc = json!({"fields": {"/email": [{"hash": {}}]}, "require": [{"path": "/a"}]});
        assert_eq!(
            String::from(location_of(&doc, "/fields/~1email/0/hash/key")),
            "fields./email[0].hash.key"
        );
        assert_eq!(
            String::from(location_of(&doc, "/require/0/path")),
            "require[0].path"
        );
        assert_eq!(String::from(location_of(&doc, "")), "");
    }

    #[test]
    fn a_diagnostic_names_file_location_and_help() {
        let d = Diagnostic::new(
            Path::new("policy.yaml"),
            "fields./emial",
            "no such path in the input schema",
        )
        .help("did you mean `/email`?");
        assert_eq!(
            d.to_string(),
            "policy.yaml: fields./emial: no such path in the input schema (did you mean `/email`?)"
        );
        let d = Diagnostic::new(Path::new("p.json"), "", "not JSON");
        assert_eq!(d.to_string(), "p.json: not JSON");
    }
}
