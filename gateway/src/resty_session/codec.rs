//! The lua-resty-session v4 cookie codec: keys, the 82-byte header, seal, open, touch and cookie
//! chunking. Pure functions — no I/O, no clock (the time is always passed in), no storage.
//!
//! Wire format (resty-session@4.0.5 `lib/resty/session.lua` lines 69-112, `utils.lua`): the cookie value is
//! `base64url(header)` (always 110 characters) followed by `base64url(ciphertext)`, or the header alone
//! when the data lives in server-side storage (STORAGE flag). The header, all integers little-endian:
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
//! Keys: `ikm = SHA-256(secret)`, `prk = HKDF-Extract(salt = "", ikm)`; per session id
//! `HKDF-Expand(prk, "encryption:" ‖ sid, 44)` gives the AES key (32) and IV (12), and
//! `HKDF-Expand(prk, "authentication:" ‖ sid, 32)` the MAC key. A remember cookie derives its AES key and
//! IV with PBKDF2-HMAC-SHA256 (10 000 iterations) instead; its MAC key is the same HKDF one.
//!
//! Derived keys are cached per session id ([`SessionKey::keys`]), and a key set only enters the cache
//! once a header MAC made with it has been verified, so random session ids sent by a client cannot churn
//! the cache.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::io::Read as _;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use ring::{aead, digest, hkdf, hmac, pbkdf2};
use subtle::ConstantTimeEq as _;

use super::error::{OpenError, SessionError};

/// Header size in bytes.
pub const HEADER_SIZE: usize = 82;
/// Header size once base64url encoded (`ceil(82 * 4 / 3)`).
pub const HEADER_ENCODED_SIZE: usize = 110;
/// Bytes of the header covered by the AES-GCM additional data (type … data size).
pub const HEADER_TAG_SIZE: usize = 47;
/// Bytes of the header kept by `touch` (everything before the idling offset).
pub const HEADER_TOUCH_SIZE: usize = 63;
/// Bytes of the header covered by the MAC.
pub const HEADER_MAC_SIZE: usize = 66;
/// Session id size.
pub const SID_SIZE: usize = 32;
/// The only cookie type.
pub const COOKIE_TYPE: u8 = 1;

/// Flag: the ciphertext is in server-side storage, the cookie holds only the header.
pub const FLAG_STORAGE: u16 = 0x0001;
/// Flag: the user asked not to be remembered.
pub const FLAG_FORGET: u16 = 0x0002;
/// Flag: the plaintext is raw-DEFLATE compressed.
pub const FLAG_DEFLATE: u16 = 0x0010;

/// Largest cookie resty writes, name and `=` included.
pub const MAX_COOKIE_SIZE: usize = 4096;
/// Most cookies one session is split over (`<name>`, `<name>2` … `<name>9`).
pub const MAX_COOKIES: usize = 9;
/// `MAX_COOKIES * MAX_COOKIE_SIZE`.
pub const MAX_COOKIES_SIZE: usize = MAX_COOKIES * MAX_COOKIE_SIZE;
/// 5 bytes of creation time.
pub const MAX_CREATION_TIME: u64 = (1 << 40) - 1;
/// 4 bytes of rolling offset; also the longest a session may live at all.
pub const MAX_ROLLING_OFFSET: u64 = (1 << 32) - 1;
/// 3 bytes of idling offset.
pub const MAX_IDLING_OFFSET: u64 = (1 << 24) - 1;
/// 3 bytes of data size.
pub const MAX_DATA_SIZE: usize = (1 << 24) - 1;
/// 400 days: the longest cookie `Max-Age` and storage TTL resty uses.
pub const MAX_TTL: u64 = 34_560_000;
/// PBKDF2 iterations of a remember cookie's key (`remember_safety = "Medium"`, the library default
/// that Kong keeps).
pub const REMEMBER_PBKDF2_ITERATIONS: u32 = 10_000;
/// What `destroy` appends to the cookie attributes (resty-session@4.0.5 line 169).
pub const COOKIE_EXPIRE_FLAGS: &str = "; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0";

/// Shards of the derived-key cache.
const KEY_CACHE_SHARDS: usize = 16;
/// Derived key sets per shard: 16 384 per cookie kind in all.
const KEY_CACHE_SHARD_CAPACITY: usize = 1024;

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

