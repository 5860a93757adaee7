//! `openid-connect`: makes the gateway an OpenID Connect relying party, after the documented
//! behaviour of Kong Enterprise's plugin of the same name (closed source; reference §5, devdocs
//! `app/_kong_plugins/openid-connect/`). Works with any standards-compliant provider: Keycloak,
//! or any issuer with a discovery document; `sub` is any string, `aud` a string or an array, and
//! provider errors are read as RFC 6749 §5.2 bodies.
//!
//! When it runs: in the access phase (priority 1050, after `session` and `key-auth`). It looks
//! for one credential after another in Kong's order and stops at the first one it finds:
//! session cookie → bearer JWT (verified locally) → introspection → refresh token → password →
//! client credentials. On success the upstream receives the access token
//! (`upstream_access_token_header`, default `Authorization: Bearer <token>`), the request is
//! authenticated, and, unless `disable_session` names the method, the client receives a session
//! cookie in lua-resty-session 4 format (see [`session`] for what the cookie stores).
//!
//! What the results mean:
//! * no credential, a rejected password, a bad or expired token, an inactive introspection
//!   result → **401** `{"message":"<unauthorized_error_message>"}` with
//!   `WWW-Authenticate: Bearer realm="kong"` (plus `error="invalid_token"` when a token was
//!   presented), unless `anonymous` names a consumer, who is then let through;
//! * `consumer_claim` set and no consumer matches → **403** `forbidden_error_message` (unless
//!   `consumer_optional`);
//! * the identity provider unreachable or answering garbage → **502** [`access::PROVIDER_UNREACHABLE`] /
//!   [`access::PROVIDER_INVALID`], or **504** [`access::PROVIDER_TIMEOUT`] when it does not answer within
//!   `timeout`. Kong documents no status for this; a gateway error says truthfully that the
//!   client did nothing wrong. The session is kept, so a short outage does not log users out.
//! * the session store (`session_storage: redis`) failing or not answering within its timeouts, and no
//!   other credential → **500** `An unexpected error occurred` (Kong's standard error body), not a 401
//!   that would tell the client it is logged out; the store logs the outage once per interval.
//! * a refresh token the provider refuses → the session is destroyed (expiring `Set-Cookie`) and
//!   the search goes on; with nothing else → 401.
//!
//! Without `consumer_claim` the request is authenticated with a credential and no consumer:
//! `ctx.credential = {id: <credential_claim, default sub>, consumer_id: ""}`, the upstream gets
//! `X-Credential-Identifier`, and `X-Anonymous-Consumer` is removed. So key-auth with `anonymous`
//! ("logical OR") and other credential-aware plugins see an authenticated request; the `session`
//! plugin does not issue its own cookie, as it needs a consumer.
//!
//! ## Compared with Kong's (Enterprise) plugin
//! Implemented: discovery (issuer or discovery URL) with JWKS caching and bounded re-discovery
//! (`rediscovery_lifetime`) on an unknown `kid` or a known `kid` whose key fails the signature; the `password`, `client_credentials` and `refresh_token` grants; `bearer` (RS*,
//! PS*, ES*, EdDSA JWTs); `introspection` (RFC 7662, cached per `cache_introspection`); `session`
//! with transparent refresh; `client_secret_basic` / `client_secret_post` / `none` client
//! authentication; `disable_session`; consumer mapping (`consumer_claim`, `consumer_by`,
//! `consumer_optional`, `credential_claim`); `anonymous`; claims-based authorization
//! (`scopes_required`, `audience_required`, `groups_required`, `roles_required` with their
//! `*_claim`, for every method: see [`claims`]); `token_post_args_names` / `_values`; `leeway`; the `session_*` cookie options (storage `cookie`, or
//! `kong` for this gateway's server-side store); logout by `logout_methods` with
//! `logout_query_arg` / `logout_post_arg` / `logout_uri_suffix` (200, or 302 to
//! `logout_redirect_uri`).
//!
//! Not implemented: the `authorization_code` redirect flow, `userinfo` and `kong_oauth2`
//! (accepted in `auth_methods`, but they never authenticate: a request that only they could
//! handle gets 401, and a missing-credential 401 logs that the redirect flow is not
//! implemented); `client_secret_jwt`, `private_key_jwt` and mTLS client authentication
//! (rejected by the schema); token revocation and RP-initiated logout at the provider;
//! `hide_credentials`, upstream/downstream headers other than the access token; `audience` (Kong
//! sends it to the authorization endpoint only); memcached session storage;
//! HS* tokens signed with the client secret. A password or client-credentials grant always removes
//! the `Authorization: Basic` header it consumed, so the user's password never reaches the upstream.
//!
//! Choices where Kong's documentation says nothing:
//! * `timeout` bounds each call to the provider (discovery, JWKS, token, introspection), so a first
//!   login that also discovers takes at most three timeouts.
//! * A session cookie is issued only when `session` is in `auth_methods` (nothing would read it
//!   otherwise); as in Kong, every other method issues one unless `disable_session` names it.
//! * Without `session_secret`, a random per-process secret: sessions end at a restart and are
//!   not shared between nodes. Set it for either.
//! * `session_cookie_secure: null` sets `Secure` only on requests that arrived over https; this
//!   gateway's listener is plain http, so behind TLS termination set it to `true`.
//! * A JWT access token must carry `exp` (RFC 9068); tokens from the token endpoint are used without
//!   checking their signature (OpenID Connect Core §3.1.3.7 lets the TLS channel stand in for it).
//! * The refresh-token flow reads `X-Refresh-Token` (or `refresh_token_param_name` with `_` as `-`)
//!   and the `refresh_token` query/body argument.

