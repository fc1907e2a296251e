//! Domain state as versioned JSON documents, changed only together with the log event that
//! records the change.
//!
//! A [`StateOp`] travels with an append: the writer applies it inside the same transaction as the
//! event, so the state and the log never disagree. Each document carries a version that increases
//! by one per change and the seq and time of the event that last changed it, and up to three
//! indexed keys (`k1..k3`, per collection). `expect` gives compare-and-set: the writer checks every
//! expectation of a request (counting its earlier ops on the same document) before writing any,
//! so a change based on a stale read fails with [`StoreError::Conflict`] and appends nothing,
//! with nothing to undo, while the rest of the batch commits (only a [`Purge`], whose count is
//! known after clearing, uses a savepoint). That is how "decided at most once" and the
//! two-person rules stay true under concurrency and across replicas: the check is in the
//! database, not in one process's memory.
//!
//! Why documents: projections rebuilt in memory by replaying the log are slow to start on a long
//! log and wrong with several replicas; one generic shape (rather than a table per domain) keeps
//! a PostgreSQL store to one table and one set of queries.

use crate::StoreError;
use serde::Serialize;
use serde_json::Value;

/// What a document must look like for a change to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Apply whatever is there.
    Any,
    /// The document must not exist yet.
    Absent,
    /// The document must exist at exactly this version.
    Version(u64),
}

/// Up to three indexed attributes of a document (e.g. agent, tool, outcome of a decision).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DocKeys {
    pub k1: Option<String>,
    pub k2: Option<String>,
    pub k3: Option<String>,
}

/// A change to one document, applied atomically with its event.
#[derive(Debug, Clone, PartialEq)]
pub struct StateOp {
    pub collection: String,
    pub id: String,
    pub body: Value,
    pub keys: DocKeys,
    pub expect: Expect,
}

impl StateOp {
    pub fn put(collection: &str, id: &str, body: Value, keys: DocKeys, expect: Expect) -> Self {
        StateOp { collection: collection.into(), id: id.into(), body, keys, expect }
    }
}

/// Clears event payloads past retention, applied in the same transaction as the event that
/// records it (so a purge and its record are never apart). Leaf hashes, Merkle nodes and
/// checkpoints are never touched: the chain and every proof keep verifying.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Purge {
    /// Half-open seq ranges `[from, to)` whose payloads are cleared; all below the recording event.
    pub ranges: Vec<(u64, u64)>,
    /// Payloads of events whose kind starts with one of these prefixes are kept (e.g. `retention.`:
    /// the purge records themselves are the proof of what was deleted).
    pub keep_kind_prefixes: Vec<String>,
    /// Documents of these collections last changed by an event inside the ranges are deleted too
    /// (per-call records that repeat the payload, like decisions).
    pub collections: Vec<String>,
    /// How many payloads the caller computed it will clear; any other count fails the request
    /// with [`StoreError::Conflict`], so the record states exactly what was cleared.
    pub expected_payloads: u64,
}

/// A stored document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Doc {
    pub collection: String,
    pub id: String,
    pub version: u64,
    /// The seq of the log event that last changed this document.
    pub seq: u64,
    /// The time of that event.
    pub time: String,
    pub keys: DocKeys,
    pub body: Value,
}

/// A query over one collection, newest first (or oldest first), paged by seq.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocQuery {
    pub collection: String,
    pub k1: Option<String>,
    pub k2: Option<String>,
    pub k3: Option<String>,
    /// Only documents last changed at or after this time (log time form).
    pub since: Option<String>,
    /// Only documents last changed before this time.
    pub until: Option<String>,
    /// Paging cursor: only documents whose seq is below this (above it when `ascending`).
    pub before_seq: Option<u64>,
    /// Only documents last changed at or before this seq (applies to counts and sums too).
    pub max_seq: Option<u64>,
    /// Oldest first instead of newest first.
    pub ascending: bool,
    pub limit: u32,
}

impl DocQuery {
    pub fn new(collection: &str, limit: u32) -> Self {
        DocQuery { collection: collection.into(), limit, ..Default::default() }
    }
}

/// The error of a change whose expectation `expect` met version `found`.
pub(crate) fn conflict_of(collection: &str, id: &str, expect: Expect, found: Option<u64>) -> StoreError {
    let what = match (expect, found) {
        (Expect::Absent, Some(v)) => format!("already exists (version {v})"),
        (Expect::Version(want), Some(v)) => {
            format!("changed concurrently (expected version {want}, found {v})")
        }
        (Expect::Version(want), None) => format!("does not exist (expected version {want})"),
        _ => "conflict".to_string(),
    };
    StoreError::Conflict(format!("{collection} {id:?} {what}"))
}
