//! The soak (issue 18): mixed traffic against one real `gavel serve` process for a fixed time on
//! each backend (SQLite, then PostgreSQL), to show that throughput and latency hold and that the
//! server's memory stays flat.
//!
//! Traffic comes from a fixed set of client threads, each a blocking HTTP client with keep-alive:
//! * agents decide (most of the traffic) under a policy that allows most calls, denies some and
//!   holds some for approval, and report an outcome for every allowed call;
//! * one approver lists the pending approvals and approves or denies each;
//! * query threads list decisions, filter the audit log, read single decisions and traces, and a
//!   monitor scrapes `/metrics` once a second (its budget for token-less routes is 300 a minute);
//! * one webhook endpoint (a receiver thread of this bench that answers 200) is subscribed to
//!   `approval.*`: at the end, after a drain, every approval decided must have been delivered.
//!
//! The server is its own process, so its VmRSS (/proc/PID/status) is the server's alone; it is
//! sampled after the warm-up, every window, and at the end, beside the database's size (SQLite
//! file + WAL + shm; PostgreSQL `pg_database_size`). The run ends with `GET /v1/audit/verify`,
//! which must say valid, and a graceful stop that must exit 0. Any 5xx or transport error fails
//! the bench (exit 1) after both backends have run; 4xx answers are printed with their code.
//!
//! `cargo bench -p gavel-cli --bench soak` (release). `GAVEL_BENCH_SOAK_SECS` sets the measured
//! time per backend (default 300), `GAVEL_BENCH_SOAK_WARMUP_SECS` the warm-up before the first
//! memory sample (default 15), `GAVEL_BENCH_SOAK_BACKENDS` the backends (default
//! `sqlite,postgres`). PostgreSQL is a cluster of the bench's own (gavel-testkit: initdb on a
//! temporary directory, a free loopback port).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a bench: a failed setup is the bench failing

use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const GAVEL: &str = env!("CARGO_BIN_EXE_gavel");

/// Allowed: search_docs, read_file. Denied: wipe_disk (and anything unnamed). Held: send_email.
const POLICY: &str = r#"@id("allow_search")
permit(principal, action == Action::"call_tool", resource == Tool::"search_docs");
@id("allow_read")
permit(principal, action == Action::"call_tool", resource == Tool::"read_file");
@id("hold_email")
@gavel("require_approval")
permit(principal, action == Action::"call_tool", resource == Tool::"send_email");
@id("no_wipe")
forbid(principal, action == Action::"call_tool", resource == Tool::"wipe_disk");
"#;

/// The receiver listens on loopback, which the SSRF guard refuses unless private targets are allowed.
const CONFIG: &str = "webhooks_allow_private = true\n";

const AGENTS: usize = 4;
const DECIDE_THREADS: usize = 12;
const QUERY_THREADS: usize = 3;
/// Client threads in all: deciders, queriers and the approver (the monitor is not counted).
const CLIENT_THREADS: usize = DECIDE_THREADS + QUERY_THREADS + 1;

/// What a client does; each has its own counters and latencies.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Op {
    Decide,
    Outcome,
    ApprovalsList,
    ApprovalDecide,
    AuditList,
    AuditFiltered,
    DecisionGet,
    Trace,
    Metrics,
}

const OPS: [Op; 9] = [
    Op::Decide,
    Op::Outcome,
    Op::ApprovalsList,
    Op::ApprovalDecide,
    Op::AuditList,
    Op::AuditFiltered,
    Op::DecisionGet,
    Op::Trace,
    Op::Metrics,
];

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Decide => "POST /v1/decide",
            Op::Outcome => "POST /v1/decisions/{id}/outcome",
            Op::ApprovalsList => "GET /v1/approvals?status=pending",
            Op::ApprovalDecide => "POST /v1/approvals/{id}/decide",
            Op::AuditList => "GET /v1/audit?limit=50",
            Op::AuditFiltered => "GET /v1/audit?agent&outcome=deny",
            Op::DecisionGet => "GET /v1/decisions/{id}",
            Op::Trace => "GET /v1/audit/trace/{id}",
            Op::Metrics => "GET /metrics",
        }
    }
}

