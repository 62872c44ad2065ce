//! The checks of SPEC §2 "Compile-time checks" that need more than the
//! policy schema: secrets, regular expressions, paths, output collisions,
//! and paths against the input and output schemas.

use std::collections::BTreeSet;

use leadfilter_engine::path::{Pattern, Segment, array_index, push_escaped};
use leadfilter_engine::policy::{Action, Alternative, Condition, Policy, SchemaRef, Test};
use serde_json::Value;

use super::diagnostic::{Findings, Location};
use super::shape::{all_of, did_you_mean};
use super::walk::{self, Miss, MissReason, Mode};

/// A rule of `fields`, parsed, with where it is in the policy.
struct RuleSite<'p> {
    text: &'p str,
    pattern: Pattern,
    location: Location,
    alternatives: Vec<(Location, &'p Alternative)>,
}

/// An output path some rule writes with `to:`.
struct Target<'p> {
    rule: &'p str,
    pointer: Pattern,
    location: Location,
}

/// Runs every check on a policy whose shape is valid. `document` is the
/// same policy as JSON (it tells a list of alternatives from a single one).
pub(crate) fn run(policy: &Policy, document: &Value, findings: &mut Findings) {
    let fields = Location::root().key("fields");
    let mut rules = Vec::new();
    for (text, rule) in &policy.fields {
        let location = fields.key(text);
        let listed = document
            .get("fields")
            .and_then(|f| f.get(text))
            .is_some_and(Value::is_array);
        let alternatives = rule
            .alternatives
            .iter()
            .enumerate()
            .map(|(i, alt)| {
                (
                    if listed {
                        location.index(i)
                    } else {
                        location.clone()
                    },
                    alt,
                )
            })
            .collect();
        match Pattern::parse(text) {
            Ok(pattern) => rules.push(RuleSite {
                text,
                pattern,
                location,
                alternatives,
            }),
            Err(e) => findings.error(location, e),
        }
    }

    let mut condition_paths = Vec::new();
    for (i, requirement) in policy.require.iter().enumerate() {
        let location = Location::root().key("require").index(i);
        check_condition(
            &requirement.condition,
            &location,
            findings,
            &mut condition_paths,
        );
    }

    let mut used_secrets = BTreeSet::new();
    let mut targets = Vec::new();
    for rule in &rules {
        for (location, alternative) in &rule.alternatives {
            if let Some(when) = &alternative.when {
                check_condition(when, &location.key("when"), findings, &mut condition_paths);
            }
            let action_location = location.key(alternative.action.name());
            if let Action::Hash(hash) = &alternative.action {
                check_hash(policy, hash, &action_location, findings, &mut used_secrets);
            }
            if let Some(to) = alternative.action.to() {
                let to_location = action_location.key("to");
                match Pattern::parse_pointer(to) {
                    Ok(pointer) => {
                        if rule.pattern.segments.contains(&Segment::Star) {
                            findings.error_with(
                                &to_location,
                                "`*` in the rule's path can match many values, and `to:` writes them all to one path",
                                Some("name the key or index instead of `*`, or remove `to:`".into()),
                            );
                        }
                        targets.push(Target {
                            rule: rule.text,
                            pointer,
                            location: to_location,
                        });
                    }
                    Err(e) => findings.error(to_location, e),
                }
            }
        }
    }

    for (i, name) in policy.secrets.iter().enumerate() {
        if !used_secrets.contains(name.as_str()) {
            findings.warning(
                Location::root().key("secrets").index(i),
                format!("secret `{name}` is declared but no `hash` uses it"),
                "remove it: the host must provide every declared secret",
            );
        }
    }

    check_collisions(&rules, &targets, findings);

    if let Some(SchemaRef::Inline(schema)) = &policy.input.schema {
        for rule in &rules {
            if let Err(miss) = walk::walk(schema, &rule.pattern.segments, Mode::Strict) {
                report_input_miss(&rule.location, &rule.pattern, &miss, findings);
            }
        }
        for (location, pattern) in &condition_paths {
            if let Err(miss) = walk::walk(schema, &pattern.segments, Mode::Strict) {
                report_input_miss(location, pattern, &miss, findings);
            }
        }
    }
    if let Some(SchemaRef::Inline(schema)) = &policy.output.schema {
        check_output(schema, &rules, &targets, findings);
    }
}

