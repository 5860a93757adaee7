//! The binary under an operator's signals, as nginx under Kong: SIGHUP (and `gateway reload`) reloads the
//! declarative file without dropping connections and keeps the running configuration when the new file is bad;
//! SIGQUIT drains in-flight requests; SIGTERM stops at once. Also the access log the node writes meanwhile.

#![allow(clippy::unwrap_used)]

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use support::process::{Node, exchange, request, run, temp_prefix};

/// A service and route per name, each answered by request-termination with the name as its message (no upstream
/// needed).
fn config(names: &[&str]) -> String {
    let mut doc = String::from("_format_version: \"3.0\"\nservices:\n");
    for name in names {
        doc.push_str(&format!(
            "  - name: {name}\n    url: http://127.0.0.1:9/\n    routes:\n      - name: {name}\n        paths: [/{name}]\n    plugins:\n      - name: request-termination\n        config:\n          status_code: 200\n          message: {name}\n"
        ));
    }
    doc
}

/// Two bad entries: a `url` that is no URL, a route with an unknown protocol.
const BAD: &str = "_format_version: \"3.0\"\nservices:\n  - name: svc\n    url: not a url\n  - name: other\n    url: http://127.0.0.1:9/\n    routes:\n      - name: r\n        paths: [/r]\n        protocols: [gopher]\n";

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[test]
fn sighup_and_reload_swap_the_file_under_an_open_connection_and_a_bad_file_keeps_the_old_one() {
    let prefix = temp_prefix();
    std::fs::create_dir_all(&prefix).unwrap();
    let file = prefix.join("kong.yml");
    write(&file, &config(&["one"]));
    let mut node = Node::start_in(prefix.clone(), &["-c", file.to_str().unwrap()], &[]);
    let mut conn = TcpStream::connect(node.proxy).unwrap();
    let (status, body) = exchange(&mut conn, "GET", "/one", &[], "");
    assert_eq!((status, body.contains("one")), (200, true), "{body}");

    // `gateway reload` signals the node through its pid file.
    write(&file, &config(&["one", "two"]));
    let reload = run(&prefix, &["reload"]);
    assert!(reload.status.success(), "{reload:?}");
    assert!(
        node.wait_for(
            |l| l.contains("configuration reloaded"),
            Duration::from_secs(10)
        )
        .is_some()
    );
    let (status, body) = exchange(&mut conn, "GET", "/two", &[], "");
    assert_eq!(
        status, 200,
        "the keep-alive connection serves the new route: {body}"
    );

    // A bad file: every error logged, the running configuration kept.
    write(&file, BAD);
    node.signal("HUP");
    let first = node.wait_for(
        |l| l.contains("kept the running configuration"),
        Duration::from_secs(10),
    );
    let second = node.wait_for(
        |l| l.contains("kept the running configuration"),
        Duration::from_secs(10),
    );
    let (first, second) = (first.unwrap(), second.unwrap());
    assert!(
        first.contains("in 'url'") && first.contains(file.to_str().unwrap()),
        "{first}"
    );
    assert!(second.contains("in 'protocols'"), "{second}");
    let (status, body) = exchange(&mut conn, "GET", "/two", &[], "");
    assert_eq!(
        status, 200,
        "still the old configuration, same connection: {body}"
    );

    // The access log (stdout by default) has Kong's format for those requests.
    let logged = node
        .wait_for(
            |l| l.contains("\"GET /two HTTP/1.1\" 200"),
            Duration::from_secs(5),
        )
        .expect("an access log line");
    assert!(logged.starts_with("127.0.0.1 - - ["), "{logged}");
    assert!(logged.contains(" kong_request_id: \""), "{logged}");
}

/// An upstream that holds every request until told to answer; says when one arrived.
fn held_upstream() -> (std::net::SocketAddr, mpsc::Receiver<()>, mpsc::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (arrived_tx, arrived) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = arrived_tx.send(());
            if release_rx.recv_timeout(Duration::from_secs(20)).is_ok() {
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\nslow",
                );
            }
        }
    });
    (addr, arrived, release)
}

fn proxied_config(upstream: std::net::SocketAddr) -> String {
    format!(
        "_format_version: \"3.0\"\nservices:\n  - name: svc\n    url: http://{upstream}/\n    routes:\n      - name: r\n        paths: [/slow]\n"
    )
}

