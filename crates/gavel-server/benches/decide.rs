//! `cargo bench -p gavel-server --bench decide`: the decide path's performance targets, each figure
//! next to a baseline measured in the same run (the machines are noisy; ratios travel).
//!
//! 1. **Policy evaluation in process** (`gavel_policy::Engine::evaluate`, single-threaded): the soc2
//!    pack in enforce mode over a mix of calls by 100 agents, and a generated 100-rule policy set
//!    over its own mix — p50/p99/p999 and evaluations/s.
//! 2. **The peer**: Microsoft's Agent Governance Toolkit on the *same* 100 rules and calls
//!    (`bench/agt/bench_agt.py`, run with `python3` between gavel's runs): its `PolicyEvaluator` and
//!    its kernel enforcement path (`StatelessKernel.execute`); reported as gavel/AGT ratios.
//! 3. **Decide in process** (`Gavel::decide`, durable append included) with 1 and 64 callers.
//! 4. **Decide over HTTP**: the real server on 127.0.0.1:0, 64 keep-alive connections driven by
//!    an event-driven load generator (one thread; see `bench_http`), durable decisions/s and latency, alternated with a bare SQLite loop inserting rows of the decision
//!    event's size, 1,000 per transaction, WAL + synchronous=FULL (as `gavel-store`'s log bench).
//!
//! 5. **Decide over HTTP on PostgreSQL** (`GAVEL_BENCH_ONLY=pg`): the same server and load on a
//!    PostgreSQL database (a real server started by gavel-testkit on this machine, default
//!    settings, fsync on), alternated with the SQLite server; then 1, 2 and 3 replicas (servers in
//!    this process, each with its own core and runtime) on one database, the clients spread over
//!    them.
//!
//! Environment: GAVEL_BENCH_SECS (seconds per timed run, default 3), GAVEL_BENCH_ONLY=eval|agt|
//! decide|http|pg (one part), GAVEL_BENCH_PYTHON (interpreter for the AGT script, default `python3`),
//! GAVEL_BENCH_KEEP_SPEC=1 (keep the AGT spec file and print its path), GAVEL_BENCH_CALLERS
//! (in-process decide callers, default `1,64`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

#[path = "../../gavel-store/benches/common/bare_sqlite.rs"]
mod bare_sqlite;

/// The allocator the gavel binary uses (see gavel-cli's main.rs), so the figures stand for it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use gavel_core::decide::{DecideContext, DecideRequest};
use gavel_core::{Gavel, NewAgent, Principal, Role};
use gavel_ledger::clock::SystemClock;
use gavel_policy::{builtin_pack, parse_and_validate, Engine, LoadedSet, Mode, Outcome, ToolCall};
use gavel_server::AppState;
use gavel_store::layout::{DataDir, Database};
use gavel_store::{Log, Store};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const AGENTS: usize = 100;
const CALLS: usize = 4096;
const CLIENTS: usize = 64;
const RUNS: usize = 3;

