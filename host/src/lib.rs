//! leadfilter: compile lead-minimisation policies into self-contained,
//! capability-free Wasm components, and apply them to leads.
//!
//! The pipeline is in the module names: [`policy`] reads and checks a policy
//! source, [`compile`] bakes it into a component, [`runtime`] runs components
//! with wasmtime.

#![deny(missing_docs)]

pub mod compile;
pub mod input;
pub mod policy;
pub mod runtime;
pub mod secrets;
