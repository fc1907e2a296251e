//! Records of gavel's own work that are read back: `detection.raised` and `detectors.progress`
//! (the detectors), `auth.failures` (refused credentials, summed a minute at a time),
//! `retention.purged` (the retention purge), `evidence.exported` / `evidence.uploaded` (evidence
//! runs) and `compliance.scan_completed` (readiness scans).
//!
//! Invariants: those of the crate (byte for byte as written, read tolerantly, unknown fields kept
//! in `other`). The ledger reads a purge record's `ranges` on its own, strictly (a malformed
//! purge record fails verification): [`RetentionPurged`] is how gavel writes it and how the
//! other readers read it.

use crate::lenient;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// `detection.raised`: one misuse signal computed from the log (also stored as
/// `detections/<id>`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DetectionRaised {
    #[serde(deserialize_with = "lenient")]
    pub detection_id: String,
    /// deny_spike | secret_in_arguments | prompt_injection | destructive_command | …
    #[serde(deserialize_with = "lenient")]
    pub detector: String,
    /// low | medium | high | critical
    #[serde(deserialize_with = "lenient")]
    pub severity: String,
    /// Agent id (or the refused credential, for `auth_failures`).
    #[serde(deserialize_with = "lenient")]
    pub agent: String,
    #[serde(deserialize_with = "lenient")]
    pub agent_name: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub tool: String,
    /// The event that raised it.
    #[serde(deserialize_with = "lenient")]
    pub source_seq: u64,
    /// Every event it rests on, ascending.
    #[serde(deserialize_with = "lenient")]
    pub source_seqs: Vec<u64>,
    #[serde(deserialize_with = "lenient")]
    pub decision_id: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub summary: String,
    /// What the detector found (its own shape per detector).
    #[serde(deserialize_with = "lenient")]
    pub details: Value,
    /// Whether it opens or attaches to an incident.
    #[serde(deserialize_with = "lenient")]
    pub incident: bool,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `detectors.progress`: the detectors looked at `[from_seq, next_seq)`, raised nothing, and
/// saved their cursor at `next_seq`, so a restart does not scan it again.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DetectorsProgress {
    #[serde(deserialize_with = "lenient")]
    pub next_seq: u64,
    #[serde(deserialize_with = "lenient")]
    pub from_seq: u64,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `retention.purged`: payloads past retention cleared (leaf hashes kept), or, with no
