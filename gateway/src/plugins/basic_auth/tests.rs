use serde_json::{Value, json};

use super::access::parse_basic;
use super::crypto;
use crate::testing::{echo_upstream, json_body, request, send, shared};

fn doc(upstream: std::net::SocketAddr, config: &str) -> String {
    format!(
        r#"
_format_version: "3.0"
services:
  - name: s
    url: http://{upstream}/anything
    routes: [{{ name: r, paths: [/anything] }}]
    plugins:
      - name: basic-auth
        config: {config}
consumers:
  - username: bob
    id: 0a1b2c3d-0000-4000-8000-000000000001
    basicauth_credentials: [{{ username: bob, password: kong }}]
  - username: anon
    id: 81823632-10c0-4098-a4f7-31062520c1e6
"#
    )
}

fn basic(user_password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(user_password)
    )
}

#[test]
fn the_hash_is_kongs_salted_sha1() {
    // Kong's docs ("Allowing multiple authentication methods", 0.31-x): consumer
    // b3c95318-a932-4bb2-9d74-1298a3ffc87c with password hunter2 is stored as f239a040....
    assert_eq!(
        crypto::hash("b3c95318-a932-4bb2-9d74-1298a3ffc87c", b"hunter2"),
        "f239a0404351d7170201e7f92fa9b3159e47bb01"
    );
}

#[test]
fn header_values_parse_as_kongs_patterns() {
    let b = |s: &str| s.as_bytes().to_vec();
    assert_eq!(parse_basic(basic("u:p").as_bytes()), Some((b("u"), b("p"))));
    assert_eq!(
        parse_basic(basic("u:p:q").as_bytes()),
        Some((b("u"), b("p:q")))
    );
    // `([^:]+):(.*)` is unanchored: a leading ':' is skipped.
    assert_eq!(
        parse_basic(basic(":u:p").as_bytes()),
        Some((b("u"), b("p")))
    );
    assert_eq!(parse_basic(basic("u:").as_bytes()), Some((b("u"), b(""))));
    assert_eq!(parse_basic(basic("nocolon").as_bytes()), None);
    // `[Bb]asic`, padding optional, no space needed.
    assert_eq!(parse_basic(b"basic dTpw"), Some((b("u"), b("p"))));
    assert_eq!(parse_basic(b"BasicdTpw"), Some((b("u"), b("p"))));
    assert_eq!(parse_basic(b"BASIC dTpw"), None);
    assert_eq!(parse_basic(b"Bearer dTpw"), None);
    assert_eq!(parse_basic(b"Basic d!pw"), None);
}

#[tokio::test]
async fn valid_credentials_reach_the_upstream_with_the_username_as_identifier() {
    let up = echo_upstream().await;
    let gw = shared(&doc(up, "{}"));
    for header in ["authorization", "proxy-authorization"] {
        let resp = send(
            &gw,
            request("GET", "/anything", &[(header, &basic("bob:kong"))]),
        )
        .await;
        assert_eq!(resp.status(), 200, "{header}");
        let seen = &json_body(&resp)["headers"];
        assert_eq!(seen["x-consumer-username"], "bob");
        assert_eq!(seen["x-credential-identifier"], "bob");
        assert_eq!(
            seen[header],
            basic("bob:kong"),
            "kept without hide_credentials"
        );
    }
}

