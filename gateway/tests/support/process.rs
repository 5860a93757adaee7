//! The `gateway` binary as an operator runs it, for tests: started in a private prefix on free loopback ports
//! (Kong's settings given as `KONG_*` variables, so that a test's own flags override them), its stdout and
//! stderr read line by line, found by its "listening" line, and killed (prefix removed) on drop.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

/// How long a node may take to start.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running `gateway` process.
pub struct Node {
    child: Option<Child>,
    prefix: PathBuf,
    lines: Receiver<String>,
    seen: Vec<String>,
    /// The proxy's (first plain) address.
    pub proxy: SocketAddr,
    /// The Admin API's (first plain) address.
    pub admin: SocketAddr,
    /// The Status API's first address, if it listens.
    pub status: Option<SocketAddr>,
}

/// A fresh private prefix directory (not created).
pub fn temp_prefix() -> PathBuf {
    std::env::temp_dir().join(format!("gw-node-{}", uuid::Uuid::new_v4()))
}

/// The binary with the test defaults: loopback port-0 listeners, no status listener, `prefix`, no colours.
pub fn command(prefix: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gateway"));
    cmd.env("KONG_PROXY_LISTEN", "127.0.0.1:0")
        .env("KONG_ADMIN_LISTEN", "127.0.0.1:0")
        .env("KONG_STATUS_LISTEN", "off")
        .env("KONG_PREFIX", prefix)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG");
    cmd
}

/// Runs a short command (`config parse`, `health`, ...) of the binary against `prefix`.
pub fn run(prefix: &Path, args: &[&str]) -> Output {
    command(prefix).args(args).output().expect("run gateway")
}

/// The value of `key` in a log line: `key=value` in text, a member in JSON.
fn field(line: &str, key: &str) -> Option<String> {
    if let Ok(serde_json::Value::Object(fields)) = serde_json::from_str(line) {
        return fields.get(key)?.as_str().map(str::to_owned);
    }
    let at = line.find(&format!("{key}="))?;
    let value = line[at + key.len() + 1..].split_whitespace().next()?;
    Some(value.trim_matches('"').to_owned())
}

impl Node {
    /// Starts the binary with `args` and `env` on top of the test defaults, in a fresh prefix.
    ///
    /// # Panics
    /// When it does not log its "listening" line within [`START_TIMEOUT`] (with everything it printed).
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_in(temp_prefix(), args, env)
    }

    /// [`Node::start`] in `prefix`.
    pub fn start_in(prefix: PathBuf, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut cmd = command(&prefix);
        cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        for (key, value) in env {
            cmd.env(key, value);
        }
        let mut child = cmd.spawn().expect("spawn gateway");
        let (tx, lines) = channel();
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx2.send(line);
            }
        });
        let mut node = Self {
            child: Some(child),
            prefix,
            lines,
            seen: Vec::new(),
            proxy: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin: SocketAddr::from(([127, 0, 0, 1], 0)),
            status: None,
        };
        let Some(line) = node.wait_for(|l| l.contains("listening"), START_TIMEOUT) else {
            let status = node
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            panic!(
                "gateway {args:?} did not start ({status:?}):\n{}",
                node.seen.join("\n")
            );
        };
        let addr = |key| field(&line, key).and_then(|v| v.parse().ok());
        node.proxy = addr("proxy").expect("proxy= in the listening line");
        node.admin = addr("admin").expect("admin= in the listening line");
        node.status = addr("status");
        node
    }

    /// The prefix it runs in.
    pub fn prefix(&self) -> &Path {
        &self.prefix
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Waits (at most `within`) for a line matching `pred`, keeping every line read.
    pub fn wait_for(&mut self, pred: impl Fn(&str) -> bool, within: Duration) -> Option<String> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return Some(line);
                    }
                }
                Err(_) => return None,
            }
        }
    }

    /// Every line read so far (and those already waiting).
    pub fn lines(&mut self) -> &[String] {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        &self.seen
    }

    /// Sends `signal` (`HUP`, `QUIT`, `TERM`) with `kill`.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args(["-s", signal, &self.pid().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -s {signal}");
    }

    /// Waits (at most `within`) for the process to exit; its status code.
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        let child = self.child.as_mut()?;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.prefix);
    }
}

/// One HTTP/1.1 request on an open (keep-alive) connection; the status and body of its answer.
pub fn exchange(
    stream: &mut TcpStream,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(request.as_bytes()).expect("write request");
    read_response(stream)
}

/// Reads one response with a `Content-Length` or chunked body.
fn read_response(stream: &mut TcpStream) -> (u16, String) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).expect("read response head");
        assert!(
            n > 0,
            "connection closed before a response: {}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let header = |name: &str| {
        head.lines()
            .find_map(|l| {
                l.split_once(':')
                    .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            })
            .map(|(_, v)| v.trim().to_owned())
    };
    let mut body = Vec::new();
    if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(len, 0);
        stream.read_exact(&mut body).expect("read body");
    } else if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size_line = Vec::new();
            while !size_line.ends_with(b"\r\n") {
                stream.read_exact(&mut byte).expect("chunk size");
                size_line.push(byte[0]);
            }
            let size = usize::from_str_radix(String::from_utf8_lossy(&size_line).trim(), 16)
                .expect("hex size");
            let mut chunk = vec![0u8; size + 2];
            stream.read_exact(&mut chunk).expect("chunk");
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// A request on a new connection (closed after it).
pub fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    let content_type = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Connection", "close"),
    ];
    exchange(&mut stream, method, path, &content_type, body)
}
