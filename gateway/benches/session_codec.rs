//! Seal and open of a Kong-style lua-resty-session v4 cookie (`[[[consumer_id, credential_id],
//! "default", subject]]`, 110 + 134 characters), through the pure codec and through `Session::open`.
//!
//! `open/warm` is the steady state (the session id's keys are cached after the first verified open);
//! `open/cold` derives the keys (two HKDF expansions) as the first request with a new cookie does;
//! `seal/new_sid` is a save: a new session id every time, so keys are always derived.
//!
//! `oidc/*` opens an openid-connect-sized session (access, refresh and id token, ~3 KB of JSON,
//! deflated and chunked like the plugin's cookie) through `Session::open`: `oidc/open_uncached` the
//! full way (MAC, decrypt, inflate, JSON), `oidc/open_cached` from the configuration's cache of opened
//! cookies (a lookup, the comparison of the cookie texts and the clock checks).

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use gateway::resty_session::codec::{self, CookieKind, HeaderCheck, SealParams, SessionKey};
use gateway::resty_session::{Session, SessionConfig};
use serde_json::Value;

const SECRET: &str = "bench-secret-do-not-use";
const NOW: u64 = 1_795_417_910;
const PLAINTEXT: &[u8] =
    br#"[[["7f3a4c2e-1b5d-4e8f-9a6b-0c1d2e3f4a5b","0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"],"default","alex"]]"#;

fn params(sid: [u8; 32]) -> SealParams {
    SealParams {
        sid,
        flags: 0,
        creation_time: NOW,
        rolling_offset: 0,
        idling_offset: 0,
        kind: CookieKind::Session,
    }
}

fn check() -> HeaderCheck {
    HeaderCheck {
        storage: false,
        kind: CookieKind::Session,
        absolute_timeout: 86_400,
        rolling_timeout: 3_600,
        idling_timeout: 900,
        now: NOW + 30,
    }
}

/// The codec steps of `Session::open` for cookie storage, down to the parsed JSON.
fn open_cookie(key: &SessionKey, cookie_header: &str, check: &HeaderCheck) -> Option<Value> {
    let value = codec::request_cookie(cookie_header, "session")?;
    let verified = codec::verify_header(key, value, check).ok()?;
    let payload =
        codec::cookie_payload(cookie_header, "session", value, verified.header.data_size).ok()?;
    let ciphertext = codec::decode_payload(&verified, &payload.ciphertext).ok()?;
    let plaintext = codec::decrypt(key, &verified, ciphertext).ok()?;
    serde_json::from_slice(&plaintext).ok()
}

fn bench(c: &mut Criterion) {
    let key = SessionKey::from_secret(SECRET);
    let sealed = codec::seal(&key, &params([7; 32]), PLAINTEXT, 1024).expect("seal");
    let cookie_header = format!("session={}{}", sealed.header_b64, sealed.payload_b64);
    let check = check();
    assert!(open_cookie(&key, &cookie_header, &check).is_some());

    let mut group = c.benchmark_group("session_codec");

    let mut counter = 0u64;
    group.bench_function("seal/new_sid", |b| {
        b.iter(|| {
            counter += 1;
            let mut sid = [0u8; 32];
            sid[..8].copy_from_slice(&counter.to_le_bytes());
            let sealed = codec::seal(&key, &params(sid), black_box(PLAINTEXT), 1024).expect("seal");
            black_box(sealed)
        })
    });

    group.bench_function("seal/cached_keys", |b| {
        b.iter(|| {
            black_box(
                codec::seal(&key, &params([7; 32]), black_box(PLAINTEXT), 1024).expect("seal"),
            )
        })
    });

    group.bench_function("open/warm", |b| {
        b.iter(|| black_box(open_cookie(&key, black_box(&cookie_header), &check)))
    });

    let ikm = [42u8; 32];
    let cold_sealed = codec::seal(
        &SessionKey::from_ikm(ikm),
        &params([9; 32]),
        PLAINTEXT,
        1024,
    )
    .expect("seal");
    let cold_header = format!(
        "session={}{}",
        cold_sealed.header_b64, cold_sealed.payload_b64
    );
    group.bench_function("open/cold", |b| {
        b.iter_batched_ref(
            || SessionKey::from_ikm(ikm),
            |fresh| black_box(open_cookie(fresh, black_box(&cold_header), &check)),
            BatchSize::SmallInput,
        )
    });

    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let cfg = Arc::new(SessionConfig::new(key.clone()).finish());
    group.bench_function("session/open_warm", |b| {
        b.to_async(&runtime).iter(|| async {
            let (session, opened) =
                Session::open(Arc::clone(&cfg), Some(&cookie_header), NOW + 30).await;
            debug_assert!(opened.is_ok());
            black_box(session)
        })
    });
    let data = serde_json::json!([
        "7f3a4c2e-1b5d-4e8f-9a6b-0c1d2e3f4a5b",
        "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
    ]);
    group.bench_function("session/save", |b| {
        b.to_async(&runtime).iter(|| async {
            let mut session = Session::new(Arc::clone(&cfg));
            session.set_data(data.clone());
            session.set_subject(Some("alex".to_owned()));
            session.save(NOW).await.expect("save");
            black_box(session)
        })
    });

    group.finish();
    oidc(c, &runtime, &key);
}

/// `n` characters of base64url that do not compress, like the signature part of a JWT.
fn token(n: usize, seed: u64) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            char::from(ALPHABET[usize::try_from(state >> 58).unwrap_or(0)])
        })
        .collect()
}

fn oidc(c: &mut Criterion, runtime: &tokio::runtime::Runtime, key: &SessionKey) {
    let cfg = Arc::new(SessionConfig::new(key.clone()).finish());
    let data = serde_json::json!({
        "access_token": token(1400, 1),
        "refresh_token": token(700, 2),
        "expires_at": NOW + 300,
        "id_token": token(900, 3),
        "method": "password",
    });
    let cookie_header = runtime.block_on(async {
        let mut session = Session::new(Arc::clone(&cfg));
        session.set_data(data);
        session.set_subject(Some("john".to_owned()));
        session.save(NOW).await.expect("save");
        session
            .set_cookie_headers()
            .iter()
            .filter_map(|c| c.split(';').next())
            .collect::<Vec<_>>()
            .join("; ")
    });
    let open = || async {
        let (session, opened) =
            Session::open(Arc::clone(&cfg), Some(&cookie_header), NOW + 30).await;
        assert!(opened.is_ok(), "{opened:?}");
        black_box(session)
    };
    runtime.block_on(open());

    let mut group = c.benchmark_group("session_codec");
    group.bench_function("oidc/open_uncached", |b| {
        b.to_async(runtime).iter_batched(
            || cfg.opened.clear(),
            |()| open(),
            BatchSize::PerIteration,
        )
    });
    runtime.block_on(open());
    group.bench_function("oidc/open_cached", |b| b.to_async(runtime).iter(open));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
