//! Header-filter phase of `session` (`kong/plugins/session/header_filter.lua` lines 26-83): a new
//! session cookie after another plugin authenticated a consumer with a credential.

use serde_json::{Value, json};

use super::access::append_cookies;
use super::{SessionPlugin, State};
use crate::pdk::Ctx;
use crate::resty_session::Session;

/// Saves a session for the authenticated consumer unless a matching one already authenticated.
pub async fn execute(plugin: &SessionPlugin, ctx: &mut Ctx, response: &mut http::response::Parts) {
    let state = ctx.state.remove::<State>();
    let (Some(credential), Some(consumer)) = (ctx.credential.clone(), ctx.consumer.clone()) else {
        tracing::debug!("anonymous: no credential");
        if let Some(state) = &state {
            append_cookies(&mut response.headers, &state.session);
        }
        return;
    };
    if let Some(State {
        session,
        authenticated: Some((c, k)),
    }) = &state
        && *c == consumer.id
        && *k == credential.id
    {
        append_cookies(&mut response.headers, session);
        return;
    }
    let mut session = match state {
        Some(state) => state.session,
        None => {
            Session::open(
                plugin.session.clone(),
                ctx.cookie_header().as_deref(),
                ctx.now,
            )
            .await
            .0
        }
    };
    let subject = consumer
        .username
        .clone()
        .or_else(|| consumer.custom_id.clone())
        .unwrap_or_else(|| consumer.id.clone());
    let mut data = vec![
        Value::String(consumer.id.clone()),
        Value::String(credential.id.clone()),
    ];
    if let Some(groups) = &ctx.authenticated_groups {
        data.push(json!(groups));
    }
    session.set_data(Value::Array(data));
    session.set_subject(Some(subject));
    if let Err(err) = session.save(ctx.now).await {
        // A storage outage is logged by the store, once per interval.
        if err.is_storage() {
            tracing::debug!(%err, "session save failed");
        } else {
            tracing::error!(%err, "session save failed");
        }
        return;
    }
    for (name, value) in session.response_headers(ctx.now) {
        if let (Ok(name), Ok(v)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            response.headers.insert(name, v);
        }
    }
    append_cookies(&mut response.headers, &session);
}
