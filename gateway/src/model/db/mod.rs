//! The entity store behind the Admin API and the declarative loader. Every write goes through
//! here, so Kong's rules live in one place: defaults, references by name or id, uniqueness (409),
//! foreign keys, cascades (`kong/db/dao/init.lua`, `kong/db/errors.lua`). The proxy never reads
//! `Db`; it reads the compiled snapshot. One file per entity; the rules they share are below.

mod consumers;
mod credentials;
mod plugins;
mod routes;
mod services;

use std::collections::BTreeMap;

use imbl::OrdMap;

use serde::Serialize;
use serde_json::{Value, json};

pub use credentials::{Credential, CredentialTable};

use super::entities::{Consumer, ForeignKey, Plugin, Route, Service};
use super::{INVALID_UUID, is_uuid, new_id};
use crate::schema::SchemaViolation;

/// The Admin API collections a plugin can be nested under, by Kong's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Services,
    Routes,
    Consumers,
}

/// Why a write or a lookup failed; `admin::error` turns it into Kong's JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum DbError {
    /// 404 `{"message":"Not found"}`.
    NotFound,
    /// 400, code 2.
    Schema(SchemaViolation),
    /// 409, code 5: `UNIQUE violation detected on '{name="x"}'`.
    Unique { message: String, fields: Value },
    /// 400, code 4.
    ForeignKey {
        message: String,
        fields: Value,
        /// The table the reference points into (`services`), for the declarative wording.
        table: &'static str,
    },
    /// 400: an entity still referenced by others (Kong's `foreign key violation` on delete).
    Referenced { message: String },
    /// 400, code 11 `invalid options`: a DAO option such as `ttl` out of range
    /// (`kong/db/dao/init.lua` `validate_options_value`).
    InvalidOptions {
        /// The option's name.
        option: &'static str,
        /// Kong's message for it.
        message: &'static str,
    },
    /// 500 `{"message":"An unexpected error occurred"}`: the database failed (the message is
    /// logged, never shown).
    Store(String),
}

impl From<SchemaViolation> for DbError {
    fn from(v: SchemaViolation) -> Self {
        Self::Schema(v)
    }
}

/// One table: rows by id, in id order. A persistent map, so cloning a [`Db`] costs nothing and a
/// write copies only the path to the rows it changes; the snapshot diffs two versions by
/// skipping what they share.
pub type Table<T> = OrdMap<String, T>;

/// All entities of one gateway, keyed by id.
#[derive(Debug, Clone, Default)]
pub struct Db {
    pub services: Table<Service>,
    pub routes: Table<Route>,
    pub consumers: Table<Consumer>,
    pub plugins: Table<Plugin>,
    /// Plugin-owned entities (`keyauth_credentials`, …), by table name.
    pub credentials: BTreeMap<&'static str, CredentialTable>,
}

/// A row of a core table: its id, and the field a path or a reference may name it by instead
/// (Kong's `endpoint_key`).
trait Row {
    /// Kong's table name, as foreign-key messages show it.
    const TABLE: &'static str;
    /// The name of the endpoint-key field.
    const ENDPOINT_KEY: &'static str;
    fn id(&self) -> &str;
    fn endpoint_key(&self) -> Option<&str>;
}

impl Row for Service {
    const TABLE: &'static str = "services";
    const ENDPOINT_KEY: &'static str = "name";
    fn id(&self) -> &str {
        &self.id
    }
    fn endpoint_key(&self) -> Option<&str> {
        self.name.as_deref()
    }
}
impl Row for Route {
    const TABLE: &'static str = "routes";
    const ENDPOINT_KEY: &'static str = "name";
    fn id(&self) -> &str {
        &self.id
    }
    fn endpoint_key(&self) -> Option<&str> {
        self.name.as_deref()
    }
}
impl Row for Consumer {
    const TABLE: &'static str = "consumers";
    const ENDPOINT_KEY: &'static str = "username";
    fn id(&self) -> &str {
        &self.id
    }
    fn endpoint_key(&self) -> Option<&str> {
        self.username.as_deref()
    }
}
impl Row for Plugin {
    const TABLE: &'static str = "plugins";
    const ENDPOINT_KEY: &'static str = "instance_name";
    fn id(&self) -> &str {
        &self.id
    }
    fn endpoint_key(&self) -> Option<&str> {
        self.instance_name.as_deref()
    }
}

