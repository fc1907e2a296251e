//! The embedded SQLite store: one file in WAL mode with `synchronous=FULL`, so a commit is on disk
//! before it returns.
//!
//! One writer thread owns the write connection and the chain head. Callers hand it drafts over a
//! channel; it drains whatever is queued (group commit, at most `MAX_BATCH` (4096)), writes those events
//! and the Merkle subtrees they complete in one `BEGIN IMMEDIATE` transaction, and only after the
//! commit answers each caller; a failed commit answers every caller with the error and restores
//! the previous head. A batch has one timestamp, never earlier than the last: event times never
//! decrease along seqs. Several stores on one file in one process (tests) stay consistent: each
//! batch re-reads `MAX(seq)` under the write lock. Readers use a small pool of read-only
//! connections that map the file (`mmap_size`; WAL readers never block the writer). The writer
//! has `wal_autocheckpoint=0`; a background connection folds the WAL back every 500 ms
//! (`PASSIVE`), so commits only sync the WAL.
//!
//! The WAL stays bounded ([`WAL_LIMIT`]). A passive checkpoint copies frames back but never
//! rewinds the WAL: only a write that starts after a checkpoint reached the WAL's end, with no
//! reader on an older snapshot, starts it over, and under sustained load a commit always lands
//! between the checkpoint and the next write, so the file grew without end (152 MB for 20,000
//! appends beside readers, over a 6 MB database). Once a commit leaves the WAL above the limit,
//! the writer asks the checkpointer to rewind it: passive passes copy it back while commits go
//! on, then, holding the commit gate (the writer takes it around each commit, uncontended
//! otherwise), one `wal_checkpoint(RESTART)` copies the little left and waits at most
//! [`WAL_RESTART_WAIT`] for readers on older snapshots (a long scan: retried with a back-off);
//! the next commit writes from the WAL's start and `journal_size_limit` cuts the file back. The
//! WAL's size after each commit is in [`CommitHealth::wal_bytes`] (`/metrics`, readiness).
//!
//! Verification also recomputes every stored Merkle node from the level below
//! (`audit_stored_nodes`, constant memory): proofs and the root after a restart are built from
//! them, so an edited node would otherwise be signed.
//!
//! Every connection uses the `unix-excl` VFS ([`VFS`]): the process holds the database alone and
//! the WAL index lives in its heap, never in a mapped `-shm` file (a fault there was SIGBUS).
//! Unlike `locking_mode=EXCLUSIVE` the lock is the process's, so its own readers and WAL
//! checkpointer share it. Another process (a local `gavel audit verify` beside a running
//! `gavel serve`) fails within `OPEN_WAIT` (2 s) with a message pointing at the server's HTTP API.
//! Opening also refuses, naming the path, a data directory where the database or its WAL
//! cannot be written.
//!
//! The database and its WAL must stay the files the store opened ([`OpenedFiles`]): a batch or
//! probe is acknowledged only if, after its commit, their paths still name those files, so a
//! database replaced, moved or deleted under a running server fails every commit (503, readiness
//! unready) instead of acknowledging appends to a file no one will open again.
//!
//! The writer also keeps [`CommitHealth`] (the outcome of its last commit, one atomic store per
//! batch) and answers write probes ([`Store::probe_commit`]): a transaction that touches only the
//! `meta` table, so readiness checks can find out whether anything can commit without appending
//! to the log.

