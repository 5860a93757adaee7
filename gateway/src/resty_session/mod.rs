//! A Rust port of the parts of lua-resty-session 4.0.5 that Kong's `session` plugin uses: the session
//! object (`open`, `save`, `refresh`, `touch`, `destroy`, `logout`, the `Session-*` headers), the v4
//! cookie format ([`codec`]), server-side storage ([`storage`]) and persistent "remember" cookies.
//!
//! When it runs: the session plugin builds one [`SessionConfig`] per plugin configuration (wrapped in an
//! `Arc`), calls [`Session::open`] in the access phase with the request's `Cookie` header, and then
//! `refresh`/`logout`, or `save` in the header-filter phase. Every call that changes the session leaves
//! `Set-Cookie` values in [`Session::set_cookie_headers`], which the caller appends to the response.
//! The clock is always passed in (`now`, unix seconds), as resty reads `ngx.time()`.
//!
//! The data model is resty's: the plaintext is a JSON array with one `[data, audience, subject]` entry per
//! audience (a missing subject is left out, as cjson drops a trailing `nil`; empty data is `{}`), so one
//! cookie can carry sessions of several audiences. Plaintexts are parsed, never compared as bytes.
//!
//! Source: `lib/resty/session.lua` of bungle/lua-resty-session tag `v4.0.5`; Kong's storage adapter is
//! `kong/plugins/session/storage/kong.lua`.

pub mod codec;
mod error;
mod json;
pub mod storage;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use ring::rand::SecureRandom as _;
use serde_json::Value;

pub use codec::SessionKey;
use codec::{CookieKind, HeaderCheck, SID_SIZE};
pub use error::{OpenError, SessionError};
pub use storage::{MemoryStore, Storage, StorageError};

/// The configuration of a session: what Kong's plugin passes to `resty.session.open{...}` plus the
/// library defaults it leaves alone. Build it once per plugin configuration (with [`SessionConfig::new`]
/// and Kong's defaults, or as a struct literal), call [`finish`](Self::finish), and share it in an `Arc`.
#[derive(Debug)]
pub struct SessionConfig {
    /// Key material (from the plugin's `secret`).
    pub key: SessionKey,
    /// `audience`, Kong default `"default"`.
    pub audience: String,
    /// `idling_timeout` in seconds (900); 0 disables.
    pub idling_timeout: u64,
    /// `rolling_timeout` in seconds (3600); 0 disables.
    pub rolling_timeout: u64,
    /// `absolute_timeout` in seconds (86400); 0 disables.
    pub absolute_timeout: u64,
    /// `stale_ttl` in seconds (10): how long a renewed session's old storage row stays readable.
    pub stale_ttl: u64,
    /// `cookie_name` (`"session"`).
    pub cookie_name: String,
    /// `cookie_path` (`"/"`).
    pub cookie_path: String,
    /// `cookie_domain` (none). `localhost` and the empty string print no `Domain`.
    pub cookie_domain: Option<String>,
    /// `cookie_same_site`, printed as given (`"Strict"`). `"None"` forces `Secure`.
    pub cookie_same_site: String,
    /// `cookie_http_only` (true).
    pub cookie_http_only: bool,
    /// `cookie_secure` (true).
    pub cookie_secure: bool,
    /// `remember` (false): also issue a persistent cookie.
    pub remember: bool,
    /// `remember_cookie_name` (`"remember"`).
    pub remember_cookie_name: String,
    /// `remember_rolling_timeout` in seconds (604800), also the remember cookie's `Max-Age`.
    pub remember_rolling_timeout: u64,
    /// `remember_absolute_timeout` in seconds (2592000).
    pub remember_absolute_timeout: u64,
    /// Library default `touch_threshold` (60): `refresh` touches only after this many idle seconds.
    pub touch_threshold: u64,
    /// Library default `compression_threshold` (1024 bytes of JSON); 0 disables compression.
    pub compression_threshold: usize,
    /// `response_headers`, in order.
    pub response_headers: Vec<SessionHeader>,
    /// `request_headers`, in order.
    pub request_headers: Vec<SessionHeader>,
    /// Server-side storage (`storage = "kong"`), or `None` for cookie storage.
    pub storage: Option<Arc<Storage>>,
    /// Library default `hash_storage_key` (false): key rows by `base64url(SHA-256(sid))`.
    pub hash_storage_key: bool,
}

