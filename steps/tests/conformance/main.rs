//! `cargo test --test conformance`: runs every `.feature` under `features/` against the gateway under test (by
//! default the reference gateway, started in-process on free ports, with an in-process echo upstream).
//!
//! Output: cucumber's console report, a JUnit XML report (`target/conformance/junit.xml` unless
//! `--junit-report` says otherwise), and one last plain line `N passed, N failed` (`, N skipped` when some were)
//! counting scenarios, since a `harness = false` target prints no libtest summary. The exit code is non-zero when
//! a scenario failed or a feature did not parse.
//!
//! Options go after `--`: cucumber's (`--name <regex>`, `--tags <expr>`, `--concurrency <n>`, `--fail-fast`,
//! `-vv` to print the World of a failed step...) and this harness's (`--junit-report <path>`). libtest's options
//! that `cargo test` users pass out of habit (`--nocapture`, `--test-threads=N`...) are ignored, and a bare filter
//! (`cargo test --test conformance logout`) selects the scenarios whose name contains it (see [`libtest`]).

mod admin;
mod flows;
mod libtest;
mod report;
mod world;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory as _, Parser as _};
use cucumber::gherkin;
use cucumber::tag::Ext as _;
use cucumber::writer::{Coloring, Verbosity};
use cucumber::{StatsWriter as _, World as _, WriterExt as _, cli, parser, runner, writer};
use futures::FutureExt as _;
use tracing_subscriber::EnvFilter;

use libtest::Invocation;
use report::{JUnitCli, JUnitReport};
use world::GatewayWorld;

/// This harness's own options, next to cucumber's.
#[derive(Debug, clap::Args)]
#[group(skip)]
struct Custom {
    /// Where to write the JUnit XML report.
    #[arg(long, value_name = "path", default_value_os_t = default_junit_report())]
    junit_report: PathBuf,
}

/// Every option the runner accepts.
type Opts = cli::Opts<
    parser::basic::Cli,
    runner::basic::Cli,
    cli::Compose<writer::basic::Cli, JUnitCli>,
    Custom,
>;

#[tokio::main]
async fn main() -> ExitCode {
    // The workspace builds reqwest with `rustls-no-provider`: every client needs a process-wide crypto provider,
    // even for plain-HTTP use. Another part (the gateway) may have installed one already; either is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    if std::env::var_os("RUST_LOG").is_some() {
        // Logs of the in-process gateway and of the harness, on stderr; off unless asked for.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .try_init();
    }
    let (args, filters) = match libtest::translate(std::env::args_os(), &Opts::command()) {
        Invocation::List => return ExitCode::SUCCESS,
        Invocation::Run { args, filters } => (args, filters),
    };
    let mut opts = match Opts::try_parse_from(args) {
        Ok(opts) => opts,
        Err(error) => error.exit(),
    };
    // Which scenarios run: those matching `--name`, `--tags` and libtest's positional filters, when given.
    // cucumber itself applies `--name` or `--tags` and then ignores a filter given in code, so the selection is
    // made here, where all three combine.
    let (name, tags) = (opts.re_filter.take(), opts.tags_filter.take());
    let selected = move |feature: &gherkin::Feature,
                         rule: Option<&gherkin::Rule>,
                         scenario: &gherkin::Scenario| {
        let scenario_tags = feature
            .tags
            .iter()
            .chain(rule.iter().flat_map(|r| &r.tags))
            .chain(&scenario.tags);
        name.as_ref()
            .is_none_or(|name| name.is_match(&scenario.name))
            && tags.as_ref().is_none_or(|expr| expr.eval(scenario_tags))
            && (filters.is_empty() || filters.iter().any(|f| scenario.name.contains(f.as_str())))
    };
    let junit = match create_report(&opts.custom.junit_report) {
        Ok(file) => file,
        Err(error) => {
            eprintln!(
                "cannot create the JUnit report {}: {error}",
                opts.custom.junit_report.display()
            );
            return ExitCode::FAILURE;
        }
    };
    let features = Path::new(env!("CARGO_MANIFEST_DIR")).join("../features");

    let console = writer::Basic::raw(std::io::stdout(), Coloring::Auto, Verbosity::Default);
    let outcome = GatewayWorld::cucumber()
        .with_writer(
            console
                .tee::<GatewayWorld, _>(JUnitReport::new(junit))
                .normalized()
                .summarized(),
        )
        .fail_on_skipped()
        .after(|_, _, _, _, world| {
            async move {
                if let Some(world) = world {
                    world.clean_up().await;
                }
            }
            .boxed_local()
        })
        .with_cli(opts)
        .filter_run(features, selected)
        .await;

    let scenarios = outcome.inner_writer().scenarios_stats();
    // A feature file that does not parse has no scenarios to count: count it as a failure so the line agrees with
    // the exit code.
    let failed = scenarios.failed + outcome.parsing_errors();
    let mut line = format!("{} passed, {failed} failed", scenarios.passed);
    if scenarios.skipped > 0 {
        line.push_str(&format!(", {} skipped", scenarios.skipped));
    }
    println!("{line}");
    if outcome.execution_has_failed() || failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// `target/conformance/junit.xml` in the workspace's target directory (wherever `CARGO_TARGET_DIR` puts it).
fn default_junit_report() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent()
        .unwrap_or(tmp)
        .join("conformance")
        .join("junit.xml")
}

fn create_report(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    File::create(path)
}
