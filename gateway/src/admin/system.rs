//! Admin API endpoints about the node rather than an entity (`kong/api/routes/kong.lua`,
//! `config.lua`, `plugins.lua`): `/`, `/status`, `/plugins/enabled`, and the declarative
//! `/config` (export on GET, replace everything on POST).

use axum::Router;
use axum::extract::{FromRequest, Request, State};
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

async fn post_config(State(s): AppState, req: Request) -> Result<Response> {
    let bytes = bytes::Bytes::from_request(req, &())
        .await
        .map_err(|e| AdminError::BadRequest(format!("cannot read body: {e}")))?;
    let now = s.clock.now();
    let db = crate::declarative::parse_bytes(&bytes, "request body", now, s.catalogue.as_ref())
        .map_err(|e| AdminError::BadRequest(e.to_string()))?;
    s.replace_async(db).await?;
    Ok(created(s.read(|db| {
        crate::declarative::export(db, s.catalogue.as_ref())
    })))
}
