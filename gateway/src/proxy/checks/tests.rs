use http::Request;

use super::{BUFFER, check};
use crate::error::ProxyError;

fn parts(uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
    let mut b = Request::builder().method("GET").uri(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap().into_parts().0
}

#[test]
fn ordinary_requests_pass_unchanged() {
    let mut p = parts(
        "/anything?a=1",
        &[("host", "gw.test"), ("cookie", "session=abc")],
    );
    assert!(check(&mut p).is_ok());
    assert_eq!(p.headers["host"], "gw.test");
}

#[test]
fn a_header_line_over_8k_is_too_large() {
    let big = "x".repeat(BUFFER);
    let mut p = parts("/", &[("cookie", big.as_str())]);
    assert!(matches!(check(&mut p), Err(ProxyError::HeaderTooLarge)));
    let fits = "x".repeat(BUFFER - 20);
    let mut p = parts("/", &[("cookie", fits.as_str())]);
    assert!(check(&mut p).is_ok());
}

#[test]
fn a_header_block_over_32k_is_too_large() {
    let chunk = "x".repeat(7 * 1024);
    let headers: Vec<(String, &str)> = (0..5)
        .map(|i| (format!("x-h{i}"), chunk.as_str()))
        .collect();
    let refs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let mut p = parts("/", &refs);
    assert!(matches!(check(&mut p), Err(ProxyError::HeaderTooLarge)));
}

#[test]
fn a_request_line_over_8k_is_414() {
    let uri = format!("/{}", "a".repeat(BUFFER));
    let mut p = parts(&uri, &[]);
    assert!(matches!(check(&mut p), Err(ProxyError::UriTooLong)));
}

#[test]
fn duplicate_host_is_400() {
    let mut p = parts("/", &[("host", "a.test"), ("host", "b.test")]);
    assert!(matches!(check(&mut p), Err(ProxyError::BadRequest(_))));
}

#[test]
fn the_absolute_form_host_wins_over_the_host_header() {
    let mut p = parts("http://real.test:8000/x?y=1", &[("host", "other.test")]);
    assert!(check(&mut p).is_ok());
    assert_eq!(p.headers["host"], "real.test:8000");
    assert_eq!(p.headers.get_all("host").iter().count(), 1);
}
