//! End-to-end: `gavel init`, record events, `gavel evidence export`, `gavel evidence verify`
//! (also with --previous and pinned keys), tamper, and verify fails with exit 1 naming the file.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use time::{Duration, OffsetDateTime};

fn gavel(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gavel"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("GAVEL_DATA_DIR")
        .output()
        .expect("run gavel")
}

fn json(out: &Output) -> Value {
    assert!(out.status.success(), "gavel failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON output")
}

fn day(offset: i64) -> String {
    let d = OffsetDateTime::now_utc().date() + Duration::days(offset);
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

#[test]
fn export_verify_tamper() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    json(&gavel(&data, &["init", "--org", "acme", "--json"]));
    for i in 0..3 {
        let d = format!(r#"{{"review": {i}, "reviewer": "alice"}}"#);
        json(&gavel(&data, &["audit", "record", "--kind", "external.access_review", "--data", &d, "--json"]));
    }
    let (from, to) = (day(-1), day(2));
    let b1 = tmp.path().join("b1");
    let b1s = b1.to_str().expect("utf-8");
    let s =
        json(&gavel(&data, &["evidence", "export", "--from", &from, "--to", &to, "--out", b1s, "--json"]));
    assert_eq!(s["total_events"], 4, "{s:#}"); // the bootstrap admin and 3 records
    assert_eq!(s["export_key_created"], true);
    assert_eq!(s["type_ii"]["type_ii"], false);
    assert_eq!(s["criteria"].as_array().map(Vec::len), Some(9));
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(data.join("keys/export.key")).expect("export key").permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);

    // Human output of verify lists every check.
    let out = gavel(&data, &["evidence", "verify", b1s]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    for check in ["files", "signature", "checkpoint", "events", "inclusion", "consistency"] {
        assert!(text.contains(check), "{text}");
    }
    assert!(text.contains("valid:"), "{text}");

    // Verification needs no data directory, and pins the keys it is given.
    let keys = json(&gavel(&data, &["keys", "show", "--json"]));
    let log_key = keys["log"]["verifier_key"].as_str().expect("verifier key").to_string();
    let nowhere = tmp.path().join("nowhere");
    let pinned = json(&gavel(&nowhere, &["evidence", "verify", b1s, "--log-key", &log_key, "--json"]));
    assert_eq!(pinned["valid"], true, "{pinned:#}");
    assert!(!nowhere.exists());

    // A second export proves the first bundle's log is a prefix of its own.
    json(&gavel(&data, &["audit", "record", "--kind", "external.training", "--data", "{}", "--json"]));
    let b2 = tmp.path().join("b2");
    let b2s = b2.to_str().expect("utf-8");
    let s2 =
        json(&gavel(&data, &["evidence", "export", "--from", &from, "--to", &to, "--out", b2s, "--json"]));
    assert_eq!(s2["export_key_created"], false);
    let r = json(&gavel(&data, &["evidence", "verify", b2s, "--previous", b1s, "--json"]));
    assert_eq!(r["valid"], true, "{r:#}");
    assert!(r["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .any(|c| c["name"] == "previous" && c["ok"] == true));

    // Exporting into an existing bundle is refused (exit 2).
    let out = gavel(&data, &["evidence", "export", "--from", &from, "--to", &to, "--out", b1s]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an empty directory"));
    let out = gavel(&data, &["evidence", "export", "--from", &to, "--to", &from, "--out", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("must be before"));

    // Tamper: exit 1, the failing check and file are named.
    std::fs::write(b1.join("events.jsonl"), "{}\n").expect("write");
    let out = gavel(&data, &["evidence", "verify", b1s]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("FAIL files") && text.contains("events.jsonl"), "{text}");
    assert!(text.contains("INVALID"), "{text}");
    let r = gavel(&data, &["evidence", "verify", b2s, "--previous", b1s, "--json"]);
    assert_eq!(r.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&r.stdout).expect("json");
    let prev = v["checks"].as_array().expect("checks").iter().find(|c| c["name"] == "previous").cloned();
    assert_eq!(prev.as_ref().map(|c| c["ok"].clone()), Some(Value::Bool(false)), "{v:#}");

    // Not a bundle at all.
    let out = gavel(&data, &["evidence", "verify", tmp.path().join("missing").to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
}
