//! The web console over HTTP, as a browser drives it: sign-in into a session cookie that never
//! holds the token, the approvals queue with Approve and Deny, CSRF and cross-origin refusals,
//! core's rules (self-approval, roles) refused on the page as in the API, and sessions that end
//! on sign-out, token rotation and expiry. Every page's security headers are checked.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

mod common;

use common::{team, Server, Team};
use gavel_ledger::clock::ManualClock;
use gavel_ledger::event::Event;
use serde_json::{json, Value};
use std::sync::Arc;
use time::macros::datetime;

const POLICY: &str = r#"@id("hold_email")
@gavel("require_approval")
permit(principal, action == Action::"call_tool", resource == Tool::"send_email");
"#;

/// One answer: status, the headers a test looks at, and the body.
struct Page {
    status: u16,
    location: Option<String>,
    set_cookie: Option<String>,
    headers: Vec<(String, String)>,
    body: String,
}

impl Page {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The CSRF token the page's forms carry.
    fn csrf(&self) -> String {
        let at = self.body.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + 19;
        self.body[at..at + 64].to_string()
    }
}

/// A browser without JavaScript: follows nothing by itself, keeps one cookie.
struct Browser {
    agent: ureq::Agent,
    base: String,
    cookie: Option<String>,
}

impl Browser {
    fn new(server: &Server) -> Browser {
        Browser {
            agent: ureq::AgentBuilder::new().redirects(0).build(),
            base: server.base.clone(),
            cookie: None,
        }
    }

    fn answer(result: Result<ureq::Response, ureq::Error>) -> Page {
        let resp = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{e}"),
        };
        let headers = resp
            .headers_names()
            .into_iter()
            .filter_map(|n| resp.header(&n).map(|v| (n.clone(), v.to_string())))
            .collect();
        Page {
            status: resp.status(),
            location: resp.header("location").map(str::to_string),
            set_cookie: resp.header("set-cookie").map(str::to_string),
            headers,
            body: resp.into_string().unwrap(),
        }
    }

    fn request(&self, method: &str, path: &str) -> ureq::Request {
        let mut req = self.agent.request(method, &format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            req = req.set("Cookie", &format!("gavel_session={c}"));
        }
        req
    }

    fn get(&self, path: &str) -> Page {
        Self::answer(self.request("GET", path).call())
    }

    fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        Self::answer(self.request("POST", path).send_form(form))
    }

    fn post_from(&self, origin: &str, path: &str, form: &[(&str, &str)]) -> Page {
        Self::answer(self.request("POST", path).set("Origin", origin).send_form(form))
    }

    /// Signs in with `token`; keeps the session cookie.
    fn sign_in(&mut self, token: &str) -> Page {
        let page = self.post("/console/sign-in", &[("token", token)]);
        if let Some(c) = &page.set_cookie {
            let value = c.split(';').next().unwrap().strip_prefix("gavel_session=").unwrap();
            self.cookie = Some(value.to_string());
        }
        page
    }
}

struct World {
    server: Server,
    clock: Arc<ManualClock>,
    alice: String,
    carol: String,
    dave: String,
    vera: String,
    agent: String,
}

fn world_with(
    tweak: impl Fn(gavel_server::AppState) -> gavel_server::AppState + Send + Sync + 'static,
) -> World {
    let clock = Arc::new(ManualClock::new(datetime!(2026-12-07 09:00 UTC)));
    let server = Server::start_full(clock.clone(), tweak);
    let Team { alice, users: [carol, dave, vera], agent, .. } = team(
        &server,
        [("carol", "approver"), ("dave", "approver"), ("vera", "viewer")],
        json!({"name": "mailer", "owner": "dave"}),
        POLICY,
    );
    World { server, clock, alice, carol, dave, vera, agent: agent["token"].as_str().unwrap().into() }
}

fn world() -> World {
    world_with(|s| s)
}

impl World {
    /// A held call of the agent: its approval id.
    fn held_call(&self, to: &str) -> String {
        let d = self.server.ok(
            "POST",
            "/v1/decide",
            &self.agent,
            Some(json!({"tool": "send_email", "arguments": {"to": to, "api_key": "sk-live-secret"}})),
        );
        assert_eq!(d["decision"], "require_approval", "{d}");
        d["approval_id"].as_str().unwrap().to_string()
    }

