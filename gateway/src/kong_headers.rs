//! Kong's standard headers (`kong/constants.lua` lines 109-131 `HEADERS`): which ones the gateway
//! adds to client responses and to upstream requests, chosen like Kong's `headers` and
//! `headers_upstream` settings (`kong.conf.default` lines 867-927; parsed as
//! `kong/conf_loader/init.lua` lines 905-951, checked as `kong/conf_loader/parse.lua` lines
//! 485-501), and the values they carry (`kong/runloop/handler.lua` lines 1383-1388 and 1566-1635,
//! `kong/init.lua` lines 1907-1939 for the Admin API).
//!
//! Every value that does not depend on the request is built once ([`SERVER_TOKENS`],
//! [`VIA_OUTBOUND`]); per request only the latencies are formatted and the request id made.

use std::cell::Cell;
use std::time::Instant;

use http::{HeaderMap, HeaderName, HeaderValue, Version};

/// `meta._SERVER_TOKENS` (`kong/meta.lua`): `kong/<version>`.
pub const SERVER_TOKENS: HeaderValue = HeaderValue::from_static("kong/3.10.0");
/// The `Via` Kong adds to a proxied response: `<proxy_http_version> <server tokens>`, with Kong's
/// default `proxy_http_version` 1.1 (`kong/runloop/handler.lua` lines 1580-1600).
pub const VIA_OUTBOUND: HeaderValue = HeaderValue::from_static("1.1 kong/3.10.0");

pub const VIA: HeaderName = http::header::VIA;
pub const SERVER: HeaderName = http::header::SERVER;
pub const PROXY_LATENCY: HeaderName = HeaderName::from_static("x-kong-proxy-latency");
pub const RESPONSE_LATENCY: HeaderName = HeaderName::from_static("x-kong-response-latency");
pub const ADMIN_LATENCY: HeaderName = HeaderName::from_static("x-kong-admin-latency");
pub const UPSTREAM_LATENCY: HeaderName = HeaderName::from_static("x-kong-upstream-latency");
pub const UPSTREAM_STATUS: HeaderName = HeaderName::from_static("x-kong-upstream-status");
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-kong-request-id");

/// Which of Kong's headers are on (`conf.enabled_headers` / `conf.enabled_headers_upstream`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KongHeaders {
    pub server: bool,
    pub via: bool,
    pub proxy_latency: bool,
    pub response_latency: bool,
    pub admin_latency: bool,
    pub upstream_latency: bool,
    pub upstream_status: bool,
    pub request_id: bool,
    /// `headers_upstream = X-Kong-Request-Id`: the id sent to the upstream.
    pub upstream_request_id: bool,
}

impl Default for KongHeaders {
    /// Kong 3.10's defaults (`kong/templates/kong_defaults.lua`): `headers = server_tokens,
    /// latency_tokens, X-Kong-Request-Id`, `headers_upstream = x-kong-request-id`.
    fn default() -> Self {
        Self {
            server: true,
            via: true,
            proxy_latency: true,
            response_latency: true,
            admin_latency: true,
            upstream_latency: true,
            upstream_status: false,
            request_id: true,
            upstream_request_id: true,
        }
    }
}

impl KongHeaders {
    /// None of the headers (`headers = off`, `headers_upstream = off`).
    pub const OFF: Self = Self {
        server: false,
        via: false,
        proxy_latency: false,
        response_latency: false,
        admin_latency: false,
        upstream_latency: false,
        upstream_status: false,
        request_id: false,
        upstream_request_id: false,
    };

    /// Kong's `headers` and `headers_upstream` values: comma-separated tokens, case-insensitive;
    /// `off` as the first token turns all off. An unknown token is Kong's error
    /// (`headers: invalid entry 'x'`).
    pub fn parse(headers: &str, headers_upstream: &str) -> Result<Self, String> {
        let mut out = Self::OFF;
        let tokens = |s: &str| -> Vec<String> {
            s.split(',')
                .map(|t| t.trim().to_ascii_lowercase())
                .filter(|t| !t.is_empty())
                .collect()
        };
        let down = tokens(headers);
        for token in &down {
            match token.as_str() {
                "off" => {}
                "server_tokens" => (out.server, out.via) = (true, true),
                "latency_tokens" => {
                    out.proxy_latency = true;
                    out.response_latency = true;
                    out.admin_latency = true;
                    out.upstream_latency = true;
                }
                "via" => out.via = true,
                "server" => out.server = true,
                "x-kong-proxy-latency" => out.proxy_latency = true,
                "x-kong-response-latency" => out.response_latency = true,
                "x-kong-admin-latency" => out.admin_latency = true,
                "x-kong-upstream-latency" => out.upstream_latency = true,
                "x-kong-upstream-status" => out.upstream_status = true,
                "x-kong-request-id" => out.request_id = true,
                _ => return Err(format!("headers: invalid entry '{token}'")),
            }
        }
        if down.first().is_some_and(|t| t == "off") {
            out = Self::OFF;
        }
        let up = tokens(headers_upstream);
        for token in &up {
            match token.as_str() {
                "off" => {}
                "x-kong-request-id" => out.upstream_request_id = true,
                _ => return Err(format!("headers_upstream: invalid entry '{token}'")),
            }
        }
        if up.first().is_some_and(|t| t == "off") {
            out.upstream_request_id = false;
        }
        Ok(out)
    }

