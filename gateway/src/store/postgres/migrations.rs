//! The schema and `gateway migrations bootstrap|up`, as `kong migrations bootstrap|up`
//! (`kong/cmd/utils/migrations.lua`): a `schema_meta` table shaped like Kong's (one row per subsystem
//! with the migrations `executed`), and named migrations per subsystem. Starting a node checks the
//! state and refuses an empty or older schema with Kong's message naming the command to run.
//!
//! The tables carry Kong's names and key columns (`services`, `routes`, `consumers`, `plugins`,
//! `keyauth_credentials`, `sessions` exactly as `kong/plugins/session/migrations/000_0_1.lua`); each
//! entity row also keeps the entity's whole JSON in `entity`, which is what this gateway loads. It is
//! not Kong's full column set: a Kong node cannot share this database.

use deadpool_postgres::GenericClient;

use super::{PgStore, StoreError, deadline};

/// Kong's messages, with this binary's name (`kong/cmd/utils/migrations.lua`, `check_state`, `up`).
pub const NEEDS_BOOTSTRAP: &str =
    "Database needs bootstrapping; run 'gateway migrations bootstrap'";
pub const NEW_MIGRATIONS: &str = "New migrations available; run 'gateway migrations up' to proceed";
pub const UP_NEEDS_BOOTSTRAP: &str =
    "Cannot run migrations: database needs bootstrapping; run 'gateway migrations bootstrap'";
pub const ALREADY_BOOTSTRAPPED: &str = "Database already bootstrapped";
pub const ALREADY_UP_TO_DATE: &str = "Database is already up-to-date";
pub const UP_TO_DATE: &str = "Database is up-to-date";

/// Key of the advisory lock migrations run under (Kong's `cluster_mutex("migrations")`).
const MIGRATIONS_LOCK: i64 = 0x006b_6f6e_676d_6967; // "kongmig"

/// One schema change.
#[derive(Debug)]
pub struct Migration {
    /// Kong's subsystem: `core` or the plugin's name.
    pub subsystem: &'static str,
    /// Its name in `schema_meta.executed`.
    pub name: &'static str,
    /// The statements; idempotent (`IF NOT EXISTS`).
    pub sql: &'static str,
}

/// Every migration, in the order they run.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        subsystem: "core",
        name: "000_base",
        // Kong's core tables by name (`kong/db/migrations/core/000_base.lua`); constraints deferred so
        // one write's rows may go in any order within its transaction.
        sql: r#"
