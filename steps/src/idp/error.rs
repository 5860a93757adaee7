//! The one error type of the provider's endpoints, rendered in one place as Keycloak renders OAuth errors:
//! `{"error": …, "error_description": …}` with `Cache-Control: no-store`, plus a `WWW-Authenticate: Bearer`
//! challenge where Keycloak sends one (userinfo).
//!
//! The descriptions are Keycloak's own strings (`ResourceOwnerPasswordCredentialsGrantType`,
//! `ClientIdAndSecretAuthenticator`, `AuthenticationProcessor`, `TokenManager`, `TokenEndpoint`), so a gateway
//! that relays or matches them behaves the same against this provider and against Keycloak.

use std::borrow::Cow;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

pub(crate) const INVALID_USER_CREDENTIALS: &str = "Invalid user credentials";
pub(crate) const INVALID_CLIENT_CREDENTIALS: &str = "Invalid client or Invalid client credentials";
pub(crate) const INVALID_REFRESH_TOKEN: &str = "Invalid refresh token";
pub(crate) const TOKEN_NOT_ACTIVE: &str = "Token is not active";
pub(crate) const SESSION_NOT_ACTIVE: &str = "Session not active";
pub(crate) const SESSION_WITHOUT_CLIENT: &str = "Session doesn't have required client";
pub(crate) const REUSE_EXCEEDED: &str = "Maximum allowed refresh token reuse exceeded";
pub(crate) const STALE_TOKEN: &str = "Stale token";
pub(crate) const CLIENT_MISMATCH: &str =
    "Invalid refresh token. Token client and authorized client don't match";

/// An OAuth 2.0 error response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OAuthError {
    pub(crate) status: StatusCode,
    pub(crate) error: &'static str,
    pub(crate) description: Cow<'static, str>,
    /// `Some(realm)` adds `WWW-Authenticate: Bearer realm="…", error="…", error_description="…"`.
    pub(crate) bearer_challenge: Option<String>,
}

impl OAuthError {
    pub(crate) fn new(
        status: StatusCode,
        error: &'static str,
        description: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            error,
            description: description.into(),
            bearer_challenge: None,
        }
    }

    /// 400 `invalid_request`.
    pub(crate) fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    /// 400 `invalid_grant` (refresh-token failures; Keycloak's `RefreshTokenGrantType`).
    pub(crate) fn invalid_grant(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
    }

    /// 401 `invalid_grant` "Invalid user credentials": unknown user or wrong password.
    pub(crate) fn invalid_user_credentials() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_grant",
            INVALID_USER_CREDENTIALS,
        )
    }

    /// 401 `unauthorized_client`: missing or wrong client secret.
    pub(crate) fn invalid_client_credentials() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized_client",
            INVALID_CLIENT_CREDENTIALS,
        )
    }

    /// 401 `invalid_client`: no such client.
    pub(crate) fn unknown_client() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            INVALID_CLIENT_CREDENTIALS,
        )
    }

    /// Adds the `WWW-Authenticate: Bearer` challenge of `realm`.
    pub(crate) fn with_bearer_challenge(mut self, realm: &str) -> Self {
        self.bearer_challenge = Some(realm.to_owned());
        self
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.error, "error_description": self.description });
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if let Some(realm) = self.bearer_challenge {
            let challenge = format!(
                "Bearer realm=\"{}\", error=\"{}\", error_description=\"{}\"",
                quote_safe(&realm),
                self.error,
                quote_safe(&self.description)
            );
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                headers.insert(header::WWW_AUTHENTICATE, value);
            }
        }
        response
    }
}

fn quote_safe(text: &str) -> String {
    text.chars()
        .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
        .collect()
}
