//! What the MCP gateway tells core about the upstream servers it relays, as the agent it serves
//! (`POST /v1/gateway/tools`): an upstream's tool list, by name and SHA-256 of each tool's
//! definition. Core records a `gateway.tools_seen` event when the list differs from the last one
//! recorded for this agent and upstream, and answers which of the tools the active policies deny
//! this agent outright, so the gateway can leave them out of the list it relays.
//!
//! Invariants:
//! * only agents call this, about themselves: the agent is the caller, never a parameter;
//! * the log grows only when a list changed: an unchanged list (same list hash) records nothing,
//!   nor does a page of a paginated list (`record: false`),
//!   and the last list is kept in `gateway_tools/<agent, upstream>`, updated by compare-and-set
//!   in the same transaction as its event;
//! * definitions are never sent or recorded, only their digests (a description may carry
//!   anything an upstream put there; a changed digest is enough to raise the detection, and the
//!   list itself is one `tools/list` away for a responder);
//! * the list hash is computed here from the names and digests ([`list_digest`]), never taken
//!   from the caller, so the recorded hash and the recorded list always agree;
//! * a tool of the previous list whose digest changed is a `changed` entry of the event; the
//!   detectors raise `tool_definition_changed` (high) from it;
//! * the denial answer is a dry run as `policy explain` makes it (the agent's registered
//!   attributes, the tool's category, no arguments, the engine in force), recording nothing;
//!   kill switches and limits are not consulted: they refuse calls, they do not shape the list;
//! * what was recorded is readable by users ([`Gavel::gateway_upstream_tools`]: the names per
//!   upstream, over every agent), so an admin can categorise an upstream's tools; the gateway
//!   itself never sets a category (`tool_categories`).

use crate::decide::{tool_call, DecideContext, DecideRequest};
use crate::{CoreError, Gavel, Principal, Result};
use gavel_events::{kind, ChangedTool, GatewayToolsSeen, SeenTool};
use gavel_ledger::event::Actor;
use gavel_policy::Outcome;
use gavel_store::docs::{DocKeys, DocQuery, Expect, StateOp};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// The collection of the last list recorded per agent and upstream.
pub const GATEWAY_TOOLS: &str = "gateway_tools";
/// The most tools one list may name.
pub const MAX_TOOLS: usize = 1000;
/// The longest upstream name.
pub const MAX_UPSTREAM_CHARS: usize = 128;

/// One tool of a list: its name and the SHA-256 (64 lowercase hex digits) of its definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolDigest {
    pub name: String,
    pub sha256: String,
}

/// The body of `POST /v1/gateway/tools`: an upstream's tool list as the gateway received it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolsSeenRequest {
    /// The gateway's stable name for the upstream (`--upstream-name`): ASCII letters, digits and
    /// `.`, `_`, `-`, `:`, `/`, `@`, at most 128.
    pub upstream: String,
    pub tools: Vec<ToolDigest>,
    /// `false` for one page of a paginated list: judged for the denial answer, never recorded
    /// (a page is not the upstream's list). Default `true`.
    #[serde(default = "yes")]
    pub record: bool,
}

fn yes() -> bool {
    true
}

/// What core did with a list, and what the active policies deny of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ToolsSeen {
    pub upstream: String,
    /// SHA-256 of the list ([`list_digest`]).
    pub tools_sha256: String,
    /// Whether a `gateway.tools_seen` event was recorded (the list differed from the last one).
    pub recorded: bool,
    /// Its seq, when recorded.
    pub seq: Option<u64>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Tools seen before whose definition changed (each raises `tool_definition_changed`).
    pub changed: Vec<String>,
    /// Tools the active policies deny this agent outright (a dry run without arguments; nothing
    /// recorded). Held tools are not in it.
    pub denied: Vec<String>,
}

/// The tool names recorded for one upstream, over every agent whose gateway reported it
/// (`GET /v1/gateway/tools`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UpstreamTools {
    pub upstream: String,
    /// Every tool name of the last list recorded for any agent, sorted.
    pub tools: Vec<String>,
    /// How many agents' gateways recorded a list of this upstream.
    pub agents: u64,
}

