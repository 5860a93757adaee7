//! Tests of the session port: vectors made by the real lua-resty-session 4.0.5, byte-exact sealing, the
//! open checks in resty's order, storage, renewal, chunking and the cookie attributes.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};

use super::codec::{self, CookieKind, HeaderCheck, SealParams};
use super::{
    OpenError, SameSite, Session, SessionConfig, SessionError, SessionHeader, SessionKey, Storage,
    json as cjson,
};

const VECTORS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../fixtures/session/resty-session-v4-vectors.json"
));

/// 2026-11-23-ish, well inside the 5-byte creation time.
const T: u64 = 1_795_417_910;

#[derive(Debug, Deserialize)]
struct Vector {
    name: String,
    secret: String,
    cookie_name: String,
    cookie: String,
    set_cookie: Option<String>,
    created_at: u64,
    rolling_offset: u64,
    idling_offset: u64,
    flags: u16,
    sid_hex: String,
    sid_b64url: String,
    data_size: usize,
    plaintext_json: String,
    plaintext_is_deflated: bool,
    decoded: Decoded,
    header_hex: String,
    ciphertext_hex: String,
    tag_hex: String,
    mac_hex: String,
    ikm_hex: String,
    prk_hex: String,
    aes_key_hex: String,
    iv_hex: String,
    mac_key_hex: String,
}

#[derive(Debug, Deserialize)]
struct Decoded {
    data: Value,
    audience: String,
    subject: String,
}

