//! `cargo run -p steps --bin demo`: the documented key-auth + session flow, running, with nothing else to set up.
//!
//! Starts the echo upstream and the reference gateway loaded with `fixtures/config/key-auth-session.yaml`, prints
//! what listens where and the curl commands of Kong's how-to, and runs until Ctrl-C (or SIGTERM).

use std::error::Error;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use steps::{EchoUpstream, fixture};
use tracing_subscriber::EnvFilter;

/// Runs the reference gateway with the documented key-auth + session config and an echo upstream.
#[derive(Debug, Parser)]
#[command(name = "demo", version)]
struct Args {
    /// Address of the echo upstream the example service proxies to.
    #[arg(long, env = "DEMO_UPSTREAM_LISTEN", default_value_t = fixture::KEY_AUTH_SESSION_UPSTREAM)]
    upstream_listen: SocketAddr,

    /// Address of the gateway's proxy listener.
    #[arg(long, env = "DEMO_PROXY_LISTEN", default_value = "127.0.0.1:8000")]
    proxy_listen: SocketAddr,

    /// Address of the gateway's Admin API listener.
    #[arg(long, env = "DEMO_ADMIN_LISTEN", default_value = "127.0.0.1:8001")]
    admin_listen: SocketAddr,

    /// Declarative config to load instead of fixtures/config/key-auth-session.yaml (used as is).
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
    let (config, copied) = match args.config {
        Some(config) => (config, false),
        None => {
            let config = fixture::key_auth_session_for(upstream.addr())?;
            let copied = config != fixture::key_auth_session();
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
        proxy = %gateway.proxy_addr(),
        admin = %gateway.admin_addr(),
        config = %config.display(),
        "demo listening"
    );

    let proxy = format!("http://{}", gateway.proxy_addr());
    println!();
    println!("echo upstream   {}", upstream.uri());
    println!("gateway proxy   {proxy}");
    println!("gateway admin   http://{}", gateway.admin_addr());
    println!("config          {}", config.display());
    println!();
    println!(
        "The documented flow (Kong: \"Authenticate Consumers with the Key Auth and Sessions plugins\"):"
    );
    let flow = [
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
    ];
    for (what, command) in flow {
        println!("\n  # {what}\n  {command}");
    }
    println!("\nCtrl-C to stop.");

    shutdown_signal().await?;
    tracing::info!("shutting down");
    gateway.shutdown().await;
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
