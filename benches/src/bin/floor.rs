//! `floor`: the smallest reverse proxy on the gateway's stack (tokio + hyper 1.x, HTTP/1.1 server and
//! `hyper::client::conn` keep-alive upstream connections, mimalloc), with no gateway logic at all: no
//! routing, no plugins, no header rewriting, no timeouts. The load benchmark's `floor` scenario runs it
//! pinned like the gateway, so its ratio to nginx is what the mandated stack costs by itself.
//!
//! ```text
//! floor --listen 127.0.0.1:8000 --upstream 127.0.0.1:9080
//! ```
//!
//! Each request is sent as it came (method, path, headers, body) on a pooled upstream connection, whose
//! driver runs as its own task (hyper's usual pattern, as the gateway's pool does); the connection goes
//! back to the pool when the response body has been read to its end. An upstream failure is a 502.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::SendRequest;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Out = BoxBody<Bytes, BoxError>;

/// Idle upstream connections.
struct Pool {
    upstream: SocketAddr,
    idle: Mutex<Vec<SendRequest<Incoming>>>,
}

impl Pool {
    fn take(&self) -> Option<SendRequest<Incoming>> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(sender) = idle.pop() {
            if !sender.is_closed() {
                return Some(sender);
            }
        }
        None
    }

    fn put(&self, sender: SendRequest<Incoming>) {
        if !sender.is_closed() {
            self.idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(sender);
        }
    }

    async fn connect(&self) -> Result<SendRequest<Incoming>, BoxError> {
        let stream = TcpStream::connect(self.upstream).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }

    async fn send(self: &Arc<Self>, request: Request<Incoming>) -> Result<Response<Out>, BoxError> {
        let mut sender = match self.take() {
            Some(sender) => sender,
            None => self.connect().await?,
        };
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        let (head, body) = response.into_parts();
        let body = Release {
            inner: body,
            back: Some((Arc::clone(self), sender)),
        };
        Ok(Response::from_parts(head, body.boxed()))
    }
}

/// The upstream response body; gives its connection back to the pool at its end.
struct Release {
    inner: Incoming,
    back: Option<(Arc<Pool>, SendRequest<Incoming>)>,
}

impl Release {
    fn release(&mut self) {
        if let Some((pool, sender)) = self.back.take() {
            pool.put(sender);
        }
    }
}

impl Body for Release {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => this.release(),
            Poll::Ready(Some(Ok(_))) if this.inner.is_end_stream() => this.release(),
            Poll::Ready(Some(Err(_))) => this.back = None,
            _ => {}
        }
        polled.map(|frame| frame.map(|f| f.map_err(Into::into)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        if self.inner.is_end_stream() {
            self.release();
        }
    }
}

fn bad_gateway() -> Response<Out> {
    let mut response = Response::new(
        Full::new(Bytes::from_static(b"bad gateway\n"))
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() = StatusCode::BAD_GATEWAY;
    response
}

/// `--listen ADDR --upstream ADDR`.
fn parse_args() -> Result<(SocketAddr, SocketAddr), String> {
    let mut listen = None;
    let mut upstream = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let slot = match arg.as_str() {
            "--listen" => &mut listen,
            "--upstream" => &mut upstream,
            other => return Err(format!("unknown argument {other}")),
        };
        let value = args.next().ok_or(format!("{arg} needs a value"))?;
        *slot = Some(value.parse().map_err(|e| format!("{arg} {value}: {e}"))?);
    }
    match (listen, upstream) {
        (Some(l), Some(u)) => Ok((l, u)),
        _ => Err("usage: floor --listen ADDR --upstream ADDR".to_owned()),
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let (listen, upstream) = parse_args()?;
    let pool = Arc::new(Pool {
        upstream,
        idle: Mutex::new(Vec::new()),
    });
    let listener = TcpListener::bind(listen).await?;
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                eprintln!("accept: {err}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let pool = Arc::clone(&pool);
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let pool = Arc::clone(&pool);
                async move {
                    Ok::<_, std::convert::Infallible>(
                        pool.send(request).await.unwrap_or_else(|_| bad_gateway()),
                    )
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
