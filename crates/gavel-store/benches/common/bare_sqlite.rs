//! The storage ceiling both benchmarks compare against (the foundation issue's baseline): a bare
//! SQLite loop inserting rows of `row_size` bytes into a table shaped like the log, 1,000 rows per
//! transaction, with the log's WAL + `synchronous=FULL`. Shared by `benches/log.rs` and
//! `crates/gavel-server/benches/decide.rs` (both include it by path; it lives in a subfolder so Cargo does not take it for a bench of its own) so both use one baseline.

use rusqlite::params;
use std::time::{Duration, Instant};

/// Rows per second sustained for `run_for`.
pub fn rows_per_sec(row_size: usize, run_for: Duration) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let conn = rusqlite::Connection::open(dir.path().join("bare.db")).expect("open");
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
         CREATE TABLE t (seq INTEGER PRIMARY KEY, time TEXT, kind TEXT, actor_type TEXT, actor_id TEXT,
                         leaf_hash BLOB, body BLOB);",
    )
    .expect("schema");
    let body = vec![b'x'; row_size];
    let start = Instant::now();
    let mut seq = 0u64;
    while start.elapsed() < run_for {
        let tx = conn.unchecked_transaction().expect("tx");
        {
            let mut stmt =
                tx.prepare_cached("INSERT INTO t VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)").expect("stmt");
            for _ in 0..1000 {
                stmt.execute(params![
                    seq,
                    "2026-11-29T00:00:00.000000Z",
                    "decision",
                    "agent",
                    "agent-7f3a9c",
                    &[7u8; 32][..],
                    &body
                ])
                .expect("insert");
                seq += 1;
            }
        }
        tx.commit().expect("commit");
    }
    seq as f64 / start.elapsed().as_secs_f64()
}
