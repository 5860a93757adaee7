//! Config of `openid-connect`, with the names and defaults of Kong Enterprise's plugin
//! (devdocs `app/_schemas/gateway/plugins/3.10/OpenidConnect.json`, see reference §5).
//!
//! Kong declares `client_id`, `client_secret` and `client_auth` as arrays (one entry per client);
//! this schema accepts a single string as well and uses the first entry. Fields of Kong's plugin
//! that this gateway does not implement are unknown here, so a config that relies on them fails
//! with Kong's `unknown field` instead of being silently ignored.

use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, LazyLock};

use serde::de::{self, DeserializeOwned, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::plugins::{Deps, Schema};
use crate::redacted::Redacted;
use crate::resty_session::{
    SameSite, SessionConfig, SessionHeader, SessionKey, StorageKind, defaults,
};
use crate::schema::{REQUIRED_FIELD_MISSING, SchemaViolation};

/// 401 body message, Kong's default `unauthorized_error_message`.
pub const DEFAULT_UNAUTHORIZED: &str = "Unauthorized";
/// 403 body message, Kong's default `forbidden_error_message`.
pub const DEFAULT_FORBIDDEN: &str = "Forbidden";
/// `issuer` is not an absolute http(s) URL.
pub const INVALID_ISSUER: &str = "must be an absolute http or https URL";
/// An endpoint override is not an absolute http(s) URL.
pub const INVALID_ENDPOINT: &str = "must be an absolute http or https URL";
/// `auth_methods` is empty.
pub const EMPTY_AUTH_METHODS: &str = "length must be at least 1";
/// `timeout` is 0.
pub const TIMEOUT_ZERO: &str = "value must be greater than 0";
/// `client_auth` names a method this gateway does not implement.
pub const UNSUPPORTED_CLIENT_AUTH: &str =
    "only client_secret_basic, client_secret_post and none are supported by this gateway";
/// A secret-based `client_auth` without a `client_secret`.
pub const SECRET_REQUIRED: &str =
    "client_secret is required when client_auth is client_secret_basic or client_secret_post";
/// `upstream_access_token_header` is not `<header>` or `<header>:<scheme>`.
pub const BAD_UPSTREAM_HEADER: &str =
    "must be a header name, optionally followed by ':' and a scheme (e.g. authorization:bearer)";
/// `token_post_args_names` and `token_post_args_values` differ in length (this gateway's words:
/// Kong pairs them by position and documents no message).
pub const TOKEN_POST_ARGS_MISMATCH: &str =
    "must have as many values as token_post_args_names has names";
/// `consumer_claim` is set but `consumer_by` is empty.
pub const EMPTY_CONSUMER_BY: &str = "length must be at least 1 when consumer_claim is set";

/// The process-wide session secret used when `session_secret` is not set: 32 random bytes, so
/// sessions do not survive a restart and are not shared between nodes. Set `session_secret`
/// for either.
static DEFAULT_SESSION_SECRET: LazyLock<String> = LazyLock::new(|| {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).is_err() {
        bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
});

/// `auth_methods` / `disable_session` values: Kong's nine grant and credential names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    Password,
    ClientCredentials,
    AuthorizationCode,
    Bearer,
    Introspection,
    Userinfo,
    KongOauth2,
    RefreshToken,
    Session,
}

impl AuthMethod {
    /// Kong's default: every method.
    pub const ALL: [Self; 9] = [
        Self::Password,
        Self::ClientCredentials,
        Self::AuthorizationCode,
        Self::Bearer,
        Self::Introspection,
        Self::Userinfo,
        Self::KongOauth2,
        Self::RefreshToken,
        Self::Session,
    ];

    /// Kong's wire name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::ClientCredentials => "client_credentials",
            Self::AuthorizationCode => "authorization_code",
            Self::Bearer => "bearer",
            Self::Introspection => "introspection",
            Self::Userinfo => "userinfo",
            Self::KongOauth2 => "kong_oauth2",
            Self::RefreshToken => "refresh_token",
            Self::Session => "session",
        }
    }
}

/// Where a credential may be read from (`*_param_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    Header,
    Query,
    Body,
    Cookie,
}

