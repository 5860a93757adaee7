use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{ClientLimits, parse_nginx_time};
use crate::{Gateway, RunningGateway};

/// Short timers, so the tests take well under a second each.
fn limits() -> ClientLimits {
    ClientLimits {
        header_timeout: Duration::from_millis(300),
        body_timeout: Duration::from_millis(300),
        keepalive_timeout: Duration::from_millis(400),
        max_body_size: None,
        max_connections: 64,
    }
}

async fn gateway(
    limits: ClientLimits,
    config: Option<&str>,
) -> (RunningGateway, tempfile_path::Kept) {
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut builder = Gateway::builder()
        .proxy_listen(any)
        .admin_listen(any)
        .client_limits(limits);
    let kept = tempfile_path::Kept::new(config.unwrap_or("_format_version: \"3.0\"\n"));
    builder = builder.declarative_config(kept.path());
    (builder.start().await.unwrap(), kept)
}

/// A declarative file that lives as long as the test.
mod tempfile_path {
    pub struct Kept(std::path::PathBuf);
    impl Kept {
        pub fn new(text: &str) -> Self {
            let path =
                std::env::temp_dir().join(format!("listener-test-{}.yml", uuid::Uuid::new_v4()));
            std::fs::write(&path, text).unwrap();
            Self(path)
        }
        pub fn path(&self) -> &std::path::Path {
            &self.0
        }
    }
    impl Drop for Kept {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

/// Reads until the peer closes (Ok with what was read) or `within` passes (Err).
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> Result<Vec<u8>, ()> {
    let mut all = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(within, read).await.map_err(|_| ())?;
    Ok(all)
}

#[test]
fn nginx_time_values_parse() {
    assert_eq!(parse_nginx_time("60s"), Ok(Duration::from_secs(60)));
    assert_eq!(parse_nginx_time("75"), Ok(Duration::from_secs(75)));
    assert_eq!(parse_nginx_time("500ms"), Ok(Duration::from_millis(500)));
    assert_eq!(parse_nginx_time("1m30s"), Ok(Duration::from_secs(90)));
    assert_eq!(parse_nginx_time("2h"), Ok(Duration::from_secs(7200)));
    for bad in ["", "s", "10x", "-1s", "1.5s", "99999999999999999999y"] {
        assert!(parse_nginx_time(bad).is_err(), "{bad}");
    }
}

#[tokio::test]
async fn half_a_header_is_cut_off_after_client_header_timeout() {
    let (gw, _kept) = gateway(limits(), None).await;
    let mut stream = TcpStream::connect(gw.proxy_addr()).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let closed = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(
        closed.is_ok(),
        "the connection must be closed, not held open"
    );
}

#[tokio::test]
async fn a_silent_new_connection_is_cut_off() {
    let (gw, _kept) = gateway(limits(), None).await;
    let mut stream = TcpStream::connect(gw.proxy_addr()).await.unwrap();
    let closed = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert_eq!(closed, Ok(Vec::new()));
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_keepalive_timeout() {
    let (gw, _kept) = gateway(limits(), None).await;
    let mut stream = TcpStream::connect(gw.proxy_addr()).await.unwrap();
    stream
        .write_all(b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 404"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    let started = tokio::time::Instant::now();
    let closed = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(
        closed.is_ok(),
        "an idle keep-alive connection must be closed"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "not before keepalive_timeout"
    );
}

#[tokio::test]
async fn a_slow_upstream_is_not_a_slow_client() {
    // The upstream answers after 700 ms, longer than every client timer here.
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = upstream.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = upstream.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                tokio::time::sleep(Duration::from_millis(700)).await;
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await;
            });
        }
    });
    let config = format!(
        "_format_version: \"3.0\"\nservices:\n  - name: s\n    url: http://{up}\n    routes:\n      - paths: [/]\n"
    );
    let (gw, _kept) = gateway(limits(), Some(&config)).await;
    let mut stream = TcpStream::connect(gw.proxy_addr()).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
}

