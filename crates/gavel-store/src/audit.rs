//! The checks full verification runs on what a store keeps beside the events' signed bytes, for
//! every backend: the stored Merkle nodes (proofs and the writer's root after a restart are built
//! from them, so an edited node would be signed into the next checkpoint) and the indexed columns
//! (time, kind, actor: what queries and evidence filter on, so an edited column would hide or
//! misfile an event).
//!
//! Invariants: memory stays constant whatever the log's size (nodes are read in ordered chunks);
//! the first fault found is reported with the first seq it affects.

use crate::{Store, StoreError};
use gavel_ledger::hash::{Hash, ZERO_HASH};
use gavel_ledger::merkle;
use gavel_ledger::verify::{Anchor, RangeVerifier, VerifyReport};

/// How a backend reads its stored tree in index order.
pub(crate) trait StoredTree {
    /// Up to `limit` `(index, hash)` pairs of `level` with `from <= index < end`, by index. Level 0
    /// is the events' leaf hashes (index = seq); the others are the stored Merkle levels.
    fn level_rows(
        &self,
        level: u32,
        from: u64,
        end: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Hash)>, StoreError>;

    /// Up to `limit` events' stored columns with `from <= seq < end`, by seq.
    fn event_columns(&self, from: u64, end: u64, limit: usize) -> Result<Vec<EventColumns>, StoreError>;
}

/// Full verification of `from..to` (clamped to `size`, the log's size as the database holds it,
/// so rows removed behind the server's back are seen): the events' chain, canonical bytes and
/// leaf hashes against `anchors` (read through `store`), then `audit(end, whole)`, the backend's
/// run of [`audit_stored`] over what it keeps beside them.
pub(crate) fn verify_range(
    store: &dyn Store,
    size: u64,
    from: u64,
    to: Option<u64>,
    anchors: Vec<Anchor>,
    audit: impl FnOnce(u64, bool) -> Result<Option<(u64, String)>, StoreError>,
) -> Result<VerifyReport, StoreError> {
    let end = to.map_or(size, |t| t.min(size));
    if from > size {
        return Err(StoreError::Invalid(format!(
            "seq {from} is beyond the end of the log, which holds {size} event(s) (seqs 0..{size})"
        )));
    }
    if from > end {
        return Err(StoreError::Invalid(format!("range {from}..{end} is reversed")));
    }
    let prev = match from.checked_sub(1) {
        None => ZERO_HASH,
        Some(before) => match store.entry(before)? {
            Some(e) => e.leaf_hash,
            None => return Err(StoreError::Invalid(format!("seq {before} (before the range) is missing"))),
        },
    };
    let mut verifier = RangeVerifier::new(from, prev, anchors);
    crate::scan_verified(store, from, end, &mut verifier, &mut |_| {})?;
    let mut report = verifier.finish(end - from, size);
    if let Some((first_seq, why)) = audit(end, end == size)? {
        report.valid = false;
        report.verified = report.verified.min(first_seq.saturating_sub(from));
        report.first_break = Some(report.first_break.map_or(first_seq, |b| b.min(first_seq)));
        report.reason = Some(match report.reason {
            Some(r) => format!("{r}; {why}"),
            None => why,
        });
    }
    Ok(report)
}

/// The stored Merkle nodes over the first `end` leaves (proofs and the writer's root after a
/// restart are built from them: a node that disagrees with the events would be signed into the
/// next checkpoint), then the indexed columns of `from..end` (what queries and evidence filter
/// on: a column that disagrees with the signed bytes would hide or misfile an event).
pub(crate) fn audit_stored(
    tree: &dyn StoredTree,
    from: u64,
    end: u64,
    whole: bool,
) -> Result<Option<(u64, String)>, StoreError> {
    if let Some(fault) = audit_stored_nodes(tree, end, whole)? {
        return Ok(Some(fault));
    }
    let mut at = from;
    while at < end {
        let rows = tree.event_columns(at, end, CHUNK)?;
        let Some(last) = rows.last().map(|c| c.seq) else { break };
        for columns in &rows {
            if let Some(why) = column_fault(columns)? {
                return Ok(Some((columns.seq, why)));
            }
        }
        at = last + 1;
    }
    Ok(None)
}

/// How many rows one read of a level takes.
const CHUNK: usize = 8192;

/// Reads one level in index order, a chunk at a time.
struct Cursor<'a> {
    tree: &'a dyn StoredTree,
    level: u32,
    next_from: u64,
    end: u64,
    buffered: std::vec::IntoIter<(u64, Hash)>,
    exhausted: bool,
}

impl<'a> Cursor<'a> {
    fn new(tree: &'a dyn StoredTree, level: u32, end: u64) -> Self {
        Cursor { tree, level, next_from: 0, end, buffered: Vec::new().into_iter(), exhausted: false }
    }

