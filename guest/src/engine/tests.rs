use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use super::*;
use crate::Violation;
use crate::policy::{API_VERSION, Policy};

/// An engine for a policy given as JSON; `apiVersion`, `name` and `version`
/// are filled in.
fn engine(policy: Value) -> Engine {
    try_engine(policy).unwrap_or_else(|e| panic!("{e}"))
}

fn try_engine(mut policy: Value) -> Result<Engine, LoadError> {
    let map = policy.as_object_mut().expect("a policy object");
    map.insert("apiVersion".into(), json!(API_VERSION));
    map.insert("name".into(), json!("t"));
    map.insert("version".into(), json!("1"));
    Engine::new(serde_json::from_value(policy).expect("a policy"))
}

fn fields(fields: Value) -> Engine {
    engine(json!({ "fields": fields }))
}

/// The output lead, or the failure's kind and text.
fn run(engine: &Engine, lead: &str) -> String {
    match engine.transform(lead, &[secret("pepper", b"k")]) {
        Ok(outcome) => outcome.lead,
        Err(failure) => format!("{failure}"),
    }
}

fn secret(name: &str, value: &[u8]) -> Secret {
    Secret {
        name: name.to_owned(),
        value: value.to_vec(),
    }
}

fn changes(engine: &Engine, lead: &str) -> Vec<(String, String)> {
    engine
        .transform(lead, &[secret("pepper", b"k")])
        .expect("a transform")
        .changes
        .into_iter()
        .map(|c| (c.path, c.action))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(p, a)| ((*p).to_owned(), (*a).to_owned()))
        .collect()
}

