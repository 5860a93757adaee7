use crate::testing::{
    cookie_pair, documented_flow, echo_upstream, json_body, request, send, set_cookies, shared,
};

#[tokio::test]
async fn documented_flow_with_cookie_secure_false() {
    let up = echo_upstream().await;
    let gw = shared(&documented_flow(up, "          cookie_secure: false"));

    let anon = send(&gw, request("GET", "/anything", &[])).await;
    assert_eq!(anon.status(), 403);
    assert_eq!(
        json_body(&anon),
        serde_json::json!({"message": "Forbidden"})
    );
    assert!(
        set_cookies(&anon).is_empty(),
        "no session for the anonymous consumer"
    );

    let login = send(
        &gw,
        request("GET", "/anything", &[("apikey", "hello_world")]),
    )
    .await;
    assert_eq!(login.status(), 200);
    let cookies = set_cookies(&login);
    assert_eq!(cookies.len(), 1);
    assert!(cookies[0].starts_with("session="));
    assert!(
        cookies[0].ends_with("; Path=/; SameSite=Strict; HttpOnly"),
        "{}",
        cookies[0]
    );

    let again = send(
        &gw,
        request("GET", "/anything", &[("cookie", &cookie_pair(&cookies[0]))]),
    )
    .await;
    assert_eq!(again.status(), 200);
    assert!(
        set_cookies(&again).is_empty(),
        "a fresh valid session is not re-issued"
    );
    let seen = &json_body(&again)["headers"];
    assert_eq!(seen["x-consumer-username"], "alex");
    assert!(seen["x-credential-identifier"].is_string());
    assert!(seen.get("x-anonymous-consumer").is_none());
}

#[tokio::test]
async fn default_cookie_attributes_are_kongs() {
    let up = echo_upstream().await;
    let gw = shared(&documented_flow(up, ""));
    let login = send(
        &gw,
        request("GET", "/anything", &[("apikey", "hello_world")]),
    )
    .await;
    let cookie = &set_cookies(&login)[0];
    assert!(
        cookie.ends_with("; Path=/; SameSite=Strict; Secure; HttpOnly"),
        "{cookie}"
    );
}

#[tokio::test]
async fn kong_storage_keeps_only_the_header_in_the_cookie_and_logout_kills_it() {
    let up = echo_upstream().await;
    let gw = shared(&documented_flow(
        up,
        "          storage: kong\n          cookie_secure: false",
    ));
    let login = send(
        &gw,
        request("GET", "/anything", &[("apikey", "hello_world")]),
    )
    .await;
    let pair = cookie_pair(&set_cookies(&login)[0]);
    assert_eq!(
        pair.len(),
        "session=".len() + 110,
        "server-side storage: header only"
    );
    assert_eq!(
        send(&gw, request("GET", "/anything", &[("cookie", &pair)]))
            .await
            .status(),
        200
    );

    // GET is not a logout method by default: the request is proxied.
    let get = send(
        &gw,
        request("GET", "/anything?session_logout", &[("cookie", &pair)]),
    )
    .await;
    assert_eq!(get.status(), 200);
    assert!(json_body(&get)["path"].is_string());

    let logout = send(
        &gw,
        request(
            "DELETE",
            "/anything?session_logout=true",
            &[("cookie", &pair)],
        ),
    )
    .await;
    assert_eq!(logout.status(), 200);
    assert!(logout.body().is_empty());
    let expired = set_cookies(&logout);
    assert_eq!(
        expired,
        vec!["session=; Path=/; SameSite=Strict; HttpOnly; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0".to_owned()]
    );
    let reuse = send(&gw, request("GET", "/anything", &[("cookie", &pair)])).await;
    assert_eq!(
        reuse.status(),
        403,
        "the old cookie no longer authenticates"
    );
}

#[tokio::test]
async fn a_tampered_cookie_is_not_a_session() {
    let up = echo_upstream().await;
    let gw = shared(&documented_flow(up, "          cookie_secure: false"));
    let login = send(
        &gw,
        request("GET", "/anything", &[("apikey", "hello_world")]),
    )
    .await;
    let pair = cookie_pair(&set_cookies(&login)[0]);
    let mut bytes = pair.into_bytes();
    let i = bytes.len() - 5;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap();
    let resp = send(&gw, request("GET", "/anything", &[("cookie", &tampered)])).await;
    assert_eq!(resp.status(), 403);
    assert!(set_cookies(&resp).is_empty());
}

