//! `soak`: the driver of `ci/soak.sh`, a bounded soak of the gateway binary on loopback.
//!
//! It starts an upstream on 127.0.0.1:0, starts the given gateway binary on free loopback ports with
//! `fixtures/config/key-auth-session.yaml` pointed at that upstream and a short client header timeout, then for
//! the given time runs side by side: clients that log in with the key, use their session cookie, log out and
//! check that the old cookie is anonymous again; slow clients that send half a request header and must be
//! disconnected after `client_header_timeout`; Admin API writers that create a consumer with a key, use the key,
//! and delete the consumer. Every ~10 s it prints the requests so far, the unexpected outcomes, and the
//! gateway's RSS (`VmRSS` in `/proc/PID/status`). It fails (exit 1) when any outcome was unexpected or the RSS
//! grew more than the allowed share from the first sample after the warm-up (`--warmup`, default half the run)
//! to the last; its last line says pass or fail.
//!
//! ```text
//! soak --gateway target/release/gateway --config fixtures/config/key-auth-session.yaml --seconds 180
//! ```

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The gateway's `client_header_timeout` during the soak.
const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a slow client may wait past the header timeout to be disconnected.
const CLOSE_MARGIN: Duration = Duration::from_secs(3);
/// The key-auth credential of `alex` in the fixture.
const KEY: &str = "hello_world";

/// Command-line options (`--name value`).
struct Options {
    gateway: PathBuf,
    config: PathBuf,
    seconds: u64,
    clients: usize,
    slow: usize,
    writers: usize,
    sample: u64,
    /// Seconds before the first warm RSS sample (default: half the run).
    warmup: Option<u64>,
    max_growth_percent: u64,
}

impl Options {
    fn parse() -> Result<Self, String> {
        let mut options = Self {
            gateway: PathBuf::from("target/release/gateway"),
            config: PathBuf::from("fixtures/config/key-auth-session.yaml"),
            seconds: 180,
            clients: 4,
            slow: 4,
            writers: 2,
            sample: 10,
            warmup: None,
            max_growth_percent: 20,
        };
        let mut args = std::env::args().skip(1);
        while let Some(name) = args.next() {
            let value = args.next().ok_or(format!("{name} needs a value"))?;
            let number = || value.parse::<u64>().map_err(|e| format!("{name}: {e}"));
            match name.as_str() {
                "--gateway" => options.gateway = PathBuf::from(&value),
                "--config" => options.config = PathBuf::from(&value),
                "--seconds" => options.seconds = number()?,
                "--clients" => options.clients = number()? as usize,
                "--slow" => options.slow = number()? as usize,
                "--writers" => options.writers = number()? as usize,
                "--sample" => options.sample = number()?.max(1),
                "--warmup" => options.warmup = Some(number()?),
                "--max-growth-percent" => options.max_growth_percent = number()?,
                _ => return Err(format!("unknown option {name}")),
            }
        }
        Ok(options)
    }
}

/// What the workers count.
#[derive(Default)]
struct Stats {
    requests: AtomicU64,
    slow_closed: AtomicU64,
    unexpected: Mutex<BTreeMap<String, u64>>,
}

impl Stats {
    fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    fn unexpected(&self, what: String) {
        *self
            .unexpected
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(what)
            .or_default() += 1;
    }

    fn unexpected_total(&self) -> u64 {
        self.unexpected
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .sum()
    }

    /// Counts a request and checks its status.
    fn expect(&self, what: &str, got: Result<reqwest::StatusCode, reqwest::Error>, want: u16) {
        self.request();
        match got {
            Ok(status) if status.as_u16() == want => {}
            Ok(status) => self.unexpected(format!("{what}: {status} (want {want})")),
            Err(err) => self.unexpected(format!("{what}: {}", error_kind(&err))),
        }
    }
}

fn error_kind(err: &reqwest::Error) -> &'static str {
    if err.is_timeout() {
        "timeout"
    } else if err.is_connect() {
        "connect error"
    } else {
        "request error"
    }
}

/// An upstream that answers 200 `{}` to everything.
async fn upstream() -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|_req| async {
                    Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(b"{}"))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}

/// A free loopback port (bound and released; the gateway binds it right after).
fn free_port() -> std::io::Result<SocketAddr> {
    std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()
}