#[test]
fn keep_and_drop_and_unknown_drop() {
    let e = fields(json!({"/a": "keep", "/b": "drop"}));
    let lead = r#"{"c": 3, "b": 2, "a": 1}"#;
    assert_eq!(run(&e, lead), r#"{"a":1}"#);
    assert_eq!(
        changes(&e, lead),
        pairs(&[("/*", "unknown"), ("/b", "drop"), ("/a", "keep")])
    );
}

#[test]
fn an_empty_policy_drops_everything_member_by_member() {
    let e = fields(json!({}));
    assert_eq!(run(&e, r#"{"a": 1, "b": {"c": 2}}"#), "{}");
    assert_eq!(
        changes(&e, r#"{"a": 1, "b": {"c": 2}}"#),
        pairs(&[("/*", "unknown"), ("/*", "unknown")])
    );
    assert_eq!(run(&e, "{}"), "{}");
}

#[test]
fn object_key_order_follows_the_input() {
    let e = fields(json!({"/a": "keep", "/b": "keep", "/c": "keep"}));
    assert_eq!(run(&e, r#"{"c":3,"a":1,"b":2}"#), r#"{"c":3,"a":1,"b":2}"#);
}

#[test]
fn the_most_specific_rule_governs() {
    let e = fields(json!({
        "/a/*": {"redact": {"with": "star"}},
        "/a/b": {"redact": {"with": "key"}},
        "/l/*": {"redact": {"with": "star"}},
        "/l/[k=x]": {"redact": {"with": "selector"}},
        "/l/0": {"redact": {"with": "index"}},
    }));
    assert_eq!(
        run(
            &e,
            r#"{"a": {"b": 1, "c": 2}, "l": [{"k": "x"}, {"k": "x"}, {"k": "y"}]}"#
        ),
        r#"{"a":{"b":"key","c":"star"},"l":["index","selector","star"]}"#
    );
    // At the first segment where they differ, the key wins: `/a/*` beats
    // `/*/b` for `/a/b`.
    let e = fields(json!({
        "/*/b": {"redact": {"with": "star-first"}},
        "/a/*": {"redact": {"with": "key-first"}},
    }));
    assert_eq!(
        run(&e, r#"{"a": {"b": 1}, "z": {"b": 2}}"#),
        r#"{"a":{"b":"key-first"},"z":{"b":"star-first"}}"#
    );
}

#[test]
fn a_rule_whose_when_fails_falls_back_to_the_next_match_then_the_ancestor() {
    let e = fields(json!({
        "/x": "keep",
        "/x/a": [{"when": {"path": "/mode", "equals": "a"}, "redact": {"with": "A"}}],
        "/x/*": [{"when": {"path": "/mode", "in": ["a", "star"]}, "redact": {"with": "S"}}],
        "/mode": "keep",
    }));
    assert_eq!(
        run(&e, r#"{"mode": "a", "x": {"a": 1, "b": 2}}"#),
        r#"{"mode":"a","x":{"a":"A","b":"S"}}"#
    );
    assert_eq!(
        run(&e, r#"{"mode": "star", "x": {"a": 1, "b": 2}}"#),
        r#"{"mode":"star","x":{"a":"S","b":"S"}}"#
    );
    // Neither holds: `/x: keep` governs.
    assert_eq!(
        run(&e, r#"{"mode": "none", "x": {"a": 1, "b": 2}}"#),
        r#"{"mode":"none","x":{"a":1,"b":2}}"#
    );
    // No ancestor either: unknown.
    let e = fields(
        json!({"/a": [{"when": {"path": "/ok", "exists": true}, "keep": {}}], "/ok": "keep"}),
    );
    assert_eq!(run(&e, r#"{"a": 1}"#), "{}");
    assert_eq!(changes(&e, r#"{"a": 1}"#), pairs(&[("/a", "unknown")]));
    assert_eq!(run(&e, r#"{"a": 1, "ok": 0}"#), r#"{"a":1,"ok":0}"#);
}

#[test]
fn alternatives_apply_in_order() {
    let e = engine(json!({
        "secrets": ["pepper"],
        "fields": {
            "/country": "keep",
            "/email": [
                {"when": {"path": "/country", "in": ["DE", "FR"]}, "redact": {"with": "eu"}},
                {"domain": {}},
            ],
        }
    }));
    assert_eq!(
        run(&e, r#"{"email": "a@B.com", "country": "DE"}"#),
        r#"{"email":"eu","country":"DE"}"#
    );
    assert_eq!(
        run(&e, r#"{"email": "a@B.com", "country": "US"}"#),
        r#"{"email":"b.com","country":"US"}"#
    );
}

#[test]
fn keep_on_a_container_with_a_deeper_drop() {
    let e = fields(json!({"/address": "keep", "/address/street": "drop"}));
    let lead = r#"{"address": {"street": "s", "city": "c", "geo": {"lat": 1}}}"#;
    assert_eq!(run(&e, lead), r#"{"address":{"city":"c","geo":{"lat":1}}}"#);
    assert_eq!(
        changes(&e, lead),
        pairs(&[("/address", "keep"), ("/address/street", "drop")])
    );
    // A kept container stays, even with nothing left in it.
    assert_eq!(
        run(&e, r#"{"address": {"street": "s"}}"#),
        r#"{"address":{}}"#
    );
    assert_eq!(run(&e, r#"{"address": {}}"#), r#"{"address":{}}"#);
    // A kept scalar where a container was expected is kept whole.
    assert_eq!(run(&e, r#"{"address": "x"}"#), r#"{"address":"x"}"#);
}

#[test]
fn drop_on_a_container_with_a_deeper_keep() {
    let e = fields(json!({"/address": "drop", "/address/country": "keep"}));
    assert_eq!(
        run(&e, r#"{"address": {"street": "s", "country": "DE"}}"#),
        r#"{"address":{"country":"DE"}}"#
    );
    assert_eq!(run(&e, r#"{"address": {"street": "s"}}"#), "{}");
    assert_eq!(
        changes(&e, r#"{"address": {"street": "s"}}"#),
        pairs(&[("/address", "drop")])
    );
}

#[test]
fn route_containers_hold_only_what_rules_produce() {
    let e = fields(json!({"/a/b/c": "keep"}));
    assert_eq!(
        run(&e, r#"{"a": {"b": {"c": 1, "d": 2}, "e": 3}}"#),
        r#"{"a":{"b":{"c":1}}}"#
    );
    assert_eq!(run(&e, r#"{"a": {"b": {"d": 2}, "e": 3}}"#), "{}");
    assert_eq!(
        changes(&e, r#"{"a": {"b": {"d": 2}, "e": 3}}"#),
        pairs(&[("/a/b/*", "unknown"), ("/a/*", "unknown")])
    );
    // A scalar where the route expects a container is unknown.
    assert_eq!(changes(&e, r#"{"a": 5}"#), pairs(&[("/a", "unknown")]));
    assert_eq!(run(&e, r#"{"a": {"b": {}}}"#), "{}");
}

#[test]
fn arrays_keep_positions() {
    let e = fields(json!({"/items/*/sku": "keep"}));
    assert_eq!(
        run(
            &e,
            r#"{"items": [{"sku": 1, "p": 2}, {"p": 3}, {"sku": null}, "x", [1]]}"#
        ),
        r#"{"items":[{"sku":1},{},{"sku":null},null,[]]}"#
    );
    // Nothing at all in the route array: left out.
    assert_eq!(run(&e, r#"{"items": [{"p": 1}, {"p": 2}]}"#), "{}");
    assert_eq!(run(&e, r#"{"items": []}"#), "{}");
    let e = fields(json!({"/tags/0": "keep"}));
    assert_eq!(
        run(&e, r#"{"tags": ["a", "b", "c"]}"#),
        r#"{"tags":["a",null,null]}"#
    );
    assert_eq!(
        changes(&e, r#"{"tags": ["a", "b"]}"#),
        pairs(&[("/tags/0", "keep"), ("/tags/1", "unknown")])
    );
    let e = fields(json!({"/tags": "keep", "/tags/1": "drop"}));
    assert_eq!(
        run(&e, r#"{"tags": ["a", "b", "c"]}"#),
        r#"{"tags":["a",null,"c"]}"#
    );
    assert_eq!(
        run(&e, r#"{"tags": ["a", {"b": 1}, ["c"]]}"#),
        r#"{"tags":["a",{},["c"]]}"#
    );
    let e = fields(json!({"/m/*/1": "keep"}));
    assert_eq!(
        run(&e, r#"{"m": [[1, 2], [3], [4, 5]]}"#),
        r#"{"m":[[null,2],[],[null,5]]}"#
    );
}

#[test]
fn a_numeric_key_matches_an_array_index_and_an_object_member() {
    let e = fields(json!({"/x/1": "keep"}));
    assert_eq!(run(&e, r#"{"x": [0, 1]}"#), r#"{"x":[null,1]}"#);
    assert_eq!(
        run(&e, r#"{"x": {"1": "one", "2": "two"}}"#),
        r#"{"x":{"1":"one"}}"#
    );
    let e = fields(json!({"/x/01": "keep"}));
    assert_eq!(run(&e, r#"{"x": [0, 1]}"#), "{}");
    assert_eq!(run(&e, r#"{"x": {"01": 1}}"#), r#"{"x":{"01":1}}"#);
}

#[test]
fn selectors_reach_into_name_value_lists() {
    let e = fields(json!({
        "/field_data/[name=email]/values/*": {"redact": {"with": "E"}},
        "/field_data/*/name": "keep",
    }));
    let lead = r#"{"field_data": [
        {"name": "email", "values": ["a@b.c", "d@e.f"]},
        {"name": "city", "values": ["Berlin"]},
        {"values": ["x"]}
    ]}"#;
    assert_eq!(
        run(&e, lead),
        r#"{"field_data":[{"name":"email","values":["E","E"]},{"name":"city"},{}]}"#
    );
    let e = fields(
        json!({"/form_response/answers/[field/ref=phone]/phone_number": {"mask": {"keep_last": 2}}}),
    );
    let lead = r#"{"form_response": {"answers": [
        {"field": {"ref": "name"}, "text": "Ada"},
        {"field": {"ref": "phone"}, "phone_number": "+4930123"}
    ]}}"#;
    assert_eq!(
        run(&e, lead),
        r#"{"form_response":{"answers":[{},{"phone_number":"******23"}]}}"#
    );
}

#[test]
fn to_writes_elsewhere_creating_objects_in_order_of_production() {
    let e = fields(json!({
        "/company": {"keep": {"to": "/org/name"}},
        "/first": "keep",
        "/size": {"keep": {"to": "/org/size"}},
        "/org/id": "keep",
    }));
    assert_eq!(
        run(
            &e,
            r#"{"company": "Acme", "first": "Ada", "org": {"id": 7, "x": 1}, "size": 10}"#
        ),
        r#"{"org":{"name":"Acme","id":7,"size":10},"first":"Ada"}"#
    );
    assert_eq!(run(&e, r#"{"first": "Ada"}"#), r#"{"first":"Ada"}"#);
    // A moved container keeps its inner rules, relative to where it goes.
    let e = fields(json!({"/a": {"keep": {"to": "/b"}}, "/a/secret": "drop"}));
    assert_eq!(
        run(&e, r#"{"a": {"secret": 1, "x": 2}}"#),
        r#"{"b":{"x":2}}"#
    );
}

#[test]
fn two_values_on_one_output_path_fail_the_transform() {
    let e = fields(json!({"/items/*/sku": {"keep": {"to": "/sku"}}}));
    assert_eq!(run(&e, r#"{"items": [{"sku": 1}]}"#), r#"{"sku":1}"#);
    let failure = e
        .transform(r#"{"items": [{"sku": 1}, {"sku": 2}]}"#, &[])
        .unwrap_err();
    assert_eq!(
        failure,
        Failure::Transform(Violation {
            path: "/items/1/sku".into(),
            message: "another value is already written at `/sku` of the output".into()
        })
    );
    let e = fields(json!({"/a": {"keep": {"to": "/b"}}, "/b": "keep"}));
    assert!(run(&e, r#"{"a": 1, "b": 2}"#).starts_with("transform: /b: another value"));
    // Writing into a value that was written whole.
    let e = fields(json!({"/a": "keep", "/b": {"keep": {"to": "/a/x"}}}));
    assert!(
        run(&e, r#"{"a": {"y": 1}, "b": 2}"#)
            .starts_with("transform: /b: another value is already written at `/a`")
    );
}

#[test]
fn other_actions_replace_a_container_whole() {
    let e = fields(json!({"/address": "redact", "/address/country": {"keep": {"to": "/country"}}}));
    assert_eq!(
        run(&e, r#"{"address": {"street": "s", "country": "DE"}}"#),
        r#"{"address":"[REDACTED]","country":"DE"}"#
    );
    assert_eq!(
        changes(&e, r#"{"address": {"street": "s", "country": "DE"}}"#),
        pairs(&[("/address", "redact"), ("/address/country", "keep")])
    );
    let e = fields(json!({"/address": "redact", "/address/street": "drop"}));
    assert_eq!(
        run(&e, r#"{"address": {"street": "s"}}"#),
        r#"{"address":"[REDACTED]"}"#
    );
    let e = fields(json!({"/address": "redact", "/address/country": "keep"}));
    assert_eq!(
        run(&e, r#"{"address": {"country": "DE"}}"#),
        "transform: /address/country: this value lies inside a value that a rule replaced whole; a rule below it can only write elsewhere, with `to:`"
    );
}

#[test]
fn null_stays_null_and_absent_stays_absent() {
    let e = engine(json!({
        "secrets": ["pepper"],
        "fields": {
            "/h": {"hash": {"key": "pepper"}},
            "/m": "mask",
            "/r": "redact",
            "/d": {"date": {"precision": "year"}},
            "/k": "keep",
        }
    }));
    assert_eq!(
        run(
            &e,
            r#"{"h": null, "m": null, "r": null, "d": null, "k": null}"#
        ),
        r#"{"h":null,"m":null,"r":null,"d":null,"k":null}"#
    );
    assert_eq!(run(&e, "{}"), "{}");
    assert_eq!(changes(&e, r#"{"h": null}"#), pairs(&[("/h", "hash")]));
}

#[test]
fn actions_apply_through_the_engine() {
    let e = engine(json!({
        "secrets": ["pepper"],
        "fields": {
            "/phone": {"mask": {"keep_last": 4}},
            "/email": {"hash": {"key": "pepper", "normalize": ["trim", "lowercase"]}},
            "/zip": {"truncate": {"keep_first": 3}},
            "/born": {"date": {"precision": "month"}},
            "/age": {"bucket": {"width": 10}},
            "/notes": {"scrub": {"detectors": ["email"]}},
            "/name": {"mask": {"keep_first": 1}},
        }
    }));
    let out = run(
        &e,
        r#"{"phone": "+49 30 1234567", "email": " Ada@Example.com ", "zip": "94107",
            "born": "1987-06-15", "age": 37, "notes": "write to ada@example.com", "name": "Jürgen"}"#,
    );
    let out: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(out["phone"], "**********4567");
    assert_eq!(out["zip"], "941");
    assert_eq!(out["born"], "1987-06");
    assert_eq!(out["age"], "30-39");
    assert_eq!(out["notes"], "write to [EMAIL]");
    assert_eq!(out["name"], "J*****");
    let hashed = out["email"].as_str().unwrap();
    assert_eq!(hashed.len(), 64);
    // The same normalised input under the same key gives the same hash.
    assert_eq!(
        run(&e, r#"{"email": "ada@example.com"}"#),
        format!(r#"{{"email":"{hashed}"}}"#)
    );
    let other = e
        .transform(
            r#"{"email": "ada@example.com"}"#,
            &[secret("pepper", b"other")],
        )
        .unwrap();
    assert_ne!(other.lead, format!(r#"{{"email":"{hashed}"}}"#));
}

#[test]
fn an_action_that_cannot_apply_fails_with_the_path_and_no_value() {
    let e = fields(json!({"/born": {"date": {"precision": "year"}}, "/d": "domain", "/m": "mask"}));
    for (lead, path) in [
        (r#"{"born": "SECRET_MARKER"}"#, "/born"),
        (r#"{"d": "SECRET_MARKER"}"#, "/d"),
        (r#"{"m": {"SECRET_MARKER": "SECRET_MARKER"}}"#, "/m"),
    ] {
        let Err(Failure::Transform(violation)) = e.transform(lead, &[]) else {
            panic!("{lead} should fail");
        };
        assert_eq!(violation.path, path);
        assert!(
            !violation.message.contains("SECRET"),
            "{}",
            violation.message
        );
    }
}

#[test]
fn require_is_checked_in_order_before_the_walk() {
    let e = engine(json!({
        "require": [
            {"path": "/consent/marketing", "equals": true, "reason": "no marketing consent"},
            {"path": "/email", "matches": "@", "reason": "no email"},
        ],
        "fields": {"/email": "keep", "/consent": "drop"},
    }));
    assert_eq!(
        run(&e, r#"{"email": "a@b"}"#),
        "rejected: no marketing consent"
    );
    assert_eq!(
        run(
            &e,
            r#"{"email": "SECRET_MARKER", "consent": {"marketing": true}}"#
        ),
        "rejected: no email"
    );
    assert_eq!(
        run(&e, r#"{"email": "a@b", "consent": {"marketing": true}}"#),
        r#"{"email":"a@b"}"#
    );
}

#[test]
fn unknown_reject_names_the_first_ungoverned_path() {
    let e = engine(json!({
        "output": {"unknown": "reject"},
        "fields": {"/a": "keep", "/items/*/sku": "keep"},
    }));
    assert_eq!(
        run(&e, r#"{"a": 1, "items": [{"sku": 1}]}"#),
        r#"{"a":1,"items":[{"sku":1}]}"#
    );
    assert_eq!(
        run(
            &e,
            r#"{"a": 1, "items": [{"sku": 1, "name": "SECRET_MARKER"}]}"#
        ),
        "rejected: no rule governs `/items/0/*`"
    );
    assert_eq!(
        run(&e, r#"{"b~/": "SECRET_MARKER"}"#),
        "rejected: no rule governs `/*`"
    );
}

#[test]
fn failures_before_the_walk() {
    let e = engine(json!({"secrets": ["pepper", "salt"], "fields": {"/a": "keep"}}));
    assert_eq!(
        e.transform("{}", &[secret("pepper", b"x")]),
        Err(Failure::MissingSecret("salt".into()))
    );
    // Secrets are checked before the lead is read.
    assert_eq!(
        e.transform("not json", &[]),
        Err(Failure::MissingSecret("pepper".into()))
    );
    let e = fields(json!({"/a": "keep"}));
    assert_eq!(
        e.transform("{\"a\": 1,\n \"a\": 2}", &[]),
        Err(Failure::InvalidJson(
            "duplicate member name at line 2 column 2".into()
        ))
    );
    assert_eq!(
        e.transform(r#""SECRET_MARKER""#, &[]),
        Err(Failure::InvalidJson(
            "a lead is a JSON object, and this is a string".into()
        ))
    );
    assert_eq!(
        e.transform("[1]", &[]),
        Err(Failure::InvalidJson(
            "a lead is a JSON object, and this is an array".into()
        ))
    );
    assert_eq!(
        e.transform(&"[".repeat(100_000), &[]),
        Err(Failure::InvalidJson(
            "nesting deeper than 128 levels at line 1 column 129".into()
        ))
    );
    assert_eq!(
        e.transform(r#"{"a": "\ud800"}"#, &[]),
        Err(Failure::InvalidJson(
            "lone surrogate in string escape at line 1 column 8".into()
        ))
    );
}

#[test]
fn schemas_are_checked_before_and_after() {
    let e = engine(json!({
        "input": {"schema": {"type": "object", "required": ["email"]}},
        "output": {"schema": {"type": "object", "properties": {"email": {"type": "string", "maxLength": 3}}}},
        "fields": {"/email": "keep", "/n": "keep"},
    }));
    assert!(
        matches!(e.transform(r#"{"n": 1}"#, &[]), Err(Failure::InputSchema(v)) if !v.is_empty())
    );
    assert_eq!(run(&e, r#"{"email": "a@b"}"#), r#"{"email":"a@b"}"#);
    let Err(Failure::OutputSchema(violations)) = e.transform(r#"{"email": "SECRET_MARKER"}"#, &[])
    else {
        panic!("the output schema should fail");
    };
    assert_eq!(violations[0].path, "/email");
    assert!(!format!("{violations:?}").contains("SECRET"));
    assert_eq!(
        e.info().input_schema.as_deref(),
        Some(r#"{"required":["email"],"type":"object"}"#)
    );
}

#[test]
fn numbers_and_non_ascii_are_reproduced_exactly() {
    let e = fields(json!({"/*": "keep"}));
    let lead = r#"{"big":1e400,"exact":12345678901234567890.000000000000000001,"z":-0.0,"e":1E+2,"ü ñ":"Jürgen 😀","ctl":"a\u0001\nb\/"}"#;
    assert_eq!(
        run(&e, lead),
        r#"{"big":1e400,"exact":12345678901234567890.000000000000000001,"z":-0.0,"e":1E+2,"ü ñ":"Jürgen 😀","ctl":"a\u0001\nb/"}"#
    );
}

#[test]
fn changes_name_escaped_paths_in_input_order() {
    let e = fields(json!({"/a~1b": "keep", "/x/*": "drop", "/x/k": "keep", "/t~0/deep": "drop"}));
    let lead = r#"{"x": {"j": 1, "k": 2}, "a/b": 1, "t~": {"deep": 1, "u~": 2}}"#;
    assert_eq!(run(&e, lead), r#"{"x":{"k":2},"a/b":1}"#);
    assert_eq!(
        changes(&e, lead),
        pairs(&[
            ("/x/*", "drop"),
            ("/x/k", "keep"),
            ("/a~1b", "keep"),
            ("/t~0/deep", "drop"),
            ("/t~0/*", "unknown")
        ])
    );
}

#[test]
fn deep_nesting_within_the_limit_works() {
    let depth = json::MAX_DEPTH;
    let lead = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
    let e = fields(json!({"/a": "keep"}));
    assert_eq!(run(&e, &lead), lead);
    let pointer = "/a".repeat(depth);
    let e = fields(json!({ pointer.clone(): "keep" }));
    assert_eq!(run(&e, &lead), lead);
    let e = fields(json!({ pointer: "drop", "/a": "keep" }));
    assert_eq!(
        run(&e, &lead),
        format!(
            "{}{{}}{}",
            "{\"a\":".repeat(depth - 1),
            "}".repeat(depth - 1)
        )
    );
}

#[test]
fn the_whole_lead_can_be_kept_dropped_or_moved() {
    let e = fields(json!({"": "keep", "/secret": "drop"}));
    assert_eq!(run(&e, r#"{"a": 1, "secret": 2}"#), r#"{"a":1}"#);
    assert_eq!(
        changes(&e, r#"{"a": 1, "secret": 2}"#),
        pairs(&[("", "keep"), ("/secret", "drop")])
    );
    let e = fields(json!({"": "keep"}));
    assert_eq!(run(&e, r#"{"a": [1, {"b": 2}]}"#), r#"{"a":[1,{"b":2}]}"#);
    let e = fields(json!({"": "drop"}));
    assert_eq!(run(&e, r#"{"a": 1}"#), "{}");
    let e = fields(json!({"": {"keep": {"to": "/lead"}}}));
    assert_eq!(run(&e, r#"{"a": 1}"#), r#"{"lead":{"a":1}}"#);
}

#[test]
fn no_failure_leaks_a_value() {
    let e = engine(json!({
        "secrets": ["pepper"],
        "output": {"unknown": "reject", "schema": {"type": "object", "properties": {"n": {"maximum": 1}}}},
        "require": [{"path": "/ok", "equals": true, "reason": "not ok"}],
        "fields": {"/ok": "keep", "/n": "keep", "/d": "domain", "/s/*": {"keep": {"to": "/t"}}},
    }));
    for lead in [
        r#"{"ok": "SECRET_MARKER"}"#,
        r#"{"ok": true, "k": "SECRET_MARKER"}"#,
        r#"{"ok": true, "d": "SECRET_MARKER"}"#,
        r#"{"ok": true, "n": 123456789}"#,
        r#"{"ok": true, "s": ["SECRET_MARKER", "SECRET_MARKER"]}"#,
        r#"{"ok": true, "x": SECRET_MARKER}"#,
        r#"{"ok": true, "x": "SECRET_MARKER}"#,
        r#"{"ok": true, "x": "SECRET_MARKER", "x": 1}"#,
        "[\"SECRET_MARKER\"]",
    ] {
        let failure = e
            .transform(lead, &[secret("pepper", b"k")])
            .expect_err(lead);
        let text = format!("{failure} {failure:?}");
        assert!(
            !text.contains("SECRET_MARKER") && !text.contains("123456789"),
            "{text}"
        );
    }
    // A key that the policy does not name is data too.
    assert_eq!(
        run(&e, r#"{"ok": true, "SECRET_MARKER": 1}"#),
        "rejected: no rule governs `/*`"
    );
}

#[test]
fn load_errors_name_the_rule() {
    let err = |policy: Value| try_engine(policy).unwrap_err().to_string();
    assert_eq!(
        err(json!({"fields": {"email": "keep"}})),
        "`fields.email`: a path starts with `/` (a JSON Pointer)"
    );
    assert_eq!(
        err(json!({"fields": {"/a": {"keep": {"to": "/b/*"}}}})),
        "`fields./a`: `to: /b/*`: this path is a plain JSON Pointer: no `*` and no `[..=..]` selectors"
    );
    assert!(err(json!({"fields": {"/a": {"keep": {"to": ""}}}})).contains("not the whole of it"));
    assert_eq!(
        err(json!({"fields": {"/l/[/n=x]": "keep", "/l/[n=x]": "keep"}})),
        "`fields./l/[n=x]`: this is the same path as `/l/[/n=x]`"
    );
    assert!(err(json!({"fields": {"": "redact"}})).contains("can only be kept or dropped"));
    assert!(err(json!({"input": {"schema": "lead.schema.json"}})).contains("embeds schema files"));
    assert!(err(json!({"output": {"schema": {"type": 5}}})).starts_with("`output.schema`: "));
    assert!(
        err(json!({"require": [{"path": "/a", "matches": "(", "reason": "r"}]}))
            .starts_with("`require[0].matches`: the regular expression does not compile")
    );
    assert!(
        err(json!({"fields": {"/a": [{"when": {"path": "/b/*", "exists": true}, "keep": {}}]}}))
            .starts_with("the policy is not valid: `fields./a[0].when.path`:")
    );
    assert_eq!(
        err(json!({"fields": {"/a": {"hash": {"key": "salt"}}}})),
        "`fields./a`: `hash.key` is `salt`, which is not declared in `secrets`"
    );
    assert!(err(json!({"fields": {"/a": {"hash": {}}}})).contains("needs a `key`"));
    assert!(err(json!({"fields": {"/a": {"mask": {"char": "ab"}}}})).contains("one character"));
    assert!(err(json!({"fields": {"/a": {"bucket": {"width": 0}}}})).contains("positive"));
    let mut bad = serde_json::to_value(engine_policy()).unwrap();
    bad["apiVersion"] = json!("leadfilter/v0");
    let policy: Policy = serde_json::from_value(bad).unwrap();
    assert!(
        Engine::new(policy)
            .unwrap_err()
            .to_string()
            .contains("apiVersion")
    );
}

fn engine_policy() -> Policy {
    serde_json::from_value(json!({
        "apiVersion": API_VERSION, "name": "t", "version": "1", "fields": {}
    }))
    .unwrap()
}

#[test]
fn info_describes_the_policy() {
    let e = engine(json!({"secrets": ["pepper"], "fields": {"/a": "keep"}}));
    let info = e.info();
    assert_eq!(info.name, "t");
    assert_eq!(info.secrets, vec!["pepper".to_owned()]);
    assert!(info.digest.starts_with("sha256:"));
    assert_eq!(info.input_schema, None);
}

#[test]
fn large_objects_are_merged_and_checked_through_the_index() {
    let mut lead = String::from("{");
    for i in 0..200 {
        lead.push_str(&format!("\"k{i}\":{i},"));
    }
    lead.push_str("\"moved\":1}");
    let e = fields(json!({"/*": "keep", "/moved": {"keep": {"to": "/k150"}}}));
    assert!(
        run(&e, &lead)
            .starts_with("transform: /moved: another value is already written at `/k150`")
    );
    let e = fields(json!({"/*": "keep", "/moved": {"keep": {"to": "/k200"}}}));
    let out = run(&e, &lead);
    assert!(out.ends_with(r#""k199":199,"k200":1}"#), "{out}");
}

/// The keys of a lead are data: every diagnostic shows a key that the
/// policy and its schemas do not name as `*`, and array indices as they are.
#[test]
fn keys_the_policy_does_not_name_are_stars_in_every_diagnostic() {
    const KEY: &str = "jane.doe@example.com";
    let lead = |json: &str| json.replace("KEY", KEY);

    // The change list, for `*` rules and unknown values.
    let e = fields(json!({"/utm/*": "keep", "/items/*/sku": "keep", "/a~1b": "drop"}));
    let l = lead(
        r#"{"utm": {"KEY": 1, "source": 2}, "KEY": 3, "items": [{"sku": 1, "KEY": 2}], "a/b": 1}"#,
    );
    assert_eq!(
        changes(&e, &l),
        pairs(&[
            ("/utm/*", "keep"),
            ("/utm/*", "keep"),
            ("/*", "unknown"),
            ("/items/0/sku", "keep"),
            ("/items/0/*", "unknown"),
            ("/a~1b", "drop"),
        ])
    );
    // A key that the input schema names is shown.
    let e = engine(json!({
        "input": {"schema": {"properties": {"utm": {"properties": {"source": {}}}}}},
        "fields": {"/utm/*": "keep"},
    }));
    assert_eq!(
        changes(&e, &lead(r#"{"utm": {"KEY": 1, "source": 2}}"#)),
        pairs(&[("/utm/*", "keep"), ("/utm/source", "keep")])
    );

    // `unknown: reject`.
    let e = engine(json!({"output": {"unknown": "reject"}, "fields": {"/utm/*/id": "keep"}}));
    assert_eq!(
        run(&e, &lead(r#"{"utm": {"KEY": {"id": 1, "KEY": 2}}}"#)),
        "rejected: no rule governs `/utm/*/*`"
    );

    // A transform failure, and two values on one output path.
    let e = fields(json!({
        "/answers/*": {"date": {"precision": "year"}},
        "/s/*": {"keep": {"to": "/t"}},
    }));
    assert_eq!(
        run(&e, &lead(r#"{"answers": {"KEY": "not a date"}}"#)),
        "transform: /answers/*: `date` needs an RFC 3339 date or date-time"
    );
    assert_eq!(
        run(&e, &lead(r#"{"s": {"KEY": 1, "other@example.com": 2}}"#)),
        "transform: /s/*: another value is already written at `/t` of the output"
    );

    // The input schema: unexpected properties, property names and values
    // under keys it does not name; a key of digits is a key, an index is not.
    let e = engine(json!({
        "input": {"schema": {
            "properties": {
                "utm": {"additionalProperties": {"type": "string"}},
                "tags": {"items": {"type": "string"}},
                "named": {"type": "object", "propertyNames": {"maxLength": 3}},
                "closed": {"properties": {"ok": {}}, "additionalProperties": false},
                "late": {"properties": {"ok": {}}, "unevaluatedProperties": false},
            },
        }},
        "fields": {"": "keep"},
    }));
    let Err(Failure::InputSchema(violations)) = e.transform(
        &lead(
            r#"{"utm": {"KEY": 1, "123": 2, "source": "s"}, "tags": ["a", 5],
                   "named": {"KEY": 1}, "closed": {"ok": 1, "KEY": 2}, "late": {"KEY": 1}}"#,
        ),
        &[],
    ) else {
        panic!("the input schema should fail");
    };
    let shown: Vec<(&str, &str)> = violations
        .iter()
        .map(|v| (v.path.as_str(), v.message.as_str()))
        .collect();
    assert_eq!(
        shown,
        [
            (
                "/closed/*",
                "`additionalProperties`: property is not allowed"
            ),
            (
                "/late/*",
                "`unevaluatedProperties`: property is not allowed"
            ),
            (
                "/named/*",
                "`propertyNames`: `maxLength`: longer than 3 characters"
            ),
            ("/tags/1", "`type`: expected string"),
            ("/utm/*", "`type`: expected string"),
        ]
    );
    assert!(!format!("{violations:?}").contains("jane"));

    // The output schema.
    let e = engine(json!({
        "output": {"schema": {"properties": {"utm": {"additionalProperties": {"type": "string"}}}}},
        "fields": {"/utm/*": "keep"},
    }));
    assert_eq!(
        run(&e, &lead(r#"{"utm": {"KEY": 1}}"#)),
        "output-schema: /utm/*: `type`: expected string"
    );
}
