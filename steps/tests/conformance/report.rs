//! The reports written next to the console output: JUnit XML (cucumber's writer, plus the not-applicable
//! scenarios as `<skipped/>` test cases) and the conformance matrix in Markdown (every scenario with its verdict
//! for the target), both from the [`Outcomes`] recorded while the scenarios run.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use cucumber::{Event, World, Writer, cli, event, gherkin, parser, writer};

/// cucumber's [`writer::JUnit`], made fit to sit beside the console writer in a `tee` under `Summarize`.
///
/// `Summarize` needs every branch below it to say whether its CLI options colour the output (`cli::Colored`, which
/// the JUnit options do not implement) and to accept the summary text (for which an XML report has no place, so it
/// is dropped here).
///
/// It also records every scenario's verdict in [`Outcomes`], for the matrix.
pub struct JUnitReport<W, Out: io::Write>(writer::JUnit<W, Out>, Outcomes);

impl<W: Debug, Out: io::Write> JUnitReport<W, Out> {
    /// A report written to `out` when the run finishes; verdicts go to `outcomes` as scenarios finish.
    pub fn new(out: Out, outcomes: Outcomes) -> Self {
        Self(
            writer::JUnit::raw(out, writer::Verbosity::Default),
            outcomes,
        )
    }
}

/// The JUnit writer's CLI options (`--junit-v`).
#[derive(Clone, Copy, Debug, Default, clap::Args)]
#[group(skip)]
pub struct JUnitCli {
    #[command(flatten)]
    inner: writer::junit::Cli,
}

impl cli::Colored for JUnitCli {}

impl<W: World + Debug, Out: io::Write> Writer<W> for JUnitReport<W, Out> {
    type Cli = JUnitCli;

    async fn handle_event(
        &mut self,
        event: parser::Result<Event<event::Cucumber<W>>>,
        cli: &Self::Cli,
    ) {
        if let Ok(event) = &event {
            self.1.record(&event.value);
        }
        self.0.handle_event(event, &cli.inner).await;
    }
}

impl<W: World + Debug, Out: io::Write, Value> writer::Arbitrary<W, Value> for JUnitReport<W, Out> {
    async fn write(&mut self, _: Value) {}
}

impl<W, Out: io::Write> writer::NonTransforming for JUnitReport<W, Out> {}

/// What happened to one scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    Failed,
    /// Not run: the target (or the identity provider) cannot run it, for this reason.
    NotApplicable(String),
}

/// One scenario of the run.
#[derive(Clone, Debug)]
pub struct Row {
    /// The feature file, relative to `features/` (or the feature's name).
    pub feature: String,
    pub scenario: String,
    /// The feature's, rule's and scenario's tags, without `@`.
    pub tags: Vec<String>,
    pub verdict: Verdict,
}

/// Every scenario's verdict, by feature file and line; shared by the filter, the writer and `main`.
#[derive(Clone, Debug, Default)]
pub struct Outcomes(Arc<Mutex<BTreeMap<(String, usize), Row>>>);

impl Outcomes {
    fn rows(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, usize), Row>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a scenario the run sets apart.
    pub fn not_applicable(
        &self,
        feature: &gherkin::Feature,
        rule: Option<&gherkin::Rule>,
        scenario: &gherkin::Scenario,
        reason: String,
    ) {
        self.set(feature, rule, scenario, Verdict::NotApplicable(reason));
    }

    fn set(
        &self,
        feature: &gherkin::Feature,
        rule: Option<&gherkin::Rule>,
        scenario: &gherkin::Scenario,
        verdict: Verdict,
    ) {
        let file = feature_file(feature);
        let tags = feature
            .tags
            .iter()
            .chain(rule.iter().flat_map(|r| &r.tags))
            .chain(&scenario.tags)
            .cloned()
            .collect();
        let mut rows = self.rows();
        let row = rows
            .entry((file.clone(), scenario.position.line))
            .or_insert(Row {
                feature: file,
                scenario: scenario.name.clone(),
                tags,
                verdict: verdict.clone(),
            });
        // A failure is final (a failed step, then the scenario's end).
        if row.verdict != Verdict::Failed {
            row.verdict = verdict;
        }
    }

