//! Step definitions, one file per plugin (the same snake_case names as `features/<plugin>/` and
//! `gateway/src/plugins/<plugin>/`), plus `common` for plain HTTP and the documented set-up.
//!
//! Steps stay thin: they parse the Gherkin and call the [`GatewayWorld`](crate::world::GatewayWorld), which does
//! the work. Parameter types used in cucumber expressions live here.

use std::str::FromStr;

use cucumber::Parameter;
use serde_json::{Map, Value};

mod basic_auth;
mod common;
mod key_auth;
mod key_auth_wire;
mod openid_connect;
mod request_termination;
mod request_termination_wire;
mod session;

/// `{method}`: an HTTP method in upper case.
#[derive(Debug, Parameter)]
#[param(name = "method", regex = "GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS")]
pub struct HttpMethod(pub reqwest::Method);

impl FromStr for HttpMethod {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        reqwest::Method::from_str(s)
            .map(Self)
            .map_err(|e| format!("{s:?}: {e}"))
    }
}

/// `{body_kind}`: a request body's media type, as features name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Parameter)]
#[param(name = "body_kind", regex = "form|JSON")]
pub enum BodyKind {
    /// `application/x-www-form-urlencoded`.
    Form,
    /// `application/json`.
    Json,
}

impl BodyKind {
    /// The `Content-Type` of such a body.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Form => "application/x-www-form-urlencoded",
            Self::Json => "application/json",
        }
    }
}

impl FromStr for BodyKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "form" => Ok(Self::Form),
            "JSON" => Ok(Self::Json),
            other => Err(format!("unknown body kind {other:?}")),
        }
    }
}

/// `{key_place}`: where a request carries a key-auth key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Parameter)]
#[param(name = "key_place", regex = "header|query|form body|JSON body")]
pub enum KeyPlace {
    Header,
    Query,
    /// An `application/x-www-form-urlencoded` body.
    FormBody,
    /// An `application/json` body.
    JsonBody,
}

impl FromStr for KeyPlace {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "header" => Ok(Self::Header),
            "query" => Ok(Self::Query),
            "form body" => Ok(Self::FormBody),
            "JSON body" => Ok(Self::JsonBody),
            other => Err(format!("unknown key place {other:?}")),
        }
    }
}

/// `{storage}`: where the session plugin keeps session data (its `storage` field).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Parameter)]
#[param(name = "storage", regex = "kong|cookie")]
pub enum Storage {
    /// Server-side (`kong`): the cookie carries only the 110-character session header.
    Kong,
    /// In the cookie (`cookie`, Kong's default): the header followed by the encrypted data.
    Cookie,
}

impl Storage {
    /// The value of the plugin's `storage` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Kong => "kong",
            Self::Cookie => "cookie",
        }
    }
}

impl FromStr for Storage {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "kong" => Ok(Self::Kong),
            "cookie" => Ok(Self::Cookie),
            other => Err(format!("unknown session storage {other:?}")),
        }
    }
}

/// A two-column Gherkin table (`| field | value |`) as a JSON object. Values that parse as JSON keep their type
/// (`false`, `403`, `["apikey"]`); anything else is a string.
pub fn config_table(step: &cucumber::gherkin::Step) -> Result<Value, String> {
    let table = step
        .table
        .as_ref()
        .ok_or("the step needs a table of | field | value |")?;
    let mut config = Map::new();
    for row in &table.rows {
        let [field, value] = row.as_slice() else {
            return Err(format!("expected two cells per row, got {row:?}"));
        };
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.clone()));
        config.insert(field.clone(), value);
    }
    Ok(Value::Object(config))
}
