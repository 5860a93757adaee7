//! The running configuration, compiled from [`Db`] whenever it changes and swapped in atomically:
//! the router, each route's plugin chain in priority order, and hash maps for consumers and for
//! plugin-owned credentials (by their descriptor's lookup field). Plugin instances are the ones
//! built when each plugin entity was written, shared, not rebuilt. The request path reads a
//! snapshot and never takes a lock.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use crate::model::{Consumer, CredentialTable, Db, PluginCatalogue, PluginEntity, Route, Service};
use crate::plugins::{self, Catalogue, Instance};
use crate::router::Router;
use crate::schema::{SchemaViolation, Source};

/// A plugin-owned credential as the proxy needs it.
#[derive(Debug, Clone)]
pub struct CredentialEntry {
    pub id: String,
    pub consumer_id: String,
    /// Unix seconds after which the credential is unknown (`ttl`).
    pub expires_at: Option<u64>,
    /// The whole entity, for plugins that check more than the lookup field.
    pub entity: Value,
}

/// One plugin-owned table indexed by its descriptor's `lookup_key`.
fn index(table: &CredentialTable) -> HashMap<String, CredentialEntry> {
    let schema = table.schema;
    table
        .rows
        .values()
        .filter_map(|c| {
            let expires_at = schema
                .ttl
                .then(|| c.value.get("ttl").and_then(Value::as_u64))
                .flatten()
                .filter(|t| *t > 0)
                .map(|t| c.created_at.saturating_add(t));
            Some((
                c.field(schema.lookup_key)?.to_owned(),
                CredentialEntry {
                    id: c.id.clone(),
                    consumer_id: c.consumer_id.clone(),
                    expires_at,
                    entity: c.value.clone(),
                },
            ))
        })
        .collect()
}

/// One plugin name on one route: the configs that may apply, resolved per request by Kong's
/// precedence (`kong/runloop/plugins_iterator.lua` `lookup_cfg`).
pub struct Link {
    pub name: &'static str,
    /// Route+Service config.
    route_service: Option<Arc<Instance>>,
    /// The first of Route, Service, Global.
    fallback: Option<Arc<Instance>>,
    /// Consumer-scoped configs of this name: consumer id → [(route, service, instance)].
    by_consumer: Option<Arc<HashMap<String, Vec<Scoped>>>>,
}

/// A consumer-scoped config with the route/service it is also tied to.
pub struct Scoped {
    route: Option<String>,
    service: Option<String>,
    instance: Arc<Instance>,
}

impl Link {
    /// The config for this request, given the consumer set by the plugins that ran before:
    /// Route+Service+Consumer → Route+Consumer → Service+Consumer → Route+Service → Consumer →
    /// Route → Service → Global.
    pub fn select(
        &self,
        consumer: Option<&str>,
        route: &str,
        service: Option<&str>,
    ) -> Option<&Arc<Instance>> {
        let scoped = match (consumer, &self.by_consumer) {
            (Some(c), Some(map)) => map.get(c),
            _ => None,
        };
        if let Some(list) = scoped {
            let find = |want_route: bool, want_service: bool| {
                list.iter().find(|s| {
                    s.route.as_deref().is_some() == want_route
                        && s.service.as_deref().is_some() == want_service
                        && (!want_route || s.route.as_deref() == Some(route))
                        && (!want_service || s.service.as_deref() == service)
                })
            };
            if let Some(s) = find(true, true)
                .or_else(|| find(true, false))
                .or_else(|| find(false, true))
            {
                return Some(&s.instance);
            }
            if let Some(i) = &self.route_service {
                return Some(i);
            }
            if let Some(s) = find(false, false) {
                return Some(&s.instance);
            }
            return self.fallback.as_ref();
        }
        self.route_service.as_ref().or(self.fallback.as_ref())
    }
}

/// A route ready to serve: its service and plugin chain.
pub struct CompiledRoute {
    pub route: Arc<Route>,
    pub id: Arc<str>,
    pub service: Option<Arc<Service>>,
    pub service_id: Option<Arc<str>>,
    pub chain: Vec<Link>,
}

/// The immutable running configuration.
pub struct Snapshot {
    pub router: Router,
    pub routes: Vec<CompiledRoute>,
    consumers: HashMap<String, Arc<Consumer>>,
    consumers_by_username: HashMap<String, Arc<Consumer>>,
    consumers_by_custom_id: HashMap<String, Arc<Consumer>>,
    /// Plugin-owned tables by name, each indexed by its lookup field.
    credentials: HashMap<&'static str, HashMap<String, CredentialEntry>>,
}