impl SessionConfig {
    /// A configuration with Kong's defaults (`kong/plugins/session/schema.lua`) and resty's library
    /// defaults for what Kong does not set.
    pub fn new(key: SessionKey) -> Self {
        Self {
            key,
            audience: "default".to_owned(),
            idling_timeout: 900,
            rolling_timeout: 3600,
            absolute_timeout: 86400,
            stale_ttl: 10,
            cookie_name: "session".to_owned(),
            cookie_path: "/".to_owned(),
            cookie_domain: None,
            cookie_same_site: "Strict".to_owned(),
            cookie_http_only: true,
            cookie_secure: true,
            remember: false,
            remember_cookie_name: "remember".to_owned(),
            remember_rolling_timeout: 604_800,
            remember_absolute_timeout: 2_592_000,
            touch_threshold: 60,
            compression_threshold: 1024,
            response_headers: Vec::new(),
            request_headers: Vec::new(),
            storage: None,
            hash_storage_key: false,
        }
    }

    /// resty `session.new`'s normalisation: `SameSite=None` forces `Secure`.
    #[must_use]
    pub fn finish(mut self) -> Self {
        if self.cookie_same_site == "None" {
            self.cookie_secure = true;
        }
        self
    }

    /// The cookie attributes appended to every Set-Cookie, in resty's order (`session.new`,
    /// lines 2526-2551): `; Domain=` (unless unset, empty or `localhost`), `; Path=…; SameSite=…`,
    /// `; Secure` (also forced by `SameSite=None`), `; HttpOnly`. Kong's defaults give
    /// `; Path=/; SameSite=Strict; Secure; HttpOnly`.
    ///
    /// Built on each call (a few dozen bytes, only when a cookie is written), so that the configuration
    /// stays a plain struct of public fields.
    pub fn attributes(&self) -> String {
        let mut attributes = String::with_capacity(64);
        if let Some(domain) = self
            .cookie_domain
            .as_deref()
            .filter(|d| !d.is_empty() && *d != "localhost")
        {
            attributes.push_str("; Domain=");
            attributes.push_str(domain);
        }
        attributes.push_str("; Path=");
        attributes.push_str(&self.cookie_path);
        attributes.push_str("; SameSite=");
        attributes.push_str(&self.cookie_same_site);
        if self.cookie_secure || self.cookie_same_site == "None" {
            attributes.push_str("; Secure");
        }
        if self.cookie_http_only {
            attributes.push_str("; HttpOnly");
        }
        attributes
    }

    fn cookie_name(&self, kind: CookieKind) -> &str {
        match kind {
            CookieKind::Session => &self.cookie_name,
            CookieKind::Remember => &self.remember_cookie_name,
        }
    }

    /// The `; Expires=…; Max-Age=…` of a remember cookie created at `creation_time` (lines 975-983).
    fn remember_flags(&self, creation_time: u64) -> String {
        let max_age = clamp_ttl(self.remember_rolling_timeout);
        let expires = UNIX_EPOCH
            .checked_add(Duration::from_secs(creation_time.saturating_add(max_age)))
            .unwrap_or(UNIX_EPOCH);
        format!(
            "; Expires={}; Max-Age={max_age}",
            httpdate::fmt_http_date(expires)
        )
    }
}

/// 0 or more than 400 days → 400 days (resty's `MAX_TTL`).
fn clamp_ttl(ttl: u64) -> u64 {
    if ttl == 0 || ttl > codec::MAX_TTL {
        codec::MAX_TTL
    } else {
        ttl
    }
}

/// A session property that can be sent as a header (Kong's `response_headers` / `request_headers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SessionHeader {
    /// `id` → `Session-Id`: base64url of the session id.
    Id,
    /// `audience` → `Session-Audience`.
    Audience,
    /// `subject` → `Session-Subject` (not sent when there is no subject).
    Subject,
    /// `timeout` → `Session-Timeout`: the smallest remaining of the enabled timeouts.
    Timeout,
    /// `idling-timeout` → `Session-Idling-Timeout`: seconds left before the idling timeout.
    IdlingTimeout,
    /// `rolling-timeout` → `Session-Rolling-Timeout`.
    RollingTimeout,
    /// `absolute-timeout` → `Session-Absolute-Timeout`.
    AbsoluteTimeout,
}