    /// The headers of a response the gateway produced itself (a plugin's exit, an error, no
    /// route): `X-Kong-Response-Latency` and `Server` replacing any (unless a plugin set `Via` to
    /// the server tokens), as `header_filter.after` for a request not proxied.
    pub fn produced(&self, headers: &mut HeaderMap, start: Instant) {
        if self.response_latency {
            headers.insert(RESPONSE_LATENCY, millis(start.elapsed().as_millis()));
        }
        if !(self.via && headers.get(VIA) == Some(&SERVER_TOKENS)) {
            if self.server {
                headers.insert(SERVER, SERVER_TOKENS);
            } else {
                headers.remove(SERVER);
            }
        }
    }

    /// The headers of a proxied response: the upstream's and Kong's latencies in milliseconds,
    /// Kong's `Via` after the upstream's, `Server` only if the upstream sent none.
    pub fn proxied(
        &self,
        headers: &mut HeaderMap,
        waiting_ms: u128,
        proxy_latency_ms: u128,
        upstream_status: http::StatusCode,
    ) {
        if self.upstream_status {
            headers.insert(
                UPSTREAM_STATUS,
                millis(u128::from(upstream_status.as_u16())),
            );
        }
        if self.upstream_latency {
            headers.insert(UPSTREAM_LATENCY, millis(waiting_ms));
        }
        if self.proxy_latency {
            headers.insert(PROXY_LATENCY, millis(proxy_latency_ms));
        }
        if self.via {
            let via = match headers.get(VIA).map(HeaderValue::as_bytes) {
                Some(theirs) => {
                    let mut v = Vec::with_capacity(theirs.len() + 17);
                    v.extend_from_slice(theirs);
                    v.extend_from_slice(b", ");
                    v.extend_from_slice(VIA_OUTBOUND.as_bytes());
                    HeaderValue::from_bytes(&v).unwrap_or(VIA_OUTBOUND)
                }
                None => VIA_OUTBOUND,
            };
            headers.insert(VIA, via);
        }
        if self.server && !headers.contains_key(SERVER) {
            headers.insert(SERVER, SERVER_TOKENS);
        }
    }

    /// The Admin API's headers (`Kong.admin_header_filter`): `X-Kong-Admin-Latency` and `Server`.
    pub fn admin(&self, headers: &mut HeaderMap, start: Instant) {
        if self.admin_latency {
            headers.insert(ADMIN_LATENCY, millis(start.elapsed().as_millis()));
        }
        if self.server {
            headers.insert(SERVER, SERVER_TOKENS);
        } else {
            headers.remove(SERVER);
        }
    }
}

/// The `Via` Kong sends upstream: the client's `Via`, then `<client HTTP version> kong/<version>`
/// (`kong/runloop/handler.lua` lines 1383-1388; `ngx.req.http_version()` printed as Lua prints a
/// number: `1`, `1.1`, `2`).
pub fn inbound_via(headers: &mut HeaderMap, version: Version) {
    let ours: &'static str = match version {
        Version::HTTP_10 => "1 kong/3.10.0",
        Version::HTTP_2 => "2 kong/3.10.0",
        Version::HTTP_3 => "3 kong/3.10.0",
        _ => "1.1 kong/3.10.0",
    };
    let value = match headers.get(VIA).and_then(|v| v.to_str().ok()) {
        Some(theirs) => HeaderValue::from_str(&format!("{theirs}, {ours}"))
            .unwrap_or(HeaderValue::from_static(ours)),
        None => HeaderValue::from_static(ours),
    };
    headers.insert(VIA, value);
}

