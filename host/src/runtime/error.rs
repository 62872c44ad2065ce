//! Why a component could not be loaded or run.

use super::POLICY_INTERFACE;
use crate::artifact::InspectError;

/// Why a component could not be loaded or run. Never holds a lead value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    /// Wasmtime could not be set up.
    #[error("failed to set up wasmtime: {0}")]
    Setup(String),
    /// The bytes are not a valid component.
    #[error("not a valid wasm component: {0}")]
    Invalid(String),
    /// The component imports something; a policy must import nothing.
    #[error(
        "the component imports {}: a leadfilter policy must import nothing",
        list(.0)
    )]
    Imports(Vec<String>),
    /// The component does not export the policy interface.
    #[error("the component does not export `{POLICY_INTERFACE}`: it is not a leadfilter policy")]
    NotAPolicy,
    /// The component's `leadfilter-policy` section is there but unreadable.
    #[error(transparent)]
    Inspect(#[from] InspectError),
    /// The call ran out of fuel.
    #[error("the policy exceeded its execution budget of {fuel} fuel units")]
    Budget {
        /// The budget.
        fuel: u64,
    },
    /// The call ran past its time limit.
    #[error("the policy exceeded its time limit of {ms} ms")]
    Timeout {
        /// The limit in milliseconds.
        ms: u128,
    },
    /// The instance tried to grow past the memory limit.
    #[error("the policy exceeded its memory limit of {mib} MiB")]
    Memory {
        /// The limit in MiB (rounded up).
        mib: usize,
    },
    /// The call overflowed the Wasm stack.
    #[error("the policy exceeded its stack size")]
    Stack,
    /// The policy trapped for another reason (a bug in the engine).
    #[error("the policy trapped: {0}")]
    Trap(String),
    /// The call failed outside the policy's code.
    #[error("the policy call failed: {0}")]
    Call(String),
    /// An earlier call on this instance failed; it cannot be used again.
    #[error("this policy instance failed earlier and cannot be used again")]
    Poisoned,
    /// The component returned something that is not a filtered lead: not
    /// one JSON object, a raw line break in it, or larger than the limit.
    /// It is not written or forwarded.
    #[error("the policy returned an answer that is not a filtered lead ({0}); it was not used")]
    Output(&'static str),
    /// What the component says it is (`info`) is not what its
    /// `leadfilter-policy` section says.
    #[error(
        "the component's `info` gives another {0} than its `leadfilter-policy` section: it was altered after `leadfilter compile`"
    )]
    Mismatch(&'static str),
    /// The component holds the bare engine, with no policy baked in.
    #[error("the component holds no policy: make it with `leadfilter compile`")]
    NoPolicy,
}

fn list(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    quoted.join(", ")
}

impl RuntimeError {
    /// The failure kind in `run`'s error records, `serve`'s answers and the
    /// audit log: `timeout`, `budget`, `memory` or `stack` when the policy
    /// stopped at a sandbox limit on this lead, `runtime` for everything
    /// else.
    pub fn kind(&self) -> &'static str {
        match self {
            RuntimeError::Timeout { .. } => "timeout",
            RuntimeError::Budget { .. } => "budget",
            RuntimeError::Memory { .. } => "memory",
            RuntimeError::Stack => "stack",
            _ => "runtime",
        }
    }

    /// Whether the policy stopped at a sandbox limit on this lead (the
    /// lead's doing: `serve` answers 422), rather than the component or the
    /// host failing (500).
    pub fn is_limit(&self) -> bool {
        self.kind() != "runtime"
    }
}
