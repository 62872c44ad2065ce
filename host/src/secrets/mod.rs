//! Secrets: where each one comes from ([`Source`]), reading it, and what its
//! bytes must be for their use ([`Kind`]).
//!
//! A secret's value never comes from a policy file, a configuration file or
//! the command line. By default the secret `pepper` is read from the
//! environment variable `LEADFILTER_SECRET_PEPPER`; `--secret
//! pepper=env:MY_VAR` names another variable and `--secret
//! pepper=file:/run/secrets/pepper` a file. Anything else after `=` is
//! refused, so that a secret typed on the command line (and kept in shell
//! history and process listings) is an error rather than a habit. A secret
//! file that every user may write is refused; one that every user may read
//! is used with a warning. Every value is decoded strictly for its use
//! ([`material`]). Values are never printed; errors name the secret and its
//! source.

pub mod material;
mod source;

use std::collections::BTreeMap;

use leadfilter_engine::Secret;

pub use material::{Kind, Malformed};
pub use source::{SecretArg, Source, SourceSyntax, is_secret_name};

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
    /// `--secret` without `=`, without a name, or with nothing after
    /// `env:` or `file:`.
    #[error(
        "`--secret` is written `NAME=env:VARIABLE` or `NAME=file:PATH` (a name of letters, digits, `-` and `_`)"
    )]
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
    /// The file may be written by every user.
    #[error(
        "secret `{name}`: the {from} can be written by every user, so anyone could put their own key there: `chmod o-w` it (or 600)"
    )]
    Insecure {
        /// The secret's name.
        name: String,
        /// The file.
        from: Source,
    },
    /// The value is not fit for its use.
    #[error("secret `{name}` (from the {from}) {problem}")]
    Malformed {
        /// The secret's name.
        name: String,
        /// Where it came from.
        from: Source,
        /// What is wrong (never the value).
        problem: Malformed,
    },
}

/// Reads a named secret decoded for a use; the error names the secret and
/// its source, never its value. What the proxy hands to inbound checks and
/// upstreams as they load.
pub type ReadSecret<'a> = dyn FnMut(&str, Kind) -> Result<Vec<u8>, String> + 'a;

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

/// Sources for secrets: explicit ones, and the default variable for the
/// rest.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    explicit: BTreeMap<String, Source>,
}

impl Sources {
    /// From parsed `--secret` arguments (a later one for the same name
    /// wins).
    pub fn new(args: impl IntoIterator<Item = SecretArg>) -> Sources {
        Sources {
            explicit: args.into_iter().map(|arg| (arg.name, arg.source)).collect(),
        }
    }

    /// From `--secret` arguments as typed.
    pub fn from_args<S: AsRef<str>>(args: &[S]) -> Result<Sources, SecretError> {
        let args = args
            .iter()
            .map(|arg| arg.as_ref().parse())
            .collect::<Result<Vec<SecretArg>, _>>()?;
        Ok(Sources::new(args))
    }

    /// Where `name` is read from.
    pub fn source(&self, name: &str) -> Source {
        self.explicit
            .get(name)
            .cloned()
            .unwrap_or_else(|| Source::Env(default_env_var(name)))
    }

    /// Reads every secret a policy names ([`Kind::PolicyKey`]), or fails on
    /// the first that is missing or malformed.
    pub fn read(&self, names: &[String]) -> Result<Vec<Secret>, SecretError> {
        names
            .iter()
            .map(|name| {
                Ok(Secret {
                    name: name.clone(),
                    value: self.read_as(name, Kind::PolicyKey)?,
                })
            })
            .collect()
    }

    /// Reads one secret and decodes it for its use.
    pub fn read_as(&self, name: &str, kind: Kind) -> Result<Vec<u8>, SecretError> {
        let source = self.source(name);
        let Some(raw) = source.read(name)? else {
            return Err(SecretError::Missing {
                name: name.to_owned(),
                hint: match &source {
                    Source::File(_) => " (the file is empty)",
                    Source::Env(_) if self.explicit.contains_key(name) => "",
                    Source::Env(_) => {
                        " (or pass `--secret NAME=env:VARIABLE` or `--secret NAME=file:PATH`)"
                    }
                },
                from: source,
            });
        };
        material::decode(kind, raw).map_err(|problem| SecretError::Malformed {
            name: name.to_owned(),
            from: source,
            problem,
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
        let err = "pepper=hunter2"
            .parse::<SecretArg>()
            .unwrap_err()
            .to_string();
        assert!(err.contains("pepper=env:VARIABLE"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        for malformed in [
            "pepper",
            "=env:X",
            "pepper=env:",
            "pepper=file:",
            "a b=env:X",
        ] {
            assert!(
                matches!(malformed.parse::<SecretArg>(), Err(SecretError::Syntax)),
                "{malformed}"
            );
        }
    }

    #[test]
    fn files_lose_one_trailing_line_break() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pepper");
        std::fs::write(&path, b"s3cret-s3cret-s3cret\n").unwrap();
        let arg = format!("pepper=file:{}", path.display());
        let secrets = Sources::from_args(&[arg])
            .unwrap()
            .read(&["pepper".into()])
            .unwrap();
        assert_eq!(secrets[0].value, b"s3cret-s3cret-s3cret");
    }

    #[test]
    fn a_missing_secret_names_where_it_was_looked_for() {
        let sources = Sources::from_args(&["k=env:LEADFILTER_TEST_SURELY_UNSET"]).unwrap();
        let err = sources.read(&["k".into()]).unwrap_err().to_string();
        assert!(err.contains("LEADFILTER_TEST_SURELY_UNSET"), "{err}");
        // A source named on purpose gets no advice to name one.
        assert!(!err.contains("--secret"), "{err}");
        let err = Sources::default()
            .read(&["unset-here".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("LEADFILTER_SECRET_UNSET_HERE"), "{err}");
        assert!(
            err.contains("or pass `--secret NAME=env:VARIABLE`"),
            "{err}"
        );
    }

    #[test]
    fn an_unreadable_file_is_an_error() {
        let sources = Sources::from_args(&["k=file:/nonexistent/leadfilter/secret"]).unwrap();
        assert!(matches!(
            sources.read(&["k".into()]),
            Err(SecretError::Unreadable { .. })
        ));
    }

    /// Hardening (issue: every promise holds): a short or malformed value is
    /// an error naming the secret, never the value.
    #[test]
    fn a_short_policy_key_is_an_error_without_its_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pepper");
        std::fs::write(&path, b"hunter2\n").unwrap();
        let sources = Sources::from_args(&[format!("pepper=file:{}", path.display())]).unwrap();
        let err = sources.read(&["pepper".into()]).unwrap_err();
        assert!(matches!(err, SecretError::Malformed { .. }), "{err}");
        let err = err.to_string();
        assert!(
            err.contains("`pepper`") && err.contains("16 bytes"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn a_secret_file_anyone_may_write_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pepper");
        std::fs::write(&path, b"a-pepper-of-enough-bytes").unwrap();
        let sources = Sources::from_args(&[format!("pepper=file:{}", path.display())]).unwrap();
        for (mode, refused) in [(0o600, false), (0o644, false), (0o646, true), (0o666, true)] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let read = sources.read(&["pepper".into()]);
            assert_eq!(
                matches!(read, Err(SecretError::Insecure { .. })),
                refused,
                "mode {mode:o}: {read:?}"
            );
        }
    }
}
