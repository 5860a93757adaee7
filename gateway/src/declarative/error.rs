//! Why a declarative config did not load, typed; the messages are Kong's (`kong/db/declarative`):
//! the file, then the collection and entry (1-based), then the field.

use serde_json::{Map, Value};

use crate::model::DbError;

/// A declarative file that could not be read or loaded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("error reading declarative config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// The file was read but is not a valid configuration.
    #[error("error parsing declarative config file {name}:\n{problem}")]
    Parse { name: String, problem: Problem },
}

/// What is wrong inside a declarative document.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    #[error("file is not UTF-8")]
    NotUtf8,
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("invalid YAML: {0}")]
    Yaml(String),
    #[error("expected an object")]
    NotAnObject,
    #[error("in '_format_version': required field missing")]
    FormatVersionMissing,
    #[error("in '_format_version': expected one of: 1.1, 2.1, 3.0")]
    FormatVersionUnknown,
    /// A top-level key that is no collection.
    #[error("in '{0}': unknown field")]
    UnknownField(String),
    /// A collection that is not a list.
    #[error("in '{0}': expected an array")]
    NotAnArray(String),
    /// The entries the entity store refused, in file order (all of them: loading goes on).
    #[error("{}", display_entries(.0))]
    Entries(Vec<EntryError>),
}

fn display_entries(entries: &[EntryError]) -> String {
    entries
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// An entry of a collection (or an entry nested in one) that the entity store refused.
#[derive(Debug)]
pub struct EntryError {
    /// The top-level collection, e.g. `services`.
    pub collection: String,
    /// 0-based index in the collection.
    pub index: usize,
    /// The nested collection and 0-based index in it, e.g. `routes` of a service.
    pub nested: Option<(String, usize)>,
    /// Why it was refused.
    pub error: DbError,
}

impl std::error::Error for EntryError {}

impl std::fmt::Display for EntryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (collection, entry) = (&self.collection, self.index + 1);
        write!(
            f,
            "in '{collection}':\n  - in entry {entry} of '{collection}':\n    "
        )?;
        if let Some((nested, j)) = &self.nested {
            write!(
                f,
                "in '{nested}':\n      - in entry {} of '{nested}':\n        ",
                j + 1
            )?;
        }
        f.write_str(&describe(&self.error))
    }
}

/// The store's error in `kong.yml` words: `in 'field': message`, joined by `; `.
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
        | DbError::Referenced { message }
        | DbError::Store(message) => message.clone(),
        DbError::InvalidOptions { option, message } => format!("in '{option}': {message}"),
    }
}

/// Kong's name of error code 14 (`kong/db/errors.lua`).
pub const DECLARATIVE_CONFIG_NAME: &str = "invalid declarative configuration";
/// Kong's code for an invalid declarative configuration.
pub const DECLARATIVE_CONFIG_CODE: u8 = 14;

impl EntryError {
    /// The error of this entry as Kong's declarative validation reports it: a schema
    /// violation's `fields`, a missing reference as a list of "invalid reference" messages
    /// (`declarative_config.lua` `validate_references`), a duplicate as Kong's "uniqueness
    /// violation" string, anything else as its message.
    fn kong_value(&self) -> Value {
        let table = self
            .nested
            .as_ref()
            .map_or(self.collection.as_str(), |(n, _)| n.as_str());
        match &self.error {
            DbError::Schema(v) => v.fields(),
            DbError::ForeignKey { fields, table, .. } => {
                let messages = fields
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(field, key)| {
                        let shown = match key {
                            Value::Object(m) if m.len() == 1 => m
                                .values()
                                .next()
                                .and_then(Value::as_str)
                                .map_or_else(|| key.to_string(), str::to_owned),
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        Value::String(format!(
                            "invalid reference '{field}: {shown}' (no such entry in '{table}')"
                        ))
                    })
                    .collect();
                Value::Array(messages)
            }
            DbError::Unique { fields, message } => {
                let Some((key, value)) = fields.as_object().and_then(|m| m.iter().next()) else {
                    return Value::String(message.clone());
                };
                let value = value
                    .as_str()
                    .map_or_else(|| value.to_string(), str::to_owned);
                Value::String(format!(
                    "uniqueness violation: '{table}' entity with {key} set to '{value}' already declared"
                ))
            }
            other => Value::String(describe(other)),
        }
    }
}

/// Kong's `fields` of error 14: the document's shape, each refused entry's error at its
/// 1-based position (`null` for the entries that passed), nested entries under their parent
/// (`errs["services"][1]["routes"][2]`).
pub fn kong_fields(entries: &[EntryError]) -> Value {
    let mut root = Map::new();
    for entry in entries {
        let list = slot_list(&mut root, &entry.collection);
        let item = slot(list, entry.index);
        match &entry.nested {
            None => *item = entry.kong_value(),
            Some((nested, j)) => {
                if !item.is_object() {
                    *item = Value::Object(Map::new());
                }
                if let Value::Object(fields) = item {
                    let inner = slot(slot_list(fields, nested), *j);
                    *inner = entry.kong_value();
                }
            }
        }
    }
    Value::Object(root)
}

