//! `kong.request`: the readers plugins use to read the client's request in the access phase, one per
//! need, each with the semantics of the Kong or nginx code it follows:
//!
//! * [`Ctx::header`] / [`Ctx::header_values`]: `kong.request.get_header` / `get_headers()[name]`
//!   (`kong/pdk/request.lua`): case-insensitive, `_` and `-` the same;
//! * [`Ctx::cookie`]: nginx's `$cookie_NAME` (`ngx_http_parse_multi_header_lines`, nginx
//!   `src/http/ngx_http_parse.c`): the first cookie whose name matches case-insensitively, over
//!   every `Cookie` header in order; [`Ctx::cookie_header`]: `$http_cookie`, all of them joined;
//! * [`Ctx::query_arg`] and [`Ctx::body_arg`]: `kong.request.get_query()[name]` and
//!   `kong.request.get_body()[name]` for urlencoded, JSON and multipart bodies, as Lua values;
//! * [`Ctx::authorization`] and [`Ctx::basic_credentials`]: the `Authorization` header.
//!
//! The body is read once, at most [`Ctx::body_buffer_size`] bytes ([`super::body`]).

use std::borrow::Cow;

use base64::Engine as _;
use bytes::Bytes;
use http::header::{AUTHORIZATION, COOKIE};
use serde_json::Value;

use super::{Ctx, RequestBody, decode_component};

/// `ngx.req.get_post_args()`'s default `max_args`: fields after the 100th are not read.
pub const MAX_BODY_ARGS: usize = 100;

/// An argument of the query string or the body, as the Lua value Kong's PDK returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    /// Lua `true`: `?name` or a form field without `=`, or JSON `true`.
    Flag,
    /// A Lua string.
    Text(String),
    /// A Lua table: a repeated field (its string values), or a JSON array (its string items) or
    /// object (no values).
    Table(Vec<String>),
    /// A JSON number (truthy in Lua, but not a string).
    Number,
    /// JSON `false`.
    False,
}

impl Arg {
    /// Whether Lua would take the value as true (everything but `false`).
    pub fn is_truthy(&self) -> bool {
        !matches!(self, Self::False)
    }

    /// The string, when the value is one.
    pub fn into_text(self) -> Option<String> {
        match self {
            Self::Text(text) => Some(text),
            _ => None,
        }
    }

    /// The first non-empty string: the value itself, or a table's first non-empty item.
    pub fn first_text(self) -> Option<String> {
        match self {
            Self::Text(text) => Some(text).filter(|t| !t.is_empty()),
            Self::Table(items) => items.into_iter().find(|t| !t.is_empty()),
            _ => None,
        }
    }
}

/// Why `Authorization: Basic …` gave no credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BasicError {
    #[error("the Basic credentials are not base64")]
    NotBase64,
    #[error("the Basic credentials are not UTF-8")]
    NotUtf8,
    #[error("the Basic credentials have no ':'")]
    NoColon,
    #[error("the Basic user is empty")]
    EmptyUser,
}

/// How a body is encoded, from its `Content-Type` (`kong.request.get_body`).
enum BodyKind {
    Form,
    Json,
    Multipart(String),
}

impl BodyKind {
    /// Kong lowercases the media type (before any `;`) and looks for each type in it.
    fn of(content_type: &str) -> Option<Self> {
        let (media, params) = content_type.split_once(';').unwrap_or((content_type, ""));
        let media = media.to_ascii_lowercase();
        if media.contains("application/x-www-form-urlencoded") {
            return Some(Self::Form);
        }
        if media.contains("application/json") {
            return Some(Self::Json);
        }
        if !media.contains("multipart/form-data") {
            return None;
        }
        let boundary = params.split(';').find_map(|param| {
            let (name, value) = param.split_once('=')?;
            let value = value.trim().trim_matches('"');
            (name.trim().eq_ignore_ascii_case("boundary") && !value.is_empty()).then_some(value)
        })?;
        Some(Self::Multipart(boundary.to_owned()))
    }
}

