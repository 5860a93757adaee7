//! The HTTP face of the provider, on Keycloak's paths under `/realms/<realm>`:
//!
//! | path | what |
//! | --- | --- |
//! | `GET /.well-known/openid-configuration` | discovery (OpenID Connect Discovery 1.0) |
//! | `POST /protocol/openid-connect/token` | grants `password`, `client_credentials`, `refresh_token` |
//! | `GET /protocol/openid-connect/certs` | the JWKS |
//! | `GET, POST /protocol/openid-connect/userinfo` | claims of the bearer of an access token |
//! | `POST /protocol/openid-connect/token/introspect` | RFC 7662, client-authenticated |
//! | `POST /protocol/openid-connect/logout` | back-channel logout with `refresh_token` and client authentication |
//! | `GET /protocol/openid-connect/auth` | present for discovery's sake; there is no login page |
//! | `GET /` | Keycloak's public realm document (`public_key`, `token-service`) |
//!
//! Clients authenticate with `client_secret_basic` (the `Authorization: Basic` credentials are form-urlencoded
//! before base64, RFC 6749 §2.3.1, and decoded so here) or `client_secret_post`; form fields win over the
//! header, as in Keycloak's `ClientIdAndSecretAuthenticator`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::error::OAuthError;
use super::mint::TYP_ACCESS;
use super::provider::{Provider, claim_str};
use super::realm::Client;

/// The provider's routes.
pub(crate) fn router(provider: Arc<Provider>) -> Router {
    Router::new()
        .route("/realms/{realm}", get(realm_info))
        .route(
            "/realms/{realm}/.well-known/openid-configuration",
            get(discovery),
        )
        .route(
            "/realms/{realm}/protocol/openid-connect/token",
            axum::routing::post(token),
        )
        .route("/realms/{realm}/protocol/openid-connect/certs", get(certs))
        .route(
            "/realms/{realm}/protocol/openid-connect/userinfo",
            get(userinfo).post(userinfo),
        )
        .route(
            "/realms/{realm}/protocol/openid-connect/token/introspect",
            axum::routing::post(introspect),
        )
        .route(
            "/realms/{realm}/protocol/openid-connect/logout",
            axum::routing::post(logout),
        )
        .route(
            "/realms/{realm}/protocol/openid-connect/auth",
            get(authorize),
        )
        .fallback(not_found)
        .with_state(provider)
}

// ---- handlers ----------------------------------------------------------------------------------------------

async fn discovery(InRealm(provider): InRealm, headers: HeaderMap) -> Response {
    let issuer = provider.issuer_for(&headers);
    let oidc = format!("{issuer}/protocol/openid-connect");
    let auth_methods = ["client_secret_basic", "client_secret_post"];
    json_response(
        StatusCode::OK,
        &json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{oidc}/auth"),
            "token_endpoint": format!("{oidc}/token"),
            "introspection_endpoint": format!("{oidc}/token/introspect"),
            "userinfo_endpoint": format!("{oidc}/userinfo"),
            "end_session_endpoint": format!("{oidc}/logout"),
            "jwks_uri": format!("{oidc}/certs"),
            "grant_types_supported": ["password", "client_credentials", "refresh_token"],
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": auth_methods,
            "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
            "introspection_endpoint_auth_methods_supported": auth_methods,
            "scopes_supported": ["openid", "email", "profile"],
            "claims_supported": [
                "aud", "sub", "iss", "auth_time", "name", "given_name", "family_name",
                "preferred_username", "email", "email_verified", "acr", "azp", "sid"
            ],
            "claims_parameter_supported": false,
            "request_parameter_supported": false,
            "backchannel_logout_supported": false,
        }),
    )
}

async fn certs(InRealm(provider): InRealm) -> Response {
    match serde_json::to_value(provider.keys.jwks()) {
        Ok(jwks) => json_response(StatusCode::OK, &jwks),
        Err(error) => {
            tracing::error!(%error, "cannot serialize the JWKS");
            OAuthError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "cannot serialize the key set",
            )
            .into_response()
        }
    }
}

