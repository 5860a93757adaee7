use super::normalize;

#[track_caller]
fn check(input: &str, expected: &str) {
    assert_eq!(normalize(input), expected, "normalize({input:?})");
}

#[test]
fn plain_paths_are_borrowed_unchanged() {
    for path in ["/", "/anything", "/a/b-c_d~e/f.json", "/x?"] {
        assert!(
            matches!(normalize(path), std::borrow::Cow::Borrowed(_)),
            "{path}"
        );
    }
}

#[test]
fn dot_segments_are_removed() {
    check("/pub/../priv/secret", "/priv/secret");
    check("/pub/./a", "/pub/a");
    check("/a/b/..", "/a/");
    check("/a/b/.", "/a/b/");
    check("/../../etc/passwd", "/etc/passwd");
    check("/..", "/");
    check("/a/..b/c", "/a/..b/c");
}

#[test]
fn encoded_dots_count_as_dots() {
    check("/pub/%2e%2e/priv/secret", "/priv/secret");
    check("/pub/%2E%2E/priv/secret", "/priv/secret");
    check("/pub/.%2e/priv", "/priv");
    check("/pub/%2e/x", "/pub/x");
}

#[test]
fn double_encoding_is_decoded_once_and_stays_literal() {
    // `%25` is reserved: `%252e` is the literal text `%2e`, not a dot.
    check("/pub/%252e%252e/priv", "/pub/%252e%252e/priv");
    check("/pub/%252E%252E/priv", "/pub/%252E%252E/priv");
}

#[test]
fn reserved_characters_stay_encoded_and_are_upper_cased() {
    check("/a%2fb", "/a%2Fb");
    check("/a%3fb%23c", "/a%3Fb%23c");
    check("/%2f..%2f", "/%2F..%2F");
}

#[test]
fn unreserved_are_decoded_and_others_reescaped() {
    check("/%41%62c", "/Abc");
    check("/a%20b", "/a%20b");
    check("/caf%c3%a9", "/caf%C3%A9");
    check("/a%7e", "/a~");
}

#[test]
fn slashes_are_merged() {
    check("//pub///x", "/pub/x");
    check("/pub//..//priv", "/priv");
}

#[test]
fn malformed_escapes_are_kept_and_escaped() {
    check("/a%zz", "/a%zz");
    check("/a%4", "/a%4");
}
