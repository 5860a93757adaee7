use super::*;
use crate::plugins::key_auth::daos::KEYAUTH_CREDENTIALS;
use crate::testing::catalogue;

const DOC: &str = r#"
_format_version: "3.0"
services:
  - name: example-service
    url: http://127.0.0.1:9080/anything
    routes:
      - name: example-route
        paths: [/anything]
    plugins:
      - name: key-auth
        config:
          key_names: [apikey]
          anonymous: 81823632-10c0-4098-a4f7-31062520c1e6
      - name: session
        config:
          storage: kong
          cookie_secure: false
consumers:
  - username: alex
    keyauth_credentials:
      - key: hello_world
  - username: anonymous_users
    id: 81823632-10c0-4098-a4f7-31062520c1e6
plugins:
  - name: request-termination
    service: example-service
    consumer: anonymous_users
    config:
      status_code: 403
      message: Forbidden
"#;

#[test]
fn nested_and_top_level_forms_load_with_references_by_name() {
    let db = parse_bytes(DOC.as_bytes(), "kong.yml", 1, &*catalogue()).unwrap();
    assert_eq!(
        (
            db.services.len(),
            db.routes.len(),
            db.consumers.len(),
            db.plugins.len()
        ),
        (1, 1, 2, 3)
    );
    let svc = db.service("example-service").unwrap();
    let rt = db
        .plugins
        .values()
        .find(|p| p.name == "request-termination")
        .unwrap();
    assert_eq!(
        rt.service.as_ref().map(|fk| fk.id.as_str()),
        Some(svc.id.as_str())
    );
    assert_eq!(
        rt.consumer.as_ref().map(|fk| fk.id.as_str()),
        Some("81823632-10c0-4098-a4f7-31062520c1e6")
    );
    let session = db.plugins.values().find(|p| p.name == "session").unwrap();
    assert_eq!(session.config["cookie_secure"], serde_json::json!(false));
    assert_eq!(session.config["storage"], serde_json::json!("kong"));
    assert_eq!(
        db.credential(&KEYAUTH_CREDENTIALS, "hello_world", Some("alex"))
            .map(|k| !k.consumer_id.is_empty()),
        Some(true)
    );
}

#[test]
fn errors_name_the_file_the_entry_and_the_field() {
    let bad = DOC.replace("cookie_secure: false", "cookie_secure: nope");
    let err = parse_bytes(bad.as_bytes(), "kong.yml", 1, &*catalogue())
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("error parsing declarative config file kong.yml:"),
        "{err}"
    );
    assert!(
        err.contains("in 'config.cookie_secure': expected a boolean"),
        "{err}"
    );

    let err = parse_bytes(b"services: []", "k.yml", 1, &*catalogue())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("in '_format_version': required field missing"),
        "{err}"
    );
    let err = parse_bytes(b"_format_version: \"9.9\"", "k.yml", 1, &*catalogue())
        .unwrap_err()
        .to_string();
    assert!(err.contains("expected one of: 1.1, 2.1, 3.0"), "{err}");
    let err = parse_bytes(
        b"_format_version: \"3.0\"\nupstreams: []",
        "k.yml",
        1,
        &*catalogue(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("in 'upstreams': unknown field"), "{err}");
    let missing_consumer = DOC.replace("consumer: anonymous_users", "consumer: nobody");
    let err = parse_bytes(missing_consumer.as_bytes(), "k.yml", 1, &*catalogue())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("does not reference an existing 'consumers' entity"),
        "{err}"
    );
}

#[test]
fn export_round_trips() {
    let db = parse_bytes(DOC.as_bytes(), "kong.yml", 1, &*catalogue()).unwrap();
    let again = load(export(&db, &*catalogue()), 1, &*catalogue()).unwrap();
    assert_eq!(again.plugins.len(), 3);
    assert_eq!(again.consumers, db.consumers);
}

#[test]
fn every_shipped_declarative_fixture_loads() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut loaded = 0;
    for dir in ["fixtures/config", "fixtures/kong/deck"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                load_file(&path, 1, &*catalogue())
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                loaded += 1;
            }
        }
    }
    assert!(loaded >= 2, "expected the shipped fixtures, found {loaded}");
}

