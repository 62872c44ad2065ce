//! A loaded policy and its instances: each instance in a store of its own,
//! each call with a fresh deadline, fuel budget and memory count.

use std::time::Duration;

use leadfilter_engine::{Failure, Outcome, PolicyInfo, Secret};
use wasmtime::component::{ComponentExportIndex, Instance};
use wasmtime::{Store, Trap};

use super::RuntimeError;
use super::cache::CodeSource;
use super::limits::Limits;
use super::options::EPOCH_TICK;
use super::wit::{self, LeadOnly, bindings, failure_from_wit, outcome_from_wit, wit_secrets};
use crate::artifact::{InspectError, PolicyMetadata};

/// A checked policy component, compiled to machine code: instantiate it as
/// often as needed. Cheap to clone.
#[derive(Clone)]
pub struct LoadedPolicy {
    pub(super) pre: bindings::PolicyPre<Limits>,
    pub(super) transform: ComponentExportIndex,
    pub(super) fuel: Option<u64>,
    pub(super) timeout: Duration,
    pub(super) memory_limit: usize,
    pub(super) max_output: usize,
    pub(super) metadata: Option<PolicyMetadata>,
    pub(super) code: CodeSource,
}

impl std::fmt::Debug for LoadedPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPolicy")
            .field("metadata", &self.metadata)
            .finish_non_exhaustive()
    }
}

impl LoadedPolicy {
    /// The component's `leadfilter-policy` section, if it has one (every
    /// component that `leadfilter compile` makes does).
    pub fn metadata(&self) -> Option<&PolicyMetadata> {
        self.metadata.as_ref()
    }

    /// Whether this load compiled the component or mapped its machine code
    /// from the on-disk cache.
    pub fn code_source(&self) -> CodeSource {
        self.code
    }

    /// What the policy is, read from a fresh instance and checked against
    /// the component's `leadfilter-policy` section (name, version, digest
    /// and secrets must agree): what hosts call before the first lead, so
    /// that a component altered after `leadfilter compile` is refused.
    pub fn checked_info(&self) -> Result<PolicyInfo, RuntimeError> {
        let info = self.instantiate()?.info()?;
        let Some(metadata) = &self.metadata else {
            return Err(RuntimeError::Inspect(InspectError::NoMetadata));
        };
        let recorded = &metadata.info;
        for (what, same) in [
            ("name", info.name == recorded.name),
            ("version", info.version == recorded.version),
            ("digest", info.digest == recorded.digest),
            ("list of secrets", info.secrets == recorded.secrets),
        ] {
            if !same {
                return Err(RuntimeError::Mismatch(what));
            }
        }
        Ok(info)
    }

    /// A fresh instance in a store of its own.
    pub fn instantiate(&self) -> Result<PolicyInstance, RuntimeError> {
        let mut store = Store::new(self.pre.engine(), Limits::new(self.memory_limit));
        store.limiter(|limits| limits);
        store.epoch_deadline_trap();
        let mut instance = PolicyInstance {
            store,
            bound: None,
            transform: self.transform,
            fuel: self.fuel,
            timeout: self.timeout,
            max_output: self.max_output,
            fuel_used: None,
            poisoned: false,
        };
        instance.enter()?;
        let instantiated = self
            .pre
            .instance_pre()
            .instantiate(&mut instance.store)
            .and_then(|raw| {
                let bindings = bindings::Policy::new(&mut instance.store, &raw)?;
                Ok((raw, bindings))
            });
        match instantiated {
            Ok(bound) => {
                instance.bound = Some(bound);
                Ok(instance)
            }
            Err(e) => Err(instance.error(e)),
        }
    }
}

/// One instance of a policy, with its own memory. Reusing it for several
/// leads is faster; a fresh one per lead keeps leads apart.
pub struct PolicyInstance {
    store: Store<Limits>,
    /// The instance and its typed exports; `None` until instantiated.
    bound: Option<(Instance, bindings::Policy)>,
    transform: ComponentExportIndex,
    fuel: Option<u64>,
    timeout: Duration,
    max_output: usize,
    fuel_used: Option<u64>,
    poisoned: bool,
}

impl std::fmt::Debug for PolicyInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyInstance")
            .field("poisoned", &self.poisoned)
            .finish_non_exhaustive()
    }
}

impl PolicyInstance {
    /// Filters one lead. The outer `Result` is about running the policy
    /// (budget, memory, traps); the inner one is the policy's answer.
    pub fn transform(
        &mut self,
        lead: &str,
        secrets: &[Secret],
    ) -> Result<Result<Outcome, Failure>, RuntimeError> {
        let secrets = wit_secrets(secrets);
        let answer = self.call(|store, bindings, _| {
            bindings
                .leadfilter_policy_filter()
                .call_transform(store, lead, &secrets)
        })?;
        match answer {
            Ok(outcome) => {
                self.check_output(&outcome.lead)?;
                Ok(Ok(outcome_from_wit(outcome)))
            }
            Err(failure) => Ok(Err(failure_from_wit(failure))),
        }
    }

