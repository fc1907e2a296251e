//! Verification of a stored range of the log.
//!
//! [`RangeVerifier`] consumes stored entries in seq order and reports
//! `{verified, total, valid, first_break}`. `first_break` is the first seq whose stored bytes are
//! not canonical, whose `seq` is missing or out of order, whose `prev` does not match, or whose
//! stored leaf hash does not match the recomputed one. When verification starts at seq 0 it also
//! recomputes the Merkle root at every signed checkpoint (anchor) and compares: a log rewritten
//! consistently after an edit, or truncated below a checkpoint, is caught there.
//!
//! Purged entries (payload deleted past retention, leaf hash kept) cannot have their content
//! checked, but their leaf hash still chains to the next event and still feeds the Merkle root.
//! When the range reaches the end of the log, every purged entry must also lie inside a range
//! declared by a later purge record ([`PURGE_RECORD_KIND`]): a payload deleted without one is a
//! break at its seq, so "what was deleted, and that nothing else was" is provable.
//!
//! A log rewritten consistently after an edit breaks at the first signed checkpoint that no
//! longer matches (everything before the last matching one is vouched for); a log shorter than a
//! signed checkpoint breaks at its current size. `push_batch` spreads the per-entry checks and
//! the hashing of aligned subtrees over the cores, with exactly `push`'s results (tested on
//! tampered logs).

use crate::event::{purge_record_ranges, Event, PURGE_RECORD_KIND};
use crate::hash::{leaf_hash, Hash};
use crate::merkle::{aligned_blocks, complete_root, Frontier};
use serde::Serialize;
use std::collections::VecDeque;

/// One row of the log as a store returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    pub seq: u64,
    /// The JCS bytes; `None` when the payload was purged past retention.
    pub bytes: Option<Vec<u8>>,
    pub leaf_hash: Hash,
}

/// A checkpoint the caller has already authenticated (its signature verified).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anchor {
    pub size: u64,
    pub root: Hash,
}

/// The result of verifying a range; serialized exactly as `gavel audit verify --json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub verified: u64,
    pub total: u64,
    pub valid: bool,
    pub first_break: Option<u64>,
    /// Why verification broke, in words an operator can act on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// How many signed checkpoints the recomputed Merkle roots were compared with.
    pub checkpoints_checked: u64,
    /// Entries whose payload was purged (only their leaf hash could be checked).
    pub purged: u64,
    /// What verification could not vouch for although nothing broke (e.g. events after the last
    /// signed checkpoint), in words an operator can act on.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Streaming verifier: feed entries in seq order with [`RangeVerifier::push`], then [`RangeVerifier::finish`].
#[derive(Debug)]
pub struct RangeVerifier {
    first_seq: u64,
    next_seq: u64,
    prev: Hash,
    frontier: Option<Frontier>,
    anchors: VecDeque<Anchor>,
    verified: u64,
    purged: u64,
    checkpoints_checked: u64,
    last_anchored: u64,
    broken: Option<(u64, String)>,
    /// Runs of consecutive purged seqs, `[from, to)`, in order.
    purged_runs: Vec<(u64, u64)>,
    /// Ranges declared cleared by the purge records seen.
    declared_purges: Vec<(u64, u64)>,
}

impl RangeVerifier {
    /// `prev` is the leaf hash of event `first_seq - 1` (all zeros when `first_seq` is 0).
    /// Anchors are only used when verifying from seq 0, where the whole prefix is recomputed.
    pub fn new(first_seq: u64, prev: Hash, mut anchors: Vec<Anchor>) -> Self {
        let from_start = first_seq == 0;
        anchors.sort_by_key(|a| a.size);
        anchors.retain(|a| a.size > 0);
        RangeVerifier {
            first_seq,
            next_seq: first_seq,
            prev,
            frontier: from_start.then(Frontier::new),
            anchors: if from_start { anchors.into() } else { VecDeque::new() },
            verified: 0,
            purged: 0,
            checkpoints_checked: 0,
            last_anchored: 0,
            broken: None,
            purged_runs: Vec::new(),
            declared_purges: Vec::new(),
        }
    }

