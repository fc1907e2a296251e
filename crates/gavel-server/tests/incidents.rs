//! Detectors and incidents end to end over HTTP, with a manual clock: a deny spike driven by
//! real `/v1/decide` calls opens an incident, which is assigned, contained with a linked kill
//! switch and resolved with a writeup; roles, illegal transitions and bad input are refused
//! without changing anything; a restart neither re-detects nor skips.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

mod common;

use common::{assert_error, team, Server, Team};
use gavel_ledger::clock::ManualClock;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use time::macros::datetime;

const POLICY: &str = r#"@id("allow_search")
permit(principal, action == Action::"call_tool", resource == Tool::"search_docs");
@id("no_wipe")
forbid(principal, action == Action::"call_tool", resource == Tool::"wipe_disk");
"#;

struct World {
    server: Server,
    clock: Arc<ManualClock>,
    alice: String,
    carol: String,
    vic: String,
    agent: String,
}

fn world() -> World {
    let clock = Arc::new(ManualClock::new(datetime!(2026-11-02 09:00 UTC)));
    let server = Server::start_with(clock.clone(), gavel_core::Settings::default());
    let Team { alice, users: [carol, vic], agent, .. } = team(
        &server,
        [("carol", "approver"), ("vic", "viewer")],
        json!({"name": "bot", "owner": "alice"}),
        POLICY,
    );
    World { agent: agent["token"].as_str().unwrap().into(), server, clock, alice, carol, vic }
}

impl World {
    fn decide(&self, tool: &str) -> Value {
        self.server.ok("POST", "/v1/decide", &self.agent, Some(json!({"tool": tool, "arguments": {}})))
    }

    fn spike(&self, n: usize) -> Vec<u64> {
        (0..n)
            .map(|_| {
                let d = self.decide("wipe_disk");
                assert_eq!(d["decision"], "deny");
                self.clock.advance(time::Duration::seconds(1));
                d["seq"].as_u64().unwrap()
            })
            .collect()
    }

    fn incidents(&self, query: &str) -> Vec<Value> {
        self.server.ok("GET", &format!("/v1/incidents{query}"), &self.vic, None)["items"]
            .as_array()
            .unwrap()
            .clone()
    }

