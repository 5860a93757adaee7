//! Test helpers shared by the unit tests: a gateway state from a declarative document, requests
//! run through the proxy pipeline without a listener, and a tiny echo upstream on 127.0.0.1:0.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};

use crate::clock::Clock;
use crate::plugins::{Catalogue, Deps};
use crate::proxy::Body;
use crate::state::Shared;

/// The client address requests come from.
pub const CLIENT: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 50000);

/// The gateway's plugin list with in-memory dependencies.
pub fn catalogue() -> Arc<Catalogue> {
    Arc::new(Catalogue::new(Deps::in_memory()))
}

/// Shared state loaded from a declarative YAML document, on a manual clock.
pub fn shared(doc: &str) -> Arc<Shared> {
    let clock = Clock::manual();
    let catalogue = catalogue();
    let db = crate::declarative::parse_bytes(
        doc.as_bytes(),
        "test.yml",
        clock.now(),
        catalogue.as_ref(),
    )
    .unwrap();
    Shared::new(db, clock, catalogue).unwrap()
}

/// A request with an empty body.
pub fn request(method: &str, uri: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    builder
        .body(
            Full::new(Bytes::new())
                .map_err(|never| match never {})
                .boxed(),
        )
        .unwrap()
}

/// A request with a body.
pub fn request_with_body(
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Request<Body> {
    let (parts, _) = request(method, uri, headers).into_parts();
    Request::from_parts(
        parts,
        Full::new(Bytes::from(body.to_owned()))
            .map_err(|never| match never {})
            .boxed(),
    )
}

/// Runs a request through the proxy pipeline.
pub async fn send(shared: &Arc<Shared>, req: Request<Body>) -> Response<Bytes> {
    let resp = crate::proxy::handle(Arc::clone(shared), req, CLIENT).await;
    let (parts, body) = resp.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    Response::from_parts(parts, bytes)
}

/// Parses a JSON body.
pub fn json_body(resp: &Response<Bytes>) -> Value {
    serde_json::from_slice(resp.body()).unwrap_or(Value::Null)
}

/// All `Set-Cookie` values.
pub fn set_cookies(resp: &Response<Bytes>) -> Vec<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// `name=value` of the first Set-Cookie, for sending back.
pub fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

/// An upstream that answers every request with its method, path, query, headers and body as JSON.
pub async fn echo_upstream() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async move {
                        let headers: serde_json::Map<String, Value> = req
                            .headers()
                            .iter()
                            .map(|(k, v)| {
                                (
                                    k.as_str().to_owned(),
                                    Value::String(v.to_str().unwrap_or("").to_owned()),
                                )
                            })
                            .collect();
                        let (head, body) = req.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|c| c.to_bytes())
                            .unwrap_or_default();
                        let body = json!({
                            "method": head.method.as_str(),
                            "path": head.uri.path(),
                            "query": head.uri.query(),
                            "headers": headers,
                            "body": String::from_utf8_lossy(&body),
                        });
                        Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from(
                            body.to_string(),
                        ))))
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// The documented key-auth + session + request-termination flow, pointed at `upstream`.
pub fn documented_flow(upstream: SocketAddr, session_config: &str) -> String {
    format!(
        r#"
_format_version: "3.0"
services:
  - name: example-service
    url: http://{upstream}/anything
    routes:
      - name: example-route
        paths: [/anything]
    plugins:
      - name: key-auth
        config:
          key_names: [apikey]
          anonymous: 81823632-10c0-4098-a4f7-31062520c1e6
      - name: session
        config:
          secret: test-secret
{session_config}
consumers:
  - username: alex
    keyauth_credentials:
      - key: hello_world
  - username: anonymous_users
    id: 81823632-10c0-4098-a4f7-31062520c1e6
plugins:
  - name: request-termination
    service: example-service
    consumer: anonymous_users
    config:
      status_code: 403
      message: Forbidden
"#
    )
}

/// A private `redis-server` (Debian's package, `ci/setup.sh`) on a free loopback port, its data in a
/// temporary directory with an append-only file synced on every write (so what it acknowledged survives
/// [`RedisServer::stop`] + [`RedisServer::restart`]), killed and removed on drop. A server that cannot
/// start fails the test with one line.
pub struct RedisServer {
    child: Option<std::process::Child>,
    port: u16,
    dir: std::path::PathBuf,
}

fn redis_fail(why: String) -> ! {
    panic!("cannot start a private redis-server for this test: {why}")
}

impl RedisServer {
    /// Starts it and waits (at most 10 s) until it accepts connections.
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| redis_fail(format!("no free loopback port: {e}")));
        let dir = std::env::temp_dir().join(format!("gateway-redis-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| redis_fail(format!("{}: {e}", dir.display())));
        let mut server = Self {
            child: None,
            port,
            dir,
        };
        server.restart();
        server
    }

    /// Starts the server again on its port and data directory (after [`RedisServer::stop`]).
    pub fn restart(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| redis_fail(format!("cannot run redis-server ({e}); run ci/setup.sh, which installs Debian's redis-server")));
        self.child = Some(child);
        let port = self.port;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if std::time::Instant::now() > deadline {
                redis_fail(format!(
                    "redis-server did not listen on 127.0.0.1:{port} within 10 s"
                ));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Kills the server (an outage); its data stays for [`RedisServer::restart`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server (`SIGSTOP`): connections stay open and nothing answers, so only the
    /// client's deadlines end a call. [`RedisServer::resume`] thaws it.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Thaws a [`RedisServer::pause`]d server.
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().map(std::process::Child::id);
        let pid = pid.unwrap_or_else(|| redis_fail("the server is stopped".to_owned()));
        let ok = std::process::Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill {signal} {pid} failed");
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.resume();
        }
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Log lines captured from this thread (a current-thread runtime runs every task of the test on it).
#[derive(Clone, Default)]
pub struct Logs(Arc<std::sync::Mutex<Vec<u8>>>);

impl Logs {
    /// Captures every event at `debug` and above until the guard drops.
    pub fn capture() -> (Self, tracing::subscriber::DefaultGuard) {
        let logs = Self::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    /// How many captured lines contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        let bytes = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter(|line| line.contains(needle))
            .count()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