CREATE TABLE IF NOT EXISTS services (
    id          uuid PRIMARY KEY,
    name        text UNIQUE DEFERRABLE INITIALLY DEFERRED,
    created_at  timestamp with time zone,
    updated_at  timestamp with time zone,
    entity      jsonb NOT NULL
);
CREATE TABLE IF NOT EXISTS routes (
    id          uuid PRIMARY KEY,
    name        text UNIQUE DEFERRABLE INITIALLY DEFERRED,
    service_id  uuid REFERENCES services (id) DEFERRABLE INITIALLY DEFERRED,
    created_at  timestamp with time zone,
    updated_at  timestamp with time zone,
    entity      jsonb NOT NULL
);
CREATE TABLE IF NOT EXISTS consumers (
    id          uuid PRIMARY KEY,
    username    text UNIQUE DEFERRABLE INITIALLY DEFERRED,
    custom_id   text UNIQUE DEFERRABLE INITIALLY DEFERRED,
    created_at  timestamp with time zone,
    updated_at  timestamp with time zone,
    entity      jsonb NOT NULL
);
CREATE TABLE IF NOT EXISTS plugins (
    id            uuid PRIMARY KEY,
    name          text NOT NULL,
    instance_name text UNIQUE DEFERRABLE INITIALLY DEFERRED,
    route_id      uuid REFERENCES routes (id) DEFERRABLE INITIALLY DEFERRED,
    service_id    uuid REFERENCES services (id) DEFERRABLE INITIALLY DEFERRED,
    consumer_id   uuid REFERENCES consumers (id) DEFERRABLE INITIALLY DEFERRED,
    created_at    timestamp with time zone,
    updated_at    timestamp with time zone,
    entity        jsonb NOT NULL
);
"#,
    },
    Migration {
        subsystem: "core",
        name: "001_cluster_version",
        // What other nodes poll every db_update_frequency: one row, bumped by every committed write.
        sql: r#"
CREATE TABLE IF NOT EXISTS cluster_version (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version     bigint NOT NULL,
    node_id     text,
    updated_at  timestamp with time zone
);
INSERT INTO cluster_version (singleton, version) VALUES (true, 0) ON CONFLICT DO NOTHING;
"#,
    },
    Migration {
        subsystem: "key-auth",
        name: "000_base_key_auth",
        // `kong/plugins/key-auth/migrations/000_base_key_auth.lua`.
        sql: r#"
CREATE TABLE IF NOT EXISTS keyauth_credentials (
    id           uuid PRIMARY KEY,
    consumer_id  uuid REFERENCES consumers (id) DEFERRABLE INITIALLY DEFERRED,
    key          text UNIQUE DEFERRABLE INITIALLY DEFERRED,
    created_at   timestamp with time zone,
    entity       jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS keyauth_credentials_consumer_id_idx ON keyauth_credentials (consumer_id);
"#,
    },
    Migration {
        subsystem: "basic-auth",
        name: "000_base_basic_auth",
        // `kong/plugins/basic-auth/migrations/000_base_basic_auth.lua` (the password hash is in `entity`).
        sql: r#"
CREATE TABLE IF NOT EXISTS basicauth_credentials (
    id           uuid PRIMARY KEY,
    consumer_id  uuid REFERENCES consumers (id) DEFERRABLE INITIALLY DEFERRED,
    username     text UNIQUE DEFERRABLE INITIALLY DEFERRED,
    created_at   timestamp with time zone,
    entity       jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS basicauth_consumer_id_idx ON basicauth_credentials (consumer_id);
"#,
    },
    Migration {
        subsystem: "session",
        name: "000_0_1",
        // `kong/plugins/session/migrations/000_0_1.lua`; `expires` is bigint here (Kong: int).
        sql: r#"
CREATE TABLE IF NOT EXISTS sessions (
    id          uuid,
    session_id  text UNIQUE,
    expires     bigint,
    data        text,
    created_at  timestamp with time zone,
    ttl         timestamp with time zone,
    PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS session_sessions_expires_idx ON sessions (expires);
"#,
    },
];

/// Kong's `schema_meta` (`kong/db/strategies/postgres/connector.lua`, `schema_bootstrap`).
const SCHEMA_META: &str = r#"
CREATE TABLE IF NOT EXISTS schema_meta (
    key            text,
    subsystem      text,
    last_executed  text,
    executed       text[],
    pending        text[],
    PRIMARY KEY (key, subsystem)
);
"#;

/// Where a database stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaState {
    /// No `schema_meta`: `gateway migrations bootstrap`.
    NeedsBootstrap,
    /// Some migrations not executed yet (`subsystem/name`): `gateway migrations up`.
    NewMigrations(Vec<String>),
    /// Every migration executed.
    UpToDate,
}

impl SchemaState {
    /// `Ok` when a node may start on it, else Kong's one line naming the command to run.
    pub fn check(&self) -> Result<(), StoreError> {
        match self {
            Self::UpToDate => Ok(()),
            Self::NeedsBootstrap => Err(StoreError(NEEDS_BOOTSTRAP.to_owned())),
            Self::NewMigrations(_) => Err(StoreError(NEW_MIGRATIONS.to_owned())),
        }
    }
}

/// Reads the schema's state.
pub async fn state(store: &PgStore) -> Result<SchemaState, StoreError> {
    let client = store.client().await?;
    deadline("reading schema_meta", read_state(&client)).await
}

async fn read_state(client: &impl GenericClient) -> Result<SchemaState, StoreError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('schema_meta') IS NOT NULL", &[])
        .await?
        .get(0);
    if !exists {
        return Ok(SchemaState::NeedsBootstrap);
    }
    let executed = executed(client).await?;
    let new: Vec<String> = MIGRATIONS
        .iter()
        .filter(|m| !executed.contains(&(m.subsystem.to_owned(), m.name.to_owned())))
        .map(|m| format!("{}/{}", m.subsystem, m.name))
        .collect();
    Ok(if new.is_empty() {
        SchemaState::UpToDate
    } else {
        SchemaState::NewMigrations(new)
    })
}

