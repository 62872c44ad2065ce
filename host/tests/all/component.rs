//! The shipped engine, `compile` and the wasmtime runtime: policy components
//! import nothing, compile reproducibly, carry their metadata, answer like
//! the native engine, and stop with a clear error at their limits.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use leadfilter::artifact::{self, InspectError, PolicyMetadata, SECTION};
use leadfilter::compile::{CompileError, CompileOptions, Compiler, ENGINE_WASM};
use leadfilter::runtime::{
    self, CacheSetting, CodeSource, LoadedPolicy, POLICY_INTERFACE, Runtime, RuntimeError,
    RuntimeOptions,
};
use leadfilter_engine::{Engine, Failure, Policy, Secret};
use pretty_assertions::assert_eq;

const POLICY: &str = r#"{
    "apiVersion": "leadfilter/v1",
    "name": "crm",
    "version": "1.2.0",
    "secrets": ["pepper"],
    "fields": {
        "/email": { "hash": { "key": "pepper", "normalize": ["trim", "lowercase"] } },
        "/first_name": "keep",
        "/notes": { "scrub": {} }
    }
}"#;

/// A lead value that must never show up in an error.
const MARKER: &str = "ada.lovelace.marker@example.com";

fn lead() -> String {
    format!(
        r#"{{"first_name":"Ada","email":" {MARKER} ","notes":"call {MARKER}","phone":"+1 555 0100"}}"#
    )
}

fn secrets() -> Vec<Secret> {
    vec![Secret {
        name: "pepper".into(),
        value: b"not-so-secret".to_vec(),
    }]
}

fn canonical(policy: &str) -> Vec<u8> {
    Policy::from_json(policy.as_bytes())
        .expect("the test policy parses")
        .canonical_json()
}

/// Compiled code is cached under the target directory: the tests compile the
/// same engine and component with several runtimes, and runs after the first
/// skip Cranelift.
fn cache() -> CacheSetting {
    CacheSetting::Directory(
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("wasmtime-cache"),
    )
}

fn compiler() -> &'static Compiler {
    static COMPILER: OnceLock<Compiler> = OnceLock::new();
    COMPILER.get_or_init(|| {
        Compiler::new(&CompileOptions { cache: cache() }).expect("the compiler sets up")
    })
}

fn component() -> &'static [u8] {
    static COMPONENT: OnceLock<Vec<u8>> = OnceLock::new();
    COMPONENT.get_or_init(|| {
        compiler()
            .compile(&canonical(POLICY))
            .expect("the policy compiles")
    })
}

fn options() -> RuntimeOptions {
    RuntimeOptions {
        cache: cache(),
        ..RuntimeOptions::default()
    }
}

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new(&options()).expect("the runtime sets up"))
}

/// The test component, loaded with default options.
fn policy() -> &'static LoadedPolicy {
    static POLICY: OnceLock<LoadedPolicy> = OnceLock::new();
    POLICY.get_or_init(|| runtime().load(component()).expect("the component loads"))
}

/// The test component, loaded with other options. Loading it with the
/// default ones first fills the cache, so this does not compile it again.
fn policy_with(options: RuntimeOptions) -> LoadedPolicy {
    let _ = policy();
    Runtime::new(&options)
        .expect("the runtime sets up")
        .load(component())
        .expect("the component loads")
}

