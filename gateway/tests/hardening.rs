//! What must keep working (issue 8, "Must keep"): each test starts the gateway on 127.0.0.1:0 with a
//! key-auth + session configuration and an echo upstream, and checks one defence from the outside, as a client
//! would: no session fixation, bad cookies are anonymous, request smuggling headers are refused, the Admin API's
//! body caps, YAML alias bombs, and the Admin API on loopback by default.
//!
//! Runs with `cargo test -p gateway --test hardening`. Secrets in logs have their own test binary
//! (`log_redaction.rs`), because it installs a global tracing subscriber.

// Test code: a failed set-up step should stop the test where it happened.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ANONYMOUS: &str = "81823632-10c0-4098-a4f7-31062520c1e6";

/// An upstream that answers every request with its method, path, headers and body length as JSON.
async fn echo_upstream() -> SocketAddr {
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
                        let (parts, body) = req.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|c| c.to_bytes())
                            .unwrap_or_default();
                        let headers: serde_json::Map<String, Value> = parts
                            .headers
                            .iter()
                            .map(|(k, v)| (k.as_str().to_owned(), json!(v.to_str().unwrap_or(""))))
                            .collect();
                        let echo = json!({
                            "method": parts.method.as_str(),
                            "path": parts.uri.path(),
                            "headers": headers,
                            "body": String::from_utf8_lossy(&body),
                        });
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