fn vectors() -> Vec<Vector> {
    serde_json::from_str(VECTORS).expect("fixture parses")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

fn sid_of(text: &str) -> [u8; 32] {
    unhex(text).try_into().expect("32-byte sid")
}

fn config() -> SessionConfig {
    SessionConfig::new(SessionKey::from_secret("test-secret"))
}

fn check(now: u64) -> HeaderCheck {
    HeaderCheck {
        storage: false,
        kind: CookieKind::Session,
        absolute_timeout: 86400,
        rolling_timeout: 3600,
        idling_timeout: 900,
        now,
    }
}

/// The `name=value` parts of Set-Cookie values, joined like a browser's `Cookie` header.
fn cookie_header(set_cookies: &[String]) -> String {
    set_cookies
        .iter()
        .map(|c| c.split(';').next().unwrap_or_default())
        .filter(|pair| !pair.ends_with('='))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The value of the `session` Set-Cookie.
fn session_value(set_cookies: &[String]) -> String {
    let cookie = set_cookies
        .iter()
        .find(|c| c.starts_with("session="))
        .expect("a session cookie");
    cookie["session=".len()..]
        .split(';')
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Saves a Kong-style session at `now` and returns its Set-Cookie values.
async fn saved(cfg: &Arc<SessionConfig>, data: Value, now: u64) -> Vec<String> {
    let mut session = Session::new(Arc::clone(cfg));
    session.set_data(data);
    session.set_subject(Some("alex".to_owned()));
    session.save(now).await.expect("save");
    session.set_cookie_headers().to_vec()
}

async fn open(
    cfg: &Arc<SessionConfig>,
    cookie: &str,
    now: u64,
) -> (Session, Result<(), OpenError>) {
    Session::open(Arc::clone(cfg), Some(cookie), now).await
}

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// `text` with its `i`-th base64url character's value XOR `mask` (32 flips a bit that always counts).
fn flip(text: &str, i: usize, mask: usize) -> String {
    let mut bytes = text.as_bytes().to_vec();
    let index = ALPHABET
        .iter()
        .position(|&c| c == bytes[i])
        .expect("base64url");
    bytes[i] = ALPHABET[index ^ mask];
    String::from_utf8(bytes).expect("ascii")
}

fn kong_data() -> Value {
    json!([
        "7f3a4c2e-1b5d-4e8f-9a6b-0c1d2e3f4a5b",
        "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
    ])
}

// --- vectors --------------------------------------------------------------------------------------

#[test]
fn resty_vectors_every_intermediate_matches() {
    for v in vectors() {
        let key = SessionKey::from_secret(&v.secret);
        assert_eq!(hex(key.ikm_bytes()), v.ikm_hex, "{}: ikm", v.name);
        assert_eq!(hex(&key.prk_bytes()), v.prk_hex, "{}: prk", v.name);

        let sid = sid_of(&v.sid_hex);
        assert_eq!(
            codec::encode_base64url(&sid),
            v.sid_b64url,
            "{}: sid",
            v.name
        );
        let keys = key.derive(&sid, CookieKind::Session).expect("derive");
        assert_eq!(hex(keys.aes_key()), v.aes_key_hex, "{}: aes key", v.name);
        assert_eq!(hex(keys.iv()), v.iv_hex, "{}: iv", v.name);
        assert_eq!(hex(keys.mac_key()), v.mac_key_hex, "{}: mac key", v.name);

        let verified =
            codec::verify_header(&key, &v.cookie, &check(v.created_at)).expect("header verifies");
        assert_eq!(hex(&verified.bytes), v.header_hex, "{}: header", v.name);
        let header = verified.header;
        assert_eq!(hex(&header.tag), v.tag_hex, "{}: tag", v.name);
        assert_eq!(hex(&header.mac), v.mac_hex, "{}: mac", v.name);
        assert_eq!(header.sid, sid);
        assert_eq!(header.flags, v.flags);
        assert_eq!(header.creation_time, v.created_at);
        assert_eq!(header.rolling_offset, v.rolling_offset);
        assert_eq!(header.idling_offset, v.idling_offset);
        assert_eq!(header.data_size, v.data_size);

        let payload = codec::cookie_payload(&v.cookie, &v.cookie_name, &v.cookie, header.data_size)
            .expect("payload");
        let ciphertext = codec::decode_payload(&verified, &payload.ciphertext).expect("base64url");
        assert_eq!(hex(&ciphertext), v.ciphertext_hex, "{}: ciphertext", v.name);
        assert!(!v.plaintext_is_deflated);
        let plaintext = codec::decrypt(&key, &verified, ciphertext).expect("decrypts");
        assert_eq!(
            String::from_utf8(plaintext).expect("utf-8"),
            v.plaintext_json,
            "{}: plaintext",
            v.name
        );
    }
}

#[test]
fn resty_vectors_are_reproduced_byte_for_byte_by_seal() {
    for v in vectors() {
        let key = SessionKey::from_secret(&v.secret);
        let params = SealParams {
            sid: sid_of(&v.sid_hex),
            flags: v.flags,
            creation_time: v.created_at,
            rolling_offset: v.rolling_offset,
            idling_offset: v.idling_offset,
            kind: CookieKind::Session,
        };
        let sealed = codec::seal(&key, &params, v.plaintext_json.as_bytes(), 1024).expect("seal");
        assert_eq!(hex(&sealed.header), v.header_hex, "{}: header", v.name);
        assert_eq!(
            format!("{}{}", sealed.header_b64, sealed.payload_b64),
            v.cookie,
            "{}: cookie",
            v.name
        );

        if let Some(expected) = &v.set_cookie {
            let cfg = SessionConfig::new(key.clone()).finish();
            let cookies = codec::session_cookies(
                &v.cookie_name,
                &sealed.header_b64,
                Some(&sealed.payload_b64),
                &cfg.attributes(),
                "",
            )
            .expect("cookies");
            assert_eq!(cookies.cookies.len(), 1);
            assert_eq!(&cookies.cookies[0].1, expected, "{}: Set-Cookie", v.name);
        }
    }
}

#[tokio::test]
async fn resty_vectors_open_as_sessions() {
    for v in vectors() {
        let cfg = Arc::new(SessionConfig::new(SessionKey::from_secret(&v.secret)));
        let header = format!("other=1; {}={}", v.cookie_name, v.cookie);
        let (session, opened) = open(&cfg, &header, v.created_at + 5).await;
        assert_eq!(opened, Ok(()), "{}", v.name);
        assert_eq!(session.data(), Some(&v.decoded.data), "{}: data", v.name);
        assert_eq!(session.audience(), v.decoded.audience);
        assert_eq!(session.subject(), Some(v.decoded.subject.as_str()));
        assert_eq!(session.id().as_deref(), Some(v.sid_b64url.as_str()));
        // Parsed, not compared as bytes: but array data re-encodes exactly as cjson wrote it.
        let reencoded: Value =
            serde_json::from_slice(&cjson::encode_array(&session.entries)).expect("json");
        let original: Value = serde_json::from_str(&v.plaintext_json).expect("json");
        assert_eq!(reencoded, original);
    }
    let kong = &vectors()[0];
    let cfg = Arc::new(SessionConfig::new(SessionKey::from_secret(&kong.secret)));
    let (session, _) = open(&cfg, &format!("session={}", kong.cookie), kong.created_at).await;
    assert_eq!(
        String::from_utf8(cjson::encode_array(&session.entries)).expect("utf-8"),
        kong.plaintext_json
    );
}

/// kong-behaviour.md §1.8 "Derived test vector".
#[test]
fn derived_vector_from_the_reference_is_reproduced() {
    let key = SessionKey::from_secret("ultra top secret session");
    assert_eq!(
        hex(key.ikm_bytes()),
        "9747ff6b5f313c6c9a813a821b3f74062e73e54fc6e3d4b9f3b1e936aa4318ec"
    );
    let sid: [u8; 32] = std::array::from_fn(|i| i as u8);
    let keys = key.derive(&sid, CookieKind::Session).expect("derive");
    assert_eq!(
        hex(keys.aes_key()),
        "f7d8739995d2a922bc4f695998f847e960f326fff2e17f300f3f36b7004a4160"
    );
    assert_eq!(hex(keys.iv()), "84ddae745c2ba69ec220843e");
    assert_eq!(
        hex(keys.mac_key()),
        "989cc4e51d55d65e997c504156678be8cafe93983ff13638b91b2b526d2dbd00"
    );

    let data = json!([[
        [
            "00000000-0000-4000-8000-000000000001",
            "00000000-0000-4000-8000-000000000002"
        ],
        "default",
        "coop"
    ]]);
    let plaintext = cjson::encode(&data);
    assert_eq!(plaintext.len(), 100);
    let params = SealParams {
        sid,
        flags: 0,
        creation_time: 1_700_000_000,
        rolling_offset: 0,
        idling_offset: 0,
        kind: CookieKind::Session,
    };
    let sealed = codec::seal(&key, &params, &plaintext, 1024).expect("seal");
    let header = codec::Header::from_bytes(&sealed.header);
    assert_eq!(hex(&header.tag), "faa216823fcf6280ef07f0e5ad153960");
    assert_eq!(hex(&header.mac), "67ec9519ef7eb47d304153955ffdedfa");
    assert_eq!(header.data_size, 134);
    let cookie = format!("{}{}", sealed.header_b64, sealed.payload_b64);
    assert_eq!(cookie.len(), 244);
    assert_eq!(
        cookie,
        "AQAAAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8A8VNlAAAAAACGAAD6ohaCP89igO8H8OWtFTlgAAAAZ-yVGe9-tH0wQVOVX_3t-gtUkU-xQJPwTjE0KTDMVCvV8GQnlq8EAGbMXi2O8-MoIWvCYOrLlLFWj9wtjtwq3XBKICunej_oZx76mVxvuN-QNOsVLvMy_OxnWts25RiCtXMwO07KGu3pRiULSY32JZxBba2w"
    );
}

// --- open: errors in resty's order ------------------------------------------------------------------

#[tokio::test]
async fn missing_short_and_empty_cookies() {
    let cfg = Arc::new(config());
    let (_, r) = Session::open(Arc::clone(&cfg), None, T).await;
    assert_eq!(r, Err(OpenError::MissingCookie));
    assert_eq!(
        open(&cfg, "other=1", T).await.1,
        Err(OpenError::MissingCookie)
    );
    assert_eq!(
        open(&cfg, "session=", T).await.1,
        Err(OpenError::InvalidHeader)
    );
    assert_eq!(
        open(&cfg, "session=AQAA", T).await.1,
        Err(OpenError::InvalidHeader)
    );
    assert_eq!(
        OpenError::MissingCookie.to_string(),
        "missing session cookie"
    );
}

#[tokio::test]
async fn tampering_any_header_byte_gives_resty_errors() {
    let mut cfg = config();
    cfg.idling_timeout = 0;
    cfg.rolling_timeout = 0;
    cfg.absolute_timeout = 0;
    let cfg = Arc::new(cfg);
    let value = session_value(&saved(&cfg, kong_data(), T).await);
    let header = codec::decode_base64url(&value.as_bytes()[..110]).expect("header");
    let payload = &value[110..];
    assert_eq!(open(&cfg, &format!("session={value}"), T).await.1, Ok(()));

    for i in 0..codec::HEADER_SIZE {
        let mut tampered = header.clone();
        tampered[i] ^= 0x80;
        let cookie = format!("session={}{payload}", codec::encode_base64url(&tampered));
        let expected = match i {
            0 => OpenError::InvalidType,
            _ => OpenError::InvalidMac,
        };
        assert_eq!(
            open(&cfg, &cookie, T).await.1,
            Err(expected),
            "header byte {i}"
        );
    }
    // The STORAGE flag bit is checked before the MAC.
    let mut tampered = header.clone();
    tampered[1] ^= 0x01;
    let cookie = format!("session={}{payload}", codec::encode_base64url(&tampered));
    assert_eq!(open(&cfg, &cookie, T).await.1, Err(OpenError::InvalidFlags));
    assert_eq!(
        OpenError::InvalidMac.to_string(),
        "invalid session message authentication code"
    );
}

#[tokio::test]
async fn tampering_any_payload_character_fails_decryption() {
    let cfg = Arc::new(config());
    let value = session_value(&saved(&cfg, kong_data(), T).await);
    for i in 110..value.len() {
        let cookie = format!("session={}", flip(&value, i, 32));
        assert_eq!(
            open(&cfg, &cookie, T).await.1,
            Err(OpenError::Decrypt),
            "payload char {i}"
        );
    }
    assert_eq!(
        OpenError::Decrypt.to_string(),
        "unable to decrypt session data (cipher:final: EVP_CipherFinal_ex failed)"
    );
}

#[tokio::test]
async fn foreign_base64_characters_are_rejected() {
    let cfg = Arc::new(config());
    let value = session_value(&saved(&cfg, kong_data(), T).await);
    let mut header_plus = value.clone();
    header_plus.replace_range(5..6, "+");
    assert_eq!(
        open(&cfg, &format!("session={header_plus}"), T).await.1,
        Err(OpenError::HeaderBase64)
    );
    let mut payload_slash = value.clone();
    payload_slash.replace_range(120..121, "/");
    let r = open(&cfg, &format!("session={payload_slash}"), T).await.1;
    assert_eq!(r, Err(OpenError::PayloadBase64));
    assert_eq!(
        OpenError::PayloadBase64.to_string(),
        "unable to base64url decode session data (invalid input)"
    );
    // A trailing "=" shifts the positional payload: it no longer decrypts (as in the lab).
    let r = open(&cfg, &format!("session={value}="), T).await.1;
    assert!(
        matches!(r, Err(OpenError::Decrypt | OpenError::PayloadBase64)),
        "{r:?}"
    );
}

#[tokio::test]
async fn a_header_cut_short_by_equals_reports_the_field_it_ends_in() {
    let mut cfg = config();
    cfg.idling_timeout = 0;
    cfg.rolling_timeout = 0;
    cfg.absolute_timeout = 0;
    let cfg = Arc::new(cfg);
    let value = session_value(&saved(&cfg, kong_data(), T).await);
    // nginx stops decoding at "=": 4 characters → 3 bytes → type and flags, no session id.
    let mut cut = value.clone();
    cut.replace_range(4..5, "=");
    assert_eq!(
        open(&cfg, &format!("session={cut}"), T).await.1,
        Err(OpenError::InvalidId)
    );
    let mut cut = value.clone();
    cut.replace_range(108..109, "=");
    assert_eq!(
        open(&cfg, &format!("session={cut}"), T).await.1,
        Err(OpenError::InvalidMac)
    );
}

#[tokio::test]
async fn timeouts_are_checked_in_order_and_zero_disables() {
    let base = || {
        let mut cfg = config();
        cfg.idling_timeout = 900;
        cfg.rolling_timeout = 3600;
        cfg.absolute_timeout = 86400;
        cfg
    };
    let cfg = Arc::new(base());
    let cookie = format!(
        "session={}",
        session_value(&saved(&cfg, kong_data(), T).await)
    );
    assert_eq!(open(&cfg, &cookie, T + 900).await.1, Ok(()));
    assert_eq!(
        open(&cfg, &cookie, T + 901).await.1,
        Err(OpenError::IdlingTimeout)
    );
    assert_eq!(
        open(&cfg, &cookie, T + 3601).await.1,
        Err(OpenError::RollingTimeout)
    );
    assert_eq!(
        open(&cfg, &cookie, T + 86401).await.1,
        Err(OpenError::AbsoluteTimeout)
    );

    let mut no_idle = base();
    no_idle.idling_timeout = 0;
    let no_idle = Arc::new(no_idle);
    assert_eq!(open(&no_idle, &cookie, T + 3600).await.1, Ok(()));
    assert_eq!(
        open(&no_idle, &cookie, T + 3601).await.1,
        Err(OpenError::RollingTimeout)
    );

    let mut absolute_only = base();
    absolute_only.idling_timeout = 0;
    absolute_only.rolling_timeout = 0;
    let absolute_only = Arc::new(absolute_only);
    assert_eq!(open(&absolute_only, &cookie, T + 86400).await.1, Ok(()));
    assert_eq!(
        open(&absolute_only, &cookie, T + 86401).await.1,
        Err(OpenError::AbsoluteTimeout)
    );

    let mut none = base();
    none.idling_timeout = 0;
    none.rolling_timeout = 0;
    none.absolute_timeout = 0;
    let none = Arc::new(none);
    assert_eq!(open(&none, &cookie, T + (1 << 32) - 1).await.1, Ok(()));
    assert_eq!(
        open(&none, &cookie, T + (1 << 32)).await.1,
        Err(OpenError::LifetimeExceeded)
    );
    // A creation time in the future is not an error (resty only checks `elapsed > timeout`).
    assert_eq!(open(&cfg, &cookie, T - 1000).await.1, Ok(()));
}

#[tokio::test]
async fn trailing_bits_are_accepted() {
    let cfg = Arc::new(config());
    let value = session_value(&saved(&cfg, kong_data(), T).await);
    // 82 bytes = 27 groups + 1 byte: the 110th character carries 2 bits and 4 padding bits.
    let cookie = format!("session={}", flip(&value, 109, 0x0f));
    assert_ne!(cookie, format!("session={value}"));
    let (session, r) = open(&cfg, &cookie, T).await;
    assert_eq!(r, Ok(()));
    assert_eq!(session.data(), Some(&kong_data()));
}

#[tokio::test]
async fn characters_between_header_and_payload_are_ignored() {
    let cfg = Arc::new(config());
    let value = session_value(&saved(&cfg, kong_data(), T).await);
    let cookie = format!("session={}XYZ{}", &value[..110], &value[110..]);
    let (mut session, r) = open(&cfg, &cookie, T).await;
    assert_eq!(r, Ok(()));
    assert_eq!(session.data(), Some(&kong_data()));
    // touch writes back the payload it used, without the junk
    session.touch(T + 100).expect("touch");
    assert!(!session.set_cookie_headers()[0].contains("XYZ"));
}

#[tokio::test]
async fn verified_keys_enter_the_cache_forged_ones_do_not() {
    let cfg = Arc::new(config());
    let value = session_value(&saved(&cfg, kong_data(), T).await);
    let header = codec::decode_base64url(&value.as_bytes()[..110]).expect("header");
    let mut forged = header.clone();
    forged[3..35].copy_from_slice(&[7u8; 32]);
    let cookie = format!(
        "session={}{}",
        codec::encode_base64url(&forged),
        &value[110..]
    );
    assert_eq!(open(&cfg, &cookie, T).await.1, Err(OpenError::InvalidMac));
    assert!(!cfg.key.is_cached(&[7u8; 32], CookieKind::Session));
    let sid: [u8; 32] = header[3..35].try_into().expect("sid");
    assert!(cfg.key.is_cached(&sid, CookieKind::Session));
    assert_eq!(
        format!("{:?}", cfg.key),
        "SessionKey { ikm: REDACTED, prk: REDACTED, cache: KeyCache { .. } }"
    );
}

// --- save, deflate, chunking -------------------------------------------------------------------------

#[tokio::test]
async fn empty_data_and_missing_subject_encode_like_cjson() {
    let cfg = Arc::new(config());
    let session = Session::new(Arc::clone(&cfg));
    assert_eq!(
        cjson::encode_array(&session.entries),
        br#"[[{},"default"]]"#
    );
    let mut session = Session::new(cfg);
    session.set_subject(Some("a/bé".to_owned()));
    session.set_data(json!([]));
    assert_eq!(
        String::from_utf8(cjson::encode_array(&session.entries)).expect("utf-8"),
        r#"[[{},"default","a\/bé"]]"#
    );
    session.set_subject(None);
    assert_eq!(
        cjson::encode_array(&session.entries),
        br#"[[{},"default"]]"#
    );
}

#[test]
fn cjson_number_and_escape_formatting() {
    assert_eq!(
        cjson::encode(&json!([
            1,
            -7,
            2.5,
            1e20,
            12_345_678_901_234_567_u64,
            0.1,
            100_000_000_000_000_u64,
            1e-5
        ])),
        b"[1,-7,2.5,1e+20,1.2345678901235e+16,0.1,1e+14,1e-05]"
    );
    assert_eq!(
        cjson::encode(&json!("\u{1}\t\"\\\u{7f}")),
        br#""\u0001\t\"\\\u007f""#
    );
    assert_eq!(
        cjson::encode(&json!({"b": [], "a": null})),
        br#"{"a":null,"b":{}}"#
    );
}

#[tokio::test]
async fn large_data_is_deflated_and_round_trips() {
    let cfg = Arc::new(config());
    let data = json!({"blob": "session ".repeat(1000)});
    let cookies = saved(&cfg, data.clone(), T).await;
    assert_eq!(cookies.len(), 1);
    let value = session_value(&cookies);
    let header = codec::Header::from_bytes(
        &codec::decode_base64url(&value.as_bytes()[..110])
            .expect("header")
            .try_into()
            .expect("82 bytes"),
    );
    assert_eq!(header.flags & codec::FLAG_DEFLATE, codec::FLAG_DEFLATE);
    let (session, r) = open(&cfg, &format!("session={value}"), T).await;
    assert_eq!(r, Ok(()));
    assert_eq!(session.data(), Some(&data));

    let raw = b"hello hello hello hello";
    assert_eq!(
        codec::inflate(&codec::deflate(raw).expect("deflate")).expect("inflate"),
        raw
    );
}

#[test]
fn a_deflate_bomb_is_refused_not_inflated() {
    // 26 MiB of zeros deflate to about 26 KB: inflating it must stop at the cap with an error.
    let bomb = codec::deflate(&vec![0u8; 26 * 1024 * 1024]).expect("deflate");
    assert!(bomb.len() < 64 * 1024, "{}", bomb.len());
    let err = codec::inflate(&bomb).expect_err("a bomb must be refused");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    // Right at the cap still inflates.
    let fits = codec::deflate(&vec![7u8; codec::MAX_INFLATED_SIZE]).expect("deflate");
    assert_eq!(
        codec::inflate(&fits).expect("inflate").len(),
        codec::MAX_INFLATED_SIZE
    );
}

/// Deterministic text that deflate cannot shrink much.
fn noise(len: usize) -> String {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                    [(x % 62) as usize],
            )
        })
        .collect()
}