/// The last list of an upstream recorded for an agent (`gateway_tools/<id>`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LastList {
    agent_id: String,
    upstream: String,
    tools_sha256: String,
    tools: Vec<SeenTool>,
}

/// SHA-256 (hex) of RFC 8785 of the list `[{"name", "sha256"}, …]` sorted by name: equal lists
/// have equal digests whatever order the upstream listed them in.
pub fn list_digest(tools: &[SeenTool]) -> Result<String> {
    let mut sorted = tools.to_vec();
    sorted.sort();
    let value = serde_json::to_value(&sorted).map_err(|e| CoreError::Internal(e.to_string()))?;
    let bytes = gavel_ledger::jcs::to_vec(&value).map_err(|e| CoreError::Internal(e.to_string()))?;
    Ok(hex::encode(Sha256::digest(bytes)))
}

/// Checks an upstream name (the gateway checks `--upstream-name` with it at start).
pub fn check_upstream(upstream: &str) -> Result<()> {
    let ok = !upstream.is_empty()
        && upstream.len() <= MAX_UPSTREAM_CHARS
        && upstream.chars().all(|c| c.is_ascii_alphanumeric() || "._-:/@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(CoreError::Invalid(format!(
            "upstream must be 1-{MAX_UPSTREAM_CHARS} ASCII letters, digits or . _ - : / @"
        )))
    }
}

/// The request's tools, checked and sorted by name (names unique, 1-256 printable characters;
/// digests 64 lowercase hex digits).
fn check_tools(tools: &[ToolDigest]) -> Result<Vec<SeenTool>> {
    if tools.len() > MAX_TOOLS {
        return Err(CoreError::Invalid(format!(
            "a tool list has at most {MAX_TOOLS} tools, not {}",
            tools.len()
        )));
    }
    let mut seen = BTreeMap::new();
    for tool in tools {
        let name_ok =
            !tool.name.is_empty() && tool.name.len() <= 256 && !tool.name.chars().any(char::is_control);
        if !name_ok {
            return Err(CoreError::Invalid(
                "a tool name must be 1-256 bytes without control characters".into(),
            ));
        }
        let digest_ok = tool.sha256.len() == 64
            && tool.sha256.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
        if !digest_ok {
            return Err(CoreError::Invalid(format!(
                "the sha256 of tool {:?} must be 64 lowercase hex digits",
                tool.name
            )));
        }
        if seen.insert(tool.name.clone(), tool.sha256.clone()).is_some() {
            return Err(CoreError::Invalid(format!("tool {:?} is listed twice", tool.name)));
        }
    }
    Ok(seen.into_iter().map(|(name, sha256)| SeenTool { name, sha256 }).collect())
}

/// What changed from `before` to `now` (both sorted by name): added, removed, changed.
fn compare(before: &[SeenTool], now: &[SeenTool]) -> (Vec<String>, Vec<String>, Vec<ChangedTool>) {
    let old: BTreeMap<&str, &str> = before.iter().map(|t| (t.name.as_str(), t.sha256.as_str())).collect();
    let new: BTreeSet<&str> = now.iter().map(|t| t.name.as_str()).collect();
    let mut added = Vec::new();
    let mut changed = Vec::new();
    for tool in now {
        match old.get(tool.name.as_str()) {
            None => added.push(tool.name.clone()),
            Some(previous) if *previous != tool.sha256 => changed.push(ChangedTool {
                name: tool.name.clone(),
                previous_sha256: (*previous).to_string(),
                sha256: tool.sha256.clone(),
            }),
            Some(_) => {}
        }
    }
    let removed = before.iter().filter(|t| !new.contains(t.name.as_str())).map(|t| t.name.clone()).collect();
    (added, removed, changed)
}

