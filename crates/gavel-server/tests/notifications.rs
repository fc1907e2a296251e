//! Notification channels end to end (issue 17): the real server, its dispatcher, and real local
//! receivers (a tiny HTTP server per channel capturing each POST). A held call reaches its
//! channel at once as a Slack-format message whose link opens the console's approvals page for a
//! signed-in approver; one reminder before expiry; filters by event and agent group; a dead
//! channel blocks nobody; a failing receiver is retried and every round recorded; private targets
//! and non-admins are refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

mod common;

use common::{assert_error, team, Server, Team};
use gavel_ledger::clock::ManualClock;
use gavel_ledger::event::Event;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::macros::datetime;

const POLICY: &str = r#"@id("allow_search")
permit(principal, action == Action::"call_tool", resource == Tool::"search_docs");
@id("hold_email")
@gavel("require_approval")
permit(principal, action == Action::"call_tool", resource == Tool::"send_email");
"#;

/// A local HTTP receiver: records each POST's body, answers with `status`.
struct Receiver {
    url: String,
    bodies: Arc<Mutex<Vec<Value>>>,
    status: Arc<AtomicU16>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hooks/chat", listener.local_addr().unwrap());
        let bodies: Arc<Mutex<Vec<Value>>> = Arc::default();
        let status = Arc::new(AtomicU16::new(200));
        let (b, s) = (bodies.clone(), status.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0usize;
                let mut line = String::new();
                let mut post = false;
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    post |= line.starts_with("POST ");
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0u8; length];
                reader.read_exact(&mut body).unwrap();
                let code = s.load(Ordering::SeqCst);
                if post {
                    b.lock().unwrap().push(serde_json::from_slice(&body).unwrap());
                }
                let answer = format!("HTTP/1.1 {code} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        Receiver { url, bodies, status }
    }

    fn bodies(&self) -> Vec<Value> {
        self.bodies.lock().unwrap().clone()
    }

