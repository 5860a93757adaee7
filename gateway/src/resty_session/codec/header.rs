//! The 82-byte lua-resty-session v4 header (`lib/resty/session.lua` lines 69-112): its fields encoded
//! and decoded, and the checks `open` makes on them (lines 500-609) before the MAC. No cryptography
//! here: the tag and the MAC are filled in and checked by the `seal` module.
//!
//! When it runs: decoding on every request with a session cookie; encoding on every save and touch.

use super::decode_base64url;
use crate::resty_session::error::OpenError;

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

/// 5 bytes of creation time.
pub const MAX_CREATION_TIME: u64 = (1 << 40) - 1;
/// 4 bytes of rolling offset; also the longest a session may live at all.
pub const MAX_ROLLING_OFFSET: u64 = (1 << 32) - 1;
/// 3 bytes of idling offset.
pub const MAX_IDLING_OFFSET: u64 = (1 << 24) - 1;
/// 3 bytes of data size.
pub const MAX_DATA_SIZE: usize = (1 << 24) - 1;

/// Where each field sits in the header.
mod at {
    use std::ops::Range;

    pub const FLAGS: Range<usize> = 1..3;
    pub const SID: Range<usize> = 3..35;
    pub const CREATION_TIME: Range<usize> = 35..40;
    pub const ROLLING_OFFSET: Range<usize> = 40..44;
    pub const DATA_SIZE: Range<usize> = 44..47;
    pub const TAG: Range<usize> = 47..63;
    pub const IDLING_OFFSET: Range<usize> = 63..66;
    pub const MAC: Range<usize> = 66..82;
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
        let mut tag = [0u8; 16];
        tag.copy_from_slice(&bytes[at::TAG]);
        let mut mac = [0u8; 16];
        mac.copy_from_slice(&bytes[at::MAC]);
        Self {
            flags: unpack_le(&bytes[at::FLAGS]) as u16,
            sid: sid_of(bytes),
            creation_time: unpack_le(&bytes[at::CREATION_TIME]),
            rolling_offset: unpack_le(&bytes[at::ROLLING_OFFSET]),
            data_size: unpack_le(&bytes[at::DATA_SIZE]) as usize,
            tag,
            idling_offset: unpack_le(&bytes[at::IDLING_OFFSET]),
            mac,
        }
    }

    /// Encodes every field (the type byte is always [`COOKIE_TYPE`]); each integer is truncated to
    /// its field's size, as `utils.bpack` does.
    pub fn to_bytes(&self) -> [u8; HEADER_SIZE] {
        let mut bytes = [0u8; HEADER_SIZE];
        bytes[0] = COOKIE_TYPE;
        pack_le(u64::from(self.flags), &mut bytes[at::FLAGS]);
        bytes[at::SID].copy_from_slice(&self.sid);
        pack_le(self.creation_time, &mut bytes[at::CREATION_TIME]);
        pack_le(self.rolling_offset, &mut bytes[at::ROLLING_OFFSET]);
        pack_le(self.data_size as u64, &mut bytes[at::DATA_SIZE]);
        bytes[at::TAG].copy_from_slice(&self.tag);
        pack_le(self.idling_offset, &mut bytes[at::IDLING_OFFSET]);
        bytes[at::MAC].copy_from_slice(&self.mac);
        bytes
    }
}

/// The session id of an encoded header.
pub(super) fn sid_of(bytes: &[u8; HEADER_SIZE]) -> [u8; SID_SIZE] {
    let mut sid = [0u8; SID_SIZE];
    sid.copy_from_slice(&bytes[at::SID]);
    sid
}

/// Writes the AES-GCM tag into an encoded header.
pub(super) fn set_tag(bytes: &mut [u8; HEADER_SIZE], tag: &[u8]) {
    bytes[at::TAG].copy_from_slice(tag);
}

/// Writes the idling offset (capped at 2^24-1) into an encoded header.
pub(super) fn set_idling_offset(bytes: &mut [u8; HEADER_SIZE], idling_offset: u64) {
    pack_le(
        idling_offset.min(MAX_IDLING_OFFSET),
        &mut bytes[at::IDLING_OFFSET],
    );
}

/// Writes the MAC into an encoded header.
pub(super) fn set_mac(bytes: &mut [u8; HEADER_SIZE], mac: &[u8; 16]) {
    bytes[at::MAC].copy_from_slice(mac);
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
    pub kind: super::CookieKind,
    /// `absolute_timeout` (or `remember_absolute_timeout`); 0 disables.
    pub absolute_timeout: u64,
    /// `rolling_timeout` (or `remember_rolling_timeout`); 0 disables.
    pub rolling_timeout: u64,
    /// `idling_timeout`; 0 disables. Ignored for a remember cookie, whose idling offset must be 0.
    pub idling_timeout: u64,
    /// Current unix time in seconds.
    pub now: u64,
}

