//! `key-auth`: authenticates a consumer by an API key in a header, the query string or the body
//! (Kong `kong/plugins/key-auth/`, 3.10 messages).

mod access;
pub mod daos;
pub mod schema;

use crate::model::PluginEntity;
use crate::pdk::{Ctx, Flow};
use crate::plugins::{Deps, Plugin};

pub use schema::Config;

/// The configured plugin.
#[derive(Debug)]
pub struct KeyAuth {
    config: Config,
    /// `WWW-Authenticate` value, built once: `Key` or `Key realm="<realm>"`.
    challenge: http::HeaderValue,
}

impl Plugin for KeyAuth {
    const NAME: &'static str = "key-auth";
    const PRIORITY: i32 = 1250;
    const NO_CONSUMER: bool = true;
    const ENTITIES: &'static [&'static PluginEntity] = &[&daos::KEYAUTH_CREDENTIALS];
    type Config = Config;

    fn new(config: Config, _deps: &Deps) -> Self {
        let challenge = match &config.realm {
            Some(realm) => http::HeaderValue::from_str(&format!("Key realm=\"{realm}\"")),
            None => Ok(http::HeaderValue::from_static("Key")),
        }
        .unwrap_or(http::HeaderValue::from_static("Key"));
        Self { config, challenge }
    }

    async fn access(&self, ctx: &mut Ctx) -> Flow {
        access::execute(self, ctx).await
    }
}

#[cfg(test)]
mod tests;
