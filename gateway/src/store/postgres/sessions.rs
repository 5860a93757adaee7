//! The `sessions` table of `storage: kong` (Kong's session DAO, `kong/plugins/session/daos.lua`:
//! `session_id` unique, `expires`, `data`, a row `ttl`), and the timer that deletes expired rows
//! (Kong's `_debug_pg_ttl_cleanup_interval`).
//!
//! Rows this node wrote or read are kept in a bounded cache of verified rows keyed by the session id
//! ([`SESSION_CACHE_CAPACITY`]), as Kong keeps them in `kong.cache` (`storage/kong.lua`
//! `load_session_from_cache`, the DAO's `cache_key = {"session_id"}`): a cookie seen before costs no
//! round trip. A logout or a renewal on any node removes the row and tells every node to drop it
//! (`NOTIFY`, [`super::events`]); a node that lost its listening connection drops the whole cache once
//! it listens again, since it may have missed some.
//!
//! Every call waits at most [`PG_TIMEOUT`](super::PG_TIMEOUT). While PostgreSQL is down, calls fail
//! with a [`StorageError`] (the session is then not present, as in Kong's session plugin) and the
//! failure is logged once per [`OutageLog::EVERY`], not per request; rows in the cache keep opening,
//! as in Kong.

use std::sync::Arc;
use std::time::Duration;

use super::{PgStore, StoreError, deadline, events};
use crate::clock::Clock;
use crate::resty_session::storage::StorageError;
use crate::store::OutageLog;

/// How many verified rows a node keeps.
pub const SESSION_CACHE_CAPACITY: u64 = 100_000;

/// A verified row: its data and when it expires (unix seconds).
#[derive(Clone, Debug)]
struct Cached {
    data: Arc<str>,
    expires: u64,
}

/// `storage: kong` rows in PostgreSQL.
pub struct PgSessions {
    store: PgStore,
    outage: OutageLog,
    cache: moka::sync::Cache<String, Cached>,
}

impl std::fmt::Debug for PgSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the rows: they are sessions.
        f.debug_struct("PgSessions")
            .field("store", &self.store)
            .field("cached", &self.cache.entry_count())
            .finish_non_exhaustive()
    }
}

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[allow(clippy::cast_precision_loss)]
fn secs(t: u64) -> f64 {
    t as f64
}

impl PgSessions {
    /// Sessions in `store`'s `sessions` table.
    pub fn new(store: PgStore) -> Self {
        Self {
            store,
            outage: OutageLog::default(),
            cache: moka::sync::Cache::new(SESSION_CACHE_CAPACITY),
        }
    }

    /// Drops one row from this node's cache (another node deleted or changed it).
    pub fn invalidate(&self, key: &str) {
        self.cache.invalidate(key);
    }

    /// Drops every cached row (this node may have missed notifications).
    pub fn invalidate_all(&self) {
        self.cache.invalidate_all();
    }

    /// Logs a failure unless one was logged in the last [`OutageLog::EVERY`]; returns the error
    /// for the session code.
    fn fail(&self, err: StoreError) -> StorageError {
        if self.outage.should_log() {
            tracing::error!(%err, "session storage (PostgreSQL) failed; further failures in the next {} s are not logged", OutageLog::EVERY.as_secs());
        }
        StorageError(err.to_string())
    }

    /// The row's data while `now <= expires`: from the cache, else from the table (and then cached).
    pub async fn get(&self, key: &str, now: u64) -> Result<Option<String>, StorageError> {
        if let Some(hit) = self.cache.get(key) {
            if now <= hit.expires {
                return Ok(Some(hit.data.to_string()));
            }
            self.cache.invalidate(key);
        }
        let run = async {
            let client = self.store.client().await?;
            let stmt = client
                .prepare_cached(
                    "SELECT data, expires FROM sessions WHERE session_id = $1 AND expires >= $2",
                )
                .await?;
            let row = client.query_opt(&stmt, &[&key, &i64_of(now)]).await?;
            Ok(row.and_then(|r| {
                let data = r.get::<_, Option<String>>(0)?;
                let expires = u64::try_from(r.get::<_, i64>(1)).unwrap_or(0);
                Some((data, expires))
            }))
        };
        let row = deadline("loading a session", run)
            .await
            .map_err(|e| self.fail(e))?;
        Ok(row.map(|(data, expires)| {
            self.cache.insert(
                key.to_owned(),
                Cached {
                    data: Arc::from(data.as_str()),
                    expires,
                },
            );
            data
        }))
    }

