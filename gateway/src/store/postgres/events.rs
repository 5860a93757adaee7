//! What one node tells the others through PostgreSQL's `LISTEN`/`NOTIFY`, on the channel [`CHANNEL`]:
//! an entity write committed ([`ENTITIES_CHANGED`], sent in the write's transaction, so it arrives
//! after the commit) and a `storage: kong` row deleted or cut short ([`session_changed`], by a logout or
//! a renewal). Kong sends the same through its `cluster_events` table, which nodes poll every
//! `db_update_frequency` (`kong/cluster_events/init.lua`); a notification arrives in milliseconds, and
//! the poll at `db_update_frequency` stays as the safety net for entities.
//!
//! Each node keeps one connection of its own (outside the pool) listening ([`listen_loop`]). When it
//! breaks, the node reconnects every [`RETRY`]; once listening again it drops its whole session cache
//! and checks for entity writes, since it may have missed notifications meanwhile. A connection that
//! stops answering is found by a `SELECT 1` every [`HEALTH_CHECK`], within [`PG_TIMEOUT`].

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, mpsc};
use tokio_postgres::AsyncMessage;

use super::sessions::PgSessions;
use super::{PG_TIMEOUT, PgStore, StoreError};
use crate::store::OutageLog;

/// The channel every node listens on.
pub const CHANNEL: &str = "kong_events";

/// The payload of an entity write.
pub const ENTITIES_CHANGED: &str = "entities";

/// Prefix of a session row's payload.
const SESSION_PREFIX: &str = "session:";

/// How long a node waits before listening again after its connection broke.
pub const RETRY: Duration = Duration::from_secs(1);

/// How often the listening connection is checked.
pub const HEALTH_CHECK: Duration = Duration::from_secs(15);

/// Notifications read ahead of their handling, at most.
const BACKLOG: usize = 1024;

/// The payload telling every node that the row of session `key` was deleted or changed.
pub fn session_changed(key: &str) -> String {
    format!("{SESSION_PREFIX}{key}")
}

/// What one notification asks of this node.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// Check for entity writes now.
    Entities,
    /// Drop this session row from the cache.
    Session(&'a str),
}

impl<'a> Event<'a> {
    /// The event of a payload; `None` for one this node does not know.
    pub fn parse(payload: &'a str) -> Option<Self> {
        if payload == ENTITIES_CHANGED {
            return Some(Self::Entities);
        }
        payload.strip_prefix(SESSION_PREFIX).map(Self::Session)
    }
}

/// Listens until the task is aborted: session rows other nodes changed leave `sessions`' cache;
/// entity writes wake `entities` (the refresh loop). Failures are logged once per
/// [`OutageLog::EVERY`].
pub async fn listen_loop(store: PgStore, sessions: Arc<PgSessions>, entities: Arc<Notify>) {
    let outage = OutageLog::default();
    let mut listened_before = false;
    loop {
        let err = listen(&store, &sessions, &entities, &mut listened_before).await;
        if outage.should_log() {
            tracing::warn!(%err, "not listening for other nodes' changes; retrying every {} s", RETRY.as_secs());
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// One listening connection, until it fails.
async fn listen(
    store: &PgStore,
    sessions: &PgSessions,
    entities: &Notify,
    listened_before: &mut bool,
) -> StoreError {
    let connected =
        tokio::time::timeout(PG_TIMEOUT, store.pg_config().connect(tokio_postgres::NoTls)).await;
    let (client, mut connection) = match connected {
        Ok(Ok(pair)) => pair,
        Ok(Err(e)) => return StoreError::from(e),
        Err(_) => {
            return StoreError("connecting to listen: PostgreSQL did not answer in time".into());
        }
    };
    let (tx, mut rx) = mpsc::channel(BACKLOG);
    let mut driver = tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(n))) => {
                    if tx.send(n).await.is_err() {
                        return StoreError("the listener stopped".into());
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return StoreError::from(e),
                None => return StoreError("PostgreSQL closed the listening connection".into()),
            }
        }
    });
    // Stops the driver (and so the connection) whichever way this function returns.
    let _abort = AbortOnDrop(driver.abort_handle());
    let listening = tokio::time::timeout(
        PG_TIMEOUT,
        client.batch_execute(&format!("LISTEN {CHANNEL}")),
    )
    .await;
    match listening {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return StoreError::from(e),
        Err(_) => return StoreError("LISTEN: PostgreSQL did not answer in time".into()),
    }
    if *listened_before {
        // Notifications sent while this node was not listening are lost.
        sessions.invalidate_all();
        entities.notify_one();
        tracing::info!("listening for other nodes' changes again");
    }
    *listened_before = true;
    let mut health = tokio::time::interval(HEALTH_CHECK);
    health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    health.tick().await;
    loop {
        tokio::select! {
            received = rx.recv() => {
                let Some(n) = received else {
                    // The driver ended: its error says why.
                    return (&mut driver)
                        .await
                        .unwrap_or_else(|_| StoreError("the listening connection ended".into()));
                };
                match Event::parse(n.payload()) {
                    Some(Event::Entities) => entities.notify_one(),
                    Some(Event::Session(key)) => sessions.invalidate(key),
                    None => tracing::debug!(payload = n.payload(), "unknown notification"),
                }
            }
            _ = health.tick() => {
                match tokio::time::timeout(PG_TIMEOUT, client.simple_query("SELECT 1")).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return StoreError::from(e),
                    Err(_) => return StoreError("the listening connection stopped answering".into()),
                }
            }
        }
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip() {
        assert_eq!(Event::parse(ENTITIES_CHANGED), Some(Event::Entities));
        assert_eq!(
            Event::parse(&session_changed("abc-_123")),
            Some(Event::Session("abc-_123"))
        );
        assert_eq!(Event::parse("something else"), None);
    }
}