    /// Filters one lead like [`PolicyInstance::transform`], but gives only
    /// the filtered lead, not the change list: the list stays in the
    /// instance's memory instead of being copied out string by string, which
    /// saves about a quarter of a small lead's time (`leadfilter run` uses
    /// this).
    pub fn transform_lead(
        &mut self,
        lead: &str,
        secrets: &[Secret],
    ) -> Result<Result<String, Failure>, RuntimeError> {
        let secrets = wit_secrets(secrets);
        let transform = self.transform;
        let (answer,) = self.call(|store, _, instance| {
            instance
                .get_typed_func::<(&str, &[wit::WitSecret]), (Result<LeadOnly, wit::WitFailure>,)>(
                    &mut *store,
                    transform,
                )?
                .call(store, (lead, &secrets))
        })?;
        match answer {
            Ok(outcome) => {
                self.check_output(&outcome.lead)?;
                Ok(Ok(outcome.lead))
            }
            Err(failure) => Ok(Err(failure_from_wit(failure))),
        }
    }

    /// Refuses (and poisons the instance for) an answer that is not one
    /// JSON object on one line within the size limit. The component model
    /// already refuses strings that are not UTF-8.
    fn check_output(&mut self, lead: &str) -> Result<(), RuntimeError> {
        let problem = if lead.len() > self.max_output {
            Some("larger than the limit on a filtered lead")
        } else if lead.contains(['\n', '\r']) {
            Some("a raw line break")
        } else if !lead.starts_with('{')
            || serde_json::from_str::<serde::de::IgnoredAny>(lead).is_err()
        {
            Some("not one JSON object")
        } else {
            None
        };
        match problem {
            Some(problem) => {
                self.poisoned = true;
                Err(RuntimeError::Output(problem))
            }
            None => Ok(()),
        }
    }

    /// What the policy is, as the component says.
    pub fn info(&mut self) -> Result<PolicyInfo, RuntimeError> {
        let info =
            self.call(|store, bindings, _| bindings.leadfilter_policy_filter().call_info(store))?;
        if info.digest.is_empty() {
            return Err(RuntimeError::NoPolicy);
        }
        Ok(PolicyInfo {
            name: info.name,
            version: info.version,
            digest: info.digest,
            secrets: info.secrets,
            input_schema: info.input_schema,
            output_schema: info.output_schema,
        })
    }

    /// Runs one call into the component with a fresh deadline and fuel
    /// budget; a failed call poisons the instance.
    fn call<R>(
        &mut self,
        call: impl FnOnce(&mut Store<Limits>, &bindings::Policy, Instance) -> wasmtime::Result<R>,
    ) -> Result<R, RuntimeError> {
        self.enter()?;
        let Some((instance, bindings)) = &self.bound else {
            return Err(RuntimeError::Poisoned);
        };
        let result = call(&mut self.store, bindings, *instance);
        self.count_fuel();
        result.map_err(|e| self.error(e))
    }

    /// The fuel the last `transform` or `info` call used, out of the budget,
    /// when the runtime meters fuel ([`RuntimeOptions::fuel`]); a call that
    /// ran out used all of it.
    pub fn fuel_used(&self) -> Option<u64> {
        self.fuel_used
    }

    fn count_fuel(&mut self) {
        if let Some(fuel) = self.fuel {
            let left = self.store.get_fuel().unwrap_or(0);
            self.fuel_used = Some(fuel.saturating_sub(left));
        }
    }

    /// Readies the store for a call: a fresh deadline, the full fuel budget,
    /// no memory overrun seen.
    fn enter(&mut self) -> Result<(), RuntimeError> {
        if self.poisoned {
            return Err(RuntimeError::Poisoned);
        }
        self.store.data_mut().exceeded = false;
        self.store.set_epoch_deadline(deadline_ticks(self.timeout));
        if let Some(fuel) = self.fuel {
            self.store
                .set_fuel(fuel)
                .map_err(|e| RuntimeError::Setup(format!("{e:#}")))?;
        }
        Ok(())
    }

    /// Classifies a failed call and poisons the instance.
    fn error(&mut self, error: wasmtime::Error) -> RuntimeError {
        self.poisoned = true;
        let limits = self.store.data();
        if limits.exceeded {
            return RuntimeError::Memory {
                mib: limits.memory_limit.div_ceil(1 << 20),
            };
        }
        match error.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => RuntimeError::Budget {
                fuel: self.fuel.unwrap_or(0),
            },
            Some(Trap::Interrupt) => RuntimeError::Timeout {
                ms: self.timeout.as_millis(),
            },
            Some(Trap::StackOverflow) => RuntimeError::Stack,
            Some(trap) => RuntimeError::Trap(trap.to_string()),
            None => RuntimeError::Call(format!("{error:#}")),
        }
    }
}

/// Epoch ticks from now until `timeout` has passed: one more than the
/// timeout holds, since the current tick is already partly over.
fn deadline_ticks(timeout: Duration) -> u64 {
    let ticks = timeout.as_nanos().div_ceil(EPOCH_TICK.as_nanos());
    u64::try_from(ticks).unwrap_or(u64::MAX - 1) + 1
}
