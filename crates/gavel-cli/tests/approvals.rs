//! Approvals, outcomes and receipts, findings, kill switches, limits, the agent lifecycle and
//! inventory, end to end: the real `gavel serve` on a random port, driven by the `gavel` binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

mod common;

use common::{json, refused, stdout, str_of, Server};
use serde_json::Value;

const POLICY: &str = r#"@id("allow_search")
permit(principal, action == Action::"call_tool", resource == Tool::"search_docs");
@id("hold_email")
@gavel("require_approval")
permit(principal, action == Action::"call_tool", resource == Tool::"send_email");
@id("no_wipe")
forbid(principal, action == Action::"call_tool", resource == Tool::"wipe_disk");
"#;

/// A server with a live policy, the admin alice, the admin bob (who approved the policy), the
/// approvers carol, dave and erin, and the agent `mailer` owned by dave.
struct World {
    server: Server,
    alice: String,
    carol: String,
    dave: String,
    erin: String,
    agent: String,
}

impl World {
    fn new() -> World {
        let server = Server::start();
        let alice = server.admin.clone();
        let a = Some(alice.as_str());
        let user = |name: &str, role: &str| -> String {
            let u = json(&server.gavel(a, &["users", "create", name, "--role", role, "--json"]));
            str_of(&u, "token").to_string()
        };
        let bob = user("bob", "admin");
        let carol = user("carol", "approver");
        let dave = user("dave", "approver");
        let erin = user("erin", "approver");
        let agent = json(&server.gavel(a, &["agents", "create", "mailer", "--owner", "dave", "--json"]));
        let agent = str_of(&agent, "token").to_string();
        let file = server.file("team.cedar", POLICY);
        let change = json(
            &server.gavel(a, &["policy", "propose", "team", "--file", file.to_str().unwrap(), "--json"]),
        );
        json(&server.gavel(Some(&bob), &["policy", "approve", str_of(&change, "id"), "--json"]));
        World { server, alice, carol, dave, erin, agent }
    }

    fn run(&self, token: &str, args: &[&str]) -> std::process::Output {
        self.server.gavel(Some(token), args)
    }

    /// `gavel decide --json ...` with the agent's token.
    fn decide(&self, args: &[&str]) -> Value {
        let mut all = vec!["decide", "--json"];
        all.extend_from_slice(args);
        json(&self.run(&self.agent, &all))
    }
}

const ARGS: &str = r#"{"to":"ceo@example.com","body":"Q3 numbers","password":"hunter2"}"#;

