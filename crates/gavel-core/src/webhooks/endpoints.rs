//! Webhook endpoints: registration (admin), the views (readers) with their delivery statistics,
//! filter and enable/disable changes, and secret rotation with its overlap.
//!
//! Invariants:
//! * endpoints are never deleted (they are evidence): `DELETE` disables; every change is an event
//!   (`webhook.created`, `webhook.updated`, `webhook.secret_rotated`, `webhook.disabled`) written
//!   with the endpoint document, and no event ever carries the secret;
//! * the secret (`whsec_` + base64 of 32 random bytes) is shown once, at creation or rotation: no
//!   view ([`EndpointView`], [`EndpointDetail`]) carries it; it is stored in clear in the
//!   endpoint document, since signing needs it;
//! * the URL passes the SSRF guard (`ssrf`) at creation and again when a disabled endpoint is
//!   enabled (it may have been allowed under a looser configuration);
//! * a new endpoint's cursor starts at the log's size: only events after its registration are
//!   delivered, and the checkpoints that cover them;
//! * rotation overlap: after `rotate-secret` the replaced secret stays on the endpoint document
//!   (`previous_secret{secret, expires_at}`, default 24 h, the dispatcher's `rotation_overlap`) and
//!   until `expires_at` every message carries both signatures, new one first
//!   ([`Endpoint::signing_secrets`]); the API shows only `previous_secret_expires_at`. A rotation
//!   during an overlap ends it: only the secret being replaced is kept.

use super::kinds::{kind_matches, validate_kinds};
use super::outbox::{Cursor, CURSORS, DELIVERIES};
use super::ssrf::validate_url;
use crate::error::{CoreError, Result};
use crate::identity::Principal;
use crate::Gavel;
use base64::Engine as _;
use gavel_ledger::clock::{format_time, parse_time};
use gavel_store::docs::{DocKeys, DocQuery, Expect, StateOp};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::Duration;

pub(super) const ENDPOINTS: &str = "webhooks";

/// A registered endpoint as stored (the secret is only ever returned at creation and rotation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub id: String,
    pub url: String,
    /// Event kind patterns: exact (`decision`) or prefix (`policy.*`); empty = every kind.
    pub kinds: Vec<String>,
    pub secret: String,
    pub enabled: bool,
    pub created_by: String,
    pub created_at: String,
    pub disabled_reason: Option<String>,
    /// The secret the last rotation replaced, still signing beside the new one until its expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret: Option<PreviousSecret>,
}

/// A replaced secret kept for the rotation overlap (never shown by the API, only its expiry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousSecret {
    pub secret: String,
    /// RFC 3339; from then on only the current secret signs.
    pub expires_at: String,
}

/// An endpoint as the API shows it: never its secrets (the replaced one shows only when it stops
/// signing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EndpointView {
    pub id: String,
    pub url: String,
    /// Event kind patterns: exact (`decision`) or prefix (`policy.*`); empty = every kind.
    pub kinds: Vec<String>,
    pub enabled: bool,
    pub created_by: String,
    pub created_at: String,
    pub disabled_reason: Option<String>,
    /// Until when the secret the last rotation replaced also signs (null: only the current one).
    pub previous_secret_expires_at: Option<String>,
}

/// A new endpoint with its secret, shown this once (`POST /v1/webhooks`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreatedEndpoint {
    #[serde(flatten)]
    pub endpoint: EndpointView,
    /// The `whsec_…` signing secret.
    pub secret: String,
}

/// One endpoint with its delivery statistics (`GET /v1/webhooks/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EndpointDetail {
    #[serde(flatten)]
    pub endpoint: EndpointView,
    /// The next log seq to consider for delivery.
    pub next_seq: u64,
    /// Signed checkpoints of a larger tree size are still to deliver.
    pub checkpoints_after: u64,
    /// Deliveries by current state.
    pub deliveries: DeliveryCounts,
    /// Attempts over the endpoint's life, by what they led to.
    pub attempts: AttemptCounts,
    /// Delivered attempts / all attempts (null before the first attempt).
    pub success_rate: Option<f64>,
    /// No attempt before this time: the last round got no 2xx.
    pub held_until: Option<String>,
}

