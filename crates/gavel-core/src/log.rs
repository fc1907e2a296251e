//! The log through the one door: its size, signed checkpoints, RFC 9162 proofs, verification and
//! operators' external records. Front ends never hold the store; they ask [`Gavel`].
//!
//! Who may do what: the log's size, its latest signed checkpoint and consistency proofs are
//! public (a transparency log's checkpoint reveals its size and root, nothing of its content);
//! inclusion proofs, checkpoint signing on demand and verification need a reader; external
//! records need an admin or the local operator. The system calls (`sign_checkpoint`,
//! `checkpoints_after`) are for gavel's own background loops and write no event.
//!
//! Invariant: a proof is handed out only after it was checked against the root it claims
//! (a store fault becomes an integrity error, never a wrong proof).
//!
//! Anchors outside the database: checkpoints live in the same database as the events, so an
//! insider who rewrites events *and* deletes the checkpoints that covered them leaves a log that
//! verifies alone (verification then warns that no checkpoint covers it). What catches that is
//! a checkpoint held elsewhere — the public `GET /checkpoint`, a webhook's `checkpoint.signed`,
//! the S3 copies, `checkpoint_publish_dir` — given to [`Gavel::verify_log`] (`gavel audit verify
//! --checkpoint FILE`): it must be signed by the log key, and the whole log must reproduce its
//! root at its size. Limit: an event forged with the chain kept consistent after the newest such
//! checkpoint cannot be told from a real one.

use crate::identity::READERS;
use crate::{CoreError, Gavel, Principal, Result, Role};
use gavel_ledger::event::validate_kind;
use gavel_ledger::hash::to_hex;
use gavel_ledger::merkle::{verify_consistency, verify_inclusion};
use gavel_ledger::verify::VerifyReport;
use gavel_store::{Appended, CommitHealth, StoredCheckpoint};
use serde::Serialize;

/// The latest signed checkpoint and the key that signed it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CheckpointAnswer {
    /// Entries the checkpoint covers.
    pub tree_size: u64,
    /// The RFC 9162 Merkle root of those entries (hex).
    pub root: String,
    /// The C2SP signed note.
    pub note: String,
    pub created_at: String,
    /// The log's verifier key (signed-note form), to check the note with.
    pub log_key: String,
}

/// An RFC 9162 inclusion proof of one entry.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InclusionProof {
    pub seq: u64,
    pub tree_size: u64,
    pub leaf_hash: String,
    /// The root of the tree of `tree_size` entries.
    pub root: String,
    /// The proof's node hashes (hex), leaf to root.
    pub hashes: Vec<String>,
    /// The signed checkpoint of that size, when one was signed.
    pub checkpoint: Option<String>,
}

/// An RFC 9162 consistency proof between two tree sizes.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConsistencyProof {
    pub old_size: u64,
    pub new_size: u64,
    pub new_root: String,
    /// The proof's node hashes (hex).
    pub hashes: Vec<String>,
    /// The latest signed checkpoint, when `new` was not given (it is its size).
    pub checkpoint: Option<String>,
    /// The root of the older tree (hex), as the proof was checked against it.
    #[serde(skip)]
    pub old_root: String,
}

/// The log's public signing key, in the forms verifiers use.
#[derive(Debug, Clone, Serialize)]
pub struct LogPublicKey {
    /// The key's name: the log origin.
    pub name: String,
    /// The C2SP key id (hex).
    pub key_id: String,
    /// The signed-note verifier key (`name+id+key`).
    pub verifier_key: String,
    /// SPKI PEM, for `openssl`.
    pub public_key_pem: String,
    pub algorithm: &'static str,
}

impl Gavel {
    /// Events in the log (the size of its Merkle tree, signed or not yet). Public: health checks.
    pub fn log_size(&self) -> Result<u64> {
        Ok(self.store.head()?.size)
    }

    /// The log's origin (`gavel.local/<org>`).
    pub fn origin(&self) -> &str {
        self.log.origin()
    }

