//! The store conformance suite: every test runs against both backends, SQLite (a temporary
//! file) and PostgreSQL (a real server started by gavel-testkit, a fresh database per test), so
//! the two implementations of [`Store`] keep one contract. Dialect differences are confined to
//! the [`Backend`] helpers that tamper with the database as an attacker with SQL access would.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use gavel_ledger::clock::{Clock, SystemClock};
use gavel_ledger::event::{Actor, Event, EventDraft};
use gavel_ledger::merkle::{self, verify_consistency, verify_inclusion, MemoryTree};
use gavel_ledger::verify::Anchor;
use gavel_store::docs::{DocKeys, DocQuery, Expect, Purge, StateOp};
use gavel_store::{Head, PgStore, SqliteStore, Store, StoreError, StoredCheckpoint};
use serde_json::json;
use std::sync::Arc;

/// One database of one backend, opened as often as a test asks (the same database each time).
trait Backend {
    fn try_open(&self, clock: Arc<dyn Clock>) -> Result<Arc<dyn Store>, StoreError>;
    fn open_with(&self, clock: Arc<dyn Clock>) -> Arc<dyn Store> {
        self.try_open(clock).unwrap()
    }
    fn open(&self) -> Arc<dyn Store> {
        self.open_with(Arc::new(SystemClock))
    }
    /// Runs SQL statements on the database behind the store's back.
    fn sql(&self, statements: &str);
    /// A 32-byte hash literal of this dialect, every byte `byte`.
    fn hash_literal(&self, byte: u8) -> String;
    /// SQL that rewrites `from` into `to` in the payload of event `seq`.
    fn edit_body(&self, seq: u64, from: &str, to: &str) -> String;
    /// Makes inserts into `events` fail (only those of `kind`, if given) and, with `meta`, also
    /// updates of `meta`; [`Backend::heal`] removes the failures.
    fn inject_failures(&self, kind: Option<&str>, meta: bool);
    fn heal(&self);
    /// Whether several processes share the database (PostgreSQL), so leases are exclusive.
    fn shared(&self) -> bool;
}

struct Sqlite {
    dir: tempfile::TempDir,
}

impl Sqlite {
    fn new() -> Self {
        Sqlite { dir: tempfile::tempdir().unwrap() }
    }
    fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("gavel.db")
    }
}

impl Backend for Sqlite {
    fn try_open(&self, clock: Arc<dyn Clock>) -> Result<Arc<dyn Store>, StoreError> {
        Ok(Arc::new(SqliteStore::open(&self.path(), clock)?))
    }
    fn sql(&self, statements: &str) {
        rusqlite::Connection::open(self.path()).unwrap().execute_batch(statements).unwrap();
    }
    fn hash_literal(&self, byte: u8) -> String {
        format!("X'{}'", format!("{byte:02x}").repeat(32))
    }
    fn edit_body(&self, seq: u64, from: &str, to: &str) -> String {
        format!("UPDATE events SET body = CAST(replace(CAST(body AS TEXT), '{from}', '{to}') AS BLOB) WHERE seq = {seq}")
    }
    fn inject_failures(&self, kind: Option<&str>, meta: bool) {
        let when = kind.map(|k| format!("WHEN NEW.kind = '{k}'")).unwrap_or_default();
        self.sql(&format!(
            "CREATE TRIGGER fail_events BEFORE INSERT ON events {when} BEGIN SELECT RAISE(ABORT, 'injected failure'); END;"
        ));
        if meta {
            self.sql("CREATE TRIGGER fail_meta BEFORE UPDATE ON meta BEGIN SELECT RAISE(ABORT, 'injected failure'); END;");
        }
    }
    fn heal(&self) {
        self.sql("DROP TRIGGER IF EXISTS fail_events; DROP TRIGGER IF EXISTS fail_meta;");
    }
    fn shared(&self) -> bool {
        false
    }
}

struct Postgres {
    url: String,
}

impl Postgres {
    fn new() -> Self {
        Postgres { url: gavel_testkit::Postgres::shared().create_database() }
    }
}

