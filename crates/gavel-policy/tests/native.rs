//! gavel's native evaluator against Cedar, the reference: on generated policies and calls the two
//! must return identical evaluations (outcome, determining policies, reasons, errors), and the
//! policies gavel ships and the generated grammar must actually take the native path.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

use gavel_policy::{builtin_pack, parse_and_validate, Engine, LoadedSet, Mode, Outcome, ToolCall};
use proptest::prelude::*;
use serde_json::json;

fn loaded(id: &str, mode: Mode, text: &str) -> LoadedSet {
    LoadedSet { set_id: id.into(), version: 1, mode, source: parse_and_validate(id, text).expect("valid") }
}

fn call() -> ToolCall {
    ToolCall {
        agent_id: "a1".into(),
        owner: "o1".into(),
        environment: "production".into(),
        tier: "gold".into(),
        groups: vec!["ops".into()],
        tool: "t1".into(),
        tool_category: Some("privileged".into()),
        arguments: json!({"cmd": "kubectl get pods"}),
        on_behalf_of: None,
        cost_usd: None,
        hour_utc: 12,
    }
}

#[test]
fn the_soc2_pack_is_evaluated_natively_and_agrees_with_cedar() {
    let pack = builtin_pack("soc2").expect("soc2");
    let engine = Engine::new(vec![loaded("soc2", Mode::Enforce, &pack.policies)]).expect("engine");
    assert!(engine.is_native());
    let mut outcomes = std::collections::HashSet::new();
    for (tool, category) in
        pack.tools.iter().map(|(t, c)| (t.as_str(), Some(c.as_str()))).chain([("x", None)])
    {
        for groups in [vec![], vec!["ops"], vec!["finance", "support"]] {
            for (environment, cmd) in
                [("production", "rm -rf /"), ("production", "ls"), ("staging", "rm -rf /")]
            {
                let mut c = call();
                c.tool = tool.into();
                c.tool_category = category.map(str::to_string);
                c.groups = groups.iter().map(|g| g.to_string()).collect();
                c.environment = environment.into();
                c.arguments = json!({ "cmd": cmd });
                let native = engine.evaluate(&c);
                assert_eq!(native, engine.evaluate_with_cedar(&c), "{c:?}");
                outcomes.insert(native.enforced.expect("enforced").outcome);
            }
        }
    }
    assert_eq!(outcomes.len(), 3, "the calls reach every outcome: {outcomes:?}");
}

#[test]
fn constructs_outside_the_subset_fall_back_to_cedar_with_the_same_verdicts() {
    let outside = [
        // arithmetic (can overflow), sets, decimal equality, `is` in a condition
        "permit (principal, action, resource) when { context.hour_utc + 1 > 12 };",
        "permit (principal, action, resource) when { [1, 12].containsAny([context.hour_utc]) };",
        "permit (principal, action, resource) when { context has cost_usd && context.cost_usd == decimal(\"1.5\") };",
        "permit (principal, action, resource) when { principal is Agent };",
    ];
    for text in outside {
        let engine = Engine::new(vec![
            loaded("base", Mode::Enforce, "permit (principal in AgentGroup::\"ops\", action, resource);"),
            loaded("other", Mode::Observe, text),
        ])
        .expect("engine");
        assert!(!engine.is_native(), "{text}");
        let mut c = call();
        c.cost_usd = Some(1.5);
        assert_eq!(engine.evaluate(&c), engine.evaluate_with_cedar(&c), "{text}");
        assert_eq!(engine.evaluate(&c).would_have.expect("observed").outcome, Outcome::Allow, "{text}");
    }
}

#[test]
fn invalid_calls_are_refused_alike_on_both_paths() {
    let engine = Engine::new(vec![loaded("a", Mode::Enforce, "permit (principal, action, resource);")])
        .expect("engine");
    assert!(engine.is_native());
    let mut bad = vec![call(), call(), call(), call()];
    bad[0].hour_utc = 24;
    bad[1].agent_id.clear();
    bad[2].cost_usd = Some(f64::NAN);
    bad[3].cost_usd = Some(1e16);
    for c in bad {
        let e = engine.evaluate(&c);
        assert_eq!(e, engine.evaluate_with_cedar(&c));
        assert_eq!(e.enforced.expect("enforced").outcome, Outcome::Deny);
    }
}

// ---- generated policies and calls ----

const ALPHABET: &[&str] = &["a", "b", "é", " ", "-"];

fn word() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(ALPHABET), 0..4).prop_map(|v| v.concat())
}

