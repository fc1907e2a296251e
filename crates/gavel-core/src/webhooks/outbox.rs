//! The webhook outbox: what is due for an endpoint ([`Gavel::webhook_plan`]), the record of each
//! round of attempts ([`Gavel::record_webhook_attempts`]), the holds of failing endpoints, the
//! delivery of signed checkpoints, and the deliveries view ([`Gavel::webhook_deliveries`]).
//!
//! Invariants:
//! * the outbox is the log itself: each endpoint has a cursor (`webhook_cursors/<endpoint>`,
//!   `next_seq`) and every log event at or after it whose kind matches the endpoint's filter is
//!   delivered; `webhook.*` events are never delivered (no feedback loop);
//! * every round of attempts is ONE `webhook.attempts` event committed together with the cursor
//!   move (compare-and-set on the cursor version) and the delivery documents
//!   (`webhook_deliveries/<endpoint>:<seq>`, k1 endpoint, k2 `retrying|delivered|failed`); it
//!   lists every attempt of the round and the endpoint's `held_until` (below);
//! * the webhook id of a delivery is `msg_<endpoint>_<seq>`, the same on every attempt: a crash
//!   between sending and committing re-sends with the same id (at least once; receivers dedupe
//!   by `webhook-id`, as the spec asks);
//! * only 2xx is success; 410 fails the delivery and disables the endpoint (`webhook.disabled`,
//!   actor `system:webhooks`); other failures retry on the schedule (spec: 5 s, 5 min, 30 min,
//!   2 h, 5 h, 10 h, 14 h, 20 h, 24 h after the immediate first attempt, ±10% jitter,
//!   `Retry-After` honoured as a lower bound; see `schedule`), then the delivery is `failed`;
//! * signed checkpoints are delivered too, as `checkpoint.signed` (below): the same rounds,
//!   signing, retries, holds, `webhook.attempts` records and delivery documents as log events.
//!
//! Signed checkpoints (`checkpoint.signed`, issue 13: checkpoints published where the database's
//! owner cannot rewrite them — the SIEM holds them). Every checkpoint the log signs is delivered
//! to each endpoint whose filter matches `checkpoint.signed` (it, `checkpoint.*`, `*`, or no
//! filter), carrying the C2SP note, origin, tree size, root hash and key id ([`checkpoint_payload`]).
//! *It is not a log event*, and that is deliberate: an event recording a checkpoint of size n
//! would itself be entry n, outside the checkpoint it announces, and the next checkpoint (10 s
//! later) would have to cover it and be announced by another event — the log would grow by one
//! event every 10 s forever, idle or not, and every checkpoint's own record would be uncovered.
//! Instead the outbox for checkpoints is the `checkpoints` table itself, as the log is for
//! events: each endpoint's cursor has a second position, `checkpoints_after` (a tree size; the
//! checkpoints above it are still to deliver), moved compare-and-set with the round's
//! `webhook.attempts` event exactly like `next_seq`, so a checkpoint delivery is durable (the
//! signed checkpoint is committed before anyone can deliver it), retried on the same schedule,
//! at least once across crashes (webhook id `msg_<endpoint>_checkpoint_<size>`, the same on every
//! attempt) and listed in the deliveries view (`webhook_deliveries/<endpoint>:checkpoint:<size>`,
//! with `tree_size`; its `seq` is the last entry the checkpoint covers, `size - 1`). Only a
//! checkpoint whose signature verifies under the log key (the key of the log `Gavel` owns) is
//! sent; another one in the table is logged and skipped.
//!
//! The delivery records are log events, though, and that would loop the same way (deliver
//! checkpoint n, record the attempts as entry n, sign n+1 over them, deliver it, ...). So a
//! checkpoint is delivered only if it covers something besides delivery records: one whose new
//! entries since the previous checkpoint (the endpoint's `checkpoints_after` for the first one
//! looked at) are all `webhook.attempts` events is passed without a delivery. Every other entry
//! lies between two consecutive checkpoints and so is covered by a checkpoint that is delivered;
//! what the SIEM's latest checkpoint can leave uncovered is at most the trailing
//! `webhook.attempts` records, until the next event of any other kind (the stored checkpoints,
//! `checkpoint_publish_dir` and S3 still get every checkpoint). An idle log therefore stops
//! growing: one round after the last real event, nothing is left to deliver. A new endpoint starts
//! at the log's size at its creation, so its first checkpoint is the one covering its own
//! `webhook.created`; a cursor written before this field existed starts at its `next_seq`.
//!
//! Failing endpoints (issue 14: 20 unreachable endpoints wrote ~22 `webhook.attempts`/s while
//! idle, because a round stops at the first failure to connect and the next round, ~250 ms later,
//! tried the next message). A round that got no 2xx sets `Cursor::held_until`, committed with its
//! event, and no round runs for that endpoint before then:
//! * the round ended without an HTTP answer (connection refused, DNS, TLS, timeout, SSRF guard):
//!   the endpoint is down, so it waits for the next attempt of the delivery that found it down
//!   (the schedule: 5 s, 5 min, 30 min, ... ±10%); other deliveries wait with it rather than
//!   each probing the dead endpoint on its own;
//! * the endpoint answered, with errors only: it may be refusing some messages, not all, so it
//!   waits for the earliest retry the round scheduled, at most the schedule's first step.
//!
//! Bound: every round is one `webhook.attempts` event, so while an endpoint fails the log gains
//! at most ONE event for it per hold, that is per backoff step of the delivery at the head of its
//! queue, and never more than one per smallest step (0.9 × 5 s with the spec's schedule and jitter). The event still lists
//! every attempt of its round, so the delivery documents (the deliveries view), the cursor's
//! counters and the evidence (CC7.2 counts attempts by outcome from these events) stay exact:
//! no attempt is made that is not recorded, and none is aggregated away.

