//! End to end over HTTP: the real server on a loopback port, driven the way agents, admins and
//! auditors use it — including every refusal.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

mod common;

use common::{assert_error, Server};
use serde_json::{json, Value};

const POLICY: &str = r#"@id("allow_search")
permit(principal, action == Action::"call_tool", resource == Tool::"search_docs");

@id("hold_email")
@gavel("require_approval")
permit(principal, action == Action::"call_tool", resource == Tool::"send_email");

@id("allow_sql")
permit(principal, action == Action::"call_tool", resource == Tool::"run_sql");

@id("no_drop")
forbid(principal, action == Action::"call_tool", resource)
when { context.argument_text like "*DROP TABLE*" };
"#;

#[test]
fn the_governance_path_end_to_end() {
    let server = Server::start();
    let alice = server.state.gavel.bootstrap_admin().unwrap().unwrap().token;
    assert!(server.state.gavel.bootstrap_admin().unwrap().is_none(), "bootstrap happens once");

    let bob = server.ok("POST", "/v1/users", &alice, Some(json!({"name": "bob", "role": "admin"})));
    let bob_token = bob["token"].as_str().unwrap().to_string();
    assert!(bob["id"].as_str().unwrap().starts_with("usr_"));
    let agent = server.ok(
        "POST",
        "/v1/agents",
        &alice,
        Some(json!({"name": "mailer", "groups": ["support"], "environment": "production", "owner": "alice"})),
    );
    let agent_token = agent["token"].as_str().unwrap().to_string();
    let decide = |tool: &str, args: Value| {
        server.ok("POST", "/v1/decide", &agent_token, Some(json!({"tool": tool, "arguments": args})))
    };

    // No enforcing policy yet: permissive, and it says so.
    let d = decide("send_email", json!({"to": "x@example.com"}));
    assert_eq!((d["decision"].as_str(), d["enforced"].as_bool()), (Some("allow"), Some(false)));

    // A bad policy is refused with the line that is wrong.
    let bad = POLICY.replace("context.argument_text", "context.no_such_field");
    assert_error(
        server.call("POST", "/v1/policies", Some(&alice), Some(json!({"set_id": "team", "text": bad}))),
        400,
        "invalid_request",
        "line 13",
    );

    // Two-person change control.
    let change = server.ok("POST", "/v1/policies", &alice, Some(json!({"set_id": "team", "text": POLICY})));
    let change_id = change["id"].as_str().unwrap().to_string();
    assert_eq!(change["status"], "pending");
    let own = server.call("POST", &format!("/v1/policies/changes/{change_id}/approve"), Some(&alice), None);
    assert_error(own, 403, "forbidden", "two-person");
    let applied = server.ok("POST", &format!("/v1/policies/changes/{change_id}/approve"), &bob_token, None);
    assert_eq!(
        (applied["status"].as_str(), applied["decided_by_name"].as_str()),
        (Some("applied"), Some("bob"))
    );
    let again =
        server.call("POST", &format!("/v1/policies/changes/{change_id}/approve"), Some(&bob_token), None);
    assert_error(again, 409, "conflict", "already");

    // Decisions follow the policy.
    let allow = decide("search_docs", json!({"q": "refund policy"}));
    assert_eq!((allow["decision"].as_str(), allow["enforced"].as_bool()), (Some("allow"), Some(true)));
    assert_eq!(allow["policies"][0]["policy_id"], "allow_search");
    let hold = decide("send_email", json!({"to": "ceo@example.com"}));
    assert_eq!(hold["decision"], "require_approval");
    let deny = decide("run_sql", json!({"query": "DROP TABLE users"}));
    assert_eq!(deny["decision"], "deny");
    assert!(deny["reasons"][0].as_str().unwrap().contains("no_drop"), "{deny}");
    let unknown = decide("format_disk", json!({}));
    assert_eq!(unknown["decision"], "deny");
    assert!(unknown["reasons"][0].as_str().unwrap().contains("default deny"));

    // Secrets never reach the record.
    let secret = decide("search_docs", json!({"q": "key AKIAIOSFODNN7EXAMPLE", "password": "hunter2"}));
    let stored =
        server.ok("GET", &format!("/v1/decisions/{}", secret["decision_id"].as_str().unwrap()), &alice, None);
    assert_eq!(stored["arguments"]["password"], "[REDACTED]");
    assert_eq!(stored["arguments"]["q"], "key [REDACTED:aws_access_key]");
    assert_eq!(stored["arguments_sha256"].as_str().unwrap().len(), 64);

    // Deactivation takes effect on the next request, and the denial is recorded.
    server.ok(
        "POST",
        &format!("/v1/agents/{}/deactivate", agent["id"].as_str().unwrap()),
        &bob_token,
        Some(json!({"reason": "retired"})),
    );
    let denied = decide("search_docs", json!({}));
    assert_eq!(denied["decision"], "deny");
    assert!(denied["reasons"][0].as_str().unwrap().contains("deactivated"));

    // Audit queries and the end-to-end trace.
    let page = server.ok("GET", "/v1/audit?outcome=deny&limit=2", &alice, None);
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest = server.ok("GET", &format!("/v1/audit?outcome=deny&limit=2&cursor={cursor}"), &alice, None);
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert!(rest.get("next_cursor").is_none());
    let by_agent = server.ok("GET", "/v1/audit?agent=mailer&tool=send_email", &alice, None);
    assert_eq!(by_agent["items"].as_array().unwrap().len(), 2);
    let trace =
        server.ok("GET", &format!("/v1/audit/trace/{}", hold["decision_id"].as_str().unwrap()), &alice, None);
    assert_eq!(trace["principal"]["name"], "mailer");
    assert_eq!(trace["policies"][0]["policy_id"], "hold_email");
    assert_eq!(trace["policies"][0]["approved_by"], "bob");
    assert_eq!(trace["policies"][0]["author"], "admin");
    assert!(trace["policies"][0]["text"].as_str().unwrap().contains("hold_email"));

    // Every step is in a valid chain.
    // Background work (the server's own loops) may append while this runs: verification covers
    // every event there was when it started, and no more than there are after it.
    let before = gavel_store::Store::head(server.log.store().as_ref()).unwrap();
    let verify = server.ok("GET", "/v1/audit/verify", &alice, None);
    assert_eq!(verify["valid"], true, "{verify}");
    let head = gavel_store::Store::head(server.log.store().as_ref()).unwrap();
    let verified = verify["verified"].as_u64().unwrap();
    assert!(
        before.size <= verified && verified <= head.size,
        "{verify}: log {} then {}",
        before.size,
        head.size
    );
    let mut kinds = Vec::new();
    gavel_store::Store::scan(server.log.store().as_ref(), 0, head.size, &mut |e| {
        let event = gavel_ledger::event::Event::from_bytes(e.bytes.as_deref().unwrap()).unwrap();
        kinds.push(event.kind);
        true
    })
    .unwrap();
    assert_eq!(
        kinds,
        [
            "user.created",
            "user.created",
            "agent.registered",
            "decision",
            "policy.proposed",
            "policy.activated",
            "decision",
            "decision",
            "decision",
            "decision",
            "decision",
            "agent.deactivated",
            "decision",
        ]
    );
}