/// Which cookie a key set is for: the session cookie (HKDF) or the persistent remember cookie (PBKDF2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieKind {
    /// The session cookie (`cookie_name`).
    Session,
    /// The persistent cookie (`remember_cookie_name`).
    Remember,
}

/// The key material of one plugin configuration: `ikm = SHA-256(secret)` and its HKDF PRK, plus a
/// bounded cache of per-session-id derived keys. Cheap to clone (the cache is shared).
#[derive(Clone)]
pub struct SessionKey {
    ikm: [u8; 32],
    prk: hkdf::Prk,
    caches: Arc<[KeyCache; 2]>,
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKey(REDACTED)")
    }
}

impl SessionKey {
    /// Key material from the plugin's `secret`: `ikm = SHA-256(secret)` (resty `session.new`, line 2560).
    pub fn from_secret(secret: &str) -> Self {
        let mut ikm = [0u8; 32];
        ikm.copy_from_slice(digest::digest(&digest::SHA256, secret.as_bytes()).as_ref());
        Self::from_ikm(ikm)
    }

    /// Key material given directly (resty's `ikm` option).
    pub fn from_ikm(ikm: [u8; 32]) -> Self {
        let prk = hkdf::Prk::new_less_safe(hkdf::HKDF_SHA256, &hkdf_extract(&ikm));
        Self {
            ikm,
            prk,
            caches: Arc::new([KeyCache::new(), KeyCache::new()]),
        }
    }

    #[cfg(test)]
    pub(crate) fn ikm_bytes(&self) -> &[u8; 32] {
        &self.ikm
    }

    #[cfg(test)]
    pub(crate) fn prk_bytes(&self) -> [u8; 32] {
        hkdf_extract(&self.ikm)
    }

    #[cfg(test)]
    pub(crate) fn is_cached(&self, sid: &[u8; SID_SIZE], kind: CookieKind) -> bool {
        self.cache(kind).get(sid).is_some()
    }

    /// The keys for `sid`, from the cache or freshly derived (and then cached).
    ///
    /// Only call this for a session id that is ours: one just generated by `seal`, or one whose header
    /// MAC has been verified.
    pub fn keys(
        &self,
        sid: &[u8; SID_SIZE],
        kind: CookieKind,
    ) -> Result<Arc<DerivedKeys>, KeyError> {
        if let Some(keys) = self.cache(kind).get(sid) {
            return Ok(keys);
        }
        self.derive_and_cache(sid, kind, None)
    }

    /// Derives the keys for `sid` without touching the cache.
    pub fn derive(&self, sid: &[u8; SID_SIZE], kind: CookieKind) -> Result<DerivedKeys, KeyError> {
        self.derive_with(sid, kind, None)
    }

    fn derive_and_cache(
        &self,
        sid: &[u8; SID_SIZE],
        kind: CookieKind,
        mac_key: Option<[u8; 32]>,
    ) -> Result<Arc<DerivedKeys>, KeyError> {
        let keys = Arc::new(self.derive_with(sid, kind, mac_key)?);
        self.cache(kind).insert(*sid, Arc::clone(&keys));
        Ok(keys)
    }

    /// Derives the keys for `sid`, reusing an already derived MAC key.
    fn derive_with(
        &self,
        sid: &[u8; SID_SIZE],
        kind: CookieKind,
        mac_key: Option<[u8; 32]>,
    ) -> Result<DerivedKeys, KeyError> {
        let mut okm = [0u8; 44];
        match kind {
            CookieKind::Session => self.expand(b"encryption:", sid, &mut okm)?,
            CookieKind::Remember => {
                let mut salt = [0u8; 11 + SID_SIZE];
                salt[..11].copy_from_slice(b"encryption:");
                salt[11..].copy_from_slice(sid);
                let iterations = NonZeroU32::new(REMEMBER_PBKDF2_ITERATIONS).ok_or(KeyError)?;
                pbkdf2::derive(
                    pbkdf2::PBKDF2_HMAC_SHA256,
                    iterations,
                    &salt,
                    &self.ikm,
                    &mut okm,
                );
            }
        }
        let mut aes_key = [0u8; 32];
        let mut iv = [0u8; 12];
        aes_key.copy_from_slice(&okm[..32]);
        iv.copy_from_slice(&okm[32..]);
        okm.fill(0);
        let mac_key = match mac_key {
            Some(mac_key) => mac_key,
            None => self.derive_mac_key(sid)?,
        };
        let unbound = aead::UnboundKey::new(&aead::AES_256_GCM, &aes_key).map_err(|_| KeyError)?;
        Ok(DerivedKeys {
            aes_key,
            iv,
            mac_key,
            aead: aead::LessSafeKey::new(unbound),
            mac: hmac::Key::new(hmac::HMAC_SHA256, &mac_key),
        })
    }

