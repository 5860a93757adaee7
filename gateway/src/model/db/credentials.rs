//! Plugin-owned entities (Kong's `kong/plugins/<name>/daos.lua`), handled generically from their
//! [`PluginEntity`] descriptor: a foreign `consumer` (required, by id or username, cascade on
//! delete), `id` and `created_at`, the descriptor's unique fields and endpoint key. The
//! descriptor's own schema check fills the rest.

use serde::{Serialize, Serializer};
use serde_json::{Value, json};

use super::{
    Db, DbError, Table, check_new_id, check_unique, id_of, merge, resolve, set_field, set_key,
    stamp,
};
use crate::model::checks::integer_of;
use crate::model::{ForeignKey, PluginEntity};
use crate::schema::{REQUIRED_FIELD_MISSING, SchemaViolation, Source};

/// One row of a plugin-owned table. `value` is the entity as Kong shows it (with `id`,
/// `consumer` and `created_at`); the other fields repeat what the core needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Credential {
    pub id: String,
    pub consumer_id: String,
    pub created_at: u64,
    pub value: Value,
}

impl Credential {
    /// A string field of the entity, e.g. `key`.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.value.get(name).and_then(Value::as_str)
    }
}

impl Serialize for Credential {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(s)
    }
}

/// The rows of one plugin-owned table, with the descriptor that rules them.
#[derive(Debug, Clone)]
pub struct CredentialTable {
    pub schema: &'static PluginEntity,
    /// Rows by id.
    pub rows: Table<Credential>,
}

impl CredentialTable {
    /// Kong's `{id}`-or-endpoint-key rule.
    fn find(&self, key: &str) -> Option<&Credential> {
        self.rows.get(key).or_else(|| {
            self.rows
                .values()
                .find(|c| c.field(self.schema.endpoint_key) == Some(key))
        })
    }
}

/// Runs the descriptor's schema check and takes the `consumer` reference out of the body.
fn parse(
    schema: &PluginEntity,
    value: Value,
    source: Source,
) -> Result<(Value, ForeignKey), DbError> {
    if schema.ttl {
        check_ttl(&value, source)?;
    }
    let consumer = value.get("consumer").cloned();
    let parsed = (schema.parse)(value, source)?;
    let fk = match consumer {
        None | Some(Value::Null) => {
            return Err(SchemaViolation::field("consumer", REQUIRED_FIELD_MISSING).into());
        }
        Some(v) => crate::schema::parse::<ForeignKey>(v, source)
            .map_err(|_| SchemaViolation::field("consumer", "expected a record"))?,
    };
    Ok((parsed, fk))
}

/// Kong's bound on the `ttl` option: "a bit over three years maximum to make it more safe against
/// integer overflow (time() + ttl)" (`kong/db/dao/init.lua` `validate_options_value`).
pub const MAX_TTL: f64 = 100_000_000.0;
/// Kong's message for a `ttl` outside 0..=[`MAX_TTL`].
pub const TTL_OUT_OF_RANGE: &str = "must be an integer between 0 and 100000000";

/// A `ttl` must be a whole number of seconds in 0..=[`MAX_TTL`], so `created_at + ttl` cannot
/// overflow and a huge value cannot wrap into an already-expired key.
fn check_ttl(value: &Value, source: Source) -> Result<(), DbError> {
    match integer_of(value, "ttl", source) {
        Ok(None) => Ok(()),
        Ok(Some(ttl)) if (0.0..=MAX_TTL).contains(&ttl) => Ok(()),
        _ => Err(DbError::InvalidOptions {
            option: "ttl",
            message: TTL_OUT_OF_RANGE,
        }),
    }
}

impl Db {
    /// Every row of one plugin-owned table, in id order.
    pub fn credentials(&self, schema: &PluginEntity) -> impl Iterator<Item = &Credential> {
        self.credentials
            .get(schema.table)
            .into_iter()
            .flat_map(|t| t.rows.values())
    }

    /// `GET /key-auths/{id or key}`, or nested under a consumer when `consumer` is given.
    pub fn credential(
        &self,
        schema: &PluginEntity,
        key: &str,
        consumer: Option<&str>,
    ) -> Option<&Credential> {
        let cred = self.credentials.get(schema.table)?.find(key)?;
        match consumer {
            None => Some(cred),
            Some(c) => {
                let cid = id_of(&self.consumers, c)?;
                (cred.consumer_id == cid).then_some(cred)
            }
        }
    }