use super::endpoints::{Endpoint, ENDPOINTS};
use super::kinds::CHECKPOINT_KIND;
use super::ocsf::{checkpoint_payload, payload, SignedCheckpoint};
use super::schedule::{random_jitter, retry_delay};
use crate::error::{CoreError, Result};
use crate::identity::Principal;
use crate::Gavel;
use gavel_ledger::clock::{format_time, parse_time};
use gavel_ledger::event::{Actor, Event};
use gavel_store::docs::{Doc, DocKeys, DocQuery, Expect, StateOp};
use gavel_store::Appended;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::Duration;

pub(super) const CURSORS: &str = "webhook_cursors";
pub(super) const DELIVERIES: &str = "webhook_deliveries";

/// The webhook id of the delivery of log event `seq` to `endpoint_id` (the same on every attempt).
pub fn message_id(endpoint_id: &str, seq: u64) -> String {
    format!("msg_{endpoint_id}_{seq}")
}

/// The webhook id of the delivery of the checkpoint of `tree_size` to `endpoint_id`.
pub fn checkpoint_message_id(endpoint_id: &str, tree_size: u64) -> String {
    format!("msg_{endpoint_id}_checkpoint_{tree_size}")
}

/// The delivery document's id: `<endpoint>:<seq>` for an event, `<endpoint>:checkpoint:<size>`
/// for a checkpoint.
fn delivery_id(endpoint_id: &str, seq: u64, tree_size: Option<u64>) -> String {
    match tree_size {
        Some(size) => format!("{endpoint_id}:checkpoint:{size}"),
        None => format!("{endpoint_id}:{seq}"),
    }
}

/// The per-endpoint cursor and lifetime attempt counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub endpoint_id: String,
    pub next_seq: u64,
    #[serde(default)]
    pub delivered: u64,
    #[serde(default)]
    pub failed: u64,
    #[serde(default)]
    pub retrying: u64,
    /// No round runs before this time: the last round got no 2xx (see "Failing endpoints" in the
    /// module doc). Written with the round's `webhook.attempts` event, so it survives restarts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_until: Option<String>,
    /// Signed checkpoints of a larger tree size are still to deliver (see "Signed checkpoints" in
    /// the module doc). `None` in cursors written before checkpoints were delivered: `next_seq`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoints_after: Option<u64>,
}