    /// Checks one entry; returns false once the range is broken (further entries are ignored).
    pub fn push(&mut self, entry: &StoredEntry) -> bool {
        if self.broken.is_some() {
            return false;
        }
        match check_entry(entry, self.next_seq, &self.prev) {
            Ok(declared) => {
                self.declared_purges.extend(declared);
                self.accept(entry)
            }
            Err(reason) => {
                self.broken = Some((self.next_seq, reason));
                false
            }
        }
    }

    /// Checks a run of consecutive entries, exactly as calling [`RangeVerifier::push`] on each
    /// would, but with the per-entry work (canonical form, hashing) and the Merkle hashing
    /// spread over the CPU cores: each entry's checks depend only on itself and its predecessor's
    /// stored leaf hash, and the tree is built from aligned complete subtrees hashed in parallel.
    pub fn push_batch(&mut self, entries: &[StoredEntry]) -> bool {
        if self.broken.is_some() {
            return false;
        }
        let (failure, declared) = first_failure(entries, self.next_seq, &self.prev);
        self.declared_purges.extend(declared);
        let good = failure.as_ref().map_or(entries.len(), |(i, _)| *i);
        let intact = if self.frontier.is_some() && good >= PARALLEL_MIN {
            self.accept_run(&entries[..good])
        } else {
            entries[..good].iter().all(|e| self.accept(e))
        };
        if !intact {
            return false;
        }
        if let Some((_, reason)) = failure {
            self.broken = Some((self.next_seq, reason));
            return false;
        }
        true
    }

    /// Advances past an entry whose own checks passed: chain head, counters, Merkle root and the
    /// signed checkpoints it reaches.
    fn accept(&mut self, entry: &StoredEntry) -> bool {
        self.count(std::slice::from_ref(entry));
        if let Some(frontier) = &mut self.frontier {
            frontier.push(entry.leaf_hash);
        }
        self.check_anchors()
    }

    /// [`Self::accept`] for a run of checked entries: the run is cut at every anchor size inside
    /// it (so each signed root is compared at its exact size), each piece is split into aligned
    /// complete subtrees, their roots are hashed in parallel, and the frontier absorbs them in order.
    fn accept_run(&mut self, entries: &[StoredEntry]) -> bool {
        let start = self.next_seq;
        let end = start + entries.len() as u64;
        let mut cuts: Vec<u64> =
            self.anchors.iter().map(|a| a.size).filter(|s| *s > start && *s < end).collect();
        cuts.push(end);
        // Small enough blocks that every core gets several.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
        let max_level = (entries.len() as u64 / (threads * 4)).max(1).ilog2();
        let mut blocks = Vec::new();
        let mut from = start;
        for cut in cuts {
            blocks.extend(aligned_blocks(from, cut, max_level));
            from = cut;
        }
        let leaves: Vec<Hash> = entries.iter().map(|e| e.leaf_hash).collect();
        let roots = block_roots(&leaves, start, &blocks);
        for ((level, first), root) in blocks.into_iter().zip(roots) {
            let offset = (first - start) as usize;
            self.count(&entries[offset..offset + (1usize << level)]);
            if let Some(frontier) = &mut self.frontier {
                if frontier.push_subtree(level, root).is_err() {
                    // Unreachable: blocks come from aligned_blocks over the frontier's own size.
                    self.broken = Some((first, "internal error: misaligned Merkle block".into()));
                    return false;
                }
            }
            if !self.check_anchors() {
                return false;
            }
        }
        true
    }

    fn count(&mut self, entries: &[StoredEntry]) {
        if let Some(last) = entries.last() {
            for e in entries.iter().filter(|e| e.bytes.is_none()) {
                self.purged += 1;
                match self.purged_runs.last_mut() {
                    Some(run) if run.1 == e.seq => run.1 += 1,
                    _ => self.purged_runs.push((e.seq, e.seq + 1)),
                }
            }
            self.prev = last.leaf_hash;
            self.next_seq += entries.len() as u64;
            self.verified += entries.len() as u64;
        }
    }

