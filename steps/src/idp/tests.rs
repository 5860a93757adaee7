//! Tests of the embedded identity provider, over real sockets on `127.0.0.1:0`, against the fixture realm
//! (`fixtures/idp/realm-kong.json`) unless a test writes its own.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::StatusCode;
use serde_json::{Map, Value, json};

use super::keys::{Keys, at_hash};
use super::{Idp, Realm, default_realm_file, default_signing_key_file};

const JOHN_ID: &str = "407d8846-233a-49db-aac4-f1d6d5bd26d6";
const SERVICE_ACCOUNT_OF_SERVICE: &str = "c0f70375-0c66-4677-93e9-d622f4d41391";
const KONG_SECRET: &str = "kong-client-secret-for-tests-only";

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a plain HTTP client")
}

async fn idp() -> Idp {
    Idp::builder()
        .start()
        .await
        .expect("the fixture realm starts")
}

fn endpoint(idp: &Idp, name: &str) -> String {
    format!("{}/protocol/openid-connect/{name}", idp.issuer())
}

async fn json_of(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let body = response.json::<Value>().await.expect("a JSON body");
    (status, body)
}

async fn password_grant(idp: &Idp, username: &str, password: &str) -> (StatusCode, Value) {
    let response = http()
        .post(idp.token_endpoint())
        .basic_auth("kong", idp.client_secret("kong"))
        .form(&[
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
            ("scope", "openid"),
        ])
        .send()
        .await
        .expect("the token endpoint answers");
    json_of(response).await
}

