//! `leadfilter run`: filter leads with a policy.
//!
//! Every lead read yields exactly one line: the filtered lead on stdout, or
//! an error record (line, failure kind, message, paths; never a value) on
//! stderr or in `--errors FILE`. A summary on stderr counts them.
//!
//! With more than one job, the reader (this thread) hands batches of leads
//! to worker threads, each with an instance of its own, and a writer thread
//! puts their answers back in input order. A fixed number of batches is in
//! flight at once, so memory stays flat however many leads there are.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use leadfilter::input::{InputError, LeadReader, Record};
use leadfilter::runtime::{self, PolicyInstance, Runtime, RuntimeError, RuntimeOptions};
use leadfilter::secrets::Sources;
use leadfilter_engine::json::Json;
use leadfilter_engine::{Engine, Failure, Secret};

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
    /// Filter on this many threads (default: one per CPU). Output keeps the
    /// input's order whatever the number.
    #[arg(long, short, value_name = "N")]
    jobs: Option<usize>,
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
    let errors: Box<dyn Write + Send> = match &args.errors {
        None => Box::new(io::stderr()),
        Some(path) => {
            Box::new(BufWriter::new(File::create(path).with_context(|| {
                format!("cannot create `{}`", path.display())
            })?))
        }
    };
    let sink = Sink {
        out: BufWriter::with_capacity(1 << 16, io::stdout()),
        errors,
        pretty: args.pretty,
        summary: Summary::default(),
    };
    let leads = LeadReader::new(input, args.max_lead_bytes);
    let jobs = args.jobs.unwrap_or_else(default_jobs).max(1);
    let summary = if jobs == 1 {
        filter_in_order(&mut filter, leads, &secrets, sink)?
    } else {
        filter_in_parallel(&filter, jobs, leads, &secrets, sink)?
    };
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

/// One job per CPU, but no more than eight: beyond that the reader and the
/// writer are the bottleneck.
fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
}

/// Where answers go: filtered leads to stdout, error records to stderr or
/// `--errors FILE`, each counted.
struct Sink {
    out: BufWriter<io::Stdout>,
    errors: Box<dyn Write + Send>,
    pretty: bool,
    summary: Summary,
}

impl Sink {
    /// Writes the answer for the lead that starts on `line`.
    fn emit(&mut self, line: usize, answer: Result<String, Problem>) -> Result<()> {
        match answer {
            Ok(lead) => {
                self.summary.filtered += 1;
                if self.pretty {
                    write_pretty(&mut self.out, &lead)?;
                } else {
                    self.out.write_all(lead.as_bytes())?;
                }
                self.out.write_all(b"\n")?;
            }
            Err(problem) => {
                *self.summary.failed.entry(problem.kind()).or_default() += 1;
                if matches!(problem, Problem::Runtime(_)) {
                    self.summary.runtime_errors += 1;
                }
                serde_json::to_writer(&mut self.errors, &problem.record(line))?;
                self.errors.write_all(b"\n")?;
            }
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Summary> {
        self.out.flush()?;
        self.errors.flush()?;
        Ok(self.summary)
    }
}

/// Filters every lead on this thread.
fn filter_in_order(
    filter: &mut Filter,
    leads: LeadReader<Box<dyn BufRead>>,
    secrets: &[Secret],
    mut sink: Sink,
) -> Result<Summary> {
    for record in leads {
        let Record { line, lead } = record.context("cannot read the input")?;
        sink.emit(line, filter.answer(lead, secrets))?;
    }
    sink.finish()
}

/// A batch closes at this many leads...
const BATCH_LEADS: usize = 64;
/// ...or this many bytes of them, whichever comes first.
const BATCH_BYTES: usize = 256 << 10;

/// Answers of one batch: the line each lead starts on, and its answer.
type Answers = Vec<(usize, Result<String, Problem>)>;

/// Filters leads on `jobs` worker threads and writes the answers in input
/// order. At most `4 * jobs` batches are read and not yet written at any
/// time. A read error stops reading; what was read before it is still
/// filtered and written, as in [`filter_in_order`], and then the error is
/// returned.
fn filter_in_parallel(
    filter: &Filter,
    jobs: usize,
    leads: LeadReader<Box<dyn BufRead>>,
    secrets: &[Secret],
    mut sink: Sink,
) -> Result<Summary> {
    let in_flight = 4 * jobs;
    let (batch_tx, batch_rx) = sync_channel::<(usize, Vec<Record>)>(in_flight);
    let batch_rx = Mutex::new(batch_rx);
    let (answer_tx, answer_rx) = sync_channel::<(usize, Answers)>(in_flight);
    let (permit_tx, permit_rx) = sync_channel::<()>(in_flight);
    for _ in 0..in_flight {
        permit_tx
            .send(())
            .context("cannot set up the worker threads")?;
    }
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let mut worker = filter.worker();
            let answer_tx = answer_tx.clone();
            let batch_rx = &batch_rx;
            scope.spawn(move || work(&mut worker, batch_rx, &answer_tx, secrets));
        }
        drop(answer_tx);
        let writer = scope.spawn(move || -> Result<Summary> {
            let mut pending: BTreeMap<usize, Answers> = BTreeMap::new();
            let mut next = 0;
            for (number, answers) in answer_rx {
                pending.insert(number, answers);
                while let Some(answers) = pending.remove(&next) {
                    for (line, answer) in answers {
                        sink.emit(line, answer)?;
                    }
                    next += 1;
                    // The reader may have stopped; then nobody waits.
                    let _ = permit_tx.send(());
                }
            }
            if !pending.is_empty() {
                bail!("a worker thread stopped before filtering its leads");
            }
            sink.finish()
        });
        let read = read_batches(leads, &batch_tx, &permit_rx);
        drop(batch_tx);
        let summary = match writer.join() {
            Ok(summary) => summary,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        read.and(summary)
    })
}

