//! `gavel demo`: simulated days through the real code, every day covered, the log whole, never
//! mixed into a data directory that already holds records — and the done-when: a Type II
//! export of the demo verifies with `gavel evidence verify`, with sha256sum + openssl alone, and
//! its OSCAL file passes `trestle validate`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

mod common;

use common::{clean, json, refused};
use std::path::Path;
use std::process::Command;

fn gavel(args: &[&str]) -> std::process::Output {
    clean(&mut Command::new(env!("CARGO_BIN_EXE_gavel"))).args(args).output().unwrap()
}

#[test]
fn the_demo_fills_an_empty_data_dir_with_verifiable_simulated_days() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let data = data.to_str().unwrap();
    let out = json(&gavel(&["demo", "--days", "12", "--calls-per-day", "12", "--data-dir", data, "--json"]));
    assert_eq!(out["simulated"], true);
    assert_eq!(
        out["decisions"].as_u64().unwrap(),
        144 + 12,
        "12 a day, and the burst that opens the incident"
    );
    assert!(out["approvals"].as_u64().unwrap() > 0, "{out}");
    assert!(out["incidents"].as_u64().unwrap() >= 1, "{out}");
    assert_eq!(out["scans"], 2, "a scan each week and on the last day");
    assert!(out["admin_token"].as_str().unwrap().starts_with("gvl_"));

    let verify = json(&gavel(&["audit", "verify", "--json", "--data-dir", data]));
    assert_eq!(verify["valid"], true, "{verify}");
    assert_eq!(verify["checkpoints_checked"], 12, "one signed checkpoint closes each day");

    // Every calendar day has events, the last one is today, and nothing is in the future.
    let db = rusqlite::Connection::open(tmp.path().join("data/gavel.db")).unwrap();
    let days: Vec<String> = db
        .prepare("SELECT DISTINCT substr(time, 1, 10) FROM events ORDER BY 1")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let now = time::OffsetDateTime::now_utc();
    assert!(days.len() >= 12, "{days:?}");
    assert_eq!(days.last().unwrap(), &now.date().to_string());
    let last: String = db.query_row("SELECT MAX(time) FROM events", [], |r| r.get(0)).unwrap();
    assert!(last <= gavel_ledger::clock::format_time(now), "{last} is in the future");
    let kinds: Vec<String> = db
        .prepare("SELECT DISTINCT kind FROM events")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for kind in [
        "decision",
        "approval.decided",
        "approval.expired",
        "outcome.recorded",
        "policy.activated",
        "policy.mode_changed",
        "agent.deactivated",
        "agent.credential_rotated",
        "webhook.created",
        // The simulated SIEM does not exist: the demo ends with its webhook disabled.
        "webhook.disabled",
        "detection.raised",
        "incident.opened",
        "incident.assigned",
        "incident.contained",
        "incident.resolved",
        "killswitch.engaged",
        "killswitch.released",
        "compliance.scan_completed",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "no {kind} event in {kinds:?}");
    }
    let simulated: String =
        db.query_row("SELECT value FROM meta WHERE key = 'simulated'", [], |r| r.get(0)).unwrap();
    assert_eq!(simulated, "true");
    // Closed before gavel runs again: it opens a database only when no other process has it open.
    drop(db);

    // Never on top of real records; bad input is refused.
    let err = refused(&gavel(&["demo", "--days", "3", "--data-dir", data]));
    assert!(err.contains("already holds events"), "{err}");
    let other = tmp.path().join("other");
    let err = refused(&gavel(&["demo", "--days", "0", "--data-dir", other.to_str().unwrap()]));
    assert!(err.contains("--days"), "{err}");
}

#[test]
fn a_type_ii_export_of_the_demo_verifies_with_gavel_coreutils_openssl_and_trestle() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let data = data.to_str().unwrap();
    let demo = json(&gavel(&["demo", "--days", "95", "--calls-per-day", "4", "--data-dir", data, "--json"]));
    let from = &demo["from"].as_str().unwrap()[..10];
    let tomorrow = (time::OffsetDateTime::now_utc() + time::Duration::days(1)).date().to_string();
    let export = json(&gavel(&[
        "evidence",
        "export",
        "--from",
        from,
        "--to",
        &tomorrow,
        "--data-dir",
        data,
        "--json",
    ]));
    assert_eq!(export["type_ii"]["type_ii"], true, "{}", export["type_ii"]);
    assert!(export["type_ii"]["observation_days"].as_i64().unwrap() >= 95);
    let bundle = Path::new(export["out"].as_str().unwrap()).to_path_buf();
    assert!(
        bundle.starts_with(tmp.path().join("data/exports")),
        "no --out: the bundle goes where the server can share it"
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["simulated"], true);
    assert_eq!(manifest["retention"]["days"], 365);
    assert_eq!(manifest["type_ii"]["coverage_gaps"], serde_json::json!([]));

    let verified = json(&gavel(&["evidence", "verify", bundle.to_str().unwrap(), "--json"]));
    assert_eq!(verified["valid"], true, "{verified}");

    let sums = gavel_testkit::sha256sum_check(&bundle);
    assert!(sums.ok, "{}", sums.output);
    let signature = gavel_testkit::openssl_verify(&bundle);
    assert!(signature.ok, "{}", signature.output);
    let r = gavel_testkit::trestle_validate(&bundle.join("oscal/assessment-results.json"));
    assert!(r.ok, "trestle validate: {}", r.output);
}
