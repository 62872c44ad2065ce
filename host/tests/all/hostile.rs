//! Hand-made components that export the policy interface but do what a
//! hostile or broken component would: answer something that is not a lead,
//! claim to be another policy, loop, or ask for more memory than allowed.
//!
//! Each is a core module written in WAT, with the `leadfilter:policy` WIT
//! embedded and made into a component by `wit-component`, exactly as a
//! real policy is, plus a `leadfilter-policy` section that agrees with its
//! `info` (unless a test wants it not to).

use std::path::Path;

use leadfilter::artifact::{EngineMetadata, PolicyMetadata, SECTION, append_custom_section};
use leadfilter_engine::PolicyInfo;

/// What the component's `info` says.
pub const NAME: &str = "hostile";
pub const VERSION: &str = "6.6.6";
pub const DIGEST: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000bad";

/// A component whose `transform` runs `body` (WAT instructions leaving the
/// address of the result on the stack; `lead` is at address 3072 and
/// its result record, ready to return, at 4096), with `extra` module fields
/// (more memories, data). The `leadfilter-policy` section says `section`.
pub fn component_with(body: &str, lead: &str, extra: &str, section: &PolicyInfo) -> Vec<u8> {
    let le = |n: usize| {
        (n as u32)
            .to_le_bytes()
            .iter()
            .map(|b| format!("\\{b:02x}"))
            .collect::<String>()
    };
    let text = |s: &str| s.bytes().map(|b| format!("\\{b:02x}")).collect::<String>();
    // The `policy-info` record at 2048: name, version, digest, secrets
    // (none), input and output schema (none).
    let info = format!(
        "{}{}{}{}{}{}{}{}\\00\\00\\00\\00{}\\00\\00\\00\\00{}",
        le(1024),
        le(NAME.len()),
        le(1100),
        le(VERSION.len()),
        le(1200),
        le(DIGEST.len()),
        le(0),
        le(0),
        "\\00".repeat(8),
        "\\00".repeat(8),
    );
    // The `result<outcome, failure>` at 4096: ok, the lead, no changes.
    let result = format!(
        "\\00\\00\\00\\00{}{}{}{}",
        le(3072),
        le(lead.len()),
        le(0),
        le(0)
    );
    let wat = format!(
        r#"(module
  (memory (export "memory") 2)
  (global $bump (mut i32) (i32.const 65536))
  (func (export "cabi_realloc") (param $old i32) (param $old_size i32) (param $align i32) (param $size i32) (result i32)
    (local $p i32)
    (local.set $p (i32.and
      (i32.add (global.get $bump) (i32.sub (local.get $align) (i32.const 1)))
      (i32.sub (i32.const 0) (local.get $align))))
    (global.set $bump (i32.add (local.get $p) (local.get $size)))
    (local.get $p))
  (data (i32.const 1024) "{name}")
  (data (i32.const 1100) "{version}")
  (data (i32.const 1200) "{digest}")
  (data (i32.const 2048) "{info}")
  (data (i32.const 3072) "{lead}")
  (data (i32.const 4096) "{result}")
  (func (export "leadfilter:policy/filter@0.1.0#info") (result i32)
    (i32.const 2048))
  (func (export "leadfilter:policy/filter@0.1.0#transform")
    (param i32 i32 i32 i32) (result i32)
    {body})
  {extra}
)"#,
        name = text(NAME),
        version = text(VERSION),
        digest = text(DIGEST),
        lead = text(lead),
    );
    let mut module = wat::parse_str(&wat).expect("the hostile module is valid WAT");
    let mut resolve = wit_parser::Resolve::default();
    let wit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit");
    let (package, _) = resolve.push_dir(&wit).expect("the WIT parses");
    let world = resolve
        .select_world(&[package], Some("policy"))
        .expect("the policy world");
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .expect("the WIT embeds");
    let mut component = wit_component::ComponentEncoder::default()
        .module(&module)
        .and_then(|encoder| encoder.validate(true).encode())
        .expect("the hostile module becomes a component");
    let metadata = PolicyMetadata {
        info: section.clone(),
        engine: EngineMetadata {
            version: "0".into(),
            digest: "sha256:0".into(),
        },
    };
    append_custom_section(
        &mut component,
        SECTION,
        &serde_json::to_vec(&metadata).unwrap(),
    );
    component
}

/// What `info` says, as the section should say it.
pub fn info() -> PolicyInfo {
    PolicyInfo {
        name: NAME.into(),
        version: VERSION.into(),
        digest: DIGEST.into(),
        secrets: Vec::new(),
        input_schema: None,
        output_schema: None,
    }
}

/// A component whose every lead is answered with `lead` as the filtered
/// lead.
pub fn answering(lead: &str) -> Vec<u8> {
    component_with("(i32.const 4096)", lead, "", &info())
}

/// A component whose `transform` never returns.
pub fn looping() -> Vec<u8> {
    component_with("(loop (br 0)) (i32.const 4096)", "{}", "", &info())
}

/// A component whose `transform` grows its memory by `mib` MiB, then
/// answers `{}`.
pub fn growing(mib: u32) -> Vec<u8> {
    let pages = mib * 16;
    component_with(
        &format!("(drop (memory.grow (i32.const {pages}))) (i32.const 4096)"),
        "{}",
        "",
        &info(),
    )
}

/// A component with `n` more memories of `mib` MiB each.
pub fn many_memories(n: usize, mib: u32) -> Vec<u8> {
    let pages = mib * 16;
    let extra: String = (0..n).map(|_| format!("(memory {pages})\n")).collect();
    component_with("(i32.const 4096)", "{}", &extra, &info())
}

/// A component whose section names another digest than its `info`.
pub fn misnamed() -> Vec<u8> {
    let mut section = info();
    section.digest = format!("sha256:{}", "1".repeat(64));
    component_with("(i32.const 4096)", "{}", "", &section)
}
