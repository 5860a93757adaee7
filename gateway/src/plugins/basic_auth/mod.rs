//! `basic-auth`: authenticates a consumer by a username and password in `Authorization: Basic`
//! (or `Proxy-Authorization`), checked against the consumer's `basicauth_credentials`, whose
//! passwords are stored hashed (Kong `kong/plugins/basic-auth/`, 3.10 messages).

mod access;
pub mod crypto;
pub mod daos;
pub mod schema;

use crate::model::PluginEntity;
use crate::pdk::{Ctx, Flow};
use crate::plugins::{Deps, Plugin};

pub use schema::Config;

/// The configured plugin.
#[derive(Debug)]
pub struct BasicAuth {
    config: Config,
    /// `WWW-Authenticate` value, built once: `Basic realm="<realm>"`.
    challenge: http::HeaderValue,
}

impl Plugin for BasicAuth {
    const NAME: &'static str = "basic-auth";
    /// `kong/plugins/basic-auth/handler.lua`: after key-auth (1250), before openid-connect (1050).
    const PRIORITY: i32 = 1100;
    const NO_CONSUMER: bool = true;
    const ENTITIES: &'static [&'static PluginEntity] = &[&daos::BASICAUTH_CREDENTIALS];
    type Config = Config;

    fn new(config: Config, _deps: &Deps) -> Self {
        let challenge = http::HeaderValue::from_str(&format!("Basic realm=\"{}\"", config.realm))
            .unwrap_or(http::HeaderValue::from_static("Basic realm=\"service\""));
        Self { config, challenge }
    }

    async fn access(&self, ctx: &mut Ctx) -> Flow {
        access::execute(self, ctx)
    }
}

#[cfg(test)]
mod tests;
