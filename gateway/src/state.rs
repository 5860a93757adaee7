//! State shared by the proxy and the Admin API: the entities (changed by the Admin API and the
//! declarative loader only, one write at a time) and the compiled snapshot the proxy reads
//! without locking.
//!
//! A write never stalls traffic: the entity tables are persistent maps, so a write copies only
//! what it changes; the snapshot is patched from the previous one ([`Snapshot::update`]), off the
//! async workers' task queues when the write comes from an async handler
//! ([`Shared::write_async`]); the proxy keeps serving the old snapshot until the new one is
//! swapped in. Readers of the
//! entities (Admin API GETs) see the last committed version and never wait for a writer.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use arc_swap::ArcSwap;
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::clock::Clock;
use crate::model::{Db, DbError};
use crate::plugins::{Catalogue, Deps};
use crate::proxy::Upstream;
use crate::snapshot::Snapshot;
use crate::store::DatabaseMode;
use crate::store::postgres::{PgStore, StoreError, entities};

/// Everything one gateway process shares between its listeners.
pub struct Shared {
    /// The running configuration.
    pub snapshot: ArcSwap<Snapshot>,
    /// The committed entities; only a write swaps them.
    db: ArcSwap<Db>,
    /// Held by the one write in progress, so writes apply one after the other.
    writer: Arc<Mutex<()>>,
    pub clock: Clock,
    /// The plugins every write is checked against and every instance is built by.
    pub catalogue: Arc<Catalogue>,
    pub deps: Deps,
    pub upstream: Upstream,
    requests: AtomicU64,
    /// Kong's `database` setting this node runs with.
    pub mode: DatabaseMode,
    /// PostgreSQL, in `postgres` mode: every write goes there before it is served.
    store: Option<PgStore>,
    /// The cluster version the entities were loaded at (`postgres` mode).
    version: AtomicI64,
    /// Admin API writes that PostgreSQL failed are logged once per interval, not once per request.
    write_outage: crate::store::OutageLog,
    /// Which of Kong's standard headers responses and upstream requests get.
    pub headers: crate::KongHeaders,
    /// Connection counters of the proxy listeners (`GET /status`).
    pub stats: Arc<crate::listener::stats::ConnectionStats>,
    /// Draining or not, and the drain deadline.
    pub lifecycle: crate::listener::stats::Lifecycle,
    /// Where proxied requests are logged (`proxy_access_log`); unset: nowhere.
    pub access_log: std::sync::OnceLock<crate::listener::access_log::AccessLog>,
}

impl Shared {
    /// Shared state running `db`, whose plugins were checked against `catalogue`.
    pub fn new(db: Db, clock: Clock, catalogue: Arc<Catalogue>) -> Result<Arc<Self>, DbError> {
        Self::with_database(db, clock, catalogue, DatabaseMode::Memory, None)
    }

    /// Shared state for a node running `mode`; in `postgres` mode, `store` with the entities `db`
    /// loaded from it at `version`.
    pub fn with_database(
        db: Db,
        clock: Clock,
        catalogue: Arc<Catalogue>,
        mode: DatabaseMode,
        store: Option<(PgStore, i64)>,
    ) -> Result<Arc<Self>, DbError> {
        Self::with_options(
            db,
            clock,
            catalogue,
            mode,
            store,
            crate::KongHeaders::default(),
        )
    }

    /// [`Shared::new`] adding `headers` of Kong's standard headers.
    pub fn with_headers(
        db: Db,
        clock: Clock,
        catalogue: Arc<Catalogue>,
        headers: crate::KongHeaders,
    ) -> Result<Arc<Self>, DbError> {
        Self::with_options(db, clock, catalogue, DatabaseMode::Memory, None, headers)
    }

