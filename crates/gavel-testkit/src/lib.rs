//! gavel-testkit: the tools we did not write that gavel's tests check its evidence with — coreutils
//! `sha256sum`, the `openssl` CLI, and the pinned Python oracles of [`oracles`] (compliance-trestle,
//! pypdf, the Standard Webhooks and OCSF references, moto) — run the way an auditor would, from the
//! bundle's directory. Test-only: a dev-dependency of the crates whose tests use it.
//!
//! Each check returns a [`Run`] (success and the combined output) so tests assert on it with the
//! output in the failure message; a missing tool is a panic naming what to install, never a pass.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test scaffolding: a failed setup is the test failing

pub mod browser;
pub mod oracles;
pub mod postgres;
pub mod webhook_receiver;

pub use browser::Browser;
pub use oracles::{node_command, python, python_command};
pub use postgres::Postgres;
pub use webhook_receiver::WebhookReceiver;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::time::Duration;

/// The lines `child` prints on its piped stdout, read on a thread of their own for as long as it
/// runs: the pipe never closes under it (its next line would fail to print), and the reader can
/// wait for a line with a timeout ([`line_after`]).
pub fn stdout_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("the child's stdout is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

/// The rest of the first of `lines` that starts with `prefix`, trimmed (e.g. the URL of
/// `gavel listening on <url>`), waiting at most `timeout` for each line; `None` when a line does
/// not come in time or the output ends first.
pub fn line_after(lines: &mpsc::Receiver<String>, prefix: &str, timeout: Duration) -> Option<String> {
    loop {
        let line = lines.recv_timeout(timeout).ok()?;
        if let Some(rest) = line.strip_prefix(prefix) {
            return Some(rest.trim().to_string());
        }
    }
}

/// What a tool said: whether it exited with success, and its stdout followed by its stderr.
#[derive(Debug, Clone)]
pub struct Run {
    pub ok: bool,
    pub output: String,
}

/// Runs `cmd args` in `dir`. Panics if the tool cannot be started at all.
pub fn run(dir: &Path, cmd: &str, args: &[&str]) -> Run {
    let out = Command::new(cmd)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{cmd} is required by this test (.ci/run installs it): {e}"));
    Run {
        ok: out.status.success(),
        output: format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    }
}

/// `sha256sum -c --strict SHA256SUMS` in a bundle directory.
pub fn sha256sum_check(bundle: &Path) -> Run {
    run(bundle, "sha256sum", &["-c", "--strict", "SHA256SUMS"])
}

/// `openssl pkeyutl -verify` of `SHA256SUMS.sig` over `SHA256SUMS` with the bundle's
/// `signing-key.pem`; `ok` only if openssl also printed "Signature Verified Successfully".
pub fn openssl_verify(bundle: &Path) -> Run {
    let mut r = run(
        bundle,
        "openssl",
        &[
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            "signing-key.pem",
            "-rawin",
            "-in",
            "SHA256SUMS",
            "-sigfile",
            "SHA256SUMS.sig",
        ],
    );
    r.ok = r.ok && r.output.contains("Signature Verified Successfully");
    r
}

/// `trestle validate` of an OSCAL assessment-results document, in a fresh trestle workspace, with
/// the oracles' pinned compliance-trestle; `ok` only if trestle also said VALID.
pub fn trestle_validate(assessment_results: &Path) -> Run {
    let ws = std::env::temp_dir().join(format!("gavel-trestle-{}-{}", std::process::id(), unique()));
    std::fs::create_dir_all(&ws).expect("trestle workspace");
    let trestle = |args: &[&str]| -> Run {
        let out = python_command()
            .arg("-m")
            .arg("trestle")
            .args(args)
            .current_dir(&ws)
            .output()
            .expect("the oracles' python runs trestle");
        Run {
            ok: out.status.success(),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    };
    let init = trestle(&["init"]);
    assert!(init.ok, "trestle init: {}", init.output);
    let target = ws.join("assessment-results/gavel/assessment-results.json");
    std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
    std::fs::copy(assessment_results, &target).expect("copy the OSCAL document");
    let mut r = trestle(&["validate", "-f", target.to_str().expect("utf-8 path")]);
    r.ok = r.ok && r.output.contains("VALID");
    let _ = std::fs::remove_dir_all(&ws);
    r
}

/// A number no other call in this process has had (trestle workspaces of parallel tests).
fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Stdio;

    #[test]
    fn line_after_reads_past_other_lines_and_says_none_once_the_output_ends() {
        let mut child = Command::new("sh")
            .args(["-c", "echo starting; echo 'listening on  http://127.0.0.1:1 '; echo done"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = stdout_lines(&mut child);
        let timeout = Duration::from_secs(60);
        assert_eq!(line_after(&lines, "listening on ", timeout).as_deref(), Some("http://127.0.0.1:1"));
        assert_eq!(line_after(&lines, "listening on ", timeout), None, "the output ended first");
        assert!(child.wait().unwrap().success());
    }
}
