//! A Rust port of the parts of lua-resty-session 4.0.5 that Kong's `session` plugin uses: the session
//! object (`open`, `save`, `refresh`, `touch`, `destroy`, `logout`, the `Session-*` headers), the v4
//! cookie format ([`codec`]), server-side storage ([`storage`]) and persistent "remember" cookies.
//!
//! When it runs: a plugin builds one [`SessionConfig`] per plugin configuration (wrapped in an `Arc`),
//! calls [`Session::open`] in the access phase with the request's `Cookie` header, and then
//! `refresh`/`logout`, or `save` in the header-filter phase. Every call that changes the session leaves
//! `Set-Cookie` values in [`Session::set_cookie_headers`], which the caller appends to the response.
//! The clock is always passed in (`now`, unix seconds), as resty reads `ngx.time()`.
//!
//! The data model is resty's: the plaintext is a JSON array with one `[data, audience, subject]` entry per
//! audience (a missing subject is left out, as cjson drops a trailing `nil`; empty data is `{}`), so one
//! cookie can carry sessions of several audiences. Plaintexts are parsed, never compared as bytes.
//!
//! Where things are: [`SessionConfig`] and Kong's defaults in `config.rs`; the session object and its
//! public calls here; the steps of `open` in `open.rs`, of `save` and `destroy` in `save.rs`; the
//! `Session-*` headers in `headers.rs`.
//!
//! Source: `lib/resty/session.lua` of bungle/lua-resty-session tag `v4.0.5`; Kong's storage adapter is
//! `kong/plugins/session/storage/kong.lua`.

pub mod codec;
mod config;
mod error;
mod headers;
mod json;
mod open;
mod opened;
mod save;
pub mod storage;

#[cfg(test)]
mod tests;

use std::any::Any;
use std::sync::Arc;

use serde_json::Value;

use codec::{CookieKind, SID_SIZE, VerifiedHeader};
pub use codec::{KeyCache, SessionKey};
pub use config::{SameSite, SessionConfig, StorageKind, defaults};
pub use error::{OpenError, SessionError};
pub use headers::SessionHeader;
pub use opened::{MAX_CACHED_BYTES, OpenedCache, cached_bytes};
pub use storage::{MemoryStore, Storage, StorageError};

/// resty's session states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not (successfully) opened, not saved yet.
    New,
    /// Opened or saved.
    Open,
    /// Destroyed or logged out.
    Closed,
}

/// What resty keeps in `self.meta` / `self.remember_meta` about the cookie last read or written.
#[derive(Debug, Clone)]
struct Meta {
    /// `now` when the cookie was opened or written.
    timestamp: u64,
    flags: u16,
    sid: [u8; SID_SIZE],
    creation_time: u64,
    rolling_offset: u64,
    data_size: usize,
    idling_offset: u64,
    header: [u8; codec::HEADER_SIZE],
    /// What follows the header in the first cookie (cookie storage only).
    initial_chunk: Option<Arc<str>>,
}

impl Meta {
    /// The meta of a cookie whose header was verified at `now`.
    fn opened(verified: &VerifiedHeader, initial_chunk: Option<Arc<str>>, now: u64) -> Self {
        Self::of_header(&verified.header, verified.bytes, initial_chunk, now)
    }

    /// The meta of a header (decoded and its raw bytes) verified at `now` or before.
    fn of_header(
        header: &codec::Header,
        bytes: [u8; codec::HEADER_SIZE],
        initial_chunk: Option<Arc<str>>,
        now: u64,
    ) -> Self {
        Self {
            timestamp: now,
            flags: header.flags,
            sid: header.sid,
            creation_time: header.creation_time,
            rolling_offset: header.rolling_offset,
            data_size: header.data_size,
            idling_offset: header.idling_offset,
            header: bytes,
            initial_chunk,
        }
    }
}

