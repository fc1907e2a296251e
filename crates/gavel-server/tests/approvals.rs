//! Approvals, execution outcomes, receipts, lifecycle and containment — over HTTP, with a
//! manual clock so expiry, rate windows and daily caps can be crossed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

mod common;

use common::{assert_error, team, Server, Team};
use gavel_ledger::clock::ManualClock;
use serde_json::{json, Value};
use std::sync::Arc;
use time::macros::datetime;

const POLICY: &str = r#"@id("allow_search")
permit(principal, action == Action::"call_tool", resource == Tool::"search_docs");
@id("hold_email")
@gavel("require_approval")
permit(principal, action == Action::"call_tool", resource == Tool::"send_email");
@id("no_wipe")
forbid(principal, action == Action::"call_tool", resource == Tool::"wipe_disk");
"#;

struct World {
    server: Server,
    clock: Arc<ManualClock>,
    alice: String,
    carol: String,
    dave: String,
    erin: String,
    agent: String,
    agent_id: String,
}

fn world() -> World {
    let clock = Arc::new(ManualClock::new(datetime!(2026-11-02 09:00 UTC)));
    let server = Server::start_with(clock.clone(), gavel_core::Settings::default());
    let Team { alice, users: [carol, dave, erin], agent, .. } = team(
        &server,
        [("carol", "approver"), ("dave", "approver"), ("erin", "approver")],
        json!({"name": "mailer", "owner": "dave"}),
        POLICY,
    );
    World {
        alice,
        carol,
        dave,
        erin,
        agent: agent["token"].as_str().unwrap().into(),
        agent_id: agent["id"].as_str().unwrap().into(),
        server,
        clock,
    }
}

impl World {
    fn decide(&self, body: Value) -> Value {
        self.server.ok("POST", "/v1/decide", &self.agent, Some(body))
    }
    fn approve(&self, token: &str, id: &str, decision: &str) -> (u16, Value) {
        self.server.call(
            "POST",
            &format!("/v1/approvals/{id}/decide"),
            Some(token),
            Some(json!({"decision": decision, "comment": "ok"})),
        )
    }
}

