//! Policies in force that can no longer be built into an engine (an old database holding text
//! today's checks refuse, issue 14) do not take decide down: every call is denied and recorded,
//! naming the failure, and a policy change through the normal two-person path repairs it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

use gavel_core::identity::Role;
use gavel_core::{Gavel, NewAgent, Principal};
use gavel_ledger::clock::SystemClock;
use gavel_ledger::event::{Actor, EventDraft};
use gavel_policy::{Mode, Outcome};
use gavel_store::docs::{DocKeys, Expect, StateOp};
use gavel_store::Store;
use serde_json::json;
use std::sync::Arc;

const PERMIT: &str = "permit (principal, action, resource);";

fn call() -> gavel_core::decide::DecideRequest {
    serde_json::from_value(json!({"tool": "search_docs"})).unwrap()
}

/// Rewrites the stored text of `set@version` behind gavel's back, as a database written before
/// the limits could hold it, and moves the policy epoch so engines are rebuilt.
fn plant(store: &Arc<dyn Store>, set: &str, version: u32, text: &str) {
    let id = format!("{set}@{version}");
    let mut doc = store.get_doc("policy_versions", &id).unwrap().expect("version").body;
    doc["text"] = json!(text);
    doc["sha256"] = json!(gavel_policy::text_sha256(text));
    let draft = EventDraft::new("test.tampered", Actor::system("test"), json!({})).unwrap();
    store
        .append_with(
            draft,
            vec![
                StateOp::put(
                    "policy_versions",
                    &id,
                    doc,
                    DocKeys { k1: Some(set.into()), ..Default::default() },
                    Expect::Any,
                ),
                StateOp::put("meta", "policy_epoch", json!({}), DocKeys::default(), Expect::Any),
            ],
        )
        .unwrap();
}

#[test]
fn unloadable_policies_deny_every_call_and_are_repaired_by_a_change() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(
        gavel_store::Log::open(&gavel_store::layout::DataDir::new(dir.path()), Arc::new(SystemClock), None)
            .unwrap()
            .0,
    );
    let store: Arc<dyn gavel_store::Store> = log.store().clone();
    let g = Gavel::new(log.clone(), Arc::new(SystemClock));
    let alice = g.authenticate(&g.bootstrap_admin().unwrap().unwrap().token).unwrap();
    let bob = g.create_user(&alice, "bob", Role::Admin).unwrap();
    let bob = Principal::User(g.get_user(&alice, &bob.principal.id).unwrap());
    let bot = g.create_agent(&alice, NewAgent { name: "bot".into(), ..Default::default() }).unwrap();

    let change = g.propose_policy(&alice, "team", PERMIT, Some(Mode::Enforce)).unwrap();
    g.approve_change(&bob, &change.id, None).unwrap();
    assert_eq!(g.decide_with_token(&bot.token, call()).unwrap().decision, Outcome::Allow);

    // A 3,000-term chain: before the limits, building an engine from it aborted the process.
    let chain = vec!["context.hour_utc < 24"; 3000].join(" && ");
    plant(&store, "team", 1, &format!("permit (principal, action, resource) when {{ {chain} }};"));
    for _ in 0..2 {
        let d = g.decide_with_token(&bot.token, call()).expect("decide still answers");
        assert_eq!(d.decision, Outcome::Deny, "{d:?}");
        assert!(d.enforced);
        assert!(d.reasons[0].contains("could not be loaded"), "{:?}", d.reasons);
        assert!(d.reasons[0].contains("policy set \"team\" (v1)"), "{:?}", d.reasons);
        assert!(d.reasons[0].contains("more than 512 operators"), "{:?}", d.reasons);
        // Recorded like any decision.
        let event = store.entry(d.seq).unwrap().expect("decision event");
        let body: serde_json::Value = serde_json::from_slice(&event.bytes.expect("payload")).unwrap();
        assert_eq!(body["kind"], "decision");
        assert_eq!(body["data"]["decision"], "deny");
        assert_eq!(body["data"]["reasons"], json!(d.reasons));
    }

    // Replacing the failing text through the two-person path brings decide back.
    let fix = g.propose_policy(&alice, "team", PERMIT, None).unwrap();
    g.approve_change(&bob, &fix.id, None).unwrap();
    assert_eq!(g.decide_with_token(&bot.token, call()).unwrap().decision, Outcome::Allow);
}
