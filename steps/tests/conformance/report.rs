//! The reports written next to the console output, from the [`Outcomes`] recorded while the scenarios run (one
//! [`Outcomes`] per target): the JUnit XML report (one `<testsuite>` per target; a test case per scenario with its
//! feature as `classname`, its real duration, and the failed step and why, or why it was not applicable), and the
//! conformance matrix in Markdown (a column per target, a row per scenario, and the differences between targets).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cucumber::{Event, World, Writer, cli, event, gherkin, parser, writer};

/// A writer that only records every scenario's verdict, failed step and duration in [`Outcomes`]; it sits beside
/// the console writer in a `tee`. (It accepts and drops the summary text `Summarize` hands to every branch.)
pub struct Recorder(Outcomes);

impl Recorder {
    /// Records into `outcomes` as scenarios finish.
    pub fn new(outcomes: Outcomes) -> Self {
        Self(outcomes)
    }
}

impl<W: World + Debug> Writer<W> for Recorder {
    type Cli = cli::Empty;

    async fn handle_event(
        &mut self,
        event: parser::Result<Event<event::Cucumber<W>>>,
        _: &Self::Cli,
    ) {
        if let Ok(event) = &event {
            self.0.record(&event.value, event.at);
        }
    }
}

impl<W: World + Debug, Value> writer::Arbitrary<W, Value> for Recorder {
    async fn write(&mut self, _: Value) {}
}

impl writer::NonTransforming for Recorder {}

/// What happened to one scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    /// A step failed (or matched no definition, or a hook failed): which one, and why, on one line.
    Failed {
        step: String,
        why: String,
    },
    /// Not run: the target (or the identity provider) cannot run it, for this reason.
    NotApplicable(String),
}

impl Verdict {
    /// The verdict in one line (`failed at "Then ...": observed 401, expected 200`).
    pub fn one_line(&self) -> String {
        match self {
            Self::Passed => "passed".to_owned(),
            Self::Failed { step, why } => format!("failed at `{step}`: {why}"),
            Self::NotApplicable(reason) => format!("not applicable ({reason})"),
        }
    }

    /// `passed`, `failed` or `not applicable`, for comparing targets.
    fn kind(&self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::Failed { .. } => "failed",
            Self::NotApplicable(_) => "not applicable",
        }
    }
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
    /// When it started, and how long it took once finished.
    started: Option<SystemTime>,
    pub duration: Duration,
}

