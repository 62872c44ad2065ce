//! Loading a policy and transforming leads. STUB: being written.

use crate::policy::Policy;
use crate::{Failure, Outcome, PolicyInfo, Secret};

/// Why a policy could not be loaded into the engine.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The canonical policy text is not a policy.
    #[error("the policy is not valid: {0}")]
    Policy(String),
    /// A path pattern does not parse.
    #[error("`fields.{path}`: {message}")]
    Path {
        /// The pattern.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A `matches` regular expression does not compile.
    #[error("{location}: the regular expression does not compile: {message}")]
    Regex {
        /// Where in the policy.
        location: String,
        /// The regex crate's message.
        message: String,
    },
    /// A schema does not compile.
    #[error("`{which}.schema`: {message}")]
    Schema {
        /// `input` or `output`.
        which: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// A loaded policy, ready to transform leads.
#[derive(Debug)]
pub struct Engine {
    info: PolicyInfo,
}

impl Engine {
    /// Builds an engine from a policy whose schemas are embedded.
    pub fn new(policy: Policy) -> Result<Engine, LoadError> {
        let digest = policy.digest();
        Ok(Engine {
            info: PolicyInfo {
                name: policy.name,
                version: policy.version,
                digest,
                secrets: policy.secrets,
                input_schema: None,
                output_schema: None,
            },
        })
    }

    /// Builds an engine from canonical policy JSON.
    pub fn from_json(text: &[u8]) -> Result<Engine, LoadError> {
        let policy = Policy::from_json(text).map_err(|e| LoadError::Policy(e.to_string()))?;
        Engine::new(policy)
    }

    /// What the policy is.
    pub fn info(&self) -> &PolicyInfo {
        &self.info
    }

    /// Filters one lead.
    pub fn transform(&self, _lead: &str, _secrets: &[Secret]) -> Result<Outcome, Failure> {
        Err(Failure::InvalidJson("engine not implemented".into()))
    }
}
