//! The planner's side of `checkpoint.signed` (gavel-core `webhooks`, "Signed checkpoints"): which
//! stored checkpoints are offered to an endpoint, which are passed, and where its checkpoint
//! position goes — step by step, with no HTTP (gavel-server `tests/webhooks.rs` has the real
//! dispatcher and receiver).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

use gavel_core::webhooks::{Plan, Position, Sent, CHECKPOINT_KIND};
use gavel_core::{Gavel, Principal, Role};
use gavel_ledger::checkpoint::{Checkpoint, NoteSigner};
use gavel_ledger::clock::ManualClock;
use gavel_ledger::keys::generate_signing_key;
use gavel_store::StoredCheckpoint;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

const ORIGIN: &str = "gavel.local/test";

struct World {
    _dir: tempfile::TempDir,
    store: Arc<dyn gavel_store::Store>,
    gavel: Gavel,
    signer: NoteSigner,
    admin: Principal,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap()));
        let data = gavel_store::layout::DataDir::new(dir.path());
        let log = Arc::new(gavel_store::Log::open(&data, clock.clone(), Some("test")).unwrap().0);
        let store = log.store().clone();
        // The log's own key, to sign checkpoints by hand.
        let (key, _) = gavel_ledger::keys::load_or_create_signing_key(&data.log_key()).unwrap();
        let signer = NoteSigner::new(ORIGIN, key).unwrap();
        let gavel = Gavel::new(log, clock);
        let admin = gavel.authenticate(&gavel.bootstrap_admin().unwrap().unwrap().token).unwrap();
        World { _dir: dir, store, gavel, signer, admin }
    }

    /// Signs and stores a checkpoint of the log as it is now; returns its size.
    fn checkpoint(&self) -> u64 {
        let head = self.store.head().unwrap();
        let note = self.signer.sign(&Checkpoint {
            origin: ORIGIN.into(),
            size: head.size,
            root: head.root,
            extensions: vec![],
        });
        let stored =
            StoredCheckpoint { size: head.size, root: head.root, note, created_at: self.gavel.now() };
        self.store.save_checkpoint(&stored).unwrap();
        head.size
    }

    fn event(&self, name: &str) {
        self.gavel.create_user(&self.admin, name, Role::Viewer).unwrap();
    }

    fn plan(&self, id: &str) -> Plan {
        self.gavel.webhook_plan(id, Position::default(), 100, 5_000).unwrap().unwrap()
    }

    /// Records `plan` with every message answered `code` (None: no answer).
    fn answer(&self, plan: &Plan, code: Option<u16>) {
        let sent: Vec<Sent> = plan
            .messages
            .iter()
            .map(|m| Sent {
                seq: m.seq,
                tree_size: m.tree_size,
                status_code: code,
                latency_ms: 1,
                error: None,
                retry_after: None,
            })
            .collect();
        self.gavel.record_webhook_attempts(plan, &sent, plan.scanned_to, &[Duration::from_secs(5)]).unwrap();
    }
}

fn checkpoints(plan: &Plan) -> Vec<u64> {
    plan.messages.iter().filter_map(|m| m.tree_size).collect()
}

