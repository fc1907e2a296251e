//! Users, credentials and webhook endpoints as the log records them: `user.created`,
//! `user.role_changed`, `user.deactivated`, `user.credential_rotated` / `agent.credential_rotated`,
//! and `webhook.created` / `.updated` / `.disabled` / `.secret_rotated`, read back by evidence
//! (names, the credential lifecycle, streaming coverage) and by context.jsonl's selection; and
//! `console.signed_in` / `console.signed_out` (web console sessions).
//!
//! Invariants: those of the crate (byte for byte as written, read tolerantly, unknown fields kept
//! in `other`); a field written as `null` in some events and absent in others keeps its form.

use crate::{lenient, present_lenient};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `user.created`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserCreated {
    #[serde(deserialize_with = "lenient")]
    pub user_id: String,
    #[serde(deserialize_with = "lenient")]
    pub name: String,
    /// admin | approver | auditor | viewer
    #[serde(deserialize_with = "lenient")]
    pub role: String,
    /// The id of whoever created it (`bootstrap` for the first admin).
    #[serde(deserialize_with = "lenient")]
    pub created_by: String,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `user.role_changed`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserRoleChanged {
    #[serde(deserialize_with = "lenient")]
    pub user_id: String,
    #[serde(deserialize_with = "lenient")]
    pub name: String,
    #[serde(deserialize_with = "lenient")]
    pub from: String,
    #[serde(deserialize_with = "lenient")]
    pub to: String,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `user.deactivated`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserDeactivated {
    #[serde(deserialize_with = "lenient")]
    pub user_id: String,
    #[serde(deserialize_with = "lenient")]
    pub name: String,
    #[serde(deserialize_with = "lenient")]
    pub reason: String,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `user.credential_rotated` and `agent.credential_rotated`: the principal's id under its own key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CredentialRotated {
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub agent_id: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub name: String,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `webhook.created`: an endpoint that streams events to a SIEM.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WebhookCreated {
    /// The endpoint's id.
    #[serde(deserialize_with = "lenient")]
    pub id: String,
    #[serde(deserialize_with = "lenient")]
    pub url: String,
    /// The event kinds it asked for (`null`: every deliverable kind).
    #[serde(deserialize_with = "lenient")]
    pub kinds: Option<Vec<String>>,
    /// The creating user's name.
    #[serde(deserialize_with = "lenient")]
    pub created_by: String,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `webhook.updated` and `webhook.disabled` (by an update or by `DELETE`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WebhookChanged {
    #[serde(deserialize_with = "lenient")]
    pub id: String,
    /// The new kinds, when the change set them (`null`: unchanged; absent on a `DELETE`).
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "present_lenient")]
    pub kinds: Option<Option<Vec<String>>>,
    /// The new enabled state, when the change set it (`null`: unchanged; absent on a `DELETE`).
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "present_lenient")]
    pub enabled: Option<Option<bool>>,
    /// Why it was disabled (`DELETE` only).
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub reason: Option<String>,
    /// The changing user's name (absent when gavel disabled it: an endpoint that answered 410).
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub by: Option<String>,
    /// Whether it was enabled before the change (streaming coverage starts or stops with it);
    /// absent from events written before it was recorded.
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub was_enabled: Option<bool>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `webhook.secret_rotated` (never the secret).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WebhookSecretRotated {
    #[serde(deserialize_with = "lenient")]
    pub id: String,
    #[serde(deserialize_with = "lenient")]
    pub by: String,
    /// Until when the previous secret still signs beside the new one (`null`: not at all).
    #[serde(deserialize_with = "lenient")]
    pub previous_secret_expires_at: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `console.signed_in`: a user opened a web console session with their token.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsoleSignedIn {
    #[serde(deserialize_with = "lenient")]
    pub user_id: String,
    #[serde(deserialize_with = "lenient")]
    pub name: String,
    /// admin | approver | auditor | viewer, at sign-in.
    #[serde(deserialize_with = "lenient")]
    pub role: String,
    /// The first 16 hex digits of the stored session hash: names the session, never reveals it.
    #[serde(deserialize_with = "lenient")]
    pub session: String,
    /// The client's address (`null`: unknown).
    #[serde(deserialize_with = "lenient")]
    pub source: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub expires_at: String,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `console.signed_out`: a live console session ended by its user.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsoleSignedOut {
    #[serde(deserialize_with = "lenient")]
    pub user_id: String,
    #[serde(deserialize_with = "lenient")]
    pub name: String,
    /// As in [`ConsoleSignedIn::session`].
    #[serde(deserialize_with = "lenient")]
    pub session: String,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_webhook_change_keeps_null_and_absent_apart() {
        let update = json!({"id": "w", "kinds": null, "enabled": false, "by": "a", "was_enabled": true});
        let back = serde_json::to_value(crate::read::<WebhookChanged>(&update)).unwrap();
        assert_eq!(back, update);
        let delete = json!({"id": "w", "reason": "gone", "by": "a", "was_enabled": true});
        let back = serde_json::to_value(crate::read::<WebhookChanged>(&delete)).unwrap();
        assert_eq!(back, delete);
        let gone = json!({"id": "w", "reason": "410", "attempts_seq": 9, "was_enabled": true});
        assert_eq!(serde_json::to_value(crate::read::<WebhookChanged>(&gone)).unwrap(), gone);
        let old = json!({"id": "w", "kinds": ["decision"], "enabled": null, "by": "a"});
        assert_eq!(serde_json::to_value(crate::read::<WebhookChanged>(&old)).unwrap(), old);
    }

    #[test]
    fn a_rotation_names_the_principal_under_its_own_key() {
        for data in [json!({"user_id": "u", "name": "n"}), json!({"agent_id": "a", "name": "n"})] {
            assert_eq!(serde_json::to_value(crate::read::<CredentialRotated>(&data)).unwrap(), data);
        }
    }

    #[test]
    fn a_sign_in_without_a_known_source_records_it_as_null() {
        // What the writer's `json!` wrote (`"source": source` with `source: Option<&str>`).
        let signed_in = ConsoleSignedIn {
            user_id: "usr_1".into(),
            name: "ann".into(),
            role: "approver".into(),
            session: "0123456789abcdef".into(),
            source: None,
            expires_at: "2026-12-07T18:00:00.000000Z".into(),
            other: Default::default(),
        };
        let old = json!({"user_id": "usr_1", "name": "ann", "role": "approver", "session": "0123456789abcdef",
                         "source": null, "expires_at": "2026-12-07T18:00:00.000000Z"});
        assert_eq!(serde_json::to_value(&signed_in).unwrap(), old);
        let signed_out = ConsoleSignedOut {
            user_id: "usr_1".into(),
            name: "ann".into(),
            session: "0123456789abcdef".into(),
            other: Default::default(),
        };
        let old = json!({"user_id": "usr_1", "name": "ann", "session": "0123456789abcdef"});
        assert_eq!(serde_json::to_value(&signed_out).unwrap(), old);
    }
}
