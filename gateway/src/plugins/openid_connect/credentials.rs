//! Where `openid-connect` looks for credentials in the request, in the access phase: each method's
//! `*_param_type` places in order (`header`, `query`, `body`, `cookie`), read through the PDK's
//! request readers (Kong EE `kong/plugins/openid-connect/arguments.lua`).

use super::schema::{Config, ParamType};
use crate::pdk::{Arg, Ctx};

/// Headers that may carry a bearer token besides `Authorization` (Kong's `header` param type).
const TOKEN_HEADERS: [&str; 2] = ["access-token", "x-access-token"];
/// The refresh-token header when `refresh_token_param_name` is not set.
const REFRESH_TOKEN_HEADER: &str = "x-refresh-token";

/// A non-empty query argument given once.
fn query_value(ctx: &Ctx, name: &str) -> Option<String> {
    ctx.query_arg(name)
        .and_then(Arg::into_text)
        .filter(|v| !v.is_empty())
}

/// The first non-empty value of a body argument.
async fn body_value(ctx: &mut Ctx, name: &str) -> Option<String> {
    ctx.body_arg(name).await.and_then(Arg::first_text)
}

/// A non-empty cookie.
fn cookie_value(ctx: &Ctx, name: &str) -> Option<String> {
    ctx.cookie(name)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// The bearer token, searched per `bearer_token_param_type`.
pub(super) async fn bearer(conf: &Config, ctx: &mut Ctx) -> Option<String> {
    for place in &conf.bearer_token_param_type {
        let found = match place {
            ParamType::Header => ctx.authorization("bearer").map(str::to_owned).or_else(|| {
                TOKEN_HEADERS.iter().find_map(|name| {
                    let value = ctx.header(name)?.trim();
                    let token = match value.split_once(' ') {
                        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => {
                            rest.trim()
                        }
                        _ => value,
                    };
                    (!token.is_empty()).then(|| token.to_owned())
                })
            }),
            ParamType::Query => query_value(ctx, "access_token"),
            ParamType::Body => body_value(ctx, "access_token").await,
            ParamType::Cookie => conf
                .bearer_token_cookie_name
                .as_deref()
                .and_then(|name| cookie_value(ctx, name)),
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

/// The refresh token, searched per `refresh_token_param_type`.
pub(super) async fn refresh_token(conf: &Config, ctx: &mut Ctx) -> Option<String> {
    let param = conf
        .refresh_token_param_name
        .as_deref()
        .unwrap_or("refresh_token");
    // `header()` treats `_` as `-`, so a configured name is its own header name.
    let header = conf
        .refresh_token_param_name
        .as_deref()
        .unwrap_or(REFRESH_TOKEN_HEADER);
    for place in &conf.refresh_token_param_type {
        let found = match place {
            ParamType::Header => ctx
                .header(header)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned),
            ParamType::Query => query_value(ctx, param),
            ParamType::Body => body_value(ctx, param).await,
            ParamType::Cookie => cookie_value(ctx, param),
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

/// A (user, secret) pair from `Authorization: Basic`, the query or the body; the flag says it came
/// from the header. Basic credentials that do not decode count as none.
pub(super) async fn pair(
    ctx: &mut Ctx,
    places: &[ParamType],
    user: &str,
    secret: &str,
) -> Option<((String, String), bool)> {
    for place in places {
        match place {
            ParamType::Header => match ctx.basic_credentials() {
                Ok(Some(pair)) => return Some((pair, true)),
                Ok(None) => {}
                Err(err) => tracing::debug!(%err, "openid-connect: ignoring Basic credentials"),
            },
            ParamType::Query => {
                if let (Some(u), Some(s)) = (query_value(ctx, user), query_value(ctx, secret)) {
                    return Some(((u, s), false));
                }
            }
            ParamType::Body => {
                let u = body_value(ctx, user).await;
                let s = body_value(ctx, secret).await;
                if let (Some(u), Some(s)) = (u, s) {
                    return Some(((u, s), false));
                }
            }
            ParamType::Cookie => {}
        }
    }
    None
}
