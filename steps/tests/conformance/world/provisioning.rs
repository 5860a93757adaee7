//! What a scenario provisions on the gateway under test, namespaced (see the [`world`](super) module): services
//! with their route, consumers, key-auth keys and plugins, through the scenario's
//! [`Provisioner`](crate::admin::Provisioner) (the Admin API's entity endpoints, or one declarative document sent
//! with `POST /config`), and what it created, deleted after the scenario. Also Kong's documented key-auth +
//! session set-up. Runs in the `Given` steps and in the clean-up after every scenario.

use serde_json::{Value, json};

use super::{Error, GatewayWorld, KEY_NAME, suite};
use crate::admin::{self, AdminError};
use crate::target::{self, Provisioning};

/// Where a plugin applies.
#[derive(Clone, Copy, Debug)]
pub enum Scope<'a> {
    /// The current service.
    Service,
    /// The route the feature calls so.
    Route(&'a str),
    /// Every request of this consumer (no service or route).
    Consumer(&'a str),
    /// Every request.
    Global,
}

/// A consumer the scenario created (its `username` is namespaced).
#[derive(Debug)]
pub struct Consumer {
    pub id: String,
    /// Its username on the gateway (namespaced, or random).
    pub username: String,
    /// The `id` of its key-auth credential, if it has one.
    pub credential: Option<String>,
}

impl GatewayWorld {
    /// A service proxying to the echo upstream at `path`, with one route matching `path`.
    pub async fn create_service(
        &mut self,
        name: &str,
        route: &str,
        path: &str,
    ) -> Result<(), Error> {
        self.create_service_at(name, route, path, path).await
    }

    /// A service proxying to the echo upstream at `upstream_path`, with one route matching `path`.
    pub async fn create_service_at(
        &mut self,
        name: &str,
        route: &str,
        path: &str,
        upstream_path: &str,
    ) -> Result<(), Error> {
        let url = format!("{}{upstream_path}", self.suite.upstream_url);
        let name = self.ns(name);
        let service = self.provisioner.create_service(&name, &url).await?;
        self.created.push(format!("/services/{service}"));
        let namespaced = self.ns_route(path);
        let name = self.ns(route);
        let route_id = self
            .provisioner
            .create_route(&service, &name, &[&namespaced])
            .await?;
        self.created.push(format!("/routes/{route_id}"));
        self.route_ids.insert(route.to_owned(), route_id);
        self.routes.push((path.to_owned(), namespaced));
        self.service = Some(service);
        Ok(())
    }

    /// Another route `route` of the current service, matching `path`.
    pub async fn add_route(&mut self, route: &str, path: &str) -> Result<(), Error> {
        let service = self.service()?.to_owned();
        let namespaced = self.ns_route(path);
        let name = self.ns(route);
        let route_id = self
            .provisioner
            .create_route(&service, &name, &[&namespaced])
            .await?;
        self.created.push(format!("/routes/{route_id}"));
        self.route_ids.insert(route.to_owned(), route_id);
        self.routes.push((path.to_owned(), namespaced));
        Ok(())
    }

    /// A consumer named `username` (namespaced) with the `custom_id` `custom_id` (namespaced).
    pub async fn create_consumer_with_custom_id(
        &mut self,
        username: &str,
        custom_id: &str,
    ) -> Result<(), Error> {
        let namespaced = self.ns(username);
        let consumer = json!({ "username": namespaced, "custom_id": self.ns(custom_id) });
        let id = self.provisioner.create_consumer_entity(consumer).await?;
        self.remember_consumer(username.to_owned(), id, namespaced);
        Ok(())
    }

    /// A consumer the feature calls `label` whose username is `length` random letters and digits (data that does
    /// not compress, for a session too big for one cookie).
    pub async fn create_consumer_with_random_username(
        &mut self,
        label: &str,
        length: usize,
    ) -> Result<(), Error> {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let mut username = String::with_capacity(length);
        while username.len() < length {
            for byte in uuid::Uuid::new_v4().as_bytes() {
                username.push(char::from(ALPHABET[usize::from(*byte) % ALPHABET.len()]));
            }
        }
        username.truncate(length);
        let id = self.provisioner.create_consumer(&username).await?;
        self.created.push(format!("/consumers/{id}"));
        self.consumers.insert(
            label.to_owned(),
            Consumer {
                id,
                username,
                credential: None,
            },
        );
        Ok(())
    }

    /// A consumer the feature calls `label` with no username, only the `custom_id` `custom_id` (namespaced).
    pub async fn create_consumer_with_only_custom_id(
        &mut self,
        label: &str,
        custom_id: &str,
    ) -> Result<(), Error> {
        let consumer = json!({ "custom_id": self.ns(custom_id) });
        let id = self.provisioner.create_consumer_entity(consumer).await?;
        self.remember_consumer(label.to_owned(), id, String::new());
        Ok(())
    }

    /// A consumer whose username is exactly `username` (not namespaced), known to the feature by that name.
    pub async fn create_consumer_exactly(&mut self, username: &str) -> Result<(), Error> {
        let id = self.provisioner.create_consumer(username).await?;
        self.remember_consumer(username.to_owned(), id, username.to_owned());
        Ok(())
    }

    /// The plugin `name` with `config`, applied where `scope` says.
    pub async fn enable_plugin_at(
        &mut self,
        name: &str,
        scope: Scope<'_>,
        config: Value,
    ) -> Result<(), Error> {
        let mut plugin = json!({ "name": name, "config": config });
        match scope {
            Scope::Service => plugin["service"] = json!({ "id": self.service()? }),
            Scope::Route(route) => {
                let id = self
                    .route_ids
                    .get(route)
                    .ok_or_else(|| format!("the scenario has no route {route:?}"))?;
                plugin["route"] = json!({ "id": id });
            }
            Scope::Consumer(username) => {
                plugin["consumer"] = json!({ "id": self.consumer(username)?.id });
            }
            Scope::Global => {}
        }
        let id = self.provisioner.create_plugin(&plugin).await?;
        self.created.push(format!("/plugins/{id}"));
        self.plugins.insert(name.to_owned(), id);
        Ok(())
    }

    /// Tries to create the plugin `name` with `config` on the current service; keeps the Admin API's refusal
    /// (status and JSON body) for [`GatewayWorld::admin_refusal`], and fails if the Admin API accepted it.
    pub async fn try_enable_plugin(&mut self, name: &str, config: Value) -> Result<(), Error> {
        let plugin =
            json!({ "name": name, "config": config, "service": { "id": self.service()? } });
        match self.provisioner.create_plugin(&plugin).await {
            Ok(id) => {
                self.created.push(format!("/plugins/{id}"));
                Err(format!("the Admin API accepted the {name} plugin with {plugin}").into())
            }
            Err(AdminError::Status { status, body, .. }) => {
                let body = serde_json::from_str(&body).unwrap_or(Value::String(body));
                self.admin_refusal = Some((status.as_u16(), body));
                Ok(())
            }
            Err(other) => Err(other.into()),
        }
    }

    /// The status and body with which the Admin API refused the last plugin a step tried to create.
    pub fn admin_refusal(&self) -> Result<&(u16, Value), Error> {
        self.admin_refusal
            .as_ref()
            .ok_or_else(|| "no step has had a plugin refused yet".into())
    }

    /// Deletes the key-auth credential of `username`.
    pub async fn delete_key(&mut self, username: &str) -> Result<(), Error> {
        let consumer = self.consumer(username)?;
        let credential = consumer
            .credential
            .clone()
            .ok_or_else(|| format!("{username} has no key"))?;
        let path = format!("/consumers/{}/key-auth/{credential}", consumer.id);
        self.provisioner
            .delete("keyauth_credentials", &credential, &path)
            .await?;
        Ok(())
    }

    /// Deletes the consumer `username` (and with it, as in Kong, its credentials).
    pub async fn delete_consumer(&mut self, username: &str) -> Result<(), Error> {
        let id = self.consumer(username)?.id.clone();
        let path = format!("/consumers/{id}");
        self.provisioner.delete("consumers", &id, &path).await?;
        self.created.retain(|created| *created != path);
        Ok(())
    }

    /// A service proxying to the echo upstream at `base`, with one route whose only path is the regex `~<base
    /// namespaced><regex>` (Kong's `~` regex paths).
    pub async fn create_service_with_regex_route(
        &mut self,
        name: &str,
        route: &str,
        base: &str,
        regex: &str,
    ) -> Result<(), Error> {
        let url = format!("{}{base}", self.suite.upstream_url);
        let name = self.ns(name);
        let service = self.provisioner.create_service(&name, &url).await?;
        self.created.push(format!("/services/{service}"));
        let namespaced = self.ns_route(base);
        let path = format!("~{namespaced}{regex}");
        let route = self.ns(route);
        let route = self
            .provisioner
            .create_route(&service, &route, &[&path])
            .await?;
        self.created.push(format!("/routes/{route}"));
        self.routes.push((base.to_owned(), namespaced));
        self.service = Some(service);
        Ok(())
    }

    /// Records a consumer the scenario created, under the name the feature calls it by, for clean-up and for
    /// the steps that name it.
    fn remember_consumer(&mut self, label: impl Into<String>, id: String, username: String) {
        self.created.push(format!("/consumers/{id}"));
        self.consumers.insert(
            label.into(),
            Consumer {
                id,
                username,
                credential: None,
            },
        );
    }

    /// A consumer named `username` (namespaced).
    pub async fn create_consumer(&mut self, username: &str) -> Result<(), Error> {
        let namespaced = self.ns(username);
        let id = self.provisioner.create_consumer(&namespaced).await?;
        self.remember_consumer(username.to_owned(), id, namespaced);
        Ok(())
    }

    /// A key-auth credential `key` (namespaced) for the consumer `username`.
    pub async fn create_key(&mut self, username: &str, key: &str) -> Result<(), Error> {
        let consumer_id = self.consumer(username)?.id.clone();
        // Deleting the consumer deletes its credentials, so the credential is not added to `created`.
        let key = self.ns(key);
        let credential = self.provisioner.create_key_auth(&consumer_id, &key).await?;
        if let Some(consumer) = self.consumers.get_mut(username) {
            consumer.credential = Some(credential);
        }
        Ok(())
    }

    /// A credential of the consumer `username` for the auth plugin whose Admin API path under a consumer is
    /// `nested` (`key-auth`, `basic-auth`), with the fields `body` (already namespaced where needed).
    pub async fn create_credential(
        &mut self,
        username: &str,
        nested: &str,
        body: Value,
    ) -> Result<(), Error> {
        let consumer_id = self.consumer(username)?.id.clone();
        // Deleting the consumer deletes its credentials, so the credential is not added to `created`.
        let credential = self
            .provisioner
            .create_credential(&consumer_id, nested, body)
            .await?;
        if nested == "key-auth"
            && let Some(consumer) = self.consumers.get_mut(username)
        {
            consumer.credential = Some(credential);
        }
        Ok(())
    }

    /// The status of `GET {path}` on the Admin API.
    pub async fn admin_status(&self, path: &str) -> Result<reqwest::StatusCode, Error> {
        Ok(self.suite.admin.status(path).await?)
    }

    /// The plugin `name` with `config` on the current service, also scoped to `consumer` when given.
    pub async fn enable_plugin(
        &mut self,
        name: &str,
        consumer: Option<&str>,
        config: Value,
    ) -> Result<(), Error> {
        let mut plugin =
            json!({ "name": name, "config": config, "service": { "id": self.service()? } });
        if let Some(username) = consumer {
            plugin["consumer"] = json!({ "id": self.consumer(username)?.id });
        }
        let id = match self.provisioner.create_plugin(&plugin).await {
            Ok(id) => id,
            Err(error) => {
                if let AdminError::Status { body, .. } = &error
                    && let Some(plugin) = admin::plugin_not_enabled(body)
                {
                    suite::record_plugin_not_enabled(plugin);
                }
                return Err(error.into());
            }
        };
        self.created.push(format!("/plugins/{id}"));
        self.plugins.insert(name.to_owned(), id);
        Ok(())
    }

    /// Changes the `config` fields given of the plugin `name` (`PATCH /plugins/{id}`).
    pub async fn reconfigure_plugin(&mut self, name: &str, config: Value) -> Result<(), Error> {
        let id = self
            .plugins
            .get(name)
            .ok_or_else(|| format!("the scenario has no {name} plugin"))?;
        self.provisioner
            .update_plugin(id, &json!({ "config": config }))
            .await?;
        Ok(())
    }

    /// `PATCH /plugins/{id}` of the plugin `name` with the form body `form`, as `http -f patch` sends it; the
    /// answer is kept for [`GatewayWorld::admin_answer`].
    pub async fn patch_plugin_form(&mut self, name: &str, form: &str) -> Result<(), Error> {
        let id = self
            .plugins
            .get(name)
            .ok_or_else(|| format!("the scenario has no {name} plugin"))?;
        let answer = self.provisioner.update_plugin_form(id, form).await?;
        self.admin_answer = Some(answer);
        Ok(())
    }

    /// Kong's how-to set-up (`fixtures/config/key-auth-session.yaml`, namespaced): service `example-service` at
    /// `/anything`; consumer `alex` with key `hello_world`; key-auth with the anonymous consumer
    /// `anonymous_users`; session with `storage: kong` and `cookie_secure: false`; request-termination 403
    /// `Forbidden` for the anonymous consumer.
    ///
    /// With `--provisioning external` the set-up is already on the gateway, un-namespaced
    /// (`fixtures/kong/deck/key-auth-session.yaml`): the scenario only learns its route.
    pub async fn documented_setup(&mut self) -> Result<(), Error> {
        if target::provisioning() == Provisioning::External {
            self.routes
                .push(("/anything".to_owned(), "/anything".to_owned()));
            return Ok(());
        }
        self.documented_key_auth_setup().await?;
        self.enable_plugin(
            "session",
            None,
            json!({ "storage": "kong", "cookie_secure": false }),
        )
        .await
    }

    /// The documented set-up without the session plugin: service `example-service` at `/anything`; consumer
    /// `alex` with key `hello_world`; key-auth with the anonymous consumer `anonymous_users`, whom
    /// request-termination refuses with 403 `Forbidden`.
    pub async fn documented_key_auth_setup(&mut self) -> Result<(), Error> {
        self.create_service("example-service", "example-route", "/anything")
            .await?;
        self.create_consumer("alex").await?;
        self.create_key("alex", "hello_world").await?;
        self.create_consumer("anonymous_users").await?;
        let anonymous = self.consumer("anonymous_users")?.id.clone();
        self.enable_plugin(
            "key-auth",
            None,
            json!({ "key_names": [KEY_NAME], "anonymous": anonymous }),
        )
        .await?;
        let forbidden = json!({ "status_code": 403, "message": "Forbidden" });
        self.enable_plugin("request-termination", Some("anonymous_users"), forbidden)
            .await
    }

    /// Deletes what the scenario created, newest first. Failures are only logged: the scenario's verdict is in.
    /// With `--provisioning declarative`, an empty declarative document replaces the scenario's.
    pub async fn clean_up(&mut self) {
        let created: Vec<String> = self.created.drain(..).rev().collect();
        self.provisioner.clean_up(created).await;
    }

    /// The `id` of the current service.
    pub fn service(&self) -> Result<&str, Error> {
        self.service
            .as_deref()
            .ok_or_else(|| "the scenario has no service yet".into())
    }

    /// The consumer the feature calls `username`.
    pub fn consumer(&self, username: &str) -> Result<&Consumer, Error> {
        self.consumers
            .get(username)
            .ok_or_else(|| format!("the scenario has no consumer {username:?}").into())
    }

    /// The path of the scenario's first route, as the feature wrote it.
    pub fn first_route(&self) -> Result<&str, Error> {
        self.routes
            .first()
            .map(|(declared, _)| declared.as_str())
            .ok_or_else(|| "the scenario has no route yet".into())
    }

    /// The Admin API's answer to the last plugin update a step made.
    pub fn admin_answer(&self) -> Result<&Value, Error> {
        self.admin_answer
            .as_ref()
            .ok_or_else(|| "no step has updated a plugin yet".into())
    }
}
