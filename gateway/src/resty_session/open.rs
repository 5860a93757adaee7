//! `open`: from the request's `Cookie` header to a session (resty-session@4.0.5
//! `lib/resty/session.lua`, the local `open` at lines 436-813 and `metatable:open` at 1808-1840).
//!
//! When it runs: once per request, in the access phase of a plugin that reads sessions. The steps of
//! [`Session::open_kind`], in resty's order: find the cookie, verify its header, load the ciphertext
//! (from the cookie or from storage), remember the header, decrypt, find this audience's entry.

use std::sync::Arc;

use serde_json::Value;

use super::codec::{self, CookieKind, SessionKey, VerifiedHeader};
use super::opened::{Opened, OpenedParts};
use super::{Meta, OpenError, Session, SessionConfig, State, Storage};

impl Session {
    /// resty `metatable:open()` (lines 1808-1840): the session cookie, else (with `remember`) the
    /// remember cookie, which then re-issues both cookies.
    pub(super) async fn open_with_remember(
        &mut self,
        cookie_header: Option<&str>,
        now: u64,
    ) -> Result<(), OpenError> {
        let err = match self
            .open_kind(CookieKind::Session, false, cookie_header, now)
            .await
        {
            Ok(()) => return Ok(()),
            Err(err @ OpenError::MissingAudience) => return Err(err),
            Err(err) => err,
        };
        if !self.cfg.remember {
            return Err(err);
        }
        if self
            .open_kind(CookieKind::Remember, false, cookie_header, now)
            .await
            .is_err()
        {
            return Err(err);
        }
        self.save_kind(now, None, CookieKind::Remember).await?;
        self.state = State::New;
        self.meta = None;
        self.save_kind(now, Some(State::Open), CookieKind::Session)
            .await?;
        Ok(())
    }

    /// Reads the remember cookie's header only (resty `open(self, true, true)`), to learn its creation
    /// time and id before re-writing or destroying it.
    pub(super) async fn open_remember_meta(&mut self, now: u64) -> Result<(), OpenError> {
        let cookie_header = self.cookie_header.take();
        let result = self
            .open_kind(CookieKind::Remember, true, cookie_header.as_deref(), now)
            .await;
        self.cookie_header = cookie_header;
        result
    }

    /// resty's local `open(self, remember, meta_only)` (lines 436-813). A session cookie found in the
    /// configuration's cache of opened cookies skips the MAC, the decryption and the parse (see
    /// `opened.rs`); one that opens the full way is added to it.
    async fn open_kind(
        &mut self,
        kind: CookieKind,
        meta_only: bool,
        cookie_header: Option<&str>,
        now: u64,
    ) -> Result<(), OpenError> {
        let cfg = Arc::clone(&self.cfg);
        let cookie_header = cookie_header.unwrap_or_default();
        let name = cfg.cookie_name(kind);
        let value = codec::request_cookie(cookie_header, name).ok_or(OpenError::MissingCookie)?;
        let cacheable = kind == CookieKind::Session && !meta_only;
        if cacheable
            && let Some(opened) = cfg.opened.get(value)
            && let Some(result) = self.open_cached(&cfg, opened, cookie_header, now).await
        {
            return result;
        }
        let verified = codec::verify_header(&cfg.key, value, &cfg.header_check(kind, now))?;
        let (ciphertext, initial_chunk, row) = match &cfg.storage {
            Some(storage) => {
                let (ciphertext, row) = read_storage_row(storage, &cfg, &verified, now).await?;
                (ciphertext, None, Some(row))
            }
            None => {
                let (ciphertext, initial_chunk) =
                    read_cookie_payload(cookie_header, name, value, &verified)?;
                (ciphertext, Some(Arc::<str>::from(initial_chunk)), None)
            }
        };
        self.set_meta(kind, Meta::opened(&verified, initial_chunk.clone(), now));
        if meta_only {
            return Ok(());
        }
        let (entries, plaintext_len) = decrypt_entries(&cfg.key, &verified, ciphertext)?;
        self.select_audience(entries)?;
        if cacheable {
            let chunks = match cfg.storage {
                Some(_) => Vec::new(),
                None => chunk_values(cookie_header, name, verified.header.data_size),
            };
            self.opened = cfg.opened.insert(OpenedParts {
                value: value.into(),
                chunks,
                row: row.map(String::into_boxed_str),
                header: verified.header,
                header_bytes: verified.bytes,
                initial_chunk,
                entries: Arc::clone(&self.entries),
                index: self.index,
                plaintext_len,
            });
        }
        Ok(())
    }

