//! gavel-evidence: compliance frameworks as data, signed evidence bundles, and their offline
//! verification.
//!
//! * [`framework`]: `frameworks/*.toml` — criteria, evidence queries over the log, controls, and
//!   disclosed gaps. SOC 2 is built in; another framework is another file.
//! * [`analysis`]: the per-criterion aggregates computed while the export streams events.
//! * [`export`]: writes the bundle (events.jsonl, controls/, integrity.json, OSCAL, manifest,
//!   SHA256SUMS signed with the export key) from a [`gavel_store::Store`] in one pass.
//! * [`bundle`]: the types of the bundle's JSON files (manifest, integrity, summary, controls
//!   headers, samples, policy index), written by the exporter and read by the verifier.
//! * [`verify`]: checks a bundle offline and says exactly what broke.
//! * [`report`]: `report.pdf`, the human-readable report, from what the export computed.
//! * [`archive`]: the bundle as a reproducible `.tar.gz` (`--archive`).
//! * [`facts`]: the period's facts and the framework's operating rules over them.
//! * [`samples`]: what auditors sample (`samples.json`).
//! * [`policies`]: the policy texts the period's events cite (`policies/`).
//! * [`oscal`]: writes `oscal/assessment-results.json`.
//! * [`sums`]: the `SHA256SUMS` format.
//!
//! Invariants: everything in a bundle is derived from the log's events (nothing from domain
//! state), so an auditor can recompute it from `events.jsonl`; the export never holds the
//! period's events in memory; a bundle is written to a temporary directory and renamed into
//! place only once complete and signed. This crate writes files, never the log: it reads the
//! period from the store gavel-core hands it, and core records the export (gavel-core
//! `tests/one_door.rs` holds it to that); it does not depend on gavel-core.

pub mod analysis;
pub mod archive;
pub mod bundle;
pub mod context;
pub mod export;
pub mod facts;
pub mod framework;
pub mod oscal;
pub mod policies;
pub mod report;
pub mod samples;
pub mod sums;
pub mod verify;

pub use export::{export, ExportRequest, ExportSummary};
pub use framework::Framework;
pub use verify::{verify_bundle, VerifyOptions, VerifyReport};

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    #[error("framework: {0}")]
    Framework(String),
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("export: {0}")]
    Export(String),
    #[error(transparent)]
    Store(#[from] gavel_store::StoreError),
    #[error(transparent)]
    Ledger(#[from] gavel_ledger::LedgerError),
    #[error(transparent)]
    Report(#[from] report::ReportError),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Loads the export signing key of a data directory (`keys/export.key`), creating it on first
/// use with the same rules as the log key (PKCS#8 PEM, mode 0600, never overwritten, refused when
/// group or other can read it). Returns (key, created).
pub fn load_or_create_export_key(
    dir: &gavel_store::layout::DataDir,
) -> Result<(ed25519_dalek::SigningKey, bool), EvidenceError> {
    Ok(gavel_ledger::keys::load_or_create_signing_key(&dir.export_key())?)
}

/// The generator string written into manifests.
pub const GENERATOR: &str = concat!("gavel ", env!("CARGO_PKG_VERSION"));