/// Counters shared by every client thread (the monitor reads them each window).
#[derive(Default)]
struct Stats {
    counts: [AtomicU64; OPS.len()],
    allowed: AtomicU64,
    denied: AtomicU64,
    held: AtomicU64,
    /// Answers that were not 2xx: (op, HTTP status or 0 for no answer, error code) → count.
    errors: Mutex<BTreeMap<(Op, u16, String), u64>>,
}

/// One thread's latencies per op, in microseconds (merged at the end).
#[derive(Default)]
struct Latencies(BTreeMap<Op, Vec<u32>>);

/// One client thread's HTTP client and records.
struct Client {
    http: ureq::Agent,
    base: String,
    token: String,
    stats: Arc<Stats>,
    latencies: Latencies,
}

impl Client {
    fn new(base: &str, token: &str, stats: &Arc<Stats>) -> Client {
        Client {
            // Keep-alive: ureq pools connections per agent.
            http: ureq::AgentBuilder::new().timeout(Duration::from_secs(60)).build(),
            base: base.to_string(),
            token: token.to_string(),
            stats: stats.clone(),
            latencies: Latencies::default(),
        }
    }

    /// One timed request; its JSON (or text as a JSON string) when it answered 2xx.
    fn call(&mut self, op: Op, method: &str, path: &str, body: Option<Value>) -> Option<Value> {
        let mut request = self.http.request(method, &format!("{}{path}", self.base));
        if !self.token.is_empty() {
            request = request.set("Authorization", &format!("Bearer {}", self.token));
        }
        let started = Instant::now();
        let result = match body {
            Some(body) => request.send_json(body),
            None => request.call(),
        };
        let answer = match result {
            Ok(r) => {
                let text = r.into_string().unwrap_or_default();
                Ok(serde_json::from_str(&text).unwrap_or(Value::String(text)))
            }
            Err(ureq::Error::Status(code, r)) => {
                let body: Value = r.into_json().unwrap_or(Value::Null);
                Err((code, body["error"]["code"].as_str().unwrap_or("?").to_string()))
            }
            Err(e) => Err((0, e.kind().to_string())),
        };
        let took = started.elapsed();
        self.stats.counts[op as usize].fetch_add(1, Ordering::Relaxed);
        self.latencies.0.entry(op).or_default().push(took.as_micros().min(u32::MAX as u128) as u32);
        match answer {
            Ok(v) => Some(v),
            Err(key) => {
                *self.stats.errors.lock().unwrap().entry((op, key.0, key.1)).or_default() += 1;
                // Back off a little so a failing server is not spun against.
                std::thread::sleep(Duration::from_millis(10));
                None
            }
        }
    }
}

/// Recent decision ids, for the single-decision and trace queries.
type Recent = Arc<Mutex<VecDeque<String>>>;

fn decider(mut c: Client, thread: usize, stop: Arc<AtomicBool>, recent: Recent) -> Latencies {
    let mut n: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        // 2% held for approval, 10% denied, 88% allowed (reads of two kinds).
        let tool = match n % 50 {
            0 => "send_email",
            1..=5 => "wipe_disk",
            k if k % 2 == 0 => "search_docs",
            _ => "read_file",
        };
        let body =
            json!({"tool": tool, "arguments": {"thread": thread, "n": n, "query": "quarterly report"}});
        let Some(d) = c.call(Op::Decide, "POST", "/v1/decide", Some(body)) else { continue };
        let id = d["decision_id"].as_str().unwrap_or_default().to_string();
        match d["decision"].as_str() {
            Some("allow") => {
                c.stats.allowed.fetch_add(1, Ordering::Relaxed);
                c.call(
                    Op::Outcome,
                    "POST",
                    &format!("/v1/decisions/{id}/outcome"),
                    Some(json!({"status": "succeeded"})),
                );
            }
            Some("deny") => {
                c.stats.denied.fetch_add(1, Ordering::Relaxed);
            }
            Some("require_approval") => {
                c.stats.held.fetch_add(1, Ordering::Relaxed);
            }
            other => panic!("decide answered an unknown decision {other:?}: {d}"),
        }
        if n.is_multiple_of(8) {
            let mut r = recent.lock().unwrap();
            r.push_back(id);
            if r.len() > 1024 {
                r.pop_front();
            }
        }
    }
    c.latencies
}

