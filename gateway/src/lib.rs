//! The reference gateway: a small, fast API gateway that is wire-compatible with Kong for the
//! session-authentication flows the conformance harness checks (Admin API, `kong.yml`, session
//! cookies made like lua-resty-session 4).
//!
//! Start one with [`Gateway::builder`]; it serves a proxy listener and an Admin API listener until
//! the returned [`RunningGateway`] is shut down or dropped.

pub mod admin;
pub mod cli;
pub mod clock;
pub mod declarative;
pub mod error;
pub mod kong_headers;
pub mod listener;
pub mod logging;
pub mod model;
pub mod pdk;
pub mod plugins;
#[cfg(test)]
mod proptests;
pub mod proxy;
pub mod redacted;
pub mod resty_session;
pub mod router;
pub mod schema;
pub mod snapshot;
pub mod state;
pub mod status;
pub mod store;
#[cfg(test)]
mod testing;
pub mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use clock::Clock;
pub use error::Error;
pub use kong_headers::KongHeaders;
pub use listener::{ClientLimits, ListenSpec};

use crate::model::Db;
use crate::plugins::{Catalogue, Deps};
use crate::state::Shared;
use crate::store::DatabaseMode;
use crate::store::postgres::{PgConfig, PgStore, entities, migrations, sessions};

/// This process's node id, as Kong reports it.
pub static NODE_ID: LazyLock<String> = LazyLock::new(|| uuid::Uuid::new_v4().to_string());

/// The machine's host name (`kong.node.get_hostname()`, `gethostname(2)`: on Linux
/// `/proc/sys/kernel/hostname`), or `""` when it cannot be read, as Kong returns then.
pub static HOSTNAME: LazyLock<String> = LazyLock::new(|| {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
});

/// The default proxy listeners: Kong's (`kong/templates/kong_defaults.lua`: `proxy_listen = 0.0.0.0:8000
/// reuseport backlog=16384, 0.0.0.0:8443 http2 ssl reuseport backlog=16384`) on loopback, since a reference
/// gateway started for a try or a test should not be reachable from the network until asked.
pub const DEFAULT_PROXY_LISTEN: &str = "127.0.0.1:8000, 127.0.0.1:8443 http2 ssl";
/// The default Admin API listeners: Kong's (`kong/templates/kong_defaults.lua`: `admin_listen = 127.0.0.1:8001
/// reuseport backlog=16384, 127.0.0.1:8444 http2 ssl reuseport backlog=16384`).
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:8001, 127.0.0.1:8444 http2 ssl";
/// The default Status API listener: Kong's (`kong/templates/kong_defaults.lua` of 3.9/3.10: `status_listen =
/// 127.0.0.1:8007 reuseport backlog=16384`; it was `off` before Kong 3.6).
pub const DEFAULT_STATUS_LISTEN: &str = "127.0.0.1:8007";

/// Entry point: configure, then [`GatewayBuilder::start`].
pub struct Gateway;

impl Gateway {
    /// A builder with Kong's default listeners and the system clock.
    pub fn builder() -> GatewayBuilder {
        GatewayBuilder::default()
    }
}

/// How to start a gateway.
#[derive(Debug, Clone)]
pub struct GatewayBuilder {
    proxy_listen: Vec<ListenSpec>,
    admin_listen: Vec<ListenSpec>,
    status_listen: Vec<ListenSpec>,
    ssl_certs: Vec<tls::CertSource>,
    admin_ssl_certs: Vec<tls::CertSource>,
    status_ssl_certs: Vec<tls::CertSource>,
    access_log: listener::access_log::Target,
    log_format: listener::access_log::Format,
    prefix: Option<PathBuf>,
    declarative_config: Option<PathBuf>,
    clock: Clock,
    client_limits: ClientLimits,
    database: DatabaseMode,
    pg: PgConfig,
    db_update_frequency: Duration,
    ttl_cleanup_interval: Duration,
    headers: KongHeaders,
}

