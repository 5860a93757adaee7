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
        router
            .find("GET", None, "/anything")
            .and_then(|m| m.prefix)
            .as_deref(),
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
    // One category: the longest path wins, then age; `regex_priority` counts for regex paths
    // only (`transform.lua` `get_priority`).
    assert_eq!(find("POST", None, "/a/b/c"), Some(1));
    assert_eq!(find("POST", None, "/a/b"), Some(5));
    assert_eq!(find("POST", None, "/x/1"), Some(5));
    assert_eq!(find("POST", Some("h.test"), "/q"), Some(4));
    // A prefix is a string prefix, not a segment: /a matches /ab.
    assert_eq!(find("GET", Some("h.test"), "/ab"), Some(0));
    assert_eq!(find("POST", None, "/q"), None);
    assert_eq!(
        router
            .find("POST", None, "/a/b/x")
            .and_then(|m| m.prefix)
            .as_deref(),
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

#[test]
fn regex_paths_follow_kongs_priority_and_report_captures() {
    let routes = [
        route(json!({"name": "prefix", "paths": ["/users/42"], "created_at": 1})),
        route(
            json!({"name": "low", "paths": ["~/users/(?<id>[^/]+)$"], "regex_priority": 1, "created_at": 2}),
        ),
        route(
            json!({"name": "high", "paths": ["~/users/(\\d+)/(?<rest>.*)"], "regex_priority": 9, "created_at": 3}),
        ),
        route(json!({"name": "hosted", "paths": ["/users"], "hosts": ["h.test"], "created_at": 4})),
    ];
    let router = Router::new(routes.iter());
    let find = |host, path| router.find("GET", host, path);
    // A regex path beats a prefix path with as many conditions, whatever its length.
    let m = find(None, "/users/42").unwrap();
    assert_eq!(m.route, 1);
    assert_eq!(m.prefix.as_deref(), Some("/users/42"));
    let captures = m.captures.unwrap();
    assert_eq!(captures.unnamed, [Some("42".to_owned())]);
    assert_eq!(captures.named, [("id".to_owned(), "42".to_owned())]);
    // Among regex paths, the higher regex_priority is tried first.
    let m = find(None, "/users/7/a/b").unwrap();
    assert_eq!(m.route, 2);
    assert_eq!(
        m.captures.unwrap().to_json(),
        json!({"named": {"rest": "a/b"}, "unnamed": ["7", "a/b"]})
    );
    // Anchored at the start only.
    assert_eq!(find(None, "/x/users/1").map(|m| m.route), None);
    // More conditions still win over a regex path.
    assert_eq!(find(Some("h.test"), "/users/42").map(|m| m.route), Some(3));
    // A regex without groups reports no captures.
    let plain = [route(json!({"paths": ["~/a.c"]}))];
    let router = Router::new(plain.iter());
    let m = router.find("GET", None, "/abc/d").unwrap();
    assert_eq!((m.prefix.as_deref(), m.captures), (Some("/abc"), None));
}