/// A `like` pattern body: short pieces (so repeated and overlapping pieces are common), wildcards,
/// escaped stars and quotes.
fn like_pattern() -> impl Strategy<Value = String> {
    let piece = proptest::sample::select(vec!["a", "b", "é", "ab", "ba", " ", "*", "*", "*", "\\*", "\\\""]);
    proptest::collection::vec(piece, 0..8).prop_map(|v| v.concat())
}

fn decimal_text() -> impl Strategy<Value = &'static str> {
    proptest::sample::select(vec!["0.0", "10.25", "-3.5", "007.5", "1.0001", "-0.0", "999999.9999"])
}

fn leaf() -> impl Strategy<Value = String> {
    let cmp = proptest::sample::select(vec!["<", "<=", ">", ">=", "==", "!="]);
    let dec_cmp =
        proptest::sample::select(vec!["lessThan", "lessThanOrEqual", "greaterThan", "greaterThanOrEqual"]);
    let n = 0..4usize;
    prop_oneof![
        Just("true".to_string()),
        Just("false".to_string()),
        n.clone().prop_map(|i| format!("resource.category == \"c{i}\"")),
        Just("context.environment == \"production\"".to_string()),
        Just("principal.environment == context.environment".to_string()),
        Just("principal.owner != \"o1\"".to_string()),
        Just("principal.tier == \"gold\"".to_string()),
        Just("context.on_behalf_of == \"\"".to_string()),
        like_pattern().prop_map(|p| format!("context.argument_text like \"{p}\"")),
        like_pattern().prop_map(|p| format!("principal.owner like \"{p}\"")),
        (cmp, -2i64..26).prop_map(|(op, h)| format!("context.hour_utc {op} {h}")),
        (dec_cmp.clone(), decimal_text())
            .prop_map(|(f, d)| format!("(context has cost_usd && context.cost_usd.{f}(decimal(\"{d}\")))")),
        (dec_cmp, decimal_text())
            .prop_map(|(f, d)| format!("(context has cost_usd && decimal(\"{d}\").{f}(context.cost_usd))")),
        (proptest::sample::select(vec!["k", "j"]), like_pattern()).prop_map(|(k, p)| format!(
            "(context.arguments.hasTag(\"{k}\") && context.arguments.getTag(\"{k}\") like \"{p}\")"
        )),
        n.clone().prop_map(|i| format!("principal in AgentGroup::\"g{i}\"")),
        (n.clone(), n.clone())
            .prop_map(|(i, j)| format!("principal in [AgentGroup::\"g{i}\", AgentGroup::\"g{j}\"]")),
        n.clone().prop_map(|i| format!("principal == Agent::\"a{i}\"")),
        (n.clone(), n.clone()).prop_map(|(i, j)| format!("[\"c{i}\", \"c{j}\"].contains(resource.category)")),
        (-2i64..26, -2i64..26).prop_map(|(a, b)| format!("[{a}, {b}].contains(context.hour_utc)")),
        n.prop_map(|i| format!("resource == Tool::\"t{i}\"")),
    ]
}

fn condition() -> impl Strategy<Value = String> {
    leaf().prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} && {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} || {b})")),
            inner.clone().prop_map(|a| format!("!({a})")),
            (inner.clone(), inner.clone(), inner).prop_map(|(a, b, c)| format!("(if {a} then {b} else {c})")),
        ]
    })
}

fn policy() -> impl Strategy<Value = String> {
    let effect = proptest::sample::select(vec!["permit", "forbid", "@gavel(\"require_approval\")\npermit"]);
    let principal = proptest::sample::select(vec![
        "principal",
        "principal == Agent::\"a1\"",
        "principal in Agent::\"a2\"",
        "principal in AgentGroup::\"g1\"",
        "principal is Agent",
        "principal is Agent in AgentGroup::\"g2\"",
    ]);
    let action = proptest::sample::select(vec![
        "action",
        "action == Action::\"call_tool\"",
        "action in [Action::\"call_tool\"]",
        "action in Action::\"call_tool\"",
    ]);
    let resource = proptest::sample::select(vec![
        "resource",
        "resource == Tool::\"t1\"",
        "resource == Tool::\"t2\"",
        "resource in Tool::\"t1\"",
        "resource is Tool",
        "resource is Tool in Tool::\"t3\"",
    ]);
    let clauses = proptest::collection::vec(
        (proptest::sample::select(vec!["when", "unless"]), condition())
            .prop_map(|(k, c)| format!("{k} {{ {c} }}")),
        0..3,
    );
    (effect, principal, action, resource, clauses)
        .prop_map(|(e, p, a, r, cs)| format!("{e} ({p}, {a}, {r}) {};", cs.join(" ")))
}

