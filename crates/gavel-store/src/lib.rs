//! gavel-store: persistence for gavel behind one trait, [`Store`].
//!
//! The SQLite implementation ([`sqlite::SqliteStore`]) is the embedded default; the PostgreSQL
//! one ([`postgres::PgStore`]) lets several replicas share one log. Both pass the same
//! conformance tests (`tests/conformance.rs`).
//!
//! Invariants every implementation keeps:
//! * appends are acknowledged only after the transaction holding them has committed durably;
//! * seqs are contiguous from 0 and each event's `prev` is the leaf hash of the one before;
//! * complete Merkle subtrees at the stored levels are persisted with the leaves that complete
//!   them, so proofs never rehash the log;
//! * a failed commit acknowledges nothing and leaves the in-memory chain head as it was.

mod audit;
pub mod copy;
pub mod docs;
pub mod layout;
pub mod log;
pub mod postgres;
pub mod sqlite;
mod tree;
mod writer;

use docs::{Doc, DocQuery, Purge, StateOp};
use gavel_ledger::event::EventDraft;
use gavel_ledger::verify::{StoredEntry, VerifyReport};
use gavel_ledger::{Hash, LedgerError};
use serde::Serialize;

pub use log::{Log, Opened};

/// Feeds the entries `from..to` of `store` to `verifier` in batches (so it can spread the
/// per-entry work over the cores), handing each entry to `each` first; stops reading at the first
/// break. The one read-and-verify loop of full verification and of checkpoint signing.
pub(crate) fn scan_verified(
    store: &dyn Store,
    from: u64,
    to: u64,
    verifier: &mut gavel_ledger::verify::RangeVerifier,
    each: &mut dyn FnMut(&StoredEntry),
) -> Result<(), StoreError> {
    const BATCH: usize = 16_384;
    let mut batch = Vec::with_capacity(BATCH);
    let mut intact = true;
    store.scan(from, to, &mut |entry| {
        each(&entry);
        batch.push(entry);
        if batch.len() == BATCH {
            intact = verifier.push_batch(&batch);
            batch.clear();
        }
        intact
    })?;
    if intact {
        verifier.push_batch(&batch);
    }
    Ok(())
}
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("database: {0}")]
    Database(String),
    #[error("the log writer has stopped")]
    WriterGone,
    #[error("not found: {0}")]
    NotFound(String),
    /// A compare-and-set precondition failed: someone else changed the state first.
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The stored log fails verification: an edit outside gavel, or corruption. Never the
    /// caller's fault (a 500, not a 400).
    #[error("log integrity fault: {0}")]
    Integrity(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}

/// What the caller gets back once its event is durably committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Appended {
    pub seq: u64,
    pub time: String,
    #[serde(with = "hex_hash")]
    pub leaf_hash: Hash,
}

/// The committed head of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Head {
    pub size: u64,
    #[serde(with = "hex_hash")]
    pub root: Hash,
}

/// How the log writer's commits have gone: what readiness checks read (`/readyz`).
#[derive(Debug, Clone, Default)]
pub struct CommitHealth {
    /// The writer thread is alive (it stops only at shutdown, or if it panicked).
    pub writer_running: bool,
    /// When a commit (a batch of appends or a [`Store::probe_commit`]) last succeeded.
    pub last_ok: Option<std::time::Instant>,
    /// When a commit last failed.
    pub last_failed: Option<std::time::Instant>,
    /// The error of the last commit, if it failed: set until the next commit succeeds.
    pub failing: Option<String>,
    /// The size of the write-ahead log file after the last commit, in bytes (0 for a store without
    /// one, or before the first commit).
    pub wal_bytes: u64,
}

/// A signed checkpoint as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredCheckpoint {
    pub size: u64,
    #[serde(with = "hex_hash")]
    pub root: Hash,
    pub note: String,
    pub created_at: String,
}

/// A pending append: resolves once the event is committed (or the commit failed).
pub type AppendReceiver = tokio::sync::oneshot::Receiver<Result<Appended, StoreError>>;

/// The storage contract. Implementations are shared between threads.
pub trait Store: Send + Sync {
    /// Queues an event for the log writer, which batches concurrent appends into one transaction.
    /// The receiver resolves only after that transaction committed.
    fn submit(&self, draft: EventDraft) -> Result<AppendReceiver, StoreError> {
        self.submit_with(draft, Vec::new())
    }

    /// Like [`Store::submit`], and applies `ops` to the domain state in the same transaction.
    /// If a precondition of `ops` fails, the receiver gets [`StoreError::Conflict`] and neither the
    /// event nor any op is written.
    fn submit_with(&self, draft: EventDraft, ops: Vec<StateOp>) -> Result<AppendReceiver, StoreError>;

    /// Like [`Store::submit_with`], and clears the payloads `purge` names in the same transaction.
    /// Fails with [`StoreError::Invalid`] if a range reaches the recording event, and with
    /// [`StoreError::Conflict`] if the number of payloads cleared differs from the expected one.
    fn submit_purge(
        &self,
        draft: EventDraft,
        ops: Vec<StateOp>,
        purge: Purge,
    ) -> Result<AppendReceiver, StoreError>;

    /// How many payloads in `[from, to)` are still present, not counting kinds starting with one
    /// of `keep_kind_prefixes` (what a [`Purge`] of that range would clear).
    fn count_payloads(&self, from: u64, to: u64, keep_kind_prefixes: &[String]) -> Result<u64, StoreError>;

    /// The first seq whose event time is at or after `time` (log time form), or the log size if
    /// none is. Event times never decrease along the log, so this splits it by time.
    fn first_seq_at(&self, time: &str) -> Result<u64, StoreError>;