    /// The org part of the origin.
    pub fn org(&self) -> &str {
        self.origin().strip_prefix("gavel.local/").unwrap_or(self.origin())
    }

    /// The log's verifier key, in signed-note form.
    pub fn log_key(&self) -> String {
        self.log.signer().verifier_key()
    }

    /// The log's public signing key.
    pub fn log_public_key(&self) -> LogPublicKey {
        let signer = self.log.signer();
        LogPublicKey {
            name: signer.name().to_string(),
            key_id: hex::encode(signer.key_id()),
            verifier_key: signer.verifier_key(),
            public_key_pem: gavel_ledger::keys::public_key_pem(&signer.verifying_key()),
            algorithm: "Ed25519",
        }
    }

    /// The log key's verifier (checks notes claimed to be this log's checkpoints).
    pub fn log_verifier(&self) -> &gavel_ledger::checkpoint::NoteVerifier {
        self.log.verifier()
    }

    /// The data directory the log lives in.
    pub fn data_dir(&self) -> &crate::DataDir {
        self.log.data_dir()
    }

    /// The newest checkpoint, signing one first if the log grew (readers).
    pub fn checkpoint(&self, by: &Principal) -> Result<CheckpointAnswer> {
        by.require_operator_or(&READERS)?;
        let c = self.sign_checkpoint()?;
        Ok(CheckpointAnswer {
            tree_size: c.size,
            root: to_hex(&c.root),
            note: c.note,
            created_at: c.created_at,
            log_key: self.log_key(),
        })
    }

    /// System: signs a checkpoint if the log grew since the last (the server's 10 s loop and
    /// shutdown, the demo). Refuses to sign over entries that fail verification.
    pub fn sign_checkpoint(&self) -> Result<StoredCheckpoint> {
        Ok(self.log.checkpoint()?)
    }

    /// The newest stored checkpoint signed by the log key; never signs. Public.
    pub fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>> {
        Ok(self.log.latest_authentic_checkpoint()?)
    }

    /// System: stored checkpoints above `after`, oldest first (uploads follow them).
    pub fn checkpoints_after(&self, after: u64, limit: usize) -> Result<Vec<StoredCheckpoint>> {
        Ok(self.store.checkpoints_after(after, limit)?)
    }

    /// Whether the log writer commits (readiness).
    pub fn commit_health(&self) -> CommitHealth {
        self.store.commit_health()
    }

    /// Proves the writer commits by committing nothing (readiness probe; see `Store`).
    pub fn probe_commit(&self) -> Result<()> {
        Ok(self.store.probe_commit()?)
    }

    /// The tree size to prove against: `size` when given (with its checkpoint if one was
    /// signed), else the latest checkpoint, signed now if the log grew.
    fn proof_target(&self, size: Option<u64>) -> Result<(u64, Option<String>)> {
        match size {
            Some(size) => {
                let note = self.store.checkpoints()?.into_iter().find(|c| c.size == size).map(|c| c.note);
                Ok((size, note))
            }
            None => {
                let c = self.sign_checkpoint()?;
                Ok((c.size, Some(c.note)))
            }
        }
    }

    /// An inclusion proof of entry `seq` in the tree of `tree_size` entries (default: the latest
    /// checkpoint, signed now if the log grew). Readers.
    pub fn inclusion_proof(
        &self,
        by: &Principal,
        seq: u64,
        tree_size: Option<u64>,
    ) -> Result<InclusionProof> {
        by.require_operator_or(&READERS)?;
        let (size, checkpoint) = self.proof_target(tree_size)?;
        if seq >= size {
            return Err(CoreError::NotFound(format!("seq {seq} is not in the tree: it holds {size} events")));
        }
        let entry = self
            .store
            .entry(seq)?
            .ok_or_else(|| CoreError::NotFound(format!("seq {seq} is not in the log")))?;
        let hashes = self.store.inclusion_proof(seq, size)?;
        let root = self.store.root_at(size)?;
        verify_inclusion(&entry.leaf_hash, seq, size, &hashes, &root).map_err(|e| {
            CoreError::Internal(format!(
                "the inclusion proof of seq {seq} computed from the store does not verify: {e}"
            ))
        })?;
        Ok(InclusionProof {
            seq,
            tree_size: size,
            leaf_hash: to_hex(&entry.leaf_hash),
            root: to_hex(&root),
            hashes: hashes.iter().map(to_hex).collect(),
            checkpoint,
        })
    }

