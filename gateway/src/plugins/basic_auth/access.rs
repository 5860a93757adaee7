//! Access phase of `basic-auth` (`kong/plugins/basic-auth/access.lua`, Kong 3.10).

use http::header::WWW_AUTHENTICATE;
use http::{HeaderName, StatusCode};
use subtle::ConstantTimeEq;

use super::BasicAuth;
use super::daos::BASICAUTH_CREDENTIALS;
use crate::pdk::{Credential, Ctx, Exit, Flow, headers};

/// Kong's message for every authentication failure (since 3.6, `access.lua` `unauthorized`).
pub const UNAUTHORIZED: &str = "Unauthorized";

const PROXY_AUTHORIZATION: HeaderName = HeaderName::from_static("proxy-authorization");
const AUTHORIZATION: HeaderName = http::header::AUTHORIZATION;

/// Runs the plugin: "logical OR" when `anonymous` is set, "logical AND" otherwise.
pub fn execute(plugin: &BasicAuth, ctx: &mut Ctx) -> Flow {
    let conf = &plugin.config;
    if conf.anonymous.is_some() && ctx.credential.is_some() {
        // Already authenticated by an earlier plugin, and configured for "logical OR": done.
        return Flow::Continue;
    }
    if authenticate(plugin, ctx) {
        return Flow::Continue;
    }
    let Some(anonymous) = &conf.anonymous else {
        let request_id = ctx.request_id().to_owned();
        let exit = Exit::error(StatusCode::UNAUTHORIZED, UNAUTHORIZED, &request_id)
            .header(WWW_AUTHENTICATE, plugin.challenge.clone());
        return Flow::Respond(exit);
    };
    ctx.authenticate_anonymous(anonymous)
}

/// `do_authentication`: `Proxy-Authorization` first, then `Authorization`; true when a
/// credential's password matched and its consumer is now the request's.
fn authenticate(plugin: &BasicAuth, ctx: &mut Ctx) -> bool {
    let proxy_authorization = header_bytes(ctx, &PROXY_AUTHORIZATION);
    let authorization = header_bytes(ctx, &AUTHORIZATION);
    if authorization.is_none() && proxy_authorization.is_none() {
        return false;
    }
    let snapshot = std::sync::Arc::clone(&ctx.snapshot);
    let now = ctx.now;
    let lookup = |user: &[u8]| {
        let user = std::str::from_utf8(user).ok()?;
        snapshot.credential(&BASICAUTH_CREDENTIALS, user, now)
    };
    let mut found = None;
    if let Some((user, password)) = retrieve(plugin, ctx, &PROXY_AUTHORIZATION, proxy_authorization)
    {
        found = lookup(&user).map(|cred| (cred, password));
    }
    if found.is_none() {
        match retrieve(plugin, ctx, &AUTHORIZATION, authorization) {
            Some((user, password)) => found = lookup(&user).map(|cred| (cred, password)),
            None => return false,
        }
    }
    let Some((cred, password)) = found else {
        return false;
    };
    let stored = cred
        .entity
        .get("password")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    let given = super::crypto::hash(&cred.consumer_id, &password);
    if !bool::from(given.as_bytes().ct_eq(stored.as_bytes())) {
        return false;
    }
    let username = cred
        .entity
        .get("username")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let consumer = ctx.snapshot.consumer(&cred.consumer_id);
    ctx.authenticate_as(
        consumer,
        Some(Credential {
            id: cred.id.clone(),
            consumer_id: cred.consumer_id.clone(),
        }),
    );
    // basic-auth identifies the credential by its username (`access.lua` `set_consumer`).
    ctx.set_upstream_header(headers::CREDENTIAL_IDENTIFIER, Some(&username));
    true
}

/// The first value of a header, as bytes.
fn header_bytes(ctx: &Ctx, name: &HeaderName) -> Option<Vec<u8>> {
    ctx.request.headers.get(name).map(|v| v.as_bytes().to_vec())
}

/// `retrieve_credentials`: the username and password of one header; with `hide_credentials` the
/// header is removed once read, whatever it held.
fn retrieve(
    plugin: &BasicAuth,
    ctx: &mut Ctx,
    name: &HeaderName,
    value: Option<Vec<u8>>,
) -> Option<(Vec<u8>, Vec<u8>)> {
    let credentials = value.as_deref().and_then(parse_basic);
    if plugin.config.hide_credentials {
        ctx.request.headers.remove(name);
    }
    credentials
}

/// The username and password of a header value as Kong reads them: the first `[Bb]asic` in it,
/// spaces, then the rest decoded as nginx's `ngx.decode_base64` does, then matched against
/// `([^:]+):(.*)` (unanchored; `.` stops at a newline).
pub(super) fn parse_basic(value: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let at = value
        .windows(5)
        .position(|w| (w[0] == b'B' || w[0] == b'b') && &w[1..] == b"asic")?;
    let rest = &value[at + 5..];
    let start = rest
        .iter()
        .position(|b| !is_pcre_space(*b))
        .unwrap_or(rest.len());
    let encoded = &rest[start..];
    let encoded = &encoded[..encoded
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(encoded.len())];
    if encoded.is_empty() {
        return None;
    }
    let decoded = decode_base64(encoded)?;
    split_user_password(&decoded)
}

/// PCRE's `\s`.
fn is_pcre_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// nginx's `ngx_decode_base64`: the input up to the first `=`, every byte of it in the standard
/// alphabet, a length that is not 1 modulo 4; leftover bits are ignored.
fn decode_base64(encoded: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine as _;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const NGINX: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::RequireNone),
    );
    let end = encoded
        .iter()
        .position(|&b| b == b'=')
        .unwrap_or(encoded.len());
    NGINX.decode(&encoded[..end]).ok()
}

/// `([^:]+):(.*)` on the decoded credentials: the first run of bytes without `:` that a `:`
/// follows is the username; the password runs from that `:` to a newline or the end.
fn split_user_password(decoded: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let start = decoded.iter().position(|&b| b != b':')?;
    let colon = start + decoded[start..].iter().position(|&b| b == b':')?;
    let rest = &decoded[colon + 1..];
    let password = &rest[..rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len())];
    Some((decoded[start..colon].to_vec(), password.to_vec()))
}
