//! gavel-core: the domain — identities, policy change control, decisions — over the log.
//!
//! [`Gavel`] is the one entry point, and it owns the log: the store is reachable from nowhere
//! else (gavel-server and gavel-cli do not depend on gavel-store; `tests/one_door.rs`). Every
//! state change is a log event written together with the documents it changes, in one
//! transaction (`Store::submit_with`), so the state can always be explained by the log; nothing
//! is acknowledged before it is committed (synchronous callers block for the commit, the HTTP
//! decide path awaits it through a `PendingDecision`).
//!
//! Authorization (roles, two-person rules) is checked here, never in a front end, so every front
//! end enforces the same rules. Public methods come in four kinds:
//! * **caller-checked** — they take `by: &Principal` and check it first (nearly all);
//! * **token-checked** — the credential is the argument: `authenticate`, `decide_with_token`,
//!   `open_share` / `access_share` (a share link), `bootstrap_admin` (only on an empty log);
//! * **public by design** — what a transparency log shows anyone: `log_size`, `latest_checkpoint`,
//!   `consistency_proof`, the log and export public keys, `origin`;
//! * **system** — gavel's own background loops, no caller: `sign_checkpoint`, `run_due`,
//!   `detect`, the webhook outbox (`webhook_plan`, `record_webhook_attempts`),
//!   `flush_failed_authentications`, `purge_expired(None)`, `record_share_summary`.
//!
//! A `Principal` is a user with a role, an agent, or the local `Operator` holding the data
//! directory (accepted only by operations that say so); it is checked *before* the state it
//! guards is read, so a refused caller gets 403, never a 404/409 that reveals state. Every change
//! to `users`, `agents`, `tokens` or `credentials` also bumps `meta/identity_epoch` in its
//! transaction (`Gavel::record` adds the op), which is how cached authentications know they are
//! stale, on every replica.

pub mod approvals;
pub mod audit;
pub mod auth_failures;
pub mod compliance;
pub mod containment;
pub mod decide;
pub mod detectors;
pub mod error;
pub mod evidence_runs;
pub mod explain;
pub mod gateway;
pub mod identity;
pub mod ids;
pub mod incidents;
pub mod leases;
pub mod log;
pub mod migrate;
pub mod notifications;
pub mod policies;
pub mod redact;
pub mod retention;
pub mod sessions;
pub mod shares;
pub mod strict_json;
pub mod tool_categories;
pub mod webhooks;

pub use error::{CoreError, Result};
/// The data directory layout and what opening one did: front ends name a data directory and
/// [`Gavel::open`] it; they never hold the store.
pub use gavel_store::layout::{DataDir, Database};
pub use gavel_store::{CommitHealth, Opened, StoredCheckpoint};
pub use identity::{Agent, Issued, NewAgent, Principal, Role, Status, User};

use gavel_ledger::clock::{format_time, Clock};
use gavel_ledger::event::{Actor, EventDraft};
use gavel_store::docs::StateOp;
use gavel_store::{Appended, Log, Store};
use std::sync::{Arc, Mutex};

/// Decodes a stored document's body (a decoding failure means the store holds something this
/// version did not write: an internal error, never the caller's).
pub(crate) fn from_doc<T: serde::de::DeserializeOwned>(doc: gavel_store::docs::Doc) -> Result<T> {
    serde_json::from_value(doc.body)
        .map_err(|e| CoreError::Internal(format!("stored {}/{}: {e}", doc.collection, doc.id)))
}

/// A typed event payload (gavel-events) as the log records it.
pub(crate) fn typed<T: serde::Serialize>(payload: &T) -> Result<serde_json::Value> {
    serde_json::to_value(payload).map_err(|e| CoreError::Internal(format!("event payload: {e}")))
}

/// Collections whose change can change whom a token authenticates as, or that principal's
/// status, groups or limits. Every change to one bumps `meta/identity_epoch` (see [`Gavel::record`]),
/// which is how cached authentications know they are stale — on every replica.
const IDENTITY_COLLECTIONS: [&str; 4] = ["users", "agents", "tokens", "credentials"];
pub(crate) const IDENTITY_EPOCH: &str = "identity_epoch";
/// Cached authentications kept at most (the cache is cleared when full: a miss is two reads).
const AUTH_CACHE_MAX: usize = 10_000;

