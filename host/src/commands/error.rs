//! How a command ends when it fails: the exit code, and what to say (if
//! it was not said already).

use super::exit;

/// Writes a line to standard error. A standard error that cannot be
/// written (closed, or a full disk) is no reason to panic: what cannot be
/// said is left unsaid, and the exit code still tells.
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// A command's failure: the exit code it ends with and, unless the command
/// printed its own diagnostics already, the error to print.
#[derive(Debug)]
pub struct CommandError {
    code: u8,
    error: Option<anyhow::Error>,
}

/// What a command returns: its exit code, or how it failed.
pub type CommandResult = Result<u8, CommandError>;

impl CommandError {
    /// Ends with `code`; everything to say has been said (a policy's
    /// diagnostics, for example).
    pub fn reported(code: u8) -> CommandError {
        CommandError { code, error: None }
    }

    /// The exit code.
    pub fn code(&self) -> u8 {
        self.code
    }

    /// The error to print, if it was not printed already.
    pub fn error(&self) -> Option<&anyhow::Error> {
        self.error.as_ref()
    }
}

/// Any other error ends the command with exit 3 (the policy, the runtime or
/// the output failed).
impl<E: Into<anyhow::Error>> From<E> for CommandError {
    fn from(error: E) -> CommandError {
        CommandError {
            code: exit::POLICY_OR_RUNTIME,
            error: Some(error.into()),
        }
    }
}
