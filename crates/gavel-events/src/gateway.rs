//! What the MCP gateway reports of the upstream servers it relays: `gateway.tools_seen`, an
//! upstream's tool list as one agent's gateway received it, recorded when it differs from the
//! last one recorded for that agent and upstream.
//!
//! Invariants: those of the crate (written by these types, read tolerantly, unknown fields kept in
//! `other`). A tool is named and hashed, never described: the SHA-256 of its definition stands
//! for its description and schemas, which may carry anything the upstream put there.

use crate::lenient;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One tool of a list: its name and the SHA-256 (hex) of its definition, as the gateway computes
/// it (gavel-gateway `tools`).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(default)]
pub struct SeenTool {
    #[serde(deserialize_with = "lenient")]
    pub name: String,
    #[serde(deserialize_with = "lenient")]
    pub sha256: String,
}

/// A tool already seen whose definition changed: the rug pull of an MCP server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChangedTool {
    #[serde(deserialize_with = "lenient")]
    pub name: String,
    #[serde(deserialize_with = "lenient")]
    pub previous_sha256: String,
    #[serde(deserialize_with = "lenient")]
    pub sha256: String,
}

/// `gateway.tools_seen`: the tool list of `upstream` as the gateway of `agent_id` got it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GatewayToolsSeen {
    #[serde(deserialize_with = "lenient")]
    pub agent_id: String,
    #[serde(deserialize_with = "lenient")]
    pub agent_name: String,
    /// The gateway's name for the upstream server.
    #[serde(deserialize_with = "lenient")]
    pub upstream: String,
    /// SHA-256 of the list (see gavel-core `gateway`): equal lists, equal hashes.
    #[serde(deserialize_with = "lenient")]
    pub tools_sha256: String,
    /// The list recorded before for this agent and upstream; `None` the first time.
    #[serde(deserialize_with = "lenient")]
    pub previous_sha256: Option<String>,
    /// The whole list, sorted by name.
    #[serde(deserialize_with = "lenient")]
    pub tools: Vec<SeenTool>,
    /// Names new since the previous list (empty the first time).
    #[serde(deserialize_with = "lenient")]
    pub added: Vec<String>,
    /// Names gone since the previous list.
    #[serde(deserialize_with = "lenient")]
    pub removed: Vec<String>,
    /// Tools of the previous list whose definition changed.
    #[serde(deserialize_with = "lenient")]
    pub changed: Vec<ChangedTool>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}
