//! `save` and `destroy`: from a session to `Set-Cookie` values and storage rows
//! (resty-session@4.0.5 `lib/resty/session.lua`, the local `save` at lines 816-1147 and `destroy` at
//! 1188-1250; Kong's storage adapter `kong/plugins/session/storage/kong.lua`).
//!
//! When it runs: in the header-filter phase when a plugin authenticated a request without a session,
//! when `refresh` renews one, on logout, and when a remember cookie re-opens a session. The steps of
//! [`Session::save_kind`], in resty's order: new header fields, plaintext and its size, seal, cookies,
//! storage (or expiring the chunks a shorter cookie no longer uses), and last the new state.

use std::ops::RangeInclusive;
use std::sync::Arc;

use ring::rand::SecureRandom as _;
use serde_json::Value;

use super::codec::{self, CookieKind, SID_SIZE, SealParams, Sealed};
use super::{Meta, Session, SessionConfig, SessionError, State, Storage, json};

/// What `save` keeps of the cookie it replaces.
#[derive(Debug, Clone, Copy)]
struct Previous {
    sid: [u8; SID_SIZE],
    flags: u16,
    creation_time: u64,
    data_size: usize,
}

impl Previous {
    fn of(meta: &Meta) -> Self {
        Self {
            sid: meta.sid,
            flags: meta.flags,
            creation_time: meta.creation_time,
            data_size: meta.data_size,
        }
    }
}

impl Session {
    /// resty's local `save(self, state, remember)` (lines 816-1147).
    pub(super) async fn save_kind(
        &mut self,
        now: u64,
        state: Option<State>,
        kind: CookieKind,
    ) -> Result<(), SessionError> {
        let cfg = Arc::clone(&self.cfg);
        let name = cfg.cookie_name(kind);
        let previous = self.meta_of(kind).map(Previous::of);
        if kind == CookieKind::Session {
            self.forget_opened();
        }

        let params = seal_params(&cfg, kind, previous, now)?;
        let json = json::encode_array(self.entries.as_slice());
        let plaintext = codec::prepare_plaintext(&json, cfg.compression_threshold);
        let chunks = chunks_needed(&cfg, name, plaintext.data_size)?;
        let sealed = codec::seal_prepared(&cfg.key, &params, &plaintext)?;

        let attributes = cfg.attributes();
        let mut set_cookies = self.set_cookies.clone();
        let initial_chunk = write_cookies(
            &mut set_cookies,
            &cfg,
            kind,
            &sealed,
            &attributes,
            params.creation_time,
        )?;
        match cfg.storage.as_deref() {
            Some(storage) => {
                store_row(storage, &cfg, kind, &sealed, &params, previous, now).await?
            }
            None => {
                // Expire chunks the previous, longer cookie used and this one does not.
                let old_chunks =
                    previous.and_then(|old| codec::cookie_chunks(name.len(), old.data_size));
                if let Some(old_chunks) = old_chunks {
                    expire_chunks(&mut set_cookies, name, &attributes, chunks + 1..=old_chunks);
                }
            }
        }
        self.set_cookies = set_cookies;

        let flags = if plaintext.deflated {
            params.flags | codec::FLAG_DEFLATE
        } else {
            params.flags
        };
        let meta = Meta {
            timestamp: now,
            flags,
            sid: params.sid,
            creation_time: params.creation_time,
            rolling_offset: params.rolling_offset,
            data_size: plaintext.data_size,
            idling_offset: 0,
            header: sealed.header,
            initial_chunk: initial_chunk.map(Arc::from),
        };
        if kind == CookieKind::Session {
            self.state = state.unwrap_or(State::Open);
        }
        self.set_meta(kind, meta);
        Ok(())
    }

    /// resty's local `destroy(self, remember)` (lines 1188-1250): expiring cookies for the cookie and
    /// each of its chunks, and the storage row deleted.
    pub(super) async fn destroy_kind(&mut self, kind: CookieKind) -> Result<(), SessionError> {
        if kind == CookieKind::Session {
            self.forget_opened();
        }
        let cfg = Arc::clone(&self.cfg);
        let name = cfg.cookie_name(kind);
        let meta = self.meta_of(kind);
        let chunks = match (&cfg.storage, meta) {
            (None, Some(meta)) => codec::cookie_chunks(name.len(), meta.data_size)
                .ok_or(SessionError::CookieSizeLimit)?,
            _ => 1,
        };
        let attributes = cfg.attributes();
        let mut set_cookies = self.set_cookies.clone();
        codec::merge_set_cookie(
            &mut set_cookies,
            name,
            codec::expired_cookie(name, &attributes),
        );
        expire_chunks(&mut set_cookies, name, &attributes, 2..=chunks);
        if let (Some(storage), Some(meta)) = (&cfg.storage, meta) {
            let key = codec::storage_key(&meta.sid, cfg.hash_storage_key);
            match storage.delete(&key).await {
                Ok(true) => {}
                Ok(false) => return Err(SessionError::DestroyMissing),
                Err(err) => return Err(SessionError::Destroy(err)),
            }
        }
        self.set_cookies = set_cookies;
        self.state = State::Closed;
        Ok(())
    }
}

