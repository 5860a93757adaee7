//! The configuration of a session ([`SessionConfig`]): what Kong's plugins pass to
//! `resty.session.open{...}` (`kong/plugins/session/session.lua` lines 26-48), the library defaults
//! they leave alone (resty-session@4.0.5 `lib/resty/session.lua` lines 115-156), and the cookie
//! attributes that follow from it (`session.new`, lines 2475-2560).
//!
//! When it runs: a plugin builds one [`SessionConfig`] when its configuration is built, and shares it
//! in an `Arc` with every request's [`Session`](super::Session). Kong's defaults are in [`defaults`],
//! the one place the `session` plugin's schema and this library read them from.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::codec::{self, CookieKind, HeaderCheck, SessionKey};
use super::headers::SessionHeader;
use super::storage::Storage;

/// Kong's defaults for the options its `session` plugin passes to the library
/// (`kong/plugins/session/schema.lua`, Kong 3.10, schema lines in brackets), and the library's own
/// defaults for the options Kong does not pass. `openid-connect`'s `session_*` options have the same
/// defaults, except `session_cookie_same_site` (`Lax`) and `session_cookie_secure` (unset).
pub mod defaults {
    use super::{SameSite, StorageKind};

    /// `storage` (83-89): the session lives in the cookie.
    pub const STORAGE: StorageKind = StorageKind::Cookie;
    /// `audience` (92-97).
    pub const AUDIENCE: &str = "default";
    /// `idling_timeout` in seconds (100-104).
    pub const IDLING_TIMEOUT: u64 = 900;
    /// `rolling_timeout` in seconds (107-112).
    pub const ROLLING_TIMEOUT: u64 = 3600;
    /// `absolute_timeout` in seconds (115-120).
    pub const ABSOLUTE_TIMEOUT: u64 = 86400;
    /// `stale_ttl` in seconds (123-128).
    pub const STALE_TTL: u64 = 10;
    /// `cookie_name` (131-135).
    pub const COOKIE_NAME: &str = "session";
    /// `cookie_path` (138-142).
    pub const COOKIE_PATH: &str = "/";
    /// `cookie_same_site` (151); the library's own default would be `Lax`.
    pub const COOKIE_SAME_SITE: SameSite = SameSite::Strict;
    /// `cookie_http_only` (154-159).
    pub const COOKIE_HTTP_ONLY: bool = true;
    /// `cookie_secure` (162-167).
    pub const COOKIE_SECURE: bool = true;
    /// `remember` (170-174).
    pub const REMEMBER: bool = false;
    /// `remember_cookie_name` (177-181).
    pub const REMEMBER_COOKIE_NAME: &str = "remember";
    /// `remember_rolling_timeout` in seconds (184-188).
    pub const REMEMBER_ROLLING_TIMEOUT: u64 = 604_800;
    /// `remember_absolute_timeout` in seconds (191-195).
    pub const REMEMBER_ABSOLUTE_TIMEOUT: u64 = 2_592_000;
    /// Library default `touch_threshold` in seconds.
    pub const TOUCH_THRESHOLD: u64 = 60;
    /// Library default `compression_threshold` in bytes of JSON.
    pub const COMPRESSION_THRESHOLD: usize = 1024;
    /// Library default `hash_storage_key`.
    pub const HASH_STORAGE_KEY: bool = false;
}

/// `cookie_same_site` (and `openid-connect`'s `session_cookie_same_site`): Kong's four values, printed
/// in the cookie as given. Kong's `session` plugin also reads the legacy `"off"` as `Lax`; that
/// shorthand belongs to its schema, not here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SameSite {
    /// `SameSite=Strict`.
    Strict,
    /// `SameSite=Lax`.
    Lax,
    /// `SameSite=None`; forces `Secure`.
    None,
    /// `SameSite=Default`, printed as such (browsers ignore it).
    Default,
}

impl SameSite {
    /// The attribute value, printed as given (`Default` prints `SameSite=Default`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Strict => "Strict",
            Self::Lax => "Lax",
            Self::None => "None",
            Self::Default => "Default",
        }
    }
}

/// `storage` (and `openid-connect`'s `session_storage`): state in the cookie, or server-side in the
/// gateway's session store (Kong's `kong` storage).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageKind {
    /// Everything in the (encrypted) cookie.
    Cookie,
    /// The cookie holds the header, the gateway's store the ciphertext.
    Kong,
    /// The cookie holds the header, Redis the ciphertext (openid-connect only: its `redis` record
    /// says where; see [`crate::store::redis`]).
    Redis,
}

