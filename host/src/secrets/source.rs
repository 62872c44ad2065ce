//! Where a secret's value comes from, and reading it from there.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::SecretError;

/// Where one secret's value comes from: `env:VARIABLE` or `file:PATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An environment variable.
    Env(String),
    /// A file; one trailing line break is not part of the value.
    File(PathBuf),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Env(var) => write!(f, "environment variable `{var}`"),
            Source::File(path) => write!(f, "file `{}`", path.display()),
        }
    }
}

impl FromStr for Source {
    type Err = SourceSyntax;

    /// `env:VARIABLE` or `file:PATH`, each with something after the colon.
    /// Anything else is refused without being repeated: it may be a secret
    /// typed where its source belongs.
    fn from_str(text: &str) -> Result<Source, SourceSyntax> {
        if let Some(var) = text.strip_prefix("env:") {
            if var.is_empty() || var.contains(['=', '\0']) {
                return Err(SourceSyntax::EmptyOrBad("env:"));
            }
            Ok(Source::Env(var.to_owned()))
        } else if let Some(path) = text.strip_prefix("file:") {
            if path.is_empty() || path.contains('\0') {
                return Err(SourceSyntax::EmptyOrBad("file:"));
            }
            Ok(Source::File(PathBuf::from(path)))
        } else {
            Err(SourceSyntax::Literal)
        }
    }
}

impl<'de> serde::Deserialize<'de> for Source {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Source, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Why a source is not `env:VARIABLE` or `file:PATH`. Never repeats the
/// text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SourceSyntax {
    /// Neither `env:` nor `file:`: perhaps the secret itself.
    #[error(
        "a secret's source is `env:VARIABLE` or `file:PATH`; secret values are not accepted here"
    )]
    Literal,
    /// `env:` or `file:` with nothing (or a NUL) after it.
    #[error("`{0}` needs a name after the colon (`env:VARIABLE`, `file:PATH`)")]
    EmptyOrBad(&'static str),
}

impl Source {
    /// The same source with a relative file made relative to `base` (a
    /// configuration file's directory).
    pub fn relative_to(&self, base: &Path) -> Source {
        match self {
            Source::File(path) if path.is_relative() => Source::File(base.join(path)),
            other => other.clone(),
        }
    }

    /// Reads the raw bytes: the variable's value, or the file's content
    /// without one trailing line break (`\n` or `\r\n`). `Ok(None)` when the
    /// variable is unset or empty, or the file is empty.
    pub(crate) fn read(&self, name: &str) -> Result<Option<Vec<u8>>, SecretError> {
        match self {
            Source::Env(var) => Ok(std::env::var_os(var)
                .filter(|value| !value.is_empty())
                .map(|value| value.into_encoded_bytes())),
            Source::File(path) => {
                let unreadable = |error| SecretError::Unreadable {
                    name: name.to_owned(),
                    from: self.clone(),
                    error,
                };
                let meta = std::fs::metadata(path).map_err(unreadable)?;
                if let Some(warning) = check_permissions(name, self, &meta)? {
                    warn_once(path, &warning);
                }
                let mut bytes = std::fs::read(path).map_err(unreadable)?;
                if bytes.last() == Some(&b'\n') {
                    bytes.pop();
                    if bytes.last() == Some(&b'\r') {
                        bytes.pop();
                    }
                }
                Ok(Some(bytes).filter(|bytes| !bytes.is_empty()))
            }
        }
    }
}

/// A secret file that anyone may write is refused (anyone could put their
/// own key there); one that anyone may read is used with a warning (the
/// `Some`), printed once per file and process.
#[cfg(unix)]
fn check_permissions(
    name: &str,
    source: &Source,
    meta: &std::fs::Metadata,
) -> Result<Option<String>, SecretError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode();
    if mode & 0o002 != 0 {
        return Err(SecretError::Insecure {
            name: name.to_owned(),
            from: source.clone(),
        });
    }
    Ok((mode & 0o004 != 0).then(|| {
        format!("secret `{name}`: the {source} can be read by every user: `chmod o-r` it (or 600)")
    }))
}

