//! The World: everything one scenario knows, and the backends every scenario of the run shares.
//!
//! * **Suite backends** ([`Suite`]): ONE echo upstream and ONE gateway under test, started lazily by the first
//!   scenario and kept for the whole run. The harness reaches the gateway only through a [`GatewayTarget`]
//!   (proxy URL + Admin API URL), so the same scenarios can drive a gateway started elsewhere.
//! * **Namespace**: each scenario appends its own short id to every entity name, key and route path it creates
//!   (`alex` → `alex-1a2b3c4d`, `/anything` → `/anything-1a2b3c4d`), so scenarios run concurrently against one
//!   gateway without seeing each other. Features keep the documented names; the World translates. With
//!   `--provisioning external` there is no namespace: the entities provisioned outside have the documented names.
//! * **Provisioning** ([`Provisioner`]): through the Admin API's entity endpoints, or, with `--provisioning
//!   declarative`, as the scenario's own declarative document sent with `POST /config` (see [`crate::target`]).
//! * **Client**: an HTTP client with a cookie jar that behaves like curl's `--cookie-jar` / HTTPie's `--session`
//!   (cookies from responses go back on later requests, expired ones are dropped), plus a client without a jar
//!   for requests that carry a hand-made `Cookie` header. Redirects are not followed and no proxy is used.
//! * **Last response**: status, headers (every raw `Set-Cookie` kept in order) and body.
//! * **OpenID Connect**: the identity provider of the scenario (a suite-level backend too, started only when an
//!   `@openid-connect` scenario first needs it, see [`crate::identity`]), the access token the upstream received
//!   when the scenario logged in, a token the scenario obtained from the provider itself, and the Admin API's
//!   answer to a plugin update a step made.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use reqwest::header::{COOKIE, HeaderMap, SET_COOKIE};
use reqwest::{Client, Method, StatusCode};
use reqwest_cookie_store::{CookieStore, CookieStoreMutex};
use serde_json::{Value, json};
use steps::EchoUpstream;
use tokio::sync::OnceCell;
use url::Url;

use crate::admin::{self, Admin, AdminError, Provisioner};
use crate::identity::{self, Lifespan, Provider};
use crate::target::{self, Provisioning};

/// What a failing World operation returns; cucumber prints it as the step's failure.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The header that carries key-auth keys (the `key_names` the scenarios configure, Kong's default).
pub const KEY_NAME: &str = "apikey";

/// The name of the session cookie (the session plugin's default `cookie_name`).
pub const SESSION_COOKIE: &str = "session";

/// How long one proxied request may take before the step fails.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long to wait for a freshly started gateway to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long after its lifespan an access token may still be reported active before a step gives up.
const EXPIRY_MARGIN: Duration = Duration::from_secs(10);

/// The gateway under test, as the harness reaches it.
#[derive(Clone, Debug)]
pub struct GatewayTarget {
    /// Base URL of the proxy listener (`http://127.0.0.1:8000`).
    pub proxy: Url,
    /// Base URL of the Admin API (`http://127.0.0.1:8001`).
    pub admin: Url,
}

/// A client builder for requests through the proxy: no redirects followed, no proxy, a timeout.
fn proxy_client() -> reqwest::ClientBuilder {
    Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(REQUEST_TIMEOUT)
}

/// Backends shared by every scenario of the run.
pub struct Suite {
    /// Where the gateway under test answers.
    pub target: GatewayTarget,
    /// The upstream every scenario's services proxy to, held here so that it runs until the process ends.
    _upstream: EchoUpstream,
    /// Its base URL as the gateway reaches it (`--upstream-host`), no trailing slash.
    pub upstream_url: String,
    /// The gateway's Admin API.
    pub admin: Admin,
    /// A client without a cookie jar, for requests with a hand-made `Cookie` header.
    bare: Client,
    /// The in-process reference gateway (none for an external target), held here so that it runs until the
    /// process ends.
    _gateway: Option<gateway::RunningGateway>,
}

static SUITE: OnceCell<Suite> = OnceCell::const_new();

