//! The built-in SOC 2 pack: it loads, validates, matches the files on disk, and decides a table of
//! realistic calls as its README says.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

use std::path::Path;

use gavel_policy::{builtin_pack, load_pack, parse_and_validate, Engine, LoadedSet, Mode, Outcome, ToolCall};
use serde_json::json;

fn pack_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../packs/soc2"))
}

fn engine(mode: Mode) -> (Engine, gavel_policy::Pack) {
    let pack = builtin_pack("soc2").expect("the soc2 pack is built in");
    let source = parse_and_validate(&pack.name, &pack.policies).expect("soc2 policies validate");
    let engine =
        Engine::new(vec![LoadedSet { set_id: pack.name.clone(), version: pack.version, mode, source }])
            .expect("engine");
    (engine, pack)
}

/// A call whose tool category comes from the pack, as the server will look it up.
fn call(pack: &gavel_policy::Pack, group: &str, env: &str, tool: &str, args: serde_json::Value) -> ToolCall {
    ToolCall {
        agent_id: format!("{group}-agent"),
        owner: "platform@example.com".into(),
        environment: env.into(),
        tier: "standard".into(),
        groups: if group.is_empty() { vec![] } else { vec![group.to_string()] },
        tool: tool.into(),
        tool_category: pack.category_of(tool).map(str::to_string),
        arguments: args,
        on_behalf_of: None,
        cost_usd: None,
        hour_utc: 10,
    }
}

#[test]
fn builtin_pack_matches_the_directory_and_validates() {
    let builtin = builtin_pack("soc2").expect("builtin");
    let on_disk = load_pack(pack_dir()).expect("load_pack");
    assert_eq!(builtin, on_disk);
    assert_eq!((builtin.name.as_str(), builtin.version), ("soc2", 1));
    assert!(!builtin.description.is_empty());

    let source = parse_and_validate("soc2", &builtin.policies).expect("validates");
    assert!(source.warnings.is_empty(), "{:?}", source.warnings);
    let ids: Vec<&str> = source.policies.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(
        ids,
        vec![
            "allow_read_only",
            "allow_support_external_comm",
            "hold_finance_payments",
            "hold_ops_data_deletion",
            "allow_ops_privileged_outside_production",
            "hold_ops_privileged_in_production",
            "deny_destructive_in_production",
        ]
    );
    let holds: Vec<&str> =
        source.policies.iter().filter(|p| p.require_approval).map(|p| p.id.as_str()).collect();
    assert_eq!(
        holds,
        vec!["hold_finance_payments", "hold_ops_data_deletion", "hold_ops_privileged_in_production"]
    );
}

#[test]
fn tool_categories() {
    let p = builtin_pack("soc2").expect("builtin");
    for (tool, category) in [
        ("stripe.create_charge", "payments"),
        ("transfer_funds", "payments"),
        ("send_email", "external_comm"),
        ("slack.post_message", "external_comm"),
        ("delete_records", "data_deletion"),
        ("s3.delete_object", "data_deletion"),
        ("kubectl", "privileged"),
        ("shell.exec", "privileged"),
        ("iam.update_policy", "privileged"),
        ("search_docs", "read_only"),
        ("read_file", "read_only"),
    ] {
        assert_eq!(p.category_of(tool), Some(category), "{tool}");
    }
}

#[test]
fn readme_explains_every_policy() {
    let readme = std::fs::read_to_string(pack_dir().join("README.md")).expect("README.md");
    let source = parse_and_validate("soc2", &builtin_pack("soc2").expect("builtin").policies).expect("valid");
    for p in &source.policies {
        assert!(readme.contains(&format!("`{}`", p.id)), "README does not explain {}", p.id);
    }
}

