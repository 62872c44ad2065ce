//! The `leadfilter` command: a thin shell over the library (see `commands/`).

use std::io::Write as _;
use std::process::ExitCode;

mod commands;

fn main() -> ExitCode {
    match commands::run() {
        Ok(code) => code.into(),
        Err(failed) => {
            if let Some(error) = failed.error() {
                if is_broken_pipe(error) {
                    return ExitCode::SUCCESS;
                }
                // A standard error that cannot be written changes nothing:
                // the exit code still tells.
                let _ = writeln!(std::io::stderr(), "leadfilter: error: {error:#}");
            }
            failed.code().into()
        }
    }
}

/// A closed stdout (`leadfilter run ... | head`) ends the run quietly.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
