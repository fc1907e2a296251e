//! gavel-events: the names of the log's event kinds and the typed payloads of the events gavel
//! reads back, shared by the writers (gavel-core) and the readers (evidence analysis, detectors,
//! the OCSF mapping, the CLI), so a renamed field breaks the build instead of the evidence. This
//! file: decisions, approvals (decided, expired), outcomes, findings, webhook attempts, policy
//! changes; `incidents`: the incident timeline; `containment`: kill switches, the agent lifecycle
//! and limits, pack installs; `principals`: users, credentials, webhook endpoints, console
//! sessions; `records`: detections and the detectors' progress, refused authentications, purges,
//! evidence exports and uploads, readiness scans; `retention`: the retention period and legal
//! holds; `shares`: auditor share links and their accesses; `notifications`: channels for people
//! and their delivery rounds; `gateway`: the tool lists the MCP gateway saw; `tools`: the tool
//! registry's two-person category changes. Every kind gavel-core
//! writes has a type here; only the operators' own `external.<name>` events are free-form.
//!
//! Invariants:
//! * **written byte for byte as before**: a payload serializes to exactly the JSON the writers
//!   produced with `json!` (same fields, `null` where a value was `null`, absent where it was
//!   absent), so no leaf hash changes; a golden test re-serializes every event of a `gavel demo`
//!   log through these types and compares the canonical bytes;
//! * **read tolerantly**: every field has a default, a field that does not fit its type reads as
//!   its default (the others still read), and unknown fields are kept in `other` (re-serialized as
//!   they were), so older or newer events still read; [`read`] never fails;
//! * no dependency beyond serde: the ledger, evidence and core crates can all use it.

mod containment;
mod gateway;
mod incidents;
mod notifications;
mod principals;
mod records;
mod retention;
mod shares;
mod tools;

