//! Admin API endpoints about the node rather than an entity (`kong/api/routes/kong.lua`,
//! `config.lua`, `plugins.lua`): `/`, `/status`, `/plugins/enabled`, and the declarative
//! `/config` (export on GET, replace everything on POST).

use axum::Router;
use std::collections::HashMap;

use axum::extract::{FromRequest, Query, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::{AdminError, AppState, KONG_VERSION, Page, Result, created, ok};
use crate::model::PluginCatalogue;
use crate::state::Shared;

type Routes = Router<std::sync::Arc<Shared>>;

/// Adds the node's endpoints.
pub(super) fn routes(router: Routes) -> Routes {
    router
        .route("/", get(root))
        .route("/status", get(crate::status::status))
        .route("/config", get(get_config).post(post_config))
        .route("/plugins/enabled", get(enabled_plugins))
        .route(
            "/schemas/plugins/validate",
            axum::routing::post(validate_plugin),
        )
        .route("/tags", get(all_tags))
        .route("/tags/{tag}", get(one_tag))
        .route("/upstreams", get(empty_list))
        .route("/targets", get(empty_list))
        .route("/certificates", get(empty_list))
        .route("/snis", get(empty_list))
        .route("/ca_certificates", get(empty_list))
}

/// `POST /schemas/plugins/validate` (`kong/api/routes/kong.lua` lines 33-46 and 198-202): the
/// plugin's schema check without storing it (references are not looked up), 200 with Kong's
/// message or 400 with the schema violation.
async fn validate_plugin(State(s): AppState, body: super::Input) -> Result<Response> {
    crate::model::Plugin::from_value(body.value, body.source, s.catalogue.as_ref())
        .map_err(crate::model::DbError::from)?;
    Ok(ok(json!({ "message": "schema validation successful" })))
}

/// Entities this gateway does not have (load balancing, TLS): Kong's empty list, so tools that
/// read every collection (decK) find them well-formed (`kong/api/endpoints.lua`).
async fn empty_list(p: Page) -> Response {
    super::list(Vec::new(), &p, "")
}

/// Every tag of every entity: `{entity_name, entity_id, tag}` rows (`kong/db/schema/entities/tags.lua`,
/// `kong/db/strategies/off/init.lua` `page_for_tags`), core entities first, then plugin-owned ones.
fn tag_rows(s: &Shared, only: Option<&str>) -> Vec<Value> {
    let now = s.clock.now();
    s.read(|db| {
        let mut entities: Vec<(&str, Value)> = Vec::new();
        entities.extend(
            db.services
                .values()
                .map(|e| ("services", super::to_value(e))),
        );
        entities.extend(db.routes.values().map(|e| ("routes", super::to_value(e))));
        entities.extend(
            db.consumers
                .values()
                .map(|e| ("consumers", super::to_value(e))),
        );
        entities.extend(db.plugins.values().map(|e| ("plugins", super::to_value(e))));
        for entity in s.catalogue.entities() {
            entities.extend(
                db.credentials(entity)
                    .filter(|c| c.is_live(now))
                    .map(|c| (entity.table, c.view(now))),
            );
        }
        let mut rows = Vec::new();
        for (name, value) in entities {
            let Some(tags) = value.get("tags").and_then(Value::as_array) else {
                continue;
            };
            for tag in tags.iter().filter_map(Value::as_str) {
                if only.is_none_or(|t| t == tag) {
                    rows.push(json!({
                        "entity_name": name,
                        "entity_id": value.get("id").cloned().unwrap_or(Value::Null),
                        "tag": tag,
                    }));
                }
            }
        }
        rows
    })
}

async fn all_tags(State(s): AppState, p: Page) -> Response {
    super::list(tag_rows(&s, None), &p, "/tags")
}

async fn one_tag(
    State(s): AppState,
    super::AdminPath(tag): super::AdminPath<String>,
    p: Page,
) -> Response {
    let path = format!("/tags/{tag}");
    super::list(tag_rows(&s, Some(&tag)), &p, &path)
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

async fn enabled_plugins(State(s): AppState) -> Response {
    let names: Vec<&str> = s
        .catalogue
        .available()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    ok(json!({ "enabled_plugins": names }))
}

/// Kong's answer to `GET` and `POST /config` on a node with a database (`kong/api/routes/config.lua`:
/// 400 when `kong.db.strategy ~= "off"`): in `postgres` mode the entities are rows, written one by one.
pub const CONFIG_NEEDS_DBLESS: &str =
    "this endpoint is only available when Kong is configured to not use a database";

/// `/config` in `postgres` mode: Kong's 400. The embedded `memory` mode (not a Kong mode) keeps it, so
/// a test can load a whole document at once.
fn refuse_with_database(s: &Shared) -> Result<()> {
    if s.mode == crate::store::DatabaseMode::Postgres {
        return Err(AdminError::BadRequest(CONFIG_NEEDS_DBLESS.to_owned()));
    }
    Ok(())
}

/// `GET /config` as Kong 3.x answers it (`kong/api/routes/config.lua`: the declarative export
/// written as YAML into a buffer, returned as `{"config": "<yaml>"}`), so decK and `curl | jq -r
/// .config > kong.yml` get a file that `POST /config` takes back.
async fn get_config(State(s): AppState) -> Result<Response> {
    refuse_with_database(&s)?;
    let document = s.read(|db| crate::declarative::export(db, s.catalogue.as_ref()));
    Ok(match serde_saphyr::to_string(&document) {
        Ok(yaml) => ok(json!({ "config": yaml })),
        Err(err) => {
            // Kong's words for the same failure ("failed exporting config", then 500).
            tracing::error!(%err, "failed exporting config as YAML");
            (
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                axum::Json(json!({"message": "An unexpected error occurred"})),
            )
                .into_response()
        }
    })
}

async fn post_config(
    State(s): AppState,
    Query(params): Query<HashMap<String, String>>,
    req: Request,
) -> Result<Response> {
    refuse_with_database(&s)?;
    let content_type = req
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = bytes::Bytes::from_request(req, &())
        .await
        .map_err(|e| AdminError::BadRequest(format!("cannot read body: {e}")))?;
    let now = s.clock.now();
    let parsed = config_document(&content_type, bytes)?;
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

/// The declarative document of a `POST /config` as Kong's `hydrate_config_from_request`
/// (`kong/api/routes/config.lua` lines 38-60) finds it: a JSON body that is itself the document
/// (it has `_format_version`), else the `config` argument (a multipart field, an urlencoded field or
/// a JSON member), else the raw body (YAML or JSON).
fn config_document(content_type: &str, bytes: bytes::Bytes) -> Result<Value> {
    let expected = || AdminError::BadRequest("expected a declarative configuration".to_owned());
    let parse = |text: &[u8]| {
        crate::declarative::parse_value(text).map_err(|e| AdminError::BadRequest(e.to_string()))
    };
    let media = content_type.to_ascii_lowercase();
    if media.contains("application/json")
        && let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(&bytes)
        && !object.contains_key("_format_version")
    {
        return match object.remove("config") {
            Some(Value::String(text)) => parse(text.as_bytes()),
            Some(document @ Value::Object(_)) => Ok(document),
            _ => parse(&bytes),
        };
    }
    if let Some(text) = crate::pdk::request::form_field(content_type, &bytes, "config") {
        return parse(text.as_bytes());
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(expected());
    }
    parse(&bytes)
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
