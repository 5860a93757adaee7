use std::io::{Read as _, Write as _};
use std::net::TcpStream;

use serde_json::{Value, json};

use super::EchoUpstream;

/// Sends one raw HTTP/1.1 request and returns the status code and JSON body (no HTTP client in the library's
/// dependencies, and a raw request lets the test repeat headers and choose their case).
fn exchange(upstream: &EchoUpstream, request: &str) -> (u16, Value) {
    let mut stream = TcpStream::connect(upstream.addr()).expect("connect to the echo upstream");
    stream
        .write_all(request.as_bytes())
        .expect("send the request");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read the response");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a response head");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status code");
    (status, serde_json::from_str(body).expect("a JSON body"))
}

#[tokio::test]
async fn echoes_method_path_query_and_headers() {
    let upstream = EchoUpstream::builder().start().await.expect("start");
    let addr = upstream.addr();
    let (status, json) = exchange(
        &upstream,
        &format!(
            "GET /anything/x?a=1&a=2&b=%20c&flag HTTP/1.1\r\nHost: {addr}\r\nX-Consumer-ID: 42\r\n\
             X-Multi: one\r\nX-Multi: two\r\nConnection: close\r\n\r\n"
        ),
    );
    assert_eq!(status, 200);
    assert_eq!(json["method"], "GET");
    assert_eq!(json["path"], "/anything/x");
    assert_eq!(
        json["url"],
        format!("http://{addr}/anything/x?a=1&a=2&b=%20c&flag")
    );
    assert_eq!(
        json["args"],
        json!({"a": ["1", "2"], "b": " c", "flag": ""})
    );
    assert_eq!(
        json["uri_args"],
        json!({"a": ["1", "2"], "b": " c", "flag": true})
    );
    assert_eq!(json["headers"]["x-consumer-id"], "42");
    assert_eq!(json["headers"]["x-multi"], json!(["one", "two"]));
    assert_eq!(json["data"], "");
    assert_eq!(json["json"], Value::Null);
}

#[tokio::test]
async fn echoes_json_and_form_bodies() {
    let upstream = EchoUpstream::builder().start().await.expect("start");
    let body = r#"{"name":"alex"}"#;
    let (_, json) = exchange(
        &upstream,
        &format!(
            "POST /anything HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    assert_eq!(json["data"], body);
    assert_eq!(json["json"], json!({"name": "alex"}));
    assert_eq!(
        json["post_data"],
        json!({"text": body, "kind": "json", "params": {"name": "alex"}})
    );

    let form = "a=1&a=2&b=x";
    let (_, json) = exchange(
        &upstream,
        &format!(
            "POST /anything HTTP/1.1\r\nHost: gw\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{form}",
            form.len()
        ),
    );
    assert_eq!(json["post_data"]["kind"], "form");
    assert_eq!(
        json["post_data"]["params"],
        json!({"a": ["1", "2"], "b": "x"})
    );
    assert_eq!(json["json"], Value::Null);
}

#[tokio::test]
async fn records_requests_and_stops_on_drop() {
    let upstream = EchoUpstream::builder().start().await.expect("start");
    let addr = upstream.addr();
    exchange(
        &upstream,
        "DELETE /gone HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n",
    );
    let requests = upstream.requests().await;
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method.as_str(), "DELETE");
    assert_eq!(requests[0].url.path(), "/gone");

    drop(upstream);
    // The listener closes when the server's thread ends; poll with a deadline instead of sleeping a fixed time.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while TcpStream::connect(addr).is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "echo upstream still accepting after drop"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[test]
fn multipart_bodies_are_parsed_as_kongs_mock_upstream_does() {
    let body = "--xyz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\none\r\n--xyz\r\n\
                Content-Disposition: form-data; name=\"b\"\r\nContent-Type: text/plain\r\n\r\ntwo\r\n--xyz--\r\n";
    let post_data = super::post_data("multipart/form-data; boundary=xyz", body);
    assert_eq!(post_data["kind"], "multipart-form");
    assert_eq!(post_data["params"], json!({"a": "one", "b": "two"}));
    assert_eq!(
        super::post_data("multipart/form-data", body)["params"],
        Value::Null
    );
}
