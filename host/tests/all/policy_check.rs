//! `leadfilter::policy::load`: the SPEC example loads clean, and every check
//! of `leadfilter check` has a fixture under `tests/fixtures/policy/bad`
//! whose diagnostics are asserted word for word.

use std::path::{Path, PathBuf};

use leadfilter::policy::{self, POLICY_SCHEMA};
use leadfilter_engine::policy::SchemaRef;
use leadfilter_engine::schema::Schema;
use pretty_assertions::assert_eq;
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/policy")
        .join(name)
}

/// The errors of a fixture that must not load, without the file name.
fn errors(name: &str) -> Vec<String> {
    let path = fixture(name);
    let error = policy::load(&path).expect_err("the fixture must not load");
    let prefix = format!("{}: ", path.display());
    let lines: Vec<String> = error
        .errors
        .iter()
        .map(|d| {
            assert_eq!(d.file, path);
            d.to_string()
                .strip_prefix(&prefix)
                .expect("the file comes first")
                .to_owned()
        })
        .collect();
    assert_eq!(error.to_string().lines().count(), lines.len());
    lines
}

#[test]
fn the_spec_example_loads_clean_with_its_schemas_embedded() {
    let loaded = policy::load(&fixture("spec-example/policy.yaml")).unwrap();
    assert_eq!(loaded.warnings, vec![]);
    let p = &loaded.policy;
    assert_eq!(p.name, "slack-alert");
    assert_eq!(p.fields.len(), 12);
    let Some(SchemaRef::Inline(input)) = &p.input.schema else {
        panic!("input schema not embedded")
    };
    assert_eq!(
        input["$defs"]["address"]["properties"]["country"]["maxLength"],
        2
    );
    assert!(matches!(
        &p.output.schema,
        Some(SchemaRef::Inline(Value::Object(_)))
    ));
}

#[test]
fn the_policy_schema_accepts_the_spec_example_and_rejects_typos() {
    let schema = Schema::new(&serde_json::from_str(POLICY_SCHEMA).unwrap()).unwrap();
    let text = std::fs::read_to_string(fixture("spec-example/policy.yaml")).unwrap();
    let example: Value = serde_norway::from_str(&text).unwrap();
    assert_eq!(schema.validate(&example), vec![]);

    let mut typo = example.clone();
    typo["fields"]["/phone"] = serde_json::json!({"mask": {"keep_lst": 4}});
    typo["output"]["unknown"] = "dorp".into();
    let paths: Vec<String> = schema.validate(&typo).into_iter().map(|v| v.path).collect();
    assert_eq!(
        paths,
        vec!["/fields/~1phone/mask/keep_lst", "/output/unknown"]
    );
}

#[test]
fn the_example_policies_of_the_repository_load() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(&examples).unwrap() {
        let policy = entry.unwrap().path().join("policy.yaml");
        if policy.exists() {
            seen += 1;
            if let Err(e) = policy::load(&policy) {
                panic!("{e}");
            }
        }
    }
    assert!(seen > 0);
}

#[test]
fn a_json_policy_with_selectors_alternatives_and_an_editor_schema_key_loads() {
    let loaded = policy::load(&fixture("ok/policy.json")).unwrap();
    assert_eq!(loaded.warnings, vec![]);
    assert_eq!(loaded.policy.fields.len(), 2);
}

#[test]
fn unkeyed_hashes_and_unused_secrets_are_warnings() {
    let path = fixture("ok/warnings.yaml");
    let loaded = policy::load(&path).unwrap();
    let warnings: Vec<String> = loaded
        .warnings
        .iter()
        .map(|w| format!("{}: {}", w.location, w.message))
        .collect();
    assert_eq!(
        warnings,
        vec![
            "fields./email.hash.unkeyed: a plain SHA-256 without a key: unkeyed hashes of e-mail addresses and phone numbers can be reversed by guessing",
            "secrets[0]: secret `pepper` is declared but no `hash` uses it",
        ]
    );
}

#[test]
fn files_that_are_not_policies() {
    let error = policy::load(&fixture("bad/no-such-policy.yaml")).unwrap_err();
    assert!(
        error.to_string().contains("cannot read the policy"),
        "{error}"
    );
    let error = policy::load_source(Path::new("policy.txt"), "name: x").unwrap_err();
    assert_eq!(
        error.to_string(),
        "policy.txt: a policy file is YAML or JSON (name it `*.yaml`, `*.yml` or `*.json`)"
    );
    let error = policy::load_source(Path::new("policy.json"), "{\"name\": 1,}").unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("policy.json: not a valid policy file: trailing comma"),
        "{error}"
    );
}

#[test]
fn duplicate_keys_and_yaml_tags_are_refused() {
    assert_eq!(
        errors("bad/duplicate-key.yaml"),
        vec!["not a valid policy file: fields: duplicate key `/email` at line 5 column 3"]
    );
    assert_eq!(
        errors("bad/yaml-tag.yaml"),
        vec![
            "not a valid policy file: fields./email: YAML tags (`!name`) have no JSON meaning and are not allowed at line 5 column 11"
        ]
    );
}

