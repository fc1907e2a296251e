//! Errors of the policy crate.
//!
//! Invariant: every error that points into policy text carries a 1-based line (and column when known),
//! so a CLI or API can show the author exactly where to look.

use std::path::PathBuf;

/// Everything that can go wrong while validating policy text, building an [`crate::Engine`] or
/// loading a pack. Evaluating a tool call never fails: problems there become a deny (fail closed).
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The policy text does not parse, does not validate against the gavel schema, or breaks a gavel
    /// rule (ids, annotations). `line`/`column` are 1-based and present when the problem has a location.
    #[error("{}", render_location(*line, *column, message))]
    Invalid { line: Option<u32>, column: Option<u32>, message: String },

    /// The text holds no policy at all (empty, whitespace or comments only).
    #[error("policy text is empty: a policy set needs at least one policy")]
    Empty,

    /// A policy set id is unusable (it names policies in decisions and logs).
    #[error("invalid policy set id {id:?}: {reason}")]
    InvalidSetId { id: String, reason: String },

    /// Two loaded sets share an id; ids name policies in decisions, so they must be unique.
    #[error("policy set {0:?} is loaded more than once")]
    DuplicateSet(String),

    /// A stored source's hash does not match its text: the record was altered or mixed up.
    #[error("policy set {set_id:?}: stored sha256 {stored} does not match the text (sha256 {actual})")]
    HashMismatch { set_id: String, stored: String, actual: String },

    /// A policy set failed validation while an engine was being built; names the set.
    #[error("policy set {set_id:?} (v{version}): {source}")]
    InSet {
        set_id: String,
        version: u32,
        #[source]
        source: Box<PolicyError>,
    },

    /// A pack file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A pack file is malformed (TOML syntax, missing field, bad value, invalid policies).
    #[error("pack file {}: {message}", path.display())]
    Pack { path: PathBuf, message: String },

    /// The embedded schema did not load. This is a bug in gavel, never a user error.
    #[error("internal error: the embedded Cedar schema does not load: {0}")]
    Schema(String),
}

fn render_location(line: Option<u32>, column: Option<u32>, message: &str) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!("line {l}, column {c}: {message}"),
        (Some(l), None) => format!("line {l}: {message}"),
        _ => message.to_string(),
    }
}

impl PolicyError {
    /// An [`PolicyError::Invalid`] without a location.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        PolicyError::Invalid { line: None, column: None, message: message.into() }
    }

    /// The (line, column) of the underlying problem, looking through [`PolicyError::InSet`].
    pub fn location(&self) -> Option<(u32, Option<u32>)> {
        match self {
            PolicyError::Invalid { line: Some(l), column, .. } => Some((*l, *column)),
            PolicyError::InSet { source, .. } => source.location(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_renders_line_and_column() {
        let e = PolicyError::Invalid { line: Some(3), column: Some(12), message: "bad".into() };
        assert_eq!(e.to_string(), "line 3, column 12: bad");
        let e = PolicyError::Invalid { line: Some(3), column: None, message: "bad".into() };
        assert_eq!(e.to_string(), "line 3: bad");
        assert_eq!(PolicyError::invalid("bad").to_string(), "bad");
    }

    #[test]
    fn in_set_names_the_set_and_keeps_the_location() {
        let e = PolicyError::InSet {
            set_id: "soc2".into(),
            version: 2,
            source: Box::new(PolicyError::Invalid { line: Some(4), column: Some(1), message: "x".into() }),
        };
        assert_eq!(e.to_string(), "policy set \"soc2\" (v2): line 4, column 1: x");
        assert_eq!(e.location(), Some((4, Some(1))));
    }
}
