//! Kong's traditional mode on a real, private PostgreSQL (issue 10): the schema commands and the start-up
//! check, two gateway nodes on one database (an entity written through one node serves on the other
//! within `db_update_frequency` + 1 s; a delete on the other stops it on the first), and `storage: kong`
//! sessions shared by the nodes, surviving a restart of both, their expired rows deleted by the cleanup
//! timer. Everything is checked from outside: Admin API, proxy, the rows in the database.
//!
//! Runs with `cargo test -p gateway --test postgres`; needs Debian's `postgresql` (`ci/setup.sh`).

#![allow(clippy::unwrap_used)]

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use reqwest::Method;
use serde_json::{Value, json};

use gateway::store::postgres::{PgStore, migrations};
use support::PgServer;
use support::node::{
    Logs, UPDATE_FREQUENCY, admin, admin_delete, admin_post, client, echo_upstream, get, node,
    until_plugins, until_status,
};

/// The tests of this file run one at a time: each starts its own PostgreSQL and up to two nodes, and
/// on a small machine several at once starve each other past PostgreSQL's 5 s timeouts.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn bootstrapped(pg: &PgServer) -> PgStore {
    let store = PgStore::new(&pg.config()).unwrap();
    migrations::bootstrap(&store).await.unwrap();
    store
}

/// The key-auth + session flow created entity by entity through `gw`'s Admin API, with
/// `storage: kong`; returns the ids to delete: plugins (session, request-termination, key-auth),
/// route, consumers (anonymous, alex), service.
async fn provision(gw: &gateway::RunningGateway, upstream: SocketAddr, path: &str) -> Vec<String> {
    let name = path.trim_start_matches('/');
    let service = admin_post(
        gw,
        "/services",
        json!({ "name": name, "url": format!("http://{upstream}/anything") }),
    )
    .await;
    let route = admin_post(
        gw,
        &format!("/services/{name}/routes"),
        json!({ "name": name, "paths": [path] }),
    )
    .await;
    let consumer = admin_post(
        gw,
        "/consumers",
        json!({ "username": format!("alex-{name}") }),
    )
    .await;
    admin_post(
        gw,
        &format!("/consumers/alex-{name}/key-auth"),
        json!({ "key": format!("key-{name}") }),
    )
    .await;
    // Kong's documented flow: key-auth lets the session's consumer through only with an
    // anonymous consumer, whom request-termination answers 403.
    let anonymous = admin_post(
        gw,
        "/consumers",
        json!({ "username": format!("anonymous-{name}") }),
    )
    .await;
    let key_auth = admin_post(
        gw,
        &format!("/services/{name}/plugins"),
        json!({ "name": "key-auth", "config": { "key_names": ["apikey"], "anonymous": anonymous["id"] } }),
    )
    .await;
    let termination = admin_post(
        gw,
        &format!("/services/{name}/plugins"),
        json!({ "name": "request-termination", "consumer": { "id": anonymous["id"] },
                "config": { "status_code": 403, "message": "Forbidden" } }),
    )
    .await;
    let session = admin_post(
        gw,
        &format!("/services/{name}/plugins"),
        json!({ "name": "session", "config": {
            "storage": "kong", "cookie_secure": false, "secret": "shared-secret-of-both-nodes" } }),
    )
    .await;
    [
        session,
        termination,
        key_auth,
        route,
        anonymous,
        consumer,
        service,
    ]
    .iter()
    .map(|e| e["id"].as_str().unwrap().to_owned())
    .collect()
}

