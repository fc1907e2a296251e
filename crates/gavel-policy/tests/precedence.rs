//! The decision rule (forbid > require_approval > permit > default deny), fail-closed errors, observe vs
//! enforce, id namespacing across sets, and validation errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

mod common;

use std::sync::Arc;

use common::{call, set};
use gavel_policy::{parse_and_validate, Engine, Mode, Outcome, PolicyError, PolicyRef, Verdict};

const PERMIT_ALL: &str = r#"@id("permit_all")
permit (principal, action, resource);"#;
const HOLD_ALL: &str = r#"@id("hold_all")
@gavel("require_approval")
permit (principal, action, resource);"#;
const FORBID_ALL: &str = r#"@id("forbid_all")
forbid (principal, action, resource);"#;
/// Validates; false at hour 0, satisfied at hour 1, overflows (errors) at run time whenever hour_utc >= 2.
const FORBID_ERRORS: &str = r#"@id("forbid_errors")
forbid (principal, action, resource)
when { context.hour_utc * 9223372036854775807 > 0 };"#;
const PERMIT_ERRORS: &str = r#"@id("permit_errors")
permit (principal, action, resource)
when { context.hour_utc * 9223372036854775807 > 0 };"#;
const HOLD_ERRORS: &str = r#"@id("hold_errors")
@gavel("require_approval")
permit (principal, action, resource)
when { context.hour_utc * 9223372036854775807 > 0 };"#;
const PERMIT_NOTHING: &str = r#"@id("permit_nothing")
permit (principal, action, resource) when { resource.category == "never" };"#;

fn enforced(texts: &[&str]) -> Verdict {
    let engine = Engine::new(vec![set("team", 3, Mode::Enforce, &texts.join("\n"))]).expect("engine");
    engine.evaluate(&call()).enforced.expect("an enforcing set gives an enforced verdict")
}

fn r(set_id: &str, version: u32, policy_id: &str) -> PolicyRef {
    PolicyRef { set_id: set_id.into(), version, policy_id: policy_id.into() }
}

#[test]
fn forbid_beats_require_approval_and_permit() {
    let v = enforced(&[PERMIT_ALL, HOLD_ALL, FORBID_ALL]);
    assert_eq!(v.outcome, Outcome::Deny);
    assert_eq!(v.policies, vec![r("team", 3, "forbid_all")]);
    assert_eq!(v.reasons, vec!["forbidden by team/forbid_all (v3)"]);
    assert!(v.errors.is_empty());
}

#[test]
fn require_approval_beats_permit() {
    let v = enforced(&[PERMIT_ALL, HOLD_ALL]);
    assert_eq!(v.outcome, Outcome::RequireApproval);
    assert_eq!(v.policies, vec![r("team", 3, "hold_all")]);
    assert_eq!(v.reasons, vec!["approval required by team/hold_all (v3)"]);
}

#[test]
fn permit_allows() {
    let v = enforced(&[PERMIT_ALL, PERMIT_NOTHING]);
    assert_eq!(v.outcome, Outcome::Allow);
    assert_eq!(v.policies, vec![r("team", 3, "permit_all")]);
    assert_eq!(v.reasons, vec!["permitted by team/permit_all (v3)"]);
}

#[test]
fn nothing_satisfied_is_default_deny() {
    let v = enforced(&[PERMIT_NOTHING]);
    assert_eq!(v.outcome, Outcome::Deny);
    assert!(v.policies.is_empty());
    assert_eq!(v.reasons, vec!["no policy permits this call (default deny)"]);
}

#[test]
fn a_forbid_that_errors_denies() {
    let v = enforced(&[PERMIT_ALL, HOLD_ALL, FORBID_ERRORS]);
    assert_eq!(v.outcome, Outcome::Deny);
    assert_eq!(v.policies, vec![r("team", 3, "forbid_errors")]);
    assert_eq!(v.reasons.len(), 1);
    assert!(
        v.reasons[0].contains("team/forbid_errors (v3)") && v.reasons[0].contains("fail closed"),
        "{v:?}"
    );
    assert_eq!(v.errors.len(), 1);
    assert!(v.errors[0].contains("team/forbid_errors (v3)") && v.errors[0].contains("overflow"), "{v:?}");
}

