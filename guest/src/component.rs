//! The component glue: the WIT world `leadfilter:policy/policy` on top of
//! [`Engine`], for `wasm32-unknown-unknown`.
//!
//! The shipped engine is a core module that holds no policy. `leadfilter
//! compile` instantiates it once, hands it the canonical policy through the
//! core export [`leadfilter_load`], and snapshots the initialised memory with
//! Wizer. Every instance of the resulting component starts with the policy
//! already parsed and its regexes and schema validators built, so a fresh
//! instance per lead costs next to nothing. `leadfilter_load` is removed from
//! the module after the snapshot.
//!
//! A component that holds no policy (the bare engine) answers `transform` with
//! a failure and `info` with empty fields: it never traps with data.

use std::cell::OnceCell;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Change, Engine, Failure, Outcome, PolicyInfo, Secret, Violation};

// The canonical ABI glue that wit-bindgen generates is `unsafe` code.
#[allow(unsafe_code)]
mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "policy",
    });

    use super::Policy;
    export!(Policy);
}

use bindings::exports::leadfilter::policy::filter as wit;

thread_local! {
    // wasm32-unknown-unknown has no threads: this is a plain static that
    // Wizer snapshots along with the rest of linear memory.
    static ENGINE: OnceCell<Engine> = const { OnceCell::new() };
}

/// std's allocator (dlmalloc) with free lists for small blocks in front: a
/// fifth faster per lead (see [`crate::alloc`]). Enabled on the first call
/// into an instance, after the snapshot.
#[global_allocator]
static ALLOCATOR: crate::alloc::ClassCache<std::alloc::System> =
    crate::alloc::ClassCache::new(std::alloc::System);

/// The message `transform` fails with when no policy was baked in.
const NO_POLICY: &str = "no policy is loaded in this component";

/// Loads the canonical policy JSON at `ptr..ptr+len`, which the host allocated
/// with `cabi_realloc(0, 0, 1, len)`; this function takes ownership of it and
/// frees it (zeroed, so the snapshot does not carry a second copy).
///
/// Returns 0 when the policy loaded, otherwise the address of two
/// little-endian `u32`s: the address and length of a UTF-8 message saying why
/// it did not load. Loading twice is refused.
///
/// # Safety
///
/// `ptr` must come from `cabi_realloc(0, 0, 1, len)` and not be used by the
/// caller afterwards.
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
unsafe extern "C" fn leadfilter_load(ptr: *mut u8, len: usize) -> *const u32 {
    let mut bytes = if len == 0 {
        Vec::new()
    } else {
        // SAFETY: the host allocated exactly `len` bytes with alignment 1
        // through `cabi_realloc`, which uses the global allocator with
        // `Layout::from_size_align(len, 1)`, wrote the policy into them, and
        // hands their ownership to this call. That is the layout a
        // `Vec<u8>` of capacity `len` owns.
        unsafe { Vec::from_raw_parts(ptr, len, len) }
    };
    let result = ENGINE.with(|cell| {
        if cell.get().is_some() {
            return Err("a policy is already loaded".to_string());
        }
        let engine = Engine::from_json(&bytes).map_err(|e| e.to_string())?;
        // Cannot fail: the cell was empty above.
        let _ = cell.set(engine);
        Ok(())
    });
    bytes.fill(0);
    drop(bytes);
    match result {
        Ok(()) => std::ptr::null(),
        Err(message) => {
            // The instance is thrown away after a failed load; leaking the
            // message keeps it readable by the host until then.
            let message: &'static str = message.leak();
            let pair: &'static [u32; 2] =
                Box::leak(Box::new([message.as_ptr() as u32, message.len() as u32]));
            pair.as_ptr()
        }
    }
}

