//! Faults (issue 14) end to end, against the real `gavel serve`: the disk fills up under
//! concurrent decisions, and another process holds the database.
//!
//! What must hold whatever the fault: every decide answers either 200 with a decision that the log
//! holds at the seq it names, or 503 `unavailable` (the agent denies the call) — never another
//! status, never a dropped connection; the server never exits; `/readyz` and the metrics name the
//! `commit` check while the log cannot commit; and when the fault goes away the server recovers
//! without a restart, and the log verifies.
//!
//! *Disk full* without root or a special filesystem: the file-size limit (RLIMIT_FSIZE) of the
//! running server is lowered with util-linux `prlimit --pid` to the database file's size, so no
//! write reaches past it — the database, its WAL, and the server's own log file (which the test
//! pads past the limit first: on a full disk the log cannot grow either). Raising the limit is the
//! disk getting room again. A real ENOSPC (a small tmpfs) behaves the same way, except that SQLite
//! says "database or disk is full" where EFBIG gives "disk I/O error", and the readiness `disk`
//! check fails too; mounting needs privileges a test cannot assume, so it is not run here.
//!
//! *Locked*: the server holds its database with one exclusive POSIX lock for as long as it runs
//! (SQLite's `unix-excl` VFS), so no other process can lock it out while it runs; what another
//! process can do is hold the database when the server starts, which must end the start at once
//! with a clear error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

mod common;

use common::{clean, json, str_of, Server};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One decide call as a client saw it.
#[derive(Clone, Debug)]
struct Answer {
    sent: Instant,
    /// 0: no HTTP answer at all (the connection dropped).
    status: u16,
    body: Value,
}

fn post_decide(agent: &ureq::Agent, url: &str, token: &str, args: Value) -> (u16, Value) {
    let response = agent
        .post(&format!("{url}/v1/decide"))
        .set("Authorization", &format!("Bearer {token}"))
        .send_json(json!({"tool": "search_docs", "arguments": args}));
    match response {
        Ok(r) => (r.status(), r.into_json().unwrap_or(Value::Null)),
        Err(ureq::Error::Status(code, r)) => (code, r.into_json().unwrap_or(Value::Null)),
        Err(e) => (0, Value::String(e.to_string())),
    }
}

/// Agents deciding in a loop on their own threads, as a fleet does; an agent told 503 backs off
/// for 10 ms before its next call.
struct Clients {
    stop: Arc<AtomicBool>,
    answers: Arc<Mutex<Vec<Answer>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Clients {
    fn start(url: &str, token: &str, count: usize) -> Clients {
        let stop = Arc::new(AtomicBool::new(false));
        let answers = Arc::new(Mutex::new(Vec::new()));
        let threads = (0..count)
            .map(|client| {
                let (stop, answers) = (stop.clone(), answers.clone());
                let (url, token) = (url.to_string(), token.to_string());
                std::thread::spawn(move || {
                    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(30)).build();
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        let sent = Instant::now();
                        let (status, body) =
                            post_decide(&agent, &url, &token, json!({"client": client, "n": n}));
                        answers.lock().unwrap().push(Answer { sent, status, body });
                        if status != 200 {
                            std::thread::sleep(Duration::from_millis(10));
                        }
                    }
                })
            })
            .collect();
        Clients { stop, answers, threads }
    }

    /// Every answer so far, in the order they arrived.
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