impl SessionHeader {
    /// Every header, in Kong's schema order.
    pub const ALL: [Self; 7] = [
        Self::Id,
        Self::Audience,
        Self::Subject,
        Self::Timeout,
        Self::IdlingTimeout,
        Self::RollingTimeout,
        Self::AbsoluteTimeout,
    ];

    /// The name used in Kong's configuration, e.g. `idling-timeout`.
    pub const fn wire_name(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::Audience => "audience",
            Self::Subject => "subject",
            Self::Timeout => "timeout",
            Self::IdlingTimeout => "idling-timeout",
            Self::RollingTimeout => "rolling-timeout",
            Self::AbsoluteTimeout => "absolute-timeout",
        }
    }

    /// The HTTP header name (resty `HEADERS`, lines 181-192).
    pub const fn header_name(self) -> &'static str {
        match self {
            Self::Id => "Session-Id",
            Self::Audience => "Session-Audience",
            Self::Subject => "Session-Subject",
            Self::Timeout => "Session-Timeout",
            Self::IdlingTimeout => "Session-Idling-Timeout",
            Self::RollingTimeout => "Session-Rolling-Timeout",
            Self::AbsoluteTimeout => "Session-Absolute-Timeout",
        }
    }

    /// Parses a configuration name (`id`, `audience`, …, `absolute-timeout`).
    pub fn from_wire(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|h| h.wire_name() == name)
    }
}

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
    initial_chunk: Option<String>,
}

/// One request's session. Create it with [`Session::open`] (or [`Session::new`] for a fresh one).
#[derive(Debug, Clone)]
pub struct Session {
    cfg: Arc<SessionConfig>,
    state: State,
    /// `[[data, audience, subject?], …]`
    entries: Vec<Value>,
    index: usize,
    meta: Option<Meta>,
    remember_meta: Option<Meta>,
    set_cookies: Vec<String>,
    /// The request's Cookie header, kept only when remember cookies are on (they are read lazily).
    cookie_header: Option<String>,
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
            entries: vec![entry],
            index: 0,
            meta: None,
            remember_meta: None,
            set_cookies: Vec::new(),
            cookie_header: None,
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
            self.entries.remove(self.index);
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

    /// The configured `response_headers` with their values (resty `set_headers`), in configuration
    /// order; headers without a value (no subject, a disabled timeout) are left out. Empty unless the
    /// session is open.
    pub fn response_headers(&self, now: u64) -> Vec<(&'static str, String)> {
        self.property_headers(&self.cfg.response_headers, now)
    }

    /// The configured `request_headers` with their values, for the upstream request.
    pub fn request_headers(&self, now: u64) -> Vec<(&'static str, String)> {
        self.property_headers(&self.cfg.request_headers, now)
    }

    fn property_headers(&self, headers: &[SessionHeader], now: u64) -> Vec<(&'static str, String)> {
        if self.state != State::Open {
            return Vec::new();
        }
        headers
            .iter()
            .filter_map(|&header| {
                self.property(header, now)
                    .map(|value| (header.header_name(), value))
            })
            .collect()
    }

