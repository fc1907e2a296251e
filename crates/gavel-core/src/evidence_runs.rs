//! Evidence runs: frameworks by name, readiness scans, bundle exports, uploads of bundles
//! elsewhere, and the schedule that runs them. Front ends (the HTTP API, the CLI, the server's
//! hourly loop) call these; they never write the log themselves.
//!
//! Invariants:
//! * gavel-evidence writes files only; the export is recorded here (`evidence.exported` plus its
//!   `evidence_exports/<id>` document, in one transaction) after the bundle is complete, so a
//!   recorded export always has its files;
//! * the checkpoint a bundle is anchored to is signed through the log, which verifies every entry
//!   it signs over: a corrupted store is refused, never exported under a fresh signature;
//! * an upload counts once its uploader read it back; it is recorded once per export and target
//!   (`evidence.uploaded` plus `evidence_uploads/<id>`), and never repeated once recorded;
//! * the schedule is idempotent: stored scans, exports and uploads say what was done, so restarts
//!   neither repeat nor skip work.

use crate::compliance::{Scan, ScanSettings};
use crate::{CoreError, DataDir, Gavel, Principal, Result, Role};
use gavel_evidence::export::{date_str, parse_date, EXPORTS_COLLECTION};
use gavel_evidence::{EvidenceError, ExportRequest, ExportSummary, Framework};
use gavel_ledger::event::Actor;
use gavel_store::docs::{DocKeys, Expect, StateOp};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use time::Date;

/// Collection and event kind of uploads.
pub const UPLOADS_COLLECTION: &str = "evidence_uploads";
pub const UPLOADED_KIND: &str = gavel_events::kind::EVIDENCE_UPLOADED;

/// The actor of scheduled work.
const SCHEDULER: &str = "scheduled-export";

pub(crate) fn evidence_error(e: EvidenceError) -> CoreError {
    match e {
        EvidenceError::Framework(m) | EvidenceError::Invalid(m) => CoreError::Invalid(m),
        EvidenceError::Store(e) => e.into(),
        other => CoreError::Internal(other.to_string()),
    }
}

/// Where a bundle goes to be kept elsewhere (an S3 bucket, …). The implementation moves bytes;
/// core decides what is due and records what was done.
pub trait BundleUploader: Send + Sync {
    /// The target's identity in upload records (e.g. `s3://bucket/prefix`).
    fn target(&self) -> String;
    /// Uploads the bundle in `dir` (whose `SHA256SUMS` must have SHA-256 `sha256sums_sha256`) and
    /// reads it back; `Ok` only when the whole bundle is there.
    fn upload(
        &self,
        dir: &Path,
        export_id: &str,
        sha256sums_sha256: &str,
    ) -> std::result::Result<Uploaded, String>;
}

/// What an upload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// Where the bundle now is (e.g. `s3://bucket/prefix/<export id>/`).
    pub url: String,
    pub objects: usize,
    pub bytes: u64,
    pub sha256sums_sha256: String,
}

/// What the compliance schedule runs (from `gavel.toml`).
#[derive(Clone)]
pub struct Schedule {
    /// Run a soc2 scan when the latest one is older than this (None: never on schedule).
    pub scan_every: Option<time::Duration>,
    /// Export the previous calendar month on the 1st (into `<data-dir>/exports/`).
    pub monthly_export: bool,
    /// Also copy each scheduled bundle into this directory (e.g. a mounted archive volume).
    pub copy_to: Option<PathBuf>,
    /// Also upload monthly bundles here.
    pub upload_to: Option<Arc<dyn BundleUploader>>,
    /// Tunables of the readiness checks (every scan, scheduled or not).
    pub checks: ScanSettings,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            scan_every: Some(time::Duration::days(7)),
            monthly_export: false,
            copy_to: None,
            upload_to: None,
            checks: ScanSettings::default(),
        }
    }
}

impl std::fmt::Debug for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schedule")
            .field("scan_every", &self.scan_every)
            .field("monthly_export", &self.monthly_export)
            .field("copy_to", &self.copy_to)
            .field("upload_to", &self.upload_to.as_ref().map(|u| u.target()))
            .field("checks", &self.checks)
            .finish()
    }
}

/// Where an export writes its bundle.
pub enum ExportOut {
    /// `<data-dir>/exports/<export id>`, where share links serve it from.
    DataDir,
    /// A directory the caller names (must not exist, or be empty).
    Path(PathBuf),
}

