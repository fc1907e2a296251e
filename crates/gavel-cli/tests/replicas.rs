//! Several `gavel serve` replicas on one PostgreSQL (issue 18), end to end: real processes, a real
//! database started by the test (gavel-testkit), real HTTP.
//!
//! What must hold: the replicas extend one chain (no gap, no fork), every decision acknowledged
//! with a 200 is in the log at the seq it was told, the log and its checkpoints verify; a replica
//! killed with SIGKILL under load loses nothing it acknowledged; with the database stopped,
//! decide answers 503 (fail closed) and readiness goes unready, and both recover when the
//! database returns; background work runs on one replica at a time (leases).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

mod common;

use common::{clean, json, str_of, terminate};
use gavel_testkit::Postgres;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One data directory per replica (its keys are copies of the first one's), one database.
struct Cluster {
    tmp: tempfile::TempDir,
    database: String,
    admin: String,
    replicas: Vec<Replica>,
}

struct Replica {
    child: Child,
    url: String,
    data: PathBuf,
}

impl Drop for Replica {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn gavel(args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gavel"));
    clean(&mut cmd).env_remove("GAVEL_DATABASE_URL").args(args).output().unwrap()
}

const CONFIG: &str =
    "checkpoint_interval_secs = 1\nready_probe_interval_secs = 1\nready_min_free_disk_mb = 0\n";

impl Cluster {
    /// `gavel init` on the database, then `count` replicas serving it.
    fn start(database: String, count: usize) -> Cluster {
        let tmp = tempfile::tempdir().unwrap();
        let first = tmp.path().join("replica-0");
        let init = json(&gavel(&[
            "init",
            "--org",
            "acme",
            "--json",
            "--data-dir",
            first.to_str().unwrap(),
            "--database",
            &database,
        ]));
        let admin = str_of(&init, "admin_token").to_string();
        for i in 1..count {
            copy_keys(&first, &tmp.path().join(format!("replica-{i}")));
        }
        let mut cluster = Cluster { tmp, database, admin, replicas: Vec::new() };
        for i in 0..count {
            let data = cluster.tmp.path().join(format!("replica-{i}"));
            std::fs::write(data.join("gavel.toml"), CONFIG).unwrap();
            let replica = cluster.spawn(&data);
            cluster.replicas.push(replica);
        }
        cluster
    }

    fn spawn(&self, data: &Path) -> Replica {
        let log =
            std::fs::OpenOptions::new().create(true).append(true).open(data.join("server.log")).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_gavel"))
            .args(["serve", "--addr", "127.0.0.1:0", "--data-dir", data.to_str().unwrap(), "--database"])
            .arg(&self.database)
            .env_remove("GAVEL_DATA_DIR")
            .env_remove("GAVEL_CONFIG")
            .env_remove("GAVEL_ADDR")
            .env_remove("GAVEL_DATABASE_URL")
            .env_remove("RUST_LOG")
            .env("GAVEL_LOG_FORMAT", "json")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let lines = gavel_testkit::stdout_lines(&mut child);
        let url = gavel_testkit::line_after(&lines, "gavel listening on ", Duration::from_secs(60))
            .unwrap_or_else(|| {
                panic!(
                    "gavel serve did not start: {}",
                    std::fs::read_to_string(data.join("server.log")).unwrap()
                )
            });
        Replica { child, url, data: data.to_path_buf() }
    }

    /// SIGKILL replica `i` (a crash: nothing is flushed) and start it again on its directory.
    fn kill_and_restart(&mut self, i: usize) {
        let data = self.replicas[i].data.clone();
        let _ = self.replicas[i].child.kill();
        let _ = self.replicas[i].child.wait();
        self.replicas[i] = self.spawn(&data);
    }

    fn urls(&self) -> Vec<String> {
        self.replicas.iter().map(|r| r.url.clone()).collect()
    }

    /// A new agent's token, created through replica 0.
    fn agent(&self) -> String {
        let out = gavel(&[
            "agents",
            "create",
            "fleet",
            "--json",
            "--server",
            &self.replicas[0].url,
            "--token",
            &self.admin,
        ]);
        str_of(&json(&out), "token").to_string()
    }

    /// Stops every replica gracefully (SIGTERM, exit 0).
    fn stop(&mut self) {
        for r in &mut self.replicas {
            terminate(&mut r.child);
            let status = r.child.wait().unwrap();
            let log = std::fs::read_to_string(r.data.join("server.log")).unwrap_or_default();
            assert!(status.success(), "a replica exited with {status}: {log}");
        }
    }

    fn verify(&self) -> Value {
        let data = self.tmp.path().join("replica-0");
        json(&gavel(&[
            "audit",
            "verify",
            "--json",
            "--data-dir",
            data.to_str().unwrap(),
            "--database",
            &self.database,
        ]))
    }
}

fn copy_keys(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.join("keys")).unwrap();
    for entry in std::fs::read_dir(from.join("keys")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join("keys").join(entry.file_name())).unwrap();
    }
}