fn secs() -> Duration {
    Duration::from_secs_f64(
        std::env::var("GAVEL_BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(3.0),
    )
}

/// splitmix64: a fixed, dependency-free stream so every run sees the same calls.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

// ---------------------------------------------------------------------------------------------
// Agents and calls
// ---------------------------------------------------------------------------------------------

#[derive(Clone)]
struct AgentSpec {
    name: String,
    groups: Vec<String>,
    environment: String,
}

#[derive(Clone)]
struct Call {
    agent: usize,
    tool: String,
    /// The tool's category as the soc2 pack's tools.toml gives it (None: uncategorised).
    category: Option<String>,
    resource: Option<String>,
    arguments: Value,
    on_behalf_of: Option<String>,
    cost_usd: Option<f64>,
}

struct Mix {
    agents: Vec<AgentSpec>,
    calls: Vec<Call>,
}

impl Mix {
    /// The engine's view of call `k` (what `Gavel::decide` builds from the agent and request).
    fn tool_call(&self, k: usize) -> ToolCall {
        let c = &self.calls[k];
        let a = &self.agents[c.agent];
        ToolCall {
            agent_id: a.name.clone(),
            owner: "alice".into(),
            environment: a.environment.clone(),
            tier: "standard".into(),
            groups: a.groups.clone(),
            tool: c.tool.clone(),
            tool_category: c.category.clone(),
            arguments: c.arguments.clone(),
            on_behalf_of: c.on_behalf_of.clone(),
            cost_usd: c.cost_usd,
            hour_utc: 13,
        }
    }

    fn request(&self, k: usize) -> DecideRequest {
        let c = &self.calls[k];
        DecideRequest {
            tool: c.tool.clone(),
            resource: c.resource.clone(),
            arguments: Some(c.arguments.clone()),
            on_behalf_of: c.on_behalf_of.clone(),
            context: DecideContext { environment: None, cost_usd: c.cost_usd },
        }
    }

    /// The `POST /v1/decide` body of call `k`.
    fn body(&self, k: usize) -> String {
        let c = &self.calls[k];
        let mut body = json!({"tool": c.tool, "arguments": c.arguments});
        if let Some(r) = &c.resource {
            body["resource"] = json!(r);
        }
        if let Some(o) = &c.on_behalf_of {
            body["on_behalf_of"] = json!(o);
        }
        if let Some(cost) = c.cost_usd {
            body["context"] = json!({"cost_usd": cost});
        }
        body.to_string()
    }
}

/// 100 agents in the soc2 pack's groups and three environments, calling the pack's tools (and a
/// few it does not categorise) with realistic arguments; about 1 in 100 calls is destructive.
fn soc2_mix() -> Mix {
    let pack = builtin_pack("soc2").expect("the soc2 pack is built in");
    let mut by_category: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (tool, category) in &pack.tools {
        by_category.entry(category.clone()).or_default().push(tool.clone());
    }
    let uncategorised = ["custom.weekly_report", "vendor.sync_catalog", "ml.train_model"];
    let mut rng = Rng(0x50c2);
    let agents = (0..AGENTS)
        .map(|i| {
            let groups: &[&str] = match rng.below(100) {
                0..=29 => &["support"],
                30..=49 => &["finance"],
                50..=74 => &["ops"],
                75..=84 => &[],
                85..=92 => &["ops", "support"],
                _ => &["finance", "support"],
            };
            let environment = match rng.below(100) {
                0..=49 => "production",
                50..=74 => "staging",
                _ => "development",
            };
            AgentSpec {
                name: format!("agent-{i:03}"),
                groups: groups.iter().map(|g| g.to_string()).collect(),
                environment: environment.into(),
            }
        })
        .collect();
    let weights = [
        ("read_only", 40),
        ("external_comm", 20),
        ("payments", 10),
        ("data_deletion", 8),
        ("privileged", 17),
        ("none", 5),
    ];
    let calls = (0..CALLS)
        .map(|_| {
            let mut roll = rng.below(100);
            let category = weights
                .iter()
                .find(|(_, w)| {
                    let hit = roll < *w;
                    roll = roll.saturating_sub(*w);
                    hit
                })
                .map_or("read_only", |(c, _)| c);
            let tool = if category == "none" {
                rng.pick(&uncategorised).to_string()
            } else {
                rng.pick(&by_category[category]).clone()
            };
            let n = rng.below(100_000);
            let destructive = rng.below(100) < 6;
            let mut cost_usd = None;
            let arguments = match category {
                "read_only" => json!({"query": format!("open tickets for account {n}"), "limit": 20,
                                      "path": format!("/srv/app/docs/guide_{}.md", n % 500)}),
                "external_comm" if n.is_multiple_of(20) => json!({
                    "to": format!("customer{n}@example.com"), "subject": format!("Re: ticket #{n}"),
                    "authorization": "Bearer 3q2+7wAAAABkZWFkYmVlZmNhZmViYWJl"}),
                "external_comm" => json!({
                    "to": format!("customer{n}@example.com"), "subject": format!("Re: ticket #{n}"),
                    "body": "Thanks for reaching out; your refund was processed today and should arrive in 3-5 days."}),
                "payments" => {
                    cost_usd = Some((500 + n) as f64 / 100.0);
                    json!({"amount_cents": 500 + n, "currency": "usd", "customer": format!("cus_{n:06}"),
                           "description": format!("invoice INV-{n}")})
                }
                "data_deletion" if destructive => json!({"sql": format!("DROP TABLE sessions_{}", n % 50)}),
                "data_deletion" => json!({"table": "sessions", "filter": format!("created_at < '2026-0{}-01'", 1 + n % 9)}),
                "privileged" if destructive && n.is_multiple_of(2) => json!({"cmd": "rm -rf /var/lib/postgres/data"}),
                "privileged" if destructive => json!({"cmd": format!("kubectl delete namespace payments-{}", n % 40)}),
                "privileged" => json!({"cmd": format!("kubectl rollout restart deployment/api-{}", n % 40),
                                       "namespace": "prod"}),
                _ => json!({"report": "weekly", "week": n % 52}),
            };
            Call {
                agent: rng.below(AGENTS),
                category: (category != "none").then(|| category.to_string()),
                tool,
                resource: n.is_multiple_of(3).then(|| format!("res-{}", n % 1000)),
                arguments,
                on_behalf_of: n.is_multiple_of(2).then(|| format!("user:u{}@example.com", n % 300)),
                cost_usd,
            }
        })
        .collect();
    Mix { agents, calls }
}

/// One rule of the generated 100-rule set: a single predicate, so that it has an exact equivalent
/// in AGT's PolicyEvaluator (one condition per rule) — see BENCHMARKS.md.
struct Rule {
    id: String,
    kind: &'static str,
    value: String,
}

const SERVICES: [&str; 10] =
    ["crm", "billing", "docs", "git", "ci", "hr", "ledger", "wiki", "mail", "tickets"];
const READ_VERBS: [&str; 5] = ["get", "list", "search", "export", "sync"];
const HOLD_VERBS: [&str; 3] = ["update", "approve", "refund"];
const PATTERNS: [&str; 15] = [
    "rm -rf",
    "rm -fr",
    "drop table",
    "drop database",
    "truncate table",
    "mkfs.",
    "dd if=/dev/",
    "chmod -r 777",
    "--no-preserve-root",
    "delete namespace",
    "iptables -f",
    "shutdown -h now",
    "userdel ",
    "crontab -r",
    "git push --force",
];

/// 50 tool permits, 15 tool holds, 10 group permits, 5 group forbids, 5 environment forbids and
/// 15 argument-pattern forbids.
fn hundred_rules() -> (Vec<Rule>, Vec<String>) {
    let mut rules = Vec::new();
    let mut catalog = Vec::new();
    let mut add = |kind: &'static str, value: String| {
        rules.push(Rule { id: format!("r{:03}", rules.len()), kind, value });
    };
    for s in SERVICES {
        for v in READ_VERBS {
            add("tool_permit", format!("{s}.{v}"));
            catalog.push(format!("{s}.{v}"));
        }
    }
    for s in &SERVICES[..5] {
        for v in HOLD_VERBS {
            add("tool_hold", format!("{s}.{v}"));
            catalog.push(format!("{s}.{v}"));
        }
    }
    for k in 0..10 {
        add("group_permit", format!("admins-{k}"));
    }
    for k in 0..5 {
        add("group_forbid", format!("quarantine-{k}"));
    }
    for k in 0..5 {
        add("env_forbid", format!("frozen-{k}"));
    }
    for p in PATTERNS {
        add("arg_forbid", p.to_string());
    }
    // Tools no rule names: denied by default unless a group permit applies.
    for s in SERVICES {
        catalog.push(format!("{s}.delete"));
    }
    (rules, catalog)
}

