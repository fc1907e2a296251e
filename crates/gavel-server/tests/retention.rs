//! Retention and legal holds over HTTP, with a manual clock so a year can pass: the minimum is
//! enforced, holds need two admins to release, a purge clears what is past retention and not
//! held, and the log still verifies against the checkpoints signed before the purge.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

mod common;

use common::{assert_error, team, Server, Team};
use gavel_ledger::clock::ManualClock;
use serde_json::{json, Value};
use std::sync::Arc;
use time::macros::datetime;

const POLICY: &str = r#"@id("allow_search")
permit(principal, action == Action::"call_tool", resource == Tool::"search_docs");
"#;

#[test]
fn retention_holds_and_purges_over_http() {
    let clock = Arc::new(ManualClock::new(datetime!(2025-03-01 09:00 UTC)));
    let server = Server::start_with(clock.clone(), gavel_core::Settings::default());
    let Team { alice, bob, users: [vera], agent } =
        team(&server, [("vera", "viewer")], json!({"name": "bot"}), POLICY);
    let agent = agent["token"].as_str().unwrap().to_string();

    // The default, and the refused settings.
    let shown = server.ok("GET", "/v1/retention", &vera, None);
    assert_eq!((shown["policy"]["days"].clone(), shown["minimum_days"].clone()), (json!(365), json!(365)));
    let size = |s: &Server| s.ok("GET", "/v1/audit/checkpoint", &alice, None)["tree_size"].as_u64().unwrap();
    let before = size(&server);
    assert_error(
        server.call("PUT", "/v1/retention", Some(&alice), Some(json!({"days": 90}))),
        400,
        "invalid_request",
        "minimum of 365 days",
    );
    assert_error(
        server.call("PUT", "/v1/retention", Some(&vera), Some(json!({"days": 400}))),
        403,
        "forbidden",
        "admin",
    );
    assert_error(
        server.call("PUT", "/v1/retention", Some(&alice), Some(json!({"days": "long"}))),
        400,
        "invalid_request",
        "",
    );
    assert_error(server.call("POST", "/v1/retention/purge", Some(&agent), None), 403, "forbidden", "");
    assert_eq!(size(&server), before, "refused requests record nothing");

    // Lengthening applies at once; shortening waits for a different admin.
    let set = server.ok("PUT", "/v1/retention", &alice, Some(json!({"days": 500})));
    assert_eq!((set["status"].as_str(), set["policy"]["days"].as_u64()), (Some("applied"), Some(500)));
    let asked = server.ok("PUT", "/v1/retention", &alice, Some(json!({"days": 365})));
    assert_eq!((asked["status"].as_str(), asked["policy"]["days"].as_u64()), (Some("pending"), Some(500)));
    assert_eq!(server.ok("GET", "/v1/retention", &vera, None)["policy"]["days"], 500, "not yet in force");
    assert_error(
        server.call("POST", "/v1/retention/approve", Some(&alice), None),
        403,
        "forbidden",
        "two-person",
    );
    assert_error(server.call("POST", "/v1/retention/approve", Some(&vera), None), 403, "forbidden", "admin");
    let applied = server.ok("POST", "/v1/retention/approve", &bob, None);
    assert_eq!((applied["days"].as_u64(), applied["set_by"].as_str()), (Some(365), Some("bob")));
    let shown = server.ok("GET", "/v1/retention", &vera, None);
    assert_eq!((shown["policy"]["days"].clone(), shown["pending"].clone()), (json!(365), Value::Null));
    assert_error(
        server.call("POST", "/v1/retention/approve", Some(&bob), None),
        409,
        "conflict",
        "no retention change",
    );

    // Three days of decisions, a day apart.
    let decide = |s: &Server| {
        s.ok("POST", "/v1/decide", &agent, Some(json!({"tool": "search_docs", "arguments": {"q": "x"}})))
    };
    let mut seqs = Vec::new();
    for _ in 0..3 {
        seqs.push(decide(&server)["seq"].as_u64().unwrap());
        clock.advance(time::Duration::days(1));
    }
    // Hold the second day.
    assert_error(
        server.call(
            "POST",
            "/v1/holds",
            Some(&alice),
            Some(json!({"from": "2025-03-02", "to": "2025-03-01", "reason": "x"})),
        ),
        400,
        "invalid_request",
        "before",
    );
    let hold = server.call(
        "POST",
        "/v1/holds",
        Some(&alice),
        Some(json!({"from": "2025-03-02", "to": "2025-03-03", "reason": "subpoena 12"})),
    );
    assert_eq!(hold.0, 201, "{}", hold.1);
    let hold_id = hold.1["id"].as_str().unwrap().to_string();
    let signed = server.ok("GET", "/v1/audit/checkpoint", &alice, None);

    // A year and a bit later: the first and third day go, the held second day stays.
    clock.advance(time::Duration::days(366));
    let report = server.ok("POST", "/v1/retention/purge", &alice, None);
    let entry_present = |seq: u64| server.log.store().entry(seq).unwrap().unwrap().bytes.is_some();
    assert!(!entry_present(seqs[0]) && entry_present(seqs[1]) && !entry_present(seqs[2]), "{report}");
    assert_eq!(report["held"], json!([[seqs[1], seqs[1] + 1]]));
    let record_seq = report["records"][0].as_u64().unwrap();
    assert!(entry_present(record_seq), "the purge record is kept");

    // Decisions past retention leave the audit query; the held one stays.
    let audit = server.ok("GET", "/v1/audit", &alice, None);
    let listed: Vec<u64> =
        audit["items"].as_array().unwrap().iter().map(|d| d["seq"].as_u64().unwrap()).collect();
    assert_eq!(listed, vec![seqs[1]], "{audit}");

    // The whole log still verifies, and the checkpoint signed before the purge still matches.
    let verify = server.ok("GET", "/v1/audit/verify", &alice, None);
    assert_eq!(
        (verify["valid"].clone(), verify["purged"].clone()),
        (json!(true), report["payloads_cleared"].clone()),
        "{verify}"
    );
    assert!(verify["checkpoints_checked"].as_u64().unwrap() >= 1, "{verify}");
    let proof = server.ok(
        "GET",
        &format!("/v1/audit/proof/inclusion?seq={}&tree_size={}", seqs[0], signed["tree_size"]),
        &alice,
        None,
    );
    // A purged event is still provably in the tree the pre-purge checkpoint signed.
    let hex = |v: &Value| gavel_ledger::hash::from_hex(v.as_str().unwrap()).unwrap();
    assert_eq!(proof["root"], signed["root"]);
    let path: Vec<_> = proof["hashes"].as_array().unwrap().iter().map(hex).collect();
    gavel_ledger::merkle::verify_inclusion(
        &hex(&proof["leaf_hash"]),
        seqs[0],
        signed["tree_size"].as_u64().unwrap(),
        &path,
        &hex(&signed["root"]),
    )
    .unwrap();

    // Releasing the hold takes two admins; then the held day goes too.
    server.ok(
        "POST",
        &format!("/v1/holds/{hold_id}/release"),
        &alice,
        Some(json!({"reason": "case closed"})),
    );
    assert_error(
        server.call("POST", &format!("/v1/holds/{hold_id}/release/approve"), Some(&alice), None),
        403,
        "forbidden",
        "two-person",
    );
    let released = server.ok("POST", &format!("/v1/holds/{hold_id}/release/approve"), &bob, None);
    assert_eq!(released["status"], "released");
    let again = server.ok("POST", "/v1/retention/purge", &alice, None);
    assert_eq!(again["cleared"], json!([[seqs[1], seqs[1] + 1]]), "{again}");
    assert!(!entry_present(seqs[1]));
    let holds: Value = server.ok("GET", "/v1/holds", &vera, None);
    assert_eq!(holds["items"][0]["released_by"], "bob");

    // Every step is in the log, and the log is whole.
    let verify = server.ok("GET", "/v1/audit/verify", &alice, None);
    assert_eq!(verify["valid"], json!(true), "{verify}");
    let doc = server.ok("GET", "/v1/openapi.json", &alice, None);
    for path in ["/v1/retention", "/v1/retention/purge", "/v1/holds", "/v1/holds/{id}/release/approve"] {
        assert!(doc["paths"][path].is_object(), "OpenAPI lacks {path}");
    }
}