impl Default for GatewayBuilder {
    fn default() -> Self {
        Self {
            proxy_listen: vec![ListenSpec::plain(SocketAddr::from(([127, 0, 0, 1], 8000)))],
            admin_listen: vec![ListenSpec::plain(SocketAddr::from(([127, 0, 0, 1], 8001)))],
            status_listen: Vec::new(),
            ssl_certs: Vec::new(),
            admin_ssl_certs: Vec::new(),
            status_ssl_certs: Vec::new(),
            access_log: listener::access_log::Target::Off,
            log_format: listener::access_log::Format::Text,
            prefix: None,
            declarative_config: None,
            clock: Clock::system(),
            client_limits: ClientLimits::default(),
            database: DatabaseMode::Memory,
            pg: PgConfig::default(),
            db_update_frequency: store::DEFAULT_DB_UPDATE_FREQUENCY,
            ttl_cleanup_interval: store::DEFAULT_TTL_CLEANUP_INTERVAL,
            headers: KongHeaders::default(),
        }
    }
}

impl GatewayBuilder {
    /// Address of the proxy listener (port 0 picks a free port).
    pub fn proxy_listen(mut self, addr: SocketAddr) -> Self {
        self.proxy_listen = vec![ListenSpec::plain(addr)];
        self
    }

    /// The proxy's listeners in Kong's syntax (`proxy_listen`), e.g. plain HTTP and an `ssl` entry.
    pub fn proxy_listens(mut self, specs: Vec<ListenSpec>) -> Self {
        self.proxy_listen = specs;
        self
    }

    /// The Admin API's listeners (`admin_listen`; plain HTTP entries).
    pub fn admin_listens(mut self, specs: Vec<ListenSpec>) -> Self {
        self.admin_listen = specs;
        self
    }

    /// The Status API's listeners (`status_listen`; none unless set).
    pub fn status_listens(mut self, specs: Vec<ListenSpec>) -> Self {
        self.status_listen = specs;
        self
    }

    /// Certificates for the Admin API's `ssl` listeners (`admin_ssl_cert` / `admin_ssl_cert_key`); none: a
    /// generated one, as Kong.
    pub fn admin_ssl_certs(mut self, certs: Vec<tls::CertSource>) -> Self {
        self.admin_ssl_certs = certs;
        self
    }

    /// Certificates for the Status API's `ssl` listeners (`status_ssl_cert` / `status_ssl_cert_key`).
    pub fn status_ssl_certs(mut self, certs: Vec<tls::CertSource>) -> Self {
        self.status_ssl_certs = certs;
        self
    }

    /// Where proxied requests are logged (`proxy_access_log`; off unless set) and in which format.
    pub fn access_log(
        mut self,
        target: listener::access_log::Target,
        format: listener::access_log::Format,
    ) -> Self {
        self.access_log = target;
        self.log_format = format;
        self
    }

    /// Certificates for `ssl` listeners (`ssl_cert` / `ssl_cert_key`); none: a generated one, as Kong.
    pub fn ssl_certs(mut self, certs: Vec<tls::CertSource>) -> Self {
        self.ssl_certs = certs;
        self
    }

    /// Kong's `prefix`: where a generated certificate is written (`<prefix>/ssl/kong-default.crt`).
    pub fn prefix(mut self, dir: impl Into<PathBuf>) -> Self {
        self.prefix = Some(dir.into());
        self
    }

    /// Address of the Admin API listener (port 0 picks a free port).
    pub fn admin_listen(mut self, addr: SocketAddr) -> Self {
        self.admin_listen = vec![ListenSpec::plain(addr)];
        self
    }

    /// A `kong.yml` file to load at start-up.
    pub fn declarative_config(mut self, path: impl Into<PathBuf>) -> Self {
        self.declarative_config = Some(path.into());
        self
    }

    /// The clock session timeouts are measured with.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Timeouts and the connection limit for proxy clients (nginx's defaults unless set).
    pub fn client_limits(mut self, limits: ClientLimits) -> Self {
        self.client_limits = limits;
        self
    }

    /// Which of Kong's standard headers to add (Kong's `headers` / `headers_upstream`; Kong's
    /// defaults unless set).
    pub fn headers(mut self, headers: KongHeaders) -> Self {
        self.headers = headers;
        self
    }

    /// Kong's `database`: `memory` (default), `postgres` or `off`.
    pub fn database(mut self, mode: DatabaseMode) -> Self {
        self.database = mode;
        self
    }

