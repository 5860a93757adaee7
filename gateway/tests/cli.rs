//! The `gateway` binary starts with its defaults and with every Kong setting given, and refuses a bad value
//! with one line: what an operator runs.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;

use support::process::{Node, run, temp_prefix};

/// Starts the binary with `args`, waits (at most 20 s) for its "listening" log line, then stops it.
fn starts_with(args: &[&str]) {
    starts_with_proxy_listen("127.0.0.1:0", args);
}

/// [`starts_with`] with `KONG_PROXY_LISTEN` set to `proxy_listen`.
fn starts_with_proxy_listen(proxy_listen: &str, args: &[&str]) {
    let _node = Node::start(args, &[("KONG_PROXY_LISTEN", proxy_listen)]);
}

#[test]
fn starts_on_defaults() {
    starts_with(&[]);
}

#[test]
fn starts_with_every_limit_set() {
    starts_with(&[
        "--nginx-http-client-header-timeout",
        "10s",
        "--nginx-http-client-body-timeout",
        "500ms",
        "--nginx-http-keepalive-timeout",
        "1m",
        "--nginx-http-client-max-body-size",
        "10m",
        "--nginx-events-worker-connections",
        "100",
    ]);
}

#[test]
fn a_bad_value_is_one_clear_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .args(["--nginx-http-keepalive-timeout", "soon"])
        .output()
        .expect("run gateway");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("invalid nginx time value 'soon'"),
        "{stderr}"
    );
}

#[test]
fn out_of_file_descriptors_backs_off_logs_once_and_recovers() {
    use std::io::{Read, Write};
    use std::net::TcpStream;

    // 64 descriptors for the whole process, and a connection limit above that: accept hits EMFILE.
    let mut child = Command::new("prlimit")
        .args(["--nofile=64:64", "--"])
        .arg(env!("CARGO_BIN_EXE_gateway"))
        .args([
            "--proxy-listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .args(["--nginx-events-worker-connections", "10000"])
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .env("KONG_STATUS_LISTEN", "off")
        .env("KONG_PROXY_ACCESS_LOG", "off")
        .env("KONG_PREFIX", temp_prefix())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn gateway under prlimit");
    let stdout = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let proxy = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the gateway did not start");
        if let Some(at) = line.find("proxy=") {
            let addr = line[at + "proxy=".len()..]
                .split_whitespace()
                .next()
                .expect("address")
                .to_owned();
            break addr;
        }
    };
    // Far more clients than descriptors, held open.
    let mut held = Vec::new();
    for _ in 0..120 {
        if let Ok(stream) = TcpStream::connect(&proxy) {
            held.push(stream);
        }
    }
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        child.try_wait().expect("status").is_none(),
        "the gateway died"
    );
    drop(held);
    // Served again once descriptors are free: the accept loop backed off instead of giving up.
    let deadline = Instant::now() + Duration::from_secs(10);
    let answered = loop {
        if let Ok(mut stream) = TcpStream::connect(&proxy) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let _ =
                stream.write_all(b"GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut reply = String::new();
            let _ = stream.read_to_string(&mut reply);
            if reply.starts_with("HTTP/1.1 404") {
                break true;
            }
        }
        if Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = child.kill();
    let _ = child.wait();
    let accept_lines = rx
        .try_iter()
        .filter(|l| l.contains("accept failed"))
        .count();
    assert!(answered, "no answer after the clients left");
    assert!(
        (1..=2).contains(&accept_lines),
        "one log line per interval, not per failure: {accept_lines}"
    );
}

#[test]
fn kongs_listen_syntax_is_accepted_and_a_bad_flag_gets_kongs_form() {
    let prefix = std::env::temp_dir().join(format!("gw-prefix-{}", uuid::Uuid::new_v4()));
    starts_with_proxy_listen(
        "127.0.0.1:0 reuseport backlog=16384, 127.0.0.1:0 http2 ssl reuseport backlog=16384",
        &["--prefix", prefix.to_str().expect("utf-8 path")],
    );
    // No ssl_cert: the generated certificate is written where Kong writes it.
    let pem =
        std::fs::read_to_string(prefix.join("ssl/kong-default.crt")).expect("kong-default.crt");
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    let _ = std::fs::remove_dir_all(&prefix);
    let output = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .args(["--proxy-listen", "0.0.0.0:8000, 0.0.0.0:8443 tls"])
        .output()
        .expect("run gateway");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("proxy_listen must be of form: [off] | <ip>:<port> [ssl] [http2]")
            && stderr.contains("unknown flag 'tls'"),
        "{stderr}"
    );
}