    fn approval(&self, id: &str) -> Value {
        self.server.ok("GET", &format!("/v1/approvals/{id}"), &self.alice, None)
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

fn assert_secure_headers(page: &Page) {
    let csp = page.header("content-security-policy").expect("a CSP");
    for part in ["default-src 'none'", "style-src 'self'", "frame-ancestors 'none'", "form-action 'self'"] {
        assert!(csp.contains(part), "CSP {csp:?} lacks {part:?}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(page.header("referrer-policy"), Some("same-origin"));
    if page.status != 200 || page.header("content-type").is_some_and(|t| t.starts_with("text/html")) {
        assert_eq!(page.header("cache-control"), Some("no-store"));
    }
    for (at, _) in page.body.match_indices("<script") {
        assert!(
            page.body[at..].starts_with("<script src=\"/console/static/"),
            "no inline script: {}",
            page.body
        );
    }
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-eval"), "{csp}");
}

#[test]
fn signing_in_opens_a_session_that_never_holds_the_token() {
    let w = world();
    let mut browser = Browser::new(&w.server);
    let home = browser.get("/");
    assert_eq!((home.status, home.location.as_deref()), (303, Some("/console/sign-in")));
    let form = browser.get("/console/sign-in");
    assert_eq!(form.status, 200);
    assert_eq!(form.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(
        form.body.contains("<label for=\"token\">") && form.body.contains("name=\"token\""),
        "{}",
        form.body
    );
    assert_secure_headers(&form);
    let css = browser.get("/console/static/console.css");
    assert_eq!((css.status, css.header("content-type")), (200, Some("text/css; charset=utf-8")));

    // Refused: an unknown token, an agent's token, an empty form. No cookie is set.
    let bad = browser.sign_in("gvl_not_a_token");
    assert_eq!(bad.status, 401);
    assert!(bad.body.contains("not valid"), "{}", bad.body);
    let agent = browser.sign_in(&w.agent);
    assert_eq!(agent.status, 403);
    assert!(agent.body.contains("cannot sign in to the console"), "{}", agent.body);
    assert_eq!(browser.post("/console/sign-in", &[("token", " ")]).status, 400);
    assert!(browser.cookie.is_none());

    let ok = browser.sign_in(&w.carol);
    assert_eq!((ok.status, ok.location.as_deref()), (303, Some("/console/approvals")));
    let cookie = ok.set_cookie.clone().unwrap();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=28800"] {
        assert!(cookie.contains(part), "{cookie} lacks {part}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: no Secure flag unless configured");
    let session = browser.cookie.clone().unwrap();
    assert_eq!(session.len(), 64, "256 random bits");
    assert!(!cookie.contains(&w.carol), "the cookie never holds the token");

    let queue = browser.get("/console/approvals");
    assert_eq!(queue.status, 200);
    assert!(queue.body.contains("carol (approver)"), "{}", queue.body);
    assert_secure_headers(&queue);
    assert_eq!(browser.get("/").location.as_deref(), Some("/console/approvals"));

    // On the record, without the session id or the token anywhere in the log.
    let signed_in = w.events("console.signed_in");
    assert_eq!(signed_in.len(), 1);
    assert_eq!(signed_in[0].actor.id, signed_in[0].data["user_id"].as_str().unwrap());
    assert_eq!(signed_in[0].data["name"], "carol");
    let mut all = Vec::new();
    w.server
        .log
        .store()
        .scan(0, u64::MAX, &mut |e| {
            all.extend_from_slice(e.bytes.as_deref().unwrap());
            true
        })
        .unwrap();
    let all = String::from_utf8(all).unwrap();
    assert!(!all.contains(&session) && !all.contains(&w.carol));
}

#[test]
fn an_approver_decides_a_held_call_in_the_console() {
    let w = world();
    let id = w.held_call("eve@elsewhere.test");
    let mut carol = Browser::new(&w.server);
    carol.sign_in(&w.carol);
    let queue = carol.get("/console/approvals");
    for needle in
        ["send_email", "mailer", "eve@elsewhere.test", "Approve", "Deny", "Waiting for a decision (1)"]
    {
        assert!(queue.body.contains(needle), "queue lacks {needle}: {}", queue.body);
    }
    assert!(!queue.body.contains("sk-live-secret"), "arguments are shown redacted");
    let csrf = queue.csrf();
    let path = format!("/console/approvals/{id}");

    // Without the CSRF token, or from another site: refused, nothing decided.
    let forged = carol.post(&path, &[("decision", "approve"), ("csrf", &"0".repeat(64))]);
    assert_eq!(forged.status, 403);
    assert_eq!(carol.post(&path, &[("decision", "approve")]).status, 403);
    let cross = carol.post_from("https://evil.test", &path, &[("decision", "approve"), ("csrf", &csrf)]);
    assert_eq!(cross.status, 403);
    assert_secure_headers(&cross);
    assert_eq!(w.approval(&id)["status"], "pending");
    let odd = carol.post(&path, &[("decision", "maybe"), ("csrf", &csrf)]);
    assert_eq!(odd.status, 400);
    assert!(odd.body.contains("Choose Approve or Deny"));

    let done =
        carol.post(&path, &[("decision", "approve"), ("csrf", &csrf), ("comment", "ok <b>by</b> carol")]);
    assert_eq!(done.status, 303, "{}", done.body);
    let back = done.location.unwrap();
    assert_eq!(back, format!("/console/approvals?decided={id}"));
    let page = carol.get(&back);
    assert!(page.body.contains("approved: send_email for mailer"), "{}", page.body);
    assert!(page.body.contains("ok &lt;b&gt;by&lt;/b&gt; carol"), "the comment is escaped: {}", page.body);
    let a = w.approval(&id);
    assert_eq!((a["status"].as_str(), a["decided_by_name"].as_str()), (Some("approved"), Some("carol")));
    assert_eq!(a["comment"], "ok <b>by</b> carol");
    let decided = w.events("approval.decided");
    assert_eq!(decided.len(), 1);
    assert_eq!(decided[0].actor.kind.as_str(), "user");

    // Deciding it again is core's conflict, shown on the page.
    let again = carol.post(&path, &[("decision", "deny"), ("csrf", &csrf)]);
    assert_eq!(again.status, 409);
    assert!(again.body.contains("already approved"), "{}", again.body);
}

#[test]
fn the_console_refuses_what_core_refuses() {
    let w = world();
    let id = w.held_call("eve@elsewhere.test");
    let path = format!("/console/approvals/{id}");
    // dave owns the agent: he cannot approve its call, here as in the API.
    let mut dave = Browser::new(&w.server);
    dave.sign_in(&w.dave);
    let csrf = dave.get("/console/approvals").csrf();
    let own = dave.post(&path, &[("decision", "approve"), ("csrf", &csrf)]);
    assert_eq!(own.status, 403);
    assert!(own.body.contains("cannot approve it"), "{}", own.body);
    // A viewer sees the queue and cannot decide.
    let mut vera = Browser::new(&w.server);
    vera.sign_in(&w.vera);
    let queue = vera.get("/console/approvals");
    assert!(queue.body.contains("send_email"));
    let viewer = vera.post(&path, &[("decision", "deny"), ("csrf", &queue.csrf())]);
    assert_eq!(viewer.status, 403);
    assert_eq!(w.approval(&id)["status"], "pending");
    // A session's CSRF token is its own: dave's does not work for vera.
    assert_eq!(vera.post(&path, &[("decision", "deny"), ("csrf", &csrf)]).status, 403);
}

#[test]
fn sessions_end_on_sign_out_rotation_deactivation_and_expiry() {
    let w = world();
    let mut carol = Browser::new(&w.server);
    carol.sign_in(&w.carol);
    let csrf = carol.get("/console/approvals").csrf();
    assert_eq!(carol.post("/console/sign-out", &[("csrf", "nope")]).status, 403);
    let out = carol.post("/console/sign-out", &[("csrf", &csrf)]);
    assert_eq!((out.status, out.location.as_deref()), (303, Some("/console/sign-in")));
    assert!(out.set_cookie.unwrap().contains("Max-Age=0"));
    assert_eq!(carol.get("/console/approvals").location.as_deref(), Some("/console/sign-in"), "ended");
    assert_eq!(w.events("console.signed_out").len(), 1);

    // Rotating the token ends every session opened with it.
    let mut dave = Browser::new(&w.server);
    dave.sign_in(&w.dave);
    assert_eq!(dave.get("/console/approvals").status, 200);
    let users = w.server.ok("GET", "/v1/users", &w.alice, None);
    let dave_id = users["items"].as_array().unwrap().iter().find(|u| u["name"] == "dave").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let rotated = w.server.ok("POST", &format!("/v1/users/{dave_id}/rotate"), &w.alice, None);
    assert_eq!(dave.get("/console/approvals").location.as_deref(), Some("/console/sign-in"));
    dave.sign_in(rotated["token"].as_str().unwrap());
    assert_eq!(dave.get("/console/approvals").status, 200, "the new token signs in");

    // Deactivating the user ends it too.
    let vera_id = users["items"].as_array().unwrap().iter().find(|u| u["name"] == "vera").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut vera = Browser::new(&w.server);
    vera.sign_in(&w.vera);
    w.server.ok("POST", &format!("/v1/users/{vera_id}/deactivate"), &w.alice, None);
    assert_eq!(vera.get("/console/approvals").location.as_deref(), Some("/console/sign-in"));

    // Eight hours after sign-in, whatever happens.
    w.clock.set(datetime!(2026-12-07 17:00 UTC));
    assert_eq!(dave.get("/console/approvals").location.as_deref(), Some("/console/sign-in"));
    // A made-up cookie is just no session.
    let mut forged = Browser::new(&w.server);
    forged.cookie = Some("a".repeat(64));
    assert_eq!(forged.get("/console/approvals").location.as_deref(), Some("/console/sign-in"));
}

#[test]
fn the_cookie_is_secure_when_the_console_is_served_over_tls() {
    let w = world_with(|s| s.with_console(gavel_server::console::ConsoleSettings { secure_cookie: true }));
    let mut browser = Browser::new(&w.server);
    let ok = browser.sign_in(&w.carol);
    assert!(ok.set_cookie.unwrap().contains("; Secure"));
}

/// Where the browser tests leave screenshots of the main pages (test artifacts; three of them
/// illustrate the README, from `docs/images/`).
fn screenshot(browser: &gavel_testkit::Browser, name: &str) {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    browser.screenshot(&dir.join(format!("{name}.png")));
}

fn assert_no_csp_violation(browser: &gavel_testkit::Browser) {
    let violations: Vec<_> = browser
        .console_log()
        .into_iter()
        .filter(|e| e["message"].to_string().contains("Content Security Policy"))
        .collect();
    assert!(violations.is_empty(), "{violations:?}");
}

/// The same flow in a real headless Chromium: the pages render with their style sheet under the
/// CSP (no violation in the browser's console), the form signs in, the cookie is HttpOnly and
/// SameSite=Strict (script cannot read it), a held call appears on the queue, Approve decides it
/// and the agent's long-poll receives its receipt; sign-out ends the session.
#[test]
fn a_person_approves_in_a_real_browser() {
    let w = world();
    let browser = gavel_testkit::Browser::start();
    browser.go(&format!("{}/", w.server.base));
    assert!(browser.url().ends_with("/console/sign-in"), "{}", browser.url());
    assert_eq!(browser.title(), "Sign in · gavel");
    browser.type_into("#token", &w.carol);
    browser.submit("form button[type=submit]");
    assert!(browser.url().ends_with("/console/approvals"), "{}: {}", browser.url(), browser.text());
    assert!(browser.text().contains("No call is waiting for approval."));

    // The agent asks; the call is held; the agent long-polls for the decision meanwhile.
    let id = w.held_call("eve@elsewhere.test");
    let (base, agent, polled) = (w.server.base.clone(), w.agent.clone(), id.clone());
    let long_poll = std::thread::spawn(move || {
        let answer = ureq::get(&format!("{base}/v1/approvals/{polled}?wait=30"))
            .set("Authorization", &format!("Bearer {agent}"))
            .call()
            .unwrap();
        answer.into_json::<Value>().unwrap()
    });
    // The open queue shows it by itself (live.js reloads the page when the queue changes).
    let shown = browser.wait_for(
        "return document.body.innerText.includes('Waiting for a decision (1)') || null",
        std::time::Duration::from_secs(20),
    );
    assert_eq!(shown, true);
    let text = browser.text();
    assert!(text.contains("send_email — mailer"), "{text}");
    screenshot(&browser, "approvals");

    // The style sheet applied under the CSP: the Approve button is green.
    let colour =
        browser.script("return getComputedStyle(document.querySelector('button.approve')).backgroundColor");
    assert_eq!(colour, "rgb(26, 127, 55)");
    let cookies = browser.cookies();
    let session = cookies.iter().find(|c| c["name"] == "gavel_session").expect("the session cookie");
    assert_eq!((session["httpOnly"].as_bool(), session["sameSite"].as_str()), (Some(true), Some("Strict")));
    assert_eq!(browser.script("return document.cookie"), "", "script cannot read the session");

    browser.type_into(&format!("#c-{id}"), "fine, customer asked");
    browser.submit("button.approve");
    assert!(browser.url().ends_with(&format!("/console/approvals?decided={id}")), "{}", browser.url());
    assert!(browser.text().contains("approved: send_email for mailer"));
    let answered = long_poll.join().unwrap();
    assert_eq!(answered["status"], "approved", "{answered}");
    assert!(
        answered["receipt"].as_str().is_some_and(|r| r.starts_with("rcpt_")),
        "the agent got its receipt: {answered}"
    );
    let a = w.approval(&id);
    assert_eq!(a["comment"], "fine, customer asked");

    browser.submit("form.signout button");
    assert!(browser.url().ends_with("/console/sign-in"), "{}", browser.url());
    browser.go(&format!("{}/console/approvals", w.server.base));
    assert!(browser.url().ends_with("/console/sign-in"), "signed out: {}", browser.url());
    assert_no_csp_violation(&browser);
}

/// An admin works an incident to its resolution in the browser; the readiness page renders.
#[test]
fn an_admin_resolves_an_incident_in_a_real_browser() {
    let w = world();
    let agent_id =
        w.server.ok("GET", "/v1/agents", &w.alice, None)["items"][0]["id"].as_str().unwrap().to_string();
    let opened = w.server.ok(
        "POST",
        "/v1/incidents",
        &w.alice,
        Some(json!({"title": "mailer sends to strangers", "severity": "high", "agent": agent_id})),
    );
    let id = opened["id"].as_str().unwrap().to_string();
    let browser = gavel_testkit::Browser::start();
    browser.go(&format!("{}/console/sign-in", w.server.base));
    browser.type_into("#token", &w.alice);
    browser.submit("form button[type=submit]");
    browser.go(&format!("{}/console/incidents/{id}", w.server.base));
    browser.type_into("#owner", "carol");
    browser.submit("form[action$='/assign'] button");
    assert!(browser.text().contains("Assigned."), "{}", browser.text());
    browser.type_into("#triage-note", "real: it mailed three outside addresses");
    browser.submit("form[action$='/triage'] button");
    assert!(browser.text().contains("Triaged."), "{}", browser.text());
    browser.type_into("#note", "suspended the allow rule");
    browser.submit("form[action$='/contain'] button");
    assert!(browser.text().contains("Containment recorded."), "{}", browser.text());
    browser.type_into("#writeup", "A typo in the allow list let the agent mail anyone; fixed and tested.");
    browser.submit("form[action$='/resolve'] button");
    assert!(browser.text().contains("Resolved."), "{}", browser.text());
    screenshot(&browser, "incident");
    let view = w.server.ok("GET", &format!("/v1/incidents/{id}"), &w.alice, None);
    assert_eq!(view["status"], "resolved");
    assert!(view["writeup"].as_str().unwrap().starts_with("A typo"));

    w.server.ok("POST", "/v1/compliance/scans", &w.alice, None);
    browser.go(&format!("{}/console/readiness", w.server.base));
    assert!(browser.text().contains("CC6.1"));
    screenshot(&browser, "readiness");
    assert_no_csp_violation(&browser);
}

/// An auditor opens a share link, no sign-in: the page verifies the bundle in the browser
/// (WebCrypto SHA-256 of every file, Ed25519 signature of SHA256SUMS), and fails it once one
/// byte of one file changed on the server.
#[test]
fn an_auditor_verifies_a_shared_bundle_in_a_real_browser() {
    let w = world();
    w.held_call("eve@elsewhere.test");
    let export = w.server.ok(
        "POST",
        "/v1/compliance/exports",
        &w.alice,
        Some(json!({"from": "2026-12-01", "to": "2026-12-08"})),
    );
    let export_id = export["export_id"].as_str().unwrap().to_string();
    let share = w.server.ok(
        "POST",
        "/v1/shares",
        &w.alice,
        Some(json!({"export_id": export_id, "expires_days": 30})),
    );
    let token = share["url_path"].as_str().unwrap().rsplit('/').next().unwrap().to_string();

    let browser = gavel_testkit::Browser::start();
    let page = format!("{}/console/share/{token}", w.server.base);
    browser.go(&page);
    assert_eq!(browser.title(), "Shared evidence · gavel");
    assert!(browser.text().contains(&export_id));
    browser.click("#verify");
    let verified = browser.wait_for(
        "return document.querySelector('main').dataset.verified || null",
        std::time::Duration::from_secs(30),
    );
    assert_eq!(verified, "yes", "{}", browser.text());
    let text = browser.text();
    assert!(
        text.contains("ok — SHA256SUMS.sig is the Ed25519 signature of SHA256SUMS by signing-key.pem"),
        "{text}"
    );
    assert!(text.contains("ok — events.jsonl") && text.contains("ok — report.pdf"), "{text}");
    screenshot(&browser, "share-verify");
    assert_no_csp_violation(&browser);

    // One byte of the bundle changes on the server: the same page now says so.
    let events = w.server.state.gavel.data_dir().exports().join(&export_id).join("events.jsonl");
    let mut bytes = std::fs::read(&events).unwrap();
    let at = bytes.iter().position(|b| *b == b'{').unwrap();
    bytes[at + 1] ^= 0x01;
    std::fs::write(&events, bytes).unwrap();
    browser.go(&page);
    browser.click("#verify");
    let verified = browser.wait_for(
        "return document.querySelector('main').dataset.verified || null",
        std::time::Duration::from_secs(30),
    );
    assert_eq!(verified, "no");
    let text = browser.text();
    assert!(text.contains("FAILED — events.jsonl: its SHA-256 is"), "{text}");
    assert!(text.contains("NOT verified"));

    // An unknown link is a plain 404 page.
    let unknown = Browser::new(&w.server).get("/console/share/shr_nope");
    assert_eq!(unknown.status, 404);
    assert!(unknown.body.contains("unknown, has expired or was revoked"));
}

/// Signs `token` in, in a fresh browser.
fn signed_in(w: &World, token: &str) -> Browser {
    let mut b = Browser::new(&w.server);
    assert_eq!(b.sign_in(token).status, 303);
    b
}

#[test]
fn incidents_are_worked_in_the_console() {
    let w = world();
    let agents = w.server.ok("GET", "/v1/agents", &w.alice, None);
    let agent_id = agents["items"][0]["id"].as_str().unwrap().to_string();
    let opened = w.server.ok(
        "POST",
        "/v1/incidents",
        &w.alice,
        Some(json!({"title": "mailer sends to strangers", "severity": "high", "agent": agent_id})),
    );
    let id = opened["id"].as_str().unwrap().to_string();
    let alice = signed_in(&w, &w.alice);
    let list = alice.get("/console/incidents");
    assert!(
        list.body.contains("Open (1)") && list.body.contains("mailer sends to strangers"),
        "{}",
        list.body
    );
    assert_secure_headers(&list);
    let page = alice.get(&format!("/console/incidents/{id}"));
    assert!(page.body.contains("incident.opened") && page.body.contains("unassigned"), "{}", page.body);
    let csrf = page.csrf();
    let step = |action: &str, form: &[(&str, &str)]| {
        let mut fields = vec![("csrf", csrf.as_str())];
        fields.extend_from_slice(form);
        alice.post(&format!("/console/incidents/{id}/{action}"), &fields)
    };

    // Without the CSRF token nothing moves; an unknown step is a 404.
    assert_eq!(alice.post(&format!("/console/incidents/{id}/assign"), &[("owner", "carol")]).status, 403);
    assert_eq!(step("reopen", &[]).status, 404);
    let assigned = step("assign", &[("owner", "carol")]);
    assert_eq!(assigned.location.as_deref(), Some(format!("/console/incidents/{id}?done=assign").as_str()));
    let page = alice.get(assigned.location.as_deref().unwrap());
    assert!(page.body.contains("Assigned.") && page.body.contains("<dd>carol</dd>"), "{}", page.body);
    assert_eq!(step("note", &[("text", "customer list leaked?")]).status, 303);
    let contained = step("contain", &[("note", "stopped the mailer"), ("kill", "agent")]);
    assert_eq!(contained.status, 303, "{}", contained.body);
    let switches = w.server.ok("GET", "/v1/killswitch", &w.alice, None);
    let engaged =
        switches["items"].as_array().unwrap().iter().any(|k| k["engaged"] == true && k["incident_id"] == id);
    assert!(engaged, "the agent's kill switch was pulled under the incident: {switches}");
    // Core wants a writeup to resolve; the page says so and nothing changes.
    let empty = step("resolve", &[("writeup", "  ")]);
    assert_eq!(empty.status, 400, "{}", empty.body);
    assert!(empty.body.contains("role=\"alert\""));
    assert_eq!(w.server.ok("GET", &format!("/v1/incidents/{id}"), &w.alice, None)["status"], "contained");
    assert_eq!(step("resolve", &[("writeup", "a typo in the allow list; fixed and tested")]).status, 303);
    let view = w.server.ok("GET", &format!("/v1/incidents/{id}"), &w.alice, None);
    assert_eq!(view["status"], "resolved");
    let kinds: Vec<&str> =
        view["timeline"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    for k in ["incident.assigned", "incident.noted", "incident.contained", "incident.resolved"] {
        assert!(kinds.contains(&k), "{k} not in {kinds:?}");
    }
    assert!(alice.get("/console/incidents").body.contains("Resolved (1)"));

    // A viewer reads the incident and cannot change it.
    let vera = signed_in(&w, &w.vera);
    let page = vera.get(&format!("/console/incidents/{id}"));
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("Next steps"), "a resolved incident offers no step");
    let other =
        w.server.ok("POST", "/v1/incidents", &w.alice, Some(json!({"title": "second", "severity": "low"})));
    let other_id = other["id"].as_str().unwrap();
    let csrf = vera.get(&format!("/console/incidents/{other_id}")).csrf();
    let refused =
        vera.post(&format!("/console/incidents/{other_id}/assign"), &[("csrf", &csrf), ("owner", "vera")]);
    assert_eq!(refused.status, 403, "{}", refused.body);
}

#[test]
fn agents_are_contained_in_the_console() {
    let w = world();
    let alice = signed_in(&w, &w.alice);
    let page = alice.get("/console/agents");
    assert!(page.body.contains("mailer") && page.body.contains("Inventory (1)"), "{}", page.body);
    assert!(page.body.contains("None: no call is stopped by a kill switch."));
    assert_secure_headers(&page);
    let csrf = page.csrf();
    let agent_id =
        w.server.ok("GET", "/v1/agents", &w.alice, None)["items"][0]["id"].as_str().unwrap().to_string();
    let act = |who: &Browser, csrf: &str, action: &str, reason: &str| {
        who.post(&format!("/console/agents/{agent_id}/{action}"), &[("csrf", csrf), ("reason", reason)])
    };
    let decide = || {
        w.server.ok(
            "POST",
            "/v1/decide",
            &w.agent,
            Some(json!({"tool": "send_email", "arguments": {"to": "x@y.test"}})),
        )["decision"]
            .clone()
    };

    // A viewer cannot pull the switch; a reason is required; then an admin pulls it.
    let vera = signed_in(&w, &w.vera);
    let vera_csrf = vera.get("/console/agents").csrf();
    assert_eq!(act(&vera, &vera_csrf, "kill", "no").status, 403);
    assert_eq!(act(&alice, &csrf, "kill", " ").status, 400);
    assert_eq!(decide(), "require_approval");
    let killed = act(&alice, &csrf, "kill", "sending to strangers");
    assert_eq!(killed.location.as_deref(), Some("/console/agents?done=kill"), "{}", killed.body);
    let page = alice.get("/console/agents?done=kill");
    assert!(
        page.body.contains("Kill switch engaged") && page.body.contains("kill switch engaged"),
        "{}",
        page.body
    );
    assert!(page.body.contains("sending to strangers"));
    assert_eq!(decide(), "deny", "the kill switch stops the agent's next call");
    assert_eq!(act(&alice, &csrf, "release", "fixed").status, 303);
    assert_eq!(decide(), "require_approval");

    assert_eq!(act(&alice, &csrf, "suspend", "investigating").status, 303);
    assert!(alice.get("/console/agents").body.contains("suspended"));
    assert_eq!(decide(), "deny");
    assert_eq!(act(&alice, &csrf, "reactivate", "").status, 303);
    assert_eq!(decide(), "require_approval");
    assert_eq!(act(&alice, &csrf, "explode", "x").status, 404);
}

#[test]
fn readiness_shows_scans_and_runs_one() {
    let w = world();
    let vera = signed_in(&w, &w.vera);
    let empty = vera.get("/console/readiness");
    assert!(empty.body.contains("No soc2 scan yet"), "{}", empty.body);
    assert_secure_headers(&empty);
    let refused = vera.post("/console/readiness/scan", &[("csrf", &empty.csrf())]);
    assert_eq!(refused.status, 403, "viewers do not scan: {}", refused.body);

    let alice = signed_in(&w, &w.alice);
    let csrf = alice.get("/console/readiness").csrf();
    assert_eq!(alice.post("/console/readiness/scan", &[]).status, 403, "no CSRF token");
    for _ in 0..2 {
        let ran = alice.post("/console/readiness/scan", &[("csrf", &csrf)]);
        assert_eq!(ran.location.as_deref(), Some("/console/readiness?done=scan"), "{}", ran.body);
    }
    let page = alice.get("/console/readiness?done=scan");
    for needle in ["Scan completed and recorded.", "CC6.1", "CC8.1", "Latest scan", "Trend (latest first)"] {
        assert!(page.body.contains(needle), "{needle}: {}", page.body);
    }
    let scans = w.server.ok("GET", "/v1/compliance/scans", &w.alice, None);
    assert_eq!(scans["items"].as_array().unwrap().len(), 2);
    for scan in scans["items"].as_array().unwrap() {
        let id = scan["id"].as_str().unwrap();
        assert!(page.body.contains(&format!("<td>{id}</td>")), "the trend lists {id}");
    }
}

#[test]
fn the_audit_trail_is_searched_and_traced_in_the_console() {
    let w = world();
    let id = w.held_call("eve@elsewhere.test");
    let decision_id = w.approval(&id)["decision_id"].as_str().unwrap().to_string();
    w.server.ok(
        "POST",
        &format!("/v1/approvals/{id}/decide"),
        &w.carol,
        Some(json!({"decision": "approve", "comment": "known customer"})),
    );
    for n in 0..55 {
        w.server.ok(
            "POST",
            "/v1/decide",
            &w.agent,
            Some(json!({"tool": "wipe_disk", "arguments": {"n": n}})),
        );
    }
    let vera = signed_in(&w, &w.vera);
    let found = vera.get("/console/audit?tool=send_email&decision=require_approval");
    assert_eq!(found.status, 200);
    assert!(found.body.contains(&decision_id), "{}", found.body);
    assert!(!found.body.contains("wipe_disk"), "filtered by tool");
    assert_secure_headers(&found);

    // Paged newest first, 50 a page, with a link to the older ones.
    let first = vera.get("/console/audit?tool=wipe_disk");
    assert_eq!(first.body.matches("<td>wipe_disk</td>").count(), 50);
    let at =
        first.body.find("href=\"/console/audit?tool=wipe_disk&amp;cursor=").expect("a next-page link") + 6;
    let link = first.body[at..].split('"').next().unwrap().replace("&amp;", "&");
    assert_eq!(vera.get(&link).body.matches("<td>wipe_disk</td>").count(), 5);

    let bad = vera.get("/console/audit?decision=perhaps");
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("not one of allow, deny, require_approval"), "{}", bad.body);

    // The trace answers the auditor's question on one page.
    let trace = vera.get(&format!("/console/audit/{decision_id}"));
    assert_eq!(trace.status, 200, "{}", trace.body);
    for needle in [
        "send_email — require_approval",
        "hold_email",
        "@gavel(&quot;require_approval&quot;)",
        "Approved by",
        "bob",
        "approved",
        "carol",
        "known customer",
        "No outcome reported yet.",
    ] {
        assert!(trace.body.contains(needle), "trace lacks {needle}: {}", trace.body);
    }
    assert_eq!(vera.get("/console/audit/dec_nope").status, 404);
}

#[test]
fn policy_changes_get_their_second_admin_in_the_console() {
    let w = world();
    let bob_token =
        w.server.ok("POST", "/v1/users", &w.alice, Some(json!({"name": "bob2", "role": "admin"})))["token"]
            .as_str()
            .unwrap()
            .to_string();
    let v2 = format!("{POLICY}@id(\"no_wipe\")\nforbid(principal, action == Action::\"call_tool\", resource == Tool::\"wipe_disk\");\n");
    let change = w.server.ok("POST", "/v1/policies", &w.alice, Some(json!({"set_id": "team", "text": v2})));
    let change_id = change["id"].as_str().unwrap().to_string();
    let path = format!("/console/policies/changes/{change_id}");

    let alice = signed_in(&w, &w.alice);
    let page = alice.get("/console/policies");
    assert!(
        page.body.contains("Waiting for a second admin (1)") && page.body.contains("team: activate v2"),
        "{}",
        page.body
    );
    assert_secure_headers(&page);
    // The proposer cannot approve their own change; a viewer cannot approve at all.
    let own = alice.post(&path, &[("csrf", &page.csrf()), ("decision", "approve")]);
    assert_eq!(own.status, 403, "{}", own.body);
    let vera = signed_in(&w, &w.vera);
    let vera_csrf = vera.get("/console/policies").csrf();
    assert_eq!(vera.post(&path, &[("csrf", &vera_csrf), ("decision", "approve")]).status, 403);
    assert_eq!(w.server.ok("GET", "/v1/policies/team", &w.alice, None)["active_version"], 1);

    let bob = signed_in(&w, &bob_token);
    let csrf = bob.get("/console/policies").csrf();
    let approved =
        bob.post(&path, &[("csrf", &csrf), ("decision", "approve"), ("comment", "reviewed the diff")]);
    assert_eq!(approved.location.as_deref(), Some("/console/policies?done=approve"), "{}", approved.body);
    assert_eq!(w.server.ok("GET", "/v1/policies/team", &w.alice, None)["active_version"], 2);

    let history = vera.get("/console/policies/team");
    assert_eq!(history.status, 200);
    for needle in [
        "v2 (in force)",
        "Changes from v1",
        "<ins>+@id(&quot;no_wipe&quot;)</ins>",
        "reviewed the diff",
        "bob2",
    ] {
        assert!(history.body.contains(needle), "history lacks {needle}: {}", history.body);
    }
    assert_eq!(vera.get("/console/policies/nope").status, 404);

    // A rejected change stays in the history, with who rejected it.
    let v3 = w.server.ok("POST", "/v1/policies", &w.alice, Some(json!({"set_id": "team", "text": POLICY})));
    let v3_path = format!("/console/policies/changes/{}", v3["id"].as_str().unwrap());
    assert_eq!(bob.post(&v3_path, &[("csrf", &csrf), ("decision", "maybe")]).status, 400);
    assert_eq!(bob.post(&v3_path, &[("csrf", &csrf), ("decision", "reject"), ("comment", "no")]).status, 303);
    assert!(vera.get("/console/policies/team").body.contains("rejected"));
    assert_eq!(w.server.ok("GET", "/v1/policies/team", &w.alice, None)["active_version"], 2);
}

#[test]
fn live_pages_learn_when_what_they_show_changes() {
    let w = world();
    let carol = signed_in(&w, &w.carol);
    let page = carol.get("/console/approvals");
    assert!(page.body.contains("data-live=\"approvals\""), "{}", page.body);
    let version = |b: &Browser, what: &str| {
        let p = b.get(&format!("/console/live/{what}"));
        assert_eq!(p.status, 200, "{}", p.body);
        serde_json::from_str::<Value>(&p.body).unwrap()["version"].as_str().unwrap().to_string()
    };
    let before = version(&carol, "approvals");
    assert!(page.body.contains(&format!("data-version=\"{before}\"")), "the page carries its version");
    assert_eq!(version(&carol, "approvals"), before, "nothing changed");
    let id = w.held_call("eve@elsewhere.test");
    let held = version(&carol, "approvals");
    assert_ne!(held, before);
    w.server.ok("POST", &format!("/v1/approvals/{id}/decide"), &w.carol, Some(json!({"decision": "deny"})));
    assert_eq!(version(&carol, "approvals"), before, "the queue is empty again");

    let opened =
        w.server.ok("POST", "/v1/incidents", &w.alice, Some(json!({"title": "t", "severity": "low"})));
    let incident = opened["id"].as_str().unwrap();
    let list = version(&carol, "incidents");
    let one = version(&carol, &format!("incident:{incident}"));
    w.server.ok(
        "POST",
        &format!("/v1/incidents/{incident}/notes"),
        &w.alice,
        Some(json!({"text": "looking"})),
    );
    assert_ne!(version(&carol, "incidents"), list);
    assert_ne!(version(&carol, &format!("incident:{incident}")), one);

    assert_eq!(carol.get("/console/live/elsewhere").status, 404);
    assert_eq!(Browser::new(&w.server).get("/console/live/approvals").status, 401, "no session, no version");
}

/// The exports and share links on record, through the API as alice.
fn exports_and_shares(w: &World) -> (Vec<Value>, Vec<Value>) {
    let items = |path: &str| w.server.ok("GET", path, &w.alice, None)["items"].as_array().unwrap().clone();
    (items("/v1/compliance/exports"), items("/v1/shares"))
}

/// `fields` after the CSRF token.
fn with_csrf<'a>(csrf: &'a str, fields: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut all = vec![("csrf", csrf)];
    all.extend_from_slice(fields);
    all
}

/// The token of the share link a page shows (in its `#share-url` field).
fn shown_share_token(page: &Page) -> String {
    let at = page.body.find("id=\"share-url\"").expect("the new link is shown");
    let field = &page.body[at..];
    let url_at = field.find("/console/share/").expect("the link's URL") + "/console/share/".len();
    field[url_at..].split('"').next().unwrap().to_string()
}

#[test]
fn evidence_is_exported_downloaded_and_shared_in_the_console() {
    let w = world();
    w.held_call("eve@elsewhere.test");
    let ann = w.server.ok("POST", "/v1/users", &w.alice, Some(json!({"name": "ann", "role": "auditor"})))
        ["token"]
        .as_str()
        .unwrap()
        .to_string();
    const EXPORT: &str = "/console/evidence/export";
    const PERIOD: [(&str, &str); 2] = [("from", "2026-12-01"), ("to", "2026-12-08")];

    // A viewer reads the page and cannot export, as the API refuses.
    let vera = signed_in(&w, &w.vera);
    let empty = vera.get("/console/evidence");
    assert_eq!(empty.status, 200);
    assert!(empty.body.contains("No bundle on record yet"), "{}", empty.body);
    assert!(
        empty.body.contains("href=\"/console/evidence\"")
            && empty.body.contains("href=\"/console/notifications\"")
    );
    assert_secure_headers(&empty);
    let refused = vera.post(EXPORT, &with_csrf(&empty.csrf(), &PERIOD));
    assert_eq!(refused.status, 403, "{}", refused.body);
    let api = w.server.call(
        "POST",
        "/v1/compliance/exports",
        Some(&w.vera),
        Some(json!({"from": "2026-12-01", "to": "2026-12-08"})),
    );
    assert_eq!(api.0, 403, "the API refuses the viewer too");

    // An admin without the CSRF token, from another site, or with a period core refuses: nothing.
    let alice = signed_in(&w, &w.alice);
    let csrf = alice.get("/console/evidence").csrf();
    assert_eq!(alice.post(EXPORT, &PERIOD).status, 403);
    assert_eq!(alice.post_from("https://evil.test", EXPORT, &with_csrf(&csrf, &PERIOD)).status, 403);
    let bad = alice.post(EXPORT, &with_csrf(&csrf, &[("from", "2026-12-32"), ("to", "2026-12-08")]));
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("role=\"alert\""));
    let unknown = alice.post(EXPORT, &with_csrf(&csrf, &[PERIOD[0], PERIOD[1], ("framework", "iso-nope")]));
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    assert!(exports_and_shares(&w).0.is_empty(), "nothing was exported");

    // The auditor exports (the API lets auditors export), and lands on the bundle's page.
    let auditor = signed_in(&w, &ann);
    let auditor_csrf = auditor.get("/console/evidence").csrf();
    let done = auditor.post(EXPORT, &with_csrf(&auditor_csrf, &PERIOD));
    assert_eq!(done.status, 303, "{}", done.body);
    let location = done.location.unwrap();
    let export_id = location
        .strip_prefix("/console/evidence/bundles/")
        .and_then(|rest| rest.strip_suffix("?done=export"))
        .unwrap_or_else(|| panic!("{location}"))
        .to_string();
    let (exports, _) = exports_and_shares(&w);
    assert_eq!(exports.len(), 1);
    assert_eq!(exports[0]["export_id"], export_id.as_str());
    let page = auditor.get(&location);
    assert_eq!(page.status, 200);
    for needle in [
        "Exported: the signed bundle",
        export_id.as_str(),
        "SHA256SUMS.sig",
        "events.jsonl",
        "No link to this bundle.",
    ] {
        assert!(page.body.contains(needle), "{needle}: {}", page.body);
    }
    assert_secure_headers(&page);
    let overview = vera.get("/console/evidence");
    assert!(
        overview.body.contains(&format!("/console/evidence/bundles/{export_id}")),
        "listed for every reader"
    );

    // A file downloads through the session, byte for byte what the API serves.
    let file = format!("/console/evidence/bundles/{export_id}/files/SHA256SUMS");
    let sums = vera.get(&file);
    assert_eq!(sums.status, 200);
    assert_eq!(sums.header("content-disposition"), Some("attachment; filename=\"SHA256SUMS\""));
    let (_, api_bytes) =
        w.server.get_bytes(&format!("/v1/compliance/exports/{export_id}/files/SHA256SUMS"), Some(&w.alice));
    assert_eq!(sums.body.as_bytes(), api_bytes.as_slice());
    assert!(sums.body.contains("events.jsonl"));
    assert_eq!(vera.get(&format!("/console/evidence/bundles/{export_id}/files/nope.txt")).status, 404);
    assert_eq!(vera.get("/console/evidence/bundles/exp_nope").status, 404);
    assert_eq!(Browser::new(&w.server).get(&file).location.as_deref(), Some("/console/sign-in"));

    // The auditor may read the links but not create one, as the API refuses.
    let share_path = format!("/console/evidence/bundles/{export_id}/share");
    let days = |d| [("expires_days", d)];
    let refused = auditor.post(&share_path, &with_csrf(&auditor_csrf, &days("30")));
    assert_eq!(refused.status, 403, "{}", refused.body);
    let api = w.server.call(
        "POST",
        "/v1/shares",
        Some(&ann),
        Some(json!({"export_id": export_id, "expires_days": 30})),
    );
    assert_eq!(api.0, 403);
    // An admin: without the token, or with days core refuses, no link.
    assert_eq!(alice.post(&share_path, &days("30")).status, 403);
    let zero = alice.post(&share_path, &with_csrf(&csrf, &days("0")));
    assert_eq!(zero.status, 400);
    assert!(zero.body.contains("1 to 365"), "core's message: {}", zero.body);
    assert_eq!(alice.post(&share_path, &with_csrf(&csrf, &days("soon"))).status, 400);
    assert!(exports_and_shares(&w).1.is_empty(), "no link was made");

    // The link is shown once, on the answer to the form.
    let created = alice.post(&share_path, &with_csrf(&csrf, &days("7")));
    assert_eq!(created.status, 200, "{}", created.body);
    assert!(created.body.contains("Copy it now: it is shown only this once."), "{}", created.body);
    let token = shown_share_token(&created);
    assert!(token.starts_with("gsh_"), "{token}");
    assert!(created.body.contains(&format!("value=\"{}/console/share/{token}\"", w.server.base)));
    let (_, shares) = exports_and_shares(&w);
    assert_eq!(shares.len(), 1);
    assert_eq!(
        (shares[0]["export_id"].as_str(), shares[0]["created_by"].as_str()),
        (Some(export_id.as_str()), Some("admin"))
    );
    let public = format!("/console/share/{token}");
    let opened = Browser::new(&w.server).get(&public);
    assert_eq!(opened.status, 200, "the auditor's page opens without sign-in");
    assert!(opened.body.contains(&export_id));
    let later = auditor.get(&format!("/console/evidence/bundles/{export_id}"));
    assert!(!later.body.contains(&token), "never shown again");
    assert!(
        later.body.contains(shares[0]["id"].as_str().unwrap()) && later.body.contains("<td>active"),
        "{}",
        later.body
    );

    // Revoking: the auditor, the viewer and a form without the token are refused; then an admin.
    let share_id = shares[0]["id"].as_str().unwrap();
    let revoke = format!("/console/evidence/shares/{share_id}/revoke");
    assert_eq!(auditor.post(&revoke, &[("csrf", &auditor_csrf)]).status, 403);
    assert_eq!(vera.post(&revoke, &[("csrf", &empty.csrf())]).status, 403);
    assert_eq!(alice.post(&revoke, &[]).status, 403);
    assert_eq!(Browser::new(&w.server).get(&public).status, 200, "still open");
    let revoked = alice.post(&revoke, &[("csrf", &csrf)]);
    assert_eq!(
        revoked.location.as_deref(),
        Some(format!("/console/evidence/bundles/{export_id}?done=revoke").as_str()),
        "{}",
        revoked.body
    );
    let page = alice.get(revoked.location.as_deref().unwrap());
    assert!(page.body.contains("Share link revoked") && page.body.contains("<td>revoked"), "{}", page.body);
    assert_eq!(Browser::new(&w.server).get(&public).status, 404, "the link no longer opens");
    let again = alice.post(&revoke, &[("csrf", &csrf)]);
    assert_eq!(again.status, 409);
    assert!(again.body.contains("already revoked"), "{}", again.body);
    assert_eq!(w.events("share.created").len(), 1);
    assert_eq!(w.events("share.revoked").len(), 1);
}

#[test]
fn notification_channels_are_managed_in_the_console() {
    let w = world();
    let channels = || {
        w.server.ok("GET", "/v1/notifications/channels", &w.alice, None)["items"].as_array().unwrap().clone()
    };
    let add = |b: &Browser, csrf: &str, extra: &[(&str, &str)]| {
        let mut fields = vec![
            ("csrf", csrf),
            ("name", "payments approvers"),
            ("format", "slack"),
            ("url", "https://hooks.example.com/services/T0/B0/the-secret-part"),
            ("events", "approval.requested"),
            ("events", "approval.expiring"),
            ("agent_groups", "payments, ops"),
        ];
        for (k, v) in extra {
            fields.retain(|(name, _)| name != k);
            fields.push((k, v));
        }
        b.post("/console/notifications/channels", &fields)
    };

    // Admins only, as in the API: an approver gets core's 403 for the page and the form.
    let carol = signed_in(&w, &w.carol);
    assert_eq!(carol.get("/console/notifications").status, 403);
    let carol_csrf = carol.get("/console/approvals").csrf();
    assert_eq!(add(&carol, &carol_csrf, &[]).status, 403);
    assert_eq!(w.server.call("GET", "/v1/notifications/channels", Some(&w.carol), None).0, 403);

    let alice = signed_in(&w, &w.alice);
    let page = alice.get("/console/notifications");
    assert_eq!(page.status, 200);
    assert_secure_headers(&page);
    assert!(page.body.contains("No channel yet."));
    for event in gavel_core::notifications::NOTIFICATION_EVENTS {
        assert!(page.body.contains(&format!("value=\"{event}\"")), "a checkbox for {event}");
    }
    let csrf = page.csrf();
    // No token, another site, or what core refuses (a private target, an unknown event): nothing.
    assert_eq!(add(&alice, "", &[]).status, 403);
    let cross = alice.post_from(
        "https://evil.test",
        "/console/notifications/channels",
        &[("csrf", &csrf), ("name", "x"), ("format", "json"), ("url", "https://hooks.example.com/x")],
    );
    assert_eq!(cross.status, 403);
    let private = add(&alice, &csrf, &[("url", "http://127.0.0.1:9/hook")]);
    assert_eq!(private.status, 400);
    assert!(private.body.contains("private, loopback or reserved"), "{}", private.body);
    let odd = add(&alice, &csrf, &[("events", "everything")]);
    assert_eq!(odd.status, 400);
    assert!(odd.body.contains("must be one of"), "{}", odd.body);
    assert_eq!(add(&alice, &csrf, &[("format", "xml")]).status, 400);
    assert!(channels().is_empty());

    let made = add(&alice, &csrf, &[]);
    assert_eq!(made.location.as_deref(), Some("/console/notifications?done=create"), "{}", made.body);
    let listed = channels();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["format"], "slack");
    assert_eq!(listed[0]["events"], json!(["approval.expiring", "approval.requested"]));
    assert_eq!(listed[0]["agent_groups"], json!(["ops", "payments"]));
    let page = alice.get("/console/notifications?done=create");
    for needle in [
        "Channel added",
        "payments approvers",
        "https://hooks.example.com",
        "approval.expiring, approval.requested",
        "groups: ops, payments",
    ] {
        assert!(page.body.contains(needle), "{needle}: {}", page.body);
    }
    assert!(!page.body.contains("the-secret-part"), "the URL is a credential: only its origin is shown");
    // A generic JSON channel for every event.
    let json_channel = alice.post(
        "/console/notifications/channels",
        &[("csrf", &csrf), ("name", "ir"), ("format", "json"), ("url", "https://ir.example.com/in")],
    );
    assert_eq!(json_channel.status, 303, "{}", json_channel.body);
    // Channels made in the same instant are listed in no particular order: find each by name.
    let named = |name: &str| channels().into_iter().find(|c| c["name"] == name).unwrap();
    let ir = named("ir");
    assert_eq!((ir["format"].as_str(), ir["events"].as_array().map(Vec::len)), (Some("json"), Some(0)));

    // A channel's page: its deliveries (none yet); admins only.
    let id = named("payments approvers")["id"].as_str().unwrap().to_string();
    let deliveries = alice.get(&format!("/console/notifications/channels/{id}"));
    assert_eq!(deliveries.status, 200);
    assert!(deliveries.body.contains("Nothing sent to this channel yet."), "{}", deliveries.body);
    assert_eq!(carol.get(&format!("/console/notifications/channels/{id}")).status, 403);
    assert_eq!(alice.get("/console/notifications/channels/nch_nope").status, 404);

    // Disabling: refused without the token and for an approver; then done; twice is a conflict.
    let disable = format!("/console/notifications/channels/{id}/disable");
    assert_eq!(alice.post(&disable, &[("reason", "x")]).status, 403);
    assert_eq!(carol.post(&disable, &[("csrf", &carol_csrf)]).status, 403);
    assert_eq!(named("payments approvers")["enabled"], true);
    let off = alice.post(&disable, &[("csrf", &csrf), ("reason", "moved to #payments-2")]);
    assert_eq!(off.location.as_deref(), Some("/console/notifications?done=disable"), "{}", off.body);
    let page = alice.get("/console/notifications?done=disable");
    assert!(
        page.body.contains("Channel disabled") && page.body.contains("moved to #payments-2"),
        "{}",
        page.body
    );
    assert_eq!(named("payments approvers")["enabled"], false);
    assert_eq!(named("ir")["enabled"], true, "only that one");
    let again = alice.post(&disable, &[("csrf", &csrf)]);
    assert_eq!(again.status, 409);
    assert!(again.body.contains("already disabled"));
    assert_eq!(w.events("notification.channel_created").len(), 2);
    assert_eq!(w.events("notification.channel_disabled").len(), 1);
}

/// A local receiver that answers 200 to every request and keeps each POST's body.
fn chat_receiver() -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks/chat", listener.local_addr().unwrap());
    let bodies: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let kept = bodies.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let (mut line, mut length) = (String::new(), 0usize);
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0u8; length];
            reader.read_exact(&mut body).unwrap();
            kept.lock().unwrap().push(String::from_utf8(body).unwrap());
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
        }
    });
    (url, bodies)
}

