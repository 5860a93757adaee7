use serde_json::json;

use super::*;
use crate::model::Route;
use crate::schema::Source;

fn route(v: serde_json::Value) -> Route {
    Route::from_value(v, Source::Json).unwrap()
}

#[test]
fn longest_prefix_wins_and_more_conditions_beat_fewer() {
    let routes = [
        route(json!({"paths": ["/"]})),
        route(json!({"paths": ["/anything"]})),
        route(json!({"paths": ["/anything"], "methods": ["POST"]})),
    ];
    let router = Router::new(routes.iter());
    assert_eq!(
        router.find("GET", None, "/anything/x").map(|m| m.route),
        Some(1)
    );
    assert_eq!(
        router.find("POST", None, "/anything").map(|m| m.route),
        Some(2)
    );
    assert_eq!(router.find("GET", None, "/other").map(|m| m.route), Some(0));
    assert_eq!(
        router.find("GET", None, "/anything").and_then(|m| m.prefix),
        Some("/anything")
    );
}

#[test]
fn hosts_match_exactly_or_by_wildcard_and_ignore_the_port() {
    let routes = [
        route(json!({"hosts": ["*.example.com"]})),
        route(json!({"hosts": ["api.test"], "paths": ["/v1"]})),
    ];
    let router = Router::new(routes.iter());
    assert_eq!(
        router
            .find("GET", Some("a.example.com:8000"), "/")
            .map(|m| m.route),
        Some(0)
    );
    assert_eq!(
        router
            .find("GET", Some("api.test"), "/v1/x")
            .map(|m| m.route),
        Some(1)
    );
    assert_eq!(router.find("GET", Some("api.test"), "/v2"), None);
    assert_eq!(router.find("GET", None, "/v1"), None);
}

#[test]
fn upstream_path_follows_kong_v0_path_handling() {
    // Kong's documented path_handling table for v0.
    assert_eq!(
        upstream_path(Some("/s"), "/fv0req", Some("/fv0"), false),
        "/s/fv0req"
    );
    assert_eq!(
        upstream_path(Some("/s"), "/tv0req", Some("/tv0"), true),
        "/s/req"
    );
    assert_eq!(upstream_path(Some("/s"), "/tv0", Some("/tv0"), true), "/s");
    assert_eq!(
        upstream_path(Some("/anything"), "/anything", Some("/anything"), true),
        "/anything"
    );
    assert_eq!(
        upstream_path(Some("/anything"), "/anything/x", Some("/anything"), true),
        "/anything/x"
    );
    assert_eq!(upstream_path(None, "/a/b", Some("/a"), true), "/b");
    assert_eq!(upstream_path(None, "/a", Some("/a"), true), "/");
    assert_eq!(upstream_path(Some("/s/"), "/a/b", Some("/a"), true), "/s/b");
}

/// The index must not change Kong's order: precedence holds across prefixes of different
/// lengths and between routes with and without paths.
#[test]
fn precedence_holds_across_prefix_buckets() {
    let routes = [
        route(json!({"paths": ["/a"], "methods": ["GET"], "hosts": ["h.test"]})),
        route(json!({"paths": ["/a/b/c"]})),
        route(json!({"paths": ["/a/b"], "methods": ["GET"]})),
        route(json!({"methods": ["GET"], "hosts": ["h.test"]})),
        route(json!({"hosts": ["h.test"]})),
        route(json!({"paths": ["/a/b", "/x"]})),
        route(json!({"paths": ["/a/b"], "regex_priority": 5})),
    ];
    let router = Router::new(routes.iter());
    let find = |method, host, path| router.find(method, host, path).map(|m| m.route);
    // Three categories beat two, whatever the path length.
    assert_eq!(find("GET", Some("h.test"), "/a/b/c/d"), Some(0));
    // Two categories (method + path) beat a longer path alone and host + method.
    assert_eq!(find("GET", None, "/a/b/c"), Some(2));
    assert_eq!(find("GET", Some("h.test"), "/zzz"), Some(3));
    // One category: the longest path wins, then regex_priority among equal lengths, then age.
    assert_eq!(find("POST", None, "/a/b/c"), Some(1));
    assert_eq!(find("POST", None, "/a/b"), Some(6));
    assert_eq!(find("POST", None, "/x/1"), Some(5));
    assert_eq!(find("POST", Some("h.test"), "/q"), Some(4));
    // A prefix is a string prefix, not a segment: /a matches /ab.
    assert_eq!(find("GET", Some("h.test"), "/ab"), Some(0));
    assert_eq!(find("POST", None, "/q"), None);
    assert_eq!(
        router.find("POST", None, "/a/b/x").and_then(|m| m.prefix),
        Some("/a/b")
    );
}

/// Same answers as a linear scan in precedence order over many overlapping routes.
#[test]
fn the_index_agrees_with_a_linear_scan() {
    let mut routes = Vec::new();
    for i in 0..60u32 {
        let mut v = json!({"paths": [format!("/p{}", i % 7).repeat(1 + (i % 3) as usize)],
                           "created_at": i});
        if i % 4 == 0 {
            v["methods"] = json!(["GET"]);
        }
        if i % 5 == 0 {
            v["hosts"] = json!(["h.test"]);
        }
        if i % 11 == 0 {
            v["paths"] = serde_json::Value::Null;
            v["methods"] = json!(["POST"]);
        }
        routes.push(route(v));
    }
    let router = Router::new(routes.iter());
    for path in ["/p1", "/p1/p1", "/p1p1p1x", "/p3p3", "/p6", "/nothing", "/"] {
        for method in ["GET", "POST"] {
            for host in [None, Some("h.test")] {
                let linear = router.entries.iter().find(|e| {
                    e.accepts(method, host)
                        && e.path.as_ref().is_none_or(|p| path.starts_with(p.as_str()))
                });
                assert_eq!(
                    router.find(method, host, path).map(|m| m.route),
                    linear.map(|e| e.route),
                    "{method} {host:?} {path}"
                );
            }
        }
    }
}