/// Deliveries of one endpoint by current state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliveryCounts {
    pub delivered: u64,
    pub failed: u64,
    pub pending: u64,
}

/// Attempts to one endpoint by what they led to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AttemptCounts {
    pub delivered: u64,
    pub failed: u64,
    pub retrying: u64,
}

/// A new secret, shown this once (`POST /v1/webhooks/{id}/rotate-secret`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RotatedSecret {
    pub id: String,
    pub secret: String,
    /// Until when the replaced secret also signs (null: no overlap).
    pub previous_secret_expires_at: Option<String>,
}

impl Endpoint {
    /// The endpoint without its secrets (the previous one shows only when it stops signing).
    pub fn view(&self) -> EndpointView {
        EndpointView {
            id: self.id.clone(),
            url: self.url.clone(),
            kinds: self.kinds.clone(),
            enabled: self.enabled,
            created_by: self.created_by.clone(),
            created_at: self.created_at.clone(),
            disabled_reason: self.disabled_reason.clone(),
            previous_secret_expires_at: self.previous_secret.as_ref().map(|p| p.expires_at.clone()),
        }
    }

    /// The secrets that sign a message sent at `now`: the current one, then the previous one
    /// while its rotation overlap lasts.
    pub fn signing_secrets(&self, now: time::OffsetDateTime) -> Vec<&str> {
        let mut secrets = vec![self.secret.as_str()];
        if let Some(p) = &self.previous_secret {
            if parse_time(&p.expires_at).is_some_and(|t| t > now) {
                secrets.push(p.secret.as_str());
            }
        }
        secrets
    }

    /// Whether an event of `kind` goes to this endpoint.
    pub fn wants(&self, kind: &str) -> bool {
        kind_matches(&self.kinds, kind)
    }
}

/// A fresh secret: `whsec_` + base64 of 32 random bytes.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(bytes))
}

impl Gavel {
    /// Whether endpoints may target private addresses (the dispatcher re-checks at connection time).
    pub fn webhooks_allow_private(&self) -> bool {
        self.settings.webhooks_allow_private
    }

    pub(super) fn webhook_doc(&self, id: &str) -> Result<(Endpoint, u64)> {
        let doc = self
            .store
            .get_doc(ENDPOINTS, id)?
            .ok_or_else(|| CoreError::NotFound(format!("no webhook endpoint {id:?}")))?;
        let version = doc.version;
        Ok((crate::from_doc(doc)?, version))
    }

    pub(super) fn endpoint_op(e: &Endpoint, expect: Expect) -> StateOp {
        let status = if e.enabled { "enabled" } else { "disabled" };
        StateOp::put(
            ENDPOINTS,
            &e.id,
            json!(e),
            DocKeys { k1: Some(status.into()), ..Default::default() },
            expect,
        )
    }

    /// Registers an endpoint (admin). The returned view carries the secret: the only time it is shown.
    pub fn create_webhook(&self, by: &Principal, url: &str, kinds: Vec<String>) -> Result<CreatedEndpoint> {
        let user = by.require_admin()?;
        validate_url(url, self.settings.webhooks_allow_private)?;
        validate_kinds(&kinds)?;
        let endpoint = Endpoint {
            id: crate::ids::new_id("whk"),
            url: url.into(),
            kinds,
            secret: new_secret(),
            enabled: true,
            created_by: user.name.clone(),
            created_at: self.now(),
            disabled_reason: None,
            previous_secret: None,
        };
        // Only events after registration are delivered, and the checkpoints that cover them.
        let size = self.store.head()?.size;
        let cursor = Cursor {
            endpoint_id: endpoint.id.clone(),
            next_seq: size,
            checkpoints_after: Some(size),
            ..Default::default()
        };
        self.record(
            gavel_events::kind::WEBHOOK_CREATED,
            &by.actor(),
            crate::typed(&gavel_events::WebhookCreated {
                id: endpoint.id.clone(),
                url: endpoint.url.clone(),
                kinds: Some(endpoint.kinds.clone()),
                created_by: user.name.clone(),
                other: Default::default(),
            })?,
            vec![
                Self::endpoint_op(&endpoint, Expect::Absent),
                StateOp::put(CURSORS, &endpoint.id, json!(cursor), DocKeys::default(), Expect::Absent),
            ],
        )?;
        Ok(CreatedEndpoint { endpoint: endpoint.view(), secret: endpoint.secret })
    }

