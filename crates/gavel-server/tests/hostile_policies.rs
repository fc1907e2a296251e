//! Hostile policy text over HTTP (issue 14). Before the limits, proposing 140 nested parentheses
//! or 300 nested set literals aborted the server, a 3,000-term `||` chain aborted it on approval
//! and a 3,000-term `&&` chain on every decide, restarts included. The server runs in this test
//! process on tokio threads of the default size, so any of those aborts would end this test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

mod common;

use common::{assert_error, Server};
use gavel_ledger::event::{Actor, EventDraft};
use gavel_store::docs::{DocKeys, Expect, StateOp};
use serde_json::{json, Value};

const PREFIX: &str = "permit (principal, action, resource) when { ";

fn policy(body: &str) -> String {
    format!("{PREFIX}{body} }};")
}

fn chain(n: usize, op: &str) -> String {
    let term = if op == "&&" { "context.hour_utc < 24" } else { "context.hour_utc >= 0" };
    policy(&vec![term; n].join(&format!(" {op} ")))
}

struct World {
    server: Server,
    alice: String,
    bob: String,
    agent: String,
}

impl World {
    fn new() -> World {
        let server = Server::start();
        let alice = server.state.gavel.bootstrap_admin().unwrap().unwrap().token;
        let bob = server.ok("POST", "/v1/users", &alice, Some(json!({"name": "bob", "role": "admin"})))
            ["token"]
            .as_str()
            .unwrap()
            .to_string();
        let agent = server.ok("POST", "/v1/agents", &alice, Some(json!({"name": "bot", "owner": "alice"})))
            ["token"]
            .as_str()
            .unwrap()
            .to_string();
        World { server, alice, bob, agent }
    }

    fn propose(&self, text: &str) -> (u16, Value) {
        self.server.call(
            "POST",
            "/v1/policies",
            Some(&self.alice),
            Some(json!({"set_id": "team", "text": text})),
        )
    }

    fn activate(&self, text: &str) {
        let (status, change) = self.propose(text);
        assert_eq!(status, 201, "{change}");
        let id = change["id"].as_str().unwrap();
        self.server.ok("POST", &format!("/v1/policies/changes/{id}/approve"), &self.bob, None);
    }

    fn decide(&self) -> Value {
        self.server.ok("POST", "/v1/decide", &self.agent, Some(json!({"tool": "search_docs"})))
    }
}

#[test]
fn hostile_texts_are_refused_with_a_location_and_decide_keeps_answering() {
    let w = World::new();
    w.activate(&policy("context.hour_utc >= 0"));
    assert_eq!(w.decide()["decision"], "allow");

    let hostile = [
        (
            "140 parentheses",
            policy(&format!("{}true{}", "(".repeat(140), ")".repeat(140))),
            "nest more than 64",
        ),
        (
            "300 set literals",
            policy(&format!("{}1{}.isEmpty()", "[".repeat(300), "]".repeat(300))),
            "nest more than 64",
        ),
        ("3,000-term ||", chain(3000, "||"), "more than 512 operators"),
        ("3,000-term &&", chain(3000, "&&"), "more than 512 operators"),
        ("over a megabyte", format!("{}{}", " ".repeat(1 << 20), policy("true")), "longer than"),
    ];
    for (what, text, needle) in hostile {
        let resp = w.propose(&text);
        assert_error(resp.clone(), 400, "invalid_request", needle);
        assert!(resp.1["error"]["message"].as_str().unwrap().starts_with("line "), "{what}: {}", resp.1);
        assert_eq!(w.decide()["decision"], "allow", "after {what}");
    }

    // A long chain within the bounds is accepted, approved and evaluated.
    w.activate(&chain(171, "&&"));
    assert_eq!(w.decide()["decision"], "allow");
    w.activate(&chain(171, "||"));
    assert_eq!(w.decide()["decision"], "allow");
}

#[test]
fn a_stored_policy_that_no_longer_loads_denies_every_call_across_restarts() {
    let mut w = World::new();
    w.activate(&policy("context.hour_utc >= 0"));
    assert_eq!(w.decide()["decision"], "allow");

    // What a database written before the limits could hold: an active 3,000-term chain.
    let store = w.server.log.store().clone();
    let text = chain(3000, "&&");
    let mut version = store.get_doc("policy_versions", "team@1").unwrap().unwrap().body;
    version["text"] = json!(text);
    version["sha256"] = json!(gavel_policy::text_sha256(&text));
    store
        .append_with(
            EventDraft::new("test.tampered", Actor::system("test"), json!({})).unwrap(),
            vec![
                StateOp::put(
                    "policy_versions",
                    "team@1",
                    version,
                    DocKeys { k1: Some("team".into()), ..Default::default() },
                    Expect::Any,
                ),
                StateOp::put("meta", "policy_epoch", json!({}), DocKeys::default(), Expect::Any),
            ],
        )
        .unwrap();

    for restart in [false, true] {
        if restart {
            w.server.reopen();
        }
        let d = w.decide();
        assert_eq!(d["decision"], "deny", "{d}");
        assert_eq!(d["enforced"], true, "{d}");
        let reason = d["reasons"][0].as_str().unwrap();
        assert!(reason.contains("could not be loaded") && reason.contains("\"team\" (v1)"), "{reason}");
        let recorded = w.server.ok(
            "GET",
            &format!("/v1/decisions/{}", d["decision_id"].as_str().unwrap()),
            &w.alice,
            None,
        );
        assert_eq!(recorded["decision"], "deny", "{recorded}");
    }

    // The normal two-person path repairs it.
    w.activate(&policy("context.hour_utc >= 0"));
    assert_eq!(w.decide()["decision"], "allow");
}
