//! The event kinds of webhooks: every kind gavel writes to its log ([`EVENT_KINDS`], and the
//! operators' `external.<name>`), the ones webhooks deliver ([`deliverable_kinds`]), and the
//! endpoint filters that select among them ([`kind_matches`]).
//!
//! Invariants:
//! * a kind not registered here cannot ship unvalidated: `Gavel::record` refuses it in debug
//!   builds, and gavel-server `tests/ocsf.rs` validates the OCSF payload of every deliverable kind
//!   and asserts it covered exactly this list;
//! * `webhook.*` events match no filter, so they are never delivered (no feedback loop);
//! * [`CHECKPOINT_KIND`] is delivered but is never a log event (see `outbox`);
//! * a filter pattern is an exact kind (`decision`), a prefix (`policy.*`) or `*`; an empty filter
//!   is every kind; anything else is refused when the endpoint is created or changed.

use crate::error::{CoreError, Result};

/// Every kind of event gavel writes to its log, by any crate (gavel-core's `record`, the evidence
/// export, the S3 upload, the retention purge), besides the operators' `external.<name>` kinds
/// ([`EXTERNAL_KIND_PREFIX`]), plus [`CHECKPOINT_KIND`], which webhooks deliver from the stored
/// checkpoints and which is never a log event. Webhooks deliver all of them but `webhook.*`
/// ([`deliverable_kinds`]), and gavel-server `tests/ocsf.rs` produces each deliverable kind and
/// validates its payload against the OCSF schema, asserting it covered exactly this list. In debug
/// builds `Gavel::record` refuses a kind not listed here (and `checkpoint.signed`), so a new kind
/// cannot ship unvalidated.
pub const EVENT_KINDS: &[&str] = &[
    "agent.credential_rotated",
    "agent.deactivated",
    "agent.limits_changed",
    "agent.reactivated",
    "agent.registered",
    "agent.suspended",
    "approval.decided",
    "approval.expired",
    "auth.failures",
    "checkpoint.signed",
    "compliance.scan_completed",
    "console.signed_in",
    "console.signed_out",
    "decision",
    "detection.raised",
    "detectors.progress",
    "evidence.exported",
    "evidence.uploaded",
    "finding.acknowledged",
    "finding.bypass",
    "finding.resolved",
    "gateway.tools_seen",
    "hold.placed",
    "hold.release_requested",
    "hold.released",
    "incident.assigned",
    "incident.contained",
    "incident.linked",
    "incident.noted",
    "incident.opened",
    "incident.resolved",
    "incident.triaged",
    "killswitch.engaged",
    "killswitch.released",
    "notification.attempts",
    "notification.channel_created",
    "notification.channel_disabled",
    "outcome.recorded",
    "pack.installed",
    "policy.activated",
    "policy.deactivated",
    "policy.mode_changed",
    "policy.proposed",
    "policy.rejected",
    "retention.change_requested",
    "retention.policy_set",
    "retention.purged",
    "share.access_summary",
    "share.accessed",
    "share.created",
    "share.revoked",
    "tools.categories_applied",
    "tools.categories_proposed",
    "tools.categories_rejected",
    "user.created",
    "user.credential_rotated",
    "user.deactivated",
    "user.role_changed",
    "webhook.attempts",
    "webhook.created",
    "webhook.disabled",
    "webhook.secret_rotated",
    "webhook.updated",
];

/// The kind of a signed checkpoint's delivery: not a log event (see the module doc).
pub const CHECKPOINT_KIND: &str = "checkpoint.signed";

/// Operators record their own evidence as `external.<name>` events (`gavel audit record`); they
/// are delivered with the generic mapping.
pub const EXTERNAL_KIND_PREFIX: &str = "external.";

/// Whether `kind` is one gavel writes: listed in [`EVENT_KINDS`] or `external.<name>`.
pub fn is_registered_kind(kind: &str) -> bool {
    EVENT_KINDS.contains(&kind) || kind.strip_prefix(EXTERNAL_KIND_PREFIX).is_some_and(|n| !n.is_empty())
}

/// The registered kinds webhooks deliver (every one but `webhook.*`, see [`kind_matches`]).
pub fn deliverable_kinds() -> impl Iterator<Item = &'static str> {
    EVENT_KINDS.iter().copied().filter(|k| kind_matches(&[], k))
}

/// Whether `kind` matches the patterns (`webhook.*` events never match).
pub fn kind_matches(patterns: &[String], kind: &str) -> bool {
    if kind.starts_with("webhook.") {
        return false;
    }
    patterns.is_empty()
        || patterns.iter().any(|p| match p.strip_suffix(".*") {
            Some(prefix) => kind.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('.')),
            None => p == "*" || p == kind,
        })
}

pub(super) fn validate_kinds(kinds: &[String]) -> Result<()> {
    if kinds.len() > 64 {
        return Err(CoreError::Invalid("at most 64 kind patterns".into()));
    }
    for k in kinds {
        let body = k.strip_suffix(".*").unwrap_or(k);
        let ok = k == "*"
            || (!body.is_empty()
                && body.len() <= 100
                && body
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
                && !body.starts_with('.')
                && !body.ends_with('.'));
        if !ok {
            return Err(CoreError::Invalid(format!(
                "kind pattern {k:?} must be an event kind (e.g. decision) or a prefix (e.g. policy.*)"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_patterns() {
        let k = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(kind_matches(&k(&[]), "decision"));
        assert!(!kind_matches(&k(&[]), "webhook.attempts"));
        assert!(!kind_matches(&k(&["webhook.*"]), "webhook.created"));
        assert!(kind_matches(&k(&["policy.*"]), "policy.activated"));
        assert!(!kind_matches(&k(&["policy.*"]), "policyx.activated"));
        assert!(!kind_matches(&k(&["policy.*"]), "decision"));
        assert!(kind_matches(&k(&["decision", "finding.*"]), "decision"));
        assert!(validate_kinds(&k(&["decision", "policy.*", "*"])).is_ok());
        for bad in ["", "Policy", "po*licy", ".x", "x.", "a b"] {
            assert!(validate_kinds(&k(&[bad])).is_err(), "{bad}");
        }
    }
}