    /// The 16-byte header MAC for `msg` (header bytes 0..66) under the MAC key of `sid` (HKDF-derived
    /// for both cookie kinds), with the cached keys or the freshly derived MAC key it used.
    fn mac(
        &self,
        sid: &[u8; SID_SIZE],
        kind: CookieKind,
        msg: &[u8],
    ) -> Result<([u8; 16], MacKeys), KeyError> {
        let (tag, keys) = match self.cache(kind).get(sid) {
            Some(keys) => (hmac::sign(&keys.mac, msg), MacKeys::Cached(keys)),
            None => {
                let mac_key = self.derive_mac_key(sid)?;
                let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &mac_key), msg);
                (tag, MacKeys::Derived(mac_key))
            }
        };
        let mut mac = [0u8; 16];
        mac.copy_from_slice(&tag.as_ref()[..16]);
        Ok((mac, keys))
    }

    fn derive_mac_key(&self, sid: &[u8; SID_SIZE]) -> Result<[u8; 32], KeyError> {
        let mut mac_key = [0u8; 32];
        self.expand(b"authentication:", sid, &mut mac_key)?;
        Ok(mac_key)
    }

    fn expand(&self, usage: &[u8], sid: &[u8], out: &mut [u8]) -> Result<(), KeyError> {
        let info = [usage, sid];
        self.prk
            .expand(&info, OkmLen(out.len()))
            .and_then(|okm| okm.fill(out))
            .map_err(|_| KeyError)
    }

    fn cache(&self, kind: CookieKind) -> &KeyCache {
        match kind {
            CookieKind::Session => &self.caches[0],
            CookieKind::Remember => &self.caches[1],
        }
    }
}

/// What the MAC check used: keys from the cache, or a MAC key derived for the occasion (kept so that
/// decryption does not derive it again).
#[derive(Clone)]
enum MacKeys {
    Cached(Arc<DerivedKeys>),
    Derived([u8; 32]),
}

/// A bounded map from session id to derived keys: 16 shards behind their own mutex, 1024 entries
/// each; a full shard drops an arbitrary entry (session ids are random, so this is random eviction).
///
/// Not `moka`: with a session per save, the cache is always full, and moka's admission and eviction
/// bookkeeping made an insert cost ~3.5 µs there, three times the key derivation it saves.
struct KeyCache {
    shards: [Mutex<HashMap<[u8; SID_SIZE], Arc<DerivedKeys>>>; KEY_CACHE_SHARDS],
}

impl KeyCache {
    fn new() -> Self {
        Self {
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
        }
    }

    fn shard(
        &self,
        sid: &[u8; SID_SIZE],
    ) -> MutexGuard<'_, HashMap<[u8; SID_SIZE], Arc<DerivedKeys>>> {
        self.shards[usize::from(sid[0]) % KEY_CACHE_SHARDS]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn get(&self, sid: &[u8; SID_SIZE]) -> Option<Arc<DerivedKeys>> {
        self.shard(sid).get(sid).cloned()
    }

    fn insert(&self, sid: [u8; SID_SIZE], keys: Arc<DerivedKeys>) {
        let mut shard = self.shard(&sid);
        if shard.len() >= KEY_CACHE_SHARD_CAPACITY
            && !shard.contains_key(&sid)
            && let Some(victim) = shard.keys().next().copied()
        {
            shard.remove(&victim);
        }
        shard.insert(sid, keys);
    }
}

/// HKDF-Extract with an empty salt, i.e. HMAC-SHA256 keyed with 32 zero bytes (RFC 5869 §2.2); resty
/// calls OpenSSL's HKDF in extract-only mode (`utils.lua` lines 457-466).
fn hkdf_extract(ikm: &[u8; 32]) -> [u8; 32] {
    let salt = hmac::Key::new(hmac::HMAC_SHA256, &[]);
    let mut prk = [0u8; 32];
    prk.copy_from_slice(hmac::sign(&salt, ikm).as_ref());
    prk
}