/// The gateway process; killed on drop.
struct Gateway(Child);

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The gateway's resident set size in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Log in with the key, use the cookie, log out, and check the old cookie no longer opens a session.
async fn login_client(proxy: String, stats: Arc<Stats>, stop: Arc<AtomicBool>) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(c) => c,
        Err(_) => return stats.unexpected("client build".into()),
    };
    let url = format!("{proxy}/anything");
    while !stop.load(Ordering::Relaxed) {
        let login = client.get(&url).header("apikey", KEY).send().await;
        stats.request();
        let cookie = match login {
            Ok(resp) if resp.status() == 200 => resp
                .headers()
                .get("set-cookie")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(';').next())
                .map(str::to_owned),
            Ok(resp) => {
                stats.unexpected(format!("login: {}", resp.status()));
                continue;
            }
            Err(err) => {
                stats.unexpected(format!("login: {}", error_kind(&err)));
                continue;
            }
        };
        let Some(cookie) = cookie else {
            stats.unexpected("login: no Set-Cookie".into());
            continue;
        };
        for _ in 0..3 {
            let used = client.get(&url).header("cookie", &cookie).send().await;
            stats.expect("session", used.map(|r| r.status()), 200);
        }
        let logout = client
            .delete(format!("{url}?session_logout"))
            .header("cookie", &cookie)
            .send()
            .await;
        stats.expect("logout", logout.map(|r| r.status()), 200);
        let after = client.get(&url).header("cookie", &cookie).send().await;
        stats.expect("after logout", after.map(|r| r.status()), 403);
        let anonymous = client.get(&url).send().await;
        stats.expect("anonymous", anonymous.map(|r| r.status()), 403);
    }
}

/// Half a request header, then silence: the gateway must close the connection after its header timeout.
async fn slow_client(proxy: SocketAddr, stats: Arc<Stats>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut stream) = tokio::net::TcpStream::connect(proxy).await else {
            stats.unexpected("slow: connect error".into());
            continue;
        };
        let started = Instant::now();
        if stream
            .write_all(b"GET /anything HTTP/1.1\r\nHost: soak\r\napikey: hel")
            .await
            .is_err()
        {
            stats.unexpected("slow: write error".into());
            continue;
        }
        let mut buf = [0u8; 1024];
        let read = tokio::time::timeout(HEADER_TIMEOUT + CLOSE_MARGIN, async {
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return true,
                    // nginx answers a slow header with 408 before closing; closing alone is fine too.
                    Ok(_) => continue,
                }
            }
        })
        .await;
        match read {
            Ok(_) if started.elapsed() + Duration::from_millis(200) >= HEADER_TIMEOUT => {
                stats.slow_closed.fetch_add(1, Ordering::Relaxed);
            }
            Ok(_) => stats.unexpected("slow: closed before the header timeout".into()),
            Err(_) => stats.unexpected("slow: still open after the header timeout".into()),
        }
    }
}

/// Create a consumer with a key, use the key, delete the consumer (its key goes with it).
async fn admin_writer(
    n: usize,
    admin: String,
    proxy: String,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
) {
    let Ok(client) = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    else {
        return stats.unexpected("client build".into());
    };
    let mut round = 0u64;
    while !stop.load(Ordering::Relaxed) {
        round += 1;
        let name = format!("soak-{n}-{round}");
        let key = format!("soak-key-{n}-{round}");
        let created = client
            .post(format!("{admin}/consumers"))
            .json(&serde_json::json!({ "username": name }))
            .send()
            .await;
        stats.expect("admin create consumer", created.map(|r| r.status()), 201);
        let credential = client
            .post(format!("{admin}/consumers/{name}/key-auth"))
            .form(&[("key", key.as_str())])
            .send()
            .await;
        stats.expect("admin create key", credential.map(|r| r.status()), 201);
        let used = client
            .get(format!("{proxy}/anything"))
            .header("apikey", &key)
            .send()
            .await;
        stats.expect("new key", used.map(|r| r.status()), 200);
        let deleted = client
            .delete(format!("{admin}/consumers/{name}"))
            .send()
            .await;
        stats.expect("admin delete consumer", deleted.map(|r| r.status()), 204);
        let gone = client
            .get(format!("{proxy}/anything"))
            .header("apikey", &key)
            .send()
            .await;
        // A key-auth key that no longer exists falls back to the anonymous consumer: 403.
        stats.expect("deleted key", gone.map(|r| r.status()), 403);
    }
}

async fn wait_ready(admin: &str, child: &mut Child) -> Result<(), String> {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("the gateway exited: {status}"));
        }
        if let Ok(resp) = client.get(format!("{admin}/status")).send().await
            && resp.status() == 200
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err("the gateway did not answer /status within 60 s".into())
}

