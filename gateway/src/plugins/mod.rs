//! The plugins, and the one list of them ([`plugin_list!`]). A plugin is a folder that mirrors
//! Kong's `kong/plugins/<name>/`: `mod.rs` (NAME, PRIORITY, `impl Plugin`), `schema.rs`, one file
//! per phase, `tests.rs`.
//!
//! Adding a plugin: write its folder and add one line to the list at the bottom of this file.
//! The list becomes the [`Catalogue`] the Admin API and the declarative loader check plugin
//! entities against: each config is parsed, checked and built once, when it is written.

pub mod basic_auth;
pub mod key_auth;
pub mod openid_connect;
pub mod request_termination;
pub mod session;

use std::future::Future;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::model::{CheckedConfig, Compiled, PluginCatalogue, PluginEntity};
use crate::pdk::{Ctx, Flow};
use crate::schema::{SchemaViolation, Source};

/// What a plugin instance may need besides its config.
#[derive(Clone, Debug)]
pub struct Deps {
    /// Server-side session storage shared by every `storage: kong` session config.
    pub session_storage: Arc<crate::resty_session::storage::Storage>,
    /// Derived session keys of every session config (`session`, `openid-connect`), keyed by key
    /// material and session id, so that a config rebuilt with the same secret keeps them. Bounded.
    pub session_keys: Arc<crate::resty_session::KeyCache>,
    /// The HTTP client and per-issuer discovery/JWKS caches of `openid-connect`, kept across
    /// config changes.
    pub openid_connect: Arc<openid_connect::Registry>,
    /// openid-connect's Redis session stores, one per connection setting, kept across config changes.
    pub redis_sessions: Arc<crate::store::redis::Registry>,
}

impl Deps {
    /// One gateway node's dependencies: in-memory session storage and a fresh OpenID Connect registry.
    pub fn in_memory() -> Self {
        Self::with_session_storage(crate::resty_session::storage::Storage::Memory(
            crate::resty_session::MemoryStore::new(),
        ))
    }

    /// One gateway node's dependencies with `storage: kong` sessions in `storage`.
    pub fn with_session_storage(storage: crate::resty_session::storage::Storage) -> Self {
        Self {
            session_storage: Arc::new(storage),
            session_keys: Arc::new(crate::resty_session::KeyCache::new()),
            openid_connect: Arc::new(openid_connect::Registry::new()),
            redis_sessions: Arc::new(crate::store::redis::Registry::new()),
        }
    }
}

/// A plugin's typed config: Kong's defaults in `Default`/serde defaults, cross-field rules here.
pub trait Schema: DeserializeOwned + Serialize + Send + Sync + 'static {
    /// Cross-field checks with Kong's messages; field paths are relative to `config`.
    fn validate(&self) -> Result<(), SchemaViolation> {
        Ok(())
    }
}

/// One configured plugin, built once per config change. Phases are methods with no-op defaults.
pub trait Plugin: Sized + Send + Sync + 'static {
    /// Kong's wire name, e.g. `"key-auth"`.
    const NAME: &'static str;
    /// Kong's priority: higher runs first.
    const PRIORITY: i32;
    /// True when Kong's schema has `consumer = typedefs.no_consumer`.
    const NO_CONSUMER: bool;
    /// The entities the plugin owns (its `daos.lua`), handled by the core.
    const ENTITIES: &'static [&'static PluginEntity] = &[];
    /// The typed config.
    type Config: Schema;

    /// Builds the instance from a checked config.
    fn new(config: Self::Config, deps: &Deps) -> Self;

    /// The access phase: may authenticate, change the upstream request, or end the request.
    fn access(&self, _ctx: &mut Ctx) -> impl Future<Output = Flow> + Send {
        async { Flow::Continue }
    }

    /// The header_filter phase: runs on every response of a request this plugin applied to,
    /// also when a plugin ended the request early.
    fn header_filter(
        &self,
        _ctx: &mut Ctx,
        _response: &mut http::response::Parts,
    ) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// Parses and checks a config once: the typed config, and its JSON with every default filled.
fn check<P: Plugin>(value: Value, source: Source) -> Result<(Value, P::Config), SchemaViolation> {
    let value = if value.is_null() {
        Value::Object(serde_json::Map::new())
    } else {
        value
    };
    if !value.is_object() {
        return Err(SchemaViolation::field("config", "expected a record"));
    }
    let config: P::Config =
        crate::schema::parse(value, source).map_err(|e| e.prefixed("config"))?;
    config.validate().map_err(|e| e.prefixed("config"))?;
    let stored = serde_json::to_value(&config)
        .map_err(|e| SchemaViolation::field("config", e.to_string()))?;
    Ok((stored, config))
}