#[test]
fn a_second_load_maps_the_cached_code_and_a_damaged_entry_is_compiled_again() {
    let dir = tempfile::tempdir().expect("a scratch directory");
    let load = || {
        Runtime::new(&RuntimeOptions {
            cache: CacheSetting::Directory(dir.path().to_owned()),
            ..RuntimeOptions::default()
        })
        .expect("the runtime sets up")
        .load(component())
        .expect("the component loads")
    };
    let filter = |policy: &LoadedPolicy| {
        policy
            .instantiate()
            .expect("an instance")
            .transform(r#"{"email":"ada@example.com","notes":"x"}"#, &secrets())
            .expect("the call runs")
    };
    let artifacts = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(dir.path().join("components"))
            .map(|entries| entries.map(|e| e.expect("an entry").path()).collect())
            .unwrap_or_default()
    };

    let first = load();
    assert_eq!(first.code_source(), CodeSource::Compiled);
    let files = artifacts();
    assert_eq!(files.len(), 1, "one file per component: {files:?}");
    assert!(files[0].extension().is_some_and(|x| x == "cwasm"));

    // A new runtime (as a new process would) maps the code, and filters
    // the same.
    let long_ago = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1 << 30);
    std::fs::File::open(&files[0])
        .and_then(|f| f.set_modified(long_ago))
        .expect("the entry's time can be set");
    let second = load();
    assert_eq!(second.code_source(), CodeSource::Cache);
    // A hit marks the entry as used, so the cache keeps it longest.
    let used = std::fs::metadata(&files[0])
        .and_then(|m| m.modified())
        .expect("a modification time");
    assert!(used > long_ago);
    assert_eq!(filter(&second), filter(&first));
    // (The file is mapped while `second` lives: rewriting it in place, as
    // the next step does to damage it, is only safe once it is gone. The
    // cache itself only ever replaces files by renaming.)
    drop(second);

    // A damaged entry is not used: the component is compiled again and the
    // entry replaced.
    std::fs::write(&files[0], b"not machine code").expect("the entry is writable");
    let third = load();
    assert_eq!(third.code_source(), CodeSource::Compiled);
    assert_eq!(filter(&third), filter(&first));
    assert_eq!(artifacts(), files);
    assert_eq!(load().code_source(), CodeSource::Cache);

    // Other engine settings (fuel metering changes the code) are another
    // entry.
    let fueled = Runtime::new(&RuntimeOptions {
        cache: CacheSetting::Directory(dir.path().to_owned()),
        fuel: Some(runtime::DEFAULT_FUEL),
        ..RuntimeOptions::default()
    })
    .expect("the runtime sets up")
    .load(component())
    .expect("the component loads");
    assert_eq!(fueled.code_source(), CodeSource::Compiled);
    assert_eq!(artifacts().len(), 2);
}

#[test]
fn the_shipped_engine_imports_nothing() {
    let mut imports = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(ENGINE_WASM) {
        if let wasmparser::Payload::ImportSection(reader) = payload.expect("the engine parses") {
            for import in reader.into_imports() {
                let import = import.expect("an import parses");
                imports.push(format!("{}::{}", import.module, import.name));
            }
        }
    }
    assert_eq!(imports, Vec::<String>::new());
}

#[test]
fn a_compiled_policy_imports_nothing_and_exports_the_filter() {
    let metadata = artifact::inspect(component()).expect("the component inspects");
    assert_eq!(metadata.imports, Vec::<String>::new());
    assert_eq!(metadata.exports, vec![POLICY_INTERFACE.to_string()]);
}

/// What `wasm-tools component wit` shows of each compiled example (the same
/// decoder and printer, from `wit-component`): a world that exports the
/// filter interface and imports nothing.
#[test]
fn every_compiled_example_shows_exports_only_in_its_wit() {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    for example in [
        "landing-page-to-crm",
        "typeform-to-slack",
        "facebook-to-ads",
    ] {
        let loaded = leadfilter::policy::load(&examples.join(example).join("policy.yaml"))
            .unwrap_or_else(|e| panic!("{example}: {e}"));
        let component = compiler()
            .compile(&loaded.policy.canonical_json())
            .unwrap_or_else(|e| panic!("{example}: {e}"));
        let wit_component::DecodedWasm::Component(resolve, world) =
            wit_component::decode(&component).expect("the component decodes")
        else {
            panic!("{example}: decoded as a WIT package, not a component");
        };
        let world = &resolve.worlds[world];
        assert!(
            world.imports.is_empty(),
            "{example} imports {:?}",
            world.imports
        );
        let exports: Vec<String> = world
            .exports
            .keys()
            .map(|key| resolve.name_world_key(key))
            .collect();
        assert_eq!(exports, vec![POLICY_INTERFACE.to_string()], "{example}");

        let package = world.package.expect("the world has a package");
        let nested: Vec<_> = resolve
            .packages
            .iter()
            .map(|(id, _)| id)
            .filter(|id| *id != package)
            .collect();
        let mut printer = wit_component::WitPrinter::default();
        printer
            .print(&resolve, package, &nested)
            .expect("the WIT prints");
        let wit = printer.output.to_string();
        let world_lines: Vec<&str> = wit
            .lines()
            .map(str::trim)
            .filter(|line| line.starts_with("import ") || line.starts_with("export "))
            .collect();
        assert_eq!(
            world_lines,
            vec![format!("export {POLICY_INTERFACE};")],
            "{example}:\n{wit}"
        );
        assert!(
            wit.contains(
                "transform: func(lead: string, secrets: list<secret>) -> result<outcome, failure>;"
            ),
            "{wit}"
        );
    }
}