use crate::docs::{self, Doc, DocKeys, DocQuery, Expect, Purge, StateOp};
use crate::tree;
use crate::writer::{answer_batch, gather, split_batch, BatchItem, CommitTracker, Job, PreparedOp, Request};
use crate::{AppendReceiver, Appended, CommitHealth, Head, Store, StoreError, StoredCheckpoint};
use gavel_ledger::clock::{format_time, Clock};
use gavel_ledger::event::EventDraft;
use gavel_ledger::hash::{leaf_hash, Hash, ZERO_HASH};
use gavel_ledger::merkle::{self, Frontier, NodeSource, StoredNode};
use gavel_ledger::verify::{Anchor, StoredEntry, VerifyReport};
use gavel_ledger::LedgerError;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Versioned schema changes, applied in order on open ([`migrate`]). Version 1 is the schema every
/// earlier gavel created (`IF NOT EXISTS`: databases from before versioning already hold it).
const MIGRATIONS: &[(i64, &str)] = &[(
    1,
    "
CREATE TABLE IF NOT EXISTS events (
    seq        INTEGER PRIMARY KEY,
    time       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    actor_type TEXT NOT NULL,
    actor_id   TEXT NOT NULL,
    leaf_hash  BLOB NOT NULL,
    body       BLOB            -- JCS bytes; NULL once purged past retention
);
CREATE TABLE IF NOT EXISTS merkle_nodes (
    level INTEGER NOT NULL,
    idx   INTEGER NOT NULL,
    hash  BLOB NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (
    size       INTEGER PRIMARY KEY,
    root       BLOB NOT NULL,
    note       TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS docs (
    collection TEXT NOT NULL,
    id         TEXT NOT NULL,
    version    INTEGER NOT NULL,
    seq        INTEGER NOT NULL,   -- the event that last changed this document
    time       TEXT NOT NULL,
    k1 TEXT, k2 TEXT, k3 TEXT,     -- indexed attributes, per collection
    body       TEXT NOT NULL,
    PRIMARY KEY (collection, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS docs_time ON docs(collection, time, seq);
CREATE INDEX IF NOT EXISTS docs_k1 ON docs(collection, k1, time, seq);
CREATE INDEX IF NOT EXISTS docs_k2 ON docs(collection, k2, time, seq);
CREATE INDEX IF NOT EXISTS docs_k3 ON docs(collection, k3, time, seq);
",
)];

/// Applies the migrations above the database's `schema_version` in one write transaction; refuses
/// a database a newer gavel migrated.
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute_batch("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);")?;
    let current: Option<String> =
        tx.query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |r| r.get(0)).optional()?;
    let current = match current {
        Some(v) => v.parse::<i64>().map_err(|_| StoreError::Integrity(format!("schema_version {v:?}")))?,
        None => 0,
    };
    let latest = MIGRATIONS.last().map_or(0, |m| m.0);
    if current > latest {
        return Err(StoreError::Invalid(format!(
            "the database's schema is version {current}, newer than this gavel knows ({latest}): \
             run a gavel at least as new as the one that migrated it"
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![version.to_string()],
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// SQLite-backed [`Store`].
pub struct SqliteStore {
    path: PathBuf,
    files: Arc<OpenedFiles>,
    sender: Option<mpsc::Sender<Job>>,
    writer: Option<JoinHandle<()>>,
    head: Arc<RwLock<Head>>,
    commits: Arc<CommitTracker>,
    readers: Mutex<Vec<Connection>>,
    checkpointer: Option<(mpsc::Sender<CheckpointJob>, JoinHandle<()>)>,
}

/// How often the background thread folds the WAL back into the database file.
const WAL_CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// Above this size the WAL is rewound (`wal_checkpoint(RESTART)`, see the module documentation),
/// and a rewound WAL is cut back to it (`journal_size_limit`). Small next to the disk bound of
/// readiness; a rewind costs commits a short wait, so not much smaller (BENCHMARKS.md).
pub const WAL_LIMIT: u64 = 64 * 1024 * 1024;

/// Longest a rewind waits for readers on older snapshots (commits wait meanwhile): a long reader
/// (a verification scan) postpones the rewind instead of stalling the log.
const WAL_RESTART_WAIT: Duration = Duration::from_millis(100);

/// After a rewind that did not finish, the next waits this long, doubled each time up to
/// [`WAL_RESTART_RETRY_MAX`]: a long scan costs commits at most a short wait every few seconds.
const WAL_RESTART_RETRY: Duration = Duration::from_millis(50);
const WAL_RESTART_RETRY_MAX: Duration = Duration::from_secs(2);

/// At most this many WAL frames (pages) left to copy when the rewind takes the commit gate.
const CAUGHT_UP_FRAMES: i64 = 256;

/// What the background checkpointer is asked to do besides its periodic pass.
enum CheckpointJob {
    /// The WAL passed its limit ([`WalRewind::requested`] is set): rewind it.
    Rewind,
    Stop,
}

/// What the writer and the checkpointer share to rewind the WAL.
#[derive(Default)]
struct WalRewind {
    /// A rewind was asked for and is not done yet (the writer asks once).
    requested: std::sync::atomic::AtomicBool,
    /// Held by the writer around each commit and by the checkpointer around a rewind, so a rewind
    /// never waits on the write lock (polling it could lose to the writer again and again).
    gate: Mutex<()>,
}

impl WalRewind {
    fn hold(&self) -> std::sync::MutexGuard<'_, ()> {
        self.gate.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Folds the WAL into the database file on its own connection, so the log writer's commits never
/// pay for it (SQLite's automatic checkpoint runs inside the committing connection, and took a
/// third of the writer's time under load). Commits stay durable: they sync the WAL itself. Also
/// rewinds the WAL when the writer asks (see the module documentation).
fn run_checkpointer(path: PathBuf, jobs: mpsc::Receiver<CheckpointJob>, rewind: Arc<WalRewind>) {
    let conn = match open_connection(&path, false) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "WAL checkpointer could not open the database");
            return;
        }
    };
    // (frames in the WAL, frames copied back) after one passive pass.
    let passive = || {
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
        })
    };
    let mut retry: Option<(Instant, Duration)> = None;
    loop {
        // A rewind still asked for is retried when its back-off ends, not at the next pass.
        let wait = match retry {
            Some((at, _)) if rewind.requested.load(Ordering::Acquire) => {
                at.saturating_duration_since(Instant::now()).min(WAL_CHECKPOINT_EVERY)
            }
            _ => WAL_CHECKPOINT_EVERY,
        };
        match jobs.recv_timeout(wait) {
            Err(mpsc::RecvTimeoutError::Timeout) | Ok(CheckpointJob::Rewind) => {}
            // Told to stop, or the store is gone: one last checkpoint, then exit.
            Ok(CheckpointJob::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                let _ = passive();
                return;
            }
        }
        let mut left = match passive() {
            Ok((log, copied)) => log - copied,
            Err(e) => {
                tracing::warn!(error = %e, "WAL checkpoint failed; will retry");
                continue;
            }
        };
        if !rewind.requested.load(Ordering::Acquire) || retry.is_some_and(|(at, _)| Instant::now() < at) {
            continue;
        }
        // Commits go on during these passes, each copying what the last one left.
        for _ in 0..4 {
            if left <= CAUGHT_UP_FRAMES {
                break;
            }
            left = passive().map_or(left, |(log, copied)| log - copied);
        }
        let restarted = {
            let _no_commits = rewind.hold();
            restart_wal(&conn)
        };
        if let Err(e) = &restarted {
            tracing::warn!(error = %e, "could not rewind the WAL; will retry");
        }
        retry = match restarted {
            Ok(true) => None,
            _ => {
                let backoff = retry.map_or(WAL_RESTART_RETRY, |(_, b)| (b * 2).min(WAL_RESTART_RETRY_MAX));
                Some((Instant::now() + backoff, backoff))
            }
        };
        // Asked again by the next commit if the WAL is still above the limit.
        rewind.requested.store(false, Ordering::Release);
    }
}

/// One RESTART checkpoint waiting at most [`WAL_RESTART_WAIT`]: true when it reached the WAL's
/// end with no reader left on it, so the next commit starts the WAL over.
fn restart_wal(conn: &Connection) -> Result<bool, rusqlite::Error> {
    conn.busy_timeout(WAL_RESTART_WAIT)?;
    // (busy, frames in the WAL, frames copied back): busy = 1 when a reader kept it short.
    let busy = conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| r.get::<_, i64>(0));
    conn.busy_timeout(WRITE_WAIT)?;
    Ok(busy? == 0)
}

impl SqliteStore {
    /// Checkpoints of size greater than `after` (all with `None`), by size, at most `limit`.
    fn checkpoints_after_opt(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<StoredCheckpoint>, StoreError> {
        // -1 is below every size: `None` reads them all.
        let after = after.map_or(-1, |a| i64::try_from(a).unwrap_or(i64::MAX));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT size, root, note, created_at FROM checkpoints WHERE size > ?1 ORDER BY size LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![after, limit], |r| {
                Ok((
                    r.get::<_, u64>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })?;
            rows.map(|row| {
                let (size, root, note, created_at) = row?;
                Ok(StoredCheckpoint { size, root: blob_hash(&root)?, note, created_at })
            })
            .collect()
        })
    }

    /// Opens (creating if needed) the database at `path` and starts the log writer.
    ///
    /// The database is this process's alone while it is open (see [`VFS`]): another process that
    /// opens it meanwhile gets an error saying so. A data directory or database file this
    /// process cannot write is refused here, with its path, rather than at the first commit.
    pub fn open(path: &Path, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        Self::open_with_wal_limit(path, clock, WAL_LIMIT)
    }

    /// [`SqliteStore::open`] with another WAL bound than [`WAL_LIMIT`]: tests use a small one, the
    /// `log` bench `u64::MAX` (never rewound: how the store behaved before the bound) to compare.
    pub fn open_with_wal_limit(
        path: &Path,
        clock: Arc<dyn Clock>,
        wal_limit: u64,
    ) -> Result<Self, StoreError> {
        check_writable(path)?;
        let mut conn = open_connection(path, false)?;
        migrate(&mut conn)?;
        // The background checkpointer does this job instead (see `run_checkpointer`).
        conn.execute_batch("PRAGMA wal_autocheckpoint=0;")?;
        // A rewound WAL is cut back to the bound (SQLite applies it on this connection only).
        let limit = i64::try_from(wal_limit).unwrap_or(i64::MAX);
        let _: i64 = conn.query_row(&format!("PRAGMA journal_size_limit={limit}"), [], |r| r.get(0))?;
        // The schema is written: the WAL exists, and both files are the ones this store writes.
        let files = Arc::new(OpenedFiles::capture(path)?);
        let state = ChainState::load(&conn)?;
        let head = Arc::new(RwLock::new(Head { size: state.frontier.size(), root: state.frontier.root() }));
        let (sender, receiver) = mpsc::channel();
        let commits = Arc::new(CommitTracker::new());
        commits.wal_bytes.store(files.wal_size(), Ordering::Relaxed);
        let (checkpoint_jobs, jobs) = mpsc::channel();
        let rewind = Arc::new(WalRewind::default());
        let checkpoint_path = path.to_path_buf();
        let checkpointer_rewind = rewind.clone();
        let checkpointer = std::thread::Builder::new()
            .name("gavel-wal-checkpoint".into())
            .spawn(move || run_checkpointer(checkpoint_path, jobs, checkpointer_rewind))?;
        let writer = Writer {
            conn,
            state,
            clock,
            head: head.clone(),
            commits: commits.clone(),
            files: files.clone(),
            wal_limit,
            checkpointer: checkpoint_jobs.clone(),
            rewind,
        };
        let handle = std::thread::Builder::new()
            .name("gavel-log-writer".into())
            .spawn(move || writer.run(receiver))?;
        Ok(SqliteStore {
            path: path.to_path_buf(),
            files,
            sender: Some(sender),
            writer: Some(handle),
            head,
            commits,
            readers: Mutex::new(Vec::new()),
            checkpointer: Some((checkpoint_jobs, checkpointer)),
        })
    }

    /// Runs `f` with a pooled read-only connection.
    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let pooled = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match pooled {
            Some(c) => c,
            // Opened by path: only while the path still names the database this store has open.
            None => {
                self.files.check()?;
                open_connection(&self.path, true)?
            }
        };
        let result = f(&conn);
        self.readers.lock().unwrap_or_else(|p| p.into_inner()).push(conn);
        result
    }

    /// Stops accepting appends, commits everything already queued, and waits for the writer.
    pub fn shutdown(&mut self) {
        self.sender.take();
        if let Some(handle) = self.writer.take() {
            let _ = handle.join();
        }
        if let Some((jobs, handle)) = self.checkpointer.take() {
            let _ = jobs.send(CheckpointJob::Stop);
            let _ = handle.join();
        }
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// SQLite's unix VFS variant that holds one exclusive lock on the database for the whole process
/// and keeps the WAL index (what the `-shm` file holds in shared mode) in heap memory shared by
/// the process's connections. In shared mode every connection maps `gavel.db-shm`, and a page of
/// that mapping that cannot be read back (the file truncated under the process, a page the
/// filesystem cannot back) is SIGBUS: the process dies at its next commit, with no error and no
/// log line. Here nothing is mapped, so such faults cannot exist; the price is that no other
/// process can open the database while this one has it open (see [`SqliteStore::open`]).
const VFS: &str = "unix-excl";

/// How long opening waits for another process to release the database before saying so.
const OPEN_WAIT: Duration = Duration::from_secs(2);

/// How long a statement waits for a lock once the database is open.
const WRITE_WAIT: Duration = Duration::from_secs(10);

/// Refuses, with the path and the reason, a data directory or database files this process cannot
/// write: SQLite would otherwise open them and fail at the first commit (or open read-only).
fn check_writable(path: &Path) -> Result<(), StoreError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let probe = dir.join(format!(".gavel-write-check-{}", std::process::id()));
    let created = std::fs::OpenOptions::new().write(true).create_new(true).open(&probe);
    match created {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
        }
        Err(e) => {
            return Err(StoreError::Database(format!(
                "the data directory {} is not writable ({e}): gavel creates the database and its WAL there",
                dir.display()
            )))
        }
    }
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    for file in [path, wal.as_path()] {
        match std::fs::OpenOptions::new().write(true).open(file) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(StoreError::Database(format!(
                    "{} is not writable ({e}): the log cannot commit; fix its owner, mode or attributes",
                    file.display()
                )))
            }
        }
    }
    Ok(())
}

