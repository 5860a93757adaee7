//! The client's request body as the proxy reads it: `client_body_timeout` between two reads and
//! `client_max_body_size` in all, failing with a [`ClientBodyError`] that the proxy answers as the client's
//! fault (408, 413, 400). Wraps every request body.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, SizeHint};

use crate::error::ClientBodyError;
use crate::pdk::BoxError;
use crate::pdk::body::PauseTimer;

/// The client's request body, failing when the client pauses longer than `client_body_timeout` between
/// two reads (nginx answers 408 and closes; here the read fails, which the proxy turns into its error).
pub struct TimeoutBody<B> {
    inner: B,
    pause: PauseTimer,
    /// Bytes still allowed by `client_max_body_size`, if it is set.
    allowance: Option<u64>,
    max_size: Option<u64>,
}

impl<B> TimeoutBody<B> {
    /// Wraps `inner`; `max_size` is `client_max_body_size`.
    pub fn new(inner: B, timeout: Duration, max_size: Option<u64>) -> Self {
        Self {
            inner,
            pause: PauseTimer::new(timeout),
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
                this.pause.progressed();
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
            Poll::Pending => match this.pause.poll_expired(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(ClientBodyError::TimedOut(
                    this.pause.limit(),
                ))))),
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
