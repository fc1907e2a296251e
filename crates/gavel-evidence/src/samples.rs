//! What an auditor samples, gathered from the period's events: the agent inventory, incidents
//! with their owner, time to contain and resolve and writeup, approvals (who, when, comment),
//! policy changes (author, approver), calls observe-mode policies would have blocked, and the
//! readiness scans of the period with their trend. Written to `samples.json` and printed in
//! report.pdf (the first 25 of each list); `evidence verify` recomputes it from events.jsonl.
//!
//! Invariants: read from the events alone, in seq order, tolerantly (missing fields are empty);
//! every list keeps its first [`MAX_SAMPLES`] items with an exact `total`, and the inventory and
//! incidents are bounded by [`MAX_THINGS`], so memory never grows with the number of events.

use gavel_events::{
    kind, AgentRegistered, AgentStatusChanged, ApprovalDecided, Decision, IncidentEvent, PolicyApplied,
    PolicyRejected, ScanCompleted, Verdict,
};
use gavel_ledger::event::Event;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Items kept per list (the total is always exact).
pub const MAX_SAMPLES: usize = 200;
/// Agents and incidents followed at most.
const MAX_THINGS: usize = 10_000;

// Every sample type refuses fields of its own when read back: `evidence verify` compares
// samples.json whole with what events.jsonl gives.

/// A list's first items and how many there were.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listed<T> {
    pub total: u64,
    pub items: Vec<T>,
}

impl<T> Default for Listed<T> {
    fn default() -> Self {
        Listed { total: 0, items: Vec::new() }
    }
}