/// The database file and its WAL as the store opened them, by device and inode.
///
/// SQLite keeps writing through the descriptors it opened: a database replaced under a running
/// server (a backup restored over it, a copy renamed onto it), moved away or deleted goes on
/// taking commits into a file that no later process opens, and every append acknowledged
/// meanwhile is lost at the next start (a restored copy then also lacks entries its own signed
/// checkpoints cover). [`OpenedFiles::check`] is one `stat` per file: the writer runs it before
/// and after each commit, and acknowledges nothing unless the paths still name these files.
#[derive(Debug)]
struct OpenedFiles {
    db: PathBuf,
    wal: PathBuf,
    ids: [(u64, u64); 2],
}

impl OpenedFiles {
    fn capture(db: &Path) -> Result<Self, StoreError> {
        let wal = PathBuf::from(format!("{}-wal", db.display()));
        let id = |path: &Path| {
            std::fs::metadata(path).map(|m| (m.dev(), m.ino())).map_err(|e| {
                StoreError::Database(format!("{} could not be read after opening it: {e}", path.display()))
            })
        };
        Ok(OpenedFiles { ids: [id(db)?, id(&wal)?], db: db.to_path_buf(), wal })
    }

    /// The WAL file's size in bytes (0 if it cannot be read: `check` reports that).
    fn wal_size(&self) -> u64 {
        std::fs::metadata(&self.wal).map_or(0, |m| m.len())
    }

    /// Fails, naming the file, when the database or the WAL path names another file or none.
    fn check(&self) -> Result<(), StoreError> {
        for (path, id) in [(&self.db, self.ids[0]), (&self.wal, self.ids[1])] {
            let now = std::fs::metadata(path).map(|m| (m.dev(), m.ino()));
            if now.as_ref().ok() != Some(&id) {
                let what = match now {
                    Ok(_) => "is another file now".to_string(),
                    Err(e) => format!("cannot be found ({e})"),
                };
                return Err(StoreError::Database(format!(
                    "{} {what}: it was replaced, moved or deleted while the server had it open, and a \
                     commit would go to a file no one will read. Put the file back, or restart the \
                     server to open what is there now",
                    path.display()
                )));
            }
        }
        Ok(())
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DatabaseBusy)
}