#[test]
fn a_checkpoint_is_offered_once_unless_it_adds_only_delivery_records() {
    let w = World::new();
    // Signed before the endpoint existed: not its business.
    w.checkpoint();
    let hook =
        w.gavel.create_webhook(&w.admin, "https://siem.example.com/x", vec![CHECKPOINT_KIND.into()]).unwrap();
    let id = hook.endpoint.id.as_str();
    assert!(w.plan(id).messages.is_empty());

    w.event("ann");
    let first = w.checkpoint();
    let plan = w.plan(id);
    assert_eq!(checkpoints(&plan), [first], "the checkpoint covering the endpoint's creation and an event");
    let m = &plan.messages[0];
    assert_eq!((m.seq, m.kind.as_str()), (first - 1, CHECKPOINT_KIND));
    assert_eq!(m.webhook_id, format!("msg_{id}_checkpoint_{first}"));
    let body: serde_json::Value = serde_json::from_slice(&m.body).unwrap();
    assert_eq!(body["unmapped"]["gavel"]["checkpoint"]["tree_size"], first);
    assert_eq!(body["unmapped"]["gavel"]["checkpoint"]["origin"], ORIGIN);
    w.answer(&plan, Some(204));

    // Only the round's own record since: signed, passed, and the planner is idle after it.
    let quiet = w.checkpoint();
    assert_eq!(quiet, first + 1);
    let plan = w.plan(id);
    assert!(plan.messages.is_empty(), "{:?}", checkpoints(&plan));
    assert_eq!(plan.checkpoints_to(&[]), quiet, "passed without a delivery");

    // A real event, then two checkpoints: the one covering it is offered, the next is not.
    w.event("bob");
    let covering = w.checkpoint();
    let plan = w.plan(id);
    assert_eq!(checkpoints(&plan), [covering]);
    w.answer(&plan, Some(204));
    w.checkpoint();
    assert!(w.plan(id).messages.is_empty());
    let shown = w.gavel.webhook(&w.admin, id).unwrap();
    assert_eq!(shown.deliveries.delivered, 2, "{shown:?}");
}

#[test]
fn an_unattempted_checkpoint_waits_and_a_failed_one_is_retried_with_its_id() {
    let w = World::new();
    let hook = w.gavel.create_webhook(&w.admin, "https://siem.example.com/x", vec!["*".into()]).unwrap();
    let id = hook.endpoint.id.as_str();
    w.event("ann");
    let a = w.checkpoint();
    w.event("bob");
    let b = w.checkpoint();
    let plan = w.plan(id);
    // Both checkpoints first, then the two events.
    assert_eq!(checkpoints(&plan), [a, b]);
    assert_eq!(plan.messages.len(), 4);
    // The endpoint was down at the first message: the round stops there.
    let first = &plan.messages[0];
    let sent = [Sent {
        seq: first.seq,
        tree_size: first.tree_size,
        status_code: None,
        latency_ms: 1,
        error: Some("refused".into()),
        retry_after: None,
    }];
    assert_eq!(plan.checkpoints_to(&sent), a, "b was not attempted");
    w.gavel.record_webhook_attempts(&plan, &sent, plan.messages[2].seq, &[Duration::from_secs(0)]).unwrap();
    let plan = w.plan(id);
    // The retry of a (same id), then b again as new.
    assert_eq!(checkpoints(&plan), [a, b], "{:?}", plan.messages);
    assert_eq!(plan.messages[0].attempt, 2);
    assert_eq!(plan.messages[0].webhook_id, format!("msg_{id}_checkpoint_{a}"));
    assert!(plan.messages[1].prior.is_none());
}

#[test]
fn endpoints_not_asking_for_checkpoints_pass_them_and_forged_rows_are_never_sent() {
    let w = World::new();
    let hook = w.gavel.create_webhook(&w.admin, "https://siem.example.com/x", vec!["user.*".into()]).unwrap();
    let id = hook.endpoint.id.as_str();
    let all = w.gavel.create_webhook(&w.admin, "https://siem.example.com/y", vec![]).unwrap();
    let all = all.endpoint.id.as_str();
    w.event("ann");
    let size = w.checkpoint();
    let plan = w.plan(id);
    assert!(checkpoints(&plan).is_empty());
    assert_eq!(plan.checkpoints_to(&[]), size);

    // A row the log key did not sign (someone wrote the database) is not delivered.
    w.event("bob");
    let head = w.store.head().unwrap();
    let stranger = NoteSigner::new(ORIGIN, generate_signing_key()).unwrap();
    let forged = stranger.sign(&Checkpoint {
        origin: ORIGIN.into(),
        size: head.size,
        root: head.root,
        extensions: vec![],
    });
    w.store
        .save_checkpoint(&StoredCheckpoint {
            size: head.size,
            root: head.root,
            note: forged,
            created_at: w.gavel.now(),
        })
        .unwrap();
    let plan = w.plan(all);
    assert_eq!(checkpoints(&plan), [size], "only the authentic one");
    assert_eq!(plan.checkpoints_to(&[]), plan.checkpoints_from, "the authentic one waits for its attempt");
    assert!(w.gavel.signed_checkpoint(head.size).unwrap().is_none());
}
