//! The Status API, served on Kong's `status_listen` (`kong/status/init.lua`): `GET /status` (the body Kong's
//! `kong/api/routes/health.lua` builds, which the Admin API's `GET /status` also serves) and `/status/ready`
//! (`kong/status/ready.lua`). Read-only but for `POST /status/ready status=draining`; runs on its own listener,
//! reading the counters the proxy keeps with relaxed atomics.
//!
//! The prometheus plugin's `GET /metrics` belongs on this router too (Kong attaches a plugin's `status_api`
//! here): add it in [`router`], next to the routes below.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::state::Shared;
use crate::store::DatabaseMode;

type AppState = State<Arc<Shared>>;

/// Kong's `/status/ready` messages (`kong/status/ready.lua`).
pub const READY: &str = "ready";
/// While the node drains.
pub const DRAINING: &str = "draining";
/// When the database does not answer.
pub const NO_DATABASE: &str = "failed to connect to database";
/// DB-less with nothing loaded.
pub const EMPTY_CONFIGURATION: &str = "no configuration available (empty configuration present)";

/// The Status API router.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/status", get(status))
        .route("/status/ready", get(ready).post(set_ready))
        // `/metrics` (the prometheus plugin's status_api) goes here.
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                Json(json!({ "message": "Not found" })),
            )
        })
        .with_state(shared)
}

/// `GET /status` (also the Admin API's): Kong's `memory`, `server` and `database` objects.
pub async fn status(State(s): AppState, Query(query): Query<HashMap<String, String>>) -> Response {
    let unit = query.get("unit").map_or("m", String::as_str);
    let scale = match query.get("scale").map(|v| v.parse::<usize>()) {
        None => 2,
        Some(Ok(scale)) => scale,
        Some(Err(_)) => {
            return message(
                StatusCode::BAD_REQUEST,
                "scale must be equal or greater than 0",
            );
        }
    };
    let memory = match memory(unit, scale) {
        Ok(memory) => memory,
        Err(why) => return message(StatusCode::BAD_REQUEST, &why),
    };
    (
        StatusCode::OK,
        Json(json!({
            "database": { "reachable": database_reachable(&s).await },
            "memory": memory,
            "server": s.stats.server_json(s.total_requests()),
        })),
    )
        .into_response()
}

/// `GET /status/ready`: 200 `ready`, or 503 with why not (Kong's order: draining, database, configuration).
pub async fn ready(State(s): AppState) -> Response {
    if s.lifecycle.is_draining() {
        return message(StatusCode::SERVICE_UNAVAILABLE, DRAINING);
    }
    if !database_reachable(&s).await {
        return message(StatusCode::SERVICE_UNAVAILABLE, NO_DATABASE);
    }
    let empty =
        s.read(|db| db.services.is_empty() && db.routes.is_empty() && db.plugins.is_empty());
    if s.mode == DatabaseMode::Off && empty {
        return message(StatusCode::SERVICE_UNAVAILABLE, EMPTY_CONFIGURATION);
    }
    message(StatusCode::OK, READY)
}

/// `POST /status/ready` with `status=draining` (query or form): 204, and the node reports draining from now
/// on (as Kong, so that a load balancer stops sending before a stop); anything else 400.
async fn set_ready(
    State(s): AppState,
    Query(query): Query<HashMap<String, String>>,
    body: axum::body::Bytes,
) -> Response {
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let asked = query.get("status").or_else(|| form.get("status"));
    if asked.is_some_and(|v| v == DRAINING) {
        s.lifecycle.start_draining();
        return StatusCode::NO_CONTENT.into_response();
    }
    StatusCode::BAD_REQUEST.into_response()
}

fn message(status: StatusCode, text: &str) -> Response {
    (status, Json(json!({ "message": text }))).into_response()
}

/// Kong asks the database on every call (`kong.db:connect()`); without one it is reachable.
async fn database_reachable(s: &Shared) -> bool {
    match s.store() {
        None => true,
        Some(store) => store.client().await.is_ok(),
    }
}

/// Kong's `memory` object (`kong.node.get_memory_stats`): one worker (this process, whose resident memory
/// stands for the Lua VM's) and no shared dictionaries.
fn memory(unit: &str, scale: usize) -> Result<Value, String> {
    let resident = resident_bytes().unwrap_or(0);
    Ok(json!({
        "workers_lua_vms": [{
            "pid": std::process::id(),
            "http_allocated_gc": bytes_to_str(resident, unit, scale)?,
        }],
        "lua_shared_dicts": {},
    }))
}

/// This process's resident memory (`/proc/self/statm`, in pages of 4 KiB).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Kong's `bytes_to_str` (`kong/tools/string.lua`).
#[allow(clippy::cast_precision_loss)]
fn bytes_to_str(bytes: u64, unit: &str, scale: usize) -> Result<Value, String> {
    let (div, suffix) = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => return Ok(json!(bytes)),
        "k" => (1u64 << 10, "KiB"),
        "m" => (1 << 20, "MiB"),
        "g" => (1 << 30, "GiB"),
        _ => {
            return Err(format!(
                "invalid unit '{unit}' (expected 'k/K', 'm/M', or 'g/G')"
            ));
        }
    };
    Ok(json!(format!(
        "{:.*} {suffix}",
        scale,
        bytes as f64 / div as f64
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_written_as_kong_writes_them() {
        assert_eq!(bytes_to_str(5_497_558, "m", 2), Ok(json!("5.24 MiB")));
        assert_eq!(bytes_to_str(5_497_558, "G", 3), Ok(json!("0.005 GiB")));
        assert_eq!(bytes_to_str(5_497_558, "b", 2), Ok(json!(5_497_558)));
        assert!(bytes_to_str(1, "t", 2).is_err());
    }
}
