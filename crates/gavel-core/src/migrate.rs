//! `gavel migrate`: a data directory's SQLite log copied into an empty PostgreSQL database, then
//! proven to be the same log.
//!
//! Invariants: nothing is written to the source; the copy is all or nothing (gavel-store
//! `copy`); the result is reported only after the target's Merkle root at the copied size equals
//! the source's and the target verifies in full (chain, canonical bytes, stored nodes, columns,
//! and every stored checkpoint's signature under the data directory's log key).

use crate::error::{CoreError, Result};
use gavel_ledger::clock::Clock;
use gavel_ledger::verify::VerifyReport;
use gavel_store::copy::Copied;
use gavel_store::layout::{DataDir, Database};
use gavel_store::Log;
use std::path::Path;
use std::sync::Arc;

/// What a migration copied and what verifying the copy found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Migrated {
    #[serde(flatten)]
    pub copied: Copied,
    pub verify: VerifyReport,
}

/// Copies the SQLite log at `from` (default: the data directory's `gavel.db`) into the empty
/// PostgreSQL database `to`, then verifies the copy with `dir`'s log key.
pub fn sqlite_to_postgres(
    dir: &DataDir,
    from: Option<&Path>,
    to: &str,
    clock: Arc<dyn Clock>,
    progress: &mut dyn FnMut(u64),
) -> Result<Migrated> {
    let Database::Postgres(url) = Database::parse(to)? else {
        return Err(CoreError::Invalid(format!("--to {to:?} must be a postgres:// URL")));
    };
    let source = from.map_or_else(|| dir.database(), Path::to_path_buf);
    if !dir.log_key().exists() {
        return Err(CoreError::Invalid(format!(
            "{} has no log key: migrate from the data directory that holds the log's keys/",
            dir.root().display()
        )));
    }
    let copied = gavel_store::copy::sqlite_to_postgres(&source, &url, clock.clone(), progress)?;
    if copied.source_root != copied.target_root {
        return Err(CoreError::Internal(format!(
            "the copy's Merkle root {} differs from the source's {}",
            hex::encode(copied.target_root),
            hex::encode(copied.source_root)
        )));
    }
    let target = dir.clone().with_database(Some(Database::Postgres(url)));
    let log = Log::open_existing(&target, clock)?;
    let verify = log.verify(0, None)?;
    if !verify.valid {
        return Err(CoreError::Internal(format!(
            "the copy does not verify: {}",
            verify.reason.as_deref().unwrap_or("invalid")
        )));
    }
    Ok(Migrated { copied, verify })
}
