use super::*;
use serde::Deserialize;

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Conf {
    #[serde(default)]
    flag: bool,
    #[serde(default)]
    count: Option<u16>,
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    word: Option<String>,
    #[serde(default)]
    same_site: Option<SameSite>,
}

#[derive(Debug, Deserialize, PartialEq)]
enum SameSite {
    Strict,
    Lax,
}

#[test]
fn unknown_field_is_named_in_kong_words() {
    let err = parse::<Conf>(serde_json::json!({"foo": 1}), Source::Json).unwrap_err();
    assert_eq!(err.message(), "schema violation (foo: unknown field)");
    assert_eq!(err.fields(), serde_json::json!({"foo": "unknown field"}));
}

#[test]
fn wrong_types_get_kong_messages() {
    let err = parse::<Conf>(serde_json::json!({"flag": "yes"}), Source::Json).unwrap_err();
    assert_eq!(
        err.errors,
        vec![("flag".to_owned(), "expected a boolean".to_owned())]
    );
    let err = parse::<Conf>(serde_json::json!({"count": "x"}), Source::Json).unwrap_err();
    assert_eq!(err.errors[0].1, "expected an integer");
    let err = parse::<Conf>(serde_json::json!({"same_site": "Bogus"}), Source::Json).unwrap_err();
    assert_eq!(
        err.errors[0],
        (
            "same_site".to_owned(),
            "expected one of: Strict, Lax".to_owned()
        )
    );
}

#[test]
fn json_is_not_inferred_but_forms_are() {
    let json = serde_json::json!({"flag": "true"});
    assert!(parse::<Conf>(json.clone(), Source::Json).is_err());
    let conf: Conf = parse(json, Source::Form).unwrap();
    assert!(conf.flag);
    let conf: Conf = parse(
        serde_json::json!({"count": "42", "names": "apikey", "word": ""}),
        Source::Form,
    )
    .unwrap();
    assert_eq!(conf.count, Some(42));
    assert_eq!(conf.names, vec!["apikey".to_owned()]);
    assert_eq!(conf.word, None);
}

#[test]
fn prefixed_and_multiple_violations_render_like_kong() {
    let mut v = SchemaViolation::field("status_code", "value should be between 100 and 599");
    v.push("message", "expected a string");
    let v = v.prefixed("config");
    // `errors.lua` lists a field's errors by sorted key.
    assert_eq!(
        v.message(),
        "2 schema violations (config.message: expected a string; config.status_code: value should be between 100 and 599)"
    );
    assert_eq!(
        v.fields(),
        serde_json::json!({"config": {"status_code": "value should be between 100 and 599", "message": "expected a string"}})
    );
    let e = SchemaViolation::entity(
        "at least one of these fields must be non-empty: 'custom_id', 'username'",
    );
    assert_eq!(
        e.message(),
        "schema violation (at least one of these fields must be non-empty: 'custom_id', 'username')"
    );
    assert_eq!(
        e.fields(),
        serde_json::json!({"@entity": ["at least one of these fields must be non-empty: 'custom_id', 'username'"]})
    );
}

#[test]
fn header_names_follow_kong_typedef() {
    assert!(check_header_name("apikey").is_ok());
    assert_eq!(
        check_header_name("hello\\world").unwrap_err(),
        "bad header name 'hello\\world', allowed characters are A-Z, a-z, 0-9, '_', and '-'"
    );
}

#[test]
fn array_element_errors_are_an_array_with_nulls() {
    let err = parse::<Conf>(serde_json::json!({"names": ["a", 2]}), Source::Json).unwrap_err();
    assert_eq!(
        err.fields(),
        serde_json::json!({"names": [null, "expected a string"]})
    );
    let first = parse::<Conf>(serde_json::json!({"names": [1]}), Source::Json).unwrap_err();
    assert_eq!(
        first.prefixed("config").message(),
        "schema violation (config.names: {\n  \"expected a string\"\n})"
    );
}

#[test]
fn an_explicit_null_for_a_required_field_is_missing() {
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct WithDefault {
        #[serde(default = "default_status")]
        status_code: i64,
    }
    fn default_status() -> i64 {
        503
    }
    let err = parse::<WithDefault>(serde_json::json!({"status_code": null}), Source::Json)
        .unwrap_err()
        .prefixed("config");
    assert_eq!(
        err.fields(),
        serde_json::json!({"config": {"status_code": "required field missing"}})
    );
}

#[test]
fn a_record_error_is_the_fields_string() {
    let err = SchemaViolation::record("message cannot be used with content_type or body")
        .prefixed("config");
    assert_eq!(
        err.fields(),
        serde_json::json!({"config": "message cannot be used with content_type or body"})
    );
    assert_eq!(
        err.message(),
        "schema violation (config: message cannot be used with content_type or body)"
    );
}