#[tokio::test]
async fn failures_are_401_with_the_realm_challenge() {
    let up = echo_upstream().await;
    let gw = shared(&doc(up, "{}"));
    for headers in [
        vec![],
        vec![("authorization", basic("bob:wrong"))],
        vec![("authorization", basic("nobody:kong"))],
        vec![("authorization", "Basic !!!".to_owned())],
        vec![("authorization", "Bearer abc".to_owned())],
        // A known user in Proxy-Authorization is checked there only.
        vec![
            ("proxy-authorization", basic("bob:wrong")),
            ("authorization", basic("bob:kong")),
        ],
    ] {
        let pairs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let resp = send(&gw, request("GET", "/anything", &pairs)).await;
        assert_eq!(resp.status(), 401, "{headers:?}");
        assert_eq!(json_body(&resp)["message"], "Unauthorized");
        assert_eq!(
            resp.headers()["www-authenticate"],
            "Basic realm=\"service\""
        );
    }
    // An unknown user in Proxy-Authorization falls back to Authorization.
    let resp = send(
        &gw,
        request(
            "GET",
            "/anything",
            &[
                ("proxy-authorization", &basic("nobody:x")),
                ("authorization", &basic("bob:kong")),
            ],
        ),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let gw = shared(&doc(up, "{ realm: example }"));
    let resp = send(&gw, request("GET", "/anything", &[])).await;
    assert_eq!(
        resp.headers()["www-authenticate"],
        "Basic realm=\"example\""
    );
}

#[tokio::test]
async fn hide_credentials_removes_the_header_read() {
    let up = echo_upstream().await;
    let gw = shared(&doc(up, "{ hide_credentials: true }"));
    let resp = send(
        &gw,
        request("GET", "/anything", &[("authorization", &basic("bob:kong"))]),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert!(json_body(&resp)["headers"].get("authorization").is_none());
}

#[tokio::test]
async fn anonymous_takes_failed_requests_and_a_missing_one_is_a_500() {
    let up = echo_upstream().await;
    let gw = shared(&doc(up, "{ anonymous: anon }"));
    let resp = send(
        &gw,
        request(
            "GET",
            "/anything",
            &[("authorization", &basic("bob:wrong"))],
        ),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let seen = &json_body(&resp)["headers"];
    assert_eq!(seen["x-anonymous-consumer"], "true");
    assert_eq!(seen["x-consumer-username"], "anon");
    let gw = shared(&doc(up, "{ anonymous: ghost }"));
    let resp = send(&gw, request("GET", "/anything", &[])).await;
    assert_eq!(
        (resp.status().as_u16(), json_body(&resp)["message"].clone()),
        (
            500,
            json!("anonymous consumer ghost is configured but doesn't exist")
        )
    );
}

#[tokio::test]
async fn passwords_are_stored_hashed_and_rehashed_only_when_given() {
    let gw = shared(&doc(echo_upstream().await, "{}"));
    let admin = crate::admin::router(std::sync::Arc::clone(&gw));
    let call = |method: &'static str, uri: &'static str, body: Value| {
        let admin = admin.clone();
        async move {
            let req = crate::testing::request_with_body(
                method,
                uri,
                &[("content-type", "application/json")],
                &body.to_string(),
            );
            let resp = tower::ServiceExt::oneshot(admin, req).await.unwrap();
            let status = resp.status().as_u16();
            let bytes = http_body_util::BodyExt::collect(resp.into_body())
                .await
                .unwrap()
                .to_bytes();
            (
                status,
                serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null),
            )
        }
    };
    let bob = "0a1b2c3d-0000-4000-8000-000000000001";
    let (status, cred) = call(
        "POST",
        "/consumers/bob/basic-auth",
        json!({"username": "bobby", "password": "secret"}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(cred["password"], crypto::hash(bob, b"secret"));
    let (_, patched) = call("PATCH", "/basic-auths/bobby", json!({"tags": ["t"]})).await;
    assert_eq!(patched["password"], crypto::hash(bob, b"secret"));
    let (_, patched) = call("PATCH", "/basic-auths/bobby", json!({"password": "new"})).await;
    assert_eq!(patched["password"], crypto::hash(bob, b"new"));
    let (status, err) = call(
        "POST",
        "/consumers/bob/basic-auth",
        json!({"username": "x", "password": ""}),
    )
    .await;
    assert_eq!(
        (status, err["fields"].clone()),
        (400, json!({"password": "required field missing"}))
    );
    // The declarative loader hashes too, unless the file says `_transform: false` (an export).
    let stored = gw.read(|db| {
        db.credential(&super::daos::BASICAUTH_CREDENTIALS, "bob", None)
            .and_then(|c| c.field("password").map(str::to_owned))
    });
    assert_eq!(stored, Some(crypto::hash(bob, b"kong")));
    let exported = gw.read(|db| crate::declarative::export(db, gw.catalogue.as_ref()));
    let reloaded =
        crate::declarative::load(exported, gw.clock.now(), gw.catalogue.as_ref()).unwrap();
    let again = reloaded
        .credential(&super::daos::BASICAUTH_CREDENTIALS, "bob", None)
        .and_then(|c| c.field("password").map(str::to_owned));
    assert_eq!(again, Some(crypto::hash(bob, b"kong")));
}
