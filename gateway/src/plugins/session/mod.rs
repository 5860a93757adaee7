//! `session`: keeps a consumer authenticated by a cookie after another auth plugin let them in
//! (Kong `kong/plugins/session/`, on lua-resty-session 4 cookies: see [`crate::resty_session`]).
//!
//! Access opens the cookie, handles logout, re-authenticates the stored consumer and renews the
//! cookie; header_filter issues a new cookie when another plugin authenticated a consumer with a
//! credential and no matching session existed.

mod access;
mod header_filter;
pub mod schema;

use std::sync::Arc;

use crate::pdk::{Ctx, Flow};
use crate::plugins::{Deps, Plugin};
use crate::resty_session::{Session, SessionConfig};

pub use schema::Config;

/// The configured plugin: the library config (with derived keys) is built once.
pub struct SessionPlugin {
    config: Config,
    session: Arc<SessionConfig>,
}

impl std::fmt::Debug for SessionPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionPlugin")
            .field("cookie_name", &self.config.cookie_name)
            .finish_non_exhaustive()
    }
}

/// What access leaves for header_filter (`kong.ctx.shared.authenticated_session`).
struct State {
    session: Session,
    /// `(consumer_id, credential_id)` of a valid session that authenticated this request.
    authenticated: Option<(String, String)>,
}

impl Plugin for SessionPlugin {
    const NAME: &'static str = "session";
    const PRIORITY: i32 = 1900;
    const NO_CONSUMER: bool = true;
    type Config = Config;

    fn new(config: Config, deps: &Deps) -> Self {
        let session = Arc::new(config.library_config(deps));
        Self { config, session }
    }

    async fn access(&self, ctx: &mut Ctx) -> Flow {
        access::execute(self, ctx).await
    }

    async fn header_filter(&self, ctx: &mut Ctx, response: &mut http::response::Parts) {
        header_filter::execute(self, ctx, response).await;
    }
}

#[cfg(test)]
mod tests;