impl StorageKind {
    /// The server-side store to use (the gateway's `store` for `kong`), or `None` for cookie storage.
    pub fn storage(self, store: &Arc<Storage>) -> Option<Arc<Storage>> {
        match self {
            Self::Cookie => None,
            Self::Kong => Some(Arc::clone(store)),
            // Built by openid-connect from its `redis` record; the session plugin refuses it.
            Self::Redis => None,
        }
    }
}

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
    /// `cookie_same_site` (`Strict`). `None` forces `Secure`.
    pub cookie_same_site: SameSite,
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
    /// A configuration with Kong's [`defaults`] (`kong/plugins/session/schema.lua`) and resty's library
    /// defaults for what Kong does not set.
    pub fn new(key: SessionKey) -> Self {
        Self {
            key,
            audience: defaults::AUDIENCE.to_owned(),
            idling_timeout: defaults::IDLING_TIMEOUT,
            rolling_timeout: defaults::ROLLING_TIMEOUT,
            absolute_timeout: defaults::ABSOLUTE_TIMEOUT,
            stale_ttl: defaults::STALE_TTL,
            cookie_name: defaults::COOKIE_NAME.to_owned(),
            cookie_path: defaults::COOKIE_PATH.to_owned(),
            cookie_domain: None,
            cookie_same_site: defaults::COOKIE_SAME_SITE,
            cookie_http_only: defaults::COOKIE_HTTP_ONLY,
            cookie_secure: defaults::COOKIE_SECURE,
            remember: defaults::REMEMBER,
            remember_cookie_name: defaults::REMEMBER_COOKIE_NAME.to_owned(),
            remember_rolling_timeout: defaults::REMEMBER_ROLLING_TIMEOUT,
            remember_absolute_timeout: defaults::REMEMBER_ABSOLUTE_TIMEOUT,
            touch_threshold: defaults::TOUCH_THRESHOLD,
            compression_threshold: defaults::COMPRESSION_THRESHOLD,
            response_headers: Vec::new(),
            request_headers: Vec::new(),
            storage: None,
            hash_storage_key: defaults::HASH_STORAGE_KEY,
        }
    }

    /// resty `session.new`'s normalisation: `SameSite=None` forces `Secure`.
    #[must_use]
    pub fn finish(mut self) -> Self {
        if self.cookie_same_site == SameSite::None {
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
        attributes.push_str(self.cookie_same_site.as_str());
        if self.cookie_secure || self.cookie_same_site == SameSite::None {
            attributes.push_str("; Secure");
        }
        if self.cookie_http_only {
            attributes.push_str("; HttpOnly");
        }
        attributes
    }

    /// The name of the session or the remember cookie.
    pub(super) fn cookie_name(&self, kind: CookieKind) -> &str {
        match kind {
            CookieKind::Session => &self.cookie_name,
            CookieKind::Remember => &self.remember_cookie_name,
        }
    }

    /// What `open` checks a cookie's header against at `now` (resty lines 500-609): the session
    /// cookie's timeouts, or the remember cookie's.
    pub(super) fn header_check(&self, kind: CookieKind, now: u64) -> HeaderCheck {
        let (absolute_timeout, rolling_timeout) = match kind {
            CookieKind::Session => (self.absolute_timeout, self.rolling_timeout),
            CookieKind::Remember => (
                self.remember_absolute_timeout,
                self.remember_rolling_timeout,
            ),
        };
        HeaderCheck {
            storage: self.storage.is_some(),
            kind,
            absolute_timeout,
            rolling_timeout,
            idling_timeout: self.idling_timeout,
            now,
        }
    }

    /// The TTL of a storage row (resty lines 1084-1087): the rolling timeout of its cookie kind,
    /// clamped to 400 days.
    pub(super) fn storage_ttl(&self, kind: CookieKind) -> u64 {
        clamp_ttl(match kind {
            CookieKind::Session => self.rolling_timeout,
            CookieKind::Remember => self.remember_rolling_timeout,
        })
    }

    /// What follows the attributes of a cookie created at `creation_time`: nothing for the session
    /// cookie, `; Expires=…; Max-Age=…` for the remember cookie (lines 975-983).
    pub(super) fn expiry_flags(&self, kind: CookieKind, creation_time: u64) -> String {
        match kind {
            CookieKind::Session => String::new(),
            CookieKind::Remember => self.remember_flags(creation_time),
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
