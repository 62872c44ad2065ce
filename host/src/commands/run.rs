//! `leadfilter run`: filter leads with a policy.
//!
//! Every lead read yields exactly one line: the filtered lead on stdout, or
//! an error record (line, failure kind, message, paths; never a value) on
//! stderr or in `--errors FILE`. A summary on stderr counts them.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use leadfilter::input::{InputError, LeadReader, Record};
use leadfilter::runtime::{self, PolicyInstance, Runtime, RuntimeError, RuntimeOptions};
use leadfilter::secrets::Sources;
use leadfilter_engine::json::Json;
use leadfilter_engine::{Engine, Failure, Outcome, Secret};
use serde_json::json;

use super::exit;

/// Arguments of `leadfilter run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// A compiled policy (`.wasm`), or a policy source (`.yaml`, `.yml`,
    /// `.json`) to check and compile first.
    policy: PathBuf,
    /// Leads: one JSON document, several, or NDJSON (one lead a line).
    /// Standard input when absent or `-`.
    input: Option<PathBuf>,
    /// Where a secret comes from: `NAME=env:VARIABLE` or `NAME=file:PATH`.
    /// By default NAME is read from `LEADFILTER_SECRET_<NAME>`.
    #[arg(long = "secret", value_name = "NAME=SOURCE")]
    secrets: Vec<String>,
    /// Write error records to FILE instead of stderr.
    #[arg(long, value_name = "FILE")]
    errors: Option<PathBuf>,
    /// Pretty-print filtered leads (for people; the default is one compact
    /// line per lead).
    #[arg(long)]
    pretty: bool,
    /// Leave out the summary line.
    #[arg(long, short)]
    quiet: bool,
    /// The largest lead accepted, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20)]
    max_lead_bytes: usize,
    /// The most memory the policy may use, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = runtime::DEFAULT_MEMORY_LIMIT >> 20)]
    memory_mib: usize,
    /// The longest the policy may run on one lead, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = runtime::DEFAULT_TIMEOUT.as_millis() as u64)]
    timeout_ms: u64,
    /// Also meter fuel: a deterministic execution budget for one lead, in
    /// units of about one Wasm instruction (slower; off by default).
    #[arg(long, value_name = "UNITS")]
    fuel: Option<u64>,
    /// Which engine runs the policy: the compiled component in wasmtime, or
    /// the same engine built natively (needs a policy source; for
    /// comparisons and benchmarks).
    #[arg(long, value_enum, default_value_t = EngineKind::Wasm)]
    engine: EngineKind,
}

/// Which engine runs the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum EngineKind {
    /// The policy component in wasmtime.
    Wasm,
    /// The engine compiled into this binary.
    Native,
}

/// Runs the leads through the policy and returns the exit code.
pub fn run(args: RunArgs) -> Result<u8> {
    let sources = match Sources::from_args(&args.secrets) {
        Ok(sources) => sources,
        Err(err) => {
            eprintln!("leadfilter: error: {err}");
            return Ok(exit::USAGE);
        }
    };
    let mut filter = match Filter::open(&args)? {
        Ok(filter) => filter,
        Err(code) => return Ok(code),
    };
    let secrets = sources.read(filter.secret_names())?;

    let input: Box<dyn BufRead> = match &args.input {
        None => Box::new(BufReader::with_capacity(1 << 16, io::stdin().lock())),
        Some(path) if path == Path::new("-") => {
            Box::new(BufReader::with_capacity(1 << 16, io::stdin().lock()))
        }
        Some(path) => Box::new(BufReader::with_capacity(
            1 << 16,
            File::open(path).with_context(|| format!("cannot open `{}`", path.display()))?,
        )),
    };
    let mut errors: Box<dyn Write> = match &args.errors {
        None => Box::new(io::stderr().lock()),
        Some(path) => {
            Box::new(BufWriter::new(File::create(path).with_context(|| {
                format!("cannot create `{}`", path.display())
            })?))
        }
    };
    let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let mut summary = Summary::default();

    for record in LeadReader::new(input, args.max_lead_bytes) {
        let Record { line, lead } = record.context("cannot read the input")?;
        let result = match lead {
            Ok(text) => filter.transform(&text, &secrets),
            Err(e) => Err(Problem::Input(e)),
        };
        match result {
            Ok(outcome) => {
                summary.filtered += 1;
                if args.pretty {
                    write_pretty(&mut out, &outcome.lead)?;
                } else {
                    out.write_all(outcome.lead.as_bytes())?;
                }
                out.write_all(b"\n")?;
            }
            Err(problem) => {
                *summary.failed.entry(problem.kind()).or_default() += 1;
                if matches!(problem, Problem::Runtime(_)) {
                    summary.runtime_errors += 1;
                }
                serde_json::to_writer(&mut errors, &problem.record(line))?;
                errors.write_all(b"\n")?;
            }
        }
    }
    out.flush()?;
    errors.flush()?;
    if !args.quiet {
        eprintln!("leadfilter: {summary}");
    }
    Ok(if summary.runtime_errors > 0 {
        exit::POLICY_OR_RUNTIME
    } else if summary.failed.is_empty() {
        exit::SUCCESS
    } else {
        exit::LEADS_FAILED
    })
}

/// Why one lead produced no output.
enum Problem {
    Input(InputError),
    Policy(Failure),
    Runtime(RuntimeError),
}