#[tokio::test]
async fn idling_timeout_ends_the_session_and_activity_touches_it() {
    let up = echo_upstream().await;
    let gw = shared(&documented_flow(
        up,
        "          cookie_secure: false\n          response_headers: [id]",
    ));
    let login = send(
        &gw,
        request("GET", "/anything", &[("apikey", "hello_world")]),
    )
    .await;
    let pair = cookie_pair(&set_cookies(&login)[0]);
    let id = login.headers()["session-id"].to_str().unwrap().to_owned();

    gw.clock.advance(120);
    let touched = send(&gw, request("GET", "/anything", &[("cookie", &pair)])).await;
    assert_eq!(touched.status(), 200);
    let renewed = set_cookies(&touched);
    assert_eq!(
        renewed.len(),
        1,
        "past the touch threshold the cookie is re-sent"
    );
    assert_eq!(
        touched.headers()["session-id"],
        id.as_str(),
        "a touch keeps the session id"
    );

    gw.clock.advance(901);
    let idle = send(
        &gw,
        request("GET", "/anything", &[("cookie", &cookie_pair(&renewed[0]))]),
    )
    .await;
    assert_eq!(idle.status(), 403, "idle for more than 900 s");
}

#[tokio::test]
async fn rolling_renewal_issues_a_new_session_id() {
    let up = echo_upstream().await;
    let gw = shared(&documented_flow(
        up,
        "          cookie_secure: false\n          idling_timeout: 0\n          rolling_timeout: 100\n          response_headers: [id]",
    ));
    let login = send(
        &gw,
        request("GET", "/anything", &[("apikey", "hello_world")]),
    )
    .await;
    let pair = cookie_pair(&set_cookies(&login)[0]);
    let first_id = login.headers()["session-id"].to_str().unwrap().to_owned();
    gw.clock.advance(76); // > ceil(0.75 * 100)
    let renewed = send(&gw, request("GET", "/anything", &[("cookie", &pair)])).await;
    assert_eq!(renewed.status(), 200);
    assert_eq!(set_cookies(&renewed).len(), 1);
    assert_ne!(renewed.headers()["session-id"], first_id.as_str());
    gw.clock.advance(30);
    let expired = send(&gw, request("GET", "/anything", &[("cookie", &pair)])).await;
    assert_eq!(
        expired.status(),
        403,
        "the old cookie's rolling period is over"
    );
}

#[tokio::test]
async fn a_terminated_consumer_with_a_valid_key_gets_403_and_still_a_cookie() {
    let up = echo_upstream().await;
    let doc = documented_flow(up, "          cookie_secure: false").replace(
        "plugins:\n  - name: request-termination",
        "plugins:\n  - name: request-termination\n    consumer: alex\n    config: { status_code: 403, message: Blocked }\n  - name: request-termination",
    );
    let gw = shared(&doc);
    let resp = send(
        &gw,
        request("GET", "/anything", &[("apikey", "hello_world")]),
    )
    .await;
    assert_eq!(resp.status(), 403);
    assert_eq!(json_body(&resp)["message"], "Blocked");
    assert_eq!(set_cookies(&resp).len(), 1);
}

#[tokio::test]
async fn a_deleted_consumer_ends_the_session() {
    let up = echo_upstream().await;
    let gw = shared(&documented_flow(up, "          cookie_secure: false"));
    let login = send(
        &gw,
        request("GET", "/anything", &[("apikey", "hello_world")]),
    )
    .await;
    let pair = cookie_pair(&set_cookies(&login)[0]);
    gw.write(|db| db.delete_consumer("alex")).unwrap();
    let resp = send(&gw, request("GET", "/anything", &[("cookie", &pair)])).await;
    assert_eq!(resp.status(), 403);
    let cookies = set_cookies(&resp);
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("session=;") && c.contains("Max-Age=0")),
        "{cookies:?}"
    );
}

#[test]
fn session_cannot_be_scoped_to_a_consumer_and_defaults_match_kong() {
    let config = crate::plugins::normalize_config(
        "session",
        serde_json::json!({}),
        crate::schema::Source::Json,
    )
    .unwrap();
    assert_eq!(config["cookie_same_site"], "Strict");
    assert_eq!(config["idling_timeout"], 900);
    assert_eq!(config["rolling_timeout"], 3600);
    assert_eq!(config["absolute_timeout"], 86400);
    assert_eq!(
        config["logout_methods"],
        serde_json::json!(["POST", "DELETE"])
    );
    assert_eq!(config["secret"].as_str().map(str::len), Some(44));
    let legacy = crate::plugins::normalize_config(
        "session",
        serde_json::json!({"cookie_lifetime": 60, "cookie_samesite": "off", "cookie_httponly": false}),
        crate::schema::Source::Json,
    )
    .unwrap();
    assert_eq!(
        (
            legacy["rolling_timeout"].as_u64(),
            legacy["cookie_same_site"].as_str()
        ),
        (Some(60), Some("Lax"))
    );
    assert_eq!(legacy["cookie_http_only"], false);
    let bad = crate::plugins::normalize_config(
        "session",
        serde_json::json!({"cookie_same_site": "Bogus"}),
        crate::schema::Source::Json,
    )
    .unwrap_err();
    assert_eq!(
        bad.message(),
        "schema violation (config.cookie_same_site: expected one of: Strict, Lax, None, Default)"
    );
}

