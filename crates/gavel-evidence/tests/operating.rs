//! For every SOC 2 criterion, a world where its control works and one where it fails: the
//! bundle's status, summary and findings, report.pdf's text (read with pypdf) and `evidence
//! verify` (which recomputes every statement) must all tell the same, true story.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

use gavel_evidence::bundle::{self, ControlHeader};
use gavel_evidence::export::parse_date;
use gavel_evidence::{export, verify_bundle, ExportRequest, Framework, VerifyOptions};
use gavel_ledger::clock::ManualClock;
use gavel_ledger::event::{Actor, EventDraft};
use gavel_ledger::keys::generate_signing_key;
use gavel_store::layout::DataDir;
use gavel_store::Log;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const FROM: &str = "2026-01-01";
const TO: &str = "2026-01-11";

struct World {
    _tmp: tempfile::TempDir,
    log: Log,
    clock: Arc<ManualClock>,
    day: i64,
}

impl World {
    /// Everything a working period needs, from just before it starts: an admin, a webhook
    /// endpoint created before the period, two owned agents, a policy with a second approver.
    fn working() -> World {
        World::with(|_| {})
    }

    /// The working world, with `inject` run on 2026-01-03 at noon, mid-period.
    fn with(inject: impl FnOnce(&mut World)) -> World {
        let tmp = tempfile::tempdir().expect("tempdir");
        let clock = Arc::new(ManualClock::new(datetime!(2025-12-31 12:00 UTC)));
        let (log, _) =
            Log::open(&DataDir::new(tmp.path().join("data")), clock.clone(), Some("acme")).expect("open");
        let mut w = World { _tmp: tmp, log, clock, day: 0 };
        w.ev("user.created", Actor::system("bootstrap"), json!({"user_id": "usr_admin", "name": "admin"}));
        w.ev("webhook.created", admin(), json!({"id": "whk_1", "url": "https://siem.example.com/x"}));
        w.at(0, 8);
        w.ev("user.created", admin(), json!({"user_id": "usr_sec", "name": "sec", "role": "approver"}));
        w.ev("agent.registered", admin(), json!({"agent_id": "agt_1", "name": "billing", "owner": "alice"}));
        w.ev("agent.registered", admin(), json!({"agent_id": "agt_2", "name": "mailer", "owner": "bob"}));
        w.ev(
            "policy.proposed",
            admin(),
            json!({"change_id": "chg_1", "set_id": "base", "version": 1, "author": "usr_admin"}),
        );
        w.ev(
            "policy.activated",
            Actor::user("usr_sec"),
            json!({"change_id": "chg_1", "set_id": "base", "version": 1, "proposed_by": "usr_admin", "approved_by": "usr_sec"}),
        );
        let mut inject = Some(inject);
        for day in 0..10 {
            w.at(day, 10);
            w.decision("agt_1", "refund", "payments", "allow", true);
            w.decision("agt_1", "wire", "payments", "deny", true);
            w.decision("agt_2", "send_email", "external_comm", "require_approval", true);
            w.ev("approval.decided", Actor::user("usr_sec"), json!({"approval_id": format!("apr_{day}"), "agent_id": "agt_2", "decision": "approved", "approver": "usr_sec"}));
            w.ev(
                "webhook.attempts",
                Actor::system("webhooks"),
                json!({"endpoint_id": "whk_1", "attempts": [{"outcome": "delivered"}, {"outcome": "delivered"}]}),
            );
            match day {
                1 => {
                    w.at(1, 12);
                    w.ev(
                        "detection.raised",
                        Actor::system("detectors"),
                        json!({"detection_id": "det_1", "agent_id": "agt_1"}),
                    );
                    w.ev(
                        "incident.opened",
                        admin(),
                        json!({"incident_id": "inc_1", "title": "deny burst", "severity": "high"}),
                    );
                    w.ev(
                        "killswitch.engaged",
                        admin(),
                        json!({"scope": "agent:agt_1", "reason": "burst", "incident_id": "inc_1"}),
                    );
                    w.ev(
                        "decision",
                        Actor::agent("agt_1"),
                        json!({"agent_id": "agt_1", "tool": "wire", "decision": "deny", "enforced": true,
                               "containment": {"kind": "killswitch"}}),
                    );
                    w.ev(
                        "agent.suspended",
                        admin(),
                        json!({"agent_id": "agt_1", "name": "billing", "reason": "burst"}),
                    );
                    w.decision_with_status("agt_1", "deny", "suspended");
                    w.at(1, 18);
                    w.ev("agent.reactivated", admin(), json!({"agent_id": "agt_1"}));
                    w.ev(
                        "killswitch.released",
                        admin(),
                        json!({"scope": "agent:agt_1", "incident_id": "inc_1"}),
                    );
                    w.ev(
                        "incident.resolved",
                        admin(),
                        json!({"incident_id": "inc_1", "resolution": "tuned the policy"}),
                    );
                }
                2 => {
                    w.at(2, 12);
                    if let Some(inject) = inject.take() {
                        inject(&mut w);
                    }
                }
                _ => {}
            }
        }
        w
    }