/// Lists pending approvals and decides each: three of four approved, one denied.
fn approver(mut c: Client, stop: Arc<AtomicBool>, decided: Arc<AtomicU64>) -> Latencies {
    let mut k: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        let pending = c.call(Op::ApprovalsList, "GET", "/v1/approvals?status=pending&limit=50", None);
        let ids: Vec<String> = pending
            .as_ref()
            .and_then(|p| p["items"].as_array())
            .map(|items| items.iter().filter_map(|a| a["id"].as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        if ids.is_empty() {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        for id in ids {
            k += 1;
            let verdict = if k.is_multiple_of(4) { "deny" } else { "approve" };
            let body = json!({"decision": verdict, "comment": "soak"});
            if c.call(Op::ApprovalDecide, "POST", &format!("/v1/approvals/{id}/decide"), Some(body)).is_some()
            {
                decided.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    c.latencies
}

fn querier(mut c: Client, thread: usize, stop: Arc<AtomicBool>, recent: Recent) -> Latencies {
    let mut n = thread;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let pick = || {
            let r = recent.lock().unwrap();
            (!r.is_empty()).then(|| r[n % r.len()].clone())
        };
        match n % 4 {
            0 => {
                c.call(Op::AuditList, "GET", "/v1/audit?limit=50", None);
            }
            1 => {
                let agent = format!("agent-{}", n % AGENTS);
                c.call(
                    Op::AuditFiltered,
                    "GET",
                    &format!("/v1/audit?agent={agent}&outcome=deny&limit=20"),
                    None,
                );
            }
            2 => {
                if let Some(id) = pick() {
                    c.call(Op::DecisionGet, "GET", &format!("/v1/decisions/{id}"), None);
                }
            }
            _ => {
                if let Some(id) = pick() {
                    c.call(Op::Trace, "GET", &format!("/v1/audit/trace/{id}"), None);
                }
            }
        }
    }
    c.latencies
}

/// A webhook endpoint that answers 200 to every POST and remembers each distinct `webhook-id`.
struct Receiver {
    port: u16,
    requests: Arc<AtomicU64>,
    ids: Arc<Mutex<HashSet<String>>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicU64::new(0));
        let ids: Arc<Mutex<HashSet<String>>> = Arc::default();
        let (r, i) = (requests.clone(), ids.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let (r, i) = (r.clone(), i.clone());
                std::thread::spawn(move || serve_hooks(stream, &r, &i));
            }
        });
        Receiver { port, requests, ids }
    }

    fn delivered(&self) -> u64 {
        self.ids.lock().unwrap().len() as u64
    }
}

/// HTTP/1.1 with keep-alive: reads requests (Content-Length bodies) until the peer closes.
fn serve_hooks(stream: TcpStream, requests: &AtomicU64, ids: &Mutex<HashSet<String>>) {
    let mut out = stream.try_clone().unwrap();
    let mut input = BufReader::new(stream);
    loop {
        let (mut length, mut id) = (0usize, None);
        let mut line = String::new();
        if input.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            line.clear();
            if input.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                match name.trim().to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap_or(0),
                    "webhook-id" => id = Some(value.trim().to_string()),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; length];
        if input.read_exact(&mut body).is_err() {
            return;
        }
        requests.fetch_add(1, Ordering::Relaxed);
        if let Some(id) = id {
            ids.lock().unwrap().insert(id);
        }
        if out.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_err() {
            return;
        }
    }
}

