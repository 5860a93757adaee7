//! The gateway's one error type for the proxy path, mapped to HTTP in one place
//! ([`ProxyError::into_exit`]): no route → 404, no service → 503, upstream failures → 502/504,
//! internal faults (e.g. an upstream URI that cannot be built) → 500. Runs when the proxy cannot
//! answer with a plugin's exit or the upstream's response. Plugins answer their own client faults
//! (401, 403) with [`Exit`]s.

use http::StatusCode;

use crate::pdk::Exit;

/// Kong's message when no route matches (`kong/router/...`).
pub const NO_ROUTE: &str = "no Route matched with those values";
/// Kong's message for a route without a service.
pub const NO_SERVICE: &str = "no Service found with those values";
/// Kong's 502 message (`kong/pdk/response.lua`).
pub const BAD_GATEWAY: &str = "An invalid response was received from the upstream server";
/// Kong's 504 message.
pub const UPSTREAM_TIMEOUT: &str = "The upstream server is timing out";
/// Kong's messages for the errors nginx raises itself (`kong/error_handlers.lua`, `BODIES`).
pub const BAD_REQUEST: &str = "Bad request";
pub const HEADER_TOO_LARGE: &str = "Request header or cookie too large";
pub const URI_TOO_LONG: &str = "URI too long";
pub const REQUEST_TIMEOUT: &str = "Request timeout";
pub const PAYLOAD_TOO_LARGE: &str = "Payload too large";
/// Kong's 500 message.
pub const UNEXPECTED: &str = "An unexpected error occurred";

/// Errors on the request path.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// 404: no route matches the request.
    #[error("no route matched")]
    NoRoute,
    /// 503: the route has no service.
    #[error("route has no service")]
    NoService,
    /// 502: the upstream could not be reached or sent an invalid response.
    #[error("upstream request failed: {0}")]
    Upstream(String),
    /// 504: the upstream did not answer in time.
    #[error("upstream timed out")]
    UpstreamTimeout,
    #[error("bad request: {0}")]
    BadRequest(String),
    /// A header line or the whole header block over nginx's `large_client_header_buffers` (4 × 8k).
    #[error("request header too large")]
    HeaderTooLarge,
    /// A request line over one `large_client_header_buffers` buffer (8k).
    #[error("request URI too long")]
    UriTooLong,
    /// A body over `client_max_body_size`.
    #[error("request body too large")]
    PayloadTooLarge,
    /// The client paused longer than `client_body_timeout` while sending its body.
    #[error("client body timed out")]
    ClientTimeout,
    /// 500: the gateway could not build the upstream request.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ProxyError {
    /// Kong's response for this error.
    pub fn into_exit(self, request_id: &str) -> Exit {
        let (status, message) = match &self {
            Self::NoRoute => (StatusCode::NOT_FOUND, NO_ROUTE),
            Self::NoService => (StatusCode::SERVICE_UNAVAILABLE, NO_SERVICE),
            Self::Upstream(_) => (StatusCode::BAD_GATEWAY, BAD_GATEWAY),
            Self::UpstreamTimeout => (StatusCode::GATEWAY_TIMEOUT, UPSTREAM_TIMEOUT),
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, BAD_REQUEST),
            // nginx's 494, sent as 400 (`kong/error_handlers.lua` BODIES[494]).
            Self::HeaderTooLarge => (StatusCode::BAD_REQUEST, HEADER_TOO_LARGE),
            Self::UriTooLong => (StatusCode::URI_TOO_LONG, URI_TOO_LONG),
            Self::ClientTimeout => (StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT),
            Self::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, PAYLOAD_TOO_LARGE),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, UNEXPECTED),
        };
        Exit::error(status, message, request_id)
    }
}

/// Start-up and embedding errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    /// The declarative file did not load (the message names the file, entry and field).
    #[error(transparent)]
    Declarative(#[from] crate::declarative::Error),
    #[error("invalid configuration: {0}")]
    Config(String),
    /// PostgreSQL unreachable, or its schema not ready (the message names the command to run).
    #[error("{0}")]
    Database(#[from] crate::store::StoreError),
}

/// Why the client's request body could not be read while it was forwarded: a malformed body (bad chunked
/// encoding, a connection closed early) or a client that paused longer than `client_body_timeout`. Carried
/// inside the upstream client's error, so that the proxy answers 400/408 (the client's fault) and not 502.
#[derive(Debug, thiserror::Error)]
pub enum ClientBodyError {
    #[error("client request body: {0}")]
    Broken(#[source] crate::pdk::BoxError),
    #[error("client_body_timeout: the client sent nothing for {0:?}")]
    TimedOut(std::time::Duration),
    #[error("client_max_body_size: the body is longer than {0} bytes")]
    TooLarge(u64),
}

impl ClientBodyError {
    /// The client-side cause somewhere in `err`'s source chain, if any.
    pub fn find<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a Self> {
        let mut current = Some(err);
        while let Some(e) = current {
            if let Some(found) = e.downcast_ref::<Self>() {
                return Some(found);
            }
            current = e.source();
        }
        None
    }
}