fn millis(ms: u128) -> HeaderValue {
    HeaderValue::from(u64::try_from(ms).unwrap_or(u64::MAX))
}

thread_local! {
    static RNG: Cell<u64> = Cell::new(seed());
}

/// A per-thread seed from the system's random source (once per thread).
fn seed() -> u64 {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let mut seed = [0u8; 8];
    seed.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(seed) | 1
}

/// wyrand: a fast non-cryptographic generator; request ids are identifiers, not secrets.
fn next_u64() -> u64 {
    RNG.with(|state| {
        let s = state.get().wrapping_add(0xa076_1d64_78bd_642f);
        state.set(s);
        let t = u128::from(s) * u128::from(s ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) as u64) ^ (t as u64)
    })
}

/// A new request id in the form of nginx's `$request_id` (Kong's `$kong_request_id`): 16 random
/// bytes as 32 lowercase hex digits.
pub fn new_request_id() -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(32);
    for word in [next_u64(), next_u64()] {
        for i in (0..16).rev() {
            out.push(char::from(HEX[((word >> (i * 4)) & 0xf) as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_kong_3_10s() {
        let parsed = KongHeaders::parse(
            "server_tokens, latency_tokens, X-Kong-Request-Id",
            "X-Kong-Request-Id",
        )
        .unwrap();
        assert_eq!(parsed, KongHeaders::default());
    }

    #[test]
    fn off_turns_everything_off() {
        assert_eq!(KongHeaders::parse("off", "off").unwrap(), KongHeaders::OFF);
        let only_upstream = KongHeaders::parse("off", "x-kong-request-id").unwrap();
        assert!(only_upstream.upstream_request_id && !only_upstream.request_id);
    }

    #[test]
    fn tokens_are_case_insensitive_and_single() {
        let h = KongHeaders::parse("via, X-KONG-UPSTREAM-LATENCY", "").unwrap();
        assert!(h.via && h.upstream_latency);
        assert!(!h.server && !h.proxy_latency && !h.request_id && !h.upstream_request_id);
    }

    #[test]
    fn unknown_tokens_are_kongs_errors() {
        assert_eq!(
            KongHeaders::parse("server_tokens, foo", "").unwrap_err(),
            "headers: invalid entry 'foo'"
        );
        assert_eq!(
            KongHeaders::parse("", "via").unwrap_err(),
            "headers_upstream: invalid entry 'via'"
        );
    }

    #[test]
    fn proxied_appends_via_and_keeps_the_upstreams_server() {
        let mut h = HeaderMap::new();
        h.insert(VIA, HeaderValue::from_static("1.1 upstream"));
        h.insert(SERVER, HeaderValue::from_static("gunicorn"));
        KongHeaders::default().proxied(&mut h, 12, 3, http::StatusCode::OK);
        assert_eq!(h[VIA], "1.1 upstream, 1.1 kong/3.10.0");
        assert_eq!(h[SERVER], "gunicorn");
        assert_eq!(h[UPSTREAM_LATENCY], "12");
        assert_eq!(h[PROXY_LATENCY], "3");
        assert!(!h.contains_key(RESPONSE_LATENCY));
        assert!(!h.contains_key(UPSTREAM_STATUS));
    }

    #[test]
    fn produced_sets_server_and_response_latency() {
        let mut h = HeaderMap::new();
        h.insert(SERVER, HeaderValue::from_static("other"));
        KongHeaders::default().produced(&mut h, Instant::now());
        assert_eq!(h[SERVER], "kong/3.10.0");
        assert!(h[RESPONSE_LATENCY].to_str().unwrap().parse::<u64>().is_ok());
        assert!(!h.contains_key(VIA));
        let mut h = HeaderMap::new();
        h.insert(SERVER, HeaderValue::from_static("other"));
        KongHeaders::OFF.produced(&mut h, Instant::now());
        assert!(h.is_empty());
    }

    #[test]
    fn inbound_via_follows_the_clients() {
        let mut h = HeaderMap::new();
        inbound_via(&mut h, Version::HTTP_11);
        assert_eq!(h[VIA], "1.1 kong/3.10.0");
        inbound_via(&mut h, Version::HTTP_10);
        assert_eq!(h[VIA], "1.1 kong/3.10.0, 1 kong/3.10.0");
    }

    #[test]
    fn request_ids_look_like_nginxs_and_differ() {
        let a = new_request_id();
        let b = new_request_id();
        assert_eq!(a.len(), 32);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(a, b);
    }
}
