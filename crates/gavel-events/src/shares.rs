//! Auditor share links as the log records them: `share.created` / `share.revoked` (an admin's
//! acts), `share.accessed` (the first access to a file of the bundle, or its listing, from one
//! source in a window) and `share.access_summary` (the other requests, counted).
//!
//! Invariants: those of the crate (byte for byte as written, read tolerantly, unknown fields kept
//! in `other`). A link's token is never in an event; neither is a link's URL.

use crate::lenient;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `share.created`: a read-only, expiring link to one evidence export.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ShareCreated {
    #[serde(deserialize_with = "lenient")]
    pub share_id: String,
    #[serde(deserialize_with = "lenient")]
    pub export_id: String,
    #[serde(deserialize_with = "lenient")]
    pub expires_at: String,
    /// The creating admin's name.
    #[serde(deserialize_with = "lenient")]
    pub created_by: String,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `share.revoked`: the link refuses every request from now on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ShareRevoked {
    #[serde(deserialize_with = "lenient")]
    pub share_id: String,
    #[serde(deserialize_with = "lenient")]
    pub export_id: String,
    /// The revoking admin's name.
    #[serde(deserialize_with = "lenient")]
    pub revoked_by: String,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `share.accessed`: a first access through a link (also its `share_accesses` document).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ShareAccessed {
    #[serde(deserialize_with = "lenient")]
    pub share_id: String,
    #[serde(deserialize_with = "lenient")]
    pub export_id: String,
    /// The file read (`null`: the listing), cut at 200 characters (marked with `…`).
    #[serde(deserialize_with = "lenient")]
    pub path: Option<String>,
    /// Who asked (address and user agent).
    #[serde(deserialize_with = "lenient")]
    pub client: String,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// One (link, source) row of a `share.access_summary`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ShareAccessRow {
    /// The link, when the request named a known one.
    #[serde(deserialize_with = "lenient")]
    pub share_id: Option<String>,
    /// The peer address (`null` in the row that sums everything beyond the itemized rows).
    #[serde(deserialize_with = "lenient")]
    pub source: Option<String>,
    /// Served again within the window after a recorded first access.
    #[serde(deserialize_with = "lenient")]
    pub repeated: u64,
    /// Unknown, revoked or expired link, or a path the bundle does not have.
    #[serde(deserialize_with = "lenient")]
    pub not_found: u64,
    /// Refused by the rate limit (429).
    #[serde(deserialize_with = "lenient")]
    pub rate_limited: u64,
    /// Refused as too long (414).
    #[serde(deserialize_with = "lenient")]
    pub too_long: u64,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `share.access_summary`: the requests through share links not recorded one by one, counted
/// over `[from, to)` (wire times).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ShareAccessSummary {
    #[serde(deserialize_with = "lenient")]
    pub from: String,
    #[serde(deserialize_with = "lenient")]
    pub to: String,
    #[serde(deserialize_with = "lenient")]
    pub rows: Vec<ShareAccessRow>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{kind, retype};
    use serde_json::json;

    #[test]
    fn created_and_revoked_name_the_link_its_export_and_the_admin() {
        // What the writers' `json!` wrote.
        let created = ShareCreated {
            share_id: "shr_1".into(),
            export_id: "exp_1".into(),
            expires_at: "2027-01-06T09:00:00.000000Z".into(),
            created_by: "alice".into(),
            other: Default::default(),
        };
        let old = json!({"share_id": "shr_1", "export_id": "exp_1",
                         "expires_at": "2027-01-06T09:00:00.000000Z", "created_by": "alice"});
        assert_eq!(serde_json::to_value(&created).unwrap(), old);
        let revoked = ShareRevoked {
            share_id: "shr_1".into(),
            export_id: "exp_1".into(),
            revoked_by: "alice".into(),
            other: Default::default(),
        };
        let old = json!({"share_id": "shr_1", "export_id": "exp_1", "revoked_by": "alice"});
        assert_eq!(serde_json::to_value(&revoked).unwrap(), old);
    }

    #[test]
    fn an_access_to_the_listing_has_a_null_path() {
        let listing =
            json!({"share_id": "shr_1", "export_id": "exp_1", "path": null, "client": "1.2.3.4 curl"});
        assert_eq!(retype(kind::SHARE_ACCESSED, &listing).expect("typed").expect("reads"), listing);
    }

    #[test]
    fn a_summary_keeps_its_null_link_and_source() {
        // What the writer's `json!({"from", "to", "rows"})` wrote: every row whole.
        let summary = ShareAccessSummary {
            from: "2026-12-07T09:00:00.000000Z".into(),
            to: "2026-12-07T09:01:00.000000Z".into(),
            rows: vec![
                ShareAccessRow {
                    share_id: Some("shr_1".into()),
                    source: Some("1.2.3.4".into()),
                    repeated: 2,
                    ..Default::default()
                },
                ShareAccessRow { not_found: 7, rate_limited: 1, too_long: 3, ..Default::default() },
            ],
            other: Default::default(),
        };
        let old = json!({"from": "2026-12-07T09:00:00.000000Z", "to": "2026-12-07T09:01:00.000000Z", "rows": [
            {"share_id": "shr_1", "source": "1.2.3.4", "repeated": 2, "not_found": 0, "rate_limited": 0,
             "too_long": 0},
            {"share_id": null, "source": null, "repeated": 0, "not_found": 7, "rate_limited": 1, "too_long": 3}]});
        assert_eq!(serde_json::to_value(&summary).unwrap(), old);
        assert_eq!(retype(kind::SHARE_ACCESS_SUMMARY, &old).expect("typed").expect("reads"), old);
    }
}