async fn run(options: Options) -> Result<bool, String> {
    let upstream = upstream().await.map_err(|e| format!("upstream: {e}"))?;
    let fixture = std::fs::read_to_string(&options.config)
        .map_err(|e| format!("{}: {e}", options.config.display()))?;
    let config = fixture.replace("http://127.0.0.1:9080", &format!("http://{upstream}"));
    let config_path = std::env::temp_dir().join(format!("soak-{}.yaml", std::process::id()));
    std::fs::write(&config_path, config).map_err(|e| format!("{}: {e}", config_path.display()))?;

    let proxy_addr = free_port().map_err(|e| e.to_string())?;
    let admin_addr = free_port().map_err(|e| e.to_string())?;
    let log_path = std::env::temp_dir().join(format!("soak-gateway-{}.log", std::process::id()));
    let log = std::fs::File::create(&log_path).map_err(|e| e.to_string())?;
    let child = Command::new(&options.gateway)
        .arg("--declarative-config")
        .arg(&config_path)
        .args(["--proxy-listen", &proxy_addr.to_string()])
        .args(["--admin-listen", &admin_addr.to_string()])
        .args(["--nginx-http-client-header-timeout", "2s"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("{}: {e}", options.gateway.display()))?;
    let pid = child.id();
    let mut gateway = Gateway(child);
    let proxy = format!("http://{proxy_addr}");
    let admin = format!("http://{admin_addr}");
    wait_ready(&admin, &mut gateway.0).await?;
    println!(
        "soak: gateway pid {pid} proxy {proxy_addr} admin {admin_addr}, upstream {upstream}; {} s with {} login \
         clients, {} slow clients, {} admin writers (gateway log: {})",
        options.seconds,
        options.clients,
        options.slow,
        options.writers,
        log_path.display()
    );

    let stats = Arc::new(Stats::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..options.clients {
        tasks.push(tokio::spawn(login_client(
            proxy.clone(),
            Arc::clone(&stats),
            Arc::clone(&stop),
        )));
    }
    for _ in 0..options.slow {
        tasks.push(tokio::spawn(slow_client(
            proxy_addr,
            Arc::clone(&stats),
            Arc::clone(&stop),
        )));
    }
    for n in 0..options.writers {
        tasks.push(tokio::spawn(admin_writer(
            n,
            admin.clone(),
            proxy.clone(),
            Arc::clone(&stats),
            Arc::clone(&stop),
        )));
    }

    let started = Instant::now();
    let total = Duration::from_secs(options.seconds);
    // (seconds since the start, RSS in KiB)
    let mut samples: Vec<(u64, u64)> = Vec::new();
    while started.elapsed() < total {
        let left = total.saturating_sub(started.elapsed());
        tokio::time::sleep(left.min(Duration::from_secs(options.sample))).await;
        if let Ok(Some(status)) = gateway.0.try_wait() {
            stats.unexpected(format!("the gateway exited: {status}"));
            break;
        }
        let rss = rss_kib(pid).unwrap_or(0);
        samples.push((started.elapsed().as_secs(), rss));
        println!(
            "soak: t={:>4}s requests={} slow_closed={} unexpected={} rss={} KiB",
            started.elapsed().as_secs(),
            stats.requests.load(Ordering::Relaxed),
            stats.slow_closed.load(Ordering::Relaxed),
            stats.unexpected_total(),
            rss
        );
    }
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(15), task).await;
    }
    drop(gateway);
    let _ = std::fs::remove_file(&config_path);

    let unexpected = stats.unexpected_total();
    for (what, count) in stats
        .unexpected
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
    {
        println!("soak: unexpected {what}: {count}");
    }
    // RSS rises while the allocator's pages, connection pools and buffers reach their working size (about a
    // minute under this load); it must then stay flat: compare the first sample after the warm-up with the last.
    let warmup = options.warmup.unwrap_or(options.seconds / 2);
    let warm = samples
        .iter()
        .find(|(t, _)| *t >= warmup)
        .or(samples.last())
        .map_or(0, |s| s.1);
    let last = samples.last().map_or(0, |s| s.1);
    let limit = warm + warm * options.max_growth_percent / 100;
    let rss_ok = warm > 0 && last <= limit;
    println!(
        "soak: requests={} slow_closed={} unexpected={unexpected} rss warm (t>={warmup}s)={warm} KiB last={last} KiB (limit {limit} KiB)",
        stats.requests.load(Ordering::Relaxed),
        stats.slow_closed.load(Ordering::Relaxed),
    );
    Ok(unexpected == 0 && rss_ok && stats.slow_closed.load(Ordering::Relaxed) > 0)
}

#[tokio::main]
async fn main() -> ExitCode {
    // reqwest is built without a TLS provider of its own (the workspace's `rustls-no-provider`).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let options = match Options::parse() {
        Ok(o) => o,
        Err(err) => {
            eprintln!("soak: {err}");
            return ExitCode::from(2);
        }
    };
    match run(options).await {
        Ok(true) => {
            println!("soak: PASS");
            ExitCode::SUCCESS
        }
        Ok(false) => {
            println!("soak: FAIL");
            ExitCode::FAILURE
        }
        Err(err) => {
            println!("soak: FAIL: {err}");
            ExitCode::FAILURE
        }
    }
}
