//! `kong.client`: who the request is authenticated as (`kong/pdk/client.lua` `authenticate`), and
//! the upstream headers Kong's auth plugins set for it (`kong/plugins/key-auth/handler.lua`
//! `set_consumer`, `kong/plugins/session/access.lua` `authenticate`). Runs in the access phase.

use std::sync::Arc;

use http::StatusCode;

use super::{Ctx, Exit, Flow, headers};
use crate::model::Consumer;

/// The credential that authenticated the request (`ngx.ctx.authenticated_credential`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub id: String,
    pub consumer_id: String,
}

impl Ctx {
    /// The auth plugins' fallback when `anonymous` is configured and the request did not
    /// authenticate: the anonymous consumer (by id or username) goes on, with Kong's headers for
    /// it; a missing one is a 500 with Kong's message (`kong/plugins/key-auth/handler.lua`,
    /// `basic-auth/access.lua`, openid-connect's `anonymous`).
    pub fn authenticate_anonymous(&mut self, anonymous: &str) -> Flow {
        let Some(consumer) = self.snapshot.consumer_by_id_or_username(anonymous) else {
            tracing::error!(%anonymous, "anonymous consumer is configured but doesn't exist");
            let message = format!("anonymous consumer {anonymous} is configured but doesn't exist");
            let request_id = self.request_id().to_owned();
            return Flow::Respond(Exit::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &message,
                &request_id,
            ));
        };
        self.authenticate_as(Some(consumer), None);
        Flow::Continue
    }

    /// Authenticates the request and sets Kong's upstream headers for it:
    ///
    /// * a consumer sets (or clears, when a field is empty) `X-Consumer-ID`,
    ///   `X-Consumer-Custom-ID` and `X-Consumer-Username`; no consumer leaves them as they are;
    /// * a credential sets `X-Credential-Identifier` (cleared when its id is empty) and removes
    ///   `X-Anonymous-Consumer`; no credential (the anonymous consumer) clears
    ///   `X-Credential-Identifier` and sets `X-Anonymous-Consumer: true`.
    pub fn authenticate_as(
        &mut self,
        consumer: Option<Arc<Consumer>>,
        credential: Option<Credential>,
    ) {
        if let Some(consumer) = &consumer {
            self.set_upstream_header(headers::CONSUMER_ID, Some(&consumer.id));
            self.set_upstream_header(headers::CONSUMER_CUSTOM_ID, consumer.custom_id.as_deref());
            self.set_upstream_header(headers::CONSUMER_USERNAME, consumer.username.as_deref());
        }
        match &credential {
            Some(cred) => {
                let id = Some(cred.id.as_str()).filter(|id| !id.is_empty());
                self.set_upstream_header(headers::CREDENTIAL_IDENTIFIER, id);
                self.set_upstream_header(headers::ANONYMOUS, None);
            }
            None => {
                self.set_upstream_header(headers::CREDENTIAL_IDENTIFIER, None);
                self.set_upstream_header(headers::ANONYMOUS, Some("true"));
            }
        }
        self.consumer = consumer;
        self.credential = credential;
    }

    /// `ngx.ctx.authenticated_groups` and `X-Authenticated-Groups` (comma-joined), or neither.
    pub fn set_authenticated_groups(&mut self, groups: Option<Vec<String>>) {
        let joined = groups.as_ref().map(|g| g.join(", "));
        self.set_upstream_header(headers::AUTHENTICATED_GROUPS, joined.as_deref());
        self.authenticated_groups = groups;
    }
}
