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