    /// resty `get_property`. Timeouts are measured at the time the session was opened or saved (resty's
    /// `meta.timestamp`); `now` stands in only for a session that has neither been opened nor saved.
    fn property(&self, header: SessionHeader, now: u64) -> Option<String> {
        let (timestamp, creation, rolling, idling) = match &self.meta {
            Some(m) => (
                m.timestamp,
                m.creation_time,
                m.rolling_offset,
                m.idling_offset,
            ),
            None => (now, now, 0, 0),
        };
        let (timestamp, creation, rolling, idling) = (
            i128::from(timestamp),
            i128::from(creation),
            i128::from(rolling),
            i128::from(idling),
        );
        let cfg = &self.cfg;
        let idling_left = (cfg.idling_timeout > 0)
            .then(|| i128::from(cfg.idling_timeout) - (timestamp - creation - rolling - idling));
        let rolling_left = (cfg.rolling_timeout > 0)
            .then(|| i128::from(cfg.rolling_timeout) - (timestamp - creation - rolling));
        let absolute_left = (cfg.absolute_timeout > 0)
            .then(|| i128::from(cfg.absolute_timeout) - (timestamp - creation));
        match header {
            SessionHeader::Id => self.id(),
            SessionHeader::Audience => Some(self.audience().to_owned()),
            SessionHeader::Subject => self.subject().map(str::to_owned),
            SessionHeader::Timeout => [idling_left, rolling_left, absolute_left]
                .into_iter()
                .flatten()
                .min()
                .map(|t| t.to_string()),
            SessionHeader::IdlingTimeout => idling_left.map(|t| t.to_string()),
            SessionHeader::RollingTimeout => rolling_left.map(|t| t.to_string()),
            SessionHeader::AbsoluteTimeout => absolute_left.map(|t| t.to_string()),
        }
    }

    fn entry(&self) -> Option<&Vec<Value>> {
        self.entries.get(self.index).and_then(Value::as_array)
    }

