//! Plugin-owned entities (Kong's `kong/plugins/<name>/daos.lua`), handled generically from their
//! [`PluginEntity`] descriptor: a foreign `consumer` (required, by id or username, cascade on
//! delete), `id` and `created_at`, the descriptor's unique fields and endpoint key. The
//! descriptor's own schema check fills the rest.

use imbl::OrdSet;
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
    /// Unix second from which the row is gone, for a table with `ttl = true` and a row written with
    /// a positive `ttl` (Kong's `ttl` column: `created_at + ttl` on insert and upsert, now + `ttl` on
    /// update; `kong/db/strategies/postgres/init.lua` `get_ttl_value`).
    pub expires_at: Option<u64>,
    pub value: Value,
}

impl Credential {
    /// A string field of the entity, e.g. `key`.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.value.get(name).and_then(Value::as_str)
    }

    /// False once the row's `ttl` ran out at `now` (Unix seconds): Kong's reads then no longer
    /// find it (`ttl >= CURRENT_TIMESTAMP`), and the proxy no longer authenticates with it.
    pub fn is_live(&self, now: u64) -> bool {
        self.expires_at.is_none_or(|t| now < t)
    }

    /// The entity as the Admin API shows it at `now`: `ttl` is the whole seconds left
    /// (`FLOOR(EXTRACT(EPOCH FROM (ttl - CURRENT_TIMESTAMP)))`, `now` being a fraction into its
    /// second).
    pub fn view(&self, now: u64) -> Value {
        let mut value = self.value.clone();
        if let Some(t) = self.expires_at {
            set_field(&mut value, "ttl", Value::from(t.saturating_sub(now + 1)));
        }
        value
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
    /// `(expires_at, id)` of the rows with a `ttl`, soonest first, so expired rows are found
    /// without a scan. May hold entries of rows since deleted or rewritten: check the row.
    pub expiring: OrdSet<(u64, String)>,
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

/// Which write stores a row, for its `ttl` (`get_ttl_value`): an insert or upsert counts it from
/// `created_at`, an update from now. `store_credential` takes it with the fields the request gave,
/// which decide the `on_write` transformations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Write {
    Insert,
    Update,
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
        value: Value,
        source: Source,
        now: u64,
        consumer: Option<&str>,
    ) -> Result<Credential, DbError> {
        self.load_credential(schema, value, source, now, consumer, true)
    }

    /// An insert that runs the DAO's `on_write` transformation only when `transform` is true: a
    /// declarative file with `_transform: false` (what Kong's export writes) holds values already
    /// transformed, such as password hashes (`kong/db/declarative/import.lua`).
    pub fn load_credential(
        &mut self,
        schema: &'static PluginEntity,
        mut value: Value,
        source: Source,
        now: u64,
        consumer: Option<&str>,
        transform: bool,
    ) -> Result<Credential, DbError> {
        self.force_consumer(&mut value, consumer)?;
        let given = if transform {
            value.clone()
        } else {
            Value::Null
        };
        let (value, fk) = parse(schema, value, source)?;
        self.store_credential(schema, value, fk, now, None, (Write::Insert, &given))
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
        (write, given): (Write, &Value),
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
        if let Some(on_write) = &schema.on_write
            && given.get(on_write.field).is_some()
            && let Some(plain) = value.get(on_write.field).and_then(Value::as_str)
        {
            let stored = (on_write.transform)(plain, &fk.id);
            set_field(&mut value, on_write.field, Value::String(stored));
        }
        let ttl = value
            .get("ttl")
            .and_then(Value::as_u64)
            .filter(|t| schema.ttl && *t > 0);
        let expires_at = ttl.map(|t| match write {
            Write::Update => now.saturating_add(t),
            Write::Insert => created_at.saturating_add(t),
        });
        let cred = Credential {
            id,
            consumer_id: fk.id,
            created_at,
            expires_at,
            value,
        };
        let table = self
            .credentials
            .entry(schema.table)
            .or_insert_with(|| CredentialTable {
                schema,
                rows: Table::new(),
                expiring: OrdSet::new(),
            });
        for field in schema.unique {
            check_unique(&table.rows, &cred.id, field, cred.field(field), |c| {
                c.field(field)
            })?;
        }
        check_new_id(&table.rows, &cred.id, replacing.is_some())?;
        if let Some(t) = expires_at {
            table.expiring.insert((t, cred.id.clone()));
        }
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
        // An update without `ttl` clears it (Kong's update writes the `ttl` column from the
        // request's option only).
        if schema.ttl {
            set_field(&mut value, "ttl", Value::Null);
        }
        let given = patch.clone();
        merge(&mut value, patch);
        let (value, fk) = parse(schema, value, source)?;
        self.store_credential(schema, value, fk, now, Some(&old), (Write::Update, &given))
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
        let given = value.clone();
        let (value, fk) = parse(schema, value, source)?;
        self.store_credential(
            schema,
            value,
            fk,
            now,
            old.as_ref(),
            (Write::Insert, &given),
        )
    }

    /// The first Unix second at which some row's `ttl` has run out, if any row has one.
    pub fn next_expiry(&self) -> Option<u64> {
        self.credentials
            .values()
            .filter_map(|t| t.expiring.get_min().map(|(at, _)| *at))
            .min()
    }

    /// Deletes every row whose `ttl` ran out at `now` (what Kong's TTL clean-up does for its
    /// database); returns how many went.
    pub fn purge_expired(&mut self, now: u64) -> usize {
        let mut purged = 0;
        for table in self.credentials.values_mut() {
            while let Some((at, id)) = table.expiring.get_min().cloned() {
                if now < at {
                    break;
                }
                table.expiring.remove(&(at, id.clone()));
                if table
                    .rows
                    .get(&id)
                    .is_some_and(|c| c.expires_at == Some(at))
                {
                    table.rows.remove(&id);
                    purged += 1;
                }
            }
        }
        purged
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