impl Snapshot {
    /// Compiles `db`, reusing each plugin entity's instance; a plugin entity without one (not
    /// written through the catalogue) is checked and built here, and fails the build if it
    /// does not check.
    pub fn compile(db: &Db, catalogue: &Catalogue) -> Result<Self, SchemaViolation> {
        let consumers: HashMap<String, Arc<Consumer>> = db
            .consumers
            .values()
            .map(|c| (c.id.clone(), Arc::new(c.clone())))
            .collect();
        let consumers_by_username = consumers
            .values()
            .filter_map(|c| c.username.clone().map(|u| (u, Arc::clone(c))))
            .collect();
        let consumers_by_custom_id = consumers
            .values()
            .filter_map(|c| c.custom_id.clone().map(|u| (u, Arc::clone(c))))
            .collect();
        let credentials = db
            .credentials
            .iter()
            .map(|(table, rows)| (*table, index(rows)))
            .collect();

        // Every enabled plugin, as built when it was written.
        struct Built {
            route: Option<String>,
            service: Option<String>,
            consumer: Option<String>,
            instance: Arc<Instance>,
        }
        let mut by_name: HashMap<&'static str, Vec<Built>> = HashMap::new();
        for p in db.plugins.values().filter(|p| p.enabled) {
            let compiled = match &p.compiled {
                Some(compiled) => compiled.clone(),
                None => {
                    catalogue
                        .check(&p.name, p.config.clone(), Source::Json)
                        .map_err(|mut e| {
                            e.push(
                                "@entity",
                                format!("plugin {} ({}) failed to build", p.id, p.name),
                            );
                            e
                        })?
                        .compiled
                }
            };
            let Some(instance) = compiled.get::<Instance>() else {
                return Err(SchemaViolation::entity(format!(
                    "plugin {} ({}) was not built by this gateway's plugins",
                    p.id, p.name
                )));
            };
            by_name.entry(instance.name()).or_default().push(Built {
                route: p.route.as_ref().map(|fk| fk.id.clone()),
                service: p.service.as_ref().map(|fk| fk.id.clone()),
                consumer: p.consumer.as_ref().map(|fk| fk.id.clone()),
                instance,
            });
        }
        let mut names: Vec<&'static str> = by_name.keys().copied().collect();
        names.sort_by_key(|n| std::cmp::Reverse(plugins::priority(n).unwrap_or(0)));
        let consumer_maps: HashMap<&'static str, Arc<HashMap<String, Vec<Scoped>>>> = by_name
            .iter()
            .filter(|(_, list)| list.iter().any(|b| b.consumer.is_some()))
            .map(|(name, list)| {
                let mut map: HashMap<String, Vec<Scoped>> = HashMap::new();
                for b in list.iter().filter(|b| b.consumer.is_some()) {
                    map.entry(b.consumer.clone().unwrap_or_default())
                        .or_default()
                        .push(Scoped {
                            route: b.route.clone(),
                            service: b.service.clone(),
                            instance: Arc::clone(&b.instance),
                        });
                }
                (*name, Arc::new(map))
            })
            .collect();

        let mut routes = Vec::new();
        for route in db.routes.values() {
            let service = route
                .service
                .as_ref()
                .and_then(|fk| db.services.get(&fk.id));
            let rid = Some(route.id.as_str());
            let sid = service.map(|s| s.id.as_str());
            let mut chain = Vec::new();
            for name in &names {
                let list = &by_name[name];
                let pick = |r: Option<&str>, s: Option<&str>| {
                    list.iter()
                        .find(|b| {
                            b.consumer.is_none()
                                && b.route.as_deref() == r
                                && b.service.as_deref() == s
                        })
                        .map(|b| Arc::clone(&b.instance))
                };
                let route_service = if sid.is_some() { pick(rid, sid) } else { None };
                let fallback = pick(rid, None)
                    .or_else(|| sid.and_then(|s| pick(None, Some(s))))
                    .or_else(|| pick(None, None));
                let by_consumer = consumer_maps.get(name).cloned();
                if route_service.is_none() && fallback.is_none() && by_consumer.is_none() {
                    continue;
                }
                chain.push(Link {
                    name,
                    route_service,
                    fallback,
                    by_consumer,
                });
            }
            routes.push(CompiledRoute {
                route: Arc::new(route.clone()),
                id: Arc::from(route.id.as_str()),
                service: service.map(|s| Arc::new(s.clone())),
                service_id: service.map(|s| Arc::from(s.id.as_str())),
                chain,
            });
        }
        let router = Router::new(routes.iter().map(|r| r.route.as_ref()));
        Ok(Self {
            router,
            routes,
            consumers,
            consumers_by_username,
            consumers_by_custom_id,
            credentials,
        })
    }

    /// `kong.client.load_consumer(id)`.
    pub fn consumer(&self, id: &str) -> Option<Arc<Consumer>> {
        self.consumers.get(id).cloned()
    }

    /// Loads a consumer by id, then by username (key-auth `anonymous`).
    pub fn consumer_by_id_or_username(&self, key: &str) -> Option<Arc<Consumer>> {
        self.consumers
            .get(key)
            .or_else(|| self.consumers_by_username.get(key))
            .cloned()
    }

    /// A consumer by username (openid-connect `consumer_by: username`).
    pub fn consumer_by_username(&self, username: &str) -> Option<Arc<Consumer>> {
        self.consumers_by_username.get(username).cloned()
    }

    /// A consumer by custom_id (openid-connect `consumer_by: custom_id`).
    pub fn consumer_by_custom_id(&self, custom_id: &str) -> Option<Arc<Consumer>> {
        self.consumers_by_custom_id.get(custom_id).cloned()
    }

    /// A plugin-owned credential by its lookup field (key-auth: the key), unless its `ttl` ran out.
    pub fn credential(
        &self,
        schema: &PluginEntity,
        lookup: &str,
        now: u64,
    ) -> Option<&CredentialEntry> {
        self.credentials
            .get(schema.table)?
            .get(lookup)
            .filter(|c| c.expires_at.is_none_or(|t| now < t))
    }
}
