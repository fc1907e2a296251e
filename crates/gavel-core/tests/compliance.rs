//! Readiness scans: states per criterion move from gap to observe to enforcing as a deployment
//! is set up, and each scan says which findings are new and which were remediated.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

use gavel_core::compliance::{ScanSettings, State};
use gavel_core::identity::Role;
use gavel_core::{CoreError, Gavel, NewAgent, Principal};
use gavel_evidence::Framework;
use gavel_ledger::clock::{Clock as _, ManualClock};
use gavel_policy::Mode;
use std::sync::Arc;
use time::OffsetDateTime;

/// A framework file with these criteria and checks, and no operating rules (so the scan's
/// states come from the checks alone).
fn framework(criteria: &[(&str, &[&str])]) -> Framework {
    let mut text =
        String::from("[framework]\nid = \"soc2\"\nname = \"test\"\nversion = \"1\"\nsource = \"test\"\n");
    for (id, checks) in criteria {
        let checks: Vec<String> = checks.iter().map(|c| format!("{c:?}")).collect();
        text.push_str(&format!(
            "[[criteria]]\nid = {id:?}\ntitle = \"title of {id}\"\ndescription = \"d\"\nchecks = [{}]\nevidence = [{{ kinds = [\"*\"] }}]\n",
            checks.join(", ")
        ));
    }
    Framework::parse(&text).unwrap()
}

fn plan() -> Framework {
    framework(&[
        ("CC6.1", &["agent_inventory", "policy_enforcement"]),
        ("CC6.7", &["approval_holds"]),
        ("CC7.2", &["monitoring_webhooks", "log_integrity", "retention"]),
        ("CC8.1", &["change_control"]),
    ])
}

fn state(scan: &gavel_core::compliance::Scan, id: &str) -> State {
    scan.criteria.iter().find(|c| c.id == id).unwrap().state
}

#[test]
fn scans_follow_a_deployment_from_gap_to_enforcing() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap()));
    let log = Arc::new(
        gavel_store::Log::open(&gavel_store::layout::DataDir::new(dir.path()), clock.clone(), None)
            .unwrap()
            .0,
    );
    let store: Arc<dyn gavel_store::Store> = log.store().clone();
    let gavel = Gavel::new(log.clone(), clock.clone());
    let admin = gavel.authenticate(&gavel.bootstrap_admin().unwrap().unwrap().token).unwrap();
    let bob = gavel.authenticate(&gavel.create_user(&admin, "bob", Role::Admin).unwrap().token).unwrap();
    let viewer: Principal =
        gavel.authenticate(&gavel.create_user(&admin, "vic", Role::Viewer).unwrap().token).unwrap();
    let settings = ScanSettings::default();

    let first = gavel.compliance_scan(Some(&admin), &plan(), &settings).unwrap();
    for id in ["CC6.1", "CC6.7", "CC7.2", "CC8.1"] {
        assert_eq!(state(&first, id), State::Gap, "{id}: {first:#?}");
    }
    assert!(first.previous_scan.is_none());
    assert!(first.new_findings.contains(&"agent_inventory:none".to_string()), "{:?}", first.new_findings);
    assert!(first.new_findings.contains(&"monitoring_webhooks:none".to_string()));

    // An agent and the soc2 pack in observe mode.
    gavel
        .create_agent(
            &admin,
            NewAgent { name: "bot".into(), owner: Some("dave".into()), ..Default::default() },
        )
        .unwrap();
    gavel.install_pack(&admin, "soc2").unwrap();
    let second = gavel.compliance_scan(Some(&admin), &plan(), &settings).unwrap();
    assert_eq!(second.previous_scan.as_deref(), Some(first.id.as_str()));
    assert_eq!(state(&second, "CC6.1"), State::Observe, "{second:#?}");
    assert_eq!(state(&second, "CC6.7"), State::Observe);
    assert!(
        second.new_findings.contains(&"policy_enforcement:soc2".to_string()),
        "{:?}",
        second.new_findings
    );
    let remediated: Vec<&str> = second.remediated_findings.iter().map(|f| f.key.as_str()).collect();
    assert!(
        remediated.contains(&"agent_inventory:none") && remediated.contains(&"policy_enforcement:none"),
        "{remediated:?}"
    );

    // Going live is a two-person change; a webhook streams to the SIEM.
    let change = gavel.propose_mode(&admin, "soc2", Mode::Enforce).unwrap();
    gavel.approve_change(&bob, &change.id, None).unwrap();
    gavel.create_webhook(&admin, "https://siem.example.com/gavel", vec![]).unwrap();
    let third = gavel.compliance_scan(None, &plan(), &settings).unwrap();
    for id in ["CC6.1", "CC6.7", "CC7.2", "CC8.1"] {
        assert_eq!(state(&third, id), State::Enforcing, "{id}: {third:#?}");
    }
    assert_eq!(third.run_by, "system");
    assert_eq!(third.summary["enforcing"], 4);
    let remediated: Vec<&str> = third.remediated_findings.iter().map(|f| f.key.as_str()).collect();
    assert!(
        remediated.contains(&"policy_enforcement:soc2") && remediated.contains(&"monitoring_webhooks:none"),
        "{remediated:?}"
    );

    // Stored, listed newest first, readable by viewers; each scan is a log event.
    let listed = gavel.compliance_scans(&viewer, Some("soc2"), 10).unwrap();
    assert_eq!(listed.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), [&third.id, &second.id, &first.id]);
    assert_eq!(gavel.compliance_scan_by_id(&viewer, &second.id).unwrap(), second);
    assert!(matches!(gavel.compliance_scan(Some(&viewer), &plan(), &settings), Err(CoreError::Forbidden(_))));
    let mut events = 0;
    store
        .scan(0, u64::MAX, &mut |e| {
            let ev = gavel_ledger::event::Event::from_bytes(e.bytes.as_deref().unwrap()).unwrap();
            events += usize::from(ev.kind == "compliance.scan_completed");
            true
        })
        .unwrap();
    assert_eq!(events, 3);
}

