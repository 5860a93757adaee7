//! Where the entities live: Kong's `database` setting (`kong.conf.default`, "DATASTORE" section;
//! `kong/conf_loader/constants.lua` `CONF_PARSERS.database = { enum = { "postgres", "cassandra", "off" } }`).
//!
//! - [`DatabaseMode::Memory`] (the default here, not a Kong value): entities in process memory, the
//!   Admin API writable, nothing to install. Lost on restart.
//! - [`DatabaseMode::Postgres`]: Kong's traditional mode. Every Admin API write goes to PostgreSQL
//!   first and is served from the in-memory snapshot once committed; other nodes pick it up by polling
//!   at `db_update_frequency` ([`postgres`]). `storage: kong` sessions are rows of the `sessions` table.
//! - [`DatabaseMode::Off`]: Kong's DB-less mode. Entities come from `declarative_config` and
//!   `POST /config`; every other Admin API write is refused with Kong's 405.

pub mod postgres;
pub mod redis;

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use postgres::{PgConfig, PgSslMode, StoreError};

/// Kong's `db_update_frequency` default: 5 seconds (`kong.conf.default`: "Frequency (in seconds) at
/// which to check for updated entities with the datastore").
pub const DEFAULT_DB_UPDATE_FREQUENCY: Duration = Duration::from_secs(5);

/// How often expired `sessions` rows are deleted: Kong's `_debug_pg_ttl_cleanup_interval` (300 s,
/// `kong/templates/kong_defaults.lua`), the timer its Postgres connector starts in `init_worker` to
/// delete rows of tables with a `ttl` (`kong/db/strategies/postgres/connector.lua`).
pub const DEFAULT_TTL_CLEANUP_INTERVAL: Duration = Duration::from_secs(300);

/// At most one log line per [`OutageLog::EVERY`] about a session store that fails: an outage is logged, not
/// every request that meets it.
#[derive(Debug, Default)]
pub struct OutageLog {
    /// Unix seconds of the last line, 0 when none.
    last: AtomicU64,
}

impl OutageLog {
    /// The interval.
    pub const EVERY: Duration = Duration::from_secs(10);

    /// True for the first failure of each interval (the caller logs it).
    pub fn should_log(&self) -> bool {
        let now = crate::clock::Clock::system().now();
        let last = self.last.load(Ordering::Relaxed);
        now.saturating_sub(last) >= Self::EVERY.as_secs()
            && self
                .last
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

/// The `database` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DatabaseMode {
    /// Entities in process memory, Admin API writable (this gateway's embedded default).
    #[default]
    Memory,
    /// Kong's traditional mode on PostgreSQL.
    Postgres,
    /// Kong's DB-less mode: declarative configuration only.
    Off,
}

impl DatabaseMode {
    /// The name `GET /` reports under `configuration.database`, and the CLI accepts.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Postgres => "postgres",
            Self::Off => "off",
        }
    }
}

impl fmt::Display for DatabaseMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DatabaseMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "memory" => Ok(Self::Memory),
            "postgres" => Ok(Self::Postgres),
            "off" => Ok(Self::Off),
            // Kong's enum message (`kong/conf_loader/init.lua` `check_and_parse`).
            _ => Err(format!(
                "database has an invalid value: '{s}' (memory, postgres, off)"
            )),
        }
    }
}