impl Backend for Postgres {
    fn try_open(&self, clock: Arc<dyn Clock>) -> Result<Arc<dyn Store>, StoreError> {
        Ok(Arc::new(PgStore::open(&self.url, clock)?))
    }
    fn sql(&self, statements: &str) {
        gavel_testkit::Postgres::shared().psql(&self.url, statements);
    }
    fn hash_literal(&self, byte: u8) -> String {
        format!("'\\x{}'::bytea", format!("{byte:02x}").repeat(32))
    }
    fn edit_body(&self, seq: u64, from: &str, to: &str) -> String {
        format!(
            "UPDATE events SET body = convert_to(replace(convert_from(body, 'UTF8'), '{from}', '{to}'), 'UTF8') WHERE seq = {seq}"
        )
    }
    fn inject_failures(&self, kind: Option<&str>, meta: bool) {
        let when = kind.map(|k| format!("WHEN (NEW.kind = '{k}')")).unwrap_or_default();
        self.sql(&format!(
            "CREATE FUNCTION fail() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$;
             CREATE TRIGGER fail_events BEFORE INSERT ON events FOR EACH ROW {when} EXECUTE FUNCTION fail();"
        ));
        if meta {
            self.sql("CREATE TRIGGER fail_meta BEFORE UPDATE ON meta FOR EACH ROW EXECUTE FUNCTION fail();");
        }
    }
    fn heal(&self) {
        self.sql("DROP TRIGGER IF EXISTS fail_events ON events; DROP TRIGGER IF EXISTS fail_meta ON meta; DROP FUNCTION IF EXISTS fail();");
    }
    fn shared(&self) -> bool {
        true
    }
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(&super::Sqlite::new()) } )*
        }
        mod postgres {
            $( #[test] fn $name() { super::$name(&super::Postgres::new()) } )*
        }
    };
}

conformance!(
    a_lease_is_held_by_one_holder_until_it_expires,
    migrations_run_once_and_a_newer_schema_is_refused,
    appends_are_contiguous_chained_and_survive_reopen,
    proofs_from_stored_nodes_match_an_in_memory_tree,
    scan_kinds_yields_only_the_kinds_asked_for_in_the_range,
    concurrent_appends_are_group_committed_and_all_acknowledged,
    a_failed_commit_acknowledges_nothing_and_keeps_the_head,
    commit_health_follows_the_last_commit_and_probes_append_nothing,
    two_writers_on_one_database_extend_one_chain,
    tampering_through_sql_is_located,
    edited_columns_are_located,
    a_corrupted_stored_merkle_node_is_located,
    documents_change_with_their_event_and_carry_its_seq,
    several_documents_are_read_at_once_in_order,
    a_failed_precondition_writes_neither_event_nor_state,
    concurrent_compare_and_set_has_exactly_one_winner,
    first_seqs_by_k2_gives_each_k2_its_smallest_seq_under_the_filter,
    queries_filter_page_and_count,
    checkpoints_are_stored_once_per_size,
    a_purge_clears_payloads_and_docs_with_its_record_and_the_log_still_verifies,
    a_purge_with_a_wrong_count_or_range_writes_nothing,
    first_seq_at_splits_the_log_by_time,
);

fn draft(i: u64) -> EventDraft {
    EventDraft::new("test.event", Actor::system("test"), json!({ "i": i })).unwrap()
}

fn appends_are_contiguous_chained_and_survive_reopen(backend: &dyn Backend) {
    let mut tree = MemoryTree::new();
    {
        let store = backend.open();
        for i in 0..100 {
            let a = store.append(draft(i)).unwrap();
            assert_eq!(a.seq, i);
            tree.push(a.leaf_hash);
        }
        assert_eq!(store.head().unwrap(), Head { size: 100, root: tree.root() });
    }
    let store = backend.open();
    assert_eq!(store.head().unwrap(), Head { size: 100, root: tree.root() });
    let next = store.append(draft(100)).unwrap();
    assert_eq!(next.seq, 100);
    let e = Event::from_bytes(&store.entry(100).unwrap().unwrap().bytes.unwrap()).unwrap();
    assert_eq!(e.prev_hash().unwrap(), store.entry(99).unwrap().unwrap().leaf_hash);
    let r = store.verify(0, None, vec![]).unwrap();
    assert!(r.valid && r.verified == 101, "{r:?}");
}

