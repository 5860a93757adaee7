//! Access phase of `openid-connect`: finds the first credential in Kong's order, turns it into an
//! access token, maps the consumer, issues or renews the session and prepares the upstream request.
//!
//! The session cookie (lua-resty-session 4 format, `session_*` options) stores a [`SessionData`]
//! object as the data of its `session_audience` entry, with the token's `sub` as the session
//! subject: the access token, the refresh token, when the access token expires (gateway time),
//! the id token when the data stays under [`ID_TOKEN_BUDGET`] bytes with it, the credential and
//! consumer-claim values used for consumer mapping, and the method that logged in. Cookie storage
//! encrypts it (AES-256-GCM), so tokens never appear in clear on the client.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use http::header::{AUTHORIZATION, LOCATION, SET_COOKIE, WWW_AUTHENTICATE};
use http::{HeaderName, HeaderValue, Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::OpenIdConnect;
use super::client::{self, Call, CallError, Client, ProviderError, TokenResponse};
use super::discovery::Discovered;
use super::jwt::{self, ClaimCheck, JwtError};
use super::schema::{AuthMethod, ClientAuth, Config, ConsumerBy, LogoutMethod, ParamType};
use crate::model::Consumer;
use crate::pdk::{Credential, Ctx, Exit, Flow, QueryArg, headers};
use crate::resty_session::Session;
use crate::snapshot::Snapshot;

/// 502: the identity provider refused the connection, failed TLS, or could not be resolved.
pub const PROVIDER_UNREACHABLE: &str = "The identity provider could not be reached";
/// 502: the identity provider answered with an error status or something that is not the protocol.
pub const PROVIDER_INVALID: &str = "An invalid response was received from the identity provider";
/// 504: the identity provider did not answer within `timeout`.
pub const PROVIDER_TIMEOUT: &str = "The identity provider is timing out";
/// 500: a config that cannot work at run time (e.g. a grant without `client_id`).
pub const UNEXPECTED: &str = "An unexpected error occurred";
/// The id token is stored in the session only while the session data stays this small, so that
/// the cookie usually fits in one 4 KB chunk.
pub const ID_TOKEN_BUDGET: usize = 2900;

/// Headers that may carry a bearer token besides `Authorization` (Kong's `header` param type).
const TOKEN_HEADERS: [&str; 2] = ["access-token", "x-access-token"];
/// The refresh-token header when `refresh_token_param_name` is not set.
const REFRESH_TOKEN_HEADER: &str = "x-refresh-token";

/// What the session cookie stores (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionData {
    pub access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Unix seconds (gateway clock) after which the access token is refreshed before use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consumer_keys: Vec<String>,
    /// The method that created the session.
    pub method: AuthMethod,
}

impl SessionData {
    fn new(login: &Login, method: AuthMethod) -> Self {
        let mut data = Self {
            access_token: login.tokens.access_token.clone(),
            refresh_token: login.tokens.refresh_token.clone(),
            expires_at: login.tokens.expires_at,
            id_token: None,
            credential: login.identity.credential.clone(),
            consumer_keys: login.identity.consumer_keys.clone(),
            method,
        };
        if let Some(id_token) = &login.tokens.id_token {
            let size = serde_json::to_vec(&data).map_or(usize::MAX, |v| v.len());
            if size.saturating_add(id_token.len()) <= ID_TOKEN_BUDGET {
                data.id_token = Some(id_token.clone());
            }
        }
        data
    }

    fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    fn login(self, subject: Option<String>) -> Login {
        Login {
            method: AuthMethod::Session,
            identity: Identity {
                subject,
                credential: self.credential,
                consumer_keys: self.consumer_keys,
            },
            tokens: Tokens {
                access_token: self.access_token,
                refresh_token: self.refresh_token,
                expires_at: self.expires_at,
                id_token: self.id_token,
            },
            consumed_basic: false,
        }
    }
}

/// A cached introspection result.
#[derive(Debug)]
pub struct Introspected {
    claims: Map<String, Value>,
    expires_at: Option<u64>,
    cached_at: u64,
}

#[derive(Debug, Clone, Default)]
struct Tokens {
    access_token: String,
    refresh_token: Option<String>,
    expires_at: Option<u64>,
    id_token: Option<String>,
}

/// Who the token says the caller is.
#[derive(Debug, Clone, Default)]
struct Identity {
    subject: Option<String>,
    /// `credential_claim`'s value.
    credential: Option<String>,
    /// `consumer_claim`'s values.
    consumer_keys: Vec<String>,
}

/// A successful authentication.
#[derive(Debug)]
struct Login {
    method: AuthMethod,
    tokens: Tokens,
    identity: Identity,
    /// The `Authorization: Basic` header held the credentials of a grant.
    consumed_basic: bool,
}

