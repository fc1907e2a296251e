//! The ext_authz check (`/v1/ext-authz/{*path}`, issue 16 item 7) against the real server on
//! loopback, with requests shaped as Envoy's HTTP ext_authz client sends them (no Envoy can be
//! installed here: Debian does not package it and nothing else may be downloaded): the held
//! request's method, `path_prefix` + its path, its `Host` and `Authorization`, the body
//! (`with_request_body`) with its `Content-Length`, `x-envoy-auth-partial-body` (forwarded when
//! `allowed_headers` names it, as docs/ext-authz.md configures), Envoy's own `x-request-id` and
//! `x-envoy-expected-rq-timeout-ms`, and no `Content-Type` (not among the headers Envoy forwards
//! by default).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

mod common;

use common::{team, Server, Team};
use serde_json::{json, Value};

const POLICY: &str = r#"@id("allow_search")
permit(principal, action == Action::"call_tool", resource == Tool::"search_docs");
@id("hold_email")
@gavel("require_approval")
permit(principal, action == Action::"call_tool", resource == Tool::"send_email");
@id("no_wipe")
forbid(principal, action == Action::"call_tool", resource == Tool::"wipe_disk");
"#;

/// Envoy's `path_prefix` in docs/ext-authz.md.
const PREFIX: &str = "/v1/ext-authz";

/// What the check answered: status, `x-gavel-decision`, `www-authenticate`, the JSON body.
#[derive(Debug)]
struct Answer {
    status: u16,
    decision_header: Option<String>,
    www_authenticate: Option<String>,
    body: Value,
}

/// One check as Envoy sends it, for the held request `method original_path` with `body`.
fn envoy_check(
    server: &Server,
    method: &str,
    original_path: &str,
    token: Option<&str>,
    body: &[u8],
    partial: bool,
) -> Answer {
    let mut req = ureq::request(method, &format!("{}{PREFIX}{original_path}", server.base))
        .set("x-request-id", "4f1c2d6e-0000-4000-8000-000000000001")
        .set("x-envoy-expected-rq-timeout-ms", "500")
        .set("x-envoy-auth-partial-body", if partial { "true" } else { "false" });
    if let Some(token) = token {
        req = req.set("Authorization", &format!("Bearer {token}"));
    }
    // ureq sets Content-Length from the body (0 when empty), as Envoy does.
    let resp = match req.send_bytes(body) {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {original_path}: {e}"),
    };
    let status = resp.status();
    let decision_header = resp.header("x-gavel-decision").map(str::to_string);
    let www_authenticate = resp.header("www-authenticate").map(str::to_string);
    let text = resp.into_string().unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer { status, decision_header, www_authenticate, body }
}

/// An MCP `tools/call` over Streamable HTTP.
fn tools_call(id: u64, tool: &str, arguments: Value) -> Vec<u8> {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": arguments}})
        .to_string()
        .into_bytes()
}

fn call(server: &Server, token: &str, tool: &str, arguments: Value) -> Answer {
    envoy_check(server, "POST", "/mcp", Some(token), &tools_call(1, tool, arguments), false)
}

struct World {
    server: Server,
    alice: String,
    carol: String,
    agent: String,
    agent_id: String,
}

fn world_on(server: Server) -> World {
    let Team { alice, users: [carol], agent, .. } =
        team(&server, [("carol", "approver")], json!({"name": "mailer", "owner": "dave"}), POLICY);
    World {
        alice,
        carol,
        agent: agent["token"].as_str().unwrap().into(),
        agent_id: agent["id"].as_str().unwrap().into(),
        server,
    }
}

fn world() -> World {
    world_on(Server::start())
}

impl World {
    /// The recorded decisions, newest first.
    fn decisions(&self) -> Vec<Value> {
        self.server.ok("GET", "/v1/audit?limit=500", &self.alice, None)["items"].as_array().unwrap().clone()
    }
    fn decision(&self, id: &str) -> Value {
        self.server.ok("GET", &format!("/v1/decisions/{id}"), &self.alice, None)
    }
}