    /// Opens the session from a cached cookie whose first value matched: resty's clock checks on the
    /// cached header, then the chunk cookies or the storage row must be exactly the cached ones.
    /// `None` sends the cookie the full way (which gives resty's error for whatever differs).
    async fn open_cached(
        &mut self,
        cfg: &SessionConfig,
        opened: Arc<Opened>,
        cookie_header: &str,
        now: u64,
    ) -> Option<Result<(), OpenError>> {
        let check = cfg.header_check(CookieKind::Session, now);
        if let Err(err) = codec::check_times(&opened.header, &check) {
            cfg.opened.remove(&opened);
            return Some(Err(err));
        }
        if !opened.chunks.is_empty() {
            let mut chunk_name = String::with_capacity(cfg.cookie_name.len() + 1);
            for (i, chunk) in (2..).zip(&opened.chunks) {
                chunk_name.clear();
                chunk_name.push_str(&cfg.cookie_name);
                chunk_name.push_str(&i.to_string());
                if codec::request_cookie(cookie_header, &chunk_name) != Some(&**chunk) {
                    return None;
                }
            }
        }
        if let Some(storage) = &cfg.storage {
            let key = codec::storage_key(&opened.header.sid, cfg.hash_storage_key);
            let row = storage.get(&key, now).await.ok().flatten()?;
            if opened.row.as_deref() != Some(row.as_str()) {
                return None;
            }
        }
        let meta = Meta::of_header(
            &opened.header,
            opened.header_bytes,
            opened.initial_chunk.clone(),
            now,
        );
        self.set_meta(CookieKind::Session, meta);
        self.entries = Arc::clone(&opened.entries);
        self.index = opened.index;
        self.state = State::Open;
        self.opened = Some(opened);
        Some(Ok(()))
    }

    /// Makes this audience's entry of the opened `entries` current. Without one,
    /// the session stays new, keeping the other audiences' entries and adding this audience's, and
    /// `open` fails with `missing session audience`.
    fn select_audience(&mut self, mut entries: Vec<Value>) -> Result<(), OpenError> {
        let audience = self.audience().to_owned();
        let found = entries
            .iter()
            .position(|entry| entry.get(1).and_then(Value::as_str) == Some(audience.as_str()));
        match found {
            Some(index) => {
                self.entries = Arc::new(entries);
                self.index = index;
                self.state = State::Open;
                Ok(())
            }
            None => {
                if let Some(current) = self.entries.get(self.index) {
                    entries.push(current.clone());
                }
                self.index = entries.len().saturating_sub(1);
                self.entries = Arc::new(entries);
                self.state = State::New;
                Err(OpenError::MissingAudience)
            }
        }
    }
}

/// The ciphertext of a server-side session: the row `["<base64url ciphertext>"]` keyed by the session
/// id (Kong's adapter, `kong/plugins/session/storage/kong.lua`), decoded; and the row as stored.
async fn read_storage_row(
    storage: &Storage,
    cfg: &SessionConfig,
    verified: &VerifiedHeader,
    now: u64,
) -> Result<(Vec<u8>, String), OpenError> {
    let key = codec::storage_key(&verified.header.sid, cfg.hash_storage_key);
    let row = storage
        .get(&key, now)
        .await
        .map_err(|e| OpenError::Storage(e.to_string()))?
        .ok_or(OpenError::StorageMissing)?;
    let parsed: Value =
        serde_json::from_str(&row).map_err(|e| OpenError::StorageJson(e.to_string()))?;
    let text = parsed
        .get(0)
        .and_then(Value::as_str)
        .ok_or(OpenError::InvalidPayload)?;
    let ciphertext = codec::decode_payload(verified, text.as_bytes())?;
    Ok((ciphertext, row))
}

/// The values of the chunk cookies `<name>2` … of a cookie-stored session whose payload was read.
fn chunk_values(cookie_header: &str, name: &str, data_size: usize) -> Vec<Box<str>> {
    let chunks = codec::cookie_chunks(name.len(), data_size).unwrap_or(1);
    (2..=chunks)
        .filter_map(|i| codec::request_cookie(cookie_header, &format!("{name}{i}")))
        .map(Into::into)
        .collect()
}

/// The ciphertext of a cookie-stored session (chunks joined), decoded, and what follows the header in
/// the first cookie (`touch` writes it back unchanged).
fn read_cookie_payload(
    cookie_header: &str,
    name: &str,
    value: &str,
    verified: &VerifiedHeader,
) -> Result<(Vec<u8>, String), OpenError> {
    let payload = codec::cookie_payload(cookie_header, name, value, verified.header.data_size)?;
    let ciphertext = codec::decode_payload(verified, &payload.ciphertext)?;
    let initial_chunk = String::from_utf8_lossy(payload.initial_chunk).into_owned();
    Ok((ciphertext, initial_chunk))
}

/// Decrypts and parses the plaintext: resty's JSON array of `[data, audience, subject?]` entries, and
/// the plaintext's length.
fn decrypt_entries(
    key: &SessionKey,
    verified: &VerifiedHeader,
    ciphertext: Vec<u8>,
) -> Result<(Vec<Value>, usize), OpenError> {
    let plaintext = codec::decrypt(key, verified, ciphertext)?;
    let data: Value =
        serde_json::from_slice(&plaintext).map_err(|e| OpenError::Json(e.to_string()))?;
    match data {
        Value::Array(entries) => Ok((entries, plaintext.len())),
        _ => Err(OpenError::Json("session data is not an array".to_owned())),
    }
}