/// Plugins the target refused as "not enabled" while scenarios provisioned them, with how many times.
static PLUGINS_NOT_ENABLED: Mutex<BTreeMap<String, usize>> = Mutex::new(BTreeMap::new());

/// The plugins the target refused as "not enabled" during the run, with how many scenarios it refused each in.
pub fn plugins_not_enabled() -> BTreeMap<String, usize> {
    PLUGINS_NOT_ENABLED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

impl Suite {
    /// The run's backends, started by the first caller.
    pub async fn get() -> Result<&'static Self, Error> {
        SUITE.get_or_try_init(Self::start).await
    }

    async fn start() -> Result<Self, Error> {
        let options = target::options();
        let upstream = EchoUpstream::builder()
            .listen(options.bind_addr())
            .start()
            .await
            .map_err(|e| {
                format!(
                    "cannot start the echo upstream on {}: {e}",
                    options.bind_host
                )
            })?;
        let upstream_url = options.url_for_gateway(upstream.addr());
        let (target, gateway) = match &options.external {
            Some(external) => {
                let target = GatewayTarget {
                    proxy: external.proxy.clone(),
                    admin: external.admin.clone(),
                };
                (target, None)
            }
            None => {
                let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
                let gateway = gateway::Gateway::builder()
                    .proxy_listen(loopback)
                    .admin_listen(loopback)
                    .start()
                    .await
                    .map_err(|e| format!("cannot start the reference gateway: {e}"))?;
                let target = GatewayTarget {
                    proxy: Url::parse(&format!("http://{}", gateway.proxy_addr()))?,
                    admin: Url::parse(&format!("http://{}", gateway.admin_addr()))?,
                };
                (target, Some(gateway))
            }
        };
        let admin = Admin::new(&target.admin)?;
        if gateway.is_some() {
            admin.wait_until_answering(READY_TIMEOUT).await?;
        }
        Ok(Self {
            target,
            _upstream: upstream,
            upstream_url,
            admin,
            bare: proxy_client().build()?,
            _gateway: gateway,
        })
    }
}

/// A consumer the scenario created (its `username` is namespaced).
#[derive(Debug)]
pub struct Consumer {
    pub id: String,
    /// The `id` of its key-auth credential, if it has one.
    pub credential: Option<String>,
}

/// Where the `Cookie` header of a request comes from.
#[derive(Clone, Debug)]
pub enum Cookies {
    /// The scenario's jar (like `curl -b jar -c jar`).
    Jar,
    /// Exactly this `Cookie` header, and nothing from the jar (like `curl --cookie 'session=...'`).
    Only(String),
}

/// A request a step sends through the gateway's proxy.
#[derive(Debug)]
pub struct Outgoing {
    pub method: Method,
    /// Path and query as the feature writes it (`/anything?session_logout`); namespaced before sending.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub cookies: Cookies,
}

impl Outgoing {
    /// A request with no extra header, carrying the jar's cookies.
    pub fn new(method: Method, path: &str) -> Self {
        Self {
            method,
            path: path.to_owned(),
            headers: Vec::new(),
            cookies: Cookies::Jar,
        }
    }

    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    #[must_use]
    pub fn cookies(mut self, cookies: Cookies) -> Self {
        self.cookies = cookies;
        self
    }
}

/// The response to the last request a scenario sent.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// Every `Set-Cookie` header, verbatim and in order.
    pub set_cookies: Vec<String>,
    pub body: Vec<u8>,
}

