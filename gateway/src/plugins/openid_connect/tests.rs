// Tests may unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

//! Tests against a small fake OpenID provider on 127.0.0.1:0, Keycloak-shaped (realm paths, error
//! bodies, `sub` that is not a UUID), that signs RS256 tokens with the fixed test keys in
//! `testdata/`. Its clock is the gateway's manual clock, so token expiry is tested by advancing it.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::access::{PROVIDER_INVALID, PROVIDER_TIMEOUT, PROVIDER_UNREACHABLE};
use super::client::basic_authorization;
use super::schema::{self, Config};
use crate::clock::Clock;
use crate::plugins::Schema;
use crate::state::Shared;
use crate::testing::{cookie_pair, echo_upstream, json_body, request, send, set_cookies, shared};

const KEY1_PEM: &str = include_str!("testdata/key1.pem");
const KEY2_PEM: &str = include_str!("testdata/key2.pem");
const KEY1_JWK: &str = include_str!("testdata/key1.jwk.json");
const KEY2_JWK: &str = include_str!("testdata/key2.jwk.json");

static SIGNING_KEYS: LazyLock<HashMap<&'static str, EncodingKey>> = LazyLock::new(|| {
    HashMap::from([
        (
            "key1",
            EncodingKey::from_rsa_pem(KEY1_PEM.as_bytes()).unwrap(),
        ),
        (
            "key2",
            EncodingKey::from_rsa_pem(KEY2_PEM.as_bytes()).unwrap(),
        ),
    ])
});

const SUBJECT: &str = "f:realm-users:john";

// ---- the fake identity provider ----------------------------------------------------------------

#[derive(Default)]
struct IdpState {
    issuer: OnceLock<String>,
    clock: OnceLock<Clock>,
    /// kids published in the JWKS.
    published: Mutex<Vec<&'static str>>,
    /// kid used to sign new tokens.
    signing: Mutex<&'static str>,
    /// `aud` of new access tokens.
    audience: Mutex<Value>,
    lifetime: AtomicU64,
    /// 0 normal, 1 garbage discovery, 2 discovery answers 500.
    mode: AtomicU8,
    refresh_tokens: Mutex<HashMap<String, String>>,
    active_tokens: Mutex<HashSet<String>>,
    discovery_fetches: AtomicUsize,
    jwks_fetches: AtomicUsize,
    token_calls: AtomicUsize,
    introspections: AtomicUsize,
    /// The JWKS publishes key2's material under the kid `key1` (a rotation that keeps the kid).
    same_kid_rotation: std::sync::atomic::AtomicBool,
    /// The last token request: its form and Authorization header.
    last_form: Mutex<Vec<(String, String)>>,
    last_authorization: Mutex<Option<String>>,
}

struct Idp {
    state: Arc<IdpState>,
}

impl Idp {
    async fn start() -> Self {
        let state = Arc::new(IdpState::default());
        *state.published.lock().unwrap() = vec!["key1"];
        *state.signing.lock().unwrap() = "key1";
        *state.audience.lock().unwrap() = json!("account");
        state.lifetime.store(300, Ordering::SeqCst);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _ = state.issuer.set(format!("http://{addr}/realms/test"));
        let oidc = "/realms/test/protocol/openid-connect";
        let app = axum::Router::new()
            .route(
                "/realms/test/.well-known/openid-configuration",
                get(discovery),
            )
            .route(&format!("{oidc}/certs"), get(certs))
            .route(&format!("{oidc}/token"), post(token))
            .route(&format!("{oidc}/token/introspect"), post(introspect))
            .with_state(Arc::clone(&state));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { state }
    }

    fn issuer(&self) -> String {
        self.state.issuer.get().cloned().unwrap()
    }

    fn use_clock(&self, clock: &Clock) {
        let _ = self.state.clock.set(clock.clone());
    }

    fn now(&self) -> u64 {
        self.state.now()
    }

    /// A token signed by `kid` with the given claims.
    fn sign(kid: &str, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, &SIGNING_KEYS[kid]).unwrap()
    }

    /// Access-token claims as Keycloak issues them, valid for 300 s from the gateway's now.
    fn claims(&self) -> Value {
        let now = self.now();
        json!({
            "exp": now + 300, "iat": now, "jti": uuid::Uuid::new_v4().to_string(),
            "iss": self.issuer(), "aud": "account", "sub": SUBJECT, "typ": "Bearer", "azp": "kong",
            "preferred_username": "john", "scope": "openid profile email",
        })
    }

    fn count(counter: &AtomicUsize) -> usize {
        counter.load(Ordering::SeqCst)
    }
}

impl IdpState {
    fn now(&self) -> u64 {
        self.clock
            .get()
            .map_or_else(|| Clock::system().now(), Clock::now)
    }

    fn issue(&self, sub: &str, username: &str, client: &str) -> Value {
        let now = self.now();
        let lifetime = self.lifetime.load(Ordering::SeqCst);
        let issuer = self.issuer.get().cloned().unwrap_or_default();
        let kid = *self.signing.lock().unwrap();
        let access = Idp::sign(
            kid,
            &json!({
                "exp": now + lifetime, "iat": now, "jti": uuid::Uuid::new_v4().to_string(),
                "iss": issuer, "aud": self.audience.lock().unwrap().clone(), "sub": sub,
                "typ": "Bearer", "azp": client, "preferred_username": username,
                "scope": "openid profile email",
            }),
        );
        let id_token = Idp::sign(
            kid,
            &json!({"exp": now + lifetime, "iat": now, "iss": issuer, "aud": client, "sub": sub, "typ": "ID"}),
        );
        let refresh = format!("refresh-{}", uuid::Uuid::new_v4().simple());
        self.refresh_tokens
            .lock()
            .unwrap()
            .insert(refresh.clone(), format!("{sub}|{username}|{client}"));
        self.active_tokens.lock().unwrap().insert(access.clone());
        json!({
            "access_token": access, "expires_in": lifetime, "refresh_expires_in": 1800,
            "refresh_token": refresh, "token_type": "Bearer", "id_token": id_token,
            "not-before-policy": 0, "session_state": uuid::Uuid::new_v4().to_string(),
            "scope": "openid profile email",
        })
    }
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

async fn discovery(State(s): State<Arc<IdpState>>) -> Response {
    s.discovery_fetches.fetch_add(1, Ordering::SeqCst);
    match s.mode.load(Ordering::SeqCst) {
        1 => return (StatusCode::OK, "<html>this is not JSON</html>").into_response(),
        2 => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        _ => {}
    }
    let issuer = s.issuer.get().cloned().unwrap_or_default();
    let oidc = format!("{issuer}/protocol/openid-connect");
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{oidc}/auth"),
        "token_endpoint": format!("{oidc}/token"),
        "introspection_endpoint": format!("{oidc}/token/introspect"),
        "jwks_uri": format!("{oidc}/certs"),
        "end_session_endpoint": format!("{oidc}/logout"),
        "grant_types_supported": ["authorization_code", "password", "client_credentials", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    }))
    .into_response()
}

async fn certs(State(s): State<Arc<IdpState>>) -> Response {
    s.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    if s.same_kid_rotation.load(Ordering::SeqCst) {
        let mut key: Value = serde_json::from_str(KEY2_JWK).unwrap();
        key["kid"] = json!("key1");
        return Json(json!({ "keys": [key] })).into_response();
    }
    let published = s.published.lock().unwrap().clone();
    let mut keys: Vec<Value> = published
        .iter()
        .map(|kid| match *kid {
            "key1" => serde_json::from_str(KEY1_JWK).unwrap(),
            _ => serde_json::from_str(KEY2_JWK).unwrap(),
        })
        .collect();
    // Keycloak also publishes an encryption key, which must be ignored.
    keys.push(json!({"kid": "enc", "kty": "RSA", "alg": "RSA-OAEP", "use": "enc", "n": "AQAB", "e": "AQAB"}));
    Json(json!({ "keys": keys })).into_response()
}