/// One decide call as a client saw it.
#[derive(Clone, Debug)]
struct Answer {
    sent: Instant,
    /// 0: no HTTP answer at all (the connection dropped: the replica died).
    status: u16,
    body: Value,
}

/// Clients deciding in a loop, each on a fixed replica (as behind a load balancer).
struct Clients {
    stop: Arc<AtomicBool>,
    answers: Arc<Mutex<Vec<Answer>>>,
    urls: Arc<Mutex<Vec<String>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Clients {
    fn start(urls: &[String], token: &str, count: usize) -> Clients {
        let stop = Arc::new(AtomicBool::new(false));
        let answers = Arc::new(Mutex::new(Vec::new()));
        let urls = Arc::new(Mutex::new(urls.to_vec()));
        let threads = (0..count)
            .map(|client| {
                let (stop, answers, urls) = (stop.clone(), answers.clone(), Arc::clone(&urls));
                let token = token.to_string();
                std::thread::spawn(move || {
                    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(30)).build();
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        let url = {
                            let urls = urls.lock().unwrap();
                            urls[client % urls.len()].clone()
                        };
                        let sent = Instant::now();
                        let response = agent
                            .post(&format!("{url}/v1/decide"))
                            .set("Authorization", &format!("Bearer {token}"))
                            .send_json(
                                json!({"tool": "search_docs", "arguments": {"client": client, "n": n}}),
                            );
                        let (status, body) = match response {
                            Ok(r) => (r.status(), r.into_json().unwrap_or(Value::Null)),
                            Err(ureq::Error::Status(code, r)) => (code, r.into_json().unwrap_or(Value::Null)),
                            Err(e) => (0, Value::String(e.to_string())),
                        };
                        answers.lock().unwrap().push(Answer { sent, status, body });
                        if status != 200 {
                            std::thread::sleep(Duration::from_millis(20));
                        }
                    }
                })
            })
            .collect();
        Clients { stop, answers, urls, threads }
    }

    fn count(&self) -> usize {
        self.answers.lock().unwrap().len()
    }

    fn answers(&self) -> Vec<Answer> {
        self.answers.lock().unwrap().clone()
    }

    fn finish(self) -> Vec<Answer> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().unwrap();
        }
        let answers = self.answers.lock().unwrap().clone();
        answers
    }
}

fn wait_until(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out after {secs} s waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The log as the database holds it: per seq, the decision id of each decision event, and the
/// number of events and the largest seq.
fn logged_decisions(pg: &Postgres, database: &str) -> (BTreeMap<u64, String>, u64, Option<u64>) {
    let rows = pg.psql(
        database,
        "SELECT seq, convert_from(body, 'UTF8')::jsonb -> 'data' ->> 'decision_id' FROM events WHERE kind = 'decision' ORDER BY seq",
    );
    let decisions = rows
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (seq, id) = l.split_once('|').unwrap();
            (seq.parse().unwrap(), id.to_string())
        })
        .collect();
    let counts = pg.psql(database, "SELECT count(*), max(seq) FROM events");
    let (count, max) = counts.trim().split_once('|').unwrap();
    (decisions, count.parse().unwrap(), max.parse().ok())
}

/// Every 200 is a decision in the log at the seq it was told; no seq is missing or doubled.
fn assert_every_acknowledged_decision_is_logged(pg: &Postgres, database: &str, answers: &[Answer]) -> usize {
    let (logged, count, max) = logged_decisions(pg, database);
    assert_eq!(Some(count), max.map(|m| m + 1), "the chain has a gap: {count} events, last seq {max:?}");
    let mut acknowledged = 0;
    for a in answers.iter().filter(|a| a.status == 200) {
        let seq = a.body["seq"].as_u64().unwrap();
        let id = str_of(&a.body, "decision_id");
        assert_eq!(
            logged.get(&seq).map(String::as_str),
            Some(id),
            "acknowledged decision {id} is not at seq {seq}"
        );
        acknowledged += 1;
    }
    acknowledged
}

fn ready(url: &str) -> (u16, Value) {
    match ureq::get(&format!("{url}/readyz")).call() {
        Ok(r) => (r.status(), r.into_json().unwrap_or(Value::Null)),
        Err(ureq::Error::Status(code, r)) => (code, r.into_json().unwrap_or(Value::Null)),
        Err(e) => (0, Value::String(e.to_string())),
    }
}