    /// Takes in one event of the run.
    fn record<W>(&self, event: &event::Cucumber<W>) {
        let event::Cucumber::Feature(feature, event) = event else {
            return;
        };
        let (rule, scenario, event) = match event {
            event::Feature::Scenario(scenario, event) => (None, scenario, &event.event),
            event::Feature::Rule(rule, event::Rule::Scenario(scenario, event)) => {
                (Some(&**rule), scenario, &event.event)
            }
            _ => return,
        };
        let verdict = match event {
            event::Scenario::Step(_, event::Step::Failed(..) | event::Step::Skipped)
            | event::Scenario::Background(_, event::Step::Failed(..) | event::Step::Skipped)
            | event::Scenario::Hook(_, event::Hook::Failed(..)) => Verdict::Failed,
            event::Scenario::Finished => Verdict::Passed,
            _ => return,
        };
        self.set(feature, rule, scenario, verdict);
    }

    /// How many scenarios were not applicable.
    pub fn not_applicable_count(&self) -> usize {
        self.rows()
            .values()
            .filter(|row| matches!(row.verdict, Verdict::NotApplicable(_)))
            .count()
    }

    /// Each distinct reason for not applicable, with how many scenarios it set apart.
    pub fn not_applicable_reasons(&self) -> BTreeMap<String, usize> {
        let mut reasons = BTreeMap::new();
        for row in self.rows().values() {
            if let Verdict::NotApplicable(reason) = &row.verdict {
                *reasons.entry(reason.clone()).or_insert(0) += 1;
            }
        }
        reasons
    }

    /// Every scenario, by feature file and line.
    pub fn snapshot(&self) -> Vec<Row> {
        self.rows().values().cloned().collect()
    }
}

/// The feature's file relative to the `features/` folder (`session/logout.feature`), else its name.
fn feature_file(feature: &gherkin::Feature) -> String {
    let Some(path) = &feature.path else {
        return feature.name.clone();
    };
    let text = path.to_string_lossy().replace('\\', "/");
    match text.rfind("/features/") {
        Some(at) => text[at + "/features/".len()..].to_owned(),
        None => text,
    }
}

/// Appends the not-applicable scenarios to the JUnit report at `path` as a test suite of `<skipped/>` cases.
pub fn add_not_applicable_to_junit(path: &Path, outcomes: &Outcomes) -> io::Result<()> {
    let rows: Vec<Row> = outcomes
        .snapshot()
        .into_iter()
        .filter(|row| matches!(row.verdict, Verdict::NotApplicable(_)))
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    let mut xml = std::fs::read_to_string(path)?;
    if let Some(empty) = xml.rfind("<testsuites/>") {
        // No scenario ran: cucumber's report has an empty element.
        xml.replace_range(empty.., "<testsuites></testsuites>");
    }
    let Some(end) = xml.rfind("</testsuites>") else {
        return Err(io::Error::other("no </testsuites> in the report"));
    };
    let mut suite = format!(
        "<testsuite id=\"not-applicable\" name=\"not applicable\" package=\"testsuite/not-applicable\" \
         tests=\"{0}\" errors=\"0\" failures=\"0\" skipped=\"{0}\" time=\"0\">\n",
        rows.len()
    );
    for row in &rows {
        let Verdict::NotApplicable(reason) = &row.verdict else {
            continue;
        };
        suite.push_str(&format!(
            "  <testcase name=\"{}\" classname=\"{}\" time=\"0\"><skipped message=\"not applicable: {}\"/></testcase>\n",
            xml_escape(&row.scenario),
            xml_escape(&row.feature),
            xml_escape(reason)
        ));
    }
    suite.push_str("</testsuite>\n");
    std::fs::write(path, format!("{}{suite}{}", &xml[..end], &xml[end..]))
}

