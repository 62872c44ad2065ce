//! Writing a test run: readable text (coloured on a terminal), JUnit XML
//! for CI systems, and JSON.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

use super::diff::{self, Tag};
use super::runner::{CaseOutcome, FileReport, Report};

impl Report {
    /// Panics with the text report unless every case passed: for policy
    /// tests inside `cargo test`.
    #[track_caller]
    pub fn assert_passed(&self) {
        assert!(self.is_success(), "{}", text(self, false, false));
    }
}

const RED: Style = AnsiColor::Red.on_default();
const GREEN: Style = AnsiColor::Green.on_default();
const YELLOW: Style = AnsiColor::Yellow.on_default();
const DIM: Style = Style::new().dimmed();
const BOLD: Style = Style::new().bold();

/// Paints `text` in `style` when `color` is on.
fn paint(color: bool, style: Style, text: &str) -> String {
    if color {
        format!("{}{text}{}", style.render(), style.render_reset())
    } else {
        text.to_owned()
    }
}

/// The text report: each file and case, a diff under each failure, the
/// coverage (the items no case exercised, or every item with
/// `all_items`), and last the line `N passed, N failed`.
pub fn text(report: &Report, color: bool, all_items: bool) -> String {
    let mut out = String::new();
    for file in &report.files {
        file_text(file, color, &mut out);
    }
    coverage_text(report, color, all_items, &mut out);
    let summary = report.summary();
    let style = if report.is_success() { GREEN } else { RED };
    let _ = writeln!(out, "{}", paint(color, style.bold(), &summary));
    out
}

fn file_text(file: &FileReport, color: bool, out: &mut String) {
    let policy = if file.policy.as_os_str().is_empty() {
        String::new()
    } else {
        format!(
            " {}",
            paint(color, DIM, &format!("(policy {})", file.policy.display()))
        )
    };
    let _ = writeln!(
        out,
        "{}{policy}",
        paint(color, BOLD, &file.file.display().to_string()),
    );
    // A policy that could not be used is reported in each of its cases.
    if let Some(error) = file.error.as_ref().filter(|_| file.cases.is_empty()) {
        let _ = writeln!(
            out,
            "  {} {}",
            paint(color, RED.bold(), "error"),
            indent(error, 4)
        );
    }
    for case in &file.cases {
        let ms = case.time.as_millis();
        match &case.outcome {
            CaseOutcome::Passed => {
                let _ = writeln!(
                    out,
                    "  {} {} {}",
                    paint(color, GREEN, "ok  "),
                    case.name,
                    paint(color, DIM, &format!("({ms} ms)"))
                );
            }
            CaseOutcome::Failed { message, diff } => {
                let _ = writeln!(out, "  {} {}", paint(color, RED.bold(), "FAIL"), case.name);
                let _ = writeln!(out, "       {message}");
                if !diff.is_empty() {
                    let _ = writeln!(
                        out,
                        "       {} {}",
                        paint(color, RED, "- expected"),
                        paint(color, GREEN, "+ actual")
                    );
                }
                for line in diff {
                    let (prefix, style) = match line.tag {
                        Tag::Same => ("  ", None),
                        Tag::Expected => ("- ", Some(RED)),
                        Tag::Actual => ("+ ", Some(GREEN)),
                        Tag::Skipped => ("  ", Some(DIM)),
                    };
                    let text = format!("{prefix}{}", line.text);
                    let text = match style {
                        Some(style) => paint(color, style, &text),
                        None => text,
                    };
                    let _ = writeln!(out, "       {text}");
                }
            }
            CaseOutcome::Error { message } => {
                let _ = writeln!(
                    out,
                    "  {} {}\n       {}",
                    paint(color, RED.bold(), "ERROR"),
                    case.name,
                    indent(message, 7)
                );
            }
        }
    }
}

fn coverage_text(report: &Report, color: bool, all_items: bool, out: &mut String) {
    if report.coverage.is_empty() {
        return;
    }
    out.push('\n');
    for policy in &report.coverage {
        let _ = writeln!(
            out,
            "coverage of {}: {} rules, alternatives and requirements covered",
            policy.policy.display(),
            policy.ratio
        );
        for item in &policy.items {
            if item.covered && !all_items {
                continue;
            }
            let mark = if item.covered {
                paint(color, GREEN, "covered    ")
            } else {
                paint(color, YELLOW, "not covered")
            };
            let _ = writeln!(out, "  {mark} {} ({})", item.location, item.what);
        }
    }
    if report.coverage.len() > 1 {
        let _ = writeln!(out, "coverage in all: {}", report.total_coverage());
    }
    out.push('\n');
}

fn indent(text: &str, by: usize) -> String {
    text.replace('\n', &format!("\n{}", " ".repeat(by)))
}

/// The report as JSON: files, cases (status, message, diff, time in
/// seconds), coverage per policy, and the totals.
pub fn json(report: &Report) -> String {
    let value = serde_json::json!({
        "files": report.files,
        "coverage": report.coverage,
        "total_coverage": report.total_coverage(),
        "passed": report.passed(),
        "failed": report.failed(),
    });
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    text
}

