//! Access phase of `key-auth` (`kong/plugins/key-auth/handler.lua` lines 108-273).

use std::sync::Arc;

use http::{Method, StatusCode, header::WWW_AUTHENTICATE};
use serde_json::Value;

use super::KeyAuth;
use crate::model::Consumer;
use crate::pdk::{Credential, Ctx, Exit, Flow, QueryArg, headers};

pub const NO_API_KEY: &str = "No API key found in request";
pub const UNAUTHORIZED: &str = "Unauthorized";
pub const DUPLICATE_API_KEY: &str = "Duplicate API key found";
pub const UNEXPECTED: &str = "An unexpected error occurred";

/// Where a key name was found, as Lua types: a string is a key, a table a duplicate, `true` nothing.
enum Found {
    Key(String),
    Duplicate,
    Nothing,
}

/// Runs the plugin: "logical OR" when `anonymous` is set, "logical AND" otherwise.
pub async fn execute(plugin: &KeyAuth, ctx: &mut Ctx) -> Flow {
    let conf = &plugin.config;
    if !conf.run_on_preflight && ctx.request.method == Method::OPTIONS {
        return Flow::Continue;
    }
    if conf.anonymous.is_some() && ctx.credential.is_some() {
        return Flow::Continue;
    }
    let failure = match authenticate(plugin, ctx).await {
        Ok(()) => return Flow::Continue,
        Err(failure) => failure,
    };
    let Some(anonymous) = &conf.anonymous else {
        let request_id = ctx.request_id().to_owned();
        let mut exit = Exit::error(failure.0, failure.1, &request_id);
        if failure.0 == StatusCode::UNAUTHORIZED {
            exit = exit.header(WWW_AUTHENTICATE, plugin.challenge.clone());
        }
        return Flow::Respond(exit);
    };
    match ctx.snapshot.consumer_by_id_or_username(anonymous) {
        Some(consumer) => {
            set_consumer(ctx, consumer, None);
            Flow::Continue
        }
        None => {
            tracing::error!(anonymous = %anonymous, "anonymous consumer is configured but doesn't exist");
            let request_id = ctx.request_id().to_owned();
            let message = format!("anonymous consumer {anonymous} is configured but doesn't exist");
            Flow::Respond(Exit::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &message,
                &request_id,
            ))
        }
    }
}

/// `do_authentication`: finds the key, checks it, authenticates its consumer.
async fn authenticate(plugin: &KeyAuth, ctx: &mut Ctx) -> Result<(), (StatusCode, &'static str)> {
    let conf = &plugin.config;
    let mut key = None;
    for name in &conf.key_names {
        let mut found = Found::Nothing;
        if conf.key_in_header {
            found = header_value(ctx, name);
        }
        if matches!(found, Found::Nothing) && conf.key_in_query {
            found = match ctx.query_arg(name) {
                Some(QueryArg::One(v)) => Found::Key(v),
                Some(QueryArg::Many) => Found::Duplicate,
                Some(QueryArg::Flag) | None => Found::Nothing,
            };
        }
        if matches!(found, Found::Nothing) && conf.key_in_body {
            found = body_value(ctx, name).await;
        }
        match found {
            Found::Key(v) => {
                if conf.hide_credentials {
                    hide(ctx, name, conf.key_in_body).await;
                }
                key = Some(v);
                break;
            }
            Found::Duplicate => return Err((StatusCode::UNAUTHORIZED, DUPLICATE_API_KEY)),
            Found::Nothing => {}
        }
    }
    let key = match key {
        Some(k) if !k.is_empty() => k,
        _ => return Err((StatusCode::UNAUTHORIZED, NO_API_KEY)),
    };
    let Some(cred) = ctx
        .snapshot
        .credential(&super::daos::KEYAUTH_CREDENTIALS, &key, ctx.now)
    else {
        return Err((StatusCode::UNAUTHORIZED, UNAUTHORIZED));
    };
    let (cred_id, consumer_id) = (cred.id.clone(), cred.consumer_id.clone());
    let Some(consumer) = ctx.snapshot.consumer(&consumer_id) else {
        return Err((StatusCode::INTERNAL_SERVER_ERROR, UNEXPECTED));
    };
    set_consumer(
        ctx,
        consumer,
        Some(Credential {
            id: cred_id,
            consumer_id,
        }),
    );
    Ok(())
}

/// Header lookup is case-insensitive and treats `_` like `-`, as nginx's header table does.
fn header_value(ctx: &Ctx, name: &str) -> Found {
    let dashed = name.replace('_', "-");
    let mut values = ctx.request.headers.get_all(dashed.as_str()).iter();
    match (values.next(), values.next()) {
        (Some(_), Some(_)) => Found::Duplicate,
        (Some(v), None) => Found::Key(String::from_utf8_lossy(v.as_bytes()).into_owned()),
        _ => Found::Nothing,
    }
}

/// Body lookup: form-urlencoded or JSON, as `kong.request.get_body()` reads them.
async fn body_value(ctx: &mut Ctx, name: &str) -> Found {
    let content_type = ctx
        .header("content-type")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let Some(body) = ctx.body_bytes().await else {
        return Found::Nothing;
    };
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let mut values = form_urlencoded::parse(body)
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned());
        return match (values.next(), values.next()) {
            (Some(_), Some(_)) => Found::Duplicate,
            (Some(v), None) => Found::Key(v),
            _ => Found::Nothing,
        };
    }
    if content_type.starts_with("application/json") {
        return match serde_json::from_slice::<Value>(body)
            .ok()
            .as_ref()
            .and_then(|v| v.get(name))
        {
            Some(Value::String(s)) => Found::Key(s.clone()),
            Some(Value::Array(_) | Value::Object(_)) => Found::Duplicate,
            _ => Found::Nothing,
        };
    }
    Found::Nothing
}

/// `hide_credentials`: the key never reaches the upstream.
async fn hide(ctx: &mut Ctx, name: &str, in_body: bool) {
    ctx.request.headers.remove(name.replace('_', "-").as_str());
    ctx.remove_query_arg(name);
    if !in_body {
        return;
    }
    let content_type = ctx
        .header("content-type")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let Some(body) = ctx.body_bytes().await.cloned() else {
        return;
    };
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let kept: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form_urlencoded::parse(&body).filter(|(k, _)| k != name))
            .finish();
        ctx.set_body(kept.into());
    } else if let Ok(Value::Object(mut obj)) = serde_json::from_slice::<Value>(&body) {
        obj.remove(name);
        ctx.set_body(Value::Object(obj).to_string().into());
    }
}

/// `set_consumer`: authenticate and set or clear Kong's upstream headers.
fn set_consumer(ctx: &mut Ctx, consumer: Arc<Consumer>, credential: Option<Credential>) {
    ctx.set_consumer_headers(&consumer);
    match &credential {
        Some(cred) => {
            let id = cred.id.clone();
            ctx.set_upstream_header(headers::CREDENTIAL_IDENTIFIER, Some(&id));
            ctx.set_upstream_header(headers::ANONYMOUS, None);
        }
        None => {
            ctx.set_upstream_header(headers::CREDENTIAL_IDENTIFIER, None);
            ctx.set_upstream_header(headers::ANONYMOUS, Some("true"));
        }
    }
    ctx.authenticate(Some(consumer), credential);
}
