//! The OpenID provider the `@openid-connect` scenarios log in with, as the harness sees it: an issuer, a client
//! (id and secret) and "the documented user" (username and password), plus the provider's token and
//! introspection endpoints, which the steps call directly to get a token of their own or to ask whether a token
//! is still active.
//!
//! Which provider ([`IdpChoice`]) is chosen once, from the runner's command line, before any scenario runs:
//! * **embedded** (the default): [`steps::idp::Idp`] in-process, with the fixture realm
//!   (`fixtures/idp/realm-kong.json`: client `kong`, user `john` / `doe`);
//! * **keycloak**: [`crate::keycloak::Keycloak`], the real Keycloak in Docker importing the same realm file;
//! * **external**: any OpenID provider, by issuer URL, with the client and user given on the command line.
//!
//! A provider is a suite-level backend like the echo upstream: started (or, for an external one, discovered) by
//! the first scenario that needs it, then shared. Scenarios that need access tokens to expire within seconds ask
//! for [`Lifespan::Short`], a second instance of the same provider whose access tokens live
//! [`SHORT_ACCESS_TOKEN_LIFESPAN`]; an external provider's lifespans cannot be changed from here, so such
//! scenarios (tagged [`SHORT_TOKEN_LIFESPAN_TAG`]) are filtered out for it and reported as not applicable.
//!
//! A failed start is remembered: every later scenario that needs the provider fails with the same error at once,
//! instead of starting a container again.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::keycloak::Keycloak;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::Client;
use serde_json::{Map, Value};
use steps::idp::Idp;
use tokio::sync::OnceCell;
use url::Url;

use crate::world::Error;

/// How long the short-lived access tokens of [`Lifespan::Short`] live (Keycloak counts lifespans in seconds).
pub const SHORT_ACCESS_TOKEN_LIFESPAN: Duration = Duration::from_secs(1);

/// The tag of scenarios that need [`Lifespan::Short`] and so cannot run against an external provider.
pub const SHORT_TOKEN_LIFESPAN_TAG: &str = "short-token-lifespan";

/// The fixture realm's confidential client (`fixtures/idp/realm-kong.json`).
const REALM_CLIENT: &str = "kong";
/// The fixture realm's user and password, those of Kong's docs.
const REALM_USER: (&str, &str) = ("john", "doe");

/// How long one call to the provider may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How often [`Provider::wait_until_inactive`] asks the provider again.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// A string that prints as `REDACTED` in `Debug` (client secrets, passwords).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("REDACTED")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// Which OpenID provider the scenarios use.
#[derive(Clone, Debug, Default)]
pub enum IdpChoice {
    /// The in-process, Keycloak-compatible provider with the fixture realm.
    #[default]
    Embedded,
    /// A real Keycloak started by testcontainers with the fixture realm (needs a Docker engine).
    Keycloak,
    /// A provider that runs elsewhere.
    External(ExternalIdp),
}

/// A provider given by issuer URL, and the client and user the scenarios use with it.
#[derive(Clone, Debug)]
pub struct ExternalIdp {
    pub issuer: Url,
    pub client_id: String,
    /// `None` for a public client (the gateway then authenticates as `client_auth: none`).
    pub client_secret: Option<Secret>,
    pub username: String,
    pub password: Secret,
}

impl IdpChoice {
    /// What a log line calls it.
    pub fn describe(&self) -> String {
        match self {
            Self::Embedded => "the embedded identity provider".to_owned(),
            Self::Keycloak => "Keycloak (testcontainers)".to_owned(),
            Self::External(external) => format!("the OpenID provider {}", external.issuer),
        }
    }

    /// Whether scenarios tagged [`SHORT_TOKEN_LIFESPAN_TAG`] can run against this provider.
    pub fn can_shorten_lifespans(&self) -> bool {
        !matches!(self, Self::External(_))
    }
}

static CHOICE: OnceLock<IdpChoice> = OnceLock::new();

