//! The decide path's authentication cache never outlives an identity change, even one made by
//! another process on the same database (a second replica).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

use gavel_core::identity::Role;
use gavel_core::{CoreError, Gavel, NewAgent};
use gavel_ledger::clock::SystemClock;
use gavel_policy::Outcome;
use std::sync::Arc;

/// A process on the data directory holding the database `db`.
fn replica(db: &std::path::Path) -> Gavel {
    let dir = gavel_core::DataDir::new(db.parent().unwrap());
    Gavel::open(&dir, Arc::new(SystemClock), None).unwrap().0
}

fn call() -> gavel_core::decide::DecideRequest {
    serde_json::from_value(serde_json::json!({"tool": "search_docs"})).unwrap()
}

#[test]
fn identity_changes_on_another_replica_apply_from_the_next_call() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gavel.db");
    let a = replica(&db);
    let b = replica(&db);
    let admin = a.authenticate(&a.bootstrap_admin().unwrap().unwrap().token).unwrap();
    let bot = a.create_agent(&admin, NewAgent { name: "bot".into(), ..Default::default() }).unwrap();
    let other = a.create_agent(&admin, NewAgent { name: "other".into(), ..Default::default() }).unwrap();

    // Warm replica A's cache; with no policy the call is allowed (permissive mode).
    assert_eq!(a.decide_with_token(&bot.token, call()).unwrap().decision, Outcome::Allow);
    assert_eq!(a.decide_with_token(&other.token, call()).unwrap().decision, Outcome::Allow);

    // Replica B suspends the agent: A denies its very next call.
    let admin_on_b = gavel_core::Principal::User(b.get_user(&admin, "admin").unwrap());
    b.set_agent_status(&admin_on_b, "bot", gavel_core::Status::Suspended, "investigating").unwrap();
    let d = a.decide_with_token(&bot.token, call()).unwrap();
    assert_eq!(d.decision, Outcome::Deny, "{d:?}");
    assert!(d.reasons[0].contains("suspended"), "{:?}", d.reasons);

    // Replica B rotates the other agent's credential: A refuses the old token at once.
    let rotated = b.rotate_agent_credential(&admin_on_b, "other").unwrap();
    assert!(matches!(a.decide_with_token(&other.token, call()), Err(CoreError::Unauthenticated(_))));
    assert_eq!(a.decide_with_token(&rotated.token, call()).unwrap().decision, Outcome::Allow);

    // Unknown tokens and user tokens are refused as before.
    assert!(matches!(a.decide_with_token("gvl_nope", call()), Err(CoreError::Unauthenticated(_))));
    let user = a.create_user(&admin, "vic", Role::Viewer).unwrap();
    assert!(matches!(a.decide_with_token(&user.token, call()), Err(CoreError::Forbidden(_))));
}