impl Problem {
    fn kind(&self) -> &'static str {
        match self {
            Problem::Input(e) => e.kind(),
            Problem::Policy(f) => f.kind(),
            Problem::Runtime(_) => "runtime",
        }
    }

    /// The error record: line, kind, message and paths, never a value.
    fn record(&self, line: usize) -> serde_json::Value {
        let (message, paths) = match self {
            Problem::Input(e) => (e.to_string(), Vec::new()),
            Problem::Runtime(e) => (e.to_string(), Vec::new()),
            Problem::Policy(failure) => {
                let paths: Vec<&str> = match failure {
                    Failure::InputSchema(vs) | Failure::OutputSchema(vs) => {
                        vs.iter().map(|v| v.path.as_str()).collect()
                    }
                    Failure::Transform(v) => vec![v.path.as_str()],
                    _ => Vec::new(),
                };
                let message = failure.to_string();
                let message = message
                    .strip_prefix(failure.kind())
                    .and_then(|m| m.strip_prefix(": "))
                    .unwrap_or(&message)
                    .to_owned();
                (message, paths.into_iter().map(str::to_owned).collect())
            }
        };
        json!({ "line": line, "kind": self.kind(), "message": message, "paths": paths })
    }
}

#[derive(Default)]
struct Summary {
    filtered: usize,
    failed: BTreeMap<&'static str, usize>,
    runtime_errors: usize,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let failed: usize = self.failed.values().sum();
        write!(
            f,
            "{} lead{}: {} filtered, {} failed",
            self.filtered + failed,
            if self.filtered + failed == 1 { "" } else { "s" },
            self.filtered,
            failed
        )?;
        if !self.failed.is_empty() {
            let kinds: Vec<String> = self
                .failed
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            write!(f, " ({})", kinds.join(", "))?;
        }
        Ok(())
    }
}

/// The policy, in whichever engine runs it.
enum Filter {
    Wasm {
        policy: runtime::LoadedPolicy,
        instance: Option<PolicyInstance>,
        secrets: Vec<String>,
    },
    Native(Engine),
}

impl Filter {
    /// Opens the policy, compiling a source first. `Err(code)` when the
    /// policy is invalid (its diagnostics are printed).
    fn open(args: &RunArgs) -> Result<std::result::Result<Filter, u8>> {
        let is_wasm = args.policy.extension().is_some_and(|e| e == "wasm");
        let source = if is_wasm {
            None
        } else {
            match leadfilter::policy::load(&args.policy) {
                Ok(loaded) => {
                    for warning in &loaded.warnings {
                        eprintln!("warning: {warning}");
                    }
                    Some(loaded.policy)
                }
                Err(err) => {
                    eprintln!("{err}");
                    return Ok(Err(exit::POLICY_OR_RUNTIME));
                }
            }
        };
        if args.engine == EngineKind::Native {
            let Some(policy) = source else {
                bail!("`--engine native` runs a policy source, not a compiled `.wasm`");
            };
            return Ok(Ok(Filter::Native(Engine::new(policy)?)));
        }
        let component = match source {
            None => std::fs::read(&args.policy)
                .with_context(|| format!("cannot read `{}`", args.policy.display()))?,
            Some(policy) => leadfilter::compile::compile(&policy.canonical_json())
                .with_context(|| format!("cannot compile `{}`", args.policy.display()))?,
        };
        let runtime = Runtime::new(&RuntimeOptions {
            timeout: std::time::Duration::from_millis(args.timeout_ms),
            fuel: args.fuel,
            memory_limit: args.memory_mib << 20,
            ..RuntimeOptions::default()
        })?;
        let policy = runtime
            .load(&component)
            .with_context(|| format!("cannot load `{}`", args.policy.display()))?;
        let mut instance = policy.instantiate()?;
        let secrets = instance.info()?.secrets;
        Ok(Ok(Filter::Wasm {
            policy,
            instance: Some(instance),
            secrets,
        }))
    }

    fn secret_names(&self) -> &[String] {
        match self {
            Filter::Wasm { secrets, .. } => secrets,
            Filter::Native(engine) => &engine.info().secrets,
        }
    }

    fn transform(&mut self, lead: &str, secrets: &[Secret]) -> Result<Outcome, Problem> {
        match self {
            Filter::Native(engine) => engine.transform(lead, secrets).map_err(Problem::Policy),
            Filter::Wasm {
                policy, instance, ..
            } => {
                // An instance that failed (budget, memory, trap) is dropped
                // and the next lead gets a fresh one.
                let mut current = match instance.take() {
                    Some(current) => current,
                    None => policy.instantiate().map_err(Problem::Runtime)?,
                };
                let result = current.transform(lead, secrets);
                match result {
                    Ok(answer) => {
                        *instance = Some(current);
                        answer.map_err(Problem::Policy)
                    }
                    Err(e) => Err(Problem::Runtime(e)),
                }
            }
        }
    }
}

/// Writes a compact JSON text pretty-printed (two-space indent), numbers
/// exactly as they are.
fn write_pretty(out: &mut impl Write, compact: &str) -> io::Result<()> {
    let value = leadfilter_engine::json::parse(compact)
        .map_err(|_| io::Error::other("the policy returned invalid JSON"))?;
    let mut text = String::with_capacity(compact.len() * 2);
    pretty(&value, 0, &mut text);
    out.write_all(text.as_bytes())
}

fn pretty(value: &Json, depth: usize, out: &mut String) {
    let indent = |out: &mut String, depth: usize| {
        out.push('\n');
        out.extend(std::iter::repeat_n("  ", depth));
    };
    match value {
        Json::Array(items) if !items.is_empty() => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                indent(out, depth + 1);
                pretty(item, depth + 1, out);
            }
            indent(out, depth);
            out.push(']');
        }
        Json::Object(members) if !members.is_empty() => {
            out.push('{');
            for (i, (key, item)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                indent(out, depth + 1);
                Json::String(key.clone()).write_compact(out);
                out.push_str(": ");
                pretty(item, depth + 1, out);
            }
            indent(out, depth);
            out.push('}');
        }
        scalar_or_empty => scalar_or_empty.write_compact(out),
    }
}