#[tokio::test]
async fn large_sessions_are_chunked_and_joined_back() {
    let mut cfg = config();
    cfg.compression_threshold = 0;
    let cfg = Arc::new(cfg);
    let data = json!({"blob": noise(10_000)});
    let cookies = saved(&cfg, data.clone(), T).await;
    let names: Vec<&str> = cookies
        .iter()
        .map(|c| c.split('=').next().unwrap_or_default())
        .collect();
    assert_eq!(names, ["session", "session2", "session3", "session4"]);
    for cookie in &cookies {
        assert!(cookie.split(';').next().unwrap_or_default().len() <= codec::MAX_COOKIE_SIZE);
        assert!(cookie.ends_with("; Path=/; SameSite=Strict; Secure; HttpOnly"));
    }
    let header = cookie_header(&cookies);
    let (mut session, r) = open(&cfg, &header, T).await;
    assert_eq!(r, Ok(()));
    assert_eq!(session.data(), Some(&data));

    // A missing chunk
    let without_3: Vec<String> = cookies
        .iter()
        .filter(|c| !c.starts_with("session3="))
        .cloned()
        .collect();
    assert_eq!(
        open(&cfg, &cookie_header(&without_3), T).await.1,
        Err(OpenError::MissingChunk)
    );

    // Shrinking expires the chunks no longer used.
    session.set_data(json!({"small": true}));
    session.save(T + 10).await.expect("save");
    let after = session.set_cookie_headers();
    assert_eq!(after.len(), 4);
    for n in 2..=4 {
        assert!(
            after.contains(&format!(
                "session{n}=; Path=/; SameSite=Strict; Secure; HttpOnly; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0"
            )),
            "{after:?}"
        );
    }
}

