//! Session cookies on the wire (resty-session@4.0.5 `lib/resty/session.lua`): how many cookies a
//! value needs (`calculate_cookie_chunks`, lines 253-273), the `Set-Cookie` values `save` and `destroy`
//! write (lines 985-1049, 1188-1250), `merge_cookies` (lines 276-309), and reading a cookie from the
//! request's `Cookie` header as nginx's `$cookie_<name>` does (line 446).
//!
//! When it runs: reading on every request with a session cookie; building whenever a session is
//! saved, touched or destroyed. Only text here: what is in the cookie is the `header` and `seal`
//! modules' business.

use std::borrow::Cow;

use super::header::HEADER_ENCODED_SIZE;
use crate::resty_session::error::{OpenError, SessionError};

/// Largest cookie resty writes, name and `=` included.
pub const MAX_COOKIE_SIZE: usize = 4096;
/// Most cookies one session is split over (`<name>`, `<name>2` … `<name>9`).
pub const MAX_COOKIES: usize = 9;
/// `MAX_COOKIES * MAX_COOKIE_SIZE`.
pub const MAX_COOKIES_SIZE: usize = MAX_COOKIES * MAX_COOKIE_SIZE;
/// What `destroy` appends to the cookie attributes (resty-session@4.0.5 line 169).
pub const COOKIE_EXPIRE_FLAGS: &str = "; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0";

/// How many cookies a value needs (resty `calculate_cookie_chunks`, lines 253-273); `None` means
/// `cookie size limit exceeded`.
pub fn cookie_chunks(name_len: usize, data_size: usize) -> Option<usize> {
    let mut space_needed = name_len + 1 + HEADER_ENCODED_SIZE + data_size;
    if space_needed > MAX_COOKIES_SIZE {
        return None;
    }
    if space_needed <= MAX_COOKIE_SIZE {
        return Some(1);
    }
    for i in 2..=MAX_COOKIES {
        space_needed += name_len + 2;
        if space_needed > MAX_COOKIES_SIZE {
            return None;
        } else if space_needed <= MAX_COOKIE_SIZE * i {
            return Some(i);
        }
    }
    None
}

/// The Set-Cookie values of a saved session, and what went into the first cookie after the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionCookies {
    /// `(cookie name, full Set-Cookie value)`, first cookie first.
    pub cookies: Vec<(String, String)>,
    /// The payload part of the first cookie (`None` with server-side storage).
    pub initial_chunk: Option<String>,
}

/// Builds `name=<header><payload><attributes><extra>` and, past 4096 bytes, the chunk cookies
/// `<name>2` … (resty `save`, lines 985-1049). `payload` is `None` with server-side storage; `extra` is
/// the remember cookie's `; Expires=…; Max-Age=…` or empty.
pub fn session_cookies(
    name: &str,
    header_b64: &str,
    payload: Option<&str>,
    attributes: &str,
    extra: &str,
) -> Result<SessionCookies, SessionError> {
    let Some(payload) = payload else {
        return Ok(SessionCookies {
            cookies: vec![(
                name.to_owned(),
                format!("{name}={header_b64}{attributes}{extra}"),
            )],
            initial_chunk: None,
        });
    };
    let chunks = cookie_chunks(name.len(), payload.len()).ok_or(SessionError::CookieSizeLimit)?;
    if chunks == 1 {
        return Ok(SessionCookies {
            cookies: vec![(
                name.to_owned(),
                format!("{name}={header_b64}{payload}{attributes}{extra}"),
            )],
            initial_chunk: Some(payload.to_owned()),
        });
    }
    let mut rest = payload;
    let first_len = (MAX_COOKIE_SIZE - HEADER_ENCODED_SIZE - name.len() - 1).min(rest.len());
    let (first, tail) = rest.split_at(first_len);
    rest = tail;
    let mut cookies = Vec::with_capacity(chunks);
    cookies.push((
        name.to_owned(),
        format!("{name}={header_b64}{first}{attributes}{extra}"),
    ));
    for i in 2..=chunks {
        let len = (MAX_COOKIE_SIZE - name.len() - 2).min(rest.len());
        let (chunk, tail) = rest.split_at(len);
        rest = tail;
        let chunk_name = format!("{name}{i}");
        let value = format!("{chunk_name}={chunk}{attributes}{extra}");
        cookies.push((chunk_name, value));
    }
    Ok(SessionCookies {
        cookies,
        initial_chunk: Some(first.to_owned()),
    })
}

