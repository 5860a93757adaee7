//! The entity tables: loading all of them into a [`Db`] (at start-up and when another node wrote), and
//! writing one Admin API write's changes (the diff of two [`Db`] versions, which skips what they share)
//! in the write's transaction, with the cluster version bumped so other nodes reload.
//!
//! Writes across nodes are serialized by one advisory lock taken in each write's transaction
//! ([`lock_for_write`]); a node whose snapshot is older than the database reloads before applying its
//! write, so Kong's checks (uniqueness, foreign keys) run against the latest entities.

use deadpool_postgres::GenericClient;
use imbl::OrdSet;
use imbl::ordmap::DiffItem;
use serde::Serialize;
use serde_json::Value;
use tokio_postgres::types::ToSql;

use super::StoreError;
use crate::model::{
    Consumer, Credential, CredentialTable, Db, Plugin, PluginCatalogue, PluginEntity, Route,
    Service, Table,
};
use crate::schema::Source;

/// Key of the advisory lock every entity write holds until its transaction ends.
const WRITE_LOCK: i64 = 0x6b6f_6e67_7772_6974; // "kongwrit"

/// Takes the cluster-wide write lock in `tx` and returns the committed version.
pub async fn lock_for_write(tx: &deadpool_postgres::Transaction<'_>) -> Result<i64, StoreError> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])
        .await?;
    version(tx).await
}

/// The committed version (bumped by every write that changed something).
pub async fn version(client: &impl GenericClient) -> Result<i64, StoreError> {
    let stmt = client
        .prepare("SELECT version FROM cluster_version")
        .await?;
    Ok(client.query_one(&stmt, &[]).await?.get(0))
}

fn uuid(id: &str) -> Result<uuid::Uuid, StoreError> {
    uuid::Uuid::parse_str(id).map_err(|e| StoreError::new(&format!("id '{id}'"), e))
}

fn opt_uuid(id: Option<&str>) -> Result<Option<uuid::Uuid>, StoreError> {
    id.map(uuid).transpose()
}

fn json<T: Serialize>(entity: &T) -> Result<Value, StoreError> {
    serde_json::to_value(entity).map_err(|e| StoreError::new("encoding an entity", e))
}

fn decode<T: serde::de::DeserializeOwned>(table: &str, v: Value) -> Result<T, StoreError> {
    serde_json::from_value(v).map_err(|e| StoreError::new(&format!("a row of '{table}'"), e))
}

#[allow(clippy::cast_precision_loss)]
fn secs(t: u64) -> f64 {
    t as f64
}

/// Every entity, with the version they are at. Run in one snapshot (`REPEATABLE READ`) or under
/// the write lock, so the rows match the version.
pub async fn load(
    client: &impl GenericClient,
    catalogue: &dyn PluginCatalogue,
) -> Result<(i64, Db), StoreError> {
    let version = version(client).await?;
    let mut db = Db::default();
    for row in client.query("SELECT entity FROM services", &[]).await? {
        let s: Service = decode("services", row.get(0))?;
        db.services.insert(s.id.clone(), s);
    }
    for row in client.query("SELECT entity FROM routes", &[]).await? {
        let r: Route = decode("routes", row.get(0))?;
        db.routes.insert(r.id.clone(), r);
    }
    for row in client.query("SELECT entity FROM consumers", &[]).await? {
        let c: Consumer = decode("consumers", row.get(0))?;
        db.consumers.insert(c.id.clone(), c);
    }
    for schema in catalogue.entities() {
        let sql = if schema.ttl {
            format!(
                "SELECT entity, extract(epoch FROM ttl)::float8 FROM {}",
                schema.table
            )
        } else {
            format!("SELECT entity, NULL::float8 FROM {}", schema.table)
        };
        let mut rows = Table::new();
        let mut expiring = OrdSet::new();
        for row in client.query(&sql, &[]).await? {
            let value: Value = row.get(0);
            let ttl: Option<f64> = row.get(1);
            let mut cred = credential(schema, value)?;
            // Whole seconds, as the model keeps them (`ttl` was written from them).
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let expires_at = ttl.map(|t| t.max(0.0) as u64);
            cred.expires_at = expires_at;
            if let Some(at) = expires_at {
                expiring.insert((at, cred.id.clone()));
            }
            rows.insert(cred.id.clone(), cred);
        }
        db.credentials.insert(
            schema.table,
            CredentialTable {
                schema,
                rows,
                expiring,
            },
        );
    }
    for row in client.query("SELECT entity FROM plugins", &[]).await? {
        let mut p: Plugin = decode("plugins", row.get(0))?;
        // The compiled form is rebuilt from the stored config by this node's plugin.
        let config = std::mem::take(&mut p.config);
        let checked = catalogue
            .check(&p.name, config, Source::Json)
            .map_err(|v| StoreError(format!("plugin '{}' ({}): {}", p.name, p.id, v.message())))?;
        p.config = checked.config;
        p.compiled = Some(checked.compiled);
        db.plugins.insert(p.id.clone(), p);
    }
    Ok((version, db))
}

