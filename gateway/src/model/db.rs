//! The entity store behind the Admin API and the declarative loader. Every write goes through
//! here, so Kong's rules live in one place: defaults, references by name or id, uniqueness (409),
//! foreign keys, cascades. The proxy never reads `Db`; it reads the compiled snapshot.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use super::entities::{Consumer, ForeignKey, KeyAuthCredential, Plugin, Route, Service};
use super::{INVALID_UUID, is_uuid, new_id};
use crate::schema::{SchemaViolation, Source};

/// The Admin API collections, by Kong's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Services,
    Routes,
    Consumers,
    KeyAuths,
    Plugins,
}

/// Why a write or a lookup failed; `admin::error` turns it into Kong's JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum DbError {
    /// 404 `{"message":"Not found"}`.
    NotFound,
    /// 400, code 2.
    Schema(SchemaViolation),
    /// 409, code 5: `UNIQUE violation detected on '{name="x"}'`.
    Unique { message: String, fields: Value },
    /// 400, code 4.
    ForeignKey { message: String, fields: Value },
    /// 400: an entity still referenced by others (Kong's `foreign key violation` on delete).
    Referenced { message: String },
}

impl From<SchemaViolation> for DbError {
    fn from(v: SchemaViolation) -> Self {
        Self::Schema(v)
    }
}

/// All entities of one gateway, keyed by id.
#[derive(Debug, Clone, Default)]
pub struct Db {
    pub services: BTreeMap<String, Service>,
    pub routes: BTreeMap<String, Route>,
    pub consumers: BTreeMap<String, Consumer>,
    pub keyauth_credentials: BTreeMap<String, KeyAuthCredential>,
    pub plugins: BTreeMap<String, Plugin>,
}

/// How an entity identifies itself on the wire besides its id.
trait Keyed {
    fn endpoint_key(&self) -> Option<&str>;
}

impl Keyed for Service {
    fn endpoint_key(&self) -> Option<&str> {
        self.name.as_deref()
    }
}
impl Keyed for Route {
    fn endpoint_key(&self) -> Option<&str> {
        self.name.as_deref()
    }
}
impl Keyed for Consumer {
    fn endpoint_key(&self) -> Option<&str> {
        self.username.as_deref()
    }
}
impl Keyed for KeyAuthCredential {
    fn endpoint_key(&self) -> Option<&str> {
        self.key.as_deref()
    }
}
impl Keyed for Plugin {
    fn endpoint_key(&self) -> Option<&str> {
        self.instance_name.as_deref()
    }
}

fn find<'a, T: Keyed>(table: &'a BTreeMap<String, T>, key: &str) -> Option<&'a T> {
    table
        .get(key)
        .or_else(|| table.values().find(|e| e.endpoint_key() == Some(key)))
}

fn unique(field: &str, value: &str) -> DbError {
    let mut fields = serde_json::Map::new();
    fields.insert(field.to_owned(), Value::String(value.to_owned()));
    DbError::Unique {
        message: format!("UNIQUE violation detected on '{{{field}=\"{value}\"}}'"),
        fields: Value::Object(fields),
    }
}

fn fk_missing(field: &str, fk: &ForeignKey, table: &str) -> DbError {
    let shown = fk.lookup.clone().unwrap_or_else(|| fk.id.clone());
    let key = if fk.lookup.is_some() && !is_uuid(&shown) {
        if table == "consumers" {
            "username"
        } else {
            "name"
        }
    } else {
        "id"
    };
    DbError::ForeignKey {
        message: format!(
            "the foreign key '{{{key}=\"{shown}\"}}' does not reference an existing '{table}' entity."
        ),
        fields: json!({ field: { key: shown } }),
    }
}

/// Fills `id` (new or checked) and the timestamps.
fn stamp(
    id: &mut String,
    created_at: &mut u64,
    now: u64,
    keep_created: Option<u64>,
) -> Result<(), DbError> {
    if id.is_empty() {
        *id = new_id();
    } else if !is_uuid(id) {
        return Err(SchemaViolation::field("id", INVALID_UUID).into());
    }
    *created_at = keep_created.unwrap_or(now);
    Ok(())
}

/// Overlays `patch` on `base` (objects merge key by key, like Kong's PATCH).
fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                match b.get_mut(&k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge(slot, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, p) => *b = p,
    }
}