/// `client_auth` values. Only the first three are implemented; the others are Kong's names,
/// accepted by the parser so that `validate` can say clearly that they are not supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    ClientSecretBasic,
    ClientSecretPost,
    None,
    ClientSecretJwt,
    PrivateKeyJwt,
    TlsClientAuth,
    SelfSignedTlsClientAuth,
}

/// `consumer_by` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsumerBy {
    Id,
    Username,
    CustomId,
}

/// `logout_methods` entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogoutMethod {
    GET,
    POST,
    PUT,
    PATCH,
    DELETE,
}

/// Kong's default for every `*_param_type`: searched in this order.
const KONG_PARAM_TYPES: [ParamType; 3] = [ParamType::Body, ParamType::Header, ParamType::Query];

/// Kong's fields and defaults. `Debug` prints secrets as `REDACTED`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The issuer identifier or its discovery document URL (required).
    pub issuer: String,
    /// Seconds between forced re-discoveries (an unknown `kid` triggers one at most this often).
    pub rediscovery_lifetime: u64,
    #[serde(deserialize_with = "one_or_many")]
    pub client_id: Option<Vec<String>>,
    #[serde(deserialize_with = "one_or_many")]
    pub client_secret: Option<Vec<Redacted<String>>>,
    #[serde(deserialize_with = "one_or_many")]
    pub client_auth: Option<Vec<ClientAuth>>,
    pub auth_methods: Vec<AuthMethod>,
    pub disable_session: Option<Vec<AuthMethod>>,
    /// Overrides the discovered `token_endpoint`.
    pub token_endpoint: Option<String>,
    /// Overrides the discovered `introspection_endpoint`.
    pub introspection_endpoint: Option<String>,
    pub introspection_hint: String,
    /// Cache active introspection results (until the token's `exp`, at most `cache_ttl` s).
    pub cache_introspection: bool,
    pub cache_ttl: u64,
    pub upstream_access_token_header: Option<String>,
    pub bearer_token_param_type: Vec<ParamType>,
    pub bearer_token_cookie_name: Option<String>,
    pub password_param_type: Vec<ParamType>,
    pub client_credentials_param_type: Vec<ParamType>,
    pub refresh_token_param_type: Vec<ParamType>,
    pub refresh_token_param_name: Option<String>,
    pub refresh_tokens: bool,
    pub scopes: Option<Vec<String>>,
    /// Kong: "The audience passed to the authorization endpoint" (EE `schema.lua`). This gateway
    /// has no authorization-code flow, so it is accepted and not sent anywhere; in particular it is
    /// not a token-endpoint form field (extra token-endpoint arguments go through
    /// `token_post_args_names` / `token_post_args_values`).
    #[serde(deserialize_with = "one_or_many")]
    pub audience: Option<Vec<String>>,
    /// Claims-based authorization (see [`super::claims`]): alternatives (OR) of space-separated
    /// values (AND) that the `*_claim` must hold.
    #[serde(deserialize_with = "one_or_many")]
    pub audience_required: Option<Vec<String>>,
    pub audience_claim: Vec<String>,
    #[serde(deserialize_with = "one_or_many")]
    pub scopes_required: Option<Vec<String>>,
    pub scopes_claim: Vec<String>,
    #[serde(deserialize_with = "one_or_many")]
    pub groups_required: Option<Vec<String>>,
    pub groups_claim: Vec<String>,
    #[serde(deserialize_with = "one_or_many")]
    pub roles_required: Option<Vec<String>>,
    pub roles_claim: Vec<String>,
    /// Extra form fields of every token-endpoint request, by position (Kong EE `schema.lua`:
    /// "Extra post argument names passed to the token endpoint.").
    pub token_post_args_names: Option<Vec<String>>,
    pub token_post_args_values: Option<Vec<String>>,
    pub unauthorized_error_message: String,
    pub forbidden_error_message: String,
    pub unauthorized_destroy_session: bool,
    pub anonymous: Option<String>,
    pub consumer_claim: Option<Vec<String>>,
    pub consumer_by: Vec<ConsumerBy>,
    pub consumer_optional: bool,
    pub credential_claim: Vec<String>,
    pub leeway: u64,
    pub session_secret: Option<Redacted<String>>,
    pub session_cookie_name: String,
    pub session_cookie_path: String,
    pub session_cookie_domain: Option<String>,
    pub session_cookie_same_site: SameSite,
    pub session_cookie_http_only: bool,
    /// `null`: `Secure` only on requests that arrived over https.
    pub session_cookie_secure: Option<bool>,
    #[serde(deserialize_with = "crate::schema::number_as_seconds")]
    pub session_idling_timeout: u64,
    #[serde(deserialize_with = "crate::schema::number_as_seconds")]
    pub session_rolling_timeout: u64,
    #[serde(deserialize_with = "crate::schema::number_as_seconds")]
    pub session_absolute_timeout: u64,
    pub session_remember: bool,
    pub session_remember_cookie_name: String,
    #[serde(deserialize_with = "crate::schema::number_as_seconds")]
    pub session_remember_rolling_timeout: u64,
    #[serde(deserialize_with = "crate::schema::number_as_seconds")]
    pub session_remember_absolute_timeout: u64,
    /// `cookie` (Kong's default), `redis` (Kong's, where the `redis` record says), or `kong`, this
    /// gateway's own server-side store; Kong's `memcache` is not offered.
    pub session_storage: StorageKind,
    /// Kong 3.8+'s Redis settings for `session_storage: redis` (formerly `session_redis_*`).
    pub redis: crate::store::redis::RedisConfig,
    pub session_audience: String,
    pub session_request_headers: Option<Vec<SessionHeader>>,
    pub session_response_headers: Option<Vec<SessionHeader>>,
    pub logout_methods: Vec<LogoutMethod>,
    pub logout_query_arg: Option<String>,
    pub logout_post_arg: Option<String>,
    pub logout_uri_suffix: Option<String>,
    #[serde(deserialize_with = "one_or_many")]
    pub logout_redirect_uri: Option<Vec<String>>,
    /// Milliseconds allowed for each call to the identity provider.
    pub timeout: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            issuer: String::new(),
            rediscovery_lifetime: 30,
            client_id: None,
            client_secret: None,
            client_auth: None,
            auth_methods: AuthMethod::ALL.to_vec(),
            disable_session: None,
            token_endpoint: None,
            introspection_endpoint: None,
            introspection_hint: "access_token".to_owned(),
            cache_introspection: true,
            cache_ttl: 3600,
            upstream_access_token_header: Some("authorization:bearer".to_owned()),
            bearer_token_param_type: KONG_PARAM_TYPES.to_vec(),
            bearer_token_cookie_name: None,
            password_param_type: KONG_PARAM_TYPES.to_vec(),
            client_credentials_param_type: KONG_PARAM_TYPES.to_vec(),
            refresh_token_param_type: KONG_PARAM_TYPES.to_vec(),
            refresh_token_param_name: None,
            refresh_tokens: true,
            scopes: Some(vec!["openid".to_owned()]),
            audience: None,
            audience_required: None,
            // Kong's `*_claim` defaults (EE `schema.lua`).
            audience_claim: vec!["aud".to_owned()],
            scopes_required: None,
            scopes_claim: vec!["scope".to_owned()],
            groups_required: None,
            groups_claim: vec!["groups".to_owned()],
            roles_required: None,
            roles_claim: vec!["roles".to_owned()],
            token_post_args_names: None,
            token_post_args_values: None,
            unauthorized_error_message: DEFAULT_UNAUTHORIZED.to_owned(),
            forbidden_error_message: DEFAULT_FORBIDDEN.to_owned(),
            unauthorized_destroy_session: true,
            anonymous: None,
            consumer_claim: None,
            consumer_by: vec![ConsumerBy::CustomId, ConsumerBy::Username],
            consumer_optional: false,
            credential_claim: vec!["sub".to_owned()],
            leeway: 0,
            session_secret: None,
            session_cookie_name: defaults::COOKIE_NAME.to_owned(),
            session_cookie_path: defaults::COOKIE_PATH.to_owned(),
            session_cookie_domain: None,
            session_cookie_same_site: SameSite::Lax,
            session_cookie_http_only: defaults::COOKIE_HTTP_ONLY,
            session_cookie_secure: None,
            session_idling_timeout: defaults::IDLING_TIMEOUT,
            session_rolling_timeout: defaults::ROLLING_TIMEOUT,
            session_absolute_timeout: defaults::ABSOLUTE_TIMEOUT,
            session_remember: defaults::REMEMBER,
            session_remember_cookie_name: defaults::REMEMBER_COOKIE_NAME.to_owned(),
            session_remember_rolling_timeout: defaults::REMEMBER_ROLLING_TIMEOUT,
            session_remember_absolute_timeout: defaults::REMEMBER_ABSOLUTE_TIMEOUT,
            session_storage: defaults::STORAGE,
            redis: crate::store::redis::RedisConfig::default(),
            session_audience: defaults::AUDIENCE.to_owned(),
            session_request_headers: None,
            session_response_headers: None,
            logout_methods: vec![LogoutMethod::POST, LogoutMethod::DELETE],
            logout_query_arg: None,
            logout_post_arg: None,
            logout_uri_suffix: None,
            logout_redirect_uri: None,
            timeout: 10_000,
        }
    }
}

