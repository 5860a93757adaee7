//! No secrets, keys, tokens or cookies in the logs, at any level, nor in the access log (issue 8, "Must keep"; issue 13). The test installs a
//! global tracing subscriber at TRACE (and the `log` bridge, for the libraries) that writes into a buffer,
//! drives the gateway with every kind of credential through the proxy and the Admin API, and then searches
//! the captured output for each secret. Alone in its own test binary because the subscriber is global.

// Test code: a failed set-up step should stop the test where it happened.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;

const API_KEY: &str = "key-SECRET-7f3a9c51";
const ADMIN_KEY: &str = "adminkey-SECRET-2b7e00";
const SESSION_SECRET: &str = "session-SECRET-91b2d4";
const OIDC_SESSION_SECRET: &str = "oidc-session-SECRET-5d71";
const CLIENT_SECRET: &str = "client-SECRET-0c8d13";
const PASSWORD: &str = "password-SECRET-44d1";
const BEARER: &str = "bearer-SECRET-e5f6a2";

/// A writer that appends to the shared buffer.
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
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

async fn ok_upstream() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(|_req: Request<hyper::body::Incoming>| async {
                        Ok::<_, std::convert::Infallible>(Response::new(Full::new(
                            Bytes::from_static(b"{}"),
                        )))
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// A loopback port nothing listens on: the identity provider that cannot be reached.
async fn closed_port() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

fn config(upstream: SocketAddr, idp: SocketAddr) -> String {
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
      - name: session
        config:
          storage: kong
          cookie_secure: false
          secret: {SESSION_SECRET}
  - name: oidc-service
    url: http://{upstream}/anything
    routes:
      - name: oidc-route
        paths: [/oidc]
    plugins:
      - name: openid-connect
        config:
          issuer: http://{idp}/realms/kong
          client_id: [kong]
          client_secret: [{CLIENT_SECRET}]
          client_auth: [client_secret_post]
          auth_methods: [session, password, bearer]
          session_cookie_secure: false
          session_secret: {OIDC_SESSION_SECRET}
consumers:
  - username: alex
    keyauth_credentials:
      - key: {API_KEY}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_logs_at_trace_level() {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&buffer);
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || Capture(Arc::clone(&sink)))
        .try_init()
        .unwrap();

    let _ = rustls::crypto::ring::default_provider().install_default();
    let upstream = ok_upstream().await;
    let idp = closed_port().await;
    let path = std::env::temp_dir().join(format!("log-redaction-{}.yml", uuid::Uuid::new_v4()));
    std::fs::write(&path, config(upstream, idp)).unwrap();
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let access_log =
        std::env::temp_dir().join(format!("log-redaction-access-{}.log", uuid::Uuid::new_v4()));
    let gw = gateway::Gateway::builder()
        .proxy_listen(loopback)
        .admin_listen(loopback)
        .access_log(
            gateway::listener::access_log::Target::File(access_log.clone()),
            gateway::listener::access_log::Format::Text,
        )
        .declarative_config(&path)
        .start()
        .await
        .unwrap();
    let _ = std::fs::remove_file(&path);
    let proxy = format!("http://{}", gw.proxy_addr());
    let admin = format!("http://{}", gw.admin_addr());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let basic = format!(
        "Basic {}",
        STANDARD.encode(format!("john:{PASSWORD}").as_bytes())
    );
    let bearer = format!("Bearer {BEARER}");

    // Key in a header and in the query: a session cookie comes back.
    let login = client
        .get(format!("{proxy}/anything"))
        .header("apikey", API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let cookie = login
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_owned();
    let cookie_value = cookie.trim_start_matches("session=").to_owned();
    let query = client
        .get(format!("{proxy}/anything?apikey={API_KEY}"))
        .send()
        .await
        .unwrap();
    assert_eq!(query.status(), 200);

    // The session cookie with Basic and Bearer credentials beside it (401 without a key: key-auth has no
    // `anonymous` here, so as in Kong it does not defer to the session), then logout.
    for auth in [&basic, &bearer] {
        let resp = client
            .get(format!("{proxy}/anything"))
            .header("cookie", &cookie)
            .header("authorization", auth.as_str())
            .send()
            .await
            .unwrap();
        assert!(!resp.status().is_server_error(), "{}", resp.status());
    }
    let wrong = client
        .get(format!("{proxy}/anything"))
        .header("apikey", format!("{API_KEY}-wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);

    // openid-connect with Basic (password grant) and Bearer, against a provider that cannot be reached.
    for auth in [&basic, &bearer] {
        let resp = client
            .get(format!("{proxy}/oidc"))
            .header("authorization", auth.as_str())
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_client_error() || resp.status().is_server_error());
    }

    // Admin API: a key created by JSON and by form, read back, and a session plugin with a secret.
    let created = client
        .post(format!("{admin}/consumers/alex/key-auth"))
        .json(&serde_json::json!({ "key": ADMIN_KEY }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let form = client
        .post(format!("{admin}/consumers/alex/key-auth"))
        .form(&[("key", format!("{ADMIN_KEY}-form"))])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 201);
    let listed = client
        .get(format!("{admin}/consumers/alex/key-auth"))
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    let with_admin_key = client
        .get(format!("{proxy}/anything"))
        .header("apikey", ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(with_admin_key.status(), 200);
    let logout = client
        .delete(format!("{proxy}/anything?session_logout"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 200);

    gw.shutdown().await;
    // The access log's writer thread flushes when its queue is empty: poll for the nine proxied requests.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let access = loop {
        let text = std::fs::read_to_string(&access_log).unwrap_or_default();
        if text.lines().count() >= 9 || std::time::Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let _ = std::fs::remove_file(&access_log);
    assert_eq!(
        access.lines().count(),
        9,
        "one line per proxied request:\n{access}"
    );
    assert!(
        access.contains("\"GET /anything?apikey=REDACTED HTTP/1.1\" 200"),
        "the query's key is redacted:\n{access}"
    );
    assert!(
        access.contains("127.0.0.1 - john ["),
        "Basic credentials log their user name only, as nginx:\n{access}"
    );
    let logs = String::from_utf8_lossy(&buffer.lock().unwrap_or_else(PoisonError::into_inner))
        .into_owned()
        + &access;
    assert!(
        logs.lines().count() > 3,
        "the subscriber captured the gateway's logs:\n{logs}"
    );
    let basic_encoded = basic.trim_start_matches("Basic ").to_owned();
    for secret in [
        API_KEY,
        ADMIN_KEY,
        SESSION_SECRET,
        OIDC_SESSION_SECRET,
        CLIENT_SECRET,
        PASSWORD,
        BEARER,
        &basic_encoded,
        &cookie_value,
        // The session id part of the cookie (enough to recognise a leaked cookie).
        &cookie_value[..40],
    ] {
        assert!(
            !logs.contains(secret),
            "{secret} appears in the logs:\n{}",
            logs.lines()
                .filter(|l| l.contains(secret))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}
