//! What the provider knows and decides, without HTTP: the realm, the keys, the user sessions, and which grants
//! succeed and which tokens are still valid (refreshed, revoked, expired). The endpoints (`endpoints.rs`) only
//! parse requests and render these decisions; `mint.rs` turns a granted request into signed tokens.
//!
//! Sessions follow Keycloak's model closely enough for a gateway to tell no difference:
//! * a password grant opens a user session (`sid`, echoed as `session_state` in the token response);
//! * a refresh token is valid while it has not expired, its session is alive (idle and max lifespans), and —
//!   when the realm sets `revokeRefreshToken` — it is the newest refresh token of the session. Presenting an
//!   already-used token answers `Maximum allowed refresh token reuse exceeded`, an older one `Stale token`, and
//!   either detaches the client from the session, so its newest token stops working too
//!   (`TokenManager.validateTokenReuseForRefresh`);
//! * logout removes the session: every refresh token of it then answers `Session not active`;
//! * the client credentials grant opens no session and issues no refresh token (Keycloak 26's default).

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use axum::http::{HeaderMap, StatusCode, header};
use gateway::Clock;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};

use super::error::{
    CLIENT_MISMATCH, INVALID_REFRESH_TOKEN, OAuthError, REUSE_EXCEEDED, SESSION_NOT_ACTIVE,
    SESSION_WITHOUT_CLIENT, STALE_TOKEN, TOKEN_NOT_ACTIVE,
};
use super::keys::Keys;
use super::mint::{Subject, TYP_ACCESS, TYP_REFRESH, TokenResponse};
use super::realm::{Client, Realm};

/// Scopes a token request may ask for; Keycloak's default client scopes `email` and `profile` are always granted.
const KNOWN_SCOPES: [&str; 3] = ["openid", "email", "profile"];

/// The running provider's state, shared by every request.
pub(crate) struct Provider {
    pub(crate) realm: Realm,
    pub(crate) keys: Keys,
    pub(crate) lifespans: Lifespans,
    /// A fixed public base URL (`http://host:port`); without one the issuer follows the request's `Host`, as
    /// Keycloak's development mode does.
    pub(crate) public_url: Option<String>,
    /// `http://<bound address>`, the base when a request carries no usable `Host`.
    pub(crate) local_base: String,
    /// Where the provider reads the time: tokens carry `iat`/`exp` from it, and it decides expiry.
    clock: Clock,
    sessions: Mutex<HashMap<String, Session>>,
}

/// How long tokens and sessions live, in seconds: the realm's values, or the builder's overrides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Lifespans {
    /// How long an access token lives (the realm's `accessTokenLifespan`).
    pub(crate) access_token: u64,
    /// How long a session lives without a refresh, and so how long a refresh token lives
    /// (`ssoSessionIdleTimeout`).
    pub(crate) session_idle: u64,
    /// How long a session lives at most, refreshed or not (`ssoSessionMaxLifespan`).
    pub(crate) session_max: u64,
}

/// One user session with the one client that opened it.
#[derive(Debug, Clone)]
struct Session {
    user_id: String,
    client_id: String,
    scope: String,
    started: u64,
    last_refresh: u64,
    /// The `jti` of the newest refresh token issued for the session.
    latest_refresh: String,
    /// The `jti` of the refresh token used last, and how often it was used.
    last_used: Option<String>,
    use_count: u32,
    /// `false` once refresh-token reuse detached the client from the session.
    client_attached: bool,
}

