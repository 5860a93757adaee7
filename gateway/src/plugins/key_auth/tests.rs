use serde_json::{Value, json};

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
      - name: key-auth
        config: {config}
consumers:
  - username: alex
    custom_id: alex-custom
    keyauth_credentials: [{{ key: hello_world }}]
  - username: anon
    id: 81823632-10c0-4098-a4f7-31062520c1e6
"#
    )
}

#[tokio::test]
async fn missing_wrong_and_duplicate_keys_get_kong_messages_and_challenge() {
    let up = echo_upstream().await;
    let gw = shared(&doc(up, "{}"));
    let resp = send(&gw, request("GET", "/anything", &[])).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(json_body(&resp)["message"], "No API key found in request");
    assert_eq!(resp.headers()["www-authenticate"], "Key");
    assert!(json_body(&resp)["request_id"].is_string());

    let resp = send(&gw, request("GET", "/anything", &[("apikey", "wrong")])).await;
    assert_eq!(
        (resp.status().as_u16(), json_body(&resp)["message"].clone()),
        (401, json!("Unauthorized"))
    );
    assert_eq!(resp.headers()["www-authenticate"], "Key");

    let resp = send(&gw, request("GET", "/anything?apikey=a&apikey=b", &[])).await;
    assert_eq!(json_body(&resp)["message"], "Duplicate API key found");

    let resp = send(&gw, request("GET", "/anything", &[("apikey", "")])).await;
    assert_eq!(json_body(&resp)["message"], "No API key found in request");
}

#[tokio::test]
async fn a_valid_key_sets_consumer_headers_upstream() {
    let up = echo_upstream().await;
    let gw = shared(&doc(up, "{}"));
    for req in [
        request("GET", "/anything", &[("ApiKey", "hello_world")]),
        request("GET", "/anything?apikey=hello_world", &[]),
    ] {
        let resp = send(&gw, req).await;
        assert_eq!(resp.status(), 200);
        let seen = &json_body(&resp)["headers"];
        assert_eq!(seen["x-consumer-username"], "alex");
        assert_eq!(seen["x-consumer-custom-id"], "alex-custom");
        assert!(seen["x-credential-identifier"].is_string());
        assert!(seen.get("x-anonymous-consumer").is_none());
    }
}

#[tokio::test]
async fn hide_credentials_strips_header_and_query() {
    let up = echo_upstream().await;
    let gw = shared(&doc(up, "{ hide_credentials: true }"));
    let resp = send(&gw, request("GET", "/anything?apikey=hello_world&x=1", &[])).await;
    assert_eq!(json_body(&resp)["query"], "x=1");
    let resp = send(
        &gw,
        request("GET", "/anything", &[("apikey", "hello_world")]),
    )
    .await;
    assert!(json_body(&resp)["headers"].get("apikey").is_none());
}

#[tokio::test]
async fn hide_credentials_reencodes_the_rest_of_the_query_in_order() {
    // Kong's spec: "removes apikey in encoded query and preserves order of query parameters".
    let up = echo_upstream().await;
    let gw = shared(&doc(up, "{ hide_credentials: true }"));
    for (sent, forwarded) in [
        (
            "c=valu%651&b=value2&api%6B%65%79=hello_world&a=valu%653",
            "c=value1&b=value2&a=value3",
        ),
        ("apikey=hello_world&q=a+b&f&x=%2f", "q=a%20b&f=&x=%2F"),
    ] {
        let resp = send(&gw, request("GET", &format!("/anything?{sent}"), &[])).await;
        assert_eq!(resp.status(), 200, "{sent}");
        assert_eq!(json_body(&resp)["query"], forwarded, "{sent}");
    }
    let resp = send(&gw, request("GET", "/anything?apikey=hello_world", &[])).await;
    assert_eq!(json_body(&resp)["query"], Value::Null);
}