/// Why authentication did not succeed.
enum Failure {
    /// 401 (or the anonymous consumer).
    Unauthorized { invalid_token: bool, reason: String },
    /// 502 / 504.
    Provider(ProviderError),
    /// 500.
    Internal(&'static str),
    /// A finished response (logout).
    Respond(Box<Exit>),
}

impl From<ProviderError> for Failure {
    fn from(err: ProviderError) -> Self {
        Self::Provider(err)
    }
}

/// The sessions of this request.
#[derive(Default)]
struct Sessions {
    /// The session that authenticated this request or was saved for it.
    current: Option<Session>,
    /// A valid session whose tokens can no longer be used, or one that was logged out.
    stale: Option<Session>,
    /// The object of a cookie that did not open, reused when a new session is saved.
    fresh: Option<Session>,
}

impl Sessions {
    /// Every `Set-Cookie` the sessions produced; a later cookie of a name replaces an earlier one.
    fn cookies(&self) -> Vec<String> {
        let mut cookies: Vec<String> = Vec::new();
        for session in [self.stale.as_ref(), self.current.as_ref()]
            .into_iter()
            .flatten()
        {
            for cookie in session.set_cookie_headers() {
                let name = cookie.split('=').next().unwrap_or_default();
                match cookies
                    .iter_mut()
                    .find(|c| c.split('=').next() == Some(name))
                {
                    Some(slot) => slot.clone_from(cookie),
                    None => cookies.push(cookie.clone()),
                }
            }
        }
        cookies
    }
}

/// Runs the plugin.
pub async fn execute(plugin: &OpenIdConnect, ctx: &mut Ctx) -> Flow {
    let conf = &plugin.config;
    if conf.anonymous.is_some() && ctx.credential.is_some() {
        // "logical OR": another plugin already authenticated the request.
        return Flow::Continue;
    }
    let mut sessions = Sessions::default();
    let flow = match authenticate(plugin, ctx, &mut sessions).await {
        Ok(login) => authorized(plugin, ctx, &mut sessions, login).await,
        Err(Failure::Unauthorized {
            invalid_token,
            reason,
        }) => unauthorized(plugin, ctx, &mut sessions, invalid_token, &reason).await,
        Err(Failure::Provider(err)) => Flow::Respond(provider_exit(ctx, &err)),
        Err(Failure::Internal(reason)) => {
            tracing::error!(reason, "openid-connect: cannot authenticate");
            let request_id = ctx.request_id().to_owned();
            Flow::Respond(Exit::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                UNEXPECTED,
                &request_id,
            ))
        }
        Err(Failure::Respond(exit)) => Flow::Respond(*exit),
    };
    for cookie in sessions.cookies() {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            ctx.response_headers.append(SET_COOKIE, value);
        }
    }
    flow
}

/// Kong's search order; the first credential found decides.
async fn authenticate(
    plugin: &OpenIdConnect,
    ctx: &mut Ctx,
    sessions: &mut Sessions,
) -> Result<Login, Failure> {
    let conf = &plugin.config;
    let logout_configured = conf.logout_query_arg.is_some()
        || conf.logout_post_arg.is_some()
        || conf.logout_uri_suffix.is_some();
    if (conf.allows(AuthMethod::Session) || logout_configured)
        && let Some(login) = from_session(plugin, ctx, sessions, logout_configured).await?
    {
        return Ok(login);
    }
    if (conf.allows(AuthMethod::Bearer) || conf.allows(AuthMethod::Introspection))
        && let Some(token) = find_bearer(conf, ctx).await
    {
        return bearer(plugin, ctx.now, &token).await;
    }
    if conf.allows(AuthMethod::RefreshToken)
        && let Some(refresh_token) = find_refresh_token(conf, ctx).await
    {
        let response = refresh(plugin, ctx.now, &refresh_token).await?;
        return Ok(login_from_tokens(
            conf,
            AuthMethod::RefreshToken,
            response,
            ctx.now,
        ));
    }
    if conf.allows(AuthMethod::Password)
        && let Some((username, password, from_header)) =
            find_pair(ctx, &conf.password_param_type, "username", "password").await
    {
        let mut form = vec![
            ("grant_type", "password".to_owned()),
            ("username", username),
            ("password", password),
        ];
        add_scope_and_audience(conf, &mut form);
        let client = configured_client(conf)?;
        let response = grant(plugin, ctx.now, client, form)
            .await
            .map_err(|e| rejected(e, "password grant"))?;
        let mut login = login_from_tokens(conf, AuthMethod::Password, response, ctx.now);
        login.consumed_basic = from_header;
        return Ok(login);
    }
    if conf.allows(AuthMethod::ClientCredentials)
        && let Some((id, secret, from_header)) = find_pair(
            ctx,
            &conf.client_credentials_param_type,
            "client_id",
            "client_secret",
        )
        .await
    {
        let mut form = vec![("grant_type", "client_credentials".to_owned())];
        add_scope_and_audience(conf, &mut form);
        let auth = match conf.client_auth() {
            ClientAuth::ClientSecretPost => ClientAuth::ClientSecretPost,
            _ => ClientAuth::ClientSecretBasic,
        };
        let client = Client {
            id: &id,
            secret: Some(&secret),
            auth,
        };
        let response = grant(plugin, ctx.now, client, form)
            .await
            .map_err(|e| rejected(e, "client credentials grant"))?;
        let mut login = login_from_tokens(conf, AuthMethod::ClientCredentials, response, ctx.now);
        login.consumed_basic = from_header;
        return Ok(login);
    }
    if conf.allows(AuthMethod::AuthorizationCode) {
        if plugin.warned_no_redirect.swap(true, Ordering::Relaxed) {
            tracing::debug!("openid-connect: authorization_code redirect flow not implemented");
        } else {
            tracing::warn!(
                "openid-connect: no credentials; auth_methods includes authorization_code, but the redirect flow is not implemented, so the request gets 401 (restrict auth_methods to silence this)"
            );
        }
    }
    Err(Failure::Unauthorized {
        invalid_token: false,
        reason: "no credentials".to_owned(),
    })
}

