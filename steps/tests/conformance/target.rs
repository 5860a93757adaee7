//! The gateway under test and what it can run.
//!
//! * **Which gateway** ([`TargetOptions`], chosen once from the command line before any scenario runs): the
//!   reference gateway in-process (the default), or any gateway reachable by `--proxy-url` and `--admin-url`.
//!   The harness's own backends (echo upstream, embedded identity provider) listen on `--bind-host`; the
//!   gateway reaches them at `--upstream-host` (for example `host.docker.internal` for a Kong in Docker).
//! * **Preflight** ([`preflight`]): before any scenario, `GET /` of the Admin API. Unreachable, or an answer
//!   other than 200, stops the run with one line. Otherwise it gives the gateway's `version` and the plugins it
//!   lists in `plugins.available_on_server` ([`TargetInfo`]).
//! * **Applicability** ([`TargetInfo::not_applicable`]): a scenario needs every plugin its tags name
//!   ([`PLUGIN_TAGS`]) and, for a `@kong-X.Y+` tag, a gateway of version X.Y or later. A scenario the target
//!   cannot run is set apart and reported as not applicable, never as passed.
//! * **Provisioning** ([`Provisioning`], `--provisioning`): how scenarios get their entities. Through the Admin
//!   API's entity endpoints (`admin-api`, Kong with a database); as one declarative document per scenario sent
//!   with `POST /config` (`declarative`, Kong DB-less, whose Admin API is read-only; chosen automatically when
//!   the Admin API root reports `configuration.database` `"off"`; scenarios then run one at a time); or not at
//!   all (`external`: the entities were loaded outside, e.g. by decK, and only `@preprovisioned` scenarios run).

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Mutex, PoisonError};

use serde_json::Value;
use url::Url;

use crate::admin::{Admin, AdminError};

/// Tags that name a plugin the scenario provisions (Kong's wire names).
pub const PLUGIN_TAGS: [&str; 5] = [
    "key-auth",
    "basic-auth",
    "session",
    "request-termination",
    "openid-connect",
];

/// The tag of scenarios that run against entities provisioned outside the harness (`--provisioning external`):
/// the documented set-up of `fixtures/kong/deck/` and `fixtures/config/`, un-namespaced, and nothing more.
pub const PREPROVISIONED_TAG: &str = "preprovisioned";

/// The tag of scenarios that change an entity through the Admin API's entity endpoints and check its answer
/// (`PATCH /plugins/{id}`), which a read-only (DB-less) Admin API refuses.
pub const WRITABLE_ADMIN_API_TAG: &str = "writable-admin-api";

/// How the scenarios' entities get onto the gateway (`--provisioning`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Provisioning {
    /// Kong's entity endpoints (`POST /services`, `DELETE /plugins/{id}`...), scenarios concurrently, each in its
    /// own namespace.
    AdminApi,
    /// The scenario's entities as one declarative document, sent whole with `POST /config` after each change
    /// (Kong DB-less); scenarios run one at a time, since each `POST /config` replaces everything.
    Declarative,
    /// None: the entities were provisioned outside the harness (decK); only `@preprovisioned` scenarios run.
    External,
}

impl Provisioning {
    /// The option's value (`admin-api`).
    pub fn name(self) -> &'static str {
        match self {
            Self::AdminApi => "admin-api",
            Self::Declarative => "declarative",
            Self::External => "external",
        }
    }

    /// The mode for a target whose Admin API root says `info`, unless `--provisioning` chose one: `declarative`
    /// for a DB-less Kong (`configuration.database` `"off"`), `admin-api` otherwise.
    pub fn resolve(chosen: Option<Self>, info: &TargetInfo) -> Self {
        chosen.unwrap_or(if info.database.as_deref() == Some("off") {
            Self::Declarative
        } else {
            Self::AdminApi
        })
    }

    /// Why a scenario with `tags` cannot run in this mode, or `None` when it can.
    pub fn not_applicable<'a>(self, tags: impl IntoIterator<Item = &'a String>) -> Option<String> {
        let tags: Vec<&String> = tags.into_iter().collect();
        match self {
            Self::AdminApi => None,
            Self::Declarative => tags.iter().any(|t| *t == WRITABLE_ADMIN_API_TAG).then(|| {
                format!(
                    "@{WRITABLE_ADMIN_API_TAG}: changes an entity through the Admin API's entity endpoints, and \
                     --provisioning declarative loads whole declarative documents with POST /config (a DB-less \
                     Admin API is read-only)"
                )
            }),
            Self::External => (!tags.iter().any(|t| *t == PREPROVISIONED_TAG)).then(|| {
                format!(
                    "--provisioning external: the harness provisions nothing, and only @{PREPROVISIONED_TAG} \
                     scenarios run against the entities provisioned outside (fixtures/kong/deck/)"
                )
            }),
        }
    }
}