/// `ranges`, the purge frontier moved past what is kept.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RetentionPurged {
    /// Half-open seq ranges `[[from, to], …]` whose payloads it cleared.
    #[serde(deserialize_with = "lenient")]
    pub ranges: Vec<(u64, u64)>,
    #[serde(deserialize_with = "lenient")]
    pub payloads_cleared: u64,
    #[serde(deserialize_with = "lenient")]
    pub retention_days: u32,
    /// Events before this time were past retention.
    #[serde(deserialize_with = "lenient")]
    pub cutoff: String,
    /// The kinds never purged (`retention.*`, …); absent when nothing was cleared.
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub kept_kinds: Option<Vec<String>>,
    /// Ranges kept under a legal hold.
    #[serde(deserialize_with = "lenient")]
    pub held_ranges: Vec<(u64, u64)>,
    /// The document collections whose entries for the cleared events were dropped; absent when
    /// nothing was cleared.
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub documents_dropped: Option<Vec<String>>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `evidence.exported`: a signed evidence bundle written (also stored as `evidence_exports/<id>`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EvidenceExported {
    #[serde(deserialize_with = "lenient")]
    pub export_id: String,
    #[serde(deserialize_with = "lenient")]
    pub framework: String,
    /// The period `[from, to)`, as dates (YYYY-MM-DD).
    #[serde(deserialize_with = "lenient")]
    pub from: String,
    #[serde(deserialize_with = "lenient")]
    pub to: String,
    /// The checkpoint the bundle proves against.
    #[serde(deserialize_with = "lenient")]
    pub checkpoint_size: u64,
    #[serde(deserialize_with = "lenient")]
    pub checkpoint_root: String,
    /// SHA-256 (hex) of the bundle's SHA256SUMS.
    #[serde(deserialize_with = "lenient")]
    pub sha256sums_sha256: String,
    #[serde(deserialize_with = "lenient")]
    pub total_events: u64,
    /// Whether the period is long enough for a SOC 2 Type II report.
    #[serde(deserialize_with = "lenient")]
    pub type_ii: bool,
    #[serde(deserialize_with = "lenient")]
    pub simulated: bool,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `evidence.uploaded`: a bundle copied to object storage (also stored as
/// `evidence_uploads/<id>`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EvidenceUploaded {
    #[serde(deserialize_with = "lenient")]
    pub export_id: String,
    /// The configured target (`s3://bucket/prefix`).
    #[serde(deserialize_with = "lenient")]
    pub target: String,
    /// Where the bundle now is.
    #[serde(deserialize_with = "lenient")]
    pub url: String,
    #[serde(deserialize_with = "lenient")]
    pub objects: u64,
    #[serde(deserialize_with = "lenient")]
    pub bytes: u64,
    #[serde(deserialize_with = "lenient")]
    pub sha256sums_sha256: String,
    #[serde(deserialize_with = "lenient")]
    pub uploaded_at: String,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A scan's period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScanPeriod {
    #[serde(deserialize_with = "lenient")]
    pub from: String,
    #[serde(deserialize_with = "lenient")]
    pub to: String,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// One criterion of a `compliance.scan_completed`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScannedCriterion {
    #[serde(deserialize_with = "lenient")]
    pub id: String,
    /// enforcing | observe | gap
    #[serde(deserialize_with = "lenient")]
    pub state: String,
    /// The keys of its findings.
    #[serde(deserialize_with = "lenient")]
    pub findings: Vec<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `compliance.scan_completed`: a readiness scan (stored whole as `compliance_scans/<id>`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScanCompleted {
    #[serde(deserialize_with = "lenient")]
    pub scan_id: String,
    #[serde(deserialize_with = "lenient")]
    pub framework: String,
    /// `{enforcing, observe, gap}` criterion counts.
    #[serde(deserialize_with = "lenient")]
    pub summary: BTreeMap<String, u64>,
    /// The period of the operating rules (`null` in scans made before rules existed).
    #[serde(deserialize_with = "lenient")]
    pub period: Option<ScanPeriod>,
    #[serde(deserialize_with = "lenient")]
    pub criteria: Vec<ScannedCriterion>,
    /// Keys of findings not in the previous scan.
    #[serde(deserialize_with = "lenient")]
    pub new_findings: Vec<String>,
    /// Keys of the previous scan's findings that are gone.
    #[serde(deserialize_with = "lenient")]
    pub remediated_findings: Vec<String>,
    #[serde(deserialize_with = "lenient")]
    pub previous_scan: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// Who a refused credential belonged to, when gavel knows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CredentialOwner {
    /// user | agent
    #[serde(rename = "type", deserialize_with = "lenient")]
    pub kind: String,
    #[serde(deserialize_with = "lenient")]
    pub id: String,
    #[serde(deserialize_with = "lenient")]
    pub name: Option<String>,
    /// Its status when the credential was refused.
    #[serde(deserialize_with = "lenient")]
    pub status: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// One credential refused from one source for one reason, within an `auth.failures` event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthFailureRow {
    /// `user:<id>`, `agent:<id>`, or `unknown:<hash prefix>`.
    #[serde(deserialize_with = "lenient")]
    pub credential: String,
    #[serde(deserialize_with = "lenient")]
    pub source: String,
    #[serde(deserialize_with = "lenient")]
    pub reason: String,
    #[serde(deserialize_with = "lenient")]
    pub count: u64,
    #[serde(deserialize_with = "lenient")]
    pub first_at: String,
    #[serde(deserialize_with = "lenient")]
    pub last_at: String,
    #[serde(deserialize_with = "lenient")]
    pub principal: Option<CredentialOwner>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `auth.failures`: the refused authentications of about a minute, loudest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthFailures {
    #[serde(deserialize_with = "lenient")]
    pub since: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub until: String,
    /// Every refusal, itemized or not.
    #[serde(deserialize_with = "lenient")]
    pub attempts: u64,
    #[serde(deserialize_with = "lenient")]
    pub rows: Vec<AuthFailureRow>,
    /// Rows and refusals beyond what one event itemizes.
    #[serde(deserialize_with = "lenient")]
    pub rows_omitted: u64,
    #[serde(deserialize_with = "lenient")]
    pub attempts_omitted: u64,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{kind, retype};
    use serde_json::json;

    #[test]
    fn a_purge_and_a_frontier_record_keep_their_own_fields() {
        let purge = json!({"ranges": [[3, 9]], "payloads_cleared": 6, "retention_days": 365,
                           "cutoff": "2025-01-01T00:00:00.000000Z", "kept_kinds": ["retention.*"],
                           "held_ranges": [], "documents_dropped": ["decisions"]});
        assert_eq!(retype(kind::RETENTION_PURGED, &purge).expect("typed").expect("reads"), purge);
        let frontier = json!({"ranges": [], "payloads_cleared": 0, "retention_days": 365,
                              "cutoff": "2025-01-01T00:00:00.000000Z", "held_ranges": [[1, 2]]});
        assert_eq!(retype(kind::RETENTION_PURGED, &frontier).expect("typed").expect("reads"), frontier);
    }

    #[test]
    fn detector_progress_is_two_seqs() {
        // What the writer's `json!` wrote.
        let progress = DetectorsProgress { next_seq: 40, from_seq: 12, other: Default::default() };
        assert_eq!(serde_json::to_value(&progress).unwrap(), json!({"next_seq": 40, "from_seq": 12}));
    }

    #[test]
    fn refused_authentications_keep_a_missing_owner_as_null() {
        let failures = json!({"since": null, "until": "t", "attempts": 3, "rows_omitted": 0,
                              "attempts_omitted": 0, "rows": [
            {"credential": "unknown:ab", "source": "1.2.3.4", "reason": "unknown credential", "count": 2,
             "first_at": "t", "last_at": "t", "principal": null},
            {"credential": "user:u", "source": "1.2.3.4", "reason": "user not active", "count": 1,
             "first_at": "t", "last_at": "t",
             "principal": {"type": "user", "id": "u", "name": "ann", "status": null}}]});
        assert_eq!(retype(kind::AUTH_FAILURES, &failures).expect("typed").expect("reads"), failures);
        let read: AuthFailures = crate::read(&failures);
        assert_eq!(read.rows[1].principal.as_ref().map(|p| p.kind.as_str()), Some("user"));
    }
}