async fn executed(client: &impl GenericClient) -> Result<Vec<(String, String)>, StoreError> {
    let rows = client
        .query(
            "SELECT subsystem, executed FROM schema_meta WHERE key = 'schema_meta'",
            &[],
        )
        .await?;
    let mut out = Vec::new();
    for row in rows {
        let subsystem: String = row.get(0);
        let names: Option<Vec<String>> = row.get(1);
        for name in names.unwrap_or_default() {
            out.push((subsystem.clone(), name));
        }
    }
    Ok(out)
}

/// `gateway migrations bootstrap`: creates `schema_meta` and runs every migration on an empty
/// database; says so and changes nothing when it was bootstrapped already. Returns the lines to print.
pub async fn bootstrap(store: &PgStore) -> Result<Vec<String>, StoreError> {
    let mut client = store.client().await?;
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATIONS_LOCK])
        .await?;
    if read_state(&tx).await? != SchemaState::NeedsBootstrap {
        return Ok(vec![ALREADY_BOOTSTRAPPED.to_owned()]);
    }
    let mut lines = vec!["Bootstrapping database...".to_owned()];
    tx.batch_execute(SCHEMA_META).await?;
    lines.extend(run(&tx, MIGRATIONS.iter()).await?);
    tx.commit().await?;
    lines.push(UP_TO_DATE.to_owned());
    Ok(lines)
}

/// `gateway migrations up`: runs the migrations a bootstrapped database has not executed.
pub async fn up(store: &PgStore) -> Result<Vec<String>, StoreError> {
    let mut client = store.client().await?;
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATIONS_LOCK])
        .await?;
    let SchemaState::NewMigrations(_) = read_state(&tx).await? else {
        return match read_state(&tx).await? {
            SchemaState::NeedsBootstrap => Err(StoreError(UP_NEEDS_BOOTSTRAP.to_owned())),
            _ => Ok(vec![ALREADY_UP_TO_DATE.to_owned()]),
        };
    };
    let done = executed(&tx).await?;
    let todo = MIGRATIONS
        .iter()
        .filter(|m| !done.contains(&(m.subsystem.to_owned(), m.name.to_owned())));
    let mut lines = run(&tx, todo).await?;
    tx.commit().await?;
    lines.push(UP_TO_DATE.to_owned());
    Ok(lines)
}

/// Runs `migrations` and records each in `schema_meta`, as Kong logs them ("migrating core on
/// database 'kong'...", "core migrated up to: 000_base").
async fn run<'a>(
    tx: &deadpool_postgres::Transaction<'_>,
    migrations: impl Iterator<Item = &'a Migration>,
) -> Result<Vec<String>, StoreError> {
    let mut lines = Vec::new();
    for m in migrations {
        tx.batch_execute(m.sql).await.map_err(|e| {
            StoreError::new(
                &format!("migration {}/{}", m.subsystem, m.name),
                StoreError::from(e),
            )
        })?;
        tx.execute(
            "INSERT INTO schema_meta (key, subsystem, last_executed, executed, pending)
             VALUES ('schema_meta', $1, $2, ARRAY[$2], '{}')
             ON CONFLICT (key, subsystem) DO UPDATE
             SET last_executed = EXCLUDED.last_executed,
                 executed = array_append(schema_meta.executed, EXCLUDED.last_executed)",
            &[&m.subsystem, &m.name],
        )
        .await?;
        lines.push(format!("{} migrated up to: {}", m.subsystem, m.name));
    }
    Ok(lines)
}