/// The client from Basic (RFC 6749 §2.3.1 form-decoded) or the form.
fn client_of(headers: &HeaderMap, form: &[(String, String)]) -> Option<(String, String)> {
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    if let Some(basic) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(basic)
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (id, secret) = text.split_once(':')?;
        let decode = |s: &str| crate::pdk::decode_component(s);
        return Some((decode(id), decode(secret)));
    }
    Some((field("client_id")?, field("client_secret")?))
}

fn known_client(client: &(String, String)) -> bool {
    matches!(
        (client.0.as_str(), client.1.as_str()),
        ("kong", "kong-secret") | ("service", "service-secret") | ("my client", "s3cr:t/+ é")
    )
}

async fn token(State(s): State<Arc<IdpState>>, headers: HeaderMap, body: Bytes) -> Response {
    s.token_calls.fetch_add(1, Ordering::SeqCst);
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    *s.last_form.lock().unwrap() = form.clone();
    *s.last_authorization.lock().unwrap() = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    if client_of(&headers, &form).is_some_and(|c| c.1 == "silent-wrong-secret") {
        // Some providers answer a bad client secret with an empty 401.
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let Some(client) = client_of(&headers, &form).filter(known_client) else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Invalid client or Invalid client credentials",
        );
    };
    match field("grant_type").as_str() {
        "password" if field("username") == "john" && field("password") == "doe" => {
            Json(s.issue(SUBJECT, "john", &client.0)).into_response()
        }
        "password" => oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_grant",
            "Invalid user credentials",
        ),
        "client_credentials" => {
            let sub = format!("service-account-{}", client.0);
            Json(s.issue(&sub, &sub, &client.0)).into_response()
        }
        "refresh_token" => {
            let owner = s
                .refresh_tokens
                .lock()
                .unwrap()
                .remove(&field("refresh_token"));
            match owner.as_deref().map(|o| o.split('|').collect::<Vec<_>>()) {
                Some(parts) if parts.len() == 3 => {
                    Json(s.issue(parts[0], parts[1], parts[2])).into_response()
                }
                _ => oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Token is not active",
                ),
            }
        }
        _ => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Unsupported grant_type",
        ),
    }
}

async fn introspect(State(s): State<Arc<IdpState>>, headers: HeaderMap, body: Bytes) -> Response {
    s.introspections.fetch_add(1, Ordering::SeqCst);
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    if client_of(&headers, &form).filter(known_client).is_none() {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Authentication failed.",
        );
    }
    let token = form
        .iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    if !s.active_tokens.lock().unwrap().contains(&token) {
        return Json(json!({"active": false})).into_response();
    }
    let now = s.now();
    Json(json!({
        "active": true, "sub": SUBJECT, "username": "john", "client_id": "kong",
        "iss": s.issuer.get(), "aud": ["kong", "account"], "exp": now + 300, "iat": now,
        "token_type": "Bearer", "scope": "openid",
    }))
    .into_response()
}

// ---- the gateway --------------------------------------------------------------------------------

/// A gateway with an `openid-connect` route `/oidc` and a plain route `/plain`, both proxying to an
/// echo upstream. `config` lines are appended to the plugin config (10 spaces deep).
async fn gateway(issuer: &str, config: &str) -> Arc<Shared> {
    let up = echo_upstream().await;
    shared(&doc(up, issuer, config))
}

fn doc(up: SocketAddr, issuer: &str, config: &str) -> String {
    format!(
        r#"
_format_version: "3.0"
services:
  - name: oidc
    url: http://{up}/anything
    routes: [{{ name: oidc-route, paths: [/oidc] }}]
    plugins:
      - name: openid-connect
        config:
          issuer: {issuer}
          client_id: [kong]
          client_secret: [kong-secret]
          session_secret: test-session-secret
{config}
  - name: plain
    url: http://{up}/anything
    routes: [{{ name: plain-route, paths: [/plain] }}]
consumers:
  - username: john
  - username: anonymous_users
    id: 81823632-10c0-4098-a4f7-31062520c1e6
"#
    )
}

async fn started(config: &str) -> (Idp, Arc<Shared>) {
    let idp = Idp::start().await;
    let gw = gateway(&idp.issuer(), config).await;
    idp.use_clock(&gw.clock);
    (idp, gw)
}