#[test]
fn packs_observe_then_go_live_through_two_people() {
    let server = Server::start();
    let alice = server.state.gavel.bootstrap_admin().unwrap().unwrap().token;
    let bob = server.ok("POST", "/v1/users", &alice, Some(json!({"name": "bob", "role": "admin"})))["token"]
        .as_str()
        .unwrap()
        .to_string();
    let agent = server.ok(
        "POST",
        "/v1/agents",
        &alice,
        Some(json!({"name": "ops-bot", "groups": ["ops"], "environment": "production"})),
    );
    let token = agent["token"].as_str().unwrap().to_string();
    let installed = server.ok("POST", "/v1/packs/soc2/install", &alice, None);
    assert_eq!(installed["mode"], "observe");
    assert_error(
        server.call("POST", "/v1/packs/soc2/install", Some(&alice), None),
        409,
        "conflict",
        "already installed",
    );
    assert_error(
        server.call("POST", "/v1/packs/nope/install", Some(&alice), None),
        404,
        "not_found",
        "no pack",
    );

    let rm = json!({"tool": "shell.exec", "arguments": {"cmd": "rm -rf /var/lib/postgres"}});
    let observed = server.ok("POST", "/v1/decide", &token, Some(rm.clone()));
    assert_eq!((observed["decision"].as_str(), observed["enforced"].as_bool()), (Some("allow"), Some(false)));
    assert_eq!(observed["would_have"], "deny");

    let change = server.ok("POST", "/v1/packs/soc2/golive", &alice, None);
    assert_error(
        server.call(
            "POST",
            &format!("/v1/policies/changes/{}/approve", change["id"].as_str().unwrap()),
            Some(&alice),
            None,
        ),
        403,
        "forbidden",
        "two-person",
    );
    server.ok(
        "POST",
        &format!("/v1/policies/changes/{}/approve", change["id"].as_str().unwrap()),
        &bob,
        None,
    );
    let enforced = server.ok("POST", "/v1/decide", &token, Some(rm));
    assert_eq!((enforced["decision"].as_str(), enforced["enforced"].as_bool()), (Some("deny"), Some(true)));

    // The trace names who let the pack enforce: the second admin of the go-live, not "-".
    let trace = |d: &Value| {
        server.ok("GET", &format!("/v1/audit/trace/{}", d["decision_id"].as_str().unwrap()), &alice, None)
    };
    let t = trace(&enforced);
    let p = &t["policies"][0];
    assert_eq!((p["enforced"].as_bool(), p["approved_by"].as_str()), (Some(true), Some("bob")), "{t}");
    assert_eq!((p["proposed_by"].as_str(), p["author"].as_str()), (Some("admin"), Some("admin")), "{t}");
    assert_eq!(p["change_id"], change["id"]);
    assert!(p["activated_at"].is_string(), "{t}");
    // Before the go-live the pack only observed: nobody approved it enforcing anything.
    let t = trace(&observed);
    let p = &t["policies"][0];
    assert_eq!((p["enforced"].as_bool(), p["approved_by"].clone()), (Some(false), Value::Null), "{t}");
}