    fn wait_incidents(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let items = self.incidents("");
            if items.len() >= n {
                return items;
            }
            assert!(Instant::now() < deadline, "no incident after 20 s: {items:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log_size(&self) -> u64 {
        gavel_store::Store::head(self.server.log.store().as_ref()).unwrap().size
    }

    fn kinds(&self) -> Vec<String> {
        let store = self.server.log.store().clone();
        let mut out = Vec::new();
        gavel_store::Store::scan(store.as_ref(), 0, self.log_size(), &mut |e| {
            out.push(gavel_ledger::event::Event::from_bytes(e.bytes.as_deref().unwrap()).unwrap().kind);
            true
        })
        .unwrap();
        out
    }

    fn post(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        self.server.call("POST", path, Some(token), Some(body))
    }
}

#[test]
fn a_deny_spike_opens_an_incident_that_is_assigned_contained_and_resolved() {
    let w = world();
    let denials = w.spike(12);
    let items = w.wait_incidents(1);
    assert_eq!(items.len(), 1, "{items:#?}");
    let inc = &items[0];
    let id = inc["id"].as_str().unwrap().to_string();
    assert_eq!((inc["status"].clone(), inc["severity"].clone()), (json!("open"), json!("high")));
    assert_eq!(inc["detector"], "deny_spike");
    let linked: Vec<u64> =
        inc["linked_seqs"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    assert!(denials[..10].iter().all(|s| linked.contains(s)), "{linked:?} {denials:?}");
    let detections = w.server.ok("GET", "/v1/detections?detector=deny_spike", &w.vic, None);
    let spike = &detections["items"].as_array().unwrap()[0];
    // An SRE sees the detectors' work and lag on /metrics (updated when a detector round returns,
    // just after its commit, so poll briefly).
    let value = |text: &str, name: &str| -> u64 {
        let line = text.lines().find(|l| l.starts_with(&format!("{name} ")));
        line.and_then(|l| l[name.len() + 1..].trim().parse().ok()).unwrap_or(0)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let text = w.server.call("GET", "/metrics", None, None).1.as_str().unwrap().to_string();
        let seen = value(&text, "gavel_detections_total") >= 1
            && value(&text, "gavel_detector_incident_events_total") >= 1
            && value(&text, "gavel_detector_position") > spike["seq"].as_u64().unwrap();
        if seen {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "detector metrics never showed the spike: {text}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(linked.contains(&spike["seq"].as_u64().unwrap()));
    assert_eq!(spike["source_seq"], denials[9]);
    let path = |action: &str| format!("/v1/incidents/{id}/{action}");

    // Viewers and auditors read; they cannot act.
    assert_error(w.post(&w.vic, &path("assign"), json!({"owner": "carol"})), 403, "forbidden", "role");
    assert_error(w.post(&w.agent, &path("notes"), json!({"text": "x"})), 403, "forbidden", "agents");
    // Only admins open incidents by hand.
    assert_error(
        w.post(&w.carol, "/v1/incidents", json!({"title": "x", "severity": "low"})),
        403,
        "forbidden",
        "admin",
    );

    let assigned = w.server.ok("POST", &path("assign"), &w.alice, Some(json!({"owner": "carol"})));
    assert_eq!(assigned["owner"], "carol");
    // Open → resolved skips triage and containment: refused, and nothing is recorded.
    let size = w.log_size();
    assert_error(w.post(&w.carol, &path("resolve"), json!({"writeup": "done"})), 409, "conflict", "open");
    assert_eq!(w.log_size(), size);

    // Contain with a kill switch, five minutes after the incident opened.
    w.clock.advance(time::Duration::seconds(300));
    let contained = w.server.ok(
        "POST",
        &path("contain"),
        &w.carol,
        Some(json!({"killswitch": {"scope": "agent", "target": "bot", "reason": "deny spike"}})),
    );
    assert_eq!(contained["status"], "contained");
    assert_eq!(contained["containment"][0]["type"], "kill_switch");
    let switches = w.server.ok("GET", "/v1/killswitch", &w.vic, None);
    assert_eq!(switches["items"][0]["incident_id"], json!(id));
    assert_eq!(w.decide("search_docs")["decision"], "deny", "the kill switch holds");
    assert_error(w.post(&w.carol, &path("contain"), json!({"note": "again"})), 409, "conflict", "contained");

    // Resolving needs a writeup: refused without one, changing nothing.
    let size = w.log_size();
    assert_error(w.post(&w.carol, &path("resolve"), json!({})), 400, "invalid_request", "writeup");
    assert_error(
        w.post(&w.carol, &path("resolve"), json!({"writeup": "  "})),
        400,
        "invalid_request",
        "writeup",
    );
    assert_eq!(w.log_size(), size);
    w.server.ok(
        "POST",
        &path("notes"),
        &w.carol,
        Some(json!({"text": "the agent looped on a refused tool"})),
    );
    w.clock.advance(time::Duration::seconds(600));
    let resolved = w.server.ok(
        "POST",
        &path("resolve"),
        &w.carol,
        Some(json!({"writeup": "A retry loop hit a forbidden tool; fixed the loop, released nothing yet."})),
    );
    assert_eq!(resolved["status"], "resolved");
    assert_eq!(resolved["time_to_contain_secs"], 300.0);
    assert_eq!(resolved["time_to_resolve_secs"], 900.0);
    let size = w.log_size();
    w.server.ok("POST", &path("notes"), &w.carol, Some(json!({"text": "postmortem filed"})));
    assert_eq!(w.log_size(), size + 1, "notes are still taken after resolution");

    // The timeline: every entry a log event, in seq order, with its author.
    let shown = w.server.ok("GET", &format!("/v1/incidents/{id}"), &w.vic, None);
    let timeline = shown["timeline"].as_array().unwrap();
    let kinds: Vec<&str> = timeline.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "incident.opened",
            "incident.assigned",
            "killswitch.engaged",
            "incident.contained",
            "incident.noted",
            "incident.resolved",
            "incident.noted"
        ]
    );
    let seqs: Vec<u64> = timeline.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|p| p[0] < p[1]), "{seqs:?}");
    let authors: Vec<&str> =
        timeline.iter().map(|e| e["author"]["name"].as_str().unwrap_or("system")).collect();
    assert_eq!(authors, ["system", "admin", "carol", "carol", "carol", "carol", "carol"]);
    let log = w.kinds();
    for e in timeline {
        assert_eq!(log[e["seq"].as_u64().unwrap() as usize], e["kind"].as_str().unwrap());
    }

