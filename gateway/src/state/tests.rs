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
