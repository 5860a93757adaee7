//! The `gateway` binary starts with its defaults and with every Kong setting given, and refuses a bad value
//! with one line: what an operator runs.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Starts the binary with `args`, waits (at most 20 s) for its "listening" log line, then stops it.
fn starts_with(args: &[&str]) {
    starts_with_proxy_listen("127.0.0.1:0", args);
}

/// [`starts_with`] with `KONG_PROXY_LISTEN` set to `proxy_listen`.
fn starts_with_proxy_listen(proxy_listen: &str, args: &[&str]) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .args(["--admin-listen", "127.0.0.1:0"])
        .args(args)
        .env("KONG_PROXY_LISTEN", proxy_listen)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn gateway");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    let listening = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains("listening") => break true,
            Ok(line) => seen.push(line),
            Err(_) => break false,
        }
    };
    let _ = child.kill();
    let output = child.wait_with_output().expect("wait");
    assert!(
        listening,
        "gateway {args:?} did not start: {seen:?} {}",
        String::from_utf8_lossy(&output.stderr)
    );
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
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn gateway under prlimit");
    let stdout = child.stdout.take().expect("stdout");
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
