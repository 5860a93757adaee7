//! The session of `openid-connect` in the access phase: logout requests, and resuming a session
//! (its access token refreshed when expired, its cookie renewed).
//!
//! The session cookie (lua-resty-session 4 format, `session_*` options) stores a [`SessionData`]
//! object as the data of its `session_audience` entry, with the token's `sub` as the session
//! subject: the access token, the refresh token, when the access token expires (gateway time),
//! the id token when the data stays under [`ID_TOKEN_BUDGET`] bytes with it, the credential and
//! consumer-claim values used for consumer mapping, and the method that logged in. Cookie storage
//! encrypts it (AES-256-GCM), so tokens never appear in clear on the client.

use std::sync::Arc;

use crate::redacted::Redacted;
use http::header::LOCATION;
use http::{HeaderValue, Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::OpenIdConnect;
use super::grants::{login_from_tokens, refresh};
use super::login::{Failure, Identity, Login, Tokens};
use super::schema::{AuthMethod, Config, LogoutMethod};
use crate::pdk::{Arg, Ctx, Exit};
use crate::resty_session::Session;

/// The id token is stored in the session only while the session data stays this small, so that
/// the cookie usually fits in one 4 KB chunk.
pub const ID_TOKEN_BUDGET: usize = 2900;

/// What the session cookie stores (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionData {
    pub access_token: Redacted<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<Redacted<String>>,
    /// Unix seconds (gateway clock) after which the access token is refreshed before use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<Redacted<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consumer_keys: Vec<String>,
    /// The method that created the session.
    pub method: AuthMethod,
}

impl SessionData {
    pub(super) fn new(login: &Login, method: AuthMethod) -> Self {
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

    pub(super) fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// A session's data as every request with its cookie uses it: parsed, with the upstream header value
/// made; kept beside the cached cookie ([`Session::data_memo`]), so a repeated cookie costs neither.
#[derive(Debug)]
pub(super) struct Stored {
    data: SessionData,
    upstream_value: Option<HeaderValue>,
}

impl Stored {
    fn parse(plugin: &OpenIdConnect, data: &Value) -> Option<Self> {
        let data = SessionData::deserialize(data).ok()?;
        let upstream_value = plugin.upstream_value(&data.access_token);
        Some(Self {
            data,
            upstream_value,
        })
    }

    fn login(&self, subject: Option<String>) -> Login {
        let data = &self.data;
        Login {
            method: AuthMethod::Session,
            identity: Identity {
                subject,
                credential: data.credential.clone(),
                consumer_keys: data.consumer_keys.clone(),
            },
            tokens: Tokens {
                access_token: data.access_token.clone(),
                refresh_token: data.refresh_token.clone(),
                expires_at: data.expires_at,
                id_token: data.id_token.clone(),
            },
            consumed_basic: false,
            upstream_value: self.upstream_value.clone(),
            claims: None,
        }
    }
}

/// The sessions of this request.
#[derive(Default)]
pub(super) struct Sessions {
    /// The session that authenticated this request or was saved for it.
    pub(super) current: Option<Session>,
    /// A valid session whose tokens can no longer be used, or one that was logged out.
    pub(super) stale: Option<Session>,
    /// The object of a cookie that did not open, reused when a new session is saved.
    pub(super) fresh: Option<Session>,
    /// The cookie's session could not be looked up because its storage (Redis) failed: when nothing
    /// else authenticates the request it gets 500, not a 401 that would tell the client it is logged out.
    pub(super) storage_failed: bool,
}

impl Sessions {
    /// Every `Set-Cookie` the sessions produced; a later cookie of a name replaces an earlier one.
    pub(super) fn cookies(&self) -> Vec<String> {
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

/// The session cookie: logout, then the stored tokens (refreshed when expired).
pub(super) async fn from_session(
    plugin: &OpenIdConnect,
    ctx: &mut Ctx,
    sessions: &mut Sessions,
    logout_configured: bool,
) -> Result<Option<Login>, Failure> {
    let conf = &plugin.config;
    let cookies = ctx.cookie_header();
    let (mut session, opened) =
        Session::open(plugin.session_config(ctx), cookies.as_deref(), ctx.now).await;
    if let Err(reason) = &opened {
        tracing::debug!(%reason, "openid-connect: session not present");
        sessions.storage_failed = matches!(reason, crate::resty_session::OpenError::Storage(_));
    }
    if logout_configured && is_logout(conf, ctx).await {
        if opened.is_ok() {
            match session.logout(ctx.now).await {
                Ok(()) => {}
                Err(err) if err.is_storage() => {
                    tracing::debug!(%err, "openid-connect: session logout failed");
                }
                Err(err) => tracing::warn!(%err, "openid-connect: session logout failed"),
            }
            sessions.stale = Some(session);
        }
        return Err(Failure::Respond(Box::new(logout_exit(conf))));
    }
    let data = match (&opened, conf.allows(AuthMethod::Session)) {
        (Ok(()), true) => session.data_memo(|d| Stored::parse(plugin, d)),
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

/// Why a valid session did not authenticate the request.
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
    stored: Arc<Stored>,
) -> Result<Login, Resume> {
    let data = &stored.data;
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
        return Ok(stored.login(subject));
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
    match session.save(now).await {
        Ok(()) => {}
        // A storage outage (Redis) is logged by the store, once per interval.
        Err(err) if err.is_storage() => {
            tracing::debug!(%err, "openid-connect: session save failed");
        }
        Err(err) => tracing::error!(%err, "openid-connect: session save failed"),
    }
    tracing::debug!("openid-connect: access token refreshed behind the session");
    Ok(login)
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
        Some(arg) => ctx.body_arg(arg).await.and_then(Arg::first_text).is_some(),
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