impl Gavel {
    /// Records the tool list of `upstream` as the calling agent's gateway received it (when it
    /// changed) and answers which tools the active policies deny the agent (see the module doc).
    pub fn gateway_tools_seen(&self, by: &Principal, request: ToolsSeenRequest) -> Result<ToolsSeen> {
        // Two sessions of one agent may report the same upstream at once: the loser of the
        // compare-and-set reads the winner's list and compares with it.
        let mut attempts = 0;
        loop {
            match self.tools_seen_once(by, &request) {
                Err(CoreError::Conflict(_)) if attempts < 3 => attempts += 1,
                answer => return answer,
            }
        }
    }

    fn tools_seen_once(&self, by: &Principal, request: &ToolsSeenRequest) -> Result<ToolsSeen> {
        let Principal::Agent(agent) = by else {
            return Err(CoreError::Forbidden(
                "only the MCP gateway of an agent reports its tool lists; use an agent token".into(),
            ));
        };
        let agent = self.agent(&agent.id)?;
        check_upstream(&request.upstream)?;
        let tools = check_tools(&request.tools)?;
        let tools_sha256 = list_digest(&tools)?;
        let denied = self.denied_tools(&agent, &tools)?;
        let doc_id = hex::encode(Sha256::digest(format!("{}\n{}", agent.id, request.upstream)));
        let last = self.store.get_doc(GATEWAY_TOOLS, &doc_id)?;
        let (previous, expect) = match &last {
            Some(doc) => (Some(crate::from_doc::<LastList>(doc.clone())?), Expect::Version(doc.version)),
            None => (None, Expect::Absent),
        };
        let mut answer = ToolsSeen {
            upstream: request.upstream.clone(),
            tools_sha256: tools_sha256.clone(),
            recorded: false,
            seq: None,
            added: vec![],
            removed: vec![],
            changed: vec![],
            denied,
        };
        if !request.record || previous.as_ref().is_some_and(|p| p.tools_sha256 == tools_sha256) {
            return Ok(answer);
        }
        let (added, removed, changed) = match &previous {
            Some(p) => compare(&p.tools, &tools),
            None => (vec![], vec![], vec![]),
        };
        let event = GatewayToolsSeen {
            agent_id: agent.id.clone(),
            agent_name: agent.name.clone(),
            upstream: request.upstream.clone(),
            tools_sha256: tools_sha256.clone(),
            previous_sha256: previous.as_ref().map(|p| p.tools_sha256.clone()),
            tools: tools.clone(),
            added: added.clone(),
            removed: removed.clone(),
            changed: changed.clone(),
            other: Default::default(),
        };
        let body = crate::typed(&LastList {
            agent_id: agent.id.clone(),
            upstream: request.upstream.clone(),
            tools_sha256,
            tools,
        })?;
        let keys = DocKeys { k1: Some(agent.id.clone()), k2: Some(request.upstream.clone()), k3: None };
        let appended = self.record(
            kind::GATEWAY_TOOLS_SEEN,
            &Actor::agent(&agent.id),
            crate::typed(&event)?,
            vec![StateOp::put(GATEWAY_TOOLS, &doc_id, body, keys, expect)],
        )?;
        answer.recorded = true;
        answer.seq = Some(appended.seq);
        answer.added = added;
        answer.removed = removed;
        answer.changed = changed.into_iter().map(|c| c.name).collect();
        Ok(answer)
    }

    /// The tool names recorded for `upstream` (every upstream when `None`), the union of the last
    /// list of each agent (readers).
    pub fn gateway_upstream_tools(
        &self,
        by: &Principal,
        upstream: Option<&str>,
    ) -> Result<Vec<UpstreamTools>> {
        by.require_reader()?;
        if let Some(upstream) = upstream {
            check_upstream(upstream)?;
        }
        let mut query = DocQuery::new(GATEWAY_TOOLS, 100_000);
        query.k2 = upstream.map(str::to_string);
        let mut by_upstream: BTreeMap<String, (BTreeSet<String>, u64)> = BTreeMap::new();
        for doc in self.store.query_docs(&query)? {
            let last: LastList = crate::from_doc(doc)?;
            let (names, agents) = by_upstream.entry(last.upstream).or_default();
            names.extend(last.tools.into_iter().map(|t| t.name));
            *agents += 1;
        }
        Ok(by_upstream
            .into_iter()
            .map(|(upstream, (names, agents))| UpstreamTools {
                upstream,
                tools: names.into_iter().collect(),
                agents,
            })
            .collect())
    }

