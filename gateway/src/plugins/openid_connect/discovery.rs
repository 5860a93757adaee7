//! The identity provider's discovery document (OpenID Connect Discovery 1.0) and signing keys
//! (JWKS), fetched on first use and cached per issuer in [`Registry`], which lives in the plugin
//! [`Deps`](crate::plugins::Deps) so that a config change keeps the cache.
//!
//! When it runs: the first request that needs the provider (a grant, a refresh, a bearer token)
//! fetches the document and its `jwks_uri`; later requests use the cached copy. A token signed with
//! a `kid` the cache does not know triggers a re-discovery, at most once per
//! `rediscovery_lifetime` seconds (measured on the gateway's clock), so forged `kid`s cannot make
//! the gateway hammer the provider. Only one fetch per issuer runs at a time; requests that wait for
//! it take its result. No lock is held across an await except that per-issuer fetch gate, so other
//! issuers and routes never wait.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, jwk::Jwk};
use serde_json::Value;

use super::bearer::Introspected;
use super::client::{self, Call, ProviderError};

/// The most issuers kept in the cache.
const MAX_ISSUERS: u64 = 1024;
/// The most introspection results kept, over every config.
const MAX_INTROSPECTED: u64 = 10_000;
/// Path appended to an issuer identifier to find its discovery document.
pub const WELL_KNOWN: &str = "/.well-known/openid-configuration";

/// The HTTP client and the caches shared by every `openid-connect` config: per issuer, and the
/// introspection results (see [`super::bearer`]).
pub struct Registry {
    http: Result<reqwest::Client, String>,
    providers: moka::sync::Cache<String, Arc<Provider>>,
    introspected: moka::sync::Cache<[u8; 32], Arc<Introspected>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("issuers", &self.providers.entry_count())
            .finish_non_exhaustive()
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    /// One pooled HTTP client (rustls with the `ring` provider, so https issuers work) and an
    /// empty cache. A client that cannot be built is reported on first use, not here.
    pub fn new() -> Self {
        // Installing fails only when a provider is already installed, which is just as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!(
                "kong-reference-gateway/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(|e| e.to_string());
        if let Err(err) = &http {
            tracing::error!(%err, "openid-connect: cannot build the HTTP client");
        }
        Self {
            http,
            providers: moka::sync::Cache::builder()
                .max_capacity(MAX_ISSUERS)
                .build(),
            introspected: moka::sync::Cache::builder()
                .max_capacity(MAX_INTROSPECTED)
                .build(),
        }
    }

    /// The shared HTTP client.
    pub fn http(&self) -> Result<&reqwest::Client, ProviderError> {
        self.http
            .as_ref()
            .map_err(|e| ProviderError::Unreachable(format!("no HTTP client: {e}")))
    }

    /// Introspection results by [`super::bearer`]'s key (bounded, least recently used evicted).
    pub fn introspected(&self) -> &moka::sync::Cache<[u8; 32], Arc<Introspected>> {
        &self.introspected
    }

    /// The cache entry for an issuer (made on first use).
    pub fn provider(&self, issuer: &str) -> Arc<Provider> {
        let url = discovery_url(issuer);
        self.providers
            .get_with(url.clone(), || Arc::new(Provider::new(url)))
    }
}

/// The discovery document URL of `issuer`: the issuer itself when it already is one, else the
/// issuer with [`WELL_KNOWN`] appended (Kong accepts both).
pub fn discovery_url(issuer: &str) -> String {
    if issuer.contains("/.well-known/") {
        issuer.to_owned()
    } else {
        format!("{}{WELL_KNOWN}", issuer.trim_end_matches('/'))
    }
}

/// A public key from the JWKS.
pub struct VerifyKey {
    pub kid: Option<String>,
    /// The JWK's `alg`, when it names one.
    pub alg: Option<Algorithm>,
    pub key: DecodingKey,
}