#[tokio::test]
async fn start_needs_bootstrap_and_up_names_the_command() {
    let _serial = SERIAL.lock().await;
    let pg = PgServer::start();
    let clock = gateway::Clock::manual();
    let start = || node(&pg, &clock).builder().start();
    let err = start().await.unwrap_err().to_string();
    assert_eq!(
        err,
        "Database needs bootstrapping; run 'gateway migrations bootstrap'"
    );

    let store = PgStore::new(&pg.config()).unwrap();
    let lines = migrations::bootstrap(&store).await.unwrap();
    assert!(
        lines.contains(&"core migrated up to: 000_base".to_owned()),
        "{lines:?}"
    );
    assert_eq!(lines.last().unwrap(), "Database is up-to-date");
    assert_eq!(
        migrations::bootstrap(&store).await.unwrap(),
        vec!["Database already bootstrapped".to_owned()]
    );
    assert_eq!(
        pg.psql("SELECT column_name FROM information_schema.columns WHERE table_name = 'sessions' ORDER BY ordinal_position"),
        "id\nsession_id\nexpires\ndata\ncreated_at\nttl"
    );

    // An older schema: the last migration of the session plugin not run yet.
    pg.psql("DROP TABLE sessions");
    pg.psql("UPDATE schema_meta SET executed = '{}' WHERE subsystem = 'session'");
    let err = start().await.unwrap_err().to_string();
    assert_eq!(
        err,
        "New migrations available; run 'gateway migrations up' to proceed"
    );
    let lines = migrations::up(&store).await.unwrap();
    assert_eq!(
        lines,
        vec!["session migrated up to: 000_0_1", "Database is up-to-date"]
    );
    assert_eq!(
        migrations::up(&store).await.unwrap(),
        vec!["Database is already up-to-date".to_owned()]
    );
    let gw = start().await.unwrap();
    let root: Value = client()
        .get(format!("http://{}/", gw.admin_addr()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(root["configuration"]["database"], "postgres");
}

#[tokio::test]
async fn two_nodes_share_entities_within_db_update_frequency() {
    let _serial = SERIAL.lock().await;
    let pg = PgServer::start();
    bootstrapped(&pg).await;
    let upstream = echo_upstream().await;
    let clock = gateway::Clock::manual();
    let a = node(&pg, &clock).start().await;
    let b = node(&pg, &clock).start().await;
    let within = UPDATE_FREQUENCY + Duration::from_secs(1);

    let ids = provision(&a, upstream, "/shared").await;
    let key = [("apikey", "key-shared")];
    assert_eq!(
        get(&a, "/shared", &key).await.0,
        200,
        "served at once by the node written to"
    );
    until_status(&b, "/shared", &key, 200, within).await;
    until_status(&b, "/shared", &[], 403, within).await;

    // Every entity is a row, with Kong's table names.
    for (table, count) in [
        ("services", 1),
        ("routes", 1),
        ("consumers", 2),
        ("plugins", 3),
        ("keyauth_credentials", 1),
    ] {
        assert_eq!(
            pg.psql(&format!("SELECT count(*) FROM {table}")),
            count.to_string(),
            "{table}"
        );
    }

    // Deleted through B: stops on A.
    let [plugins @ .., route, anonymous, consumer, service] = ids.as_slice() else {
        unreachable!()
    };
    for plugin in plugins {
        admin_delete(&b, &format!("/plugins/{plugin}")).await;
    }
    admin_delete(&b, &format!("/consumers/{consumer}")).await;
    admin_delete(&b, &format!("/consumers/{anonymous}")).await;
    admin_delete(&b, &format!("/routes/{route}")).await;
    admin_delete(&b, &format!("/services/{service}")).await;
    until_status(&a, "/shared", &key, 404, within).await;
    for table in [
        "services",
        "routes",
        "consumers",
        "plugins",
        "keyauth_credentials",
    ] {
        assert_eq!(
            pg.psql(&format!("SELECT count(*) FROM {table}")),
            "0",
            "{table}"
        );
    }

    // A write on B after A wrote sees A's entities (uniqueness across nodes).
    admin_post(&a, "/consumers", json!({ "username": "only-once" })).await;
    let (status, _) = admin(
        &b,
        Method::POST,
        "/consumers",
        Some(json!({ "username": "only-once" })),
    )
    .await;
    assert_eq!(status, 409);

    // Declarative configuration is for DB-less nodes: Kong's 400 (`kong/api/routes/config.lua`).
    let refused = json!({
        "message": "this endpoint is only available when Kong is configured to not use a database"
    });
    let doc = json!({ "_format_version": "3.0", "consumers": [{ "username": "declared" }] });
    assert_eq!(
        admin(&a, Method::POST, "/config", Some(doc)).await,
        (400, refused.clone())
    );
    assert_eq!(
        admin(&a, Method::GET, "/config", None).await,
        (400, refused)
    );
    assert_eq!(
        pg.psql("SELECT count(*) FROM consumers WHERE username = 'declared'"),
        "0"
    );
}

/// Other nodes hear of a write at once (`NOTIFY` in the write's transaction), not at their next poll:
/// with `db_update_frequency` at a minute, an entity written through A serves on B within a second, and
/// its deletion through B stops it on A as fast.
#[tokio::test]
async fn a_write_reaches_other_nodes_by_notification_before_the_next_poll() {
    let _serial = SERIAL.lock().await;
    let pg = PgServer::start();
    bootstrapped(&pg).await;
    let upstream = echo_upstream().await;
    let clock = gateway::Clock::manual();
    let minute = Duration::from_secs(60);
    let a = node(&pg, &clock).update_frequency(minute).start().await;
    let b = node(&pg, &clock).update_frequency(minute).start().await;
    let within = Duration::from_secs(1);

    let service = admin_post(
        &a,
        "/services",
        json!({ "name": "told", "url": format!("http://{upstream}/anything") }),
    )
    .await;
    until_status(&b, "/told", &[], 404, within).await;
    let route = admin_post(
        &a,
        "/services/told/routes",
        json!({ "name": "told", "paths": ["/told"] }),
    )
    .await;
    until_status(&b, "/told", &[], 200, within).await;
    admin_delete(&b, &format!("/routes/{}", route["id"].as_str().unwrap())).await;
    admin_delete(
        &b,
        &format!("/services/{}", service["id"].as_str().unwrap()),
    )
    .await;
    until_status(&a, "/told", &[], 404, within).await;
}

#[tokio::test]
async fn kong_sessions_are_shared_survive_restarts_and_expire() {
    let _serial = SERIAL.lock().await;
    let pg = PgServer::start();
    bootstrapped(&pg).await;
    let upstream = echo_upstream().await;
    let clock = gateway::Clock::manual();
    let a = node(&pg, &clock).start().await;
    let b = node(&pg, &clock).start().await;
    let within = UPDATE_FREQUENCY + Duration::from_secs(1);
    provision(&a, upstream, "/sess").await;
    until_plugins(&b, 3, UPDATE_FREQUENCY + Duration::from_secs(1)).await;
    until_status(&b, "/sess", &[("apikey", "key-sess")], 200, within).await;

    // Logged in on A: the session is a row, and opens on B.
    let rows = |pg: &PgServer| {
        pg.psql("SELECT count(*) FROM sessions")
            .parse::<u32>()
            .unwrap()
    };
    let before = rows(&pg);
    let (status, cookie) = get(&a, "/sess", &[("apikey", "key-sess")]).await;
    assert_eq!(status, 200);
    let cookie = format!("session={}", cookie.expect("a session cookie"));
    assert_eq!(rows(&pg), before + 1);
    assert_eq!(get(&b, "/sess", &[("cookie", &cookie)]).await.0, 200);

    // Logged out on B: ended on A, whose cache of verified rows held the session (A saved it). B's
    // notification drops it there within moments (Kong: within `db_update_frequency`, through its
    // cluster events).
    let logout = client()
        .delete(format!("http://{}/sess?session_logout", b.proxy_addr()))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status().as_u16(), 200);
    until_status(
        &a,
        "/sess",
        &[("cookie", &cookie)],
        403,
        Duration::from_secs(1),
    )
    .await;
    assert_eq!(get(&b, "/sess", &[("cookie", &cookie)]).await.0, 403);

    // A new session survives a restart of both nodes.
    let (_, second) = get(&a, "/sess", &[("apikey", "key-sess")]).await;
    let second = format!("session={}", second.expect("a session cookie"));
    a.shutdown().await;
    b.shutdown().await;
    let a = node(&pg, &clock).start().await;
    let b = node(&pg, &clock).start().await;
    assert_eq!(get(&a, "/sess", &[("cookie", &second)]).await.0, 200);
    assert_eq!(get(&b, "/sess", &[("cookie", &second)]).await.0, 200);

    // Past its rolling timeout (Kong's default 3600 s) the session is gone, and the cleanup timer
    // deletes its row.
    assert_ne!(rows(&pg), 0);
    clock.advance(3601 + 10);
    assert_eq!(get(&b, "/sess", &[("cookie", &second)]).await.0, 403);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = pg.psql("SELECT count(*) FROM sessions");
        if left == "0" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{left} expired session rows still there"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs the `gateway` binary with Kong's environment for `pg` and `args`; at most 30 s.
fn gateway_cli(pg: &PgServer, args: &[&str]) -> std::process::Output {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gateway"))
        .args([
            "--proxy-listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .args(args)
        .env("KONG_DATABASE", "postgres")
        .env("KONG_PG_HOST", "127.0.0.1")
        .env("KONG_PG_PORT", pg.port().to_string())
        .env("NO_COLOR", "1")
        // A private prefix (pid file) and no Status API on its fixed port: tests run side by side.
        .env("KONG_PREFIX", support::process::temp_prefix())
        .env("KONG_STATUS_LISTEN", "off")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("gateway {args:?} did not exit within 30 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn the_binary_refuses_an_empty_database_and_bootstraps_it() {
    let _serial = SERIAL.blocking_lock();
    let pg = PgServer::start();
    let out = gateway_cli(&pg, &[]);
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "Error: Database needs bootstrapping; run 'gateway migrations bootstrap'"
    );
    let out = gateway_cli(&pg, &["migrations", "bootstrap"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("Bootstrapping database...\n"),
        "{stdout}"
    );
    assert!(stdout.ends_with("Database is up-to-date\n"), "{stdout}");
    let out = gateway_cli(&pg, &["migrations", "up"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Database is already up-to-date\n"
    );
}

/// Issue 10, item 4: PostgreSQL stopped under traffic. Routes keep serving from the last snapshot; a
/// session this node verified before keeps opening from its cache (as from Kong's `kong.cache`); a
/// session it never saw cannot be looked up and is "not present", as Kong's session plugin treats a
/// storage error (`kong/plugins/session/access.lua`), so the anonymous consumer is refused; an Admin
/// API write answers Kong's 500 and changes nothing. Each failure is logged once per interval, not per
/// request. When the server is back everything works again without a restart, and nothing
/// acknowledged before the outage is lost. Runs on one thread, so that the test captures its logs.
#[tokio::test]
async fn a_database_outage_keeps_routes_serving_and_recovers() {
    let _serial = SERIAL.lock().await;
    let pg = PgServer::start();
    bootstrapped(&pg).await;
    let upstream = echo_upstream().await;
    let clock = gateway::Clock::manual();
    let a = node(&pg, &clock).start().await;
    let b = node(&pg, &clock).start().await;
    provision(&a, upstream, "/outage").await;
    until_plugins(&b, 3, UPDATE_FREQUENCY + Duration::from_secs(1)).await;
    let key = [("apikey", "key-outage")];
    let (status, seen) = get(&a, "/outage", &key).await;
    assert_eq!(status, 200);
    let seen = format!("session={}", seen.expect("a session cookie"));
    // Made on B: its row is in PostgreSQL, not in A's cache.
    let (status, unseen) = get(&b, "/outage", &key).await;
    assert_eq!(status, 200);
    let unseen = format!("session={}", unseen.expect("a session cookie"));
    drop(b);
    let (logs, _guard) = Logs::capture();
    let outage = Instant::now();

    pg.stop_server();
    for _ in 0..10 {
        // Entities are served from the last snapshot: key-auth still lets the key through.
        assert_eq!(get(&a, "/outage", &key).await.0, 200);
        assert_eq!(get(&a, "/outage", &[("cookie", &seen)]).await.0, 200);
        assert_eq!(get(&a, "/outage", &[("cookie", &unseen)]).await.0, 403);
        // An Admin API write cannot be stored: Kong's 500 with its standard body, and nothing changes.
        assert_eq!(
            admin(
                &a,
                Method::POST,
                "/consumers",
                Some(json!({ "username": "during-outage" }))
            )
            .await,
            (500, json!({ "message": "An unexpected error occurred" }))
        );
    }
    let (_, status) = admin(&a, Method::GET, "/status", None).await;
    assert_eq!(status["database"]["reachable"], false);
    let elapsed = outage.elapsed();
    // One line per interval for each kind of failure, not one per request (30 failed above).
    let most = usize::try_from(1 + elapsed.as_secs() / 10).unwrap();
    for line in [
        "session storage (PostgreSQL) failed",
        "Admin API write failed in PostgreSQL",
    ] {
        let n = logs.count(line);
        assert!((1..=most).contains(&n), "{n} lines '{line}' in {elapsed:?}");
    }

    pg.start_server();
    // Back without a restart: the session acknowledged before the outage opens again, writes work.
    let deadline = Instant::now() + Duration::from_secs(10);
    while get(&a, "/outage", &[("cookie", &unseen)]).await.0 != 200 {
        assert!(Instant::now() < deadline, "the session did not come back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(get(&a, "/outage", &[("cookie", &seen)]).await.0, 200);
    admin_post(&a, "/consumers", json!({ "username": "after-outage" })).await;
    assert_eq!(
        pg.psql("SELECT count(*) FROM consumers WHERE username = 'during-outage'"),
        "0"
    );
    let c = gateway::Clock::manual();
    let fresh = node(&pg, &c).start().await;
    let (status, _) = admin(&fresh, Method::GET, "/consumers/after-outage", None).await;
    assert_eq!(
        status, 200,
        "a node started now sees the write made after the outage"
    );
}

/// Issue 10, item 5: 1,000 logins at once, half on each node, make 1,000 distinct sessions, and every
/// one of them opens on both nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_logins_on_two_nodes_are_distinct_and_usable_on_both() {
    let _serial = SERIAL.lock().await;
    const LOGINS: usize = 1000;
    let pg = PgServer::start();
    bootstrapped(&pg).await;
    let upstream = echo_upstream().await;
    let clock = gateway::Clock::manual();
    let a = node(&pg, &clock).start().await;
    let b = node(&pg, &clock).start().await;
    provision(&a, upstream, "/crowd").await;
    until_plugins(&b, 3, UPDATE_FREQUENCY + Duration::from_secs(1)).await;
    let key = [("apikey", "key-crowd")];
    until_status(
        &b,
        "/crowd",
        &key,
        200,
        UPDATE_FREQUENCY + Duration::from_secs(1),
    )
    .await;
    let before: usize = pg.psql("SELECT count(*) FROM sessions").parse().unwrap();

    let nodes = [a.proxy_addr(), b.proxy_addr()];
    // 1,000 requests at once on a shared 2-core machine: a longer deadline than the other tests'.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let logins = (0..LOGINS).map(|i| {
        let http = http.clone();
        let addr = nodes[i % 2];
        async move {
            let resp = http
                .get(format!("http://{addr}/crowd"))
                .header("apikey", "key-crowd")
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status().as_u16(), 200);
            resp.headers()
                .get_all("set-cookie")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .filter_map(|v| v.split(';').next())
                .find(|pair| pair.starts_with("session=") && pair.len() > "session=".len())
                .expect("a session cookie")
                .to_owned()
        }
    });
    let cookies: Vec<String> = futures::future::join_all(logins).await;
    let distinct: std::collections::HashSet<&String> = cookies.iter().collect();
    assert_eq!(distinct.len(), LOGINS);
    let after: usize = pg.psql("SELECT count(*) FROM sessions").parse().unwrap();
    assert_eq!(after - before, LOGINS, "one row per login");

    // Every session on both nodes; 64 checks in flight (the logins above were the concurrency under test).
    let checks = cookies.iter().enumerate().map(|(i, cookie)| {
        let http = http.clone();
        async move {
            for addr in [nodes[i % 2], nodes[(i + 1) % 2]] {
                let resp = http
                    .get(format!("http://{addr}/crowd"))
                    .header("cookie", cookie)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status().as_u16(), 200, "session {i} on {addr}");
            }
        }
    });
    futures::stream::iter(checks)
        .buffer_unordered(64)
        .collect::<Vec<()>>()
        .await;
}