#[test]
fn deeply_nested_documents_are_refused_without_overflowing_the_stack() {
    // YAML flow sequences and JSON arrays 100,000 levels deep: the parsers' depth budgets refuse them
    // (serde-saphyr's `max_depth` 64, serde_json's recursion limit 128) with an error, never a crash.
    let depth = 100_000;
    let yaml = format!(
        "_format_version: \"3.0\"\ntags: {}{}\n",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let err = parse_bytes(yaml.as_bytes(), "deep.yml", 0, &*catalogue()).unwrap_err();
    assert!(err.to_string().contains("deep.yml"), "{err}");
    let json = format!(
        "{{\"_format_version\": \"3.0\", \"tags\": {}{}}}",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let err = parse_bytes(json.as_bytes(), "deep.json", 0, &*catalogue()).unwrap_err();
    assert!(err.to_string().contains("deep.json"), "{err}");
}

/// Ids a second load of the same file gives, by table.
fn ids(db: &Db) -> Vec<String> {
    let mut all: Vec<String> = db.services.keys().cloned().collect();
    all.extend(db.routes.keys().cloned());
    all.extend(db.consumers.keys().cloned());
    all.extend(db.plugins.keys().cloned());
    all.extend(db.credentials(&KEYAUTH_CREDENTIALS).map(|c| c.id.clone()));
    all
}

#[test]
fn loading_the_same_file_twice_gives_the_same_ids() {
    let first = parse_bytes(DOC.as_bytes(), "kong.yml", 1, &*catalogue()).unwrap();
    let second = parse_bytes(DOC.as_bytes(), "kong.yml", 2, &*catalogue()).unwrap();
    assert_eq!(ids(&first), ids(&second));
    assert_eq!(ids(&first).len(), 8);
}

#[test]
fn ids_are_kongs_uuid_v5_of_the_endpoint_or_cache_key() {
    // Expected values from Python's `uuid.uuid5(uuid.uuid5(NS, table), key)` with Kong's `_entities`
    // namespace fd02801f-0957-4a15-a55a-c8d9606f30b5 (declarative_config.lua `generate_uuid`).
    let db = parse_bytes(DOC.as_bytes(), "kong.yml", 1, &*catalogue()).unwrap();
    let service = "7a267194-6123-5ee0-a1c9-4c1559eb0d95";
    assert!(db.services.contains_key(service));
    assert_eq!(
        db.consumer("alex").map(|c| c.id.as_str()),
        Some("7fb03465-9587-5b74-af07-260b30881b27")
    );
    let key = db
        .credentials(&KEYAUTH_CREDENTIALS)
        .find(|c| c.field("key") == Some("hello_world"));
    assert_eq!(
        key.map(|c| c.id.as_str()),
        Some("e6bfff19-4eb9-5780-a8a3-3ef817d8e225")
    );
    // A plugin nested under a service: `plugins:<name>:<route>:<service id>:<consumer>`.
    let session = db.plugins.values().find(|p| p.name == "session");
    assert_eq!(
        session.map(|p| p.id.as_str()),
        Some("16d64334-bc0e-5ca3-b3b6-496833a4ad63")
    );
    assert_eq!(
        session
            .and_then(|p| p.service.as_ref())
            .map(|fk| fk.id.as_str()),
        Some(service)
    );
    // An explicit id is kept.
    assert!(
        db.consumers
            .contains_key("81823632-10c0-4098-a4f7-31062520c1e6")
    );
}

#[test]
fn entries_with_nothing_to_derive_from_keep_a_random_id() {
    let doc = "_format_version: \"3.0\"\nservices:\n  - url: http://127.0.0.1:9/\n";
    let first = parse_bytes(doc.as_bytes(), "kong.yml", 1, &*catalogue()).unwrap();
    let second = parse_bytes(doc.as_bytes(), "kong.yml", 1, &*catalogue()).unwrap();
    assert_ne!(ids(&first), ids(&second));
}

#[tokio::test]
async fn a_session_cookie_made_before_a_reload_still_authenticates_its_consumer() {
    use crate::testing::{
        cookie_pair, documented_flow, echo_upstream, json_body, request, send, set_cookies, shared,
    };
    let up = echo_upstream().await;
    let doc = documented_flow(up, "          cookie_secure: false");
    let before = shared(&doc);
    let login = send(
        &before,
        request("GET", "/anything", &[("apikey", "hello_world")]),
    )
    .await;
    assert_eq!(login.status(), 200);
    let cookie = cookie_pair(&set_cookies(&login)[0]);

    // A restart: the same file loaded into a fresh gateway.
    let after = shared(&doc);
    let again = send(&after, request("GET", "/anything", &[("cookie", &cookie)])).await;
    assert_eq!(again.status(), 200);
    assert_eq!(json_body(&again)["headers"]["x-consumer-username"], "alex");
}

#[test]
fn duplicate_entries_are_still_reported_by_their_key() {
    let doc =
        "_format_version: \"3.0\"\nservices:\n  - name: s\n    host: h\n  - name: s\n    host: h\n";
    let err = parse_bytes(doc.as_bytes(), "kong.yml", 1, &*catalogue()).unwrap_err();
    assert!(
        err.to_string()
            .contains("UNIQUE violation detected on '{name=\"s\"}'"),
        "{err}"
    );
    let doc = "_format_version: \"3.0\"\nconsumers:\n  - username: u\n    keyauth_credentials:\n      - key: k\n      - key: k\n";
    let err = parse_bytes(doc.as_bytes(), "kong.yml", 1, &*catalogue()).unwrap_err();
    assert!(
        err.to_string()
            .contains("UNIQUE violation detected on '{key=\"k\"}'"),
        "{err}"
    );
}
