//! Random and mutated `Cookie` headers through the proxy pipeline with the session plugin (the cookie
//! decoder of `resty_session`, reached as a client reaches it): never a panic, never a 5xx. Runs in the normal
//! suite and under `ci/fuzz.sh` (target `cookie`).

use std::sync::Arc;

use http::HeaderValue;
use http::header::COOKIE;
use proptest::prelude::*;

use super::{check, mutate, mutations, runtime};
use crate::state::Shared;
use crate::testing::{
    cookie_pair, documented_flow, echo_upstream, request, send, set_cookies, shared,
};

/// Bytes a header value may hold (`HeaderValue::from_bytes`): visible ASCII, space, tab, obs-text.
fn header_safe(bytes: Vec<u8>) -> Vec<u8> {
    bytes
        .into_iter()
        .map(|b| {
            if b == b'\t' || (0x20..0x7f).contains(&b) || b >= 0x80 {
                b
            } else {
                b'A'
            }
        })
        .collect()
}

/// A gateway on the documented flow (with or without an anonymous consumer) and a cookie it issued.
struct Target {
    gateway: Arc<Shared>,
    cookie: Vec<u8>,
}

async fn target(session_config: &str, anonymous: bool) -> Target {
    let up = echo_upstream().await;
    let mut doc = documented_flow(up, session_config);
    if !anonymous {
        doc = doc.replace(
            "          anonymous: 81823632-10c0-4098-a4f7-31062520c1e6\n",
            "",
        );
    }
    let gateway = shared(&doc);
    let login = send(
        &gateway,
        request("GET", "/anything", &[("apikey", "hello_world")]),
    )
    .await;
    let cookie = cookie_pair(&set_cookies(&login)[0]).into_bytes();
    Target { gateway, cookie }
}

/// A Cookie header: arbitrary bytes, a mutated real cookie, chunked (`session_2`…) variants, oversized
/// base64url, or several cookies joined.
fn cookie_header(good: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let b64 = prop::sample::select(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".to_vec(),
    );
    let good_for_mutation = good.clone();
    let good_for_chunks = good.clone();
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        mutations(8).prop_map(move |edits| mutate(&good_for_mutation, &edits)),
        (
            mutations(4),
            1usize..5,
            prop::collection::vec(b64.clone(), 0..300)
        )
            .prop_map(move |(edits, chunks, tail)| {
                let mut header = mutate(&good_for_chunks, &edits);
                for n in 2..=chunks {
                    header.extend_from_slice(format!("; session_{n}=").as_bytes());
                    header.extend_from_slice(&tail);
                }
                header
            }),
        (0usize..16_384, b64).prop_map(|(n, c)| {
            let mut header = b"session=".to_vec();
            header.extend(std::iter::repeat_n(c, n));
            header
        }),
        prop::collection::vec(
            prop_oneof![
                Just(b"session=".to_vec()),
                Just(b"; ".to_vec()),
                Just(b";".to_vec()),
                Just(b"=".to_vec()),
                Just(b"session_2=".to_vec()),
                Just(b"remember=".to_vec()),
                Just(good.clone()),
                prop::collection::vec(any::<u8>(), 0..40),
            ],
            0..12
        )
        .prop_map(|parts| parts.concat()),
    ]
    .prop_map(header_safe)
}

#[test]
fn random_and_mutated_cookies_never_panic_or_5xx() {
    let rt = runtime();
    let targets = rt.block_on(async {
        vec![
            target("          cookie_secure: false", true).await,
            target(
                "          storage: kong\n          cookie_secure: false",
                true,
            )
            .await,
            target("          cookie_secure: false", false).await,
        ]
    });
    // One strategy over all targets, so that the fuzzing budget is shared rather than spent three times.
    let cookies: Vec<Vec<u8>> = targets.iter().map(|t| t.cookie.clone()).collect();
    let cases =
        (0..targets.len()).prop_flat_map(move |i| (Just(i), cookie_header(cookies[i].clone())));
    check("cookie", cases, |(i, header)| {
        let value = HeaderValue::from_bytes(&header)
            .map_err(|e| TestCaseError::fail(format!("strategy made a bad header: {e}")))?;
        let status = rt.block_on(async {
            let mut req = request("GET", "/anything", &[]);
            req.headers_mut().insert(COOKIE, value);
            send(&targets[i].gateway, req).await.status()
        });
        prop_assert!(status.as_u16() < 500, "status {status}");
        Ok(())
    });
}