/// HKDF output length for `ring`.
struct OkmLen(usize);

impl hkdf::KeyType for OkmLen {
    fn len(&self) -> usize {
        self.0
    }
}

/// Key derivation failed (it cannot with the fixed sizes used here; kept so nothing panics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unable to derive session keys")]
pub struct KeyError;

/// The keys of one session id: AES-256-GCM key and IV, and the HMAC-SHA256 MAC key.
pub struct DerivedKeys {
    aes_key: [u8; 32],
    iv: [u8; 12],
    mac_key: [u8; 32],
    aead: aead::LessSafeKey,
    mac: hmac::Key,
}

impl fmt::Debug for DerivedKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DerivedKeys(REDACTED)")
    }
}

impl DerivedKeys {
    #[cfg(test)]
    pub(crate) fn aes_key(&self) -> &[u8; 32] {
        &self.aes_key
    }

    #[cfg(test)]
    pub(crate) fn iv(&self) -> &[u8; 12] {
        &self.iv
    }

    #[cfg(test)]
    pub(crate) fn mac_key(&self) -> &[u8; 32] {
        &self.mac_key
    }

    fn nonce(&self) -> aead::Nonce {
        aead::Nonce::assume_unique_for_key(self.iv)
    }
}

impl Drop for DerivedKeys {
    fn drop(&mut self) {
        self.aes_key = [0; 32];
        self.iv = [0; 12];
        self.mac_key = [0; 32];
    }
}

/// The decoded fields of a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Flags (`FLAG_*`).
    pub flags: u16,
    /// Session id.
    pub sid: [u8; SID_SIZE],
    /// Unix seconds of the session's first save.
    pub creation_time: u64,
    /// Seconds from creation to the last save.
    pub rolling_offset: u64,
    /// Length of the base64url ciphertext.
    pub data_size: usize,
    /// AES-GCM tag.
    pub tag: [u8; 16],
    /// Seconds from creation + rolling offset to the last touch.
    pub idling_offset: u64,
    /// Header MAC.
    pub mac: [u8; 16],
}

impl Header {
    /// Decodes an 82-byte header (no checks at all).
    pub fn from_bytes(bytes: &[u8; HEADER_SIZE]) -> Self {
        let mut sid = [0u8; SID_SIZE];
        sid.copy_from_slice(&bytes[3..35]);
        let mut tag = [0u8; 16];
        tag.copy_from_slice(&bytes[47..63]);
        let mut mac = [0u8; 16];
        mac.copy_from_slice(&bytes[66..82]);
        Self {
            flags: unpack_le(&bytes[1..3]) as u16,
            sid,
            creation_time: unpack_le(&bytes[35..40]),
            rolling_offset: unpack_le(&bytes[40..44]),
            data_size: unpack_le(&bytes[44..47]) as usize,
            tag,
            idling_offset: unpack_le(&bytes[63..66]),
            mac,
        }
    }
}

/// Little-endian unsigned (resty `utils.bunpack`).
fn unpack_le(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .rev()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
}

/// Little-endian unsigned, truncated to `out.len()` bytes (resty `utils.bpack`).
fn pack_le(value: u64, out: &mut [u8]) {
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = (value >> (8 * i)) as u8;
    }
}

/// What `open` checks a header against.
#[derive(Debug, Clone, Copy)]
pub struct HeaderCheck {
    /// Whether the configuration uses server-side storage (the STORAGE flag must then be set, and must
    /// not be otherwise).
    pub storage: bool,
    /// Session or remember cookie: picks the timeouts, their error messages, and the MAC key cache.
    pub kind: CookieKind,
    /// `absolute_timeout` (or `remember_absolute_timeout`); 0 disables.
    pub absolute_timeout: u64,
    /// `rolling_timeout` (or `remember_rolling_timeout`); 0 disables.
    pub rolling_timeout: u64,
    /// `idling_timeout`; 0 disables. Ignored for a remember cookie, whose idling offset must be 0.
    pub idling_timeout: u64,
    /// Current unix time in seconds.
    pub now: u64,
}

/// A header whose checks and MAC passed.
#[derive(Clone)]
pub struct VerifiedHeader {
    /// The decoded fields.
    pub header: Header,
    /// The raw 82 bytes.
    pub bytes: [u8; HEADER_SIZE],
    kind: CookieKind,
    keys: MacKeys,
}

