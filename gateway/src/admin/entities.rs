//! Admin API handlers of the core entities (`kong/api/routes/{services,routes,consumers,plugins}.lua`
//! and Kong's generic `endpoints.lua`): list, create, get / patch / put / delete by id or endpoint
//! key, and the nested collections (routes of a service, plugins of a service, route or consumer).

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use serde_json::Value;

use super::{
    AdminError, AdminPath, AppState, Input, Page, Result, created, found, list, no_content, ok,
    to_value,
};
use crate::model::{Db, Endpoint};
use crate::state::Shared;

type Routes = Router<std::sync::Arc<Shared>>;

/// Adds the core entities' endpoints.
pub(super) fn routes(router: Routes) -> Routes {
    router
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
        .route("/plugins", get(list_plugins).post(create_plugin))
        .route(
            "/plugins/{p}",
            get(get_plugin)
                .patch(patch_plugin)
                .put(put_plugin)
                .delete(delete_plugin),
        )
}

/// The top-level collection handlers of one entity: list, create, and get / patch / put / delete
/// by id or endpoint key. Each `$op` is the `Db` call for that operation; `cat` is the plugin
/// catalogue writes are checked against.
macro_rules! entity_handlers {
    (
        $path:literal,
        list: $list:ident => $table:ident,
        create: $create:ident => |$cdb:ident, $cv:ident, $cs:ident, $cn:ident, $cc:ident| $insert:expr,
        get: $get:ident => $find:ident,
        patch: $patch:ident => |$pdb:ident, $pk:ident, $pv:ident, $ps:ident, $pn:ident, $pc:ident| $update:expr,
        put: $put:ident => |$udb:ident, $uk:ident, $uv:ident, $us:ident, $un:ident, $uc:ident| $upsert:expr,
        delete: $delete:ident => |$ddb:ident, $dk:ident| $remove:expr $(,)?
    ) => {
        async fn $list(State(s): AppState, p: Page) -> Response {
            list(
                s.read(|db| db.$table.values().map(to_value).collect()),
                &p,
                $path,
            )
        }
        async fn $create(State(s): AppState, body: Input) -> Result<Response> {
            let $cn = s.clock.now();
            let ($cv, $cs, $cc) = (body.value, body.source, s.catalogue.as_ref());
            Ok(created(to_value(&s.write_async(|$cdb| $insert).await?)))
        }
        async fn $get(State(s): AppState, AdminPath(key): AdminPath<String>) -> Result<Response> {
            s.read(|db| found(db.$find(&key)))
        }
        async fn $patch(
            State(s): AppState,
            AdminPath($pk): AdminPath<String>,
            body: Input,
        ) -> Result<Response> {
            let $pn = s.clock.now();
            let ($pv, $ps, $pc) = (body.value, body.source, s.catalogue.as_ref());
            Ok(ok(to_value(&s.write_async(|$pdb| $update).await?)))
        }
        async fn $put(
            State(s): AppState,
            AdminPath($uk): AdminPath<String>,
            body: Input,
        ) -> Result<Response> {
            let $un = s.clock.now();
            let ($uv, $us, $uc) = (body.value, body.source, s.catalogue.as_ref());
            Ok(ok(to_value(&s.write_async(|$udb| $upsert).await?)))
        }
        async fn $delete(
            State(s): AppState,
            AdminPath($dk): AdminPath<String>,
        ) -> Result<Response> {
            s.write_async(|$ddb| $remove).await?;
            Ok(no_content())
        }
    };
}

entity_handlers! {
    "/services",
    list: list_services => services,
    create: create_service => |db, v, src, now, _cat| db.insert_service(v, src, now),
    get: get_service => service,
    patch: patch_service => |db, k, v, src, now, _cat| db.update_service(&k, v, src, now),
    put: put_service => |db, k, v, src, now, _cat| db.upsert_service(&k, v, src, now),
    delete: delete_service => |db, k| db.delete_service(&k),
}