#[test]
fn three_replicas_with_64_clients_extend_one_chain_and_run_background_work_once() {
    let pg = Postgres::shared();
    let database = pg.create_database();
    let mut cluster = Cluster::start(database.clone(), 3);
    let token = cluster.agent();
    let clients = Clients::start(&cluster.urls(), &token, 64);
    wait_until(120, "3,000 decisions over three replicas", || clients.count() >= 3000);
    let answers = clients.finish();
    for a in &answers {
        assert_eq!(a.status, 200, "decide answered {} {}", a.status, a.body);
    }
    // Each replica answered a third of the clients, and their seqs interleave in one chain.
    let acknowledged = assert_every_acknowledged_decision_is_logged(pg, &database, &answers);
    assert_eq!(acknowledged, answers.len());
    // Every replica serves the same log: the same checkpoint size is reachable from each.
    std::thread::sleep(Duration::from_millis(1500));
    let heads: Vec<u64> = cluster
        .urls()
        .iter()
        .map(|url| {
            let answer: Value = ureq::get(&format!("{url}/v1/audit/checkpoint"))
                .set("Authorization", &format!("Bearer {}", cluster.admin))
                .call()
                .unwrap()
                .into_json()
                .unwrap();
            answer["tree_size"].as_u64().unwrap_or_else(|| panic!("{answer}"))
        })
        .collect();
    assert!(heads.iter().all(|&h| h + 50 >= heads[0] && heads[0] + 50 >= h), "{heads:?}");
    // One holder per lease; every checkpoint stored verifies against the log.
    let leases = pg.psql(&database, "SELECT name || '=' || holder FROM leases ORDER BY name");
    assert!(leases.contains("detectors=") && leases.contains("checkpoints="), "{leases}");
    let holders: std::collections::BTreeSet<&str> =
        leases.lines().filter_map(|l| l.split_once('=')).map(|(_, h)| h).collect();
    assert!(!holders.is_empty(), "{leases}");
    // The lease holder signed checkpoints as the log grew (one a second).
    let signed: u64 = pg.psql(&database, "SELECT count(*) FROM checkpoints").trim().parse().unwrap();
    assert!(signed >= 3, "{signed} checkpoints");
    cluster.stop();
    let verify = cluster.verify();
    assert_eq!(verify["valid"], true, "{verify}");
    assert!(verify["checkpoints_checked"].as_u64().unwrap() >= 1, "{verify}");
    eprintln!("three replicas: {} decisions acknowledged, leases: {leases}", answers.len());
}

#[test]
fn a_replica_killed_under_load_loses_nothing_it_acknowledged() {
    let pg = Postgres::shared();
    let database = pg.create_database();
    let mut cluster = Cluster::start(database.clone(), 3);
    let token = cluster.agent();
    let clients = Clients::start(&cluster.urls(), &token, 24);
    for trial in 0..20 {
        let victim = trial % 3;
        let before = clients.count();
        wait_until(60, "decisions before the kill", || clients.count() >= before + 60);
        cluster.kill_and_restart(victim);
        // The clients of the restarted replica follow it to its new port.
        let urls = cluster.urls();
        *clients_urls(&clients) = urls;
    }
    let count = clients.count();
    wait_until(60, "decisions after the last restart", || clients.count() >= count + 100);
    let answers = clients.finish();
    for a in &answers {
        assert!(
            matches!(a.status, 200 | 0 | 503),
            "decide answered {} {} (only 200, 503 or a dropped connection)",
            a.status,
            a.body
        );
    }
    let acknowledged = assert_every_acknowledged_decision_is_logged(pg, &database, &answers);
    let dropped = answers.iter().filter(|a| a.status == 0).count();
    cluster.stop();
    let verify = cluster.verify();
    assert_eq!(verify["valid"], true, "{verify}");
    eprintln!("20 SIGKILLs: {acknowledged} acknowledged decisions all logged, {dropped} calls cut off");
}

/// The shared URL list of [`Clients`] (replaced when a replica restarts on a new port).
fn clients_urls(clients: &Clients) -> std::sync::MutexGuard<'_, Vec<String>> {
    clients.urls.lock().unwrap()
}