/// One delivery (an event or a signed checkpoint to an endpoint) with all its attempts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub endpoint_id: String,
    /// The log event delivered; for a checkpoint, the last entry it covers (`tree_size - 1`).
    pub seq: u64,
    /// Set for a `checkpoint.signed` delivery: the checkpoint's tree size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree_size: Option<u64>,
    pub webhook_id: String,
    pub kind: String,
    /// retrying | delivered | failed
    pub status: String,
    pub next_attempt_at: Option<String>,
    pub attempts: Vec<Attempt>,
}

/// One HTTP attempt and what it led to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Attempt {
    pub seq: u64,
    /// Set for a `checkpoint.signed` delivery (see [`Delivery::tree_size`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree_size: Option<u64>,
    pub webhook_id: String,
    pub attempt: u32,
    pub at: String,
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<String>,
    /// delivered | retrying | failed
    pub outcome: String,
}

impl Attempt {
    /// The attempt as `webhook.attempts` records it.
    fn event(&self) -> gavel_events::Attempt {
        gavel_events::Attempt {
            seq: self.seq,
            tree_size: self.tree_size,
            webhook_id: self.webhook_id.clone(),
            attempt: self.attempt,
            at: self.at.clone(),
            status_code: self.status_code,
            latency_ms: self.latency_ms,
            error: self.error.clone(),
            outcome: self.outcome.clone(),
            other: Default::default(),
        }
    }
}

/// One message the dispatcher should send now.
#[derive(Debug, Clone)]
pub struct Message {
    /// See [`Delivery::seq`].
    pub seq: u64,
    /// Set for a signed checkpoint: its tree size.
    pub tree_size: Option<u64>,
    pub kind: String,
    pub webhook_id: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    pub body: Vec<u8>,
    /// The delivery document and its version, for a retry.
    pub prior: Option<(Delivery, u64)>,
}

/// What one round for one endpoint has to do.
#[derive(Debug, Clone)]
pub struct Plan {
    pub endpoint: Endpoint,
    pub cursor: Cursor,
    pub cursor_version: u64,
    /// Due retries first, then new signed checkpoints by size, then new events in seq order.
    pub messages: Vec<Message>,
    /// Where the cursor goes once every new message of the plan was attempted.
    pub scanned_to: u64,
    /// Where this round started looking at checkpoints (a tree size).
    pub checkpoints_from: u64,
    /// The checkpoints looked at, by size, and whether each was offered (planned as a message)
    /// or passed (not wanted, only delivery records since the previous one, or not authentic).
    pub checkpoints_seen: Vec<(u64, bool)>,
}

impl Plan {
    /// Where the checkpoint position goes after a round that attempted `sent`: past every
    /// checkpoint looked at, up to the first offered one that was not attempted.
    pub fn checkpoints_to(&self, sent: &[Sent]) -> u64 {
        let mut to = self.checkpoints_from;
        for &(size, offered) in &self.checkpoints_seen {
            if offered && !sent.iter().any(|s| s.tree_size == Some(size)) {
                break;
            }
            to = size;
        }
        to
    }
}

/// Where a round starts looking, besides the stored cursor: the dispatcher's in-memory positions
/// past events and checkpoints that needed no attempt (moving the stored cursor would take an
/// event).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Position {
    pub next_seq: u64,
    pub checkpoints_after: u64,
}

/// What the dispatcher observed for one message.
#[derive(Debug, Clone)]
pub struct Sent {
    pub seq: u64,
    /// The message's [`Message::tree_size`].
    pub tree_size: Option<u64>,
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<String>,
    pub retry_after: Option<Duration>,
}

/// One attempt of one delivery, with the delivery's state (`GET /v1/webhooks/{id}/deliveries`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliveryAttempt {
    #[serde(flatten)]
    pub attempt: Attempt,
    /// retrying | delivered | failed: where the delivery is now.
    pub delivery_status: String,
    /// The kind of the event (or `checkpoint.signed`) delivered.
    pub kind: String,
}

