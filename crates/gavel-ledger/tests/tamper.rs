//! Property tests: every single-byte edit, deletion, insertion, reorder, consistent rewrite and
//! tail truncation of a log is detected by `RangeVerifier`, at the right `first_break`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

use gavel_ledger::event::{Actor, EventDraft, SealableDraft};
use gavel_ledger::hash::{leaf_hash, ZERO_HASH};
use gavel_ledger::merkle::MemoryTree;
use gavel_ledger::verify::{Anchor, RangeVerifier, StoredEntry, VerifyReport};
use proptest::prelude::*;
use serde_json::json;

const TIME: &str = "2026-11-29T00:00:00.000000Z";

fn draft(i: u64) -> SealableDraft {
    let d = EventDraft::new(
        "test.event",
        Actor::agent("a-1"),
        json!({"i": i, "note": "x".repeat((i % 7) as usize)}),
    )
    .unwrap();
    SealableDraft::new(&d).unwrap()
}

/// A valid log of `n` events, as a store would hold it.
fn build(n: u64) -> Vec<StoredEntry> {
    let mut prev = ZERO_HASH;
    (0..n)
        .map(|seq| {
            let bytes = draft(seq).seal(seq, TIME, &prev);
            prev = leaf_hash(&bytes);
            StoredEntry { seq, bytes: Some(bytes), leaf_hash: prev }
        })
        .collect()
}

/// Signed-checkpoint stand-ins: the true roots of the untampered log at the given sizes.
fn anchors(log: &[StoredEntry], sizes: &[u64]) -> Vec<Anchor> {
    let mut tree = MemoryTree::new();
    let mut out = Vec::new();
    for e in log {
        tree.push(e.leaf_hash);
        if sizes.contains(&tree.size()) {
            out.push(Anchor { size: tree.size(), root: tree.root() });
        }
    }
    out
}

/// Verifies the whole log the way the store does: the size is one past the highest seq present.
fn verify(log: &[StoredEntry], anchors: Vec<Anchor>) -> VerifyReport {
    let size = log.iter().map(|e| e.seq + 1).max().unwrap_or(0);
    let mut v = RangeVerifier::new(0, ZERO_HASH, anchors);
    for e in log {
        if !v.push(e) {
            break;
        }
    }
    v.finish(size, size)
}

#[test]
fn an_untampered_log_verifies_with_its_checkpoints() {
    let log = build(50);
    let r = verify(&log, anchors(&log, &[1, 17, 32, 50]));
    assert!(r.valid, "{r:?}");
    assert_eq!((r.verified, r.total, r.first_break, r.checkpoints_checked), (50, 50, None, 4));
}

#[test]
fn a_partial_range_verifies_from_the_previous_leaf() {
    let log = build(30);
    let mut v = RangeVerifier::new(10, log[9].leaf_hash, vec![]);
    for e in &log[10..20] {
        assert!(v.push(e));
    }
    let r = v.finish(10, 30);
    assert!(r.valid && r.verified == 10, "{r:?}");
}

/// `n` test events followed by a purge record declaring `ranges` (payloads not yet cleared).
fn build_with_purge_record(n: u64, ranges: &[(u64, u64)]) -> Vec<StoredEntry> {
    let mut log = build(n);
    let record = EventDraft::new(
        gavel_ledger::event::PURGE_RECORD_KIND,
        Actor::system("retention"),
        json!({"ranges": ranges.iter().map(|(a, b)| json!([a, b])).collect::<Vec<_>>()}),
    )
    .unwrap();
    let bytes = SealableDraft::new(&record).unwrap().seal(n, TIME, &log[n as usize - 1].leaf_hash);
    log.push(StoredEntry { seq: n, leaf_hash: leaf_hash(&bytes), bytes: Some(bytes) });
    log
}

fn clear(log: &mut [StoredEntry], seqs: impl IntoIterator<Item = u64>) {
    for seq in seqs {
        log[seq as usize].bytes = None;
    }
}

