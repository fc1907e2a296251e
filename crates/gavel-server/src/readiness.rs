//! Readiness (`GET /readyz`): can this process do its job right now? `/healthz` stays liveness
//! (the process runs and answers); a load balancer should route decisions only to a ready one.
//!
//! Four checks, each with a bound from gavel.toml:
//! * `commit` — the log writer can commit: unready from a failed commit (a batch of appends or a
//!   probe) until the next successful one, while the writer thread is gone, and while a probe has
//!   waited longer than the probe interval (a writer stuck on a locked database). When no commit
//!   happened for a probe interval, the probe task commits a transaction that rewrites one `meta`
//!   row ([`gavel_store::Store::probe_commit`]): it appends nothing to the log, and under load no
//!   probe runs at all, so decide pays nothing beyond the writer's one atomic store per batch.
//! * `detectors` — the log size minus the detectors' position (the `detector_position` metric)
//!   is at most `ready_max_detector_lag` events.
//! * `disk` — the filesystem of the data directory has at least `ready_min_free_disk_mb` free for
//!   unprivileged users (statvfs `f_bavail`): a WAL that can still reuse its space commits on a
//!   nearly full disk, so the probe alone would see the problem only once the WAL must grow.
//! * `wal` — the database's write-ahead log is at most `ready_max_wal_mb` (`gavel_wal_bytes`).
//!   The store rewinds it past 64 MiB (gavel-store `sqlite`); a WAL far beyond that means readers
//!   kept it from being rewound for long, and reads slow down as it grows.
//!
//! Invariants: evaluating the checks never writes; every evaluation (a `/readyz` request, a
//! `/metrics` scrape, a probe tick) sets the `gavel_ready*` gauges from what it found.