impl fmt::Debug for VerifiedHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedHeader")
            .field("header", &self.header)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// Consumes a byte slice the way resty's `HEADER_BUFFER:get(n)` does: a short read returns what is left.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        let field = rest.get(..n)?;
        self.pos += n;
        Some(field)
    }
}

/// Steps 2-8 of resty's `open` on a cookie value: header length, base64url, type, flags, session id,
/// creation time and absolute timeout, rolling offset and rolling timeout, data size, tag, idling offset
/// and idling timeout, and last the MAC — in that order, with resty's error for the first failure.
///
/// A `=` inside the header truncates its decoding (nginx stops at `=`); the field the bytes run out in
/// then reports the error, exactly like resty.
pub fn verify_header(
    key: &SessionKey,
    cookie: &str,
    check: &HeaderCheck,
) -> Result<VerifiedHeader, OpenError> {
    let encoded = cookie
        .as_bytes()
        .get(..HEADER_ENCODED_SIZE)
        .ok_or(OpenError::InvalidHeader)?;
    let decoded = decode_base64url(encoded).ok_or(OpenError::HeaderBase64)?;
    let mut reader = Reader {
        buf: &decoded,
        pos: 0,
    };

    let cookie_type = reader.take(1).ok_or(OpenError::InvalidType)?;
    if cookie_type[0] != COOKIE_TYPE {
        return Err(OpenError::InvalidType);
    }

    let flags = unpack_le(reader.take(2).ok_or(OpenError::InvalidFlags)?) as u16;
    if check.storage != (flags & FLAG_STORAGE != 0) {
        return Err(OpenError::InvalidFlags);
    }

    let mut sid = [0u8; SID_SIZE];
    sid.copy_from_slice(reader.take(SID_SIZE).ok_or(OpenError::InvalidId)?);

    let now = i128::from(check.now);
    let remember = check.kind == CookieKind::Remember;

    let creation_time = unpack_le(reader.take(5).ok_or(OpenError::InvalidCreationTime)?);
    let absolute_elapsed = now - i128::from(creation_time);
    if absolute_elapsed > i128::from(MAX_ROLLING_OFFSET) {
        return Err(OpenError::LifetimeExceeded);
    }
    if check.absolute_timeout != 0 && absolute_elapsed > i128::from(check.absolute_timeout) {
        return Err(if remember {
            OpenError::RememberAbsoluteTimeout
        } else {
            OpenError::AbsoluteTimeout
        });
    }

    let rolling_offset = unpack_le(reader.take(4).ok_or(OpenError::InvalidRollingOffset)?);
    let rolling_elapsed = absolute_elapsed - i128::from(rolling_offset);
    if check.rolling_timeout != 0 && rolling_elapsed > i128::from(check.rolling_timeout) {
        return Err(if remember {
            OpenError::RememberRollingTimeout
        } else {
            OpenError::RollingTimeout
        });
    }

    let data_size = unpack_le(reader.take(3).ok_or(OpenError::InvalidDataSize)?) as usize;

    let mut tag = [0u8; 16];
    tag.copy_from_slice(reader.take(16).ok_or(OpenError::InvalidTag)?);

    let idling_offset = unpack_le(reader.take(3).ok_or(OpenError::InvalidIdlingOffset)?);
    if remember {
        if idling_offset != 0 {
            return Err(OpenError::InvalidIdlingOffset);
        }
    } else if check.idling_timeout != 0
        && rolling_elapsed - i128::from(idling_offset) > i128::from(check.idling_timeout)
    {
        return Err(OpenError::IdlingTimeout);
    }

    let mut mac = [0u8; 16];
    mac.copy_from_slice(reader.take(16).ok_or(OpenError::InvalidMac)?);
    let (expected, keys) = key
        .mac(&sid, check.kind, &decoded[..HEADER_MAC_SIZE])
        .map_err(|_| OpenError::InvalidMac)?;
    if !bool::from(expected.ct_eq(&mac)) {
        return Err(OpenError::InvalidMac);
    }

    let mut bytes = [0u8; HEADER_SIZE];
    bytes.copy_from_slice(&decoded[..HEADER_SIZE]);
    Ok(VerifiedHeader {
        header: Header {
            flags,
            sid,
            creation_time,
            rolling_offset,
            data_size,
            tag,
            idling_offset,
            mac,
        },
        bytes,
        kind: check.kind,
        keys,
    })
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

/// Checks the payload length against the header and base64url-decodes it (resty lines 703-712).
pub fn decode_payload(verified: &VerifiedHeader, payload: &[u8]) -> Result<Vec<u8>, OpenError> {
    if payload.len() != verified.header.data_size {
        return Err(OpenError::InvalidPayload);
    }
    decode_base64url(payload).ok_or(OpenError::PayloadBase64)
}

/// Decrypts (AES-256-GCM, AAD = header bytes 0..47, tag from the header) and, when the DEFLATE flag is
/// set, inflates the plaintext. The keys enter the cache here: the header MAC has been verified.
pub fn decrypt(
    key: &SessionKey,
    verified: &VerifiedHeader,
    mut ciphertext: Vec<u8>,
) -> Result<Vec<u8>, OpenError> {
    let keys = match &verified.keys {
        MacKeys::Cached(keys) => Arc::clone(keys),
        MacKeys::Derived(mac_key) => key
            .derive_and_cache(&verified.header.sid, verified.kind, Some(*mac_key))
            .map_err(|_| OpenError::Decrypt)?,
    };
    let aad = aead::Aad::from(&verified.bytes[..HEADER_TAG_SIZE]);
    let tag = aead::Tag::from(verified.header.tag);
    let len = keys
        .aead
        .open_in_place_separate_tag(keys.nonce(), aad, tag, &mut ciphertext, 0..)
        .map_err(|_| OpenError::Decrypt)?
        .len();
    ciphertext.truncate(len);
    if verified.header.flags & FLAG_DEFLATE != 0 {
        return inflate(&ciphertext).map_err(|e| OpenError::Inflate(e.to_string()));
    }
    Ok(ciphertext)
}

/// What `save` feeds into [`seal`]: everything of the header except data size, tag and MAC.
#[derive(Debug, Clone, Copy)]
pub struct SealParams {
    /// New random session id.
    pub sid: [u8; SID_SIZE],
    /// Flags without DEFLATE (seal adds it when it compresses).
    pub flags: u16,
    /// Creation time (kept from the existing session, else now).
    pub creation_time: u64,
    /// `now - creation_time` (0 for a new session).
    pub rolling_offset: u64,
    /// Idling offset, 0 on save.
    pub idling_offset: u64,
    /// Session or remember cookie (picks the key derivation).
    pub kind: CookieKind,
}

/// A plaintext ready to encrypt: deflated when that made it smaller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedPlaintext<'a> {
    /// The bytes to encrypt.
    pub bytes: Cow<'a, [u8]>,
    /// Whether `bytes` is raw DEFLATE.
    pub deflated: bool,
    /// Length of the base64url ciphertext: the header's data size.
    pub data_size: usize,
}