#[test]
fn a_purged_payload_declared_by_a_purge_record_still_chains() {
    let mut log = build_with_purge_record(10, &[(2, 5), (7, 8)]);
    clear(&mut log, [2, 3, 4, 7]);
    let r = verify(&log, anchors(&log, &[11]));
    assert!(r.valid, "{r:?}");
    assert_eq!(r.purged, 4);
}

#[test]
fn a_payload_deleted_without_a_purge_record_breaks_at_its_seq() {
    let mut log = build(10);
    clear(&mut log, [4]);
    let r = verify(&log, anchors(&log, &[10]));
    assert_eq!(r.first_break, Some(4), "{r:?}");
    assert!(r.reason.unwrap().contains("no retention.purged record covers it"));

    // Outside the declared ranges, too.
    let mut log = build_with_purge_record(10, &[(2, 5)]);
    clear(&mut log, [2, 3, 4, 6]);
    assert_eq!(verify(&log, vec![]).first_break, Some(6));
}

/// Appends `count` valid test events to `log`.
fn extend(log: &mut Vec<StoredEntry>, count: u64) {
    for _ in 0..count {
        let (seq, prev) = log.last().map_or((0, ZERO_HASH), |e| (e.seq + 1, e.leaf_hash));
        let bytes = draft(seq).seal(seq, TIME, &prev);
        log.push(StoredEntry { seq, leaf_hash: leaf_hash(&bytes), bytes: Some(bytes) });
    }
}

#[test]
fn a_purge_record_cannot_cover_what_comes_after_it() {
    let mut log = build_with_purge_record(5, &[(0, 100)]);
    extend(&mut log, 3);
    clear(&mut log, [1, 7]);
    let r = verify(&log, vec![]);
    assert_eq!(r.first_break, Some(7), "{r:?}");
}

#[test]
fn a_range_short_of_the_log_end_does_not_judge_purges() {
    // The record of a purge comes after what it cleared, so a prefix cannot hold it yet.
    let mut log = build_with_purge_record(10, &[(2, 3)]);
    clear(&mut log, [2]);
    let mut v = RangeVerifier::new(0, ZERO_HASH, vec![]);
    for e in &log[..5] {
        assert!(v.push(e));
    }
    assert!(v.finish(5, 11).valid);
}

#[test]
fn a_malformed_purge_record_is_a_break() {
    let log = build_with_purge_record(3, &[]);
    let mut bad = build(3);
    let record = EventDraft::new(
        gavel_ledger::event::PURGE_RECORD_KIND,
        Actor::system("retention"),
        json!({"ranges": [[5, 2]]}),
    )
    .unwrap();
    let bytes = SealableDraft::new(&record).unwrap().seal(3, TIME, &bad[2].leaf_hash);
    bad.push(StoredEntry { seq: 3, leaf_hash: leaf_hash(&bytes), bytes: Some(bytes) });
    assert!(verify(&log, vec![]).valid);
    let r = verify(&bad, vec![]);
    assert_eq!(r.first_break, Some(3), "{r:?}");
}

