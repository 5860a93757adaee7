//! The Admin API: Kong's endpoints for services, routes, consumers, key-auth credentials and
//! plugins, with Kong's status codes (POST 201, DELETE 204), list shape and error bodies.
//! JSON and form bodies are both accepted (see [`form`]).

mod error;
pub mod form;

use std::sync::Arc;

use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{StatusCode, header::CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use error::AdminError;

use crate::model::{Db, Endpoint};
use crate::schema::Source;
use crate::state::Shared;

type AppState = State<Arc<Shared>>;
type Result<T> = std::result::Result<T, AdminError>;

/// The version the Admin API reports: the Kong release whose behaviour this gateway copies.
pub const KONG_VERSION: &str = "3.10.0";

/// The Admin API router.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(root))
        .route("/status", get(status))
        .route("/config", get(get_config).post(post_config))
        .route("/services", get(list_services).post(create_service))
        .route(
            "/services/{s}",
            get(get_service)
                .patch(patch_service)
                .put(put_service)
                .delete(delete_service),
        )
        .route(
            "/services/{s}/routes",
            get(list_service_routes).post(create_service_route),
        )
        .route(
            "/services/{s}/plugins",
            get(list_service_plugins).post(create_service_plugin),
        )
        .route("/routes", get(list_routes).post(create_route))
        .route(
            "/routes/{r}",
            get(get_route)
                .patch(patch_route)
                .put(put_route)
                .delete(delete_route),
        )
        .route("/routes/{r}/service", get(get_route_service))
        .route(
            "/routes/{r}/plugins",
            get(list_route_plugins).post(create_route_plugin),
        )
        .route("/consumers", get(list_consumers).post(create_consumer))
        .route(
            "/consumers/{c}",
            get(get_consumer)
                .patch(patch_consumer)
                .put(put_consumer)
                .delete(delete_consumer),
        )
        .route(
            "/consumers/{c}/plugins",
            get(list_consumer_plugins).post(create_consumer_plugin),
        )
        .route(
            "/consumers/{c}/key-auth",
            get(list_consumer_keys).post(create_consumer_key),
        )
        .route(
            "/consumers/{c}/key-auth/{k}",
            get(get_consumer_key)
                .patch(patch_consumer_key)
                .put(put_consumer_key)
                .delete(delete_consumer_key),
        )
        .route("/key-auths", get(list_keys).post(create_key))
        .route(
            "/key-auths/{k}",
            get(get_key)
                .patch(patch_key)
                .put(put_key)
                .delete(delete_key),
        )
        .route("/key-auths/{k}/consumer", get(get_key_consumer))
        .route("/plugins", get(list_plugins).post(create_plugin))
        .route("/plugins/enabled", get(enabled_plugins))
        .route(
            "/plugins/{p}",
            get(get_plugin)
                .patch(patch_plugin)
                .put(put_plugin)
                .delete(delete_plugin),
        )
        .fallback(|| async { AdminError::NotFound })
        .method_not_allowed_fallback(|| async { AdminError::MethodNotAllowed })
        .with_state(shared)
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
                value: form::decode(&bytes),
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

/// `?size=&offset=` paging.
#[derive(Debug, Default, Deserialize)]
pub struct Page {
    size: Option<usize>,
    offset: Option<String>,
}

fn to_value<T: Serialize>(entity: &T) -> Value {
    serde_json::to_value(entity).unwrap_or(Value::Null)
}

fn list(items: Vec<Value>, page: &Page, path: &str) -> Response {
    let size = page.size.unwrap_or(100).clamp(1, 1000);
    let start: usize = page
        .offset
        .as_deref()
        .and_then(|o| o.parse().ok())
        .unwrap_or(0);
    let end = (start + size).min(items.len());
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

// ---- root and status ------------------------------------------------------------------------

async fn root(State(s): AppState) -> Response {
    let available: serde_json::Map<String, Value> = crate::plugins::available()
        .into_iter()
        .map(|(name, priority)| {
            (
                name.to_owned(),
                json!({ "version": KONG_VERSION, "priority": priority }),
            )
        })
        .collect();
    let enabled: Vec<String> = s.read(|db| {
        let mut names: Vec<String> = db.plugins.values().map(|p| p.name.clone()).collect();
        names.sort();
        names.dedup();
        names
    });
    ok(json!({
        "version": KONG_VERSION,
        "edition": "community",
        "tagline": "Welcome to kong",
        "lua_version": "reference-gateway (Rust)",
        "node_id": crate::NODE_ID.as_str(),
        "hostname": "reference-gateway",
        "server": { "name": "reference-gateway", "version": env!("CARGO_PKG_VERSION") },
        "plugins": { "available_on_server": available, "enabled_in_cluster": enabled },
        "configuration": { "database": "off", "role": "traditional" },
    }))
}

async fn status(State(s): AppState) -> Response {
    let counts = s.read(|db| {
        json!({
            "services": db.services.len(), "routes": db.routes.len(), "consumers": db.consumers.len(),
            "plugins": db.plugins.len(), "keyauth_credentials": db.keyauth_credentials.len(),
        })
    });
    ok(json!({
        "database": { "reachable": true },
        "server": { "total_requests": s.total_requests() },
        "memory": {},
        "entities": counts,
    }))
}

// ---- declarative /config --------------------------------------------------------------------

async fn get_config(State(s): AppState) -> Response {
    ok(s.read(crate::declarative::export))
}

async fn post_config(State(s): AppState, req: Request) -> Result<Response> {
    let bytes = bytes::Bytes::from_request(req, &())
        .await
        .map_err(|e| AdminError::BadRequest(format!("cannot read body: {e}")))?;
    let now = s.clock.now();
    let db = crate::declarative::parse_bytes(&bytes, "request body", now)
        .map_err(AdminError::BadRequest)?;
    s.replace(db)?;
    Ok(created(s.read(crate::declarative::export)))
}

// ---- services -------------------------------------------------------------------------------

async fn list_services(State(s): AppState, Query(p): Query<Page>) -> Response {
    list(
        s.read(|db| db.services.values().map(to_value).collect()),
        &p,
        "/services",
    )
}
async fn create_service(State(s): AppState, body: Input) -> Result<Response> {
    let now = s.clock.now();
    Ok(created(to_value(&s.write(|db| {
        db.insert_service(body.value, body.source, now)
    })?)))
}
async fn get_service(State(s): AppState, Path(key): Path<String>) -> Result<Response> {
    s.read(|db| found(db.service(&key)))
}
async fn patch_service(
    State(s): AppState,
    Path(key): Path<String>,
    body: Input,
) -> Result<Response> {
    let now = s.clock.now();
    Ok(ok(to_value(&s.write(|db| {
        db.update_service(&key, body.value, body.source, now)
    })?)))
}
async fn put_service(State(s): AppState, Path(key): Path<String>, body: Input) -> Result<Response> {
    let now = s.clock.now();
    Ok(ok(to_value(&s.write(|db| {
        db.upsert_service(&key, body.value, body.source, now)
    })?)))
}
async fn delete_service(State(s): AppState, Path(key): Path<String>) -> Result<Response> {
    s.write(|db| db.delete_service(&key))?;
    Ok(no_content())
}
async fn list_service_routes(
    State(s): AppState,
    Path(key): Path<String>,
    Query(p): Query<Page>,
) -> Result<Response> {
    let items = s.read(|db| {
        let id = db.service(&key)?.id.clone();
        Some(
            db.routes
                .values()
                .filter(|r| r.service.as_ref().is_some_and(|fk| fk.id == id))
                .map(to_value)
                .collect::<Vec<_>>(),
        )
    });
    Ok(list(
        items.ok_or(AdminError::NotFound)?,
        &p,
        &format!("/services/{key}/routes"),
    ))
}
async fn create_service_route(
    State(s): AppState,
    Path(key): Path<String>,
    body: Input,
) -> Result<Response> {
    let now = s.clock.now();
    Ok(created(to_value(&s.write(|db| {
        db.insert_route(body.value, body.source, now, Some(&key))
    })?)))
}

// ---- routes ---------------------------------------------------------------------------------

async fn list_routes(State(s): AppState, Query(p): Query<Page>) -> Response {
    list(
        s.read(|db| db.routes.values().map(to_value).collect()),
        &p,
        "/routes",
    )
}
async fn create_route(State(s): AppState, body: Input) -> Result<Response> {
    let now = s.clock.now();
    Ok(created(to_value(&s.write(|db| {
        db.insert_route(body.value, body.source, now, None)
    })?)))
}
async fn get_route(State(s): AppState, Path(key): Path<String>) -> Result<Response> {
    s.read(|db| found(db.route(&key)))
}
async fn patch_route(State(s): AppState, Path(key): Path<String>, body: Input) -> Result<Response> {
    let now = s.clock.now();
    Ok(ok(to_value(&s.write(|db| {
        db.update_route(&key, body.value, body.source, now)
    })?)))
}
async fn put_route(State(s): AppState, Path(key): Path<String>, body: Input) -> Result<Response> {
    let now = s.clock.now();
    Ok(ok(to_value(&s.write(|db| {
        db.upsert_route(&key, body.value, body.source, now)
    })?)))
}
async fn delete_route(State(s): AppState, Path(key): Path<String>) -> Result<Response> {
    s.write(|db| db.delete_route(&key))?;
    Ok(no_content())
}
async fn get_route_service(State(s): AppState, Path(key): Path<String>) -> Result<Response> {
    s.read(|db| {
        let id = db.route(&key)?.service.as_ref()?.id.clone();
        db.services.get(&id).map(to_value)
    })
    .map(ok)
    .ok_or(AdminError::NotFound)
}

// ---- consumers ------------------------------------------------------------------------------

async fn list_consumers(State(s): AppState, Query(p): Query<Page>) -> Response {
    list(
        s.read(|db| db.consumers.values().map(to_value).collect()),
        &p,
        "/consumers",
    )
}
async fn create_consumer(State(s): AppState, body: Input) -> Result<Response> {
    let now = s.clock.now();
    Ok(created(to_value(&s.write(|db| {
        db.insert_consumer(body.value, body.source, now)
    })?)))
}
async fn get_consumer(State(s): AppState, Path(key): Path<String>) -> Result<Response> {
    s.read(|db| found(db.consumer(&key)))
}
async fn patch_consumer(
    State(s): AppState,
    Path(key): Path<String>,
    body: Input,
) -> Result<Response> {
    let now = s.clock.now();
    Ok(ok(to_value(&s.write(|db| {
        db.update_consumer(&key, body.value, body.source, now)
    })?)))
}
async fn put_consumer(
    State(s): AppState,
    Path(key): Path<String>,
    body: Input,
) -> Result<Response> {
    let now = s.clock.now();
    Ok(ok(to_value(&s.write(|db| {
        db.upsert_consumer(&key, body.value, body.source, now)
    })?)))
}
async fn delete_consumer(State(s): AppState, Path(key): Path<String>) -> Result<Response> {
    s.write(|db| db.delete_consumer(&key))?;
    Ok(no_content())
}

// ---- key-auth credentials -------------------------------------------------------------------

async fn list_consumer_keys(
    State(s): AppState,
    Path(c): Path<String>,
    Query(p): Query<Page>,
) -> Result<Response> {
    let items = s.read(|db| {
        db.key_auths_of(&c)
            .map(|v| v.into_iter().map(to_value).collect::<Vec<_>>())
    });
    Ok(list(
        items.ok_or(AdminError::NotFound)?,
        &p,
        &format!("/consumers/{c}/key-auth"),
    ))
}
async fn create_consumer_key(
    State(s): AppState,
    Path(c): Path<String>,
    body: Input,
) -> Result<Response> {
    let now = s.clock.now();
    Ok(created(to_value(&s.write(|db| {
        db.insert_key_auth(body.value, body.source, now, Some(&c))
    })?)))
}
async fn get_consumer_key(
    State(s): AppState,
    Path((c, k)): Path<(String, String)>,
) -> Result<Response> {
    s.read(|db| found(db.key_auth(&k, Some(&c))))
}
async fn patch_consumer_key(
    State(s): AppState,
    Path((c, k)): Path<(String, String)>,
    body: Input,
) -> Result<Response> {
    let now = s.clock.now();
    Ok(ok(to_value(&s.write(|db| {
        db.update_key_auth(&k, Some(&c), body.value, body.source, now)
    })?)))
}
async fn put_consumer_key(
    State(s): AppState,
    Path((c, k)): Path<(String, String)>,
    body: Input,
) -> Result<Response> {
    let now = s.clock.now();
    Ok(ok(to_value(&s.write(|db| {
        db.upsert_key_auth(&k, Some(&c), body.value, body.source, now)
    })?)))
}
async fn delete_consumer_key(
    State(s): AppState,
    Path((c, k)): Path<(String, String)>,
) -> Result<Response> {
    s.write(|db| db.delete_key_auth(&k, Some(&c)))?;
    Ok(no_content())
}
async fn list_keys(State(s): AppState, Query(p): Query<Page>) -> Response {
    list(
        s.read(|db| db.keyauth_credentials.values().map(to_value).collect()),
        &p,
        "/key-auths",
    )
}
async fn create_key(State(s): AppState, body: Input) -> Result<Response> {
    let now = s.clock.now();
    Ok(created(to_value(&s.write(|db| {
        db.insert_key_auth(body.value, body.source, now, None)
    })?)))
}
async fn get_key(State(s): AppState, Path(k): Path<String>) -> Result<Response> {
    s.read(|db| found(db.key_auth(&k, None)))
}
async fn patch_key(State(s): AppState, Path(k): Path<String>, body: Input) -> Result<Response> {
    let now = s.clock.now();
    Ok(ok(to_value(&s.write(|db| {
        db.update_key_auth(&k, None, body.value, body.source, now)
    })?)))
}
async fn put_key(State(s): AppState, Path(k): Path<String>, body: Input) -> Result<Response> {
    let now = s.clock.now();
    Ok(ok(to_value(&s.write(|db| {
        db.upsert_key_auth(&k, None, body.value, body.source, now)
    })?)))
}
async fn delete_key(State(s): AppState, Path(k): Path<String>) -> Result<Response> {
    s.write(|db| db.delete_key_auth(&k, None))?;
    Ok(no_content())
}
async fn get_key_consumer(State(s): AppState, Path(k): Path<String>) -> Result<Response> {
    s.read(|db| {
        let id = db.key_auth(&k, None)?.consumer.as_ref()?.id.clone();
        db.consumers.get(&id).map(to_value)
    })
    .map(ok)
    .ok_or(AdminError::NotFound)
}

// ---- plugins --------------------------------------------------------------------------------

fn scoped_plugins(db: &Db, scope: Endpoint, key: &str) -> Option<Vec<Value>> {
    db.plugins_of(scope, key)
        .map(|v| v.into_iter().map(to_value).collect())
}

async fn list_plugins(State(s): AppState, Query(p): Query<Page>) -> Response {
    list(
        s.read(|db| db.plugins.values().map(to_value).collect()),
        &p,
        "/plugins",
    )
}
async fn create_plugin(State(s): AppState, body: Input) -> Result<Response> {
    let now = s.clock.now();
    Ok(created(to_value(&s.write(|db| {
        db.insert_plugin(body.value, body.source, now, None)
    })?)))
}
async fn enabled_plugins() -> Response {
    let names: Vec<&str> = crate::plugins::available()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    ok(json!({ "enabled_plugins": names }))
}
async fn get_plugin(State(s): AppState, Path(key): Path<String>) -> Result<Response> {
    s.read(|db| found(db.plugin(&key)))
}
async fn patch_plugin(
    State(s): AppState,
    Path(key): Path<String>,
    body: Input,
) -> Result<Response> {
    let now = s.clock.now();
    Ok(ok(to_value(&s.write(|db| {
        db.update_plugin(&key, body.value, body.source, now)
    })?)))
}
async fn put_plugin(State(s): AppState, Path(key): Path<String>, body: Input) -> Result<Response> {
    let now = s.clock.now();
    Ok(ok(to_value(&s.write(|db| {
        db.upsert_plugin(&key, body.value, body.source, now, None)
    })?)))
}
async fn delete_plugin(State(s): AppState, Path(key): Path<String>) -> Result<Response> {
    s.write(|db| db.delete_plugin(&key))?;
    Ok(no_content())
}

macro_rules! scoped_plugin_handlers {
    ($list:ident, $create:ident, $endpoint:expr, $path:literal) => {
        async fn $list(
            State(s): AppState,
            Path(key): Path<String>,
            Query(p): Query<Page>,
        ) -> Result<Response> {
            let items = s
                .read(|db| scoped_plugins(db, $endpoint, &key))
                .ok_or(AdminError::NotFound)?;
            Ok(list(items, &p, &format!($path, key)))
        }
        async fn $create(
            State(s): AppState,
            Path(key): Path<String>,
            body: Input,
        ) -> Result<Response> {
            let now = s.clock.now();
            let plugin = s.write(|db| {
                db.insert_plugin(body.value, body.source, now, Some(($endpoint, &key)))
            })?;
            Ok(created(to_value(&plugin)))
        }
    };
}

scoped_plugin_handlers!(
    list_service_plugins,
    create_service_plugin,
    Endpoint::Services,
    "/services/{}/plugins"
);
scoped_plugin_handlers!(
    list_route_plugins,
    create_route_plugin,
    Endpoint::Routes,
    "/routes/{}/plugins"
);
scoped_plugin_handlers!(
    list_consumer_plugins,
    create_consumer_plugin,
    Endpoint::Consumers,
    "/consumers/{}/plugins"
);

#[cfg(test)]
mod tests;
