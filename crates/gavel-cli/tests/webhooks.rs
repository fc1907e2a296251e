//! `gavel webhooks` against the real server: endpoint lifecycle, secrets shown once, refusals,
//! and no delivery lost when the server is killed (SIGKILL) in the middle of its retries.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

mod common;

use common::{json, refused, stdout, str_of, Server};
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

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

type Receiver = gavel_testkit::WebhookReceiver;

fn wait_until<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn killing_the_server_mid_retry_loses_no_delivery() {
    // The receiver fails the first three requests; `gavel serve` retries on the spec's schedule
    // (the first retry about 5 s later).
    let receiver = Receiver::start(&["--fail-first", "3"]);
    let mut server = Server::start_with_config(Some("webhooks_allow_private = true\n"));
    let admin = server.admin.clone();
    let a = Some(admin.as_str());
    let agent = json(&server.gavel(a, &["agents", "create", "bot", "--owner", "admin", "--json"]));
    let agent = str_of(&agent, "token").to_string();
    let url = format!("http://127.0.0.1:{}/hook", receiver.port());
    let hook = json(&server.gavel(a, &["webhooks", "create", "--url", &url, "--kind", "decision", "--json"]));
    let id = str_of(&hook, "id").to_string();
    receiver.set_secret(str_of(&hook, "secret"));
    let seqs: Vec<u64> = (0..3)
        .map(|_| {
            let d = json(&server.gavel(Some(&agent), &["decide", "--tool", "search_docs", "--json"]));
            d["seq"].as_u64().unwrap()
        })
        .collect();
    // Every first attempt failed and is recorded as retrying: the server is now in the backoff.
    wait_until("three recorded failed attempts", 30, || {
        let d = json(&server.gavel(a, &["webhooks", "deliveries", &id, "--json"]));
        let retrying = d["items"].as_array().unwrap().iter().filter(|x| x["outcome"] == "retrying").count();
        (retrying == 3).then_some(())
    });
    assert_eq!(receiver.records().len(), 3);
    server.kill_and_restart();
    let expected: BTreeSet<String> = seqs.iter().map(|s| format!("msg_{id}_{s}")).collect();
    let admin = server.admin.clone();
    let got = wait_until("every delivery after the restart", 60, || {
        let ok: BTreeSet<String> = receiver
            .records()
            .iter()
            .filter(|r| r["responded"] == 204)
            .map(|r| r["webhook_id"].as_str().unwrap().to_string())
            .collect();
        expected.is_subset(&ok).then_some(ok)
    });
    assert_eq!(got, expected);
    let records = receiver.records();
    assert!(records.iter().all(|r| r["verified"] == true), "{records:#?}");
    // Same webhook-id on the retry as on the failed attempt, and each delivered once.
    for id in &expected {
        let tries: Vec<&Value> = records.iter().filter(|r| r["webhook_id"] == id.as_str()).collect();
        assert_eq!(tries.iter().filter(|r| r["responded"] == 204).count(), 1, "{tries:?}");
        assert!(tries.iter().any(|r| r["responded"] == 500), "{tries:?}");
    }
    let shown = wait_until("the attempts recorded", 20, || {
        let ep = json(&server.gavel(Some(&admin), &["webhooks", "show", &id, "--json"]));
        (ep["deliveries"]["delivered"] == 3).then_some(ep)
    });
    assert_eq!(shown["deliveries"]["pending"], 0, "{shown}");
    server.stop();
}

/// Issue 13: the SIEM holds the signed checkpoints. `gavel serve` signs every second; an endpoint
/// subscribed to `checkpoint.signed` receives, signed as any delivery, a C2SP note covering the
/// decisions; the log stops growing once idle (a checkpoint adding only delivery records is not
/// delivered); and after the server stopped, `gavel audit verify --checkpoint` accepts the note
/// the SIEM got and, once the database is rewritten with its checkpoints deleted, catches it.
#[test]
fn the_siem_holds_signed_checkpoints_that_catch_a_rewritten_log() {
    let receiver = Receiver::start(&["--bodies"]);
    let server =
        Server::start_with_config(Some("webhooks_allow_private = true\ncheckpoint_interval_secs = 1\n"));
    let a = Some(server.admin.as_str());
    let agent = json(&server.gavel(a, &["agents", "create", "bot", "--owner", "admin", "--json"]));
    let agent = str_of(&agent, "token").to_string();
    let hook = json(&server.gavel(
        a,
        &["webhooks", "create", "--url", &receiver.url(), "--kind", "checkpoint.signed", "--json"],
    ));
    receiver.set_secret(str_of(&hook, "secret"));
    let last = (0..3)
        .map(|_| {
            json(&server.gavel(Some(&agent), &["decide", "--tool", "search_docs", "--json"]))["seq"]
                .as_u64()
                .unwrap()
        })
        .max()
        .unwrap();
    let note = wait_until("a delivered checkpoint covering the decisions", 30, || {
        receiver.records().into_iter().find_map(|r| {
            let c = &r["payload"]["unmapped"]["gavel"]["checkpoint"];
            let covers = r["verified"] == true && r["responded"] == 204 && c["tree_size"].as_u64()? > last;
            covers.then(|| c["note"].as_str().map(str::to_string)).flatten()
        })
    });
    let records = receiver.records();
    assert!(
        records.iter().all(|r| r["verified"] == true && r["kind"] == "checkpoint.signed"),
        "{records:#?}"
    );

    // Idle, with a checkpoint signed every second: the log settles.
    let size = || server.http_get("/healthz", None).1["tree_size"].as_u64().unwrap();
    wait_until("the idle log to stop growing", 30, || {
        let before = size();
        std::thread::sleep(Duration::from_millis(3500));
        (size() == before).then_some(())
    });

    let tmp = server.stop();
    let data = tmp.path().join("data");
    let held = tmp.path().join("siem.note");
    std::fs::write(&held, &note).unwrap();
    let verify = |checkpoint: &std::path::Path| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gavel"));
        common::clean(&mut cmd)
            .args(["audit", "verify", "--data-dir"])
            .arg(&data)
            .arg("--checkpoint")
            .arg(checkpoint)
            .output()
            .unwrap()
    };
    let ok = verify(&held);
    let text = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success() && text.contains("extends the 1 checkpoint"), "{text}");

    // The database's owner rewrites history and deletes every checkpoint that covered it: the
    // database alone cannot tell, the note the SIEM holds can.
    let db = rusqlite::Connection::open(data.join("gavel.db")).unwrap();
    db.execute_batch(&format!(
        "DELETE FROM events WHERE seq >= {last}; DELETE FROM merkle_nodes; DELETE FROM checkpoints;"
    ))
    .unwrap();
    drop(db);
    let caught = verify(&held);
    assert_eq!(caught.status.code(), Some(1), "{}", String::from_utf8_lossy(&caught.stderr));
    assert!(String::from_utf8_lossy(&caught.stdout).contains("truncated"));
}