impl Gavel {
    /// Every attempt to this endpoint, newest first; `status` filters on the delivery's state.
    pub fn webhook_deliveries(
        &self,
        by: &Principal,
        id: &str,
        status: Option<&str>,
        limit: u32,
    ) -> Result<Vec<DeliveryAttempt>> {
        by.require_reader()?;
        self.webhook_doc(id)?;
        if let Some(s) = status {
            if !["retrying", "delivered", "failed"].contains(&s) {
                return Err(CoreError::Invalid(format!(
                    "status {s:?} must be retrying, delivered or failed"
                )));
            }
        }
        let limit = limit.clamp(1, 1000);
        let mut q = DocQuery::new(DELIVERIES, limit);
        q.k1 = Some(id.into());
        q.k2 = status.map(str::to_string);
        let mut items = Vec::new();
        for doc in self.store.query_docs(&q)? {
            let d: Delivery = crate::from_doc(doc)?;
            for attempt in d.attempts {
                items.push(DeliveryAttempt {
                    attempt,
                    delivery_status: d.status.clone(),
                    kind: d.kind.clone(),
                });
            }
        }
        items.sort_by(|a, b| {
            let key = |d: &DeliveryAttempt| (d.attempt.at.clone(), d.attempt.attempt, d.attempt.seq);
            key(b).cmp(&key(a))
        });
        items.truncate(limit as usize);
        Ok(items)
    }

    fn message_body(&self, seq: u64) -> Result<(String, Vec<u8>)> {
        let entry = self
            .store
            .entry(seq)?
            .ok_or_else(|| CoreError::Internal(format!("log event {seq} is missing")))?;
        let event = entry
            .bytes
            .as_deref()
            .map(Event::from_bytes)
            .transpose()
            .map_err(|e| CoreError::Internal(e.to_string()))?;
        let kind = event.as_ref().map_or(String::new(), |e| e.kind.clone());
        let body = payload(seq, &hex::encode(entry.leaf_hash), event.as_ref());
        Ok((kind, serde_json::to_vec(&body).map_err(|e| CoreError::Internal(e.to_string()))?))
    }

    /// The signed checkpoint of exactly `tree_size`, as delivered, if it is stored and its
    /// signature verifies under the log key; `Ok(None)` when there is no verifier, no such
    /// checkpoint, or it is not authentic (logged: a row the log key did not sign is tampering).
    pub fn signed_checkpoint(&self, tree_size: u64) -> Result<Option<SignedCheckpoint>> {
        let stored = self.store.checkpoints_after(tree_size.wrapping_sub(1), 1)?;
        match stored.into_iter().next() {
            Some(c) if c.size == tree_size => Ok(self.authentic_checkpoint(&c)),
            _ => Ok(None),
        }
    }

    fn authentic_checkpoint(&self, c: &gavel_store::StoredCheckpoint) -> Option<SignedCheckpoint> {
        let verifier = self.checkpoint_verifier.as_ref()?;
        match verifier.verify(&c.note) {
            Ok(v) if v.size == c.size && v.root == c.root && v.origin == verifier.name() => {
                Some(SignedCheckpoint {
                    note: c.note.clone(),
                    origin: v.origin,
                    tree_size: v.size,
                    root: v.root,
                    key_name: verifier.name().to_string(),
                    key_id: verifier.key_id(),
                    signed_at: c.created_at.clone(),
                })
            }
            Ok(_) => {
                tracing::error!(
                    size = c.size,
                    "a stored checkpoint's note does not match its row: not delivered"
                );
                None
            }
            Err(e) => {
                tracing::error!(size = c.size, error = %e, "a stored checkpoint is not signed by the log key: not delivered");
                None
            }
        }
    }

    fn checkpoint_body(&self, tree_size: u64) -> Result<Vec<u8>> {
        let c = self.signed_checkpoint(tree_size)?.ok_or_else(|| {
            CoreError::Internal(format!("no authentic signed checkpoint of size {tree_size} is stored"))
        })?;
        serde_json::to_vec(&checkpoint_payload(&c)).map_err(|e| CoreError::Internal(e.to_string()))
    }