impl Ctx {
    /// `kong.request.get_header(name)`, i.e. nginx's `$http_<name>` (`kong/pdk/request.lua`): the
    /// first value of a header whose name matches case-insensitively with `_` and `-` the same (nginx
    /// `ngx_http_variable_unknown_header`; Kong runs nginx with `underscores_in_headers on`), `None`
    /// when it is not visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        let headers = &self.request.headers;
        headers
            .get(dashed(name).as_ref())
            .or_else(|| headers.get(underscored(name).as_ref()))
            .and_then(|v| v.to_str().ok())
    }

    /// `kong.request.get_headers()[name]` (`ngx.req.get_headers()`): every value of the header
    /// named exactly `name` (the table's keys are the lower-cased names as received), or, when
    /// there is none, of the header named `name` lower-cased with `_` as `-` (the table's `__index`
    /// metamethod). Bytes that are not UTF-8 are replaced.
    pub fn header_values<'a>(&'a self, name: &str) -> impl Iterator<Item = Cow<'a, str>> + 'a {
        let headers = &self.request.headers;
        let exact = !name.bytes().any(|b| b.is_ascii_uppercase()) && headers.contains_key(name);
        let key: Cow<'_, str> = if exact {
            Cow::Owned(name.to_owned())
        } else {
            dashed(name)
        };
        headers
            .get_all(key.as_ref())
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()))
    }

    /// nginx's `$http_cookie`: every `Cookie` header joined with `"; "` (borrowed when there is one).
    pub fn cookie_header(&self) -> Option<Cow<'_, str>> {
        let mut values = self
            .request
            .headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok());
        let first = values.next()?;
        let Some(second) = values.next() else {
            return Some(Cow::Borrowed(first));
        };
        let mut joined = format!("{first}; {second}");
        for v in values {
            joined.push_str("; ");
            joined.push_str(v);
        }
        Some(Cow::Owned(joined))
    }

    /// nginx's `$cookie_NAME`: the value of the first cookie named `name` (ASCII case-insensitive),
    /// over every `Cookie` header in order; spaces around `=` are skipped, the value runs to the
    /// next `;`. An empty value is `Some("")`.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.request
            .headers
            .get_all(COOKIE)
            .iter()
            .find_map(|v| cookie_in(v.as_bytes(), name.as_bytes()))
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// `kong.request.get_query()[name]` with Lua's view of flags and repeats.
    pub fn query_arg(&self, name: &str) -> Option<Arg> {
        let query = self.request.uri.query()?;
        let pairs = query.split('&').filter(|p| !p.is_empty()).map(|pair| {
            let (key, value) = match pair.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (pair, None),
            };
            (
                Cow::Owned(decode_component(key)),
                value.map(decode_component),
            )
        });
        collect_arg(pairs, name)
    }

    /// The credentials of `Authorization: <scheme> <credentials>` when the scheme matches
    /// (case-insensitive) and the credentials are not empty.
    pub fn authorization(&self, scheme: &str) -> Option<&str> {
        let value = self
            .request
            .headers
            .get(AUTHORIZATION)?
            .to_str()
            .ok()?
            .trim();
        let (given, rest) = value.split_once(' ')?;
        let rest = rest.trim();
        (given.eq_ignore_ascii_case(scheme) && !rest.is_empty()).then_some(rest)
    }

    /// `Authorization: Basic` as `(user, password)`: `Ok(None)` without such a header, an error
    /// when it does not decode. Padding is optional; the password may contain `:`.
    pub fn basic_credentials(&self) -> Result<Option<(String, String)>, BasicError> {
        let Some(encoded) = self.authorization("basic") else {
            return Ok(None);
        };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(encoded))
            .map_err(|_| BasicError::NotBase64)?;
        let text = String::from_utf8(decoded).map_err(|_| BasicError::NotUtf8)?;
        let (user, password) = text.split_once(':').ok_or(BasicError::NoColon)?;
        if user.is_empty() {
            return Err(BasicError::EmptyUser);
        }
        Ok(Some((user.to_owned(), password.to_owned())))
    }

    /// `kong.request.get_raw_body()`: the whole body when it fits [`Ctx::body_buffer_size`]
    /// (read on first use), else `None` (too large, or the client went away).
    pub async fn raw_body(&mut self) -> Option<&Bytes> {
        if let RequestBody::Stream(_) = &self.body
            && let RequestBody::Stream(stream) = std::mem::take(&mut self.body)
        {
            self.body = RequestBody::read(stream, self.body_buffer_size).await;
        }
        match &self.body {
            RequestBody::Buffered(bytes) => Some(bytes),
            _ => None,
        }
    }

    /// `kong.request.get_body()[name]` for `application/x-www-form-urlencoded`, `application/json`
    /// (a top-level object) and `multipart/form-data` bodies; other bodies are not read.
    pub async fn body_arg(&mut self, name: &str) -> Option<Arg> {
        let kind = BodyKind::of(self.header("content-type")?)?;
        let body = self.raw_body().await?;
        match kind {
            BodyKind::Form => collect_arg(
                form_urlencoded::parse(body)
                    .take(MAX_BODY_ARGS)
                    .map(|(key, value)| (key, value.into_owned()))
                    .zip(form_flags(body))
                    .map(|((key, value), flag)| (key, (!flag).then_some(value))),
                name,
            ),
            BodyKind::Json => json_arg(body, name),
            BodyKind::Multipart(boundary) => collect_arg(
                multipart_parts(body, &boundary)
                    .into_iter()
                    .map(|part| (Cow::Owned(part.name), Some(part.value))),
                name,
            ),
        }
    }

    /// `kong.request.get_query()` as the JSON cjson makes of its table: a flag is `true`, a
    /// repeated argument an array of its values (at most [`MAX_BODY_ARGS`] arguments).
    pub fn query_table(&self) -> Value {
        let query = self.request.uri.query().unwrap_or_default();
        let pairs = query.split('&').filter(|p| !p.is_empty()).map(|pair| {
            let (key, value) = match pair.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (pair, None),
            };
            (decode_component(key), value.map(decode_component))
        });
        lua_table(pairs.take(MAX_BODY_ARGS))
    }

    /// `kong.request.get_body()` as JSON: the fields of an urlencoded or multipart form (a
    /// table as [`Ctx::query_table`] makes it), or the decoded JSON body; `None` when the body
    /// has no such type, does not parse, or was too large to read.
    pub async fn body_table(&mut self) -> Option<Value> {
        let kind = BodyKind::of(self.header("content-type")?)?;
        let body = self.raw_body().await?;
        match kind {
            BodyKind::Form => Some(lua_table(
                form_urlencoded::parse(body)
                    .take(MAX_BODY_ARGS)
                    .zip(form_flags(body))
                    .map(|((k, v), flag)| (k.into_owned(), (!flag).then(|| v.into_owned()))),
            )),
            BodyKind::Json => serde_json::from_slice::<Value>(body)
                .ok()
                .filter(|v| v.is_object() || v.is_array()),
            BodyKind::Multipart(boundary) => Some(lua_table(
                multipart_parts(body, &boundary)
                    .into_iter()
                    .map(|part| (part.name, Some(part.value))),
            )),
        }
    }

    /// The body without the argument `name` (urlencoded fields re-encoded, JSON re-serialized,
    /// multipart parts cut out), or `None` when the body was not read or has no such argument.
    pub(crate) async fn body_without_arg(&mut self, name: &str) -> Option<Bytes> {
        let kind = BodyKind::of(self.header("content-type")?)?;
        let body = self.raw_body().await?;
        match kind {
            BodyKind::Form => {
                let kept = form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(form_urlencoded::parse(body).filter(|(k, _)| k != name))
                    .finish();
                Some(kept.into())
            }
            BodyKind::Json => match serde_json::from_slice::<Value>(body) {
                Ok(Value::Object(mut object)) => {
                    object.remove(name);
                    Some(Value::Object(object).to_string().into())
                }
                _ => None,
            },
            BodyKind::Multipart(boundary) => {
                let parts = multipart_parts(body, &boundary);
                if !parts.iter().any(|p| p.name == name) {
                    return None;
                }
                let mut kept = Vec::with_capacity(body.len());
                let mut at = 0;
                for part in parts.iter().filter(|p| p.name == name) {
                    kept.extend_from_slice(&body[at..part.span.start]);
                    at = part.span.end;
                }
                kept.extend_from_slice(&body[at..]);
                Some(kept.into())
            }
        }
    }
}

