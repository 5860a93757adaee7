//! Time as the gateway sees it. Session timeouts are checked against [`Clock::now`], so tests move a
//! [`Clock::manual`] clock forward instead of sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The source of "now" in whole Unix seconds, like nginx's `ngx.time()` that Kong uses.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// Seconds added to the system time; `None` for the plain system clock.
    offset: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self { offset: None }
    }

    /// A clock that starts at system time and moves forward only when [`Clock::advance`] is called
    /// on it or on any of its clones (plus the real passage of time).
    pub fn manual() -> Self {
        Self {
            offset: Some(Arc::new(AtomicI64::new(0))),
        }
    }

    /// Unix time in seconds.
    pub fn now(&self) -> u64 {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        match &self.offset {
            None => real,
            Some(offset) => real.saturating_add_signed(offset.load(Ordering::Relaxed)),
        }
    }

    /// Moves a manual clock forward by `secs`. Does nothing on the system clock.
    pub fn advance(&self, secs: i64) {
        if let Some(offset) = &self.offset {
            offset.fetch_add(secs, Ordering::Relaxed);
        }
    }
}
