//! The demo's set-up, proven: the reference gateway loaded with `fixtures/config/demo.yaml`, the echo upstream
//! and the embedded identity provider give both documented flows, exactly as the demo's and the README's
//! commands show them (the key-auth flow also from `fixtures/config/key-auth-session.yaml`, its config alone).
//! Everything listens on free ports; the fixtures are rewritten to match, as the demo does for other addresses.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::header::{COOKIE, SET_COOKIE, WWW_AUTHENTICATE};
use reqwest::{Client, StatusCode};
use serde_json::Value;
use steps::idp::Idp;
use steps::{EchoUpstream, fixture};

/// The gateway on free ports with `config`.
async fn gateway_with(config: &Path) -> gateway::RunningGateway {
    let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    gateway::Gateway::builder()
        .proxy_listen(loopback)
        .admin_listen(loopback)
        .declarative_config(config)
        .start()
        .await
        .expect("start the gateway with the fixture")
}

fn client() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder()
        .no_proxy()
        .build()
        .expect("an HTTP client")
}

/// Removes a rewritten copy of a fixture (never the fixture itself).
fn remove_copy(config: PathBuf, original: PathBuf) {
    if config != original {
        let _ = std::fs::remove_file(config);
    }
}

/// `name=value` of the one `Set-Cookie` header, and its attributes.
fn set_cookie(response: &reqwest::Response) -> (String, String) {
    let mut headers = response.headers().get_all(SET_COOKIE).iter();
    let header = headers
        .next()
        .expect("a session cookie")
        .to_str()
        .expect("ASCII");
    assert!(headers.next().is_none(), "one Set-Cookie");
    let (cookie, attributes) = header.split_once("; ").expect("cookie attributes");
    assert!(
        cookie.starts_with("session=") && cookie.len() > "session=".len(),
        "{header}"
    );
    (cookie.to_owned(), attributes.to_owned())
}

/// Kong's key-auth + session how-to against the proxy at `proxy`, as the demo prints it.
async fn key_auth_flow(client: &Client, proxy: SocketAddr) {
    let anything = format!("http://{proxy}/anything");

    // curl -i http://127.0.0.1:8000/anything
    let response = client
        .get(&anything)
        .send()
        .await
        .expect("anonymous request");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        response.headers().get(SET_COOKIE).is_none(),
        "no session for the anonymous consumer"
    );
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(body["message"], "Forbidden");

    // curl -i http://127.0.0.1:8000/anything -H 'apikey: hello_world' -c cookies.txt
    let response = client
        .get(&anything)
        .header("apikey", "hello_world")
        .send()
        .await
        .expect("request with key");
    assert_eq!(response.status(), StatusCode::OK);
    let (cookie, attributes) = set_cookie(&response);
    assert_eq!(
        attributes, "Path=/; SameSite=Strict; HttpOnly",
        "cookie_secure is false in the fixture"
    );

    // curl -i http://127.0.0.1:8000/anything -b cookies.txt
    let response = client
        .get(&anything)
        .header(COOKIE, &cookie)
        .send()
        .await
        .expect("request with the cookie");
    assert_eq!(response.status(), StatusCode::OK);
    let echo: Value = response.json().await.expect("the echo upstream's JSON");
    assert_eq!(echo["path"], "/anything");
    assert_eq!(echo["headers"]["x-consumer-username"], "alex");
    assert_eq!(
        echo["headers"]["x-consumer-id"].as_str().map(str::len),
        Some(36),
        "a consumer uuid"
    );
}

/// The access token of the `Authorization: Bearer` header the echo upstream reports, and its JWT claims.
fn upstream_bearer(echo: &Value) -> (String, Value) {
    let authorization = echo["headers"]["authorization"]
        .as_str()
        .expect("the upstream received one Authorization header");
    let token = authorization
        .strip_prefix("Bearer ")
        .expect("a Bearer token, not the Basic credentials");
    let payload = token.split('.').nth(1).expect("a JWT");
    let claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url"))
        .expect("JSON claims");
    (token.to_owned(), claims)
}