impl Provider {
    pub(crate) fn new(
        realm: Realm,
        keys: Keys,
        lifespans: Lifespans,
        public_url: Option<String>,
        local_base: String,
        clock: Clock,
    ) -> Self {
        Self {
            realm,
            keys,
            lifespans,
            public_url,
            local_base,
            clock,
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// Seconds since the Unix epoch by the provider's clock.
    pub(crate) fn now(&self) -> u64 {
        self.clock.now()
    }

    /// The issuer for a request: `<public url>/realms/<realm>`, else built from the request's `Host` header.
    pub(crate) fn issuer_for(&self, headers: &HeaderMap) -> String {
        let base = match &self.public_url {
            Some(url) => url.clone(),
            None => headers
                .get(header::HOST)
                .and_then(|host| host.to_str().ok())
                .filter(|host| is_authority(host))
                .map_or_else(|| self.local_base.clone(), |host| format!("http://{host}")),
        };
        format!("{base}/realms/{}", self.realm.name)
    }

    fn sessions(&self) -> MutexGuard<'_, HashMap<String, Session>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn session_alive(&self, session: &Session, now: u64) -> bool {
        now < session
            .last_refresh
            .saturating_add(self.lifespans.session_idle)
            && now < session.started.saturating_add(self.lifespans.session_max)
    }

    // ---- grants ------------------------------------------------------------------------------------------

    /// The resource owner password credentials grant: checks the user and opens a session.
    pub(crate) fn password_grant(
        &self,
        issuer: &str,
        client: &Client,
        username: Option<&str>,
        password: Option<&str>,
        scope: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        if !client.direct_access_grants_enabled {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unauthorized_client",
                "Client not allowed for direct access grants",
            ));
        }
        let scope = granted_scope(scope)?;
        let Some(username) = username.filter(|name| !name.is_empty()) else {
            return Err(OAuthError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_request",
                "Missing parameter: username",
            ));
        };
        let Some(user) = self.realm.find_login(username) else {
            tracing::info!(realm = %self.realm.name, client = %client.client_id, username, "password grant: unknown user");
            return Err(OAuthError::invalid_user_credentials());
        };
        if !user.enabled {
            return Err(OAuthError::invalid_grant("Account disabled"));
        }
        if !password.is_some_and(|password| user.password_matches(password)) {
            tracing::info!(realm = %self.realm.name, client = %client.client_id, username, "password grant: wrong password");
            return Err(OAuthError::invalid_user_credentials());
        }
        if user.needs_action {
            return Err(OAuthError::invalid_grant("Account is not fully set up"));
        }
        let now = self.now();
        let sid = uuid::Uuid::new_v4().to_string();
        let refresh_jti = uuid::Uuid::new_v4().to_string();
        {
            let mut sessions = self.sessions();
            sessions.retain(|_, session| self.session_alive(session, now));
            sessions.insert(
                sid.clone(),
                Session {
                    user_id: user.id.clone(),
                    client_id: client.client_id.clone(),
                    scope: scope.clone(),
                    started: now,
                    last_refresh: now,
                    latest_refresh: refresh_jti.clone(),
                    last_used: None,
                    use_count: 0,
                    client_attached: true,
                },
            );
        }
        tracing::info!(realm = %self.realm.name, client = %client.client_id, user = %user.username, sid = %sid, "password grant");
        let subject = Subject {
            client,
            user,
            session: Some((&sid, now)),
            scope: &scope,
        };
        self.token_response(issuer, &subject, Some(&refresh_jti), now)
    }

    /// The client credentials grant: a token for the client's service account, without session or refresh token.
    pub(crate) fn client_credentials_grant(
        &self,
        issuer: &str,
        client: &Client,
        scope: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        if client.public_client {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unauthorized_client",
                "Public client not allowed to retrieve service account",
            ));
        }
        let service_account = client
            .service_accounts_enabled
            .then(|| self.realm.service_account(&client.client_id))
            .flatten()
            .filter(|user| user.enabled);
        let Some(user) = service_account else {
            return Err(OAuthError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized_client",
                "Client not enabled to retrieve service account",
            ));
        };
        let scope = granted_scope(scope)?;
        let now = self.now();
        tracing::info!(realm = %self.realm.name, client = %client.client_id, "client credentials grant");
        let subject = Subject {
            client,
            user,
            session: None,
            scope: &scope,
        };
        self.token_response(issuer, &subject, None, now)
    }

    /// The refresh token grant, with Keycloak's checks in Keycloak's order and rotation.
    pub(crate) fn refresh_grant(
        &self,
        issuer: &str,
        client: &Client,
        refresh_token: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        let Some(refresh_token) = refresh_token else {
            return Err(OAuthError::invalid_request("No refresh token"));
        };
        let now = self.now();
        let claims = self.verify_refresh_token(refresh_token, issuer, client, Some(now))?;
        let (sid, jti) = (claim_str(&claims, "sid"), claim_str(&claims, "jti"));
        let new_jti = uuid::Uuid::new_v4().to_string();
        let session = {
            let mut sessions = self.sessions();
            let Some(session) = sessions.get_mut(sid) else {
                return Err(OAuthError::invalid_grant(SESSION_NOT_ACTIVE));
            };
            if !self.session_alive(session, now) {
                sessions.remove(sid);
                return Err(OAuthError::invalid_grant(SESSION_NOT_ACTIVE));
            }
            if !session.client_attached || session.client_id != client.client_id {
                return Err(OAuthError::invalid_grant(SESSION_WITHOUT_CLIENT));
            }
            if self.realm.revoke_refresh_token {
                if session.last_used.as_deref() == Some(jti) {
                    if session.use_count > self.realm.refresh_token_max_reuse {
                        session.client_attached = false;
                        tracing::info!(realm = %self.realm.name, sid, "refresh token reused: session detached");
                        return Err(OAuthError::invalid_grant(REUSE_EXCEEDED));
                    }
                } else if session.latest_refresh != jti {
                    session.client_attached = false;
                    tracing::info!(realm = %self.realm.name, sid, "stale refresh token: session detached");
                    return Err(OAuthError::invalid_grant(STALE_TOKEN));
                } else {
                    session.last_used = Some(jti.to_owned());
                    session.use_count = 0;
                }
                session.use_count += 1;
            }
            session.last_refresh = now;
            session.latest_refresh.clone_from(&new_jti);
            session.clone()
        };
        let Some(user) = self
            .realm
            .user_by_id(&session.user_id)
            .filter(|user| user.enabled)
        else {
            return Err(OAuthError::invalid_grant(INVALID_REFRESH_TOKEN));
        };
        tracing::info!(realm = %self.realm.name, client = %client.client_id, user = %user.username, sid, "refresh token grant");
        let subject = Subject {
            client,
            user,
            session: Some((sid, session.started)),
            scope: &session.scope,
        };
        self.token_response(issuer, &subject, Some(&new_jti), now)
    }

    /// Back-channel logout: ends the session of `refresh_token` (which may have expired).
    pub(crate) fn logout(
        &self,
        issuer: &str,
        client: &Client,
        refresh_token: Option<&str>,
    ) -> Result<(), OAuthError> {
        let Some(refresh_token) = refresh_token else {
            return Err(OAuthError::invalid_request("No refresh token"));
        };
        let claims = self.verify_refresh_token(refresh_token, issuer, client, None)?;
        let sid = claim_str(&claims, "sid");
        let removed = self.sessions().remove(sid).is_some();
        tracing::info!(realm = %self.realm.name, client = %client.client_id, sid, removed, "logout");
        Ok(())
    }

    // ---- verification ------------------------------------------------------------------------------------

    /// Checks a refresh token as Keycloak's `TokenManager.verifyRefreshToken` does: signature and type, issuer,
    /// expiry (unless `now` is `None`, as for logout), and that `client` is the one it was issued to.
    fn verify_refresh_token(
        &self,
        token: &str,
        issuer: &str,
        client: &Client,
        now: Option<u64>,
    ) -> Result<Map<String, Value>, OAuthError> {
        let claims = decode(token, Algorithm::HS512, self.keys.hmac_verifier())
            .filter(|claims| claim_str(claims, "typ") == TYP_REFRESH)
            .ok_or_else(|| OAuthError::invalid_grant(INVALID_REFRESH_TOKEN))?;
        if claim_str(&claims, "iss") != issuer {
            return Err(OAuthError::invalid_grant(format!(
                "Invalid token issuer. Expected '{issuer}'"
            )));
        }
        if let Some(now) = now
            && claim_u64(&claims, "exp").is_none_or(|exp| exp <= now)
        {
            return Err(OAuthError::invalid_grant(TOKEN_NOT_ACTIVE));
        }
        if claim_str(&claims, "azp") != client.client_id {
            return Err(OAuthError::invalid_grant(CLIENT_MISMATCH));
        }
        Ok(claims)
    }

    /// The claims of an access token this provider issued for `issuer` that is still valid: signed by the realm
    /// key, of type `Bearer`, unexpired, and (if it belongs to a session) with its session alive.
    pub(crate) fn active_access_token(
        &self,
        token: &str,
        issuer: &str,
    ) -> Result<Map<String, Value>, &'static str> {
        let claims = decode(token, Algorithm::RS256, self.keys.rsa_verifier())
            .filter(|claims| claim_str(claims, "typ") == TYP_ACCESS)
            .filter(|claims| claim_str(claims, "iss") == issuer)
            .ok_or("Token verification failed")?;
        let now = self.now();
        if claim_u64(&claims, "exp").is_none_or(|exp| exp <= now) {
            return Err("Token verification failed");
        }
        if let Some(sid) = claims.get("sid").and_then(Value::as_str) {
            let sessions = self.sessions();
            let alive = sessions
                .get(sid)
                .is_some_and(|session| session.client_attached && self.session_alive(session, now));
            if !alive {
                return Err("User session not found or doesn't have client attached on it");
            }
        }
        Ok(claims)
    }

    /// RFC 7662 introspection of any token this provider issued: its claims when active, `None` otherwise.
    pub(crate) fn introspect(&self, token: &str, issuer: &str) -> Option<Map<String, Value>> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        let now = self.now();
        match header.alg {
            Algorithm::RS256 => {
                let claims = decode(token, Algorithm::RS256, self.keys.rsa_verifier())?;
                if claim_str(&claims, "iss") != issuer
                    || claim_u64(&claims, "exp").is_none_or(|exp| exp <= now)
                {
                    return None;
                }
                match claims.get("sid").and_then(Value::as_str) {
                    Some(sid) if claim_str(&claims, "typ") == TYP_ACCESS => {
                        let sessions = self.sessions();
                        let session = sessions.get(sid)?;
                        (session.client_attached && self.session_alive(session, now))
                            .then_some(claims.clone())
                    }
                    _ => Some(claims),
                }
            }
            Algorithm::HS512 => {
                let claims = decode(token, Algorithm::HS512, self.keys.hmac_verifier())?;
                if claim_str(&claims, "typ") != TYP_REFRESH
                    || claim_str(&claims, "iss") != issuer
                    || claim_u64(&claims, "exp").is_none_or(|exp| exp <= now)
                {
                    return None;
                }
                let jti = claim_str(&claims, "jti");
                let sessions = self.sessions();
                let session = sessions.get(claim_str(&claims, "sid"))?;
                let current = session.latest_refresh == jti
                    || (session.last_used.as_deref() == Some(jti)
                        && session.use_count <= self.realm.refresh_token_max_reuse);
                (session.client_attached
                    && self.session_alive(session, now)
                    && (!self.realm.revoke_refresh_token || current))
                    .then_some(claims.clone())
            }
            _ => None,
        }
    }
}

