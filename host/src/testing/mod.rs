//! Policy unit tests: what `leadfilter test` runs, and the same from Rust.
//!
//! A test file (`policy.test.yaml` beside `policy.yaml`) lists cases: a
//! lead, the test secrets it runs with, and what must come out, an exact
//! output or a failure:
//!
//! ```yaml
//! policy: policy.yaml          # optional: by default the file name without `.test`
//! secrets: { pepper: test-pepper }
//! cases:
//!   - name: a US lead keeps its e-mail
//!     lead: { email: ada@example.com, consent: { terms: true } }
//!     expect:
//!       output: { email: ada@example.com }
//!   - name: no terms, no lead
//!     lead_file: leads/no-terms.json
//!     expect: { failure: rejected, reason: the lead did not accept the terms }
//! ```
//!
//! [`Runner`] runs every case through the compiled component (compiling a
//! policy source first), which gives the result that counts, and through
//! the native engine, which is the same code and records [`coverage`]
//! (a disagreement between the two is reported as an error). [`report`]
//! writes the results as text with diffs, JUnit XML or JSON.
//!
//! From a Rust test:
//!
//! ```no_run
//! use leadfilter::testing::{Runner, RunnerOptions};
//!
//! let mut runner = Runner::new(&RunnerOptions::default())?;
//! let report = runner.run_paths(&["examples/".into()])?;
//! report.assert_passed();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod coverage;
pub mod diff;
mod model;
pub mod report;
mod runner;

use std::path::{Path, PathBuf};

pub use coverage::{Item, Percent, PolicyCoverage, Ratio};
pub use model::{
    Case, Expect, FAILURE_KINDS, TestFile, TestFileError, default_policy_for, is_test_file,
    test_file_for,
};
pub use runner::{
    CaseOutcome, CaseReport, CoverageReport, FileReport, Report, Runner, RunnerOptions,
};

/// A test file to run, and the policy to run it against when that is not
/// the one the file names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The test file.
    pub test_file: PathBuf,
    /// Run against this policy (a source or a `.wasm`) instead.
    pub policy: Option<PathBuf>,
}

/// Why no test files could be found.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    /// The path does not exist or cannot be read.
    #[error("cannot read `{path}`: {error}", path = .path.display())]
    Unreadable {
        /// The path.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// A policy without a test file beside it.
    #[error("`{policy}` has no test file: write its cases in `{test_file}`", policy = .policy.display(), test_file = .test_file.display())]
    NoTestFile {
        /// The policy.
        policy: PathBuf,
        /// Where its test file would be.
        test_file: PathBuf,
    },
    /// A file that is neither a test file nor a policy.
    #[error("`{path}` is not a test file (`*.test.yaml`), a policy or a directory", path = .path.display())]
    NotTestable {
        /// The path.
        path: PathBuf,
    },
    /// A directory with no test file in it.
    #[error("no test files (`*.test.yaml`) under `{path}`", path = .path.display())]
    Empty {
        /// The directory.
        path: PathBuf,
    },
}

/// The test files `paths` name:
///
/// - a test file (`*.test.yaml` or `*.test.yml`) runs against the policy it
///   names (by default its own name without `.test`: `policy.yaml`);
/// - a policy (`.yaml`, `.yml`, `.json` or a compiled `.wasm`) runs the
///   test file beside it (`policy.test.yaml`) against itself;
/// - a directory runs every test file under it, in name order, skipping
///   hidden directories and `target` and `node_modules`.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<Target>, DiscoverError> {
    let mut targets = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|error| DiscoverError::Unreadable {
            path: path.clone(),
            error,
        })?;
        if meta.is_dir() {
            let before = targets.len();
            walk(path, &mut targets)?;
            if targets.len() == before {
                return Err(DiscoverError::Empty { path: path.clone() });
            }
        } else if is_test_file(path) {
            targets.push(Target {
                test_file: path.clone(),
                policy: None,
            });
        } else if is_policy(path) {
            let test_file = test_file_for(path);
            if !test_file.is_file() {
                return Err(DiscoverError::NoTestFile {
                    policy: path.clone(),
                    test_file,
                });
            }
            targets.push(Target {
                test_file,
                policy: Some(path.clone()),
            });
        } else {
            return Err(DiscoverError::NotTestable { path: path.clone() });
        }
    }
    Ok(targets)
}

fn is_policy(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e, "yaml" | "yml" | "json" | "wasm"))
}

fn walk(dir: &Path, targets: &mut Vec<Target>) -> Result<(), DiscoverError> {
    let unreadable = |error| DiscoverError::Unreadable {
        path: dir.to_owned(),
        error,
    };
    let mut entries: Vec<(PathBuf, bool)> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        let is_dir = entry.file_type().map_err(unreadable)?.is_dir();
        entries.push((entry.path(), is_dir));
    }
    entries.sort();
    for (path, is_dir) in entries {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if is_dir {
            if !name.starts_with('.') && name != "target" && name != "node_modules" {
                walk(&path, targets)?;
            }
        } else if is_test_file(&path) {
            targets.push(Target {
                test_file: path,
                policy: None,
            });
        }
    }
    Ok(())
}
