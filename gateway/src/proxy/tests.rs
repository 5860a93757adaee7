use serde_json::json;

use crate::testing::{echo_upstream, json_body, request, send, shared};

fn doc(url: &str, route: &str) -> String {
    format!(
        "_format_version: \"3.0\"\nservices:\n  - name: s\n    url: {url}\n    read_timeout: 300\n    connect_timeout: 300\n    routes:\n      - {route}\n"
    )
}

#[tokio::test]
async fn no_route_is_kongs_404() {
    let gw = shared("_format_version: \"3.0\"\n");
    let resp = send(&gw, request("GET", "/x", &[])).await;
    assert_eq!(resp.status(), 404);
    assert_eq!(
        json_body(&resp)["message"],
        "no Route matched with those values"
    );
}

#[tokio::test]
async fn path_query_and_headers_are_forwarded_with_kongs_rules() {
    let up = echo_upstream().await;
    let gw = shared(&doc(
        &format!("http://{up}/base"),
        "{ paths: [/api], strip_path: true }",
    ));
    let req = request(
        "POST",
        "/api/items?a=1&b=two",
        &[
            ("host", "gw.test:8000"),
            ("x-custom", "yes"),
            ("connection", "keep-alive, x-drop"),
            ("x-drop", "1"),
        ],
    );
    let resp = send(&gw, req).await;
    assert_eq!(resp.status(), 200);
    let seen = json_body(&resp);
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["path"], "/base/items");
    assert_eq!(seen["query"], "a=1&b=two");
    let h = &seen["headers"];
    assert_eq!(h["x-custom"], "yes");
    assert!(
        h.get("x-drop").is_none(),
        "headers named in Connection are hop-by-hop"
    );
    assert_eq!(
        h["host"],
        json!(up.to_string()),
        "Host is the upstream's unless preserve_host"
    );
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(h["x-forwarded-host"], "gw.test");
    assert_eq!(h["x-forwarded-port"], "8000");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-forwarded-path"], "/api/items");
    assert_eq!(h["x-real-ip"], "127.0.0.1");
}

#[tokio::test]
async fn preserve_host_and_no_strip() {
    let up = echo_upstream().await;
    let gw = shared(&doc(
        &format!("http://{up}"),
        "{ paths: [/api], strip_path: false, preserve_host: true }",
    ));
    let seen = json_body(&send(&gw, request("GET", "/api/x", &[("host", "gw.test")])).await);
    assert_eq!(seen["path"], "/api/x");
    assert_eq!(seen["headers"]["host"], "gw.test");
}

#[tokio::test]
async fn unreachable_upstream_is_a_502_with_a_json_message() {
    // Bind then drop a listener so the port is (very likely) closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let gw = shared(&doc(&format!("http://127.0.0.1:{port}"), "{ paths: [/] }"));
    let resp = send(&gw, request("GET", "/", &[])).await;
    assert_eq!(resp.status(), 502);
    assert_eq!(
        json_body(&resp)["message"],
        "An invalid response was received from the upstream server"
    );
}

#[tokio::test]
async fn a_silent_upstream_times_out_with_a_504() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            open.push(stream); // accept and never answer
        }
    });
    let gw = shared(&doc(&format!("http://{addr}"), "{ paths: [/] }"));
    let resp = send(&gw, request("GET", "/", &[])).await;
    assert_eq!(resp.status(), 504);
    assert_eq!(
        json_body(&resp)["message"],
        "The upstream server is timing out"
    );
    held.abort();
}

/// An open `/pub` route and a `/priv` route behind key-auth, on one upstream.
fn pub_and_priv(up: std::net::SocketAddr) -> String {
    format!(
        "_format_version: \"3.0\"\nservices:\n  - name: s\n    url: http://{up}\n    routes:\n      - name: pub\n        paths: [/pub]\n        strip_path: false\n      - name: priv\n        paths: [/priv]\n        strip_path: false\nplugins:\n  - name: key-auth\n    route: priv\n"
    )
}

#[tokio::test]
async fn dot_segments_cannot_leave_an_open_route_for_a_protected_one() {
    let up = echo_upstream().await;
    let gw = shared(&pub_and_priv(up));
    for path in [
        "/pub/../priv/secret",
        "/pub/%2e%2e/priv/secret",
        "/pub/%2E%2e/priv/secret",
        "/pub/.%2e/priv/secret",
        "//pub/..//priv/secret",
        "/pub/./../priv/secret",
    ] {
        let resp = send(&gw, request("GET", path, &[])).await;
        assert_eq!(
            resp.status(),
            401,
            "{path} must be routed to /priv (key-auth)"
        );
    }
    // Still under /pub: forwarded normalised.
    let seen = json_body(&send(&gw, request("GET", "/pub/a/../b/./c", &[])).await);
    assert_eq!(seen["path"], "/pub/b/c");
    // Double encoding is decoded once: a literal `%2e%2e` segment, not a dot segment.
    let resp = send(&gw, request("GET", "/pub/%252e%252e/priv/secret", &[])).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(json_body(&resp)["path"], "/pub/%252e%252e/priv/secret");
}