impl Reply {
    /// The body decoded as JSON.
    pub fn json(&self) -> Result<Value, Error> {
        serde_json::from_slice(&self.body).map_err(|e| {
            format!(
                "the body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
            .into()
        })
    }

    /// The `message` of a Kong error body (`{"message":"...","request_id":"..."}`).
    pub fn message(&self) -> Result<String, Error> {
        let json = self.json()?;
        json["message"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("no string `message` in {json}").into())
    }

    /// The `Set-Cookie` header that sets `name`, split into its value and the attributes after it
    /// (`session=abc; Path=/; HttpOnly` → `("abc", "Path=/; HttpOnly")`).
    pub fn set_cookie(&self, name: &str) -> Option<(&str, &str)> {
        self.set_cookies.iter().find_map(|line| {
            let (pair, attributes) = line.split_once(';').unwrap_or((line, ""));
            let (cookie, value) = pair.split_once('=')?;
            (cookie.trim() == name).then(|| (value.trim(), attributes.trim_start()))
        })
    }

    /// The request headers the echo upstream reports it received (lower-case names).
    pub fn upstream_headers(&self) -> Result<serde_json::Map<String, Value>, Error> {
        match self.json()? {
            Value::Object(mut body) => match body.remove("headers") {
                Some(Value::Object(headers)) => Ok(headers),
                _ => Err(format!(
                    "not an echo of the upstream (no `headers` object): {}",
                    Value::Object(body)
                )
                .into()),
            },
            other => Err(format!("not an echo of the upstream: {other}").into()),
        }
    }

    /// The token of the one `Authorization: Bearer <token>` header the echo upstream reports it received.
    pub fn upstream_bearer_token(&self) -> Result<String, Error> {
        let headers = self.upstream_headers()?;
        let authorization = match headers.get("authorization") {
            Some(Value::String(value)) => value,
            Some(other) => {
                return Err(format!(
                    "the upstream received several Authorization headers: {other}"
                )
                .into());
            }
            None => return Err("the upstream received no Authorization header".into()),
        };
        match authorization.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() => {
                Ok(token.to_owned())
            }
            _ => Err(format!(
                "the upstream received Authorization: {authorization:?}, not a Bearer token"
            )
            .into()),
        }
    }
}

/// The state of one scenario.
#[derive(cucumber::World)]
#[world(init = Self::new)]
pub struct GatewayWorld {
    suite: &'static Suite,
    /// The suffix of the scenario's names; `None` with `--provisioning external`, whose entities have the
    /// documented names.
    namespace: Option<String>,
    /// Provisions through the Admin API as `--provisioning` says.
    provisioner: Provisioner,
    jar: Arc<CookieStoreMutex>,
    /// Sends the jar's cookies and stores the ones responses set.
    http: Client,
    /// The `id` of the service steps mean by "the service" (the last one created).
    service: Option<String>,
    /// Route paths as features write them, with their namespaced form.
    routes: Vec<(String, String)>,
    /// Consumers by their declared username.
    consumers: HashMap<String, Consumer>,
    /// Plugin ids by plugin name (the last one created of each name).
    plugins: HashMap<String, String>,
    /// Admin API paths of everything created, deleted in reverse order after the scenario.
    created: Vec<String>,
    last: Option<Reply>,
    /// The value of the last non-empty session cookie the gateway issued.
    session_cookie: Option<String>,
    /// The identity provider the scenario's openid-connect plugin uses.
    provider: Option<&'static Provider>,
    /// The route path (as the feature writes it) of the OpenID Connect set-up.
    oidc_route: Option<String>,
    /// The access token the upstream received when the scenario logged in.
    login_token: Option<String>,
    /// An access token the scenario obtained from the identity provider itself.
    access_token: Option<String>,
    /// The Admin API's answer to the last plugin update a step made.
    admin_answer: Option<Value>,
}

/// Why a scenario could not get its World (the run's backends did not start).
#[derive(Debug)]
pub struct InitError(Error);

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot set up the scenario: {}", self.0)
    }
}

impl std::error::Error for InitError {}

impl GatewayWorld {
    async fn new() -> Result<Self, InitError> {
        Self::try_new().await.map_err(InitError)
    }

    async fn try_new() -> Result<Self, Error> {
        let suite = Suite::get().await?;
        let jar = Arc::new(CookieStoreMutex::new(CookieStore::new()));
        let mode = target::provisioning();
        Ok(Self {
            suite,
            namespace: (mode != Provisioning::External)
                .then(|| uuid::Uuid::new_v4().simple().to_string()[..8].to_owned()),
            provisioner: Provisioner::new(&suite.admin, mode),
            http: proxy_client().cookie_provider(Arc::clone(&jar)).build()?,
            jar,
            service: None,
            routes: Vec::new(),
            consumers: HashMap::new(),
            plugins: HashMap::new(),
            created: Vec::new(),
            last: None,
            session_cookie: None,
            provider: None,
            oidc_route: None,
            login_token: None,
            access_token: None,
            admin_answer: None,
        })
    }

