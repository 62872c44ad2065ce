//! Flags that several commands take, parsed once: what was typed here, the
//! working objects (runtime options, secret sources) made from it in one
//! step. Nonsense (`--timeout-ms 0`, `-j 0`, `--secret =env:X`) is a usage
//! error (exit 2), never silently changed.

use std::ffi::OsStr;
use std::time::Duration;

use clap::builder::TypedValueParser;
use clap::error::ErrorKind;
use clap::{Arg, Args, Command};
use leadfilter::runtime::{self, RuntimeOptions};
use leadfilter::secrets::{SecretArg, Sources};

/// The largest `--memory-mib`: a 32-bit Wasm memory holds at most 4 GiB.
const MAX_MEMORY_MIB: u64 = 4096;

/// The sandbox every lead runs in (`run` and `test`).
#[derive(Debug, Args)]
pub struct LimitsArgs {
    /// The longest the policy may run on one lead, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = runtime::DEFAULT_TIMEOUT.as_millis() as u64,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout_ms: u64,
    /// Also meter fuel: a deterministic execution budget for one lead, in
    /// units of about one Wasm instruction (slower; off by default).
    #[arg(long, value_name = "UNITS", value_parser = clap::value_parser!(u64).range(1..))]
    pub fuel: Option<u64>,
    /// The most memory the policy may use, in MiB (all its memories
    /// together; at most 4096).
    #[arg(long, value_name = "MIB", default_value_t = (runtime::DEFAULT_MEMORY_LIMIT >> 20) as u64,
          value_parser = clap::value_parser!(u64).range(1..=MAX_MEMORY_MIB))]
    pub memory_mib: u64,
    /// The largest filtered lead the policy may return, in bytes; a larger
    /// answer is a `runtime` failure and is not written.
    #[arg(long, value_name = "BYTES", default_value_t = runtime::DEFAULT_MAX_OUTPUT as u64,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_output_bytes: u64,
}

impl LimitsArgs {
    /// The runtime options these flags ask for (the code cache as the
    /// environment says).
    pub fn runtime_options(&self) -> RuntimeOptions {
        RuntimeOptions {
            timeout: Duration::from_millis(self.timeout_ms),
            fuel: self.fuel,
            memory_limit: usize::try_from(self.memory_mib << 20).unwrap_or(usize::MAX),
            max_output: usize::try_from(self.max_output_bytes).unwrap_or(usize::MAX),
            ..RuntimeOptions::default()
        }
    }
}

/// Where the policy's secrets come from (`run`).
#[derive(Debug, Args)]
pub struct SecretsArgs {
    /// Where a secret comes from: `NAME=env:VARIABLE` or `NAME=file:PATH`.
    /// By default NAME is read from `LEADFILTER_SECRET_<NAME>`.
    #[arg(long = "secret", value_name = "NAME=SOURCE", value_parser = SecretArgParser)]
    pub secrets: Vec<SecretArg>,
}

impl SecretsArgs {
    /// The sources these flags name, the default variable for the rest.
    pub fn sources(&self) -> Sources {
        Sources::new(self.secrets.iter().cloned())
    }
}

/// Parses `--secret NAME=SOURCE` without repeating what was typed: it may
/// be a secret typed where its source belongs, and clap's own errors quote
/// the value.
#[derive(Debug, Clone, Copy)]
struct SecretArgParser;

impl TypedValueParser for SecretArgParser {
    type Value = SecretArg;

    fn parse_ref(
        &self,
        cmd: &Command,
        _arg: Option<&Arg>,
        value: &OsStr,
    ) -> Result<SecretArg, clap::Error> {
        let refuse = |message: String| {
            clap::Error::raw(ErrorKind::ValueValidation, format!("{message}\n")).with_cmd(cmd)
        };
        let text = value
            .to_str()
            .ok_or_else(|| refuse("`--secret` is not UTF-8 text".into()))?;
        text.parse()
            .map_err(|e: leadfilter::secrets::SecretError| refuse(e.to_string()))
    }
}