    /// Kong's `pg_*` settings, used in `postgres` mode.
    pub fn pg(mut self, config: PgConfig) -> Self {
        self.pg = config;
        self
    }

    /// Kong's `db_update_frequency`: how often a `postgres` node checks for other nodes' writes.
    pub fn db_update_frequency(mut self, every: Duration) -> Self {
        self.db_update_frequency = every;
        self
    }

    /// Kong's `_debug_pg_ttl_cleanup_interval`: how often expired `sessions` rows are deleted.
    pub fn ttl_cleanup_interval(mut self, every: Duration) -> Self {
        self.ttl_cleanup_interval = every;
        self
    }

    /// Loads the configuration, binds both listeners and starts serving. In `postgres` mode the
    /// database must answer and have an up-to-date schema (else one line says which
    /// `gateway migrations` command to run).
    pub async fn start(self) -> Result<RunningGateway, Error> {
        let now = self.clock.now();
        let mut background: Vec<Background> = Vec::new();
        let shared = if self.database == DatabaseMode::Postgres {
            if self.declarative_config.is_some() {
                return Err(Error::Config(
                    "declarative_config is only loaded with database = off or memory; \
                     with database = postgres the entities are in PostgreSQL"
                        .to_owned(),
                ));
            }
            let store = PgStore::new(&self.pg)?;
            migrations::state(&store).await?.check()?;
            let store_for_events = store.clone();
            let sessions = Arc::new(sessions::PgSessions::new(store.clone()));
            let storage = resty_session::storage::Storage::Postgres(Arc::clone(&sessions));
            let catalogue = Arc::new(Catalogue::new(Deps::with_session_storage(storage)));
            let (version, db) = {
                let mut client = store.client().await?;
                let tx = client
                    .build_transaction()
                    .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                    .read_only(true)
                    .start()
                    .await
                    .map_err(store::StoreError::from)?;
                let loaded = entities::load(&tx, catalogue.as_ref()).await?;
                tx.commit().await.map_err(store::StoreError::from)?;
                loaded
            };
            let shared = Shared::with_options(
                db,
                self.clock.clone(),
                catalogue,
                DatabaseMode::Postgres,
                Some((store, version)),
                self.headers,
            )
            .map_err(|e| Error::Config(format!("the stored entities do not compile: {e:?}")))?;
            let changed = Arc::new(tokio::sync::Notify::new());
            background.push(Background::Refresh(
                self.db_update_frequency,
                Arc::clone(&changed),
            ));
            background.push(Background::Listen(
                Box::new(store_for_events),
                Arc::clone(&sessions),
                changed,
            ));
            background.push(Background::Cleanup(sessions, self.ttl_cleanup_interval));
            shared
        } else {
            let catalogue = Arc::new(Catalogue::new(Deps::in_memory()));
            let db = match &self.declarative_config {
                Some(path) => declarative::load_file(path, now, catalogue.as_ref())?,
                None => Db::default(),
            };
            Shared::with_options(
                db,
                self.clock.clone(),
                catalogue,
                self.database,
                None,
                self.headers,
            )
            .map_err(|e| Error::Config(format!("{e:?}")))?
        };

        if self.proxy_listen.is_empty() {
            return Err(Error::Config("proxy_listen has no entry".to_owned()));
        }
        let prefix = self.prefix.as_deref();
        let certificates = certificates_for(
            &self.proxy_listen,
            &self.ssl_certs,
            prefix,
            tls::DEFAULT_CERT_NAME,
        )?;
        let admin_certificates = certificates_for(
            &self.admin_listen,
            &self.admin_ssl_certs,
            prefix,
            tls::ADMIN_CERT_NAME,
        )?;
        let status_certificates = certificates_for(
            &self.status_listen,
            &self.status_ssl_certs,
            prefix,
            tls::STATUS_CERT_NAME,
        )?;
        let bind = |spec: &ListenSpec| -> Result<(TcpListener, ListenSpec), Error> {
            let bound = spec.bind().map_err(|source| Error::Bind {
                addr: spec.addr,
                source,
            })?;
            let addr = bound.local_addr().map_err(|source| Error::Bind {
                addr: spec.addr,
                source,
            })?;
            Ok((bound, ListenSpec { addr, ..*spec }))
        };
        let bind_all = |specs: &[ListenSpec]| specs.iter().map(bind).collect::<Result<Vec<_>, _>>();
        let proxies = bind_all(&self.proxy_listen)?;
        let admins = bind_all(&self.admin_listen)?;
        let statuses = bind_all(&self.status_listen)?;
        if let Some(log) = listener::access_log::AccessLog::start(&self.access_log, self.log_format)
            .map_err(|e| Error::Config(format!("proxy_access_log: {e}")))?
        {
            let _ = shared.access_log.set(log);
        }

        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        let mut proxy_listeners = Vec::new();
        for (listener, spec) in proxies {
            let tls = tls_listen(certificates.as_ref(), &spec)?;
            proxy_listeners.push(spec);
            tasks.push(tokio::spawn(listener::serve_proxy(
                listener,
                tls,
                Arc::clone(&shared),
                self.client_limits.clone(),
                stop_rx.clone(),
            )));
        }
        tasks.push(tokio::spawn(state::expire_credentials(
            Arc::clone(&shared),
            stop_rx.clone(),
        )));
        let drain = shared.lifecycle.drain_timeout();
        let mut serve_routers = |bound: Vec<(TcpListener, ListenSpec)>,
                                 certs: Option<&tls::Certificates>,
                                 router: axum::Router|
         -> Result<Vec<ListenSpec>, Error> {
            let mut specs = Vec::new();
            for (listener, spec) in bound {
                let tls = tls_listen(certs, &spec)?;
                specs.push(spec);
                tasks.push(tokio::spawn(listener::serve_router(
                    listener,
                    tls,
                    router.clone(),
                    drain,
                    stop_rx.clone(),
                )));
            }
            Ok(specs)
        };
        let admin_listeners = serve_routers(
            admins,
            admin_certificates.as_ref(),
            admin::router(Arc::clone(&shared)),
        )?;
        let status_listeners = serve_routers(
            statuses,
            status_certificates.as_ref(),
            status::router(Arc::clone(&shared)),
        )?;
        let proxy_addr = proxy_listeners
            .iter()
            .find(|spec| !spec.ssl)
            .unwrap_or(&proxy_listeners[0])
            .addr;
        let admin_addr = admin_listeners
            .iter()
            .find(|spec| !spec.ssl)
            .or(admin_listeners.first())
            .map_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)), |spec| spec.addr);

        for job in background {
            tasks.push(job.spawn(&shared, stop_tx.subscribe()));
        }
        tracing::info!(%proxy_addr, %admin_addr, database = %self.database, "gateway started");
        Ok(RunningGateway {
            proxy_addr,
            admin_addr,
            proxy_listeners,
            admin_listeners,
            status_listeners,
            certificates,
            admin_certificates,
            status_certificates,
            ssl_certs: self.ssl_certs,
            admin_ssl_certs: self.admin_ssl_certs,
            status_ssl_certs: self.status_ssl_certs,
            declarative_config: self.declarative_config,
            shared,
            stop: stop_tx,
            tasks,
        })
    }
}

