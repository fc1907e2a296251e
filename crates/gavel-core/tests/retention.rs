//! Retention and legal hold over a simulated 500 days: purges clear exactly what is past
//! retention and not held, leave a record of it, and the whole log still verifies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

use gavel_core::identity::Role;
use gavel_core::retention::{HoldStatus, RetentionChangeStatus, MIN_RETENTION_DAYS};
use gavel_core::{CoreError, Gavel, NewAgent, Principal};
use gavel_ledger::clock::{Clock, ManualClock};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

struct World {
    _dir: tempfile::TempDir,
    clock: Arc<ManualClock>,
    /// The log under the domain, for the tests' own reads.
    store: Arc<dyn gavel_store::Store>,
    gavel: Gavel,
    admin: Principal,
    second_admin: Principal,
    agent: Principal,
}

fn world() -> World {
    world_with(gavel_core::Settings::default())
}

fn world_with(settings: gavel_core::Settings) -> World {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(OffsetDateTime::from_unix_timestamp(1_735_689_600).unwrap())); // 2025-01-01
    let log = Arc::new(
        gavel_store::Log::open(&gavel_store::layout::DataDir::new(dir.path()), clock.clone(), None)
            .unwrap()
            .0,
    );
    let store: Arc<dyn gavel_store::Store> = log.store().clone();
    let gavel = Gavel::new(log.clone(), clock.clone()).with_settings(settings);
    let boot = gavel.bootstrap_admin().unwrap().unwrap();
    let admin = gavel.authenticate(&boot.token).unwrap();
    let second = gavel.create_user(&admin, "second-admin", Role::Admin).unwrap();
    let second_admin = gavel.authenticate(&second.token).unwrap();
    let agent = gavel.create_agent(&admin, NewAgent { name: "bot".into(), ..Default::default() }).unwrap();
    let agent = gavel.authenticate(&agent.token).unwrap();
    World { _dir: dir, clock, store, gavel, admin, second_admin, agent }
}

impl World {
    /// One decision per day for `days` days.
    fn activity(&self, days: i64) {
        for _ in 0..days {
            let req = serde_json::from_value(serde_json::json!({"tool": "search", "arguments": {"q": "x"}}))
                .unwrap();
            self.gavel.decide(&self.agent, req).unwrap();
            self.clock.advance(Duration::days(1));
        }
    }

    fn payload_present(&self, seq: u64) -> bool {
        self.store.entry(seq).unwrap().unwrap().bytes.is_some()
    }

    fn verify(&self) -> gavel_ledger::verify::VerifyReport {
        self.store.verify(0, None, vec![]).unwrap()
    }
}

#[test]
fn retention_below_a_year_is_refused_and_changes_are_logged() {
    let w = world();
    assert_eq!(w.gavel.retention_overview(&w.admin).unwrap().policy.days, MIN_RETENTION_DAYS);
    let size = w.store.head().unwrap().size;
    let err = w.gavel.set_retention(&w.admin, 364).unwrap_err();
    assert!(matches!(err, CoreError::Invalid(ref m) if m.contains("minimum of 365 days")), "{err}");
    assert!(matches!(w.gavel.set_retention(&w.agent, 400), Err(CoreError::Forbidden(_))));
    assert_eq!(w.store.head().unwrap().size, size, "a refused change records nothing");
    let p = w.gavel.set_retention(&w.admin, 400).unwrap();
    assert_eq!(
        (p.status, p.policy.days, p.policy.set_by.as_deref()),
        (RetentionChangeStatus::Applied, 400, Some("admin"))
    );
    assert_eq!(w.gavel.retention_overview(&w.admin).unwrap().policy.days, 400);
}

