//! `kong.service.request`: changes plugins make to the request as it goes upstream, in the access
//! phase (`kong/pdk/service/request.lua`).

use bytes::Bytes;
use http::header::CONTENT_LENGTH;
use http::{HeaderName, HeaderValue};

use super::{Ctx, RequestBody};

impl Ctx {
    /// Sets an upstream request header, or clears it when `value` is `None` or not a valid header
    /// value.
    pub fn set_upstream_header(&mut self, name: HeaderName, value: Option<&str>) {
        match value.and_then(|v| HeaderValue::from_str(v).ok()) {
            Some(v) => {
                self.request.headers.insert(name, v);
            }
            None => {
                self.request.headers.remove(name);
            }
        }
    }

    /// `kong.service.request.clear_header(name)` (`ngx.req.clear_header`): removes the headers named
    /// `name`, compared case-insensitively and byte for byte (lua-nginx-module
    /// `ngx_http_lua_set_input_header` makes no `_`/`-` equivalence here, unlike the readers).
    pub fn clear_header(&mut self, name: &str) {
        self.request.headers.remove(name);
    }

    /// `kong.service.request.clear_query_arg(name)` (`kong/pdk/service/request.lua`): the query is
    /// parsed as WHATWG `URLSearchParams` do, every argument named `name` (after decoding) removed,
    /// and the rest serialized again in their order (`resty.ada.search.remove`), with `+` then
    /// written `%20`. So the remaining arguments reach the upstream re-encoded:
    /// `c=valu%651&apikey=k&a=b` becomes `c=value1&a=b`.
    pub fn clear_query_arg(&mut self, name: &str) {
        let Some(query) = self.request.uri.query().filter(|q| !q.is_empty()) else {
            return;
        };
        let kept = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form_urlencoded::parse(query.as_bytes()).filter(|(k, _)| k != name))
            .finish()
            .replace('+', "%20");
        let path = self.request.uri.path();
        let new = if kept.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{kept}")
        };
        if let Ok(uri) = new.parse() {
            self.request.uri = uri;
        }
    }

    /// `kong.service.request.set_body`: replaces the body sent upstream.
    pub fn set_body(&mut self, body: Bytes) {
        self.request
            .headers
            .insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
        self.body = RequestBody::Buffered(body);
    }

    /// Removes the body argument `name` before the body goes upstream (urlencoded, JSON or
    /// multipart; a body too large to read is left as it is).
    pub async fn remove_body_arg(&mut self, name: &str) {
        if let Some(body) = self.body_without_arg(name).await {
            self.set_body(body);
        }
    }
}