/// A channel added in the console receives its message, and its page shows the delivery.
#[test]
fn a_channel_added_in_the_console_shows_what_it_was_sent() {
    let clock = Arc::new(ManualClock::new(datetime!(2026-12-07 09:00 UTC)));
    let settings = gavel_core::Settings { webhooks_allow_private: true, ..Default::default() };
    let server = Server::start_with(clock, settings);
    let alice = server.state.gavel.bootstrap_admin().unwrap().unwrap().token;
    let (url, bodies) = chat_receiver();
    let mut browser = Browser::new(&server);
    assert_eq!(browser.sign_in(&alice).status, 303);
    let csrf = browser.get("/console/notifications").csrf();
    let made = browser.post(
        "/console/notifications/channels",
        &[("csrf", &csrf), ("name", "ir"), ("format", "json"), ("url", &url), ("events", "incident.opened")],
    );
    assert_eq!(made.status, 303, "{}", made.body);
    let id = server.ok("GET", "/v1/notifications/channels", &alice, None)["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let incident = server.ok(
        "POST",
        "/v1/incidents",
        &alice,
        Some(json!({"title": "mailer sends to strangers", "severity": "high"})),
    );
    let incident_id = incident["id"].as_str().unwrap();

    // Waits (not a timing assertion: only for the dispatcher to have sent and recorded it).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let page = loop {
        let page = browser.get(&format!("/console/notifications/channels/{id}"));
        if page.body.contains("incident.opened — delivered") {
            break page;
        }
        assert!(std::time::Instant::now() < deadline, "no delivery shown: {}", page.body);
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let sent = bodies.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].contains("mailer sends to strangers"), "{}", sent[0]);
    for needle in [
        format!("incident.opened:{incident_id}"),
        format!("/console/incidents/{incident_id}"),
        "HTTP 200".to_string(),
        "mailer sends to strangers".to_string(),
    ] {
        assert!(page.body.contains(&needle), "{needle}: {}", page.body);
    }
}

