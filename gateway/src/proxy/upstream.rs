//! The upstream side: a pooled keep-alive hyper client, Kong's header rules (hop-by-hop headers,
//! `Host`, `X-Forwarded-*`, `X-Real-IP`) and the service's timeouts.

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
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The pooled client for every service.
#[derive(Clone, Debug, Default)]
pub struct Upstream {
    pool: Arc<Pool>,
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
        route: &Route,
        prefix: Option<&str>,
    ) -> Result<Response<Body>, ProxyError> {
        if service.protocol != "http" {
            return Err(ProxyError::Upstream(format!(
                "protocol {} is not supported upstream",
                service.protocol
            )));
        }
        let host = service.host.as_deref().unwrap_or_default();
        let port = service.port.unwrap_or(80);
        let path = upstream_path(
            service.path.as_deref(),
            ctx.request.uri.path(),
            prefix,
            route.strip_path,
        );
        let path_and_query = match ctx.request.uri.query() {
            Some(q) => format!("{path}?{q}"),
            None => path,
        };
        let authority = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        if authority.parse::<http::uri::Authority>().is_err() {
            return Err(ProxyError::Internal(format!(
                "cannot build upstream URI: invalid authority {authority:?}"
            )));
        }
        // HTTP/1.1 origin form; the authority goes in `Host`.
        let uri: Uri = path_and_query
            .parse()
            .map_err(|e| ProxyError::Internal(format!("cannot build upstream URI: {e}")))?;

        let mut headers = std::mem::take(&mut ctx.request.headers);
        strip_hop_by_hop(&mut headers);
        let original_host = headers.get(header::HOST).cloned();
        forwarded_headers(&mut headers, ctx, original_host.as_ref(), prefix);
        if !route.preserve_host || original_host.is_none() {
            let host_value = if port == 80 {
                host.to_owned()
            } else {
                format!("{host}:{port}")
            };
            if let Ok(v) = HeaderValue::from_str(&host_value) {
                headers.insert(header::HOST, v);
            }
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
            .send(host, port, &authority, request, limits)
            .await?;
        let (mut head, body) = response.into_parts();
        strip_hop_by_hop(&mut head.headers);
        Ok(Response::from_parts(head, body))
    }
}

/// Removes hop-by-hop headers, including those named in `Connection`.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
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
    let ip = ctx.client_addr.ip().to_string();
    let xff = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(prev) => format!("{prev}, {ip}"),
        None => ip.clone(),
    };
    let host_header = original_host
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let (fwd_host, fwd_port) = match host_header.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => (h.to_owned(), p.to_owned()),
        _ => (host_header.clone(), "80".to_owned()),
    };
    let set = |headers: &mut HeaderMap, name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    };
    set(headers, "x-forwarded-for", &xff);
    set(headers, "x-forwarded-proto", "http");
    set(headers, "x-forwarded-host", &fwd_host);
    set(headers, "x-forwarded-port", &fwd_port);
    set(headers, "x-forwarded-path", ctx.request.uri.path());
    if let Some(prefix) = prefix {
        set(headers, "x-forwarded-prefix", prefix);
    }
    set(headers, "x-real-ip", &ip);
}
