//! The real server on a loopback port, for the end-to-end tests.
#![allow(dead_code)] // each test file uses a different part

use gavel_ledger::clock::Clock;
use gavel_server::AppState;
use gavel_store::layout::DataDir;
use gavel_store::Log;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

pub struct Server {
    pub base: String,
    pub state: AppState,
    /// The log under the server's domain, for the tests' own reads and checks.
    pub log: Arc<Log>,
    pub dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// What [`Server::reopen`] starts the next server with.
    clock: Arc<dyn Clock>,
    settings: gavel_core::Settings,
    dispatch: gavel_server::webhooks::DispatchConfig,
    tweak: Tweak,
}

/// Changes the state a test server starts with (readiness bounds, detector tunables, …).
type Tweak = Arc<dyn Fn(AppState) -> AppState + Send + Sync>;

impl Server {
    pub fn start() -> Server {
        Self::start_with(Arc::new(gavel_ledger::clock::SystemClock), gavel_core::Settings::default())
    }

    pub fn start_with(clock: Arc<dyn Clock>, settings: gavel_core::Settings) -> Server {
        Self::launch(tempfile::tempdir().unwrap(), clock, settings, Default::default(), Arc::new(|s| s))
    }

    /// A server whose state `tweak` adjusts before it serves (and again after each reopen).
    pub fn start_tweaked(tweak: impl Fn(AppState) -> AppState + Send + Sync + 'static) -> Server {
        Self::launch(
            tempfile::tempdir().unwrap(),
            Arc::new(gavel_ledger::clock::SystemClock),
            gavel_core::Settings::default(),
            Default::default(),
            Arc::new(tweak),
        )
    }

    /// A server on `clock` whose state `tweak` adjusts before it serves.
    pub fn start_full(
        clock: Arc<dyn Clock>,
        tweak: impl Fn(AppState) -> AppState + Send + Sync + 'static,
    ) -> Server {
        Self::launch(
            tempfile::tempdir().unwrap(),
            clock,
            gavel_core::Settings::default(),
            Default::default(),
            Arc::new(tweak),
        )
    }

    /// A server with the given webhook dispatcher tunables (e.g. a short retry schedule).
    pub fn start_with_webhooks(
        clock: Arc<dyn Clock>,
        settings: gavel_core::Settings,
        dispatch: gavel_server::webhooks::DispatchConfig,
    ) -> Server {
        Self::launch(tempfile::tempdir().unwrap(), clock, settings, dispatch, Arc::new(|s| s))
    }

    /// Stops this server and starts a new one over the same data directory (same clock,
    /// settings and dispatcher tunables), as after a restart.
    pub fn reopen(&mut self) {
        self.stop();
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        *self = Self::launch(
            dir,
            self.clock.clone(),
            self.settings.clone(),
            self.dispatch.clone(),
            self.tweak.clone(),
        );
    }

    fn launch(
        dir: tempfile::TempDir,
        clock: Arc<dyn Clock>,
        settings: gavel_core::Settings,
        dispatch: gavel_server::webhooks::DispatchConfig,
        tweak: Tweak,
    ) -> Server {
        let (log, _) = Log::open(&DataDir::new(dir.path()), clock.clone(), Some("e2e")).unwrap();
        let log = Arc::new(log);
        let gavel = gavel_core::Gavel::new(log.clone(), clock.clone()).with_settings(settings.clone());
        // Nothing runs on a schedule in tests unless a test asks: their logs hold only what they did.
        let state = AppState::new(gavel)
            .with_webhooks(dispatch.clone())
            .with_retention_purge_every(None)
            .with_compliance_schedule(gavel_core::evidence_runs::Schedule {
                scan_every: None,
                monthly_export: false,
                copy_to: None,
                upload_to: None,
                checks: Default::default(),
            });
        let state = tweak(state);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let serve_state = state.clone();
        let thread = std::thread::spawn(move || {
            let rt =
                tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                gavel_server::serve(serve_state, listener, Duration::from_secs(3600), async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
            });
        });
        let addr = addr_rx.recv().unwrap();
        Server {
            base: format!("http://{addr}"),
            state,
            log,
            dir,
            shutdown: Some(tx),
            thread: Some(thread),
            clock,
            settings,
            dispatch,
            tweak,
        }
    }

    pub fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }

    /// GET raw bytes (for bundle files); returns status and body.
    pub fn get_bytes(&self, path: &str, token: Option<&str>) -> (u16, Vec<u8>) {
        let mut req = ureq::get(&format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        let resp = match req.call() {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("GET {path}: {e}"),
        };
        let status = resp.status();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut resp.into_reader(), &mut bytes).unwrap();
        (status, bytes)
    }

    pub fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let mut req = ureq::request(method, &format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        let result = match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        };
        let resp = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        let status = resp.status();
        let text = resp.into_string().unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    pub fn ok(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Value {
        let (status, v) = self.call(method, path, Some(token), body);
        assert!((200..300).contains(&status), "{method} {path}: {status} {v}");
        v
    }

    /// The bootstrap admin's token (a fresh log has one, once).
    pub fn bootstrap_admin(&self) -> String {
        self.state.gavel.bootstrap_admin().unwrap().unwrap().token
    }

    /// A new user `name` with `role`, created by `admin`: its token.
    pub fn user(&self, admin: &str, name: &str, role: &str) -> String {
        self.ok("POST", "/v1/users", admin, Some(json!({"name": name, "role": role})))["token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// `text` proposed as the policy set `set_id` by `proposer` and approved by `approver`: live.
    pub fn install_policy(&self, proposer: &str, approver: &str, set_id: &str, text: &str) {
        let change = self.ok("POST", "/v1/policies", proposer, Some(json!({"set_id": set_id, "text": text})));
        self.ok(
            "POST",
            &format!("/v1/policies/changes/{}/approve", change["id"].as_str().unwrap()),
            approver,
            None,
        );
    }
}

/// Who most end-to-end tests start with, made by [`team`] on a fresh server.
pub struct Team<const N: usize> {
    /// The bootstrap admin.
    pub alice: String,
    /// An admin: the second one a policy change needs (its author cannot approve it).
    pub bob: String,
    /// The tokens of the users asked for, in their order.
    pub users: [String; N],
    /// The agent's creation answer (its `id`, `token`, …).
    pub agent: Value,
}

/// On a fresh server, in this order: alice (the bootstrap admin); bob, an admin; the `users`
/// (name, role); the agent whose creation body is `agent`; and `policy` live as the set `team`,
/// proposed by alice and approved by bob.
pub fn team<const N: usize>(
    server: &Server,
    users: [(&str, &str); N],
    agent: Value,
    policy: &str,
) -> Team<N> {
    let alice = server.bootstrap_admin();
    let bob = server.user(&alice, "bob", "admin");
    let users = users.map(|(name, role)| server.user(&alice, name, role));
    let agent = server.ok("POST", "/v1/agents", &alice, Some(agent));
    server.install_policy(&alice, &bob, "team", policy);
    Team { alice, bob, users, agent }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn assert_error(resp: (u16, Value), status: u16, code: &str, needle: &str) {
    assert_eq!(resp.0, status, "{}", resp.1);
    assert_eq!(resp.1["error"]["code"], code, "{}", resp.1);
    let msg = resp.1["error"]["message"].as_str().unwrap_or_default().to_lowercase();
    assert!(msg.contains(&needle.to_lowercase()), "message {msg:?} lacks {needle:?}");
}