/// A declarative file with two bad entries: a service whose `url` is no URL, and a route with an unknown method.
const BAD_CONFIG: &str = r#"_format_version: "3.0"
services:
  - name: svc
    url: not a url
  - name: ok
    url: http://127.0.0.1:9/
    routes:
      - name: r
        paths: [/r]
        protocols: [gopher]
"#;

#[test]
fn config_init_writes_a_starter_that_config_parse_accepts() {
    let dir = temp_prefix();
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("kong.yml");
    let path = file.to_str().expect("utf-8");
    let init = run(&dir, &["config", "init", path]);
    assert!(init.status.success(), "{init:?}");
    let text = std::fs::read_to_string(&file).expect("written");
    for flow in [
        "key-auth",
        "request-termination",
        "session",
        "openid-connect",
        "anonymous",
    ] {
        assert!(text.contains(flow), "the starter has {flow}");
    }
    let parse = run(&dir, &["config", "parse", path]);
    assert!(parse.status.success(), "{parse:?}");
    assert_eq!(
        String::from_utf8_lossy(&parse.stdout).trim(),
        "parse successful"
    );
    // Kong never overwrites: exit 1 and its message.
    let again = run(&dir, &["config", "init", path]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already exists.\nWill not overwrite it.")
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn config_parse_names_every_error_with_its_file_entry_and_field() {
    let dir = temp_prefix();
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("bad.yml");
    std::fs::write(&file, BAD_CONFIG).expect("write");
    let path = file.to_str().expect("utf-8");
    let parse = run(&dir, &["config", "parse", path]);
    assert_eq!(parse.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&parse.stderr);
    assert!(stderr.starts_with("Error: Failed parsing:"), "{stderr}");
    assert!(stderr.contains(path), "names the file: {stderr}");
    assert!(
        stderr.contains("in entry 1 of 'services'") && stderr.contains("in 'url'"),
        "{stderr}"
    );
    assert!(
        stderr.contains("in entry 1 of 'routes'") && stderr.contains("in 'protocols'"),
        "{stderr}"
    );
    // A file that does not exist is one line too.
    let missing = run(&dir, &["config", "parse", "/nonexistent/kong.yml"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/kong.yml"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn version_prints_the_kong_version_it_behaves_as() {
    let out = run(&temp_prefix(), &["version"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        gateway::admin::KONG_VERSION
    );
    let all = run(&temp_prefix(), &["version", "--all"]);
    assert!(
        String::from_utf8_lossy(&all.stdout)
            .contains(&format!("gateway: {}", env!("CARGO_PKG_VERSION")))
    );
}

#[test]
fn health_finds_the_node_by_its_prefix_and_fails_once_it_stopped() {
    let mut node = Node::start(&[], &[("KONG_STATUS_LISTEN", "127.0.0.1:0")]);
    let prefix = node.prefix().to_path_buf();
    let pid = std::fs::read_to_string(prefix.join("pids/nginx.pid")).expect("Kong's pid file");
    assert_eq!(pid.trim(), node.pid().to_string());
    let health = run(&prefix, &["health"]);
    let stdout = String::from_utf8_lossy(&health.stdout);
    assert!(
        health.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&health.stderr)
    );
    assert!(
        stdout.contains(&format!("Kong is healthy at {}", prefix.display())),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "http://{}/status",
            node.status.expect("status listener")
        )),
        "{stdout}"
    );
    // A second node on the same prefix is refused, as Kong refuses it.
    let second = run(&prefix, &[]);
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("Kong is already running in"));
    // SIGTERM stops it at once, and the pid file goes with it.
    node.signal("TERM");
    assert_eq!(node.wait_exit(Duration::from_secs(10)), Some(0));
    assert!(!prefix.join("pids/nginx.pid").exists());
    let health = run(&prefix, &["health"]);
    assert_eq!(health.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&health.stderr).contains("Kong is not running at"));
    let reload = run(&prefix, &["reload"]);
    assert_eq!(reload.status.code(), Some(1));
}