/// One request's session. Create it with [`Session::open`] (or [`Session::new`] for a fresh one).
#[derive(Debug, Clone)]
pub struct Session {
    cfg: Arc<SessionConfig>,
    state: State,
    /// `[[data, audience, subject?], …]`, shared copy-on-write with the cache of opened cookies.
    entries: Arc<Vec<Value>>,
    index: usize,
    meta: Option<Meta>,
    remember_meta: Option<Meta>,
    set_cookies: Vec<String>,
    /// The request's Cookie header, kept only when remember cookies are on (they are read lazily).
    cookie_header: Option<String>,
    /// The cache entry of the cookie this session was opened from (dropped from the cache when the
    /// session is saved, destroyed or logged out).
    opened: Option<Arc<opened::Opened>>,
}

impl Session {
    /// A new, empty session for the configured audience (resty `session.new`).
    pub fn new(cfg: Arc<SessionConfig>) -> Self {
        let entry = Value::Array(vec![
            Value::Object(serde_json::Map::new()),
            Value::String(cfg.audience.clone()),
        ]);
        Self {
            cfg,
            state: State::New,
            entries: Arc::new(vec![entry]),
            index: 0,
            meta: None,
            remember_meta: None,
            set_cookies: Vec::new(),
            cookie_header: None,
            opened: None,
        }
    }

    /// resty `session.open`: reads the session cookie from `cookie_header` (all request `Cookie` headers
    /// joined with `"; "`), checks it and decrypts it. The session is returned either way; on error it is
    /// a new session that can still be saved (keeping, like resty, the creation time of a cookie whose
    /// header was valid, and the other audiences' entries on `missing session audience`).
    ///
    /// With `remember`, a failed session cookie falls back to a valid remember cookie, which re-issues
    /// both cookies.
    pub async fn open(
        cfg: Arc<SessionConfig>,
        cookie_header: Option<&str>,
        now: u64,
    ) -> (Session, Result<(), OpenError>) {
        let mut session = Session::new(cfg);
        if session.cfg.remember {
            session.cookie_header = cookie_header.map(str::to_owned);
        }
        let result = session.open_with_remember(cookie_header, now).await;
        (session, result)
    }

    /// Whether the session is open (opened from a valid cookie, or saved).
    pub fn is_open(&self) -> bool {
        self.state == State::Open
    }

    /// The current audience's data (`session:get_data()`).
    pub fn data(&self) -> Option<&Value> {
        self.entry().and_then(|entry| entry.first())
    }

    /// A parsed form of the current audience's data, made by `make` once per cached cookie and shared
    /// by every request that sends that cookie (see the cache of opened cookies, `opened.rs`); made
    /// afresh when the session is not from the cache or its data changed. `make` returns `None` for
    /// data it cannot use (that is not remembered).
    ///
    /// One type per session configuration: a plugin's parse of its own data.
    pub fn data_memo<T, F>(&self, make: F) -> Option<Arc<T>>
    where
        T: Any + Send + Sync,
        F: FnOnce(&Value) -> Option<T>,
    {
        let cached = self
            .opened
            .as_ref()
            .filter(|opened| Arc::ptr_eq(&opened.entries, &self.entries));
        if let Some(opened) = cached
            && let Some(memo) = opened.memo.get()
            && let Ok(parsed) = Arc::clone(memo).downcast::<T>()
        {
            return Some(parsed);
        }
        let parsed = Arc::new(make(self.data()?)?);
        if let Some(opened) = cached {
            let memo: Arc<dyn Any + Send + Sync> = Arc::clone(&parsed) as _;
            let _ = opened.memo.set(memo);
        }
        Some(parsed)
    }

    /// The current audience's subject.
    pub fn subject(&self) -> Option<&str> {
        self.entry()
            .and_then(|entry| entry.get(2))
            .and_then(Value::as_str)
    }

    /// The current audience.
    pub fn audience(&self) -> &str {
        self.entry()
            .and_then(|entry| entry.get(1))
            .and_then(Value::as_str)
            .unwrap_or(&self.cfg.audience)
    }

