//! `gavel serve`: runs the log. Until the HTTP API lands, serving means keeping the store open
//! and signing a checkpoint every interval in which the log grew, plus one at shutdown.

use clap::Args;
use gavel_ledger::clock::SystemClock;
use gavel_store::layout::DataDir;
use gavel_store::{Log, Store};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on (used once the HTTP API is built).
    #[arg(long, env = "GAVEL_ADDR", default_value = "127.0.0.1:7311")]
    addr: String,
    /// Seconds between checkpoints (a checkpoint is signed only when the log grew).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    checkpoint_interval: u64,
}

pub fn run(dir: &DataDir, args: ServeArgs) -> anyhow::Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let (log, opened) = Log::open(dir, Arc::new(SystemClock), None)?;
    if opened.key_created {
        tracing::info!(path = %dir.log_key().display(), "created the log signing key");
    }
    let log = Arc::new(log);
    let head = log.store().head()?;
    tracing::info!(
        data_dir = %dir.root().display(), origin = log.origin(), events = head.size,
        log_key = %log.signer().verifier_key(), addr = %args.addr,
        "gavel serving (log and checkpoints; the HTTP API is not built yet)"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        // Handlers are installed before anything else runs, so a signal is never missed.
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
        let mut tick = tokio::time::interval(Duration::from_secs(args.checkpoint_interval));
        loop {
            tokio::select! {
                _ = tick.tick() => checkpoint(&log).await,
                _ = term.recv() => break,
                _ = interrupt.recv() => break,
            }
        }
        tracing::info!("shutting down");
        anyhow::Ok(())
    })?;
    checkpoint_blocking(&log);
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

async fn checkpoint(log: &Arc<Log>) {
    let log = log.clone();
    let _ = tokio::task::spawn_blocking(move || checkpoint_blocking(&log)).await;
}

fn checkpoint_blocking(log: &Log) {
    match log.checkpoint() {
        Ok(c) => tracing::debug!(size = c.size, "checkpoint"),
        Err(e) => tracing::error!(error = %e, "could not sign a checkpoint"),
    }
}