fn check_hash<'p>(
    policy: &'p Policy,
    hash: &leadfilter_engine::policy::Hash,
    location: &Location,
    findings: &mut Findings,
    used: &mut BTreeSet<&'p str>,
) {
    if let Some(key) = &hash.key {
        match policy.secrets.iter().find(|s| *s == key) {
            Some(declared) => {
                used.insert(declared.as_str());
            }
            None => {
                let help = match did_you_mean(key, &policy.secrets) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None => format!("declare it: `secrets: [{key}]`"),
                };
                findings.error_with(
                    location.key("key"),
                    format!("`{key}` is not a declared secret"),
                    Some(help),
                );
            }
        }
    }
    if hash.unkeyed {
        findings.warning(
            location.key("unkeyed"),
            "a plain SHA-256 without a key: unkeyed hashes of e-mail addresses and phone numbers can be reversed by guessing",
            "use `key:` with a declared secret unless the destination demands plain SHA-256",
        );
    }
}

fn check_condition(
    condition: &Condition,
    location: &Location,
    findings: &mut Findings,
    paths: &mut Vec<(Location, Pattern)>,
) {
    match condition {
        Condition::All { all } => {
            for (i, c) in all.iter().enumerate() {
                check_condition(c, &location.key("all").index(i), findings, paths);
            }
        }
        Condition::Any { any } => {
            for (i, c) in any.iter().enumerate() {
                check_condition(c, &location.key("any").index(i), findings, paths);
            }
        }
        Condition::Not { not } => check_condition(not, &location.key("not"), findings, paths),
        Condition::Test { path, test } => {
            let path_location = location.key("path");
            match Pattern::parse(path) {
                Ok(pattern) if pattern.segments.contains(&Segment::Star) => findings.error_with(
                    path_location,
                    "a condition's path has no `*`",
                    Some("name the key or index, or pick an array element with a selector `[name=...]`".into()),
                ),
                Ok(pattern) => paths.push((path_location, pattern)),
                Err(e) => findings.error(path_location, e),
            }
            if let Test::Matches(regex) = test
                && let Err(e) = regex::Regex::new(regex)
            {
                findings.error_with(
                    location.key("matches"),
                    "the regular expression does not compile",
                    Some(one_line(&e.to_string())),
                );
            }
        }
    }
}

/// The regex crate's multi-line message on one line.
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether two paths can name the same output value or one a value inside
/// the other: they agree on every segment they share.
fn overlap(a: &[Segment], b: &[Segment]) -> bool {
    a.iter().zip(b).all(|pair| match pair {
        (Segment::Star, _) | (_, Segment::Star) => true,
        (Segment::Key(x), Segment::Key(y)) => x == y,
        (Segment::Selector { .. }, Segment::Selector { .. }) => true,
        (Segment::Selector { .. }, Segment::Key(k))
        | (Segment::Key(k), Segment::Selector { .. }) => array_index(k).is_some(),
    })
}

fn check_collisions(rules: &[RuleSite<'_>], targets: &[Target<'_>], findings: &mut Findings) {
    let help = Some("give each rule its own output path".to_owned());
    for (j, later) in targets.iter().enumerate() {
        for earlier in &targets[..j] {
            if earlier.rule == later.rule
                || !overlap(&earlier.pointer.segments, &later.pointer.segments)
            {
                continue;
            }
            let message = if earlier.pointer.segments == later.pointer.segments {
                format!(
                    "`{}` is also written by `fields.{}`",
                    later.pointer, earlier.rule
                )
            } else {
                format!(
                    "`{}` overlaps `{}`, which `fields.{}` writes",
                    later.pointer, earlier.pointer, earlier.rule
                )
            };
            findings.error_with(&later.location, message, help.clone());
        }
        for rule in rules {
            let writes_here = rule.alternatives.iter().any(|(_, alt)| {
                !matches!(alt.action, Action::Drop(_)) && alt.action.to().is_none()
            });
            if rule.text == later.rule
                || !writes_here
                || !overlap(&rule.pattern.segments, &later.pointer.segments)
            {
                continue;
            }
            let message = if rule.pattern.segments == later.pointer.segments {
                format!(
                    "`{}` is also written by `fields.{}`",
                    later.pointer, rule.text
                )
            } else {
                format!(
                    "`{}` overlaps `fields.{}`, which writes to its own path",
                    later.pointer, rule.text
                )
            };
            findings.error_with(&later.location, message, help.clone());
        }
    }
}

