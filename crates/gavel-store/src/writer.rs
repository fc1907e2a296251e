//! What both stores' log writers share: the request a caller queues (canonicalized on the
//! caller's thread), the writer's jobs, group-commit gathering and the commit-health tracker.
//!
//! Invariants: a [`Request`] holds everything the writer needs without the chain head, and only
//! text a database column can hold (no NUL: PostgreSQL's `text` refuses it, and one bad request
//! must never fail the batch it shares with others); a batch is at most [`MAX_BATCH`] requests.

use crate::docs::{DocKeys, Expect, Purge, StateOp};
use crate::{Appended, CommitHealth, Head, StoreError};
use gavel_ledger::event::{EventDraft, SealableDraft};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Most events one transaction carries; bounds commit latency under a flood.
pub(crate) const MAX_BATCH: usize = 4096;

/// Longest a batch waits for more concurrent writers (well under one fsync).
pub(crate) const GATHER: Duration = Duration::from_micros(100);

/// One append as the writer sees it. Everything that can be done without the chain head — the
/// event's canonical bytes, the documents' JSON text — is done on the caller's thread before the
/// request is queued, and the caller's JSON values are dropped there too: the single writer is
/// the serial part of every commit, so it only splices, checks versions and writes.
pub(crate) struct Request {
    pub(crate) kind: String,
    pub(crate) actor_type: &'static str,
    pub(crate) actor_id: String,
    pub(crate) sealable: SealableDraft,
    pub(crate) ops: Vec<PreparedOp>,
    pub(crate) purge: Option<Purge>,
    pub(crate) reply: tokio::sync::oneshot::Sender<Result<Appended, StoreError>>,
}

/// What the writer thread is asked to do. Appends travel unboxed (boxing would cost an
/// allocation per decision); probes are rare, so the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Job {
    Append(Request),
    /// Commit a transaction that writes only `meta` (see [`Store::probe_commit`]).
    Probe(mpsc::Sender<Result<(), StoreError>>),
}

/// The outcomes of the writer's commits, shared with readers of [`Store::commit_health`].
/// Times are nanoseconds since `epoch` plus one (0: never), stored by the writer thread only and
/// strictly increasing, so "the failure is newer than the last success" is a comparison.
pub(crate) struct CommitTracker {
    epoch: Instant,
    last_ok: AtomicU64,
    last_failed: AtomicU64,
    /// Written only when a commit fails (never on the hot path).
    last_error: Mutex<String>,
    /// The WAL file's size after the writer's last commit.
    pub(crate) wal_bytes: AtomicU64,
}

impl CommitTracker {
    pub(crate) fn new() -> Self {
        CommitTracker {
            epoch: Instant::now(),
            last_ok: AtomicU64::new(0),
            last_failed: AtomicU64::new(0),
            last_error: Mutex::new(String::new()),
            wal_bytes: AtomicU64::new(0),
        }
    }

    /// A tick later than every tick handed out before (the writer is the only caller).
    fn tick(&self) -> u64 {
        let now = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX - 1) + 1;
        let last = self.last_ok.load(Ordering::Relaxed).max(self.last_failed.load(Ordering::Relaxed));
        now.max(last + 1)
    }

    pub(crate) fn succeeded(&self) {
        self.last_ok.store(self.tick(), Ordering::Release);
    }

    pub(crate) fn failed(&self, error: &StoreError) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = error.to_string();
        self.last_failed.store(self.tick(), Ordering::Release);
    }

    fn at(&self, tick: u64) -> Option<Instant> {
        (tick > 0).then(|| self.epoch + Duration::from_nanos(tick - 1))
    }

    pub(crate) fn health(&self, writer_running: bool) -> CommitHealth {
        let ok = self.last_ok.load(Ordering::Acquire);
        let failed = self.last_failed.load(Ordering::Acquire);
        let error = (failed > ok).then(|| self.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone());
        CommitHealth {
            writer_running,
            last_ok: self.at(ok),
            last_failed: self.at(failed),
            failing: error,
            wal_bytes: self.wal_bytes.load(Ordering::Relaxed),
        }
    }
}

/// A [`StateOp`] with its body already serialized.
pub(crate) struct PreparedOp {
    pub(crate) collection: String,
    pub(crate) id: String,
    pub(crate) body: String,
    pub(crate) keys: DocKeys,
    pub(crate) expect: Expect,
}