    /// Shared state for a node running `mode` (with `store` in `postgres` mode, as for
    /// [`Shared::with_database`]) that adds `headers` of Kong's standard headers.
    pub fn with_options(
        db: Db,
        clock: Clock,
        catalogue: Arc<Catalogue>,
        mode: DatabaseMode,
        store: Option<(PgStore, i64)>,
        headers: crate::KongHeaders,
    ) -> Result<Arc<Self>, DbError> {
        let snapshot = Snapshot::compile(&db, &catalogue).map_err(DbError::Schema)?;
        let deps = catalogue.deps().clone();
        Ok(Arc::new(Self {
            snapshot: ArcSwap::from_pointee(snapshot),
            db: ArcSwap::from_pointee(db),
            writer: Arc::new(Mutex::new(())),
            clock,
            catalogue,
            deps,
            upstream: Upstream::new(),
            requests: AtomicU64::new(0),
            mode,
            version: AtomicI64::new(store.as_ref().map_or(0, |(_, v)| *v)),
            write_outage: crate::store::OutageLog::default(),
            store: store.map(|(s, _)| s),
            headers,
            stats: Arc::default(),
            lifecycle: crate::listener::stats::Lifecycle::default(),
            access_log: std::sync::OnceLock::new(),
        }))
    }

    /// The PostgreSQL store, in `postgres` mode.
    pub fn store(&self) -> Option<&PgStore> {
        self.store.as_ref()
    }

    /// Counts one proxied request.
    pub fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Proxied requests so far.
    pub fn total_requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Reads the last committed entities; never waits for a write in progress.
    pub fn read<T>(&self, f: impl FnOnce(&Db) -> T) -> T {
        f(&self.db.load())
    }

    /// Applies a change to a copy of the entities; when it succeeds and compiles, the copy
    /// becomes current and the new snapshot is swapped in. On error nothing changes.
    ///
    /// Blocks the calling thread while another write runs and while the snapshot is updated:
    /// for tests, benches and startup. Async handlers use [`Shared::write_async`].
    pub fn write<T>(&self, f: impl FnOnce(&mut Db) -> Result<T, DbError>) -> Result<T, DbError> {
        let guard = loop {
            match Arc::clone(&self.writer).try_lock_owned() {
                Ok(guard) => break guard,
                Err(_) => std::thread::yield_now(),
            }
        };
        let mut next = Db::clone(&self.db.load());
        let out = f(&mut next)?;
        self.commit(next, guard)?;
        Ok(out)
    }

    /// [`Shared::write`] for async handlers: waits for its turn without blocking the worker,
    /// then applies `f` and updates the snapshot with the worker handed over to the runtime
    /// (`block_in_place`), so the proxy's tasks move to other threads and keep being served by
    /// the current snapshot until the new one is swapped in. Once its turn came the write
    /// completes even if the caller stops waiting.
    ///
    /// In `postgres` mode the write is made in PostgreSQL first, under the cluster-wide write lock
    /// and on the latest entities (reloaded first when another node wrote since this one last
    /// did), and served only once committed; a database failure leaves everything as it was and
    /// answers [`DbError::Store`].
    pub async fn write_async<T>(
        &self,
        f: impl FnOnce(&mut Db) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        let guard = Arc::clone(&self.writer).lock_owned().await;
        if let Some(store) = &self.store {
            return self.write_postgres(store, f, guard).await;
        }
        off_worker(|| {
            let mut next = Db::clone(&self.db.load());
            let out = f(&mut next)?;
            self.commit(next, guard)?;
            Ok(out)
        })
    }

    async fn write_postgres<T>(
        &self,
        store: &PgStore,
        f: impl FnOnce(&mut Db) -> Result<T, DbError>,
        guard: OwnedMutexGuard<()>,
    ) -> Result<T, DbError> {
        let failed = |e: StoreError| {
            if self.write_outage.should_log() {
                tracing::error!(err = %e, "Admin API write failed in PostgreSQL; further failures in the next {} s are not logged", crate::store::OutageLog::EVERY.as_secs());
            }
            DbError::Store(e.0)
        };
        let mut client = store.client().await.map_err(failed)?;
        let work = async {
            let tx = client.transaction().await?;
            let version = entities::lock_for_write(&tx).await?;
            if version != self.version.load(Ordering::Acquire) {
                let (version, db) = entities::load(&tx, self.catalogue.as_ref()).await?;
                self.install(db, version)
                    .map_err(|e| StoreError(format!("cannot serve the stored entities: {e:?}")))?;
            }
            let base = self.db.load_full();
            let staged = off_worker(|| {
                let mut next = Db::clone(&base);
                let out = f(&mut next)?;
                let snapshot = self
                    .snapshot
                    .load()
                    .update(&next, &self.catalogue)
                    .map_err(DbError::Schema)?;
                Ok::<_, DbError>((next, snapshot, out))
            });
            let (next, snapshot, out) = match staged {
                Ok(staged) => staged,
                Err(e) => return Ok(Err(e)),
            };
            let version = entities::persist(
                &tx,
                &base,
                &next,
                self.catalogue.as_ref(),
                crate::NODE_ID.as_str(),
            )
            .await?;
            tx.commit().await?;
            self.db.store(Arc::new(next));
            self.snapshot.store(Arc::new(snapshot));
            if let Some(v) = version {
                self.version.store(v, Ordering::Release);
            }
            Ok(Ok(out))
        };
        let out = crate::store::postgres::deadline("Admin API write", work)
            .await
            .map_err(failed)?;
        drop(guard);
        out
    }

