//! The tool registry's categories over HTTP, against the real server on loopback: what the
//! gateway recorded per upstream is readable by users; a category change is proposed by one admin
//! and applied only when another approves it, after which decide sees the new category on the
//! next call; a stale approval, a repeated decision, bad bodies and callers without the role are
//! refused with gavel's JSON error shape and change nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

mod common;

use common::{assert_error, Server};
use serde_json::{json, Value};

const READ_ONLY: &str = r#"@id("read_only_tools")
permit (principal, action == Action::"call_tool", resource) when { resource.category == "read_only" };
"#;

fn s(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_else(|| panic!("{key} in {v}")).to_string()
}

struct World {
    server: Server,
    alice: String,
    bob: String,
    viewer: String,
    agent: String,
}

fn world() -> World {
    let server = Server::start();
    let alice = server.state.gavel.bootstrap_admin().unwrap().unwrap().token;
    let user = |name: &str, role: &str| {
        s(&server.ok("POST", "/v1/users", &alice, Some(json!({"name": name, "role": role}))), "token")
    };
    let (bob, viewer) = (user("bob", "admin"), user("vic", "viewer"));
    let agent = s(&server.ok("POST", "/v1/agents", &alice, Some(json!({"name": "reader"}))), "token");
    let change =
        server.ok("POST", "/v1/policies", &alice, Some(json!({"set_id": "read-only", "text": READ_ONLY})));
    server.ok("POST", &format!("/v1/policies/changes/{}/approve", s(&change, "id")), &bob, None);
    World { server, alice, bob, viewer, agent }
}

impl World {
    fn decide(&self, tool: &str) -> String {
        s(&self.server.ok("POST", "/v1/decide", &self.agent, Some(json!({"tool": tool}))), "decision")
    }
    fn propose(&self, token: &str, body: Value) -> (u16, Value) {
        self.server.call("POST", "/v1/tools/changes", Some(token), Some(body))
    }
    fn size(&self) -> u64 {
        self.server.log.store().head().unwrap().size
    }
}

fn one(tool: &str, category: Value) -> Value {
    json!({"assignments": [{"tool": tool, "category": category}], "upstream": "files"})
}

#[test]
fn an_upstreams_recorded_tools_are_categorised_by_two_admins_and_decide_follows() {
    let w = world();
    let digest = "0".repeat(64);
    let tools = json!([{"name": "read_file", "sha256": digest}, {"name": "write_file", "sha256": digest}]);
    w.server.ok("POST", "/v1/gateway/tools", &w.agent, Some(json!({"upstream": "files", "tools": tools})));
    w.server.ok("POST", "/v1/gateway/tools", &w.agent, Some(json!({"upstream": "other", "tools": []})));

    // Users read what the gateways recorded; agents do not.
    let recorded = w.server.ok("GET", "/v1/gateway/tools?upstream=files", &w.viewer, None);
    assert_eq!(
        recorded["items"],
        json!([{"upstream": "files", "tools": ["read_file", "write_file"], "agents": 1}])
    );
    let all = w.server.ok("GET", "/v1/gateway/tools", &w.viewer, None);
    assert_eq!(all["items"].as_array().unwrap().len(), 2, "{all}");
    assert_error(w.server.call("GET", "/v1/gateway/tools", Some(&w.agent), None), 403, "forbidden", "");
    assert_error(
        w.server.call("GET", "/v1/gateway/tools?upstream=a%20b", Some(&w.viewer), None),
        400,
        "invalid_request",
        "upstream",
    );

    assert_eq!(w.decide("read_file"), "deny", "uncategorised: no policy permits it");
    let change = w.propose(&w.alice, one("read_file", json!("read_only")));
    assert_eq!(change.0, 201, "{}", change.1);
    let change = change.1;
    assert_eq!(
        change["assignments"],
        json!([{"tool": "read_file", "category": "read_only", "previous": null}])
    );
    assert_eq!((s(&change, "status"), s(&change, "source")), ("pending".into(), "upstream:files".into()));
    let id = s(&change, "id");
    assert_eq!(w.decide("read_file"), "deny", "pending changes nothing");

    let approve = format!("/v1/tools/changes/{id}/approve");
    assert_error(w.server.call("POST", &approve, Some(&w.alice), None), 403, "forbidden", "two-person rule");
    assert_error(w.server.call("POST", &approve, Some(&w.viewer), None), 403, "forbidden", "");
    let applied = w.server.ok("POST", &approve, &w.bob, Some(json!({"comment": "read-only indeed"})));
    assert_eq!((s(&applied, "status"), s(&applied, "decided_by_name")), ("applied".into(), "bob".into()));
    assert_eq!(w.decide("read_file"), "allow", "decide reads the registry on every call");
    assert_error(w.server.call("POST", &approve, Some(&w.bob), None), 409, "conflict", "already applied");

    let registry = w.server.ok("GET", "/v1/tools", &w.viewer, None);
    let entry = &registry["items"].as_array().unwrap().iter().find(|t| t["tool"] == "read_file").unwrap();
    assert_eq!(
        (entry["category"].clone(), entry["source"].clone()),
        (json!("read_only"), json!("upstream:files"))
    );
    assert_eq!((entry["change_id"].clone(), entry["approved_by_name"].clone()), (json!(id), json!("bob")));
    let listed = w.server.ok("GET", "/v1/tools/changes?status=applied", &w.viewer, None);
    assert_eq!(listed["items"][0]["id"], json!(id));
    assert_eq!(
        w.server.ok("GET", &format!("/v1/tools/changes/{id}"), &w.viewer, None)["comment"],
        "read-only indeed"
    );
    assert_eq!(w.server.ok("GET", "/v1/audit/verify", &w.viewer, None)["valid"], true);
}