fn not_enabled(name: &str) -> SchemaViolation {
    SchemaViolation::field(
        "name",
        format!("plugin '{name}' not enabled; add it to the 'plugins' configuration property"),
    )
}

macro_rules! plugin_list {
    ($($variant:ident => $ty:ty),* $(,)?) => {
        /// A configured plugin of any kind.
        pub enum Instance {
            $($variant($ty),)*
        }

        impl Instance {
            /// Checks a config once and builds the instance from the typed result.
            fn check(name: &str, config: Value, source: Source, deps: &Deps) -> Result<CheckedConfig, SchemaViolation> {
                match name {
                    $(<$ty as Plugin>::NAME => {
                        let (stored, config) = check::<$ty>(config, source)?;
                        let instance = Self::$variant(<$ty as Plugin>::new(config, deps));
                        Ok(CheckedConfig { config: stored, compiled: Compiled::new(Arc::new(instance)) })
                    })*
                    _ => Err(not_enabled(name)),
                }
            }

            /// Kong's wire name.
            pub fn name(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => <$ty as Plugin>::NAME,)*
                }
            }

            /// Runs the access phase.
            pub async fn access(&self, ctx: &mut Ctx) -> Flow {
                match self {
                    $(Self::$variant(p) => p.access(ctx).await,)*
                }
            }

            /// Runs the header_filter phase.
            pub async fn header_filter(&self, ctx: &mut Ctx, response: &mut http::response::Parts) {
                match self {
                    $(Self::$variant(p) => p.header_filter(ctx, response).await,)*
                }
            }
        }

        /// Every entity the plugins own, in list order.
        fn entities() -> Vec<&'static PluginEntity> {
            let mut all = Vec::new();
            $(all.extend_from_slice(<$ty as Plugin>::ENTITIES);)*
            all
        }

        /// Every plugin name this gateway knows, with its priority, highest first.
        pub fn available() -> Vec<(&'static str, i32)> {
            let mut all = vec![$((<$ty as Plugin>::NAME, <$ty as Plugin>::PRIORITY),)*];
            all.sort_by(|a, b| b.1.cmp(&a.1));
            all
        }

        /// True when a plugin of this name exists.
        pub fn is_known(name: &str) -> bool {
            matches!(name, $(<$ty as Plugin>::NAME)|*)
        }

        /// The plugin's priority.
        pub fn priority(name: &str) -> Option<i32> {
            match name {
                $(<$ty as Plugin>::NAME => Some(<$ty as Plugin>::PRIORITY),)*
                _ => None,
            }
        }

        /// True when the plugin cannot be scoped to a consumer.
        pub fn is_no_consumer(name: &str) -> bool {
            match name {
                $(<$ty as Plugin>::NAME => <$ty as Plugin>::NO_CONSUMER,)*
                _ => false,
            }
        }

        /// Checks a config against the plugin's schema and fills its defaults.
        pub fn normalize_config(name: &str, config: Value, source: Source) -> Result<Value, SchemaViolation> {
            match name {
                $(<$ty as Plugin>::NAME => check::<$ty>(config, source).map(|(stored, _)| stored),)*
                _ => Err(not_enabled(name)),
            }
        }
    };
}

// The one list of plugins.
plugin_list! {
    Session => session::SessionPlugin,
    KeyAuth => key_auth::KeyAuth,
    BasicAuth => basic_auth::BasicAuth,
    OpenIdConnect => openid_connect::OpenIdConnect,
    RequestTermination => request_termination::RequestTermination,
}

/// The plugin list as the entity store sees it, with the dependencies instances are built with.
/// Handed to the Admin API (through [`crate::state::Shared`]) and to the declarative loader.
#[derive(Debug, Clone)]
pub struct Catalogue {
    deps: Deps,
    entities: Vec<&'static PluginEntity>,
}

impl Catalogue {
    /// Every plugin of the list, building instances with `deps`.
    pub fn new(deps: Deps) -> Self {
        Self {
            deps,
            entities: entities(),
        }
    }

    /// What instances are built with.
    pub fn deps(&self) -> &Deps {
        &self.deps
    }

    /// Every plugin name with its priority, highest first.
    pub fn available(&self) -> Vec<(&'static str, i32)> {
        available()
    }
}

impl PluginCatalogue for Catalogue {
    fn knows(&self, name: &str) -> bool {
        is_known(name)
    }

    fn no_consumer(&self, name: &str) -> bool {
        is_no_consumer(name)
    }

    fn check(
        &self,
        name: &str,
        config: Value,
        source: Source,
    ) -> Result<CheckedConfig, SchemaViolation> {
        Instance::check(name, config, source, &self.deps)
    }

    fn entities(&self) -> &[&'static PluginEntity] {
        &self.entities
    }
}