#[tokio::test]
async fn more_than_nine_cookies_is_refused() {
    let cfg = Arc::new(config());
    let mut session = Session::new(cfg);
    session.set_data(json!({"blob": noise(40_000)}));
    let err = session.save(T).await.expect_err("too large");
    assert_eq!(err, SessionError::CookieSizeLimit);
    assert_eq!(err.to_string(), "cookie size limit exceeded");
    assert_eq!(codec::cookie_chunks(7, 36_864), None);
    assert_eq!(codec::cookie_chunks(7, 4096 - 118), Some(1));
    assert_eq!(codec::cookie_chunks(7, 4096 - 117), Some(2));
}

// --- storage ---------------------------------------------------------------------------------------

fn storage_config() -> (Arc<SessionConfig>, Arc<Storage>) {
    let storage = Arc::new(Storage::memory());
    let mut cfg = config();
    cfg.storage = Some(Arc::clone(&storage));
    (Arc::new(cfg), storage)
}

fn memory(storage: &Storage) -> &super::MemoryStore {
    match storage {
        Storage::Memory(store) => store,
        Storage::Postgres(_) | Storage::Redis(_) => {
            unreachable!("these tests use the in-memory store")
        }
    }
}

#[tokio::test]
async fn server_side_storage_round_trip_renewal_and_destroy() {
    let (cfg, storage) = storage_config();
    let mut session = Session::new(Arc::clone(&cfg));
    session.set_data(kong_data());
    session.set_subject(Some("alex".to_owned()));
    session.save(T).await.expect("save");
    let cookies = session.set_cookie_headers().to_vec();
    let value = session_value(&cookies);
    assert_eq!(value.len(), 110, "the cookie is the header only");
    let header = codec::Header::from_bytes(
        &codec::decode_base64url(value.as_bytes())
            .expect("header")
            .try_into()
            .expect("82"),
    );
    assert_eq!(header.flags & codec::FLAG_STORAGE, codec::FLAG_STORAGE);
    let id = session.id().expect("id");
    let row = storage.get(&id, T).await.expect("storage").expect("row");
    assert!(row.starts_with("[\"") && row.ends_with("\"]"), "{row}");
    assert_eq!(row.len() - 4, header.data_size);
    assert_eq!(memory(&storage).expires(&id), Some(T + 3600));

    // A cookie-storage configuration refuses it, and the other way round.
    let cookie_cfg = Arc::new(config());
    assert_eq!(
        open(&cookie_cfg, &format!("session={value}"), T).await.1,
        Err(OpenError::InvalidFlags)
    );

    let (mut opened, r) = open(&cfg, &format!("session={value}"), T + 10).await;
    assert_eq!(r, Ok(()));
    assert_eq!(opened.data(), Some(&kong_data()));
    assert_eq!(opened.subject(), Some("alex"));

    // Renewal: a new row, and the old one cut to stale_ttl.
    opened.save(T + 100).await.expect("save");
    let new_id = opened.id().expect("id");
    assert_ne!(new_id, id);
    assert_eq!(memory(&storage).expires(&new_id), Some(T + 100 + 3600));
    assert_eq!(memory(&storage).expires(&id), Some(T + 100 + 10));
    assert_eq!(
        open(&cfg, &format!("session={value}"), T + 110).await.1,
        Ok(())
    );
    assert_eq!(
        open(&cfg, &format!("session={value}"), T + 111).await.1,
        Err(OpenError::StorageMissing)
    );

    // Destroy deletes the row; a second destroy of the same row fails like Kong's adapter.
    let renewed = session_value(opened.set_cookie_headers());
    let (mut again, _) = open(&cfg, &format!("session={renewed}"), T + 120).await;
    opened.destroy(T + 120).await.expect("destroy");
    assert_eq!(storage.get(&new_id, T + 120).await.expect("storage"), None);
    assert_eq!(
        opened.set_cookie_headers(),
        [
            "session=; Path=/; SameSite=Strict; Secure; HttpOnly; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0"
        ]
    );
    assert_eq!(
        again.destroy(T + 120).await,
        Err(SessionError::DestroyMissing)
    );
}