async fn refresh(idp: &Idp, refresh_token: &str) -> (StatusCode, Value) {
    let response = http()
        .post(idp.token_endpoint())
        .basic_auth("kong", idp.client_secret("kong"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .send()
        .await
        .expect("the token endpoint answers");
    json_of(response).await
}

async fn introspect(idp: &Idp, token: &str) -> Value {
    let response = http()
        .post(endpoint(idp, "token/introspect"))
        .basic_auth("kong", idp.client_secret("kong"))
        .form(&[("token", token)])
        .send()
        .await
        .expect("the introspection endpoint answers");
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn userinfo(idp: &Idp, access_token: &str) -> reqwest::Response {
    http()
        .get(endpoint(idp, "userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .expect("the userinfo endpoint answers")
}

/// Verifies `token` against the provider's published JWKS, as a gateway would.
async fn verify_with_jwks(idp: &Idp, token: &str, audience: &str) -> Map<String, Value> {
    let jwks: JwkSet = http()
        .get(endpoint(idp, "certs"))
        .send()
        .await
        .expect("the JWKS endpoint answers")
        .json()
        .await
        .expect("a JWKS");
    let header = jsonwebtoken::decode_header(token).expect("a JWT header");
    assert_eq!(header.alg, Algorithm::RS256);
    let kid = header.kid.expect("a kid");
    let jwk = jwks.find(&kid).expect("the kid is published");
    let key = DecodingKey::from_jwk(jwk).expect("an RSA JWK");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[idp.issuer()]);
    validation.set_audience(&[audience]);
    jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
        .expect("the token verifies against the JWKS")
        .claims
}

fn unverified_claims(token: &str) -> Map<String, Value> {
    jsonwebtoken::dangerous::insecure_decode_claims(token).expect("a JWT")
}

fn str_of<'a>(body: &'a Value, field: &str) -> &'a str {
    body[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} is a string in {body}"))
}

/// Writes a variant of the fixture realm to a temporary file.
fn realm_variant(edit: impl FnOnce(&mut Value)) -> PathBuf {
    let text = std::fs::read_to_string(default_realm_file()).expect("the fixture realm");
    let mut realm: Value = serde_json::from_str(&text).expect("JSON");
    edit(&mut realm);
    let path = std::env::temp_dir().join(format!("realm-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&path, serde_json::to_vec(&realm).expect("JSON")).expect("a temporary file");
    path
}

// ---- realm and keys ----------------------------------------------------------------------------------------

#[test]
fn the_fixture_realm_defines_the_documented_clients_and_user() {
    let text = std::fs::read_to_string(default_realm_file()).expect("the fixture realm");
    let realm = Realm::from_json(&text).expect("a realm export");
    assert_eq!(realm.name, "kong");
    assert!(realm.enabled);
    assert_eq!(realm.access_token_lifespan, 300);
    assert!(realm.revoke_refresh_token);
    let kong = &realm.clients["kong"];
    assert!(kong.direct_access_grants_enabled && kong.service_accounts_enabled);
    assert!(kong.secret_matches(KONG_SECRET));
    let service = &realm.clients["service"];
    assert!(!service.direct_access_grants_enabled && service.service_accounts_enabled);
    let john = realm
        .find_login("John")
        .expect("usernames are case-insensitive");
    assert_eq!(john.id, JOHN_ID);
    assert!(john.password_matches("doe") && !john.password_matches("Doe"));
    assert_eq!(
        realm.find_login("john@example.com").map(|user| &user.id),
        Some(&john.id),
        "Keycloak lets users log in by email"
    );
    let debug = format!("{kong:?} {john:?}");
    assert!(
        !debug.contains(KONG_SECRET) && !debug.contains("doe\""),
        "{debug}"
    );
}

#[test]
fn the_signing_key_file_and_the_realm_private_key_are_the_same_key() {
    let text = std::fs::read_to_string(default_realm_file()).expect("the fixture realm");
    let realm = Realm::from_json(&text).expect("a realm export");
    let from_realm = Keys::from_rsa_private_key(realm.private_key.as_deref().expect("privateKey"))
        .expect("an RSA key");
    let pem = std::fs::read_to_string(default_signing_key_file()).expect("the PEM fixture");
    let from_pem = Keys::from_rsa_private_key(&pem).expect("an RSA key");
    assert_eq!(from_realm.jwks(), from_pem.jwks());
}

#[test]
fn a_realm_that_is_not_an_export_is_refused_with_the_reason() {
    assert!(Realm::from_json("[]").is_err());
    assert!(
        Realm::from_json(r#"{"realm":"r","clients":[{"clientId":"a"},{"clientId":"a"}]}"#).is_err()
    );
    let realm = Realm::from_json(r#"{"realm":"r","users":[{"username":"x"}]}"#).expect("minimal");
    assert!(
        !realm.users[0].enabled,
        "Keycloak imports users disabled unless told otherwise"
    );
}

#[tokio::test]
async fn a_missing_realm_file_is_an_error_not_a_panic() {
    let error = Idp::builder()
        .realm_file("/nonexistent/realm.json")
        .start()
        .await
        .expect_err("no such file");
    assert!(
        error.to_string().contains("/nonexistent/realm.json"),
        "{error}"
    );
}

// ---- discovery and keys ------------------------------------------------------------------------------------

#[tokio::test]
async fn discovery_names_keycloak_endpoints_under_the_issuer() {
    let idp = idp().await;
    assert_eq!(
        idp.issuer(),
        format!("http://127.0.0.1:{}/realms/kong", idp.addr().port())
    );
    let (status, doc) = json_of(
        http()
            .get(idp.discovery_url())
            .send()
            .await
            .expect("discovery answers"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let oidc = format!("{}/protocol/openid-connect", idp.issuer());
    assert_eq!(doc["issuer"], idp.issuer());
    assert_eq!(doc["token_endpoint"], format!("{oidc}/token"));
    assert_eq!(doc["jwks_uri"], format!("{oidc}/certs"));
    assert_eq!(doc["userinfo_endpoint"], format!("{oidc}/userinfo"));
    assert_eq!(
        doc["introspection_endpoint"],
        format!("{oidc}/token/introspect")
    );
    assert_eq!(doc["end_session_endpoint"], format!("{oidc}/logout"));
    assert_eq!(doc["authorization_endpoint"], format!("{oidc}/auth"));
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );
    for method in ["client_secret_basic", "client_secret_post"] {
        assert!(
            doc["token_endpoint_auth_methods_supported"]
                .as_array()
                .is_some_and(|methods| methods.contains(&json!(method))),
            "{doc}"
        );
    }
    for grant in ["password", "client_credentials", "refresh_token"] {
        assert!(
            doc["grant_types_supported"]
                .as_array()
                .is_some_and(|grants| grants.contains(&json!(grant))),
            "{doc}"
        );
    }
}

#[tokio::test]
async fn the_issuer_follows_the_host_unless_a_public_url_is_set() {
    let idp = idp().await;
    let by_name = format!(
        "http://localhost:{}/realms/kong/.well-known/openid-configuration",
        idp.addr().port()
    );
    let (_, doc) = json_of(http().get(&by_name).send().await.expect("answers")).await;
    assert_eq!(
        doc["issuer"],
        format!("http://localhost:{}/realms/kong", idp.addr().port())
    );

    let fixed = Idp::builder()
        .public_url("http://keycloak.test:8080/")
        .start()
        .await
        .expect("starts");
    assert_eq!(fixed.issuer(), "http://keycloak.test:8080/realms/kong");
    let url = format!(
        "http://127.0.0.1:{}/realms/kong/.well-known/openid-configuration",
        fixed.addr().port()
    );
    let (_, doc) = json_of(http().get(&url).send().await.expect("answers")).await;
    assert_eq!(doc["issuer"], "http://keycloak.test:8080/realms/kong");
    assert_eq!(
        doc["token_endpoint"],
        "http://keycloak.test:8080/realms/kong/protocol/openid-connect/token"
    );
}

#[tokio::test]
async fn the_jwks_publishes_one_rs256_signing_key() {
    let idp = idp().await;
    let (status, jwks) = json_of(
        http()
            .get(endpoint(&idp, "certs"))
            .send()
            .await
            .expect("answers"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let keys = jwks["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1);
    let key = &keys[0];
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["alg"], "RS256");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["e"], "AQAB");
    assert!(str_of(key, "kid").len() >= 40);
    assert!(str_of(key, "n").len() > 300, "a 2048-bit modulus");
}

#[tokio::test]
async fn an_unknown_realm_or_path_is_a_keycloak_404() {
    let idp = idp().await;
    let url = format!(
        "http://{}/realms/master/.well-known/openid-configuration",
        idp.addr()
    );
    let (status, body) = json_of(http().get(url).send().await.expect("answers")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, json!({"error": "Realm does not exist"}));
    let (status, _) = json_of(
        http()
            .get(format!("http://{}/nothing/here", idp.addr()))
            .send()
            .await
            .expect("answers"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

// ---- password grant ----------------------------------------------------------------------------------------

#[tokio::test]
async fn the_password_grant_returns_keycloak_tokens_that_verify_against_the_jwks() {
    let idp = idp().await;
    let (status, body) = password_grant(&idp, "john", "doe").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 300);
    assert_eq!(body["refresh_expires_in"], 1800);
    assert_eq!(body["not-before-policy"], 0);
    assert_eq!(body["scope"], "openid email profile");
    let session_state = str_of(&body, "session_state");

    let access = verify_with_jwks(&idp, str_of(&body, "access_token"), "account").await;
    assert_eq!(access["iss"], idp.issuer());
    assert_eq!(access["aud"], "account");
    assert_eq!(access["sub"], JOHN_ID);
    assert_eq!(access["typ"], "Bearer");
    assert_eq!(access["azp"], "kong");
    assert_eq!(access["sid"], session_state);
    assert_eq!(access["scope"], "openid email profile");
    assert_eq!(access["preferred_username"], "john");
    assert_eq!(access["email"], "john@example.com");
    assert_eq!(access["email_verified"], true);
    assert_eq!(access["name"], "John Doe");
    assert_eq!(access["given_name"], "John");
    assert_eq!(access["family_name"], "Doe");
    let (iat, exp) = (
        access["iat"].as_u64().expect("iat"),
        access["exp"].as_u64().expect("exp"),
    );
    assert_eq!(exp - iat, 300);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    assert!(iat.abs_diff(now) <= 5, "iat comes from the system clock");
    assert!(str_of(&Value::Object(access.clone()), "jti").len() >= 32);

    let id = verify_with_jwks(&idp, str_of(&body, "id_token"), "kong").await;
    assert_eq!(id["typ"], "ID");
    assert_eq!(id["sub"], JOHN_ID);
    assert_eq!(id["azp"], "kong");
    assert_eq!(id["sid"], session_state);
    assert_eq!(id["at_hash"], at_hash(str_of(&body, "access_token")));

    let refresh_token = str_of(&body, "refresh_token");
    let header = jsonwebtoken::decode_header(refresh_token).expect("a JWT");
    assert_eq!(
        header.alg,
        Algorithm::HS512,
        "Keycloak signs refresh tokens with HMAC"
    );
    let refresh = unverified_claims(refresh_token);
    assert_eq!(refresh["typ"], "Refresh");
    assert_eq!(refresh["aud"], idp.issuer());
    assert_eq!(refresh["sid"], session_state);
}

#[tokio::test]
async fn without_openid_in_the_scope_there_is_no_id_token() {
    let idp = idp().await;
    let response = http()
        .post(idp.token_endpoint())
        .form(&[
            ("grant_type", "password"),
            ("client_id", "kong"),
            ("client_secret", KONG_SECRET),
            ("username", "john"),
            ("password", "doe"),
        ])
        .send()
        .await
        .expect("answers");
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::OK, "client_secret_post works: {body}");
    assert_eq!(body["scope"], "email profile");
    assert!(body.get("id_token").is_none(), "{body}");
}

#[tokio::test]
async fn a_wrong_password_or_unknown_user_gets_keycloaks_401() {
    let idp = idp().await;
    for (username, password) in [("john", "wrong"), ("nobody", "doe"), ("john", "")] {
        let (status, body) = password_grant(&idp, username, password).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            body,
            json!({"error": "invalid_grant", "error_description": "Invalid user credentials"})
        );
    }
}

#[tokio::test]
async fn a_wrong_or_missing_client_secret_gets_keycloaks_401() {
    let idp = idp().await;
    let form = [
        ("grant_type", "password"),
        ("username", "john"),
        ("password", "doe"),
    ];
    let wrong = http()
        .post(idp.token_endpoint())
        .basic_auth("kong", Some("not-the-secret"))
        .form(&form)
        .send()
        .await
        .expect("answers");
    let missing = http()
        .post(idp.token_endpoint())
        .form(&[form.as_slice(), &[("client_id", "kong")]].concat())
        .send()
        .await
        .expect("answers");
    for response in [wrong, missing] {
        let (status, body) = json_of(response).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            body,
            json!({
                "error": "unauthorized_client",
                "error_description": "Invalid client or Invalid client credentials"
            })
        );
    }
    let unknown = http()
        .post(idp.token_endpoint())
        .basic_auth("nope", Some("x"))
        .form(&form)
        .send()
        .await
        .expect("answers");
    let (status, body) = json_of(unknown).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_client");
}

#[tokio::test]
async fn basic_client_credentials_are_form_urlencoded_as_rfc_6749_says() {
    let secret = "s3cret with:colon%&+plus";
    let path = realm_variant(|realm| realm["clients"][0]["secret"] = json!(secret));
    let idp = Idp::builder()
        .realm_file(&path)
        .start()
        .await
        .expect("starts");
    let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let response = http()
        .post(idp.token_endpoint())
        .basic_auth("kong", Some(&encoded))
        .form(&[
            ("grant_type", "password"),
            ("username", "john"),
            ("password", "doe"),
        ])
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), StatusCode::OK);
    let _ = std::fs::remove_file(path);
}

/// A token request (form, `Authorization` header) and the status and `error` it must get.
type Case<'a> = (
    &'a [(&'a str, &'a str)],
    Option<&'a str>,
    StatusCode,
    &'a str,
);

#[tokio::test]
async fn malformed_requests_get_oauth_errors_not_panics() {
    let idp = idp().await;
    let cases: [Case<'_>; 5] = [
        (&[], None, StatusCode::BAD_REQUEST, "invalid_request"),
        (
            &[("grant_type", "authorization_code")],
            None,
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            &[("grant_type", "password")],
            None,
            StatusCode::BAD_REQUEST,
            "invalid_client",
        ),
        (
            &[("grant_type", "password"), ("client_id", "kong")],
            Some("Basic !!!not-base64"),
            StatusCode::UNAUTHORIZED,
            "unauthorized_client",
        ),
        (
            &[
                ("grant_type", "password"),
                ("username", "john"),
                ("password", "doe"),
                ("scope", "openid admin"),
            ],
            Some("Basic a29uZzprb25nLWNsaWVudC1zZWNyZXQtZm9yLXRlc3RzLW9ubHk="),
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
    ];
    for (form, authorization, status, error) in cases {
        let mut request = http().post(idp.token_endpoint()).form(form);
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        let (got, body) = json_of(request.send().await.expect("answers")).await;
        assert_eq!(
            (got, str_of(&body, "error")),
            (status, error),
            "{form:?}: {body}"
        );
    }
    let (status, body) = json_of(
        http()
            .post(idp.token_endpoint())
            .body(vec![0xff, 0xfe, b'%', b'z'])
            .send()
            .await
            .expect("answers"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn the_unsupported_grant_body_is_keycloaks() {
    let idp = idp().await;
    let (status, body) = json_of(
        http()
            .post(idp.token_endpoint())
            .basic_auth("kong", idp.client_secret("kong"))
            .form(&[("grant_type", "urn:ietf:params:oauth:grant-type:device_code")])
            .send()
            .await
            .expect("answers"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"error": "unsupported_grant_type", "error_description": "Unsupported grant_type"})
    );
}

// ---- client credentials ------------------------------------------------------------------------------------

#[tokio::test]
async fn client_credentials_give_a_service_account_token_without_refresh_token() {
    let idp = idp().await;
    let response = http()
        .post(idp.token_endpoint())
        .basic_auth("service", idp.client_secret("service"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("answers");
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert!(body.get("session_state").is_none(), "{body}");
    assert_eq!(body["refresh_expires_in"], 0);
    let claims = verify_with_jwks(&idp, str_of(&body, "access_token"), "account").await;
    assert_eq!(claims["sub"], SERVICE_ACCOUNT_OF_SERVICE);
    assert_eq!(claims["azp"], "service");
    assert_eq!(claims["client_id"], "service");
    assert_eq!(claims["preferred_username"], "service-account-service");
    assert!(claims.get("sid").is_none());

    let (status, body) = json_of(
        http()
            .post(idp.token_endpoint())
            .basic_auth("service", idp.client_secret("service"))
            .form(&[
                ("grant_type", "password"),
                ("username", "john"),
                ("password", "doe"),
            ])
            .send()
            .await
            .expect("answers"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({
            "error": "unauthorized_client",
            "error_description": "Client not allowed for direct access grants"
        })
    );
}

// ---- refresh -----------------------------------------------------------------------------------------------

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_is_refused() {
    let idp = idp().await;
    let (_, first) = password_grant(&idp, "john", "doe").await;
    let first_refresh = str_of(&first, "refresh_token").to_owned();

    let (status, second) = refresh(&idp, &first_refresh).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let second_refresh = str_of(&second, "refresh_token").to_owned();
    assert_ne!(second_refresh, first_refresh);
    assert_ne!(second["access_token"], first["access_token"]);
    assert_eq!(second["session_state"], first["session_state"]);
    assert!(
        second.get("id_token").is_some(),
        "the session's scope keeps openid"
    );

    let (status, third) = refresh(&idp, &second_refresh).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a chain of refreshes works: {third}"
    );

    let (status, reused) = refresh(&idp, &second_refresh).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reused,
        json!({
            "error": "invalid_grant",
            "error_description": "Maximum allowed refresh token reuse exceeded"
        })
    );
    let (status, after) = refresh(&idp, str_of(&third, "refresh_token")).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "reuse ends the client's session: {after}"
    );
    assert_eq!(after["error"], "invalid_grant");
}

#[tokio::test]
async fn an_older_refresh_token_is_stale() {
    let idp = idp().await;
    let (_, first) = password_grant(&idp, "john", "doe").await;
    let (_, second) = refresh(&idp, str_of(&first, "refresh_token")).await;
    let (status, _) = refresh(&idp, str_of(&second, "refresh_token")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, stale) = refresh(&idp, str_of(&first, "refresh_token")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(stale["error_description"], "Stale token");
}

#[tokio::test]
async fn a_forged_or_foreign_refresh_token_is_invalid() {
    let idp = idp().await;
    for token in ["", "garbage", "a.b.c"] {
        let (status, body) = refresh(&idp, token).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body,
            json!({"error": "invalid_grant", "error_description": "Invalid refresh token"})
        );
    }
    let (_, tokens) = password_grant(&idp, "john", "doe").await;
    let (status, body) = json_of(
        http()
            .post(idp.token_endpoint())
            .basic_auth("service", idp.client_secret("service"))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", str_of(&tokens, "refresh_token")),
            ])
            .send()
            .await
            .expect("answers"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error_description"],
        "Invalid refresh token. Token client and authorized client don't match"
    );
    let other = Idp::builder().start().await.expect("starts");
    let (status, body) = refresh(&other, str_of(&tokens, "refresh_token")).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "another provider's token: {body}"
    );
}

// ---- introspection, userinfo, logout -----------------------------------------------------------------------

#[tokio::test]
async fn introspection_tells_active_from_inactive_tokens() {
    let idp = idp().await;
    let (_, tokens) = password_grant(&idp, "john", "doe").await;
    let active = introspect(&idp, str_of(&tokens, "access_token")).await;
    assert_eq!(active["active"], true);
    assert_eq!(active["username"], "john");
    assert_eq!(active["client_id"], "kong");
    assert_eq!(active["token_type"], "Bearer");
    assert_eq!(active["sub"], JOHN_ID);
    let refresh_state = introspect(&idp, str_of(&tokens, "refresh_token")).await;
    assert_eq!(refresh_state["active"], true);
    assert_eq!(
        introspect(&idp, "not-a-token").await,
        json!({"active": false})
    );

    let unauthenticated = http()
        .post(endpoint(&idp, "token/introspect"))
        .form(&[("token", str_of(&tokens, "access_token"))])
        .send()
        .await
        .expect("answers");
    assert_eq!(
        unauthenticated.status(),
        StatusCode::BAD_REQUEST,
        "no client_id"
    );
    let wrong_secret = http()
        .post(endpoint(&idp, "token/introspect"))
        .basic_auth("kong", Some("wrong"))
        .form(&[("token", str_of(&tokens, "access_token"))])
        .send()
        .await
        .expect("answers");
    assert_eq!(wrong_secret.status(), StatusCode::UNAUTHORIZED);
    let (status, body) = json_of(
        http()
            .post(endpoint(&idp, "token/introspect"))
            .basic_auth("kong", idp.client_secret("kong"))
            .form(&[("token_type_hint", "access_token")])
            .send()
            .await
            .expect("answers"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error_description"], "Token not provided.");
}

#[tokio::test]
async fn userinfo_answers_the_bearers_claims_and_challenges_without_one() {
    let idp = idp().await;
    let (_, tokens) = password_grant(&idp, "john", "doe").await;
    let (status, info) = json_of(userinfo(&idp, str_of(&tokens, "access_token")).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        info,
        json!({
            "sub": JOHN_ID,
            "email_verified": true,
            "name": "John Doe",
            "preferred_username": "john",
            "given_name": "John",
            "family_name": "Doe",
            "email": "john@example.com",
        })
    );

    let anonymous = http()
        .get(endpoint(&idp, "userinfo"))
        .send()
        .await
        .expect("answers");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let challenge = anonymous
        .headers()
        .get("www-authenticate")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        challenge.starts_with("Bearer realm=\"kong\""),
        "{challenge}"
    );

    let id_token = userinfo(&idp, str_of(&tokens, "id_token")).await;
    assert_eq!(
        id_token.status(),
        StatusCode::UNAUTHORIZED,
        "an ID token is no access token"
    );
    let (status, body) = json_of(userinfo(&idp, "forged.token.here").await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_token");
}

#[tokio::test]
async fn logout_ends_the_session_and_its_refresh_tokens() {
    let idp = idp().await;
    let (_, tokens) = password_grant(&idp, "john", "doe").await;
    let (_, other_session) = password_grant(&idp, "john", "doe").await;

    let logout = http()
        .post(endpoint(&idp, "logout"))
        .basic_auth("kong", idp.client_secret("kong"))
        .form(&[("refresh_token", str_of(&tokens, "refresh_token"))])
        .send()
        .await
        .expect("answers");
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);

    let (status, body) = refresh(&idp, str_of(&tokens, "refresh_token")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"error": "invalid_grant", "error_description": "Session not active"})
    );
    assert_eq!(
        userinfo(&idp, str_of(&tokens, "access_token"))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        introspect(&idp, str_of(&tokens, "access_token")).await,
        json!({"active": false})
    );
    let (status, _) = refresh(&idp, str_of(&other_session, "refresh_token")).await;
    assert_eq!(status, StatusCode::OK, "other sessions live on");

    let unauthenticated = http()
        .post(endpoint(&idp, "logout"))
        .form(&[("refresh_token", str_of(&other_session, "refresh_token"))])
        .send()
        .await
        .expect("answers");
    assert_eq!(unauthenticated.status(), StatusCode::BAD_REQUEST);
}

// ---- lifespans ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn short_lifespans_expire_access_and_refresh_tokens() {
    let clock = gateway::Clock::manual();
    let idp = Idp::builder()
        .access_token_lifespan(Duration::from_secs(2))
        .refresh_token_lifespan(Duration::from_secs(5))
        .clock(clock.clone())
        .start()
        .await
        .expect("starts");
    let (_, tokens) = password_grant(&idp, "john", "doe").await;
    assert_eq!(tokens["expires_in"], 2);
    assert_eq!(tokens["refresh_expires_in"], 5);
    let access = unverified_claims(str_of(&tokens, "access_token"));
    assert_eq!(
        access["exp"].as_u64().expect("exp") - access["iat"].as_u64().expect("iat"),
        2
    );

    clock.advance(3);
    assert_eq!(
        userinfo(&idp, str_of(&tokens, "access_token"))
            .await
            .status(),
        StatusCode::UNAUTHORIZED,
        "the access token expired"
    );
    assert_eq!(
        introspect(&idp, str_of(&tokens, "access_token")).await["active"],
        false
    );
    let (status, refreshed) = refresh(&idp, str_of(&tokens, "refresh_token")).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the refresh token still lives: {refreshed}"
    );
    assert_eq!(
        userinfo(&idp, str_of(&refreshed, "access_token"))
            .await
            .status(),
        StatusCode::OK
    );

    clock.advance(6);
    let (status, body) = refresh(&idp, str_of(&refreshed, "refresh_token")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"error": "invalid_grant", "error_description": "Token is not active"})
    );
}

