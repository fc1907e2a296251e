//! gavel-server: the HTTP API (axum) over [`gavel_core::Gavel`].
//!
//! Handlers stay thin: parse and validate the request shape, then run the domain call on the
//! blocking pool (the store is synchronous SQLite) with the caller's principal. Authorization and
//! every rule live in gavel-core. Every error is `{"error": {"code", "message"}}`.
//!
//! The exception is `POST /v1/decide`, the hot path: its short synchronous part (cached
//! authentication, one read transaction, evaluation, building the event) runs on the async
//! worker, and the log writer's commit is awaited without holding a thread; nothing is answered
//! before that commit.
//!
//! Shutdown is graceful: on SIGTERM/SIGINT the listener stops accepting, in-flight requests
//! finish (their appends commit), a final checkpoint is signed, and the log writer drains.

mod access_log;
pub mod api;
pub mod background;
pub mod body_limit;
pub mod checkpoint_upload;
pub mod client_addr;
pub mod compliance_api;
pub mod config;
pub mod console;
pub mod detectors;
pub mod error;
pub mod metrics;
pub mod notifications;
pub mod openapi;
pub mod public;
pub mod readiness;
pub mod s3_export;
pub mod webhooks;

use gavel_core::evidence_runs::Schedule;
use gavel_core::Gavel;
use metrics::Metrics;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Everything a handler needs.
#[derive(Clone)]
pub struct AppState {
    pub gavel: Arc<Gavel>,
    pub metrics: Arc<Metrics>,
    /// How the webhook dispatcher started by [`serve`] behaves.
    pub webhooks: Arc<webhooks::DispatchConfig>,
    /// How the detector task started by [`serve`] behaves.
    pub detectors: Arc<detectors::DetectorConfig>,
    /// How often [`serve`] runs the retention purge (`None`: only on request).
    pub retention_purge_every: Option<Duration>,
    /// Scheduled readiness scans and monthly exports.
    pub compliance: Schedule,
    /// The rate limits and access counts of the routes that need no token.
    pub public: Arc<public::PublicGuard>,
    /// The limits of every request (`[limits]` in gavel.toml).
    pub http_limits: Arc<body_limit::HttpLimits>,
    /// The reverse proxies whose forwarding headers name the client (`trusted_proxies`).
    pub trusted_proxies: Arc<client_addr::TrustedProxies>,
    /// The bounds of `/readyz` and its probe in flight.
    pub readiness: Arc<readiness::Readiness>,
    /// Where each newly signed checkpoint is also written (`checkpoint_publish_dir`).
    pub checkpoint_publish_dir: Option<std::path::PathBuf>,
    /// Where each signed checkpoint is also uploaded (the S3 target of the evidence export).
    pub checkpoint_upload: Option<(s3_export::S3Target, checkpoint_upload::UploadConfig)>,
    /// How the web console is served.
    pub console: console::ConsoleSettings,
    /// How the notification dispatcher started by [`serve`] behaves.
    pub notifications: Arc<notifications::NotifyConfig>,
}

impl AppState {
    /// The server over `gavel` (the domain, which owns the log); the append latency is measured
    /// into the server's metrics.
    pub fn new(gavel: Gavel) -> Self {
        let metrics = Arc::new(Metrics::new());
        let observed = metrics.clone();
        let gavel = gavel.observe_appends(move |d| observed.append_latency.observe(d.as_secs_f64()));
        AppState {
            gavel: Arc::new(gavel),
            metrics,
            webhooks: Arc::default(),
            detectors: Arc::default(),
            retention_purge_every: Some(Duration::from_secs(86_400)),
            compliance: Schedule::default(),
            public: Arc::default(),
            http_limits: Arc::default(),
            trusted_proxies: Arc::default(),
            readiness: Arc::default(),
            checkpoint_publish_dir: None,
            checkpoint_upload: None,
            console: console::ConsoleSettings::default(),
            notifications: Arc::default(),
        }
    }

    /// Also uploads every signed checkpoint to `target` (see [`checkpoint_upload`]); `None`: not.
    pub fn with_checkpoint_upload(
        mut self,
        target: Option<s3_export::S3Target>,
        config: checkpoint_upload::UploadConfig,
    ) -> Self {
        self.checkpoint_upload = target.map(|t| (t, config));
        self
    }

    /// Also writes every newly signed checkpoint to `<dir>/checkpoint` (see [`publish_checkpoint`]).
    pub fn with_checkpoint_publish_dir(mut self, dir: Option<std::path::PathBuf>) -> Self {
        self.checkpoint_publish_dir = dir;
        self
    }

