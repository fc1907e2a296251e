//! The PostgreSQL store: several gavel replicas append to one log in one database.
//!
//! Like the SQLite store, one writer thread per process owns a connection and gathers concurrent
//! appends into one transaction (group commit). Across processes the chain head is serialized in
//! the database: every write transaction first takes the transaction-scoped advisory lock
//! [`APPEND_LOCK`], then reads the last event; if another replica appended since this writer's
//! last batch, it reloads the head (last leaf, last time, Merkle frontier from the stored nodes)
//! before extending it. The lock is released by COMMIT or ROLLBACK, so a replica that dies mid
//! batch never holds it. `events.seq` is the primary key: even a writer that skipped the lock could
//! not fork the chain, only fail. Compare-and-set on documents reads versions under the same lock,
//! so "decided at most once" holds across replicas. A batch's time is never earlier than the last
//! event's (read from the database, so replicas' clocks cannot reorder the log).
//!
//! A commit is acknowledged only after PostgreSQL's COMMIT returned (durable with the server's
//! default `synchronous_commit = on`); a failed or unknown commit acknowledges nothing. A lost
//! connection is re-opened at the next batch, so the store recovers when the database returns.
//!
//! Background work runs once across replicas through leases ([`Store::acquire_lease`]): a row per
//! lease with its holder and an expiry in the database's clock, taken over only once expired.
//!
//! The client is `tokio-postgres` on a small runtime the store owns (it drives the connections'
//! sockets); the store's synchronous API polls the client's futures on the calling thread
//! (`futures_executor::block_on`), which is allowed inside the server's async tasks where tokio's
//! own `block_on` is not. TLS (rustls) is used when the server offers it (`sslmode=prefer`, the
//! default) or required (`sslmode=require`); the server's certificate is always verified against
//! the platform's roots and `sslrootcert` ([`split_tls_options`]).

use crate::audit::{self, EventColumns, StoredTree};
use crate::docs::{self, Doc, DocKeys, DocQuery, Expect, Purge, StateOp};
use crate::tree;
use crate::writer::{answer_batch, gather, split_batch, BatchItem, CommitTracker, Job, PreparedOp, Request};
use crate::{AppendReceiver, Appended, CommitHealth, Head, Store, StoreError, StoredCheckpoint};
use futures_util::future::join4;
use gavel_ledger::clock::{format_time, Clock};
use gavel_ledger::event::EventDraft;
use gavel_ledger::hash::{leaf_hash, Hash, ZERO_HASH};
use gavel_ledger::merkle::{self, Frontier, NodeSource, StoredNode};
use gavel_ledger::verify::{Anchor, StoredEntry, VerifyReport};
use gavel_ledger::LedgerError;
use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{mpsc, Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;

/// The advisory lock every write transaction takes first: one appender at a time across replicas.
pub(crate) const APPEND_LOCK: i64 = 0x6761_7665_6c5f_6c67; // "gavel_lg"

/// The advisory lock migrations run under, so replicas starting together migrate once.
const MIGRATE_LOCK: i64 = 0x6761_7665_6c5f_6d67; // "gavel_mg"

/// How long connecting may take before the store reports the database unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Idle read connections kept per process (more are opened under load and closed after).
const MAX_IDLE_READERS: usize = 8;

/// Versioned schema changes, applied in order on open (see [`PgStore::open`]); text columns that
/// are compared or ordered use the "C" collation, so they order bytewise as SQLite's do.
const MIGRATIONS: &[(i64, &str)] = &[(
    1,
    r#"
CREATE TABLE events (
    seq        BIGINT PRIMARY KEY,
    time       TEXT COLLATE "C" NOT NULL,
    kind       TEXT COLLATE "C" NOT NULL,
    actor_type TEXT COLLATE "C" NOT NULL,
    actor_id   TEXT COLLATE "C" NOT NULL,
    leaf_hash  BYTEA NOT NULL,
    body       BYTEA            -- JCS bytes; NULL once purged past retention
);
CREATE TABLE merkle_nodes (
    level INTEGER NOT NULL,
    idx   BIGINT NOT NULL,
    hash  BYTEA NOT NULL,
    PRIMARY KEY (level, idx)
);
CREATE TABLE checkpoints (
    size       BIGINT PRIMARY KEY,
    root       BYTEA NOT NULL,
    note       TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE docs (
    collection TEXT COLLATE "C" NOT NULL,
    id         TEXT COLLATE "C" NOT NULL,
    version    BIGINT NOT NULL,
    seq        BIGINT NOT NULL,
    time       TEXT COLLATE "C" NOT NULL,
    k1 TEXT COLLATE "C", k2 TEXT COLLATE "C", k3 TEXT COLLATE "C",
    body       TEXT NOT NULL,
    PRIMARY KEY (collection, id)
);
CREATE INDEX docs_time ON docs(collection, time, seq);
CREATE INDEX docs_k1 ON docs(collection, k1, time, seq);
CREATE INDEX docs_k2 ON docs(collection, k2, time, seq);
CREATE INDEX docs_k3 ON docs(collection, k3, time, seq);
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
"#,
)];

fn pg(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => StoreError::Database(format!("{} ({})", db.message(), db.code().code())),
        None => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                text.push_str(&format!(": {s}"));
                source = s.source();
            }
            StoreError::Database(text)
        }
    }
}

/// Polls a client future to completion on this thread (see the module documentation).
fn wait<F: Future>(f: F) -> F::Output {
    futures_executor::block_on(f)
}

pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Integrity(format!("a stored number is negative ({v})")))
}

fn hash_of(b: &[u8]) -> Result<Hash, StoreError> {
    b.try_into().map_err(|_| StoreError::Integrity(format!("stored hash has {} bytes, not 32", b.len())))
}

/// One connection with its prepared statements (like rusqlite's `prepare_cached`).
pub(crate) struct Conn {
    client: Client,
    statements: HashMap<String, Statement>,
}

