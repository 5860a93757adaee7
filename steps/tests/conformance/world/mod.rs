//! The World: everything one scenario knows. Cucumber makes one per scenario (before its first step) and drops
//! it after the scenario's clean-up; steps only parse the Gherkin and call it.
//!
//! One file per job, each an `impl GatewayWorld` block or the types it works with:
//! * [`suite`]: the backends every scenario of the run shares ([`Suite`]: ONE echo upstream and ONE gateway
//!   under test, started lazily by the first scenario and kept for the whole run). The harness reaches the
//!   gateway only through a [`GatewayTarget`](suite::GatewayTarget) (proxy URL + Admin API URL), so the same scenarios can drive a
//!   gateway started elsewhere.
//! * [`http`]: requests through the proxy ([`Outgoing`]), where their `Cookie` header comes from ([`Cookies`])
//!   and the response kept as the last one ([`Reply`]: status, headers, every raw `Set-Cookie` in order, body).
//!   The client has a cookie jar that behaves like curl's `--cookie-jar` / HTTPie's `--session` (cookies from
//!   responses go back on later requests, expired ones are dropped); a client without a jar sends hand-made
//!   `Cookie` headers. Redirects are not followed and no proxy is used.
//! * [`provisioning`]: services, routes, consumers, keys and plugins through the [`Provisioner`]: the Admin API's
//!   entity endpoints, or, with `--provisioning declarative`, the scenario's own declarative document sent with
//!   `POST /config` (see [`crate::target`]); and Kong's documented key-auth + session set-up.
//! * [`openid_connect`]: the identity provider of the scenario (a suite-level backend too, started only when an
//!   `@openid-connect` scenario first needs it, see [`crate::identity`]), the access token the upstream received
//!   when the scenario logged in, and a token the scenario obtained from the provider itself.
//!
//! **Namespace** (here): each scenario appends its own short id to every entity name, key and route path it
//! creates (`alex` → `alex-1a2b3c4d`, `/anything` → `/anything-1a2b3c4d`), so scenarios run concurrently against
//! one gateway without seeing each other. Features keep the documented names; the World translates. With
//! `--provisioning external` there is no namespace: the entities provisioned outside have the documented names.

mod http;
mod openid_connect;
mod provisioning;
mod suite;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use reqwest::Client;
use reqwest_cookie_store::{CookieStore, CookieStoreMutex};
use serde_json::Value;

use crate::admin::Provisioner;
use crate::identity::Provider;
use crate::target::{self, Provisioning};

pub use http::{Cookies, Outgoing, Reply};
pub use openid_connect::{RedisAddr, use_oidc_redis};
pub use provisioning::{Consumer, Scope};
pub use suite::{Suite, plugins_not_enabled};

/// What a failing World operation returns; cucumber prints it as the step's failure.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The header that carries key-auth keys (the `key_names` the scenarios configure, Kong's default).
pub const KEY_NAME: &str = "apikey";

/// The name of the session cookie (the session plugin's default `cookie_name`).
pub const SESSION_COOKIE: &str = "session";

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
    /// The last non-empty value the gateway issued for each cookie name.
    issued_cookies: HashMap<String, String>,
    /// Session cookie values a scenario kept under a name, to send again after newer ones were issued.
    pub(crate) kept_cookies: HashMap<String, String>,
    /// Routes by their declared name: (id, declared path).
    route_ids: HashMap<String, String>,
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
    /// The status and body of the Admin API's refusal of the last plugin a step tried to create.
    admin_refusal: Option<(u16, Value)>,
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
            http: http::proxy_client()
                .cookie_provider(Arc::clone(&jar))
                .build()?,
            jar,
            service: None,
            routes: Vec::new(),
            consumers: HashMap::new(),
            plugins: HashMap::new(),
            created: Vec::new(),
            last: None,
            session_cookie: None,
            issued_cookies: HashMap::new(),
            kept_cookies: HashMap::new(),
            route_ids: HashMap::new(),
            provider: None,
            oidc_route: None,
            login_token: None,
            access_token: None,
            admin_answer: None,
            admin_refusal: None,
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
