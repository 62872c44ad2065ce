//! `leadfilter init --from sample.json`: write a starter policy, schema and
//! test file from a sample lead.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use leadfilter::init::{POLICY_FILE, SCHEMA_FILE, Starter, TEST_FILE};

use super::{CommandResult, exit};

/// Arguments of `leadfilter init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// A sample lead (one JSON object). Its field names and shapes go into
    /// the policy and the schema; the whole lead goes into the test file.
    #[arg(long, value_name = "SAMPLE.json")]
    from: PathBuf,
    /// Where to write `policy.yaml`, `lead.schema.json` and
    /// `policy.test.yaml` (created if missing).
    #[arg(long, value_name = "DIR", default_value = ".")]
    dir: PathBuf,
    /// The policy's name (`[a-z0-9-]+`); by default the directory's name.
    #[arg(long)]
    name: Option<String>,
    /// Overwrite files that exist.
    #[arg(long)]
    force: bool,
}

/// Writes the three files, or none of them.
pub fn run(args: InitArgs) -> CommandResult {
    let sample = std::fs::read_to_string(&args.from)
        .with_context(|| format!("cannot read `{}`", args.from.display()))?;
    let name = args.name.clone().unwrap_or_else(|| default_name(&args.dir));
    let sample_file = args
        .from
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let starter = match Starter::from_sample(&sample, &name, &sample_file) {
        Ok(starter) => starter,
        Err(err) => {
            note!("leadfilter: error: `{}`: {err}", args.from.display());
            return Ok(exit::POLICY_OR_RUNTIME);
        }
    };
    let files = [
        (POLICY_FILE, &starter.policy),
        (SCHEMA_FILE, &starter.schema),
        (TEST_FILE, &starter.tests),
    ];
    let existing: Vec<String> = files
        .iter()
        .map(|(file, _)| args.dir.join(file))
        .filter(|path| path.exists())
        .map(|path| format!("`{}`", path.display()))
        .collect();
    if !existing.is_empty() && !args.force {
        note!(
            "leadfilter: error: {} already exist{}: nothing was written (`--force` overwrites)",
            existing.join(", "),
            if existing.len() == 1 { "s" } else { "" }
        );
        return Ok(exit::POLICY_OR_RUNTIME);
    }
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create `{}`", args.dir.display()))?;
    for (file, text) in files {
        let path = args.dir.join(file);
        std::fs::write(&path, text)
            .with_context(|| format!("cannot write `{}`", path.display()))?;
        note!("wrote {}", path.display());
    }
    note!(
        "`{name}`: {} field(s), all dropped; {} with a suggested action in a comment",
        starter.fields,
        starter.suggestions
    );
    note!(
        "note: {} holds the sample lead as its first case: replace any real personal data in it with invented values before you share or commit it",
        args.dir.join(TEST_FILE).display()
    );
    note!(
        "next: edit {}, then `leadfilter check` it and `leadfilter test {}`",
        args.dir.join(POLICY_FILE).display(),
        args.dir.display()
    );
    Ok(exit::SUCCESS)
}

/// The directory's name as a policy name: lowercase, `-` for anything else.
fn default_name(dir: &Path) -> String {
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
    let raw = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let mut name = String::new();
    for c in raw.chars() {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() {
            c
        } else {
            '-'
        };
        if !(c == '-' && (name.is_empty() || name.ends_with('-'))) {
            name.push(c);
        }
    }
    let name = name.trim_end_matches('-').to_owned();
    if name.is_empty() {
        "starter".to_owned()
    } else {
        name
    }
}