/// Reads leads into batches and sends each once a permit says there is
/// room. Stops early, without error, when the workers or the writer are
/// gone (the writer's error is the one to report).
fn read_batches(
    leads: LeadReader<Box<dyn BufRead>>,
    batch_tx: &SyncSender<(usize, Vec<Record>)>,
    permits: &Receiver<()>,
) -> Result<()> {
    let mut number = 0;
    let mut batch = Vec::with_capacity(BATCH_LEADS);
    let mut bytes = 0;
    let mut send = |batch: Vec<Record>| -> bool {
        let sent = permits.recv().is_ok() && batch_tx.send((number, batch)).is_ok();
        number += 1;
        sent
    };
    for record in leads {
        let record = record.context("cannot read the input")?;
        bytes += record.lead.as_ref().map_or(0, String::len);
        batch.push(record);
        if batch.len() == BATCH_LEADS || bytes >= BATCH_BYTES {
            bytes = 0;
            if !send(std::mem::replace(
                &mut batch,
                Vec::with_capacity(BATCH_LEADS),
            )) {
                return Ok(());
            }
        }
    }
    if !batch.is_empty() {
        send(batch);
    }
    Ok(())
}

/// A worker: takes batches until there are none, answers every lead.
fn work(
    filter: &mut Filter,
    batches: &Mutex<Receiver<(usize, Vec<Record>)>>,
    answers: &SyncSender<(usize, Answers)>,
    secrets: &[Secret],
) {
    loop {
        let next = match batches.lock() {
            Ok(batches) => batches.recv(),
            Err(_) => return,
        };
        let Ok((number, batch)) = next else { return };
        let answered = batch
            .into_iter()
            .map(|Record { line, lead }| (line, filter.answer(lead, secrets)))
            .collect();
        if answers.send((number, answered)).is_err() {
            return;
        }
    }
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
    fn record(&self, line: usize) -> ErrorRecord {
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
        ErrorRecord {
            line,
            kind: self.kind(),
            message,
            paths,
        }
    }
}

/// One line of the error output, its members in this order.
#[derive(serde::Serialize)]
struct ErrorRecord {
    /// The line the lead starts on.
    line: usize,
    kind: &'static str,
    message: String,
    paths: Vec<String>,
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
        policy: Box<runtime::LoadedPolicy>,
        instance: Option<PolicyInstance>,
        secrets: Vec<String>,
    },
    Native(Arc<Engine>),
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
            return Ok(Ok(Filter::Native(Arc::new(Engine::new(policy)?))));
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
            policy: Box::new(policy),
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

    /// Another filter for the same policy, for a worker thread: the same
    /// compiled code, an instance of its own.
    fn worker(&self) -> Filter {
        match self {
            Filter::Wasm {
                policy, secrets, ..
            } => Filter::Wasm {
                policy: policy.clone(),
                instance: None,
                secrets: secrets.clone(),
            },
            Filter::Native(engine) => Filter::Native(Arc::clone(engine)),
        }
    }

    /// The answer for one lead read: the filtered lead or why there is none.
    fn answer(
        &mut self,
        lead: std::result::Result<String, InputError>,
        secrets: &[Secret],
    ) -> Result<String, Problem> {
        match lead {
            Ok(text) => self.transform(&text, secrets),
            Err(e) => Err(Problem::Input(e)),
        }
    }

    /// The filtered lead (`run` prints no change list, so the component's
    /// is left where it is).
    fn transform(&mut self, lead: &str, secrets: &[Secret]) -> Result<String, Problem> {
        match self {
            Filter::Native(engine) => engine
                .transform(lead, secrets)
                .map(|outcome| outcome.lead)
                .map_err(Problem::Policy),
            Filter::Wasm {
                policy, instance, ..
            } => {
                // An instance that failed (budget, memory, trap) is dropped
                // and the next lead gets a fresh one.
                let mut current = match instance.take() {
                    Some(current) => current,
                    None => policy.instantiate().map_err(Problem::Runtime)?,
                };
                let result = current.transform_lead(lead, secrets);
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