#[tokio::test]
async fn key_names_with_underscores_match_both_header_spellings() {
    // Kong's spec "underscores or hyphens in key headers" (key_names = { "api_key" }).
    let up = echo_upstream().await;
    let gw = shared(&doc(up, "{ key_names: [api_key], hide_credentials: true }"));
    for name in ["api_key", "api-key", "API_KEY"] {
        let resp = send(&gw, request("GET", "/anything", &[(name, "hello_world")])).await;
        assert_eq!(resp.status(), 200, "{name}");
        let resp = send(&gw, request("GET", "/anything", &[(name, "wrong")])).await;
        assert_eq!(
            (resp.status().as_u16(), json_body(&resp)["message"].clone()),
            (401, json!("Unauthorized")),
            "{name}"
        );
    }
    // `clear_header` removes the configured spelling only, as `ngx.req.clear_header` does.
    let resp = send(
        &gw,
        request("GET", "/anything", &[("api_key", "hello_world")]),
    )
    .await;
    assert!(json_body(&resp)["headers"].get("api_key").is_none());
    let gw = shared(&doc(up, "{ key_names: [api-key] }"));
    let resp = send(
        &gw,
        request("GET", "/anything", &[("api_key", "hello_world")]),
    )
    .await;
    assert_eq!(
        resp.status(),
        401,
        "get_headers()[\"api-key\"] does not see api_key"
    );
}

#[tokio::test]
async fn a_key_stops_authenticating_when_its_ttl_runs_out() {
    let up = echo_upstream().await;
    let gw = shared(&doc(up, "{}"));
    let admin = crate::admin::router(std::sync::Arc::clone(&gw));
    let req = crate::testing::request_with_body(
        "POST",
        "/consumers/alex/key-auth",
        &[("content-type", "application/json")],
        r#"{"key": "brief", "ttl": 2}"#,
    );
    let resp = tower::ServiceExt::oneshot(admin, req).await.unwrap();
    assert_eq!(resp.status(), 201);
    let resp = send(&gw, request("GET", "/anything", &[("apikey", "brief")])).await;
    assert_eq!(resp.status(), 200);
    gw.clock.advance(2);
    let resp = send(&gw, request("GET", "/anything", &[("apikey", "brief")])).await;
    assert_eq!(
        (resp.status().as_u16(), json_body(&resp)["message"].clone()),
        (401, json!("Unauthorized"))
    );
}

#[tokio::test]
async fn anonymous_by_id_or_username_and_missing_anonymous_is_a_500() {
    let up = echo_upstream().await;
    for anon in ["81823632-10c0-4098-a4f7-31062520c1e6", "anon"] {
        let gw = shared(&doc(up, &format!("{{ anonymous: {anon} }}")));
        let resp = send(&gw, request("GET", "/anything", &[("apikey", "wrong")])).await;
        assert_eq!(resp.status(), 200);
        let seen = &json_body(&resp)["headers"];
        assert_eq!(seen["x-anonymous-consumer"], "true");
        assert_eq!(seen["x-consumer-username"], "anon");
        assert!(seen.get("x-credential-identifier").is_none());
    }
    let gw = shared(&doc(up, "{ anonymous: ghost }"));
    let resp = send(&gw, request("GET", "/anything", &[])).await;
    assert_eq!(resp.status(), 500);
    assert_eq!(
        json_body(&resp)["message"],
        "anonymous consumer ghost is configured but doesn't exist"
    );
}

#[tokio::test]
async fn preflight_skips_the_plugin_only_when_configured() {
    let up = echo_upstream().await;
    let gw = shared(&doc(up, "{ run_on_preflight: false }"));
    assert_eq!(
        send(&gw, request("OPTIONS", "/anything", &[]))
            .await
            .status(),
        200
    );
    let gw = shared(&doc(up, "{}"));
    assert_eq!(
        send(&gw, request("OPTIONS", "/anything", &[]))
            .await
            .status(),
        401
    );
}

