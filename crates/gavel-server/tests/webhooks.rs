//! Signed webhooks end to end: the real server, its dispatcher, and a Python receiver that
//! verifies every delivery with the Standard Webhooks reference library
//! (`bench/webhooks/receiver.py`, run by gavel-testkit's pinned Python oracles).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

mod common;

use common::{assert_error, Server};
use gavel_server::webhooks::DispatchConfig;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

use std::sync::Arc;
use std::time::{Duration, Instant};

type Receiver = gavel_testkit::WebhookReceiver;

/// webhook-id → how many requests with it were answered 2xx.
fn successes(receiver: &Receiver) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in receiver.records() {
        if (200..300).contains(&r["responded"].as_u64().unwrap()) {
            *m.entry(r["webhook_id"].as_str().unwrap().to_string()).or_default() += 1;
        }
    }
    m
}

/// Polls `f` every 50 ms until it returns `Some`, or fails after `timeout`.
fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Result<T, String> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        if Instant::now() >= deadline {
            return Err(format!("timed out waiting for {what}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn fast_dispatch(retry: Duration) -> DispatchConfig {
    DispatchConfig {
        interval: Duration::from_millis(50),
        schedule: vec![retry; 9],
        timeout: Duration::from_secs(10),
        ..DispatchConfig::default()
    }
}

struct World {
    server: Server,
    admin: String,
    agent: String,
}

fn world(dispatch: DispatchConfig) -> World {
    let settings = gavel_core::Settings { webhooks_allow_private: true, ..Default::default() };
    let server = Server::start_with_webhooks(Arc::new(gavel_ledger::clock::SystemClock), settings, dispatch);
    let admin = server.state.gavel.bootstrap_admin().unwrap().unwrap().token;
    let agent = server.ok("POST", "/v1/agents", &admin, Some(json!({"name": "bot", "owner": "admin"})))
        ["token"]
        .as_str()
        .unwrap()
        .to_string();
    World { server, admin, agent }
}

impl World {
    /// A decision; returns its log seq.
    fn decide(&self) -> u64 {
        let d = self.server.ok(
            "POST",
            "/v1/decide",
            &self.agent,
            Some(json!({"tool": "search_docs", "arguments": {}})),
        );
        d["seq"].as_u64().unwrap()
    }

    fn hook(&self, receiver: &Receiver, kinds: Value) -> String {
        let created = self.server.call(
            "POST",
            "/v1/webhooks",
            Some(&self.admin),
            Some(json!({"url": receiver.url(), "kinds": kinds})),
        );
        assert_eq!(created.0, 201, "{}", created.1);
        let secret = created.1["secret"].as_str().unwrap();
        assert!(secret.starts_with("whsec_"));
        receiver.set_secret(secret);
        created.1["id"].as_str().unwrap().to_string()
    }

    fn deliveries(&self, id: &str) -> Vec<Value> {
        self.server.ok("GET", &format!("/v1/webhooks/{id}/deliveries?limit=1000"), &self.admin, None)["items"]
            .as_array()
            .unwrap()
            .clone()
    }

    fn log_kinds(&self) -> Vec<(String, Value)> {
        let store = self.server.log.store().clone();
        let size = gavel_store::Store::head(store.as_ref()).unwrap().size;
        let mut out = Vec::new();
        gavel_store::Store::scan(store.as_ref(), 0, size, &mut |e| {
            let ev = gavel_ledger::event::Event::from_bytes(e.bytes.as_deref().unwrap()).unwrap();
            out.push((ev.kind, ev.data));
            true
        })
        .unwrap();
        out
    }
}

fn ids(endpoint: &str, seqs: &[u64]) -> BTreeSet<String> {
    seqs.iter().map(|s| format!("msg_{endpoint}_{s}")).collect()
}

/// Waits until every expected id was answered 2xx at least once.
fn wait_delivered(receiver: &Receiver, expected: &BTreeSet<String>, timeout: Duration) {
    wait_for("every delivery", timeout, || {
        let got = successes(receiver);
        expected.iter().all(|id| got.contains_key(id)).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}: records {:#?}", receiver.records()));
}

#[test]
fn failing_endpoint_recovers_and_every_event_arrives_once_and_verifies() {
    let receiver = Receiver::start(&["--fail-first", "3"]);
    let w = world(fast_dispatch(Duration::from_millis(200)));
    let id = w.hook(&receiver, json!(["decision"]));
    let seqs: Vec<u64> = (0..4).map(|_| w.decide()).collect();
    // Not matching the filter: never delivered.
    w.server.ok("POST", "/v1/users", &w.admin, Some(json!({"name": "zoe", "role": "viewer"})));
    let expected = ids(&id, &seqs);
    wait_delivered(&receiver, &expected, Duration::from_secs(30));
    // Every attempt is recorded once the round commits.
    let items = wait_for("7 recorded attempts", Duration::from_secs(10), || {
        let items = w.deliveries(&id);
        (items.len() >= 7).then_some(items)
    })
    .unwrap();

    let records = receiver.records();
    assert!(records.iter().all(|r| r["verified"] == json!(true)), "{records:#?}");
    assert!(records.iter().all(|r| r["kind"] == json!("decision")), "{records:#?}");
    assert_eq!(records.iter().filter(|r| r["responded"] == json!(500)).count(), 3);
    let got = successes(&receiver);
    assert_eq!(got.keys().cloned().collect::<BTreeSet<_>>(), expected, "exactly the matching events");
    assert!(got.values().all(|n| *n == 1), "each delivered once: {got:?}");

    assert_eq!(items.len(), 7, "{items:#?}");
    let failed: Vec<&Value> = items.iter().filter(|a| a["outcome"] == "retrying").collect();
    assert_eq!(failed.len(), 3);
    assert!(failed
        .iter()
        .all(|a| a["status_code"] == 500 && a["error"].is_string() && a["latency_ms"].is_u64()));
    let delivered: BTreeSet<String> = items
        .iter()
        .filter(|a| a["outcome"] == "delivered")
        .map(|a| a["webhook_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(delivered, expected);
    assert!(items.iter().filter(|a| a["outcome"] == "delivered").all(|a| a["status_code"] == 204));
    // Newest first.
    let times: Vec<&str> = items.iter().map(|a| a["at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|p| p[0] >= p[1]), "{times:?}");
    let only_delivered =
        w.server.ok("GET", &format!("/v1/webhooks/{id}/deliveries?status=delivered"), &w.admin, None);
    assert!(!only_delivered["items"].as_array().unwrap().is_empty());

    let ep = w.server.ok("GET", &format!("/v1/webhooks/{id}"), &w.admin, None);
    assert_eq!(ep["deliveries"], json!({"delivered": 4, "failed": 0, "pending": 0}), "{ep}");
    assert!((ep["success_rate"].as_f64().unwrap() - 4.0 / 7.0).abs() < 1e-9, "{ep}");
    assert!(ep.get("secret").is_none());

    // The attempts are evidence in the log, and the payload is OCSF API Activity.
    let kinds = w.log_kinds();
    let attempts: usize = kinds
        .iter()
        .filter(|(k, _)| k == "webhook.attempts")
        .map(|(_, d)| d["attempts"].as_array().unwrap().len())
        .sum();
    assert_eq!(attempts, 7);
}

#[test]
fn restarting_mid_retry_loses_no_delivery() {
    let receiver = Receiver::start(&["--fail-first", "3"]);
    // Retries 1 s apart, so the stop lands while deliveries are pending.
    let mut w = world(fast_dispatch(Duration::from_secs(1)));
    let id = w.hook(&receiver, json!([]));
    let seqs: Vec<u64> = (0..3).map(|_| w.decide()).collect();
    wait_for("a failed attempt", Duration::from_secs(20), || (!receiver.records().is_empty()).then_some(()))
        .unwrap();
    w.server.reopen();
    // After the restart: more events, and the pending ones must still arrive.
    let mut all = seqs.clone();
    all.push(w.decide());
    let expected = ids(&id, &all);
    wait_delivered(&receiver, &expected, Duration::from_secs(30));
    let records = receiver.records();
    assert!(records.iter().all(|r| r["verified"] == json!(true)), "{records:#?}");
    // The agent registration and other events after the endpoint was created also count; at
    // least every decision arrived, each webhook-id answered 2xx exactly once.
    let got = successes(&receiver);
    assert!(expected.iter().all(|i| got.get(i) == Some(&1)), "{got:?}");
    let pending = wait_for("no pending delivery", Duration::from_secs(20), || {
        let ep = w.server.ok("GET", &format!("/v1/webhooks/{id}"), &w.admin, None);
        (ep["deliveries"]["pending"] == 0).then_some(ep)
    })
    .unwrap();
    assert_eq!(pending["deliveries"]["failed"], 0, "{pending}");
}

#[test]
fn gone_disables_the_endpoint_and_it_is_recorded() {
    let receiver = Receiver::start(&["--status", "410"]);
    let w = world(fast_dispatch(Duration::from_millis(200)));
    let id = w.hook(&receiver, json!(["decision"]));
    let seq = w.decide();
    let ep = wait_for("the endpoint to be disabled", Duration::from_secs(20), || {
        let ep = w.server.ok("GET", &format!("/v1/webhooks/{id}"), &w.admin, None);
        (ep["enabled"] == false).then_some(ep)
    })
    .unwrap();
    assert!(ep["disabled_reason"].as_str().unwrap().contains("410"), "{ep}");
    assert_eq!(ep["deliveries"]["failed"], 1, "{ep}");
    let items = w.deliveries(&id);
    assert_eq!(items.len(), 1);
    assert_eq!((items[0]["status_code"].clone(), items[0]["outcome"].clone()), (json!(410), json!("failed")));
    assert_eq!(items[0]["webhook_id"], format!("msg_{id}_{seq}"));
    assert!(w.log_kinds().iter().any(|(k, d)| k == "webhook.disabled" && d["id"] == json!(id)));
    // Disabled: later events are not sent.
    w.decide();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(receiver.records().len(), 1);
}

#[test]
fn admin_api_validates_input_and_guards_private_targets() {
    // Without the flag, private and loopback targets are refused.
    let strict = Server::start();
    let admin = strict.state.gavel.bootstrap_admin().unwrap().unwrap().token;
    for url in [
        "http://127.0.0.1:9/x",
        "http://localhost/x",
        "http://169.254.169.254/latest",
        "http://[::1]/",
        // Spellings the HTTP client reads as loopback (issue 14).
        "http://2130706433/",
        "http://0x7f000001/",
        "http://127.1/",
        "http://localhost./",
        "http://\u{ff11}\u{ff12}\u{ff17}.0.0.1/",
        "http://[64:ff9b::7f00:1]/",
        "http://198.18.0.1/",
    ] {
        assert_error(
            strict.call("POST", "/v1/webhooks", Some(&admin), Some(json!({"url": url}))),
            400,
            "invalid_request",
            "private",
        );
    }

    let receiver = Receiver::start(&[]);
    let w = world(fast_dispatch(Duration::from_millis(200)));
    let post = |body: Value| w.server.call("POST", "/v1/webhooks", Some(&w.admin), Some(body));
    assert_error(post(json!({"url": "ftp://example.com/x"})), 400, "invalid_request", "http");
    assert_error(post(json!({"url": "not a url"})), 400, "invalid_request", "http");
    assert_error(
        post(json!({"url": receiver.url(), "secret": "mine"})),
        400,
        "invalid_request",
        "unknown field",
    );
    assert_error(post(json!({"url": receiver.url(), "kinds": ["Bad Kind"]})), 400, "invalid_request", "kind");
    assert_error(
        w.server.call("POST", "/v1/webhooks", Some(&w.agent), Some(json!({"url": receiver.url()}))),
        403,
        "forbidden",
        "",
    );
    assert_error(
        w.server.call("GET", "/v1/webhooks/whk_nope", Some(&w.admin), None),
        404,
        "not_found",
        "whk_nope",
    );

    let id = w.hook(&receiver, json!(["decision", "policy.*"]));
    assert_error(
        w.server.call("GET", &format!("/v1/webhooks/{id}/deliveries?status=bogus"), Some(&w.admin), None),
        400,
        "invalid_request",
        "status",
    );
    assert_error(
        w.server.call(
            "POST",
            &format!("/v1/webhooks/{id}/update"),
            Some(&w.admin),
            Some(json!({"enabled": "yes"})),
        ),
        400,
        "invalid_request",
        "",
    );
    let list = w.server.ok("GET", "/v1/webhooks", &w.admin, None);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert!(list["items"][0].get("secret").is_none(), "{list}");
    let updated = w.server.ok(
        "POST",
        &format!("/v1/webhooks/{id}/update"),
        &w.admin,
        Some(json!({"kinds": ["decision"]})),
    );
    assert_eq!(updated["kinds"], json!(["decision"]));

    // A rotated secret signs the next deliveries.
    let rotated = w.server.ok("POST", &format!("/v1/webhooks/{id}/rotate-secret"), &w.admin, None);
    receiver.set_secret(rotated["secret"].as_str().unwrap());
    let seq = w.decide();
    wait_delivered(&receiver, &ids(&id, &[seq]), Duration::from_secs(20));
    assert!(receiver.records().iter().all(|r| r["verified"] == json!(true)));

    let disabled = w.server.ok("DELETE", &format!("/v1/webhooks/{id}"), &w.admin, None);
    assert_eq!(disabled["enabled"], false);
    assert_error(
        w.server.call("DELETE", &format!("/v1/webhooks/{id}"), Some(&w.admin), None),
        409,
        "conflict",
        "",
    );
    // Never deleted: still listed.
    assert_eq!(w.server.ok("GET", &format!("/v1/webhooks/{id}"), &w.admin, None)["enabled"], false);
    let kinds: Vec<String> = w.log_kinds().into_iter().map(|(k, _)| k).collect();
    for k in [
        "webhook.created",
        "webhook.updated",
        "webhook.secret_rotated",
        "webhook.disabled",
        "webhook.attempts",
    ] {
        assert!(kinds.iter().any(|x| x == k), "{k} not in the log");
    }
    let openapi = w.server.ok("GET", "/v1/openapi.json", &w.admin, None);
    assert!(openapi["paths"]["/v1/webhooks/{id}/deliveries"].is_object());
}

#[test]
fn a_slow_endpoint_does_not_slow_decide() {
    let receiver = Receiver::start(&["--sleep", "3"]);
    let w = world(fast_dispatch(Duration::from_millis(200)));
    let id = w.hook(&receiver, json!([]));
    let first = w.decide();
    // Decide while the receiver hangs on the first delivery.
    let mut worst = Duration::ZERO;
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(2500) {
        let t = Instant::now();
        w.decide();
        worst = worst.max(t.elapsed());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(receiver.records().is_empty(), "the receiver should still be hanging");
    assert!(worst < Duration::from_secs(1), "decide took {worst:?} while a webhook endpoint hung");
    wait_delivered(&receiver, &ids(&id, &[first]), Duration::from_secs(30));
}

/// Issue 14: dead endpoints must not grow the log by one event per attempt. N endpoints point at
/// a closed loopback port with a fast schedule; while they fail, the log gains at most one
/// `webhook.attempts` event per endpoint per backoff step (the bound documented in
/// `gavel_core::webhooks`, "Failing endpoints"), and the deliveries view still lists every
/// attempt those events record.
#[test]
fn dead_endpoints_add_at_most_one_event_per_backoff_step() {
    const ENDPOINTS: usize = 4;
    const EVENTS: usize = 8;
    let step = Duration::from_millis(300);
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let w = world(fast_dispatch(step));
    let url = format!("http://127.0.0.1:{closed}/hook");
    let hooks: Vec<String> = (0..ENDPOINTS)
        .map(|_| {
            let created = w.server.call(
                "POST",
                "/v1/webhooks",
                Some(&w.admin),
                Some(json!({"url": url, "kinds": ["decision"]})),
            );
            assert_eq!(created.0, 201, "{}", created.1);
            created.1["id"].as_str().unwrap().to_string()
        })
        .collect();
    // A backlog per endpoint: without the hold each one would be tried in its own round.
    for _ in 0..EVENTS {
        w.decide();
    }
    // The detectors note the agent's first call of the tool: let that land before measuring.
    wait_for("the new-tool detection", Duration::from_secs(20), || {
        w.log_kinds().iter().any(|(k, _)| k == "detection.raised").then_some(())
    })
    .unwrap();
    let size = |w: &World| {
        let store = w.server.log.store().clone();
        gavel_store::Store::head(store.as_ref()).unwrap().size
    };
    let before = size(&w);
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    let grew = size(&w) - before;
    let elapsed = started.elapsed();

    // Holds are >= 0.9 x step (jitter), plus the round that may run at the start of the window
    // and one whose commit may land after it.
    let steps = (elapsed.as_secs_f64() / (0.9 * step.as_secs_f64())).floor() as u64 + 2;
    let bound = steps * ENDPOINTS as u64;
    assert!(grew <= bound, "the log grew by {grew} events in {elapsed:?}; bound {bound}");

    // Stop the rounds (a disabled endpoint gets none; one in flight commits within a few ms) so
    // the log and the views below are read at rest.
    for id in &hooks {
        w.server.ok("DELETE", &format!("/v1/webhooks/{id}"), &w.admin, None);
    }
    std::thread::sleep(Duration::from_millis(500));
    let kinds = w.log_kinds();
    assert!(
        kinds.iter().skip(before as usize).take(grew as usize).all(|(k, _)| k == "webhook.attempts"),
        "only attempt records while idle: {:?}",
        kinds.iter().skip(before as usize).take(grew as usize).map(|(k, _)| k).collect::<Vec<_>>()
    );
    let mut total_attempts = 0;
    for id in &hooks {
        let events: Vec<&Value> = kinds
            .iter()
            .filter(|(k, d)| k == "webhook.attempts" && d["endpoint_id"] == json!(id))
            .map(|(_, d)| d)
            .collect();
        let logged: usize = events.iter().map(|d| d["attempts"].as_array().unwrap().len()).sum();
        assert!(!events.is_empty(), "{id} was never tried");
        // The endpoint's rounds were held after each failure.
        assert!(events.iter().all(|d| d["held_until"].is_string()), "{events:#?}");
        // Every attempt the log records is in the deliveries view, and nothing else.
        let items = w.deliveries(id);
        assert_eq!(items.len(), logged, "{id}: deliveries view vs log");
        assert!(items.iter().all(|a| a["status_code"].is_null() && a["error"].is_string()), "{items:#?}");
        let mut by_seq: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        for a in &items {
            by_seq.entry(a["seq"].as_u64().unwrap()).or_default().push(a["attempt"].as_u64().unwrap());
        }
        for (seq, mut n) in by_seq {
            n.sort();
            assert_eq!(n, (1..=n.len() as u64).collect::<Vec<_>>(), "{id} seq {seq}: attempt numbers");
        }
        // The endpoint's counters (what the compliance check reads) agree.
        let ep = w.server.ok("GET", &format!("/v1/webhooks/{id}"), &w.admin, None);
        let counted: u64 =
            ["delivered", "failed", "retrying"].iter().map(|k| ep["attempts"][k].as_u64().unwrap()).sum();
        assert_eq!(counted as usize, logged, "{ep}");
        assert!(ep["held_until"].is_string(), "{ep}");
        total_attempts += logged;
    }
    assert!(total_attempts >= ENDPOINTS, "every endpoint was tried");
}

/// Issue 12: after `rotate-secret` a receiver still holding the old secret keeps verifying
/// deliveries for the configured overlap (both signatures are sent, as the Standard Webhooks spec
/// describes for rotation), one holding the new secret verifies them too, and once the overlap
/// ends only the new signature is sent. The old secret is never shown by the API.
#[test]
fn a_rotated_secret_keeps_signing_for_the_overlap() {
    let overlap = Duration::from_secs(3);
    let receiver = Receiver::start(&[]);
    let w = world(DispatchConfig { rotation_overlap: overlap, ..fast_dispatch(Duration::from_millis(200)) });
    let id = w.hook(&receiver, json!(["decision"]));
    let old = std::fs::read_to_string(receiver.secret_path()).unwrap();
    let rotated = w.server.ok("POST", &format!("/v1/webhooks/{id}/rotate-secret"), &w.admin, None);
    let rotated_at = Instant::now();
    let new = rotated["secret"].as_str().unwrap().to_string();
    assert!(new.starts_with("whsec_") && new != old);
    assert!(rotated["previous_secret_expires_at"].is_string(), "{rotated}");
    for view in [
        w.server.ok("GET", &format!("/v1/webhooks/{id}"), &w.admin, None),
        w.server.ok("GET", "/v1/webhooks", &w.admin, None),
    ] {
        let text = view.to_string();
        assert!(!text.contains(&old) && !text.contains(&new), "a secret is shown: {text}");
    }
    let ep = w.server.ok("GET", &format!("/v1/webhooks/{id}"), &w.admin, None);
    assert_eq!(ep["previous_secret_expires_at"], rotated["previous_secret_expires_at"], "{ep}");

    // During the overlap: the receiver that has not switched verifies, and so does one that has.
    let record_of = |seq: u64| {
        let want = format!("msg_{id}_{seq}");
        wait_for("the delivery", Duration::from_secs(20), || {
            receiver.records().into_iter().find(|r| r["webhook_id"] == json!(want))
        })
        .unwrap()
    };
    let with_old = record_of(w.decide());
    receiver.set_secret(&new);
    let with_new = record_of(w.decide());
    assert!(rotated_at.elapsed() < overlap, "the overlap ended before the deliveries; slow machine?");
    for r in [&with_old, &with_new] {
        assert_eq!((r["verified"].clone(), r["signatures"].clone()), (json!(true), json!(2)), "{r}");
    }

    // After the overlap: one signature, the new one.
    std::thread::sleep(overlap.saturating_sub(rotated_at.elapsed()) + Duration::from_millis(200));
    let after = record_of(w.decide());
    assert_eq!((after["verified"].clone(), after["signatures"].clone()), (json!(true), json!(1)), "{after}");
    receiver.set_secret(&old);
    let stale = record_of(w.decide());
    assert_eq!((stale["verified"].clone(), stale["signatures"].clone()), (json!(false), json!(1)), "{stale}");
}

/// The OCSF validator of `tests/ocsf.rs` (pinned `ocsf-json-schema` + `jsonschema`) over
/// payloads as a receiver got them; returns its report.
fn validate_ocsf(payloads: &[&Value]) -> String {
    use std::io::Write;
    let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/ocsf/validate.py");
    let mut child = gavel_testkit::python_command()
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lines: String = payloads.iter().map(|p| format!("{p}\n")).collect();
    child.stdin.take().unwrap().write_all(lines.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{report}\n{}", String::from_utf8_lossy(&out.stderr));
    report
}

/// Issue 13: every signed checkpoint reaches the SIEM as `checkpoint.signed`, signed like any
/// delivery (verified by the reference Standard Webhooks library), retried on failure, listed in
/// the deliveries, carrying a C2SP note that verifies under the log key and anchors the log; the
/// payload validates against OCSF as delivered. A checkpoint that adds only delivery records is
/// not delivered, so an idle log stops growing.
#[test]
fn signed_checkpoints_are_delivered_verified_and_an_idle_log_stops_growing() {
    // The first request fails: the checkpoint's first attempt, retried 200 ms later.
    let receiver = Receiver::start(&["--bodies", "--fail-first", "1"]);
    let w = world(fast_dispatch(Duration::from_millis(200)));
    let id = w.hook(&receiver, json!(["checkpoint.signed"]));
    let log = w.server.log.clone();
    w.decide();
    // The detectors record the agent's first use of the tool on their own time: awaited, so the
    // log holds everything this test does before the checkpoints are signed.
    wait_for("the new-tool detection", Duration::from_secs(20), || {
        w.log_kinds().iter().any(|(k, _)| k == "detection.raised").then_some(())
    })
    .unwrap();
    let first = log.checkpoint().unwrap();
    let want = format!("msg_{id}_checkpoint_{}", first.size);
    let delivered = |webhook_id: &str| {
        receiver.records().into_iter().find(|r| r["webhook_id"] == json!(webhook_id) && r["responded"] == 204)
    };
    let record = wait_for("the checkpoint's delivery", Duration::from_secs(20), || delivered(&want))
        .unwrap_or_else(|e| panic!("{e}: {:#?}", receiver.records()));
    assert_eq!(
        (record["verified"].clone(), record["kind"].clone()),
        (json!(true), json!("checkpoint.signed"))
    );
    let tries: Vec<Value> =
        receiver.records().into_iter().filter(|r| r["webhook_id"] == json!(want)).collect();
    assert_eq!(tries.iter().map(|r| r["responded"].as_u64().unwrap()).collect::<Vec<_>>(), [500, 204]);

    // What was delivered: the note, and the fields a SIEM indexes, all agreeing with the log.
    let payload = &record["payload"];
    let c = &payload["unmapped"]["gavel"]["checkpoint"];
    let note = c["note"].as_str().unwrap();
    assert_eq!(note, first.note);
    assert_eq!(payload["raw_data"], note);
    assert_eq!(c["origin"], log.origin());
    assert_eq!(c["tree_size"], first.size);
    assert_eq!(c["root_hash"], hex::encode(first.root));
    assert_eq!(c["key_id"], hex::encode(log.verifier().key_id()));
    assert_eq!(payload["entity"]["version"], first.size.to_string());
    // Checked with what a SIEM would hold: the log key as the server publishes it.
    let published = w.server.ok("GET", "/v1/audit/checkpoint", &w.admin, None);
    let key = published["log_key"].as_str().unwrap();
    let verifier = gavel_ledger::checkpoint::NoteVerifier::from_verifier_key(key).unwrap();
    let held = verifier.verify(note).unwrap();
    assert_eq!((held.size, held.root), (first.size, first.root));
    let report = log.verify_with(0, None, &[note.to_string()]).unwrap();
    assert!(report.valid, "the log extends the checkpoint the SIEM holds: {report:?}");
    assert!(validate_ocsf(&[payload]).contains("ok 3004 checkpoint.signed"));

    // Listed among the endpoint's deliveries, with the tree size.
    let items = wait_for("the recorded attempts", Duration::from_secs(10), || {
        let items = w.deliveries(&id);
        (items.len() == 2).then_some(items)
    })
    .unwrap_or_else(|e| panic!("{e}: {:#?}", w.deliveries(&id)));
    assert!(
        items.iter().all(|a| a["kind"] == "checkpoint.signed" && a["tree_size"] == first.size),
        "{items:#?}"
    );
    assert_eq!(items.iter().filter(|a| a["outcome"] == "delivered").count(), 1, "{items:#?}");

    // Idle: the checkpoint over the delivery records alone is signed but not delivered, so
    // nothing more is recorded and the log stops growing.
    let quiet = log.checkpoint().unwrap();
    assert!(quiet.size > first.size, "the attempts were recorded after the first checkpoint");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        gavel_store::Store::head(log.store().as_ref()).unwrap().size,
        quiet.size,
        "an idle log does not grow"
    );
    assert_eq!(log.checkpoint().unwrap().size, quiet.size);
    assert!(delivered(&format!("msg_{id}_checkpoint_{}", quiet.size)).is_none());
    assert!(w.log_kinds().iter().all(|(k, _)| k != "checkpoint.signed"), "not a log event");

    // The next real event: its checkpoint is delivered, and covers the records before it too.
    let later = w.decide();
    let next = log.checkpoint().unwrap();
    assert_eq!(next.size, later + 1);
    let record = wait_for("the next checkpoint's delivery", Duration::from_secs(20), || {
        delivered(&format!("msg_{id}_checkpoint_{}", next.size))
    })
    .unwrap();
    let note = record["payload"]["unmapped"]["gavel"]["checkpoint"]["note"].as_str().unwrap();
    assert!(log.verify_with(0, None, &[note.to_string()]).unwrap().valid);
    let ep = w.server.ok("GET", &format!("/v1/webhooks/{id}"), &w.admin, None);
    assert_eq!(ep["deliveries"], json!({"delivered": 2, "failed": 0, "pending": 0}), "{ep}");
}

/// An endpoint whose filter does not name `checkpoint.signed` gets none; `*` does, beside events.
#[test]
fn checkpoints_follow_the_kind_filter() {
    let decisions = Receiver::start(&[]);
    let everything = Receiver::start(&[]);
    let w = world(fast_dispatch(Duration::from_millis(200)));
    let d = w.hook(&decisions, json!(["decision"]));
    let all = w.hook(&everything, json!(["*"]));
    let seq = w.decide();
    let c = w.server.log.checkpoint().unwrap();
    let want = BTreeSet::from([format!("msg_{all}_{seq}"), format!("msg_{all}_checkpoint_{}", c.size)]);
    wait_delivered(&everything, &want, Duration::from_secs(20));
    wait_delivered(&decisions, &ids(&d, &[seq]), Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(500));
    assert!(decisions.records().iter().all(|r| r["kind"] == "decision"), "{:#?}", decisions.records());
}