#[tokio::test]
async fn an_audience_mapper_in_the_realm_adds_to_aud() {
    let path = realm_variant(|realm| {
        realm["clients"][0]["protocolMappers"] = json!([{
            "name": "gateway audience",
            "protocol": "openid-connect",
            "protocolMapper": "oidc-audience-mapper",
            "config": {
                "included.custom.audience": "https://api.example.test",
                "access.token.claim": "true",
                "id.token.claim": "false"
            }
        }]);
    });
    let idp = Idp::builder()
        .realm_file(&path)
        .start()
        .await
        .expect("starts");
    let (_, tokens) = password_grant(&idp, "john", "doe").await;
    let access = verify_with_jwks(
        &idp,
        str_of(&tokens, "access_token"),
        "https://api.example.test",
    )
    .await;
    assert_eq!(
        access["aud"],
        json!(["https://api.example.test", "account"])
    );
    let _ = std::fs::remove_file(path);
}

// ---- lifecycle ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn dropping_the_handle_stops_the_server() {
    let idp = idp().await;
    let addr = idp.addr();
    assert!(TcpStream::connect(addr).is_ok());
    drop(idp);
    assert!(
        TcpStream::connect(addr).is_err(),
        "nothing listens on {addr} any more"
    );
}

#[test]
fn it_starts_and_serves_without_an_ambient_runtime() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let idp = runtime.block_on(idp());
    drop(runtime);
    let check = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("another runtime");
    let (status, _) = check.block_on(password_grant(&idp, "john", "doe"));
    assert_eq!(
        status,
        StatusCode::OK,
        "the server outlives the runtime that started it"
    );
}