#[test]
fn bad_requests_get_json_errors_and_change_nothing() {
    let server = Server::start();
    let alice = server.state.gavel.bootstrap_admin().unwrap().unwrap().token;
    let agent = server.ok("POST", "/v1/agents", &alice, Some(json!({"name": "a1"})));
    let agent_token = agent["token"].as_str().unwrap();
    let size = || gavel_store::Store::head(server.log.store().as_ref()).unwrap().size;
    let before = size();

    assert_error(
        server.call("POST", "/v1/decide", None, Some(json!({"tool": "x"}))),
        401,
        "unauthenticated",
        "bearer",
    );
    assert_error(
        server.call("POST", "/v1/decide", Some("gvl_nope"), Some(json!({"tool": "x"}))),
        401,
        "unauthenticated",
        "invalid",
    );
    assert_error(
        server.call("POST", "/v1/decide", Some(agent_token), Some(json!({"tool": ""}))),
        400,
        "invalid_request",
        "tool",
    );
    assert_error(
        server.call("POST", "/v1/decide", Some(agent_token), Some(json!({"tool": "x", "surprise": 1}))),
        400,
        "invalid_request",
        "surprise",
    );
    assert_error(
        server.call("POST", "/v1/decide", Some(agent_token), Some(json!({"tool": "x", "arguments": [1]}))),
        400,
        "invalid_request",
        "object",
    );
    assert_error(
        server.call(
            "POST",
            "/v1/decide",
            Some(agent_token),
            Some(json!({"tool": "x", "context": {"cost_usd": -1}})),
        ),
        400,
        "invalid_request",
        "cost_usd",
    );
    assert_error(
        server.call("POST", "/v1/users", Some(&alice), Some(json!({"name": "c", "role": "god"}))),
        400,
        "invalid_request",
        "role",
    );
    assert_error(
        server.call("POST", "/v1/users", Some(agent_token), Some(json!({"name": "c", "role": "admin"}))),
        403,
        "forbidden",
        "agents",
    );
    assert_error(
        server.call("POST", "/v1/agents", Some(&alice), Some(json!({"name": "a1"}))),
        409,
        "conflict",
        "already exists",
    );
    assert_error(
        server.call("POST", "/v1/agents", Some(&alice), Some(json!({"name": "bad name"}))),
        400,
        "invalid_request",
        "name",
    );
    assert_error(server.call("GET", "/v1/nowhere", Some(&alice), None), 404, "not_found", "route");
    assert_error(
        server.call("DELETE", "/v1/decide", Some(&alice), None),
        405,
        "method_not_allowed",
        "method",
    );
    assert_error(
        server.call("GET", "/v1/audit?limit=0", Some(&alice), None),
        400,
        "invalid_request",
        "limit",
    );
    assert_error(
        server.call("GET", "/v1/audit?since=yesterday", Some(&alice), None),
        400,
        "invalid_request",
        "rfc 3339",
    );
    assert_error(
        server.call("GET", "/v1/decisions/dec_nope", Some(&alice), None),
        404,
        "not_found",
        "no decision",
    );
    assert_eq!(size(), before, "refused requests recorded nothing");

    let raw = ureq::post(&format!("{}/v1/decide", server.base))
        .set("Authorization", &format!("Bearer {agent_token}"))
        .set("Content-Type", "application/json")
        .send_string("{not json");
    let Err(ureq::Error::Status(400, resp)) = raw else { panic!("expected 400") };
    let body: Value = resp.into_json().unwrap();
    assert_eq!(body["error"]["code"], "invalid_request");
}

