//! What the `gateway` commands do besides starting, as Kong's CLI does it (`kong/cmd/*.lua`): check a
//! declarative file (`config parse`), write a starter one (`config init`), and find and signal the node that
//! runs at a prefix (`health`, `reload`, `quit`, `stop`) through its pid file, `<prefix>/pids/nginx.pid`, as
//! Kong finds its nginx (`kong/templates/nginx.lua`: `pid pids/nginx.pid;`).
//!
//! A started node writes that pid file and `<prefix>/.kong_env` (Kong's file of the running node's settings,
//! here only the listeners it is bound to) and removes the pid file when it stops.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Kong's default file for `config init` (`kong/cmd/config.lua`: `DEFAULT_FILE = "./kong.yml"`).
pub const DEFAULT_CONFIG_FILE: &str = "./kong.yml";

/// The starter `kong.yml`, with placeholders for the secrets `config init` generates.
const STARTER: &str = include_str!("kong.yml");

/// How long `health` waits for the node's status answer.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);

/// `config parse FILE`: loads the file as a start would (every entry checked with the plugins' schemas), and
/// says Kong's "parse successful".
///
/// # Errors
/// Kong's "Failed parsing:" followed by every error, each naming the file, the entry and the field.
pub fn parse_config(file: &Path) -> Result<&'static str, String> {
    let catalogue = crate::plugins::Catalogue::new(crate::plugins::Deps::in_memory());
    let now = crate::Clock::system().now();
    crate::declarative::load_file(file, now, &catalogue)
        .map(|_| "parse successful")
        .map_err(|err| format!("Failed parsing:\n{err}"))
}

/// `config init [FILE]`: writes the starter configuration (both documented flows) with fresh secrets.
///
/// # Errors
/// Kong's "FILE already exists.\nWill not overwrite it." (`kong/cmd/config.lua`, `generate_init`), or why it
/// cannot be written.
pub fn init_config(file: &Path) -> Result<String, String> {
    if file.exists() {
        return Err(format!(
            "{} already exists.\nWill not overwrite it.",
            file.display()
        ));
    }
    let text = STARTER
        .replace("{{SESSION_SECRET}}", &random_secret()?)
        .replace("{{OIDC_SESSION_SECRET}}", &random_secret()?);
    std::fs::write(file, text).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    Ok(format!("{} written", file.display()))
}

/// 32 random bytes, hex.
fn random_secret() -> Result<String, String> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| "no randomness for a secret".to_owned())?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Kong's `prefix`: where a running node keeps its pid file and settings.
#[derive(Debug, Clone)]
pub struct Prefix(PathBuf);

impl Prefix {
    /// The prefix at `dir`.
    #[must_use]
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self(dir.into())
    }

    /// `<prefix>/pids/nginx.pid`, Kong's `nginx_pid`.
    #[must_use]
    pub fn pid_file(&self) -> PathBuf {
        self.0.join("pids").join("nginx.pid")
    }

    /// `<prefix>/.kong_env`, Kong's `kong_env`.
    #[must_use]
    pub fn env_file(&self) -> PathBuf {
        self.0.join(".kong_env")
    }

    /// The directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.0
    }

    /// Records this process as the node running at the prefix, with its bound listeners (`key = value`
    /// lines, as Kong's `.kong_env`).
    ///
    /// # Errors
    /// Kong's "Kong is already running in PREFIX" when a live process holds the pid file; else why a file
    /// cannot be written.
    pub fn claim(&self, settings: &[(&str, String)]) -> Result<(), String> {
        if let Some(pid) = self.running_pid() {
            // kong/cmd/start.lua: "Kong is already running in <prefix>".
            return Err(format!(
                "Kong is already running in {} (pid {pid})",
                self.0.display()
            ));
        }
        let pid_file = self.pid_file();
        let written = pid_file
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&pid_file, format!("{}\n", std::process::id())));
        written.map_err(|e| format!("cannot write {}: {e}", pid_file.display()))?;
        let env: String = settings
            .iter()
            .map(|(key, value)| format!("{key} = {value}\n"))
            .collect();
        std::fs::write(self.env_file(), env)
            .map_err(|e| format!("cannot write {}: {e}", self.env_file().display()))
    }

    /// Removes the pid file if it is still this process's.
    pub fn release(&self) {
        let file = self.pid_file();
        let ours = std::fs::read_to_string(&file)
            .is_ok_and(|text| text.trim() == std::process::id().to_string());
        if ours {
            let _ = std::fs::remove_file(file);
        }
    }

    /// The pid in the pid file, when that process is alive (Kong's `kill.is_running`: `kill -0`).
    #[must_use]
    pub fn running_pid(&self) -> Option<u32> {
        let pid: u32 = std::fs::read_to_string(self.pid_file())
            .ok()?
            .trim()
            .parse()
            .ok()?;
        signal(pid, "0").ok().map(|()| pid)
    }

    /// Sends `signal` (`HUP`, `QUIT`, `TERM`) to the node running at the prefix.
    ///
    /// # Errors
    /// Kong's "Kong is not running at PREFIX", or why the signal could not be sent.
    pub fn signal(&self, signal_name: &str) -> Result<u32, String> {
        let pid = self.running_pid().ok_or_else(|| self.not_running())?;
        signal(pid, signal_name)?;
        Ok(pid)
    }

    fn not_running(&self) -> String {
        // kong/cmd/health.lua and kong/cmd/reload.lua.
        format!("Kong is not running at {}", self.0.display())
    }

    /// The settings the running node recorded.
    #[must_use]
    pub fn settings(&self) -> HashMap<String, String> {
        std::fs::read_to_string(self.env_file())
            .unwrap_or_default()
            .lines()
            .filter_map(|line| line.split_once(" = "))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect()
    }

    /// `health`: the node at the prefix is alive and its status endpoint (the status listener's, else the Admin
    /// API's) answers 200 within [`HEALTH_TIMEOUT`]. Returns Kong's lines (`kong/cmd/health.lua`).
    ///
    /// # Errors
    /// "Kong is not running at PREFIX", or which endpoint did not answer and why.
    pub async fn health(&self) -> Result<Vec<String>, String> {
        let pid = self.running_pid().ok_or_else(|| self.not_running())?;
        let settings = self.settings();
        let (url, client) = status_url(&settings)?;
        let answer = client
            .get(&url)
            .timeout(HEALTH_TIMEOUT)
            .send()
            .await
            .map_err(|e| format!("{url} did not answer: {e}"))?;
        if !answer.status().is_success() {
            return Err(format!("{url} answered {}", answer.status()));
        }
        Ok(vec![
            format!("gateway.....running (pid {pid})"),
            format!("status......{} ({url})", answer.status()),
            String::new(),
            format!("Kong is healthy at {}", self.0.display()),
        ])
    }
}