pub(crate) fn open_connection(path: &Path, read_only: bool) -> Result<Connection, StoreError> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags_and_vfs(path, flags, VFS)?;
    // The first read takes the process's lock. Another process holding it (a running server) keeps
    // it until that process exits, so waiting the full busy timeout would only delay the answer.
    conn.busy_timeout(OPEN_WAIT)?;
    if let Err(e) = conn.query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0)) {
        if is_busy(&e) {
            return Err(StoreError::Database(format!(
                "{} is in use by another process (a running `gavel serve`?): gavel opens its database \
                 for one process at a time. Stop that process, or ask the server over HTTP \
                 (e.g. GET /v1/audit/verify).",
                path.display()
            )));
        }
        return Err(e.into());
    }
    conn.busy_timeout(WRITE_WAIT)?;
    if !read_only {
        // WAL lets readers run beside the writer; FULL syncs the WAL on every commit, so an
        // acknowledged append survives a crash or power loss.
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Database(format!("could not enable WAL (journal_mode={mode})")));
        }
    }
    conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")?;
    if read_only {
        // Readers map the database file: after every commit SQLite drops a WAL reader's page
        // cache, and re-reading pages with pread copied them through the kernel on every decision
        // (6% of the server's CPU). Pages still in the WAL are read as before.
        conn.execute_batch("PRAGMA mmap_size=268435456;")?;
    }
    Ok(conn)
}

/// Reads Merkle nodes from a connection: leaves from `events`, stored levels from `merkle_nodes`.
pub(crate) struct ConnNodes<'a>(pub(crate) &'a Connection);

impl NodeSource for ConnNodes<'_> {
    fn nodes(&self, level: u32, start: u64, end: u64) -> Result<Vec<Hash>, LedgerError> {
        let src = |e: rusqlite::Error| LedgerError::Source(e.to_string());
        let mut stmt = if level == 0 {
            self.0.prepare_cached(
                "SELECT leaf_hash FROM events WHERE seq >= ?1 AND seq < ?2 AND ?3 = 0 ORDER BY seq",
            )
        } else {
            self.0.prepare_cached(
                "SELECT hash FROM merkle_nodes WHERE level = ?3 AND idx >= ?1 AND idx < ?2 ORDER BY idx",
            )
        }
        .map_err(src)?;
        let mut rows = stmt.query(params![start, end, level]).map_err(src)?;
        let mut out = Vec::with_capacity(end.saturating_sub(start).min(1 << 16) as usize);
        while let Some(row) = rows.next().map_err(src)? {
            let blob: Vec<u8> = row.get(0).map_err(src)?;
            out.push(blob_hash(&blob)?);
        }
        if out.len() as u64 != end.saturating_sub(start) {
            return Err(LedgerError::Source(format!(
                "level {level} nodes {start}..{end}: found {} of {} (the store is missing Merkle data)",
                out.len(),
                end.saturating_sub(start)
            )));
        }
        Ok(out)
    }
}

fn blob_hash(b: &[u8]) -> Result<Hash, LedgerError> {
    b.try_into().map_err(|_| LedgerError::Source(format!("stored hash has {} bytes, not 32", b.len())))
}

/// The writer's view of the chain head.
#[derive(Clone)]
struct ChainState {
    frontier: Frontier,
    prev: Hash,
    last_time: String,
}

impl ChainState {
    fn load(conn: &Connection) -> Result<Self, StoreError> {
        let last: Option<(u64, Vec<u8>, String)> = conn
            .query_row("SELECT seq, leaf_hash, time FROM events ORDER BY seq DESC LIMIT 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?;
        let Some((last_seq, leaf, last_time)) = last else {
            return Ok(ChainState { frontier: Frontier::new(), prev: ZERO_HASH, last_time: String::new() });
        };
        let frontier = Frontier::from_source(&ConnNodes(conn), last_seq + 1)?;
        Ok(ChainState { frontier, prev: blob_hash(&leaf)?, last_time })
    }
}

struct Writer {
    conn: Connection,
    state: ChainState,
    clock: Arc<dyn Clock>,
    head: Arc<RwLock<Head>>,
    commits: Arc<CommitTracker>,
    files: Arc<OpenedFiles>,
    /// Above this many bytes of WAL the WAL is rewound ([`WAL_LIMIT`] outside tests and benches).
    wal_limit: u64,
    /// Asks the background checkpointer to rewind the WAL.
    checkpointer: mpsc::Sender<CheckpointJob>,
    rewind: Arc<WalRewind>,
}

impl Writer {
    fn run(mut self, receiver: mpsc::Receiver<Job>) {
        let mut last_batch = 0;
        let rewind = self.rewind.clone();
        // recv() keeps returning queued requests after the senders are gone, so shutdown drains.
        while let Ok(job) = receiver.recv() {
            let first = match job {
                Job::Append(first) => first,
                Job::Probe(reply) => {
                    let _gate = rewind.hold();
                    self.probe(reply);
                    continue;
                }
            };
            let (batch, probe) = gather(&receiver, first, last_batch);
            last_batch = batch.len();
            // Gathered before the gate: a rewind in progress only delays the commit itself.
            let _gate = rewind.hold();
            self.commit(batch);
            if let Some(reply) = probe {
                self.probe(reply);
            }
        }
    }

    /// After a commit: notes the WAL's size and, above the limit, asks for a rewind (once, until
    /// it is done: see [`run_checkpointer`]).
    fn note_wal_size(&self) {
        let size = self.files.wal_size();
        self.commits.wal_bytes.store(size, Ordering::Relaxed);
        if size > self.wal_limit && !self.rewind.requested.swap(true, Ordering::AcqRel) {
            let _ = self.checkpointer.send(CheckpointJob::Rewind);
        }
    }

    /// One write transaction on the writer's own connection that appends nothing to the log:
    /// it rewrites one `meta` row, so it takes the write lock and syncs the WAL like a batch.
    fn probe(&mut self, reply: mpsc::Sender<Result<(), StoreError>>) {
        let time = format_time(self.clock.now());
        let result = (|| {
            self.files.check()?;
            let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('writer_probe', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![time],
            )?;
            tx.commit()?;
            self.files.check()
        })();
        let ok = result.is_ok();
        match &result {
            Ok(()) => self.commits.succeeded(),
            Err(e) => {
                tracing::error!(error = %e, "log writer probe failed: nothing can commit");
                self.commits.failed(e);
            }
        }
        let _ = reply.send(result);
        if ok {
            // Probes run when the log is idle: a WAL that readers kept from a rewind asks again.
            self.note_wal_size();
        }
    }