fn proofs_from_stored_nodes_match_an_in_memory_tree(backend: &dyn Backend) {
    let store = backend.open();
    let mut tree = MemoryTree::new();
    for i in 0..300 {
        tree.push(store.append(draft(i)).unwrap().leaf_hash);
    }
    for size in [1u64, 2, 15, 16, 17, 255, 256, 257, 300] {
        let root = store.root_at(size).unwrap();
        assert_eq!(root, merkle::root(&tree, size).unwrap());
        for seq in [0, size / 2, size - 1] {
            let proof = store.inclusion_proof(seq, size).unwrap();
            let leaf = store.entry(seq).unwrap().unwrap().leaf_hash;
            verify_inclusion(&leaf, seq, size, &proof, &root).unwrap();
        }
        let proof = store.consistency_proof(size / 3, size).unwrap();
        verify_consistency(size / 3, size, &store.root_at(size / 3).unwrap(), &root, &proof).unwrap();
    }
    assert!(store.inclusion_proof(300, 300).is_err());
    assert!(store.inclusion_proof(0, 301).is_err());
    assert!(store.consistency_proof(10, 5).is_err());
    assert!(store.root_at(301).is_err());
}

fn scan_kinds_yields_only_the_kinds_asked_for_in_the_range(backend: &dyn Backend) {
    let store = backend.open();
    for (i, kind) in
        ["user.created", "decision", "agent.registered", "user.x", "users.other", "agent.suspended"]
            .into_iter()
            .enumerate()
    {
        store.append(EventDraft::new(kind, Actor::system("test"), json!({ "i": i })).unwrap()).unwrap();
    }
    let seqs = |from, to, prefixes: &[&str]| {
        let mut got = Vec::new();
        store
            .scan_kinds(from, to, prefixes, &mut |e| {
                got.push(e.seq);
                true
            })
            .unwrap();
        got
    };
    assert_eq!(seqs(0, u64::MAX, &["user.", "agent."]), vec![0, 2, 3, 5]);
    assert_eq!(seqs(1, 5, &["user.", "agent."]), vec![2, 3], "half-open range");
    assert_eq!(seqs(0, u64::MAX, &["decision"]), vec![1]);
    assert!(seqs(0, u64::MAX, &[]).is_empty(), "no prefix, no event");
    // The entries are the stored ones, bytes and leaf hash alike.
    store
        .scan_kinds(0, 1, &["user."], &mut |e| {
            assert_eq!(Some(e.clone()), store.entry(0).unwrap());
            true
        })
        .unwrap();
}

fn concurrent_appends_are_group_committed_and_all_acknowledged(backend: &dyn Backend) {
    let store = backend.open();
    let handles: Vec<_> = (0..16)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                (0..50).map(|i| store.append(draft(t * 1000 + i)).unwrap().seq).collect::<Vec<_>>()
            })
        })
        .collect();
    let mut seqs: Vec<u64> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (0..800).collect::<Vec<_>>());
    assert!(store.verify(0, None, vec![]).unwrap().valid);
}

fn a_failed_commit_acknowledges_nothing_and_keeps_the_head(backend: &dyn Backend) {
    let store = backend.open();
    store.append(draft(0)).unwrap();
    let head = store.head().unwrap();
    // Inject a commit failure for one kind of event, through a second connection.
    backend.inject_failures(Some("test.fail"), false);
    let bad = EventDraft::new("test.fail", Actor::system("test"), json!({})).unwrap();
    let err = store.append(bad).unwrap_err();
    assert!(err.to_string().contains("injected failure"), "{err}");
    assert_eq!(store.head().unwrap(), head);
    assert_eq!(store.append(draft(1)).unwrap().seq, 1);
    assert!(store.verify(0, None, vec![]).unwrap().valid);
}

fn commit_health_follows_the_last_commit_and_probes_append_nothing(backend: &dyn Backend) {
    let store = backend.open();
    let fresh = store.commit_health();
    assert!(fresh.writer_running && fresh.last_ok.is_none() && fresh.failing.is_none(), "{fresh:?}");
    store.append(draft(0)).unwrap();
    let head = store.head().unwrap();
    store.probe_commit().unwrap();
    assert_eq!(store.head().unwrap(), head, "a probe appends no event");
    assert!(store.commit_health().failing.is_none());
    // Every write fails, the probe's included.
    backend.inject_failures(None, true);
    assert!(store.append(draft(1)).is_err());
    let failing = store.commit_health();
    assert!(failing.failing.as_deref().is_some_and(|e| e.contains("injected failure")), "{failing:?}");
    assert!(failing.last_failed > failing.last_ok, "{failing:?}");
    assert!(store.probe_commit().is_err());
    assert!(store.commit_health().failing.is_some());
    backend.heal();
    store.probe_commit().unwrap();
    let healed = store.commit_health();
    assert!(healed.failing.is_none() && healed.last_ok > healed.last_failed, "{healed:?}");
    assert_eq!(store.head().unwrap(), head);
    assert!(store.verify(0, None, vec![]).unwrap().valid);
}