fn cedar_text(rules: &[Rule]) -> String {
    const CALL: &str = "action == Action::\"call_tool\"";
    let mut out = String::new();
    for r in rules {
        let v = &r.value;
        let (effect, scope, when) = match r.kind {
            "tool_permit" | "tool_hold" => {
                ("permit", format!("principal, {CALL}, resource == Tool::\"{v}\""), None)
            }
            "group_permit" => ("permit", format!("principal in AgentGroup::\"{v}\", {CALL}, resource"), None),
            "group_forbid" => ("forbid", format!("principal in AgentGroup::\"{v}\", {CALL}, resource"), None),
            "env_forbid" => (
                "forbid",
                format!("principal, {CALL}, resource"),
                Some(format!("context.environment == \"{v}\"")),
            ),
            "arg_forbid" => (
                "forbid",
                format!("principal, {CALL}, resource"),
                Some(format!("context.argument_text like \"*{v}*\"")),
            ),
            other => unreachable!("unknown rule kind {other}"),
        };
        out.push_str(&format!("@id(\"{}\")\n", r.id));
        if r.kind == "tool_hold" {
            out.push_str("@gavel(\"require_approval\")\n");
        }
        out.push_str(&format!("{effect} ({scope})"));
        if let Some(w) = when {
            out.push_str(&format!("\nwhen {{ {w} }}"));
        }
        out.push_str(";\n\n");
    }
    out
}

/// 100 agents in teams, some in admin or quarantined groups, a few in frozen environments, calling
/// the catalog; about 8 in 100 calls carry a forbidden pattern. No argument looks like PII (AGT's
/// kernel would refuse e-mail addresses and phone numbers on its own account).
fn hundred_mix(catalog: &[String]) -> Mix {
    let mut rng = Rng(0x100);
    let agents = (0..AGENTS)
        .map(|i| {
            let mut groups = vec![format!("team-{}", rng.below(10))];
            if rng.below(100) < 30 {
                groups.push(format!("team-{}", rng.below(10)));
            }
            if rng.below(100) < 10 {
                groups.push(format!("admins-{}", rng.below(10)));
            }
            if rng.below(100) < 5 {
                groups.push(format!("quarantine-{}", rng.below(5)));
            }
            groups.sort();
            groups.dedup();
            let environment = match rng.below(100) {
                0..=39 => "production".to_string(),
                40..=64 => "staging".to_string(),
                65..=89 => "development".to_string(),
                90..=94 => "sandbox".to_string(),
                _ => format!("frozen-{}", rng.below(5)),
            };
            AgentSpec { name: format!("agent-{i:03}"), groups, environment }
        })
        .collect();
    let (permits, holds, unlisted) = (&catalog[..50], &catalog[50..65], &catalog[65..]);
    let calls = (0..CALLS)
        .map(|_| {
            let tool = match rng.below(100) {
                0..=54 => rng.pick(permits),
                55..=79 => rng.pick(holds),
                _ => rng.pick(unlisted),
            }
            .clone();
            let n = rng.below(100_000);
            let arguments = if rng.below(100) < 8 {
                json!({"cmd": format!("{} /srv/data/part-{n}", rng.pick(&PATTERNS)), "dry_run": false})
            } else {
                json!({"id": format!("obj-{n}"), "fields": ["name", "status", "owner"],
                       "filter": format!("status = open and team = team-{}", n % 10), "limit": 50})
            };
            Call {
                agent: rng.below(AGENTS),
                tool,
                category: None,
                resource: None,
                arguments,
                on_behalf_of: None,
                cost_usd: None,
            }
        })
        .collect();
    Mix { agents, calls }
}

fn enforcing_engine(set_id: &str, text: &str) -> Engine {
    let source = parse_and_validate(set_id, text).expect("the policy text validates");
    Engine::new(vec![LoadedSet { set_id: set_id.into(), version: 1, mode: Mode::Enforce, source }])
        .expect("engine")
}

// ---------------------------------------------------------------------------------------------
// Measurement
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Default)]
struct Lat {
    rate: f64,
    p50: f64,
    p99: f64,
    p999: f64,
}

/// Rate over `elapsed`, percentiles in microseconds.
fn summarize(mut nanos: Vec<u64>, elapsed: Duration) -> Lat {
    nanos.sort_unstable();
    let at = |q: f64| nanos[((q * nanos.len() as f64) as usize).min(nanos.len() - 1)] as f64 / 1e3;
    Lat { rate: nanos.len() as f64 / elapsed.as_secs_f64(), p50: at(0.5), p99: at(0.99), p999: at(0.999) }
}

fn outcome_name(o: Option<Outcome>) -> &'static str {
    o.map_or("none", Outcome::as_str)
}

/// Evaluations of the mix, one thread, for `secs()`: with [`Engine::evaluate`], or with Cedar alone
/// (`Engine::evaluate_with_cedar`, the reference) when `cedar_only`.
fn bench_eval(engine: &Engine, calls: &[ToolCall], cedar_only: bool) -> Lat {
    let eval = |c: &ToolCall| if cedar_only { engine.evaluate_with_cedar(c) } else { engine.evaluate(c) };
    for c in calls {
        black_box(eval(c));
    }
    let mut nanos = Vec::with_capacity(1 << 20);
    let start = Instant::now();
    while start.elapsed() < secs() {
        for c in calls {
            let t = Instant::now();
            black_box(eval(black_box(c)));
            nanos.push(t.elapsed().as_nanos() as u64);
        }
    }
    summarize(nanos, start.elapsed())
}

