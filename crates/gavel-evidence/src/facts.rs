//! The facts of one period, computed from its events alone, and the framework's rules of what
//! "operating" means for a criterion, evaluated over them.
//!
//! One pass over the period's events ([`FactsBuilder::observe`]) yields named numbers
//! ([`Facts`]): how many calls were decided and how many of them without an enforcing policy, how
//! many bypass findings were raised and are still open at the end, what fraction of the period an
//! enabled webhook endpoint was streaming, what share of deliveries arrived, … The same builder
//! runs in the export, in `gavel evidence verify` (over events.jsonl) and in the readiness scan,
//! so a bundle and a scan of the same period cannot disagree about what happened in it.
//!
//! Invariants:
//! * a fact follows from the period's events only; what happened before the period is never
//!   assumed in the control's favour (an endpoint first seen in the period counts as enabled
//!   from the period's start only when its first event proves it was enabled then);
//! * a fact that the period cannot establish (a delivery rate with no delivery) is *unknown*,
//!   and a rule over an unknown fact does not hold (fail closed);
//! * memory is bounded by the number of things (agents, endpoints, incidents, findings), never by
//!   the number of events.

use gavel_events::{
    kind, AgentRegistered, AgentStatusChanged, IncidentEvent, KillSwitchEngaged, PolicyApplied,
};
use gavel_ledger::event::Event;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

/// Every fact gavel computes, with what it counts. Framework rules may name only these.
pub const FACTS: [(&str, &str); 26] = [
    ("events", "events in the period"),
    ("log_chain_verified", "1 when the hash chain verifies over the period's events, else 0"),
    ("decisions", "tool calls decided"),
    ("decisions_unenforced", "tool calls decided with no enforcing policy (permissive mode)"),
    (
        "sensitive_calls_unenforced",
        "calls in a sensitive category (external_comm, payments, data_deletion, data_export, privileged) decided with no enforcing policy",
    ),
    ("agents_registered", "agents registered in the period"),
    ("agents_registered_without_owner", "agents registered in the period without an owner"),
    ("bypass_findings_raised", "bypass findings raised in the period (every kind)"),
    ("bypass_findings_resolved", "bypass findings resolved in the period"),
    ("bypass_findings_open", "bypass findings raised in the period and not resolved by its end"),
    ("calls_allowed_after_deactivation", "calls of suspended or deactivated agents that were not denied"),
    ("actions_by_deactivated_users", "events recorded for users after their deactivation in the period"),
    ("policy_changes_self_approved", "policy changes approved by the person who proposed them"),
    ("incidents_opened", "incidents opened in the period"),
    ("incidents_open_at_end", "incidents seen in the period and not resolved by its end"),
    (
        "incidents_overdue",
        "incidents not resolved within 7 days of opening (incidents opened before the period are aged from its start)",
    ),
    ("killswitch_engagements", "kill switches engaged"),
    ("killswitch_engagements_unlinked", "kill switches engaged without naming an incident"),
    ("contained_calls_allowed", "calls under containment that were not denied"),
    ("detections", "detections raised"),
    ("refused_authentications", "refused authentications recorded"),
    ("webhook_endpoints", "webhook endpoints seen in the period"),
    ("webhook_deliveries_delivered", "webhook deliveries that arrived (2xx)"),
    ("webhook_deliveries_failed", "webhook deliveries given up after their retries"),
    ("webhook_delivery_rate", "delivered / (delivered + failed); unknown when there was no delivery"),
    (
        "webhook_streaming_coverage",
        "fraction of the period during which at least one webhook endpoint was enabled",
    ),
];

/// Calls in these categories are the ones that move information, money or data out.
const SENSITIVE_CATEGORIES: [&str; 5] =
    ["external_comm", "payments", "data_deletion", "data_export", "privileged"];
/// An incident open longer than this is overdue.
const INCIDENT_DAYS: i64 = 7;
/// Most intervals kept per endpoint; beyond it the endpoint is taken as disabled from then on
/// (it cannot help the coverage, only hurt it: fail closed).
const MAX_INTERVALS: usize = 10_000;