/// Numbers in tool arguments as sent on the wire (raw text: a JSON library in the test would round
/// them first). An integer JSON cannot carry exactly is refused, so two amounts can never share a
/// digest; a decimal is digested in the RFC 8785 form every implementation prints.
#[test]
fn argument_numbers_are_exact_or_refused() {
    use sha2::{Digest, Sha256};
    let server = Server::start();
    let alice = server.state.gavel.bootstrap_admin().unwrap().unwrap().token;
    let agent = server.ok("POST", "/v1/agents", &alice, Some(json!({"name": "payer"})));
    let token = agent["token"].as_str().unwrap().to_string();
    let size = || gavel_store::Store::head(server.log.store().as_ref()).unwrap().size;
    let decide = |raw: &str| {
        let sent = ureq::post(&format!("{}/v1/decide", server.base))
            .set("Authorization", &format!("Bearer {token}"))
            .set("Content-Type", "application/json")
            .send_string(raw);
        match sent {
            Ok(resp) => (resp.status(), resp.into_json::<Value>().unwrap()),
            Err(ureq::Error::Status(code, resp)) => (code, resp.into_json::<Value>().unwrap()),
            Err(e) => panic!("{e}"),
        }
    };

    let before = size();
    for amount in
        ["18446744073709551616", "18446744073709551617", "9007199254740993", "-9007199254740992", "1e23"]
    {
        let body = format!(r#"{{"tool": "pay", "arguments": {{"amount": {amount}}}}}"#);
        assert_error(decide(&body), 400, "invalid_request", "arguments.amount");
    }
    assert_eq!(size(), before, "refused calls recorded nothing");

    let d = decide(r#"{"tool": "pay", "arguments": {"amount": 333333333.33333329, "n": 9007199254740991}}"#);
    assert_eq!(d.0, 200, "{}", d.1);
    let trace =
        server.ok("GET", &format!("/v1/decisions/{}", d.1["decision_id"].as_str().unwrap()), &alice, None);
    let expected = hex::encode(Sha256::digest(br#"{"amount":333333333.3333333,"n":9007199254740991}"#));
    assert_eq!(trace["arguments_sha256"], expected.as_str(), "{trace}");
}

#[test]
fn decide_fails_closed_with_503_when_the_log_cannot_commit() {
    let server = Server::start();
    let alice = server.state.gavel.bootstrap_admin().unwrap().unwrap().token;
    let agent = server.ok("POST", "/v1/agents", &alice, Some(json!({"name": "a1"})));
    let token = agent["token"].as_str().unwrap();
    // Make every decision commit fail, through a second connection to the same database.
    let db = fault::open(server.dir.path());
    db.fail_decisions(true);
    let resp = server.call("POST", "/v1/decide", Some(token), Some(json!({"tool": "search_docs"})));
    assert_error(resp, 503, "unavailable", "log");
    db.fail_decisions(false);
    let ok = server.ok("POST", "/v1/decide", token, Some(json!({"tool": "search_docs"})));
    assert_eq!(ok["decision"], "allow");
    let metrics = server.call("GET", "/metrics", None, None).1;
    let text = metrics.as_str().unwrap();
    assert!(text.contains("gavel_decide_unavailable_total 1"), "{text}");
    assert!(text.contains("gavel_decisions_total{outcome=\"allow\",enforced=\"false\"} 1"), "{text}");
    assert!(text.contains("gavel_decide_latency_seconds_count 1"), "{text}");
    assert!(text.contains("gavel_log_entries "), "{text}");
    let verify = server.ok("GET", "/v1/audit/verify", &alice, None);
    assert_eq!(verify["valid"], true);
}

/// `/metrics` with the given `Accept` header: (content type, body).
fn scrape(server: &Server, accept: Option<&str>) -> (String, String) {
    let mut req = ureq::get(&format!("{}/metrics", server.base));
    if let Some(accept) = accept {
        req = req.set("Accept", accept);
    }
    let resp = req.call().expect("GET /metrics");
    assert_eq!(resp.header("vary"), Some("accept"));
    let ctype = resp.header("content-type").unwrap_or_default().to_string();
    (ctype, resp.into_string().unwrap())
}

/// Both expositions of `/metrics`, read by parsers we did not write: the Python
/// `prometheus_client`'s strict OpenMetrics parser for what a scraper asking for OpenMetrics
/// gets, and its Prometheus text format (0.0.4) parser for what everyone else gets. Every family
/// must come with HELP (non-empty documentation) and its type, in both.
#[test]
fn metrics_parse_in_both_formats_with_help_and_type_on_every_family() {
    let server = Server::start();
    let alice = server.state.gavel.bootstrap_admin().unwrap().unwrap().token;
    let agent = server.ok("POST", "/v1/agents", &alice, Some(json!({"name": "a1"})));
    server.ok("POST", "/v1/decide", agent["token"].as_str().unwrap(), Some(json!({"tool": "search_docs"})));

    // Prometheus 2.x's Accept header, then no header, curl's */* and an explicit 0.0.4.
    let prometheus =
        "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,\
                      text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let (om_type, om) = scrape(&server, Some(prometheus));
    assert_eq!(om_type, "application/openmetrics-text; version=1.0.0; charset=utf-8");
    assert!(om.ends_with("# EOF\n"), "{om}");
    let (text_type, text) = scrape(&server, None);
    assert_eq!(text_type, "text/plain; version=0.0.4; charset=utf-8");
    assert!(!text.contains("# EOF"), "{text}");
    for accept in ["*/*", "text/plain;version=0.0.4"] {
        assert_eq!(scrape(&server, Some(accept)).0, text_type, "{accept}");
    }

    const SCRIPT: &str = r#"
import json, math, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics
from prometheus_client.parser import text_string_to_metric_families as prometheus_text
out = {}
for fmt, parse, path in (("openmetrics", openmetrics, sys.argv[1]), ("text", prometheus_text, sys.argv[2])):
    with open(path) as f:
        body = f.read()
    out[fmt] = {
        fam.name: {"type": fam.type, "help": fam.documentation, "unit": fam.unit,
                   "samples": {s.name + json.dumps(s.labels, sort_keys=True): s.value
                               for s in fam.samples if math.isfinite(s.value)}}
        for fam in parse(body)
    }
print(json.dumps(out))
"#;
    let dir = tempfile::tempdir().unwrap();
    let (om_path, text_path) = (dir.path().join("om.txt"), dir.path().join("text.txt"));
    std::fs::write(&om_path, &om).unwrap();
    std::fs::write(&text_path, &text).unwrap();
    let out =
        gavel_testkit::python_command().arg("-c").arg(SCRIPT).arg(&om_path).arg(&text_path).output().unwrap();
    assert!(out.status.success(), "{}\n{om}\n{text}", String::from_utf8_lossy(&out.stderr));
    let parsed: Value = serde_json::from_slice(&out.stdout).unwrap();

    let expected = [
        ("gavel_decisions", "counter", ""),
        ("gavel_decide_latency_seconds", "histogram", "seconds"),
        ("gavel_append_latency_seconds", "histogram", "seconds"),
        ("gavel_log_entries", "gauge", ""),
        ("gavel_decide_unavailable", "counter", ""),
        ("gavel_detections", "counter", ""),
        ("gavel_detector_incident_events", "counter", ""),
        ("gavel_detector_position", "gauge", ""),
        ("gavel_ready", "gauge", ""),
        ("gavel_ready_check", "gauge", ""),
        ("gavel_data_dir_free_bytes", "gauge", "bytes"),
        ("gavel_wal_bytes", "gauge", "bytes"),
        ("gavel_checkpoint_upload_tree_size", "gauge", ""),
        ("gavel_checkpoint_upload_failures", "counter", ""),
    ];
    for fmt in ["openmetrics", "text"] {
        let families = parsed[fmt].as_object().unwrap();
        let names: std::collections::BTreeSet<&str> = families.keys().map(String::as_str).collect();
        let want: std::collections::BTreeSet<&str> = expected.iter().map(|(n, _, _)| *n).collect();
        assert_eq!(names, want, "{fmt}: {parsed}");
        for (name, kind, unit) in expected {
            let family = &families[name];
            assert_eq!(family["type"], kind, "{fmt} {name}: {family}");
            assert!(!family["help"].as_str().unwrap().is_empty(), "{fmt} {name} has no HELP: {family}");
            if fmt == "openmetrics" {
                assert_eq!(family["unit"], unit, "{fmt} {name}: {family}");
            }
        }
        let samples = &families["gavel_decisions"]["samples"];
        let allowed = r#"gavel_decisions_total{"enforced": "false", "outcome": "allow"}"#;
        assert_eq!(samples[allowed], 1.0, "{fmt}: {samples}");
        let entries = families["gavel_log_entries"]["samples"]["gavel_log_entries{}"].as_f64().unwrap();
        assert!(entries >= 3.0, "{fmt}: {entries}");
    }
}

/// Polls `/readyz` until it answers `status` (or panics after `secs`); returns its body.
fn wait_readyz(server: &Server, status: u16, secs: u64) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let (got, body) = server.call("GET", "/readyz", None, None);
        if got == status {
            return body;
        }
        assert!(std::time::Instant::now() < deadline, "/readyz stayed {got}: {body}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

fn readiness(max_detector_lag: u64, min_free_disk_bytes: u64) -> gavel_server::readiness::ReadinessConfig {
    gavel_server::readiness::ReadinessConfig {
        probe_interval: std::time::Duration::from_secs(1),
        max_detector_lag,
        min_free_disk_bytes,
        max_wal_bytes: u64::MAX,
    }
}

#[test]
fn readyz_names_commit_while_nothing_can_commit_and_recovers_without_a_restart() {
    // No disk bound here: the machine running the tests may be short of space.
    let server = Server::start_tweaked(|s| s.with_readiness(readiness(100_000, 0)));
    let alice = server.state.gavel.bootstrap_admin().unwrap().unwrap().token;
    let agent = server.ok("POST", "/v1/agents", &alice, Some(json!({"name": "a1"})));
    let token = agent["token"].as_str().unwrap();
    let ready = wait_readyz(&server, 200, 10);
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["checks"]["commit"]["ok"], true, "{ready}");
    let mut acknowledged = Vec::new();
    let decide = |acknowledged: &mut Vec<Value>| {
        let (status, body) =
            server.call("POST", "/v1/decide", Some(token), Some(json!({"tool": "search_docs"})));
        if status == 200 {
            acknowledged.push(body.clone());
        }
        (status, body)
    };
    assert_eq!(decide(&mut acknowledged).0, 200);

    // Every write fails (decisions and the probe alike), as on a full disk or a locked database.
    let db = fault::open(server.dir.path());
    db.fail_all_writes(true);
    assert_error(decide(&mut acknowledged), 503, "unavailable", "log");
    let (status, body) = server.call("GET", "/readyz", None, None);
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "unready", "{body}");
    assert_eq!(body["failing"], json!(["commit"]), "{body}");
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    assert!(body["checks"]["commit"]["detail"].as_str().unwrap().contains("injected disk failure"), "{body}");
    assert_eq!(body["checks"]["disk"]["ok"], true, "{body}");
    let metrics = server.call("GET", "/metrics", None, None).1;
    let text = metrics.as_str().unwrap();
    assert!(text.contains("gavel_ready 0"), "{text}");
    assert!(text.contains("gavel_ready_check{check=\"commit\"} 0"), "{text}");
    assert!(text.contains("gavel_ready_check{check=\"disk\"} 1"), "{text}");
    assert!(text.contains("# HELP gavel_ready_check"), "{text}");
    // Idle, the probe keeps failing: still unready after several probe intervals.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_eq!(server.call("GET", "/readyz", None, None).0, 503);
    assert!(server.call("GET", "/healthz", None, None).0 == 200, "liveness is not readiness");

    // Repaired: with no decision at all, the probe finds the writer commits again.
    db.fail_all_writes(false);
    assert!(gavel_store::Store::commit_health(server.log.store().as_ref()).failing.is_some());
    let ready = wait_readyz(&server, 200, 10);
    assert_eq!(ready["checks"]["commit"]["ok"], true, "{ready}");
    assert_eq!(decide(&mut acknowledged).0, 200);
    let text = server.call("GET", "/metrics", None, None).1.as_str().unwrap().to_string();
    assert!(text.contains("gavel_ready 1"), "{text}");
    assert!(text.contains("gavel_ready_check{check=\"commit\"} 1"), "{text}");

    // Nothing acknowledged was lost; the probes appended nothing to the log.
    assert_eq!(acknowledged.len(), 2);
    for ack in &acknowledged {
        let id = ack["decision_id"].as_str().unwrap();
        let recorded = server.ok("GET", &format!("/v1/decisions/{id}"), &alice, None);
        assert_eq!(recorded["seq"], ack["seq"], "{recorded}");
    }
    let kinds: Vec<String> = {
        let mut kinds = Vec::new();
        gavel_store::Store::scan(server.log.store().as_ref(), 0, u64::MAX, &mut |e| {
            let event: Value = serde_json::from_slice(e.bytes.as_deref().unwrap()).unwrap();
            kinds.push(event["kind"].as_str().unwrap().to_string());
            true
        })
        .unwrap();
        kinds
    };
    assert_eq!(kinds.iter().filter(|k| *k == "decision").count(), 2, "{kinds:?}");
    let verify = server.ok("GET", "/v1/audit/verify", &alice, None);
    assert_eq!(verify["valid"], true);
}

#[test]
fn readyz_names_disk_below_the_free_space_bound() {
    let server = Server::start_tweaked(|s| s.with_readiness(readiness(100_000, u64::MAX)));
    let (status, body) = server.call("GET", "/readyz", None, None);
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["failing"], json!(["disk"]), "{body}");
    let detail = body["checks"]["disk"]["detail"].as_str().unwrap();
    assert!(detail.contains("MiB free"), "{detail}");
    assert!(body["error"]["message"].as_str().unwrap().contains("disk:"), "{body}");
    assert_eq!(server.call("GET", "/healthz", None, None).0, 200);
    let text = server.call("GET", "/metrics", None, None).1.as_str().unwrap().to_string();
    assert!(text.contains("gavel_ready_check{check=\"disk\"} 0"), "{text}");
    assert!(text.contains("gavel_data_dir_free_bytes "), "{text}");
}

#[test]
fn readyz_names_a_wal_past_its_bound_and_metrics_show_its_size() {
    let config = gavel_server::readiness::ReadinessConfig { max_wal_bytes: 1024, ..readiness(100_000, 0) };
    let server = Server::start_tweaked(move |s| s.with_readiness(config.clone()));
    let alice = server.state.gavel.bootstrap_admin().unwrap().unwrap().token;
    server.ok("POST", "/v1/agents", &alice, Some(json!({"name": "a1"})));
    let wal = std::fs::metadata(server.dir.path().join("gavel.db-wal")).unwrap().len();
    assert!(wal > 1024, "a commit leaves more than a KiB of WAL ({wal} bytes)");
    let (status, body) = server.call("GET", "/readyz", None, None);
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["failing"], json!(["wal"]), "{body}");
    assert!(body["checks"]["wal"]["detail"].as_str().unwrap().contains("write-ahead log"), "{body}");
    let text = server.call("GET", "/metrics", None, None).1.as_str().unwrap().to_string();
    assert!(text.contains("gavel_ready_check{check=\"wal\"} 0"), "{text}");
    let gauge: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("gavel_wal_bytes "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no gavel_wal_bytes sample: {text}"));
    assert!(gauge > 1024, "gavel_wal_bytes {gauge}");
}

#[test]
fn readyz_names_detectors_that_trail_the_log_past_the_bound() {
    // The detectors run once at start and then not for an hour: the lag is what is appended after.
    let server = Server::start_tweaked(|s| {
        s.with_readiness(readiness(20, 0)).with_detectors(gavel_server::detectors::DetectorConfig {
            interval: std::time::Duration::from_secs(3600),
            max_scan: 5_000,
        })
    });
    let alice = server.state.gavel.bootstrap_admin().unwrap().unwrap().token;
    let agent = server.ok("POST", "/v1/agents", &alice, Some(json!({"name": "a1"})));
    let token = agent["token"].as_str().unwrap();
    wait_readyz(&server, 200, 10);
    for _ in 0..25 {
        server.ok("POST", "/v1/decide", token, Some(json!({"tool": "search_docs"})));
    }
    let (status, body) = server.call("GET", "/readyz", None, None);
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["failing"], json!(["detectors"]), "{body}");
    assert!(body["checks"]["detectors"]["detail"].as_str().unwrap().contains("bound 20"), "{body}");
}

#[test]
fn health_openapi_and_checkpoints() {
    let server = Server::start();
    let alice = server.state.gavel.bootstrap_admin().unwrap().unwrap().token;
    let (status, health) = server.call("GET", "/healthz", None, None);
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));
    let (status, doc) = server.call("GET", "/v1/openapi.json", None, None);
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/v1/decide",
        "/v1/audit",
        "/v1/policies",
        "/v1/policies/changes/{id}/approve",
        "/v1/agents",
        "/readyz",
    ] {
        assert!(doc["paths"].get(path).is_some(), "openapi lacks {path}");
    }
    assert!(doc["components"]["schemas"].get("DecideBody").is_some());
    let c = server.ok("GET", "/v1/audit/checkpoint", &alice, None);
    let verifier =
        gavel_ledger::checkpoint::NoteVerifier::from_verifier_key(c["log_key"].as_str().unwrap()).unwrap();
    let checkpoint = verifier.verify(c["note"].as_str().unwrap()).unwrap();
    assert_eq!(checkpoint.origin, "gavel.local/e2e");
    let proof = server.ok("GET", "/v1/audit/proof/inclusion?seq=0", &alice, None);
    assert_eq!(proof["tree_size"], checkpoint.size);
}