/// The session cookie: logout, then the stored tokens (refreshed when expired).
async fn from_session(
    plugin: &OpenIdConnect,
    ctx: &mut Ctx,
    sessions: &mut Sessions,
    logout_configured: bool,
) -> Result<Option<Login>, Failure> {
    let conf = &plugin.config;
    let cookies = cookie_header(ctx);
    let (mut session, opened) =
        Session::open(plugin.session_config(ctx), cookies.as_deref(), ctx.now).await;
    if let Err(reason) = &opened {
        tracing::debug!(%reason, "openid-connect: session not present");
    }
    if logout_configured && is_logout(conf, ctx).await {
        if opened.is_ok() {
            if let Err(err) = session.logout(ctx.now).await {
                tracing::warn!(%err, "openid-connect: session logout failed");
            }
            sessions.stale = Some(session);
        }
        return Err(Failure::Respond(Box::new(logout_exit(conf))));
    }
    let data = match (&opened, conf.allows(AuthMethod::Session)) {
        (Ok(()), true) => session
            .data()
            .and_then(|d| SessionData::deserialize(d).ok()),
        _ => None,
    };
    let Some(data) = data else {
        sessions.fresh = Some(session);
        return Ok(None);
    };
    match resume(plugin, ctx, &mut session, data).await {
        Ok(login) => {
            sessions.current = Some(session);
            Ok(Some(login))
        }
        Err(Resume::Unusable(reason)) => {
            tracing::info!(reason, "openid-connect: session tokens unusable");
            sessions.stale = Some(session);
            Ok(None)
        }
        Err(Resume::Failed(failure)) => {
            sessions.current = Some(session);
            Err(failure)
        }
    }
}

