//! Share links: scoped to one export on record, shown once, expiring, revocable, and every
//! access recorded before anything is served.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

use gavel_core::identity::Role;
use gavel_core::{CoreError, Gavel};
use gavel_ledger::clock::ManualClock;
use gavel_ledger::event::{Actor, EventDraft};
use gavel_store::docs::{DocKeys, Expect, StateOp};
use gavel_store::Store;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

/// An export on record, as gavel-evidence records one.
fn record_export(store: &dyn Store, id: &str) {
    let body = serde_json::json!({
        "export_id": id, "framework": "soc2", "from": "2026-01-01", "to": "2026-04-01",
        "checkpoint_size": 10, "checkpoint_root": "00".repeat(32), "sha256sums_sha256": "ab".repeat(32),
        "total_events": 9, "type_ii": true, "simulated": false,
    });
    let draft = EventDraft::new("evidence.exported", Actor::system("test"), body.clone()).unwrap();
    store
        .append_with(
            draft,
            vec![StateOp::put("evidence_exports", id, body, DocKeys::default(), Expect::Absent)],
        )
        .unwrap();
}

#[test]
fn share_links_expire_are_revocable_and_log_every_access() {
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
    let auditor =
        gavel.authenticate(&gavel.create_user(&admin, "aud", Role::Auditor).unwrap().token).unwrap();

    assert!(matches!(gavel.create_share(&admin, "exp_missing", 30), Err(CoreError::NotFound(_))));
    record_export(store.as_ref(), "exp_1");
    let listed = gavel.exports(&auditor).unwrap();
    assert_eq!((listed.len(), listed[0].export_id.as_str(), listed[0].type_ii), (1, "exp_1", true));
    assert!(!listed[0].recorded_at.is_empty());
    assert!(matches!(gavel.create_share(&auditor, "exp_1", 30), Err(CoreError::Forbidden(_))));
    for days in [0, 366] {
        assert!(matches!(gavel.create_share(&admin, "exp_1", days), Err(CoreError::Invalid(_))));
    }

    let issued = gavel.create_share(&admin, "exp_1", 30).unwrap();
    assert!(issued.token.starts_with("gsh_"));
    let listed = serde_json::to_string(&gavel.shares(&auditor).unwrap()).unwrap();
    assert!(!listed.contains(&issued.token), "tokens are never listed");
    assert!(gavel.authenticate(&issued.token).is_err(), "a share token is no credential");

    assert_eq!(gavel.access_share(&issued.token, None, "203.0.113.9").unwrap().export_id, "exp_1");
    gavel.access_share(&issued.token, Some("manifest.json"), "203.0.113.9").unwrap();
    let accesses = gavel.share_accesses(&auditor, &issued.share.id, 10).unwrap();
    assert_eq!(accesses.len(), 2);
    let gavel_core::shares::AccessEntry::Recorded(newest) = &accesses[0].entry else {
        panic!("a recorded access: {accesses:?}")
    };
    assert_eq!(newest.path.as_deref(), Some("manifest.json"));
    assert!(matches!(gavel.access_share("gsh_wrong", None, "x"), Err(CoreError::NotFound(_))));

    // Expiry.
    clock.advance(Duration::days(30));
    assert!(matches!(gavel.access_share(&issued.token, None, "x"), Err(CoreError::NotFound(_))));

    // Revocation.
    let second = gavel.create_share(&admin, "exp_1", 7).unwrap();
    gavel.access_share(&second.token, None, "x").unwrap();
    let revoked = gavel.revoke_share(&admin, &second.share.id).unwrap();
    assert_eq!(revoked.revoked_by.as_deref(), Some("admin"));
    assert!(matches!(gavel.access_share(&second.token, None, "x"), Err(CoreError::NotFound(_))));
    assert!(matches!(gavel.revoke_share(&admin, &second.share.id), Err(CoreError::Conflict(_))));
    assert!(store.verify(0, None, vec![]).unwrap().valid);
}
