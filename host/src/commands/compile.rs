//! `leadfilter compile`: check a policy and bake it into a component.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use super::{CommandResult, exit};

/// Arguments of `leadfilter compile`.
#[derive(Debug, Args)]
pub struct CompileArgs {
    /// The policy source (`.yaml`, `.yml` or `.json`).
    policy: PathBuf,
    /// Where to write the component; the policy's file name with `.wasm`
    /// beside it by default.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// Checks, compiles, writes the component and says where.
pub fn run(args: CompileArgs) -> CommandResult {
    let loaded = match leadfilter::policy::load(&args.policy) {
        Ok(loaded) => loaded,
        Err(err) => {
            note!("{err}");
            return Ok(exit::POLICY_OR_RUNTIME);
        }
    };
    for warning in &loaded.warnings {
        note!("warning: {warning}");
    }
    let component = leadfilter::compile::compile(&loaded.policy.canonical_json())
        .with_context(|| format!("cannot compile `{}`", args.policy.display()))?;
    let output = args.output.unwrap_or_else(|| default_output(&args.policy));
    std::fs::write(&output, &component)
        .with_context(|| format!("cannot write `{}`", output.display()))?;
    note!(
        "compiled `{}` {} ({}) to {} ({} bytes)",
        loaded.policy.name,
        loaded.policy.version,
        loaded.policy.digest(),
        output.display(),
        component.len()
    );
    Ok(exit::SUCCESS)
}

fn default_output(policy: &Path) -> PathBuf {
    policy.with_extension("wasm")
}
