//! The Admin API client of one scenario, made with its World: it provisions through Kong's entity endpoints
//! (`--provisioning admin-api`), or keeps the scenario's entities as one declarative document and sends it whole
//! with `POST /config` after each change (`declarative`, Kong DB-less: `kong/api/routes/config.lua`), or refuses
//! to provision (`external`). Clean-up after the scenario deletes what it created, or posts an empty document.

use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};

use super::{Admin, AdminError, Body};
use crate::target::Provisioning;

/// The collections of the declarative documents this module writes.
const COLLECTIONS: [&str; 6] = [
    "services",
    "routes",
    "consumers",
    "keyauth_credentials",
    "basicauth_credentials",
    "plugins",
];

/// The fields of a plugin that refer to another entity (by id, as a string, in the documents this module
/// writes).
const REFERENCES: [&str; 3] = ["service", "route", "consumer"];

/// The Admin API client of one scenario: it provisions through Kong's entity endpoints (`admin-api`), or keeps
/// the scenario's entities as one declarative document (flat form, client-generated UUIDs as ids, references by
/// id) and sends it whole with `POST /config` after each change (`declarative`, for a DB-less Kong whose entity
/// endpoints are read-only). In `external` mode it refuses to provision: the entities were loaded outside.
#[derive(Debug)]
pub struct Provisioner {
    admin: &'static Admin,
    mode: Provisioning,
    /// The declarative document (`declarative` mode): `_format_version` and the [`COLLECTIONS`].
    document: Map<String, Value>,
    /// Whether a document was sent, so that clean-up replaces it with an empty one.
    posted: bool,
}

impl Provisioner {
    /// A provisioner for one scenario, through `admin`.
    pub fn new(admin: &'static Admin, mode: Provisioning) -> Self {
        Self {
            admin,
            mode,
            document: empty_document(),
            posted: false,
        }
    }

    /// A service `name` proxying to `url`.
    pub async fn create_service(&mut self, name: &str, url: &str) -> Result<String, AdminError> {
        match self.mode {
            Provisioning::AdminApi => self.admin.create_service(name, url).await,
            _ => {
                self.add("services", json!({ "name": name, "url": url }))
                    .await
            }
        }
    }

    /// A route `name` of `service` matching `paths`.
    pub async fn create_route(
        &mut self,
        service: &str,
        name: &str,
        paths: &[&str],
    ) -> Result<String, AdminError> {
        match self.mode {
            Provisioning::AdminApi => self.admin.create_route(service, name, paths).await,
            _ => {
                let route = json!({ "name": name, "paths": paths, "service": service });
                self.add("routes", route).await
            }
        }
    }

    /// A consumer with `username`.
    pub async fn create_consumer(&mut self, username: &str) -> Result<String, AdminError> {
        self.create_consumer_entity(json!({ "username": username }))
            .await
    }

    /// A consumer with the fields of `consumer` (`username`, `custom_id`).
    pub async fn create_consumer_entity(&mut self, consumer: Value) -> Result<String, AdminError> {
        match self.mode {
            Provisioning::AdminApi => self.admin.create("/consumers", &consumer).await,
            _ => self.add("consumers", consumer).await,
        }
    }

    /// Deletes the entity `id` of `collection` (`consumers`, `keyauth_credentials`, `plugins`...) at the Admin
    /// API path `path`: `DELETE path`, or the document without it (and, for a consumer, without its
    /// credentials and plugins, as Kong's cascade) sent again.
    pub async fn delete(
        &mut self,
        collection: &str,
        id: &str,
        path: &str,
    ) -> Result<(), AdminError> {
        match self.mode {
            Provisioning::AdminApi => self.admin.delete(path).await,
            _ => {
                let before = self.document.clone();
                let is_gone = |entity: &Value| {
                    entity["id"] == id || (collection == "consumers" && entity["consumer"] == id)
                };
                for name in COLLECTIONS {
                    if let Some(Value::Array(entities)) = self.document.get_mut(name) {
                        entities.retain(|e| !is_gone(e));
                    }
                }
                if let Err(error) = self.post().await {
                    self.document = before;
                    return Err(error);
                }
                Ok(())
            }
        }
    }

    /// A key-auth credential `key` of `consumer`.
    pub async fn create_key_auth(
        &mut self,
        consumer: &str,
        key: &str,
    ) -> Result<String, AdminError> {
        match self.mode {
            Provisioning::AdminApi => self.admin.create_key_auth(consumer, key).await,
            _ => {
                let credential = json!({ "key": key, "consumer": consumer });
                self.add("keyauth_credentials", credential).await
            }
        }
    }

    /// A credential of `consumer` for the auth plugin whose Admin API path under a consumer is `nested`
    /// (`key-auth`, `basic-auth`), with the fields `body`.
    pub async fn create_credential(
        &mut self,
        consumer: &str,
        nested: &str,
        body: Value,
    ) -> Result<String, AdminError> {
        match self.mode {
            Provisioning::AdminApi => {
                self.admin
                    .create(&format!("/consumers/{consumer}/{nested}"), &body)
                    .await
            }
            _ => {
                let table = match nested {
                    "key-auth" => "keyauth_credentials",
                    "basic-auth" => "basicauth_credentials",
                    other => {
                        return Err(AdminError::Body {
                            method: Method::POST,
                            url: self.admin.url(&format!("/consumers/{consumer}/{other}")),
                            detail: format!("no declarative collection for {other} credentials"),
                        });
                    }
                };
                let mut credential = body;
                credential["consumer"] = Value::String(consumer.to_owned());
                self.add(table, credential).await
            }
        }
    }

