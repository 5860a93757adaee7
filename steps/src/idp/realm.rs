//! The realm the provider serves, read from a Keycloak realm export (`kc.sh export`, the file `start-dev
//! --import-realm` imports): its users, clients and token lifespans.
//!
//! Only the fields the provider acts on are read; every other field of Keycloak's `RealmRepresentation` is
//! accepted and ignored, so a real export loads too. Where a field is absent the value is Keycloak's import
//! default (`DefaultExportImportManager.importRealm`, `createUser`): access tokens live 300 s, SSO sessions idle
//! out after 1800 s and end after 36000 s, refresh tokens are not revoked, users are *disabled*, clients are
//! enabled and confidential, direct access grants and service accounts are off.
//!
//! Passwords are read from plaintext `credentials` (`{"type":"password","value":"…","temporary":false}`), the
//! form Keycloak imports. Hashed credentials (what `kc.sh export` writes) cannot be checked here: such users
//! exist but cannot log in.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::Deserialize;

/// Keycloak's access-token lifespan when the realm sets none (seconds).
const DEFAULT_ACCESS_TOKEN_LIFESPAN: u64 = 300;
/// Keycloak's SSO session idle timeout when the realm sets none (seconds).
const DEFAULT_SSO_SESSION_IDLE_TIMEOUT: u64 = 1800;
/// Keycloak's SSO session max lifespan when the realm sets none (seconds).
const DEFAULT_SSO_SESSION_MAX_LIFESPAN: u64 = 36000;

/// A realm ready to serve: users by lower-cased username, clients by client id.
#[derive(Debug, Clone)]
pub(crate) struct Realm {
    pub(crate) name: String,
    pub(crate) enabled: bool,
    pub(crate) access_token_lifespan: u64,
    pub(crate) sso_session_idle_timeout: u64,
    pub(crate) sso_session_max_lifespan: u64,
    pub(crate) revoke_refresh_token: bool,
    pub(crate) refresh_token_max_reuse: u32,
    pub(crate) login_with_email_allowed: bool,
    /// The realm's RSA signing key (`privateKey`: a PKCS#8 or PKCS#1 key, PEM or bare base64), if it has one.
    pub(crate) private_key: Option<String>,
    pub(crate) clients: BTreeMap<String, Client>,
    pub(crate) users: Vec<User>,
}

/// An OpenID Connect client of the realm.
#[derive(Clone)]
pub(crate) struct Client {
    pub(crate) client_id: String,
    pub(crate) enabled: bool,
    pub(crate) public_client: bool,
    pub(crate) secret: Option<String>,
    pub(crate) direct_access_grants_enabled: bool,
    pub(crate) service_accounts_enabled: bool,
    /// Extra `aud` values from the client's `oidc-audience-mapper` protocol mappers (access tokens).
    pub(crate) audiences: Vec<String>,
}

/// A user of the realm (people and service accounts alike).
#[derive(Clone)]
pub(crate) struct User {
    pub(crate) id: String,
    /// Lower-cased, as Keycloak stores usernames.
    pub(crate) username: String,
    pub(crate) email: Option<String>,
    pub(crate) first_name: Option<String>,
    pub(crate) last_name: Option<String>,
    pub(crate) enabled: bool,
    pub(crate) email_verified: bool,
    password: Option<String>,
    /// A temporary password or a pending required action: Keycloak refuses direct grants for such accounts.
    pub(crate) needs_action: bool,
    pub(crate) realm_roles: Vec<String>,
    pub(crate) service_account_client_id: Option<String>,
}

/// Why a realm file cannot be served.
#[derive(Debug)]
pub(crate) enum RealmError {
    Json(serde_json::Error),
    Invalid(String),
}

impl fmt::Display for RealmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Json(error) => write!(f, "not a Keycloak realm export: {error}"),
            Self::Invalid(reason) => f.write_str(reason),
        }
    }
}

