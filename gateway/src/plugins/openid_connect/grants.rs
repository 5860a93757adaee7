//! The grants `openid-connect` runs against the token endpoint in the access phase: the password
//! and client credentials grants for credentials found in the request, and the refresh token grant
//! (a refresh token in the request, or an expired access token behind a session). A refused grant is
//! a 401; a provider failure a 502/504 (`kong/plugins/openid-connect/handler.lua`, Kong EE).

use super::OpenIdConnect;
use super::client::{self, Call, CallError, Client, ProviderError, TokenResponse};
use super::jwt;
use super::login::{Failure, Login, Tokens, identity};
use super::schema::{AuthMethod, ClientAuth, Config};
use crate::redacted::Redacted;

/// `grant_type=password` with the configured client; `from_header` says the pair came from
/// `Authorization: Basic` (which is then not forwarded).
pub(super) async fn password(
    plugin: &OpenIdConnect,
    now: u64,
    (username, password): (String, String),
    from_header: bool,
) -> Result<Login, Failure> {
    let conf = &plugin.config;
    let mut form = vec![
        ("grant_type", "password".to_owned()),
        ("username", username),
        ("password", password),
    ];
    add_scope(conf, &mut form);
    let client = configured_client(conf)?;
    let response = grant(plugin, now, client, form)
        .await
        .map_err(|e| rejected(e, "password grant"))?;
    let mut login = login_from_tokens(conf, AuthMethod::Password, response, now);
    login.consumed_basic = from_header;
    Ok(login)
}

/// `grant_type=client_credentials` with the client found in the request (Basic auth unless the
/// plugin's own client posts its secret).
pub(super) async fn client_credentials(
    plugin: &OpenIdConnect,
    now: u64,
    (id, secret): (String, String),
    from_header: bool,
) -> Result<Login, Failure> {
    let conf = &plugin.config;
    let mut form = vec![("grant_type", "client_credentials".to_owned())];
    add_scope(conf, &mut form);
    let auth = match conf.client_auth() {
        ClientAuth::ClientSecretPost => ClientAuth::ClientSecretPost,
        _ => ClientAuth::ClientSecretBasic,
    };
    let client = Client {
        id: &id,
        secret: Some(Redacted(&secret)),
        auth,
    };
    let response = grant(plugin, now, client, form)
        .await
        .map_err(|e| rejected(e, "client credentials grant"))?;
    let mut login = login_from_tokens(conf, AuthMethod::ClientCredentials, response, now);
    login.consumed_basic = from_header;
    Ok(login)
}

/// `grant_type=refresh_token` with the configured client.
pub(super) async fn refresh(
    plugin: &OpenIdConnect,
    now: u64,
    refresh_token: &str,
) -> Result<TokenResponse, Failure> {
    let client = configured_client(&plugin.config)?;
    let form = vec![
        ("grant_type", "refresh_token".to_owned()),
        ("refresh_token", refresh_token.to_owned()),
    ];
    grant(plugin, now, client, form)
        .await
        .map_err(|e| rejected(e, "refresh token grant"))
}

/// POSTs a grant to the token endpoint (configured, else discovered).
async fn grant(
    plugin: &OpenIdConnect,
    now: u64,
    client: Client<'_>,
    form: Vec<(&'static str, String)>,
) -> Result<TokenResponse, CallError> {
    let endpoint = match &plugin.config.token_endpoint {
        Some(endpoint) => endpoint.clone(),
        None => plugin
            .discovered(now)
            .await?
            .token_endpoint
            .clone()
            .ok_or(ProviderError::MissingEndpoint("token_endpoint"))?,
    };
    let call = Call {
        http: plugin.registry.http()?,
        timeout: plugin.timeout,
    };
    let extra: Vec<(&str, &str)> = plugin.config.token_post_args().collect();
    client::token(call, &endpoint, client, form, &extra).await
}

/// A refused grant is a 401; a provider failure stays one.
pub(super) fn rejected(err: CallError, what: &'static str) -> Failure {
    match err {
        CallError::Rejected {
            status,
            error,
            description,
        } => {
            let code = error.as_deref().unwrap_or_default();
            let description = description.as_deref().unwrap_or_default();
            if rejects_the_client(error.as_deref()) {
                tracing::error!(
                    status,
                    error = code,
                    description,
                    what,
                    "openid-connect: the identity provider rejected the client; check client_id, client_secret and client_auth"
                );
            } else {
                tracing::info!(
                    status,
                    error = code,
                    description,
                    what,
                    "openid-connect: rejected by the identity provider"
                );
            }
            Failure::Unauthorized {
                invalid_token: false,
                reason: format!(
                    "{what} rejected: {}",
                    error.as_deref().unwrap_or("no error code")
                ),
            }
        }
        CallError::Provider(err) => Failure::Provider(err),
    }
}

/// Whether a refusal is about the gateway's own client rather than the user's credentials:
/// RFC 6749 §5.2's `invalid_client` / `unauthorized_client`, or a 400/401/403 without an error
/// code at all (some providers answer a bad client secret with an empty body; a refused user
/// password always names `invalid_grant`), which is then logged as the client problem it
/// most likely is instead of under a made-up error name.
pub(super) fn rejects_the_client(error: Option<&str>) -> bool {
    matches!(error, None | Some("invalid_client" | "unauthorized_client"))
}

/// The plugin's own client (`client_id`, `client_secret`, `client_auth`).
pub(super) fn configured_client(conf: &Config) -> Result<Client<'_>, Failure> {
    let id = conf
        .client_id()
        .ok_or(Failure::Internal("client_id is not configured"))?;
    Ok(Client {
        id,
        secret: conf.client_secret().map(Redacted),
        auth: conf.client_auth(),
    })
}

/// The `scope` form field from the config. `audience` is not sent: Kong's schema passes it to the
/// authorization endpoint only (EE `schema.lua`: "The audience passed to the authorization
/// endpoint."); a provider that wants one at the token endpoint gets it through
/// `token_post_args_names` / `token_post_args_values`, added to every grant by [`grant`].
fn add_scope(conf: &Config, form: &mut Vec<(&'static str, String)>) {
    if let Some(scopes) = conf.scopes.as_ref().filter(|s| !s.is_empty()) {
        form.push(("scope", scopes.join(" ")));
    }
}

/// Tokens from the token endpoint. Their claims (the access token's if it is a JWT, else the id
/// token's) are read without verification: they came straight from the token endpoint.
pub(super) fn login_from_tokens(
    conf: &Config,
    method: AuthMethod,
    response: TokenResponse,
    now: u64,
) -> Login {
    let access_claims = jwt::unverified_claims(&response.access_token);
    let expires_at = response
        .expires_in
        .map(|secs| now.saturating_add(secs))
        .or_else(|| {
            access_claims
                .as_ref()
                .and_then(|c| jwt::time_claim(c, "exp"))
        });
    let claims = access_claims
        .or_else(|| {
            response
                .id_token
                .as_deref()
                .and_then(|token| jwt::unverified_claims(token))
        })
        .unwrap_or_default();
    if response
        .token_type
        .as_deref()
        .is_some_and(|t| !t.eq_ignore_ascii_case("bearer"))
    {
        tracing::warn!(
            token_type = response.token_type.as_deref().unwrap_or_default(),
            "openid-connect: the provider issued a token that is not a bearer token"
        );
    }
    Login {
        method,
        identity: identity(conf, &claims),
        tokens: Tokens {
            access_token: response.access_token,
            refresh_token: response.refresh_token,
            expires_at,
            id_token: response.id_token,
        },
        consumed_basic: false,
        upstream_value: None,
        claims: None,
    }
}