#[test]
fn stale_approvals_bad_bodies_and_callers_without_the_role_change_nothing() {
    let w = world();
    let before = w.size();
    for (body, says) in [
        (json!({"assignments": [{"tool": "read_file"}]}), "category"),
        (json!({"assignments": [{"tool": "read_file", "category": "Read-Only"}]}), "[a-z0-9_]"),
        (json!({"assignments": [{"tool": "read_file", "category": "none"}]}), "null"),
        (json!({"assignments": [{"tool": "read file", "category": "x"}]}), "printable ascii"),
        (json!({"assignments": []}), "at least one"),
        (json!({"assignments": [{"tool": "a", "category": "x"}, {"tool": "a", "category": "y"}]}), "twice"),
        (json!({"assignments": [{"tool": "a", "category": "x"}], "upstream": "a b"}), "upstream"),
        (json!({"assignments": [{"tool": "a", "category": "x"}], "extra": 1}), "unknown field"),
    ] {
        assert_error(w.propose(&w.alice, body.clone()), 400, "invalid_request", says);
    }
    assert_error(w.propose(&w.alice, one("a", Value::Null)), 409, "conflict", "a is already none");
    for token in [&w.viewer, &w.agent] {
        assert_error(w.propose(token, one("a", json!("x"))), 403, "forbidden", "");
    }
    assert_error(w.server.call("GET", "/v1/tools", Some(&w.agent), None), 403, "forbidden", "");
    assert_error(
        w.server.call("POST", "/v1/tools/changes/tcc_000000000000000000000000/approve", Some(&w.bob), None),
        404,
        "not_found",
        "no tool category change",
    );
    assert_eq!(w.size(), before, "nothing refused was recorded");
    assert_eq!(w.server.ok("GET", "/v1/tools/changes", &w.viewer, None)["items"], json!([]));

    // Two changes of one tool: once one applies, the other is stale and refused whole.
    let destructive = s(&w.propose(&w.alice, one("write_file", json!("destructive"))).1, "id");
    let body = json!({"assignments": [{"tool": "write_file", "category": "read_only"},
                                      {"tool": "read_file", "category": "read_only"}]});
    let (status, loose) = w.propose(&w.alice, body);
    assert_eq!(status, 201, "{loose}");
    w.server.ok("POST", &format!("/v1/tools/changes/{destructive}/approve"), &w.bob, None);
    let before = w.size();
    let stale = format!("/v1/tools/changes/{}/approve", s(&loose, "id"));
    assert_error(
        w.server.call("POST", &stale, Some(&w.bob), None),
        409,
        "conflict",
        "write_file is now destructive",
    );
    assert_eq!(w.size(), before);
    assert_eq!(w.decide("write_file"), "deny");
    assert_eq!(w.decide("read_file"), "deny", "no part of a stale change applies");

    let reject = format!("/v1/tools/changes/{}/reject", s(&loose, "id"));
    assert_error(w.server.call("POST", &reject, Some(&w.viewer), None), 403, "forbidden", "");
    let rejected = w.server.ok("POST", &reject, &w.alice, Some(json!({"comment": "stale"})));
    assert_eq!(s(&rejected, "status"), "rejected");
    assert_error(w.server.call("POST", &reject, Some(&w.alice), None), 409, "conflict", "no longer pending");
    assert_error(w.server.call("POST", &stale, Some(&w.bob), None), 409, "conflict", "already rejected");
}
