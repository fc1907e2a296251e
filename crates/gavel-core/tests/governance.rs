//! The governance rules pinned at the core API, below HTTP: decide, two-person policy changes,
//! approvals and their receipts, outcomes and bypass findings, identity changes, containment,
//! and the audit trail they leave. Every front end (HTTP, CLI, the gateway and console to come)
//! goes through these same calls, so these are the rules none of them can forget.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

use gavel_core::approvals::{ExecutionStatus, OutcomeRequest};
use gavel_core::containment::Scope;
use gavel_core::decide::DecideRequest;
use gavel_core::identity::Role;
use gavel_core::{CoreError, Gavel, NewAgent, Principal};
use gavel_ledger::clock::ManualClock;
use gavel_policy::Outcome;
use serde_json::json;
use std::sync::Arc;
use time::OffsetDateTime;

const SUPPORT: &str = r#"
@id("email_customers")
permit (principal in AgentGroup::"support", action == Action::"call_tool", resource == Tool::"send_email")
when { context.arguments.hasTag("to") && context.arguments.getTag("to") like "*@example.com" };

@id("email_others_needs_approval")
@gavel("require_approval")
permit (principal in AgentGroup::"support", action == Action::"call_tool", resource == Tool::"send_email")
unless { context.arguments.hasTag("to") && context.arguments.getTag("to") like "*@example.com" };
"#;

struct World {
    _dir: tempfile::TempDir,
    /// The log under the domain, for the tests' own reads.
    store: Arc<dyn gavel_store::Store>,
    gavel: Gavel,
    admin: Principal,
    bob: Principal,
    agent_token: String,
    agent: Principal,
}

fn call(tool: &str, arguments: serde_json::Value) -> DecideRequest {
    serde_json::from_value(json!({"tool": tool, "arguments": arguments})).expect("request")
}

/// A core answer as the JSON the API sends.
fn j<T: serde::Serialize>(answer: T) -> serde_json::Value {
    serde_json::to_value(answer).expect("serializes")
}

fn forbidden<T: std::fmt::Debug>(r: Result<T, CoreError>) -> String {
    match r {
        Err(CoreError::Forbidden(m)) => m,
        other => panic!("expected Forbidden, got {other:?}"),
    }
}

/// An admin, a second admin (bob), a support agent owned by the admin, and the support policy
/// enforced through the two-person rule.
fn world() -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(OffsetDateTime::from_unix_timestamp(1_767_225_600).expect("time")));
    let log = Arc::new(
        gavel_store::Log::open(&gavel_store::layout::DataDir::new(dir.path()), clock.clone(), None)
            .expect("db")
            .0,
    );
    let store: Arc<dyn gavel_store::Store> = log.store().clone();
    let gavel = Gavel::new(log.clone(), clock);
    let admin =
        gavel.authenticate(&gavel.bootstrap_admin().expect("boot").expect("first").token).expect("auth");
    let bob =
        gavel.authenticate(&gavel.create_user(&admin, "bob", Role::Admin).expect("bob").token).expect("auth");
    let issued = gavel
        .create_agent(
            &admin,
            NewAgent {
                name: "mailer".into(),
                owner: Some("admin".into()),
                groups: vec!["support".into()],
                ..Default::default()
            },
        )
        .expect("agent");
    let agent = gavel.authenticate(&issued.token).expect("agent auth");

    // Permissive until a policy is enforced: allowed, and recorded as not enforced.
    let d = gavel.decide(&agent, call("run_sql", json!({"query": "select 1"}))).expect("decide");
    assert_eq!((d.decision, d.enforced), (Outcome::Allow, false));

    // Two-person rule: the proposer cannot approve their own change; a second admin can.
    let change = gavel.propose_policy(&admin, "support", SUPPORT, None).expect("propose");
    assert!(forbidden(gavel.approve_change(&admin, &change.id, None)).contains("admin"));
    gavel.approve_change(&bob, &change.id, Some("reviewed")).expect("bob approves");
    World { _dir: dir, store, gavel, admin, bob, agent_token: issued.token, agent }
}

