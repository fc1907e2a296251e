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
use crate::{AppendReceiver, Appended, CommitHealth, Head, Store, StoreError, StoredCheckpoint};
use gavel_ledger::clock::{format_time, Clock};
use gavel_ledger::event::{EventDraft, SealableDraft};
use gavel_ledger::hash::{leaf_hash, Hash, ZERO_HASH};
use gavel_ledger::merkle::{self, Frontier, NodeSource, StoredNode};
use gavel_ledger::verify::{Anchor, RangeVerifier, StoredEntry, VerifyReport};
use gavel_ledger::LedgerError;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Most events one transaction carries; bounds commit latency under a flood.
const MAX_BATCH: usize = 4096;

/// Longest a batch waits for more concurrent writers (well under one fsync).
const GATHER: Duration = Duration::from_micros(100);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
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
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', '1');
";

/// One append as the writer sees it. Everything that can be done without the chain head — the
/// event's canonical bytes, the documents' JSON text — is done on the caller's thread before the
/// request is queued, and the caller's JSON values are dropped there too: the single writer is
/// the serial part of every commit, so it only splices, checks versions and writes.
struct Request {
    kind: String,
    actor_type: &'static str,
    actor_id: String,
    sealable: SealableDraft,
    ops: Vec<PreparedOp>,
    purge: Option<Purge>,
    reply: tokio::sync::oneshot::Sender<Result<Appended, StoreError>>,
}

/// What the writer thread is asked to do. Appends travel unboxed (boxing would cost an
/// allocation per decision); probes are rare, so the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
enum Job {
    Append(Request),
    /// Commit a transaction that writes only `meta` (see [`Store::probe_commit`]).
    Probe(mpsc::Sender<Result<(), StoreError>>),
}

/// The outcomes of the writer's commits, shared with readers of [`Store::commit_health`].
/// Times are nanoseconds since `epoch` plus one (0: never), stored by the writer thread only and
/// strictly increasing, so "the failure is newer than the last success" is a comparison.
struct CommitTracker {
    epoch: Instant,
    last_ok: AtomicU64,
    last_failed: AtomicU64,
    /// Written only when a commit fails (never on the hot path).
    last_error: Mutex<String>,
    /// The WAL file's size after the writer's last commit.
    wal_bytes: AtomicU64,
}

impl CommitTracker {
    fn new() -> Self {
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

    fn succeeded(&self) {
        self.last_ok.store(self.tick(), Ordering::Release);
    }

    fn failed(&self, error: &StoreError) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = error.to_string();
        self.last_failed.store(self.tick(), Ordering::Release);
    }

    fn at(&self, tick: u64) -> Option<Instant> {
        (tick > 0).then(|| self.epoch + Duration::from_nanos(tick - 1))
    }

