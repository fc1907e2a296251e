//! `gavel retention` and `gavel holds` against the real server: the 365-day minimum, the
//! two-person release of a hold, and a purge that finds nothing to clear on a young log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

mod common;

use common::{json, refused, stdout, str_of, Server};

#[test]
fn retention_and_holds_from_the_cli() {
    let server = Server::start();
    let admin = Some(server.admin.as_str());
    let shown = stdout(&server.gavel(admin, &["retention", "show"]));
    assert!(shown.contains("retention: 365 days (the built-in default; minimum 365 days)"), "{shown}");

    let err = refused(&server.gavel(admin, &["retention", "set", "--days", "30"]));
    assert!(err.contains("HTTP 400") && err.contains("minimum of 365 days"), "{err}");
    let set = json(&server.gavel(admin, &["retention", "set", "--days", "400", "--json"]));
    assert_eq!((set["status"].as_str(), set["policy"]["days"].as_u64()), (Some("applied"), Some(400)));
    assert!(stdout(&server.gavel(admin, &["retention", "show"])).contains("retention: 400 days (set by"));

    let second = json(&server.gavel(admin, &["users", "create", "bob", "--role", "admin", "--json"]));
    let bob = Some(str_of(&second, "token"));
    // Shortening needs a second admin.
    let asked = stdout(&server.gavel(admin, &["retention", "set", "--days", "370"]));
    assert!(asked.contains("pending: shortening retention from 400 to 370 days"), "{asked}");
    assert!(stdout(&server.gavel(admin, &["retention", "show"])).contains("pending: 370 days"));
    let err = refused(&server.gavel(admin, &["retention", "approve"]));
    assert!(err.contains("HTTP 403") && err.contains("two-person"), "{err}");
    let approved = stdout(&server.gavel(bob, &["retention", "approve"]));
    assert!(approved.contains("retention set to 370 days, approved by bob"), "{approved}");
    let hold = json(&server.gavel(
        admin,
        &["holds", "place", "--from", "2026-01-01", "--to", "2026-04-01", "--reason", "matter 42", "--json"],
    ));
    let id = str_of(&hold, "id").to_string();
    let err = refused(
        &server
            .gavel(admin, &["holds", "place", "--from", "2026-05-01", "--to", "2026-04-01", "--reason", "x"]),
    );
    assert!(err.contains("HTTP 400"), "{err}");
    let listed = stdout(&server.gavel(admin, &["holds", "list"]));
    assert!(listed.contains(&id) && listed.contains("matter 42") && listed.contains("active"), "{listed}");

    stdout(&server.gavel(admin, &["holds", "release", &id, "--reason", "settled"]));
    let err = refused(&server.gavel(admin, &["holds", "approve-release", &id]));
    assert!(err.contains("HTTP 403") && err.contains("two-person"), "{err}");
    let released = stdout(&server.gavel(bob, &["holds", "approve-release", &id]));
    assert!(released.contains("released hold") && released.contains("[released]"), "{released}");

    let purged = stdout(&server.gavel(admin, &["retention", "purge"]));
    assert!(purged.contains("purged 0 payload(s)"), "{purged}");
    let (status, verify) = server.http_get("/v1/audit/verify", admin);
    assert_eq!((status, &verify["valid"]), (200, &serde_json::json!(true)), "{verify}");
    // And from the data directory, once the server has let go of the database.
    let tmp = server.stop();
    let data = tmp.path().join("data");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gavel"));
    common::clean(&mut cmd).args(["audit", "verify", "--json", "--data-dir"]).arg(&data);
    let verify = json(&cmd.output().unwrap());
    assert_eq!(verify["valid"], true, "{verify}");
}
