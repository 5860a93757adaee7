//! The entity key-auth owns, as `kong/plugins/key-auth/daos.lua` declares it: table
//! `keyauth_credentials`, Admin API `/key-auths` and `/consumers/{c}/key-auth`, unique `key`
//! (generated when absent), `ttl`, a foreign `consumer` with cascade, tags. The core stores,
//! loads, exports and serves it from [`KEYAUTH_CREDENTIALS`]; the snapshot indexes it by `key`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{ForeignKey, PluginEntity};
use crate::schema::{SchemaViolation, Source, parse};

/// The descriptor the core handles `keyauth_credentials` by.
pub static KEYAUTH_CREDENTIALS: PluginEntity = PluginEntity {
    table: "keyauth_credentials",
    admin_path: "key-auths",
    consumer_path: "key-auth",
    endpoint_key: "key",
    unique: &["key"],
    lookup_key: "key",
    ttl: true,
    parse: KeyAuthCredential::parse,
    on_write: None,
};

/// A key-auth credential, fields in `daos.lua` order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyAuthCredential {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub consumer: Option<ForeignKey>,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub ttl: Option<u64>,
    #[serde(default)]
    pub created_at: u64,
}

impl KeyAuthCredential {
    /// Checks a credential body and fills its defaults; a missing `key` is generated as Kong does
    /// (`auto = true`).
    fn parse(value: Value, source: Source) -> Result<Value, SchemaViolation> {
        let mut cred: Self = parse(value, source)?;
        if cred.key.as_deref().is_none_or(str::is_empty) {
            cred.key = Some(uuid::Uuid::new_v4().simple().to_string());
        }
        serde_json::to_value(&cred).map_err(|e| SchemaViolation::entity(e.to_string()))
    }
}