#[test]
fn decide_follows_the_enforced_policy_default_deny_and_holds() {
    let w = world();
    let allowed =
        w.gavel.decide(&w.agent, call("send_email", json!({"to": "ann@example.com"}))).expect("decide");
    assert_eq!((allowed.decision, allowed.enforced), (Outcome::Allow, true));
    assert_eq!(allowed.policies[0].policy_id, "email_customers");
    let denied = w.gavel.decide(&w.agent, call("run_sql", json!({"query": "select 1"}))).expect("decide");
    assert_eq!(denied.decision, Outcome::Deny, "the first enforcing set ends permissive mode");
    let held =
        w.gavel.decide(&w.agent, call("send_email", json!({"to": "eve@elsewhere.test"}))).expect("decide");
    assert_eq!(held.decision, Outcome::RequireApproval);
    assert!(held.approval_id.is_some());
    // Users decide nothing: decide is for agents.
    assert!(w.gavel.decide(&w.admin, call("send_email", json!({}))).is_err());
}

#[test]
fn a_held_call_runs_once_with_its_receipt_and_every_bypass_is_a_finding() {
    let w = world();
    let held =
        w.gavel.decide(&w.agent, call("send_email", json!({"to": "eve@elsewhere.test"}))).expect("decide");
    let approval_id = held.approval_id.clone().expect("held");
    // The agent's owner (admin) requested it and cannot approve it; bob can.
    assert!(forbidden(w.gavel.decide_approval(&w.admin, &approval_id, true, None)).contains("cannot approve"));
    w.gavel.decide_approval(&w.bob, &approval_id, true, Some("checked the recipient")).expect("approve");
    // Only the requesting agent sees the receipt.
    assert!(w.gavel.approval(&w.bob, &approval_id).expect("view").receipt.is_none());
    let receipt = w.gavel.approval(&w.agent, &approval_id).expect("view").receipt.expect("receipt");
    let outcome = |receipt: Option<&str>, arguments: serde_json::Value| OutcomeRequest {
        status: ExecutionStatus::Succeeded,
        detail: None,
        receipt: receipt.map(str::to_string),
        arguments: Some(arguments),
        observed_by: None,
    };
    let args = json!({"to": "eve@elsewhere.test"});
    // A receipt for other arguments is refused and recorded as a bypass finding.
    let wrong = w.gavel.record_outcome(
        &w.agent,
        &held.decision_id,
        outcome(Some(&receipt), json!({"to": "mallory@x.test"})),
    );
    assert!(forbidden(wrong).contains("bypass finding"));
    let ok = j(w
        .gavel
        .record_outcome(&w.agent, &held.decision_id, outcome(Some(&receipt), args.clone()))
        .expect("outcome"));
    assert_eq!(ok["bypass"], false);

    // Executing a denied call is recorded, and is a bypass finding with its id in the event.
    let denied = w.gavel.decide(&w.agent, call("run_sql", json!({"query": "drop table x"}))).expect("decide");
    let executed = j(w
        .gavel
        .record_outcome(&w.agent, &denied.decision_id, outcome(None, json!({"query": "drop table x"})))
        .expect("recorded"));
    assert_eq!(executed["bypass"], true);
    assert!(executed["finding_id"].as_str().is_some_and(|id| id.starts_with("fnd_")), "{executed}");
    let findings = j(w.gavel.findings(&w.bob, 10).expect("findings"));
    assert_eq!(findings.as_array().map(Vec::len), Some(2), "{findings}");

    // The owner of the agent cannot close its findings; someone else can, with a note.
    let id = findings[0]["id"].as_str().expect("id").to_string();
    assert!(forbidden(w.gavel.update_finding(&w.admin, &id, true, "fine")).contains("owns the agent"));
    assert!(matches!(w.gavel.update_finding(&w.bob, &id, true, " "), Err(CoreError::Invalid(_))));
    assert_eq!(
        j(w.gavel.update_finding(&w.bob, &id, true, "rolled back").expect("resolve"))["status"],
        "resolved"
    );
}