/// What discovery found: the endpoints this plugin uses and the signing keys.
pub struct Discovered {
    /// The document's `issuer`: what `iss` claims must equal.
    pub issuer: String,
    pub token_endpoint: Option<String>,
    pub introspection_endpoint: Option<String>,
    pub end_session_endpoint: Option<String>,
    pub keys: Vec<VerifyKey>,
}

impl std::fmt::Debug for Discovered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discovered")
            .field("issuer", &self.issuer)
            .field("token_endpoint", &self.token_endpoint)
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

impl Discovered {
    /// Keys that may have signed a token with this header: those of the algorithm's family (and
    /// of its `alg`, when the JWK names one) with the token's `kid`; when the token has no `kid`,
    /// or no key carries it, those without a `kid` too (some providers leave it out).
    pub fn keys_for(&self, kid: Option<&str>, alg: Algorithm) -> Vec<&VerifyKey> {
        let usable = || {
            self.keys
                .iter()
                .filter(|k| k.key.family() == alg.family())
                .filter(|k| k.alg.is_none_or(|a| a == alg))
        };
        let by_kid: Vec<&VerifyKey> = match kid {
            Some(kid) => usable().filter(|k| k.kid.as_deref() == Some(kid)).collect(),
            None => usable().collect(),
        };
        if by_kid.is_empty() {
            usable().filter(|k| k.kid.is_none()).collect()
        } else {
            by_kid
        }
    }
}

#[derive(Default)]
struct State {
    current: Option<Arc<Discovered>>,
    last_error: Option<ProviderError>,
    /// Gateway time of the last fetch attempt.
    last_attempt: Option<u64>,
    /// Counts finished fetches, so that a request that waited for one can take its result.
    generation: u64,
}

/// One issuer's cache.
pub struct Provider {
    discovery_url: String,
    state: Mutex<State>,
    /// Serializes fetches of this issuer only.
    gate: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("discovery_url", &self.discovery_url)
            .finish_non_exhaustive()
    }
}

/// What a cached lookup decided, with the state lock released.
enum Cached {
    Hit(Result<Arc<Discovered>, ProviderError>),
    Fetch { seen: u64 },
}