    /// Sets how the web console is served.
    pub fn with_console(mut self, settings: console::ConsoleSettings) -> Self {
        self.console = settings;
        self
    }

    /// Sets the bounds of the readiness checks (`/readyz`).
    pub fn with_readiness(mut self, config: readiness::ReadinessConfig) -> Self {
        self.readiness = Arc::new(readiness::Readiness::new(config));
        self
    }

    /// Replaces the detector task's tunables.
    pub fn with_detectors(mut self, config: detectors::DetectorConfig) -> Self {
        self.detectors = Arc::new(config);
        self
    }

    /// Replaces the budget of the unauthenticated routes.
    pub fn with_public_limits(mut self, limits: public::PublicLimits) -> Self {
        self.public = Arc::new(public::PublicGuard::new(limits));
        self
    }

    /// Replaces the limits of every request (body size, long-poll wait).
    pub fn with_http_limits(mut self, limits: body_limit::HttpLimits) -> Self {
        self.http_limits = Arc::new(limits);
        self
    }

    /// Believes the forwarding headers of these peers (see [`client_addr`]).
    pub fn with_trusted_proxies(mut self, proxies: client_addr::TrustedProxies) -> Self {
        self.trusted_proxies = Arc::new(proxies);
        self
    }

    /// Sets the compliance schedule (scans, monthly exports).
    pub fn with_compliance_schedule(mut self, schedule: Schedule) -> Self {
        self.compliance = schedule;
        self
    }

    /// Sets how often the retention purge runs (`None`: only on request).
    pub fn with_retention_purge_every(mut self, every: Option<Duration>) -> Self {
        self.retention_purge_every = every;
        self
    }

    /// Replaces the notification dispatcher's tunables (the console URL messages link to).
    pub fn with_notifications(mut self, config: notifications::NotifyConfig) -> Self {
        self.notifications = Arc::new(config);
        self
    }

    /// Replaces the webhook dispatcher's tunables (tests use a short retry schedule).
    pub fn with_webhooks(mut self, config: webhooks::DispatchConfig) -> Self {
        self.webhooks = Arc::new(config);
        self
    }
}

/// Serves the API on `listener` until `shutdown` resolves, signing a checkpoint every
/// `checkpoint_interval` while the log grows and once more after the last request finished.
/// The webhook dispatcher, the detector task and the readiness probe run alongside and are
/// stopped (their rounds committed) before that final checkpoint; the final checkpoint is then
/// written to `checkpoint_publish_dir` and uploaded to S3 as every other one is (the webhooks
/// deliver it after the next start).
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    checkpoint_interval: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let gavel = state.gavel.clone();
    let publish_dir = state.checkpoint_publish_dir.clone();
    let checkpointer = tokio::spawn(async move {
        let mut tick = tokio::time::interval(checkpoint_interval);
        let mut published = 0u64;
        loop {
            tick.tick().await;
            let (gavel, dir) = (gavel.clone(), publish_dir.clone());
            // One replica signs (any could: a checkpoint of the same size has the same root).
            published = tokio::task::spawn_blocking(move || match gavel.hold_lease("checkpoints").then(|| gavel.sign_checkpoint()) {
                None => published,
                Some(signed) => match signed {
                Ok(c) => match dir.filter(|_| c.size > published) {
                    Some(dir) => match publish_checkpoint(&dir, &c.note) {
                        Ok(()) => c.size,
                        Err(e) => {
                            tracing::error!(error = %e, dir = %dir.display(), "could not publish the checkpoint");
                            published
                        }
                    },
                    None => published.max(c.size),
                },
                Err(e) => {
                    tracing::error!(error = %e, "could not sign a checkpoint");
                    published
                }
            }})
            .await
            .unwrap_or(published);
        }
    });
    let dispatcher = webhooks::start(state.gavel.clone(), (*state.webhooks).clone());
    let mut notify = (*state.notifications).clone();
    if notify.console_url.is_none() {
        // Links go to the console this very server serves (port 0 is resolved by now).
        notify.console_url = Some(format!("http://{}", listener.local_addr()?));
    }
    let notifier = notifications::start(state.gavel.clone(), notify);
    let uploader = state.checkpoint_upload.clone().map(|(target, config)| {
        checkpoint_upload::start(state.gavel.clone(), target, config, state.metrics.clone())
    });
    let detector = detectors::start(
        state.gavel.clone(),
        (*state.detectors).clone(),
        state.metrics.clone(),
        state.readiness.detectors_here.clone(),
    );
    let prober = readiness::start(state.readiness.clone(), state.gavel.clone(), state.metrics.clone());
    let purger =
        state.retention_purge_every.map(|every| tokio::spawn(run_purges(state.gavel.clone(), every)));
    let scheduler = tokio::spawn(run_compliance_schedule(state.clone()));
    let summaries = tokio::spawn(public::run_flushes(state.clone()));
    let auth_failures = tokio::spawn(run_auth_failure_flushes(state.gavel.clone()));
    let app = api::router(state.clone());
    // Connection info: the peer address, from which `client_addr` finds the client's.
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let result = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
    checkpointer.abort();
    prober.stop().await;
    detector.stop().await;
    scheduler.abort();
    if let Some(purger) = purger {
        // A purge batch is one transaction: aborting between batches loses nothing.
        purger.abort();
    }
    dispatcher.stop().await;
    notifier.stop().await;
    summaries.abort();
    auth_failures.abort();
    flush_auth_failures(state.gavel.clone()).await;
    // What the public routes counted since the last summary is recorded before the last checkpoint.
    public::flush_now(&state).await;
    let (gavel, dir) = (state.gavel.clone(), state.checkpoint_publish_dir.clone());
    let _ = tokio::task::spawn_blocking(move || match gavel.sign_checkpoint() {
        Ok(c) => {
            if let Some(dir) = dir {
                if let Err(e) = publish_checkpoint(&dir, &c.note) {
                    tracing::error!(error = %e, dir = %dir.display(), "could not publish the final checkpoint");
                }
            }
        }
        Err(e) => tracing::error!(error = %e, "could not sign the final checkpoint"),
    })
    .await;
    if let Some(uploader) = uploader {
        // Its last pass uploads the final checkpoint.
        uploader.stop().await;
    }
    result
}

