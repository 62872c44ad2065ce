//! `leadfilter check`: the compile-time checks alone.

use std::path::PathBuf;

use clap::Args;

use super::{CommandResult, exit};

/// Arguments of `leadfilter check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The policy source (`.yaml`, `.yml` or `.json`).
    policy: PathBuf,
}

/// Prints every error and warning; exits non-zero on an error.
pub fn run(args: CheckArgs) -> CommandResult {
    match leadfilter::policy::load(&args.policy) {
        Ok(loaded) => {
            for warning in &loaded.warnings {
                note!("warning: {warning}");
            }
            note!(
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
            note!("{err}");
            Ok(exit::POLICY_OR_RUNTIME)
        }
    }
}