    fn commit(&mut self, batch: Vec<Request>) {
        let before = self.state.clone();
        let (replies, items) = split_batch(batch);
        // The files are checked before (nothing is written into a file that is gone) and after the
        // commit (it landed in the files the paths name, so acknowledging it is true).
        let written = self
            .files
            .check()
            .and_then(|()| write_batch(&mut self.conn, &mut self.state, self.clock.as_ref(), &items))
            .and_then(|results| self.files.check().map(|()| results));
        let head = Head { size: self.state.frontier.size(), root: self.state.frontier.root() };
        if answer_batch(&self.commits, &self.head, head, replies, written) {
            self.note_wal_size();
        } else {
            // Nothing in this batch is acknowledged. The next batch starts from the old head,
            // or reloads it (`write_batch`) if this one committed before the files moved.
            self.state = before;
        }
    }
}

/// Writes one batch in one transaction. The outer error fails the whole batch; an inner error
/// (a compare-and-set conflict) fails only its own request, which then wrote nothing.
fn write_batch(
    conn: &mut Connection,
    state: &mut ChainState,
    clock: &dyn Clock,
    items: &[BatchItem],
) -> Result<Vec<Result<Appended, StoreError>>, StoreError> {
    // IMMEDIATE takes the write lock up front. Another store on the same file in this process (the
    // database is one process's alone, see `VFS`) may have appended since our last batch: if so,
    // reload the head before extending it.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let db_size: u64 = tx.query_row("SELECT COALESCE(MAX(seq) + 1, 0) FROM events", [], |r| r.get(0))?;
    if db_size != state.frontier.size() {
        *state = ChainState::load(&tx)?;
    }
    let mut results = Vec::with_capacity(items.len());
    {
        let mut insert_event = tx.prepare_cached(
            "INSERT INTO events (seq, time, kind, actor_type, actor_id, leaf_hash, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        let mut insert_node =
            tx.prepare_cached("INSERT INTO merkle_nodes (level, idx, hash) VALUES (?1, ?2, ?3)")?;
        // One timestamp per batch, never earlier than the last one written: event times are
        // non-decreasing in seq order even if the wall clock steps back.
        let mut time = format_time(clock.now());
        if time < state.last_time {
            time = state.last_time.clone();
        }
        for (kind, actor_type, actor_id, sealable, ops, purge) in items {
            let seq = state.frontier.size();
            if let Some(purge) = purge {
                // A purge learns its count only by clearing: it needs a savepoint to undo.
                tx.execute("SAVEPOINT request", [])?;
                let applied = apply_ops(&tx, ops, seq, &time).and_then(|()| apply_purge(&tx, purge, seq));
                match applied {
                    Ok(()) => tx.execute("RELEASE request", [])?,
                    Err(e @ (StoreError::Conflict(_) | StoreError::Invalid(_))) => {
                        tx.execute("ROLLBACK TO request", [])?;
                        tx.execute("RELEASE request", [])?;
                        results.push(Err(e));
                        continue;
                    }
                    Err(e) => return Err(e),
                };
            } else if !ops.is_empty() {
                // Every expectation is checked before anything is written, so a conflict leaves
                // nothing to undo and no savepoint (with its sub-journal) is needed.
                if let Err(e) = apply_ops(&tx, ops, seq, &time) {
                    match e {
                        StoreError::Conflict(_) | StoreError::Invalid(_) => {
                            results.push(Err(e));
                            continue;
                        }
                        e => return Err(e),
                    }
                }
            }
            let bytes = sealable.seal(seq, &time, &state.prev);
            let leaf = leaf_hash(&bytes);
            insert_event.execute(params![seq, time, kind, actor_type, actor_id, &leaf[..], bytes])?;
            for StoredNode { level, index, hash } in state.frontier.push(leaf) {
                insert_node.execute(params![level, index, &hash[..]])?;
            }
            state.prev = leaf;
            results.push(Ok(Appended { seq, time: time.clone(), leaf_hash: leaf }));
        }
        state.last_time = time;
    }
    tx.commit()?;
    Ok(results)
}

/// Applies a request's document changes: first checks every expectation (against the versions
/// the earlier ops of the same request will have written), then writes. A failed expectation is
/// a [`StoreError::Conflict`] with nothing written.
fn apply_ops(
    tx: &rusqlite::Transaction<'_>,
    ops: &[PreparedOp],
    seq: u64,
    time: &str,
) -> Result<(), StoreError> {
    let mut versions: Vec<Option<u64>> = Vec::with_capacity(ops.len());
    {
        let mut current_version =
            tx.prepare_cached("SELECT version FROM docs WHERE collection = ?1 AND id = ?2")?;
        for (i, op) in ops.iter().enumerate() {
            let earlier = ops[..i].iter().rposition(|o| o.collection == op.collection && o.id == op.id);
            let current = match earlier {
                Some(j) => Some(versions[j].map_or(1, |v| v + 1)),
                None => current_version.query_row(params![op.collection, op.id], |r| r.get(0)).optional()?,
            };
            let ok = match op.expect {
                Expect::Any => true,
                Expect::Absent => current.is_none(),
                Expect::Version(v) => current == Some(v),
            };
            if !ok {
                return Err(docs::conflict_of(&op.collection, &op.id, op.expect, current));
            }
            versions.push(current);
        }
    }
    let mut upsert = tx.prepare_cached(
        "INSERT INTO docs (collection, id, version, seq, time, k1, k2, k3, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (collection, id) DO UPDATE SET version = excluded.version, seq = excluded.seq,
             time = excluded.time, k1 = excluded.k1, k2 = excluded.k2, k3 = excluded.k3, body = excluded.body",
    )?;
    for (op, current) in ops.iter().zip(versions) {
        upsert.execute(params![
            op.collection,
            op.id,
            current.map_or(1, |v| v + 1),
            seq,
            time,
            op.keys.k1,
            op.keys.k2,
            op.keys.k3,
            op.body
        ])?;
    }
    Ok(())
}

/// SQL that is true for kinds starting with none of `prefixes` (bound as `?{first}`, `?{first+1}`…).
fn kind_kept_filter(prefixes: &[String], first: usize) -> String {
    prefixes
        .iter()
        .enumerate()
        .map(|(i, _)| format!(" AND substr(kind, 1, length(?{n})) <> ?{n}", n = first + i))
        .collect()
}

/// Clears the payloads of one [`Purge`] and deletes its documents; checks the count it promised.
fn apply_purge(tx: &rusqlite::Transaction<'_>, purge: &Purge, seq: u64) -> Result<(), StoreError> {
    let mut cleared = 0u64;
    let keep = kind_kept_filter(&purge.keep_kind_prefixes, 3);
    let clear_sql =
        format!("UPDATE events SET body = NULL WHERE seq >= ?1 AND seq < ?2 AND body IS NOT NULL{keep}");
    for &(from, to) in &purge.ranges {
        if from >= to || to > seq {
            return Err(StoreError::Invalid(format!(
                "purge range [{from}, {to}) must be non-empty and end at or before seq {seq}"
            )));
        }
        let mut args: Vec<rusqlite::types::Value> = vec![(from as i64).into(), (to as i64).into()];
        args.extend(purge.keep_kind_prefixes.iter().map(|p| p.clone().into()));
        cleared += tx.prepare_cached(&clear_sql)?.execute(rusqlite::params_from_iter(args))? as u64;
        for collection in &purge.collections {
            // Bounded by the range's times so the (collection, time, seq) index serves it.
            let bounds: (Option<String>, Option<String>) = tx.query_row(
                "SELECT (SELECT time FROM events WHERE seq = ?1), (SELECT time FROM events WHERE seq = ?2)",
                params![from, to - 1],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            if let (Some(first), Some(last)) = bounds {
                tx.prepare_cached(
                    "DELETE FROM docs WHERE collection = ?1 AND time >= ?2 AND time <= ?3 AND seq >= ?4 AND seq < ?5",
                )?
                .execute(params![collection, first, last, from, to])?;
            }
        }
    }
    if cleared != purge.expected_payloads {
        return Err(StoreError::Conflict(format!(
            "the purge would clear {cleared} payloads, not the {} its record states",
            purge.expected_payloads
        )));
    }
    Ok(())
}

fn doc_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Doc> {
    let body: String = row.get(8)?;
    Ok(Doc {
        collection: row.get(0)?,
        id: row.get(1)?,
        version: row.get(2)?,
        seq: row.get(3)?,
        time: row.get(4)?,
        keys: DocKeys { k1: row.get(5)?, k2: row.get(6)?, k3: row.get(7)? },
        body: serde_json::from_str(&body).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(8, rusqlite::types::Type::Text, Box::new(e))
        })?,
    })
}

/// The WHERE clause and arguments shared by document queries and counts.
fn doc_filter(q: &DocQuery, paged: bool) -> (String, Vec<rusqlite::types::Value>) {
    use rusqlite::types::Value as V;
    let mut sql = String::from("collection = ?");
    let mut args = vec![V::Text(q.collection.clone())];
    for (col, val) in [("k1", &q.k1), ("k2", &q.k2), ("k3", &q.k3)] {
        if let Some(v) = val {
            sql.push_str(&format!(" AND {col} = ?"));
            args.push(V::Text(v.clone()));
        }
    }
    if let Some(since) = &q.since {
        sql.push_str(" AND time >= ?");
        args.push(V::Text(since.clone()));
    }
    if let Some(until) = &q.until {
        sql.push_str(" AND time < ?");
        args.push(V::Text(until.clone()));
    }
    if let Some(max) = q.max_seq {
        sql.push_str(" AND seq <= ?");
        args.push(V::Integer(max.min(i64::MAX as u64) as i64));
    }
    if let (true, Some(before)) = (paged, q.before_seq) {
        sql.push_str(if q.ascending { " AND seq > ?" } else { " AND seq < ?" });
        args.push(V::Integer(before.min(i64::MAX as u64) as i64));
    }
    (sql, args)
}

fn entry_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(u64, Option<Vec<u8>>, Vec<u8>)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
}

