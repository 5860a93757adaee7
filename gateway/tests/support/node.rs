//! Gateway nodes on a [`PgServer`](super::PgServer) and what tests do with them: an echo upstream, a
//! client with a deadline, Admin API calls, proxy requests, polling until an answer changes (with a
//! deadline, never a fixed sleep), and the log lines a test produced.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};

use gateway::store::DatabaseMode;

use super::PgServer;

/// Kong's `db_update_frequency` for test nodes: short, so the tests run quickly.
pub const UPDATE_FREQUENCY: Duration = Duration::from_millis(500);

/// An upstream answering every request with `{"path": ..., "headers": {...}}`.
pub async fn echo_upstream() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async move {
                        let headers: serde_json::Map<String, Value> = req
                            .headers()
                            .iter()
                            .map(|(k, v)| (k.as_str().to_owned(), json!(v.to_str().unwrap_or(""))))
                            .collect();
                        let echo = json!({ "path": req.uri().path(), "headers": headers });
                        let _ = req.into_body().collect().await;
                        Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from(
                            echo.to_string(),
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

/// A client whose every request ends within 10 s.
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// A gateway node on `pg` (`database = postgres`) with a shared manual clock; loopback ports.
pub struct NodeBuilder<'a> {
    pg: &'a PgServer,
    clock: gateway::Clock,
    update_frequency: Duration,
}

/// [`NodeBuilder`] with [`UPDATE_FREQUENCY`].
pub fn node<'a>(pg: &'a PgServer, clock: &gateway::Clock) -> NodeBuilder<'a> {
    NodeBuilder {
        pg,
        clock: clock.clone(),
        update_frequency: UPDATE_FREQUENCY,
    }
}

impl NodeBuilder<'_> {
    /// Kong's `db_update_frequency`.
    pub fn update_frequency(mut self, every: Duration) -> Self {
        self.update_frequency = every;
        self
    }

    /// The gateway's builder, for settings this one lacks.
    pub fn builder(&self) -> gateway::GatewayBuilder {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        gateway::Gateway::builder()
            .proxy_listen(loopback)
            .admin_listen(loopback)
            .database(DatabaseMode::Postgres)
            .pg(self.pg.config())
            .db_update_frequency(self.update_frequency)
            .ttl_cleanup_interval(Duration::from_millis(200))
            .clock(self.clock.clone())
    }

    /// Starts it (the schema must be bootstrapped).
    pub async fn start(self) -> gateway::RunningGateway {
        self.builder().start().await.unwrap()
    }
}

/// `{method} {path}` on the Admin API with a JSON body: status and body.
pub async fn admin(
    gw: &gateway::RunningGateway,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = client().request(method, format!("http://{}{path}", gw.admin_addr()));
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// `POST` a JSON body to the Admin API; returns the created entity (asserting 201).
pub async fn admin_post(gw: &gateway::RunningGateway, path: &str, body: Value) -> Value {
    let (status, body) = admin(gw, reqwest::Method::POST, path, Some(body)).await;
    assert_eq!(status, 201, "POST {path}: {body}");
    body
}

/// `DELETE` on the Admin API (asserting 204).
pub async fn admin_delete(gw: &gateway::RunningGateway, path: &str) {
    let (status, body) = admin(gw, reqwest::Method::DELETE, path, None).await;
    assert_eq!(status, 204, "DELETE {path}: {body}");
}

/// `GET {path}` on the proxy with extra headers: status and the `session` cookie set, if any.
pub async fn get(
    gw: &gateway::RunningGateway,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, Option<String>) {
    let mut req = client().get(format!("http://{}{path}", gw.proxy_addr()));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let cookie = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter_map(|pair| pair.strip_prefix("session="))
        .find(|v| !v.is_empty())
        .map(str::to_owned);
    (resp.status().as_u16(), cookie)
}

/// Polls `GET {path}` on `gw` until it answers `want`, for at most `within`; panics with the last
/// status otherwise.
pub async fn until_status(
    gw: &gateway::RunningGateway,
    path: &str,
    headers: &[(&str, &str)],
    want: u16,
    within: Duration,
) {
    let deadline = Instant::now() + within;
    loop {
        let (status, _) = get(gw, path, headers).await;
        if status == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "GET {path} on {} still answers {status}, not {want}, after {within:?}",
            gw.proxy_addr()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `gw`'s Admin API until it serves `count` plugins, for at most `within`.
pub async fn until_plugins(gw: &gateway::RunningGateway, count: usize, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let (_, list) = admin(gw, reqwest::Method::GET, "/plugins", None).await;
        let seen = list["data"].as_array().map_or(0, Vec::len);
        if seen == count {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{seen} plugins on {}, not {count}, after {within:?}",
            gw.admin_addr()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Log lines captured from this thread: a current-thread runtime runs every task of the test on it.
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

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
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
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
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
