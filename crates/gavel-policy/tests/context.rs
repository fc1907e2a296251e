//! What policies can see of a tool call: principal attributes and groups, tool category, argument tags,
//! argument text, on_behalf_of, environment, cost and hour.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

mod common;

use common::{call, set};
use gavel_policy::{Engine, Mode, Outcome, ToolCall};
use serde_json::json;

/// The enforced outcome of `call` under a single permit with `condition`.
fn when(condition: &str, call: &ToolCall) -> Outcome {
    let text =
        format!("permit (principal, action == Action::\"call_tool\", resource) when {{ {condition} }};");
    let engine = Engine::new(vec![set("t", 1, Mode::Enforce, &text)]).expect("engine");
    engine.evaluate(call).enforced.expect("enforced").outcome
}

#[test]
fn principal_attributes_and_groups() {
    let c = call();
    assert_eq!(when(r#"principal.owner == "alice" && principal.tier == "standard""#, &c), Outcome::Allow);
    assert_eq!(when(r#"principal.environment == "dev""#, &c), Outcome::Allow);
    assert_eq!(when(r#"principal in AgentGroup::"support""#, &c), Outcome::Allow);
    assert_eq!(when(r#"principal in AgentGroup::"finance""#, &c), Outcome::Deny);
    assert_eq!(when(r#"principal == Agent::"a1""#, &c), Outcome::Allow);
}

#[test]
fn tool_name_and_category() {
    let mut c = call();
    assert_eq!(when(r#"resource.category == "none""#, &c), Outcome::Allow, "uncategorised is \"none\"");
    assert_eq!(when(r#"resource == Tool::"t""#, &c), Outcome::Allow);
    c.tool_category = Some("payments".into());
    assert_eq!(when(r#"resource.category == "payments""#, &c), Outcome::Allow);
}

#[test]
fn argument_tags_by_key() {
    let mut c = call();
    c.arguments = json!({"command": "sudo rm x", "count": 3, "opts": {"b": true, "a": [1]}});
    let tag = |k: &str, pattern: &str| {
        format!(r#"context.arguments.hasTag("{k}") && context.arguments.getTag("{k}") like "{pattern}""#)
    };
    assert_eq!(when(&tag("command", "sudo *"), &c), Outcome::Allow);
    assert_eq!(when(&tag("count", "3"), &c), Outcome::Allow);
    assert_eq!(when(&tag("opts", r#"{\"a\":[1],\"b\":true}"#), &c), Outcome::Allow);
    assert_eq!(when(&tag("missing", "*"), &c), Outcome::Deny);
    // getTag without hasTag does not validate, so it cannot error at run time.
    assert!(gavel_policy::parse_and_validate(
        "s",
        r#"permit (principal, action, resource) when { context.arguments.getTag("x") == "y" };"#
    )
    .is_err());
}

#[test]
fn argument_text_is_sorted_compact_json() {
    let mut c = call();
    c.arguments = json!({"b": "rm -rf /tmp", "a": 1});
    assert_eq!(when(r#"context.argument_text == "{\"a\":1,\"b\":\"rm -rf /tmp\"}""#, &c), Outcome::Allow);
    assert_eq!(when(r#"context.argument_text like "*rm -rf*""#, &c), Outcome::Allow);
    c.arguments = json!("not an object");
    assert_eq!(when(r#"context.argument_text == "\"not an object\"""#, &c), Outcome::Allow);
}

#[test]
fn on_behalf_of_is_empty_when_absent() {
    let mut c = call();
    assert_eq!(when(r#"context.on_behalf_of == """#, &c), Outcome::Allow);
    c.on_behalf_of = Some("user-42".into());
    assert_eq!(when(r#"context.on_behalf_of == "user-42""#, &c), Outcome::Allow);
}

#[test]
fn environment_and_hour() {
    let mut c = call();
    c.hour_utc = 22;
    assert_eq!(when(r#"context.environment == "dev" && context.hour_utc >= 9"#, &c), Outcome::Allow);
    assert_eq!(when(r#"context.hour_utc < 18"#, &c), Outcome::Deny);
}

#[test]
fn cost_is_an_optional_decimal() {
    let cond = r#"context has cost_usd && context.cost_usd.lessThanOrEqual(decimal("100.00"))"#;
    let mut c = call();
    c.cost_usd = Some(99.99);
    assert_eq!(when(cond, &c), Outcome::Allow);
    c.cost_usd = Some(100.01);
    assert_eq!(when(cond, &c), Outcome::Deny);
    c.cost_usd = None;
    assert_eq!(when(cond, &c), Outcome::Deny);
    assert_eq!(when("!(context has cost_usd)", &c), Outcome::Allow);
}