// ---- one clock with the gateway ----------------------------------------------------------------------------

/// The token of the `Authorization: Bearer` header the echo upstream reports.
fn upstream_bearer(echo: &Value) -> String {
    echo["headers"]["authorization"]
        .as_str()
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_else(|| panic!("the upstream received a Bearer token: {echo}"))
        .to_owned()
}

/// One [`gateway::Clock`] drives the reference gateway and the provider: moved past the access token's lifespan,
/// the gateway finds the session's token expired and refreshes it, and the provider, reading the same clock,
/// mints the new one at the moved time. No sleeping.
#[tokio::test]
async fn one_clock_drives_the_gateway_and_the_provider() {
    let clock = gateway::Clock::manual();
    let upstream = crate::EchoUpstream::builder()
        .start()
        .await
        .expect("the echo upstream starts");
    let idp = Idp::builder()
        .clock(clock.clone())
        .start()
        .await
        .expect("starts");
    let config = crate::fixture::demo_for(upstream.addr(), idp.issuer()).expect("the demo config");
    let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let gateway = gateway::Gateway::builder()
        .proxy_listen(loopback)
        .admin_listen(loopback)
        .declarative_config(&config)
        .clock(clock.clone())
        .start()
        .await
        .expect("the gateway starts");
    let root = format!("http://{}/", gateway.proxy_addr());
    let client = http();

    let login = client
        .get(&root)
        .basic_auth("john", Some("doe"))
        .send()
        .await
        .expect("answers");
    let cookie = login
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .expect("a session cookie")
        .to_owned();
    let (status, echo) = json_of(login).await;
    assert_eq!(status, StatusCode::OK, "{echo}");
    let first = upstream_bearer(&echo);
    let lifespan = {
        let claims = unverified_claims(&first);
        claims["exp"].as_u64().expect("exp") - claims["iat"].as_u64().expect("iat")
    };

    clock.advance(i64::try_from(lifespan).expect("a lifespan in seconds") + 1);
    let (status, echo) = json_of(
        client
            .get(&root)
            .header(reqwest::header::COOKIE, &cookie)
            .send()
            .await
            .expect("answers"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{echo}");
    let second = upstream_bearer(&echo);
    assert_ne!(
        second, first,
        "the gateway refreshed the expired access token"
    );
    let iat = unverified_claims(&second)["iat"].as_u64().expect("iat");
    assert!(
        iat.abs_diff(clock.now()) <= 5,
        "the provider minted it at the moved time"
    );

    gateway.shutdown().await;
    if config != crate::fixture::demo() {
        let _ = std::fs::remove_file(config);
    }
}