enum Resume {
    /// The session cannot authenticate any more (expired, refresh refused).
    Unusable(&'static str),
    /// Nothing is known about the session (the provider is down).
    Failed(Failure),
}

/// Uses a valid session: refreshes an expired access token, renews the cookie.
async fn resume(
    plugin: &OpenIdConnect,
    ctx: &mut Ctx,
    session: &mut Session,
    data: SessionData,
) -> Result<Login, Resume> {
    let conf = &plugin.config;
    let now = ctx.now;
    let expired = data
        .expires_at
        .is_some_and(|exp| now.saturating_add(conf.leeway) >= exp);
    if !expired {
        if let Err(err) = session.refresh(now).await {
            tracing::debug!(%err, "openid-connect: session renewal failed");
        }
        let subject = session.subject().map(str::to_owned);
        return Ok(data.login(subject));
    }
    let Some(refresh_token) = data.refresh_token.clone().filter(|_| conf.refresh_tokens) else {
        return Err(Resume::Unusable("access token expired, no refresh token"));
    };
    let response = match refresh(plugin, now, &refresh_token).await {
        Ok(response) => response,
        Err(Failure::Unauthorized { .. }) => {
            return Err(Resume::Unusable("refresh token rejected"));
        }
        Err(failure) => return Err(Resume::Failed(failure)),
    };
    let mut login = login_from_tokens(conf, AuthMethod::Session, response, now);
    if login.tokens.refresh_token.is_none() {
        // RFC 6749 §6: the provider may keep the old refresh token valid.
        login.tokens.refresh_token = Some(refresh_token);
    }
    session.set_data(SessionData::new(&login, data.method).to_value());
    session.set_subject(login.identity.subject.clone());
    if let Err(err) = session.save(now).await {
        tracing::error!(%err, "openid-connect: session save failed");
    }
    tracing::debug!("openid-connect: access token refreshed behind the session");
    Ok(login)
}

/// `grant_type=refresh_token` with the configured client.
async fn refresh(
    plugin: &OpenIdConnect,
    now: u64,
    refresh_token: &str,
) -> Result<TokenResponse, Failure> {
    let client = configured_client(&plugin.config)?;
    let form = vec![
        ("grant_type", "refresh_token".to_owned()),
        ("refresh_token", refresh_token.to_owned()),
    ];
    grant(plugin, now, client, form)
        .await
        .map_err(|e| rejected(e, "refresh token grant"))
}

/// A bearer token: a JWT verified locally, else (or for a JWT signed by an unknown key)
/// introspection.
async fn bearer(plugin: &OpenIdConnect, now: u64, token: &str) -> Result<Login, Failure> {
    let conf = &plugin.config;
    let invalid = |reason: String| Failure::Unauthorized {
        invalid_token: true,
        reason,
    };
    if conf.allows(AuthMethod::Bearer)
        && let Some(header) = jwt::header(token)
    {
        let check = ClaimCheck {
            now,
            leeway: conf.leeway,
            audience: conf.audience_required.as_deref(),
        };
        let discovered = discovered(plugin, now).await?;
        let mut result = jwt::verify(&discovered, &header, token, check);
        if let Err(JwtError::NoKey(kid)) = &result {
            tracing::debug!(?kid, "openid-connect: unknown signing key, re-discovering");
            let http = plugin.registry.http()?;
            match plugin
                .provider()
                .rediscover(http, plugin.timeout, now, conf.rediscovery_lifetime)
                .await
            {
                Ok(fresh) => result = jwt::verify(&fresh, &header, token, check),
                Err(err) => tracing::warn!(%err, "openid-connect: re-discovery failed"),
            }
        }
        match result {
            Ok(claims) => {
                return Ok(Login {
                    method: AuthMethod::Bearer,
                    tokens: Tokens {
                        access_token: token.to_owned(),
                        expires_at: jwt::time_claim(&claims, "exp"),
                        ..Tokens::default()
                    },
                    identity: identity(conf, &claims),
                    consumed_basic: false,
                });
            }
            Err(JwtError::NoKey(_)) if conf.allows(AuthMethod::Introspection) => {}
            Err(err) => return Err(invalid(err.to_string())),
        }
    }
    if conf.allows(AuthMethod::Introspection) {
        return introspection(plugin, now, token).await;
    }
    Err(invalid("not a verifiable JWT".to_owned()))
}

/// RFC 7662 introspection, cached per token while `cache_introspection` allows.
async fn introspection(plugin: &OpenIdConnect, now: u64, token: &str) -> Result<Login, Failure> {
    let conf = &plugin.config;
    let key: [u8; 32] = {
        let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
        let mut key = [0u8; 32];
        key.copy_from_slice(digest.as_ref());
        key
    };
    let usable = |entry: &Introspected| {
        now < entry.cached_at.saturating_add(conf.cache_ttl)
            && entry
                .expires_at
                .is_none_or(|exp| now <= exp.saturating_add(conf.leeway))
    };
    let cached = conf
        .cache_introspection
        .then(|| plugin.introspection_cache.get(&key))
        .flatten();
    let entry = match cached {
        Some(entry) if usable(&entry) => entry,
        _ => {
            let endpoint = match &conf.introspection_endpoint {
                Some(endpoint) => endpoint.clone(),
                None => discovered(plugin, now)
                    .await?
                    .introspection_endpoint
                    .clone()
                    .ok_or(ProviderError::MissingEndpoint("introspection_endpoint"))?,
            };
            let client = configured_client(conf)?;
            let call = Call {
                http: plugin.registry.http()?,
                timeout: plugin.timeout,
            };
            let claims =
                client::introspect(call, &endpoint, client, token, &conf.introspection_hint)
                    .await
                    .map_err(|e| rejected(e, "introspection"))?;
            let active = matches!(claims.get("active"), Some(Value::Bool(true)))
                || claims.get("active").and_then(Value::as_str) == Some("true");
            if !active {
                return Err(Failure::Unauthorized {
                    invalid_token: true,
                    reason: "token is not active".to_owned(),
                });
            }
            let entry = Arc::new(Introspected {
                expires_at: jwt::time_claim(&claims, "exp"),
                claims,
                cached_at: now,
            });
            if !usable(&entry) {
                return Err(Failure::Unauthorized {
                    invalid_token: true,
                    reason: "token expired".to_owned(),
                });
            }
            if conf.cache_introspection {
                plugin.introspection_cache.insert(key, Arc::clone(&entry));
            }
            entry
        }
    };
    if let Some(required) = &conf.audience_required
        && !jwt::audience_matches(&entry.claims, required)
    {
        return Err(Failure::Unauthorized {
            invalid_token: true,
            reason: "audience mismatch".to_owned(),
        });
    }
    Ok(Login {
        method: AuthMethod::Introspection,
        tokens: Tokens {
            access_token: token.to_owned(),
            expires_at: entry.expires_at,
            ..Tokens::default()
        },
        identity: identity(conf, &entry.claims),
        consumed_basic: false,
    })
}

/// The cached discovery of the configured issuer.
async fn discovered(plugin: &OpenIdConnect, now: u64) -> Result<Arc<Discovered>, ProviderError> {
    let http = plugin.registry.http()?;
    plugin.provider().get(http, plugin.timeout, now).await
}

/// POSTs a grant to the token endpoint (configured, else discovered).
async fn grant(
    plugin: &OpenIdConnect,
    now: u64,
    client: Client<'_>,
    form: Vec<(&'static str, String)>,
) -> Result<TokenResponse, CallError> {
    let endpoint = match &plugin.config.token_endpoint {
        Some(endpoint) => endpoint.clone(),
        None => discovered(plugin, now)
            .await?
            .token_endpoint
            .clone()
            .ok_or(ProviderError::MissingEndpoint("token_endpoint"))?,
    };
    let call = Call {
        http: plugin.registry.http()?,
        timeout: plugin.timeout,
    };
    client::token(call, &endpoint, client, form).await
}

/// A refused grant is a 401; a provider failure stays one.
fn rejected(err: CallError, what: &'static str) -> Failure {
    match err {
        CallError::Rejected {
            status,
            error,
            description,
        } => {
            if matches!(error.as_str(), "invalid_client" | "unauthorized_client") {
                tracing::error!(
                    status,
                    %error,
                    description = description.as_deref().unwrap_or_default(),
                    what,
                    "openid-connect: the identity provider rejected the client; check client_id, client_secret and client_auth"
                );
            } else {
                tracing::info!(status, %error, description = description.as_deref().unwrap_or_default(), what, "openid-connect: rejected by the identity provider");
            }
            Failure::Unauthorized {
                invalid_token: false,
                reason: format!("{what} rejected: {error}"),
            }
        }
        CallError::Provider(err) => Failure::Provider(err),
    }
}

/// The plugin's own client (`client_id`, `client_secret`, `client_auth`).
fn configured_client(conf: &Config) -> Result<Client<'_>, Failure> {
    let id = conf
        .client_id()
        .ok_or(Failure::Internal("client_id is not configured"))?;
    Ok(Client {
        id,
        secret: conf.client_secret(),
        auth: conf.client_auth(),
    })
}

fn add_scope_and_audience(conf: &Config, form: &mut Vec<(&'static str, String)>) {
    if let Some(scopes) = conf.scopes.as_ref().filter(|s| !s.is_empty()) {
        form.push(("scope", scopes.join(" ")));
    }
    for audience in conf.audience.iter().flatten() {
        form.push(("audience", audience.clone()));
    }
}

/// Tokens from the token endpoint. Their claims (the access token's if it is a JWT, else the id
/// token's) are read without verification: they came straight from the token endpoint.
fn login_from_tokens(
    conf: &Config,
    method: AuthMethod,
    response: TokenResponse,
    now: u64,
) -> Login {
    let access_claims = jwt::unverified_claims(&response.access_token);
    let expires_at = response
        .expires_in
        .map(|secs| now.saturating_add(secs))
        .or_else(|| {
            access_claims
                .as_ref()
                .and_then(|c| jwt::time_claim(c, "exp"))
        });
    let claims = access_claims
        .or_else(|| {
            response
                .id_token
                .as_deref()
                .and_then(jwt::unverified_claims)
        })
        .unwrap_or_default();
    if response
        .token_type
        .as_deref()
        .is_some_and(|t| !t.eq_ignore_ascii_case("bearer"))
    {
        tracing::warn!(
            token_type = response.token_type.as_deref().unwrap_or_default(),
            "openid-connect: the provider issued a token that is not a bearer token"
        );
    }
    Login {
        method,
        identity: identity(conf, &claims),
        tokens: Tokens {
            access_token: response.access_token,
            refresh_token: response.refresh_token,
            expires_at,
            id_token: response.id_token,
        },
        consumed_basic: false,
    }
}

fn identity(conf: &Config, claims: &Map<String, Value>) -> Identity {
    Identity {
        subject: claim_values(claims, &["sub".to_owned()]).into_iter().next(),
        credential: claim_values(claims, &conf.credential_claim)
            .into_iter()
            .next(),
        consumer_keys: conf
            .consumer_claim
            .as_deref()
            .map(|path| claim_values(claims, path))
            .unwrap_or_default(),
    }
}

/// The strings at a claim path (`["realm_access", "roles"]` walks nested objects); a string or
/// number gives one value, an array its string and number items.
fn claim_values(claims: &Map<String, Value>, path: &[String]) -> Vec<String> {
    let Some((first, rest)) = path.split_first() else {
        return Vec::new();
    };
    let mut value = claims.get(first);
    for segment in rest {
        value = value.and_then(|v| v.get(segment));
    }
    let text = |v: &Value| match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    match value {
        Some(Value::Array(items)) => items.iter().filter_map(text).collect(),
        Some(v) => text(v).into_iter().collect(),
        None => Vec::new(),
    }
}

/// Maps the consumer, saves a new session, and prepares the upstream request.
async fn authorized(
    plugin: &OpenIdConnect,
    ctx: &mut Ctx,
    sessions: &mut Sessions,
    login: Login,
) -> Flow {
    let conf = &plugin.config;
    let consumer = match conf.consumer_claim.as_deref() {
        Some(path) if !path.is_empty() => {
            match find_consumer(
                &conf.consumer_by,
                &ctx.snapshot,
                &login.identity.consumer_keys,
            ) {
                Some(consumer) => Some(consumer),
                None if conf.consumer_optional => None,
                None => {
                    tracing::info!(keys = ?login.identity.consumer_keys, "openid-connect: no consumer for the token");
                    let request_id = ctx.request_id().to_owned();
                    return Flow::Respond(Exit::error(
                        StatusCode::FORBIDDEN,
                        &conf.forbidden_error_message,
                        &request_id,
                    ));
                }
            }
        }
        _ => None,
    };

    if let Some(stale) = sessions.stale.as_mut()
        && let Err(err) = stale.destroy(ctx.now).await
    {
        tracing::debug!(%err, "openid-connect: stale session not destroyed");
    }
    if login.method != AuthMethod::Session && conf.issues_session(login.method) {
        let mut session = sessions
            .fresh
            .take()
            .unwrap_or_else(|| Session::new(plugin.session_config(ctx)));
        session.set_data(SessionData::new(&login, login.method).to_value());
        session.set_subject(login.identity.subject.clone());
        match session.save(ctx.now).await {
            Ok(()) => sessions.current = Some(session),
            Err(err) => tracing::error!(%err, "openid-connect: session save failed"),
        }
    }

    if login.consumed_basic {
        ctx.request.headers.remove(AUTHORIZATION);
    }
    if let Some((name, scheme)) = &plugin.upstream_header {
        let token = &login.tokens.access_token;
        let value = match scheme {
            Some(scheme) => format!("{scheme} {token}"),
            None => token.clone(),
        };
        ctx.set_upstream_header(name.clone(), Some(&value));
    }
    if let Some(session) = &sessions.current {
        for (name, value) in session.request_headers(ctx.now) {
            if let Ok(name) = HeaderName::from_bytes(name.as_bytes()) {
                ctx.set_upstream_header(name, Some(&value));
            }
        }
        for (name, value) in session.response_headers(ctx.now) {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                ctx.response_headers.insert(name, value);
            }
        }
    }

    let credential_id = login
        .identity
        .credential
        .or(login.identity.subject)
        .unwrap_or_default();
    ctx.set_upstream_header(
        headers::CREDENTIAL_IDENTIFIER,
        Some(credential_id.as_str()).filter(|id| !id.is_empty()),
    );
    ctx.set_upstream_header(headers::ANONYMOUS, None);
    match consumer {
        Some(consumer) => {
            ctx.set_consumer_headers(&consumer);
            let consumer_id = consumer.id.clone();
            ctx.authenticate(
                Some(consumer),
                Some(Credential {
                    id: credential_id,
                    consumer_id,
                }),
            );
        }
        None => ctx.authenticate(
            None,
            Some(Credential {
                id: credential_id,
                consumer_id: String::new(),
            }),
        ),
    }
    Flow::Continue
}

/// `consumer_by` in order, each tried with every claim value.
fn find_consumer(by: &[ConsumerBy], snapshot: &Snapshot, keys: &[String]) -> Option<Arc<Consumer>> {
    by.iter().find_map(|by| {
        keys.iter().find_map(|key| match by {
            ConsumerBy::Id => snapshot.consumer(key),
            ConsumerBy::Username => snapshot.consumer_by_username(key),
            ConsumerBy::CustomId => snapshot.consumer_by_custom_id(key),
        })
    })
}

/// 401, or the anonymous consumer.
async fn unauthorized(
    plugin: &OpenIdConnect,
    ctx: &mut Ctx,
    sessions: &mut Sessions,
    invalid_token: bool,
    reason: &str,
) -> Flow {
    let conf = &plugin.config;
    tracing::debug!(reason, "openid-connect: unauthorized");
    if conf.unauthorized_destroy_session
        && let Some(stale) = sessions.stale.as_mut()
        && let Err(err) = stale.destroy(ctx.now).await
    {
        tracing::debug!(%err, "openid-connect: stale session not destroyed");
    }
    if let Some(anonymous) = &conf.anonymous {
        return match ctx.snapshot.consumer_by_id_or_username(anonymous) {
            Some(consumer) => {
                ctx.set_consumer_headers(&consumer);
                ctx.set_upstream_header(headers::CREDENTIAL_IDENTIFIER, None);
                ctx.set_upstream_header(headers::ANONYMOUS, Some("true"));
                ctx.authenticate(Some(consumer), None);
                Flow::Continue
            }
            None => {
                tracing::error!(%anonymous, "anonymous consumer is configured but doesn't exist");
                let message =
                    format!("anonymous consumer {anonymous} is configured but doesn't exist");
                let request_id = ctx.request_id().to_owned();
                Flow::Respond(Exit::error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &message,
                    &request_id,
                ))
            }
        };
    }
    let challenge = if invalid_token {
        plugin.invalid_token_challenge.clone()
    } else {
        plugin.challenge.clone()
    };
    let request_id = ctx.request_id().to_owned();
    Flow::Respond(
        Exit::error(
            StatusCode::UNAUTHORIZED,
            &conf.unauthorized_error_message,
            &request_id,
        )
        .header(WWW_AUTHENTICATE, challenge),
    )
}