/// A raw upstream: for each connection, runs `answer` with the stream. Returns its address and a counter of
/// accepted connections.
async fn raw_upstream<F, Fut>(
    answer: F,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
)
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(answer(stream));
        }
    });
    (addr, accepted)
}

fn service_with(url: &str, timeouts: &str) -> String {
    format!(
        "_format_version: \"3.0\"\nservices:\n  - name: s\n    url: {url}\n{timeouts}    routes:\n      - paths: [/]\n"
    )
}

#[tokio::test]
async fn read_timeout_applies_on_its_own() {
    use tokio::io::AsyncReadExt;
    let (up, _) = raw_upstream(|mut s| async move {
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf).await;
        tokio::time::sleep(std::time::Duration::from_secs(30)).await;
    })
    .await;
    // connect_timeout stays at Kong's 60 s: only read_timeout may end this request.
    let gw = shared(&service_with(
        &format!("http://{up}"),
        "    read_timeout: 300\n",
    ));
    let started = std::time::Instant::now();
    let resp = send(&gw, request("GET", "/", &[])).await;
    assert_eq!(resp.status(), 504);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "read_timeout 300 ms, answered after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_stalled_upstream_body_fails_after_read_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (up, _) = raw_upstream(|mut s| async move {
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nab")
            .await;
        tokio::time::sleep(std::time::Duration::from_secs(30)).await;
    })
    .await;
    let gw = shared(&service_with(
        &format!("http://{up}"),
        "    read_timeout: 300\n",
    ));
    let resp = crate::proxy::handle(gw, request("GET", "/", &[]), crate::testing::CLIENT).await;
    assert_eq!(resp.status(), 200);
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        http_body_util::BodyExt::collect(resp.into_body()),
    )
    .await
    .expect("the body must end (with an error) after read_timeout");
    assert!(
        read.is_err(),
        "a truncated body is an error, not a short success"
    );
}

#[tokio::test]
async fn connect_timeout_applies_to_the_connect_alone() {
    // A listener whose accept queue is full: the kernel drops further SYNs, so connecting hangs.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..8 {
        fillers.push(tokio::spawn(tokio::net::TcpStream::connect(addr)));
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let gw = shared(&service_with(
        &format!("http://{addr}"),
        "    connect_timeout: 200\n    retries: 1\n",
    ));
    let started = std::time::Instant::now();
    let resp = send(&gw, request("GET", "/", &[])).await;
    assert_eq!(resp.status(), 504);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "connect_timeout 200 ms (+1 retry), answered after {:?}",
        started.elapsed()
    );
    drop(listener);
    for f in fillers {
        f.abort();
    }
}

#[tokio::test]
async fn upstream_connections_are_kept_alive_and_reused() {
    let up = echo_upstream().await;
    let (counting, accepted) = raw_upstream(move |mut client| async move {
        if let Ok(mut server) = tokio::net::TcpStream::connect(up).await {
            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        }
    })
    .await;
    let gw = shared(&service_with(&format!("http://{counting}"), ""));
    for _ in 0..5 {
        let resp = send(&gw, request("GET", "/x", &[])).await;
        assert_eq!(resp.status(), 200);
    }
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_refused_connection_is_retried_then_502() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let gw = shared(&service_with(
        &format!("http://127.0.0.1:{port}"),
        "    retries: 3\n",
    ));
    let resp = send(&gw, request("GET", "/", &[])).await;
    assert_eq!(resp.status(), 502);
}

#[tokio::test]
async fn write_timeout_applies_when_the_upstream_does_not_read() {
    // Accepts and never reads: once the socket buffers are full, the gateway's writes stall.
    let (up, _) = raw_upstream(|s| async move {
        tokio::time::sleep(std::time::Duration::from_secs(30)).await;
        drop(s);
    })
    .await;
    let gw = shared(&service_with(
        &format!("http://{up}"),
        "    write_timeout: 300\n",
    ));
    let body = "x".repeat(64 * 1024 * 1024);
    let started = std::time::Instant::now();
    let resp = send(
        &gw,
        crate::testing::request_with_body("POST", "/", &[("content-type", "text/plain")], &body),
    )
    .await;
    assert_eq!(resp.status(), 504);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "write_timeout 300 ms, answered after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_upstream_uri_that_cannot_be_built_is_kongs_500() {
    use std::sync::Arc;

    use crate::error::ProxyError;
    use crate::model::{Route, Service};
    use crate::pdk::{Ctx, RequestBody};

    let service: Service = serde_json::from_value(json!({ "host": "bad host" })).unwrap();
    let route: Route = serde_json::from_value(json!({})).unwrap();
    let gw = shared("_format_version: \"3.0\"\n");
    let (parts, body) = request("GET", "/x", &[]).into_parts();
    let mut ctx = Ctx::new(
        0,
        parts,
        RequestBody::Stream(body),
        crate::testing::CLIENT,
        gw.snapshot.load_full(),
        Arc::from("r"),
        None,
    );
    let err = super::Upstream::new()
        .forward(
            &mut ctx,
            &service,
            &super::Target::new(&service),
            &route,
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ProxyError::Internal(_)), "{err:?}");
    let exit = err.into_exit("id");
    assert_eq!(exit.status, 500);
    let body: serde_json::Value = serde_json::from_slice(&exit.body).unwrap();
    assert_eq!(body["message"], "An unexpected error occurred");
}

