//! Copies a log from an SQLite file into an empty PostgreSQL database (`gavel migrate`): every
//! event byte for byte with its leaf hash, the stored Merkle nodes, the signed checkpoints, the
//! documents and the metadata (origin, log key).
//!
//! Invariants: the source is read while no other process holds it (the SQLite store's lock), so
//! it cannot change underneath; the target must hold no log, and the copy is one PostgreSQL
//! transaction under the append lock, so a failed copy leaves the target empty and no replica
//! appends in between; the result names the Merkle root of both sides at the copied size, which
//! must be equal (the caller then verifies the copy like any log).

use crate::postgres::{to_i64, Conn, APPEND_LOCK};
use crate::{PgStore, Store, StoreError};
use gavel_ledger::clock::Clock;
use gavel_ledger::hash::Hash;
use gavel_ledger::merkle;
use rusqlite::Connection;
use std::path::Path;
use std::sync::Arc;
use tokio_postgres::types::ToSql;

/// Rows written to PostgreSQL per statement.
const BATCH: usize = 5_000;

/// The columns of a batch of rows, one vector per column, as `UNNEST` takes them.
type NodeCols = (Vec<i32>, Vec<i64>, Vec<Vec<u8>>);
type CheckpointCols = (Vec<i64>, Vec<Vec<u8>>, Vec<String>, Vec<String>);
type Keys = (Vec<Option<String>>, Vec<Option<String>>, Vec<Option<String>>);
type DocCols = (Vec<String>, Vec<String>, Vec<i64>, Vec<i64>, Vec<String>, Keys, Vec<String>);
type EventCols =
    (Vec<i64>, Vec<String>, Vec<String>, Vec<String>, Vec<String>, Vec<Vec<u8>>, Vec<Option<Vec<u8>>>);

/// What a copy moved, and the Merkle roots that show the target holds the same log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Copied {
    pub events: u64,
    pub merkle_nodes: u64,
    pub checkpoints: u64,
    pub documents: u64,
    #[serde(with = "crate::hex_hash")]
    pub source_root: Hash,
    #[serde(with = "crate::hex_hash")]
    pub target_root: Hash,
}

/// Copies the log of the SQLite database at `sqlite` into the empty PostgreSQL database `url`
/// (migrating its schema first). Reports progress as events copied so far.
pub fn sqlite_to_postgres(
    sqlite: &Path,
    url: &str,
    clock: Arc<dyn Clock>,
    progress: &mut dyn FnMut(u64),
) -> Result<Copied, StoreError> {
    if !sqlite.is_file() {
        return Err(StoreError::NotFound(format!("no SQLite database at {}", sqlite.display())));
    }
    let source = crate::sqlite::open_connection(sqlite, true)?;
    let size: u64 = source.query_row("SELECT COALESCE(MAX(seq) + 1, 0) FROM events", [], |r| r.get(0))?;
    let source_root = merkle::root(&crate::sqlite::ConnNodes(&source), size)?;
    let target = PgStore::open(url, clock)?;
    let mut copied = target.with_conn(|conn| {
        conn.batch("BEGIN")?;
        let result = copy_all(&source, conn, progress);
        match result {
            Ok(copied) => {
                conn.batch("COMMIT")?;
                Ok(copied)
            }
            Err(e) => {
                let _ = conn.batch("ROLLBACK");
                Err(e)
            }
        }
    })?;
    copied.source_root = source_root;
    copied.target_root = target.root_at(size)?;
    Ok(copied)
}

