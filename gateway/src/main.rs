//! `gateway`: runs the reference gateway from the command line.
//!
//! ```text
//! gateway --declarative-config fixtures/config/key-auth-session.yaml
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

/// mimalloc: measurably less CPU per request than glibc malloc under load (benches/load).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The reference gateway: Kong-compatible proxy and Admin API for session-authentication flows.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Proxy listener address (Kong's `proxy_listen`).
    #[arg(long, env = "KONG_PROXY_LISTEN", default_value = gateway::DEFAULT_PROXY_LISTEN)]
    proxy_listen: SocketAddr,
    /// Admin API listener address (Kong's `admin_listen`).
    #[arg(long, env = "KONG_ADMIN_LISTEN", default_value = gateway::DEFAULT_ADMIN_LISTEN)]
    admin_listen: SocketAddr,
    /// A declarative configuration file (`kong.yml`) to load at start-up.
    #[arg(long, short = 'c', env = "KONG_DECLARATIVE_CONFIG")]
    declarative_config: Option<PathBuf>,
    /// nginx's `client_header_timeout` (Kong's `nginx_http_client_header_timeout`): time for a whole request
    /// header. nginx time syntax: `60s`, `500ms`, `1m`.
    #[arg(long, env = "KONG_NGINX_HTTP_CLIENT_HEADER_TIMEOUT", default_value = "60s", value_parser = gateway::listener::parse_nginx_time)]
    nginx_http_client_header_timeout: Duration,
    /// nginx's `client_body_timeout` (`nginx_http_client_body_timeout`): longest pause between two reads of a
    /// request body.
    #[arg(long, env = "KONG_NGINX_HTTP_CLIENT_BODY_TIMEOUT", default_value = "60s", value_parser = gateway::listener::parse_nginx_time)]
    nginx_http_client_body_timeout: Duration,
    /// nginx's `keepalive_timeout` (`nginx_http_keepalive_timeout`): how long an idle keep-alive client
    /// connection stays open.
    #[arg(long, env = "KONG_NGINX_HTTP_KEEPALIVE_TIMEOUT", default_value = "75s", value_parser = gateway::listener::parse_nginx_time)]
    nginx_http_keepalive_timeout: Duration,
    /// nginx's `client_max_body_size` (`nginx_http_client_max_body_size`, Kong's default `0`: no limit):
    /// larger request bodies get 413. nginx size syntax: `0`, `8k`, `10m`.
    #[arg(long, env = "KONG_NGINX_HTTP_CLIENT_MAX_BODY_SIZE", default_value = "0", value_parser = gateway::listener::parse_nginx_size)]
    nginx_http_client_max_body_size: u64,
    /// nginx's `worker_connections` (`nginx_events_worker_connections`): client connections open at once;
    /// `auto` is half the open-files limit, at most 16384.
    #[arg(long, env = "KONG_NGINX_EVENTS_WORKER_CONNECTIONS", default_value = "auto", value_parser = parse_connections)]
    nginx_events_worker_connections: WorkerConnections,
    /// Kong's `headers`: the headers added to client responses, comma-separated (`server_tokens`,
    /// `latency_tokens`, `Server`, `Via`, `X-Kong-Proxy-Latency`, `X-Kong-Response-Latency`,
    /// `X-Kong-Admin-Latency`, `X-Kong-Upstream-Latency`, `X-Kong-Upstream-Status`,
    /// `X-Kong-Request-Id`) or `off` (kong.conf.default lines 867-912).
    #[arg(
        long,
        env = "KONG_HEADERS",
        default_value = "server_tokens, latency_tokens, X-Kong-Request-Id"
    )]
    headers: String,
    /// Kong's `headers_upstream`: `X-Kong-Request-Id` or `off` (kong.conf.default lines 915-927).
    #[arg(
        long,
        env = "KONG_HEADERS_UPSTREAM",
        default_value = "X-Kong-Request-Id"
    )]
    headers_upstream: String,
}

/// `worker_connections`: `auto` (`None`) or a number. A newtype, since clap reads a bare `Option` field as
/// "may be absent".
#[derive(Debug, Clone, Copy)]
struct WorkerConnections(Option<usize>);

/// `auto` or a positive number.
fn parse_connections(value: &str) -> Result<WorkerConnections, String> {
    if value == "auto" {
        return Ok(WorkerConnections(None));
    }
    match value.parse::<usize>() {
        Ok(n) if n > 0 => Ok(WorkerConnections(Some(n))),
        _ => Err(format!(
            "expected 'auto' or a positive number, got '{value}'"
        )),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let mut limits = gateway::ClientLimits {
        header_timeout: args.nginx_http_client_header_timeout,
        body_timeout: args.nginx_http_client_body_timeout,
        keepalive_timeout: args.nginx_http_keepalive_timeout,
        max_body_size: Some(args.nginx_http_client_max_body_size).filter(|&n| n > 0),
        ..gateway::ClientLimits::default()
    };
    if let WorkerConnections(Some(n)) = args.nginx_events_worker_connections {
        limits.max_connections = n;
    }
    let headers = match gateway::KongHeaders::parse(&args.headers, &args.headers_upstream) {
        Ok(h) => h,
        Err(err) => {
            eprintln!("Error: {err}");
            return ExitCode::FAILURE;
        }
    };
    let mut builder = gateway::Gateway::builder()
        .headers(headers)
        .proxy_listen(args.proxy_listen)
        .admin_listen(args.admin_listen)
        .client_limits(limits);
    if let Some(path) = args.declarative_config {
        builder = builder.declarative_config(path);
    }
    let running = match builder.start().await {
        Ok(r) => r,
        Err(err) => {
            eprintln!("Error: {err}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(proxy = %running.proxy_addr(), admin = %running.admin_addr(), "listening; Ctrl-C to stop");
    shutdown_signal().await;
    tracing::info!("shutting down");
    running.shutdown().await;
    ExitCode::SUCCESS
}

/// Waits for SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
