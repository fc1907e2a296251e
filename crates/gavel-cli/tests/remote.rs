//! The remote commands end to end: the real `gavel serve` on a random port, driven over real HTTP
//! by the `gavel` binary with `--server` and `--token`, as an operator would.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

mod common;

use common::{clean, json, refused, stdout, str_of, Server};
use serde_json::Value;
use std::io::{Read, Write};
use std::process::{Command, Output};

const POLICY_V1: &str = r#"// Support agents: search freely, e-mail with a human's approval, never drop tables.
@id("allow_search") permit(principal, action == Action::"call_tool", resource == Tool::"search_docs");
@id("hold_email") @gavel("require_approval") permit(principal, action == Action::"call_tool", resource == Tool::"send_email");
@id("no_drop") forbid(principal, action == Action::"call_tool", resource) when { context.argument_text like "*DROP TABLE*" };
@id("allow_sql") permit(principal, action == Action::"call_tool", resource == Tool::"run_sql");
"#;

/// v2 narrows run_sql to the ops group: the mailer (support) loses it.
const POLICY_V2: &str = r#"// Support agents: search freely, e-mail with a human's approval, never drop tables.
@id("allow_search") permit(principal, action == Action::"call_tool", resource == Tool::"search_docs");
@id("hold_email") @gavel("require_approval") permit(principal, action == Action::"call_tool", resource == Tool::"send_email");
@id("no_drop") forbid(principal, action == Action::"call_tool", resource) when { context.argument_text like "*DROP TABLE*" };
@id("allow_sql") permit(principal in AgentGroup::"ops", action == Action::"call_tool", resource == Tool::"run_sql");
"#;