/// What to export.
pub struct ExportParams<'a> {
    pub framework: &'a Framework,
    /// First day of the period (inclusive).
    pub from: Date,
    /// Day after the period (exclusive).
    pub to: Date,
    pub out: ExportOut,
    /// Called with (events done, events in the period) every few thousand events.
    pub progress: Option<&'a dyn Fn(u64, u64)>,
}

impl Gavel {
    /// A framework by name: `soc2` (built in) or `<data-dir>/frameworks/<name>.toml`.
    pub fn framework(&self, name: &str) -> Result<Framework> {
        framework_in(self.data_dir(), name)
    }

    /// Runs and records a readiness scan of the framework `name` (admins and auditors).
    pub fn run_scan(&self, by: &Principal, name: &str, settings: &ScanSettings) -> Result<Scan> {
        Gavel::may_scan(by)?;
        let fw = self.framework(name)?;
        self.compliance_scan(Some(by), &fw, settings)
    }

    /// Writes a signed bundle of the period and records the export (admins, auditors and the
    /// local operator; the caller is the actor of `evidence.exported`).
    pub fn export_evidence(&self, by: &Principal, params: ExportParams<'_>) -> Result<ExportSummary> {
        by.require_operator_or(&[Role::Admin, Role::Auditor])?;
        self.export_as(&by.actor(), params)
    }

    fn export_as(&self, actor: &Actor, params: ExportParams<'_>) -> Result<ExportSummary> {
        let dir = self.data_dir();
        let (key, _) = gavel_evidence::load_or_create_export_key(dir).map_err(evidence_error)?;
        let exports = dir.exports();
        let out = match &params.out {
            ExportOut::Path(p) => p.clone(),
            ExportOut::DataDir => {
                std::fs::create_dir_all(&exports)
                    .map_err(|e| CoreError::Internal(format!("{}: {e}", exports.display())))?;
                exports.join(format!(".new-{}", crate::ids::new_id("x")))
            }
        };
        // Signed through the log, which verifies every entry it signs over.
        let checkpoint = self.sign_checkpoint()?;
        let log_key = self.log_key();
        let req = ExportRequest {
            store: self.store.as_ref(),
            checkpoint: &checkpoint,
            log_origin: self.origin(),
            log_key: &log_key,
            export_key: &key,
            framework: params.framework,
            from: params.from,
            to: params.to,
            org: self.org().to_string(),
            out,
            retention_days: self.retention_policy()?.days,
            simulated: self.is_simulated()?,
            generated_at: self.clock.now(),
            progress: params.progress,
        };
        let mut summary = gavel_evidence::export(&req).map_err(evidence_error)?;
        let exported = gavel_evidence::export::exported_record(&req, &summary);
        let body = crate::typed(&exported)?;
        let op = StateOp::put(
            EXPORTS_COLLECTION,
            &summary.export_id,
            body.clone(),
            DocKeys::default(),
            Expect::Absent,
        );
        self.record(gavel_events::kind::EVIDENCE_EXPORTED, actor, body, vec![op])?;
        if matches!(params.out, ExportOut::DataDir) {
            let target = exports.join(&summary.export_id);
            std::fs::rename(&summary.out, &target)
                .map_err(|e| CoreError::Internal(format!("{}: {e}", target.display())))?;
            summary.out = target;
        }
        Ok(summary)
    }

    /// The export signing public key (SPKI PEM), created on first use. Public: auditors pin it.
    pub fn export_public_key(&self) -> Result<String> {
        let (key, _) = gavel_evidence::load_or_create_export_key(self.data_dir()).map_err(evidence_error)?;
        Ok(gavel_ledger::keys::public_key_pem(&key.verifying_key()))
    }

    /// The record of the export a share link opened (`Gavel::open_share`), as stored.
    pub fn shared_export_document(&self, share: &crate::shares::Share) -> Result<serde_json::Value> {
        Ok(self.store.get_doc(EXPORTS_COLLECTION, &share.export_id)?.map(|d| d.body).unwrap_or_default())
    }

    /// Whether the data was produced with a simulated clock (`gavel demo`).
    pub fn is_simulated(&self) -> Result<bool> {
        Ok(self.store.meta("simulated")?.as_deref() == Some("true"))
    }

