//! Notification channels for people (issue 17), separate from SIEM webhooks: a held call, an
//! approval about to expire, an opened incident, an engaged kill switch or new readiness findings
//! are posted to chat (Slack's incoming-webhook format, which Mattermost and Rocket.Chat accept
//! too) or as a generic JSON object, each message linking to the console page of the item. The
//! HTTP sending loop lives in gavel-server (`notifications::start`); this module decides what to
//! send and records what happened.
//!
//! Invariants:
//! * channels are managed by admins only (creation, listing, disabling, the deliveries): a
//!   channel's URL is a capability (a Slack webhook URL is its own credential), so no view and no
//!   event carries it whole, only its origin ([`redacted_url`]); channels are never deleted, every
//!   change is an event (`notification.channel_created`, `notification.channel_disabled`);
//! * the URL passes the webhooks' SSRF guard (`webhooks::validate_url`) at creation, and the
//!   dispatcher re-checks every resolved address at connection time with the webhooks' range table;
//! * the outbox is the log itself, as for webhooks: each channel has a cursor
//!   (`notification_cursors/<channel>`, `next_seq`, starting at the log's size at creation) and
//!   every triggering event at or after it is a notice ([`notice_of`]); every round of attempts
//!   is ONE `notification.attempts` event committed with the cursor move (compare-and-set) and
//!   the delivery documents (`notification_deliveries/<channel>:<notice>`, k1 channel, k2
//!   `retrying|delivered|failed`, holding the exact body sent), so no attempt is made that is not
//!   recorded, and a dead channel adds at most one event per backoff step (`held_until`);
//! * a reminder (`approval.expiring`) is not a log event but a time: a pending approval whose
//!   expiry is within the window, and whose life was longer than the window (else the request's
//!   own notice already said how little time is left), is offered to each channel that wants it
//!   once — its delivery document `<channel>:approval.expiring:<approval>` marks it sent;
//! * a channel's agent filter (groups, owners; both empty = every agent) applies to notices about
//!   one agent; a notice about no single agent (a global or tool kill switch, a readiness scan,
//!   an incident without an agent) goes to every channel that wants its kind;
//! * only 2xx is success; anything else retries on the dispatcher's schedule, then `failed`;
//!   an approval notice is neither sent nor retried once its approval was decided or expired
//!   (a retry due then is recorded `superseded`): nobody is asked for a decision already made.

use crate::error::{CoreError, Result};
use crate::identity::{Agent, Principal};
use crate::webhooks::{random_jitter, retry_delay, validate_url};
use crate::Gavel;
use gavel_ledger::clock::{format_time, parse_time};
use gavel_ledger::event::{Actor, Event};
use gavel_store::docs::{DocKeys, DocQuery, Expect, StateOp};
use gavel_store::Appended;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::time::Duration;

const CHANNELS: &str = "notification_channels";
const CURSORS: &str = "notification_cursors";
const DELIVERIES: &str = "notification_deliveries";

/// The notification events a channel may want.
pub const NOTIFICATION_EVENTS: &[&str] =
    &["approval.requested", "approval.expiring", "incident.opened", "killswitch.engaged", "scan.finding"];

/// How a channel's messages are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Slack incoming webhook (`{"text": ...}`, mrkdwn links); Mattermost and Rocket.Chat accept it.
    Slack,
    /// A JSON object: kind, ids, summary, console link.
    Json,
}

impl Format {
    /// The name its serde form uses (`slack`, `json`).
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Slack => "slack",
            Format::Json => "json",
        }
    }
}

/// A notification channel as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channel {
    pub id: String,
    pub name: String,
    pub format: Format,
    pub url: String,
    /// Notification events wanted ([`NOTIFICATION_EVENTS`]); empty = all of them.
    pub events: Vec<String>,
    /// Only notices about agents in one of these groups …
    pub agent_groups: Vec<String>,
    /// … or owned by one of these (both empty: every agent).
    pub agent_owners: Vec<String>,
    pub enabled: bool,
    pub created_by: String,
    pub created_at: String,
    pub disabled_reason: Option<String>,
}

/// A channel to create (`POST /v1/notifications/channels`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewChannel {
    pub name: String,
    pub format: Format,
    /// http(s) URL the messages are POSTed to (checked by the SSRF guard).
    pub url: String,
    /// Subset of approval.requested, approval.expiring, incident.opened, killswitch.engaged,
    /// scan.finding; empty or absent = all.
    #[serde(default)]
    pub events: Vec<String>,
    #[serde(default)]
    pub agent_groups: Vec<String>,
    #[serde(default)]
    pub agent_owners: Vec<String>,
}