//!
//! The access phase is split by job: [`access`] (the search order and its outcome),
//! [`credentials`] (where each method looks in the request), [`session`] (logout, resuming a
//! session), [`grants`] (token endpoint grants), [`bearer`] (JWTs and introspection), [`login`]
//! (what an authentication produced).

pub mod access;
mod bearer;
pub mod claims;
pub mod client;
mod credentials;
pub mod discovery;
mod grants;
pub mod jwt;
mod login;
pub mod schema;
mod session;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use http::{HeaderName, HeaderValue};

use crate::pdk::{Ctx, Flow};
use crate::plugins::{Deps, Plugin};
use crate::resty_session::SessionConfig;

pub use discovery::Registry;
pub use schema::Config;

/// The realm of this plugin's `WWW-Authenticate: Bearer` challenges.
pub const REALM: &str = "kong";

/// The configured plugin: session configs, header names and challenges are built once.
pub struct OpenIdConnect {
    /// Boxed: the config is large and plugin instances live in one enum.
    config: Box<Config>,
    registry: Arc<Registry>,
    /// This issuer's discovery/JWKS cache (held here so the registry's eviction cannot split it).
    provider: Arc<discovery::Provider>,
    timeout: Duration,
    /// Session config for requests over plain http (and for every request when
    /// `session_cookie_secure` is set).
    session_plain: Arc<SessionConfig>,
    /// Session config for requests over https when `session_cookie_secure` is null.
    session_tls: Arc<SessionConfig>,
    /// `upstream_access_token_header`: the header and the scheme word before the token.
    upstream_header: Option<(HeaderName, Option<String>)>,
    challenge: HeaderValue,
    invalid_token_challenge: HeaderValue,
    /// Whether the "redirect flow not implemented" warning was logged (once per config).
    warned_no_redirect: AtomicBool,
}

impl std::fmt::Debug for OpenIdConnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenIdConnect")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl OpenIdConnect {
    /// The issuer's cache entry.
    fn provider(&self) -> &discovery::Provider {
        &self.provider
    }

    /// The issuer's discovery document, from the shared cache (fetched on first use).
    async fn discovered(
        &self,
        now: u64,
    ) -> Result<Arc<discovery::Discovered>, client::ProviderError> {
        let http = self.registry.http()?;
        self.provider().get(http, self.timeout, now).await
    }

    /// The `upstream_access_token_header` value for `token` (`None` when the option is unset or the
    /// token cannot be a header value).
    fn upstream_value(&self, token: &str) -> Option<HeaderValue> {
        let (_, scheme) = self.upstream_header.as_ref()?;
        let value = match scheme {
            Some(scheme) => format!("{scheme} {token}"),
            None => token.to_owned(),
        };
        HeaderValue::from_str(&value).ok()
    }

    /// The session config for this request's scheme.
    fn session_config(&self, ctx: &Ctx) -> Arc<SessionConfig> {
        let https = ctx.request.uri.scheme_str() == Some("https");
        if https && self.config.session_cookie_secure.is_none() {
            Arc::clone(&self.session_tls)
        } else {
            Arc::clone(&self.session_plain)
        }
    }
}

/// `authorization:bearer` → (`authorization`, `Bearer`); `x-token` → (`x-token`, none).
fn upstream_header(spec: &str) -> Option<(HeaderName, Option<String>)> {
    let (name, scheme) = match spec.split_once(':') {
        Some((name, scheme)) => (name, Some(scheme)),
        None => (spec, None),
    };
    let name = HeaderName::from_bytes(name.trim().as_bytes()).ok()?;
    let scheme = scheme.map(str::trim).filter(|s| !s.is_empty()).map(|s| {
        if s.eq_ignore_ascii_case("bearer") {
            "Bearer".to_owned()
        } else {
            s.to_owned()
        }
    });
    Some((name, scheme))
}

impl Plugin for OpenIdConnect {
    const NAME: &'static str = "openid-connect";
    const PRIORITY: i32 = 1050;
    const NO_CONSUMER: bool = true;
    type Config = Config;

    fn new(config: Config, deps: &Deps) -> Self {
        let plain = config.session_cookie_secure.unwrap_or(false);
        let session_plain = Arc::new(config.session_config(deps, plain));
        let session_tls = match config.session_cookie_secure {
            Some(_) => Arc::clone(&session_plain),
            None => Arc::new(config.session_config(deps, true)),
        };
        let upstream = config
            .upstream_access_token_header
            .as_deref()
            .and_then(upstream_header);
        let challenge = HeaderValue::from_str(&format!("Bearer realm=\"{REALM}\""))
            .unwrap_or(HeaderValue::from_static("Bearer"));
        let invalid_token_challenge = HeaderValue::from_str(&format!(
            "Bearer realm=\"{REALM}\", error=\"invalid_token\""
        ))
        .unwrap_or(HeaderValue::from_static("Bearer"));
        let provider = deps.openid_connect.provider(&config.issuer);
        Self {
            timeout: Duration::from_millis(config.timeout),
            config: Box::new(config),
            provider,
            registry: Arc::clone(&deps.openid_connect),
            session_plain,
            session_tls,
            upstream_header: upstream,
            challenge,
            invalid_token_challenge,
            warned_no_redirect: AtomicBool::new(false),
        }
    }

    async fn access(&self, ctx: &mut Ctx) -> Flow {
        access::execute(self, ctx).await
    }
}

#[cfg(test)]
mod tests;
