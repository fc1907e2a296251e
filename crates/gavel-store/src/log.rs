//! [`Log`]: the tamper-evident log of one gavel data directory — the store, the log signing key
//! and the origin — with the operations gavel-core builds on (front ends reach them only through
//! `gavel_core::Gavel`): append, signed checkpoints, proofs and verification against
//! authenticated checkpoints.
//!
//! Invariants: the origin (`gavel.local/<org>`, also the name of the checkpoints' signing key) is
//! fixed the first time the log is opened and never changes; so is the log key, recorded in
//! `meta.log_key` by the first process to open the database (a replica whose data directory has
//! another key is refused before it signs anything); a checkpoint is stored only after it
//! was signed; verification trusts a stored checkpoint only after its signature verifies under
//! the log key; and this process signs a checkpoint only over entries it verified itself since the
//! previous authentic checkpoint (canonical bytes, chain, leaf hashes, and a Merkle root
//! recomputed from the leaves that must equal the stored tree's), so a corrupted stored node or
//! event is refused ([`StoreError::Integrity`]), never signed. A stored checkpoint whose signature
//! does not verify makes verification invalid (it is itself tampering); checkpoints held outside
//! the database are checked against the whole log ([`Log::verify_with`]).

use crate::layout::{DataDir, Database};
use crate::{Appended, PgStore, SqliteStore, Store, StoreError, StoredCheckpoint};
use gavel_ledger::checkpoint::{Checkpoint, NoteSigner, NoteVerifier};
use gavel_ledger::clock::{format_time, Clock};
use gavel_ledger::event::EventDraft;
use gavel_ledger::hash::{Hash, ZERO_HASH};
use gavel_ledger::keys::load_or_create_signing_key;
use gavel_ledger::merkle::{verify_inclusion, Frontier};
use gavel_ledger::verify::{Anchor, RangeVerifier, VerifyReport};
use std::sync::{Arc, Mutex};

/// Default origin prefix: `gavel.local/<org>`.
pub const DEFAULT_ORG: &str = "default";

pub struct Log {
    store: Arc<dyn Store>,
    signer: NoteSigner,
    verifier: NoteVerifier,
    origin: String,
    clock: Arc<dyn Clock>,
    dir: DataDir,
    /// How far this process has verified the log (see the module doc); also serializes signing.
    verified: Mutex<Option<VerifiedTip>>,
}

/// The prefix of the log this process verified: its size, its last leaf hash and the Merkle
/// frontier recomputed from its leaves.
#[derive(Clone)]
struct VerifiedTip {
    size: u64,
    last_leaf: Hash,
    frontier: Frontier,
}

/// What opening a data directory did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opened {
    /// The log signing key was generated now (first start).
    pub key_created: bool,
}

impl Log {
    /// Opens the log in `dir`, creating the directory, database and signing key on first start.
    /// `org` only matters the first time (it fixes the origin `gavel.local/<org>`).
    pub fn open(
        dir: &DataDir,
        clock: Arc<dyn Clock>,
        org: Option<&str>,
    ) -> Result<(Self, Opened), StoreError> {
        dir.create()?;
        let (key, key_created) = load_or_create_signing_key(&dir.log_key())?;
        let store: Arc<dyn Store> = match dir.database_location() {
            Database::Sqlite(path) => Arc::new(SqliteStore::open(&path, clock.clone())?),
            Database::Postgres(url) => Arc::new(PgStore::open(&url, clock.clone())?),
        };
        let org = org.unwrap_or(DEFAULT_ORG);
        if org.is_empty() || org.chars().any(|c| c.is_whitespace() || c == '+' || c.is_control()) {
            return Err(StoreError::Invalid(format!("org {org:?} must be non-empty without spaces or '+'")));
        }
        let origin = store.init_meta("origin", &format!("gavel.local/{org}"))?;
        let signer = NoteSigner::new(&origin, key)?;
        // Replicas on one database must sign with one key: the first to open it records its key,
        // and a replica with another key (a data directory initialised on its own) is refused
        // before it signs anything.
        let log_key = store.init_meta("log_key", &signer.verifier_key())?;
        if log_key != signer.verifier_key() {
            return Err(StoreError::Invalid(format!(
                "{} holds a log signed with key {log_key}, but {} has key {}: give every replica a copy \
                 of the first one's keys/log.key",
                dir.database_location(),
                dir.log_key().display(),
                signer.verifier_key()
            )));
        }
        let verifier = NoteVerifier::new(&origin, signer.verifying_key())?;
        let log =
            Log { store, signer, verifier, origin, clock, dir: dir.clone(), verified: Mutex::new(None) };
        Ok((log, Opened { key_created }))
    }