/// Makes cucumber's JUnit report readable where it is read: scenario and suite names carry paths relative to
/// the workspace (`features/key_auth/invalid_key.feature:13:3`, not the absolute path of this checkout), and every
/// test case has a `classname`, its feature, so CI tools group scenarios by feature.
pub fn tidy_junit(path: &Path, workspace: &Path) -> io::Result<()> {
    let xml = std::fs::read_to_string(path)?;
    let root = workspace.to_string_lossy();
    let root = root.trim_end_matches('/');
    let mut xml = xml
        .replace(&format!("{root}/"), "")
        .replace(&format!("{}/", root.trim_start_matches('/')), "");
    let mut out = String::with_capacity(xml.len() + 4096);
    let mut feature = String::new();
    while let Some(at) = xml.find('<') {
        out.push_str(&xml[..at]);
        xml.replace_range(..at, "");
        let end = xml.find('>').map_or(xml.len(), |e| e + 1);
        let tag = &xml[..end];
        if tag.starts_with("<testsuite ") {
            feature = attribute(tag, "name")
                .map(|name| {
                    let name = name.split(": features/").next().unwrap_or(name);
                    name.strip_prefix("Feature: ").unwrap_or(name).to_owned()
                })
                .unwrap_or_default();
            out.push_str(tag);
        } else if tag.starts_with("<testcase ") && attribute(tag, "classname").is_none() {
            out.push_str(&format!(
                "<testcase classname=\"{}\" {}",
                feature,
                &tag["<testcase ".len()..]
            ));
        } else {
            out.push_str(tag);
        }
        xml.replace_range(..end, "");
    }
    out.push_str(&xml);
    std::fs::write(path, out)
}

/// The raw (still escaped) value of `name="..."` in a start tag.
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let len = tag[start..].find('"')?;
    Some(&tag[start..start + len])
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The conformance matrix: the target, its version, the date, then every scenario with its verdict.
pub struct Matrix<'a> {
    /// What the run was against (proxy and Admin API URLs, or the in-process gateway).
    pub target: &'a str,
    /// `version` from the Admin API root.
    pub version: Option<&'a str>,
    /// The summary line (`N passed, N failed, N not applicable`).
    pub summary: &'a str,
    pub outcomes: &'a Outcomes,
}

impl Matrix<'_> {
    /// Writes the matrix as Markdown.
    pub fn write(&self, out: &mut impl io::Write) -> io::Result<()> {
        writeln!(out, "# Conformance matrix\n")?;
        writeln!(out, "- Target: {}", self.target)?;
        writeln!(
            out,
            "- Gateway version (Admin API `GET /`): {}",
            self.version.unwrap_or("unknown")
        )?;
        writeln!(out, "- Date: {}", utc_now())?;
        writeln!(out, "- Result: {}\n", self.summary)?;
        writeln!(out, "| Feature | Scenario | Tags | Result |")?;
        writeln!(out, "| --- | --- | --- | --- |")?;
        for row in self.outcomes.snapshot() {
            let tags: Vec<String> = row.tags.iter().map(|t| format!("`@{t}`")).collect();
            let verdict = match &row.verdict {
                Verdict::Passed => "passed".to_owned(),
                Verdict::Failed => "**failed**".to_owned(),
                Verdict::NotApplicable(reason) => format!("not applicable ({reason})"),
            };
            writeln!(
                out,
                "| {} | {} | {} | {} |",
                cell(&row.feature),
                cell(&row.scenario),
                tags.join(" "),
                cell(&verdict)
            )?;
        }
        Ok(())
    }
}

/// Text made safe for a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The current UTC time as `YYYY-MM-DD HH:MM:SS UTC`.
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}
