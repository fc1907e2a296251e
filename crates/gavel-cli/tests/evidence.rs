//! End-to-end: `gavel init`, record events, `gavel evidence export`, `gavel evidence verify`
//! (also with --previous and pinned keys), tamper, and verify fails with exit 1 naming the file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use time::{Duration, OffsetDateTime};

/// Runs `gavel args...` on the data directory `dir` (GAVEL_DATA_DIR; `evidence verify` needs none).
fn gavel(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(args)
        .env("GAVEL_DATA_DIR", dir)
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
    let key = gavel(&data, &["evidence", "key"]);
    assert!(key.status.success());
    assert_eq!(key.stdout, std::fs::read(b1.join("signing-key.pem")).expect("pem"));
    let published = tmp.path().join("published.pem");
    std::fs::write(&published, &key.stdout).expect("write");
    let pinned = json(&gavel(
        &nowhere,
        &["evidence", "verify", b1s, "--signing-key", published.to_str().expect("utf-8"), "--json"],
    ));
    assert_eq!(pinned["valid"], true, "{pinned:#}");
    std::fs::write(
        &published,
        gavel_ledger::keys::public_key_pem(&gavel_ledger::keys::generate_signing_key().verifying_key()),
    )
    .expect("write");
    let out =
        gavel(&nowhere, &["evidence", "verify", b1s, "--signing-key", published.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("not the trusted export signing key"));

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

    // Exporting into an existing bundle is refused (exit 3).
    let out = gavel(&data, &["evidence", "export", "--from", &from, "--to", &to, "--out", b1s]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an empty directory"));
    let out = gavel(&data, &["evidence", "export", "--from", &to, "--to", &from, "--out", "x"]);
    assert_eq!(out.status.code(), Some(3));
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
    assert_eq!(out.status.code(), Some(3));
}

/// The real domain code paths (gavel-core) produce the events; the evidence the CLI exports from
/// them says what happened: inventory with outcomes, the deactivation followed by a denial, the
/// policy change with author and approver, the kill switch.
#[test]
fn evidence_from_real_domain_events() {
    use gavel_core::containment::Scope;
    use gavel_core::decide::DecideRequest;
    use gavel_core::DataDir;
    use gavel_core::{Gavel, NewAgent, Role};
    use gavel_ledger::clock::ManualClock;
    use std::sync::Arc;

    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    {
        let clock = Arc::new(ManualClock::new(time::macros::datetime!(2026-03-01 09:00 UTC)));
        let (g, _) = Gavel::open(&DataDir::new(&data), clock.clone(), Some("acme")).expect("open");
        let admin = g.bootstrap_admin().expect("bootstrap").expect("first admin");
        let admin = g.authenticate(&admin.token).expect("admin");
        let sec = g.create_user(&admin, "sec", Role::Admin).expect("second admin");
        let sec = g.authenticate(&sec.token).expect("sec");
        let text = r#"permit(principal, action == Action::"call_tool", resource == Tool::"refund");"#;
        let change = g.propose_policy(&admin, "base", text, None).expect("propose");
        g.approve_change(&sec, &change.id, Some("looks right")).expect("approve");
        let agent = g
            .create_agent(
                &admin,
                NewAgent { name: "billing-bot".into(), owner: Some("alice".into()), ..Default::default() },
            )
            .expect("agent");
        let token = agent.token.clone();
        let call = |tool: &str| {
            let p = g.authenticate(&token).expect("agent token");
            let req: DecideRequest =
                serde_json::from_value(serde_json::json!({"tool": tool})).expect("request");
            g.decide(&p, req).expect("decide")
        };
        clock.advance(time::Duration::minutes(5));
        call("refund");
        call("wire");
        g.engage_kill_switch(&admin, Scope::Global, "drill", None).expect("engage");
        call("refund");
        g.release_kill_switch(&admin, Scope::Global, "drill over").expect("release");
        g.deactivate_agent(&admin, "billing-bot", "retired").expect("deactivate");
        clock.advance(time::Duration::minutes(5));
        call("refund");
    }
    let out = tmp.path().join("b");
    let outs = out.to_str().expect("utf-8");
    let s = json(&gavel(
        &data,
        &["evidence", "export", "--from", "2026-03-01", "--to", "2026-03-02", "--out", outs, "--json"],
    ));
    assert!(s["hash_chain_verified"].as_bool().unwrap_or(false), "{s:#}");
    let control = |id: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(out.join(format!("controls/{id}.json"))).expect("read"))
            .expect("json")
    };
    let cc61 = control("CC6.1");
    assert_eq!(
        cc61["analysis"]["decisions_by_outcome"],
        serde_json::json!({"allow": 1, "deny": 3}),
        "{cc61:#}"
    );
    assert_eq!(cc61["analysis"]["agents"][0]["name"], "billing-bot");
    assert_eq!(cc61["analysis"]["agents"][0]["owner"], "alice");
    assert_eq!(cc61["analysis"]["agents"][0]["status"], "deactivated");
    let cc63 = control("CC6.3");
    assert_eq!(cc63["status"], "satisfied", "{cc63:#}");
    assert_eq!(cc63["analysis"]["agents"][0]["calls_afterwards"], serde_json::json!({"deny": 1}), "{cc63:#}");
    assert_eq!(cc63["analysis"]["agents"][0]["reason"], "retired");
    let cc81 = control("CC8.1");
    let history = cc81["analysis"]["history"].as_array().expect("history");
    let activated = history.iter().find(|h| h["kind"] == "policy.activated").expect("activation");
    assert_eq!(activated["approver"], "sec", "{cc81:#}");
    assert_eq!(activated["version"], 1);
    assert_eq!(cc81["status"], "satisfied");
    let cc74 = control("CC7.4");
    let kinds: Vec<&str> = cc74["analysis"]["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter_map(|a| a["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"killswitch.engaged") && kinds.contains(&"agent.deactivated"), "{cc74:#}");
    assert_eq!(
        cc74["analysis"]["contained_decisions"]
            .as_object()
            .map(|m| m.values().filter_map(Value::as_u64).sum::<u64>()),
        Some(1),
        "{cc74:#}"
    );
    let cc62 = control("CC6.2");
    assert!(cc62["evidence_count"].as_u64().unwrap_or(0) >= 4, "{cc62:#}");
    let r = json(&gavel(&data, &["evidence", "verify", outs, "--json"]));
    assert_eq!(r["valid"], true, "{r:#}");
}