#[tokio::test]
async fn a_stray_percent_is_nginxs_400() {
    let up = echo_upstream().await;
    let gw = shared(&pub_and_priv(up));
    for path in ["/pub/%%32e%%32e/priv/secret", "/pub/a%zz", "/pub/%"] {
        let resp = send(&gw, request("GET", path, &[])).await;
        assert_eq!(resp.status(), 400, "{path}");
    }
}

#[tokio::test]
async fn an_upstream_that_hangs_up_at_once_is_a_502_not_a_loop() {
    let (up, accepted) = raw_upstream(|s| async move { drop(s) }).await;
    let gw = shared(&service_with(&format!("http://{up}"), "    retries: 2\n"));
    let resp = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        send(&gw, request("GET", "/", &[])),
    )
    .await
    .expect("the proxy must give up, not loop");
    assert_eq!(resp.status(), 502);
    assert!(accepted.load(std::sync::atomic::Ordering::SeqCst) <= 3 + 1);
}

/// Shared state as [`shared`] with `headers` of Kong's standard headers.
fn shared_with(doc: &str, headers: crate::KongHeaders) -> std::sync::Arc<crate::state::Shared> {
    let clock = crate::Clock::manual();
    let catalogue = crate::testing::catalogue();
    let db =
        crate::declarative::parse_bytes(doc.as_bytes(), "t.yml", clock.now(), catalogue.as_ref())
            .unwrap();
    crate::state::Shared::with_headers(db, clock, catalogue, headers).unwrap()
}

#[tokio::test]
async fn proxied_responses_carry_kongs_default_headers() {
    let up = echo_upstream().await;
    let gw = shared(&doc(&format!("http://{up}"), "{ paths: [/] }"));
    let resp = send(&gw, request("GET", "/x", &[("via", "1.0 client")])).await;
    assert_eq!(resp.status(), 200);
    let h = resp.headers();
    assert_eq!(h["via"], "1.1 kong/3.10.0");
    assert_eq!(h["server"], "kong/3.10.0", "the upstream sent no Server");
    for name in ["x-kong-upstream-latency", "x-kong-proxy-latency"] {
        assert!(h[name].to_str().unwrap().parse::<u64>().is_ok(), "{name}");
    }
    assert!(!h.contains_key("x-kong-response-latency"));
    let id = h["x-kong-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id.len(), 32);
    let seen = &json_body(&resp)["headers"];
    assert_eq!(seen["x-kong-request-id"], json!(id), "the same id upstream");
    assert_eq!(seen["via"], "1.0 client, 1.1 kong/3.10.0");
}

#[tokio::test]
async fn produced_responses_carry_server_and_response_latency() {
    let gw = shared("_format_version: \"3.0\"\n");
    let resp = send(&gw, request("GET", "/nothing", &[])).await;
    assert_eq!(resp.status(), 404);
    let h = resp.headers();
    assert_eq!(h["server"], "kong/3.10.0");
    assert!(!h.contains_key("via"));
    assert!(
        h["x-kong-response-latency"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .is_ok()
    );
    assert_eq!(
        json_body(&resp)["request_id"],
        json!(h["x-kong-request-id"].to_str().unwrap()),
        "the error body names the request id of the header"
    );
}

#[tokio::test]
async fn headers_off_adds_none_and_sends_no_id_upstream() {
    let up = echo_upstream().await;
    let gw = shared_with(
        &doc(&format!("http://{up}"), "{ paths: [/] }"),
        crate::KongHeaders::parse("off", "off").unwrap(),
    );
    let resp = send(&gw, request("GET", "/x", &[])).await;
    let h = resp.headers();
    for name in [
        "via",
        "server",
        "x-kong-upstream-latency",
        "x-kong-proxy-latency",
        "x-kong-request-id",
    ] {
        assert!(!h.contains_key(name), "{name}");
    }
    let seen = &json_body(&resp)["headers"];
    assert!(seen.get("x-kong-request-id").is_none());
    assert_eq!(
        seen["via"], "1.1 kong/3.10.0",
        "Kong's inbound Via is not configurable"
    );
}

#[tokio::test]
async fn a_pooled_connection_the_upstream_closed_is_not_used_again() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // Answers one request as keep-alive, then closes: the pooled connection is dead when the next
    // request comes, and nobody polled it meanwhile.
    let (up, accepted) = raw_upstream(|mut s| async move {
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .await;
    })
    .await;
    let gw = shared(&service_with(&format!("http://{up}"), "    retries: 0\n"));
    for round in 1..=3 {
        let resp = send(&gw, request("GET", "/", &[])).await;
        assert_eq!(resp.status(), 200, "request {round}");
        // Let the upstream's FIN arrive before the next request takes the pooled connection.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 3);
}