#[test]
fn purge_accounting_holds_in_the_parallel_batch_path() {
    let mut log = build_with_purge_record(10_000, &[(100, 9_000)]);
    clear(&mut log, 100..9_000);
    let mut v = RangeVerifier::new(0, ZERO_HASH, anchors(&log, &[10_001]));
    assert!(v.push_batch(&log));
    let r = v.finish(10_001, 10_001);
    assert!(r.valid && r.purged == 8_900, "{r:?}");

    clear(&mut log, [9_500]);
    let mut v = RangeVerifier::new(0, ZERO_HASH, vec![]);
    assert!(v.push_batch(&log));
    assert_eq!(v.finish(10_001, 10_001).first_break, Some(9_500));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn any_single_byte_edit_breaks_at_that_seq(n in 1u64..40, i in any::<prop::sample::Index>(),
                                               pos in any::<prop::sample::Index>(), x in 1u8..=255) {
        let mut log = build(n);
        let i = i.index(n as usize);
        let bytes = log[i].bytes.as_mut().unwrap();
        let pos = pos.index(bytes.len());
        bytes[pos] ^= x;
        let r = verify(&log, anchors(&build(n), &[n]));
        prop_assert!(!r.valid);
        prop_assert_eq!(r.first_break, Some(i as u64));
        prop_assert_eq!(r.verified, i as u64);
    }

    #[test]
    fn an_edited_stored_leaf_hash_breaks_at_that_seq(n in 1u64..40, i in any::<prop::sample::Index>(), bit in 0usize..256) {
        let mut log = build(n);
        let i = i.index(n as usize);
        log[i].leaf_hash[bit / 8] ^= 1 << (bit % 8);
        let r = verify(&log, vec![]);
        prop_assert_eq!(r.first_break, Some(i as u64));
    }

    #[test]
    fn a_deleted_event_breaks_at_its_seq(n in 2u64..40, i in any::<prop::sample::Index>()) {
        let mut log = build(n);
        let i = i.index(n as usize - 1); // the last one is the truncation case below
        log.remove(i);
        let r = verify(&log, vec![]);
        prop_assert!(!r.valid);
        prop_assert_eq!(r.first_break, Some(i as u64));
    }

    #[test]
    fn an_inserted_copy_breaks_at_the_insertion(n in 2u64..40, i in any::<prop::sample::Index>(), j in any::<prop::sample::Index>()) {
        // Someone inserts a copy of an existing event at position i and renumbers the rows after it.
        let mut log = build(n);
        let i = i.index(n as usize);
        let j = j.index(n as usize);
        let copy = log[j].clone();
        log.insert(i, copy);
        for (seq, e) in log.iter_mut().enumerate() {
            e.seq = seq as u64;
        }
        let r = verify(&log, vec![]);
        prop_assert!(!r.valid);
        // A copy of event i placed right before itself is indistinguishable from the original;
        // the duplicate after it is the first that does not link.
        let expected = if j == i { i + 1 } else { i };
        prop_assert_eq!(r.first_break, Some(expected as u64));
    }

    #[test]
    fn a_forged_insertion_breaks_where_the_chain_no_longer_links(n in 2u64..40, i in any::<prop::sample::Index>()) {
        // A well-formed forged event at i (right seq, right prev, right leaf hash): the chain breaks at
        // the next event, whose prev no longer matches.
        let mut log = build(n);
        let i = i.index(n as usize);
        let prev = if i == 0 { ZERO_HASH } else { log[i - 1].leaf_hash };
        let bytes = draft(999).seal(i as u64, TIME, &prev);
        log.insert(i, StoredEntry { seq: i as u64, leaf_hash: leaf_hash(&bytes), bytes: Some(bytes) });
        for (seq, e) in log.iter_mut().enumerate() {
            e.seq = seq as u64;
        }
        let r = verify(&log, vec![]);
        prop_assert_eq!(r.first_break, Some(i as u64 + 1));
    }

    #[test]
    fn a_reorder_breaks_at_the_first_moved_seq(n in 2u64..40, a in any::<prop::sample::Index>(), b in any::<prop::sample::Index>()) {
        let mut log = build(n);
        let (a, b) = (a.index(n as usize), b.index(n as usize));
        prop_assume!(a != b);
        // Rows keep their positions; their contents are swapped.
        let (ba, la) = (log[a].bytes.clone(), log[a].leaf_hash);
        log[a].bytes = log[b].bytes.clone();
        log[a].leaf_hash = log[b].leaf_hash;
        log[b].bytes = ba;
        log[b].leaf_hash = la;
        let r = verify(&log, vec![]);
        prop_assert_eq!(r.first_break, Some(a.min(b) as u64));
    }

    #[test]
    fn tail_truncation_is_caught_by_an_earlier_checkpoint(n in 2u64..40, keep in any::<prop::sample::Index>()) {
        let log = build(n);
        let keep = keep.index(n as usize); // 0..n-1 events survive
        let signed = anchors(&log, &[n]);
        let r = verify(&log[..keep], signed);
        prop_assert!(!r.valid);
        prop_assert_eq!(r.first_break, Some(keep as u64));
    }

    #[test]
    fn a_consistent_rewrite_is_caught_by_the_checkpoints(n in 4u64..40, i in any::<prop::sample::Index>(),
                                                         cut in any::<prop::sample::Index>()) {
        // Edit event i and recompute every later prev and leaf hash: the chain is internally
        // consistent, so only the signed roots can tell. The break is the last checkpoint that
        // still matched (everything before it is vouched for).
        let original = build(n);
        let i = i.index(n as usize);
        let early = cut.index(n as usize) as u64; // an earlier checkpoint, maybe before i
        let signed = anchors(&original, &[early, n]);
        let mut log = Vec::new();
        let mut prev = ZERO_HASH;
        for seq in 0..n {
            let bytes = draft(if seq == i as u64 { 1000 + seq } else { seq }).seal(seq, TIME, &prev);
            prev = leaf_hash(&bytes);
            log.push(StoredEntry { seq, bytes: Some(bytes), leaf_hash: prev });
        }
        let r = verify(&log, signed);
        prop_assert!(!r.valid);
        let expected = if early > i as u64 || early == 0 { 0 } else { early };
        prop_assert_eq!(r.first_break, Some(expected));
    }
}