/// Fails the bench unless the engine takes the native path and every call's full evaluation (verdicts,
/// policies, reasons) equals Cedar's.
fn check_native(engine: &Engine, calls: &[ToolCall]) -> String {
    assert!(engine.is_native(), "the policies should be evaluated natively");
    let differ = calls.iter().filter(|c| engine.evaluate(c) != engine.evaluate_with_cedar(c)).count();
    assert_eq!(differ, 0, "native and Cedar evaluations differ on {differ} calls");
    format!("native evaluation, identical to Cedar's on {0}/{0} calls", calls.len())
}

fn outcome_counts(outcomes: &[&str]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for o in outcomes {
        *counts.entry(o).or_default() += 1;
    }
    counts
        .iter()
        .map(|(o, n)| format!("{o} {:.0}%", 100.0 * *n as f64 / outcomes.len() as f64))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The median run by `key` (RUNS is odd).
fn median_by<T: Copy>(mut runs: Vec<T>, key: impl Fn(&T) -> f64) -> T {
    runs.sort_by(|a, b| key(a).total_cmp(&key(b)));
    runs[runs.len() / 2]
}

/// The shared bare-SQLite baseline (see `bare_sqlite.rs`), run for this bench's run length.
fn bench_bare_sqlite(row_size: usize) -> f64 {
    bare_sqlite::rows_per_sec(row_size, secs())
}

/// Mean size of the `decision` events among the last 1,000 events of a log.
fn decision_event_size(store: &dyn Store) -> usize {
    let size = store.head().expect("head").size;
    let (mut total, mut n) = (0usize, 0usize);
    store
        .scan(size.saturating_sub(1000), size, &mut |e| {
            if let Some(bytes) = e.bytes {
                const NEEDLE: &[u8] = b"\"kind\":\"decision\",";
                if bytes.windows(NEEDLE.len()).any(|w| w == NEEDLE) {
                    total += bytes.len();
                    n += 1;
                }
            }
            true
        })
        .expect("scan");
    total / n.max(1)
}

// ---------------------------------------------------------------------------------------------
// Part 1 and 2: evaluation, and AGT
// ---------------------------------------------------------------------------------------------

fn part_eval() -> f64 {
    let pack = builtin_pack("soc2").expect("soc2");
    let engine = enforcing_engine("soc2", &pack.policies);
    let mix = soc2_mix();
    let calls: Vec<ToolCall> = (0..mix.calls.len()).map(|k| mix.tool_call(k)).collect();
    let outcomes: Vec<&str> =
        calls.iter().map(|c| outcome_name(engine.evaluate(c).enforced.map(|v| v.outcome))).collect();
    println!(
        "soc2 pack (enforce), {AGENTS} agents, {} distinct calls: {}",
        calls.len(),
        outcome_counts(&outcomes)
    );
    println!("  {}", check_native(&engine, &calls));
    // Alternate the native and the Cedar-only runs so drifts in machine load hit both alike.
    let (mut native, mut cedar) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        native.push(bench_eval(&engine, &calls, false));
        cedar.push(bench_eval(&engine, &calls, true));
    }
    let (m, c) = (median_by(native, |l| l.rate), median_by(cedar, |l| l.rate));
    println!(
        "  evaluate, 1 thread: {:>9.0} evals/s  p50 {:>6.1} µs  p99 {:>6.1} µs  p999 {:>6.1} µs   (median of {RUNS})",
        m.rate, m.p50, m.p99, m.p999
    );
    println!(
        "  Cedar alone (reference): {:>9.0} evals/s  p50 {:>6.1} µs  p99 {:>6.1} µs  p999 {:>6.1} µs; native = {:.1}x",
        c.rate,
        c.p50,
        c.p99,
        c.p999,
        m.rate / c.rate
    );
    println!(
        "  target p99 <= 20 µs: {}",
        if m.p99 <= 20.0 { "MET".to_string() } else { format!("MISSED ({:.1} µs)", m.p99) }
    );
    m.rate
}

struct AgtRun {
    evaluator: Lat,
    kernel: Lat,
    evaluator_outcomes: Vec<String>,
    kernel_outcomes: Vec<String>,
    version: String,
    python: String,
}

fn agt_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/agt/bench_agt.py")
}

