//! The header and keep-alive timers of one client connection: an I/O wrapper that fails a read once the
//! client is too slow to start or finish a request header, and the response-body wrapper that tells it when a
//! response has been sent. Runs inside every client connection's task.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use hyper::body::{Body as HttpBody, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::ClientLimits;
use super::access_log::{AccessLog, Entry};
use super::stats::ConnectionStats;
use bytes::Buf as _;

/// Where a connection is in its request cycle (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum Phase {
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
pub(super) struct PhaseCell {
    phase: AtomicU8,
    reader: Mutex<Option<Waker>>,
    /// The gateway's connection counters, which follow this connection's phase until it closes.
    stats: Arc<ConnectionStats>,
}

impl PhaseCell {
    /// A new connection, counted in `stats` until this cell is dropped.
    pub(super) fn new(stats: Arc<ConnectionStats>) -> Self {
        stats.opened();
        Self {
            phase: AtomicU8::new(Phase::Idle as u8),
            reader: Mutex::new(None),
            stats,
        }
    }

    /// Moves the connection's count from the gauge of `from` to that of `to`.
    fn count(&self, from: u8, to: u8) {
        if from == to {
            return;
        }
        for (phase, delta) in [(from, -1), (to, 1)] {
            match phase {
                1 => self.stats.reading(delta),
                2 => self.stats.writing(delta),
                _ => {}
            }
        }
    }

    pub(super) fn get(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Idle,
            1 => Phase::Header,
            _ => Phase::Busy,
        }
    }

    pub(super) fn set(&self, phase: Phase) {
        let before = self.phase.swap(phase as u8, Ordering::AcqRel);
        self.count(before, phase as u8);
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
pub(super) struct Watched<T> {
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
    pub(super) fn new(inner: T, phase: Arc<PhaseCell>, limits: Arc<ClientLimits>) -> Self {
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

/// Marks the connection idle again when the response body has been sent (or dropped).
pub(super) struct IdleOnDrop(pub(super) Arc<PhaseCell>);

impl Drop for IdleOnDrop {
    fn drop(&mut self) {
        self.0.set(Phase::Idle);
    }
}

impl Drop for PhaseCell {
    fn drop(&mut self) {
        self.count(self.phase.load(Ordering::Acquire), Phase::Idle as u8);
        self.stats.closed();
    }
}

/// A response body that holds an [`IdleOnDrop`], counts the body bytes sent, and writes the access log line
/// when the response is done (or abandoned).
pub(super) struct Tracked<B> {
    pub(super) inner: B,
    pub(super) _idle: IdleOnDrop,
    pub(super) log: Option<(AccessLog, Entry)>,
}

impl<B> Drop for Tracked<B> {
    fn drop(&mut self) {
        if let Some((log, entry)) = self.log.take() {
            log.log(entry);
        }
    }
}

impl<B: HttpBody + Unpin> HttpBody for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let (Some((_, entry)), Poll::Ready(Some(Ok(frame)))) = (self.log.as_mut(), &polled)
            && let Some(data) = frame.data_ref()
        {
            entry.bytes += data.remaining() as u64;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
