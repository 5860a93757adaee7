//! Kong 3.x's router for HTTP (`router_flavor = traditional_compatible`): a route matches when
//! every condition it sets matches (methods, hosts, path prefixes or `~` regex paths); among
//! matches the highest priority wins, as `kong/router/transform.lua` `get_priority` orders them:
//! more conditions, then hosts without wildcards, then regex paths before prefix paths, then
//! `regex_priority` (regex paths only), then the longest prefix; then the oldest route.
//! Compiled once per configuration.
//!
//! Matching costs the same with 10 routes or 10,000: the entries keep one global order (the
//! precedence above), and each path prefix indexes the entries that have it, so a request only
//! looks at the entries whose prefix its path starts with (one hash lookup per distinct prefix
//! length) and at the entries without a path; the first of those in the global order wins.

mod normalize;

use std::borrow::Cow;
use std::collections::HashMap;

use regex::Regex;
use serde_json::{Map, Value};

pub use normalize::{escapes_are_valid, normalize as normalize_path};

use crate::model::Route;

/// One (route, path) pair in match order.
#[derive(Debug, Clone)]
struct Entry {
    route: usize,
    /// A prefix path (normalised).
    path: Option<String>,
    /// A regex path, anchored at the start.
    regex: Option<Regex>,
    methods: Option<Vec<String>>,
    hosts: Option<Vec<String>>,
}

/// A match: which route, and the part of the path that matched (for `strip_path`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match<'a> {
    /// Index into the snapshot's routes.
    pub route: usize,
    /// The matched path prefix, or the text a regex path matched, if the route has paths.
    pub prefix: Option<Cow<'a, str>>,
    /// A regex path's captures, when it has groups (`kong.request.get_uri_captures()`).
    pub captures: Option<UriCaptures>,
}

/// `kong.request.get_uri_captures()`: the groups of the regex path that matched, numbered from 1
/// (named groups too), and the named ones by name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UriCaptures {
    pub unnamed: Vec<Option<String>>,
    pub named: Vec<(String, String)>,
}

impl UriCaptures {
    /// As Kong's PDK encodes it: `{"named": {...}, "unnamed": [...]}` (an unmatched group is
    /// `null`).
    pub fn to_json(&self) -> Value {
        let named: Map<String, Value> = self
            .named
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        let unnamed: Vec<Value> = self
            .unnamed
            .iter()
            .map(|v| v.clone().map_or(Value::Null, Value::String))
            .collect();
        serde_json::json!({ "named": named, "unnamed": unnamed })
    }
}

/// A regex path (without its `~`) as Kong 3.x's router compiles it: anchored at the start
/// (`transform.lua` `path_val_transform`), named groups in Rust syntax.
pub fn compile_regex_path(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!(
        "^{}",
        pattern
            .replace("(?<", "(?P<")
            .replace("(?P<=", "(?<=")
            .replace("(?P<!", "(?<!")
    ))
}

/// The compiled router.
#[derive(Debug, Default)]
pub struct Router {
    /// Every (route, path) pair, in precedence order.
    entries: Vec<Entry>,
    /// Positions in `entries`, ascending, of the entries with each path prefix.
    by_prefix: HashMap<String, Vec<usize>>,
    /// The distinct prefix lengths, ascending.
    prefix_lengths: Vec<usize>,
    /// Positions in `entries`, ascending, of the entries without a path.
    pathless: Vec<usize>,
    /// Positions in `entries`, ascending, of the entries with a regex path.
    regexes: Vec<usize>,
}