fn to_entry((seq, bytes, leaf): (u64, Option<Vec<u8>>, Vec<u8>)) -> Result<StoredEntry, StoreError> {
    Ok(StoredEntry { seq, bytes, leaf_hash: blob_hash(&leaf)? })
}

impl tree::StoredNodes for SqliteStore {
    fn read_nodes<T>(
        &self,
        read: impl FnOnce(&dyn NodeSource) -> Result<T, LedgerError>,
    ) -> Result<T, StoreError> {
        self.with_reader(|conn| Ok(read(&ConnNodes(conn))?))
    }
}

impl Store for SqliteStore {
    fn submit_with(&self, draft: EventDraft, ops: Vec<StateOp>) -> Result<AppendReceiver, StoreError> {
        // Canonicalize on the caller's thread: the single writer only splices seq/time/prev in.
        let (reply, receiver) = tokio::sync::oneshot::channel();
        let request = Request::new(draft, ops, None, reply)?;
        let sender = self.sender.as_ref().ok_or(StoreError::WriterGone)?;
        sender.send(Job::Append(request)).map_err(|_| StoreError::WriterGone)?;
        Ok(receiver)
    }

    fn commit_health(&self) -> CommitHealth {
        let running = self.writer.as_ref().is_some_and(|h| !h.is_finished());
        self.commits.health(running)
    }

    fn probe_commit(&self) -> Result<(), StoreError> {
        let (reply, answer) = mpsc::channel();
        let sender = self.sender.as_ref().ok_or(StoreError::WriterGone)?;
        sender.send(Job::Probe(reply)).map_err(|_| StoreError::WriterGone)?;
        answer.recv().map_err(|_| StoreError::WriterGone)?
    }

    fn submit_purge(
        &self,
        draft: EventDraft,
        ops: Vec<StateOp>,
        purge: Purge,
    ) -> Result<AppendReceiver, StoreError> {
        let (reply, receiver) = tokio::sync::oneshot::channel();
        let request = Request::new(draft, ops, Some(purge), reply)?;
        let sender = self.sender.as_ref().ok_or(StoreError::WriterGone)?;
        sender.send(Job::Append(request)).map_err(|_| StoreError::WriterGone)?;
        Ok(receiver)
    }

    fn count_payloads(&self, from: u64, to: u64, keep_kind_prefixes: &[String]) -> Result<u64, StoreError> {
        let sql = format!(
            "SELECT COUNT(*) FROM events WHERE seq >= ?1 AND seq < ?2 AND body IS NOT NULL{}",
            kind_kept_filter(keep_kind_prefixes, 3)
        );
        let mut args: Vec<rusqlite::types::Value> =
            vec![(from.min(i64::MAX as u64) as i64).into(), (to.min(i64::MAX as u64) as i64).into()];
        args.extend(keep_kind_prefixes.iter().map(|p| p.clone().into()));
        self.with_reader(|conn| {
            Ok(conn.prepare_cached(&sql)?.query_row(rusqlite::params_from_iter(args), |r| r.get(0))?)
        })
    }

    fn first_seq_at(&self, time: &str) -> Result<u64, StoreError> {
        self.with_reader(|conn| {
            // One snapshot for the whole search; event times are non-decreasing in seq order.
            let tx = conn.unchecked_transaction()?;
            let size: u64 = tx.query_row("SELECT COALESCE(MAX(seq) + 1, 0) FROM events", [], |r| r.get(0))?;
            let (mut lo, mut hi) = (0u64, size);
            {
                let mut stmt = tx.prepare_cached("SELECT time FROM events WHERE seq = ?1")?;
                while lo < hi {
                    let mid = lo + (hi - lo) / 2;
                    let t: String = stmt.query_row(params![mid], |r| r.get(0))?;
                    if t.as_str() < time {
                        lo = mid + 1;
                    } else {
                        hi = mid;
                    }
                }
            }
            tx.commit()?;
            Ok(lo)
        })
    }

