//! Deterministic ids for declarative entries that give none, as Kong's `generate_ids` does
//! (`kong/db/schema/others/declarative_config.lua`): a UUID v5 in a per-table namespace, itself a
//! UUID v5 of the table name in Kong's `_entities` namespace, of the entry's endpoint key (a
//! service's or route's `name`, a consumer's `username`, a plugin's `instance_name`, a
//! credential's `key`) or, for a plugin without one, of its cache key
//! `plugins:<name>:<route>:<service>:<consumer>`. Runs on the raw document before loading, so
//! the same file always gives the same ids (a session sealed before a restart still finds its
//! consumer) and the ids equal Kong's for the same file. Entries with nothing to derive from keep
//! a random id, as in Kong.

use serde_json::{Map, Value};
use uuid::Uuid;

/// Kong's `uuid_generators._entities` namespace.
const ENTITIES_NAMESPACE: Uuid = uuid::uuid!("fd02801f-0957-4a15-a55a-c8d9606f30b5");

/// Kong's `generate_uuid(namespace, name)`: v5 of `key` in the v5-of-`table` namespace.
pub fn generate(table: &str, key: &str) -> String {
    let namespace = Uuid::new_v5(&ENTITIES_NAMESPACE, table.as_bytes());
    Uuid::new_v5(&namespace, key.as_bytes()).to_string()
}

/// The entry an id is derived for, and its parent when nested (`child_key` and the parent's id).
pub struct Parent<'a> {
    /// The field of the child that points at the parent (`service`, `route`, `consumer`).
    pub field: &'a str,
    /// The parent's id, when it has one.
    pub id: Option<&'a str>,
}

/// Whether an id is already used in the entry's table. A derived id that is taken means a
/// duplicate entry; it is then left without one so the store reports the duplicate by its key
/// (`UNIQUE violation detected on '{name="x"}'`), as it did before ids were derived.
pub type Taken<'a> = &'a dyn Fn(&str) -> bool;

/// Sets `id` on an entry of `table` whose endpoint key `key_field` (unique in its table) is set
/// and whose `id` is absent; returns the entry's id if it has one now.
pub fn fill_by_endpoint_key(
    entry: &mut Value,
    table: &str,
    key_field: &str,
    taken: Taken<'_>,
) -> Option<String> {
    let obj = entry.as_object_mut()?;
    if let Some(id) = obj.get("id") {
        return id.as_str().map(str::to_owned);
    }
    let key = obj.get(key_field)?.as_str()?;
    let id = generate(table, key);
    if taken(&id) {
        return None;
    }
    obj.insert("id".to_owned(), Value::String(id.clone()));
    Some(id)
}

/// Sets `id` on a plugin entry without one: by `instance_name`, else by Kong's
/// `build_cache_key` over `name`, `route`, `service`, `consumer` (a string value as given, an
/// absent one empty, the parent's field its id; a record or null adds nothing, as in Kong).
pub fn fill_plugin(entry: &mut Value, parent: Option<&Parent<'_>>, taken: Taken<'_>) {
    if entry.get("instance_name").is_some() {
        fill_by_endpoint_key(entry, "plugins", "instance_name", taken);
        return;
    }
    let Some(obj) = entry.as_object_mut() else {
        return;
    };
    if obj.contains_key("id") {
        return;
    }
    let Some(key) = plugin_cache_key(obj, parent) else {
        return;
    };
    let id = generate("plugins", &key);
    if !taken(&id) {
        obj.insert("id".to_owned(), Value::String(id));
    }
}

fn plugin_cache_key(obj: &Map<String, Value>, parent: Option<&Parent<'_>>) -> Option<String> {
    let mut parts = vec!["plugins".to_owned()];
    for field in ["name", "route", "service", "consumer"] {
        match obj.get(field) {
            Some(Value::String(s)) => parts.push(s.clone()),
            Some(_) => {}
            None => match parent {
                Some(p) if p.field == field => parts.push(p.id?.to_owned()),
                // `name` is required: without it there is no key.
                _ if field == "name" => return None,
                _ => parts.push(String::new()),
            },
        }
    }
    Some(parts.join(":"))
}
