//! Calls to the identity provider's token and introspection endpoints (RFC 6749 §4.3, §4.4, §6;
//! RFC 7662), with the client authenticated by `client_secret_basic` (RFC 6749 §2.3.1: id and secret
//! form-urlencoded, then HTTP Basic), `client_secret_post` (both in the form body) or `none`
//! (only `client_id` in the body, for public clients).
//!
//! Every call is bounded by the plugin's `timeout` and reads at most [`MAX_BODY`] bytes. A provider
//! that answers 4xx with an RFC 6749 §5.2 error body rejected the grant ([`CallError::Rejected`]);
//! anything else that goes wrong is the provider's fault ([`ProviderError`]).

use std::time::Duration;

use base64::Engine;
use http::header::{ACCEPT, AUTHORIZATION};
use serde_json::{Map, Value};

use super::schema::ClientAuth;
use crate::redacted::Redacted;

/// The largest body read from the identity provider (discovery, JWKS, tokens, introspection).
pub const MAX_BODY: usize = 1 << 20;

/// The identity provider could not be used: unreachable, too slow, or it answered something that
/// is not what the protocol says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// Connection refused, DNS failure, TLS failure, reset.
    #[error("identity provider unreachable: {0}")]
    Unreachable(String),
    /// No complete answer within `timeout`.
    #[error("identity provider timed out")]
    Timeout,
    /// An unexpected HTTP status (5xx, or a status the protocol does not allow here).
    #[error("identity provider answered HTTP {0}")]
    Status(u16),
    /// A body that is not the JSON the protocol requires.
    #[error("invalid response from the identity provider: {0}")]
    Invalid(String),
    /// A needed endpoint is neither configured nor discovered.
    #[error("the identity provider has no {0}")]
    MissingEndpoint(&'static str),
}

/// Why a grant or introspection call did not give a result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The provider refused the request (RFC 6749 §5.2 `error`, e.g. `invalid_grant`; `None`
    /// when the body carried none, as some providers answer a bad client secret).
    #[error("rejected by the identity provider (HTTP {status}): {}{}", error.as_deref().unwrap_or("no error code"), description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Rejected {
        status: u16,
        error: Option<String>,
        description: Option<String>,
    },
    /// The provider could not be used.
    #[error(transparent)]
    Provider(#[from] ProviderError),
}

/// How the gateway authenticates itself (or the client whose credentials a request carried) to the
/// token and introspection endpoints.
#[derive(Debug, Clone, Copy)]
pub struct Client<'a> {
    pub id: &'a str,
    pub secret: Option<Redacted<&'a str>>,
    pub auth: ClientAuth,
}

impl Client<'_> {
    /// Adds the client's authentication to a form request.
    fn apply(
        &self,
        request: reqwest::RequestBuilder,
        form: &mut Vec<(&'static str, String)>,
    ) -> reqwest::RequestBuilder {
        match (self.auth, self.secret.map(Redacted::into_inner)) {
            (ClientAuth::ClientSecretPost, Some(secret)) => {
                form.push(("client_id", self.id.to_owned()));
                form.push(("client_secret", secret.to_owned()));
                request
            }
            (ClientAuth::ClientSecretBasic, Some(secret)) => {
                request.header(AUTHORIZATION, basic_authorization(self.id, secret))
            }
            _ => {
                form.push(("client_id", self.id.to_owned()));
                request
            }
        }
    }
}

