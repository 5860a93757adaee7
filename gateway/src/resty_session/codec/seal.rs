//! The cryptography of a session cookie: AES-256-GCM seal and open of the payload, the header MAC, and
//! the optional raw-DEFLATE compression of the plaintext (resty-session@4.0.5 `lib/resty/session.lua`:
//! `save` lines 886-965, `open` lines 600-740, `touch` lines 1938-1975).
//!
//! When it runs: [`verify_header`], [`decode_payload`] and [`decrypt`] are `open`'s steps on every
//! request with a session cookie; [`seal`] (or [`prepare_plaintext`] + [`seal_prepared`]) is `save`;
//! [`touch_header`] is `touch`.

use std::borrow::Cow;
use std::fmt;
use std::io::Read as _;

use ring::{aead, hmac};
use subtle::ConstantTimeEq as _;

use super::header::{self, HEADER_MAC_SIZE, HEADER_SIZE, HEADER_TAG_SIZE, Header, HeaderCheck};
use super::keys::{CookieKind, MacKeys, SessionKey};
use super::{MAX_CREATION_TIME, MAX_DATA_SIZE, MAX_ROLLING_OFFSET, SID_SIZE};
use super::{base64_size, decode_base64url, encode_base64url};
use crate::resty_session::error::{OpenError, SessionError};

/// The 16-byte header MAC: HMAC-SHA256 over header bytes 0..66, truncated.
fn header_mac(keys: &MacKeys, header: &[u8]) -> [u8; 16] {
    let tag = match keys {
        MacKeys::Cached(keys) => hmac::sign(keys.mac(), header),
        MacKeys::Derived(mac_key) => {
            hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &**mac_key), header)
        }
    };
    let mut mac = [0u8; 16];
    mac.copy_from_slice(&tag.as_ref()[..16]);
    mac
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

/// Steps 2-8 of resty's `open` on a cookie value: the header checks in resty's order (see
/// [`HeaderCheck`]), and last the MAC, with resty's error for the first failure.
pub fn verify_header(
    key: &SessionKey,
    cookie: &str,
    check: &HeaderCheck,
) -> Result<VerifiedHeader, OpenError> {
    let checked = header::decode_checked(cookie, check)?;
    let keys = key
        .mac_keys(&checked.header.sid, check.kind)
        .map_err(|_| OpenError::InvalidMac)?;
    let expected = header_mac(&keys, &checked.bytes[..HEADER_MAC_SIZE]);
    if !bool::from(expected.ct_eq(&checked.header.mac)) {
        return Err(OpenError::InvalidMac);
    }
    Ok(VerifiedHeader {
        header: checked.header,
        bytes: checked.bytes,
        kind: check.kind,
        keys,
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
    let keys = key
        .verified_keys(&verified.header.sid, verified.kind, &verified.keys)
        .map_err(|_| OpenError::Decrypt)?;
    let aad = aead::Aad::from(&verified.bytes[..HEADER_TAG_SIZE]);
    let tag = aead::Tag::from(verified.header.tag);
    let len = keys
        .aead()
        .open_in_place_separate_tag(keys.nonce(), aad, tag, &mut ciphertext, 0..)
        .map_err(|_| OpenError::Decrypt)?
        .len();
    ciphertext.truncate(len);
    if verified.header.flags & super::FLAG_DEFLATE != 0 {
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
/// (see [`seal`] and [`cookie_chunks`](super::cookie_chunks)).
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
        params.flags | super::FLAG_DEFLATE
    } else {
        params.flags & !super::FLAG_DEFLATE
    };
    // Tag, idling offset and MAC are zero while the AAD (bytes 0..47) is encrypted under.
    let mut header = Header {
        flags,
        sid: params.sid,
        creation_time: params.creation_time,
        rolling_offset: params.rolling_offset,
        data_size: plaintext.data_size,
        tag: [0; 16],
        idling_offset: 0,
        mac: [0; 16],
    }
    .to_bytes();

    let keys = key
        .keys(&params.sid, params.kind)
        .map_err(|_| SessionError::Encrypt)?;
    let mut ciphertext = plaintext.bytes.to_vec();
    let tag = keys
        .aead()
        .seal_in_place_separate_tag(
            keys.nonce(),
            aead::Aad::from(&header[..HEADER_TAG_SIZE]),
            &mut ciphertext,
        )
        .map_err(|_| SessionError::Encrypt)?;
    header::set_tag(&mut header, tag.as_ref());
    header::set_idling_offset(&mut header, params.idling_offset);
    let mac = header_mac(&MacKeys::Cached(keys), &header[..HEADER_MAC_SIZE]);
    header::set_mac(&mut header, &mac);

    Ok(Sealed {
        header_b64: encode_base64url(&header),
        payload_b64: encode_base64url(&ciphertext),
        header,
    })
}

/// Compresses if worthwhile, checks the 3-byte data size limit, and seals. (Cookie storage has the
/// tighter nine-cookie limit: check [`cookie_chunks`](super::cookie_chunks) with
/// [`prepare_plaintext`]'s data size first.)
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
    header::set_idling_offset(&mut touched, idling_offset);
    let keys = key
        .mac_keys(&header::sid_of(header), CookieKind::Session)
        .map_err(|_| SessionError::Encrypt)?;
    let mac = header_mac(&keys, &touched[..HEADER_MAC_SIZE]);
    header::set_mac(&mut touched, &mac);
    Ok(touched)
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

/// The most an inflated session plaintext may hold: what the header's 3-byte data size can describe
/// (16 MiB, [`MAX_DATA_SIZE`]) is far beyond any real session, so the cap is set at what a session's data
/// legitimately needs, with room to spare: 1 MiB. A deflate bomb (35 KB of cookie inflating to tens of
/// MiB) stops here with an error instead of taking memory.
pub const MAX_INFLATED_SIZE: usize = 1024 * 1024;

/// Raw INFLATE (zlib window bits -15), refusing output beyond [`MAX_INFLATED_SIZE`].
pub fn inflate(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len().saturating_mul(4).min(MAX_INFLATED_SIZE));
    let limit = u64::try_from(MAX_INFLATED_SIZE).unwrap_or(u64::MAX) + 1;
    flate2::read::DeflateDecoder::new(data)
        .take(limit)
        .read_to_end(&mut out)?;
    if out.len() > MAX_INFLATED_SIZE {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("inflated session data exceeds {MAX_INFLATED_SIZE} bytes"),
        ));
    }
    Ok(out)
}