    /// Waits until `n` messages arrived; returns them.
    fn wait_for(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.bodies();
            if got.len() >= n {
                return got;
            }
            assert!(Instant::now() < deadline, "{} of {n} messages arrived: {got:?}", got.len());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

struct World {
    server: Server,
    clock: Arc<ManualClock>,
    alice: String,
    carol: String,
    agent: String,
}

fn world(allow_private: bool) -> World {
    let clock = Arc::new(ManualClock::new(datetime!(2026-12-07 09:00 UTC)));
    let settings = gavel_core::Settings { webhooks_allow_private: allow_private, ..Default::default() };
    let server = Server::start_with(clock.clone(), settings);
    let Team { alice, users: [carol], agent, .. } = team(
        &server,
        [("carol", "approver")],
        json!({"name": "mailer", "owner": "dave", "groups": ["payments"]}),
        POLICY,
    );
    World { server, clock, alice, carol, agent: agent["token"].as_str().unwrap().into() }
}

impl World {
    fn channel(&self, body: Value) -> String {
        let c = self.server.ok("POST", "/v1/notifications/channels", &self.alice, Some(body));
        c["id"].as_str().unwrap().to_string()
    }

    fn held_call(&self) -> String {
        let d = self.server.ok(
            "POST",
            "/v1/decide",
            &self.agent,
            Some(json!({"tool": "send_email", "arguments": {"to": "cfo@example.com"}})),
        );
        assert_eq!(d["decision"], "require_approval", "{d}");
        d["approval_id"].as_str().unwrap().to_string()
    }

    fn events(&self, kind: &str) -> Vec<Event> {
        let mut out = Vec::new();
        self.server
            .log
            .store()
            .scan(0, u64::MAX, &mut |e| {
                let event = Event::from_bytes(e.bytes.as_deref().unwrap()).unwrap();
                if event.kind == kind {
                    out.push(event);
                }
                true
            })
            .unwrap();
        out
    }
}

/// The `<url|text>` link of a Slack message.
fn slack_link(message: &Value) -> String {
    let text = message["text"].as_str().unwrap();
    let at = text.rfind('<').unwrap();
    text[at + 1..].split('|').next().unwrap().to_string()
}

#[test]
fn a_held_call_reaches_its_channel_at_once_with_a_working_link_then_one_reminder() {
    let w = world(true);
    let team = Receiver::start();
    let incidents = Receiver::start();
    let support = Receiver::start();
    // A dead channel (nothing listens there) blocks neither decide nor the other channels.
    let dead = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    w.channel(json!({"name": "dead", "format": "slack", "url": format!("http://{dead}/x")}));
    w.channel(
        json!({"name": "payments team", "format": "slack", "url": team.url, "agent_groups": ["payments"]}),
    );
    w.channel(json!({"name": "ir", "format": "json", "url": incidents.url, "events": ["incident.opened"]}));
    w.channel(
        json!({"name": "support team", "format": "slack", "url": support.url, "agent_groups": ["support"]}),
    );

    let approval = w.held_call();
    let first = team.wait_for(1);
    let text = first[0]["text"].as_str().unwrap();
    assert_eq!(first[0].as_object().unwrap().len(), 1, "Slack's incoming-webhook shape: {}", first[0]);
    assert!(text.starts_with("Approval needed: agent mailer wants to call send_email"), "{text}");
    let link = slack_link(&first[0]);
    assert_eq!(link, format!("{}/console/approvals", w.server.base));
    // The link works for a signed-in approver: the approvals page shows the held call.
    let session = w.server.state.gavel.sign_in(&w.carol, Some("127.0.0.1")).unwrap();
    let page = ureq::get(&link).set("Cookie", &format!("gavel_session={}", session.id)).call().unwrap();
    assert_eq!(page.status(), 200);
    let html = page.into_string().unwrap();
    assert!(html.contains("send_email") && html.contains("mailer"), "the page shows the held call");

    // Ten minutes before its expiry (an hour after the request), one reminder; only one.
    w.clock.advance(time::Duration::minutes(51));
    let both = team.wait_for(2);
    let reminder = both[1]["text"].as_str().unwrap();
    assert!(
        reminder.starts_with("Approval expiring in 9 min: agent mailer wants to call send_email"),
        "{reminder}"
    );
    assert_eq!(slack_link(&both[1]), link);
    w.clock.advance(time::Duration::minutes(2));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(team.bodies().len(), 2, "the reminder is sent once");

    // An incident (about no one agent) goes to every channel wanting incidents.
    let opened = w.server.ok(
        "POST",
        "/v1/incidents",
        &w.alice,
        Some(json!({"title": "mail to the CFO", "severity": "high"})),
    );
    let id = opened["id"].as_str().unwrap();
    let ir = incidents.wait_for(1);
    assert_eq!(ir[0]["kind"], "incident.opened");
    assert_eq!(ir[0]["ids"]["incident_id"], id);
    assert_eq!(ir[0]["console_url"], format!("{}/console/incidents/{id}", w.server.base));
    let team_all = team.wait_for(3);
    assert_eq!(slack_link(&team_all[2]), format!("{}/console/incidents/{id}", w.server.base));
    let support_all = support.wait_for(1);
    std::thread::sleep(Duration::from_secs(1));
    // Filters: the support channel never heard of the payments agent's call; the incident
    // channel only of the incident.
    assert_eq!(support.bodies().len(), 1, "{support_all:?}");
    assert!(support_all[0]["text"].as_str().unwrap().starts_with("Incident opened"), "{support_all:?}");
    assert_eq!(incidents.bodies().len(), 1);
    assert_eq!(w.server.ok("GET", &format!("/v1/approvals/{approval}"), &w.alice, None)["status"], "pending");

    // The agent's kill switch: to its group's channel (the agents page), not to another group's.
    w.server.ok(
        "POST",
        "/v1/killswitch",
        &w.alice,
        Some(json!({"scope": "agent", "target": "mailer", "reason": "mail to the CFO"})),
    );
    let team_all = team.wait_for(4);
    let text = team_all[3]["text"].as_str().unwrap();
    assert!(text.starts_with("Kill switch engaged on agent:"), "{text}");
    assert_eq!(slack_link(&team_all[3]), format!("{}/console/agents", w.server.base));
    // A readiness scan's new findings: to every channel wanting them (the readiness page).
    w.server.ok("POST", "/v1/compliance/scans", &w.alice, None);
    let team_all = team.wait_for(5);
    assert!(team_all[4]["text"].as_str().unwrap().starts_with("Readiness scan "), "{}", team_all[4]);
    assert_eq!(slack_link(&team_all[4]), format!("{}/console/readiness", w.server.base));
    let support_all = support.wait_for(2);
    assert_eq!(slack_link(&support_all[1]), format!("{}/console/readiness", w.server.base));
    assert_eq!(support.bodies().len(), 2, "never the payments agent's kill switch: {support_all:?}");
    assert_eq!(incidents.bodies().len(), 1);
}

#[test]
fn a_failing_receiver_is_retried_and_each_round_recorded_once() {
    let w = world(true);
    let receiver = Receiver::start();
    receiver.status.store(503, Ordering::SeqCst);
    let id = w.channel(json!({"name": "flaky", "format": "json", "url": receiver.url,
                              "events": ["approval.requested"]}));
    let approval = w.held_call();
    receiver.wait_for(1);
    let deliveries = |w: &World| {
        w.server.ok("GET", &format!("/v1/notifications/channels/{id}/deliveries"), &w.alice, None)
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while deliveries(&w)["items"].as_array().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the first round was never recorded");
        std::thread::sleep(Duration::from_millis(50));
    }
    let d = deliveries(&w);
    let first = &d["items"][0];
    assert_eq!(first["status"], "retrying", "{first}");
    assert_eq!(first["notice_id"], format!("approval.requested:{approval}"));
    assert_eq!(first["attempts"][0]["status_code"], 503);
    // Held until its retry: however long the server runs meanwhile, no second attempt.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(receiver.bodies().len(), 1, "held until the retry is due");

    receiver.status.store(200, Ordering::SeqCst);
    w.clock.advance(time::Duration::seconds(10));
    let got = receiver.wait_for(2);
    assert_eq!(got[0], got[1], "the same message, retried");
    let deadline = Instant::now() + Duration::from_secs(20);
    while deliveries(&w)["items"][0]["status"] != "delivered" {
        assert!(Instant::now() < deadline, "the retry was never recorded");
        std::thread::sleep(Duration::from_millis(50));
    }
    let d = deliveries(&w);
    let attempts = d["items"][0]["attempts"].as_array().unwrap();
    assert_eq!(
        attempts.iter().map(|a| a["outcome"].clone()).collect::<Vec<_>>(),
        [json!("retrying"), json!("delivered")]
    );
    // Bounded: one `notification.attempts` event per round, never one per message or retry.
    assert_eq!(w.events("notification.attempts").len(), 2);
    let list = w.server.ok("GET", "/v1/notifications/channels", &w.alice, None);
    assert_eq!(list["items"][0]["attempts"], json!({"delivered": 1, "failed": 0, "retrying": 1}));
}

#[test]
fn a_call_decided_meanwhile_is_not_announced_again() {
    let w = world(true);
    let receiver = Receiver::start();
    receiver.status.store(503, Ordering::SeqCst);
    let id = w.channel(json!({"name": "flaky", "format": "json", "url": receiver.url,
                              "events": ["approval.requested"]}));
    let approval = w.held_call();
    receiver.wait_for(1);
    let status = |w: &World| {
        let d = w.server.ok("GET", &format!("/v1/notifications/channels/{id}/deliveries"), &w.alice, None);
        d["items"].get(0).map(|i| i["status"].clone()).unwrap_or(Value::Null)
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while status(&w) != "retrying" {
        assert!(Instant::now() < deadline, "the first round was never recorded");
        std::thread::sleep(Duration::from_millis(50));
    }
    // An approver decides it before the retry is due: the retry is not sent, and says why.
    w.server.ok(
        "POST",
        &format!("/v1/approvals/{approval}/decide"),
        &w.carol,
        Some(json!({"decision": "deny"})),
    );
    receiver.status.store(200, Ordering::SeqCst);
    w.clock.advance(time::Duration::seconds(10));
    let deadline = Instant::now() + Duration::from_secs(20);
    while status(&w) != "superseded" {
        assert!(Instant::now() < deadline, "the due retry was never superseded");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(receiver.bodies().len(), 1, "nobody is asked again for a decision already made");
    let rounds = w.events("notification.attempts");
    assert_eq!(rounds.last().unwrap().data["superseded"], json!([format!("approval.requested:{approval}")]));
}

#[test]
fn only_admins_manage_channels_and_private_targets_are_refused() {
    let w = world(false);
    let create = |token: &str, url: &str| {
        w.server.call(
            "POST",
            "/v1/notifications/channels",
            Some(token),
            Some(json!({"name": "chat", "format": "slack", "url": url})),
        )
    };
    for url in [
        "http://127.0.0.1:9/x",
        "http://169.254.169.254/latest",
        "http://[::1]/x",
        "ftp://chat.example.com/x",
    ] {
        assert_error(create(&w.alice, url), 400, "invalid_request", "url");
    }
    assert_error(create(&w.carol, "https://chat.example.com/hooks/T0/B0/s3cret"), 403, "forbidden", "");
    assert_error(create(&w.agent, "https://chat.example.com/hooks/T0/B0/s3cret"), 403, "forbidden", "");
    let bad_event = w.server.call(
        "POST",
        "/v1/notifications/channels",
        Some(&w.alice),
        Some(json!({"name": "chat", "format": "slack", "url": "https://chat.example.com/x", "events": ["decision"]})),
    );
    assert_error(bad_event, 400, "invalid_request", "approval.requested");

    let created = create(&w.alice, "https://chat.example.com/hooks/T0/B0/s3cret");
    assert_eq!(created.0, 201, "{}", created.1);
    assert_eq!(created.1["url"], "https://chat.example.com/…", "the URL is a credential: never shown whole");
    let id = created.1["id"].as_str().unwrap();
    let made = w.events("notification.channel_created");
    assert!(!serde_json::to_string(&made[0].data).unwrap().contains("s3cret"), "nor logged");
    for (method, path) in [
        ("GET", "/v1/notifications/channels".to_string()),
        ("GET", format!("/v1/notifications/channels/{id}/deliveries")),
        ("POST", format!("/v1/notifications/channels/{id}/disable")),
    ] {
        assert_error(w.server.call(method, &path, Some(&w.carol), None), 403, "forbidden", "");
    }
    let disabled = w.server.ok("POST", &format!("/v1/notifications/channels/{id}/disable"), &w.alice, None);
    assert_eq!(disabled["enabled"], false);
    let again =
        w.server.call("POST", &format!("/v1/notifications/channels/{id}/disable"), Some(&w.alice), None);
    assert_error(again, 409, "conflict", "already disabled");
    assert_eq!(w.events("notification.channel_disabled").len(), 1);
}
