//! A real PostgreSQL server for tests: Debian's `postgresql` binaries (installed by `.ci/run`),
//! a fresh cluster in a temporary directory (`initdb`), listening on a free loopback port.
//!
//! [`Postgres::shared`] is one server per test process (each test takes its own database from
//! it); [`Postgres::start`] is a server of the test's own, which it may stop and start again.
//! PostgreSQL refuses to run as root, so when the tests do (CI), the cluster belongs to the
//! `postgres` user the Debian package creates and its commands run through `runuser`. A
//! watchdog shell stops the server and removes its directory once the test process is gone,
//! so no test run leaves a server behind (statics are never dropped).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

/// A PostgreSQL cluster of the tests' own.
pub struct Postgres {
    bin: PathBuf,
    root: tempfile::TempDir,
    port: u16,
    /// The user the server runs as, when the tests run as root.
    run_as: Option<String>,
    databases: AtomicU32,
    /// With TLS: the CA certificate (PEM) that signed the server's certificate.
    ca: Option<PathBuf>,
}

impl Postgres {
    /// The test process's shared server, started on first use.
    pub fn shared() -> &'static Postgres {
        static SHARED: OnceLock<Postgres> = OnceLock::new();
        SHARED.get_or_init(Postgres::start)
    }

    /// Starts a new cluster (initdb, then the server), waiting until it accepts connections.
    pub fn start() -> Postgres {
        Self::start_with(false)
    }

    /// Like [`Postgres::start`], serving TLS with a certificate for `127.0.0.1` and `localhost`
    /// issued by a CA of its own ([`Postgres::ca_certificate`]), made with the `openssl` CLI.
    pub fn start_tls() -> Postgres {
        Self::start_with(true)
    }

    fn start_with(tls: bool) -> Postgres {
        let bin = bin_dir();
        let root = tempfile::Builder::new().prefix("gavel-pg-").tempdir().unwrap();
        let run_as = is_root().then(|| "postgres".to_string());
        // The server's user must reach its directory; the tempdir is 0700 and root's.
        if let Some(user) = &run_as {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
            let uid = user_id(user);
            std::os::unix::fs::chown(root.path(), Some(uid), None).unwrap();
        }
        let port = free_port();
        let mut pg = Postgres { bin, root, port, run_as, databases: AtomicU32::new(0), ca: None };
        if tls {
            pg.ca = Some(pg.make_certificates());
        }
        let data = pg.data_dir();
        pg.command(
            "initdb",
            &["-D", data.to_str().unwrap(), "-U", "gavel", "--auth=trust", "-E", "UTF8", "--no-sync"],
        );
        pg.watchdog();
        pg.start_server();
        pg
    }

    fn data_dir(&self) -> PathBuf {
        self.root.path().join("data")
    }

    /// Runs one of the cluster's binaries as the server's user; panics with its output on failure.
    fn command(&self, tool: &str, args: &[&str]) -> String {
        let program = self.bin.join(tool);
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&program);
                c
            }
            None => Command::new(&program),
        };
        let out = cmd
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("{} could not be started: {e}", program.display()));
        let text =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{tool} {args:?} failed:\n{text}");
        text
    }

    /// Starts (or restarts after [`Postgres::stop`]) the server and waits until it is ready.
    pub fn start_server(&self) {
        let data = self.data_dir();
        let log = self.root.path().join("server.log");
        let mut options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=300",
            self.port,
            self.root.path().display()
        );
        if self.ca.is_some() {
            let dir = self.root.path().display();
            options.push_str(&format!(
                " -c ssl=on -c ssl_cert_file={dir}/server.pem -c ssl_key_file={dir}/server.key"
            ));
        }
        self.command(
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
                "60",
                "start",
            ],
        );
    }

    /// Stops the server at once (`immediate`: like a crash of the database; clients see their
    /// connections drop). Its data stays: [`Postgres::start_server`] brings it back.
    pub fn stop(&self) {
        let data = self.data_dir();
        self.command("pg_ctl", &["-D", data.to_str().unwrap(), "-m", "immediate", "-w", "stop"]);
    }

    /// The server's version, as `postgres --version` prints it.
    pub fn version(&self) -> String {
        let out = Command::new(self.bin.join("postgres")).arg("--version").output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().trim_start_matches("postgres (PostgreSQL) ").to_string()
    }

    /// The CA certificate (PEM file) of a server started with [`Postgres::start_tls`].
    pub fn ca_certificate(&self) -> Option<&std::path::Path> {
        self.ca.as_deref()
    }

    /// A CA and a server certificate signed by it, in the cluster's directory; returns the CA's.
    fn make_certificates(&self) -> PathBuf {
        let dir = self.root.path();
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl CLI");
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
        openssl(
            &[
                &["req", "-x509"][..],
                &ec,
                &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=gavel test CA"],
            ]
            .concat(),
        );
        openssl(
            &[&["req"][..], &ec, &["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"]]
                .concat(),
        );
        std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n").unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ]);
        // PostgreSQL refuses a key others may read, and reads it as the server's user.
        use std::os::unix::fs::PermissionsExt;
        let key = dir.join("server.key");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        if let Some(user) = &self.run_as {
            let uid = user_id(user);
            for file in ["server.key", "server.pem"] {
                std::os::unix::fs::chown(dir.join(file), Some(uid), None).unwrap();
            }
        }
        dir.join("ca.pem")
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A new empty database on this server; returns its URL.
    pub fn create_database(&self) -> String {
        let n = self.databases.fetch_add(1, Ordering::Relaxed);
        let name = format!("gavel_test_{n}");
        let port = self.port.to_string();
        self.command("createdb", &["-h", "127.0.0.1", "-p", &port, "-U", "gavel", &name]);
        self.url(&name)
    }

    /// The URL of database `name` on this server.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://gavel@127.0.0.1:{}/{name}", self.port)
    }

    /// The URL of database `name` over the server's Unix socket (the host is the socket's
    /// directory, percent-encoded).
    pub fn socket_url(&self, name: &str) -> String {
        let dir = self.root.path().display().to_string().replace('/', "%2F");
        format!("postgres://gavel@{dir}:{}/{name}", self.port)
    }

    /// Runs SQL on database `url` through `psql` (e.g. to tamper with rows as an attacker would).
    pub fn psql(&self, url: &str, sql: &str) -> String {
        self.command("psql", &["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", url, "-c", sql])
    }

    /// Stops the server and removes its directory once this test process has exited.
    #[allow(
        clippy::zombie_processes,
        reason = "the watchdog outlives this process by design (it waits for it to exit); it is never a zombie of a live test"
    )]
    fn watchdog(&self) {
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
             if [ -f '{data}/postmaster.pid' ]; then kill -QUIT $(head -1 '{data}/postmaster.pid') 2>/dev/null; sleep 1; fi; \
             rm -rf '{root}'",
            pid = std::process::id(),
            data = self.data_dir().display(),
            root = self.root.path().display(),
        );
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let pid = std::fs::read_to_string(self.data_dir().join("postmaster.pid")).ok();
        if let Some(pid) = pid.as_deref().and_then(|p| p.lines().next()) {
            let _ = Command::new("kill").args(["-QUIT", pid]).status();
        }
    }
}

/// The newest installed PostgreSQL's binaries (Debian keeps them outside PATH).
fn bin_dir() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "PostgreSQL's server binaries are required by this test (Debian package `postgresql`, \
             which .ci/run installs): no /usr/lib/postgresql/<version>/bin/initdb"
        ),
    }
}

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

fn user_id(user: &str) -> u32 {
    let out = Command::new("id").args(["-u", user]).output().unwrap();
    assert!(
        out.status.success(),
        "user {user} is required to run PostgreSQL as root (Debian's postgresql package creates it)"
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