    /// Compares the recomputed root with every signed checkpoint of the current size.
    fn check_anchors(&mut self) -> bool {
        let Some(frontier) = &self.frontier else { return true };
        while let Some(anchor) = self.anchors.front().copied() {
            if anchor.size != frontier.size() {
                break;
            }
            self.anchors.pop_front();
            if frontier.root() != anchor.root {
                self.broken = Some((
                    self.last_anchored,
                    format!(
                        "the Merkle root of the first {} events does not match the signed checkpoint of that size: \
                         events from seq {} on were rewritten",
                        anchor.size, self.last_anchored
                    ),
                ));
                return false;
            }
            self.checkpoints_checked += 1;
            self.last_anchored = anchor.size;
        }
        true
    }

    /// Ends verification. `total` is how many entries the range should have held; `log_size` is the
    /// current size of the whole log, used to detect truncation below a signed checkpoint.
    pub fn finish(mut self, total: u64, log_size: u64) -> VerifyReport {
        if self.broken.is_none() && self.verified < total {
            self.broken = Some((self.next_seq, format!("expected {total} events, found {}", self.verified)));
        }
        if self.broken.is_none() && self.next_seq == log_size {
            // Purge records always follow what they cleared, so a range that reaches the end of
            // the log holds the record of every purge inside it.
            if let Some(seq) = first_unaccounted(&self.purged_runs, &mut self.declared_purges) {
                self.broken = Some((
                    seq,
                    format!(
                        "seq {seq}: the payload is missing and no {PURGE_RECORD_KIND} record covers it: \
                         it was deleted outside retention"
                    ),
                ));
            }
        }
        if self.broken.is_none() {
            if let Some(anchor) = self.anchors.iter().find(|a| a.size > log_size) {
                self.broken = Some((
                    log_size,
                    format!(
                        "the log holds {log_size} events but a checkpoint was signed at size {}: the tail was truncated",
                        anchor.size
                    ),
                ));
            }
        }
        let (first_break, reason) = match self.broken {
            Some((seq, reason)) => (Some(seq), Some(reason)),
            None => (None, None),
        };
        VerifyReport {
            // Entries past an anchor break are not vouched for even though their chain links held.
            verified: first_break
                .map_or(self.verified, |b| self.verified.min(b.saturating_sub(self.first_seq))),
            total,
            valid: first_break.is_none(),
            first_break,
            reason,
            checkpoints_checked: self.checkpoints_checked,
            purged: self.purged,
            warnings: Vec::new(),
        }
    }
}

/// The first purged seq not inside any declared range (`declared` is sorted in place).
fn first_unaccounted(purged_runs: &[(u64, u64)], declared: &mut [(u64, u64)]) -> Option<u64> {
    declared.sort_unstable();
    let mut covered_to = 0u64; // everything below this is covered by the ranges passed so far
    let mut next = declared.iter().peekable();
    for &(from, to) in purged_runs {
        let mut seq = from;
        while seq < to {
            if seq < covered_to {
                seq = covered_to;
                continue;
            }
            match next.peek() {
                Some(&&(d_from, d_to)) if d_from <= seq => {
                    covered_to = covered_to.max(d_to);
                    next.next();
                }
                _ => return Some(seq),
            }
        }
    }
    None
}