async fn realm_info(InRealm(provider): InRealm, headers: HeaderMap) -> Response {
    let issuer = provider.issuer_for(&headers);
    json_response(
        StatusCode::OK,
        &json!({
            "realm": provider.realm.name,
            "public_key": provider.keys.public_key_der_b64(),
            "token-service": format!("{issuer}/protocol/openid-connect"),
            "account-service": format!("{issuer}/account"),
            "tokens-not-before": 0,
        }),
    )
}

async fn token(InRealm(provider): InRealm, headers: HeaderMap, body: Bytes) -> Response {
    let form = Form::parse(&body);
    let issuer = provider.issuer_for(&headers);
    let result = (|| {
        if !provider.realm.enabled {
            return Err(OAuthError::new(
                StatusCode::FORBIDDEN,
                "access_denied",
                "Realm not enabled",
            ));
        }
        let Some(grant_type) = form.get("grant_type") else {
            return Err(OAuthError::invalid_request(
                "Missing form parameter: grant_type",
            ));
        };
        if !matches!(
            grant_type,
            "password" | "client_credentials" | "refresh_token"
        ) {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Unsupported grant_type",
            ));
        }
        let client = authenticate_client(&provider, &headers, &form)?;
        match grant_type {
            "password" => provider.password_grant(
                &issuer,
                client,
                form.get("username"),
                form.get("password"),
                form.get("scope"),
            ),
            "client_credentials" => {
                provider.client_credentials_grant(&issuer, client, form.get("scope"))
            }
            _ => provider.refresh_grant(&issuer, client, form.get("refresh_token")),
        }
    })();
    match result {
        Ok(body) => json_response(StatusCode::OK, &Value::Object(body)),
        Err(error) => {
            tracing::info!(
                grant_type = form.get("grant_type").unwrap_or_default(),
                status = error.status.as_u16(),
                error = error.error,
                description = %error.description,
                "token request refused"
            );
            error.into_response()
        }
    }
}

async fn userinfo(InRealm(provider): InRealm, headers: HeaderMap, body: Bytes) -> Response {
    let form = Form::parse(&body);
    let token = bearer_token(&headers).or_else(|| form.get("access_token"));
    let challenge = |error: OAuthError| error.with_bearer_challenge(&provider.realm.name);
    let Some(token) = token else {
        return challenge(OAuthError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request",
            "Token not provided",
        ))
        .into_response();
    };
    let issuer = provider.issuer_for(&headers);
    let claims = match provider.active_access_token(token, &issuer) {
        Ok(claims) => claims,
        Err(reason) => {
            tracing::info!(reason, "userinfo refused");
            return challenge(OAuthError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                reason,
            ))
            .into_response();
        }
    };
    match provider.userinfo(claim_str(&claims, "sub")) {
        Some(document) => json_response(StatusCode::OK, &document),
        None => challenge(OAuthError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "User not found",
        ))
        .into_response(),
    }
}

async fn introspect(InRealm(provider): InRealm, headers: HeaderMap, body: Bytes) -> Response {
    let form = Form::parse(&body);
    let client = match authenticate_client(&provider, &headers, &form) {
        Ok(client) => client,
        Err(error) => return error.into_response(),
    };
    if client.public_client {
        return OAuthError::new(
            StatusCode::FORBIDDEN,
            "invalid_request",
            "Client not allowed.",
        )
        .into_response();
    }
    let Some(token) = form.get("token") else {
        return OAuthError::invalid_request("Token not provided.").into_response();
    };
    let issuer = provider.issuer_for(&headers);
    let document = match provider.introspect(token, &issuer) {
        Some(mut claims) => {
            let typ = claim_str(&claims, "typ").to_owned();
            let azp = claim_str(&claims, "azp").to_owned();
            let username = claim_str(&claims, "preferred_username").to_owned();
            claims.insert("client_id".into(), json!(azp));
            if !username.is_empty() {
                claims.insert("username".into(), json!(username));
            }
            claims.insert(
                "token_type".into(),
                json!(if typ.is_empty() { TYP_ACCESS } else { &typ }),
            );
            claims.insert("active".into(), json!(true));
            Value::Object(claims)
        }
        None => json!({ "active": false }),
    };
    tracing::debug!(client = %client.client_id, active = document["active"].as_bool(), "introspection");
    json_response(StatusCode::OK, &document)
}