#[test]
fn a_forbid_that_does_not_error_does_not_deny() {
    // Same policy, hour 0: no overflow, condition false, so the permit stands. Guards the test above
    // against passing for the wrong reason.
    let engine = Engine::new(vec![set("team", 3, Mode::Enforce, &[PERMIT_ALL, FORBID_ERRORS].join("\n"))])
        .expect("engine");
    let mut c = call();
    c.hour_utc = 0;
    let v = engine.evaluate(&c).enforced.expect("enforced");
    assert_eq!(v.outcome, Outcome::Allow);
    assert!(v.errors.is_empty());
}

#[test]
fn a_permit_that_errors_is_ignored_but_recorded() {
    let v = enforced(&[PERMIT_ERRORS]);
    assert_eq!(v.outcome, Outcome::Deny);
    assert_eq!(v.reasons, vec!["no policy permits this call (default deny)"]);
    assert_eq!(v.errors.len(), 1);
    assert!(v.errors[0].contains("team/permit_errors (v3)"), "{v:?}");
}

#[test]
fn a_hold_that_errors_is_ignored_so_a_plain_permit_allows() {
    let v = enforced(&[HOLD_ERRORS, PERMIT_ALL]);
    assert_eq!(v.outcome, Outcome::Allow);
    assert_eq!(v.policies, vec![r("team", 3, "permit_all")]);
    assert!(v.errors[0].contains("team/hold_errors (v3)"), "{v:?}");
}

#[test]
fn precedence_applies_across_enforcing_sets() {
    let engine = Engine::new(vec![
        set("a", 1, Mode::Enforce, PERMIT_ALL),
        set("b", 2, Mode::Enforce, HOLD_ALL),
        set("c", 5, Mode::Enforce, PERMIT_NOTHING),
    ])
    .expect("engine");
    let v = engine.evaluate(&call()).enforced.expect("enforced");
    assert_eq!(v.outcome, Outcome::RequireApproval);
    assert_eq!(v.policies, vec![r("b", 2, "hold_all")]);

    let engine =
        Engine::new(vec![set("a", 1, Mode::Enforce, PERMIT_ALL), set("z", 9, Mode::Enforce, FORBID_ALL)])
            .expect("engine");
    let v = engine.evaluate(&call()).enforced.expect("enforced");
    assert_eq!((v.outcome, v.policies), (Outcome::Deny, vec![r("z", 9, "forbid_all")]));
}

#[test]
fn only_observe_sets_enforce_nothing_but_record_would_have() {
    let engine = Engine::new(vec![set("soc2", 1, Mode::Observe, FORBID_ALL)]).expect("engine");
    assert!(!engine.has_enforcing());
    let ev = engine.evaluate(&call());
    assert_eq!(ev.enforced, None);
    let w = ev.would_have.expect("would_have");
    assert_eq!(w.outcome, Outcome::Deny);
    assert_eq!(w.reasons, vec!["forbidden by soc2/forbid_all (v1)"]);
}

#[test]
fn only_enforcing_sets_have_no_would_have() {
    let engine = Engine::new(vec![set("team", 1, Mode::Enforce, PERMIT_ALL)]).expect("engine");
    assert!(engine.has_enforcing());
    let ev = engine.evaluate(&call());
    assert_eq!(ev.enforced.map(|v| v.outcome), Some(Outcome::Allow));
    assert_eq!(ev.would_have, None);
}

#[test]
fn would_have_combines_enforcing_and_observing_sets() {
    // The observe set would deny what the enforcing set allows: enforced stays allow.
    let engine = Engine::new(vec![
        set("team", 2, Mode::Enforce, PERMIT_ALL),
        set("soc2", 1, Mode::Observe, FORBID_ALL),
    ])
    .expect("engine");
    let ev = engine.evaluate(&call());
    let e = ev.enforced.expect("enforced");
    assert_eq!((e.outcome, e.policies), (Outcome::Allow, vec![r("team", 2, "permit_all")]));
    let w = ev.would_have.expect("would_have");
    assert_eq!((w.outcome, w.policies), (Outcome::Deny, vec![r("soc2", 1, "forbid_all")]));

    // An observe hold on top of an enforcing permit: would_have is a hold.
    let engine =
        Engine::new(vec![set("team", 2, Mode::Enforce, PERMIT_ALL), set("soc2", 1, Mode::Observe, HOLD_ALL)])
            .expect("engine");
    let w = engine.evaluate(&call()).would_have.expect("would_have");
    assert_eq!((w.outcome, w.policies), (Outcome::RequireApproval, vec![r("soc2", 1, "hold_all")]));

    // An observe permit alone lifts an enforced default deny only in would_have (the union of both groups).
    let engine = Engine::new(vec![
        set("team", 2, Mode::Enforce, PERMIT_NOTHING),
        set("soc2", 1, Mode::Observe, PERMIT_ALL),
    ])
    .expect("engine");
    let ev = engine.evaluate(&call());
    assert_eq!(ev.enforced.map(|v| v.outcome), Some(Outcome::Deny));
    assert_eq!(ev.would_have.map(|v| v.outcome), Some(Outcome::Allow));
}

