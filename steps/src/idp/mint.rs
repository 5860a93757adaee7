//! How the provider mints tokens, once a grant (`provider.rs`) has decided to issue them: the token response,
//! the claims Keycloak 26 puts in access, refresh and ID tokens (and in the userinfo document), and signing —
//! access and ID tokens with the realm's RSA key (RS256), refresh tokens with its HMAC key (HS512), as Keycloak's
//! `TokenManager` (`AccessTokenResponseBuilder`) does.

use std::collections::HashSet;

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::error::OAuthError;
use super::keys::at_hash;
use super::provider::Provider;
use super::realm::{Client, User};

/// Token types, as Keycloak writes them in the `typ` claim.
pub(crate) const TYP_ACCESS: &str = "Bearer";
pub(crate) const TYP_REFRESH: &str = "Refresh";
pub(crate) const TYP_ID: &str = "ID";

/// What a successful grant answers: the token response body.
pub(crate) type TokenResponse = Map<String, Value>;

/// Who a token is for and within which session.
pub(super) struct Subject<'a> {
    pub(super) client: &'a Client,
    pub(super) user: &'a User,
    /// `(sid, started)` of the user session, if the grant opened or continued one.
    pub(super) session: Option<(&'a str, u64)>,
    pub(super) scope: &'a str,
}

impl Provider {
    /// The token response of a grant for `subject` at `now`: an access token, a refresh token with `jti` when
    /// the grant has a session, an ID token when the scope has `openid`.
    pub(super) fn token_response(
        &self,
        issuer: &str,
        subject: &Subject<'_>,
        refresh_jti: Option<&str>,
        now: u64,
    ) -> Result<TokenResponse, OAuthError> {
        let session_end = subject
            .session
            .map(|(_, started)| started.saturating_add(self.lifespans.session_max));
        let access_exp = now
            .saturating_add(self.lifespans.access_token)
            .min(session_end.unwrap_or(u64::MAX));
        let access_claims = self.access_claims(issuer, subject, now, access_exp);
        let access_token = self.sign_rsa(&access_claims)?;

        let mut response = Map::new();
        response.insert("access_token".into(), json!(access_token));
        response.insert("expires_in".into(), json!(access_exp.saturating_sub(now)));
        match (refresh_jti, subject.session) {
            (Some(jti), Some((sid, started))) => {
                let refresh_exp = now
                    .saturating_add(self.lifespans.session_idle)
                    .min(started.saturating_add(self.lifespans.session_max));
                let refresh_claims = json!({
                    "exp": refresh_exp,
                    "iat": now,
                    "jti": jti,
                    "iss": issuer,
                    "aud": issuer,
                    "sub": subject.user.id,
                    "typ": TYP_REFRESH,
                    "azp": subject.client.client_id,
                    "sid": sid,
                    "scope": subject.scope,
                });
                response.insert(
                    "refresh_expires_in".into(),
                    json!(refresh_exp.saturating_sub(now)),
                );
                response.insert(
                    "refresh_token".into(),
                    json!(self.sign_hmac(&refresh_claims)?),
                );
            }
            _ => {
                response.insert("refresh_expires_in".into(), json!(0));
            }
        }
        response.insert("token_type".into(), json!("Bearer"));
        if has_openid(subject.scope) {
            let id_claims = self.id_claims(issuer, subject, now, access_exp, &access_token);
            response.insert("id_token".into(), json!(self.sign_rsa(&id_claims)?));
        }
        response.insert("not-before-policy".into(), json!(0));
        if let Some((sid, _)) = subject.session {
            response.insert("session_state".into(), json!(sid));
        }
        response.insert("scope".into(), json!(subject.scope));
        Ok(response)
    }