#[cfg(not(unix))]
fn check_permissions(
    _name: &str,
    _source: &Source,
    _meta: &std::fs::Metadata,
) -> Result<Option<String>, SecretError> {
    Ok(None)
}

fn warn_once(path: &Path, message: &str) {
    use std::collections::BTreeSet;
    use std::sync::Mutex;
    static WARNED: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());
    let first = WARNED
        .lock()
        .map(|mut warned| warned.insert(path.to_owned()))
        .unwrap_or(true);
    if first {
        eprintln!("leadfilter: warning: {message}");
    }
}

/// One `--secret NAME=SOURCE` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretArg {
    /// The secret's name.
    pub name: String,
    /// Where its value comes from.
    pub source: Source,
}

impl FromStr for SecretArg {
    type Err = SecretError;

    /// `NAME=env:VARIABLE` or `NAME=file:PATH`: what clap parses `--secret`
    /// with.
    fn from_str(arg: &str) -> Result<SecretArg, SecretError> {
        let (name, source) = arg.split_once('=').ok_or(SecretError::Syntax)?;
        if !is_secret_name(name) {
            return Err(SecretError::Syntax);
        }
        let source = source.parse().map_err(|syntax| match syntax {
            SourceSyntax::Literal => SecretError::Literal {
                name: name.to_owned(),
            },
            SourceSyntax::EmptyOrBad(_) => SecretError::Syntax,
        })?;
        Ok(SecretArg {
            name: name.to_owned(),
            source,
        })
    }
}

/// A secret's name: letters, digits, `-` and `_`, at least one.
pub fn is_secret_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_secret_file_anyone_may_read_is_warned_about_and_one_anyone_may_write_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pepper");
        std::fs::write(&path, b"x").unwrap();
        let source = Source::File(path.clone());
        let check = |mode: u32| {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            check_permissions("pepper", &source, &std::fs::metadata(&path).unwrap())
        };
        for mode in [0o600, 0o640, 0o660, 0o400] {
            assert!(matches!(check(mode), Ok(None)), "{mode:o}");
        }
        for mode in [0o644, 0o604, 0o444] {
            let warning = check(mode).unwrap().expect("a warning");
            assert!(
                warning.contains("`pepper`") && warning.contains("chmod o-r"),
                "{warning}"
            );
        }
        for mode in [0o602, 0o646, 0o666] {
            assert!(
                matches!(check(mode), Err(SecretError::Insecure { .. })),
                "{mode:o}"
            );
        }
    }

    #[test]
    fn relative_files_are_relative_to_the_configuration() {
        let base = Path::new("/etc/leadfilter");
        assert_eq!(
            Source::File("keys/k".into()).relative_to(base),
            Source::File("/etc/leadfilter/keys/k".into())
        );
        assert_eq!(
            Source::File("/run/k".into()).relative_to(base),
            Source::File("/run/k".into())
        );
        assert_eq!(
            Source::Env("K".into()).relative_to(base),
            Source::Env("K".into())
        );
    }

    #[test]
    fn a_file_loses_one_line_break_and_an_empty_value_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let read = |content: &[u8]| {
            std::fs::write(&path, content).unwrap();
            Source::File(path.clone()).read("k").unwrap()
        };
        assert_eq!(read(b"abc\r\n"), Some(b"abc".to_vec()));
        assert_eq!(read(b"abc\n\n"), Some(b"abc\n".to_vec()));
        assert_eq!(read(b"abc"), Some(b"abc".to_vec()));
        assert_eq!(read(b"\n"), None);
        // An environment variable that is set is read; unset is none.
        let var = "LEADFILTER_TEST_SOURCE_READ_UNSET_1234";
        assert_eq!(Source::Env(var.into()).read("k").unwrap(), None);
        assert_eq!(
            Source::Env("PATH".into()).read("k").unwrap(),
            std::env::var_os("PATH").map(|v| v.into_encoded_bytes())
        );
    }
}