#[test]
fn a_purge_clears_only_what_is_past_retention_and_not_held() {
    let w = world();
    let first_decision = w.store.head().unwrap().size;
    w.activity(500); // 2025-01-01 .. 2026-05-15, one decision a day
    let end = w.store.head().unwrap().size;

    // Hold ten days in the second month (the decisions of 2025-02-01 .. 2025-02-10).
    let hold = w.gavel.place_hold(&w.admin, "2025-02-01", "2025-02-11", "litigation LH-7").unwrap();
    let report = w.gavel.purge_expired(Some(&w.admin)).unwrap();
    // now = 2026-05-16; cutoff = 2025-05-16: decisions of days 0..135 are past retention.
    assert_eq!(report.retention_days, 365);
    assert!(report.cutoff.starts_with("2025-05-16"), "{}", report.cutoff);
    let held = (first_decision + 31, first_decision + 41);
    assert_eq!(report.held, vec![held]);
    assert_eq!(report.payloads_cleared, first_decision + 135 - 10, "{report:?}");
    for seq in first_decision..end {
        let day = seq - first_decision;
        let expected_present = day >= 135 || (held.0..held.1).contains(&seq);
        assert_eq!(w.payload_present(seq), expected_present, "seq {seq} (day {day})");
    }
    let r = w.verify();
    assert!(r.valid, "{r:?}");
    assert_eq!(r.purged, report.payloads_cleared);

    // Idempotent: nothing more to clear the same day.
    let again = w.gavel.purge_expired(None).unwrap();
    assert_eq!(again.payloads_cleared, 0);
    assert!(again.records.is_empty(), "{again:?}");

    // Release needs a second admin; then the held days go at the next purge.
    w.gavel.request_hold_release(&w.admin, &hold.id, "case closed").unwrap();
    let err = w.gavel.approve_hold_release(&w.admin, &hold.id).unwrap_err();
    assert!(matches!(err, CoreError::Forbidden(_)), "{err}");
    assert_eq!(w.gavel.purge_expired(None).unwrap().payloads_cleared, 0, "still held until approved");
    let released = w.gavel.approve_hold_release(&w.second_admin, &hold.id).unwrap();
    assert_eq!(released.status, HoldStatus::Released);
    let after = w.gavel.purge_expired(None).unwrap();
    assert_eq!((after.payloads_cleared, after.cleared.clone()), (10, vec![held]));

    // A month later the next month's worth goes.
    w.clock.advance(Duration::days(30));
    let later = w.gavel.purge_expired(None).unwrap();
    assert_eq!(later.payloads_cleared, 30);
    let r = w.verify();
    assert!(r.valid && r.purged == report.payloads_cleared + 40, "{r:?}");
    // Records of purges and holds are kept, and each purge record is what its payload type
    // writes back (gavel-events), byte for byte.
    for seq in report.records.iter().chain(&after.records).chain(&later.records) {
        assert!(w.payload_present(*seq));
        let bytes = w.store.entry(*seq).unwrap().unwrap().bytes.unwrap();
        let mut event: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(event["kind"], gavel_events::kind::RETENTION_PURGED);
        let purged: gavel_events::RetentionPurged = gavel_events::read(&event["data"]);
        assert!(!purged.ranges.is_empty() && purged.kept_kinds.is_some(), "{purged:?}");
        event["data"] = gavel_events::retype(gavel_events::kind::RETENTION_PURGED, &event["data"])
            .expect("typed")
            .unwrap();
        assert_eq!(gavel_ledger::jcs::to_vec(&event).unwrap(), bytes);
    }
}

#[test]
fn decisions_past_retention_leave_the_audit_query() {
    let w = world();
    w.activity(400);
    let count = |w: &World| w.store.count_docs(&gavel_store::docs::DocQuery::new("decisions", 1)).unwrap();
    assert_eq!(count(&w), 400);
    w.gavel.purge_expired(None).unwrap();
    assert_eq!(count(&w), 365);
}

#[test]
fn hold_input_is_checked() {
    let w = world();
    for (from, to, reason) in
        [("2025-02-10", "2025-02-01", "r"), ("nope", "2025-02-01", "r"), ("2025-01-01", "2025-02-01", " ")]
    {
        assert!(matches!(w.gavel.place_hold(&w.admin, from, to, reason), Err(CoreError::Invalid(_))));
    }
    assert!(matches!(
        w.gavel.place_hold(&w.agent, "2025-01-01", "2025-02-01", "r"),
        Err(CoreError::Forbidden(_))
    ));
    assert!(matches!(w.gavel.approve_hold_release(&w.admin, "hold_nope"), Err(CoreError::NotFound(_))));
    let h = w.gavel.place_hold(&w.admin, "2025-01-01", "2025-02-01", "audit").unwrap();
    assert!(matches!(w.gavel.approve_hold_release(&w.second_admin, &h.id), Err(CoreError::Conflict(_))));
    let _ = w.clock.now();
}

