//! HTTPS as a Kong operator runs it: `proxy_listen` with an `ssl` (and `http2`) entry, the certificate Kong
//! generates when `ssl_cert` is unset, or a configured `ssl_cert`/`ssl_cert_key` pair; a real TLS client
//! (reqwest over rustls) trusting only that certificate. The session plugin's default `cookie_secure: true`
//! works end to end: the cookie comes back `Secure` and the client sends it back over HTTPS.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;

use gateway::ListenSpec;

const API_KEY: &str = "tls-test-key";

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

/// Kong's key-auth + session how-to (anonymous consumer, terminated with 403), the session plugin with its
/// defaults (so `cookie_secure: true`).
fn config(upstream: SocketAddr) -> String {
    format!(
        r#"_format_version: "3.0"
services:
  - name: svc
    url: http://{upstream}/anything
    routes:
      - name: r
        paths: [/anything]
    plugins:
      - name: key-auth
        config:
          anonymous: 81823632-10c0-4098-a4f7-31062520c1e6
      - name: session
        config:
          secret: tls-test-secret-0123456789abcdef
consumers:
  - username: alex
    keyauth_credentials:
      - key: {API_KEY}
  - username: anonymous_users
    id: 81823632-10c0-4098-a4f7-31062520c1e6
plugins:
  - name: request-termination
    service: svc
    consumer: anonymous_users
    config:
      status_code: 403
      message: Forbidden
"#
    )
}

async fn start(
    upstream: SocketAddr,
    certs: Vec<gateway::tls::CertSource>,
) -> gateway::RunningGateway {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let path = std::env::temp_dir().join(format!("tls-{}.yml", uuid::Uuid::new_v4()));
    std::fs::write(&path, config(upstream)).unwrap();
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut tls = ListenSpec::tls(loopback);
    tls.http2 = true;
    let gw = gateway::Gateway::builder()
        .proxy_listens(vec![ListenSpec::plain(loopback), tls])
        .admin_listen(loopback)
        .ssl_certs(certs)
        .declarative_config(&path)
        .start()
        .await
        .unwrap();
    let _ = std::fs::remove_file(&path);
    gw
}