fn two_writers_on_one_database_extend_one_chain(backend: &dyn Backend) {
    // A CLI command appending beside a running server: each writer reloads the head it missed.
    let a = backend.open();
    let b = backend.open();
    for i in 0..20 {
        let w = if i % 3 == 0 { &a } else { &b };
        assert_eq!(w.append(draft(i)).unwrap().seq, i);
    }
    let r = a.verify(0, None, vec![]).unwrap();
    assert!(r.valid && r.total == 20, "{r:?}");
}

fn tampering_through_sql_is_located(backend: &dyn Backend) {
    let store = backend.open();
    for i in 0..20 {
        store.append(draft(i)).unwrap();
    }
    backend.sql(&backend.edit_body(7, "\"i\":7", "\"i\":8"));
    let r = store.verify(0, None, vec![]).unwrap();
    assert_eq!((r.valid, r.first_break, r.verified), (false, Some(7), 7));
    // A range that ends before the edit still verifies.
    assert!(store.verify(0, Some(7), vec![]).unwrap().valid);
    backend.sql("DELETE FROM events WHERE seq = 3");
    assert_eq!(store.verify(0, None, vec![]).unwrap().first_break, Some(3));
    assert!(store.verify(30, None, vec![]).is_err());
}

fn edited_columns_are_located(backend: &dyn Backend) {
    let store = backend.open();
    for i in 0..20 {
        store.append(draft(i)).unwrap();
    }
    for (column, value, seq) in [
        ("kind", "test.hidden", 4u64),
        ("actor_id", "someone-else", 9),
        ("actor_type", "user", 11),
        ("time", "2020-01-01T00:00:00.000000Z", 13),
    ] {
        backend.sql(&format!(
            "CREATE TABLE saved AS SELECT * FROM events WHERE seq = {seq};
             UPDATE events SET {column} = '{value}' WHERE seq = {seq};"
        ));
        let r = store.verify(0, None, vec![]).unwrap();
        assert_eq!((r.valid, r.first_break), (false, Some(seq)), "{column}: {r:?}");
        assert!(r.reason.as_deref().unwrap().contains("columns"), "{r:?}");
        backend.sql(&format!(
            "UPDATE events SET {column} = (SELECT {column} FROM saved) WHERE seq = {seq}; DROP TABLE saved;"
        ));
    }
    assert!(store.verify(0, None, vec![]).unwrap().valid);
}

fn a_corrupted_stored_merkle_node_is_located(backend: &dyn Backend) {
    let store = backend.open();
    for i in 0..300 {
        store.append(draft(i)).unwrap();
    }
    assert!(store.verify(0, None, vec![]).unwrap().valid);
    // Level 4 index 5 covers events 80..96; level 8 index 0 covers 0..256.
    for (level, idx, first) in [(4u32, 5u64, 80u64), (8, 0, 0)] {
        backend.sql(&format!(
            "CREATE TABLE saved AS SELECT * FROM merkle_nodes WHERE level = {level} AND idx = {idx};
             UPDATE merkle_nodes SET hash = {} WHERE level = {level} AND idx = {idx};",
            backend.hash_literal(7)
        ));
        let r = store.verify(0, None, vec![]).unwrap();
        assert_eq!((r.valid, r.first_break), (false, Some(first)), "{r:?}");
        assert!(r.reason.as_deref().unwrap().contains(&format!("level {level} index {idx}")), "{r:?}");
        backend.sql(&format!(
            "UPDATE merkle_nodes SET hash = (SELECT hash FROM saved) WHERE level = {level} AND idx = {idx};
             DROP TABLE saved;"
        ));
    }
    assert!(store.verify(0, None, vec![]).unwrap().valid);
    backend.sql("DELETE FROM merkle_nodes WHERE level = 4 AND idx = 17");
    let r = store.verify(0, None, vec![]).unwrap();
    assert_eq!((r.valid, r.first_break), (false, Some(272)), "{r:?}");
    let one = backend.hash_literal(1);
    backend
        .sql(&format!("INSERT INTO merkle_nodes (level, idx, hash) VALUES (4, 17, {one}), (4, 40, {one})"));
    assert!(!store.verify(0, None, vec![]).unwrap().valid);
    // A range that ends before the stored node verifies.
    assert!(store.verify(0, Some(272), vec![]).unwrap().valid);
}