#[test]
fn sigquit_lets_an_in_flight_request_finish_and_reports_draining() {
    let (upstream, arrived, release) = held_upstream();
    let prefix = temp_prefix();
    std::fs::create_dir_all(&prefix).unwrap();
    let file = prefix.join("kong.yml");
    write(&file, &proxied_config(upstream));
    let mut node = Node::start_in(
        prefix,
        &["-c", file.to_str().unwrap()],
        &[("KONG_NGINX_MAIN_WORKER_SHUTDOWN_TIMEOUT", "20s")],
    );
    let proxy = node.proxy;
    let client = std::thread::spawn(move || {
        let mut conn = TcpStream::connect(proxy).unwrap();
        exchange(&mut conn, "GET", "/slow", &[], "")
    });
    arrived
        .recv_timeout(Duration::from_secs(10))
        .expect("the request reached the upstream");
    node.signal("QUIT");
    assert!(
        node.wait_for(|l| l.contains("SIGQUIT: draining"), Duration::from_secs(10))
            .is_some()
    );
    assert_eq!(
        node.wait_exit(Duration::from_millis(300)),
        None,
        "still draining"
    );
    release.send(()).unwrap();
    let (status, body) = client.join().unwrap();
    assert_eq!(
        (status, body.as_str()),
        (200, "slow"),
        "the in-flight request finished"
    );
    assert_eq!(node.wait_exit(Duration::from_secs(10)), Some(0));
}

#[test]
fn sigterm_stops_without_waiting_for_in_flight_requests() {
    let (upstream, arrived, _release) = held_upstream();
    let prefix = temp_prefix();
    std::fs::create_dir_all(&prefix).unwrap();
    let file = prefix.join("kong.yml");
    write(&file, &proxied_config(upstream));
    let mut node = Node::start_in(prefix, &["-c", file.to_str().unwrap()], &[]);
    let proxy = node.proxy;
    let client = std::thread::spawn(move || {
        let mut conn = TcpStream::connect(proxy).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        conn.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut reply = Vec::new();
        let _ = conn.read_to_end(&mut reply);
        reply
    });
    arrived
        .recv_timeout(Duration::from_secs(10))
        .expect("the request reached the upstream");
    node.signal("TERM");
    assert_eq!(
        node.wait_exit(Duration::from_secs(5)),
        Some(0),
        "stopped without the upstream's answer"
    );
    let reply = client.join().unwrap();
    assert!(
        reply.is_empty(),
        "the connection was closed: {}",
        String::from_utf8_lossy(&reply)
    );
}

#[test]
fn the_access_log_can_be_a_file_in_json_or_off() {
    let prefix = temp_prefix();
    let dir = temp_prefix();
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("kong.yml");
    write(&file, &config(&["one"]));
    let node = Node::start_in(
        prefix.clone(),
        &["-c", file.to_str().unwrap()],
        &[
            ("KONG_PROXY_ACCESS_LOG", "logs/access.log"),
            ("GATEWAY_LOG_FORMAT", "json"),
        ],
    );
    let (status, _) = request(node.proxy, "GET", "/one?apikey=secret-in-query", "");
    assert_eq!(status, 200);
    let log = prefix.join("logs/access.log");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let line = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(line) = text.lines().next() {
            break line.to_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "nothing in {}",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let value: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(
        value["request"], "GET /one?apikey=REDACTED HTTP/1.1",
        "{line}"
    );
    assert_eq!(value["status"], 200);
    assert!(
        value["kong_request_id"]
            .as_str()
            .is_some_and(|id| id.len() == 32),
        "{line}"
    );
    drop(node);

    let prefix = temp_prefix();
    let mut quiet = Node::start_in(
        prefix,
        &["-c", file.to_str().unwrap()],
        &[("KONG_PROXY_ACCESS_LOG", "off")],
    );
    assert_eq!(request(quiet.proxy, "GET", "/one", "").0, 200);
    let admin = request(quiet.admin, "GET", "/status", "");
    assert_eq!(admin.0, 200);
    assert!(
        quiet
            .wait_for(|l| l.contains("\"GET /one"), Duration::from_secs(1))
            .is_none(),
        "off writes no access log"
    );
    let _ = std::fs::remove_dir_all(dir);
}
