//! The OpenID Connect side of a scenario: the set-up of Kong's openid-connect how-to against the scenario's
//! identity provider ([`crate::identity`]), logging in as the documented user (`-u john:doe`), and the access
//! tokens the scenario holds — the one the upstream received at login, and one it obtained from the provider
//! itself. Runs in the steps of `features/openid_connect/`.

use std::sync::OnceLock;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Error, GatewayWorld, Outgoing, SESSION_COOKIE};
use crate::identity::{self, Lifespan, Provider};

/// How long after its lifespan an access token may still be reported active before a step gives up.
const EXPIRY_MARGIN: Duration = Duration::from_secs(10);

/// A Redis as the gateway reaches it (`--oidc-redis HOST:PORT`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisAddr {
    pub host: String,
    pub port: u16,
}

impl std::str::FromStr for RedisAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (host, port) = s
            .rsplit_once(':')
            .ok_or_else(|| format!("'{s}' is not HOST:PORT"))?;
        let port = port
            .parse()
            .map_err(|_| format!("'{s}': '{port}' is not a port"))?;
        if host.is_empty() {
            return Err(format!("'{s}' has no host"));
        }
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }
}

impl std::fmt::Display for RedisAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// The Redis every OpenID Connect set-up keeps its sessions in, when the run asked for one.
static OIDC_REDIS: OnceLock<RedisAddr> = OnceLock::new();

/// Makes every OpenID Connect set-up of the run use `session_storage: redis` at `redis`.
pub fn use_oidc_redis(redis: RedisAddr) {
    let _ = OIDC_REDIS.set(redis);
}

impl GatewayWorld {
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
        if let Some(redis) = OIDC_REDIS.get() {
            // Kong 3.10's openid-connect schema: `session_storage` and the shared `redis` record.
            config["session_storage"] = json!("redis");
            config["redis"] = json!({ "host": redis.host, "port": redis.port });
        }
        if let (Value::Object(config), Value::Object(overrides)) = (&mut config, overrides) {
            config.extend(overrides);
        }
        self.enable_plugin("openid-connect", None, config).await
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
}