    fn health(&self, writer_running: bool) -> CommitHealth {
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
struct PreparedOp {
    collection: String,
    id: String,
    body: String,
    keys: DocKeys,
    expect: Expect,
}

impl Request {
    fn new(
        draft: EventDraft,
        ops: Vec<StateOp>,
        purge: Option<Purge>,
        reply: tokio::sync::oneshot::Sender<Result<Appended, StoreError>>,
    ) -> Result<Self, StoreError> {
        let sealable = SealableDraft::new(&draft)?;
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
        let conn = open_connection(path, false)?;
        conn.execute_batch(SCHEMA)?;
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

fn open_connection(path: &Path, read_only: bool) -> Result<Connection, StoreError> {
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
struct ConnNodes<'a>(&'a Connection);

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
        let (replies, items): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .map(|r| (r.reply, (r.kind, r.actor_type, r.actor_id, r.sealable, r.ops, r.purge)))
            .unzip();
        // The files are checked before (nothing is written into a file that is gone) and after the
        // commit (it landed in the files the paths name, so acknowledging it is true).
        let written = self
            .files
            .check()
            .and_then(|()| write_batch(&mut self.conn, &mut self.state, self.clock.as_ref(), &items))
            .and_then(|results| self.files.check().map(|()| results));
        match written {
            Ok(results) => {
                let head = Head { size: self.state.frontier.size(), root: self.state.frontier.root() };
                *self.head.write().unwrap_or_else(|p| p.into_inner()) = head;
                self.commits.succeeded();
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
                self.note_wal_size();
            }
            Err(e) => {
                // Nothing in this batch is acknowledged. The next batch starts from the old head,
                // or reloads it (`write_batch`) if this one committed before the files moved.
                self.state = before;
                tracing::error!(error = %e, "log commit failed; batch not acknowledged");
                self.commits.failed(&e);
                for reply in replies {
                    let _ = reply.send(Err(StoreError::Database(format!("commit failed: {e}"))));
                }
            }
        }
    }
}

/// Collects a batch: everything already queued, and — when the previous batch showed concurrent
/// writers — up to [`GATHER`] more waiting for as many requests as that batch had. Every commit
/// costs an fsync, and writers resubmit right after their acknowledgement, so a short wait turns
/// many small commits into one full one; a lone writer never waits. A probe ends the batch and
/// is run right after it.
fn gather(
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

type BatchItem = (String, &'static str, String, SealableDraft, Vec<PreparedOp>, Option<Purge>);

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
        let head = self.head()?;
        if size > head.size {
            return Err(StoreError::Invalid(format!(
                "tree size {size} is beyond the log size {}",
                head.size
            )));
        }
        self.with_reader(|conn| Ok(Frontier::from_source(&ConnNodes(conn), size)?))
    }

    fn root_at(&self, size: u64) -> Result<Hash, StoreError> {
        let head = self.head()?;
        if size > head.size {
            return Err(StoreError::Invalid(format!(
                "tree size {size} is beyond the log size {}",
                head.size
            )));
        }
        if size == head.size {
            return Ok(head.root);
        }
        self.with_reader(|conn| Ok(merkle::root(&ConnNodes(conn), size)?))
    }

    fn inclusion_proof(&self, seq: u64, size: u64) -> Result<Vec<Hash>, StoreError> {
        let head = self.head()?;
        if size > head.size || seq >= size {
            return Err(StoreError::Invalid(format!(
                "no inclusion proof for seq {seq} in a tree of size {size} (log size {})",
                head.size
            )));
        }
        self.with_reader(|conn| Ok(merkle::inclusion_proof(&ConnNodes(conn), seq, size)?))
    }

    fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<Vec<Hash>, StoreError> {
        let head = self.head()?;
        if new_size > head.size || old_size > new_size {
            return Err(StoreError::Invalid(format!(
                "no consistency proof from size {old_size} to {new_size} (log size {})",
                head.size
            )));
        }
        self.with_reader(|conn| Ok(merkle::consistency_proof(&ConnNodes(conn), old_size, new_size)?))
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
        // The size comes from the database, not the in-memory head, so rows removed behind the
        // server's back are seen.
        let size: u64 = self.with_reader(|conn| {
            Ok(conn.query_row("SELECT COALESCE(MAX(seq) + 1, 0) FROM events", [], |r| r.get(0))?)
        })?;
        let end = to.map_or(size, |t| t.min(size));
        if from > size {
            return Err(StoreError::Invalid(format!(
                "seq {from} is beyond the end of the log, which holds {size} event(s) (seqs 0..{size})"
            )));
        }
        if from > end {
            return Err(StoreError::Invalid(format!("range {from}..{end} is reversed")));
        }
        let prev = if from == 0 {
            ZERO_HASH
        } else {
            match self.entry(from - 1)? {
                Some(e) => e.leaf_hash,
                None => {
                    return Err(StoreError::Invalid(format!(
                        "seq {} (before the range) is missing",
                        from - 1
                    )))
                }
            }
        };
        let mut verifier = RangeVerifier::new(from, prev, anchors);
        crate::scan_verified(self, from, end, &mut verifier, &mut |_| {})?;
        let mut report = verifier.finish(end - from, size);
        // The stored Merkle nodes are what proofs and the writer's root (after a restart) are built
        // from: a node that disagrees with the events would be signed into the next checkpoint.
        // The indexed columns (time, kind, actor) are what queries and evidence filter on: a
        // column that disagrees with the signed bytes would hide or misfile an event.
        let fault = self.with_reader(|conn| {
            Ok(match audit_stored_nodes(conn, end, end == size)? {
                Some(f) => Some(f),
                None => audit_columns(conn, from, end)?,
            })
        })?;
        if let Some((first_seq, why)) = fault {
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
}

/// Checks that each stored event's indexed columns say what its canonical bytes say: the bytes
/// open with `{"actor":<the actor's JCS>,"data":` and end with
/// `,"kind":"<kind>","prev":"<64 hex>","seq":<seq>,"time":"<time>"}` (the canonical member order;
/// the bytes themselves were verified by the first pass). Purged payloads have nothing to compare.
fn audit_columns(conn: &Connection, from: u64, end: u64) -> Result<Option<(u64, String)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, time, kind, actor_type, actor_id, body FROM events WHERE seq >= ?1 AND seq < ?2 ORDER BY seq",
    )?;
    let mut rows = stmt.query(params![from, end])?;
    while let Some(row) = rows.next()? {
        let seq: u64 = row.get(0)?;
        let Some(body) = row.get::<_, Option<Vec<u8>>>(5)? else { continue };
        let (time, kind, actor_type, actor_id): (String, String, String, String) =
            (row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?);
        let actor = gavel_ledger::jcs::to_vec(&serde_json::json!({"id": actor_id, "type": actor_type}))?;
        let mut head = b"{\"actor\":".to_vec();
        head.extend_from_slice(&actor);
        head.extend_from_slice(b",\"data\":");
        let tail = format!("\",\"seq\":{seq},\"time\":{}}}", serde_json::Value::String(time.clone()));
        let kind_part = format!(",\"kind\":{},\"prev\":\"", serde_json::Value::String(kind.clone()));
        let kind_ok = body.len() >= tail.len() + 64 + kind_part.len() + head.len()
            && body.ends_with(tail.as_bytes())
            && body[..body.len() - tail.len() - 64].ends_with(kind_part.as_bytes());
        if !body.starts_with(&head) || !kind_ok {
            return Ok(Some((
                seq,
                format!(
                    "seq {seq}: the stored columns (time {time}, kind {kind}, actor {actor_type}:{actor_id}) \
                     disagree with the event's signed bytes: the columns were edited"
                ),
            )));
        }
    }
    Ok(None)
}

/// Recomputes every stored Merkle node over the first `size` leaves from the level below it (the
/// leaves, or the stored level `STORED_LEVEL_STRIDE` lower, already checked) and compares, one
/// level at a time with two ordered cursors (memory stays constant). `whole`: `size` is the whole
/// log, so no stored node may lie beyond it. Returns the first seq the first bad node covers and
/// why, or `None` when every stored node matches.
fn audit_stored_nodes(
    conn: &Connection,
    size: u64,
    whole: bool,
) -> Result<Option<(u64, String)>, StoreError> {
    let stride = merkle::STORED_LEVEL_STRIDE;
    let fan = 1usize << stride;
    let mut level = stride;
    while level < u64::BITS {
        let complete = size >> level;
        let mut stored =
            conn.prepare_cached("SELECT idx, hash FROM merkle_nodes WHERE level = ?1 ORDER BY idx")?;
        let mut stored = stored.query(params![level])?;
        let mut children = if level == stride {
            conn.prepare_cached("SELECT seq, leaf_hash FROM events WHERE seq < ?1 ORDER BY seq")?
        } else {
            conn.prepare_cached(
                "SELECT idx, hash FROM merkle_nodes WHERE level = ?2 AND idx < ?1 ORDER BY idx",
            )?
        };
        let child_count = complete << stride;
        let mut children = if level == stride {
            children.query(params![child_count])?
        } else {
            children.query(params![child_count, level - stride])?
        };
        let mut block = Vec::with_capacity(fan);
        for idx in 0..complete {
            let first_seq = idx << level;
            block.clear();
            while block.len() < fan {
                // Children are numbered like the nodes they feed: a gap is missing data.
                let child = (idx << stride) + block.len() as u64;
                match children.next()? {
                    Some(row) if row.get::<_, u64>(0)? == child => {
                        block.push(blob_hash(&row.get::<_, Vec<u8>>(1)?)?)
                    }
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
            let found = match stored.next()? {
                Some(row) => Some((row.get::<_, u64>(0)?, blob_hash(&row.get::<_, Vec<u8>>(1)?)?)),
                None => None,
            };
            match found {
                Some((i, hash)) if i == idx && hash == expected => {}
                Some((i, _)) if i == idx => {
                    return Ok(Some((
                        first_seq,
                        format!(
                            "stored Merkle node level {level} index {idx} (events {first_seq}..{}) does not match                              the events it covers: the stored tree was edited",
                            first_seq + (1u64 << level)
                        ),
                    )))
                }
                _ => {
                    return Ok(Some((first_seq, format!("stored Merkle node level {level} index {idx} is missing"))))
                }
            }
        }
        if let Some(row) = stored.next()?.filter(|_| whole) {
            let idx: u64 = row.get(0)?;
            return Ok(Some((
                size,
                format!(
                    "stored Merkle node level {level} index {idx} lies beyond the {size} events verified"
                ),
            )));
        }
        if complete == 0 {
            break;
        }
        level += stride;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gavel_ledger::clock::SystemClock;
    use gavel_ledger::event::{Actor, Event};
    use gavel_ledger::merkle::{verify_consistency, verify_inclusion, MemoryTree};
    use serde_json::json;

    fn open(dir: &tempfile::TempDir) -> SqliteStore {
        SqliteStore::open(&dir.path().join("gavel.db"), Arc::new(SystemClock)).unwrap()
    }

    fn draft(i: u64) -> EventDraft {
        EventDraft::new("test.event", Actor::system("test"), json!({ "i": i })).unwrap()
    }

    #[test]
    fn appends_are_contiguous_chained_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut tree = MemoryTree::new();
        {
            let store = open(&dir);
            for i in 0..100 {
                let a = store.append(draft(i)).unwrap();
                assert_eq!(a.seq, i);
                tree.push(a.leaf_hash);
            }
            assert_eq!(store.head().unwrap(), Head { size: 100, root: tree.root() });
        }
        let store = open(&dir);
        assert_eq!(store.head().unwrap(), Head { size: 100, root: tree.root() });
        let next = store.append(draft(100)).unwrap();
        assert_eq!(next.seq, 100);
        let e = Event::from_bytes(&store.entry(100).unwrap().unwrap().bytes.unwrap()).unwrap();
        assert_eq!(e.prev_hash().unwrap(), store.entry(99).unwrap().unwrap().leaf_hash);
        let r = store.verify(0, None, vec![]).unwrap();
        assert!(r.valid && r.verified == 101, "{r:?}");
    }

    #[test]
    fn proofs_from_stored_nodes_match_an_in_memory_tree() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
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

    #[test]
    fn scan_kinds_yields_only_the_kinds_asked_for_in_the_range() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
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

    #[test]
    fn concurrent_appends_are_group_committed_and_all_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(open(&dir));
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

    #[test]
    fn a_failed_commit_acknowledges_nothing_and_keeps_the_head() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        store.append(draft(0)).unwrap();
        let head = store.head().unwrap();
        // Inject a commit failure for one kind of event, through a second connection.
        let conn = Connection::open(dir.path().join("gavel.db")).unwrap();
        conn.execute_batch(
            "CREATE TRIGGER fail BEFORE INSERT ON events WHEN NEW.kind = 'test.fail'
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
        )
        .unwrap();
        let bad = EventDraft::new("test.fail", Actor::system("test"), json!({})).unwrap();
        let err = store.append(bad).unwrap_err();
        assert!(err.to_string().contains("injected failure"), "{err}");
        assert_eq!(store.head().unwrap(), head);
        assert_eq!(store.append(draft(1)).unwrap().seq, 1);
        assert!(store.verify(0, None, vec![]).unwrap().valid);
    }

    #[test]
    fn commit_health_follows_the_last_commit_and_probes_append_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let fresh = store.commit_health();
        assert!(fresh.writer_running && fresh.last_ok.is_none() && fresh.failing.is_none(), "{fresh:?}");
        store.append(draft(0)).unwrap();
        let head = store.head().unwrap();
        store.probe_commit().unwrap();
        assert_eq!(store.head().unwrap(), head, "a probe appends no event");
        assert!(store.commit_health().failing.is_none());
        // Every write fails, the probe's included.
        let conn = Connection::open(dir.path().join("gavel.db")).unwrap();
        conn.execute_batch(
            "CREATE TRIGGER fail_events BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'injected failure'); END;
             CREATE TRIGGER fail_meta BEFORE UPDATE ON meta BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
        )
        .unwrap();
        assert!(store.append(draft(1)).is_err());
        let failing = store.commit_health();
        assert!(failing.failing.as_deref().is_some_and(|e| e.contains("injected failure")), "{failing:?}");
        assert!(failing.last_failed > failing.last_ok, "{failing:?}");
        assert!(store.probe_commit().is_err());
        assert!(store.commit_health().failing.is_some());
        conn.execute_batch("DROP TRIGGER fail_events; DROP TRIGGER fail_meta;").unwrap();
        store.probe_commit().unwrap();
        let healed = store.commit_health();
        assert!(healed.failing.is_none() && healed.last_ok > healed.last_failed, "{healed:?}");
        assert_eq!(store.head().unwrap(), head);
        assert!(store.verify(0, None, vec![]).unwrap().valid);
    }

    #[test]
    fn two_writers_on_one_database_extend_one_chain() {
        // A CLI command appending beside a running server: each writer reloads the head it missed.
        let dir = tempfile::tempdir().unwrap();
        let a = open(&dir);
        let b = open(&dir);
        for i in 0..20 {
            let w = if i % 3 == 0 { &a } else { &b };
            assert_eq!(w.append(draft(i)).unwrap().seq, i);
        }
        let r = a.verify(0, None, vec![]).unwrap();
        assert!(r.valid && r.total == 20, "{r:?}");
    }

    #[test]
    fn tampering_through_sql_is_located() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        for i in 0..20 {
            store.append(draft(i)).unwrap();
        }
        let conn = Connection::open(dir.path().join("gavel.db")).unwrap();
        conn.execute("UPDATE events SET body = CAST(replace(CAST(body AS TEXT), '\"i\":7', '\"i\":8') AS BLOB) WHERE seq = 7", [])
            .unwrap();
        let r = store.verify(0, None, vec![]).unwrap();
        assert_eq!((r.valid, r.first_break, r.verified), (false, Some(7), 7));
        // A range that ends before the edit still verifies.
        assert!(store.verify(0, Some(7), vec![]).unwrap().valid);
        conn.execute("DELETE FROM events WHERE seq = 3", []).unwrap();
        assert_eq!(store.verify(0, None, vec![]).unwrap().first_break, Some(3));
        assert!(store.verify(30, None, vec![]).is_err());
    }

    #[test]
    fn edited_columns_are_located() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        for i in 0..20 {
            store.append(draft(i)).unwrap();
        }
        let conn = Connection::open(dir.path().join("gavel.db")).unwrap();
        for (column, value, seq) in [
            ("kind", "test.hidden", 4u64),
            ("actor_id", "someone-else", 9),
            ("actor_type", "user", 11),
            ("time", "2020-01-01T00:00:00.000000Z", 13),
        ] {
            let good: String = conn
                .query_row(&format!("SELECT {column} FROM events WHERE seq = ?1"), [seq], |r| r.get(0))
                .unwrap();
            conn.execute(&format!("UPDATE events SET {column} = ?1 WHERE seq = ?2"), params![value, seq])
                .unwrap();
            let r = store.verify(0, None, vec![]).unwrap();
            assert_eq!((r.valid, r.first_break), (false, Some(seq)), "{column}: {r:?}");
            assert!(r.reason.as_deref().unwrap().contains("columns"), "{r:?}");
            conn.execute(&format!("UPDATE events SET {column} = ?1 WHERE seq = ?2"), params![good, seq])
                .unwrap();
        }
        assert!(store.verify(0, None, vec![]).unwrap().valid);
    }

