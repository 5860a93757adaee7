//! Local verification of JWT access tokens (RFC 7519, RFC 9068): the signature by a JWKS key, `iss`,
//! `exp` and `nbf` with `leeway` against the gateway's clock (the `*_required` claims are
//! authorization, checked for every method in [`super::claims`]). jsonwebtoken checks the signature only; every claim is checked here
//! because its own time checks read the system clock.

use std::collections::HashSet;

use base64::Engine;
use jsonwebtoken::{AlgorithmFamily, Header, Validation};
use serde_json::{Map, Value};

use super::discovery::Discovered;

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// No key in the JWKS for the token's `kid` and `alg`.
    #[error("no signing key for kid {0:?}")]
    NoKey(Option<String>),
    /// Keys for the token's `kid` exist, but none verifies the signature (the provider may have
    /// rotated the key under the same `kid`).
    #[error("invalid signature")]
    BadSignature,
    /// The signature or a claim is wrong.
    #[error("{0}")]
    Invalid(&'static str),
}

/// What the claims must satisfy.
#[derive(Debug, Clone, Copy)]
pub struct ClaimCheck {
    /// Gateway time, unix seconds.
    pub now: u64,
    pub leeway: u64,
}

/// The header of a token that is a JWS this module can verify, or `None` (an opaque token, or an
/// algorithm jsonwebtoken does not know, e.g. `none`).
pub fn header(token: &str) -> Option<Header> {
    if token.split('.').count() != 3 {
        return None;
    }
    jsonwebtoken::decode_header(token).ok()
}

/// Verifies the signature with the provider's keys, then the claims. Returns the claims.
pub fn verify(
    discovered: &Discovered,
    header: &Header,
    token: &str,
    check: ClaimCheck,
) -> Result<Map<String, Value>, JwtError> {
    if header.alg.family() == AlgorithmFamily::Hmac {
        return Err(JwtError::Invalid("symmetric signatures are not accepted"));
    }
    let keys = discovered.keys_for(header.kid.as_deref(), header.alg);
    if keys.is_empty() {
        return Err(JwtError::NoKey(header.kid.clone()));
    }
    let mut validation = Validation::new(header.alg);
    validation.required_spec_claims = HashSet::new();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.leeway = 0;
    let claims = keys
        .iter()
        .find_map(|k| jsonwebtoken::decode::<Map<String, Value>>(token, &k.key, &validation).ok())
        .ok_or(JwtError::BadSignature)?
        .claims;
    check_claims(&claims, &discovered.issuer, check)?;
    Ok(claims)
}

/// `iss`, `exp` (required) and `nbf`.
pub fn check_claims(
    claims: &Map<String, Value>,
    issuer: &str,
    check: ClaimCheck,
) -> Result<(), JwtError> {
    if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
        return Err(JwtError::Invalid("issuer mismatch"));
    }
    let exp = time_claim(claims, "exp").ok_or(JwtError::Invalid("no exp claim"))?;
    if check.now > exp.saturating_add(check.leeway) {
        return Err(JwtError::Invalid("token expired"));
    }
    if let Some(nbf) = time_claim(claims, "nbf")
        && check.now.saturating_add(check.leeway) < nbf
    {
        return Err(JwtError::Invalid("token not yet valid"));
    }
    Ok(())
}

/// A NumericDate claim as whole seconds (fractions are allowed by RFC 7519 and cut off here).
pub fn time_claim(claims: &Map<String, Value>, name: &str) -> Option<u64> {
    let value = claims.get(name)?;
    value
        .as_u64()
        .or_else(|| value.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
}

/// The payload of a JWT without checking anything: for tokens the gateway received straight from
/// the token endpoint (OpenID Connect Core §3.1.3.7 lets the TLS channel stand in for the
/// signature there), and for tokens read back from the gateway's own encrypted session.
pub fn unverified_claims(token: &str) -> Option<Map<String, Value>> {
    let mut parts = token.split('.');
    let (_, payload, _) = (parts.next()?, parts.next()?, parts.next()?);
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}