    /// Whether the entries `from..to` are all `webhook.attempts` records (true when there are
    /// none): a checkpoint adding only those is not delivered (module doc, "Signed checkpoints").
    fn only_delivery_records(&self, from: u64, to: u64) -> Result<bool> {
        let mut only = true;
        self.store.scan(from, to, &mut |entry| {
            only = entry
                .bytes
                .as_deref()
                .and_then(|b| Event::from_bytes(b).ok())
                .is_some_and(|e| e.kind == "webhook.attempts");
            only
        })?;
        Ok(only)
    }

    /// What to send to `endpoint_id` now: due retries, then up to `max_new` new signed
    /// checkpoints (after `max(cursor, from)`), then up to `max_new` new matching events scanned
    /// from `max(cursor, from)` (at most `max_scan` events looked at). `None` if the endpoint is
    /// gone or disabled, or held after a round without any 2xx (`Cursor::held_until`).
    pub fn webhook_plan(
        &self,
        endpoint_id: &str,
        from: Position,
        max_new: usize,
        max_scan: u64,
    ) -> Result<Option<Plan>> {
        let Some(doc) = self.store.get_doc(ENDPOINTS, endpoint_id)? else { return Ok(None) };
        let endpoint: Endpoint = crate::from_doc(doc)?;
        if !endpoint.enabled {
            return Ok(None);
        }
        let cdoc = self
            .store
            .get_doc(CURSORS, endpoint_id)?
            .ok_or_else(|| CoreError::Internal(format!("webhook {endpoint_id} has no cursor")))?;
        let cursor_version = cdoc.version;
        let cursor: Cursor = crate::from_doc(cdoc)?;
        let now = self.clock.now();
        if cursor.held_until.as_deref().and_then(parse_time).is_some_and(|t| t > now) {
            return Ok(None);
        }
        let mut messages = Vec::new();
        let mut q = DocQuery::new(DELIVERIES, 1000);
        q.k1 = Some(endpoint_id.into());
        q.k2 = Some("retrying".into());
        q.ascending = true;
        for doc in self.store.query_docs(&q)? {
            let version = doc.version;
            let d: Delivery = crate::from_doc::<Delivery>(doc)?;
            let due = d.next_attempt_at.as_deref().and_then(parse_time).is_none_or(|t| t <= now);
            if due && messages.len() < max_new {
                let body = match d.tree_size {
                    Some(size) => self.checkpoint_body(size)?,
                    None => self.message_body(d.seq)?.1,
                };
                messages.push(Message {
                    seq: d.seq,
                    tree_size: d.tree_size,
                    kind: d.kind.clone(),
                    webhook_id: d.webhook_id.clone(),
                    attempt: d.attempts.len() as u32 + 1,
                    body,
                    prior: Some((d, version)),
                });
            }
        }
        // Signed checkpoints: offered unless not wanted, not authentic, or adding only delivery
        // records over the previous one (module doc, "Signed checkpoints").
        let checkpoints_from =
            cursor.checkpoints_after.unwrap_or(cursor.next_seq).max(from.checkpoints_after);
        let wanted = endpoint.wants(CHECKPOINT_KIND) && self.checkpoint_verifier.is_some();
        let mut checkpoints_seen = Vec::new();
        let mut previous = checkpoints_from;
        for c in self.store.checkpoints_after(checkpoints_from, max_new)? {
            let offer = wanted && !self.only_delivery_records(previous, c.size)?;
            let signed = if offer { self.authentic_checkpoint(&c) } else { None };
            if let Some(signed) = signed.as_ref() {
                let body = serde_json::to_vec(&checkpoint_payload(signed))
                    .map_err(|e| CoreError::Internal(e.to_string()))?;
                messages.push(Message {
                    seq: c.size.saturating_sub(1),
                    tree_size: Some(c.size),
                    kind: CHECKPOINT_KIND.into(),
                    webhook_id: checkpoint_message_id(endpoint_id, c.size),
                    attempt: 1,
                    body,
                    prior: None,
                });
            }
            checkpoints_seen.push((c.size, signed.is_some()));
            previous = c.size;
        }
        let start = cursor.next_seq.max(from.next_seq);
        let head = self.store.head()?.size;
        let end = head.min(start.saturating_add(max_scan));
        let mut fresh = Vec::new();
        let mut scanned_to = start;
        self.store.scan(start, end, &mut |entry| {
            if fresh.len() >= max_new {
                return false;
            }
            scanned_to = entry.seq + 1;
            if let Some(event) = entry.bytes.as_deref().and_then(|b| Event::from_bytes(b).ok()) {
                if endpoint.wants(&event.kind) {
                    fresh.push(entry.seq);
                }
            }
            true
        })?;
        for seq in fresh {
            let (kind, body) = self.message_body(seq)?;
            messages.push(Message {
                seq,
                tree_size: None,
                kind,
                webhook_id: message_id(endpoint_id, seq),
                attempt: 1,
                body,
                prior: None,
            });
        }
        Ok(Some(Plan {
            endpoint,
            cursor,
            cursor_version,
            messages,
            scanned_to,
            checkpoints_from,
            checkpoints_seen,
        }))
    }

