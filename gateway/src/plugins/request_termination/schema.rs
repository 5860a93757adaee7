//! Config of `request-termination` (`kong/plugins/request-termination/schema.lua`).

use serde::{Deserialize, Serialize};

use crate::plugins::Schema;
use crate::schema::SchemaViolation;

pub const STATUS_RANGE: &str = "value should be between 100 and 599";
pub const MESSAGE_WITH_BODY: &str = "message cannot be used with content_type or body";
pub const CONTENT_TYPE_WITHOUT_BODY: &str = "content_type requires a body";
pub const ECHO_WITH_BODY: &str = "echo cannot be used with content_type and body";

/// Kong's fields and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub status_code: i64,
    pub message: Option<String>,
    pub content_type: Option<String>,
    pub body: Option<String>,
    pub echo: bool,
    pub trigger: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            status_code: 503,
            message: None,
            content_type: None,
            body: None,
            echo: false,
            trigger: None,
        }
    }
}

impl Schema for Config {
    fn validate(&self) -> Result<(), SchemaViolation> {
        let mut errors = SchemaViolation::default();
        if !(100..=599).contains(&self.status_code) {
            errors.push("status_code", STATUS_RANGE);
        }
        if let Some(trigger) = &self.trigger
            && let Err(msg) = crate::schema::check_header_name(trigger)
        {
            errors.push("trigger", msg);
        }
        // Kong checks the fields first, then the config's `custom_validator`, whose first failing
        // rule is the error of the whole `config` (`kong/plugins/request-termination/schema.lua`).
        if !errors.is_empty() {
            return Err(errors);
        }
        if self.message.is_some() && (self.content_type.is_some() || self.body.is_some()) {
            return Err(SchemaViolation::record(MESSAGE_WITH_BODY));
        }
        if self.content_type.is_some() && self.body.is_none() {
            return Err(SchemaViolation::record(CONTENT_TYPE_WITHOUT_BODY));
        }
        if self.echo && (self.content_type.is_some() || self.body.is_some()) {
            return Err(SchemaViolation::record(ECHO_WITH_BODY));
        }
        errors.into_result()
    }
}