/// Sets the provider of the run. Call it once, before the scenarios run; later calls are ignored.
pub fn choose(choice: IdpChoice) {
    let _ = CHOICE.set(choice);
}

/// The provider of the run ([`IdpChoice::Embedded`] unless [`choose`] said otherwise).
pub fn choice() -> &'static IdpChoice {
    CHOICE.get_or_init(IdpChoice::default)
}

/// The token lifespans a scenario needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifespan {
    /// The realm's own (the fixture's access tokens live five minutes).
    Realm,
    /// Access tokens that expire after [`SHORT_ACCESS_TOKEN_LIFESPAN`].
    Short,
}

/// What keeps a provider running: dropped (so stopped) only when the process ends.
enum Backend {
    Embedded(Idp),
    Keycloak(Box<Keycloak>),
    External,
}

impl fmt::Debug for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Embedded(idp) => write!(f, "embedded {:?}", idp.addr()),
            Self::Keycloak(keycloak) => write!(f, "Keycloak container {}", keycloak.container_id()),
            Self::External => f.write_str("external"),
        }
    }
}

/// A running (or remote) provider, its client and its user.
pub struct Provider {
    /// The issuer, as the gateway's plugin config names it.
    pub issuer: String,
    pub client_id: String,
    client_secret: Option<Secret>,
    /// The documented user's username.
    pub username: String,
    password: Secret,
    token_endpoint: String,
    introspection_endpoint: Option<String>,
    http: Client,
    backend: Backend,
}

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Provider")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

static REALM_LIFESPAN: OnceCell<Result<Provider, String>> = OnceCell::const_new();
static SHORT_LIFESPAN: OnceCell<Result<Provider, String>> = OnceCell::const_new();

