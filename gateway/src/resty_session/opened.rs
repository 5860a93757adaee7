//! A bounded cache of opened session cookies, so that a client sending the same cookie again (every
//! request of a browser between two renewals) costs a lookup and the timeout checks, not a MAC,
//! a decryption, an inflate and a JSON parse.
//!
//! When it runs: [`Session::open`](super::Session::open) looks the session cookie up here first; a
//! cookie that opened the full way is added. One cache per [`SessionConfig`](super::SessionConfig), so
//! a plugin configuration rebuilt with another secret, audience or storage starts empty.
//!
//! What makes a hit safe:
//! * **Exact match.** An entry is found by the 110 header characters of the cookie and used only when
//!   the whole first cookie value, every chunk cookie (`<name>2` …) and, with server-side storage, the
//!   stored row are byte for byte what opened it. Anything else — a changed payload, a missing chunk,
//!   a deleted or rewritten row — takes the full path, which gives resty's error.
//! * **Only verified cookies enter**: ones whose MAC, decryption and audience passed. A forged or
//!   random cookie is never cached, so clients cannot fill the cache with junk; a client with a valid
//!   cookie can only replace entries with other valid cookies, each paying the full open.
//! * **The clock is checked on every hit**: the absolute, rolling and idling timeouts of the cached
//!   header against `now` (gateway time), in resty's order and with its messages; an expired entry
//!   is dropped. What the session holds (token expiry and the like) is checked by the plugins as
//!   before.
//! * **Invalidation**: a session that is saved, destroyed or logged out drops the entry it came from.
//! * **Bounded memory**: [`SHARDS`] × [`SHARD_CAPACITY`] entries per cache, and all caches of the
//!   process together at most [`MAX_CACHED_BYTES`] (each entry is charged its cookie texts plus twice
//!   its plaintext); a full shard evicts an arbitrary entry (random eviction), and an entry that does
//!   not fit the global budget is simply not cached.
//! * **Constant work**: one hash of 110 bytes, one comparison of the cookie texts (at most nine 4 KB
//!   cookies), the timeout arithmetic.
//!
//! Plugins may keep one parsed form of the session data beside the entry
//! ([`Session::data_memo`](super::Session::data_memo)), built once per cached cookie.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use serde_json::Value;

use super::codec::{HEADER_ENCODED_SIZE, HEADER_SIZE, Header};

/// Shards of one cache, each behind its own mutex.
pub const SHARDS: usize = 8;
/// Entries per shard: 2,048 per cache.
pub const SHARD_CAPACITY: usize = 256;
/// What all caches of the process may hold together, by the estimate of [`Opened::charge`]: 64 MiB.
pub const MAX_CACHED_BYTES: usize = 64 * 1024 * 1024;
/// Bookkeeping charged per entry beyond its texts.
const ENTRY_OVERHEAD: usize = 512;

/// Bytes charged by every live entry of every cache.
static CACHED_BYTES: AtomicUsize = AtomicUsize::new(0);

/// Bytes the caches of this process hold now (by the entries' charges).
pub fn cached_bytes() -> usize {
    CACHED_BYTES.load(Ordering::Relaxed)
}

/// One session cookie that opened, and what opening it produced.
pub(super) struct Opened {
    /// The exact value of the first cookie (header and, with cookie storage, payload).
    pub(super) value: Box<str>,
    /// The exact values of the chunk cookies `<name>2` … in order (cookie storage only).
    pub(super) chunks: Vec<Box<str>>,
    /// The exact storage row (server-side storage only).
    pub(super) row: Option<Box<str>>,
    /// The verified header.
    pub(super) header: Header,
    /// Its 82 bytes.
    pub(super) header_bytes: [u8; HEADER_SIZE],
    /// What follows the header in the first cookie (cookie storage only).
    pub(super) initial_chunk: Option<Arc<str>>,
    /// The decrypted entries, shared copy-on-write with the sessions opened from them.
    pub(super) entries: Arc<Vec<Value>>,
    /// The index of the configured audience in `entries`.
    pub(super) index: usize,
    /// A plugin's parsed form of the data (see `Session::data_memo`).
    pub(super) memo: OnceLock<Arc<dyn Any + Send + Sync>>,
    /// Bytes counted in [`CACHED_BYTES`] for this entry (0 until it is cached).
    charged: usize,
}

