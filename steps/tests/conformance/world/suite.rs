//! The backends every scenario of a target shares: ONE echo upstream and ONE gateway under test (the in-process
//! reference gateway, or the one `--proxy-url`/`--admin-url` or `--target` names), started by the first caller of
//! [`Suite::get`] while that target is current (the preflight in `main.rs`, before any scenario) and kept until the
//! process ends. Also the
//! run-wide record of plugins the target refused as not enabled, which `main.rs` prints after the run.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use reqwest::Client;
use steps::EchoUpstream;
use tokio::sync::OnceCell;
use url::Url;

use super::Error;
use super::http::proxy_client;
use crate::admin::Admin;
use crate::target;

/// How long to wait for a freshly started gateway to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// The gateway under test, as the harness reaches it.
#[derive(Clone, Debug)]
pub struct GatewayTarget {
    /// Base URL of the proxy listener (`http://127.0.0.1:8000`).
    pub proxy: Url,
    /// Base URL of the Admin API (`http://127.0.0.1:8001`).
    pub admin: Url,
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
    pub(super) bare: Client,
    /// The in-process reference gateway (none for an external target), held here so that it runs until the
    /// process ends.
    _gateway: Option<gateway::RunningGateway>,
}

/// The backends of each target of the run, by target name, started by the first caller while it is current.
static SUITES: Mutex<BTreeMap<&'static str, &'static OnceCell<Suite>>> =
    Mutex::new(BTreeMap::new());

/// Plugins the target refused as "not enabled" while scenarios provisioned them, with how many times.
static PLUGINS_NOT_ENABLED: Mutex<BTreeMap<String, usize>> = Mutex::new(BTreeMap::new());

/// The plugins the target refused as "not enabled" during the run, with how many scenarios it refused each in.
/// Takes the record, so that the next target's run starts with none.
pub fn plugins_not_enabled() -> BTreeMap<String, usize> {
    std::mem::take(
        &mut *PLUGINS_NOT_ENABLED
            .lock()
            .unwrap_or_else(PoisonError::into_inner),
    )
}

impl Suite {
    /// The run's backends, started by the first caller.
    pub async fn get() -> Result<&'static Self, Error> {
        let cell: &'static OnceCell<Suite> = SUITES
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(target::current_name())
            .or_insert_with(|| Box::leak(Box::new(OnceCell::new())));
        cell.get_or_try_init(Self::start).await
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

/// Counts one scenario in which the target refused `plugin` as not enabled.
pub(super) fn record_plugin_not_enabled(plugin: &str) {
    let mut refused = PLUGINS_NOT_ENABLED
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    *refused.entry(plugin.to_owned()).or_insert(0) += 1;
}