/// The certificates for the `ssl` entries of `specs` (`None` when there is none): `sources`, or one generated
/// and written as `<prefix>/ssl/<name>.crt`.
fn certificates_for(
    specs: &[ListenSpec],
    sources: &[tls::CertSource],
    prefix: Option<&std::path::Path>,
    name: &str,
) -> Result<Option<tls::Certificates>, Error> {
    if !specs.iter().any(|spec| spec.ssl) {
        return Ok(None);
    }
    tls::Certificates::load_named(sources, prefix, name)
        .map(Some)
        .map_err(Error::Config)
}

/// The TLS acceptor of an `ssl` entry (with `h2` in ALPN when it has `http2`).
fn tls_listen(
    certs: Option<&tls::Certificates>,
    spec: &ListenSpec,
) -> Result<Option<listener::TlsListen>, Error> {
    match (certs, spec.ssl) {
        (Some(certs), true) => Ok(Some(listener::TlsListen {
            acceptor: tokio_rustls::TlsAcceptor::from(
                certs.server_config(spec.http2).map_err(Error::Config)?,
            ),
        })),
        _ => Ok(None),
    }
}

/// One line per refused entry of a declarative file (each naming the file, the entry and the field).
fn declarative_errors(err: &declarative::Error) -> Vec<String> {
    match err {
        declarative::Error::Parse {
            name,
            problem: declarative::Problem::Entries(entries),
        } => entries
            .iter()
            .map(|entry| format!("{name}: {}", entry.to_string().replace('\n', " ")))
            .collect(),
        other => vec![other.to_string().replace('\n', " ")],
    }
}

