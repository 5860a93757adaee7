//! A small client for Kong's Admin API, which the steps use to provision the gateway under test (the reference
//! gateway or a real Kong): services, routes, consumers, key-auth credentials and plugins.
//!
//! JSON bodies (the Admin API uses them as they are, with no type inference), and form bodies where a scenario
//! checks how the Admin API reads them (`http -f`: repeated keys build arrays). Every call names the
//! status Kong answers on success (`kong/api/endpoints.lua`: POST 201, GET/PATCH 200, DELETE 204); any other
//! status is an error carrying the response body, so a failing step shows Kong's own error message.

use std::fmt;
use std::time::{Duration, Instant};

use reqwest::{Client, Method, StatusCode};
use serde_json::{Map, Value, json};
use url::Url;

use crate::target::Provisioning;

/// How long one Admin API call may take before it fails (so a hung gateway fails a step instead of the run).
const TIMEOUT: Duration = Duration::from_secs(10);

/// An Admin API client bound to one base URL (`http://127.0.0.1:8001`, or a prefix such as `https://host/admin`).
#[derive(Clone, Debug)]
pub struct Admin {
    http: Client,
    base: String,
}

/// An Admin API call that did not give the expected answer.
#[derive(Debug)]
pub enum AdminError {
    /// No HTTP answer at all (connection refused, timeout...).
    Transport {
        method: Method,
        url: String,
        source: reqwest::Error,
    },
    /// An answer with another status than the one Kong gives on success.
    Status {
        method: Method,
        url: String,
        status: StatusCode,
        body: String,
    },
    /// A success status with a body that is not what Kong sends (not JSON, no `id`).
    Body {
        method: Method,
        url: String,
        detail: String,
    },
}

impl fmt::Display for AdminError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transport {
                method,
                url,
                source,
            } => write!(f, "Admin API {method} {url}: {source}"),
            Self::Status {
                method,
                url,
                status,
                body,
            } => {
                if let Some(plugin) = plugin_not_enabled(body) {
                    write!(
                        f,
                        "the target gateway has no plugin '{plugin}' enabled (Admin API {method} {url} answered \
                         {status}: {body}); tag the scenario @{plugin} so that such targets report it as not \
                         applicable, or enable the plugin (Kong: KONG_PLUGINS=bundled,{plugin})"
                    )
                } else {
                    write!(f, "Admin API {method} {url} answered {status}: {body}")
                }
            }
            Self::Body {
                method,
                url,
                detail,
            } => write!(f, "Admin API {method} {url}: {detail}"),
        }
    }
}

impl std::error::Error for AdminError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Transport { source, .. } => Some(source),
            Self::Status { .. } | Self::Body { .. } => None,
        }
    }
}

/// The plugin named by Kong's schema violation "plugin 'x' not enabled; add it to the 'plugins' configuration
/// property" in an Admin API error body, if that is what it says.
pub fn plugin_not_enabled(body: &str) -> Option<&str> {
    let start = body.find("plugin '")? + "plugin '".len();
    let rest = &body[start..];
    let end = rest.find('\'')?;
    rest[end..]
        .starts_with("' not enabled")
        .then(|| &rest[..end])
}

