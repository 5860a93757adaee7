//! Keep-alive connections to upstreams, and the service's three timeouts applied as nginx applies Kong's
//! `connect_timeout`, `write_timeout` and `read_timeout` (`proxy_connect_timeout`, `proxy_send_timeout`,
//! `proxy_read_timeout`, set per service by `kong/runloop/handler.lua`):
//!
//! * **connect**: resolving and connecting, alone;
//! * **write**: the longest pause while the request (head and body) is being sent;
//! * **read**: the longest wait for the response head once the request is sent, and the longest pause
//!   between two parts of the response body.
//!
//! A connection that cannot be made is retried up to the service's `retries` times (nginx's
//! `proxy_next_upstream error timeout` with `proxy_next_upstream_tries = retries + 1`); a request that was
//! sent is never sent twice. A pooled connection the upstream closed meanwhile is replaced without counting
//! as a retry, since hyper hands the unsent request back.
//!
//! No task per connection: the pooled `hyper::client::conn` connection is driven by the downstream
//! connection's task, beside the request it carries — while waiting for it to be ready, while the
//! request is sent and the response head awaited, and by the response body as it streams. That saves a
//! cross-task wake-up per request. An idle connection is polled once (without a waker) when taken from
//! the pool, so one the upstream closed meanwhile is seen and dropped; one that closes in the instant
//! after is caught by the retry of unwritten requests.
//!
//! Pool limits are Kong's upstream keep-alive defaults (`kong.conf.default`): `upstream_keepalive_pool_size`
//! 512 idle connections per host and port, `upstream_keepalive_idle_timeout` 60 s,
//! `upstream_keepalive_max_requests` 10000 requests per connection.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::{Connection, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::Body;
use crate::error::ProxyError;
use crate::pdk::BoxError;
use crate::pdk::body::PauseTimer;

/// `upstream_keepalive_pool_size`.
pub const POOL_SIZE: usize = 512;
/// `upstream_keepalive_idle_timeout`.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// `upstream_keepalive_max_requests`.
pub const MAX_REQUESTS: u32 = 10_000;

/// A service's timeouts and retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub connect: Duration,
    pub write: Duration,
    pub read: Duration,
    pub retries: u32,
}

/// The connection half of an upstream connection: reads and writes the socket when polled.
type Conn = Connection<TokioIo<WatchedIo>, Body>;

/// An upstream connection, idle in the pool or carrying one request.
struct Idle {
    sender: SendRequest<Body>,
    /// Polled by whoever holds the connection (see the module docs); `None` once it has ended.
    conn: Option<Conn>,
    /// How far the current request on this connection has come (shared with its I/O).
    progress: Arc<Progress>,
    since: Instant,
    used: u32,
}

/// Idle connections by `host:port`.
#[derive(Default)]
pub struct Pool {
    idle: Mutex<HashMap<String, Vec<Idle>>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").finish_non_exhaustive()
    }
}

impl Pool {
    /// An idle connection to `key` that is still usable, if any.
    fn take(&self, key: &str) -> Option<Idle> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let list = idle.get_mut(key)?;
        while let Some(mut conn) = list.pop() {
            if conn.since.elapsed() < IDLE_TIMEOUT && conn.still_open() {
                return Some(conn);
            }
        }
        None
    }

    /// Returns a connection for reuse, unless it is closed, worn out, or the pool is full.
    fn put(&self, key: &str, conn: Idle) {
        if conn.conn.is_none() || conn.sender.is_closed() || conn.used >= MAX_REQUESTS {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let list = match idle.get_mut(key) {
            Some(list) => list,
            None => idle.entry(key.to_owned()).or_default(),
        };
        if list.len() < POOL_SIZE {
            list.push(conn);
        }
    }

    /// Sends `request` to `host:port` within the service's limits.
    pub async fn send(
        self: &Arc<Self>,
        host: &str,
        port: u16,
        key: &Arc<str>,
        request: Request<Body>,
        limits: Limits,
    ) -> Result<Response<Body>, ProxyError> {
        let mut request = Some(request);
        // New connections that closed before the request could be written: each counts as a retry, so an
        // upstream that accepts and hangs up at once ends in a 502, never in a loop. Stale pooled connections
        // do not count (the pool is finite).
        let mut refused = 0;
        let (response, conn) = loop {
            let Some(pending) = request.take() else {
                return Err(ProxyError::Internal(
                    "request lost before sending".to_owned(),
                ));
            };
            let (mut conn, fresh) = match self.take(key) {
                Some(conn) => (conn, false),
                None => (connect(host, port, limits).await?, true),
            };
            let unusable = |refused: &mut u32| {
                if fresh {
                    *refused += 1;
                }
                *refused > limits.retries
            };
            if conn.ready().await.is_err() {
                if unusable(&mut refused) {
                    return Err(ProxyError::Upstream(format!(
                        "{host}:{port} closed every new connection"
                    )));
                }
                request = Some(pending);
                continue;
            }
            conn.used += 1;
            conn.progress.start();
            let progress = Arc::clone(&conn.progress);
            let pending = pending.map(|body| {
                WriteWatch {
                    inner: body,
                    progress: Arc::clone(&progress),
                }
                .boxed()
            });
            let sent = conn.sender.try_send_request(pending);
            tokio::pin!(sent);
            let sent = Driven {
                conn: &mut conn.conn,
                inner: sent,
            };
            match within_write_and_read(sent, &progress, limits).await? {
                Ok(response) => break (response, conn),
                Err(mut failed) => match failed.take_message() {
                    // Not sent (the connection was closed meanwhile): send it on another connection.
                    Some(unsent) if !unusable(&mut refused) => request = Some(unsent),
                    _ => return Err(sending_failed(&failed.into_error())),
                },
            }
        };
        let (head, body) = response.into_parts();
        let body = ReadWatch {
            inner: body,
            pause: PauseTimer::new(limits.read),
            release: Some(Release {
                pool: Arc::clone(self),
                key: Arc::clone(key),
                conn: Some(conn),
            }),
        };
        Ok(Response::from_parts(head, body.boxed()))
    }
}