/// Edits the body of event `seq` in the database (as an insider with file access would).
fn tamper(data: &Path, seq: u64) {
    let db = rusqlite::Connection::open(data.join("gavel.db")).expect("db");
    db.execute(
        "UPDATE events SET body = CAST(replace(CAST(body AS TEXT), 'alice', 'alicf') AS BLOB) WHERE seq = ?1",
        [seq],
    )
    .expect("tamper");
    // Closed before gavel runs: it opens a database only when no other process has it open.
}

/// A log edited under a signed checkpoint exports a bundle that says so, and that bundle does
/// not verify. A log edited after its last checkpoint exports nothing: the log key never signs
/// over entries that fail verification, so there is no checkpoint to anchor a bundle to.
#[test]
fn an_edited_log_exports_a_bundle_that_discloses_the_break() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    json(&gavel(&data, &["init", "--json"]));
    let review = |i: u32| {
        let d = format!(r#"{{"review": {i}, "reviewer": "alice"}}"#);
        json(&gavel(&data, &["audit", "record", "--kind", "external.access_review", "--data", &d, "--json"]));
    };
    for i in 0..4 {
        review(i);
    }
    json(&gavel(&data, &["audit", "checkpoint", "--json"]));
    tamper(&data, 2);
    let out = tmp.path().join("b");
    let outs = out.to_str().expect("utf-8");
    let res = gavel(&data, &["evidence", "export", "--from", &day(-1), "--to", &day(2), "--out", outs]);
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    assert!(String::from_utf8_lossy(&res.stderr).contains("warning: the hash chain does not verify"));
    let integrity: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("integrity.json")).expect("read"))
            .expect("json");
    assert_eq!(integrity["hash_chain_verified"], false);
    assert_eq!(integrity["gaps_detected"][0]["first_break"], 2);
    let cc72: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("controls/CC7.2.json")).expect("read"))
            .expect("json");
    assert_eq!(cc72["status"], "not-satisfied");
    let res = gavel(&data, &["evidence", "verify", outs]);
    assert_eq!(res.status.code(), Some(1));
    let text = String::from_utf8_lossy(&res.stdout);
    assert!(text.contains("FAIL events") && text.contains("line 4 (seq 3)"), "{text}");

    // Past the last checkpoint: the export is refused, says why, and writes nothing.
    review(4);
    review(5);
    tamper(&data, 6);
    // The log is invalid now (verify exits 1), but its JSON report still counts the events.
    let total = || -> Value {
        let out = gavel(&data, &["audit", "verify", "--json"]);
        serde_json::from_slice::<Value>(&out.stdout).expect("report")["total"].clone()
    };
    let before = total();
    let again = tmp.path().join("c");
    let res = gavel(
        &data,
        &["evidence", "export", "--from", &day(-1), "--to", &day(2), "--out", again.to_str().expect("utf-8")],
    );
    assert_eq!(res.status.code(), Some(3), "{}", String::from_utf8_lossy(&res.stdout));
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(err.contains("seq 6") && err.contains("refusing to sign"), "{err}");
    assert!(!again.exists(), "no bundle");
    assert_eq!(total(), before, "nothing recorded");
}