    /// Records one round: ONE `webhook.attempts` event with the cursor move (compare-and-set) and
    /// the delivery documents. `sent` are the messages attempted (a prefix of the plan's retries
    /// and new messages); `cursor_to` is where the cursor's `next_seq` goes (its checkpoint
    /// position follows [`Plan::checkpoints_to`]). A 410 then disables the endpoint.
    pub fn record_webhook_attempts(
        &self,
        plan: &Plan,
        sent: &[Sent],
        cursor_to: u64,
        schedule: &[Duration],
    ) -> Result<Appended> {
        let now = self.clock.now();
        let at = format_time(now);
        let mut cursor = plan.cursor.clone();
        cursor.next_seq = cursor_to.max(cursor.next_seq);
        cursor.checkpoints_after = Some(plan.checkpoints_to(sent));
        let mut attempts = Vec::new();
        let mut ops = Vec::new();
        let mut gone = None;
        // The hold after this round (module doc, "Failing endpoints"): `unreachable` when the
        // round ended without an HTTP answer, `soonest` = the earliest next attempt it scheduled.
        let mut any_delivered = false;
        let unreachable = sent.last().is_some_and(|s| s.status_code.is_none());
        let mut soonest: Option<time::OffsetDateTime> = None;
        let mut last_next = None;
        for s in sent {
            let Some(m) = plan.messages.iter().find(|m| m.seq == s.seq && m.tree_size == s.tree_size) else {
                return Err(CoreError::Internal(format!(
                    "seq {} ({:?}) was not planned",
                    s.seq, s.tree_size
                )));
            };
            let code = s.status_code;
            let (outcome, next) = match code {
                Some(c) if (200..300).contains(&c) => ("delivered", None),
                Some(410) => ("failed", None),
                _ => match retry_delay(schedule, m.attempt, s.retry_after, random_jitter()) {
                    Some(delay) => {
                        soonest = Some(soonest.map_or(now + delay, |t| t.min(now + delay)));
                        ("retrying", Some(format_time(now + delay)))
                    }
                    None => ("failed", None),
                },
            };
            any_delivered |= outcome == "delivered";
            last_next = Some(next.clone());
            if code == Some(410) {
                gone = Some(s.seq);
            }
            match outcome {
                "delivered" => cursor.delivered += 1,
                "failed" => cursor.failed += 1,
                _ => cursor.retrying += 1,
            }
            let attempt = Attempt {
                seq: m.seq,
                tree_size: m.tree_size,
                webhook_id: m.webhook_id.clone(),
                attempt: m.attempt,
                at: at.clone(),
                status_code: code,
                latency_ms: s.latency_ms,
                error: s.error.clone(),
                outcome: outcome.into(),
            };
            let (mut delivery, expect) = match &m.prior {
                Some((d, v)) => (d.clone(), Expect::Version(*v)),
                None => (
                    Delivery {
                        endpoint_id: plan.endpoint.id.clone(),
                        seq: m.seq,
                        tree_size: m.tree_size,
                        webhook_id: m.webhook_id.clone(),
                        kind: m.kind.clone(),
                        status: String::new(),
                        next_attempt_at: None,
                        attempts: Vec::new(),
                    },
                    Expect::Absent,
                ),
            };
            delivery.status = outcome.into();
            delivery.next_attempt_at = next;
            delivery.attempts.push(attempt.clone());
            ops.push(StateOp::put(
                DELIVERIES,
                &delivery_id(&plan.endpoint.id, m.seq, m.tree_size),
                json!(delivery),
                DocKeys {
                    k1: Some(plan.endpoint.id.clone()),
                    k2: Some(outcome.into()),
                    k3: Some(m.seq.to_string()),
                },
                expect,
            ));
            attempts.push(attempt);
        }
        cursor.held_until = if any_delivered || sent.is_empty() {
            None
        } else {
            // A failing endpoint is not tried again before the next step of the backoff. With no
            // HTTP answer the endpoint itself is down, so the whole endpoint follows the schedule
            // of the delivery that found it down; an endpoint that answers (with errors) may be
            // refusing only some messages, so it waits at most the schedule's first step.
            let first_step = schedule.first().map(|d| now + *d);
            let hold = match (unreachable, last_next.flatten()) {
                (true, Some(next)) => parse_time(&next),
                _ => match (soonest, first_step) {
                    (Some(s), Some(f)) => Some(s.min(f)),
                    (s, f) => s.or(f),
                },
            };
            hold.map(format_time)
        };
        ops.push(StateOp::put(
            CURSORS,
            &plan.endpoint.id,
            json!(cursor),
            DocKeys::default(),
            Expect::Version(plan.cursor_version),
        ));
        let round = gavel_events::WebhookAttempts {
            endpoint_id: plan.endpoint.id.clone(),
            next_seq: cursor.next_seq,
            attempts: attempts.iter().map(Attempt::event).collect(),
            held_until: Some(cursor.held_until.clone()),
            other: Default::default(),
        };
        let appended = self.record(
            gavel_events::kind::WEBHOOK_ATTEMPTS,
            &Actor::system("webhooks"),
            crate::typed(&round)?,
            ops,
        )?;
        if let Some(seq) = gone {
            let (mut e, version) = self.webhook_doc(&plan.endpoint.id)?;
            if e.enabled {
                let why = format!("the endpoint answered 410 Gone (delivery of seq {seq})");
                e.enabled = false;
                e.disabled_reason = Some(why.clone());
                let mut change = gavel_events::WebhookChanged {
                    id: e.id.clone(),
                    reason: Some(why.clone()),
                    was_enabled: Some(true),
                    ..Default::default()
                };
                change.other.insert("attempts_seq".into(), json!(appended.seq));
                self.record(
                    gavel_events::kind::WEBHOOK_DISABLED,
                    &Actor::system("webhooks"),
                    crate::typed(&change)?,
                    vec![Self::endpoint_op(&e, Expect::Version(version))],
                )?;
            }
        }
        Ok(appended)
    }
}

/// Decodes a delivery document (for callers that query `webhook_deliveries` directly).
pub fn delivery_from_doc(doc: Doc) -> Result<Delivery> {
    crate::from_doc(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `webhook.attempts` embedded the attempts whole (`json!(attempts)`): the event form must be
    /// the same JSON (`tree_size` only for checkpoints, `null` status and error kept).
    #[test]
    fn an_attempt_is_recorded_in_its_serde_form() {
        for (tree_size, status_code, error) in
            [(None, Some(200), None), (Some(12), None, Some("connection refused".to_string()))]
        {
            let attempt = Attempt {
                seq: 12,
                tree_size,
                webhook_id: "msg_1".into(),
                attempt: 3,
                at: "2026-12-07T09:00:00.000000Z".into(),
                status_code,
                latency_ms: 7,
                error,
                outcome: "failed".into(),
            };
            assert_eq!(crate::typed(&attempt.event()).unwrap(), json!(attempt));
        }
    }
}