/// The backend a run serves from.
enum Backend<'a> {
    Sqlite,
    Postgres { pg: &'a gavel_testkit::Postgres, url: String },
}

impl Backend<'_> {
    fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres { .. } => "PostgreSQL",
        }
    }

    fn database_args(&self) -> Vec<String> {
        match self {
            Backend::Sqlite => Vec::new(),
            Backend::Postgres { url, .. } => vec!["--database".into(), url.clone()],
        }
    }

    /// Bytes the log's database takes.
    fn size(&self, data: &Path) -> u64 {
        match self {
            Backend::Sqlite => ["gavel.db", "gavel.db-wal", "gavel.db-shm"]
                .iter()
                .filter_map(|f| std::fs::metadata(data.join(f)).ok())
                .map(|m| m.len())
                .sum(),
            Backend::Postgres { pg, url } => {
                pg.psql(url, "SELECT pg_database_size(current_database())").trim().parse().unwrap()
            }
        }
    }
}

/// The server's resident memory, in KiB, from /proc/PID/status (`field`: VmRSS or VmHWM).
fn memory_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn gavel(args: &[&str]) -> Value {
    let out = Command::new(GAVEL)
        .args(args)
        .env_remove("GAVEL_TOKEN")
        .env_remove("GAVEL_SERVER")
        .env_remove("GAVEL_DATA_DIR")
        .env_remove("GAVEL_DATABASE_URL")
        .output()
        .unwrap();
    assert!(out.status.success(), "gavel {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `gavel serve` on `data`; returns the process and its URL.
fn serve(data: &Path, backend: &Backend, log: &Path) -> (Child, String) {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    let mut child = Command::new(GAVEL)
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .args(backend.database_args())
        .env_remove("GAVEL_DATA_DIR")
        .env_remove("GAVEL_CONFIG")
        .env_remove("GAVEL_ADDR")
        .env_remove("GAVEL_DATABASE_URL")
        // Warnings only: an access-log line per request would be most of the disk traffic.
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    let lines = gavel_testkit::stdout_lines(&mut child);
    let url = gavel_testkit::line_after(&lines, "gavel listening on ", Duration::from_secs(120))
        .expect("gavel serve printed its address");
    (child, url)
}

fn post(url: &str, token: &str, path: &str, body: Value) -> Value {
    ureq::post(&format!("{url}{path}"))
        .set("Authorization", &format!("Bearer {token}"))
        .send_json(body)
        .unwrap_or_else(|e| panic!("POST {path}: {e}"))
        .into_json()
        .unwrap()
}

fn get(url: &str, token: &str, path: &str) -> Value {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(900))
        .build()
        .get(&format!("{url}{path}"))
        .set("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
        .into_json()
        .unwrap()
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

/// What one backend's run found; `ok` is false on a 5xx, a transport error, an invalid log,
/// an undelivered webhook or an unclean stop.
struct Summary {
    ok: bool,
}

fn run(backend: &Backend, secs: u64, warmup: u64) -> Summary {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut init = vec!["init", "--org", "acme", "--json", "--data-dir", data.to_str().unwrap()];
    let db_args = backend.database_args();
    init.extend(db_args.iter().map(String::as_str));
    let admin = gavel(&init)["admin_token"].as_str().unwrap().to_string();
    std::fs::write(data.join("gavel.toml"), CONFIG).unwrap();
    let log = tmp.path().join("server.log");
    let (mut child, url) = serve(&data, backend, &log);
    let pid = child.id();
    println!(
        "\n== {} soak: {secs} s measured after {warmup} s warm-up, load average {} ==",
        backend.name(),
        load_average()
    );
    let rss_idle = memory_kib(pid, "VmRSS");

    // Who is who: a second admin approves the policy (two-person rule); carol approves calls;
    // the agents belong to bob, so carol is never deciding her own agents' calls.
    let bob = post(&url, &admin, "/v1/users", json!({"name": "bob", "role": "admin"}))["token"]
        .as_str()
        .unwrap()
        .to_string();
    let carol = post(&url, &admin, "/v1/users", json!({"name": "carol", "role": "approver"}))["token"]
        .as_str()
        .unwrap()
        .to_string();
    let agents: Vec<String> = (0..AGENTS)
        .map(|i| {
            post(&url, &admin, "/v1/agents", json!({"name": format!("agent-{i}"), "owner": "bob"}))["token"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let change = post(&url, &admin, "/v1/policies", json!({"set_id": "soak", "text": POLICY}));
    post(&url, &bob, &format!("/v1/policies/changes/{}/approve", change["id"].as_str().unwrap()), json!({}));
    let receiver = Receiver::start();
    let hook = post(
        &url,
        &admin,
        "/v1/webhooks",
        json!({"url": format!("http://127.0.0.1:{}/hook", receiver.port), "kinds": ["approval.*"]}),
    );
    let hook_id = hook["id"].as_str().unwrap().to_string();

    let stats = Arc::new(Stats::default());
    let stop = Arc::new(AtomicBool::new(false));
    let recent: Recent = Arc::default();
    let decided = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::new();
    for t in 0..DECIDE_THREADS {
        let c = Client::new(&url, &agents[t % AGENTS], &stats);
        let (stop, recent) = (stop.clone(), recent.clone());
        threads.push(std::thread::spawn(move || decider(c, t, stop, recent)));
    }
    for t in 0..QUERY_THREADS {
        let c = Client::new(&url, &admin, &stats);
        let (stop, recent) = (stop.clone(), recent.clone());
        threads.push(std::thread::spawn(move || querier(c, t, stop, recent)));
    }
    {
        let c = Client::new(&url, &carol, &stats);
        let (stop, decided) = (stop.clone(), decided.clone());
        threads.push(std::thread::spawn(move || approver(c, stop, decided)));
    }
    let mut scraper = Client::new(&url, "", &stats);

    // Warm-up, then the first memory sample, then the measured windows.
    let warm_until = Instant::now() + Duration::from_secs(warmup);
    while Instant::now() < warm_until {
        scraper.call(Op::Metrics, "GET", "/metrics", None);
        std::thread::sleep(Duration::from_secs(1));
    }
    let snapshot = |s: &Stats| -> Vec<u64> { s.counts.iter().map(|c| c.load(Ordering::Relaxed)).collect() };
    let rss_start = memory_kib(pid, "VmRSS");
    // RssAnon is the heap; the rest of VmRSS is mostly SQLite's memory map of the database file
    // (`mmap_size`, 256 MiB): file pages the kernel can drop, which grow with the file.
    let anon_start = memory_kib(pid, "RssAnon");
    let db_start = backend.size(&data);
    let counts_start = snapshot(&stats);
    let started = Instant::now();
    println!(
        "{:>6} {:>11} {:>10} {:>10} {:>10} {:>9} {:>9} {:>9}",
        "t (s)", "decisions/s", "outcomes/s", "approv./s", "queries/s", "RSS MiB", "anon MiB", "DB MiB"
    );
    println!(
        "{:>6} {:>11} {:>10} {:>10} {:>10} {:>9.1} {:>9.1} {:>9.1}",
        0,
        "",
        "",
        "",
        "",
        rss_start as f64 / 1024.0,
        anon_start as f64 / 1024.0,
        mib(db_start)
    );
    let window = Duration::from_secs(secs.clamp(1, 30));
    let end = started + Duration::from_secs(secs);
    let (mut last, mut last_at) = (counts_start.clone(), started);
    let mut rss_samples = vec![rss_start];
    let mut anon_samples = vec![anon_start];
    while Instant::now() < end {
        let next = (last_at + window).min(end);
        while Instant::now() < next {
            scraper.call(Op::Metrics, "GET", "/metrics", None);
            std::thread::sleep(Duration::from_secs(1).min(next.saturating_duration_since(Instant::now())));
        }
        let now = snapshot(&stats);
        let dt = last_at.elapsed().as_secs_f64();
        let rate =
            |ops: &[Op]| ops.iter().map(|o| now[*o as usize] - last[*o as usize]).sum::<u64>() as f64 / dt;
        let rss = memory_kib(pid, "VmRSS");
        let anon = memory_kib(pid, "RssAnon");
        rss_samples.push(rss);
        anon_samples.push(anon);
        println!(
            "{:>6} {:>11.0} {:>10.0} {:>10.1} {:>10.1} {:>9.1} {:>9.1} {:>9.1}",
            started.elapsed().as_secs(),
            rate(&[Op::Decide]),
            rate(&[Op::Outcome]),
            rate(&[Op::ApprovalDecide]),
            rate(&[
                Op::AuditList,
                Op::AuditFiltered,
                Op::DecisionGet,
                Op::Trace,
                Op::Metrics,
                Op::ApprovalsList
            ]),
            rss as f64 / 1024.0,
            anon as f64 / 1024.0,
            mib(backend.size(&data))
        );
        (last, last_at) = (now, Instant::now());
    }
    stop.store(true, Ordering::Relaxed);
    let mut merged: BTreeMap<Op, Vec<u32>> = BTreeMap::new();
    for t in threads {
        for (op, v) in t.join().unwrap().0 {
            merged.entry(op).or_default().extend(v);
        }
    }
    for (op, v) in std::mem::take(&mut scraper.latencies.0) {
        merged.entry(op).or_default().extend(v);
    }
    let measured = started.elapsed().as_secs_f64();
    let rss_end = memory_kib(pid, "VmRSS");
    let anon_end = memory_kib(pid, "RssAnon");
    let rss_peak = memory_kib(pid, "VmHWM");
    let db_end = backend.size(&data);
    let counts_end = snapshot(&stats);
    let load_end = load_average();

    // Drain: every approval decided (one `approval.decided` event each) reaches the receiver.
    let appended = decided.load(Ordering::Relaxed);
    let drain_started = Instant::now();
    while receiver.delivered() < appended && drain_started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(200));
    }
    let drained_in = drain_started.elapsed();
    let endpoint = get(&url, &admin, &format!("/v1/webhooks/{hook_id}"));
    let verify_started = Instant::now();
    let verify = get(&url, &admin, "/v1/audit/verify");
    let verify_took = verify_started.elapsed();

    // The report.
    let in_window = |op: Op| counts_end[op as usize] - counts_start[op as usize];
    println!(
        "\n{:<34} {:>9} {:>8} {:>7} {:>9} {:>9}",
        "operation (all of the run)", "count", "per s", "errors", "p50 ms", "p99 ms"
    );
    let errors = stats.errors.lock().unwrap().clone();
    for op in OPS {
        let mut v = merged.remove(&op).unwrap_or_default();
        v.sort_unstable();
        let errs: u64 = errors.iter().filter(|((o, _, _), _)| *o == op).map(|(_, n)| n).sum();
        println!(
            "{:<34} {:>9} {:>8.1} {:>7} {:>9.2} {:>9.2}",
            op.name(),
            v.len(),
            in_window(op) as f64 / measured,
            errs,
            percentile(&v, 0.5),
            percentile(&v, 0.99)
        );
    }
    let (allowed, denied, held) = (
        stats.allowed.load(Ordering::Relaxed),
        stats.denied.load(Ordering::Relaxed),
        stats.held.load(Ordering::Relaxed),
    );
    println!("decisions: {allowed} allowed, {denied} denied, {held} held for approval; {appended} approvals decided");
    let mut ok = true;
    for ((op, status, code), n) in &errors {
        let unexpected = *status == 0 || *status >= 500;
        ok &= !unexpected;
        println!(
            "  error: {} answered {status} {code} x{n}{}",
            op.name(),
            if unexpected { "  <- UNEXPECTED" } else { "" }
        );
    }
    let rss_max = rss_samples.iter().copied().max().unwrap_or(0);
    println!(
        "server RSS: idle {:.1} MiB, after warm-up {:.1} MiB, end {:.1} MiB (growth {:+.1} MiB, {:+.1}%), max sampled {:.1} MiB, peak (VmHWM) {:.1} MiB",
        rss_idle as f64 / 1024.0,
        rss_start as f64 / 1024.0,
        rss_end as f64 / 1024.0,
        (rss_end as f64 - rss_start as f64) / 1024.0,
        (rss_end as f64 / rss_start as f64 - 1.0) * 100.0,
        rss_max as f64 / 1024.0,
        rss_peak as f64 / 1024.0
    );
    println!(
        "server RssAnon (heap): after warm-up {:.1} MiB, end {:.1} MiB (growth {:+.1} MiB), max sampled {:.1} MiB",
        anon_start as f64 / 1024.0,
        anon_end as f64 / 1024.0,
        (anon_end as f64 - anon_start as f64) / 1024.0,
        anon_samples.iter().copied().max().unwrap_or(0) as f64 / 1024.0
    );
    let events = verify["total"].as_u64().unwrap_or(0);
    println!(
        "database: {:.1} MiB after warm-up, {:.1} MiB at the end (+{:.1} MiB; {events} events in the log, {:.0} bytes/event overall)",
        mib(db_start),
        mib(db_end),
        mib(db_end.saturating_sub(db_start)),
        db_end as f64 / events.max(1) as f64
    );
    let delivered = receiver.delivered();
    println!(
        "webhooks (approval.*): {appended} events appended, {delivered} delivered ({} requests) after a {:.1} s drain; the server counts {}",
        receiver.requests.load(Ordering::Relaxed),
        drained_in.as_secs_f64(),
        endpoint["deliveries"]
    );
    ok &= delivered == appended;
    let valid = verify["valid"] == true;
    ok &= valid;
    println!(
        "audit verify: valid={valid}, {} of {} events verified, {} checkpoints checked ({:.1} s)",
        verify["verified"],
        verify["total"],
        verify["checkpoints_checked"],
        verify_took.as_secs_f64()
    );
    println!("load average: start of run (above), end {load_end}");

    let status = Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    if !exit.success() {
        ok = false;
        println!("gavel serve exited with {exit}: {}", std::fs::read_to_string(&log).unwrap_or_default());
    }
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    if !logged.trim().is_empty() {
        let lines: Vec<&str> = logged.lines().collect();
        println!(
            "server log (warnings and errors): {} lines; last: {}",
            lines.len(),
            lines.last().unwrap_or(&"")
        );
    }
    Summary { ok }
}

fn main() {
    let secs = env_u64("GAVEL_BENCH_SOAK_SECS", 300);
    let warmup = env_u64("GAVEL_BENCH_SOAK_WARMUP_SECS", 15);
    let backends = std::env::var("GAVEL_BENCH_SOAK_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    println!(
        "soak: {CLIENT_THREADS} client threads ({DECIDE_THREADS} deciding as {AGENTS} agents, {QUERY_THREADS} querying, 1 approving) + a /metrics scraper, {} cores",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    let mut ok = true;
    for name in backends.split(',').map(str::trim) {
        let summary = match name {
            "sqlite" => run(&Backend::Sqlite, secs, warmup),
            "postgres" => {
                let pg = gavel_testkit::Postgres::start();
                let url = pg.create_database();
                println!("PostgreSQL {}", pg.version());
                run(&Backend::Postgres { pg: &pg, url }, secs, warmup)
            }
            other => panic!("unknown backend {other:?} (sqlite, postgres)"),
        };
        ok &= summary.ok;
    }
    if !ok {
        eprintln!("soak FAILED: see the errors above");
        std::process::exit(1);
    }
}