fn op(id: &str, n: u64, expect: Expect) -> StateOp {
    let keys = DocKeys { k1: Some(format!("agent-{}", n % 2)), k2: None, k3: Some("allow".into()) };
    StateOp::put("things", id, json!({ "n": n }), keys, expect)
}

fn documents_change_with_their_event_and_carry_its_seq(backend: &dyn Backend) {
    let store = backend.open();
    let a = store.append_with(draft(0), vec![op("x", 0, Expect::Absent)]).unwrap();
    let doc = store.get_doc("things", "x").unwrap().unwrap();
    assert_eq!((doc.version, doc.seq, doc.body.clone()), (1, a.seq, json!({"n": 0})));
    let b = store.append_with(draft(1), vec![op("x", 1, Expect::Version(1))]).unwrap();
    let doc = store.get_doc("things", "x").unwrap().unwrap();
    assert_eq!((doc.version, doc.seq, doc.time), (2, b.seq, b.time));
    assert!(store.get_doc("things", "y").unwrap().is_none());
    assert!(store.get_doc("other", "x").unwrap().is_none());
}

fn several_documents_are_read_at_once_in_order(backend: &dyn Backend) {
    let store = backend.open();
    store.append_with(draft(0), vec![op("a", 1, Expect::Absent), op("b", 2, Expect::Absent)]).unwrap();
    let got = store.get_docs(&[("things", "b"), ("things", "missing"), ("things", "a")]).unwrap();
    let bodies: Vec<_> = got.iter().map(|d| d.as_ref().map(|d| d.body.clone())).collect();
    assert_eq!(bodies, [Some(json!({"n": 2})), None, Some(json!({"n": 1}))]);
    assert!(store.get_docs(&[]).unwrap().is_empty());
}

fn a_failed_precondition_writes_neither_event_nor_state(backend: &dyn Backend) {
    let store = backend.open();
    store.append_with(draft(0), vec![op("x", 0, Expect::Absent)]).unwrap();
    let head = store.head().unwrap();
    for (ops, needle) in [
        (vec![op("x", 9, Expect::Absent)], "already exists"),
        (vec![op("x", 9, Expect::Version(5))], "expected version 5"),
        (vec![op("z", 9, Expect::Version(1))], "does not exist"),
        // All ops of a request apply or none: the first op is not written either.
        (vec![op("w", 9, Expect::Absent), op("x", 9, Expect::Absent)], "already exists"),
        // A later op on the same document is checked against the version the earlier one writes.
        (vec![op("v", 9, Expect::Absent), op("v", 9, Expect::Absent)], "already exists"),
    ] {
        let err = store.append_with(draft(1), ops).unwrap_err();
        assert!(matches!(&err, StoreError::Conflict(m) if m.contains(needle)), "{err}");
    }
    assert_eq!(store.head().unwrap(), head);
    assert!(store.get_doc("things", "w").unwrap().is_none());
    assert!(store.get_doc("things", "v").unwrap().is_none());
    assert_eq!(store.get_doc("things", "x").unwrap().unwrap().body, json!({"n": 0}));
    assert!(store.verify(0, None, vec![]).unwrap().valid);

    // Two changes of one document in one request: versions 1 then 2.
    let ops = vec![op("u", 1, Expect::Absent), op("u", 2, Expect::Version(1))];
    store.append_with(draft(2), ops).unwrap();
    let u = store.get_doc("things", "u").unwrap().unwrap();
    assert_eq!((u.version, u.body.clone()), (2, json!({"n": 2})));
}

fn concurrent_compare_and_set_has_exactly_one_winner(backend: &dyn Backend) {
    let store = backend.open();
    store.append_with(draft(0), vec![op("x", 0, Expect::Absent)]).unwrap();
    let receivers: Vec<_> =
        (0..20).map(|i| store.submit_with(draft(i), vec![op("x", i, Expect::Version(1))]).unwrap()).collect();
    let results: Vec<_> = receivers.into_iter().map(|r| r.blocking_recv().unwrap()).collect();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(results.iter().filter(|r| r.is_err()).all(|r| matches!(r, Err(StoreError::Conflict(_)))));
    assert_eq!(store.head().unwrap().size, 2);
    assert!(store.verify(0, None, vec![]).unwrap().valid);
}