fn copy_all(
    source: &Connection,
    target: &mut Conn,
    progress: &mut dyn FnMut(u64),
) -> Result<Copied, StoreError> {
    target.execute("SELECT pg_advisory_xact_lock($1)", &[&APPEND_LOCK])?;
    let present = target.log_size()?;
    let origin = target.query_opt("SELECT value FROM meta WHERE key = 'origin'", &[])?;
    if present > 0 || origin.is_some() {
        return Err(StoreError::Invalid(format!(
            "the target database already holds a log ({present} events): migrate into an empty database"
        )));
    }
    let mut copied = Copied {
        events: 0,
        merkle_nodes: 0,
        checkpoints: 0,
        documents: 0,
        source_root: [0; 32],
        target_root: [0; 32],
    };
    copy_meta(source, target)?;
    copied.events = copy_events(source, target, progress)?;
    copied.merkle_nodes = copy_rows(
        source,
        target,
        "SELECT level, idx, hash FROM merkle_nodes ORDER BY level, idx",
        "INSERT INTO merkle_nodes (level, idx, hash) SELECT * FROM UNNEST($1::int4[], $2::int8[], $3::bytea[])",
        |row, cols: &mut NodeCols| {
            cols.0.push(row.get(0)?);
            cols.1.push(row.get(1)?);
            cols.2.push(row.get(2)?);
            Ok(())
        },
        |cols| vec![&cols.0 as &(dyn ToSql + Sync), &cols.1, &cols.2],
    )?;
    copied.checkpoints = copy_rows(
        source,
        target,
        "SELECT size, root, note, created_at FROM checkpoints ORDER BY size",
        "INSERT INTO checkpoints (size, root, note, created_at)
         SELECT * FROM UNNEST($1::int8[], $2::bytea[], $3::text[], $4::text[])",
        |row, cols: &mut CheckpointCols| {
            cols.0.push(row.get(0)?);
            cols.1.push(row.get(1)?);
            cols.2.push(row.get(2)?);
            cols.3.push(row.get(3)?);
            Ok(())
        },
        |cols| vec![&cols.0 as &(dyn ToSql + Sync), &cols.1, &cols.2, &cols.3],
    )?;
    copied.documents = copy_rows(
        source,
        target,
        "SELECT collection, id, version, seq, time, k1, k2, k3, body FROM docs ORDER BY collection, id",
        "INSERT INTO docs (collection, id, version, seq, time, k1, k2, k3, body)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::int8[], $5::text[], $6::text[],
                              $7::text[], $8::text[], $9::text[])",
        |row, cols: &mut DocCols| {
            cols.0.push(row.get(0)?);
            cols.1.push(row.get(1)?);
            cols.2.push(row.get(2)?);
            cols.3.push(row.get(3)?);
            cols.4.push(row.get(4)?);
            cols.5 .0.push(row.get(5)?);
            cols.5 .1.push(row.get(6)?);
            cols.5 .2.push(row.get(7)?);
            cols.6.push(row.get(8)?);
            Ok(())
        },
        |cols| {
            vec![
                &cols.0 as &(dyn ToSql + Sync),
                &cols.1,
                &cols.2,
                &cols.3,
                &cols.4,
                &cols.5 .0,
                &cols.5 .1,
                &cols.5 .2,
                &cols.6,
            ]
        },
    )?;
    Ok(copied)
}

/// The source's metadata but its schema version (the target has its own) and writer probes.
fn copy_meta(source: &Connection, target: &mut Conn) -> Result<(), StoreError> {
    let mut stmt =
        source.prepare("SELECT key, value FROM meta WHERE key NOT IN ('schema_version', 'writer_probe')")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    for row in rows {
        let (key, value) = row?;
        target.execute("INSERT INTO meta (key, value) VALUES ($1, $2)", &[&key, &value])?;
    }
    Ok(())
}

/// Events in seq windows (a purged payload stays NULL).
fn copy_events(
    source: &Connection,
    target: &mut Conn,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, StoreError> {
    let mut stmt = source.prepare(
        "SELECT seq, time, kind, actor_type, actor_id, leaf_hash, body FROM events
         WHERE seq >= ?1 AND seq < ?2 ORDER BY seq",
    )?;
    let size: u64 = source.query_row("SELECT COALESCE(MAX(seq) + 1, 0) FROM events", [], |r| r.get(0))?;
    let mut at = 0u64;
    let mut copied = 0u64;
    while at < size {
        let upto = at.saturating_add(BATCH as u64).min(size);
        let mut cols = EventCols::default();
        let mut rows = stmt.query(rusqlite::params![to_i64(at), to_i64(upto)])?;
        while let Some(row) = rows.next()? {
            cols.0.push(row.get(0)?);
            cols.1.push(row.get(1)?);
            cols.2.push(row.get(2)?);
            cols.3.push(row.get(3)?);
            cols.4.push(row.get(4)?);
            cols.5.push(row.get(5)?);
            cols.6.push(row.get(6)?);
        }
        copied += cols.0.len() as u64;
        target.execute(
            "INSERT INTO events (seq, time, kind, actor_type, actor_id, leaf_hash, body)
             SELECT * FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bytea[], $7::bytea[])",
            &[&cols.0, &cols.1, &cols.2, &cols.3, &cols.4, &cols.5, &cols.6],
        )?;
        progress(copied);
        at = upto;
    }
    Ok(copied)
}

/// Streams `select` from the source into batches of columns, each written with `insert`.
fn copy_rows<C: Default>(
    source: &Connection,
    target: &mut Conn,
    select: &str,
    insert: &str,
    push: impl Fn(&rusqlite::Row<'_>, &mut C) -> rusqlite::Result<()>,
    params: impl for<'a> Fn(&'a C) -> Vec<&'a (dyn ToSql + Sync)>,
) -> Result<u64, StoreError> {
    let mut stmt = source.prepare(select)?;
    let mut rows = stmt.query([])?;
    let (mut cols, mut pending, mut copied) = (C::default(), 0usize, 0u64);
    loop {
        let row = rows.next()?;
        if let Some(row) = row {
            push(row, &mut cols)?;
            pending += 1;
            copied += 1;
        }
        if pending > 0 && (pending == BATCH || row.is_none()) {
            target.execute(insert, &params(&cols))?;
            cols = C::default();
            pending = 0;
        }
        if row.is_none() {
            return Ok(copied);
        }
    }
}
