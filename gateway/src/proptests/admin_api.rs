//! Admin API bodies, JSON and form, posted through the admin router with tower's `oneshot` (no socket):
//! random JSON built from Kong's field names, mutated valid bodies, form text and arbitrary bytes, to every
//! collection and entity endpoint and `/config`: never a panic, never a 5xx. Runs in the normal suite and
//! under `ci/fuzz.sh` (target `admin_api`).

use axum::body::Body;
use http::Request;
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use tower::ServiceExt;

use super::{check, mutate, mutations, runtime};
use crate::testing::{documented_flow, shared};

const FIELDS: &[&str] = &[
    "name",
    "username",
    "custom_id",
    "id",
    "key",
    "tags",
    "url",
    "host",
    "port",
    "path",
    "protocol",
    "protocols",
    "paths",
    "hosts",
    "methods",
    "service",
    "route",
    "consumer",
    "enabled",
    "config",
    "key_names",
    "anonymous",
    "secret",
    "storage",
    "cookie_secure",
    "status_code",
    "message",
    "issuer",
    "client_id",
    "client_secret",
    "auth_methods",
    "ttl",
    "strip_path",
    "_format_version",
    "services",
    "consumers",
    "plugins",
    "routes",
    "keyauth_credentials",
];

const PATHS: &[&str] = &[
    "/services",
    "/routes",
    "/consumers",
    "/plugins",
    "/config",
    "/key-auths",
    "/services/example-service",
    "/services/example-service/routes",
    "/services/example-service/plugins",
    "/routes/example-route",
    "/routes/example-route/plugins",
    "/consumers/alex",
    "/consumers/alex/key-auth",
    "/consumers/alex/plugins",
    "/consumers/81823632-10c0-4098-a4f7-31062520c1e6",
    "/consumers/nobody/key-auth",
    "/plugins/00000000-0000-0000-0000-000000000000",
    "/schemas/plugins/session",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        prop::sample::select(vec![
            "",
            "s",
            "http://127.0.0.1:9/x",
            "/p",
            "http",
            "https",
            "GET",
            "kong",
            "cookie",
            "apikey",
            "81823632-10c0-4098-a4f7-31062520c1e6",
            "alex",
            "3.0",
            "example-service",
        ])
        .prop_map(|s| json!(s)),
        ".{0,20}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(FIELDS), inner), 0..8).prop_map(|kv| {
                Value::Object(
                    kv.into_iter()
                        .map(|(k, v)| ((*k).to_owned(), v))
                        .collect::<Map<String, Value>>(),
                )
            }),
        ]
    })
}

fn form_body() -> impl Strategy<Value = Vec<u8>> {
    let key = prop::collection::vec(prop::sample::select(FIELDS), 1..4).prop_map(|k| k.join("."));
    let suffix = prop::sample::select(vec!["", "[]", "[1]", "[0]", "[x]"]);
    let value = prop::sample::select(vec![
        "",
        "s",
        "1",
        "true",
        "http://127.0.0.1:9/x",
        "/p",
        "%zz",
        "null",
    ]);
    prop::collection::vec((key, suffix, value), 0..10).prop_map(|args| {
        args.into_iter()
            .map(|(k, s, v)| format!("{k}{s}={v}"))
            .collect::<Vec<_>>()
            .join("&")
            .into_bytes()
    })
}

/// One Admin API request: method, path, content type, body.
fn admin_request() -> impl Strategy<Value = (&'static str, &'static str, &'static str, Vec<u8>)> {
    let seeds: Vec<Vec<u8>> = vec![
        br#"{"name":"s2","url":"http://127.0.0.1:9/x"}"#.to_vec(),
        br#"{"name":"r2","paths":["/r2"],"service":{"name":"example-service"}}"#.to_vec(),
        br#"{"name":"session","config":{"secret":"x","storage":"kong"}}"#.to_vec(),
        br#"{"name":"key-auth","config":{"key_names":["apikey"]}}"#.to_vec(),
        br#"{"username":"u2","custom_id":"c2","tags":["a"]}"#.to_vec(),
        br#"{"key":"k2"}"#.to_vec(),
        b"name=s3&url=http://127.0.0.1:9/y&tags[]=a".to_vec(),
    ];
    let body = prop_oneof![
        json_value().prop_map(|v| v.to_string().into_bytes()),
        (prop::sample::select(seeds), mutations(6)).prop_map(|(seed, edits)| mutate(&seed, &edits)),
        form_body(),
        prop::collection::vec(any::<u8>(), 0..256),
    ];
    (
        prop::sample::select(vec!["POST", "PUT", "PATCH"]),
        prop::sample::select(PATHS.to_vec()),
        prop::sample::select(vec![
            "application/json",
            "application/x-www-form-urlencoded",
            "application/json; charset=utf-8",
            "application/yaml",
            "text/plain",
            "",
        ]),
        body,
    )
}

#[test]
fn admin_bodies_never_panic_or_5xx() {
    let rt = runtime();
    let app = crate::admin::router(shared(&documented_flow(
        std::net::SocketAddr::from(([127, 0, 0, 1], 9)),
        "          storage: kong",
    )));
    check(
        "admin_api",
        admin_request(),
        |(method, path, content_type, body)| {
            let mut req = Request::builder().method(method).uri(path);
            if !content_type.is_empty() {
                req = req.header("content-type", content_type);
            }
            let req = req
                .body(Body::from(body))
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let status = rt
                .block_on(app.clone().oneshot(req))
                .map_err(|e| TestCaseError::fail(e.to_string()))?
                .status();
            prop_assert!(status.as_u16() < 500, "status {status}");
            Ok(())
        },
    );
}