pub use containment::{
    AgentLimits, AgentLimitsChanged, AgentRegistered, AgentStatusChanged, KillSwitchEngaged,
    KillSwitchReleased, PackInstalled,
};
pub use gateway::{ChangedTool, GatewayToolsSeen, SeenTool};
pub use incidents::{
    IncidentAssigned, IncidentContained, IncidentEvent, IncidentLinked, IncidentNoted, IncidentOpened,
    IncidentOther, IncidentResolved, IncidentTriaged,
};
pub use notifications::{
    NotificationAttempt, NotificationAttempts, NotificationChannelCreated, NotificationChannelDisabled,
};
pub use principals::{
    ConsoleSignedIn, ConsoleSignedOut, CredentialRotated, UserCreated, UserDeactivated, UserRoleChanged,
    WebhookChanged, WebhookCreated, WebhookSecretRotated,
};
pub use records::{
    AuthFailureRow, AuthFailures, CredentialOwner, DetectionRaised, DetectorsProgress, EvidenceExported,
    EvidenceUploaded, RetentionPurged, ScanCompleted, ScanPeriod, ScannedCriterion,
};
pub use retention::{
    HoldPlaced, HoldReleaseRequested, HoldReleased, HoldScope, RetentionChangeRequested, RetentionPolicySet,
    RetentionRequest,
};
pub use shares::{ShareAccessRow, ShareAccessSummary, ShareAccessed, ShareCreated, ShareRevoked};
pub use tools::{CategoryAssignment, ToolCategoriesApplied, ToolCategoriesProposed, ToolCategoriesRejected};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// Event kind names (the `kind` field of a log event).
pub mod kind {
    pub const DECISION: &str = "decision";
    pub const APPROVAL_DECIDED: &str = "approval.decided";
    pub const APPROVAL_EXPIRED: &str = "approval.expired";
    pub const OUTCOME_RECORDED: &str = "outcome.recorded";
    pub const FINDING_BYPASS: &str = "finding.bypass";
    pub const FINDING_ACKNOWLEDGED: &str = "finding.acknowledged";
    pub const FINDING_RESOLVED: &str = "finding.resolved";
    pub const WEBHOOK_ATTEMPTS: &str = "webhook.attempts";
    pub const POLICY_PROPOSED: &str = "policy.proposed";
    pub const POLICY_ACTIVATED: &str = "policy.activated";
    pub const POLICY_DEACTIVATED: &str = "policy.deactivated";
    pub const POLICY_MODE_CHANGED: &str = "policy.mode_changed";
    pub const POLICY_REJECTED: &str = "policy.rejected";
    /// What every incident timeline kind starts with.
    pub const INCIDENT_PREFIX: &str = "incident.";
    pub const INCIDENT_OPENED: &str = "incident.opened";
    pub const INCIDENT_ASSIGNED: &str = "incident.assigned";
    pub const INCIDENT_TRIAGED: &str = "incident.triaged";
    pub const INCIDENT_NOTED: &str = "incident.noted";
    pub const INCIDENT_CONTAINED: &str = "incident.contained";
    pub const INCIDENT_RESOLVED: &str = "incident.resolved";
    pub const INCIDENT_LINKED: &str = "incident.linked";
    pub const DETECTION_RAISED: &str = "detection.raised";
    pub const DETECTORS_PROGRESS: &str = "detectors.progress";
    /// The ledger's `PURGE_RECORD_KIND` (gavel-ledger names it on its own: it needs no gavel crate).
    pub const RETENTION_PURGED: &str = "retention.purged";
    pub const RETENTION_CHANGE_REQUESTED: &str = "retention.change_requested";
    pub const RETENTION_POLICY_SET: &str = "retention.policy_set";
    pub const HOLD_PLACED: &str = "hold.placed";
    pub const HOLD_RELEASE_REQUESTED: &str = "hold.release_requested";
    pub const HOLD_RELEASED: &str = "hold.released";
    pub const EVIDENCE_EXPORTED: &str = "evidence.exported";
    pub const EVIDENCE_UPLOADED: &str = "evidence.uploaded";
    pub const SHARE_CREATED: &str = "share.created";
    pub const SHARE_REVOKED: &str = "share.revoked";
    pub const SHARE_ACCESSED: &str = "share.accessed";
    pub const SHARE_ACCESS_SUMMARY: &str = "share.access_summary";
    pub const SCAN_COMPLETED: &str = "compliance.scan_completed";
    pub const AUTH_FAILURES: &str = "auth.failures";
    pub const KILLSWITCH_ENGAGED: &str = "killswitch.engaged";
    pub const KILLSWITCH_RELEASED: &str = "killswitch.released";
    pub const AGENT_REGISTERED: &str = "agent.registered";
    pub const AGENT_SUSPENDED: &str = "agent.suspended";
    pub const AGENT_REACTIVATED: &str = "agent.reactivated";
    pub const AGENT_DEACTIVATED: &str = "agent.deactivated";
    pub const AGENT_CREDENTIAL_ROTATED: &str = "agent.credential_rotated";
    pub const AGENT_LIMITS_CHANGED: &str = "agent.limits_changed";
    pub const PACK_INSTALLED: &str = "pack.installed";
    pub const USER_CREATED: &str = "user.created";
    pub const USER_ROLE_CHANGED: &str = "user.role_changed";
    pub const USER_DEACTIVATED: &str = "user.deactivated";
    pub const USER_CREDENTIAL_ROTATED: &str = "user.credential_rotated";
    pub const CONSOLE_SIGNED_IN: &str = "console.signed_in";
    pub const CONSOLE_SIGNED_OUT: &str = "console.signed_out";
    pub const WEBHOOK_CREATED: &str = "webhook.created";
    pub const WEBHOOK_UPDATED: &str = "webhook.updated";
    pub const WEBHOOK_DISABLED: &str = "webhook.disabled";
    pub const WEBHOOK_SECRET_ROTATED: &str = "webhook.secret_rotated";
    pub const GATEWAY_TOOLS_SEEN: &str = "gateway.tools_seen";
    pub const TOOLS_CATEGORIES_PROPOSED: &str = "tools.categories_proposed";
    pub const TOOLS_CATEGORIES_APPLIED: &str = "tools.categories_applied";
    pub const TOOLS_CATEGORIES_REJECTED: &str = "tools.categories_rejected";
    pub const NOTIFICATION_CHANNEL_CREATED: &str = "notification.channel_created";
    pub const NOTIFICATION_CHANNEL_DISABLED: &str = "notification.channel_disabled";
    pub const NOTIFICATION_ATTEMPTS: &str = "notification.attempts";
}