fn first_seqs_by_k2_gives_each_k2_its_smallest_seq_under_the_filter(backend: &dyn Backend) {
    let store = backend.open();
    // (k1, k2): agent-0 calls a, b, a, c; agent-1 calls a; one document without a k2.
    let calls = [("agent-0", Some("a")), ("agent-1", Some("a")), ("agent-0", Some("b")), ("agent-0", None)];
    let calls = calls.iter().chain([("agent-0", Some("a")), ("agent-0", Some("c"))].iter());
    let mut seqs = Vec::new();
    for (i, (k1, k2)) in calls.enumerate() {
        let keys = DocKeys { k1: Some(k1.to_string()), k2: k2.map(str::to_string), k3: None };
        let put = StateOp::put("calls", &format!("c{i}"), json!({}), keys, Expect::Absent);
        seqs.push(store.append_with(draft(i as u64), vec![put]).unwrap().seq);
    }
    let mut q = DocQuery::new("calls", 1);
    q.k1 = Some("agent-0".into());
    let mut firsts = store.first_seqs_by_k2(&q).unwrap();
    firsts.sort();
    assert_eq!(firsts, [("a".to_string(), seqs[0]), ("b".to_string(), seqs[2]), ("c".to_string(), seqs[5])]);
    q.max_seq = Some(seqs[4]);
    let mut firsts = store.first_seqs_by_k2(&q).unwrap();
    firsts.sort();
    assert_eq!(firsts, [("a".to_string(), seqs[0]), ("b".to_string(), seqs[2])]);
    q.k1 = Some("agent-2".into());
    assert!(store.first_seqs_by_k2(&q).unwrap().is_empty());
}

fn queries_filter_page_and_count(backend: &dyn Backend) {
    let store = backend.open();
    for i in 0..10 {
        store.append_with(draft(i), vec![op(&format!("d{i}"), i, Expect::Absent)]).unwrap();
    }
    let mut q = DocQuery::new("things", 3);
    q.k1 = Some("agent-1".into());
    let page1 = store.query_docs(&q).unwrap();
    let ids: Vec<_> = page1.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["d9", "d7", "d5"]);
    q.before_seq = Some(page1[2].seq);
    let ids: Vec<_> = store.query_docs(&q).unwrap().into_iter().map(|d| d.id).collect();
    assert_eq!(ids, ["d3", "d1"]);
    assert_eq!(store.count_docs(&q).unwrap(), 5);
    let mut oldest = q.clone();
    oldest.ascending = true;
    oldest.before_seq = None;
    let ids: Vec<_> = store.query_docs(&oldest).unwrap().into_iter().map(|d| d.id).collect();
    assert_eq!(ids, ["d1", "d3", "d5"]);
    assert_eq!(store.sum_docs(&q, "n").unwrap(), 1.0 + 3.0 + 5.0 + 7.0 + 9.0);
    assert!(store.sum_docs(&q, "n; DROP").is_err());
    assert_eq!(store.sum_docs(&q, "missing").unwrap(), 0.0);
    // An inclusive seq bound applies to pages, counts and sums alike.
    let mut upto = DocQuery::new("things", 100);
    upto.k1 = Some("agent-1".into());
    upto.max_seq = Some(page1[1].seq); // d7
    let ids: Vec<_> = store.query_docs(&upto).unwrap().into_iter().map(|d| d.id).collect();
    assert_eq!(ids, ["d7", "d5", "d3", "d1"]);
    assert_eq!(store.count_docs(&upto).unwrap(), 4);
    assert_eq!(store.sum_docs(&upto, "n").unwrap(), 1.0 + 3.0 + 5.0 + 7.0);
    q.k3 = Some("deny".into());
    assert_eq!(store.count_docs(&q).unwrap(), 0);
    let mut q = DocQuery::new("things", 100);
    q.since = Some("2000-01-01T00:00:00.000000Z".into());
    q.until = Some("2000-01-02T00:00:00.000000Z".into());
    assert!(store.query_docs(&q).unwrap().is_empty());
}

fn checkpoints_are_stored_once_per_size(backend: &dyn Backend) {
    let store = backend.open();
    let c = StoredCheckpoint { size: 0, root: [1; 32], note: "n".into(), created_at: "t".into() };
    store.save_checkpoint(&c).unwrap();
    store.save_checkpoint(&c).unwrap();
    let other = StoredCheckpoint { root: [2; 32], ..c.clone() };
    assert!(store.save_checkpoint(&other).is_err());
    assert_eq!(store.checkpoints().unwrap(), vec![c]);
}

