//! `kong.response.exit` / `kong.response.error` (`kong/pdk/response.lua`): the response a plugin
//! ends a request with in the access phase, and the access phase's verdict.

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

/// JSON content type Kong uses for its own bodies.
pub const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// A response a plugin ends the request with (`kong.response.exit`).
#[derive(Debug, Clone)]
#[must_use = "an exit does nothing unless returned as Flow::Respond"]
pub struct Exit {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Exit {
    /// `kong.response.exit(status, {message = msg})`: compact JSON `{"message":"..."}`.
    pub fn message(status: StatusCode, message: &str) -> Self {
        let body = serde_json::json!({ "message": message }).to_string();
        Self::with_body(status, JSON_CONTENT_TYPE, Bytes::from(body))
    }

    /// `kong.response.error(status, msg)`: Kong's JSON error template with the request id
    /// (`kong/tools/http.lua` lines 397-401).
    pub fn error(status: StatusCode, message: &str, request_id: &str) -> Self {
        let escaped = serde_json::Value::String(message.to_owned()).to_string();
        let body = format!("{{\n  \"message\":{escaped},\n  \"request_id\":\"{request_id}\"\n}}");
        Self::with_body(status, JSON_CONTENT_TYPE, Bytes::from(body))
    }

    /// An exit with a raw body and content type.
    pub fn with_body(status: StatusCode, content_type: &str, body: Bytes) -> Self {
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(content_type) {
            headers.insert(CONTENT_TYPE, v);
        }
        headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
        Self {
            status,
            headers,
            body,
        }
    }

    /// An exit with no body (`Content-Length: 0`).
    pub fn empty(status: StatusCode) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_LENGTH, HeaderValue::from(0));
        Self {
            status,
            headers,
            body: Bytes::new(),
        }
    }

    /// Adds a header (e.g. `WWW-Authenticate`).
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }
}

/// A plugin's verdict in the access phase.
#[derive(Debug)]
#[must_use = "a Flow does nothing unless returned from the access phase"]
pub enum Flow {
    /// Go on with the next plugin, then the upstream.
    Continue,
    /// Stop here and answer the client (header_filter phases still run).
    Respond(Exit),
}