    /// `name` in this scenario's namespace.
    pub fn ns(&self, name: &str) -> String {
        match &self.namespace {
            Some(namespace) => format!("{name}-{namespace}"),
            None => name.to_owned(),
        }
    }

    /// A route path in this scenario's namespace: `/anything` → `/anything-1a2b3c4d`.
    fn ns_route(&self, path: &str) -> String {
        match (path.trim_end_matches('/'), &self.namespace) {
            (_, None) => path.to_owned(),
            ("", Some(namespace)) => format!("/{namespace}"),
            (trimmed, Some(_)) => self.ns(trimmed),
        }
    }

    /// `path` (with its query) with the scenario's route prefix namespaced, as sent to the proxy.
    fn proxied_path(&self, path: &str) -> String {
        let route = self
            .routes
            .iter()
            .filter(|(declared, _)| {
                path.strip_prefix(declared.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']))
            })
            .max_by_key(|(declared, _)| declared.len());
        match route {
            Some((declared, namespaced)) => format!("{namespaced}{}", &path[declared.len()..]),
            None => path.to_owned(),
        }
    }

    // ---- provisioning through the Admin API ----

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
        let route = self.ns(route);
        let route = self
            .provisioner
            .create_route(&service, &route, &[&namespaced])
            .await?;
        self.created.push(format!("/routes/{route}"));
        self.routes.push((path.to_owned(), namespaced));
        self.service = Some(service);
        Ok(())
    }

    /// A consumer named `username` (namespaced).
    pub async fn create_consumer(&mut self, username: &str) -> Result<(), Error> {
        let namespaced = self.ns(username);
        let id = self.provisioner.create_consumer(&namespaced).await?;
        self.created.push(format!("/consumers/{id}"));
        self.consumers.insert(
            username.to_owned(),
            Consumer {
                id,
                credential: None,
            },
        );
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
                    let mut refused = PLUGINS_NOT_ENABLED
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                    *refused.entry(plugin.to_owned()).or_insert(0) += 1;
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
        self.enable_plugin(
            "session",
            None,
            json!({ "storage": "kong", "cookie_secure": false }),
        )
        .await?;
        let forbidden = json!({ "status_code": 403, "message": "Forbidden" });
        self.enable_plugin("request-termination", Some("anonymous_users"), forbidden)
            .await
    }

    /// Kong's openid-connect how-to (reference §5, devdocs `configure-oidc-with-session-auth.md`): service
    /// `openid-connect` proxying to the echo upstream's `/anything`, route `/`, and the openid-connect plugin with
    /// the provider's issuer and client, `client_auth: [client_secret_post]` and `auth_methods: [session,
    /// password]`; `overrides` replaces fields of that config. The provider has the token `lifespan` asked for.
    pub async fn openid_connect_setup(
        &mut self,
        lifespan: Lifespan,
        overrides: Value,
    ) -> Result<(), Error> {
        let provider = Provider::get(lifespan).await?;
        self.provider = Some(provider);
        self.create_service_at("openid-connect", "openid-connect", "/", "/anything")
            .await?;
        self.oidc_route = Some("/".to_owned());
        let mut config = json!({
            "issuer": provider.issuer,
            "client_id": [provider.client_id],
            "client_auth": [provider.client_auth()],
            "auth_methods": ["session", "password"],
        });
        if let Some(secret) = provider.client_secret() {
            config["client_secret"] = json!([secret]);
        }
        if let (Value::Object(config), Value::Object(overrides)) = (&mut config, overrides) {
            config.extend(overrides);
        }
        self.enable_plugin("openid-connect", None, config).await
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

    /// Deletes what the scenario created, newest first. Failures are only logged: the scenario's verdict is in.
    /// With `--provisioning declarative`, an empty declarative document replaces the scenario's.
    pub async fn clean_up(&mut self) {
        let created: Vec<String> = self.created.drain(..).rev().collect();
        self.provisioner.clean_up(created).await;
    }

    // ---- what the scenario knows ----

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

    /// The identity provider of the scenario's OpenID Connect set-up.
    pub fn provider(&self) -> Result<&'static Provider, Error> {
        self.provider
            .ok_or_else(|| "the scenario has no OpenID Connect set-up yet".into())
    }