entity_handlers! {
    "/routes",
    list: list_routes => routes,
    create: create_route => |db, v, src, now, _cat| db.insert_route(v, src, now, None),
    get: get_route => route,
    patch: patch_route => |db, k, v, src, now, _cat| db.update_route(&k, v, src, now),
    put: put_route => |db, k, v, src, now, _cat| db.upsert_route(&k, v, src, now),
    delete: delete_route => |db, k| db.delete_route(&k),
}

entity_handlers! {
    "/consumers",
    list: list_consumers => consumers,
    create: create_consumer => |db, v, src, now, _cat| db.insert_consumer(v, src, now),
    get: get_consumer => consumer,
    patch: patch_consumer => |db, k, v, src, now, _cat| db.update_consumer(&k, v, src, now),
    put: put_consumer => |db, k, v, src, now, _cat| db.upsert_consumer(&k, v, src, now),
    delete: delete_consumer => |db, k| db.delete_consumer(&k),
}

entity_handlers! {
    "/plugins",
    list: list_plugins => plugins,
    create: create_plugin => |db, v, src, now, cat| db.insert_plugin(v, src, now, None, cat),
    get: get_plugin => plugin,
    patch: patch_plugin => |db, k, v, src, now, cat| db.update_plugin(&k, v, src, now, cat),
    put: put_plugin => |db, k, v, src, now, cat| db.upsert_plugin(&k, v, src, now, None, cat),
    delete: delete_plugin => |db, k| db.delete_plugin(&k),
}

// ---- nested under services and routes -------------------------------------------------------

async fn list_service_routes(
    State(s): AppState,
    AdminPath(key): AdminPath<String>,
    p: Page,
) -> Result<Response> {
    let items = s.read(|db| {
        db.routes_of(&key)
            .map(|v| v.into_iter().map(to_value).collect::<Vec<_>>())
    });
    Ok(list(
        items.ok_or(AdminError::NotFound)?,
        &p,
        &format!("/services/{key}/routes"),
    ))
}

async fn create_service_route(
    State(s): AppState,
    AdminPath(key): AdminPath<String>,
    body: Input,
) -> Result<Response> {
    let now = s.clock.now();
    Ok(created(to_value(
        &s.write_async(|db| db.insert_route(body.value, body.source, now, Some(&key)))
            .await?,
    )))
}

async fn get_route_service(
    State(s): AppState,
    AdminPath(key): AdminPath<String>,
) -> Result<Response> {
    s.read(|db| {
        let id = db.route(&key)?.service.as_ref()?.id.clone();
        db.services.get(&id).map(to_value)
    })
    .map(ok)
    .ok_or(AdminError::NotFound)
}

// ---- plugins of a service, route or consumer ------------------------------------------------

fn scoped_plugins(db: &Db, scope: Endpoint, key: &str) -> Option<Vec<Value>> {
    db.plugins_of(scope, key)
        .map(|v| v.into_iter().map(to_value).collect())
}

macro_rules! scoped_plugin_handlers {
    ($list:ident, $create:ident, $endpoint:expr, $path:literal) => {
        async fn $list(
            State(s): AppState,
            AdminPath(key): AdminPath<String>,
            p: Page,
        ) -> Result<Response> {
            let items = s
                .read(|db| scoped_plugins(db, $endpoint, &key))
                .ok_or(AdminError::NotFound)?;
            Ok(list(items, &p, &format!($path, key)))
        }
        async fn $create(
            State(s): AppState,
            AdminPath(key): AdminPath<String>,
            body: Input,
        ) -> Result<Response> {
            let now = s.clock.now();
            let catalogue = s.catalogue.as_ref();
            let plugin = s
                .write_async(|db| {
                    db.insert_plugin(
                        body.value,
                        body.source,
                        now,
                        Some(($endpoint, &key)),
                        catalogue,
                    )
                })
                .await?;
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