    /// Replaces the current audience's data (`session:set_data`). Kong stores
    /// `[consumer_id, credential_id, groups?]`; leave a missing `groups` out rather than writing `null`,
    /// as a Lua `nil` would be.
    pub fn set_data(&mut self, data: Value) {
        if let Some(entry) = self.entry_mut() {
            match entry.first_mut() {
                Some(slot) => *slot = data,
                None => entry.push(data),
            }
        }
    }

    /// Sets or clears the current audience's subject (`session:set_subject`).
    pub fn set_subject(&mut self, subject: Option<String>) {
        if let Some(entry) = self.entry_mut() {
            match subject {
                Some(subject) => {
                    while entry.len() < 2 {
                        entry.push(Value::Null);
                    }
                    entry.truncate(2);
                    entry.push(Value::String(subject));
                }
                None => entry.truncate(2),
            }
        }
    }

    /// The session id as `base64url` (43 characters), once the session has been opened or saved.
    pub fn id(&self) -> Option<String> {
        self.meta
            .as_ref()
            .map(|meta| codec::encode_base64url(&meta.sid))
    }

    /// The `Set-Cookie` values produced so far by `save`, `refresh`, `touch`, `destroy` and `logout`
    /// (a later cookie of the same name replaces an earlier one, as resty's `merge_cookies` does).
    /// Append them to the response, replacing any `Set-Cookie` of the same name.
    pub fn set_cookie_headers(&self) -> &[String] {
        &self.set_cookies
    }

    /// resty `session:save()`: a new session id and a new cookie (keeping the creation time when the
    /// session existed); with `remember`, also a new persistent cookie (whose failure is only logged).
    pub async fn save(&mut self, now: u64) -> Result<(), SessionError> {
        if self.state == State::Closed {
            return Err(SessionError::State("unable to save closed session"));
        }
        self.save_kind(now, None, CookieKind::Session).await?;
        if self.remembers() {
            if self.remember_meta.is_none() {
                let _ = self.open_remember_meta(now).await;
            }
            if let Err(err) = self.save_kind(now, None, CookieKind::Remember).await {
                tracing::warn!(error = %err, "[session] unable to save persistent session");
            }
        }
        Ok(())
    }

    /// resty `session:refresh()` (lines 1989-2018), called on every request with a valid session: `save`
    /// when more than `ceil(0.75 * rolling_timeout)` seconds passed since the last save, else `touch`
    /// when more than `touch_threshold` seconds passed since the last touch, else nothing. Elapsed times
    /// are measured at the time the session was opened, as resty does.
    pub async fn refresh(&mut self, now: u64) -> Result<(), SessionError> {
        const ERR: &str = "unable to refresh nonexistent or closed session";
        if self.state != State::Open {
            return Err(SessionError::State(ERR));
        }
        let (rolling_timeout, idling_timeout) = (self.cfg.rolling_timeout, self.cfg.idling_timeout);
        if rolling_timeout == 0 && idling_timeout == 0 {
            return Ok(());
        }
        let meta = self.meta.as_ref().ok_or(SessionError::State(ERR))?;
        let rolling_elapsed = i128::from(meta.timestamp)
            - i128::from(meta.creation_time)
            - i128::from(meta.rolling_offset);
        // resty aliases `floor = math.ceil`: the renewal threshold is rounded up.
        let renew_after = (3 * i128::from(rolling_timeout) + 3) / 4;
        if rolling_timeout > 0 && rolling_elapsed > renew_after {
            return self.save_kind(now, None, CookieKind::Session).await;
        }
        if idling_timeout > 0
            && rolling_elapsed - i128::from(meta.idling_offset)
                > i128::from(self.cfg.touch_threshold)
        {
            return self.touch(now);
        }
        Ok(())
    }

