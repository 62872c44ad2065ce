//! Running test files: each case through the compiled component (the result
//! that counts) and through the native engine (for coverage, and as a
//! cross-check).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use leadfilter_engine::{Coverage, Engine, Failure, Outcome, Policy};
use serde::Serialize;

use super::coverage::{PolicyCoverage, Ratio};
use super::diff::{self, Line, Tag};
use super::model::{Case, Expect, TestFile};
use super::{Target, discover};
use crate::filter::{Filter, TransformError};
use crate::resolver::Resolver;
use crate::runtime::{LoadedPolicy, RuntimeError, RuntimeOptions};

/// How to run tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunnerOptions {
    /// The runtime for components (time, fuel, memory, code cache; policy
    /// sources are compiled with the same cache).
    pub runtime: RuntimeOptions,
}

/// Runs test files. Compiles each policy once, however many test files use
/// it, and adds up each policy's coverage over all of them.
pub struct Runner {
    resolver: Resolver,
    policies: BTreeMap<PathBuf, Result<Prepared, String>>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("policies", &self.policies.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A policy ready to run: the component (a fresh instance per case), and
/// the native engine with the policy it came from when the source is known.
struct Prepared {
    component: Filter,
    native: Option<(Policy, Engine)>,
    coverage: Coverage,
}

/// What a test run found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Each test file, in the order run.
    pub files: Vec<FileReport>,
    /// Each policy's coverage over every case that ran against it (policies
    /// whose source is known).
    pub coverage: Vec<CoverageReport>,
}

/// The coverage of one policy.
#[derive(Debug, Clone, Serialize)]
pub struct CoverageReport {
    /// The policy source.
    pub policy: PathBuf,
    /// Covered out of all, exactly.
    pub ratio: Ratio,
    /// Every item and whether it was covered.
    pub items: Vec<super::coverage::Item>,
}

/// The results of one test file.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    /// The test file.
    pub file: PathBuf,
    /// The policy its cases ran against.
    pub policy: PathBuf,
    /// Why the file could not run at all (an invalid test file, a policy
    /// that does not check or compile); its cases then did not run.
    pub error: Option<String>,
    /// Each case, in file order.
    pub cases: Vec<CaseReport>,
    /// Time for the whole file, compiling included.
    #[serde(serialize_with = "seconds")]
    pub time: Duration,
}

/// The result of one case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseReport {
    /// The case's name.
    pub name: String,
    /// Passed, failed or error.
    #[serde(flatten)]
    pub outcome: CaseOutcome,
    /// Time for the case.
    #[serde(serialize_with = "seconds")]
    pub time: Duration,
}

/// How a case ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum CaseOutcome {
    /// The policy did what the case expects.
    Passed,
    /// The policy did something else.
    Failed {
        /// What differs (names kinds and paths; the diff shows values of
        /// the test's own expected and actual output).
        message: String,
        /// Expected against actual, line by line (may be empty).
        diff: Vec<Line>,
    },
    /// The case could not be run: the policy ran out of fuel or memory,
    /// or the component and the native engine disagree.
    Error {
        /// What happened.
        message: String,
    },
}

fn seconds<S: serde::Serializer>(time: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(time.as_secs_f64())
}

impl Report {
    /// Cases that passed.
    pub fn passed(&self) -> usize {
        self.count(|o| matches!(o, CaseOutcome::Passed))
    }

    /// Cases that failed or could not run, and test files that could not
    /// be read (one each).
    pub fn failed(&self) -> usize {
        self.count(|o| !matches!(o, CaseOutcome::Passed))
            + self
                .files
                .iter()
                .filter(|f| f.error.is_some() && f.cases.is_empty())
                .count()
    }

    /// Cases that could not run, and test files that could not be read.
    pub fn errors(&self) -> usize {
        self.count(|o| matches!(o, CaseOutcome::Error { .. }))
            + self
                .files
                .iter()
                .filter(|f| f.error.is_some() && f.cases.is_empty())
                .count()
    }

    /// Every case passed and every file ran.
    pub fn is_success(&self) -> bool {
        self.failed() == 0 && self.errors() == 0
    }

    /// Coverage over every policy whose source is known.
    pub fn total_coverage(&self) -> Ratio {
        self.coverage
            .iter()
            .fold(Ratio::default(), |sum, c| sum + c.ratio)
    }

    /// `N passed, N failed`.
    pub fn summary(&self) -> String {
        format!("{} passed, {} failed", self.passed(), self.failed())
    }

    fn count(&self, pick: impl Fn(&CaseOutcome) -> bool) -> usize {
        self.files
            .iter()
            .flat_map(|f| &f.cases)
            .filter(|c| pick(&c.outcome))
            .count()
    }
}