/// The error for a request that failed once sent: the client's fault when its body broke or stalled.
fn sending_failed(err: &hyper::Error) -> ProxyError {
    match crate::error::ClientBodyError::find(err) {
        Some(crate::error::ClientBodyError::TimedOut(_)) => ProxyError::ClientTimeout,
        Some(crate::error::ClientBodyError::TooLarge(_)) => ProxyError::PayloadTooLarge,
        Some(broken) => ProxyError::BadRequest(broken.to_string()),
        None => ProxyError::Upstream(err.to_string()),
    }
}

/// Connects to `host:port`, trying again on failure up to `limits.retries` times.
async fn connect(host: &str, port: u16, limits: Limits) -> Result<Idle, ProxyError> {
    let mut attempt = 0;
    loop {
        let tried = tokio::time::timeout(limits.connect, open(host, port)).await;
        let failure = match tried {
            Ok(Ok(conn)) => return Ok(conn),
            Ok(Err(err)) => ProxyError::Upstream(format!("connect to {host}:{port}: {err}")),
            Err(_) => ProxyError::UpstreamTimeout,
        };
        if attempt >= limits.retries {
            return Err(failure);
        }
        attempt += 1;
        tracing::debug!(%host, port, attempt, error = %failure, "upstream connect failed; retrying");
    }
}

/// Opens one HTTP/1.1 connection and spawns its driver.
async fn open(host: &str, port: u16) -> Result<Idle, BoxError> {
    let stream = TcpStream::connect((host, port)).await?;
    let _ = stream.set_nodelay(true);
    let progress = Arc::new(Progress::new());
    let io = WatchedIo {
        inner: stream,
        progress: Arc::clone(&progress),
    };
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    Ok(Idle {
        sender,
        conn: Some(conn),
        progress,
        since: Instant::now(),
        used: 0,
    })
}

impl Idle {
    /// Polls the connection half once; `false` once it has ended (it is then dropped).
    fn poll_conn(&mut self, cx: &mut Context<'_>) -> bool {
        poll_conn(&mut self.conn, cx)
    }

    /// Whether an idle connection is still usable: one poll without a waker reads a close (or
    /// anything else) the upstream sent while nobody was polling.
    fn still_open(&mut self) -> bool {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        self.poll_conn(&mut cx) && !self.sender.is_closed()
    }

    /// Waits until the connection takes a request, driving it meanwhile.
    async fn ready(&mut self) -> Result<(), ()> {
        std::future::poll_fn(|cx| {
            if !self.poll_conn(cx) {
                return Poll::Ready(Err(()));
            }
            self.sender.poll_ready(cx).map_err(|_| ())
        })
        .await
    }
}

/// Polls a connection half (unless it ended); `false` once it has ended, and drops it then.
fn poll_conn(conn: &mut Option<Conn>, cx: &mut Context<'_>) -> bool {
    let Some(driver) = conn.as_mut() else {
        return false;
    };
    match Pin::new(driver).poll(cx) {
        Poll::Pending => true,
        Poll::Ready(result) => {
            if let Err(err) = result {
                tracing::debug!(%err, "upstream connection ended with an error");
            }
            *conn = None;
            false
        }
    }
}

/// A future of the request on `conn` (sending it, awaiting the response head) that drives the
/// connection each time it is polled.
struct Driven<'a, F> {
    conn: &'a mut Option<Conn>,
    inner: F,
}

impl<F: Future + Unpin> Future for Driven<'_, F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        poll_conn(this.conn, cx);
        Pin::new(&mut this.inner).poll(cx)
    }
}

/// The upstream socket, reporting write progress and writes the upstream does not take.
struct WatchedIo {
    inner: TcpStream,
    progress: Arc<Progress>,
}

