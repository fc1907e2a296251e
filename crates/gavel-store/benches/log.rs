//! `cargo bench -p gavel-store --bench log`: the log's performance targets, each measured as a
//! ratio against a baseline run in the same process (the machines are noisy; ratios travel).
//!
//! 1. durable append rate with 1, 8 and 64 concurrent writers (and 64 that each keep 16 appends
//!    in flight) vs a bare SQLite loop inserting rows of the same size in transactions of 1,000
//!    with the same `synchronous` setting;
//! 2. full verification rate vs plain SHA-256 over the same bytes;
//! 3. inclusion proof generation and verification at 1 M entries;
//! 4. only with `GAVEL_BENCH_ONLY=pg`, the same appends on PostgreSQL (a server gavel-testkit
//!    starts on this machine) beside SQLite, alternating;
//! 5. only with `GAVEL_BENCH_ONLY=wal`, the WAL under sustained load: a fixed number of decision-shaped
//!    appends (each with its document) from 64 tasks beside 2 reader threads, with the store's WAL
//!    bound and without it (`u64::MAX`, the behaviour before the bound), alternating: append rate
//!    and the largest WAL seen.
//!
//! Environment: GAVEL_BENCH_SECS (seconds per append run, default 4), GAVEL_BENCH_PROOF_SIZE
//! (default 1_000_000), GAVEL_BENCH_VERIFY_ROUNDS (verification rounds, best of each kept, default 5).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

#[path = "common/bare_sqlite.rs"]
mod bare_sqlite;

/// The allocator the gavel binary uses (see gavel-cli's main.rs), so the figures stand for it;
/// the bare-SQLite baseline runs in this process and gets it too.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use gavel_ledger::clock::SystemClock;
use gavel_ledger::event::{Actor, EventDraft, SealableDraft};
use gavel_ledger::hash::{leaf_hash, ZERO_HASH};
use gavel_ledger::merkle::verify_inclusion;
use gavel_ledger::verify::{RangeVerifier, StoredEntry};
use gavel_store::docs::{DocKeys, DocQuery, Expect, StateOp};
use gavel_store::sqlite::WAL_LIMIT;
use gavel_store::{PgStore, SqliteStore, Store};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn secs() -> Duration {
    Duration::from_secs_f64(
        std::env::var("GAVEL_BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(4.0),
    )
}

/// A decision-sized event: about 400 bytes of JCS, like a real `decision`.
fn draft(i: u64) -> EventDraft {
    EventDraft::new(
        "decision",
        Actor::agent("agent-7f3a9c"),
        json!({
            "decision_id": format!("dec_{i:016x}"), "tool": "send_email", "outcome": "allow",
            "arguments_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "policies": [{"id": "soc2.external_comm", "version": 3}], "latency_us": 412,
            "on_behalf_of": "user:alice@example.com", "reasons": ["permitted by soc2.external_comm"],
        }),
    )
    .expect("valid draft")
}

fn event_size() -> usize {
    SealableDraft::new(&draft(0))
        .expect("draft")
        .seal(123_456, "2026-11-29T00:00:00.000000Z", &ZERO_HASH)
        .len()
}

/// `writers` concurrent async tasks on a 2-thread runtime, each keeping `in_flight` appends
/// outstanding: it submits until that many wait, then awaits the oldest. With one in flight that
/// is how the HTTP server's request handlers call the log; more is a caller that pipelines its
/// appends.
fn bench_append_pipelined(writers: usize, in_flight: usize) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("gavel.db"), Arc::new(SystemClock)).expect("open"));
    append_rate(store, writers, in_flight)
}