fn purge(ranges: Vec<(u64, u64)>, expected: u64) -> Purge {
    Purge {
        ranges,
        keep_kind_prefixes: vec!["keep.".into()],
        collections: vec!["decisions".into()],
        expected_payloads: expected,
    }
}

fn record(ranges: &[(u64, u64)]) -> EventDraft {
    let ranges: Vec<_> = ranges.iter().map(|(a, b)| json!([a, b])).collect();
    EventDraft::new("retention.purged", Actor::system("test"), json!({ "ranges": ranges })).unwrap()
}

fn a_purge_clears_payloads_and_docs_with_its_record_and_the_log_still_verifies(backend: &dyn Backend) {
    let store = backend.open();
    for i in 0..10 {
        let d = if i == 3 {
            EventDraft::new("keep.me", Actor::system("t"), json!({})).unwrap()
        } else {
            draft(i)
        };
        let doc =
            StateOp::put("decisions", &format!("d{i}"), json!({"i": i}), DocKeys::default(), Expect::Any);
        store.append_with(d, vec![doc]).unwrap();
    }
    let keep = vec!["keep.".to_string()];
    assert_eq!(store.count_payloads(0, 6, &keep).unwrap(), 5);
    let head = store.head().unwrap();
    let rec = store
        .submit_purge(record(&[(0, 6)]), vec![], purge(vec![(0, 6)], 5))
        .unwrap()
        .blocking_recv()
        .unwrap();
    assert_eq!(rec.unwrap().seq, 10);
    for seq in 0..10 {
        let entry = store.entry(seq).unwrap().unwrap();
        assert_eq!(entry.bytes.is_none(), seq < 6 && seq != 3, "seq {seq}");
        let doc = store.get_doc("decisions", &format!("d{seq}")).unwrap();
        assert_eq!(doc.is_none(), seq < 6, "doc of seq {seq}");
    }
    assert_eq!(store.root_at(10).unwrap(), head.root, "leaf hashes and nodes are untouched");
    let r = store.verify(0, None, vec![Anchor { size: head.size, root: head.root }]).unwrap();
    assert!(r.valid && r.purged == 5 && r.checkpoints_checked == 1, "{r:?}");
    assert_eq!(store.count_payloads(0, 6, &keep).unwrap(), 0);

    // A payload cleared behind the log's back is not covered by any purge record.
    backend.sql("UPDATE events SET body = NULL WHERE seq = 8");
    let r = store.verify(0, None, vec![]).unwrap();
    assert_eq!(r.first_break, Some(8), "{r:?}");
}

fn a_purge_with_a_wrong_count_or_range_writes_nothing(backend: &dyn Backend) {
    let store = backend.open();
    for i in 0..5 {
        store.append(draft(i)).unwrap();
    }
    let send = |p: Purge| store.submit_purge(record(&p.ranges), vec![], p).unwrap().blocking_recv().unwrap();
    assert!(matches!(send(purge(vec![(0, 3)], 2)), Err(StoreError::Conflict(_))));
    assert!(matches!(send(purge(vec![(0, 6)], 6)), Err(StoreError::Invalid(_))), "reaches its own record");
    assert!(matches!(send(purge(vec![(3, 3)], 0)), Err(StoreError::Invalid(_))), "empty range");
    assert_eq!(store.head().unwrap().size, 5);
    assert_eq!(store.count_payloads(0, 5, &[]).unwrap(), 5);
}

fn first_seq_at_splits_the_log_by_time(backend: &dyn Backend) {
    let clock = Arc::new(gavel_ledger::clock::ManualClock::new(time::macros::datetime!(2026-01-01 0:00 UTC)));
    let store = backend.open_with(clock.clone());
    assert_eq!(store.first_seq_at("2026-01-01T00:00:00.000000Z").unwrap(), 0);
    for i in 0..6 {
        store.append(draft(i)).unwrap();
        if i % 2 == 1 {
            clock.advance(time::Duration::days(1));
        }
    }
    assert_eq!(store.first_seq_at("2025-12-31T00:00:00.000000Z").unwrap(), 0);
    assert_eq!(store.first_seq_at("2026-01-01T00:00:00.000000Z").unwrap(), 0);
    assert_eq!(store.first_seq_at("2026-01-01T00:00:00.000001Z").unwrap(), 2);
    assert_eq!(store.first_seq_at("2026-01-02T00:00:00.000000Z").unwrap(), 2);
    assert_eq!(store.first_seq_at("2026-01-03T12:00:00.000000Z").unwrap(), 6);
}