    fn at(&mut self, day: i64, hour: u8) {
        self.day = day;
        let t: OffsetDateTime =
            datetime!(2026-01-01 00:00 UTC) + Duration::days(day) + Duration::hours(hour.into());
        self.clock.set(t);
    }

    fn ev(&self, kind: &str, actor: Actor, data: Value) {
        self.log.append(EventDraft::new(kind, actor, data).expect("draft")).expect("append");
    }

    fn decision(&self, agent: &str, tool: &str, category: &str, outcome: &str, enforced: bool) {
        self.ev(
            "decision",
            Actor::agent(agent),
            json!({"decision_id": format!("dec_{}_{tool}_{agent}", self.day), "agent_id": agent, "agent_status": "active",
                   "tool": tool, "tool_category": category, "decision": outcome, "enforced": enforced}),
        );
    }

    fn decision_with_status(&self, agent: &str, outcome: &str, status: &str) {
        self.ev(
            "decision",
            Actor::agent(agent),
            json!({"agent_id": agent, "agent_status": status, "tool": "refund", "tool_category": "payments",
                   "decision": outcome, "enforced": true}),
        );
    }

    /// Exports the period, checks the bundle verifies, and returns (controls by id, PDF text).
    fn bundle(&self) -> (BTreeMap<String, ControlHeader>, String) {
        let out = self._tmp.path().join("bundle");
        let fw = Framework::soc2().expect("soc2");
        let req = ExportRequest {
            store: self.log.store().as_ref(),
            checkpoint: &self.log.checkpoint().expect("checkpoint"),
            log_origin: self.log.origin(),
            log_key: &self.log.signer().verifier_key(),
            export_key: &generate_signing_key(),
            framework: &fw,
            from: parse_date(FROM).expect("date"),
            to: parse_date(TO).expect("date"),
            org: "acme".into(),
            out: out.clone(),
            retention_days: 365,
            simulated: true,
            generated_at: datetime!(2026-02-01 00:00 UTC),
            progress: None,
        };
        export(&req).expect("export");
        let report = verify_bundle(&out, &VerifyOptions::default());
        assert!(report.valid, "{report:#?}");
        let statements = report.checks.iter().find(|c| c.name == "statements").expect("statements check");
        assert!(statements.detail.contains("recomputed"), "{statements:?}");
        let controls: BTreeMap<String, ControlHeader> = fw
            .criteria
            .iter()
            .map(|c| {
                (c.id.clone(), bundle::read_stream(&out, &bundle::control_json(&c.id)).expect("control"))
            })
            .collect();
        let pdf = gavel_testkit::python_command()
            .args(["-c", "import sys, pypdf\nprint(' '.join(p.extract_text() for p in pypdf.PdfReader(sys.argv[1]).pages))"])
            .arg(out.join("report.pdf"))
            .output()
            .expect("the oracles' python");
        assert!(pdf.status.success(), "pypdf: {}", String::from_utf8_lossy(&pdf.stderr));
        let text = String::from_utf8_lossy(&pdf.stdout).split_whitespace().collect::<Vec<_>>().join(" ");
        (controls, text)
    }
}

fn admin() -> Actor {
    Actor::user("usr_admin")
}

/// The statuses of every criterion, as the bundle states them.
fn statuses(controls: &BTreeMap<String, ControlHeader>) -> Vec<(String, String)> {
    controls.iter().map(|(id, c)| (id.clone(), c.status.clone())).collect()
}

