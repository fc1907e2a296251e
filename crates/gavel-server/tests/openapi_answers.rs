//! The OpenAPI document's 2xx schemas against the real server (issue 12 item 3): a session that
//! calls every operation whose success answer has a declared schema, then checks each answer
//! with `tests/openapi/answers.py` (the oracles' `jsonschema`, JSON Schema 2020-12 as OpenAPI 3.1
//! specifies): the body validates, and every member it carries is one the schema declares.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

mod common;

use common::Server;
use serde_json::{json, Value};
use std::cell::RefCell;
use std::io::Write;
use std::process::Stdio;

/// Calls the server and keeps every answer for the schema check.
struct Session<'a> {
    server: &'a Server,
    calls: RefCell<Vec<Value>>,
}

impl Session<'_> {
    fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Value {
        let (status, answer) = self.server.call(method, path, token, body);
        assert!((200..300).contains(&status), "{method} {path}: {status} {answer}");
        self.calls
            .borrow_mut()
            .push(json!({"method": method, "path": path, "status": status, "body": answer}));
        answer
    }
    fn get(&self, path: &str, token: &str) -> Value {
        self.call("GET", path, Some(token), None)
    }
    fn post(&self, path: &str, token: &str, body: Option<Value>) -> Value {
        self.call("POST", path, Some(token), body)
    }
}

fn str_of(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_else(|| panic!("{key} in {v}")).to_string()
}

const POLICY: &str = r#"@id("allow_search")
permit(principal, action == Action::"call_tool", resource == Tool::"search_docs");
@id("hold_email")
@gavel("require_approval")
permit(principal, action == Action::"call_tool", resource == Tool::"send_email");
@id("no_wipe")
forbid(principal, action == Action::"call_tool", resource == Tool::"wipe_disk");
"#;