#[test]
fn a_tools_call_is_decided_as_decide_decides_it_and_recorded_via_ext_authz() {
    let w = world();
    let args = json!({"query": "quarterly report", "api_key": "sk-live-0123456789abcdef0123"});

    // allow: 200, the decision named in the header and the body, recorded via ext_authz.
    let allowed = call(&w.server, &w.agent, "search_docs", args.clone());
    assert_eq!(allowed.status, 200, "{:?}", allowed.body);
    assert_eq!(allowed.body["tool_call"], true);
    assert_eq!(allowed.body["decision"]["decision"], "allow");
    let id = allowed.decision_header.clone().expect("x-gavel-decision");
    assert_eq!(allowed.body["decision"]["decision_id"], id.as_str());
    let recorded = w.decision(&id);
    assert_eq!(recorded["via"], "ext_authz", "{recorded}");
    assert_eq!(recorded["tool"], "search_docs");
    assert_eq!(recorded["agent_id"], w.agent_id.as_str());
    assert_eq!(recorded["arguments"]["query"], "quarterly report");
    assert_ne!(recorded["arguments"]["api_key"], args["api_key"], "secrets are redacted as by decide");

    // The same call through POST /v1/decide: the same decision on the same digest, no `via`.
    let direct =
        w.server.ok("POST", "/v1/decide", &w.agent, Some(json!({"tool": "search_docs", "arguments": args})));
    assert_eq!(direct["decision"], "allow");
    assert_eq!(direct["policies"], allowed.body["decision"]["policies"]);
    let direct = w.decision(direct["decision_id"].as_str().unwrap());
    assert!(direct.get("via").is_none(), "{direct}");
    assert_eq!(direct["arguments_sha256"], recorded["arguments_sha256"]);

    // deny: 403 `denied` naming the policy, with the recorded decision; the header reaches the client.
    let denied = call(&w.server, &w.agent, "wipe_disk", json!({"disk": "/dev/sda"}));
    assert_eq!(denied.status, 403, "{:?}", denied.body);
    assert_eq!(denied.body["error"]["code"], "denied");
    let message = denied.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("team/no_wipe") && message.contains("wipe_disk"), "{message}");
    assert_eq!(denied.body["decision"]["decision"], "deny");
    let denied_id = denied.decision_header.expect("x-gavel-decision on a refusal");
    assert_eq!(w.decision(&denied_id)["via"], "ext_authz");

    // require_approval: 403 `approval_required` with the approval's id; the request stays open.
    let held = call(&w.server, &w.agent, "send_email", json!({"to": "ceo@example.com"}));
    assert_eq!(held.status, 403, "{:?}", held.body);
    assert_eq!(held.body["error"]["code"], "approval_required");
    let approval = held.body["decision"]["approval_id"].as_str().expect("an approval id").to_string();
    assert!(held.body["error"]["message"].as_str().unwrap().contains(&approval));
    let pending = w.server.ok("GET", &format!("/v1/approvals/{approval}"), &w.carol, None);
    assert_eq!(pending["status"], "pending");
    assert_eq!(w.decision(held.decision_header.as_deref().unwrap())["decision"], "require_approval");

    // A tool name decide refuses is refused the same way (400), and recorded nowhere.
    let before = w.decisions().len();
    let bad = call(&w.server, &w.agent, "no spaces allowed", json!({}));
    assert_eq!(
        (bad.status, bad.body["error"]["code"].as_str()),
        (400, Some("invalid_request")),
        "{:?}",
        bad.body
    );
    assert_eq!(w.decisions().len(), before);

    // The log still verifies with the new member in the decision events.
    let verify = w.server.ok("GET", "/v1/audit/verify", &w.alice, None);
    assert_eq!(verify["valid"], true, "{verify}");
}

