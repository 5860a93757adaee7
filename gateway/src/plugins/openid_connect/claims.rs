//! Claims-based authorization of `openid-connect`: `scopes_required`, `audience_required`,
//! `groups_required` and `roles_required`, each read from its `*_claim` path (Kong EE schema,
//! devdocs `app/_schemas/gateway/plugins/3.10/OpenidConnect.json`: "required to be present in the
//! access token (or introspection results) for successful authorization. This config parameter works
//! in both AND / OR cases").
//!
//! When it runs: in the access phase, after a credential authenticated the request and before the
//! consumer is mapped, whichever method produced the access token. Kong's own how-to for it
//! (<https://docs.konghq.com/hub/kong-inc/openid-connect/3.6.x/how-to/authorization/claims>:
//! "Set up any type of authentication (the password grant, in this guide) and enable claims-based
//! authorization") runs it on the **password grant**, so the checks apply to tokens the gateway obtains itself (password, client
//! credentials, refresh behind a session) as much as to bearer tokens. The claims read are the
//! access token's: verified for a bearer JWT, the introspection result for introspection, and, for
//! a token that came straight from the token endpoint or from the gateway's own encrypted session,
//! its payload as issued (an opaque access token from the token endpoint has no claims, so any
//! `*_required` rejects it).
//!
//! What the result means: all satisfied → the request goes on; one unsatisfied → **403**
//! `forbidden_error_message` (the how-to's answer for a user without the claim; an authenticated
//! caller who lacks a right is forbidden, not unauthenticated).
//!
//! AND / OR: each entry of a `*_required` array is one alternative (OR); the space-separated words
//! of an entry must all be present (AND). `["openid email", "admin"]` accepts a token with both
//! `openid` and `email`, or with `admin`. A claim value may be an array of strings or a
//! space-separated string (OAuth's `scope`, RFC 6749 §3.3).

use serde_json::{Map, Value};

use super::schema::Config;

/// The first check a token fails, by its Kong option name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsatisfied(pub &'static str);

/// Checks every configured `*_required` against `claims`.
pub fn authorize(conf: &Config, claims: &Map<String, Value>) -> Result<(), Unsatisfied> {
    for (name, required, path) in conf.required_claims() {
        let Some(required) = required.filter(|r| !r.is_empty()) else {
            continue;
        };
        let present = values(claims, path);
        let satisfied = required.iter().any(|alternative| {
            let mut words = alternative.split_whitespace().peekable();
            words.peek().is_some() && words.all(|w| present.contains(&w))
        });
        if !satisfied {
            return Err(Unsatisfied(name));
        }
    }
    Ok(())
}

/// Whether any `*_required` option is set (so the claims must be read at all).
pub fn any_required(conf: &Config) -> bool {
    conf.required_claims()
        .iter()
        .any(|(_, required, _)| required.is_some_and(|r| !r.is_empty()))
}

/// The words at a claim path (nested objects for several segments): an array's strings, or a
/// string split at spaces.
fn values<'a>(claims: &'a Map<String, Value>, path: &[String]) -> Vec<&'a str> {
    let Some((first, rest)) = path.split_first() else {
        return Vec::new();
    };
    let mut value = claims.get(first);
    for segment in rest {
        value = value.and_then(|v| v.get(segment));
    }
    match value {
        Some(Value::String(s)) => s.split_whitespace().collect(),
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}