impl tokio::io::AsyncRead for WatchedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for WatchedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.progress.after_write(&polled);
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.progress.after_write(&polled);
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Waits for the response head: at most `write` between two writes of the request, then at most `read`
/// once the request has been sent.
async fn within_write_and_read<F, T>(
    sent: F,
    progress: &Progress,
    limits: Limits,
) -> Result<T, ProxyError>
where
    F: Future<Output = T>,
{
    tokio::pin!(sent);
    // The deadline that stands now: `write` while the upstream does not take what is written, `read` once
    // the request is sent. While the client's body is still arriving, the client's own timer applies.
    let standing = || {
        if progress.blocked.load(Ordering::Acquire) {
            (progress.last() + limits.write, "write_timeout")
        } else if progress.done.load(Ordering::Acquire) {
            (progress.last() + limits.read, "read_timeout")
        } else {
            (Instant::now() + limits.write, "write_timeout")
        }
    };
    loop {
        let (deadline, _) = standing();
        tokio::select! {
            out = &mut sent => return Ok(out),
            () = progress.changed.notified() => {}
            () = tokio::time::sleep_until(deadline.into()) => {
                let (deadline, what) = standing();
                if Instant::now() >= deadline {
                    tracing::debug!(timer = what, "upstream timed out");
                    return Err(ProxyError::UpstreamTimeout);
                }
            }
        }
    }
}

/// How far sending the current request on a connection has come.
struct Progress {
    origin: Instant,
    /// Microseconds since `origin` of the last progress (a write, or a part of the body handed over).
    last: AtomicU64,
    /// The whole request body has been handed to the connection.
    done: AtomicBool,
    /// The last write to the socket could not proceed (the upstream is not reading).
    blocked: AtomicBool,
    /// Wakes the request's timer when `done` or `blocked` changes.
    changed: tokio::sync::Notify,
}

impl Progress {
    fn new() -> Self {
        Self {
            origin: Instant::now(),
            last: AtomicU64::new(0),
            done: AtomicBool::new(false),
            blocked: AtomicBool::new(false),
            changed: tokio::sync::Notify::new(),
        }
    }

    /// A new request starts on the connection.
    fn start(&self) {
        self.done.store(false, Ordering::Release);
        self.blocked.store(false, Ordering::Release);
        self.moved();
    }

    fn last(&self) -> Instant {
        self.origin + Duration::from_micros(self.last.load(Ordering::Acquire))
    }

    fn moved(&self) {
        let micros = u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.last.store(micros, Ordering::Release);
    }

    fn finished(&self) {
        self.moved();
        if !self.done.swap(true, Ordering::AcqRel) {
            self.changed.notify_one();
        }
    }

    fn after_write(&self, polled: &Poll<std::io::Result<usize>>) {
        let blocked = polled.is_pending();
        if self.blocked.swap(blocked, Ordering::AcqRel) != blocked {
            self.moved();
            self.changed.notify_one();
        }
    }
}

/// The request body, reporting each part handed to the connection.
struct WriteWatch {
    inner: Body,
    progress: Arc<Progress>,
}

impl HttpBody for WriteWatch {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.progress.finished(),
            Poll::Ready(Some(_)) => {
                if self.inner.is_end_stream() {
                    self.progress.finished();
                } else {
                    self.progress.moved();
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        let end = self.inner.is_end_stream();
        if end {
            // hyper does not poll a body that says it is empty.
            self.progress.finished();
        }
        end
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Puts the connection back in the pool once the response body has been read to its end.
struct Release {
    pool: Arc<Pool>,
    key: Arc<str>,
    conn: Option<Idle>,
}

impl Release {
    fn reuse(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            conn.since = Instant::now();
            self.pool.put(&self.key, conn);
        }
    }
}

/// The upstream's response body, failing when the upstream pauses longer than `read_timeout`.
struct ReadWatch {
    inner: Incoming,
    pause: PauseTimer,
    release: Option<Release>,
}

/// The error a stalled upstream body ends with.
#[derive(Debug, thiserror::Error)]
#[error("read_timeout: the upstream sent nothing for {0:?}")]
struct ReadTimedOut(Duration);

impl HttpBody for ReadWatch {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if let Some(conn) = this.release.as_mut().and_then(|r| r.conn.as_mut()) {
            conn.poll_conn(cx);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.pause.progressed();
                match &frame {
                    None => {
                        if let Some(mut release) = this.release.take() {
                            release.reuse();
                        }
                    }
                    Some(Err(_)) => this.release = None,
                    Some(Ok(_)) => {
                        if this.inner.is_end_stream()
                            && let Some(mut release) = this.release.take()
                        {
                            release.reuse();
                        }
                    }
                }
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => match this.pause.poll_expired(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(()) => {
                    this.release = None;
                    Poll::Ready(Some(Err(Box::new(ReadTimedOut(this.pause.limit())))))
                }
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for ReadWatch {
    fn drop(&mut self) {
        // A body dropped at its end (hyper does not poll past an empty or exhausted body) keeps its
        // connection; one dropped half-read does not.
        if self.inner.is_end_stream()
            && let Some(mut release) = self.release.take()
        {
            release.reuse();
        }
    }
}