#[test]
fn containment_answers_as_decide_answers_it() {
    let w = world();
    let search = || call(&w.server, &w.agent, "search_docs", json!({}));
    let body = json!({"scope": "agent", "target": "mailer", "reason": "suspicious burst"});
    w.server.ok("POST", "/v1/killswitch", &w.carol, Some(body.clone()));
    let stopped = search();
    assert_eq!((stopped.status, stopped.body["error"]["code"].as_str()), (403, Some("denied")));
    assert!(stopped.body["error"]["message"].as_str().unwrap().contains("kill switch"), "{:?}", stopped.body);
    w.server.ok("POST", "/v1/killswitch/release", &w.alice, Some(body));
    assert_eq!(search().status, 200);

    w.server.ok(
        "POST",
        &format!("/v1/agents/{}/limits", w.agent_id),
        &w.alice,
        Some(json!({"calls_per_minute": 3})),
    );
    // The limit counts ext_authz calls and decide calls alike (the call after the release was
    // one; the kill-switched one was not).
    w.server.ok("POST", "/v1/decide", &w.agent, Some(json!({"tool": "search_docs"})));
    assert_eq!(search().status, 200);
    let limited = search();
    assert_eq!(limited.status, 403, "{:?}", limited.body);
    assert!(limited.body["error"]["message"].as_str().unwrap().contains("rate limit"), "{:?}", limited.body);
}

#[test]
fn the_token_is_the_agents_as_with_decide() {
    let w = world();
    let body = tools_call(1, "search_docs", json!({}));
    let before = w.decisions().len();
    for (token, status, code) in [
        (None, 401, "unauthenticated"),
        (Some("gvl_not_a_token"), 401, "unauthenticated"),
        (Some(w.carol.as_str()), 403, "forbidden"),
    ] {
        for (method, body) in [("POST", body.as_slice()), ("GET", b"".as_slice())] {
            let answer = envoy_check(&w.server, method, "/mcp", token, body, false);
            assert_eq!(answer.status, status, "{method} as {token:?}: {:?}", answer.body);
            assert_eq!(answer.body["error"]["code"], code, "{:?}", answer.body);
            if status == 401 {
                assert_eq!(answer.www_authenticate.as_deref(), Some("Bearer realm=\"gavel\""));
            }
        }
    }
    assert_eq!(w.decisions().len(), before, "nothing is recorded for a refused credential");

    // A deactivated agent: its tools/call is a recorded denial (as decide records it); a message
    // that calls no tool is refused as any deactivated credential is.
    w.server.ok("POST", &format!("/v1/agents/{}/deactivate", w.agent_id), &w.alice, None);
    let denied = call(&w.server, &w.agent, "search_docs", json!({}));
    assert_eq!(
        (denied.status, denied.body["error"]["code"].as_str()),
        (403, Some("denied")),
        "{:?}",
        denied.body
    );
    assert!(denied.body["error"]["message"].as_str().unwrap().contains("deactivated"), "{:?}", denied.body);
    assert_eq!(w.decision(denied.decision_header.as_deref().unwrap())["via"], "ext_authz");
    let list = envoy_check(
        &w.server,
        "POST",
        "/mcp",
        Some(&w.agent),
        br#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
        false,
    );
    assert_eq!(list.status, 401, "{:?}", list.body);
}