/// A stored credential row back into the model's form.
fn credential(schema: &PluginEntity, value: Value) -> Result<Credential, StoreError> {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let (Some(id), Some(consumer_id)) = (
        text(value.get("id")),
        text(value.get("consumer").and_then(|c| c.get("id"))),
    ) else {
        return Err(StoreError(format!(
            "a row of '{}' has no id or consumer",
            schema.table
        )));
    };
    let created_at = value.get("created_at").and_then(Value::as_u64).unwrap_or(0);
    Ok(Credential {
        id,
        consumer_id,
        created_at,
        expires_at: None,
        value,
    })
}

/// Rows to write and ids to delete, per table.
struct Changes<'a, T> {
    upserts: Vec<&'a T>,
    deletes: Vec<&'a str>,
}

fn changes<'a, T: Clone + PartialEq>(old: &'a Table<T>, new: &'a Table<T>) -> Changes<'a, T> {
    let mut out = Changes {
        upserts: Vec::new(),
        deletes: Vec::new(),
    };
    for item in old.diff(new) {
        match item {
            DiffItem::Add(_, row) | DiffItem::Update { new: (_, row), .. } => out.upserts.push(row),
            DiffItem::Remove(id, _) => out.deletes.push(id.as_str()),
        }
    }
    out
}

impl<T> Changes<'_, T> {
    fn is_empty(&self) -> bool {
        self.upserts.is_empty() && self.deletes.is_empty()
    }
}

async fn delete(tx: &impl GenericClient, table: &str, ids: &[&str]) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    let stmt = tx
        .prepare(&format!("DELETE FROM {table} WHERE id = $1"))
        .await?;
    for id in ids {
        tx.execute(&stmt, &[&uuid(id)?]).await?;
    }
    Ok(())
}

