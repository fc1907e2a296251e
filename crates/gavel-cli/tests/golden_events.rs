//! The typed event payloads (gavel-events) write exactly what the log holds: every event of a
//! `gavel demo` log whose kind has a type is read through it and written back, and the canonical
//! bytes must be the stored bytes — so moving a writer to the types can never change a leaf hash.
//! The world: a `gavel demo` log, then an evidence export of it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

mod common;

use common::{clean, json};
use std::collections::BTreeMap;
use std::process::Command;

#[test]
fn every_typed_event_of_a_demo_log_reserializes_to_its_stored_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = clean(&mut Command::new(env!("CARGO_BIN_EXE_gavel")))
        .args([
            "demo",
            "--days",
            "10",
            "--calls-per-day",
            "8",
            "--data-dir",
            data.to_str().unwrap(),
            "--json",
        ])
        .output()
        .unwrap();
    json(&out);
    // An evidence export of the whole demo, so the log also holds an `evidence.exported`.
    let export = clean(&mut Command::new(env!("CARGO_BIN_EXE_gavel")))
        .args(["evidence", "export", "--from", "2000-01-01", "--to", "2100-01-01", "--json", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    json(&export);
    let db = rusqlite::Connection::open(data.join("gavel.db")).unwrap();
    let mut stmt = db.prepare("SELECT seq, body FROM events ORDER BY seq").unwrap();
    let rows = stmt.query_map([], |r| Ok((r.get::<_, u64>(0)?, r.get::<_, Vec<u8>>(1)?))).unwrap();
    let mut typed: BTreeMap<String, u64> = BTreeMap::new();
    for row in rows {
        let (seq, body) = row.unwrap();
        let mut event: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let kind = event["kind"].as_str().unwrap().to_string();
        let Some(retyped) = gavel_events::retype(&kind, &event["data"]) else { continue };
        event["data"] = retyped.unwrap_or_else(|e| panic!("seq {seq} ({kind}) does not read: {e}"));
        let again = gavel_ledger::jcs::to_vec(&event).unwrap();
        assert!(
            again == body,
            "seq {seq} ({kind}) changes through its type:\n stored  {}\n retyped {}",
            String::from_utf8_lossy(&body),
            String::from_utf8_lossy(&again)
        );
        *typed.entry(kind).or_default() += 1;
    }
    // Retyped elsewhere, the demo writing none: findings in gavel-core's governance test;
    // `incident.linked`, `auth.failures`, `retention.purged`, `agent.suspended`,
    // `agent.reactivated`, `agent.limits_changed`, `share.*`, `retention.change_requested`,
    // `retention.policy_set`, `hold.*`, `console.*`, `notification.*` and `detectors.progress` in
    // gavel-server's OCSF session; purges that clear payloads in gavel-core's retention test;
    // `evidence.uploaded` in gavel-server's S3 export test. Each of those also has a unit test in
    // gavel-events against the JSON its writer's `json!` produced.
    for kind in [
        "decision",
        "approval.decided",
        "approval.expired",
        "outcome.recorded",
        "policy.proposed",
        "policy.activated",
        "policy.mode_changed",
        "incident.opened",
        "incident.assigned",
        "incident.triaged",
        "incident.noted",
        "incident.contained",
        "incident.resolved",
        "detection.raised",
        "compliance.scan_completed",
        "evidence.exported",
        "killswitch.engaged",
        "killswitch.released",
        "agent.registered",
        "agent.deactivated",
        "agent.credential_rotated",
        "pack.installed",
        "user.created",
        "webhook.created",
        "webhook.disabled",
    ] {
        assert!(typed.get(kind).is_some_and(|n| *n > 0), "the demo has no {kind}: {typed:?}");
    }
}