fn tool_call() -> impl Strategy<Value = ToolCall> {
    let groups = proptest::collection::vec(proptest::sample::select(vec!["g0", "g1", "g2", "g3"]), 0..3);
    let category = proptest::sample::select(vec![None, Some(""), Some("c0"), Some("c1"), Some("c3")]);
    let cost = proptest::sample::select(vec![
        None,
        Some(0.0),
        Some(10.25),
        Some(-3.5),
        Some(7.5),
        Some(1.00005),
        Some(1e6),
    ]);
    let arg_value =
        prop_oneof![word().prop_map(serde_json::Value::from), (0i64..3).prop_map(serde_json::Value::from)];
    let arguments =
        proptest::collection::btree_map(proptest::sample::select(vec!["k", "j", "cmd"]), arg_value, 0..3);
    (
        (
            0..4usize,
            proptest::sample::select(vec!["o0", "o1", "é b"]),
            proptest::sample::select(vec!["production", "staging"]),
        ),
        (proptest::sample::select(vec!["gold", "standard"]), groups, 0..5usize, category),
        (arguments, proptest::option::of(Just("user@x")), cost, 0u8..24),
    )
        .prop_map(
            |((agent, owner, env), (tier, groups, tool, category), (arguments, obo, cost_usd, hour_utc))| {
                ToolCall {
                    agent_id: format!("a{agent}"),
                    owner: owner.into(),
                    environment: env.into(),
                    tier: tier.into(),
                    groups: groups.into_iter().map(str::to_string).collect(),
                    tool: format!("t{tool}"),
                    tool_category: category.map(str::to_string),
                    arguments: serde_json::to_value(arguments).unwrap_or_default(),
                    on_behalf_of: obo.map(str::to_string),
                    cost_usd,
                    hour_utc,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn native_agrees_with_cedar(
        enforced in proptest::collection::vec(policy(), 0..5),
        observed in proptest::collection::vec(policy(), 0..3),
        calls in proptest::collection::vec(tool_call(), 1..12),
    ) {
        // Keep the policies that validate (the generator can produce e.g. an unsatisfiable scope).
        let valid = |ps: &[String]| -> String {
            ps.iter().filter(|p| parse_and_validate("x", p).is_ok()).cloned().collect::<Vec<_>>().join("\n")
        };
        let (enforced, observed) = (valid(&enforced), valid(&observed));
        let mut sets = Vec::new();
        if !enforced.is_empty() {
            sets.push(loaded("enf", Mode::Enforce, &enforced));
        }
        if !observed.is_empty() {
            sets.push(loaded("obs", Mode::Observe, &observed));
        }
        let engine = Engine::new(sets).expect("engine");
        prop_assert!(engine.is_native(), "every generated construct is in the native subset:\n{enforced}\n{observed}");
        for c in &calls {
            prop_assert_eq!(engine.evaluate(c), engine.evaluate_with_cedar(c), "{:?}\n{}\n{}", c, enforced, observed);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// `like` on its own, with texts made of the pattern's own pieces so that matches, near misses,
    /// repeated and overlapping pieces are all common.
    #[test]
    fn like_agrees_with_cedar(
        pattern in proptest::collection::vec(proptest::sample::select(vec!["a", "b", "é", "*", "*", "\\*"]), 0..8)
            .prop_map(|v| v.concat()),
        texts in proptest::collection::vec(
            proptest::collection::vec(proptest::sample::select(vec!["a", "b", "é", "*", "\\"]), 0..7),
            1..16,
        ),
    ) {
        let text = format!("permit (principal, action, resource) when {{ context.arguments.hasTag(\"k\") && context.arguments.getTag(\"k\") like \"{pattern}\" }};");
        let text = format!("{text}\nforbid (principal, action, resource) unless {{ context.arguments.hasTag(\"k\") }};");
        let engine = Engine::new(vec![loaded("p", Mode::Enforce, &text)]).expect("engine");
        prop_assert!(engine.is_native());
        for t in texts {
            let mut c = call();
            c.arguments = json!({ "k": t.concat() });
            prop_assert_eq!(engine.evaluate(&c), engine.evaluate_with_cedar(&c), "{:?} like {}", t.concat(), pattern);
        }
    }
}
