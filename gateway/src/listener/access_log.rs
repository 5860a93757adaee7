//! The proxy's access log (Kong's `proxy_access_log`): one line per request in Kong's `kong_log_format`, nginx's
//! `combined` format followed by the request id (`kong/templates/nginx_kong.lua`):
//!
//! ```text
//! $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" kong_request_id: "$kong_request_id"
//! ```
//!
//! or, with our `GATEWAY_LOG_FORMAT=json`, one JSON object per line with those variables as keys.
//!
//! Off the hot path: the request task only moves an [`Entry`] (reference-counted header values, no formatting)
//! into a bounded queue without waiting ([`std::sync::mpsc::SyncSender::try_send`]); a dedicated thread formats
//! and writes through a buffer, flushing whenever the queue is empty. When the writer cannot keep up, lines are
//! dropped and counted rather than slowing requests, and the count is reported in the error log.
//!
//! One deliberate difference from Kong: nginx logs `$request` as sent, query string included, so a key sent as
//! `?apikey=...` (or an OAuth `code`/`access_token`) lands in Kong's access log. Here every query value is
//! written as `REDACTED` (names are kept), since credentials must never reach a log. `$remote_user` is the user
//! name of Basic credentials, as nginx logs it; the password never is.

use std::io::{self, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::SystemTime;

use base64::Engine as _;
use http::{HeaderValue, Method, Uri, Version};

/// Lines that may wait for the writer before new ones are dropped.
pub const QUEUE_LINES: usize = 16 * 1024;

/// What a query value is written as.
pub const REDACTED: &str = "REDACTED";

/// Where a log goes (Kong's `proxy_access_log` / `proxy_error_log` value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `off`: nothing is written.
    Off,
    /// `stdout` or `/dev/stdout`.
    Stdout,
    /// `stderr` or `/dev/stderr`.
    Stderr,
    /// A file, appended to (a relative path is relative to the prefix, as Kong's `logs/access.log`).
    File(PathBuf),
}

impl Target {
    /// Parses a setting's value; `prefix` anchors a relative path.
    #[must_use]
    pub fn parse(value: &str, prefix: &std::path::Path) -> Self {
        match value.trim() {
            "off" => Self::Off,
            "" | "stdout" | "/dev/stdout" => Self::Stdout,
            "stderr" | "/dev/stderr" => Self::Stderr,
            path => {
                let path = PathBuf::from(path);
                Self::File(if path.is_absolute() {
                    path
                } else {
                    prefix.join(path)
                })
            }
        }
    }

    /// Opens the target for writing (`None` for `off`).
    ///
    /// # Errors
    /// Why a file cannot be opened (its directory is created first).
    pub fn open(&self) -> io::Result<Option<Box<dyn Write + Send>>> {
        Ok(match self {
            Self::Off => None,
            Self::Stdout => Some(Box::new(io::stdout())),
            Self::Stderr => Some(Box::new(io::stderr())),
            Self::File(path) => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                Some(Box::new(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)?,
                ))
            }
        })
    }
}

/// How log lines look: Kong's text lines, or JSON objects (our `GATEWAY_LOG_FORMAT`; Kong has no such setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Kong's (nginx's) text lines.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        match value.trim() {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!("expected 'text' or 'json', got '{other}'")),
        }
    }
}

