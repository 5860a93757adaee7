//! The `gateway` binary starts with its defaults and with every Kong setting given, and refuses a bad value
//! with one line: what an operator runs.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Starts the binary with `args`, waits (at most 20 s) for its "listening" log line, then stops it.
fn starts_with(args: &[&str]) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .args([
            "--proxy-listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .args(args)
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
