//! Readiness scans: states per criterion move from gap to observe to enforcing as a deployment
//! is set up, and each scan says which findings are new and which were remediated.

use gavel_core::compliance::{CriterionPlan, ScanSettings, State};
use gavel_core::identity::Role;
use gavel_core::{CoreError, Gavel, NewAgent, Principal};
use gavel_ledger::clock::ManualClock;
use gavel_policy::Mode;
use gavel_store::{SqliteStore, Store};
use std::sync::Arc;
use time::OffsetDateTime;

fn plan() -> Vec<CriterionPlan> {
    let c = |id: &str, checks: &[&str]| CriterionPlan {
        id: id.into(),
        title: format!("title of {id}"),
        checks: checks.iter().map(|c| c.to_string()).collect(),
    };
    vec![
        c("CC6.1", &["agent_inventory", "policy_enforcement"]),
        c("CC6.7", &["approval_holds"]),
        c("CC7.2", &["monitoring_webhooks", "log_integrity", "retention"]),
        c("CC8.1", &["change_control"]),
    ]
}

fn state(scan: &gavel_core::compliance::Scan, id: &str) -> State {
    scan.criteria.iter().find(|c| c.id == id).unwrap().state
}

#[test]
fn scans_follow_a_deployment_from_gap_to_enforcing() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap()));
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("gavel.db"), clock.clone()).unwrap());
    let gavel = Gavel::new(store, clock.clone());
    let admin = gavel.authenticate(&gavel.bootstrap_admin().unwrap().unwrap().token).unwrap();
    let bob = gavel.authenticate(&gavel.create_user(&admin, "bob", Role::Admin).unwrap().token).unwrap();
    let viewer: Principal =
        gavel.authenticate(&gavel.create_user(&admin, "vic", Role::Viewer).unwrap().token).unwrap();
    let settings = ScanSettings::default();

    let first = gavel.compliance_scan(Some(&admin), "soc2", &plan(), &settings).unwrap();
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
    let second = gavel.compliance_scan(Some(&admin), "soc2", &plan(), &settings).unwrap();
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
    let third = gavel.compliance_scan(None, "soc2", &plan(), &settings).unwrap();
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
    assert!(matches!(
        gavel.compliance_scan(Some(&viewer), "soc2", &plan(), &settings),
        Err(CoreError::Forbidden(_))
    ));
    let mut events = 0;
    gavel
        .store()
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
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("gavel.db"), clock.clone()).unwrap());
    let gavel = Gavel::new(store, clock);
    let admin = gavel.authenticate(&gavel.bootstrap_admin().unwrap().unwrap().token).unwrap();
    let plan = vec![
        CriterionPlan {
            id: "X.1".into(),
            title: "t".into(),
            checks: vec!["retention".into(), "nope".into()],
        },
        CriterionPlan { id: "X.2".into(), title: "t".into(), checks: vec![] },
    ];
    assert_eq!(gavel_core::compliance::unknown_checks(&plan).into_iter().collect::<Vec<_>>(), ["nope"]);
    let scan = gavel.compliance_scan(Some(&admin), "x", &plan, &ScanSettings::default()).unwrap();
    assert_eq!(state(&scan, "X.1"), State::Gap);
    assert_eq!(state(&scan, "X.2"), State::Gap);
    assert!(scan.criteria[0].findings.iter().any(|f| f.message.contains("\"nope\"")));
    assert!(matches!(
        gavel.compliance_scan(Some(&admin), "x", &[], &ScanSettings::default()),
        Err(CoreError::Invalid(_))
    ));
}
