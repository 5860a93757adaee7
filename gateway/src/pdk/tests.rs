use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Request;
use http_body_util::BodyExt;
use hyper::body::Frame;

use super::body::full;
use super::{Arg, BasicError, Body, Credential, Ctx, RequestBody, headers};
use crate::testing::{CLIENT, shared};

fn ctx_with(headers: &[(&str, &str)], uri: &str, body: Body) -> Ctx {
    let mut builder = Request::builder().method("POST").uri(uri);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let (parts, ()) = builder.body(()).unwrap().into_parts();
    let gw = shared("_format_version: \"3.0\"\n");
    Ctx::new(
        0,
        parts,
        RequestBody::Stream(body),
        CLIENT,
        gw.snapshot.load_full(),
        Arc::from("route"),
        None,
    )
}

fn ctx(headers: &[(&str, &str)]) -> Ctx {
    ctx_with(headers, "/", full(Bytes::new()))
}

fn body_ctx(content_type: &str, body: &str) -> Ctx {
    ctx_with(
        &[("content-type", content_type)],
        "/",
        full(Bytes::from(body.to_owned())),
    )
}

/// A body that arrives in the given chunks, with no length known up front.
struct Chunks(VecDeque<Bytes>);

impl hyper::body::Body for Chunks {
    type Data = Bytes;
    type Error = crate::pdk::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, crate::pdk::BoxError>>> {
        Poll::Ready(self.0.pop_front().map(|c| Ok(Frame::data(c))))
    }
}

