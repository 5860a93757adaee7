//! The embedded identity provider: an in-process, Keycloak-compatible OpenID Connect provider that the
//! conformance scenarios and the demo run against when no real Keycloak is wanted.
//!
//! It reads its users, clients and token lifespans from a Keycloak realm export — by default
//! `fixtures/idp/realm-kong.json`, the same file the testcontainers Keycloak (`steps/tests/conformance/keycloak.rs`) imports — and
//! serves Keycloak's endpoints on Keycloak's paths with Keycloak's token claims and error bodies, so a gateway
//! cannot tell it from Keycloak in the flows the harness exercises. See `endpoints.rs` for the routes and
//! `provider.rs` for the session and token rules,
//! `mint.rs` for the tokens' claims.
//!
//! ```no_run
//! # async fn demo() -> Result<(), steps::idp::IdpError> {
//! use std::time::Duration;
//! let idp = steps::idp::Idp::builder()
//!     .access_token_lifespan(Duration::from_secs(2))
//!     .start()
//!     .await?;
//! let issuer = idp.issuer(); // http://127.0.0.1:<port>/realms/kong
//! let secret = idp.client_secret("kong");
//! # let _ = (issuer, secret);
//! # Ok(()) }
//! ```
//!
//! The server runs on its own thread with its own small runtime, so it works from any runtime (or none), and it
//! stops — listener and open connections — when the [`Idp`] handle is dropped.

mod endpoints;
mod error;
mod keys;
mod mint;
mod provider;
mod realm;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;

pub(crate) use realm::Realm;

use gateway::Clock;
use keys::Keys;
use provider::{Lifespans, Provider};

/// What a realm export names, for a provider that imports the file itself (the Keycloak container of the
/// conformance tests): the realm's name and each confidential client's secret.
#[derive(Debug, Clone)]
pub struct RealmSummary {
    /// The realm's name (`realm`).
    pub name: String,
    /// `clientId` → `secret`, for the clients that have one.
    pub client_secrets: std::collections::BTreeMap<String, String>,
}

/// Reads a Keycloak realm export (JSON text) as the embedded provider would.
///
/// # Errors
/// Why the text is not a usable realm export.
pub fn summarize_realm(text: &str) -> Result<RealmSummary, String> {
    let realm = Realm::from_json(text).map_err(|error| error.to_string())?;
    let client_secrets = realm
        .clients
        .values()
        .filter_map(|client| Some((client.client_id.clone(), client.secret.clone()?)))
        .collect();
    Ok(RealmSummary {
        name: realm.name,
        client_secrets,
    })
}

/// The realm the fixtures define.
pub const DEFAULT_REALM: &str = "kong";

/// `fixtures/idp/realm-kong.json`: realm `kong`, confidential clients `kong` and `service`, user `john`/`doe`.
#[must_use]
pub fn default_realm_file() -> PathBuf {
    fixtures_dir().join("idp/realm-kong.json")
}

/// `fixtures/idp/realm-kong-signing-key.pem`: the test-only RSA key, used when a realm file has no `privateKey`.
#[must_use]
pub fn default_signing_key_file() -> PathBuf {
    fixtures_dir().join("idp/realm-kong-signing-key.pem")
}

fn fixtures_dir() -> PathBuf {
    let steps = Path::new(env!("CARGO_MANIFEST_DIR"));
    steps.parent().unwrap_or(steps).join("fixtures")
}

