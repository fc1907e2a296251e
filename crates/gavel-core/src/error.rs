//! The one error type of the domain. Each variant maps to one HTTP status and one stable
//! machine-readable code, so front ends never invent their own.

use gavel_ledger::LedgerError;
use gavel_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// Bad input: the request can never succeed as sent (400).
    #[error("{0}")]
    Invalid(String),
    /// No or bad credentials (401).
    #[error("{0}")]
    Unauthenticated(String),
    /// Authenticated but not allowed, including the two-person rules (403).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// The state changed under the request, or it was already decided (409).
    #[error("{0}")]
    Conflict(String),
    /// The request is valid but no longer possible, e.g. an expired approval (410/422 in HTTP).
    #[error("{0}")]
    Gone(String),
    /// The log could not commit: nothing was recorded, and a caller must fail closed (503).
    #[error("the audit log is unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl CoreError {
    /// The stable code for the `{"error": {"code", "message"}}` body.
    pub fn code(&self) -> &'static str {
        match self {
            CoreError::Invalid(_) => "invalid_request",
            CoreError::Unauthenticated(_) => "unauthenticated",
            CoreError::Forbidden(_) => "forbidden",
            CoreError::NotFound(_) => "not_found",
            CoreError::Conflict(_) => "conflict",
            CoreError::Gone(_) => "gone",
            CoreError::Unavailable(_) => "unavailable",
            CoreError::Internal(_) => "internal",
        }
    }
}

impl From<StoreError> for CoreError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => CoreError::Conflict(m),
            StoreError::NotFound(m) => CoreError::NotFound(m),
            StoreError::Invalid(m) => CoreError::Invalid(m),
            // What a caller sent (an event draft, a seq past the end) is their error; a proof,
            // checkpoint, key or node that does not hold together is the server's, never a 400.
            StoreError::Ledger(e @ (LedgerError::InvalidEvent(_) | LedgerError::OutOfRange(_))) => {
                CoreError::Invalid(e.to_string())
            }
            StoreError::Ledger(e @ LedgerError::Io(_)) => CoreError::Unavailable(e.to_string()),
            StoreError::Ledger(e) => CoreError::Internal(format!("log integrity: {e}")),
            e @ StoreError::Integrity(_) => CoreError::Internal(e.to_string()),
            e @ (StoreError::Database(_) | StoreError::WriterGone | StoreError::Io(_)) => {
                CoreError::Unavailable(e.to_string())
            }
        }
    }
}

impl From<gavel_policy::PolicyError> for CoreError {
    fn from(e: gavel_policy::PolicyError) -> Self {
        CoreError::Invalid(e.to_string())
    }
}

pub type Result<T, E = CoreError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_integrity_fault_is_the_servers_error_and_bad_input_the_callers() {
        let map = |e: LedgerError| CoreError::from(StoreError::Ledger(e)).code();
        assert_eq!(map(LedgerError::InvalidEvent("kind".into())), "invalid_request");
        assert_eq!(map(LedgerError::OutOfRange("seq 9 of 3".into())), "invalid_request");
        assert_eq!(map(LedgerError::InvalidProof("node".into())), "internal");
        assert_eq!(map(LedgerError::Source("missing node".into())), "internal");
        assert_eq!(map(LedgerError::InvalidCheckpoint("root".into())), "internal");
        assert_eq!(map(LedgerError::Io(std::io::Error::other("disk"))), "unavailable");
    }
}
