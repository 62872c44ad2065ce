//! The `policy.wasm` format: a Wasm component with leadfilter's custom
//! sections. [`crate::compile`] writes it, [`crate::runtime`] and
//! `leadfilter inspect` read it; neither depends on the other for it.
//!
//! - [`SECTION`] (`leadfilter-policy`): what the policy is
//!   ([`PolicyMetadata`]), readable without running it ([`inspect`]).

mod inspect;
mod metadata;

pub use inspect::{InspectError, Metadata, inspect};
pub use metadata::{EngineMetadata, PolicyMetadata, SECTION};

/// Appends a custom section at the top level of a component: a component
/// is a sequence of sections, so this is how
/// `wasm_encoder::Component::section` would write it.
pub fn append_custom_section(component: &mut Vec<u8>, name: &str, data: &[u8]) {
    let section = wasm_encoder::CustomSection {
        name: name.into(),
        data: data.into(),
    };
    component.push(wasm_encoder::ComponentSection::id(&section));
    wasm_encoder::Encode::encode(&section, component);
}