/// The documented key-auth + session flow; `anonymous` adds the anonymous consumer (403 via
/// request-termination) instead of key-auth's 401.
fn flow(upstream: SocketAddr, secret: &str, storage: &str, anonymous: bool) -> String {
    let anon = if anonymous {
        format!("          anonymous: {ANONYMOUS}\n")
    } else {
        String::new()
    };
    format!(
        r#"_format_version: "3.0"
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
{anon}      - name: session
        config:
          storage: {storage}
          cookie_secure: false
          secret: {secret}
consumers:
  - username: alex
    keyauth_credentials:
      - key: hello_world
  - username: anonymous_users
    id: {ANONYMOUS}
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

/// Starts a gateway on loopback with `doc` as its `kong.yml`.
async fn start(doc: &str) -> gateway::RunningGateway {
    let path = std::env::temp_dir().join(format!("hardening-{}.yml", uuid::Uuid::new_v4()));
    std::fs::write(&path, doc).unwrap();
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let running = gateway::Gateway::builder()
        .proxy_listen(loopback)
        .admin_listen(loopback)
        .declarative_config(&path)
        .start()
        .await
        .unwrap();
    let _ = std::fs::remove_file(&path);
    running
}

fn client() -> reqwest::Client {
    // reqwest is built without a TLS provider of its own (the workspace's `rustls-no-provider`).
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// `GET /anything` with extra headers: status, the `session` Set-Cookie value if any, and the body.
async fn get(
    gw: &gateway::RunningGateway,
    headers: &[(&str, &str)],
) -> (u16, Option<String>, Value) {
    let mut req = client().get(format!("http://{}/anything", gw.proxy_addr()));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let cookie = session_cookie(resp.headers());
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, cookie, body)
}

/// The value of the `session` cookie set by a response.
fn session_cookie(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter_map(|pair| pair.strip_prefix("session="))
        .find(|value| !value.is_empty())
        .map(str::to_owned)
}

/// The 32-byte session id inside a lua-resty-session 4 cookie (header bytes 3..35).
fn session_id(cookie: &str) -> Vec<u8> {
    let header = URL_SAFE_NO_PAD.decode(&cookie[..110]).unwrap();
    header[3..35].to_vec()
}

#[tokio::test]
async fn every_login_gets_a_new_session_id() {
    let up = echo_upstream().await;
    let gw = start(&flow(up, "fixation-secret", "kong", true)).await;

    let (status, first, _) = get(&gw, &[("apikey", "hello_world")]).await;
    assert_eq!(status, 200);
    let first = first.expect("a session cookie at login");
    let (status, second, _) = get(&gw, &[("apikey", "hello_world")]).await;
    assert_eq!(status, 200);
    let second = second.expect("a session cookie at the second login");
    assert_ne!(session_id(&first), session_id(&second));

    // Log out, then log in again presenting the old cookie (as an attacker who planted it would):
    // the new session never takes the planted id.
    let logout = client()
        .delete(format!(
            "http://{}/anything?session_logout",
            gw.proxy_addr()
        ))
        .header("cookie", format!("session={first}"))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 200);
    let (status, _, _) = get(&gw, &[("cookie", &format!("session={first}"))]).await;
    assert_eq!(status, 403, "a logged-out session is anonymous");
    let planted = format!("session={first}");
    let (status, third, _) = get(&gw, &[("apikey", "hello_world"), ("cookie", &planted)]).await;
    assert_eq!(status, 200);
    let third = third.expect("a fresh cookie");
    assert_ne!(session_id(&third), session_id(&first));
    assert_ne!(session_id(&third), session_id(&second));
}

/// Cookies that must never open a session: tampered, from another secret, oversized, garbage.
async fn bad_cookies(up: SocketAddr, storage: &str) -> Vec<String> {
    let gw = start(&flow(up, "the-right-secret", storage, true)).await;
    let (_, good, _) = get(&gw, &[("apikey", "hello_world")]).await;
    let good = good.unwrap();
    let other = start(&flow(up, "another-secret", storage, true)).await;
    let (_, foreign, _) = get(&other, &[("apikey", "hello_world")]).await;
    let foreign = foreign.unwrap();

    let mut cookies = vec![foreign.clone()];
    // Flip one character in each region: type/flags, sid, times, tag, MAC, payload.
    // Not the last character: in unpadded base64url its low bits may be padding, and a flip there can decode
    // to the very same bytes (a valid cookie, not a tampered one).
    for at in [0, 10, 50, 70, 100, 108, good.len() - 2] {
        if at < good.len() {
            let mut bytes = good.clone().into_bytes();
            bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
            cookies.push(String::from_utf8(bytes).unwrap());
        }
    }
    cookies.push(good[..good.len() / 2].to_owned());
    // Oversized, but within nginx's 8k header line (beyond it: `oversized_cookie_headers_are_nginxs_400`).
    cookies.push(format!("{good}{}", "A".repeat(6 * 1024)));
    cookies.push("A".repeat(7 * 1024));
    cookies.push("!!not base64!!".to_owned());
    cookies
}

#[tokio::test]
async fn oversized_cookie_headers_are_nginxs_400() {
    // A Cookie header line over one `large_client_header_buffers` buffer (8k) never reaches a plugin: nginx,
    // and so Kong, answers 400 "Request header or cookie too large" (`kong/error_handlers.lua`).
    let up = echo_upstream().await;
    let gw = start(&flow(up, "the-right-secret", "cookie", true)).await;
    let (_, good, _) = get(&gw, &[("apikey", "hello_world")]).await;
    let good = good.unwrap();
    let cookie = format!("{good}{}", "A".repeat(16 * 1024));
    let (status, set, body) = get(&gw, &[("cookie", &format!("session={cookie}"))]).await;
    assert_eq!(status, 400);
    assert_eq!(body["message"], "Request header or cookie too large");
    assert!(set.is_none());
    // Beyond the 48 KiB the listener reads a header block into, hyper refuses it itself: 431.
    let cookie = "A".repeat(64 * 1024);
    let (status, set, _) = get(&gw, &[("cookie", &format!("session={cookie}"))]).await;
    assert!(status == 400 || status == 431, "{status}");
    assert!(set.is_none());
}

#[tokio::test]
async fn tampered_foreign_and_oversized_cookies_are_anonymous() {
    let up = echo_upstream().await;
    for storage in ["cookie", "kong"] {
        let gw = start(&flow(up, "the-right-secret", storage, true)).await;
        for cookie in bad_cookies(up, storage).await {
            let (status, set, body) = get(&gw, &[("cookie", &format!("session={cookie}"))]).await;
            assert_eq!(status, 403, "{storage}: {cookie:.40}… gave {body}");
            assert_eq!(body, json!({"message": "Forbidden"}));
            assert!(set.is_none(), "no session for an anonymous request");
        }
    }
}

#[tokio::test]
async fn tampered_foreign_and_oversized_cookies_are_401_without_anonymous() {
    let up = echo_upstream().await;
    let gw = start(&flow(up, "the-right-secret", "cookie", false)).await;
    for cookie in bad_cookies(up, "cookie").await {
        let (status, set, _) = get(&gw, &[("cookie", &format!("session={cookie}"))]).await;
        assert_eq!(status, 401, "{cookie:.40}…");
        assert!(set.is_none());
    }
}

/// Sends raw bytes on a new connection and returns what comes back until the gateway closes it.
async fn raw(addr: SocketAddr, request: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn conflicting_content_length_and_transfer_encoding_are_rejected() {
    let up = echo_upstream().await;
    let gw = start(&flow(up, "smuggling-secret", "cookie", true)).await;
    let smuggled = [
        // Two different lengths.
        "POST /anything HTTP/1.1\r\nHost: x\r\napikey: hello_world\r\nContent-Length: 5\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello!",
        // A transfer coding other than a final chunked.
        "POST /anything HTTP/1.1\r\nHost: x\r\napikey: hello_world\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\nhello",
        "POST /anything HTTP/1.1\r\nHost: x\r\napikey: hello_world\r\nTransfer-Encoding: chunked, gzip\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        // Transfer-Encoding in HTTP/1.0.
        "POST /anything HTTP/1.0\r\nHost: x\r\napikey: hello_world\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    ];
    for request in smuggled {
        let answer = raw(gw.proxy_addr(), request).await;
        assert!(
            answer.starts_with("HTTP/1.1 400"),
            "{request:?} → {answer:?}"
        );
    }
}

/// A request with both a Content-Length and `Transfer-Encoding: chunked`.
const BOTH_LENGTH_AND_CHUNKED: &str = "POST /anything HTTP/1.1\r\nHost: x\r\napikey: hello_world\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n";

#[tokio::test]
async fn both_length_and_chunked_are_never_forwarded_together() {
    // What holds today: the body is read as chunked (RFC 9112 section 6.3) and the client's Content-Length
    // is not forwarded next to it, so the upstream cannot frame the body differently from the gateway.
    let up = echo_upstream().await;
    let gw = start(&flow(up, "smuggling-secret", "cookie", true)).await;
    let answer = raw(gw.proxy_addr(), BOTH_LENGTH_AND_CHUNKED).await;
    if answer.starts_with("HTTP/1.1 400") {
        return;
    }
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    let echo: Value = serde_json::from_str(body.trim()).unwrap_or(Value::Null);
    assert_eq!(echo["body"], "hello", "{answer}");
    assert!(echo["headers"].get("content-length").is_none(), "{answer}");
}

#[tokio::test]
#[ignore = "fails: a request with both Content-Length and Transfer-Encoding is proxied (as chunked) instead of 400"]
async fn both_length_and_chunked_are_rejected_like_nginx() {
    // fails: nginx >= 1.21.1 (so Kong 3.10's OpenResty) answers 400 to a request carrying both headers
    // ("client sent "Content-Length" and "Transfer-Encoding" headers at the same time"); hyper's server reads
    // the body as chunked and drops the Content-Length header before the service sees the request, so the
    // proxy cannot tell. Safe today (never forwarded together: the test above), not yet nginx's answer.
    let up = echo_upstream().await;
    let gw = start(&flow(up, "smuggling-secret", "cookie", true)).await;
    let answer = raw(gw.proxy_addr(), BOTH_LENGTH_AND_CHUNKED).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
}

#[tokio::test]
async fn admin_json_depth_and_body_size_are_capped() {
    let up = echo_upstream().await;
    let gw = start(&flow(up, "admin-secret", "cookie", true)).await;
    let admin = format!("http://{}", gw.admin_addr());

    let depth = 100_000;
    let deep = format!(
        "{{\"name\":\"deep\",\"tags\":{}{}}}",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let resp = client()
        .post(format!("{admin}/consumers"))
        .header("content-type", "application/json")
        .body(deep.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        400,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    let resp = client()
        .post(format!("{admin}/config"))
        .header("content-type", "application/json")
        .body(deep)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    let form = format!("username=deep&{}=1", vec!["a"; 10_000].join("."));
    let resp = client()
        .post(format!("{admin}/consumers"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    // More than axum's default 2 MiB body limit.
    let big = format!("{{\"username\":\"{}\"}}", "x".repeat(3 << 20));
    for path in ["/consumers", "/config"] {
        let resp = client()
            .post(format!("{admin}{path}"))
            .header("content-type", "application/json")
            .body(big.clone())
            .send()
            .await;
        if let Ok(resp) = resp {
            let status = resp.status().as_u16();
            assert!(status == 400 || status == 413, "{path}: {status}");
        }
    }

    // Still serving, and nothing was created.
    let resp = client()
        .get(format!("{admin}/consumers"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let list: Value = resp.json().await.unwrap();
    assert_eq!(list["data"].as_array().map(Vec::len), Some(2), "{list}");
}

/// The classic "billion laughs": nine levels of aliases, each expanding the one below ten times.
fn alias_bomb() -> String {
    let mut doc = String::from(
        "_format_version: \"3.0\"\na0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for level in 1..10 {
        let prev = format!("*a{}", level - 1);
        let list = [prev.as_str(); 10].join(",");
        doc.push_str(&format!("a{level}: &a{level} [{list}]\n"));
    }
    doc.push_str("tags: *a9\n");
    doc
}

#[tokio::test]
async fn yaml_alias_bombs_are_refused() {
    let catalogue = gateway::plugins::Catalogue::new(gateway::plugins::Deps::in_memory());
    let started = std::time::Instant::now();
    let err = gateway::declarative::parse_bytes(alias_bomb().as_bytes(), "bomb.yml", 0, &catalogue)
        .unwrap_err();
    assert!(
        matches!(
            &err,
            gateway::declarative::Error::Parse {
                problem: gateway::declarative::Problem::Yaml(_),
                ..
            }
        ),
        "refused by the YAML parser's alias budget, not later: {err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));

    let up = echo_upstream().await;
    let gw = start(&flow(up, "bomb-secret", "cookie", true)).await;
    let resp = client()
        .post(format!("http://{}/config", gw.admin_addr()))
        .header("content-type", "application/yaml")
        .body(alias_bomb())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let (status, _, _) = get(&gw, &[("apikey", "hello_world")]).await;
    assert_eq!(status, 200, "the old configuration still serves");
}

#[test]
fn admin_api_listens_on_loopback_by_default() {
    // Kong's two entries (plain 8001, `ssl` 8444), both on loopback; the Status API's too.
    for (name, value) in [
        ("admin_listen", gateway::DEFAULT_ADMIN_LISTEN),
        ("status_listen", gateway::DEFAULT_STATUS_LISTEN),
    ] {
        for spec in gateway::ListenSpec::parse_list(name, value).unwrap() {
            assert!(spec.addr.ip().is_loopback(), "{name}: {spec}");
        }
    }
    let builder = format!("{:?}", gateway::Gateway::builder());
    assert!(
        builder.contains("admin_listen: [ListenSpec { addr: 127.0.0.1:8001"),
        "{builder}"
    );

    // The command line's default, as `gateway --help` prints it.
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_gateway"))
        .arg("--help")
        .env_remove("KONG_ADMIN_LISTEN")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    let section = help
        .split("--admin-listen")
        .nth(1)
        .and_then(|rest| rest.split("\n  -").next())
        .unwrap_or_default();
    // clap wraps help to the terminal's width: compare with the line breaks taken out.
    let section = section.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        section.contains("[default: \"127.0.0.1:8001, 127.0.0.1:8444 http2 ssl\"]"),
        "{help}"
    );
}

/// The `gateway` binary, killed on drop.
struct Process(std::process::Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_binary_starts_with_its_defaults_and_serves_on_loopback() {
    // Every command-line default is parsed (a clap type mismatch once made every start panic).
    let up = echo_upstream().await;
    let path = std::env::temp_dir().join(format!("hardening-bin-{}.yml", uuid::Uuid::new_v4()));
    std::fs::write(&path, flow(up, "binary-secret", "kong", true)).unwrap();
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
    };
    let (proxy, admin) = (free(), free());
    let mut process = Process(
        std::process::Command::new(env!("CARGO_BIN_EXE_gateway"))
            .arg("--declarative-config")
            .arg(&path)
            .args(["--proxy-listen", &proxy.to_string()])
            .args(["--admin-listen", &admin.to_string()])
            .env_remove("KONG_NGINX_EVENTS_WORKER_CONNECTIONS")
            .env_remove("KONG_NGINX_HTTP_CLIENT_HEADER_TIMEOUT")
            // A private prefix (pid file) and no Status API on its fixed port: tests run side by side.
            .env(
                "KONG_PREFIX",
                std::env::temp_dir().join(format!("hardening-prefix-{}", uuid::Uuid::new_v4())),
            )
            .env("KONG_STATUS_LISTEN", "off")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Ok(Some(exit)) = process.0.try_wait() {
            let mut stderr = String::new();
            if let Some(mut pipe) = process.0.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
            }
            panic!("the gateway exited with {exit}:\n{stderr}");
        }
        if let Ok(resp) = client().get(format!("http://{admin}/status")).send().await {
            break resp.status();
        }
        assert!(std::time::Instant::now() < deadline, "no answer on {admin}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let _ = std::fs::remove_file(&path);
    assert_eq!(status, 200);
    let login = client()
        .get(format!("http://{proxy}/anything"))
        .header("apikey", "hello_world")
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
}