impl fmt::Debug for Opened {
    /// Shows no cookie text or data.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Opened")
            .field("header", &self.header)
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

/// What the full open produced, to be cached.
pub(super) struct OpenedParts {
    pub(super) value: Box<str>,
    pub(super) chunks: Vec<Box<str>>,
    pub(super) row: Option<Box<str>>,
    pub(super) header: Header,
    pub(super) header_bytes: [u8; HEADER_SIZE],
    pub(super) initial_chunk: Option<Arc<str>>,
    pub(super) entries: Arc<Vec<Value>>,
    pub(super) index: usize,
    /// Length of the plaintext JSON the entries were parsed from.
    pub(super) plaintext_len: usize,
}

impl Opened {
    /// The bytes an entry is charged: its texts, twice its plaintext (parsed JSON is larger than
    /// its text), and [`ENTRY_OVERHEAD`].
    fn charge(parts: &OpenedParts) -> usize {
        let texts = parts.value.len()
            + parts.chunks.iter().map(|c| c.len()).sum::<usize>()
            + parts.row.as_ref().map_or(0, |r| r.len())
            + parts.initial_chunk.as_ref().map_or(0, |c| c.len());
        texts
            .saturating_add(parts.plaintext_len.saturating_mul(2))
            .saturating_add(ENTRY_OVERHEAD)
    }

    /// The cache key: the header's 110 characters.
    fn key(&self) -> &str {
        self.value.get(..HEADER_ENCODED_SIZE).unwrap_or_default()
    }
}

impl Drop for Opened {
    fn drop(&mut self) {
        if self.charged > 0 {
            CACHED_BYTES.fetch_sub(self.charged, Ordering::Relaxed);
        }
    }
}

type Shard = HashMap<Box<str>, Arc<Opened>>;

/// The cache of one session configuration (see the module docs).
pub struct OpenedCache {
    shards: [Mutex<Shard>; SHARDS],
}

impl Default for OpenedCache {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for OpenedCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenedCache")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl OpenedCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self {
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
        }
    }

    /// How many cookies are cached.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every entry (sessions opened from them keep working).
    pub fn clear(&self) {
        for shard in &self.shards {
            lock(shard).clear();
        }
    }

    fn shard(&self, key: &str) -> MutexGuard<'_, Shard> {
        // Characters 4..47 encode the random session id.
        let byte = key.as_bytes().get(8).copied().unwrap_or_default();
        lock(&self.shards[usize::from(byte) % SHARDS])
    }

    /// The entry of exactly this first-cookie value, if cached.
    pub(super) fn get(&self, value: &str) -> Option<Arc<Opened>> {
        let key = value.get(..HEADER_ENCODED_SIZE)?;
        let entry = self.shard(key).get(key).cloned()?;
        (*entry.value == *value).then_some(entry)
    }

    /// Caches what a full open produced (replacing an entry of the same header); returns the entry,
    /// or `None` when it did not fit (the session then works uncached).
    pub(super) fn insert(&self, parts: OpenedParts) -> Option<Arc<Opened>> {
        let key: Box<str> = parts.value.get(..HEADER_ENCODED_SIZE)?.into();
        let charge = Opened::charge(&parts);
        let mut shard = self.shard(&key);
        if let Some(old) = shard.remove(&key) {
            drop(old);
        }
        // At most one eviction per insert for each limit: random eviction, constant work.
        if shard.len() >= SHARD_CAPACITY {
            evict_one(&mut shard);
        }
        if CACHED_BYTES.load(Ordering::Relaxed).saturating_add(charge) > MAX_CACHED_BYTES {
            evict_one(&mut shard);
        }
        // Reserve the bytes; another cache may have taken the room meanwhile.
        let before = CACHED_BYTES.fetch_add(charge, Ordering::Relaxed);
        if before.saturating_add(charge) > MAX_CACHED_BYTES || shard.len() >= SHARD_CAPACITY {
            CACHED_BYTES.fetch_sub(charge, Ordering::Relaxed);
            return None;
        }
        let entry = Arc::new(Opened {
            value: parts.value,
            chunks: parts.chunks,
            row: parts.row,
            header: parts.header,
            header_bytes: parts.header_bytes,
            initial_chunk: parts.initial_chunk,
            entries: parts.entries,
            index: parts.index,
            memo: OnceLock::new(),
            charged: charge,
        });
        shard.insert(key, Arc::clone(&entry));
        Some(entry)
    }

    /// Drops `entry` if it is still the cached one for its header.
    pub(super) fn remove(&self, entry: &Arc<Opened>) {
        let key = entry.key();
        let mut shard = self.shard(key);
        if shard.get(key).is_some_and(|e| Arc::ptr_eq(e, entry)) {
            shard.remove(key);
        }
    }
}

/// Drops an arbitrary entry of a shard.
fn evict_one(shard: &mut Shard) {
    if let Some(victim) = shard.keys().next().cloned() {
        shard.remove(&victim);
    }
}

fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}
