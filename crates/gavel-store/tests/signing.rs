//! The log signs a checkpoint only over entries it verified itself: an event edited in the
//! database, or a stored Merkle node that disagrees with the events, is refused (an integrity
//! fault), not signed; after a restart verification resumes from the last authentic checkpoint.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

use gavel_ledger::clock::SystemClock;
use gavel_ledger::event::{Actor, EventDraft};
use gavel_store::{layout::DataDir, Log, StoreError};
use rusqlite::{params, Connection};
use serde_json::json;
use std::sync::Arc;

fn open(dir: &DataDir) -> Log {
    Log::open(dir, Arc::new(SystemClock), Some("acme")).unwrap().0
}

fn append(log: &Log, n: u64) {
    for i in 0..n {
        log.append(EventDraft::new("test.event", Actor::system("test"), json!({ "i": i })).unwrap()).unwrap();
    }
}

fn sql(dir: &DataDir) -> Connection {
    Connection::open(dir.database()).unwrap()
}

#[test]
fn an_edited_event_after_the_last_checkpoint_is_never_signed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = DataDir::new(tmp.path().join("data"));
    let log = open(&dir);
    append(&log, 40);
    assert_eq!(log.checkpoint().unwrap().size, 40);
    append(&log, 40);
    sql(&dir)
        .execute(
            "UPDATE events SET body = CAST(replace(CAST(body AS TEXT), '\"i\":5', '\"i\":6') AS BLOB) WHERE seq = 45",
            [],
        )
        .unwrap();
    let err = log.checkpoint().unwrap_err();
    assert!(matches!(err, StoreError::Integrity(_)), "{err}");
    assert!(err.to_string().contains("seq 45") || err.to_string().contains("45"), "{err}");
    assert_eq!(log.latest_authentic_checkpoint().unwrap().unwrap().size, 40, "nothing new was signed");
}

#[test]
fn a_corrupted_stored_node_is_refused_after_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = DataDir::new(tmp.path().join("data"));
    {
        let log = open(&dir);
        append(&log, 100);
        assert_eq!(log.checkpoint().unwrap().size, 100);
        append(&log, 60);
    }
    // Level 4 index 7 covers events 112..128: after the last checkpoint, so the restarted writer
    // rebuilds its root from it.
    sql(&dir)
        .execute("UPDATE merkle_nodes SET hash = ?1 WHERE level = 4 AND idx = 7", params![[9u8; 32]])
        .unwrap();
    let log = open(&dir);
    let err = log.checkpoint().unwrap_err();
    assert!(matches!(err, StoreError::Integrity(_)), "{err}");
    assert_eq!(log.latest_authentic_checkpoint().unwrap().unwrap().size, 100);
    let report = log.verify(0, None).unwrap();
    assert!(!report.valid && report.first_break == Some(112), "{report:?}");
}

#[test]
fn a_restart_resumes_verification_from_the_last_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = DataDir::new(tmp.path().join("data"));
    {
        let log = open(&dir);
        append(&log, 33);
        log.checkpoint().unwrap();
        append(&log, 17);
    }
    let log = open(&dir);
    let c = log.checkpoint().unwrap();
    assert_eq!(c.size, 50);
    assert_eq!(c.root, log.store().head().unwrap().root);
    append(&log, 5);
    assert_eq!(log.checkpoint().unwrap().size, 55);
    assert!(log.verify(0, None).unwrap().valid);
}

#[test]
fn a_node_below_the_last_checkpoint_that_disagrees_with_it_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = DataDir::new(tmp.path().join("data"));
    {
        let log = open(&dir);
        append(&log, 64);
        log.checkpoint().unwrap();
        append(&log, 3);
    }
    sql(&dir)
        .execute("UPDATE merkle_nodes SET hash = ?1 WHERE level = 4 AND idx = 1", params![[3u8; 32]])
        .unwrap();
    let log = open(&dir);
    let err = log.checkpoint().unwrap_err();
    assert!(err.to_string().contains("size 64"), "{err}");
}

#[test]
fn a_checkpoint_held_elsewhere_catches_a_truncation_the_database_hides() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = DataDir::new(tmp.path().join("data"));
    let held = {
        let log = open(&dir);
        append(&log, 50);
        let held = log.checkpoint().unwrap().note;
        let report = log.verify_with(0, None, std::slice::from_ref(&held)).unwrap();
        assert!(report.valid && report.warnings.is_empty(), "{report:?}");
        append(&log, 1);
        let report = log.verify(0, None).unwrap();
        assert!(report.valid && report.warnings[0].contains("50..51"), "{report:?}");
        held
    };
    // An insider drops the tail, the Merkle nodes over it and every checkpoint that covered it.
    let db = sql(&dir);
    db.execute("DELETE FROM events WHERE seq >= 30", []).unwrap();
    db.execute("DELETE FROM merkle_nodes WHERE level = 4 AND idx >= 1", []).unwrap();
    db.execute("DELETE FROM checkpoints", []).unwrap();
    let log = open(&dir);
    let alone = log.verify(0, None).unwrap();
    assert!(alone.valid, "the database alone cannot tell: {alone:?}");
    assert!(alone.warnings[0].contains("no signed checkpoint"), "{alone:?}");
    let report = log.verify_with(0, None, &[held]).unwrap();
    assert!(!report.valid && report.reason.as_deref().unwrap().contains("truncated"), "{report:?}");
    // A note that is not this log's is refused outright.
    let other = tempfile::tempdir().unwrap();
    let stranger = open(&DataDir::new(other.path().join("data")));
    append(&stranger, 2);
    let foreign = stranger.checkpoint().unwrap().note;
    assert!(matches!(log.verify_with(0, None, &[foreign]), Err(StoreError::Invalid(_))));
}