/// 502 or 504 with a message that says the identity provider is at fault.
fn provider_exit(ctx: &mut Ctx, err: &ProviderError) -> Exit {
    tracing::error!(%err, "openid-connect: identity provider failure");
    let (status, message) = match err {
        ProviderError::Timeout => (StatusCode::GATEWAY_TIMEOUT, PROVIDER_TIMEOUT),
        ProviderError::Unreachable(_) => (StatusCode::BAD_GATEWAY, PROVIDER_UNREACHABLE),
        ProviderError::Status(_)
        | ProviderError::Invalid(_)
        | ProviderError::MissingEndpoint(_) => (StatusCode::BAD_GATEWAY, PROVIDER_INVALID),
    };
    let request_id = ctx.request_id().to_owned();
    Exit::error(status, message, &request_id)
}

/// Whether this request asks to log out (`logout_methods` plus one of the logout triggers).
async fn is_logout(conf: &Config, ctx: &mut Ctx) -> bool {
    let method = match ctx.request.method {
        Method::GET => LogoutMethod::GET,
        Method::POST => LogoutMethod::POST,
        Method::PUT => LogoutMethod::PUT,
        Method::PATCH => LogoutMethod::PATCH,
        Method::DELETE => LogoutMethod::DELETE,
        _ => return false,
    };
    if !conf.logout_methods.contains(&method) {
        return false;
    }
    if conf
        .logout_query_arg
        .as_deref()
        .is_some_and(|arg| ctx.query_arg(arg).is_some())
    {
        return true;
    }
    if conf
        .logout_uri_suffix
        .as_deref()
        .is_some_and(|suffix| ctx.request.uri.path().ends_with(suffix))
    {
        return true;
    }
    match conf.logout_post_arg.as_deref() {
        Some(arg) => body_params(ctx, &[arg])
            .await
            .into_iter()
            .flatten()
            .next()
            .is_some(),
        None => false,
    }
}