fn slot_list<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Vec<Value> {
    let entry = map
        .entry(key.to_owned())
        .or_insert_with(|| Value::Array(Vec::new()));
    if !entry.is_array() {
        *entry = Value::Array(Vec::new());
    }
    match entry {
        Value::Array(items) => items,
        _ => unreachable!("made an array above"),
    }
}

fn slot(list: &mut Vec<Value>, index: usize) -> &mut Value {
    if list.len() <= index {
        list.resize(index + 1, Value::Null);
    }
    &mut list[index]
}

/// Kong's `message` of error 14: `declarative config is invalid: ` and the fields as Penlight
/// writes a table on one line.
pub fn kong_message(fields: &Value) -> String {
    let mut text = String::new();
    crate::schema::lua_pretty(fields, "", "", &mut text);
    format!("declarative config is invalid: {text}")
}

/// Kong's `flattened_errors` (`?flatten_errors=1`, `kong/db/errors.lua` `flatten_errors`): one
/// record per refused entry, sections in name order, with the entry as given (nested lists
/// taken out; a nested entry gets its parent's `id` as its reference when the parent has one)
/// and its errors as `{type: "entity", message}` or `{type: "field", field, message}`.
pub fn kong_flattened(entries: &[EntryError], input: &Value) -> Value {
    let mut ordered: Vec<&EntryError> = entries.iter().collect();
    ordered.sort_by(|a, b| {
        (a.collection.as_str(), a.index, a.nested.is_none()).cmp(&(
            b.collection.as_str(),
            b.index,
            b.nested.is_none(),
        ))
    });
    let mut out = Vec::new();
    for entry in ordered {
        let Some(parent) = input[entry.collection.as_str()].get(entry.index) else {
            continue;
        };
        let (entity_type, entity) = match &entry.nested {
            None => {
                let mut entity = parent.clone();
                if let Value::Object(fields) = &mut entity {
                    fields.retain(|_, v| !v.is_array() || !is_entity_list(v));
                }
                (entry.collection.as_str(), entity)
            }
            Some((nested, j)) => {
                let Some(child) = parent[nested.as_str()].get(*j) else {
                    continue;
                };
                let mut entity = child.clone();
                let fk = singular(&entry.collection);
                if let (Value::Object(fields), Some(id)) = (&mut entity, valid_id(parent)) {
                    fields
                        .entry(fk.to_owned())
                        .or_insert_with(|| serde_json::json!({ "id": id }));
                }
                (nested.as_str(), entity)
            }
        };
        let mut errors = Vec::new();
        categorize(&entry.kong_value(), "", &mut errors);
        let mut record = Map::new();
        record.insert("entity_type".into(), singular(entity_type).into());
        if let Some(id) = valid_id(&entity) {
            record.insert("entity_id".into(), id.into());
        }
        if let Some(name) = entity.get("name").and_then(Value::as_str) {
            record.insert("entity_name".into(), name.into());
        }
        if let Some(tags) = entity.get("tags").filter(|t| {
            t.as_array()
                .is_some_and(|items| items.iter().all(Value::is_string))
        }) {
            record.insert("entity_tags".into(), tags.clone());
        }
        record.insert("entity".into(), entity);
        record.insert("errors".into(), Value::Array(errors));
        out.push(Value::Object(record));
    }
    Value::Array(out)
}

/// A list of entities (objects), as nested collections are.
fn is_entity_list(v: &Value) -> bool {
    v.as_array()
        .is_some_and(|items| !items.is_empty() && items.iter().all(Value::is_object))
}

/// `id` when it is a UUID string (`validate_id`).
fn valid_id(entity: &Value) -> Option<String> {
    entity
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| crate::model::is_uuid(id))
        .map(str::to_owned)
}

/// Kong's `singular`: a trailing `s` removed.
fn singular(noun: &str) -> &str {
    noun.strip_suffix('s').unwrap_or(noun)
}

/// `categorize_errors`: `@entity` messages as entity errors, strings as field errors at their
/// dotted path, tables walked in key order (array positions 1-based).
fn categorize(err: &Value, ns: &str, out: &mut Vec<Value>) {
    let join = |field: &str| {
        if ns.is_empty() {
            field.to_owned()
        } else {
            format!("{ns}.{field}")
        }
    };
    match err {
        Value::String(message) if ns.is_empty() => {
            out.push(serde_json::json!({ "type": "entity", "message": message }));
        }
        Value::String(message) => {
            out.push(serde_json::json!({ "type": "field", "field": ns, "message": message }));
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for key in keys {
                if key == "@entity" {
                    for message in map[key].as_array().into_iter().flatten() {
                        out.push(serde_json::json!({ "type": "entity", "message": message }));
                    }
                } else {
                    categorize(&map[key], &join(key), out);
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate().filter(|(_, v)| !v.is_null()) {
                categorize(item, &join(&(i + 1).to_string()), out);
            }
        }
        _ => {}
    }
}
