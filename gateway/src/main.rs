//! `gateway`: runs the reference gateway from the command line.
//!
//! ```text
//! gateway --declarative-config fixtures/config/key-auth-session.yaml
//! KONG_DATABASE=postgres gateway migrations bootstrap    # once, like `kong migrations bootstrap`
//! KONG_DATABASE=postgres gateway                         # a node on PostgreSQL
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use gateway::store::{DatabaseMode, PgConfig, PgSslMode};

/// mimalloc: measurably less CPU per request than glibc malloc under load (benches/load).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The reference gateway: Kong-compatible proxy and Admin API for session-authentication flows.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Where entities live (Kong's `database`): `memory` (default: in this process, Admin API
    /// writable), `postgres` (Kong's traditional mode) or `off` (DB-less: `declarative_config` and
    /// `POST /config` only).
    #[arg(long, env = "KONG_DATABASE", default_value = "memory", global = true)]
    database: DatabaseMode,
    /// PostgreSQL host (Kong's `pg_host`); a path is a Unix socket directory.
    #[arg(long, env = "KONG_PG_HOST", default_value = gateway::store::postgres::DEFAULT_PG_HOST, global = true)]
    pg_host: String,
    /// PostgreSQL port (`pg_port`).
    #[arg(long, env = "KONG_PG_PORT", default_value_t = gateway::store::postgres::DEFAULT_PG_PORT, global = true)]
    pg_port: u16,
    /// PostgreSQL user (`pg_user`).
    #[arg(long, env = "KONG_PG_USER", default_value = gateway::store::postgres::DEFAULT_PG_USER, global = true)]
    pg_user: String,
    /// PostgreSQL password (`pg_password`; none by default).
    #[arg(long, env = "KONG_PG_PASSWORD", hide_env_values = true, global = true)]
    pg_password: Option<String>,
    /// PostgreSQL database (`pg_database`).
    #[arg(long, env = "KONG_PG_DATABASE", default_value = gateway::store::postgres::DEFAULT_PG_DATABASE, global = true)]
    pg_database: String,
    /// TLS to PostgreSQL (`pg_ssl`: `on`/`off`; only `off` is supported yet).
    #[arg(long, env = "KONG_PG_SSL", default_value = "off", global = true)]
    pg_ssl: PgSslMode,
    /// Seconds between checks for entities other nodes changed (`db_update_frequency`).
    #[arg(long, env = "KONG_DB_UPDATE_FREQUENCY", default_value = "5", value_parser = parse_seconds)]
    db_update_frequency: Duration,
    /// Seconds between deletions of expired `sessions` rows (Kong's `_debug_pg_ttl_cleanup_interval`).
    #[arg(long, env = "KONG__DEBUG_PG_TTL_CLEANUP_INTERVAL", default_value = "300", value_parser = parse_seconds)]
    debug_pg_ttl_cleanup_interval: Duration,
    /// Proxy listeners (Kong's `proxy_listen`): comma-separated `address:port [ssl] [http2] [reuseport]
    /// [backlog=N]`.
    #[arg(long, env = "KONG_PROXY_LISTEN", default_value = gateway::DEFAULT_PROXY_LISTEN, value_parser = parse_proxy_listen)]
    proxy_listen: Listens,
    /// Admin API listeners (Kong's `admin_listen`), same syntax (plain HTTP only).
    #[arg(long, env = "KONG_ADMIN_LISTEN", default_value = gateway::DEFAULT_ADMIN_LISTEN, value_parser = parse_admin_listen)]
    admin_listen: Listens,
    /// Certificates for `ssl` listeners (Kong's `ssl_cert`): comma-separated file paths or PEM; none:
    /// a self-signed certificate for localhost is generated at start, as Kong does.
    #[arg(long, env = "KONG_SSL_CERT", default_value = "")]
    ssl_cert: String,
    /// Their private keys (`ssl_cert_key`), one per `ssl_cert`, in the same order.
    #[arg(
        long,
        env = "KONG_SSL_CERT_KEY",
        default_value = "",
        hide_env_values = true,
        hide_default_value = true
    )]
    ssl_cert_key: String,
    /// Kong's `prefix`: a generated certificate is written to `<prefix>/ssl/kong-default.crt`.
    #[arg(long, env = "KONG_PREFIX", default_value = "/usr/local/kong")]
    prefix: PathBuf,
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

