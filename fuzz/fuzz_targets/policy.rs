//! Policy text, as an admin proposes it: parse and validate never panic; a set that validates
//! builds an engine (alone, enforcing, and observed beside a fixed enforcing set), and on fixed
//! tool calls gavel's native evaluator returns exactly what Cedar, the reference, returns.
#![no_main]

use gavel_policy::{parse_and_validate, Engine, LoadedSet, Mode, ToolCall};
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fn calls() -> Vec<ToolCall> {
    let base = ToolCall {
        agent_id: "agt_1".into(),
        owner: "alice".into(),
        environment: "production".into(),
        tier: "gold".into(),
        groups: vec!["ops".into(), "finance".into()],
        tool: "refund".into(),
        tool_category: Some("payments".into()),
        arguments: json!({"amount": 12.5, "cmd": "rm -rf /", "to": ["a@example.com"], "n": {"deep": true}}),
        on_behalf_of: Some("bob".into()),
        cost_usd: Some(1.5),
        hour_utc: 3,
    };
    let mut other = base.clone();
    other.tool = "t1".into();
    other.tool_category = None;
    other.groups.clear();
    other.arguments = json!({});
    other.on_behalf_of = None;
    other.cost_usd = None;
    other.environment = "staging".into();
    other.hour_utc = 23;
    vec![base, other]
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(source) = parse_and_validate("fuzz", text) else { return };
    let set = |id: &str, mode, source| LoadedSet { set_id: id.into(), version: 1, mode, source };
    let alone = Engine::new(vec![set("fuzz", Mode::Enforce, source.clone())]).expect("a validated set loads");
    let base = parse_and_validate("base", "permit (principal in AgentGroup::\"ops\", action, resource);")
        .expect("base set");
    let observed = Engine::new(vec![set("base", Mode::Enforce, base), set("fuzz", Mode::Observe, source)])
        .expect("a validated set loads beside another");
    for call in calls() {
        for engine in [&alone, &observed] {
            assert_eq!(engine.evaluate(&call), engine.evaluate_with_cedar(&call), "{text}\n{call:?}");
        }
    }
});
