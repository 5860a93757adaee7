//! A small client for Kong's Admin API, which the steps use to provision the gateway under test (the reference
//! gateway or a real Kong): services, routes, consumers, key-auth credentials and plugins.
//!
//! JSON bodies (the Admin API uses them as they are, with no type inference), and form bodies where a scenario
//! checks how the Admin API reads them (`http -f`: repeated keys build arrays). Every call names the
//! status Kong answers on success (`kong/api/endpoints.lua`: POST 201, GET/PATCH 200, DELETE 204); any other
//! status is an error carrying the response body, so a failing step shows Kong's own error message.
//!
//! [`Provisioner`] (`provisioner.rs`) is what a scenario provisions through: this client's entity calls, or one
//! declarative document for `POST /config`.

mod provisioner;

pub use provisioner::Provisioner;

use std::fmt;
use std::time::{Duration, Instant};

use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use url::Url;

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

    /// The status of `GET {path}`, whatever it is.
    pub async fn status(&self, path: &str) -> Result<StatusCode, AdminError> {
        let url = format!("{}{path}", self.base);
        match self.http.get(&url).send().await {
            Ok(response) => Ok(response.status()),
            Err(source) => Err(AdminError::Transport {
                method: Method::GET,
                url,
                source,
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