    /// A plugin: `plugin` is the whole entity (`name`, `config`, and `service`/`route`/`consumer` as
    /// `{"id": ...}`).
    pub async fn create_plugin(&mut self, plugin: &Value) -> Result<String, AdminError> {
        match self.mode {
            Provisioning::AdminApi => self.admin.create_plugin(plugin).await,
            _ => {
                let mut plugin = plugin.clone();
                if let Value::Object(fields) = &mut plugin {
                    for field in REFERENCES {
                        if let Some(id) = fields.get(field).and_then(|r| r["id"].as_str()) {
                            let id = id.to_owned();
                            fields.insert(field.to_owned(), Value::String(id));
                        }
                    }
                }
                self.add("plugins", plugin).await
            }
        }
    }

    /// Changes the plugin `id` as `PATCH /plugins/{id}` with `patch` does (`config` fields merged into its
    /// config, other fields replaced); returns the plugin as the gateway then has it.
    pub async fn update_plugin(&mut self, id: &str, patch: &Value) -> Result<Value, AdminError> {
        match self.mode {
            Provisioning::AdminApi => self.admin.update_plugin(id, patch).await,
            _ => {
                let path = format!("/plugins/{id}");
                let Some(plugin) = self.entity_mut("plugins", id) else {
                    return Err(self.not_in_document(Method::PATCH, &path));
                };
                if let (Value::Object(plugin), Value::Object(patch)) = (plugin, patch) {
                    for (field, value) in patch {
                        match (plugin.get_mut(field), value) {
                            (Some(Value::Object(old)), Value::Object(new)) if field == "config" => {
                                old.extend(new.clone());
                            }
                            _ => {
                                plugin.insert(field.clone(), value.clone());
                            }
                        }
                    }
                }
                self.post().await?;
                // Kong's answer to a PATCH is the whole entity with its defaults: the gateway's GET gives it.
                self.admin
                    .send(Method::GET, &path, Body::None, StatusCode::OK)
                    .await
            }
        }
    }

    /// `PATCH /plugins/{id}` with the form body `form`: only through the entity endpoints (the scenario checks
    /// how the Admin API reads the form).
    pub async fn update_plugin_form(&mut self, id: &str, form: &str) -> Result<Value, AdminError> {
        match self.mode {
            Provisioning::AdminApi => self.admin.update_plugin_form(id, form).await,
            _ => Err(self.not_in_document(Method::PATCH, &format!("/plugins/{id}"))),
        }
    }

    /// Removes what the scenario created: `created` (Admin API paths, newest first) one by one, or the whole
    /// declarative document, replaced by an empty one. Failures are only logged: the scenario's verdict is in.
    pub async fn clean_up(&mut self, created: impl IntoIterator<Item = String>) {
        match self.mode {
            Provisioning::AdminApi => {
                for path in created {
                    if let Err(error) = self.admin.delete(&path).await {
                        tracing::warn!(%error, "clean-up failed");
                    }
                }
            }
            _ => {
                self.document = empty_document();
                if self.posted {
                    if let Err(error) = self.post().await {
                        tracing::warn!(%error, "clean-up failed");
                    }
                    self.posted = false;
                }
            }
        }
    }

    /// Adds `entity` with a new id to `collection` and sends the document.
    async fn add(&mut self, collection: &str, mut entity: Value) -> Result<String, AdminError> {
        if self.mode == Provisioning::External {
            return Err(AdminError::Body {
                method: Method::POST,
                url: self.admin.url(&format!("/{collection}")),
                detail: "--provisioning external: the harness provisions nothing (tag only scenarios that \
                         need no provisioning of their own @preprovisioned)"
                    .to_owned(),
            });
        }
        let id = uuid::Uuid::new_v4().to_string();
        entity["id"] = Value::String(id.clone());
        if let Some(Value::Array(entities)) = self.document.get_mut(collection) {
            entities.push(entity);
        }
        match self.post().await {
            Ok(()) => Ok(id),
            Err(error) => {
                // The gateway kept the previous document: so does the scenario.
                if let Some(Value::Array(entities)) = self.document.get_mut(collection) {
                    entities.retain(|e| e["id"] != id.as_str());
                }
                Err(error)
            }
        }
    }

    /// The entity `id` of `collection` in the document.
    fn entity_mut(&mut self, collection: &str, id: &str) -> Option<&mut Value> {
        match self.document.get_mut(collection) {
            Some(Value::Array(entities)) => entities.iter_mut().find(|e| e["id"] == id),
            _ => None,
        }
    }

    fn not_in_document(&self, method: Method, path: &str) -> AdminError {
        AdminError::Body {
            method,
            url: self.admin.url(path),
            detail: format!(
                "--provisioning {}: the scenario's declarative document has no such entity, or the change is \
                 one the entity endpoints of the Admin API must make",
                self.mode.name()
            ),
        }
    }

    /// `POST /config` with the whole document, expecting `201 Created`.
    async fn post(&mut self) -> Result<(), AdminError> {
        let document = Value::Object(self.document.clone());
        self.admin
            .send(
                Method::POST,
                "/config",
                Body::Json(&document),
                StatusCode::CREATED,
            )
            .await?;
        self.posted = true;
        Ok(())
    }
}

/// `{"_format_version": "3.0"}` with every collection empty.
fn empty_document() -> Map<String, Value> {
    let mut document = Map::new();
    document.insert("_format_version".to_owned(), json!("3.0"));
    for collection in COLLECTIONS {
        document.insert(collection.to_owned(), json!([]));
    }
    document
}
