//! Admin API handlers of every plugin-owned entity, from its descriptor (Kong's generic
//! `endpoints.lua` for a `daos.lua` entity): `/<admin_path>` and `/<admin_path>/{id or key}`,
//! `/<admin_path>/{k}/consumer`, and the same under `/consumers/{c}/<consumer_path>`. key-auth
//! gets `/key-auths` and `/consumers/{c}/key-auth` this way.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;

use super::{
    AdminError, AdminPath, AppState, Input, Page, Result, created, found, list, no_content, ok,
    to_value,
};
use crate::model::PluginEntity;
use crate::state::Shared;

type Routes = Router<Arc<Shared>>;

/// Adds the endpoints of one plugin-owned entity.
pub(super) fn routes(router: Routes, entity: &'static PluginEntity) -> Routes {
    let top = format!("/{}", entity.admin_path);
    let nested = format!("/consumers/{{c}}/{}", entity.consumer_path);
    router
        .route(
            &top,
            get(move |s: AppState, p: Page| list_all(entity, s, p))
                .post(move |s: AppState, b: Input| create(entity, s, None, b)),
        )
        .route(
            &format!("{top}/{{k}}"),
            get(move |s: AppState, AdminPath(k): AdminPath<String>| get_one(entity, s, None, k))
                .patch(
                    move |s: AppState, AdminPath(k): AdminPath<String>, b: Input| {
                        patch(entity, s, None, k, b)
                    },
                )
                .put(
                    move |s: AppState, AdminPath(k): AdminPath<String>, b: Input| {
                        put(entity, s, None, k, b)
                    },
                )
                .delete(move |s: AppState, AdminPath(k): AdminPath<String>| {
                    delete(entity, s, None, k)
                }),
        )
        .route(
            &format!("{top}/{{k}}/consumer"),
            get(move |s: AppState, AdminPath(k): AdminPath<String>| owner(entity, s, k)),
        )
        .route(
            &nested,
            get(
                move |s: AppState, AdminPath(c): AdminPath<String>, p: Page| {
                    list_of(entity, s, c, p)
                },
            )
            .post(
                move |s: AppState, AdminPath(c): AdminPath<String>, b: Input| {
                    create(entity, s, Some(c), b)
                },
            ),
        )
        .route(
            &format!("{nested}/{{k}}"),
            get(
                move |s: AppState, AdminPath((c, k)): AdminPath<(String, String)>| {
                    get_one(entity, s, Some(c), k)
                },
            )
            .patch(
                move |s: AppState, AdminPath((c, k)): AdminPath<(String, String)>, b: Input| {
                    patch(entity, s, Some(c), k, b)
                },
            )
            .put(
                move |s: AppState, AdminPath((c, k)): AdminPath<(String, String)>, b: Input| {
                    put(entity, s, Some(c), k, b)
                },
            )
            .delete(
                move |s: AppState, AdminPath((c, k)): AdminPath<(String, String)>| {
                    delete(entity, s, Some(c), k)
                },
            ),
        )
}

async fn list_all(entity: &'static PluginEntity, State(s): AppState, p: Page) -> Response {
    let now = s.clock.now();
    let items = s.read(|db| {
        db.credentials(entity)
            .filter(|c| c.is_live(now))
            .map(|c| c.view(now))
            .collect()
    });
    list(items, &p, &format!("/{}", entity.admin_path))
}

async fn list_of(
    entity: &'static PluginEntity,
    State(s): AppState,
    c: String,
    p: Page,
) -> Result<Response> {
    let now = s.clock.now();
    let items = s.read(|db| {
        db.credentials_of(entity, &c).map(|v| {
            v.into_iter()
                .filter(|c| c.is_live(now))
                .map(|c| c.view(now))
                .collect::<Vec<_>>()
        })
    });
    Ok(list(
        items.ok_or(AdminError::NotFound)?,
        &p,
        &format!("/consumers/{c}/{}", entity.consumer_path),
    ))
}

async fn create(
    entity: &'static PluginEntity,
    State(s): AppState,
    consumer: Option<String>,
    body: Input,
) -> Result<Response> {
    let now = s.clock.now();
    Ok(created(
        s.write_async(|db| {
            db.insert_credential(entity, body.value, body.source, now, consumer.as_deref())
        })
        .await?
        .view(now),
    ))
}

async fn get_one(
    entity: &'static PluginEntity,
    State(s): AppState,
    consumer: Option<String>,
    k: String,
) -> Result<Response> {
    let now = s.clock.now();
    s.read(|db| {
        let live = db
            .credential(entity, &k, consumer.as_deref())
            .filter(|c| c.is_live(now));
        found(live.map(|c| c.view(now)).as_ref())
    })
}

async fn patch(
    entity: &'static PluginEntity,
    State(s): AppState,
    consumer: Option<String>,
    k: String,
    body: Input,
) -> Result<Response> {
    let now = s.clock.now();
    Ok(ok(s
        .write_async(|db| {
            db.update_credential(
                entity,
                &k,
                consumer.as_deref(),
                body.value,
                body.source,
                now,
            )
        })
        .await?
        .view(now)))
}

async fn put(
    entity: &'static PluginEntity,
    State(s): AppState,
    consumer: Option<String>,
    k: String,
    body: Input,
) -> Result<Response> {
    let now = s.clock.now();
    Ok(ok(s
        .write_async(|db| {
            db.upsert_credential(
                entity,
                &k,
                consumer.as_deref(),
                body.value,
                body.source,
                now,
            )
        })
        .await?
        .view(now)))
}

async fn delete(
    entity: &'static PluginEntity,
    State(s): AppState,
    consumer: Option<String>,
    k: String,
) -> Result<Response> {
    s.write_async(|db| db.delete_credential(entity, &k, consumer.as_deref()))
        .await?;
    Ok(no_content())
}

/// `GET /<admin_path>/{k}/consumer`.
async fn owner(entity: &'static PluginEntity, State(s): AppState, k: String) -> Result<Response> {
    s.read(|db| {
        let id = db.credential(entity, &k, None)?.consumer_id.clone();
        db.consumers.get(&id).map(to_value)
    })
    .map(ok)
    .ok_or(AdminError::NotFound)
}
