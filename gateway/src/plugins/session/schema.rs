//! Config of `session` (`kong/plugins/session/schema.lua`, Kong 3.10), including the deprecated
//! pre-3.2 names that Kong still accepts as shorthands.

use std::sync::{Arc, LazyLock};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::plugins::{Deps, Schema};
use crate::redacted::Redacted;
use crate::resty_session::{
    SameSite, SessionConfig, SessionHeader, SessionKey, StorageKind, defaults,
};
use crate::schema::SchemaViolation;

/// Kong's default secret: 32 random bytes, base64 with `/ + =` replaced by a random digit,
/// upper-case and lower-case letter (`schema.lua` lines 55-60). One per process, as in Kong.
static DEFAULT_SECRET: LazyLock<String> = LazyLock::new(|| {
    use base64::Engine;
    let mut bytes = [0u8; 35];
    let rng = ring::rand::SystemRandom::new();
    if ring::rand::SecureRandom::fill(&rng, &mut bytes).is_err() {
        // Without randomness a secret cannot be made safely: fall back to a fresh UUID's bytes.
        bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        bytes[16..32].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(&bytes[..32]);
    let (digit, upper, lower) = (
        b'0' + bytes[32] % 10,
        b'A' + bytes[33] % 26,
        b'a' + bytes[34] % 26,
    );
    encoded
        .bytes()
        .map(|b| match b {
            b'/' => digit as char,
            b'+' => upper as char,
            b'=' => lower as char,
            other => other as char,
        })
        .collect()
});

/// Accepts the pre-3.2 value `"off"` as `Lax`, as Kong's `cookie_samesite` shorthand does (only this
/// plugin's schema has that legacy value; `openid-connect` never had it).
fn same_site_or_off<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SameSite, D::Error> {
    use serde::de::IntoDeserializer;
    let value = String::deserialize(d)?;
    if value == "off" {
        return Ok(SameSite::Lax);
    }
    SameSite::deserialize(value.into_deserializer())
}

/// `logout_methods` entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogoutMethod {
    GET,
    POST,
    DELETE,
}

/// Kong's fields and defaults (the library options' defaults are [`defaults`]). `Debug` prints the
/// secret as `REDACTED`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub secret: Redacted<String>,
    pub storage: StorageKind,
    pub audience: String,
    // The timeouts are Kong `number`s (kong/plugins/session/schema.lua), kept as whole seconds.
    #[serde(
        alias = "cookie_idletime",
        deserialize_with = "crate::schema::number_as_seconds_null_zero"
    )]
    pub idling_timeout: u64,
    #[serde(
        alias = "cookie_lifetime",
        deserialize_with = "crate::schema::number_as_seconds"
    )]
    pub rolling_timeout: u64,
    #[serde(deserialize_with = "crate::schema::number_as_seconds")]
    pub absolute_timeout: u64,
    #[serde(
        alias = "cookie_discard",
        deserialize_with = "crate::schema::number_as_seconds"
    )]
    pub stale_ttl: u64,
    pub cookie_name: String,
    pub cookie_path: String,
    pub cookie_domain: Option<String>,
    #[serde(alias = "cookie_samesite", deserialize_with = "same_site_or_off")]
    pub cookie_same_site: SameSite,
    #[serde(alias = "cookie_httponly")]
    pub cookie_http_only: bool,
    pub cookie_secure: bool,
    #[serde(alias = "cookie_persistent")]
    pub remember: bool,
    pub remember_cookie_name: String,
    #[serde(deserialize_with = "crate::schema::number_as_seconds")]
    pub remember_rolling_timeout: u64,
    #[serde(deserialize_with = "crate::schema::number_as_seconds")]
    pub remember_absolute_timeout: u64,
    pub response_headers: Option<Vec<SessionHeader>>,
    pub request_headers: Option<Vec<SessionHeader>>,
    pub read_body_for_logout: bool,
    pub logout_methods: Vec<LogoutMethod>,
    pub logout_query_arg: String,
    pub logout_post_arg: String,
    pub hash_subject: bool,
    pub store_metadata: bool,
    /// Deprecated and ignored ("cookie_renew option does not exists anymore").
    #[serde(skip_serializing)]
    pub cookie_renew: Option<Value>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            secret: Redacted(DEFAULT_SECRET.clone()),
            storage: defaults::STORAGE,
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
            response_headers: None,
            request_headers: None,
            read_body_for_logout: false,
            logout_methods: vec![LogoutMethod::POST, LogoutMethod::DELETE],
            logout_query_arg: "session_logout".to_owned(),
            logout_post_arg: "session_logout".to_owned(),
            hash_subject: false,
            store_metadata: false,
            cookie_renew: None,
        }
    }
}

impl Schema for Config {
    fn validate(&self) -> Result<(), SchemaViolation> {
        if self.cookie_renew.is_some() {
            tracing::warn!("[session] cookie_renew option does not exists anymore");
        }
        let mut errors = SchemaViolation::default();
        if self.cookie_name.is_empty() {
            errors.push("cookie_name", "length must be at least 1");
        }
        if !self.cookie_path.starts_with('/') {
            errors.push("cookie_path", "should start with: /");
        }
        // Kong's session schema: `storage` is one of `cookie`, `kong` (`kong/plugins/session/schema.lua`).
        if self.storage == StorageKind::Redis {
            errors.push("storage", "expected one of: cookie, kong");
        }
        errors.into_result()
    }
}

impl Config {
    /// The library options Kong passes to `resty.session.open` (`session.lua` lines 26-48). The key's
    /// derived-key cache is the gateway's ([`Deps::session_keys`]), so it outlives this configuration.
    pub fn library_config(&self, deps: &Deps) -> SessionConfig {
        let key = SessionKey::from_secret(&self.secret).with_cache(Arc::clone(&deps.session_keys));
        let mut cfg = SessionConfig::new(key);
        cfg.audience = self.audience.clone();
        cfg.idling_timeout = self.idling_timeout;
        cfg.rolling_timeout = self.rolling_timeout;
        cfg.absolute_timeout = self.absolute_timeout;
        cfg.stale_ttl = self.stale_ttl;
        cfg.cookie_name = self.cookie_name.clone();
        cfg.cookie_path = self.cookie_path.clone();
        cfg.cookie_domain = self.cookie_domain.clone();
        cfg.cookie_same_site = self.cookie_same_site;
        cfg.cookie_http_only = self.cookie_http_only;
        cfg.cookie_secure = self.cookie_secure;
        cfg.remember = self.remember;
        cfg.remember_cookie_name = self.remember_cookie_name.clone();
        cfg.remember_rolling_timeout = self.remember_rolling_timeout;
        cfg.remember_absolute_timeout = self.remember_absolute_timeout;
        cfg.response_headers = self.response_headers.clone().unwrap_or_default();
        cfg.request_headers = self.request_headers.clone().unwrap_or_default();
        cfg.storage = self.storage.storage(&deps.session_storage);
        cfg.finish()
    }
}