/// Reads a payload tolerantly: what does not fit reads as the default.
pub fn read<T: DeserializeOwned + Default>(data: &Value) -> T {
    T::deserialize(data).unwrap_or_default()
}

/// A field that does not fit its type reads as its default, so one odd field never costs the
/// rest of the payload.
pub(crate) fn lenient<'de, D: Deserializer<'de>, T: DeserializeOwned + Default>(d: D) -> Result<T, D::Error> {
    Ok(T::deserialize(Value::deserialize(d)?).unwrap_or_default())
}

/// `Some(value)` for a present field, `null` included (serde's `Option` would read `null` as
/// absent, and the payload would lose it on the way back).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// A present field read leniently as `Some` (`Some(None)` for `null`), so a field written as
/// `null` in some events and absent in others keeps its form.
pub(crate) fn present_lenient<'de, D: Deserializer<'de>, T: DeserializeOwned>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Ok(Some(Option::<T>::deserialize(Value::deserialize(d)?).unwrap_or_default()))
}

/// What policy evaluation decided.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Allow,
    /// Also what an unreadable verdict reads as: fail closed.
    #[default]
    Deny,
    RequireApproval,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Deny => "deny",
            Verdict::RequireApproval => "require_approval",
        }
    }
}

/// A policy that determined a verdict.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PolicyCitation {
    #[serde(deserialize_with = "lenient")]
    pub set_id: String,
    #[serde(deserialize_with = "lenient")]
    pub version: u32,
    #[serde(deserialize_with = "lenient")]
    pub policy_id: String,
}

/// A secret taken out of the arguments before they were recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Redaction {
    #[serde(deserialize_with = "lenient")]
    pub path: String,
    #[serde(deserialize_with = "lenient")]
    pub kind: String,
}

