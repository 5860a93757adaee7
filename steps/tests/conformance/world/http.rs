//! Requests a scenario sends through the gateway's proxy and the responses it keeps: [`Outgoing`] (method, path
//! as the feature writes it, headers, where the `Cookie` header comes from), [`Reply`] (status, headers, every
//! raw `Set-Cookie` in order, body, and readers for Kong's error body and the echo upstream's report), and the
//! World's `send`, which namespaces the path, picks the client with or without the cookie jar, and remembers the
//! last session cookie the gateway issued. Runs inside every step that sends a request.

use std::time::Duration;

use reqwest::header::{COOKIE, HeaderMap, SET_COOKIE};
use reqwest::{Client, Method, StatusCode};
use serde_json::Value;

use super::{Error, GatewayWorld, KEY_NAME, SESSION_COOKIE};

/// How long one proxied request may take before the step fails.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A client builder for requests through the proxy: no redirects followed, no proxy, a timeout.
pub(super) fn proxy_client() -> reqwest::ClientBuilder {
    Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(REQUEST_TIMEOUT)
}

/// Where the `Cookie` header of a request comes from.
#[derive(Clone, Debug)]
pub enum Cookies {
    /// The scenario's jar (like `curl -b jar -c jar`).
    Jar,
    /// Exactly this `Cookie` header, and nothing from the jar (like `curl --cookie 'session=...'`).
    Only(String),
}

/// A request a step sends through the gateway's proxy.
#[derive(Debug)]
pub struct Outgoing {
    pub method: Method,
    /// Path and query as the feature writes it (`/anything?session_logout`); namespaced before sending.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub cookies: Cookies,
    /// The body and its `Content-Type`, if any.
    pub body: Option<(String, Vec<u8>)>,
}

impl Outgoing {
    /// A request with no extra header, carrying the jar's cookies.
    pub fn new(method: Method, path: &str) -> Self {
        Self {
            method,
            path: path.to_owned(),
            headers: Vec::new(),
            cookies: Cookies::Jar,
            body: None,
        }
    }

    /// The body `body` with the `Content-Type` `content_type`.
    #[must_use]
    pub fn body(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some((content_type.to_owned(), body.into()));
        self
    }

    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    #[must_use]
    pub fn cookies(mut self, cookies: Cookies) -> Self {
        self.cookies = cookies;
        self
    }
}

/// The response to the last request a scenario sent.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// Every `Set-Cookie` header, verbatim and in order.
    pub set_cookies: Vec<String>,
    pub body: Vec<u8>,
}

impl Reply {
    /// The body decoded as JSON.
    pub fn json(&self) -> Result<Value, Error> {
        serde_json::from_slice(&self.body).map_err(|e| {
            format!(
                "the body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
            .into()
        })
    }

    /// The `message` of a Kong error body (`{"message":"...","request_id":"..."}`).
    pub fn message(&self) -> Result<String, Error> {
        let json = self.json()?;
        json["message"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("no string `message` in {json}").into())
    }

    /// The `Set-Cookie` header that sets `name`, split into its value and the attributes after it
    /// (`session=abc; Path=/; HttpOnly` → `("abc", "Path=/; HttpOnly")`).
    pub fn set_cookie(&self, name: &str) -> Option<(&str, &str)> {
        self.set_cookies.iter().find_map(|line| {
            let (pair, attributes) = line.split_once(';').unwrap_or((line, ""));
            let (cookie, value) = pair.split_once('=')?;
            (cookie.trim() == name).then(|| (value.trim(), attributes.trim_start()))
        })
    }

    /// The request headers the echo upstream reports it received (lower-case names).
    pub fn upstream_headers(&self) -> Result<serde_json::Map<String, Value>, Error> {
        match self.json()? {
            Value::Object(mut body) => match body.remove("headers") {
                Some(Value::Object(headers)) => Ok(headers),
                _ => Err(format!(
                    "not an echo of the upstream (no `headers` object): {}",
                    Value::Object(body)
                )
                .into()),
            },
            other => Err(format!("not an echo of the upstream: {other}").into()),
        }
    }

    /// The token of the one `Authorization: Bearer <token>` header the echo upstream reports it received.
    pub fn upstream_bearer_token(&self) -> Result<String, Error> {
        let headers = self.upstream_headers()?;
        let authorization = match headers.get("authorization") {
            Some(Value::String(value)) => value,
            Some(other) => {
                return Err(format!(
                    "the upstream received several Authorization headers: {other}"
                )
                .into());
            }
            None => return Err("the upstream received no Authorization header".into()),
        };
        match authorization.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() => {
                Ok(token.to_owned())
            }
            _ => Err(format!(
                "the upstream received Authorization: {authorization:?}, not a Bearer token"
            )
            .into()),
        }
    }
}

impl GatewayWorld {
    /// `request` carrying the key-auth key the feature calls `key` (namespaced: keys are unique across the
    /// gateway) in the [`KEY_NAME`] header.
    pub fn with_key(&self, request: Outgoing, key: &str) -> Outgoing {
        request.header(KEY_NAME, &self.ns(key))
    }

    /// The last response.
    pub fn last(&self) -> Result<&Reply, Error> {
        self.last
            .as_ref()
            .ok_or_else(|| "no request has been sent yet".into())
    }