    /// Inserts or replaces a row that expires `ttl_secs` after `now`.
    pub async fn set(
        &self,
        key: &str,
        value: &str,
        ttl_secs: u64,
        now: u64,
    ) -> Result<(), StorageError> {
        let expires = now.saturating_add(ttl_secs);
        let run = async {
            let client = self.store.client().await?;
            let stmt = client
                .prepare_cached(
                    "INSERT INTO sessions (id, session_id, expires, data, created_at, ttl)
                     VALUES ($1, $2, $3, $4, to_timestamp($5), to_timestamp($6))
                     ON CONFLICT (session_id) DO UPDATE
                     SET expires = EXCLUDED.expires, data = EXCLUDED.data, ttl = EXCLUDED.ttl",
                )
                .await?;
            client
                .execute(
                    &stmt,
                    &[
                        &uuid::Uuid::new_v4(),
                        &key,
                        &i64_of(expires),
                        &value,
                        &secs(now),
                        &secs(expires),
                    ],
                )
                .await?;
            Ok(())
        };
        deadline("saving a session", run)
            .await
            .map_err(|e| self.fail(e))?;
        self.cache.insert(
            key.to_owned(),
            Cached {
                data: Arc::from(value),
                expires,
            },
        );
        Ok(())
    }

    /// Deletes a row, here and in every node's cache; `false` when there was none.
    pub async fn delete(&self, key: &str) -> Result<bool, StorageError> {
        self.cache.invalidate(key);
        let run = async {
            let client = self.store.client().await?;
            // One statement, so the notification goes out with the delete's commit.
            let stmt = client
                .prepare_cached(
                    "WITH gone AS (DELETE FROM sessions WHERE session_id = $1 RETURNING 1)
                     SELECT count(*), pg_notify($2, $3) FROM gone",
                )
                .await?;
            let row = client
                .query_one(
                    &stmt,
                    &[&key, &events::CHANNEL, &events::session_changed(key)],
                )
                .await?;
            Ok(row.get::<_, i64>(0) > 0)
        };
        deadline("deleting a session", run)
            .await
            .map_err(|e| self.fail(e))
    }

    /// Makes an existing row expire `ttl_secs` after `now`, here and in every node's cache; `false`
    /// when there was none.
    pub async fn expire(&self, key: &str, ttl_secs: u64, now: u64) -> Result<bool, StorageError> {
        let expires = now.saturating_add(ttl_secs);
        self.cache.invalidate(key);
        let run = async {
            let client = self.store.client().await?;
            let stmt = client
                .prepare_cached(
                    "WITH changed AS (UPDATE sessions SET expires = $2, ttl = to_timestamp($3)
                       WHERE session_id = $1 RETURNING 1)
                     SELECT count(*), pg_notify($4, $5) FROM changed",
                )
                .await?;
            let row = client
                .query_one(
                    &stmt,
                    &[
                        &key,
                        &i64_of(expires),
                        &secs(expires),
                        &events::CHANNEL,
                        &events::session_changed(key),
                    ],
                )
                .await?;
            Ok(row.get::<_, i64>(0) > 0)
        };
        deadline("expiring a session", run)
            .await
            .map_err(|e| self.fail(e))
    }

    /// Deletes every row expired before `now`; returns how many.
    pub async fn delete_expired(&self, now: u64) -> Result<u64, StoreError> {
        let run = async {
            let client = self.store.client().await?;
            let stmt = client
                .prepare_cached("DELETE FROM sessions WHERE expires < $1")
                .await?;
            Ok(client.execute(&stmt, &[&i64_of(now)]).await?)
        };
        deadline("deleting expired sessions", run).await
    }
}

/// Deletes expired rows every `interval` until the task is aborted; failures are logged, one line
/// per interval.
pub async fn cleanup_loop(sessions: Arc<PgSessions>, clock: Clock, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        match sessions.delete_expired(clock.now()).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(rows = n, "deleted expired sessions"),
            Err(err) => tracing::warn!(%err, "unable to clean expired rows from table 'sessions'"),
        }
    }
}