impl Conn {
    fn statement(&mut self, sql: &str) -> Result<Statement, StoreError> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = wait(self.client.prepare(sql)).map_err(pg)?;
        self.statements.insert(sql.to_string(), s.clone());
        Ok(s)
    }

    pub(crate) fn query(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        let statement = self.statement(sql)?;
        wait(self.client.query(&statement, params)).map_err(pg)
    }

    pub(crate) fn query_opt(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, StoreError> {
        let statement = self.statement(sql)?;
        wait(self.client.query_opt(&statement, params)).map_err(pg)
    }

    pub(crate) fn execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, StoreError> {
        let statement = self.statement(sql)?;
        wait(self.client.execute(&statement, params)).map_err(pg)
    }

    pub(crate) fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        wait(self.client.batch_execute(sql)).map_err(pg)
    }

    /// The log's size: one past the last seq.
    pub(crate) fn log_size(&mut self) -> Result<u64, StoreError> {
        let row = self.query_opt("SELECT seq FROM events ORDER BY seq DESC LIMIT 1", &[])?;
        row.map_or(Ok(0), |r| Ok(to_u64(r.get(0))? + 1))
    }
}

/// Opens connections to one database; owns the runtime that drives their sockets.
struct Connector {
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Connector {
    fn new(url: &str) -> Result<Self, StoreError> {
        let (url, root_cert) = split_tls_options(url)?;
        let mut config: tokio_postgres::Config =
            url.parse().map_err(|e| StoreError::Invalid(format!("database URL: {e}")))?;
        config.connect_timeout(CONNECT_TIMEOUT);
        config.application_name("gavel");
        let tls = tls_connector(root_cert.as_deref())?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("gavel-postgres")
            .enable_all()
            .build()?;
        Ok(Connector { config, tls, runtime: Some(runtime) })
    }

    fn connect(&self) -> Result<Conn, StoreError> {
        let runtime = self.runtime.as_ref().ok_or(StoreError::WriterGone)?;
        let (config, tls) = (self.config.clone(), self.tls.clone());
        let connecting = runtime.spawn(async move {
            let (client, connection) = config.connect(tls).await?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::warn!(error = %e, "PostgreSQL connection closed");
                }
            });
            Ok::<_, tokio_postgres::Error>(client)
        });
        let client = wait(connecting)
            .map_err(|e| StoreError::Database(format!("connecting to PostgreSQL: {e}")))?
            .map_err(|e| match pg(e) {
                StoreError::Database(m) => StoreError::Database(format!("connecting to PostgreSQL: {m}")),
                other => other,
            })?;
        Ok(Conn { client, statements: HashMap::new() })
    }
}

impl Drop for Connector {
    fn drop(&mut self) {
        // Never blocks (the store may be dropped inside an async task, where a blocking runtime
        // shutdown panics); open connections close with their sockets.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Takes the TLS options gavel handles itself out of a database URL: `sslrootcert=PATH` (PEM
/// certificates of the CAs to trust, beside the platform's), and `sslmode=verify-ca` or
/// `verify-full` (libpq's names), which become `require`: with TLS, the server's certificate is
/// always verified, host name included. `sslmode=disable|prefer|require` pass through (`prefer`,
/// the default, uses TLS when the server offers it).
fn split_tls_options(url: &str) -> Result<(String, Option<std::path::PathBuf>), StoreError> {
    let Some((base, query)) = url.split_once('?') else { return Ok((url.to_string(), None)) };
    let mut kept = Vec::new();
    let mut root_cert = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("sslrootcert", path)) => root_cert = Some(std::path::PathBuf::from(percent_decode(path)?)),
            Some(("sslmode", "verify-ca" | "verify-full")) => kept.push("sslmode=require".to_string()),
            _ => kept.push(pair.to_string()),
        }
    }
    let url = if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
    Ok((url, root_cert))
}

fn percent_decode(text: &str) -> Result<String, StoreError> {
    let bad = || StoreError::Invalid(format!("database URL: bad percent-encoding in {text:?}"));
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next().ok_or_else(bad)?, bytes.next().ok_or_else(bad)?];
            let hex = std::str::from_utf8(&hex).map_err(|_| bad())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

/// rustls with the ring provider, trusting the platform's roots and those of `root_cert`.
fn tls_connector(root_cert: Option<&std::path::Path>) -> Result<MakeRustlsConnect, StoreError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    // Platform roots that cannot be read are skipped: a private CA comes from `sslrootcert`.
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = root_cert {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| StoreError::Invalid(format!("sslrootcert {}: {e}", path.display())))?;
        if certs.is_empty() {
            return Err(StoreError::Invalid(format!(
                "sslrootcert {}: no PEM certificate in it",
                path.display()
            )));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| StoreError::Invalid(format!("sslrootcert {}: {e}", path.display())))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Invalid(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// Reads Merkle nodes over one connection: leaves from `events`, stored levels from `merkle_nodes`.
struct ConnNodes<'a>(RefCell<&'a mut Conn>);

impl NodeSource for ConnNodes<'_> {
    fn nodes(&self, level: u32, start: u64, end: u64) -> Result<Vec<Hash>, LedgerError> {
        let rows =
            self.level_rows(level, start, end, usize::MAX).map_err(|e| LedgerError::Source(e.to_string()))?;
        if rows.len() as u64 != end.saturating_sub(start) {
            return Err(LedgerError::Source(format!(
                "level {level} nodes {start}..{end}: found {} of {} (the store is missing Merkle data)",
                rows.len(),
                end.saturating_sub(start)
            )));
        }
        Ok(rows.into_iter().map(|(_, h)| h).collect())
    }
}

impl StoredTree for ConnNodes<'_> {
    fn level_rows(
        &self,
        level: u32,
        from: u64,
        end: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Hash)>, StoreError> {
        let mut conn = self.0.borrow_mut();
        let (from, end, limit) = (to_i64(from), to_i64(end), i64::try_from(limit).unwrap_or(i64::MAX));
        let rows = if level == 0 {
            conn.query(
                "SELECT seq, leaf_hash FROM events WHERE seq >= $1 AND seq < $2 ORDER BY seq LIMIT $3",
                &[&from, &end, &limit],
            )?
        } else {
            let level = i32::try_from(level).unwrap_or(i32::MAX);
            conn.query(
                "SELECT idx, hash FROM merkle_nodes WHERE level = $1 AND idx >= $2 AND idx < $3 ORDER BY idx LIMIT $4",
                &[&level, &from, &end, &limit],
            )?
        };
        rows.iter().map(|r| Ok((to_u64(r.get(0))?, hash_of(r.get(1))?))).collect()
    }
    fn event_columns(&self, from: u64, end: u64, limit: usize) -> Result<Vec<EventColumns>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.0.borrow_mut().query(
            "SELECT seq, time, kind, actor_type, actor_id, body FROM events WHERE seq >= $1 AND seq < $2
             ORDER BY seq LIMIT $3",
            &[&to_i64(from), &to_i64(end), &limit],
        )?;
        rows.iter()
            .map(|row| {
                Ok(EventColumns {
                    seq: to_u64(row.get(0))?,
                    time: row.get(1),
                    kind: row.get(2),
                    actor_type: row.get(3),
                    actor_id: row.get(4),
                    body: row.get(5),
                })
            })
            .collect()
    }
}