#[test]
fn approve_path_to_outcome_receipt_reuse_and_trace() {
    let w = World::new();
    let held = w.decide(&["--tool", "send_email", "--args", ARGS, "--on-behalf-of", "frank"]);
    assert_eq!(held["decision"], "require_approval");
    let approval_id = str_of(&held, "approval_id").to_string();
    let decision_id = str_of(&held, "decision_id").to_string();

    // Approvers see the held call, its secrets redacted by the server.
    let pending = json(&w.run(&w.carol, &["approvals", "list", "--status", "pending", "--json"]));
    assert_eq!(pending["items"][0]["id"], approval_id.as_str());
    assert_eq!(pending["items"][0]["arguments"]["to"], "ceo@example.com");
    let table = stdout(&w.run(&w.carol, &["approvals", "list"]));
    assert!(
        table.starts_with("ID") && table.contains(&approval_id) && table.contains("send_email"),
        "{table}"
    );
    let shown = stdout(&w.run(&w.carol, &["approvals", "show", &approval_id]));
    for needle in [
        format!("approval {approval_id} for decision {decision_id}"),
        "tool:         send_email".into(),
        "agent:        mailer (agt_".into(),
        "owner:        dave".into(),
        "on behalf of: frank".into(),
        "\"to\":\"ceo@example.com\"".into(),
        "[REDACTED".into(),
        "reasons:      ".into(),
        "status:       pending".into(),
        "(expires ".into(),
    ] {
        assert!(shown.contains(&needle), "{needle:?} not in:\n{shown}");
    }
    assert!(!shown.contains("hunter2") && !shown.contains("receipt"), "{shown}");

    // The agent's owner is the requester and never its approver; agents never approve.
    let err = refused(&w.run(&w.dave, &["approvals", "approve", &approval_id]));
    assert!(err.contains("cannot approve") && err.contains("(forbidden, HTTP 403)"), "{err}");
    let err = refused(&w.run(&w.agent, &["approvals", "approve", &approval_id]));
    assert!(err.contains("HTTP 403"), "{err}");

    // The agent long-polls while carol approves; the answer carries the single-use receipt.
    let poll = w.server.spawn(Some(&w.agent), &["approvals", "show", &approval_id, "--wait", "10", "--json"]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let approved =
        stdout(&w.run(&w.carol, &["approvals", "approve", &approval_id, "--comment", "looks fine"]));
    assert!(approved.contains(&format!("approved {approval_id}")), "{approved}");
    assert!(!approved.contains("rcpt_"), "the approver never sees the receipt: {approved}");
    let polled = json(&poll.wait_with_output().unwrap());
    assert_eq!(polled["status"], "approved");
    let receipt = str_of(&polled, "receipt").to_string();
    assert!(receipt.starts_with("rcpt_"), "{polled}");
    let shown = json(&w.run(&w.agent, &["approvals", "show", &approval_id, "--wait", "5", "--json"]));
    assert_eq!(shown["receipt"], receipt.as_str());
    let human = stdout(&w.run(&w.agent, &["approvals", "show", &approval_id]));
    assert!(
        human.contains(&format!("receipt:      {receipt}"))
            && human.contains(&format!("gavel outcome {decision_id}")),
        "{human}"
    );
    let theirs = json(&w.run(&w.alice, &["approvals", "show", &approval_id, "--json"]));
    assert!(theirs.get("receipt").is_none(), "{theirs}");
    let theirs = stdout(&w.run(&w.alice, &["approvals", "show", &approval_id]));
    for needle in
        ["status:       approved", "approved by:  carol (usr_", "decided at:", "comment:      looks fine"]
    {
        assert!(theirs.contains(needle), "{needle:?} not in:\n{theirs}");
    }
    assert!(!theirs.contains("rcpt_"), "{theirs}");

    // The outcome with the receipt and the executed arguments: no bypass.
    let outcome = json(&w.run(
        &w.agent,
        &[
            "outcome",
            &decision_id,
            "--status",
            "succeeded",
            "--detail",
            "sent",
            "--receipt",
            &receipt,
            "--args",
            ARGS,
            "--json",
        ],
    ));
    assert_eq!((outcome["bypass"].as_bool(), outcome["receipt_used"].as_bool()), (Some(false), Some(true)));
    assert!(outcome["seq"].is_u64(), "{outcome}");
    let err = refused(&w.run(&w.agent, &["outcome", &decision_id, "--status", "succeeded"]));
    assert!(err.contains("already recorded") && err.contains("HTTP 409"), "{err}");

    // The same receipt for another held call: refused, exit 2, and recorded as a finding.
    let second = w.decide(&["--tool", "send_email", "--args", ARGS]);
    let second_id = str_of(&second, "decision_id").to_string();
    let err =
        refused(&w.run(&w.agent, &["outcome", &second_id, "--status", "succeeded", "--receipt", &receipt]));
    assert!(err.contains("already used") && err.contains("(forbidden, HTTP 403)"), "{err}");
    let findings = json(&w.run(&w.alice, &["findings", "list", "--json"]));
    assert_eq!(findings["items"][0]["decision_id"], second_id.as_str());
    assert!(str_of(&findings["items"][0], "detail").contains("already used"), "{findings}");
    let table = stdout(&w.run(&w.carol, &["findings", "list"]));
    assert!(table.starts_with("TIME") && table.contains(&second_id) && table.contains("bypass"), "{table}");

    // Executing a denied call is recorded, flagged, and said so.
    let denied = w.decide(&["--tool", "wipe_disk"]);
    assert_eq!(denied["decision"], "deny");
    let human =
        stdout(&w.run(&w.agent, &["outcome", str_of(&denied, "decision_id"), "--status", "succeeded"]));
    assert!(
        human.contains("recorded outcome succeeded")
            && human.contains("bypass:       true")
            && human.contains("executed a call that was denied"),
        "{human}"
    );
    assert_eq!(json(&w.run(&w.alice, &["findings", "list", "--json"]))["items"].as_array().unwrap().len(), 2);

    // The trace of the approved call: who approved it, when, why, and what happened.
    let trace = stdout(&w.run(&w.carol, &["audit", "trace", &decision_id]));
    for needle in [
        "decision:     require_approval (enforced)",
        "team/hold_email version 1 (enforced)",
        &format!("approval: {approval_id}"),
        "  status:       approved",
        "  approved by:  carol (usr_",
        "  decided at:   ",
        "  comment:      looks fine",
        "outcome:\n  status:       succeeded",
        "  detail:       sent",
        "  receipt used: true",
        "  bypass:       false",
        "  findings:     -",
    ] {
        assert!(trace.contains(needle), "{needle:?} not in:\n{trace}");
    }
    assert!(!trace.contains(&receipt), "{trace}");
    let trace = json(&w.run(&w.carol, &["audit", "trace", &decision_id, "--json"]));
    assert_eq!(trace["approval"]["decided_by_name"], "carol");
    assert_eq!(trace["outcome"]["status"], "succeeded");

    // A trace with a bypass shows the findings.
    let trace = stdout(&w.run(&w.carol, &["audit", "trace", str_of(&denied, "decision_id")]));
    assert!(
        trace.contains("approval: none recorded")
            && trace.contains("  bypass:       true: recorded as a finding")
            && trace.contains("  findings:     executed a call that was denied"),
        "{trace}"
    );
    w.server.stop();
}

#[test]
fn deny_path_double_decisions_and_bad_input() {
    let w = World::new();
    // The user the agent acts for cannot approve; another approver denies.
    let held = w.decide(&["--tool", "send_email", "--on-behalf-of", "erin"]);
    let id = str_of(&held, "approval_id").to_string();
    let err = refused(&w.run(&w.erin, &["approvals", "approve", &id]));
    assert!(err.contains("erin requested") && err.contains("HTTP 403"), "{err}");
    let waited = stdout(&w.run(&w.agent, &["approvals", "show", &id, "--wait", "1"]));
    assert!(
        waited.contains("status:       pending") && waited.contains("still pending after waiting 1 s"),
        "{waited}"
    );
    let denied = stdout(&w.run(&w.carol, &["approvals", "deny", &id, "--comment", "not today"]));
    assert!(denied.contains(&format!("denied {id}")) && denied.contains("must not execute"), "{denied}");
    let view = json(&w.run(&w.agent, &["approvals", "show", &id, "--wait", "5", "--json"]));
    assert_eq!((view["status"].as_str(), view["comment"].as_str()), (Some("denied"), Some("not today")));
    assert!(view.get("receipt").is_none(), "{view}");
    let human = stdout(&w.run(&w.agent, &["approvals", "show", &id]));
    assert!(human.contains("denied by:    carol") && !human.contains("receipt"), "{human}");
    let outcome = json(
        &w.run(&w.agent, &["outcome", str_of(&held, "decision_id"), "--status", "not_executed", "--json"]),
    );
    assert_eq!(outcome["bypass"], false);
    let listed = json(&w.run(&w.carol, &["approvals", "list", "--status", "denied", "--json"]));
    assert_eq!(listed["items"][0]["id"], id.as_str());
    let none = stdout(&w.run(&w.carol, &["approvals", "list", "--status", "expired"]));
    assert_eq!(none.trim(), "no approval requests match");

    // Decided once: the second approver gets a conflict.
    let held = w.decide(&["--tool", "send_email"]);
    let id = str_of(&held, "approval_id").to_string();
    let first = json(&w.run(&w.carol, &["approvals", "approve", &id, "--json"]));
    assert_eq!(first["status"], "approved");
    assert!(first.get("receipt").is_none(), "{first}");
    let err = refused(&w.run(&w.erin, &["approvals", "approve", &id]));
    assert!(err.contains("already approved") && err.trim_end().ends_with("(conflict, HTTP 409)"), "{err}");
    let err = refused(&w.run(&w.erin, &["approvals", "deny", &id]));
    assert!(err.contains("HTTP 409"), "{err}");

    // Local checks before anything is sent, and the server's own.
    let err = refused(&w.run(&w.agent, &["approvals", "show", &id, "--wait", "61"]));
    assert!(err.contains("--wait"), "{err}");
    let err = refused(&w.run(&w.carol, &["approvals", "list", "--status", "maybe"]));
    assert!(err.contains("pending"), "{err}");
    let err = refused(&w.run(&w.agent, &["outcome", str_of(&held, "decision_id"), "--status", "done"]));
    assert!(err.contains("not_executed"), "{err}");
    let err = refused(&w.run(&w.agent, &["outcome", "dec_x", "--status", "failed", "--args", "[1]"]));
    assert!(err.contains("JSON object"), "{err}");
    let err = refused(&w.run(&w.agent, &["outcome", "dec_nope", "--status", "failed"]));
    assert!(err.contains("(not_found, HTTP 404)"), "{err}");
    let err = refused(&w.run(&w.alice, &["outcome", str_of(&held, "decision_id"), "--status", "failed"]));
    assert!(err.contains("HTTP 403"), "{err}");
    let err = refused(&w.run(&w.carol, &["approvals", "approve", "apr_nope"]));
    assert!(err.contains("HTTP 404"), "{err}");
    let err = refused(&w.run(&w.agent, &["findings", "list"]));
    assert!(err.contains("HTTP 403"), "{err}");
    w.server.stop();
}

#[test]
fn kill_switches_limits_lifecycle_and_inventory() {
    let w = World::new();
    let search = || w.decide(&["--tool", "search_docs"]);
    assert_eq!(search()["decision"], "allow");

    // A tool kill switch: who, why and the incident are recorded and quoted. The incident must
    // exist: an unknown one is refused.
    let err = refused(&w.run(
        &w.carol,
        &["killswitch", "engage", "--scope", "global", "--reason", "x", "--incident", "inc_7"],
    ));
    assert!(err.contains("HTTP 404"), "{err}");
    let incident = json(&w.run(
        &w.alice,
        &["incidents", "create", "--title", "suspicious burst", "--severity", "high", "--json"],
    ));
    let inc = str_of(&incident, "id");
    let engaged = stdout(&w.run(
        &w.carol,
        &[
            "killswitch",
            "engage",
            "--scope",
            "tool",
            "--target",
            "search_docs",
            "--reason",
            "suspicious burst",
            "--incident",
            inc,
        ],
    ));
    assert!(
        engaged.contains("engaged kill switch tool:search_docs (by carol)") && engaged.contains(inc),
        "{engaged}"
    );
    let d = search();
    assert_eq!(d["decision"], "deny");
    let reason = d["reasons"][0].as_str().unwrap();
    assert!(reason.contains("kill switch") && reason.contains("suspicious burst"), "{d}");
    let human = stdout(&w.run(&w.agent, &["decide", "--tool", "search_docs"]));
    assert!(human.contains("decision:    deny") && human.contains("suspicious burst"), "{human}");
    let err = refused(&w.run(
        &w.carol,
        &["killswitch", "engage", "--scope", "tool", "--target", "search_docs", "--reason", "again"],
    ));
    assert!(err.contains("already engaged") && err.contains("HTTP 409"), "{err}");
    let list = json(&w.run(&w.alice, &["killswitch", "list", "--json"]));
    let item = &list["items"][0];
    assert_eq!(
        (
            item["scope"].as_str(),
            item["target"].as_str(),
            item["engaged"].as_bool(),
            item["incident_id"].as_str()
        ),
        (Some("tool"), Some("search_docs"), Some(true), Some(inc))
    );
    let table = stdout(&w.run(&w.alice, &["killswitch", "list"]));
    assert!(
        table.starts_with("SCOPE") && table.contains("engaged") && table.contains("suspicious burst"),
        "{table}"
    );
    let released = stdout(&w.run(
        &w.alice,
        &["killswitch", "release", "--scope", "tool", "--target", "search_docs", "--reason", "false alarm"],
    ));
    assert!(released.contains("released kill switch tool:search_docs (by admin)"), "{released}");
    assert_eq!(search()["decision"], "allow");
    let list = json(&w.run(&w.alice, &["killswitch", "list", "--json"]));
    assert_eq!(
        (list["items"][0]["engaged"].as_bool(), list["items"][0]["released_by"].as_str()),
        (Some(false), Some("admin"))
    );

    // Global and per-agent switches.
    for (scope, target) in [("global", None), ("agent", Some("mailer"))] {
        let mut args =
            vec!["killswitch", "engage", "--scope", scope, "--reason", "containment drill", "--json"];
        args.extend(target.iter().flat_map(|t| ["--target", *t]));
        let switch = json(&w.run(&w.carol, &args));
        assert_eq!((switch["scope"].as_str(), switch["engaged"].as_bool()), (Some(scope), Some(true)));
        assert_eq!(search()["decision"], "deny");
        let mut args = vec!["killswitch", "release", "--scope", scope];
        args.extend(target.iter().flat_map(|t| ["--target", *t]));
        stdout(&w.run(&w.carol, &args));
        assert_eq!(search()["decision"], "allow");
    }
    let err = refused(&w.run(&w.carol, &["killswitch", "engage", "--scope", "agent", "--reason", "x"]));
    assert!(err.contains("needs --target"), "{err}");
    let err = refused(
        &w.run(&w.carol, &["killswitch", "engage", "--scope", "global", "--target", "x", "--reason", "x"]),
    );
    assert!(err.contains("takes no --target"), "{err}");
    let err = refused(&w.run(&w.carol, &["killswitch", "engage", "--scope", "global"]));
    assert!(err.contains("--reason"), "{err}");
    let err = refused(&w.run(&w.carol, &["killswitch", "release", "--scope", "global"]));
    assert!(err.contains("not engaged") && err.contains("HTTP 409"), "{err}");
    let err = refused(&w.run(&w.agent, &["killswitch", "list"]));
    assert!(err.contains("HTTP 403"), "{err}");

    // Rate limits: a fresh agent with 2 calls a minute; the third is denied.
    let a = Some(w.alice.as_str());
    let created = json(&w.server.gavel(
        a,
        &["agents", "create", "burst", "--calls-per-minute", "5", "--cost-usd-per-day", "1.5", "--json"],
    ));
    assert_eq!(created["limits"], serde_json::json!({"calls_per_minute": 5, "cost_usd_per_day": 1.5}));
    let burst = str_of(&created, "token").to_string();
    let limited = stdout(&w.run(&w.alice, &["agents", "limits", "burst", "--calls-per-minute", "2"]));
    assert!(limited.contains("limits: 2 calls/min") && !limited.contains("/day"), "{limited}");
    let shown = stdout(&w.run(&w.alice, &["agents", "show", "burst"]));
    assert!(shown.contains("limits:      2 calls/min"), "{shown}");
    let call = || json(&w.run(&burst, &["decide", "--tool", "search_docs", "--json"]));
    assert_eq!(call()["decision"], "allow");
    assert_eq!(call()["decision"], "allow");
    let third = call();
    assert_eq!(third["decision"], "deny");
    assert!(third["reasons"][0].as_str().unwrap().contains("rate limit"), "{third}");
    let unlimited = json(&w.run(&w.alice, &["agents", "limits", "burst", "--unlimited", "--json"]));
    assert_eq!(unlimited["limits"], serde_json::json!({"calls_per_minute": null, "cost_usd_per_day": null}));
    assert_eq!(call()["decision"], "allow");
    let err = refused(&w.run(&w.alice, &["agents", "limits", "burst"]));
    assert!(err.contains("--calls-per-minute") || err.contains("--unlimited"), "{err}");
    let err = refused(&w.run(&w.alice, &["agents", "limits", "burst", "--calls-per-minute", "0"]));
    assert!(err.contains("at least 1") && err.contains("HTTP 400"), "{err}");
    let err = refused(&w.run(&w.alice, &["agents", "limits", "burst", "--cost-usd-per-day", "NaN"]));
    assert!(err.contains("non-negative"), "{err}");
    let err = refused(&w.run(&w.carol, &["agents", "limits", "burst", "--calls-per-minute", "9"]));
    assert!(err.contains("HTTP 403"), "{err}");

    // Suspend and reactivate.
    let suspended = stdout(&w.run(&w.alice, &["agents", "suspend", "mailer", "--reason", "investigating"]));
    assert!(suspended.contains("suspended agent mailer"), "{suspended}");
    let d = search();
    assert_eq!(d["decision"], "deny");
    assert!(d["reasons"][0].as_str().unwrap().contains("suspended"), "{d}");
    let err = refused(&w.run(&w.alice, &["agents", "suspend", "mailer"]));
    assert!(err.contains("already suspended") && err.contains("HTTP 409"), "{err}");
    assert_eq!(json(&w.run(&w.alice, &["agents", "show", "mailer", "--json"]))["status"], "suspended");
    let back = json(&w.run(&w.alice, &["agents", "reactivate", "mailer", "--reason", "cleared", "--json"]));
    assert_eq!(back["status"], "active");
    assert_eq!(search()["decision"], "allow");
    let err = refused(&w.run(&w.alice, &["agents", "reactivate", "burst"]));
    assert!(err.contains("already active") && err.contains("HTTP 409"), "{err}");
    let held = w.decide(&["--tool", "send_email"]);
    assert_eq!(held["decision"], "require_approval");

    // Inventory. mailer: allowed 5 times (first, after each of three releases, after
    // reactivation), denied 5 times (the tool switch twice, global, agent, suspended), held once.
    let inventory = json(&w.run(&w.carol, &["agents", "inventory", "--json"]));
    let row = inventory["items"].as_array().unwrap().iter().find(|r| r["agent"]["name"] == "mailer").unwrap();
    let counts = &row["by_outcome"];
    assert_eq!(
        (
            row["decisions"].as_u64(),
            counts["allow"].as_u64(),
            counts["deny"].as_u64(),
            counts["require_approval"].as_u64()
        ),
        (Some(11), Some(5), Some(5), Some(1)),
        "{row}"
    );
    assert!(str_of(row, "first_seen") <= str_of(row, "last_seen"));
    let table = stdout(&w.run(&w.carol, &["agents", "inventory"]));
    let header = table.lines().next().unwrap();
    assert!(
        header.starts_with("NAME") && header.contains("FIRST SEEN") && header.contains("REQUIRE_APPROVAL")
    );
    let line = table.lines().find(|l| l.starts_with("mailer")).unwrap();
    let cells: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cells[1..4], ["active", "dave", "development"], "{table}");
    assert_eq!(cells[cells.len() - 4..], ["11", "5", "5", "1"], "{table}");
    w.server.stop();
}
