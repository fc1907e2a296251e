//! The harness of the end-to-end CLI tests: the real `gavel serve` on a random port, driven over
//! real HTTP by the `gavel` binary with `--server` and `--token` after the command, as an
//! operator would.

// Each test crate uses its own subset of the helpers.
#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A running `gavel serve`, stopped with SIGTERM when dropped (a failing test leaves no process).
pub struct Server {
    pub child: Child,
    pub url: String,
    pub admin: String,
    pub tmp: tempfile::TempDir,
}

impl Server {
    pub fn start() -> Server {
        Self::start_with_config(None)
    }

    /// A server whose data directory holds `gavel.toml` with `config` before the first start.
    pub fn start_with_config(config: Option<&str>) -> Server {
        let tmp = tempfile::tempdir().unwrap();
        if let Some(config) = config {
            let data = tmp.path().join("data");
            std::fs::create_dir(&data).unwrap();
            std::fs::write(data.join("gavel.toml"), config).unwrap();
        }
        let (child, url, admin) = Self::spawn_serve(&tmp, true);
        Server { child, url, admin: admin.unwrap(), tmp }
    }

    /// Starts `gavel serve` on the data directory of an earlier server (returned by
    /// [`Server::stop`]) whose first admin token was `admin`.
    pub fn restart_in(tmp: tempfile::TempDir, admin: String) -> Server {
        let (child, url, _) = Self::spawn_serve(&tmp, false);
        Server { child, url, admin, tmp }
    }

    /// `kill -9` the server (no graceful shutdown: in-flight work is lost as in a crash), then
    /// start a new one on the same data directory and address-independent URL.
    pub fn kill_and_restart(&mut self) {
        let status = Command::new("kill").args(["-KILL", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
        let _ = self.child.wait();
        let (child, url, _) = Self::spawn_serve(&self.tmp, false);
        self.child = child;
        self.url = url;
    }

    fn spawn_serve(tmp: &tempfile::TempDir, first: bool) -> (Child, String, Option<String>) {
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(tmp.path().join("server.log"))
            .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_gavel"))
            .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(tmp.path().join("data"))
            .env_remove("GAVEL_DATA_DIR")
            .env_remove("GAVEL_CONFIG")
            .env_remove("GAVEL_ADDR")
            .env_remove("RUST_LOG")
            // JSON lines, one object each: tests read them back (see `logs.rs`).
            .env("GAVEL_LOG_FORMAT", "json")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start gavel serve");
        // Wait with a timeout for the two lines we need, in whichever order they come.
        let rx = gavel_testkit::stdout_lines(&mut child);
        let (mut url, mut admin) = (None, None);
        while url.is_none() || (first && admin.is_none()) {
            let line = rx.recv_timeout(Duration::from_secs(60)).expect("gavel serve printed its address");
            if let Some(u) = line.strip_prefix("gavel listening on ") {
                url = Some(u.trim().to_string());
            }
            if let Some(t) = line.strip_prefix("bootstrap admin token (shown once, store it now): ") {
                admin = Some(t.trim().to_string());
            }
        }
        (child, url.unwrap(), admin)
    }

    /// Runs `gavel args... --server <url> [--token <token>]` with no ambient configuration (the
    /// remote options follow the command, as the commands that call the server take them).
    pub fn gavel(&self, token: Option<&str>, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gavel"));
        clean(&mut cmd).args(args).arg("--server").arg(&self.url);
        if let Some(token) = token {
            cmd.arg("--token").arg(token);
        }
        cmd.output().expect("run gavel")
    }

    /// Starts `gavel ...` like [`Server::gavel`] without waiting for it (a long-poll).
    pub fn spawn(&self, token: Option<&str>, args: &[&str]) -> Child {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gavel"));
        clean(&mut cmd).args(args).arg("--server").arg(&self.url);
        if let Some(token) = token {
            cmd.arg("--token").arg(token);
        }
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("run gavel")
    }

    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.tmp.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// SIGTERM, and the server must exit 0 (graceful shutdown). Returns the directory that held
    /// the data, for local commands once the server no longer holds the database.
    pub fn stop(mut self) -> tempfile::TempDir {
        terminate(&mut self.child);
        let status = self.child.wait().unwrap();
        assert!(status.success(), "gavel serve exited with {status}: {}", self.log());
        std::mem::replace(&mut self.tmp, tempfile::tempdir().unwrap())
    }

    /// A plain HTTP/1.0 GET to the server (what a load balancer or monitor does); status and JSON.
    pub fn http_get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        use std::io::{Read, Write};
        let addr = self.url.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
        write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n{auth}\r\n").unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        (status, serde_json::from_str(body).unwrap_or(Value::String(body.to_string())))
    }

    /// Stops the server gracefully and returns everything it logged.
    pub fn stop_and_log(self) -> String {
        let dir = self.stop();
        std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.tmp.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            terminate(&mut self.child);
            let _ = self.child.wait();
        }
    }
}