    /// A `Cookie` header with the last non-empty value the gateway issued for each of `names`.
    pub fn issued_cookie_header(&self, names: &[&str]) -> Result<String, Error> {
        names
            .iter()
            .map(|name| {
                self.issued_cookies
                    .get(*name)
                    .map(|value| format!("{name}={value}"))
                    .ok_or_else(|| format!("the gateway has not issued a {name} cookie").into())
            })
            .collect::<Result<Vec<_>, Error>>()
            .map(|pairs| pairs.join("; "))
    }

    /// The last non-empty session cookie the gateway issued.
    pub fn session_cookie(&self) -> Result<&str, Error> {
        self.session_cookie
            .as_deref()
            .ok_or_else(|| "the gateway has not issued a session cookie".into())
    }

    /// `path` (with its query) with the scenario's route prefix namespaced, as sent to the proxy.
    fn proxied_path(&self, path: &str) -> String {
        let route = self
            .routes
            .iter()
            .filter(|(declared, _)| {
                path.strip_prefix(declared.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']))
            })
            .max_by_key(|(declared, _)| declared.len());
        match route {
            Some((declared, namespaced)) => format!("{namespaced}{}", &path[declared.len()..]),
            None => path.to_owned(),
        }
    }

    /// `text` with every `{{name}}` replaced by `name` in the scenario's namespace (`{{hello_world}}` →
    /// `hello_world-1a2b3c4d`): how features write keys and usernames inside paths, headers and bodies.
    pub fn expand(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            let Some(len) = rest[start + 2..].find("}}") else {
                break;
            };
            out.push_str(&rest[..start]);
            out.push_str(&self.ns(&rest[start + 2..start + 2 + len]));
            rest = &rest[start + 2 + len + 2..];
        }
        out.push_str(rest);
        out
    }

    /// Sends `request` again and again (every 200 ms) until `done` accepts the response or `within` has passed;
    /// the last response is kept either way. Fails with what the last response was when time ran out.
    pub async fn poll_until(
        &mut self,
        within: Duration,
        request: impl Fn(&Self) -> Result<Outgoing, Error>,
        done: impl Fn(&Reply) -> bool,
        wanted: &str,
    ) -> Result<(), Error> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let outgoing = request(self)?;
            let reply = self.send(outgoing).await?;
            if done(reply) {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!(
                    "after {} s, still not {wanted}: the last response was {} with Set-Cookie {:?}: {}",
                    within.as_secs(),
                    reply.status,
                    reply.set_cookies,
                    crate::target::one_line(&String::from_utf8_lossy(&reply.body))
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Sends `request` to the gateway's proxy and keeps the response as the last one. `{{name}}` in its path,
    /// header values and body is namespaced first (see [`GatewayWorld::expand`]).
    pub async fn send(&mut self, request: Outgoing) -> Result<&Reply, Error> {
        let base = self.suite.target.proxy.as_str().trim_end_matches('/');
        let path = self.expand(&request.path);
        let url = format!("{base}{}", self.proxied_path(&path));
        let client = match request.cookies {
            Cookies::Jar => &self.http,
            Cookies::Only(_) => &self.suite.bare,
        };
        let mut builder = client.request(request.method.clone(), url);
        for (name, value) in &request.headers {
            builder = builder.header(self.expand(name), self.expand(value));
        }
        if let Cookies::Only(cookie) = &request.cookies {
            builder = builder.header(COOKIE, cookie);
        }
        if let Some((content_type, body)) = request.body {
            let body = match String::from_utf8(body) {
                Ok(text) => self.expand(&text).into_bytes(),
                Err(raw) => raw.into_bytes(),
            };
            builder = builder
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(body);
        }
        let response = builder.send().await?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await?.to_vec();
        let set_cookies = headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        let reply = Reply {
            status,
            headers,
            set_cookies,
            body,
        };
        if let Some((value, _)) = reply
            .set_cookie(SESSION_COOKIE)
            .filter(|(value, _)| !value.is_empty())
        {
            self.session_cookie = Some(value.to_owned());
        }
        for line in &reply.set_cookies {
            let pair = line.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=')
                && !value.trim().is_empty()
            {
                self.issued_cookies
                    .insert(name.trim().to_owned(), value.trim().to_owned());
            }
        }
        Ok(self.last.insert(reply))
    }

    /// `GET` the first route with the key `key` in the `apikey` header; fails unless the gateway answers 200 with
    /// a session cookie.
    pub async fn log_in(&mut self, key: &str) -> Result<(), Error> {
        let path = self.first_route()?.to_owned();
        let reply = self
            .send(self.with_key(Outgoing::new(Method::GET, &path), key))
            .await?;
        if reply.status != StatusCode::OK || reply.set_cookie(SESSION_COOKIE).is_none() {
            return Err(format!(
                "logging in with apikey {key:?} gave {} with Set-Cookie {:?}: {}",
                reply.status,
                reply.set_cookies,
                String::from_utf8_lossy(&reply.body)
            )
            .into());
        }
        Ok(())
    }

    /// The last session cookie with one character of its MAC changed: same length, same alphabet, but no longer
    /// what the gateway signed (header bytes 66..82 are the MAC; base64url characters 88..110 encode them).
    pub fn tampered_session_cookie(&self) -> Result<String, Error> {
        let cookie = self.session_cookie()?;
        let index = 100.min(cookie.len().saturating_sub(2));
        let mut bytes = cookie.as_bytes().to_vec();
        let byte = bytes
            .get_mut(index)
            .ok_or("the session cookie is too short to tamper with")?;
        *byte = if *byte == b'A' { b'B' } else { b'A' };
        Ok(String::from_utf8(bytes)?)
    }
}
