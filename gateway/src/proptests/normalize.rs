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
        if !path.starts_with('/') {
            // Not a request path (a request line's path always starts with a slash): no panic is enough.
            return Ok(());
        }
        if every_percent_starts_a_triplet(&path) {
            // A stray `%` could pair with decoded hex digits into a new escape that a second pass decodes;
            // the proxy refuses such paths first (`a_stray_percent_is_refused_before_it_can_form_a_new_escape`).
            prop_assert_eq!(&twice, &once, "not idempotent");
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

/// True when every `%` is followed by two hex digits.
fn every_percent_starts_a_triplet(path: &str) -> bool {
    let bytes = path.as_bytes();
    bytes.iter().enumerate().all(|(i, &b)| {
        b != b'%'
            || (bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    })
}

#[test]
fn a_stray_percent_is_refused_before_it_can_form_a_new_escape() {
    // `%%32e` is a literal `%` then `%32` (= `2`) then `e`: one pass of Kong's `normalize` would leave `%2e`,
    // which an upstream decodes as a dot. nginx refuses a `%` not followed by two hex digits with 400
    // (`ngx_http_parse_complex_uri`); the proxy does the same before normalising (`escapes_are_valid`).
    for path in ["/pub/%%32e%%32e/priv", "/%%30a", "/a%", "/a%4", "/a%zz"] {
        assert!(!crate::router::escapes_are_valid(path), "{path}");
    }
    for path in ["/pub/%2e%2e/priv", "/a%20b", "/plain"] {
        assert!(crate::router::escapes_are_valid(path), "{path}");
    }
}
