//! Hostile input and faults over HTTP (issue 14): oversized and malformed bodies, role checks
//! before state checks, floods through public share links, ambiguous on-behalf-of names.
//! Every refusal is checked to have changed nothing: the log's size is the witness.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

mod common;

use common::{assert_error, Server};
use gavel_ledger::clock::ManualClock;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::sync::Arc;
use time::macros::datetime;

/// Larger than the 2 MiB limit, small enough that the server drains it and answers.
const OVERSIZED: usize = 3 * 1024 * 1024;

struct World {
    server: Server,
    admin: String,
    bob: String,
    viewer: String,
    agent_id: String,
    agent_token: String,
    user_id: String,
    user_token: String,
    webhook_id: String,
    share_id: String,
    share_url: String,
    hold_id: String,
}

fn setup() -> World {
    let clock = Arc::new(ManualClock::new(datetime!(2026-03-05 09:00 UTC)));
    let settings = gavel_core::Settings { webhooks_allow_private: true, ..Default::default() };
    let server = Server::start_with(clock, settings);
    let admin = server.state.gavel.bootstrap_admin().unwrap().unwrap().token;
    let user = |name: &str, role: &str| {
        server.ok("POST", "/v1/users", &admin, Some(json!({"name": name, "role": role})))
    };
    let bob = user("bob", "admin")["token"].as_str().unwrap().to_string();
    let viewer = user("vic", "viewer")["token"].as_str().unwrap().to_string();
    let carol = user("carol", "approver");
    let agent = server.ok("POST", "/v1/agents", &admin, Some(json!({"name": "bot", "owner": "dave"})));
    server.ok("POST", "/v1/packs/soc2/install", &admin, None);
    server.ok("POST", "/v1/decide", agent["token"].as_str().unwrap(), Some(json!({"tool": "search_docs"})));
    // An endpoint no event matches: the dispatcher never sends (nor records) anything for it.
    let webhook = server.ok(
        "POST",
        "/v1/webhooks",
        &admin,
        Some(json!({"url": "http://127.0.0.1:9/hook", "kinds": ["never.happens"]})),
    );
    let export = server.ok(
        "POST",
        "/v1/compliance/exports",
        &admin,
        Some(json!({"from": "2026-03-01", "to": "2026-03-06"})),
    );
    let share = server.ok(
        "POST",
        "/v1/shares",
        &admin,
        Some(json!({"export_id": export["export_id"], "expires_days": 30})),
    );
    let hold = server.ok(
        "POST",
        "/v1/holds",
        &admin,
        Some(json!({"from": "2026-03-01", "to": "2026-03-06", "reason": "litigation"})),
    );
    let hold_id = hold["id"].as_str().unwrap().to_string();
    server.ok("POST", &format!("/v1/holds/{hold_id}/release"), &admin, Some(json!({"reason": "settled"})));
    // The detectors record the agent's first call of a tool in the background: wait for it, so
    // the tests' log sizes only move with what they do.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while server.ok("GET", "/v1/detections", &admin, None)["items"].as_array().is_none_or(|d| d.is_empty()) {
        assert!(std::time::Instant::now() < deadline, "the detectors did not catch up");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    World {
        admin,
        bob,
        viewer,
        agent_id: agent["id"].as_str().unwrap().to_string(),
        agent_token: agent["token"].as_str().unwrap().to_string(),
        user_id: carol["id"].as_str().unwrap().to_string(),
        user_token: carol["token"].as_str().unwrap().to_string(),
        webhook_id: webhook["id"].as_str().unwrap().to_string(),
        share_id: share["id"].as_str().unwrap().to_string(),
        share_url: share["url_path"].as_str().unwrap().to_string(),
        hold_id,
        server,
    }
}

