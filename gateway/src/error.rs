//! The gateway's one error type for the proxy path, mapped to HTTP in one place
//! ([`ProxyError::into_exit`]): upstream failures → 502/504, client faults → 400, internal → 500.

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
/// Kong's 500 message.
pub const UNEXPECTED: &str = "An unexpected error occurred";

/// Errors on the request path.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("no route matched")]
    NoRoute,
    #[error("route has no service")]
    NoService,
    #[error("upstream request failed: {0}")]
    Upstream(String),
    #[error("upstream timed out")]
    UpstreamTimeout,
    #[error("bad request: {0}")]
    BadRequest(String),
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
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "Bad request"),
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
}
