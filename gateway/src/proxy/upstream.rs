//! The upstream side: a pooled keep-alive hyper client, Kong's header rules (hop-by-hop headers,
//! `Host`, `X-Forwarded-*`, `X-Real-IP`) and the service's timeouts.

use std::borrow::Cow;
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, Uri};
use std::sync::Arc;

use super::pool::{Limits, Pool};
use crate::error::ProxyError;
use crate::model::{Route, Service};
use crate::pdk::{Body, Ctx};
use crate::router::upstream_path;

/// Connection-level headers that are never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
const X_FORWARDED_PATH: HeaderName = HeaderName::from_static("x-forwarded-path");
const X_FORWARDED_PREFIX: HeaderName = HeaderName::from_static("x-forwarded-prefix");
const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");

/// The pooled client for every service.
#[derive(Clone, Debug, Default)]
pub struct Upstream {
    pool: Arc<Pool>,
}

/// Where a service's requests go, worked out once when the snapshot is compiled rather than on every
/// request: the pool's key and the upstream `Host` header.
#[derive(Debug)]
pub struct Target {
    host: String,
    port: u16,
    /// `host:port` (`[v6]:port` for an IPv6 literal): the key of the service's connection pool.
    key: Arc<str>,
    /// `Host` for the upstream request when the route does not preserve the client's: `host`, with
    /// `:port` unless the port is 80.
    host_header: Option<HeaderValue>,
    /// Why no request to this service can be sent, if none can; reported on each request.
    unusable: Option<Unusable>,
}

#[derive(Debug, Clone)]
enum Unusable {
    Protocol(String),
    Authority(String),
}

impl Target {
    /// The target of `service`.
    pub fn new(service: &Service) -> Self {
        let host = service.host.clone().unwrap_or_default();
        let port = service.port.unwrap_or(80);
        let key = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let unusable = if service.protocol != "http" {
            Some(Unusable::Protocol(service.protocol.clone()))
        } else if key.parse::<http::uri::Authority>().is_err() {
            Some(Unusable::Authority(key.clone()))
        } else {
            None
        };
        let host_value = if port == 80 {
            host.clone()
        } else {
            format!("{host}:{port}")
        };
        Self {
            host_header: HeaderValue::from_str(&host_value).ok(),
            host,
            port,
            key: Arc::from(key),
            unusable,
        }
    }

    fn check(&self) -> Result<(), ProxyError> {
        match &self.unusable {
            None => Ok(()),
            Some(Unusable::Protocol(protocol)) => Err(ProxyError::Upstream(format!(
                "protocol {protocol} is not supported upstream"
            ))),
            Some(Unusable::Authority(authority)) => Err(ProxyError::Internal(format!(
                "cannot build upstream URI: invalid authority {authority:?}"
            ))),
        }
    }
}

impl Upstream {
    /// A client with an empty pool.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends the (plugin-modified) request to the service and returns its response.
    pub async fn forward(
        &self,
        ctx: &mut Ctx,
        service: &Service,
        target: &Target,
        route: &Route,
        prefix: Option<&str>,
    ) -> Result<Response<Body>, ProxyError> {
        target.check()?;
        let uri = upstream_uri(&ctx.request.uri, service, route, prefix)?;

        let mut headers = std::mem::take(&mut ctx.request.headers);
        strip_hop_by_hop(&mut headers);
        let original_host = headers.get(header::HOST).cloned();
        forwarded_headers(&mut headers, ctx, original_host.as_ref(), prefix);
        if (!route.preserve_host || original_host.is_none())
            && let Some(v) = &target.host_header
        {
            headers.insert(header::HOST, v.clone());
        }

        let body = std::mem::take(&mut ctx.body).into_body();
        let mut request = Request::new(body);
        *request.method_mut() = ctx.request.method.clone();
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;

        let limits = Limits {
            connect: Duration::from_millis(service.connect_timeout),
            write: Duration::from_millis(service.write_timeout),
            read: Duration::from_millis(service.read_timeout),
            retries: service.retries,
        };
        let response = self
            .pool
            .send(&target.host, target.port, &target.key, request, limits)
            .await?;
        let (mut head, body) = response.into_parts();
        strip_hop_by_hop(&mut head.headers);
        Ok(Response::from_parts(head, body))
    }
}

/// The upstream request's URI in HTTP/1.1 origin form (the authority goes in `Host`): the service path
/// joined with the request's, and the request's query. When that path is the request's own, its path and
/// query are reused as they are (no copy, no second validation).
fn upstream_uri(
    uri: &Uri,
    service: &Service,
    route: &Route,
    prefix: Option<&str>,
) -> Result<Uri, ProxyError> {
    let request_path = uri.path();
    let path = upstream_path(
        service.path.as_deref(),
        request_path,
        prefix,
        route.strip_path,
    );
    let invalid =
        |e: &dyn std::fmt::Display| ProxyError::Internal(format!("cannot build upstream URI: {e}"));
    if let (Cow::Borrowed(same), Some(pq)) = (&path, uri.path_and_query())
        && same.len() == request_path.len()
    {
        let mut parts = http::uri::Parts::default();
        parts.path_and_query = Some(pq.clone());
        return Uri::from_parts(parts).map_err(|e| invalid(&e));
    }
    let mut path_and_query = path.into_owned();
    if let Some(q) = uri.query() {
        path_and_query.reserve(q.len() + 1);
        path_and_query.push('?');
        path_and_query.push_str(q);
    }
    Uri::try_from(path_and_query).map_err(|e| invalid(&e))
}

/// Removes hop-by-hop headers, including those named in `Connection`. Most requests carry none: one pass
/// over the names finds out before anything is removed.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    if !headers.keys().any(|name| HOP_BY_HOP.contains(name)) {
        return;
    }
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// `X-Forwarded-For/Proto/Host/Port/Path/Prefix` and `X-Real-IP`, as Kong sets them.
fn forwarded_headers(
    headers: &mut HeaderMap,
    ctx: &Ctx,
    original_host: Option<&HeaderValue>,
    prefix: Option<&str>,
) {
    let ip = ctx.client_ip();
    let xff = match headers.get(&X_FORWARDED_FOR).map(HeaderValue::as_bytes) {
        Some(prev) => {
            let mut v = Vec::with_capacity(prev.len() + 2 + ip.len());
            v.extend_from_slice(prev);
            v.extend_from_slice(b", ");
            v.extend_from_slice(ip.as_bytes());
            HeaderValue::from_maybe_shared(bytes::Bytes::from(v)).ok()
        }
        None => Some(ip.clone()),
    };
    let host_header = original_host
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let (fwd_host, fwd_port) = match host_header.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => (h, p),
        _ => (host_header, "80"),
    };
    let set = |headers: &mut HeaderMap, name: HeaderName, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    };
    if let Some(xff) = xff {
        headers.insert(X_FORWARDED_FOR, xff);
    }
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static("http"));
    set(headers, X_FORWARDED_HOST, fwd_host);
    set(headers, X_FORWARDED_PORT, fwd_port);
    set(headers, X_FORWARDED_PATH, ctx.request.uri.path());
    if let Some(prefix) = prefix {
        set(headers, X_FORWARDED_PREFIX, prefix);
    }
    headers.insert(X_REAL_IP, ip);
}