static PROVISIONING: Mutex<Provisioning> = Mutex::new(Provisioning::AdminApi);

/// Sets the provisioning mode of the current target, after its preflight and before its scenarios run.
pub fn choose_provisioning(mode: Provisioning) {
    *PROVISIONING.lock().unwrap_or_else(PoisonError::into_inner) = mode;
}

/// The provisioning mode of the current target (`admin-api` unless [`choose_provisioning`] said otherwise).
pub fn provisioning() -> Provisioning {
    *PROVISIONING.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The tag of scenarios that use one of Kong's paid (Enterprise) plugins.
pub const ENTERPRISE_TAG: &str = "enterprise";

/// Where the gateway under test is and how it reaches the harness's backends.
#[derive(Clone, Debug)]
pub struct TargetOptions {
    /// The proxy and Admin API of an external gateway; `None`: the reference gateway in-process.
    pub external: Option<External>,
    /// The address the harness's backends listen on.
    pub bind_host: IpAddr,
    /// The host the gateway uses to reach those backends; `None`: `bind_host`.
    pub upstream_host: Option<String>,
    /// `--provisioning`; `None`: from the Admin API root ([`Provisioning::resolve`]).
    pub provisioning: Option<Provisioning>,
}

/// A gateway that runs elsewhere.
#[derive(Clone, Debug)]
pub struct External {
    pub proxy: Url,
    pub admin: Url,
}

impl Default for TargetOptions {
    fn default() -> Self {
        Self {
            external: None,
            bind_host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            upstream_host: None,
            provisioning: None,
        }
    }
}

impl TargetOptions {
    /// What the listeners of the harness's backends bind (a free port on `bind_host`).
    pub fn bind_addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind_host, 0)
    }

    /// `http://<host>:<port>` at which the gateway reaches a backend listening on `addr`.
    pub fn url_for_gateway(&self, addr: SocketAddr) -> String {
        match &self.upstream_host {
            Some(host) if host.contains(':') && !host.starts_with('[') => {
                format!("http://[{host}]:{}", addr.port())
            }
            Some(host) => format!("http://{host}:{}", addr.port()),
            None => format!("http://{}", self.harness_view(addr)),
        }
    }

    /// `addr` as the harness itself connects to it: a wildcard bind (`0.0.0.0`) is reached on loopback.
    pub fn harness_view(&self, addr: SocketAddr) -> SocketAddr {
        match addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => {
                SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
            }
            IpAddr::V6(ip) if ip.is_unspecified() => {
                SocketAddr::new(std::net::Ipv6Addr::LOCALHOST.into(), addr.port())
            }
            _ => addr,
        }
    }

    /// What the console and the matrix call the target.
    pub fn describe(&self) -> String {
        match &self.external {
            Some(external) => format!("proxy {} (Admin API {})", external.proxy, external.admin),
            None => "the in-process reference gateway".to_owned(),
        }
    }
}

/// The target whose scenarios run now: its name and options (a run goes through its targets one after another).
static CURRENT: Mutex<Option<(&'static str, &'static TargetOptions)>> = Mutex::new(None);

/// Makes `options` the current target, called `name`, before its preflight and scenarios.
pub fn choose(name: &str, options: TargetOptions) {
    // A handful per run, kept for the rest of the process like the backends they describe.
    let name: &'static str = Box::leak(name.to_owned().into_boxed_str());
    let options: &'static TargetOptions = Box::leak(Box::new(options));
    *CURRENT.lock().unwrap_or_else(PoisonError::into_inner) = Some((name, options));
}

