//! The Admin API: Kong's endpoints for services, routes, consumers, plugins and the entities
//! plugins own (`kong/api/routes/*.lua`, `kong/api/endpoints.lua`), with Kong's status codes
//! (POST 201, DELETE 204), list shape and error bodies. JSON and form bodies are both accepted
//! (see [`form`]). Runs on the Admin API listener; every write goes through
//! [`Shared::write`], which swaps in a new snapshot.
//!
//! [`entities`] serves the core entities, [`credentials`] every plugin-owned entity from its
//! descriptor, [`system`] the root, `/status` and `/config`.

mod credentials;
mod entities;
mod error;
pub mod form;
mod query;
mod system;

use std::sync::Arc;

use axum::extract::{FromRequest, Request, State};
use axum::http::{StatusCode, header::CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{Value, json};

pub use error::AdminError;
pub use query::{AdminPath, Page};

use crate::model::PluginCatalogue;
use crate::schema::Source;
use crate::state::Shared;

type AppState = State<Arc<Shared>>;
type Result<T> = std::result::Result<T, AdminError>;

/// The version the Admin API reports: the Kong release whose behaviour this gateway copies.
pub const KONG_VERSION: &str = "3.10.0";

/// The Admin API router: the core entities, every entity the catalogue's plugins own, and the
/// system endpoints.
pub fn router(shared: Arc<Shared>) -> Router {
    let mut router = system::routes(entities::routes(Router::new()));
    for entity in shared.catalogue.entities() {
        router = credentials::routes(router, entity);
    }
    if shared.mode == crate::store::DatabaseMode::Off {
        router = router.layer(axum::middleware::from_fn_with_state(
            Arc::clone(&shared),
            dbless_writes,
        ));
    }
    router
        .fallback(|| async { AdminError::NotFound })
        .method_not_allowed_fallback(|| async { AdminError::MethodNotAllowed })
        .layer(axum::middleware::from_fn(query::limit_arguments))
        .with_state(shared)
}

/// DB-less (`database = off`): every write but `POST /config` is refused as Kong's `off` strategy
/// does (`kong/db/strategies/off/init.lua`: 405, code 12 `operation unsupported`,
/// `cannot create 'services' entities when not using a database`).
async fn dbless_writes(State(s): AppState, req: Request, next: axum::middleware::Next) -> Response {
    use axum::http::Method;
    let operation = match *req.method() {
        Method::POST => "create",
        Method::PUT => "create or update",
        Method::PATCH => "update",
        Method::DELETE => "remove",
        _ => return next.run(req).await,
    };
    let segments: Vec<&str> = req
        .uri()
        .path()
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    if segments.first() == Some(&"config") {
        return next.run(req).await;
    }
    let collection = if segments.len() >= 3 {
        segments[2]
    } else {
        segments.first().copied().unwrap_or_default()
    };
    let table = s
        .catalogue
        .entities()
        .iter()
        .find(|e| e.admin_path == collection || e.consumer_path == collection)
        .map_or(collection, |e| e.table);
    let body = json!({
        "code": 12,
        "name": "operation unsupported",
        "message": format!("cannot {operation} '{table}' entities when not using a database"),
    });
    (StatusCode::METHOD_NOT_ALLOWED, Json(body)).into_response()
}

/// A request body, decoded by content type.
pub struct Input {
    value: Value,
    source: Source,
}

impl<S: Send + Sync> FromRequest<S> for Input {
    type Rejection = AdminError;

    async fn from_request(req: Request, state: &S) -> Result<Self> {
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let bytes = bytes::Bytes::from_request(req, state)
            .await
            .map_err(|e| AdminError::BadRequest(format!("cannot read body: {e}")))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self {
                value: json!({}),
                source: Source::Json,
            });
        }
        if content_type.starts_with("application/x-www-form-urlencoded") {
            return Ok(Self {
                value: form::decode(&bytes).map_err(|e| AdminError::BadRequest(e.to_string()))?,
                source: Source::Form,
            });
        }
        if content_type.is_empty()
            || content_type.starts_with("application/json")
            || content_type.contains("+json")
        {
            let value: Value = serde_json::from_slice(&bytes).map_err(|_| AdminError::BadJson)?;
            if !value.is_object() {
                return Err(AdminError::BadJson);
            }
            return Ok(Self {
                value,
                source: Source::Json,
            });
        }
        Err(AdminError::UnsupportedMediaType)
    }
}

fn to_value<T: Serialize>(entity: &T) -> Value {
    serde_json::to_value(entity).unwrap_or(Value::Null)
}

/// One page of `items`; an offset past the end gives an empty page with no `next`.
fn list(items: Vec<Value>, page: &Page, path: &str) -> Response {
    let size = page.size;
    let start = page.offset.min(items.len());
    let end = start.saturating_add(size).min(items.len());
    let data: Vec<Value> = items
        .get(start..end)
        .map(<[Value]>::to_vec)
        .unwrap_or_default();
    let mut body = json!({ "data": data, "next": Value::Null });
    if end < items.len() {
        body["offset"] = Value::String(end.to_string());
        body["next"] = Value::String(format!("{path}?offset={end}&size={size}"));
    }
    Json(body).into_response()
}

fn created(v: Value) -> Response {
    (StatusCode::CREATED, Json(v)).into_response()
}

fn ok(v: Value) -> Response {
    (StatusCode::OK, Json(v)).into_response()
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

fn found<T: Serialize>(entity: Option<&T>) -> Result<Response> {
    entity.map(|e| ok(to_value(e))).ok_or(AdminError::NotFound)
}

#[cfg(test)]
mod tests;