/// Wizer's initialisation function, run after [`leadfilter_load`] and before
/// the snapshot: [`Engine::warm_up`] runs every regular expression once, and
/// one transform of an empty lead warms whatever else the engine builds
/// lazily, so that the first lead of a fresh instance does not pay for it.
/// Its result does not matter.
#[allow(unsafe_code)] // `no_mangle`: Wizer calls it by this name.
#[unsafe(no_mangle)]
extern "C" fn leadfilter_initialize() {
    ENGINE.with(|cell| {
        if let Some(engine) = cell.get() {
            engine.warm_up();
            // Placeholder secrets get the empty lead past the secret check,
            // so that parsing, both schemas, `require` and the walk run once.
            let secrets: Vec<Secret> = engine
                .info()
                .secrets
                .iter()
                .map(|name| Secret {
                    name: name.clone(),
                    value: Vec::new(),
                })
                .collect();
            let _ = engine.transform("{}", &secrets);
        }
    });
}

/// The deterministic "randomness" behind getrandom's `custom` backend.
///
/// jsonschema pulls in getrandom (for hash-map seeds). A policy component has
/// no source of entropy, and must not have one: the same policy and lead must
/// give the same bytes every time. So this fills buffers from a fixed
/// SplitMix64 sequence.
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
unsafe extern "Rust" fn __getrandom_v03_custom(
    dest: *mut u8,
    len: usize,
) -> Result<(), getrandom::Error> {
    static STATE: AtomicU64 = AtomicU64::new(0x6c65_6164_6669_6c74);
    for i in 0..len {
        let mut z = STATE
            .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
            .wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        // SAFETY: getrandom passes a buffer of `len` writable (possibly
        // uninitialised) bytes; `i < len`.
        unsafe { dest.add(i).write(z as u8) };
    }
    Ok(())
}

struct Policy;

impl wit::Guest for Policy {
    fn info() -> wit::PolicyInfo {
        ENGINE.with(|cell| match cell.get() {
            Some(engine) => info_to_wit(engine.info()),
            None => wit::PolicyInfo {
                name: String::new(),
                version: String::new(),
                digest: String::new(),
                secrets: Vec::new(),
                input_schema: None,
                output_schema: None,
            },
        })
    }

    fn transform(lead: String, secrets: Vec<wit::Secret>) -> Result<wit::Outcome, wit::Failure> {
        ALLOCATOR.enable();
        let secrets: Vec<Secret> = secrets
            .into_iter()
            .map(|s| Secret {
                name: s.name,
                value: s.value,
            })
            .collect();
        let result = ENGINE.with(|cell| match cell.get() {
            Some(engine) => engine.transform(&lead, &secrets),
            None => Err(Failure::Transform(Violation {
                path: String::new(),
                message: NO_POLICY.to_string(),
            })),
        });
        result.map(outcome_to_wit).map_err(failure_to_wit)
    }
}

fn info_to_wit(info: &PolicyInfo) -> wit::PolicyInfo {
    wit::PolicyInfo {
        name: info.name.clone(),
        version: info.version.clone(),
        digest: info.digest.clone(),
        secrets: info.secrets.clone(),
        input_schema: info.input_schema.clone(),
        output_schema: info.output_schema.clone(),
    }
}

fn outcome_to_wit(outcome: Outcome) -> wit::Outcome {
    wit::Outcome {
        lead: outcome.lead,
        changes: outcome
            .changes
            .into_iter()
            .map(|Change { path, action }| wit::Change { path, action })
            .collect(),
    }
}

fn violation_to_wit(Violation { path, message }: Violation) -> wit::Violation {
    wit::Violation { path, message }
}

fn failure_to_wit(failure: Failure) -> wit::Failure {
    let list = |vs: Vec<Violation>| vs.into_iter().map(violation_to_wit).collect();
    match failure {
        Failure::InvalidJson(m) => wit::Failure::InvalidJson(m),
        Failure::InputSchema(vs) => wit::Failure::InputSchema(list(vs)),
        Failure::Rejected(m) => wit::Failure::Rejected(m),
        Failure::OutputSchema(vs) => wit::Failure::OutputSchema(list(vs)),
        Failure::MissingSecret(name) => wit::Failure::MissingSecret(name),
        Failure::Transform(v) => wit::Failure::Transform(violation_to_wit(v)),
    }
}