/// Runs the AGT script once; Err is the notice to print when it cannot run.
fn run_agt(spec: &Path) -> Result<AgtRun, String> {
    let python = std::env::var("GAVEL_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = std::process::Command::new(&python)
        .arg(agt_script())
        .arg(spec)
        .arg(secs().as_secs_f64().to_string())
        .output()
        .map_err(|e| format!("could not run {python}: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(stdout.trim()).map_err(|_| {
        format!(
            "{python} {} failed ({}): {}",
            agt_script().display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    if let Some(e) = v["error"].as_str() {
        return Err(format!(
            "{e}. Install AGT with `{python} -m pip install -r bench/agt/requirements.txt` (or point GAVEL_BENCH_PYTHON at an interpreter that has it)"
        ));
    }
    let lat = |p: &Value| Lat {
        rate: p["evals_per_s"].as_f64().unwrap_or(0.0),
        p50: p["p50_us"].as_f64().unwrap_or(0.0),
        p99: p["p99_us"].as_f64().unwrap_or(0.0),
        p999: p["p999_us"].as_f64().unwrap_or(0.0),
    };
    let outcomes = |p: &Value| -> Vec<String> {
        p["outcomes"]
            .as_array()
            .map(|a| a.iter().filter_map(|o| o.as_str().map(String::from)).collect())
            .unwrap_or_default()
    };
    Ok(AgtRun {
        evaluator: lat(&v["policy_evaluator"]),
        kernel: lat(&v["kernel"]),
        evaluator_outcomes: outcomes(&v["policy_evaluator"]),
        kernel_outcomes: outcomes(&v["kernel"]),
        version: v["agent_os_kernel"].as_str().unwrap_or("?").into(),
        python: v["python"].as_str().unwrap_or("?").into(),
    })
}

fn agreement(gavel: &[&str], peer: &[String]) -> String {
    if gavel.len() != peer.len() {
        return format!("outcomes not comparable ({} vs {} calls)", gavel.len(), peer.len());
    }
    let same = gavel.iter().zip(peer).filter(|(g, p)| **g == p.as_str()).count();
    format!("same outcome as gavel on {same}/{} calls", gavel.len())
}

/// `soc2_rate`: the soc2 pack's evaluation rate measured just before, when part 1 ran.
fn part_agt(soc2_rate: Option<f64>) {
    let (rules, catalog) = hundred_rules();
    let text = cedar_text(&rules);
    let engine = enforcing_engine("bench100", &text);
    let mix = hundred_mix(&catalog);
    let calls: Vec<ToolCall> = (0..mix.calls.len()).map(|k| mix.tool_call(k)).collect();
    let outcomes: Vec<&str> =
        calls.iter().map(|c| outcome_name(engine.evaluate(c).enforced.map(|v| v.outcome))).collect();
    println!(
        "100-rule set ({} rules), {AGENTS} agents, {} distinct calls: {}",
        rules.len(),
        calls.len(),
        outcome_counts(&outcomes)
    );
    println!("  {}", check_native(&engine, &calls));

    let spec = json!({
        "rules": rules.iter().map(|r| json!({"id": r.id, "kind": r.kind, "value": r.value})).collect::<Vec<_>>(),
        "catalog": catalog,
        "agents": mix.agents.iter().map(|a| json!({"id": a.name, "groups": a.groups, "environment": a.environment})).collect::<Vec<_>>(),
        "calls": mix.calls.iter().map(|c| json!({"agent": c.agent, "tool": c.tool, "arguments": c.arguments})).collect::<Vec<_>>(),
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let spec_path = dir.path().join("agt-spec.json");
    std::fs::write(&spec_path, spec.to_string()).expect("write spec");
    std::fs::write(dir.path().join("bench100.cedar"), &text).expect("write policy");
    if std::env::var("GAVEL_BENCH_KEEP_SPEC").is_ok_and(|v| v == "1") {
        let kept = dir.keep();
        println!("  spec kept in {}", kept.display());
        return part_agt_runs(&engine, &calls, &outcomes, &kept.join("agt-spec.json"), soc2_rate);
    }
    part_agt_runs(&engine, &calls, &outcomes, &spec_path, soc2_rate);
}

fn part_agt_runs(
    engine: &Engine,
    calls: &[ToolCall],
    outcomes: &[&str],
    spec: &Path,
    soc2_rate: Option<f64>,
) {
    // Alternate gavel and AGT runs so drifts in machine load hit both alike.
    let mut runs: Vec<(Lat, AgtRun)> = Vec::new();
    for _ in 0..RUNS {
        let g = bench_eval(engine, calls, false);
        match run_agt(spec) {
            Ok(a) => runs.push((g, a)),
            Err(notice) => {
                println!(
                    "  gavel evaluate, 1 thread: {:>9.0} evals/s  p50 {:>6.1} µs  p99 {:>6.1} µs",
                    g.rate, g.p50, g.p99
                );
                println!("  NOTICE: AGT comparison skipped: {notice}");
                return;
            }
        }
    }
    let first = &runs[0].1;
    println!(
        "  AGT: agent-os-kernel {} on Python {}; PolicyEvaluator {}; kernel {}",
        first.version,
        first.python,
        agreement(outcomes, &first.evaluator_outcomes),
        agreement(outcomes, &first.kernel_outcomes)
    );
    let ratio_pe = |r: &(Lat, AgtRun)| r.0.rate / r.1.evaluator.rate;
    let ratio_k = |r: &(Lat, AgtRun)| r.0.rate / r.1.kernel.rate;
    let mut by_pe: Vec<usize> = (0..runs.len()).collect();
    by_pe.sort_by(|a, b| ratio_pe(&runs[*a]).total_cmp(&ratio_pe(&runs[*b])));
    let mut by_k: Vec<usize> = (0..runs.len()).collect();
    by_k.sort_by(|a, b| ratio_k(&runs[*a]).total_cmp(&ratio_k(&runs[*b])));
    let (mp, mk) = (&runs[by_pe[runs.len() / 2]], &runs[by_k[runs.len() / 2]]);
    let line = |who: &str, l: &Lat| {
        println!(
            "  {who:<34} {:>9.0} evals/s  p50 {:>7.1} µs  p99 {:>7.1} µs  p999 {:>7.1} µs",
            l.rate, l.p50, l.p99, l.p999
        );
    };
    line("gavel Engine::evaluate, 1 thread", &mp.0);
    line("AGT PolicyEvaluator.evaluate", &mp.1.evaluator);
    line("AGT StatelessKernel.execute", &mk.1.kernel);
    let (rp, rk) = (ratio_pe(mp), ratio_k(mk));
    println!(
        "  gavel/AGT PolicyEvaluator: {rp:>6.2}x evals/s; gavel p99 = {:.2}x AGT's   (median of {RUNS} alternating runs)",
        mp.0.p99 / mp.1.evaluator.p99
    );
    println!(
        "  gavel/AGT kernel path:     {rk:>6.2}x evals/s; gavel p99 = {:.2}x AGT's",
        mk.0.p99 / mk.1.kernel.p99
    );
    if let Some(soc2) = soc2_rate {
        println!(
            "  gavel soc2 pack (part 1) / AGT PolicyEvaluator 100 rules: {:.2}x evals/s (different rule sets)",
            soc2 / mp.1.evaluator.rate
        );
    }
    println!(
        "  target >= 5x AGT's evaluation rate: {} against the PolicyEvaluator, {} against the kernel path",
        if rp >= 5.0 { "MET" } else { "MISSED" },
        if rk >= 5.0 { "MET" } else { "MISSED" }
    );
}

// ---------------------------------------------------------------------------------------------
// Part 3: decide in process
// ---------------------------------------------------------------------------------------------

/// The server's state over a new log, and that log (for the bench's own reads).
fn open_state(dir: &Path) -> (AppState, Arc<Log>) {
    open_state_on(dir, None)
}

/// [`open_state`] with the log in `database` (PostgreSQL) instead of the directory's SQLite file.
fn open_state_on(dir: &Path, database: Option<Database>) -> (AppState, Arc<Log>) {
    let dir = DataDir::new(dir).with_database(database);
    let (log, _) = Log::open(&dir, Arc::new(SystemClock), Some("bench")).expect("open log");
    let log = Arc::new(log);
    (AppState::new(Gavel::new(log.clone(), Arc::new(SystemClock))), log)
}

/// Two admins, the soc2 pack installed and switched to enforce (two-person rule), 100 agents.
fn deploy_in_process(gavel: &Gavel, agents: &[AgentSpec]) -> Vec<Principal> {
    let alice = Principal::User(gavel.bootstrap_admin().expect("bootstrap").expect("first admin").principal);
    let bob = Principal::User(gavel.create_user(&alice, "bob", Role::Admin).expect("bob").principal);
    gavel.install_pack(&alice, "soc2").expect("install");
    let change = gavel.propose_mode(&alice, "soc2", Mode::Enforce).expect("golive");
    gavel.approve_change(&bob, &change.id, None).expect("approve");
    agents
        .iter()
        .map(|a| {
            let new = NewAgent {
                name: a.name.clone(),
                environment: Some(a.environment.clone()),
                groups: a.groups.clone(),
                ..NewAgent::default()
            };
            Principal::Agent(gavel.create_agent(&alice, new).expect("agent").principal)
        })
        .collect()
}

fn bench_decide(gavel: &Gavel, principals: &[Principal], mix: &Mix, callers: usize) -> Lat {
    let stop = AtomicBool::new(false);
    let start = Instant::now();
    let nanos: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..callers)
            .map(|t| {
                let stop = &stop;
                s.spawn(move || {
                    let mut out = Vec::new();
                    let mut k = t * 61;
                    while !stop.load(Ordering::Relaxed) {
                        let i = k % mix.calls.len();
                        let req = mix.request(i);
                        let t0 = Instant::now();
                        gavel.decide(&principals[mix.calls[i].agent], req).expect("decide");
                        out.push(t0.elapsed().as_nanos() as u64);
                        k += 1;
                    }
                    out
                })
            })
            .collect();
        std::thread::sleep(secs());
        stop.store(true, Ordering::Relaxed);
        handles.into_iter().flat_map(|h| h.join().expect("caller")).collect()
    });
    summarize(nanos, start.elapsed())
}

fn part_decide() {
    let mix = soc2_mix();
    let dir = tempfile::tempdir().expect("tempdir");
    let (state, log) = open_state(dir.path());
    let principals = deploy_in_process(&state.gavel, &mix.agents);
    // Warm-up: reader connections, the engine cache, the page cache.
    bench_decide_for(&state.gavel, &principals, &mix, CLIENTS, Duration::from_millis(500));
    println!("Gavel::decide in process (soc2 enforce, {AGENTS} agents, durable append included):");
    for callers in callers_list() {
        let runs: Vec<Lat> =
            (0..RUNS).map(|_| bench_decide(&state.gavel, &principals, &mix, callers)).collect();
        let m = median_by(runs, |l| l.rate);
        println!(
            "  {callers:>2} caller(s): {:>8.0} decisions/s  p50 {:>7.1} µs  p99 {:>7.1} µs   (median of {RUNS})",
            m.rate, m.p50, m.p99
        );
    }
    println!("  decision event: {} bytes of JCS", decision_event_size(log.store().as_ref()));
}

/// GAVEL_BENCH_CALLERS (e.g. `64`, for profiling one configuration); default 1 and 64.
fn callers_list() -> Vec<usize> {
    std::env::var("GAVEL_BENCH_CALLERS")
        .ok()
        .map(|s| s.split(',').filter_map(|c| c.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, CLIENTS])
}

fn bench_decide_for(gavel: &Gavel, principals: &[Principal], mix: &Mix, callers: usize, d: Duration) {
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        for t in 0..callers {
            let stop = &stop;
            s.spawn(move || {
                let mut k = t * 61;
                while !stop.load(Ordering::Relaxed) {
                    let i = k % mix.calls.len();
                    gavel.decide(&principals[mix.calls[i].agent], mix.request(i)).expect("decide");
                    k += 1;
                }
            });
        }
        std::thread::sleep(d);
        stop.store(true, Ordering::Relaxed);
    });
}

// ---------------------------------------------------------------------------------------------
// Part 4: decide over HTTP
// ---------------------------------------------------------------------------------------------

struct Server {
    addr: std::net::SocketAddr,
    base: String,
    state: AppState,
    log: Arc<Log>,
    _dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// The server as `gavel serve` runs it: a default multi-thread runtime, the default checkpoint
    /// interval, on a loopback port.
    fn start() -> Server {
        Self::start_on(None, None)
    }

    /// A server whose log is in `database`; `keys` is a data directory whose keys it copies (a
    /// further replica of the same log).
    fn start_on(database: Option<Database>, keys: Option<&Path>) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        if let Some(from) = keys {
            let to = dir.path().join("keys");
            std::fs::create_dir_all(&to).expect("keys dir");
            for entry in std::fs::read_dir(from.join("keys")).expect("keys") {
                let entry = entry.expect("key");
                std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy key");
            }
        }
        let (state, log) = open_state_on(dir.path(), database);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let serve_state = state.clone();
        let interval = Duration::from_secs(gavel_server::config::Config::default().checkpoint_interval_secs);
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
                addr_tx.send(listener.local_addr().expect("addr")).expect("send addr");
                gavel_server::serve(serve_state, listener, interval, async {
                    let _ = rx.await;
                })
                .await
                .expect("serve");
            });
        });
        let addr = addr_rx.recv().expect("server address");
        Server {
            addr,
            base: format!("http://{addr}"),
            state,
            log,
            _dir: dir,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Value {
        let req = ureq::request(method, &format!("{}{path}", self.base))
            .set("Authorization", &format!("Bearer {token}"));
        let resp = match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        };
        match resp {
            Ok(r) => r.into_json().expect("json"),
            Err(ureq::Error::Status(code, r)) => {
                panic!("{method} {path}: {code} {}", r.into_string().unwrap_or_default())
            }
            Err(e) => panic!("{method} {path}: {e}"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The first admin in process (as `gavel serve` does on an empty data dir), everything else over
/// HTTP: a second admin, the soc2 pack installed and taken live, 100 agents. Returns agent tokens.
fn deploy_over_http(server: &Server, agents: &[AgentSpec]) -> Vec<String> {
    let alice = server.state.gavel.bootstrap_admin().expect("bootstrap").expect("first admin").token;
    let bob = server.call("POST", "/v1/users", &alice, Some(json!({"name": "bob", "role": "admin"})));
    let bob = bob["token"].as_str().expect("token").to_string();
    server.call("POST", "/v1/packs/soc2/install", &alice, None);
    let change = server.call("POST", "/v1/packs/soc2/golive", &alice, None);
    let id = change["id"].as_str().expect("change id").to_string();
    server.call("POST", &format!("/v1/policies/changes/{id}/approve"), &bob, None);
    agents
        .iter()
        .map(|a| {
            let body = json!({"name": a.name, "groups": a.groups, "environment": a.environment});
            server.call("POST", "/v1/agents", &alice, Some(body))["token"]
                .as_str()
                .expect("token")
                .to_string()
        })
        .collect()
}

/// What the load generator sends: per call of the mix, its body and its agent's
/// `Authorization` header value.
struct Load {
    host: hyper::header::HeaderValue,
    auth: Vec<hyper::header::HeaderValue>,
    agent_of: Vec<usize>,
    bodies: Vec<hyper::body::Bytes>,
}

impl Load {
    fn new(server: &Server, tokens: &[String], mix: &Mix) -> Load {
        let header = |s: String| hyper::header::HeaderValue::try_from(s).expect("header value");
        Load {
            host: header(server.addr.to_string()),
            auth: tokens.iter().map(|t| header(format!("Bearer {t}"))).collect(),
            agent_of: mix.calls.iter().map(|c| c.agent).collect(),
            bodies: (0..mix.calls.len()).map(|k| mix.body(k).into()).collect(),
        }
    }
}

/// The load generator, event-driven as wrk and oha are: `clients` keep-alive HTTP/1.1
/// connections (hyper's client connection API, TCP_NODELAY) driven by one current-thread tokio
/// runtime on one thread of this process. Each connection sends one `POST /v1/decide` with its
/// call's agent token, reads the whole response, checks that it is a 200 carrying the `seq` of
/// the recorded decision, then sends the next: at most `clients` requests are outstanding. Runs
/// for `d`; requests in flight at the deadline are completed and counted.
fn bench_http(server: &Server, load: &Arc<Load>, clients: usize, d: Duration) -> Lat {
    bench_http_over(&[server.addr], load, clients, d)
}

/// [`bench_http`] with the connections spread round-robin over several servers (replicas).
fn bench_http_over(addrs: &[std::net::SocketAddr], load: &Arc<Load>, clients: usize, d: Duration) -> Lat {
    let (addrs, load) = (addrs.to_vec(), load.clone());
    // Its own named thread, so that profiles tell the load generator from the bench's main thread.
    std::thread::Builder::new()
        .name("gavel-loadgen".into())
        .spawn(move || load_generator(&addrs, &load, clients, d))
        .expect("load generator thread")
        .join()
        .expect("load generator")
}

fn load_generator(addrs: &[std::net::SocketAddr], load: &Arc<Load>, clients: usize, d: Duration) -> Lat {
    use http_body_util::{BodyExt, Full};
    use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("client runtime");
    runtime.block_on(async {
        let mut senders = Vec::with_capacity(clients);
        for client in 0..clients {
            let stream = tokio::net::TcpStream::connect(addrs[client % addrs.len()]).await.expect("connect");
            stream.set_nodelay(true).expect("TCP_NODELAY");
            let io = hyper_util::rt::TokioIo::new(stream);
            let (sender, connection) = hyper::client::conn::http1::handshake(io).await.expect("handshake");
            tokio::spawn(connection);
            senders.push(sender);
        }
        let start = Instant::now();
        let deadline = start + d;
        let tasks: Vec<_> = senders
            .into_iter()
            .enumerate()
            .map(|(t, mut sender)| {
                let load = load.clone();
                tokio::spawn(async move {
                    let mut out = Vec::with_capacity(1 << 14);
                    let mut k = t * 61;
                    while Instant::now() < deadline {
                        let i = k % load.bodies.len();
                        let request = hyper::Request::post("/v1/decide")
                            .header(HOST, load.host.clone())
                            .header(AUTHORIZATION, load.auth[load.agent_of[i]].clone())
                            .header(CONTENT_TYPE, "application/json")
                            .body(Full::new(load.bodies[i].clone()))
                            .expect("request");
                        let t0 = Instant::now();
                        sender.ready().await.expect("connection ready");
                        let response = sender.send_request(request).await.expect("POST /v1/decide");
                        let status = response.status();
                        let body = response.into_body().collect().await.expect("response body").to_bytes();
                        out.push(t0.elapsed().as_nanos() as u64);
                        let recorded = body.windows(6).any(|w| w == b"\"seq\":");
                        assert!(
                            status == hyper::StatusCode::OK && recorded,
                            "POST /v1/decide: {status} {}",
                            String::from_utf8_lossy(&body)
                        );
                        k += 1;
                    }
                    out
                })
            })
            .collect();
        let mut nanos = Vec::new();
        for task in tasks {
            nanos.extend(task.await.expect("client task"));
        }
        summarize(nanos, start.elapsed())
    })
}

fn part_http() {
    let mix = soc2_mix();
    let server = Server::start();
    let tokens = deploy_over_http(&server, &mix.agents);
    let load = Arc::new(Load::new(&server, &tokens, &mix));
    // Warm-up, which also gives the size of a real decision event for the baseline's rows.
    bench_http(&server, &load, CLIENTS, Duration::from_secs(1));
    let row = decision_event_size(server.log.store().as_ref());
    println!(
        "POST /v1/decide over loopback HTTP, {CLIENTS} keep-alive connections (hyper client, one current-thread runtime on one thread of this process), soc2 enforce:"
    );
    let mut runs: Vec<(f64, Lat)> = Vec::new();
    for _ in 0..RUNS {
        let bare = bench_bare_sqlite(row);
        let http = bench_http(&server, &load, CLIENTS, secs());
        runs.push((bare, http));
    }
    let (bare, http) = median_by(runs, |(b, h)| h.rate / b);
    println!(
        "  durable decisions/s {:>8.0}  p50 {:>7.1} µs  p99 {:>7.1} µs   vs bare SQLite {:>8.0} rows/s ({row} B rows) = {:>5.1}%   (median of {RUNS} alternating runs)",
        http.rate,
        http.p50,
        http.p99,
        bare,
        100.0 * http.rate / bare
    );
    println!(
        "  target >= 10,000 durable decisions/s: {}",
        if http.rate >= 10_000.0 { "MET".to_string() } else { format!("MISSED ({:.0}/s)", http.rate) }
    );
    let single = bench_http(&server, &load, 1, secs());
    println!(
        "  1 client: {:>8.0} decisions/s  p50 {:>7.1} µs  p99 {:>7.1} µs",
        single.rate, single.p50, single.p99
    );
}

fn main() {
    // `cargo test --benches` runs this binary with --list; there is nothing to list.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let only = std::env::var("GAVEL_BENCH_ONLY").unwrap_or_default();
    let run = |part: &str| only.is_empty() || only == part;
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
    println!("machine: {cores} cores, {cpu}; load average {load}; {} s per timed run", secs().as_secs_f64());
    let soc2_rate = run("eval").then(part_eval);
    if run("agt") {
        part_agt(soc2_rate);
    }
    if run("decide") {
        part_decide();
    }
    if run("http") {
        part_http();
    }
    if only == "pg" {
        part_pg();
    }
}

// ---------------------------------------------------------------------------------------------
// Part 5: decide over HTTP on PostgreSQL, and replicas
// ---------------------------------------------------------------------------------------------

fn part_pg() {
    let mix = soc2_mix();
    let pg = gavel_testkit::Postgres::start();
    let sqlite = Server::start();
    let sqlite_tokens = deploy_over_http(&sqlite, &mix.agents);
    let sqlite_load = Arc::new(Load::new(&sqlite, &sqlite_tokens, &mix));
    let database = Database::parse(&pg.create_database()).expect("database URL");
    let first = Server::start_on(Some(database.clone()), None);
    let tokens = deploy_over_http(&first, &mix.agents);
    let load = Arc::new(Load::new(&first, &tokens, &mix));
    bench_http(&sqlite, &sqlite_load, CLIENTS, Duration::from_secs(1));
    bench_http(&first, &load, CLIENTS, Duration::from_secs(1));
    println!(
        "POST /v1/decide over loopback HTTP, {CLIENTS} keep-alive connections, soc2 enforce; PostgreSQL {} on this machine (default settings, fsync on) against the SQLite server:",
        pg.version()
    );
    let mut runs: Vec<(Lat, Lat)> = Vec::new();
    for _ in 0..RUNS {
        let on_sqlite = bench_http(&sqlite, &sqlite_load, CLIENTS, secs());
        let on_pg = bench_http(&first, &load, CLIENTS, secs());
        runs.push((on_sqlite, on_pg));
    }
    let (on_sqlite, on_pg) = median_by(runs, |(s, p)| p.rate / s.rate);
    for (name, l) in [("SQLite", on_sqlite), ("PostgreSQL", on_pg)] {
        println!(
            "  {name:<10} durable decisions/s {:>8.0}  p50 {:>7.1} µs  p99 {:>7.1} µs",
            l.rate, l.p50, l.p99
        );
    }
    println!(
        "  PostgreSQL / SQLite = {:.1}%   (median of {RUNS} alternating runs)",
        100.0 * on_pg.rate / on_sqlite.rate
    );
    drop(sqlite);
    // Replicas: more servers on the same database, the 64 connections spread over them.
    let mut servers = vec![first];
    println!(
        "  replicas on one PostgreSQL ({CLIENTS} connections spread over them; all on this machine's cores):"
    );
    for replicas in 1..=3 {
        while servers.len() < replicas {
            let keys = servers[0]._dir.path().to_path_buf();
            servers.push(Server::start_on(Some(database.clone()), Some(&keys)));
        }
        let addrs: Vec<_> = servers.iter().map(|s| s.addr).collect();
        bench_http_over(&addrs, &load, CLIENTS, Duration::from_secs(1));
        let runs: Vec<Lat> = (0..RUNS).map(|_| bench_http_over(&addrs, &load, CLIENTS, secs())).collect();
        let l = median_by(runs, |l| l.rate);
        println!(
            "    {replicas} replica(s): durable decisions/s {:>8.0}  p50 {:>7.1} µs  p99 {:>7.1} µs",
            l.rate, l.p50, l.p99
        );
    }
}