#[tokio::test]
async fn storage_rows_expire_with_the_rolling_timeout_and_can_be_keyed_by_hash() {
    let storage = Arc::new(Storage::memory());
    let mut cfg = config();
    cfg.storage = Some(Arc::clone(&storage));
    cfg.rolling_timeout = 0;
    cfg.idling_timeout = 0;
    cfg.hash_storage_key = true;
    let cfg = Arc::new(cfg);
    let mut session = Session::new(Arc::clone(&cfg));
    session.save(T).await.expect("save");
    let value = session_value(session.set_cookie_headers());
    let sid: [u8; 32] = codec::decode_base64url(value.as_bytes()).expect("header")[3..35]
        .try_into()
        .expect("sid");
    let key = codec::storage_key(&sid, true);
    assert_ne!(key, session.id().expect("id"));
    assert_eq!(memory(&storage).expires(&key), Some(T + codec::MAX_TTL));
    assert_eq!(
        open(&cfg, &format!("session={value}"), T + 5).await.1,
        Ok(())
    );
}

// --- renewal -----------------------------------------------------------------------------------------

#[tokio::test]
async fn touch_changes_only_the_idling_offset_and_mac() {
    let cfg = Arc::new(config());
    let value = session_value(&saved(&cfg, kong_data(), T).await);
    let (mut session, r) = open(&cfg, &format!("session={value}"), T + 120).await;
    assert_eq!(r, Ok(()));
    let id = session.id();
    session.touch(T + 120).expect("touch");
    assert_eq!(session.id(), id);
    let touched = session_value(session.set_cookie_headers());
    assert_eq!(&touched[110..], &value[110..], "same payload");
    let before = codec::decode_base64url(&value.as_bytes()[..110]).expect("header");
    let after = codec::decode_base64url(&touched.as_bytes()[..110]).expect("header");
    assert_eq!(before[..63], after[..63], "type..tag unchanged");
    assert_ne!(before[63..], after[63..]);
    let header = codec::Header::from_bytes(&after.clone().try_into().expect("82"));
    assert_eq!(header.idling_offset, 120);

    // The idling timeout now counts from the touch.
    assert_eq!(
        open(&cfg, &format!("session={value}"), T + 1000).await.1,
        Err(OpenError::IdlingTimeout)
    );
    assert_eq!(
        open(&cfg, &format!("session={touched}"), T + 1000).await.1,
        Ok(())
    );
}

