//! `gavel webhooks` against the real server: endpoint lifecycle, secrets shown once, refusals.

mod common;

use common::{json, refused, stdout, str_of, Server};

#[test]
fn webhook_endpoints_from_the_cli() {
    let server = Server::start();
    let admin = Some(server.admin.as_str());
    let created = json(&server.gavel(
        admin,
        &["webhooks", "create", "--url", "https://siem.example.com/gavel", "--kind", "decision", "--json"],
    ));
    let id = str_of(&created, "id").to_string();
    assert!(str_of(&created, "secret").starts_with("whsec_"));
    let human =
        stdout(&server.gavel(admin, &["webhooks", "create", "--url", "https://siem.example.com/other"]));
    assert!(human.contains("shown once"), "{human}");

    let list = json(&server.gavel(admin, &["webhooks", "list", "--json"]));
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|w| w.get("secret").is_none()), "secrets are never listed");
    let table = stdout(&server.gavel(admin, &["webhooks", "list"]));
    assert!(table.contains("https://siem.example.com/gavel") && table.contains("decision"), "{table}");

    let shown = json(&server.gavel(admin, &["webhooks", "show", &id, "--json"]));
    assert_eq!(shown["kinds"][0], "decision");
    let updated = json(&server.gavel(admin, &["webhooks", "update", &id, "--kind", "policy.*", "--json"]));
    assert_eq!(updated["kinds"][0], "policy.*");
    let rotated = json(&server.gavel(admin, &["webhooks", "rotate-secret", &id, "--json"]));
    assert_ne!(str_of(&rotated, "secret"), str_of(&created, "secret"));
    json(&server.gavel(admin, &["webhooks", "deliveries", &id, "--json"]));
    let disabled = stdout(&server.gavel(admin, &["webhooks", "disable", &id, "--reason", "moved SIEM"]));
    assert!(disabled.contains("disabled"), "{disabled}");
    assert!(stdout(&server.gavel(admin, &["webhooks", "list"])).contains("moved SIEM"));

    // Refusals: a loopback target (SSRF guard), an empty update, no token.
    let err = refused(&server.gavel(admin, &["webhooks", "create", "--url", "http://127.0.0.1:9/x"]));
    assert!(err.contains("HTTP 400"), "{err}");
    let err = refused(&server.gavel(admin, &["webhooks", "update", &id]));
    assert!(err.contains("nothing to change"), "{err}");
    let err = refused(&server.gavel(None, &["webhooks", "list"]));
    assert!(err.contains("token"), "{err}");
}