impl World {
    /// The eight routes that take no body, and who may call them.
    fn bodiless_routes(&self) -> Vec<(String, String)> {
        vec![
            (format!("/v1/agents/{}/rotate", self.agent_id), self.admin.clone()),
            (format!("/v1/users/{}/rotate", self.user_id), self.admin.clone()),
            (format!("/v1/webhooks/{}/rotate-secret", self.webhook_id), self.admin.clone()),
            (format!("/v1/shares/{}/revoke", self.share_id), self.admin.clone()),
            ("/v1/policies/soc2/deactivate".to_string(), self.admin.clone()),
            ("/v1/packs/soc2/golive".to_string(), self.admin.clone()),
            ("/v1/retention/purge".to_string(), self.admin.clone()),
            (format!("/v1/holds/{}/release/approve", self.hold_id), self.bob.clone()),
        ]
    }

    /// Read from the store, not over HTTP: /healthz spends the budget the flood tests exhaust.
    fn log_size(&self) -> u64 {
        gavel_store::Store::head(self.server.log.store().as_ref()).unwrap().size
    }

    /// The kinds of the events from `from` on.
    fn kinds_since(&self, from: u64) -> Vec<(String, Value)> {
        let store = self.server.log.store().clone();
        let mut kinds = Vec::new();
        gavel_store::Store::scan(store.as_ref(), from, u64::MAX, &mut |e| {
            let event: Value = serde_json::from_slice(e.bytes.as_deref().unwrap()).unwrap();
            kinds.push((event["kind"].as_str().unwrap().to_string(), event["data"].clone()));
            true
        })
        .unwrap();
        kinds
    }

    /// Records what the public routes counted (the server does it every minute and at shutdown).
    fn flush_counts(&self) {
        self.server.state.public.flush(&self.server.state.gavel).unwrap();
    }

    /// Every credential and link the refused requests would have changed still works.
    fn assert_unchanged(&self) {
        self.server.ok("GET", "/v1/me", &self.agent_token, None);
        self.server.ok("GET", "/v1/me", &self.user_token, None);
        assert_eq!(self.server.call("GET", &self.share_url, None, None).0, 200, "the share link works");
        let hold = self.server.ok("GET", &format!("/v1/holds/{}", self.hold_id), &self.admin, None);
        assert_ne!(hold["status"], "released", "{hold}");
        let changes = self.server.ok("GET", "/v1/policies/changes?status=pending", &self.admin, None);
        assert_eq!(changes["items"].as_array().unwrap().len(), 0, "{changes}");
    }
}

