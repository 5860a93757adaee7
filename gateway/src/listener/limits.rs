//! The limits on client connections under nginx's and Kong's names, and the parsers for nginx's time and size
//! syntax (`ngx_parse_time`, `ngx_parse_offset`) their settings use. Read once at start-up.

use std::time::Duration;

/// The limits on client connections, with nginx's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientLimits {
    /// `client_header_timeout` (nginx default 60 s): the whole request header, and the first request of a
    /// new connection.
    pub header_timeout: Duration,
    /// `client_body_timeout` (nginx default 60 s): between two successive reads of the request body.
    pub body_timeout: Duration,
    /// `keepalive_timeout` (nginx default 75 s): an idle keep-alive connection before the next request.
    pub keepalive_timeout: Duration,
    /// `client_max_body_size` (Kong's default `0`: no limit). Bodies are streamed, never buffered whole: a
    /// `Content-Length` over the limit is refused with 413 before routing, and a chunked body is cut off as
    /// soon as it passes the limit.
    pub max_body_size: Option<u64>,
    /// `worker_connections`: connections open at once; further clients wait in the kernel's accept queue.
    /// Kong's default `nginx_events_worker_connections = auto` is the file-descriptor limit, at most 16384.
    pub max_connections: usize,
}

impl Default for ClientLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(60),
            keepalive_timeout: Duration::from_secs(75),
            max_body_size: None,
            max_connections: default_max_connections(),
        }
    }
}

/// Kong's `worker_connections auto`: the soft limit on open files (read from `/proc/self/limits`), less a
/// reserve for upstream connections and files, capped at 16384 (`kong/cmd/utils/prefix_handler.lua`).
fn default_max_connections() -> usize {
    const KONG_CAP: usize = 16384;
    let soft_limit = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|v| v.parse::<usize>().ok())
        });
    match soft_limit {
        // Half for clients: each proxied request may hold an upstream connection too.
        Some(limit) => (limit / 2).clamp(16, KONG_CAP),
        None => 1024,
    }
}

/// Parses an nginx time value (`60s`, `75`, `1m`, `500ms`, `1m30s`): the syntax of nginx's
/// `ngx_parse_time`. A bare number is seconds.
pub fn parse_nginx_time(value: &str) -> Result<Duration, String> {
    let invalid = || format!("invalid nginx time value '{value}' (e.g. 60s, 500ms, 1m)");
    let value = value.trim();
    if value.is_empty() {
        return Err(invalid());
    }
    let mut total = Duration::ZERO;
    let mut rest = value;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(invalid());
        }
        let number: u64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let millis_per_unit: u64 = match unit {
            "ms" => 1,
            "" | "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "M" => 2_592_000_000,
            "y" => 31_536_000_000,
            _ => return Err(invalid()),
        };
        let millis = number.checked_mul(millis_per_unit).ok_or_else(invalid)?;
        total = total
            .checked_add(Duration::from_millis(millis))
            .ok_or_else(invalid)?;
        if unit.is_empty() && !rest.is_empty() {
            return Err(invalid());
        }
    }
    Ok(total)
}

/// Parses an nginx size (`0`, `8k`, `10m`, `1g`; `ngx_parse_offset`), in bytes.
pub fn parse_nginx_size(value: &str) -> Result<u64, String> {
    let invalid = || format!("invalid nginx size '{value}' (e.g. 0, 8k, 10m, 1g)");
    let value = value.trim();
    let (digits, factor) = match value.as_bytes().last() {
        Some(b'k' | b'K') => (&value[..value.len() - 1], 1024),
        Some(b'm' | b'M') => (&value[..value.len() - 1], 1024 * 1024),
        Some(b'g' | b'G') => (&value[..value.len() - 1], 1024 * 1024 * 1024),
        _ => (value, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .ok_or_else(invalid)
}
