//! Config of `basic-auth` (`kong/plugins/basic-auth/schema.lua`).

use serde::{Deserialize, Serialize};

use crate::plugins::Schema;

/// Kong's `realm` default.
pub const DEFAULT_REALM: &str = "service";

/// Kong's fields and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Consumer id or username used when authentication fails ("logical OR").
    pub anonymous: Option<String>,
    /// Removes the header the credentials were read from before proxying.
    pub hide_credentials: bool,
    /// The `realm` of the `WWW-Authenticate` challenge.
    pub realm: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            anonymous: None,
            hide_credentials: false,
            realm: DEFAULT_REALM.to_owned(),
        }
    }
}

impl Schema for Config {}