/// A header name with `_` as `-` (nginx's `ngx.var.http_*` / `ngx.req.get_headers` view).
pub(crate) fn dashed(name: &str) -> Cow<'_, str> {
    if name.contains('_') {
        Cow::Owned(name.replace('_', "-"))
    } else {
        Cow::Borrowed(name)
    }
}

/// A header name with `-` as `_` (the other spelling nginx's `$http_*` matches).
fn underscored(name: &str) -> Cow<'_, str> {
    if name.contains('-') {
        Cow::Owned(name.replace('-', "_"))
    } else {
        Cow::Borrowed(name)
    }
}

/// One cookie header line, as `ngx_http_parse_multi_header_lines` walks it.
fn cookie_in<'a>(line: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let mut at = 0;
    while at < line.len() {
        let rest = &line[at..];
        if rest.len() >= name.len() && rest[..name.len()].eq_ignore_ascii_case(name) {
            let mut i = at + name.len();
            while line.get(i) == Some(&b' ') {
                i += 1;
            }
            if line.get(i) == Some(&b'=') {
                i += 1;
                while line.get(i) == Some(&b' ') {
                    i += 1;
                }
                let end = line[i..]
                    .iter()
                    .position(|&b| b == b';')
                    .map_or(line.len(), |p| i + p);
                return Some(&line[i..end]);
            }
            at = i;
        }
        // skip: past the next ';' or ',', then spaces.
        while at < line.len() {
            let b = line[at];
            at += 1;
            if b == b';' || b == b',' {
                break;
            }
        }
        while line.get(at) == Some(&b' ') {
            at += 1;
        }
    }
    None
}

/// Whether each urlencoded pair (in `form_urlencoded::parse` order) had no `=` (a Lua `true`).
fn form_flags(body: &[u8]) -> impl Iterator<Item = bool> + '_ {
    body.split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| !pair.contains(&b'='))
}