/// A channel as the API shows it: its URL reduced to the origin, with delivery statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChannelView {
    pub id: String,
    pub name: String,
    pub format: Format,
    /// Scheme, host and port only: the full URL is a credential.
    pub url: String,
    pub events: Vec<String>,
    pub agent_groups: Vec<String>,
    pub agent_owners: Vec<String>,
    pub enabled: bool,
    pub created_by: String,
    pub created_at: String,
    pub disabled_reason: Option<String>,
    /// Attempts over the channel's life by what they led to.
    pub attempts: crate::webhooks::AttemptCounts,
    /// No attempt before this time: the last round got no 2xx.
    pub held_until: Option<String>,
}

/// The per-channel cursor and lifetime attempt counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelCursor {
    pub channel_id: String,
    pub next_seq: u64,
    #[serde(default)]
    pub delivered: u64,
    #[serde(default)]
    pub failed: u64,
    #[serde(default)]
    pub retrying: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_until: Option<String>,
}

/// One HTTP attempt of a notification and what it led to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NotificationAttempt {
    pub notice_id: String,
    pub event: String,
    pub attempt: u32,
    pub at: String,
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<String>,
    /// delivered | retrying | failed | superseded (an approval decided or expired before a retry)
    pub outcome: String,
}

impl NotificationAttempt {
    /// The attempt as `notification.attempts` records it.
    fn event(&self) -> gavel_events::NotificationAttempt {
        gavel_events::NotificationAttempt {
            notice_id: self.notice_id.clone(),
            event: self.event.clone(),
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

/// One notice to one channel with all its attempts (`GET …/channels/{id}/deliveries`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NotificationDelivery {
    pub channel_id: String,
    /// `<event>:<item id>`, e.g. `approval.requested:apr_…`.
    pub notice_id: String,
    pub event: String,
    /// The log event that triggered it (none for a reminder).
    pub seq: Option<u64>,
    /// The console page of the item.
    pub link: String,
    /// The exact body POSTed.
    pub body: String,
    /// retrying | delivered | failed | superseded
    pub status: String,
    pub next_attempt_at: Option<String>,
    pub attempts: Vec<NotificationAttempt>,
}

/// What a notice is about, for the channels' agent filters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AgentFacts {
    pub groups: Vec<String>,
    pub owner: String,
}

/// Something people should hear about.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// `<event>:<item id>`: one notice per item and event.
    pub id: String,
    pub event: &'static str,
    pub seq: Option<u64>,
    pub ids: Map<String, Value>,
    pub summary: String,
    /// The console page, absolute (`<console_url>/console/...`).
    pub link: String,
    /// The one agent it is about, when there is one (None: the agent filters do not apply).
    pub agent: Option<AgentFacts>,
    pub at: String,
}

/// One message the dispatcher should send now.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub notice_id: String,
    pub event: String,
    pub seq: Option<u64>,
    pub link: String,
    pub body: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// The delivery document and its version, for a retry.
    pub prior: Option<(NotificationDelivery, u64)>,
}

/// What one round for one channel has to do.
#[derive(Debug, Clone)]
pub struct NotificationPlan {
    pub channel: Channel,
    pub cursor: ChannelCursor,
    pub cursor_version: u64,
    /// Due retries, then reminders, then new notices in seq order.
    pub messages: Vec<Outgoing>,
    /// Where the cursor goes once every new notice of the plan was attempted.
    pub scanned_to: u64,
    /// Retrying approval notices whose approval was decided or expired meanwhile: not sent
    /// again, recorded as `superseded` with the round.
    pub superseded: Vec<(NotificationDelivery, u64)>,
}

/// What the dispatcher observed for one message.
#[derive(Debug, Clone)]
pub struct Posted {
    pub notice_id: String,
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<String>,
}

/// How the planner builds notices.
#[derive(Debug, Clone)]
pub struct NoticeOptions {
    /// The console's base URL, no trailing slash (gavel.toml `console_url`).
    pub console_url: String,
    /// A pending approval this close to its expiry gets one reminder.
    pub remind_within: Duration,
    /// At most this many messages per channel per round.
    pub max_new: usize,
    /// At most this many log events scanned per channel per round.
    pub max_scan: u64,
}