#[tokio::test]
async fn key_in_body_reads_forms_and_json() {
    let up = echo_upstream().await;
    let gw = shared(&doc(
        up,
        "{ key_in_body: true, key_in_header: false, key_in_query: false }",
    ));
    let form = crate::testing::request_with_body(
        "POST",
        "/anything",
        &[("content-type", "application/x-www-form-urlencoded")],
        "apikey=hello_world",
    );
    assert_eq!(send(&gw, form).await.status(), 200);
    let json_req = crate::testing::request_with_body(
        "POST",
        "/anything",
        &[("content-type", "application/json")],
        r#"{"apikey":["a","b"]}"#,
    );
    assert_eq!(
        json_body(&send(&gw, json_req).await)["message"],
        "Duplicate API key found"
    );
}

#[tokio::test]
async fn key_in_body_reads_multipart_and_hides_the_part() {
    let up = echo_upstream().await;
    let gw = shared(&doc(
        up,
        "{ key_in_body: true, key_in_header: false, key_in_query: false, hide_credentials: true }",
    ));
    let body = "--b1\r\nContent-Disposition: form-data; name=\"apikey\"\r\n\r\nhello_world\r\n--b1\r\nContent-Disposition: form-data; name=\"keep\"\r\n\r\nme\r\n--b1--\r\n";
    let req = crate::testing::request_with_body(
        "POST",
        "/anything",
        &[("content-type", "multipart/form-data; boundary=b1")],
        body,
    );
    let resp = send(&gw, req).await;
    assert_eq!(resp.status(), 200);
    let seen = json_body(&resp);
    assert_eq!(seen["headers"]["x-consumer-username"], "alex");
    let forwarded = seen["body"].as_str().unwrap();
    assert!(!forwarded.contains("hello_world"), "{forwarded}");
    assert!(
        forwarded.contains("name=\"keep\"\r\n\r\nme\r\n--b1--"),
        "{forwarded}"
    );
}

#[tokio::test]
async fn a_body_over_client_body_buffer_size_is_not_searched_but_forwarded_whole() {
    let up = echo_upstream().await;
    let gw = shared(&doc(
        up,
        "{ key_in_body: true, key_in_header: false, key_in_query: false, anonymous: anon }",
    ));
    let body = format!(
        "apikey=hello_world&pad={}",
        "x".repeat(crate::pdk::CLIENT_BODY_BUFFER_SIZE)
    );
    let req = crate::testing::request_with_body(
        "POST",
        "/anything",
        &[("content-type", "application/x-www-form-urlencoded")],
        &body,
    );
    let resp = send(&gw, req).await;
    assert_eq!(resp.status(), 200);
    let seen = json_body(&resp);
    assert_eq!(seen["headers"]["x-consumer-username"], "anon");
    assert_eq!(seen["body"].as_str().map(str::len), Some(body.len()));
}

#[test]
fn errors_carry_kongs_status_and_message() {
    use super::access::KeyAuthError;
    for (err, status, message) in [
        (KeyAuthError::NoKey, 401, "No API key found in request"),
        (KeyAuthError::Duplicate, 401, "Duplicate API key found"),
        (KeyAuthError::UnknownKey, 401, "Unauthorized"),
        (
            KeyAuthError::NoConsumer,
            500,
            "An unexpected error occurred",
        ),
    ] {
        assert_eq!(err.status(), status);
        assert_eq!(err.message(), message);
        assert_eq!(err.to_string(), message);
    }
}

#[test]
fn schema_rejects_bad_header_names() {
    // Kong: element errors are an array in element order with null for the valid ones, and the
    // message prints that table as Penlight's `pretty.write` does (`kong/db/errors.lua`).
    let err = crate::plugins::normalize_config(
        "key-auth",
        json!({"key_names": ["apikey", "hello\\world"]}),
        crate::schema::Source::Json,
    )
    .unwrap_err();
    let bad = "bad header name 'hello\\world', allowed characters are A-Z, a-z, 0-9, '_', and '-'";
    assert_eq!(err.fields(), json!({"config": {"key_names": [null, bad]}}));
    assert_eq!(
        err.message(),
        "schema violation (config.key_names: {\n  [2] = \"bad header name 'hello\\\\world', allowed characters are A-Z, a-z, 0-9, '_', and '-'\"\n})"
    );
}