/// The report as JUnit XML, in the shape CI systems read: `<testsuites>`
/// with one `<testsuite>` per test file and one `<testcase>` per case, a
/// `<failure>` (message, and the diff as text) or `<error>` in each case
/// that did not pass.
pub fn junit(report: &Report) -> String {
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    // Writing into a Vec cannot fail.
    let _ = write_junit(report, &mut writer);
    let mut xml = String::from_utf8(writer.into_inner()).unwrap_or_default();
    xml.push('\n');
    xml
}

fn write_junit(report: &Report, w: &mut Writer<Vec<u8>>) -> std::io::Result<()> {
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let total: f64 = report.files.iter().map(|f| f.time.as_secs_f64()).sum();
    let tests: usize = report.files.iter().map(|f| f.cases.len().max(1)).sum();
    let mut suites = BytesStart::new("testsuites");
    suites.push_attribute(("name", "leadfilter"));
    suites.push_attribute(("tests", tests.to_string().as_str()));
    suites.push_attribute((
        "failures",
        (report.failed() - report.errors()).to_string().as_str(),
    ));
    suites.push_attribute(("errors", report.errors().to_string().as_str()));
    suites.push_attribute(("time", format!("{total:.3}").as_str()));
    w.write_event(Event::Start(suites))?;
    for file in &report.files {
        let name = file.file.display().to_string();
        let classname = name
            .strip_suffix(".test.yaml")
            .or_else(|| name.strip_suffix(".test.yml"))
            .unwrap_or(&name)
            .to_owned();
        let failures = file
            .cases
            .iter()
            .filter(|c| matches!(c.outcome, CaseOutcome::Failed { .. }))
            .count();
        let unreadable = file.cases.is_empty() && file.error.is_some();
        let errors = file
            .cases
            .iter()
            .filter(|c| matches!(c.outcome, CaseOutcome::Error { .. }))
            .count()
            + usize::from(unreadable);
        let mut suite = BytesStart::new("testsuite");
        suite.push_attribute(("name", name.as_str()));
        suite.push_attribute((
            "tests",
            file.cases
                .len()
                .max(usize::from(unreadable))
                .to_string()
                .as_str(),
        ));
        suite.push_attribute(("failures", failures.to_string().as_str()));
        suite.push_attribute(("errors", errors.to_string().as_str()));
        suite.push_attribute(("skipped", "0"));
        suite.push_attribute(("time", format!("{:.3}", file.time.as_secs_f64()).as_str()));
        w.write_event(Event::Start(suite))?;

        w.write_event(Event::Start(BytesStart::new("properties")))?;
        let mut properties = vec![("policy", file.policy.display().to_string())];
        let key = std::path::absolute(&file.policy).ok();
        if let Some(coverage) = report
            .coverage
            .iter()
            .find(|c| std::path::absolute(&c.policy).ok() == key)
        {
            properties.push(("coverage", coverage.ratio.to_string()));
        }
        for (name, value) in &properties {
            let mut property = BytesStart::new("property");
            property.push_attribute(("name", *name));
            property.push_attribute(("value", value.as_str()));
            w.write_event(Event::Empty(property))?;
        }
        w.write_event(Event::End(BytesEnd::new("properties")))?;

        if unreadable {
            let message = file.error.clone().unwrap_or_default();
            testcase(
                w,
                "(test file)",
                &classname,
                0.0,
                Some(("error", &message, "")),
            )?;
        }
        for case in &file.cases {
            let time = case.time.as_secs_f64();
            match &case.outcome {
                CaseOutcome::Passed => testcase(w, &case.name, &classname, time, None)?,
                CaseOutcome::Failed { message, diff } => {
                    let body = diff::plain(diff);
                    testcase(
                        w,
                        &case.name,
                        &classname,
                        time,
                        Some(("failure", message, &body)),
                    )?;
                }
                CaseOutcome::Error { message } => {
                    testcase(
                        w,
                        &case.name,
                        &classname,
                        time,
                        Some(("error", message, "")),
                    )?;
                }
            }
        }
        w.write_event(Event::End(BytesEnd::new("testsuite")))?;
    }
    w.write_event(Event::End(BytesEnd::new("testsuites")))?;
    Ok(())
}

/// One `<testcase>`, with a `<failure>` or `<error>` element (name, message,
/// body text) when it did not pass.
fn testcase(
    w: &mut Writer<Vec<u8>>,
    name: &str,
    classname: &str,
    time: f64,
    problem: Option<(&str, &str, &str)>,
) -> std::io::Result<()> {
    let mut case = BytesStart::new("testcase");
    case.push_attribute(("name", name));
    case.push_attribute(("classname", classname));
    case.push_attribute(("time", format!("{time:.3}").as_str()));
    let Some((element, message, body)) = problem else {
        return w.write_event(Event::Empty(case));
    };
    w.write_event(Event::Start(case))?;
    let mut problem = BytesStart::new(element);
    problem.push_attribute(("message", message));
    problem.push_attribute((
        "type",
        if element == "failure" {
            "failed"
        } else {
            "error"
        },
    ));
    if body.is_empty() {
        w.write_event(Event::Empty(problem))?;
    } else {
        w.write_event(Event::Start(problem))?;
        // Only `<`, `>` and `&` need escaping in text; quotes stay readable.
        let escaped = quick_xml::escape::partial_escape(body);
        w.write_event(Event::Text(BytesText::from_escaped(escaped)))?;
        w.write_event(Event::End(BytesEnd::new(element)))?;
    }
    w.write_event(Event::End(BytesEnd::new("testcase")))
}