#[tokio::test]
async fn logout_post_arg_is_read_from_json_and_multipart_bodies() {
    let up = echo_upstream().await;
    let gw = shared(&documented_flow(
        up,
        "          cookie_secure: false\n          read_body_for_logout: true",
    ));
    for (content_type, body, logs_out) in [
        ("application/json", r#"{"session_logout":false}"#, false),
        ("application/json", r#"{"session_logout":1}"#, true),
        (
            "multipart/form-data; boundary=zz",
            "--zz\r\nContent-Disposition: form-data; name=\"session_logout\"\r\n\r\n\r\n--zz--\r\n",
            true,
        ),
    ] {
        let login = send(
            &gw,
            request("GET", "/anything", &[("apikey", "hello_world")]),
        )
        .await;
        let pair = cookie_pair(&set_cookies(&login)[0]);
        let req = crate::testing::request_with_body(
            "POST",
            "/anything",
            &[("cookie", &pair), ("content-type", content_type)],
            body,
        );
        let resp = send(&gw, req).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.body().is_empty(), logs_out, "{content_type} {body}");
    }
}

#[test]
fn debug_never_prints_the_secret_and_serde_keeps_it() {
    const SECRET: &str = "a-secret-that-must-not-be-logged";
    let config: super::Config =
        serde_json::from_value(serde_json::json!({ "secret": SECRET })).unwrap();
    let debug = format!("{config:?}");
    assert!(!debug.contains(SECRET), "{debug}");
    assert!(debug.contains("secret: REDACTED"), "{debug}");
    // The Admin API shows the secret, as Kong's does.
    assert_eq!(serde_json::to_value(&config).unwrap()["secret"], SECRET);

    let plugin = <super::SessionPlugin as crate::plugins::Plugin>::new(
        config,
        &crate::plugins::Deps::in_memory(),
    );
    for debug in [format!("{plugin:?}"), format!("{:?}", plugin.session)] {
        assert!(!debug.contains(SECRET), "{debug}");
    }
}

#[tokio::test]
async fn derived_keys_survive_a_rebuild_with_the_same_secret() {
    use crate::plugins::Plugin as _;
    use crate::resty_session::Session;
    use crate::resty_session::codec::{CookieKind, decode_base64url};

    let deps = crate::plugins::Deps::in_memory();
    let config = |secret: &str| -> super::Config {
        serde_json::from_value(serde_json::json!({ "secret": secret })).unwrap()
    };
    let first = super::SessionPlugin::new(config("rebuild-secret"), &deps);
    let mut session = Session::new(std::sync::Arc::clone(&first.session));
    session.set_data(serde_json::json!(["consumer", "credential"]));
    session.save(1_795_417_910).await.unwrap();
    let sid: [u8; 32] = decode_base64url(session.id().unwrap().as_bytes())
        .unwrap()
        .try_into()
        .unwrap();
    drop(first);

    // An Admin API write rebuilds every plugin from the same dependencies.
    let rebuilt = super::SessionPlugin::new(config("rebuild-secret"), &deps);
    assert!(rebuilt.session.key.is_cached(&sid, CookieKind::Session));
    let other = super::SessionPlugin::new(config("another-secret"), &deps);
    assert!(!other.session.key.is_cached(&sid, CookieKind::Session));
    assert_eq!(deps.session_keys.len(), 1);
}

#[test]
fn timeouts_are_kong_numbers() {
    let normalize = |config: serde_json::Value, source| {
        crate::plugins::normalize_config("session", config, source)
    };
    // kong/plugins/session/schema.lua: `idling_timeout = { type = "number", default = 900 }`.
    for field in [
        "idling_timeout",
        "rolling_timeout",
        "absolute_timeout",
        "stale_ttl",
        "remember_rolling_timeout",
        "remember_absolute_timeout",
    ] {
        let bad = normalize(
            serde_json::json!({ field: "soon" }),
            crate::schema::Source::Json,
        )
        .unwrap_err();
        assert_eq!(
            bad.message(),
            format!("schema violation (config.{field}: expected a number)")
        );
        let fraction = normalize(
            serde_json::json!({ field: 1.5 }),
            crate::schema::Source::Json,
        )
        .unwrap();
        assert_eq!(
            fraction[field], 1,
            "{field}: a number is accepted, whole seconds kept"
        );
        let form = normalize(
            serde_json::json!({ field: "60" }),
            crate::schema::Source::Form,
        )
        .unwrap();
        assert_eq!(form[field], 60, "{field} from a form body");
        assert!(
            normalize(
                serde_json::json!({ field: -1 }),
                crate::schema::Source::Json
            )
            .is_err(),
            "{field}: negative"
        );
    }
    let null_idle = normalize(
        serde_json::json!({"idling_timeout": null}),
        crate::schema::Source::Json,
    )
    .unwrap();
    assert_eq!(null_idle["idling_timeout"], 0);
}