#[test]
fn approve_path_to_outcome_with_a_single_use_receipt() {
    let w = world();
    let args = json!({"to": "ceo@example.com", "body": "Q3 numbers"});
    let held = w.decide(json!({"tool": "send_email", "arguments": args}));
    assert_eq!(held["decision"], "require_approval");
    let approval_id = held["approval_id"].as_str().unwrap().to_string();

    let pending = w.server.ok("GET", "/v1/approvals?status=pending", &w.carol, None);
    assert_eq!(pending["items"][0]["id"], approval_id.as_str());
    assert_eq!(pending["items"][0]["arguments"]["to"], "ceo@example.com");

    // The agent's owner is the requester: never their own approver.
    assert_error(w.approve(&w.dave, &approval_id, "approve"), 403, "forbidden", "cannot approve");
    // Agents and admins-only endpoints: an agent cannot approve.
    assert_error(w.approve(&w.agent, &approval_id, "approve"), 403, "forbidden", "agents");
    assert_error(w.approve(&w.carol, &approval_id, "maybe"), 400, "invalid_request", "approve or deny");

    // The agent long-polls while carol approves.
    let poll_base = w.server.base.clone();
    let agent_token = w.agent.clone();
    let poll_id = approval_id.clone();
    let poller = std::thread::spawn(move || {
        let started = std::time::Instant::now();
        let resp: Value = ureq::get(&format!("{poll_base}/v1/approvals/{poll_id}?wait=10"))
            .set("Authorization", &format!("Bearer {agent_token}"))
            .call()
            .unwrap()
            .into_json()
            .unwrap();
        (resp, started.elapsed())
    });
    std::thread::sleep(std::time::Duration::from_millis(400));
    let decided = w.approve(&w.carol, &approval_id, "approve");
    assert_eq!(decided.0, 200, "{}", decided.1);
    assert!(decided.1.get("receipt").is_none(), "the approver never sees the receipt");
    let (polled, waited) = poller.join().unwrap();
    assert_eq!(polled["status"], "approved");
    assert!(waited >= std::time::Duration::from_millis(300) && waited < std::time::Duration::from_secs(9));
    let receipt = polled["receipt"].as_str().unwrap().to_string();
    assert!(receipt.starts_with("rcpt_"));
    // Nobody else sees it.
    assert!(w
        .server
        .ok("GET", &format!("/v1/approvals/{approval_id}"), &w.alice, None)
        .get("receipt")
        .is_none());
    assert_error(w.approve(&w.erin, &approval_id, "deny"), 409, "conflict", "already approved");

    let outcome_path = format!("/v1/decisions/{}/outcome", held["decision_id"].as_str().unwrap());
    let outcome = w.server.ok(
        "POST",
        &outcome_path,
        &w.agent,
        Some(json!({"status": "succeeded", "detail": "sent", "receipt": receipt, "arguments": args})),
    );
    assert_eq!((outcome["bypass"].as_bool(), outcome["receipt_used"].as_bool()), (Some(false), Some(true)));
    assert_error(
        w.server.call(
            "POST",
            &outcome_path,
            Some(&w.agent),
            Some(json!({"status": "succeeded", "receipt": receipt})),
        ),
        409,
        "conflict",
        "already recorded",
    );

    // The same receipt presented for another held call: refused and recorded.
    let second = w.decide(json!({"tool": "send_email", "arguments": args}));
    let refused = w.server.call(
        "POST",
        &format!("/v1/decisions/{}/outcome", second["decision_id"].as_str().unwrap()),
        Some(&w.agent),
        Some(json!({"status": "succeeded", "receipt": receipt})),
    );
    assert_error(refused, 403, "forbidden", "bypass finding");
    let findings = w.server.ok("GET", "/v1/findings", &w.alice, None);
    assert_eq!(findings["items"][0]["decision_id"], second["decision_id"]);
    assert!(findings["items"][0]["detail"].as_str().unwrap().contains("already used"));

    // The whole chain, end to end.
    let trace = w.server.ok(
        "GET",
        &format!("/v1/audit/trace/{}", held["decision_id"].as_str().unwrap()),
        &w.alice,
        None,
    );
    assert_eq!(trace["approval"]["status"], "approved");
    assert_eq!(trace["approval"]["decided_by_name"], "carol");
    assert!(trace["approval"].get("receipt").is_none());
    assert_eq!(trace["outcome"]["status"], "succeeded");
    assert_eq!(trace["policies"][0]["policy_id"], "hold_email");
    assert_eq!(w.server.ok("GET", "/v1/audit/verify", &w.alice, None)["valid"], true);

    // Every step is a log event linked to the decision event's seq.
    let store = w.server.log.store().clone();
    let size = gavel_store::Store::head(store.as_ref()).unwrap().size;
    let mut linked = Vec::new();
    gavel_store::Store::scan(store.as_ref(), 0, size, &mut |e| {
        let event = gavel_ledger::event::Event::from_bytes(e.bytes.as_deref().unwrap()).unwrap();
        // Detections about the decision (written by the detector task, in its own time) carry
        // `source_seq` instead; the steps of the action itself carry `decision_seq`.
        let step = event.kind != "decision" && !event.kind.starts_with("detection.");
        if event.data.get("decision_id") == Some(&held["decision_id"]) && step {
            linked.push((event.kind.clone(), event.data["decision_seq"].clone()));
        }
        true
    })
    .unwrap();
    assert_eq!(
        linked,
        [
            ("approval.decided".to_string(), held["seq"].clone()),
            ("outcome.recorded".to_string(), held["seq"].clone())
        ]
    );
}

#[test]
fn a_receipt_for_different_arguments_is_refused() {
    let w = world();
    let held = w.decide(json!({"tool": "send_email", "arguments": {"to": "a@example.com"}}));
    let id = held["approval_id"].as_str().unwrap();
    w.approve(&w.carol, id, "approve");
    let receipt = w.server.ok("GET", &format!("/v1/approvals/{id}"), &w.agent, None)["receipt"]
        .as_str()
        .unwrap()
        .to_string();
    let refused = w.server.call(
        "POST",
        &format!("/v1/decisions/{}/outcome", held["decision_id"].as_str().unwrap()),
        Some(&w.agent),
        Some(json!({"status": "succeeded", "receipt": receipt, "arguments": {"to": "attacker@example.com"}})),
    );
    assert_error(refused, 403, "forbidden", "does not match");
}