/// One fact's value: a count, a rate in [0, 1], or unknown (`null`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FactValue {
    Count(u64),
    Rate(f64),
    Unknown,
}

impl FactValue {
    fn number(self) -> Option<f64> {
        match self {
            FactValue::Count(n) => Some(n as f64),
            FactValue::Rate(r) => Some(r),
            FactValue::Unknown => None,
        }
    }
}

impl std::fmt::Display for FactValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FactValue::Count(n) => write!(f, "{n}"),
            FactValue::Rate(r) => write!(f, "{:.2}%", r * 100.0),
            FactValue::Unknown => write!(f, "unknown"),
        }
    }
}

/// The facts of one period, by name (every name of [`FACTS`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Facts(pub BTreeMap<String, FactValue>);

impl Facts {
    pub fn get(&self, name: &str) -> FactValue {
        self.0.get(name).copied().unwrap_or(FactValue::Unknown)
    }

    pub fn count(&self, name: &str) -> u64 {
        match self.get(name) {
            FactValue::Count(n) => n,
            _ => 0,
        }
    }
}

/// A framework's statement of what "operating" means for a criterion: a bound on one fact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub fact: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_least: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_most: Option<f64>,
    /// What holding the rule means, in words ("no bypass finding is left open").
    pub says: String,
}

/// A rule evaluated over a period's facts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleResult {
    pub fact: String,
    pub says: String,
    pub value: FactValue,
    /// The bound, in words (`≥ 0.95`, `≤ 0`).
    pub bound: String,
    pub holds: bool,
}

impl Rule {
    pub fn bound(&self) -> String {
        let mut parts = Vec::new();
        if let Some(min) = self.at_least {
            parts.push(format!("≥ {min}"));
        }
        if let Some(max) = self.at_most {
            parts.push(format!("≤ {max}"));
        }
        parts.join(" and ")
    }

    /// Whether the rule holds over `facts`: an unknown fact never satisfies it.
    pub fn evaluate(&self, facts: &Facts) -> RuleResult {
        let value = facts.get(&self.fact);
        let holds = value.number().is_some_and(|v| {
            self.at_least.is_none_or(|min| v >= min) && self.at_most.is_none_or(|max| v <= max)
        });
        RuleResult { fact: self.fact.clone(), says: self.says.clone(), value, bound: self.bound(), holds }
    }
}

impl RuleResult {
    /// The sentence a failed rule becomes in a bundle or a scan.
    pub fn failure(&self) -> String {
        format!("not operating: {} ({} is {}, needs {})", self.says, self.fact, self.value, self.bound)
    }
}

/// Parses an RFC 3339 event time.
pub fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

#[derive(Debug, Default)]
struct Endpoint {
    /// When the current enabled stretch began (None: not enabled now).
    enabled_since: Option<OffsetDateTime>,
    intervals: Vec<(OffsetDateTime, OffsetDateTime)>,
}

#[derive(Debug)]
struct IncidentFact {
    opened: OffsetDateTime,
    resolved: Option<OffsetDateTime>,
}

/// Builds a period's [`Facts`] from its events, in seq order.
#[derive(Debug)]
pub struct FactsBuilder {
    from: OffsetDateTime,
    to: OffsetDateTime,
    counts: BTreeMap<&'static str, u64>,
    /// Findings raised in the period by key (finding id, or `decision:<id>` for findings
    /// recorded before events carried their id): resolved or not.
    findings: BTreeMap<String, bool>,
    deactivated_agents: BTreeSet<String>,
    deactivated_users: BTreeSet<String>,
    endpoints: BTreeMap<String, Endpoint>,
    incidents: BTreeMap<String, IncidentFact>,
}

fn text<'a>(data: &'a Value, key: &str) -> Option<&'a str> {
    data.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