    fn entry_mut(&mut self) -> Option<&mut Vec<Value>> {
        self.entries
            .get_mut(self.index)
            .and_then(Value::as_array_mut)
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

    /// resty `metatable:open()` (lines 1808-1840).
    async fn open_with_remember(
        &mut self,
        cookie_header: Option<&str>,
        now: u64,
    ) -> Result<(), OpenError> {
        let err = match self
            .open_kind(CookieKind::Session, false, cookie_header, now)
            .await
        {
            Ok(()) => return Ok(()),
            Err(err @ OpenError::MissingAudience) => return Err(err),
            Err(err) => err,
        };
        if !self.cfg.remember {
            return Err(err);
        }
        if self
            .open_kind(CookieKind::Remember, false, cookie_header, now)
            .await
            .is_err()
        {
            return Err(err);
        }
        self.save_kind(now, None, CookieKind::Remember).await?;
        self.state = State::New;
        self.meta = None;
        self.save_kind(now, Some(State::Open), CookieKind::Session)
            .await?;
        Ok(())
    }

    /// Reads the remember cookie's header only (resty `open(self, true, true)`), to learn its creation
    /// time and id before re-writing or destroying it.
    async fn open_remember_meta(&mut self, now: u64) -> Result<(), OpenError> {
        let cookie_header = self.cookie_header.take();
        let result = self
            .open_kind(CookieKind::Remember, true, cookie_header.as_deref(), now)
            .await;
        self.cookie_header = cookie_header;
        result
    }

    /// resty's local `open(self, remember, meta_only)` (lines 436-813).
    async fn open_kind(
        &mut self,
        kind: CookieKind,
        meta_only: bool,
        cookie_header: Option<&str>,
        now: u64,
    ) -> Result<(), OpenError> {
        let cfg = Arc::clone(&self.cfg);
        let name = cfg.cookie_name(kind);
        let cookie_header = cookie_header.unwrap_or_default();
        let value = codec::request_cookie(cookie_header, name).ok_or(OpenError::MissingCookie)?;
        let (absolute_timeout, rolling_timeout) = match kind {
            CookieKind::Session => (cfg.absolute_timeout, cfg.rolling_timeout),
            CookieKind::Remember => (cfg.remember_absolute_timeout, cfg.remember_rolling_timeout),
        };
        let check = HeaderCheck {
            storage: cfg.storage.is_some(),
            kind,
            absolute_timeout,
            rolling_timeout,
            idling_timeout: cfg.idling_timeout,
            now,
        };
        let verified = codec::verify_header(&cfg.key, value, &check)?;
        let header = &verified.header;

        let (ciphertext, initial_chunk) = match &cfg.storage {
            Some(storage) => {
                let key = codec::storage_key(&header.sid, cfg.hash_storage_key);
                let row = storage
                    .get(&key, now)
                    .await
                    .map_err(|e| OpenError::Storage(e.to_string()))?
                    .ok_or(OpenError::StorageMissing)?;
                let row: Value = serde_json::from_str(&row)
                    .map_err(|e| OpenError::StorageJson(e.to_string()))?;
                let text = row
                    .get(0)
                    .and_then(Value::as_str)
                    .ok_or(OpenError::InvalidPayload)?;
                let ciphertext = codec::decode_payload(&verified, text.as_bytes())?;
                (ciphertext, None)
            }
            None => {
                let payload = codec::cookie_payload(cookie_header, name, value, header.data_size)?;
                let ciphertext = codec::decode_payload(&verified, &payload.ciphertext)?;
                let initial_chunk = String::from_utf8_lossy(payload.initial_chunk).into_owned();
                (ciphertext, Some(initial_chunk))
            }
        };

        let meta = Meta {
            timestamp: now,
            flags: header.flags,
            sid: header.sid,
            creation_time: header.creation_time,
            rolling_offset: header.rolling_offset,
            data_size: header.data_size,
            idling_offset: header.idling_offset,
            header: verified.bytes,
            initial_chunk,
        };
        match kind {
            CookieKind::Session => self.meta = Some(meta),
            CookieKind::Remember => self.remember_meta = Some(meta),
        }
        if meta_only {
            return Ok(());
        }

        let plaintext = codec::decrypt(&cfg.key, &verified, ciphertext)?;
        let data: Value =
            serde_json::from_slice(&plaintext).map_err(|e| OpenError::Json(e.to_string()))?;
        let Value::Array(mut entries) = data else {
            return Err(OpenError::Json("session data is not an array".to_owned()));
        };
        let audience = self.audience().to_owned();
        let found = entries
            .iter()
            .position(|entry| entry.get(1).and_then(Value::as_str) == Some(audience.as_str()));
        match found {
            Some(index) => {
                self.entries = entries;
                self.index = index;
                self.state = State::Open;
                Ok(())
            }
            None => {
                if let Some(current) = self.entries.get(self.index) {
                    entries.push(current.clone());
                }
                self.index = entries.len().saturating_sub(1);
                self.entries = entries;
                self.state = State::New;
                Err(OpenError::MissingAudience)
            }
        }
    }

    /// resty's local `save(self, state, remember)` (lines 816-1147).
    async fn save_kind(
        &mut self,
        now: u64,
        state: Option<State>,
        kind: CookieKind,
    ) -> Result<(), SessionError> {
        let cfg = Arc::clone(&self.cfg);
        let name = cfg.cookie_name(kind);
        let old = match kind {
            CookieKind::Session => self.meta.as_ref(),
            CookieKind::Remember => self.remember_meta.as_ref(),
        };
        let storage = cfg.storage.as_deref();

        let mut flags = if storage.is_some() {
            codec::FLAG_STORAGE
        } else {
            0
        };
        let mut sid = [0u8; SID_SIZE];
        ring::rand::SystemRandom::new()
            .fill(&mut sid)
            .map_err(|_| SessionError::Random)?;
        let (creation_time, rolling_offset) = match old {
            Some(old) => (old.creation_time, now.saturating_sub(old.creation_time)),
            None => (now, 0),
        };
        if old.is_some_and(|old| old.flags & codec::FLAG_FORGET != 0) {
            flags |= codec::FLAG_FORGET;
        }

        let json = json::encode_array(&self.entries);
        let plaintext = codec::prepare_plaintext(&json, cfg.compression_threshold);
        let chunks = if storage.is_some() {
            if plaintext.data_size > codec::MAX_DATA_SIZE {
                return Err(SessionError::DataSizeExceeded);
            }
            1
        } else {
            codec::cookie_chunks(name.len(), plaintext.data_size)
                .ok_or(SessionError::CookieSizeLimit)?
        };
        let params = codec::SealParams {
            sid,
            flags,
            creation_time,
            rolling_offset,
            idling_offset: 0,
            kind,
        };
        let sealed = codec::seal_prepared(&cfg.key, &params, &plaintext)?;
        if plaintext.deflated {
            flags |= codec::FLAG_DEFLATE;
        }

        let extra = match kind {
            CookieKind::Session => String::new(),
            CookieKind::Remember => cfg.remember_flags(creation_time),
        };
        let payload = storage.is_none().then_some(sealed.payload_b64.as_str());
        let attributes = cfg.attributes();
        let built = codec::session_cookies(name, &sealed.header_b64, payload, &attributes, &extra)?;
        let mut set_cookies = self.set_cookies.clone();
        for (cookie_name, value) in built.cookies {
            codec::merge_set_cookie(&mut set_cookies, &cookie_name, value);
        }

        match storage {
            Some(storage) => {
                let key = codec::storage_key(&sid, cfg.hash_storage_key);
                let row = json::encode_array(&[Value::String(sealed.payload_b64.clone())]);
                let row = String::from_utf8_lossy(&row);
                let ttl = clamp_ttl(match kind {
                    CookieKind::Session => cfg.rolling_timeout,
                    CookieKind::Remember => cfg.remember_rolling_timeout,
                });
                storage
                    .set(&key, &row, ttl, now)
                    .await
                    .map_err(SessionError::Store)?;
                if let Some(old) = old {
                    // Kong's adapter: a renewed session's old row stays readable for `stale_ttl`; an old
                    // remember row is deleted. Failures are only logged.
                    let old_key = codec::storage_key(&old.sid, cfg.hash_storage_key);
                    let result = match kind {
                        CookieKind::Session => storage.expire(&old_key, cfg.stale_ttl, now).await,
                        CookieKind::Remember => storage.delete(&old_key).await,
                    };
                    if let Err(err) = result {
                        tracing::info!(error = %err, "[session] unable to expire the previous session row");
                    }
                }
            }
            None => {
                // Expire chunks the previous, longer cookie used and this one does not.
                let old_chunks =
                    old.and_then(|old| codec::cookie_chunks(name.len(), old.data_size));
                if let Some(old_chunks) = old_chunks {
                    for i in chunks + 1..=old_chunks {
                        let chunk_name = format!("{name}{i}");
                        let expired = codec::expired_cookie(&chunk_name, &attributes);
                        codec::merge_set_cookie(&mut set_cookies, &chunk_name, expired);
                    }
                }
            }
        }
        self.set_cookies = set_cookies;

        let meta = Meta {
            timestamp: now,
            flags,
            sid,
            creation_time,
            rolling_offset,
            data_size: plaintext.data_size,
            idling_offset: 0,
            header: sealed.header,
            initial_chunk: built.initial_chunk,
        };
        match kind {
            CookieKind::Session => {
                self.state = state.unwrap_or(State::Open);
                self.meta = Some(meta);
            }
            CookieKind::Remember => self.remember_meta = Some(meta),
        }
        Ok(())
    }

    /// resty's local `destroy(self, remember)` (lines 1188-1250).
    async fn destroy_kind(&mut self, kind: CookieKind) -> Result<(), SessionError> {
        let cfg = Arc::clone(&self.cfg);
        let name = cfg.cookie_name(kind);
        let meta = match kind {
            CookieKind::Session => self.meta.as_ref(),
            CookieKind::Remember => self.remember_meta.as_ref(),
        };
        let chunks = match (&cfg.storage, meta) {
            (None, Some(meta)) => codec::cookie_chunks(name.len(), meta.data_size)
                .ok_or(SessionError::CookieSizeLimit)?,
            _ => 1,
        };
        let attributes = cfg.attributes();
        let mut set_cookies = self.set_cookies.clone();
        codec::merge_set_cookie(
            &mut set_cookies,
            name,
            codec::expired_cookie(name, &attributes),
        );
        for i in 2..=chunks {
            let chunk_name = format!("{name}{i}");
            let expired = codec::expired_cookie(&chunk_name, &attributes);
            codec::merge_set_cookie(&mut set_cookies, &chunk_name, expired);
        }
        if let (Some(storage), Some(meta)) = (&cfg.storage, meta) {
            let key = codec::storage_key(&meta.sid, cfg.hash_storage_key);
            match storage.delete(&key).await {
                Ok(true) => {}
                Ok(false) => return Err(SessionError::DestroyMissing),
                Err(err) => return Err(SessionError::Destroy(err)),
            }
        }
        self.set_cookies = set_cookies;
        self.state = State::Closed;
        Ok(())
    }
}