#[tokio::test]
async fn refresh_touches_after_the_threshold_and_saves_after_three_quarters() {
    let mut cfg = config();
    cfg.idling_timeout = 3600;
    let cfg = Arc::new(cfg);
    let cookie = format!(
        "session={}",
        session_value(&saved(&cfg, kong_data(), T).await)
    );

    let refreshed = |now: u64| {
        let cfg = Arc::clone(&cfg);
        let cookie = cookie.clone();
        async move {
            let (mut session, r) = open(&cfg, &cookie, now).await;
            assert_eq!(r, Ok(()));
            let id = session.id();
            session.refresh(now).await.expect("refresh");
            (id, session)
        }
    };

    let (_, session) = refreshed(T + 60).await;
    assert!(
        session.set_cookie_headers().is_empty(),
        "within touch_threshold"
    );

    let (id, session) = refreshed(T + 61).await;
    assert_eq!(session.set_cookie_headers().len(), 1, "touched");
    assert_eq!(session.id(), id);

    let (id, session) = refreshed(T + 2700).await;
    assert_eq!(
        session.id(),
        id,
        "ceil(0.75 * 3600) = 2700 is not past the threshold: touch"
    );

    let (id, session) = refreshed(T + 2701).await;
    assert_ne!(session.id(), id, "saved with a new session id");
    let value = session_value(session.set_cookie_headers());
    let header = codec::Header::from_bytes(
        &codec::decode_base64url(&value.as_bytes()[..110])
            .expect("header")
            .try_into()
            .expect("82"),
    );
    assert_eq!(header.creation_time, T, "creation time kept");
    assert_eq!(header.rolling_offset, 2701);
    assert_eq!(header.idling_offset, 0);

    let mut closed = Session::new(Arc::clone(&cfg));
    assert_eq!(
        closed.refresh(T).await,
        Err(SessionError::State(
            "unable to refresh nonexistent or closed session"
        ))
    );
}