/// The body of an Admin API call.
enum Body<'a> {
    None,
    Json(&'a Value),
    /// Already `application/x-www-form-urlencoded`.
    Form(&'a str),
}

impl Admin {
    /// A client for the Admin API at `base`.
    pub fn new(base: &Url) -> Result<Self, reqwest::Error> {
        let http = Client::builder().no_proxy().timeout(TIMEOUT).build()?;
        Ok(Self {
            http,
            base: base.as_str().trim_end_matches('/').to_owned(),
        })
    }

    /// The absolute URL of `path` (`/services`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET /`: the node's information (`version`, `plugins.available_on_server`, `configuration`).
    pub async fn root(&self) -> Result<Value, AdminError> {
        self.send(Method::GET, "/", Body::None, StatusCode::OK)
            .await
    }

    /// Polls the Admin API's root until it answers at all (any status), for at most `timeout`.
    pub async fn wait_until_answering(&self, timeout: Duration) -> Result<(), AdminError> {
        let deadline = Instant::now() + timeout;
        let url = format!("{}/", self.base);
        loop {
            match self.http.get(&url).send().await {
                Ok(_) => return Ok(()),
                Err(source) if Instant::now() >= deadline => {
                    return Err(AdminError::Transport {
                        method: Method::GET,
                        url,
                        source,
                    });
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    /// `POST /services`: a service proxying to `url`.
    pub async fn create_service(&self, name: &str, url: &str) -> Result<String, AdminError> {
        self.create("/services", &json!({ "name": name, "url": url }))
            .await
    }

    /// `POST /services/{service}/routes`: a route of `service` matching `paths` (prefix match, `strip_path` on).
    pub async fn create_route(
        &self,
        service: &str,
        name: &str,
        paths: &[&str],
    ) -> Result<String, AdminError> {
        self.create(
            &format!("/services/{service}/routes"),
            &json!({ "name": name, "paths": paths }),
        )
        .await
    }

    /// `POST /consumers`: a consumer with `username`.
    pub async fn create_consumer(&self, username: &str) -> Result<String, AdminError> {
        self.create("/consumers", &json!({ "username": username }))
            .await
    }

    /// `POST /consumers/{consumer}/key-auth`: a key-auth credential with `key`.
    pub async fn create_key_auth(&self, consumer: &str, key: &str) -> Result<String, AdminError> {
        self.create(
            &format!("/consumers/{consumer}/key-auth"),
            &json!({ "key": key }),
        )
        .await
    }

    /// `POST /plugins`: `plugin` is the whole entity (`name`, `config`, and `service`/`route`/`consumer` as
    /// `{"id": ...}` or `{"name": ...}`).
    pub async fn create_plugin(&self, plugin: &Value) -> Result<String, AdminError> {
        self.create("/plugins", plugin).await
    }

    /// `PATCH /plugins/{id}` with `patch` (for example `{"config": {"storage": "cookie"}}`).
    pub async fn update_plugin(&self, id: &str, patch: &Value) -> Result<Value, AdminError> {
        self.send(
            Method::PATCH,
            &format!("/plugins/{id}"),
            Body::Json(patch),
            StatusCode::OK,
        )
        .await
    }

    /// `PATCH /plugins/{id}` with the `application/x-www-form-urlencoded` body `form`
    /// (`config.auth_methods=session&config.auth_methods=password`, what `http -f patch` sends).
    pub async fn update_plugin_form(&self, id: &str, form: &str) -> Result<Value, AdminError> {
        self.send(
            Method::PATCH,
            &format!("/plugins/{id}"),
            Body::Form(form),
            StatusCode::OK,
        )
        .await
    }

    /// `POST {path}`, expecting `201 Created`; returns the created entity's `id`.
    pub async fn create(&self, path: &str, body: &Value) -> Result<String, AdminError> {
        let json = self
            .send(Method::POST, path, Body::Json(body), StatusCode::CREATED)
            .await?;
        match json["id"].as_str() {
            Some(id) => Ok(id.to_owned()),
            None => Err(AdminError::Body {
                method: Method::POST,
                url: format!("{}{path}", self.base),
                detail: format!("the created entity has no string `id`: {json}"),
            }),
        }
    }

    /// `DELETE {path}`, expecting `204 No Content`.
    pub async fn delete(&self, path: &str) -> Result<(), AdminError> {
        self.send(Method::DELETE, path, Body::None, StatusCode::NO_CONTENT)
            .await
            .map(drop)
    }

    /// Sends one call and decodes the JSON answer (`null` for an empty body).
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Body<'_>,
        expected: StatusCode,
    ) -> Result<Value, AdminError> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method.clone(), &url);
        match body {
            Body::None => {}
            Body::Json(body) => request = request.json(body),
            Body::Form(form) => {
                request = request
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(form.to_owned());
            }
        }
        let transport = |source| AdminError::Transport {
            method: method.clone(),
            url: url.clone(),
            source,
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(transport)?;
        if status != expected {
            let body = String::from_utf8_lossy(&bytes).into_owned();
            return Err(AdminError::Status {
                method,
                url,
                status,
                body,
            });
        }
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| AdminError::Body {
            method,
            url,
            detail: format!(
                "the body is not JSON ({e}): {}",
                String::from_utf8_lossy(&bytes)
            ),
        })
    }
}

/// The collections of the declarative documents this module writes.
const COLLECTIONS: [&str; 5] = [
    "services",
    "routes",
    "consumers",
    "keyauth_credentials",
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
        match self.mode {
            Provisioning::AdminApi => self.admin.create_consumer(username).await,
            _ => self.add("consumers", json!({ "username": username })).await,
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