fn is_http_url(text: &str) -> bool {
    url::Url::parse(text)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}

impl Schema for Config {
    fn validate(&self) -> Result<(), SchemaViolation> {
        let mut errors = SchemaViolation::default();
        if self.issuer.is_empty() {
            errors.push("issuer", REQUIRED_FIELD_MISSING);
        } else if !is_http_url(&self.issuer) {
            errors.push("issuer", INVALID_ISSUER);
        }
        for (field, value) in [
            ("token_endpoint", &self.token_endpoint),
            ("introspection_endpoint", &self.introspection_endpoint),
        ] {
            if value.as_deref().is_some_and(|v| !is_http_url(v)) {
                errors.push(field, INVALID_ENDPOINT);
            }
        }
        if self.auth_methods.is_empty() {
            errors.push("auth_methods", EMPTY_AUTH_METHODS);
        }
        self.redis.validate(&mut errors);
        if self.timeout == 0 {
            errors.push("timeout", TIMEOUT_ZERO);
        }
        if let Some(method) = self.client_auth.as_ref().and_then(|m| m.first()) {
            match method {
                ClientAuth::ClientSecretBasic | ClientAuth::ClientSecretPost => {
                    if self.client_id().is_some() && self.client_secret().is_none() {
                        errors.push("client_secret", SECRET_REQUIRED);
                    }
                }
                ClientAuth::None => {}
                _ => errors.push("client_auth", UNSUPPORTED_CLIENT_AUTH),
            }
        }
        if let Some(header) = &self.upstream_access_token_header {
            let name = header.split_once(':').map_or(header.as_str(), |(n, _)| n);
            if crate::schema::check_header_name(name).is_err() {
                errors.push("upstream_access_token_header", BAD_UPSTREAM_HEADER);
            }
        }
        if self.consumer_claim.as_ref().is_some_and(|c| !c.is_empty())
            && self.consumer_by.is_empty()
        {
            errors.push("consumer_by", EMPTY_CONSUMER_BY);
        }
        let count = |v: &Option<Vec<String>>| v.as_ref().map_or(0, Vec::len);
        if count(&self.token_post_args_names) != count(&self.token_post_args_values) {
            errors.push("token_post_args_values", TOKEN_POST_ARGS_MISMATCH);
        }
        for (field, path) in [
            ("audience_claim", &self.audience_claim),
            ("scopes_claim", &self.scopes_claim),
            ("groups_claim", &self.groups_claim),
            ("roles_claim", &self.roles_claim),
        ] {
            if path.is_empty() {
                errors.push(field, "length must be at least 1");
            }
        }
        if self.session_cookie_name.is_empty() {
            errors.push("session_cookie_name", "length must be at least 1");
        }
        if !self.session_cookie_path.starts_with('/') {
            errors.push("session_cookie_path", "should start with: /");
        }
        errors.into_result()
    }
}