fn chunked(chunks: &[&'static [u8]]) -> Body {
    Chunks(chunks.iter().map(|c| Bytes::from_static(c)).collect()).boxed()
}

async fn collect(body: Body) -> Bytes {
    body.collect().await.unwrap().to_bytes()
}

// ---- headers ----

#[test]
fn header_names_ignore_case_and_treat_underscore_as_dash() {
    let ctx = ctx(&[("X-Api-Key", "one"), ("x-api-key", "two")]);
    assert_eq!(ctx.header("x_api_key"), Some("one"));
    assert_eq!(ctx.header("X-API-KEY"), Some("one"));
    let all: Vec<_> = ctx.header_values("x_api_key").collect();
    assert_eq!(all, ["one", "two"]);
    assert_eq!(ctx.header("missing"), None);
}

#[test]
fn authorization_matches_the_scheme_case_insensitively() {
    let with = ctx(&[("authorization", "bEaReR  abc ")]);
    assert_eq!(with.authorization("bearer"), Some("abc"));
    assert_eq!(with.authorization("basic"), None);
    assert_eq!(
        ctx(&[("authorization", "Bearer ")]).authorization("bearer"),
        None
    );
}

// ---- cookies (nginx `$cookie_NAME`) ----

#[test]
fn cookie_names_match_case_insensitively_as_nginx_does() {
    let ctx = ctx(&[("cookie", "Session=abc; other=1")]);
    assert_eq!(ctx.cookie("session"), Some("abc"));
    assert_eq!(ctx.cookie("SESSION"), Some("abc"));
    assert_eq!(ctx.cookie("other"), Some("1"));
}

#[test]
fn cookie_is_the_first_match_over_every_cookie_header() {
    let ctx = ctx(&[("cookie", "a=1"), ("cookie", "b=2; a=3"), ("cookie", "c=4")]);
    assert_eq!(ctx.cookie("a"), Some("1"));
    assert_eq!(ctx.cookie("b"), Some("2"));
    assert_eq!(ctx.cookie("c"), Some("4"));
    assert_eq!(ctx.cookie_header().as_deref(), Some("a=1; b=2; a=3; c=4"));
}

#[test]
fn cookie_parsing_follows_ngx_http_parse_multi_header_lines() {
    // A name that is only a prefix of another does not match; spaces around `=` are skipped;
    // `,` separates like `;`; the value runs to `;` and keeps trailing spaces.
    let ctx = ctx(&[("cookie", "sessionx=no, session = yes ;z=")]);
    assert_eq!(ctx.cookie("session"), Some("yes "));
    assert_eq!(ctx.cookie("z"), Some(""));
    assert_eq!(ctx.cookie("sess"), None);
    assert_eq!(ctx.cookie("missing"), None);
    let one = ctx_with(&[("cookie", "x=1")], "/", full(Bytes::new()));
    assert_eq!(one.cookie_header().as_deref(), Some("x=1"));
    assert_eq!(
        super::Ctx::cookie_header(&ctx_with(&[], "/", full(Bytes::new()))),
        None
    );
}

// ---- query ----

#[test]
fn query_args_are_lua_values() {
    let ctx = ctx_with(
        &[],
        "/?flag&one=a%20b&two=1&two=2&empty=",
        full(Bytes::new()),
    );
    assert_eq!(ctx.query_arg("flag"), Some(Arg::Flag));
    assert_eq!(ctx.query_arg("one"), Some(Arg::Text("a b".into())));
    assert_eq!(
        ctx.query_arg("two"),
        Some(Arg::Table(vec!["1".into(), "2".into()]))
    );
    assert_eq!(ctx.query_arg("empty"), Some(Arg::Text(String::new())));
    assert_eq!(ctx.query_arg("none"), None);
}

// ---- body arguments ----

#[tokio::test]
async fn urlencoded_body_arguments() {
    let mut ctx = body_ctx(
        "Application/X-WWW-Form-Urlencoded; charset=utf-8",
        "k=v%21&flag&twice=1&twice=2&empty=",
    );
    assert_eq!(ctx.body_arg("k").await, Some(Arg::Text("v!".into())));
    assert_eq!(ctx.body_arg("flag").await, Some(Arg::Flag));
    assert_eq!(
        ctx.body_arg("twice").await,
        Some(Arg::Table(vec!["1".into(), "2".into()]))
    );
    assert_eq!(ctx.body_arg("empty").await, Some(Arg::Text(String::new())));
    assert_eq!(ctx.body_arg("none").await, None);
}

#[tokio::test]
async fn json_body_arguments() {
    let mut ctx = body_ctx(
        "application/json",
        r#"{"s":"x","n":1,"t":true,"f":false,"z":null,"a":["p",2,"q"],"o":{}}"#,
    );
    assert_eq!(ctx.body_arg("s").await, Some(Arg::Text("x".into())));
    assert_eq!(ctx.body_arg("n").await, Some(Arg::Number));
    assert_eq!(ctx.body_arg("t").await, Some(Arg::Flag));
    assert_eq!(ctx.body_arg("f").await, Some(Arg::False));
    assert!(!Arg::False.is_truthy());
    assert_eq!(ctx.body_arg("z").await, None);
    assert_eq!(
        ctx.body_arg("a").await,
        Some(Arg::Table(vec!["p".into(), "q".into()]))
    );
    assert_eq!(ctx.body_arg("o").await, Some(Arg::Table(Vec::new())));
    let mut array = body_ctx("application/json", r#"["s"]"#);
    assert_eq!(array.body_arg("s").await, None);
}

const MULTIPART: &str = "preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"apikey\"\r\n\r\nsecret\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nline1\r\nline2\r\n--XyZ\r\ncontent-disposition: form-data; name=twice\r\n\r\n1\r\n--XyZ\r\nContent-Disposition: form-data; name=\"twice\"\r\n\r\n2\r\n--XyZ--\r\n";

#[tokio::test]
async fn multipart_body_arguments() {
    let mut ctx = body_ctx("multipart/form-data; boundary=\"XyZ\"", MULTIPART);
    assert_eq!(
        ctx.body_arg("apikey").await,
        Some(Arg::Text("secret".into()))
    );
    assert_eq!(
        ctx.body_arg("file").await,
        Some(Arg::Text("line1\r\nline2".into()))
    );
    assert_eq!(
        ctx.body_arg("twice").await,
        Some(Arg::Table(vec!["1".into(), "2".into()]))
    );
    assert_eq!(ctx.body_arg("none").await, None);
    let mut no_boundary = body_ctx("multipart/form-data", MULTIPART);
    assert_eq!(no_boundary.body_arg("apikey").await, None);
}

#[tokio::test]
async fn removing_a_multipart_argument_cuts_its_part() {
    let mut ctx = body_ctx("multipart/form-data; boundary=XyZ", MULTIPART);
    ctx.remove_body_arg("twice").await;
    assert_eq!(ctx.body_arg("twice").await, None);
    assert_eq!(
        ctx.body_arg("apikey").await,
        Some(Arg::Text("secret".into()))
    );
    let body = collect(std::mem::take(&mut ctx.body).into_body()).await;
    assert!(body.ends_with(b"line2\r\n--XyZ--\r\n"), "{body:?}");
    assert_eq!(
        ctx.request.headers["content-length"],
        body.len().to_string().as_str()
    );
}

#[tokio::test]
async fn other_content_types_are_not_read() {
    let mut ctx = body_ctx("text/plain", "apikey=x");
    assert_eq!(ctx.body_arg("apikey").await, None);
    assert!(matches!(ctx.body, RequestBody::Stream(_)));
    let mut none = ctx_with(&[], "/", full(Bytes::from_static(b"apikey=x")));
    assert_eq!(none.body_arg("apikey").await, None);
}

// ---- body size cap ----

#[tokio::test]
async fn a_body_within_the_buffer_is_read_once_and_forwarded_whole() {
    let mut ctx = ctx_with(
        &[("content-type", "application/x-www-form-urlencoded")],
        "/",
        chunked(&[b"a=1&", b"b=2"]),
    );
    ctx.body_buffer_size = 7;
    assert_eq!(ctx.body_arg("b").await, Some(Arg::Text("2".into())));
    assert_eq!(ctx.body_arg("a").await, Some(Arg::Text("1".into())));
    let body = collect(std::mem::take(&mut ctx.body).into_body()).await;
    assert_eq!(body, "a=1&b=2");
}

#[tokio::test]
async fn a_body_over_the_buffer_is_not_parsed_but_forwarded_whole() {
    let mut ctx = ctx_with(
        &[("content-type", "application/x-www-form-urlencoded")],
        "/",
        chunked(&[b"a=1&", b"b=2&", b"c=3"]),
    );
    ctx.body_buffer_size = 6;
    assert_eq!(ctx.body_arg("a").await, None);
    assert!(ctx.raw_body().await.is_none());
    match &ctx.body {
        RequestBody::Oversized { prefix, .. } => assert_eq!(prefix.as_ref(), b"a=1&b=2&"),
        other => panic!("expected an oversized body, got {other:?}"),
    }
    let body = collect(std::mem::take(&mut ctx.body).into_body()).await;
    assert_eq!(body, "a=1&b=2&c=3");
}

#[tokio::test]
async fn a_body_whose_length_is_over_the_buffer_is_not_read_at_all() {
    let big = "k=".to_owned() + &"v".repeat(super::CLIENT_BODY_BUFFER_SIZE);
    let mut ctx = body_ctx("application/x-www-form-urlencoded", &big);
    assert_eq!(ctx.body_arg("k").await, None);
    match &ctx.body {
        RequestBody::Oversized { prefix, .. } => assert!(prefix.is_empty()),
        other => panic!("expected an oversized body, got {other:?}"),
    }
    let body = collect(std::mem::take(&mut ctx.body).into_body()).await;
    assert_eq!(body.len(), big.len());
}

// ---- Basic credentials ----

#[test]
fn basic_credentials_decode_with_or_without_padding() {
    let ok = |header: &str| ctx(&[("authorization", header)]).basic_credentials();
    // "john:doe" and "a:b:c"
    assert_eq!(
        ok("Basic am9objpkb2U="),
        Ok(Some(("john".into(), "doe".into())))
    );
    assert_eq!(
        ok("basic am9objpkb2U"),
        Ok(Some(("john".into(), "doe".into())))
    );
    assert_eq!(ok("Basic YTpiOmM="), Ok(Some(("a".into(), "b:c".into()))));
    assert_eq!(ok("Bearer am9objpkb2U="), Ok(None));
    assert_eq!(ctx(&[]).basic_credentials(), Ok(None));
}

#[test]
fn basic_credentials_decoding_errors() {
    let err = |header: &str| ctx(&[("authorization", header)]).basic_credentials();
    assert_eq!(err("Basic !!!"), Err(BasicError::NotBase64));
    // 0xff 0xfe
    assert_eq!(err("Basic //4="), Err(BasicError::NotUtf8));
    // "nocolon"
    assert_eq!(err("Basic bm9jb2xvbg=="), Err(BasicError::NoColon));
    // ":pw"
    assert_eq!(err("Basic OnB3"), Err(BasicError::EmptyUser));
}

// ---- authenticate_as ----

#[test]
fn authenticate_as_sets_kongs_consumer_and_credential_headers() {
    let mut ctx = ctx(&[
        ("x-anonymous-consumer", "true"),
        ("x-consumer-username", "spoof"),
    ]);
    let consumer = Arc::new(crate::model::Consumer {
        id: "c1".into(),
        custom_id: Some("cust".into()),
        username: None,
        tags: None,
        created_at: 0,
        updated_at: 0,
    });
    let credential = Credential {
        id: "k1".into(),
        consumer_id: "c1".into(),
    };
    ctx.authenticate_as(Some(Arc::clone(&consumer)), Some(credential.clone()));
    let h = &ctx.request.headers;
    assert_eq!(h[headers::CONSUMER_ID], "c1");
    assert_eq!(h[headers::CONSUMER_CUSTOM_ID], "cust");
    assert!(h.get(headers::CONSUMER_USERNAME).is_none());
    assert_eq!(h[headers::CREDENTIAL_IDENTIFIER], "k1");
    assert!(h.get(headers::ANONYMOUS).is_none());
    assert_eq!(ctx.credential, Some(credential));

    ctx.authenticate_as(Some(consumer), None);
    assert!(
        ctx.request
            .headers
            .get(headers::CREDENTIAL_IDENTIFIER)
            .is_none()
    );
    assert_eq!(ctx.request.headers[headers::ANONYMOUS], "true");
    assert_eq!(ctx.credential, None);
}

#[test]
fn authenticate_as_without_a_consumer_keeps_consumer_headers() {
    let mut ctx = ctx(&[("x-consumer-id", "upstream-set")]);
    ctx.authenticate_as(
        None,
        Some(Credential {
            id: String::new(),
            consumer_id: String::new(),
        }),
    );
    assert_eq!(ctx.request.headers[headers::CONSUMER_ID], "upstream-set");
    assert!(
        ctx.request
            .headers
            .get(headers::CREDENTIAL_IDENTIFIER)
            .is_none()
    );
    assert!(ctx.consumer.is_none());
}

#[test]
fn authenticated_groups_set_and_clear_their_header() {
    let mut ctx = ctx(&[]);
    ctx.set_authenticated_groups(Some(vec!["a".into(), "b".into()]));
    assert_eq!(ctx.request.headers[headers::AUTHENTICATED_GROUPS], "a, b");
    ctx.set_authenticated_groups(None);
    assert!(
        ctx.request
            .headers
            .get(headers::AUTHENTICATED_GROUPS)
            .is_none()
    );
}