    /// resty `session:touch()` (lines 1938-1975): re-sends the session cookie with a new idling offset and
    /// MAC; session id, tag and payload stay the same, and storage is not called.
    pub fn touch(&mut self, now: u64) -> Result<(), SessionError> {
        const ERR: &str = "unable to touch nonexistent or closed session";
        if self.state != State::Open {
            return Err(SessionError::State(ERR));
        }
        let cfg = Arc::clone(&self.cfg);
        let meta = self.meta.as_mut().ok_or(SessionError::State(ERR))?;
        let idling_offset = now
            .saturating_sub(meta.creation_time)
            .saturating_sub(meta.rolling_offset)
            .min(codec::MAX_IDLING_OFFSET);
        let header = codec::touch_header(&cfg.key, &meta.header, idling_offset)?;
        meta.idling_offset = idling_offset;
        meta.header = header;
        let header_b64 = codec::encode_base64url(&header);
        let name = &cfg.cookie_name;
        let attributes = cfg.attributes();
        let value = match (&cfg.storage, &meta.initial_chunk) {
            (None, Some(chunk)) => format!("{name}={header_b64}{chunk}{attributes}"),
            _ => format!("{name}={header_b64}{attributes}"),
        };
        codec::merge_set_cookie(&mut self.set_cookies, name, value);
        Ok(())
    }

    /// resty `session:destroy()`: expiring cookies (`name=; <attributes>; Expires=Thu, 01 Jan 1970
    /// 00:00:01 GMT; Max-Age=0`, one per chunk) and the storage row deleted; the remember cookie too.
    pub async fn destroy(&mut self, now: u64) -> Result<(), SessionError> {
        if self.state != State::Open {
            return Err(SessionError::State(
                "unable to destroy nonexistent or closed session",
            ));
        }
        self.destroy_kind(CookieKind::Session).await?;
        if self.remembers() {
            if self.remember_meta.is_none() && self.open_remember_meta(now).await.is_err() {
                return Ok(());
            }
            self.destroy_kind(CookieKind::Remember).await?;
        }
        Ok(())
    }

    /// resty `session:logout()`: with only this audience in the cookie it is [`destroy`](Self::destroy);
    /// otherwise this audience's entry is removed and the session saved for the others.
    pub async fn logout(&mut self, now: u64) -> Result<(), SessionError> {
        if self.state != State::Open {
            return Err(SessionError::State(
                "unable to logout nonexistent or closed session",
            ));
        }
        if self.entries.len() == 1 {
            return self.destroy(now).await;
        }
        if self.index < self.entries.len() {
            Arc::make_mut(&mut self.entries).remove(self.index);
        }
        self.save_kind(now, Some(State::Closed), CookieKind::Session)
            .await?;
        self.index = self.entries.len();
        if self.remembers() {
            if self.remember_meta.is_none() {
                let _ = self.open_remember_meta(now).await;
            }
            if let Err(err) = self.save_kind(now, None, CookieKind::Remember).await {
                tracing::warn!(error = %err, "[session] unable to save persistent session");
            }
        }
        Ok(())
    }

    fn entry(&self) -> Option<&Vec<Value>> {
        self.entries.get(self.index).and_then(Value::as_array)
    }

    /// The current entry, for writing: the entries are copied first when the cache shares them.
    fn entry_mut(&mut self) -> Option<&mut Vec<Value>> {
        Arc::make_mut(&mut self.entries)
            .get_mut(self.index)
            .and_then(Value::as_array_mut)
    }

    /// Drops the cache entry this session was opened from: its cookie is being replaced or ended.
    fn forget_opened(&mut self) {
        if let Some(opened) = self.opened.take() {
            self.cfg.opened.remove(&opened);
        }
    }

    /// resty `get_remember`: on unless the session cookie carries the FORGET flag.
    fn remembers(&self) -> bool {
        if self
            .meta
            .as_ref()
            .is_some_and(|m| m.flags & codec::FLAG_FORGET != 0)
        {
            return false;
        }
        self.cfg.remember
    }

    /// What resty keeps about the session cookie or the remember cookie.
    fn meta_of(&self, kind: CookieKind) -> Option<&Meta> {
        match kind {
            CookieKind::Session => self.meta.as_ref(),
            CookieKind::Remember => self.remember_meta.as_ref(),
        }
    }

    fn set_meta(&mut self, kind: CookieKind, meta: Meta) {
        match kind {
            CookieKind::Session => self.meta = Some(meta),
            CookieKind::Remember => self.remember_meta = Some(meta),
        }
    }
}
