//! The echo upstream: answers every request `200` with a JSON description of the request it received, so a
//! scenario can check what the gateway forwarded (the way Kong's own specs read
//! `json.headers["x-consumer-id"]`).
//!
//! The body carries the keys of httpbin's `/anything` (`method`, `url`, `path`, `args`, `headers`, `data`,
//! `json`) and those of Kong's test upstream (`uri_args`, `post_data`; Kong/kong
//! `spec/fixtures/mock_upstream.lua`), so scenarios written for either style read it. Header names are
//! lower-case; a header or query argument that arrives several times becomes an array.
//!
//! Built on wiremock: the server runs on its own thread, so it works under any runtime, and it stops when the
//! [`EchoUpstream`] handle is dropped.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};

use serde_json::{Map, Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// A running echo upstream. Stops when dropped.
pub struct EchoUpstream {
    server: MockServer,
}

/// Configures an [`EchoUpstream`] before it starts.
#[derive(Debug)]
#[must_use = "a builder does nothing until `start` is called"]
pub struct EchoUpstreamBuilder {
    listen: SocketAddr,
    record_requests: bool,
}

impl EchoUpstream {
    /// A builder listening on `127.0.0.1:0` (a free port) that records the requests it receives.
    pub fn builder() -> EchoUpstreamBuilder {
        EchoUpstreamBuilder {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            record_requests: true,
        }
    }

    /// The address the upstream listens on.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        *self.server.address()
    }

    /// The base URL of the upstream, `http://<addr>` with no trailing slash.
    #[must_use]
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// Every request received so far, oldest first (empty when recording is off).
    pub async fn requests(&self) -> Vec<Request> {
        self.server.received_requests().await.unwrap_or_default()
    }
}

impl fmt::Debug for EchoUpstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EchoUpstream")
            .field("addr", &self.addr())
            .finish()
    }
}

impl EchoUpstreamBuilder {
    /// Listens on `addr` instead of a free loopback port (the demo uses a fixed one; tests never should).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Whether to keep every request for [`EchoUpstream::requests`]. On by default; turn it off for a
    /// long-running upstream, whose memory would otherwise grow with every request.
    pub fn record_requests(mut self, record: bool) -> Self {
        self.record_requests = record;
        self
    }

    /// Binds the listener and starts answering.
    ///
    /// # Errors
    /// When the address cannot be bound (for example, a fixed port already in use).
    pub async fn start(self) -> io::Result<EchoUpstream> {
        let listener = TcpListener::bind(self.listen)?;
        let mut builder = MockServer::builder().listener(listener);
        if !self.record_requests {
            builder = builder.disable_request_recording();
        }
        let server = builder.start().await;
        Mock::given(any())
            .respond_with(|request: &Request| {
                ResponseTemplate::new(200).set_body_json(describe(request))
            })
            .mount(&server)
            .await;
        Ok(EchoUpstream { server })
    }
}

/// The JSON the echo upstream answers with for `request`.
#[must_use]
pub fn describe(request: &Request) -> Value {
    let body = String::from_utf8_lossy(&request.body).into_owned();
    let content_type = request
        .headers
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let host = request
        .headers
        .get("host")
        .and_then(|value| value.to_str().ok())
        .map_or_else(|| authority(&request.url), str::to_owned);
    let path = request.url.path();
    let query = request.url.query();
    let url = match query {
        Some(query) => format!("{}://{host}{path}?{query}", request.url.scheme()),
        None => format!("{}://{host}{path}", request.url.scheme()),
    };
    json!({
        "method": request.method.as_str(),
        "url": url,
        "path": path,
        "args": grouped(request.url.query_pairs().map(|(k, v)| (k.into_owned(), Value::from(v.into_owned())))),
        "headers": headers(request),
        "data": body,
        "json": serde_json::from_slice::<Value>(&request.body).unwrap_or(Value::Null),
        "uri_args": kong_uri_args(query.unwrap_or_default()),
        "post_data": post_data(content_type, &body),
    })
}

