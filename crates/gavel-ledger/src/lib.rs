//! gavel-ledger: the tamper-evident log, as a library that knows nothing of agents.
//!
//! * [`event`]: events and their RFC 8785 (JCS) canonical bytes; `prev` chains leaf hashes.
//! * [`hash`]: RFC 6962 leaf and node hashing.
//! * [`merkle`]: the RFC 6962 / RFC 9162 Merkle tree over leaf hashes, with inclusion and
//!   consistency proofs computed from stored complete subtrees (never by rehashing the log).
//! * [`checkpoint`]: Ed25519 signed checkpoints in the C2SP tlog-checkpoint / signed-note format.
//! * [`verify`]: verification of a stored range of the log.
//!
//! Invariant shared by every module: the bytes of an event in the log are its JCS canonical form,
//! and the Merkle leaf of event `seq` is `SHA-256(0x00 || bytes)`.

pub mod canonical;
pub mod checkpoint;
pub mod clock;
pub mod error;
pub mod event;
pub mod hash;
pub mod jcs;
pub mod keys;
pub mod merkle;
pub mod verify;

pub use error::LedgerError;
pub use hash::Hash;
