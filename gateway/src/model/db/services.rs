//! Services (`kong/db/schema/entities/services.lua`): unique `name`; deleting one is refused while
//! routes use it and takes its plugins along.

use serde_json::Value;

use super::{
    Db, DbError, check_new_id, check_unique, find, merge, retain, set_key, stamp, to_value,
};
use crate::model::Service;
use crate::schema::{SchemaViolation, Source};

/// Strips fields a PATCH body must not overwrite from the stored form (`url` replaces parts).
fn patch_base(mut stored: Value, patch: &Value) -> Value {
    if patch.get("url").is_some()
        && let Some(obj) = stored.as_object_mut()
    {
        for k in ["protocol", "host", "port", "path"] {
            obj.remove(k);
        }
    }
    stored
}

impl Db {
    /// `GET /services/{id or name}`.
    pub fn service(&self, key: &str) -> Option<&Service> {
        find(&self.services, key)
    }

    /// `POST /services` (and the declarative loader).
    pub fn insert_service(
        &mut self,
        value: Value,
        source: Source,
        now: u64,
    ) -> Result<Service, DbError> {
        let svc = Service::from_value(value, source)?;
        self.store_service(svc, now, None)
    }

    fn store_service(
        &mut self,
        mut svc: Service,
        now: u64,
        replacing: Option<&Service>,
    ) -> Result<Service, DbError> {
        stamp(
            &mut svc.id,
            &mut svc.created_at,
            now,
            replacing.map(|s| s.created_at),
        )?;
        svc.updated_at = now;
        check_unique(&self.services, &svc.id, "name", svc.name.as_deref(), |s| {
            s.name.as_deref()
        })?;
        check_new_id(&self.services, &svc.id, replacing.is_some())?;
        self.services.insert(svc.id.clone(), svc.clone());
        Ok(svc)
    }

    /// `PATCH /services/{id or name}`.
    pub fn update_service(
        &mut self,
        key: &str,
        patch: Value,
        source: Source,
        now: u64,
    ) -> Result<Service, DbError> {
        let old = self.service(key).cloned().ok_or(DbError::NotFound)?;
        let mut value = patch_base(to_value(&old), &patch);
        merge(&mut value, patch);
        let svc = Service::from_value(value, source)?;
        if svc.id != old.id {
            return Err(SchemaViolation::field("id", "cannot change the primary key").into());
        }
        self.store_service(svc, now, Some(&old))
    }

    /// `PUT /services/{id or name}`: create or replace.
    pub fn upsert_service(
        &mut self,
        key: &str,
        mut value: Value,
        source: Source,
        now: u64,
    ) -> Result<Service, DbError> {
        let old = self.service(key).cloned();
        set_key(&mut value, key, "name", old.as_ref().map(|s| s.id.as_str()));
        let svc = Service::from_value(value, source)?;
        self.store_service(svc, now, old.as_ref())
    }

    /// `DELETE /services/{id or name}`: refused while routes use it; its plugins go with it.
    pub fn delete_service(&mut self, key: &str) -> Result<(), DbError> {
        let Some(id) = self.service(key).map(|s| s.id.clone()) else {
            return Ok(());
        };
        if self
            .routes
            .values()
            .any(|r| r.service.as_ref().is_some_and(|fk| fk.id == id))
        {
            return Err(DbError::Referenced {
                message: "an existing 'routes' entity references this 'services' entity".to_owned(),
            });
        }
        retain(&mut self.plugins, |p| {
            p.service.as_ref().is_none_or(|fk| fk.id != id)
        });
        self.services.remove(&id);
        Ok(())
    }
}
