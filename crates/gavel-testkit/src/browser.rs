//! A real headless Chromium (Debian's `chromium` and `chromium-driver`), driven over the W3C
//! WebDriver protocol: the console's tests load its pages, type, click and read what a person
//! would see, in the browser gavel's users run. `.ci/run` installs both packages; a missing one
//! fails the test with what to install, never skips it.

use serde_json::{json, Value};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The W3C element reference key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process with one browser session; both end when dropped.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: ureq::Agent,
    _profile: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session (no sandbox: tests run as root in CI).
    pub fn start() -> Browser {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("chromedriver is required by this test (Debian: apt-get install chromium chromium-driver; .ci/run installs it): {e}")
            });
        let http = ureq::AgentBuilder::new().timeout(Duration::from_secs(60)).build();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = http
                .get(&format!("{base}/status"))
                .call()
                .ok()
                .and_then(|r| r.into_json::<Value>().ok())
                .is_some_and(|v| v["value"]["ready"] == true);
            if ready {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not become ready");
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = tempfile::tempdir().expect("a profile directory");
        let mut browser = Browser { driver, base, session: String::new(), http, _profile: profile };
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,900",
                         format!("--user-data-dir={}", browser._profile.path().display())],
            },
        }}});
        let created = browser.call("POST", "/session", Some(caps));
        browser.session = created["sessionId"].as_str().expect("a session id").to_string();
        browser
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let req = self.http.request(method, &format!("{}{path}", self.base));
        let resp = match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        };
        let resp = match resp {
            Ok(r) => r,
            Err(ureq::Error::Status(code, r)) => {
                panic!("WebDriver {method} {path}: {code} {}", r.into_string().unwrap_or_default())
            }
            Err(e) => panic!("WebDriver {method} {path}: {e}"),
        };
        resp.into_json::<Value>().expect("a JSON answer")["value"].clone()
    }

    fn in_session(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.call(method, &format!("/session/{}{path}", self.session), body)
    }

    /// Loads `url` and waits for the page (and any redirects) to finish.
    pub fn go(&self, url: &str) {
        self.in_session("POST", "/url", Some(json!({ "url": url })));
    }

    pub fn url(&self) -> String {
        self.in_session("GET", "/url", None).as_str().unwrap_or_default().to_string()
    }

    pub fn title(&self) -> String {
        self.in_session("GET", "/title", None).as_str().unwrap_or_default().to_string()
    }

    /// The page's visible text.
    pub fn text(&self) -> String {
        let body = self.find("body");
        self.in_session("GET", &format!("/element/{body}/text"), None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The first element matching a CSS selector (panics when there is none).
    pub fn find(&self, css: &str) -> String {
        let found = self.in_session("POST", "/element", Some(json!({"using": "css selector", "value": css})));
        found[ELEMENT].as_str().unwrap_or_else(|| panic!("no element matches {css}: {found}")).to_string()
    }

    /// Types `text` into the element matching `css`.
    pub fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css);
        self.in_session("POST", &format!("/element/{el}/value"), Some(json!({ "text": text })));
    }

    /// Clicks the element matching `css`, a button that submits a form, and waits until the
    /// next page has loaded (WebDriver's click may return while the navigation is under way).
    pub fn submit(&self, css: &str) {
        let el = self.find(css);
        // A mark on this document: the next one does not have it.
        self.script("window.__gavelOldPage = true; return null");
        self.in_session("POST", &format!("/element/{el}/click"), Some(json!({})));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let loaded = self.try_script(
                "return window.__gavelOldPage === undefined && document.readyState === 'complete'",
            );
            if loaded == Some(Value::Bool(true)) {
                return;
            }
            assert!(Instant::now() < deadline, "clicking {css} loaded no new page");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Clicks the element matching `css` (a button that runs the page's script; no navigation).
    pub fn click(&self, css: &str) {
        let el = self.find(css);
        self.in_session("POST", &format!("/element/{el}/click"), Some(json!({})));
    }

    /// Waits until `script` returns something other than `null` or `false`, and returns it.
    pub fn wait_for(&self, script: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            match self.try_script(script) {
                Some(Value::Null) | Some(Value::Bool(false)) | None => {}
                Some(v) => return v,
            }
            assert!(Instant::now() < deadline, "waited {within:?} in vain for {script}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Saves a PNG screenshot of the window to `path` (creating its directory).
    pub fn screenshot(&self, path: &std::path::Path) {
        use base64::Engine as _;
        let png = self.in_session("GET", "/screenshot", None);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().expect("a base64 screenshot"))
            .expect("valid base64");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("the screenshot directory");
        }
        std::fs::write(path, bytes).expect("write the screenshot");
    }

    /// [`Browser::script`], `None` while the page cannot run it (between two documents).
    fn try_script(&self, script: &str) -> Option<Value> {
        let url = format!("{}/session/{}/execute/sync", self.base, self.session);
        let resp = self.http.post(&url).send_json(json!({"script": script, "args": []})).ok()?;
        resp.into_json::<Value>().ok().map(|v| v["value"].clone())
    }

    /// Runs `script` in the page (WebDriver's own channel, not subject to the page's CSP) and
    /// returns its value.
    pub fn script(&self, script: &str) -> Value {
        self.in_session("POST", "/execute/sync", Some(json!({"script": script, "args": []})))
    }

    /// The browser's cookies for the current page, as WebDriver reports them.
    pub fn cookies(&self) -> Vec<Value> {
        self.in_session("GET", "/cookie", None).as_array().cloned().unwrap_or_default()
    }

    /// The browser's console log entries (CSP violations appear here).
    pub fn console_log(&self) -> Vec<Value> {
        self.in_session("POST", "/se/log", Some(json!({"type": "browser"})))
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.http.delete(&format!("{}/session/{}", self.base, self.session)).call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
