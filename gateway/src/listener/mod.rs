//! The proxy listener: accepts client connections and serves HTTP/1.1 on each, with nginx's limits on
//! what a client may hold: how long it may take to send a request header (`client_header_timeout`), how long
//! it may pause while sending a body (`client_body_timeout`), how long an idle keep-alive connection stays
//! open (`keepalive_timeout`), and how many connections are open at once (`worker_connections`).
//!
//! Runs for the life of the gateway; one task per connection. The timers are nginx's
//! (`ngx_http_core_module`), configured under Kong's names: Kong injects any `nginx_http_<directive>`
//! property into its nginx configuration (`kong/templates/nginx_kong.lua`), so `KONG_NGINX_HTTP_CLIENT_HEADER_TIMEOUT`
//! etc. are what a Kong user sets.
//!
//! How the timers map onto a connection: every connection is in one `Phase`. A new connection, and one
//! whose last response has been sent, is *idle*: the first byte of the next request must arrive within
//! `client_header_timeout` (new) or `keepalive_timeout` (kept alive). From that byte the whole header must
//! arrive within `client_header_timeout`. While the gateway handles the request nothing is timed here; the
//! request body is read with at most `client_body_timeout` between two reads ([`TimeoutBody`]). A
//! connection whose deadline passes is closed (nginx answers a slow header with 408 and closes; a closed
//! connection tells the client the same without a body).
//!
//! When the process runs out of file descriptors, `accept` fails at once and would be retried in a hot loop:
//! the loop backs off for [`ACCEPT_BACKOFF`] and logs once per [`LOG_INTERVAL`] with the number of failures.

pub mod access_log;
mod body;
mod deadline;
mod limits;
mod listen;
pub mod stats;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

pub use body::TimeoutBody;
pub use limits::{ClientLimits, parse_nginx_size, parse_nginx_time};
pub use listen::{ListenSpec, NGINX_DEFAULT_BACKLOG};

use crate::state::Shared;
use deadline::{IdleOnDrop, Phase, PhaseCell, Tracked, Watched};

/// How long `accept` waits after the process ran out of file descriptors (or another resource error).
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// At most one log line per this interval about failing `accept`s.
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Counts failing `accept`s and says so at most once per [`LOG_INTERVAL`].
struct AcceptErrors {
    last_log: Option<Instant>,
    since_log: u64,
}

impl AcceptErrors {
    /// Counts one failure; logs (and returns true) at most once per [`LOG_INTERVAL`].
    fn record(&mut self, err: &io::Error) -> bool {
        self.since_log += 1;
        let due = self.last_log.is_none_or(|at| at.elapsed() >= LOG_INTERVAL);
        if due {
            tracing::error!(
                %err,
                failures = self.since_log,
                "accept failed (out of file descriptors?); backing off",
            );
            self.last_log = Some(Instant::now());
            self.since_log = 0;
        }
        due
    }
}

/// The next connection, or `None` once told to stop. A failing `accept` (out of file descriptors, say) is
/// counted, logged at most once per [`LOG_INTERVAL`], and retried after [`ACCEPT_BACKOFF`].
async fn accept_next(
    listener: &TcpListener,
    errors: &mut AcceptErrors,
    stop: &mut watch::Receiver<bool>,
) -> Option<(tokio::net::TcpStream, std::net::SocketAddr)> {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|s| *s) => return None,
        };
        match accepted {
            Ok(pair) => return Some(pair),
            Err(err) => {
                let _logged = errors.record(&err);
                tokio::select! {
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                    _ = stop.wait_for(|s| *s) => return None,
                }
            }
        }
    }
}

/// TLS on a listener (`ssl`): the rustls acceptor, whose ALPN offers `h2` when the entry has `http2`.
#[derive(Clone)]
pub struct TlsListen {
    /// The handshake.
    pub acceptor: tokio_rustls::TlsAcceptor,
}