/// Kong's openid-connect "Session authentication" how-to against the proxy at `proxy`, as the demo prints it.
async fn openid_connect_flow(client: &Client, proxy: SocketAddr, issuer: &str) {
    let root = format!("http://{proxy}/");

    // curl -i http://127.0.0.1:8000/
    let response = client.get(&root).send().await.expect("anonymous request");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response
        .headers()
        .get(WWW_AUTHENTICATE)
        .expect("a challenge");
    assert!(challenge.as_bytes().starts_with(b"Bearer"), "{challenge:?}");
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(body["message"], "Unauthorized");

    // curl -i -u john:doe -c jar http://127.0.0.1:8000/   (http -v -a john:doe --session=john :8000)
    let response = client
        .get(&root)
        .basic_auth("john", Some("doe"))
        .send()
        .await
        .expect("request with john:doe");
    assert_eq!(response.status(), StatusCode::OK);
    let (cookie, attributes) = set_cookie(&response);
    assert_eq!(attributes, "Path=/; SameSite=Lax; HttpOnly");
    let echo: Value = response.json().await.expect("the echo upstream's JSON");
    assert_eq!(echo["path"], "/anything");
    let (token, claims) = upstream_bearer(&echo);
    assert_eq!(claims["preferred_username"], "john");
    assert_eq!(claims["iss"], issuer);

    // curl -i -b jar http://127.0.0.1:8000/   (http -v --session=john :8000)
    let response = client
        .get(&root)
        .header(COOKIE, &cookie)
        .send()
        .await
        .expect("request with the cookie");
    assert_eq!(response.status(), StatusCode::OK);
    let echo: Value = response.json().await.expect("the echo upstream's JSON");
    assert_eq!(
        upstream_bearer(&echo).0,
        token,
        "the session's access token"
    );
}

#[tokio::test]
async fn the_demo_config_gives_both_documented_flows() {
    let client = client();
    let upstream = EchoUpstream::builder()
        .start()
        .await
        .expect("start the echo upstream");
    let idp = Idp::builder()
        .start()
        .await
        .expect("start the identity provider");
    let config = fixture::demo_for(upstream.addr(), idp.issuer())
        .expect("point the demo config at the echo upstream and the identity provider");
    let gateway = gateway_with(&config).await;

    openid_connect_flow(&client, gateway.proxy_addr(), idp.issuer()).await;
    key_auth_flow(&client, gateway.proxy_addr()).await;

    gateway.shutdown().await;
    remove_copy(config, fixture::demo());
}

#[tokio::test]
async fn the_key_auth_session_config_gives_the_documented_flow() {
    let client = client();
    let upstream = EchoUpstream::builder()
        .start()
        .await
        .expect("start the echo upstream");
    let config = fixture::key_auth_session_for(upstream.addr())
        .expect("point the fixture at the echo upstream");
    let gateway = gateway_with(&config).await;

    key_auth_flow(&client, gateway.proxy_addr()).await;

    gateway.shutdown().await;
    remove_copy(config, fixture::key_auth_session());
}

#[test]
fn the_demo_config_names_the_demo_defaults() {
    let text = std::fs::read_to_string(fixture::demo()).expect("read demo.yaml");
    assert!(text.contains(fixture::DEMO_ISSUER));
    assert!(text.contains(&format!("http://{}/", fixture::KEY_AUTH_SESSION_UPSTREAM)));
    assert_eq!(
        fixture::DEMO_ISSUER,
        format!(
            "http://{}/realms/{}",
            fixture::DEMO_IDP,
            steps::idp::DEFAULT_REALM
        )
    );
    // The defaults need no copy.
    assert_eq!(
        fixture::demo_for(fixture::KEY_AUTH_SESSION_UPSTREAM, fixture::DEMO_ISSUER)
            .expect("the fixture itself"),
        fixture::demo()
    );
}
