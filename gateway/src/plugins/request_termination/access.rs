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

/// Ends the request unless a `trigger` is configured and the request carries it neither as a
/// header (`kong.request.get_headers()[trigger]`) nor as a query argument.
pub async fn execute(conf: &Config, ctx: &mut Ctx) -> Flow {
    if let Some(trigger) = &conf.trigger
        && ctx.header_values(trigger).next().is_none()
        && ctx.query_arg(trigger).is_none_or(|arg| !arg.is_truthy())
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
        return Flow::Respond(echo(conf, ctx, status).await);
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

/// `echo = true`: the request as Kong saw it (`handler.lua`): `message` (the configured one or
/// the status's default, absent when neither), the node, the request (scheme, host without
/// port, the listener's port, headers and query as Kong's tables, the parsed and raw body, method,
/// path, URI captures), and the matched route and service entities.
async fn echo(conf: &Config, ctx: &mut Ctx, status: StatusCode) -> Exit {
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
    let query = ctx.query_table();
    let host = ctx
        .header("host")
        .map(|h| {
            h.rsplit_once(':')
                .map_or(h, |(name, _)| name)
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let port = ctx.server_port;
    let body = ctx.body_table().await;
    let raw_body = ctx
        .raw_body()
        .await
        .map(|b| String::from_utf8_lossy(b).into_owned());
    let compiled = ctx
        .snapshot
        .routes
        .iter()
        .find(|r| *r.id == *ctx.route_id)
        .cloned();
    let mut request = Map::new();
    request.insert("scheme".into(), "http".into());
    request.insert("host".into(), host.into());
    if let Some(port) = port {
        request.insert("port".into(), port.into());
    }
    request.insert("headers".into(), Value::Object(headers));
    request.insert("query".into(), query);
    if let Some(body) = body {
        request.insert("body".into(), body);
    }
    if let Some(raw) = raw_body {
        request.insert("raw_body".into(), raw.into());
    }
    request.insert("method".into(), ctx.request.method.as_str().into());
    request.insert("path".into(), ctx.request.uri.path().into());
    let captures = ctx.uri_captures.clone().unwrap_or_default();
    request.insert("uri_captures".into(), captures.to_json());
    let mut content = Map::new();
    if let Some(message) = conf
        .message
        .as_deref()
        .or_else(|| default_message(status.as_u16()))
    {
        content.insert("message".into(), message.into());
    }
    content.insert(
        "kong".into(),
        json!({
            "node_id": crate::NODE_ID.as_str(),
            "worker_pid": std::process::id(),
            "hostname": crate::HOSTNAME.as_str(),
        }),
    );
    content.insert("request".into(), Value::Object(request));
    if let Some(compiled) = compiled {
        content.insert(
            "matched_route".into(),
            serde_json::to_value(&*compiled.route).unwrap_or(Value::Null),
        );
        if let Some(service) = &compiled.service {
            content.insert(
                "matched_service".into(),
                serde_json::to_value(&**service).unwrap_or(Value::Null),
            );
        }
    }
    Exit::with_body(
        status,
        JSON_CONTENT_TYPE,
        Bytes::from(Value::Object(content).to_string()),
    )
}