/// Why the provider could not start.
#[derive(Debug, thiserror::Error)]
pub enum IdpError {
    /// The realm file could not be read.
    #[error("cannot read the realm file {path}: {source}")]
    ReadRealm {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The realm file is not a usable Keycloak realm export.
    #[error("{path}: {reason}")]
    InvalidRealm {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The signing key file could not be read.
    #[error("cannot read the signing key {path}: {source}")]
    ReadKey {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The signing key is not an RSA private key.
    #[error("the signing key from {origin} is unusable: {reason}")]
    InvalidKey {
        /// Where the key came from (a file, or the realm's `privateKey`).
        origin: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: io::Error,
    },
    /// The provider's runtime or thread could not be started.
    #[error("cannot start the identity provider: {0}")]
    Runtime(io::Error),
}

/// A running identity provider. Stops when dropped.
pub struct Idp {
    addr: SocketAddr,
    issuer: String,
    realm: String,
    secrets: BTreeMap<String, String>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// Configures an [`Idp`] before it starts.
#[must_use = "a builder does nothing until `start` is called"]
pub struct IdpBuilder {
    realm_file: PathBuf,
    signing_key_file: Option<PathBuf>,
    listen: SocketAddr,
    public_url: Option<String>,
    access_token_lifespan: Option<Duration>,
    refresh_token_lifespan: Option<Duration>,
    clock: Option<Clock>,
}

impl Idp {
    /// A builder for the fixture realm on `127.0.0.1:0` (a free port).
    pub fn builder() -> IdpBuilder {
        IdpBuilder {
            realm_file: default_realm_file(),
            signing_key_file: None,
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            public_url: None,
            access_token_lifespan: None,
            refresh_token_lifespan: None,
            clock: None,
        }
    }

    /// The address the provider listens on.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The issuer clients should be configured with: `http://<addr>/realms/<realm>`, or
    /// `<public url>/realms/<realm>` when [`IdpBuilder::public_url`] was set.
    ///
    /// Without a public URL the provider, like Keycloak in development mode, names itself after the `Host` a
    /// request arrives with, so a client that reaches it as `http://localhost:<port>` sees the issuer
    /// `http://localhost:<port>/realms/<realm>`.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The realm's name.
    #[must_use]
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// `<issuer>/.well-known/openid-configuration`.
    #[must_use]
    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer)
    }

    /// `<issuer>/protocol/openid-connect/token`.
    #[must_use]
    pub fn token_endpoint(&self) -> String {
        format!("{}/protocol/openid-connect/token", self.issuer)
    }

    /// The secret of a confidential client of the realm, as the realm file defines it.
    #[must_use]
    pub fn client_secret(&self, client_id: &str) -> Option<&str> {
        self.secrets.get(client_id).map(String::as_str)
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl fmt::Debug for Idp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Idp")
            .field("addr", &self.addr)
            .field("issuer", &self.issuer)
            .field("clients", &self.secrets.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for IdpBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdpBuilder")
            .field("realm_file", &self.realm_file)
            .field("signing_key_file", &self.signing_key_file)
            .field("listen", &self.listen)
            .field("public_url", &self.public_url)
            .field("access_token_lifespan", &self.access_token_lifespan)
            .field("refresh_token_lifespan", &self.refresh_token_lifespan)
            .field("clock", &self.clock)
            .finish()
    }
}

impl IdpBuilder {
    /// Serves the realm export at `path` instead of the fixture.
    pub fn realm_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.realm_file = path.into();
        self
    }

    /// Signs with the RSA private key (PEM) at `path` instead of the realm's `privateKey` (or, for a realm
    /// without one, the fixture key).
    pub fn signing_key_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.signing_key_file = Some(path.into());
        self
    }

    /// Listens on `addr` instead of a free loopback port (the demo uses a fixed one; tests never should).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Fixes the base URL clients reach the provider by (`http://host.docker.internal:8080`, no trailing slash
    /// needed): the issuer becomes `<url>/realms/<realm>` whatever `Host` a request carries.
    pub fn public_url(mut self, url: impl Into<String>) -> Self {
        self.public_url = Some(url.into().trim_end_matches('/').to_owned());
        self
    }

    /// Overrides the realm's `accessTokenLifespan`, so access-token expiry is testable in seconds.
    pub fn access_token_lifespan(mut self, lifespan: Duration) -> Self {
        self.access_token_lifespan = Some(lifespan);
        self
    }

    /// Overrides the realm's `ssoSessionIdleTimeout`, which is how long Keycloak's refresh tokens live (a refresh
    /// token never outlives the session's `ssoSessionMaxLifespan`, which is raised to match if it is shorter).
    pub fn refresh_token_lifespan(mut self, lifespan: Duration) -> Self {
        self.refresh_token_lifespan = Some(lifespan);
        self
    }

    /// Reads the time from `clock` instead of the system clock (tokens' `iat`/`exp` and every expiry decision).
    /// It is the gateway's [`Clock`]: give the provider and an in-process gateway clones of one
    /// [`Clock::manual`] and [`Clock::advance`] moves both, so a test expires tokens and sessions without sleeping.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Loads the realm and the key, binds the listener and starts answering.
    ///
    /// # Errors
    /// When the realm file or the key cannot be read or used, or the address cannot be bound.
    pub async fn start(self) -> Result<Idp, IdpError> {
        let text =
            std::fs::read_to_string(&self.realm_file).map_err(|source| IdpError::ReadRealm {
                path: self.realm_file.clone(),
                source,
            })?;
        let mut realm = Realm::from_json(&text).map_err(|error| IdpError::InvalidRealm {
            path: self.realm_file.clone(),
            reason: error.to_string(),
        })?;
        realm.ensure_service_accounts();
        let keys = self.load_keys(&realm)?;

        let listener = TcpListener::bind(self.listen).map_err(|source| IdpError::Bind {
            addr: self.listen,
            source,
        })?;
        let addr = listener
            .local_addr()
            .and_then(|addr| listener.set_nonblocking(true).map(|()| addr))
            .map_err(|source| IdpError::Bind {
                addr: self.listen,
                source,
            })?;
        let local_base = format!("http://{addr}");
        let issuer = format!(
            "{}/realms/{}",
            self.public_url.as_deref().unwrap_or(&local_base),
            realm.name
        );

        let session_idle = self
            .refresh_token_lifespan
            .map_or(realm.sso_session_idle_timeout, |lifespan| {
                lifespan.as_secs()
            });
        let lifespans = Lifespans {
            access_token: self
                .access_token_lifespan
                .map_or(realm.access_token_lifespan, |lifespan| lifespan.as_secs()),
            session_idle,
            session_max: realm.sso_session_max_lifespan.max(session_idle),
        };
        let clock = self.clock.unwrap_or_else(Clock::system);
        let name = realm.name.clone();
        let secrets = realm
            .clients
            .values()
            .filter_map(|client| Some((client.client_id.clone(), client.secret.clone()?)))
            .collect();
        let provider = Arc::new(Provider::new(
            realm,
            keys,
            lifespans,
            self.public_url,
            local_base,
            clock,
        ));

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("idp")
            .enable_all()
            .build()
            .map_err(IdpError::Runtime)?;
        let (shutdown, stopped) = oneshot::channel::<()>();
        let app = endpoints::router(provider);
        let thread = std::thread::Builder::new()
            .name(format!("idp-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(error) => {
                            tracing::error!(%error, "identity provider cannot use its listener");
                            return;
                        }
                    };
                    tokio::select! {
                        served = axum::serve(listener, app) => {
                            if let Err(error) = served {
                                tracing::error!(%error, "identity provider stopped");
                            }
                        }
                        _ = stopped => {}
                    }
                });
                runtime.shutdown_timeout(Duration::from_secs(1));
            })
            .map_err(IdpError::Runtime)?;
        tracing::info!(%addr, issuer = %issuer, "identity provider listening");
        Ok(Idp {
            addr,
            issuer,
            realm: name,
            secrets,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    fn load_keys(&self, realm: &Realm) -> Result<Keys, IdpError> {
        let (origin, pem) = match (&self.signing_key_file, &realm.private_key) {
            (None, Some(key)) => (
                format!("the privateKey of {}", self.realm_file.display()),
                key.clone(),
            ),
            (file, _) => {
                let path = file.clone().unwrap_or_else(default_signing_key_file);
                let pem = std::fs::read_to_string(&path).map_err(|source| IdpError::ReadKey {
                    path: path.clone(),
                    source,
                })?;
                (path.display().to_string(), pem)
            }
        };
        Keys::from_rsa_private_key(&pem).map_err(|reason| IdpError::InvalidKey { origin, reason })
    }
}
