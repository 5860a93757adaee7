//! State shared by the proxy and the Admin API: the entity store (written under a lock by the
//! Admin API only) and the compiled snapshot the proxy reads without locking.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::clock::Clock;
use crate::model::{Db, DbError};
use crate::plugins::{Catalogue, Deps};
use crate::proxy::Upstream;
use crate::snapshot::Snapshot;

/// Everything one gateway process shares between its listeners.
pub struct Shared {
    /// The running configuration.
    pub snapshot: ArcSwap<Snapshot>,
    /// The entities; only [`Shared::write`] changes them.
    db: Mutex<Db>,
    pub clock: Clock,
    /// The plugins every write is checked against and every instance is built by.
    pub catalogue: Arc<Catalogue>,
    pub deps: Deps,
    pub upstream: Upstream,
    requests: AtomicU64,
}

impl Shared {
    /// Shared state running `db`, whose plugins were checked against `catalogue`.
    pub fn new(db: Db, clock: Clock, catalogue: Arc<Catalogue>) -> Result<Arc<Self>, DbError> {
        let snapshot = Snapshot::compile(&db, &catalogue).map_err(DbError::Schema)?;
        let deps = catalogue.deps().clone();
        Ok(Arc::new(Self {
            snapshot: ArcSwap::from_pointee(snapshot),
            db: Mutex::new(db),
            clock,
            catalogue,
            deps,
            upstream: Upstream::new(),
            requests: AtomicU64::new(0),
        }))
    }

    /// Counts one proxied request.
    pub fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Proxied requests so far.
    pub fn total_requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Reads the entities.
    pub fn read<T>(&self, f: impl FnOnce(&Db) -> T) -> T {
        let db = self
            .db
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&db)
    }

    /// Applies a change to a copy of the entities; when it succeeds and compiles, the copy
    /// becomes current and the new snapshot is swapped in. On error nothing changes.
    pub fn write<T>(&self, f: impl FnOnce(&mut Db) -> Result<T, DbError>) -> Result<T, DbError> {
        let mut db = self
            .db
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut next = db.clone();
        let out = f(&mut next)?;
        let snapshot = Snapshot::compile(&next, &self.catalogue).map_err(DbError::Schema)?;
        *db = next;
        self.snapshot.store(Arc::new(snapshot));
        Ok(out)
    }

    /// Replaces all entities at once (declarative `POST /config`).
    pub fn replace(&self, next: Db) -> Result<(), DbError> {
        self.write(|db| {
            *db = next;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests;
