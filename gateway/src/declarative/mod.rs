//! Declarative configuration in Kong's `kong.yml` format (`_format_version: "3.0"`): the nested
//! form (routes and plugins under services, credentials and plugins under consumers) and the
//! top-level form, with references by name or id. Runs at start-up (`declarative_config`) and on
//! `POST /config`. Loading goes through [`Db`], so the rules and messages are the Admin API's; a
//! bad file names the file, the entry and the field ([`Error`]). Plugin configs are checked, and
//! plugin-owned entities found, through the [`PluginCatalogue`] handed in.

pub mod error;
mod ids;

use std::collections::HashSet;

use serde_json::{Map, Value, json};

pub use error::{EntryError, Error, Problem};
pub use ids::generate as generate_id;

use crate::model::{Db, DbError, PluginCatalogue, PluginEntity};
use crate::schema::Source;

const FORMAT_VERSIONS: [&str; 3] = ["1.1", "2.1", "3.0"];
/// Top-level keys besides the collections of plugin-owned entities.
const TOP_LEVEL: [&str; 6] = [
    "_format_version",
    "_transform",
    "services",
    "routes",
    "consumers",
    "plugins",
];

/// Reads and loads a declarative file (YAML or JSON).
pub fn load_file(
    path: &std::path::Path,
    now: u64,
    catalogue: &dyn PluginCatalogue,
) -> Result<Db, Error> {
    let text = std::fs::read(path).map_err(|source| Error::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse_bytes(&text, &path.display().to_string(), now, catalogue)
}

/// Parses and loads declarative config text; `name` is used in error messages.
pub fn parse_bytes(
    text: &[u8],
    name: &str,
    now: u64,
    catalogue: &dyn PluginCatalogue,
) -> Result<Db, Error> {
    let fail = |problem: Problem| Error::Parse {
        name: name.to_owned(),
        problem,
    };
    let value = parse_value(text).map_err(fail)?;
    load(value, now, catalogue).map_err(fail)
}

/// Parses declarative config text (JSON, or YAML) into its document, without loading it.
pub fn parse_value(text: &[u8]) -> Result<Value, Problem> {
    let text = std::str::from_utf8(text).map_err(|_| Problem::NotUtf8)?;
    if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| Problem::Json(e.to_string()))
    } else {
        serde_saphyr::from_str(text).map_err(|e| Problem::Yaml(e.to_string()))
    }
}

/// Where an entry sits, for error messages: collection, index, and the nested list and index.
type Place = (&'static str, usize, Option<(&'static str, usize)>);

/// The entries the store refused so far: loading goes on after a refusal, so that every error
/// of the file is reported at once, as Kong does.
#[derive(Default)]
struct Refusals(Vec<EntryError>);

impl Refusals {
    /// The entity, or `None` after recording why the entry at `place` was refused.
    fn check<T>(&mut self, place: Place, result: Result<T, DbError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.0.push(EntryError {
                    collection: place.0.to_owned(),
                    index: place.1,
                    nested: place.2.map(|(n, j)| (n.to_owned(), j)),
                    error,
                });
                None
            }
        }
    }
}