    fn access_claims(&self, issuer: &str, subject: &Subject<'_>, now: u64, exp: u64) -> Value {
        let user = subject.user;
        let has_default_role = user.realm_roles.contains(&self.realm.default_role());
        let mut audiences: Vec<String> = subject.client.audiences.clone();
        if has_default_role {
            audiences.push("account".to_owned());
        }
        let mut seen = HashSet::new();
        audiences.retain(|audience| seen.insert(audience.clone()));
        let mut claims = Map::new();
        claims.insert("exp".into(), json!(exp));
        claims.insert("iat".into(), json!(now));
        claims.insert("jti".into(), json!(uuid::Uuid::new_v4().to_string()));
        claims.insert("iss".into(), json!(issuer));
        match audiences.len() {
            0 => {}
            1 => {
                claims.insert("aud".into(), json!(audiences[0]));
            }
            _ => {
                claims.insert("aud".into(), json!(audiences));
            }
        }
        claims.insert("sub".into(), json!(user.id));
        claims.insert("typ".into(), json!(TYP_ACCESS));
        claims.insert("azp".into(), json!(subject.client.client_id));
        if let Some((sid, _)) = subject.session {
            claims.insert("sid".into(), json!(sid));
        }
        claims.insert("acr".into(), json!("1"));
        if has_default_role {
            let mut realm_roles = vec![
                self.realm.default_role(),
                "offline_access".to_owned(),
                "uma_authorization".to_owned(),
            ];
            realm_roles.extend(
                user.realm_roles
                    .iter()
                    .filter(|role| **role != self.realm.default_role())
                    .cloned(),
            );
            claims.insert("realm_access".into(), json!({ "roles": realm_roles }));
            claims.insert(
                "resource_access".into(),
                json!({ "account": { "roles": ["manage-account", "manage-account-links", "view-profile"] } }),
            );
        }
        claims.insert("scope".into(), json!(subject.scope));
        insert_profile_claims(&mut claims, user);
        if user.service_account_client_id.is_some() {
            claims.insert("client_id".into(), json!(subject.client.client_id));
        }
        Value::Object(claims)
    }

    fn id_claims(
        &self,
        issuer: &str,
        subject: &Subject<'_>,
        now: u64,
        exp: u64,
        access_token: &str,
    ) -> Value {
        let mut claims = Map::new();
        claims.insert("exp".into(), json!(exp));
        claims.insert("iat".into(), json!(now));
        if let Some((_, started)) = subject.session {
            claims.insert("auth_time".into(), json!(started));
        }
        claims.insert("jti".into(), json!(uuid::Uuid::new_v4().to_string()));
        claims.insert("iss".into(), json!(issuer));
        claims.insert("aud".into(), json!(subject.client.client_id));
        claims.insert("sub".into(), json!(subject.user.id));
        claims.insert("typ".into(), json!(TYP_ID));
        claims.insert("azp".into(), json!(subject.client.client_id));
        if let Some((sid, _)) = subject.session {
            claims.insert("sid".into(), json!(sid));
        }
        claims.insert("at_hash".into(), json!(at_hash(access_token)));
        claims.insert("acr".into(), json!("1"));
        insert_profile_claims(&mut claims, subject.user);
        Value::Object(claims)
    }

    /// The userinfo document of a user (`…/protocol/openid-connect/userinfo`).
    pub(crate) fn userinfo(&self, user_id: &str) -> Option<Value> {
        let user = self.realm.user_by_id(user_id)?;
        let mut claims = Map::new();
        claims.insert("sub".into(), json!(user.id));
        insert_profile_claims(&mut claims, user);
        Some(Value::Object(claims))
    }

    fn sign_rsa(&self, claims: &Value) -> Result<String, OAuthError> {
        let (header, key) = self.keys.rsa_signer();
        jsonwebtoken::encode(&header, claims, key).map_err(signing_failed)
    }

    fn sign_hmac(&self, claims: &Value) -> Result<String, OAuthError> {
        let (header, key) = self.keys.hmac_signer();
        jsonwebtoken::encode(&header, claims, key).map_err(signing_failed)
    }
}

fn signing_failed(error: jsonwebtoken::errors::Error) -> OAuthError {
    tracing::error!(%error, "cannot sign a token");
    OAuthError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        "cannot sign the token",
    )
}

/// The profile and email claims Keycloak's default `profile` and `email` scopes put in every token.
fn insert_profile_claims(claims: &mut Map<String, Value>, user: &User) {
    claims.insert("email_verified".into(), json!(user.email_verified));
    if let Some(name) = user.full_name() {
        claims.insert("name".into(), json!(name));
    }
    claims.insert("preferred_username".into(), json!(user.username));
    if let Some(given) = &user.first_name {
        claims.insert("given_name".into(), json!(given));
    }
    if let Some(family) = &user.last_name {
        claims.insert("family_name".into(), json!(family));
    }
    if let Some(email) = &user.email {
        claims.insert("email".into(), json!(email));
    }
}

fn has_openid(scope: &str) -> bool {
    scope.split_whitespace().any(|scope| scope == "openid")
}
