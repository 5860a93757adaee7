//! What the model needs to know about plugins, handed in by whoever writes entities (the Admin API
//! and the declarative loader): which plugin names exist, how a plugin's config is checked, and
//! which entities plugins own (Kong's `kong/plugins/<name>/daos.lua`). The model itself names no
//! plugin; the gateway's plugin list implements [`PluginCatalogue`].

use std::any::Any;
use std::sync::Arc;

use serde_json::Value;

use crate::schema::{SchemaViolation, Source};

/// The set of plugins a node runs, as the entity store sees it.
pub trait PluginCatalogue: Send + Sync {
    /// True when a plugin of this name is enabled on this node.
    fn knows(&self, name: &str) -> bool;

    /// True when Kong's schema of the plugin has `consumer = typedefs.no_consumer`.
    fn no_consumer(&self, name: &str) -> bool;

    /// Parses and checks a plugin's config once (field paths under `config`), returning the JSON
    /// the Admin API shows (defaults filled) and the compiled form the snapshot reuses.
    fn check(
        &self,
        name: &str,
        config: Value,
        source: Source,
    ) -> Result<CheckedConfig, SchemaViolation>;

    /// Every entity the plugins declare, in the order `kong.yml` loads them.
    fn entities(&self) -> &[&'static PluginEntity];

    /// The plugin-owned entity stored in `table` (also its `kong.yml` key).
    fn entity(&self, table: &str) -> Option<&'static PluginEntity> {
        self.entities().iter().copied().find(|e| e.table == table)
    }
}

/// A plugin config checked by its schema.
#[derive(Debug, Clone)]
pub struct CheckedConfig {
    /// The config as stored and shown, with every default filled.
    pub config: Value,
    /// What the plugin built from the typed config; opaque to the model.
    pub compiled: Compiled,
}

/// A compiled plugin config (the gateway stores its plugin instance here), kept with the plugin
/// entity so a snapshot build reuses it instead of parsing the config again.
#[derive(Clone)]
pub struct Compiled(Arc<dyn Any + Send + Sync>);

impl Compiled {
    /// Wraps a compiled form.
    pub fn new<T: Any + Send + Sync>(value: Arc<T>) -> Self {
        Self(value)
    }

    /// The compiled form, when it is a `T`.
    pub fn get<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        Arc::clone(&self.0).downcast::<T>().ok()
    }
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Compiled(..)")
    }
}

/// A compiled form is derived from the entity's `config`, so it never decides equality.
impl PartialEq for Compiled {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

/// An entity a plugin owns, as its `daos.lua` declares it: a consumer's credential with a
/// foreign `consumer` (required, cascade on delete), Kong's `id` and `created_at`, unique fields
/// and an endpoint key. The core stores, checks, loads, exports and serves it generically.
#[derive(Debug)]
pub struct PluginEntity {
    /// Table name, also the `kong.yml` key and the key under a consumer: `keyauth_credentials`.
    pub table: &'static str,
    /// Admin API collection: `key-auths` (`/key-auths/{id or endpoint key}`).
    pub admin_path: &'static str,
    /// Admin API collection under a consumer: `key-auth` (`/consumers/{c}/key-auth`).
    pub consumer_path: &'static str,
    /// The field an Admin API path may name the entity by instead of its id (`endpoint_key`).
    pub endpoint_key: &'static str,
    /// Fields unique across the table besides `id`.
    pub unique: &'static [&'static str],
    /// The field the snapshot indexes the entity by for the plugin's lookup (`cache_key`).
    pub lookup_key: &'static str,
    /// True when the DAO has `ttl = true`: a positive `ttl` field expires the row that many
    /// seconds after `created_at`.
    pub ttl: bool,
    /// The schema check: parses a whole entity body (with `id`, `consumer`, `created_at`) and
    /// returns its JSON with defaults filled, in Kong's field order and words.
    pub parse: fn(Value, Source) -> Result<Value, SchemaViolation>,
    /// A field rewritten by every write that gives it (the DAO's `transformations` entry with
    /// `on_write`, e.g. basic-auth's password hash); a write without it keeps the stored value.
    pub on_write: Option<OnWrite>,
}

/// Kong's `on_write` transformation of one string field, which `needs` the credential's
/// `consumer.id`.
#[derive(Debug)]
pub struct OnWrite {
    /// The field rewritten (`password`).
    pub field: &'static str,
    /// The stored value from the given one and the consumer's id.
    pub transform: fn(&str, &str) -> String,
}
