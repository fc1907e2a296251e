//! Export in bounded memory: an ignored test that fills a log with many decisions and reports
//! the export's time and peak RSS (run: `GAVEL_EVIDENCE_EVENTS=1000000 cargo test --release -p
//! gavel-evidence --test scale -- --ignored --nocapture`).
//!
//! Measured on the 2-core development machine (2026-11-29, release build, 1 M decisions over 100
//! days): export 12.6 s with peak RSS 19 MiB (the process's baseline), verify 10.0 s, 19 MiB.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

use gavel_evidence::export::parse_date;
use gavel_evidence::{export, verify_bundle, ExportRequest, Framework, VerifyOptions};
use gavel_ledger::clock::ManualClock;
use gavel_ledger::event::{Actor, EventDraft};
use gavel_ledger::keys::generate_signing_key;
use gavel_store::layout::DataDir;
use gavel_store::Log;
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;
use time::macros::datetime;
use time::Duration;

/// The allocator the gavel binary uses (see gavel-cli's main.rs), so time and memory stand for
/// `gavel evidence export`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A `kB` line of /proc/self/status (`VmHWM`, `RssAnon`, `RssFile`).
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn peak_rss_kib() -> u64 {
    status_kib("VmHWM")
}

/// The largest `RssAnon` (heap and stacks, not file pages) seen every 2 ms while `f` runs.
/// `VmHWM` also counts the store's memory-mapped database pages (gavel-store readers map up
/// to 256 MiB of the file), which are page cache the process shares, not memory it allocates.
fn peak_anon_kib<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let sampler = s.spawn(|| {
            let mut peak = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(status_kib("RssAnon"));
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            peak.max(status_kib("RssAnon"))
        });
        let out = f();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        (out, sampler.join().expect("sampler"))
    })
}

/// CPU time (user + system) of the whole process so far, in seconds: on a loaded machine a
/// steadier measure than the wall clock.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime and stime are the 12th
    // and 13th, in clock ticks (100 per second on Linux).
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn reset_peak_rss() {
    // Linux: writing 5 to clear_refs resets VmHWM to the current RSS.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

#[test]
#[ignore = "slow: a scale measurement, not a unit test"]
fn export_memory_is_bounded() {
    let n: u64 = std::env::var("GAVEL_EVIDENCE_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);
    let tmp = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(datetime!(2026-01-01 00:00 UTC)));
    // GAVEL_EVIDENCE_DATA keeps the filled log between runs (filled once, then reused): so two
    // builds export the same log, and their bundles can be compared.
    let data = std::env::var("GAVEL_EVIDENCE_DATA").map_or_else(|_| tmp.path().join("data"), Into::into);
    let (log, _) = Log::open(&DataDir::new(data), clock.clone(), Some("acme")).expect("open");
    let started = Instant::now();
    let per_day = (n / 100).max(1);
    let mut i = log.store().head().expect("head").size;
    assert!(i == 0 || i == n, "GAVEL_EVIDENCE_DATA holds {i} events, not {n}");
    while i < n {
        let mut pending = Vec::new();
        for _ in 0..4096.min(n - i) {
            let outcome = ["allow", "deny", "require_approval"][(i % 3) as usize];
            let agent = format!("agt_{}", i % 50);
            let draft = EventDraft::new(
                "decision",
                Actor::agent(&agent),
                json!({"agent_id": agent, "agent_name": agent, "agent_status": "active", "tool": "refund",
                       "tool_category": "payments", "decision": outcome, "decision_id": format!("dec_{i}")}),
            )
            .expect("draft");
            pending.push(log.store().submit(draft).expect("submit"));
            i += 1;
            if i.is_multiple_of(per_day) {
                clock.advance(Duration::days(1));
            }
        }
        for p in pending {
            p.blocking_recv().expect("writer").expect("commit");
        }
    }
    eprintln!("filled {n} events in {:?}", started.elapsed());
    assert_eq!(log.store().head().expect("head").size, n);
    let fw = Framework::soc2().expect("soc2");
    let key = generate_signing_key();
    let checkpoint = log.checkpoint().expect("checkpoint");
    let log_key = log.signer().verifier_key();
    reset_peak_rss();
    let before = peak_rss_kib();
    let (anon_before, file_before) = (status_kib("RssAnon"), status_kib("RssFile"));
    let (started, cpu_started) = (Instant::now(), cpu_seconds());
    let (s, anon_peak) = peak_anon_kib(|| {
        export(&ExportRequest {
            store: log.store().as_ref(),
            checkpoint: &checkpoint,
            log_origin: log.origin(),
            log_key: &log_key,
            export_key: &key,
            framework: &fw,
            from: parse_date("2026-01-01").expect("d"),
            to: parse_date("2026-06-01").expect("d"),
            org: "acme".into(),
            out: tmp.path().join("bundle"),
            retention_days: 365,
            simulated: true,
            generated_at: datetime!(2026-06-01 00:00 UTC),
            progress: None,
        })
    });
    let s = s.expect("export");
    let export_time = started.elapsed();
    let export_cpu = cpu_seconds() - cpu_started;
    let peak = peak_rss_kib();
    assert_eq!(s.total_events, n);
    let sums = std::fs::read_to_string(tmp.path().join("bundle").join("SHA256SUMS")).expect("sums");
    let bytes: u64 = sums
        .lines()
        .filter_map(|l| l.split_once("  "))
        .map(|(_, f)| std::fs::metadata(tmp.path().join("bundle").join(f)).map_or(0, |m| m.len()))
        .sum();
    eprintln!("bundle: {} MiB in {} files", bytes >> 20, sums.lines().count());
    // To compare two builds' bundles of the same log: every file but those holding the
    // (random) log key or export key is determined by the events.
    if let Ok(path) = std::env::var("GAVEL_EVIDENCE_KEEP_SUMS") {
        std::fs::write(path, sums).expect("write sums");
    }
    eprintln!(
        "export of {n} events: {export_time:?} (CPU {export_cpu:.1} s), peak RSS {} MiB (baseline {} MiB, of which {} MiB file pages), \
         anonymous peak {} MiB (baseline {} MiB)",
        peak / 1024,
        before / 1024,
        file_before / 1024,
        anon_peak / 1024,
        anon_before / 1024
    );
    reset_peak_rss();
    let (started, cpu_started) = (Instant::now(), cpu_seconds());
    let r = verify_bundle(&tmp.path().join("bundle"), &VerifyOptions::default());
    assert!(r.valid, "{r:#?}");
    eprintln!(
        "verify: {:?} (CPU {:.1} s), peak RSS {} MiB",
        started.elapsed(),
        cpu_seconds() - cpu_started,
        peak_rss_kib() / 1024
    );
    assert!(anon_peak < 256 * 1024, "export anonymous peak RSS {} MiB exceeds 256 MiB", anon_peak / 1024);
}