#[test]
fn messages_that_call_no_tool_pass_without_a_record() {
    let w = world();
    let before = w.decisions().len();
    let initialize = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    for (method, path, body) in [
        ("POST", "/mcp", initialize.to_string()),
        ("POST", "/mcp", r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_string()),
        ("POST", "/mcp", r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#.to_string()),
        ("POST", "/mcp", r#"{"jsonrpc":"2.0","id":9,"result":{}}"#.to_string()),
        ("POST", "/mcp", r#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}]"#.to_string()),
        ("GET", "/mcp", String::new()),
        ("DELETE", "/mcp", String::new()),
        ("POST", "/", r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#.to_string()),
        ("POST", "/servers/docs/mcp?session=1", r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#.to_string()),
    ] {
        let answer = envoy_check(&w.server, method, path, Some(&w.agent), body.as_bytes(), false);
        assert_eq!(answer.status, 200, "{method} {path} {body}: {:?}", answer.body);
        assert_eq!(answer.body, json!({"tool_call": false}));
        assert!(answer.decision_header.is_none());
    }
    assert_eq!(w.decisions().len(), before, "nothing is recorded for a message that calls no tool");
    // Other methods are not served: a 405 Envoy returns to the client (refused).
    assert_eq!(envoy_check(&w.server, "PUT", "/mcp", Some(&w.agent), b"", false).status, 405);
}

#[test]
fn what_cannot_be_judged_is_refused_and_nothing_recorded() {
    let w = world();
    let before = w.decisions().len();
    let call_body = tools_call(1, "search_docs", json!({}));
    let cases: Vec<(&str, Vec<u8>, bool, u16, &str)> = vec![
        ("POST", b"{\"jsonrpc\":\"2.0\",\"method\":\"tools/call\",".to_vec(), false, 400, "not one JSON value"),
        ("POST", b"not json at all".to_vec(), false, 400, "not one JSON value"),
        ("POST", Vec::new(), false, 400, "with_request_body"),
        (
            "POST",
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"wipe_disk","name":"search_docs"}}"#.to_vec(),
            false,
            400,
            "named twice",
        ),
        (
            "POST",
            format!(r#"[{{"jsonrpc":"2.0","id":0,"method":"ping"}},{}]"#, String::from_utf8(call_body.clone()).unwrap())
                .into_bytes(),
            false,
            400,
            "batch",
        ),
        ("POST", br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{}}}"#.to_vec(), false, 400, "params.name"),
        ("POST", call_body.clone(), true, 413, "only part of the body"),
        ("GET", call_body[..20].to_vec(), false, 400, "not one JSON value"),
    ];
    for (method, body, partial, status, needle) in cases {
        let answer = envoy_check(&w.server, method, "/mcp", Some(&w.agent), &body, partial);
        let what = String::from_utf8_lossy(&body).to_string();
        assert_eq!(answer.status, status, "{what}: {:?}", answer.body);
        let message = answer.body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{what}: {message:?} lacks {needle:?}");
        assert!(answer.decision_header.is_none());
    }
    assert_eq!(w.decisions().len(), before, "nothing was decided");
}

#[test]
fn a_body_over_the_limit_is_413_before_anything_runs() {
    let limits = gavel_server::body_limit::HttpLimits { max_body_bytes: 4096, ..Default::default() };
    let w = world_on(Server::start_tweaked(move |s| s.with_http_limits(limits.clone())));
    let before = w.decisions().len();
    let big = call(&w.server, &w.agent, "search_docs", json!({"q": "x".repeat(5000)}));
    assert_eq!(big.status, 413, "{:?}", big.body);
    assert_eq!(big.body["error"]["code"], "payload_too_large");
    assert_eq!(w.decisions().len(), before);
    assert_eq!(call(&w.server, &w.agent, "search_docs", json!({"q": "small"})).status, 200);
}

#[test]
fn no_decision_is_a_503_so_envoy_fails_closed() {
    let w = world();
    let db = rusqlite::Connection::open(w.server.dir.path().join("gavel.db")).unwrap();
    db.execute_batch(
        "CREATE TRIGGER fail_decisions BEFORE INSERT ON events WHEN NEW.kind = 'decision' \
         BEGIN SELECT RAISE(ABORT, 'injected disk failure'); END;",
    )
    .unwrap();
    let answer = call(&w.server, &w.agent, "search_docs", json!({}));
    assert_eq!(answer.status, 503, "{:?}", answer.body);
    assert_eq!(answer.body["error"]["code"], "unavailable");
    assert!(answer.decision_header.is_none());
    db.execute_batch("DROP TRIGGER fail_decisions;").unwrap();
    assert_eq!(call(&w.server, &w.agent, "search_docs", json!({})).status, 200);
}