    /// Every endpoint, without secrets (readers).
    pub fn webhooks(&self, by: &Principal) -> Result<Vec<EndpointView>> {
        by.require_reader()?;
        Ok(self.all_docs::<Endpoint>(ENDPOINTS, 10_000)?.iter().map(Endpoint::view).collect())
    }

    /// One endpoint with its delivery statistics (readers).
    pub fn webhook(&self, by: &Principal, id: &str) -> Result<EndpointDetail> {
        by.require_reader()?;
        let (e, _) = self.webhook_doc(id)?;
        let cursor: Cursor = match self.store.get_doc(CURSORS, id)? {
            Some(d) => crate::from_doc(d)?,
            None => Cursor::default(),
        };
        let count = |status: &str| {
            let mut q = DocQuery::new(DELIVERIES, 0);
            q.k1 = Some(id.into());
            q.k2 = Some(status.into());
            self.store.count_docs(&q)
        };
        let total = cursor.delivered + cursor.failed + cursor.retrying;
        Ok(EndpointDetail {
            endpoint: e.view(),
            next_seq: cursor.next_seq,
            checkpoints_after: cursor.checkpoints_after.unwrap_or(cursor.next_seq),
            deliveries: DeliveryCounts {
                delivered: count("delivered")?,
                failed: count("failed")?,
                pending: count("retrying")?,
            },
            attempts: AttemptCounts {
                delivered: cursor.delivered,
                failed: cursor.failed,
                retrying: cursor.retrying,
            },
            success_rate: (total > 0).then(|| cursor.delivered as f64 / total as f64),
            held_until: cursor.held_until,
        })
    }

    /// Changes the filter and/or enables or disables an endpoint (admin).
    pub fn update_webhook(
        &self,
        by: &Principal,
        id: &str,
        kinds: Option<Vec<String>>,
        enabled: Option<bool>,
    ) -> Result<EndpointView> {
        let user = by.require_admin()?;
        if kinds.is_none() && enabled.is_none() {
            return Err(CoreError::Invalid("nothing to change: give kinds and/or enabled".into()));
        }
        let (mut e, version) = self.webhook_doc(id)?;
        let was_enabled = e.enabled;
        if let Some(k) = &kinds {
            validate_kinds(k)?;
            e.kinds = k.clone();
        }
        if let Some(on) = enabled {
            if on && !e.enabled {
                // The URL may have been allowed under a looser configuration.
                validate_url(&e.url, self.settings.webhooks_allow_private)?;
                e.disabled_reason = None;
            } else if !on && e.enabled {
                e.disabled_reason = Some(format!("disabled by {}", user.name));
            }
            e.enabled = on;
        }
        // Only a change from enabled to disabled is a `webhook.disabled`; `was_enabled` lets
        // evidence know the endpoint's state before the change (streaming coverage).
        let kind = if enabled == Some(false) && was_enabled {
            gavel_events::kind::WEBHOOK_DISABLED
        } else {
            gavel_events::kind::WEBHOOK_UPDATED
        };
        let change = gavel_events::WebhookChanged {
            id: id.to_string(),
            kinds: Some(kinds),
            enabled: Some(enabled),
            reason: None,
            by: Some(user.name.clone()),
            was_enabled: Some(was_enabled),
            other: Default::default(),
        };
        self.record(
            kind,
            &by.actor(),
            crate::typed(&change)?,
            vec![Self::endpoint_op(&e, Expect::Version(version))],
        )?;
        Ok(e.view())
    }