// --- audiences, logout ---------------------------------------------------------------------------------

#[tokio::test]
async fn audiences_share_a_cookie_and_logout_removes_one() {
    let with_audience = |audience: &str| {
        let mut cfg = config();
        cfg.audience = audience.to_owned();
        Arc::new(cfg)
    };
    let (a, b) = (with_audience("a"), with_audience("b"));
    let cookie_a = format!(
        "session={}",
        session_value(&saved(&a, json!(["ca"]), T).await)
    );

    let (mut session_b, r) = open(&b, &cookie_a, T + 5).await;
    assert_eq!(r, Err(OpenError::MissingAudience));
    assert_eq!(session_b.audience(), "b");
    session_b.set_data(json!(["cb"]));
    session_b.save(T + 5).await.expect("save");
    let both = format!("session={}", session_value(session_b.set_cookie_headers()));
    let header = codec::Header::from_bytes(
        &codec::decode_base64url(&both.as_bytes()[8..118])
            .expect("header")
            .try_into()
            .expect("82"),
    );
    assert_eq!(
        header.creation_time, T,
        "creation time of the valid cookie is kept"
    );

    let (session, r) = open(&a, &both, T + 6).await;
    assert_eq!((r, session.data()), (Ok(()), Some(&json!(["ca"]))));
    let (mut session, r) = open(&b, &both, T + 6).await;
    assert_eq!((r, session.data()), (Ok(()), Some(&json!(["cb"]))));

    session.logout(T + 7).await.expect("logout b");
    let only_a = format!("session={}", session_value(session.set_cookie_headers()));
    assert_eq!(
        open(&b, &only_a, T + 8).await.1,
        Err(OpenError::MissingAudience)
    );
    let (mut session, r) = open(&a, &only_a, T + 8).await;
    assert_eq!(r, Ok(()));
    session.logout(T + 9).await.expect("logout a = destroy");
    assert_eq!(
        session.set_cookie_headers(),
        [
            "session=; Path=/; SameSite=Strict; Secure; HttpOnly; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0"
        ]
    );
    assert_eq!(
        session.logout(T + 9).await,
        Err(SessionError::State(
            "unable to logout nonexistent or closed session"
        ))
    );
}

// --- attributes and headers ----------------------------------------------------------------------------

#[test]
fn cookie_attributes_follow_resty_order() {
    assert_eq!(
        config().attributes(),
        "; Path=/; SameSite=Strict; Secure; HttpOnly"
    );
    let mut cfg = config();
    cfg.cookie_same_site = SameSite::Lax;
    cfg.cookie_secure = false;
    cfg.cookie_http_only = false;
    assert_eq!(cfg.attributes(), "; Path=/; SameSite=Lax");
    cfg.cookie_same_site = SameSite::None;
    assert_eq!(cfg.attributes(), "; Path=/; SameSite=None; Secure");
    assert!(cfg.finish().cookie_secure);
    let mut cfg = config();
    cfg.cookie_domain = Some("example.com".to_owned());
    cfg.cookie_path = "/app".to_owned();
    assert_eq!(
        cfg.attributes(),
        "; Domain=example.com; Path=/app; SameSite=Strict; Secure; HttpOnly"
    );
    cfg.cookie_domain = Some("localhost".to_owned());
    assert_eq!(
        cfg.attributes(),
        "; Path=/app; SameSite=Strict; Secure; HttpOnly"
    );
    cfg.cookie_domain = Some(String::new());
    assert_eq!(
        cfg.attributes(),
        "; Path=/app; SameSite=Strict; Secure; HttpOnly"
    );
}

