//! Redis for OpenID Connect sessions: Kong Enterprise's `session_storage: redis`, configured by the plugin's
//! `redis` record with the field names and defaults of Kong 3.10's shared Redis schema
//! (`kong/enterprise_edition/tools/redis/v2/schema.lua`: `host` 127.0.0.1, `port` 6379, `connect_timeout`,
//! `send_timeout`, `read_timeout` 2000 ms, `database` 0, `username`, `password`, `ssl` false, ...) plus the
//! plugin's `prefix` (since Kong 3.8 these replace the older `session_redis_*` fields).
//!
//! One [`ConnectionManager`] (the `redis` crate's: one multiplexed connection that reconnects by itself)
//! per distinct connection setting, kept in the node's [`Registry`] so a rebuilt plugin config reuses it.
//! Keys are `[<prefix>:]<cookie name>:<session key>` with Redis's own expiry (`SET .. EX`). Every call waits
//! at most the configured timeouts; while Redis is down calls fail (the session is then not present, as in
//! Kong's plugin) and the failure is logged once per [`super::OutageLog`] interval, not per request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, ConnectionAddr, IntoConnectionInfo, RedisConnectionInfo};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::OutageLog;
use crate::redacted::Redacted;
use crate::resty_session::storage::{Storage, StorageError};
use crate::schema::SchemaViolation;

/// Kong's `DEFAULT_TIMEOUT` of the Redis schema, in milliseconds.
pub const DEFAULT_TIMEOUT_MS: u64 = 2000;
/// Kong's message for a Redis feature this gateway does not implement.
pub const UNSUPPORTED: &str = "not supported by the reference gateway";

fn default_host() -> String {
    "127.0.0.1".to_owned()
}
fn default_port() -> u16 {
    6379
}
fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_MS
}
fn default_pool_size() -> u32 {
    256
}
fn default_redirections() -> u32 {
    5
}

/// The `redis` record of `openid-connect` (Kong 3.10), with Kong's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    #[serde(default = "default_host")]
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    #[serde(default = "default_timeout")]
    pub connect_timeout: u64,
    #[serde(default = "default_timeout")]
    pub send_timeout: u64,
    #[serde(default = "default_timeout")]
    pub read_timeout: u64,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<Redacted<String>>,
    #[serde(default)]
    pub sentinel_username: Option<String>,
    #[serde(default)]
    pub sentinel_password: Option<Redacted<String>>,
    #[serde(default)]
    pub database: i64,
    #[serde(default = "default_pool_size")]
    pub keepalive_pool_size: u32,
    #[serde(default)]
    pub keepalive_backlog: Option<u32>,
    #[serde(default)]
    pub sentinel_master: Option<String>,
    #[serde(default)]
    pub sentinel_role: Option<String>,
    #[serde(default)]
    pub sentinel_nodes: Option<Value>,
    #[serde(default)]
    pub cluster_nodes: Option<Value>,
    #[serde(default)]
    pub ssl: bool,
    #[serde(default)]
    pub ssl_verify: bool,
    #[serde(default)]
    pub server_name: Option<String>,
    #[serde(default = "default_redirections")]
    pub cluster_max_redirections: u32,
    #[serde(default)]
    pub connection_is_proxied: bool,
    /// The session key prefix (Kong's former `session_redis_prefix`).
    #[serde(default)]
    pub prefix: Option<String>,
    /// A Unix socket path (Kong's former `session_redis_socket`).
    #[serde(default)]
    pub socket: Option<String>,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            host: default_host(),
            port: default_port(),
            connect_timeout: DEFAULT_TIMEOUT_MS,
            send_timeout: DEFAULT_TIMEOUT_MS,
            read_timeout: DEFAULT_TIMEOUT_MS,
            username: None,
            password: None,
            sentinel_username: None,
            sentinel_password: None,
            database: 0,
            keepalive_pool_size: default_pool_size(),
            keepalive_backlog: None,
            sentinel_master: None,
            sentinel_role: None,
            sentinel_nodes: None,
            cluster_nodes: None,
            ssl: false,
            ssl_verify: false,
            server_name: None,
            cluster_max_redirections: default_redirections(),
            connection_is_proxied: false,
            prefix: None,
            socket: None,
        }
    }
}

impl RedisConfig {
    /// Refuses what this gateway does not implement (Sentinel, Cluster, TLS, Unix sockets), field by
    /// field under `redis.`, instead of ignoring it.
    pub fn validate(&self, errors: &mut SchemaViolation) {
        let unsupported = [
            ("redis.sentinel_master", self.sentinel_master.is_some()),
            ("redis.sentinel_role", self.sentinel_role.is_some()),
            (
                "redis.sentinel_nodes",
                self.sentinel_nodes.as_ref().is_some_and(|v| !v.is_null()),
            ),
            (
                "redis.cluster_nodes",
                self.cluster_nodes.as_ref().is_some_and(|v| !v.is_null()),
            ),
            ("redis.ssl", self.ssl),
            ("redis.socket", self.socket.is_some()),
        ];
        for (field, set) in unsupported {
            if set {
                errors.push(field, UNSUPPORTED);
            }
        }
        for (field, ms) in [
            ("redis.connect_timeout", self.connect_timeout),
            ("redis.send_timeout", self.send_timeout),
            ("redis.read_timeout", self.read_timeout),
        ] {
            // `typedefs.timeout`: between 0 and 2^31-2.
            if ms > 2_147_483_646 {
                errors.push(field, "value should be between 0 and 2147483646");
            }
        }
    }