/// resty `save` lines 886-906: deflate when `compression_threshold != 0` and the JSON is longer than it,
/// keeping the deflated form only when it is shorter.
pub fn prepare_plaintext(json: &[u8], compression_threshold: usize) -> PreparedPlaintext<'_> {
    if compression_threshold != 0 && json.len() > compression_threshold {
        match deflate(json) {
            Ok(deflated) if deflated.len() < json.len() => {
                let data_size = base64_size(deflated.len());
                return PreparedPlaintext {
                    bytes: Cow::Owned(deflated),
                    deflated: true,
                    data_size,
                };
            }
            Ok(_) => {}
            Err(err) => tracing::info!(error = %err, "[session] unable to deflate session data"),
        }
    }
    PreparedPlaintext {
        bytes: Cow::Borrowed(json),
        deflated: false,
        data_size: base64_size(json.len()),
    }
}

/// A sealed session: the header and the base64url texts that go into cookies or storage.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The 82 header bytes.
    pub header: [u8; HEADER_SIZE],
    /// `base64url(header)`, 110 characters.
    pub header_b64: String,
    /// `base64url(ciphertext)`.
    pub payload_b64: String,
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealed")
            .field("header", &Header::from_bytes(&self.header))
            .field("payload_len", &self.payload_b64.len())
            .finish()
    }
}