impl Realm {
    /// Parses a realm export.
    pub(crate) fn from_json(text: &str) -> Result<Self, RealmError> {
        let rep: RealmRepresentation = serde_json::from_str(text).map_err(RealmError::Json)?;
        if rep.realm.is_empty() {
            return Err(RealmError::Invalid("the realm has an empty name".into()));
        }
        let mut clients = BTreeMap::new();
        for client in rep.clients {
            let client = Client::from(client);
            if client.client_id.is_empty() {
                return Err(RealmError::Invalid("a client has an empty clientId".into()));
            }
            if let Some(previous) = clients.insert(client.client_id.clone(), client) {
                return Err(RealmError::Invalid(format!(
                    "client {:?} is defined twice",
                    previous.client_id
                )));
            }
        }
        let mut users: Vec<User> = Vec::with_capacity(rep.users.len());
        for user in rep.users {
            let user = User::from(user);
            if users.iter().any(|known| known.username == user.username) {
                return Err(RealmError::Invalid(format!(
                    "user {:?} is defined twice",
                    user.username
                )));
            }
            if let Some(client_id) = &user.service_account_client_id
                && !clients.contains_key(client_id)
            {
                return Err(RealmError::Invalid(format!(
                    "user {:?} is the service account of unknown client {client_id:?}",
                    user.username
                )));
            }
            users.push(user);
        }
        Ok(Self {
            name: rep.realm,
            enabled: rep.enabled.unwrap_or(false),
            access_token_lifespan: rep
                .access_token_lifespan
                .unwrap_or(DEFAULT_ACCESS_TOKEN_LIFESPAN),
            sso_session_idle_timeout: rep
                .sso_session_idle_timeout
                .unwrap_or(DEFAULT_SSO_SESSION_IDLE_TIMEOUT),
            sso_session_max_lifespan: rep
                .sso_session_max_lifespan
                .unwrap_or(DEFAULT_SSO_SESSION_MAX_LIFESPAN),
            revoke_refresh_token: rep.revoke_refresh_token.unwrap_or(false),
            refresh_token_max_reuse: rep.refresh_token_max_reuse.unwrap_or(0),
            login_with_email_allowed: rep.login_with_email_allowed.unwrap_or(true),
            private_key: rep.private_key.filter(|key| !key.trim().is_empty()),
            clients,
            users,
        })
    }

    /// The user a password grant names: by username (case-insensitive) or, when the realm allows it, by email.
    pub(crate) fn find_login(&self, login: &str) -> Option<&User> {
        let login = login.to_lowercase();
        self.users
            .iter()
            .find(|user| user.username == login)
            .or_else(|| {
                if !self.login_with_email_allowed {
                    return None;
                }
                self.users.iter().find(|user| {
                    user.email
                        .as_deref()
                        .is_some_and(|email| email.to_lowercase() == login)
                })
            })
    }

    /// The user with this id.
    pub(crate) fn user_by_id(&self, id: &str) -> Option<&User> {
        self.users.iter().find(|user| user.id == id)
    }

    /// The service-account user of `client_id`, as Keycloak creates one for every client with service accounts
    /// enabled. A realm file that lists none gets one with a fresh id.
    pub(crate) fn ensure_service_accounts(&mut self) {
        let missing: Vec<String> = self
            .clients
            .values()
            .filter(|client| client.service_accounts_enabled)
            .filter(|client| {
                !self.users.iter().any(|user| {
                    user.service_account_client_id.as_deref() == Some(client.client_id.as_str())
                })
            })
            .map(|client| client.client_id.clone())
            .collect();
        for client_id in missing {
            self.users.push(User {
                id: uuid::Uuid::new_v4().to_string(),
                username: format!("service-account-{}", client_id.to_lowercase()),
                email: None,
                first_name: None,
                last_name: None,
                enabled: true,
                email_verified: false,
                password: None,
                needs_action: false,
                realm_roles: vec![self.default_role()],
                service_account_client_id: Some(client_id),
            });
        }
    }

    /// The service-account user of `client_id`.
    pub(crate) fn service_account(&self, client_id: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|user| user.service_account_client_id.as_deref() == Some(client_id))
    }

    /// Keycloak's default realm role, `default-roles-<realm>`, whose composites give every token `aud: account`.
    pub(crate) fn default_role(&self) -> String {
        format!("default-roles-{}", self.name.to_lowercase())
    }
}

impl Client {
    /// Whether `secret` is this client's secret.
    pub(crate) fn secret_matches(&self, secret: &str) -> bool {
        self.secret
            .as_deref()
            .is_some_and(|expected| constant_time_eq(expected.as_bytes(), secret.as_bytes()))
    }
}

impl User {
    /// Whether `password` is this user's (plaintext) password.
    pub(crate) fn password_matches(&self, password: &str) -> bool {
        self.password
            .as_deref()
            .is_some_and(|expected| constant_time_eq(expected.as_bytes(), password.as_bytes()))
    }