/// The current target (the in-process reference gateway unless [`choose`] said otherwise).
pub fn options() -> &'static TargetOptions {
    current().1
}

/// The name of the current target.
pub fn current_name() -> &'static str {
    current().0
}

fn current() -> (&'static str, &'static TargetOptions) {
    *CURRENT
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_or_insert_with(|| ("reference", Box::leak(Box::new(TargetOptions::default()))))
}

/// One `--target NAME=PROXY_URL,ADMIN_URL`, or `NAME=in-process` for the reference gateway started in-process.
#[derive(Clone, Debug)]
pub struct TargetSpec {
    pub name: String,
    /// `None`: the in-process reference gateway.
    pub external: Option<External>,
}

/// The value that names the in-process reference gateway in `--target NAME=in-process`.
pub const IN_PROCESS: &str = "in-process";

impl std::str::FromStr for TargetSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let usage = "expected NAME=PROXY_URL,ADMIN_URL or NAME=in-process";
        let (name, rest) = s.split_once('=').ok_or_else(|| format!("{s:?}: {usage}"))?;
        let name = name.trim();
        if name.is_empty() || name.contains(['|', '<', '>', '&', '"']) {
            return Err(format!("{s:?}: the target needs a plain name ({usage})"));
        }
        if rest.trim() == IN_PROCESS {
            return Ok(Self {
                name: name.to_owned(),
                external: None,
            });
        }
        let (proxy, admin) = rest
            .split_once(',')
            .ok_or_else(|| format!("{s:?}: {usage}"))?;
        let parse = |url: &str, what: &str| {
            Url::parse(url.trim()).map_err(|e| format!("{s:?}: the {what} URL {url:?}: {e}"))
        };
        Ok(Self {
            name: name.to_owned(),
            external: Some(External {
                proxy: parse(proxy, "proxy")?,
                admin: parse(admin, "Admin API")?,
            }),
        })
    }
}

/// What the Admin API root says about the gateway.
#[derive(Clone, Debug)]
pub struct TargetInfo {
    /// `version` (`3.9.1`, `3.4.3.12-enterprise-edition`), if the root has one.
    pub version: Option<String>,
    /// `version` as numbers (`[3, 9, 1]`), if it starts with some.
    numeric_version: Option<Vec<u64>>,
    /// `plugins.available_on_server`, by name.
    pub plugins: BTreeSet<String>,
    /// `configuration.database` (`"off"` for a DB-less Kong), if given.
    pub database: Option<String>,
}

/// Why the run stops before any scenario.
#[derive(Debug)]
pub enum PreflightError {
    /// No HTTP answer from the Admin API.
    Unreachable { url: String, error: String },
    /// An answer, but not Kong's `200` with a JSON object.
    Refused { url: String, detail: String },
    /// A JSON object that is not a Kong Admin API root (no `version`, no `plugins.available_on_server`).
    NotKong { url: String, detail: String },
}

impl fmt::Display for PreflightError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreachable { url, error } => write!(
                f,
                "preflight: the gateway's Admin API at {url} is unreachable: {error}"
            ),
            Self::Refused { url, detail } => {
                write!(
                    f,
                    "preflight: the gateway's Admin API at {url} refused: {detail}"
                )
            }
            Self::NotKong { url, detail } => write!(
                f,
                "preflight: {url} is not a Kong-compatible Admin API: {detail}"
            ),
        }
    }
}

/// `GET /` of the Admin API: the gateway's version and plugins, or why the run cannot start.
pub async fn preflight(admin: &Admin) -> Result<TargetInfo, PreflightError> {
    let url = admin.url("/");
    match admin.root().await {
        Ok(root) => match kong_root_problem(&root) {
            None => Ok(TargetInfo::from_root(&root)),
            Some(problem) => Err(PreflightError::NotKong {
                url,
                detail: format!("{problem}; it answered {}", one_line(&root.to_string())),
            }),
        },
        Err(AdminError::Transport { source, .. }) => Err(PreflightError::Unreachable {
            url,
            error: error_chain(&source),
        }),
        Err(AdminError::Status { status, body, .. }) => Err(PreflightError::Refused {
            url,
            detail: format!("{status}: {}", one_line(&body)),
        }),
        Err(AdminError::Body { detail, .. }) => Err(PreflightError::Refused {
            url,
            detail: one_line(&detail),
        }),
    }
}