    /// A consistency proof from `old` entries to `new` (default: the latest signed checkpoint,
    /// returned with it; never signs). Public, so a holder of an old checkpoint can check that
    /// the log only grew.
    pub fn consistency_proof(&self, old: u64, new: Option<u64>) -> Result<ConsistencyProof> {
        let (new, checkpoint) = match new {
            Some(n) => (n, None),
            None => {
                let c = self
                    .latest_checkpoint()?
                    .ok_or_else(|| CoreError::NotFound("no checkpoint has been signed yet".into()))?;
                (c.size, Some(c.note))
            }
        };
        self.consistency_between(old, new, checkpoint)
    }

    /// [`Gavel::consistency_proof`] for readers, who may also ask against the head (signing a
    /// checkpoint first when `new` is not given).
    pub fn consistency_proof_to_head(
        &self,
        by: &Principal,
        old: u64,
        new: Option<u64>,
    ) -> Result<ConsistencyProof> {
        by.require_operator_or(&READERS)?;
        let (new, checkpoint) = self.proof_target(new)?;
        self.consistency_between(old, new, checkpoint)
    }

    fn consistency_between(
        &self,
        old: u64,
        new: u64,
        checkpoint: Option<String>,
    ) -> Result<ConsistencyProof> {
        let size = self.log_size()?;
        if old > new {
            return Err(CoreError::Invalid(format!("old size {old} is beyond the new size {new}")));
        }
        if new > size {
            return Err(CoreError::Invalid(format!("new size {new} is beyond the log's {size} events")));
        }
        let hashes = self.store.consistency_proof(old, new)?;
        let (old_root, new_root) = (self.store.root_at(old)?, self.store.root_at(new)?);
        verify_consistency(old, new, &old_root, &new_root, &hashes).map_err(|e| {
            CoreError::Internal(format!(
                "the consistency proof {old}..{new} computed from the store does not verify: {e}"
            ))
        })?;
        Ok(ConsistencyProof {
            old_size: old,
            new_size: new,
            new_root: to_hex(&new_root),
            hashes: hashes.iter().map(to_hex).collect(),
            checkpoint,
            old_root: to_hex(&old_root),
        })
    }

    /// Verifies `from..to` of the log against every stored checkpoint signed by the log key and
    /// the C2SP notes in `external` (checkpoints held outside the database; see
    /// `gavel_store::Log::verify_with`). Readers.
    pub fn verify_log(
        &self,
        by: &Principal,
        from: u64,
        to: Option<u64>,
        external: &[String],
    ) -> Result<VerifyReport> {
        by.require_operator_or(&READERS)?;
        Ok(self.log.verify_with(from, to, external)?)
    }

    /// Records an `external.<name>` event: something that happened outside gavel and belongs in
    /// its record (a review, an attestation). Admins and the local operator; the actor is the
    /// caller (the operator names themself).
    pub fn record_external(&self, by: &Principal, kind: &str, data: serde_json::Value) -> Result<Appended> {
        by.require_operator_or(&[Role::Admin])?;
        let Some(name) = kind.strip_prefix("external.") else {
            return Err(CoreError::Invalid(format!(
                "kind {kind:?} refused: operators may only record `external.<name>` kinds"
            )));
        };
        validate_kind(name).map_err(|e| CoreError::Invalid(format!("kind {kind:?} refused: {e}")))?;
        if !data.is_object() {
            return Err(CoreError::Invalid(
                "the data must be a JSON object, e.g. {\"reviewer\": \"alice\"}".into(),
            ));
        }
        self.record(kind, &by.actor(), data, Vec::new())
    }
}
