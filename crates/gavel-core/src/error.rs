//! The one error type of the domain. Each variant maps to one HTTP status and one stable
//! machine-readable code, so front ends never invent their own.

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
            StoreError::Ledger(e) => CoreError::Invalid(e.to_string()),
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