impl Runner {
    /// A runner with its own wasmtime runtime.
    pub fn new(options: &RunnerOptions) -> Result<Runner, RuntimeError> {
        Ok(Runner {
            resolver: Resolver::new(&options.runtime)?,
            policies: BTreeMap::new(),
        })
    }

    /// Finds the test files under `paths` (see [`discover`]) and runs them.
    pub fn run_paths(&mut self, paths: &[PathBuf]) -> Result<Report, super::DiscoverError> {
        let targets = discover(paths)?;
        Ok(self.run_targets(&targets))
    }

    /// Runs test files.
    pub fn run_targets(&mut self, targets: &[Target]) -> Report {
        let mut report = Report::default();
        for target in targets {
            report.files.push(self.run_target(target));
        }
        report.coverage = self.coverage();
        report
    }

    /// Runs one test file (against `target.policy` when given instead of
    /// the policy the file names).
    pub fn run_target(&mut self, target: &Target) -> FileReport {
        let start = Instant::now();
        let file = match TestFile::load(&target.test_file) {
            Ok(file) => file,
            Err(e) => {
                return FileReport {
                    file: target.test_file.clone(),
                    policy: target.policy.clone().unwrap_or_default(),
                    error: Some(e.to_string()),
                    cases: Vec::new(),
                    time: start.elapsed(),
                };
            }
        };
        let policy = target.policy.clone().unwrap_or_else(|| file.policy.clone());
        let mut report = self.run_file(&file, &policy);
        report.time = start.elapsed();
        report
    }

    /// Runs the cases of `file` against `policy` (a source or a `.wasm`).
    pub fn run_file(&mut self, file: &TestFile, policy: &Path) -> FileReport {
        let start = Instant::now();
        let mut report = FileReport {
            file: file.path.clone(),
            policy: policy.to_owned(),
            error: None,
            cases: Vec::new(),
            time: Duration::ZERO,
        };
        let key = std::path::absolute(policy).unwrap_or_else(|_| policy.to_owned());
        if !self.policies.contains_key(&key) {
            let prepared = self.prepare(policy);
            self.policies.insert(key.clone(), prepared);
        }
        match self.policies.get_mut(&key) {
            Some(Ok(prepared)) => {
                for case in &file.cases {
                    report.cases.push(prepared.run(case));
                }
            }
            Some(Err(e)) => {
                report.error = Some(e.clone());
                for case in &file.cases {
                    report.cases.push(CaseReport {
                        name: case.name.clone(),
                        outcome: CaseOutcome::Error {
                            message: format!("the policy could not be used: {e}"),
                        },
                        time: Duration::ZERO,
                    });
                }
            }
            None => report.error = Some("the policy was not prepared".into()),
        }
        report.time = start.elapsed();
        report
    }

    /// The coverage of each policy run so far whose source is known.
    pub fn coverage(&self) -> Vec<CoverageReport> {
        self.policies
            .iter()
            .filter_map(|(path, prepared)| {
                let prepared = prepared.as_ref().ok()?;
                let (policy, _) = prepared.native.as_ref()?;
                let coverage = PolicyCoverage::new(policy, &prepared.coverage);
                Some(CoverageReport {
                    policy: relative(path),
                    ratio: coverage.ratio(),
                    items: coverage.items,
                })
            })
            .collect()
    }

    /// Loads a component, or checks and compiles a source. The error is
    /// the whole message, naming the policy file.
    fn prepare(&mut self, path: &Path) -> Result<Prepared, String> {
        let resolved = self.resolver.resolve(path).map_err(|e| e.to_string())?;
        let native = match resolved.source {
            Some(source) => {
                let engine = Engine::new(source.policy.clone())
                    .map_err(|e| format!("`{}`: {e}", path.display()))?;
                Some((source.policy, engine))
            }
            None => source_beside(path, &resolved.component)?,
        };
        let component = Filter::from_loaded(resolved.component)
            .map_err(|e| format!("cannot load `{}`: {e}", path.display()))?
            .isolated();
        Ok(Prepared {
            component,
            native,
            coverage: Coverage::new(),
        })
    }
}

/// For a `.wasm`, the policy source beside it (same stem), which must be
/// the policy the component was compiled from (same digest): a component
/// that does not match its source is an error, since the cases were written
/// for the source. No source beside it: no native engine (and no coverage).
fn source_beside(
    wasm: &Path,
    component: &LoadedPolicy,
) -> Result<Option<(Policy, Engine)>, String> {
    let Some(digest) = component.metadata().map(|m| &m.info.digest) else {
        return Ok(None);
    };
    for ext in ["yaml", "yml", "json"] {
        let source = wasm.with_extension(ext);
        if !source.is_file() {
            continue;
        }
        let Ok(loaded) = crate::policy::load(&source) else {
            return Ok(None);
        };
        let actual = loaded.policy.digest();
        if &actual != digest {
            return Err(format!(
                "`{}` was not compiled from `{}` as it is now (the component's policy is {digest}, the source's {actual}): compile it again with `leadfilter compile {}`",
                wasm.display(),
                source.display(),
                source.display(),
            ));
        }
        let engine = Engine::new(loaded.policy.clone()).map_err(|e| e.to_string())?;
        return Ok(Some((loaded.policy, engine)));
    }
    Ok(None)
}

