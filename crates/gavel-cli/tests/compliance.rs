//! `gavel compliance` and `gavel share` against the real server: a scan with its per-criterion
//! table, an export on the server, a link an auditor opens with no token, and its revocation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

mod common;

use common::{json, refused, stdout, str_of, Server};

#[test]
fn scans_exports_and_share_links_from_the_cli() {
    let server = Server::start();
    let a = Some(server.admin.as_str());
    let scan = stdout(&server.gavel(a, &["compliance", "scan"]));
    assert!(
        scan.contains("CC7.2") && scan.contains("gap") && scan.contains("first scan of this framework"),
        "{scan}"
    );
    assert!(scan.contains("no webhook endpoint streams events to a SIEM"), "{scan}");
    json(&server.gavel(a, &["webhooks", "create", "--url", "https://siem.example.com/x", "--json"]));
    let second = stdout(&server.gavel(a, &["compliance", "scan"]));
    assert!(second.contains("remediated: no webhook endpoint streams events to a SIEM"), "{second}");
    let listed = stdout(&server.gavel(a, &["compliance", "scans"]));
    assert_eq!(listed.lines().filter(|l| l.contains("scan_")).count(), 2, "{listed}");

    let today = time::OffsetDateTime::now_utc().date();
    let (from, to) = (today.to_string(), (today + time::Duration::days(1)).to_string());
    let export = json(&server.gavel(a, &["compliance", "export", "--from", &from, "--to", &to, "--json"]));
    let export_id = str_of(&export, "export_id").to_string();
    assert!(stdout(&server.gavel(a, &["compliance", "exports"])).contains(&export_id));

    let err = refused(&server.gavel(a, &["share", "create", "--export", &export_id, "--expires", "soon"]));
    assert!(err.contains("30d"), "{err}");
    let share =
        json(&server.gavel(a, &["share", "create", "--export", &export_id, "--expires", "2w", "--json"]));
    let url = str_of(&share, "url").to_string();
    assert!(url.starts_with(&server.url) && url.contains("/v1/public/share/gsh_"), "{url}");
    let listing: serde_json::Value = ureq::get(&url).call().unwrap().into_json().unwrap();
    assert_eq!(listing["export"]["export_id"], export_id.as_str());
    let manifest = ureq::get(&format!("{url}/files/manifest.json")).call().unwrap().into_string().unwrap();
    assert!(manifest.contains("\"framework\""), "{manifest}");

    let id = str_of(&share, "id").to_string();
    let accesses = stdout(&server.gavel(a, &["share", "accesses", &id]));
    assert!(accesses.contains("manifest.json") && accesses.contains("127.0.0.1"), "{accesses}");
    assert!(stdout(&server.gavel(a, &["share", "list"])).contains("active"));
    assert!(stdout(&server.gavel(a, &["share", "revoke", &id])).contains("revoked"));
    match ureq::get(&url).call() {
        Err(ureq::Error::Status(404, _)) => {}
        other => panic!("a revoked link must 404, got {other:?}"),
    }
}