    /// Marks a new, empty log as simulated (`gavel demo`, before its first event). Refused on a
    /// log that holds events: their time is real.
    pub fn mark_simulated(&self) -> Result<()> {
        if self.log_size()? > 0 {
            return Err(CoreError::Conflict(
                "the log already holds events; only a new log can be simulated".into(),
            ));
        }
        self.store.init_meta("simulated", "true")?;
        Ok(())
    }

    /// System: runs whatever `schedule` says is due now and returns what it did, in words.
    /// Uploads have their own records, so a failed one is retried at the next run.
    pub fn run_due(&self, schedule: &Schedule) -> Result<Vec<String>> {
        let now = self.clock.now();
        let mut done = Vec::new();
        if let Some(every) = schedule.scan_every {
            let latest = self.latest_scan("soc2")?;
            let due = latest
                .as_ref()
                .and_then(|s| gavel_ledger::clock::parse_time(&s.completed_at))
                .is_none_or(|t| now - t >= every);
            if due {
                let fw = self.framework("soc2")?;
                let scan = self.compliance_scan(None, &fw, &schedule.checks)?;
                done.push(format!("scan {}", scan.id));
            }
        }
        if !schedule.monthly_export {
            return Ok(done);
        }
        let this_month = now.date().replace_day(1).map_err(|e| CoreError::Internal(e.to_string()))?;
        if let Some(previous) = this_month.previous_day().and_then(|d| d.replace_day(1).ok()) {
            let (from, to) = (date_str(previous), date_str(this_month));
            let exists =
                self.export_records()?.iter().any(|e| e.framework == "soc2" && e.from == from && e.to == to);
            if !exists {
                let fw = self.framework("soc2")?;
                let params = ExportParams {
                    framework: &fw,
                    from: previous,
                    to: this_month,
                    out: ExportOut::DataDir,
                    progress: None,
                };
                let summary = self.export_as(&Actor::system(SCHEDULER), params)?;
                done.push(format!("export {} of {from}..{to}", summary.export_id));
                if let Some(target) = &schedule.copy_to {
                    let copied = copy_bundle(&summary.out, target, &summary.export_id).map_err(|e| {
                        CoreError::Internal(format!("copying the bundle to {}: {e}", target.display()))
                    })?;
                    done.push(format!("copied to {}", copied.display()));
                }
            }
        }
        if let Some(uploader) = &schedule.upload_to {
            if let Err(e) = self.upload_pending(uploader.as_ref(), &mut done) {
                // What was done before the failure is in the log; say it here too.
                for what in &done {
                    tracing::info!(%what, "scheduled compliance work done");
                }
                return Err(e);
            }
        }
        Ok(done)
    }

    /// Uploads every soc2 monthly bundle held in `<data-dir>/exports/` that has no upload record
    /// for the target yet, oldest first, recording each success; stops at the first failure.
    fn upload_pending(&self, uploader: &dyn BundleUploader, done: &mut Vec<String>) -> Result<()> {
        let target = uploader.target();
        let mut pending = Vec::new();
        for e in self.export_records()?.into_iter().rev() {
            let dir = self.data_dir().exports().join(&e.export_id);
            if e.framework == "soc2"
                && is_monthly(&e.from, &e.to)
                && dir.join("SHA256SUMS").is_file()
                && !self.is_uploaded(&target, &e.export_id)?
            {
                pending.push((e, dir));
            }
        }
        for (e, dir) in pending {
            let uploaded = uploader.upload(&dir, &e.export_id, &e.sha256sums_sha256).map_err(|err| {
                CoreError::Internal(format!(
                    "export {} ({}..{}) stays in {} but is not uploaded yet (retried at the next check): {err}",
                    e.export_id,
                    e.from,
                    e.to,
                    dir.display()
                ))
            })?;
            self.record_upload(&target, &e.export_id, &uploaded)?;
            done.push(format!("uploaded {} to {} ({} objects)", e.export_id, uploaded.url, uploaded.objects));
        }
        Ok(())
    }

    /// Whether `export_id` is already recorded as uploaded to `target`.
    pub(crate) fn is_uploaded(&self, target: &str, export_id: &str) -> Result<bool> {
        Ok(self.store.get_doc(UPLOADS_COLLECTION, &upload_record_id(target, export_id))?.is_some())
    }