impl FactsBuilder {
    /// Facts over `[from, to)`.
    pub fn new(from: OffsetDateTime, to: OffsetDateTime) -> Self {
        FactsBuilder {
            from,
            to: to.max(from),
            counts: BTreeMap::new(),
            findings: BTreeMap::new(),
            deactivated_agents: BTreeSet::new(),
            deactivated_users: BTreeSet::new(),
            endpoints: BTreeMap::new(),
            incidents: BTreeMap::new(),
        }
    }

    fn add(&mut self, name: &'static str, n: u64) {
        *self.counts.entry(name).or_default() += n;
    }

    pub fn observe(&mut self, e: &Event) {
        self.add("events", 1);
        let d = &e.data;
        let at = parse_time(&e.time).unwrap_or(self.from).clamp(self.from, self.to);
        if e.actor.kind.as_str() == "user" && self.deactivated_users.contains(&e.actor.id) {
            self.add("actions_by_deactivated_users", 1);
        }
        match e.kind.as_str() {
            gavel_events::kind::DECISION => self.decision(&gavel_events::read(d)),
            kind::AGENT_REGISTERED => {
                self.add("agents_registered", 1);
                if gavel_events::read::<AgentRegistered>(d).owner.trim().is_empty() {
                    self.add("agents_registered_without_owner", 1);
                }
            }
            kind::AGENT_SUSPENDED | kind::AGENT_DEACTIVATED => {
                let changed: AgentStatusChanged = gavel_events::read(d);
                if !changed.agent_id.is_empty() {
                    self.deactivated_agents.insert(changed.agent_id);
                }
            }
            kind::AGENT_REACTIVATED => {
                self.deactivated_agents.remove(&gavel_events::read::<AgentStatusChanged>(d).agent_id);
            }
            kind::USER_DEACTIVATED => {
                let user: gavel_events::UserDeactivated = gavel_events::read(d);
                if !user.user_id.is_empty() {
                    self.deactivated_users.insert(user.user_id);
                }
            }
            gavel_events::kind::FINDING_BYPASS => {
                let f: gavel_events::FindingBypass = gavel_events::read(d);
                self.raise_finding(f.finding_id.as_deref(), &f.decision_id);
            }
            gavel_events::kind::OUTCOME_RECORDED => {
                let o: gavel_events::OutcomeRecorded = gavel_events::read(d);
                if o.bypass {
                    self.raise_finding(o.finding_id.as_deref(), &o.decision_id);
                }
            }
            gavel_events::kind::FINDING_RESOLVED => {
                self.add("bypass_findings_resolved", 1);
                let step: gavel_events::FindingStep = gavel_events::read(d);
                let key = Some(step.finding_id)
                    .filter(|id| self.findings.contains_key(id))
                    .or_else(|| step.decision_id.as_str().map(|id| format!("decision:{id}")));
                if let Some(resolved) = key.and_then(|k| self.findings.get_mut(&k)) {
                    *resolved = true;
                }
            }
            kind::POLICY_ACTIVATED | kind::POLICY_DEACTIVATED | kind::POLICY_MODE_CHANGED => {
                let applied: PolicyApplied = gavel_events::read(d);
                if !applied.proposed_by.is_empty() && applied.proposed_by == applied.approved_by {
                    self.add("policy_changes_self_approved", 1);
                }
            }
            // A tool's category is what policies see: re-categorising is a policy change, under
            // the same two-person rule.
            kind::TOOLS_CATEGORIES_APPLIED => {
                let applied: gavel_events::ToolCategoriesApplied = gavel_events::read(d);
                if !applied.proposed_by.is_empty() && applied.proposed_by == applied.approved_by {
                    self.add("policy_changes_self_approved", 1);
                }
            }
            // A rejection applies nothing, so it approves nothing.
            kind::POLICY_REJECTED => {}
            // An install puts a set in observe mode: it approves nothing.
            kind::PACK_INSTALLED => {}
            // Policy and pack kinds this build does not know, as they name themselves.
            k if (k.starts_with("policy.") || k.starts_with("pack.")) && k != kind::POLICY_PROPOSED => {
                let proposer = text(d, "proposed_by").or_else(|| text(d, "author"));
                if proposer.is_some() && proposer == text(d, "approved_by") {
                    self.add("policy_changes_self_approved", 1);
                }
            }
            gavel_events::kind::INCIDENT_OPENED => self.add("incidents_opened", 1),
            kind::KILLSWITCH_ENGAGED => {
                self.add("killswitch_engagements", 1);
                if gavel_events::read::<KillSwitchEngaged>(d).incident_id.is_none() {
                    self.add("killswitch_engagements_unlinked", 1);
                }
            }
            gavel_events::kind::AUTH_FAILURES => {
                let failures: gavel_events::AuthFailures = gavel_events::read(d);
                let itemized: u64 = failures.rows.iter().map(|r| r.count).sum();
                self.add("refused_authentications", itemized + failures.attempts_omitted);
            }
            gavel_events::kind::WEBHOOK_ATTEMPTS => self.webhook_attempts(&gavel_events::read(d), at),
            kind::WEBHOOK_CREATED => {
                let created: gavel_events::WebhookCreated = gavel_events::read(d);
                if !created.id.is_empty() {
                    let ep = self.endpoints.entry(created.id).or_default();
                    // Endpoints are created enabled; an event that says otherwise is believed.
                    if created.other.get("enabled") != Some(&Value::Bool(false)) {
                        ep.enabled_since.get_or_insert(at);
                    }
                }
            }
            kind::WEBHOOK_DISABLED | kind::WEBHOOK_UPDATED => {
                self.webhook_change(e.kind == kind::WEBHOOK_DISABLED, &gavel_events::read(d), at)
            }
            _ => {}
        }
        if e.kind.starts_with("detection.") {
            self.add("detections", 1);
        }
        if let Some(incident) = IncidentEvent::read(&e.kind, d) {
            self.incident(&incident, at);
        }
    }