#[test]
fn on_behalf_of_users_cannot_approve_their_own_request_and_deny_path_works() {
    let w = world();
    let held = w.decide(json!({"tool": "send_email", "on_behalf_of": "erin", "arguments": {}}));
    let id = held["approval_id"].as_str().unwrap();
    assert_error(w.approve(&w.erin, id, "approve"), 403, "forbidden", "erin requested");
    let denied = w.approve(&w.carol, id, "deny");
    assert_eq!((denied.0, denied.1["status"].as_str()), (200, Some("denied")));
    let view = w.server.ok("GET", &format!("/v1/approvals/{id}?wait=1"), &w.agent, None);
    assert_eq!(view["status"], "denied");
    assert!(view.get("receipt").is_none());
    let outcome = w.server.ok(
        "POST",
        &format!("/v1/decisions/{}/outcome", held["decision_id"].as_str().unwrap()),
        &w.agent,
        Some(json!({"status": "not_executed"})),
    );
    assert_eq!(outcome["bypass"], false);
}

#[test]
fn on_behalf_of_names_differing_only_in_case_are_the_same_person() {
    let w = world();
    for spelling in ["ERIN", "Erin", "eRiN"] {
        let held = w.decide(json!({"tool": "send_email", "on_behalf_of": spelling, "arguments": {}}));
        let id = held["approval_id"].as_str().unwrap();
        assert_error(w.approve(&w.erin, id, "approve"), 403, "forbidden", "erin requested");
    }
    // Spellings that only look like a user's name (a Cyrillic letter, an invisible character,
    // padding) are refused before anything is decided.
    for who in ["\u{435}rin", "erin\u{200b}", " erin", "erin\n", ""] {
        assert_error(
            w.server.call(
                "POST",
                "/v1/decide",
                Some(&w.agent),
                Some(json!({"tool": "send_email", "on_behalf_of": who, "arguments": {}})),
            ),
            400,
            "invalid_request",
            "on_behalf_of",
        );
    }
}

#[test]
fn expired_requests_cannot_be_approved() {
    let w = world();
    let held = w.decide(json!({"tool": "send_email", "arguments": {}}));
    let id = held["approval_id"].as_str().unwrap();
    w.clock.advance(time::Duration::minutes(61));
    assert_eq!(w.server.ok("GET", "/v1/approvals?status=pending", &w.carol, None)["items"], json!([]));
    assert_eq!(w.server.ok("GET", "/v1/approvals?status=expired", &w.carol, None)["items"][0]["id"], id);
    assert_error(w.approve(&w.carol, id, "approve"), 410, "gone", "expired");
    assert_eq!(w.server.ok("GET", &format!("/v1/approvals/{id}"), &w.carol, None)["status"], "expired");
}

#[test]
fn concurrent_decisions_on_one_request_have_exactly_one_winner() {
    let w = world();
    for _ in 0..5 {
        let held = w.decide(json!({"tool": "send_email", "arguments": {}}));
        let id = held["approval_id"].as_str().unwrap().to_string();
        let racers: Vec<_> = [w.carol.clone(), w.erin.clone(), w.alice.clone()]
            .into_iter()
            .enumerate()
            .map(|(i, token)| {
                let (base, id) = (w.server.base.clone(), id.clone());
                std::thread::spawn(move || {
                    let decision = if i % 2 == 0 { "approve" } else { "deny" };
                    match ureq::post(&format!("{base}/v1/approvals/{id}/decide"))
                        .set("Authorization", &format!("Bearer {token}"))
                        .send_json(json!({"decision": decision}))
                    {
                        Ok(r) => r.status(),
                        Err(ureq::Error::Status(code, _)) => code,
                        Err(e) => panic!("{e}"),
                    }
                })
            })
            .collect();
        let mut codes: Vec<u16> = racers.into_iter().map(|r| r.join().unwrap()).collect();
        codes.sort_unstable();
        assert_eq!(codes, [200, 409, 409]);
    }
}