impl Router {
    /// Compiles routes (in the snapshot's order). A regex path that does not compile (the
    /// Admin API refuses those) matches nothing.
    pub fn new<'a>(routes: impl Iterator<Item = &'a Route>) -> Self {
        let mut entries = Vec::new();
        let mut keyed = Vec::new();
        for (i, r) in routes.enumerate() {
            let methods = r.methods.clone().filter(|m| !m.is_empty());
            let hosts = r.hosts.clone().filter(|h| !h.is_empty());
            let categories = usize::from(methods.is_some()) + usize::from(hosts.is_some());
            let plain_hosts = hosts
                .as_ref()
                .is_some_and(|h| h.iter().all(|host| !host.contains('*')));
            let paths: Vec<Option<&String>> = match &r.paths {
                Some(p) if !p.is_empty() => p.iter().map(Some).collect(),
                _ => vec![None],
            };
            for path in paths {
                let (path, regex) = match path {
                    Some(p) => match p.strip_prefix('~') {
                        Some(pattern) => match compile_regex_path(pattern) {
                            Ok(regex) => (None, Some(regex)),
                            Err(_) => continue,
                        },
                        None => (Some(normalize_path(p).into_owned()), None),
                    },
                    None => (None, None),
                };
                let has_path = path.is_some() || regex.is_some();
                let weight = categories + usize::from(has_path);
                let is_regex = regex.is_some();
                let regex_priority = if is_regex { r.regex_priority } else { 0 };
                let len = path.as_ref().map_or(0, String::len);
                keyed.push((
                    (weight, plain_hosts, is_regex, regex_priority, len),
                    r.created_at,
                    i,
                    Entry {
                        route: i,
                        path,
                        regex,
                        methods: methods.clone(),
                        hosts: hosts.clone(),
                    },
                ));
            }
        }
        keyed.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        entries.extend(keyed.into_iter().map(|k| k.3));
        let mut by_prefix: HashMap<String, Vec<usize>> = HashMap::new();
        let mut pathless = Vec::new();
        let mut regexes = Vec::new();
        for (at, e) in entries.iter().enumerate() {
            match (&e.path, &e.regex) {
                (Some(p), _) => by_prefix.entry(p.clone()).or_default().push(at),
                (None, Some(_)) => regexes.push(at),
                (None, None) => pathless.push(at),
            }
        }
        let mut prefix_lengths: Vec<usize> = by_prefix.keys().map(String::len).collect();
        prefix_lengths.sort_unstable();
        prefix_lengths.dedup();
        Self {
            entries,
            by_prefix,
            prefix_lengths,
            pathless,
            regexes,
        }
    }

    /// Finds the route for a request: the first entry, in precedence order, whose conditions
    /// all match.
    pub fn find(&self, method: &str, host: Option<&str>, path: &str) -> Option<Match<'_>> {
        let host = host.map(|h| strip_port(h).to_ascii_lowercase());
        let host = host.as_deref();
        // The first matching entry of each candidate list (each is ascending); the least wins.
        let first = |list: &[usize]| {
            list.iter()
                .copied()
                .find(|&at| self.entries[at].accepts(method, host))
        };
        let mut best = first(&self.pathless);
        for &len in &self.prefix_lengths {
            if len > path.len() {
                break;
            }
            let Some(list) = path.get(..len).and_then(|p| self.by_prefix.get(p)) else {
                continue;
            };
            // Only entries ahead of the best so far can win.
            let ahead = best.map_or(list.len(), |b| list.partition_point(|&at| at < b));
            if let Some(at) = first(&list[..ahead]) {
                best = Some(at);
            }
        }
        let ahead = best.map_or(self.regexes.len(), |b| {
            self.regexes.partition_point(|&at| at < b)
        });
        let mut regex_match = None;
        for &at in &self.regexes[..ahead] {
            let entry = &self.entries[at];
            if !entry.accepts(method, host) {
                continue;
            }
            if let Some(found) = entry.regex.as_ref().and_then(|r| r.captures(path)) {
                regex_match = Some((at, captures_of(entry, &found)));
                best = Some(at);
                break;
            }
        }
        best.map(|at| {
            let e = &self.entries[at];
            match regex_match {
                Some((r, (matched, captures))) if r == at => Match {
                    route: e.route,
                    prefix: Some(Cow::Owned(matched)),
                    captures,
                },
                _ => Match {
                    route: e.route,
                    prefix: e.path.as_deref().map(Cow::Borrowed),
                    captures: None,
                },
            }
        })
    }
}

/// The whole match, and the groups when the regex has any (Kong reports captures only then).
fn captures_of(entry: &Entry, found: &regex::Captures<'_>) -> (String, Option<UriCaptures>) {
    let matched = found.get(0).map_or("", |m| m.as_str()).to_owned();
    let Some(regex) = &entry.regex else {
        return (matched, None);
    };
    if found.len() < 2 {
        return (matched, None);
    }
    let unnamed = (1..found.len())
        .map(|i| found.get(i).map(|m| m.as_str().to_owned()))
        .collect();
    let named = regex
        .capture_names()
        .flatten()
        .filter_map(|name| {
            found
                .name(name)
                .map(|m| (name.to_owned(), m.as_str().to_owned()))
        })
        .collect();
    (matched, Some(UriCaptures { unnamed, named }))
}

impl Entry {
    /// True when the request's method and host meet this entry's conditions (its path prefix
    /// is checked by the index).
    fn accepts(&self, method: &str, host: Option<&str>) -> bool {
        if let Some(methods) = &self.methods
            && !methods.iter().any(|m| m == method)
        {
            return false;
        }
        match (&self.hosts, host) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(hosts), Some(h)) => hosts.iter().any(|pattern| host_matches(pattern, h)),
        }
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split(']')
            .next()
            .map_or(host, |h| h.trim_start_matches('['));
    }
    host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            host
        }
    })
}

/// Exact host, or a leading/trailing `*` wildcard (`*.example.com`, `example.*`).
fn host_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.to_ascii_lowercase();
    let pattern = strip_port(&pattern);
    if let Some(suffix) = pattern.strip_prefix('*') {
        return host.ends_with(suffix) && host.len() > suffix.len();
    }
    if let Some(prefix) = pattern.strip_suffix('*') {
        return host.starts_with(prefix) && host.len() > prefix.len();
    }
    pattern == host
}

/// The upstream path for `path_handling = "v0"`: the service path joined with what is left of
/// the request path after `strip_path`.
pub fn upstream_path<'a>(
    service_path: Option<&str>,
    request_path: &'a str,
    prefix: Option<&str>,
    strip: bool,
) -> Cow<'a, str> {
    let rest = match (strip, prefix) {
        (true, Some(p)) => &request_path[p.len().min(request_path.len())..],
        _ => request_path,
    };
    match service_path {
        // The request's own path, borrowed: the proxy then forwards its path and query as they are.
        None | Some("") if rest.starts_with('/') => Cow::Borrowed(rest),
        None | Some("") => Cow::Owned(format!("/{rest}")),
        Some(base) => Cow::Owned(if rest.is_empty() {
            base.to_owned()
        } else if base.ends_with('/') && rest.starts_with('/') {
            format!("{base}{}", &rest[1..])
        } else if base.ends_with('/') || rest.starts_with('/') {
            format!("{base}{rest}")
        } else {
            format!("{base}/{rest}")
        }),
    }
}

#[cfg(test)]
mod tests;