    /// An incident's opening and resolution times.
    fn incident(&mut self, event: &IncidentEvent, at: OffsetDateTime) {
        let id = event.incident_id();
        if id.is_empty() {
            return;
        }
        if let IncidentEvent::Opened(_) = event {
            self.incidents.insert(id.to_string(), IncidentFact { opened: at, resolved: None });
            return;
        }
        // Opened before the period: aged from its start, which can only understate.
        let from = self.from;
        let inc =
            self.incidents.entry(id.to_string()).or_insert(IncidentFact { opened: from, resolved: None });
        if let IncidentEvent::Resolved(_) = event {
            inc.resolved = Some(at);
        }
    }

    fn decision(&mut self, d: &gavel_events::Decision) {
        self.add("decisions", 1);
        let allowed_or_held = d.decision != gavel_events::Verdict::Deny;
        // A decision that does not say it was enforced is counted as not enforced.
        if !d.enforced {
            self.add("decisions_unenforced", 1);
            if d.tool_category.as_deref().is_some_and(|c| SENSITIVE_CATEGORIES.contains(&c)) {
                self.add("sensitive_calls_unenforced", 1);
            }
        }
        let contained_status = d.agent_status == "suspended" || d.agent_status == "deactivated";
        let agent_deactivated = self.deactivated_agents.contains(&d.agent_id);
        if (contained_status || agent_deactivated) && allowed_or_held {
            self.add("calls_allowed_after_deactivation", 1);
        }
        if d.containment.as_ref().is_some_and(|c| !c.is_null()) && allowed_or_held {
            self.add("contained_calls_allowed", 1);
        }
    }

    fn raise_finding(&mut self, finding_id: Option<&str>, decision_id: &str) {
        self.add("bypass_findings_raised", 1);
        let key = finding_id
            .filter(|id| !id.is_empty())
            .map(str::to_string)
            .or_else(|| (!decision_id.is_empty()).then(|| format!("decision:{decision_id}")))
            .unwrap_or_else(|| format!("unnamed:{}", self.findings.len()));
        self.findings.insert(key, false);
    }