impl Provider {
    fn new(discovery_url: String) -> Self {
        Self {
            discovery_url,
            state: Mutex::new(State::default()),
            gate: tokio::sync::Mutex::new(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached discovery, fetched when there is none yet. After a failed fetch, requests in the
    /// same second get the same error instead of a new attempt.
    pub async fn get(
        &self,
        http: &reqwest::Client,
        timeout: Duration,
        now: u64,
    ) -> Result<Arc<Discovered>, ProviderError> {
        let cached = {
            let s = self.lock();
            match (&s.current, &s.last_error, s.last_attempt) {
                (Some(current), _, _) => Cached::Hit(Ok(Arc::clone(current))),
                (None, Some(err), Some(at)) if now <= at => Cached::Hit(Err(err.clone())),
                _ => Cached::Fetch { seen: s.generation },
            }
        };
        match cached {
            Cached::Hit(result) => result,
            Cached::Fetch { seen } => self.fetch_once(http, timeout, now, seen).await,
        }
    }

    /// Fetches discovery and JWKS again (an unknown `kid`), unless the last attempt was less than
    /// `min_interval` seconds ago; then the cached copy is returned as it is.
    pub async fn rediscover(
        &self,
        http: &reqwest::Client,
        timeout: Duration,
        now: u64,
        min_interval: u64,
    ) -> Result<Arc<Discovered>, ProviderError> {
        let cached = {
            let s = self.lock();
            match s.last_attempt {
                Some(at) if now < at.saturating_add(min_interval) => {
                    Cached::Hit(match (&s.current, &s.last_error) {
                        (Some(current), _) => Ok(Arc::clone(current)),
                        (None, Some(err)) => Err(err.clone()),
                        (None, None) => Err(ProviderError::Invalid("no discovery yet".to_owned())),
                    })
                }
                _ => Cached::Fetch { seen: s.generation },
            }
        };
        match cached {
            Cached::Hit(result) => result,
            Cached::Fetch { seen } => self.fetch_once(http, timeout, now, seen).await,
        }
    }

    /// Fetches unless another request finished a fetch while this one waited for the gate.
    async fn fetch_once(
        &self,
        http: &reqwest::Client,
        timeout: Duration,
        now: u64,
        seen: u64,
    ) -> Result<Arc<Discovered>, ProviderError> {
        let _gate = tokio::time::timeout(timeout, self.gate.lock())
            .await
            .map_err(|_| ProviderError::Timeout)?;
        {
            let s = self.lock();
            if s.generation != seen {
                return match (&s.current, &s.last_error) {
                    (_, Some(err)) => Err(err.clone()),
                    (Some(current), None) => Ok(Arc::clone(current)),
                    (None, None) => Err(ProviderError::Invalid("no discovery yet".to_owned())),
                };
            }
        }
        let call = Call { http, timeout };
        let result = fetch(call, &self.discovery_url).await;
        let mut s = self.lock();
        s.generation += 1;
        s.last_attempt = Some(now);
        match result {
            Ok(discovered) => {
                tracing::debug!(url = %self.discovery_url, keys = discovered.keys.len(), "openid-connect: discovery loaded");
                let discovered = Arc::new(discovered);
                s.current = Some(Arc::clone(&discovered));
                s.last_error = None;
                Ok(discovered)
            }
            Err(err) => {
                tracing::warn!(url = %self.discovery_url, %err, "openid-connect: discovery failed");
                s.last_error = Some(err.clone());
                Err(err)
            }
        }
    }
}

/// Fetches the discovery document and its JWKS.
async fn fetch(call: Call<'_>, url: &str) -> Result<Discovered, ProviderError> {
    let doc = client::get_json(call, url).await?;
    let text = |name: &str| doc.get(name).and_then(Value::as_str).map(str::to_owned);
    let issuer = text("issuer").filter(|i| !i.is_empty()).ok_or_else(|| {
        ProviderError::Invalid(format!("{url}: no issuer in the discovery document"))
    })?;
    let configured = url.strip_suffix(WELL_KNOWN).unwrap_or(url);
    if issuer.trim_end_matches('/') != configured.trim_end_matches('/') {
        // Common behind proxies and in containers; tokens must carry the document's issuer.
        tracing::warn!(%url, %issuer, "openid-connect: the discovery document names another issuer; tokens are checked against it");
    }
    let keys = match text("jwks_uri") {
        Some(jwks_uri) => parse_jwks(&client::get_json(call, &jwks_uri).await?)
            .ok_or_else(|| ProviderError::Invalid(format!("{jwks_uri}: not a JWK set")))?,
        None => Vec::new(),
    };
    Ok(Discovered {
        issuer,
        token_endpoint: text("token_endpoint"),
        introspection_endpoint: text("introspection_endpoint"),
        end_session_endpoint: text("end_session_endpoint"),
        keys,
    })
}

/// The signature keys of a JWK set. Encryption keys (`use: enc`), symmetric keys and keys this
/// gateway cannot use are skipped; a document without a `keys` array is not a JWK set.
pub fn parse_jwks(doc: &Value) -> Option<Vec<VerifyKey>> {
    let keys = doc.get("keys")?.as_array()?;
    Some(
        keys.iter()
            .filter(|k| k.get("use").and_then(Value::as_str) != Some("enc"))
            .filter_map(|k| {
                let jwk: Jwk = serde_json::from_value(k.clone()).ok()?;
                let key = DecodingKey::from_jwk(&jwk).ok()?;
                // A symmetric key in a public document would let anyone sign tokens.
                if key.family() == AlgorithmFamily::Hmac {
                    return None;
                }
                Some(VerifyKey {
                    kid: k.get("kid").and_then(Value::as_str).map(str::to_owned),
                    alg: k
                        .get("alg")
                        .and_then(Value::as_str)
                        .and_then(|a| a.parse().ok()),
                    key,
                })
            })
            .collect(),
    )
}