    /// The rows of one consumer (`GET /consumers/{c}/key-auth`); `None` when it is unknown.
    pub fn credentials_of(
        &self,
        schema: &PluginEntity,
        consumer: &str,
    ) -> Option<Vec<&Credential>> {
        let cid = id_of(&self.consumers, consumer)?;
        Some(
            self.credentials(schema)
                .filter(|c| c.consumer_id == cid)
                .collect(),
        )
    }

    /// `POST /key-auths` or `POST /consumers/{c}/key-auth`.
    pub fn insert_credential(
        &mut self,
        schema: &'static PluginEntity,
        mut value: Value,
        source: Source,
        now: u64,
        consumer: Option<&str>,
    ) -> Result<Credential, DbError> {
        self.force_consumer(&mut value, consumer)?;
        let (value, fk) = parse(schema, value, source)?;
        self.store_credential(schema, value, fk, now, None)
    }

    /// Nested endpoints: the path's consumer replaces any in the body.
    fn force_consumer(&self, value: &mut Value, consumer: Option<&str>) -> Result<(), DbError> {
        if let Some(c) = consumer {
            let id = id_of(&self.consumers, c).ok_or(DbError::NotFound)?;
            set_field(value, "consumer", json!({ "id": id }));
        }
        Ok(())
    }

    fn store_credential(
        &mut self,
        schema: &'static PluginEntity,
        mut value: Value,
        mut fk: ForeignKey,
        now: u64,
        replacing: Option<&Credential>,
    ) -> Result<Credential, DbError> {
        let mut id = value
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let mut created_at = 0;
        stamp(
            &mut id,
            &mut created_at,
            now,
            replacing.map(|r| r.created_at),
        )?;
        resolve(&self.consumers, "consumer", &mut fk)?;
        set_field(&mut value, "id", Value::String(id.clone()));
        set_field(&mut value, "created_at", Value::from(created_at));
        set_field(&mut value, "consumer", json!({ "id": fk.id }));
        let cred = Credential {
            id,
            consumer_id: fk.id,
            created_at,
            value,
        };
        let table = self
            .credentials
            .entry(schema.table)
            .or_insert_with(|| CredentialTable {
                schema,
                rows: Table::new(),
            });
        for field in schema.unique {
            check_unique(&table.rows, &cred.id, field, cred.field(field), |c| {
                c.field(field)
            })?;
        }
        check_new_id(&table.rows, &cred.id, replacing.is_some())?;
        table.rows.insert(cred.id.clone(), cred.clone());
        Ok(cred)
    }

    /// `PATCH /key-auths/{id or key}` (or nested).
    pub fn update_credential(
        &mut self,
        schema: &'static PluginEntity,
        key: &str,
        consumer: Option<&str>,
        patch: Value,
        source: Source,
        now: u64,
    ) -> Result<Credential, DbError> {
        let old = self
            .credential(schema, key, consumer)
            .cloned()
            .ok_or(DbError::NotFound)?;
        let mut value = old.value.clone();
        merge(&mut value, patch);
        let (value, fk) = parse(schema, value, source)?;
        self.store_credential(schema, value, fk, now, Some(&old))
    }

    /// `PUT /key-auths/{id or key}` (or nested).
    pub fn upsert_credential(
        &mut self,
        schema: &'static PluginEntity,
        key: &str,
        consumer: Option<&str>,
        mut value: Value,
        source: Source,
        now: u64,
    ) -> Result<Credential, DbError> {
        let old = self.credential(schema, key, consumer).cloned();
        self.force_consumer(&mut value, consumer)?;
        set_key(
            &mut value,
            key,
            schema.endpoint_key,
            old.as_ref().map(|k| k.id.as_str()),
        );
        let (value, fk) = parse(schema, value, source)?;
        self.store_credential(schema, value, fk, now, old.as_ref())
    }

    /// `DELETE /key-auths/{id or key}`; nested: 404 when it belongs to another consumer.
    pub fn delete_credential(
        &mut self,
        schema: &PluginEntity,
        key: &str,
        consumer: Option<&str>,
    ) -> Result<(), DbError> {
        match self.credential(schema, key, consumer).map(|k| k.id.clone()) {
            Some(id) => {
                if let Some(table) = self.credentials.get_mut(schema.table) {
                    table.rows.remove(&id);
                }
                Ok(())
            }
            None if consumer.is_some() => Err(DbError::NotFound),
            None => Ok(()),
        }
    }
}
