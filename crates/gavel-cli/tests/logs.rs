//! What `gavel serve` writes on stderr: with `--log-format json` every line is one JSON object; an
//! access line per request names the route template, status, latency and principal, never a token
//! or a share link's raw path; an invalid RUST_LOG is refused at start.

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
