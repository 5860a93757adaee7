//! Access phase of `request-termination` (`handler.lua`).

use bytes::Bytes;
use http::StatusCode;
use serde_json::{Map, Value, json};

use super::Config;
use crate::pdk::{Ctx, Exit, Flow, JSON_CONTENT_TYPE};

/// Kong's default message per status (`handler.lua` lines 4-11).
fn default_message(status: u16) -> Option<&'static str> {
    match status {
        401 => Some("Unauthorized"),
        404 => Some("Not found"),
        405 => Some("Method not allowed"),
        500 => Some("An unexpected error occurred"),
        502 => Some("Bad Gateway"),
        503 => Some("Service unavailable"),
        _ => None,
    }
}

/// Ends the request unless a `trigger` is configured and absent.
pub fn execute(conf: &Config, ctx: &mut Ctx) -> Flow {
    if let Some(trigger) = &conf.trigger
        && ctx.header(trigger).is_none()
        && ctx.query_arg(trigger).is_none()
    {
        return Flow::Continue;
    }
    let Ok(status) = u16::try_from(conf.status_code).map(StatusCode::from_u16) else {
        return Flow::Continue;
    };
    let Ok(status) = status else {
        return Flow::Continue;
    };
    if conf.echo {
        return Flow::Respond(echo(conf, ctx, status));
    }
    if let Some(body) = &conf.body {
        let mut exit = Exit::with_body(
            status,
            conf.content_type.as_deref().unwrap_or_default(),
            Bytes::from(body.clone()),
        );
        if conf.content_type.is_none() {
            // `kong.response.exit(status, body, {["Content-Type"] = nil})` under Kong's proxy `location /`, whose
            // `default_type ''` adds none (`kong/templates/nginx_kong.lua`): the body goes without a Content-Type.
            exit.headers.remove(http::header::CONTENT_TYPE);
        }
        return Flow::Respond(exit);
    }
    match conf
        .message
        .as_deref()
        .or_else(|| default_message(status.as_u16()))
    {
        Some(message) => Flow::Respond(Exit::message(status, message)),
        None => Flow::Respond(Exit::empty(status)),
    }
}

/// `echo = true`: the request as Kong saw it, as JSON.
fn echo(conf: &Config, ctx: &Ctx, status: StatusCode) -> Exit {
    let mut headers = Map::new();
    for name in ctx.request.headers.keys() {
        let values: Vec<Value> = ctx
            .request
            .headers
            .get_all(name)
            .iter()
            .map(|v| Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let value = if values.len() == 1 {
            values.into_iter().next().unwrap_or(Value::Null)
        } else {
            Value::Array(values)
        };
        headers.insert(name.as_str().to_owned(), value);
    }
    let query: Map<String, Value> = ctx
        .request
        .uri
        .query()
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                .collect()
        })
        .unwrap_or_default();
    let host = ctx.header("host").unwrap_or_default().to_owned();
    // `message = conf.message or DEFAULT_RESPONSE[status]` (Kong's `handler.lua`, the echo branch).
    let message = conf
        .message
        .as_deref()
        .or_else(|| default_message(status.as_u16()));
    let body = json!({
        "message": message,
        "kong": { "node_id": crate::NODE_ID.as_str(), "worker_pid": std::process::id(), "hostname": host },
        "request": {
            "scheme": "http",
            "host": host.split(':').next().unwrap_or_default(),
            "headers": headers,
            "query": query,
            "method": ctx.request.method.as_str(),
            "path": ctx.request.uri.path(),
            "uri_captures": { "named": {}, "unnamed": [] },
        },
        "matched_route": { "id": &*ctx.route_id },
        "matched_service": ctx.service_id.as_deref().map(|id| json!({ "id": id })),
    });
    Exit::with_body(status, JSON_CONTENT_TYPE, Bytes::from(body.to_string()))
}