/// `decision`: one tool call decided, recorded before the answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Decision {
    #[serde(deserialize_with = "lenient")]
    pub decision_id: String,
    #[serde(deserialize_with = "lenient")]
    pub agent_id: String,
    #[serde(deserialize_with = "lenient")]
    pub agent_name: String,
    /// active | suspended | deactivated, at the time of the call.
    #[serde(deserialize_with = "lenient")]
    pub agent_status: String,
    #[serde(deserialize_with = "lenient")]
    pub on_behalf_of: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub tool: String,
    #[serde(deserialize_with = "lenient")]
    pub tool_category: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub resource: Option<String>,
    /// The arguments, secrets redacted.
    #[serde(deserialize_with = "lenient")]
    pub arguments: Value,
    /// SHA-256 (hex) of the RFC 8785 form of the arguments as sent.
    #[serde(deserialize_with = "lenient")]
    pub arguments_sha256: String,
    #[serde(deserialize_with = "lenient")]
    pub redactions: Vec<Redaction>,
    #[serde(deserialize_with = "lenient")]
    pub environment: String,
    #[serde(deserialize_with = "lenient")]
    pub claimed_environment: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub cost_usd: Option<f64>,
    #[serde(deserialize_with = "lenient")]
    pub decision: Verdict,
    /// False: no enforcing policy, allowed in permissive mode.
    #[serde(deserialize_with = "lenient")]
    pub enforced: bool,
    #[serde(deserialize_with = "lenient")]
    pub policies: Vec<PolicyCitation>,
    #[serde(deserialize_with = "lenient")]
    pub reasons: Vec<String>,
    #[serde(deserialize_with = "lenient")]
    pub errors: Vec<String>,
    /// What observe-mode policies would have decided.
    #[serde(deserialize_with = "lenient")]
    pub would_have: Option<Verdict>,
    #[serde(deserialize_with = "lenient")]
    pub would_have_policies: Option<Vec<PolicyCitation>>,
    #[serde(deserialize_with = "lenient")]
    pub would_have_reasons: Option<Vec<String>>,
    #[serde(deserialize_with = "lenient")]
    pub latency_us: u64,
    /// 1 when the call counts against the agent's rate limit.
    #[serde(deserialize_with = "lenient")]
    pub rate_units: u8,
    /// What the call counts against the agent's cost cap.
    #[serde(deserialize_with = "lenient")]
    pub spent_usd: f64,
    /// The approval request of a held call.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "lenient")]
    pub approval_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "lenient")]
    pub approval_expires_at: Option<String>,
    /// Why containment denied the call (kill switch, rate limit, cost cap), when it did.
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub containment: Option<Value>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `approval.decided`: a human approved or denied a held call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApprovalDecided {
    #[serde(deserialize_with = "lenient")]
    pub approval_id: String,
    #[serde(deserialize_with = "lenient")]
    pub decision_id: String,
    /// The decision's log seq (`null` when its document was not found).
    #[serde(deserialize_with = "lenient")]
    pub decision_seq: Option<u64>,
    #[serde(deserialize_with = "lenient")]
    pub agent_id: String,
    #[serde(deserialize_with = "lenient")]
    pub tool: String,
    #[serde(deserialize_with = "lenient")]
    pub arguments_sha256: String,
    /// approved | denied
    #[serde(deserialize_with = "lenient")]
    pub decision: String,
    /// The approver's user id and name.
    #[serde(deserialize_with = "lenient")]
    pub approver: String,
    #[serde(deserialize_with = "lenient")]
    pub approver_name: String,
    #[serde(deserialize_with = "lenient")]
    pub comment: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `approval.expired`: someone tried to decide a held call after its approval request expired
/// (recorded once, by the first late attempt).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApprovalExpired {
    #[serde(deserialize_with = "lenient")]
    pub approval_id: String,
    #[serde(deserialize_with = "lenient")]
    pub decision_id: String,
    /// The decision's log seq (`null` when its document was not found).
    #[serde(deserialize_with = "lenient")]
    pub decision_seq: Option<u64>,
    #[serde(deserialize_with = "lenient")]
    pub expires_at: String,
    /// The late approver's user name.
    #[serde(deserialize_with = "lenient")]
    pub attempted_by: String,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `outcome.recorded`: what the agent reports it did with a decided call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OutcomeRecorded {
    #[serde(deserialize_with = "lenient")]
    pub decision_id: String,
    #[serde(deserialize_with = "lenient")]
    pub decision_seq: u64,
    #[serde(deserialize_with = "lenient")]
    pub agent_id: String,
    /// The decided tool, as the decision recorded it.
    #[serde(deserialize_with = "lenient")]
    pub tool: Value,
    #[serde(deserialize_with = "lenient")]
    pub decision: Verdict,
    #[serde(deserialize_with = "lenient")]
    pub enforced: bool,
    /// succeeded | failed | not_executed
    #[serde(deserialize_with = "lenient")]
    pub status: String,
    #[serde(deserialize_with = "lenient")]
    pub detail: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub executed_arguments_sha256: String,
    #[serde(deserialize_with = "lenient")]
    pub receipt_used: bool,
    /// True: the agent ran a denied call or a held call without a valid receipt.
    #[serde(deserialize_with = "lenient")]
    pub bypass: bool,
    #[serde(deserialize_with = "lenient")]
    pub findings: Vec<String>,
    #[serde(deserialize_with = "lenient")]
    pub reported_at: String,
    /// The bypass finding this outcome raised, when it is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "lenient")]
    pub finding_id: Option<String>,
    /// `gateway` when gavel's MCP gateway observed the call, `agent` (or absent) when the agent
    /// reported it; absent on outcomes recorded before it existed, so their bytes are unchanged.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "lenient")]
    pub observed_by: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `finding.bypass`: a refused receipt, recorded as a bypass finding.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FindingBypass {
    #[serde(deserialize_with = "lenient")]
    pub decision_id: String,
    #[serde(deserialize_with = "lenient")]
    pub decision_seq: u64,
    #[serde(deserialize_with = "lenient")]
    pub agent_id: String,
    #[serde(deserialize_with = "lenient")]
    pub detail: String,
    #[serde(deserialize_with = "lenient")]
    pub reported_status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "lenient")]
    pub finding_id: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `finding.acknowledged` / `finding.resolved`: a bypass finding moved on, with a note.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FindingStep {
    #[serde(deserialize_with = "lenient")]
    pub finding_id: String,
    #[serde(deserialize_with = "lenient")]
    pub decision_id: Value,
    #[serde(deserialize_with = "lenient")]
    pub agent_id: String,
    #[serde(deserialize_with = "lenient")]
    pub previous_status: String,
    /// Who (user name).
    #[serde(deserialize_with = "lenient")]
    pub by: String,
    #[serde(deserialize_with = "lenient")]
    pub note: String,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// One delivery attempt inside `webhook.attempts`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Attempt {
    /// The delivered event's seq.
    #[serde(deserialize_with = "lenient")]
    pub seq: u64,
    /// Set for a `checkpoint.signed` delivery: the checkpoint's tree size.
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub tree_size: Option<u64>,
    /// The Standard Webhooks message id (the same on every retry).
    #[serde(deserialize_with = "lenient")]
    pub webhook_id: String,
    /// 1 for the first attempt.
    #[serde(deserialize_with = "lenient")]
    pub attempt: u32,
    #[serde(deserialize_with = "lenient")]
    pub at: String,
    /// The HTTP status (`null`: no answer).
    #[serde(deserialize_with = "lenient")]
    pub status_code: Option<u16>,
    #[serde(deserialize_with = "lenient")]
    pub latency_ms: u64,
    #[serde(deserialize_with = "lenient")]
    pub error: Option<String>,
    /// delivered | retrying | failed
    #[serde(deserialize_with = "lenient")]
    pub outcome: String,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `webhook.attempts`: one delivery round to one endpoint, committed with its cursor move.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WebhookAttempts {
    #[serde(deserialize_with = "lenient")]
    pub endpoint_id: String,
    /// Where the endpoint's cursor is after the round.
    #[serde(deserialize_with = "lenient")]
    pub next_seq: u64,
    #[serde(deserialize_with = "lenient")]
    pub attempts: Vec<Attempt>,
    /// A round without any 2xx holds the endpoint until then (`null`: not held); absent from
    /// rounds recorded before holds existed, so their bytes are unchanged.
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "present_lenient")]
    pub held_until: Option<Option<String>>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `policy.proposed`: a change to a policy set (new text, activation, deactivation or a mode
/// change), waiting for a second admin.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PolicyProposed {
    #[serde(deserialize_with = "lenient")]
    pub change_id: String,
    #[serde(deserialize_with = "lenient")]
    pub set_id: String,
    /// activate | deactivate | set_mode.
    #[serde(deserialize_with = "lenient")]
    pub action: String,
    /// The version the change activates (null for deactivation and mode changes).
    #[serde(deserialize_with = "lenient")]
    pub version: Option<u64>,
    /// SHA-256 (hex) of the proposed text.
    #[serde(deserialize_with = "lenient")]
    pub sha256: Option<String>,
    /// Who proposed it (user id and name).
    #[serde(deserialize_with = "lenient")]
    pub author: String,
    #[serde(deserialize_with = "lenient")]
    pub author_name: String,
    /// The mode the change sets (absent from new-text proposals).
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub mode: Option<Value>,
    /// Validation warnings of new text (absent from other proposals).
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub warnings: Option<Value>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `policy.activated`, `policy.deactivated`, `policy.mode_changed`: a second admin approved a
/// change and it applies from the next decision.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PolicyApplied {
    #[serde(deserialize_with = "lenient")]
    pub change_id: String,
    #[serde(deserialize_with = "lenient")]
    pub set_id: String,
    #[serde(deserialize_with = "lenient")]
    pub action: String,
    /// The active version after the change (null: none active).
    #[serde(deserialize_with = "lenient")]
    pub version: Option<u64>,
    #[serde(deserialize_with = "lenient")]
    pub previous_version: Option<u64>,
    /// enforce | observe, after and before.
    #[serde(deserialize_with = "lenient")]
    pub mode: String,
    #[serde(deserialize_with = "lenient")]
    pub previous_mode: String,
    /// SHA-256 (hex) of the activated text.
    #[serde(deserialize_with = "lenient")]
    pub sha256: Option<String>,
    /// Who wrote the activated text.
    #[serde(deserialize_with = "lenient")]
    pub text_author: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub proposed_by: String,
    #[serde(deserialize_with = "lenient")]
    pub approved_by: String,
    #[serde(deserialize_with = "lenient")]
    pub approved_by_name: String,
    #[serde(deserialize_with = "lenient")]
    pub comment: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `policy.rejected`: a pending change was rejected (or withdrawn by its author).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PolicyRejected {
    #[serde(deserialize_with = "lenient")]
    pub change_id: String,
    #[serde(deserialize_with = "lenient")]
    pub set_id: String,
    #[serde(deserialize_with = "lenient")]
    pub rejected_by: String,
    #[serde(deserialize_with = "lenient")]
    pub comment: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// Re-serializes `data` through the typed payload of `kind`, when gavel has one: `None` for
/// kinds without a type. The golden test compares the result with the stored bytes.
pub fn retype(kind: &str, data: &Value) -> Option<Result<Value, serde_json::Error>> {
    fn through<T: DeserializeOwned + Serialize>(data: &Value) -> Result<Value, serde_json::Error> {
        serde_json::to_value(T::deserialize(data)?)
    }
    Some(match kind {
        kind::DECISION => through::<Decision>(data),
        kind::APPROVAL_DECIDED => through::<ApprovalDecided>(data),
        kind::APPROVAL_EXPIRED => through::<ApprovalExpired>(data),
        kind::OUTCOME_RECORDED => through::<OutcomeRecorded>(data),
        kind::FINDING_BYPASS => through::<FindingBypass>(data),
        kind::FINDING_ACKNOWLEDGED | kind::FINDING_RESOLVED => through::<FindingStep>(data),
        kind::WEBHOOK_ATTEMPTS => through::<WebhookAttempts>(data),
        kind::POLICY_PROPOSED => through::<PolicyProposed>(data),
        kind::POLICY_ACTIVATED | kind::POLICY_DEACTIVATED | kind::POLICY_MODE_CHANGED => {
            through::<PolicyApplied>(data)
        }
        kind::POLICY_REJECTED => through::<PolicyRejected>(data),
        kind::INCIDENT_OPENED => through::<IncidentOpened>(data),
        kind::INCIDENT_ASSIGNED => through::<IncidentAssigned>(data),
        kind::INCIDENT_TRIAGED => through::<IncidentTriaged>(data),
        kind::INCIDENT_NOTED => through::<IncidentNoted>(data),
        kind::INCIDENT_CONTAINED => through::<IncidentContained>(data),
        kind::INCIDENT_RESOLVED => through::<IncidentResolved>(data),
        kind::INCIDENT_LINKED => through::<IncidentLinked>(data),
        kind::DETECTION_RAISED => through::<DetectionRaised>(data),
        kind::RETENTION_PURGED => through::<RetentionPurged>(data),
        kind::EVIDENCE_EXPORTED => through::<EvidenceExported>(data),
        kind::EVIDENCE_UPLOADED => through::<EvidenceUploaded>(data),
        kind::SCAN_COMPLETED => through::<ScanCompleted>(data),
        kind::AUTH_FAILURES => through::<AuthFailures>(data),
        kind::KILLSWITCH_ENGAGED => through::<KillSwitchEngaged>(data),
        kind::KILLSWITCH_RELEASED => through::<KillSwitchReleased>(data),
        kind::AGENT_REGISTERED => through::<AgentRegistered>(data),
        kind::AGENT_SUSPENDED | kind::AGENT_REACTIVATED | kind::AGENT_DEACTIVATED => {
            through::<AgentStatusChanged>(data)
        }
        kind::PACK_INSTALLED => through::<PackInstalled>(data),
        kind::USER_CREATED => through::<UserCreated>(data),
        kind::USER_ROLE_CHANGED => through::<UserRoleChanged>(data),
        kind::USER_DEACTIVATED => through::<UserDeactivated>(data),
        kind::USER_CREDENTIAL_ROTATED | kind::AGENT_CREDENTIAL_ROTATED => through::<CredentialRotated>(data),
        kind::WEBHOOK_CREATED => through::<WebhookCreated>(data),
        kind::WEBHOOK_UPDATED | kind::WEBHOOK_DISABLED => through::<WebhookChanged>(data),
        kind::WEBHOOK_SECRET_ROTATED => through::<WebhookSecretRotated>(data),
        kind::GATEWAY_TOOLS_SEEN => through::<GatewayToolsSeen>(data),
        kind::TOOLS_CATEGORIES_PROPOSED => through::<ToolCategoriesProposed>(data),
        kind::TOOLS_CATEGORIES_APPLIED => through::<ToolCategoriesApplied>(data),
        kind::TOOLS_CATEGORIES_REJECTED => through::<ToolCategoriesRejected>(data),
        kind::AGENT_LIMITS_CHANGED => through::<AgentLimitsChanged>(data),
        kind::CONSOLE_SIGNED_IN => through::<ConsoleSignedIn>(data),
        kind::CONSOLE_SIGNED_OUT => through::<ConsoleSignedOut>(data),
        kind::DETECTORS_PROGRESS => through::<DetectorsProgress>(data),
        kind::SHARE_CREATED => through::<ShareCreated>(data),
        kind::SHARE_REVOKED => through::<ShareRevoked>(data),
        kind::SHARE_ACCESSED => through::<ShareAccessed>(data),
        kind::SHARE_ACCESS_SUMMARY => through::<ShareAccessSummary>(data),
        kind::RETENTION_CHANGE_REQUESTED => through::<RetentionChangeRequested>(data),
        kind::RETENTION_POLICY_SET => through::<RetentionPolicySet>(data),
        kind::HOLD_PLACED => through::<HoldPlaced>(data),
        kind::HOLD_RELEASE_REQUESTED => through::<HoldReleaseRequested>(data),
        kind::HOLD_RELEASED => through::<HoldReleased>(data),
        kind::NOTIFICATION_CHANNEL_CREATED => through::<NotificationChannelCreated>(data),
        kind::NOTIFICATION_CHANNEL_DISABLED => through::<NotificationChannelDisabled>(data),
        kind::NOTIFICATION_ATTEMPTS => through::<NotificationAttempts>(data),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nulls_stay_null_absent_stays_absent_and_unknown_fields_are_kept() {
        let data = json!({"decision_id": "d", "on_behalf_of": null, "containment": null, "future": [1]});
        let back = retype(kind::DECISION, &data).expect("typed").expect("reads");
        assert_eq!(back["containment"], Value::Null);
        assert!(back.get("approval_id").is_none());
        assert_eq!(back["future"], json!([1]));
        assert_eq!(back["on_behalf_of"], Value::Null);
    }

    #[test]
    fn a_proposal_keeps_its_mode_absent_null_or_set() {
        let text = json!({"change_id": "c", "version": 2, "sha256": "ab", "warnings": []});
        let back = retype(kind::POLICY_PROPOSED, &text).expect("typed").expect("reads");
        assert!(back.get("mode").is_none(), "{back}");
        assert_eq!(back["warnings"], json!([]));
        let activation = json!({"change_id": "c", "version": null, "sha256": null, "mode": null});
        let back = retype(kind::POLICY_PROPOSED, &activation).expect("typed").expect("reads");
        assert_eq!((back["mode"].clone(), back["version"].clone()), (Value::Null, Value::Null));
        assert!(back.get("warnings").is_none(), "{back}");
        let p: PolicyProposed = read(&json!({"mode": "observe", "version": "two"}));
        assert_eq!((p.mode, p.version), (Some(json!("observe")), None));
    }

    #[test]
    fn an_odd_field_reads_as_its_default_and_the_rest_still_reads() {
        let d: Decision =
            read(&json!({"decision": 5, "decision_id": "d1", "environment": null, "enforced": true}));
        assert_eq!(d.decision, Verdict::Deny);
        assert_eq!((d.decision_id.as_str(), d.enforced), ("d1", true));
        assert!(d.environment.is_empty());
        let d: Decision = read(&json!(["not", "an", "object"]));
        assert!(d.decision_id.is_empty());
        let a: WebhookAttempts =
            read(&json!({"endpoint_id": "w", "attempts": [{"outcome": "delivered", "seq": 3}]}));
        assert_eq!((a.attempts[0].outcome.as_str(), a.attempts[0].seq), ("delivered", 3));
    }

    #[test]
    fn a_webhook_round_keeps_its_hold_null_or_absent() {
        // What the writer's `json!` wrote: attempts whole (`tree_size` only for checkpoints),
        // `held_until` as `null` when not held.
        let round = WebhookAttempts {
            endpoint_id: "whk_1".into(),
            next_seq: 9,
            attempts: vec![Attempt {
                seq: 8,
                webhook_id: "msg_1".into(),
                attempt: 1,
                at: "2026-12-07T09:00:00.000000Z".into(),
                status_code: Some(503),
                latency_ms: 4,
                outcome: "retrying".into(),
                ..Default::default()
            }],
            held_until: Some(None),
            other: Default::default(),
        };
        let old = json!({"endpoint_id": "whk_1", "next_seq": 9, "held_until": null, "attempts": [{
            "seq": 8, "webhook_id": "msg_1", "attempt": 1, "at": "2026-12-07T09:00:00.000000Z",
            "status_code": 503, "latency_ms": 4, "error": null, "outcome": "retrying"}]});
        assert_eq!(serde_json::to_value(&round).unwrap(), old);
        let checkpoint = json!({"endpoint_id": "whk_1", "next_seq": 9, "held_until": "2026-12-07T09:01:00.000000Z",
                                "attempts": [{"seq": 9, "tree_size": 9, "webhook_id": "msg_2", "attempt": 2,
                                              "at": "t", "status_code": null, "latency_ms": 0,
                                              "error": "timeout", "outcome": "failed"}]});
        assert_eq!(retype(kind::WEBHOOK_ATTEMPTS, &checkpoint).expect("typed").expect("reads"), checkpoint);
        let before_holds = json!({"endpoint_id": "whk_1", "next_seq": 9, "attempts": []});
        assert_eq!(
            retype(kind::WEBHOOK_ATTEMPTS, &before_holds).expect("typed").expect("reads"),
            before_holds
        );
    }
}