/// Told how long each durable append took.
type AppendObserver = Arc<dyn Fn(std::time::Duration) + Send + Sync>;

/// Tunables of the domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// How long a held call waits for a human before its approval request expires.
    pub approval_expiry: time::Duration,
    /// Whether webhook endpoints may target private, loopback or link-local addresses.
    pub webhooks_allow_private: bool,
    /// Detector thresholds and which detections open incidents.
    pub detectors: detectors::DetectorSettings,
    /// At most this many seqs are cleared per purge transaction, so a first purge of a large
    /// log never stalls the log writer.
    pub purge_batch: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            approval_expiry: time::Duration::hours(1),
            webhooks_allow_private: false,
            detectors: detectors::DetectorSettings::default(),
            purge_batch: 50_000,
        }
    }
}

/// The gavel domain over one log. It owns the log: the store is reachable only from here.
pub struct Gavel {
    log: Arc<Log>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    /// The policies in force (an engine, or why none could be built) and the policy epoch (doc
    /// version) they were loaded at.
    engine: Mutex<Option<(u64, policies::InForce)>>,
    settings: Settings,
    /// Told how long each durable append took (metrics).
    append_observer: Option<AppendObserver>,
    /// Authentications by token hash, with the identity epoch they were read at.
    auth_cache: Mutex<std::collections::HashMap<String, (u64, Principal)>>,
    /// Failed authentications noted since the last `auth.failures` event.
    auth_failures: Mutex<auth_failures::Noted>,
    /// The log key's verifier: stored checkpoints are delivered to webhooks (`checkpoint.signed`)
    /// only once their signature verifies under it.
    checkpoint_verifier: Option<gavel_ledger::checkpoint::NoteVerifier>,
    /// This process among the replicas on one database (the holder of its leases).
    replica_id: String,
}

impl Gavel {
    /// Opens the data directory `dir` (creating it, its database and its log key on first
    /// start; `org` fixes the origin the first time only) and the domain over its log.
    pub fn open(dir: &DataDir, clock: Arc<dyn Clock>, org: Option<&str>) -> Result<(Self, Opened)> {
        let (log, opened) = Log::open(dir, clock.clone(), org)?;
        Ok((Gavel::new(Arc::new(log), clock), opened))
    }

    /// Opens an existing data directory; refuses to create one.
    pub fn open_existing(dir: &DataDir, clock: Arc<dyn Clock>) -> Result<Self> {
        let log = Log::open_existing(dir, clock.clone())?;
        Ok(Gavel::new(Arc::new(log), clock))
    }

    /// The domain over an opened log.
    pub fn new(log: Arc<Log>, clock: Arc<dyn Clock>) -> Self {
        let verifier = log.verifier().clone();
        Gavel {
            store: log.store().clone(),
            log,
            clock,
            engine: Mutex::new(None),
            settings: Settings::default(),
            append_observer: None,
            auth_cache: Mutex::new(std::collections::HashMap::new()),
            auth_failures: Mutex::new(auth_failures::Noted::default()),
            checkpoint_verifier: Some(verifier),
            replica_id: leases::new_replica_id(),
        }
    }

