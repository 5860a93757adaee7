//! The plugin development kit: what a plugin sees of a request, after Kong's PDK (`kong/pdk/`).
//! Runs on every proxied request, from the access phase to the header_filter phase.
//!
//! [`Ctx`] is `kong.request` (readers of the client's request: [`request`]), `kong.service.request`
//! (changes to the request as it goes upstream: [`service`]), `kong.client` (the authenticated
//! consumer: [`client`]) and `kong.ctx` ([`PluginState`]); [`response`] holds the exits a plugin
//! ends a request with (`kong.response.exit` / `kong.response.error`); [`body`] the request body,
//! streamed unless a plugin reads it, and never buffered past Kong's `client_body_buffer_size`.
//! Plugins read the request only through these readers, so every plugin reads it the same way.
//!
//! The PDK depends on nothing of the proxy; the proxy builds a [`Ctx`] per request.

pub mod body;
pub mod client;
pub mod request;
pub mod response;
pub mod service;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;

use http::HeaderMap;

use crate::model::Consumer;
use crate::snapshot::Snapshot;

pub use body::{Body, BoxError, CLIENT_BODY_BUFFER_SIZE, RequestBody};
pub use client::Credential;
pub use request::{Arg, BasicError};
pub use response::{Exit, Flow, JSON_CONTENT_TYPE};

/// Kong's upstream header names (`kong/constants.lua` lines 116-127).
pub mod headers {
    use http::HeaderName;
    pub const CONSUMER_ID: HeaderName = HeaderName::from_static("x-consumer-id");
    pub const CONSUMER_CUSTOM_ID: HeaderName = HeaderName::from_static("x-consumer-custom-id");
    pub const CONSUMER_USERNAME: HeaderName = HeaderName::from_static("x-consumer-username");
    pub const CREDENTIAL_IDENTIFIER: HeaderName =
        HeaderName::from_static("x-credential-identifier");
    pub const AUTHENTICATED_GROUPS: HeaderName = HeaderName::from_static("x-authenticated-groups");
    pub const ANONYMOUS: HeaderName = HeaderName::from_static("x-anonymous-consumer");
    pub const REQUEST_ID: HeaderName = crate::kong_headers::REQUEST_ID;
}

/// Values plugins keep between their phases, one per type (`kong.ctx.plugin`).
#[derive(Default)]
pub struct PluginState {
    slots: Vec<Box<dyn std::any::Any + Send + Sync>>,
}

impl PluginState {
    /// Stores a value, replacing one of the same type.
    pub fn insert<T: Send + Sync + 'static>(&mut self, value: T) {
        self.remove::<T>();
        self.slots.push(Box::new(value));
    }

    /// Takes the value of type `T` out, if any.
    pub fn remove<T: Send + Sync + 'static>(&mut self) -> Option<T> {
        let i = self.slots.iter().position(|s| s.is::<T>())?;
        self.slots.swap_remove(i).downcast::<T>().ok().map(|b| *b)
    }
}

/// Everything about one proxied request that plugins read and change.
pub struct Ctx {
    /// Unix seconds, from the gateway's clock.
    pub now: u64,
    /// The request as it will be sent upstream: plugins read it through the [`request`] readers
    /// and change it through the [`service`] setters.
    pub request: http::request::Parts,
    /// The request body.
    pub body: RequestBody,
    /// The most body bytes read into memory for plugins (`client_body_buffer_size`).
    pub body_buffer_size: usize,
    /// The client's address.
    pub client_addr: SocketAddr,
    /// The port of the listener the request came in on (nginx's `$server_port`), when known.
    pub server_port: Option<u16>,
    /// The running configuration this request uses.
    pub snapshot: Arc<Snapshot>,
    /// Matched route and service ids.
    pub route_id: Arc<str>,
    pub service_id: Option<Arc<str>>,
    /// `kong.client.get_consumer()`.
    pub consumer: Option<Arc<Consumer>>,
    /// `kong.client.get_credential()`.
    pub credential: Option<Credential>,
    /// `ngx.ctx.authenticated_groups`.
    pub authenticated_groups: Option<Vec<String>>,
    /// Headers for the client response, added before the header_filter phase (e.g. `Set-Cookie`).
    pub response_headers: HeaderMap,
    /// State a plugin keeps between its own phases (`kong.ctx.plugin` / `kong.ctx.shared`).
    pub state: PluginState,
    /// The captures of the regex path the route matched by (`kong.request.get_uri_captures()`).
    pub uri_captures: Option<crate::router::UriCaptures>,
    request_id: Option<String>,
}

impl Ctx {
    /// A context for a request matched to `route_id`.
    pub fn new(
        now: u64,
        request: http::request::Parts,
        body: RequestBody,
        client_addr: SocketAddr,
        snapshot: Arc<Snapshot>,
        route_id: Arc<str>,
        service_id: Option<Arc<str>>,
    ) -> Self {
        Self {
            now,
            request,
            body,
            body_buffer_size: CLIENT_BODY_BUFFER_SIZE,
            client_addr,
            server_port: None,
            snapshot,
            route_id,
            service_id,
            consumer: None,
            credential: None,
            authenticated_groups: None,
            response_headers: HeaderMap::new(),
            state: PluginState::default(),
            uri_captures: None,
            request_id: None,
        }
    }

    /// The client's IP address as a header value (`X-Real-IP`, `X-Forwarded-For`).
    pub fn client_ip(&self) -> http::HeaderValue {
        // An IP address's text is always a valid header value.
        http::HeaderValue::try_from(self.client_addr.ip().to_string())
            .unwrap_or(http::HeaderValue::from_static("unknown"))
    }

    /// Kong's per-request id (`X-Kong-Request-Id`), made on first use.
    pub fn request_id(&mut self) -> &str {
        self.request_id
            .get_or_insert_with(crate::kong_headers::new_request_id)
    }
}

/// Percent-decodes one query component (`+` is a space).
pub fn decode_component(s: &str) -> String {
    form_urlencoded::parse(format!("k={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}