/// The first status endpoint recorded in `.kong_env`: `status_listen`'s `/status`, else `admin_listen`'s, and
/// a client for it (over TLS, the node's own certificate is not checked: it is the same machine's).
fn status_url(settings: &HashMap<String, String>) -> Result<(String, reqwest::Client), String> {
    for key in ["status_listen", "admin_listen"] {
        let Some(value) = settings.get(key) else {
            continue;
        };
        let Ok(specs) = crate::ListenSpec::parse_list(key, value) else {
            continue;
        };
        if let Some(spec) = specs.first() {
            let host = if spec.addr.ip().is_unspecified() {
                std::net::SocketAddr::from(([127, 0, 0, 1], spec.addr.port()))
            } else {
                spec.addr
            };
            let scheme = if spec.ssl { "https" } else { "http" };
            let client = reqwest::Client::builder()
                .tls_danger_accept_invalid_certs(spec.ssl)
                .build()
                .map_err(|e| e.to_string())?;
            return Ok((format!("{scheme}://{host}/status"), client));
        }
    }
    Err("the running node has neither a status nor an Admin API listener".to_owned())
}

/// `kill -s SIGNAL PID`, as Kong's `kong/cmd/utils/kill.lua` does (`0` checks that the process exists).
fn signal(pid: u32, signal_name: &str) -> Result<(), String> {
    let status = Command::new("kill")
        .args(["-s", signal_name, &pid.to_string()])
        .stderr(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("cannot run kill: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cannot send SIG{signal_name} to pid {pid}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_starter_configuration_parses_and_is_never_overwritten() {
        let dir = std::env::temp_dir().join(format!("gw-init-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("kong.yml");
        init_config(&file).expect("written");
        let text = std::fs::read_to_string(&file).expect("read");
        assert!(!text.contains("{{"), "placeholders filled");
        assert_eq!(parse_config(&file), Ok("parse successful"));
        let again = init_config(&file).expect_err("exists");
        assert!(
            again.ends_with("already exists.\nWill not overwrite it."),
            "{again}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn kill_0_finds_this_process_and_not_a_dead_one() {
        assert!(signal(std::process::id(), "0").is_ok());
        let dir = std::env::temp_dir().join(format!("gw-prefix-{}", uuid::Uuid::new_v4()));
        let prefix = Prefix::new(&dir);
        assert_eq!(prefix.running_pid(), None);
        prefix
            .claim(&[("admin_listen", "127.0.0.1:1".to_owned())])
            .expect("claimed");
        assert_eq!(prefix.running_pid(), Some(std::process::id()));
        assert!(
            prefix
                .claim(&[])
                .expect_err("twice")
                .starts_with("Kong is already running in")
        );
        assert_eq!(prefix.settings()["admin_listen"], "127.0.0.1:1");
        prefix.release();
        assert_eq!(prefix.running_pid(), None);
        let _ = std::fs::remove_dir_all(dir);
    }
}
