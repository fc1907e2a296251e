//! `gavel demo`: simulated days through the real code, every day covered, the log whole, and
//! never mixed into a data directory that already holds records.

mod common;

use common::{clean, json, refused};
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
    assert_eq!(out["decisions"], 144);
    assert!(out["approvals"].as_u64().unwrap() > 0, "{out}");
    assert!(out["admin_token"].as_str().unwrap().starts_with("gvl_"));

    let verify = json(&gavel(&["audit", "verify", "--json", "--data-dir", data]));
    assert_eq!(verify["valid"], true, "{verify}");
    assert_eq!(verify["checkpoints_checked"], 12, "one signed checkpoint closes each day");

    // Every simulated day has events, and the last one is today.
    let db = rusqlite::Connection::open(tmp.path().join("data/gavel.db")).unwrap();
    let days: Vec<String> = db
        .prepare("SELECT DISTINCT substr(time, 1, 10) FROM events ORDER BY 1")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(days.len(), 12, "{days:?}");
    let today = time::OffsetDateTime::now_utc().date().to_string();
    assert_eq!(days.last().unwrap(), &today);
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
        "policy.activated",
        "policy.mode_changed",
        "agent.deactivated",
        "killswitch.engaged",
        "killswitch.released",
        "webhook.created",
        "outcome.recorded",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "no {kind} event in {kinds:?}");
    }
    let simulated: String =
        db.query_row("SELECT value FROM meta WHERE key = 'simulated'", [], |r| r.get(0)).unwrap();
    assert_eq!(simulated, "true");

    // Never on top of real records.
    let err = refused(&gavel(&["demo", "--days", "3", "--data-dir", data]));
    assert!(err.contains("already holds events"), "{err}");
    let err =
        refused(&gavel(&["demo", "--days", "0", "--data-dir", tmp.path().join("other").to_str().unwrap()]));
    assert!(err.contains("--days"), "{err}");
}