    /// Opens an existing data directory; refuses to create one.
    pub fn open_existing(dir: &DataDir, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        if !dir.exists() {
            return Err(StoreError::NotFound(format!(
                "no gavel data in {} (run `gavel init` or pass --data-dir)",
                dir.root().display()
            )));
        }
        Ok(Self::open(dir, clock, None)?.0)
    }

    /// The data directory the log lives in.
    pub fn data_dir(&self) -> &DataDir {
        &self.dir
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn signer(&self) -> &NoteSigner {
        &self.signer
    }

    pub fn verifier(&self) -> &NoteVerifier {
        &self.verifier
    }

    /// Appends one event and waits until it is committed.
    pub fn append(&self, draft: EventDraft) -> Result<Appended, StoreError> {
        self.store.append(draft)
    }

    /// The newest checkpoint, signing a new one first if the log grew since the last. Refuses
    /// (`StoreError::Integrity`) to sign over entries that fail verification.
    pub fn checkpoint(&self) -> Result<StoredCheckpoint, StoreError> {
        let mut verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        let head = self.store.head()?;
        let latest = self.latest_authentic_checkpoint()?;
        if let Some(latest) = &latest {
            if latest.size == head.size {
                return Ok(latest.clone());
            }
        }
        let tip = match verified.take() {
            Some(tip) if tip.size <= head.size => tip,
            _ => self.tip_at(latest.as_ref())?,
        };
        let tip = self.verify_tail(tip, head.size)?;
        let root = tip.frontier.root();
        if root != head.root {
            return Err(StoreError::Integrity(format!(
                "the stored Merkle tree's root at size {} does not match the root recomputed from the events: \
                 stored Merkle nodes were edited; refusing to sign (run `gavel audit verify`)",
                head.size
            )));
        }
        let note = self.signer.sign(&Checkpoint {
            origin: self.origin.clone(),
            size: tip.size,
            root,
            extensions: Vec::new(),
        });
        let stored =
            StoredCheckpoint { size: tip.size, root, note, created_at: format_time(self.clock.now()) };
        self.store.save_checkpoint(&stored)?;
        *verified = Some(tip);
        Ok(stored)
    }

    /// The newest stored checkpoint whose signature verifies under the log key.
    pub fn latest_authentic_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        let mut all = self.store.checkpoints()?;
        while let Some(c) = all.pop() {
            if self.is_authentic(&c) {
                return Ok(Some(c));
            }
            tracing::warn!(
                size = c.size,
                "a stored checkpoint does not carry a valid signature by the log key"
            );
        }
        Ok(None)
    }

    fn is_authentic(&self, c: &StoredCheckpoint) -> bool {
        matches!(self.verifier.verify(&c.note),
                 Ok(v) if v.size == c.size && v.root == c.root && v.origin == self.origin)
    }

    /// Where verification resumes in a new process: the last authentic checkpoint, whose frontier
    /// (read from the stored nodes) and last leaf (with an inclusion proof) must match its signed
    /// root; or the empty log.
    fn tip_at(&self, checkpoint: Option<&StoredCheckpoint>) -> Result<VerifiedTip, StoreError> {
        let Some(c) = checkpoint.filter(|c| c.size > 0) else {
            return Ok(VerifiedTip { size: 0, last_leaf: ZERO_HASH, frontier: Frontier::new() });
        };
        let frontier = self.store.frontier_at(c.size)?;
        let last = self.store.entry(c.size - 1)?.ok_or_else(|| {
            StoreError::Integrity(format!("seq {} of the last checkpoint is missing", c.size - 1))
        })?;
        let proof = self.store.inclusion_proof(c.size - 1, c.size)?;
        if frontier.root() != c.root
            || verify_inclusion(&last.leaf_hash, c.size - 1, c.size, &proof, &c.root).is_err()
        {
            return Err(StoreError::Integrity(format!(
                "the stored events or Merkle nodes no longer match the signed checkpoint of size {}; \
                 refusing to sign (run `gavel audit verify`)",
                c.size
            )));
        }
        Ok(VerifiedTip { size: c.size, last_leaf: last.leaf_hash, frontier })
    }

