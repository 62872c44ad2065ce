//! `leadfilter test`: run policy unit tests.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use leadfilter::testing::{Percent, Runner, RunnerOptions, report};

use super::args::LimitsArgs;
use super::{CommandResult, exit};

/// Arguments of `leadfilter test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// Test files (`*.test.yaml`), policies (their `<name>.test.yaml`
    /// beside them runs against them; a `.wasm` runs as compiled) or
    /// directories (every test file under them).
    #[arg(default_value = ".")]
    paths: Vec<PathBuf>,
    /// How to write the results: readable text, JUnit XML or JSON.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Write the report to FILE instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    /// List every rule, alternative and requirement with whether a case
    /// covered it (by default only those no case covered are listed).
    #[arg(long)]
    coverage: bool,
    /// Fail unless at least PERCENT of the rules, alternatives and
    /// requirements are covered, compared exactly (11 of 12 is below 100).
    #[arg(long, value_name = "PERCENT")]
    fail_under: Option<Percent>,
    /// When to colour the text report.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    color: Color,
    #[command(flatten)]
    limits: LimitsArgs,
}

/// A report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// Each case, a diff under each failure, coverage, `N passed, N failed`.
    Text,
    /// JUnit XML, for CI systems.
    Junit,
    /// JSON, for programs.
    Json,
}

/// When to colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Color {
    /// When writing to a terminal and `NO_COLOR` is not set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Runs the tests; 0 when every case passed (and coverage meets
/// `--fail-under`), 1 when a case failed, 3 when a test file, a policy or
/// a case could not be run at all.
pub fn run(args: TestArgs) -> CommandResult {
    let options = RunnerOptions {
        runtime: args.limits.runtime_options(),
    };
    let targets = match leadfilter::testing::discover(&args.paths) {
        Ok(targets) => targets,
        Err(err) => {
            note!("leadfilter: error: {err}");
            return Ok(exit::POLICY_OR_RUNTIME);
        }
    };
    let mut runner = Runner::new(&options)?;
    let report = runner.run_targets(&targets);

    let to_terminal = args.output.is_none() && std::io::stdout().is_terminal();
    let color = match args.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => to_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    };
    let text = match args.format {
        Format::Text => report::text(&report, color, args.coverage),
        Format::Junit => report::junit(&report),
        Format::Json => report::json(&report),
    };
    match &args.output {
        Some(path) => std::fs::write(path, &text)
            .with_context(|| format!("cannot write `{}`", path.display()))?,
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
    }

    let mut gate_failed = false;
    if let Some(percent) = &args.fail_under {
        let total = report.total_coverage();
        if report.coverage.is_empty() {
            note!(
                "leadfilter: coverage is unknown (no policy source was tested), so `--fail-under {percent}` fails"
            );
            gate_failed = true;
        } else if total.cmp_percent(percent).is_lt() {
            note!("leadfilter: coverage {total} is below `--fail-under {percent}`");
            gate_failed = true;
        }
    }
    // The text report ends with the summary; the others are for programs,
    // so people get it on stderr.
    if args.format != Format::Text || args.output.is_some() {
        note!("{}", report.summary());
    }
    Ok(if report.errors() > 0 {
        exit::POLICY_OR_RUNTIME
    } else if report.failed() > 0 || gate_failed {
        exit::LEADS_FAILED
    } else {
        exit::SUCCESS
    })
}
