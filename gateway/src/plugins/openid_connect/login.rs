//! What one authentication of `openid-connect` produced ([`Login`]) or why it failed
//! ([`Failure`]), and who the token's claims say the caller is ([`identity`]). Built in the access
//! phase by the session, grant and bearer paths; used by [`super::access`].

use std::sync::Arc;

use crate::redacted::Redacted;
use http::HeaderValue;
use serde_json::{Map, Value};

use super::client::ProviderError;
use super::schema::{AuthMethod, Config};
use crate::pdk::Exit;

/// The tokens of a login; `Debug` shows none of them.
#[derive(Debug, Clone, Default)]
pub(super) struct Tokens {
    pub(super) access_token: Redacted<String>,
    pub(super) refresh_token: Option<Redacted<String>>,
    pub(super) expires_at: Option<u64>,
    pub(super) id_token: Option<Redacted<String>>,
}

/// Who the token says the caller is.
#[derive(Debug, Clone, Default)]
pub(super) struct Identity {
    pub(super) subject: Option<String>,
    /// `credential_claim`'s value.
    pub(super) credential: Option<String>,
    /// `consumer_claim`'s values.
    pub(super) consumer_keys: Vec<String>,
}

/// A successful authentication.
#[derive(Debug)]
pub(super) struct Login {
    pub(super) method: AuthMethod,
    pub(super) tokens: Tokens,
    pub(super) identity: Identity,
    /// The `Authorization: Basic` header held the credentials of a grant.
    pub(super) consumed_basic: bool,
    /// The `upstream_access_token_header` value for `tokens.access_token`, when already made (a
    /// cached session's); else it is made from the token.
    pub(super) upstream_value: Option<HeaderValue>,
    /// The claims the `*_required` checks read when they are not the access token's payload
    /// (introspection results), or already verified (a bearer JWT); else the access token is read.
    pub(super) claims: Option<Arc<Map<String, Value>>>,
}

/// Why authentication did not succeed.
pub(super) enum Failure {
    /// 401 (or the anonymous consumer).
    Unauthorized { invalid_token: bool, reason: String },
    /// 502 / 504.
    Provider(ProviderError),
    /// 500.
    Internal(&'static str),
    /// A finished response (logout).
    Respond(Box<Exit>),
}

impl From<ProviderError> for Failure {
    fn from(err: ProviderError) -> Self {
        Self::Provider(err)
    }
}

/// The subject, `credential_claim` and `consumer_claim` values of a token's claims.
pub(super) fn identity(conf: &Config, claims: &Map<String, Value>) -> Identity {
    Identity {
        subject: claim_values(claims, &["sub".to_owned()]).into_iter().next(),
        credential: claim_values(claims, &conf.credential_claim)
            .into_iter()
            .next(),
        consumer_keys: conf
            .consumer_claim
            .as_deref()
            .map(|path| claim_values(claims, path))
            .unwrap_or_default(),
    }
}

/// The strings at a claim path (`["realm_access", "roles"]` walks nested objects); a string or
/// number gives one value, an array its string and number items.
fn claim_values(claims: &Map<String, Value>, path: &[String]) -> Vec<String> {
    let Some((first, rest)) = path.split_first() else {
        return Vec::new();
    };
    let mut value = claims.get(first);
    for segment in rest {
        value = value.and_then(|v| v.get(segment));
    }
    let text = |v: &Value| match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    match value {
        Some(Value::Array(items)) => items.iter().filter_map(text).collect(),
        Some(v) => text(v).into_iter().collect(),
        None => Vec::new(),
    }
}
