//! The one error type of the ledger library.

/// Everything that can go wrong inside the ledger. Variants carry enough context to tell an
/// operator *what* is wrong, never just that something is.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("invalid event: {0}")]
    InvalidEvent(String),
    #[error("invalid proof: {0}")]
    InvalidProof(String),
    #[error("invalid checkpoint: {0}")]
    InvalidCheckpoint(String),
    #[error("invalid key: {0}")]
    InvalidKey(String),
    #[error("index out of range: {0}")]
    OutOfRange(String),
    #[error("node source: {0}")]
    Source(String),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}