/// `host[:port]` of a URL, for requests that came without a `Host` header.
fn authority(url: &url::Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        (None, _) => String::new(),
    }
}

/// Header names (already lower-case) to their values; repeated headers become arrays.
fn headers(request: &Request) -> Value {
    grouped(request.headers.iter().map(|(name, value)| {
        (
            name.as_str().to_owned(),
            Value::from(String::from_utf8_lossy(value.as_bytes()).into_owned()),
        )
    }))
}

/// Query arguments the way Kong's `ngx.req.get_uri_args()` reports them: a bare `?flag` is `true`.
fn kong_uri_args(query: &str) -> Value {
    grouped(
        query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let decode = |s: &str| {
                    url::form_urlencoded::parse(s.as_bytes())
                        .next()
                        .map(|(k, _)| k.into_owned())
                        .unwrap_or_default()
                };
                match pair.split_once('=') {
                    Some((name, value)) => (decode(name), Value::from(decode(value))),
                    None => (decode(pair), Value::Bool(true)),
                }
            }),
    )
}

/// Kong mock_upstream's `post_data`: the raw text, what kind of body it is, and its parsed parameters.
fn post_data(content_type: &str, body: &str) -> Value {
    let (kind, params) = if content_type.contains("application/x-www-form-urlencoded") {
        let pairs = url::form_urlencoded::parse(body.as_bytes())
            .map(|(k, v)| (k.into_owned(), Value::from(v.into_owned())));
        ("form", grouped(pairs))
    } else if content_type.contains("multipart/form-data") {
        ("multipart-form", multipart_params(content_type, body))
    } else if content_type.contains("application/json") {
        match serde_json::from_str::<Value>(body) {
            Ok(params) => ("json", params),
            Err(_) => ("json (error)", Value::Null),
        }
    } else {
        ("unknown", Value::Null)
    };
    json!({ "text": body, "kind": kind, "params": params })
}

/// The named parts of a `multipart/form-data` body as name → text (Kong mock_upstream's
/// `parse_multipart_form_params`); `null` when the body has no boundary.
fn multipart_params(content_type: &str, body: &str) -> Value {
    let boundary = content_type.split(';').find_map(|param| {
        let (name, value) = param.split_once('=')?;
        (name.trim().eq_ignore_ascii_case("boundary")).then(|| value.trim().trim_matches('"'))
    });
    let Some(boundary) = boundary.filter(|b| !b.is_empty()) else {
        return Value::Null;
    };
    let delimiter = format!("--{boundary}");
    let parts = body
        .split(delimiter.as_str())
        .skip(1)
        .take_while(|part| !part.starts_with("--"))
        .filter_map(|part| {
            let part = part.strip_prefix("\r\n")?;
            let (head, content) = part.split_once("\r\n\r\n")?;
            let content = content.strip_suffix("\r\n").unwrap_or(content);
            let name = head.split("\r\n").find_map(|line| {
                let (header, value) = line.split_once(':')?;
                if !header.trim().eq_ignore_ascii_case("content-disposition") {
                    return None;
                }
                value.split(';').find_map(|param| {
                    let (key, value) = param.split_once('=')?;
                    (key.trim() == "name").then(|| value.trim().trim_matches('"').to_owned())
                })
            })?;
            Some((name, Value::from(content.to_owned())))
        });
    grouped(parts)
}

/// Collects name/value pairs into an object, turning a name seen more than once into an array of its values.
fn grouped(pairs: impl Iterator<Item = (String, Value)>) -> Value {
    let mut map: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (name, value) in pairs {
        map.entry(name).or_default().push(value);
    }
    let object: Map<String, Value> = map
        .into_iter()
        .map(|(name, mut values)| {
            let value = if values.len() == 1 {
                values.remove(0)
            } else {
                Value::Array(values)
            };
            (name, value)
        })
        .collect();
    Value::Object(object)
}

#[cfg(test)]
mod tests;
