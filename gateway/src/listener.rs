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
//! How the timers map onto a connection: every connection is in one [`Phase`]. A new connection, and one
//! whose last response has been sent, is *idle*: the first byte of the next request must arrive within
//! `client_header_timeout` (new) or `keepalive_timeout` (kept alive). From that byte the whole header must
//! arrive within `client_header_timeout`. While the gateway handles the request nothing is timed here; the
//! request body is read with at most `client_body_timeout` between two reads ([`TimeoutBody`]). A
//! connection whose deadline passes is closed (nginx answers a slow header with 408 and closes; a closed
//! connection tells the client the same without a body).
//!
//! When the process runs out of file descriptors, `accept` fails at once and would be retried in a hot loop:
//! the loop backs off for [`ACCEPT_BACKOFF`] and logs once per [`LOG_INTERVAL`] with the number of failures.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::time::{Instant, Sleep};

use crate::error::ClientBodyError;
use crate::pdk::BoxError;
use crate::state::Shared;

/// How long `accept` waits after the process ran out of file descriptors (or another resource error).
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// At most one log line per this interval about failing `accept`s.
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The limits on client connections, with nginx's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientLimits {
    /// `client_header_timeout` (nginx default 60 s): the whole request header, and the first request of a
    /// new connection.
    pub header_timeout: Duration,
    /// `client_body_timeout` (nginx default 60 s): between two successive reads of the request body.
    pub body_timeout: Duration,
    /// `keepalive_timeout` (nginx default 75 s): an idle keep-alive connection before the next request.
    pub keepalive_timeout: Duration,
    /// `client_max_body_size` (Kong's default `0`: no limit). Bodies are streamed, never buffered whole: a
    /// `Content-Length` over the limit is refused with 413 before routing, and a chunked body is cut off as
    /// soon as it passes the limit.
    pub max_body_size: Option<u64>,
    /// `worker_connections`: connections open at once; further clients wait in the kernel's accept queue.
    /// Kong's default `nginx_events_worker_connections = auto` is the file-descriptor limit, at most 16384.
    pub max_connections: usize,
}

impl Default for ClientLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(60),
            keepalive_timeout: Duration::from_secs(75),
            max_body_size: None,
            max_connections: default_max_connections(),
        }
    }
}

/// Kong's `worker_connections auto`: the soft limit on open files (read from `/proc/self/limits`), less a
/// reserve for upstream connections and files, capped at 16384 (`kong/cmd/utils/prefix_handler.lua`).
fn default_max_connections() -> usize {
    const KONG_CAP: usize = 16384;
    let soft_limit = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|v| v.parse::<usize>().ok())
        });
    match soft_limit {
        // Half for clients: each proxied request may hold an upstream connection too.
        Some(limit) => (limit / 2).clamp(16, KONG_CAP),
        None => 1024,
    }
}

/// Parses an nginx time value (`60s`, `75`, `1m`, `500ms`, `1m30s`): the syntax of nginx's
/// `ngx_parse_time`. A bare number is seconds.
pub fn parse_nginx_time(value: &str) -> Result<Duration, String> {
    let invalid = || format!("invalid nginx time value '{value}' (e.g. 60s, 500ms, 1m)");
    let value = value.trim();
    if value.is_empty() {
        return Err(invalid());
    }
    let mut total = Duration::ZERO;
    let mut rest = value;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(invalid());
        }
        let number: u64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let millis_per_unit: u64 = match unit {
            "ms" => 1,
            "" | "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "M" => 2_592_000_000,
            "y" => 31_536_000_000,
            _ => return Err(invalid()),
        };
        let millis = number.checked_mul(millis_per_unit).ok_or_else(invalid)?;
        total = total
            .checked_add(Duration::from_millis(millis))
            .ok_or_else(invalid)?;
        if unit.is_empty() && !rest.is_empty() {
            return Err(invalid());
        }
    }
    Ok(total)
}