/// Sends `body` as is (Content-Length) and returns the status and JSON answer.
fn send_bytes(server: &Server, path: &str, token: &str, body: &[u8]) -> (u16, Value) {
    let req = ureq::post(&format!("{}{path}", server.base))
        .set("Authorization", &format!("Bearer {token}"))
        .set("Content-Type", "application/json");
    let resp = match req.send_bytes(body) {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("POST {path}: {e}"),
    };
    let status = resp.status();
    let text = resp.into_string().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Sends `total` bytes as a chunked body (no Content-Length) over a raw connection.
fn send_chunked(server: &Server, path: &str, token: &str, total: usize) -> (u16, Value) {
    let addr = server.base.trim_start_matches("http://");
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    write!(
        conn,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let chunk = vec![b' '; 64 * 1024];
    let mut sent = 0;
    while sent < total {
        let n = chunk.len().min(total - sent);
        conn.write_all(format!("{n:x}\r\n").as_bytes()).unwrap();
        conn.write_all(&chunk[..n]).unwrap();
        conn.write_all(b"\r\n").unwrap();
        sent += n;
    }
    conn.write_all(b"0\r\n\r\n").unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    (status, serde_json::from_str(body).unwrap_or(Value::String(body.to_string())))
}

#[test]
fn oversized_bodies_are_413_before_anything_runs() {
    let w = setup();
    let before = w.log_size();
    let big = vec![b' '; OVERSIZED];
    for (path, token) in w.bodiless_routes() {
        assert_error(send_bytes(&w.server, &path, &token, &big), 413, "payload_too_large", "larger than");
    }
    // Without a Content-Length the limit holds too (the body is counted as it arrives).
    let rotate = format!("/v1/agents/{}/rotate", w.agent_id);
    assert_error(send_chunked(&w.server, &rotate, &w.admin, OVERSIZED), 413, "payload_too_large", "larger");
    // Routes that read a body, and routes that do not exist, answer the same.
    let mut user = json!({"name": "mallory", "role": "admin"}).to_string().into_bytes();
    user.resize(OVERSIZED, b' ');
    assert_error(send_bytes(&w.server, "/v1/users", &w.admin, &user), 413, "payload_too_large", "larger");
    assert_error(send_bytes(&w.server, "/v1/nowhere", &w.admin, &big), 413, "payload_too_large", "larger");
    assert_eq!(w.log_size(), before, "a refused request appends nothing");
    w.assert_unchanged();
    assert_eq!(w.server.call("GET", "/v1/users/mallory", Some(&w.admin), None).0, 404);

    // Just under the limit is read (and, as malformed JSON, refused by the route).
    let mut fits = b"{".to_vec();
    fits.resize(2 * 1024 * 1024, b' ');
    assert_error(send_bytes(&w.server, "/v1/users", &w.admin, &fits), 400, "invalid_request", "");
}

#[test]
fn bodiless_routes_refuse_malformed_bodies_and_accept_empty_ones() {
    let w = setup();
    let before = w.log_size();
    for (path, token) in w.bodiless_routes() {
        for body in [&b"{not json"[..], b"[1,", b"\"x\"", b"{\"reason\": \"x\"}"] {
            let answer = send_bytes(&w.server, &path, &token, body);
            assert_eq!(answer.0, 400, "{path} with {:?}: {}", String::from_utf8_lossy(body), answer.1);
            assert_eq!(answer.1["error"]["code"], "invalid_request", "{}", answer.1);
        }
    }
    assert_eq!(w.log_size(), before, "a refused request appends nothing");
    w.assert_unchanged();

    // `{}` and an empty body are what a route without a body accepts.
    let rotated = send_bytes(&w.server, &format!("/v1/agents/{}/rotate", w.agent_id), &w.admin, b" {} ");
    assert_eq!(rotated.0, 200, "{}", rotated.1);
    let rotated = send_bytes(&w.server, &format!("/v1/users/{}/rotate", w.user_id), &w.admin, b"");
    assert_eq!(rotated.0, 200, "{}", rotated.1);
}

#[test]
fn roles_are_checked_before_state() {
    let w = setup();
    let before = w.log_size();
    // States that used to answer 404 or 409 to anyone: an unknown set or pack, a set not active.
    for (path, body) in [
        ("/v1/policies/nope/activate", Some(json!({"version": 1}))),
        ("/v1/policies/soc2/activate", Some(json!({"version": 1}))),
        ("/v1/policies/nope/deactivate", None),
        ("/v1/packs/nope/golive", None),
    ] {
        for token in [&w.viewer, &w.user_token, &w.agent_token] {
            assert_error(w.server.call("POST", path, Some(token), body.clone()), 403, "forbidden", "");
        }
    }
    w.server.ok("POST", "/v1/policies/soc2/deactivate", &w.admin, None);
    assert_error(
        w.server.call("POST", "/v1/policies/soc2/deactivate", Some(&w.viewer), None),
        403,
        "forbidden",
        "",
    );
    assert_error(w.server.call("POST", "/v1/packs/soc2/golive", Some(&w.viewer), None), 403, "forbidden", "");
    assert_eq!(w.log_size(), before + 1, "only the admin's change was recorded");
}

/// GET without a token; returns status, Retry-After and the JSON answer.
fn public_get(server: &Server, path: &str) -> (u16, Option<u64>, Value) {
    let resp = match ureq::get(&format!("{}{path}", server.base)).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("GET {path}: {e}"),
    };
    let status = resp.status();
    let retry = resp.header("Retry-After").and_then(|v| v.parse().ok());
    let text = resp.into_string().unwrap();
    (status, retry, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[test]
fn a_share_link_flood_is_rate_limited_and_recorded_in_a_bounded_number_of_events() {
    let w = setup();
    let limits = gavel_server::public::PublicLimits::default();
    let before = w.log_size();
    let missing = format!("{}/files/no-such-file.json", w.share_url);
    let file = format!("{}/files/SHA256SUMS", w.share_url);
    let unknown = "/v1/public/share/gsh_unknown";
    let (mut ok, mut not_found, mut limited) = (0u64, 0u64, 0u64);
    for i in 0..(limits.per_source + 150) {
        let path = match i % 10 {
            0 => missing.as_str(),
            1 => unknown,
            _ => file.as_str(),
        };
        let (status, retry, body) = public_get(&w.server, path);
        match status {
            200 => ok += 1,
            404 => not_found += 1,
            429 => {
                limited += 1;
                assert_eq!(body["error"]["code"], "rate_limited", "{body}");
                let retry = retry.expect("a 429 says when to retry");
                assert!((1..=60).contains(&retry), "Retry-After {retry}");
            }
            other => panic!("{path}: {other} {body}"),
        }
    }
    assert_eq!(ok + not_found, u64::from(limits.per_source), "the source's budget is spent exactly");
    assert_eq!(limited, 150);
    // The budget covers every route that needs no token.
    for path in ["/healthz", "/metrics", "/v1/openapi.json", "/v1/policies/schema", "/v1/public/signing-key"]
    {
        assert_eq!(public_get(&w.server, path).0, 429, "{path}");
    }
    // Authenticated routes are not on that budget.
    w.server.ok("GET", "/v1/me", &w.admin, None);

    // One record for the first access to the file; everything else waits for the summary.
    let kinds: Vec<String> = w.kinds_since(before).into_iter().map(|(k, _)| k).collect();
    assert_eq!(kinds, ["share.accessed"], "{kinds:?}");
    w.flush_counts();
    let events = w.kinds_since(before);
    assert_eq!(events.len(), 2, "{events:?}");
    let (kind, summary) = &events[1];
    assert_eq!(kind, "share.access_summary");
    let rows = summary["rows"].as_array().unwrap();
    let total = |field: &str| rows.iter().map(|r| r[field].as_u64().unwrap()).sum::<u64>();
    assert_eq!(total("repeated"), ok - 1, "{summary}");
    assert_eq!(total("not_found"), not_found, "{summary}");
    assert_eq!(total("rate_limited"), limited + 5, "{summary}");
    let link_row = rows.iter().find(|r| r["share_id"] == w.share_id.as_str()).expect("a row for the link");
    assert_eq!(link_row["source"], "127.0.0.1");
    // The link's own access list shows the counts too.
    let accesses = w.server.ok("GET", &format!("/v1/shares/{}/accesses", w.share_id), &w.admin, None);
    assert!(
        accesses["items"].as_array().unwrap().iter().any(|a| a["repeated"].as_u64() == Some(ok - 1)),
        "{accesses}"
    );
    // Nothing more to say: the next flush records nothing.
    w.flush_counts();
    assert_eq!(w.log_size(), before + 2);
}

#[test]
fn absurdly_long_share_paths_are_refused_and_never_recorded_in_full() {
    let w = setup();
    let before = w.log_size();
    for len in [600, 60_000] {
        let path = format!("{}/files/{}", w.share_url, "a".repeat(len));
        let (status, _, body) = public_get(&w.server, &path);
        assert_eq!(status, 414, "{body}");
        assert_eq!(body["error"]["code"], "uri_too_long", "{body}");
    }
    let (status, _, body) = public_get(&w.server, &format!("/v1/public/share/gsh_{}", "b".repeat(5000)));
    assert_eq!((status, &body["error"]["code"]), (414, &json!("uri_too_long")), "{body}");
    // A path of ordinary length that is not in the bundle: 404, counted, not recorded.
    let (status, _, _) = public_get(&w.server, &format!("{}/files/{}", w.share_url, "c".repeat(300)));
    assert_eq!(status, 404);
    assert_eq!(w.log_size(), before, "refusals are counted, not recorded one by one");
    w.flush_counts();
    let events = w.kinds_since(before);
    assert_eq!(events.len(), 1, "{events:?}");
    let rows = events[0].1["rows"].as_array().unwrap();
    assert_eq!(rows.iter().map(|r| r["too_long"].as_u64().unwrap()).sum::<u64>(), 3);
    assert_eq!(rows.iter().map(|r| r["not_found"].as_u64().unwrap()).sum::<u64>(), 1);
    assert!(events[0].1.to_string().len() < 2_000, "the summary stays small: {}", events[0].1);
}
