//! Access phase of `openid-connect`: finds the first credential in Kong's order (session,
//! bearer token, refresh token, password, client credentials), turns it into an access token, maps
//! the consumer, issues or renews the session and prepares the upstream request; else 401 or the
//! anonymous consumer, and 502/504 when the identity provider fails (Kong EE
//! `kong/plugins/openid-connect/handler.lua`).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use http::header::{AUTHORIZATION, SET_COOKIE, WWW_AUTHENTICATE};
use http::{HeaderName, HeaderValue, StatusCode};

use super::client::ProviderError;
use super::login::{Failure, Login};
use super::schema::{AuthMethod, ConsumerBy};
use super::session::{SessionData, Sessions};
use super::{OpenIdConnect, bearer, claims, credentials, grants, jwt, session};
use crate::model::Consumer;
use crate::pdk::{Credential, Ctx, Exit, Flow};
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
        // The session store is down: the client did nothing wrong and may still be logged in.
        Err(Failure::Unauthorized { .. }) if sessions.storage_failed => {
            let request_id = ctx.request_id().to_owned();
            Flow::Respond(Exit::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                UNEXPECTED,
                &request_id,
            ))
        }
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
        && let Some(login) = session::from_session(plugin, ctx, sessions, logout_configured).await?
    {
        return Ok(login);
    }
    if (conf.allows(AuthMethod::Bearer) || conf.allows(AuthMethod::Introspection))
        && let Some(token) = credentials::bearer(conf, ctx).await
    {
        return bearer::bearer(plugin, ctx.now, &token).await;
    }
    if conf.allows(AuthMethod::RefreshToken)
        && let Some(refresh_token) = credentials::refresh_token(conf, ctx).await
    {
        let response = grants::refresh(plugin, ctx.now, &refresh_token).await?;
        return Ok(grants::login_from_tokens(
            conf,
            AuthMethod::RefreshToken,
            response,
            ctx.now,
        ));
    }
    if conf.allows(AuthMethod::Password)
        && let Some((pair, from_header)) =
            credentials::pair(ctx, &conf.password_param_type, "username", "password").await
    {
        return grants::password(plugin, ctx.now, pair, from_header).await;
    }
    if conf.allows(AuthMethod::ClientCredentials)
        && let Some((pair, from_header)) = credentials::pair(
            ctx,
            &conf.client_credentials_param_type,
            "client_id",
            "client_secret",
        )
        .await
    {
        return grants::client_credentials(plugin, ctx.now, pair, from_header).await;
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

/// Maps the consumer, saves a new session, and prepares the upstream request.
async fn authorized(
    plugin: &OpenIdConnect,
    ctx: &mut Ctx,
    sessions: &mut Sessions,
    mut login: Login,
) -> Flow {
    let conf = &plugin.config;
    if claims::any_required(conf) {
        let verdict = match &login.claims {
            Some(claims) => claims::authorize(conf, claims),
            None => claims::authorize(
                conf,
                &jwt::unverified_claims(&login.tokens.access_token).unwrap_or_default(),
            ),
        };
        if let Err(claims::Unsatisfied(option)) = verdict {
            tracing::info!(
                option,
                method = login.method.name(),
                "openid-connect: the token's claims do not satisfy the configuration"
            );
            let request_id = ctx.request_id().to_owned();
            return Flow::Respond(Exit::error(
                StatusCode::FORBIDDEN,
                &conf.forbidden_error_message,
                &request_id,
            ));
        }
    }
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
            // A storage outage (Redis) is logged by the store, once per interval.
            Err(err) if err.is_storage() => {
                tracing::debug!(%err, "openid-connect: session save failed");
            }
            Err(err) => tracing::error!(%err, "openid-connect: session save failed"),
        }
    }

    if login.consumed_basic {
        ctx.request.headers.remove(AUTHORIZATION);
    }
    if let Some((name, _)) = &plugin.upstream_header {
        let value = login
            .upstream_value
            .take()
            .or_else(|| plugin.upstream_value(&login.tokens.access_token));
        match value {
            Some(value) => {
                ctx.request.headers.insert(name.clone(), value);
            }
            None => {
                ctx.request.headers.remove(name);
            }
        }
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
    let consumer_id = consumer.as_ref().map_or_else(String::new, |c| c.id.clone());
    ctx.authenticate_as(
        consumer,
        Some(Credential {
            id: credential_id,
            consumer_id,
        }),
    );
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
        return ctx.authenticate_anonymous(anonymous);
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
