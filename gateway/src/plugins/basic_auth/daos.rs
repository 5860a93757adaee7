//! The entity basic-auth owns, as `kong/plugins/basic-auth/daos.lua` declares it: table
//! `basicauth_credentials`, Admin API `/basic-auths` and `/consumers/{c}/basic-auth`, unique
//! `username` (the endpoint and cache key), a required `password` stored hashed by its `on_write`
//! transformation ([`super::crypto`]), a foreign `consumer` with cascade, tags. No `ttl`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::crypto;
use crate::model::{ForeignKey, OnWrite, PluginEntity};
use crate::schema::{REQUIRED_FIELD_MISSING, SchemaViolation, Source, parse};

/// The descriptor the core handles `basicauth_credentials` by.
pub static BASICAUTH_CREDENTIALS: PluginEntity = PluginEntity {
    table: "basicauth_credentials",
    admin_path: "basic-auths",
    consumer_path: "basic-auth",
    endpoint_key: "username",
    unique: &["username"],
    lookup_key: "username",
    ttl: false,
    parse: BasicAuthCredential::parse,
    on_write: Some(OnWrite {
        field: "password",
        transform: crypto::hash_password,
    }),
};

/// A basic-auth credential, fields in `daos.lua` order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuthCredential {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub created_at: u64,
    #[serde(default)]
    pub consumer: Option<ForeignKey>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
}

impl BasicAuthCredential {
    /// Checks a credential body. `username` and `password` are required; an empty string counts
    /// as absent, as Kong's `process_auto_fields` turns it into null (`kong/db/schema/init.lua`).
    fn parse(value: Value, source: Source) -> Result<Value, SchemaViolation> {
        let cred: Self = parse(value, source)?;
        let mut errors = SchemaViolation::default();
        if cred.username.as_deref().is_none_or(str::is_empty) {
            errors.push("username", REQUIRED_FIELD_MISSING);
        }
        if cred.password.as_deref().is_none_or(str::is_empty) {
            errors.push("password", REQUIRED_FIELD_MISSING);
        }
        errors.into_result()?;
        serde_json::to_value(&cred).map_err(|e| SchemaViolation::entity(e.to_string()))
    }
}
