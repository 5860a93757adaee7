//! TLS for `ssl` listeners: the certificates of Kong's `ssl_cert` / `ssl_cert_key` (several pairs, chosen by
//! the client's SNI), or, when none is configured, a self-signed certificate generated at start as Kong does
//! (`kong/cmd/utils/prefix_handler.lua`, `gen_default_ssl_cert`: `CN=localhost`, written to
//! `<prefix>/ssl/kong-default.crt`).
//!
//! Built once at start (and again on reload); the handshake itself runs in the listener's connection task,
//! bounded by `client_header_timeout` like a request header.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use rustls::crypto::ring as provider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// The proxy's generated certificate's file name (`kong/conf_loader/constants.lua`: `ssl_cert_default`).
pub const DEFAULT_CERT_NAME: &str = "kong-default";
/// The Admin API's (`admin-kong-default.crt`).
pub const ADMIN_CERT_NAME: &str = "admin-kong-default";
/// The Status API's (`status-kong-default.crt`).
pub const STATUS_CERT_NAME: &str = "status-kong-default";

/// One `ssl_cert` / `ssl_cert_key` pair: each a file path or the PEM text itself (Kong accepts both).
#[derive(Clone)]
pub struct CertSource {
    /// The certificate chain, PEM.
    pub cert: String,
    /// Its private key, PEM.
    pub key: String,
}

impl std::fmt::Debug for CertSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertSource")
            .field("cert", &self.cert)
            .field("key", &"REDACTED")
            .finish()
    }
}