    #[test]
    fn a_corrupted_stored_merkle_node_is_located() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        for i in 0..300 {
            store.append(draft(i)).unwrap();
        }
        assert!(store.verify(0, None, vec![]).unwrap().valid);
        let conn = Connection::open(dir.path().join("gavel.db")).unwrap();
        // Level 4 index 5 covers events 80..96; level 8 index 0 covers 0..256.
        for (level, idx, first) in [(4u32, 5u64, 80u64), (8, 0, 0)] {
            let good: Vec<u8> = conn
                .query_row(
                    "SELECT hash FROM merkle_nodes WHERE level = ?1 AND idx = ?2",
                    params![level, idx],
                    |r| r.get(0),
                )
                .unwrap();
            conn.execute(
                "UPDATE merkle_nodes SET hash = ?3 WHERE level = ?1 AND idx = ?2",
                params![level, idx, [7u8; 32]],
            )
            .unwrap();
            let r = store.verify(0, None, vec![]).unwrap();
            assert_eq!((r.valid, r.first_break), (false, Some(first)), "{r:?}");
            assert!(r.reason.as_deref().unwrap().contains(&format!("level {level} index {idx}")), "{r:?}");
            conn.execute(
                "UPDATE merkle_nodes SET hash = ?3 WHERE level = ?1 AND idx = ?2",
                params![level, idx, good],
            )
            .unwrap();
        }
        assert!(store.verify(0, None, vec![]).unwrap().valid);
        conn.execute("DELETE FROM merkle_nodes WHERE level = 4 AND idx = 17", []).unwrap();
        let r = store.verify(0, None, vec![]).unwrap();
        assert_eq!((r.valid, r.first_break), (false, Some(272)), "{r:?}");
        conn.execute(
            "INSERT INTO merkle_nodes (level, idx, hash) VALUES (4, 17, ?1), (4, 40, ?1)",
            params![[1u8; 32]],
        )
        .unwrap();
        assert!(!store.verify(0, None, vec![]).unwrap().valid);
        // A range that ends before the stored node verifies.
        assert!(store.verify(0, Some(272), vec![]).unwrap().valid);
    }

    fn op(id: &str, n: u64, expect: Expect) -> StateOp {
        let keys = DocKeys { k1: Some(format!("agent-{}", n % 2)), k2: None, k3: Some("allow".into()) };
        StateOp::put("things", id, json!({ "n": n }), keys, expect)
    }

    #[test]
    fn documents_change_with_their_event_and_carry_its_seq() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let a = store.append_with(draft(0), vec![op("x", 0, Expect::Absent)]).unwrap();
        let doc = store.get_doc("things", "x").unwrap().unwrap();
        assert_eq!((doc.version, doc.seq, doc.body.clone()), (1, a.seq, json!({"n": 0})));
        let b = store.append_with(draft(1), vec![op("x", 1, Expect::Version(1))]).unwrap();
        let doc = store.get_doc("things", "x").unwrap().unwrap();
        assert_eq!((doc.version, doc.seq, doc.time), (2, b.seq, b.time));
        assert!(store.get_doc("things", "y").unwrap().is_none());
        assert!(store.get_doc("other", "x").unwrap().is_none());
    }

    #[test]
    fn several_documents_are_read_at_once_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        store.append_with(draft(0), vec![op("a", 1, Expect::Absent), op("b", 2, Expect::Absent)]).unwrap();
        let got = store.get_docs(&[("things", "b"), ("things", "missing"), ("things", "a")]).unwrap();
        let bodies: Vec<_> = got.iter().map(|d| d.as_ref().map(|d| d.body.clone())).collect();
        assert_eq!(bodies, [Some(json!({"n": 2})), None, Some(json!({"n": 1}))]);
        assert!(store.get_docs(&[]).unwrap().is_empty());
    }

    #[test]
    fn a_failed_precondition_writes_neither_event_nor_state() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
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

    #[test]
    fn concurrent_compare_and_set_has_exactly_one_winner() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(open(&dir));
        store.append_with(draft(0), vec![op("x", 0, Expect::Absent)]).unwrap();
        let receivers: Vec<_> = (0..20)
            .map(|i| store.submit_with(draft(i), vec![op("x", i, Expect::Version(1))]).unwrap())
            .collect();
        let results: Vec<_> = receivers.into_iter().map(|r| r.blocking_recv().unwrap()).collect();
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
        assert!(results.iter().filter(|r| r.is_err()).all(|r| matches!(r, Err(StoreError::Conflict(_)))));
        assert_eq!(store.head().unwrap().size, 2);
        assert!(store.verify(0, None, vec![]).unwrap().valid);
    }

    #[test]
    fn first_seqs_by_k2_gives_each_k2_its_smallest_seq_under_the_filter() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        // (k1, k2): agent-0 calls a, b, a, c; agent-1 calls a; one document without a k2.
        let calls =
            [("agent-0", Some("a")), ("agent-1", Some("a")), ("agent-0", Some("b")), ("agent-0", None)];
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
        assert_eq!(
            firsts,
            [("a".to_string(), seqs[0]), ("b".to_string(), seqs[2]), ("c".to_string(), seqs[5])]
        );
        q.max_seq = Some(seqs[4]);
        let mut firsts = store.first_seqs_by_k2(&q).unwrap();
        firsts.sort();
        assert_eq!(firsts, [("a".to_string(), seqs[0]), ("b".to_string(), seqs[2])]);
        q.k1 = Some("agent-2".into());
        assert!(store.first_seqs_by_k2(&q).unwrap().is_empty());
    }

    #[test]
    fn queries_filter_page_and_count() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
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

    #[test]
    fn checkpoints_are_stored_once_per_size() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
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

    #[test]
    fn a_purge_clears_payloads_and_docs_with_its_record_and_the_log_still_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
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
        let conn = Connection::open(dir.path().join("gavel.db")).unwrap();
        conn.execute("UPDATE events SET body = NULL WHERE seq = 8", []).unwrap();
        let r = store.verify(0, None, vec![]).unwrap();
        assert_eq!(r.first_break, Some(8), "{r:?}");
    }

    #[test]
    fn a_purge_with_a_wrong_count_or_range_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        for i in 0..5 {
            store.append(draft(i)).unwrap();
        }
        let send =
            |p: Purge| store.submit_purge(record(&p.ranges), vec![], p).unwrap().blocking_recv().unwrap();
        assert!(matches!(send(purge(vec![(0, 3)], 2)), Err(StoreError::Conflict(_))));
        assert!(
            matches!(send(purge(vec![(0, 6)], 6)), Err(StoreError::Invalid(_))),
            "reaches its own record"
        );
        assert!(matches!(send(purge(vec![(3, 3)], 0)), Err(StoreError::Invalid(_))), "empty range");
        assert_eq!(store.head().unwrap().size, 5);
        assert_eq!(store.count_payloads(0, 5, &[]).unwrap(), 5);
    }

    #[test]
    fn first_seq_at_splits_the_log_by_time() {
        let dir = tempfile::tempdir().unwrap();
        let clock =
            Arc::new(gavel_ledger::clock::ManualClock::new(time::macros::datetime!(2026-01-01 0:00 UTC)));
        let store = SqliteStore::open(&dir.path().join("gavel.db"), clock.clone()).unwrap();
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
}