async fn logout(InRealm(provider): InRealm, headers: HeaderMap, body: Bytes) -> Response {
    let form = Form::parse(&body);
    let issuer = provider.issuer_for(&headers);
    let result = authenticate_client(&provider, &headers, &form)
        .and_then(|client| provider.logout(&issuer, client, form.get("refresh_token")));
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => error.into_response(),
    }
}

async fn authorize(_: InRealm) -> Response {
    OAuthError::new(
        StatusCode::BAD_REQUEST,
        "unsupported_response_type",
        "the embedded identity provider has no login page: use the password, client_credentials or \
         refresh_token grant",
    )
    .into_response()
}

async fn not_found() -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        &json!({
            "error": "Unable to find matching target resource method",
            "error_description": "For more on this error consult the server log.",
        }),
    )
}

// ---- helpers -----------------------------------------------------------------------------------------------

/// The provider, for a request whose `{realm}` is the one it serves: every realm handler's first argument.
/// Any other realm is refused before the handler runs, with Keycloak's 404 `Realm does not exist`.
struct InRealm(Arc<Provider>);

impl FromRequestParts<Arc<Provider>> for InRealm {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        provider: &Arc<Provider>,
    ) -> Result<Self, Self::Rejection> {
        let Path(realm) = Path::<String>::from_request_parts(parts, provider)
            .await
            .map_err(IntoResponse::into_response)?;
        if realm != provider.realm.name {
            return Err(json_response(
                StatusCode::NOT_FOUND,
                &json!({ "error": "Realm does not exist" }),
            ));
        }
        Ok(Self(Arc::clone(provider)))
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// An `application/x-www-form-urlencoded` body; the first value of a repeated field counts.
struct Form(Vec<(String, String)>);

impl Form {
    fn parse(body: &[u8]) -> Self {
        Self(url::form_urlencoded::parse(body).into_owned().collect())
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|token| !token.is_empty())
}

/// `client_secret_basic` credentials: base64 of `id:secret`, each form-urlencoded (RFC 6749 §2.3.1).
pub(crate) fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((form_decode(id)?, form_decode(secret)?))
}

/// Decodes one `application/x-www-form-urlencoded` component: `+` is a space, `%XX` a byte.
fn form_decode(component: &str) -> Option<String> {
    let bytes = component.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = component
                    .get(i + 1..i + 3)
                    .filter(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Authenticates the client of a request as Keycloak's `client-secret` authenticator does.
fn authenticate_client<'a>(
    provider: &'a Provider,
    headers: &HeaderMap,
    form: &Form,
) -> Result<&'a Client, OAuthError> {
    let (mut client_id, mut secret) = match basic_credentials(headers) {
        Some((id, secret)) => (Some(id), Some(secret)),
        None => (None, None),
    };
    if let Some(id) = form.get("client_id") {
        client_id = Some(id.to_owned());
    }
    if let Some(form_secret) = form.get("client_secret") {
        secret = Some(form_secret.to_owned());
    }
    let Some(client_id) = client_id else {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "Missing client_id parameter",
        ));
    };
    let Some(client) = provider
        .realm
        .clients
        .get(&client_id)
        .filter(|client| client.enabled)
    else {
        tracing::info!(client_id, "unknown or disabled client");
        return Err(OAuthError::unknown_client());
    };
    if client.public_client {
        return Ok(client);
    }
    if !secret.is_some_and(|secret| client.secret_matches(&secret)) {
        tracing::info!(client_id, "wrong client secret");
        return Err(OAuthError::invalid_client_credentials());
    }
    Ok(client)
}