/// `name=<attributes>; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0`.
pub fn expired_cookie(name: &str, attributes: &str) -> String {
    format!("{name}={attributes}{COOKIE_EXPIRE_FLAGS}")
}

/// resty `merge_cookies`: replace the first Set-Cookie value that starts with `name=`, else append.
pub fn merge_set_cookie(set_cookies: &mut Vec<String>, name: &str, value: String) {
    let existing = set_cookies.iter_mut().find(|cookie| {
        cookie.len() > name.len()
            && cookie.as_bytes()[name.len()] == b'='
            && cookie.starts_with(name)
    });
    match existing {
        Some(slot) => *slot = value,
        None => set_cookies.push(value),
    }
}

/// nginx `$cookie_<name>` (`ngx_http_parse_multi_header_lines`): the value of the first cookie whose
/// name matches **case-insensitively**, spaces around `=` skipped, up to the next `;` (a `,` also
/// separates cookies, and trailing spaces stay in the value). `Some("")` for `name=`.
pub fn request_cookie<'a>(cookie_header: &'a str, name: &str) -> Option<&'a str> {
    let bytes = cookie_header.as_bytes();
    let name = name.as_bytes();
    let end = bytes.len();
    if name.len() > end {
        return None;
    }
    let mut start = 0;
    while start < end {
        let matches = bytes
            .get(start..start + name.len())
            .is_some_and(|candidate| candidate.eq_ignore_ascii_case(name));
        if matches {
            start += name.len();
            while start < end && bytes[start] == b' ' {
                start += 1;
            }
            if start < end && bytes[start] == b'=' {
                start += 1;
                while start < end && bytes[start] == b' ' {
                    start += 1;
                }
                // memchr: a session cookie is kilobytes long, and this runs on every request.
                let last = memchr::memchr(b';', &bytes[start..]).map_or(end, |at| start + at);
                // `start` and `last` sit next to ASCII bytes, so both are char boundaries.
                return cookie_header.get(start..last);
            }
        }
        // skip to the next cookie
        start = memchr::memchr2(b';', b',', &bytes[start..]).map_or(end, |at| start + at + 1);
        while start < end && bytes[start] == b' ' {
            start += 1;
        }
    }
    None
}

/// The ciphertext text of a cookie-stored session, and the part of it that sits in the first cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookiePayload<'a> {
    /// The base64url ciphertext (chunks joined).
    pub ciphertext: Cow<'a, [u8]>,
    /// What follows the header in the first cookie; `touch` writes it back unchanged.
    pub initial_chunk: &'a [u8],
}

/// Finds the ciphertext of a cookie-stored session (resty `open`, lines 671-701).
///
/// With one cookie the payload is the **last `data_size` characters** of the value (so characters
/// between header and payload are ignored); with several, it is everything after the header followed by
/// the values of `<name>2` … `<name>N` from `cookie_header`.
pub fn cookie_payload<'a>(
    cookie_header: &'a str,
    name: &str,
    value: &'a str,
    data_size: usize,
) -> Result<CookiePayload<'a>, OpenError> {
    let value = value.as_bytes();
    let chunks = cookie_chunks(name.len(), data_size).ok_or(OpenError::CookieSizeLimit)?;
    if chunks == 1 {
        // Lua `sub(cookie, -data_size)`: the whole value when data_size is 0 or longer than it.
        let start = if data_size == 0 || data_size >= value.len() {
            0
        } else {
            value.len() - data_size
        };
        let payload = &value[start..];
        return Ok(CookiePayload {
            ciphertext: Cow::Borrowed(payload),
            initial_chunk: payload,
        });
    }
    let initial_chunk = value.get(HEADER_ENCODED_SIZE..).unwrap_or_default();
    let mut joined = Vec::with_capacity(data_size);
    joined.extend_from_slice(initial_chunk);
    let mut chunk_name = String::with_capacity(name.len() + 1);
    for i in 2..=chunks {
        chunk_name.clear();
        chunk_name.push_str(name);
        chunk_name.push_str(&i.to_string());
        let chunk = request_cookie(cookie_header, &chunk_name).ok_or(OpenError::MissingChunk)?;
        joined.extend_from_slice(chunk.as_bytes());
    }
    Ok(CookiePayload {
        ciphertext: Cow::Owned(joined),
        initial_chunk,
    })
}