    // Filters.
    assert_eq!(w.incidents("?status=resolved").len(), 1);
    assert_eq!(w.incidents("?status=open").len(), 0);
    assert_eq!(w.incidents("?severity=high&since=2026-11-02").len(), 1);
    assert_eq!(w.incidents("?until=2026-11-02T09:00:00Z").len(), 0);
    assert_error(
        w.server.call("GET", "/v1/incidents?status=closed", Some(&w.vic), None),
        400,
        "invalid_request",
        "status",
    );
    assert_error(
        w.server.call("GET", "/v1/incidents?since=yesterday", Some(&w.vic), None),
        400,
        "invalid_request",
        "since",
    );

    let verify = w.server.ok("GET", "/v1/audit/verify", &w.vic, None);
    assert_eq!(verify["valid"], true, "{verify}");
    let openapi = w.server.ok("GET", "/v1/openapi.json", &w.vic, None);
    assert!(openapi["paths"]["/v1/incidents/{id}/contain"].is_object());
}

#[test]
fn bad_input_is_refused_with_json_errors_and_changes_nothing() {
    let w = world();
    let created = w.post(
        &w.alice,
        "/v1/incidents",
        json!({"title": "suspicious exports", "severity": "medium", "agent": "bot"}),
    );
    assert_eq!(created.0, 201, "{}", created.1);
    let id = created.1["id"].as_str().unwrap().to_string();
    assert_eq!(created.1["opened_by"], "user:admin");
    let size = w.log_size();
    let path = |action: &str| format!("/v1/incidents/{id}/{action}");
    for (resp, status, code, needle) in [
        (
            w.post(&w.alice, "/v1/incidents", json!({"title": "", "severity": "low"})),
            400,
            "invalid_request",
            "title",
        ),
        (
            w.post(&w.alice, "/v1/incidents", json!({"title": "x", "severity": "urgent"})),
            400,
            "invalid_request",
            "severity",
        ),
        (
            w.post(
                &w.alice,
                "/v1/incidents",
                json!({"title": "x", "severity": "low", "linked_seqs": [999999]}),
            ),
            400,
            "invalid_request",
            "999999",
        ),
        (
            w.post(&w.alice, "/v1/incidents", json!({"title": "x", "severity": "low", "extra": 1})),
            400,
            "invalid_request",
            "unknown field",
        ),
        (
            w.post(&w.alice, "/v1/incidents/inc_nope/assign", json!({"owner": "carol"})),
            404,
            "not_found",
            "inc_nope",
        ),
        (w.post(&w.alice, &path("assign"), json!({"owner": "nobody"})), 404, "not_found", "nobody"),
        (w.post(&w.alice, &path("notes"), json!({"text": " "})), 400, "invalid_request", "note"),
        (w.post(&w.alice, &path("contain"), json!({})), 400, "invalid_request", "contained"),
        (
            w.post(&w.alice, &path("contain"), json!({"killswitch": {"scope": "planet"}})),
            400,
            "invalid_request",
            "scope",
        ),
        (w.post(&w.alice, &path("triage"), json!({"severity": "meh"})), 400, "invalid_request", "severity"),
        (
            w.post(
                &w.alice,
                "/v1/killswitch",
                json!({"scope": "global", "reason": "x", "incident_id": "inc_nope"}),
            ),
            404,
            "not_found",
            "inc_nope",
        ),
        (
            w.post(&w.alice, "/v1/agents/bot/suspend", json!({"reason": "x", "incident_id": "inc_nope"})),
            404,
            "not_found",
            "inc_nope",
        ),
    ] {
        assert_error((resp.0, resp.1.clone()), status, code, needle);
    }
    // An approver may pull kill switches but not suspend agents: the whole request is refused
    // before any action, so no switch is left pulled.
    assert_error(
        w.post(
            &w.carol,
            &path("contain"),
            json!({"killswitch": {"scope": "global", "reason": "x"}, "suspend_agent": "bot"}),
        ),
        403,
        "forbidden",
        "admin",
    );
    assert_eq!(w.log_size(), size, "nothing was recorded");
    assert_eq!(w.decide("search_docs")["decision"], "allow", "no kill switch was pulled");

    // Triage (re-rating it), then suspend the agent under the incident: linked to it.
    let triaged =
        w.server.ok("POST", &path("triage"), &w.carol, Some(json!({"severity": "high", "note": "real"})));
    assert_eq!((triaged["status"].clone(), triaged["severity"].clone()), (json!("triaged"), json!("high")));
    assert_error(w.post(&w.carol, &path("triage"), json!({})), 409, "conflict", "triaged");
    let suspended = w.server.ok(
        "POST",
        "/v1/agents/bot/suspend",
        &w.alice,
        Some(json!({"reason": "exports", "incident_id": id})),
    );
    assert_eq!(suspended["status"], "suspended");
    let shown = w.server.ok("GET", &format!("/v1/incidents/{id}"), &w.vic, None);
    assert_eq!(shown["containment"][0]["type"], "agent.suspended");
    assert_eq!(shown["timeline"][2]["kind"], "agent.suspended");
    let contained = w.server.ok(
        "POST",
        &path("contain"),
        &w.carol,
        Some(json!({"note": "agent suspended (see timeline)"})),
    );
    assert_eq!(contained["status"], "contained");
    w.server.ok("POST", &path("resolve"), &w.carol, Some(json!({"writeup": "Exports were a test job."})));
    // A resolved incident takes no more containment actions.
    assert_error(
        w.post(&w.alice, "/v1/killswitch", json!({"scope": "global", "reason": "x", "incident_id": id})),
        409,
        "conflict",
        "resolved",
    );
}

