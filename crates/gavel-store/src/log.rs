//! [`Log`]: the tamper-evident log of one gavel data directory — the store, the log signing key
//! and the origin — with the operations every front end needs: append, signed checkpoints,
//! proofs and verification against authenticated checkpoints.
//!
//! Invariants: the origin is fixed the first time the log is opened and never changes; a
//! checkpoint is stored only after it was signed; verification trusts a stored checkpoint only
//! after its signature verifies under the log key.

use crate::layout::DataDir;
use crate::{Appended, SqliteStore, Store, StoreError, StoredCheckpoint};
use gavel_ledger::checkpoint::{Checkpoint, NoteSigner, NoteVerifier};
use gavel_ledger::clock::{format_time, Clock};
use gavel_ledger::event::EventDraft;
use gavel_ledger::keys::load_or_create_signing_key;
use gavel_ledger::verify::{Anchor, VerifyReport};
use std::sync::Arc;

/// Default origin prefix (DESIGN.md 3.2): `gavel.local/<org>`.
pub const DEFAULT_ORG: &str = "default";

pub struct Log {
    store: Arc<SqliteStore>,
    signer: NoteSigner,
    verifier: NoteVerifier,
    origin: String,
    clock: Arc<dyn Clock>,
    dir: DataDir,
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
        let store = Arc::new(SqliteStore::open(&dir.database(), clock.clone())?);
        let org = org.unwrap_or(DEFAULT_ORG);
        if org.is_empty() || org.chars().any(|c| c.is_whitespace() || c == '+' || c.is_control()) {
            return Err(StoreError::Invalid(format!("org {org:?} must be non-empty without spaces or '+'")));
        }
        let origin = store.init_meta("origin", &format!("gavel.local/{org}"))?;
        let signer = NoteSigner::new(&origin, key)?;
        let verifier = NoteVerifier::new(&origin, signer.verifying_key())?;
        Ok((Log { store, signer, verifier, origin, clock, dir: dir.clone() }, Opened { key_created }))
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

    pub fn store(&self) -> &Arc<SqliteStore> {
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

    /// The newest checkpoint, signing a new one first if the log grew since the last.
    pub fn checkpoint(&self) -> Result<StoredCheckpoint, StoreError> {
        let head = self.store.head()?;
        if let Some(latest) = self.store.checkpoints()?.pop() {
            if latest.size == head.size {
                return Ok(latest);
            }
        }
        let note = self.signer.sign(&Checkpoint {
            origin: self.origin.clone(),
            size: head.size,
            root: head.root,
            extensions: Vec::new(),
        });
        let stored = StoredCheckpoint {
            size: head.size,
            root: head.root,
            note,
            created_at: format_time(self.clock.now()),
        };
        self.store.save_checkpoint(&stored)?;
        Ok(stored)
    }

    /// Verifies `from..to` of the log. Every stored checkpoint must carry a valid signature by the
    /// log key; from seq 0, the recomputed Merkle root must match each of them.
    pub fn verify(&self, from: u64, to: Option<u64>) -> Result<VerifyReport, StoreError> {
        let mut anchors = Vec::new();
        let mut forged = Vec::new();
        for stored in self.store.checkpoints()? {
            match self.verifier.verify(&stored.note) {
                Ok(c) if c.size == stored.size && c.root == stored.root && c.origin == self.origin => {
                    anchors.push(Anchor { size: c.size, root: c.root })
                }
                _ => forged.push(stored.size),
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
        Ok(report)
    }
}
