//! The retention period and legal holds as the log records them: `retention.change_requested` /
//! `retention.policy_set` (a shortening waits for a second admin) and `hold.placed` /
//! `hold.release_requested` / `hold.released` (a release waits for a second admin). The purge
//! itself, `retention.purged`, is in `records`.
//!
//! Invariants: those of the crate (byte for byte as written, read tolerantly, unknown fields kept
//! in `other`); a field written as `null` in some events and absent in others keeps its form.
//! These kinds are never purged (gavel-core's `KEPT_KIND_PREFIXES`): they are the record of what
//! may be deleted and why.

use crate::{lenient, present_lenient};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `retention.change_requested`: an admin asked to shorten the retention period.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RetentionChangeRequested {
    #[serde(deserialize_with = "lenient")]
    pub days: u32,
    #[serde(deserialize_with = "lenient")]
    pub previous_days: u32,
    /// The requesting admin's name.
    #[serde(deserialize_with = "lenient")]
    pub requested_by: String,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A shortening request as stored (`retention/pending`), inside a `retention.policy_set` that
/// superseded it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RetentionRequest {
    #[serde(deserialize_with = "lenient")]
    pub days: u32,
    #[serde(deserialize_with = "lenient")]
    pub previous_days: u32,
    #[serde(deserialize_with = "lenient")]
    pub requested_by: String,
    #[serde(deserialize_with = "lenient")]
    pub requested_at: String,
    /// pending | approved | superseded
    #[serde(deserialize_with = "lenient")]
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub approved_by: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `retention.policy_set`: the period in force changed, kept or lengthened at once (with
/// `superseded_request`) or shortened on a second admin's approval (with `requested_by` and
/// `approved_by`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RetentionPolicySet {
    #[serde(deserialize_with = "lenient")]
    pub days: u32,
    #[serde(deserialize_with = "lenient")]
    pub previous_days: u32,
    /// The admin who set it (the approver, for a shortening).
    #[serde(deserialize_with = "lenient")]
    pub set_by: String,
    /// A lengthening: the pending shortening it superseded (`null`: none); absent from approvals.
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "present_lenient")]
    pub superseded_request: Option<Option<RetentionRequest>>,
    /// An approved shortening: who asked for it; absent from lengthenings.
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub requested_by: Option<String>,
    /// An approved shortening: the second admin; absent from lengthenings.
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub approved_by: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// What a legal hold covers: `{"type": "time_range", "from", "to"}` (log times) or
/// `{"type": "incident", "incident_id"}` (its events, including those linked later).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HoldScope {
    /// time_range | incident
    #[serde(rename = "type", deserialize_with = "lenient")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub incident_id: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `hold.placed`: nothing the hold covers is purged until it is released.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HoldPlaced {
    #[serde(deserialize_with = "lenient")]
    pub hold_id: String,
    #[serde(deserialize_with = "lenient")]
    pub scope: HoldScope,
    #[serde(deserialize_with = "lenient")]
    pub reason: String,
    /// The placing admin's name.
    #[serde(deserialize_with = "lenient")]
    pub placed_by: String,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `hold.release_requested`: the hold stays in force until a different admin approves.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HoldReleaseRequested {
    #[serde(deserialize_with = "lenient")]
    pub hold_id: String,
    #[serde(deserialize_with = "lenient")]
    pub requested_by: String,
    #[serde(deserialize_with = "lenient")]
    pub reason: String,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `hold.released`: a second admin approved the release; the range may be purged from now on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HoldReleased {
    #[serde(deserialize_with = "lenient")]
    pub hold_id: String,
    /// Who requested the release (`null` only if the stored hold lost it).
    #[serde(deserialize_with = "lenient")]
    pub requested_by: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub approved_by: String,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{kind, retype};
    use serde_json::json;

    fn policy_set() -> RetentionPolicySet {
        RetentionPolicySet { days: 400, previous_days: 365, set_by: "alice".into(), ..Default::default() }
    }

    #[test]
    fn a_lengthening_names_what_it_superseded_or_null_and_an_approval_names_both_admins() {
        // What the writers' `json!` wrote: `"superseded_request": superseded` (an
        // `Option<PendingRetention>`, whose `approved_by` is skipped when unset) …
        let none = RetentionPolicySet { superseded_request: Some(None), ..policy_set() };
        let old = json!({"days": 400, "previous_days": 365, "set_by": "alice", "superseded_request": null});
        assert_eq!(serde_json::to_value(&none).unwrap(), old);
        assert_eq!(retype(kind::RETENTION_POLICY_SET, &old).expect("typed").expect("reads"), old);
        let superseded = RetentionPolicySet {
            superseded_request: Some(Some(RetentionRequest {
                days: 365,
                previous_days: 400,
                requested_by: "bob".into(),
                requested_at: "2026-12-07T09:00:00.000000Z".into(),
                status: "superseded".into(),
                ..Default::default()
            })),
            ..policy_set()
        };
        let old = json!({"days": 400, "previous_days": 365, "set_by": "alice", "superseded_request": {
            "days": 365, "previous_days": 400, "requested_by": "bob",
            "requested_at": "2026-12-07T09:00:00.000000Z", "status": "superseded"}});
        assert_eq!(serde_json::to_value(&superseded).unwrap(), old);
        assert_eq!(retype(kind::RETENTION_POLICY_SET, &old).expect("typed").expect("reads"), old);
        // … and the approval of a shortening.
        let approved = RetentionPolicySet {
            days: 365,
            previous_days: 400,
            set_by: "bob".into(),
            requested_by: Some("alice".into()),
            approved_by: Some("bob".into()),
            ..Default::default()
        };
        let old = json!({"days": 365, "previous_days": 400, "set_by": "bob", "requested_by": "alice",
                         "approved_by": "bob"});
        assert_eq!(serde_json::to_value(&approved).unwrap(), old);
        assert_eq!(retype(kind::RETENTION_POLICY_SET, &old).expect("typed").expect("reads"), old);
        let requested = RetentionChangeRequested {
            days: 365,
            previous_days: 400,
            requested_by: "alice".into(),
            ..Default::default()
        };
        let old = json!({"days": 365, "previous_days": 400, "requested_by": "alice"});
        assert_eq!(serde_json::to_value(&requested).unwrap(), old);
    }

    #[test]
    fn a_hold_scope_is_a_time_range_or_an_incident() {
        // What the writer's `json!` wrote: the scope as core's tagged enum serializes it.
        let placed = HoldPlaced {
            hold_id: "hold_1".into(),
            scope: HoldScope {
                kind: "time_range".into(),
                from: Some("2026-03-01T00:00:00.000000Z".into()),
                to: Some("2026-03-06T00:00:00.000000Z".into()),
                ..Default::default()
            },
            reason: "litigation".into(),
            placed_by: "alice".into(),
            other: Default::default(),
        };
        let old = json!({"hold_id": "hold_1", "reason": "litigation", "placed_by": "alice", "scope": {
            "type": "time_range", "from": "2026-03-01T00:00:00.000000Z", "to": "2026-03-06T00:00:00.000000Z"}});
        assert_eq!(serde_json::to_value(&placed).unwrap(), old);
        let incident = json!({"hold_id": "hold_2", "reason": "r", "placed_by": "alice",
                              "scope": {"type": "incident", "incident_id": "inc_1"}});
        assert_eq!(retype(kind::HOLD_PLACED, &incident).expect("typed").expect("reads"), incident);
        let read: HoldPlaced = crate::read(&incident);
        assert_eq!(
            (read.scope.kind.as_str(), read.scope.incident_id.as_deref()),
            ("incident", Some("inc_1"))
        );
    }

    #[test]
    fn a_release_is_requested_by_one_admin_and_approved_by_another() {
        let requested = HoldReleaseRequested {
            hold_id: "hold_1".into(),
            requested_by: "alice".into(),
            reason: "settled".into(),
            other: Default::default(),
        };
        let old = json!({"hold_id": "hold_1", "requested_by": "alice", "reason": "settled"});
        assert_eq!(serde_json::to_value(&requested).unwrap(), old);
        let released = HoldReleased {
            hold_id: "hold_1".into(),
            requested_by: Some("alice".into()),
            approved_by: "bob".into(),
            other: Default::default(),
        };
        let old = json!({"hold_id": "hold_1", "requested_by": "alice", "approved_by": "bob"});
        assert_eq!(serde_json::to_value(&released).unwrap(), old);
    }
}