    /// Verifies the entries from `tip.size` to `to` and extends the tip over them.
    fn verify_tail(&self, mut tip: VerifiedTip, to: u64) -> Result<VerifiedTip, StoreError> {
        let mut verifier = RangeVerifier::new(tip.size, tip.last_leaf, Vec::new());
        let (frontier, last_leaf) = (&mut tip.frontier, &mut tip.last_leaf);
        crate::scan_verified(self.store.as_ref(), tip.size, to, &mut verifier, &mut |entry| {
            frontier.push(entry.leaf_hash);
            *last_leaf = entry.leaf_hash;
        })?;
        let report = verifier.finish(to - tip.size, to);
        if !report.valid || tip.frontier.size() != to {
            return Err(StoreError::Integrity(format!(
                "entries after the last checkpoint fail verification ({}); refusing to sign",
                report.reason.unwrap_or_else(|| "entries are missing".into())
            )));
        }
        tip.size = to;
        Ok(tip)
    }

    /// Verifies `from..to` of the log. Every stored checkpoint must carry a valid signature by the
    /// log key; from seq 0, the recomputed Merkle root must match each of them.
    pub fn verify(&self, from: u64, to: Option<u64>) -> Result<VerifyReport, StoreError> {
        self.verify_with(from, to, &[])
    }

    /// [`Log::verify`], also against checkpoints held outside the database (C2SP signed notes,
    /// e.g. from a SIEM or a witness): each must be signed by the log key, and the whole log is
    /// recomputed from seq 0 so the root at each one's size must equal its root. A log shorter than
    /// one, or with another root at its size, is invalid.
    pub fn verify_with(
        &self,
        from: u64,
        to: Option<u64>,
        external: &[String],
    ) -> Result<VerifyReport, StoreError> {
        let mut anchors = Vec::new();
        for (i, note) in external.iter().enumerate() {
            let c = self.verifier.verify(note).map_err(|e| {
                StoreError::Invalid(format!(
                    "external checkpoint {} is not a checkpoint signed by this log's key {}: {e}",
                    i + 1,
                    self.signer.verifier_key()
                ))
            })?;
            if from != 0 || to.is_some() {
                return Err(StoreError::Invalid(
                    "an external checkpoint is checked against the whole log: verify from seq 0 to the end"
                        .into(),
                ));
            }
            anchors.push(Anchor { size: c.size, root: c.root });
        }
        let mut forged = Vec::new();
        let mut newest_authentic = None;
        for stored in self.store.checkpoints()? {
            if self.is_authentic(&stored) {
                newest_authentic = Some(stored.size);
                anchors.push(Anchor { size: stored.size, root: stored.root });
            } else {
                forged.push(stored.size);
            }
        }
        let mut report = self.store.verify(from, to, anchors)?;
        if let Some(&size) = forged.first() {
            // A checkpoint row that the log key did not sign is itself tampering. The events up to
            // its size can no longer be vouched for by it, so fail closed from there.
            report.valid = false;
            report.first_break = Some(report.first_break.map_or(size.max(from), |b| b.min(size.max(from))));
            let why = format!(
                "stored checkpoint(s) of size {forged:?} do not carry a valid signature by the log key {}",
                self.signer.verifier_key()
            );
            report.reason = Some(match report.reason {
                Some(r) => format!("{r}; {why}"),
                None => why,
            });
        }
        let size = self.store.head()?.size;
        match newest_authentic {
            None if size > 0 => report.warnings.push(format!(
                "no signed checkpoint covers the log: none of its {size} events is vouched for by a signature \
                 (`gavel audit checkpoint` signs one; `gavel serve` signs one every 10 s while the log grows)"
            )),
            Some(covered) if covered < size => report.warnings.push(format!(
                "events {covered}..{size} are not yet covered by a signed checkpoint: they verify as a chain, but no \
                 signature vouches for them yet"
            )),
            _ => {}
        }
        Ok(report)
    }
}