fn check_output(
    schema: &Value,
    rules: &[RuleSite<'_>],
    targets: &[Target<'_>],
    findings: &mut Findings,
) {
    for rule in rules {
        let writes_here = rule
            .alternatives
            .iter()
            .any(|(_, alt)| !matches!(alt.action, Action::Drop(_)) && alt.action.to().is_none());
        if writes_here && let Err(miss) = walk::walk(schema, &rule.pattern.segments, Mode::Lenient)
        {
            report_output_miss(&rule.location, &rule.pattern, &miss, findings);
        }
    }
    for target in targets {
        if let Err(miss) = walk::walk(schema, &target.pointer.segments, Mode::Lenient) {
            report_output_miss(&target.location, &target.pointer, &miss, findings);
        }
    }
}

/// A pattern's text rebuilt from segments.
fn text_of(segments: &[Segment]) -> String {
    let mut out = String::new();
    for segment in segments {
        match segment {
            Segment::Key(key) => push_escaped(&mut out, key),
            Segment::Star => out.push_str("/*"),
            Segment::Selector { pointer, text } => {
                let mut inner = String::new();
                for key in pointer {
                    push_escaped(&mut inner, key);
                }
                out.push_str(&format!("/[{}={text}]", &inner[1..]));
            }
        }
    }
    out
}

/// Where a walk stopped, for a message: `/address` or "the lead".
fn prefix_of(pattern: &Pattern, at: usize) -> String {
    match at {
        0 => "the lead".to_owned(),
        _ => format!("`{}`", text_of(&pattern.segments[..at])),
    }
}

/// Help for a walk that stopped, naming what the schema does have there.
fn miss_help(pattern: &Pattern, miss: &Miss) -> Option<String> {
    let prefix = prefix_of(pattern, miss.at);
    let segment = pattern.segments.get(miss.at)?;
    Some(match (&miss.reason, segment) {
        (MissReason::NoMember(names), Segment::Key(key)) => {
            if let Some(close) = did_you_mean(key, names) {
                let mut fixed = pattern.segments.clone();
                fixed[miss.at] = Segment::Key(close.to_owned());
                format!("did you mean `{}`?", text_of(&fixed))
            } else if names.is_empty() {
                format!("the schema allows no member `{key}` in {prefix}")
            } else {
                format!("{prefix} has {}", all_of(names))
            }
        }
        (MissReason::NoMember(_), _) => format!("the schema allows no members in {prefix}"),
        (MissReason::NoItem, _) => format!("the schema allows no such item in {prefix}"),
        (MissReason::NotContainer, _) => {
            format!("{prefix} is neither an object nor an array in the schema")
        }
        (MissReason::NotObject, _) => format!(
            "{prefix} is an array in the schema: reach its items by index, `*` or a selector `[name=...]`"
        ),
        (MissReason::NotArray, _) => format!(
            "{prefix} is not an array in the schema, and a selector `[..=..]` picks array items"
        ),
        (MissReason::SelectorMember(names), Segment::Selector { pointer, .. }) => {
            let member = pointer.join("/");
            match did_you_mean(&member, names) {
                Some(close) => format!(
                    "the items of {prefix} have no member `{member}`; did you mean `{close}`?"
                ),
                None if names.is_empty() => {
                    format!("the items of {prefix} have no member `{member}`")
                }
                None => format!(
                    "the items of {prefix} have no member `{member}`, only {}",
                    all_of(names)
                ),
            }
        }
        (MissReason::SelectorMember(_), _) => {
            format!("the items of {prefix} do not allow this selector")
        }
    })
}

fn report_input_miss(location: &Location, pattern: &Pattern, miss: &Miss, findings: &mut Findings) {
    findings.error_with(
        location,
        "no such path in the input schema",
        miss_help(pattern, miss),
    );
}

fn report_output_miss(
    location: &Location,
    pattern: &Pattern,
    miss: &Miss,
    findings: &mut Findings,
) {
    let help = miss_help(pattern, miss)
        .map(|h| format!("{h}; allow it in the output schema, or write elsewhere with `to:`"));
    findings.error_with(
        location,
        format!("the output schema does not allow `{pattern}`"),
        help,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(text: &str) -> Vec<Segment> {
        Pattern::parse(text).unwrap().segments
    }

    #[test]
    fn overlaps_are_prefix_compatible_paths() {
        assert!(overlap(&segs("/utm/source"), &segs("/utm/*")));
        assert!(overlap(&segs("/org"), &segs("/org/name")));
        assert!(overlap(&segs("/a/0"), &segs("/a/[n=x]")));
        assert!(!overlap(&segs("/a/b"), &segs("/a/[n=x]")));
        assert!(!overlap(&segs("/org/name"), &segs("/org/title")));
        assert!(overlap(&segs(""), &segs("/x")));
    }

    #[test]
    fn text_round_trips() {
        for t in ["/a~1b/*/[field/ref=x]/0", "", "/x~0"] {
            assert_eq!(text_of(&segs(t)), t);
        }
    }
}
