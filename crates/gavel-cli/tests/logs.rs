//! What `gavel serve` writes on stderr: with `--log-format json` every line is one JSON object; an
//! access line per request names the route template, status, latency and principal, never a token
//! or a share link's raw path; an invalid RUST_LOG is refused at start.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

mod common;

use common::Server;
use serde_json::Value;
use std::process::Command;

#[test]
fn json_logs_with_an_access_line_per_request_and_no_secrets() {
    let server = Server::start();
    let admin = server.admin.clone();
    assert_eq!(server.http_get("/v1/me", Some(&admin)).0, 200);
    assert_eq!(server.http_get("/v1/me", Some("gvl_wrong")).0, 401);
    assert_eq!(server.http_get("/no/such/route", None).0, 404);
    let secret_path = "/v1/public/share/shr_secrettokenvalue/files/manifest.json";
    let _ = server.http_get(secret_path, None);
    let log = server.stop_and_log();

    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    let access: Vec<&Value> = lines.iter().filter(|l| l["target"] == "gavel::access").collect();
    let find = |route: &str, status: u64| {
        access
            .iter()
            .find(|l| l["fields"]["route"] == route && l["fields"]["status"] == status)
            .unwrap_or_else(|| panic!("no access line for {route} {status} in {access:#?}"))
    };
    let me = find("/v1/me", 200);
    assert!(me["fields"]["principal"].as_str().unwrap().starts_with("user:usr_"), "{me}");
    assert!(me["fields"]["request_id"].as_str().unwrap().starts_with("req_"), "{me}");
    assert!(me["fields"]["latency_ms"].as_str().unwrap().parse::<f64>().is_ok(), "{me}");
    assert_eq!(find("/v1/me", 401)["fields"]["principal"], "-");
    find("(no route)", 404);
    assert!(access
        .iter()
        .any(|l| l["fields"]["route"].as_str().unwrap_or("").starts_with("/v1/public/share/{token}")));
    for secret in [admin.as_str(), "gvl_wrong", "shr_secrettokenvalue"] {
        assert!(!log.contains(secret), "{secret} reached the log");
    }
}

#[test]
fn an_invalid_rust_log_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(tmp.path().join("data"))
        .env("RUST_LOG", "gavel=[")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("RUST_LOG") && err.contains("not a valid log filter"), "{err}");
    assert!(!tmp.path().join("data").exists(), "nothing was created");
}

/// `checkpoint_publish_dir`: every newly signed checkpoint is also written outside the database,
/// and `gavel audit verify --checkpoint` proves the log extends the copy.
#[test]
fn signed_checkpoints_are_published_to_a_directory() {
    let anchors = tempfile::tempdir().unwrap();
    let config = format!(
        "checkpoint_interval_secs = 1\ncheckpoint_publish_dir = {:?}\n",
        anchors.path().to_str().unwrap()
    );
    let server = Server::start_with_config(Some(&config));
    let admin = server.admin.clone();
    let out = server.gavel(Some(&admin), &["agents", "create", "bot", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let published = anchors.path().join("checkpoint");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let note = loop {
        let text = std::fs::read_to_string(&published).unwrap_or_default();
        // The body's second line is the tree size: wait for one that covers the agent.
        if text.lines().nth(1).and_then(|l| l.parse::<u64>().ok()).is_some_and(|n| n >= 2) {
            break text;
        }
        assert!(std::time::Instant::now() < deadline, "no checkpoint published: {}", server.log());
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(note.starts_with("gavel.local/"), "{note}");
    let data = server.stop();
    let verify = Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(["audit", "verify", "--checkpoint", published.to_str().unwrap(), "--data-dir"])
        .arg(data.path().join("data"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success() && text.contains("extends the 1 checkpoint"), "{text}");
}
