//! `gateway`: runs the reference gateway from the command line.
//!
//! ```text
//! gateway --declarative-config fixtures/config/key-auth-session.yaml
//! KONG_DATABASE=postgres gateway migrations bootstrap    # once, like `kong migrations bootstrap`
//! KONG_DATABASE=postgres gateway                         # a node on PostgreSQL
//! gateway config parse kong.yml                          # check a file (`kong config parse`)
//! gateway health | reload | quit | stop                  # the node running at KONG_PREFIX
//! ```
//!
//! A started node installs its signal handlers first: SIGHUP reloads, SIGQUIT drains, SIGTERM / SIGINT stop.

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
    #[arg(long, env = "KONG_DB_UPDATE_FREQUENCY", default_value = "5", value_parser = parse_seconds, global = true)]
    db_update_frequency: Duration,
    /// Seconds between deletions of expired `sessions` rows (Kong's `_debug_pg_ttl_cleanup_interval`).
    #[arg(long, env = "KONG__DEBUG_PG_TTL_CLEANUP_INTERVAL", default_value = "300", value_parser = parse_seconds, global = true)]
    debug_pg_ttl_cleanup_interval: Duration,
    /// Proxy listeners (Kong's `proxy_listen`): comma-separated `address:port [ssl] [http2] [reuseport]
    /// [backlog=N]`.
    #[arg(long, env = "KONG_PROXY_LISTEN", default_value = gateway::DEFAULT_PROXY_LISTEN, value_parser = parse_proxy_listen, global = true)]
    proxy_listen: Listens,
    /// Admin API listeners (Kong's `admin_listen`), same syntax.
    #[arg(long, env = "KONG_ADMIN_LISTEN", default_value = gateway::DEFAULT_ADMIN_LISTEN, value_parser = parse_admin_listen, global = true)]
    admin_listen: Listens,
    /// Status API listeners (Kong's `status_listen`: `GET /status`, `/status/ready`), same syntax; `off` for none.
    #[arg(long, env = "KONG_STATUS_LISTEN", default_value = gateway::DEFAULT_STATUS_LISTEN, value_parser = parse_status_listen, global = true)]
    status_listen: Listens,
    /// Certificates for the Admin API's `ssl` entries (`admin_ssl_cert`); none: a generated one.
    #[arg(long, env = "KONG_ADMIN_SSL_CERT", default_value = "", global = true)]
    admin_ssl_cert: String,
    /// Their keys (`admin_ssl_cert_key`).
    #[arg(
        long,
        env = "KONG_ADMIN_SSL_CERT_KEY",
        default_value = "",
        hide_env_values = true,
        hide_default_value = true,
        global = true
    )]
    admin_ssl_cert_key: String,
    /// Certificates for the Status API's `ssl` entries (`status_ssl_cert`); none: a generated one.
    #[arg(long, env = "KONG_STATUS_SSL_CERT", default_value = "", global = true)]
    status_ssl_cert: String,
    /// Their keys (`status_ssl_cert_key`).
    #[arg(
        long,
        env = "KONG_STATUS_SSL_CERT_KEY",
        default_value = "",
        hide_env_values = true,
        hide_default_value = true,
        global = true
    )]
    status_ssl_cert_key: String,
    /// The access log (Kong's `proxy_access_log`): `/dev/stdout` (as Kong's container image), a file (relative:
    /// under the prefix), or `off`.
    #[arg(
        long,
        env = "KONG_PROXY_ACCESS_LOG",
        default_value = "/dev/stdout",
        global = true
    )]
    proxy_access_log: String,
    /// The gateway's own log (Kong's `proxy_error_log`): `/dev/stderr` or a file.
    #[arg(
        long,
        env = "KONG_PROXY_ERROR_LOG",
        default_value = "/dev/stderr",
        global = true
    )]
    proxy_error_log: String,
    /// Kong's `log_level`: debug, info, notice, warn, error, crit, alert, emerg. Libraries stay at warn unless
    /// `RUST_LOG` is set.
    #[arg(long, env = "KONG_LOG_LEVEL", default_value = gateway::logging::DEFAULT_LOG_LEVEL, value_parser = gateway::logging::parse_log_level, global = true)]
    log_level: tracing::Level,
    /// Ours (Kong has no such setting): `text` (Kong's formats) or `json` (one object per line, for log
    /// shippers), for both logs.
    #[arg(
        long,
        env = "GATEWAY_LOG_FORMAT",
        default_value = "text",
        global = true
    )]
    log_format: gateway::listener::access_log::Format,
    /// How long SIGQUIT (`gateway quit`) lets in-flight requests finish before closing them: nginx's
    /// `worker_shutdown_timeout`, which Kong sets as `nginx_main_worker_shutdown_timeout` (nginx has no
    /// default: here `kong quit`'s default timeout, 10 s).
    #[arg(long, env = "KONG_NGINX_MAIN_WORKER_SHUTDOWN_TIMEOUT", default_value = "10s", value_parser = gateway::listener::parse_nginx_time, global = true)]
    nginx_main_worker_shutdown_timeout: Duration,
    /// Certificates for `ssl` listeners (Kong's `ssl_cert`): comma-separated file paths or PEM; none:
    /// a self-signed certificate for localhost is generated at start, as Kong does.
    #[arg(long, env = "KONG_SSL_CERT", default_value = "", global = true)]
    ssl_cert: String,
    /// Their private keys (`ssl_cert_key`), one per `ssl_cert`, in the same order.
    #[arg(
        long,
        env = "KONG_SSL_CERT_KEY",
        default_value = "",
        hide_env_values = true,
        hide_default_value = true,
        global = true
    )]
    ssl_cert_key: String,
    /// Kong's `prefix`: a generated certificate is written to `<prefix>/ssl/kong-default.crt`.
    #[arg(
        long,
        env = "KONG_PREFIX",
        default_value = "/usr/local/kong",
        global = true
    )]
    prefix: PathBuf,
    /// A declarative configuration file (`kong.yml`) to load at start-up.
    #[arg(long, short = 'c', env = "KONG_DECLARATIVE_CONFIG", global = true)]
    declarative_config: Option<PathBuf>,
    /// nginx's `client_header_timeout` (Kong's `nginx_http_client_header_timeout`): time for a whole request
    /// header. nginx time syntax: `60s`, `500ms`, `1m`.
    #[arg(long, env = "KONG_NGINX_HTTP_CLIENT_HEADER_TIMEOUT", default_value = "60s", value_parser = gateway::listener::parse_nginx_time, global = true)]
    nginx_http_client_header_timeout: Duration,
    /// nginx's `client_body_timeout` (`nginx_http_client_body_timeout`): longest pause between two reads of a
    /// request body.
    #[arg(long, env = "KONG_NGINX_HTTP_CLIENT_BODY_TIMEOUT", default_value = "60s", value_parser = gateway::listener::parse_nginx_time, global = true)]
    nginx_http_client_body_timeout: Duration,
    /// nginx's `keepalive_timeout` (`nginx_http_keepalive_timeout`): how long an idle keep-alive client
    /// connection stays open.
    #[arg(long, env = "KONG_NGINX_HTTP_KEEPALIVE_TIMEOUT", default_value = "75s", value_parser = gateway::listener::parse_nginx_time, global = true)]
    nginx_http_keepalive_timeout: Duration,
    /// nginx's `client_max_body_size` (`nginx_http_client_max_body_size`, Kong's default `0`: no limit):
    /// larger request bodies get 413. nginx size syntax: `0`, `8k`, `10m`.
    #[arg(long, env = "KONG_NGINX_HTTP_CLIENT_MAX_BODY_SIZE", default_value = "0", value_parser = gateway::listener::parse_nginx_size, global = true)]
    nginx_http_client_max_body_size: u64,
    /// nginx's `worker_connections` (`nginx_events_worker_connections`): client connections open at once;
    /// `auto` is half the open-files limit, at most 16384.
    #[arg(long, env = "KONG_NGINX_EVENTS_WORKER_CONNECTIONS", default_value = "auto", value_parser = parse_connections, global = true)]
    nginx_events_worker_connections: WorkerConnections,
    /// Kong's `headers`: the headers added to client responses, comma-separated (`server_tokens`,
    /// `latency_tokens`, `Server`, `Via`, `X-Kong-Proxy-Latency`, `X-Kong-Response-Latency`,
    /// `X-Kong-Admin-Latency`, `X-Kong-Upstream-Latency`, `X-Kong-Upstream-Status`,
    /// `X-Kong-Request-Id`) or `off` (kong.conf.default lines 867-912).
    #[arg(
        long,
        env = "KONG_HEADERS",
        default_value = "server_tokens, latency_tokens, X-Kong-Request-Id",
        global = true
    )]
    headers: String,
    /// Kong's `headers_upstream`: `X-Kong-Request-Id` or `off` (kong.conf.default lines 915-927).
    #[arg(
        long,
        env = "KONG_HEADERS_UPSTREAM",
        default_value = "X-Kong-Request-Id",
        global = true
    )]
    headers_upstream: String,
}

