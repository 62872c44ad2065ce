//! Secrets for a policy: where each one comes from, and reading them.
//!
//! A secret's value never comes from a policy file or the command line. By
//! default the secret `pepper` is read from the environment variable
//! `LEADFILTER_SECRET_PEPPER`; `--secret pepper=env:MY_VAR` names another
//! variable and `--secret pepper=file:/run/secrets/pepper` a file. Anything
//! else after `=` is refused, so that a secret typed on the command line
//! (and kept in shell history and process listings) is an error rather than
//! a habit. Values are never printed; errors name the secret and its source.

use std::collections::BTreeMap;
use std::path::PathBuf;

use leadfilter_engine::Secret;

/// Where one secret's value comes from.
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

/// Why a secret is not available. Never holds a value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// `--secret` not written as `NAME=env:VAR` or `NAME=file:PATH`.
    #[error(
        "`--secret {name}=...`: secrets are not accepted on the command line; write `{name}=env:VARIABLE` or `{name}=file:PATH`"
    )]
    Literal {
        /// The secret's name.
        name: String,
    },
    /// `--secret` without `=`.
    #[error("`--secret` is written `NAME=env:VARIABLE` or `NAME=file:PATH`")]
    Syntax,
    /// The source has no value.
    #[error("secret `{name}` is not set: the policy needs it from the {from}{hint}")]
    Missing {
        /// The secret's name.
        name: String,
        /// Where it was looked for.
        from: Source,
        /// What to do.
        hint: &'static str,
    },
    /// The file could not be read.
    #[error("secret `{name}`: cannot read the {from}: {error}")]
    Unreadable {
        /// The secret's name.
        name: String,
        /// The file.
        from: Source,
        /// The I/O error (it names no content).
        error: std::io::Error,
    },
}

/// The environment variable a secret is read from by default:
/// `LEADFILTER_SECRET_` and the name upper-cased, `-` as `_`.
pub fn default_env_var(name: &str) -> String {
    let mut var = String::from("LEADFILTER_SECRET_");
    var.extend(name.chars().map(|c| match c {
        '-' => '_',
        c => c.to_ascii_uppercase(),
    }));
    var
}

/// Parses one `--secret NAME=env:VAR` or `NAME=file:PATH`.
pub fn parse_arg(arg: &str) -> Result<(String, Source), SecretError> {
    let (name, source) = arg.split_once('=').ok_or(SecretError::Syntax)?;
    let name = name.to_owned();
    if let Some(var) = source.strip_prefix("env:") {
        Ok((name, Source::Env(var.to_owned())))
    } else if let Some(path) = source.strip_prefix("file:") {
        Ok((name, Source::File(PathBuf::from(path))))
    } else {
        Err(SecretError::Literal { name })
    }
}

/// Sources for secrets: explicit ones, and the environment for the rest.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    explicit: BTreeMap<String, Source>,
}

impl Sources {
    /// From `--secret` arguments.
    pub fn from_args<S: AsRef<str>>(args: &[S]) -> Result<Sources, SecretError> {
        let mut explicit = BTreeMap::new();
        for arg in args {
            let (name, source) = parse_arg(arg.as_ref())?;
            explicit.insert(name, source);
        }
        Ok(Sources { explicit })
    }

    /// Where `name` is read from.
    pub fn source(&self, name: &str) -> Source {
        self.explicit
            .get(name)
            .cloned()
            .unwrap_or_else(|| Source::Env(default_env_var(name)))
    }

    /// Reads every named secret, or fails on the first that is missing.
    pub fn read(&self, names: &[String]) -> Result<Vec<Secret>, SecretError> {
        names.iter().map(|name| self.read_one(name)).collect()
    }

    fn read_one(&self, name: &str) -> Result<Secret, SecretError> {
        let source = self.source(name);
        let value = match &source {
            Source::Env(var) => match std::env::var_os(var) {
                Some(value) if !value.is_empty() => value.into_encoded_bytes(),
                _ => {
                    return Err(SecretError::Missing {
                        name: name.to_owned(),
                        hint: if self.explicit.contains_key(name) {
                            ""
                        } else {
                            " (or pass `--secret NAME=env:VARIABLE` or `--secret NAME=file:PATH`)"
                        },
                        from: source,
                    });
                }
            },
            Source::File(path) => {
                let mut bytes = std::fs::read(path).map_err(|error| SecretError::Unreadable {
                    name: name.to_owned(),
                    from: source.clone(),
                    error,
                })?;
                if bytes.last() == Some(&b'\n') {
                    bytes.pop();
                    if bytes.last() == Some(&b'\r') {
                        bytes.pop();
                    }
                }
                if bytes.is_empty() {
                    return Err(SecretError::Missing {
                        name: name.to_owned(),
                        from: source,
                        hint: " (the file is empty)",
                    });
                }
                bytes
            }
        };
        Ok(Secret {
            name: name.to_owned(),
            value,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_variables_are_upper_case_with_underscores() {
        assert_eq!(default_env_var("pepper"), "LEADFILTER_SECRET_PEPPER");
        assert_eq!(default_env_var("crm-key"), "LEADFILTER_SECRET_CRM_KEY");
    }

    #[test]
    fn literal_secrets_are_refused_without_echoing_them() {
        let err = parse_arg("pepper=hunter2").unwrap_err().to_string();
        assert!(err.contains("pepper=env:VARIABLE"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        assert!(matches!(parse_arg("pepper"), Err(SecretError::Syntax)));
    }

    #[test]
    fn files_lose_one_trailing_line_break() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pepper");
        std::fs::write(&path, b"s3cret\n").unwrap();
        let arg = format!("pepper=file:{}", path.display());
        let secrets = Sources::from_args(&[arg])
            .unwrap()
            .read(&["pepper".into()])
            .unwrap();
        assert_eq!(secrets[0].value, b"s3cret");
    }

    #[test]
    fn a_missing_secret_names_where_it_was_looked_for() {
        let sources = Sources::from_args(&["k=env:LEADFILTER_TEST_SURELY_UNSET"]).unwrap();
        let err = sources.read(&["k".into()]).unwrap_err().to_string();
        assert!(err.contains("LEADFILTER_TEST_SURELY_UNSET"), "{err}");
        let err = Sources::default()
            .read(&["unset-here".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("LEADFILTER_SECRET_UNSET_HERE"), "{err}");
    }

    #[test]
    fn an_unreadable_file_is_an_error() {
        let sources = Sources::from_args(&["k=file:/nonexistent/leadfilter/secret"]).unwrap();
        assert!(matches!(
            sources.read(&["k".into()]),
            Err(SecretError::Unreadable { .. })
        ));
    }
}
