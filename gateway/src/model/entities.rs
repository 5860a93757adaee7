//! The entity structs. Field order and defaults follow Kong 3.10's schemas so the JSON matches.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::catalogue::{Compiled, PluginCatalogue};
use super::checks::{
    EXPECTED_INTEGER, NotAnInteger, check_between, check_sizes, check_tags, check_utf8_name,
    integer_of,
};
use crate::schema::{SchemaViolation, Source, parse};

/// A reference to another entity: `{"id": "..."}` on the wire. On input Kong also accepts
/// `{"name": "..."}` / `{"username": "..."}` and, in `kong.yml`, a bare name or id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ForeignKey {
    /// The referenced entity's id, once resolved.
    pub id: String,
    /// Name, username or id given on input and not resolved yet.
    #[serde(skip)]
    pub lookup: Option<String>,
}

impl ForeignKey {
    /// A resolved reference.
    pub fn id(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            lookup: None,
        }
    }
}

impl<'de> Deserialize<'de> for ForeignKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Wire {
            Name(String),
            Record {
                #[serde(default)]
                id: Option<String>,
                #[serde(default)]
                name: Option<String>,
                #[serde(default)]
                username: Option<String>,
            },
        }
        match Wire::deserialize(d).map_err(|_| serde::de::Error::custom("expected a record"))? {
            Wire::Name(n) => Ok(Self {
                id: String::new(),
                lookup: Some(n),
            }),
            Wire::Record { id: Some(id), .. } => Ok(Self { id, lookup: None }),
            Wire::Record { name, username, .. } => match name.or(username) {
                Some(n) => Ok(Self {
                    id: String::new(),
                    lookup: Some(n),
                }),
                None => Err(serde::de::Error::custom("missing primary key")),
            },
        }
    }
}

fn default_true() -> bool {
    true
}

/// `kong/db/schema/entities/services.lua`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "Service::default_protocol")]
    pub protocol: String,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default = "Service::default_retries")]
    pub retries: u32,
    #[serde(default = "Service::default_timeout")]
    pub connect_timeout: u64,
    #[serde(default = "Service::default_timeout")]
    pub write_timeout: u64,
    #[serde(default = "Service::default_timeout")]
    pub read_timeout: u64,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub client_certificate: Option<Value>,
    #[serde(default)]
    pub tls_verify: Option<bool>,
    #[serde(default)]
    pub tls_verify_depth: Option<u32>,
    #[serde(default)]
    pub ca_certificates: Option<Vec<String>>,
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default)]
    pub created_at: u64,
    #[serde(default)]
    pub updated_at: u64,
}

impl Service {
    fn default_protocol() -> String {
        "http".to_owned()
    }
    fn default_retries() -> u32 {
        5
    }
    fn default_timeout() -> u64 {
        60_000
    }

    /// Parses a service, expanding the `url` shorthand into protocol, host, port and path.
    /// Integers are range-checked on the raw body first (`services.lua`: `port` 0–65535,
    /// `retries` 0–32767, timeouts 1–2^31-2, `tls_verify_depth` 0–64), so an explicit `port`
    /// next to `url` is checked too.
    pub fn from_value(mut value: Value, source: Source) -> Result<Self, SchemaViolation> {
        let mut errors = SchemaViolation::default();
        check_sizes(&value, &mut errors);
        check_utf8_name(&value, "name", &mut errors);
        check_tags(&value, &mut errors);
        check_between(&value, "port", (0, 65_535), source, &mut errors);
        check_between(&value, "retries", (0, 32_767), source, &mut errors);
        for field in ["connect_timeout", "write_timeout", "read_timeout"] {
            check_between(&value, field, (1, 2_147_483_646), source, &mut errors);
        }
        check_between(&value, "tls_verify_depth", (0, 64), source, &mut errors);
        errors.into_result()?;
        expand_url(&mut value)?;
        let mut svc: Self = parse(value, source)?;
        let mut errors = SchemaViolation::default();
        if !matches!(svc.protocol.as_str(), "http" | "https") {
            errors.push("protocol", "expected one of: http, https");
        }
        match svc.host.as_deref() {
            None | Some("") => errors.push("host", crate::schema::REQUIRED_FIELD_MISSING),
            Some(_) => {}
        }
        if let Some(path) = &svc.path
            && !path.starts_with('/')
        {
            errors.push("path", "should start with: /");
        }
        if svc.port.is_none() {
            svc.port = Some(if svc.protocol == "https" { 443 } else { 80 });
        }
        if svc.port == Some(0) {
            errors.push("port", "value should be between 0 and 65535");
        }
        errors.into_result().map(|()| svc)
    }
}