    /// Keycloak's `name` claim: first and last name joined by a space, when either is set.
    pub(crate) fn full_name(&self) -> Option<String> {
        let parts: Vec<&str> = [self.first_name.as_deref(), self.last_name.as_deref()]
            .into_iter()
            .flatten()
            .filter(|part| !part.is_empty())
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("client_id", &self.client_id)
            .field("enabled", &self.enabled)
            .field("public_client", &self.public_client)
            .field("secret", &self.secret.as_ref().map(|_| "REDACTED"))
            .field(
                "direct_access_grants_enabled",
                &self.direct_access_grants_enabled,
            )
            .field("service_accounts_enabled", &self.service_accounts_enabled)
            .field("audiences", &self.audiences)
            .finish()
    }
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("email", &self.email)
            .field("enabled", &self.enabled)
            .field("password", &self.password.as_ref().map(|_| "REDACTED"))
            .field("needs_action", &self.needs_action)
            .field("service_account_client_id", &self.service_account_client_id)
            .finish_non_exhaustive()
    }
}

// ---- Keycloak's representations (the subset read here; field names as in org.keycloak.representations.idm) ----

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RealmRepresentation {
    #[serde(default)]
    realm: String,
    enabled: Option<bool>,
    access_token_lifespan: Option<u64>,
    sso_session_idle_timeout: Option<u64>,
    sso_session_max_lifespan: Option<u64>,
    revoke_refresh_token: Option<bool>,
    refresh_token_max_reuse: Option<u32>,
    login_with_email_allowed: Option<bool>,
    private_key: Option<String>,
    #[serde(default)]
    clients: Vec<ClientRepresentation>,
    #[serde(default)]
    users: Vec<UserRepresentation>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClientRepresentation {
    #[serde(default)]
    client_id: String,
    enabled: Option<bool>,
    public_client: Option<bool>,
    secret: Option<String>,
    direct_access_grants_enabled: Option<bool>,
    service_accounts_enabled: Option<bool>,
    #[serde(default)]
    protocol_mappers: Vec<ProtocolMapperRepresentation>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProtocolMapperRepresentation {
    #[serde(default)]
    protocol_mapper: String,
    #[serde(default)]
    config: HashMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserRepresentation {
    id: Option<String>,
    #[serde(default)]
    username: String,
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    enabled: Option<bool>,
    email_verified: Option<bool>,
    #[serde(default)]
    credentials: Vec<CredentialRepresentation>,
    #[serde(default)]
    required_actions: Vec<String>,
    #[serde(default)]
    realm_roles: Vec<String>,
    service_account_client_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CredentialRepresentation {
    #[serde(rename = "type", default)]
    kind: String,
    value: Option<String>,
    temporary: Option<bool>,
}

impl From<ClientRepresentation> for Client {
    fn from(rep: ClientRepresentation) -> Self {
        let audiences = rep
            .protocol_mappers
            .iter()
            .filter(|mapper| mapper.protocol_mapper == "oidc-audience-mapper")
            .filter(|mapper| {
                mapper
                    .config
                    .get("access.token.claim")
                    .is_none_or(|on| on == "true")
            })
            .flat_map(|mapper| {
                ["included.client.audience", "included.custom.audience"]
                    .into_iter()
                    .filter_map(|key| mapper.config.get(key))
                    .filter(|audience| !audience.is_empty())
                    .cloned()
            })
            .collect();
        Self {
            client_id: rep.client_id,
            enabled: rep.enabled.unwrap_or(true),
            public_client: rep.public_client.unwrap_or(false),
            secret: rep.secret,
            direct_access_grants_enabled: rep.direct_access_grants_enabled.unwrap_or(false),
            service_accounts_enabled: rep.service_accounts_enabled.unwrap_or(false),
            audiences,
        }
    }
}

impl From<UserRepresentation> for User {
    fn from(rep: UserRepresentation) -> Self {
        let password = rep
            .credentials
            .iter()
            .find(|credential| credential.kind == "password" && credential.value.is_some());
        let temporary = password.is_some_and(|credential| credential.temporary.unwrap_or(false));
        Self {
            id: rep.id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            username: rep.username.to_lowercase(),
            email: rep.email.filter(|email| !email.is_empty()),
            first_name: rep.first_name.filter(|name| !name.is_empty()),
            last_name: rep.last_name.filter(|name| !name.is_empty()),
            enabled: rep.enabled.unwrap_or(false),
            email_verified: rep.email_verified.unwrap_or(false),
            password: password.and_then(|credential| credential.value.clone()),
            needs_action: temporary || !rep.required_actions.is_empty(),
            realm_roles: rep.realm_roles,
            service_account_client_id: rep.service_account_client_id,
        }
    }
}
