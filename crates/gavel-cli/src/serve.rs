//! `gavel serve`: the HTTP API, periodic signed checkpoints, and graceful shutdown.
//!
//! On an empty data directory the first start creates the log key and the first admin, and
//! prints that admin's token once on stdout.
//!
//! A write beyond the file-size limit (RLIMIT_FSIZE, `ulimit -f`) fails with EFBIG and the
//! server goes on: the commit fails, decide answers 503 and readiness says why, until the limit is
//! raised (see [`survive_file_size_limit`]).

use clap::Args;
use gavel_core::{DataDir, Gavel};
use gavel_ledger::clock::SystemClock;
use gavel_server::config::Config;
use gavel_server::AppState;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on (overrides the config file and GAVEL_ADDR).
    #[arg(long)]
    addr: Option<String>,
    /// Config file (default: <data-dir>/gavel.toml when it exists).
    #[arg(long, env = "GAVEL_CONFIG")]
    config: Option<PathBuf>,
    /// Seconds between signed checkpoints (overrides the config file).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    checkpoint_interval: Option<u64>,
    /// Log format on stderr: `text` for people, `json` (one object per line) for log shippers.
    /// What is logged is chosen with RUST_LOG (default `info`; the per-request access lines are
    /// `gavel::access`, e.g. `RUST_LOG=info,gavel::access=off` turns them off).
    #[arg(long, env = "GAVEL_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: LogFormat,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Sets up logging on stderr. An invalid RUST_LOG is refused rather than silently replaced, and
/// colour is used only on a terminal and never when NO_COLOR is set (https://no-color.org).
fn init_logging(format: LogFormat) -> anyhow::Result<()> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => tracing_subscriber::EnvFilter::try_new(&spec)
            .map_err(|e| anyhow::anyhow!("RUST_LOG={spec:?} is not a valid log filter: {e}"))?,
        _ => tracing_subscriber::EnvFilter::new("info"),
    };
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let ansi = !no_color && std::io::IsTerminal::is_terminal(&std::io::stderr());
    // A log line that cannot be written (stderr a file on a full disk or past the file-size limit,
    // a log shipper's pipe that closed) is dropped. tracing-subscriber's default reports the
    // failure with `eprintln!`, which panics when stderr fails: every thread that logged died,
    // the log writer with it (no commit until a restart) and requests lost their connection.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .log_internal_errors(false);
    match format {
        LogFormat::Text => builder.with_ansi(ansi).init(),
        LogFormat::Json => builder.json().with_ansi(false).with_current_span(false).init(),
    }
    Ok(())
}

/// A write past RLIMIT_FSIZE sends SIGXFSZ, whose default action ends the process (with a core
/// dump): the server died in the middle of a commit with no log line, and every caller waiting
/// on the batch saw its connection drop. Ignored, the same write fails with EFBIG instead, SQLite
/// reports an I/O error, the batch is not acknowledged (503) and the writer goes on, so raising
/// the limit of the running process (`prlimit --pid`) heals it without a restart, like a disk
/// that was full. Nothing `serve` runs execs another program, so no child inherits the
/// disposition.
#[allow(unsafe_code, reason = "libc::signal is the only way to set SIG_IGN; see SAFETY")]
fn survive_file_size_limit() {
    // SAFETY: `signal` with SIG_IGN installs no handler code, only the kernel's "ignore"
    // disposition for one signal, which is valid at any time in any thread. (No safe API in the
    // tree sets SIG_IGN: tokio's and signal-hook's safe ones install a handler instead.)
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

pub fn run(dir: &DataDir, args: ServeArgs) -> anyhow::Result<ExitCode> {
    survive_file_size_limit();
    init_logging(args.log_format)?;
    let mut config = Config::load(args.config.as_deref(), &dir.root().join("gavel.toml"))?;
    if let Some(addr) = args.addr {
        config.addr = addr;
    }
    if let Some(secs) = args.checkpoint_interval {
        config.checkpoint_interval_secs = secs;
    }
    config.validate()?;
    // `--database` / GAVEL_DATABASE_URL, else gavel.toml's `database_url`, else <data-dir>/gavel.db.
    let dir = &match (&config.database_url, dir.has_database_url()) {
        (Some(url), false) => dir.clone().with_database(Some(gavel_core::Database::parse(url)?)),
        _ => dir.clone(),
    };

    let clock = Arc::new(SystemClock);
    let (gavel, opened) = Gavel::open(dir, clock, config.org.as_deref())?;
    if opened.key_created {
        tracing::info!(path = %dir.log_key().display(), "created the log signing key");
    }
    let state = AppState::new(gavel.with_settings(config.settings()))
        .with_retention_purge_every(config.retention_purge_every())
        .with_compliance_schedule(config.compliance_schedule())
        .with_readiness(config.readiness())
        .with_checkpoint_publish_dir(config.checkpoint_publish_dir.as_ref().map(PathBuf::from))
        .with_checkpoint_upload(config.s3_target()?, Default::default())
        .with_webhooks(config.dispatch_config())
        .with_console(config.console())
        .with_http_limits(config.limits.http())
        .with_public_limits(config.limits.public())
        .with_trusted_proxies(config.trusted_proxies()?)
        .with_notifications(config.notify_config());
    if let Some(admin) = state.gavel.bootstrap_admin()? {
        println!("bootstrap admin token (shown once, store it now): {}", admin.token);
        tracing::warn!(user = %admin.principal.id, "created the first admin; its token was printed on stdout once");
    }
    let events = state.gavel.log_size()?;
    let (origin, log_key) = (state.gavel.origin().to_string(), state.gavel.log_key());

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        // Handlers are installed before the listener opens, so no signal is ever missed.
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
        let listener = tokio::net::TcpListener::bind(&config.addr).await?;
        let addr = listener.local_addr()?;
        tracing::info!(
            %addr, data_dir = %dir.root().display(), database = %dir.database_location(), %origin, events,
            %log_key, "gavel serving"
        );
        println!("gavel listening on http://{addr}");
        let shutdown = async move {
            tokio::select! {
                _ = term.recv() => {},
                _ = interrupt.recv() => {},
            }
            tracing::info!("shutting down: finishing in-flight requests");
        };
        gavel_server::serve(state, listener, Duration::from_secs(config.checkpoint_interval_secs), shutdown)
            .await?;
        anyhow::Ok(())
    })?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}