#[test]
fn ids_are_namespaced_by_set() {
    let anon = "permit (principal, action, resource);";
    let engine = Engine::new(vec![set("a", 1, Mode::Enforce, anon), set("b", 4, Mode::Enforce, anon)])
        .expect("two sets may both have policy0");
    let v = engine.evaluate(&call()).enforced.expect("enforced");
    assert_eq!(v.outcome, Outcome::Allow);
    assert_eq!(v.policies, vec![r("a", 1, "policy0"), r("b", 4, "policy0")]);
    assert_eq!(v.reasons, vec!["permitted by a/policy0 (v1)", "permitted by b/policy0 (v4)"]);
}

#[test]
fn engine_is_shared_across_threads() {
    let engine = Arc::new(
        Engine::new(vec![set("team", 1, Mode::Enforce, &[PERMIT_ALL, FORBID_ERRORS].join("\n"))])
            .expect("engine"),
    );
    let handles: Vec<_> = (0..4u8)
        .map(|h| {
            let engine = Arc::clone(&engine);
            std::thread::spawn(move || {
                let mut c = call();
                // 0: forbid false, allow; 1: forbid satisfied; 2 and 3: forbid overflows, fail closed
                c.hour_utc = h;
                engine.evaluate(&c).enforced.map(|v| v.outcome)
            })
        })
        .collect();
    let outcomes: Vec<_> = handles.into_iter().map(|h| h.join().expect("thread")).collect();
    assert_eq!(
        outcomes,
        vec![Some(Outcome::Allow), Some(Outcome::Deny), Some(Outcome::Deny), Some(Outcome::Deny)]
    );
}

#[test]
fn verdicts_serialise_with_snake_case_outcomes() {
    let v = enforced(&[HOLD_ALL]);
    let json = serde_json::to_value(&v).expect("json");
    assert_eq!(json["outcome"], "require_approval");
    assert_eq!(json["policies"][0]["policy_id"], "hold_all");
    let back: Verdict = serde_json::from_value(json).expect("round trip");
    assert_eq!(back, v);
}

// ---- validation ----

#[test]
fn unknown_attribute_is_reported_on_its_line() {
    let text =
        "@id(\"x\")\npermit (principal, action, resource)\nwhen { principal.department == \"sales\" };\n";
    let err = parse_and_validate("team", text).unwrap_err();
    let PolicyError::Invalid { line, column, ref message } = err else { panic!("{err:?}") };
    assert_eq!(line, Some(3), "{message}");
    assert!(column.is_some());
    assert!(message.contains("department"), "{message}");
    assert!(err.to_string().starts_with("line 3, column "), "{err}");
}

#[test]
fn type_errors_are_refused() {
    // cost_usd is an optional decimal: comparing it as a number, or without `has`, does not validate.
    for bad in [
        r#"permit (principal, action, resource) when { context has cost_usd && context.cost_usd > 10 };"#,
        r#"permit (principal, action, resource) when { context.cost_usd.greaterThan(decimal("10.0")) };"#,
        r#"permit (principal == User::"x", action, resource);"#,
        r#"permit (principal, action == Action::"read", resource);"#,
    ] {
        assert!(matches!(parse_and_validate("s", bad), Err(PolicyError::Invalid { .. })), "{bad}");
    }
}

#[test]
fn unknown_gavel_annotation_is_refused_with_its_line() {
    let text = "@id(\"ok\")\npermit (principal, action, resource);\n\n@gavel(\"approve\")\npermit (principal, action, resource);\n";
    let err = parse_and_validate("s", text).unwrap_err();
    assert_eq!(err.location().map(|l| l.0), Some(4), "{err}");
    assert!(err.to_string().contains("\"approve\""), "{err}");

    let err = parse_and_validate("s", "@gavel\npermit (principal, action, resource);").unwrap_err();
    assert!(err.to_string().contains("unknown @gavel"), "{err}");
}

