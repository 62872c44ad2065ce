//! `leadfilter check`: the compile-time checks alone.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use super::exit;

/// Arguments of `leadfilter check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The policy source (`.yaml`, `.yml` or `.json`).
    policy: PathBuf,
}

/// Prints every error and warning; exits non-zero on an error.
pub fn run(args: CheckArgs) -> Result<u8> {
    match leadfilter::policy::load(&args.policy) {
        Ok(loaded) => {
            for warning in &loaded.warnings {
                eprintln!("warning: {warning}");
            }
            eprintln!(
                "{}: ok: `{}` {} ({}), {} warning(s)",
                args.policy.display(),
                loaded.policy.name,
                loaded.policy.version,
                loaded.policy.digest(),
                loaded.warnings.len()
            );
            Ok(exit::SUCCESS)
        }
        Err(err) => {
            eprintln!("{err}");
            Ok(exit::POLICY_OR_RUNTIME)
        }
    }
}