#[test]
fn realistic_calls() {
    let (engine, pack) = engine(Mode::Enforce);
    let none = json!({});
    let rows: Vec<(&str, &str, &str, serde_json::Value, Outcome, &str)> = vec![
        // group, environment, tool, arguments, expected outcome, policy that decides ("" = default deny)
        (
            "support",
            "production",
            "send_email",
            json!({"to": "c@example.com"}),
            Outcome::Allow,
            "allow_support_external_comm",
        ),
        (
            "support",
            "production",
            "slack.post_message",
            json!({"text": "hi"}),
            Outcome::Allow,
            "allow_support_external_comm",
        ),
        ("support", "production", "stripe.create_charge", json!({"amount": 500}), Outcome::Deny, ""),
        ("support", "production", "delete_records", none.clone(), Outcome::Deny, ""),
        (
            "finance",
            "production",
            "transfer_funds",
            json!({"amount": 1200}),
            Outcome::RequireApproval,
            "hold_finance_payments",
        ),
        (
            "finance",
            "staging",
            "stripe.create_charge",
            json!({"amount": 5}),
            Outcome::RequireApproval,
            "hold_finance_payments",
        ),
        ("finance", "production", "send_email", none.clone(), Outcome::Deny, ""),
        ("", "production", "transfer_funds", json!({"amount": 1}), Outcome::Deny, ""),
        ("marketing", "dev", "stripe.create_charge", json!({"amount": 1}), Outcome::Deny, ""),
        (
            "ops",
            "production",
            "delete_records",
            json!({"table": "sessions"}),
            Outcome::RequireApproval,
            "hold_ops_data_deletion",
        ),
        (
            "ops",
            "production",
            "shell.exec",
            json!({"cmd": "ls /var/log"}),
            Outcome::RequireApproval,
            "hold_ops_privileged_in_production",
        ),
        (
            "ops",
            "staging",
            "shell.exec",
            json!({"cmd": "ls /var/log"}),
            Outcome::Allow,
            "allow_ops_privileged_outside_production",
        ),
        (
            "ops",
            "production",
            "shell.exec",
            json!({"cmd": "rm -rf /"}),
            Outcome::Deny,
            "deny_destructive_in_production",
        ),
        (
            "support",
            "production",
            "shell.exec",
            json!({"cmd": "rm -rf /"}),
            Outcome::Deny,
            "deny_destructive_in_production",
        ),
        (
            "ops",
            "production",
            "kubectl",
            json!({"args": "delete namespace payments"}),
            Outcome::Deny,
            "deny_destructive_in_production",
        ),
        (
            "ops",
            "production",
            "sql.execute",
            json!({"sql": "DROP TABLE users;"}),
            Outcome::Deny,
            "deny_destructive_in_production",
        ),
        (
            "ops",
            "production",
            "sql.execute",
            json!({"sql": "truncate table audit"}),
            Outcome::Deny,
            "deny_destructive_in_production",
        ),
        (
            "finance",
            "production",
            "transfer_funds",
            json!({"memo": "x'; DROP TABLE payments;--"}),
            Outcome::Deny,
            "deny_destructive_in_production",
        ),
        (
            "ops",
            "staging",
            "shell.exec",
            json!({"cmd": "rm -rf /tmp/build"}),
            Outcome::Allow,
            "allow_ops_privileged_outside_production",
        ),
        (
            "ops",
            "production",
            "iam.update_policy",
            json!({"role": "reader"}),
            Outcome::RequireApproval,
            "hold_ops_privileged_in_production",
        ),
        ("support", "production", "shell.exec", json!({"cmd": "ls"}), Outcome::Deny, ""),
        (
            "support",
            "production",
            "search_docs",
            json!({"q": "refund policy"}),
            Outcome::Allow,
            "allow_read_only",
        ),
        ("", "dev", "read_file", json!({"path": "README.md"}), Outcome::Allow, "allow_read_only"),
        ("finance", "production", "read_file", json!({"path": "a"}), Outcome::Allow, "allow_read_only"),
        ("ops", "production", "some_new_tool", none.clone(), Outcome::Deny, ""),
    ];
    for (group, env, tool, args, expected, by) in rows {
        let c = call(&pack, group, env, tool, args.clone());
        let v = engine.evaluate(&c).enforced.expect("soc2 enforces");
        let label = format!("{group:?} {env} {tool} {args}");
        assert_eq!(v.outcome, expected, "{label}: {v:?}");
        let ids: Vec<&str> = v.policies.iter().map(|p| p.policy_id.as_str()).collect();
        if by.is_empty() {
            assert!(ids.is_empty(), "{label}: {v:?}");
            assert_eq!(v.reasons, vec!["no policy permits this call (default deny)"], "{label}");
        } else {
            assert_eq!(ids, vec![by], "{label}: {v:?}");
        }
        assert!(v.errors.is_empty(), "{label}: {v:?}");
    }
}

#[test]
fn reasons_name_pack_policy_and_version() {
    let (engine, pack) = engine(Mode::Enforce);
    let v = engine
        .evaluate(&call(&pack, "ops", "production", "shell.exec", json!({"cmd": "sudo rm -rf /srv"})))
        .enforced
        .expect("enforced");
    assert_eq!(v.reasons, vec!["forbidden by soc2/deny_destructive_in_production (v1)"]);
    let v = engine
        .evaluate(&call(&pack, "finance", "production", "transfer_funds", json!({})))
        .enforced
        .expect("enforced");
    assert_eq!(v.reasons, vec!["approval required by soc2/hold_finance_payments (v1)"]);
}

#[test]
fn installed_in_observe_mode_it_only_records() {
    let (engine, pack) = engine(Mode::Observe);
    let ev = engine.evaluate(&call(&pack, "", "production", "transfer_funds", json!({"amount": 1})));
    assert_eq!(ev.enforced, None);
    assert_eq!(ev.would_have.map(|v| v.outcome), Some(Outcome::Deny));
}