/// Writes a signed checkpoint note to `<dir>/checkpoint`, atomically (a temporary file renamed
/// over it, then the directory synced), so a reader never sees half a note. Point `dir` at
/// storage the database's owner cannot rewrite (another host's mount, a synced bucket): a copy
/// held there lets `gavel audit verify --checkpoint` catch a rewritten log.
pub fn publish_checkpoint(dir: &std::path::Path, note: &str) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(".checkpoint.tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(note.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, dir.join("checkpoint"))?;
    std::fs::File::open(dir)?.sync_all()
}

/// Writes the failed authentications noted in the last minute (one `auth.failures` event).
async fn run_auth_failure_flushes(gavel: Arc<Gavel>) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    tick.tick().await;
    loop {
        tick.tick().await;
        flush_auth_failures(gavel.clone()).await;
    }
}

async fn flush_auth_failures(gavel: Arc<Gavel>) {
    match tokio::task::spawn_blocking(move || gavel.flush_failed_authentications()).await {
        Ok(Err(e)) => {
            tracing::error!(error = %e, "could not record failed authentications (kept for the next try)")
        }
        Err(e) => tracing::error!(error = %e, "the failed-authentication flush stopped"),
        Ok(Ok(_)) => {}
    }
}

/// Runs the retention purge shortly after start, then every `every`.
async fn run_purges(gavel: Arc<Gavel>, every: Duration) {
    let first = tokio::time::Instant::now() + every.min(Duration::from_secs(60));
    let mut tick = tokio::time::interval_at(first, every);
    loop {
        tick.tick().await;
        let gavel = gavel.clone();
        let purge =
            move || gavel.hold_lease("retention-purge").then(|| gavel.purge_expired(None)).transpose();
        match tokio::task::spawn_blocking(purge).await {
            Ok(Ok(Some(report))) if report.payloads_cleared > 0 => tracing::info!(
                cleared = report.payloads_cleared, cutoff = %report.cutoff, "purged payloads past retention"
            ),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "retention purge failed; will retry at the next run"),
            Err(e) => tracing::error!(error = %e, "retention purge task failed"),
        }
    }
}

/// Checks hourly (first a minute after start) for scheduled scans and exports that are due.
async fn run_compliance_schedule(state: AppState) {
    if state.compliance.scan_every.is_none() && !state.compliance.monthly_export {
        return;
    }
    let every = Duration::from_secs(3600);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + Duration::from_secs(60), every);
    loop {
        tick.tick().await;
        let (gavel, schedule) = (state.gavel.clone(), state.compliance.clone());
        let run =
            move || gavel.hold_lease("compliance-schedule").then(|| gavel.run_due(&schedule)).transpose();
        match tokio::task::spawn_blocking(run).await {
            Ok(Ok(None)) => {}
            Ok(Ok(Some(done))) => {
                for what in done {
                    tracing::info!(%what, "scheduled compliance work done");
                }
            }
            Ok(Err(e)) => tracing::error!(error = %e, "scheduled compliance work failed; will retry"),
            Err(e) => tracing::error!(error = %e, "scheduled compliance task failed"),
        }
    }
}