impl<T> Listed<T> {
    fn push(&mut self, item: T) {
        self.total += 1;
        if self.items.len() < MAX_SAMPLES {
            self.items.push(item);
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSample {
    pub agent_id: String,
    pub name: String,
    pub owner: String,
    /// At the end of the period, as far as its events show.
    pub status: String,
    pub decisions: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentSample {
    pub incident_id: String,
    pub title: String,
    pub severity: String,
    pub owner: String,
    /// Empty when it was opened before the period.
    pub opened_at: String,
    pub contained_at: String,
    pub resolved_at: String,
    pub writeup: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalSample {
    pub time: String,
    pub approver: String,
    /// approved | denied
    pub decision: String,
    pub agent_id: String,
    pub tool: String,
    pub decision_id: String,
    pub comment: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyChange {
    pub time: String,
    pub kind: String,
    pub set_id: String,
    pub version: String,
    pub author: String,
    pub approver: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WouldHaveBlocked {
    pub time: String,
    pub agent: String,
    pub tool: String,
    /// What the observe-mode policies would have decided (deny | require_approval).
    pub would_have: String,
    pub decision_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanSample {
    pub time: String,
    pub scan_id: String,
    pub enforcing: u64,
    pub observe: u64,
    pub gap: u64,
}

/// Everything sampled from one period.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Samples {
    pub agents: Vec<AgentSample>,
    /// How many agents the period showed (the list stops at 10 000).
    pub agents_total: u64,
    pub incidents: Vec<IncidentSample>,
    pub incidents_total: u64,
    pub approvals: Listed<ApprovalSample>,
    pub policy_changes: Listed<PolicyChange>,
    pub would_have_blocked: Listed<WouldHaveBlocked>,
    pub scans: Listed<ScanSample>,
}

fn text(d: &Value, keys: &[&str]) -> String {
    keys.iter()
        .find_map(|k| d.get(*k).and_then(Value::as_str).filter(|s| !s.is_empty()))
        .unwrap_or_default()
        .to_string()
}

/// `text`, or when it is empty the legacy field's (see gavel-events).
fn or_legacy(text: &str, legacy: &Option<String>) -> String {
    first_of(&[text, legacy.as_deref().unwrap_or_default()])
}

/// The first non-empty one.
fn first_of(texts: &[&str]) -> String {
    texts.iter().find(|t| !t.is_empty()).copied().unwrap_or_default().to_string()
}

fn scalar(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Gathers [`Samples`] from a period's events, in seq order.
#[derive(Debug, Default)]
pub struct SamplesBuilder {
    agents: BTreeMap<String, AgentSample>,
    agents_total: u64,
    incidents: BTreeMap<String, IncidentSample>,
    incidents_total: u64,
    out: Samples,
}

impl SamplesBuilder {
    fn agent(&mut self, id: &str) -> Option<&mut AgentSample> {
        if id.is_empty() {
            return None;
        }
        if !self.agents.contains_key(id) {
            self.agents_total += 1;
            if self.agents.len() >= MAX_THINGS {
                return None;
            }
            self.agents
                .insert(id.to_string(), AgentSample { agent_id: id.to_string(), ..Default::default() });
        }
        self.agents.get_mut(id)
    }

    fn incident(&mut self, id: &str) -> Option<&mut IncidentSample> {
        if id.is_empty() {
            return None;
        }
        if !self.incidents.contains_key(id) {
            self.incidents_total += 1;
            if self.incidents.len() >= MAX_THINGS {
                return None;
            }
            self.incidents
                .insert(id.to_string(), IncidentSample { incident_id: id.to_string(), ..Default::default() });
        }
        self.incidents.get_mut(id)
    }

    pub fn observe(&mut self, e: &Event) {
        let d = &e.data;
        match e.kind.as_str() {
            kind::AGENT_REGISTERED => {
                let registered: AgentRegistered = gavel_events::read(d);
                if let Some(a) = self.agent(&registered.agent_id) {
                    a.name = registered.name;
                    a.owner = registered.owner;
                    a.status = "active".into();
                }
            }
            kind::AGENT_SUSPENDED | kind::AGENT_DEACTIVATED | kind::AGENT_REACTIVATED => {
                let status = match e.kind.as_str() {
                    kind::AGENT_SUSPENDED => "suspended",
                    kind::AGENT_DEACTIVATED => "deactivated",
                    _ => "active",
                };
                let changed: AgentStatusChanged = gavel_events::read(d);
                if let Some(a) = self.agent(&changed.agent_id) {
                    a.status = status.into();
                    if !changed.name.is_empty() {
                        a.name = changed.name;
                    }
                }
            }
            kind::DECISION => {
                let decision: Decision = gavel_events::read(d);
                if let Some(a) = self.agent(&decision.agent_id) {
                    a.decisions += 1;
                    if !decision.agent_name.is_empty() {
                        a.name = decision.agent_name.clone();
                    }
                    if !decision.agent_status.is_empty() {
                        a.status = decision.agent_status.clone();
                    }
                }
                let would_have = decision.would_have.filter(|w| *w != Verdict::Allow);
                if let (Verdict::Allow, Some(would_have)) = (decision.decision, would_have) {
                    self.out.would_have_blocked.push(WouldHaveBlocked {
                        time: e.time.clone(),
                        agent: first_of(&[&decision.agent_name, &decision.agent_id]),
                        tool: decision.tool,
                        would_have: would_have.as_str().into(),
                        decision_id: decision.decision_id,
                    });
                }
            }
            kind::APPROVAL_DECIDED => {
                let approval: ApprovalDecided = gavel_events::read(d);
                self.out.approvals.push(ApprovalSample {
                    time: e.time.clone(),
                    approver: first_of(&[&approval.approver_name, &approval.approver]),
                    decision: approval.decision,
                    agent_id: approval.agent_id,
                    tool: approval.tool,
                    decision_id: approval.decision_id,
                    comment: approval.comment.unwrap_or_default(),
                })
            }
            kind::SCAN_COMPLETED => {
                let scan: ScanCompleted = gavel_events::read(d);
                let count = |k: &str| scan.summary.get(k).copied().unwrap_or(0);
                self.out.scans.push(ScanSample {
                    time: e.time.clone(),
                    scan_id: scan.scan_id.clone(),
                    enforcing: count("enforcing"),
                    observe: count("observe"),
                    gap: count("gap"),
                });
            }
            k if k.starts_with(kind::INCIDENT_PREFIX) => {
                if let Some(incident) = IncidentEvent::read(k, d) {
                    self.incident_event(&e.time, &incident);
                }
            }
            kind::POLICY_ACTIVATED | kind::POLICY_DEACTIVATED | kind::POLICY_MODE_CHANGED => {
                let applied: PolicyApplied = gavel_events::read(d);
                self.out.policy_changes.push(PolicyChange {
                    time: e.time.clone(),
                    kind: e.kind.clone(),
                    version: applied.version.map(|v| v.to_string()).unwrap_or_default(),
                    author: first_of(&[
                        applied.text_author.as_deref().unwrap_or_default(),
                        &applied.proposed_by,
                    ]),
                    approver: first_of(&[&applied.approved_by_name, &applied.approved_by]),
                    set_id: applied.set_id,
                })
            }
            kind::POLICY_REJECTED => self.out.policy_changes.push(PolicyChange {
                time: e.time.clone(),
                kind: e.kind.clone(),
                set_id: gavel_events::read::<PolicyRejected>(d).set_id,
                version: String::new(),
                author: String::new(),
                approver: String::new(),
            }),
            kind::PACK_INSTALLED => {
                let p: gavel_events::PackInstalled = gavel_events::read(d);
                self.out.policy_changes.push(PolicyChange {
                    time: e.time.clone(),
                    kind: e.kind.clone(),
                    set_id: if p.set_id.is_empty() { p.pack } else { p.set_id },
                    version: p.version.to_string(),
                    // An install is one admin's act, in observe mode: no author of the text, no
                    // second person.
                    author: String::new(),
                    approver: String::new(),
                })
            }
            // A tool category change: its source stands for the set, its id for the version.
            kind::TOOLS_CATEGORIES_APPLIED => {
                let applied: gavel_events::ToolCategoriesApplied = gavel_events::read(d);
                self.out.policy_changes.push(PolicyChange {
                    time: e.time.clone(),
                    kind: e.kind.clone(),
                    set_id: applied.source,
                    version: applied.change_id,
                    author: first_of(&[&applied.proposed_by_name, &applied.proposed_by]),
                    approver: first_of(&[&applied.approved_by_name, &applied.approved_by]),
                })
            }
            // Policy and pack kinds this build does not know, as they name themselves.
            k if (k.starts_with("policy.") || k.starts_with("pack.")) && k != kind::POLICY_PROPOSED => {
                self.out.policy_changes.push(PolicyChange {
                    time: e.time.clone(),
                    kind: e.kind.clone(),
                    set_id: text(d, &["set_id", "pack"]),
                    version: scalar(d.get("version")),
                    author: text(d, &["author_name", "author", "text_author", "proposed_by"]),
                    approver: text(d, &["approved_by_name", "approved_by"]),
                })
            }
            _ => {}
        }
    }

    /// An incident's times, title, owner, writeup and severity, from its timeline events.
    fn incident_event(&mut self, time: &str, event: &IncidentEvent) {
        let Some(inc) = self.incident(event.incident_id()) else { return };
        match event {
            IncidentEvent::Opened(opened) => {
                inc.opened_at = time.to_string();
                inc.title = opened.title.clone();
            }
            IncidentEvent::Assigned(assigned) => inc.owner = or_legacy(&assigned.owner, &assigned.assignee),
            IncidentEvent::Contained(_) if inc.contained_at.is_empty() => inc.contained_at = time.to_string(),
            IncidentEvent::Resolved(resolved) => {
                inc.resolved_at = time.to_string();
                inc.writeup = or_legacy(&resolved.writeup, &resolved.resolution);
            }
            _ => {}
        }
        // Every incident event states a severity (a link states its detection's).
        if !event.severity().is_empty() {
            inc.severity = event.severity().to_string();
        }
    }

    pub fn finish(&self) -> Samples {
        let mut out = self.out.clone();
        out.agents = self.agents.values().cloned().collect();
        out.agents_total = self.agents_total;
        out.incidents = self.incidents.values().cloned().collect();
        out.incidents_total = self.incidents_total;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gavel_ledger::event::Actor;
    use serde_json::json;

    fn event(seq: u64, kind: &str, data: Value) -> Event {
        Event {
            seq,
            time: format!("2026-01-0{}T00:00:00.000000Z", seq.min(9)),
            kind: kind.into(),
            actor: Actor::user("usr_1"),
            data,
            prev: String::new(),
        }
    }

    #[test]
    fn samples_follow_agents_incidents_approvals_and_observe_mode() {
        let mut b = SamplesBuilder::default();
        b.observe(&event(1, "agent.registered", json!({"agent_id": "a1", "name": "bot", "owner": "dave"})));
        b.observe(&event(
            2,
            "decision",
            json!({"agent_id": "a1", "agent_name": "bot", "decision": "allow",
            "would_have": "deny", "tool": "wire", "decision_id": "d1"}),
        ));
        b.observe(&event(
            3,
            "approval.decided",
            json!({"approver_name": "sec", "decision": "approved",
            "agent_id": "a1", "tool": "refund", "decision_id": "d2", "comment": "ok"}),
        ));
        b.observe(&event(
            4,
            "incident.opened",
            json!({"incident_id": "i1", "title": "t", "severity": "high"}),
        ));
        b.observe(&event(5, "incident.assigned", json!({"incident_id": "i1", "owner": "alice"})));
        b.observe(&event(6, "incident.contained", json!({"incident_id": "i1"})));
        b.observe(&event(7, "incident.resolved", json!({"incident_id": "i1", "writeup": "fixed"})));
        b.observe(&event(
            8,
            "compliance.scan_completed",
            json!({"scan_id": "s1", "summary": {"enforcing": 7, "observe": 1, "gap": 1}}),
        ));
        b.observe(&event(9, "agent.suspended", json!({"agent_id": "a1"})));
        let s = b.finish();
        assert_eq!(s.agents[0].status, "suspended");
        assert_eq!((s.agents[0].owner.as_str(), s.agents[0].decisions), ("dave", 1));
        assert_eq!(s.would_have_blocked.items[0].would_have, "deny");
        assert_eq!(s.approvals.items[0].comment, "ok");
        let i = &s.incidents[0];
        assert_eq!((i.owner.as_str(), i.writeup.as_str()), ("alice", "fixed"));
        assert!(!i.contained_at.is_empty() && !i.resolved_at.is_empty());
        assert_eq!(s.scans.items[0].enforcing, 7);
    }
}