    /// The route path of the scenario's OpenID Connect set-up, as the feature wrote it.
    pub fn oidc_route(&self) -> Result<&str, Error> {
        self.oidc_route
            .as_deref()
            .ok_or_else(|| "the scenario has no OpenID Connect set-up yet".into())
    }

    /// The access token the upstream received when the scenario logged in.
    pub fn login_token(&self) -> Result<&str, Error> {
        self.login_token
            .as_deref()
            .ok_or_else(|| "the scenario has not logged in as the documented user".into())
    }

    /// The access token the scenario obtained from the identity provider itself.
    pub fn access_token(&self) -> Result<&str, Error> {
        self.access_token
            .as_deref()
            .ok_or_else(|| "the scenario has no access token from the identity provider".into())
    }

    /// Gets an access token for the documented user from the identity provider's token endpoint.
    pub async fn fetch_access_token(&mut self) -> Result<(), Error> {
        let token = self.provider()?.password_grant().await?;
        self.access_token = Some(token);
        Ok(())
    }

    /// The Admin API's answer to the last plugin update a step made.
    pub fn admin_answer(&self) -> Result<&Value, Error> {
        self.admin_answer
            .as_ref()
            .ok_or_else(|| "no step has updated a plugin yet".into())
    }

    /// `request` with the documented user's `Authorization: Basic` credentials (`-u john:doe`), or with
    /// `password` instead of theirs.
    pub fn as_documented_user(
        &self,
        request: Outgoing,
        password: Option<&str>,
    ) -> Result<Outgoing, Error> {
        let provider = self.provider()?;
        let credentials = provider.basic_credentials(password.unwrap_or(provider.password()));
        Ok(request.header("Authorization", &credentials))
    }

    /// `GET` the OpenID Connect route as the documented user; fails unless the gateway answers 200 with a session
    /// cookie. Keeps the access token the upstream received.
    pub async fn log_in_as_documented_user(&mut self) -> Result<(), Error> {
        let path = self.oidc_route()?.to_owned();
        let request = self.as_documented_user(Outgoing::new(Method::GET, &path), None)?;
        let reply = self.send(request).await?;
        if reply.status != StatusCode::OK || reply.set_cookie(SESSION_COOKIE).is_none() {
            return Err(format!(
                "logging in as the documented user gave {} with Set-Cookie {:?}: {}",
                reply.status,
                reply.set_cookies,
                String::from_utf8_lossy(&reply.body)
            )
            .into());
        }
        let token = reply.upstream_bearer_token()?;
        self.login_token = Some(token);
        Ok(())
    }

    /// Waits, polling the identity provider with a deadline, until it reports the access token of the login
    /// expired.
    pub async fn wait_until_login_token_expired(&self) -> Result<(), Error> {
        let token = self.login_token()?;
        let claims = identity::jwt_claims(token)?;
        let lifespan = match (claims.get("exp"), claims.get("iat")) {
            (Some(exp), Some(iat)) => exp
                .as_u64()
                .unwrap_or(0)
                .saturating_sub(iat.as_u64().unwrap_or(0)),
            _ => identity::SHORT_ACCESS_TOKEN_LIFESPAN.as_secs(),
        };
        let timeout = Duration::from_secs(lifespan) + EXPIRY_MARGIN;
        self.provider()?.wait_until_inactive(token, timeout).await
    }

    /// `request` carrying the key-auth key the feature calls `key` (namespaced: keys are unique across the
    /// gateway) in the [`KEY_NAME`] header.
    pub fn with_key(&self, request: Outgoing, key: &str) -> Outgoing {
        request.header(KEY_NAME, &self.ns(key))
    }

    /// The path of the scenario's first route, as the feature wrote it.
    pub fn first_route(&self) -> Result<&str, Error> {
        self.routes
            .first()
            .map(|(declared, _)| declared.as_str())
            .ok_or_else(|| "the scenario has no route yet".into())
    }