use crate::background::Background;
use crate::metrics::{Metrics, ReadyCheckLabels};
use gavel_core::{CommitHealth, Gavel};
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The bounds of the readiness checks (gavel.toml `ready_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadinessConfig {
    /// With no commit for this long, the probe task checks the writer with a probe commit; a
    /// probe unanswered for this long makes the server unready.
    pub probe_interval: Duration,
    /// Most events the detectors may trail the log by.
    pub max_detector_lag: u64,
    /// Least free space on the data directory's filesystem, in bytes.
    pub min_free_disk_bytes: u64,
    /// Largest write-ahead log, in bytes.
    pub max_wal_bytes: u64,
}

impl Default for ReadinessConfig {
    fn default() -> Self {
        ReadinessConfig {
            probe_interval: Duration::from_secs(5),
            max_detector_lag: 100_000,
            min_free_disk_bytes: 256 * 1024 * 1024,
            max_wal_bytes: 1024 * 1024 * 1024,
        }
    }
}

/// The readiness bounds and the probe in flight.
pub struct Readiness {
    pub config: ReadinessConfig,
    epoch: Instant,
    /// When the probe in flight started (nanoseconds since `epoch` plus one; 0: none).
    probe_started: AtomicU64,
    /// Whether the detectors run in this replica (it held their lease at the last renewal): the
    /// detector lag is checked only where they run.
    pub detectors_here: Arc<std::sync::atomic::AtomicBool>,
}

impl Readiness {
    pub fn new(config: ReadinessConfig) -> Self {
        Readiness {
            config,
            epoch: Instant::now(),
            probe_started: AtomicU64::new(0),
            detectors_here: Arc::new(std::sync::atomic::AtomicBool::new(true)),
        }
    }

    fn probe_waited(&self) -> Option<Duration> {
        let started = self.probe_started.load(Ordering::Acquire);
        (started > 0).then(|| self.epoch.elapsed().saturating_sub(Duration::from_nanos(started - 1)))
    }
}

impl Default for Readiness {
    fn default() -> Self {
        Self::new(ReadinessConfig::default())
    }
}

/// One check's verdict.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Check {
    pub ok: bool,
    pub detail: String,
}

/// Every check, in a fixed order.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub ready: bool,
    pub commit: Check,
    pub detectors: Check,
    pub disk: Check,
    pub wal: Check,
}

/// The checks by name, as `/readyz` answers them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Checks {
    pub commit: Check,
    pub detectors: Check,
    pub disk: Check,
    pub wal: Check,
}

/// `/readyz` when ready: `{"status": "ready", "checks": {...}}`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Ready {
    /// Always `ready` (not ready is a 503 with the error body).
    pub status: String,
    pub checks: Checks,
}

impl Report {
    /// The checks by name.
    pub fn by_name(&self) -> Checks {
        Checks {
            commit: self.commit.clone(),
            detectors: self.detectors.clone(),
            disk: self.disk.clone(),
            wal: self.wal.clone(),
        }
    }

    /// The names of the failing checks.
    pub fn failing(&self) -> Vec<&'static str> {
        self.checks().into_iter().filter(|(_, c)| !c.ok).map(|(name, _)| name).collect()
    }

    pub fn checks(&self) -> [(&'static str, &Check); 4] {
        [("commit", &self.commit), ("detectors", &self.detectors), ("disk", &self.disk), ("wal", &self.wal)]
    }
}

/// Evaluates every check (a few atomic loads, one read of the log size, one statvfs) and sets the
/// readiness gauges.
pub fn evaluate(readiness: &Readiness, gavel: &Gavel, metrics: &Metrics) -> Report {
    let health = gavel.commit_health();
    let wal = wal_check(readiness, health.wal_bytes, metrics);
    let commit = commit_check(readiness, health);
    let detectors = detectors_check(readiness, gavel, metrics);
    let disk = disk_check(readiness, gavel.data_dir().root(), metrics);
    let ready = commit.ok && detectors.ok && disk.ok && wal.ok;
    let report = Report { ready, commit, detectors, disk, wal };
    metrics.ready.set(i64::from(report.ready));
    for (name, check) in report.checks() {
        metrics.ready_check.get_or_create(&ReadyCheckLabels { check: name.into() }).set(i64::from(check.ok));
    }
    report
}

fn commit_check(readiness: &Readiness, health: CommitHealth) -> Check {
    if !health.writer_running {
        return Check { ok: false, detail: "the log writer has stopped".into() };
    }
    if let Some(error) = health.failing {
        let ago = health.last_failed.map_or(0, |t| t.elapsed().as_secs());
        return Check {
            ok: false,
            detail: format!("the last commit failed {ago} s ago (until one succeeds): {error}"),
        };
    }
    if let Some(waited) = readiness.probe_waited().filter(|w| *w > readiness.config.probe_interval) {
        return Check {
            ok: false,
            detail: format!("a probe commit has waited {} s for the log writer", waited.as_secs()),
        };
    }
    let detail = match health.last_ok {
        Some(t) => format!("last commit {} ms ago", t.elapsed().as_millis()),
        None => "no commit yet".into(),
    };
    Check { ok: true, detail }
}

fn detectors_check(readiness: &Readiness, gavel: &Gavel, metrics: &Metrics) -> Check {
    let size = match gavel.log_size() {
        Ok(size) => size,
        Err(e) => return Check { ok: false, detail: format!("cannot read the log size: {e}") },
    };
    metrics.log_entries.set(size);
    if !readiness.detectors_here.load(std::sync::atomic::Ordering::SeqCst) {
        return Check {
            ok: true,
            detail: "the detectors run on another replica (it holds their lease)".into(),
        };
    }
    let position = metrics.detector_position.get();
    let lag = size.saturating_sub(position);
    let bound = readiness.config.max_detector_lag;
    Check {
        ok: lag <= bound,
        detail: format!("{lag} events behind the log (position {position} of {size}; bound {bound})"),
    }
}

fn disk_check(readiness: &Readiness, dir: &std::path::Path, metrics: &Metrics) -> Check {
    let bound = readiness.config.min_free_disk_bytes;
    match rustix::fs::statvfs(dir) {
        Ok(s) => {
            let free = s.f_bavail.saturating_mul(s.f_frsize);
            metrics.data_dir_free_bytes.set(free);
            Check {
                ok: free >= bound,
                detail: format!(
                    "{} MiB free on the data directory's filesystem (bound {} MiB)",
                    mib(free),
                    mib(bound)
                ),
            }
        }
        Err(e) => Check { ok: false, detail: format!("statvfs {}: {e}", dir.display()) },
    }
}

fn wal_check(readiness: &Readiness, wal_bytes: u64, metrics: &Metrics) -> Check {
    metrics.wal_bytes.set(wal_bytes);
    let bound = readiness.config.max_wal_bytes;
    Check {
        ok: wal_bytes <= bound,
        detail: format!("write-ahead log {} MiB (bound {} MiB)", mib(wal_bytes), mib(bound)),
    }
}

fn mib(bytes: u64) -> u64 {
    bytes / (1024 * 1024)
}

/// Starts the probe task: every probe interval, if the writer committed nothing for that long or
/// its last commit failed, one probe commit on the blocking pool; then the checks are evaluated
/// (so the gauges stay current without a scrape). [`Background::stop`] ends it.
pub fn start(readiness: Arc<Readiness>, gavel: Arc<Gavel>, metrics: Arc<Metrics>) -> Background {
    let interval = readiness.config.probe_interval;
    Background::start(interval, move |mut ticks| async move {
        while ticks.next().await {
            let health = gavel.commit_health();
            let idle = health.last_ok.max(health.last_failed).is_none_or(|t| t.elapsed() >= interval);
            if idle || health.failing.is_some() {
                let started = u64::try_from(readiness.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX - 1) + 1;
                readiness.probe_started.store(started, Ordering::Release);
                let prober = gavel.clone();
                // Awaited to the end, however long the writer takes: one probe in flight at most.
                let _ = tokio::task::spawn_blocking(move || prober.probe_commit()).await;
                readiness.probe_started.store(0, Ordering::Release);
            }
            let (r, l, m) = (readiness.clone(), gavel.clone(), metrics.clone());
            let _ = tokio::task::spawn_blocking(move || evaluate(&r, &l, &m)).await;
        }
    })
}
