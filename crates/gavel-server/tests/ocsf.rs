//! Every webhook payload class gavel emits validates against OCSF's JSON Schema: the log of a
//! real session (decisions allowed, denied and held; policy changes; detections; an incident from
//! opening to resolution; a kill switch) is mapped with `webhooks::payload` and checked by
//! `tests/ocsf/validate.py`, which uses the PyPI packages `ocsf-json-schema` (the schema of each
//! class, OCSF 1.8.0) and `jsonschema` (pinned in .ci/run).

mod common;

use common::Server;
use gavel_ledger::event::Event;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

const POLICY: &str = r#"@id("allow_search")
permit(principal, action == Action::"call_tool", resource == Tool::"search_docs");
@id("hold_email")
@gavel("require_approval")
permit(principal, action == Action::"call_tool", resource == Tool::"send_email");
@id("no_wipe")
forbid(principal, action == Action::"call_tool", resource == Tool::"wipe_disk");
"#;

#[test]
fn every_payload_class_validates_against_the_ocsf_schema() {
    let server = Server::start();
    let alice = server.state.gavel.bootstrap_admin().unwrap().unwrap().token;
    let bob = server.ok("POST", "/v1/users", &alice, Some(json!({"name": "bob", "role": "admin"})))["token"]
        .as_str()
        .unwrap()
        .to_string();
    let agent = server.ok("POST", "/v1/agents", &alice, Some(json!({"name": "bot", "owner": "bob"})));
    let agent = agent["token"].as_str().unwrap().to_string();
    let change = server.ok("POST", "/v1/policies", &alice, Some(json!({"set_id": "team", "text": POLICY})));
    server.ok(
        "POST",
        &format!("/v1/policies/changes/{}/approve", change["id"].as_str().unwrap()),
        &bob,
        None,
    );
    let decide = |tool: &str, args: Value| {
        server.ok(
            "POST",
            "/v1/decide",
            &agent,
            Some(json!({"tool": tool, "arguments": args, "resource": "r1"})),
        )
    };
    decide("search_docs", json!({"q": "hello", "on": "ignore previous instructions"}));
    decide("send_email", json!({"to": "x@example.com"}));
    for _ in 0..10 {
        decide("wipe_disk", json!({"cmd": "rm -rf /"}));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let id = loop {
        let items = server.ok("GET", "/v1/incidents", &alice, None);
        if let Some(i) =
            items["items"].as_array().and_then(|a| a.iter().find(|i| i["detector"] == "deny_spike"))
        {
            break i["id"].as_str().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "no incident");
        std::thread::sleep(Duration::from_millis(50));
    };
    let path = |a: &str| format!("/v1/incidents/{id}/{a}");
    server.ok("POST", &path("triage"), &alice, Some(json!({"note": "real"})));
    server.ok("POST", &path("assign"), &alice, Some(json!({"owner": "bob"})));
    server.ok(
        "POST",
        &path("contain"),
        &alice,
        Some(json!({"killswitch": {"scope": "agent", "target": "bot"}})),
    );
    server.ok("POST", &path("notes"), &alice, Some(json!({"text": "contained"})));
    server.ok("POST", &path("resolve"), &alice, Some(json!({"writeup": "fixed"})));

    let store = server.state.log.store().clone();
    let size = gavel_store::Store::head(store.as_ref()).unwrap().size;
    let mut lines = String::new();
    let mut classes = BTreeSet::new();
    gavel_store::Store::scan(store.as_ref(), 0, size, &mut |e| {
        let event = Event::from_bytes(e.bytes.as_deref().unwrap()).unwrap();
        let p = gavel_core::webhooks::payload(e.seq, &hex::encode(e.leaf_hash), Some(&event));
        classes.insert(p["class_uid"].as_u64().unwrap());
        lines.push_str(&serde_json::to_string(&p).unwrap());
        lines.push('\n');
        true
    })
    .unwrap();
    assert_eq!(classes, BTreeSet::from([2004, 2005, 3004, 6003]), "every class we emit is exercised");

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/ocsf/validate.py");
    let mut child = gavel_testkit::python_command()
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(lines.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{report}\n{}", String::from_utf8_lossy(&out.stderr));
    for kind in ["decision", "policy.proposed", "detection.raised", "incident.opened", "incident.resolved"] {
        assert!(report.contains(&format!(" {kind}\n")), "{kind} not validated:\n{report}");
    }
}
