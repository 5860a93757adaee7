//! Access phase of `key-auth` (`kong/plugins/key-auth/handler.lua` lines 108-273).

use std::sync::Arc;

use http::{Method, StatusCode, header::WWW_AUTHENTICATE};

use super::KeyAuth;
use crate::model::Consumer;
use crate::pdk::{Arg, Credential, Ctx, Exit, Flow};

pub const NO_API_KEY: &str = "No API key found in request";
pub const UNAUTHORIZED: &str = "Unauthorized";
pub const DUPLICATE_API_KEY: &str = "Duplicate API key found";
pub const UNEXPECTED: &str = "An unexpected error occurred";

/// Why `do_authentication` failed, each with Kong's status and message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyAuthError {
    /// 401: no key in any configured place.
    #[error("{NO_API_KEY}")]
    NoKey,
    /// 401: a key name was given more than once.
    #[error("{DUPLICATE_API_KEY}")]
    Duplicate,
    /// 401: no credential has this key.
    #[error("{UNAUTHORIZED}")]
    UnknownKey,
    /// 500: the credential's consumer is gone.
    #[error("{UNEXPECTED}")]
    NoConsumer,
}

impl KeyAuthError {
    /// Kong's status for this failure.
    pub fn status(self) -> StatusCode {
        match self {
            Self::NoKey | Self::Duplicate | Self::UnknownKey => StatusCode::UNAUTHORIZED,
            Self::NoConsumer => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Kong's message for this failure.
    pub fn message(self) -> &'static str {
        match self {
            Self::NoKey => NO_API_KEY,
            Self::Duplicate => DUPLICATE_API_KEY,
            Self::UnknownKey => UNAUTHORIZED,
            Self::NoConsumer => UNEXPECTED,
        }
    }
}

/// Where a key name was found, as Lua types: a string is a key, a table a duplicate, `true` nothing.
enum Found {
    Key(String),
    Duplicate,
    Nothing,
}

impl Found {
    fn of(arg: Option<Arg>) -> Self {
        match arg {
            Some(Arg::Text(v)) => Self::Key(v),
            Some(Arg::Table(_)) => Self::Duplicate,
            Some(Arg::Flag | Arg::Number | Arg::False) | None => Self::Nothing,
        }
    }
}

/// Runs the plugin: "logical OR" when `anonymous` is set, "logical AND" otherwise.
pub async fn execute(plugin: &KeyAuth, ctx: &mut Ctx) -> Flow {
    let conf = &plugin.config;
    if !conf.run_on_preflight && ctx.request.method == Method::OPTIONS {
        return Flow::Continue;
    }
    if conf.anonymous.is_some() && ctx.credential.is_some() {
        return Flow::Continue;
    }
    let failure = match authenticate(plugin, ctx).await {
        Ok(()) => return Flow::Continue,
        Err(failure) => failure,
    };
    let Some(anonymous) = &conf.anonymous else {
        let request_id = ctx.request_id().to_owned();
        let mut exit = Exit::error(failure.status(), failure.message(), &request_id);
        if failure.status() == StatusCode::UNAUTHORIZED {
            exit = exit.header(WWW_AUTHENTICATE, plugin.challenge.clone());
        }
        return Flow::Respond(exit);
    };
    ctx.authenticate_anonymous(anonymous)
}

/// `do_authentication`: finds the key, checks it, authenticates its consumer.
async fn authenticate(plugin: &KeyAuth, ctx: &mut Ctx) -> Result<(), KeyAuthError> {
    let conf = &plugin.config;
    let mut key = None;
    for name in &conf.key_names {
        let mut found = Found::Nothing;
        if conf.key_in_header {
            found = header_value(ctx, name);
        }
        if matches!(found, Found::Nothing) && conf.key_in_query {
            found = Found::of(ctx.query_arg(name));
        }
        if matches!(found, Found::Nothing) && conf.key_in_body {
            found = Found::of(ctx.body_arg(name).await);
        }
        match found {
            Found::Key(v) => {
                if conf.hide_credentials {
                    ctx.clear_header(name);
                    ctx.clear_query_arg(name);
                    if conf.key_in_body {
                        ctx.remove_body_arg(name).await;
                    }
                }
                key = Some(v);
                break;
            }
            Found::Duplicate => return Err(KeyAuthError::Duplicate),
            Found::Nothing => {}
        }
    }
    let key = match key {
        Some(k) if !k.is_empty() => k,
        _ => return Err(KeyAuthError::NoKey),
    };
    let Some(cred) = ctx
        .snapshot
        .credential(&super::daos::KEYAUTH_CREDENTIALS, &key, ctx.now)
    else {
        return Err(KeyAuthError::UnknownKey);
    };
    let (cred_id, consumer_id) = (cred.id.clone(), cred.consumer_id.clone());
    let Some(consumer): Option<Arc<Consumer>> = ctx.snapshot.consumer(&consumer_id) else {
        return Err(KeyAuthError::NoConsumer);
    };
    ctx.authenticate_as(
        Some(consumer),
        Some(Credential {
            id: cred_id,
            consumer_id,
        }),
    );
    Ok(())
}

/// `kong.request.get_headers()[name]`: one value is a key, a repeated header a duplicate.
fn header_value(ctx: &Ctx, name: &str) -> Found {
    let mut values = ctx.header_values(name);
    match (values.next(), values.next()) {
        (Some(_), Some(_)) => Found::Duplicate,
        (Some(v), None) => Found::Key(v.into_owned()),
        _ => Found::Nothing,
    }
}