/// Replaces `url` in a service body with its parts, as Kong's `services.lua` shorthand does.
fn expand_url(value: &mut Value) -> Result<(), SchemaViolation> {
    let Some(obj) = value.as_object_mut() else {
        return Err(SchemaViolation::entity("expected a record"));
    };
    let Some(url) = obj.remove("url") else {
        return Ok(());
    };
    let Some(url) = url.as_str() else {
        return Err(SchemaViolation::field("url", "expected a string"));
    };
    let parsed =
        url::Url::parse(url).map_err(|_| SchemaViolation::field("url", "missing host in url"))?;
    let Some(host) = parsed.host_str() else {
        return Err(SchemaViolation::field("url", "missing host in url"));
    };
    obj.insert("protocol".into(), Value::String(parsed.scheme().to_owned()));
    obj.insert(
        "host".into(),
        Value::String(host.trim_matches(['[', ']']).to_owned()),
    );
    obj.insert(
        "port".into(),
        parsed
            .port_or_known_default()
            .map_or(Value::Null, Value::from),
    );
    let path = parsed.path();
    obj.insert(
        "path".into(),
        if path.is_empty() || path == "/" && !url.ends_with('/') {
            Value::Null
        } else {
            path.into()
        },
    );
    Ok(())
}

/// `kong/db/schema/entities/routes.lua` (traditional router fields).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "Route::default_protocols")]
    pub protocols: Vec<String>,
    #[serde(default)]
    pub methods: Option<Vec<String>>,
    #[serde(default)]
    pub hosts: Option<Vec<String>>,
    #[serde(default)]
    pub paths: Option<Vec<String>>,
    #[serde(default)]
    pub headers: Option<Value>,
    #[serde(default = "Route::default_redirect")]
    pub https_redirect_status_code: u16,
    #[serde(default)]
    pub regex_priority: i64,
    #[serde(default = "default_true")]
    pub strip_path: bool,
    #[serde(default = "Route::default_path_handling")]
    pub path_handling: String,
    #[serde(default)]
    pub preserve_host: bool,
    #[serde(default = "default_true")]
    pub request_buffering: bool,
    #[serde(default = "default_true")]
    pub response_buffering: bool,
    #[serde(default)]
    pub snis: Option<Vec<String>>,
    #[serde(default)]
    pub sources: Option<Value>,
    #[serde(default)]
    pub destinations: Option<Value>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub service: Option<ForeignKey>,
    #[serde(default)]
    pub created_at: u64,
    #[serde(default)]
    pub updated_at: u64,
}

impl Route {
    fn default_protocols() -> Vec<String> {
        vec!["http".to_owned(), "https".to_owned()]
    }
    fn default_redirect() -> u16 {
        426
    }
    fn default_path_handling() -> String {
        "v0".to_owned()
    }

    /// Parses and checks a route (`routes.lua`: `name` is a `utf8_name`,
    /// `https_redirect_status_code` one of 426, 301, 302, 307, 308).
    pub fn from_value(value: Value, source: Source) -> Result<Self, SchemaViolation> {
        let mut errors = SchemaViolation::default();
        check_sizes(&value, &mut errors);
        check_utf8_name(&value, "name", &mut errors);
        check_tags(&value, &mut errors);
        match integer_of(&value, "https_redirect_status_code", source) {
            Ok(None) => {}
            Ok(Some(code)) if [426.0, 301.0, 302.0, 307.0, 308.0].contains(&code) => {}
            Ok(Some(_)) => errors.push(
                "https_redirect_status_code",
                "expected one of: 426, 301, 302, 307, 308",
            ),
            Err(NotAnInteger) => errors.push("https_redirect_status_code", EXPECTED_INTEGER),
        }
        errors.into_result()?;
        let mut route: Self = parse(value, source)?;
        let mut errors = SchemaViolation::default();
        for p in &route.protocols {
            if !matches!(p.as_str(), "http" | "https") {
                errors.push("protocols", "expected one of: http, https");
            }
        }
        if let Some(methods) = &mut route.methods {
            for m in methods.iter_mut() {
                if m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphabetic()) {
                    errors.push("methods", "invalid value: ".to_owned() + m);
                }
                *m = m.to_ascii_uppercase();
            }
        }
        if let Some(paths) = &route.paths {
            for p in paths {
                if let Some(pattern) = p.strip_prefix('~') {
                    // Kong dry-runs the regex (`typedefs.lua` `validate_path_with_regexes`);
                    // the engine here is the Rust one Kong 3.x's router compiles paths with.
                    if let Err(err) = crate::router::compile_regex_path(pattern) {
                        let reason = err.to_string();
                        let reason = reason.lines().last().unwrap_or_default().trim();
                        errors.push(
                            "paths",
                            format!("invalid regex: '{pattern}' (PCRE returned: {reason})"),
                        );
                    }
                } else if !p.starts_with('/') {
                    errors.push(
                        "paths",
                        "should start with: / (fixed path) or ~/ (regex path)",
                    );
                }
            }
        }
        let empty = |v: &Option<Vec<String>>| v.as_ref().is_none_or(Vec::is_empty);
        if empty(&route.methods)
            && empty(&route.hosts)
            && empty(&route.paths)
            && route.headers.is_none()
        {
            let proto = route.protocols.join("', '");
            errors.push(
                "@entity",
                format!("must set one of 'methods', 'hosts', 'headers', 'paths' when 'protocols' is '{proto}'"),
            );
        }
        errors.into_result().map(|()| route)
    }
}