/// `scheme://host[:port]/…`: a URL without what may be a credential (path, query, userinfo).
pub fn redacted_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => {
            let host = u.host_str().unwrap_or("");
            match u.port() {
                Some(p) => format!("{}://{host}:{p}/…", u.scheme()),
                None => format!("{}://{host}/…", u.scheme()),
            }
        }
        Err(_) => "(invalid)".into(),
    }
}

/// Slack mrkdwn escaping: `&`, `<` and `>` are control characters in a message's text.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The body POSTed to a channel of `format` for `notice`.
pub fn message_body(format: Format, notice: &Notice) -> String {
    let body = match format {
        Format::Slack => json!({
            "text": format!("{} <{}|Open in the gavel console>", slack_escape(&notice.summary), notice.link),
        }),
        Format::Json => json!({
            "kind": notice.event, "notice_id": notice.id, "ids": notice.ids, "summary": notice.summary,
            "console_url": notice.link, "at": notice.at,
        }),
    };
    body.to_string()
}

impl Channel {
    /// The channel as the API shows it.
    pub fn view(&self, cursor: &ChannelCursor) -> ChannelView {
        ChannelView {
            id: self.id.clone(),
            name: self.name.clone(),
            format: self.format,
            url: redacted_url(&self.url),
            events: self.events.clone(),
            agent_groups: self.agent_groups.clone(),
            agent_owners: self.agent_owners.clone(),
            enabled: self.enabled,
            created_by: self.created_by.clone(),
            created_at: self.created_at.clone(),
            disabled_reason: self.disabled_reason.clone(),
            attempts: crate::webhooks::AttemptCounts {
                delivered: cursor.delivered,
                failed: cursor.failed,
                retrying: cursor.retrying,
            },
            held_until: cursor.held_until.clone(),
        }
    }

    /// Whether `notice` goes to this channel: its event is wanted and, for a notice about one
    /// agent, the agent passes the channel's filter.
    pub fn wants(&self, notice: &Notice) -> bool {
        let event_ok = self.events.is_empty() || self.events.iter().any(|e| e == notice.event);
        let unfiltered = self.agent_groups.is_empty() && self.agent_owners.is_empty();
        let agent_ok = match &notice.agent {
            None => true,
            Some(_) if unfiltered => true,
            Some(a) => {
                a.groups.iter().any(|g| self.agent_groups.contains(g)) || self.agent_owners.contains(&a.owner)
            }
        };
        event_ok && agent_ok
    }
}

fn check_labels(what: &str, labels: &[String]) -> Result<()> {
    if labels.len() > 64 {
        return Err(CoreError::Invalid(format!("at most 64 {what}")));
    }
    for l in labels {
        if l.trim().is_empty() || l.len() > 200 || l.chars().any(char::is_control) {
            return Err(CoreError::Invalid(format!(
                "{what} entry {l:?} must be 1 to 200 characters, no control characters"
            )));
        }
    }
    Ok(())
}

fn check_events(events: &[String]) -> Result<()> {
    for e in events {
        if !NOTIFICATION_EVENTS.contains(&e.as_str()) {
            return Err(CoreError::Invalid(format!(
                "event {e:?} must be one of {}",
                NOTIFICATION_EVENTS.join(", ")
            )));
        }
    }
    Ok(())
}