/// A header decoded from a cookie whose fields passed [`HeaderCheck`]; its MAC is not checked yet.
pub(super) struct CheckedHeader {
    /// The decoded fields.
    pub header: Header,
    /// The raw 82 bytes.
    pub bytes: [u8; HEADER_SIZE],
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

    fn take_array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Some(out)
    }
}

/// Steps 2-7 of resty's `open` on a cookie value: header length, base64url, type, flags, session id,
/// creation time and absolute timeout, rolling offset and rolling timeout, data size, tag, idling offset
/// and idling timeout — in that order, with resty's error for the first failure. The MAC (step 8) is
/// read but checked by the caller.
///
/// A `=` inside the header truncates its decoding (nginx stops at `=`); the field the bytes run out in
/// then reports the error, exactly like resty.
pub(super) fn decode_checked(
    cookie: &str,
    check: &HeaderCheck,
) -> Result<CheckedHeader, OpenError> {
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

    let sid = reader.take_array().ok_or(OpenError::InvalidId)?;

    let creation_time = unpack_le(reader.take(5).ok_or(OpenError::InvalidCreationTime)?);
    let absolute_elapsed = check_absolute(creation_time, check)?;

    let rolling_offset = unpack_le(reader.take(4).ok_or(OpenError::InvalidRollingOffset)?);
    let rolling_elapsed = check_rolling(absolute_elapsed, rolling_offset, check)?;

    let data_size = unpack_le(reader.take(3).ok_or(OpenError::InvalidDataSize)?) as usize;

    let tag = reader.take_array().ok_or(OpenError::InvalidTag)?;

    let idling_offset = unpack_le(reader.take(3).ok_or(OpenError::InvalidIdlingOffset)?);
    check_idling(rolling_elapsed, idling_offset, check)?;

    let mac = reader.take_array().ok_or(OpenError::InvalidMac)?;

    let mut bytes = [0u8; HEADER_SIZE];
    bytes.copy_from_slice(&decoded[..HEADER_SIZE]);
    Ok(CheckedHeader {
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
    })
}

/// The clock checks of `open` on a header that passed [`decode_checked`] before (resty lines 538-609:
/// lifetime and absolute timeout, rolling timeout, idling timeout, in that order), as the cache of
/// opened cookies makes them on every hit.
pub(crate) fn check_times(header: &Header, check: &HeaderCheck) -> Result<(), OpenError> {
    let absolute_elapsed = check_absolute(header.creation_time, check)?;
    let rolling_elapsed = check_rolling(absolute_elapsed, header.rolling_offset, check)?;
    check_idling(rolling_elapsed, header.idling_offset, check)
}

/// The session's age at `now`, checked against the longest lifetime and `absolute_timeout`.
fn check_absolute(creation_time: u64, check: &HeaderCheck) -> Result<i128, OpenError> {
    let absolute_elapsed = i128::from(check.now) - i128::from(creation_time);
    if absolute_elapsed > i128::from(MAX_ROLLING_OFFSET) {
        return Err(OpenError::LifetimeExceeded);
    }
    if check.absolute_timeout != 0 && absolute_elapsed > i128::from(check.absolute_timeout) {
        return Err(if check.kind == super::CookieKind::Remember {
            OpenError::RememberAbsoluteTimeout
        } else {
            OpenError::AbsoluteTimeout
        });
    }
    Ok(absolute_elapsed)
}

/// The time since the last save, checked against `rolling_timeout`.
fn check_rolling(
    absolute_elapsed: i128,
    rolling_offset: u64,
    check: &HeaderCheck,
) -> Result<i128, OpenError> {
    let rolling_elapsed = absolute_elapsed - i128::from(rolling_offset);
    if check.rolling_timeout != 0 && rolling_elapsed > i128::from(check.rolling_timeout) {
        return Err(if check.kind == super::CookieKind::Remember {
            OpenError::RememberRollingTimeout
        } else {
            OpenError::RollingTimeout
        });
    }
    Ok(rolling_elapsed)
}

/// The idle time, checked against `idling_timeout`; a remember cookie's idling offset must be 0.
fn check_idling(
    rolling_elapsed: i128,
    idling_offset: u64,
    check: &HeaderCheck,
) -> Result<(), OpenError> {
    if check.kind == super::CookieKind::Remember {
        if idling_offset != 0 {
            return Err(OpenError::InvalidIdlingOffset);
        }
    } else if check.idling_timeout != 0
        && rolling_elapsed - i128::from(idling_offset) > i128::from(check.idling_timeout)
    {
        return Err(OpenError::IdlingTimeout);
    }
    Ok(())
}