/// A monitor that holds an old checkpoint follows the log with no token: `GET /checkpoint` (a plain
/// C2SP note) and `GET /v1/audit/consistency?old=N` (an RFC 9162 proof it checks itself).
#[test]
fn a_monitor_follows_the_log_with_public_checkpoints_and_consistency_proofs() {
    use gavel_ledger::checkpoint::NoteVerifier;
    let server = Server::start();
    // The checkpointer may already have signed the empty log at start; before that, 404.
    let (status, none) = server.call("GET", "/checkpoint", None, None);
    assert!(status == 200 || none["error"]["code"] == "not_found", "{status} {none}");
    let alice = server.state.gavel.bootstrap_admin().unwrap().unwrap().token;
    let log_key =
        server.ok("GET", "/v1/audit/checkpoint", &alice, None)["log_key"].as_str().unwrap().to_string();
    let verifier = NoteVerifier::from_verifier_key(&log_key).unwrap();
    let fetch = || {
        let resp = ureq::get(&format!("{}/checkpoint", server.base)).call().unwrap();
        assert_eq!(resp.content_type(), "text/plain");
        verifier.verify(&resp.into_string().unwrap()).unwrap()
    };
    let old = fetch();
    for i in 0..5 {
        server.ok("POST", "/v1/agents", &alice, Some(json!({"name": format!("bot{i}")})));
    }
    server.log.checkpoint().unwrap();
    let new = fetch();
    assert!(new.size > old.size);
    let p = server.call("GET", &format!("/v1/audit/consistency?old={}", old.size), None, None).1;
    assert_eq!(p["new_size"], new.size);
    assert_eq!(verifier.verify(p["checkpoint"].as_str().unwrap()).unwrap(), new);
    let proof: Vec<gavel_ledger::hash::Hash> = p["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| hex::decode(h.as_str().unwrap()).unwrap().try_into().unwrap())
        .collect();
    gavel_ledger::merkle::verify_consistency(old.size, new.size, &old.root, &new.root, &proof).unwrap();
    assert_error(
        server.call("GET", "/v1/audit/consistency?old=999999", None, None),
        400,
        "invalid_request",
        "beyond",
    );
    assert_error(server.call("GET", "/v1/audit/consistency", None, None), 400, "invalid_request", "old");
    let (status, doc) = server.call("GET", "/v1/openapi.json", None, None);
    assert_eq!(status, 200);
    assert!(
        doc["paths"]["/checkpoint"]["get"].is_object()
            && doc["paths"]["/v1/audit/consistency"]["get"].is_object()
    );
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object(), "{}", doc["components"]);
}