fn migrations_run_once_and_a_newer_schema_is_refused(backend: &dyn Backend) {
    let store = backend.open();
    store.append(draft(0)).unwrap();
    assert_eq!(store.meta("schema_version").unwrap().as_deref(), Some("1"));
    drop(store);
    // Opening again migrates nothing and keeps the log.
    let store = backend.open();
    assert_eq!(store.head().unwrap().size, 1);
    drop(store);
    backend.sql("UPDATE meta SET value = '99' WHERE key = 'schema_version'");
    let err = backend.try_open(Arc::new(SystemClock)).err().expect("a newer schema is refused");
    assert!(err.to_string().contains("version 99, newer than this gavel knows (1)"), "{err}");
}

fn a_lease_is_held_by_one_holder_until_it_expires(backend: &dyn Backend) {
    use std::time::Duration;
    let (a, b) = (backend.open(), backend.open());
    let long = Duration::from_secs(60);
    assert!(a.acquire_lease("detectors", "replica-a", long).unwrap());
    assert!(a.acquire_lease("detectors", "replica-a", long).unwrap(), "the holder renews it");
    // Another holder gets it only where the database is shared (a single-process store grants all).
    assert_eq!(b.acquire_lease("detectors", "replica-b", long).unwrap(), !backend.shared());
    assert!(b.acquire_lease("webhooks", "replica-b", long).unwrap(), "leases are independent");
    if backend.shared() {
        // Expired (the holder stopped renewing): the next one takes it over, and then holds it.
        assert!(a.acquire_lease("short", "replica-a", Duration::from_millis(200)).unwrap());
        assert!(!b.acquire_lease("short", "replica-b", long).unwrap());
        std::thread::sleep(Duration::from_millis(400));
        assert!(b.acquire_lease("short", "replica-b", long).unwrap());
        assert!(!a.acquire_lease("short", "replica-a", long).unwrap());
    }
}

/// The documented Unix-socket form of a database URL (docs/replicas.md) reaches the server.
#[test]
fn postgres_over_a_unix_socket() {
    let pg = gavel_testkit::Postgres::shared();
    let url = pg.create_database();
    let name = url.rsplit('/').next().unwrap();
    let store = PgStore::open(&pg.socket_url(name), Arc::new(SystemClock)).unwrap();
    assert_eq!(store.append(draft(0)).unwrap().seq, 0);
}

/// TLS to the database: with `sslmode=verify-full` and the server's CA in `sslrootcert` the store
/// connects over TLS; a server certificate it cannot verify, a missing CA file, or `require`
/// against a server without TLS are refused with a clear error, never a plain connection.
#[test]
fn postgres_over_tls_verifies_the_server_certificate() {
    let pg = gavel_testkit::Postgres::start_tls();
    let url = pg.create_database();
    let ca = pg.ca_certificate().unwrap().display().to_string();
    let clock = || -> Arc<dyn Clock> { Arc::new(SystemClock) };
    let store = PgStore::open(&format!("{url}?sslmode=verify-full&sslrootcert={ca}"), clock()).unwrap();
    assert_eq!(store.append(draft(0)).unwrap().seq, 0);
    let over_tls = pg.psql(
        &url,
        "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'gavel' AND s.ssl",
    );
    assert!(over_tls.trim().parse::<u32>().unwrap() >= 1, "gavel's connections are not TLS: {over_tls}");
    drop(store);

    let untrusted = PgStore::open(&format!("{url}?sslmode=require"), clock())
        .err()
        .expect("an untrusted server is refused");
    assert!(untrusted.to_string().contains("certificate"), "{untrusted}");
    let missing = PgStore::open(&format!("{url}?sslmode=require&sslrootcert=/nonexistent/ca.pem"), clock())
        .err()
        .expect("a missing CA file is refused");
    assert!(missing.to_string().contains("sslrootcert /nonexistent/ca.pem"), "{missing}");

    let plain = gavel_testkit::Postgres::shared().create_database();
    let refused = PgStore::open(&format!("{plain}?sslmode=require"), clock()).err().expect("no TLS, refused");
    assert!(
        refused.to_string().to_lowercase().contains("tls") || refused.to_string().contains("SSL"),
        "{refused}"
    );
}
