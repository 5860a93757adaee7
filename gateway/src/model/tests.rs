use serde_json::json;

use super::*;
use crate::schema::Source;

/// The gateway's real plugin list: these tests check the store with the plugins it runs.
fn cat() -> std::sync::Arc<dyn PluginCatalogue> {
    crate::testing::catalogue()
}

/// The descriptor of key-auth's credentials, as the plugin list declares it.
fn keyauth() -> &'static PluginEntity {
    cat()
        .entity("keyauth_credentials")
        .expect("key-auth declares keyauth_credentials")
}

const NOW: u64 = 1_700_000_000;

fn db_with_service() -> (Db, Service) {
    let mut db = Db::default();
    let svc = db
        .insert_service(
            json!({"name": "example-service", "url": "http://127.0.0.1:9080/anything"}),
            Source::Json,
            NOW,
        )
        .unwrap();
    (db, svc)
}

#[test]
fn service_url_expands_into_parts_with_kong_defaults() {
    let (_, svc) = db_with_service();
    assert_eq!(svc.protocol, "http");
    assert_eq!(svc.host.as_deref(), Some("127.0.0.1"));
    assert_eq!(svc.port, Some(9080));
    assert_eq!(svc.path.as_deref(), Some("/anything"));
    assert_eq!(
        (svc.retries, svc.connect_timeout, svc.read_timeout),
        (5, 60_000, 60_000)
    );
    assert!(is_uuid(&svc.id));
    assert_eq!(svc.created_at, NOW);
    let plain = Service::from_value(json!({"url": "http://example.com"}), Source::Json).unwrap();
    assert_eq!((plain.port, plain.path), (Some(80), None));
}

#[test]
fn duplicate_names_are_unique_violations() {
    let (mut db, _) = db_with_service();
    let err = db
        .insert_service(
            json!({"name": "example-service", "host": "x"}),
            Source::Json,
            NOW,
        )
        .unwrap_err();
    let DbError::Unique { message, fields } = err else {
        panic!("expected unique violation, got {err:?}")
    };
    assert_eq!(
        message,
        "UNIQUE violation detected on '{name=\"example-service\"}'"
    );
    assert_eq!(fields, json!({"name": "example-service"}));
}

#[test]
fn consumer_needs_username_or_custom_id() {
    let mut db = Db::default();
    let err = db
        .insert_consumer(json!({}), Source::Json, NOW)
        .unwrap_err();
    let DbError::Schema(v) = err else {
        panic!("expected schema violation")
    };
    assert_eq!(
        v.fields(),
        json!({"@entity": ["at least one of these fields must be non-empty: 'custom_id', 'username'"]})
    );
    let c = db
        .insert_consumer(
            json!({"username": "anonymous_users", "id": "81823632-10c0-4098-a4f7-31062520c1e6"}),
            Source::Json,
            NOW,
        )
        .unwrap();
    assert_eq!(c.id, "81823632-10c0-4098-a4f7-31062520c1e6");
    let bad = db
        .insert_consumer(json!({"username": "x", "id": "nope"}), Source::Json, NOW)
        .unwrap_err();
    assert_eq!(
        bad,
        DbError::Schema(crate::schema::SchemaViolation::field("id", INVALID_UUID))
    );
}

#[test]
fn routes_resolve_services_by_name_and_reject_unknown_ones() {
    let (mut db, svc) = db_with_service();
    let route = db
        .insert_route(
            json!({"paths": ["/a"], "service": {"name": "example-service"}}),
            Source::Json,
            NOW,
            None,
        )
        .unwrap();
    assert_eq!(route.service, Some(ForeignKey::id(svc.id.clone())));
    assert!(route.strip_path);
    let err = db
        .insert_route(
            json!({"paths": ["/b"], "service": {"name": "nope"}}),
            Source::Json,
            NOW,
            None,
        )
        .unwrap_err();
    assert!(matches!(err, DbError::ForeignKey { .. }), "{err:?}");
    let err = db
        .insert_route(json!({"service": {"id": svc.id}}), Source::Json, NOW, None)
        .unwrap_err();
    assert!(
        matches!(err, DbError::Schema(_)),
        "a route without methods/hosts/paths is refused: {err:?}"
    );
}