/// One request, as the access log needs it. Moved to the writer thread as it is; formatted there.
pub struct Entry {
    /// `$remote_addr`.
    pub client: IpAddr,
    /// When the request arrived.
    pub time: SystemTime,
    /// The request line's parts.
    pub method: Method,
    /// The request target (its query values are redacted when written).
    pub uri: Uri,
    /// The protocol.
    pub version: Version,
    /// `$status`.
    pub status: u16,
    /// `$body_bytes_sent`.
    pub bytes: u64,
    /// `Referer`.
    pub referer: Option<HeaderValue>,
    /// `User-Agent`.
    pub user_agent: Option<HeaderValue>,
    /// `Authorization`, only ever read for the user name of Basic credentials.
    pub authorization: Option<HeaderValue>,
    /// `$kong_request_id`.
    pub request_id: Option<Arc<str>>,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("method", &self.method)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// The sending side of an access log; cheap to clone.
#[derive(Clone, Debug)]
pub struct AccessLog {
    tx: SyncSender<Entry>,
    dropped: Arc<AtomicU64>,
}

impl AccessLog {
    /// Starts the writer thread for `target` (`None` for `off`).
    ///
    /// # Errors
    /// When the target cannot be opened or the thread not started.
    pub fn start(target: &Target, format: Format) -> io::Result<Option<Self>> {
        let Some(out) = target.open()? else {
            return Ok(None);
        };
        let (tx, rx) = sync_channel(QUEUE_LINES);
        let dropped = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&dropped);
        std::thread::Builder::new()
            .name("access-log".to_owned())
            .spawn(move || write_lines(&rx, out, format, &counted))?;
        Ok(Some(Self { tx, dropped }))
    }

    /// Queues one line; never waits. A full queue drops the line (and counts it).
    pub fn log(&self, entry: Entry) {
        match self.tx.try_send(entry) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The writer thread: formats and writes each queued entry, flushes when the queue is empty, returns when
/// every sender is gone.
fn write_lines(
    rx: &Receiver<Entry>,
    out: Box<dyn Write + Send>,
    format: Format,
    dropped: &AtomicU64,
) {
    let mut out = io::BufWriter::with_capacity(64 * 1024, out);
    let mut line = String::with_capacity(512);
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(entry) = next {
            line.clear();
            render(&entry, format, &mut line);
            if out.write_all(line.as_bytes()).is_err() {
                dropped.fetch_add(1, Ordering::Relaxed);
            }
            next = rx.try_recv().ok();
        }
        let _ = out.flush();
        let lost = dropped.swap(0, Ordering::Relaxed);
        if lost > 0 {
            tracing::warn!(
                lines = lost,
                "access log lines dropped: the writer could not keep up"
            );
        }
    }
    let _ = out.flush();
}

/// One line, newline included.
pub fn render(entry: &Entry, format: Format, line: &mut String) {
    use std::fmt::Write as _;
    let user = entry.authorization.as_ref().and_then(basic_user);
    let target = redacted_target(&entry.uri);
    let protocol = match entry.version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    };
    let request = format!("{} {target} {protocol}", entry.method);
    let header = |v: &Option<HeaderValue>| {
        v.as_ref()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let (referer, agent) = (header(&entry.referer), header(&entry.user_agent));
    match format {
        Format::Text => {
            let dash = |v: Option<&str>| escape(v.filter(|v| !v.is_empty()).unwrap_or("-"));
            let _ = writeln!(
                line,
                "{} - {} [{}] \"{}\" {} {} \"{}\" \"{}\" kong_request_id: \"{}\"",
                entry.client,
                dash(user.as_deref()),
                time_local(entry.time),
                escape(&request),
                entry.status,
                entry.bytes,
                dash(referer.as_deref()),
                dash(agent.as_deref()),
                dash(entry.request_id.as_deref()),
            );
        }
        Format::Json => {
            let value = serde_json::json!({
                "time_local": time_local(entry.time),
                "remote_addr": entry.client.to_string(),
                "remote_user": user,
                "request": request,
                "status": entry.status,
                "body_bytes_sent": entry.bytes,
                "http_referer": referer,
                "http_user_agent": agent,
                "kong_request_id": entry.request_id.as_deref(),
            });
            let _ = writeln!(line, "{value}");
        }
    }
}

/// The path, and the query with every value replaced by [`REDACTED`].
fn redacted_target(uri: &Uri) -> String {
    let mut target = uri.path().to_owned();
    if let Some(query) = uri.query() {
        target.push('?');
        for (i, pair) in query.split('&').enumerate() {
            if i > 0 {
                target.push('&');
            }
            match pair.split_once('=') {
                Some((name, value)) if !value.is_empty() => {
                    target.push_str(name);
                    target.push('=');
                    target.push_str(REDACTED);
                }
                _ => target.push_str(pair),
            }
        }
    }
    target
}

/// The user name of `Authorization: Basic ...` (nginx's `$remote_user`).
fn basic_user(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?;
    let (scheme, encoded) = text.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    decoded.split_once(':').map(|(user, _)| user.to_owned())
}

/// nginx's default log escaping: `"`, `\`, control and non-ASCII bytes as `\xHH`.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte == b'"' || byte == b'\\' || !(0x20..0x7f).contains(&byte) {
            out.push_str(&format!("\\x{byte:02X}"));
        } else {
            out.push(char::from(byte));
        }
    }
    out
}

