//! The gateway's own log (Kong's error log): where it goes (`proxy_error_log`, default stderr), how much
//! (`log_level`, Kong's levels), and how it looks (text, or our JSON for log shippers). Set up once by the
//! binary before anything logs.
//!
//! `log_level` sets the gateway's level; the libraries under it stay at `warn`, unless `RUST_LOG` is set, which
//! then decides everything (tracing's `EnvFilter` syntax). Colours only when the log is a terminal and
//! `NO_COLOR` is unset.

use std::io::IsTerminal;
use std::sync::Mutex;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::listener::access_log::{Format, Target};

/// Kong's `log_level` default (`kong/templates/kong_defaults.lua`).
pub const DEFAULT_LOG_LEVEL: &str = "notice";

/// Kong's `log_level` (nginx's error-log levels, `kong.conf.default`) as a tracing level: `debug`, `info`,
/// `notice` (tracing has no notice: info), `warn`, `error`, and `crit`, `alert`, `emerg` (error).
///
/// # Errors
/// The levels Kong accepts, when `value` is not one.
pub fn parse_log_level(value: &str) -> Result<tracing::Level, String> {
    use tracing::Level;
    Ok(match value.trim().to_ascii_lowercase().as_str() {
        "debug" => Level::DEBUG,
        "info" | "notice" => Level::INFO,
        "warn" => Level::WARN,
        "error" | "crit" | "alert" | "emerg" => Level::ERROR,
        other => {
            return Err(format!(
                "log_level has an invalid value: '{other}' (expected one of: debug, info, notice, warn, error, crit, alert, emerg)"
            ));
        }
    })
}

/// Installs the global subscriber.
///
/// # Errors
/// When the error log file cannot be opened, or a subscriber is already installed.
pub fn init(level: tracing::Level, target: &Target, format: Format) -> Result<(), String> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => {
            tracing_subscriber::EnvFilter::try_new(directives)
                .map_err(|e| format!("RUST_LOG: {e}"))?
        }
        _ => tracing_subscriber::EnvFilter::new(format!(
            "warn,gateway={}",
            level.as_str().to_ascii_lowercase()
        )),
    };
    let colour_allowed = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let (writer, terminal) = match target {
        Target::Stdout => (
            BoxMakeWriter::new(std::io::stdout),
            std::io::stdout().is_terminal(),
        ),
        Target::Off | Target::Stderr => (
            BoxMakeWriter::new(std::io::stderr),
            std::io::stderr().is_terminal(),
        ),
        Target::File(_) => {
            let file = target
                .open()
                .map_err(|e| format!("proxy_error_log: {e}"))?
                .ok_or("proxy_error_log: no file")?;
            (BoxMakeWriter::new(Mutex::new(file)), false)
        }
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(terminal && colour_allowed);
    let installed = match format {
        Format::Text => builder.try_init(),
        Format::Json => builder.event_format(JsonLines).try_init(),
    };
    installed.map_err(|e| e.to_string())
}

/// One JSON object per event: `time` (RFC 3339, UTC), `level`, `target`, `message` and the event's fields.
#[derive(Debug, Clone, Copy)]
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        let t = crate::listener::access_log::utc(std::time::SystemTime::now());
        let mut fields = Map::new();
        fields.insert(
            "time".to_owned(),
            Value::String(format!(
                "{}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                t.year, t.month, t.day, t.hour, t.minute, t.second, t.millis
            )),
        );
        fields.insert(
            "level".to_owned(),
            Value::String(meta.level().as_str().to_ascii_lowercase()),
        );
        fields.insert("target".to_owned(), Value::String(meta.target().to_owned()));
        event.record(&mut JsonFields(&mut fields));
        writeln!(writer, "{}", Value::Object(fields))
    }
}

/// Collects an event's fields as JSON values.
struct JsonFields<'a>(&'a mut Map<String, Value>);

impl Visit for JsonFields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), Value::String(format!("{value:?}")));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .insert(field.name().to_owned(), Value::String(value.to_owned()));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::Bool(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kongs_levels_map_onto_tracing() {
        assert_eq!(parse_log_level("notice"), Ok(tracing::Level::INFO));
        assert_eq!(parse_log_level("CRIT"), Ok(tracing::Level::ERROR));
        assert_eq!(parse_log_level("debug"), Ok(tracing::Level::DEBUG));
        assert!(parse_log_level("verbose").is_err());
    }
}