/// A client that trusts only `pem`, keeps cookies, and speaks HTTP/2 when the server offers it.
fn client(pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(pem.as_bytes()).unwrap()])
        .cookie_store(true)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generated_certificate_serves_https_and_http2_and_the_default_session_cookie_is_secure()
{
    let gw = start(ok_upstream().await, Vec::new()).await;
    let pem = gw
        .generated_certificate_pem()
        .expect("no ssl_cert: a certificate is generated")
        .to_owned();
    let https = format!("https://localhost:{}", gw.proxy_tls_addr().unwrap().port());
    let client = client(&pem);

    let anonymous = client
        .get(format!("{https}/anything"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 403);
    assert_eq!(
        anonymous.version(),
        http::Version::HTTP_2,
        "http2 is offered through ALPN"
    );

    let login = client
        .get(format!("{https}/anything"))
        .header("apikey", API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let set_cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set_cookie.starts_with("session="), "{set_cookie}");
    assert!(set_cookie.contains("; Secure"), "{set_cookie}");

    // The cookie alone (from the client's jar, which sends a Secure cookie over HTTPS only) authenticates.
    let again = client
        .get(format!("{https}/anything"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        again.status(),
        200,
        "the Secure session cookie was accepted"
    );

    // A client that does not trust the certificate refuses the connection.
    let stranger = reqwest::Client::builder()
        .tls_certs_only([])
        .build()
        .unwrap();
    assert!(
        stranger
            .get(format!("{https}/anything"))
            .send()
            .await
            .is_err()
    );

    // The plain entry still speaks HTTP/1.1.
    let plain = reqwest::Client::new()
        .get(format!("http://{}/anything", gw.proxy_addr()))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 403);
    assert_eq!(plain.version(), http::Version::HTTP_11);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_ssl_cert_pairs_are_served_by_sni() {
    let dir = std::env::temp_dir().join(format!("tls-certs-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut sources = Vec::new();
    let mut pems = Vec::new();
    for name in ["one.test", "two.test"] {
        let made = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
        let (cert, key) = (
            dir.join(format!("{name}.crt")),
            dir.join(format!("{name}.key")),
        );
        std::fs::write(&cert, made.cert.pem()).unwrap();
        std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
        pems.push(made.cert.pem());
        sources.push(gateway::tls::CertSource {
            cert: cert.display().to_string(),
            key: key.display().to_string(),
        });
    }
    let gw = start(ok_upstream().await, sources).await;
    assert!(gw.generated_certificate_pem().is_none());
    let port = gw.proxy_tls_addr().unwrap().port();
    for (name, pem) in ["one.test", "two.test"].into_iter().zip(&pems) {
        let client = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(pem.as_bytes()).unwrap()])
            .resolve(name, SocketAddr::from(([127, 0, 0, 1], port)))
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        let response = client
            .get(format!("https://{name}:{port}/anything"))
            .header("apikey", API_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{name}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_serves_https_and_http2_with_its_generated_certificate() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut tls = ListenSpec::tls(loopback);
    tls.http2 = true;
    let prefix = std::env::temp_dir().join(format!("tls-admin-{}", uuid::Uuid::new_v4()));
    let gw = gateway::Gateway::builder()
        .proxy_listen(loopback)
        .admin_listens(vec![ListenSpec::plain(loopback), tls])
        .prefix(&prefix)
        .start()
        .await
        .unwrap();
    let pem = gw
        .generated_admin_certificate_pem()
        .expect("no admin_ssl_cert: one is generated")
        .to_owned();
    // Written where Kong writes it.
    let written = std::fs::read_to_string(prefix.join("ssl/admin-kong-default.crt")).unwrap();
    assert_eq!(written, pem);
    let port = gw.admin_listeners()[1].addr.port();
    let client = client(&pem);
    let status = client
        .get(format!("https://localhost:{port}/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), 200);
    assert_eq!(status.version(), http::Version::HTTP_2);
    let created = client
        .post(format!("https://localhost:{port}/services"))
        .json(&serde_json::json!({ "name": "over-tls", "url": "http://127.0.0.1:9/" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    // The plain entry serves the same Admin API.
    let plain = reqwest::get(format!("http://{}/services/over-tls", gw.admin_addr()))
        .await
        .unwrap();
    assert_eq!(plain.status(), 200);
    gw.shutdown().await;
    let _ = std::fs::remove_dir_all(prefix);
}

mod support;

#[test]
fn the_binary_serves_its_admin_api_over_tls_with_admin_ssl_cert() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = support::process::temp_prefix();
    std::fs::create_dir_all(&dir).unwrap();
    let made = rcgen::generate_simple_self_signed(vec!["admin.test".to_owned()]).unwrap();
    let (cert, key) = (dir.join("admin.crt"), dir.join("admin.key"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    let node = support::process::Node::start(
        &[],
        &[
            ("KONG_ADMIN_LISTEN", "127.0.0.1:0 ssl"),
            ("KONG_ADMIN_SSL_CERT", cert.to_str().unwrap()),
            ("KONG_ADMIN_SSL_CERT_KEY", key.to_str().unwrap()),
        ],
    );
    // The bound address, as the node recorded it in `<prefix>/.kong_env`.
    let env = std::fs::read_to_string(node.prefix().join(".kong_env")).unwrap();
    let admin_listen = env
        .lines()
        .find_map(|l| l.strip_prefix("admin_listen = "))
        .unwrap();
    let spec = ListenSpec::parse_list("admin_listen", admin_listen).unwrap()[0];
    assert!(spec.ssl);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let answer = runtime.block_on(async {
        reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(made.cert.pem().as_bytes()).unwrap()])
            .resolve("admin.test", spec.addr)
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap()
            .get(format!("https://admin.test:{}/status", spec.addr.port()))
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(answer, 200);
    // `gateway health` reaches it over TLS too.
    let health = support::process::run(node.prefix(), &["health"]);
    assert!(health.status.success(), "{health:?}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_serves_renewed_certificate_files_from_the_next_handshake() {
    let dir = std::env::temp_dir().join(format!("tls-reload-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("site.crt"), dir.join("site.key"));
    let issue = || {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        std::fs::write(&cert, made.cert.pem()).unwrap();
        std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
        made.cert.pem()
    };
    let old = issue();
    let source = gateway::tls::CertSource {
        cert: cert.display().to_string(),
        key: key.display().to_string(),
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    // No declarative file: the reload is the certificates' alone (an unrouted request answers 404).
    let gw = gateway::Gateway::builder()
        .proxy_listens(vec![ListenSpec::tls(SocketAddr::from(([127, 0, 0, 1], 0)))])
        .admin_listen(SocketAddr::from(([127, 0, 0, 1], 0)))
        .ssl_certs(vec![source])
        .start()
        .await
        .unwrap();
    let url = format!(
        "https://localhost:{}/anything",
        gw.proxy_tls_addr().unwrap().port()
    );
    let fresh = |pem: &str| {
        reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(pem.as_bytes()).unwrap()])
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap()
    };
    assert_eq!(fresh(&old).get(&url).send().await.unwrap().status(), 404);
    // A connection opened before the renewal stays up across the reload.
    let kept = client(&old);
    assert_eq!(kept.get(&url).send().await.unwrap().status(), 404);

    let new = issue();
    gw.reload().await.unwrap();
    assert_eq!(fresh(&new).get(&url).send().await.unwrap().status(), 404);
    assert!(
        fresh(&old).get(&url).send().await.is_err(),
        "the old certificate is no longer served"
    );

    // Broken files: the reload says why, and the renewed certificate is still served.
    std::fs::write(&key, "not a key").unwrap();
    let errors = gw.reload().await.unwrap_err();
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("ssl_cert: ssl_cert_key:")),
        "{errors:?}"
    );
    assert_eq!(fresh(&new).get(&url).send().await.unwrap().status(), 404);
    let _ = std::fs::remove_dir_all(dir);
}