/// Parses an nginx size (`0`, `8k`, `10m`, `1g`; `ngx_parse_offset`), in bytes.
pub fn parse_nginx_size(value: &str) -> Result<u64, String> {
    let invalid = || format!("invalid nginx size '{value}' (e.g. 0, 8k, 10m, 1g)");
    let value = value.trim();
    let (digits, factor) = match value.as_bytes().last() {
        Some(b'k' | b'K') => (&value[..value.len() - 1], 1024),
        Some(b'm' | b'M') => (&value[..value.len() - 1], 1024 * 1024),
        Some(b'g' | b'G') => (&value[..value.len() - 1], 1024 * 1024 * 1024),
        _ => (value, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .ok_or_else(invalid)
}

/// Where a connection is in its request cycle (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Phase {
    /// Waiting for the first byte of a request.
    Idle = 0,
    /// The first byte has arrived; the header is being read.
    Header = 1,
    /// The gateway is handling a request.
    Busy = 2,
}

/// The phase, shared by a connection's I/O and its service. A read that waits while the connection is busy
/// leaves its waker here, so that the end of the response re-arms the idle timer at once.
#[derive(Debug)]
struct PhaseCell {
    phase: AtomicU8,
    reader: Mutex<Option<Waker>>,
}

impl PhaseCell {
    fn new() -> Self {
        Self {
            phase: AtomicU8::new(Phase::Idle as u8),
            reader: Mutex::new(None),
        }
    }

    fn get(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Idle,
            1 => Phase::Header,
            _ => Phase::Busy,
        }
    }

    fn set(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Release);
        if phase == Phase::Idle {
            let waiting = self
                .reader
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(waker) = waiting {
                waker.wake();
            }
        }
    }

    /// Remembers the waker of a read that waits while the connection is busy.
    fn park_reader(&self, waker: &Waker) {
        let mut slot = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
        match slot.as_mut() {
            Some(current) if current.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }
}

/// A client stream that closes itself when the client is too slow to start or finish a request header.
struct Watched<T> {
    inner: T,
    phase: Arc<PhaseCell>,
    limits: Arc<ClientLimits>,
    /// The phase the current deadline was set for.
    timed: Phase,
    /// Whether a request has been completed on this connection (then idling is keep-alive).
    kept_alive: bool,
    deadline: Pin<Box<Sleep>>,
}

impl<T> Watched<T> {
    fn new(inner: T, phase: Arc<PhaseCell>, limits: Arc<ClientLimits>) -> Self {
        let deadline = Box::pin(tokio::time::sleep(limits.header_timeout));
        Self {
            inner,
            phase,
            limits,
            timed: Phase::Idle,
            kept_alive: false,
            deadline,
        }
    }

    /// Re-arms the deadline when the phase changed since it was set.
    fn follow_phase(&mut self) {
        let phase = self.phase.get();
        if phase == self.timed {
            return;
        }
        match phase {
            Phase::Idle => {
                self.kept_alive = true;
                let wait = self.limits.keepalive_timeout;
                self.deadline.as_mut().reset(Instant::now() + wait);
            }
            Phase::Header => {
                let wait = self.limits.header_timeout;
                self.deadline.as_mut().reset(Instant::now() + wait);
            }
            Phase::Busy => {}
        }
        self.timed = phase;
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        this.follow_phase();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        match polled {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before && this.timed == Phase::Idle {
                    // The first byte of a request: the header clock starts (nginx restarts it too).
                    this.phase.set(Phase::Header);
                    this.follow_phase();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                if this.timed == Phase::Busy {
                    this.phase.park_reader(cx.waker());
                    // The response may have ended between the phase check and parking.
                    if this.phase.get() == Phase::Busy {
                        return Poll::Pending;
                    }
                    this.follow_phase();
                }
                match this.deadline.as_mut().poll(cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(()) => {
                        let what = match (this.timed, this.kept_alive) {
                            (Phase::Idle, true) => "keepalive_timeout",
                            _ => "client_header_timeout",
                        };
                        tracing::debug!(timer = what, "client timed out; closing the connection");
                        Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, what)))
                    }
                }
            }
            ready => ready,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The client's request body, failing when the client pauses longer than `client_body_timeout` between
/// two reads (nginx answers 408 and closes; here the read fails, which the proxy turns into its error).
pub struct TimeoutBody<B> {
    inner: B,
    timeout: Duration,
    deadline: Option<Pin<Box<Sleep>>>,
    /// Bytes still allowed by `client_max_body_size`, if it is set.
    allowance: Option<u64>,
    max_size: Option<u64>,
}