    fn next(&mut self) -> Result<Option<(u64, Hash)>, StoreError> {
        if let Some(row) = self.buffered.next() {
            return Ok(Some(row));
        }
        if self.exhausted {
            return Ok(None);
        }
        let rows = self.tree.level_rows(self.level, self.next_from, self.end, CHUNK)?;
        self.exhausted = rows.len() < CHUNK;
        if let Some(&(last, _)) = rows.last() {
            self.next_from = last + 1;
        }
        self.buffered = rows.into_iter();
        Ok(self.buffered.next())
    }
}

/// Recomputes every stored Merkle node over the first `size` leaves from the level below it (the
/// leaves, or the stored level `STORED_LEVEL_STRIDE` lower, already checked) and compares, one
/// level at a time with two ordered cursors. `whole`: `size` is the whole log, so no stored node
/// may lie beyond it. Returns the first seq the first bad node covers and why, or `None` when
/// every stored node matches.
fn audit_stored_nodes(
    tree: &dyn StoredTree,
    size: u64,
    whole: bool,
) -> Result<Option<(u64, String)>, StoreError> {
    let stride = merkle::STORED_LEVEL_STRIDE;
    let fan = 1usize << stride;
    let mut level = stride;
    while level < u64::BITS {
        let complete = size >> level;
        let mut stored = Cursor::new(tree, level, u64::MAX);
        let mut children = Cursor::new(tree, level - stride, complete << stride);
        let mut block = Vec::with_capacity(fan);
        for idx in 0..complete {
            let first_seq = idx << level;
            block.clear();
            while block.len() < fan {
                // Children are numbered like the nodes they feed: a gap is missing data.
                let child = (idx << stride) + block.len() as u64;
                match children.next()? {
                    Some((i, hash)) if i == child => block.push(hash),
                    _ => {
                        let below = child << (level - stride);
                        let what = if level == stride {
                            "event".to_string()
                        } else {
                            format!("level {} node", level - stride)
                        };
                        return Ok(Some((
                            below,
                            format!("{what} {child} is missing from the stored Merkle data"),
                        )));
                    }
                }
            }
            let expected = merkle::complete_root(&block)
                .ok_or_else(|| StoreError::Invalid("internal error: block is not a power of two".into()))?;
            match stored.next()? {
                Some((i, hash)) if i == idx && hash == expected => {}
                Some((i, _)) if i == idx => {
                    return Ok(Some((
                        first_seq,
                        format!(
                            "stored Merkle node level {level} index {idx} (events {first_seq}..{}) does not match \
                             the events it covers: the stored tree was edited",
                            first_seq + (1u64 << level)
                        ),
                    )))
                }
                _ => {
                    return Ok(Some((first_seq, format!("stored Merkle node level {level} index {idx} is missing"))))
                }
            }
        }
        if whole {
            if let Some(&(idx, _)) = tree.level_rows(level, complete, u64::MAX, 1)?.first() {
                return Ok(Some((
                    size,
                    format!(
                        "stored Merkle node level {level} index {idx} lies beyond the {size} events verified"
                    ),
                )));
            }
        }
        if complete == 0 {
            break;
        }
        level += stride;
    }
    Ok(None)
}

/// An event's stored columns as a backend reads them.
pub(crate) struct EventColumns {
    pub seq: u64,
    pub time: String,
    pub kind: String,
    pub actor_type: String,
    pub actor_id: String,
    /// The canonical bytes; `None` once purged (nothing left to compare).
    pub body: Option<Vec<u8>>,
}

/// Checks that an event's indexed columns say what its canonical bytes say: the bytes open with
/// `{"actor":<the actor's JCS>,"data":` and end with
/// `,"kind":"<kind>","prev":"<64 hex>","seq":<seq>,"time":"<time>"}` (the canonical member order;
/// the bytes themselves were verified by the first pass). Returns why they disagree, if they do.
fn column_fault(e: &EventColumns) -> Result<Option<String>, StoreError> {
    let Some(body) = &e.body else { return Ok(None) };
    let actor = gavel_ledger::jcs::to_vec(&serde_json::json!({"id": e.actor_id, "type": e.actor_type}))?;
    let mut head = b"{\"actor\":".to_vec();
    head.extend_from_slice(&actor);
    head.extend_from_slice(b",\"data\":");
    let tail = format!("\",\"seq\":{},\"time\":{}}}", e.seq, serde_json::Value::String(e.time.clone()));
    let kind_part = format!(",\"kind\":{},\"prev\":\"", serde_json::Value::String(e.kind.clone()));
    let kind_ok = body.len() >= tail.len() + 64 + kind_part.len() + head.len()
        && body.ends_with(tail.as_bytes())
        && body[..body.len() - tail.len() - 64].ends_with(kind_part.as_bytes());
    if body.starts_with(&head) && kind_ok {
        return Ok(None);
    }
    Ok(Some(format!(
        "seq {}: the stored columns (time {}, kind {}, actor {}:{}) disagree with the event's signed bytes: \
         the columns were edited",
        e.seq, e.time, e.kind, e.actor_type, e.actor_id
    )))
}