/// The checks of one entry that need nothing but the entry, its expected seq and the leaf hash
/// of the entry before it. Returns the ranges the entry declares purged, if it is a purge record.
fn check_entry(entry: &StoredEntry, seq: u64, prev: &Hash) -> Result<Vec<(u64, u64)>, String> {
    if entry.seq != seq {
        return Err(format!("expected seq {seq}, found seq {}: events missing or out of order", entry.seq));
    }
    let Some(bytes) = &entry.bytes else {
        // Purged past retention: only the leaf hash is left, and it still links the chain.
        return Ok(Vec::new());
    };
    let event = Event::check_bytes(bytes).map_err(|e| format!("seq {seq}: {e}"))?;
    if event.seq != seq {
        return Err(format!("seq {seq}: the stored event says seq {}", event.seq));
    }
    if event.prev != *prev {
        return Err(format!("seq {seq}: prev does not match the leaf hash of the previous event"));
    }
    if leaf_hash(bytes) != entry.leaf_hash {
        return Err(format!("seq {seq}: stored leaf hash does not match the event bytes"));
    }
    if event.is_purge_record {
        return purge_record_ranges(bytes).map_err(|e| format!("seq {seq}: {e}"));
    }
    Ok(Vec::new())
}

/// Below this many entries a batch is checked on the calling thread.
const PARALLEL_MIN: usize = 4096;

type Failure = Option<(usize, String)>;

/// The index and reason of the first entry of `entries` that fails [`check_entry`], and the
/// purge ranges declared by the entries checked.
fn first_failure(entries: &[StoredEntry], first_seq: u64, prev: &Hash) -> (Failure, Vec<(u64, u64)>) {
    let check_run = |from: usize, to: usize| {
        let mut declared = Vec::new();
        for i in from..to {
            let prev = if i == 0 { prev } else { &entries[i - 1].leaf_hash };
            match check_entry(&entries[i], first_seq + i as u64, prev) {
                Ok(ranges) => declared.extend(ranges),
                Err(reason) => return (Some((i, reason)), declared),
            }
        }
        (None, declared)
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    if threads == 1 || entries.len() < PARALLEL_MIN {
        return check_run(0, entries.len());
    }
    // Many small pieces handed out to whichever thread is free (not one fixed share per thread):
    // on a shared machine one core is often slower, and a fixed split waits for it.
    let piece = entries.len().div_ceil(threads * 16).max(256);
    let pieces = entries.len().div_ceil(piece);
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let p = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if p >= pieces {
                            break;
                        }
                        let (from, to) = (p * piece, ((p + 1) * piece).min(entries.len()));
                        done.push(check_run(from, to));
                    }
                    done
                })
            })
            .collect();
        let mut failure: Failure = None;
        let mut declared = Vec::new();
        for worker in workers {
            // A panicked check is a failure too, never a silent pass (at the batch's start, as
            // which piece panicked is unknown).
            let runs = worker
                .join()
                .unwrap_or_else(|_| vec![(Some((0, "internal error: a check panicked".into())), vec![])]);
            for (f, d) in runs {
                declared.extend(d);
                // The earliest failing piece holds the earliest failure.
                if let Some(f) = f {
                    if failure.as_ref().is_none_or(|(i, _)| f.0 < *i) {
                        failure = Some(f);
                    }
                }
            }
        }
        (failure, declared)
    })
}

/// The roots of `blocks` (aligned complete subtrees, as `(level, first leaf)`), hashed over the
/// cores; `leaves[0]` is leaf `start`.
fn block_roots(leaves: &[Hash], start: u64, blocks: &[(u32, u64)]) -> Vec<Hash> {
    let root_of = |&(level, first): &(u32, u64)| {
        let offset = (first - start) as usize;
        complete_root(&leaves[offset..offset + (1usize << level)]).unwrap_or_default()
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    if threads == 1 || blocks.len() < 2 {
        return blocks.iter().map(root_of).collect();
    }
    // Blocks shrink geometrically, so hand them out one at a time to whichever thread is free.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut roots = vec![Hash::default(); blocks.len()];
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(block) = blocks.get(i) else { break };
                        done.push((i, root_of(block)));
                    }
                    done
                })
            })
            .collect();
        for worker in workers {
            if let Ok(done) = worker.join() {
                for (i, root) in done {
                    roots[i] = root;
                }
            }
        }
    });
    roots
}