/// The commands, as Kong's CLI (`kong/cmd/*.lua`); none is `start`.
#[derive(Debug, Subcommand)]
enum Command {
    /// Start the gateway (the default; `kong start`).
    Start,
    /// Manage the PostgreSQL schema (`database = postgres`).
    Migrations {
        #[command(subcommand)]
        action: Migrations,
    },
    /// Declarative configuration files (`kong config`).
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Print the Kong version this gateway behaves as (`kong version`).
    Version {
        /// Also this gateway's own version (`kong version --all`).
        #[arg(short, long)]
        all: bool,
    },
    /// Check that a gateway runs at the prefix and that it answers (`kong health`).
    Health,
    /// Reload the declarative file and certificates of the gateway running at the prefix (`kong reload`).
    Reload,
    /// Stop the gateway running at the prefix gracefully (SIGQUIT; `kong quit`).
    Quit,
    /// Stop the gateway running at the prefix at once (SIGTERM; `kong stop`).
    Stop,
}

#[derive(Debug, Clone, Copy, Subcommand)]
enum Migrations {
    /// Create the schema in an empty database (`kong migrations bootstrap`).
    Bootstrap,
    /// Run the migrations a bootstrapped database has not run yet (`kong migrations up`).
    Up,
}

/// `gateway config ...`, as `kong config ...` (`kong/cmd/config.lua`).
#[derive(Debug, Clone, Subcommand)]
enum ConfigAction {
    /// Check a declarative file without starting (`kong config parse <file>`): every error with the file, entry
    /// and field; exit 1 when there is one.
    Parse {
        /// The `kong.yml` (YAML or JSON) to check.
        file: PathBuf,
    },
    /// Write a starter `kong.yml` with both documented session flows (`kong config init [<file>]`).
    Init {
        /// Where to write it; never overwritten.
        #[arg(default_value = gateway::cli::DEFAULT_CONFIG_FILE)]
        file: PathBuf,
    },
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

fn parse_status_listen(value: &str) -> Result<Listens, String> {
    gateway::ListenSpec::parse_list("status_listen", value).map(Listens)
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
    let args = Args::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let prefix = gateway::cli::Prefix::new(&args.prefix);
    let outcome = match &args.command {
        None | Some(Command::Start) => return start(&args, &prefix).await,
        Some(Command::Migrations { action }) => {
            if let Err(err) = init_logging(&args) {
                eprintln!("Error: {err}");
                return ExitCode::FAILURE;
            }
            return migrations(&args, *action).await;
        }
        Some(Command::Version { all }) => Ok(if *all {
            format!(
                "Kong: {}\ngateway: {}",
                gateway::admin::KONG_VERSION,
                env!("CARGO_PKG_VERSION")
            )
        } else {
            gateway::admin::KONG_VERSION.to_owned()
        }),
        Some(Command::Config {
            action: ConfigAction::Parse { file },
        }) => gateway::cli::parse_config(file).map(str::to_owned),
        Some(Command::Config {
            action: ConfigAction::Init { file },
        }) => gateway::cli::init_config(file),
        Some(Command::Health) => prefix.health().await.map(|lines| lines.join("\n")),
        // kong/cmd/reload.lua, quit.lua, stop.lua: HUP, QUIT, TERM to the running node.
        Some(Command::Reload) => prefix
            .signal("HUP")
            .map(|pid| format!("Kong reloaded (SIGHUP sent to pid {pid})")),
        Some(Command::Quit) => prefix
            .signal("QUIT")
            .map(|pid| format!("Kong quitting gracefully (SIGQUIT sent to pid {pid})")),
        Some(Command::Stop) => prefix
            .signal("TERM")
            .map(|pid| format!("Kong stopped (SIGTERM sent to pid {pid})")),
    };
    match outcome {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            // Kong's CLI: "Error: <message>" on stderr, exit 1.
            eprintln!("Error: {err}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(args: &Args) -> Result<(), String> {
    let target = gateway::listener::access_log::Target::parse(&args.proxy_error_log, &args.prefix);
    gateway::logging::init(args.log_level, &target, args.log_format)
}

/// `gateway [start]`: starts the node, records it in the prefix, and serves until a signal says to stop.
async fn start(args: &Args, prefix: &gateway::cli::Prefix) -> ExitCode {
    if let Err(err) = init_logging(args) {
        eprintln!("Error: {err}");
        return ExitCode::FAILURE;
    }
    if let Some(pid) = prefix.running_pid() {
        // kong/cmd/start.lua refuses a second node on one prefix.
        eprintln!(
            "Error: Kong is already running in {} (pid {pid})",
            prefix.dir().display()
        );
        return ExitCode::FAILURE;
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
    let configured =
        gateway::KongHeaders::parse(&args.headers, &args.headers_upstream).and_then(|headers| {
            Ok((
                headers,
                gateway::tls::pair_sources(&args.ssl_cert, &args.ssl_cert_key)?,
                gateway::tls::pair_sources(&args.admin_ssl_cert, &args.admin_ssl_cert_key)
                    .map_err(|e| format!("admin_{e}"))?,
                gateway::tls::pair_sources(&args.status_ssl_cert, &args.status_ssl_cert_key)
                    .map_err(|e| format!("status_{e}"))?,
            ))
        });
    let (headers, certs, admin_certs, status_certs) = match configured {
        Ok(c) => c,
        Err(err) => {
            eprintln!("Error: {err}");
            return ExitCode::FAILURE;
        }
    };
    let access_log =
        gateway::listener::access_log::Target::parse(&args.proxy_access_log, &args.prefix);
    let mut builder = gateway::Gateway::builder()
        .headers(headers)
        .proxy_listens(args.proxy_listen.0.clone())
        .admin_listens(args.admin_listen.0.clone())
        .status_listens(args.status_listen.0.clone())
        .ssl_certs(certs)
        .admin_ssl_certs(admin_certs)
        .status_ssl_certs(status_certs)
        .access_log(access_log, args.log_format)
        .prefix(args.prefix.clone())
        .client_limits(limits)
        .database(args.database)
        .pg(pg_config(args))
        .db_update_frequency(args.db_update_frequency)
        .ttl_cleanup_interval(args.debug_pg_ttl_cleanup_interval);
    if let Some(path) = &args.declarative_config {
        builder = builder.declarative_config(path);
    }
    let mut signals = match Signals::install() {
        Ok(signals) => signals,
        Err(err) => {
            eprintln!("Error: cannot install the signal handlers: {err}");
            return ExitCode::FAILURE;
        }
    };
    let running = match builder.start().await {
        Ok(r) => r,
        Err(err) => {
            eprintln!("Error: {err}");
            return ExitCode::FAILURE;
        }
    };
    let list = |specs: &[gateway::ListenSpec]| {
        specs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (proxy_listen, admin_listen, status_listen) = (
        list(running.proxy_listeners()),
        list(running.admin_listeners()),
        list(running.status_listeners()),
    );
    if let Err(err) = prefix.claim(&[
        ("prefix", args.prefix.display().to_string()),
        ("proxy_listen", proxy_listen.clone()),
        ("admin_listen", admin_listen.clone()),
        (
            "status_listen",
            if status_listen.is_empty() {
                "off".to_owned()
            } else {
                status_listen.clone()
            },
        ),
    ]) {
        tracing::warn!(%err, "the node is not recorded in its prefix: `gateway health` and `gateway reload` will not find it");
    }
    let status = running
        .status_listeners()
        .first()
        .map_or_else(|| "off".to_owned(), |spec| spec.addr.to_string());
    tracing::info!(
        proxy = %running.proxy_addr(), admin = %running.admin_addr(), status = %status,
        %proxy_listen, %admin_listen, pid = std::process::id(),
        "listening; SIGHUP reloads, SIGQUIT drains, SIGTERM or Ctrl-C stops"
    );
    let deadline = signals
        .serve_until_stopped(&running, args.nginx_main_worker_shutdown_timeout)
        .await;
    tracing::info!(?deadline, "shutting down");
    running.shutdown_within(deadline).await;
    prefix.release();
    ExitCode::SUCCESS
}

/// The signals a node acts on, installed before it says it is listening (a signal that arrives earlier would
/// otherwise get the default action: SIGHUP and SIGQUIT would kill the process).
#[cfg(unix)]
struct Signals {
    hup: tokio::signal::unix::Signal,
    quit: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            hup: signal(SignalKind::hangup())?,
            quit: signal(SignalKind::quit())?,
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// Reloads on SIGHUP until SIGQUIT (returns the drain deadline) or SIGTERM / SIGINT (returns zero: stop
    /// now), as nginx under Kong.
    async fn serve_until_stopped(
        &mut self,
        running: &gateway::RunningGateway,
        drain: Duration,
    ) -> Duration {
        loop {
            tokio::select! {
                _ = self.hup.recv() => {
                    tracing::info!("SIGHUP: reloading the declarative configuration and certificates");
                    // Every error is logged by `reload`; the running configuration is kept.
                    let _ = running.reload().await;
                }
                _ = self.quit.recv() => {
                    tracing::info!(?drain, "SIGQUIT: draining");
                    return drain;
                }
                _ = self.term.recv() => return Duration::ZERO,
                _ = self.int.recv() => return Duration::ZERO,
            }
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn install() -> std::io::Result<Self> {
        Ok(Self)
    }

    async fn serve_until_stopped(
        &mut self,
        _running: &gateway::RunningGateway,
        _drain: Duration,
    ) -> Duration {
        let _ = tokio::signal::ctrl_c().await;
        Duration::ZERO
    }
}