/// Builds the header and encrypts (resty `save` lines 924-965). Size limits are the caller's
/// (see [`seal`] and [`cookie_chunks`]).
pub fn seal_prepared(
    key: &SessionKey,
    params: &SealParams,
    plaintext: &PreparedPlaintext<'_>,
) -> Result<Sealed, SessionError> {
    if params.creation_time > MAX_CREATION_TIME {
        return Err(SessionError::CreationTimeExceeded);
    }
    if params.rolling_offset > MAX_ROLLING_OFFSET {
        return Err(SessionError::RollingOffsetExceeded);
    }
    let flags = if plaintext.deflated {
        params.flags | FLAG_DEFLATE
    } else {
        params.flags & !FLAG_DEFLATE
    };
    let mut header = [0u8; HEADER_SIZE];
    header[0] = COOKIE_TYPE;
    pack_le(u64::from(flags), &mut header[1..3]);
    header[3..35].copy_from_slice(&params.sid);
    pack_le(params.creation_time, &mut header[35..40]);
    pack_le(params.rolling_offset, &mut header[40..44]);
    pack_le(plaintext.data_size as u64, &mut header[44..47]);

    let keys = key
        .keys(&params.sid, params.kind)
        .map_err(|_| SessionError::Encrypt)?;
    let mut ciphertext = plaintext.bytes.to_vec();
    let tag = keys
        .aead
        .seal_in_place_separate_tag(
            keys.nonce(),
            aead::Aad::from(&header[..HEADER_TAG_SIZE]),
            &mut ciphertext,
        )
        .map_err(|_| SessionError::Encrypt)?;
    header[47..63].copy_from_slice(tag.as_ref());
    pack_le(
        params.idling_offset.min(MAX_IDLING_OFFSET),
        &mut header[63..66],
    );
    let mac = hmac::sign(&keys.mac, &header[..HEADER_MAC_SIZE]);
    header[66..82].copy_from_slice(&mac.as_ref()[..16]);

    Ok(Sealed {
        header_b64: encode_base64url(&header),
        payload_b64: encode_base64url(&ciphertext),
        header,
    })
}

/// Compresses if worthwhile, checks the 3-byte data size limit, and seals. (Cookie storage has the
/// tighter nine-cookie limit: check [`cookie_chunks`] with [`prepare_plaintext`]'s data size first.)
pub fn seal(
    key: &SessionKey,
    params: &SealParams,
    json: &[u8],
    compression_threshold: usize,
) -> Result<Sealed, SessionError> {
    let plaintext = prepare_plaintext(json, compression_threshold);
    if plaintext.data_size > MAX_DATA_SIZE {
        return Err(SessionError::DataSizeExceeded);
    }
    seal_prepared(key, params, &plaintext)
}

/// resty `touch` (lines 1938-1975): the same header with a new idling offset (capped at 2^24-1) and a
/// new MAC. Session id, tag and payload do not change.
pub fn touch_header(
    key: &SessionKey,
    header: &[u8; HEADER_SIZE],
    idling_offset: u64,
) -> Result<[u8; HEADER_SIZE], SessionError> {
    let mut touched = *header;
    pack_le(idling_offset.min(MAX_IDLING_OFFSET), &mut touched[63..66]);
    let mut sid = [0u8; SID_SIZE];
    sid.copy_from_slice(&header[3..35]);
    let (mac, _) = key
        .mac(&sid, CookieKind::Session, &touched[..HEADER_MAC_SIZE])
        .map_err(|_| SessionError::Encrypt)?;
    touched[66..82].copy_from_slice(&mac);
    Ok(touched)
}

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
                let mut last = start;
                while last < end && bytes[last] != b';' {
                    last += 1;
                }
                // `start` and `last` sit next to ASCII bytes, so both are char boundaries.
                return cookie_header.get(start..last);
            }
        }
        // skip to the next cookie
        while start < end {
            let ch = bytes[start];
            start += 1;
            if ch == b';' || ch == b',' {
                break;
            }
        }
        while start < end && bytes[start] == b' ' {
            start += 1;
        }
    }
    None
}

/// Raw DEFLATE (zlib window bits -15), default level, as `ffi-zlib` `deflateGzip` with resty's options.
pub fn deflate(data: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Write as _;
    let mut encoder = flate2::write::DeflateEncoder::new(
        Vec::with_capacity(data.len() / 2),
        flate2::Compression::default(),
    );
    encoder.write_all(data)?;
    encoder.finish()
}

/// Raw INFLATE (zlib window bits -15).
pub fn inflate(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len() * 4);
    flate2::read::DeflateDecoder::new(data).read_to_end(&mut out)?;
    Ok(out)
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
