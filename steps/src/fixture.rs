//! The declarative configs in `fixtures/config/`, found from this crate's source tree and adapted to where the
//! echo upstream (and, for the demo, the identity provider) really listen.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};

/// Where `fixtures/config/key-auth-session.yaml` and `fixtures/config/demo.yaml` expect their upstream (the
/// demo's default echo address).
pub const KEY_AUTH_SESSION_UPSTREAM: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9080));

/// Where the demo starts the embedded identity provider by default (Keycloak's port in Kong's docs).
pub const DEMO_IDP: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8080));

/// The issuer `fixtures/config/demo.yaml` names: the embedded provider's realm `kong` at [`DEMO_IDP`].
pub const DEMO_ISSUER: &str = "http://127.0.0.1:8080/realms/kong";

/// `fixtures/config/key-auth-session.yaml`: the documented key-auth + session + request-termination flow.
#[must_use]
pub fn key_auth_session() -> PathBuf {
    config_dir().join("key-auth-session.yaml")
}

/// `fixtures/config/demo.yaml`: both documented flows, key-auth + session on `/anything` and OpenID Connect
/// (password grant + session) on `/`.
#[must_use]
pub fn demo() -> PathBuf {
    config_dir().join("demo.yaml")
}

fn config_dir() -> PathBuf {
    let steps = Path::new(env!("CARGO_MANIFEST_DIR"));
    steps.parent().unwrap_or(steps).join("fixtures/config")
}

/// The key-auth + session config with its service pointed at `upstream`.
///
/// Returns the fixture itself when `upstream` is [`KEY_AUTH_SESSION_UPSTREAM`]; otherwise writes a copy with the
/// upstream address replaced into the system's temporary directory and returns the copy's path.
///
/// # Errors
/// When the fixture cannot be read, does not name [`KEY_AUTH_SESSION_UPSTREAM`], or the copy cannot be written.
pub fn key_auth_session_for(upstream: SocketAddr) -> io::Result<PathBuf> {
    let upstream_url = format!("http://{upstream}/");
    adapted(
        &key_auth_session(),
        &[(
            &format!("http://{KEY_AUTH_SESSION_UPSTREAM}/"),
            &upstream_url,
        )],
        &format!("key-auth-session-{}", upstream.port()),
    )
}

/// The demo config with its services pointed at `upstream` and its openid-connect plugin at `issuer`.
///
/// Returns the fixture itself when both are the defaults ([`KEY_AUTH_SESSION_UPSTREAM`], [`DEMO_ISSUER`]);
/// otherwise writes a copy with the addresses replaced into the system's temporary directory and returns the
/// copy's path.
///
/// # Errors
/// When the fixture cannot be read, does not name both defaults, or the copy cannot be written.
pub fn demo_for(upstream: SocketAddr, issuer: &str) -> io::Result<PathBuf> {
    let upstream_url = format!("http://{upstream}/");
    let issuer = issuer.trim_end_matches('/');
    let issuer_port = url::Url::parse(issuer)
        .ok()
        .and_then(|u| u.port())
        .unwrap_or(0);
    adapted(
        &demo(),
        &[
            (
                &format!("http://{KEY_AUTH_SESSION_UPSTREAM}/"),
                &upstream_url,
            ),
            (DEMO_ISSUER, issuer),
        ],
        &format!("demo-{}-{issuer_port}", upstream.port()),
    )
}

/// `original`, or a copy in the temporary directory (named after `stem` and this process) with each `(from,
/// to)` of `replacements` applied, when any of them changes something. Every `from` must occur in the file.
fn adapted(original: &Path, replacements: &[(&str, &str)], stem: &str) -> io::Result<PathBuf> {
    if replacements.iter().all(|(from, to)| from == to) {
        return Ok(original.to_owned());
    }
    let mut text = std::fs::read_to_string(original)?;
    for (from, to) in replacements {
        if !text.contains(from) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} does not contain {from}", original.display()),
            ));
        }
        text = text.replace(from, to);
    }
    let copy = std::env::temp_dir().join(format!("{stem}-{}.yaml", std::process::id()));
    std::fs::write(&copy, text)?;
    Ok(copy)
}
