//! The real Keycloak, for runs that want the genuine article instead of the embedded provider
//! ([`steps::idp`]): `quay.io/keycloak/keycloak` started by testcontainers in development mode, importing the
//! same realm export (`start-dev --import-realm`, the file copied to `/opt/keycloak/data/import/`).
//!
//! It needs a Docker engine. Before anything else [`Keycloak::start`] pings the engine testcontainers would use
//! (`~/.testcontainers.properties`, `DOCKER_HOST`, then the default socket) with a two-second limit and, when
//! none answers, fails at once with [`KeycloakError::NoDockerEngine`], whose message is one line saying so and
//! what to do instead. It never hangs waiting for an engine that is not there.
//!
//! Readiness is gated on the realm's discovery document answering `200` (Keycloak logs that it listens before
//! the realm import has finished, so a log line is not enough), within a startup timeout (three minutes by
//! default, image pull excluded by testcontainers' own timeouts).
//!
//! The container is removed when the [`Keycloak`] handle is dropped; keep it in a suite-level static.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use testcontainers::core::IntoContainerPort;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use steps::idp::RealmSummary;

/// The image.
pub const IMAGE: &str = "quay.io/keycloak/keycloak";
/// The image tag: Keycloak 26.4.
pub const TAG: &str = "26.4";
/// Keycloak's HTTP port inside the container.
const HTTP_PORT: u16 = 8080;
/// Where Keycloak's `--import-realm` looks for realm files.
const IMPORT_DIR: &str = "/opt/keycloak/data/import";
/// How long the Docker engine has to answer a ping.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long Keycloak has to serve the realm after the container started, by default.
const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(180);
/// The bootstrap administrator (development only).
const ADMIN_USER: &str = "admin";
const ADMIN_PASSWORD: &str = "admin";