/// `kong/db/schema/entities/consumers.lua`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consumer {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub custom_id: Option<String>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub created_at: u64,
    #[serde(default)]
    pub updated_at: u64,
}

impl Consumer {
    /// Parses and checks a consumer: one of `username` / `custom_id` is required.
    pub fn from_value(value: Value, source: Source) -> Result<Self, SchemaViolation> {
        let mut errors = SchemaViolation::default();
        check_sizes(&value, &mut errors);
        check_tags(&value, &mut errors);
        errors.into_result()?;
        let consumer: Self = parse(value, source)?;
        let set = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());
        if !set(&consumer.username) && !set(&consumer.custom_id) {
            return Err(SchemaViolation::entity(
                "at least one of these fields must be non-empty: 'custom_id', 'username'",
            ));
        }
        Ok(consumer)
    }
}

/// `kong/db/schema/entities/plugins.lua`. `config` is kept as the normalized JSON (defaults filled)
/// for the Admin API; `compiled` is what the plugin built from it when it was checked, reused by
/// every snapshot build until the entity changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plugin {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub instance_name: Option<String>,
    #[serde(default)]
    pub route: Option<ForeignKey>,
    #[serde(default)]
    pub service: Option<ForeignKey>,
    #[serde(default)]
    pub consumer: Option<ForeignKey>,
    #[serde(default)]
    pub config: Value,
    #[serde(default = "Plugin::default_protocols")]
    pub protocols: Vec<String>,
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub created_at: u64,
    #[serde(default)]
    pub updated_at: u64,
    /// Set by [`Plugin::from_value`]; never on the wire.
    #[serde(skip)]
    pub compiled: Option<Compiled>,
}

impl Plugin {
    fn default_protocols() -> Vec<String> {
        ["grpc", "grpcs", "http", "https"]
            .map(str::to_owned)
            .to_vec()
    }

    /// Parses a plugin and checks its config once, against the node's plugin catalogue.
    pub fn from_value(
        value: Value,
        source: Source,
        catalogue: &dyn PluginCatalogue,
    ) -> Result<Self, SchemaViolation> {
        let mut errors = SchemaViolation::default();
        check_sizes(&value, &mut errors);
        check_utf8_name(&value, "instance_name", &mut errors);
        check_tags(&value, &mut errors);
        errors.into_result()?;
        let mut plugin: Self = parse(value, source)?;
        if plugin.name.is_empty() {
            return Err(SchemaViolation::field(
                "name",
                crate::schema::REQUIRED_FIELD_MISSING,
            ));
        }
        if !catalogue.knows(&plugin.name) {
            return Err(SchemaViolation::field(
                "name",
                format!(
                    "plugin '{}' not enabled; add it to the 'plugins' configuration property",
                    plugin.name
                ),
            ));
        }
        if plugin.consumer.is_some() && catalogue.no_consumer(&plugin.name) {
            return Err(SchemaViolation::field("consumer", "value must be null"));
        }
        let config = std::mem::take(&mut plugin.config);
        let checked = catalogue.check(&plugin.name, config, source)?;
        plugin.config = checked.config;
        plugin.compiled = Some(checked.compiled);
        Ok(plugin)
    }
}
