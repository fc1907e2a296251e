//! `gavel incidents` end to end against the real `gavel serve`: a deny spike driven by real
//! decisions opens an incident, which is assigned, contained with a linked kill switch, refused
//! resolution without a writeup, resolved with one, and `gavel incidents show` prints the whole
//! timeline in log order; the log still verifies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

mod common;

use common::{json, refused, stdout, str_of, Server};
use std::time::{Duration, Instant};

const POLICY: &str = r#"@id("allow_search")
permit(principal, action == Action::"call_tool", resource == Tool::"search_docs");
@id("no_wipe")
forbid(principal, action == Action::"call_tool", resource == Tool::"wipe_disk");
"#;

#[test]
fn a_deny_spike_becomes_an_incident_worked_from_the_cli() {
    let server = Server::start();
    let alice = server.admin.clone();
    let a = Some(alice.as_str());
    let user = |name: &str, role: &str| -> String {
        let u = json(&server.gavel(a, &["users", "create", name, "--role", role, "--json"]));
        str_of(&u, "token").to_string()
    };
    let bob = user("bob", "admin");
    let carol = user("carol", "approver");
    let vic = user("vic", "viewer");
    let agent = json(&server.gavel(a, &["agents", "create", "bot", "--owner", "alice", "--json"]));
    let agent = str_of(&agent, "token").to_string();
    let file = server.file("team.cedar", POLICY);
    let change =
        json(&server.gavel(a, &["policy", "propose", "team", "--file", file.to_str().unwrap(), "--json"]));
    json(&server.gavel(Some(&bob), &["policy", "approve", str_of(&change, "id"), "--json"]));

    for _ in 0..10 {
        let d = json(&server.gavel(Some(&agent), &["decide", "--tool", "wipe_disk", "--json"]));
        assert_eq!(d["decision"], "deny");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let list = loop {
        let list = json(&server.gavel(Some(&vic), &["incidents", "list", "--status", "open", "--json"]));
        if !list["items"].as_array().unwrap().is_empty() {
            break list;
        }
        assert!(Instant::now() < deadline, "no incident: {}", server.log());
        std::thread::sleep(Duration::from_millis(100));
    };
    let id = str_of(&list["items"][0], "id").to_string();
    assert_eq!(list["items"][0]["detector"], "deny_spike");
    let table = stdout(&server.gavel(Some(&vic), &["incidents", "list", "--since", "2000-01-01"]));
    assert!(table.starts_with("ID") && table.contains(&id) && table.contains("deny_spike"), "{table}");
    let none = stdout(&server.gavel(Some(&vic), &["incidents", "list", "--until", "2000-01-01"]));
    assert!(none.contains("no incidents"), "{none}");

    // Viewers cannot act.
    let err = refused(&server.gavel(Some(&vic), &["incidents", "assign", &id, "--owner", "carol"]));
    assert!(err.contains("HTTP 403"), "{err}");
    let assigned = stdout(&server.gavel(a, &["incidents", "assign", &id, "--owner", "carol"]));
    assert!(assigned.contains("owner:     carol"), "{assigned}");
    stdout(&server.gavel(Some(&carol), &["incidents", "note", &id, "looking into the retry loop"]));
    let contained = json(&server.gavel(
        Some(&carol),
        &["incidents", "contain", &id, "--killswitch-scope", "agent", "--killswitch-target", "bot", "--json"],
    ));
    assert_eq!(contained["status"], "contained");
    let switches = json(&server.gavel(Some(&vic), &["killswitch", "list", "--json"]));
    assert_eq!(switches["items"][0]["incident_id"], id.as_str());
    let d = json(&server.gavel(Some(&agent), &["decide", "--tool", "search_docs", "--json"]));
    assert_eq!(d["decision"], "deny", "the kill switch holds");

    // No writeup, no resolution: refused by the CLI and by the server.
    let err = refused(&server.gavel(Some(&carol), &["incidents", "resolve", &id, "--writeup", " "]));
    assert!(err.contains("writeup"), "{err}");
    let err = refused(&server.gavel(Some(&carol), &["incidents", "resolve", &id]));
    assert!(err.contains("--writeup"), "{err}");
    let resolved = stdout(&server.gavel(
        Some(&carol),
        &["incidents", "resolve", &id, "--writeup", "Retry loop on a forbidden tool; loop fixed."],
    ));
    assert!(resolved.contains("status:    resolved"), "{resolved}");
    let err = refused(&server.gavel(Some(&carol), &["incidents", "contain", &id, "--note", "again"]));
    assert!(err.contains("HTTP 409"), "{err}");

    // The full timeline, in log order, with authors.
    let shown = stdout(&server.gavel(Some(&vic), &["incidents", "show", &id]));
    let order = [
        "incident.opened",
        "incident.assigned",
        "incident.noted",
        "killswitch.engaged",
        "incident.contained",
        "incident.resolved",
    ];
    let positions: Vec<usize> =
        order.iter().map(|k| shown.find(k).unwrap_or_else(|| panic!("{k} missing in {shown}"))).collect();
    assert!(positions.windows(2).all(|p| p[0] < p[1]), "{shown}");
    for needle in ["timeline:", "system:detectors", "carol", "Retry loop on a forbidden tool", "writeup:"] {
        assert!(shown.contains(needle), "{needle} missing in {shown}");
    }
    let full = json(&server.gavel(Some(&vic), &["incidents", "show", &id, "--json"]));
    assert!(full["time_to_contain_secs"].as_f64().unwrap() >= 0.0);
    assert!(full["time_to_resolve_secs"].as_f64().unwrap() >= full["time_to_contain_secs"].as_f64().unwrap());

    // An agent suspension taken under an incident (by hand) joins its timeline.
    let other = json(
        &server.gavel(a, &["incidents", "create", "--title", "odd exports", "--severity", "low", "--json"]),
    );
    let other = str_of(&other, "id").to_string();
    stdout(&server.gavel(a, &["agents", "suspend", "bot", "--reason", "exports", "--incident", &other]));
    let shown = json(&server.gavel(Some(&vic), &["incidents", "show", &other, "--json"]));
    assert_eq!(shown["timeline"][1]["kind"], "agent.suspended", "{shown}");
    assert_eq!(shown["containment"][0]["type"], "agent.suspended");

    // The log still verifies, from the data directory, once the server has let go of it.
    let tmp = server.stop();
    let data = tmp.path().join("data");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gavel"));
    common::clean(&mut cmd).args(["audit", "verify", "--json", "--data-dir"]).arg(&data);
    let verify = json(&cmd.output().unwrap());
    assert_eq!(verify["valid"], true, "{verify}");
}