/// Fault injection through SQLite itself (a trigger), not a mock: the real commit fails.
mod fault {
    pub struct Db(rusqlite::Connection);

    pub fn open(dir: &std::path::Path) -> Db {
        Db(rusqlite::Connection::open(dir.join("gavel.db")).unwrap())
    }

    impl Db {
        pub fn fail_decisions(&self, on: bool) {
            let sql = if on {
                "CREATE TRIGGER fail_decisions BEFORE INSERT ON events WHEN NEW.kind = 'decision' \
                 BEGIN SELECT RAISE(ABORT, 'injected disk failure'); END;"
            } else {
                "DROP TRIGGER fail_decisions;"
            };
            self.0.execute_batch(sql).unwrap();
        }

        /// Makes every commit fail: appends, and the readiness probe (which rewrites `meta`).
        pub fn fail_all_writes(&self, on: bool) {
            let sql = if on {
                "CREATE TRIGGER fail_events BEFORE INSERT ON events \
                 BEGIN SELECT RAISE(ABORT, 'injected disk failure'); END; \
                 CREATE TRIGGER fail_meta BEFORE UPDATE ON meta \
                 BEGIN SELECT RAISE(ABORT, 'injected disk failure'); END; \
                 CREATE TRIGGER fail_meta_insert BEFORE INSERT ON meta \
                 BEGIN SELECT RAISE(ABORT, 'injected disk failure'); END;"
            } else {
                "DROP TRIGGER fail_events; DROP TRIGGER fail_meta; DROP TRIGGER fail_meta_insert;"
            };
            self.0.execute_batch(sql).unwrap();
        }
    }
}