impl Provider {
    /// The run's provider with `lifespan`, started by the first caller.
    pub async fn get(lifespan: Lifespan) -> Result<&'static Self, Error> {
        let cell = match lifespan {
            Lifespan::Realm => &REALM_LIFESPAN,
            Lifespan::Short => &SHORT_LIFESPAN,
        };
        cell.get_or_init(|| async move { Self::start(choice(), lifespan).await })
            .await
            .as_ref()
            .map_err(|error| error.clone().into())
    }

    async fn start(choice: &IdpChoice, lifespan: Lifespan) -> Result<Self, String> {
        let short = lifespan == Lifespan::Short;
        // (the provider's base URL as the gateway sees it, the same as the harness reaches it)
        let mut rewrite: Option<(String, String)> = None;
        let (issuer, client_id, client_secret, (username, password), backend) = match choice {
            IdpChoice::Embedded => {
                let options = crate::target::options();
                let mut builder = Idp::builder().listen(options.bind_addr());
                if options.upstream_host.is_some() {
                    // The gateway reaches the provider at another host than the harness: the issuer (in the
                    // discovery document and in every token) must be the gateway's view, so the port is chosen
                    // first and the issuer fixed with it.
                    let port = std::net::TcpListener::bind(options.bind_addr())
                        .and_then(|listener| listener.local_addr())
                        .map_err(|e| {
                            format!("cannot find a free port on {}: {e}", options.bind_host)
                        })?;
                    let public = options.url_for_gateway(port);
                    rewrite = Some((
                        public.clone(),
                        format!("http://{}", options.harness_view(port)),
                    ));
                    builder = builder.listen(port).public_url(public);
                }
                if short {
                    builder = builder.access_token_lifespan(SHORT_ACCESS_TOKEN_LIFESPAN);
                }
                let idp = builder
                    .start()
                    .await
                    .map_err(|e| format!("cannot start the embedded identity provider: {e}"))?;
                let secret = idp
                    .client_secret(REALM_CLIENT)
                    .map(|s| Secret(s.to_owned()));
                let issuer = idp.issuer().to_owned();
                (
                    issuer,
                    REALM_CLIENT.to_owned(),
                    secret,
                    realm_user(),
                    Backend::Embedded(idp),
                )
            }
            IdpChoice::Keycloak => {
                let mut builder = Keycloak::builder();
                if short {
                    builder = builder.access_token_lifespan(SHORT_ACCESS_TOKEN_LIFESPAN);
                }
                let keycloak = builder.start().await.map_err(|e| e.to_string())?;
                let secret = keycloak
                    .client_secret(REALM_CLIENT)
                    .map(|s| Secret(s.to_owned()));
                (
                    keycloak.issuer(),
                    REALM_CLIENT.to_owned(),
                    secret,
                    realm_user(),
                    Backend::Keycloak(Box::new(keycloak)),
                )
            }
            IdpChoice::External(external) => {
                if short {
                    return Err(format!(
                        "the access-token lifespan of {} cannot be shortened from here; scenarios tagged \
                         @{SHORT_TOKEN_LIFESPAN_TAG} do not apply to it",
                        external.issuer
                    ));
                }
                (
                    external.issuer.as_str().trim_end_matches('/').to_owned(),
                    external.client_id.clone(),
                    external.client_secret.clone(),
                    (external.username.clone(), external.password.clone()),
                    Backend::External,
                )
            }
        };
        let mut http = Client::builder().timeout(CALL_TIMEOUT);
        if !matches!(backend, Backend::External) {
            http = http.no_proxy();
        }
        let http = http.build().map_err(|e| e.to_string())?;
        let local = |url: &str| match &rewrite {
            Some((public, local)) if url.starts_with(public.as_str()) => {
                format!("{local}{}", &url[public.len()..])
            }
            _ => url.to_owned(),
        };
        let discovery = discover(&http, &local(&issuer), &issuer).await?;
        let token_endpoint = discovery["token_endpoint"]
            .as_str()
            .map(local)
            .ok_or_else(|| format!("the discovery document of {issuer} has no token_endpoint"))?;
        let introspection_endpoint = discovery["introspection_endpoint"].as_str().map(local);
        Ok(Self {
            issuer,
            client_id,
            client_secret,
            username,
            password,
            token_endpoint,
            introspection_endpoint,
            http,
            backend,
        })
    }

    /// The documented user's password.
    pub fn password(&self) -> &str {
        &self.password.0
    }

    /// The client secret, if the client has one.
    pub fn client_secret(&self) -> Option<&str> {
        self.client_secret.as_ref().map(|s| s.0.as_str())
    }

    /// The `client_auth` the gateway should use: `client_secret_post`, as Kong's how-to configures it, or
    /// `none` for a public client.
    pub fn client_auth(&self) -> &'static str {
        if self.client_secret.is_some() {
            "client_secret_post"
        } else {
            "none"
        }
    }

    /// `Authorization: Basic` credentials of the documented user (`-u john:doe`), with `password`.
    pub fn basic_credentials(&self, password: &str) -> String {
        let pair = format!("{}:{password}", self.username);
        format!("Basic {}", STANDARD.encode(pair))
    }

    /// An access token for the documented user, straight from the provider's token endpoint (the password
    /// grant, as the gateway would run it).
    pub async fn password_grant(&self) -> Result<String, Error> {
        let form = [
            ("grant_type", "password"),
            ("username", self.username.as_str()),
            ("password", self.password()),
            ("scope", "openid"),
        ];
        let body = self.call(&self.token_endpoint, &form).await?;
        body["access_token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("the token endpoint answered no access_token: {body}").into())
    }

    /// Whether the provider still considers `token` active (RFC 7662 introspection).
    pub async fn is_active(&self, token: &str) -> Result<bool, Error> {
        let endpoint = self.introspection_endpoint.as_deref().ok_or_else(|| {
            format!(
                "{} announces no introspection_endpoint: cannot ask it whether a token expired",
                self.issuer
            )
        })?;
        let body = self.call(endpoint, &[("token", token)]).await?;
        body["active"].as_bool().ok_or_else(|| {
            format!("the introspection answer has no boolean `active`: {body}").into()
        })
    }

    /// Polls the provider until it reports `token` inactive, for at most `timeout`.
    pub async fn wait_until_inactive(&self, token: &str, timeout: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        while self.is_active(token).await? {
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} still reports the access token active after {timeout:?}",
                    self.issuer
                )
                .into());
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
        Ok(())
    }

    /// A client-authenticated form POST (`client_secret_post`), expecting `200` and a JSON body.
    async fn call(&self, endpoint: &str, form: &[(&str, &str)]) -> Result<Value, Error> {
        let mut fields = form.to_vec();
        fields.push(("client_id", self.client_id.as_str()));
        if let Some(secret) = self.client_secret() {
            fields.push(("client_secret", secret));
        }
        let response = self.http.post(endpoint).form(&fields).send().await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            return Err(format!("{endpoint} answered {status}: {text}").into());
        }
        serde_json::from_str(&text).map_err(|e| {
            format!("{endpoint} answered something that is not JSON ({e}): {text}").into()
        })
    }
}

