//! Failing webhook endpoints are held between rounds (issue 14), so a dead endpoint adds at most
//! one `webhook.attempts` event per backoff step: the planner offers nothing before
//! `held_until`, and the hold follows the schedule of the delivery that found the endpoint down.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

use gavel_core::identity::Role;
use gavel_core::webhooks::{Plan, Position, Sent};
use gavel_core::Gavel;
use gavel_ledger::clock::{parse_time, ManualClock};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

fn sent(plan: &Plan, codes: &[Option<u16>]) -> Vec<Sent> {
    plan.messages
        .iter()
        .zip(codes)
        .map(|(m, c)| Sent {
            seq: m.seq,
            tree_size: m.tree_size,
            status_code: *c,
            latency_ms: 1,
            error: c.is_none().then(|| "connection refused".to_string()),
            retry_after: None,
        })
        .collect()
}

#[test]
fn a_round_without_2xx_holds_the_endpoint_until_its_next_step() {
    let dir = tempfile::tempdir().unwrap();
    let start = OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let log = Arc::new(
        gavel_store::Log::open(&gavel_store::layout::DataDir::new(dir.path()), clock.clone(), None)
            .unwrap()
            .0,
    );
    let _store: Arc<dyn gavel_store::Store> = log.store().clone();
    let gavel = Gavel::new(log.clone(), clock.clone());
    let admin = gavel.authenticate(&gavel.bootstrap_admin().unwrap().unwrap().token).unwrap();
    let hook = gavel.create_webhook(&admin, "https://siem.example.com/x", vec![]).unwrap();
    let id = hook.endpoint.id.as_str();
    for name in ["ann", "bob", "cy"] {
        gavel.create_user(&admin, name, Role::Viewer).unwrap();
    }
    let schedule = vec![Duration::from_secs(5), Duration::from_secs(300), Duration::from_secs(1_800)];
    let held = |gavel: &Gavel| gavel.webhook(&admin, id).unwrap().held_until.map(|t| parse_time(&t).unwrap());

    // Unreachable: the round stops at the first message; the endpoint waits for its next step.
    let plan = gavel.webhook_plan(id, Position::default(), 100, 5_000).unwrap().unwrap();
    assert_eq!(plan.messages.len(), 3);
    let first = plan.messages[0].seq;
    gavel.record_webhook_attempts(&plan, &sent(&plan, &[None]), plan.messages[1].seq, &schedule).unwrap();
    let until = held(&gavel).expect("held after an unreachable round");
    let step = until - start;
    assert!(
        step >= time::Duration::milliseconds(4_500) && step <= time::Duration::milliseconds(5_500),
        "{step}"
    );
    assert!(
        gavel.webhook_plan(id, Position::default(), 100, 5_000).unwrap().is_none(),
        "nothing is offered while held"
    );
    clock.advance(time::Duration::seconds(4));
    assert!(gavel.webhook_plan(id, Position::default(), 100, 5_000).unwrap().is_none());

    // Due again: the retry comes first; still down, so the hold grows with that delivery's schedule.
    clock.set(until);
    let plan = gavel.webhook_plan(id, Position::default(), 100, 5_000).unwrap().unwrap();
    assert_eq!((plan.messages[0].seq, plan.messages[0].attempt), (first, 2));
    gavel.record_webhook_attempts(&plan, &sent(&plan, &[None]), plan.messages[1].seq, &schedule).unwrap();
    let step = held(&gavel).unwrap() - until;
    assert!(step >= time::Duration::seconds(270) && step <= time::Duration::seconds(330), "{step}");

    // Answering, but with errors only: held at most the first step, even for late retries.
    clock.set(held(&gavel).unwrap());
    let plan = gavel.webhook_plan(id, Position::default(), 100, 5_000).unwrap().unwrap();
    assert_eq!(plan.messages.len(), 3);
    assert_eq!(plan.messages[0].attempt, 3);
    let now = gavel_ledger::clock::Clock::now(clock.as_ref());
    gavel.record_webhook_attempts(&plan, &sent(&plan, &[Some(503); 3]), plan.scanned_to, &schedule).unwrap();
    let step = held(&gavel).unwrap() - now;
    assert!(step <= time::Duration::milliseconds(5_500), "{step}");

    // Any 2xx lifts the hold.
    clock.advance(time::Duration::seconds(6));
    let plan = gavel.webhook_plan(id, Position::default(), 100, 5_000).unwrap().unwrap();
    let n = plan.messages.len();
    gavel
        .record_webhook_attempts(&plan, &sent(&plan, &vec![Some(204); n]), plan.scanned_to, &schedule)
        .unwrap();
    assert_eq!(held(&gavel), None);
    assert!(gavel.webhook_plan(id, Position::default(), 100, 5_000).unwrap().is_some());

    // Every attempt is in the deliveries view and in the log's attempt records.
    let items = gavel.webhook_deliveries(&admin, id, None, 1000).unwrap();
    assert_eq!(items.len(), 1 + 1 + 3 + n);
}
