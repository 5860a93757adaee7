//! The request path as Kong routes and forwards it (`kong/tools/uri.lua` `normalize` and `escape`, called
//! with `merge_slashes = true` by the router): percent-encoded triplets are decoded unless they stand for a
//! reserved character (`!*'();:@&=+$,/?%#[]`, which keep their meaning and are only upper-cased), dot segments
//! are removed (`/a/./b/../c` → `/a/c`; `%2e` counts as a dot once decoded), repeated slashes are merged, and
//! what is not safe in a request line is percent-encoded again.
//!
//! Runs once per request, before the router, and the result replaces the request's path, so the path a route
//! is matched on is the path the upstream receives: `/pub/../priv` cannot match an open `/pub` route and then
//! reach `/priv` upstream. A double-encoded `%252e` is a literal segment here (`%25` is reserved) and is
//! forwarded as such.

use std::borrow::Cow;

/// True when every `%` in `path` starts a `%XX` triplet. nginx refuses any other request with 400
/// (`ngx_http_parse_complex_uri`), so Kong never sees one; refusing it here also means a stray `%` cannot pair
/// with decoded hex digits (`%%32e` → `%2e`) into a new escape that an upstream would decode again.
pub fn escapes_are_valid(path: &str) -> bool {
    let bytes = path.as_bytes();
    bytes.iter().enumerate().all(|(i, &b)| {
        b != b'%'
            || (bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    })
}

/// Reserved characters: their percent-encodings are never decoded (`RESERVED_CHARS` in `kong/tools/uri.lua`).
const RESERVED: &[u8] = b"!*'();:@&=+$,/?%#[]";

/// True for bytes `escape` leaves alone (the complement of `ESCAPE_PATTERN` in `kong/tools/uri.lua`).
fn is_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$&'()*+,/:;=?@[]-_.~%".contains(&b)
}

/// Kong's `normalize(path, true)` followed by `escape`: the path to route on and to forward.
pub fn normalize(path: &str) -> Cow<'_, str> {
    let bytes = path.as_bytes();
    let needs_work = bytes.iter().any(|&b| b == b'%' || !is_safe(b))
        || path.contains("//")
        || has_dot_segment(bytes);
    if !needs_work || path.is_empty() || path == "/" {
        return Cow::Borrowed(path);
    }
    let decoded = decode_unreserved(bytes);
    let resolved = remove_dot_segments(&decoded);
    Cow::Owned(escape(&resolved))
}

/// True when a segment is `.` or `..` (a relative path starting with a dot counts too).
fn has_dot_segment(bytes: &[u8]) -> bool {
    let is_end = |i: usize| bytes.get(i).is_none_or(|&b| b == b'/');
    (0..bytes.len()).any(|i| {
        (i == 0 || bytes[i - 1] == b'/')
            && bytes[i] == b'.'
            && (is_end(i + 1) || (bytes[i + 1] == b'.' && is_end(i + 2)))
    })
}

/// Decodes `%XX` unless `XX` is a reserved character; those triplets are upper-cased.
fn decode_unreserved(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%'
            && let Some(value) = input
                .get(i + 1..i + 3)
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            if RESERVED.contains(&value) {
                out.push(b'%');
                out.extend(input[i + 1..i + 3].iter().map(u8::to_ascii_uppercase));
            } else {
                out.push(value);
            }
            i += 3;
            continue;
        }
        out.push(input[i]);
        i += 1;
    }
    out
}

/// RFC 3986 §5.2.4 dot-segment removal with slash merging, as `kong/tools/uri.lua` does it.
fn remove_dot_segments(mut input: &[u8]) -> Vec<u8> {
    let mut segments: Vec<&[u8]> = Vec::new();
    while !input.is_empty() {
        match input {
            b"/." => input = b"/",
            b"/.." => {
                segments.pop();
                input = b"/";
            }
            b"." | b".." => input = b"",
            [b'.', b'.', b'/', rest @ ..] | [b'.', b'/', rest @ ..] => input = rest,
            [b'/', b'.', b'/', ..] => input = &input[2..],
            [b'/', b'.', b'.', b'/', ..] => {
                segments.pop();
                input = &input[3..];
            }
            [b'/', b'/', ..] => input = &input[1..],
            _ => {
                let end = input
                    .iter()
                    .skip(1)
                    .position(|&b| b == b'/')
                    .map_or(input.len(), |p| p + 1);
                segments.push(&input[..end]);
                input = &input[end..];
            }
        }
    }
    segments.concat()
}

/// Percent-encodes every byte that is not safe in a request line (upper-case hex, as Kong's `escape`).
fn escape(input: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(input.len());
    for &b in input {
        if is_safe(b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests;