/// A child process killed (SIGKILL) when the test ends, passing or not: a failing test leaves no
/// process behind.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `gavel gateway --listen 127.0.0.1:0`: MCP over Streamable HTTP on a free loopback port,
/// killed when dropped.
pub struct HttpGateway {
    pub process: Running,
    /// What its first line names (`gavel gateway listening on <base>`); MCP is at `<base>/mcp`.
    pub base: String,
}

impl HttpGateway {
    /// Starts `gavel gateway --listen 127.0.0.1:0` with the rest of its command line (`--server`,
    /// the upstream) and environment added by `configure`, its stderr in the file `stderr`, and
    /// waits for the line that names its address.
    pub fn start(stderr: &Path, configure: impl FnOnce(&mut Command)) -> HttpGateway {
        let mut command = Command::new(env!("CARGO_BIN_EXE_gavel"));
        clean(&mut command).args(["gateway", "--listen", "127.0.0.1:0"]);
        configure(&mut command);
        command.stdout(Stdio::piped()).stderr(std::fs::File::create(stderr).unwrap());
        let mut process = Running(command.spawn().unwrap());
        let mut first = String::new();
        BufReader::new(process.0.stdout.take().unwrap()).read_line(&mut first).unwrap();
        let base = first.trim().strip_prefix("gavel gateway listening on ").unwrap_or_else(|| {
            panic!(
                "the listening line, not {first:?}; the gateway's stderr:\n{}",
                std::fs::read_to_string(stderr).unwrap_or_default()
            )
        });
        HttpGateway { base: base.to_string(), process }
    }

    /// The MCP endpoint.
    pub fn endpoint(&self) -> String {
        format!("{}/mcp", self.base)
    }

    /// SIGTERM, and the gateway must stop cleanly (exit 0).
    pub fn stop(mut self) {
        terminate(&mut self.process.0);
        assert!(self.process.0.wait().unwrap().success(), "SIGTERM stops the HTTP gateway cleanly");
    }
}

/// Waits (up to 60 s) until something accepts connections on 127.0.0.1:`port`; `what` names it
/// in the failure.
pub fn wait_for_listener(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn terminate(child: &mut Child) {
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

pub fn clean(cmd: &mut Command) -> &mut Command {
    cmd.env_remove("GAVEL_TOKEN").env_remove("GAVEL_SERVER").env_remove("GAVEL_DATA_DIR")
}

pub fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "gavel failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).unwrap()
}

pub fn json(out: &Output) -> Value {
    serde_json::from_str(&stdout(out)).expect("JSON output")
}

/// The command failed with the exit status its failure calls for (2 for a command line clap
/// refused, else 3, 4 or 5); returns its stderr.
pub fn refused(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    // The documented exit status follows from what failed: 2 for the command line, 4 for HTTP
    // 401/403, 5 for 5xx or an unreachable server, 3 for any other refusal or a local failure.
    let status =
        err.split("HTTP ").nth(1).and_then(|rest| rest.get(..3)).and_then(|code| code.parse::<u16>().ok());
    let expected = match status {
        // clap refused the command line: nothing ran.
        _ if err.contains("For more information, try '--help'") => 2,
        Some(401 | 403) => 4,
        Some(500..=599) => 5,
        Some(_) => 3,
        None if err.contains("cannot reach the gavel server") => 5,
        None if err.contains("needs a token") => 4,
        None => 3,
    };
    assert_eq!(
        out.status.code(),
        Some(expected),
        "expected exit {expected}, got {}; stdout: {} stderr: {err}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(err.starts_with("error: "), "{err}");
    err
}

pub fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} missing in {v}"))
}
