//! The demo's set-up, proven: the reference gateway loaded with `fixtures/config/key-auth-session.yaml` and the
//! echo upstream give the documented flow, exactly as the README's curl commands show it.

use std::net::{Ipv4Addr, SocketAddr};

use reqwest::StatusCode;
use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::Value;
use steps::{EchoUpstream, fixture};

#[tokio::test]
async fn the_declarative_config_gives_the_documented_flow() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let upstream = EchoUpstream::builder()
        .start()
        .await
        .expect("start the echo upstream");
    let config = fixture::key_auth_session_for(upstream.addr())
        .expect("point the fixture at the echo upstream");
    let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let gateway = gateway::Gateway::builder()
        .proxy_listen(loopback)
        .admin_listen(loopback)
        .declarative_config(&config)
        .start()
        .await
        .expect("start the gateway with the fixture");
    let anything = format!("http://{}/anything", gateway.proxy_addr());
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("an HTTP client");

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
    let set_cookie = response
        .headers()
        .get(SET_COOKIE)
        .expect("a session cookie")
        .to_str()
        .expect("ASCII");
    let (cookie, attributes) = set_cookie.split_once("; ").expect("cookie attributes");
    assert!(
        cookie.starts_with("session=") && cookie.len() > "session=".len(),
        "{set_cookie}"
    );
    assert_eq!(
        attributes, "Path=/; SameSite=Strict; HttpOnly",
        "cookie_secure is false in the fixture"
    );
    let cookie = cookie.to_owned();

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

    gateway.shutdown().await;
    if config != fixture::key_auth_session() {
        let _ = std::fs::remove_file(config);
    }
}