/// Appends per second `writers` tasks (2 runtime threads) sustain on `store` for [`secs`], each
/// with at most `in_flight` appends outstanding.
fn append_rate(store: Arc<dyn Store>, writers: usize, in_flight: usize) -> f64 {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|t| {
            let (store, stop, count) = (store.clone(), stop.clone(), count.clone());
            runtime.spawn(async move {
                let mut i = t as u64 * 1_000_000_000;
                let mut waiting = std::collections::VecDeque::with_capacity(in_flight);
                while !stop.load(Ordering::Relaxed) {
                    waiting.push_back(store.submit(draft(i)).expect("submit"));
                    i += 1;
                    if waiting.len() >= in_flight {
                        if let Some(oldest) = waiting.pop_front() {
                            oldest.await.expect("writer").expect("append");
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                for rest in waiting {
                    rest.await.expect("writer").expect("append");
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(secs());
    stop.store(true, Ordering::Relaxed);
    runtime.block_on(async {
        for t in tasks {
            t.await.expect("writer task");
        }
    });
    count.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

/// `appends` decision-shaped appends, each with its document, from 64 async tasks on a 2-thread
/// runtime while 2 threads keep reading (head, the last entry, a document count), on a store
/// with `wal_limit`. Returns (appends/s, largest WAL seen in bytes, WAL at the end in bytes).
fn bench_wal(appends: u64, wal_limit: u64) -> (f64, u64, u64) {
    const TASKS: u64 = 64;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("gavel.db");
    let store =
        Arc::new(SqliteStore::open_with_wal_limit(&path, Arc::new(SystemClock), wal_limit).expect("open"));
    let wal_path = dir.path().join("gavel.db-wal");
    let wal_size = move || std::fs::metadata(&wal_path).map_or(0, |m| m.len());
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (store, done) = (store.clone(), done.clone());
            std::thread::spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    let head = store.head().expect("head");
                    if head.size > 0 {
                        store.entry(head.size - 1).expect("entry");
                    }
                    store.count_docs(&DocQuery::new("decisions", 100)).expect("count");
                }
            })
        })
        .collect();
    let largest = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (done, largest, wal_size) = (done.clone(), largest.clone(), wal_size.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                largest.fetch_max(wal_size(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let start = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let store = store.clone();
            runtime.spawn(async move {
                for i in (t..appends).step_by(TASKS as usize) {
                    let keys = DocKeys {
                        k1: Some(format!("agent-{}", i % 100)),
                        k2: None,
                        k3: Some("allow".into()),
                    };
                    let doc = StateOp::put(
                        "decisions",
                        &format!("dec_{i:016x}"),
                        json!({"seq": i}),
                        keys,
                        Expect::Absent,
                    );
                    store
                        .submit_with(draft(i), vec![doc])
                        .expect("submit")
                        .await
                        .expect("writer")
                        .expect("append");
                }
            })
        })
        .collect();
    runtime.block_on(async {
        for t in tasks {
            t.await.expect("writer task");
        }
    });
    let rate = appends as f64 / start.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().expect("reader");
    }
    sampler.join().expect("sampler");
    let end = wal_size();
    (rate, largest.load(Ordering::Relaxed).max(end), end)
}

/// The shared bare-SQLite baseline (see `bare_sqlite.rs`), run for this bench's run length.
fn bench_bare_sqlite(row_size: usize) -> f64 {
    bare_sqlite::rows_per_sec(row_size, secs())
}

/// Verification vs plain SHA-256: the best rate of each over `rounds` rounds (each round runs
/// the three back to back, so a burst of load elsewhere hits one round, not one side), and the
/// ratios each round measured. On a shared, loaded machine wall-clock rates swing by 2-3x, so the
/// single-threaded pair is also timed by this thread's own time on a CPU (`cpu_ratio`).
struct VerifyRates {
    sha: f64,
    one_thread: f64,
    batched: f64,
    one_thread_ratios: Vec<f64>,
    batched_ratios: Vec<f64>,
    /// Total on-CPU time of SHA-256 / of 1-thread verification over all rounds, if measurable.
    cpu_ratio: Option<f64>,
}

/// Seconds this thread has run on a CPU (Linux `/proc/thread-self/schedstat`, in ns), if known.
fn thread_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(ns as f64 / 1e9)
}

fn bench_verify(n: u64, rounds: usize) -> VerifyRates {
    let mut prev = ZERO_HASH;
    let entries: Vec<StoredEntry> = (0..n)
        .map(|seq| {
            let bytes = SealableDraft::new(&draft(seq)).expect("draft").seal(
                seq,
                "2026-11-29T00:00:00.000000Z",
                &prev,
            );
            prev = leaf_hash(&bytes);
            StoredEntry { seq, bytes: Some(bytes), leaf_hash: prev }
        })
        .collect();
    let total_bytes: usize = entries.iter().map(|e| e.bytes.as_ref().map_or(0, Vec::len)).sum();
    let mb = total_bytes as f64 / 1e6;
    // (wall seconds, on-CPU seconds of this thread)
    let timed = |f: &dyn Fn()| {
        let (start, cpu) = (Instant::now(), thread_cpu_secs());
        f();
        (start.elapsed().as_secs_f64(), cpu.zip(thread_cpu_secs()).map(|(a, b)| b - a))
    };
    let sha = || {
        let mut acc = 0u8;
        for e in &entries {
            let h = Sha256::digest(e.bytes.as_deref().unwrap_or_default());
            acc ^= h[0];
        }
        std::hint::black_box(acc);
    };
    let one_thread = || {
        let mut v = RangeVerifier::new(0, ZERO_HASH, vec![]);
        for e in &entries {
            v.push(e);
        }
        assert!(v.finish(n, n).valid);
    };
    let batched = || {
        let mut v = RangeVerifier::new(0, ZERO_HASH, vec![]);
        for chunk in entries.chunks(16_384) {
            v.push_batch(chunk);
        }
        assert!(v.finish(n, n).valid);
    };
    let mut r = VerifyRates {
        sha: 0.0,
        one_thread: 0.0,
        batched: 0.0,
        one_thread_ratios: Vec::new(),
        batched_ratios: Vec::new(),
        cpu_ratio: None,
    };
    let (mut sha_cpu, mut one_thread_cpu) = (Some(0.0), Some(0.0));
    for _ in 0..rounds {
        let ((s, s_cpu), (o, o_cpu), (b, _)) = (timed(&sha), timed(&one_thread), timed(&batched));
        r.sha = r.sha.max(mb / s);
        r.one_thread = r.one_thread.max(mb / o);
        r.batched = r.batched.max(mb / b);
        r.one_thread_ratios.push(s / o);
        r.batched_ratios.push(s / b);
        sha_cpu = sha_cpu.zip(s_cpu).map(|(t, d)| t + d);
        one_thread_cpu = one_thread_cpu.zip(o_cpu).map(|(t, d)| t + d);
    }
    r.cpu_ratio = sha_cpu.zip(one_thread_cpu).map(|(s, o)| s / o);
    r
}

fn bench_store_verify(store: &SqliteStore) -> f64 {
    let start = Instant::now();
    let r = store.verify(0, None, vec![]).expect("verify");
    assert!(r.valid);
    r.total as f64 / start.elapsed().as_secs_f64()
}

fn bench_proofs(size: u64) -> (Duration, Duration, f64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store =
        Arc::new(SqliteStore::open(&dir.path().join("gavel.db"), Arc::new(SystemClock)).expect("open"));
    // Fill with many writers so group commit makes this quick.
    let per = size / 64;
    let threads: Vec<_> = (0..64u64)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                let receivers: Vec<_> =
                    (0..per).map(|i| store.submit(draft(t * per + i)).expect("submit")).collect();
                for r in receivers {
                    r.blocking_recv().expect("writer").expect("append");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("filler");
    }
    let head = store.head().expect("head");
    let samples = 2000u64;
    let mut proofs = Vec::new();
    let start = Instant::now();
    for k in 0..samples {
        let seq = (k * 7919 * 104_729) % head.size;
        proofs.push((seq, store.inclusion_proof(seq, head.size).expect("proof")));
    }
    let gen = start.elapsed() / samples as u32;
    let leaves: Vec<_> =
        proofs.iter().map(|(seq, _)| store.entry(*seq).expect("entry").expect("present").leaf_hash).collect();
    let start = Instant::now();
    for ((seq, proof), leaf) in proofs.iter().zip(&leaves) {
        verify_inclusion(leaf, *seq, head.size, proof, &head.root).expect("verifies");
    }
    let ver = start.elapsed() / samples as u32;
    let store_verify = bench_store_verify(&store);
    (gen, ver, store_verify)
}

fn main() {
    // `cargo test --benches` runs this binary with --list; there is nothing to list.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // GAVEL_BENCH_ONLY=append|verify|proof runs one part (for profiling).
    let only = std::env::var("GAVEL_BENCH_ONLY").unwrap_or_default();
    let run = |part: &str| only.is_empty() || only == part;
    if run("append") {
        let row = event_size();
        println!(
            "event size: {row} bytes of JCS; {} s per run; median of 3 alternating runs",
            secs().as_secs_f64()
        );
        // (writers, appends each keeps outstanding)
        for (writers, in_flight) in [(1, 1), (8, 1), (64, 1), (64, 16)] {
            // Alternate baseline and gavel runs so drifts in disk speed hit both alike.
            let mut runs: Vec<(f64, f64)> = (0..3)
                .map(|_| (bench_bare_sqlite(row), bench_append_pipelined(writers, in_flight)))
                .collect();
            runs.sort_by(|a, b| (a.1 / a.0).total_cmp(&(b.1 / b.0)));
            let (bare, rate) = runs[1];
            let label = if in_flight == 1 {
                format!("{writers:>2} writers")
            } else {
                format!("{writers:>2} writers x {in_flight} in flight")
            };
            println!(
                "{label}: gavel durable append {rate:>8.0} events/s vs bare SQLite {bare:>8.0} rows/s = {:>5.1}%",
                100.0 * rate / bare
            );
        }
    }
    if only == "pg" {
        // The same appends on PostgreSQL (a real server on this machine, default settings, fsync
        // on) beside the SQLite store, alternating, 64 writers with one append each in flight.
        let pg = gavel_testkit::Postgres::start();
        println!("{}; {} s per run; median of 3 alternating runs", pg.version(), secs().as_secs_f64());
        for in_flight in [1, 16] {
            let mut runs: Vec<(f64, f64)> = (0..3)
                .map(|_| {
                    let on_sqlite = bench_append_pipelined(64, in_flight);
                    let store: Arc<dyn Store> = Arc::new(
                        PgStore::open(&pg.create_database(), Arc::new(SystemClock)).expect("open PostgreSQL"),
                    );
                    (on_sqlite, append_rate(store, 64, in_flight))
                })
                .collect();
            runs.sort_by(|a, b| (a.1 / a.0).total_cmp(&(b.1 / b.0)));
            let (on_sqlite, on_pg) = runs[1];
            println!(
                "64 writers x {in_flight:>2} in flight: PostgreSQL {on_pg:>8.0} appends/s vs SQLite {on_sqlite:>8.0}/s = {:>5.1}%",
                100.0 * on_pg / on_sqlite
            );
        }
    }
    if only == "wal" {
        let appends: u64 =
            std::env::var("GAVEL_BENCH_WAL_APPENDS").ok().and_then(|s| s.parse().ok()).unwrap_or(200_000);
        // GAVEL_BENCH_WAL_LIMITS_MIB=64,256: other bounds to compare (default: the store's).
        let limits: Vec<u64> = std::env::var("GAVEL_BENCH_WAL_LIMITS_MIB")
            .ok()
            .map(|v| v.split(',').filter_map(|n| n.trim().parse::<u64>().ok()).map(|n| n << 20).collect())
            .unwrap_or_else(|| vec![WAL_LIMIT]);
        println!("{appends} appends with documents from 64 tasks beside 2 readers; alternating");
        for _ in 0..2 {
            for limit in std::iter::once(u64::MAX).chain(limits.iter().copied()) {
                let name =
                    if limit == u64::MAX { "unbounded".to_string() } else { format!("{} MiB", limit >> 20) };
                let (rate, largest, end) = bench_wal(appends, limit);
                println!(
                    "WAL {name:>9}: {rate:>8.0} appends/s, largest WAL {:>7.1} MiB, at the end {:>7.1} MiB",
                    largest as f64 / 1048576.0,
                    end as f64 / 1048576.0
                );
            }
        }
    }
    if run("verify") {
        let rounds =
            std::env::var("GAVEL_BENCH_VERIFY_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5).max(1);
        let r = bench_verify(300_000, rounds);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let range = |ratios: &[f64]| {
            let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = ratios.iter().copied().fold(0.0, f64::max);
            format!("per round {:.1}-{:.1}%", 100.0 * lo, 100.0 * hi)
        };
        println!("verification: best of {rounds} rounds each");
        println!("plain SHA-256 over the event bytes (1 core):           {:>8.1} MB/s", r.sha);
        println!(
            "full verification, 1 thread:                           {:>8.1} MB/s = {:>5.1}% of plain SHA-256 ({})",
            r.one_thread,
            100.0 * r.one_thread / r.sha,
            range(&r.one_thread_ratios)
        );
        if let Some(cpu) = r.cpu_ratio {
            println!(
                "full verification, 1 thread, by on-CPU time:                      {:>5.1}% of plain SHA-256",
                100.0 * cpu
            );
        }
        println!(
            "full verification, batched over {cores} cores:              {:>8.1} MB/s = {:>5.1}% of plain SHA-256 ({})",
            r.batched,
            100.0 * r.batched / r.sha,
            range(&r.batched_ratios)
        );
    }
    if run("proof") {
        let size =
            std::env::var("GAVEL_BENCH_PROOF_SIZE").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
        let (gen, ver, store_verify) = bench_proofs(size);
        println!(
            "inclusion proof at {size} entries: generate {gen:?}, verify {ver:?} (mean of 2000, from SQLite)"
        );
        println!("verification from SQLite at {size} entries:   {store_verify:>10.0} events/s");
    }
}