    /// The last response.
    pub fn last(&self) -> Result<&Reply, Error> {
        self.last
            .as_ref()
            .ok_or_else(|| "no request has been sent yet".into())
    }

    /// The last non-empty session cookie the gateway issued.
    pub fn session_cookie(&self) -> Result<&str, Error> {
        self.session_cookie
            .as_deref()
            .ok_or_else(|| "the gateway has not issued a session cookie".into())
    }

    // ---- requests through the proxy ----

    /// Sends `request` to the gateway's proxy and keeps the response as the last one.
    pub async fn send(&mut self, request: Outgoing) -> Result<&Reply, Error> {
        let base = self.suite.target.proxy.as_str().trim_end_matches('/');
        let url = format!("{base}{}", self.proxied_path(&request.path));
        let client = match request.cookies {
            Cookies::Jar => &self.http,
            Cookies::Only(_) => &self.suite.bare,
        };
        let mut builder = client.request(request.method.clone(), url);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        if let Cookies::Only(cookie) = &request.cookies {
            builder = builder.header(COOKIE, cookie);
        }
        let response = builder.send().await?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await?.to_vec();
        let set_cookies = headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        let reply = Reply {
            status,
            headers,
            set_cookies,
            body,
        };
        if let Some((value, _)) = reply
            .set_cookie(SESSION_COOKIE)
            .filter(|(value, _)| !value.is_empty())
        {
            self.session_cookie = Some(value.to_owned());
        }
        Ok(self.last.insert(reply))
    }

    /// `GET` the first route with the key `key` in the `apikey` header; fails unless the gateway answers 200 with
    /// a session cookie.
    pub async fn log_in(&mut self, key: &str) -> Result<(), Error> {
        let path = self.first_route()?.to_owned();
        let reply = self
            .send(self.with_key(Outgoing::new(Method::GET, &path), key))
            .await?;
        if reply.status != StatusCode::OK || reply.set_cookie(SESSION_COOKIE).is_none() {
            return Err(format!(
                "logging in with apikey {key:?} gave {} with Set-Cookie {:?}: {}",
                reply.status,
                reply.set_cookies,
                String::from_utf8_lossy(&reply.body)
            )
            .into());
        }
        Ok(())
    }

    /// The last session cookie with one character of its MAC changed: same length, same alphabet, but no longer
    /// what the gateway signed (header bytes 66..82 are the MAC; base64url characters 88..110 encode them).
    pub fn tampered_session_cookie(&self) -> Result<String, Error> {
        let cookie = self.session_cookie()?;
        let index = 100.min(cookie.len().saturating_sub(2));
        let mut bytes = cookie.as_bytes().to_vec();
        let byte = bytes
            .get_mut(index)
            .ok_or("the session cookie is too short to tamper with")?;
        *byte = if *byte == b'A' { b'B' } else { b'A' };
        Ok(String::from_utf8(bytes)?)
    }
}

impl fmt::Debug for GatewayWorld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let last = self.last.as_ref().map(|reply| {
            format!(
                "{} set-cookie={:?} body={}",
                reply.status,
                reply.set_cookies,
                String::from_utf8_lossy(&reply.body)
            )
        });
        let jar: Vec<String> = match self.jar.lock() {
            Ok(store) => store
                .iter_unexpired()
                .map(|c| format!("{}={}", c.name(), c.value()))
                .collect(),
            Err(_) => vec!["<poisoned>".to_owned()],
        };
        f.debug_struct("GatewayWorld")
            .field("namespace", &self.namespace)
            .field("proxy", &format_args!("{}", self.suite.target.proxy))
            .field("admin", &format_args!("{}", self.suite.target.admin))
            .field("routes", &self.routes)
            .field("consumers", &self.consumers.keys().collect::<Vec<_>>())
            .field("plugins", &self.plugins.keys().collect::<Vec<_>>())
            .field("jar", &jar)
            .field("session_cookie", &self.session_cookie)
            .field("provider", &self.provider.map(|p| &p.issuer))
            .field("last", &last)
            .finish_non_exhaustive()
    }
}
