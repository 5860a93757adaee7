//! The JUnit XML report, written next to the console output.

use std::fmt::Debug;
use std::io;

use cucumber::{Event, World, Writer, cli, event, parser, writer};

/// cucumber's [`writer::JUnit`], made fit to sit beside the console writer in a `tee` under `Summarize`.
///
/// `Summarize` needs every branch below it to say whether its CLI options colour the output (`cli::Colored`, which
/// the JUnit options do not implement) and to accept the summary text (for which an XML report has no place, so it
/// is dropped here).
pub struct JUnitReport<W, Out: io::Write>(writer::JUnit<W, Out>);

impl<W: Debug, Out: io::Write> JUnitReport<W, Out> {
    /// A report written to `out` when the run finishes.
    pub fn new(out: Out) -> Self {
        Self(writer::JUnit::raw(out, writer::Verbosity::Default))
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
        self.0.handle_event(event, &cli.inner).await;
    }
}

impl<W: World + Debug, Out: io::Write, Value> writer::Arbitrary<W, Value> for JUnitReport<W, Out> {
    async fn write(&mut self, _: Value) {}
}

impl<W, Out: io::Write> writer::NonTransforming for JUnitReport<W, Out> {}