    /// The tools of `tools` the policies in force deny `agent` when called without arguments.
    fn denied_tools(&self, agent: &crate::Agent, tools: &[SeenTool]) -> Result<Vec<String>> {
        let now = self.clock.now();
        let mut denied = Vec::new();
        for tool in tools {
            let request = DecideRequest {
                tool: tool.name.clone(),
                resource: None,
                arguments: None,
                on_behalf_of: None,
                context: DecideContext::default(),
            };
            if crate::decide::check_request(&request).is_err() {
                // decide refuses such a name: no call of it can ever be allowed.
                denied.push(tool.name.clone());
                continue;
            }
            let inputs = self.decision_inputs(agent, &tool.name)?;
            let call = tool_call(agent, &request, &json!({}), inputs.category, now);
            let evaluation = self.engine_at(inputs.policy_epoch)?.evaluate(&call);
            if evaluation.enforced.is_some_and(|v| v.outcome == Outcome::Deny) {
                denied.push(tool.name.clone());
            }
        }
        Ok(denied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(name: &str, digit: char) -> SeenTool {
        SeenTool { name: name.into(), sha256: digit.to_string().repeat(64) }
    }

    #[test]
    fn the_list_digest_ignores_order_and_sees_every_change() {
        let a = vec![tool("add", 'a'), tool("wipe", 'b')];
        let b = vec![tool("wipe", 'b'), tool("add", 'a')];
        assert_eq!(list_digest(&a).unwrap(), list_digest(&b).unwrap());
        assert_ne!(list_digest(&a).unwrap(), list_digest(&[tool("add", 'a'), tool("wipe", 'c')]).unwrap());
        assert_ne!(list_digest(&a).unwrap(), list_digest(&[tool("add", 'a')]).unwrap());
    }

    #[test]
    fn comparing_lists_names_added_removed_and_changed_tools() {
        let before = vec![tool("add", 'a'), tool("old", 'b'), tool("wipe", 'c')];
        let now = vec![tool("add", 'a'), tool("new", 'd'), tool("wipe", 'e')];
        let (added, removed, changed) = compare(&before, &now);
        assert_eq!((added, removed), (vec!["new".to_string()], vec!["old".to_string()]));
        assert_eq!(
            changed,
            vec![ChangedTool {
                name: "wipe".into(),
                previous_sha256: "c".repeat(64),
                sha256: "e".repeat(64)
            }]
        );
    }

    #[test]
    fn bad_lists_and_upstream_names_are_refused() {
        let digest = |name: &str, sha256: &str| ToolDigest { name: name.into(), sha256: sha256.into() };
        let ok = "0".repeat(64);
        assert!(check_tools(&[digest("add", &ok)]).is_ok());
        assert!(check_tools(&[digest("add", &ok), digest("add", &ok)]).is_err(), "twice");
        assert!(check_tools(&[digest("add", &"A".repeat(64))]).is_err(), "uppercase hex");
        assert!(check_tools(&[digest("add", "00")]).is_err(), "short");
        assert!(check_tools(&[digest("", &ok)]).is_err());
        assert!(check_tools(&[digest("a\nb", &ok)]).is_err());
        assert!(check_upstream("files").is_ok() && check_upstream("127.0.0.1:8000/mcp").is_ok());
        assert!(check_upstream("").is_err() && check_upstream("a b").is_err());
        assert!(check_upstream(&"x".repeat(MAX_UPSTREAM_CHARS + 1)).is_err());
    }
}