    pub fn with_settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    /// Registers a callback told the duration of every durable append.
    pub fn observe_appends(mut self, observer: impl Fn(std::time::Duration) + Send + Sync + 'static) -> Self {
        self.append_observer = Some(Arc::new(observer));
        self
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Now, in the log's time form.
    pub fn now(&self) -> String {
        format_time(self.clock.now())
    }

    /// Every document of `collection`, decoded.
    pub(crate) fn all_docs<T: serde::de::DeserializeOwned>(
        &self,
        collection: &str,
        limit: u32,
    ) -> Result<Vec<T>> {
        self.store
            .query_docs(&gavel_store::docs::DocQuery::new(collection, limit))?
            .into_iter()
            .map(from_doc)
            .collect()
    }

    /// A document by id (no name lookup: one read).
    pub(crate) fn doc_by_id<T: serde::de::DeserializeOwned>(
        &self,
        collection: &str,
        what: &str,
        id: &str,
    ) -> Result<T> {
        let doc = self
            .store
            .get_doc(collection, id)?
            .ok_or_else(|| CoreError::NotFound(format!("no {what} {id:?}")))?;
        from_doc(doc)
    }

    /// A document found by id, or by a name claimed in `names` (e.g. `agent_names`), with its version.
    pub(crate) fn named_doc<T: serde::de::DeserializeOwned>(
        &self,
        names: &str,
        collection: &str,
        what: &str,
        id_or_name: &str,
    ) -> Result<(T, u64)> {
        let id = match self.store.get_doc(names, id_or_name)? {
            Some(d) => d.body["id"].as_str().unwrap_or_default().to_string(),
            None => id_or_name.to_string(),
        };
        let doc = self
            .store
            .get_doc(collection, &id)?
            .ok_or_else(|| CoreError::NotFound(format!("no {what} {id_or_name:?}")))?;
        let version = doc.version;
        Ok((from_doc(doc)?, version))
    }

    /// Appends one event with the state changes it records; waits for the commit. A change to
    /// an identity collection also bumps the identity epoch, in the same transaction.
    pub(crate) fn record(
        &self,
        kind: &str,
        actor: &Actor,
        data: serde_json::Value,
        ops: Vec<StateOp>,
    ) -> Result<Appended> {
        self.submit_record(kind, actor, data, ops)?.blocking_wait()
    }

    /// [`Gavel::record`] without the wait: the event and its state changes are queued for the
    /// log writer, and the returned [`PendingAppend`] resolves once they are committed (or the
    /// commit failed). For async callers, which must not hold a thread while the writer works.
    pub(crate) fn submit_record(
        &self,
        kind: &str,
        actor: &Actor,
        data: serde_json::Value,
        mut ops: Vec<StateOp>,
    ) -> Result<PendingAppend> {
        if ops.iter().any(|op| IDENTITY_COLLECTIONS.contains(&op.collection.as_str())) {
            ops.push(StateOp::put(
                "meta",
                IDENTITY_EPOCH,
                serde_json::json!({}),
                gavel_store::docs::DocKeys::default(),
                gavel_store::docs::Expect::Any,
            ));
        }
        // A kind missing from the registry would reach SIEMs without its OCSF payload having been
        // validated (gavel-server tests/ocsf.rs validates every registered kind): caught in tests.
        debug_assert!(
            webhooks::is_registered_kind(kind) && kind != webhooks::CHECKPOINT_KIND,
            "event kind {kind:?} is not in webhooks::EVENT_KINDS, or is not a log event"
        );
        let draft =
            EventDraft::new(kind, actor.clone(), data).map_err(|e| CoreError::Invalid(e.to_string()))?;
        let started = std::time::Instant::now();
        let receiver = self.store.submit_with(draft, ops)?;
        Ok(PendingAppend { receiver, started, observer: self.append_observer.clone() })
    }
}

/// An append queued for the log writer: nothing it records may be acted on or answered before
/// [`PendingAppend::wait`] (or [`PendingAppend::blocking_wait`]) returned `Ok`.
pub(crate) struct PendingAppend {
    receiver: gavel_store::AppendReceiver,
    started: std::time::Instant,
    observer: Option<AppendObserver>,
}

impl PendingAppend {
    /// Waits for the commit without holding a thread (async callers).
    pub(crate) async fn wait(self) -> Result<Appended> {
        let PendingAppend { receiver, started, observer } = self;
        let result = receiver.await;
        Self::finish(started, observer, result.map_err(|_| gavel_store::StoreError::WriterGone))
    }

    /// Waits for the commit on this thread (synchronous callers only; never from an async task).
    pub(crate) fn blocking_wait(self) -> Result<Appended> {
        let PendingAppend { receiver, started, observer } = self;
        let result = receiver.blocking_recv();
        Self::finish(started, observer, result.map_err(|_| gavel_store::StoreError::WriterGone))
    }

    fn finish(
        started: std::time::Instant,
        observer: Option<AppendObserver>,
        received: std::result::Result<
            std::result::Result<Appended, gavel_store::StoreError>,
            gavel_store::StoreError,
        >,
    ) -> Result<Appended> {
        if let Some(observe) = observer {
            observe(started.elapsed());
        }
        Ok(received??)
    }
}