/// 302 to `logout_redirect_uri`, else an empty 200 (as the `session` plugin answers).
fn logout_exit(conf: &Config) -> Exit {
    let location = conf
        .logout_redirect_uri
        .as_ref()
        .and_then(|uris| uris.first())
        .and_then(|uri| HeaderValue::from_str(uri).ok());
    match location {
        Some(location) => Exit::empty(StatusCode::FOUND).header(LOCATION, location),
        None => Exit::empty(StatusCode::OK),
    }
}

/// All `Cookie` request headers joined, as nginx's `$cookie_*` sees them.
fn cookie_header(ctx: &Ctx) -> Option<String> {
    let values: Vec<&str> = ctx
        .request
        .headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    (!values.is_empty()).then(|| values.join("; "))
}

/// The credentials of `Authorization: <scheme> <credentials>`, when the scheme matches.
fn authorization<'a>(ctx: &'a Ctx, scheme: &str) -> Option<&'a str> {
    let value = ctx.header("authorization")?.trim();
    let (given, rest) = value.split_once(' ')?;
    let rest = rest.trim();
    (given.eq_ignore_ascii_case(scheme) && !rest.is_empty()).then_some(rest)
}

/// `Authorization: Basic` as (user, password).
fn basic_credentials(ctx: &Ctx) -> Option<(String, String)> {
    use base64::Engine;
    let encoded = authorization(ctx, "basic")?;
    let engine = &base64::engine::general_purpose::STANDARD;
    let decoded = engine
        .decode(encoded)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(encoded))
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    (!user.is_empty()).then(|| (user.to_owned(), password.to_owned()))
}

