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

    /// `kong.service.request.clear_header(name)`, by the name rules of [`Ctx::header`].
    pub fn clear_header(&mut self, name: &str) {
        self.request
            .headers
            .remove(super::request::dashed(name).as_ref());
    }

    /// Removes a query argument from the upstream URI.
    pub fn remove_query_arg(&mut self, name: &str) {
        let Some(query) = self.request.uri.query() else {
            return;
        };
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| {
                let key = pair.split('=').next().unwrap_or_default();
                !pair.is_empty() && super::decode_component(key) != name
            })
            .collect();
        let path = self.request.uri.path();
        let new = if kept.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{}", kept.join("&"))
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
