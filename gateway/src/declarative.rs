//! Declarative configuration in Kong's `kong.yml` format (`_format_version: "3.0"`): the nested
//! form (routes and plugins under services, credentials and plugins under consumers) and the
//! top-level form, with references by name or id. Loading goes through [`Db`], so the rules and
//! messages are the Admin API's; a bad file names the file, the entry and the field.

use serde_json::{Map, Value, json};

use crate::model::{Db, DbError};
use crate::schema::Source;

const FORMAT_VERSIONS: [&str; 3] = ["1.1", "2.1", "3.0"];
const TOP_LEVEL: [&str; 7] = [
    "_format_version",
    "_transform",
    "services",
    "routes",
    "consumers",
    "plugins",
    "keyauth_credentials",
];

/// Reads and loads a declarative file (YAML or JSON).
pub fn load_file(path: &std::path::Path, now: u64) -> Result<Db, String> {
    let text = std::fs::read(path).map_err(|e| {
        format!(
            "error reading declarative config file {}: {e}",
            path.display()
        )
    })?;
    parse_bytes(&text, &path.display().to_string(), now)
}

/// Parses and loads declarative config text; `name` is used in error messages.
pub fn parse_bytes(text: &[u8], name: &str, now: u64) -> Result<Db, String> {
    let fail = |detail: String| format!("error parsing declarative config file {name}:\n{detail}");
    let text = std::str::from_utf8(text).map_err(|_| fail("file is not UTF-8".to_owned()))?;
    let value: Value = if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| fail(format!("invalid JSON: {e}")))?
    } else {
        serde_saphyr::from_str(text).map_err(|e| fail(format!("invalid YAML: {e}")))?
    };
    load(value, now).map_err(fail)
}

/// Builds a [`Db`] from a parsed declarative document.
pub fn load(value: Value, now: u64) -> Result<Db, String> {
    let Value::Object(mut doc) = value else {
        return Err("expected an object".to_owned());
    };
    match doc.get("_format_version") {
        None => return Err("in '_format_version': required field missing".to_owned()),
        Some(Value::String(v)) if FORMAT_VERSIONS.contains(&v.as_str()) => {}
        Some(_) => return Err("in '_format_version': expected one of: 1.1, 2.1, 3.0".to_owned()),
    }
    if let Some(unknown) = doc.keys().find(|k| !TOP_LEVEL.contains(&k.as_str())) {
        return Err(format!("in '{unknown}': unknown field"));
    }
    let mut db = Db::default();
    let mut deferred_plugins: Vec<(String, usize, Value)> = Vec::new();

    for (i, mut svc) in take_list(&mut doc, "services")?.into_iter().enumerate() {
        let routes = take_nested(&mut svc, "routes");
        let plugins = take_nested(&mut svc, "plugins");
        let created = db
            .insert_service(svc, Source::Json, now)
            .map_err(|e| entry_error("services", i, &e))?;
        for (j, route) in routes.into_iter().enumerate() {
            db.insert_route(route, Source::Json, now, Some(&created.id))
                .map_err(|e| nested_error("services", i, "routes", j, &e))?;
        }
        for plugin in plugins {
            deferred_plugins.push((
                "services".to_owned(),
                i,
                with_ref(plugin, "service", &created.id),
            ));
        }
    }
    for (i, mut route) in take_list(&mut doc, "routes")?.into_iter().enumerate() {
        let plugins = take_nested(&mut route, "plugins");
        let created = db
            .insert_route(route, Source::Json, now, None)
            .map_err(|e| entry_error("routes", i, &e))?;
        for plugin in plugins {
            deferred_plugins.push((
                "routes".to_owned(),
                i,
                with_ref(plugin, "route", &created.id),
            ));
        }
    }
    for (i, mut consumer) in take_list(&mut doc, "consumers")?.into_iter().enumerate() {
        let creds = take_nested(&mut consumer, "keyauth_credentials");
        let plugins = take_nested(&mut consumer, "plugins");
        let created = db
            .insert_consumer(consumer, Source::Json, now)
            .map_err(|e| entry_error("consumers", i, &e))?;
        for (j, cred) in creds.into_iter().enumerate() {
            db.insert_key_auth(cred, Source::Json, now, Some(&created.id))
                .map_err(|e| nested_error("consumers", i, "keyauth_credentials", j, &e))?;
        }
        for plugin in plugins {
            deferred_plugins.push((
                "consumers".to_owned(),
                i,
                with_ref(plugin, "consumer", &created.id),
            ));
        }
    }
    for (i, cred) in take_list(&mut doc, "keyauth_credentials")?
        .into_iter()
        .enumerate()
    {
        db.insert_key_auth(cred, Source::Json, now, None)
            .map_err(|e| entry_error("keyauth_credentials", i, &e))?;
    }
    for (owner, i, plugin) in deferred_plugins {
        db.insert_plugin(plugin, Source::Json, now, None)
            .map_err(|e| nested_error(&owner, i, "plugins", 0, &e))?;
    }
    for (i, plugin) in take_list(&mut doc, "plugins")?.into_iter().enumerate() {
        db.insert_plugin(plugin, Source::Json, now, None)
            .map_err(|e| entry_error("plugins", i, &e))?;
    }
    Ok(db)
}