#[test]
fn policy_lifecycle_decisions_and_audit_over_http() {
    let server = Server::start();
    let alice = server.admin.clone();
    let a = Some(alice.as_str());

    // Two admins and an agent.
    let bob = json(&server.gavel(a, &["users", "create", "bob", "--role", "admin", "--json"]));
    assert!(str_of(&bob, "id").starts_with("usr_"));
    assert_eq!(bob["role"], "admin");
    let bob_token = str_of(&bob, "token").to_string();
    let b = Some(bob_token.as_str());
    let auditor = json(&server.gavel(a, &["users", "create", "carol", "--role", "auditor", "--json"]));
    let carol = Some(str_of(&auditor, "token"));
    let agent = json(&server.gavel(
        a,
        &["agents", "create", "mailer", "--group", "support", "--environment", "production", "--json"],
    ));
    assert!(str_of(&agent, "id").starts_with("agt_"));
    assert_eq!(agent["groups"], serde_json::json!(["support"]));
    assert_eq!(agent["environment"], "production");
    let agent_token = str_of(&agent, "token").to_string();
    let m = Some(agent_token.as_str());

    let users = json(&server.gavel(a, &["users", "list", "--json"]));
    assert_eq!(users["items"].as_array().unwrap().len(), 3);
    let listed = stdout(&server.gavel(b, &["users", "list"]));
    assert!(listed.contains("bob") && listed.contains("auditor"), "{listed}");
    let role = json(&server.gavel(a, &["users", "role", "carol", "viewer", "--json"]));
    assert_eq!(role["role"], "viewer");
    let shown = stdout(&server.gavel(a, &["agents", "show", "mailer"]));
    assert!(shown.contains("production") && shown.contains("support"), "{shown}");
    let agents = json(&server.gavel(a, &["agents", "list", "--json"]));
    assert_eq!(agents["items"][0]["name"], "mailer");

    // Before any policy: allowed, but not enforced.
    let d = json(&server.gavel(m, &["decide", "--tool", "search_docs", "--json"]));
    assert_eq!((d["decision"].as_str(), d["enforced"].as_bool()), (Some("allow"), Some(false)));
    let human = stdout(&server.gavel(m, &["decide", "--tool", "search_docs"]));
    assert!(human.contains("decision:    allow") && human.contains("enforced:    false"), "{human}");

    // The schema needs no token and is what the policies are checked against.
    let schema = stdout(&server.gavel(None, &["policy", "schema"]));
    assert!(schema.contains("entity Agent") && schema.contains("argument_text"), "{schema}");
    assert_eq!(json(&server.gavel(None, &["policy", "schema", "--json"]))["schema"], schema);

    // Alice proposes; she cannot approve her own change; Bob does.
    let v1 = server.file("support-v1.cedar", POLICY_V1);
    let v1 = v1.to_str().unwrap();
    let proposed = stdout(&server.gavel(a, &["policy", "propose", "support", "--file", v1]));
    assert!(proposed.contains("different admin must approve"), "{proposed}");
    let pending = json(&server.gavel(a, &["policy", "changes", "--status", "pending", "--json"]));
    assert_eq!(pending["items"].as_array().unwrap().len(), 1);
    let change = str_of(&pending["items"][0], "id").to_string();
    assert!(proposed.contains(&format!("gavel policy approve {change}")), "{proposed}");
    let err = refused(&server.gavel(a, &["policy", "approve", &change]));
    assert!(err.contains("two-person rule") && err.contains("HTTP 403"), "{err}");
    let applied = stdout(&server.gavel(b, &["policy", "approve", &change, "--comment", "reviewed"]));
    assert!(applied.contains("applied") && applied.contains("version 1 active"), "{applied}");
    let err = refused(&server.gavel(b, &["policy", "approve", &change]));
    assert!(err.contains("HTTP 409"), "{err}");
    let sets = json(&server.gavel(a, &["policy", "list", "--json"]));
    assert_eq!(sets["items"][0]["active_version"], 1);
    assert_eq!(sets["items"][0]["mode"], "enforce");

    // Enforced decisions.
    let decide = |args: &[&str]| -> Value {
        let mut all = vec!["decide", "--json"];
        all.extend_from_slice(args);
        json(&server.gavel(m, &all))
    };
    let allow = decide(&["--tool", "search_docs", "--on-behalf-of", "dana@example.com"]);
    assert_eq!((allow["decision"].as_str(), allow["enforced"].as_bool()), (Some("allow"), Some(true)));
    assert_eq!(allow["policies"][0]["policy_id"], "allow_search");
    assert!(str_of(&allow, "decision_id").starts_with("dec_") && allow["seq"].is_u64());
    let hold = decide(&["--tool", "send_email", "--args", r#"{"to":"x@example.com"}"#]);
    assert_eq!(
        (hold["decision"].as_str(), hold["enforced"].as_bool()),
        (Some("require_approval"), Some(true))
    );
    let drop =
        decide(&["--tool", "run_sql", "--args", r#"{"query":"DROP TABLE users"}"#, "--resource", "db1"]);
    assert_eq!((drop["decision"].as_str(), drop["enforced"].as_bool()), (Some("deny"), Some(true)));
    assert_eq!(drop["policies"][0]["policy_id"], "no_drop");
    let drop_id = str_of(&drop, "decision_id").to_string();
    let unknown = decide(&["--tool", "format_disk", "--cost-usd", "0.5", "--environment", "production"]);
    assert_eq!((unknown["decision"].as_str(), unknown["enforced"].as_bool()), (Some("deny"), Some(true)));
    assert!(unknown["reasons"][0].as_str().unwrap().contains("default deny"), "{unknown}");
    let sql = decide(&["--tool", "run_sql", "--args", r#"{"query":"select 1"}"#]);
    assert_eq!(sql["decision"], "allow");
    // The decision is in the output whatever it is, and the exit status is 0.
    let human = stdout(&server.gavel(m, &["decide", "--tool", "format_disk"]));
    assert!(human.contains("decision:    deny") && human.contains("default deny"), "{human}");

    // Version 2, proposed by Bob and approved by Alice; history names both, diff shows the line.
    let v2 = server.file("support-v2.cedar", POLICY_V2);
    let change2 =
        json(&server.gavel(b, &["policy", "propose", "support", "--file", v2.to_str().unwrap(), "--json"]));
    assert_eq!((change2["version"].as_u64(), change2["status"].as_str()), (Some(2), Some("pending")));
    json(&server.gavel(a, &["policy", "approve", str_of(&change2, "id"), "--json"]));
    assert_eq!(decide(&["--tool", "run_sql", "--args", r#"{"query":"select 1"}"#])["decision"], "deny");

    let history = json(&server.gavel(carol, &["policy", "history", "support", "--json"]));
    let versions = history["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(
        (versions[0]["author_name"].as_str(), versions[1]["author_name"].as_str()),
        (Some("admin"), Some("bob"))
    );
    assert_eq!(versions[0]["sha256"].as_str().unwrap().len(), 64);
    let last = &history["changes"][0];
    assert_eq!(
        (last["proposed_by_name"].as_str(), last["decided_by_name"].as_str(), last["status"].as_str()),
        (Some("bob"), Some("admin"), Some("applied"))
    );
    assert!(last["decided_at"].is_string());
    let text = stdout(&server.gavel(carol, &["policy", "history", "support"]));
    assert!(
        text.contains(&format!("last applied change: {}", str_of(&change2, "id")))
            && text.contains("proposed by bob")
            && text.contains("approved by admin"),
        "{text}"
    );
    assert!(text.contains(str_of(&versions[1], "sha256")), "{text}");

    let diff = stdout(&server.gavel(carol, &["policy", "diff", "support", "--from", "1", "--to", "2"]));
    assert!(diff.starts_with("--- support@v1\n+++ support@v2\n"), "{diff}");
    assert!(diff.contains("\n-@id(\"allow_sql\") permit(principal, action"), "{diff}");
    assert!(diff.contains("\n+@id(\"allow_sql\") permit(principal in AgentGroup::\"ops\""), "{diff}");
    assert!(!diff.contains("\n-@id(\"allow_search\")"), "unchanged lines are context only: {diff}");
    let same =
        json(&server.gavel(carol, &["policy", "diff", "support", "--from", "2", "--to", "2", "--json"]));
    assert_eq!(same["identical"], true);
    assert_eq!(stdout(&server.gavel(carol, &["policy", "show", "support", "--version", "1"])), POLICY_V1);
    assert_eq!(stdout(&server.gavel(carol, &["policy", "show", "support"])), POLICY_V2, "default: active");

    // Rollback to version 1 is a change like any other.
    let rollback = stdout(&server.gavel(a, &["policy", "activate", "support", "--version", "1"]));
    assert!(rollback.contains("pending") && rollback.contains("activate version 1 of support"), "{rollback}");
    let pending =
        json(&server.gavel(a, &["policy", "changes", "--status", "pending", "--set", "support", "--json"]));
    let rollback_id = str_of(&pending["items"][0], "id").to_string();
    assert_eq!(pending["items"][0]["version"], 1);
    assert_eq!(decide(&["--tool", "run_sql"])["decision"], "deny", "pending changes enforce nothing");
    json(&server.gavel(b, &["policy", "approve", &rollback_id, "--json"]));
    assert_eq!(decide(&["--tool", "run_sql"])["decision"], "allow", "version 1 is back");

    // Deactivation too; a rejected change changes nothing.
    let deact = json(&server.gavel(a, &["policy", "deactivate", "support", "--json"]));
    assert_eq!(deact["action"], "deactivate");
    let rejected = stdout(&server.gavel(b, &["policy", "reject", str_of(&deact, "id"), "--comment", "no"]));
    assert!(rejected.contains("rejected"), "{rejected}");
    let rejected = json(&server.gavel(a, &["policy", "changes", "--status", "rejected", "--json"]));
    assert_eq!(rejected["items"][0]["comment"], "no");
    assert_eq!(decide(&["--tool", "search_docs"])["enforced"], true);

    // The soc2 pack: installed in observe mode, decisions carry would_have; going live needs Bob.
    let packs = json(&server.gavel(a, &["pack", "list", "--json"]));
    assert_eq!(packs["items"][0]["name"], "soc2");
    assert!(packs["items"][0]["installed"].is_null());
    let installed = json(&server.gavel(a, &["pack", "install", "soc2", "--json"]));
    assert_eq!(installed["mode"], "observe");
    let observed = decide(&["--tool", "search_docs"]);
    assert_eq!(observed["would_have"], "allow", "{observed}");
    let observed = decide(&["--tool", "transfer_funds"]);
    assert_eq!(
        (observed["decision"].as_str(), observed["would_have"].as_str()),
        (Some("deny"), Some("deny"))
    );
    let human = stdout(&server.gavel(m, &["decide", "--tool", "search_docs"]));
    assert!(human.contains("would_have:  allow"), "{human}");
    let golive = json(&server.gavel(a, &["pack", "golive", "soc2", "--json"]));
    assert_eq!((golive["action"].as_str(), golive["mode"].as_str()), (Some("set_mode"), Some("enforce")));
    let err = refused(&server.gavel(a, &["policy", "approve", str_of(&golive, "id")]));
    assert!(err.contains("two-person rule"), "{err}");
    json(&server.gavel(b, &["policy", "approve", str_of(&golive, "id"), "--json"]));
    let packs = json(&server.gavel(a, &["pack", "list", "--json"]));
    assert_eq!(packs["items"][0]["installed"]["mode"], "enforce");
    let live = decide(&["--tool", "search_docs"]);
    assert_eq!((live["decision"].as_str(), live["enforced"].as_bool()), (Some("allow"), Some(true)));
    assert!(live.get("would_have").is_none(), "nothing observes any more: {live}");

    // Audit: denials, paged.
    let page1 = json(&server.gavel(carol, &["audit", "list", "--outcome", "deny", "--limit", "2", "--json"]));
    let items1 = page1["items"].as_array().unwrap();
    assert_eq!(items1.len(), 2);
    let cursor = str_of(&page1, "next_cursor").to_string();
    let page2 = json(&server.gavel(
        carol,
        &["audit", "list", "--outcome", "deny", "--limit", "2", "--cursor", &cursor, "--json"],
    ));
    let items2 = page2["items"].as_array().unwrap();
    assert!(!items2.is_empty());
    assert!(items1.iter().chain(items2).all(|d| d["decision"] == "deny"));
    assert!(items2[0]["seq"].as_u64() < items1[1]["seq"].as_u64(), "newest first, no overlap");
    let all =
        json(&server.gavel(carol, &["audit", "list", "--outcome", "deny", "--limit", "1000", "--json"]));
    assert!(all["items"].as_array().unwrap().iter().any(|d| d["decision_id"] == drop_id.as_str()));
    assert!(all.get("next_cursor").is_none());
    let table = stdout(&server.gavel(carol, &["audit", "list", "--tool", "run_sql", "--agent", "mailer"]));
    assert!(table.contains(&drop_id) && table.starts_with("TIME"), "{table}");

    // Trace: the policy text, its author and its approver.
    let trace = stdout(&server.gavel(carol, &["audit", "trace", &drop_id]));
    for needle in [
        "agent mailer",
        "environment: production",
        "groups:      support",
        "tool:         run_sql",
        "resource:     db1",
        "decision:     deny (enforced)",
        "support/no_drop version 1 (enforced)",
        "approved by:  bob",
        "author:       admin",
        "like \"*DROP TABLE*\"",
        "approval: none recorded",
        "outcome: none recorded",
    ] {
        assert!(trace.contains(needle), "{needle:?} not in:\n{trace}");
    }
    assert!(!trace.contains("allow_search"), "only the policy that fired is quoted:\n{trace}");
    let trace = json(&server.gavel(carol, &["audit", "trace", &drop_id, "--json"]));
    assert_eq!(trace["policies"][0]["approved_by"], "bob");
    assert_eq!(trace["policies"][0]["text"], POLICY_V1);
    let on_behalf = json(&server.gavel(carol, &["audit", "trace", str_of(&allow, "decision_id"), "--json"]));
    assert_eq!(on_behalf["on_behalf_of"], "dana@example.com");

    // Rotation revokes the old agent token at once; deactivation denies the next call.
    let rotated = json(&server.gavel(a, &["agents", "rotate", "mailer", "--json"]));
    let new_token = str_of(&rotated, "token").to_string();
    assert_ne!(new_token, agent_token);
    let err = refused(&server.gavel(m, &["decide", "--tool", "search_docs"]));
    assert!(err.contains("HTTP 401"), "{err}");
    let n = Some(new_token.as_str());
    assert_eq!(json(&server.gavel(n, &["decide", "--tool", "search_docs", "--json"]))["decision"], "allow");
    let deactivated = stdout(&server.gavel(a, &["agents", "deactivate", "mailer", "--reason", "retired"]));
    assert!(deactivated.contains("deactivated agent mailer"), "{deactivated}");
    let denied = json(&server.gavel(n, &["decide", "--tool", "search_docs", "--json"]));
    assert_eq!(denied["decision"], "deny");
    assert!(denied["reasons"][0].as_str().unwrap().contains("deactivated"), "{denied}");
    let shown = json(&server.gavel(a, &["agents", "show", "mailer", "--json"]));
    assert_eq!(shown["status"], "deactivated");

    // Users: rotate and deactivate.
    let carol_rotated = json(&server.gavel(a, &["users", "rotate", "carol", "--json"]));
    let err = refused(&server.gavel(carol, &["audit", "list"]));
    assert!(err.contains("HTTP 401"), "{err}");
    let carol2 = Some(str_of(&carol_rotated, "token"));
    stdout(&server.gavel(carol2, &["audit", "list"]));
    let gone = json(&server.gavel(a, &["users", "deactivate", "carol", "--reason", "left", "--json"]));
    assert_eq!(gone["status"], "deactivated");
    let err = refused(&server.gavel(carol2, &["policy", "list"]));
    assert!(err.contains("HTTP 401"), "{err}");

    server.stop();
}

#[test]
fn bad_input_is_refused_with_clear_errors() {
    let server = Server::start();
    let a = Some(server.admin.as_str());

    let err = refused(&server.gavel(None, &["users", "list"]));
    assert!(err.contains("--token") && err.contains("GAVEL_TOKEN"), "{err}");
    let err = refused(&server.gavel(Some("gvl_wrong"), &["users", "list"]));
    assert!(err.contains("(unauthenticated, HTTP 401)"), "{err}");
    // The token can come from the environment too.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gavel"));
    let out = clean(&mut cmd)
        .env("GAVEL_SERVER", &server.url)
        .env("GAVEL_TOKEN", &server.admin)
        .args(["users", "list", "--json"])
        .output()
        .unwrap();
    assert_eq!(json(&out)["items"][0]["name"], "admin");

    let out = server.gavel(a, &["users", "create", "eve", "--role", "superuser"]);
    let err = refused(&out);
    assert!(err.contains("superuser") && err.contains("admin, approver, auditor, viewer"), "{err}");
    let err = refused(&server.gavel(a, &["users", "create", "bad name!", "--role", "viewer"]));
    assert!(err.contains("(invalid_request, HTTP 400)"), "{err}");
    let err = refused(&server.gavel(a, &["users", "role", "nobody", "viewer"]));
    assert!(err.contains("(not_found, HTTP 404)"), "{err}");

    // A policy that does not validate: the error names the file and the line.
    let bad = server.file(
        "bad.cedar",
        "@id(\"ok\") permit(principal, action == Action::\"call_tool\", resource);\n\n\
         @id(\"typo\") forbid(principal, action == Action::\"call_tool\", resource) when { context.argumnts_text like \"*x*\" };\n",
    );
    let err = refused(&server.gavel(a, &["policy", "propose", "s1", "--file", bad.to_str().unwrap()]));
    assert!(err.contains("bad.cedar: line 3") && err.contains("HTTP 400"), "{err}");
    let syntax = server.file("syntax.cedar", "permit(principal, action, resource)\n");
    let err = refused(&server.gavel(a, &["policy", "propose", "s1", "--file", syntax.to_str().unwrap()]));
    assert!(err.contains("line 1") && err.contains("HTTP 400"), "{err}");
    let err = refused(&server.gavel(a, &["policy", "propose", "s1", "--file", "/nonexistent/p.cedar"]));
    assert!(err.contains("cannot read policy file /nonexistent/p.cedar"), "{err}");
    let none = json(&server.gavel(a, &["policy", "list", "--json"]));
    assert_eq!(none["items"], serde_json::json!([]), "nothing was proposed");
    let err = refused(&server.gavel(a, &["policy", "approve", "chg_nope"]));
    assert!(err.contains("HTTP 404"), "{err}");
    let err = refused(&server.gavel(a, &["policy", "show", "s1"]));
    assert!(err.contains("HTTP 404"), "{err}");
    let err = refused(&server.gavel(a, &["pack", "install", "hipaa"]));
    assert!(err.contains("no pack") && err.contains("soc2"), "{err}");
    let err = refused(&server.gavel(a, &["audit", "list", "--since", "yesterday"]));
    assert!(err.contains("RFC 3339"), "{err}");
    let err = refused(&server.gavel(a, &["audit", "trace", "dec_nope"]));
    assert!(err.contains("HTTP 404"), "{err}");
    let err = refused(&server.gavel(a, &["users", "deactivate", ".."]));
    assert!(err.contains("use the id"), "{err}");

    // decide: local checks before anything is sent, then the server's.
    let agent = json(&server.gavel(a, &["agents", "create", "bot", "--json"]));
    let bot = Some(str_of(&agent, "token"));
    let err = refused(&server.gavel(bot, &["decide", "--tool", "x", "--args", "{not json"]));
    assert!(err.contains("--args is not valid JSON"), "{err}");
    let err = refused(&server.gavel(bot, &["decide", "--tool", "x", "--args", "[1, 2]"]));
    assert!(err.contains("JSON object"), "{err}");
    let err = refused(&server.gavel(bot, &["decide", "--tool", "x", "--cost-usd=-1"]));
    assert!(err.contains("non-negative"), "{err}");
    let err = refused(&server.gavel(bot, &["decide", "--tool", "two words"]));
    assert!(err.contains("HTTP 400"), "{err}");
    let err = refused(&server.gavel(a, &["decide", "--tool", "x"]));
    assert!(err.contains("agent token") && err.contains("HTTP 403"), "{err}");
    let err = refused(&server.gavel(bot, &["users", "list"]));
    assert!(err.contains("HTTP 403"), "{err}");
    let audit = json(&server.gavel(a, &["audit", "list", "--json"]));
    assert_eq!(audit["items"], serde_json::json!([]), "no refused request was recorded as a decision");

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gavel"));
    let out =
        clean(&mut cmd).args(["users", "list", "--server", "localhost:7311", "--token", "gvl_x"]).output();
    let err = refused(&out.unwrap());
    assert!(err.contains("http://"), "{err}");

    let url = server.url.clone();
    let admin = server.admin.clone();
    server.stop();
    // Nobody listens there any more.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gavel"));
    let out = clean(&mut cmd).args(["users", "list", "--server", &url, "--token", &admin]).output().unwrap();
    let err = refused(&out);
    assert!(err.contains("cannot reach the gavel server at") && err.contains(&url), "{err}");
}

/// A one-shot HTTP server that answers any request with `status` and `body`.
fn canned(status: &str, content_type: &str, body: &str) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        // Read the whole request (headers, then Content-Length bytes) before answering.
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = conn.read(&mut chunk).unwrap();
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text[..end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string())
                    })
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0);
                if buf.len() >= end + 4 + length {
                    break;
                }
            }
            if n == 0 {
                break;
            }
        }
        conn.write_all(response.as_bytes()).unwrap();
    });
    url
}

fn run_against(url: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gavel"));
    clean(&mut cmd).args(args).args(["--server", url, "--token", "gvl_x"]).output().unwrap()
}

#[test]
fn an_unrecorded_decision_must_be_treated_as_denied() {
    let url = canned(
        "503 Service Unavailable",
        "application/json",
        r#"{"error":{"code":"unavailable","message":"the audit log is unavailable: disk full"}}"#,
    );
    let err = refused(&run_against(&url, &["decide", "--tool", "send_email"]));
    assert!(err.contains("the audit log is unavailable: disk full"), "{err}");
    assert!(err.contains("treat this tool call as denied"), "{err}");
    assert!(err.trim_end().ends_with("(unavailable, HTTP 503)"), "{err}");

    // Whatever answers that is not gavel still gives a readable error.
    let url = canned("502 Bad Gateway", "text/html", "<html>bad gateway</html>");
    let err = refused(&run_against(&url, &["users", "list"]));
    assert!(err.contains("bad gateway") && err.contains("HTTP 502"), "{err}");
}

#[test]
fn every_command_has_help_and_help_never_shows_the_token() {
    let commands: &[&[&str]] = &[
        &[],
        &["users"],
        &["users", "create"],
        &["users", "list"],
        &["users", "role"],
        &["users", "deactivate"],
        &["users", "rotate"],
        &["agents"],
        &["agents", "create"],
        &["agents", "list"],
        &["agents", "show"],
        &["agents", "deactivate"],
        &["agents", "rotate"],
        &["agents", "suspend"],
        &["agents", "reactivate"],
        &["agents", "limits"],
        &["agents", "inventory"],
        &["policy"],
        &["policy", "propose"],
        &["policy", "approve"],
        &["policy", "reject"],
        &["policy", "activate"],
        &["policy", "deactivate"],
        &["policy", "list"],
        &["policy", "changes"],
        &["policy", "history"],
        &["policy", "show"],
        &["policy", "diff"],
        &["policy", "schema"],
        &["pack"],
        &["pack", "list"],
        &["pack", "install"],
        &["pack", "golive"],
        &["decide"],
        &["audit", "list"],
        &["audit", "trace"],
        &["approvals"],
        &["approvals", "list"],
        &["approvals", "show"],
        &["approvals", "approve"],
        &["approvals", "deny"],
        &["outcome"],
        &["findings"],
        &["findings", "list"],
        &["killswitch"],
        &["killswitch", "list"],
        &["killswitch", "engage"],
        &["killswitch", "release"],
    ];
    for args in commands {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gavel"));
        let out = clean(&mut cmd)
            .env("GAVEL_TOKEN", "gvl_secret_value")
            .args(*args)
            .arg("--help")
            .output()
            .unwrap();
        let text = stdout(&out);
        assert!(text.contains("Usage: gavel"), "{args:?}: {text}");
        assert!(text.contains("--server") && text.contains("--token"), "{args:?}: {text}");
        assert!(!text.contains("gvl_secret_value"), "{args:?} leaks the token: {text}");
    }
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gavel"));
    let help = stdout(&clean(&mut cmd).args(["decide", "--help"]).output().unwrap());
    assert!(help.contains("Exits 0 whatever the decision"), "{help}");
}

/// Issue 14: SQLite in shared WAL mode maps `gavel.db-shm`; when that file is cut short under the
/// server (or a page of it cannot be backed), the next touch of the mapping is SIGBUS and the
/// server died on the next decision without a line in its log. The server now keeps the WAL index
/// in its own memory: the file is never mapped, and decisions go on.
#[test]
fn a_truncated_shm_file_does_not_take_the_server_down() {
    let mut server = Server::start();
    let admin = server.admin.clone();
    let agent = json(&server.gavel(Some(&admin), &["agents", "create", "shm-agent", "--json"]));
    let token = str_of(&agent, "token").to_string();
    let decide = |server: &Server| server.gavel(Some(&token), &["decide", "--tool", "search_docs", "--json"]);
    assert_eq!(json(&decide(&server))["decision"], "allow");
    let shm = server.tmp.path().join("data").join("gavel.db-shm");
    let maps = std::fs::read_to_string(format!("/proc/{}/maps", server.child.id())).unwrap();
    assert!(!maps.contains("gavel.db-shm"), "the server maps the -shm file:\n{maps}");
    // Whatever is at the -shm path — cut to nothing, or absent — is not the server's concern.
    std::fs::write(&shm, b"").unwrap();
    for _ in 0..3 {
        let out = decide(&server);
        assert!(
            out.status.success() || out.status.code() == Some(2),
            "decide: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if out.status.success() {
            assert_eq!(json(&out)["decision"], "allow");
        }
    }
    if let Ok(Some(status)) = server.child.try_wait() {
        panic!("the server died ({status}): {}", server.log());
    }
    let ok = json(&decide(&server));
    assert_eq!(ok["decision"], "allow");
    assert_eq!(server.http_get("/readyz", None).1["checks"]["commit"]["ok"], true);

    // The database is the server's alone while it runs: a local command says so, at once.
    let data = server.tmp.path().join("data");
    let local = |data: &std::path::Path| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gavel"));
        clean(&mut cmd).args(["audit", "verify", "--json", "--data-dir"]).arg(data).output().unwrap()
    };
    let started = std::time::Instant::now();
    let err = refused(&local(&data));
    assert!(err.contains("in use by another process") && err.contains("/v1/audit/verify"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(8), "it took {:?}", started.elapsed());
    let tmp = server.stop();
    let data = tmp.path().join("data");
    assert_eq!(json(&local(&data))["valid"], true);

    // A database file the server could not write is refused at start, naming it.
    let db = data.join("gavel.db");
    let _guard = Unwritable::new(&db);
    let out = Command::new(env!("CARGO_BIN_EXE_gavel"))
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env_remove("GAVEL_DATA_DIR")
        .output()
        .unwrap();
    let err = refused(&out);
    assert!(err.contains("gavel.db is not writable"), "{err}");
}

/// Makes a file unwritable for this process, even as root (then with the immutable attribute,
/// which root's permission override does not pass), until dropped.
struct Unwritable(std::path::PathBuf, bool);

impl Unwritable {
    fn new(path: &std::path::Path) -> Self {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o444)).unwrap();
        let writable = std::fs::OpenOptions::new().write(true).open(path).is_ok();
        if writable {
            let ok = Command::new("chattr").arg("+i").arg(path).status().is_ok_and(|s| s.success());
            assert!(ok, "chattr +i {} (needed when the tests run as root)", path.display());
        }
        Unwritable(path.to_path_buf(), writable)
    }
}

impl Drop for Unwritable {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        if self.1 {
            let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
        }
        let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o644));
    }
}