/// A criterion's findings, one `[level] message` per line.
fn findings(c: &ControlHeader) -> String {
    c.findings.iter().map(|f| format!("[{}] {}\n", f.level, f.message)).collect()
}

#[test]
fn in_the_working_world_every_criterion_operates() {
    let w = World::working();
    let (controls, pdf) = w.bundle();
    for (id, status) in statuses(&controls) {
        let c = &controls[&id];
        assert_eq!(status, "satisfied", "{id}: {}", findings(c));
        assert!(c.summary.contains("Operating: all"), "{id}: {}", c.summary);
        assert!(!c.operating.is_empty(), "{id} has rules");
    }
    assert!(!pdf.contains("not operating"), "{pdf}");
    assert!(pdf.contains("Operating: all"), "{pdf}");
    let cc72 = &controls["CC7.2"];
    assert!(cc72.controls.iter().any(|c| c.contains("webhook stream")), "{cc72:?}");
    let summary = &cc72.summary;
    assert!(
        summary.contains("covered 100.00% of the period") && summary.contains("20 delivered"),
        "{summary}"
    );
}

/// Breaks one criterion's control in an otherwise working world; asserts the criterion is not
/// satisfied with a failing finding naming `fact`, its summary says what does not operate, the
/// PDF prints it, and the bundle still verifies (the statement is true, recomputed).
fn broken(criterion: &str, fact: &str, says: &str, world: impl FnOnce(&mut World)) {
    let w = World::with(world);
    let (controls, pdf) = w.bundle();
    let c = &controls[criterion];
    assert_eq!(c.status, "not-satisfied", "{criterion}: {c:?}");
    let findings = findings(c);
    assert!(findings.contains(&format!("({fact} is")), "{criterion}: {findings}");
    let summary = &c.summary;
    assert!(summary.contains(&format!("Not operating: {says}")), "{criterion}: {summary}");
    assert!(
        pdf.contains(&format!("fail: not operating: {says}")),
        "{criterion}: PDF lacks the failure:\n{pdf}"
    );
    assert!(pdf.contains(&format!("{fact} is")), "{criterion}: PDF lacks the fact:\n{pdf}");
}

#[test]
fn cc6_1_an_open_bypass_finding() {
    broken("CC6.1", "bypass_findings_open", "no bypass finding raised in the period is left open", |w| {
        w.ev("outcome.recorded", Actor::agent("agt_2"), json!({"agent_id": "agt_2", "decision_id": "dec_4_send_email_agt_2", "bypass": true, "status": "succeeded"}));
        w.ev(
            "finding.bypass",
            Actor::agent("agt_2"),
            json!({"agent_id": "agt_2", "decision_id": "dec_5", "finding_id": "fnd_2"}),
        );
        w.ev(
            "finding.resolved",
            Actor::user("usr_sec"),
            json!({"finding_id": "fnd_2", "decision_id": "dec_5", "note": "n"}),
        );
    });
    // Every finding is counted, wherever it was raised, per agent too.
    let w = World::with(|w| {
        w.ev(
            "outcome.recorded",
            Actor::agent("agt_2"),
            json!({"agent_id": "agt_2", "decision_id": "d1", "bypass": true}),
        );
        w.ev(
            "finding.bypass",
            Actor::agent("agt_2"),
            json!({"agent_id": "agt_2", "decision_id": "d2", "finding_id": "fnd_2"}),
        );
        w.ev("finding.bypass", Actor::agent("agt_2"), json!({"agent_id": "agt_2", "decision_id": "d3"}));
    });
    let (controls, _) = w.bundle();
    let cc61 = &controls["CC6.1"];
    assert!(cc61.summary.contains("3 bypass finding(s) raised, 0 resolved, 3 open"), "{cc61:?}");
    // The analysis details are JSON whose shape is the criterion's analysis kind's.
    let agent =
        cc61.analysis["agents"].as_array().and_then(|a| a.iter().find(|a| a["agent_id"] == "agt_2")).cloned();
    assert_eq!(agent.map(|a| a["bypass_findings"].clone()), Some(json!(3)));
}