/// Why Keycloak could not be started.
#[derive(Debug, thiserror::Error)]
pub enum KeycloakError {
    /// No Docker engine answered the probe.
    #[error(
        "no Docker engine answered ({0}): the Keycloak scenarios need one; run without CONFORMANCE_IDP=keycloak \
         to use the embedded provider, or point at a provider that is already running with --idp-issuer URL \
         (and --idp-client-id, --idp-client-secret, --idp-username, --idp-password)"
    )]
    NoDockerEngine(String),
    /// The realm file could not be read or is not a realm export.
    #[error("cannot use the realm file {path}: {reason}")]
    Realm {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// testcontainers could not create or start the container.
    #[error("cannot start the Keycloak container {IMAGE}:{TAG}: {0}")]
    Container(#[from] testcontainers::TestcontainersError),
    /// The container started but the realm was not served in time.
    #[error("Keycloak did not serve {url} within {timeout:?} (last answer: {last})")]
    NotReady {
        /// The discovery URL polled.
        url: String,
        /// How long it was polled.
        timeout: Duration,
        /// The last status line or error seen.
        last: String,
    },
}

/// A running Keycloak container with the realm imported. Removed when dropped.
pub struct Keycloak {
    container: ContainerAsync<GenericImage>,
    base_url: String,
    realm: String,
    secrets: BTreeMap<String, String>,
}

/// Configures a [`Keycloak`] before it starts.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `start` is called"]
pub struct KeycloakBuilder {
    realm_file: PathBuf,
    tag: String,
    access_token_lifespan: Option<Duration>,
    refresh_token_lifespan: Option<Duration>,
    startup_timeout: Duration,
}

impl Keycloak {
    /// Starts Keycloak with the realm export at `realm_file` imported.
    ///
    /// # Errors
    /// [`KeycloakError::NoDockerEngine`] at once when no engine answers; otherwise when the realm file is
    /// unusable, the container cannot start, or the realm is not served within the startup timeout.
    pub async fn start(realm_file: impl AsRef<Path>) -> Result<Self, KeycloakError> {
        Self::builder()
            .realm_file(realm_file.as_ref())
            .start()
            .await
    }

    /// A builder for the fixture realm (`fixtures/idp/realm-kong.json`) on Keycloak [`TAG`].
    pub fn builder() -> KeycloakBuilder {
        KeycloakBuilder {
            realm_file: steps::idp::default_realm_file(),
            tag: TAG.to_owned(),
            access_token_lifespan: None,
            refresh_token_lifespan: None,
            startup_timeout: DEFAULT_STARTUP_TIMEOUT,
        }
    }

    /// `http://<host>:<mapped port>`.
    #[must_use]
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The realm's issuer, `http://<host>:<mapped port>/realms/<realm>`.
    #[must_use]
    pub fn issuer(&self) -> String {
        format!("{}/realms/{}", self.base_url, self.realm)
    }

    /// The secret of a confidential client, as the imported realm file defines it.
    #[must_use]
    pub fn client_secret(&self, client_id: &str) -> Option<&str> {
        self.secrets.get(client_id).map(String::as_str)
    }

    /// The container's id, for logs.
    #[must_use]
    pub fn container_id(&self) -> &str {
        self.container.id()
    }
}

impl fmt::Debug for Keycloak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keycloak")
            .field("container", &self.container.id())
            .field("issuer", &self.issuer())
            .field("clients", &self.secrets.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl KeycloakBuilder {
    /// Imports the realm export at `path` instead of the fixture.
    pub fn realm_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.realm_file = path.into();
        self
    }

    /// Uses another tag of [`IMAGE`].
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tag = tag.into();
        self
    }

    /// Overrides the realm's `accessTokenLifespan` in the imported copy.
    pub fn access_token_lifespan(mut self, lifespan: Duration) -> Self {
        self.access_token_lifespan = Some(lifespan);
        self
    }

    /// Overrides the realm's `ssoSessionIdleTimeout` (how long refresh tokens live) in the imported copy.
    pub fn refresh_token_lifespan(mut self, lifespan: Duration) -> Self {
        self.refresh_token_lifespan = Some(lifespan);
        self
    }

    /// How long Keycloak has to serve the realm once the container runs.
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// Probes the Docker engine, then starts the container and waits for the realm.
    ///
    /// # Errors
    /// See [`Keycloak::start`].
    pub async fn start(self) -> Result<Keycloak, KeycloakError> {
        probe_docker_engine().await?;
        let (realm, import) = self.realm_to_import()?;
        let secrets = realm.client_secrets;
        let file_name = self
            .realm_file
            .file_name()
            .and_then(|name| name.to_str())
            .filter(|name| name.ends_with(".json"))
            .unwrap_or("realm.json");
        tracing::info!(image = IMAGE, tag = %self.tag, realm = %realm.name, "starting Keycloak");
        let container = GenericImage::new(IMAGE, self.tag.as_str())
            .with_exposed_port(HTTP_PORT.tcp())
            .with_env_var("KC_BOOTSTRAP_ADMIN_USERNAME", ADMIN_USER)
            .with_env_var("KC_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .with_cmd(["start-dev", "--import-realm"])
            .with_copy_to(format!("{IMPORT_DIR}/{file_name}"), import)
            .with_startup_timeout(self.startup_timeout)
            .start()
            .await?;
        let host = container.get_host().await?;
        let port = container.get_host_port_ipv4(HTTP_PORT.tcp()).await?;
        let keycloak = Keycloak {
            container,
            base_url: format!("http://{host}:{port}"),
            realm: realm.name,
            secrets,
        };
        wait_for_realm(&keycloak, self.startup_timeout).await?;
        tracing::info!(issuer = %keycloak.issuer(), container = keycloak.container_id(), "Keycloak ready");
        Ok(keycloak)
    }

    /// The realm as parsed (for its name and secrets) and the bytes to import, lifespans overridden.
    pub(crate) fn realm_to_import(&self) -> Result<(RealmSummary, Vec<u8>), KeycloakError> {
        let realm_error = |reason: String| KeycloakError::Realm {
            path: self.realm_file.clone(),
            reason,
        };
        let text = std::fs::read_to_string(&self.realm_file)
            .map_err(|error| realm_error(error.to_string()))?;
        let realm = steps::idp::summarize_realm(&text).map_err(realm_error)?;
        let mut json: serde_json::Value =
            serde_json::from_str(&text).map_err(|error| realm_error(error.to_string()))?;
        let overrides = [
            ("accessTokenLifespan", self.access_token_lifespan),
            ("ssoSessionIdleTimeout", self.refresh_token_lifespan),
        ];
        if let Some(object) = json.as_object_mut() {
            for (field, lifespan) in overrides {
                if let Some(lifespan) = lifespan {
                    object.insert(field.to_owned(), lifespan.as_secs().into());
                }
            }
        }
        let bytes =
            serde_json::to_vec_pretty(&json).map_err(|error| realm_error(error.to_string()))?;
        Ok((realm, bytes))
    }
}

/// Pings the Docker engine testcontainers would use, for at most two seconds.
///
/// # Errors
/// [`KeycloakError::NoDockerEngine`] with the reason when no engine answers in time.
pub async fn probe_docker_engine() -> Result<(), KeycloakError> {
    let ping = async {
        let docker = testcontainers::core::client::docker_client_instance()
            .await
            .map_err(|error| error.to_string())?;
        docker.ping().await.map_err(|error| error.to_string())
    };
    probe(ping).await
}

/// Pings the Docker engine at `host` (`unix:///var/run/docker.sock`, `tcp://host:2375`, …), for at most two
/// seconds.
///
/// # Errors
/// [`KeycloakError::NoDockerEngine`] with the reason when no engine answers in time.
pub async fn probe_docker_host(host: &str) -> Result<(), KeycloakError> {
    let ping = async {
        let docker = testcontainers::bollard::Docker::connect_with_host(host)
            .map_err(|error| error.to_string())?;
        docker.ping().await.map_err(|error| error.to_string())
    };
    probe(ping).await
}

async fn probe(
    ping: impl std::future::Future<Output = Result<String, String>>,
) -> Result<(), KeycloakError> {
    let reason = match tokio::time::timeout(PROBE_TIMEOUT, ping).await {
        Ok(Ok(_)) => return Ok(()),
        Ok(Err(error)) => error,
        Err(_) => format!("no answer within {PROBE_TIMEOUT:?}"),
    };
    let reason = reason.split_whitespace().collect::<Vec<_>>().join(" ");
    tracing::info!(%reason, "no Docker engine");
    Err(KeycloakError::NoDockerEngine(reason))
}

/// Polls the realm's discovery document until it answers `200`, or the timeout passes.
async fn wait_for_realm(keycloak: &Keycloak, timeout: Duration) -> Result<(), KeycloakError> {
    let url = format!("{}/.well-known/openid-configuration", keycloak.issuer());
    let deadline = Instant::now() + timeout;
    let mut last = String::from("none yet");
    while Instant::now() < deadline {
        match http_get_status(&keycloak.base_url, &url).await {
            Ok(200) => return Ok(()),
            Ok(status) => last = format!("HTTP {status}"),
            Err(error) => last = error,
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(KeycloakError::NotReady { url, timeout, last })
}

/// The status code of a plain-HTTP `GET url` (HTTP/1.1, `Connection: close`), with a five-second limit.
async fn http_get_status(base_url: &str, url: &str) -> Result<u16, String> {
    let authority = base_url.trim_start_matches("http://");
    let path = url.strip_prefix(base_url).unwrap_or("/");
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(authority)
            .await
            .map_err(|error| error.to_string())?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {authority}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|error| error.to_string())?;
        let mut head = vec![0u8; 64];
        let read = stream
            .read(&mut head)
            .await
            .map_err(|error| error.to_string())?;
        let line = String::from_utf8_lossy(&head[..read]).into_owned();
        line.split_whitespace()
            .nth(1)
            .and_then(|status| status.parse::<u16>().ok())
            .ok_or_else(|| format!("not an HTTP answer: {line:?}"))
    };
    tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .map_err(|_| "no answer within 5s".to_owned())?
}
