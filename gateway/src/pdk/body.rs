//! The request body: streamed to the upstream as it arrives unless a plugin reads it, and then read
//! at most up to nginx's `client_body_buffer_size` (Kong's `nginx_http_client_body_buffer_size`,
//! default `8k`). A larger body is what nginx writes to a temporary file: Kong's
//! `kong.request.get_body()` does not parse it (`kong/pdk/request.lua` `get_raw_body`), and here its
//! read prefix is chained with the unread rest, so the upstream still gets it whole, streaming.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Body as HttpBody, Frame, SizeHint};

/// The error of a request or response body: the client's or upstream's connection failed, or a timer ran out.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body type on both sides of the proxy: a stream of bytes that may fail (a broken connection, a timer).
pub type Body = BoxBody<Bytes, BoxError>;

/// nginx's default `client_body_buffer_size` (8k), which Kong keeps.
pub const CLIENT_BODY_BUFFER_SIZE: usize = 8 * 1024;

/// A body of `bytes`.
pub fn full(bytes: Bytes) -> Body {
    Full::new(bytes).map_err(|never| match never {}).boxed()
}

/// The request body and how much of it was read.
#[derive(Debug, Default)]
pub enum RequestBody {
    /// Not read; forwarded as it arrives.
    Stream(Body),
    /// Read whole into memory (it fit the buffer), or replaced by a plugin.
    Buffered(Bytes),
    /// Larger than the buffer: `prefix` was read (it may be empty when `Content-Length` already
    /// said so), `rest` was not. Plugins do not see it; the upstream gets both, in order.
    Oversized { prefix: Bytes, rest: Body },
    /// Reading failed (the client went away).
    #[default]
    Failed,
}

impl RequestBody {
    /// Reads `stream` until it ends or more than `limit` bytes came (then it holds at most the
    /// buffer plus the one frame that overflowed it); a `Content-Length` over `limit` reads nothing.
    pub async fn read(mut stream: Body, limit: usize) -> Self {
        if stream.size_hint().lower() > limit as u64 {
            return Self::Oversized {
                prefix: Bytes::new(),
                rest: stream,
            };
        }
        let mut buffer = BytesMut::new();
        while let Some(frame) = stream.frame().await {
            let Ok(frame) = frame else {
                return Self::Failed;
            };
            // Trailers are not forwarded, as before a plugin read the body.
            let Ok(data) = frame.into_data() else {
                continue;
            };
            if buffer.is_empty() && data.len() > limit {
                return Self::Oversized {
                    prefix: data,
                    rest: stream,
                };
            }
            buffer.extend_from_slice(&data);
            if buffer.len() > limit {
                return Self::Oversized {
                    prefix: buffer.freeze(),
                    rest: stream,
                };
            }
        }
        Self::Buffered(buffer.freeze())
    }

    /// The body to send upstream.
    pub fn into_body(self) -> Body {
        match self {
            Self::Stream(stream) => stream,
            Self::Buffered(bytes) => full(bytes),
            Self::Oversized { prefix, rest } => Chained {
                prefix: Some(prefix).filter(|p| !p.is_empty()),
                rest,
            }
            .boxed(),
            Self::Failed => Empty::new().map_err(|never| match never {}).boxed(),
        }
    }
}

/// The longest pause allowed between two parts of a streamed body: nginx's `client_body_timeout` for the
/// client's request body, `proxy_read_timeout` for the upstream's response body.
#[derive(Debug)]
pub struct PauseTimer {
    limit: std::time::Duration,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl PauseTimer {
    /// A timer allowing pauses of at most `limit`.
    pub fn new(limit: std::time::Duration) -> Self {
        Self {
            limit,
            deadline: None,
        }
    }

    /// The longest pause allowed.
    pub fn limit(&self) -> std::time::Duration {
        self.limit
    }

    /// A part arrived: the next pause is timed from scratch.
    pub fn progressed(&mut self) {
        self.deadline = None;
    }

    /// Nothing arrived this time: `Ready` once the pause has lasted longer than the limit.
    pub fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let limit = self.limit;
        let deadline = self
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        std::future::Future::poll(deadline.as_mut(), cx)
    }
}

/// Already-read bytes followed by the rest of the stream.
struct Chained {
    prefix: Option<Bytes>,
    rest: Body,
}

impl HttpBody for Chained {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(prefix) = self.prefix.take() {
            return Poll::Ready(Some(Ok(Frame::data(prefix))));
        }
        Pin::new(&mut self.rest).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.prefix.is_none() && self.rest.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let read = self.prefix.as_ref().map_or(0, |p| p.len() as u64);
        let rest = self.rest.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(rest.lower().saturating_add(read));
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper.saturating_add(read));
        }
        hint
    }
}