#[test]
fn executing_a_denied_call_or_a_held_call_without_receipt_is_a_bypass() {
    let w = world();
    let denied = w.decide(json!({"tool": "wipe_disk", "arguments": {}}));
    assert_eq!(denied["decision"], "deny");
    let o = w.server.ok(
        "POST",
        &format!("/v1/decisions/{}/outcome", denied["decision_id"].as_str().unwrap()),
        &w.agent,
        Some(json!({"status": "succeeded"})),
    );
    assert_eq!(o["bypass"], true);
    let held = w.decide(json!({"tool": "send_email", "arguments": {}}));
    let o = w.server.ok(
        "POST",
        &format!("/v1/decisions/{}/outcome", held["decision_id"].as_str().unwrap()),
        &w.agent,
        Some(json!({"status": "failed"})),
    );
    assert_eq!(o["bypass"], true);
    assert_eq!(w.server.ok("GET", "/v1/findings", &w.alice, None)["items"].as_array().unwrap().len(), 2);
    assert_error(
        w.server.call(
            "POST",
            "/v1/decisions/dec_nope/outcome",
            Some(&w.agent),
            Some(json!({"status": "succeeded"})),
        ),
        404,
        "not_found",
        "no decision",
    );
    assert_error(
        w.server.call(
            "POST",
            &format!("/v1/decisions/{}/outcome", held["decision_id"].as_str().unwrap()),
            Some(&w.alice),
            Some(json!({"status": "succeeded"})),
        ),
        403,
        "forbidden",
        "agent",
    );
}