#[test]
fn compiling_twice_gives_the_same_bytes() {
    let again = compiler()
        .compile(&canonical(POLICY))
        .expect("the policy compiles");
    assert!(again == component(), "two compiles of one policy differ");

    // White space and key order of the input do not matter: the policy is
    // canonicalised before it is baked in.
    let pretty = serde_json::to_vec_pretty(
        &serde_json::from_str::<serde_json::Value>(POLICY).expect("the policy is JSON"),
    )
    .expect("JSON serialises");
    let from_pretty = compiler().compile(&pretty).expect("the policy compiles");
    assert!(
        from_pretty == component(),
        "the input's layout leaked into the component"
    );
}

#[test]
fn the_metadata_section_is_readable_without_running() {
    let metadata = artifact::inspect(component()).expect("the component inspects");
    let native = Engine::from_json(&canonical(POLICY)).expect("the policy loads natively");
    assert_eq!(metadata.policy.info, *native.info());
    assert_eq!(metadata.policy.info.name, "crm");
    assert_eq!(metadata.policy.info.version, "1.2.0");
    assert_eq!(
        metadata.policy.info.digest,
        Policy::from_json(POLICY.as_bytes()).unwrap().digest()
    );
    assert_eq!(metadata.policy.info.secrets, vec!["pepper".to_string()]);
    assert_eq!(metadata.policy.engine.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(
        metadata.policy.engine.digest,
        leadfilter_engine::policy::digest_of(ENGINE_WASM)
    );
    // The section is compact JSON at the component's top level.
    let json = serde_json::to_string(&metadata.policy).expect("metadata serialises");
    let parsed: PolicyMetadata = serde_json::from_str(&json).expect("metadata parses");
    assert_eq!(parsed, metadata.policy);
}

#[test]
fn info_round_trips_the_metadata() {
    let metadata = policy()
        .metadata()
        .expect("the component has metadata")
        .clone();
    let info = policy()
        .instantiate()
        .expect("the policy instantiates")
        .info()
        .expect("info answers");
    assert_eq!(info, metadata.info);
}

#[test]
fn the_component_answers_like_the_native_engine() {
    let native = Engine::from_json(&canonical(POLICY)).expect("the policy loads natively");
    let policy = policy();
    let mut instance = policy.instantiate().expect("the policy instantiates");
    let leads = [
        lead(),
        r#"{"first_name":"Grace"}"#.to_string(),
        "{}".to_string(),
        "not json".to_string(),
        r#"{"a":1,"a":2}"#.to_string(),
    ];
    for (i, lead) in leads.iter().enumerate() {
        let expected = native.transform(lead, &secrets());
        // The same instance for every lead, and a fresh one per lead.
        let warm = instance
            .transform(lead, &secrets())
            .expect("the policy runs");
        assert_eq!(warm, expected, "lead {i}, warm instance");
        let fresh = policy
            .instantiate()
            .expect("the policy instantiates")
            .transform(lead, &secrets())
            .expect("the policy runs");
        assert_eq!(fresh, expected, "lead {i}, fresh instance");
    }
    // A missing secret is the policy's answer, not a runtime error.
    let missing = instance.transform(&lead(), &[]).expect("the policy runs");
    assert_eq!(missing, native.transform(&lead(), &[]));
}

#[test]
fn the_pooling_allocator_runs_policies() {
    let policy = policy_with(RuntimeOptions {
        pooling: Some(2),
        ..options()
    });
    let native = Engine::from_json(&canonical(POLICY)).expect("the policy loads natively");
    // More instances than slots, one after another, so slots are reused and
    // reset: a large lead grows memory and dirties many pages, a lead that
    // fails leaves its memory mid-transform, and every next instance must
    // start from the pristine policy all the same.
    let large = format!(
        r#"{{"first_name":"Ada","notes":"{}"}}"#,
        scrub_heavy_notes()
    );
    let leads = [
        lead(),
        large,
        r#"{"email": 1}"#.to_string(),
        "{".to_string(),
    ];
    for round in 0..12 {
        let lead = &leads[round % leads.len()];
        let mut instance = policy.instantiate().expect("the policy instantiates");
        assert_eq!(
            instance
                .transform(lead, &secrets())
                .expect("the policy runs"),
            native.transform(lead, &secrets()),
            "round {round}"
        );
    }
}

/// `transform_lead` is `transform` without the change list.
#[test]
fn transform_lead_gives_the_same_answers_without_the_changes() {
    let leads = [
        lead(),
        r#"{"email": 1}"#.to_string(),
        "{".to_string(),
        r#"{"first_name":"Ada","other":[1,2,3]}"#.to_string(),
    ];
    let mut instance = policy().instantiate().expect("the policy instantiates");
    for lead in &leads {
        for secrets in [secrets(), Vec::new()] {
            let full = instance.transform(lead, &secrets).expect("the policy runs");
            let only = instance
                .transform_lead(lead, &secrets)
                .expect("the policy runs");
            assert_eq!(only, full.map(|outcome| outcome.lead), "{lead}");
        }
    }
}

/// A megabyte of notes dense with personal data: the costliest kind of lead
/// to scrub.
fn scrub_heavy_notes() -> String {
    format!("call {MARKER} or +1 555 0100. ").repeat(20_000)
}

/// Runs `lead` in a fresh instance of `policy`, expects `expected` (shown as
/// `message`, without the lead's values), and checks that the failed
/// instance is not used again.
fn assert_stops(policy: &LoadedPolicy, lead: &str, expected: RuntimeError, message: &str) {
    let mut instance = policy.instantiate().expect("the policy instantiates");
    let error = instance
        .transform(lead, &secrets())
        .expect_err("the call must stop");
    assert_eq!(error, expected);
    assert_eq!(error.to_string(), message);
    assert!(!format!("{error:?}").contains(MARKER));
    assert_eq!(
        instance
            .transform("{}", &[])
            .expect_err("the instance is poisoned"),
        RuntimeError::Poisoned
    );
    assert_eq!(
        instance
            .transform_lead("{}", &[])
            .expect_err("the instance is poisoned"),
        RuntimeError::Poisoned
    );
}

#[test]
fn a_slow_lead_stops_at_the_time_limit() {
    let policy = policy_with(RuntimeOptions {
        timeout: Duration::ZERO,
        ..options()
    });
    // Scrubbing a MiB of text takes tens of milliseconds; a zero timeout
    // ends the call at the next epoch tick (10 ms).
    let slow = format!(r#"{{"notes":"{}"}}"#, scrub_heavy_notes());
    assert_stops(
        &policy,
        &slow,
        RuntimeError::Timeout { ms: 0 },
        "the policy exceeded its time limit of 0 ms",
    );
}

#[test]
fn a_runaway_policy_stops_at_its_budget() {
    let policy = policy_with(RuntimeOptions {
        fuel: Some(1_000),
        ..options()
    });
    // 1000 fuel units is too little for any lead.
    assert_stops(
        &policy,
        &lead(),
        RuntimeError::Budget { fuel: 1_000 },
        "the policy exceeded its execution budget of 1000 fuel units",
    );
}

/// `fuel_used` reports what a call used, out of the budget: more for a
/// bigger lead, all of it for a call that ran out, nothing without fuel.
#[test]
fn fuel_used_is_what_the_last_call_used() {
    let budget = runtime::DEFAULT_FUEL;
    let metered = policy_with(RuntimeOptions {
        fuel: Some(budget),
        ..options()
    });
    let mut instance = metered.instantiate().expect("the policy instantiates");
    instance
        .transform(&lead(), &secrets())
        .unwrap()
        .expect("the lead is filtered");
    let small = instance.fuel_used().expect("fuel is metered");
    let notes = format!("call {MARKER} or +1 555 0100. ").repeat(100);
    let bigger = format!(r#"{{"notes":"{notes}"}}"#);
    instance
        .transform(&bigger, &secrets())
        .unwrap()
        .expect("the lead is filtered");
    let large = instance.fuel_used().expect("fuel is metered");
    assert!(
        1_000 < small && small < large && large < budget,
        "{small} {large}"
    );

    let tight = policy_with(RuntimeOptions {
        fuel: Some(1_000),
        ..options()
    });
    let mut instance = tight.instantiate().expect("the policy instantiates");
    assert!(instance.transform(&lead(), &secrets()).is_err());
    assert_eq!(instance.fuel_used(), Some(1_000));

    let mut unmetered = policy().instantiate().expect("the policy instantiates");
    unmetered
        .transform(&lead(), &secrets())
        .unwrap()
        .expect("the lead is filtered");
    assert_eq!(unmetered.fuel_used(), None);
}

#[test]
fn a_lead_too_large_for_the_memory_limit_stops_with_a_clear_error() {
    let policy = policy_with(RuntimeOptions {
        memory_limit: 16 << 20,
        ..options()
    });

    // A small lead fits.
    let mut instance = policy.instantiate().expect("the policy instantiates");
    let answer = instance
        .transform(&lead(), &secrets())
        .expect("a small lead fits in 16 MiB");
    let native = Engine::from_json(&canonical(POLICY)).expect("the policy loads natively");
    assert_eq!(answer, native.transform(&lead(), &secrets()));

    // 32 MiB of lead does not.
    let huge = format!(
        r#"{{"notes":"{}"}}"#,
        MARKER.repeat((32 << 20) / MARKER.len())
    );
    let mut instance = policy.instantiate().expect("the policy instantiates");
    let error = instance
        .transform(&huge, &secrets())
        .expect_err("32 MiB of lead cannot fit in 16 MiB");
    assert_eq!(error, RuntimeError::Memory { mib: 16 });
    assert_eq!(
        error.to_string(),
        "the policy exceeded its memory limit of 16 MiB"
    );
    assert!(!format!("{error:?}").contains(MARKER));
}

/// The largest lead `leadfilter run` accepts by default (1 MiB) fits in the
/// default budget and memory limit, in the shapes that cost the most.
#[test]
fn a_large_lead_fits_the_default_limits() {
    let native = Engine::from_json(&canonical(POLICY)).expect("the policy loads natively");
    let size = 1 << 20;
    let text = format!("{MARKER} +1 555 0100 4111 1111 1111 1111 192.168.0.1 ");
    let scrubbed = format!(r#"{{"notes":"{}"}}"#, text.repeat(size / text.len() - 1));
    let mut wide = String::from("{");
    for i in 0..size / 16 {
        wide.push_str(&format!(r#""k{i:07}":"v","#));
    }
    wide.push_str(r#""first_name":"Ada"}"#);
    let numbers = format!(
        "{{\"first_name\":[{}0]}}",
        "12345.678e-3,".repeat(size / 13 - 1)
    );
    for (name, lead) in [("scrubbed", scrubbed), ("wide", wide), ("numbers", numbers)] {
        assert!(lead.len() <= size + 64, "{name}: {} bytes", lead.len());
        let start = Instant::now();
        let mut instance = policy().instantiate().expect("the policy instantiates");
        let answer = instance
            .transform(&lead, &secrets())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        eprintln!(
            "{name} lead of {} bytes: {:?}, {:?} fuel units",
            lead.len(),
            start.elapsed(),
            instance.fuel_used()
        );
        assert_eq!(answer, native.transform(&lead, &secrets()), "{name}");
    }
}

#[test]
fn a_component_with_imports_is_refused() {
    use wasm_encoder::{Component, ComponentImportSection, ComponentTypeRef, ComponentTypeSection};

    let mut types = ComponentTypeSection::new();
    types
        .function()
        .params(std::iter::empty::<(&str, wasm_encoder::ComponentValType)>())
        .result(None);
    let mut imports = ComponentImportSection::new();
    imports.import("read-the-clock", ComponentTypeRef::Func(0));
    let mut component = Component::new();
    component.section(&types).section(&imports);
    let bytes = component.finish();

    let error = runtime()
        .load(&bytes)
        .expect_err("a component with an import is refused");
    assert_eq!(error, RuntimeError::Imports(vec!["read-the-clock".into()]));
    assert_eq!(
        error.to_string(),
        "the component imports `read-the-clock`: a leadfilter policy must import nothing"
    );
    assert_eq!(
        artifact::inspect(&bytes),
        Err(InspectError::NoMetadata),
        "inspect says what is missing"
    );
}

#[test]
fn a_core_module_is_not_a_policy() {
    let error = runtime()
        .load(ENGINE_WASM)
        .expect_err("a core module is refused");
    assert!(
        matches!(error, RuntimeError::Invalid(_)),
        "unexpected error: {error}"
    );
    assert!(matches!(
        artifact::inspect(ENGINE_WASM),
        Err(InspectError::NotAComponent(_))
    ));
}

#[test]
fn a_file_that_is_not_wasm_is_refused_without_quoting_it() {
    let lead = format!(r#"{{"email":"{MARKER}"}}"#);
    for error in [
        runtime()
            .load(lead.as_bytes())
            .expect_err("not wasm")
            .to_string(),
        artifact::inspect(lead.as_bytes())
            .expect_err("not wasm")
            .to_string(),
    ] {
        assert!(error.contains("WebAssembly magic number"), "{error}");
        assert!(!error.contains("0x7b"), "{error}");
        assert!(!error.contains(MARKER), "{error}");
        assert!(!error.contains('\n'), "{error}");
    }
}

#[test]
fn the_bare_engine_fails_closed() {
    // The engine made into a component without a policy baked in.
    let bare = wit_component::ComponentEncoder::default()
        .module(ENGINE_WASM)
        .and_then(|encoder| encoder.validate(true).encode())
        .expect("the engine componentises");
    let policy = runtime().load(&bare).expect("the bare engine loads");
    assert_eq!(policy.metadata(), None);
    let mut instance = policy.instantiate().expect("the bare engine instantiates");
    assert_eq!(instance.info(), Err(RuntimeError::NoPolicy));
    let mut instance = policy.instantiate().expect("the bare engine instantiates");
    let answer = instance
        .transform(&lead(), &[])
        .expect("the engine answers");
    match answer {
        Err(Failure::Transform(violation)) => {
            assert_eq!(violation.message, "no policy is loaded in this component")
        }
        other => panic!("expected a transform failure, got {other:?}"),
    }
}

#[test]
fn a_bad_policy_does_not_compile() {
    let error = compiler()
        .compile(br#"{"apiVersion":"leadfilter/v1","name":"x","version":"1","fields":{"/a":{"explode":{}}}}"#)
        .expect_err("an unknown action is refused");
    assert!(matches!(error, CompileError::Policy(_)), "{error}");
    let error = compiler().compile(b"not json").expect_err("not a policy");
    assert!(matches!(error, CompileError::Policy(_)), "{error}");
}

#[test]
fn the_section_name_is_stable() {
    // Other tools (the JavaScript edge runner, `leadfilter inspect`) read it.
    assert_eq!(SECTION, "leadfilter-policy");
}

/// The engine embedded in `leadfilter` was built from the sources in this
/// checkout.
#[test]
fn the_shipped_engine_is_current() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let recorded = std::fs::read_to_string(root.join("host/engine/SOURCES.sha256"))
        .expect("host/engine/SOURCES.sha256 exists");
    assert!(
        recorded.trim() == sources_digest(&root),
        "the shipped engine is stale: run scripts/build-engine"
    );
}

/// The digest `scripts/build-engine` records (computed there by
/// `scripts/engine-sources.py`; keep the two in step): SHA-256 of a listing,
/// sorted by name, of `<sha256 hex>  <name>` for every file under guest/ and
/// wit/, .cargo/config.toml, the packages and features the engine is built
/// with (`cargo tree`) and the parts of the root Cargo.toml that shape its
/// build.
fn sources_digest(root: &std::path::Path) -> String {
    use leadfilter_engine::policy::digest_of;
    fn walk(root: &std::path::Path, dir: &str, out: &mut Vec<String>) {
        let entries = std::fs::read_dir(root.join(dir)).expect("a source directory reads");
        for entry in entries {
            let entry = entry.expect("a directory entry reads");
            let name = entry.file_name().into_string().expect("a UTF-8 file name");
            let path = format!("{dir}/{name}");
            if entry.file_type().expect("a file type").is_dir() {
                walk(root, &path, out);
            } else {
                out.push(path);
            }
        }
    }
    let read = |file: &str| std::fs::read(root.join(file)).expect("a source file reads");
    let text = |file: &str| String::from_utf8(read(file)).expect("a UTF-8 source file");
    let hex = |bytes: &[u8]| digest_of(bytes).trim_start_matches("sha256:").to_owned();

    let mut files = vec![".cargo/config.toml".to_string()];
    walk(root, "guest", &mut files);
    walk(root, "wit", &mut files);
    let mut entries: Vec<(String, String)> = files
        .into_iter()
        .map(|file| (hex(&read(&file)), file))
        .map(|(h, f)| (f, h))
        .collect();
    entries.push((
        "cargo-tree#leadfilter-engine".into(),
        hex(engine_packages(root).as_bytes()),
    ));
    let manifest = manifest_part(&text("Cargo.toml"), &text("guest/Cargo.toml"));
    entries.push(("Cargo.toml#engine".into(), hex(manifest.as_bytes())));
    entries.sort();
    let listing: String = entries
        .iter()
        .map(|(name, h)| format!("{h}  {name}\n"))
        .collect();
    digest_of(listing.as_bytes())
}

/// The packages and features the engine is built with, one a line, as
/// `cargo tree` resolves them for wasm32-unknown-unknown.
fn engine_packages(root: &std::path::Path) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = std::process::Command::new(cargo)
        .args([
            "tree",
            "--locked",
            "--offline",
            "--quiet",
            "--manifest-path",
        ])
        .arg(root.join("Cargo.toml"))
        .args([
            "-p",
            "leadfilter-engine",
            "--target",
            "wasm32-unknown-unknown",
        ])
        .args(["-e", "normal,build", "--prefix", "none", "-f", "{p} {f}"])
        .output()
        .expect("cargo tree runs");
    assert!(output.status.success(), "cargo tree failed");
    let text = String::from_utf8(output.stdout).expect("cargo tree prints UTF-8");
    let mut lines = std::collections::BTreeSet::new();
    for line in text.split('\n') {
        let mut line = line.trim().trim_end_matches(" (*)").to_owned();
        // A path package shows where it is: `name v0.1.0 (/path/to/it)`.
        if let Some(start) = line.find(" (/")
            && let Some(len) = line[start..].find(')')
        {
            line.replace_range(start..start + len + 1, "");
        }
        if !line.is_empty() {
            lines.insert(line);
        }
    }
    lines.into_iter().map(|line| line + "\n").collect()
}

/// The lines of the root Cargo.toml that shape the engine's build: its
/// profiles and the workspace dependencies that guest/Cargo.toml uses.
fn manifest_part(root_toml: &str, guest_toml: &str) -> String {
    let guest_deps: Vec<&str> = guest_toml
        .split('\n')
        .filter_map(|line| {
            let (key, rest) = line.split_once(".workspace")?;
            let valid = !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            let value = rest.trim_start().strip_prefix('=')?.trim_start();
            (valid && value.starts_with("true")).then_some(key)
        })
        .collect();
    let mut out = Vec::new();
    let mut header = "";
    for line in root_toml.split('\n') {
        let stripped = line.trim();
        if stripped.starts_with('[') {
            header = stripped;
        }
        if header == "[profile.engine]" || header == "[profile.release]" {
            out.push(line);
        } else if header == "[workspace.dependencies]" && !stripped.starts_with('[') {
            let key = stripped.split('=').next().unwrap_or("").trim();
            if guest_deps.contains(&key) {
                out.push(line);
            }
        }
    }
    out.join("\n") + "\n"
}