/// nginx's `$time_local`, in UTC: `02/Dec/2026:11:35:15 +0000`.
#[must_use]
pub fn time_local(time: SystemTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let t = crate::listener::access_log::utc(time);
    let month = MONTHS
        .get(usize::from(t.month).saturating_sub(1))
        .copied()
        .unwrap_or("Jan");
    format!(
        "{:02}/{month}/{}:{:02}:{:02}:{:02} +0000",
        t.day, t.year, t.hour, t.minute, t.second
    )
}

/// A UTC date and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utc {
    /// Year.
    pub year: i64,
    /// 1-12.
    pub month: u8,
    /// 1-31.
    pub day: u8,
    /// 0-23.
    pub hour: u8,
    /// 0-59.
    pub minute: u8,
    /// 0-59.
    pub second: u8,
    /// 0-999.
    pub millis: u16,
}

/// Splits a time into its UTC calendar parts (Howard Hinnant's `civil_from_days`).
#[must_use]
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub fn utc(time: SystemTime) -> Utc {
    let since = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = i64::try_from(since.as_secs()).unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Utc {
        year,
        month,
        day,
        hour: (rem / 3600) as u8,
        minute: (rem % 3600 / 60) as u8,
        second: (rem % 60) as u8,
        millis: since.subsec_millis() as u16,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn entry(uri: &str) -> Entry {
        Entry {
            client: [127, 0, 0, 1].into(),
            time: SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_675_315),
            method: Method::GET,
            uri: uri.parse().expect("uri"),
            version: Version::HTTP_11,
            status: 200,
            bytes: 17,
            referer: None,
            user_agent: Some(HeaderValue::from_static("curl/8.5.0")),
            authorization: Some(HeaderValue::from_static("Basic am9objpkb2U=")),
            request_id: Some(Arc::from("abc123")),
        }
    }

    #[test]
    fn a_line_is_kongs_log_format_with_query_values_redacted() {
        let mut line = String::new();
        render(
            &entry("/anything?apikey=s3cret&x=1&flag"),
            Format::Text,
            &mut line,
        );
        assert_eq!(
            line,
            "127.0.0.1 - john [02/Dec/2025:11:35:15 +0000] \"GET /anything?apikey=REDACTED&x=REDACTED&flag HTTP/1.1\" \
             200 17 \"-\" \"curl/8.5.0\" kong_request_id: \"abc123\"\n"
        );
    }

    #[test]
    fn json_lines_carry_the_same_variables() {
        let mut line = String::new();
        render(&entry("/a?code=xyz"), Format::Json, &mut line);
        let value: serde_json::Value = serde_json::from_str(&line).expect("json");
        assert_eq!(value["request"], "GET /a?code=REDACTED HTTP/1.1");
        assert_eq!(value["remote_user"], "john");
        assert_eq!(value["status"], 200);
        assert_eq!(value["http_referer"], serde_json::Value::Null);
    }

    #[test]
    fn quotes_and_control_bytes_are_escaped_as_nginx_does() {
        assert_eq!(escape("a\"b\\c\n"), "a\\x22b\\x5Cc\\x0A");
    }

    #[test]
    fn calendar_dates_are_right_around_leap_days() {
        let at = |secs| utc(SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
        let t = at(951_782_400); // 2000-02-29T00:00:00Z
        assert_eq!((t.year, t.month, t.day), (2000, 2, 29));
        let t = at(0);
        assert_eq!((t.year, t.month, t.day, t.hour), (1970, 1, 1, 0));
    }
}
