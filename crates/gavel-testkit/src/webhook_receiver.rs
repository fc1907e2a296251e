//! The Standard Webhooks test receiver (`bench/webhooks/receiver.py`) as a child process: it checks
//! every delivery's signature with the reference `standardwebhooks` library (from the pinned
//! oracles) and records what it saw, one JSON line per request, for the test to read back.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// A running receiver; killed when dropped.
pub struct WebhookReceiver {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl WebhookReceiver {
    /// Starts the receiver with extra `receiver.py` arguments (e.g. `--fail-first 3`) and waits
    /// until it listens. Panics if it does not within 20 s.
    pub fn start(args: &[&str]) -> WebhookReceiver {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/webhooks/receiver.py");
        let file = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
        let child = crate::python_command()
            .arg(script)
            .args([
                "--port-file",
                &file("port"),
                "--secret-file",
                &file("secret"),
                "--record",
                &file("record"),
            ])
            .args(args)
            .stdin(Stdio::null())
            .spawn()
            .expect("start receiver.py");
        let mut receiver = WebhookReceiver { child, dir, port: 0 };
        let deadline = Instant::now() + Duration::from_secs(20);
        receiver.port = loop {
            let written = std::fs::read_to_string(receiver.path("port")).ok();
            if let Some(port) = written.and_then(|s| s.trim().parse().ok()) {
                break port;
            }
            assert!(Instant::now() < deadline, "the webhook receiver did not start");
            std::thread::sleep(Duration::from_millis(50));
        };
        receiver
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL deliveries go to.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    /// Tells the receiver the endpoint's signing secret (`whsec_…`), atomically.
    pub fn set_secret(&self, secret: &str) {
        let tmp = self.path("secret.tmp");
        std::fs::write(&tmp, secret).expect("write secret");
        std::fs::rename(tmp, self.path("secret")).expect("install secret");
    }

    /// The file holding the secret the receiver verifies with.
    pub fn secret_path(&self) -> PathBuf {
        self.path("secret")
    }

    /// Every request received so far, oldest first.
    pub fn records(&self) -> Vec<Value> {
        std::fs::read_to_string(self.path("record"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON record line"))
            .collect()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
