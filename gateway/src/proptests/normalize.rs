//! `router::normalize_path` (Kong's `kong/tools/uri.lua` `normalize` + `escape`) on arbitrary strings and on
//! paths built from dot segments, slashes and percent-escapes: never a panic, idempotent, no dot segment or
//! empty segment left, and always a valid request path. Runs in the normal suite and under `ci/fuzz.sh`
//! (target `normalize`).

use proptest::prelude::*;

use super::check;
use crate::router::normalize_path;

/// Paths as a request line carries them: a leading slash and segments that exercise the normaliser.
fn request_path() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        Just(""),
        Just("."),
        Just(".."),
        Just("%2e"),
        Just("%2E%2e"),
        Just(".%2e"),
        Just("%2F"),
        Just("%2f.."),
        Just("%25"),
        Just("%252e"),
        Just("%"),
        Just("%4"),
        Just("%zz"),
        Just("%41"),
        Just("%7E"),
        Just("%C3%A9"),
        Just("%FF"),
        Just("a"),
        Just("b c"),
        Just("é"),
        Just("~"),
        Just(";"),
        Just("..."),
    ];
    prop::collection::vec(segment, 0..12).prop_map(|s| format!("/{}", s.join("/")))
}

#[test]
fn normalize_path_is_idempotent_and_leaves_no_dot_or_empty_segment() {
    let inputs = prop_oneof![
        request_path(),
        any::<String>().prop_map(|s| format!("/{s}")),
        any::<String>(),
        "/[a-zA-Z0-9%./~_-]{0,40}",
    ];
    check("normalize", inputs, |path| {
        let once = normalize_path(&path).into_owned();
        let twice = normalize_path(&once).into_owned();
        prop_assert_eq!(&twice, &once, "not idempotent");
        if !path.starts_with('/') {
            // Not a request path (a request line's path always starts with a slash): no panic is enough.
            return Ok(());
        }
        prop_assert!(!once.contains("/../"), "dot-dot segment in {}", once);
        prop_assert!(!once.contains("/./"), "dot segment in {}", once);
        prop_assert!(
            !once.ends_with("/..") && !once.ends_with("/."),
            "trailing dot segment in {}",
            once
        );
        prop_assert!(!once.contains("//"), "empty segment in {}", once);
        prop_assert!(
            once.parse::<http::uri::PathAndQuery>().is_ok(),
            "not a request path: {}",
            once
        );
        Ok(())
    });
}