#[test]
fn a_criterion_naming_an_unknown_check_is_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap()));
    let log = Arc::new(
        gavel_store::Log::open(&gavel_store::layout::DataDir::new(dir.path()), clock.clone(), None)
            .unwrap()
            .0,
    );
    let _store: Arc<dyn gavel_store::Store> = log.store().clone();
    let gavel = Gavel::new(log.clone(), clock);
    let admin = gavel.authenticate(&gavel.bootstrap_admin().unwrap().unwrap().token).unwrap();
    let fw = framework(&[("X.1", &["retention", "nope"]), ("X.2", &[])]);
    let plan = gavel_core::compliance::plan_of(&fw);
    assert_eq!(gavel_core::compliance::unknown_checks(&plan).into_iter().collect::<Vec<_>>(), ["nope"]);
    let scan = gavel.compliance_scan(Some(&admin), &fw, &ScanSettings::default()).unwrap();
    assert_eq!(state(&scan, "X.1"), State::Gap);
    assert_eq!(state(&scan, "X.2"), State::Gap);
    assert!(scan.criteria[0].findings.iter().any(|f| f.message.contains("\"nope\"")));
    assert!(matches!(
        gavel.compliance_scan(Some(&admin), &Framework { criteria: vec![], ..fw }, &ScanSettings::default()),
        Err(CoreError::Invalid(_))
    ));
}

/// A scan and an evidence bundle of the same period state the same operating verdicts: the
/// scan's `operating` per criterion equals the bundle's, and a criterion the bundle calls
/// not-satisfied by a rule is a gap in the scan with that rule's finding.
#[test]
fn a_scan_and_a_bundle_of_the_same_period_agree() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap()));
    let (gavel, _) =
        Gavel::open(&gavel_core::DataDir::new(dir.path().join("data")), clock.clone(), None).unwrap();
    let admin = gavel.authenticate(&gavel.bootstrap_admin().unwrap().unwrap().token).unwrap();
    let bot = gavel
        .create_agent(
            &admin,
            NewAgent { name: "bot".into(), owner: Some("dave".into()), ..Default::default() },
        )
        .unwrap();
    // No policy: the calls are allowed in permissive mode, which CC6.6 does not accept.
    let call = serde_json::from_value(serde_json::json!({"tool": "send_email"})).unwrap();
    gavel.decide_with_token(&bot.token, call).unwrap();
    // An endpoint that never delivered: the delivery rate is unknown, CC7.2 does not operate.
    gavel.create_webhook(&admin, "https://siem.example.com/gavel", vec![]).unwrap();
    clock.set(clock.now() + time::Duration::hours(30));

    let from = time::macros::date!(2026 - 01 - 01);
    let to = time::macros::date!(2026 - 01 - 02);
    let soc2 = Framework::soc2().unwrap();
    let settings = ScanSettings {
        period: Some((from.midnight().assume_utc(), to.midnight().assume_utc())),
        ..ScanSettings::default()
    };
    let scan = gavel.compliance_scan(Some(&admin), &soc2, &settings).unwrap();
    assert_eq!(scan.period.as_ref().map(|p| p.from.as_str()), Some("2026-01-01T00:00:00.000000Z"));

    let out = dir.path().join("bundle");
    let params = gavel_core::evidence_runs::ExportParams {
        framework: &soc2,
        from,
        to,
        out: gavel_core::evidence_runs::ExportOut::Path(out.clone()),
        progress: None,
    };
    gavel.export_evidence(&admin, params).unwrap();
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["facts"], serde_json::json!(scan.facts), "the same facts");
    let mut failing = Vec::new();
    for c in &scan.criteria {
        let control: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.join("controls").join(format!("{}.json", c.id))).unwrap(),
        )
        .unwrap();
        assert_eq!(control["operating"], serde_json::json!(c.operating), "{}", c.id);
        if c.operating.iter().any(|r| !r.holds) {
            failing.push(c.id.as_str());
            assert_eq!(control["status"], "not-satisfied", "{}", c.id);
            assert_eq!(c.state, State::Gap, "{}", c.id);
            assert!(c.findings.iter().any(|f| f.check == "operating"), "{:?}", c.findings);
        }
    }
    assert!(failing.contains(&"CC6.6") && failing.contains(&"CC7.2"), "{failing:?}");
    assert!(!failing.contains(&"CC6.1"), "{failing:?}");
}
