//! `gavel migrate`: copy a data directory's SQLite log into an empty PostgreSQL database, so that
//! several replicas can serve it (docs/replicas.md). The copy is verified before it is reported:
//! the same Merkle root as the source at the same size, and a full verification with the data
//! directory's log key. The source is only read; stop the server that holds it first.

use clap::Args;
use gavel_core::DataDir;
use gavel_ledger::clock::SystemClock;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Args)]
pub struct MigrateArgs {
    /// The data directory whose log is copied (its keys/ verify the copy).
    #[arg(long, env = "GAVEL_DATA_DIR", default_value = "./gavel-data")]
    data_dir: PathBuf,
    /// The SQLite database to copy, as sqlite://PATH (default: <data-dir>/gavel.db).
    #[arg(long, value_name = "URL")]
    from: Option<String>,
    /// The empty PostgreSQL database to copy into: postgres://user@host:port/db.
    #[arg(long, value_name = "URL")]
    to: String,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: MigrateArgs) -> anyhow::Result<ExitCode> {
    let from = match args.from.as_deref().map(gavel_core::Database::parse).transpose()? {
        None => None,
        Some(gavel_core::Database::Sqlite(path)) => Some(path),
        Some(other) => anyhow::bail!("--from {other} must be an sqlite://PATH URL"),
    };
    let dir = DataDir::new(&args.data_dir);
    let json = args.json;
    let mut last_report = std::time::Instant::now();
    let mut progress = |events: u64| {
        if !json && last_report.elapsed() >= std::time::Duration::from_secs(2) {
            eprintln!("copied {events} events");
            last_report = std::time::Instant::now();
        }
    };
    let migrated = gavel_core::migrate::sqlite_to_postgres(
        &dir,
        from.as_deref(),
        &args.to,
        Arc::new(SystemClock),
        &mut progress,
    )?;
    if json {
        crate::print_json(&serde_json::to_value(&migrated)?);
    } else {
        let c = &migrated.copied;
        println!(
            "copied {} events, {} Merkle nodes, {} checkpoints and {} documents",
            c.events, c.merkle_nodes, c.checkpoints, c.documents
        );
        println!("merkle root at size {}: {} (source and copy)", c.events, hex::encode(c.target_root));
        println!(
            "the copy verifies: {} events, {} signed checkpoints checked",
            migrated.verify.verified, migrated.verify.checkpoints_checked
        );
        println!(
            "serve it with: gavel serve --data-dir {} --database <the --to URL>",
            args.data_dir.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