/// `path` relative to the current directory when it is inside it.
fn relative(path: &Path) -> PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|dir| path.strip_prefix(dir).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_owned())
}

impl Prepared {
    fn run(&mut self, case: &Case) -> CaseReport {
        let start = Instant::now();
        let outcome = self.outcome(case);
        CaseReport {
            name: case.name.clone(),
            outcome,
            time: start.elapsed(),
        }
    }

    fn outcome(&mut self, case: &Case) -> CaseOutcome {
        // A fresh instance per case: no state crosses from one to the next.
        let answer = match self.component.transform_with(&case.lead, &case.secrets) {
            Ok(outcome) => Ok(outcome),
            Err(TransformError::Failure(failure)) => Err(failure),
            Err(TransformError::Runtime(e)) => {
                return CaseOutcome::Error {
                    message: e.to_string(),
                };
            }
        };
        if let Some((_, engine)) = &self.native {
            let mut record = Coverage::new();
            let native = engine.transform_traced(&case.lead, &case.secrets, &mut record);
            if native != answer {
                return CaseOutcome::Error {
                    message: "the component and the native engine disagree on this lead \
                              (a bug in leadfilter: please report it)"
                        .into(),
                };
            }
            self.coverage.merge(&record);
        }
        judge(&case.expect, &answer)
    }
}

/// Whether `answer` meets `expect`.
fn judge(expect: &Expect, answer: &Result<Outcome, Failure>) -> CaseOutcome {
    let failed = |message: String, diff: Vec<Line>| CaseOutcome::Failed { message, diff };
    match (expect, answer) {
        (
            Expect::Output {
                lead,
                exact,
                changes,
            },
            Ok(outcome),
        ) => {
            if !diff::output_matches(lead, &outcome.lead, *exact) {
                let what = if *exact {
                    "the output differs from the expected output (compared byte for byte)"
                } else {
                    "the output differs from the expected output"
                };
                return failed(what.into(), diff::diff(lead, &outcome.lead, *exact));
            }
            match changes {
                Some(changes) if *changes != outcome.changes => {
                    let list = |changes: &[leadfilter_engine::Change]| {
                        changes
                            .iter()
                            .map(|c| format!("{} {}\n", display_path(&c.path), c.action))
                            .collect::<String>()
                    };
                    failed(
                        "the change list differs from the expected one".into(),
                        diff::lines(&list(changes), &list(&outcome.changes)),
                    )
                }
                _ => CaseOutcome::Passed,
            }
        }
        (Expect::Output { .. }, Err(failure)) => failed(
            format!("expected an output, but the lead failed: {failure}"),
            Vec::new(),
        ),
        (Expect::Failure { kind, .. }, Ok(outcome)) => failed(
            format!("expected the failure `{kind}`, but the lead was filtered into this output"),
            diff::pretty(&outcome.lead)
                .lines()
                .map(|text| Line {
                    tag: Tag::Actual,
                    text: text.to_owned(),
                })
                .collect(),
        ),
        (
            Expect::Failure {
                kind,
                reason,
                paths,
                message,
            },
            Err(failure),
        ) => {
            if failure.kind() != kind {
                return failed(
                    format!("expected the failure `{kind}`, got {failure}"),
                    Vec::new(),
                );
            }
            if let (Some(reason), Failure::Rejected(actual)) = (reason, failure)
                && reason != actual
            {
                return failed(
                    "the lead was rejected for another reason".into(),
                    diff::lines(&format!("{reason}\n"), &format!("{actual}\n")),
                );
            }
            if let Some(paths) = paths {
                let mut expected: Vec<&str> = paths.iter().map(String::as_str).collect();
                let mut actual = failure.paths();
                expected.sort_unstable();
                expected.dedup();
                actual.sort_unstable();
                actual.dedup();
                if expected != actual {
                    let list = |paths: &[&str]| {
                        paths
                            .iter()
                            .map(|p| format!("{}\n", display_path(p)))
                            .collect::<String>()
                    };
                    return failed(
                        format!("the failure names other paths than expected ({failure})"),
                        diff::lines(&list(&expected), &list(&actual)),
                    );
                }
            }
            if let Some(message) = message {
                let actual = failure.message();
                if *message != actual {
                    return failed(
                        "the failure's message differs".into(),
                        diff::lines(&format!("{message}\n"), &format!("{actual}\n")),
                    );
                }
            }
            CaseOutcome::Passed
        }
    }
}

fn display_path(path: &str) -> &str {
    if path.is_empty() { "/" } else { path }
}