#[test]
fn plugins_check_name_scope_and_config() {
    let (mut db, _) = db_with_service();
    let err = db
        .insert_plugin(json!({"name": "foo"}), Source::Json, NOW, None, &*cat())
        .unwrap_err();
    let DbError::Schema(v) = err else { panic!() };
    assert_eq!(
        v.fields(),
        json!({"name": "plugin 'foo' not enabled; add it to the 'plugins' configuration property"})
    );

    let c = db
        .insert_consumer(json!({"username": "alex"}), Source::Json, NOW)
        .unwrap();
    let err = db
        .insert_plugin(
            json!({"name": "session", "consumer": {"id": c.id}}),
            Source::Json,
            NOW,
            None,
            &*cat(),
        )
        .unwrap_err();
    let DbError::Schema(v) = err else { panic!() };
    assert_eq!(
        v.message(),
        "schema violation (consumer: value must be null)"
    );

    let err = db
        .insert_plugin(
            json!({"name": "request-termination", "config": {"status_code": 700}}),
            Source::Json,
            NOW,
            None,
            &*cat(),
        )
        .unwrap_err();
    let DbError::Schema(v) = err else { panic!() };
    assert_eq!(
        v.message(),
        "schema violation (config.status_code: value should be between 100 and 599)"
    );

    let p = db
        .insert_plugin(
            json!({"name": "key-auth", "service": "example-service"}),
            Source::Json,
            NOW,
            None,
            &*cat(),
        )
        .unwrap();
    assert_eq!(p.config["key_names"], json!(["apikey"]));
    assert_eq!(p.config["hide_credentials"], json!(false));
    let again = db.insert_plugin(
        json!({"name": "key-auth", "service": "example-service"}),
        Source::Json,
        NOW,
        None,
        &*cat(),
    );
    assert!(matches!(again, Err(DbError::Unique { .. })));
}

#[test]
fn patch_with_form_fields_builds_arrays_and_keeps_other_config() {
    let (mut db, _) = db_with_service();
    let p = db
        .insert_plugin(json!({"name": "key-auth", "config": {"key_names": ["apikey"], "hide_credentials": true}}), Source::Json, NOW, None, &*cat())
        .unwrap();
    let patch = crate::admin::form::decode(
        b"config.key_names=one&config.key_names=two&config.run_on_preflight=false",
    )
    .unwrap();
    let updated = db
        .update_plugin(&p.id, patch, Source::Form, NOW + 5, &*cat())
        .unwrap();
    assert_eq!(updated.config["key_names"], json!(["one", "two"]));
    assert_eq!(updated.config["run_on_preflight"], json!(false));
    assert_eq!(updated.config["hide_credentials"], json!(true));
    assert_eq!((updated.created_at, updated.updated_at), (NOW, NOW + 5));
}

#[test]
fn deleting_a_consumer_takes_its_credentials_and_plugins() {
    let mut db = Db::default();
    let c = db
        .insert_consumer(json!({"username": "alex"}), Source::Json, NOW)
        .unwrap();
    let k = db
        .insert_credential(
            keyauth(),
            json!({"key": "hello_world"}),
            Source::Json,
            NOW,
            Some("alex"),
        )
        .unwrap();
    assert_eq!(k.consumer_id, c.id);
    db.insert_plugin(
        json!({"name": "request-termination", "consumer": {"username": "alex"}}),
        Source::Json,
        NOW,
        None,
        &*cat(),
    )
    .unwrap();
    let dup = db
        .insert_credential(
            keyauth(),
            json!({"key": "hello_world"}),
            Source::Json,
            NOW,
            Some("alex"),
        )
        .unwrap_err();
    assert!(matches!(dup, DbError::Unique { .. }));
    db.delete_consumer("alex").unwrap();
    assert!(
        db.credentials(keyauth()).next().is_none()
            && db.plugins.is_empty()
            && db.consumers.is_empty()
    );
}

#[test]
fn key_auth_generates_a_key_when_none_is_given() {
    let mut db = Db::default();
    db.insert_consumer(json!({"username": "alex"}), Source::Json, NOW)
        .unwrap();
    let k = db
        .insert_credential(keyauth(), json!({}), Source::Json, NOW, Some("alex"))
        .unwrap();
    assert_eq!(k.field("key").map(str::len), Some(32));
    assert!(
        db.credential(keyauth(), k.field("key").unwrap(), Some("alex"))
            .is_some()
    );
    assert_eq!(
        db.delete_credential(keyauth(), &k.id, Some("bob")),
        Err(DbError::NotFound)
    );
}

#[test]
fn upsert_by_name_creates_then_replaces() {
    let mut db = Db::default();
    let a = db
        .upsert_service("svc", json!({"host": "a.test"}), Source::Json, NOW)
        .unwrap();
    assert_eq!(a.name.as_deref(), Some("svc"));
    let b = db
        .upsert_service("svc", json!({"host": "b.test"}), Source::Json, NOW + 1)
        .unwrap();
    assert_eq!(
        (b.id, b.host.as_deref(), b.created_at),
        (a.id, Some("b.test"), NOW)
    );
}
