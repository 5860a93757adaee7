//! Kong's traditional mode on PostgreSQL: the connection settings (`pg_*` in `kong.conf.default`), a
//! pool of connections (`deadpool-postgres` over `tokio-postgres`, prepared statements cached per
//! connection), the schema and its migrations ([`migrations`]), the entity tables ([`entities`]) and the
//! `sessions` table of `storage: kong` ([`sessions`]).
//!
//! What waits on PostgreSQL: Admin API writes (the row goes in before the Admin API answers), the poll
//! that refreshes other nodes' writes every `db_update_frequency` (or at once, when another node's
//! notification arrives: [`events`]), and `storage: kong` session reads (those not in the node's cache
//! of verified rows) and writes. The proxy's routing and credential lookups never do: they read the
//! in-memory snapshot.

pub mod entities;
pub mod events;
pub mod migrations;
pub mod sessions;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts};

/// Kong's defaults (`kong.conf.default`, "POSTGRES SETTINGS": `pg_host = 127.0.0.1`,
/// `pg_port = 5432`, `pg_user = kong`, `pg_database = kong`, `pg_ssl = off`).
pub const DEFAULT_PG_HOST: &str = "127.0.0.1";
pub const DEFAULT_PG_PORT: u16 = 5432;
pub const DEFAULT_PG_USER: &str = "kong";
pub const DEFAULT_PG_DATABASE: &str = "kong";

/// Longest wait for a connection from the pool, for a new connection, and for one statement.
/// Kong's `pg_timeout` default is 5000 ms (`kong.conf.default`).
pub const PG_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections per node: Kong's `pg_pool_size` is nginx's per-worker keep-alive pool; one process
/// here needs few, since only Admin writes, the poll and `storage: kong` sessions use them.
const POOL_SIZE: usize = 32;

/// Kong's `pg_ssl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PgSslMode {
    /// `off` (Kong's default).
    #[default]
    Off,
    /// `on`: TLS to the server.
    On,
}

impl FromStr for PgSslMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Kong's booleans accept on/off and true/false (`kong/conf_loader/init.lua` `infer_value`).
        match s {
            "off" | "false" => Ok(Self::Off),
            "on" | "true" => Ok(Self::On),
            _ => Err(format!("pg_ssl is not a boolean: '{s}' (on, off)")),
        }
    }
}

/// How to reach PostgreSQL: Kong's `pg_host`, `pg_port`, `pg_user`, `pg_password`, `pg_database`,
/// `pg_ssl`. The password prints as `REDACTED`.
#[derive(Clone, PartialEq, Eq)]
pub struct PgConfig {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<String>,
    pub database: String,
    pub ssl: PgSslMode,
}

impl Default for PgConfig {
    fn default() -> Self {
        Self {
            host: DEFAULT_PG_HOST.to_owned(),
            port: DEFAULT_PG_PORT,
            user: DEFAULT_PG_USER.to_owned(),
            password: None,
            database: DEFAULT_PG_DATABASE.to_owned(),
            ssl: PgSslMode::Off,
        }
    }
}

impl fmt::Debug for PgConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "REDACTED"))
            .field("database", &self.database)
            .field("ssl", &self.ssl)
            .finish()
    }
}

/// PostgreSQL could not be reached, refused a statement, or holds something this node cannot load.
/// The Admin API answers it with Kong's 500; the message goes to the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

impl StoreError {
    pub(crate) fn new(context: &str, err: impl fmt::Display) -> Self {
        Self(format!("{context}: {err}"))
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        // `Display` of a server error is only "db error"; the source holds the server's message.
        match e.as_db_error() {
            Some(db) => Self(format!("PostgreSQL error: {}", db.message())),
            None => Self(format!("PostgreSQL error: {e}")),
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            other => Self(format!("cannot connect to PostgreSQL: {other}")),
        }
    }
}

/// A pool of connections to one database.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    config: PgConfig,
    /// The driver's settings, for connections outside the pool ([`events`]).
    pg: tokio_postgres::Config,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// A pool for `config`. Connects lazily; [`PgStore::check`] proves the server answers.
    pub fn new(config: &PgConfig) -> Result<Self, StoreError> {
        if config.ssl == PgSslMode::On {
            return Err(StoreError(
                "pg_ssl = on is not supported by the reference gateway yet; use pg_ssl = off"
                    .into(),
            ));
        }
        let mut pg = tokio_postgres::Config::new();
        pg.host(&config.host)
            .port(config.port)
            .user(&config.user)
            .dbname(&config.database)
            .application_name("reference-gateway")
            .connect_timeout(PG_TIMEOUT);
        if let Some(password) = &config.password {
            pg.password(password);
        }
        // A Unix socket directory when the host is a path, as libpq does.
        let manager = Manager::from_config(
            pg.clone(),
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .timeouts(Timeouts {
                wait: Some(PG_TIMEOUT),
                create: Some(PG_TIMEOUT),
                recycle: Some(PG_TIMEOUT),
            })
            .build()
            .map_err(|e| StoreError::new("cannot create the PostgreSQL pool", e))?;
        Ok(Self {
            pool,
            config: config.clone(),
            pg,
        })
    }

    /// The driver's settings, for a connection of its own.
    pub fn pg_config(&self) -> &tokio_postgres::Config {
        &self.pg
    }

    /// Where this store connects, for messages: `kong@127.0.0.1:5432/kong`.
    pub fn describe(&self) -> String {
        format!(
            "{}@{}:{}/{}",
            self.config.user, self.config.host, self.config.port, self.config.database
        )
    }

    /// A pooled connection, within [`PG_TIMEOUT`].
    pub async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => StoreError(format!(
                "cannot connect to PostgreSQL at {}: {}",
                self.describe(),
                StoreError::from(e)
            )),
            other => StoreError(format!(
                "cannot connect to PostgreSQL at {}: {other}",
                self.describe()
            )),
        })
    }
}

/// Runs `fut` for at most [`PG_TIMEOUT`].
pub(crate) async fn deadline<T>(
    what: &str,
    fut: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(PG_TIMEOUT, fut).await {
        Ok(out) => out,
        Err(_) => Err(StoreError(format!(
            "{what}: PostgreSQL did not answer within {} s",
            PG_TIMEOUT.as_secs()
        ))),
    }
}
