//! Bearer tokens in the access phase of `openid-connect`: a JWT verified locally against the
//! issuer's keys (re-discovered once for an unknown `kid`), else RFC 7662 introspection, whose
//! results are cached in the shared [`Registry`](super::Registry) (so a config change keeps them),
//! bounded, keyed by a hash of who asked and the token.

use crate::redacted::Redacted;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::OpenIdConnect;
use super::client::{self, Call, ProviderError};
use super::grants::{configured_client, rejected};
use super::jwt::{self, ClaimCheck, JwtError};
use super::login::{Failure, Login, Tokens, identity};
use super::schema::{AuthMethod, Config};

/// The key of an introspection result: SHA-256 of the issuer, the configured introspection
/// endpoint, the client (id and secret) and the token, so that configs of other providers or clients never share
/// a result, and the token itself is not kept.
fn cache_key(conf: &Config, token: &str) -> [u8; 32] {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [
        conf.issuer.as_str(),
        conf.introspection_endpoint.as_deref().unwrap_or_default(),
        conf.client_id().unwrap_or_default(),
        conf.client_secret().unwrap_or_default(),
        token,
    ] {
        context.update(part.as_bytes());
        context.update(&[0]);
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(context.finish().as_ref());
    key
}

/// A cached introspection result.
#[derive(Debug)]
pub struct Introspected {
    claims: Arc<Map<String, Value>>,
    expires_at: Option<u64>,
    cached_at: u64,
}

/// A bearer token: a JWT verified locally, else (or for a JWT signed by an unknown key)
/// introspection.
pub(super) async fn bearer(
    plugin: &OpenIdConnect,
    now: u64,
    token: &str,
) -> Result<Login, Failure> {
    let conf = &plugin.config;
    let invalid = |reason: String| Failure::Unauthorized {
        invalid_token: true,
        reason,
    };
    if conf.allows(AuthMethod::Bearer)
        && let Some(header) = jwt::header(token)
    {
        let check = ClaimCheck {
            now,
            leeway: conf.leeway,
        };
        let discovered = plugin.discovered(now).await?;
        let mut result = jwt::verify(&discovered, &header, token, check);
        // An unknown `kid`, or a known one whose key does not verify the signature (a provider that
        // rotated its key under the same `kid`), re-discovers the JWKS once, at most every
        // `rediscovery_lifetime` seconds (Kong EE `schema.lua`: "how long (in seconds) the plugin
        // waits between discovery attempts. Discovery is still triggered on an as-needed basis").
        if let Err(err @ (JwtError::NoKey(_) | JwtError::BadSignature)) = &result {
            tracing::debug!(%err, "openid-connect: token not verified by the cached keys, re-discovering");
            let http = plugin.registry.http()?;
            match plugin
                .provider()
                .rediscover(http, plugin.timeout, now, conf.rediscovery_lifetime)
                .await
            {
                Ok(fresh) => result = jwt::verify(&fresh, &header, token, check),
                Err(err) => tracing::warn!(%err, "openid-connect: re-discovery failed"),
            }
        }
        match result {
            Ok(claims) => {
                return Ok(Login {
                    method: AuthMethod::Bearer,
                    tokens: Tokens {
                        access_token: Redacted(token.to_owned()),
                        expires_at: jwt::time_claim(&claims, "exp"),
                        ..Tokens::default()
                    },
                    identity: identity(conf, &claims),
                    consumed_basic: false,
                    upstream_value: None,
                    claims: Some(Arc::new(claims)),
                });
            }
            Err(JwtError::NoKey(_)) if conf.allows(AuthMethod::Introspection) => {}
            Err(err) => return Err(invalid(err.to_string())),
        }
    }
    if conf.allows(AuthMethod::Introspection) {
        return introspection(plugin, now, token).await;
    }
    Err(invalid("not a verifiable JWT".to_owned()))
}

/// RFC 7662 introspection, cached per token while `cache_introspection` allows.
async fn introspection(plugin: &OpenIdConnect, now: u64, token: &str) -> Result<Login, Failure> {
    let conf = &plugin.config;
    let key = cache_key(conf, token);
    let usable = |entry: &Introspected| {
        now < entry.cached_at.saturating_add(conf.cache_ttl)
            && entry
                .expires_at
                .is_none_or(|exp| now <= exp.saturating_add(conf.leeway))
    };
    let cached = conf
        .cache_introspection
        .then(|| plugin.registry.introspected().get(&key))
        .flatten();
    let entry = match cached {
        Some(entry) if usable(&entry) => entry,
        _ => {
            let endpoint = match &conf.introspection_endpoint {
                Some(endpoint) => endpoint.clone(),
                None => plugin
                    .discovered(now)
                    .await?
                    .introspection_endpoint
                    .clone()
                    .ok_or(ProviderError::MissingEndpoint("introspection_endpoint"))?,
            };
            let client = configured_client(conf)?;
            let call = Call {
                http: plugin.registry.http()?,
                timeout: plugin.timeout,
            };
            let claims =
                client::introspect(call, &endpoint, client, token, &conf.introspection_hint)
                    .await
                    .map_err(|e| rejected(e, "introspection"))?;
            let active = matches!(claims.get("active"), Some(Value::Bool(true)))
                || claims.get("active").and_then(Value::as_str) == Some("true");
            if !active {
                return Err(Failure::Unauthorized {
                    invalid_token: true,
                    reason: "token is not active".to_owned(),
                });
            }
            let entry = Arc::new(Introspected {
                expires_at: jwt::time_claim(&claims, "exp"),
                claims: Arc::new(claims),
                cached_at: now,
            });
            if !usable(&entry) {
                return Err(Failure::Unauthorized {
                    invalid_token: true,
                    reason: "token expired".to_owned(),
                });
            }
            if conf.cache_introspection {
                plugin
                    .registry
                    .introspected()
                    .insert(key, Arc::clone(&entry));
            }
            entry
        }
    };
    Ok(Login {
        method: AuthMethod::Introspection,
        tokens: Tokens {
            access_token: Redacted(token.to_owned()),
            expires_at: entry.expires_at,
            ..Tokens::default()
        },
        identity: identity(conf, &entry.claims),
        consumed_basic: false,
        upstream_value: None,
        claims: Some(Arc::clone(&entry.claims)),
    })
}