    /// Appends and waits for the commit (for synchronous callers; never call from an async task).
    fn append(&self, draft: EventDraft) -> Result<Appended, StoreError> {
        self.submit(draft)?.blocking_recv().map_err(|_| StoreError::WriterGone)?
    }

    /// Appends with state changes and waits for the commit (synchronous callers only).
    fn append_with(&self, draft: EventDraft, ops: Vec<StateOp>) -> Result<Appended, StoreError> {
        self.submit_with(draft, ops)?.blocking_recv().map_err(|_| StoreError::WriterGone)?
    }

    /// The outcome of the writer's commits so far (cheap: a few atomic loads).
    fn commit_health(&self) -> CommitHealth;

    /// Commits a write transaction through the log writer that appends nothing to the log (it
    /// rewrites one metadata row), and waits for it: can anything commit right now? Its outcome
    /// counts in [`Store::commit_health`] like a batch's. Synchronous callers only.
    fn probe_commit(&self) -> Result<(), StoreError>;

    /// One document, if it exists.
    fn get_doc(&self, collection: &str, id: &str) -> Result<Option<Doc>, StoreError>;

    /// Several documents read in one read transaction (one consistent snapshot, one round of
    /// connection setup), in the order asked.
    fn get_docs(&self, keys: &[(&str, &str)]) -> Result<Vec<Option<Doc>>, StoreError>;

    /// Documents matching `query`, newest first.
    fn query_docs(&self, query: &DocQuery) -> Result<Vec<Doc>, StoreError>;

    /// How many documents match `query` (its paging fields are ignored).
    fn count_docs(&self, query: &DocQuery) -> Result<u64, StoreError>;

    /// For the documents matching `query` (its paging fields are ignored), the smallest seq of
    /// each distinct `k2` (documents without a `k2` are left out), in no particular order. One
    /// pass over the matching documents, e.g. "the first call of each tool by this agent".
    fn first_seqs_by_k2(&self, query: &DocQuery) -> Result<Vec<(String, u64)>, StoreError>;

    /// The sum of the top-level numeric field `field` over the documents matching `query`
    /// (missing or non-numeric values count as 0).
    fn sum_docs(&self, query: &DocQuery, field: &str) -> Result<f64, StoreError>;

    /// The committed head.
    fn head(&self) -> Result<Head, StoreError>;

    /// Calls `f` with entries `from..to` (exclusive) in seq order until it returns false.
    fn scan(&self, from: u64, to: u64, f: &mut dyn FnMut(StoredEntry) -> bool) -> Result<(), StoreError>;

    /// Like [`Store::scan`], over only the events whose kind starts with one of `kind_prefixes`
    /// (filtered in the database, without reading the others' payloads into the caller): e.g.
    /// the identity events before an evidence period. No prefix, no event.
    fn scan_kinds(
        &self,
        from: u64,
        to: u64,
        kind_prefixes: &[&str],
        f: &mut dyn FnMut(StoredEntry) -> bool,
    ) -> Result<(), StoreError>;

    /// One entry, if present.
    fn entry(&self, seq: u64) -> Result<Option<StoredEntry>, StoreError>;

    /// Merkle root of the first `size` events.
    fn root_at(&self, size: u64) -> Result<Hash, StoreError>;

    /// The Merkle frontier of the first `size` leaves, from the stored nodes (O(log n) reads).
    fn frontier_at(&self, size: u64) -> Result<gavel_ledger::merkle::Frontier, StoreError>;

    /// RFC 9162 inclusion proof of leaf `seq` in the tree of `size` leaves.
    fn inclusion_proof(&self, seq: u64, size: u64) -> Result<Vec<Hash>, StoreError>;

    /// RFC 9162 consistency proof between tree sizes.
    fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<Vec<Hash>, StoreError>;

    /// Stores a signed checkpoint (idempotent for the same size and note).
    fn save_checkpoint(&self, checkpoint: &StoredCheckpoint) -> Result<(), StoreError>;

    /// A value of the store's metadata (e.g. the log origin), if set.
    fn meta(&self, key: &str) -> Result<Option<String>, StoreError>;

    /// Sets a metadata value once; returns the value in force (the first one ever set).
    fn init_meta(&self, key: &str, value: &str) -> Result<String, StoreError>;

    /// All stored checkpoints, by size.
    fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, StoreError>;

    /// The stored checkpoints of size greater than `after`, by size, at most `limit` of them (the
    /// outbox webhooks deliver `checkpoint.signed` from; signatures are not checked here).
    fn checkpoints_after(&self, after: u64, limit: usize) -> Result<Vec<StoredCheckpoint>, StoreError>;

    /// Takes or renews the lease `name` for `holder` for `ttl`; true while `holder` holds it.
    /// Background work that must run once across replicas runs only while its lease is held; a
    /// lease is taken over only after it expired (its holder died or stopped renewing). A store
    /// that one process holds alone (SQLite) grants every lease.
    fn acquire_lease(&self, name: &str, holder: &str, ttl: std::time::Duration) -> Result<bool, StoreError> {
        let _ = (name, holder, ttl);
        Ok(true)
    }

    /// Verifies `from..to` (exclusive; clamped to the log) against the chain and, from seq 0,
    /// against the given authenticated checkpoint anchors.
    fn verify(
        &self,
        from: u64,
        to: Option<u64>,
        anchors: Vec<gavel_ledger::verify::Anchor>,
    ) -> Result<VerifyReport, StoreError>;
}

pub(crate) mod hex_hash {
    use gavel_ledger::Hash;
    use serde::Serializer;

    pub fn serialize<S: Serializer>(h: &Hash, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(h))
    }
}