/// Timers a `postgres` node runs beside its listeners, until it stops.
enum Background {
    /// Reload the entities when another node wrote: every `db_update_frequency`, and when woken.
    Refresh(Duration, Arc<tokio::sync::Notify>),
    /// Listen for other nodes' notifications ([`store::postgres::events`]).
    Listen(
        Box<PgStore>,
        Arc<sessions::PgSessions>,
        Arc<tokio::sync::Notify>,
    ),
    /// Delete expired `sessions` rows every `_debug_pg_ttl_cleanup_interval`.
    Cleanup(Arc<sessions::PgSessions>, Duration),
}

impl Background {
    fn spawn(self, shared: &Arc<Shared>, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
        let shared = Arc::clone(shared);
        tokio::spawn(async move {
            let work = async move {
                match self {
                    Self::Refresh(every, changed) => refresh_loop(&shared, every, &changed).await,
                    Self::Listen(store, sessions, changed) => {
                        store::postgres::events::listen_loop(*store, sessions, changed).await;
                    }
                    Self::Cleanup(sessions, every) => {
                        sessions::cleanup_loop(sessions, shared.clock.clone(), every).await;
                    }
                }
            };
            tokio::select! {
                () = work => {}
                _ = stop.wait_for(|stop| *stop) => {}
            }
        })
    }
}

/// Polls PostgreSQL every `every`, and whenever `changed` is notified (another node's write), and
/// reloads the entities when another node wrote. While the database is down the node keeps serving its
/// last snapshot and logs one line per [`store::OutageLog::EVERY`], and one when it is back.
async fn refresh_loop(shared: &Shared, every: Duration, changed: &tokio::sync::Notify) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let mut failing = false;
    let outage = store::OutageLog::default();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = changed.notified() => {}
        }
        match shared.refresh().await {
            Ok(reloaded) => {
                if failing {
                    tracing::info!("PostgreSQL reachable again");
                    failing = false;
                }
                if reloaded {
                    tracing::debug!("entities reloaded from PostgreSQL");
                }
            }
            Err(err) => {
                failing = true;
                if outage.should_log() {
                    tracing::error!(%err, "cannot check PostgreSQL for updated entities; serving the last loaded configuration");
                }
            }
        }
    }
}

/// A started gateway. Dropping it stops both listeners.
pub struct RunningGateway {
    proxy_addr: SocketAddr,
    admin_addr: SocketAddr,
    proxy_listeners: Vec<ListenSpec>,
    admin_listeners: Vec<ListenSpec>,
    status_listeners: Vec<ListenSpec>,
    certificates: Option<tls::Certificates>,
    admin_certificates: Option<tls::Certificates>,
    status_certificates: Option<tls::Certificates>,
    ssl_certs: Vec<tls::CertSource>,
    admin_ssl_certs: Vec<tls::CertSource>,
    status_ssl_certs: Vec<tls::CertSource>,
    declarative_config: Option<PathBuf>,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for RunningGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningGateway")
            .field("proxy_addr", &self.proxy_addr)
            .field("admin_addr", &self.admin_addr)
            .finish_non_exhaustive()
    }
}

impl RunningGateway {
    /// Where the proxy listens.
    pub fn proxy_addr(&self) -> SocketAddr {
        self.proxy_addr
    }

    /// Every proxy listener, with the address it is bound to.
    pub fn proxy_listeners(&self) -> &[ListenSpec] {
        &self.proxy_listeners
    }

    /// The first `ssl` proxy listener's address.
    pub fn proxy_tls_addr(&self) -> Option<SocketAddr> {
        self.proxy_listeners
            .iter()
            .find(|spec| spec.ssl)
            .map(|spec| spec.addr)
    }