#[tokio::test]
async fn response_and_request_headers() {
    let mut cfg = config();
    cfg.response_headers = SessionHeader::ALL.to_vec();
    cfg.request_headers = vec![SessionHeader::Id, SessionHeader::Subject];
    let cfg = Arc::new(cfg);
    let cookie = format!(
        "session={}",
        session_value(&saved(&cfg, kong_data(), T).await)
    );
    let (session, r) = open(&cfg, &cookie, T + 100).await;
    assert_eq!(r, Ok(()));
    let id = session.id().expect("id");
    assert_eq!(id.len(), 43);
    assert_eq!(
        session.response_headers(T + 100),
        [
            ("Session-Id", id.clone()),
            ("Session-Audience", "default".to_owned()),
            ("Session-Subject", "alex".to_owned()),
            ("Session-Timeout", "800".to_owned()),
            ("Session-Idling-Timeout", "800".to_owned()),
            ("Session-Rolling-Timeout", "3500".to_owned()),
            ("Session-Absolute-Timeout", "86300".to_owned()),
        ]
    );
    assert_eq!(
        session.request_headers(T + 100),
        [("Session-Id", id), ("Session-Subject", "alex".to_owned())]
    );

    let mut no_subject = Session::new(Arc::clone(&cfg));
    assert!(no_subject.response_headers(T).is_empty(), "not open yet");
    no_subject.save(T).await.expect("save");
    let names: Vec<&str> = no_subject
        .response_headers(T)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert!(!names.contains(&"Session-Subject"));

    let parsed: Vec<SessionHeader> =
        serde_json::from_str(r#"["id","idling-timeout","absolute-timeout"]"#).expect("parse");
    assert_eq!(
        parsed,
        [
            SessionHeader::Id,
            SessionHeader::IdlingTimeout,
            SessionHeader::AbsoluteTimeout
        ]
    );
    assert_eq!(
        SessionHeader::from_wire("rolling-timeout"),
        Some(SessionHeader::RollingTimeout)
    );
    assert_eq!(SessionHeader::from_wire("rolling_timeout"), None);
}

#[test]
fn request_cookie_follows_nginx() {
    use codec::request_cookie;
    assert_eq!(request_cookie("a=1; session=xyz", "session"), Some("xyz"));
    assert_eq!(
        request_cookie("a=1; Session=xyz", "session"),
        Some("xyz"),
        "case-insensitive"
    );
    assert_eq!(
        request_cookie("session2=a; session=b", "session"),
        Some("b")
    );
    assert_eq!(
        request_cookie("session=b; session=c", "session"),
        Some("b"),
        "first wins"
    );
    assert_eq!(request_cookie("x=1,session=c", "session"), Some("c"));
    assert_eq!(request_cookie("session = v ;x=1", "session"), Some("v "));
    assert_eq!(request_cookie("session=", "session"), Some(""));
    assert_eq!(request_cookie("sessions=1", "session"), None);
    assert_eq!(request_cookie("", "session"), None);
}

#[test]
fn set_cookies_of_the_same_name_are_replaced() {
    let mut cookies = vec!["a=1; Path=/".to_owned(), "session=old; Path=/".to_owned()];
    codec::merge_set_cookie(&mut cookies, "session", "session=new; Path=/".to_owned());
    codec::merge_set_cookie(&mut cookies, "session2", "session2=x; Path=/".to_owned());
    assert_eq!(
        cookies,
        ["a=1; Path=/", "session=new; Path=/", "session2=x; Path=/"]
    );
}

// --- remember ------------------------------------------------------------------------------------------

#[tokio::test]
async fn remember_cookie_restores_the_session() {
    let mut cfg = config();
    cfg.remember = true;
    let cfg = Arc::new(cfg);
    let cookies = saved(&cfg, kong_data(), T).await;
    assert_eq!(cookies.len(), 2);
    let remember = cookies
        .iter()
        .find(|c| c.starts_with("remember="))
        .expect("remember cookie");
    let expires = httpdate::fmt_http_date(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(T + 604_800),
    );
    assert!(
        remember.ends_with(&format!(
            "; Path=/; SameSite=Strict; Secure; HttpOnly; Expires={expires}; Max-Age=604800"
        )),
        "{remember}"
    );

    // The session cookie idled out; the remember cookie brings the session back and re-issues both.
    let now = T + 2000;
    let (session, r) = open(&cfg, &cookie_header(&cookies), now).await;
    assert_eq!(r, Ok(()));
    assert_eq!(session.data(), Some(&kong_data()));
    let names: Vec<&str> = session
        .set_cookie_headers()
        .iter()
        .map(|c| c.split('=').next().unwrap_or_default())
        .collect();
    assert_eq!(names, ["remember", "session"]);
    let fresh = session_value(session.set_cookie_headers());
    let header = codec::Header::from_bytes(
        &codec::decode_base64url(&fresh.as_bytes()[..110])
            .expect("header")
            .try_into()
            .expect("82"),
    );
    assert_eq!(header.creation_time, now, "a new session cookie");

    // Only the remember cookie, tampered: the original error is reported.
    let only_remember = cookie_header(&cookies[1..]);
    let tampered = flip(&only_remember, only_remember.len() - 1, 32);
    assert_eq!(
        open(&cfg, &tampered, now).await.1,
        Err(OpenError::MissingCookie)
    );

    // destroy expires both cookies
    let (mut session, r) = open(&cfg, &cookie_header(&cookies), T + 10).await;
    assert_eq!(r, Ok(()));
    session.destroy(T + 10).await.expect("destroy");
    let expired: Vec<&String> = session
        .set_cookie_headers()
        .iter()
        .filter(|c| c.ends_with("Max-Age=0"))
        .collect();
    assert_eq!(expired.len(), 2, "{:?}", session.set_cookie_headers());
}

#[test]
fn a_shared_key_cache_tells_secrets_apart() {
    let cache = Arc::new(super::KeyCache::new());
    let key = |secret: &str| SessionKey::from_secret(secret).with_cache(Arc::clone(&cache));
    let sid = [5u8; 32];
    let params = SealParams {
        sid,
        flags: 0,
        creation_time: T,
        rolling_offset: 0,
        idling_offset: 0,
        kind: CookieKind::Session,
    };
    let sealed = codec::seal(&key("one"), &params, b"[]", 1024).expect("seal");
    assert!(key("one").is_cached(&sid, CookieKind::Session));
    assert!(!key("two").is_cached(&sid, CookieKind::Session));
    assert!(!key("one").is_cached(&sid, CookieKind::Remember));
    // Another secret with the same session id neither verifies nor pollutes the cache.
    let value = format!("{}{}", sealed.header_b64, sealed.payload_b64);
    assert_eq!(
        codec::verify_header(&key("two"), &value, &check(T)).unwrap_err(),
        OpenError::InvalidMac
    );
    assert!(codec::verify_header(&key("one"), &value, &check(T)).is_ok());
    assert_eq!(cache.len(), 1);
}
