use serde_json::json;

use crate::schema::Source;
use crate::testing::{json_body, request, send, shared};

fn doc(config: &str) -> String {
    format!(
        r#"
_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:9/
    routes: [{{ name: r, paths: [/t] }}]
    plugins:
      - name: request-termination
        config: {config}
"#
    )
}

#[tokio::test]
async fn message_and_default_messages() {
    let resp = send(
        &shared(&doc("{ status_code: 403, message: Forbidden }")),
        request("GET", "/t", &[]),
    )
    .await;
    assert_eq!(resp.status(), 403);
    assert_eq!(resp.body().as_ref(), br#"{"message":"Forbidden"}"#);
    assert_eq!(
        resp.headers()["content-type"],
        "application/json; charset=utf-8"
    );

    let resp = send(&shared(&doc("{}")), request("GET", "/t", &[])).await;
    assert_eq!(
        (resp.status().as_u16(), json_body(&resp)),
        (503, json!({"message": "Service unavailable"}))
    );

    let resp = send(
        &shared(&doc("{ status_code: 403 }")),
        request("GET", "/t", &[]),
    )
    .await;
    assert_eq!((resp.status().as_u16(), resp.body().len()), (403, 0));
    assert_eq!(resp.headers()["content-length"], "0");
}

#[tokio::test]
async fn raw_body_with_content_type() {
    let gw = shared(&doc(
        "{ status_code: 418, body: '<teapot/>', content_type: application/xml }",
    ));
    let resp = send(&gw, request("GET", "/t", &[])).await;
    assert_eq!(
        (resp.status().as_u16(), resp.body().as_ref()),
        (418, b"<teapot/>".as_ref())
    );
    assert_eq!(resp.headers()["content-type"], "application/xml");
}

#[tokio::test]
async fn trigger_only_acts_when_the_header_or_query_arg_is_present() {
    let gw = shared(&doc("{ status_code: 410, trigger: x-stop }"));
    assert_eq!(
        send(&gw, request("GET", "/t", &[])).await.status(),
        502,
        "no trigger: proxied (upstream down)"
    );
    assert_eq!(
        send(&gw, request("GET", "/t", &[("x-stop", "1")]))
            .await
            .status(),
        410
    );
    assert_eq!(
        send(&gw, request("GET", "/t?x-stop", &[])).await.status(),
        410
    );
}

#[tokio::test]
async fn echo_returns_the_request() {
    let gw = shared(&doc("{ status_code: 200, echo: true, message: hi }"));
    let body = json_body(&send(&gw, request("GET", "/t?a=1", &[("x-test", "yes")])).await);
    assert_eq!(body["message"], "hi");
    assert_eq!(body["request"]["headers"]["x-test"], "yes");
    assert_eq!(body["request"]["query"]["a"], "1");
}

#[tokio::test]
async fn echo_has_kongs_shape() {
    // `handler.lua`: the default message of the status when none is set, Kong's query table,
    // the parsed and raw body, and the whole matched route and service.
    let gw = shared(&doc("{ status_code: 503, echo: true }"));
    let req = crate::testing::request_with_body(
        "POST",
        "/t/x?a=1&a=2&flag",
        &[
            ("host", "Example.test:8000"),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        "k=v",
    );
    let body = json_body(&send(&gw, req).await);
    assert_eq!(body["message"], "Service unavailable");
    let seen = &body["request"];
    assert_eq!(seen["host"], "example.test");
    assert_eq!(seen["query"], json!({"a": ["1", "2"], "flag": true}));
    assert_eq!(seen["body"], json!({"k": "v"}));
    assert_eq!(seen["raw_body"], "k=v");
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["path"], "/t/x");
    assert_eq!(body["matched_route"]["name"], "r");
    assert_eq!(body["matched_route"]["paths"], json!(["/t"]));
    assert_eq!(body["matched_service"]["name"], "s");
    assert_eq!(body["kong"]["hostname"], crate::HOSTNAME.as_str());
    let gw = shared(&doc("{ status_code: 403, echo: true }"));
    let body = json_body(&send(&gw, request("GET", "/t", &[])).await);
    assert!(body.get("message").is_none(), "{body}");
}

#[tokio::test]
async fn a_trigger_header_is_found_by_kongs_get_headers_rules() {
    let gw = shared(&doc("{ status_code: 410, trigger: x_stop }"));
    for name in ["x_stop", "x-stop"] {
        assert_eq!(
            send(&gw, request("GET", "/t", &[(name, "")]))
                .await
                .status(),
            410,
            "{name}"
        );
    }
}

#[test]
fn schema_errors_use_kong_words() {
    let check = |v| {
        crate::plugins::normalize_config("request-termination", v, Source::Json)
            .unwrap_err()
            .message()
    };
    assert_eq!(
        check(json!({"status_code": 99})),
        "schema violation (config.status_code: value should be between 100 and 599)"
    );
    assert_eq!(
        check(json!({"message": "x", "body": "y"})),
        "schema violation (config: message cannot be used with content_type or body)"
    );
    assert_eq!(
        check(json!({"content_type": "text/plain"})),
        "schema violation (config: content_type requires a body)"
    );
    assert_eq!(
        check(json!({"foo": 1})),
        "schema violation (config.foo: unknown field)"
    );
}

#[test]
fn whole_config_rules_give_one_string_and_only_after_the_fields_pass() {
    let fields = |v| {
        crate::plugins::normalize_config("request-termination", v, Source::Json)
            .unwrap_err()
            .fields()
    };
    // The first failing rule of the `custom_validator`, as a string.
    assert_eq!(
        fields(json!({"message": "x", "content_type": "text/plain", "echo": true})),
        json!({"config": "message cannot be used with content_type or body"})
    );
    // A field error stops the record's validator from running.
    assert_eq!(
        fields(json!({"status_code": 99, "message": "x", "body": "y"})),
        json!({"config": {"status_code": "value should be between 100 and 599"}})
    );
    assert_eq!(
        fields(json!({"status_code": null})),
        json!({"config": {"status_code": "required field missing"}})
    );
}

#[tokio::test]
async fn echo_reports_the_captures_of_a_regex_route() {
    let gw = shared(
        r#"
_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:9/
    routes: [{ name: r, paths: ["~/users/(?<id>\\d+)$"] }]
    plugins:
      - name: request-termination
        config: { status_code: 200, echo: true }
"#,
    );
    let body = json_body(&send(&gw, request("GET", "/users/42", &[])).await);
    assert_eq!(
        body["request"]["uri_captures"],
        json!({"named": {"id": "42"}, "unnamed": ["42"]})
    );
}
