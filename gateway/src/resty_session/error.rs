//! Errors of the session library, worded exactly as lua-resty-session 4.0.5 words them.
//!
//! Kong logs these strings (`session not present (<reason>)`, `session save failed (<reason>)`), so the
//! `Display` of every variant is resty's message, and the variants of [`OpenError`] are listed in the
//! order in which `open()` checks them (resty-session@4.0.5 `lib/resty/session.lua` lines 436-813).

use super::storage::StorageError;

/// Why a request's session could not be opened. Kong treats every one of these as "no session":
/// the access phase logs it at debug level and lets the other authentication plugins run.
///
/// `Display` is resty's message, e.g. `missing session cookie`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// No cookie with the session cookie's name in the request.
    #[error("missing session cookie")]
    MissingCookie,
    /// The cookie is shorter than the 110-character header.
    #[error("invalid session header")]
    InvalidHeader,
    /// The header is not base64url (a `+`, `/` or other foreign character, or a bad length).
    #[error("unable to base64url decode session header (invalid input)")]
    HeaderBase64,
    /// Header byte 0 is not `1`.
    #[error("invalid session cookie type")]
    InvalidType,
    /// The STORAGE flag does not match the configured storage, or the header is cut short here.
    #[error("invalid session flags")]
    InvalidFlags,
    /// The header is cut short inside the session id.
    #[error("invalid session id")]
    InvalidId,
    /// The header is cut short inside the creation time.
    #[error("invalid session creation time")]
    InvalidCreationTime,
    /// More than 2^32-1 seconds passed since the creation time.
    #[error("session lifetime exceeded")]
    LifetimeExceeded,
    /// `now - creation_time > absolute_timeout`.
    #[error("session absolute timeout exceeded")]
    AbsoluteTimeout,
    /// Remember cookie: `now - creation_time > remember_absolute_timeout`.
    #[error("session remember absolute timeout exceeded")]
    RememberAbsoluteTimeout,
    /// The header is cut short inside the rolling offset.
    #[error("invalid session rolling offset")]
    InvalidRollingOffset,
    /// `now - creation_time - rolling_offset > rolling_timeout`.
    #[error("session rolling timeout exceeded")]
    RollingTimeout,
    /// Remember cookie: `now - creation_time - rolling_offset > remember_rolling_timeout`.
    #[error("session remember rolling timeout exceeded")]
    RememberRollingTimeout,
    /// The header is cut short inside the data size.
    #[error("invalid session data size")]
    InvalidDataSize,
    /// The header is cut short inside the tag.
    #[error("invalid session tag")]
    InvalidTag,
    /// The header is cut short inside the idling offset, or a remember cookie has a non-zero one.
    #[error("invalid session idling offset")]
    InvalidIdlingOffset,
    /// `now - creation_time - rolling_offset - idling_offset > idling_timeout`.
    #[error("session idling timeout exceeded")]
    IdlingTimeout,
    /// The header MAC does not match (any tampering with the header lands here).
    #[error("invalid session message authentication code")]
    InvalidMac,
    /// Server-side storage has no row for the session id.
    #[error("unable to load session")]
    StorageMissing,
    /// Server-side storage failed.
    #[error("unable to load session ({0})")]
    Storage(String),
    /// The storage row is not the JSON array resty writes.
    #[error("unable to json decode session ({0})")]
    StorageJson(String),
    /// The data size in the header needs more than nine cookies.
    #[error("cookie size limit exceeded")]
    CookieSizeLimit,
    /// One of the `<name>2` … `<name>9` chunk cookies is missing.
    #[error("missing session cookie chunk")]
    MissingChunk,
    /// The payload's length differs from the header's data size.
    #[error("invalid session payload")]
    InvalidPayload,
    /// The payload is not base64url.
    #[error("unable to base64url decode session data (invalid input)")]
    PayloadBase64,
    /// AES-256-GCM rejected the payload (tag mismatch). The detail is OpenSSL's, as resty reports it.
    #[error("unable to decrypt session data (cipher:final: EVP_CipherFinal_ex failed)")]
    Decrypt,
    /// The DEFLATE flag is set but the plaintext does not inflate.
    #[error("unable to inflate session data ({0})")]
    Inflate(String),
    /// The plaintext is not JSON (or not the array of `[data, audience, subject]` entries).
    #[error("unable to json decode session data ({0})")]
    Json(String),
    /// The session is valid but has no entry for the configured audience.
    #[error("missing session audience")]
    MissingAudience,
    /// The persistent (remember) cookie was valid, but re-issuing the cookies failed.
    #[error("{0}")]
    Save(#[from] SessionError),
}

/// Why `save`, `refresh`, `touch`, `destroy` or `logout` failed. Kong only logs these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The call is not allowed in the session's state (resty raises these with `assert`).
    #[error("{0}")]
    State(&'static str),
    /// The system random generator failed.
    #[error("unable to generate session id")]
    Random,
    /// Rolling offset does not fit its 4 header bytes.
    #[error("session maximum rolling offset exceeded")]
    RollingOffsetExceeded,
    /// Creation time does not fit its 5 header bytes.
    #[error("session maximum creation time exceeded")]
    CreationTimeExceeded,
    /// Server-side storage: the encoded ciphertext is longer than 2^24-1 characters.
    #[error("session maximum data size exceeded")]
    DataSizeExceeded,
    /// Cookie storage: the session needs more than nine 4096-byte cookies.
    #[error("cookie size limit exceeded")]
    CookieSizeLimit,
    /// AES-256-GCM or key derivation failed (does not happen with valid keys).
    #[error("unable to encrypt session data")]
    Encrypt,
    /// Writing the storage row failed.
    #[error("unable to store session data ({0})")]
    Store(StorageError),
    /// Deleting the storage row failed (Kong's adapter also fails when the row is already gone).
    #[error("unable to destroy session")]
    DestroyMissing,
    /// Deleting the storage row failed.
    #[error("unable to destroy session ({0})")]
    Destroy(StorageError),
}

impl SessionError {
    /// Whether the session's storage (PostgreSQL, Redis) failed. The store logs that itself, once per
    /// [`OutageLog::EVERY`](crate::store::OutageLog::EVERY), so callers log it at debug level only: an
    /// outage is one line per interval, not one per request.
    pub fn is_storage(&self) -> bool {
        matches!(self, Self::Store(_) | Self::Destroy(_))
    }
}