fn basic(user: &str, password: &str) -> String {
    let pair = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn upstream_authorization(resp: &http::Response<Bytes>) -> String {
    json_body(resp)["headers"]["authorization"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn challenge(resp: &http::Response<Bytes>) -> String {
    resp.headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

const SESSION_AND_PASSWORD: &str = "          auth_methods: [session, password]";
const DOCUMENTED_COOKIE_TAIL: &str = "; Path=/; SameSite=Lax; HttpOnly";

// ---- password grant and session ----------------------------------------------------------------

#[tokio::test]
async fn password_grant_sends_bearer_upstream_and_sets_the_documented_cookie() {
    let (idp, gw) = started(SESSION_AND_PASSWORD).await;
    let login = send(
        &gw,
        request("GET", "/oidc", &[("authorization", &basic("john", "doe"))]),
    )
    .await;
    assert_eq!(login.status(), 200, "{:?}", login.body());
    let upstream = upstream_authorization(&login);
    assert!(upstream.starts_with("Bearer ey"), "{upstream}");
    assert!(!upstream.contains("Basic"));

    // The token endpoint saw the password grant with the client in Basic (client_secret_basic).
    let form = idp.state.last_form.lock().unwrap().clone();
    let has = |k: &str, v: &str| form.iter().any(|(a, b)| a == k && b == v);
    assert!(has("grant_type", "password") && has("username", "john") && has("password", "doe"));
    assert!(has("scope", "openid"), "{form:?}");
    assert_eq!(
        idp.state.last_authorization.lock().unwrap().as_deref(),
        Some(basic("kong", "kong-secret").as_str())
    );

    let cookies = set_cookies(&login);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    assert!(cookies[0].starts_with("session="));
    assert!(
        cookies[0].ends_with(DOCUMENTED_COOKIE_TAIL),
        "{}",
        cookies[0]
    );

    // The cookie alone reaches the upstream with the same Bearer token, without the provider.
    let calls = Idp::count(&idp.state.token_calls);
    let again = send(
        &gw,
        request("GET", "/oidc", &[("cookie", &cookie_pair(&cookies[0]))]),
    )
    .await;
    assert_eq!(again.status(), 200);
    assert_eq!(upstream_authorization(&again), upstream);
    assert_eq!(Idp::count(&idp.state.token_calls), calls);
    assert!(
        set_cookies(&again).is_empty(),
        "a fresh session is not re-issued"
    );
    let seen = &json_body(&again)["headers"];
    assert_eq!(seen["x-credential-identifier"], SUBJECT);
    assert!(seen.get("x-anonymous-consumer").is_none());
}

#[tokio::test]
async fn disable_session_password_gives_no_cookie() {
    let (_idp, gw) = started(
        "          auth_methods: [session, password]\n          disable_session: [password]",
    )
    .await;
    let resp = send(
        &gw,
        request("GET", "/oidc", &[("authorization", &basic("john", "doe"))]),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert!(upstream_authorization(&resp).starts_with("Bearer "));
    assert!(set_cookies(&resp).is_empty());
}

#[tokio::test]
async fn wrong_password_is_401_with_a_bearer_challenge() {
    let (_idp, gw) = started(SESSION_AND_PASSWORD).await;
    let resp = send(
        &gw,
        request("GET", "/oidc", &[("authorization", &basic("john", "nope"))]),
    )
    .await;
    assert_eq!(resp.status(), 401);
    assert_eq!(json_body(&resp)["message"], "Unauthorized");
    assert!(
        json_body(&resp).get("headers").is_none(),
        "no upstream call"
    );
    assert!(
        challenge(&resp).starts_with("Bearer"),
        "{}",
        challenge(&resp)
    );
    assert!(set_cookies(&resp).is_empty());
}

#[tokio::test]
async fn no_credentials_is_401_and_custom_message_is_used() {
    let (_idp, gw) = started(
        "          auth_methods: [session, password, authorization_code]\n          unauthorized_error_message: Log in first",
    )
    .await;
    let resp = send(&gw, request("GET", "/oidc", &[])).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(json_body(&resp)["message"], "Log in first");
    assert_eq!(challenge(&resp), "Bearer realm=\"kong\"");
}

#[tokio::test]
async fn client_secret_post_puts_the_client_in_the_form() {
    let (idp, gw) = started(
        "          auth_methods: [session, password]\n          client_auth: client_secret_post",
    )
    .await;
    let resp = send(
        &gw,
        request("GET", "/oidc", &[("authorization", &basic("john", "doe"))]),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let form = idp.state.last_form.lock().unwrap().clone();
    assert!(form.contains(&("client_id".to_owned(), "kong".to_owned())));
    assert!(form.contains(&("client_secret".to_owned(), "kong-secret".to_owned())));
    assert_eq!(*idp.state.last_authorization.lock().unwrap(), None);
}

#[test]
fn client_secret_basic_form_encodes_id_and_secret() {
    // RFC 6749 §2.3.1: form-urlencode, then Basic.
    let header = basic_authorization("my client", "s3cr:t/+ é");
    let encoded = header.strip_prefix("Basic ").unwrap();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    assert_eq!(
        String::from_utf8(decoded).unwrap(),
        "my+client:s3cr%3At%2F%2B+%C3%A9"
    );
}

#[tokio::test]
async fn expired_access_token_is_refreshed_behind_the_session() {
    let (idp, gw) = started(SESSION_AND_PASSWORD).await;
    idp.state.lifetime.store(60, Ordering::SeqCst);
    let login = send(
        &gw,
        request("GET", "/oidc", &[("authorization", &basic("john", "doe"))]),
    )
    .await;
    let first = upstream_authorization(&login);
    let cookie = cookie_pair(&set_cookies(&login)[0]);

    gw.clock.advance(61);
    let refreshed = send(&gw, request("GET", "/oidc", &[("cookie", &cookie)])).await;
    assert_eq!(refreshed.status(), 200);
    let second = upstream_authorization(&refreshed);
    assert!(second.starts_with("Bearer ey"));
    assert_ne!(second, first, "a new access token after the refresh");
    let form = idp.state.last_form.lock().unwrap().clone();
    assert!(form.contains(&("grant_type".to_owned(), "refresh_token".to_owned())));
    let renewed = set_cookies(&refreshed);
    assert_eq!(renewed.len(), 1, "the session is saved with the new tokens");
    assert!(renewed[0].ends_with(DOCUMENTED_COOKIE_TAIL));

    // The renewed cookie carries the new token; no further refresh is needed.
    let calls = Idp::count(&idp.state.token_calls);
    let again = send(
        &gw,
        request("GET", "/oidc", &[("cookie", &cookie_pair(&renewed[0]))]),
    )
    .await;
    assert_eq!(upstream_authorization(&again), second);
    assert_eq!(Idp::count(&idp.state.token_calls), calls);
}

#[tokio::test]
async fn a_refused_refresh_destroys_the_session_and_answers_401() {
    let (idp, gw) = started(SESSION_AND_PASSWORD).await;
    idp.state.lifetime.store(60, Ordering::SeqCst);
    let login = send(
        &gw,
        request("GET", "/oidc", &[("authorization", &basic("john", "doe"))]),
    )
    .await;
    let cookie = cookie_pair(&set_cookies(&login)[0]);
    idp.state.refresh_tokens.lock().unwrap().clear();
    gw.clock.advance(61);
    let resp = send(&gw, request("GET", "/oidc", &[("cookie", &cookie)])).await;
    assert_eq!(resp.status(), 401);
    let cookies = set_cookies(&resp);
    assert_eq!(
        cookies,
        vec![format!(
            "session={DOCUMENTED_COOKIE_TAIL}; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0"
        )]
    );
}

#[tokio::test]
async fn the_provider_down_during_a_refresh_keeps_the_session() {
    let (idp, gw) = started(SESSION_AND_PASSWORD).await;
    idp.state.lifetime.store(60, Ordering::SeqCst);
    let login = send(
        &gw,
        request("GET", "/oidc", &[("authorization", &basic("john", "doe"))]),
    )
    .await;
    let cookie = cookie_pair(&set_cookies(&login)[0]);
    // Same session secret, a provider that is gone: the refresh cannot be attempted.
    let down = closed_port_issuer();
    let gw2 = gateway(&down, SESSION_AND_PASSWORD).await;
    gw2.clock.advance(61);
    let resp = send(&gw2, request("GET", "/oidc", &[("cookie", &cookie)])).await;
    assert_eq!(resp.status(), 502);
    assert_eq!(json_body(&resp)["message"], PROVIDER_UNREACHABLE);
    assert!(set_cookies(&resp).is_empty(), "the session is kept");
}

#[tokio::test]
async fn kong_storage_keeps_the_tokens_server_side() {
    let (_idp, gw) =
        started("          auth_methods: [session, password]\n          session_storage: kong")
            .await;
    let login = send(
        &gw,
        request("GET", "/oidc", &[("authorization", &basic("john", "doe"))]),
    )
    .await;
    let pair = cookie_pair(&set_cookies(&login)[0]);
    assert_eq!(
        pair.len(),
        "session=".len() + 110,
        "the cookie is the header only"
    );
    let again = send(&gw, request("GET", "/oidc", &[("cookie", &pair)])).await;
    assert_eq!(
        upstream_authorization(&again),
        upstream_authorization(&login)
    );
}

#[tokio::test]
async fn another_upstream_header_and_the_basic_header_is_not_forwarded() {
    let (_idp, gw) = started(
        "          auth_methods: [password]\n          upstream_access_token_header: x-access-token",
    )
    .await;
    let resp = send(
        &gw,
        request("GET", "/oidc", &[("authorization", &basic("john", "doe"))]),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let seen = &json_body(&resp)["headers"];
    assert!(seen["x-access-token"].as_str().unwrap().starts_with("ey"));
    assert!(seen.get("authorization").is_none(), "{seen}");
}

#[tokio::test]
async fn logout_destroys_the_session() {
    let (_idp, gw) =
        started("          auth_methods: [session, password]\n          logout_query_arg: logout")
            .await;
    let login = send(
        &gw,
        request("GET", "/oidc", &[("authorization", &basic("john", "doe"))]),
    )
    .await;
    let cookie = cookie_pair(&set_cookies(&login)[0]);
    let get = send(&gw, request("GET", "/oidc?logout", &[("cookie", &cookie)])).await;
    assert_eq!(get.status(), 200, "GET is not a logout method by default");
    assert!(json_body(&get)["headers"].is_object());
    let out = send(
        &gw,
        request("DELETE", "/oidc?logout", &[("cookie", &cookie)]),
    )
    .await;
    assert_eq!(out.status(), 200);
    assert!(out.body().is_empty());
    assert!(set_cookies(&out)[0].contains("Max-Age=0"));
}

#[tokio::test]
async fn client_credentials_use_the_basic_header_when_password_is_off() {
    let (idp, gw) = started("          auth_methods: [client_credentials]").await;
    let resp = send(
        &gw,
        request(
            "GET",
            "/oidc",
            &[("authorization", &basic("service", "service-secret"))],
        ),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert!(upstream_authorization(&resp).starts_with("Bearer ey"));
    assert_eq!(
        json_body(&resp)["headers"]["x-credential-identifier"],
        "service-account-service"
    );
    let form = idp.state.last_form.lock().unwrap().clone();
    assert!(form.contains(&("grant_type".to_owned(), "client_credentials".to_owned())));
    let bad = send(
        &gw,
        request(
            "GET",
            "/oidc",
            &[("authorization", &basic("service", "wrong"))],
        ),
    )
    .await;
    assert_eq!(bad.status(), 401);
}

// ---- bearer tokens --------------------------------------------------------------------------------

#[tokio::test]
async fn a_bearer_jwt_is_verified_locally() {
    let (idp, gw) = started("          auth_methods: [bearer]").await;
    let token = Idp::sign("key1", &idp.claims());
    let ok = send(
        &gw,
        request("GET", "/oidc", &[("authorization", &bearer(&token))]),
    )
    .await;
    assert_eq!(ok.status(), 200);
    assert_eq!(upstream_authorization(&ok), bearer(&token));
    assert_eq!(
        json_body(&ok)["headers"]["x-credential-identifier"],
        SUBJECT
    );
    assert!(set_cookies(&ok).is_empty(), "session is not enabled");

    // Tampered payload: the signature no longer matches.
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut claims = idp.claims();
    claims["sub"] = json!("admin");
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&claims).unwrap());
    let tampered = parts.join(".");
    let resp = send(
        &gw,
        request("GET", "/oidc", &[("authorization", &bearer(&tampered))]),
    )
    .await;
    assert_eq!(resp.status(), 401);
    assert!(challenge(&resp).contains("error=\"invalid_token\""));

    let mut wrong_issuer = idp.claims();
    wrong_issuer["iss"] = json!("http://evil.test/realms/test");
    let expired = {
        let mut c = idp.claims();
        c["exp"] = json!(idp.now() - 10);
        c
    };
    let not_yet = {
        let mut c = idp.claims();
        c["nbf"] = json!(idp.now() + 100);
        c
    };
    let no_exp = {
        let mut c = idp.claims();
        c.as_object_mut().unwrap().remove("exp");
        c
    };
    for (what, claims) in [
        ("wrong issuer", wrong_issuer),
        ("expired", expired),
        ("not yet valid", not_yet),
        ("no exp", no_exp),
    ] {
        let token = Idp::sign("key1", &claims);
        let resp = send(
            &gw,
            request("GET", "/oidc", &[("authorization", &bearer(&token))]),
        )
        .await;
        assert_eq!(resp.status(), 401, "{what}");
    }
    let opaque = send(
        &gw,
        request("GET", "/oidc", &[("authorization", "Bearer opaque")]),
    )
    .await;
    assert_eq!(opaque.status(), 401);

    // alg confusion: HS256 "signed" with the public key's modulus, and alg none.
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("key1".to_owned());
    let jwk: Value = serde_json::from_str(KEY1_JWK).unwrap();
    let secret = EncodingKey::from_secret(jwk["n"].as_str().unwrap().as_bytes());
    let hs = jsonwebtoken::encode(&header, &idp.claims(), &secret).unwrap();
    let none = format!(
        "{}.{}.",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"key1"}"#),
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&idp.claims()).unwrap())
    );
    for token in [hs, none] {
        let resp = send(
            &gw,
            request("GET", "/oidc", &[("authorization", &bearer(&token))]),
        )
        .await;
        assert_eq!(resp.status(), 401, "{token}");
    }
}

#[test]
fn discovery_urls_and_jwks_parsing() {
    use super::discovery::{discovery_url, parse_jwks};
    assert_eq!(
        discovery_url("http://kc.test/realms/master/"),
        "http://kc.test/realms/master/.well-known/openid-configuration"
    );
    assert_eq!(
        discovery_url("http://kc.test/realms/master/.well-known/openid-configuration"),
        "http://kc.test/realms/master/.well-known/openid-configuration"
    );
    let mut no_kid: Value = serde_json::from_str(KEY2_JWK).unwrap();
    no_kid.as_object_mut().unwrap().remove("kid");
    let doc = json!({"keys": [
        serde_json::from_str::<Value>(KEY1_JWK).unwrap(),
        no_kid,
        {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
        {"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"},
        {"kty": "weird"},
    ]});
    let keys = parse_jwks(&doc).unwrap();
    assert_eq!(
        keys.len(),
        2,
        "symmetric, encryption and unknown keys are skipped"
    );
    assert!(parse_jwks(&json!({"no": "keys"})).is_none());
    let discovered = super::discovery::Discovered {
        issuer: "i".to_owned(),
        token_endpoint: None,
        introspection_endpoint: None,
        end_session_endpoint: None,
        keys,
    };
    assert_eq!(discovered.keys_for(Some("key1"), Algorithm::RS256).len(), 1);
    assert_eq!(
        discovered.keys_for(Some("other"), Algorithm::RS256).len(),
        1,
        "falls back to keys without a kid"
    );
    assert_eq!(discovered.keys_for(None, Algorithm::RS256).len(), 2);
    assert!(
        discovered
            .keys_for(Some("key1"), Algorithm::ES256)
            .is_empty()
    );
}

#[tokio::test]
async fn leeway_and_other_token_locations() {
    let (idp, gw) = started("          auth_methods: [bearer]\n          leeway: 30").await;
    let mut claims = idp.claims();
    claims["exp"] = json!(idp.now() - 10);
    let token = Idp::sign("key1", &claims);
    let resp = send(
        &gw,
        request("GET", &format!("/oidc?access_token={token}"), &[]),
    )
    .await;
    assert_eq!(resp.status(), 200, "within the leeway, from the query");
    let resp = send(&gw, request("GET", "/oidc", &[("x-access-token", &token)])).await;
    assert_eq!(resp.status(), 200, "from x-access-token");
}

#[tokio::test]
async fn audience_may_be_a_string_or_an_array() {
    let (idp, gw) =
        started("          auth_methods: [bearer]\n          audience_required: [kong]").await;
    // A token whose claims fail authorization is authenticated but forbidden (claims module docs).
    for (aud, status) in [
        (json!("account"), 403),
        (json!("kong"), 200),
        (json!(["account", "kong"]), 200),
        (json!(["account"]), 403),
    ] {
        let mut claims = idp.claims();
        claims["aud"] = aud.clone();
        let token = Idp::sign("key1", &claims);
        let resp = send(
            &gw,
            request("GET", "/oidc", &[("authorization", &bearer(&token))]),
        )
        .await;
        assert_eq!(resp.status(), status, "aud {aud}");
    }
}

#[tokio::test]
async fn discovery_and_jwks_are_cached_and_refetched_on_an_unknown_kid() {
    let (idp, gw) = started("          auth_methods: [bearer]").await;
    for _ in 0..3 {
        let token = Idp::sign("key1", &idp.claims());
        let resp = send(
            &gw,
            request("GET", "/oidc", &[("authorization", &bearer(&token))]),
        )
        .await;
        assert_eq!(resp.status(), 200);
    }
    assert_eq!(Idp::count(&idp.state.discovery_fetches), 1);
    assert_eq!(Idp::count(&idp.state.jwks_fetches), 1);

    // The provider rotates to key2. Within rediscovery_lifetime (30 s) an unknown kid does not
    // make the gateway fetch again.
    *idp.state.published.lock().unwrap() = vec!["key1", "key2"];
    let rotated = Idp::sign("key2", &idp.claims());
    let resp = send(
        &gw,
        request("GET", "/oidc", &[("authorization", &bearer(&rotated))]),
    )
    .await;
    assert_eq!(resp.status(), 401);
    assert_eq!(Idp::count(&idp.state.jwks_fetches), 1, "rate limited");

    gw.clock.advance(31);
    let rotated = Idp::sign("key2", &idp.claims());
    let resp = send(
        &gw,
        request("GET", "/oidc", &[("authorization", &bearer(&rotated))]),
    )
    .await;
    assert_eq!(resp.status(), 200, "refetched on the unknown kid");
    assert_eq!(Idp::count(&idp.state.jwks_fetches), 2);

    // A config change keeps the cache (it lives in the plugin Deps).
    let catalogue = std::sync::Arc::clone(&gw.catalogue);
    gw.write(|db| {
        let id = db.plugins.values().next().unwrap().id.clone();
        db.update_plugin(
            &id,
            json!({"config": {"leeway": 5}}),
            crate::schema::Source::Json,
            0,
            catalogue.as_ref(),
        )
        .map(|_| ())
    })
    .unwrap();
    let token = Idp::sign("key2", &idp.claims());
    let resp = send(
        &gw,
        request("GET", "/oidc", &[("authorization", &bearer(&token))]),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(Idp::count(&idp.state.jwks_fetches), 2);
}

#[tokio::test]
async fn bearer_creates_a_session_when_session_is_enabled() {
    let (idp, gw) = started("          auth_methods: [bearer, session]").await;
    let token = Idp::sign("key1", &idp.claims());
    let resp = send(
        &gw,
        request("GET", "/oidc", &[("authorization", &bearer(&token))]),
    )
    .await;
    let cookies = set_cookies(&resp);
    assert_eq!(cookies.len(), 1);
    let again = send(
        &gw,
        request("GET", "/oidc", &[("cookie", &cookie_pair(&cookies[0]))]),
    )
    .await;
    assert_eq!(upstream_authorization(&again), bearer(&token));
    // When the token expires there is no refresh token: the session ends.
    gw.clock.advance(301);
    let expired = send(
        &gw,
        request("GET", "/oidc", &[("cookie", &cookie_pair(&cookies[0]))]),
    )
    .await;
    assert_eq!(expired.status(), 401);
    assert!(set_cookies(&expired)[0].contains("Max-Age=0"));
}

// ---- introspection -------------------------------------------------------------------------------

#[tokio::test]
async fn introspection_accepts_active_tokens_and_caches_them() {
    let (idp, gw) = started("          auth_methods: [introspection]").await;
    idp.state
        .active_tokens
        .lock()
        .unwrap()
        .insert("opaque-token-1".to_owned());
    for _ in 0..2 {
        let resp = send(
            &gw,
            request(
                "GET",
                "/oidc",
                &[("authorization", "Bearer opaque-token-1")],
            ),
        )
        .await;
        assert_eq!(resp.status(), 200);
        assert_eq!(upstream_authorization(&resp), "Bearer opaque-token-1");
        assert_eq!(
            json_body(&resp)["headers"]["x-credential-identifier"],
            SUBJECT
        );
    }
    assert_eq!(Idp::count(&idp.state.introspections), 1, "cached");
    // The cache is shared (plugins::Deps), so a config rebuild keeps it.
    gw.write(|_| Ok(())).unwrap();
    let resp = send(
        &gw,
        request(
            "GET",
            "/oidc",
            &[("authorization", "Bearer opaque-token-1")],
        ),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        Idp::count(&idp.state.introspections),
        1,
        "cached across rebuilds"
    );
    let resp = send(
        &gw,
        request("GET", "/oidc", &[("authorization", "Bearer revoked")]),
    )
    .await;
    assert_eq!(resp.status(), 401);
    assert!(challenge(&resp).contains("invalid_token"));
}

#[tokio::test]
async fn a_bearer_token_cookie_is_found_by_nginx_cookie_rules() {
    let config = "          auth_methods: [introspection]\n          bearer_token_param_type: [cookie]\n          bearer_token_cookie_name: Access_Token";
    let (idp, gw) = started(config).await;
    idp.state
        .active_tokens
        .lock()
        .unwrap()
        .insert("opaque-token-2".to_owned());
    let resp = send(
        &gw,
        request(
            "GET",
            "/oidc",
            &[
                ("cookie", "other=1"),
                ("cookie", "access_token=opaque-token-2"),
            ],
        ),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(upstream_authorization(&resp), "Bearer opaque-token-2");
}

// ---- consumers -----------------------------------------------------------------------------------

#[tokio::test]
async fn consumer_mapping_by_claim() {
    let config = "          auth_methods: [password]\n          consumer_claim: [preferred_username]\n          consumer_by: [username]";
    let (_idp, gw) = started(config).await;
    let resp = send(
        &gw,
        request("GET", "/oidc", &[("authorization", &basic("john", "doe"))]),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(json_body(&resp)["headers"]["x-consumer-username"], "john");
    assert!(json_body(&resp)["headers"]["x-consumer-id"].is_string());

    let (_idp, gw) = started(
        "          auth_methods: [client_credentials]\n          consumer_claim: [preferred_username]",
    )
    .await;
    let resp = send(
        &gw,
        request(
            "GET",
            "/oidc",
            &[("authorization", &basic("service", "service-secret"))],
        ),
    )
    .await;
    assert_eq!(resp.status(), 403);
    assert_eq!(json_body(&resp)["message"], "Forbidden");

    let (_idp, gw) = started(
        "          auth_methods: [client_credentials]\n          consumer_claim: [preferred_username]\n          consumer_optional: true",
    )
    .await;
    let resp = send(
        &gw,
        request(
            "GET",
            "/oidc",
            &[("authorization", &basic("service", "service-secret"))],
        ),
    )
    .await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn anonymous_lets_unauthenticated_requests_through() {
    let (_idp, gw) =
        started("          auth_methods: [password]\n          anonymous: anonymous_users").await;
    let resp = send(&gw, request("GET", "/oidc", &[])).await;
    assert_eq!(resp.status(), 200);
    let seen = &json_body(&resp)["headers"];
    assert_eq!(seen["x-anonymous-consumer"], "true");
    assert_eq!(seen["x-consumer-username"], "anonymous_users");
}

// ---- a provider that fails -------------------------------------------------------------------------

/// An issuer on a port nothing listens on.
fn closed_port_issuer() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}/realms/gone")
}

#[tokio::test]
async fn a_provider_that_is_down_gives_502_and_other_routes_are_served() {
    let gw = gateway(&closed_port_issuer(), SESSION_AND_PASSWORD).await;
    let resp = send(
        &gw,
        request("GET", "/oidc", &[("authorization", &basic("john", "doe"))]),
    )
    .await;
    assert_eq!(resp.status(), 502);
    assert_eq!(json_body(&resp)["message"], PROVIDER_UNREACHABLE);
    assert_eq!(send(&gw, request("GET", "/plain", &[])).await.status(), 200);
    // Without credentials the provider is not needed: a plain 401.
    assert_eq!(send(&gw, request("GET", "/oidc", &[])).await.status(), 401);
}

#[tokio::test]
async fn a_provider_that_answers_garbage_gives_502() {
    let (idp, gw) = started(SESSION_AND_PASSWORD).await;
    idp.state.mode.store(1, Ordering::SeqCst);
    let resp = send(
        &gw,
        request("GET", "/oidc", &[("authorization", &basic("john", "doe"))]),
    )
    .await;
    assert_eq!(resp.status(), 502);
    assert_eq!(json_body(&resp)["message"], PROVIDER_INVALID);

    // It recovers: once the provider answers properly (and a second has passed), discovery works.
    idp.state.mode.store(0, Ordering::SeqCst);
    gw.clock.advance(1);
    let resp = send(
        &gw,
        request("GET", "/oidc", &[("authorization", &basic("john", "doe"))]),
    )
    .await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn a_provider_that_hangs_times_out_without_blocking_other_routes() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let gw = gateway(
        &format!("http://{addr}/realms/slow"),
        "          auth_methods: [password]\n          timeout: 300",
    )
    .await;
    let started = Instant::now();
    let slow = tokio::spawn({
        let gw = Arc::clone(&gw);
        async move {
            send(
                &gw,
                request("GET", "/oidc", &[("authorization", &basic("john", "doe"))]),
            )
            .await
        }
    });
    let plain = send(&gw, request("GET", "/plain", &[])).await;
    assert_eq!(plain.status(), 200);
    let slow = slow.await.unwrap();
    assert_eq!(slow.status(), 504);
    assert_eq!(json_body(&slow)["message"], PROVIDER_TIMEOUT);
    assert!(started.elapsed() < Duration::from_secs(3));
}

// ---- schema and Admin API ------------------------------------------------------------------------

fn normalize(config: Value) -> Result<Value, crate::schema::SchemaViolation> {
    crate::plugins::normalize_config("openid-connect", config, crate::schema::Source::Json)
}

#[test]
fn defaults_are_kongs() {
    let config = normalize(json!({"issuer": "https://idp.test/realms/master"})).unwrap();
    assert_eq!(config["auth_methods"].as_array().map(Vec::len), Some(9));
    assert_eq!(config["session_cookie_name"], "session");
    assert_eq!(config["session_cookie_same_site"], "Lax");
    assert_eq!(config["session_cookie_http_only"], true);
    assert_eq!(config["session_cookie_secure"], Value::Null);
    assert_eq!(config["session_idling_timeout"], 900);
    assert_eq!(config["session_rolling_timeout"], 3600);
    assert_eq!(config["session_absolute_timeout"], 86400);
    assert_eq!(
        config["upstream_access_token_header"],
        "authorization:bearer"
    );
    assert_eq!(config["scopes"], json!(["openid"]));
    assert_eq!(config["consumer_by"], json!(["custom_id", "username"]));
    assert_eq!(config["unauthorized_error_message"], "Unauthorized");
    assert_eq!(config["logout_methods"], json!(["POST", "DELETE"]));
    assert_eq!(config["timeout"], 10000);
}

#[test]
fn schema_errors_are_clear() {
    let missing = normalize(json!({})).unwrap_err();
    assert_eq!(
        missing.message(),
        "schema violation (config.issuer: required field missing)"
    );
    let unknown = normalize(json!({"issuer": "https://idp.test", "nope": 1})).unwrap_err();
    assert_eq!(
        unknown.message(),
        "schema violation (config.nope: unknown field)"
    );
    let jwt = normalize(json!({"issuer": "https://idp.test", "client_auth": "private_key_jwt"}))
        .unwrap_err();
    assert_eq!(jwt.errors[0].1, schema::UNSUPPORTED_CLIENT_AUTH);
    let method =
        normalize(json!({"issuer": "https://idp.test", "auth_methods": ["magic"]})).unwrap_err();
    assert!(
        method.errors[0].1.starts_with("expected one of:"),
        "{method:?}"
    );
    let no_secret = normalize(
        json!({"issuer": "https://idp.test", "client_id": "kong", "client_auth": "client_secret_post"}),
    )
    .unwrap_err();
    assert_eq!(no_secret.errors[0].1, schema::SECRET_REQUIRED);
    let bad_issuer = normalize(json!({"issuer": "keycloak"})).unwrap_err();
    assert_eq!(bad_issuer.errors[0].1, schema::INVALID_ISSUER);
}

#[test]
fn clients_are_arrays_or_strings_and_secrets_are_redacted() {
    let config = normalize(json!({
        "issuer": "https://idp.test", "client_id": "kong", "client_secret": ["s3cret"],
        "session_secret": "other-secret",
    }))
    .unwrap();
    assert_eq!(config["client_id"], json!(["kong"]));
    assert_eq!(config["client_secret"], json!(["s3cret"]));
    let parsed: Config = serde_json::from_value(config).unwrap();
    parsed.validate().unwrap();
    let debug = format!("{parsed:?}");
    assert!(
        !debug.contains("s3cret") && !debug.contains("other-secret"),
        "{debug}"
    );
    assert!(debug.contains("REDACTED"));
}

#[test]
fn the_built_plugin_prints_no_secret_and_same_site_has_no_legacy_off() {
    let config: Config = serde_json::from_value(json!({
        "issuer": "https://idp.test", "client_id": "kong", "client_secret": "s3cret",
        "session_secret": "other-secret",
    }))
    .unwrap();
    let plugin = <super::OpenIdConnect as crate::plugins::Plugin>::new(
        config,
        &crate::plugins::Deps::in_memory(),
    );
    for debug in [
        format!("{plugin:?}"),
        format!("{:?}", plugin.session_plain),
        format!("{:?}", plugin.session_tls),
    ] {
        assert!(
            !debug.contains("s3cret") && !debug.contains("other-secret"),
            "{debug}"
        );
    }
    // Only the `session` plugin reads Kong's pre-3.2 `"off"`.
    let off = normalize(json!({"issuer": "https://idp.test", "session_cookie_same_site": "off"}))
        .unwrap_err();
    assert!(off.errors[0].1.starts_with("expected one of:"), "{off:?}");
}

#[tokio::test]
async fn admin_api_patch_with_repeated_form_fields_builds_the_array() {
    let gw = shared("_format_version: \"3.0\"\n");
    let app = crate::admin::router(Arc::clone(&gw));
    let call = |method: &str, uri: &str, body: &str| {
        axum::http::Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(axum::body::Body::from(body.to_owned()))
            .unwrap()
    };
    let read = |resp: Response| async move {
        let status = resp.status();
        let bytes = http_body_util::BodyExt::collect(resp.into_body())
            .await
            .unwrap()
            .to_bytes();
        (status, serde_json::from_slice::<Value>(&bytes).unwrap())
    };
    let (status, plugin) = read(
        app.clone()
            .oneshot(call(
                "POST",
                "/plugins",
                "name=openid-connect&config.issuer=http://127.0.0.1:8080/realms/master&config.client_id=kong&config.client_secret=s&config.client_auth=client_secret_post",
            ))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{plugin}");
    assert_eq!(plugin["config"]["client_id"], json!(["kong"]));
    assert_eq!(
        plugin["config"]["client_auth"],
        json!(["client_secret_post"])
    );
    let id = plugin["id"].as_str().unwrap();
    let (status, patched) = read(
        app.clone()
            .oneshot(call(
                "PATCH",
                &format!("/plugins/{id}"),
                "config.auth_methods=session&config.auth_methods=password",
            ))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(
        patched["config"]["auth_methods"],
        json!(["session", "password"])
    );
    assert_eq!(patched["name"], "openid-connect");
    assert_eq!(patched["config"]["client_id"], json!(["kong"]));
}

#[test]
fn tokens_never_print_in_debug_output() {
    use super::client::TokenResponse;
    use super::session::SessionData;
    let response = TokenResponse {
        access_token: "at-secret-value".to_owned().into(),
        token_type: Some("Bearer".to_owned()),
        expires_in: Some(60),
        refresh_token: Some("rt-secret-value".to_owned().into()),
        id_token: Some("it-secret-value".to_owned().into()),
    };
    let data: SessionData = serde_json::from_value(serde_json::json!({
        "access_token": "at-secret-value",
        "refresh_token": "rt-secret-value",
        "id_token": "it-secret-value",
        "method": "password"
    }))
    .unwrap();
    for debug in [format!("{response:?}"), format!("{data:?}")] {
        for secret in ["at-secret-value", "rt-secret-value", "it-secret-value"] {
            assert!(!debug.contains(secret), "{debug}");
        }
    }
    // The session cookie still stores them as plain strings.
    assert_eq!(
        serde_json::to_value(&data).unwrap()["access_token"],
        "at-secret-value"
    );
}

/// Kong EE's `session_storage: redis` with its `redis` record: the cookie is the header only, the
/// tokens are in a private redis-server, and a second gateway node with the same settings opens the
/// session; logging out on it ends the session on the first.
#[tokio::test]
async fn redis_storage_shares_sessions_between_nodes() {
    let redis = crate::testing::RedisServer::start();
    let config = format!(
        "          auth_methods: [session, password]\n          logout_query_arg: logout\n          session_storage: redis\n          redis:\n            host: 127.0.0.1\n            port: {}\n            prefix: oidc",
        redis.port()
    );
    let (idp, a) = started(&config).await;
    let b = gateway(&idp.issuer(), &config).await;
    idp.use_clock(&b.clock);
    let login = send(
        &a,
        request("GET", "/oidc", &[("authorization", &basic("john", "doe"))]),
    )
    .await;
    assert_eq!(login.status(), 200);
    let cookie = cookie_pair(&set_cookies(&login)[0]);
    assert_eq!(
        cookie.len(),
        "session=".len() + 110,
        "the cookie is the header only"
    );
    let on_b = send(&b, request("GET", "/oidc", &[("cookie", &cookie)])).await;
    assert_eq!(on_b.status(), 200);
    assert_eq!(
        upstream_authorization(&on_b),
        upstream_authorization(&login)
    );

    let out = send(
        &b,
        request("DELETE", "/oidc?logout", &[("cookie", &cookie)]),
    )
    .await;
    assert!(
        out.status().is_success() || out.status().is_redirection(),
        "{}",
        out.status()
    );
    let after = send(&a, request("GET", "/oidc", &[("cookie", &cookie)])).await;
    assert_eq!(after.status(), 401, "logged out on B, gone on A");
}

/// Issue 10, item 4 with Redis: while the session store is down (stopped, or frozen so that only the
/// configured timeouts end a call) a request that needs its session gets Kong's 500 with the standard
/// body, routes that need no store keep serving, the outage is logged once per interval and not per
/// request, and once Redis is back the session acknowledged before the outage opens again, no restart.
#[tokio::test]
async fn a_redis_outage_answers_500_logs_once_and_recovers_without_losing_sessions() {
    let mut redis = crate::testing::RedisServer::start();
    let config = format!(
        "          auth_methods: [session, password]\n          session_storage: redis\n          redis:\n            host: 127.0.0.1\n            port: {}\n            connect_timeout: 200\n            send_timeout: 200\n            read_timeout: 200",
        redis.port()
    );
    let (_idp, gw) = started(&config).await;
    let login = send(
        &gw,
        request("GET", "/oidc", &[("authorization", &basic("john", "doe"))]),
    )
    .await;
    assert_eq!(login.status(), 200);
    let cookie = cookie_pair(&set_cookies(&login)[0]);
    let token = upstream_authorization(&login);
    let (logs, _guard) = crate::testing::Logs::capture();
    let outage = Instant::now();

    redis.stop();
    for _ in 0..10 {
        let during = send(&gw, request("GET", "/oidc", &[("cookie", &cookie)])).await;
        assert_eq!(during.status(), 500);
        assert_eq!(
            json_body(&during)["message"],
            super::access::UNEXPECTED,
            "Kong's standard error body"
        );
        assert_eq!(send(&gw, request("GET", "/plain", &[])).await.status(), 200);
    }
    // A login still reaches the upstream (the provider is up); only its session cannot be kept.
    let unsaved = send(
        &gw,
        request("GET", "/oidc", &[("authorization", &basic("john", "doe"))]),
    )
    .await;
    assert_eq!(unsaved.status(), 200);
    assert!(set_cookies(&unsaved).is_empty());

    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let back = send(&gw, request("GET", "/oidc", &[("cookie", &cookie)])).await;
        if back.status() == 200 {
            assert_eq!(upstream_authorization(&back), token, "the same session");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Redis is back, the session is not: {}",
            back.status()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Frozen: connections stay open and nothing answers; the timeouts (600 ms in all) end the call.
    redis.pause();
    let started_at = Instant::now();
    let frozen = send(&gw, request("GET", "/oidc", &[("cookie", &cookie)])).await;
    assert_eq!(frozen.status(), 500);
    assert!(
        started_at.elapsed() < Duration::from_secs(3),
        "a frozen Redis held the request for {:?}",
        started_at.elapsed()
    );
    redis.resume();
    let deadline = Instant::now() + Duration::from_secs(10);
    while send(&gw, request("GET", "/oidc", &[("cookie", &cookie)]))
        .await
        .status()
        != 200
    {
        assert!(
            Instant::now() < deadline,
            "Redis thawed, the session did not come back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let lines = logs.count("session storage (Redis) failed");
    let intervals = 1 + outage.elapsed().as_secs() / crate::store::OutageLog::EVERY.as_secs();
    assert!(
        (1..=usize::try_from(2 * intervals).unwrap()).contains(&lines),
        "{lines} log lines about the outage in {:?}, for 12+ failed requests",
        outage.elapsed()
    );
}

#[tokio::test]
async fn redis_settings_this_gateway_lacks_are_refused() {
    let catalogue = crate::testing::catalogue();
    for (field, value) in [
        ("sentinel_master", serde_json::json!("mymaster")),
        (
            "cluster_nodes",
            serde_json::json!([{ "ip": "127.0.0.1", "port": 7000 }]),
        ),
        ("ssl", serde_json::json!(true)),
    ] {
        let config = serde_json::json!({
            "issuer": "http://127.0.0.1:9/realms/kong",
            "session_storage": "redis",
            "redis": { field: value },
        });
        let err = crate::model::PluginCatalogue::check(
            catalogue.as_ref(),
            "openid-connect",
            config,
            crate::schema::Source::Json,
        )
        .unwrap_err();
        assert_eq!(
            err.fields()["config"]["redis"][field],
            crate::store::redis::UNSUPPORTED,
            "{field}: {}",
            err.message()
        );
    }
}

// ---- claims-based authorization, token endpoint arguments, key rotation, client refusals --------

#[tokio::test]
async fn audience_required_applies_to_the_password_grant_token() {
    // The provider's access tokens carry `aud: account`.
    let (_idp, gw) = started(
        "          auth_methods: [session, password]\n          audience_required: [kong-api]",
    )
    .await;
    let resp = send(
        &gw,
        request("GET", "/oidc", &[("authorization", &basic("john", "doe"))]),
    )
    .await;
    assert_eq!(resp.status(), 403, "{:?}", resp.body());
    assert_eq!(json_body(&resp)["message"], "Forbidden");
    assert!(
        set_cookies(&resp).is_empty(),
        "no session for a forbidden token"
    );

    // Configured as a Kong user would for this provider: the audience it really issues.
    let (_idp, gw) = started(
        "          auth_methods: [session, password]\n          audience_required: [account]",
    )
    .await;
    let resp = send(
        &gw,
        request("GET", "/oidc", &[("authorization", &basic("john", "doe"))]),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(set_cookies(&resp).len(), 1);
}

#[tokio::test]
async fn scopes_required_is_or_of_and_groups_on_every_method() {
    // Tokens carry `scope: "openid profile email"`.
    for (required, status) in [
        ("[openid]", 200),
        ("[\"openid email\"]", 200),
        ("[\"openid admin\"]", 403),
        ("[admin, \"profile email\"]", 200),
        ("[admin]", 403),
    ] {
        let (idp, gw) = started(&format!(
            "          auth_methods: [session, password, bearer]\n          scopes_required: {required}"
        ))
        .await;
        let resp = send(
            &gw,
            request("GET", "/oidc", &[("authorization", &basic("john", "doe"))]),
        )
        .await;
        assert_eq!(resp.status(), status, "password grant, {required}");
        let token = Idp::sign("key1", &idp.claims());
        let resp = send(
            &gw,
            request("GET", "/oidc", &[("authorization", &bearer(&token))]),
        )
        .await;
        assert_eq!(resp.status(), status, "bearer, {required}");
    }
}

#[tokio::test]
async fn claims_are_checked_again_behind_a_refreshed_session() {
    let (idp, gw) = started(
        "          auth_methods: [session, password]\n          audience_required: [account]",
    )
    .await;
    let login = send(
        &gw,
        request("GET", "/oidc", &[("authorization", &basic("john", "doe"))]),
    )
    .await;
    assert_eq!(login.status(), 200);
    let cookie = cookie_pair(&set_cookies(&login)[0]);
    // The provider now issues tokens for another audience; the refresh behind the session gets one.
    *idp.state.audience.lock().unwrap() = json!("other");
    gw.clock.advance(301);
    let resp = send(&gw, request("GET", "/oidc", &[("cookie", &cookie)])).await;
    assert_eq!(resp.status(), 403);
    assert!(Idp::count(&idp.state.token_calls) >= 2, "refreshed");
}

#[tokio::test]
async fn audience_is_not_a_token_endpoint_field_and_token_post_args_are() {
    let (idp, gw) = started(
        "          auth_methods: [password]\n          audience: [kong-api]\n          token_post_args_names: [resource]\n          token_post_args_values: [\"https://api.test\"]",
    )
    .await;
    let resp = send(
        &gw,
        request("GET", "/oidc", &[("authorization", &basic("john", "doe"))]),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let form = idp.state.last_form.lock().unwrap().clone();
    assert!(!form.iter().any(|(k, _)| k == "audience"), "{form:?}");
    assert!(form.contains(&("resource".to_owned(), "https://api.test".to_owned())));
    assert!(form.contains(&("grant_type".to_owned(), "password".to_owned())));
}

#[test]
fn token_post_args_must_pair_up() {
    let err = normalize(json!({
        "issuer": "https://idp.test/realms/x",
        "token_post_args_names": ["a", "b"],
        "token_post_args_values": ["1"],
    }))
    .unwrap_err();
    assert!(
        format!("{err:?}").contains(schema::TOKEN_POST_ARGS_MISMATCH),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_key_rotated_under_the_same_kid_is_rediscovered_once_per_lifetime() {
    let (idp, gw) = started("          auth_methods: [bearer]").await;
    let token = Idp::sign("key1", &idp.claims());
    let resp = send(
        &gw,
        request("GET", "/oidc", &[("authorization", &bearer(&token))]),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(Idp::count(&idp.state.jwks_fetches), 1);

    // The provider replaces the key behind `kid: key1` and signs with the new one.
    idp.state.same_kid_rotation.store(true, Ordering::SeqCst);
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("key1".to_owned());
    let sign_new =
        |claims: &Value| jsonwebtoken::encode(&header, claims, &SIGNING_KEYS["key2"]).unwrap();
    // The last discovery was less than rediscovery_lifetime (30 s) ago: no fetch, 401.
    let resp = send(
        &gw,
        request(
            "GET",
            "/oidc",
            &[("authorization", &bearer(&sign_new(&idp.claims())))],
        ),
    )
    .await;
    assert_eq!(resp.status(), 401);
    assert_eq!(Idp::count(&idp.state.jwks_fetches), 1, "bounded");

    gw.clock.advance(31);
    let resp = send(
        &gw,
        request(
            "GET",
            "/oidc",
            &[("authorization", &bearer(&sign_new(&idp.claims())))],
        ),
    )
    .await;
    assert_eq!(resp.status(), 200, "re-discovered on the failed signature");
    assert_eq!(Idp::count(&idp.state.jwks_fetches), 2);

    // A forged signature under the known kid does not make the gateway fetch again.
    let forged = Idp::sign("key1", &idp.claims());
    let resp = send(
        &gw,
        request("GET", "/oidc", &[("authorization", &bearer(&forged))]),
    )
    .await;
    assert_eq!(resp.status(), 401);
    assert_eq!(Idp::count(&idp.state.jwks_fetches), 2);
}

#[tokio::test]
async fn an_empty_401_from_the_token_endpoint_is_a_client_problem_and_a_401() {
    // The client credentials grant authenticates the client found in the request.
    let (idp, gw) = started("          auth_methods: [client_credentials]").await;
    let resp = send(
        &gw,
        request(
            "GET",
            "/oidc",
            &[("authorization", &basic("service", "silent-wrong-secret"))],
        ),
    )
    .await;
    assert_eq!(Idp::count(&idp.state.token_calls), 1);
    assert_eq!(resp.status(), 401);
    assert_eq!(json_body(&resp)["message"], "Unauthorized");
    // Logged as "check client_id, client_secret and client_auth" (an error), like invalid_client.
    assert!(super::grants::rejects_the_client(None));
    assert!(super::grants::rejects_the_client(Some("invalid_client")));
    assert!(!super::grants::rejects_the_client(Some("invalid_grant")));
}

#[test]
fn claims_checks_read_nested_paths_strings_and_arrays() {
    use super::claims::{Unsatisfied, authorize};
    let conf: Config = serde_json::from_value(json!({
        "issuer": "https://idp.test/realms/x",
        "groups_required": ["admins", "ops dev"],
        "roles_claim": ["realm_access", "roles"],
        "roles_required": ["reader"],
    }))
    .unwrap();
    let claims = |v: Value| v.as_object().unwrap().clone();
    let ok = claims(json!({"groups": ["ops", "dev"], "realm_access": {"roles": ["reader"]}}));
    assert_eq!(authorize(&conf, &ok), Ok(()));
    let one_group = claims(json!({"groups": "ops", "realm_access": {"roles": ["reader"]}}));
    assert_eq!(
        authorize(&conf, &one_group),
        Err(Unsatisfied("groups_required"))
    );
    let no_role = claims(json!({"groups": ["admins"], "realm_access": {"roles": []}}));
    assert_eq!(
        authorize(&conf, &no_role),
        Err(Unsatisfied("roles_required"))
    );
    assert_eq!(authorize(&Config::default(), &claims(json!({}))), Ok(()));
}

#[tokio::test]
async fn session_remember_issues_the_remember_cookie() {
    let (_idp, gw) = started(
        "          auth_methods: [session, password]\n          session_remember: true\n          session_remember_cookie_name: keep",
    )
    .await;
    let resp = send(
        &gw,
        request("GET", "/oidc", &[("authorization", &basic("john", "doe"))]),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let cookies = set_cookies(&resp);
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    assert!(cookies[0].starts_with("session="), "{cookies:?}");
    assert!(cookies[1].starts_with("keep="), "{cookies:?}");
    assert!(cookies[1].contains("; Max-Age=604800"), "{cookies:?}");
}
