//! Signed webhooks (Standard Webhooks, SOC 2 CC7.2): every log event, and every signed
//! checkpoint, is delivered to the HTTP endpoints admins register — signed, retried, each attempt
//! recorded in the log — so that a SIEM holds the events (and the checkpoints that vouch for
//! them) where the database's owner cannot rewrite them. The HTTP sending loop lives in
//! gavel-server (`webhooks::start`); this module decides what to send and records what happened.
//!
//! Invariants (each file states its own in detail):
//! * the outbox is the log itself: a per-endpoint cursor, moved compare-and-set with ONE
//!   `webhook.attempts` event per round of attempts, so no attempt is made that is not recorded;
//!   delivery is at least once, with the same `webhook-id` on every attempt (`outbox`);
//! * `webhook.*` events are never delivered (no feedback loop); signed checkpoints are delivered
//!   as `checkpoint.signed`, which is not a log event (`kinds`, `outbox`);
//! * endpoints are never deleted (they are evidence), every change to one is an event, and no
//!   event ever carries a secret (`endpoints`);
//! * only 2xx is success; 410 fails the delivery and disables the endpoint; other failures retry
//!   on the spec's schedule, then the delivery is `failed` (`outbox`, `schedule`);
//! * one range table refuses private, loopback and reserved targets at creation and at
//!   connection time, unless `Settings::webhooks_allow_private` (`ssrf`);
//! * every message carries a Standard Webhooks signature per signing secret (`signing`), and its
//!   body is an OCSF 1.8.0 payload that validates against its class's schema (`ocsf`).
//!
//! One file per responsibility; every public item is re-exported here, so the public path is
//! always `gavel_core::webhooks::X`:
//! * `kinds` — the event kinds gavel writes, the ones webhooks deliver, and endpoint filters;
//! * `endpoints` — endpoint CRUD, secrets and their rotation overlap, delivery statistics;
//! * `ssrf` — the address and host guard;
//! * `signing` — the Standard Webhooks `webhook-signature`;
//! * `schedule` — the retry schedule (backoff, jitter, `Retry-After`);
//! * `outbox` — what is due, the rounds of attempts and their one event each, the holds of
//!   failing endpoints, the delivery of signed checkpoints, the deliveries view;
//! * `ocsf` — the OCSF mapping of events and checkpoints.

mod endpoints;
mod kinds;
mod ocsf;
mod outbox;
mod schedule;
mod signing;
mod ssrf;

pub use endpoints::{
    new_secret, AttemptCounts, CreatedEndpoint, DeliveryCounts, Endpoint, EndpointDetail, EndpointView,
    PreviousSecret, RotatedSecret,
};
pub use kinds::{
    deliverable_kinds, is_registered_kind, kind_matches, CHECKPOINT_KIND, EVENT_KINDS, EXTERNAL_KIND_PREFIX,
};
pub use ocsf::{checkpoint_payload, payload, SignedCheckpoint};
pub use outbox::{
    checkpoint_message_id, delivery_from_doc, message_id, Attempt, Cursor, Delivery, DeliveryAttempt,
    Message, Plan, Position, Sent,
};
pub use schedule::{random_jitter, retry_delay, spec_schedule};
pub use signing::{sign, sign_all};
pub use ssrf::{blocked_range, embedded_ipv4, is_private, validate_url};