/// Refused credentials leave a trace: aggregated per credential, source and reason into one
/// `auth.failures` event per flush (never the token itself), and a burst raises a detection.
#[test]
fn failed_authentications_are_recorded_aggregated_and_detected() {
    let server = Server::start();
    let alice = server.state.gavel.bootstrap_admin().unwrap().unwrap().token;
    let agent = server.ok("POST", "/v1/agents", &alice, Some(json!({"name": "bot"})));
    let (old_agent_token, agent_id) = (agent["token"].as_str().unwrap(), agent["id"].as_str().unwrap());
    server.ok("POST", &format!("/v1/agents/{agent_id}/rotate"), &alice, None);
    let bob = server.ok("POST", "/v1/users", &alice, Some(json!({"name": "bob", "role": "viewer"})));
    let bob_token = bob["token"].as_str().unwrap();
    server.ok("POST", &format!("/v1/users/{}/deactivate", bob["id"].as_str().unwrap()), &alice, None);

    let refused = |token: &str, method: &str, path: &str| {
        let body = (method == "POST").then(|| json!({"tool": "search_docs"}));
        assert_eq!(server.call(method, path, Some(token), body).0, 401, "{path}");
    };
    for _ in 0..3 {
        refused("gvl_not_a_real_token", "GET", "/v1/me");
    }
    refused(old_agent_token, "POST", "/v1/decide");
    refused(old_agent_token, "POST", "/v1/decide");
    refused(bob_token, "GET", "/v1/audit");
    let size = || gavel_store::Store::head(server.log.store().as_ref()).unwrap().size;
    let before = size();
    let seq = server.state.gavel.flush_failed_authentications().unwrap().expect("an event");
    assert_eq!(size(), before + 1, "one event for six refusals");
    assert_eq!(server.state.gavel.flush_failed_authentications().unwrap(), None, "nothing noted since");

    let entry = gavel_store::Store::entry(server.log.store().as_ref(), seq).unwrap().unwrap();
    let bytes = String::from_utf8(entry.bytes.unwrap()).unwrap();
    for secret in ["gvl_not_a_real_token", old_agent_token, bob_token] {
        assert!(!bytes.contains(secret), "a token reached the log");
    }
    let event = gavel_ledger::event::Event::from_bytes(bytes.as_bytes()).unwrap();
    assert_eq!((event.kind.as_str(), event.data["attempts"].as_u64()), ("auth.failures", Some(6)));
    let row = |credential_prefix: &str| {
        event.data["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["credential"].as_str().unwrap().starts_with(credential_prefix))
            .cloned()
            .unwrap_or_else(|| panic!("no row for {credential_prefix}: {}", event.data))
    };
    let unknown = row("unknown:");
    assert_eq!((unknown["count"].as_u64(), unknown["source"].as_str()), (Some(3), Some("127.0.0.1")));
    let rotated = row(&format!("agent:{agent_id}"));
    assert_eq!(rotated["count"], 2);
    assert!(rotated["reason"].as_str().unwrap().contains("revoked"));
    assert_eq!(rotated["principal"]["name"], "bot");
    let inactive = row("user:");
    assert_eq!(
        (inactive["principal"]["name"].as_str(), inactive["reason"].as_str()),
        (Some("bob"), Some("user not active"))
    );

    // A burst from one source raises a high detection (the detector task reads the event).
    for _ in 0..25 {
        refused("gvl_guessing", "GET", "/v1/me");
    }
    server.state.gavel.flush_failed_authentications().unwrap().expect("an event");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let list = server.ok("GET", "/v1/detections", &alice, None);
        let found = list["items"].as_array().unwrap().iter().any(|d| {
            d["detector"] == "auth_failures"
                && d["severity"] == "high"
                && d["summary"].as_str().unwrap().contains("25 refused")
        });
        if found {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no auth_failures detection: {list}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