/// Accepts proxy connections until told to stop, then drains them gracefully. With `tls`, each connection's
/// TLS handshake must complete within `client_header_timeout`; HTTP/2 is served when the client chose `h2`
/// through ALPN.
pub async fn serve_proxy(
    listener: TcpListener,
    tls: Option<TlsListen>,
    shared: Arc<Shared>,
    limits: ClientLimits,
    mut stop: watch::Receiver<bool>,
) {
    let limits = Arc::new(limits);
    let mut h2 = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new());
    h2.max_header_list_size(
        u32::try_from(crate::proxy::checks::MAX_HEADER_BLOCK).unwrap_or(u32::MAX),
    );
    // HTTP/1.1, as Kong's plain-text proxy listener speaks (HTTP/2 there needs TLS).
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.keep_alive(true);
    // Room for nginx's `large_client_header_buffers 4 8k` (the request line and four 8k header buffers); the
    // proxy applies nginx's per-line and total limits with Kong's messages (`proxy::checks`). Beyond this
    // hyper answers 431 itself.
    builder.max_buf_size(crate::proxy::checks::MAX_HEADER_BLOCK + 16 * 1024);
    builder.max_headers(crate::proxy::checks::MAX_HEADER_BLOCK / 4);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    // Turned on when a drain's deadline passes: every connection still open is closed.
    let (kill_tx, kill_rx) = watch::channel(false);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut errors = AcceptErrors {
        last_log: None,
        since_log: 0,
    };
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = stop.wait_for(|s| *s) => break,
        };
        let Some((stream, client_addr)) = accept_next(&listener, &mut errors, &mut stop).await
        else {
            break;
        };
        let _ = stream.set_nodelay(true);
        let client = crate::proxy::Client {
            addr: client_addr,
            server_port: stream.local_addr().ok().map(|a| a.port()),
        };
        let phase = Arc::new(PhaseCell::new(Arc::clone(&shared.stats)));
        let io = Watched::new(stream, Arc::clone(&phase), Arc::clone(&limits));
        let shared = Arc::clone(&shared);
        let body_timeout = limits.body_timeout;
        let max_body = limits.max_body_size;
        // Marks the connection busy, runs the proxy, and marks it idle when the response has been sent.
        let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
            phase.set(Phase::Busy);
            let shared = Arc::clone(&shared);
            let idle = IdleOnDrop(Arc::clone(&phase));
            let declared_too_large = max_body.is_some_and(|max| {
                req.headers()
                    .get(http::header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .is_some_and(|len| len > max)
            });
            let log = shared
                .access_log
                .get()
                .map(|log| (log.clone(), access_log_entry(&req, client_addr)));
            let req = req.map(|body| TimeoutBody::new(body, body_timeout, max_body).boxed());
            async move {
                let response = if declared_too_large {
                    crate::proxy::early_error(
                        &shared,
                        crate::error::ProxyError::PayloadTooLarge,
                        std::time::Instant::now(),
                    )
                } else {
                    // Boxed: the request's future is large, and hyper moves the service's future
                    // into place on every request; a box is moved as a pointer.
                    Box::pin(crate::proxy::handle(shared, req, client)).await
                };
                let log = log.map(|(log, mut entry)| {
                    entry.status = response.status().as_u16();
                    entry.request_id = response
                        .extensions()
                        .get::<RequestId>()
                        .map(|id| Arc::clone(&id.0));
                    (log, entry)
                });
                Ok::<_, std::convert::Infallible>(response.map(|inner| Tracked {
                    inner,
                    _idle: idle,
                    log,
                }))
            }
        });
        let mut kill = kill_rx.clone();
        let Some(tls) = &tls else {
            let conn = graceful.watch(builder.serve_connection(TokioIo::new(io), service));
            tokio::spawn(async move {
                tokio::select! {
                    result = conn => if let Err(err) = result {
                        tracing::debug!(%err, "connection ended with an error");
                    },
                    _ = kill.wait_for(|k| *k) => {}
                }
                drop(permit);
            });
            continue;
        };
        // The handshake reads through `Watched`, so a client that stalls it is cut at `client_header_timeout`.
        let accept = tls.acceptor.accept(io);
        let (h1, h2) = (builder.clone(), h2.clone());
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let serve = async move {
                let stream = match accept.await {
                    Ok(stream) => stream,
                    Err(err) => {
                        tracing::debug!(%err, %client_addr, "TLS handshake failed");
                        return;
                    }
                };
                let is_h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                let result = if is_h2 {
                    // HTTP/2 streams share one connection: the idle/busy phase follows the latest stream.
                    watcher
                        .watch(h2.serve_connection(TokioIo::new(stream), service))
                        .await
                } else {
                    watcher
                        .watch(h1.serve_connection(TokioIo::new(stream), service))
                        .await
                };
                if let Err(err) = result {
                    tracing::debug!(%err, "connection ended with an error");
                }
            };
            tokio::select! {
                () = serve => {}
                _ = kill.wait_for(|k| *k) => {}
            }
            drop(permit);
        });
    }
    drop(listener);
    // SIGQUIT drains within its deadline (`nginx_main_worker_shutdown_timeout`); SIGTERM's deadline is zero.
    let deadline = shared.lifecycle.drain_timeout();
    if tokio::time::timeout(deadline, graceful.shutdown())
        .await
        .is_err()
    {
        if !deadline.is_zero() {
            tracing::warn!(
                ?deadline,
                "connections still open when the drain deadline passed; closing them"
            );
        }
        let _ = kill_tx.send(true);
    }
}