#[test]
fn require_approval_on_forbid_is_refused() {
    let err = parse_and_validate("s", "@gavel(\"require_approval\")\nforbid (principal, action, resource);")
        .unwrap_err();
    assert!(err.to_string().contains("only allowed on permit"), "{err}");
    assert_eq!(err.location().map(|l| l.0), Some(1));
}

#[test]
fn duplicate_ids_are_refused() {
    let text = "@id(\"p\")\npermit (principal, action, resource);\n@id(\"p\")\nforbid (principal, action, resource);";
    let err = parse_and_validate("s", text).unwrap_err();
    assert_eq!(err.location().map(|l| l.0), Some(3), "{err}");
    assert!(err.to_string().contains("used twice (first on line 1)"), "{err}");

    // An explicit id may not take the name a later policy gets by position.
    let text =
        "@id(\"policy1\")\npermit (principal, action, resource);\npermit (principal, action, resource);";
    assert!(parse_and_validate("s", text).is_err());
}

#[test]
fn empty_text_is_refused() {
    assert!(matches!(parse_and_validate("s", ""), Err(PolicyError::Empty)));
    assert!(matches!(parse_and_validate("s", "\n  // only a comment\n"), Err(PolicyError::Empty)));
    assert!(matches!(
        Engine::new(vec![gavel_policy::LoadedSet {
            set_id: "s".into(),
            version: 1,
            mode: Mode::Enforce,
            source: gavel_policy::PolicySetSource {
                text: String::new(),
                sha256: gavel_policy::text_sha256(""),
                policies: vec![],
                warnings: vec![],
            },
        }]),
        Err(PolicyError::InSet { .. })
    ));
}

#[test]
fn parse_errors_name_line_and_column() {
    let err = parse_and_validate(
        "s",
        "permit (principal, action, resource);\n\nforbid (principal, action resource);",
    )
    .unwrap_err();
    let (line, column) = err.location().expect("location");
    assert_eq!(line, 3, "{err}");
    assert!(column.is_some(), "{err}");
}

/// Indexing policies by the tool in their scope changes no decision: tool-scoped policies apply
/// to their tool only, and scope-free policies to every tool, including ones no policy names.
#[test]
fn tool_index_changes_no_decision() {
    let text = r#"
@id("allow_x") permit(principal, action == Action::"call_tool", resource == Tool::"x");
@id("forbid_x_in_prod") forbid(principal, action == Action::"call_tool", resource == Tool::"x")
  when { context.environment == "production" };
@id("hold_y") @gavel("require_approval") permit(principal, action == Action::"call_tool", resource == Tool::"y");
@id("allow_any_read") permit(principal, action == Action::"call_tool", resource)
  when { resource.category == "read_only" };
@id("no_drop") forbid(principal, action == Action::"call_tool", resource)
  when { context.argument_text like "*DROP*" };
"#;
    let engine = gavel_policy::Engine::new(vec![gavel_policy::LoadedSet {
        set_id: "t".into(),
        version: 1,
        mode: gavel_policy::Mode::Enforce,
        source: gavel_policy::parse_and_validate("t", text).unwrap(),
    }])
    .unwrap();
    let call =
        |tool: &str, env: &str, category: Option<&str>, args: serde_json::Value| gavel_policy::ToolCall {
            agent_id: "a".into(),
            owner: "o".into(),
            environment: env.into(),
            tier: "standard".into(),
            groups: vec![],
            tool: tool.into(),
            tool_category: category.map(str::to_string),
            arguments: args,
            on_behalf_of: None,
            cost_usd: None,
            hour_utc: 12,
        };
    use gavel_policy::Outcome::*;
    let cases = [
        (call("x", "staging", None, serde_json::json!({})), Allow),
        (call("x", "production", None, serde_json::json!({})), Deny),
        (call("x", "staging", None, serde_json::json!({"q": "DROP users"})), Deny),
        (call("y", "production", None, serde_json::json!({})), RequireApproval),
        (call("y", "staging", None, serde_json::json!({"q": "DROP"})), Deny),
        (call("z", "production", Some("read_only"), serde_json::json!({})), Allow),
        (call("z", "production", None, serde_json::json!({})), Deny),
        (call("z", "staging", Some("read_only"), serde_json::json!({"q": "DROP"})), Deny),
    ];
    for (c, want) in cases {
        let got = engine.evaluate(&c).enforced.unwrap();
        assert_eq!(got.outcome, want, "{} {:?}: {:?}", c.tool, c.arguments, got.reasons);
    }
}
