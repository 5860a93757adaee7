//! Kong's listen syntax (`proxy_listen`, `admin_listen`): comma-separated entries
//! `address:port [ssl] [http2] [reuseport] [backlog=N]`, or `off`.
//!
//! Parsed once at start. The flags are Kong's (`kong/conf_loader/parse.lua`, `parse_listeners`); `ssl` serves
//! TLS with the certificates of `ssl_cert`/`ssl_cert_key` (or a generated one), `http2` offers HTTP/2 through
//! ALPN on an `ssl` entry (as Kong, where HTTP/2 needs TLS), `reuseport` sets `SO_REUSEPORT`, `backlog=N` the
//! listen queue (nginx's default 511 otherwise). Kong's defaults are in `kong/templates/kong_defaults.lua`:
//! `proxy_listen = 0.0.0.0:8000 reuseport backlog=16384, 0.0.0.0:8443 http2 ssl reuseport backlog=16384`.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use tokio::net::{TcpListener, TcpSocket};

/// nginx's `listen ... backlog` default on Linux (`NGX_LISTEN_BACKLOG`).
pub const NGINX_DEFAULT_BACKLOG: u32 = 511;

/// One entry of a listen setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenSpec {
    /// Where to bind (port 0 picks a free port).
    pub addr: SocketAddr,
    /// `ssl`: serve TLS.
    pub ssl: bool,
    /// `http2`: offer HTTP/2 (with `ssl`, through ALPN).
    pub http2: bool,
    /// `reuseport`: `SO_REUSEPORT`.
    pub reuseport: bool,
    /// `backlog=N`.
    pub backlog: Option<u32>,
}

impl ListenSpec {
    /// A plain HTTP entry with no flags.
    #[must_use]
    pub fn plain(addr: SocketAddr) -> Self {
        Self {
            addr,
            ssl: false,
            http2: false,
            reuseport: false,
            backlog: None,
        }
    }

    /// A TLS entry with no other flags.
    #[must_use]
    pub fn tls(addr: SocketAddr) -> Self {
        Self {
            ssl: true,
            ..Self::plain(addr)
        }
    }

    /// Parses a whole setting (`off` is no entry). `name` is the setting's name, for the message.
    ///
    /// # Errors
    /// Kong's message (`kong/conf_loader/parse.lua`): "`name` must be of form: [off] | <ip>:<port> [ssl] ..."
    /// followed by what was wrong.
    pub fn parse_list(name: &str, value: &str) -> Result<Vec<Self>, String> {
        let value = value.trim();
        if value == "off" {
            return Ok(Vec::new());
        }
        value
            .split(',')
            .map(|entry| {
                Self::parse(entry).map_err(|why| {
                    format!(
                        "{name} must be of form: [off] | <ip>:<port> [ssl] [http2] [reuseport] [backlog=%d+], \
                         [... next entry ...]; '{}': {why}",
                        entry.trim()
                    )
                })
            })
            .collect()
    }

    fn parse(entry: &str) -> Result<Self, String> {
        let mut words = entry.split_whitespace();
        let address = words.next().ok_or("an entry is empty")?;
        let addr = parse_addr(address)?;
        let mut spec = Self::plain(addr);
        for flag in words {
            match flag {
                "ssl" => spec.ssl = true,
                "http2" => spec.http2 = true,
                "reuseport" => spec.reuseport = true,
                _ => match flag.strip_prefix("backlog=") {
                    Some(n) => {
                        spec.backlog = Some(
                            n.parse::<u32>()
                                .ok()
                                .filter(|&n| n > 0)
                                .ok_or_else(|| format!("bad backlog '{n}'"))?,
                        );
                    }
                    None => return Err(format!("unknown flag '{flag}'")),
                },
            }
        }
        Ok(spec)
    }

    /// Binds the socket with this entry's `reuseport` and `backlog`.
    ///
    /// # Errors
    /// The operating system's reason.
    pub fn bind(&self) -> std::io::Result<TcpListener> {
        let socket = if self.addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        #[cfg(unix)]
        if self.reuseport {
            socket.set_reuseport(true)?;
        }
        socket.bind(self.addr)?;
        socket.listen(self.backlog.unwrap_or(NGINX_DEFAULT_BACKLOG))
    }
}

impl fmt::Display for ListenSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.addr)?;
        for (on, flag) in [
            (self.ssl, "ssl"),
            (self.http2, "http2"),
            (self.reuseport, "reuseport"),
        ] {
            if on {
                write!(f, " {flag}")?;
            }
        }
        if let Some(n) = self.backlog {
            write!(f, " backlog={n}")?;
        }
        Ok(())
    }
}

/// `1.2.3.4:80`, `[::1]:80`, `*:80` (all IPv4 addresses, as nginx) or `localhost:80`.
fn parse_addr(address: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = address.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| format!("'{address}' has no port"))?;
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("bad port '{port}'"))?;
    let ip: IpAddr = match host {
        "*" => [0, 0, 0, 0].into(),
        "localhost" => [127, 0, 0, 1].into(),
        _ => return Err(format!("'{host}' is not an IP address")),
    };
    Ok(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kongs_default_proxy_listen_parses() {
        let specs = ListenSpec::parse_list(
            "proxy_listen",
            "0.0.0.0:8000 reuseport backlog=16384, 0.0.0.0:8443 http2 ssl reuseport backlog=16384",
        )
        .expect("Kong's default");
        assert_eq!(specs.len(), 2);
        assert_eq!(specs[0].addr, SocketAddr::from(([0, 0, 0, 0], 8000)));
        assert!(!specs[0].ssl && specs[0].reuseport);
        assert_eq!(specs[0].backlog, Some(16384));
        assert!(specs[1].ssl && specs[1].http2);
        assert_eq!(
            specs[1].to_string(),
            "0.0.0.0:8443 ssl http2 reuseport backlog=16384"
        );
    }

    #[test]
    fn the_issue_example_and_ipv6_and_off() {
        let specs = ListenSpec::parse_list("proxy_listen", "0.0.0.0:8000, 0.0.0.0:8443 ssl")
            .expect("valid");
        assert_eq!(
            specs,
            vec![
                ListenSpec::plain(SocketAddr::from(([0, 0, 0, 0], 8000))),
                ListenSpec::tls(SocketAddr::from(([0, 0, 0, 0], 8443))),
            ]
        );
        let v6 = ListenSpec::parse_list("admin_listen", "[::1]:8001").expect("IPv6");
        assert_eq!(
            v6[0].addr,
            "[::1]:8001".parse::<SocketAddr>().expect("addr")
        );
        assert!(
            ListenSpec::parse_list("status_listen", "off")
                .expect("off")
                .is_empty()
        );
    }

    #[test]
    fn a_bad_entry_gets_kongs_form_and_the_reason() {
        for (value, why) in [
            ("0.0.0.0:8000 tls", "unknown flag 'tls'"),
            ("0.0.0.0", "has no port"),
            ("example.com:80", "is not an IP address"),
            ("0.0.0.0:8000 backlog=x", "bad backlog 'x'"),
            ("0.0.0.0:8000,", "an entry is empty"),
        ] {
            let err = ListenSpec::parse_list("proxy_listen", value).expect_err(value);
            assert!(
                err.starts_with("proxy_listen must be of form: [off] | <ip>:<port> [ssl]"),
                "{err}"
            );
            assert!(err.contains(why), "{value}: {err}");
        }
    }
}