    /// Disables an endpoint (admin). Endpoints are never deleted: they are evidence.
    pub fn disable_webhook(&self, by: &Principal, id: &str, reason: &str) -> Result<EndpointView> {
        let user = by.require_admin()?;
        let (mut e, version) = self.webhook_doc(id)?;
        if !e.enabled {
            return Err(CoreError::Conflict(format!("webhook endpoint {id} is already disabled")));
        }
        let why =
            if reason.trim().is_empty() { format!("disabled by {}", user.name) } else { reason.to_string() };
        e.enabled = false;
        e.disabled_reason = Some(why.clone());
        self.record(
            gavel_events::kind::WEBHOOK_DISABLED,
            &by.actor(),
            crate::typed(&gavel_events::WebhookChanged {
                id: id.to_string(),
                kinds: None,
                enabled: None,
                reason: Some(why.clone()),
                by: Some(user.name.clone()),
                was_enabled: Some(true),
                other: Default::default(),
            })?,
            vec![Self::endpoint_op(&e, Expect::Version(version))],
        )?;
        Ok(e.view())
    }

    /// Replaces the secret (admin); the new one is returned once and signs from the next attempt
    /// on. For `overlap` after the rotation the replaced secret signs too (a second signature in
    /// `webhook-signature`), so receivers not yet switched keep verifying; zero: no overlap. A
    /// rotation during an overlap ends it: only the secret being replaced is kept.
    pub fn rotate_webhook_secret(
        &self,
        by: &Principal,
        id: &str,
        overlap: Duration,
    ) -> Result<RotatedSecret> {
        let user = by.require_admin()?;
        let (mut e, version) = self.webhook_doc(id)?;
        let expires_at = (!overlap.is_zero()).then(|| format_time(self.clock.now() + overlap));
        let old = std::mem::replace(&mut e.secret, new_secret());
        e.previous_secret = expires_at.clone().map(|expires_at| PreviousSecret { secret: old, expires_at });
        self.record(
            gavel_events::kind::WEBHOOK_SECRET_ROTATED,
            &by.actor(),
            crate::typed(&gavel_events::WebhookSecretRotated {
                id: id.to_string(),
                by: user.name.clone(),
                previous_secret_expires_at: expires_at.clone(),
                other: Default::default(),
            })?,
            vec![Self::endpoint_op(&e, Expect::Version(version))],
        )?;
        Ok(RotatedSecret { id: id.to_string(), secret: e.secret, previous_secret_expires_at: expires_at })
    }

    /// Ids of the enabled endpoints (dispatcher).
    pub fn enabled_webhook_ids(&self) -> Result<Vec<String>> {
        let mut q = DocQuery::new(ENDPOINTS, 10_000);
        q.k1 = Some("enabled".into());
        Ok(self.store.query_docs(&q)?.into_iter().map(|d| d.id).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhooks::signing::{sign, sign_all};

    #[test]
    fn a_rotation_overlap_signs_with_both_secrets_until_it_expires() {
        let now = parse_time("2026-11-02T09:00:00.000000Z").unwrap();
        let mut e = Endpoint {
            id: "whk_1".into(),
            url: "https://siem.example.com/h".into(),
            kinds: vec![],
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
            enabled: true,
            created_by: "alice".into(),
            created_at: format_time(now),
            disabled_reason: None,
            previous_secret: Some(PreviousSecret {
                secret: new_secret(),
                expires_at: format_time(now + Duration::from_secs(60)),
            }),
        };
        let both = e.signing_secrets(now);
        assert_eq!(both.len(), 2);
        let header = sign_all(&both, "msg_1", 1, b"{}").unwrap();
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts[0], sign(&e.secret, "msg_1", 1, b"{}").unwrap(), "the new secret first");
        assert_eq!(parts.len(), 2);
        assert_eq!(e.signing_secrets(now + Duration::from_secs(60)), vec![e.secret.as_str()]);
        let view = json!(e.view());
        assert!(view.get("previous_secret").is_none() && view.get("secret").is_none(), "{view}");
        assert_eq!(view["previous_secret_expires_at"], "2026-11-02T09:01:00.000000Z");
        e.previous_secret = None;
        assert_eq!(e.signing_secrets(now).len(), 1);
    }
}
