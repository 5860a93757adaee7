//! Kong's core entities as the Admin API and `kong.yml` show them: services, routes, consumers
//! and plugin configs (`kong/db/schema/entities/*.lua`), plus the entities plugins declare
//! (credentials), handled from a [`PluginEntity`] descriptor.
//!
//! Each core entity is one serde struct: deserializing fills Kong's defaults, serializing gives
//! Kong's JSON. [`Db`] holds them, checks references and uniqueness, and is the only place they
//! change. The model names no plugin: writers hand it a [`PluginCatalogue`].

mod catalogue;
pub mod checks;
mod db;
mod entities;

pub use catalogue::{CheckedConfig, Compiled, OnWrite, PluginCatalogue, PluginEntity};
pub use db::{Credential, CredentialTable, Db, DbError, Endpoint, Table};
pub use entities::{Consumer, ForeignKey, Plugin, Route, Service};

/// Kong's message for an `id` that is not a UUID.
pub const INVALID_UUID: &str = "expected a valid UUID";

/// True when `s` is a UUID in Kong's accepted textual form.
pub fn is_uuid(s: &str) -> bool {
    uuid::Uuid::try_parse(s).is_ok() && s.len() == 36
}

/// A fresh random UUID in lower-case hyphenated form.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests;