    fn webhook_attempts(&mut self, d: &gavel_events::WebhookAttempts, at: OffsetDateTime) {
        if !d.endpoint_id.is_empty() {
            // An endpoint attempts deliveries only while enabled: first heard of through its
            // attempts, it was enabled from the period's start.
            let from = self.from;
            let ep = self
                .endpoints
                .entry(d.endpoint_id.clone())
                .or_insert_with(|| Endpoint { enabled_since: Some(from), intervals: Vec::new() });
            ep.enabled_since.get_or_insert(at);
        }
        for a in &d.attempts {
            match a.outcome.as_str() {
                "delivered" => self.add("webhook_deliveries_delivered", 1),
                "failed" => self.add("webhook_deliveries_failed", 1),
                _ => {}
            }
        }
    }

    fn webhook_change(&mut self, disabled: bool, change: &gavel_events::WebhookChanged, at: OffsetDateTime) {
        if change.id.is_empty() {
            return;
        }
        let from = self.from;
        let first_seen = !self.endpoints.contains_key(&change.id);
        let ep = self.endpoints.entry(change.id.clone()).or_default();
        // Whether it was enabled just before this change: said by the event when it carries
        // `was_enabled`; otherwise known only when an earlier event of the period showed it.
        let was_enabled = match change.was_enabled {
            Some(w) => w,
            None => ep.enabled_since.is_some(),
        };
        if first_seen && was_enabled {
            ep.enabled_since = Some(from);
        }
        let enabled_now = if disabled {
            false
        } else {
            match change.enabled.flatten() {
                Some(on) => on,
                None => was_enabled,
            }
        };
        match (ep.enabled_since, enabled_now) {
            (Some(since), false) => {
                if ep.intervals.len() < MAX_INTERVALS {
                    ep.intervals.push((since, at));
                }
                ep.enabled_since = None;
            }
            (None, true) if ep.intervals.len() < MAX_INTERVALS => ep.enabled_since = Some(at),
            _ => {}
        }
    }

    /// The facts, with whether the hash chain verified over the period's events.
    pub fn finish(&self, chain_verified: bool) -> Facts {
        let mut values: BTreeMap<String, FactValue> =
            FACTS.iter().map(|(name, _)| (name.to_string(), FactValue::Count(0))).collect();
        for (name, n) in &self.counts {
            values.insert(name.to_string(), FactValue::Count(*n));
        }
        values.insert("log_chain_verified".into(), FactValue::Count(u64::from(chain_verified)));
        let open = self.findings.values().filter(|resolved| !**resolved).count() as u64;
        values.insert("bypass_findings_open".into(), FactValue::Count(open));

        let mut open_at_end = 0;
        let mut overdue = 0;
        let limit = Duration::days(INCIDENT_DAYS);
        for inc in self.incidents.values() {
            if inc.resolved.is_none() {
                open_at_end += 1;
            }
            if inc.resolved.unwrap_or(self.to) - inc.opened > limit {
                overdue += 1;
            }
        }
        values.insert("incidents_open_at_end".into(), FactValue::Count(open_at_end));
        values.insert("incidents_overdue".into(), FactValue::Count(overdue));

        values.insert("webhook_endpoints".into(), FactValue::Count(self.endpoints.len() as u64));
        let delivered = self.counts.get("webhook_deliveries_delivered").copied().unwrap_or(0);
        let failed = self.counts.get("webhook_deliveries_failed").copied().unwrap_or(0);
        let rate = if delivered + failed == 0 {
            FactValue::Unknown
        } else {
            FactValue::Rate(round4(delivered as f64 / (delivered + failed) as f64))
        };
        values.insert("webhook_delivery_rate".into(), rate);
        values.insert("webhook_streaming_coverage".into(), self.coverage());
        Facts(values)
    }

