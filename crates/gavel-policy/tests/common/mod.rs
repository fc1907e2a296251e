//! Shared helpers for the integration tests.
#![allow(dead_code)]

use gavel_policy::{parse_and_validate, LoadedSet, Mode, ToolCall};

pub fn set(id: &str, version: u32, mode: Mode, text: &str) -> LoadedSet {
    let source = parse_and_validate(id, text).unwrap_or_else(|e| panic!("{id} should validate: {e}"));
    LoadedSet { set_id: id.to_string(), version, mode, source }
}

/// A plain call by agent `a1` in group `support`, in `dev`, to an uncategorised tool `t`.
pub fn call() -> ToolCall {
    ToolCall {
        agent_id: "a1".into(),
        owner: "alice".into(),
        environment: "dev".into(),
        tier: "standard".into(),
        groups: vec!["support".into()],
        tool: "t".into(),
        tool_category: None,
        arguments: serde_json::json!({}),
        on_behalf_of: None,
        cost_usd: None,
        hour_utc: 12,
    }
}
