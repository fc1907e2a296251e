//! `gavel serve`: the HTTP API, periodic signed checkpoints, and graceful shutdown.
//!
//! On an empty data directory the first start creates the log key and the first admin, and
//! prints that admin's token once on stdout.

use clap::Args;
use gavel_ledger::clock::SystemClock;
use gavel_server::config::Config;
use gavel_server::AppState;
use gavel_store::layout::DataDir;
use gavel_store::{Log, Store};
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
}

pub fn run(dir: &DataDir, args: ServeArgs) -> anyhow::Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let mut config = Config::load(args.config.as_deref(), &dir.root().join("gavel.toml"))?;
    if let Some(addr) = args.addr {
        config.addr = addr;
    }
    if let Some(secs) = args.checkpoint_interval {
        config.checkpoint_interval_secs = secs;
    }
    config.validate()?;

    let clock = Arc::new(SystemClock);
    let (log, opened) = Log::open(dir, clock.clone(), config.org.as_deref())?;
    if opened.key_created {
        tracing::info!(path = %dir.log_key().display(), "created the log signing key");
    }
    let log = Arc::new(log);
    let state = AppState::with_settings(log.clone(), clock, config.settings())
        .with_retention_purge_every(config.retention_purge_every())
        .with_compliance_schedule(config.compliance_schedule())
        .with_readiness(config.readiness())
        .with_webhooks(config.dispatch_config());
    if let Some(admin) = state.gavel.bootstrap_admin()? {
        println!("bootstrap admin token (shown once, store it now): {}", admin.token);
        tracing::warn!(user = %admin.principal.id, "created the first admin; its token was printed on stdout once");
    }
    let head = log.store().head()?;

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        // Handlers are installed before the listener opens, so no signal is ever missed.
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
        let listener = tokio::net::TcpListener::bind(&config.addr).await?;
        let addr = listener.local_addr()?;
        tracing::info!(
            %addr, data_dir = %dir.root().display(), origin = log.origin(), events = head.size,
            log_key = %log.signer().verifier_key(), "gavel serving"
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
