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

/// The top-level collection handlers of one entity: list, create, and get / patch / put / delete
/// by id or endpoint key. Each `$op` is the `Db` call for that operation.
macro_rules! entity_handlers {
    (
        $path:literal,
        list: $list:ident => $table:ident,
        create: $create:ident => |$cdb:ident, $cv:ident, $cs:ident, $cn:ident| $insert:expr,
        get: $get:ident => $find:ident,
        patch: $patch:ident => $update:ident,
        put: $put:ident => |$udb:ident, $uk:ident, $uv:ident, $us:ident, $un:ident| $upsert:expr,
        delete: $delete:ident => |$ddb:ident, $dk:ident| $remove:expr $(,)?
    ) => {
        async fn $list(State(s): AppState, Query(p): Query<Page>) -> Response {
            list(
                s.read(|db| db.$table.values().map(to_value).collect()),
                &p,
                $path,
            )
        }
        async fn $create(State(s): AppState, body: Input) -> Result<Response> {
            let $cn = s.clock.now();
            let ($cv, $cs) = (body.value, body.source);
            Ok(created(to_value(&s.write(|$cdb| $insert)?)))
        }
        async fn $get(State(s): AppState, Path(key): Path<String>) -> Result<Response> {
            s.read(|db| found(db.$find(&key)))
        }
        async fn $patch(
            State(s): AppState,
            Path(key): Path<String>,
            body: Input,
        ) -> Result<Response> {
            let now = s.clock.now();
            Ok(ok(to_value(&s.write(|db| {
                db.$update(&key, body.value, body.source, now)
            })?)))
        }
        async fn $put(
            State(s): AppState,
            Path($uk): Path<String>,
            body: Input,
        ) -> Result<Response> {
            let $un = s.clock.now();
            let ($uv, $us) = (body.value, body.source);
            Ok(ok(to_value(&s.write(|$udb| $upsert)?)))
        }
        async fn $delete(State(s): AppState, Path($dk): Path<String>) -> Result<Response> {
            s.write(|$ddb| $remove)?;
            Ok(no_content())
        }
    };
}

entity_handlers! {
    "/services",
    list: list_services => services,
    create: create_service => |db, v, src, now| db.insert_service(v, src, now),
    get: get_service => service,
    patch: patch_service => update_service,
    put: put_service => |db, k, v, src, now| db.upsert_service(&k, v, src, now),
    delete: delete_service => |db, k| db.delete_service(&k),
}

entity_handlers! {
    "/routes",
    list: list_routes => routes,
    create: create_route => |db, v, src, now| db.insert_route(v, src, now, None),
    get: get_route => route,
    patch: patch_route => update_route,
    put: put_route => |db, k, v, src, now| db.upsert_route(&k, v, src, now),
    delete: delete_route => |db, k| db.delete_route(&k),
}

entity_handlers! {
    "/consumers",
    list: list_consumers => consumers,
    create: create_consumer => |db, v, src, now| db.insert_consumer(v, src, now),
    get: get_consumer => consumer,
    patch: patch_consumer => update_consumer,
    put: put_consumer => |db, k, v, src, now| db.upsert_consumer(&k, v, src, now),
    delete: delete_consumer => |db, k| db.delete_consumer(&k),
}

entity_handlers! {
    "/key-auths",
    list: list_keys => keyauth_credentials,
    create: create_key => |db, v, src, now| db.insert_key_auth(v, src, now, None),
    get: get_key => key_auth_by_key,
    patch: patch_key => update_key_auth_by_key,
    put: put_key => |db, k, v, src, now| db.upsert_key_auth(&k, None, v, src, now),
    delete: delete_key => |db, k| db.delete_key_auth(&k, None),
}

entity_handlers! {
    "/plugins",
    list: list_plugins => plugins,
    create: create_plugin => |db, v, src, now| db.insert_plugin(v, src, now, None),
    get: get_plugin => plugin,
    patch: patch_plugin => update_plugin,
    put: put_plugin => |db, k, v, src, now| db.upsert_plugin(&k, v, src, now, None),
    delete: delete_plugin => |db, k| db.delete_plugin(&k),
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
        // Not "off": Kong reports "off" for DB-less nodes, whose Admin API is read-only; this one
        // keeps entities in memory and accepts writes like a database-backed node.
        "configuration": { "database": "memory", "role": "traditional" },
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

async fn get_route_service(State(s): AppState, Path(key): Path<String>) -> Result<Response> {
    s.read(|db| {
        let id = db.route(&key)?.service.as_ref()?.id.clone();
        db.services.get(&id).map(to_value)
    })
    .map(ok)
    .ok_or(AdminError::NotFound)
}

// ---- consumers ------------------------------------------------------------------------------

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

async fn enabled_plugins() -> Response {
    let names: Vec<&str> = crate::plugins::available()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    ok(json!({ "enabled_plugins": names }))
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
