//! `gavel policy explain`: the auditor's "what fires when an agent calls a tool it should not",
//! answered from the policies in force, with their text, and without recording anything.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

mod common;

use common::{json, refused, stdout, str_of, Server};

#[test]
fn explain_shows_the_deciding_policy_text_and_records_nothing() {
    let server = Server::start();
    let a = Some(server.admin.as_str());
    let bob = json(&server.gavel(a, &["users", "create", "bob", "--role", "admin", "--json"]));
    let b = Some(str_of(&bob, "token"));
    for (name, group) in [("helpdesk", "support"), ("ops", "ops")] {
        json(&server.gavel(
            a,
            &["agents", "create", name, "--group", group, "--environment", "production", "--json"],
        ));
    }
    json(&server.gavel(a, &["pack", "install", "soc2", "--json"]));
    let golive = json(&server.gavel(a, &["pack", "golive", "soc2", "--json"]));
    json(&server.gavel(b, &["policy", "approve", str_of(&golive, "id"), "--json"]));
    // The server holds the database while it runs: the log size comes from it.
    let size = || {
        let (status, health) = server.http_get("/healthz", None);
        assert_eq!(status, 200, "{health}");
        health["tree_size"].clone()
    };
    let before = size();

    let allowed =
        stdout(&server.gavel(a, &["policy", "explain", "--agent", "helpdesk", "--tool", "send_email"]));
    assert!(allowed.contains("helpdesk calling send_email (external_comm): allow"), "{allowed}");
    assert!(allowed.contains("decided by soc2/allow_support_external_comm (version 1)"), "{allowed}");
    assert!(allowed.contains("permit (principal in AgentGroup::\"support\""), "{allowed}");

    // An agent calling a tool it should not: default deny, no policy permits it.
    let denied =
        json(&server.gavel(a, &["policy", "explain", "--agent", "ops", "--tool", "send_email", "--json"]));
    assert_eq!(denied["decision"], "deny");
    assert_eq!(denied["recorded"], false);

    // A destructive command in production: the forbid and its text.
    let forbid = json(&server.gavel(
        a,
        &[
            "policy",
            "explain",
            "--agent",
            "ops",
            "--tool",
            "shell.exec",
            "--args",
            r#"{"cmd":"rm -rf /"}"#,
            "--json",
        ],
    ));
    assert_eq!(forbid["decision"], "deny");
    assert_eq!(forbid["policies"][0]["policy_id"], "deny_destructive_in_production");
    assert!(forbid["policies"][0]["text"].as_str().unwrap().contains("forbid (principal"), "{forbid}");

    assert_eq!(size(), before, "an explanation records nothing");
    let err = refused(&server.gavel(a, &["policy", "explain", "--agent", "nobody", "--tool", "x"]));
    assert!(err.contains("HTTP 404"), "{err}");
    let err =
        refused(&server.gavel(a, &["policy", "explain", "--agent", "ops", "--tool", "x", "--args", "[1]"]));
    assert!(err.contains("HTTP 400") && err.contains("JSON object"), "{err}");
}
