//! The WIT interface as wasmtime binds it, and its values as the engine
//! crate's types (so a component's answer compares with `==` to the native
//! engine's).

use leadfilter_engine::{Change, Failure, Outcome, Secret, Violation};
use wasmtime::component::{ComponentType, Lift, WasmList};

pub(super) mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "policy",
    });
}

use bindings::exports::leadfilter::policy::filter as wit;
/// The WIT `secret` and `failure` as the bindings lift them.
pub(super) type WitSecret = wit::Secret;
pub(super) type WitFailure = wit::Failure;

/// `outcome` as [`PolicyInstance::transform_lead`] lifts it: the lead, and
/// the change list left in the instance's memory, never copied out.
#[derive(ComponentType, Lift)]
#[component(record)]
pub(super) struct LeadOnly {
    pub(super) lead: String,
    #[allow(dead_code)]
    changes: WasmList<wit::Change>,
}

pub(super) fn wit_secrets(secrets: &[Secret]) -> Vec<wit::Secret> {
    secrets
        .iter()
        .map(|s| wit::Secret {
            name: s.name.clone(),
            value: s.value.clone(),
        })
        .collect()
}

pub(super) fn outcome_from_wit(outcome: wit::Outcome) -> Outcome {
    Outcome {
        lead: outcome.lead,
        changes: outcome
            .changes
            .into_iter()
            .map(|wit::Change { path, action }| Change { path, action })
            .collect(),
    }
}

fn violation_from_wit(wit::Violation { path, message }: wit::Violation) -> Violation {
    Violation { path, message }
}

pub(super) fn failure_from_wit(failure: wit::Failure) -> Failure {
    let list = |vs: Vec<wit::Violation>| vs.into_iter().map(violation_from_wit).collect();
    match failure {
        wit::Failure::InvalidJson(m) => Failure::InvalidJson(m),
        wit::Failure::InputSchema(vs) => Failure::InputSchema(list(vs)),
        wit::Failure::Rejected(m) => Failure::Rejected(m),
        wit::Failure::OutputSchema(vs) => Failure::OutputSchema(list(vs)),
        wit::Failure::MissingSecret(name) => Failure::MissingSecret(name),
        wit::Failure::Transform(v) => Failure::Transform(violation_from_wit(v)),
    }
}