/// What makes `root` not the root of Kong's Admin API, if anything: Kong answers `GET /` with its `version`
/// (a string) and `plugins.available_on_server` (an object; older Kongs an array) (`kong/api/routes/kong.lua`).
pub fn kong_root_problem(root: &Value) -> Option<&'static str> {
    if !root["version"].is_string() {
        return Some("no \"version\" string in GET /");
    }
    match &root["plugins"]["available_on_server"] {
        Value::Object(_) | Value::Array(_) => None,
        _ => Some("no \"plugins.available_on_server\" in GET /"),
    }
}

/// `text` on one line, whitespace collapsed, at most 160 characters (a page of HTML is not a message).
pub fn one_line(text: &str) -> String {
    one_line_max(text, 160)
}

/// `text` on one line, whitespace collapsed, at most `max` characters.
pub fn one_line_max(text: &str, max: usize) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() <= max {
        return collapsed;
    }
    let cut: String = collapsed.chars().take(max).collect();
    format!("{cut}…")
}

/// An error and its sources on one line (`error sending request: ...: Connection refused`).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

impl TargetInfo {
    /// Reads Kong's Admin API root (`GET /`).
    pub fn from_root(root: &Value) -> Self {
        let version = root["version"].as_str().map(str::to_owned);
        let numeric_version = version.as_deref().and_then(parse_version);
        let plugins = match &root["plugins"]["available_on_server"] {
            Value::Object(map) => map.keys().cloned().collect(),
            // Older Kongs list names in an array.
            Value::Array(names) => names
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            _ => BTreeSet::new(),
        };
        let database = root["configuration"]["database"]
            .as_str()
            .map(str::to_owned);
        Self {
            version,
            numeric_version,
            plugins,
            database,
        }
    }

    /// Why a scenario with `tags` cannot run against this target, or `None` when it can.
    ///
    /// A plugin tag whose plugin the target does not list makes it not applicable; so does a `@kong-X.Y+` tag
    /// when the target's version is known and older. A target whose version is not a number (another gateway)
    /// runs every version-tagged scenario: it claims Kong's current behaviour.
    pub fn not_applicable<'a>(&self, tags: impl IntoIterator<Item = &'a String>) -> Option<String> {
        let tags: Vec<&String> = tags.into_iter().collect();
        let enterprise = tags.iter().any(|t| *t == ENTERPRISE_TAG);
        let mut missing: Vec<&str> = PLUGIN_TAGS
            .iter()
            .copied()
            .filter(|plugin| tags.iter().any(|t| t == plugin) && !self.plugins.contains(*plugin))
            .collect();
        missing.dedup();
        if !missing.is_empty() {
            let paid = if enterprise {
                " (a Kong Enterprise plugin)"
            } else {
                ""
            };
            return Some(format!(
                "the target does not list the plugin(s) {}{paid} in plugins.available_on_server",
                missing.join(", ")
            ));
        }
        let actual = self.numeric_version.as_ref()?;
        tags.iter().find_map(|tag| {
            let wanted = version_tag(tag)?;
            (actual.as_slice() < wanted.as_slice()).then(|| {
                format!(
                    "@{tag}: the target is version {}",
                    self.version.as_deref().unwrap_or("?")
                )
            })
        })
    }
}

/// `kong-3.6+` → `[3, 6]`.
fn version_tag(tag: &str) -> Option<Vec<u64>> {
    parse_version(tag.strip_prefix("kong-")?.strip_suffix('+')?)
}

/// The leading dotted numbers of a version: `3.4.3.12-enterprise-edition` → `[3, 4, 3, 12]`.
fn parse_version(version: &str) -> Option<Vec<u64>> {
    let numbers: Vec<u64> = version
        .split(|c: char| !c.is_ascii_digit() && c != '.')
        .next()?
        .split('.')
        .map_while(|part| part.parse().ok())
        .collect();
    (!numbers.is_empty()).then_some(numbers)
}
