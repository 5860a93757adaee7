//! Admin API endpoints about the node rather than an entity (`kong/api/routes/kong.lua`,
//! `config.lua`, `plugins.lua`): `/`, `/status`, `/plugins/enabled`, and the declarative
//! `/config` (export on GET, replace everything on POST).

use axum::Router;
use std::collections::HashMap;

use axum::extract::{FromRequest, Query, Request, State};
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};

use super::{AdminError, AppState, KONG_VERSION, Result, created, ok};
use crate::model::PluginCatalogue;
use crate::state::Shared;

type Routes = Router<std::sync::Arc<Shared>>;

/// Adds the node's endpoints.
pub(super) fn routes(router: Routes) -> Routes {
    router
        .route("/", get(root))
        .route("/status", get(status))
        .route("/config", get(get_config).post(post_config))
        .route("/plugins/enabled", get(enabled_plugins))
}

async fn root(State(s): AppState) -> Response {
    let available: serde_json::Map<String, Value> = s
        .catalogue
        .available()
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
        // "off" is Kong's DB-less (read-only Admin API); "memory" keeps entities in this process
        // and accepts writes like a database-backed node; "postgres" is Kong's traditional mode.
        "configuration": { "database": s.mode.as_str(), "role": "traditional" },
    }))
}

async fn status(State(s): AppState) -> Response {
    // Kong's `/status` asks the database (`kong/api/routes/health.lua`: `kong.db:connect()`).
    let reachable = match s.store() {
        None => true,
        Some(store) => store.client().await.is_ok(),
    };
    let counts = s.read(|db| {
        let mut counts = json!({
            "services": db.services.len(), "routes": db.routes.len(), "consumers": db.consumers.len(),
            "plugins": db.plugins.len(),
        });
        for entity in s.catalogue.entities() {
            counts[entity.table] = json!(db.credentials(entity).count());
        }
        counts
    });
    ok(json!({
        "database": { "reachable": reachable },
        "server": { "total_requests": s.total_requests() },
        "memory": {},
        "entities": counts,
    }))
}

async fn enabled_plugins(State(s): AppState) -> Response {
    let names: Vec<&str> = s
        .catalogue
        .available()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    ok(json!({ "enabled_plugins": names }))
}

async fn get_config(State(s): AppState) -> Response {
    ok(s.read(|db| crate::declarative::export(db, s.catalogue.as_ref())))
}

async fn post_config(
    State(s): AppState,
    Query(params): Query<HashMap<String, String>>,
    req: Request,
) -> Result<Response> {
    let bytes = bytes::Bytes::from_request(req, &())
        .await
        .map_err(|e| AdminError::BadRequest(format!("cannot read body: {e}")))?;
    let now = s.clock.now();
    let parsed = crate::declarative::parse_value(&bytes)
        .map_err(|e| AdminError::BadRequest(e.to_string()))?;
    let db = match crate::declarative::load(parsed.clone(), now, s.catalogue.as_ref()) {
        Ok(db) => db,
        Err(crate::declarative::Problem::Entries(entries)) => {
            return Err(AdminError::Body(declarative_error(
                &entries,
                &parsed,
                params.get("flatten_errors").is_some_and(|v| truthy(v)),
            )));
        }
        Err(problem) => return Err(AdminError::BadRequest(problem.to_string())),
    };
    s.replace_async(db).await?;
    Ok(created(s.read(|db| {
        crate::declarative::export(db, s.catalogue.as_ref())
    })))
}

/// Kong's body for a declarative configuration that did not validate (`kong/api/routes/config.lua`,
/// `kong/db/errors.lua` `declarative_config` / `declarative_config_flattened`): code 14, every
/// refused entry in `fields`, and with `?flatten_errors=1` one record per entry in
/// `flattened_errors`.
fn declarative_error(
    entries: &[crate::declarative::EntryError],
    input: &Value,
    flatten: bool,
) -> Value {
    use crate::declarative::error as e;
    let fields = e::kong_fields(entries);
    let mut body = json!({
        "code": e::DECLARATIVE_CONFIG_CODE,
        "name": e::DECLARATIVE_CONFIG_NAME,
        "message": e::kong_message(&fields),
        "fields": fields,
    });
    if flatten {
        body["flattened_errors"] = e::kong_flattened(entries, input);
    }
    body
}

/// Kong's `truthy` for query flags (`kong/api/routes/config.lua`).
fn truthy(value: &str) -> bool {
    matches!(
        value.to_ascii_lowercase().as_str(),
        "1" | "true" | "on" | "yes"
    )
}
