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
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use leadfilter::input::{InputError, LeadReader, Record, Unread};
use leadfilter::resolver::{self, ResolveError, Resolver};
use leadfilter::{Filter, TransformError};
use leadfilter_engine::{Engine, Secret};

use super::args::{LimitsArgs, SecretsArgs};
use super::{CommandError, CommandResult, exit};

/// The most `--jobs`: more threads than this only add memory.
const MAX_JOBS: u16 = 256;

/// Arguments of `leadfilter run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// A compiled policy (`.wasm`), or a policy source (`.yaml`, `.yml`,
    /// `.json`) to check and compile first.
    policy: PathBuf,
    /// Leads: one JSON document, several, or NDJSON (one lead a line).
    /// Standard input when absent or `-`.
    input: Option<PathBuf>,
    #[command(flatten)]
    secrets: SecretsArgs,
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
    /// The largest lead accepted, in bytes (a line break at its end does
    /// not count).
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20,
          value_parser = clap::value_parser!(u64).range(1..))]
    max_lead_bytes: u64,
    #[command(flatten)]
    limits: LimitsArgs,
    /// Which engine runs the policy: the compiled component in wasmtime, or
    /// the same engine built natively (needs a policy source; for
    /// comparisons and benchmarks).
    #[arg(long, value_enum, default_value_t = EngineKind::Wasm)]
    engine: EngineKind,
    /// Filter on this many threads, 1 to 256 (default: one per CPU, at most
    /// 8). Output keeps the input's order whatever the number.
    #[arg(long, short, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=MAX_JOBS as i64))]
    jobs: Option<u16>,
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
pub fn run(args: RunArgs) -> CommandResult {
    let mut filter = open(&args)?;
    let secrets = args.secrets.sources().read(&filter.info().secrets)?;

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
    let limit = usize::try_from(args.max_lead_bytes).unwrap_or(usize::MAX);
    let mut leads = LeadReader::new(input, limit);
    let jobs = args.jobs.map_or_else(default_jobs, usize::from);
    let mut summary = if jobs == 1 {
        filter_in_order(&mut filter, &mut leads, &secrets, sink)?
    } else {
        filter_in_parallel(&filter, jobs, &mut leads, &secrets, sink)?
    };
    summary.unread = leads.unread();
    if !args.quiet {
        note!("leadfilter: {summary}");
    }
    Ok(if summary.runtime_errors > 0 {
        exit::POLICY_OR_RUNTIME
    } else if summary.failed.is_empty() {
        exit::SUCCESS
    } else {
        exit::LEADS_FAILED
    })
}

/// Opens the policy in the engine asked for. A policy source's
/// diagnostics are printed here, its warnings too.
fn open(args: &RunArgs) -> Result<Filter, CommandError> {
    let resolver = Resolver::new(&args.limits.runtime_options())?;
    let reported = |err: ResolveError| -> CommandError {
        if err.is_policy() {
            note!("{err}");
            CommandError::reported(exit::POLICY_OR_RUNTIME)
        } else {
            err.into()
        }
    };
    let warn = |source: &leadfilter::policy::LoadedPolicy| {
        for warning in &source.warnings {
            note!("warning: {warning}");
        }
    };
    if args.engine == EngineKind::Native {
        if resolver::is_component(&args.policy) {
            return Err(anyhow::anyhow!(
                "`--engine native` runs a policy source, not a compiled `.wasm`"
            )
            .into());
        }
        let source = resolver.source(&args.policy).map_err(reported)?;
        warn(&source);
        return Ok(Filter::native(Engine::new(source.policy)?));
    }
    let resolved = resolver.resolve(&args.policy).map_err(reported)?;
    if let Some(source) = &resolved.source {
        warn(source);
    }
    Filter::from_loaded(resolved.component)
        .with_context(|| format!("cannot load `{}`", args.policy.display()))
        .map_err(CommandError::from)
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
                let written = if self.pretty {
                    write_pretty(&mut self.out, &lead)
                } else {
                    self.out.write_all(lead.as_bytes())
                };
                written
                    .and_then(|()| self.out.write_all(b"\n"))
                    .context(CANNOT_WRITE_LEADS)?;
            }
            Err(problem) => {
                *self.summary.failed.entry(problem.kind()).or_default() += 1;
                if matches!(problem, Problem::Transform(TransformError::Runtime(_))) {
                    self.summary.runtime_errors += 1;
                }
                serde_json::to_writer(&mut self.errors, &problem.record(line))
                    .map_err(io::Error::from)
                    .and_then(|()| self.errors.write_all(b"\n"))
                    .context(CANNOT_WRITE_ERRORS)?;
            }
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Summary> {
        self.out.flush().context(CANNOT_WRITE_LEADS)?;
        self.errors.flush().context(CANNOT_WRITE_ERRORS)?;
        Ok(self.summary)
    }
}

const CANNOT_WRITE_LEADS: &str = "cannot write the filtered leads";
const CANNOT_WRITE_ERRORS: &str = "cannot write the error records";

/// Filters every lead on this thread.
fn filter_in_order(
    filter: &mut Filter,
    leads: &mut LeadReader<Box<dyn BufRead>>,
    secrets: &[Secret],
    mut sink: Sink,
) -> Result<Summary> {
    for record in leads {
        let Record { line, lead } = record.context("cannot read the input")?;
        sink.emit(line, answer(filter, lead, secrets))?;
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
    leads: &mut LeadReader<Box<dyn BufRead>>,
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
    leads: &mut LeadReader<Box<dyn BufRead>>,
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
            .map(|Record { line, lead }| (line, answer(filter, lead, secrets)))
            .collect();
        if answers.send((number, answered)).is_err() {
            return;
        }
    }
}

/// Why one lead produced no output.
enum Problem {
    Input(InputError),
    Transform(TransformError),
}

impl Problem {
    fn kind(&self) -> &'static str {
        match self {
            Problem::Input(e) => e.kind(),
            Problem::Transform(e) => e.kind(),
        }
    }

    /// The error record: line, kind, message and paths, never a value.
    fn record(&self, line: usize) -> ErrorRecord {
        let (message, paths) = match self {
            Problem::Input(e) => (e.to_string(), Vec::new()),
            Problem::Transform(e) => (
                e.message(),
                e.paths().into_iter().map(str::to_owned).collect(),
            ),
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
    /// What a document stream that ended early left unread.
    unread: Option<Unread>,
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
        if let Some(unread) = &self.unread {
            write!(f, "; the input ended early: {unread}")?;
        }
        Ok(())
    }
}

/// The answer for one lead read: the filtered lead or why there is none.
fn answer(
    filter: &mut Filter,
    lead: std::result::Result<String, InputError>,
    secrets: &[Secret],
) -> Result<String, Problem> {
    match lead {
        Ok(text) => filter
            .transform_lead_with(&text, secrets)
            .map_err(Problem::Transform),
        Err(e) => Err(Problem::Input(e)),
    }
}

/// Writes a compact JSON text pretty-printed (two-space indent), numbers
/// exactly as they are.
fn write_pretty(out: &mut impl Write, compact: &str) -> io::Result<()> {
    let text = leadfilter::json::pretty(compact)
        .ok_or_else(|| io::Error::other("the policy returned invalid JSON"))?;
    out.write_all(text.as_bytes())
}
