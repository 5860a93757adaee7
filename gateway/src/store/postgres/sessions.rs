//! The `sessions` table of `storage: kong` (Kong's session DAO, `kong/plugins/session/daos.lua`:
//! `session_id` unique, `expires`, `data`, a row `ttl`), and the timer that deletes expired rows
//! (Kong's `_debug_pg_ttl_cleanup_interval`).
//!
//! Every call waits at most [`PG_TIMEOUT`](super::PG_TIMEOUT). While PostgreSQL is down, calls fail
//! with a [`StorageError`] (the session is then not present, as in Kong's session plugin) and the
//! failure is logged once per [`OutageLog::EVERY`], not per request.

use std::sync::Arc;
use std::time::Duration;

use super::{PgStore, StoreError, deadline};
use crate::clock::Clock;
use crate::resty_session::storage::StorageError;
use crate::store::OutageLog;

/// `storage: kong` rows in PostgreSQL.
#[derive(Debug)]
pub struct PgSessions {
    store: PgStore,
    outage: OutageLog,
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
        }
    }

    /// Logs a failure unless one was logged in the last [`OutageLog::EVERY`]; returns the error
    /// for the session code.
    fn fail(&self, err: StoreError) -> StorageError {
        if self.outage.should_log() {
            tracing::error!(%err, "session storage (PostgreSQL) failed; further failures in the next {} s are not logged", OutageLog::EVERY.as_secs());
        }
        StorageError(err.to_string())
    }

    /// The row's data while `now <= expires`.
    pub async fn get(&self, key: &str, now: u64) -> Result<Option<String>, StorageError> {
        let run = async {
            let client = self.store.client().await?;
            let stmt = client
                .prepare_cached("SELECT data FROM sessions WHERE session_id = $1 AND expires >= $2")
                .await?;
            let row = client.query_opt(&stmt, &[&key, &i64_of(now)]).await?;
            Ok(row.and_then(|r| r.get::<_, Option<String>>(0)))
        };
        deadline("loading a session", run)
            .await
            .map_err(|e| self.fail(e))
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
            .map_err(|e| self.fail(e))
    }

    /// Deletes a row; `false` when there was none.
    pub async fn delete(&self, key: &str) -> Result<bool, StorageError> {
        let run = async {
            let client = self.store.client().await?;
            let stmt = client
                .prepare_cached("DELETE FROM sessions WHERE session_id = $1")
                .await?;
            Ok(client.execute(&stmt, &[&key]).await? > 0)
        };
        deadline("deleting a session", run)
            .await
            .map_err(|e| self.fail(e))
    }

    /// Makes an existing row expire `ttl_secs` after `now`; `false` when there was none.
    pub async fn expire(&self, key: &str, ttl_secs: u64, now: u64) -> Result<bool, StorageError> {
        let expires = now.saturating_add(ttl_secs);
        let run = async {
            let client = self.store.client().await?;
            let stmt = client
                .prepare_cached(
                    "UPDATE sessions SET expires = $2, ttl = to_timestamp($3) WHERE session_id = $1",
                )
                .await?;
            Ok(client
                .execute(&stmt, &[&key, &i64_of(expires), &secs(expires)])
                .await?
                > 0)
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