    /// Records a successful upload: an `evidence.uploaded` event and its `evidence_uploads`
    /// document, in one transaction.
    fn record_upload(&self, target: &str, export_id: &str, uploaded: &Uploaded) -> Result<()> {
        let record = gavel_events::EvidenceUploaded {
            export_id: export_id.into(),
            target: target.into(),
            url: uploaded.url.clone(),
            objects: uploaded.objects as u64,
            bytes: uploaded.bytes,
            sha256sums_sha256: uploaded.sha256sums_sha256.clone(),
            uploaded_at: self.now(),
            other: Default::default(),
        };
        let body = crate::typed(&record)?;
        let keys = DocKeys { k1: Some(export_id.to_string()), k2: Some(target.to_string()), k3: None };
        let op = StateOp::put(
            UPLOADS_COLLECTION,
            &upload_record_id(target, export_id),
            body.clone(),
            keys,
            Expect::Absent,
        );
        self.record(UPLOADED_KIND, &Actor::system(SCHEDULER), body, vec![op])?;
        Ok(())
    }
}

/// The id of the record of `export_id` uploaded to `target`.
pub fn upload_record_id(target: &str, export_id: &str) -> String {
    hex::encode(Sha256::digest(format!("{target}\n{export_id}").as_bytes()))
}

/// A framework by name in `dir`: `soc2` (built in) or `<dir>/frameworks/<name>.toml`.
pub fn framework_in(dir: &DataDir, name: &str) -> Result<Framework> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if !valid {
        return Err(CoreError::Invalid(format!("framework {name:?} must be a name like soc2 ([a-z0-9._-])")));
    }
    if name == "soc2" {
        return Framework::soc2().map_err(evidence_error);
    }
    let path = dir.root().join("frameworks").join(format!("{name}.toml"));
    if !path.is_file() {
        return Err(CoreError::NotFound(format!(
            "no framework {name:?} (built in: soc2; others go in {})",
            dir.root().join("frameworks").display()
        )));
    }
    Framework::load(&path.to_string_lossy()).map_err(evidence_error)
}

/// Parses a `YYYY-MM-DD` day of a request.
pub fn day(text: &str) -> Result<Date> {
    parse_date(text).map_err(evidence_error)
}

/// Whether `[from, to)` is a whole calendar month (what the schedule exports and uploads).
fn is_monthly(from: &str, to: &str) -> bool {
    let (Ok(from), Ok(to)) = (parse_date(from), parse_date(to)) else {
        return false;
    };
    from.day() == 1
        && from
            .replace_day(28)
            .ok()
            .and_then(|d| d.checked_add(time::Duration::days(4)))
            .and_then(|d| d.replace_day(1).ok())
            == Some(to)
}

/// Copies a bundle directory to `<target>/<name>`, via a staging name so a reader never sees a
/// half-copied bundle.
fn copy_bundle(bundle: &Path, target: &Path, name: &str) -> std::io::Result<PathBuf> {
    fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            let dest = to.join(entry.file_name());
            if entry.file_type()?.is_dir() {
                copy_dir(&entry.path(), &dest)?;
            } else {
                std::fs::copy(entry.path(), dest)?;
            }
        }
        Ok(())
    }
    std::fs::create_dir_all(target)?;
    let staging = target.join(format!(".{name}.partial"));
    let _ = std::fs::remove_dir_all(&staging);
    copy_dir(bundle, &staging)?;
    let dest = target.join(name);
    std::fs::rename(&staging, &dest)?;
    Ok(dest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kinds_recorded_are_the_typed_kinds() {
        assert_eq!(gavel_evidence::export::EXPORTED_KIND, gavel_events::kind::EVIDENCE_EXPORTED);
        assert_eq!(gavel_ledger::event::PURGE_RECORD_KIND, gavel_events::kind::RETENTION_PURGED);
    }

    #[test]
    fn whole_calendar_months_are_monthly() {
        assert!(is_monthly("2026-01-01", "2026-02-01"));
        assert!(is_monthly("2026-12-01", "2027-01-01"));
        assert!(!is_monthly("2026-01-01", "2026-01-31"));
        assert!(!is_monthly("2026-01-02", "2026-02-01"));
        assert!(!is_monthly("bad", "2026-02-01"));
    }

    #[test]
    fn upload_records_are_per_target_and_export() {
        assert_ne!(upload_record_id("s3://a", "x1"), upload_record_id("s3://b", "x1"));
        assert_ne!(upload_record_id("s3://a", "x1"), upload_record_id("s3://a", "x2"));
    }
}