/// A 200 names its decision and seq; a 503 is the JSON error `unavailable`; nothing else.
fn check_answer(a: &Answer) {
    match a.status {
        200 => {
            assert!(a.body["decision_id"].as_str().is_some_and(|id| !id.is_empty()), "{}", a.body);
            assert!(a.body["seq"].as_u64().is_some(), "{}", a.body);
        }
        503 => {
            assert_eq!(a.body["error"]["code"], "unavailable", "{}", a.body);
            assert!(a.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", a.body);
        }
        _ => panic!("decide answered {} {} (only 200 or 503 is allowed)", a.status, a.body),
    }
}

/// Polls `cond` every 300 ms (the unauthenticated routes allow 300 requests a minute) until it
/// holds, for at most `secs`.
fn wait_for(secs: u64, what: &str, server: &Server, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        assert_alive(server);
        if cond() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {secs} s waiting for {what}; log tail:\n{}",
            tail(server)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The server process has not exited (it is not waited for, so an exited one is a zombie).
fn assert_alive(server: &Server) {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", server.child.id())).unwrap_or_default();
    let state = stat.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next());
    assert!(
        state.is_some_and(|s| s != 'Z' && s != 'X'),
        "gavel serve is gone ({stat:?}); log tail:\n{}",
        tail(server)
    );
}

/// The last lines of the server's log, without the padding a test appends.
fn tail(server: &Server) -> String {
    let log = server.log().replace('\0', "");
    let mut start = log.len().saturating_sub(3000);
    while !log.is_char_boundary(start) {
        start += 1;
    }
    log[start..].to_string()
}

/// One sample of the metrics text.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

fn metrics(server: &Server) -> String {
    match server.http_get("/metrics", None) {
        (200, Value::String(text)) => text,
        other => panic!("GET /metrics: {other:?}"),
    }
}

fn prlimit_fsize(pid: u32, soft: &str) {
    let out = Command::new("prlimit")
        .arg(format!("--pid={pid}"))
        .arg(format!("--fsize={soft}:unlimited"))
        .output()
        .expect("run prlimit (util-linux)");
    assert!(out.status.success(), "prlimit: {}", String::from_utf8_lossy(&out.stderr));
}

/// Every decision acknowledged with a 200 is in the log at the seq it was told (with `exact`, the
/// log holds no other decision); then `gavel audit verify` finds the log valid.
fn assert_every_acknowledged_decision_is_logged(data: &Path, answers: &[Answer], exact: bool) {
    let mut acked: Vec<(u64, String)> = answers
        .iter()
        .filter(|a| a.status == 200)
        .map(|a| (a.body["seq"].as_u64().unwrap(), str_of(&a.body, "decision_id").to_string()))
        .collect();
    acked.sort();
    let conn = rusqlite::Connection::open_with_flags(
        data.join("gavel.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut stmt = conn.prepare("SELECT seq, body FROM events WHERE kind = 'decision' ORDER BY seq").unwrap();
    let logged: Vec<(u64, String)> = stmt
        .query_map([], |r| Ok((r.get::<_, u64>(0)?, r.get::<_, Vec<u8>>(1)?)))
        .unwrap()
        .map(|row| {
            let (seq, body) = row.unwrap();
            let event: Value = serde_json::from_slice(&body).unwrap();
            (seq, str_of(&event["data"], "decision_id").to_string())
        })
        .collect();
    let missing: Vec<_> = acked.iter().filter(|a| logged.binary_search(a).is_err()).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged decisions are not in the log: {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    if exact {
        assert_eq!(logged.len(), acked.len(), "the log holds decisions no client was told about");
    }
    // Closed first: the database is one process's at a time.
    drop(stmt);
    drop(conn);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gavel"));
    let verify =
        json(&clean(&mut cmd).args(["audit", "verify", "--json", "--data-dir"]).arg(data).output().unwrap());
    assert_eq!(verify["valid"], true, "{verify}");
}

/// Disk full under concurrent decisions: 503s (never a 200 without a record, never a crash),
/// readiness and metrics say `commit`; room again: 200s and ready without a restart; every
/// acknowledged decision is in the log and the log verifies.
#[test]
fn a_full_disk_answers_503_and_the_server_recovers_without_a_restart() {
    let started = Instant::now();
    // A probe every second, a checkpoint every second (signing runs into the full disk too).
    let server = Server::start_with_config(Some(
        "ready_probe_interval_secs = 1\ncheckpoint_interval_secs = 1\nready_min_free_disk_mb = 0\n",
    ));
    let admin = server.admin.clone();
    let agent = json(&server.gavel(Some(&admin), &["agents", "create", "fleet", "--json"]));
    let token = str_of(&agent, "token").to_string();
    let clients = Clients::start(&server.url, &token, 6);
    wait_for(20, "30 decisions before the fault", &server, || clients.answers().len() >= 30);

    // The disk fills up: nothing can be written past the database file's current size. The
    // server's log lies on the same disk: pad it past the limit, so every log line fails too.
    let data = server.tmp.path().join("data");
    let limit = std::fs::metadata(data.join("gavel.db")).unwrap().len();
    let log_len = std::fs::metadata(server.tmp.path().join("server.log")).unwrap().len();
    let mut log =
        std::fs::OpenOptions::new().append(true).open(server.tmp.path().join("server.log")).unwrap();
    log.write_all(&vec![0u8; (limit.saturating_sub(log_len) + 4096) as usize]).unwrap();
    drop(log);
    let pid = server.child.id();
    prlimit_fsize(pid, &limit.to_string());
    let full = Instant::now();

    // Once the log cannot commit, every decide answers 503 and readiness says why.
    wait_for(15, "a run of 40 decide 503s and /readyz unready on `commit`", &server, || {
        let answers = clients.answers();
        let last: Vec<_> = answers.iter().rev().take(40).collect();
        let failing = last.len() == 40 && last.iter().all(|a| a.status == 503);
        let (status, ready) = server.http_get("/readyz", None);
        failing && status == 503 && ready["failing"].as_array().is_some_and(|f| f.contains(&json!("commit")))
    });
    let (_, ready) = server.http_get("/readyz", None);
    assert_eq!(
        (ready["status"].as_str(), ready["error"]["code"].as_str()),
        (Some("unready"), Some("unavailable"))
    );
    assert_eq!(ready["checks"]["commit"]["ok"], false, "{ready}");
    let detail = ready["checks"]["commit"]["detail"].as_str().unwrap();
    assert!(detail.contains("I/O error"), "{detail}");
    let text = metrics(&server);
    assert_eq!(metric(&text, "gavel_ready"), Some(0.0), "{text}");
    assert_eq!(metric(&text, "gavel_ready_check{check=\"commit\"}"), Some(0.0), "{text}");
    assert!(metric(&text, "gavel_decide_unavailable_total").is_some_and(|n| n >= 40.0), "{text}");
    // Liveness stays: the process is fine, it must not be restarted.
    assert_eq!(server.http_get("/healthz", None).0, 200);
    // And it stays so while the disk is full: probes and checkpoint signing (every second) run
    // into it too, and no decide slips through.
    let established = Instant::now();
    while established.elapsed() < Duration::from_millis(3000) {
        let (status, ready) = server.http_get("/readyz", None);
        assert_eq!(status, 503, "ready while the disk is full: {ready}");
        std::thread::sleep(Duration::from_millis(300));
    }
    let during = clients.answers();
    let slipped: Vec<_> = during.iter().filter(|a| a.sent > established && a.status != 503).collect();
    assert!(slipped.is_empty(), "decide did not answer 503 while the disk was full: {slipped:?}");
    let failed = during.iter().filter(|a| a.status == 503).count();

    // Room again: the same process commits, answers 200 and turns ready.
    prlimit_fsize(pid, "unlimited");
    let room = Instant::now();
    let mut ready_at = None;
    wait_for(15, "decide 200 and /readyz ready after the limit was raised", &server, || {
        let decided = clients.answers().iter().any(|a| a.sent > room && a.status == 200);
        if decided && server.http_get("/readyz", None).0 == 200 {
            ready_at = Some(Instant::now());
        }
        ready_at.is_some()
    });
    let ready_at = ready_at.unwrap();
    let count = clients.answers().len();
    wait_for(10, "40 more decisions", &server, || clients.answers().len() >= count + 40);
    let answers = clients.finish();
    for a in &answers {
        check_answer(a);
    }
    let late: Vec<_> = answers.iter().filter(|a| a.sent > ready_at && a.status != 200).collect();
    assert!(late.is_empty(), "decide failed after the server was ready again: {late:?}");
    assert_eq!(server.http_get("/readyz", None).1["status"], "ready");
    assert_eq!(metric(&metrics(&server), "gavel_ready"), Some(1.0));
    // The log file takes lines again (this run's decisions are in it, after the padding).
    let log = server.log();
    let after_padding = &log[log.rfind('\0').unwrap() + 1..];
    assert!(after_padding.contains("/v1/decide"), "{}", tail(&server));

    let ok = answers.iter().filter(|a| a.status == 200).count();
    eprintln!(
        "disk full: {ok} decisions acknowledged, {failed} answered 503 during the fault ({} ms), \
         ready again {} ms after the room came back; {} s in all",
        room.duration_since(full).as_millis(),
        ready_at.duration_since(room).as_millis(),
        started.elapsed().as_secs()
    );
    let tmp = server.stop();
    assert_every_acknowledged_decision_is_logged(&tmp.path().join("data"), &answers, true);
}

/// A Python sqlite3 connection (the test oracles' interpreter, standing for a `sqlite3` shell or
/// a backup tool) on `db` that holds it as `mode` says until told to let go on stdin.
fn hold_database(db: &Path, mode: &str) -> Child {
    const HOLD: &str = r#"
import sqlite3, sys
db, mode = sys.argv[1], sys.argv[2]
c = sqlite3.connect(db, isolation_level=None, timeout=0)
if mode == "exclusive":
    c.execute("BEGIN EXCLUSIVE")
else:
    c.execute("BEGIN")
    c.execute("SELECT COUNT(*) FROM events").fetchall()
print("held", flush=True)
sys.stdin.readline()
c.execute("COMMIT")
c.close()
"#;
    let mut child = gavel_testkit::oracles::python_command()
        .args(["-c", HOLD])
        .arg(db)
        .arg(mode)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "held", "the holder did not take the database");
    child
}

fn release(mut holder: Child) {
    writeln!(holder.stdin.as_mut().unwrap()).unwrap();
    assert!(holder.wait().unwrap().success());
}

/// `gavel serve` on `data`, which must end on its own (within 15 s) and fail: returns its exit
/// code and stderr.
fn serve_must_fail(data: &Path) -> (Option<i32>, String, Duration) {
    let started = Instant::now();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gavel"));
    let mut child = clean(&mut cmd)
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .env_remove("GAVEL_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(15) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("gavel serve hung on a database another process holds");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).to_string(), started.elapsed())
}

/// A database another process holds when `gavel serve` starts — a `sqlite3` shell in `BEGIN
/// EXCLUSIVE`, or only reading — ends the start within seconds with a clear error and exit 3,
/// not a hang; once it lets go, the server starts on the same data and decides.
#[test]
fn a_database_held_by_another_process_ends_the_start_with_a_clear_error() {
    let server = Server::start();
    let admin = server.admin.clone();
    let agent = json(&server.gavel(Some(&admin), &["agents", "create", "bot", "--json"]));
    let token = str_of(&agent, "token").to_string();
    let tmp = server.stop();
    let data = tmp.path().join("data");
    let db = data.join("gavel.db");
    for mode in ["exclusive", "read"] {
        let holder = hold_database(&db, mode);
        let (code, err, took) = serve_must_fail(&data);
        assert_eq!(code, Some(3), "{mode}: {err}");
        assert!(err.starts_with("error: ") && err.contains("in use by another process"), "{mode}: {err}");
        assert!(err.contains(&db.display().to_string()), "{mode}: the error names the file: {err}");
        assert!(took < Duration::from_secs(10), "{mode}: the refusal took {took:?}");
        release(holder);
    }
    let server = Server::restart_in(tmp, admin);
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(30)).build();
    let (status, body) = post_decide(&agent, &server.url, &token, json!({}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(server.http_get("/readyz", None).0, 200);
}

/// While the server runs, no other process can lock it out: a `sqlite3` client cannot take the
/// database (not even to read: "database is locked", at once), a POSIX lock on it is refused, a
/// second `gavel serve` ends with the clear error, and a lock held on the WAL file changes
/// nothing (the server does not lock it). Decisions go on throughout and the server stays ready.
#[test]
fn while_the_server_runs_no_other_process_can_lock_it_out() {
    const PROBE: &str = r#"
import fcntl, json, os, sqlite3, sys, time
db = sys.argv[1]
out = {}
started = time.monotonic()
for what, sql in [("exclusive", "BEGIN EXCLUSIVE"), ("read", "SELECT COUNT(*) FROM events")]:
    try:
        sqlite3.connect(db, isolation_level=None, timeout=1).execute(sql).fetchall()
        out[what] = "done"
    except sqlite3.OperationalError as e:
        out[what] = str(e)
fd = os.open(db, os.O_RDWR)
try:
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    out["posix_db"] = "acquired"
except OSError as e:
    out["posix_db"] = "refused"
wal = os.open(db + "-wal", os.O_RDWR)
fcntl.lockf(wal, fcntl.LOCK_EX | fcntl.LOCK_NB)
out["posix_wal"] = "acquired"
out["secs"] = time.monotonic() - started
print(json.dumps(out), flush=True)
sys.stdin.readline()
"#;
    let server =
        Server::start_with_config(Some("ready_probe_interval_secs = 1\nready_min_free_disk_mb = 0\n"));
    let admin = server.admin.clone();
    let agent = json(&server.gavel(Some(&admin), &["agents", "create", "fleet", "--json"]));
    let token = str_of(&agent, "token").to_string();
    let clients = Clients::start(&server.url, &token, 2);
    wait_for(20, "10 decisions", &server, || clients.answers().len() >= 10);

    let data = server.tmp.path().join("data");
    let mut probe = gavel_testkit::oracles::python_command()
        .args(["-c", PROBE])
        .arg(data.join("gavel.db"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(probe.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    let seen: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(seen["exclusive"], "database is locked", "{seen}");
    assert_eq!(seen["read"], "database is locked", "{seen}");
    assert_eq!(seen["posix_db"], "refused", "{seen}");
    assert_eq!(seen["posix_wal"], "acquired", "{seen}");
    assert!(seen["secs"].as_f64().is_some_and(|s| s < 5.0), "{seen}");

    // A second server on the same data: the clear error, and the first one goes on.
    let (code, err, _) = serve_must_fail(&data);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("in use by another process"), "{err}");

    // With the WAL file locked by another process, decisions go on and the server stays ready.
    let count = clients.answers().len();
    wait_for(10, "20 more decisions", &server, || clients.answers().len() >= count + 20);
    let (status, ready) = server.http_get("/readyz", None);
    assert_eq!(status, 200, "{ready}");
    release(probe);
    let answers = clients.finish();
    assert!(answers.iter().all(|a| a.status == 200), "{:?}", answers.iter().find(|a| a.status != 200));
    let tmp = server.stop();
    assert_every_acknowledged_decision_is_logged(&tmp.path().join("data"), &answers, true);
}

/// The database moved away from under the running server, or replaced by a copy (a backup
/// restored over the live file): SQLite goes on writing the file it has open, which no later start
/// reads, so every decision acknowledged meanwhile was lost (and the periodic checkpoint was signed
/// into the copy). The server now fails closed — every decide sent after the move answers 503,
/// `/readyz` names the file — and recovers by itself once the file is back.
#[test]
fn a_database_moved_or_replaced_under_the_server_takes_no_acknowledged_decision() {
    let server = Server::start_with_config(Some(
        "ready_probe_interval_secs = 1\ncheckpoint_interval_secs = 1\nready_min_free_disk_mb = 0\n",
    ));
    let admin = server.admin.clone();
    let agent = json(&server.gavel(Some(&admin), &["agents", "create", "fleet", "--json"]));
    let token = str_of(&agent, "token").to_string();
    let clients = Clients::start(&server.url, &token, 4);
    wait_for(20, "10 decisions", &server, || clients.answers().len() >= 10);
    let data = server.tmp.path().join("data");
    let db = data.join("gavel.db");
    let unready_on = |needle: &str| {
        let (status, ready) = server.http_get("/readyz", None);
        status == 503 && ready["checks"]["commit"]["detail"].as_str().is_some_and(|d| d.contains(needle))
    };

    // Moved away (a clean-up, a mistaken `mv`): 503 for every decide sent after it, unready.
    let aside = data.join("moved-away.db");
    std::fs::rename(&db, &aside).unwrap();
    let moved = Instant::now();
    wait_for(10, "10 decide 503s and /readyz naming the moved file", &server, || {
        let after = clients.answers().iter().filter(|a| a.sent > moved).count();
        after >= 10 && unready_on("gavel.db cannot be found")
    });
    std::fs::rename(&aside, &db).unwrap();
    let back = Instant::now();
    let slipped: Vec<_> = clients
        .answers()
        .into_iter()
        .filter(|a| a.sent > moved && a.sent < back && a.status != 503)
        .collect();
    assert!(slipped.is_empty(), "decide did not answer 503 while the database was away: {slipped:?}");

    // Back in place: the same process decides again and turns ready.
    let mut ready_at = None;
    wait_for(10, "decide 200 and /readyz ready once the file is back", &server, || {
        let decided = clients.answers().iter().any(|a| a.sent > back && a.status == 200);
        if decided && server.http_get("/readyz", None).0 == 200 {
            ready_at = Some(Instant::now());
        }
        ready_at.is_some()
    });
    let count = clients.answers().len();
    wait_for(10, "20 more decisions", &server, || clients.answers().len() >= count + 20);
    let mut answers = clients.finish();
    for a in &answers {
        check_answer(a);
    }
    let late: Vec<_> = answers.iter().filter(|a| a.sent > ready_at.unwrap() && a.status != 200).collect();
    assert!(late.is_empty(), "decide failed after the server was ready again: {late:?}");

    // Replaced by a copy: refused too, until a restart opens what is there now. (A hard link
    // keeps the original reachable for the check below.)
    let original = data.join("original.db");
    std::fs::hard_link(&db, &original).unwrap();
    std::fs::copy(&db, data.join("restored.db")).unwrap();
    std::fs::rename(data.join("restored.db"), &db).unwrap();
    let http = ureq::AgentBuilder::new().timeout(Duration::from_secs(30)).build();
    for n in 0..3 {
        let a = Answer { sent: Instant::now(), status: 0, body: Value::Null };
        let (status, body) = post_decide(&http, &server.url, &token, json!({"after_restore": n}));
        let a = Answer { status, body, ..a };
        check_answer(&a);
        assert_eq!(a.status, 503, "{}", a.body);
        assert!(
            a.body["error"]["message"].as_str().unwrap().contains("gavel.db is another file now"),
            "{}",
            a.body
        );
        answers.push(a);
    }
    wait_for(10, "/readyz naming the replaced file", &server, || unready_on("gavel.db is another file now"));
    let tmp = server.stop();

    // Every acknowledged decision is in the file the server had open. (Not `exact`: a batch in
    // flight across the move committed there but was answered 503, as the agents were told.)
    let data = tmp.path().join("data");
    std::fs::rename(data.join("original.db"), data.join("gavel.db")).unwrap();
    assert_every_acknowledged_decision_is_logged(&data, &answers, false);
}