#[test]
fn cc6_2_a_removed_user_still_acts() {
    broken("CC6.2", "actions_by_deactivated_users", "no user acted after their access was removed", |w| {
        w.ev("user.deactivated", admin(), json!({"user_id": "usr_sec", "name": "sec", "reason": "left"}));
        w.ev(
            "approval.decided",
            Actor::user("usr_sec"),
            json!({"approval_id": "apr_x", "decision": "approved"}),
        );
    });
}

#[test]
fn cc6_3_a_deactivated_agent_is_allowed() {
    broken(
        "CC6.3",
        "calls_allowed_after_deactivation",
        "every call of a suspended or deactivated agent was denied",
        |w| {
            w.ev("agent.deactivated", admin(), json!({"agent_id": "agt_2", "name": "mailer", "reason": "r"}));
            w.decision_with_status("agt_2", "allow", "deactivated");
        },
    );
}

#[test]
fn cc6_6_a_call_allowed_in_permissive_mode() {
    broken("CC6.6", "decisions_unenforced", "every tool call was decided by an enforcing policy", |w| {
        w.decision("agt_2", "read_wiki", "read_only", "allow", false);
    });
}

#[test]
fn cc6_7_a_payment_decided_without_an_enforcing_policy() {
    broken("CC6.7", "sensitive_calls_unenforced", "every call that communicates externally", |w| {
        w.decision("agt_1", "refund", "payments", "allow", false);
    });
}

#[test]
fn cc7_2_the_only_endpoint_disabled() {
    broken("CC7.2", "webhook_streaming_coverage", "an enabled webhook endpoint streamed events", |w| {
        w.ev("webhook.disabled", admin(), json!({"id": "whk_1", "reason": "noisy", "was_enabled": true}));
    });
}

#[test]
fn cc7_2_no_delivery_arrives() {
    broken("CC7.2", "webhook_delivery_rate", "at least 95% of webhook deliveries arrived", |w| {
        w.ev(
            "webhook.attempts",
            Actor::system("webhooks"),
            json!({"endpoint_id": "whk_1", "attempts": [{"outcome": "failed"}, {"outcome": "failed"}]}),
        );
    });
    // And with no endpoint at all, neither streaming nor the delivery rate can be shown.
    let tmp = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(datetime!(2026-01-02 12:00 UTC)));
    let (log, _) =
        Log::open(&DataDir::new(tmp.path().join("data")), clock.clone(), Some("acme")).expect("open");
    let w = World { _tmp: tmp, log, clock, day: 1 };
    w.decision("agt_1", "refund", "payments", "allow", true);
    let (controls, pdf) = w.bundle();
    let cc72 = &controls["CC7.2"];
    assert_eq!(cc72.status, "not-satisfied");
    assert!(findings(cc72).contains("webhook_delivery_rate is unknown"), "{cc72:?}");
    assert!(
        !cc72.controls.iter().any(|c| c.contains("webhook")),
        "no endpoint, no webhook control: {cc72:?}"
    );
    assert!(!pdf.contains("No criterion has a finding"), "{pdf}");
}

#[test]
fn cc7_3_an_incident_left_open() {
    broken("CC7.3", "incidents_overdue", "every incident was resolved within 7 days", |w| {
        // Opened 2026-01-03 at noon, still open at the end of the period 8 days later.
        w.ev(
            "incident.opened",
            admin(),
            json!({"incident_id": "inc_2", "title": "exfiltration", "severity": "high"}),
        );
    });
}

#[test]
fn cc7_4_a_kill_switch_without_an_incident() {
    broken(
        "CC7.4",
        "killswitch_engagements_unlinked",
        "every kill switch engagement names the incident",
        |w| {
            w.ev("killswitch.engaged", admin(), json!({"scope": "tool:wire", "reason": "just because"}));
        },
    );
}

#[test]
fn cc8_1_a_self_approved_policy_change() {
    broken(
        "CC8.1",
        "policy_changes_self_approved",
        "no policy change was approved by the person who proposed it",
        |w| {
            w.ev(
            "policy.activated",
            admin(),
            json!({"change_id": "chg_2", "set_id": "base", "version": 2, "proposed_by": "usr_admin", "approved_by": "usr_admin"}),
        );
        },
    );
}