fn to_value<T: Serialize>(entity: &T) -> Value {
    serde_json::to_value(entity).unwrap_or(Value::Null)
}

/// Strips fields a PATCH/PUT body must not overwrite from the stored form (`url` replaces parts).
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
    // ---- services -------------------------------------------------------------------------

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
        if let Some(name) = &svc.name
            && self
                .services
                .values()
                .any(|s| s.id != svc.id && s.name.as_ref() == Some(name))
        {
            return Err(unique("name", name));
        }
        if replacing.is_none() && self.services.contains_key(&svc.id) {
            return Err(unique("id", &svc.id));
        }
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
        self.plugins
            .retain(|_, p| p.service.as_ref().is_none_or(|fk| fk.id != id));
        self.services.remove(&id);
        Ok(())
    }

    // ---- routes ---------------------------------------------------------------------------

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
            let id = self.service(service).ok_or(DbError::NotFound)?.id.clone();
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
            let found = self
                .service(fk.lookup.as_deref().unwrap_or(&fk.id))
                .map(|s| s.id.clone());
            match found {
                Some(id) => *fk = ForeignKey::id(id),
                None => return Err(fk_missing("service", fk, "services")),
            }
        }
        if let Some(name) = &route.name
            && self
                .routes
                .values()
                .any(|r| r.id != route.id && r.name.as_ref() == Some(name))
        {
            return Err(unique("name", name));
        }
        if replacing.is_none() && self.routes.contains_key(&route.id) {
            return Err(unique("id", &route.id));
        }
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
        self.plugins
            .retain(|_, p| p.route.as_ref().is_none_or(|fk| fk.id != id));
        self.routes.remove(&id);
        Ok(())
    }

    // ---- consumers ------------------------------------------------------------------------

    /// `GET /consumers/{id or username}`.
    pub fn consumer(&self, key: &str) -> Option<&Consumer> {
        find(&self.consumers, key)
    }

    /// `POST /consumers`.
    pub fn insert_consumer(
        &mut self,
        value: Value,
        source: Source,
        now: u64,
    ) -> Result<Consumer, DbError> {
        let consumer = Consumer::from_value(value, source)?;
        self.store_consumer(consumer, now, None)
    }

    fn store_consumer(
        &mut self,
        mut c: Consumer,
        now: u64,
        replacing: Option<&Consumer>,
    ) -> Result<Consumer, DbError> {
        stamp(
            &mut c.id,
            &mut c.created_at,
            now,
            replacing.map(|r| r.created_at),
        )?;
        c.updated_at = now;
        for (field, value) in [("username", &c.username), ("custom_id", &c.custom_id)] {
            if let Some(v) = value {
                let clash = self.consumers.values().any(|o| {
                    o.id != c.id
                        && if field == "username" {
                            o.username.as_ref()
                        } else {
                            o.custom_id.as_ref()
                        } == Some(v)
                });
                if clash {
                    return Err(unique(field, v));
                }
            }
        }
        if replacing.is_none() && self.consumers.contains_key(&c.id) {
            return Err(unique("id", &c.id));
        }
        self.consumers.insert(c.id.clone(), c.clone());
        Ok(c)
    }

    /// `PATCH /consumers/{id or username}`.
    pub fn update_consumer(
        &mut self,
        key: &str,
        patch: Value,
        source: Source,
        now: u64,
    ) -> Result<Consumer, DbError> {
        let old = self.consumer(key).cloned().ok_or(DbError::NotFound)?;
        let mut value = to_value(&old);
        merge(&mut value, patch);
        let c = Consumer::from_value(value, source)?;
        self.store_consumer(c, now, Some(&old))
    }

    /// `PUT /consumers/{id or username}`.
    pub fn upsert_consumer(
        &mut self,
        key: &str,
        mut value: Value,
        source: Source,
        now: u64,
    ) -> Result<Consumer, DbError> {
        let old = self.consumer(key).cloned();
        set_key(
            &mut value,
            key,
            "username",
            old.as_ref().map(|c| c.id.as_str()),
        );
        let c = Consumer::from_value(value, source)?;
        self.store_consumer(c, now, old.as_ref())
    }

    /// `DELETE /consumers/{id or username}`: its credentials and plugins go with it.
    pub fn delete_consumer(&mut self, key: &str) -> Result<(), DbError> {
        let Some(id) = self.consumer(key).map(|c| c.id.clone()) else {
            return Ok(());
        };
        self.keyauth_credentials
            .retain(|_, k| k.consumer.as_ref().is_none_or(|fk| fk.id != id));
        self.plugins
            .retain(|_, p| p.consumer.as_ref().is_none_or(|fk| fk.id != id));
        self.consumers.remove(&id);
        Ok(())
    }

    // ---- key-auth credentials -------------------------------------------------------------

    /// `GET /key-auths/{id or key}`, or nested under a consumer when `consumer` is given.
    pub fn key_auth(&self, key: &str, consumer: Option<&str>) -> Option<&KeyAuthCredential> {
        let cred = find(&self.keyauth_credentials, key)?;
        match consumer {
            None => Some(cred),
            Some(c) => {
                let cid = &self.consumer(c)?.id;
                cred.consumer
                    .as_ref()
                    .filter(|fk| &fk.id == cid)
                    .map(|_| cred)
            }
        }
    }

    /// `GET /key-auths/{id or key}`.
    pub fn key_auth_by_key(&self, key: &str) -> Option<&KeyAuthCredential> {
        self.key_auth(key, None)
    }

    /// `PATCH /key-auths/{id or key}`.
    pub fn update_key_auth_by_key(
        &mut self,
        key: &str,
        patch: Value,
        source: Source,
        now: u64,
    ) -> Result<KeyAuthCredential, DbError> {
        self.update_key_auth(key, None, patch, source, now)
    }

    /// Credentials of one consumer (`GET /consumers/{c}/key-auth`).
    pub fn key_auths_of(&self, consumer: &str) -> Option<Vec<&KeyAuthCredential>> {
        let cid = self.consumer(consumer)?.id.clone();
        Some(
            self.keyauth_credentials
                .values()
                .filter(|k| k.consumer.as_ref().is_some_and(|fk| fk.id == cid))
                .collect(),
        )
    }

    /// `POST /key-auths` or `POST /consumers/{c}/key-auth`.
    pub fn insert_key_auth(
        &mut self,
        mut value: Value,
        source: Source,
        now: u64,
        consumer: Option<&str>,
    ) -> Result<KeyAuthCredential, DbError> {
        if let Some(c) = consumer {
            let id = self.consumer(c).ok_or(DbError::NotFound)?.id.clone();
            set_field(&mut value, "consumer", json!({ "id": id }));
        }
        let cred = KeyAuthCredential::from_value(value, source)?;
        self.store_key_auth(cred, now, None)
    }

    fn store_key_auth(
        &mut self,
        mut cred: KeyAuthCredential,
        now: u64,
        replacing: Option<&KeyAuthCredential>,
    ) -> Result<KeyAuthCredential, DbError> {
        stamp(
            &mut cred.id,
            &mut cred.created_at,
            now,
            replacing.map(|r| r.created_at),
        )?;
        if let Some(fk) = &mut cred.consumer {
            match self
                .consumer(fk.lookup.as_deref().unwrap_or(&fk.id))
                .map(|c| c.id.clone())
            {
                Some(id) => *fk = ForeignKey::id(id),
                None => return Err(fk_missing("consumer", fk, "consumers")),
            }
        }
        if let Some(key) = &cred.key
            && self
                .keyauth_credentials
                .values()
                .any(|k| k.id != cred.id && k.key.as_ref() == Some(key))
        {
            return Err(unique("key", key));
        }
        if replacing.is_none() && self.keyauth_credentials.contains_key(&cred.id) {
            return Err(unique("id", &cred.id));
        }
        self.keyauth_credentials
            .insert(cred.id.clone(), cred.clone());
        Ok(cred)
    }

    /// `PATCH /key-auths/{id or key}` (or nested).
    pub fn update_key_auth(
        &mut self,
        key: &str,
        consumer: Option<&str>,
        patch: Value,
        source: Source,
        now: u64,
    ) -> Result<KeyAuthCredential, DbError> {
        let old = self
            .key_auth(key, consumer)
            .cloned()
            .ok_or(DbError::NotFound)?;
        let mut value = to_value(&old);
        merge(&mut value, patch);
        let cred = KeyAuthCredential::from_value(value, source)?;
        self.store_key_auth(cred, now, Some(&old))
    }

    /// `PUT /key-auths/{id or key}` (or nested).
    pub fn upsert_key_auth(
        &mut self,
        key: &str,
        consumer: Option<&str>,
        mut value: Value,
        source: Source,
        now: u64,
    ) -> Result<KeyAuthCredential, DbError> {
        let old = self.key_auth(key, consumer).cloned();
        if let Some(c) = consumer {
            let id = self.consumer(c).ok_or(DbError::NotFound)?.id.clone();
            set_field(&mut value, "consumer", json!({ "id": id }));
        }
        set_key(&mut value, key, "key", old.as_ref().map(|k| k.id.as_str()));
        let cred = KeyAuthCredential::from_value(value, source)?;
        self.store_key_auth(cred, now, old.as_ref())
    }

    /// `DELETE /key-auths/{id or key}`; nested: 404 when it belongs to another consumer.
    pub fn delete_key_auth(&mut self, key: &str, consumer: Option<&str>) -> Result<(), DbError> {
        match self.key_auth(key, consumer).map(|k| k.id.clone()) {
            Some(id) => {
                self.keyauth_credentials.remove(&id);
                Ok(())
            }
            None if consumer.is_some() => Err(DbError::NotFound),
            None => Ok(()),
        }
    }

    // ---- plugins --------------------------------------------------------------------------

    /// `GET /plugins/{id or instance_name}`.
    pub fn plugin(&self, key: &str) -> Option<&Plugin> {
        find(&self.plugins, key)
    }

    /// `POST /plugins` or nested under a service, route or consumer (`scope`).
    pub fn insert_plugin(
        &mut self,
        mut value: Value,
        source: Source,
        now: u64,
        scope: Option<(Endpoint, &str)>,
    ) -> Result<Plugin, DbError> {
        self.apply_scope(&mut value, scope)?;
        let plugin = Plugin::from_value(value, source)?;
        self.store_plugin(plugin, now, None)
    }

    fn apply_scope(
        &self,
        value: &mut Value,
        scope: Option<(Endpoint, &str)>,
    ) -> Result<(), DbError> {
        let Some((endpoint, key)) = scope else {
            return Ok(());
        };
        let (field, id) = match endpoint {
            Endpoint::Services => ("service", self.service(key).map(|s| s.id.clone())),
            Endpoint::Routes => ("route", self.route(key).map(|r| r.id.clone())),
            Endpoint::Consumers => ("consumer", self.consumer(key).map(|c| c.id.clone())),
            _ => return Err(DbError::NotFound),
        };
        set_field(value, field, json!({ "id": id.ok_or(DbError::NotFound)? }));
        Ok(())
    }

    fn store_plugin(
        &mut self,
        mut plugin: Plugin,
        now: u64,
        replacing: Option<&Plugin>,
    ) -> Result<Plugin, DbError> {
        stamp(
            &mut plugin.id,
            &mut plugin.created_at,
            now,
            replacing.map(|r| r.created_at),
        )?;
        plugin.updated_at = now;
        if let Some(fk) = &mut plugin.service {
            match self
                .service(fk.lookup.as_deref().unwrap_or(&fk.id))
                .map(|s| s.id.clone())
            {
                Some(id) => *fk = ForeignKey::id(id),
                None => return Err(fk_missing("service", fk, "services")),
            }
        }
        if let Some(fk) = &mut plugin.route {
            match self
                .route(fk.lookup.as_deref().unwrap_or(&fk.id))
                .map(|r| r.id.clone())
            {
                Some(id) => *fk = ForeignKey::id(id),
                None => return Err(fk_missing("route", fk, "routes")),
            }
        }
        if let Some(fk) = &mut plugin.consumer {
            match self
                .consumer(fk.lookup.as_deref().unwrap_or(&fk.id))
                .map(|c| c.id.clone())
            {
                Some(id) => *fk = ForeignKey::id(id),
                None => return Err(fk_missing("consumer", fk, "consumers")),
            }
        }
        let same_scope = |p: &Plugin| {
            p.id != plugin.id
                && p.name == plugin.name
                && p.route == plugin.route
                && p.service == plugin.service
                && p.consumer == plugin.consumer
        };
        if self.plugins.values().any(same_scope) {
            let show = |fk: &Option<ForeignKey>| {
                fk.as_ref()
                    .map_or("null".to_owned(), |fk| format!("{{id=\"{}\"}}", fk.id))
            };
            let fk_json = |fk: &Option<ForeignKey>| {
                fk.as_ref().map_or(Value::Null, |fk| json!({"id": fk.id}))
            };
            return Err(DbError::Unique {
                message: format!(
                    "UNIQUE violation detected on '{{consumer={},name=\"{}\",route={},service={}}}'",
                    show(&plugin.consumer),
                    plugin.name,
                    show(&plugin.route),
                    show(&plugin.service)
                ),
                fields: json!({
                    "consumer": fk_json(&plugin.consumer), "name": plugin.name,
                    "route": fk_json(&plugin.route), "service": fk_json(&plugin.service),
                }),
            });
        }
        if let Some(name) = &plugin.instance_name
            && self
                .plugins
                .values()
                .any(|p| p.id != plugin.id && p.instance_name.as_ref() == Some(name))
        {
            return Err(unique("instance_name", name));
        }
        if replacing.is_none() && self.plugins.contains_key(&plugin.id) {
            return Err(unique("id", &plugin.id));
        }
        self.plugins.insert(plugin.id.clone(), plugin.clone());
        Ok(plugin)
    }

    /// `PATCH /plugins/{id}`: config fields merge into the stored config.
    pub fn update_plugin(
        &mut self,
        key: &str,
        patch: Value,
        source: Source,
        now: u64,
    ) -> Result<Plugin, DbError> {
        let old = self.plugin(key).cloned().ok_or(DbError::NotFound)?;
        let mut value = to_value(&old);
        merge(&mut value, patch);
        let plugin = Plugin::from_value(value, source)?;
        self.store_plugin(plugin, now, Some(&old))
    }

    /// `PUT /plugins/{id}`.
    pub fn upsert_plugin(
        &mut self,
        key: &str,
        mut value: Value,
        source: Source,
        now: u64,
        scope: Option<(Endpoint, &str)>,
    ) -> Result<Plugin, DbError> {
        let old = self.plugin(key).cloned();
        self.apply_scope(&mut value, scope)?;
        set_key(
            &mut value,
            key,
            "instance_name",
            old.as_ref().map(|p| p.id.as_str()),
        );
        let plugin = Plugin::from_value(value, source)?;
        self.store_plugin(plugin, now, old.as_ref())
    }

    /// `DELETE /plugins/{id}`.
    pub fn delete_plugin(&mut self, key: &str) -> Result<(), DbError> {
        if let Some(id) = self.plugin(key).map(|p| p.id.clone()) {
            self.plugins.remove(&id);
        }
        Ok(())
    }

    /// Plugins filtered by scope, for the nested list endpoints.
    pub fn plugins_of(&self, scope: Endpoint, key: &str) -> Option<Vec<&Plugin>> {
        let (id, pick): (String, fn(&Plugin) -> &Option<ForeignKey>) = match scope {
            Endpoint::Services => (self.service(key)?.id.clone(), |p| &p.service),
            Endpoint::Routes => (self.route(key)?.id.clone(), |p| &p.route),
            Endpoint::Consumers => (self.consumer(key)?.id.clone(), |p| &p.consumer),
            _ => return None,
        };
        Some(
            self.plugins
                .values()
                .filter(|p| pick(p).as_ref().is_some_and(|fk| fk.id == id))
                .collect(),
        )
    }
}

/// For PUT: the path key is the id when it is a UUID, else the endpoint key field.
fn set_key(value: &mut Value, key: &str, field: &str, existing_id: Option<&str>) {
    match existing_id {
        Some(id) => set_field(value, "id", Value::String(id.to_owned())),
        None if is_uuid(key) => set_field(value, "id", Value::String(key.to_owned())),
        None => {}
    }
    if !is_uuid(key) {
        set_field(value, field, Value::String(key.to_owned()));
    }
}

fn set_field(value: &mut Value, field: &str, v: Value) {
    if let Some(obj) = value.as_object_mut() {
        obj.insert(field.to_owned(), v);
    }
}