#[test]
fn a_large_purge_goes_in_bounded_batches_each_with_its_record() {
    let w = world_with(gavel_core::Settings { purge_batch: 7, ..Default::default() });
    w.activity(400);
    w.gavel.place_hold(&w.admin, "2025-01-10", "2025-01-12", "hold").unwrap();
    let report = w.gavel.purge_expired(None).unwrap();
    // 3 setup events + 35 decisions past retention, minus 2 held = 36 payloads, 7 seqs a batch.
    assert_eq!(report.payloads_cleared, 36, "{report:?}");
    assert_eq!(report.records.len(), 6, "{report:?}");
    let state = w.gavel.retention_overview(&w.admin).unwrap().state;
    assert_eq!(state.purged_upto, 38);
    assert_eq!(state.deferred, vec![(12, 14)]);
    assert!(w.verify().valid);
    assert_eq!(w.gavel.purge_expired(None).unwrap().payloads_cleared, 0);
}

#[test]
fn an_incident_hold_keeps_its_linked_events_and_timeline() {
    let w = world();
    let first_decision = w.store.head().unwrap().size;
    w.activity(3);
    let incident = w
        .gavel
        .create_incident(
            &w.admin,
            serde_json::from_value(serde_json::json!({
                "title": "odd calls", "severity": "high", "linked_seqs": [first_decision + 1]
            }))
            .unwrap(),
        )
        .unwrap();
    let id = incident.incident.id.clone();
    let opened_seq = w.store.head().unwrap().size - 1;
    assert!(matches!(w.gavel.place_incident_hold(&w.admin, "inc_nope", "x"), Err(CoreError::NotFound(_))));
    let hold = w.gavel.place_incident_hold(&w.admin, &id, "regulator inquiry").unwrap();
    w.clock.advance(Duration::days(400));
    let report = w.gavel.purge_expired(None).unwrap();
    assert!(w.payload_present(first_decision + 1), "the linked decision is held: {report:?}");
    assert!(w.payload_present(opened_seq), "the incident's timeline is held");
    assert!(!w.payload_present(first_decision) && !w.payload_present(first_decision + 2));
    assert!(w.verify().valid);

    w.gavel.request_hold_release(&w.admin, &hold.id, "inquiry closed").unwrap();
    w.gavel.approve_hold_release(&w.second_admin, &hold.id).unwrap();
    w.gavel.purge_expired(None).unwrap();
    assert!(!w.payload_present(first_decision + 1) && !w.payload_present(opened_seq));
    assert!(w.verify().valid);
}

#[test]
fn shortening_retention_needs_a_second_admin() {
    let w = world();
    w.gavel.set_retention(&w.admin, 730).unwrap();
    let asked = w.gavel.set_retention(&w.admin, 400).unwrap();
    assert_eq!((asked.status, asked.policy.days), (RetentionChangeStatus::Pending, 730));
    assert_eq!(
        w.gavel.retention_overview(&w.admin).unwrap().policy.days,
        730,
        "nothing shortens until approved"
    );
    assert!(matches!(w.gavel.approve_retention(&w.admin), Err(CoreError::Forbidden(_))));
    assert!(matches!(w.gavel.approve_retention(&w.agent), Err(CoreError::Forbidden(_))));
    let p = w.gavel.approve_retention(&w.second_admin).unwrap();
    assert_eq!((p.days, p.set_by.as_deref()), (400, Some("second-admin")));
    assert_eq!(w.gavel.retention_overview(&w.admin).unwrap().pending, None);
    assert!(matches!(w.gavel.approve_retention(&w.second_admin), Err(CoreError::Conflict(_))));
    // A pending shortening is superseded by keeping or lengthening the period.
    w.gavel.set_retention(&w.second_admin, 365).unwrap();
    w.gavel.set_retention(&w.admin, 400).unwrap();
    assert_eq!(w.gavel.retention_overview(&w.admin).unwrap().pending, None);
    assert!(matches!(w.gavel.approve_retention(&w.admin), Err(CoreError::Conflict(_))));
    assert_eq!(w.gavel.retention_overview(&w.admin).unwrap().policy.days, 400);
    assert!(w.verify().valid);
}
