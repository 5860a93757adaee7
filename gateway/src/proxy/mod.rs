//! One proxied request, called by the listener for each: nginx's checks ([`checks`]), Kong's path
//! normalisation, route matching, the plugin chain (access in priority order, configs chosen after
//! earlier plugins set the consumer), the upstream (`upstream`, `pool`) or a plugin's exit, then
//! every collected plugin's header_filter.

pub mod checks;
mod pool;
mod upstream;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http::{HeaderValue, Request, Response};

use crate::error::ProxyError;
use crate::pdk::body::full;
use crate::pdk::{Ctx, Exit, Flow, RequestBody, headers};
use crate::plugins::Instance;
use crate::state::Shared;

/// The body type of requests and responses (defined by the PDK, which plugins read it through).
pub use crate::pdk::Body;
pub use upstream::{Target, Upstream};

/// Kong's response for an error raised before a route is matched, with a fresh request id.
pub fn error_response(err: ProxyError) -> Response<Body> {
    let id = crate::kong_headers::new_request_id();
    exit_response(err.into_exit(&id))
}

fn exit_response(exit: Exit) -> Response<Body> {
    let mut resp = Response::new(full(exit.body));
    *resp.status_mut() = exit.status;
    *resp.headers_mut() = exit.headers;
    resp
}

/// `uri` with its path replaced (scheme, authority and query kept).
fn with_path(uri: &http::Uri, path: &str) -> Option<http::Uri> {
    let path_and_query = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query.parse().ok()?);
    http::Uri::from_parts(parts).ok()
}

/// Kong's response for an error raised before a route is matched, with Kong's headers for a
/// response it produced (`Server`, `X-Kong-Response-Latency`, `X-Kong-Request-Id`).
pub fn early_error(shared: &Shared, err: ProxyError, start: Instant) -> Response<Body> {
    let id = crate::kong_headers::new_request_id();
    let mut resp = exit_response(err.into_exit(&id));
    shared.headers.produced(resp.headers_mut(), start);
    if shared.headers.request_id
        && let Ok(v) = HeaderValue::from_str(&id)
    {
        resp.headers_mut().insert(headers::REQUEST_ID, v);
    }
    if shared.access_log.get().is_some() {
        resp.extensions_mut()
            .insert(crate::listener::RequestId(Arc::from(id.as_str())));
    }
    resp
}

/// Who sent a request, and where it came in.
#[derive(Debug, Clone, Copy)]
pub struct Client {
    pub addr: SocketAddr,
    /// The listener's local port, when known.
    pub server_port: Option<u16>,
}

impl From<SocketAddr> for Client {
    fn from(addr: SocketAddr) -> Self {
        Self {
            addr,
            server_port: None,
        }
    }
}