/// The Lua value of `name` among `(key, value)` pairs (`None` value = a flag): one value, or a
/// table when repeated.
fn collect_arg<'k>(
    pairs: impl Iterator<Item = (Cow<'k, str>, Option<String>)>,
    name: &str,
) -> Option<Arg> {
    let mut found: Option<Arg> = None;
    for (key, value) in pairs {
        if key != name {
            continue;
        }
        found = Some(match (found, value) {
            (None, None) => Arg::Flag,
            (None, Some(v)) => Arg::Text(v),
            (Some(previous), value) => {
                let mut items = match previous {
                    Arg::Text(v) => vec![v],
                    Arg::Table(items) => items,
                    _ => Vec::new(),
                };
                items.extend(value);
                Arg::Table(items)
            }
        });
    }
    found
}

/// Arguments as the JSON of the Lua table Kong builds of them: `None` values (flags) are `true`,
/// a repeated name an array of its values in order.
fn lua_table(pairs: impl Iterator<Item = (String, Option<String>)>) -> Value {
    let mut table = serde_json::Map::new();
    for (key, value) in pairs {
        let value = value.map_or(Value::Bool(true), Value::String);
        match table.get_mut(&key) {
            None => {
                table.insert(key, value);
            }
            Some(Value::Array(items)) => items.push(value),
            Some(previous) => {
                let first = previous.take();
                *previous = Value::Array(vec![first, value]);
            }
        }
    }
    Value::Object(table)
}

/// A top-level JSON object member as a Lua value (`null` is absent).
fn json_arg(body: &[u8], name: &str) -> Option<Arg> {
    let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(body) else {
        return None;
    };
    match object.remove(name)? {
        Value::Null => None,
        Value::Bool(true) => Some(Arg::Flag),
        Value::Bool(false) => Some(Arg::False),
        Value::Number(_) => Some(Arg::Number),
        Value::String(s) => Some(Arg::Text(s)),
        Value::Array(items) => Some(Arg::Table(
            items
                .into_iter()
                .filter_map(|v| match v {
                    Value::String(s) => Some(s),
                    _ => None,
                })
                .collect(),
        )),
        Value::Object(_) => Some(Arg::Table(Vec::new())),
    }
}

/// A `multipart/form-data` part with a `name`.
struct Part {
    name: String,
    value: String,
    /// From its `--boundary` line to the next one: what to cut to remove it.
    span: std::ops::Range<usize>,
}

/// The named parts of a multipart body (RFC 7578), at most [`MAX_BODY_ARGS`]; parsing stops at
/// the first malformed part.
fn multipart_parts(body: &[u8], boundary: &str) -> Vec<Part> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let mut parts = Vec::new();
    let Some(mut at) = find(body, delimiter) else {
        return parts;
    };
    while parts.len() < MAX_BODY_ARGS {
        let start = at;
        let after = at + delimiter.len();
        if body[after..].starts_with(b"--") {
            break;
        }
        let Some(eol) = find(&body[after..], b"\r\n") else {
            break;
        };
        let head_start = after + eol + 2;
        let (headers, content_start) = if body[head_start..].starts_with(b"\r\n") {
            (&body[head_start..head_start], head_start + 2)
        } else {
            match find(&body[head_start..], b"\r\n\r\n") {
                Some(end) => (&body[head_start..head_start + end], head_start + end + 4),
                None => break,
            }
        };
        let Some(len) = find_delimiter(&body[content_start..], delimiter) else {
            break;
        };
        let content_end = content_start + len;
        let next = content_end + 2;
        if let Some(name) = disposition_name(headers) {
            parts.push(Part {
                name,
                value: String::from_utf8_lossy(&body[content_start..content_end]).into_owned(),
                span: start..next,
            });
        }
        at = next;
    }
    parts
}

/// Where `\r\n--boundary` starts in `content`.
fn find_delimiter(content: &[u8], delimiter: &[u8]) -> Option<usize> {
    let mut from = 0;
    loop {
        let i = from + find(&content[from..], delimiter)?;
        if i >= 2 && &content[i - 2..i] == b"\r\n" {
            return Some(i - 2);
        }
        from = i + 1;
    }
}

/// `name="…"` of a part's `Content-Disposition: form-data` header.
fn disposition_name(headers: &[u8]) -> Option<String> {
    let headers = std::str::from_utf8(headers).ok()?;
    let line = headers.split("\r\n").find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-disposition")
            .then_some(value)
    })?;
    line.split(';').skip(1).find_map(|param| {
        let (key, value) = param.split_once('=')?;
        (key.trim().eq_ignore_ascii_case("name")).then(|| value.trim().trim_matches('"').to_owned())
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}
