//! Plugin entities (`kong/db/schema/entities/plugins.lua`): one per name and scope
//! (route, service, consumer), unique `instance_name`, config checked by the catalogue handed in.

use serde_json::{Value, json};

use super::{
    Db, DbError, Endpoint, check_new_id, check_unique, find, id_of, merge, resolve, set_field,
    set_key, stamp, to_value,
};
use crate::model::{ForeignKey, Plugin, PluginCatalogue};
use crate::schema::Source;

impl Db {
    /// `GET /plugins/{id or instance_name}`.
    pub fn plugin(&self, key: &str) -> Option<&Plugin> {
        find(&self.plugins, key)
    }

    /// `POST /plugins` or nested under a service, route or consumer (`scope`).
    pub fn insert_plugin(
        &mut self,
        mut value: Value,
        source: Source,
        now: u64,
        scope: Option<(Endpoint, &str)>,
        catalogue: &dyn PluginCatalogue,
    ) -> Result<Plugin, DbError> {
        self.apply_scope(&mut value, scope)?;
        let plugin = Plugin::from_value(value, source, catalogue)?;
        self.store_plugin(plugin, now, None)
    }

    /// The id of the service, route or consumer `key` names.
    fn scope_id(&self, scope: Endpoint, key: &str) -> Option<String> {
        match scope {
            Endpoint::Services => id_of(&self.services, key),
            Endpoint::Routes => id_of(&self.routes, key),
            Endpoint::Consumers => id_of(&self.consumers, key),
        }
    }

    fn apply_scope(
        &self,
        value: &mut Value,
        scope: Option<(Endpoint, &str)>,
    ) -> Result<(), DbError> {
        let Some((endpoint, key)) = scope else {
            return Ok(());
        };
        let id = self.scope_id(endpoint, key).ok_or(DbError::NotFound)?;
        set_field(value, scope_field(endpoint), json!({ "id": id }));
        Ok(())
    }

    fn store_plugin(
        &mut self,
        mut plugin: Plugin,
        now: u64,
        replacing: Option<&Plugin>,
    ) -> Result<Plugin, DbError> {
        stamp(
            &mut plugin.id,
            &mut plugin.created_at,
            now,
            replacing.map(|r| r.created_at),
        )?;
        plugin.updated_at = now;
        if let Some(fk) = &mut plugin.service {
            resolve(&self.services, "service", fk)?;
        }
        if let Some(fk) = &mut plugin.route {
            resolve(&self.routes, "route", fk)?;
        }
        if let Some(fk) = &mut plugin.consumer {
            resolve(&self.consumers, "consumer", fk)?;
        }
        let same_scope = |p: &Plugin| {
            p.id != plugin.id
                && p.name == plugin.name
                && p.route == plugin.route
                && p.service == plugin.service
                && p.consumer == plugin.consumer
        };
        if self.plugins.values().any(same_scope) {
            return Err(scope_clash(&plugin));
        }
        check_unique(
            &self.plugins,
            &plugin.id,
            "instance_name",
            plugin.instance_name.as_deref(),
            |p| p.instance_name.as_deref(),
        )?;
        check_new_id(&self.plugins, &plugin.id, replacing.is_some())?;
        self.plugins.insert(plugin.id.clone(), plugin.clone());
        Ok(plugin)
    }

    /// `PATCH /plugins/{id}`: config fields merge into the stored config.
    pub fn update_plugin(
        &mut self,
        key: &str,
        patch: Value,
        source: Source,
        now: u64,
        catalogue: &dyn PluginCatalogue,
    ) -> Result<Plugin, DbError> {
        let old = self.plugin(key).cloned().ok_or(DbError::NotFound)?;
        let mut value = to_value(&old);
        merge(&mut value, patch);
        let plugin = Plugin::from_value(value, source, catalogue)?;
        self.store_plugin(plugin, now, Some(&old))
    }

    /// `PUT /plugins/{id}`.
    pub fn upsert_plugin(
        &mut self,
        key: &str,
        mut value: Value,
        source: Source,
        now: u64,
        scope: Option<(Endpoint, &str)>,
        catalogue: &dyn PluginCatalogue,
    ) -> Result<Plugin, DbError> {
        let old = self.plugin(key).cloned();
        self.apply_scope(&mut value, scope)?;
        set_key(
            &mut value,
            key,
            "instance_name",
            old.as_ref().map(|p| p.id.as_str()),
        );
        let plugin = Plugin::from_value(value, source, catalogue)?;
        self.store_plugin(plugin, now, old.as_ref())
    }

    /// `DELETE /plugins/{id}`.
    pub fn delete_plugin(&mut self, key: &str) -> Result<(), DbError> {
        if let Some(id) = self.plugin(key).map(|p| p.id.clone()) {
            self.plugins.remove(&id);
        }
        Ok(())
    }

    /// Plugins filtered by scope, for the nested list endpoints.
    pub fn plugins_of(&self, scope: Endpoint, key: &str) -> Option<Vec<&Plugin>> {
        let id = self.scope_id(scope, key)?;
        Some(
            self.plugins
                .values()
                .filter(|p| scope_of(p, scope).is_some_and(|fk| fk.id == id))
                .collect(),
        )
    }
}

fn scope_field(scope: Endpoint) -> &'static str {
    match scope {
        Endpoint::Services => "service",
        Endpoint::Routes => "route",
        Endpoint::Consumers => "consumer",
    }
}

fn scope_of(plugin: &Plugin, scope: Endpoint) -> Option<&ForeignKey> {
    match scope {
        Endpoint::Services => plugin.service.as_ref(),
        Endpoint::Routes => plugin.route.as_ref(),
        Endpoint::Consumers => plugin.consumer.as_ref(),
    }
}

/// Kong's 409 for a second plugin of one name in one scope.
fn scope_clash(plugin: &Plugin) -> DbError {
    let show = |fk: &Option<ForeignKey>| {
        fk.as_ref()
            .map_or("null".to_owned(), |fk| format!("{{id=\"{}\"}}", fk.id))
    };
    let fk_json =
        |fk: &Option<ForeignKey>| fk.as_ref().map_or(Value::Null, |fk| json!({"id": fk.id}));
    DbError::Unique {
        message: format!(
            "UNIQUE violation detected on '{{consumer={},name=\"{}\",route={},service={}}}'",
            show(&plugin.consumer),
            plugin.name,
            show(&plugin.route),
            show(&plugin.service)
        ),
        fields: json!({
            "consumer": fk_json(&plugin.consumer), "name": plugin.name,
            "route": fk_json(&plugin.route), "service": fk_json(&plugin.service),
        }),
    }
}
