//! The `leadfilter` command: a thin shell over the library (see `commands/`).

use std::process::ExitCode;

mod commands;

fn main() -> ExitCode {
    match commands::run() {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            eprintln!("leadfilter: error: {err:#}");
            commands::exit::POLICY_OR_RUNTIME.into()
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