#[test]
fn unknown_keys_get_a_suggestion() {
    assert_eq!(
        errors("bad/unknown-top-level-key.yaml"),
        vec!["feilds: unknown key `feilds` (did you mean `fields`?)"]
    );
    assert_eq!(
        errors("bad/unknown-parameter.yaml"),
        vec!["fields./email.hash.normalise: unknown key `normalise` (did you mean `normalize`?)"]
    );
    assert_eq!(
        errors("bad/unknown-action.yaml"),
        vec!["fields./email[0].hsah: unknown key `hsah` (did you mean `hash`?)"]
    );
    assert_eq!(
        errors("bad/field-not-a-path.yaml"),
        vec![
            "fields.email: `email` is not a path: a path is a JSON Pointer, starting with `/` (did you mean `/email`?)"
        ]
    );
    assert_eq!(
        errors("bad/enum-typos.yaml"),
        vec![
            "fields./email.hash.normalize[1]: `lowercse` is not allowed here (did you mean `lowercase`?)",
            "output.unknown: `rejcet` is not allowed here (did you mean `reject`?)",
        ]
    );
}

#[test]
fn actions_and_their_parameters() {
    assert_eq!(
        errors("bad/bare-action-needs-parameters.yaml"),
        vec![
            "fields./zip: `truncate` needs parameters and cannot stand alone (write `truncate: { keep_first: 3 }`)"
        ]
    );
    assert_eq!(
        errors("bad/two-actions.yaml"),
        vec![
            "fields./email: a rule names exactly one action (one of `keep`, `drop`, `redact`, `mask`, `truncate`, `hash`, `domain`, `date`, `bucket` or `scrub`, optionally with `when`)"
        ]
    );
    assert_eq!(
        errors("bad/hash-without-key.yaml"),
        vec![
            "fields./email.hash: `hash` needs a `key` (a declared secret) or `unkeyed: true` (a keyed hash cannot be reversed by guessing; declare a secret under `secrets` and name it in `key`)"
        ]
    );
    assert_eq!(
        errors("bad/hash-key-and-unkeyed.yaml"),
        vec![
            "fields./email.hash.unkeyed: `key` and `unkeyed: true` exclude each other (remove `unkeyed` for a keyed hash)"
        ]
    );
    assert_eq!(
        errors("bad/mask-char.yaml"),
        vec!["fields./phone.mask.char: `char` is exactly one character"]
    );
    assert_eq!(
        errors("bad/bucket-width-zero.yaml"),
        vec!["fields./age.bucket.width: `minimum`: must be at least 1"]
    );
}

#[test]
fn header_fields_and_secret_names() {
    assert_eq!(
        errors("bad/bad-name-and-version.yaml"),
        vec![
            "apiVersion: `apiVersion` is `leadfilter/v1`",
            "name: a policy name has only lowercase letters, digits and `-`",
            "version: `type`: expected string (quote the value, as YAML reads it as a number or boolean)",
        ]
    );
    assert_eq!(
        errors("bad/bad-secret-name.yaml"),
        vec![
            "secrets: a secret is declared twice",
            "secrets[0]: a secret name is a lowercase letter, then lowercase letters, digits and `_` (the host reads secret `name` from the environment variable `LEADFILTER_SECRET_NAME`)",
        ]
    );
}

#[test]
fn conditions() {
    assert_eq!(
        errors("bad/bad-condition.yaml"),
        vec![
            "require[0]: not a valid condition (a condition is `{path, equals: V}`, `{path, in: [V, ...]}`, `{path, exists: true|false}`, `{path, matches: REGEX}`, `{all: [...]}`, `{any: [...]}` or `{not: CONDITION}`, with exactly one test)",
            "require[1]: `required`: missing property `reason`",
        ]
    );
    assert_eq!(
        errors("bad/missing-reason.yaml"),
        vec!["require[0]: `required`: missing property `reason`"]
    );
    assert_eq!(
        errors("bad/condition-star.yaml"),
        vec![
            "fields./email[0].when.all[0].path: a condition's path has no `*` (name the key or index, or pick an array element with a selector `[name=...]`)"
        ]
    );
    assert_eq!(
        errors("bad/bad-regex.yaml"),
        vec![
            "require[0].matches: the regular expression does not compile (regex parse error: ([a-z] ^ error: unclosed group)"
        ]
    );
}

#[test]
fn secrets_named_by_hash_must_be_declared() {
    let path = fixture("bad/undeclared-secret.yaml");
    let error = policy::load(&path).unwrap_err();
    assert_eq!(
        errors("bad/undeclared-secret.yaml"),
        vec![
            "fields./email.hash.key: `peper` is not a declared secret (did you mean `pepper`?)",
            "fields./phone.hash.key: `salt` is not a declared secret (declare it: `secrets: [salt]`)",
        ]
    );
    assert_eq!(error.warnings.len(), 1, "pepper is unused");
}