    fn get_doc(&self, collection: &str, id: &str) -> Result<Option<Doc>, StoreError> {
        self.with_reader(|conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT collection, id, version, seq, time, k1, k2, k3, body FROM docs WHERE collection = ?1 AND id = ?2",
                )?
                .query_row(params![collection, id], doc_from_row)
                .optional()?)
        })
    }

    fn get_docs(&self, keys: &[(&str, &str)]) -> Result<Vec<Option<Doc>>, StoreError> {
        self.with_reader(|conn| {
            let tx = conn.unchecked_transaction()?;
            let mut out = Vec::with_capacity(keys.len());
            {
                let mut stmt = tx.prepare_cached(
                    "SELECT collection, id, version, seq, time, k1, k2, k3, body FROM docs WHERE collection = ?1 AND id = ?2",
                )?;
                for (collection, id) in keys {
                    out.push(stmt.query_row(params![collection, id], doc_from_row).optional()?);
                }
            }
            tx.commit()?;
            Ok(out)
        })
    }

    fn query_docs(&self, query: &DocQuery) -> Result<Vec<Doc>, StoreError> {
        let (filter, mut args) = doc_filter(query, true);
        let order = if query.ascending { "ASC" } else { "DESC" };
        let sql = format!(
            "SELECT collection, id, version, seq, time, k1, k2, k3, body FROM docs WHERE {filter}
             ORDER BY time {order}, seq {order} LIMIT ?"
        );
        args.push(rusqlite::types::Value::Integer(i64::from(query.limit)));
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(args), doc_from_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn sum_docs(&self, query: &DocQuery, field: &str) -> Result<f64, StoreError> {
        if field.is_empty() || !field.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(StoreError::Invalid(format!("field {field:?} must be a plain identifier")));
        }
        let (filter, mut args) = doc_filter(query, false);
        let sql = format!(
            "SELECT COALESCE(SUM(CASE WHEN json_type(body, ?) IN ('integer', 'real') THEN json_extract(body, ?) END), 0.0)
             FROM docs WHERE {filter}"
        );
        let path = rusqlite::types::Value::Text(format!("$.{field}"));
        args.insert(0, path.clone());
        args.insert(0, path);
        self.with_reader(|conn| {
            Ok(conn.prepare_cached(&sql)?.query_row(rusqlite::params_from_iter(args), |r| r.get(0))?)
        })
    }

    fn first_seqs_by_k2(&self, query: &DocQuery) -> Result<Vec<(String, u64)>, StoreError> {
        let (filter, args) = doc_filter(query, false);
        let sql = format!("SELECT k2, MIN(seq) FROM docs WHERE {filter} AND k2 IS NOT NULL GROUP BY k2");
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn count_docs(&self, query: &DocQuery) -> Result<u64, StoreError> {
        let (filter, args) = doc_filter(query, false);
        let sql = format!("SELECT COUNT(*) FROM docs WHERE {filter}");
        self.with_reader(|conn| {
            Ok(conn.prepare_cached(&sql)?.query_row(rusqlite::params_from_iter(args), |r| r.get(0))?)
        })
    }

    fn head(&self) -> Result<Head, StoreError> {
        let cached = *self.head.read().unwrap_or_else(|p| p.into_inner());
        // Another store on the same file may have appended (several `Log`s in one process): the
        // database, not this store's memory, says how long the log is.
        self.with_reader(|conn| {
            let size: u64 =
                conn.query_row("SELECT COALESCE(MAX(seq) + 1, 0) FROM events", [], |r| r.get(0))?;
            if size == cached.size {
                return Ok(cached);
            }
            Ok(Head { size, root: merkle::root(&ConnNodes(conn), size)? })
        })
    }

    fn scan(&self, from: u64, to: u64, f: &mut dyn FnMut(StoredEntry) -> bool) -> Result<(), StoreError> {
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT seq, body, leaf_hash FROM events WHERE seq >= ?1 AND seq < ?2 ORDER BY seq",
            )?;
            // SQLite integers are i64: clamp so "to the end" (u64::MAX) works.
            let mut rows = stmt.query(params![from.min(i64::MAX as u64), to.min(i64::MAX as u64)])?;
            while let Some(row) = rows.next()? {
                if !f(to_entry(entry_from_row(row)?)?) {
                    break;
                }
            }
            Ok(())
        })
    }

    fn scan_kinds(
        &self,
        from: u64,
        to: u64,
        kind_prefixes: &[&str],
        f: &mut dyn FnMut(StoredEntry) -> bool,
    ) -> Result<(), StoreError> {
        if kind_prefixes.is_empty() {
            return Ok(());
        }
        let any_prefix = (0..kind_prefixes.len())
            .map(|i| format!("substr(kind, 1, length(?{n})) = ?{n}", n = i + 3))
            .collect::<Vec<_>>()
            .join(" OR ");
        let sql = format!(
            "SELECT seq, body, leaf_hash FROM events WHERE seq >= ?1 AND seq < ?2 AND ({any_prefix}) ORDER BY seq"
        );
        let mut args: Vec<rusqlite::types::Value> =
            vec![(from.min(i64::MAX as u64) as i64).into(), (to.min(i64::MAX as u64) as i64).into()];
        args.extend(kind_prefixes.iter().map(|p| p.to_string().into()));
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(&sql)?;
            let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
            while let Some(row) = rows.next()? {
                if !f(to_entry(entry_from_row(row)?)?) {
                    break;
                }
            }
            Ok(())
        })
    }

    fn entry(&self, seq: u64) -> Result<Option<StoredEntry>, StoreError> {
        self.with_reader(|conn| {
            conn.query_row(
                "SELECT seq, body, leaf_hash FROM events WHERE seq = ?1",
                params![seq],
                entry_from_row,
            )
            .optional()?
            .map(to_entry)
            .transpose()
        })
    }

    fn frontier_at(&self, size: u64) -> Result<Frontier, StoreError> {
        tree::frontier_at(self, size)
    }

    fn root_at(&self, size: u64) -> Result<Hash, StoreError> {
        tree::root_at(self, size)
    }

    fn inclusion_proof(&self, seq: u64, size: u64) -> Result<Vec<Hash>, StoreError> {
        tree::inclusion_proof(self, seq, size)
    }

    fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<Vec<Hash>, StoreError> {
        tree::consistency_proof(self, old_size, new_size)
    }

    fn save_checkpoint(&self, c: &StoredCheckpoint) -> Result<(), StoreError> {
        // Checkpoints are written through a short-lived connection: they are rare, and the log
        // writer's connection stays dedicated to appends. Two signers racing for the same size
        // (the periodic checkpointer and a request) both succeed if they signed the same root.
        // The path is opened anew: it must still name the database this store has open.
        self.files.check()?;
        let conn = open_connection(&self.path, false)?;
        conn.execute(
            "INSERT INTO checkpoints (size, root, note, created_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (size) DO NOTHING",
            params![c.size, &c.root[..], c.note, c.created_at],
        )?;
        let root: Vec<u8> =
            conn.query_row("SELECT root FROM checkpoints WHERE size = ?1", params![c.size], |r| r.get(0))?;
        if root != c.root {
            return Err(StoreError::Invalid(format!(
                "a checkpoint of size {} with a different root is already stored",
                c.size
            )));
        }
        Ok(())
    }

    fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.with_reader(|conn| {
            Ok(conn
                .query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| r.get(0))
                .optional()?)
        })
    }

    fn init_meta(&self, key: &str, value: &str) -> Result<String, StoreError> {
        self.files.check()?;
        let conn = open_connection(&self.path, false)?;
        conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?1, ?2)", params![key, value])?;
        Ok(conn.query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| r.get(0))?)
    }

    fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, StoreError> {
        self.checkpoints_after_opt(None, usize::MAX)
    }

    fn checkpoints_after(&self, after: u64, limit: usize) -> Result<Vec<StoredCheckpoint>, StoreError> {
        self.checkpoints_after_opt(Some(after), limit)
    }
    fn verify(&self, from: u64, to: Option<u64>, anchors: Vec<Anchor>) -> Result<VerifyReport, StoreError> {
        let size: u64 = self.with_reader(|conn| {
            Ok(conn.query_row("SELECT COALESCE(MAX(seq) + 1, 0) FROM events", [], |r| r.get(0))?)
        })?;
        crate::audit::verify_range(self, size, from, to, anchors, |end, whole| {
            self.with_reader(|conn| crate::audit::audit_stored(&ConnNodes(conn), from, end, whole))
        })
    }
}

