//! Kong's traditional router for HTTP: a route matches when every condition it sets matches
//! (methods, hosts, path prefixes); among matches, routes with more conditions win, then the
//! longest path, then the oldest route. Compiled once per configuration.

mod normalize;

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
    entries: Vec<Entry>,
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
        Self { entries }
    }

    /// Finds the route for a request.
    pub fn find(&self, method: &str, host: Option<&str>, path: &str) -> Option<Match<'_>> {
        let host = host.map(|h| strip_port(h).to_ascii_lowercase());
        self.entries.iter().find_map(|e| {
            if let Some(methods) = &e.methods
                && !methods.iter().any(|m| m == method)
            {
                return None;
            }
            if let Some(hosts) = &e.hosts {
                let h = host.as_deref()?;
                if !hosts.iter().any(|pattern| host_matches(pattern, h)) {
                    return None;
                }
            }
            match &e.path {
                Some(prefix) if !path.starts_with(prefix.as_str()) => None,
                prefix => Some(Match {
                    route: e.route,
                    prefix: prefix.as_deref(),
                }),
            }
        })
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
