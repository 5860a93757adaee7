//! What the status endpoints report about connections, counted as nginx's `stub_status` counts them (Kong's
//! `kong.nginx.get_statistics()`, `kong/pdk/nginx.lua`): connections accepted and handled, the connections open
//! now split into reading (a request header is arriving), writing (a request is being handled or answered) and
//! waiting (idle keep-alive), and requests. Updated on the request path with relaxed atomics only.
//!
//! Also the node's [`Lifecycle`]: whether it is draining (SIGQUIT, `POST /status/ready status=draining`) and how
//! long a drain may take.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

/// Connection counters of one gateway (all its proxy listeners).
#[derive(Debug, Default)]
pub struct ConnectionStats {
    accepted: AtomicU64,
    handled: AtomicU64,
    active: AtomicI64,
    reading: AtomicI64,
    writing: AtomicI64,
}

impl ConnectionStats {
    /// A connection was accepted and will be served.
    pub fn opened(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
        self.handled.fetch_add(1, Ordering::Relaxed);
        self.active.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection closed.
    pub fn closed(&self) {
        self.active.fetch_sub(1, Ordering::Relaxed);
    }

    /// A connection moved into (`+1`) or out of (`-1`) reading a request header.
    pub fn reading(&self, delta: i64) {
        self.reading.fetch_add(delta, Ordering::Relaxed);
    }

    /// A connection moved into (`+1`) or out of (`-1`) handling a request.
    pub fn writing(&self, delta: i64) {
        self.writing.fetch_add(delta, Ordering::Relaxed);
    }

    /// Kong's `server` object of `GET /status` (`kong/api/routes/health.lua`), with `total_requests`.
    #[must_use]
    pub fn server_json(&self, total_requests: u64) -> Value {
        let load = |n: &AtomicI64| n.load(Ordering::Relaxed).max(0);
        let (active, reading, writing) =
            (load(&self.active), load(&self.reading), load(&self.writing));
        json!({
            "connections_accepted": self.accepted.load(Ordering::Relaxed),
            "connections_handled": self.handled.load(Ordering::Relaxed),
            "connections_active": active,
            "connections_reading": reading,
            "connections_writing": writing,
            // nginx: waiting = active - (reading + writing).
            "connections_waiting": (active - reading - writing).max(0),
            "total_requests": total_requests,
        })
    }
}

/// How long a graceful stop waits for in-flight requests when nothing else is said: `kong quit`'s default
/// `--timeout 10` (`kong/cmd/quit.lua`).
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether the node is draining, and the deadline of a drain.
#[derive(Debug)]
pub struct Lifecycle {
    draining: AtomicBool,
    drain_millis: AtomicU64,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self {
            draining: AtomicBool::new(false),
            drain_millis: AtomicU64::new(millis(DEFAULT_DRAIN_TIMEOUT)),
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Lifecycle {
    /// Marks the node draining: `GET /status/ready` answers 503 `draining` from now on.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Whether the node is draining.
    #[must_use]
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Sets how long the listeners wait for open connections once told to stop.
    pub fn set_drain_timeout(&self, timeout: Duration) {
        self.drain_millis.store(millis(timeout), Ordering::Relaxed);
    }

    /// How long the listeners wait for open connections once told to stop.
    #[must_use]
    pub fn drain_timeout(&self) -> Duration {
        Duration::from_millis(self.drain_millis.load(Ordering::Relaxed))
    }
}
