use serde_json::json;

use super::*;
use crate::schema::Source;
use crate::testing::{catalogue, shared};

const DOC: &str = r#"
_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:9/anything
    routes: [{ name: r, paths: [/anything] }]
consumers:
  - username: alice
    custom_id: a1
    keyauth_credentials: [{ key: alice-key }]
  - username: bob
    keyauth_credentials: [{ key: bob-key }]
plugins:
  - name: key-auth
"#;

/// What the proxy can see of a snapshot, for comparing two of them.
fn view(s: &Snapshot) -> String {
    let schema = catalogue()
        .entity("keyauth_credentials")
        .expect("key-auth owns keyauth_credentials");
    let mut consumers: Vec<String> = s
        .consumers
        .by_id
        .values()
        .map(|c| format!("{c:?}"))
        .collect();
    consumers.sort();
    let mut names: Vec<String> = s
        .consumers
        .by_username
        .iter()
        .chain(s.consumers.by_custom_id.iter())
        .map(|(k, c)| format!("{k}={}", c.id))
        .collect();
    names.sort();
    let mut keys: Vec<String> = s.credentials[schema.table]
        .iter()
        .map(|(k, c)| format!("{k}={}/{}", c.id, c.consumer_id))
        .collect();
    keys.sort();
    let routes: Vec<String> = s
        .routes
        .iter()
        .map(|r| {
            let chain: Vec<&str> = r.chain.iter().map(|l| l.name).collect();
            format!("{}:{:?}:{chain:?}", r.id, r.route.paths)
        })
        .collect();
    format!("{consumers:?}\n{names:?}\n{keys:?}\n{routes:?}")
}

#[test]
fn an_update_equals_a_compile_from_scratch() {
    let gw = shared(DOC);
    let cat = Arc::clone(&gw.catalogue);
    let schema = cat.entity("keyauth_credentials").expect("key-auth");
    // Swap two usernames in one write, delete a consumer, add one with a key, change a key.
    gw.write(|db| {
        db.update_consumer("alice", json!({"username": "tmp"}), Source::Json, 1)?;
        db.update_consumer("bob", json!({"username": "alice"}), Source::Json, 1)?;
        db.update_consumer(
            "tmp",
            json!({"username": "bob", "custom_id": "b1"}),
            Source::Json,
            1,
        )?;
        db.insert_consumer(json!({"username": "carol"}), Source::Json, 1)?;
        db.insert_credential(
            schema,
            json!({"key": "carol-key"}),
            Source::Json,
            1,
            Some("carol"),
        )?;
        db.update_credential(
            schema,
            "bob-key",
            None,
            json!({"key": "bob-new"}),
            Source::Json,
            1,
        )?;
        Ok(())
    })
    .unwrap();
    let full =
        |gw: &crate::state::Shared| gw.read(|db| Snapshot::compile(db, &gw.catalogue)).unwrap();
    assert_eq!(view(&gw.snapshot.load()), view(&full(&gw)));
    let snap = gw.snapshot.load();
    assert_eq!(
        snap.consumer_by_username("bob")
            .and_then(|c| c.custom_id.clone()),
        Some("b1".into())
    );
    assert!(snap.credential(schema, "bob-key", 0).is_none());
    assert!(snap.credential(schema, "bob-new", 0).is_some());

    let routes_before = Arc::clone(&gw.snapshot.load().routes);
    gw.write(|db| db.delete_consumer("carol")).unwrap();
    assert!(
        Arc::ptr_eq(&routes_before, &gw.snapshot.load().routes),
        "a consumer write reuses the compiled routes"
    );
    assert_eq!(view(&gw.snapshot.load()), view(&full(&gw)));
    assert!(
        gw.snapshot
            .load()
            .credential(schema, "carol-key", 0)
            .is_none()
    );

    gw.write(|db| {
        db.insert_route(
            json!({"name": "r2", "paths": ["/two"]}),
            Source::Json,
            1,
            Some("s"),
        )
    })
    .unwrap();
    let r = |gw: &crate::state::Shared, name: &str| {
        let snap = gw.snapshot.load();
        let id = gw.read(|db| db.route(name).map(|r| r.id.clone())).unwrap();
        snap.routes
            .iter()
            .find(|c| *c.id == *id)
            .map(Arc::clone)
            .unwrap()
    };
    let kept = r(&gw, "r");
    gw.write(|db| db.update_route("r2", json!({"paths": ["/2"]}), Source::Json, 1))
        .unwrap();
    assert!(
        Arc::ptr_eq(&kept, &r(&gw, "r")),
        "an unchanged route is reused"
    );
    assert_eq!(view(&gw.snapshot.load()), view(&full(&gw)));
    gw.write(|db| db.update_route("r", json!({"paths": ["/other"]}), Source::Json, 1))
        .unwrap();
    assert!(!Arc::ptr_eq(&kept, &r(&gw, "r")));
    assert!(!Arc::ptr_eq(&routes_before, &gw.snapshot.load().routes));
    assert_eq!(view(&gw.snapshot.load()), view(&full(&gw)));
}