#[tokio::test]
async fn a_stalled_request_body_is_cut_off_after_client_body_timeout() {
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = upstream.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = upstream.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
            });
        }
    });
    let config = format!(
        "_format_version: \"3.0\"\nservices:\n  - name: s\n    url: http://{up}\n    routes:\n      - paths: [/]\n"
    );
    let (gw, _kept) = gateway(limits(), Some(&config)).await;
    let mut stream = TcpStream::connect(gw.proxy_addr()).await.unwrap();
    stream
        .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly-some")
        .await
        .unwrap();
    // The gateway gives up on the body: an error response and/or a closed connection, long before the
    // upstream's 60 s read timeout.
    let answered = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(
        answered.is_ok(),
        "a stalled body must not hold the connection open"
    );
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_for_a_free_slot() {
    let one = ClientLimits {
        max_connections: 1,
        keepalive_timeout: Duration::from_secs(30),
        header_timeout: Duration::from_secs(30),
        ..limits()
    };
    let (gw, _kept) = gateway(one, None).await;
    let mut first = TcpStream::connect(gw.proxy_addr()).await.unwrap();
    first
        .write_all(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 4096];
    assert!(first.read(&mut buf).await.unwrap() > 0);
    // The second client connects (the kernel queues it) but is not served while the first is open.
    let mut second = TcpStream::connect(gw.proxy_addr()).await.unwrap();
    second
        .write_all(b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let early = tokio::time::timeout(Duration::from_millis(300), second.read(&mut buf)).await;
    assert!(early.is_err(), "served beyond the connection limit");
    drop(first);
    let n = tokio::time::timeout(Duration::from_secs(5), second.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 404"));
}

/// A gateway with one route to an upstream that reads whole requests and answers 200.
async fn with_reading_upstream() -> (RunningGateway, tempfile_path::Kept) {
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = upstream.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = upstream.accept().await {
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    |req: http::Request<hyper::body::Incoming>| async move {
                        let _ = http_body_util::BodyExt::collect(req.into_body()).await;
                        Ok::<_, std::convert::Infallible>(http::Response::new(
                            http_body_util::Full::new(bytes::Bytes::from_static(b"ok")),
                        ))
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(s), service)
                    .await;
            });
        }
    });
    let config = format!(
        "_format_version: \"3.0\"\nservices:\n  - name: s\n    url: http://{up}\n    routes:\n      - paths: [/]\n"
    );
    gateway(ClientLimits::default(), Some(&config)).await
}

/// Sends raw bytes and returns what came back before the connection closed (at most 5 s).
async fn exchange(addr: SocketAddr, raw: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(raw).await.unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test]
async fn a_malformed_chunked_body_is_the_clients_fault() {
    let (gw, _kept) = with_reading_upstream().await;
    let reply = exchange(
        gw.proxy_addr(),
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    )
    .await;
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
}

#[tokio::test]
async fn an_oversized_cookie_gets_nginxs_400_with_kongs_message() {
    let (gw, _kept) = with_reading_upstream().await;
    let cookie = "a".repeat(9000);
    let raw = format!("GET / HTTP/1.1\r\nHost: x\r\nCookie: session={cookie}\r\n\r\n");
    let reply = exchange(gw.proxy_addr(), raw.as_bytes()).await;
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    assert!(
        reply.contains("Request header or cookie too large"),
        "{reply}"
    );
}

#[tokio::test]
async fn duplicate_host_headers_are_refused() {
    let (gw, _kept) = with_reading_upstream().await;
    let reply = exchange(
        gw.proxy_addr(),
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    )
    .await;
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
}

#[test]
fn nginx_sizes_parse() {
    use super::parse_nginx_size;
    assert_eq!(parse_nginx_size("0"), Ok(0));
    assert_eq!(parse_nginx_size("8k"), Ok(8192));
    assert_eq!(parse_nginx_size("10M"), Ok(10 * 1024 * 1024));
    assert_eq!(parse_nginx_size("1g"), Ok(1024 * 1024 * 1024));
    for bad in ["", "k", "1.5m", "-1", "99999999999999999999g"] {
        assert!(parse_nginx_size(bad).is_err(), "{bad}");
    }
}

#[tokio::test]
async fn client_max_body_size_refuses_declared_and_streamed_bodies() {
    let (plain, _kept) = with_reading_upstream().await;
    let config = std::fs::read_to_string(_kept.path()).unwrap();
    let limited = ClientLimits {
        max_body_size: Some(16),
        ..ClientLimits::default()
    };
    let (gw, _kept2) = gateway(limited, Some(&config)).await;
    let declared = exchange(
        gw.proxy_addr(),
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n",
    )
    .await;
    assert!(declared.starts_with("HTTP/1.1 413"), "{declared}");
    assert!(declared.contains("Payload too large"), "{declared}");
    let streamed = exchange(
        gw.proxy_addr(),
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n0123456789abcdef0123456789abcdef\r\n0\r\n\r\n",
    )
    .await;
    assert!(streamed.starts_with("HTTP/1.1 413"), "{streamed}");
    let small = exchange(
        gw.proxy_addr(),
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    )
    .await;
    assert!(small.starts_with("HTTP/1.1 200"), "{small}");
    drop(plain);
}

#[test]
fn accept_failures_are_logged_once_per_interval() {
    let mut errors = super::AcceptErrors {
        last_log: None,
        since_log: 0,
    };
    let emfile = std::io::Error::from_raw_os_error(24);
    assert!(errors.record(&emfile), "the first failure is logged");
    let logged = (0..10_000).filter(|_| errors.record(&emfile)).count();
    assert_eq!(logged, 0, "then nothing until LOG_INTERVAL has passed");
    assert_eq!(
        errors.since_log, 10_000,
        "but every failure is counted for the next line"
    );
}