/// An admin exports a period in the browser, makes a share link, and the link's page verifies
/// the bundle in the browser; the bundle's page is kept as a screenshot.
#[test]
fn an_admin_exports_and_shares_a_bundle_in_a_real_browser() {
    let w = world();
    w.held_call("eve@elsewhere.test");
    let browser = gavel_testkit::Browser::start();
    browser.go(&format!("{}/console/sign-in", w.server.base));
    browser.type_into("#token", &w.alice);
    browser.submit("form button[type=submit]");
    browser.go(&format!("{}/console/evidence", w.server.base));
    assert_eq!(browser.title(), "Evidence · gavel");
    assert!(browser.text().contains("No bundle on record yet"), "{}", browser.text());
    // The form proposes this month so far (the server's clock says 2026-12-07).
    let from = browser.script("return document.querySelector('#from').value");
    let to = browser.script("return document.querySelector('#to').value");
    assert_eq!((from.as_str(), to.as_str()), (Some("2026-12-01"), Some("2026-12-08")));
    browser.submit("form[action='/console/evidence/export'] button");
    let text = browser.text();
    assert!(text.contains("Exported: the signed bundle is written and recorded."), "{text}");
    assert!(text.contains("events.jsonl") && text.contains("No link to this bundle."), "{text}");

    browser.submit("form[action$='/share'] button");
    let text = browser.text();
    assert!(text.contains("Share link created") && text.contains("Copy it now"), "{text}");
    let url = browser.script("return document.querySelector('#share-url').value");
    let url = url.as_str().unwrap().to_string();
    assert!(url.starts_with(&format!("{}/console/share/gsh_", w.server.base)), "{url}");
    screenshot(&browser, "evidence");
    assert_no_csp_violation(&browser);

    browser.go(&url);
    assert_eq!(browser.title(), "Shared evidence · gavel");
    browser.click("#verify");
    let verified = browser.wait_for(
        "return document.querySelector('main').dataset.verified || null",
        std::time::Duration::from_secs(30),
    );
    assert_eq!(verified, "yes", "{}", browser.text());
    assert_no_csp_violation(&browser);
}
