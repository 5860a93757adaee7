//! libtest's command line, made acceptable to cucumber's.
//!
//! `cargo test` users pass libtest options by habit (`cargo test -- --nocapture`), and `cargo test <filter>`
//! passes the filter to every test binary, this one included. clap would reject the whole line for any of them
//! (cucumber-rs/cucumber#337), so they are translated first: libtest's own options are dropped, and bare
//! positional filters are set apart, to select the scenarios whose name contains one of them (libtest's rule for
//! test names). `--list` (asked by IDEs and test runners) lists nothing: scenarios are not libtest tests.

use std::ffi::OsString;

/// libtest flags without a value: accepted and ignored.
const FLAGS: &[&str] = &[
    "--nocapture",
    "--show-output",
    "--quiet",
    "-q",
    "--exact",
    "--ignored",
    "--include-ignored",
    "--report-time",
    "--ensure-time",
    "--force-run-in-process",
    "--test",
    "--bench",
];

/// libtest options with a value (`--option value` or `--option=value`): accepted and ignored.
const OPTIONS: &[&str] = &[
    "--test-threads",
    "--skip",
    "--format",
    "-Z",
    "--shuffle-seed",
    "--logfile",
];

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Invocation {
    /// `--list`: list the tests (there are none in libtest's sense) and run nothing.
    List,
    /// Run the scenarios.
    Run {
        /// The command line for `cucumber::cli::Opts`.
        args: Vec<OsString>,
        /// Positional filters: run only scenarios whose name contains one of them (all when empty).
        filters: Vec<String>,
    },
}

/// Translates `args` (program name first). `command` describes cucumber's options, so that the value of one of
/// them (`--tags @session`) is never taken for a positional filter.
pub fn translate(args: impl IntoIterator<Item = OsString>, command: &clap::Command) -> Invocation {
    let mut args = args.into_iter();
    let mut kept: Vec<OsString> = args.next().into_iter().collect();
    let mut filters = Vec::new();
    while let Some(arg) = args.next() {
        let Some(text) = arg.to_str() else {
            kept.push(arg);
            continue;
        };
        let option = text.split_once('=').map_or(text, |(name, _)| name);
        if text == "--list" {
            return Invocation::List;
        } else if FLAGS.contains(&text) || (OPTIONS.contains(&option) && option != text) {
            // A flag, or an option with its value attached.
        } else if OPTIONS.contains(&text) {
            args.next();
        } else if !text.starts_with('-') {
            filters.push(text.to_owned());
        } else {
            let value_follows = option == text && takes_value(command, text);
            kept.push(arg);
            if value_follows && let Some(value) = args.next() {
                kept.push(value);
            }
        }
    }
    Invocation::Run {
        args: kept,
        filters,
    }
}

/// Whether `flag` (`--tags`, `-t`) is one of `command`'s options that take a value.
fn takes_value(command: &clap::Command, flag: &str) -> bool {
    command.get_arguments().any(|arg| {
        let named = match flag.strip_prefix("--") {
            Some(long) => {
                arg.get_long() == Some(long)
                    || arg.get_all_aliases().is_some_and(|a| a.contains(&long))
            }
            None => {
                let mut chars = flag.chars().skip(1);
                flag.len() == 2 && chars.next() == arg.get_short()
            }
        };
        named && arg.get_action().takes_values()
    })
}