    /// The certificate generated at start (PEM) when `ssl` listeners have no `ssl_cert`: what clients trust.
    pub fn generated_certificate_pem(&self) -> Option<&str> {
        self.certificates
            .as_ref()
            .and_then(tls::Certificates::generated_pem)
    }

    /// Where the Admin API listens (its first plain entry, else its first).
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// Every Admin API listener, with the address it is bound to.
    pub fn admin_listeners(&self) -> &[ListenSpec] {
        &self.admin_listeners
    }

    /// Every Status API listener, with the address it is bound to.
    pub fn status_listeners(&self) -> &[ListenSpec] {
        &self.status_listeners
    }

    /// The Admin API's generated certificate (PEM), when an `ssl` entry has no `admin_ssl_cert`.
    pub fn generated_admin_certificate_pem(&self) -> Option<&str> {
        self.admin_certificates
            .as_ref()
            .and_then(tls::Certificates::generated_pem)
    }

    /// Reloads what SIGHUP reloads (`gateway reload`, `kong reload`): the declarative file, when one was given,
    /// and the certificates of every `ssl` listener. Built off the request path and swapped in: open connections
    /// and in-flight requests are not touched. A file that does not load keeps the running configuration;
    /// every error is logged and returned.
    ///
    /// With `database = memory`, entities added through the Admin API since the last load are replaced by the
    /// file's, as a DB-less Kong does on a new declarative configuration.
    ///
    /// # Errors
    /// Every reason something was not reloaded, one per entry of the file.
    pub async fn reload(&self) -> Result<(), Vec<String>> {
        let mut errors = Vec::new();
        if let Some(path) = self.declarative_config.clone() {
            let shared = Arc::clone(&self.shared);
            let loaded = tokio::task::spawn_blocking(move || {
                declarative::load_file(&path, shared.clock.now(), shared.catalogue.as_ref())
            })
            .await;
            match loaded {
                Ok(Ok(db)) => {
                    if let Err(err) = self.shared.replace_async(db).await {
                        errors.push(format!(
                            "the declarative configuration does not apply: {err:?}"
                        ));
                    }
                }
                Ok(Err(err)) => errors.extend(declarative_errors(&err)),
                Err(err) => errors.push(format!(
                    "the declarative configuration was not loaded: {err}"
                )),
            }
        }
        for (certs, sources, name) in [
            (&self.certificates, &self.ssl_certs, "ssl_cert"),
            (
                &self.admin_certificates,
                &self.admin_ssl_certs,
                "admin_ssl_cert",
            ),
            (
                &self.status_certificates,
                &self.status_ssl_certs,
                "status_ssl_cert",
            ),
        ] {
            if let Some(certs) = certs
                && let Err(err) = certs.reload(sources)
            {
                errors.push(format!(
                    "{name}: {err}; the certificates served so far are kept"
                ));
            }
        }
        if errors.is_empty() {
            tracing::info!("configuration reloaded");
            Ok(())
        } else {
            for error in &errors {
                tracing::error!(%error, "reload: kept the running configuration");
            }
            Err(errors)
        }
    }

    /// Marks the node draining (`GET /status/ready` answers 503 `draining`), stops accepting, lets in-flight
    /// requests finish within `deadline`, then closes what is left (SIGQUIT: graceful; a zero deadline is
    /// SIGTERM's fast stop).
    pub async fn shutdown_within(mut self, deadline: Duration) {
        self.shared.lifecycle.start_draining();
        self.shared.lifecycle.set_drain_timeout(deadline);
        let _ = self.stop.send(true);
        // Margin for the listeners' own drains (each bounded by `deadline`) to end.
        let until = tokio::time::Instant::now() + deadline + Duration::from_secs(1);
        for mut task in self.tasks.drain(..) {
            if tokio::time::timeout_at(until, &mut task).await.is_err() {
                task.abort();
            }
        }
    }

    /// The clock this gateway measures session time with.
    pub fn clock(&self) -> &Clock {
        &self.shared.clock
    }

    /// Stops accepting, lets in-flight requests finish (at most [`listener::stats::DEFAULT_DRAIN_TIMEOUT`]),
    /// and waits for the listeners to close.
    pub async fn shutdown(self) {
        self.shutdown_within(listener::stats::DEFAULT_DRAIN_TIMEOUT)
            .await;
    }
}

impl Drop for RunningGateway {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