/// Pairs Kong's comma-separated `ssl_cert` and `ssl_cert_key` lists.
///
/// # Errors
/// When the two lists differ in length (Kong: "ssl_cert_key must be specified for every ssl_cert").
pub fn pair_sources(certs: &str, keys: &str) -> Result<Vec<CertSource>, String> {
    let split = |s: &str| -> Vec<String> {
        s.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let (certs, keys) = (split(certs), split(keys));
    if certs.len() != keys.len() {
        // kong/conf_loader/init.lua (check_and_parse): the counts must match.
        return Err(if certs.len() > keys.len() {
            "ssl_cert_key must be specified for every ssl_cert".to_owned()
        } else {
            "ssl_cert must be specified for every ssl_cert_key".to_owned()
        });
    }
    Ok(certs
        .into_iter()
        .zip(keys)
        .map(|(cert, key)| CertSource { cert, key })
        .collect())
}

/// The certificates a gateway serves, ready for rustls.
#[derive(Debug, Clone)]
pub struct Certificates {
    resolver: Arc<SniResolver>,
    /// The generated certificate (PEM), when none was configured: what clients must trust.
    generated_pem: Option<String>,
}

impl Certificates {
    /// Loads the configured pairs, or generates the default certificate when there are none (and writes it
    /// under `prefix/ssl/` when a prefix is given).
    ///
    /// # Errors
    /// A file that cannot be read, PEM without a certificate or key, a key that does not fit rustls.
    pub fn load(sources: &[CertSource], prefix: Option<&Path>) -> Result<Self, String> {
        Self::load_named(sources, prefix, DEFAULT_CERT_NAME)
    }

    /// [`Certificates::load`], writing a generated certificate as `<prefix>/ssl/<name>.crt` (Kong: `kong-default`
    /// for the proxy, `admin-kong-default` for the Admin API, `status-kong-default` for the Status API).
    ///
    /// # Errors
    /// As [`Certificates::load`].
    pub fn load_named(
        sources: &[CertSource],
        prefix: Option<&Path>,
        name: &str,
    ) -> Result<Self, String> {
        if sources.is_empty() {
            return Self::generate(prefix, name);
        }
        Ok(Self {
            resolver: Arc::new(SniResolver {
                keys: ArcSwap::from_pointee(load_pairs(sources)?),
            }),
            generated_pem: None,
        })
    }

    /// Reads the configured pairs again (SIGHUP, `gateway reload`) and serves them from the next handshake on;
    /// open connections keep theirs. A generated certificate is kept as it is.
    ///
    /// # Errors
    /// As [`Certificates::load`]; the certificates served so far are kept.
    pub fn reload(&self, sources: &[CertSource]) -> Result<(), String> {
        if sources.is_empty() {
            return Ok(());
        }
        self.resolver.keys.store(Arc::new(load_pairs(sources)?));
        Ok(())
    }

    fn generate(prefix: Option<&Path>, name: &str) -> Result<Self, String> {
        let names = vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ];
        let generated = rcgen::generate_simple_self_signed(names)
            .map_err(|e| format!("cannot generate the default certificate: {e}"))?;
        let cert_pem = generated.cert.pem();
        let key_pem = generated.signing_key.serialize_pem();
        if let Some(prefix) = prefix {
            let dir = prefix.join("ssl");
            let (crt, key) = (
                dir.join(format!("{name}.crt")),
                dir.join(format!("{name}.key")),
            );
            let written = std::fs::create_dir_all(&dir)
                .and_then(|()| std::fs::write(&crt, &cert_pem))
                .and_then(|()| std::fs::write(&key, &key_pem));
            match written {
                Ok(()) => tracing::info!(
                    cert = %crt.display(),
                    "no ssl_cert configured: generated a self-signed certificate for localhost"
                ),
                Err(err) => tracing::warn!(
                    %err, dir = %dir.display(),
                    "cannot write the generated certificate; it is served from memory only"
                ),
            }
        }
        let key = certified_key(cert_pem.as_bytes(), key_pem.as_bytes())?;
        Ok(Self {
            resolver: Arc::new(SniResolver {
                keys: ArcSwap::from_pointee(vec![Arc::new(key)]),
            }),
            generated_pem: Some(cert_pem),
        })
    }

    /// The generated certificate's PEM (`None` when certificates were configured).
    #[must_use]
    pub fn generated_pem(&self) -> Option<&str> {
        self.generated_pem.as_deref()
    }

    /// A rustls server configuration offering `h2` (when `http2`) and `http/1.1` through ALPN.
    ///
    /// # Errors
    /// When rustls refuses the protocol versions (not expected with the ring provider).
    pub fn server_config(&self, http2: bool) -> Result<Arc<ServerConfig>, String> {
        let mut config =
            ServerConfig::builder_with_provider(Arc::new(provider::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_no_client_auth()
                .with_cert_resolver(Arc::clone(&self.resolver) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = if http2 {
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        } else {
            vec![b"http/1.1".to_vec()]
        };
        Ok(Arc::new(config))
    }
}

fn load_pairs(sources: &[CertSource]) -> Result<Vec<Arc<CertifiedKey>>, String> {
    sources
        .iter()
        .map(|source| {
            let cert_pem = read_pem(&source.cert, "ssl_cert")?;
            let key_pem = read_pem(&source.key, "ssl_cert_key")?;
            certified_key(&cert_pem, &key_pem).map(Arc::new)
        })
        .collect()
}

/// A path, or the PEM itself (Kong's `ssl_cert` takes either).
fn read_pem(value: &str, name: &str) -> Result<Vec<u8>, String> {
    if value.trim_start().starts_with("-----BEGIN") {
        return Ok(value.as_bytes().to_vec());
    }
    let path = PathBuf::from(value);
    std::fs::read(&path).map_err(|e| format!("{name}: cannot read {}: {e}", path.display()))
}

fn certified_key(cert_pem: &[u8], key_pem: &[u8]) -> Result<CertifiedKey, String> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("ssl_cert: not a PEM certificate: {e}"))?;
    if chain.is_empty() {
        return Err("ssl_cert: no certificate in the PEM".to_owned());
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| format!("ssl_cert_key: not a PEM private key: {e}"))?;
    let key = provider::sign::any_supported_type(&key)
        .map_err(|e| format!("ssl_cert_key: unsupported key: {e}"))?;
    Ok(CertifiedKey::new(chain, key))
}

/// Picks the first certificate valid for the client's SNI name, else the first one (nginx's default
/// certificate for the listener). The pairs are swapped whole on reload.
#[derive(Debug)]
struct SniResolver {
    keys: ArcSwap<Vec<Arc<CertifiedKey>>>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let keys = self.keys.load();
        let chosen = hello
            .server_name()
            .and_then(|name| {
                let name = rustls::pki_types::ServerName::try_from(name).ok()?;
                keys.iter().find(|key| {
                    key.end_entity_cert().is_ok_and(|der| {
                        webpki::EndEntityCert::try_from(der)
                            .is_ok_and(|cert| cert.verify_is_valid_for_subject_name(&name).is_ok())
                    })
                })
            })
            .or_else(|| keys.first())?;
        Some(Arc::clone(chosen))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_must_match() {
        assert_eq!(
            pair_sources("a.crt, b.crt", "a.key,b.key")
                .expect("pairs")
                .len(),
            2
        );
        assert_eq!(
            pair_sources("a.crt,b.crt", "a.key").expect_err("one key short"),
            "ssl_cert_key must be specified for every ssl_cert"
        );
        assert!(pair_sources("", "").expect("none").is_empty());
    }

    #[test]
    fn a_generated_certificate_is_written_under_the_prefix_and_loads_back() {
        let prefix = std::env::temp_dir().join(format!("gw-tls-{}", uuid::Uuid::new_v4()));
        let certs = Certificates::load(&[], Some(&prefix)).expect("generated");
        let pem = certs.generated_pem().expect("generated PEM");
        let written =
            std::fs::read_to_string(prefix.join("ssl/kong-default.crt")).expect("written");
        assert_eq!(written, pem);
        let again = Certificates::load(
            &[CertSource {
                cert: prefix.join("ssl/kong-default.crt").display().to_string(),
                key: prefix.join("ssl/kong-default.key").display().to_string(),
            }],
            None,
        )
        .expect("the written pair loads as ssl_cert/ssl_cert_key");
        assert!(again.generated_pem().is_none());
        assert!(again.server_config(true).is_ok());
        let _ = std::fs::remove_dir_all(prefix);
    }

    #[test]
    fn a_missing_file_or_bad_pem_is_named() {
        let err = Certificates::load(
            &[CertSource {
                cert: "/nonexistent/x.crt".into(),
                key: "/nonexistent/x.key".into(),
            }],
            None,
        )
        .expect_err("no file");
        assert!(
            err.starts_with("ssl_cert: cannot read /nonexistent/x.crt"),
            "{err}"
        );
        let err = Certificates::load(
            &[CertSource {
                cert: "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n".into(),
                key: "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n".into(),
            }],
            None,
        )
        .expect_err("bad PEM");
        assert!(err.starts_with("ssl_cert"), "{err}");
    }
}