/// The scope a token is granted for the requested `scope` parameter: `openid` when asked for, plus the default
/// `email profile`. Any other scope is refused as Keycloak refuses a scope the client does not have.
fn granted_scope(requested: Option<&str>) -> Result<String, OAuthError> {
    let requested: Vec<&str> = requested.unwrap_or_default().split_whitespace().collect();
    if let Some(unknown) = requested.iter().find(|scope| !KNOWN_SCOPES.contains(scope)) {
        tracing::debug!(scope = unknown, "unknown scope requested");
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            format!("Invalid scopes: {}", requested.join(" ")),
        ));
    }
    Ok(if requested.contains(&"openid") {
        "openid email profile".to_owned()
    } else {
        "email profile".to_owned()
    })
}

/// The claims of a token signed with `alg` by `key`; no claim is checked here.
fn decode(
    token: &str,
    alg: Algorithm,
    key: &jsonwebtoken::DecodingKey,
) -> Option<Map<String, Value>> {
    let mut validation = Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims = HashSet::new();
    jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation)
        .ok()
        .map(|data| data.claims)
}

pub(crate) fn claim_str<'a>(claims: &'a Map<String, Value>, name: &str) -> &'a str {
    claims.get(name).and_then(Value::as_str).unwrap_or_default()
}

fn claim_u64(claims: &Map<String, Value>, name: &str) -> Option<u64> {
    claims.get(name).and_then(Value::as_u64)
}

/// Whether a `Host` header value can be used as the authority of a URL.
fn is_authority(host: &str) -> bool {
    !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']' | '_'))
}