/// Kong's `{id}`-or-endpoint-key rule: the row with this id, else the one with this endpoint key.
fn find<'a, T: Row>(rows: &'a Table<T>, key: &str) -> Option<&'a T> {
    rows.get(key)
        .or_else(|| rows.values().find(|e| e.endpoint_key() == Some(key)))
}

/// The one foreign-key resolver: points `fk` (given by id, name or username) at the row's id, or
/// fails with Kong's `does not reference an existing '<table>' entity`.
fn resolve<T: Row>(rows: &Table<T>, field: &str, fk: &mut ForeignKey) -> Result<(), DbError> {
    match find(rows, fk.lookup.as_deref().unwrap_or(&fk.id)) {
        Some(row) => {
            *fk = ForeignKey::id(row.id());
            Ok(())
        }
        None => Err(fk_missing::<T>(field, fk)),
    }
}

/// Removes the rows `keep` refuses (cascading deletes).
fn retain<T: Clone>(rows: &mut Table<T>, keep: impl Fn(&T) -> bool) {
    let gone: Vec<String> = rows
        .iter()
        .filter(|(_, row)| !keep(row))
        .map(|(id, _)| id.clone())
        .collect();
    for id in gone {
        rows.remove(&id);
    }
}

fn fk_missing<T: Row>(field: &str, fk: &ForeignKey) -> DbError {
    let shown = fk.lookup.clone().unwrap_or_else(|| fk.id.clone());
    let key = if fk.lookup.is_some() && !is_uuid(&shown) {
        T::ENDPOINT_KEY
    } else {
        "id"
    };
    let table = T::TABLE;
    DbError::ForeignKey {
        message: format!(
            "the foreign key '{{{key}=\"{shown}\"}}' does not reference an existing '{table}' entity."
        ),
        fields: json!({ field: { key: shown } }),
        table,
    }
}

/// The id of the row `key` names, when it exists.
fn id_of<T: Row>(rows: &Table<T>, key: &str) -> Option<String> {
    find(rows, key).map(|r| r.id().to_owned())
}

fn unique(field: &str, value: &str) -> DbError {
    let mut fields = serde_json::Map::new();
    fields.insert(field.to_owned(), Value::String(value.to_owned()));
    DbError::Unique {
        message: format!("UNIQUE violation detected on '{{{field}=\"{value}\"}}'"),
        fields: Value::Object(fields),
    }
}

/// Fails when another row than `id` already has `value` in `field`.
fn check_unique<T>(
    rows: &Table<T>,
    id: &str,
    field: &str,
    value: Option<&str>,
    get: impl Fn(&T) -> Option<&str>,
) -> Result<(), DbError> {
    match value {
        Some(v)
            if rows
                .iter()
                .any(|(other, r)| other != id && get(r) == Some(v)) =>
        {
            Err(unique(field, v))
        }
        _ => Ok(()),
    }
}

/// A new row may not take an id in use.
fn check_new_id<T>(rows: &Table<T>, id: &str, replacing: bool) -> Result<(), DbError> {
    if !replacing && rows.contains_key(id) {
        return Err(unique("id", id));
    }
    Ok(())
}

/// Fills `id` (new or checked) and the timestamps.
fn stamp(
    id: &mut String,
    created_at: &mut u64,
    now: u64,
    keep_created: Option<u64>,
) -> Result<(), DbError> {
    if id.is_empty() {
        *id = new_id();
    } else if !is_uuid(id) {
        return Err(SchemaViolation::field("id", INVALID_UUID).into());
    }
    *created_at = keep_created.unwrap_or(now);
    Ok(())
}

/// Overlays `patch` on `base` (objects merge key by key, like Kong's PATCH).
fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                match b.get_mut(&k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge(slot, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, p) => *b = p,
    }
}

fn to_value<T: Serialize>(entity: &T) -> Value {
    serde_json::to_value(entity).unwrap_or(Value::Null)
}

/// For PUT: the path key is the id when it is a UUID, else the endpoint key field.
fn set_key(value: &mut Value, key: &str, field: &str, existing_id: Option<&str>) {
    match existing_id {
        Some(id) => set_field(value, "id", Value::String(id.to_owned())),
        None if is_uuid(key) => set_field(value, "id", Value::String(key.to_owned())),
        None => {}
    }
    if !is_uuid(key) {
        set_field(value, field, Value::String(key.to_owned()));
    }
}

fn set_field(value: &mut Value, field: &str, v: Value) {
    if let Some(obj) = value.as_object_mut() {
        obj.insert(field.to_owned(), v);
    }
}
