//! Config of `key-auth` (`kong/plugins/key-auth/schema.lua`).

use serde::{Deserialize, Serialize};

use crate::plugins::Schema;
use crate::schema::SchemaViolation;

/// Kong's fields and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub key_names: Vec<String>,
    pub hide_credentials: bool,
    pub anonymous: Option<String>,
    pub key_in_header: bool,
    pub key_in_query: bool,
    pub key_in_body: bool,
    pub run_on_preflight: bool,
    pub realm: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            key_names: vec!["apikey".to_owned()],
            hide_credentials: false,
            anonymous: None,
            key_in_header: true,
            key_in_query: true,
            key_in_body: false,
            run_on_preflight: true,
            realm: None,
        }
    }
}

impl Schema for Config {
    fn validate(&self) -> Result<(), SchemaViolation> {
        let mut errors = SchemaViolation::default();
        if self.key_names.is_empty() {
            errors.push("key_names", "length must be at least 1");
        }
        for (i, name) in self.key_names.iter().enumerate() {
            if let Err(msg) = crate::schema::check_header_name(name) {
                errors.push(format!("key_names.{}", i + 1), msg);
            }
        }
        errors.into_result()
    }
}
