//! What nginx refuses before Kong sees a request, with Kong's answers (`kong/error_handlers.lua`):
//!
//! * a request line longer than one `large_client_header_buffers` buffer (8k): 414 `URI too long`;
//! * a header line longer than one buffer, or a header block longer than all four (32k): 400
//!   `Request header or cookie too large` (nginx's 494);
//! * more than one `Host` header: 400 `Bad request` (nginx: "client sent duplicate host header");
//! * a `%` in the path not followed by two hex digits: 400 `Bad request` (`ngx_http_parse_complex_uri`), so
//!   that a stray `%` cannot pair with digits the normaliser decodes into a new escape.
//!
//! And one rule of RFC 9112 §3.2.2: a request in absolute form (`GET http://host/path`) is for the host its
//! URI names, whatever its `Host` header says; the `Host` header is replaced by the URI's authority before
//! routing, so routes, `preserve_host` and `X-Forwarded-Host` all see the one host.
//!
//! Runs first in [`super::handle`], once per request.

use http::HeaderValue;
use http::header::HOST;
use http::request::Parts;

use crate::error::ProxyError;

/// One `large_client_header_buffers` buffer (nginx default `4 8k`).
pub const BUFFER: usize = 8 * 1024;
/// All four buffers.
pub const MAX_HEADER_BLOCK: usize = 4 * BUFFER;

/// Applies nginx's limits and the absolute-form rule to a request head.
pub fn check(parts: &mut Parts) -> Result<(), ProxyError> {
    // "GET " + target + " HTTP/1.1\r\n"
    let target_len = parts.uri.path_and_query().map_or(1, |pq| pq.as_str().len())
        + parts
            .uri
            .authority()
            .map_or(0, |a| a.as_str().len() + "http://".len());
    if parts.method.as_str().len() + target_len + 12 > BUFFER {
        return Err(ProxyError::UriTooLong);
    }
    let mut total = 0usize;
    for (name, value) in &parts.headers {
        let line = name.as_str().len() + 2 + value.len() + 2;
        if line > BUFFER {
            return Err(ProxyError::HeaderTooLarge);
        }
        total += line;
    }
    if total > MAX_HEADER_BLOCK {
        return Err(ProxyError::HeaderTooLarge);
    }
    if !crate::router::escapes_are_valid(parts.uri.path()) {
        return Err(ProxyError::BadRequest(
            "a % not followed by two hex digits".to_owned(),
        ));
    }
    if parts.headers.get_all(HOST).iter().nth(1).is_some() {
        return Err(ProxyError::BadRequest("duplicate Host header".to_owned()));
    }
    if let Some(authority) = parts.uri.authority() {
        let value = HeaderValue::from_str(authority.as_str())
            .map_err(|_| ProxyError::BadRequest("invalid authority".to_owned()))?;
        parts.headers.insert(HOST, value);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
