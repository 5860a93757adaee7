//! Kong's traditional router for HTTP: a route matches when every condition it sets matches
//! (methods, hosts, path prefixes); among matches, routes with more conditions win, then the
//! longest path, then the oldest route. Compiled once per configuration.
//!
//! Matching costs the same with 10 routes or 10,000: the entries keep one global order (the
//! precedence above), and each path prefix indexes the entries that have it, so a request only
//! looks at the entries whose prefix its path starts with (one hash lookup per distinct prefix
//! length) and at the entries without a path; the first of those in the global order wins.

mod normalize;

use std::collections::HashMap;

pub use normalize::{escapes_are_valid, normalize as normalize_path};

use crate::model::Route;

/// One (route, path) pair in match order.
#[derive(Debug, Clone)]
struct Entry {
    route: usize,
    path: Option<String>,
    methods: Option<Vec<String>>,
    hosts: Option<Vec<String>>,
}

/// A match: which route, and the path prefix that matched (for `strip_path`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match<'a> {
    /// Index into the snapshot's routes.
    pub route: usize,
    /// The matched path prefix, if the route has paths.
    pub prefix: Option<&'a str>,
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
}

impl Router {
    /// Compiles routes (in the snapshot's order).
    pub fn new<'a>(routes: impl Iterator<Item = &'a Route>) -> Self {
        let mut entries = Vec::new();
        let mut keyed = Vec::new();
        for (i, r) in routes.enumerate() {
            let methods = r.methods.clone().filter(|m| !m.is_empty());
            let hosts = r.hosts.clone().filter(|h| !h.is_empty());
            let categories = usize::from(methods.is_some()) + usize::from(hosts.is_some());
            let paths: Vec<Option<String>> = match &r.paths {
                Some(p) if !p.is_empty() => p
                    .iter()
                    .map(|path| Some(normalize_path(path).into_owned()))
                    .collect(),
                _ => vec![None],
            };
            for path in paths {
                let cats = categories + usize::from(path.is_some());
                let len = path.as_ref().map_or(0, String::len);
                keyed.push((
                    cats,
                    r.regex_priority,
                    len,
                    r.created_at,
                    i,
                    Entry {
                        route: i,
                        path,
                        methods: methods.clone(),
                        hosts: hosts.clone(),
                    },
                ));
            }
        }
        keyed.sort_by(|a, b| {
            b.0.cmp(&a.0)
                .then(b.2.cmp(&a.2))
                .then(b.1.cmp(&a.1))
                .then(a.3.cmp(&b.3))
                .then(a.4.cmp(&b.4))
        });
        entries.extend(keyed.into_iter().map(|k| k.5));
        let mut by_prefix: HashMap<String, Vec<usize>> = HashMap::new();
        let mut pathless = Vec::new();
        for (at, e) in entries.iter().enumerate() {
            match &e.path {
                Some(p) => by_prefix.entry(p.clone()).or_default().push(at),
                None => pathless.push(at),
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
        best.map(|at| {
            let e = &self.entries[at];
            Match {
                route: e.route,
                prefix: e.path.as_deref(),
            }
        })
    }
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
pub fn upstream_path(
    service_path: Option<&str>,
    request_path: &str,
    prefix: Option<&str>,
    strip: bool,
) -> String {
    let rest = match (strip, prefix) {
        (true, Some(p)) => &request_path[p.len().min(request_path.len())..],
        _ => request_path,
    };
    match service_path {
        None | Some("") => {
            if rest.starts_with('/') {
                rest.to_owned()
            } else {
                format!("/{rest}")
            }
        }
        Some(base) => {
            if rest.is_empty() {
                base.to_owned()
            } else if base.ends_with('/') && rest.starts_with('/') {
                format!("{base}{}", &rest[1..])
            } else if base.ends_with('/') || rest.starts_with('/') {
                format!("{base}{rest}")
            } else {
                format!("{base}/{rest}")
            }
        }
    }
}

#[cfg(test)]
mod tests;