impl Request {
    pub(crate) fn new(
        draft: EventDraft,
        ops: Vec<StateOp>,
        purge: Option<Purge>,
        reply: tokio::sync::oneshot::Sender<Result<Appended, StoreError>>,
    ) -> Result<Self, StoreError> {
        let sealable = SealableDraft::new(&draft)?;
        storable_text("event kind", &draft.kind)?;
        storable_text("actor id", &draft.actor.id)?;
        for op in &ops {
            storable_text("document collection", &op.collection)?;
            storable_text("document id", &op.id)?;
            for key in [&op.keys.k1, &op.keys.k2, &op.keys.k3].into_iter().flatten() {
                storable_text("document key", key)?;
            }
        }
        let ops = ops
            .into_iter()
            .map(|op| {
                let body = serde_json::to_string(&op.body).map_err(|e| StoreError::Invalid(e.to_string()))?;
                Ok(PreparedOp {
                    collection: op.collection,
                    id: op.id,
                    body,
                    keys: op.keys,
                    expect: op.expect,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Request {
            kind: draft.kind,
            actor_type: draft.actor.kind.as_str(),
            actor_id: draft.actor.id,
            sealable,
            ops,
            purge,
            reply,
        })
    }
}

/// Collects a batch: everything already queued, and — when the previous batch showed concurrent
/// writers — up to [`GATHER`] more waiting for as many requests as that batch had. Every commit
/// costs an fsync, and writers resubmit right after their acknowledgement, so a short wait turns
/// many small commits into one full one; a lone writer never waits. A probe ends the batch and
/// is run right after it.
pub(crate) fn gather(
    receiver: &mpsc::Receiver<Job>,
    first: Request,
    last_batch: usize,
) -> (Vec<Request>, Option<mpsc::Sender<Result<(), StoreError>>>) {
    let mut batch = vec![first];
    let deadline = Instant::now() + GATHER;
    while batch.len() < MAX_BATCH {
        let job = match receiver.try_recv() {
            Ok(job) => job,
            Err(mpsc::TryRecvError::Disconnected) => break,
            Err(mpsc::TryRecvError::Empty) => {
                let now = Instant::now();
                if last_batch <= 1 || batch.len() >= last_batch || now >= deadline {
                    break;
                }
                match receiver.recv_timeout(deadline - now) {
                    Ok(job) => job,
                    Err(_) => break,
                }
            }
        };
        match job {
            Job::Append(req) => batch.push(req),
            Job::Probe(reply) => return (batch, Some(reply)),
        }
    }
    (batch, None)
}

pub(crate) type BatchItem = (String, &'static str, String, SealableDraft, Vec<PreparedOp>, Option<Purge>);

/// Refuses text a database column cannot hold (a NUL character), before the request is queued.
fn storable_text(what: &str, value: &str) -> Result<(), StoreError> {
    if value.contains('\0') {
        return Err(StoreError::Invalid(format!("{what} {value:?} contains a NUL character")));
    }
    Ok(())
}

/// A caller waiting for its append.
pub(crate) type Reply = tokio::sync::oneshot::Sender<Result<Appended, StoreError>>;

/// Splits a batch into its callers' replies and what the writer writes, in the same order.
pub(crate) fn split_batch(batch: Vec<Request>) -> (Vec<Reply>, Vec<BatchItem>) {
    batch
        .into_iter()
        .map(|r| (r.reply, (r.kind, r.actor_type, r.actor_id, r.sealable, r.ops, r.purge)))
        .unzip()
}

/// Answers the callers of one batch once its transaction is over. Committed: `head_slot` becomes
/// `committed_head`, the commit counts as a success, and each caller gets its own result (a
/// conflict fails only its request). Failed: nothing is acknowledged, every caller gets the
/// error. Returns whether the batch committed.
pub(crate) fn answer_batch(
    commits: &CommitTracker,
    head_slot: &RwLock<Head>,
    committed_head: Head,
    replies: Vec<Reply>,
    written: Result<Vec<Result<Appended, StoreError>>, StoreError>,
) -> bool {
    match written {
        Ok(results) => {
            *head_slot.write().unwrap_or_else(|p| p.into_inner()) = committed_head;
            commits.succeeded();
            for (reply, result) in replies.into_iter().zip(results) {
                let _ = reply.send(result);
            }
            true
        }
        Err(e) => {
            tracing::error!(error = %e, "log commit failed; batch not acknowledged");
            commits.failed(&e);
            for reply in replies {
                let _ = reply.send(Err(StoreError::Database(format!("commit failed: {e}"))));
            }
            false
        }
    }
}