/// `gateway migrations ...`, as `kong migrations ...`.
#[derive(Debug, Subcommand)]
enum Command {
    /// Manage the PostgreSQL schema (`database = postgres`).
    Migrations {
        #[command(subcommand)]
        action: Migrations,
    },
}

#[derive(Debug, Clone, Copy, Subcommand)]
enum Migrations {
    /// Create the schema in an empty database (`kong migrations bootstrap`).
    Bootstrap,
    /// Run the migrations a bootstrapped database has not run yet (`kong migrations up`).
    Up,
}

/// Kong's number of seconds (`db_update_frequency = 5`; fractions allowed, must be positive).
fn parse_seconds(value: &str) -> Result<Duration, String> {
    match value.parse::<f64>() {
        Ok(s) if s > 0.0 && s.is_finite() => Ok(Duration::from_secs_f64(s)),
        _ => Err(format!(
            "expected a positive number of seconds, got '{value}'"
        )),
    }
}

/// `gateway migrations bootstrap|up`: prints Kong's lines; exit 1 with one line on failure.
async fn migrations(args: &Args, action: Migrations) -> ExitCode {
    let store = match gateway::store::postgres::PgStore::new(&pg_config(args)) {
        Ok(s) => s,
        Err(err) => {
            eprintln!("Error: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = match action {
        Migrations::Bootstrap => gateway::store::postgres::migrations::bootstrap(&store).await,
        Migrations::Up => gateway::store::postgres::migrations::up(&store).await,
    };
    match result {
        Ok(lines) => {
            for line in lines {
                println!("{line}");
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("Error: {err}");
            ExitCode::FAILURE
        }
    }
}

fn pg_config(args: &Args) -> PgConfig {
    PgConfig {
        host: args.pg_host.clone(),
        port: args.pg_port,
        user: args.pg_user.clone(),
        password: args.pg_password.clone(),
        database: args.pg_database.clone(),
        ssl: args.pg_ssl,
    }
}

/// A listen setting's entries. A newtype, since clap reads a bare `Vec` field as repeated flags.
#[derive(Debug, Clone)]
struct Listens(Vec<gateway::ListenSpec>);

fn parse_proxy_listen(value: &str) -> Result<Listens, String> {
    gateway::ListenSpec::parse_list("proxy_listen", value).map(Listens)
}

fn parse_admin_listen(value: &str) -> Result<Listens, String> {
    gateway::ListenSpec::parse_list("admin_listen", value).map(Listens)
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
    if let Some(Command::Migrations { action }) = args.command {
        return migrations(&args, action).await;
    }
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
    let certs = match gateway::tls::pair_sources(&args.ssl_cert, &args.ssl_cert_key) {
        Ok(certs) => certs,
        Err(err) => {
            eprintln!("Error: {err}");
            return ExitCode::FAILURE;
        }
    };
    let mut builder = gateway::Gateway::builder()
        .headers(headers)
        .proxy_listens(args.proxy_listen.0.clone())
        .admin_listens(args.admin_listen.0.clone())
        .ssl_certs(certs)
        .prefix(args.prefix.clone())
        .client_limits(limits)
        .database(args.database)
        .pg(pg_config(&args))
        .db_update_frequency(args.db_update_frequency)
        .ttl_cleanup_interval(args.debug_pg_ttl_cleanup_interval);
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
    let listeners: Vec<String> = running
        .proxy_listeners()
        .iter()
        .map(ToString::to_string)
        .collect();
    tracing::info!(proxy = %running.proxy_addr(), admin = %running.admin_addr(), proxy_listen = %listeners.join(", "), "listening; Ctrl-C to stop");
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