    /// Makes `db`, loaded from PostgreSQL at `version`, the current entities and snapshot. The
    /// caller holds the writer lock.
    fn install(&self, db: Db, version: i64) -> Result<(), DbError> {
        let snapshot = self
            .snapshot
            .load()
            .update(&db, &self.catalogue)
            .map_err(DbError::Schema)?;
        self.db.store(Arc::new(db));
        self.snapshot.store(Arc::new(snapshot));
        self.version.store(version, Ordering::Release);
        Ok(())
    }

    /// In `postgres` mode: reloads the entities when another node committed a write since this
    /// one loaded them. Returns whether it reloaded. Runs every `db_update_frequency`.
    pub async fn refresh(&self) -> Result<bool, StoreError> {
        let Some(store) = &self.store else {
            return Ok(false);
        };
        let work = async {
            let client = store.client().await?;
            let committed = entities::version(&client).await?;
            if committed == self.version.load(Ordering::Acquire) {
                return Ok(false);
            }
            let _guard = self.writer.lock().await;
            let mut client = client;
            let tx = client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?;
            let (version, db) = entities::load(&tx, self.catalogue.as_ref()).await?;
            tx.commit().await?;
            if version == self.version.load(Ordering::Acquire) {
                return Ok(false);
            }
            off_worker(|| self.install(db, version))
                .map_err(|e| StoreError(format!("cannot serve the stored entities: {e:?}")))?;
            Ok(true)
        };
        crate::store::postgres::deadline("refreshing entities", work).await
    }

    /// Builds the snapshot of `next` from the current one and makes both current; the writer
    /// lock is held until then.
    fn commit(&self, next: Db, guard: OwnedMutexGuard<()>) -> Result<(), DbError> {
        let snapshot = self
            .snapshot
            .load()
            .update(&next, &self.catalogue)
            .map_err(DbError::Schema)?;
        self.db.store(Arc::new(next));
        self.snapshot.store(Arc::new(snapshot));
        drop(guard);
        Ok(())
    }

    /// Replaces all entities at once (declarative `POST /config`).
    pub fn replace(&self, next: Db) -> Result<(), DbError> {
        self.write(|db| {
            *db = next;
            Ok(())
        })
    }

    /// [`Shared::replace`] for async handlers.
    pub async fn replace_async(&self, next: Db) -> Result<(), DbError> {
        self.write_async(|db| {
            *db = next;
            Ok(())
        })
        .await
    }
}

/// Runs `work` with the current worker handed over to the runtime when it has others to move
/// its tasks to (multi-threaded runtime); inline otherwise (tests on a current-thread runtime).
fn off_worker<T>(work: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

#[cfg(test)]
mod tests;

/// How often expired credentials are looked for.
const EXPIRY_CHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// Deletes the credentials whose `ttl` ran out, checked once a second (Kong's TTL clean-up; the
/// proxy and the Admin API already ignore such rows, this frees them). Returns when `stop` turns
/// true.
pub async fn expire_credentials(shared: Arc<Shared>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(EXPIRY_CHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
        let now = shared.clock.now();
        if shared
            .read(|db| db.next_expiry())
            .is_some_and(|at| at <= now)
        {
            match shared.write_async(|db| Ok(db.purge_expired(now))).await {
                Ok(purged) => tracing::debug!(purged, "expired credentials deleted"),
                // Logged by the write, once per interval.
                Err(DbError::Store(_)) => {}
                Err(err) => tracing::warn!(?err, "deleting expired credentials failed"),
            }
        }
    }
}