#[test]
fn containment_denies_and_voids_outstanding_approvals() {
    let w = world();
    let held =
        w.gavel.decide(&w.agent, call("send_email", json!({"to": "eve@elsewhere.test"}))).expect("decide");
    let approval_id = held.approval_id.expect("held");
    w.gavel.decide_approval(&w.bob, &approval_id, true, None).expect("approve");
    let receipt = w.gavel.approval(&w.agent, &approval_id).expect("view").receipt.expect("receipt");

    w.gavel.engage_kill_switch(&w.bob, Scope::Agent("mailer".into()), "investigating", None).expect("engage");
    let d = w.gavel.decide(&w.agent, call("send_email", json!({"to": "ann@example.com"}))).expect("decide");
    assert_eq!(d.decision, Outcome::Deny, "{:?}", d.reasons);
    assert!(w.gavel.approval(&w.bob, &approval_id).expect("view").voided.is_some(), "the approval is voided");
    let refused = w.gavel.record_outcome(
        &w.agent,
        &held.decision_id,
        OutcomeRequest {
            status: ExecutionStatus::Succeeded,
            detail: None,
            receipt: Some(receipt),
            arguments: Some(json!({"to": "eve@elsewhere.test"})),
            observed_by: None,
        },
    );
    assert!(forbidden(refused).contains("bypass finding"));
    w.gavel.release_kill_switch(&w.bob, Scope::Agent("mailer".into()), "cleared").expect("release");
    let d = w.gavel.decide(&w.agent, call("send_email", json!({"to": "ann@example.com"}))).expect("decide");
    assert_eq!(d.decision, Outcome::Allow);

    // A viewer can neither engage nor release.
    let viewer = w
        .gavel
        .authenticate(&w.gavel.create_user(&w.admin, "vic", Role::Viewer).expect("vic").token)
        .expect("auth");
    forbidden(w.gavel.engage_kill_switch(&viewer, Scope::Global, "x", None));
}