/// One claims-based authorization option: Kong's name, the required values, the claim path.
pub type RequiredClaim<'a> = (&'static str, Option<&'a [String]>, &'a [String]);

impl Config {
    /// The claims-based authorization options: Kong's name, the required values, the claim path.
    pub fn required_claims(&self) -> [RequiredClaim<'_>; 4] {
        [
            (
                "scopes_required",
                self.scopes_required.as_deref(),
                &self.scopes_claim,
            ),
            (
                "audience_required",
                self.audience_required.as_deref(),
                &self.audience_claim,
            ),
            (
                "groups_required",
                self.groups_required.as_deref(),
                &self.groups_claim,
            ),
            (
                "roles_required",
                self.roles_required.as_deref(),
                &self.roles_claim,
            ),
        ]
    }

    /// `token_post_args_names` paired with `token_post_args_values` by position.
    pub fn token_post_args(&self) -> impl Iterator<Item = (&str, &str)> {
        let names = self.token_post_args_names.iter().flatten();
        let values = self.token_post_args_values.iter().flatten();
        names.zip(values).map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The first `client_id`, if any.
    pub fn client_id(&self) -> Option<&str> {
        self.client_id
            .as_ref()
            .and_then(|v| v.first())
            .map(String::as_str)
    }

    /// The first `client_secret`, if any.
    pub fn client_secret(&self) -> Option<&str> {
        self.client_secret
            .as_ref()
            .and_then(|v| v.first())
            .map(|s| s.as_str())
    }

    /// The client authentication method: the first `client_auth`, else `client_secret_basic` when
    /// there is a secret (RFC 6749 §2.3.1's method every server must support), else `none`.
    pub fn client_auth(&self) -> ClientAuth {
        match self.client_auth.as_ref().and_then(|m| m.first()) {
            Some(method) => *method,
            None if self.client_secret().is_some() => ClientAuth::ClientSecretBasic,
            None => ClientAuth::None,
        }
    }

    /// Whether `method` is in `auth_methods`.
    pub fn allows(&self, method: AuthMethod) -> bool {
        self.auth_methods.contains(&method)
    }

    /// Whether a successful `method` issues a session cookie: `session` must be enabled (a cookie
    /// nobody reads would be useless) and `disable_session` must not name the method.
    pub fn issues_session(&self, method: AuthMethod) -> bool {
        self.allows(AuthMethod::Session)
            && !self
                .disable_session
                .as_ref()
                .is_some_and(|d| d.contains(&method))
    }

    /// The session library config; `secure` is the `Secure` flag to use (see
    /// `session_cookie_secure`). The key's derived-key cache is the gateway's
    /// ([`Deps::session_keys`]), so it outlives this configuration.
    pub fn session_config(&self, deps: &Deps, secure: bool) -> SessionConfig {
        let secret = self
            .session_secret
            .as_ref()
            .map_or(DEFAULT_SESSION_SECRET.as_str(), |s| s.as_str());
        let key = SessionKey::from_secret(secret).with_cache(Arc::clone(&deps.session_keys));
        let mut cfg = SessionConfig::new(key);
        cfg.audience = self.session_audience.clone();
        cfg.idling_timeout = self.session_idling_timeout;
        cfg.rolling_timeout = self.session_rolling_timeout;
        cfg.absolute_timeout = self.session_absolute_timeout;
        cfg.cookie_name = self.session_cookie_name.clone();
        cfg.cookie_path = self.session_cookie_path.clone();
        cfg.cookie_domain = self.session_cookie_domain.clone();
        cfg.cookie_same_site = self.session_cookie_same_site;
        cfg.cookie_http_only = self.session_cookie_http_only;
        cfg.cookie_secure = secure;
        cfg.remember = self.session_remember;
        cfg.remember_cookie_name = self.session_remember_cookie_name.clone();
        cfg.remember_rolling_timeout = self.session_remember_rolling_timeout;
        cfg.remember_absolute_timeout = self.session_remember_absolute_timeout;
        cfg.request_headers = self.session_request_headers.clone().unwrap_or_default();
        cfg.response_headers = self.session_response_headers.clone().unwrap_or_default();
        cfg.storage = match self.session_storage {
            StorageKind::Redis => Some(
                deps.redis_sessions
                    .storage(&self.redis, &self.session_cookie_name),
            ),
            other => other.storage(&deps.session_storage),
        };
        cfg.finish()
    }
}

/// Accepts `null`, one value, or an array of values (Kong's arrays, written as a single string in
/// most docs and decK files).
fn one_or_many<'de, D, T>(deserializer: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    struct OneOrMany<T>(PhantomData<T>);

    impl<'de, T: DeserializeOwned> Visitor<'de> for OneOrMany<T> {
        type Value = Option<Vec<T>>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or an array")
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_any(self)
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            T::deserialize(de::value::StrDeserializer::<E>::new(v)).map(|one| Some(vec![one]))
        }

        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            Vec::<T>::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(Some)
        }
    }

    deserializer.deserialize_any(OneOrMany(PhantomData))
}
