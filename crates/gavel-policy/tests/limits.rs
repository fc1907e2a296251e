//! Hostile policy text (issue 14): deep nesting and long chains are refused with their location
//! before Cedar parses them, and anything within the limits parses, validates, builds into an
//! engine and evaluates — natively and by Cedar, identically — on a thread of the default size.
//!
//! Before the limits each hostile text below aborted the process with a stack overflow. An abort
//! cannot be caught, so every case runs on a spawned thread with the default 2 MiB stack (what
//! tokio's workers and blocking pool use): had the fix regressed, this test binary would die
//! instead of passing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

mod common;

use common::call;
use gavel_policy::limits::{MAX_NESTING, MAX_OPERATORS};
use gavel_policy::{
    parse_and_validate, text_sha256, Engine, LoadedSet, Mode, Outcome, PolicyError, PolicySetSource,
};

const PREFIX: &str = "permit (principal, action, resource) when { ";

/// Runs `f` on a new thread with the default stack size (2 MiB).
fn on_default_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new().stack_size(2 << 20).spawn(f).expect("spawn").join().expect("no panic")
}

fn policy(body: &str) -> String {
    format!("{PREFIX}{body} }};")
}

fn parens(n: usize) -> String {
    policy(&format!("{}true{}", "(".repeat(n), ")".repeat(n)))
}

fn sets(n: usize) -> String {
    policy(&format!("{}1{}.isEmpty()", "[".repeat(n), "]".repeat(n)))
}

/// `n` terms of `term` joined by `op`; each `context.hour_utc <cmp> k` term has two operators.
fn chain(n: usize, term: &str, op: &str, last: &str) -> String {
    let mut terms = vec![term; n - 1];
    terms.push(last);
    terms.join(op)
}

fn and_chain(n: usize) -> String {
    policy(&chain(n, "context.hour_utc < 24", " && ", "context.hour_utc == 12"))
}

fn or_chain(n: usize) -> String {
    policy(&chain(n, "context.hour_utc > 100", " || ", "context.hour_utc == 12"))
}

/// The error `parse_and_validate` gives, computed on a default-size thread.
fn refusal(text: String) -> PolicyError {
    on_default_stack(move || parse_and_validate("hostile", &text).expect_err("must be refused"))
}

/// A set as an old database could hold it: never validated.
fn stored(text: &str) -> LoadedSet {
    LoadedSet {
        set_id: "old".into(),
        version: 3,
        mode: Mode::Enforce,
        source: PolicySetSource {
            text: text.into(),
            sha256: text_sha256(text),
            policies: vec![],
            warnings: vec![],
        },
    }
}

fn first_too_deep_column() -> u32 {
    // `{` is level 1, so the MAX_NESTING-th bracket after it is the first too deep.
    (PREFIX.len() + MAX_NESTING) as u32
}

#[test]
fn deep_parentheses_are_refused_at_the_bracket_too_deep() {
    for n in [120, 140, 10_000] {
        let err = refusal(parens(n));
        assert_eq!(err.location(), Some((1, Some(first_too_deep_column()))), "{err}");
        assert!(err.to_string().contains("nest more than 64 deep"), "{err}");
    }
}

#[test]
fn deep_set_literals_are_refused() {
    let err = refusal(sets(300));
    assert_eq!(err.location(), Some((1, Some(first_too_deep_column()))), "{err}");
}

#[test]
fn long_chains_are_refused_at_the_operator_over_the_bound() {
    // Each of the first terms holds `.`, the comparison and the joining operator: the operator
    // over the bound is the joining one of term 170 (0-based).
    let k = MAX_OPERATORS / 3;
    for (text, term_len, joiner_at) in [(and_chain(3000), 25, 22), (or_chain(3000), 26, 23)] {
        let err = refusal(text);
        let column = PREFIX.len() + k * term_len + joiner_at + 1;
        assert_eq!(err.location(), Some((1, Some(column as u32))), "{err}");
        assert!(err.to_string().contains("more than 512 operators"), "{err}");
    }
}

#[test]
fn one_operator_over_the_bound_is_refused() {
    // n terms have 3n - 1 operators: 171 terms are 512, 172 are 515.
    assert!(matches!(refusal(and_chain(172)), PolicyError::Invalid { .. }));
}

#[test]
fn hostile_stored_text_fails_the_engine_build_instead_of_aborting() {
    for text in [parens(140), sets(300), and_chain(3000), or_chain(3000)] {
        let err = on_default_stack(move || Engine::new(vec![stored(&text)]).expect_err("refused"));
        assert!(err.to_string().starts_with("policy set \"old\" (v3): line 1, column "), "{err}");
    }
}

/// Builds `text` and evaluates a call at `hour`, natively and with Cedar, on a default thread;
/// both must agree, without errors. Returns the outcome and whether the native path judged it.
fn judge(text: String, hour: u8) -> (Outcome, bool) {
    on_default_stack(move || {
        let source = parse_and_validate("deep", &text).unwrap_or_else(|e| panic!("within the bounds: {e}"));
        let engine =
            Engine::new(vec![LoadedSet { set_id: "deep".into(), version: 1, mode: Mode::Enforce, source }])
                .expect("engine");
        let mut c = call();
        c.hour_utc = hour;
        let native = engine.evaluate(&c);
        let cedar = engine.evaluate_with_cedar(&c);
        assert_eq!(native, cedar, "native and Cedar disagree");
        let verdict = cedar.enforced.expect("enforced");
        assert!(verdict.errors.is_empty(), "{:?}", verdict.errors);
        (verdict.outcome, engine.is_native())
    })
}

#[test]
fn chains_at_the_bound_are_accepted_and_evaluated_both_ways() {
    for text in [and_chain(171), or_chain(171)] {
        assert_eq!(judge(text.clone(), 12), (Outcome::Allow, true));
        assert_eq!(judge(text, 13), (Outcome::Deny, true));
    }
}

#[test]
fn the_deepest_tree_the_bounds_admit_evaluates_both_ways() {
    // 63 parentheses inside `{` (64 levels) around a 509-operator chain.
    let depth = MAX_NESTING - 1;
    let body = chain(170, "context.hour_utc < 24", " && ", "context.hour_utc == 12");
    let text = policy(&format!("{}{body}{}", "(".repeat(depth), ")".repeat(depth)));
    assert_eq!(judge(text.clone(), 12), (Outcome::Allow, true));
    assert_eq!(judge(text, 0), (Outcome::Deny, true));
    // Set literals are tree levels of their own (and outside the native subset: Cedar judges).
    assert_eq!(judge(sets(MAX_NESTING - 1), 12), (Outcome::Deny, false));
}