#[test]
fn every_declared_2xx_schema_matches_the_real_answer() {
    let settings = gavel_core::Settings { webhooks_allow_private: true, ..Default::default() };
    let server = Server::start_with(std::sync::Arc::new(gavel_ledger::clock::SystemClock), settings);
    let s = Session { server: &server, calls: RefCell::new(Vec::new()) };
    let alice = server.state.gavel.bootstrap_admin().unwrap().unwrap().token;

    // Identity.
    let bob = s.post("/v1/users", &alice, Some(json!({"name": "bob", "role": "admin"})));
    let bob = str_of(&bob, "token");
    let carol = s.post("/v1/users", &alice, Some(json!({"name": "carol", "role": "viewer"})));
    let carol_id = str_of(&carol, "id");
    s.post(&format!("/v1/users/{carol_id}/role"), &alice, Some(json!({"role": "approver"})));
    let carol = str_of(&s.post(&format!("/v1/users/{carol_id}/rotate"), &alice, None), "token");
    s.get("/v1/users", &alice);
    s.get("/v1/users/carol", &alice);
    let temp = s.post("/v1/users", &alice, Some(json!({"name": "temp", "role": "viewer"})));
    s.post(&format!("/v1/users/{}/deactivate", str_of(&temp, "id")), &alice, Some(json!({"reason": "left"})));
    s.get("/v1/me", &alice);

    let agent = s.post(
        "/v1/agents",
        &alice,
        Some(json!({"name": "mailer", "owner": "alice", "groups": ["ops"], "limits": {"calls_per_minute": 100}})),
    );
    let agent_id = str_of(&agent, "id");
    s.get("/v1/agents", &alice);
    s.get("/v1/agents/mailer", &alice);
    s.post(&format!("/v1/agents/{agent_id}/limits"), &alice, Some(json!({"cost_usd_per_day": 50.5})));
    s.post(&format!("/v1/agents/{agent_id}/suspend"), &alice, Some(json!({"reason": "check"})));
    s.post(&format!("/v1/agents/{agent_id}/reactivate"), &alice, None);
    let bot = str_of(&s.post(&format!("/v1/agents/{agent_id}/rotate"), &alice, None), "token");
    s.get("/v1/me", &bot);
    // The MCP gateway reports an upstream's tool list as the agent.
    s.post(
        "/v1/gateway/tools",
        &bot,
        Some(json!({"upstream": "files", "tools": [{"name": "read_file", "sha256": "0".repeat(64)}]})),
    );
    // The tool registry: a category change for that upstream's tool, applied by a second admin,
    // and one withdrawn.
    s.get("/v1/gateway/tools?upstream=files", &alice);
    let categorise =
        json!({"assignments": [{"tool": "read_file", "category": "read_only"}], "upstream": "files"});
    let tcc = s.post("/v1/tools/changes", &alice, Some(categorise));
    s.get(&format!("/v1/tools/changes/{}", str_of(&tcc, "id")), &alice);
    s.post(
        &format!("/v1/tools/changes/{}/approve", str_of(&tcc, "id")),
        &bob,
        Some(json!({"comment": "ok"})),
    );
    let undo = s.post(
        "/v1/tools/changes",
        &alice,
        Some(json!({"assignments": [{"tool": "read_file", "category": null}]})),
    );
    s.post(&format!("/v1/tools/changes/{}/reject", str_of(&undo, "id")), &alice, None);
    s.get("/v1/tools", &alice);
    s.get("/v1/tools/changes?status=applied", &alice);
    let old = s.post("/v1/agents", &alice, Some(json!({"name": "old"})));
    s.post(&format!("/v1/agents/{}/deactivate", str_of(&old, "id")), &alice, None);

    // Policies: a team set live through two-person change control, the soc2 pack observing.
    let change = s.post("/v1/policies", &alice, Some(json!({"set_id": "team", "text": POLICY})));
    s.get(&format!("/v1/policies/changes/{}", str_of(&change, "id")), &alice);
    s.post(
        &format!("/v1/policies/changes/{}/approve", str_of(&change, "id")),
        &bob,
        Some(json!({"comment": "ok"})),
    );
    s.post("/v1/packs/soc2/install", &alice, None);
    s.get("/v1/packs", &alice);
    let golive = s.post("/v1/packs/soc2/golive", &alice, None);
    s.post(&format!("/v1/policies/changes/{}/reject", str_of(&golive, "id")), &bob, None);
    s.get("/v1/policies", &alice);
    s.get("/v1/policies/changes?status=applied", &alice);
    s.get("/v1/policies/team", &alice);
    s.get("/v1/policies/team/versions", &alice);
    s.get("/v1/policies/team/versions/1", &alice);
    let v2 =
        s.post("/v1/policies", &alice, Some(json!({"set_id": "team", "text": format!("// v2\n{POLICY}")})));
    s.post(&format!("/v1/policies/changes/{}/approve", str_of(&v2, "id")), &bob, None);
    let rollback = s.post("/v1/policies/team/activate", &alice, Some(json!({"version": 1})));
    s.post(&format!("/v1/policies/changes/{}/reject", str_of(&rollback, "id")), &bob, None);
    s.post("/v1/policies/soc2/deactivate", &alice, None);

    // Decisions and approvals.
    s.post("/v1/decide", &bot, Some(json!({"tool": "search_docs", "arguments": {"q": "x"}})));
    // A proxy's ext_authz check: an allowed tools/call, and requests that call no tool.
    let mcp_call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "search_docs", "arguments": {"q": "x"}}});
    s.post("/v1/ext-authz/mcp", &bot, Some(mcp_call.clone()));
    s.post("/v1/ext-authz/", &bot, Some(mcp_call));
    s.post("/v1/ext-authz/mcp", &bot, Some(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})));
    for path in ["/v1/ext-authz/mcp", "/v1/ext-authz/"] {
        s.get(path, &bot);
        s.call("DELETE", path, Some(&bot), None);
    }
    let held = s.post(
        "/v1/decide",
        &bot,
        Some(json!({"tool": "send_email", "arguments": {"to": "a@b.c"}, "context": {"cost_usd": 0.5}})),
    );
    let approval = str_of(&held, "approval_id");
    s.get("/v1/approvals?status=pending", &alice);
    s.get(&format!("/v1/approvals/{approval}"), &bot);
    s.post(&format!("/v1/approvals/{approval}/decide"), &carol, Some(json!({"decision": "approve"})));
    s.get(&format!("/v1/approvals/{approval}"), &bot);

    // Containment.
    s.call(
        "POST",
        "/v1/killswitch",
        Some(&alice),
        Some(json!({"scope": "tool", "target": "wipe_disk", "reason": "drill"})),
    );
    s.post("/v1/killswitch", &alice, Some(json!({"scope": "global", "reason": "drill"})));
    s.post("/v1/killswitch/release", &alice, Some(json!({"scope": "global", "reason": "over"})));
    s.get("/v1/killswitch", &alice);

    // Outcomes: the approved call with its receipt, then a denied call run anyway (a bypass).
    let receipt = s.get(&format!("/v1/approvals/{approval}"), &bot)["receipt"].clone();
    s.post(
        &format!("/v1/decisions/{}/outcome", str_of(&held, "decision_id")),
        &bot,
        Some(json!({"status": "succeeded", "receipt": receipt, "detail": "sent"})),
    );
    let denied = s.post("/v1/decide", &bot, Some(json!({"tool": "wipe_disk"})));
    let bypass = s.post(
        &format!("/v1/decisions/{}/outcome", str_of(&denied, "decision_id")),
        &bot,
        Some(json!({"status": "succeeded"})),
    );
    assert_eq!(bypass["bypass"], true, "{bypass}");
    let finding = s.get("/v1/findings", &alice)["items"][0]["id"].as_str().unwrap().to_string();
    s.post(&format!("/v1/findings/{finding}/acknowledge"), &carol, Some(json!({"note": "looking"})));
    s.post(&format!("/v1/findings/{finding}/resolve"), &bob, Some(json!({"note": "a drill"})));
    s.get("/v1/findings", &alice);
    s.post("/v1/policies/explain", &alice, Some(json!({"agent": "mailer", "tool": "send_email"})));
    let page = s.get("/v1/audit?agent=mailer&limit=2", &alice);
    assert!(page["next_cursor"].is_string(), "{page}");
    s.get(&format!("/v1/audit?cursor={}", str_of(&page, "next_cursor")), &alice);
    s.get(&format!("/v1/decisions/{}", str_of(&held, "decision_id")), &bot);
    s.get(&format!("/v1/decisions/{}", str_of(&denied, "decision_id")), &alice);
    s.get(&format!("/v1/audit/trace/{}", str_of(&held, "decision_id")), &alice);
    s.get(&format!("/v1/audit/trace/{}", str_of(&denied, "decision_id")), &alice);
    s.get("/v1/agents/inventory", &alice);

    // The log: checkpoint, proofs, verification.
    s.call("GET", "/healthz", None, None);
    s.call("GET", "/readyz", None, None);
    let checkpoint = s.get("/v1/audit/checkpoint", &alice);
    let size = checkpoint["tree_size"].as_u64().unwrap();
    s.get("/v1/audit/proof/inclusion?seq=1", &alice);
    s.get(&format!("/v1/audit/proof/inclusion?seq=0&tree_size={size}"), &alice);
    s.call("GET", "/v1/audit/consistency?old=1", None, None);
    s.call("GET", &format!("/v1/audit/consistency?old=1&new={size}"), None, None);
    s.get("/v1/audit/verify", &alice);
    s.get("/v1/audit/verify?offset=1&limit=2", &alice);

    // Webhooks: an endpoint nobody answers, so its deliveries are attempted and retried.
    let hook = s.post(
        "/v1/webhooks",
        &alice,
        Some(json!({"url": "http://127.0.0.1:9/hook", "kinds": ["decision"]})),
    );
    let hook = str_of(&hook, "id");
    s.post("/v1/decide", &bot, Some(json!({"tool": "search_docs"})));
    s.post(
        &format!("/v1/webhooks/{hook}/update"),
        &alice,
        Some(json!({"kinds": ["decision", "incident.*"]})),
    );
    s.post(&format!("/v1/webhooks/{hook}/rotate-secret"), &alice, None);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while s.get(&format!("/v1/webhooks/{hook}/deliveries"), &alice)["items"].as_array().unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "no delivery was attempted");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    s.get("/v1/webhooks", &alice);
    s.get(&format!("/v1/webhooks/{hook}"), &alice);
    s.call("DELETE", &format!("/v1/webhooks/{hook}"), Some(&alice), Some(json!({"reason": "drill over"})));

    // Notification channels: one nobody answers, told of the incident below, so its delivery is
    // attempted and recorded.
    let channel = s.post(
        "/v1/notifications/channels",
        &alice,
        Some(json!({"name": "ir", "format": "slack", "url": "http://127.0.0.1:9/chat",
                    "events": ["incident.opened"]})),
    );
    let channel = str_of(&channel, "id");

    // Incidents and detections (the detectors raise one on the first call of a new tool).
    let incident = s.post(
        "/v1/incidents",
        &alice,
        Some(json!({"title": "odd mail", "severity": "medium", "agent": "mailer", "summary": "look"})),
    );
    let incident = str_of(&incident, "id");
    s.post(&format!("/v1/incidents/{incident}/assign"), &alice, Some(json!({"owner": "carol"})));
    s.post(
        &format!("/v1/incidents/{incident}/triage"),
        &carol,
        Some(json!({"severity": "high", "note": "real"})),
    );
    s.post(&format!("/v1/incidents/{incident}/notes"), &carol, Some(json!({"text": "checking the mails"})));
    s.post(
        &format!("/v1/incidents/{incident}/contain"),
        &alice,
        Some(json!({"killswitch": {"scope": "agent", "target": "mailer", "reason": "stop it"}})),
    );
    s.post(&format!("/v1/incidents/{incident}/resolve"), &carol, Some(json!({"writeup": "a test mail"})));
    s.get(&format!("/v1/incidents/{incident}"), &alice);
    s.get("/v1/incidents", &alice);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while s.get("/v1/detections", &alice)["items"].as_array().unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "no detection was raised");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let deliveries = format!("/v1/notifications/channels/{channel}/deliveries");
    while s.get(&deliveries, &alice)["items"].as_array().unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "no notification was attempted");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    s.get("/v1/notifications/channels", &alice);
    s.post(
        &format!("/v1/notifications/channels/{channel}/disable"),
        &alice,
        Some(json!({"reason": "drill over"})),
    );

    // Retention, exports and share links.
    s.get("/v1/retention", &alice);
    s.call("PUT", "/v1/retention", Some(&alice), Some(json!({"days": 400})));
    s.call("PUT", "/v1/retention", Some(&alice), Some(json!({"days": 380})));
    s.post("/v1/retention/approve", &bob, None);
    s.post("/v1/retention/purge", &alice, None);
    let hold = s.post(
        "/v1/holds",
        &alice,
        Some(json!({"reason": "litigation", "from": "2026-01-01", "to": "2026-02-01"})),
    );
    let hold = str_of(&hold, "id");
    s.get("/v1/holds", &alice);
    s.post(&format!("/v1/holds/{hold}/release"), &alice, Some(json!({"reason": "settled"})));
    s.post(&format!("/v1/holds/{hold}/release/approve"), &bob, None);
    s.get(&format!("/v1/holds/{hold}"), &alice);
    let scan = s.post("/v1/compliance/scans", &alice, None);
    s.get("/v1/compliance/scans", &alice);
    s.get(&format!("/v1/compliance/scans/{}", str_of(&scan, "id")), &alice);
    s.get("/v1/compliance/readiness", &alice);
    let today = time::OffsetDateTime::now_utc().date();
    let export = s.post(
        "/v1/compliance/exports",
        &alice,
        Some(json!({"from": (today - time::Duration::days(1)).to_string(), "to": (today + time::Duration::days(1)).to_string()})),
    );
    s.get("/v1/compliance/exports", &alice);
    s.get(&format!("/v1/compliance/exports/{}", str_of(&export, "export_id")), &alice);
    let share =
        s.post("/v1/shares", &alice, Some(json!({"export_id": export["export_id"], "expires_days": 7})));
    // A first access (recorded) and a repeated one (counted, recorded by the flush): the
    // accesses list answers both shapes.
    s.call("GET", &str_of(&share, "url_path"), None, None);
    s.call("GET", &str_of(&share, "url_path"), None, None);
    assert!(server.state.public.flush(&server.state.gavel).unwrap(), "a summary was recorded");
    s.get("/v1/shares", &alice);
    s.get(&format!("/v1/shares/{}/accesses", str_of(&share, "id")), &alice);
    s.post(&format!("/v1/shares/{}/revoke", str_of(&share, "id")), &alice, None);

    // Every answer against the document the server serves.
    let (status, doc) = server.call("GET", "/v1/openapi.json", None, None);
    assert_eq!(status, 200);
    let input = json!({"doc": doc, "calls": s.calls.into_inner()});
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/openapi/answers.py");
    let mut child = gavel_testkit::python_command()
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the oracles' python");
    child.stdin.take().unwrap().write_all(input.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "answers.py: {}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("the checker's JSON report");
    let failures = report["failures"].as_array().unwrap();
    assert!(
        failures.is_empty(),
        "{} answers do not match their schema:\n{}",
        failures.len(),
        failures.iter().map(|f| f.to_string()).collect::<Vec<_>>().join("\n")
    );
    let validated: Vec<&Value> = report["validated"].as_array().unwrap().iter().collect();
    eprintln!("validated the 2xx answers of {} operations: {validated:?}", validated.len());
    let unchecked: Vec<&Value> =
        report["typed"].as_array().unwrap().iter().filter(|op| !validated.contains(op)).collect();
    assert!(
        unchecked.is_empty(),
        "operations with a declared 2xx schema this session never called: {unchecked:?}"
    );
}