#[test]
fn with_the_database_stopped_decide_fails_closed_and_everything_recovers() {
    // A server of this test's own: it is stopped and started again.
    let pg = Postgres::start();
    let database = pg.create_database();
    let mut cluster = Cluster::start(database.clone(), 2);
    let token = cluster.agent();
    let clients = Clients::start(&cluster.urls(), &token, 8);
    wait_until(60, "100 decisions", || clients.count() >= 100);

    pg.stop();
    let stopped = Instant::now();
    wait_until(30, "decide 503 and /readyz unready on every replica", || {
        let recent: Vec<_> =
            clients.answers().into_iter().filter(|a| a.sent > stopped + Duration::from_secs(1)).collect();
        recent.len() >= 20
            && recent.iter().rev().take(20).all(|a| a.status == 503)
            && cluster.urls().iter().all(|u| ready(u).0 == 503)
    });
    let (_, readiness) = ready(&cluster.urls()[0]);
    assert_eq!(readiness["checks"]["commit"]["ok"], false, "{readiness}");
    // Fail closed: nothing but 503 (or a 200 sent before the stop) while the database is away.
    let during = clients.answers();
    let bad: Vec<_> =
        during.iter().filter(|a| a.sent > stopped + Duration::from_secs(1) && a.status != 503).collect();
    assert!(bad.is_empty(), "decide did not fail closed: {:?}", &bad[..bad.len().min(3)]);

    pg.start_server();
    let back = Instant::now();
    wait_until(60, "decide 200 and /readyz ready again on every replica", || {
        clients.answers().iter().any(|a| a.sent > back && a.status == 200)
            && cluster.urls().iter().all(|u| ready(u).0 == 200)
    });
    let count = clients.count();
    wait_until(60, "50 more decisions", || clients.count() >= count + 50);
    let answers = clients.finish();
    for a in &answers {
        assert!(matches!(a.status, 200 | 503), "decide answered {} {}", a.status, a.body);
    }
    assert_every_acknowledged_decision_is_logged(&pg, &database, &answers);
    cluster.stop();
    let verify = cluster.verify();
    assert_eq!(verify["valid"], true, "{verify}");
}

/// `gavel migrate` copies an SQLite log (a short demo: decisions, approvals, incidents, purges'
/// kin) into PostgreSQL; the copy has the same root and verifies, a second copy into the same
/// database is refused, and a replica then serves the copied log (ready, the chain intact).
#[test]
fn an_sqlite_log_migrated_to_postgres_is_the_same_log_and_replicas_serve_it() {
    let pg = Postgres::shared();
    let database = pg.create_database();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let data_arg = data.to_str().unwrap();
    json(&gavel(&["demo", "--days", "3", "--calls-per-day", "10", "--data-dir", data_arg, "--json"]));
    let local = json(&gavel(&["audit", "verify", "--json", "--data-dir", data_arg]));
    assert_eq!(local["valid"], true, "{local}");

    let migrated = json(&gavel(&["migrate", "--data-dir", data_arg, "--to", &database, "--json"]));
    assert_eq!(migrated["source_root"], migrated["target_root"], "{migrated}");
    assert_eq!(migrated["events"], local["total"], "{migrated}");
    assert!(migrated["documents"].as_u64().unwrap() > 0, "{migrated}");
    assert_eq!(migrated["verify"]["valid"], true, "{migrated}");
    // The copy verifies on its own too, and so does the untouched source.
    let copy = json(&gavel(&["audit", "verify", "--json", "--data-dir", data_arg, "--database", &database]));
    assert_eq!(
        (copy["valid"].clone(), copy["total"].clone()),
        (json!(true), local["total"].clone()),
        "{copy}"
    );
    let sqlite_root =
        pg.psql(&database, "SELECT encode(root, 'hex') FROM checkpoints ORDER BY size DESC LIMIT 1");
    assert!(!sqlite_root.trim().is_empty());

    // Into a database that holds a log: refused, and nothing changes.
    let again = gavel(&["migrate", "--data-dir", data_arg, "--to", &database]);
    let err = common::refused(&again);
    assert!(err.contains("already holds a log"), "{err}");
    assert_eq!(
        json(&gavel(&["audit", "verify", "--json", "--data-dir", data_arg, "--database", &database]))
            ["total"],
        local["total"]
    );
    // A bad target is a clear error.
    let err = common::refused(&gavel(&["migrate", "--data-dir", data_arg, "--to", "mysql://x/y"]));
    assert!(err.contains("must start with postgres://"), "{err}");

    // A replica serves the copied log.
    let cluster_dir = tmp.path().join("replica");
    copy_keys(&data, &cluster_dir);
    std::fs::write(cluster_dir.join("gavel.toml"), CONFIG).unwrap();
    let cluster = Cluster { tmp, database: database.clone(), admin: String::new(), replicas: Vec::new() };
    let replica = cluster.spawn(&cluster_dir);
    let size = local["total"].as_u64().unwrap();
    let (status, ready) = ready(&replica.url);
    assert_eq!(status, 200, "{ready}");
    drop(replica);
    let (_, count, max) = logged_decisions(pg, &database);
    assert!(count >= size && max == Some(count - 1), "{count} events after serving a log of {size}");
}