/// Writes what changed from `old` to `new` and bumps the version; returns the new version, or
/// `None` when nothing changed. Runs in the write's transaction, under [`lock_for_write`].
pub async fn persist(
    tx: &deadpool_postgres::Transaction<'_>,
    old: &Db,
    new: &Db,
    catalogue: &dyn PluginCatalogue,
    node_id: &str,
) -> Result<Option<i64>, StoreError> {
    let services = changes(&old.services, &new.services);
    let routes = changes(&old.routes, &new.routes);
    let consumers = changes(&old.consumers, &new.consumers);
    let plugins = changes(&old.plugins, &new.plugins);
    let empty = Table::new();
    let rows_of = |db: &'_ Db, table: &str| -> Option<Table<Credential>> {
        db.credentials.get(table).map(|t| t.rows.clone())
    };
    let mut credential_changes = Vec::new();
    for schema in catalogue.entities() {
        let o = rows_of(old, schema.table).unwrap_or_else(|| empty.clone());
        let n = rows_of(new, schema.table).unwrap_or_else(|| empty.clone());
        credential_changes.push((*schema, o, n));
    }
    let creds: Vec<(&PluginEntity, Changes<'_, Credential>)> = credential_changes
        .iter()
        .map(|(s, o, n)| (*s, changes(o, n)))
        .collect();
    if services.is_empty()
        && routes.is_empty()
        && consumers.is_empty()
        && plugins.is_empty()
        && creds.iter().all(|(_, c)| c.is_empty())
    {
        return Ok(None);
    }

    delete(tx, "plugins", &plugins.deletes).await?;
    for (schema, c) in &creds {
        delete(tx, schema.table, &c.deletes).await?;
    }
    delete(tx, "routes", &routes.deletes).await?;
    delete(tx, "consumers", &consumers.deletes).await?;
    delete(tx, "services", &services.deletes).await?;

    if !services.upserts.is_empty() {
        let stmt = tx
            .prepare(
                "INSERT INTO services (id, name, created_at, updated_at, entity)
                 VALUES ($1, $2, to_timestamp($3), to_timestamp($4), $5)
                 ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, created_at = EXCLUDED.created_at,
                   updated_at = EXCLUDED.updated_at, entity = EXCLUDED.entity",
            )
            .await?;
        for s in &services.upserts {
            let params: [&(dyn ToSql + Sync); 5] = [
                &uuid(&s.id)?,
                &s.name,
                &secs(s.created_at),
                &secs(s.updated_at),
                &json(s)?,
            ];
            tx.execute(&stmt, &params).await?;
        }
    }
    if !consumers.upserts.is_empty() {
        let stmt = tx
            .prepare(
                "INSERT INTO consumers (id, username, custom_id, created_at, updated_at, entity)
                 VALUES ($1, $2, $3, to_timestamp($4), to_timestamp($5), $6)
                 ON CONFLICT (id) DO UPDATE SET username = EXCLUDED.username,
                   custom_id = EXCLUDED.custom_id, created_at = EXCLUDED.created_at,
                   updated_at = EXCLUDED.updated_at, entity = EXCLUDED.entity",
            )
            .await?;
        for c in &consumers.upserts {
            let params: [&(dyn ToSql + Sync); 6] = [
                &uuid(&c.id)?,
                &c.username,
                &c.custom_id,
                &secs(c.created_at),
                &secs(c.updated_at),
                &json(c)?,
            ];
            tx.execute(&stmt, &params).await?;
        }
    }
    if !routes.upserts.is_empty() {
        let stmt = tx
            .prepare(
                "INSERT INTO routes (id, name, service_id, created_at, updated_at, entity)
                 VALUES ($1, $2, $3, to_timestamp($4), to_timestamp($5), $6)
                 ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, service_id = EXCLUDED.service_id,
                   created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at,
                   entity = EXCLUDED.entity",
            )
            .await?;
        for r in &routes.upserts {
            let params: [&(dyn ToSql + Sync); 6] = [
                &uuid(&r.id)?,
                &r.name,
                &opt_uuid(r.service.as_ref().map(|s| s.id.as_str()))?,
                &secs(r.created_at),
                &secs(r.updated_at),
                &json(r)?,
            ];
            tx.execute(&stmt, &params).await?;
        }
    }
    for (schema, c) in &creds {
        if c.upserts.is_empty() {
            continue;
        }
        let mut columns = vec!["id", "consumer_id", "created_at", "entity"];
        if schema.ttl {
            // Kong's `ttl` column: the time the row is gone (`kong/db/strategies/postgres/init.lua`).
            columns.push("ttl");
        }
        columns.extend(schema.unique.iter().copied());
        let placeholders: Vec<String> = (1..=columns.len())
            .map(|i| {
                if matches!(columns[i - 1], "created_at" | "ttl") {
                    format!("to_timestamp(${i})")
                } else {
                    format!("${i}")
                }
            })
            .collect();
        let updates: Vec<String> = columns
            .iter()
            .skip(1)
            .map(|c| format!("{c} = EXCLUDED.{c}"))
            .collect();
        let sql = format!(
            "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT (id) DO UPDATE SET {}",
            schema.table,
            columns.join(", "),
            placeholders.join(", "),
            updates.join(", ")
        );
        let stmt = tx.prepare(&sql).await?;
        for cred in &c.upserts {
            let id = uuid(&cred.id)?;
            let consumer = uuid(&cred.consumer_id)?;
            let created = secs(cred.created_at);
            let uniques: Vec<Option<String>> = schema
                .unique
                .iter()
                .map(|f| cred.field(f).map(str::to_owned))
                .collect();
            let expires = cred.expires_at.map(secs);
            let mut params: Vec<&(dyn ToSql + Sync)> = vec![&id, &consumer, &created, &cred.value];
            if schema.ttl {
                params.push(&expires);
            }
            for u in &uniques {
                params.push(u);
            }
            tx.execute(&stmt, &params).await?;
        }
    }
    if !plugins.upserts.is_empty() {
        let stmt = tx
            .prepare(
                "INSERT INTO plugins (id, name, instance_name, route_id, service_id, consumer_id,
                   created_at, updated_at, entity)
                 VALUES ($1, $2, $3, $4, $5, $6, to_timestamp($7), to_timestamp($8), $9)
                 ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name,
                   instance_name = EXCLUDED.instance_name, route_id = EXCLUDED.route_id,
                   service_id = EXCLUDED.service_id, consumer_id = EXCLUDED.consumer_id,
                   created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at,
                   entity = EXCLUDED.entity",
            )
            .await?;
        for p in &plugins.upserts {
            let fk =
                |f: &Option<crate::model::ForeignKey>| opt_uuid(f.as_ref().map(|k| k.id.as_str()));
            let params: [&(dyn ToSql + Sync); 9] = [
                &uuid(&p.id)?,
                &p.name,
                &p.instance_name,
                &fk(&p.route)?,
                &fk(&p.service)?,
                &fk(&p.consumer)?,
                &secs(p.created_at),
                &secs(p.updated_at),
                &json(p)?,
            ];
            tx.execute(&stmt, &params).await?;
        }
    }
    let row = tx
        .query_one(
            "UPDATE cluster_version SET version = version + 1, node_id = $1, updated_at = now()
             RETURNING version",
            &[&node_id],
        )
        .await?;
    // Delivered when the transaction commits: the other nodes reload at once.
    tx.execute(
        "SELECT pg_notify($1, $2)",
        &[&super::events::CHANNEL, &super::events::ENTITIES_CHANGED],
    )
    .await?;
    Ok(Some(row.get(0)))
}