impl<B> TimeoutBody<B> {
    /// Wraps `inner`; `max_size` is `client_max_body_size`.
    pub fn new(inner: B, timeout: Duration, max_size: Option<u64>) -> Self {
        Self {
            inner,
            timeout,
            deadline: None,
            allowance: max_size,
            max_size,
        }
    }
}

impl<B> TimeoutBody<B> {
    fn max_size_for_error(&self) -> u64 {
        self.max_size.unwrap_or(0)
    }
}

impl<B> HttpBody for TimeoutBody<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.deadline = None;
                if let (Some(allowance), Some(Ok(frame))) = (this.allowance.as_mut(), &frame) {
                    let len = frame.data_ref().map_or(0, |d| d.len() as u64);
                    match allowance.checked_sub(len) {
                        Some(left) => *allowance = left,
                        None => {
                            let limit = this.max_size_for_error();
                            return Poll::Ready(Some(Err(Box::new(ClientBodyError::TooLarge(
                                limit,
                            )))));
                        }
                    }
                }
                Poll::Ready(frame.map(|f| {
                    f.map_err(|e| -> BoxError { Box::new(ClientBodyError::Broken(e.into())) })
                }))
            }
            Poll::Pending => {
                let timeout = this.timeout;
                let deadline = this
                    .deadline
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match deadline.as_mut().poll(cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(()) => {
                        Poll::Ready(Some(Err(Box::new(ClientBodyError::TimedOut(timeout)))))
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Marks the connection idle again when the response body has been sent (or dropped).
struct IdleOnDrop(Arc<PhaseCell>);

impl Drop for IdleOnDrop {
    fn drop(&mut self) {
        self.0.set(Phase::Idle);
    }
}

/// A response body that holds an [`IdleOnDrop`].
struct Tracked<B> {
    inner: B,
    _idle: IdleOnDrop,
}

impl<B: HttpBody + Unpin> HttpBody for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Counts failing `accept`s and says so at most once per [`LOG_INTERVAL`].
struct AcceptErrors {
    last_log: Option<Instant>,
    since_log: u64,
}

impl AcceptErrors {
    fn record(&mut self, err: &io::Error) {
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
    }
}

/// Accepts proxy connections until told to stop, then drains them gracefully.
pub async fn serve_proxy(
    listener: TcpListener,
    shared: Arc<Shared>,
    limits: ClientLimits,
    mut stop: watch::Receiver<bool>,
) {
    let limits = Arc::new(limits);
    // HTTP/1.1, as Kong's plain-text proxy listener speaks (HTTP/2 there needs TLS).
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.keep_alive(true);
    // Room for nginx's `large_client_header_buffers 4 8k` (the request line and four 8k header buffers); the
    // proxy applies nginx's per-line and total limits with Kong's messages (`proxy::checks`). Beyond this
    // hyper answers 431 itself.
    builder.max_buf_size(crate::proxy::checks::MAX_HEADER_BLOCK + 16 * 1024);
    builder.max_headers(crate::proxy::checks::MAX_HEADER_BLOCK / 4);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
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
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|s| *s) => break,
        };
        let (stream, client_addr) = match accepted {
            Ok(pair) => pair,
            Err(err) => {
                errors.record(&err);
                drop(permit);
                tokio::select! {
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                    _ = stop.wait_for(|s| *s) => break,
                }
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let phase = Arc::new(PhaseCell::new());
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
            let req = req.map(|body| TimeoutBody::new(body, body_timeout, max_body).boxed());
            async move {
                let response = if declared_too_large {
                    crate::proxy::error_response(crate::error::ProxyError::PayloadTooLarge)
                } else {
                    crate::proxy::handle(shared, req, client_addr).await
                };
                Ok::<_, std::convert::Infallible>(
                    response.map(|inner| Tracked { inner, _idle: idle }),
                )
            }
        });
        let conn = builder.serve_connection(TokioIo::new(io), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(err) = conn.await {
                tracing::debug!(%err, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(10), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after 10 s; closing");
    }
}

#[cfg(test)]
mod tests;
