//! The tool registry's category changes (gavel-core `tool_categories`): a change of which
//! category policies see for some tools, proposed by one admin (`tools.categories_proposed`),
//! applied when a different admin approves it (`tools.categories_applied`) or rejected by any
//! admin (`tools.categories_rejected`).
//!
//! Invariants: those of the crate (written by these types, read tolerantly, unknown fields kept in
//! `other`). Each assignment carries the category in force when the change was proposed
//! (`previous`), so the log alone says what every approval replaced; `None` is "uncategorised"
//! (policies see `"none"`).

use crate::lenient;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One tool's category in a change: the one it gets and the one in force at proposal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CategoryAssignment {
    #[serde(deserialize_with = "lenient")]
    pub tool: String,
    /// The category the change gives the tool (`None`: uncategorised).
    #[serde(deserialize_with = "lenient")]
    pub category: Option<String>,
    /// The category in force when the change was proposed (`None`: uncategorised).
    #[serde(deserialize_with = "lenient")]
    pub previous: Option<String>,
}

/// `tools.categories_proposed`: an admin proposed a category change, waiting for a second admin.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ToolCategoriesProposed {
    #[serde(deserialize_with = "lenient")]
    pub change_id: String,
    /// Where the categories come from: `upstream:<name>` (a gateway upstream's configuration) or
    /// `admin`.
    #[serde(deserialize_with = "lenient")]
    pub source: String,
    #[serde(deserialize_with = "lenient")]
    pub assignments: Vec<CategoryAssignment>,
    /// Who proposed it (user id and name).
    #[serde(deserialize_with = "lenient")]
    pub proposed_by: String,
    #[serde(deserialize_with = "lenient")]
    pub proposed_by_name: String,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `tools.categories_applied`: a second admin approved a category change; decide and the
/// gateway's tool lists see the new categories from the next call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ToolCategoriesApplied {
    #[serde(deserialize_with = "lenient")]
    pub change_id: String,
    #[serde(deserialize_with = "lenient")]
    pub source: String,
    #[serde(deserialize_with = "lenient")]
    pub assignments: Vec<CategoryAssignment>,
    #[serde(deserialize_with = "lenient")]
    pub proposed_by: String,
    #[serde(deserialize_with = "lenient")]
    pub proposed_by_name: String,
    #[serde(deserialize_with = "lenient")]
    pub approved_by: String,
    #[serde(deserialize_with = "lenient")]
    pub approved_by_name: String,
    #[serde(deserialize_with = "lenient")]
    pub comment: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `tools.categories_rejected`: a pending category change was rejected (or withdrawn by its
/// author); nothing changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ToolCategoriesRejected {
    #[serde(deserialize_with = "lenient")]
    pub change_id: String,
    #[serde(deserialize_with = "lenient")]
    pub rejected_by: String,
    #[serde(deserialize_with = "lenient")]
    pub rejected_by_name: String,
    #[serde(deserialize_with = "lenient")]
    pub comment: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{kind, retype};
    use serde_json::json;

    #[test]
    fn a_change_reads_back_as_written_nulls_included() {
        let applied = json!({"change_id": "tcc_1", "source": "upstream:files",
            "assignments": [{"tool": "read_file", "category": "read_only", "previous": null},
                            {"tool": "wipe", "category": null, "previous": "destructive"}],
            "proposed_by": "usr_1", "proposed_by_name": "alice", "approved_by": "usr_2",
            "approved_by_name": "bob", "comment": null, "future": 1});
        assert_eq!(retype(kind::TOOLS_CATEGORIES_APPLIED, &applied).expect("typed").expect("reads"), applied);
        let odd: ToolCategoriesProposed = crate::read(&json!({"change_id": "tcc_2", "assignments": 5}));
        assert_eq!((odd.change_id.as_str(), odd.assignments.len()), ("tcc_2", 0));
    }
}
