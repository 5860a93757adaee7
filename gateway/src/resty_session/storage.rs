//! Server-side session storage, the `storage = "kong"` style: the cookie carries only the header (with
//! the STORAGE flag) and a row keyed by `base64url(sid)` holds the ciphertext.
//!
//! The row value is what resty writes: the JSON array `["<base64url ciphertext>"]`. `save` writes the new
//! row with TTL = `rolling_timeout` (0 or more than 400 days → 400 days) and cuts the old row's TTL to
//! `stale_ttl`, as Kong's adapter does (`kong/plugins/session/storage/kong.lua`, `insert_session`);
//! `destroy` deletes the row.
//!
//! Time is always passed in (unix seconds); nothing here reads the system clock. A row is readable while
//! `now <= expires` (Kong's Postgres TTL filter is `ttl >= now`).
//!
//! [`Storage`] is an enum of the backends: [`MemoryStore`] (one node) and PostgreSQL's `sessions`
//! table ([`crate::store::postgres::sessions`], every node on the database), and Redis
//! ([`crate::store::redis`], openid-connect's `session_storage: redis`).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// A storage backend failed. `Display` is the backend's message; resty wraps it, e.g.
/// `unable to load session (<message>)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StorageError(pub String);

/// A server-side session store.
#[derive(Debug)]
#[non_exhaustive]
pub enum Storage {
    /// In-process rows: one gateway node, like Kong's `kong` storage with a single node.
    Memory(MemoryStore),
    /// Rows of the `sessions` table in PostgreSQL, shared by every node on the database.
    Postgres(std::sync::Arc<crate::store::postgres::sessions::PgSessions>),
    /// Keys in Redis (openid-connect's `session_storage: redis`), shared by every node using it.
    Redis(std::sync::Arc<crate::store::redis::RedisSessions>),
}

impl Storage {
    /// An empty in-process store.
    pub fn memory() -> Self {
        Self::Memory(MemoryStore::new())
    }

    /// The row's value, or `None` when there is no row or it has expired.
    pub async fn get(&self, key: &str, now: u64) -> Result<Option<String>, StorageError> {
        match self {
            Self::Memory(store) => Ok(store.get(key, now)),
            Self::Postgres(store) => store.get(key, now).await,
            Self::Redis(store) => store.get(key).await,
        }
    }

    /// Inserts (or replaces) a row that expires `ttl_secs` after `now`.
    pub async fn set(
        &self,
        key: &str,
        value: &str,
        ttl_secs: u64,
        now: u64,
    ) -> Result<(), StorageError> {
        match self {
            Self::Memory(store) => {
                store.set(key, value, ttl_secs, now);
                Ok(())
            }
            Self::Postgres(store) => store.set(key, value, ttl_secs, now).await,
            Self::Redis(store) => store.set(key, value, ttl_secs).await,
        }
    }

    /// Deletes a row; `false` when there was none.
    pub async fn delete(&self, key: &str) -> Result<bool, StorageError> {
        match self {
            Self::Memory(store) => Ok(store.delete(key)),
            Self::Postgres(store) => store.delete(key).await,
            Self::Redis(store) => store.delete(key).await,
        }
    }

    /// Makes an existing row expire `ttl_secs` after `now` (used to cut a renewed session's old row to
    /// `stale_ttl`); `false` when there was no row.
    pub async fn expire(&self, key: &str, ttl_secs: u64, now: u64) -> Result<bool, StorageError> {
        match self {
            Self::Memory(store) => Ok(store.expire(key, ttl_secs, now)),
            Self::Postgres(store) => store.expire(key, ttl_secs, now).await,
            Self::Redis(store) => store.expire(key, ttl_secs).await,
        }
    }
}

/// How many writes between sweeps of expired rows.
const SWEEP_EVERY: u64 = 1024;

struct Row {
    value: String,
    expires: u64,
}

#[derive(Default)]
struct Rows {
    rows: HashMap<String, Row>,
    writes: u64,
}

/// In-process storage with per-row expiry. Expired rows are invisible at once and swept every
/// 1024 writes.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Rows>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("rows", &self.len())
            .finish()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of rows held, expired ones not yet swept included.
    pub fn len(&self) -> usize {
        self.lock().rows.len()
    }

    /// Whether no rows are held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// When a row expires (unix seconds), if there is one.
    pub fn expires(&self, key: &str) -> Option<u64> {
        self.lock().rows.get(key).map(|row| row.expires)
    }

    fn get(&self, key: &str, now: u64) -> Option<String> {
        self.lock()
            .rows
            .get(key)
            .filter(|row| now <= row.expires)
            .map(|row| row.value.clone())
    }

    fn set(&self, key: &str, value: &str, ttl_secs: u64, now: u64) {
        let mut inner = self.lock();
        inner.writes += 1;
        if inner.writes.is_multiple_of(SWEEP_EVERY) {
            inner.rows.retain(|_, row| now <= row.expires);
        }
        inner.rows.insert(
            key.to_owned(),
            Row {
                value: value.to_owned(),
                expires: now.saturating_add(ttl_secs),
            },
        );
    }

    fn delete(&self, key: &str) -> bool {
        self.lock().rows.remove(key).is_some()
    }

    fn expire(&self, key: &str, ttl_secs: u64, now: u64) -> bool {
        match self.lock().rows.get_mut(key) {
            Some(row) => {
                row.expires = now.saturating_add(ttl_secs);
                true
            }
            None => false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Rows> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