    /// What identifies one connection manager.
    fn connection_key(&self, cookie_name: &str) -> String {
        format!(
            "{}:{}/{}/{:?}/{:?}/{}/{}/{:?}/{}",
            self.host,
            self.port,
            self.database,
            self.username,
            self.password.as_ref().map(|p| p.0.as_str()),
            self.connect_timeout,
            self.read_timeout,
            self.prefix,
            cookie_name
        )
    }
}

/// Session rows in Redis.
pub struct RedisSessions {
    /// The manager, or why none could be made (every call then fails with it).
    conn: Result<ConnectionManager, String>,
    /// `[<prefix>:]<cookie name>:`
    key_prefix: String,
    /// The longest a call may take: connect + send + read timeouts.
    deadline: Duration,
    outage: OutageLog,
}

impl std::fmt::Debug for RedisSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSessions")
            .field("key_prefix", &self.key_prefix)
            .finish_non_exhaustive()
    }
}

impl RedisSessions {
    /// A lazily connecting store for `config`; sessions of the cookie `cookie_name`.
    pub fn new(config: &RedisConfig, cookie_name: &str) -> Self {
        let key_prefix = match &config.prefix {
            Some(prefix) => format!("{prefix}:{cookie_name}:"),
            None => format!("{cookie_name}:"),
        };
        Self {
            conn: Self::manager(config),
            key_prefix,
            deadline: Duration::from_millis(
                config
                    .connect_timeout
                    .saturating_add(config.send_timeout)
                    .saturating_add(config.read_timeout),
            ),
            outage: OutageLog::default(),
        }
    }

    fn manager(config: &RedisConfig) -> Result<ConnectionManager, String> {
        let mut settings = RedisConnectionInfo::default().set_db(config.database);
        if let Some(user) = &config.username {
            settings = settings.set_username(user);
        }
        if let Some(password) = &config.password {
            settings = settings.set_password(password.0.as_str());
        }
        let info = ConnectionAddr::Tcp(config.host.clone(), config.port)
            .into_connection_info()
            .map_err(|e| e.to_string())?
            .set_redis_settings(settings);
        let client = redis::Client::open(info).map_err(|e| e.to_string())?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(config.connect_timeout)))
            .set_response_timeout(Some(Duration::from_millis(
                config.send_timeout.saturating_add(config.read_timeout),
            )))
            .set_number_of_retries(1);
        ConnectionManager::new_lazy_with_config(client, manager_config).map_err(|e| e.to_string())
    }

    fn conn(&self) -> Result<ConnectionManager, StorageError> {
        self.conn
            .clone()
            .map_err(|e| StorageError(format!("cannot use Redis: {e}")))
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.key_prefix)
    }

    async fn run<T>(
        &self,
        what: &str,
        fut: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StorageError> {
        let err = match tokio::time::timeout(self.deadline, fut).await {
            Ok(Ok(out)) => return Ok(out),
            Ok(Err(e)) => format!("{what}: Redis error: {e}"),
            Err(_) => format!("{what}: Redis did not answer within {:?}", self.deadline),
        };
        if self.outage.should_log() {
            tracing::error!(%err, "session storage (Redis) failed; further failures in the next {} s are not logged", super::OutageLog::EVERY.as_secs());
        }
        Err(StorageError(err))
    }

    /// The row's value, or `None` (Redis expires rows itself).
    pub async fn get(&self, key: &str) -> Result<Option<String>, StorageError> {
        let mut conn = self.conn()?;
        let key = self.key(key);
        self.run("loading a session", async move { conn.get(key).await })
            .await
    }

    /// Inserts or replaces a row that expires after `ttl_secs` (at least one second).
    pub async fn set(&self, key: &str, value: &str, ttl_secs: u64) -> Result<(), StorageError> {
        let mut conn = self.conn()?;
        let key = self.key(key);
        let value = value.to_owned();
        self.run("saving a session", async move {
            conn.set_ex::<_, _, ()>(key, value, ttl_secs.max(1)).await
        })
        .await
    }

    /// Deletes a row; `false` when there was none.
    pub async fn delete(&self, key: &str) -> Result<bool, StorageError> {
        let mut conn = self.conn()?;
        let key = self.key(key);
        self.run("deleting a session", async move {
            conn.del::<_, u64>(key).await.map(|n| n > 0)
        })
        .await
    }

    /// Makes an existing row expire after `ttl_secs`; `false` when there was none.
    pub async fn expire(&self, key: &str, ttl_secs: u64) -> Result<bool, StorageError> {
        let mut conn = self.conn()?;
        let key = self.key(key);
        let ttl = i64::try_from(ttl_secs.max(1)).unwrap_or(i64::MAX);
        self.run("expiring a session", async move {
            conn.expire::<_, bool>(key, ttl).await
        })
        .await
    }
}

/// The node's Redis session stores, one per distinct connection setting, kept across config changes.
#[derive(Debug, Default)]
pub struct Registry {
    stores: Mutex<HashMap<String, Arc<Storage>>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The store for `config` and the cookie `cookie_name`, made on first use.
    pub fn storage(&self, config: &RedisConfig, cookie_name: &str) -> Arc<Storage> {
        let key = config.connection_key(cookie_name);
        let mut stores = self.stores.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(stores.entry(key).or_insert_with(|| {
            Arc::new(Storage::Redis(Arc::new(RedisSessions::new(
                config,
                cookie_name,
            ))))
        }))
    }
}
