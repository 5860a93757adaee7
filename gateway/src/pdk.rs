//! What a plugin sees of a request, after Kong's PDK (`kong/pdk/`): the request as it will go
//! upstream ([`Ctx::request`]), the authenticated client (`kong.client`), headers for the client
//! response, and exits (`kong.response.exit` / `kong.response.error`).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use http_body_util::BodyExt;

use crate::model::Consumer;
use crate::snapshot::Snapshot;

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
    pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-kong-request-id");
}

/// The error of a request or response body: the client's or upstream's connection failed, or a timer ran out.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// JSON content type Kong uses for its own bodies.
pub const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// The credential that authenticated the request (`ngx.ctx.authenticated_credential`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub id: String,
    pub consumer_id: String,
}

/// The request body: left as a stream for the upstream unless a plugin asks to read it.
#[derive(Debug, Default)]
pub enum RequestBody {
    /// Not read; forwarded as it arrives.
    Stream(crate::proxy::Body),
    /// Read into memory by a plugin (or empty).
    Buffered(Bytes),
    /// Reading failed (the client went away).
    #[default]
    Failed,
}

/// A query argument as Kong's `kong.request.get_query()` sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryArg {
    /// `?name` with no `=`: Lua `true`, not a string.
    Flag,
    /// One value.
    One(String),
    /// The name was repeated: a Lua table.
    Many,
}

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
    /// The request as it will be sent upstream: plugins add, change or remove headers here.
    pub request: http::request::Parts,
    /// The request body.
    pub body: RequestBody,
    /// The client's address.
    pub client_addr: SocketAddr,
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
            client_addr,
            snapshot,
            route_id,
            service_id,
            consumer: None,
            credential: None,
            authenticated_groups: None,
            response_headers: HeaderMap::new(),
            state: PluginState::default(),
            request_id: None,
        }
    }

    /// Kong's per-request id (`X-Kong-Request-Id`), made on first use.
    pub fn request_id(&mut self) -> &str {
        self.request_id
            .get_or_insert_with(|| uuid::Uuid::new_v4().simple().to_string())
    }

    /// The request id if one was made.
    pub fn request_id_if_any(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// `kong.request.get_header(name)`: the first value as a string.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.request.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Sets an upstream request header, or clears it when `value` is `None` or not a valid header value.
    pub fn set_upstream_header(&mut self, name: HeaderName, value: Option<&str>) {
        match value.and_then(|v| HeaderValue::from_str(v).ok()) {
            Some(v) => {
                self.request.headers.insert(name, v);
            }
            None => {
                self.request.headers.remove(name);
            }
        }
    }

    /// `kong.request.get_query()[name]` with Lua's view of flags and repeats.
    pub fn query_arg(&self, name: &str) -> Option<QueryArg> {
        let query = self.request.uri.query()?;
        let mut found: Option<QueryArg> = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (raw_key, value) = match pair.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (pair, None),
            };
            let key = decode_component(raw_key);
            if key != name {
                continue;
            }
            let this = value.map_or(QueryArg::Flag, |v| QueryArg::One(decode_component(v)));
            found = Some(if found.is_some() {
                QueryArg::Many
            } else {
                this
            });
        }
        found
    }

    /// Removes a query argument from the upstream URI (key-auth `hide_credentials`).
    pub fn remove_query_arg(&mut self, name: &str) {
        let Some(query) = self.request.uri.query() else {
            return;
        };
        let kept: Vec<&str> = query
            .split('&')
            .filter(|p| {
                !p.is_empty() && decode_component(p.split('=').next().unwrap_or_default()) != name
            })
            .collect();
        let path = self.request.uri.path();
        let new = if kept.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{}", kept.join("&"))
        };
        if let Ok(uri) = new.parse() {
            self.request.uri = uri;
        }
    }

    /// Reads the whole request body into memory (once) and returns it.
    pub async fn body_bytes(&mut self) -> Option<&Bytes> {
        if let RequestBody::Stream(_) = &self.body {
            let RequestBody::Stream(stream) = std::mem::take(&mut self.body) else {
                return None;
            };
            self.body = match stream.collect().await {
                Ok(collected) => RequestBody::Buffered(collected.to_bytes()),
                Err(_) => RequestBody::Failed,
            };
        }
        match &self.body {
            RequestBody::Buffered(b) => Some(b),
            _ => None,
        }
    }

    /// Replaces the body sent upstream.
    pub fn set_body(&mut self, body: Bytes) {
        self.request
            .headers
            .insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
        self.body = RequestBody::Buffered(body);
    }

    /// `kong.client.authenticate(consumer, credential)`.
    pub fn authenticate(
        &mut self,
        consumer: Option<Arc<Consumer>>,
        credential: Option<Credential>,
    ) {
        self.consumer = consumer;
        self.credential = credential;
    }

    /// Sets (or clears) Kong's `X-Consumer-*` upstream headers for `consumer`.
    pub fn set_consumer_headers(&mut self, consumer: &Consumer) {
        self.set_upstream_header(headers::CONSUMER_ID, Some(&consumer.id));
        self.set_upstream_header(headers::CONSUMER_CUSTOM_ID, consumer.custom_id.as_deref());
        self.set_upstream_header(headers::CONSUMER_USERNAME, consumer.username.as_deref());
    }
}

/// Percent-decodes one query component (`+` is a space).
pub fn decode_component(s: &str) -> String {
    form_urlencoded::parse(format!("k={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}