/// How long a TLS handshake on the Admin or Status API may take (nginx's `client_header_timeout` default).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

/// Serves `router` (the Admin API, the Status API) on one listener until told to stop: plain HTTP/1.1 through
/// axum, or TLS for an `ssl` entry (HTTP/2 when the client picks it through ALPN), each handshake bounded by
/// [`HANDSHAKE_TIMEOUT`]. In-flight requests get `drain` to finish once `stop` turns true.
pub async fn serve_router(
    listener: TcpListener,
    tls: Option<TlsListen>,
    router: axum::Router,
    drain: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let Some(tls) = tls else {
        let serve = axum::serve(listener, router).with_graceful_shutdown(async move {
            let _ = stop.wait_for(|stop| *stop).await;
        });
        if let Err(err) = serve.await {
            tracing::error!(%err, "listener failed");
        }
        return;
    };
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let builder =
        hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    let mut errors = AcceptErrors {
        last_log: None,
        since_log: 0,
    };
    loop {
        let Some((stream, client_addr)) = accept_next(&listener, &mut errors, &mut stop).await
        else {
            break;
        };
        let (acceptor, router, builder) = (tls.acceptor.clone(), router.clone(), builder.clone());
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let stream =
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(err)) => {
                        tracing::debug!(%err, %client_addr, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%client_addr, "TLS handshake timed out");
                        return;
                    }
                };
            let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                use tower::ServiceExt as _;
                router.clone().oneshot(req)
            });
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            if let Err(err) = watcher.watch(conn).await {
                tracing::debug!(%err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open when the drain deadline passed; closing them");
    }
}

/// The request id a response was given, for the access log (in the response's extensions while an access log
/// is on).
#[derive(Debug, Clone)]
pub struct RequestId(pub Arc<str>);

/// What the access log needs of a request, taken before the request is handed on: header values are
/// reference-counted, so this copies no bytes.
fn access_log_entry<B>(req: &http::Request<B>, client: std::net::SocketAddr) -> access_log::Entry {
    let header = |name| req.headers().get(name).cloned();
    access_log::Entry {
        client: client.ip(),
        time: std::time::SystemTime::now(),
        method: req.method().clone(),
        uri: req.uri().clone(),
        version: req.version(),
        status: 0,
        bytes: 0,
        referer: header(http::header::REFERER),
        user_agent: header(http::header::USER_AGENT),
        authorization: header(http::header::AUTHORIZATION),
        request_id: None,
    }
}

#[cfg(test)]
mod tests;
