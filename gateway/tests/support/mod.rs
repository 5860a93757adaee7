//! Real servers for tests, private to the test that starts them: a PostgreSQL from Debian's
//! `postgresql` package, initialised into a temporary directory and listening on a free loopback port
//! (run as the `postgres` user when the test runs as root, since PostgreSQL refuses root), stopped
//! and removed on drop. `ci/setup.sh` installs the package; a server that cannot start fails the test
//! with one line saying why. [`node`] starts in-process gateway nodes on it and talks to them; [`process`] runs
//! the `gateway` binary as an operator does.

#![allow(dead_code, clippy::unwrap_used)]

pub mod node;
pub mod process;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A private PostgreSQL with a `kong` user owning a `kong` database (Kong's defaults).
pub struct PgServer {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
    as_postgres: bool,
}

fn fail(why: impl std::fmt::Display) -> ! {
    panic!("cannot start a private PostgreSQL for this test: {why}")
}

/// The directory of PostgreSQL's server programs: `initdb` on PATH, else Debian's
/// `/usr/lib/postgresql/<version>/bin` (the newest).
fn bin_dir() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort();
    if let Some(dir) = versions.pop() {
        return dir;
    }
    fail(
        "initdb not found (no /usr/lib/postgresql/*/bin/initdb); run ci/setup.sh, which installs Debian's postgresql",
    )
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| fail(format!("no free loopback port: {e}")))
}

impl PgServer {
    /// initdb, start on a free port, create the `kong` user and database.
    pub fn start() -> Self {
        let bin = bin_dir();
        let dir = std::env::temp_dir().join(format!("gateway-pg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| fail(format!("{}: {e}", dir.display())));
        let as_postgres = is_root();
        let server = Self {
            dir,
            port: free_port(),
            bin,
            as_postgres,
        };
        if as_postgres {
            server.check(
                "chown",
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(&server.dir)
                    .output(),
            );
        }
        let data = server.data();
        server.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        server.start_server();
        server.psql("CREATE ROLE kong LOGIN");
        server.psql("CREATE DATABASE kong OWNER kong");
        server
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kong's settings for this server: host 127.0.0.1, this port, user and database `kong`.
    pub fn config(&self) -> gateway::store::PgConfig {
        gateway::store::PgConfig {
            host: "127.0.0.1".into(),
            port: self.port,
            ..gateway::store::PgConfig::default()
        }
    }

    /// Starts (again) the server on its port.
    pub fn start_server(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        let data = self.data();
        let log = self.dir.join("server.log");
        self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-o",
                &options,
                "-w",
                "-t",
                "30",
                "start",
            ],
        );
    }

    /// Stops the server at once (an outage); [`PgServer::start_server`] brings it back.
    pub fn stop_server(&self) {
        let data = self.data();
        self.run(
            "pg_ctl",
            &["-D", data.to_str().unwrap(), "-m", "fast", "-w", "stop"],
        );
    }

    /// Runs one SQL statement as the `postgres` superuser in database `kong` (or `postgres` before
    /// it exists) and returns psql's unaligned output.
    pub fn psql(&self, sql: &str) -> String {
        let port = self.port.to_string();
        let host = self.dir.to_str().unwrap().to_owned();
        let db = if sql.starts_with("CREATE ROLE") || sql.starts_with("CREATE DATABASE") {
            "postgres"
        } else {
            "kong"
        };
        let out = self.run(
            "psql",
            &[
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                &host,
                "-p",
                &port,
                "-U",
                "postgres",
                "-d",
                db,
                "-c",
                sql,
            ],
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn program(&self, name: &str) -> PathBuf {
        let own = self.bin.join(name);
        if own.exists() {
            own
        } else {
            Path::new(name).to_path_buf()
        }
    }

    fn run(&self, name: &str, args: &[&str]) -> Output {
        let program = self.program(name);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        cmd.args(args).current_dir(&self.dir);
        self.check(name, cmd.output())
    }

    fn check(&self, name: &str, out: std::io::Result<Output>) -> Output {
        match out {
            Ok(o) if o.status.success() => o,
            Ok(o) => {
                let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
                let last = log.lines().last().unwrap_or_default().to_owned();
                fail(format!(
                    "{name} failed ({}): {} {last}",
                    o.status,
                    String::from_utf8_lossy(&o.stderr).trim()
                ))
            }
            Err(e) => fail(format!("cannot run {name}: {e}")),
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let data = self.data();
        let program = self.program("pg_ctl");
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        let _ = cmd
            .args([
                "-D",
                data.to_str().unwrap_or_default(),
                "-m",
                "immediate",
                "stop",
            ])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