/// Every scenario's verdict, by feature file and line; shared by the filter, the recorder and `main`.
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
        self.update(feature, rule, scenario, |row| {
            row.verdict = Verdict::NotApplicable(reason);
        });
    }

    /// Applies `change` to the scenario's row, created (passed, so far) on first sight.
    fn update(
        &self,
        feature: &gherkin::Feature,
        rule: Option<&gherkin::Rule>,
        scenario: &gherkin::Scenario,
        change: impl FnOnce(&mut Row),
    ) {
        let file = feature_file(feature);
        let mut rows = self.rows();
        let row = rows
            .entry((file.clone(), scenario.position.line))
            .or_insert_with(|| Row {
                feature: file,
                scenario: scenario.name.clone(),
                tags: feature
                    .tags
                    .iter()
                    .chain(rule.iter().flat_map(|r| &r.tags))
                    .chain(&scenario.tags)
                    .cloned()
                    .collect(),
                verdict: Verdict::Passed,
                started: None,
                duration: Duration::ZERO,
            });
        change(row);
    }

    /// Takes in one event of the run, which happened `at`.
    fn record<W>(&self, event: &event::Cucumber<W>, at: SystemTime) {
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
        let failure = match event {
            event::Scenario::Started => {
                self.update(feature, rule, scenario, |row| row.started = Some(at));
                return;
            }
            event::Scenario::Finished => {
                self.update(feature, rule, scenario, |row| {
                    if let Some(started) = row.started {
                        row.duration = at.duration_since(started).unwrap_or_default();
                    }
                });
                return;
            }
            event::Scenario::Step(step, event::Step::Failed(_, _, _, error))
            | event::Scenario::Background(step, event::Step::Failed(_, _, _, error)) => {
                (step_text(step), failure_line(&error.to_string()))
            }
            event::Scenario::Step(step, event::Step::Skipped)
            | event::Scenario::Background(step, event::Step::Skipped) => (
                step_text(step),
                "no step definition matches this step".to_owned(),
            ),
            event::Scenario::Hook(kind, event::Hook::Failed(_, info)) => {
                (format!("{kind:?} hook"), failure_line(&panic_text(info)))
            }
            _ => return,
        };
        self.update(feature, rule, scenario, |row| {
            // The first failure is the one that counts (later steps are skipped).
            if !matches!(row.verdict, Verdict::Failed { .. }) {
                row.verdict = Verdict::Failed {
                    step: failure.0,
                    why: failure.1,
                };
            }
        });
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

/// `Then the response status is 200`.
fn step_text(step: &gherkin::Step) -> String {
    format!("{}{}", step.keyword, step.value).trim().to_owned()
}

/// The text of a panic payload.
fn panic_text(info: &event::Info) -> String {
    if let Some(text) = info.downcast_ref::<String>() {
        text.clone()
    } else if let Some(text) = info.downcast_ref::<&str>() {
        (*text).to_owned()
    } else {
        "(a panic without a message)".to_owned()
    }
}

/// A step's failure on one line: cucumber's prefix dropped, and an `assert_eq!` (whose left side the steps give as
/// what they observed and whose right side as what they expected) as "context: observed X, expected Y".
pub fn failure_line(text: &str) -> String {
    let text = text
        .strip_prefix("Step panicked. Captured output: ")
        .unwrap_or(text);
    let text = match text.split_once("assertion `left == right` failed") {
        Some((before, after)) => {
            let (context, sides) = match after.split_once("\n  left: ") {
                Some((context, sides)) => (context.trim_start_matches(':').trim(), sides),
                None => ("", after),
            };
            match sides.split_once("\n right: ") {
                Some((left, right)) => {
                    let context = if context.is_empty() {
                        String::new()
                    } else {
                        format!("{context}: ")
                    };
                    format!("{before}{context}observed {left}, expected {right}")
                }
                None => text.to_owned(),
            }
        }
        None => text.to_owned(),
    };
    crate::target::one_line_max(&text, 400)
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

/// What one target of the run was, and what happened to its scenarios.
pub struct TargetReport {
    /// The name given with `--target NAME=...` (or `reference` / `target` by default).
    pub name: String,
    /// Where it is (proxy and Admin API URLs, or the in-process gateway).
    pub description: String,
    /// `version` from its Admin API root.
    pub version: Option<String>,
    /// `admin-api`, `declarative` or `external`, and why.
    pub provisioning: String,
    /// The identity provider of the OpenID Connect scenarios.
    pub identity_provider: String,
    /// `N passed, N failed, N not applicable`.
    pub summary: String,
    pub outcomes: Outcomes,
}

/// Writes the JUnit XML report: one `<testsuite>` per target, one `<testcase>` per scenario (named
/// `feature: scenario`, with the feature file as `classname` and its duration), `<failure>` with the failed step and
/// why, `<skipped>` with why it was not applicable.
pub fn write_junit(out: &mut impl io::Write, targets: &[TargetReport]) -> io::Result<()> {
    writeln!(out, r#"<?xml version="1.0" encoding="utf-8"?>"#)?;
    writeln!(out, "<testsuites>")?;
    for target in targets {
        let rows = target.outcomes.snapshot();
        let failures = rows
            .iter()
            .filter(|r| matches!(r.verdict, Verdict::Failed { .. }))
            .count();
        let skipped = rows
            .iter()
            .filter(|r| matches!(r.verdict, Verdict::NotApplicable(_)))
            .count();
        let time: f64 = rows.iter().map(|r| r.duration.as_secs_f64()).sum();
        writeln!(
            out,
            r#"  <testsuite name="{}" package="{}" tests="{}" failures="{failures}" errors="0" skipped="{skipped}" time="{time:.3}">"#,
            xml_escape(&target.name),
            xml_escape(&target.description),
            rows.len()
        )?;
        for row in &rows {
            write!(
                out,
                r#"    <testcase name="{}" classname="features/{}" time="{:.3}""#,
                xml_escape(&row.scenario),
                xml_escape(&row.feature),
                row.duration.as_secs_f64()
            )?;
            match &row.verdict {
                Verdict::Passed => writeln!(out, "/>")?,
                Verdict::Failed { step, why } => writeln!(
                    out,
                    r#"><failure message="{}" type="{}"/></testcase>"#,
                    xml_escape(why),
                    xml_escape(step)
                )?,
                Verdict::NotApplicable(reason) => writeln!(
                    out,
                    r#"><skipped message="not applicable: {}"/></testcase>"#,
                    xml_escape(reason)
                )?,
            }
        }
        writeln!(out, "  </testsuite>")?;
    }
    writeln!(out, "</testsuites>")
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The conformance matrix: the targets (name, where, version, provisioning, identity provider, result), then a row
/// per scenario with a column per target, then the scenarios whose verdicts differ between targets.
pub struct Matrix<'a> {
    pub targets: &'a [TargetReport],
}

impl Matrix<'_> {
    /// Writes the matrix as Markdown.
    pub fn write(&self, out: &mut impl io::Write) -> io::Result<()> {
        writeln!(out, "# Conformance matrix\n")?;
        writeln!(out, "Date: {}\n", utc_now())?;
        writeln!(
            out,
            "| Target | Where | Version (Admin API `GET /`) | Provisioning | Identity provider | Result |"
        )?;
        writeln!(out, "| --- | --- | --- | --- | --- | --- |")?;
        for target in self.targets {
            writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                cell(&target.name),
                cell(&target.description),
                cell(target.version.as_deref().unwrap_or("unknown")),
                cell(&target.provisioning),
                cell(&target.identity_provider),
                cell(&target.summary)
            )?;
        }
        writeln!(out)?;
        // Every scenario any target saw, in feature-file order.
        let per_target: Vec<BTreeMap<(String, String), Row>> = self
            .targets
            .iter()
            .map(|t| {
                t.outcomes
                    .snapshot()
                    .into_iter()
                    .map(|row| ((row.feature.clone(), row.scenario.clone()), row))
                    .collect()
            })
            .collect();
        let mut order: Vec<(String, String, Vec<String>)> = Vec::new();
        let mut seen = BTreeSet::new();
        for target in self.targets {
            for row in target.outcomes.snapshot() {
                if seen.insert((row.feature.clone(), row.scenario.clone())) {
                    order.push((row.feature, row.scenario, row.tags));
                }
            }
        }
        let names: Vec<String> = self.targets.iter().map(|t| cell(&t.name)).collect();
        writeln!(out, "| Feature | Scenario | Tags | {} |", names.join(" | "))?;
        writeln!(
            out,
            "| --- | --- | --- |{}",
            " --- |".repeat(self.targets.len())
        )?;
        let mut differences = Vec::new();
        for (feature, scenario, tags) in &order {
            let key = (feature.clone(), scenario.clone());
            let verdicts: Vec<Option<&Verdict>> = per_target
                .iter()
                .map(|rows| rows.get(&key).map(|row| &row.verdict))
                .collect();
            let cells: Vec<String> = verdicts
                .iter()
                .map(|verdict| match verdict {
                    None => "not selected".to_owned(),
                    Some(Verdict::Failed { .. }) => {
                        format!("**{}**", cell(&verdicts_line(verdict)))
                    }
                    Some(_) => cell(&verdicts_line(verdict)),
                })
                .collect();
            let tags: Vec<String> = tags.iter().map(|t| format!("`@{t}`")).collect();
            writeln!(
                out,
                "| {} | {} | {} | {} |",
                cell(feature),
                cell(scenario),
                tags.join(" "),
                cells.join(" | ")
            )?;
            let kinds: BTreeSet<&str> = verdicts
                .iter()
                .map(|v| v.map_or("not selected", Verdict::kind))
                .collect();
            if kinds.len() > 1 {
                differences.push((feature, scenario, verdicts));
            }
        }
        if self.targets.len() > 1 {
            writeln!(out, "\n## Differences\n")?;
            if differences.is_empty() {
                writeln!(out, "Every scenario has the same verdict on every target.")?;
            }
            for (feature, scenario, verdicts) in differences {
                writeln!(out, "- `{feature}` — {scenario}")?;
                for (target, verdict) in self.targets.iter().zip(verdicts) {
                    writeln!(out, "  - {}: {}", target.name, verdicts_line(&verdict))?;
                }
            }
        }
        Ok(())
    }
}

/// A verdict in one line, or "not selected".
fn verdicts_line(verdict: &Option<&Verdict>) -> String {
    verdict.map_or_else(|| "not selected".to_owned(), Verdict::one_line)
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