/// The writer's view of the chain head.
#[derive(Clone)]
struct ChainState {
    frontier: Frontier,
    prev: Hash,
    last_time: String,
}

impl ChainState {
    fn load(conn: &mut Conn) -> Result<Self, StoreError> {
        let last =
            conn.query_opt("SELECT seq, leaf_hash, time FROM events ORDER BY seq DESC LIMIT 1", &[])?;
        let Some(last) = last else {
            return Ok(ChainState { frontier: Frontier::new(), prev: ZERO_HASH, last_time: String::new() });
        };
        let size = to_u64(last.get(0))? + 1;
        let prev = hash_of(last.get(1))?;
        let last_time: String = last.get(2);
        let frontier = Frontier::from_source(&ConnNodes(RefCell::new(conn)), size)?;
        Ok(ChainState { frontier, prev, last_time })
    }
}

/// A document's state after a batch's changes, written once per batch.
struct DocWrite {
    version: u64,
    seq: u64,
    keys: DocKeys,
    body: String,
}

/// PostgreSQL-backed [`Store`].
pub struct PgStore {
    connector: Arc<Connector>,
    sender: Option<mpsc::Sender<Job>>,
    writer: Option<JoinHandle<()>>,
    head: Arc<RwLock<Head>>,
    commits: Arc<CommitTracker>,
    readers: Mutex<Vec<Conn>>,
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user@host:port/db`), applies the pending
    /// migrations and starts the log writer. Fails if the database's schema is newer than this
    /// build knows.
    pub fn open(url: &str, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        let connector = Arc::new(Connector::new(url)?);
        let mut conn = connector.connect()?;
        migrate(&mut conn)?;
        let state = ChainState::load(&mut conn)?;
        let head = Arc::new(RwLock::new(Head { size: state.frontier.size(), root: state.frontier.root() }));
        let commits = Arc::new(CommitTracker::new());
        let (sender, receiver) = mpsc::channel();
        let writer = Writer {
            connector: connector.clone(),
            conn: Some(conn),
            state,
            clock,
            head: head.clone(),
            commits: commits.clone(),
        };
        let handle = std::thread::Builder::new()
            .name("gavel-log-writer".into())
            .spawn(move || writer.run(receiver))?;
        Ok(PgStore {
            connector,
            sender: Some(sender),
            writer: Some(handle),
            head,
            commits,
            readers: Mutex::new(Vec::new()),
        })
    }

    /// Runs `f` with a pooled connection (a closed one is replaced first).
    pub(crate) fn with_conn<T>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pooled = {
            let mut idle = self.readers.lock().unwrap_or_else(|p| p.into_inner());
            idle.retain(|c| !c.client.is_closed());
            idle.pop()
        };
        let mut conn = match pooled {
            Some(c) => c,
            None => self.connector.connect()?,
        };
        let result = f(&mut conn);
        if !conn.client.is_closed() {
            let mut idle = self.readers.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < MAX_IDLE_READERS {
                idle.push(conn);
            }
        }
        result
    }

    /// Runs `f` in one read-only snapshot (REPEATABLE READ), so several reads agree.
    fn with_snapshot<T>(&self, f: impl FnOnce(&mut Conn) -> Result<T, StoreError>) -> Result<T, StoreError> {
        self.with_conn(|conn| {
            conn.batch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
            let result = f(conn);
            let end = conn.batch("COMMIT");
            let value = result?;
            end?;
            Ok(value)
        })
    }

    fn send(&self, job: Job) -> Result<(), StoreError> {
        let sender = self.sender.as_ref().ok_or(StoreError::WriterGone)?;
        sender.send(job).map_err(|_| StoreError::WriterGone)
    }

    /// Stops accepting appends, commits everything already queued, and waits for the writer.
    pub fn shutdown(&mut self) {
        self.sender.take();
        if let Some(handle) = self.writer.take() {
            let _ = handle.join();
        }
    }

    fn checkpoints_after_opt(&self, after: i64, limit: usize) -> Result<Vec<StoredCheckpoint>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with_conn(|conn| {
            let rows = conn.query(
                "SELECT size, root, note, created_at FROM checkpoints WHERE size > $1 ORDER BY size LIMIT $2",
                &[&after, &limit],
            )?;
            rows.iter()
                .map(|r| {
                    Ok(StoredCheckpoint {
                        size: to_u64(r.get(0))?,
                        root: hash_of(r.get(1))?,
                        note: r.get(2),
                        created_at: r.get(3),
                    })
                })
                .collect()
        })
    }

    fn scan_where(
        &self,
        from: u64,
        to: u64,
        kind_filter: &str,
        kind_args: &[String],
        f: &mut dyn FnMut(StoredEntry) -> bool,
    ) -> Result<(), StoreError> {
        // Read in seq windows: a scan of the whole log never holds it in memory.
        const WINDOW: u64 = 8192;
        let sql = format!(
            "SELECT seq, body, leaf_hash FROM events WHERE seq >= $1 AND seq < $2{kind_filter} ORDER BY seq"
        );
        self.with_conn(|conn| {
            let size = conn.log_size()?;
            let end = to.min(size);
            let mut at = from;
            while at < end {
                let upto = at.saturating_add(WINDOW).min(end);
                let (lo, hi) = (to_i64(at), to_i64(upto));
                let mut params: Vec<&(dyn ToSql + Sync)> = vec![&lo, &hi];
                params.extend(kind_args.iter().map(|a| a as &(dyn ToSql + Sync)));
                for row in conn.query(&sql, &params)? {
                    let entry = StoredEntry {
                        seq: to_u64(row.get(0))?,
                        bytes: row.get(1),
                        leaf_hash: hash_of(row.get(2))?,
                    };
                    if !f(entry) {
                        return Ok(());
                    }
                }
                at = upto;
            }
            Ok(())
        })
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Applies the migrations above the database's `schema_version`, under [`MIGRATE_LOCK`], in one
/// transaction (PostgreSQL's DDL is transactional: a failed migration leaves nothing behind).
fn migrate(conn: &mut Conn) -> Result<(), StoreError> {
    conn.batch("BEGIN")?;
    let result = (|| {
        conn.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATE_LOCK])?;
        conn.batch(
            r#"CREATE TABLE IF NOT EXISTS meta (key TEXT COLLATE "C" PRIMARY KEY, value TEXT NOT NULL)"#,
        )?;
        let current = conn
            .query_opt("SELECT value FROM meta WHERE key = 'schema_version'", &[])?
            .map(|r| r.get::<_, String>(0))
            .map(|v| v.parse::<i64>().map_err(|_| StoreError::Integrity(format!("schema_version {v:?}"))))
            .transpose()?
            .unwrap_or(0);
        let latest = MIGRATIONS.last().map_or(0, |m| m.0);
        if current > latest {
            return Err(StoreError::Invalid(format!(
                "the database's schema is version {current}, newer than this gavel knows ({latest}): \
                 run a gavel at least as new as the one that migrated it"
            )));
        }
        for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
            conn.batch(sql)?;
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', $1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[&version.to_string()],
            )?;
            tracing::info!(version, "PostgreSQL schema migrated");
        }
        Ok(())
    })();
    match result {
        Ok(()) => conn.batch("COMMIT"),
        Err(e) => {
            let _ = conn.batch("ROLLBACK");
            Err(e)
        }
    }
}

struct Writer {
    connector: Arc<Connector>,
    /// `None` after the connection was lost: the next job opens a new one.
    conn: Option<Conn>,
    state: ChainState,
    clock: Arc<dyn Clock>,
    head: Arc<RwLock<Head>>,
    commits: Arc<CommitTracker>,
}

impl Writer {
    fn run(mut self, receiver: mpsc::Receiver<Job>) {
        let mut last_batch = 0;
        while let Ok(job) = receiver.recv() {
            match job {
                Job::Probe(reply) => self.probe(reply),
                Job::Append(first) => {
                    let (batch, probe) = gather(&receiver, first, last_batch);
                    last_batch = batch.len();
                    self.commit(batch);
                    if let Some(reply) = probe {
                        self.probe(reply);
                    }
                }
            }
        }
    }

    /// The writer's connection, re-opened if it was lost.
    fn conn(&mut self) -> Result<&mut Conn, StoreError> {
        if self.conn.as_ref().is_some_and(|c| c.client.is_closed()) {
            self.conn = None;
        }
        if self.conn.is_none() {
            self.conn = Some(self.connector.connect()?);
        }
        self.conn.as_mut().ok_or(StoreError::WriterGone)
    }

    /// Runs `f`, which begins and commits one write transaction; rolls it back if `f` fails, and
    /// keeps the chain state `f` extended only if it committed.
    fn transaction<T>(
        &mut self,
        f: impl FnOnce(&mut Conn, &mut ChainState) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut state = self.state.clone();
        let conn = self.conn()?;
        match f(conn, &mut state) {
            Ok(value) => {
                self.state = state;
                Ok(value)
            }
            Err(e) => {
                if !conn.client.is_closed() {
                    let _ = conn.batch("ROLLBACK");
                }
                Err(e)
            }
        }
    }

    /// A write transaction that appends nothing (it rewrites one `meta` row): can anything commit?
    fn probe(&mut self, reply: mpsc::Sender<Result<(), StoreError>>) {
        let time = format_time(self.clock.now());
        let result = self.transaction(|conn, _| {
            conn.batch("BEGIN")?;
            conn.execute("SELECT pg_advisory_xact_lock($1)", &[&APPEND_LOCK])?;
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('writer_probe', $1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[&time],
            )?;
            conn.batch("COMMIT")
        });
        match &result {
            Ok(()) => self.commits.succeeded(),
            Err(e) => {
                tracing::error!(error = %e, "log writer probe failed: nothing can commit");
                self.commits.failed(e);
            }
        }
        let _ = reply.send(result);
    }

    /// Commits a batch: runs of plain appends in one transaction each, a purge alone in its own
    /// (it learns its count only by clearing, and undoing it is a rollback).
    fn commit(&mut self, batch: Vec<Request>) {
        let mut run: Vec<Request> = Vec::new();
        for request in batch {
            if request.purge.is_some() {
                self.commit_run(std::mem::take(&mut run));
                self.commit_run(vec![request]);
            } else {
                run.push(request);
            }
        }
        self.commit_run(run);
    }

    fn commit_run(&mut self, run: Vec<Request>) {
        if run.is_empty() {
            return;
        }
        let (replies, items) = split_batch(run);
        let clock = self.clock.clone();
        let written = self.transaction(|conn, state| write_batch(conn, state, clock.as_ref(), &items));
        // `transaction` keeps the old state unless the transaction committed.
        let head = Head { size: self.state.frontier.size(), root: self.state.frontier.root() };
        answer_batch(&self.commits, &self.head, head, replies, written);
    }
}

/// Writes one run of requests in one transaction, from BEGIN to COMMIT, in two round trips when
/// nothing unusual happens: BEGIN, the append lock, the last event and the current versions of
/// every document the run touches are sent together (pipelined on the one connection; PostgreSQL
/// runs them in order), then the three inserts and COMMIT are. The chain head is extended between
/// the two on this side. Another replica's appends (the head moved) cost extra round trips to
/// reload it, and a purge its savepoint's. The outer error fails the whole run (the caller rolls
/// back); an inner error (a compare-and-set conflict, a purge's wrong count) fails only its own
/// request, which then wrote nothing.
fn write_batch(
    conn: &mut Conn,
    state: &mut ChainState,
    clock: &dyn Clock,
    items: &[BatchItem],
) -> Result<Vec<Result<Appended, StoreError>>, StoreError> {
    let lock = conn.statement("SELECT pg_advisory_xact_lock($1)")?;
    let last_event = conn.statement("SELECT seq, time FROM events ORDER BY seq DESC LIMIT 1")?;
    let (keys, version_query) = version_lookup(conn, items)?;
    let (collections, ids): (Vec<&str>, Vec<&str>) =
        keys.iter().map(|(c, i)| (c.as_str(), i.as_str())).unzip();
    let client = &conn.client;
    let (begun, locked, last, found) = wait(join4(
        client.batch_execute("BEGIN"),
        client.execute(&lock, &[&APPEND_LOCK]),
        client.query_opt(&last_event, &[]),
        client.query(&version_query, &[&collections, &ids]),
    ));
    begun.map_err(pg)?;
    locked.map_err(pg)?;
    let last = last.map_err(pg)?;
    let mut versions: HashMap<(String, String), Option<u64>> =
        keys.iter().map(|k| (k.clone(), None)).collect();
    for row in found.map_err(pg)? {
        versions.insert((row.get(0), row.get(1)), Some(to_u64(row.get(2))?));
    }
    // Another replica may have appended since this writer's last batch.
    let db_size = match &last {
        Some(r) => to_u64(r.get(0))? + 1,
        None => 0,
    };
    if db_size != state.frontier.size() {
        *state = ChainState::load(conn)?;
    }
    let mut time = format_time(clock.now());
    if time < state.last_time {
        time = state.last_time.clone();
    }
    let mut results = Vec::with_capacity(items.len());
    let mut docs_written: HashMap<(String, String), DocWrite> = HashMap::new();
    let (mut seqs, mut kinds, mut actor_types, mut actor_ids, mut leaves, mut bodies) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut node_levels, mut node_indexes, mut node_hashes) = (Vec::new(), Vec::new(), Vec::new());
    for (kind, actor_type, actor_id, sealable, ops, purge) in items {
        let seq = state.frontier.size();
        let changed = match check_ops(ops, &versions) {
            Ok(changed) => changed,
            Err(e) => {
                results.push(Err(e));
                continue;
            }
        };
        if let Some(purge) = purge {
            // A purge runs alone (see `Writer::commit`), so nothing of this run is pending yet; it
            // learns its count only by clearing, so a wrong one is undone to the savepoint.
            conn.batch("SAVEPOINT purge")?;
            match apply_purge(conn, purge, seq) {
                Ok(()) => conn.batch("RELEASE SAVEPOINT purge")?,
                Err(e @ (StoreError::Conflict(_) | StoreError::Invalid(_))) => {
                    conn.batch("ROLLBACK TO SAVEPOINT purge; RELEASE SAVEPOINT purge")?;
                    results.push(Err(e));
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        for (op, version) in ops.iter().zip(changed) {
            versions.insert((op.collection.clone(), op.id.clone()), Some(version));
            docs_written.insert(
                (op.collection.clone(), op.id.clone()),
                DocWrite { version, seq, keys: op.keys.clone(), body: op.body.clone() },
            );
        }
        let bytes = sealable.seal(seq, &time, &state.prev);
        let leaf = leaf_hash(&bytes);
        seqs.push(to_i64(seq));
        kinds.push(kind.as_str());
        actor_types.push(*actor_type);
        actor_ids.push(actor_id.as_str());
        leaves.push(leaf.to_vec());
        bodies.push(bytes);
        for StoredNode { level, index, hash } in state.frontier.push(leaf) {
            node_levels.push(i32::try_from(level).unwrap_or(i32::MAX));
            node_indexes.push(to_i64(index));
            node_hashes.push(hash.to_vec());
        }
        state.prev = leaf;
        results.push(Ok(Appended { seq, time: time.clone(), leaf_hash: leaf }));
    }
    let insert_events = conn.statement(
        "INSERT INTO events (seq, time, kind, actor_type, actor_id, leaf_hash, body)
         SELECT * FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bytea[], $7::bytea[])",
    )?;
    let insert_nodes = conn.statement(
        "INSERT INTO merkle_nodes (level, idx, hash) SELECT * FROM UNNEST($1::int4[], $2::int8[], $3::bytea[])",
    )?;
    let upsert_docs = conn.statement(UPSERT_DOCS)?;
    let docs = DocColumns::of(&docs_written);
    let event_times = vec![time.as_str(); seqs.len()];
    let doc_times = vec![time.as_str(); docs.ids.len()];
    let client = &conn.client;
    let events_written = async {
        if seqs.is_empty() {
            return Ok(0);
        }
        let columns: [&(dyn ToSql + Sync); 7] =
            [&seqs, &event_times, &kinds, &actor_types, &actor_ids, &leaves, &bodies];
        client.execute(&insert_events, &columns).await
    };
    let nodes_written = async {
        if node_levels.is_empty() {
            return Ok(0);
        }
        client.execute(&insert_nodes, &[&node_levels, &node_indexes, &node_hashes]).await
    };
    let docs_upserted = async {
        if docs.ids.is_empty() {
            return Ok(0);
        }
        let columns: [&(dyn ToSql + Sync); 9] = [
            &docs.collections,
            &docs.ids,
            &docs.versions,
            &docs.seqs,
            &doc_times,
            &docs.k1,
            &docs.k2,
            &docs.k3,
            &docs.bodies,
        ];
        client.execute(&upsert_docs, &columns).await
    };
    let (events_written, nodes_written, docs_upserted, committed) =
        wait(join4(events_written, nodes_written, docs_upserted, client.batch_execute("COMMIT")));
    // After a failed statement PostgreSQL answers COMMIT with a rollback, not an error: the
    // statements' own results decide.
    events_written.map_err(pg)?;
    nodes_written.map_err(pg)?;
    docs_upserted.map_err(pg)?;
    committed.map_err(pg)?;
    state.last_time = time;
    Ok(results)
}

/// The keys of every document a run's ops touch (sorted, once each), and the statement that
/// reads their current versions in one query.
fn version_lookup(
    conn: &mut Conn,
    items: &[BatchItem],
) -> Result<(Vec<(String, String)>, Statement), StoreError> {
    let mut keys: Vec<(String, String)> = items
        .iter()
        .flat_map(|item| item.4.iter())
        .map(|op| (op.collection.clone(), op.id.clone()))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    // A lateral lookup per key: a join would let the planner hash-join over a scan of every
    // document (it cannot know how few keys the arrays hold); the LIMIT (the key is unique)
    // keeps it from flattening the subquery back into such a join.
    let statement = conn.statement(
        "SELECT d.collection, d.id, d.version FROM UNNEST($1::text[], $2::text[]) AS k(c, i)
         CROSS JOIN LATERAL (SELECT collection, id, version FROM docs WHERE collection = k.c AND id = k.i LIMIT 1) d",
    )?;
    Ok((keys, statement))
}

/// Checks a request's expectations against the versions before it (counting its own earlier ops
/// on the same document); returns the version each op writes, or the conflict.
fn check_ops(
    ops: &[PreparedOp],
    versions: &HashMap<(String, String), Option<u64>>,
) -> Result<Vec<u64>, StoreError> {
    let mut written: Vec<u64> = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        let earlier = ops[..i].iter().rposition(|o| o.collection == op.collection && o.id == op.id);
        let current = match earlier {
            Some(j) => Some(written[j]),
            None => versions.get(&(op.collection.clone(), op.id.clone())).copied().flatten(),
        };
        let ok = match op.expect {
            Expect::Any => true,
            Expect::Absent => current.is_none(),
            Expect::Version(v) => current == Some(v),
        };
        if !ok {
            return Err(docs::conflict_of(&op.collection, &op.id, op.expect, current));
        }
        written.push(current.map_or(1, |v| v + 1));
    }
    Ok(written)
}

/// Writes each changed document's final state of a run in one statement (arrays by column).
const UPSERT_DOCS: &str = "INSERT INTO docs (collection, id, version, seq, time, k1, k2, k3, body)
     SELECT * FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::int8[], $5::text[], $6::text[], $7::text[],
                          $8::text[], $9::text[])
     ON CONFLICT (collection, id) DO UPDATE SET version = excluded.version, seq = excluded.seq,
         time = excluded.time, k1 = excluded.k1, k2 = excluded.k2, k3 = excluded.k3, body = excluded.body";

/// A run's changed documents as the columns of [`UPSERT_DOCS`] (its times are the batch's).
struct DocColumns<'a> {
    collections: Vec<&'a str>,
    ids: Vec<&'a str>,
    versions: Vec<i64>,
    seqs: Vec<i64>,
    k1: Vec<Option<&'a str>>,
    k2: Vec<Option<&'a str>>,
    k3: Vec<Option<&'a str>>,
    bodies: Vec<&'a str>,
}

impl<'a> DocColumns<'a> {
    fn of(docs: &'a HashMap<(String, String), DocWrite>) -> Self {
        let n = docs.len();
        let mut columns = DocColumns {
            collections: Vec::with_capacity(n),
            ids: Vec::with_capacity(n),
            versions: Vec::with_capacity(n),
            seqs: Vec::with_capacity(n),
            k1: Vec::with_capacity(n),
            k2: Vec::with_capacity(n),
            k3: Vec::with_capacity(n),
            bodies: Vec::with_capacity(n),
        };
        for ((collection, id), write) in docs {
            columns.collections.push(collection.as_str());
            columns.ids.push(id.as_str());
            columns.versions.push(to_i64(write.version));
            columns.seqs.push(to_i64(write.seq));
            columns.k1.push(write.keys.k1.as_deref());
            columns.k2.push(write.keys.k2.as_deref());
            columns.k3.push(write.keys.k3.as_deref());
            columns.bodies.push(write.body.as_str());
        }
        columns
    }
}

/// SQL that is true for kinds starting with none of the prefixes bound from `$first` on.
fn kind_kept_filter(prefixes: &[String], first: usize) -> String {
    (0..prefixes.len()).map(|i| format!(" AND NOT starts_with(kind, ${})", first + i)).collect()
}

/// Clears the payloads of one [`Purge`] and deletes its documents; checks the count it promised.
fn apply_purge(conn: &mut Conn, purge: &Purge, seq: u64) -> Result<(), StoreError> {
    let mut cleared = 0u64;
    let keep = kind_kept_filter(&purge.keep_kind_prefixes, 3);
    let clear_sql =
        format!("UPDATE events SET body = NULL WHERE seq >= $1 AND seq < $2 AND body IS NOT NULL{keep}");
    for &(from, to) in &purge.ranges {
        if from >= to || to > seq {
            return Err(StoreError::Invalid(format!(
                "purge range [{from}, {to}) must be non-empty and end at or before seq {seq}"
            )));
        }
        let (lo, hi) = (to_i64(from), to_i64(to));
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&lo, &hi];
        params.extend(purge.keep_kind_prefixes.iter().map(|p| p as &(dyn ToSql + Sync)));
        cleared += conn.execute(&clear_sql, &params)?;
        // Bounded by the range's times too, so the (collection, time, seq) index serves it.
        let bounds = conn.query_opt(
            "SELECT (SELECT time FROM events WHERE seq = $1), (SELECT time FROM events WHERE seq = $2)",
            &[&lo, &(hi - 1)],
        )?;
        let bounds = bounds.map(|r| (r.get::<_, Option<String>>(0), r.get::<_, Option<String>>(1)));
        if let Some((Some(first), Some(last))) = bounds {
            for collection in &purge.collections {
                conn.execute(
                    "DELETE FROM docs WHERE collection = $1 AND time >= $2 AND time <= $3 AND seq >= $4 AND seq < $5",
                    &[collection, &first, &last, &lo, &hi],
                )?;
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

fn doc_from_row(row: &Row) -> Result<Doc, StoreError> {
    let body: String = row.get(8);
    Ok(Doc {
        collection: row.get(0),
        id: row.get(1),
        version: to_u64(row.get(2))?,
        seq: to_u64(row.get(3))?,
        time: row.get(4),
        keys: DocKeys { k1: row.get(5), k2: row.get(6), k3: row.get(7) },
        body: serde_json::from_str(&body)
            .map_err(|e| StoreError::Integrity(format!("a stored document is not JSON: {e}")))?,
    })
}

/// A value bound to a document query.
enum Arg {
    Text(String),
    Int(i64),
}

impl Arg {
    fn sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Arg::Text(s) => s,
            Arg::Int(i) => i,
        }
    }
}

/// The WHERE clause and arguments shared by document queries and counts; placeholders from `$first`.
fn doc_filter(q: &DocQuery, paged: bool, first: usize) -> (String, Vec<Arg>) {
    let mut args = vec![Arg::Text(q.collection.clone())];
    let mut sql = format!("collection = ${first}");
    let mut bind = |sql: &mut String, clause: &str, arg: Arg| {
        args.push(arg);
        sql.push_str(&format!(" AND {clause} ${}", first + args.len() - 1));
    };
    for (col, val) in [("k1", &q.k1), ("k2", &q.k2), ("k3", &q.k3)] {
        if let Some(v) = val {
            bind(&mut sql, &format!("{col} ="), Arg::Text(v.clone()));
        }
    }
    if let Some(since) = &q.since {
        bind(&mut sql, "time >=", Arg::Text(since.clone()));
    }
    if let Some(until) = &q.until {
        bind(&mut sql, "time <", Arg::Text(until.clone()));
    }
    if let Some(max) = q.max_seq {
        bind(&mut sql, "seq <=", Arg::Int(to_i64(max)));
    }
    if let (true, Some(before)) = (paged, q.before_seq) {
        bind(&mut sql, if q.ascending { "seq >" } else { "seq <" }, Arg::Int(to_i64(before)));
    }
    (sql, args)
}

const DOC_COLUMNS: &str = "collection, id, version, seq, time, k1, k2, k3, body";

impl tree::StoredNodes for PgStore {
    fn read_nodes<T>(
        &self,
        read: impl FnOnce(&dyn NodeSource) -> Result<T, LedgerError>,
    ) -> Result<T, StoreError> {
        self.with_conn(|conn| Ok(read(&ConnNodes(RefCell::new(conn)))?))
    }
}

impl Store for PgStore {
    fn submit_with(&self, draft: EventDraft, ops: Vec<StateOp>) -> Result<AppendReceiver, StoreError> {
        let (reply, receiver) = tokio::sync::oneshot::channel();
        self.send(Job::Append(Request::new(draft, ops, None, reply)?))?;
        Ok(receiver)
    }

    fn submit_purge(
        &self,
        draft: EventDraft,
        ops: Vec<StateOp>,
        purge: Purge,
    ) -> Result<AppendReceiver, StoreError> {
        let (reply, receiver) = tokio::sync::oneshot::channel();
        self.send(Job::Append(Request::new(draft, ops, Some(purge), reply)?))?;
        Ok(receiver)
    }

    fn count_payloads(&self, from: u64, to: u64, keep_kind_prefixes: &[String]) -> Result<u64, StoreError> {
        let sql = format!(
            "SELECT COUNT(*) FROM events WHERE seq >= $1 AND seq < $2 AND body IS NOT NULL{}",
            kind_kept_filter(keep_kind_prefixes, 3)
        );
        let (lo, hi) = (to_i64(from), to_i64(to));
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&lo, &hi];
        params.extend(keep_kind_prefixes.iter().map(|p| p as &(dyn ToSql + Sync)));
        self.with_conn(|conn| {
            let rows = conn.query(&sql, &params)?;
            rows.first().map_or(Ok(0), |r| to_u64(r.get(0)))
        })
    }

    fn first_seq_at(&self, time: &str) -> Result<u64, StoreError> {
        // A binary search over seqs in one snapshot (event times are non-decreasing in seq order):
        // `time` has no index, so log2(n) point reads beat a scan.
        self.with_snapshot(|conn| {
            let (mut lo, mut hi) = (0u64, conn.log_size()?);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                let row = conn.query_opt("SELECT time FROM events WHERE seq = $1", &[&to_i64(mid)])?;
                let t: String = row
                    .map(|r| r.get(0))
                    .ok_or_else(|| StoreError::Integrity(format!("event {mid} is missing")))?;
                if t.as_str() < time {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            Ok(lo)
        })
    }

    fn commit_health(&self) -> CommitHealth {
        let running = self.writer.as_ref().is_some_and(|h| !h.is_finished());
        self.commits.health(running)
    }

    fn probe_commit(&self) -> Result<(), StoreError> {
        let (reply, answer) = mpsc::channel();
        self.send(Job::Probe(reply))?;
        answer.recv().map_err(|_| StoreError::WriterGone)?
    }

    fn get_doc(&self, collection: &str, id: &str) -> Result<Option<Doc>, StoreError> {
        self.with_conn(|conn| {
            let sql = format!("SELECT {DOC_COLUMNS} FROM docs WHERE collection = $1 AND id = $2");
            conn.query_opt(&sql, &[&collection, &id])?.as_ref().map(doc_from_row).transpose()
        })
    }

    fn get_docs(&self, keys: &[(&str, &str)]) -> Result<Vec<Option<Doc>>, StoreError> {
        let (collections, ids): (Vec<&str>, Vec<&str>) = keys.iter().copied().unzip();
        let found: HashMap<(String, String), Doc> = self.with_conn(|conn| {
            // One index lookup per key (see `version_lookup`).
            let sql = format!(
                "SELECT d.* FROM UNNEST($1::text[], $2::text[]) AS k(c, i)
                 CROSS JOIN LATERAL (SELECT {DOC_COLUMNS} FROM docs WHERE collection = k.c AND id = k.i LIMIT 1) d"
            );
            conn.query(&sql, &[&collections, &ids])?
                .iter()
                .map(|r| doc_from_row(r).map(|d| ((d.collection.clone(), d.id.clone()), d)))
                .collect()
        })?;
        Ok(keys.iter().map(|(c, i)| found.get(&((*c).to_string(), (*i).to_string())).cloned()).collect())
    }

    fn query_docs(&self, query: &DocQuery) -> Result<Vec<Doc>, StoreError> {
        let (filter, args) = doc_filter(query, true, 1);
        let order = if query.ascending { "ASC" } else { "DESC" };
        let limit = i64::from(query.limit);
        let sql = format!(
            "SELECT {DOC_COLUMNS} FROM docs WHERE {filter} ORDER BY time {order}, seq {order} LIMIT ${}",
            args.len() + 1
        );
        let mut params: Vec<&(dyn ToSql + Sync)> = args.iter().map(Arg::sql).collect();
        params.push(&limit);
        self.with_conn(|conn| conn.query(&sql, &params)?.iter().map(doc_from_row).collect())
    }

    fn count_docs(&self, query: &DocQuery) -> Result<u64, StoreError> {
        let (filter, args) = doc_filter(query, false, 1);
        let sql = format!("SELECT COUNT(*) FROM docs WHERE {filter}");
        let params: Vec<&(dyn ToSql + Sync)> = args.iter().map(Arg::sql).collect();
        self.with_conn(|conn| conn.query(&sql, &params)?.first().map_or(Ok(0), |r| to_u64(r.get(0))))
    }

    fn first_seqs_by_k2(&self, query: &DocQuery) -> Result<Vec<(String, u64)>, StoreError> {
        let (filter, args) = doc_filter(query, false, 1);
        let sql = format!("SELECT k2, MIN(seq) FROM docs WHERE {filter} AND k2 IS NOT NULL GROUP BY k2");
        let params: Vec<&(dyn ToSql + Sync)> = args.iter().map(Arg::sql).collect();
        self.with_conn(|conn| {
            conn.query(&sql, &params)?.iter().map(|r| Ok((r.get(0), to_u64(r.get(1))?))).collect()
        })
    }

    fn sum_docs(&self, query: &DocQuery, field: &str) -> Result<f64, StoreError> {
        if field.is_empty() || !field.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(StoreError::Invalid(format!("field {field:?} must be a plain identifier")));
        }
        let (filter, args) = doc_filter(query, false, 2);
        let sql = format!(
            "SELECT COALESCE(SUM(CASE WHEN jsonb_typeof(body::jsonb -> $1) = 'number'
                                      THEN (body::jsonb ->> $1)::float8 END), 0.0)::float8
             FROM docs WHERE {filter}"
        );
        let field = field.to_string();
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&field];
        params.extend(args.iter().map(Arg::sql));
        self.with_conn(|conn| Ok(conn.query(&sql, &params)?.first().map_or(0.0, |r| r.get(0))))
    }

    fn head(&self) -> Result<Head, StoreError> {
        let cached = *self.head.read().unwrap_or_else(|p| p.into_inner());
        // Other replicas append too: the database, not this process's memory, says how long the
        // log is.
        self.with_conn(|conn| {
            let size = conn.log_size()?;
            if size == cached.size {
                return Ok(cached);
            }
            Ok(Head { size, root: merkle::root(&ConnNodes(RefCell::new(conn)), size)? })
        })
    }

    fn scan(&self, from: u64, to: u64, f: &mut dyn FnMut(StoredEntry) -> bool) -> Result<(), StoreError> {
        self.scan_where(from, to, "", &[], f)
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
            .map(|i| format!("starts_with(kind, ${})", i + 3))
            .collect::<Vec<_>>()
            .join(" OR ");
        let args: Vec<String> = kind_prefixes.iter().map(|p| p.to_string()).collect();
        self.scan_where(from, to, &format!(" AND ({any_prefix})"), &args, f)
    }

    fn entry(&self, seq: u64) -> Result<Option<StoredEntry>, StoreError> {
        self.with_conn(|conn| {
            let row =
                conn.query_opt("SELECT seq, body, leaf_hash FROM events WHERE seq = $1", &[&to_i64(seq)])?;
            row.map(|r| {
                Ok(StoredEntry { seq: to_u64(r.get(0))?, bytes: r.get(1), leaf_hash: hash_of(r.get(2))? })
            })
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
        // Replicas signing the same size both succeed if they signed the same root.
        let size = to_i64(c.size);
        self.with_conn(|conn| {
            conn.execute(
                "INSERT INTO checkpoints (size, root, note, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (size) DO NOTHING",
                &[&size, &c.root.to_vec(), &c.note, &c.created_at],
            )?;
            let stored = conn.query_opt("SELECT root FROM checkpoints WHERE size = $1", &[&size])?;
            if stored.map(|r| r.get::<_, Vec<u8>>(0)) != Some(c.root.to_vec()) {
                return Err(StoreError::Invalid(format!(
                    "a checkpoint of size {} with a different root is already stored",
                    c.size
                )));
            }
            Ok(())
        })
    }

    fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.with_conn(|conn| {
            Ok(conn.query_opt("SELECT value FROM meta WHERE key = $1", &[&key])?.map(|r| r.get(0)))
        })
    }

    fn init_meta(&self, key: &str, value: &str) -> Result<String, StoreError> {
        self.with_conn(|conn| {
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                &[&key, &value],
            )?;
            let row = conn.query_opt("SELECT value FROM meta WHERE key = $1", &[&key])?;
            row.map(|r| r.get(0)).ok_or_else(|| StoreError::Database(format!("meta {key:?} vanished")))
        })
    }

    fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, StoreError> {
        self.checkpoints_after_opt(-1, usize::MAX)
    }

    fn checkpoints_after(&self, after: u64, limit: usize) -> Result<Vec<StoredCheckpoint>, StoreError> {
        self.checkpoints_after_opt(to_i64(after), limit)
    }

    fn acquire_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        let millis = f64::from(u32::try_from(ttl.as_millis()).unwrap_or(u32::MAX));
        self.with_conn(|conn| {
            // The database's clock decides expiry, so replicas' clocks need not agree.
            let row = conn.query_opt(
                "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, now() + make_interval(secs => $3::float8 / 1000.0))
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                 WHERE leases.holder = excluded.holder OR leases.expires_at < now()
                 RETURNING holder",
                &[&name, &holder, &millis],
            )?;
            Ok(row.is_some())
        })
    }

    fn verify(&self, from: u64, to: Option<u64>, anchors: Vec<Anchor>) -> Result<VerifyReport, StoreError> {
        let size = self.with_conn(|conn| conn.log_size())?;
        audit::verify_range(self, size, from, to, anchors, |end, whole| {
            self.with_conn(|conn| audit::audit_stored(&ConnNodes(RefCell::new(conn)), from, end, whole))
        })
    }
}
