//! The Status API as Kong serves it on `status_listen` (`kong/api/routes/health.lua`, `kong/status/ready.lua`):
//! `GET /status` with `database`, `memory` and `server` (connection counters that move with traffic), the same
//! body on the Admin API, and `/status/ready` answering 200 `ready`, or 503 with Kong's reason.

#![allow(clippy::unwrap_used)]

mod support;

use std::net::TcpStream;

use serde_json::Value;
use support::process::{Node, exchange, request};

fn json(answer: (u16, String)) -> (u16, Value) {
    (
        answer.0,
        serde_json::from_str(&answer.1).unwrap_or(Value::Null),
    )
}

#[test]
fn status_has_kongs_shape_and_counts_connections_and_requests() {
    let node = Node::start(&[], &[("KONG_STATUS_LISTEN", "127.0.0.1:0")]);
    let status = node.status.expect("a status listener");
    // One keep-alive connection, held open, with two requests on it.
    let mut held = TcpStream::connect(node.proxy).unwrap();
    for _ in 0..2 {
        assert_eq!(exchange(&mut held, "GET", "/nothing", &[], "").0, 404);
    }
    // The response has been read; the connection turns idle when the gateway has dropped it: poll briefly.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let body = loop {
        let (code, body) = json(request(status, "GET", "/status", ""));
        assert_eq!(code, 200, "{body}");
        if body["server"]["connections_waiting"] == 1 || std::time::Instant::now() > deadline {
            break body;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(body["database"]["reachable"], true);
    let server = &body["server"];
    for key in [
        "connections_accepted",
        "connections_active",
        "connections_handled",
        "connections_reading",
        "connections_waiting",
        "connections_writing",
        "total_requests",
    ] {
        assert!(server[key].is_u64(), "server.{key}: {body}");
    }
    assert!(server["total_requests"].as_u64().unwrap() >= 2, "{body}");
    assert!(
        server["connections_accepted"].as_u64().unwrap() >= 1,
        "{body}"
    );
    assert_eq!(
        server["connections_active"], 1,
        "the held connection: {body}"
    );
    assert_eq!(
        server["connections_waiting"], 1,
        "idle between requests: {body}"
    );
    let vm = &body["memory"]["workers_lua_vms"][0];
    assert!(
        vm["http_allocated_gc"].as_str().unwrap().ends_with(" MiB"),
        "{body}"
    );
    assert!(body["memory"]["lua_shared_dicts"].is_object());
    let (code, body) = json(request(status, "GET", "/status?unit=k&scale=1", ""));
    assert_eq!(code, 200);
    assert!(
        body["memory"]["workers_lua_vms"][0]["http_allocated_gc"]
            .as_str()
            .unwrap()
            .ends_with(" KiB")
    );
    let (code, body) = json(request(status, "GET", "/status?unit=t", ""));
    assert_eq!(
        (code, body["message"].as_str().unwrap()),
        (400, "invalid unit 't' (expected 'k/K', 'm/M', or 'g/G')")
    );

    // The Admin API's /status is the same document.
    let (code, admin) = json(request(node.admin, "GET", "/status", ""));
    assert_eq!(code, 200);
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&admin), keys(&request_json(status, "/status")));
    assert_eq!(keys(&admin["server"]), keys(server));

    drop(held);
    let (code, body) = json(request(status, "GET", "/status/ready", ""));
    assert_eq!((code, &body["message"]), (200, &Value::from("ready")));
    // Kong's POST /status/ready status=draining: 204, then 503 draining.
    assert_eq!(
        request(status, "POST", "/status/ready", "status=draining").0,
        204
    );
    let (code, body) = json(request(status, "GET", "/status/ready", ""));
    assert_eq!((code, &body["message"]), (503, &Value::from("draining")));
    assert_eq!(
        request(status, "POST", "/status/ready", "status=whatever").0,
        400
    );
}

fn request_json(addr: std::net::SocketAddr, path: &str) -> Value {
    json(request(addr, "GET", path, "")).1
}

#[test]
fn a_dbless_node_without_configuration_is_not_ready() {
    let node = Node::start(
        &[],
        &[
            ("KONG_STATUS_LISTEN", "127.0.0.1:0"),
            ("KONG_DATABASE", "off"),
        ],
    );
    let (code, body) = json(request(node.status.unwrap(), "GET", "/status/ready", ""));
    assert_eq!(code, 503);
    assert_eq!(
        body["message"],
        "no configuration available (empty configuration present)"
    );
}