/// Builds a [`Db`] from a parsed declarative document. Entries without an `id` get Kong's
/// deterministic one where Kong derives one ([`ids`]), so loading the same file twice gives the
/// same ids.
pub fn load(value: Value, now: u64, catalogue: &dyn PluginCatalogue) -> Result<Db, Problem> {
    let Value::Object(mut doc) = value else {
        return Err(Problem::NotAnObject);
    };
    match doc.get("_format_version") {
        None => return Err(Problem::FormatVersionMissing),
        Some(Value::String(v)) if FORMAT_VERSIONS.contains(&v.as_str()) => {}
        Some(_) => return Err(Problem::FormatVersionUnknown),
    }
    let entities = catalogue.entities();
    if let Some(unknown) = doc.keys().find(|k| {
        !TOP_LEVEL.contains(&k.as_str()) && !entities.iter().any(|e| e.table == k.as_str())
    }) {
        return Err(Problem::UnknownField(unknown.clone()));
    }
    // Kong's `_transform` (default true): run the DAOs' `on_write` transformations on load.
    let transform = doc
        .get("_transform")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let mut db = Db::default();
    let mut deferred_plugins: Vec<(&'static str, usize, usize, Value)> = Vec::new();
    let mut plugin_ids = HashSet::new();
    let mut refusals = Refusals::default();

    for (i, mut svc) in take_list(&mut doc, "services")?.into_iter().enumerate() {
        let routes = take_nested(&mut svc, "routes");
        let plugins = take_nested(&mut svc, "plugins");
        let given = ids::fill_by_endpoint_key(&mut svc, "services", "name", &|id| {
            db.services.contains_key(id)
        });
        let inserted = db.insert_service(svc, Source::Json, now);
        let Some(created) = refusals.check(("services", i, None), inserted) else {
            continue;
        };
        for (j, mut route) in routes.into_iter().enumerate() {
            ids::fill_by_endpoint_key(&mut route, "routes", "name", &|id| {
                db.routes.contains_key(id)
            });
            let inserted = db.insert_route(route, Source::Json, now, Some(&created.id));
            refusals.check(("services", i, Some(("routes", j))), inserted);
        }
        let parent = ids::Parent {
            field: "service",
            id: given.as_deref(),
        };
        for (j, mut plugin) in plugins.into_iter().enumerate() {
            fill_plugin_id(&mut plugin, Some(&parent), &mut plugin_ids);
            let plugin = with_ref(plugin, "service", &created.id);
            deferred_plugins.push(("services", i, j, plugin));
        }
    }
    for (i, mut route) in take_list(&mut doc, "routes")?.into_iter().enumerate() {
        let plugins = take_nested(&mut route, "plugins");
        let given = ids::fill_by_endpoint_key(&mut route, "routes", "name", &|id| {
            db.routes.contains_key(id)
        });
        let inserted = db.insert_route(route, Source::Json, now, None);
        let Some(created) = refusals.check(("routes", i, None), inserted) else {
            continue;
        };
        let parent = ids::Parent {
            field: "route",
            id: given.as_deref(),
        };
        for (j, mut plugin) in plugins.into_iter().enumerate() {
            fill_plugin_id(&mut plugin, Some(&parent), &mut plugin_ids);
            let plugin = with_ref(plugin, "route", &created.id);
            deferred_plugins.push(("routes", i, j, plugin));
        }
    }
    for (i, mut consumer) in take_list(&mut doc, "consumers")?.into_iter().enumerate() {
        let owned: Vec<_> = entities
            .iter()
            .map(|e| (*e, take_nested(&mut consumer, e.table)))
            .collect();
        let plugins = take_nested(&mut consumer, "plugins");
        let given = ids::fill_by_endpoint_key(&mut consumer, "consumers", "username", &|id| {
            db.consumers.contains_key(id)
        });
        let inserted = db.insert_consumer(consumer, Source::Json, now);
        let Some(created) = refusals.check(("consumers", i, None), inserted) else {
            continue;
        };
        for (entity, rows) in owned {
            for (j, mut row) in rows.into_iter().enumerate() {
                fill_owned_id(&mut row, entity, &db);
                let inserted = db.load_credential(
                    entity,
                    row,
                    Source::Json,
                    now,
                    Some(&created.id),
                    transform,
                );
                refusals.check(("consumers", i, Some((entity.table, j))), inserted);
            }
        }
        let parent = ids::Parent {
            field: "consumer",
            id: given.as_deref(),
        };
        for (j, mut plugin) in plugins.into_iter().enumerate() {
            fill_plugin_id(&mut plugin, Some(&parent), &mut plugin_ids);
            let plugin = with_ref(plugin, "consumer", &created.id);
            deferred_plugins.push(("consumers", i, j, plugin));
        }
    }
    for entity in entities {
        for (i, mut row) in take_list(&mut doc, entity.table)?.into_iter().enumerate() {
            fill_owned_id(&mut row, entity, &db);
            let inserted = db.load_credential(entity, row, Source::Json, now, None, transform);
            refusals.check((entity.table, i, None), inserted);
        }
    }
    for (owner, i, j, plugin) in deferred_plugins {
        let inserted = db.insert_plugin(plugin, Source::Json, now, None, catalogue);
        refusals.check((owner, i, Some(("plugins", j))), inserted);
    }
    for (i, mut plugin) in take_list(&mut doc, "plugins")?.into_iter().enumerate() {
        fill_plugin_id(&mut plugin, None, &mut plugin_ids);
        let inserted = db.insert_plugin(plugin, Source::Json, now, None, catalogue);
        refusals.check(("plugins", i, None), inserted);
    }
    let mut refused = refusals.0;
    // Kong checks references only once every entry passed its schema: a reference to a
    // refused entry is no error of its own.
    if refused
        .iter()
        .any(|e| !matches!(e.error, DbError::ForeignKey { .. }))
    {
        refused.retain(|e| !matches!(e.error, DbError::ForeignKey { .. }));
    }
    if refused.is_empty() {
        Ok(db)
    } else {
        Err(Problem::Entries(refused))
    }
}

/// The running entities as a declarative document (flat form, references by id).
pub fn export(db: &Db, catalogue: &dyn PluginCatalogue) -> Value {
    fn values<T: serde::Serialize>(rows: impl Iterator<Item = T>) -> Value {
        Value::Array(
            rows.map(|v| serde_json::to_value(v).unwrap_or_default())
                .collect(),
        )
    }
    let mut doc = json!({
        "_format_version": "3.0",
        // As Kong's export (`kong/db/declarative/export.lua`): the values are stored ones.
        "_transform": false,
        "services": values(db.services.values()),
        "routes": values(db.routes.values()),
        "consumers": values(db.consumers.values()),
        "plugins": values(db.plugins.values()),
    });
    for entity in catalogue.entities() {
        doc[entity.table] = values(db.credentials(entity));
    }
    doc
}

/// A plugin-owned entry's id from its endpoint key, when that key is unique in its table (Kong
/// composes a non-unique one with the parent's key; no entity here has one, so those keep a
/// random id).
fn fill_owned_id(row: &mut Value, entity: &PluginEntity, db: &Db) {
    if entity.unique.contains(&entity.endpoint_key) {
        let taken = |id: &str| db.credentials(entity).any(|c| c.id == id);
        ids::fill_by_endpoint_key(row, entity.table, entity.endpoint_key, &taken);
    }
}

/// A plugin entry's derived id, unless an earlier entry of the file has it (a duplicate, which
/// the store then reports by its scope).
fn fill_plugin_id(
    plugin: &mut Value,
    parent: Option<&ids::Parent<'_>>,
    seen: &mut HashSet<String>,
) {
    ids::fill_plugin(plugin, parent, &|id| seen.contains(id));
    if let Some(id) = plugin.get("id").and_then(Value::as_str) {
        seen.insert(id.to_owned());
    }
}

fn take_list(doc: &mut Map<String, Value>, key: &str) -> Result<Vec<Value>, Problem> {
    match doc.remove(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(Problem::NotAnArray(key.to_owned())),
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

#[cfg(test)]
mod tests;
