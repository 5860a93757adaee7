//! Routes (`kong/db/schema/entities/routes.lua`): unique `name`, a `service` given by id or name;
//! deleting one takes its plugins along.

use serde_json::{Value, json};

use super::{
    Db, DbError, check_new_id, check_unique, find, id_of, merge, resolve, retain, set_field,
    set_key, stamp, to_value,
};
use crate::model::Route;
use crate::schema::Source;

impl Db {
    /// `GET /routes/{id or name}`.
    pub fn route(&self, key: &str) -> Option<&Route> {
        find(&self.routes, key)
    }

    /// `POST /routes` or `POST /services/{s}/routes` (then `service` is forced to that service).
    pub fn insert_route(
        &mut self,
        mut value: Value,
        source: Source,
        now: u64,
        service: Option<&str>,
    ) -> Result<Route, DbError> {
        if let Some(service) = service {
            let id = id_of(&self.services, service).ok_or(DbError::NotFound)?;
            set_field(&mut value, "service", json!({ "id": id }));
        }
        let route = Route::from_value(value, source)?;
        self.store_route(route, now, None)
    }

    fn store_route(
        &mut self,
        mut route: Route,
        now: u64,
        replacing: Option<&Route>,
    ) -> Result<Route, DbError> {
        stamp(
            &mut route.id,
            &mut route.created_at,
            now,
            replacing.map(|r| r.created_at),
        )?;
        route.updated_at = now;
        if let Some(fk) = &mut route.service {
            resolve(&self.services, "service", fk)?;
        }
        check_unique(
            &self.routes,
            &route.id,
            "name",
            route.name.as_deref(),
            |r| r.name.as_deref(),
        )?;
        check_new_id(&self.routes, &route.id, replacing.is_some())?;
        self.routes.insert(route.id.clone(), route.clone());
        Ok(route)
    }

    /// `PATCH /routes/{id or name}`.
    pub fn update_route(
        &mut self,
        key: &str,
        patch: Value,
        source: Source,
        now: u64,
    ) -> Result<Route, DbError> {
        let old = self.route(key).cloned().ok_or(DbError::NotFound)?;
        let mut value = to_value(&old);
        merge(&mut value, patch);
        let route = Route::from_value(value, source)?;
        self.store_route(route, now, Some(&old))
    }

    /// `PUT /routes/{id or name}`.
    pub fn upsert_route(
        &mut self,
        key: &str,
        mut value: Value,
        source: Source,
        now: u64,
    ) -> Result<Route, DbError> {
        let old = self.route(key).cloned();
        set_key(&mut value, key, "name", old.as_ref().map(|r| r.id.as_str()));
        let route = Route::from_value(value, source)?;
        self.store_route(route, now, old.as_ref())
    }

    /// `DELETE /routes/{id or name}`; the route's plugins go with it.
    pub fn delete_route(&mut self, key: &str) -> Result<(), DbError> {
        let Some(id) = self.route(key).map(|r| r.id.clone()) else {
            return Ok(());
        };
        retain(&mut self.plugins, |p| {
            p.route.as_ref().is_none_or(|fk| fk.id != id)
        });
        self.routes.remove(&id);
        Ok(())
    }

    /// Routes of one service (`GET /services/{s}/routes`); `None` when the service is unknown.
    pub fn routes_of(&self, service: &str) -> Option<Vec<&Route>> {
        let id = id_of(&self.services, service)?;
        Some(
            self.routes
                .values()
                .filter(|r| r.service.as_ref().is_some_and(|fk| fk.id == id))
                .collect(),
        )
    }
}
