//! The lua-resty-session v4 cookie codec: pure functions (no I/O, no clock: the time is always passed
//! in, no storage) that turn a session's JSON into cookie text and back. It runs inside
//! [`Session`](super::Session)'s `open`, `save` and `touch`, once per request with a session cookie.
//!
//! # Wire format
//! As resty-session@4.0.5 defines it (`lib/resty/session.lua` lines 69-112 for the header layout and
//! flags, lines 436-813 for `open`, 816-1147 for `save`; `lib/resty/session/utils.lua` for the key
//! derivation).
//!
//! **Cookie layout.** The cookie value is `base64url(header)` (always 110 characters) followed by
//! `base64url(ciphertext)`, or the header alone when the data lives in server-side storage (STORAGE
//! flag). base64url is unpadded, as `ngx.base64.encode_base64url` writes it. Past 4096 bytes the value
//! is split over `<name>`, `<name>2` … `<name>9` (`calculate_cookie_chunks`, lines 253-273): see
//! [`cookie_chunks`].
//!
//! **Header fields**, all integers little-endian (`utils.bpack`):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | type, always 1 |
//! | 1 | 2 | flags: STORAGE 0x0001, FORGET 0x0002, DEFLATE 0x0010 |
//! | 3 | 32 | session id (random) |
//! | 35 | 5 | creation time (unix seconds) |
//! | 40 | 4 | rolling offset (seconds from creation to the last save) |
//! | 44 | 3 | data size = length of the base64url ciphertext |
//! | 47 | 16 | AES-256-GCM tag (AAD = bytes 0..47) |
//! | 63 | 3 | idling offset (seconds from creation + rolling offset to the last touch) |
//! | 66 | 16 | MAC = HMAC-SHA256(mac key, bytes 0..66), first 16 bytes |
//!
//! **Key derivation.** `ikm = SHA-256(secret)` (`session.new`, line 2560), `prk = HKDF-Extract(salt =
//! "", ikm)` (`utils.lua` lines 457-466); per session id `HKDF-Expand(prk, "encryption:" ‖ sid, 44)`
//! gives the AES key (32) and IV (12), and `HKDF-Expand(prk, "authentication:" ‖ sid, 32)` the MAC key.
//! A remember cookie derives its AES key and IV with PBKDF2-HMAC-SHA256 (10 000 iterations,
//! `remember_safety = "Medium"`, `utils.lua` lines 601-619) instead; its MAC key is the same HKDF one.
//!
//! # The parts, one job each
//! * `keys`: key material ([`SessionKey`]), derivation, and the bounded cache of derived keys
//!   ([`KeyCache`]), which is keyed by content so it can outlive a plugin configuration;
//! * `header`: the 82-byte header, encoded and decoded, and the field and timeout checks of `open`;
//! * `seal`: AES-256-GCM seal and open, the header MAC, compression;
//! * `cookies`: chunking, building `Set-Cookie` values, reading the request's `Cookie` header;
//! * this module: base64url as nginx does it, and the storage key of a session id.

mod cookies;
mod header;
mod keys;
mod seal;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use ring::digest;

pub use cookies::{
    COOKIE_EXPIRE_FLAGS, CookiePayload, MAX_COOKIE_SIZE, MAX_COOKIES, MAX_COOKIES_SIZE,
    SessionCookies, cookie_chunks, cookie_payload, expired_cookie, merge_set_cookie,
    request_cookie, session_cookies,
};
pub(crate) use header::check_times;
pub use header::{
    COOKIE_TYPE, FLAG_DEFLATE, FLAG_FORGET, FLAG_STORAGE, HEADER_ENCODED_SIZE, HEADER_MAC_SIZE,
    HEADER_SIZE, HEADER_TAG_SIZE, HEADER_TOUCH_SIZE, Header, HeaderCheck, MAX_CREATION_TIME,
    MAX_DATA_SIZE, MAX_IDLING_OFFSET, MAX_ROLLING_OFFSET, SID_SIZE,
};
pub use keys::{
    CookieKind, DerivedKeys, KEY_CACHE_CAPACITY, KeyCache, KeyError, REMEMBER_PBKDF2_ITERATIONS,
    SessionKey,
};
pub use seal::{
    MAX_INFLATED_SIZE, PreparedPlaintext, SealParams, Sealed, VerifiedHeader, decode_payload,
    decrypt, deflate, inflate, prepare_plaintext, seal, seal_prepared, touch_header, verify_header,
};

/// 400 days: the longest cookie `Max-Age` and storage TTL resty uses (`MAX_TTL`).
pub const MAX_TTL: u64 = 34_560_000;

/// base64url without padding, like `ngx.base64.encode_base64url`. Decoding accepts non-zero trailing
/// bits, as nginx does.
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(true),
);

/// `ngx.base64.encode_base64url`.
pub fn encode_base64url(bytes: &[u8]) -> String {
    BASE64URL.encode(bytes)
}

/// `ngx.base64.decode_base64url` (nginx `ngx_decode_base64url`): decoding stops at the first `=`
/// (whatever follows is ignored), any other character outside `A-Z a-z 0-9 - _` fails, a length of
/// `4n + 1` fails, and non-zero trailing bits are accepted.
pub fn decode_base64url(text: &[u8]) -> Option<Vec<u8>> {
    let end = text.iter().position(|&b| b == b'=').unwrap_or(text.len());
    BASE64URL.decode(&text[..end]).ok()
}

/// `ceil(4 * n / 3)`: the length of `n` bytes in unpadded base64.
pub const fn base64_size(n: usize) -> usize {
    (4 * n).div_ceil(3)
}

/// The storage key of a session id: `base64url(sid)`, or `base64url(SHA-256(sid))` with
/// `hash_storage_key` (resty `sha256_storage_key`).
pub fn storage_key(sid: &[u8; SID_SIZE], hash_storage_key: bool) -> String {
    if hash_storage_key {
        encode_base64url(digest::digest(&digest::SHA256, sid).as_ref())
    } else {
        encode_base64url(sid)
    }
}
