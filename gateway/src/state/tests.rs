use std::sync::Arc;

use serde_json::json;

use crate::plugins::Instance;
use crate::schema::Source;
use crate::testing::shared;

const DOC: &str = r#"
_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:9/anything
    routes: [{ name: r, paths: [/anything] }]
plugins:
  - name: key-auth
    instance_name: keys
  - name: request-termination
    instance_name: stop
"#;

fn instance(gw: &crate::state::Shared, name: &str) -> Arc<Instance> {
    gw.read(|db| {
        db.plugin(name)
            .and_then(|p| p.compiled.as_ref()?.get::<Instance>())
    })
    .expect("every written plugin carries its instance")
}

#[test]
fn a_write_rebuilds_only_the_plugin_it_changes() {
    let gw = shared(DOC);
    let (keys, stop) = (instance(&gw, "keys"), instance(&gw, "stop"));
    let catalogue = Arc::clone(&gw.catalogue);
    gw.write(|db| {
        db.update_plugin(
            "stop",
            json!({"config": {"status_code": 418}}),
            Source::Json,
            1,
            catalogue.as_ref(),
        )
    })
    .unwrap();
    assert!(
        Arc::ptr_eq(&keys, &instance(&gw, "keys")),
        "unchanged plugin reused"
    );
    assert!(
        !Arc::ptr_eq(&stop, &instance(&gw, "stop")),
        "changed plugin rebuilt"
    );
    let stored = gw.read(|db| db.plugin("stop").map(|p| p.config["status_code"].clone()));
    assert_eq!(stored, Some(json!(418)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_writes_apply_one_at_a_time_and_all_land() {
    let gw = shared(DOC);
    let writers = (0..4).map(|w| {
        let gw = Arc::clone(&gw);
        tokio::spawn(async move {
            for n in 0..10 {
                gw.write_async(|db| {
                    db.insert_consumer(json!({"username": format!("u{w}-{n}")}), Source::Json, 1)
                })
                .await
                .unwrap();
            }
        })
    });
    for w in writers.collect::<Vec<_>>() {
        w.await.unwrap();
    }
    assert_eq!(gw.read(|db| db.consumers.len()), 40);
    let snapshot = gw.snapshot.load();
    assert!((0..4).all(|w| snapshot.consumer_by_username(&format!("u{w}-9")).is_some()));
}

#[tokio::test]
async fn a_failed_async_write_changes_nothing() {
    let gw = shared(DOC);
    let before = Arc::clone(&gw.snapshot.load());
    let err = gw
        .write_async(|db| {
            db.insert_consumer(json!({"username": "x"}), Source::Json, 1)?;
            db.insert_consumer(json!({"username": "x"}), Source::Json, 1)
        })
        .await;
    assert!(err.is_err());
    assert!(gw.read(|db| db.consumer("x").is_none()));
    assert!(Arc::ptr_eq(&before, &gw.snapshot.load()));
}
