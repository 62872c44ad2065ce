//! `leadfilter inspect`: what a compiled policy is, without running it.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::{CommandResult, exit};

/// Arguments of `leadfilter inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A compiled policy component.
    component: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Reads the component's metadata section and its import and export names.
pub fn run(args: InspectArgs) -> CommandResult {
    let bytes = std::fs::read(&args.component)
        .with_context(|| format!("cannot read `{}`", args.component.display()))?;
    let inspection = leadfilter::artifact::inspect(&bytes)
        .with_context(|| format!("cannot inspect `{}`", args.component.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&inspection.to_json())?);
    } else {
        print!("{}", inspection.to_text());
    }
    Ok(exit::SUCCESS)
}