/// Handles one proxied request. Never panics and never fails: errors become Kong's responses.
pub async fn handle(
    shared: Arc<Shared>,
    req: Request<Body>,
    client: impl Into<Client>,
) -> Response<Body> {
    let client = client.into();
    let start = Instant::now();
    shared.count_request();
    let snapshot = shared.snapshot.load_full();
    let now = shared.clock.now();
    let (mut parts, body) = req.into_parts();
    if let Err(err) = checks::check(&mut parts) {
        tracing::debug!(%err, "request refused before routing");
        return early_error(&shared, err, start);
    }
    // Route on, and forward, the normalised path (Kong's `normalize` + `escape`).
    if let std::borrow::Cow::Owned(path) = crate::router::normalize_path(parts.uri.path()) {
        match with_path(&parts.uri, &path) {
            Some(uri) => parts.uri = uri,
            None => {
                return early_error(
                    &shared,
                    ProxyError::BadRequest("unparsable normalised path".to_owned()),
                    start,
                );
            }
        }
    }
    let host = parts
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or(parts.uri.host());
    let Some(found) = snapshot
        .router
        .find(parts.method.as_str(), host, parts.uri.path())
    else {
        tracing::debug!(method = %parts.method, path = parts.uri.path(), "no route matched");
        return early_error(&shared, ProxyError::NoRoute, start);
    };
    let prefix = found.prefix;
    let captures = found.captures;
    let compiled = &snapshot.routes[found.route];
    let (route_id, service_id) = (Arc::clone(&compiled.id), compiled.service_id.clone());
    let mut ctx = Ctx::new(
        now,
        parts,
        RequestBody::Stream(body),
        client.addr,
        Arc::clone(&snapshot),
        route_id,
        service_id,
    );
    ctx.uri_captures = captures;
    ctx.server_port = client.server_port;

    let mut collected: Vec<Arc<Instance>> = Vec::with_capacity(compiled.chain.len());
    let mut exit = None;
    for link in &compiled.chain {
        let consumer = ctx.consumer.as_ref().map(|c| c.id.as_str());
        let Some(instance) = link.select(consumer, &compiled.id, compiled.service_id.as_deref())
        else {
            continue;
        };
        let instance = Arc::clone(instance);
        if exit.is_none()
            && let Flow::Respond(e) = instance.access(&mut ctx).await
        {
            tracing::debug!(
                plugin = link.name,
                status = e.status.as_u16(),
                "plugin ended the request"
            );
            exit = Some(e);
        }
        collected.push(instance);
    }

    // `ctx.KONG_PROXIED` with `KONG_WAITING_TIME` and `KONG_PROXY_LATENCY` in milliseconds.
    let mut proxied = None;
    let response = match exit {
        Some(e) => exit_response(e),
        None => match (&compiled.service, &compiled.target) {
            (Some(service), Some(target)) => {
                let kong = &shared.headers;
                crate::kong_headers::inbound_via(&mut ctx.request.headers, ctx.request.version);
                if kong.upstream_request_id
                    && let Ok(v) = HeaderValue::from_str(ctx.request_id())
                {
                    ctx.request.headers.insert(headers::REQUEST_ID, v);
                }
                let sent = Instant::now();
                match shared
                    .upstream
                    .forward(
                        &mut ctx,
                        service,
                        target,
                        &compiled.route,
                        prefix.as_deref(),
                    )
                    .await
                {
                    Ok(resp) => {
                        proxied = Some((
                            sent.elapsed().as_millis(),
                            sent.duration_since(start).as_millis(),
                            resp.status(),
                        ));
                        resp
                    }
                    Err(err) => {
                        tracing::warn!(%err, service = %service.id, "upstream failed");
                        exit_response(err.into_exit(ctx.request_id()))
                    }
                }
            }
            _ => exit_response(ProxyError::NoService.into_exit(ctx.request_id())),
        },
    };

    let (mut head, body) = response.into_parts();
    // `HeaderMap`'s owning iterator names only the first value of each header (`None` = the same
    // name as before), so a second `Set-Cookie` (a remember cookie, a chunk) needs the last name.
    let mut last_name = None;
    for (name, value) in std::mem::take(&mut ctx.response_headers) {
        if name.is_some() {
            last_name = name;
        }
        if let Some(name) = &last_name {
            head.headers.append(name.clone(), value);
        }
    }
    for instance in &collected {
        instance.header_filter(&mut ctx, &mut head).await;
    }
    // `header_filter.after` (kong/runloop/handler.lua lines 1566-1635), after the plugins'.
    match proxied {
        Some((waiting, latency, status)) => {
            shared
                .headers
                .proxied(&mut head.headers, waiting, latency, status);
        }
        None => shared.headers.produced(&mut head.headers, start),
    }
    if shared.headers.request_id
        && let Ok(v) = HeaderValue::from_str(ctx.request_id())
    {
        head.headers.insert(headers::REQUEST_ID, v);
    }
    if shared.access_log.get().is_some() {
        head.extensions
            .insert(crate::listener::RequestId(Arc::from(ctx.request_id())));
    }
    tracing::debug!(status = head.status.as_u16(), route = %compiled.id, "request done");
    Response::from_parts(head, body)
}

#[cfg(test)]
mod tests;