/// `Authorization: Basic …` for a client per RFC 6749 §2.3.1: id and secret are each encoded with
/// `application/x-www-form-urlencoded` before they are joined with `:` and base64-encoded.
pub fn basic_authorization(id: &str, secret: &str) -> String {
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let pair = format!("{}:{}", encode(id), encode(secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenResponse {
    pub access_token: Redacted<String>,
    pub token_type: Option<String>,
    pub expires_in: Option<u64>,
    pub refresh_token: Option<Redacted<String>>,
    pub id_token: Option<Redacted<String>>,
}

/// One call's settings.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub http: &'a reqwest::Client,
    pub timeout: Duration,
}

/// POSTs a grant to the token endpoint; `extra` (`token_post_args_*`) follows the grant's fields.
pub async fn token(
    call: Call<'_>,
    endpoint: &str,
    client: Client<'_>,
    mut form: Vec<(&'static str, String)>,
    extra: &[(&str, &str)],
) -> Result<TokenResponse, CallError> {
    let request = client.apply(call.http.post(endpoint), &mut form);
    let fields: Vec<(&str, &str)> = form
        .iter()
        .map(|(k, v)| (*k, v.as_str()))
        .chain(extra.iter().copied())
        .collect();
    let (status, body) = send(call, request.form(&fields)).await?;
    let json = parse_answer(status, &body)?;
    let text = |name: &str| json.get(name).and_then(Value::as_str).map(str::to_owned);
    let access_token = text("access_token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ProviderError::Invalid("token response without access_token".to_owned()))?;
    let expires_in = match json.get("expires_in") {
        Some(Value::Number(n)) => n.as_u64().or_else(|| n.as_f64().map(|f| f.max(0.0) as u64)),
        // Some providers send it as a string.
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    Ok(TokenResponse {
        access_token: Redacted(access_token),
        token_type: text("token_type"),
        expires_in,
        refresh_token: text("refresh_token")
            .filter(|t| !t.is_empty())
            .map(Redacted),
        id_token: text("id_token").filter(|t| !t.is_empty()).map(Redacted),
    })
}

/// RFC 7662 token introspection: the provider's JSON answer (`active` decides).
pub async fn introspect(
    call: Call<'_>,
    endpoint: &str,
    client: Client<'_>,
    token: &str,
    hint: &str,
) -> Result<Map<String, Value>, CallError> {
    let mut form = vec![("token", token.to_owned())];
    if !hint.is_empty() {
        form.push(("token_type_hint", hint.to_owned()));
    }
    let request = client.apply(call.http.post(endpoint), &mut form);
    let (status, body) = send(call, request.form(&form)).await?;
    parse_answer(status, &body)
}

/// GETs a JSON document (discovery, JWKS).
pub async fn get_json(call: Call<'_>, url: &str) -> Result<Value, ProviderError> {
    let (status, body) = send(call, call.http.get(url)).await?;
    if !status.is_success() {
        return Err(ProviderError::Status(status.as_u16()));
    }
    serde_json::from_slice(&body).map_err(|e| ProviderError::Invalid(format!("{url}: {e}")))
}

/// Sends a request and reads its body, within the timeout and the size limit.
async fn send(
    call: Call<'_>,
    request: reqwest::RequestBuilder,
) -> Result<(reqwest::StatusCode, Vec<u8>), ProviderError> {
    let request = request
        .header(ACCEPT, "application/json")
        .timeout(call.timeout);
    let exchange = async {
        let mut response = request.send().await.map_err(transport_error)?;
        let status = response.status();
        if response
            .content_length()
            .is_some_and(|len| len > MAX_BODY as u64)
        {
            return Err(ProviderError::Invalid("response body too large".to_owned()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(ProviderError::Invalid("response body too large".to_owned()));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, body))
    };
    // reqwest's own timeout covers the exchange too; this one also bounds connection set-up in
    // every configuration.
    tokio::time::timeout(call.timeout, exchange)
        .await
        .map_err(|_| ProviderError::Timeout)?
}

fn transport_error(err: reqwest::Error) -> ProviderError {
    if err.is_timeout() {
        ProviderError::Timeout
    } else {
        // The full chain says why (connection refused, certificate, …).
        let mut text = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(inner) = source {
            text.push_str(": ");
            text.push_str(&inner.to_string());
            source = inner.source();
        }
        ProviderError::Unreachable(text)
    }
}

/// 2xx: the JSON object; 400/401/403: rejected (with the RFC 6749 `error` if there is one);
/// anything else (404 from a wrong endpoint, 5xx, …): the provider's fault.
fn parse_answer(status: reqwest::StatusCode, body: &[u8]) -> Result<Map<String, Value>, CallError> {
    let json = serde_json::from_slice::<Value>(body).ok();
    if status.is_success() {
        return match json {
            Some(Value::Object(map)) => Ok(map),
            _ => Err(ProviderError::Invalid("expected a JSON object".to_owned()).into()),
        };
    }
    if matches!(status.as_u16(), 400 | 401 | 403) {
        let field = |name: &str| {
            json.as_ref()
                .and_then(|j| j.get(name))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        // RFC 6749 §5.2 says 400 (or 401 for client authentication); some providers use 403 or
        // leave the body out. It is still a refusal of this request.
        return Err(CallError::Rejected {
            status: status.as_u16(),
            error: field("error"),
            description: field("error_description"),
        });
    }
    Err(ProviderError::Status(status.as_u16()).into())
}
