use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::testing::shared;

async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    body: Option<(&str, String)>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    let body = match body {
        Some((content_type, text)) => {
            req = req.header("content-type", content_type);
            Body::from(text)
        }
        None => Body::empty(),
    };
    let resp = app.clone().oneshot(req.body(body).unwrap()).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn json_body(v: Value) -> Option<(&'static str, String)> {
    Some(("application/json", v.to_string()))
}

fn form(text: &str) -> Option<(&'static str, String)> {
    Some(("application/x-www-form-urlencoded", text.to_owned()))
}

fn app() -> axum::Router {
    super::router(shared("_format_version: \"3.0\"\n"))
}

#[tokio::test]
async fn crud_with_kong_status_codes_and_list_shape() {
    let app = app();
    let (status, svc) = call(
        &app,
        "POST",
        "/services",
        json_body(json!({"name": "s", "url": "http://127.0.0.1:9/x"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(svc["path"], "/x");
    let (status, list) = call(&app, "GET", "/services", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["next"], Value::Null);
    assert_eq!(list["data"].as_array().map(Vec::len), Some(1));
    let (status, got) = call(&app, "GET", "/services/s", None).await;
    assert_eq!((status, &got["id"]), (StatusCode::OK, &svc["id"]));
    let (status, patched) = call(&app, "PATCH", "/services/s", form("retries=2")).await;
    assert_eq!((status, &patched["retries"]), (StatusCode::OK, &json!(2)));
    let (status, _) = call(&app, "DELETE", "/services/s", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(&app, "DELETE", "/services/s", None).await;
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "deleting what is not there is still 204"
    );
    let (status, body) = call(&app, "GET", "/services/s", None).await;
    assert_eq!(
        (status, body),
        (StatusCode::NOT_FOUND, json!({"message": "Not found"}))
    );
}

#[tokio::test]
async fn errors_are_kongs() {
    let app = app();
    let (status, body) = call(&app, "GET", "/nope", None).await;
    assert_eq!(
        (status, body),
        (StatusCode::NOT_FOUND, json!({"message": "Not found"}))
    );
    let (status, body) = call(
        &app,
        "POST",
        "/services",
        Some(("application/json", "{bad".to_owned())),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            json!({"message": "Cannot parse JSON body"})
        )
    );
    let (status, body) = call(&app, "DELETE", "/services", None).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::METHOD_NOT_ALLOWED,
            json!({"message": "Method not allowed"})
        )
    );
    let (status, body) = call(&app, "POST", "/plugins", json_body(json!({"name": "foo"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], 2);
    assert_eq!(body["name"], "schema violation");
    assert_eq!(
        body["fields"]["name"],
        "plugin 'foo' not enabled; add it to the 'plugins' configuration property"
    );
    call(&app, "POST", "/consumers", form("username=bob")).await;
    let (status, body) = call(&app, "POST", "/consumers", form("username=bob")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        body["message"],
        "UNIQUE violation detected on '{username=\"bob\"}'"
    );
    assert_eq!(body["code"], 5);
}

#[tokio::test]
async fn nested_key_auth_and_plugin_patch_with_repeated_form_fields() {
    let app = app();
    call(
        &app,
        "POST",
        "/consumers",
        json_body(json!({"username": "alex"})),
    )
    .await;
    let (status, cred) = call(
        &app,
        "POST",
        "/consumers/alex/key-auth",
        form("key=hello_world"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(cred["key"], "hello_world");
    let (status, list) = call(&app, "GET", "/consumers/alex/key-auth", None).await;
    assert_eq!(
        (status, list["data"][0]["key"].clone()),
        (StatusCode::OK, json!("hello_world"))
    );
    let (status, owner) = call(&app, "GET", "/key-auths/hello_world/consumer", None).await;
    assert_eq!(
        (status, owner["username"].clone()),
        (StatusCode::OK, json!("alex"))
    );
    let (status, _) = call(&app, "GET", "/consumers/nobody/key-auth", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, plugin) = call(
        &app,
        "POST",
        "/plugins",
        form("name=key-auth&config.key_names=apikey"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(plugin["config"]["key_names"], json!(["apikey"]));
    assert_eq!(plugin["enabled"], true);
    assert_eq!(plugin["route"], Value::Null);
    let id = plugin["id"].as_str().unwrap();
    let (status, patched) = call(
        &app,
        "PATCH",
        &format!("/plugins/{id}"),
        form("config.key_names=x-key&config.key_names=apikey"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(patched["config"]["key_names"], json!(["x-key", "apikey"]));
    let (status, body) = call(
        &app,
        "POST",
        "/consumers/alex/plugins",
        json_body(json!({"name": "session"})),
    )
    .await;
    assert_eq!(
        (status, body["message"].clone()),
        (
            StatusCode::BAD_REQUEST,
            json!("schema violation (consumer: value must be null)")
        )
    );
}

#[tokio::test]
async fn root_reports_version_and_plugins() {
    let (status, root) = call(&app(), "GET", "/", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(root["version"], super::KONG_VERSION);
    assert_eq!(
        root["plugins"]["available_on_server"]["session"]["priority"],
        1900
    );
    let (status, body) = call(&app(), "GET", "/status", None).await;
    assert_eq!(
        (status, body["database"]["reachable"].clone()),
        (StatusCode::OK, json!(true))
    );
}

#[tokio::test]
async fn hostile_form_bodies_get_400_with_kongs_message_and_change_nothing() {
    let app = app();
    let deep = format!("name=s&{}=1", vec!["a"; 15_000].join("."));
    let (status, body) = call(&app, "POST", "/services", form(&deep)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["message"].as_str().unwrap().contains("nested"),
        "{body}"
    );

    let many: Vec<String> = (0..1001).map(|i| format!("tags={i}")).collect();
    let body_text = format!("name=s&url=http://127.0.0.1:9&{}", many.join("&"));
    let (status, body) = call(&app, "POST", "/services", form(&body_text)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, json!({"message": "Too many arguments"}));

    let (_, list) = call(&app, "GET", "/services", None).await;
    assert_eq!(list["data"], json!([]));
}

#[tokio::test]
async fn paging_numbers_are_checked_not_overflowed() {
    let app = app();
    call(&app, "POST", "/consumers", form("username=bob")).await;
    // Once a panic in debug builds and a wrap-around in release ones.
    let (status, body) = call(&app, "GET", "/consumers?offset=18446744073709551615", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"data": [], "next": null}));
    let (status, body) = call(&app, "GET", "/consumers?offset=abc", None).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            json!({"code": 7, "name": "invalid offset", "message": "'abc' is not a valid offset: invalid offset"})
        )
    );
    let (status, body) = call(&app, "GET", "/consumers?size=abc", None).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            json!({"code": 9, "name": "invalid size", "message": "size must be a number"})
        )
    );
    for size in ["0", "1001", "1.5", "18446744073709551616"] {
        let (status, body) = call(&app, "GET", &format!("/key-auths?size={size}"), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "size={size}");
        assert_eq!(
            body["message"],
            "size must be an integer between 1 and 1000"
        );
    }
    let (status, body) = call(&app, "GET", "/consumers?size=1000&offset=0", None).await;
    assert_eq!(
        (status, body["data"][0]["username"].clone()),
        (StatusCode::OK, json!("bob"))
    );
}

#[tokio::test]
async fn too_many_query_arguments_and_bad_paths_get_kongs_json() {
    let app = app();
    let query: Vec<String> = (0..=1000).map(|i| format!("a{i}=1")).collect();
    let (status, body) = call(&app, "GET", &format!("/services?{}", query.join("&")), None).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            json!({"message": "Too many arguments"})
        )
    );
    let (status, _) = call(
        &app,
        "GET",
        &format!("/services?{}", query[..1000].join("&")),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call(&app, "GET", "/services/%FF", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["message"].is_string(), "{body}");
}

#[tokio::test]
async fn integers_out_of_kongs_ranges_are_refused_with_the_field_named() {
    let app = app();
    let cases = [
        (
            json!({"host": "h", "port": 70000}),
            "port",
            "value should be between 0 and 65535",
        ),
        (
            json!({"host": "h", "port": -1}),
            "port",
            "value should be between 0 and 65535",
        ),
        (
            json!({"host": "h", "retries": 40000}),
            "retries",
            "value should be between 0 and 32767",
        ),
        (
            json!({"host": "h", "retries": 18_446_744_073_709_551_615_u64}),
            "retries",
            "value should be between 0 and 32767",
        ),
        (
            json!({"host": "h", "read_timeout": 2_147_483_647}),
            "read_timeout",
            "value should be between 1 and 2147483646",
        ),
        (
            json!({"host": "h", "connect_timeout": 0}),
            "connect_timeout",
            "value should be between 1 and 2147483646",
        ),
        (
            json!({"host": "h", "tls_verify_depth": 65}),
            "tls_verify_depth",
            "value should be between 0 and 64",
        ),
        // An explicit port next to `url` is checked, not silently replaced.
        (
            json!({"url": "http://h/", "port": "abc"}),
            "port",
            "expected an integer",
        ),
    ];
    for (body, field, message) in cases {
        let (status, got) = call(&app, "POST", "/services", json_body(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(got["code"], 2, "{body}");
        assert_eq!(got["fields"][field], message, "{body}");
    }
    let (status, got) = call(&app, "POST", "/services", form("url=http://h/&port=abc")).await;
    assert_eq!(
        (status, got["fields"]["port"].clone()),
        (StatusCode::BAD_REQUEST, json!("expected an integer"))
    );
    let (status, got) = call(
        &app,
        "POST",
        "/services",
        form("host=h&port=65535&retries=32767"),
    )
    .await;
    assert_eq!(
        (status, got["port"].clone()),
        (StatusCode::CREATED, json!(65535))
    );
    let (status, got) = call(
        &app,
        "POST",
        "/routes",
        json_body(json!({"paths": ["/"], "https_redirect_status_code": 70000})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        got["fields"]["https_redirect_status_code"],
        "expected one of: 426, 301, 302, 307, 308"
    );
}

#[tokio::test]
async fn a_key_auth_ttl_outside_kongs_bound_is_an_invalid_option() {
    let app = app();
    call(&app, "POST", "/consumers", form("username=bob")).await;
    for ttl in [
        json!(18_446_744_073_709_551_615_u64),
        json!(-1),
        json!(100_000_001),
        json!(1.5),
    ] {
        let (status, body) = call(
            &app,
            "POST",
            "/consumers/bob/key-auth",
            json_body(json!({"key": "k", "ttl": ttl})),
        )
        .await;
        assert_eq!(
            (status, body),
            (
                StatusCode::BAD_REQUEST,
                json!({
                    "code": 11,
                    "name": "invalid options",
                    "message": "invalid option (ttl: must be an integer between 0 and 100000000)",
                    "options": {"ttl": "must be an integer between 0 and 100000000"},
                })
            ),
            "ttl={ttl}"
        );
    }
    let (status, body) = call(
        &app,
        "POST",
        "/consumers/bob/key-auth",
        form("key=k&ttl=100000000"),
    )
    .await;
    // Kong shows the whole seconds left: `created_at + ttl - now`, floored, `now` being a fraction
    // into the second `created_at` counts.
    assert_eq!(
        (status, body["ttl"].clone()),
        (StatusCode::CREATED, json!(99_999_999))
    );
}

#[tokio::test]
async fn a_credential_with_a_ttl_is_gone_once_it_runs_out() {
    let shared = shared("_format_version: \"3.0\"\n");
    let app = super::router(std::sync::Arc::clone(&shared));
    call(&app, "POST", "/consumers", form("username=bob")).await;
    let (status, cred) = call(
        &app,
        "POST",
        "/consumers/bob/key-auth",
        json_body(json!({"key": "short", "ttl": 2})),
    )
    .await;
    assert_eq!(
        (status, cred["ttl"].clone()),
        (StatusCode::CREATED, json!(1))
    );
    call(&app, "POST", "/consumers/bob/key-auth", form("key=forever")).await;
    assert_eq!(
        call(&app, "GET", "/key-auths/short", None).await.0,
        StatusCode::OK
    );

    shared.clock.advance(2);
    assert_eq!(
        call(&app, "GET", "/key-auths/short", None).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, list) = call(&app, "GET", "/consumers/bob/key-auth", None).await;
    let keys: Vec<&Value> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["key"])
        .collect();
    assert_eq!(keys, [&json!("forever")]);
    let now = shared.clock.now();
    assert_eq!(shared.write(|db| Ok(db.purge_expired(now))), Ok(1));
    assert_eq!(shared.read(|db| db.next_expiry()), None);
}

#[tokio::test]
async fn an_update_without_ttl_clears_it_and_with_one_counts_from_now() {
    let shared = shared("_format_version: \"3.0\"\n");
    let app = super::router(std::sync::Arc::clone(&shared));
    call(&app, "POST", "/consumers", form("username=bob")).await;
    call(
        &app,
        "POST",
        "/consumers/bob/key-auth",
        json_body(json!({"key": "k", "ttl": 2})),
    )
    .await;
    let (_, patched) = call(
        &app,
        "PATCH",
        "/key-auths/k",
        json_body(json!({"tags": ["t"]})),
    )
    .await;
    assert_eq!(patched["ttl"], Value::Null);
    shared.clock.advance(5);
    assert_eq!(
        call(&app, "GET", "/key-auths/k", None).await.0,
        StatusCode::OK
    );
    let (_, patched) = call(&app, "PATCH", "/key-auths/k", json_body(json!({"ttl": 3}))).await;
    assert_eq!(patched["ttl"], json!(2));
    shared.clock.advance(3);
    assert_eq!(
        call(&app, "GET", "/key-auths/k", None).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn names_follow_kongs_utf8_name_rule() {
    let app = app();
    for name in ["a b", "a/b", "a\nb", "a\u{0}b", ""] {
        for (path, body) in [
            ("/services", json!({"name": name, "host": "h"})),
            ("/routes", json!({"name": name, "paths": ["/"]})),
        ] {
            let (status, got) = call(&app, "POST", path, json_body(body)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {name:?}");
            assert_eq!(
                got["fields"]["name"],
                format!(
                    "invalid value '{name}': the only accepted ascii characters are alphanumerics or ., -, _, and ~"
                ),
            );
        }
    }
    let (status, _) = call(
        &app,
        "POST",
        "/services",
        json_body(json!({"name": "sérvice.1-_~", "host": "h"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn oversized_values_and_bad_tags_are_refused() {
    let app = app();
    let long = "a".repeat(4097);
    let (status, got) = call(
        &app,
        "POST",
        "/consumers",
        json_body(json!({"username": long})),
    )
    .await;
    assert_eq!(
        (status, got["fields"]["username"].clone()),
        (
            StatusCode::BAD_REQUEST,
            json!("length must be at most 4096")
        )
    );
    let paths: Vec<String> = (0..1001).map(|i| format!("/{i}")).collect();
    let (status, got) = call(&app, "POST", "/routes", json_body(json!({"paths": paths}))).await;
    assert_eq!(
        (status, got["fields"]["paths"].clone()),
        (
            StatusCode::BAD_REQUEST,
            json!("length must be at most 1000")
        )
    );
    let (status, got) = call(
        &app,
        "POST",
        "/consumers",
        json_body(json!({"username": "u", "tags": ["a,b"]})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        got["fields"]["tags"],
        "invalid tag 'a,b': expected printable ascii (except `,` and `/`) or valid utf-8 sequences"
    );
    let (status, _) = call(
        &app,
        "POST",
        "/consumers",
        json_body(json!({"username": "u", "tags": ["a b", "ünï"]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn post_config_reports_every_error_in_kongs_declarative_shape() {
    let app = app();
    let doc = json!({
        "_format_version": "3.0",
        "services": [
            {"name": "ok", "url": "http://127.0.0.1:9/"},
            {"name": "bad", "url": "http://127.0.0.1:9/", "retries": "many",
             "routes": [{"name": "r", "paths": ["/a"]}, {"name": "r2", "paths": "nope"}]}
        ],
        "plugins": [
            {"name": "key-auth", "config": {"key_names": ["apikey", "hello\\world"]}}
        ]
    });
    let (status, body) = call(&app, "POST", "/config", json_body(doc.clone())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], 14);
    assert_eq!(body["name"], "invalid declarative configuration");
    let bad = "bad header name 'hello\\world', allowed characters are A-Z, a-z, 0-9, '_', and '-'";
    assert_eq!(
        body["fields"],
        json!({
            "services": [null, {"retries": "expected an integer"}],
            "plugins": [{"config": {"key_names": [null, bad]}}],
        })
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("declarative config is invalid: {")
    );
    assert!(body.get("flattened_errors").is_none());

    let (_, body) = call(&app, "POST", "/config?flatten_errors=1", json_body(doc)).await;
    let flattened = body["flattened_errors"].as_array().unwrap();
    assert_eq!(flattened.len(), 2, "{body}");
    assert_eq!(flattened[0]["entity_type"], "plugin");
    assert_eq!(
        flattened[0]["errors"],
        json!([{"type": "field", "field": "config.key_names.2", "message": bad}])
    );
    assert_eq!(flattened[1]["entity_type"], "service");
    assert_eq!(flattened[1]["entity_name"], "bad");
    assert!(flattened[1]["entity"].get("routes").is_none());
    assert_eq!(
        flattened[1]["errors"],
        json!([{"type": "field", "field": "retries", "message": "expected an integer"}])
    );
}

#[tokio::test]
async fn post_config_names_a_missing_reference_as_kongs_declarative_loader_does() {
    let app = app();
    let doc = json!({
        "_format_version": "3.0",
        "routes": [{"name": "r", "paths": ["/a"], "service": "ghost"}]
    });
    let (status, body) = call(&app, "POST", "/config", json_body(doc)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["fields"],
        json!({"routes": [["invalid reference 'service: ghost' (no such entry in 'services')"]]})
    );
    assert_eq!(
        body["message"],
        "declarative config is invalid: {routes={{\"invalid reference 'service: ghost' (no such entry in 'services')\"}}}"
    );
}

#[tokio::test]
async fn a_regex_path_that_does_not_compile_is_refused() {
    let app = app();
    let (status, body) = call(
        &app,
        "POST",
        "/routes",
        json_body(json!({"paths": ["~/users/(unclosed"]})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = body["fields"]["paths"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("invalid regex: '/users/(unclosed' (PCRE returned: "),
        "{body}"
    );
}

/// `database = off`: Kong's DB-less Admin API refuses every write but `POST /config` with the `off`
/// strategy's 405 (`kong/db/strategies/off/init.lua`), and reads and `POST /config` still work.
#[tokio::test]
async fn dbless_refuses_writes_except_post_config() {
    let clock = crate::Clock::manual();
    let catalogue = crate::testing::catalogue();
    let shared = crate::state::Shared::with_database(
        crate::model::Db::default(),
        clock,
        catalogue,
        crate::store::DatabaseMode::Off,
        None,
    )
    .unwrap();
    let app = super::router(shared);
    let refused = |operation: &str, table: &str| {
        json!({
            "code": 12,
            "name": "operation unsupported",
            "message": format!("cannot {operation} '{table}' entities when not using a database"),
        })
    };
    let cases = [
        ("POST", "/services", "create", "services"),
        ("PUT", "/routes/r", "create or update", "routes"),
        ("PATCH", "/consumers/c", "update", "consumers"),
        ("DELETE", "/plugins/p", "remove", "plugins"),
        (
            "POST",
            "/consumers/alex/key-auth",
            "create",
            "keyauth_credentials",
        ),
        ("DELETE", "/key-auths/k", "remove", "keyauth_credentials"),
        ("POST", "/services/s/routes", "create", "routes"),
    ];
    for (method, path, operation, table) in cases {
        let (status, body) = call(&app, method, path, json_body(json!({"name": "x"}))).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert_eq!(body, refused(operation, table), "{method} {path}");
    }
    let doc = "_format_version: \"3.0\"\nconsumers:\n  - username: alex\n";
    let (status, _) = call(
        &app,
        "POST",
        "/config",
        Some(("application/yaml", doc.to_owned())),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, alex) = call(&app, "GET", "/consumers/alex", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(alex["username"], "alex");
    let (_, root) = call(&app, "GET", "/", None).await;
    assert_eq!(root["configuration"]["database"], "off");
}

#[tokio::test]
async fn responses_carry_server_and_admin_latency() {
    for uri in ["/", "/services", "/nowhere"] {
        let req = Request::builder().uri(uri).body(Body::empty()).unwrap();
        let resp = app().oneshot(req).await.unwrap();
        let h = resp.headers();
        assert_eq!(h["server"], "kong/3.10.0", "{uri}");
        assert!(
            h["x-kong-admin-latency"]
                .to_str()
                .unwrap()
                .parse::<u64>()
                .is_ok(),
            "{uri}"
        );
    }
}

const DOC: &str = "_format_version: \"3.0\"\nconsumers:\n  - username: alice\n";

#[tokio::test]
async fn post_config_takes_the_document_as_kong_documents_it() {
    let boundary = "XyZ";
    let multipart = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"config\"; filename=\"kong.yml\"\r\nContent-Type: application/x-yaml\r\n\r\n{DOC}\r\n--{boundary}--\r\n"
    );
    let multipart_type = format!("multipart/form-data; boundary={boundary}");
    let urlencoded: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("config", DOC)
        .finish();
    let bodies = [
        (multipart_type.as_str(), multipart),
        ("application/x-www-form-urlencoded", urlencoded),
        ("application/json", json!({ "config": DOC }).to_string()),
        (
            "application/json",
            json!({"_format_version": "3.0", "consumers": [{"username": "alice"}]}).to_string(),
        ),
        ("application/x-yaml", DOC.to_owned()),
        ("text/plain", DOC.to_owned()),
    ];
    for (content_type, body) in bodies {
        let app = app();
        let (status, got) = call(&app, "POST", "/config", Some((content_type, body))).await;
        assert_eq!(status, StatusCode::CREATED, "{content_type}: {got}");
        let (_, consumers) = call(&app, "GET", "/consumers", None).await;
        assert_eq!(consumers["data"][0]["username"], "alice", "{content_type}");
    }
    let (status, got) = call(&app(), "POST", "/config", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(got["message"], "expected a declarative configuration");
}

#[tokio::test]
async fn lists_filter_by_tags_with_and_or() {
    let app = app();
    for (name, tags) in [
        ("a", json!(["x", "y"])),
        ("b", json!(["x"])),
        ("c", json!(["z"])),
        ("d", json!([])),
    ] {
        let (status, _) = call(
            &app,
            "POST",
            "/consumers",
            json_body(json!({"username": name, "tags": tags})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let names = |v: &Value| -> Vec<String> {
        let mut n: Vec<String> = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["username"].as_str().unwrap().to_owned())
            .collect();
        n.sort();
        n
    };
    let (_, and) = call(&app, "GET", "/consumers?tags=x,y", None).await;
    assert_eq!(names(&and), ["a"]);
    let (_, or) = call(&app, "GET", "/consumers?tags=y/z", None).await;
    assert_eq!(names(&or), ["a", "c"]);
    let (_, page) = call(&app, "GET", "/consumers?tags=x&size=1", None).await;
    assert_eq!(page["next"], "/consumers?offset=1&tags=x&size=1");
    let (status, bad) = call(&app, "GET", "/consumers?tags=x,y/z", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        bad,
        json!({"code": 11, "name": "invalid options", "message": "invalid option (tags: invalid filter syntax)", "options": {"tags": "invalid filter syntax"}})
    );
    let (status, _) = call(&app, "GET", "/consumers?tags=a,b,c,d,e,f", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, all) = call(&app, "GET", "/tags", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(all["data"].as_array().unwrap().len(), 4, "{all}");
    let (_, x) = call(&app, "GET", "/tags/x", None).await;
    let rows = x["data"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter().all(|r| r["tag"] == "x"
            && r["entity_name"] == "consumers"
            && r["entity_id"].is_string())
    );
}

#[tokio::test]
async fn entities_the_gateway_lacks_are_empty_lists() {
    for path in [
        "/upstreams",
        "/targets",
        "/certificates",
        "/snis",
        "/ca_certificates",
    ] {
        let (status, body) = call(&app(), "GET", path, None).await;
        assert_eq!(
            (status, body),
            (StatusCode::OK, json!({"data": [], "next": null})),
            "{path}"
        );
    }
}

#[tokio::test]
async fn plugin_configs_are_validated_without_being_stored() {
    let app = app();
    let (status, body) = call(
        &app,
        "POST",
        "/schemas/plugins/validate",
        json_body(json!({"name": "key-auth", "config": {"key_names": ["apikey"]}})),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::OK,
            json!({"message": "schema validation successful"})
        )
    );
    let (status, body) = call(
        &app,
        "POST",
        "/schemas/plugins/validate",
        json_body(json!({"name": "request-termination", "config": {"status_code": 600}})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["name"], "schema violation");
    assert!(
        body["fields"]["config"]["status_code"].is_string(),
        "{body}"
    );
    let (_, plugins) = call(&app, "GET", "/plugins", None).await;
    assert_eq!(plugins["data"], json!([]), "nothing was stored");
}

#[tokio::test]
async fn get_config_is_kongs_yaml_string_that_post_config_takes_back() {
    let app = app();
    let doc = "_format_version: \"3.0\"\nconsumers:\n  - username: alex\n    custom_id: a-1\n";
    let (status, _) = call(
        &app,
        "POST",
        "/config",
        Some(("application/yaml", doc.to_owned())),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    // kong/api/routes/config.lua: `{ config = <the export as YAML> }`.
    let (status, body) = call(&app, "GET", "/config", None).await;
    assert_eq!(status, StatusCode::OK);
    let yaml = body["config"].as_str().unwrap().to_owned();
    assert!(yaml.contains("username: alex"), "{yaml}");
    assert!(yaml.contains("_format_version"), "{yaml}");
    let (status, _) = call(&app, "DELETE", "/consumers/alex", None).await;
    assert!(status == StatusCode::NO_CONTENT || status == StatusCode::METHOD_NOT_ALLOWED);
    let (status, _) = call(&app, "POST", "/config", Some(("application/yaml", yaml))).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, alex) = call(&app, "GET", "/consumers/alex", None).await;
    assert_eq!(alex["custom_id"], "a-1");
}