impl crate::audit::StoredTree for ConnNodes<'_> {
    fn level_rows(
        &self,
        level: u32,
        from: u64,
        end: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Hash)>, StoreError> {
        let mut stmt = if level == 0 {
            self.0.prepare_cached(
                "SELECT seq, leaf_hash FROM events WHERE seq >= ?1 AND seq < ?2 AND ?3 = 0 ORDER BY seq LIMIT ?4",
            )?
        } else {
            self.0.prepare_cached(
                "SELECT idx, hash FROM merkle_nodes WHERE idx >= ?1 AND idx < ?2 AND level = ?3 ORDER BY idx LIMIT ?4",
            )?
        };
        let (from, end) = (from.min(i64::MAX as u64), end.min(i64::MAX as u64));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut rows = stmt.query(params![from, end, level, limit])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push((row.get::<_, u64>(0)?, blob_hash(&row.get::<_, Vec<u8>>(1)?)?));
        }
        Ok(out)
    }
    fn event_columns(
        &self,
        from: u64,
        end: u64,
        limit: usize,
    ) -> Result<Vec<crate::audit::EventColumns>, StoreError> {
        let mut stmt = self.0.prepare_cached(
            "SELECT seq, time, kind, actor_type, actor_id, body FROM events WHERE seq >= ?1 AND seq < ?2
             ORDER BY seq LIMIT ?3",
        )?;
        let (from, end) = (from.min(i64::MAX as u64), end.min(i64::MAX as u64));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut rows = stmt.query(params![from, end, limit])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(crate::audit::EventColumns {
                seq: row.get(0)?,
                time: row.get(1)?,
                kind: row.get(2)?,
                actor_type: row.get(3)?,
                actor_id: row.get(4)?,
                body: row.get(5)?,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gavel_ledger::clock::SystemClock;
    use gavel_ledger::event::Actor;
    use serde_json::json;
    use std::sync::atomic::AtomicU64;

    fn open(dir: &tempfile::TempDir) -> SqliteStore {
        SqliteStore::open(&dir.path().join("gavel.db"), Arc::new(SystemClock)).unwrap()
    }

    fn draft(i: u64) -> EventDraft {
        EventDraft::new("test.event", Actor::system("test"), json!({ "i": i })).unwrap()
    }

    fn op(id: &str, n: u64, expect: Expect) -> StateOp {
        StateOp::put("things", id, json!({ "n": n }), DocKeys::default(), expect)
    }

    #[test]
    fn the_wal_is_folded_back_by_the_background_checkpointer() {
        // The writer never checkpoints (wal_autocheckpoint=0); without the background thread
        // the WAL would hold every page written and the database file would stay empty.
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        for phase in 0..3u64 {
            let receivers: Vec<_> =
                (0..3000).map(|i| store.submit(draft(phase * 10_000 + i)).unwrap()).collect();
            for r in receivers {
                r.blocking_recv().unwrap().unwrap();
            }
            std::thread::sleep(WAL_CHECKPOINT_EVERY * 3);
        }
        let size = |name: &str| std::fs::metadata(dir.path().join(name)).map_or(0, |m| m.len());
        let (db, wal) = (size("gavel.db"), size("gavel.db-wal"));
        assert!(db > wal, "database file {db} bytes, WAL {wal} bytes: the WAL is not being checkpointed");
        assert!(store.verify(0, None, vec![]).unwrap().valid);
    }

    /// Sustained appends (8 writers, each document-changing like a decision) beside readers that
    /// keep querying: the WAL must stay within a bound. Counted in operations, not time.
    #[test]
    fn the_wal_stays_bounded_under_sustained_load_with_concurrent_readers() {
        const WRITERS: u64 = 8;
        const APPENDS_PER_WRITER: u64 = 2_500;
        const LIMIT: u64 = 4 * 1024 * 1024;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gavel.db");
        let store = Arc::new(SqliteStore::open_with_wal_limit(&path, Arc::new(SystemClock), LIMIT).unwrap());
        let wal_path = dir.path().join("gavel.db-wal");
        let wal_size = || std::fs::metadata(&wal_path).map_or(0, |m| m.len());
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (store, done) = (store.clone(), done.clone());
                std::thread::spawn(move || {
                    let mut reads = 0u64;
                    while !done.load(Ordering::Relaxed) {
                        let head = store.head().unwrap();
                        if head.size > 0 {
                            store.entry(head.size - 1).unwrap();
                        }
                        store.count_docs(&DocQuery::new("things", 100)).unwrap();
                        reads += 1;
                    }
                    reads
                })
            })
            .collect();
        let largest = Arc::new(AtomicU64::new(0));
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (store, largest, wal_path) = (store.clone(), largest.clone(), wal_path.clone());
                std::thread::spawn(move || {
                    for i in 0..APPENDS_PER_WRITER {
                        let n = w * APPENDS_PER_WRITER + i;
                        store
                            .append_with(draft(n), vec![op(&format!("doc-{}", n % 500), n, Expect::Any)])
                            .unwrap();
                        if i % 50 == 0 {
                            let size = std::fs::metadata(&wal_path).map_or(0, |m| m.len());
                            largest.fetch_max(size, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        done.store(true, Ordering::Relaxed);
        let reads: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
        assert!(reads > 0, "the readers ran beside the writers");
        let largest = largest.load(Ordering::Relaxed).max(wal_size());
        // The limit, plus what commits add while the checkpointer catches up (a rewind is forced
        // at twice the limit) and while a rewind waits for readers.
        assert!(
            largest <= 3 * LIMIT,
            "the WAL reached {largest} bytes (limit {LIMIT}): it is not being rewound"
        );
        assert!(store.verify(0, None, vec![]).unwrap().valid);
    }
}
