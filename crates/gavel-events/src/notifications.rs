//! Notification channels for people as the log records them: `notification.channel_created` /
//! `notification.channel_disabled` (an admin's acts) and `notification.attempts` (one delivery
//! round to one channel, the log being the outbox).
//!
//! Invariants: those of the crate (byte for byte as written, read tolerantly, unknown fields kept
//! in `other`). A channel's URL is recorded redacted (scheme, host and port), never whole: it is
//! the channel's secret.

use crate::lenient;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `notification.channel_created`: only events after it are notified on the channel.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NotificationChannelCreated {
    /// The channel's id.
    #[serde(deserialize_with = "lenient")]
    pub id: String,
    #[serde(deserialize_with = "lenient")]
    pub name: String,
    /// slack | json
    #[serde(deserialize_with = "lenient")]
    pub format: String,
    /// Redacted: `scheme://host[:port]/…`.
    #[serde(deserialize_with = "lenient")]
    pub url: String,
    /// The notification events it wants (empty: all of them).
    #[serde(deserialize_with = "lenient")]
    pub events: Vec<String>,
    /// Only notices about agents in one of these groups, or owned by one of these owners (both
    /// empty: every agent).
    #[serde(deserialize_with = "lenient")]
    pub agent_groups: Vec<String>,
    #[serde(deserialize_with = "lenient")]
    pub agent_owners: Vec<String>,
    /// The creating admin's name.
    #[serde(deserialize_with = "lenient")]
    pub created_by: String,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `notification.channel_disabled` (channels are never deleted).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NotificationChannelDisabled {
    #[serde(deserialize_with = "lenient")]
    pub id: String,
    #[serde(deserialize_with = "lenient")]
    pub reason: String,
    /// The disabling admin's name.
    #[serde(deserialize_with = "lenient")]
    pub by: String,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// One HTTP attempt of one notice inside `notification.attempts`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NotificationAttempt {
    /// `<event>:<item id>`, e.g. `approval.requested:apr_…`.
    #[serde(deserialize_with = "lenient")]
    pub notice_id: String,
    /// The notification event (`approval.requested`, `approval.expiring`, …).
    #[serde(deserialize_with = "lenient")]
    pub event: String,
    /// 1 for the first attempt of the notice.
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

/// `notification.attempts`: one delivery round to one channel, committed with its cursor move.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NotificationAttempts {
    #[serde(deserialize_with = "lenient")]
    pub channel_id: String,
    /// Where the channel's cursor is after the round.
    #[serde(deserialize_with = "lenient")]
    pub next_seq: u64,
    #[serde(deserialize_with = "lenient")]
    pub attempts: Vec<NotificationAttempt>,
    /// A round without any 2xx holds the channel until then (`null`: not held).
    #[serde(deserialize_with = "lenient")]
    pub held_until: Option<String>,
    /// Notices whose due retry was dropped because their approval was decided or expired;
    /// absent from rounds recorded before it was recorded, so their bytes are unchanged.
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub superseded: Option<Vec<String>>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{kind, retype};
    use serde_json::json;

    #[test]
    fn a_channel_is_recorded_with_its_url_redacted_and_its_filters() {
        // What the writers' `json!` wrote.
        let created = NotificationChannelCreated {
            id: "nch_1".into(),
            name: "approvers".into(),
            format: "slack".into(),
            url: "https://hooks.example.com/…".into(),
            events: vec!["approval.requested".into()],
            agent_groups: vec![],
            agent_owners: vec!["bob".into()],
            created_by: "alice".into(),
            other: Default::default(),
        };
        let old = json!({"id": "nch_1", "name": "approvers", "format": "slack",
                         "url": "https://hooks.example.com/…", "events": ["approval.requested"],
                         "agent_groups": [], "agent_owners": ["bob"], "created_by": "alice"});
        assert_eq!(serde_json::to_value(&created).unwrap(), old);
        let disabled = NotificationChannelDisabled {
            id: "nch_1".into(),
            reason: "disabled by alice".into(),
            by: "alice".into(),
            other: Default::default(),
        };
        let old = json!({"id": "nch_1", "reason": "disabled by alice", "by": "alice"});
        assert_eq!(serde_json::to_value(&disabled).unwrap(), old);
    }

    #[test]
    fn a_round_keeps_nulls_and_its_superseded_notices() {
        // What the writer's `json!` wrote: attempts whole (`null` status and error included),
        // `held_until` as `null` when not held, `superseded` always (possibly empty).
        let round = NotificationAttempts {
            channel_id: "nch_1".into(),
            next_seq: 42,
            attempts: vec![NotificationAttempt {
                notice_id: "approval.requested:apr_1".into(),
                event: "approval.requested".into(),
                attempt: 1,
                at: "2026-12-07T09:00:00.000000Z".into(),
                status_code: None,
                latency_ms: 12,
                error: Some("connection refused".into()),
                outcome: "retrying".into(),
                other: Default::default(),
            }],
            held_until: Some("2026-12-07T09:00:10.000000Z".into()),
            superseded: Some(vec![]),
            other: Default::default(),
        };
        let old = json!({"channel_id": "nch_1", "next_seq": 42, "held_until": "2026-12-07T09:00:10.000000Z",
                         "superseded": [], "attempts": [{
            "notice_id": "approval.requested:apr_1", "event": "approval.requested", "attempt": 1,
            "at": "2026-12-07T09:00:00.000000Z", "status_code": null, "latency_ms": 12,
            "error": "connection refused", "outcome": "retrying"}]});
        assert_eq!(serde_json::to_value(&round).unwrap(), old);
        let quiet = json!({"channel_id": "nch_1", "next_seq": 43, "attempts": [], "held_until": null,
                           "superseded": ["approval.expiring:apr_1"]});
        assert_eq!(retype(kind::NOTIFICATION_ATTEMPTS, &quiet).expect("typed").expect("reads"), quiet);
        // A round recorded before `superseded` existed keeps its bytes.
        let older = json!({"channel_id": "nch_1", "next_seq": 43, "attempts": [], "held_until": null});
        assert_eq!(retype(kind::NOTIFICATION_ATTEMPTS, &older).expect("typed").expect("reads"), older);
    }
}
