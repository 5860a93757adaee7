//! `cargo run -p steps --bin demo`: both documented session-authentication flows, running, with nothing else to
//! set up.
//!
//! Starts the echo upstream, the embedded identity provider (realm `kong` of `fixtures/idp/realm-kong.json`:
//! client `kong`, user `john` / `doe`; issuer `http://127.0.0.1:8080/realms/kong`) and the reference gateway
//! loaded with `fixtures/config/demo.yaml`: the key-auth + session flow on `/anything`, the OpenID Connect
//! password grant + session flow on `/`. Prints what listens where and the commands of Kong's how-tos, and runs
//! until Ctrl-C (or SIGTERM).

use std::error::Error;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use steps::idp::Idp;
use steps::{EchoUpstream, fixture};
use tracing_subscriber::EnvFilter;

/// Runs the reference gateway with both documented flows, an echo upstream and an identity provider.
#[derive(Debug, Parser)]
#[command(name = "demo", version)]
struct Args {
    /// Address of the echo upstream the services proxy to.
    #[arg(long, env = "DEMO_UPSTREAM_LISTEN", default_value_t = fixture::KEY_AUTH_SESSION_UPSTREAM)]
    upstream_listen: SocketAddr,

    /// Address of the embedded identity provider (the issuer is http://<address>/realms/kong).
    #[arg(long, env = "DEMO_IDP_LISTEN", default_value_t = fixture::DEMO_IDP)]
    idp_listen: SocketAddr,

    /// Address of the gateway's proxy listener.
    #[arg(long, env = "DEMO_PROXY_LISTEN", default_value = "127.0.0.1:8000")]
    proxy_listen: SocketAddr,

    /// Address of the gateway's Admin API listener.
    #[arg(long, env = "DEMO_ADMIN_LISTEN", default_value = "127.0.0.1:8001")]
    admin_listen: SocketAddr,

    /// Declarative config to load instead of fixtures/config/demo.yaml (used as is).
    #[arg(long, env = "DEMO_CONFIG")]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "demo failed");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn Error>> {
    let upstream = EchoUpstream::builder()
        .listen(args.upstream_listen)
        .record_requests(false)
        .start()
        .await
        .map_err(|e| {
            format!(
                "cannot start the echo upstream on {}: {e}",
                args.upstream_listen
            )
        })?;
    let idp = Idp::builder()
        .listen(args.idp_listen)
        .start()
        .await
        .map_err(|e| {
            format!(
                "cannot start the identity provider on {}: {e}",
                args.idp_listen
            )
        })?;
    let (config, copied) = match args.config {
        Some(config) => (config, false),
        None => {
            let config = fixture::demo_for(upstream.addr(), idp.issuer())?;
            let copied = config != fixture::demo();
            (config, copied)
        }
    };
    let gateway = gateway::Gateway::builder()
        .proxy_listen(args.proxy_listen)
        .admin_listen(args.admin_listen)
        .declarative_config(&config)
        .start()
        .await
        .map_err(|e| format!("cannot start the gateway with {}: {e}", config.display()))?;
    tracing::info!(
        upstream = %upstream.addr(),
        issuer = %idp.issuer(),
        proxy = %gateway.proxy_addr(),
        admin = %gateway.admin_addr(),
        config = %config.display(),
        "demo listening"
    );

    let proxy_addr = gateway.proxy_addr();
    let proxy = format!("http://{proxy_addr}");
    // HTTPie's `:8000` means localhost:8000.
    let httpie = if proxy_addr.ip().is_loopback() {
        format!(":{}", proxy_addr.port())
    } else {
        proxy.clone()
    };
    println!();
    println!("echo upstream       {}", upstream.uri());
    println!(
        "identity provider   {}  (client kong, user john / doe)",
        idp.issuer()
    );
    println!("gateway proxy       {proxy}");
    println!("gateway admin       http://{}", gateway.admin_addr());
    println!("config              {}", config.display());
    println!();
    println!(
        "OpenID Connect, password grant + session (Kong: openid-connect \"Session authentication\"), on /:"
    );
    let oidc = [
        (
            "log in: 200, the upstream sees Authorization: Bearer <token>; Set-Cookie: session=...; Path=/; SameSite=Lax; HttpOnly",
            format!("http -v -a john:doe --session=john {httpie}"),
        ),
        (
            "with only the session cookie: 200, the upstream sees the Bearer token again",
            format!("http -v --session=john {httpie}"),
        ),
        (
            "the same with curl and a cookie jar",
            format!("curl -i -u john:doe -c jar {proxy}/\n  curl -i -b jar {proxy}/"),
        ),
        (
            r#"no credentials: 401 {"message":"Unauthorized"}, WWW-Authenticate: Bearer ..."#,
            format!("curl -i {proxy}/"),
        ),
    ];
    for (what, command) in oidc {
        println!("\n  # {what}\n  {command}");
    }
    println!();
    println!(
        "Key-auth + session (Kong: \"Authenticate Consumers with the Key Auth and Sessions plugins\"), on /anything:"
    );
    let key_auth = [
        (
            r#"anonymous: 403 {"message":"Forbidden"}"#,
            format!("curl -i {proxy}/anything"),
        ),
        (
            "with the key: 200 and Set-Cookie: session=...; Path=/; SameSite=Strict; HttpOnly",
            format!("curl -i {proxy}/anything -H 'apikey: hello_world' -c cookies.txt"),
        ),
        (
            "with only the session cookie: 200",
            format!("curl -i {proxy}/anything -b cookies.txt"),
        ),
        (
            "log out: 200, empty body, expiring cookie; the old cookie no longer works (storage: kong)",
            format!(
                "curl -i -X DELETE '{proxy}/anything?session_logout' -b cookies.txt -c cookies.txt"
            ),
        ),
        (
            "the same with HTTPie",
            format!(
                "http {httpie}/anything apikey:hello_world --session=alex\n  http {httpie}/anything --session=alex"
            ),
        ),
    ];
    for (what, command) in key_auth {
        println!("\n  # {what}\n  {command}");
    }
    println!("\nCtrl-C to stop.");

    shutdown_signal().await?;
    tracing::info!("shutting down");
    gateway.shutdown().await;
    drop(idp);
    drop(upstream);
    if copied {
        let _ = std::fs::remove_file(&config);
    }
    Ok(())
}

/// Resolves on Ctrl-C, or on SIGTERM where there is one.
async fn shutdown_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result,
            _ = terminate.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}