#[test]
fn identity_changes_apply_at_once() {
    let w = world();
    let viewer = w
        .gavel
        .authenticate(&w.gavel.create_user(&w.admin, "vic", Role::Viewer).expect("vic").token)
        .expect("auth");
    forbidden(w.gavel.create_user(&viewer, "eve", Role::Admin));
    // `BOB` would be bob to every rule that matches people, so it is refused.
    match w.gavel.create_user(&w.admin, "BOB", Role::Approver) {
        Err(CoreError::Conflict(m)) => assert!(m.contains("differing only in case"), "{m}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    forbidden(w.gavel.create_agent(&viewer, NewAgent { name: "x".into(), ..Default::default() }));

    // A rotated agent token stops working; the new one works.
    let rotated = w.gavel.rotate_agent_credential(&w.admin, "mailer").expect("rotate");
    assert!(matches!(w.gavel.authenticate(&w.agent_token), Err(CoreError::Unauthenticated(_))));
    let agent = w.gavel.authenticate(&rotated.token).expect("new token");
    // Suspended: denied and recorded; deactivated: its token is refused.
    w.gavel.set_agent_status(&w.admin, "mailer", gavel_core::Status::Suspended, "review").expect("suspend");
    let d = w.gavel.decide(&agent, call("send_email", json!({"to": "ann@example.com"}))).expect("decide");
    assert_eq!(d.decision, Outcome::Deny);
    // Deactivated: its calls are still decided — denied, so each attempt is on record — but it
    // can do nothing else.
    w.gavel.deactivate_agent(&w.admin, "mailer", "retired").expect("deactivate");
    assert!(matches!(w.gavel.authenticate_caller(&rotated.token), Err(CoreError::Unauthenticated(_))));
    let d = w.gavel.decide_with_token(&rotated.token, call("send_email", json!({"to": "ann@example.com"})));
    assert_eq!(d.expect("recorded denial").decision, Outcome::Deny);
    // A deactivated user's token is refused outright; the user stays on record.
    let vic_token = w.gavel.create_user(&w.admin, "vic2", Role::Viewer).expect("vic2").token;
    w.gavel.deactivate_user(&w.admin, "vic2", "left").expect("deactivate user");
    assert!(matches!(w.gavel.authenticate(&vic_token), Err(CoreError::Unauthenticated(_))));
    assert!(w.gavel.list_users(&w.admin).expect("users").iter().any(|u| u.name == "vic2"));
}

#[test]
fn every_step_is_in_the_audit_trail_and_the_log_verifies() {
    let w = world();
    let held =
        w.gavel.decide(&w.agent, call("send_email", json!({"to": "eve@elsewhere.test"}))).expect("decide");
    let approval_id = held.approval_id.clone().expect("held");
    w.gavel.decide_approval(&w.bob, &approval_id, true, Some("ok")).expect("approve");
    let trace = j(w.gavel.trace(&w.bob, &held.decision_id).expect("trace"));
    let text = trace.to_string();
    for needle in ["email_others_needs_approval", "require_approval", &approval_id, "bob"] {
        assert!(text.contains(needle), "trace lacks {needle}: {text}");
    }
    // Agents read nothing of the audit trail.
    forbidden(w.gavel.trace(&w.agent, &held.decision_id));
    let report = w.store.verify(0, None, vec![]).expect("verify");
    assert!(report.valid, "{report:?}");
}

/// Every event these worlds write whose kind has a typed payload (gavel-events) reads through
/// it and writes back to the very bytes stored: findings, their steps and outcomes included.
#[test]
fn typed_payloads_reserialize_to_the_stored_bytes() {
    let w = world();
    let held =
        w.gavel.decide(&w.agent, call("send_email", json!({"to": "eve@elsewhere.test"}))).expect("decide");
    let approval_id = held.approval_id.clone().expect("held");
    w.gavel.decide_approval(&w.bob, &approval_id, true, None).expect("approve");
    let receipt = w.gavel.approval(&w.agent, &approval_id).expect("view").receipt.expect("receipt");
    let report = |receipt: Option<String>, args: serde_json::Value| OutcomeRequest {
        status: ExecutionStatus::Succeeded,
        detail: Some("sent".into()),
        receipt,
        arguments: Some(args),
        observed_by: None,
    };
    let _ =
        w.gavel.record_outcome(&w.agent, &held.decision_id, report(Some(receipt), json!({"to": "x@y.test"})));
    let denied = w.gavel.decide(&w.agent, call("run_sql", json!({}))).expect("decide");
    w.gavel.record_outcome(&w.agent, &denied.decision_id, report(None, json!({}))).expect("bypass");
    let findings = j(w.gavel.findings(&w.bob, 10).expect("findings"));
    let id = findings[0]["id"].as_str().expect("id").to_string();
    w.gavel.update_finding(&w.bob, &id, false, "looking").expect("acknowledge");
    w.gavel.update_finding(&w.bob, &id, true, "rolled back").expect("resolve");

    let mut kinds = std::collections::BTreeSet::new();
    w.store
        .scan(0, u64::MAX, &mut |entry| {
            let bytes = entry.bytes.expect("not purged");
            let mut event: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
            let kind = event["kind"].as_str().expect("kind").to_string();
            if let Some(retyped) = gavel_events::retype(&kind, &event["data"]) {
                event["data"] = retyped.expect("reads");
                let again = gavel_ledger::jcs::to_vec(&event).expect("canonical");
                assert_eq!(String::from_utf8_lossy(&again), String::from_utf8_lossy(&bytes), "{kind}");
                kinds.insert(kind);
            }
            true
        })
        .expect("scan");
    for kind in [
        "decision",
        "approval.decided",
        "outcome.recorded",
        "finding.bypass",
        "finding.acknowledged",
        "finding.resolved",
    ] {
        assert!(kinds.contains(kind), "no {kind} in {kinds:?}");
    }
}

/// An observe-mode set records what it would have blocked without blocking it; switched to
/// enforce (a second person's approval again), it blocks.
#[test]
fn observe_mode_records_what_it_would_block_then_enforces() {
    let w = world();
    let guard = r#"
@id("no_external_mail")
forbid (principal, action == Action::"call_tool", resource == Tool::"send_email")
unless { context.arguments.hasTag("to") && context.arguments.getTag("to") like "*@example.com" };
"#;
    let change =
        w.gavel.propose_policy(&w.admin, "guard", guard, Some(gavel_policy::Mode::Observe)).expect("propose");
    w.gavel.approve_change(&w.bob, &change.id, None).expect("approve");
    let d =
        w.gavel.decide(&w.agent, call("send_email", json!({"to": "eve@elsewhere.test"}))).expect("decide");
    assert_eq!(d.decision, Outcome::RequireApproval, "observe changes nothing: support still holds it");
    assert_eq!(d.would_have, Some(Outcome::Deny), "{d:?}");

    let enforce = w.gavel.propose_mode(&w.admin, "guard", gavel_policy::Mode::Enforce).expect("propose");
    assert!(forbidden(w.gavel.approve_change(&w.admin, &enforce.id, None)).contains("two-person"));
    w.gavel.approve_change(&w.bob, &enforce.id, None).expect("approve");
    let d =
        w.gavel.decide(&w.agent, call("send_email", json!({"to": "eve@elsewhere.test"}))).expect("decide");
    assert_eq!(d.decision, Outcome::Deny);
    assert!(d.policies.iter().any(|p| p.policy_id == "no_external_mail"), "{d:?}");
}

/// The log through the one door: proofs are handed out checked, to readers only; the public
/// consistency proof never signs; external records are for admins and the local operator.
#[test]
fn the_log_answers_readers_with_checked_proofs() {
    let w = world();
    let viewer = w
        .gavel
        .authenticate(&w.gavel.create_user(&w.admin, "vic", Role::Viewer).expect("viewer").token)
        .expect("auth");
    let c = w.gavel.checkpoint(&viewer).expect("readers may sign on demand");
    assert_eq!(c.tree_size, w.gavel.log_size().expect("size"));
    assert_eq!(c.log_key, w.gavel.log_key());
    forbidden(w.gavel.checkpoint(&w.agent));

    let p = w.gavel.inclusion_proof(&viewer, 1, None).expect("inclusion");
    assert_eq!((p.seq, p.tree_size), (1, c.tree_size));
    assert_eq!(p.checkpoint.as_deref(), Some(c.note.as_str()));
    forbidden(w.gavel.inclusion_proof(&w.agent, 1, None));
    assert!(matches!(w.gavel.inclusion_proof(&viewer, c.tree_size, None), Err(CoreError::NotFound(_))));

    // The log grows; the public proof goes to the latest *signed* checkpoint and signs nothing.
    w.gavel.decide(&w.agent, call("send_email", json!({"to": "ann@example.com"}))).expect("decide");
    let public = w.gavel.consistency_proof(2, None).expect("consistency");
    assert_eq!(public.new_size, c.tree_size, "no new checkpoint was signed for an anonymous caller");
    assert!(matches!(
        w.gavel.consistency_proof(c.tree_size + 1, Some(c.tree_size)),
        Err(CoreError::Invalid(_))
    ));
    let to_head = w.gavel.consistency_proof_to_head(&viewer, 2, None).expect("to head");
    assert_eq!(to_head.new_size, w.gavel.log_size().expect("size"));

    let report = w.gavel.verify_log(&viewer, 0, None, &[]).expect("verify");
    assert!(report.valid, "{report:?}");
    forbidden(w.gavel.verify_log(&w.agent, 0, None, &[]));

    // External records: admins and the operator, `external.<name>` kinds, JSON objects only.
    forbidden(w.gavel.record_external(&viewer, "external.review", json!({})));
    let operator = Principal::Operator(gavel_ledger::event::Actor::user("ops"));
    let at = w.gavel.record_external(&operator, "external.review", json!({"by": "ops"})).expect("record");
    assert_eq!(at.seq + 1, w.gavel.log_size().expect("size"));
    for (kind, data) in [("decision", json!({})), ("external.", json!({})), ("external.review", json!([1]))] {
        assert!(
            matches!(w.gavel.record_external(&w.admin, kind, data.clone()), Err(CoreError::Invalid(_))),
            "{kind} {data}"
        );
    }
    // An operator is no user: every other rule refuses it.
    forbidden(w.gavel.create_user(&operator, "mallory", Role::Admin));
}