/// The running entities as a declarative document (flat form, references by id).
pub fn export(db: &Db) -> Value {
    let values = |it: Vec<Value>| Value::Array(it);
    json!({
        "_format_version": "3.0",
        "services": values(db.services.values().map(|v| serde_json::to_value(v).unwrap_or_default()).collect()),
        "routes": values(db.routes.values().map(|v| serde_json::to_value(v).unwrap_or_default()).collect()),
        "consumers": values(db.consumers.values().map(|v| serde_json::to_value(v).unwrap_or_default()).collect()),
        "keyauth_credentials": values(db.keyauth_credentials.values().map(|v| serde_json::to_value(v).unwrap_or_default()).collect()),
        "plugins": values(db.plugins.values().map(|v| serde_json::to_value(v).unwrap_or_default()).collect()),
    })
}

fn take_list(doc: &mut Map<String, Value>, key: &str) -> Result<Vec<Value>, String> {
    match doc.remove(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(format!("in '{key}': expected an array")),
    }
}

fn take_nested(entity: &mut Value, key: &str) -> Vec<Value> {
    match entity.as_object_mut().and_then(|o| o.remove(key)) {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    }
}

fn with_ref(mut plugin: Value, field: &str, id: &str) -> Value {
    if let Some(obj) = plugin.as_object_mut() {
        obj.insert(field.to_owned(), json!({ "id": id }));
    }
    plugin
}

fn describe(e: &DbError) -> String {
    match e {
        DbError::NotFound => "not found".to_owned(),
        DbError::Schema(v) => v
            .errors
            .iter()
            .map(|(path, msg)| {
                if path == "@entity" {
                    msg.clone()
                } else {
                    format!("in '{path}': {msg}")
                }
            })
            .collect::<Vec<_>>()
            .join("; "),
        DbError::Unique { message, .. }
        | DbError::ForeignKey { message, .. }
        | DbError::Referenced { message } => message.clone(),
    }
}

fn entry_error(collection: &str, i: usize, e: &DbError) -> String {
    format!(
        "in '{collection}':\n  - in entry {} of '{collection}':\n    {}",
        i + 1,
        describe(e)
    )
}

fn nested_error(collection: &str, i: usize, nested: &str, j: usize, e: &DbError) -> String {
    format!(
        "in '{collection}':\n  - in entry {} of '{collection}':\n    in '{nested}':\n      - in entry {} of '{nested}':\n        {}",
        i + 1,
        j + 1,
        describe(e)
    )
}

#[cfg(test)]
mod tests;
