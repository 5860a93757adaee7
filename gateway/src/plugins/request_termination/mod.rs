//! `request-termination`: answers the request itself with a fixed status and message or body
//! (Kong `kong/plugins/request-termination/`). Scoped to a consumer, it is how the documented flow
//! turns the anonymous consumer away with 403.

mod access;
pub mod schema;

use crate::pdk::{Ctx, Flow};
use crate::plugins::{Deps, Plugin};

pub use schema::Config;

/// The configured plugin.
#[derive(Debug)]
pub struct RequestTermination {
    config: Config,
}

impl Plugin for RequestTermination {
    const NAME: &'static str = "request-termination";
    const PRIORITY: i32 = 2;
    const NO_CONSUMER: bool = false;
    type Config = Config;

    fn new(config: Config, _deps: &Deps) -> Self {
        Self { config }
    }

    async fn access(&self, ctx: &mut Ctx) -> Flow {
        access::execute(&self.config, ctx).await
    }
}

#[cfg(test)]
mod tests;
