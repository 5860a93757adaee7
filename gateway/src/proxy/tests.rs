use serde_json::json;

use crate::testing::{echo_upstream, json_body, request, send, shared};

fn doc(url: &str, route: &str) -> String {
    format!(
        "_format_version: \"3.0\"\nservices:\n  - name: s\n    url: {url}\n    read_timeout: 300\n    connect_timeout: 300\n    routes:\n      - {route}\n"
    )
}

#[tokio::test]
async fn no_route_is_kongs_404() {
    let gw = shared("_format_version: \"3.0\"\n");
    let resp = send(&gw, request("GET", "/x", &[])).await;
    assert_eq!(resp.status(), 404);
    assert_eq!(
        json_body(&resp)["message"],
        "no Route matched with those values"
    );
}

#[tokio::test]
async fn path_query_and_headers_are_forwarded_with_kongs_rules() {
    let up = echo_upstream().await;
    let gw = shared(&doc(
        &format!("http://{up}/base"),
        "{ paths: [/api], strip_path: true }",
    ));
    let req = request(
        "POST",
        "/api/items?a=1&b=two",
        &[
            ("host", "gw.test:8000"),
            ("x-custom", "yes"),
            ("connection", "keep-alive, x-drop"),
            ("x-drop", "1"),
        ],
    );
    let resp = send(&gw, req).await;
    assert_eq!(resp.status(), 200);
    let seen = json_body(&resp);
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["path"], "/base/items");
    assert_eq!(seen["query"], "a=1&b=two");
    let h = &seen["headers"];
    assert_eq!(h["x-custom"], "yes");
    assert!(
        h.get("x-drop").is_none(),
        "headers named in Connection are hop-by-hop"
    );
    assert_eq!(
        h["host"],
        json!(up.to_string()),
        "Host is the upstream's unless preserve_host"
    );
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(h["x-forwarded-host"], "gw.test");
    assert_eq!(h["x-forwarded-port"], "8000");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-forwarded-path"], "/api/items");
    assert_eq!(h["x-real-ip"], "127.0.0.1");
}

#[tokio::test]
async fn preserve_host_and_no_strip() {
    let up = echo_upstream().await;
    let gw = shared(&doc(
        &format!("http://{up}"),
        "{ paths: [/api], strip_path: false, preserve_host: true }",
    ));
    let seen = json_body(&send(&gw, request("GET", "/api/x", &[("host", "gw.test")])).await);
    assert_eq!(seen["path"], "/api/x");
    assert_eq!(seen["headers"]["host"], "gw.test");
}

#[tokio::test]
async fn unreachable_upstream_is_a_502_with_a_json_message() {
    // Bind then drop a listener so the port is (very likely) closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let gw = shared(&doc(&format!("http://127.0.0.1:{port}"), "{ paths: [/] }"));
    let resp = send(&gw, request("GET", "/", &[])).await;
    assert_eq!(resp.status(), 502);
    assert_eq!(
        json_body(&resp)["message"],
        "An invalid response was received from the upstream server"
    );
}

#[tokio::test]
async fn a_silent_upstream_times_out_with_a_504() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            open.push(stream); // accept and never answer
        }
    });
    let gw = shared(&doc(&format!("http://{addr}"), "{ paths: [/] }"));
    let resp = send(&gw, request("GET", "/", &[])).await;
    assert_eq!(resp.status(), 504);
    assert_eq!(
        json_body(&resp)["message"],
        "The upstream server is timing out"
    );
    held.abort();
}

#[tokio::test]
async fn an_upstream_uri_that_cannot_be_built_is_kongs_500() {
    use std::sync::Arc;

    use crate::error::ProxyError;
    use crate::model::{Route, Service};
    use crate::pdk::{Ctx, RequestBody};

    let service: Service = serde_json::from_value(json!({ "host": "bad host" })).unwrap();
    let route: Route = serde_json::from_value(json!({})).unwrap();
    let gw = shared("_format_version: \"3.0\"\n");
    let (parts, body) = request("GET", "/x", &[]).into_parts();
    let mut ctx = Ctx::new(
        0,
        parts,
        RequestBody::Stream(body),
        crate::testing::CLIENT,
        gw.snapshot.load_full(),
        Arc::from("r"),
        None,
    );
    let err = super::Upstream::new()
        .forward(&mut ctx, &service, &route, None)
        .await
        .unwrap_err();
    assert!(matches!(err, ProxyError::Internal(_)), "{err:?}");
    let exit = err.into_exit("id");
    assert_eq!(exit.status, 500);
    let body: serde_json::Value = serde_json::from_slice(&exit.body).unwrap();
    assert_eq!(body["message"], "An unexpected error occurred");
}
