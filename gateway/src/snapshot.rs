//! The running configuration, built from [`Db`] after every write and swapped in atomically:
//! the router, each route's plugin chain in priority order, and maps for consumers and for
//! plugin-owned credentials (by their descriptor's lookup field). Plugin instances are the ones
//! built when each plugin entity was written, shared, not rebuilt. The request path reads a
//! snapshot and never takes a lock.
//!
//! A write costs what it changes, not the size of the store ([`Snapshot::update`]): the consumer
//! and credential maps are persistent and patched with the diff of the tables they come from
//! (which skips what the two versions share); the router and the plugin chains are rebuilt only
//! when routes, services or plugins changed, and reused otherwise.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use imbl::HashMap as PersistentMap;
use imbl::ordmap::DiffItem;
use serde_json::Value;

use crate::model::{
    Consumer, Credential, Db, PluginCatalogue, PluginEntity, Route, Service, Table,
};
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

impl CredentialEntry {
    /// The entry for a stored row of a table ruled by `schema`.
    fn new(schema: &PluginEntity, c: &Credential) -> Self {
        Self {
            id: c.id.clone(),
            consumer_id: c.consumer_id.clone(),
            expires_at: c.expires_at.filter(|_| schema.ttl),
            entity: c.value.clone(),
        }
    }
}

/// One plugin-owned table indexed by its descriptor's `lookup_key`.
type CredentialIndex = PersistentMap<String, Arc<CredentialEntry>>;

/// Patches `index` (built from the rows `old`) to index the rows `new`.
fn patch_credentials(
    index: &mut CredentialIndex,
    schema: &PluginEntity,
    old: &Table<Credential>,
    new: &Table<Credential>,
) {
    let key = |c: &Credential| c.field(schema.lookup_key).map(str::to_owned);
    let remove = |index: &mut CredentialIndex, c: &Credential| {
        if let Some(k) = key(c)
            && index.get(&k).is_some_and(|e| e.id == c.id)
        {
            index.remove(&k);
        }
    };
    for item in old.diff(new) {
        let added = match item {
            DiffItem::Add(_, c) => c,
            DiffItem::Update {
                old: (_, was),
                new: (_, c),
            } => {
                remove(index, was);
                c
            }
            DiffItem::Remove(_, was) => {
                remove(index, was);
                continue;
            }
        };
        if let Some(k) = key(added) {
            index.insert(k, Arc::new(CredentialEntry::new(schema, added)));
        }
    }
}

/// Consumers by id, username and custom_id.
#[derive(Clone, Default)]
struct ConsumerIndex {
    by_id: PersistentMap<String, Arc<Consumer>>,
    by_username: PersistentMap<String, Arc<Consumer>>,
    by_custom_id: PersistentMap<String, Arc<Consumer>>,
}

impl ConsumerIndex {
    /// Patches the index (built from the rows `old`) to index the rows `new`.
    fn patch(&mut self, old: &Table<Consumer>, new: &Table<Consumer>) {
        for item in old.diff(new) {
            let added = match item {
                DiffItem::Add(_, c) => c,
                DiffItem::Update {
                    old: (_, was),
                    new: (_, c),
                } => {
                    self.remove(was);
                    c
                }
                DiffItem::Remove(_, was) => {
                    self.remove(was);
                    continue;
                }
            };
            let c = Arc::new(added.clone());
            if let Some(u) = &c.username {
                self.by_username.insert(u.clone(), Arc::clone(&c));
            }
            if let Some(u) = &c.custom_id {
                self.by_custom_id.insert(u.clone(), Arc::clone(&c));
            }
            self.by_id.insert(c.id.clone(), c);
        }
    }

    /// Forgets `was`, leaving entries another consumer took over.
    fn remove(&mut self, was: &Consumer) {
        self.by_id.remove(&was.id);
        for (map, key) in [
            (&mut self.by_username, &was.username),
            (&mut self.by_custom_id, &was.custom_id),
        ] {
            if let Some(k) = key
                && map.get(k).is_some_and(|c| c.id == was.id)
            {
                map.remove(k);
            }
        }
    }
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
    /// Where the service's requests go (worked out here, not per request).
    pub target: Option<Arc<crate::proxy::Target>>,
    pub chain: Vec<Link>,
}

/// The immutable running configuration.
pub struct Snapshot {
    pub router: Arc<Router>,
    pub routes: Arc<Vec<Arc<CompiledRoute>>>,
    consumers: ConsumerIndex,
    /// Plugin-owned tables by name, each indexed by its lookup field.
    credentials: HashMap<&'static str, CredentialIndex>,
    /// The entities this snapshot was built from (a cheap copy: the tables are persistent);
    /// the next [`Snapshot::update`] diffs against them.
    source: Db,
}

