//! The Admin API's query string and path, read as Kong reads them: `?size=&offset=` paging with
//! Kong's `invalid size` / `invalid offset` errors (`kong/api/endpoints.lua` `get_page_size`,
//! `kong/db/dao/init.lua` `validate_size_value`, `kong/db/strategies/off` `page`), at most
//! [`MAX_ARGS`](super::form::MAX_ARGS) query arguments (`Too many arguments`,
//! `spec/02-integration/04-admin_api/24-truncated_arguments_spec.lua`), and path segments whose
//! rejection is Kong's JSON, not axum's plain text. Runs before every Admin API handler.

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use super::AdminError;
use super::form::MAX_ARGS;

/// Kong's default page size (`pg_page_size`/`off` strategy default).
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// Kong's largest page (`kong/db/dao/init.lua`, `validate_size_value`).
pub const MAX_PAGE_SIZE: usize = 1000;
/// `kong/api/endpoints.lua` `get_page_size`: a size that is not a number.
pub const SIZE_NOT_A_NUMBER: &str = "size must be a number";
/// `kong/db/dao/init.lua` `validate_size_value`: a size out of range or not whole.
pub const SIZE_OUT_OF_RANGE: &str = "size must be an integer between 1 and 1000";
/// The reason in Kong's `'<offset>' is not a valid offset: <reason>` (`kong/db/strategies/off`).
pub const OFFSET_INVALID: &str = "invalid offset";

/// `?size=&offset=` paging, checked: `size` in 1..=1000, `offset` a position this gateway gave out;
/// and the `?tags=` filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Items per page.
    pub size: usize,
    /// Index of the first item.
    pub offset: usize,
    /// `?tags=`: only items carrying them.
    pub tags: Option<TagFilter>,
}

impl Default for Page {
    fn default() -> Self {
        Self {
            size: DEFAULT_PAGE_SIZE,
            offset: 0,
            tags: None,
        }
    }
}

/// `?tags=a,b` (every tag) or `?tags=a/b` (any tag), as `kong/api/endpoints.lua` lines 42-50 and
/// 158-183 read it and `kong/db/dao/init.lua` lines 207-222 check it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagFilter {
    /// The value as given, for the `next` link.
    pub raw: String,
    pub tags: Vec<String>,
    /// `and` (`,`) rather than `or` (`/`).
    pub all: bool,
}

impl TagFilter {
    /// Reads a `tags` argument; Kong's `invalid options` error (code 11) when it cannot.
    pub fn parse(raw: &str) -> Result<Self, AdminError> {
        let invalid = |reason: &str| {
            AdminError::Body(serde_json::json!({
                "code": 11,
                "name": "invalid options",
                "message": format!("invalid option (tags: {reason})"),
                "options": { "tags": reason },
            }))
        };
        if raw.is_empty() {
            return Err(invalid("cannot be null"));
        }
        // Kong's tag bytes: printable ASCII but `,` and `/`, and UTF-8 (`TAGS_AND_REGEX`).
        let split = |sep: char| -> Option<Vec<String>> {
            let body = raw.strip_suffix(sep).unwrap_or(raw);
            let parts: Vec<String> = body.split(sep).map(str::to_owned).collect();
            let ok = parts.iter().all(|p| {
                !p.is_empty()
                    && p.chars().all(|c| {
                        c == ' ' || (c.is_ascii_graphic() && c != ',' && c != '/') || !c.is_ascii()
                    })
            });
            ok.then_some(parts)
        };
        let (tags, all) = if let Some(tags) = split(',') {
            (tags, true)
        } else if let Some(tags) = split('/') {
            (tags, false)
        } else {
            return Err(invalid("invalid filter syntax"));
        };
        if tags.len() > 5 {
            return Err(invalid("cannot query more than 5 tags"));
        }
        Ok(Self {
            raw: raw.to_owned(),
            tags,
            all,
        })
    }

    /// Whether an entity (its JSON, with a `tags` array or none) passes the filter
    /// (`kong/db/strategies/off/init.lua` `matches_condition`).
    pub fn matches(&self, item: &serde_json::Value) -> bool {
        let Some(have) = item.get("tags").and_then(serde_json::Value::as_array) else {
            return false;
        };
        let has = |t: &String| have.iter().any(|h| h.as_str() == Some(t.as_str()));
        if self.all {
            self.tags.iter().all(has)
        } else {
            self.tags.iter().any(has)
        }
    }
}

impl Page {
    /// Reads `size` and `offset` from a raw query string (the first of repeated keys counts).
    pub fn from_query(query: &str) -> Result<Self, AdminError> {
        let mut size = None;
        let mut offset = None;
        let mut tags = None;
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            match key.as_ref() {
                "size" if size.is_none() => size = Some(value.into_owned()),
                "offset" if offset.is_none() => offset = Some(value.into_owned()),
                "tags" if tags.is_none() => tags = Some(value.into_owned()),
                _ => {}
            }
        }
        let mut page = Self::default();
        if let Some(size) = size {
            page.size = parse_size(&size)?;
        }
        if let Some(tags) = tags {
            page.tags = Some(TagFilter::parse(&tags)?);
        }
        if let Some(offset) = offset {
            page.offset = offset.parse().map_err(|_| AdminError::Kong {
                code: 7,
                name: "invalid offset",
                message: format!("'{offset}' is not a valid offset: {OFFSET_INVALID}"),
            })?;
        }
        Ok(page)
    }
}

/// Lua's `tonumber` then Kong's range check: `"abc"` is not a number, `"0"`, `"1.5"` and
/// `"1001"` are out of range.
fn parse_size(text: &str) -> Result<usize, AdminError> {
    let invalid = |message: &str| AdminError::Kong {
        code: 9,
        name: "invalid size",
        message: message.to_owned(),
    };
    let number: f64 = text
        .trim()
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite())
        .ok_or_else(|| invalid(SIZE_NOT_A_NUMBER))?;
    if number.fract() != 0.0 || !(1.0..=MAX_PAGE_SIZE as f64).contains(&number) {
        return Err(invalid(SIZE_OUT_OF_RANGE));
    }
    // In 1..=1000 and whole: the cast is exact.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(number as usize)
}

impl<S: Send + Sync> FromRequestParts<S> for Page {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AdminError> {
        Self::from_query(parts.uri.query().unwrap_or_default())
    }
}

/// Path parameters, with a rejection rendered as Kong's JSON (`{"message": ...}`).
pub struct AdminPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for AdminPath<T> {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AdminError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Self(v))
            .map_err(|e| AdminError::BadRequest(e.body_text()))
    }
}

/// Kong's `Kong.admin_header_filter` (`kong/init.lua` lines 1907-1939): `X-Kong-Admin-Latency` and
/// `Server` on every Admin API response, as the `headers` setting allows.
pub async fn kong_headers(
    axum::extract::State(shared): axum::extract::State<std::sync::Arc<crate::state::Shared>>,
    req: Request,
    next: Next,
) -> Response {
    let start = std::time::Instant::now();
    let mut resp = next.run(req).await;
    shared.headers.admin(resp.headers_mut(), start);
    resp
}

/// Middleware: more than [`MAX_ARGS`] query arguments get Kong's 400 `Too many arguments`.
pub async fn limit_arguments(req: Request, next: Next) -> Response {
    let query = req.uri().query().unwrap_or_default();
    if form_urlencoded::parse(query.as_bytes())
        .nth(MAX_ARGS)
        .is_some()
    {
        return AdminError::BadRequest("Too many arguments".to_owned()).into_response();
    }
    next.run(req).await
}