fn agent_facts(agent: &Agent) -> AgentFacts {
    AgentFacts { groups: agent.groups.clone(), owner: agent.owner.clone() }
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

impl Gavel {
    fn channel_doc(&self, id: &str) -> Result<(Channel, u64)> {
        let doc = self
            .store
            .get_doc(CHANNELS, id)?
            .ok_or_else(|| CoreError::NotFound(format!("no notification channel {id:?}")))?;
        let version = doc.version;
        Ok((crate::from_doc(doc)?, version))
    }

    fn channel_cursor(&self, id: &str) -> Result<Option<(ChannelCursor, u64)>> {
        match self.store.get_doc(CURSORS, id)? {
            Some(d) => {
                let v = d.version;
                Ok(Some((crate::from_doc(d)?, v)))
            }
            None => Ok(None),
        }
    }

    fn channel_op(c: &Channel, expect: Expect) -> StateOp {
        let status = if c.enabled { "enabled" } else { "disabled" };
        StateOp::put(
            CHANNELS,
            &c.id,
            json!(c),
            DocKeys { k1: Some(status.into()), ..Default::default() },
            expect,
        )
    }

    /// Creates a notification channel (admin). Only events after its creation are notified.
    pub fn create_notification_channel(&self, by: &Principal, new: NewChannel) -> Result<ChannelView> {
        let user = by.require_admin()?;
        let name = new.name.trim();
        if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
            return Err(CoreError::Invalid("name must be 1 to 100 characters, no control characters".into()));
        }
        validate_url(&new.url, self.settings.webhooks_allow_private)?;
        check_events(&new.events)?;
        check_labels("agent_groups", &new.agent_groups)?;
        check_labels("agent_owners", &new.agent_owners)?;
        let dedup = |mut v: Vec<String>| {
            v.sort();
            v.dedup();
            v
        };
        let channel = Channel {
            id: crate::ids::new_id("nch"),
            name: name.into(),
            format: new.format,
            url: new.url,
            events: dedup(new.events),
            agent_groups: dedup(new.agent_groups),
            agent_owners: dedup(new.agent_owners),
            enabled: true,
            created_by: user.name.clone(),
            created_at: self.now(),
            disabled_reason: None,
        };
        let cursor = ChannelCursor {
            channel_id: channel.id.clone(),
            next_seq: self.store.head()?.size,
            ..Default::default()
        };
        let created = gavel_events::NotificationChannelCreated {
            id: channel.id.clone(),
            name: channel.name.clone(),
            format: channel.format.as_str().into(),
            url: redacted_url(&channel.url),
            events: channel.events.clone(),
            agent_groups: channel.agent_groups.clone(),
            agent_owners: channel.agent_owners.clone(),
            created_by: user.name.clone(),
            other: Default::default(),
        };
        self.record(
            gavel_events::kind::NOTIFICATION_CHANNEL_CREATED,
            &by.actor(),
            crate::typed(&created)?,
            vec![
                Self::channel_op(&channel, Expect::Absent),
                StateOp::put(CURSORS, &channel.id, json!(cursor), DocKeys::default(), Expect::Absent),
            ],
        )?;
        Ok(channel.view(&cursor))
    }

    /// Every notification channel with its statistics (admin: the channels' targets are private).
    pub fn notification_channels(&self, by: &Principal) -> Result<Vec<ChannelView>> {
        by.require_admin()?;
        let mut views = Vec::new();
        for c in self.all_docs::<Channel>(CHANNELS, 10_000)? {
            let cursor = self.channel_cursor(&c.id)?.map(|(c, _)| c).unwrap_or_default();
            views.push(c.view(&cursor));
        }
        views.sort_by(|a, b| (&a.created_at, &a.id).cmp(&(&b.created_at, &b.id)));
        Ok(views)
    }

    /// Disables a channel (admin); channels are never deleted.
    pub fn disable_notification_channel(
        &self,
        by: &Principal,
        id: &str,
        reason: &str,
    ) -> Result<ChannelView> {
        let user = by.require_admin()?;
        let (mut c, version) = self.channel_doc(id)?;
        if !c.enabled {
            return Err(CoreError::Conflict(format!("notification channel {id} is already disabled")));
        }
        if reason.len() > 1000 {
            return Err(CoreError::Invalid("reason must be at most 1000 characters".into()));
        }
        let why = if reason.trim().is_empty() {
            format!("disabled by {}", user.name)
        } else {
            reason.trim().to_string()
        };
        c.enabled = false;
        c.disabled_reason = Some(why.clone());
        let disabled = gavel_events::NotificationChannelDisabled {
            id: id.into(),
            reason: why,
            by: user.name.clone(),
            other: Default::default(),
        };
        self.record(
            gavel_events::kind::NOTIFICATION_CHANNEL_DISABLED,
            &by.actor(),
            crate::typed(&disabled)?,
            vec![Self::channel_op(&c, Expect::Version(version))],
        )?;
        let cursor = self.channel_cursor(id)?.map(|(c, _)| c).unwrap_or_default();
        Ok(c.view(&cursor))
    }

    /// The deliveries of one channel, newest first (admin).
    pub fn notification_deliveries(
        &self,
        by: &Principal,
        id: &str,
        limit: u32,
    ) -> Result<Vec<NotificationDelivery>> {
        by.require_admin()?;
        self.channel_doc(id)?;
        let mut q = DocQuery::new(DELIVERIES, limit.clamp(1, 1000));
        q.k1 = Some(id.into());
        self.store.query_docs(&q)?.into_iter().map(crate::from_doc).collect()
    }

    /// Ids of the enabled channels (dispatcher).
    pub fn enabled_notification_channel_ids(&self) -> Result<Vec<String>> {
        let mut q = DocQuery::new(CHANNELS, 10_000);
        q.k1 = Some("enabled".into());
        Ok(self.store.query_docs(&q)?.into_iter().map(|d| d.id).collect())
    }

    fn agent_facts_of(&self, id_or_name: &str) -> Option<AgentFacts> {
        // An agent gavel no longer knows still gets its notice, to unfiltered channels only.
        Some(self.agent(id_or_name).map(|a| agent_facts(&a)).unwrap_or_default())
    }

    /// The notice a log event raises, if any.
    pub fn notice_of(&self, seq: u64, event: &Event, console_url: &str) -> Option<Notice> {
        let d = &event.data;
        let mut ids = Map::new();
        let (id, kind, summary, page, agent) = match event.kind.as_str() {
            "decision" if text(&d["decision"]) == "require_approval" && d["approval_id"].is_string() => {
                let approval = text(&d["approval_id"]);
                for k in ["approval_id", "decision_id", "agent_id"] {
                    ids.insert(k.into(), d[k].clone());
                }
                let behalf = match d["on_behalf_of"].as_str() {
                    Some(who) => format!(" on behalf of {who}"),
                    None => String::new(),
                };
                let reasons: Vec<&str> =
                    d["reasons"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
                let summary = format!(
                    "Approval needed: agent {} wants to call {}{behalf}{}. Expires at {}.",
                    text(&d["agent_name"]),
                    text(&d["tool"]),
                    if reasons.is_empty() { String::new() } else { format!(" ({})", reasons.join("; ")) },
                    text(&d["approval_expires_at"]),
                );
                (
                    approval.to_string(),
                    "approval.requested",
                    summary,
                    "/console/approvals".to_string(),
                    self.agent_facts_of(text(&d["agent_id"])),
                )
            }
            "incident.opened" => {
                let incident = text(&d["incident_id"]);
                ids.insert("incident_id".into(), d["incident_id"].clone());
                let agent = d["agent"].as_str();
                if let Some(a) = agent {
                    ids.insert("agent".into(), json!(a));
                }
                let summary =
                    format!("Incident opened ({} severity): {}", text(&d["severity"]), text(&d["title"]));
                (
                    incident.to_string(),
                    "incident.opened",
                    summary,
                    format!("/console/incidents/{incident}"),
                    agent.and_then(|a| self.agent_facts_of(a)),
                )
            }
            "killswitch.engaged" => {
                let scope = text(&d["scope"]);
                ids.insert("scope".into(), json!(scope));
                let summary = format!(
                    "Kill switch engaged on {scope} by {}: {}",
                    text(&d["engaged_by"]),
                    text(&d["reason"])
                );
                let agent = scope.strip_prefix("agent:").and_then(|a| self.agent_facts_of(a));
                (seq.to_string(), "killswitch.engaged", summary, "/console/agents".to_string(), agent)
            }
            "compliance.scan_completed" => {
                let findings: Vec<&str> =
                    d["new_findings"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
                if findings.is_empty() {
                    return None;
                }
                let scan = text(&d["scan_id"]);
                ids.insert("scan_id".into(), d["scan_id"].clone());
                let shown: Vec<&str> = findings.iter().take(10).copied().collect();
                let more = findings.len().saturating_sub(shown.len());
                let summary = format!(
                    "Readiness scan {scan} ({}) found {} new finding(s): {}{}",
                    text(&d["framework"]),
                    findings.len(),
                    shown.join(", "),
                    if more > 0 { format!(" and {more} more") } else { String::new() }
                );
                (scan.to_string(), "scan.finding", summary, "/console/readiness".to_string(), None)
            }
            _ => return None,
        };
        Some(Notice {
            id: format!("{kind}:{id}"),
            event: kind,
            seq: Some(seq),
            ids,
            summary,
            link: format!("{console_url}{page}"),
            agent,
            at: event.time.clone(),
        })
    }

    /// The reminders due now: pending approvals expiring within `within` whose life was longer.
    fn expiring_notices(&self, console_url: &str, within: Duration) -> Result<Vec<Notice>> {
        let now = self.clock.now();
        let mut q = DocQuery::new("approvals", 1000);
        q.k1 = Some("pending".into());
        q.ascending = true;
        let mut notices = Vec::new();
        for doc in self.store.query_docs(&q)? {
            let a: crate::approvals::Approval = crate::from_doc(doc)?;
            let (Some(expires), Some(requested)) = (parse_time(&a.expires_at), parse_time(&a.requested_at))
            else {
                continue;
            };
            let due = expires > now && expires - now <= within && expires - requested > within;
            if !due {
                continue;
            }
            let mut ids = Map::new();
            ids.insert("approval_id".into(), json!(a.id));
            ids.insert("decision_id".into(), json!(a.decision_id));
            ids.insert("agent_id".into(), json!(a.agent_id));
            let minutes = ((expires - now).whole_seconds() + 59) / 60;
            notices.push(Notice {
                id: format!("approval.expiring:{}", a.id),
                event: "approval.expiring",
                seq: None,
                ids,
                summary: format!(
                    "Approval expiring in {minutes} min: agent {} wants to call {}. Expires at {}.",
                    a.agent_name, a.tool, a.expires_at
                ),
                link: format!("{console_url}/console/approvals"),
                agent: self.agent_facts_of(&a.agent_id),
                at: format_time(now),
            });
        }
        Ok(notices)
    }

    fn delivery_exists(&self, channel_id: &str, notice_id: &str) -> Result<bool> {
        Ok(self.store.get_doc(DELIVERIES, &format!("{channel_id}:{notice_id}"))?.is_some())
    }

    /// What to send to `channel_id` now: due retries, reminders not yet sent, then new notices
    /// from the log scanned from `max(cursor, from)`. `None` if the channel is gone, disabled, or
    /// held after a round without any 2xx.
    pub fn notification_plan(
        &self,
        channel_id: &str,
        from: u64,
        options: &NoticeOptions,
    ) -> Result<Option<NotificationPlan>> {
        let Some(doc) = self.store.get_doc(CHANNELS, channel_id)? else { return Ok(None) };
        let channel: Channel = crate::from_doc(doc)?;
        if !channel.enabled {
            return Ok(None);
        }
        let (cursor, cursor_version) = self
            .channel_cursor(channel_id)?
            .ok_or_else(|| CoreError::Internal(format!("notification channel {channel_id} has no cursor")))?;
        let now = self.clock.now();
        if cursor.held_until.as_deref().and_then(parse_time).is_some_and(|t| t > now) {
            return Ok(None);
        }
        let mut messages = Vec::new();
        let mut superseded = Vec::new();
        let mut q = DocQuery::new(DELIVERIES, 1000);
        q.k1 = Some(channel_id.into());
        q.k2 = Some("retrying".into());
        q.ascending = true;
        for doc in self.store.query_docs(&q)? {
            let version = doc.version;
            let d: NotificationDelivery = crate::from_doc(doc)?;
            let due = d.next_attempt_at.as_deref().and_then(parse_time).is_none_or(|t| t <= now);
            if due && !self.notice_still_current(&d.notice_id)? {
                superseded.push((d, version));
                continue;
            }
            if due && messages.len() < options.max_new {
                messages.push(Outgoing {
                    notice_id: d.notice_id.clone(),
                    event: d.event.clone(),
                    seq: d.seq,
                    link: d.link.clone(),
                    body: d.body.clone(),
                    attempt: d.attempts.len() as u32 + 1,
                    prior: Some((d, version)),
                });
            }
        }
        let fresh = |n: &Notice| Outgoing {
            notice_id: n.id.clone(),
            event: n.event.into(),
            seq: n.seq,
            link: n.link.clone(),
            body: message_body(channel.format, n),
            attempt: 1,
            prior: None,
        };
        let wants_reminders =
            channel.events.is_empty() || channel.events.iter().any(|e| e == "approval.expiring");
        let reminders = if wants_reminders {
            self.expiring_notices(&options.console_url, options.remind_within)?
        } else {
            vec![]
        };
        for n in reminders {
            if messages.len() < options.max_new
                && channel.wants(&n)
                && !self.delivery_exists(channel_id, &n.id)?
            {
                messages.push(fresh(&n));
            }
        }
        let start = cursor.next_seq.max(from);
        let head = self.store.head()?.size;
        let end = head.min(start.saturating_add(options.max_scan));
        let mut scanned_to = start;
        let mut events = Vec::new();
        let room = options.max_new.saturating_sub(messages.len());
        self.store.scan(start, end, &mut |entry| {
            if events.len() >= room {
                return false;
            }
            scanned_to = entry.seq + 1;
            if let Some(event) = entry.bytes.as_deref().and_then(|b| Event::from_bytes(b).ok()) {
                if matches!(
                    event.kind.as_str(),
                    "decision" | "incident.opened" | "killswitch.engaged" | "compliance.scan_completed"
                ) {
                    events.push((entry.seq, event));
                }
            }
            true
        })?;
        for (seq, event) in events {
            if let Some(n) = self.notice_of(seq, &event, &options.console_url) {
                // A held call decided before its notice went out needs no approver any more.
                if channel.wants(&n)
                    && !self.delivery_exists(channel_id, &n.id)?
                    && self.notice_still_current(&n.id)?
                {
                    messages.push(fresh(&n));
                }
            }
        }
        Ok(Some(NotificationPlan { channel, cursor, cursor_version, messages, scanned_to, superseded }))
    }

    /// Whether a notice still asks for something: an approval notice only while its approval is
    /// pending and unexpired; every other notice always.
    fn notice_still_current(&self, notice_id: &str) -> Result<bool> {
        let Some(approval_id) = notice_id
            .strip_prefix("approval.requested:")
            .or_else(|| notice_id.strip_prefix("approval.expiring:"))
        else {
            return Ok(true);
        };
        match self.approval_versioned(approval_id) {
            Ok((a, _)) => {
                Ok(a.status == crate::approvals::ApprovalStatus::Pending && self.now() <= a.expires_at)
            }
            Err(CoreError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Records one round: ONE `notification.attempts` event with the cursor move
    /// (compare-and-set) and the delivery documents. `posted` are the messages attempted;
    /// `cursor_to` is where the cursor's `next_seq` goes.
    pub fn record_notification_attempts(
        &self,
        plan: &NotificationPlan,
        posted: &[Posted],
        cursor_to: u64,
        schedule: &[Duration],
    ) -> Result<Appended> {
        let now = self.clock.now();
        let at = format_time(now);
        let mut cursor = plan.cursor.clone();
        cursor.next_seq = cursor_to.max(cursor.next_seq);
        let mut attempts = Vec::new();
        let mut ops = Vec::new();
        let mut any_delivered = false;
        let mut soonest: Option<time::OffsetDateTime> = None;
        for p in posted {
            let Some(m) = plan.messages.iter().find(|m| m.notice_id == p.notice_id) else {
                return Err(CoreError::Internal(format!("notice {} was not planned", p.notice_id)));
            };
            let (outcome, next) = match p.status_code {
                Some(c) if (200..300).contains(&c) => ("delivered", None),
                _ => match retry_delay(schedule, m.attempt, None, random_jitter()) {
                    Some(delay) => {
                        soonest = Some(soonest.map_or(now + delay, |t| t.min(now + delay)));
                        ("retrying", Some(format_time(now + delay)))
                    }
                    None => ("failed", None),
                },
            };
            any_delivered |= outcome == "delivered";
            match outcome {
                "delivered" => cursor.delivered += 1,
                "failed" => cursor.failed += 1,
                _ => cursor.retrying += 1,
            }
            let attempt = NotificationAttempt {
                notice_id: m.notice_id.clone(),
                event: m.event.clone(),
                attempt: m.attempt,
                at: at.clone(),
                status_code: p.status_code,
                latency_ms: p.latency_ms,
                error: p.error.clone(),
                outcome: outcome.into(),
            };
            let (mut delivery, expect) = match &m.prior {
                Some((d, v)) => (d.clone(), Expect::Version(*v)),
                None => (
                    NotificationDelivery {
                        channel_id: plan.channel.id.clone(),
                        notice_id: m.notice_id.clone(),
                        event: m.event.clone(),
                        seq: m.seq,
                        link: m.link.clone(),
                        body: m.body.clone(),
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
                &format!("{}:{}", plan.channel.id, m.notice_id),
                json!(delivery),
                DocKeys {
                    k1: Some(plan.channel.id.clone()),
                    k2: Some(outcome.into()),
                    k3: Some(m.notice_id.clone()),
                },
                expect,
            ));
            attempts.push(attempt);
        }
        for (d, version) in &plan.superseded {
            let mut delivery = d.clone();
            delivery.status = "superseded".into();
            delivery.next_attempt_at = None;
            ops.push(StateOp::put(
                DELIVERIES,
                &format!("{}:{}", plan.channel.id, delivery.notice_id),
                json!(delivery),
                DocKeys {
                    k1: Some(plan.channel.id.clone()),
                    k2: Some("superseded".into()),
                    k3: Some(delivery.notice_id.clone()),
                },
                Expect::Version(*version),
            ));
        }
        // A round without any 2xx holds the channel until its earliest retry (at most the
        // schedule's first step): a dead channel adds at most one event per backoff step.
        cursor.held_until = if any_delivered || posted.is_empty() {
            None
        } else {
            let first_step = schedule.first().map(|d| now + *d);
            match (soonest, first_step) {
                (Some(s), Some(f)) => Some(format_time(s.min(f))),
                (s, f) => s.or(f).map(format_time),
            }
        };
        ops.push(StateOp::put(
            CURSORS,
            &plan.channel.id,
            json!(cursor),
            DocKeys::default(),
            Expect::Version(plan.cursor_version),
        ));
        let round = gavel_events::NotificationAttempts {
            channel_id: plan.channel.id.clone(),
            next_seq: cursor.next_seq,
            attempts: attempts.iter().map(NotificationAttempt::event).collect(),
            held_until: cursor.held_until.clone(),
            superseded: Some(plan.superseded.iter().map(|(d, _)| d.notice_id.clone()).collect()),
            other: Default::default(),
        };
        self.record(
            gavel_events::kind::NOTIFICATION_ATTEMPTS,
            &Actor::system("notifications"),
            crate::typed(&round)?,
            ops,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `notification.channel_created` wrote `json!(channel.format)` and `notification.attempts`
    /// embedded the attempts whole: their event forms must be the same JSON.
    #[test]
    fn a_format_and_an_attempt_are_recorded_in_their_serde_form() {
        for format in [Format::Slack, Format::Json] {
            assert_eq!(json!(format.as_str()), json!(format));
        }
        for (status_code, error) in [(Some(200), None), (None, Some("connection refused".to_string()))] {
            let attempt = NotificationAttempt {
                notice_id: "approval.requested:apr_1".into(),
                event: "approval.requested".into(),
                attempt: 2,
                at: "2026-12-07T09:00:00.000000Z".into(),
                status_code,
                latency_ms: 31,
                error,
                outcome: "delivered".into(),
            };
            assert_eq!(crate::typed(&attempt.event()).unwrap(), json!(attempt));
        }
    }

    fn notice(agent: Option<AgentFacts>) -> Notice {
        Notice {
            id: "approval.requested:apr_1".into(),
            event: "approval.requested",
            seq: Some(7),
            ids: Map::new(),
            summary: "Approval needed: agent <bot> & co".into(),
            link: "http://127.0.0.1:7311/console/approvals".into(),
            agent,
            at: "2026-11-02T09:00:00.000000Z".into(),
        }
    }

    fn channel(events: &[&str], groups: &[&str], owners: &[&str]) -> Channel {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect();
        Channel {
            id: "nch_1".into(),
            name: "ops".into(),
            format: Format::Slack,
            url: "https://hooks.slack.com/services/T0/B0/secret".into(),
            events: s(events),
            agent_groups: s(groups),
            agent_owners: s(owners),
            enabled: true,
            created_by: "alice".into(),
            created_at: "2026-11-02T09:00:00.000000Z".into(),
            disabled_reason: None,
        }
    }

    #[test]
    fn slack_messages_escape_the_text_and_link_to_the_console() {
        let body: Value = serde_json::from_str(&message_body(Format::Slack, &notice(None))).unwrap();
        assert_eq!(
            body,
            json!({"text": "Approval needed: agent &lt;bot&gt; &amp; co <http://127.0.0.1:7311/console/approvals|Open in the gavel console>"})
        );
        let body: Value = serde_json::from_str(&message_body(Format::Json, &notice(None))).unwrap();
        assert_eq!(body["kind"], "approval.requested");
        assert_eq!(body["console_url"], "http://127.0.0.1:7311/console/approvals");
    }

    #[test]
    fn channels_filter_by_event_and_by_agent_group_or_owner() {
        let payments = Some(AgentFacts { groups: vec!["payments".into()], owner: "bob".into() });
        let other = Some(AgentFacts { groups: vec!["support".into()], owner: "carol".into() });
        assert!(channel(&[], &[], &[]).wants(&notice(other.clone())));
        assert!(!channel(&["incident.opened"], &[], &[]).wants(&notice(payments.clone())));
        let team = channel(&["approval.requested"], &["payments"], &["dave"]);
        assert!(team.wants(&notice(payments)));
        assert!(!team.wants(&notice(other)));
        assert!(team.wants(&notice(Some(AgentFacts { groups: vec![], owner: "dave".into() }))));
        assert!(team.wants(&notice(None)), "a notice about no one agent goes to every channel wanting it");
    }

    #[test]
    fn views_never_show_the_whole_url() {
        let view = channel(&[], &[], &[]).view(&ChannelCursor::default());
        assert_eq!(view.url, "https://hooks.slack.com/…");
        assert_eq!(redacted_url("http://u:p@10.0.0.1:8080/x?y"), "http://10.0.0.1:8080/…");
    }
}