fn realm_user() -> (String, Secret) {
    (REALM_USER.0.to_owned(), Secret(REALM_USER.1.to_owned()))
}

/// The issuer's discovery document, fetched from `base` (the issuer as the harness reaches it), checked to name
/// `issuer`.
async fn discover(http: &Client, base: &str, issuer: &str) -> Result<Value, String> {
    let url = format!("{base}/.well-known/openid-configuration");
    let fail = |detail: String| format!("discovery of {issuer} failed: {detail}");
    let response = http
        .get(&url)
        .send()
        .await
        .map_err(|e| fail(e.to_string()))?;
    let status = response.status();
    if !status.is_success() {
        return Err(fail(format!("GET {url} answered {status}")));
    }
    let document: Value = response.json().await.map_err(|e| fail(e.to_string()))?;
    let named = document["issuer"].as_str().unwrap_or_default();
    if named.trim_end_matches('/') != issuer {
        return Err(fail(format!("the document names the issuer {named:?}")));
    }
    Ok(document)
}

/// The claims of a JWT (its payload, not verified: the harness only reads what it was given).
pub fn jwt_claims(token: &str) -> Result<Map<String, Value>, Error> {
    let payload = token
        .split('.')
        .nth(1)
        .filter(|_| token.split('.').count() == 3)
        .ok_or("the access token is not a JWT (header.payload.signature)")?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|e| format!("the access token's payload is not base64url: {e}"))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(claims)) => Ok(claims),
        Ok(other) => {
            Err(format!("the access token's payload is not a JSON object: {other}").into())
        }
        Err(e) => Err(format!("the access token's payload is not JSON: {e}").into()),
    }
}

/// The claims that name a user, in the order they are tried: Keycloak's and OpenID Connect's
/// `preferred_username`, then names other providers use.
const USERNAME_CLAIMS: [&str; 4] = ["preferred_username", "username", "upn", "email"];

/// Checks that the JWT access token `token` was issued for `username`: one of [`USERNAME_CLAIMS`] (the first
/// present) equals it.
pub fn check_token_user(token: &str, username: &str) -> Result<(), Error> {
    let claims = jwt_claims(token)?;
    let Some((claim, value)) = USERNAME_CLAIMS
        .iter()
        .find_map(|claim| Some((*claim, claims.get(*claim)?.as_str()?)))
    else {
        return Err(format!(
            "the access token names no user (none of {USERNAME_CLAIMS:?}): {}",
            Value::Object(claims)
        )
        .into());
    };
    if value != username {
        return Err(format!("the access token's {claim} is {value:?}, not {username:?}").into());
    }
    Ok(())
}

/// `token` with its payload changed (`exp` an hour later) and its header and signature kept: what someone who
/// wants a longer-lived token would send. The signature no longer matches.
pub fn tamper_with(token: &str) -> Result<String, Error> {
    let mut claims = jwt_claims(token)?;
    let exp = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
    claims.insert("exp".to_owned(), Value::from(exp + 3600));
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&Value::Object(claims))?);
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(signature)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err("the access token is not a JWT".into());
    };
    Ok(format!("{header}.{payload}.{signature}"))
}
