//! The declarative configs in `fixtures/config/`, found from this crate's source tree and adapted to where the
//! echo upstream really listens.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};

/// Where `fixtures/config/key-auth-session.yaml` expects its upstream (the demo's default echo address).
pub const KEY_AUTH_SESSION_UPSTREAM: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9080));

/// `fixtures/config/key-auth-session.yaml`: the documented key-auth + session + request-termination flow.
#[must_use]
pub fn key_auth_session() -> PathBuf {
    let steps = Path::new(env!("CARGO_MANIFEST_DIR"));
    steps
        .parent()
        .unwrap_or(steps)
        .join("fixtures/config/key-auth-session.yaml")
}

/// The key-auth + session config with its service pointed at `upstream`.
///
/// Returns the fixture itself when `upstream` is [`KEY_AUTH_SESSION_UPSTREAM`]; otherwise writes a copy with the
/// upstream address replaced into the system's temporary directory and returns the copy's path.
///
/// # Errors
/// When the fixture cannot be read, does not name [`KEY_AUTH_SESSION_UPSTREAM`], or the copy cannot be written.
pub fn key_auth_session_for(upstream: SocketAddr) -> io::Result<PathBuf> {
    let original = key_auth_session();
    if upstream == KEY_AUTH_SESSION_UPSTREAM {
        return Ok(original);
    }
    let text = std::fs::read_to_string(&original)?;
    let expected = format!("http://{KEY_AUTH_SESSION_UPSTREAM}/");
    if !text.contains(&expected) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} does not contain the upstream URL {expected}",
                original.display()
            ),
        ));
    }
    let copy = std::env::temp_dir().join(format!(
        "key-auth-session-{}-{}.yaml",
        std::process::id(),
        upstream.port()
    ));
    std::fs::write(
        &copy,
        text.replace(&expected, &format!("http://{upstream}/")),
    )?;
    Ok(copy)
}