/// The header fields of the new cookie: a new random session id, the STORAGE flag
/// with server-side storage, the FORGET flag kept, and the creation time kept from the cookie this one
/// replaces (the rolling offset is then the time since creation).
fn seal_params(
    cfg: &SessionConfig,
    kind: CookieKind,
    previous: Option<Previous>,
    now: u64,
) -> Result<SealParams, SessionError> {
    let mut flags = if cfg.storage.is_some() {
        codec::FLAG_STORAGE
    } else {
        0
    };
    let mut sid = [0u8; SID_SIZE];
    ring::rand::SystemRandom::new()
        .fill(&mut sid)
        .map_err(|_| SessionError::Random)?;
    let (creation_time, rolling_offset) = match previous {
        Some(old) => (old.creation_time, now.saturating_sub(old.creation_time)),
        None => (now, 0),
    };
    if previous.is_some_and(|old| old.flags & codec::FLAG_FORGET != 0) {
        flags |= codec::FLAG_FORGET;
    }
    Ok(SealParams {
        sid,
        flags,
        creation_time,
        rolling_offset,
        idling_offset: 0,
        kind,
    })
}

/// How many cookies the sealed data needs: one with server-side storage (whose limit is the 3-byte
/// data size), else as many as chunking needs (at most nine).
fn chunks_needed(cfg: &SessionConfig, name: &str, data_size: usize) -> Result<usize, SessionError> {
    if cfg.storage.is_some() {
        if data_size > codec::MAX_DATA_SIZE {
            return Err(SessionError::DataSizeExceeded);
        }
        return Ok(1);
    }
    codec::cookie_chunks(name.len(), data_size).ok_or(SessionError::CookieSizeLimit)
}

/// Merges the new cookie (and its chunks) into `set_cookies` (lines 985-1049); returns what follows
/// the header in the first cookie (`None` with server-side storage).
fn write_cookies(
    set_cookies: &mut Vec<String>,
    cfg: &SessionConfig,
    kind: CookieKind,
    sealed: &Sealed,
    attributes: &str,
    creation_time: u64,
) -> Result<Option<String>, SessionError> {
    let name = cfg.cookie_name(kind);
    let extra = cfg.expiry_flags(kind, creation_time);
    let payload = cfg.storage.is_none().then_some(sealed.payload_b64.as_str());
    let built = codec::session_cookies(name, &sealed.header_b64, payload, attributes, &extra)?;
    for (cookie_name, value) in built.cookies {
        codec::merge_set_cookie(set_cookies, &cookie_name, value);
    }
    Ok(built.initial_chunk)
}

/// Writes the row `["<base64url ciphertext>"]` with the cookie kind's TTL (lines 1043-1093). Kong's
/// adapter keeps a renewed session's old row readable for `stale_ttl` and deletes an old remember
/// row; failures of that are only logged.
async fn store_row(
    storage: &Storage,
    cfg: &SessionConfig,
    kind: CookieKind,
    sealed: &Sealed,
    params: &SealParams,
    previous: Option<Previous>,
    now: u64,
) -> Result<(), SessionError> {
    let key = codec::storage_key(&params.sid, cfg.hash_storage_key);
    let row = json::encode_array(&[Value::String(sealed.payload_b64.clone())]);
    let row = String::from_utf8_lossy(&row);
    storage
        .set(&key, &row, cfg.storage_ttl(kind), now)
        .await
        .map_err(SessionError::Store)?;
    if let Some(old) = previous {
        let old_key = codec::storage_key(&old.sid, cfg.hash_storage_key);
        let result = match kind {
            CookieKind::Session => storage.expire(&old_key, cfg.stale_ttl, now).await,
            CookieKind::Remember => storage.delete(&old_key).await,
        };
        if let Err(err) = result {
            tracing::info!(error = %err, "[session] unable to expire the previous session row");
        }
    }
    Ok(())
}

/// Merges an expiring `Set-Cookie` for each chunk `<name><i>`, `i` in `chunks`.
fn expire_chunks(
    set_cookies: &mut Vec<String>,
    name: &str,
    attributes: &str,
    chunks: RangeInclusive<usize>,
) {
    for i in chunks {
        let chunk_name = format!("{name}{i}");
        let expired = codec::expired_cookie(&chunk_name, attributes);
        codec::merge_set_cookie(set_cookies, &chunk_name, expired);
    }
}