/// A bypass finding is acknowledged, then resolved, each with a note, by someone other than the
/// agent's owner; a readiness scan counts only open findings; the record keeps the resolution.
#[test]
fn bypass_findings_are_acknowledged_and_resolved_by_someone_else() {
    let w = world();
    let denied = w.decide(json!({"tool": "wipe_disk", "arguments": {}}));
    let path = format!("/v1/decisions/{}/outcome", denied["decision_id"].as_str().unwrap());
    assert_eq!(w.server.ok("POST", &path, &w.agent, Some(json!({"status": "succeeded"})))["bypass"], true);
    let list = w.server.ok("GET", "/v1/findings", &w.alice, None);
    let finding = &list["items"][0];
    assert_eq!(finding["status"], "open");
    let id = finding["id"].as_str().unwrap().to_string();
    let step = |token: &str, what: &str, note: &str| {
        w.server.call("POST", &format!("/v1/findings/{id}/{what}"), Some(token), Some(json!({"note": note})))
    };
    let scan = |w: &World| {
        let scan = w.server.ok("POST", "/v1/compliance/scans", &w.alice, None);
        scan["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "bypass_findings")
            .map(|c| c["summary"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("no bypass check in {scan}"))
    };
    assert!(scan(&w).starts_with("1 open bypass finding(s), 0 resolved"), "{}", scan(&w));

    // dave owns the agent: he may not close a finding about it; viewers and agents may not either.
    assert_error(step(&w.dave, "acknowledge", "mine"), 403, "forbidden", "owns the agent");
    assert_error(step(&w.agent, "acknowledge", "x"), 403, "forbidden", "");
    assert_error(step(&w.carol, "acknowledge", "  "), 400, "invalid_request", "note");
    let acked = step(&w.carol, "acknowledge", "looking at the wipe");
    assert_eq!((acked.0, acked.1["status"].as_str()), (200, Some("acknowledged")), "{}", acked.1);
    assert_error(step(&w.erin, "acknowledge", "again"), 409, "conflict", "already acknowledged");
    let resolved = step(&w.erin, "resolve", "disk restored from backup; agent's tool access removed");
    assert_eq!(resolved.0, 200, "{}", resolved.1);
    assert_error(step(&w.carol, "resolve", "again"), 409, "conflict", "already resolved");
    assert_error(
        w.server.call("POST", "/v1/findings/fnd_nope/resolve", Some(&w.carol), Some(json!({"note": "x"}))),
        404,
        "not_found",
        "finding",
    );

    let after = &w.server.ok("GET", "/v1/findings", &w.alice, None)["items"][0];
    assert_eq!(after["status"], "resolved");
    assert_eq!(
        (after["acknowledged_by"].as_str(), after["resolved_by"].as_str()),
        (Some("carol"), Some("erin"))
    );
    assert!(after["resolved_note"].as_str().unwrap().contains("backup"));
    assert!(scan(&w).starts_with("0 open bypass finding(s), 1 resolved"), "{}", scan(&w));
}

#[test]
fn kill_switches_engage_and_release_with_who_and_why() {
    let w = world();
    let search = json!({"tool": "search_docs", "arguments": {}});
    assert_eq!(w.decide(search.clone())["decision"], "allow");
    for (scope, target) in [("global", None), ("agent", Some("mailer")), ("tool", Some("search_docs"))] {
        let body = json!({"scope": scope, "target": target, "reason": "suspicious burst"});
        let engaged = w.server.ok("POST", "/v1/killswitch", &w.carol, Some(body.clone()));
        assert_eq!(engaged["engaged_by"], "carol");
        assert_error(
            w.server.call("POST", "/v1/killswitch", Some(&w.carol), Some(body.clone())),
            409,
            "conflict",
            "already engaged",
        );
        let d = w.decide(search.clone());
        assert_eq!(d["decision"], "deny");
        assert!(d["reasons"][0].as_str().unwrap().contains("kill switch"), "{d}");
        w.server.ok("POST", "/v1/killswitch/release", &w.alice, Some(body));
        assert_eq!(w.decide(search.clone())["decision"], "allow");
    }
    assert_error(
        w.server.call("POST", "/v1/killswitch", Some(&w.carol), Some(json!({"scope": "global"}))),
        400,
        "invalid_request",
        "why",
    );
    assert_error(
        w.server.call(
            "POST",
            "/v1/killswitch",
            Some(&w.carol),
            Some(json!({"scope": "galaxy", "reason": "x"})),
        ),
        400,
        "invalid_request",
        "scope",
    );
    assert_eq!(w.server.ok("GET", "/v1/killswitch", &w.alice, None)["items"].as_array().unwrap().len(), 3);
}

#[test]
fn rate_limits_and_cost_caps_hit_reset_and_live_in_the_store() {
    let w = world();
    w.server.ok(
        "POST",
        &format!("/v1/agents/{}/limits", w.agent_id),
        &w.alice,
        Some(json!({"calls_per_minute": 3, "cost_usd_per_day": 1.0})),
    );
    let search = |cost: f64| json!({"tool": "search_docs", "arguments": {}, "context": {"cost_usd": cost}});
    for _ in 0..2 {
        assert_eq!(w.decide(search(0.3))["decision"], "allow");
    }
    assert_eq!(w.decide(search(0.0))["decision"], "allow");
    let limited = w.decide(search(0.0));
    assert_eq!(limited["decision"], "deny");
    assert!(limited["reasons"][0].as_str().unwrap().contains("rate limit"), "{limited}");
    // No in-memory state: a fresh domain over the same store enforces the same limit.
    let fresh = gavel_core::Gavel::new(w.server.log.clone(), w.clock.clone());
    let agent = fresh.authenticate(&w.agent).unwrap();
    let req = gavel_core::decide::DecideRequest {
        tool: "search_docs".into(),
        resource: None,
        arguments: None,
        on_behalf_of: None,
        context: Default::default(),
    };
    assert_eq!(fresh.decide(&agent, req).unwrap().decision, gavel_policy::Outcome::Deny);

    w.clock.advance(time::Duration::seconds(61));
    assert_eq!(w.decide(search(0.3))["decision"], "allow"); // 0.9 spent today
    let capped = w.decide(search(0.3));
    assert_eq!(capped["decision"], "deny");
    assert!(capped["reasons"][0].as_str().unwrap().contains("cost cap"), "{capped}");
    let recorded = w.server.ok(
        "GET",
        &format!("/v1/decisions/{}", capped["decision_id"].as_str().unwrap()),
        &w.alice,
        None,
    );
    assert_eq!(recorded["containment"]["type"], "cost_cap");
    w.clock.advance(time::Duration::days(1));
    assert_eq!(w.decide(search(0.3))["decision"], "allow");
    assert_error(
        w.server.call(
            "POST",
            &format!("/v1/agents/{}/limits", w.agent_id),
            Some(&w.alice),
            Some(json!({"calls_per_minute": 0})),
        ),
        400,
        "invalid_request",
        "at least 1",
    );
}

#[test]
fn an_agent_calling_too_fast_is_held_to_its_rate_not_locked_out() {
    let w = world();
    w.server.ok(
        "POST",
        &format!("/v1/agents/{}/limits", w.agent_id),
        &w.alice,
        Some(json!({"calls_per_minute": 2})),
    );
    let search = json!({"tool": "search_docs", "arguments": {}});
    assert_eq!(w.decide(search.clone())["decision"], "allow");
    assert_eq!(w.decide(search.clone())["decision"], "allow");
    w.clock.advance(time::Duration::seconds(30));
    for _ in 0..5 {
        assert_eq!(w.decide(search.clone())["decision"], "deny");
    }
    // The refused calls did not use up the next minute's allowance.
    w.clock.advance(time::Duration::seconds(31));
    assert_eq!(w.decide(search.clone())["decision"], "allow");
}

#[test]
fn held_calls_reserve_budget_and_traces_show_expiry() {
    let w = world();
    w.server.ok(
        "POST",
        &format!("/v1/agents/{}/limits", w.agent_id),
        &w.alice,
        Some(json!({"cost_usd_per_day": 1.0})),
    );
    let held = w.decide(json!({"tool": "send_email", "arguments": {}, "context": {"cost_usd": 0.8}}));
    assert_eq!(held["decision"], "require_approval");
    let over = w.decide(json!({"tool": "search_docs", "arguments": {}, "context": {"cost_usd": 0.3}}));
    assert_eq!(over["decision"], "deny", "the hold reserved 0.8 of the 1.0 cap");
    w.clock.advance(time::Duration::hours(2));
    let trace = w.server.ok(
        "GET",
        &format!("/v1/audit/trace/{}", held["decision_id"].as_str().unwrap()),
        &w.alice,
        None,
    );
    assert_eq!(trace["approval"]["status"], "expired");
    let pending = w.server.ok("GET", "/v1/approvals?status=expired&limit=1", &w.carol, None);
    assert_eq!(pending["items"].as_array().unwrap().len(), 1);
}

#[test]
fn lifecycle_suspend_reactivate_rotate_and_inventory() {
    let w = world();
    let search = json!({"tool": "search_docs", "arguments": {}});
    w.decide(search.clone());
    w.server.ok(
        "POST",
        &format!("/v1/agents/{}/suspend", w.agent_id),
        &w.alice,
        Some(json!({"reason": "investigating"})),
    );
    let d = w.decide(search.clone());
    assert!(d["reasons"][0].as_str().unwrap().contains("suspended"));
    assert_error(
        w.server.call("POST", &format!("/v1/agents/{}/suspend", w.agent_id), Some(&w.alice), None),
        409,
        "conflict",
        "already suspended",
    );
    w.server.ok("POST", &format!("/v1/agents/{}/reactivate", w.agent_id), &w.alice, None);
    assert_eq!(w.decide(search.clone())["decision"], "allow");
    let rotated = w.server.ok("POST", &format!("/v1/agents/{}/rotate", w.agent_id), &w.alice, None);
    assert_error(
        w.server.call("POST", "/v1/decide", Some(&w.agent), Some(search.clone())),
        401,
        "unauthenticated",
        "revoked",
    );
    let new_token = rotated["token"].as_str().unwrap();
    assert_eq!(w.server.ok("POST", "/v1/decide", new_token, Some(search))["decision"], "allow");
    let inventory = w.server.ok("GET", "/v1/agents/inventory", &w.carol, None);
    let row = &inventory["items"][0];
    assert_eq!(row["agent"]["name"], "mailer");
    assert_eq!(
        (row["decisions"].as_u64(), row["by_outcome"]["allow"].as_u64(), row["by_outcome"]["deny"].as_u64()),
        (Some(4), Some(3), Some(1))
    );
    assert!(row["first_seen"].as_str().unwrap() <= row["last_seen"].as_str().unwrap());
}

/// Containment reaches approvals: suspension, a kill switch and deactivation void the agent's
/// pending requests and unredeemed receipts in the containment event itself; a voided receipt is
/// refused and recorded as a bypass finding, and a contained agent's request cannot be approved.
#[test]
fn containment_voids_outstanding_approvals_and_receipts() {
    let w = world();
    let args = json!({"to": "x@example.com"});
    let hold = |w: &World| {
        let held = w.decide(json!({"tool": "send_email", "arguments": args}));
        assert_eq!(held["decision"], "require_approval", "{held}");
        held
    };
    let approved = |w: &World, held: &Value| -> String {
        let id = held["approval_id"].as_str().unwrap();
        assert_eq!(w.approve(&w.carol, id, "approve").0, 200);
        w.server.ok("GET", &format!("/v1/approvals/{id}"), &w.agent, None)["receipt"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let outcome = |w: &World, held: &Value, receipt: &str| {
        w.server.call(
            "POST",
            &format!("/v1/decisions/{}/outcome", held["decision_id"].as_str().unwrap()),
            Some(&w.agent),
            Some(json!({"status": "succeeded", "receipt": receipt, "arguments": args})),
        )
    };
    let agent_path = format!("/v1/agents/{}", w.agent_id);

    // Suspension: one approved (receipt not yet redeemed) and one pending request are voided.
    let first = hold(&w);
    let receipt = approved(&w, &first);
    let pending = hold(&w);
    let suspended = gavel_store::Store::head(w.server.log.store().as_ref()).unwrap().size;
    w.server.ok("POST", &format!("{agent_path}/suspend"), &w.alice, Some(json!({"reason": "odd"})));
    let event = gavel_store::Store::entry(w.server.log.store().as_ref(), suspended).unwrap().unwrap();
    let event = gavel_ledger::event::Event::from_bytes(event.bytes.as_deref().unwrap()).unwrap();
    assert_eq!(event.kind, "agent.suspended");
    let voided: Vec<&str> = event.data["voided_approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["approval_id"].as_str().unwrap())
        .collect();
    assert_eq!(voided.len(), 2, "{}", event.data);
    for held in [&first, &pending] {
        let id = held["approval_id"].as_str().unwrap();
        assert!(voided.contains(&id));
        let a = w.server.ok("GET", &format!("/v1/approvals/{id}"), &w.agent, None);
        assert_eq!(a["status"], "voided", "{a}");
        assert!(a.get("receipt").is_none(), "a voided request shows no receipt");
    }
    assert_error(
        w.approve(&w.erin, pending["approval_id"].as_str().unwrap(), "approve"),
        409,
        "conflict",
        "voided",
    );
    w.server.ok("POST", &format!("{agent_path}/reactivate"), &w.alice, Some(json!({"reason": "fine"})));
    // Reactivation does not revive the receipt: redeeming it is refused and recorded.
    assert_error(outcome(&w, &first, &receipt), 403, "forbidden", "voided");
    let findings = w.server.ok("GET", "/v1/findings", &w.alice, None);
    assert_eq!(findings["items"][0]["decision_id"], first["decision_id"]);
    assert!(findings["items"][0]["detail"].as_str().unwrap().contains("voided"));

    // A tool kill switch voids the receipt; a request pending under an engaged switch cannot be approved.
    let second = hold(&w);
    let receipt = approved(&w, &second);
    let third = hold(&w);
    w.server.ok(
        "POST",
        "/v1/killswitch",
        &w.alice,
        Some(json!({"scope": "tool", "target": "send_email", "reason": "leak"})),
    );
    assert_error(outcome(&w, &second, &receipt), 403, "forbidden", "voided");
    let third_id = third["approval_id"].as_str().unwrap();
    assert_eq!(w.server.ok("GET", &format!("/v1/approvals/{third_id}"), &w.carol, None)["status"], "voided");
    w.server.ok(
        "POST",
        "/v1/killswitch/release",
        &w.alice,
        Some(json!({"scope": "tool", "target": "send_email"})),
    );

    // An agent kill switch voids the agent's receipts too.
    let fourth = hold(&w);
    let receipt = approved(&w, &fourth);
    w.server.ok(
        "POST",
        "/v1/killswitch",
        &w.alice,
        Some(json!({"scope": "agent", "target": "mailer", "reason": "x"})),
    );
    assert_error(outcome(&w, &fourth, &receipt), 403, "forbidden", "voided");
    w.server.ok(
        "POST",
        "/v1/killswitch/release",
        &w.alice,
        Some(json!({"scope": "agent", "target": "mailer"})),
    );

    // Deactivation voids what is still outstanding.
    let fifth = hold(&w);
    let receipt = approved(&w, &fifth);
    w.server.ok("POST", &format!("{agent_path}/deactivate"), &w.alice, Some(json!({"reason": "retired"})));
    let id = fifth["approval_id"].as_str().unwrap();
    assert_eq!(w.server.ok("GET", &format!("/v1/approvals/{id}"), &w.carol, None)["status"], "voided");
    let (status, _) = outcome(&w, &fifth, &receipt);
    assert!(status == 403 || status == 401, "a deactivated agent's receipt is refused ({status})");
    assert_eq!(
        w.server.ok("GET", "/v1/approvals?status=voided", &w.carol, None)["items"].as_array().unwrap().len(),
        6
    );
    assert_eq!(w.server.ok("GET", "/v1/audit/verify", &w.alice, None)["valid"], true);
}