/// `push_batch` (parallel above a few thousand entries) reports exactly what `push` does.
#[test]
fn batch_verification_matches_one_by_one() {
    let n = 6000u64;
    let original = build(n);
    let signed = anchors(&original, &[1000, 4000, n]);
    let one_by_one = |log: &[StoredEntry]| verify(log, signed.clone());
    let batched = |log: &[StoredEntry]| {
        let size = log.iter().map(|e| e.seq + 1).max().unwrap_or(0);
        let mut v = RangeVerifier::new(0, ZERO_HASH, signed.clone());
        for chunk in log.chunks(5000) {
            if !v.push_batch(chunk) {
                break;
            }
        }
        v.finish(size, size)
    };
    assert!(batched(&original).valid);
    assert_eq!(batched(&original), one_by_one(&original));
    // A consistent rewrite of event 2500: only the signed roots can tell, and the Merkle work of
    // the batch path runs in parallel blocks cut at the anchor sizes.
    let mut rewritten = Vec::new();
    let mut prev = ZERO_HASH;
    for seq in 0..n {
        let bytes = draft(if seq == 2500 { 99_999 } else { seq }).seal(seq, TIME, &prev);
        prev = leaf_hash(&bytes);
        rewritten.push(StoredEntry { seq, bytes: Some(bytes), leaf_hash: prev });
    }
    let r = batched(&rewritten);
    assert_eq!(r.first_break, Some(1000), "{r:?}");
    assert_eq!(r, one_by_one(&rewritten));
    for at in [0usize, 1, 2999, 3000, 3001, 4999, 5000, 5999] {
        let mut edited = original.clone();
        edited[at].bytes.as_mut().unwrap()[10] ^= 1;
        let r = batched(&edited);
        assert_eq!(r.first_break, Some(at as u64));
        assert_eq!(r, one_by_one(&edited), "edit at {at}");
        let mut removed = original.clone();
        removed.remove(at);
        assert_eq!(batched(&removed), one_by_one(&removed), "removal at {at}");
    }
    // Two edits in different pieces of a batch (the pieces are checked in any order): the earlier
    // one is reported.
    for (first, second) in [(300usize, 4000usize), (4000, 4100), (10, 4990), (255, 256), (4999, 5000)] {
        let mut edited = original.clone();
        for at in [second, first] {
            edited[at].bytes.as_mut().unwrap()[10] ^= 1;
        }
        let r = batched(&edited);
        assert_eq!(r.first_break, Some(first as u64));
        assert_eq!(r, one_by_one(&edited), "edits at {first} and {second}");
    }
}
