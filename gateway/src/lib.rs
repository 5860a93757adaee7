//! The reference gateway: a small, fast API gateway that is wire-compatible with Kong for the
//! session-authentication flows the conformance harness checks (Admin API, `kong.yml`, session
//! cookies made like lua-resty-session 4).
//!
//! Start one with [`Gateway::builder`]; it serves a proxy listener and an Admin API listener until
//! the returned [`RunningGateway`] is shut down or dropped.

pub mod admin;
pub mod clock;
pub mod declarative;
pub mod error;
pub mod kong_headers;
pub mod listener;
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
#[cfg(test)]
mod testing;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock};

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use clock::Clock;
pub use error::Error;
pub use kong_headers::KongHeaders;
pub use listener::ClientLimits;

use crate::model::Db;
use crate::plugins::{Catalogue, Deps};
use crate::state::Shared;

/// This process's node id, as Kong reports it.
pub static NODE_ID: LazyLock<String> = LazyLock::new(|| uuid::Uuid::new_v4().to_string());

/// The machine's host name (`kong.node.get_hostname()`, `gethostname(2)`: on Linux
/// `/proc/sys/kernel/hostname`), or `""` when it cannot be read, as Kong returns then.
pub static HOSTNAME: LazyLock<String> = LazyLock::new(|| {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
});

/// Kong's default proxy listener.
pub const DEFAULT_PROXY_LISTEN: &str = "127.0.0.1:8000";
/// Kong's default Admin API listener.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:8001";

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
    proxy_listen: SocketAddr,
    admin_listen: SocketAddr,
    declarative_config: Option<PathBuf>,
    clock: Clock,
    client_limits: ClientLimits,
    headers: KongHeaders,
}

impl Default for GatewayBuilder {
    fn default() -> Self {
        Self {
            proxy_listen: SocketAddr::from(([127, 0, 0, 1], 8000)),
            admin_listen: SocketAddr::from(([127, 0, 0, 1], 8001)),
            declarative_config: None,
            clock: Clock::system(),
            client_limits: ClientLimits::default(),
            headers: KongHeaders::default(),
        }
    }
}

impl GatewayBuilder {
    /// Address of the proxy listener (port 0 picks a free port).
    pub fn proxy_listen(mut self, addr: SocketAddr) -> Self {
        self.proxy_listen = addr;
        self
    }

    /// Address of the Admin API listener (port 0 picks a free port).
    pub fn admin_listen(mut self, addr: SocketAddr) -> Self {
        self.admin_listen = addr;
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

    /// Loads the configuration, binds both listeners and starts serving.
    pub async fn start(self) -> Result<RunningGateway, Error> {
        let now = self.clock.now();
        let catalogue = Arc::new(Catalogue::new(Deps::in_memory()));
        let db = match &self.declarative_config {
            Some(path) => declarative::load_file(path, now, catalogue.as_ref())?,
            None => Db::default(),
        };
        let shared = Shared::with_headers(db, self.clock.clone(), catalogue, self.headers)
            .map_err(|e| Error::Config(format!("{e:?}")))?;

        let proxy = TcpListener::bind(self.proxy_listen)
            .await
            .map_err(|source| Error::Bind {
                addr: self.proxy_listen,
                source,
            })?;
        let admin = TcpListener::bind(self.admin_listen)
            .await
            .map_err(|source| Error::Bind {
                addr: self.admin_listen,
                source,
            })?;
        let proxy_addr = proxy.local_addr().map_err(|source| Error::Bind {
            addr: self.proxy_listen,
            source,
        })?;
        let admin_addr = admin.local_addr().map_err(|source| Error::Bind {
            addr: self.admin_listen,
            source,
        })?;

        let (stop_tx, stop_rx) = watch::channel(false);
        let proxy_task = tokio::spawn(listener::serve_proxy(
            proxy,
            Arc::clone(&shared),
            self.client_limits.clone(),
            stop_rx.clone(),
        ));
        let expiry_task = tokio::spawn(state::expire_credentials(
            Arc::clone(&shared),
            stop_rx.clone(),
        ));
        let admin_router = admin::router(Arc::clone(&shared));
        let mut admin_stop = stop_rx;
        let admin_task = tokio::spawn(async move {
            let serve = axum::serve(admin, admin_router).with_graceful_shutdown(async move {
                let _ = admin_stop.wait_for(|stop| *stop).await;
            });
            if let Err(err) = serve.await {
                tracing::error!(%err, "admin listener failed");
            }
        });
        tracing::info!(%proxy_addr, %admin_addr, "gateway started");
        Ok(RunningGateway {
            proxy_addr,
            admin_addr,
            shared,
            stop: stop_tx,
            tasks: vec![proxy_task, admin_task, expiry_task],
        })
    }
}

/// A started gateway. Dropping it stops both listeners.
pub struct RunningGateway {
    proxy_addr: SocketAddr,
    admin_addr: SocketAddr,
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

    /// Where the Admin API listens.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// The clock this gateway measures session time with.
    pub fn clock(&self) -> &Clock {
        &self.shared.clock
    }

    /// Stops accepting, lets in-flight requests finish, and waits for the listeners to close.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

impl Drop for RunningGateway {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