    /// The fraction of the period covered by the union of every endpoint's enabled stretches.
    fn coverage(&self) -> FactValue {
        let total = self.to - self.from;
        if total <= Duration::ZERO {
            return FactValue::Unknown;
        }
        let mut stretches: Vec<(OffsetDateTime, OffsetDateTime)> = self
            .endpoints
            .values()
            .flat_map(|ep| ep.intervals.iter().copied().chain(ep.enabled_since.map(|since| (since, self.to))))
            .collect();
        stretches.sort();
        let mut covered = Duration::ZERO;
        let mut current: Option<(OffsetDateTime, OffsetDateTime)> = None;
        for (start, end) in stretches {
            current = match current {
                Some((s, e)) if start <= e => Some((s, e.max(end))),
                Some((s, e)) => {
                    covered += e - s;
                    Some((start, end))
                }
                None => Some((start, end)),
            };
        }
        if let Some((s, e)) = current {
            covered += e - s;
        }
        FactValue::Rate(round4((covered.as_seconds_f64() / total.as_seconds_f64()).clamp(0.0, 1.0)))
    }
}

/// Rates are kept to four decimals so they read the same after any JSON round trip.
fn round4(r: f64) -> f64 {
    (r * 10_000.0).floor() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use gavel_ledger::event::Actor;
    use serde_json::json;

    fn t(s: &str) -> OffsetDateTime {
        parse_time(s).expect("test time")
    }

    fn event(seq: u64, time: &str, kind: &str, data: Value) -> Event {
        Event {
            seq,
            time: time.into(),
            kind: kind.into(),
            actor: Actor::system("test"),
            data,
            prev: String::new(),
        }
    }

    fn builder() -> FactsBuilder {
        FactsBuilder::new(t("2026-01-01T00:00:00Z"), t("2026-01-11T00:00:00Z"))
    }

    #[test]
    fn every_fact_is_present_and_a_rule_over_an_unknown_fact_fails() {
        let facts = builder().finish(true);
        for (name, _) in FACTS {
            assert!(facts.0.contains_key(name), "{name}");
        }
        assert_eq!(facts.get("webhook_delivery_rate"), FactValue::Unknown);
        let rule = Rule {
            fact: "webhook_delivery_rate".into(),
            at_least: Some(0.95),
            at_most: None,
            says: "x".into(),
        };
        assert!(!rule.evaluate(&facts).holds);
        assert_eq!(facts.get("webhook_streaming_coverage"), FactValue::Rate(0.0));
    }

    #[test]
    fn a_self_approved_tool_category_change_counts_as_a_self_approved_policy_change() {
        let mut b = builder();
        let change = |approver: &str| json!({"change_id": "tcc_1", "source": "admin", "proposed_by": "usr_1", "approved_by": approver});
        b.observe(&event(1, "2026-01-02T00:00:00Z", "tools.categories_applied", change("usr_2")));
        b.observe(&event(
            2,
            "2026-01-02T00:00:00Z",
            "tools.categories_rejected",
            json!({"rejected_by": "usr_1"}),
        ));
        assert_eq!(b.finish(true).get("policy_changes_self_approved"), FactValue::Count(0));
        let mut b = builder();
        b.observe(&event(1, "2026-01-02T00:00:00Z", "tools.categories_applied", change("usr_1")));
        assert_eq!(b.finish(true).get("policy_changes_self_approved"), FactValue::Count(1));
    }

    #[test]
    fn streaming_coverage_follows_enable_and_disable() {
        let mut b = builder();
        // First heard of through its attempts: enabled since the period's start.
        b.observe(&event(
            1,
            "2026-01-02T00:00:00Z",
            "webhook.attempts",
            json!({"endpoint_id": "wh_1", "attempts": [{"outcome": "delivered"}, {"outcome": "failed"}]}),
        ));
        b.observe(&event(
            2,
            "2026-01-06T00:00:00Z",
            "webhook.disabled",
            json!({"id": "wh_1", "was_enabled": true}),
        ));
        let facts = b.finish(true);
        assert_eq!(facts.get("webhook_streaming_coverage"), FactValue::Rate(0.5));
        assert_eq!(facts.get("webhook_delivery_rate"), FactValue::Rate(0.5));

        // An endpoint disabled before the period and re-enabled in it covers from then on.
        let mut b = builder();
        b.observe(&event(
            1,
            "2026-01-09T00:00:00Z",
            "webhook.updated",
            json!({"id": "wh_2", "enabled": true, "was_enabled": false}),
        ));
        assert_eq!(b.finish(true).get("webhook_streaming_coverage"), FactValue::Rate(0.2));

        // Disabling an already disabled endpoint proves nothing about the time before.
        let mut b = builder();
        b.observe(&event(
            1,
            "2026-01-09T00:00:00Z",
            "webhook.disabled",
            json!({"id": "wh_3", "was_enabled": false}),
        ));
        assert_eq!(b.finish(true).get("webhook_streaming_coverage"), FactValue::Rate(0.0));

        // Two endpoints overlapping are counted once.
        let mut b = builder();
        b.observe(&event(1, "2026-01-01T00:00:00Z", "webhook.created", json!({"id": "a"})));
        b.observe(&event(2, "2026-01-03T00:00:00Z", "webhook.created", json!({"id": "b"})));
        b.observe(&event(3, "2026-01-05T00:00:00Z", "webhook.disabled", json!({"id": "a"})));
        b.observe(&event(4, "2026-01-08T00:00:00Z", "webhook.disabled", json!({"id": "b"})));
        assert_eq!(b.finish(true).get("webhook_streaming_coverage"), FactValue::Rate(0.7));
    }

    #[test]
    fn every_bypass_finding_is_counted_and_resolutions_close_them() {
        let mut b = builder();
        b.observe(&event(
            1,
            "2026-01-02T00:00:00Z",
            "outcome.recorded",
            json!({"decision_id": "d1", "bypass": true}),
        ));
        b.observe(&event(
            2,
            "2026-01-02T00:00:00Z",
            "outcome.recorded",
            json!({"decision_id": "d2", "bypass": false}),
        ));
        b.observe(&event(
            3,
            "2026-01-02T00:00:00Z",
            "finding.bypass",
            json!({"decision_id": "d3", "finding_id": "fnd_3"}),
        ));
        b.observe(&event(4, "2026-01-02T00:00:00Z", "finding.bypass", json!({"decision_id": "d4"})));
        b.observe(&event(
            5,
            "2026-01-03T00:00:00Z",
            "finding.resolved",
            json!({"finding_id": "fnd_3", "decision_id": "d3"}),
        ));
        b.observe(&event(
            6,
            "2026-01-03T00:00:00Z",
            "finding.resolved",
            json!({"finding_id": "fnd_x", "decision_id": "d1"}),
        ));
        let f = b.finish(true);
        assert_eq!(f.count("bypass_findings_raised"), 3);
        assert_eq!(f.count("bypass_findings_resolved"), 2);
        assert_eq!(f.count("bypass_findings_open"), 1);
    }

    #[test]
    fn incidents_are_aged_and_deactivations_enforced() {
        let mut b = builder();
        b.observe(&event(1, "2026-01-01T00:00:00Z", "incident.opened", json!({"incident_id": "i1"})));
        b.observe(&event(2, "2026-01-02T00:00:00Z", "incident.opened", json!({"incident_id": "i2"})));
        b.observe(&event(3, "2026-01-03T00:00:00Z", "incident.resolved", json!({"incident_id": "i2"})));
        b.observe(&event(4, "2026-01-04T00:00:00Z", "agent.deactivated", json!({"agent_id": "a1"})));
        b.observe(&event(
            5,
            "2026-01-05T00:00:00Z",
            "decision",
            json!({"agent_id": "a1", "decision": "allow", "enforced": true}),
        ));
        b.observe(&event(
            6,
            "2026-01-05T00:00:00Z",
            "decision",
            json!({"agent_id": "a2", "decision": "allow", "enforced": false, "tool_category": "payments"}),
        ));
        let f = b.finish(true);
        assert_eq!(f.count("incidents_open_at_end"), 1);
        assert_eq!(f.count("incidents_overdue"), 1, "i1 is open for 10 days");
        assert_eq!(f.count("calls_allowed_after_deactivation"), 1);
        assert_eq!(f.count("decisions_unenforced"), 1);
        assert_eq!(f.count("sensitive_calls_unenforced"), 1);
    }
}