#[test]
fn a_restart_neither_redetects_nor_skips() {
    let mut w = world();
    w.spike(10);
    w.wait_incidents(1);
    let count = |w: &World, kind: &str| w.kinds().iter().filter(|k| *k == kind).count();
    // Wait until the detector is idle (deny_spike + new_tool for wipe_disk, the incident).
    let deadline = Instant::now() + Duration::from_secs(20);
    while count(&w, "detection.raised") < 2 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    }
    let (raised, opened) = (count(&w, "detection.raised"), count(&w, "incident.opened"));
    w.server.reopen();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!((count(&w, "detection.raised"), count(&w, "incident.opened")), (raised, opened));
    // After the restart, new events are detected: a second spike attaches to the open incident.
    w.clock.advance(time::Duration::seconds(300));
    w.spike(10);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let items = w.incidents("");
        let kinds: Vec<String> = items[0]["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap().into())
            .collect();
        if kinds.contains(&"incident.linked".to_string()) {
            assert_eq!(items.len(), 1);
            break;
        }
        assert!(Instant::now() < deadline, "{kinds:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(count(&w, "detection.raised"), raised + 1);
}

#[test]
fn concurrent_changes_have_one_winner_and_auditors_only_read() {
    let w = world();
    let auditor = w.server.ok("POST", "/v1/users", &w.alice, Some(json!({"name": "aud", "role": "auditor"})))
        ["token"]
        .as_str()
        .unwrap()
        .to_string();
    let created = w.post(&w.alice, "/v1/incidents", json!({"title": "race", "severity": "high"}));
    let id = created.1["id"].as_str().unwrap().to_string();
    assert_error(
        w.post(&auditor, &format!("/v1/incidents/{id}/triage"), json!({})),
        403,
        "forbidden",
        "auditor",
    );
    assert_eq!(w.server.ok("GET", &format!("/v1/incidents/{id}"), &auditor, None)["status"], "open");
    // Eight triages at once: the compare-and-set on the incident lets exactly one through.
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let (w, id) = (&w, &id);
                s.spawn(move || {
                    w.post(&w.carol, &format!("/v1/incidents/{id}/triage"), json!({"note": format!("t{i}")}))
                        .0
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 200 || *s == 409), "{statuses:?}");
    let shown = w.server.ok("GET", &format!("/v1/incidents/{id}"), &w.vic, None);
    let triaged =
        shown["timeline"].as_array().unwrap().iter().filter(|e| e["kind"] == "incident.triaged").count();
    assert_eq!(triaged, 1);
}