/// Values of form or JSON body parameters (only such bodies are read).
async fn body_params(ctx: &mut Ctx, names: &[&str]) -> Vec<Option<String>> {
    let mut found = vec![None; names.len()];
    let content_type = ctx
        .header("content-type")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let form = content_type.starts_with("application/x-www-form-urlencoded");
    let json = content_type.starts_with("application/json");
    if !form && !json {
        return found;
    }
    let Some(body) = ctx.body_bytes().await else {
        return found;
    };
    if form {
        for (key, value) in form_urlencoded::parse(body) {
            if let Some(i) = names.iter().position(|n| *n == key)
                && found[i].is_none()
                && !value.is_empty()
            {
                found[i] = Some(value.into_owned());
            }
        }
    } else if let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(body) {
        for (i, name) in names.iter().enumerate() {
            found[i] = object
                .get(*name)
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
                .map(str::to_owned);
        }
    }
    found
}

fn query_value(ctx: &Ctx, name: &str) -> Option<String> {
    match ctx.query_arg(name) {
        Some(QueryArg::One(v)) if !v.is_empty() => Some(v),
        _ => None,
    }
}

/// The bearer token, searched per `bearer_token_param_type`.
async fn find_bearer(conf: &Config, ctx: &mut Ctx) -> Option<String> {
    for place in &conf.bearer_token_param_type {
        let found = match place {
            ParamType::Header => authorization(ctx, "bearer").map(str::to_owned).or_else(|| {
                TOKEN_HEADERS.iter().find_map(|name| {
                    let value = ctx.header(name)?.trim();
                    let token = match value.split_once(' ') {
                        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => {
                            rest.trim()
                        }
                        _ => value,
                    };
                    (!token.is_empty()).then(|| token.to_owned())
                })
            }),
            ParamType::Query => query_value(ctx, "access_token"),
            ParamType::Body => body_params(ctx, &["access_token"])
                .await
                .into_iter()
                .flatten()
                .next(),
            ParamType::Cookie => conf
                .bearer_token_cookie_name
                .as_deref()
                .and_then(|name| request_cookie(ctx, name)),
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

/// The refresh token, searched per `refresh_token_param_type`.
async fn find_refresh_token(conf: &Config, ctx: &mut Ctx) -> Option<String> {
    let param = conf
        .refresh_token_param_name
        .clone()
        .unwrap_or_else(|| "refresh_token".to_owned());
    let header = conf
        .refresh_token_param_name
        .as_deref()
        .map_or_else(|| REFRESH_TOKEN_HEADER.to_owned(), |n| n.replace('_', "-"));
    for place in &conf.refresh_token_param_type {
        let found = match place {
            ParamType::Header => ctx
                .header(&header)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned),
            ParamType::Query => query_value(ctx, &param),
            ParamType::Body => body_params(ctx, &[param.as_str()])
                .await
                .into_iter()
                .flatten()
                .next(),
            ParamType::Cookie => request_cookie(ctx, &param),
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

/// A (user, secret) pair from Basic, the query or the body; the flag says it came from the header.
async fn find_pair(
    ctx: &mut Ctx,
    places: &[ParamType],
    user: &str,
    secret: &str,
) -> Option<(String, String, bool)> {
    for place in places {
        match place {
            ParamType::Header => {
                if let Some((u, s)) = basic_credentials(ctx) {
                    return Some((u, s, true));
                }
            }
            ParamType::Query => {
                if let (Some(u), Some(s)) = (query_value(ctx, user), query_value(ctx, secret)) {
                    return Some((u, s, false));
                }
            }
            ParamType::Body => {
                let mut values = body_params(ctx, &[user, secret]).await.into_iter();
                if let (Some(Some(u)), Some(Some(s))) = (values.next(), values.next()) {
                    return Some((u, s, false));
                }
            }
            ParamType::Cookie => {}
        }
    }
    None
}

/// One request cookie's value.
fn request_cookie(ctx: &Ctx, name: &str) -> Option<String> {
    let header = cookie_header(ctx)?;
    cookie::Cookie::split_parse(header)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
}
