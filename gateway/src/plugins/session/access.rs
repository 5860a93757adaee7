//! Access phase of `session` (`kong/plugins/session/access.lua` lines 13-134).

use http::{HeaderName, HeaderValue, Method, StatusCode, header::SET_COOKIE};
use serde_json::Value;

use super::schema::LogoutMethod;
use super::{SessionPlugin, State};
use crate::pdk::{Credential, Ctx, Exit, Flow};
use crate::resty_session::Session;

/// Opens the session; on a valid one: logout, consumer check, renewal, authentication.
pub async fn execute(plugin: &SessionPlugin, ctx: &mut Ctx) -> Flow {
    let cookie_header = ctx.cookie_header();
    let (mut session, opened) =
        Session::open(plugin.session.clone(), cookie_header.as_deref(), ctx.now).await;
    if let Err(reason) = opened {
        tracing::debug!(%reason, "session not present");
        ctx.state.insert(State {
            session,
            authenticated: None,
        });
        return Flow::Continue;
    }

    if is_logout(plugin, ctx).await {
        if let Err(err) = session.logout(ctx.now).await {
            log_failure(&err, "session logout failed");
        }
        let mut exit = Exit::empty(StatusCode::OK);
        append_cookies(&mut exit.headers, &session);
        return Flow::Respond(exit);
    }

    let (consumer_id, credential_id, groups) = stored_identity(session.data());
    let consumer = consumer_id
        .as_deref()
        .and_then(|id| ctx.snapshot.consumer(id));
    let Some(consumer) = consumer else {
        // The consumer is gone: end the session and let the other auth plugins decide.
        if let Err(err) = session.logout(ctx.now).await {
            log_failure(&err, "session logout failed");
        }
        ctx.state.insert(State {
            session,
            authenticated: None,
        });
        return Flow::Continue;
    };

    if let Err(err) = session.refresh(ctx.now).await {
        log_failure(&err, "session refresh failed");
    }
    for (name, value) in session.request_headers(ctx.now) {
        if let Ok(name) = HeaderName::from_bytes(name.as_bytes()) {
            ctx.set_upstream_header(name, Some(&value));
        }
    }
    for (name, value) in session.response_headers(ctx.now) {
        if let (Ok(name), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            ctx.response_headers.insert(name, v);
        }
    }

    // authenticate(consumer, credential_id, groups)
    ctx.set_authenticated_groups(groups);
    let credential = credential_id.map(|id| Credential {
        id,
        consumer_id: consumer.id.clone(),
    });
    let authenticated = Some((
        consumer.id.clone(),
        credential
            .as_ref()
            .map_or_else(String::new, |c| c.id.clone()),
    ));
    ctx.authenticate_as(Some(consumer), credential);
    ctx.state.insert(State {
        session,
        authenticated,
    });
    Flow::Continue
}

/// `{consumer_id, credential_id, groups}` from the session data array.
fn stored_identity(data: Option<&Value>) -> (Option<String>, Option<String>, Option<Vec<String>>) {
    let Some(Value::Array(items)) = data else {
        return (None, None, None);
    };
    let text = |i: usize| items.get(i).and_then(Value::as_str).map(str::to_owned);
    let groups = items.get(2).and_then(Value::as_array).map(|g| {
        g.iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    });
    (text(0), text(1), groups)
}

/// `session.lua` `logout(conf)` (lines 89-128).
async fn is_logout(plugin: &SessionPlugin, ctx: &mut Ctx) -> bool {
    let conf = &plugin.config;
    let method = match ctx.request.method {
        Method::GET => LogoutMethod::GET,
        Method::POST => LogoutMethod::POST,
        Method::DELETE => LogoutMethod::DELETE,
        _ => return false,
    };
    if !conf.logout_methods.contains(&method) {
        return false;
    }
    if ctx.query_arg(&conf.logout_query_arg).is_some() {
        return true;
    }
    if !conf.read_body_for_logout
        || !matches!(
            ctx.request.method,
            Method::DELETE | Method::PATCH | Method::POST | Method::PUT
        )
    {
        return false;
    }
    ctx.body_arg(&conf.logout_post_arg)
        .await
        .is_some_and(|arg| arg.is_truthy())
}

/// Appends the session's pending `Set-Cookie` values.
pub(super) fn append_cookies(headers: &mut http::HeaderMap, session: &Session) {
    for cookie in session.set_cookie_headers() {
        if let Ok(v) = HeaderValue::from_str(cookie) {
            headers.append(SET_COOKIE, v);
        }
    }
}

/// Logs a failed logout or refresh at warn level, as Kong's `access.lua` does; a storage failure only at
/// debug level, since the store logs an outage itself once per interval.
fn log_failure(err: &crate::resty_session::SessionError, what: &'static str) {
    if err.is_storage() {
        tracing::debug!(%err, "{what}");
    } else {
        tracing::warn!(%err, "{what}");
    }
}
