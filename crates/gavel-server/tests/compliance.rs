//! Readiness scans, evidence exports and auditor share links over HTTP — down to an auditor who
//! downloads a shared bundle with no token and verifies it with sha256sum and openssl alone.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

mod common;

use common::{assert_error, Server};
use gavel_ledger::clock::ManualClock;
use serde_json::json;
use std::sync::Arc;
use time::macros::datetime;

fn setup() -> (Server, String, String, String) {
    let clock = Arc::new(ManualClock::new(datetime!(2026-03-05 09:00 UTC)));
    let server = Server::start_with(clock, gavel_core::Settings::default());
    let admin = server.state.gavel.bootstrap_admin().unwrap().unwrap().token;
    let user = |name: &str, role: &str| {
        server.ok("POST", "/v1/users", &admin, Some(json!({"name": name, "role": role})))["token"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let auditor = user("audrey", "auditor");
    let viewer = user("vic", "viewer");
    let agent = server.ok("POST", "/v1/agents", &admin, Some(json!({"name": "bot", "owner": "dave"})));
    server.ok("POST", "/v1/packs/soc2/install", &admin, None);
    server.ok("POST", "/v1/decide", agent["token"].as_str().unwrap(), Some(json!({"tool": "search_docs"})));
    (server, admin, auditor, viewer)
}

#[test]
fn scans_are_recorded_compared_and_readable() {
    let (server, admin, auditor, viewer) = setup();
    assert_error(
        server.call("GET", "/v1/compliance/readiness", Some(&viewer), None),
        404,
        "not_found",
        "no soc2 scan yet",
    );
    let (status, scan) = server.call("POST", "/v1/compliance/scans", Some(&auditor), None);
    assert_eq!(status, 201, "{scan}");
    let criteria = scan["criteria"].as_array().unwrap();
    assert_eq!(criteria.len(), 9);
    let state = |id: &str| criteria.iter().find(|c| c["id"] == id).unwrap()["state"].clone();
    assert_eq!(state("CC6.7"), "observe", "the soc2 pack is installed in observe mode");
    assert_eq!(state("CC7.2"), "gap", "no webhook, detectors never ran");
    assert!(scan["new_findings"].as_array().unwrap().iter().any(|f| f == "monitoring_webhooks:none"));
    assert_eq!(server.ok("GET", "/v1/compliance/readiness", &viewer, None)["id"], scan["id"]);

    server.ok("POST", "/v1/webhooks", &admin, Some(json!({"url": "https://siem.example.com/x"})));
    let (_, second) =
        server.call("POST", "/v1/compliance/scans", Some(&admin), Some(json!({"framework": "soc2"})));
    assert_eq!(second["previous_scan"], scan["id"]);
    let remediated: Vec<&str> =
        second["remediated_findings"].as_array().unwrap().iter().filter_map(|f| f["key"].as_str()).collect();
    assert!(remediated.contains(&"monitoring_webhooks:none"), "{remediated:?}");
    assert_eq!(server.ok("GET", "/v1/compliance/scans", &viewer, None)["items"].as_array().unwrap().len(), 2);

    assert_error(server.call("POST", "/v1/compliance/scans", Some(&viewer), None), 403, "forbidden", "");
    assert_error(
        server.call("POST", "/v1/compliance/scans", Some(&admin), Some(json!({"framework": "../etc/x"}))),
        400,
        "invalid_request",
        "framework",
    );
    assert_error(
        server.call("POST", "/v1/compliance/scans", Some(&admin), Some(json!({"framework": "iso27001"}))),
        404,
        "not_found",
        "no framework",
    );

    // The schedule: a scan is due when the latest is a week old; a monthly export on the 1st.
    let gavel = server.state.gavel.clone();
    let archive = tempfile::tempdir().unwrap();
    let schedule = gavel_core::evidence_runs::Schedule {
        scan_every: Some(time::Duration::days(7)),
        monthly_export: true,
        copy_to: Some(archive.path().to_path_buf()),
        upload_to: None,
        checks: Default::default(),
    };
    let done = gavel.run_due(&schedule).unwrap();
    assert_eq!(done.len(), 2, "only the February export is due (and its copy): {done:?}");
    assert!(done[0].contains("2026-02-01..2026-03-01"), "{done:?}");
    let copies: Vec<_> = std::fs::read_dir(archive.path()).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(copies.len(), 1, "{copies:?}");
    let report = gavel_evidence::verify_bundle(&copies[0], &gavel_evidence::VerifyOptions::default());
    assert!(report.valid, "the copied bundle verifies: {report:?}");
    assert!(gavel.run_due(&schedule).unwrap().is_empty(), "idempotent");
}

#[test]
fn an_auditor_verifies_a_shared_bundle_with_coreutils_and_openssl() {
    let (server, admin, auditor, viewer) = setup();
    let (status, export) = server.call(
        "POST",
        "/v1/compliance/exports",
        Some(&auditor),
        Some(json!({"from": "2026-03-01", "to": "2026-03-06"})),
    );
    assert_eq!(status, 201, "{export}");
    let export_id = export["export_id"].as_str().unwrap().to_string();
    assert!(export["total_events"].as_u64().unwrap() > 5);
    let listed = server.ok("GET", "/v1/compliance/exports", &viewer, None);
    assert_eq!(listed["items"][0]["export_id"], export_id.as_str());
    let detail = server.ok("GET", &format!("/v1/compliance/exports/{export_id}"), &viewer, None);
    assert_eq!(detail["stored"], true);
    assert_error(
        server.call(
            "POST",
            "/v1/compliance/exports",
            Some(&viewer),
            Some(json!({"from": "2026-03-01", "to": "2026-03-06"})),
        ),
        403,
        "forbidden",
        "",
    );
    assert_error(
        server.call(
            "POST",
            "/v1/compliance/exports",
            Some(&admin),
            Some(json!({"from": "2026-03-06", "to": "2026-03-01"})),
        ),
        400,
        "invalid_request",
        "before",
    );

    // Sharing: validated, then a link that needs no token.
    assert_error(
        server.call(
            "POST",
            "/v1/shares",
            Some(&admin),
            Some(json!({"export_id": "exp_nope", "expires_days": 30})),
        ),
        // Not on record at all (it used to be a 409 saying the bundle was not held).
        404,
        "not_found",
        "no export",
    );
    assert_error(
        server.call(
            "POST",
            "/v1/shares",
            Some(&admin),
            Some(json!({"export_id": export_id, "expires_days": 0})),
        ),
        400,
        "invalid_request",
        "1 to 365",
    );
    assert_error(
        server.call(
            "POST",
            "/v1/shares",
            Some(&auditor),
            Some(json!({"export_id": export_id, "expires_days": 30})),
        ),
        403,
        "forbidden",
        "admin",
    );
    let (status, share) = server.call(
        "POST",
        "/v1/shares",
        Some(&admin),
        Some(json!({"export_id": export_id, "expires_days": 30})),
    );
    assert_eq!(status, 201, "{share}");
    let url = share["url_path"].as_str().unwrap().to_string();
    let listing = server.call("GET", &url, None, None).1;
    assert_eq!(listing["export"]["export_id"], export_id.as_str());
    let files: Vec<String> = listing["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect();
    for needed in [
        "SHA256SUMS",
        "SHA256SUMS.sig",
        "signing-key.pem",
        "events.jsonl",
        "controls/CC6.1.json",
        "oscal/assessment-results.json",
        "report.pdf",
    ] {
        assert!(files.iter().any(|f| f == needed), "{needed} not listed: {files:?}");
    }

    // The auditor downloads every file and verifies with sha256sum and openssl only.
    let dir = tempfile::tempdir().unwrap();
    for f in &files {
        let (status, bytes) = server.get_bytes(&format!("{url}/files/{f}"), None);
        assert_eq!(status, 200, "{f}");
        let path = dir.path().join(f);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    let sums = gavel_testkit::sha256sum_check(dir.path());
    assert!(sums.ok, "{}", sums.output);
    let signature = gavel_testkit::openssl_verify(dir.path());
    assert!(signature.ok, "{}", signature.output);
    let (_, published) = server.get_bytes("/v1/public/signing-key", None);
    assert_eq!(
        published,
        std::fs::read(dir.path().join("signing-key.pem")).unwrap(),
        "the published key signs the bundle"
    );

    // Nothing outside the bundle can be named; every access was recorded with who asked.
    assert_eq!(server.get_bytes(&format!("{url}/files/../gavel.db"), None).0, 404);
    assert_eq!(server.get_bytes(&format!("{url}/files/keys/export.key"), None).0, 404);
    let share_id = share["id"].as_str().unwrap();
    let accesses = server.ok("GET", &format!("/v1/shares/{share_id}/accesses"), &viewer, None);
    let n = accesses["items"].as_array().unwrap().len();
    assert!(n > files.len(), "{n} accesses for {} files (and the listing)", files.len());
    assert!(accesses["items"][0]["client"].as_str().unwrap().starts_with("127.0.0.1"), "{accesses}");
    assert!(!server
        .ok("GET", "/v1/shares", &viewer, None)
        .to_string()
        .contains(share["token"].as_str().unwrap()));

    // Revoked: the same 404 as an unknown link.
    server.ok("POST", &format!("/v1/shares/{share_id}/revoke"), &admin, None);
    assert_error(server.call("GET", &url, None, None), 404, "not_found", "unknown, revoked or expired");
    assert_error(
        server.call("GET", "/v1/public/share/gsh_nope", None, None),
        404,
        "not_found",
        "unknown, revoked or expired",
    );
    let verify = server.ok("GET", "/v1/audit/verify", &admin, None);
    assert_eq!(verify["valid"], true, "{verify}");
    let doc = server.ok("GET", "/v1/openapi.json", &admin, None);
    for path in [
        "/v1/compliance/scans",
        "/v1/compliance/exports",
        "/v1/shares",
        "/v1/public/share/{token}",
        "/v1/public/signing-key",
    ] {
        assert!(doc["paths"][path].is_object(), "OpenAPI lacks {path}");
    }
}