impl Snapshot {
    /// Compiles `db` from scratch, reusing each plugin entity's instance; a plugin entity
    /// without one (not written through the catalogue) is checked and built here, and fails
    /// the build if it does not check.
    pub fn compile(db: &Db, catalogue: &Catalogue) -> Result<Self, SchemaViolation> {
        let empty = Self {
            router: Arc::default(),
            routes: Arc::default(),
            consumers: ConsumerIndex::default(),
            credentials: HashMap::new(),
            source: Db::default(),
        };
        empty.update(db, catalogue)
    }

    /// The snapshot of `db`, a later version of the entities this one was built from: the
    /// consumer and credential maps are patched with what changed, and the routes are reused
    /// unless routes, services or plugins changed (then they are compiled again, as
    /// [`Snapshot::compile`] does). Equal to `Snapshot::compile(db)`.
    pub fn update(&self, db: &Db, catalogue: &Catalogue) -> Result<Self, SchemaViolation> {
        let old = &self.source;
        // A compiled route depends on the route, its service and the plugins only.
        let same_rest = old.services.ptr_eq(&db.services) && old.plugins.ptr_eq(&db.plugins);
        let (router, routes) = if same_rest && old.routes.ptr_eq(&db.routes) {
            (Arc::clone(&self.router), Arc::clone(&self.routes))
        } else {
            let changed: HashSet<&str> = if same_rest {
                old.routes
                    .diff(&db.routes)
                    .map(|d| match d {
                        DiffItem::Add(id, _)
                        | DiffItem::Update { new: (id, _), .. }
                        | DiffItem::Remove(id, _) => id.as_str(),
                    })
                    .collect()
            } else {
                HashSet::new()
            };
            // `self.routes` and `db.routes` are both in id order: walk them together.
            let mut old_routes = self.routes.iter().peekable();
            let reuse = |r: &Route| {
                while old_routes.next_if(|c| *c.id < *r.id).is_some() {}
                let c = old_routes.next_if(|c| *c.id == *r.id)?;
                (same_rest && !changed.contains(r.id.as_str())).then(|| Arc::clone(c))
            };
            let routes = compile_routes(db, catalogue, reuse)?;
            let router = Router::new(routes.iter().map(|r| r.route.as_ref()));
            (Arc::new(router), Arc::new(routes))
        };
        let mut consumers = self.consumers.clone();
        consumers.patch(&old.consumers, &db.consumers);
        let empty = Table::new();
        let credentials = db
            .credentials
            .iter()
            .map(|(name, table)| {
                let mut index = self.credentials.get(name).cloned().unwrap_or_default();
                let before = old.credentials.get(name).map_or(&empty, |t| &t.rows);
                patch_credentials(&mut index, table.schema, before, &table.rows);
                (*name, index)
            })
            .collect();
        Ok(Self {
            router,
            routes,
            consumers,
            credentials,
            source: db.clone(),
        })
    }

    /// `kong.client.load_consumer(id)`.
    pub fn consumer(&self, id: &str) -> Option<Arc<Consumer>> {
        self.consumers.by_id.get(id).cloned()
    }

    /// Loads a consumer by id, then by username (key-auth `anonymous`).
    pub fn consumer_by_id_or_username(&self, key: &str) -> Option<Arc<Consumer>> {
        self.consumers
            .by_id
            .get(key)
            .or_else(|| self.consumers.by_username.get(key))
            .cloned()
    }

    /// A consumer by username (openid-connect `consumer_by: username`).
    pub fn consumer_by_username(&self, username: &str) -> Option<Arc<Consumer>> {
        self.consumers.by_username.get(username).cloned()
    }

    /// A consumer by custom_id (openid-connect `consumer_by: custom_id`).
    pub fn consumer_by_custom_id(&self, custom_id: &str) -> Option<Arc<Consumer>> {
        self.consumers.by_custom_id.get(custom_id).cloned()
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
            .map(Arc::as_ref)
            .filter(|c| c.expires_at.is_none_or(|t| now < t))
    }
}

/// Every route with its service and plugin chain, in id order; `reuse` gives the compiled form
/// of a route that did not change, if any.
fn compile_routes(
    db: &Db,
    catalogue: &Catalogue,
    mut reuse: impl FnMut(&Route) -> Option<Arc<CompiledRoute>>,
) -> Result<Vec<Arc<CompiledRoute>>, SchemaViolation> {
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
        if let Some(compiled) = reuse(route) {
            routes.push(compiled);
            continue;
        }
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
                        b.consumer.is_none() && b.route.as_deref() == r && b.service.as_deref() == s
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
        routes.push(Arc::new(CompiledRoute {
            route: Arc::new(route.clone()),
            id: Arc::from(route.id.as_str()),
            service: service.map(|s| Arc::new(s.clone())),
            service_id: service.map(|s| Arc::from(s.id.as_str())),
            target: service.map(|s| Arc::new(crate::proxy::Target::new(s))),
            chain,
        }));
    }
    Ok(routes)
}

#[cfg(test)]
mod tests;