#[test]
fn paths_and_pointers_parse() {
    assert_eq!(
        errors("bad/bad-patterns.yaml"),
        vec![
            "fields./a/[name]: a selector is written `[POINTER=TEXT]`, and this one has no `=`",
            "fields./b~2: `~` in a path is written `~0`, and `/` in a key `~1`",
            "fields./c.keep.to: this path is a plain JSON Pointer: no `*` and no `[..=..]` selectors",
        ]
    );
    assert_eq!(
        errors("bad/star-with-to.yaml"),
        vec![
            "fields./utm/*.keep.to: `*` in the rule's path can match many values, and `to:` writes them all to one path (name the key or index instead of `*`, or remove `to:`)"
        ]
    );
}

#[test]
fn what_the_engine_refuses_check_refuses() {
    // Found by the `policy` fuzzer: `check` passed this, and the component
    // refused it when loading.
    let error = policy::load_source(
        Path::new("policy.json"),
        r#"{"apiVersion":"leadfilter/v1","name":"n","version":"1.0.0","fields":{"":"redact"}}"#,
    )
    .unwrap_err();
    let lines: Vec<String> = error.errors.iter().map(|d| d.to_string()).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("fields.: ") && lines[0].contains("can only be kept or dropped"),
        "{lines:?}"
    );
}

#[test]
fn no_two_rules_write_one_output_path() {
    assert_eq!(
        errors("bad/collision-same-to.yaml"),
        vec![
            "fields./title.keep.to: `/org/name` is also written by `fields./company` (give each rule its own output path)"
        ]
    );
    assert_eq!(
        errors("bad/collision-overlap.yaml"),
        vec![
            "fields./source.keep.to: `/utm/source` overlaps `fields./utm/*`, which writes to its own path (give each rule its own output path)"
        ]
    );
    assert_eq!(
        errors("bad/collision-prefix.yaml"),
        vec![
            "fields./title.keep.to: `/org/title` overlaps `/org`, which `fields./company` writes (give each rule its own output path)"
        ]
    );
}

#[test]
fn every_path_must_exist_in_the_input_schema() {
    assert_eq!(
        errors("bad/input-typos.yaml"),
        vec![
            "fields./address/zip: no such path in the input schema (`/address` has `city`, `country` and `postal_code`)",
            "fields./email/domain: no such path in the input schema (`/email` is neither an object nor an array in the schema)",
            "fields./emial: no such path in the input schema (did you mean `/email`?)",
            "fields./items/[skk=a]/price: no such path in the input schema (the items of `/items` have no member `skk`; did you mean `sku`?)",
            "fields./utm/[n=x]: no such path in the input schema (`/utm` is not an array in the schema, and a selector `[..=..]` picks array items)",
            "require[0].path: no such path in the input schema (did you mean `/address/country`?)",
        ]
    );
}

#[test]
fn every_written_path_must_be_allowed_by_the_output_schema() {
    assert_eq!(
        errors("bad/output-forbidden.yaml"),
        vec![
            "fields./phone: the output schema does not allow `/phone` (the lead has `email` and `org`; allow it in the output schema, or write elsewhere with `to:`)",
            "fields./title.keep.to: the output schema does not allow `/org/title` (`/org` has `name`; allow it in the output schema, or write elsewhere with `to:`)",
        ]
    );
}

#[test]
fn schemas_must_be_readable_and_compile_offline() {
    let missing = fixture("bad/nope.schema.json");
    assert_eq!(
        errors("bad/schema-missing-file.yaml"),
        vec![format!(
            "input.schema: cannot read `{}`: No such file or directory (os error 2) (a schema path is relative to the policy file)",
            missing.display()
        )]
    );
    assert_eq!(
        errors("bad/schema-does-not-compile.yaml"),
        vec![
            "input.schema: the input schema does not compile: the schema is not valid under its meta-schema at `/type`: `anyOf`: not valid under any of the subschemas",
            "output.schema: the output schema does not compile: `$ref` to `https://example.com/out.json` cannot be resolved: schemas are compiled without network or file access, so a referenced document must be part of the schema (put it under `$defs` and refer to `#/$defs/...`)",
        ]
    );
}

#[cfg(unix)]
#[test]
fn a_schema_that_is_a_device_or_too_large_is_refused_without_reading_it_all() {
    let dir = tempfile::tempdir().unwrap();
    let policy_path = dir.path().join("policy.yaml");
    let messages = |schema: &str| -> Vec<String> {
        let text = format!(
            "apiVersion: leadfilter/v1\nname: p\nversion: \"1\"\ninput:\n  schema: {schema}\nfields:\n  /email: keep\n"
        );
        policy::load_source(&policy_path, &text)
            .expect_err("the schema must be refused")
            .errors
            .iter()
            .map(|d| d.message.clone())
            .collect()
    };
    // Endless: reading it all would never end.
    assert_eq!(
        messages("/dev/zero"),
        vec!["cannot read `/dev/zero`: not a regular file"]
    );
    let big = dir.path().join("big.schema.json");
    let file = std::fs::File::create(&big).unwrap();
    file.set_len(policy::MAX_SCHEMA_BYTES + 1).unwrap();
    assert_eq!(
        messages("big.schema.json"),
        vec![format!(
            "cannot read `{}`: larger than 16 MiB",
            big.display()
        )]
    );
}
