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
    #[error("{0}")]
    Declarative(String),
    #[error("invalid configuration: {0}")]
    Config(String),
}
