//! One file per subcommand, each an `Args` struct and one function; the
//! flags several commands share are in [`args`].

use clap::{Parser, Subcommand};

#[macro_use]
mod error;

mod args;
mod check;
mod compile;
mod init;
mod inspect;
mod queue;
mod run;
mod serve;
mod test;

pub use error::{CommandError, CommandResult};

/// Keep personal data out of places that do not need it: compile lead
/// policies into sandboxed Wasm components and apply them to leads.
#[derive(Debug, Parser)]
#[command(name = "leadfilter", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a policy source and compile it into a policy component.
    Compile(compile::CompileArgs),
    /// Check a policy source, printing errors and warnings.
    Check(check::CheckArgs),
    /// Show what a compiled policy is, without running it.
    Inspect(inspect::InspectArgs),
    /// Filter leads with a policy.
    Run(run::RunArgs),
    /// Run the webhook proxy: authenticate, filter, forward; fail closed.
    Serve(serve::ServeArgs),
    /// Show and manage what waits in a proxy's store (never a lead's content).
    Queue(queue::QueueArgs),
    /// Write a starter policy, input schema and test file from a sample lead.
    Init(init::InitArgs),
    /// Run policy unit tests (`*.test.yaml`) against compiled policies.
    Test(test::TestArgs),
}

/// Exit codes, documented in the README.
pub mod exit {
    /// Every lead was filtered (or the command succeeded).
    pub const SUCCESS: u8 = 0;
    /// At least one lead was rejected or invalid; the others were filtered.
    pub const LEADS_FAILED: u8 = 1;
    /// The command line is wrong (clap's own code for usage errors).
    pub const USAGE: u8 = 2;
    /// The policy is invalid, a secret is missing, the runtime failed, or
    /// the output could not be written.
    pub const POLICY_OR_RUNTIME: u8 = 3;
}

/// Parses the command line and runs the subcommand: its exit code, or the
/// error that ends it (with its own code).
pub fn run() -> CommandResult {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let code = if err.use_stderr() {
                exit::USAGE
            } else {
                exit::SUCCESS
            };
            // Help and version go to stdout, usage errors to stderr; one
            // that cannot be written changes nothing.
            let _ = err.print();
            return Ok(code);
        }
    };
    match cli.command {
        Command::Compile(args) => compile::run(args),
        Command::Check(args) => check::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Run(args) => run::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Queue(args) => queue::run(args),
        Command::Test(args) => test::run(args),
        Command::Init(args) => init::run(args),
    }
}
